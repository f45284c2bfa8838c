//! What every child process shares, whatever library it drives: the line protocol to the parent,
//! the control flags the parent sets through stdin, payload checks, latency histograms and RSS.

use std::future::Future;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use monocoque::curve::{CurveKeyPair, CurveSecretKey};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The byte every payload is filled with.
pub const FILL: u8 = 0x5a;
/// A PUB sends this one-byte message until the subscribers are all there ("slow joiner").
pub const PROBE: &[u8] = b"P";
/// A PUB sends this one-byte message after its data, until the parent tells it to stop.
pub const END: &[u8] = b"E";
/// The first message of every DEALER in the ROUTER row, before the timed requests.
pub const HELLO: &[u8] = b"hello";

pub fn payload(size: usize) -> Vec<u8> {
    vec![FILL; size]
}

/// Checks that a received body is `expected` bytes of [`FILL`] (the bytes at both ends and in
/// the middle are looked at, so a message cannot arrive as a right-sized hole). Cheap.
pub fn check(body: &[u8], expected: usize) -> Result<(), BoxError> {
    let ok = body.len() == expected
        && body.first().is_none_or(|b| *b == FILL)
        && body.last().is_none_or(|b| *b == FILL)
        && body.get(expected / 2).is_none_or(|b| *b == FILL);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "received a body of {} bytes, expected {expected} bytes of {FILL:#x}",
            body.len()
        )
        .into())
    }
}

/// Checks that a message has exactly one frame and that frame passes [`check`].
pub fn check_frames<'a>(
    mut frames: impl ExactSizeIterator<Item = &'a [u8]>,
    expected: usize,
) -> Result<(), BoxError> {
    if frames.len() != 1 {
        return Err(format!("received {} frames, expected 1", frames.len()).into());
    }
    check(frames.next().unwrap_or_default(), expected)
}

/// What a subscriber got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    Probe,
    End,
    Data,
}

pub fn classify(body: &[u8], size: usize) -> Result<Published, BoxError> {
    if body == PROBE {
        Ok(Published::Probe)
    } else if body == END {
        Ok(Published::End)
    } else {
        check(body, size).map(|()| Published::Data)
    }
}

// ---------------------------------------------------------------------------------------------
// CURVE rows
// ---------------------------------------------------------------------------------------------

/// The server's and the client's secret keys (Z85) of the CURVE rows, fixed so that both
/// processes, whichever library drives them, agree without passing keys around: the example keys
/// of libzmq's zmq_curve(7) page. Benchmark keys, public on purpose; nothing to protect.
const CURVE_SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
const CURVE_CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

/// The CURVE rows' long-term keys: the server's and the client's, public keys derived from the
/// secret ones.
pub struct CurveKeys {
    pub server: CurveKeyPair,
    pub client: CurveKeyPair,
}

pub fn curve_keys() -> Result<CurveKeys, BoxError> {
    let pair = |secret: &str| -> Result<CurveKeyPair, BoxError> {
        let secret = CurveSecretKey::from_z85(secret).map_err(|e| format!("curve key: {e}"))?;
        Ok(CurveKeyPair::from_secret(secret))
    };
    Ok(CurveKeys {
        server: pair(CURVE_SERVER_SECRET)?,
        client: pair(CURVE_CLIENT_SECRET)?,
    })
}

// ---------------------------------------------------------------------------------------------
// Talking to the parent
// ---------------------------------------------------------------------------------------------

/// `endpoint <ep>`: the server is bound and the client may start.
pub fn announce(endpoint: &str) {
    println!("endpoint {endpoint}");
    let _ = std::io::stdout().flush();
}

/// `ready`: (fan-out) every subscriber is receiving.
pub fn ready() {
    println!("ready");
    let _ = std::io::stdout().flush();
}

/// `result k=v ...`: the figures of this side.
pub fn report(pairs: &[(&str, f64)]) {
    let fields: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("result {}", fields.join(" "));
    let _ = std::io::stdout().flush();
}

/// A one-way switch that threads and async tasks (on any executor) can wait for.
pub struct Flag {
    set: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
    lock: Mutex<()>,
    changed: Condvar,
}

impl Flag {
    const fn new() -> Self {
        Self {
            set: AtomicBool::new(false),
            wakers: Mutex::new(Vec::new()),
            lock: Mutex::new(()),
            changed: Condvar::new(),
        }
    }

