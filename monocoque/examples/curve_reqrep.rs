//! CURVE: a REQ/REP exchange encrypted end to end, and a client with the wrong server key
//! refused.
//!
//! The server generates its keypair and gives its public key to the client (here in memory; in
//! practice as 40 characters of Z85 in the client's configuration). No authenticator is set, so
//! any client that knows the server's public key gets in, as with libzmq without a ZAP handler.
//!
//! ```text
//! cargo run -p monocoque --example curve_reqrep
//! ```

use std::error::Error;
use std::time::Duration;

use monocoque::curve::{CurveKeyPair, CurvePublicKey};
use monocoque::{MonitorEventKind, RepSocket, ReqSocket, SocketOptions};

const WAIT: Duration = Duration::from_secs(5);

#[compio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let server_keys = CurveKeyPair::generate();
    // What the server publishes, and what a client reads back.
    let published = server_keys.public.to_z85();
    println!("server public key: {published}");

    let rep = RepSocket::with_options(
        SocketOptions::new()
            .curve_server(true)
            .curve_keypair(&server_keys),
    )?;
    let server_events = rep.monitor();
    let endpoint = rep.bind("tcp://127.0.0.1:0").await?.to_string();

    let server_key: CurvePublicKey = published.parse()?;
    let req = ReqSocket::with_options(
        SocketOptions::new()
            .curve_server_key(server_key)
            .curve_keypair(&CurveKeyPair::generate()),
    )?;
    req.connect(&endpoint)?;
    req.send("what is the answer?").await?;
    let question = compio::time::timeout(WAIT, rep.recv()).await??;
    println!("REP got {:?} (boxed on the wire)", question.frames()[0]);
    rep.send("42").await?;
    let answer = compio::time::timeout(WAIT, req.recv()).await??;
    println!("REQ got {:?}", answer.frames()[0]);

    // A client with another server key cannot make a HELLO this server can open.
    let impostor = ReqSocket::with_options(
        SocketOptions::new().curve_server_key(CurveKeyPair::generate().public),
    )?;
    impostor.connect(&endpoint)?;
    let refused = compio::time::timeout(WAIT, async {
        loop {
            let event = server_events.recv().await.ok_or("monitor ended")?;
            if let MonitorEventKind::HandshakeFailedProtocol { error } = event.kind {
                return Ok::<_, Box<dyn Error>>(error);
            }
        }
    })
    .await??;
    println!("a client with the wrong server key: {refused}");
    Ok(())
}
