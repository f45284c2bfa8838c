//! The monocoque demo: the four core ZeroMQ patterns working end to end, over TCP and over IPC
//! (Unix domain sockets), all in one process.
//!
//! - request-reply: REQ asks, REP answers, in lock-step;
//! - publish-subscribe: SUB receives only the topics it subscribed to;
//! - pipeline: PUSH spreads tasks over two PULL workers, which push results to a PULL sink;
//! - DEALER/ROUTER: two DEALERs send without waiting, and the ROUTER answers each by routing id.
//!
//! Each pattern runs once per transport, under a time limit, and checks what arrived. The demo
//! prints one line per check and exits with status 0 only if every check passed.
//!
//! ```text
//! cargo run -p monocoque --example demo
//! ```

use std::convert::Infallible;
use std::error::Error;
use std::fmt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use monocoque::{
    DealerSocket, Message, PubSocket, PullSocket, PushSocket, RepSocket, ReqSocket, RouterSocket,
    SocketOptions, SubSocket,
};

/// The longest any one check may take before it counts as failed (they take milliseconds).
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

type Outcome = Result<String, Box<dyn Error>>;

#[compio::main]
async fn main() -> ExitCode {
    println!("monocoque demo: four ZeroMQ patterns, each over TCP and IPC\n");
    let mut passed = 0;
    let mut failed = 0;
    for transport in [Transport::Tcp, Transport::Ipc] {
        for pattern in Pattern::ALL {
            let start = Instant::now();
            let outcome = compio::time::timeout(CHECK_TIMEOUT, pattern.run(transport))
                .await
                .unwrap_or_else(|_| Err(format!("timed out after {CHECK_TIMEOUT:?}").into()));
            let elapsed = start.elapsed();
            let (status, detail) = match outcome {
                Ok(detail) => {
                    passed += 1;
                    ("ok  ", detail)
                }
                Err(error) => {
                    failed += 1;
                    ("FAIL", error.to_string())
                }
            };
            println!(
                "  {transport:<4} {:<16} {status}  {detail:<48} {:>7.1} ms",
                pattern.name(),
                elapsed.as_secs_f64() * 1e3,
            );
        }
    }
    println!("\n{passed} of {} checks passed", passed + failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[derive(Debug, Clone, Copy)]
enum Transport {
    Tcp,
    Ipc,
}

impl Transport {
    /// An endpoint to bind: a loopback port the OS picks, or a socket file unique to this
    /// process and `name`.
    fn endpoint(self, name: &str) -> String {
        match self {
            Self::Tcp => "tcp://127.0.0.1:0".to_owned(),
            Self::Ipc => {
                let path = std::env::temp_dir()
                    .join(format!("monocoque-demo-{}-{name}.sock", std::process::id()));
                format!("ipc://{}", path.display())
            }
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Tcp => "tcp",
            Self::Ipc => "ipc",
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Pattern {
    RequestReply,
    PubSub,
    Pipeline,
    DealerRouter,
}

impl Pattern {
    const ALL: [Self; 4] = [
        Self::RequestReply,
        Self::PubSub,
        Self::Pipeline,
        Self::DealerRouter,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::RequestReply => "request-reply",
            Self::PubSub => "pub-sub",
            Self::Pipeline => "pipeline",
            Self::DealerRouter => "dealer-router",
        }
    }

    async fn run(self, transport: Transport) -> Outcome {
        match self {
            Self::RequestReply => request_reply(transport).await,
            Self::PubSub => pub_sub(transport).await,
            Self::Pipeline => pipeline(transport).await,
            Self::DealerRouter => dealer_router(transport).await,
        }
    }
}

/// REQ/REP: three round trips, each reply checked against its request.
async fn request_reply(transport: Transport) -> Outcome {
    const ROUND_TRIPS: usize = 3;
    let rep = RepSocket::new();
    let endpoint = rep.bind(&transport.endpoint("rep")).await?.to_string();
    let service = compio::runtime::spawn(async move {
        for _ in 0..ROUND_TRIPS {
            let request = rep.recv().await?;
            let reply: Message = request
                .iter()
                .map(|frame| frame.to_ascii_uppercase())
                .collect();
            rep.send(reply).await?;
        }
        rep.close().await;
        Ok::<(), Box<dyn Error>>(())
    });

    let req = ReqSocket::new();
    req.connect(&endpoint)?;
    for i in 1..=ROUND_TRIPS {
        let request = format!("hello #{i}");
        req.send(request.as_str()).await?;
        let reply = req.recv().await?;
        let expected = Message::from(request.to_uppercase());
        if reply != expected {
            return Err(format!("got {reply:?} for {request:?}").into());
        }
    }
    service.await??;
    Ok(format!("{ROUND_TRIPS} round trips, replies match"))
}

/// PUB/SUB: a subscriber to `a.` gets `a.1` and `a.2` but not `b.1`.
async fn pub_sub(transport: Transport) -> Outcome {
    let publisher = PubSocket::new();
    let endpoint = publisher
        .bind(&transport.endpoint("pub"))
        .await?
        .to_string();
    let subscriber = SubSocket::new();
    subscriber.subscribe("a.");
    subscriber.connect(&endpoint)?;

    // The slow joiner: publish until the subscription has reached the publisher, waiting on
    // the subscriber between rounds (bounded by the check's time limit).
    let mut rounds = 0;
    loop {
        rounds += 1;
        publisher.send(Message::from("a.warmup")).await?;
        if compio::time::timeout(Duration::from_millis(10), subscriber.recv())
            .await
            .is_ok()
        {
            break;
        }
    }

    for topic in ["a.1", "b.1", "a.2", "a.end"] {
        publisher.send(Message::from(topic).with("payload")).await?;
    }
    let mut received = Vec::new();
    loop {
        let message = subscriber.recv().await?;
        let topic = String::from_utf8_lossy(&message[0]).into_owned();
        match topic.as_str() {
            "a.warmup" => {}
            "a.end" => break,
            _ => received.push(topic),
        }
    }
    if received != ["a.1", "a.2"] {
        return Err(format!("subscriber to \"a.\" got {received:?}").into());
    }
    Ok(format!(
        "got a.1 a.2, not b.1 (joined in {rounds} round(s))"
    ))
}

/// PUSH -> two PULL workers -> PUSH -> PULL sink: every task done once, spread over both.
async fn pipeline(transport: Transport) -> Outcome {
    const TASKS: usize = 100;
    const WORKERS: [&str; 2] = ["w1", "w2"];
    let ventilator = PushSocket::new();
    let tasks = ventilator
        .bind(&transport.endpoint("tasks"))
        .await?
        .to_string();
    let sink = PullSocket::new();
    let results = sink.bind(&transport.endpoint("results")).await?.to_string();

    let mut workers = Vec::new();
    for name in WORKERS {
        let input = PullSocket::new();
        input.connect(&tasks)?;
        let output = PushSocket::new();
        output.connect(&results)?;
        workers.push(compio::runtime::spawn(relay(name, input, output)));
    }
    // PUSH load-balances over the workers connected so far: wait for both.
    while ventilator.connected_peers() < WORKERS.len() {
        compio::time::sleep(Duration::from_millis(1)).await;
    }

    for i in 0..TASKS {
        ventilator.send(i.to_string()).await?;
    }
    let mut seen = [false; TASKS];
    let mut done_by = [0usize; WORKERS.len()];
    for _ in 0..TASKS {
        let result = sink.recv().await?;
        let worker = WORKERS
            .iter()
            .position(|w| w.as_bytes() == &result[0][..])
            .ok_or("result from an unknown worker")?;
        let task: usize = String::from_utf8_lossy(&result[1]).parse()?;
        if std::mem::replace(&mut seen[task], true) {
            return Err(format!("task {task} done twice").into());
        }
        done_by[worker] += 1;
    }
    drop(workers);
    if done_by.contains(&0) {
        return Err(format!("tasks not spread: {done_by:?}").into());
    }
    Ok(format!(
        "{TASKS} tasks, split {}/{} over 2 workers",
        done_by[0], done_by[1]
    ))
}

/// A pipeline worker: passes each task on, with its name in front, until dropped.
async fn relay(
    name: &'static str,
    input: PullSocket,
    output: PushSocket,
) -> Result<Infallible, Box<dyn Error>> {
    loop {
        let mut task = input.recv().await?;
        task.push_front(name);
        output.send(task).await?;
    }
}

/// DEALER/ROUTER: two DEALERs each send two requests without waiting; the ROUTER sees who sent
/// what and answers each by routing id; every DEALER gets exactly its own answers.
async fn dealer_router(transport: Transport) -> Outcome {
    const DEALERS: [&str; 2] = ["alice", "bob"];
    let router = RouterSocket::new();
    let endpoint = router
        .bind(&transport.endpoint("router"))
        .await?
        .to_string();

    let mut dealers = Vec::new();
    for name in DEALERS {
        let dealer = DealerSocket::with_options(SocketOptions::new().routing_id(name))
            .expect("valid socket options");
        dealer.connect(&endpoint)?;
        // Asynchronous, unlike REQ: both requests go out before any reply comes back.
        dealer.send(format!("{name}: first")).await?;
        dealer.send(format!("{name}: second")).await?;
        dealers.push((name, dealer));
    }

    for _ in 0..2 * DEALERS.len() {
        let mut message = router.recv().await?;
        let id = message
            .pop_front()
            .ok_or("ROUTER message without routing id")?;
        let body = message.pop_front().ok_or("ROUTER message without body")?;
        if !body.starts_with(&id) {
            return Err(
                format!("routing id {id:?} on a message from someone else: {body:?}").into(),
            );
        }
        router
            .send(Message::from(id).with(body.to_ascii_uppercase()))
            .await?;
    }

    for (name, dealer) in &dealers {
        for which in ["first", "second"] {
            let reply = dealer.recv().await?;
            let expected = Message::from(format!("{name}: {which}").to_uppercase());
            if reply != expected {
                return Err(format!("{name} got {reply:?}, expected {expected:?}").into());
            }
        }
    }
    Ok(format!(
        "{} requests routed back to {} dealers by id",
        2 * DEALERS.len(),
        DEALERS.len()
    ))
}
