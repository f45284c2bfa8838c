//! The zguide's multithreaded server (mtserver), on thread-safe handles: one ROUTER, worker
//! threads that take requests from clones of it (they compete, as the zguide's REP workers
//! behind a queue device do) and answer through the same clones, and client threads with REQ
//! handles.
//!
//! ```text
//! cargo run -p monocoque --example mtserver
//! ```

use std::thread;
use std::time::Duration;

use monocoque::Message;
use monocoque::handle::{ReqSocket, RouterSocket};

const WORKERS: usize = 4;
const CLIENTS: usize = 3;
const REQUESTS: usize = 5;

fn main() -> Result<(), monocoque::Error> {
    let server = RouterSocket::new()?;
    let endpoint = server.bind("tcp://127.0.0.1:0")?.to_string();
    println!("server on {endpoint} with {WORKERS} worker threads");

    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let server = server.clone();
            thread::spawn(move || -> Result<usize, monocoque::Error> {
                let mut served = 0;
                // A REQ request through a ROUTER: [client id, "", body].
                while let Ok(request) = server.recv_timeout(Duration::from_millis(500)) {
                    let reply = Message::from(request[0].clone()).with("").with(format!(
                        "worker {w}: {}",
                        String::from_utf8_lossy(&request[2])
                    ));
                    server.send(reply)?;
                    served += 1;
                }
                Ok(served)
            })
        })
        .collect();

    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let endpoint = endpoint.clone();
            thread::spawn(move || -> Result<(), monocoque::Error> {
                let client = ReqSocket::new()?;
                client.connect(&endpoint)?;
                for r in 0..REQUESTS {
                    client.send(format!("hello {r} from client {c}"))?;
                    let reply = client.recv_timeout(Duration::from_secs(5))?;
                    println!("client {c}: {:?}", reply.frame_str(0));
                }
                Ok(())
            })
        })
        .collect();
    for client in clients {
        client.join().map_err(|_| monocoque::Error::Closed)??;
    }
    let mut total = 0;
    for (w, worker) in workers.into_iter().enumerate() {
        let served = worker.join().map_err(|_| monocoque::Error::Closed)??;
        println!("worker {w} served {served}");
        total += served;
    }
    assert_eq!(total, CLIENTS * REQUESTS, "every request answered once");
    Ok(())
}
