//! A real etcd server for the discovery tests, started and stopped by the tests themselves.
//!
//! [`Etcd::start`] runs one single-member etcd on loopback ports the kernel picks, with its data
//! and its log in a directory of its own, and returns once the server answers. The handle can
//! kill it, stop it, restart it on the same ports (with its data, or wiped) and read its
//! Prometheus metrics; dropping it kills the server and removes the directory. The etcd binary
//! comes from `scripts/etcd-env.sh`, which installs it when it is missing (once per test binary).
//!
//! Every wait is bounded: a server that does not answer within [`READY_WAIT`] fails the test with
//! its log, and one that does not stop within [`STOP_WAIT`] is killed.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The longest a server may take to answer after it is started (its first start, or a restart).
pub(crate) const READY_WAIT: Duration = Duration::from_secs(20);

/// The longest a stopped server may take to exit before it is killed.
pub(crate) const STOP_WAIT: Duration = Duration::from_secs(10);

/// How often a starting server is asked whether it is ready, and a stopping one whether it has
/// exited.
const POLL: Duration = Duration::from_millis(10);

/// How many times a start picks new ports after etcd found one of them taken (another process
/// may bind a port between the moment we release it and the moment etcd binds it).
const START_ATTEMPTS: usize = 5;

/// How long one step of an HTTP request to the server (connect, write, each read) may take. A
/// request made while etcd has bound its ports but does not serve them yet waits in the listen
/// queue and is answered once it does, so a readiness request rarely runs out of this time.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// The heartbeat interval and election timeout of the test servers, in milliseconds.
///
/// A single member elects itself one tick after it starts (etcd fast-forwards the election ticks
/// of a member without peers), so short ticks make starts and restarts quick. They also lower the
/// shortest lease etcd grants, 1.5 election timeouts rounded up to whole seconds: 1 s here,
/// against 2 s with the defaults (100 ms and 1000 ms), so that tests of lease expiry can use 1 s
/// leases. Without peers there is no election to lose, so short timeouts cost nothing but ticks.
const HEARTBEAT_MS: u32 = 10;
const ELECTION_MS: u32 = 100;

/// A single-member etcd server on loopback, with its data in a temporary directory.
#[derive(Debug)]
pub(crate) struct Etcd {
    binary: &'static Path,
    /// The member's name, unique on this machine: also its cluster token, so that no two test
    /// servers can ever take each other for peers.
    name: String,
    /// Holds `data/` (etcd's data directory) and `etcd.log` (its output, across restarts).
    dir: PathBuf,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
    /// How many times the server has been launched, for the log's headings.
    launches: usize,
    /// Whether a panic message has shown the log already (the drop shows it otherwise).
    log_shown: bool,
}

impl Etcd {
    /// Starts a server on free loopback ports and waits until it serves clients.
    ///
    /// Panics, with the server's log, if it is not ready within [`READY_WAIT`].
    pub(crate) fn start() -> Self {
        let binary = etcd_binary();
        let (name, dir) = unique_dir();
        let mut etcd = Self {
            binary,
            name,
            dir,
            client_port: 0,
            peer_port: 0,
            child: None,
            launches: 0,
            log_shown: false,
        };
        for attempt in 1..=START_ATTEMPTS {
            (etcd.client_port, etcd.peer_port) = free_ports();
            match etcd.launch() {
                Ok(()) => return etcd,
                Err(error) if error.port_taken && attempt < START_ATTEMPTS => {
                    // The data directory etcd began to make on the taken ports is dropped, so
                    // that the next attempt bootstraps a cluster on its own ports.
                    remove_dir_if_present(&etcd.data_dir());
                }
                Err(error) => etcd.fail(&error),
            }
        }
        unreachable!("the last attempt returns or fails")
    }

    /// The URL clients connect to: `http://127.0.0.1:<port>`.
    pub(crate) fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// The client port, which stays the same across restarts.
    pub(crate) fn client_port(&self) -> u16 {
        self.client_port
    }

