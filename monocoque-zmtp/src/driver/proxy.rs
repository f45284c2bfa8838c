//! libzmq's `zmq_proxy` and `zmq_proxy_steerable`, for compio sockets and for handles.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use event_listener::Event;
use futures_util::future::{Either, select};
use monocoque_core::Message;

use super::context::not_on_io_thread;
use super::handle::Handle;
use super::mailbox::thread_waker;
use super::socket::{Error, Socket};
use crate::proto::{RecvError, SendError, SendErrorKind, SocketType};

/// One side's counters, after libzmq's proxy statistics (which count frames; these count
/// messages, and a message counts as out once its send succeeded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SideStatistics {
    /// Messages received on this side.
    pub messages_in: u64,
    /// Bytes of the messages received on this side.
    pub bytes_in: u64,
    /// Messages sent on this side.
    pub messages_out: u64,
    /// Bytes of the messages sent on this side.
    pub bytes_out: u64,
}

/// The eight counters of a steerable proxy: libzmq's `STATISTICS` reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStatistics {
    /// The frontend's counters.
    pub frontend: SideStatistics,
    /// The backend's counters.
    pub backend: SideStatistics,
}

/// Steers a running [`proxy`]: libzmq's `PAUSE`, `RESUME`, `TERMINATE` and `STATISTICS`
/// commands, as methods. Cheap to clone, and usable from any thread: a proxy of handles
/// ([`proxy_handles`]) is steered from other threads as libzmq's is through its control socket.
///
/// ```
/// use monocoque_zmtp::driver::ProxyControl;
///
/// let control = ProxyControl::new();
/// control.pause();
/// assert!(control.is_paused());
/// control.resume();
/// assert_eq!(control.statistics().frontend.messages_in, 0);
/// control.terminate();
/// assert!(control.is_terminated());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ProxyControl {
    inner: Arc<ControlInner>,
}

#[derive(Debug, Default)]
struct ControlInner {
    paused: AtomicBool,
    terminated: AtomicBool,
    /// Frontend in, frontend out, backend in, backend out: messages then bytes.
    counters: [AtomicU64; 8],
    changed: Event,
}

impl ProxyControl {
    /// A control for a proxy not started yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops forwarding (messages wait in the sockets' queues) until [`resume`](Self::resume).
    #[doc(alias = "PAUSE")]
    pub fn pause(&self) {
        self.inner.paused.store(true, Ordering::Release);
        self.inner.changed.notify(usize::MAX);
    }

    /// Forwards again.
    #[doc(alias = "RESUME")]
    pub fn resume(&self) {
        self.inner.paused.store(false, Ordering::Release);
        self.inner.changed.notify(usize::MAX);
    }

    /// Ends the proxy: its future returns `Ok(())`.
    #[doc(alias = "TERMINATE")]
    pub fn terminate(&self) {
        self.inner.terminated.store(true, Ordering::Release);
        self.inner.changed.notify(usize::MAX);
    }

    /// Whether the proxy is paused.
    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(Ordering::Acquire)
    }

    /// Whether the proxy was told to end.
    pub fn is_terminated(&self) -> bool {
        self.inner.terminated.load(Ordering::Acquire)
    }

    /// The counters so far.
    #[doc(alias = "STATISTICS")]
    pub fn statistics(&self) -> ProxyStatistics {
        let c = |i: usize| self.inner.counters[i].load(Ordering::Relaxed);
        ProxyStatistics {
            frontend: SideStatistics {
                messages_in: c(0),
                messages_out: c(1),
                bytes_in: c(4),
                bytes_out: c(5),
            },
            backend: SideStatistics {
                messages_in: c(2),
                messages_out: c(3),
                bytes_in: c(6),
                bytes_out: c(7),
            },
        }
    }

    fn count(&self, side: Side, outgoing: bool, bytes: u64) {
        let i = side as usize * 2 + usize::from(outgoing);
        self.inner.counters[i].fetch_add(1, Ordering::Relaxed);
        self.inner.counters[i + 4].fetch_add(bytes, Ordering::Relaxed);
    }
}

/// What a proxy needs of a socket; compio sockets and handles are both.
trait End {
    fn socket_type(&self) -> SocketType;
    async fn recv(&self) -> Result<Message, RecvError>;
    async fn send(&self, message: Message) -> Result<(), SendError>;
}

impl End for Socket {
    fn socket_type(&self) -> SocketType {
        Self::socket_type(self)
    }
    async fn recv(&self) -> Result<Message, RecvError> {
        Self::recv(self).await
    }
    async fn send(&self, message: Message) -> Result<(), SendError> {
        Self::send(self, message).await
    }
}

impl End for Handle {
    fn socket_type(&self) -> SocketType {
        Self::socket_type(self)
    }
    async fn recv(&self) -> Result<Message, RecvError> {
        self.recv_async().await
    }
    async fn send(&self, message: Message) -> Result<(), SendError> {
        self.send_async(message).await
    }
}

fn can_recv(socket: &impl End) -> bool {
    !matches!(socket.socket_type(), SocketType::Push | SocketType::Pub)
}

fn can_send(socket: &impl End) -> bool {
    !matches!(socket.socket_type(), SocketType::Pull | SocketType::Sub)
}

