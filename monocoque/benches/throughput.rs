//! Criterion benchmarks of monocoque alone, in one process on one compio runtime: PUSH/PULL
//! throughput at 64 B, 1 KiB and 64 KiB, and REQ/REP round trips at 64 B, over TCP and IPC.
//!
//! Both ends share one thread, so these figures are the whole stack's cost per message on one
//! core (encode, write, read, decode, routing) rather than what two busy processes reach. They
//! are meant for tracking monocoque against itself from change to change (criterion keeps the
//! previous run and reports the difference); for a comparison with libzmq, two processes at a
//! time, see `monocoque-bench/` and `scripts/bench.sh`.
//!
//! ```text
//! cargo bench -p monocoque --bench throughput
//! cargo bench -p monocoque --bench throughput -- 'push_pull/ipc'   # a subset
//! ```

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use compio::runtime::Runtime;
use criterion::{BenchmarkId, Criterion, Throughput};
use monocoque::{PullSocket, PushSocket, RepSocket, ReqSocket};

/// Message sizes for the throughput group.
const SIZES: [usize; 3] = [64, 1024, 65536];

/// The transports, as endpoints to bind (the IPC path is unique to the process).
fn endpoints() -> [(&'static str, String); 2] {
    let ipc = std::env::temp_dir().join(format!("monocoque-bench-{}.sock", std::process::id()));
    [
        ("tcp", "tcp://127.0.0.1:0".to_owned()),
        ("ipc", format!("ipc://{}", ipc.display())),
    ]
}

fn push_pull(c: &mut Criterion) {
    let runtime = Runtime::new().expect("a compio runtime (io_uring available?)");
    let mut group = c.benchmark_group("push_pull");
    for (transport, endpoint) in endpoints() {
        for size in SIZES {
            // Sockets live across iterations: connection set-up is not what is measured.
            let (push, pull) = runtime.block_on(connected_pipeline(&endpoint));
            let payload = Bytes::from(vec![0x5a; size]);
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_function(BenchmarkId::new(transport, size), |b| {
                b.iter_custom(|messages| {
                    runtime.block_on(async {
                        let start = Instant::now();
                        // The sender runs as a task of its own so that the HWM can pause it
                        // while the receiver below catches up.
                        let sender = {
                            let push = push.clone();
                            let payload = payload.clone();
                            compio::runtime::spawn(async move {
                                for _ in 0..messages {
                                    push.send(payload.clone()).await.expect("send");
                                }
                            })
                        };
                        for _ in 0..messages {
                            let message = pull.recv().await.expect("receive");
                            assert_eq!(message.byte_len(), size, "message size");
                        }
                        sender.await.expect("the sender task");
                        start.elapsed()
                    })
                });
            });
            drop((push, pull));
        }
    }
    group.finish();
}

fn req_rep(c: &mut Criterion) {
    let runtime = Runtime::new().expect("a compio runtime (io_uring available?)");
    let mut group = c.benchmark_group("req_rep");
    for (transport, endpoint) in endpoints() {
        let (req, echo) = runtime.block_on(async {
            let rep = RepSocket::new();
            let endpoint = rep.bind(&endpoint).await.expect("bind").to_string();
            // The service echoes until the benchmark drops its task.
            let echo = compio::runtime::spawn(async move {
                while let Ok(request) = rep.recv().await {
                    if rep.send(request).await.is_err() {
                        break;
                    }
                }
            });
            let req = ReqSocket::new();
            req.connect(&endpoint).expect("connect");
            req.send("warm-up").await.expect("send");
            req.recv().await.expect("receive");
            (req, echo)
        });
        let payload = Bytes::from(vec![0x5a; 64]);
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new(transport, 64), |b| {
            b.iter_custom(|round_trips| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..round_trips {
                        req.send(payload.clone()).await.expect("send");
                        req.recv().await.expect("receive");
                    }
                    start.elapsed()
                })
            });
        });
        drop((req, echo));
    }
    group.finish();
}

/// A PULL bound to `endpoint` and a PUSH connected to it, with one message through already.
async fn connected_pipeline(endpoint: &str) -> (Rc<PushSocket>, PullSocket) {
    let pull = PullSocket::new();
    let endpoint = pull.bind(endpoint).await.expect("bind").to_string();
    let push = PushSocket::new();
    push.connect(&endpoint).expect("connect");
    push.send("warm-up").await.expect("send");
    pull.recv().await.expect("receive");
    (Rc::new(push), pull)
}

fn main() {
    // Short runs: the machine this was written on has two shared cores, and the whole suite
    // should take about a minute. Command-line arguments (a filter, `--save-baseline`, ...) still
    // apply on top.
    let mut criterion = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    push_pull(&mut criterion);
    req_rep(&mut criterion);
    criterion.final_summary();
}
