//! monocoque against libzmq (4.3.4, through the `zmq` crate), in the same run, two processes per
//! measurement: PUSH/PULL throughput and REQ/REP round-trip latency over TCP and IPC.
//!
//! The whole table (what `scripts/bench.sh` runs; a few minutes on two cores):
//!
//! ```text
//! cargo bench -p monocoque --bench compare
//! cargo bench -p monocoque --bench compare -- table rounds=5 filter=ipc
//! PIN=1 cargo bench -p monocoque --bench compare     # latency rows pinned to CPU 0
//! ```
//!
//! One measurement, e.g. to look at a single row:
//!
//! ```text
//! cargo bench -p monocoque --bench compare -- run lib=zmq kind=thr transport=ipc size=1024 count=500000
//! ```
//!
//! How a measurement works, the same for both libraries (and the same shape as libzmq's
//! `local_thr`/`remote_thr` and `local_lat`/`remote_lat`): this binary starts itself twice, a
//! server that binds (PULL, or REP echoing each request) and a client that connects (PUSH
//! sending `count` messages of `size` bytes, or REQ doing `count` round trips after a warm-up).
//! Throughput is timed by the PULL, from the first message to the last; latency by the REQ, over
//! the timed round trips. Each library is used through its ordinary API: monocoque's async
//! sockets on a compio runtime, libzmq's blocking sockets with their background I/O thread.
//!
//! Every row runs `rounds` times (3 by default); within a round both libraries run, in an order
//! that alternates from round to round, and the table shows each library's median and the ratio
//! monocoque/libzmq. Nothing here asserts a time: the numbers are for reading, and on a small,
//! shared machine they are noisy, which is why ratios of medians are the figure to look at.

use std::error::Error;
use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use monocoque::{Message, PullSocket, PushSocket, RepSocket, ReqSocket};

type BoxError = Box<dyn Error>;

/// The rows of the table. Counts are fixed (the same for both libraries) and sized so that one
/// measurement takes about one to two seconds on the two-vCPU machine the baseline was taken on.
const ROWS: [Row; 8] = [
    Row::new(Kind::Throughput, Transport::Tcp, 64, 4_000_000),
    Row::new(Kind::Throughput, Transport::Tcp, 1024, 2_000_000),
    Row::new(Kind::Throughput, Transport::Tcp, 65536, 100_000),
    Row::new(Kind::Throughput, Transport::Ipc, 64, 4_000_000),
    Row::new(Kind::Throughput, Transport::Ipc, 1024, 2_000_000),
    Row::new(Kind::Throughput, Transport::Ipc, 65536, 100_000),
    Row::new(Kind::Latency, Transport::Tcp, 64, 100_000),
    Row::new(Kind::Latency, Transport::Ipc, 64, 100_000),
];

