//! libzmq's `zmq_proxy` and `zmq_proxy_steerable` for compio sockets.

use std::cell::{Cell, RefCell};
use std::pin::pin;
use std::rc::Rc;

use futures_util::future::{Either, select};
use monocoque_core::Message;

use super::signal::Signal;
use super::socket::{Error, Socket};
use crate::proto::{SendErrorKind, SocketType};

/// One side's counters, as libzmq's `ZMQ_PROXY_STATISTICS` reports them.
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
/// commands, as methods. Cheap to clone; used on the proxy's thread.
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
    inner: Rc<ControlInner>,
}

#[derive(Debug, Default)]
struct ControlInner {
    paused: Cell<bool>,
    terminated: Cell<bool>,
    statistics: RefCell<ProxyStatistics>,
    changed: Signal,
}

impl ProxyControl {
    /// A control for a proxy not started yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops forwarding (messages wait in the sockets' queues) until [`resume`](Self::resume).
    #[doc(alias = "PAUSE")]
    pub fn pause(&self) {
        self.inner.paused.set(true);
        self.inner.changed.notify(usize::MAX);
    }

    /// Forwards again.
    #[doc(alias = "RESUME")]
    pub fn resume(&self) {
        self.inner.paused.set(false);
        self.inner.changed.notify(usize::MAX);
    }

    /// Ends the proxy: its future returns `Ok(())`.
    #[doc(alias = "TERMINATE")]
    pub fn terminate(&self) {
        self.inner.terminated.set(true);
        self.inner.changed.notify(usize::MAX);
    }

    /// Whether the proxy is paused.
    pub fn is_paused(&self) -> bool {
        self.inner.paused.get()
    }

    /// Whether the proxy was told to end.
    pub fn is_terminated(&self) -> bool {
        self.inner.terminated.get()
    }

    /// The counters so far.
    #[doc(alias = "STATISTICS")]
    pub fn statistics(&self) -> ProxyStatistics {
        *self.inner.statistics.borrow()
    }
}

fn can_recv(socket: &Socket) -> bool {
    !matches!(socket.socket_type(), SocketType::Push | SocketType::Pub)
}

fn can_send(socket: &Socket) -> bool {
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
    if !can_recv(frontend) || !can_send(backend) {
        return Err(Error::Unsupported(
            "a proxy's frontend must receive and its backend send",
        ));
    }
    let both_ways = can_recv(backend) && can_send(frontend);
    let inner = &control.inner;
    loop {
        let changed = inner.changed.listen();
        if inner.terminated.get() {
            return Ok(());
        }
        if inner.paused.get() {
            changed.await;
            continue;
        }
        let from_frontend = pin!(frontend.recv());
        let from_backend = pin!(async {
            if both_ways {
                backend.recv().await
            } else {
                std::future::pending().await
            }
        });
        let received = select(select(from_frontend, from_backend), changed).await;
        let (message, forward_to, frontend_in) = match received {
            Either::Left((Either::Left((message, _)), _)) => (message?, backend, true),
            Either::Left((Either::Right((message, _)), _)) => (message?, frontend, false),
            // Paused, resumed or terminated: look again.
            Either::Right(_) => continue,
        };
        let bytes = size(&message);
        {
            let mut statistics = inner.statistics.borrow_mut();
            let (from, to) = if frontend_in {
                let s = &mut *statistics;
                (&mut s.frontend, &mut s.backend)
            } else {
                let s = &mut *statistics;
                (&mut s.backend, &mut s.frontend)
            };
            from.messages_in += 1;
            from.bytes_in += bytes;
            to.messages_out += 1;
            to.bytes_out += bytes;
        }
        if let Some(capture) = capture {
            capture.send(message.clone()).await.map_err(closed)?;
        }
        forward_to.send(message).await.map_err(closed)?;
    }
}

/// A send that failed other than for room: the socket is gone (the message with it).
fn closed(error: crate::proto::SendError) -> Error {
    match error.kind {
        SendErrorKind::Closed => Error::Closed,
        kind => Error::Send(kind),
    }
}
