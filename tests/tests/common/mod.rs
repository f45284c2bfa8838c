//! Helpers shared by the socket tests: bounded waits, unique ipc endpoints, numbered frames.
//!
//! Every wait here is bounded, so that a bug makes a test fail instead of hang.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// The longest any single wait of a test may take.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// A TCP endpoint on an ephemeral port of the loopback interface.
pub(crate) const TCP_ANY: &str = "tcp://127.0.0.1:0";

/// How often [`wait_until`] looks at its condition.
const POLL: Duration = Duration::from_millis(1);

/// Awaits `future`, failing the test if it takes longer than [`WAIT`].
pub(crate) async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match compio::time::timeout(WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {WAIT:?}: {what}"),
    }
}

/// Yields to the runtime until `condition` holds, failing the test after [`WAIT`].
pub(crate) async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting until {what}"
        );
        compio::time::sleep(POLL).await;
    }
}

/// A unique Unix socket path under the temporary directory, removed when dropped.
#[derive(Debug)]
pub(crate) struct IpcPath {
    path: PathBuf,
}

impl IpcPath {
    /// A fresh path whose name carries the process id, a counter and `tag`.
    pub(crate) fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "monocoque-socket-test-{}-{n}-{tag}.sock",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        Self { path }
    }

    /// The `ipc://` endpoint of this path.
    pub(crate) fn endpoint(&self) -> String {
        format!("ipc://{}", self.path.display())
    }
}

impl Drop for IpcPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A frame carrying `n`, four bytes big-endian.
pub(crate) fn num(n: u32) -> Bytes {
    Bytes::copy_from_slice(&n.to_be_bytes())
}

/// The number carried by a frame made by [`num`].
pub(crate) fn read_num(frame: &[u8]) -> u32 {
    u32::from_be_bytes(frame.try_into().expect("a four-byte number frame"))
}

/// A TCP endpoint on `port` of the loopback interface.
pub(crate) fn tcp_port(port: u16) -> String {
    format!("tcp://127.0.0.1:{port}")
}

/// A loopback TCP port that was free a moment ago: bound on port 0, then released.
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}
