//! monocoque's two-process benchmark suite: monocoque against libzmq (the reference, through the
//! `zmq` crate), omq-tokio, zeromq (zmq.rs), monocoque-rs and a raw-socket floor, in the same run.
//! The `curve ...` rows run monocoque with CURVE against the system's libzmq.so.5 with CURVE
//! (Debian's libzmq5, loaded at run time: the `zmq` crate's libzmq has no CURVE).
//! `scripts/bench.sh` builds and runs it; docs/PERFORMANCE.md explains the method.
//!
//! ```text
//! monocoque-bench table [rounds=5] [filter=push/pull,req/rep] [libs=libzmq,monocoque]
//!                       [scale=1.0] [timeout=60] [latpin=1] [out=target/bench]
//! monocoque-bench rows [filter=...] [latpin=1]   (the labels of the rows a table would run)
//! monocoque-bench run lib=monocoque kind=thr transport=tcp size=64 count=1000000 [pinned=1]
//!                     [curve=1] [wrap_server="valgrind --tool=callgrind"] [wrap_client=...]
//! monocoque-bench libzmq-curve   (checks that the system libzmq.so.5 loads and has CURVE)
//! monocoque-bench child lib=... role=server|client kind=... ...   (what the two above start)
//! ```

mod common;
mod harness;
mod libs {
    pub mod handle;
    pub mod mono;
    pub mod monors;
    pub mod omq;
    pub mod raw;
    pub mod zeromq;
    pub mod zmq;
    pub mod zmqsys;
}
mod report;
mod spec;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use common::BoxError;
use harness::{Row, Wrap};
use spec::{Config, Kind, Lib, Role, Transport};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("child") => child(&args[1..]),
        Some("table") => report::table(&args[1..]),
        None => report::table(&[]),
        Some("run") => single(&args[1..]),
        Some("rows") => report::selected_rows(&args[1..]).map(|rows| {
            for row in rows {
                println!("{}", row.label());
            }
            true
        }),
        Some("libzmq-curve") => libs::zmqsys::describe().map(|found| {
            println!("{found}");
            true
        }),
        Some(other) => {
            Err(format!("unknown command {other:?}: table, run, rows, libzmq-curve, child").into())
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("monocoque-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

/// One side of one measurement, in its own process.
fn child(args: &[String]) -> Result<bool, BoxError> {
    let config = Config::parse(args)?;
    if config.curve
        && (!matches!(config.kind, Kind::Thr | Kind::Lat) || config.transport == Transport::Inproc)
    {
        return Err("curve=1: throughput and latency over tcp or ipc only".into());
    }
    // Die with the parent: a killed table run must not leave measurements running.
    // SAFETY: prctl with these arguments only sets a flag on this process.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    common::start_control();
    if config.kind == Kind::Router {
        common::raise_fd_limit();
    }
    // Inproc: the sending side runs on a thread of this process, connected before the bind
    // (both libraries allow that order).
    let sender =
        (config.transport == Transport::Inproc && config.role == Role::Server).then(|| {
            let mut client = config.clone();
            client.role = Role::Client;
            std::thread::spawn(move || run_lib(&client).map_err(|e| e.to_string()))
        });
    run_lib(&config)?;
    if let Some(sender) = sender {
        sender.join().map_err(|_| "the sending thread panicked")??;
    }
    Ok(true)
}

fn run_lib(config: &Config) -> Result<(), BoxError> {
    let config = config.clone();
    match config.lib {
        // The zmq crate's libzmq is built without CURVE: the system's libzmq.so.5 instead.
        Lib::Zmq if config.curve => libs::zmqsys::run(&config)?,
        Lib::Zmq => libs::zmq::run(&config)?,
        Lib::Mono => libs::mono::run(&config)?,
        Lib::Omq => libs::omq::run(&config)?,
        Lib::Zeromq => libs::zeromq::run(&config)?,
        Lib::MonoRs => libs::monors::run(&config)?,
        Lib::Raw => libs::raw::run(&config)?,
        Lib::MonoHandle => libs::handle::run(&config)?,
        Lib::MonoEpoll => libs::mono::run_epoll(&config)?,
    }
    Ok(())
}

/// The rows, in table order. Message counts are fixed per row and the same for every library.
pub fn rows(latency_pinned: bool) -> Vec<Row> {
    let mut rows = Vec::new();
    let thr = |transport, size, count, pinned| Row {
        kind: Kind::Thr,
        transport,
        size,
        count,
        warmup: 0,
        peers: 1,
        hwm: None,
        pinned,
        curve: false,
    };
    for transport in [Transport::Tcp, Transport::Ipc] {
        for (size, count) in [
            (64, 2_000_000),
            (1024, 1_000_000),
            (64 << 10, 50_000),
            (1 << 20, 3_000),
        ] {
            for pinned in [false, true] {
                rows.push(thr(transport, size, count, pinned));
            }
        }
    }
    for transport in [Transport::Tcp, Transport::Ipc] {
        for size in [64, 1024] {
            rows.push(Row {
                kind: Kind::Lat,
                transport,
                size,
                count: 20_000,
                warmup: 2_000,
                peers: 1,
                hwm: None,
                pinned: latency_pinned,
                curve: false,
            });
        }
    }
    for (peers, count) in [(10, 300_000), (100, 30_000), (1000, 3_000)] {
        for hwm in [1_000, 1_000_000] {
            rows.push(Row {
                kind: Kind::Fanout,
                transport: Transport::Tcp,
                size: 64,
                count,
                warmup: 0,
                peers,
                hwm: Some(hwm),
                pinned: false,
                curve: false,
            });
        }
    }
    for (size, count) in [(64, 2_000_000), (1024, 1_000_000)] {
        rows.push(thr(Transport::Inproc, size, count, false));
    }
    rows.push(Row {
        kind: Kind::Proxy,
        transport: Transport::Tcp,
        size: 64,
        count: 500_000,
        warmup: 0,
        peers: 1,
        hwm: None,
        pinned: false,
        curve: false,
    });
    rows.push(Row {
        kind: Kind::Router,
        transport: Transport::Tcp,
        size: 64,
        count: 100,
        warmup: 0,
        peers: 1000,
        hwm: None,
        pinned: false,
        curve: false,
    });
    // CURVE (encrypted) over tcp, last so the rows above keep their places: monocoque against
    // the system's libzmq with CURVE. Fewer messages than the plain rows: encryption is slower.
    for (size, count) in [(64, 500_000), (64 << 10, 20_000)] {
        rows.push(Row {
            curve: true,
            ..thr(Transport::Tcp, size, count, false)
        });
    }
    rows.push(Row {
        kind: Kind::Lat,
        transport: Transport::Tcp,
        size: 64,
        count: 20_000,
        warmup: 2_000,
        peers: 1,
        hwm: None,
        pinned: latency_pinned,
        curve: true,
    });
    rows
}

/// `run key=value...`: one measurement, printed (used by scripts/profile.sh).
fn single(args: &[String]) -> Result<bool, BoxError> {
    let mut lib = Lib::Mono;
    let mut row = Row {
        kind: Kind::Thr,
        transport: Transport::Tcp,
        size: 64,
        count: 100_000,
        warmup: 0,
        peers: 1,
        hwm: None,
        pinned: false,
        curve: false,
    };
    let mut timeout = Duration::from_secs(120);
    let mut wrap = Wrap::default();
    let mut warmup = None;
    for arg in args {
        let (key, value) = arg
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, got {arg:?}"))?;
        match key {
            "lib" => lib = Lib::parse(value).ok_or(format!("unknown lib {value:?}"))?,
            "kind" => {
                row.kind = match value {
                    "thr" => Kind::Thr,
                    "lat" => Kind::Lat,
                    "fanout" => Kind::Fanout,
                    "router" => Kind::Router,
                    "proxy" => Kind::Proxy,
                    _ => return Err(format!("kind={value}").into()),
                }
            }
            "transport" => {
                row.transport = match value {
                    "ipc" => Transport::Ipc,
                    "inproc" => Transport::Inproc,
                    _ => Transport::Tcp,
                }
            }
            "size" => row.size = value.parse()?,
            "count" => row.count = value.parse()?,
            "warmup" => warmup = Some(value.parse()?),
            "peers" => row.peers = value.parse()?,
            "hwm" => row.hwm = Some(value.parse()?),
            "pinned" => row.pinned = value == "1",
            "curve" => row.curve = value == "1",
            "timeout" => timeout = Duration::from_secs_f64(value.parse()?),
            "wrap_server" => wrap.server = value.split_whitespace().map(String::from).collect(),
            "wrap_client" => wrap.client = value.split_whitespace().map(String::from).collect(),
            _ => return Err(format!("unknown argument {key:?}").into()),
        }
    }
    row.warmup = warmup.unwrap_or(if row.kind == Kind::Lat {
        (row.count / 10).max(1)
    } else {
        0
    });
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let sample = harness::measure(&exe, &row, lib, timeout, &wrap)?;
    let mut fields: Vec<_> = sample.into_iter().collect();
    fields.sort_by(|a, b| a.0.cmp(b.0));
    let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v:.6}")).collect();
    println!(
        "{} {} ({} messages{}): {}",
        lib,
        row.label(),
        row.count,
        if row.pinned { ", pinned to CPU 0" } else { "" },
        fields.join(" ")
    );
    eprintln!("took {:.1} s", started.elapsed().as_secs_f64());
    Ok(true)
}
