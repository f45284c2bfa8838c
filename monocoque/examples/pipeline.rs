//! A pipeline (PUSH/PULL): a ventilator hands out tasks to two workers, which send their results
//! to a sink.
//!
//! ```text
//!                  ┌─> PULL worker-a PUSH ─┐
//! ventilator PUSH ─┤                       ├─> PULL sink
//!                  └─> PULL worker-b PUSH ─┘
//! ```
//!
//! The ventilator and the sink bind loopback TCP ports; the workers connect to both. PUSH
//! load-balances round-robin over the workers connected to it, so once both have joined the
//! tasks are spread evenly; the sink fair-queues the results and counts who did what.
//!
//! ```text
//! cargo run -p monocoque --example pipeline
//! ```

use std::convert::Infallible;
use std::error::Error;
use std::time::{Duration, Instant};

use monocoque::{Message, PullSocket, PushSocket};

/// How many tasks the ventilator sends.
const TASKS: u32 = 20;

/// The workers' names.
const WORKERS: [&str; 2] = ["worker-a", "worker-b"];

#[compio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let ventilator = PushSocket::new();
    let tasks_endpoint = ventilator.bind("tcp://127.0.0.1:0").await?.to_string();
    let sink = PullSocket::new();
    let results_endpoint = sink.bind("tcp://127.0.0.1:0").await?.to_string();
    println!("ventilator PUSH bound to {tasks_endpoint}, sink PULL bound to {results_endpoint}");

    let mut workers = Vec::new();
    for name in WORKERS {
        let tasks = PullSocket::new();
        tasks.connect(&tasks_endpoint)?;
        let results = PushSocket::new();
        results.connect(&results_endpoint)?;
        // Each worker squares the numbers it is given until the example ends (dropping the
        // handle cancels the task).
        workers.push(compio::runtime::spawn(worker(name, tasks, results)));
    }

    // A PUSH only load-balances over the peers connected so far; wait (bounded) for both workers
    // so the first tasks do not all go to whichever joined first.
    let deadline = Instant::now() + Duration::from_secs(5);
    while ventilator.connected_peers() < WORKERS.len() {
        if Instant::now() > deadline {
            return Err("the workers did not connect to the ventilator within 5 s".into());
        }
        compio::time::sleep(Duration::from_millis(1)).await;
    }
    println!("{} workers connected", ventilator.connected_peers());

    for n in 1..=TASKS {
        ventilator.send(n.to_string()).await?;
    }
    println!("ventilator sent {TASKS} tasks");

    let mut done = [0u32; WORKERS.len()];
    let mut sum = 0u64;
    for _ in 0..TASKS {
        let result = compio::time::timeout(Duration::from_secs(5), sink.recv())
            .await
            .map_err(|_| "the sink stopped receiving results")??;
        let worker = String::from_utf8_lossy(&result[0]).into_owned();
        let n = String::from_utf8_lossy(&result[1]).into_owned();
        let square: u64 = String::from_utf8_lossy(&result[2]).parse()?;
        println!("  sink: {worker} says {n}² = {square}");
        let index = WORKERS
            .iter()
            .position(|w| *w == worker)
            .ok_or("unknown worker")?;
        done[index] += 1;
        sum += square;
    }
    drop(workers);

    let expected: u64 = (1..=u64::from(TASKS)).map(|n| n * n).sum();
    println!("load spread:");
    for (name, count) in WORKERS.iter().zip(done) {
        println!("  {name}: {count} task(s)");
    }
    println!("sum of squares: {sum} (expected {expected})");
    if sum != expected || done.contains(&0) {
        return Err("results missing, or one worker got no task".into());
    }
    Ok(())
}

/// A worker: squares each number it pulls and pushes `[name, n, n²]` to the sink, forever.
async fn worker(
    name: &'static str,
    tasks: PullSocket,
    results: PushSocket,
) -> Result<Infallible, Box<dyn Error>> {
    loop {
        let task = tasks.recv().await?;
        let n: u64 = String::from_utf8_lossy(&task[0]).parse()?;
        let result = Message::from(name)
            .with(n.to_string())
            .with((n * n).to_string());
        results.send(result).await?;
    }
}
