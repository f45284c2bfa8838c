//! The zguide's lazy pirate client, on thread-safe handles: a REQ client that waits a bounded
//! time for each reply, and on silence closes its socket, opens a new one and asks again, up to
//! a number of retries. The server here is unreliable on purpose: it goes silent for a while
//! (a crash) every few requests, then comes back.
//!
//! ```text
//! cargo run -p monocoque --example lazy_pirate
//! ```

use std::thread;
use std::time::Duration;

use monocoque::SocketOptions;
use monocoque::handle::{RepSocket, ReqSocket};

const REQUEST_TIMEOUT: Duration = Duration::from_millis(300);
const RETRIES: usize = 3;
const REQUESTS: usize = 6;

/// Answers requests, but drops every third one on the floor and restarts, as a crashing
/// server would.
fn unreliable_server(endpoint: String) -> Result<(), monocoque::Error> {
    let mut answered = 0;
    let mut seen = 0;
    while answered < REQUESTS {
        let server = RepSocket::new()?;
        server.bind(&endpoint)?;
        loop {
            let Ok(request) = server.recv_timeout(Duration::from_secs(5)) else {
                return Ok(());
            };
            seen += 1;
            if seen % 3 == 0 {
                println!("server: crashing on {:?}", request.frame_str(0));
                server.stop(); // gone at once, the request unanswered
                break;
            }
            server.send(request)?;
            answered += 1;
            if answered == REQUESTS {
                return Ok(());
            }
        }
        thread::sleep(REQUEST_TIMEOUT);
    }
    Ok(())
}

fn main() -> Result<(), monocoque::Error> {
    let path = std::env::temp_dir().join(format!("lazy-pirate-{}.sock", std::process::id()));
    let endpoint = format!("ipc://{}", path.display());
    let server = thread::spawn({
        let endpoint = endpoint.clone();
        move || unreliable_server(endpoint)
    });

    let new_client = || -> Result<ReqSocket, monocoque::Error> {
        let client = ReqSocket::with_options(
            SocketOptions::new()
                .linger(Some(Duration::ZERO))
                .reconnect_interval(Duration::from_millis(10)),
        )?;
        client.connect(&endpoint)?;
        Ok(client)
    };
    let mut client = new_client()?;
    for sequence in 0..REQUESTS {
        let request = format!("request {sequence}");
        let mut retries_left = RETRIES;
        loop {
            client.send(request.as_str())?;
            match client.recv_timeout(REQUEST_TIMEOUT) {
                Ok(reply) if reply.frame_str(0) == Some(Ok(&request)) => {
                    println!("client: {request} answered");
                    break;
                }
                Ok(reply) => println!("client: a strange reply {reply:?}"),
                Err(_) if retries_left > 0 => {
                    retries_left -= 1;
                    println!("client: no reply to {request}, retrying ({retries_left} left)");
                    // A REQ waiting for a reply cannot ask again: a new socket can.
                    client.stop();
                    client = new_client()?;
                }
                Err(error) => {
                    println!("client: the server seems to be gone, giving up");
                    return Err(error.into());
                }
            }
        }
    }
    server.join().map_err(|_| monocoque::Error::Closed)??;
    Ok(())
}
