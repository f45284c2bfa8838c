//! PLAIN with an authenticator: the right password gets in and the server reads who it talks
//! to; a wrong one is refused with status 400 on both monitors.
//!
//! PLAIN sends the password in clear: use it on a trusted network, CURVE elsewhere.
//!
//! ```text
//! cargo run -p monocoque --example plain_auth
//! ```

use std::error::Error;
use std::time::Duration;

use monocoque::proto::{AuthDecision, AuthRequest};
use monocoque::{Monitor, MonitorEventKind, PullSocket, PushSocket, SocketOptions};

const WAIT: Duration = Duration::from_secs(5);

/// The users this server knows: (name, password, user id).
const USERS: [(&[u8], &[u8], &str); 2] = [
    (b"alice", b"wonderland", "user-1"),
    (b"bob", b"builder", "user-2"),
];

fn check(request: &AuthRequest<'_>) -> AuthDecision {
    let found = USERS.iter().find(|(name, password, _)| {
        request.username == Some(name) && request.password == Some(password)
    });
    match found {
        Some((_, _, id)) => AuthDecision::Allow {
            user_id: (*id).into(),
        },
        None => AuthDecision::Deny { status: 400 },
    }
}

async fn refusal(monitor: &Monitor) -> Result<u16, Box<dyn Error>> {
    let status = compio::time::timeout(WAIT, async {
        loop {
            let event = monitor.recv().await.ok_or("monitor ended")?;
            if let MonitorEventKind::HandshakeFailedAuth { status } = event.kind {
                return Ok::<_, Box<dyn Error>>(status);
            }
        }
    })
    .await??;
    Ok(status)
}

#[compio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let pull = PullSocket::with_options(
        SocketOptions::new()
            .plain_server(true)
            .zap_domain("example")
            .authenticator(check),
    )?;
    let server_events = pull.monitor();
    let endpoint = pull.bind("tcp://127.0.0.1:0").await?.to_string();

    let alice = PushSocket::with_options(
        SocketOptions::new()
            .plain_username("alice")
            .plain_password("wonderland"),
    )?;
    alice.connect(&endpoint)?;
    alice.send("hello from alice").await?;
    let message = compio::time::timeout(WAIT, pull.recv()).await??;
    let peers = pull.peers();
    let user = peers
        .first()
        .and_then(|peer| peer.user_id())
        .map(|id| String::from_utf8_lossy(id).into_owned());
    println!("got {:?} from {user:?}", message.frames()[0]);

    let mallory = PushSocket::with_options(
        SocketOptions::new()
            .plain_username("alice")
            .plain_password("guess"),
    )?;
    let mallory_events = mallory.monitor();
    mallory.connect(&endpoint)?;
    mallory.send("let me in").await?;
    println!(
        "server refused a wrong password with status {}",
        refusal(&server_events).await?
    );
    println!(
        "the client was told status {}",
        refusal(&mallory_events).await?
    );
    Ok(())
}
