//! Helpers shared by the fault-tolerance tests (`tests/fault_*.rs`): one sending and receiving
//! interface over the socket types, cancellation tools, bounded rebinding of a port, and the
//! bounds on what the kernel and the driver can hold between two sockets.
//!
//! Every test binary that uses this module also declares `mod common;`.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use monocoque::{
    DealerSocket, Endpoint, Error, Message, Monitor, MonitorEventKind, PairSocket, PubSocket,
    PullSocket, PushSocket, RecvError, RepSocket, ReqSocket, RouterSocket, SendError,
    SocketOptions, SubSocket,
};

use crate::common::{WAIT, num};

/// `SO_SNDBUF` and `SO_RCVBUF` given to both ends of a connection whose contents a test bounds.
/// Linux doubles what it is given, so the kernel holds at most `4 ×` this between two sockets.
pub(crate) const KERNEL_BUFFER: usize = 64 * 1024;

/// The driver's write batch (`WRITE_BATCH` in `monocoque-zmtp/src/driver/connection.rs`): a
/// writer takes messages off the queue until this many bytes are in its buffer.
pub(crate) const WRITE_BATCH: usize = 64 * 1024;

/// The driver's read size (`READ_CHUNK` in the same file): a paused reader holds at most about
/// two of these, undecoded.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// The most messages of `wire_bytes` each (frames and headers) that can be on their way between
/// a sender's queue and a receiver's queue when both ends use [`KERNEL_BUFFER`]: the writer's
/// batch (plus the message that crossed its limit), both kernel buffers doubled, and the
/// receiver's undecoded input.
pub(crate) fn in_transit_bound(wire_bytes: usize) -> usize {
    let bytes = WRITE_BATCH + wire_bytes + 4 * KERNEL_BUFFER + 2 * READ_CHUNK;
    bytes.div_ceil(wire_bytes) + 1
}

/// Sending, whatever the socket type.
pub(crate) trait Tx {
    fn try_send_msg(&self, message: Message) -> Result<(), SendError>;
    async fn send_msg(&self, message: Message) -> Result<(), SendError>;
}

/// Receiving, whatever the socket type.
pub(crate) trait Rx {
    fn try_recv_msg(&self) -> Result<Message, RecvError>;
    async fn recv_msg(&self) -> Result<Message, RecvError>;
}

macro_rules! tx {
    ($($socket:ty),*) => {$(
        impl Tx for $socket {
            fn try_send_msg(&self, message: Message) -> Result<(), SendError> {
                self.try_send(message)
            }
            async fn send_msg(&self, message: Message) -> Result<(), SendError> {
                self.send(message).await
            }
        }
    )*};
}

macro_rules! rx {
    ($($socket:ty),*) => {$(
        impl Rx for $socket {
            fn try_recv_msg(&self) -> Result<Message, RecvError> {
                self.try_recv()
            }
            async fn recv_msg(&self) -> Result<Message, RecvError> {
                self.recv().await
            }
        }
    )*};
}

tx!(
    PushSocket,
    DealerSocket,
    PairSocket,
    ReqSocket,
    RepSocket,
    RouterSocket,
    PubSocket
);
rx!(
    PullSocket,
    DealerSocket,
    PairSocket,
    ReqSocket,
    RepSocket,
    RouterSocket,
    SubSocket
);

/// Polls `future` exactly once: its output if it was ready, `None` if it was pending, in which
/// case it is dropped right after having registered its interest (the harshest cancellation).
pub(crate) async fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    std::future::poll_fn(|cx| match future.as_mut().poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// Gives every other ready task (connection readers and writers) one turn.
pub(crate) async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

/// Binds with `bind`, retrying while the port is still in use (a port released a moment ago by
/// a peer that was killed), for at most [`WAIT`].
pub(crate) async fn bind_retry<F, Fut>(what: &str, mut bind: F) -> Endpoint
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Endpoint, Error>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        match bind().await {
            Ok(endpoint) => return endpoint,
            Err(Error::Bind { source, .. })
                if source.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline =>
            {
                compio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(error) => panic!("{what}: bind failed: {error}"),
        }
    }
}

/// Waits for a `std::thread` (a peer "process") to finish without blocking the runtime, for at
/// most `limit`, and returns what it returned.
pub(crate) async fn join_thread<T>(
    what: &str,
    handle: std::thread::JoinHandle<T>,
    limit: Duration,
) -> T {
    let deadline = Instant::now() + limit;
    while !handle.is_finished() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        compio::time::sleep(Duration::from_millis(1)).await;
    }
    match handle.join() {
        Ok(output) => output,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

// ---------------------------------------------------------------------------------------------
// The cancellation tests' traffic (`fault_cancel.rs`, `fault_cancel_scale.rs`).

/// The timeouts of the three timed cancellation styles; the fourth style is poll-once.
pub(crate) const TIMEOUTS: [Duration; 3] = [
    Duration::from_micros(10),
    Duration::from_micros(100),
    Duration::from_millis(1),
];

/// Small queues and kernel buffers, so that senders really block.
pub(crate) fn small_queues() -> SocketOptions {
    SocketOptions::new()
        .send_hwm(4)
        .recv_hwm(4)
        .send_buffer(4096)
        .recv_buffer(4096)
}

/// Message `i`: its number, a payload of 0 to 199 bytes derived from it, an empty frame for
/// every third message, and the number inverted as a trailer.
pub(crate) fn numbered(i: u32) -> Message {
    let len = (i as usize * 37) % 200;
    let mut message = Message::single(num(i));
    message.push(Bytes::from(
        (0..len).map(|k| (k as u8) ^ (i as u8)).collect::<Vec<_>>(),
    ));
    if i % 3 == 0 {
        message.push(Bytes::new());
    }
    message.push(num(!i));
    message
}

/// The connection events a monitor saw: (handshakes, disconnections).
pub(crate) fn connection_events(monitor: &Monitor) -> (usize, usize) {
    let (mut up, mut down) = (0, 0);
    while let Some(event) = monitor.try_recv() {
        match event.kind {
            MonitorEventKind::HandshakeSucceeded => up += 1,
            MonitorEventKind::Disconnected { .. } => down += 1,
            _ => {}
        }
    }
    (up, down)
}