    fn raise(&self) {
        self.set.store(true, Ordering::SeqCst);
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|e| e.into_inner()));
        for waker in wakers {
            waker.wake();
        }
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.changed.notify_all();
    }

    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::Relaxed)
    }

    pub fn wait_blocking(&self) {
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        while !self.set.load(Ordering::SeqCst) {
            guard = self.changed.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub fn wait(&'static self) -> impl Future<Output = ()> + Send + 'static {
        std::future::poll_fn(move |cx| {
            if self.set.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            self.wakers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(cx.waker().clone());
            if self.set.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}

/// Waits for [`QUIT`] by looking at it every 10 ms on a compio timer, rather than through a
/// waker from the stdin thread: under valgrind, compio sometimes misses that cross-thread wake-up
/// (the process then never exits), and a timer costs nothing measurable here.
pub async fn compio_wait_quit() {
    while !QUIT.is_set() {
        compio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Raised when the parent writes `go` (fan-out: start publishing).
pub static GO: Flag = Flag::new();
/// Raised when the parent closes stdin: the measurement is over, exit.
pub static QUIT: Flag = Flag::new();

/// Reads the parent's commands from stdin on a thread.
pub fn start_control() {
    std::thread::spawn(|| {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            match line {
                Ok(line) if line.trim() == "go" => GO.raise(),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        GO.raise();
        QUIT.raise();
    });
}

/// Ends the process at once, without running destructors: a library that would wait at close
/// for a peer that is already gone cannot hang the measurement. The parent reads this process's
/// CPU time after it is gone.
pub fn exit_now() -> ! {
    let _ = std::io::stdout().flush();
    std::process::exit(0)
}

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

/// Throughput receiver: `count - 1` messages between the first and the last.
pub fn report_thr(elapsed: Duration, count: u64) {
    report(&[
        ("elapsed_ns", elapsed.as_nanos() as f64),
        ("msgs", count as f64),
    ]);
}

/// Round-trip times, in nanoseconds.
pub struct Latencies {
    histogram: Histogram<u64>,
    started: Option<Instant>,
}

impl Latencies {
    pub fn new() -> Self {
        Self {
            // 1 ns to 100 s, three significant digits.
            histogram: Histogram::new_with_bounds(1, 100_000_000_000, 3)
                .expect("valid histogram bounds"),
            started: None,
        }
    }

    pub fn record(&mut self, round_trip: Duration) {
        self.started.get_or_insert_with(Instant::now);
        let ns = (round_trip.as_nanos() as u64).max(1);
        self.histogram.saturating_record(ns);
    }

    pub fn report(&self) {
        let h = &self.histogram;
        report(&[
            ("p50_ns", h.value_at_quantile(0.50) as f64),
            ("p99_ns", h.value_at_quantile(0.99) as f64),
            ("p999_ns", h.value_at_quantile(0.999) as f64),
            ("mean_ns", h.mean()),
            ("max_ns", h.max() as f64),
            ("samples", h.len() as f64),
        ]);
    }
}

/// One subscriber's view of a fan-out run.
#[derive(Debug, Default, Clone, Copy)]
pub struct SubStats {
    pub received: u64,
    pub first: Option<Instant>,
    pub end: Option<Instant>,
}

impl SubStats {
    /// Counts one message; returns `true` at the end marker.
    pub fn on_message(&mut self, kind: Published) -> bool {
        match kind {
            Published::Probe => false,
            Published::Data => {
                if self.received == 0 {
                    self.first = Some(Instant::now());
                }
                self.received += 1;
                false
            }
            Published::End => {
                self.end = Some(Instant::now());
                true
            }
        }
    }
}

/// Delivered messages per second over all subscribers, from the first data message any of them
/// got to the last end marker, and the share of messages lost.
pub fn report_fanout(stats: &[SubStats], published: u64) {
    let received: u64 = stats.iter().map(|s| s.received).sum();
    let first = stats.iter().filter_map(|s| s.first).min();
    let end = stats.iter().filter_map(|s| s.end).max();
    let elapsed = match (first, end) {
        (Some(first), Some(end)) => end.saturating_duration_since(first).as_secs_f64(),
        _ => 0.0,
    };
    let expected = published * stats.len() as u64;
    report(&[
        ("delivered", received as f64),
        ("expected", expected as f64),
        ("fan_elapsed_ns", elapsed * 1e9),
        (
            "min_received",
            stats.iter().map(|s| s.received).min().unwrap_or(0) as f64,
        ),
    ]);
}

/// The resident set of this process, in bytes.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let page = page_size();
    pages * page
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as u64 } else { 4096 }
}

/// Lets this process open the file descriptors the 1,000-peer row needs.
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Splits `tcp://host:port` / `ipc://path` into the parts single-connection libraries want.
pub enum Addr {
    Tcp(String),
    Ipc(String),
}

pub fn parse_endpoint(endpoint: &str) -> Result<Addr, BoxError> {
    if let Some(addr) = endpoint.strip_prefix("tcp://") {
        Ok(Addr::Tcp(addr.to_owned()))
    } else if let Some(path) = endpoint.strip_prefix("ipc://") {
        Ok(Addr::Ipc(path.to_owned()))
    } else {
        Err(format!("unsupported endpoint {endpoint:?}").into())
    }
}

/// A 1 ms pause between probes and end markers, for blocking code.
pub const TICK: Duration = Duration::from_millis(1);

#[cfg(test)]
mod tests {
    use super::*;

    /// The public keys zmq_curve(7) gives beside the secret ones.
    #[test]
    fn curve_keys_are_the_documented_pairs() {
        let keys = curve_keys().expect("valid keys");
        assert_eq!(
            keys.server.public.to_z85(),
            "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
        );
        assert_eq!(
            keys.client.public.to_z85(),
            "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
        );
    }
}
