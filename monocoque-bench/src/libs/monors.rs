//! monocoque-rs (the published crate): its compio backend (the default), default options, eager sends
//! (its default mode; write coalescing is opt-in). Its PULL, REP, ... sockets each wrap one
//! connection: the server side binds a listener, accepts one connection and builds the socket
//! on it, as its own `bind` helpers do (they accept before returning, so they cannot report the
//! port first).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use compio::io::{AsyncRead, AsyncWrite};
use compio::net::{TcpListener, UnixListener, UnixStream};
use monocoque_rs::SocketOptions;
use monocoque_rs::zmq::{PubSocket, PullSocket, PushSocket, RepSocket, ReqSocket, SubSocket};

use crate::common::{self, Addr, BoxError, Latencies, QUIT, SubStats};
use crate::spec::{Config, Kind, Role};

/// MONOCOQUE_RS_COALESCE=<n>: the PUSH with its opt-in write coalescing, flushed every n sends
/// (its fastest mode, as its documentation shows it), instead of its default eager sends.
fn coalesce() -> Option<u64> {
    std::env::var("MONOCOQUE_RS_COALESCE")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
}

pub fn run(config: &Config) -> Result<(), BoxError> {
    compio::runtime::Runtime::new()?.block_on(role(config))
}

fn options(config: &Config) -> SocketOptions {
    let mut options = SocketOptions::new();
    if let Some(hwm) = config.hwm {
        options.send_hwm = hwm as usize;
        options.recv_hwm = hwm as usize;
    }
    options
}

fn check(message: Option<Vec<Bytes>>, size: usize) -> Result<(), BoxError> {
    match message {
        Some(frames) => common::check_frames(frames.iter().map(|f| &f[..]), size),
        None => Err("connection closed".into()),
    }
}

/// A listener on `tcp://127.0.0.1:0` or `ipc://path`, announced with its real address.
enum Listener {
    Tcp(TcpListener),
    Ipc(UnixListener),
}

async fn listen(config: &Config) -> Result<Listener, BoxError> {
    match common::parse_endpoint(&config.endpoint)? {
        Addr::Tcp(addr) => {
            let listener = TcpListener::bind(addr.as_str()).await?;
            common::announce(&format!("tcp://{}", listener.local_addr()?));
            Ok(Listener::Tcp(listener))
        }
        Addr::Ipc(path) => {
            let listener = UnixListener::bind(&path).await?;
            common::announce(&format!("ipc://{path}"));
            Ok(Listener::Ipc(listener))
        }
    }
}

async fn pull_loop<S: AsyncRead + AsyncWrite + Unpin>(
    mut pull: PullSocket<S>,
    config: &Config,
) -> Result<(), BoxError> {
    check(pull.recv().await?, config.size)?;
    let start = Instant::now();
    for _ in 1..config.count {
        check(pull.recv().await?, config.size)?;
    }
    common::report_thr(start.elapsed(), config.count);
    common::compio_wait_quit().await;
    Ok(())
}

async fn push_loop<S: AsyncRead + AsyncWrite + Unpin>(
    mut push: PushSocket<S>,
    config: &Config,
) -> Result<(), BoxError> {
    let payload = Bytes::from(common::payload(config.size));
    let flush_every = coalesce().unwrap_or(0);
    for n in 1..=config.count {
        push.send_one(payload.clone()).await?;
        if flush_every > 0 && n % flush_every == 0 {
            push.flush().await?;
        }
    }
    if flush_every > 0 {
        push.flush().await?;
    }
    common::compio_wait_quit().await;
    Ok(())
}

async fn rep_loop<S: AsyncRead + AsyncWrite + Unpin>(
    mut rep: RepSocket<S>,
    config: &Config,
) -> Result<(), BoxError> {
    for _ in 0..config.warmup + config.count {
        let request = rep.recv().await?.ok_or("connection closed")?;
        rep.send(request).await?;
    }
    common::compio_wait_quit().await;
    Ok(())
}

async fn req_loop<S: AsyncRead + AsyncWrite + Unpin>(
    mut req: ReqSocket<S>,
    config: &Config,
) -> Result<(), BoxError> {
    let payload = Bytes::from(common::payload(config.size));
    let mut latencies = Latencies::new();
    for i in 0..config.warmup + config.count {
        let start = Instant::now();
        req.send_one(payload.clone()).await?;
        let reply = req.recv().await?;
        let rtt = start.elapsed();
        check(reply, config.size)?;
        if i >= config.warmup {
            latencies.record(rtt);
        }
    }
    latencies.report();
    common::compio_wait_quit().await;
    Ok(())
}

