//! CURVE with an allow-list of client keys: the authenticator (libzmq's ZAP handler, in
//! process) lets in known keys under a user name and refuses the rest.
//!
//! ```text
//! cargo run -p monocoque --example curve_zap
//! ```

use std::collections::HashMap;
use std::error::Error;
use std::time::Duration;

use monocoque::curve::{CurveKeyPair, CurvePublicKey};
use monocoque::proto::{AuthDecision, AuthRequest};
use monocoque::{DealerSocket, MonitorEventKind, RouterSocket, SocketOptions};

const WAIT: Duration = Duration::from_secs(5);

#[compio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let server_keys = CurveKeyPair::generate();
    let (known, stranger) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    // In practice, read from a directory of client public keys (Z85, one per file).
    let allowed: HashMap<CurvePublicKey, &'static str> =
        HashMap::from([(known.public, "sensor-7")]);

    let router = RouterSocket::with_options(
        SocketOptions::new()
            .curve_server(true)
            .curve_keypair(&server_keys)
            .authenticator(move |request: &AuthRequest<'_>| {
                match request.curve_key.and_then(|key| allowed.get(key)) {
                    Some(user) => AuthDecision::Allow {
                        user_id: (*user).into(),
                    },
                    None => AuthDecision::Deny { status: 400 },
                }
            }),
    )?;
    let endpoint = router.bind("tcp://127.0.0.1:0").await?.to_string();

    let client = |keys: &CurveKeyPair, id: &str| {
        DealerSocket::with_options(
            SocketOptions::new()
                .routing_id(id.to_owned())
                .curve_server_key(server_keys.public)
                .curve_keypair(keys),
        )
    };
    let good = client(&known, "good")?;
    good.connect(&endpoint)?;
    good.send("reading: 21.5").await?;
    let message = compio::time::timeout(WAIT, router.recv()).await??;
    let from = message.frames()[0].clone();
    let user = router
        .peers()
        .into_iter()
        .find(|peer| peer.routing_id == from)
        .and_then(|peer| peer.user_id().cloned());
    println!("{:?} from user {user:?}", message.frames()[1]);

    let bad = client(&stranger, "bad")?;
    let events = bad.monitor();
    bad.connect(&endpoint)?;
    let status = compio::time::timeout(WAIT, async {
        loop {
            let event = events.recv().await.ok_or("monitor ended")?;
            if let MonitorEventKind::HandshakeFailedAuth { status } = event.kind {
                return Ok::<_, Box<dyn Error>>(status);
            }
        }
    })
    .await??;
    println!("an unknown key was refused with status {status}");
    Ok(())
}
