//! libzmq's `zmq_proxy` and `zmq_proxy_steerable` for compio sockets.

use std::cell::{Cell, RefCell};
use std::pin::pin;
use std::rc::Rc;

use futures_util::future::{Either, select};
use monocoque_core::Message;

use super::signal::Signal;
use super::socket::{Error, Socket};
use crate::proto::{SendErrorKind, SocketType};

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
    let mut backend_first = false;
    loop {
        let changed = inner.changed.listen();
        if inner.terminated.get() {
            return Ok(());
        }
        if inner.paused.get() {
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
        count(control, from_side, |side| {
            side.messages_in += 1;
            side.bytes_in += bytes;
        });
        if let Some(capture) = capture {
            if !send_unless_terminated(capture, message.clone(), control).await? {
                return Ok(());
            }
        }
        if !send_unless_terminated(forward_to, message, control).await? {
            return Ok(());
        }
        count(control, from_side.other(), |side| {
            side.messages_out += 1;
            side.bytes_out += bytes;
        });
    }
}

#[derive(Clone, Copy)]
enum Side {
    Frontend,
    Backend,
}

impl Side {
    fn other(self) -> Self {
        match self {
            Self::Frontend => Self::Backend,
            Self::Backend => Self::Frontend,
        }
    }
}

fn count(control: &ProxyControl, side: Side, change: impl FnOnce(&mut SideStatistics)) {
    let mut statistics = control.inner.statistics.borrow_mut();
    change(match side {
        Side::Frontend => &mut statistics.frontend,
        Side::Backend => &mut statistics.backend,
    });
}

/// Sends, waiting for room, unless the proxy is terminated meanwhile: `Ok(false)` then (the
/// message is not sent: a send is cancel-safe).
async fn send_unless_terminated(
    socket: &Socket,
    message: Message,
    control: &ProxyControl,
) -> Result<bool, Error> {
    let mut send = pin!(socket.send(message));
    loop {
        let changed = control.inner.changed.listen();
        if control.inner.terminated.get() {
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
fn closed(error: crate::proto::SendError) -> Error {
    match error.kind {
        SendErrorKind::Closed => Error::Closed,
        kind => Error::Send(kind),
    }
}
