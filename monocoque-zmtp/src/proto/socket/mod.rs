//! The socket patterns as pure state: per-peer queues with high-water marks, the routing
//! strategies (load-balance, fair-queue, fan-out, routing by id, lock-step) and one small
//! [`Pattern`] per socket type on top of them.
//!
//! A driver owns one [`SocketCore`]: it attaches a pipe per peer, feeds it what the peer sent,
//! drains what the peer should be sent, and calls [`SocketCore::send`] and [`SocketCore::recv`]
//! for the application. The core tells the driver, through [`SocketCore::take_events`], which
//! peers have something new to write, which may read again, and which to close.

mod pipes;
mod pubsub;
mod reqrep;
mod simple;

use bytes::Bytes;
use monocoque_core::{Message, PeerId};

pub use pipes::{Origin, Pipe, Pipes, SocketLimits};

use super::command::{Command, Subscription};
use super::handshake::PeerInfo;
use super::socket_type::SocketType;

/// Something the driver must act on after a call into the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The pipe has new outgoing data: wake its writer.
    Writable(PeerId),
    /// The pipe's inbound queue has room again: its reader may resume.
    Readable(PeerId),
    /// The pattern refuses this peer (a second PAIR peer, a ROUTER identity clash): close it.
    Close(PeerId),
}

/// Why a send failed. The message is handed back in [`SendError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendErrorKind {
    /// No peer can take the message now (every queue at its high-water mark, or no peer at all).
    #[error("no peer can take the message now")]
    WouldBlock,
    /// This socket type cannot send (PULL, SUB).
    #[error("this socket type cannot send")]
    NotSupported,
    /// The pattern's state forbids a send now (REQ awaiting a reply, REP with no request).
    #[error("the socket's pattern does not allow a send now")]
    InvalidState,
    /// ROUTER with mandatory routing: no connected peer has this routing id.
    #[error("no peer has this routing id")]
    HostUnreachable,
    /// The message does not fit the pattern (a ROUTER message without a routing id frame).
    #[error("the message does not fit the socket's pattern")]
    InvalidMessage,
    /// The socket is closed.
    #[error("the socket is closed")]
    Closed,
}

/// A failed send, with the message given back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct SendError {
    /// What went wrong.
    pub kind: SendErrorKind,
    /// The message that was not sent.
    pub message: Message,
}

impl SendError {
    pub(crate) fn new(kind: SendErrorKind, message: Message) -> Self {
        Self { kind, message }
    }
}

/// Why a receive failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// Nothing to receive now.
    #[error("nothing to receive now")]
    WouldBlock,
    /// This socket type cannot receive (PUSH, PUB).
    #[error("this socket type cannot receive")]
    NotSupported,
    /// The pattern's state forbids a receive now (REQ before a request, REP before replying).
    #[error("the socket's pattern does not allow a receive now")]
    InvalidState,
    /// The socket is closed.
    #[error("the socket is closed")]
    Closed,
}

/// One socket type's behaviour over the shared [`Pipes`].
pub(crate) trait Pattern: std::fmt::Debug {
    /// A peer completed its handshake on pipe `id`. Returning `false` refuses it.
    fn connected(&mut self, _pipes: &mut Pipes, _id: PeerId) -> bool {
        true
    }

    /// The connection of pipe `id` was lost; the pipe itself may stay (a connecting side keeps
    /// its queue across reconnections).
    fn disconnected(&mut self, _pipes: &mut Pipes, _id: PeerId) {}

    /// Pipe `id` is about to be removed.
    fn detached(&mut self, _pipes: &mut Pipes, _id: PeerId) {}

    /// The application sends a message.
    fn send(&mut self, pipes: &mut Pipes, message: Message) -> Result<(), SendError>;

    /// The application asks for a message.
    fn recv(&mut self, pipes: &mut Pipes) -> Result<Message, RecvError>;

    /// A peer sent a message; queue it for the application or act on it. Returns `false` when the
    /// pipe's inbound queue is full (the reader should pause).
    fn inbound(&mut self, pipes: &mut Pipes, id: PeerId, message: Message) -> bool {
        pipes.push_in(id, message)
    }

    /// A peer sent a SUBSCRIBE or CANCEL (either form).
    fn subscription(&mut self, _pipes: &mut Pipes, _id: PeerId, _subscription: Subscription) {}

    /// The application changes a subscription (SUB and XSUB).
    fn subscribe(&mut self, _pipes: &mut Pipes, _subscription: Subscription) -> bool {
        false
    }

    /// Whether a message is ready for [`recv`](Self::recv) without waiting.
    fn can_recv(&self, pipes: &Pipes) -> bool {
        pipes.has_input()
    }
}

/// The state of one socket: its pipes and its pattern.
///
/// ```
/// use monocoque_core::Message;
/// use monocoque_zmtp::proto::{Origin, SocketCore, SocketLimits, SocketType, SendErrorKind};
///
/// let mut push = SocketCore::new(SocketType::Push, SocketLimits::default());
/// // No peer yet: a bound PUSH has nowhere to put a message.
/// assert_eq!(push.send(Message::from("job")).unwrap_err().kind, SendErrorKind::WouldBlock);
/// // A connecting PUSH queues for the peer it is connecting to, as libzmq does.
/// let pipe = push.attach(Origin::Connect);
/// push.send(Message::from("job")).unwrap();
/// assert_eq!(push.pipes().get(pipe).unwrap().queued_out(), 1);
/// ```
#[derive(Debug)]
pub struct SocketCore {
    socket_type: SocketType,
    pipes: Pipes,
    pattern: Box<dyn Pattern>,
}

