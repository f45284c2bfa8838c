//! A connection status stream: a SUB prints each change in its connections as publishers come
//! and go, as an application would log them (or tell its users that its data is stale).
//!
//! The SUB connects to an endpoint and keeps reconnecting to it. A PUB binds there, then goes
//! away; a second PUB binds the same endpoint and the SUB is back. Closing the SUB ends the
//! stream. Each line is a `Status` as displayed:
//!
//! ```text
//! cargo run -p monocoque --example status
//!
//! PUB bound to tcp://127.0.0.1:40721
//! SUB status: connected: tcp://127.0.0.1:40721, peer 127.0.0.1:40721 (1 peer connected)
//! ...
//! ```

use std::error::Error;
use std::time::Duration;

use monocoque::status::{Status, StatusStream};
use monocoque::{PubSocket, SocketOptions, SubSocket};

/// The longest the example waits for any status.
const WAIT: Duration = Duration::from_secs(5);

#[compio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let first = PubSocket::new();
    let endpoint = first.bind("tcp://127.0.0.1:0").await?.to_string();
    println!("PUB bound to {endpoint}");

    // Reconnect quickly once the publisher is gone (the default waits 100 ms).
    let options = SocketOptions::new().reconnect_interval(Duration::from_millis(20));
    let subscriber = SubSocket::with_options(options)?;
    subscriber.subscribe("");
    // Started before `connect`, so that no connection is missed.
    let mut status = subscriber.status();
    subscriber.connect(&endpoint)?;
    let up = next(&mut status).await?;
    check(matches!(up, Status::Connected { .. }), &up)?;

    drop(first);
    println!("PUB closed");
    let down = next(&mut status).await?;
    check(matches!(down, Status::Disconnected { .. }), &down)?;

    let second = PubSocket::new();
    second.bind(&endpoint).await?;
    println!("PUB bound to {endpoint} again");
    let up = next(&mut status).await?;
    check(matches!(up, Status::Connected { .. }), &up)?;

    drop(subscriber);
    println!("SUB closed");
    // The connection may be reported closed by the socket, then the end.
    while next(&mut status).await? != Status::Closed {}
    assert_eq!(status.recv().await, None, "nothing after Closed");
    drop(second);
    Ok(())
}

/// An error naming `status` unless it was the one expected.
fn check(expected: bool, status: &Status) -> Result<(), Box<dyn Error>> {
    if expected {
        Ok(())
    } else {
        Err(format!("unexpected status: {status}").into())
    }
}

/// The next status, printed, within [`WAIT`].
async fn next(status: &mut StatusStream) -> Result<Status, Box<dyn Error>> {
    let next = compio::time::timeout(WAIT, status.recv())
        .await
        .map_err(|_| format!("no status within {WAIT:?}"))?
        .ok_or("the status stream ended")?;
    println!("SUB status: {next}");
    Ok(next)
}
