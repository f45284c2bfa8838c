//! monocoque (this repository): async sockets on a compio runtime, one thread per process.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use monocoque::{
    DealerSocket, Message, PubSocket, PullSocket, PushSocket, RepSocket, ReqSocket, RouterSocket,
    SocketOptions, SubSocket,
};

use crate::common::{self, BoxError, Latencies, QUIT, SubStats};
use crate::spec::{Config, Kind, Role};

/// Messages taken per `recv_many` by the throughput receiver.
const RECV_BATCH: usize = 256;

pub fn run(config: &Config) -> Result<(), BoxError> {
    runtime()?.block_on(role(config))
}

/// The runtime: compio's defaults, or with io_uring's set-up flags as MONOCOQUE_BENCH_URING
/// says (`coop`: COOP_TASKRUN and TASKRUN_FLAG; `defer`: those, SINGLE_ISSUER and
/// DEFER_TASKRUN), to measure what they are worth.
fn runtime() -> Result<compio::runtime::Runtime, BoxError> {
    let flags = std::env::var("MONOCOQUE_BENCH_URING").unwrap_or_default();
    if flags.is_empty() {
        return Ok(compio::runtime::Runtime::new()?);
    }
    let mut proactor = compio::driver::ProactorBuilder::new();
    match flags.as_str() {
        "coop" => {
            proactor.coop_taskrun(true).taskrun_flag(true);
        }
        "defer" => {
            proactor
                .coop_taskrun(true)
                .taskrun_flag(true)
                .single_issuer(true)
                .defer_taskrun(true);
        }
        other => return Err(format!("MONOCOQUE_BENCH_URING={other}: coop or defer").into()),
    }
    Ok(compio::runtime::Runtime::builder()
        .with_proactor(proactor)
        .build()?)
}

/// The same, on compio's polling driver (epoll): the `monocoque-epoll` column.
pub fn run_epoll(config: &Config) -> Result<(), BoxError> {
    let mut proactor = compio::driver::ProactorBuilder::new();
    proactor.driver_type(compio::driver::DriverType::Poll);
    let runtime = compio::runtime::Runtime::builder()
        .with_proactor(proactor)
        .build()?;
    runtime.block_on(role(config))
}

fn frames(message: &Message) -> impl ExactSizeIterator<Item = &[u8]> {
    message.frames().iter().map(|f| &f[..])
}

fn options(config: &Config) -> SocketOptions {
    match config.hwm {
        Some(hwm) => SocketOptions::new()
            .send_hwm(hwm as usize)
            .recv_hwm(hwm as usize),
        None => SocketOptions::new(),
    }
}

/// The options of the thr and lat sockets: the defaults, or CURVE with the rows' fixed keys
/// (the binding side is the CURVE server).
pub fn curve_options(config: &Config) -> Result<SocketOptions, BoxError> {
    if !config.curve {
        return Ok(SocketOptions::new());
    }
    let keys = common::curve_keys()?;
    Ok(match config.role {
        Role::Server => SocketOptions::new()
            .curve_server(true)
            .curve_keypair(&keys.server),
        Role::Client => SocketOptions::new()
            .curve_server_key(keys.server.public)
            .curve_keypair(&keys.client),
    })
}

