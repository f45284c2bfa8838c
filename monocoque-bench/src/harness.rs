//! The parent's side of one measurement: two child processes (this same binary, `child ...`),
//! their stdout read line by line, their CPU time taken from `wait4`, every wait bounded.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::spec::{Config, Kind, Lib, Role, Transport};

/// One row of the table: what is measured, with which counts, pinned or not.
#[derive(Debug, Clone)]
pub struct Row {
    pub kind: Kind,
    pub transport: Transport,
    pub size: usize,
    pub count: u64,
    pub warmup: u64,
    pub peers: usize,
    pub hwm: Option<u32>,
    pub pinned: bool,
    /// CURVE on the connection (thr and lat rows over tcp); the label starts with `curve `.
    pub curve: bool,
}

pub fn size_label(size: usize) -> String {
    if size >= 1 << 20 && size.is_multiple_of(1 << 20) {
        format!("{} MiB", size >> 20)
    } else if size >= 1024 && size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

impl Row {
    pub fn label(&self) -> String {
        let label = self.plain_label();
        if self.curve {
            format!("curve {label}")
        } else {
            label
        }
    }

    fn plain_label(&self) -> String {
        match self.kind {
            Kind::Thr => format!(
                "push/pull {} {}{}",
                size_label(self.size),
                self.transport,
                if self.pinned { " pin" } else { "" }
            ),
            Kind::Lat => format!(
                "req/rep {} {}{}",
                size_label(self.size),
                self.transport,
                if self.pinned { "" } else { " unpin" }
            ),
            Kind::Fanout => format!(
                "pub/sub x{} hwm {}",
                self.peers,
                match self.hwm {
                    Some(h) if h >= 1_000_000 && h % 1_000_000 == 0 =>
                        format!("{}M", h / 1_000_000),
                    Some(h) if h >= 1000 && h % 1000 == 0 => format!("{}k", h / 1000),
                    Some(h) => h.to_string(),
                    None => "default".to_owned(),
                }
            ),
            Kind::Router => format!("dealer/router x{}", self.peers),
            Kind::Proxy => format!(
                "router/dealer proxy {} {}",
                size_label(self.size),
                self.transport
            ),
        }
    }

    /// Whether one process does it all (its own threads): the inproc and proxy rows.
    pub fn single_process(&self) -> bool {
        self.transport == Transport::Inproc || self.kind == Kind::Proxy
    }

    pub fn config(&self, lib: Lib, role: Role, endpoint: String) -> Config {
        Config {
            lib,
            role,
            kind: self.kind,
            transport: self.transport,
            size: self.size,
            count: self.count,
            warmup: self.warmup,
            peers: self.peers,
            hwm: self.hwm,
            endpoint,
            curve: self.curve,
        }
    }
}

/// The figures of one measurement, by name (`msgs_per_s`, `p50_us`, `cpu_send`, ...).
pub type Sample = HashMap<&'static str, f64>;

/// Command prefixes to run each side under (profiling): `valgrind --tool=callgrind ...`.
#[derive(Debug, Clone, Default)]
pub struct Wrap {
    pub server: Vec<String>,
    pub client: Vec<String>,
}

/// Runs one measurement of `row` with `lib`, killing both processes if it takes longer than
/// `timeout`.
pub fn measure(
    exe: &Path,
    row: &Row,
    lib: Lib,
    timeout: Duration,
    wrap: &Wrap,
) -> Result<Sample, String> {
    let deadline = Instant::now() + timeout;
    let ipc_path = ipc_path();
    let bind = match row.transport {
        Transport::Tcp => "tcp://127.0.0.1:0".to_owned(),
        Transport::Ipc => format!("ipc://{}", ipc_path.display()),
        Transport::Inproc => "inproc://monocoque-bench".to_owned(),
    };
    let result = (|| -> Result<Sample, String> {
        let server_config = row.config(lib, Role::Server, bind);
        let mut server = Child::spawn(exe, "server", row.pinned, &wrap.server, &server_config)?;
        let endpoint = server.expect("endpoint", deadline)?;
        if row.single_process() {
            let fields = parse_result(&server.expect("result", deadline)?)?;
            server.close_stdin();
            let grace = deadline.max(Instant::now() + Duration::from_secs(10));
            // Both sides' CPU time is the one process's, counted as the receiver's.
            let cpu = server.wait(grace)?;
            return figures(row, &fields, cpu, 0.0);
        }
        let client_config = row.config(lib, Role::Client, endpoint);
        let mut client = Child::spawn(exe, "client", row.pinned, &wrap.client, &client_config)?;
        let mut fields = HashMap::new();
        match row.kind {
            Kind::Thr => fields.extend(parse_result(&server.expect("result", deadline)?)?),
            Kind::Lat => fields.extend(parse_result(&client.expect("result", deadline)?)?),
            Kind::Fanout => {
                client.expect("ready", deadline)?;
                server.say("go");
                fields.extend(parse_result(&client.expect("result", deadline)?)?);
            }
            Kind::Router => {
                fields.extend(parse_result(&server.expect("result", deadline)?)?);
                fields.extend(parse_result(&client.expect("result", deadline)?)?);
            }
            Kind::Proxy => unreachable!("one process"),
        }
        // Both sides exit once their stdin closes; their CPU time comes with their exit.
        server.close_stdin();
        client.close_stdin();
        let grace = deadline.max(Instant::now() + Duration::from_secs(10));
        let server_cpu = server.wait(grace)?;
        let client_cpu = client.wait(grace)?;
        figures(row, &fields, server_cpu, client_cpu)
    })();
    let _ = std::fs::remove_file(&ipc_path);
    result
}

/// Turns the children's raw fields into the row's figures.
fn figures(
    row: &Row,
    f: &HashMap<String, f64>,
    server_cpu: f64,
    client_cpu: f64,
) -> Result<Sample, String> {
    let get = |k: &str| {
        f.get(k)
            .copied()
            .ok_or_else(|| format!("missing field {k} in the result"))
    };
    let mut s = Sample::new();
    let per_million = |cpu: f64, n: f64| cpu / n.max(1.0) * 1e6;
    match row.kind {
        Kind::Thr | Kind::Proxy => {
            let secs = (get("elapsed_ns")? / 1e9).max(1e-9);
            let rate = (get("msgs")? - 1.0) / secs;
            s.insert("msgs_per_s", rate);
            s.insert("mb_per_s", rate * row.size as f64 / 1e6);
            s.insert("cpu_send", per_million(client_cpu, row.count as f64));
            s.insert("cpu_recv", per_million(server_cpu, row.count as f64));
        }
        Kind::Lat => {
            s.insert("p50_us", get("p50_ns")? / 1e3);
            s.insert("p99_us", get("p99_ns")? / 1e3);
            s.insert("p999_us", get("p999_ns")? / 1e3);
            s.insert("mean_us", get("mean_ns")? / 1e3);
            let trips = (row.count + row.warmup) as f64;
            s.insert("cpu_send", per_million(client_cpu, trips));
            s.insert("cpu_recv", per_million(server_cpu, trips));
        }
        Kind::Fanout => {
            let delivered = get("delivered")?;
            let expected = get("expected")?.max(1.0);
            let secs = (get("fan_elapsed_ns")? / 1e9).max(1e-9);
            s.insert("delivered_per_s", delivered / secs);
            s.insert("loss_pct", (1.0 - delivered / expected).max(0.0) * 100.0);
            s.insert("cpu_send", per_million(server_cpu, row.count as f64));
            s.insert("cpu_recv", per_million(client_cpu, delivered));
        }
        Kind::Router => {
            let secs = (get("router_elapsed_ns")? / 1e9).max(1e-9);
            s.insert("req_per_s", get("requests")? / secs);
            let grown = get("rss_after")? - get("rss_before")?;
            s.insert("kib_per_conn", grown / row.peers as f64 / 1024.0);
        }
    }
    Ok(s)
}

fn parse_result(line: &str) -> Result<HashMap<String, f64>, String> {
    line.split_whitespace()
        .map(|field| {
            let (k, v) = field
                .split_once('=')
                .ok_or_else(|| format!("bad result field {field:?}"))?;
            let v: f64 = v.parse().map_err(|_| format!("bad value in {field:?}"))?;
            Ok((k.to_owned(), v))
        })
        .collect()
}

/// A socket file unique to this measurement.
fn ipc_path() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("monocoque-bench-{}-{n}.sock", std::process::id()))
}