/// The longest one measurement may take before its processes are killed and it counts as failed.
const MEASUREMENT_TIMEOUT: Duration = Duration::from_secs(120);

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary with no
    // argument at all, and gets a smoke test (every row once, tiny counts) rather than minutes
    // of unoptimized measurements. Other flags are cargo's or criterion's, and ignored.
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let benching = raw.iter().any(|a| a == "--bench");
    let args: Vec<String> = raw.into_iter().filter(|a| !a.starts_with("--")).collect();
    let result = match args.first().map(String::as_str) {
        None if !benching => table(&["rounds=1".to_owned(), "scale=0.0001".to_owned()]),
        None => table(&[]),
        Some("table") => table(&args[1..]),
        Some("run") => single(&args[1..]),
        Some("server") => Config::parse(&args[1..]).and_then(|c| role(&c, Role::Server)),
        Some("client") => Config::parse(&args[1..]).and_then(|c| role(&c, Role::Client)),
        Some(other) => Err(format!("unknown command {other:?}: expected table, run").into()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("compare: {error}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

/// Runs every row (or those matching `filter=`), `rounds=` times each, and prints the table.
/// Returns `false` if any measurement failed.
fn table(args: &[String]) -> Result<bool, BoxError> {
    let mut rounds = 3;
    let mut filter = String::new();
    let mut scale = 1.0;
    for arg in args {
        match arg.split_once('=') {
            Some(("rounds", n)) => rounds = n.parse()?,
            Some(("filter", f)) => f.clone_into(&mut filter),
            Some(("scale", s)) => scale = s.parse()?,
            _ => return Err(format!("unknown argument {arg:?}: rounds=N filter=S scale=F").into()),
        }
    }
    let pin = pin_requested();
    print_environment(rounds, pin, scale);

    let exe = std::env::current_exe()?;
    let rows: Vec<Row> = ROWS
        .iter()
        .filter(|row| row.label().contains(&filter))
        .map(|row| row.scaled(scale))
        .collect();
    let mut results = Vec::new();
    let started = Instant::now();
    for row in &rows {
        let mut samples = [Vec::new(), Vec::new()];
        for round in 0..rounds {
            // Alternate which library goes first, so neither always runs on a warmer (or more
            // throttled) machine.
            let order = if round % 2 == 0 {
                [Lib::Monocoque, Lib::Zmq]
            } else {
                [Lib::Zmq, Lib::Monocoque]
            };
            for lib in order {
                let config = row.config(lib, pin && row.kind == Kind::Latency);
                let sample = measure(&exe, &config);
                match &sample {
                    Ok(value) => eprintln!(
                        "  {:<24} {lib:<9} round {}: {}",
                        row.label(),
                        round + 1,
                        row.kind.format(*value)
                    ),
                    Err(error) => eprintln!(
                        "  {:<24} {lib:<9} round {}: FAILED: {error}",
                        row.label(),
                        round + 1
                    ),
                }
                samples[lib as usize].push(sample);
            }
        }
        results.push((row, samples));
    }
    eprintln!(
        "all measurements took {:.0} s",
        started.elapsed().as_secs_f64()
    );

    println!();
    println!(
        "{:<24} {:>26} {:>26} {:>9}  faster",
        "row", "monocoque (median)", "libzmq (median)", "mono/zmq"
    );
    let mut all_ok = true;
    for (row, samples) in &results {
        let [mono, zmq] = samples.each_ref().map(|s| median(s));
        all_ok &= mono.is_some() && zmq.is_some();
        let cell = |v: Option<f64>| v.map_or_else(|| "failed".to_owned(), |v| row.kind.format(v));
        let (ratio, faster) = match (mono, zmq) {
            (Some(m), Some(z)) => (format!("{:.2}", m / z), row.kind.faster(m, z)),
            _ => ("-".to_owned(), "-"),
        };
        println!(
            "{:<24} {:>26} {:>26} {:>9}  {faster}",
            row.label(),
            cell(mono),
            cell(zmq),
            ratio
        );
    }
    println!();
    println!(
        "mono/zmq is monocoque's median over libzmq's: above 1 means monocoque has more \
         throughput (thr rows) or a longer round trip (lat rows)."
    );
    println!("every round ({rounds} per library per row, in round order):");
    for (row, samples) in &results {
        for lib in [Lib::Monocoque, Lib::Zmq] {
            let values: Vec<String> = samples[lib as usize]
                .iter()
                .map(|s| {
                    s.as_ref()
                        .map_or_else(|_| "failed".to_owned(), |v| row.kind.format_short(*v))
                })
                .collect();
            println!("  {:<24} {lib:<9} {}", row.label(), values.join("  "));
        }
    }
    Ok(all_ok)
}

/// `run key=value...`: one measurement, printed.
fn single(args: &[String]) -> Result<bool, BoxError> {
    let mut config = Config::parse(args)?;
    config.pinned = config.pinned || pin_requested();
    let exe = std::env::current_exe()?;
    let value = measure(&exe, &config)?;
    println!(
        "{} {} {} B {}: {} ({} messages{})",
        config.lib,
        config.kind.name(),
        config.size,
        config.transport,
        config.kind.format(value),
        config.count,
        if config.pinned {
            ", pinned to CPU 0"
        } else {
            ""
        },
    );
    Ok(true)
}

fn pin_requested() -> bool {
    std::env::var("PIN").is_ok_and(|v| v == "1")
}

fn print_environment(rounds: usize, pin: bool, scale: f64) {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_owned(), |k| k.trim().to_owned());
    let (major, minor, patch) = zmq::version();
    println!(
        "monocoque vs libzmq {major}.{minor}.{patch} (zmq crate), two processes per measurement"
    );
    println!("machine: {cpus} CPUs available, {model}, Linux {kernel}");
    println!(
        "rounds: {rounds} per library per row, order alternating; table shows medians{}",
        if scale == 1.0 {
            String::new()
        } else {
            format!("; message counts scaled by {scale}")
        }
    );
    if scale < 0.01 {
        println!("smoke test (what `cargo test` runs): tiny counts, the figures mean nothing");
    }
    if pin {
        println!(
            "pinning: latency rows run both processes on CPU 0 (taskset -c 0); throughput rows unpinned"
        );
    } else {
        println!("pinning: none, processes float over all CPUs (PIN=1 pins latency rows to CPU 0)");
    }
    let _ = std::io::stdout().flush();
}

/// The median of the successful samples, or `None` if any failed.
fn median(samples: &[Result<f64, BoxError>]) -> Option<f64> {
    let mut values: Vec<f64> = samples
        .iter()
        .map(|s| s.as_ref().ok().copied())
        .collect::<Option<_>>()?;
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

// ---------------------------------------------------------------------------------------------
// One measurement: two child processes
// ---------------------------------------------------------------------------------------------

/// Starts the server, then the client with the server's real endpoint, and returns the row's
/// figure (messages per second, or microseconds per round trip).
fn measure(exe: &Path, config: &Config) -> Result<f64, BoxError> {
    let deadline = Instant::now() + MEASUREMENT_TIMEOUT;
    let ipc_path = ipc_path();
    let bind = match config.transport {
        Transport::Tcp => "tcp://127.0.0.1:0".to_owned(),
        Transport::Ipc => format!("ipc://{}", ipc_path.display()),
    };
    let mut server = Process::start(exe, "server", config, &bind)?;
    let outcome = (|| {
        let endpoint = server.line("endpoint", deadline)?;
        let mut client = Process::start(exe, "client", config, &endpoint)?;
        let elapsed = match config.kind {
            Kind::Throughput => server.line("elapsed_ns", deadline),
            Kind::Latency => client.line("elapsed_ns", deadline),
        };
        let client_ok = client.finish(deadline);
        let elapsed: u64 = elapsed?.parse()?;
        client_ok?;
        Ok::<_, BoxError>(Duration::from_nanos(elapsed))
    })();
    let server_ok = server.finish(deadline);
    let _ = std::fs::remove_file(&ipc_path);
    let elapsed = outcome?;
    server_ok?;
    let secs = elapsed.as_secs_f64().max(1e-9);
    Ok(match config.kind {
        // The clock starts at the first message, so it covers count - 1 messages.
        Kind::Throughput => (config.count - 1) as f64 / secs,
        Kind::Latency => secs * 1e6 / config.count as f64,
    })
}

/// A socket file unique to this measurement.
fn ipc_path() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("monocoque-bench-{}-{n}.sock", std::process::id()))
}

/// A child process running one role, with its stdout read line by line on a thread (so that a
/// hung child cannot hang the table: every wait has a deadline).
struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
    role: &'static str,
}