async fn role(config: &Config) -> Result<(), BoxError> {
    let payload = Bytes::from(common::payload(config.size));
    match (config.kind, config.role) {
        (Kind::Proxy, Role::Server) => proxy_row(config, payload).await?,
        (Kind::Proxy, Role::Client) => return Err("the proxy row is one process".into()),
        (Kind::Thr, Role::Server) => {
            let pull = PullSocket::with_options(curve_options(config)?)?;
            common::announce(&pull.bind(&config.endpoint).await?.to_string());
            common::check_frames(frames(&pull.recv().await?), config.size)?;
            let start = Instant::now();
            // The batch receive, as a busy receiver would use it; MONOCOQUE_BENCH_RECV=one
            // measures one `recv` per message instead.
            if std::env::var("MONOCOQUE_BENCH_RECV").is_ok_and(|v| v == "one") {
                for _ in 1..config.count {
                    common::check_frames(frames(&pull.recv().await?), config.size)?;
                }
            } else {
                let mut batch = Vec::with_capacity(RECV_BATCH);
                let mut left = usize::try_from(config.count - 1)?;
                while left > 0 {
                    batch.clear();
                    left -= pull.recv_many(&mut batch, RECV_BATCH.min(left)).await?;
                    for message in &batch {
                        common::check_frames(frames(message), config.size)?;
                    }
                }
            }
            common::report_thr(start.elapsed(), config.count);
            common::compio_wait_quit().await;
        }
        (Kind::Thr, Role::Client) => {
            let push = PushSocket::with_options(curve_options(config)?)?;
            push.connect(&config.endpoint)?;
            for _ in 0..config.count {
                push.send(payload.clone()).await?;
            }
            // Keep the socket (and the runtime writing for it) until the receiver has it all.
            common::compio_wait_quit().await;
        }
        (Kind::Lat, Role::Server) => {
            let rep = RepSocket::with_options(curve_options(config)?)?;
            common::announce(&rep.bind(&config.endpoint).await?.to_string());
            for _ in 0..config.warmup + config.count {
                let request = rep.recv().await?;
                rep.send(request).await?;
            }
            common::compio_wait_quit().await;
        }
        (Kind::Lat, Role::Client) => {
            let req = ReqSocket::with_options(curve_options(config)?)?;
            req.connect(&config.endpoint)?;
            let mut latencies = Latencies::new();
            for i in 0..config.warmup + config.count {
                let start = Instant::now();
                req.send(payload.clone()).await?;
                let reply = req.recv().await?;
                let rtt = start.elapsed();
                common::check_frames(frames(&reply), config.size)?;
                if i >= config.warmup {
                    latencies.record(rtt);
                }
            }
            latencies.report();
            common::compio_wait_quit().await;
        }
        (Kind::Fanout, Role::Server) => {
            let publisher = PubSocket::with_options(options(config))?;
            common::announce(&publisher.bind(&config.endpoint).await?.to_string());
            let probe = Bytes::from_static(common::PROBE);
            while !common::GO.is_set() {
                publisher.send(probe.clone()).await?;
                compio::time::sleep(common::TICK).await;
            }
            for _ in 0..config.count {
                publisher.send(payload.clone()).await?;
            }
            let end = Bytes::from_static(common::END);
            while !QUIT.is_set() {
                publisher.send(end.clone()).await?;
                compio::time::sleep(common::TICK).await;
            }
        }
        (Kind::Fanout, Role::Client) => {
            let ready = Rc::new(Cell::new(0usize));
            let mut tasks = Vec::new();
            for _ in 0..config.peers {
                let sub = SubSocket::with_options(options(config))?;
                sub.subscribe(Bytes::new());
                sub.connect(&config.endpoint)?;
                let ready = ready.clone();
                let (peers, size) = (config.peers, config.size);
                tasks.push(compio::runtime::spawn(async move {
                    let mut stats = SubStats::default();
                    let mut probed = false;
                    loop {
                        let message = sub.recv().await?;
                        let body = match message.frames() {
                            [body] => body,
                            other => return Err(format!("{} frames", other.len()).into()),
                        };
                        let kind = common::classify(body, size)?;
                        if !probed {
                            probed = true;
                            ready.set(ready.get() + 1);
                            if ready.get() == peers {
                                common::ready();
                            }
                        }
                        if stats.on_message(kind) {
                            return Ok::<_, BoxError>(stats);
                        }
                    }
                }));
            }
            let mut all = Vec::new();
            for task in tasks {
                all.push(task.await.map_err(|_| "a subscriber task panicked")??);
            }
            common::report_fanout(&all, config.count);
            common::compio_wait_quit().await;
        }
        (Kind::Router, Role::Server) => {
            let router = RouterSocket::new();
            common::announce(&router.bind(&config.endpoint).await?.to_string());
            let before = common::rss_bytes();
            let mut hellos = Vec::with_capacity(config.peers);
            for _ in 0..config.peers {
                hellos.push(router.recv().await?);
            }
            let after = common::rss_bytes();
            common::report(&[("rss_before", before as f64), ("rss_after", after as f64)]);
            for hello in hellos {
                router.send(hello).await?;
            }
            for _ in 0..config.count * config.peers as u64 {
                let request = router.recv().await?;
                router.send(request).await?;
            }
            common::compio_wait_quit().await;
        }
        (Kind::Router, Role::Client) => {
            let mut dealers = Vec::with_capacity(config.peers);
            for _ in 0..config.peers {
                let dealer = DealerSocket::new();
                dealer.connect(&config.endpoint)?;
                dealer.send(Bytes::from_static(common::HELLO)).await?;
                dealers.push(dealer);
            }
            for dealer in &dealers {
                let reply = dealer.recv().await?;
                if reply.frames().len() != 1 || &reply.frames()[0][..] != common::HELLO {
                    return Err("unexpected reply to hello".into());
                }
            }
            let start = Instant::now();
            for _ in 0..config.count {
                for dealer in &dealers {
                    dealer.send(payload.clone()).await?;
                }
                for dealer in &dealers {
                    common::check_frames(frames(&dealer.recv().await?), config.size)?;
                }
            }
            let elapsed = start.elapsed();
            common::report(&[
                ("router_elapsed_ns", elapsed.as_nanos() as f64),
                ("requests", (config.count * config.peers as u64) as f64),
            ]);
            common::compio_wait_quit().await;
        }
    }
    common::exit_now()
}

