//! `mq perf`: libzmq's perf tools (local_thr, remote_thr, local_lat, remote_lat), on compio
//! sockets, interoperable with libzmq's own and printing the same lines, plus a round-trip
//! histogram and a progress bar on a terminal.

use std::io::IsTerminal;
use std::time::Instant;

use bytes::Bytes;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use monocoque::{Error, Message, PullSocket, PushSocket, RepSocket, ReqSocket};

use crate::Failure;
use crate::args::{PerfArgs, PerfCommand, Side};

pub(crate) fn run(command: &PerfCommand) -> Result<(), Failure> {
    let runtime = compio::runtime::Runtime::new()
        .map_err(|e| Failure::failed(format!("start a runtime: {e}")))?;
    match command {
        PerfCommand::Thr(args) => {
            check(args)?;
            match args.side {
                Side::Local => runtime.block_on(local_thr(args)),
                Side::Remote => runtime.block_on(remote_thr(args)),
            }
        }
        PerfCommand::Lat(args) => {
            check(args)?;
            match args.side {
                Side::Local => runtime.block_on(local_lat(args)),
                Side::Remote => runtime.block_on(remote_lat(args)),
            }
        }
    }
}

fn check(args: &PerfArgs) -> Result<(), Failure> {
    if args.count == 0 {
        return Err(Failure::usage("the message count must be at least 1"));
    }
    Ok(())
}

/// A progress bar on stderr for `total` steps, or a hidden one when the output goes to a file or
/// a pipe (a script reads the report, not the bar).
fn progress(args: &PerfArgs, total: u64, what: &str) -> ProgressBar {
    if args.no_progress || !std::io::stdout().is_terminal() || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} {per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    bar
}

/// How often the progress bar is moved: often enough to see, rarely enough to cost nothing.
const PROGRESS_STEP: u64 = 4096;

fn failed(what: &str) -> impl Fn(Error) -> Failure + '_ {
    move |e| Failure::from_error(what, &e)
}

fn wrong_size(expected: usize, got: usize) -> Failure {
    Failure::failed(format!(
        "message of incorrect size received: {got} bytes, {expected} expected"
    ))
}

/// libzmq's local_thr: binds a PULL, starts the clock at the first message.
async fn local_thr(args: &PerfArgs) -> Result<(), Failure> {
    let pull = PullSocket::new();
    let bound = pull
        .bind(&args.endpoint)
        .await
        .map_err(failed(&format!("bind {}", args.endpoint)))?;
    // On stderr: stdout is libzmq's report, line for line.
    eprintln!("mq: bound {bound}");
    let bar = progress(args, args.count, "received");
    // As libzmq's: the clock starts when the first message is in.
    let first = pull
        .recv()
        .await
        .map_err(|e| failed("receive")(Error::Recv(e)))?;
    if first.byte_len() != args.size {
        return Err(wrong_size(args.size, first.byte_len()));
    }
    let started = Instant::now();
    let mut batch = Vec::with_capacity(256);
    let mut received = 1u64;
    while received < args.count {
        let room = (args.count - received).min(256) as usize;
        pull.recv_many(&mut batch, room)
            .await
            .map_err(|e| failed("receive")(Error::Recv(e)))?;
        for message in batch.drain(..) {
            if message.byte_len() != args.size {
                return Err(wrong_size(args.size, message.byte_len()));
            }
            received += 1;
        }
        if received % PROGRESS_STEP < room as u64 {
            bar.set_position(received);
        }
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let micros = (elapsed.as_micros() as f64).max(1.0);
    let throughput = args.count as f64 / micros * 1e6;
    let megabits = throughput * args.size as f64 * 8.0 / 1e6;
    println!("message size: {} [B]", args.size);
    println!("message count: {}", args.count);
    println!("mean throughput: {} [msg/s]", throughput as u64);
    println!("mean throughput: {megabits:.3} [Mb/s]");
    pull.close().await;
    Ok(())
}

/// libzmq's remote_thr: connects a PUSH, sends, and waits until everything is written.
async fn remote_thr(args: &PerfArgs) -> Result<(), Failure> {
    let push = PushSocket::new();
    push.connect(&args.endpoint)
        .map_err(failed(&format!("connect {}", args.endpoint)))?;
    let payload = Bytes::from(vec![0u8; args.size]);
    let bar = progress(args, args.count, "sent");
    for sent in 1..=args.count {
        push.send(Message::single(payload.clone()))
            .await
            .map_err(|e| failed("send")(Error::Send(e.kind)))?;
        if sent % PROGRESS_STEP == 0 {
            bar.set_position(sent);
        }
    }
    bar.finish_and_clear();
    push.close().await;
    Ok(())
}

/// libzmq's local_lat: binds a REP and sends each message back.
async fn local_lat(args: &PerfArgs) -> Result<(), Failure> {
    let rep = RepSocket::new();
    let bound = rep
        .bind(&args.endpoint)
        .await
        .map_err(failed(&format!("bind {}", args.endpoint)))?;
    // On stderr: stdout is libzmq's report, line for line.
    eprintln!("mq: bound {bound}");
    let bar = progress(args, args.count, "echoed");
    for done in 1..=args.count {
        let message = rep
            .recv()
            .await
            .map_err(|e| failed("receive")(Error::Recv(e)))?;
        if message.byte_len() != args.size {
            return Err(wrong_size(args.size, message.byte_len()));
        }
        rep.send(message)
            .await
            .map_err(|e| failed("send")(Error::Send(e.kind)))?;
        if done % PROGRESS_STEP == 0 {
            bar.set_position(done);
        }
    }
    bar.finish_and_clear();
    rep.close().await;
    Ok(())
}

/// libzmq's remote_lat: connects a REQ and times the round trips; the average is half a round
/// trip, as libzmq prints it; the histogram is of whole round trips.
async fn remote_lat(args: &PerfArgs) -> Result<(), Failure> {
    let req = ReqSocket::new();
    req.connect(&args.endpoint)
        .map_err(failed(&format!("connect {}", args.endpoint)))?;
    let payload = Bytes::from(vec![0u8; args.size]);
    // Nanoseconds, from 1 ns to an hour, three significant digits.
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)
        .map_err(|e| Failure::failed(format!("histogram: {e}")))?;
    let bar = progress(args, args.count, "round trips");
    let started = Instant::now();
    for done in 1..=args.count {
        let sent_at = Instant::now();
        req.send(Message::single(payload.clone()))
            .await
            .map_err(|e| failed("send")(Error::Send(e.kind)))?;
        let reply = req
            .recv()
            .await
            .map_err(|e| failed("receive")(Error::Recv(e)))?;
        histogram.saturating_record(sent_at.elapsed().as_nanos() as u64);
        if reply.byte_len() != args.size {
            return Err(wrong_size(args.size, reply.byte_len()));
        }
        if done % PROGRESS_STEP == 0 {
            bar.set_position(done);
        }
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let latency = elapsed.as_secs_f64() * 1e6 / (args.count as f64 * 2.0);
    println!("message size: {} [B]", args.size);
    println!("roundtrip count: {}", args.count);
    println!("average latency: {latency:.3} [us]");
    let us = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "round trip: min {:.1} p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1} [us]",
        histogram.min() as f64 / 1000.0,
        us(0.5),
        us(0.9),
        us(0.99),
        us(0.999),
        histogram.max() as f64 / 1000.0
    );
    req.close().await;
    Ok(())
}