async fn role(config: &Config) -> Result<(), BoxError> {
    match (config.kind, config.role) {
        (Kind::Proxy, _) => return Err("no proxy row for this library".into()),
        (Kind::Thr, Role::Server) => match listen(config).await? {
            Listener::Tcp(l) => {
                let (stream, _) = l.accept().await?;
                pull_loop(PullSocket::from_tcp(stream).await?, config).await?
            }
            Listener::Ipc(l) => {
                let (stream, _) = l.accept().await?;
                pull_loop(PullSocket::from_unix_stream(stream).await?, config).await?
            }
        },
        (Kind::Thr, Role::Client) => {
            let options = options(config).with_write_coalescing(coalesce().is_some());
            match common::parse_endpoint(&config.endpoint)? {
                Addr::Tcp(addr) => {
                    let push = PushSocket::connect_with_options(addr.as_str(), options).await?;
                    push_loop(push, config).await?
                }
                Addr::Ipc(path) => {
                    let stream = UnixStream::connect(&path).await?;
                    let push = PushSocket::from_unix_stream_with_options(stream, options).await?;
                    push_loop(push, config).await?
                }
            }
        }
        (Kind::Lat, Role::Server) => match listen(config).await? {
            Listener::Tcp(l) => {
                let (stream, _) = l.accept().await?;
                rep_loop(RepSocket::from_tcp(stream).await?, config).await?
            }
            Listener::Ipc(l) => {
                let (stream, _) = l.accept().await?;
                rep_loop(RepSocket::from_unix_stream(stream).await?, config).await?
            }
        },
        (Kind::Lat, Role::Client) => match common::parse_endpoint(&config.endpoint)? {
            Addr::Tcp(_) => req_loop(ReqSocket::connect(&config.endpoint).await?, config).await?,
            Addr::Ipc(path) => req_loop(ReqSocket::connect_ipc(&path).await?, config).await?,
        },
        (Kind::Fanout, Role::Server) => {
            let Addr::Tcp(addr) = common::parse_endpoint(&config.endpoint)? else {
                return Err("monocoque-rs: PUB binds TCP only".into());
            };
            let mut publisher = if config.hwm.is_some() {
                PubSocket::bind_with_options(addr.as_str(), options(config)).await?
            } else {
                PubSocket::bind(addr.as_str()).await?
            };
            common::announce(&format!("tcp://{}", publisher.local_addr()?));
            for _ in 0..config.peers {
                publisher.accept_subscriber().await?;
            }
            let payload = Bytes::from(common::payload(config.size));
            let probe = Bytes::from_static(common::PROBE);
            while !common::GO.is_set() {
                publisher.send(vec![probe.clone()]).await?;
                compio::time::sleep(common::TICK).await;
            }
            for _ in 0..config.count {
                publisher.send(vec![payload.clone()]).await?;
            }
            let end = Bytes::from_static(common::END);
            while !QUIT.is_set() {
                publisher.send(vec![end.clone()]).await?;
                compio::time::sleep(common::TICK).await;
            }
        }
        (Kind::Fanout, Role::Client) => {
            let Addr::Tcp(addr) = common::parse_endpoint(&config.endpoint)? else {
                return Err("monocoque-rs: SUB connects over TCP here".into());
            };
            let ready = Rc::new(Cell::new(0usize));
            let mut tasks = Vec::new();
            for _ in 0..config.peers {
                let mut sub = if config.hwm.is_some() {
                    SubSocket::connect_with_options(addr.as_str(), options(config)).await?
                } else {
                    SubSocket::connect(&config.endpoint).await?
                };
                sub.subscribe(b"").await?;
                let ready = ready.clone();
                let (peers, size) = (config.peers, config.size);
                tasks.push(compio::runtime::spawn(async move {
                    let mut stats = SubStats::default();
                    let mut probed = false;
                    loop {
                        let frames = sub.recv().await?.ok_or("connection closed")?;
                        if frames.len() != 1 {
                            return Err(format!("{} frames", frames.len()).into());
                        }
                        let kind = common::classify(&frames[0], size)?;
                        if !probed {
                            probed = true;
                            ready.set(ready.get() + 1);
                            if ready.get() == peers {
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
                let (stats, sub) = task.await.map_err(|_| "a subscriber task panicked")??;
                all.push(stats);
                keep.push(sub);
            }
            common::report_fanout(&all, config.count);
            common::compio_wait_quit().await;
        }
        (Kind::Router, _) => {
            return Err("monocoque-rs: single-peer ROUTER, not measured".into());
        }
    }
    common::exit_now()
}