    /// Whether the server process is running (it may not be ready yet, or any more).
    pub(crate) fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the server (SIGKILL: no goodbye to its clients, as in a crash) and waits until it
    /// has exited. Does nothing if it is not running.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // An error here means the process has exited already, which is what we want.
            let _ = child.kill();
            child.wait().expect("wait for the killed etcd");
        }
    }

    /// Stops the server gracefully (SIGTERM: it closes its connections and its data) and waits
    /// until it has exited. Does nothing if it is not running.
    ///
    /// Panics if it has not exited within [`STOP_WAIT`] (it is killed first).
    pub(crate) fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = rustix::process::Pid::from_child(&child);
        // An error here means the process has exited already.
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + STOP_WAIT;
        loop {
            match child.try_wait().expect("wait for the stopped etcd") {
                Some(_) => return,
                None if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "etcd {} did not exit within {STOP_WAIT:?} of SIGTERM\n{}",
                        self.name,
                        self.log()
                    );
                }
                None => thread::sleep(POLL),
            }
        }
    }

    /// Stops the server if it is running, starts it again on the same ports with the same data,
    /// and waits until it serves clients.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.relaunch();
    }

    /// Kills the server, deletes its data and starts a fresh one (a new cluster, empty) on the
    /// same ports, and waits until it serves clients.
    pub(crate) fn restart_wiped(&mut self) {
        self.kill();
        remove_dir_if_present(&self.data_dir());
        self.relaunch();
    }

    /// Everything the server has written since its first start, restarts included.
    pub(crate) fn log(&self) -> String {
        fs::read_to_string(self.log_path())
            .unwrap_or_else(|error| format!("(no log at {}: {error})", self.log_path().display()))
    }

    /// The sum of the samples of the metric `name` in the server's Prometheus metrics
    /// (`GET /metrics` on the client URL) whose labels include all of `labels`; 0 when there are
    /// none.
    ///
    /// `metric("grpc_server_msg_received_total", &[("grpc_method", "LeaseKeepAlive")])` counts
    /// the lease keep-alive messages the server has received, `metric("grpc_server_started_total",
    /// &[])` the gRPC calls and streams started.
    pub(crate) fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let (status, body) = self
            .http_get(self.client_port, "/metrics", HTTP_TIMEOUT)
            .unwrap_or_else(|error| panic!("GET {}/metrics: {error}", self.client_url()));
        assert_eq!(status, 200, "GET {}/metrics:\n{body}", self.client_url());
        sum_metric(&body, name, labels)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("etcd.log")
    }

    /// Launches the server again on its ports, trying a few times if one of them is still taken.
    fn relaunch(&mut self) {
        for attempt in 1..=START_ATTEMPTS {
            match self.launch() {
                Ok(()) => return,
                Err(error) if error.port_taken && attempt < START_ATTEMPTS => {
                    thread::sleep(POLL);
                }
                Err(error) => self.fail(&error),
            }
        }
    }

    /// Spawns etcd on the current ports and waits until it is ready; on failure the process is
    /// gone.
    fn launch(&mut self) -> Result<(), LaunchError> {
        debug_assert!(self.child.is_none(), "launch with a server running");
        self.launches += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the etcd log");
        writeln!(
            log,
            "===== launch {} of {}: client port {}, peer port {} =====",
            self.launches, self.name, self.client_port, self.peer_port
        )
        .expect("write the etcd log");
        let log_len = log.metadata().expect("etcd log metadata").len();
        let stderr = log.try_clone().expect("clone the etcd log");

        let client_url = self.client_url();
        let peer_url = format!("http://127.0.0.1:{}", self.peer_port);
        let mut command = Command::new(self.binary);
        command
            .arg(format!("--name={}", self.name))
            .arg(format!("--data-dir={}", self.data_dir().display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster={}={peer_url}", self.name))
            .arg(format!("--initial-cluster-token={}", self.name))
            .arg("--initial-cluster-state=new")
            .arg(format!("--heartbeat-interval={HEARTBEAT_MS}"))
            .arg(format!("--election-timeout={ELECTION_MS}"))
            .arg("--logger=zap")
            .arg("--log-outputs=stderr")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr);
        // etcd reads an ETCD_<FLAG> variable for each flag, and refuses to start when one is set
        // as well as its flag: the caller's environment must not configure the test servers.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ETCD_") {
                command.env_remove(key);
            }
        }
        self.child = Some(command.spawn().expect("spawn etcd"));

        match self.wait_ready() {
            Ok(()) => Ok(()),
            Err(mut error) => {
                self.kill();
                error.port_taken = self.log_since(log_len).contains("address already in use");
                Err(error)
            }
        }
    }

    /// Polls the server until it is ready: its peer port lists this member (proof that this
    /// process, and no other, holds both ports: etcd binds them both before it serves either)
    /// and its client port reports it healthy (it has a leader and answers a read).
    fn wait_ready(&mut self) -> Result<(), LaunchError> {
        let deadline = Instant::now() + READY_WAIT;
        let member = format!("\"name\":\"{}\"", self.name);
        loop {
            let child = self.child.as_mut().expect("a server was launched");
            if let Some(status) = child.try_wait().expect("poll etcd") {
                return Err(LaunchError::new(format!("etcd exited ({status})")));
            }
            // Each step of a request ends by the deadline (give or take a millisecond).
            let timeout = || {
                deadline
                    .saturating_duration_since(Instant::now())
                    .clamp(Duration::from_millis(1), HTTP_TIMEOUT)
            };
            let last = match self.http_get(self.peer_port, "/members", timeout()) {
                Ok((200, body)) if body.contains(&member) => {
                    match self.http_get(self.client_port, "/health", timeout()) {
                        Ok((200, body)) if body.contains("\"health\":\"true\"") => return Ok(()),
                        other => format!("GET /health: {other:?}"),
                    }
                }
                other => format!("GET /members on the peer port: {other:?}"),
            };
            if Instant::now() >= deadline {
                return Err(LaunchError::new(format!(
                    "etcd did not serve within {READY_WAIT:?}; last answer: {last}"
                )));
            }
            thread::sleep(POLL);
        }
    }

    /// The log written after its first `len` bytes.
    fn log_since(&self, len: u64) -> String {
        let mut text = String::new();
        if let Ok(mut file) = File::open(self.log_path()) {
            let mut bytes = Vec::new();
            if file.read_to_end(&mut bytes).is_ok() {
                let start = usize::try_from(len).unwrap_or(usize::MAX).min(bytes.len());
                text = String::from_utf8_lossy(&bytes[start..]).into_owned();
            }
        }
        text
    }

    fn fail(&mut self, error: &LaunchError) -> ! {
        self.log_shown = true;
        panic!(
            "etcd {} on client port {}, peer port {}: {}\n----- its log -----\n{}",
            self.name,
            self.client_port,
            self.peer_port,
            error.what,
            self.log()
        );
    }

    /// A plain HTTP/1.0 GET to the server on `port`, returning the status code and the body;
    /// each step of it (connect, write, each read) may take up to `timeout`.
    ///
    /// HTTP/1.0, so that no body comes chunked. The body ends after its Content-Length when the
    /// response has one, not when the server closes the connection: etcd's peer port closes it
    /// only after its 5 s read timeout.
    fn http_get(&self, port: u16, path: &str, timeout: Duration) -> io::Result<(u16, String)> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
        )?;

        let mut response = Vec::new();
        let mut buffer = [0; 4096];
        let head_len = loop {
            if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let read = stream.read(&mut buffer)?;
            if read == 0 {
                return Err(invalid(
                    "the connection closed before the end of the headers",
                ));
            }
            response.extend_from_slice(&buffer[..read]);
        };
        let head = String::from_utf8_lossy(&response[..head_len]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| invalid("no HTTP status"))?;
        let content_length = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<u64>().ok())
                .flatten()
        });
        let mut body = response.split_off(head_len);
        match content_length {
            Some(len) => {
                let missing = len.saturating_sub(body.len() as u64);
                (&mut stream).take(missing).read_to_end(&mut body)?;
                if (body.len() as u64) < len {
                    return Err(invalid("the connection closed before the end of the body"));
                }
            }
            None => {
                stream.read_to_end(&mut body)?;
            }
        }
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        // No panic here: this may run while a failed test unwinds.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() && !self.log_shown {
            // The test failed: its output (which the test harness shows) gets the server's side.
            eprintln!(
                "----- log of etcd {} (client port {}) -----\n{}",
                self.name,
                self.client_port,
                self.log()
            );
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Why a launch failed.
#[derive(Debug)]
struct LaunchError {
    what: String,
    /// etcd could not bind one of its ports: another process took it after we released it.
    port_taken: bool,
}

