//! omq-tokio: `Context::new()` (its default: one owned IO thread running a current-thread tokio
//! runtime) with `Options::default()`, the application future run inline on that thread with
//! `Context::block_on`, as the crate's documentation shows for a plain `fn main`; or, with
//! MONOCOQUE_BENCH_OMQ=current, `Context::current()` on a current-thread tokio runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use omq_tokio::{Context, Message, Options, Socket, SocketType};

use crate::common::{self, BoxError, Latencies, QUIT, SubStats};
use crate::spec::{Config, Kind, Role};

pub fn run(config: &Config) -> Result<(), BoxError> {
    // MONOCOQUE_BENCH_OMQ=current: its other mode, `Context::current()` on the caller's
    // current-thread tokio runtime (no I/O thread of its own).
    if std::env::var("MONOCOQUE_BENCH_OMQ").as_deref() == Ok("current") {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let config = config.clone();
        return runtime.block_on(async move {
            let context = Context::current();
            role(&context, &config).await
        });
    }
    let context = Context::new();
    let config = config.clone();
    let ctx = context.clone();
    context.block_on(async move { role(&ctx, &config).await })
}

fn options(config: &Config) -> Options {
    match config.hwm {
        Some(hwm) => Options::default().send_hwm(hwm).recv_hwm(hwm),
        None => Options::default(),
    }
}

fn check(message: &Message, size: usize) -> Result<(), BoxError> {
    if message.len() != 1 {
        return Err(format!("received {} frames, expected 1", message.len()).into());
    }
    common::check(message.get(0).unwrap_or_default(), size)
}

async fn bind(ctx: &Context, kind: SocketType, config: &Config) -> Result<Socket, BoxError> {
    let socket = ctx.socket(kind, options(config));
    let bound = socket.bind(config.endpoint.as_str()).await?;
    common::announce(&bound.to_string());
    Ok(socket)
}

async fn connect(ctx: &Context, kind: SocketType, config: &Config) -> Result<Socket, BoxError> {
    let socket = ctx.socket(kind, options(config));
    socket.connect(config.endpoint.as_str()).await?;
    Ok(socket)
}

async fn role(ctx: &Context, config: &Config) -> Result<(), BoxError> {
    let payload = Bytes::from(common::payload(config.size));
    match (config.kind, config.role) {
        (Kind::Proxy, _) => return Err("no proxy row for this library".into()),
        (Kind::Thr, Role::Server) => {
            let pull = bind(ctx, SocketType::Pull, config).await?;
            check(&pull.recv().await?, config.size)?;
            let start = Instant::now();
            for _ in 1..config.count {
                check(&pull.recv().await?, config.size)?;
            }
            common::report_thr(start.elapsed(), config.count);
        }
        (Kind::Thr, Role::Client) => {
            let push = connect(ctx, SocketType::Push, config).await?;
            for _ in 0..config.count {
                push.send(Message::single(payload.clone())).await?;
            }
            // Linger is 0 by default: keep the socket until the receiver has everything.
            QUIT.wait().await;
            drop(push);
        }
        (Kind::Lat, Role::Server) => {
            let rep = bind(ctx, SocketType::Rep, config).await?;
            for _ in 0..config.warmup + config.count {
                let request = rep.recv().await?;
                rep.send(request).await?;
            }
            QUIT.wait().await;
            drop(rep);
        }
        (Kind::Lat, Role::Client) => {
            let req = connect(ctx, SocketType::Req, config).await?;
            let mut latencies = Latencies::new();
            for i in 0..config.warmup + config.count {
                let start = Instant::now();
                req.send(Message::single(payload.clone())).await?;
                let reply = req.recv().await?;
                let rtt = start.elapsed();
                check(&reply, config.size)?;
                if i >= config.warmup {
                    latencies.record(rtt);
                }
            }
            latencies.report();
        }
        (Kind::Fanout, Role::Server) => {
            let publisher = bind(ctx, SocketType::Pub, config).await?;
            let probe = Bytes::from_static(common::PROBE);
            while !common::GO.is_set() {
                publisher.send(Message::single(probe.clone())).await?;
                tokio::time::sleep(common::TICK).await;
            }
            for _ in 0..config.count {
                publisher.send(Message::single(payload.clone())).await?;
            }
            let end = Bytes::from_static(common::END);
            while !QUIT.is_set() {
                publisher.send(Message::single(end.clone())).await?;
                tokio::time::sleep(common::TICK).await;
            }
            common::exit_now();
        }
        (Kind::Fanout, Role::Client) => {
            let ready = Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for _ in 0..config.peers {
                let sub = ctx.socket(SocketType::Sub, options(config));
                sub.subscribe(Bytes::new()).await?;
                sub.connect(config.endpoint.as_str()).await?;
                let ready = ready.clone();
                let (peers, size) = (config.peers, config.size);
                tasks.push(tokio::spawn(async move {
                    let mut stats = SubStats::default();
                    let mut probed = false;
                    loop {
                        let message = sub.recv().await?;
                        if message.len() != 1 {
                            return Err(format!("{} frames", message.len()).into());
                        }
                        let kind = common::classify(message.get(0).unwrap_or_default(), size)?;
                        if !probed {
                            probed = true;
                            if ready.fetch_add(1, Ordering::SeqCst) + 1 == peers {
                                common::ready();
                            }
                        }
                        if stats.on_message(kind) {
                            return Ok::<_, BoxError>((stats, sub));
                        }
                    }
                }));
            }
            let mut all = Vec::new();
            let mut keep = Vec::new();
            for task in tasks {
                let (stats, sub) = task.await??;
                all.push(stats);
                keep.push(sub);
            }
            common::report_fanout(&all, config.count);
        }
        (Kind::Router, Role::Server) => {
            let router = bind(ctx, SocketType::Router, config).await?;
            let before = common::rss_bytes();
            let mut hellos = Vec::with_capacity(config.peers);
            while hellos.len() < config.peers {
                match tokio::time::timeout(std::time::Duration::from_secs(5), router.recv()).await {
                    Ok(message) => hellos.push(message?),
                    Err(_) => eprintln!(
                        "router: {} of {} peers have said hello",
                        hellos.len(),
                        config.peers
                    ),
                }
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
            QUIT.wait().await;
            drop(router);
        }
        (Kind::Router, Role::Client) => {
            let mut dealers = Vec::with_capacity(config.peers);
            for _ in 0..config.peers {
                let dealer = connect(ctx, SocketType::Dealer, config).await?;
                dealer
                    .send(Message::single(Bytes::from_static(common::HELLO)))
                    .await?;
                dealers.push(dealer);
            }
            eprintln!("dealers: {} connected and sent hello", dealers.len());
            for dealer in &dealers {
                let reply = dealer.recv().await?;
                if reply.len() != 1 || reply.get(0) != Some(common::HELLO) {
                    return Err("unexpected reply to hello".into());
                }
            }
            let start = Instant::now();
            for _ in 0..config.count {
                for dealer in &dealers {
                    dealer.send(Message::single(payload.clone())).await?;
                }
                for dealer in &dealers {
                    check(&dealer.recv().await?, config.size)?;
                }
            }
            let elapsed = start.elapsed();
            common::report(&[
                ("router_elapsed_ns", elapsed.as_nanos() as f64),
                ("requests", (config.count * config.peers as u64) as f64),
            ]);
            QUIT.wait().await;
            drop(dealers);
        }
    }
    QUIT.wait().await;
    common::exit_now()
}
