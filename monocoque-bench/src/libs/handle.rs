//! monocoque's thread-safe handles from a plain thread: the sockets run on the process-wide
//! context's I/O thread, and the caller's thread only sends and receives, as a libzmq program
//! does with its own I/O thread.

use std::time::Instant;

use bytes::Bytes;
use monocoque::Message;
use monocoque::handle::{PullSocket, PushSocket, RepSocket, ReqSocket};

use crate::common::{self, BoxError, Latencies, QUIT};
use crate::libs::mono::curve_options;
use crate::spec::{Config, Kind, Role};

fn frames(message: &Message) -> impl ExactSizeIterator<Item = &[u8]> {
    message.frames().iter().map(|f| &f[..])
}

fn wait_quit() {
    while !QUIT.is_set() {
        std::thread::sleep(common::TICK);
    }
}

pub fn run(config: &Config) -> Result<(), BoxError> {
    let payload = Bytes::from(common::payload(config.size));
    match (config.kind, config.role) {
        (Kind::Proxy, _) => return Err("no proxy row for this library".into()),
        (Kind::Thr, Role::Server) => {
            let pull = PullSocket::with_options(curve_options(config)?)?;
            common::announce(&pull.bind(&config.endpoint)?.to_string());
            common::check_frames(frames(&pull.recv()?), config.size)?;
            let start = Instant::now();
            for _ in 1..config.count {
                common::check_frames(frames(&pull.recv()?), config.size)?;
            }
            common::report_thr(start.elapsed(), config.count);
            wait_quit();
        }
        (Kind::Thr, Role::Client) => {
            let push = PushSocket::with_options(curve_options(config)?)?;
            push.connect(&config.endpoint)?;
            for _ in 0..config.count {
                push.send(payload.clone())?;
            }
            wait_quit();
        }
        (Kind::Lat, Role::Server) => {
            let rep = RepSocket::with_options(curve_options(config)?)?;
            common::announce(&rep.bind(&config.endpoint)?.to_string());
            for _ in 0..config.warmup + config.count {
                let request = rep.recv()?;
                rep.send(request)?;
            }
            wait_quit();
        }
        (Kind::Lat, Role::Client) => {
            let req = ReqSocket::with_options(curve_options(config)?)?;
            req.connect(&config.endpoint)?;
            let mut latencies = Latencies::new();
            for i in 0..config.warmup + config.count {
                let start = Instant::now();
                req.send(payload.clone())?;
                let reply = req.recv()?;
                let rtt = start.elapsed();
                common::check_frames(frames(&reply), config.size)?;
                if i >= config.warmup {
                    latencies.record(rtt);
                }
            }
            latencies.report();
            wait_quit();
        }
        (Kind::Fanout | Kind::Router, _) => {
            return Err("monocoque-handle: only throughput and latency rows".into());
        }
    }
    Ok(())
}
