//! The zguide's streamer on thread-safe handles: a PULL/PUSH proxy between a ventilator and
//! a pool of workers, every socket used from plain threads, the workers reached over
//! `inproc://`, and the proxy steered (statistics, then terminate) from the main thread.
//!
//! ```text
//! PUSH ventilator ──tcp──> PULL frontend  proxy  PUSH backend ──inproc──> PULL worker x3
//!                                                                          │
//!                                         PULL sink <──inproc── PUSH results
//! ```
//!
//! ```text
//! cargo run -p monocoque --example streamer_handles
//! ```

use std::thread;
use std::time::Duration;

use monocoque::ProxyControl;
use monocoque::handle::{PullSocket, PushSocket};

const WORKERS: usize = 3;
const TASKS: u32 = 30;

fn main() -> Result<(), monocoque::Error> {
    let frontend = PullSocket::new()?;
    let tasks_in = frontend.bind("tcp://127.0.0.1:0")?.to_string();
    let backend = PushSocket::new()?;
    backend.bind("inproc://streamer-workers")?;
    let sink = PullSocket::new()?;
    sink.bind("inproc://streamer-results")?;

    let control = ProxyControl::new();
    let streamer = thread::spawn({
        let control = control.clone();
        move || monocoque::handle::proxy(&frontend, &backend, None, &control)
    });

    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let tasks = PullSocket::new()?;
            tasks.connect("inproc://streamer-workers")?;
            let results = PushSocket::new()?;
            results.connect("inproc://streamer-results")?;
            Ok(thread::spawn(move || -> Result<(), monocoque::Error> {
                // A worker ends when no task came for a while.
                while let Ok(task) = tasks.recv_timeout(Duration::from_millis(500)) {
                    let n: u32 = String::from_utf8_lossy(&task[0]).parse().unwrap_or(0);
                    results.send(format!("worker {w}: {n} squared is {}", n * n))?;
                }
                Ok(())
            }))
        })
        .collect::<Result<_, monocoque::Error>>()?;

    let ventilator = PushSocket::new()?;
    ventilator.connect(&tasks_in)?;
    for n in 0..TASKS {
        ventilator.send(n.to_string())?;
    }
    for _ in 0..TASKS {
        let result = sink.recv_timeout(Duration::from_secs(5))?;
        println!("{}", String::from_utf8_lossy(&result[0]));
    }
    let statistics = control.statistics();
    println!(
        "streamed {} tasks from the ventilator to {WORKERS} workers",
        statistics.backend.messages_out
    );
    control.terminate();
    streamer.join().expect("the streamer thread")?;
    for worker in workers {
        worker.join().expect("a worker thread")?;
    }
    Ok(())
}
