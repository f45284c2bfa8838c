//! The zguide's forwarder: publishers on one side, subscribers on the other, and between them
//! an XSUB/XPUB proxy that passes messages down and subscriptions up, with a capture socket
//! that sees everything that goes through.
//!
//! ```text
//! PUB weather ──> XSUB frontend  proxy  XPUB backend ──> SUB "paris."
//!                                   │                └──> SUB "oslo."
//!                                   └──> PUSH capture ──> PULL (a log)
//! ```
//!
//! The subscribers subscribe at the XPUB; the proxy forwards each subscription to the XSUB,
//! which sends it upstream, so the publisher filters at the source. The proxy and every socket
//! share one compio thread.
//!
//! ```text
//! cargo run -p monocoque --example pubsub_forwarder
//! ```

use std::error::Error;
use std::time::Duration;

use monocoque::{
    Message, ProxyControl, PubSocket, PullSocket, PushSocket, SubSocket, XPubSocket, XSubSocket,
};

#[compio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let publisher = PubSocket::new();
    let upstream = publisher.bind("inproc://weather").await?;
    let frontend = XSubSocket::new();
    frontend.connect(&upstream.to_string())?;
    let backend = XPubSocket::new();
    let downstream = backend.bind("tcp://127.0.0.1:0").await?.to_string();
    let log = PullSocket::new();
    log.bind("inproc://capture").await?;
    let capture = PushSocket::new();
    capture.connect("inproc://capture")?;
    println!("forwarder: publishers on {upstream}, subscribers on {downstream}");

    let control = ProxyControl::new();
    let forwarder = monocoque::proxy(&frontend, &backend, Some(&capture), &control);
    let work = async {
        let paris = SubSocket::new();
        paris.subscribe("paris.");
        paris.connect(&downstream)?;
        let oslo = SubSocket::new();
        oslo.subscribe("oslo.");
        oslo.connect(&downstream)?;
        // Subscriptions take a moment to travel up: publish until both have heard one.
        let (mut heard_paris, mut heard_oslo) = (false, false);
        for round in 0..1000 {
            publisher.send(format!("paris.temp {round}")).await?;
            publisher.send(format!("oslo.temp {round}")).await?;
            publisher.send(format!("rome.temp {round}")).await?;
            let wait = Duration::from_millis(10);
            if let Ok(message) = compio::time::timeout(wait, paris.recv()).await {
                println!("paris subscriber: {}", text(&message?));
                heard_paris = true;
            }
            if let Ok(message) = compio::time::timeout(wait, oslo.recv()).await {
                println!("oslo subscriber:  {}", text(&message?));
                heard_oslo = true;
            }
            if heard_paris && heard_oslo {
                break;
            }
        }
        assert!(heard_paris && heard_oslo, "the subscriptions never arrived");
        control.terminate();
        Ok::<_, Box<dyn Error>>(())
    };
    let (forwarded, worked) = futures_util::future::join(forwarder, work).await;
    forwarded?;
    worked?;

    // The capture saw the subscriptions going up (0x01 + topic) and the messages coming down.
    let mut captured = 0;
    while let Ok(message) = log.try_recv() {
        captured += 1;
        if captured <= 3 {
            println!("captured: {:?}", String::from_utf8_lossy(&message[0]));
        }
    }
    let statistics = control.statistics();
    println!(
        "forwarded {} messages down and {} subscriptions up; {captured} captured",
        statistics.backend.messages_out, statistics.frontend.messages_out
    );
    Ok(())
}

fn text(message: &Message) -> String {
    String::from_utf8_lossy(&message[0]).into_owned()
}
