//! A request-reply broker: REQ clients talk to a ROUTER frontend, the broker forwards to a
//! DEALER backend, and REP workers behind it do the work.
//!
//! ```text
//! REQ client-1 ─┐                                     ┌─> REP worker-a
//! REQ client-2 ─┼─> ROUTER frontend  broker  DEALER ──┤
//! REQ client-3 ─┘                                     └─> REP worker-b
//! ```
//!
//! The ROUTER puts each client's routing id in front of its request; the DEALER load-balances
//! the request, envelope and all, to a worker; the REP worker replies along that envelope; the
//! DEALER fair-queues the reply back; and the ROUTER sends it to the client its first frame
//! names. The broker is `monocoque::proxy` over the two sockets (libzmq's `zmq_proxy`), steered
//! by a `ProxyControl` that reports its counters and stops it at the end. Neither clients nor
//! workers know how many of the others there are.
//!
//! ```text
//! cargo run -p monocoque --example router_dealer_broker
//! ```

use std::convert::Infallible;
use std::error::Error;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monocoque::{
    DealerSocket, Message, ProxyControl, RepSocket, ReqSocket, RouterSocket, SocketOptions,
};

/// The clients, and how many requests each sends.
const CLIENTS: [&str; 3] = ["client-1", "client-2", "client-3"];
const REQUESTS_PER_CLIENT: usize = 3;

/// The workers.
const WORKERS: [&str; 2] = ["worker-a", "worker-b"];

#[compio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let frontend = Rc::new(RouterSocket::new());
    let frontend_endpoint = frontend.bind("tcp://127.0.0.1:0").await?.to_string();
    let backend = Rc::new(DealerSocket::new());
    let backend_endpoint = backend.bind("tcp://127.0.0.1:0").await?.to_string();
    println!(
        "broker: ROUTER frontend on {frontend_endpoint}, DEALER backend on {backend_endpoint}"
    );

    // The broker: forward every message as is, in both directions, until told to stop.
    let control = ProxyControl::new();
    let broker = compio::runtime::spawn({
        let (frontend, backend, control) = (frontend.clone(), backend.clone(), control.clone());
        async move { monocoque::proxy(&*frontend, &*backend, None, &control).await }
    });

    let mut workers = Vec::new();
    for name in WORKERS {
        let socket = RepSocket::new();
        socket.connect(&backend_endpoint)?;
        workers.push(compio::runtime::spawn(worker(name, socket)));
    }
    // Wait (bounded) for both workers, so the DEALER spreads the requests over both.
    let deadline = Instant::now() + Duration::from_secs(5);
    while backend.connected_peers() < WORKERS.len() {
        if Instant::now() > deadline {
            return Err("the workers did not connect to the broker within 5 s".into());
        }
        compio::time::sleep(Duration::from_millis(1)).await;
    }
    println!("{} workers connected to the backend", WORKERS.len());

    let clients: Vec<_> = CLIENTS
        .iter()
        .map(|name| {
            // A routing id makes the client recognisable in the broker; without one the ROUTER
            // would make one up.
            let socket = ReqSocket::with_options(SocketOptions::new().routing_id(*name))
                .expect("valid socket options");
            socket
                .connect(&frontend_endpoint)
                .map(|()| compio::runtime::spawn(client(name, socket)))
        })
        .collect::<Result<_, _>>()?;

    let mut served_by = [0usize; WORKERS.len()];
    for handle in clients {
        for worker in handle.await?? {
            let index = WORKERS
                .iter()
                .position(|w| *w == worker)
                .ok_or("unknown worker")?;
            served_by[index] += 1;
        }
    }
    let total: usize = served_by.iter().sum();
    println!("{total} requests served:");
    for (name, count) in WORKERS.iter().zip(served_by) {
        println!("  {name}: {count}");
    }
    if total != CLIENTS.len() * REQUESTS_PER_CLIENT {
        return Err("some requests were not served".into());
    }
    let statistics = control.statistics();
    println!(
        "broker: {} requests in, {} replies out",
        statistics.frontend.messages_in, statistics.frontend.messages_out
    );
    control.terminate();
    broker.await.map_err(|_| "the broker task panicked")??;
    Ok(())
}

/// A client: sends its requests one by one, checks each reply answers its own request, and
/// returns which worker served each.
async fn client(name: &'static str, socket: ReqSocket) -> Result<Vec<String>, Box<dyn Error>> {
    let mut served_by = Vec::new();
    for i in 1..=REQUESTS_PER_CLIENT {
        let request = format!("{name} request #{i}");
        socket.send(request.as_str()).await?;
        let reply = compio::time::timeout(Duration::from_secs(5), socket.recv())
            .await
            .map_err(|_| format!("{name}: no reply to {request:?} within 5 s"))??;
        let worker = String::from_utf8_lossy(&reply[0]).into_owned();
        let answer = String::from_utf8_lossy(&reply[1]).into_owned();
        println!("  {name}: {request:?} -> {worker} answered {answer:?}");
        if answer != request.to_uppercase() {
            return Err(format!("{name}: reply {answer:?} is not for {request:?}").into());
        }
        served_by.push(worker);
    }
    Ok(served_by)
}

/// A worker: answers each request with its name and the request in capitals.
async fn worker(name: &'static str, socket: RepSocket) -> Result<Infallible, Box<dyn Error>> {
    loop {
        let request = socket.recv().await?;
        let answer = String::from_utf8_lossy(&request[0]).to_uppercase();
        socket.send(Message::from(name).with(answer)).await?;
    }
}
