//! Helpers for the `mq` tests: running the tool with bounded waits, and libzmq peers.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The longest a test waits for anything.
pub(crate) const WAIT: Duration = Duration::from_secs(10);
/// `--timeout` given to `mq` where it waits for a peer.
pub(crate) const MQ_TIMEOUT: &str = "10";

pub(crate) fn mq() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mq"))
}

/// Starts `mq args` with stdin, stdout and stderr piped.
pub(crate) fn spawn(args: &[&str]) -> Child {
    mq().args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mq")
}

/// Runs `mq args` with `input` on stdin to the end.
pub(crate) fn run(args: &[&str], input: impl AsRef<[u8]>) -> Output {
    let mut child = spawn(args);
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_ref())
        .expect("write stdin");
    wait(child)
}

/// Waits for `child`, killing it after [`WAIT`].
pub(crate) fn wait(mut child: Child) -> Output {
    let deadline = Instant::now() + WAIT;
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!(
                "mq did not finish within {WAIT:?}; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Kills the child when a test fails before waiting for it.
pub(crate) struct Reaper(pub(crate) Option<Child>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Spawns `mq args` bound to `tcp://127.0.0.1:0` and reads the endpoint it prints on stderr.
pub(crate) fn spawn_bound(args: &[&str]) -> (Reaper, String, BufReader<ChildStderr>) {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--bind", "tcp://127.0.0.1:0"]);
    reading_endpoint(spawn(&full))
}

/// Spawns `mq perf <kind> local tcp://127.0.0.1:0 <size> <count>` and reads its endpoint.
pub(crate) fn spawn_perf_local(
    kind: &[&str],
    size: &usize,
    count: u64,
) -> (Reaper, String, BufReader<ChildStderr>) {
    let (size, count) = (size.to_string(), count.to_string());
    let mut args = kind.to_vec();
    args.extend(["tcp://127.0.0.1:0", &size, &count]);
    reading_endpoint(spawn(&args))
}

/// Reads the endpoint `child` prints first on stderr (`mq: bound <endpoint>`).
pub(crate) fn reading_endpoint(mut child: Child) -> (Reaper, String, BufReader<ChildStderr>) {
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("read stderr");
    let endpoint = line
        .trim()
        .strip_prefix("mq: bound ")
        .unwrap_or_else(|| panic!("expected the bound endpoint, got {line:?}"))
        .to_owned();
    (Reaper(Some(child)), endpoint, stderr)
}

pub(crate) fn finish(mut reaper: Reaper) -> Output {
    wait(reaper.0.take().expect("child"))
}

pub(crate) fn libzmq(context: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
    let socket = context.socket(kind).expect("libzmq socket");
    socket
        .set_rcvtimeo(WAIT.as_millis() as i32)
        .expect("rcvtimeo");
    socket
        .set_sndtimeo(WAIT.as_millis() as i32)
        .expect("sndtimeo");
    socket.set_linger(1000).expect("linger");
    socket
}

pub(crate) fn bind_any(socket: &zmq::Socket) -> String {
    socket.bind("tcp://127.0.0.1:*").expect("bind");
    socket
        .get_last_endpoint()
        .expect("last endpoint")
        .expect("utf-8 endpoint")
}

/// One multipart message in each format: a topic, an empty frame and binary bytes (text keeps
/// to printable frames).
pub(crate) struct Case {
    pub(crate) format: &'static str,
    pub(crate) frames: Vec<Vec<u8>>,
    pub(crate) line: &'static str,
}

pub(crate) fn cases() -> Vec<Case> {
    vec![
        Case {
            format: "text",
            frames: vec![b"topic".to_vec(), b"".to_vec(), b"hello world".to_vec()],
            line: "topic\t\thello world",
        },
        Case {
            format: "hex",
            frames: vec![b"topic".to_vec(), b"".to_vec(), vec![0, 1, 0xfe, 0xff]],
            line: "746f706963\t\t0001feff",
        },
        Case {
            format: "base64",
            frames: vec![b"topic".to_vec(), b"".to_vec(), vec![0, 1, 0xfe, 0xff]],
            line: "dG9waWM=\t\tAAH+/w==",
        },
        Case {
            format: "json",
            frames: vec![b"topic".to_vec(), b"".to_vec(), vec![0, 1, 0xfe, 0xff]],
            line: r#"["topic","",{"base64":"AAH+/w=="}]"#,
        },
    ]
}

pub(crate) fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

pub(crate) fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "mq exited with {:?}; stderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Publishes `frames` (after one message a `--subscribe topic` filter drops) every few
/// milliseconds until the `mq sub` in `reaper` exits: a subscriber joins late, as in libzmq.
pub(crate) fn publish_until_exit(publisher: &zmq::Socket, reaper: &mut Reaper, frames: &[Vec<u8>]) {
    let deadline = Instant::now() + WAIT;
    let child = reaper.0.as_mut().expect("child");
    while child.try_wait().expect("try_wait").is_none() {
        assert!(Instant::now() < deadline, "mq sub did not finish");
        publisher.send("other\tnot subscribed", 0).expect("send");
        publisher.send_multipart(frames, 0).expect("send");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `mq req` with `line` against an `mq rep --echo` that is the CURVE server of `secret`, the
/// client using `public` as the server's key.
pub(crate) fn curve_echo(secret: &str, public: &str, line: &str, timeout: &str) -> Output {
    let (reaper, endpoint, _stderr) =
        spawn_bound(&["rep", "--echo", "--count", "1", "--curve-secretkey", secret]);
    let output = run(
        &[
            "req",
            "--connect",
            &endpoint,
            "--curve-serverkey",
            public,
            "--timeout",
            timeout,
        ],
        format!("{line}\n"),
    );
    if output.status.success() {
        assert_success(&finish(reaper));
    }
    output
}