/// DEALER -> ROUTER | `monocoque::proxy` | DEALER -> DEALER over tcp: the broker and the sender
/// on threads of their own, the receiver here.
async fn proxy_row(config: &Config, payload: Bytes) -> Result<(), BoxError> {
    let (endpoints, bound) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let broker = async {
            let frontend = RouterSocket::new();
            let front = frontend.bind("tcp://127.0.0.1:0").await?.to_string();
            let backend = DealerSocket::new();
            let back = backend.bind("tcp://127.0.0.1:0").await?.to_string();
            endpoints.send((front, back))?;
            let control = monocoque::ProxyControl::new();
            monocoque::proxy(&frontend, &backend, None, &control).await?;
            Ok::<_, BoxError>(())
        };
        match compio::runtime::Runtime::new() {
            Ok(runtime) => runtime.block_on(broker),
            Err(error) => Err(error.into()),
        }
    });
    let (front, back) = bound.recv()?;
    let count = config.count;
    std::thread::spawn(move || {
        let send = async {
            let dealer = DealerSocket::new();
            dealer.connect(&front)?;
            for _ in 0..count {
                dealer.send(payload.clone()).await?;
            }
            common::compio_wait_quit().await;
            Ok::<_, BoxError>(())
        };
        match compio::runtime::Runtime::new() {
            Ok(runtime) => runtime.block_on(send),
            Err(error) => Err(error.into()),
        }
    });
    let receiver = DealerSocket::new();
    receiver.connect(&back)?;
    common::announce(&back);
    let last = |message: &Message| message.frames().last().map(|f| f.to_vec());
    let check = |message: Message| -> Result<(), BoxError> {
        let body = last(&message).ok_or("an empty message")?;
        common::check_frames(std::iter::once(&body[..]), config.size)
    };
    check(receiver.recv().await?)?;
    let start = Instant::now();
    for _ in 1..config.count {
        check(receiver.recv().await?)?;
    }
    common::report_thr(start.elapsed(), config.count);
    common::compio_wait_quit().await;
    Ok(())
}