fn size(message: &Message) -> u64 {
    message
        .frames()
        .iter()
        .map(|frame| frame.len() as u64)
        .sum()
}

/// Forwards messages between `frontend` and `backend` until `control` terminates it, or a
/// socket fails: libzmq's `zmq_proxy_steerable`. Each message is first sent to `capture`, if
/// given (waiting, as libzmq's blocking send does).
///
/// Messages go from the frontend to the backend, and back from the backend to the frontend
/// where both can (ROUTER/DEALER, XSUB/XPUB; PULL/PUSH is one way). A side that cannot take a
/// message now makes the proxy wait, as libzmq's does; PUB, XPUB and ROUTER drop instead, as
/// their patterns say.
pub async fn proxy(
    frontend: &Socket,
    backend: &Socket,
    capture: Option<&Socket>,
    control: &ProxyControl,
) -> Result<(), Error> {
    run(frontend, backend, capture, control).await
}

/// [`proxy`] for handles: the same forwarding, steering and statistics, between sockets that
/// live on the library's I/O threads. The future needs no particular runtime; `control` may be
/// used from any thread.
pub async fn proxy_handles(
    frontend: &Handle,
    backend: &Handle,
    capture: Option<&Handle>,
    control: &ProxyControl,
) -> Result<(), Error> {
    run(frontend, backend, capture, control).await
}

/// [`proxy_handles`] for blocking code: runs on the calling thread until the proxy ends.
/// Refused with [`Error::Unsupported`] on one of the library's I/O threads, which it would
/// block.
pub fn proxy_handles_blocking(
    frontend: &Handle,
    backend: &Handle,
    capture: Option<&Handle>,
    control: &ProxyControl,
) -> Result<(), Error> {
    not_on_io_thread()?;
    block_on(run(frontend, backend, capture, control))
}

/// Polls `future` on this thread, parking it between wake-ups.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = thread_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

async fn run<S: End>(
    frontend: &S,
    backend: &S,
    capture: Option<&S>,
    control: &ProxyControl,
) -> Result<(), Error> {
    if !can_recv(frontend) || !can_send(backend) {
        return Err(Error::Unsupported(
            "a proxy's frontend must receive and its backend send",
        ));
    }
    let both_ways = can_recv(backend) && can_send(frontend);
    let inner = &control.inner;
    let mut backend_first = false;
    loop {
        let changed = inner.changed.listen();
        if control.is_terminated() {
            return Ok(());
        }
        if control.is_paused() {
            changed.await;
            continue;
        }
        let mut from_frontend = pin!(frontend.recv());
        let mut from_backend = pin!(async {
            if both_ways {
                backend.recv().await
            } else {
                std::future::pending().await
            }
        });
        let mut changed = pin!(changed);
        // The side looked at first takes turns, so that a flood on one side cannot starve the
        // other (replies, subscriptions going upstream). A receive not taken is cancel-safe.
        backend_first = !backend_first;
        let received = std::future::poll_fn(|cx| {
            for backend_turn in [backend_first, !backend_first] {
                let side = if backend_turn {
                    from_backend.as_mut().poll(cx).map(|m| Some((m, false)))
                } else {
                    from_frontend.as_mut().poll(cx).map(|m| Some((m, true)))
                };
                if side.is_ready() {
                    return side;
                }
            }
            // Paused, resumed or terminated: look again.
            changed.as_mut().poll(cx).map(|()| None)
        })
        .await;
        let Some((message, frontend_in)) = received else {
            continue;
        };
        let message = message?;
        let (forward_to, from_side) = if frontend_in {
            (backend, Side::Frontend)
        } else {
            (frontend, Side::Backend)
        };
        let bytes = size(&message);
        control.count(from_side, false, bytes);
        if let Some(capture) = capture {
            if !send_unless_terminated(capture, message.clone(), control).await? {
                return Ok(());
            }
        }
        if !send_unless_terminated(forward_to, message, control).await? {
            return Ok(());
        }
        control.count(from_side.other(), true, bytes);
    }
}

#[derive(Clone, Copy)]
enum Side {
    Frontend = 0,
    Backend = 1,
}

impl Side {
    fn other(self) -> Self {
        match self {
            Self::Frontend => Self::Backend,
            Self::Backend => Self::Frontend,
        }
    }
}

/// Sends, waiting for room, unless the proxy is terminated meanwhile: `Ok(false)` then (the
/// message is not sent: a send is cancel-safe).
async fn send_unless_terminated(
    socket: &impl End,
    message: Message,
    control: &ProxyControl,
) -> Result<bool, Error> {
    let mut send = pin!(socket.send(message));
    loop {
        let changed = control.inner.changed.listen();
        if control.is_terminated() {
            return Ok(false);
        }
        match select(send.as_mut(), changed).await {
            Either::Left((result, _)) => {
                result.map_err(closed)?;
                return Ok(true);
            }
            Either::Right(((), _)) => {}
        }
    }
}

/// A send that failed other than for room: the socket is gone (the message with it).
fn closed(error: SendError) -> Error {
    match error.kind {
        SendErrorKind::Closed => Error::Closed,
        kind => Error::Send(kind),
    }
}