impl Process {
    fn start(
        exe: &Path,
        role: &'static str,
        config: &Config,
        endpoint: &str,
    ) -> Result<Self, BoxError> {
        let mut command = if config.pinned {
            let mut c = Command::new("taskset");
            c.args(["-c", "0"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        command
            .arg(role)
            .args(config.to_args())
            .arg(format!("endpoint={endpoint}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().map_err(|e| {
            format!(
                "cannot start the {role}{}: {e}",
                if config.pinned { " under taskset" } else { "" }
            )
        })?;
        let stdout = child.stdout.take().ok_or("child without stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self { child, lines, role })
    }

    /// Waits for the line `key value` and returns the value.
    fn line(&mut self, key: &str, deadline: Instant) -> Result<String, BoxError> {
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(wait) {
                Ok(line) => {
                    if let Some(value) = line.strip_prefix(key).and_then(|v| v.strip_prefix(' ')) {
                        return Ok(value.to_owned());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!("the {} did not report {key} in time", self.role).into());
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!("the {} exited without reporting {key}", self.role).into());
                }
            }
        }
    }

    /// Waits for the process to exit successfully, killing it at the deadline.
    fn finish(&mut self, deadline: Instant) -> Result<(), BoxError> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                return if status.success() {
                    Ok(())
                } else {
                    Err(format!("the {} failed ({status})", self.role).into())
                };
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(
                    format!("the {} did not finish in time and was killed", self.role).into(),
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Only reached with the child still running after an error elsewhere.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The roles, run in the child processes
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Role {
    Server,
    Client,
}

/// Runs one side of a measurement. The server first prints `endpoint <bound endpoint>`; whoever
/// times prints `elapsed_ns <n>`.
fn role(config: &Config, role: Role) -> Result<bool, BoxError> {
    let elapsed = match config.lib {
        Lib::Monocoque => {
            compio::runtime::Runtime::new()?.block_on(monocoque_role(config, role))?
        }
        Lib::Zmq => zmq_role(config, role)?,
    };
    if let Some(elapsed) = elapsed {
        println!("elapsed_ns {}", elapsed.as_nanos());
    }
    Ok(true)
}

fn announce(endpoint: &str) {
    println!("endpoint {endpoint}");
    let _ = std::io::stdout().flush();
}

/// Checks that a received message is the one frame of `expected` bytes that was sent (the
/// bytes at both ends are looked at, so a message cannot arrive as a right-sized hole).
fn check(frames: &[&[u8]], expected: usize) -> Result<(), BoxError> {
    match frames {
        [body]
            if body.len() == expected
                && body.first().is_none_or(|b| *b == FILL)
                && body.last().is_none_or(|b| *b == FILL) =>
        {
            Ok(())
        }
        _ => {
            let lens: Vec<usize> = frames.iter().map(|f| f.len()).collect();
            Err(format!("received frames of {lens:?} bytes, expected one of {expected} filled with {FILL:#x}").into())
        }
    }
}

/// The byte every payload is filled with.
const FILL: u8 = 0x5a;

fn check_message(message: &Message, expected: usize) -> Result<(), BoxError> {
    match message.frames() {
        [body] => check(&[body], expected),
        frames => check(&frames.iter().map(|f| &f[..]).collect::<Vec<_>>(), expected),
    }
}

async fn monocoque_role(config: &Config, role: Role) -> Result<Option<Duration>, BoxError> {
    let payload = Bytes::from(vec![FILL; config.size]);
    match (config.kind, role) {
        (Kind::Throughput, Role::Server) => {
            let pull = PullSocket::new();
            announce(&pull.bind(&config.endpoint).await?.to_string());
            check_message(&pull.recv().await?, config.size)?;
            let start = Instant::now();
            for _ in 1..config.count {
                check_message(&pull.recv().await?, config.size)?;
            }
            Ok(Some(start.elapsed()))
        }
        (Kind::Throughput, Role::Client) => {
            let push = PushSocket::new();
            push.connect(&config.endpoint)?;
            for _ in 0..config.count {
                push.send(payload.clone()).await?;
            }
            push.close().await;
            Ok(None)
        }
        (Kind::Latency, Role::Server) => {
            let rep = RepSocket::new();
            announce(&rep.bind(&config.endpoint).await?.to_string());
            for _ in 0..config.warmup + config.count {
                let request = rep.recv().await?;
                rep.send(request).await?;
            }
            rep.close().await;
            Ok(None)
        }
        (Kind::Latency, Role::Client) => {
            let req = ReqSocket::new();
            req.connect(&config.endpoint)?;
            let mut start = Instant::now();
            for i in 0..config.warmup + config.count {
                if i == config.warmup {
                    start = Instant::now();
                }
                req.send(payload.clone()).await?;
                check_message(&req.recv().await?, config.size)?;
            }
            Ok(Some(start.elapsed()))
        }
    }
}

fn zmq_role(config: &Config, role: Role) -> Result<Option<Duration>, BoxError> {
    let context = zmq::Context::new();
    let payload = vec![FILL; config.size];
    // libzmq spells "any port" as `*`.
    let endpoint = match config.endpoint.strip_suffix(":0") {
        Some(host) if config.transport == Transport::Tcp => format!("{host}:*"),
        _ => config.endpoint.clone(),
    };
    let bind = |kind| -> Result<zmq::Socket, BoxError> {
        let socket = context.socket(kind)?;
        socket.bind(&endpoint)?;
        let bound = socket
            .get_last_endpoint()?
            .map_err(|_| "libzmq returned a non-UTF-8 endpoint")?;
        announce(&bound);
        Ok(socket)
    };
    let connect = |kind| -> Result<zmq::Socket, BoxError> {
        let socket = context.socket(kind)?;
        // Wait for queued messages at close, like monocoque's `close`.
        socket.set_linger(-1)?;
        socket.connect(&endpoint)?;
        Ok(socket)
    };
    let mut message = zmq::Message::new();
    let elapsed = match (config.kind, role) {
        (Kind::Throughput, Role::Server) => {
            let pull = bind(zmq::PULL)?;
            pull.recv(&mut message, 0)?;
            check(&[&message], config.size)?;
            let start = Instant::now();
            for _ in 1..config.count {
                pull.recv(&mut message, 0)?;
                check(&[&message], config.size)?;
            }
            Some(start.elapsed())
        }
        (Kind::Throughput, Role::Client) => {
            let push = connect(zmq::PUSH)?;
            for _ in 0..config.count {
                push.send(&payload[..], 0)?;
            }
            None
        }
        (Kind::Latency, Role::Server) => {
            let rep = bind(zmq::REP)?;
            for _ in 0..config.warmup + config.count {
                rep.recv(&mut message, 0)?;
                // Send the received message itself back, without a copy (as local_lat does).
                rep.send(std::mem::replace(&mut message, zmq::Message::new()), 0)?;
            }
            None
        }
        (Kind::Latency, Role::Client) => {
            let req = connect(zmq::REQ)?;
            let mut start = Instant::now();
            for i in 0..config.warmup + config.count {
                if i == config.warmup {
                    start = Instant::now();
                }
                req.send(&payload[..], 0)?;
                req.recv(&mut message, 0)?;
                check(&[&message], config.size)?;
            }
            Some(start.elapsed())
        }
    };
    // Dropping the sockets and then the context (which waits for the linger) flushes what is
    // queued before the process exits.
    Ok(elapsed)
}

// ---------------------------------------------------------------------------------------------
// Rows and configurations
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lib {
    Monocoque = 0,
    Zmq = 1,
}

impl fmt::Display for Lib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Monocoque => "monocoque",
            Self::Zmq => "libzmq",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// PUSH/PULL, messages per second.
    Throughput,
    /// REQ/REP, microseconds per round trip.
    Latency,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Throughput => "thr",
            Self::Latency => "lat",
        }
    }

    fn format(self, value: f64) -> String {
        match self {
            Self::Throughput => format!("{:.0} msg/s", value),
            Self::Latency => format!("{value:.1} us/round trip"),
        }
    }

    fn format_short(self, value: f64) -> String {
        match self {
            Self::Throughput => format!("{:.0}", value),
            Self::Latency => format!("{value:.1}us"),
        }
    }

    /// Which library did better, or `~` within 5 %.
    fn faster(self, mono: f64, zmq: f64) -> &'static str {
        let ratio = mono / zmq;
        let mono_better = match self {
            Self::Throughput => ratio > 1.0,
            Self::Latency => ratio < 1.0,
        };
        if (ratio - 1.0).abs() < 0.05 {
            "~ same"
        } else if mono_better {
            "monocoque"
        } else {
            "libzmq"
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tcp,
    Ipc,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Tcp => "tcp",
            Self::Ipc => "ipc",
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Row {
    kind: Kind,
    transport: Transport,
    size: usize,
    count: u64,
}

impl Row {
    const fn new(kind: Kind, transport: Transport, size: usize, count: u64) -> Self {
        Self {
            kind,
            transport,
            size,
            count,
        }
    }

    fn label(&self) -> String {
        let pattern = match self.kind {
            Kind::Throughput => "push/pull thr",
            Kind::Latency => "req/rep lat",
        };
        let size = if self.size >= 1024 && self.size % 1024 == 0 {
            format!("{} KiB", self.size / 1024)
        } else {
            format!("{} B", self.size)
        };
        format!("{pattern} {size} {}", self.transport)
    }

    fn scaled(&self, scale: f64) -> Self {
        let count = ((self.count as f64 * scale) as u64).max(100);
        Self { count, ..*self }
    }

    fn config(&self, lib: Lib, pinned: bool) -> Config {
        Config {
            lib,
            kind: self.kind,
            transport: self.transport,
            size: self.size,
            count: self.count,
            warmup: warmup(self.kind, self.count),
            pinned,
            endpoint: String::new(),
        }
    }
}

/// Latency rows start with untimed round trips (connection set-up, cold caches); throughput rows
/// need none, as their clock starts at the first message.
fn warmup(kind: Kind, count: u64) -> u64 {
    match kind {
        Kind::Throughput => 0,
        Kind::Latency => (count / 10).clamp(1, 1000),
    }
}

/// Everything a child process needs, passed as `key=value` arguments.
#[derive(Debug, Clone)]
struct Config {
    lib: Lib,
    kind: Kind,
    transport: Transport,
    size: usize,
    count: u64,
    warmup: u64,
    pinned: bool,
    endpoint: String,
}

impl Config {
    fn parse(args: &[String]) -> Result<Self, BoxError> {
        let mut lib = None;
        let mut kind = None;
        let mut transport = None;
        let mut size = 64;
        let mut count = None;
        let mut warmup_count = None;
        let mut pinned = false;
        let mut endpoint = String::new();
        for arg in args {
            let (key, value) = arg
                .split_once('=')
                .ok_or_else(|| format!("expected key=value, got {arg:?}"))?;
            match key {
                "lib" => {
                    lib = Some(match value {
                        "monocoque" | "mono" => Lib::Monocoque,
                        "zmq" | "libzmq" => Lib::Zmq,
                        _ => return Err(format!("lib={value}: expected monocoque or zmq").into()),
                    })
                }
                "kind" => {
                    kind = Some(match value {
                        "thr" => Kind::Throughput,
                        "lat" => Kind::Latency,
                        _ => return Err(format!("kind={value}: expected thr or lat").into()),
                    })
                }
                "transport" => {
                    transport = Some(match value {
                        "tcp" => Transport::Tcp,
                        "ipc" => Transport::Ipc,
                        _ => return Err(format!("transport={value}: expected tcp or ipc").into()),
                    })
                }
                "size" => size = value.parse()?,
                "count" => count = Some(value.parse::<u64>()?.max(2)),
                "warmup" => warmup_count = Some(value.parse()?),
                "pinned" => pinned = value == "1",
                "endpoint" => value.clone_into(&mut endpoint),
                _ => return Err(format!("unknown argument {key:?}").into()),
            }
        }
        let kind = kind.ok_or("missing kind=thr|lat")?;
        let count = count.unwrap_or(match kind {
            Kind::Throughput => 100_000,
            Kind::Latency => 10_000,
        });
        Ok(Self {
            lib: lib.ok_or("missing lib=monocoque|zmq")?,
            kind,
            transport: transport.ok_or("missing transport=tcp|ipc")?,
            size,
            count,
            warmup: warmup_count.unwrap_or_else(|| warmup(kind, count)),
            pinned,
            endpoint,
        })
    }

    /// The arguments that give this configuration to a child (the endpoint is added apart).
    fn to_args(&self) -> Vec<String> {
        vec![
            format!(
                "lib={}",
                if self.lib == Lib::Monocoque {
                    "monocoque"
                } else {
                    "zmq"
                }
            ),
            format!("kind={}", self.kind.name()),
            format!("transport={}", self.transport),
            format!("size={}", self.size),
            format!("count={}", self.count),
            format!("warmup={}", self.warmup),
        ]
    }
}