/// One child process running one side.
struct Child {
    pid: libc::pid_t,
    role: &'static str,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    /// The last few KiB of its stderr, to explain a failure.
    stderr: Arc<Mutex<String>>,
    /// Set once reaped: CPU seconds (user + system).
    reaped: Option<Result<f64, String>>,
}

impl Child {
    fn spawn(
        exe: &Path,
        role: &'static str,
        pinned: bool,
        wrap: &[String],
        config: &Config,
    ) -> Result<Self, String> {
        let mut argv: Vec<String> = Vec::new();
        if pinned {
            argv.extend(["taskset".into(), "-c".into(), "0".into()]);
        }
        argv.extend(wrap.iter().cloned());
        argv.push(exe.display().to_string());
        argv.push("child".into());
        argv.extend(config.to_args());
        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start the {role} ({}): {e}", argv[0]))?;
        let stdout = child.stdout.take().ok_or("child without stdout")?;
        let stderr_pipe = child.stderr.take().ok_or("child without stderr")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut pipe = stderr_pipe;
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
                if s.len() > 8192 {
                    let cut = s.len() - 4096;
                    let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                    s.drain(..cut);
                }
            }
        });
        let pid = child.id() as libc::pid_t;
        let stdin = child.stdin.take();
        // From here on the process is ours to reap with wait4 (for its rusage), not std's.
        std::mem::forget(child);
        Ok(Self {
            pid,
            role,
            stdin,
            lines,
            stderr,
            reaped: None,
        })
    }

    fn stderr_tail(&self) -> String {
        let s = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let tail: Vec<&str> = s.lines().rev().take(6).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        if tail.is_empty() {
            String::new()
        } else {
            format!(" [{} stderr: {}]", self.role, tail.join(" | "))
        }
    }

    /// Waits for the line `key ...` and returns what follows the key.
    fn expect(&mut self, key: &str, deadline: Instant) -> Result<String, String> {
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(wait) {
                Ok(line) => {
                    if line == key {
                        return Ok(String::new());
                    }
                    if let Some(rest) = line.strip_prefix(key).and_then(|r| r.strip_prefix(' ')) {
                        return Ok(rest.to_owned());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "timeout: no `{key}` from the {} within the limit (killed){}",
                        self.role,
                        self.stderr_tail()
                    ));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.wait(Instant::now() + Duration::from_secs(5));
                    // Give the stderr reader a moment to catch the last words.
                    std::thread::sleep(Duration::from_millis(50));
                    return Err(format!(
                        "the {} exited ({}) before `{key}`{}",
                        self.role,
                        match status {
                            Ok(_) => "status 0".to_owned(),
                            Err(e) => e,
                        },
                        self.stderr_tail()
                    ));
                }
            }
        }
    }

    fn say(&mut self, line: &str) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = writeln!(stdin, "{line}");
            let _ = stdin.flush();
        }
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Reaps the process (killing it at the deadline) and returns its CPU seconds.
    fn wait(&mut self, deadline: Instant) -> Result<f64, String> {
        if let Some(result) = &self.reaped {
            return result.clone();
        }
        loop {
            let mut status = 0;
            // SAFETY: plain syscall on our own child; rusage is a plain C struct.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            let r = unsafe { libc::wait4(self.pid, &mut status, libc::WNOHANG, &mut usage) };
            if r == self.pid {
                let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
                let cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
                let result = if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
                    Ok(cpu)
                } else if libc::WIFEXITED(status) {
                    Err(format!(
                        "the {} exited with status {}{}",
                        self.role,
                        libc::WEXITSTATUS(status),
                        self.stderr_tail()
                    ))
                } else {
                    Err(format!(
                        "the {} was killed by signal {}{}",
                        self.role,
                        libc::WTERMSIG(status),
                        self.stderr_tail()
                    ))
                };
                self.reaped = Some(result.clone());
                return result;
            }
            if r < 0 {
                let result = Err(format!("wait4 on the {} failed", self.role));
                self.reaped = Some(result.clone());
                return result;
            }
            if Instant::now() >= deadline {
                self.kill();
                let result = Err(format!(
                    "timeout: the {} did not exit within the limit (killed){}",
                    self.role,
                    self.stderr_tail()
                ));
                self.reaped = Some(result.clone());
                return result;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn kill(&mut self) {
        if self.reaped.is_none() {
            // SAFETY: signalling and reaping our own, not yet reaped, child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                let mut status = 0;
                libc::waitpid(self.pid, &mut status, 0);
            }
            self.reaped = Some(Err("killed".into()));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}
