//! zeromq (zmq.rs) on tokio, the way its examples run it: `#[tokio::main]`'s default
//! multi-thread runtime, sockets created with `new()` (it has no high-water-mark option).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use zeromq::prelude::*;
use zeromq::{
    DealerSocket, PubSocket, PullSocket, PushSocket, RepSocket, ReqSocket, RouterSocket, SubSocket,
    ZmqMessage,
};

use crate::common::{self, BoxError, Latencies, QUIT, SubStats};
use crate::spec::{Config, Kind, Role};

pub fn run(config: &Config) -> Result<(), BoxError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(role(config))
}

fn check(message: &ZmqMessage, size: usize) -> Result<(), BoxError> {
    if message.len() != 1 {
        return Err(format!("received {} frames, expected 1", message.len()).into());
    }
    common::check(message.get(0).map(|b| &b[..]).unwrap_or_default(), size)
}

async fn bind<S: Socket>(mut socket: S, config: &Config) -> Result<S, BoxError> {
    let bound = socket.bind(&config.endpoint).await?;
    common::announce(&bound.to_string());
    Ok(socket)
}

async fn connect<S: Socket>(mut socket: S, config: &Config) -> Result<S, BoxError> {
    socket.connect(&config.endpoint).await?;
    Ok(socket)
}

async fn role(config: &Config) -> Result<(), BoxError> {
    let payload = Bytes::from(common::payload(config.size));
    match (config.kind, config.role) {
        (Kind::Proxy, _) => return Err("no proxy row for this library".into()),
        (Kind::Thr, Role::Server) => {
            let mut pull = bind(PullSocket::new(), config).await?;
            check(&pull.recv().await?, config.size)?;
            let start = Instant::now();
            for _ in 1..config.count {
                check(&pull.recv().await?, config.size)?;
            }
            common::report_thr(start.elapsed(), config.count);
            QUIT.wait().await;
        }
        (Kind::Thr, Role::Client) => {
            let mut push = connect(PushSocket::new(), config).await?;
            for _ in 0..config.count {
                push.send(ZmqMessage::from(payload.clone())).await?;
            }
            QUIT.wait().await;
        }
        (Kind::Lat, Role::Server) => {
            let mut rep = bind(RepSocket::new(), config).await?;
            for _ in 0..config.warmup + config.count {
                let request = rep.recv().await?;
                rep.send(request).await?;
            }
            QUIT.wait().await;
        }
        (Kind::Lat, Role::Client) => {
            let mut req = connect(ReqSocket::new(), config).await?;
            let mut latencies = Latencies::new();
            for i in 0..config.warmup + config.count {
                let start = Instant::now();
                req.send(ZmqMessage::from(payload.clone())).await?;
                let reply = req.recv().await?;
                let rtt = start.elapsed();
                check(&reply, config.size)?;
                if i >= config.warmup {
                    latencies.record(rtt);
                }
            }
            latencies.report();
            QUIT.wait().await;
        }
        (Kind::Fanout, Role::Server) => {
            let mut publisher = bind(PubSocket::new(), config).await?;
            let probe = Bytes::from_static(common::PROBE);
            while !common::GO.is_set() {
                publisher.send(ZmqMessage::from(probe.clone())).await?;
                tokio::time::sleep(common::TICK).await;
            }
            for _ in 0..config.count {
                publisher.send(ZmqMessage::from(payload.clone())).await?;
            }
            let end = Bytes::from_static(common::END);
            while !QUIT.is_set() {
                publisher.send(ZmqMessage::from(end.clone())).await?;
                tokio::time::sleep(common::TICK).await;
            }
        }
        (Kind::Fanout, Role::Client) => {
            let ready = Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for _ in 0..config.peers {
                let mut sub = SubSocket::new();
                sub.subscribe("").await?;
                let mut sub = connect(sub, config).await?;
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
                        let body = message.get(0).map(|b| &b[..]).unwrap_or_default();
                        let kind = common::classify(body, size)?;
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
            QUIT.wait().await;
        }
        (Kind::Router, Role::Server) => {
            let mut router = bind(RouterSocket::new(), config).await?;
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
            QUIT.wait().await;
        }
        (Kind::Router, Role::Client) => {
            let mut dealers = Vec::with_capacity(config.peers);
            for _ in 0..config.peers {
                let mut dealer = connect(DealerSocket::new(), config).await?;
                dealer
                    .send(ZmqMessage::from(Bytes::from_static(common::HELLO)))
                    .await?;
                dealers.push(dealer);
            }
            for dealer in &mut dealers {
                let reply = dealer.recv().await?;
                if reply.len() != 1 || reply.get(0).map(|b| &b[..]) != Some(common::HELLO) {
                    return Err("unexpected reply to hello".into());
                }
            }
            let start = Instant::now();
            for _ in 0..config.count {
                for dealer in &mut dealers {
                    dealer.send(ZmqMessage::from(payload.clone())).await?;
                }
                for dealer in &mut dealers {
                    check(&dealer.recv().await?, config.size)?;
                }
            }
            let elapsed = start.elapsed();
            common::report(&[
                ("router_elapsed_ns", elapsed.as_nanos() as f64),
                ("requests", (config.count * config.peers as u64) as f64),
            ]);
            QUIT.wait().await;
        }
    }
    common::exit_now()
}