impl LaunchError {
    fn new(what: String) -> Self {
        Self {
            what,
            port_taken: false,
        }
    }
}

/// The sum of the samples of metric `name` whose labels include all of `labels`, in Prometheus's
/// text format (`name{label="value",...} value [timestamp]` lines, `#` comments).
pub(crate) fn sum_metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(parse_sample)
        .filter(|sample| {
            sample.name == name
                && labels.iter().all(|&(key, value)| {
                    sample
                        .labels
                        .iter()
                        .any(|(k, v)| k.as_str() == key && v.as_str() == value)
                })
        })
        .map(|sample| sample.value)
        .sum()
}

/// One line of Prometheus's text format.
struct Sample<'a> {
    name: &'a str,
    labels: Vec<(String, String)>,
    value: f64,
}

/// Parses `name{label="value",...} value [timestamp]`; `None` for anything else.
fn parse_sample(line: &str) -> Option<Sample<'_>> {
    let line = line.trim();
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    let (labels, rest) = match line[name_end..].strip_prefix('{') {
        Some(inner) => parse_labels(inner)?,
        None => (Vec::new(), &line[name_end..]),
    };
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// Parses `label="value",...}` (what follows a `{`), returning the labels and what follows the
/// `}`. Each turn of the loop consumes a label, so it ends with the text.
fn parse_labels(mut text: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        text = text.trim_start_matches([',', ' ']);
        if let Some(rest) = text.strip_prefix('}') {
            return Some((labels, rest));
        }
        let (key, quoted) = text.split_once('=')?;
        let quoted = quoted.strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        let close = loop {
            match chars.next()? {
                (i, '"') => break i,
                // The format escapes three characters in label values: `\\`, `\"` and `\n`.
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    escaped => value.push(escaped),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((key.trim().to_owned(), value));
        text = &quoted[close + 1..];
    }
}

/// The etcd binary `scripts/etcd-env.sh` finds or installs (run once per test binary).
fn etcd_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/etcd-env.sh");
        let output = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/etcd-env.sh");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "scripts/etcd-env.sh failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let binary = stdout
            .lines()
            .last()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .expect("scripts/etcd-env.sh printed the etcd path last");
        PathBuf::from(binary)
    })
}

/// A member name unique on this machine and a new directory named after it in the temporary
/// directory.
fn unique_dir() -> (String, PathBuf) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    // A directory left by an earlier process with the same id (killed before its drop) is
    // skipped, not reused.
    for _ in 0..1000 {
        let name = format!(
            "monocoque-etcd-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(&name);
        match fs::create_dir(&dir) {
            Ok(()) => return (name, dir),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => panic!("create {}: {error}", dir.display()),
        }
    }
    panic!(
        "no free name for an etcd directory in {}",
        std::env::temp_dir().display()
    );
}

/// Two distinct loopback ports free at the time of the call: both are bound at once (so that
/// the kernel gives two different ones) and released for etcd to bind.
fn free_ports() -> (u16, u16) {
    let bind = || TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port");
    let (client, peer) = (bind(), bind());
    let port = |listener: &TcpListener| listener.local_addr().expect("local address").port();
    (port(&client), port(&peer))
}

fn remove_dir_if_present(dir: &Path) {
    match fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => panic!("remove {}: {error}", dir.display()),
    }
}