impl SocketCore {
    /// A socket of `socket_type` with no peers.
    pub fn new(socket_type: SocketType, limits: SocketLimits) -> Self {
        let pattern: Box<dyn Pattern> = match socket_type {
            SocketType::Pair => Box::new(simple::Pair::default()),
            SocketType::Push => Box::new(simple::Push),
            SocketType::Pull => Box::new(simple::Pull),
            SocketType::Dealer => Box::new(simple::Dealer),
            SocketType::Req => Box::new(reqrep::Req::default()),
            SocketType::Rep => Box::new(reqrep::Rep::default()),
            SocketType::Router => {
                Box::new(reqrep::Router::new(limits.router_mandatory, limits.seed))
            }
            SocketType::Pub => Box::new(pubsub::Pub::new(false)),
            SocketType::Xpub => Box::new(pubsub::Pub::new(true)),
            SocketType::Sub => Box::new(pubsub::Sub::new(true)),
            SocketType::Xsub => Box::new(pubsub::Sub::new(false)),
        };
        Self {
            socket_type,
            pipes: Pipes::new(limits),
            pattern,
        }
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        self.socket_type
    }

    /// Adds a pipe: at `connect` time for a connecting side (messages may queue in it before the
    /// connection exists), after the handshake for an accepted connection.
    pub fn attach(&mut self, origin: Origin) -> PeerId {
        self.pipes.attach(origin)
    }

    /// Records a completed handshake on `id`. Returns `false` (and emits [`Event::Close`]) if the
    /// pattern refuses the peer.
    pub fn connected(&mut self, id: PeerId, peer: PeerInfo) -> bool {
        let Some(pipe) = self.pipes.get_mut(id) else {
            return false;
        };
        pipe.set_peer(peer);
        let accepted = self.pattern.connected(&mut self.pipes, id);
        if accepted {
            self.pipes.mark_writable(id);
        } else {
            self.pipes.clear_peer(id);
            self.pipes.push_event(Event::Close(id));
        }
        accepted
    }

    /// Records that the connection of `id` was lost. A connecting pipe keeps its queued messages
    /// for the next connection (libzmq does the same); use [`detach`](Self::detach) to drop it.
    pub fn disconnected(&mut self, id: PeerId) {
        if self.pipes.get(id).is_some_and(|p| p.peer().is_some()) {
            self.pattern.disconnected(&mut self.pipes, id);
            self.pipes.clear_peer(id);
        }
    }

    /// Removes a pipe and whatever it still queues.
    pub fn detach(&mut self, id: PeerId) -> Option<Pipe> {
        if !self.pipes.contains(id) {
            return None;
        }
        self.disconnected(id);
        self.pattern.detached(&mut self.pipes, id);
        self.pipes.detach(id)
    }

    /// Sends an application message according to the pattern.
    pub fn send(&mut self, message: Message) -> Result<(), SendError> {
        self.pattern.send(&mut self.pipes, message)
    }

    /// Receives an application message according to the pattern.
    pub fn recv(&mut self) -> Result<Message, RecvError> {
        self.pattern.recv(&mut self.pipes)
    }

    /// Whether [`recv`](Self::recv) would return a message now.
    pub fn can_recv(&self) -> bool {
        self.pattern.can_recv(&self.pipes)
    }

    /// Hands over a message a peer sent. Returns `false` if the pipe's inbound queue is full: the
    /// reader should stop reading until [`Event::Readable`] for this pipe.
    pub fn inbound(&mut self, id: PeerId, message: Message) -> bool {
        if !self.pipes.contains(id) {
            return true;
        }
        self.pattern.inbound(&mut self.pipes, id, message)
    }

    /// Hands over a command a peer sent after the handshake. Subscriptions go to the pattern;
    /// anything else is ignored here (heartbeats are the connection's business).
    pub fn command(&mut self, id: PeerId, command: &Command) {
        if let Some(subscription) = Subscription::from_command(command) {
            if self.pipes.contains(id) {
                self.pattern.subscription(&mut self.pipes, id, subscription);
            }
        }
    }

    /// Subscribes (SUB, XSUB) to messages starting with `topic`. Returns `false` for other types.
    pub fn subscribe(&mut self, topic: impl Into<Bytes>) -> bool {
        self.pattern
            .subscribe(&mut self.pipes, Subscription::subscribe(topic))
    }

    /// Cancels one subscription to `topic` (SUB, XSUB).
    pub fn unsubscribe(&mut self, topic: impl Into<Bytes>) -> bool {
        self.pattern
            .subscribe(&mut self.pipes, Subscription::cancel(topic))
    }

    /// The pipes, for drivers and tests.
    pub fn pipes(&self) -> &Pipes {
        &self.pipes
    }

    /// Moves what is queued for `id` (subscriptions first, then whole messages) into `out`, up to
    /// about `max_bytes`. Returns the number of messages taken, which freed as much room under
    /// the high-water mark: a driver wakes blocked senders when it is not zero.
    pub fn drain_outgoing(
        &mut self,
        id: PeerId,
        out: &mut super::codec::WriteBuffer,
        max_bytes: usize,
    ) -> usize {
        self.pipes.drain_out(id, out, max_bytes)
    }

    /// Takes the events produced since the last call.
    pub fn take_events(&mut self) -> std::vec::Drain<'_, Event> {
        self.pipes.take_events()
    }
}
