//! The socket patterns as pure state: per-peer queues with high-water marks, the routing
//! strategies (load-balance, fair-queue, fan-out, routing by id, lock-step) and one small
//! [`Pattern`] per socket type on top of them.
//!
//! A driver owns one [`SocketCore`]: it attaches a pipe per peer, feeds it what the peer sent,
//! drains what the peer should be sent, and calls [`SocketCore::send`] and [`SocketCore::recv`]
//! for the application. The core tells the driver, through [`SocketCore::take_events`], which
//! peers have something new to write, which may read again, and which to close.

mod fair_queue;
mod load_balance;
mod pipes;
mod pubsub;
mod reqrep;
mod simple;

use bytes::Bytes;
use monocoque_core::{Message, PeerId};

pub use pipes::{Origin, PatternOptions, Pipe, Pipes, RouterNotify};

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
    /// The pattern dropped messages (see [`Pipes::dropped`]); at most one per batch of events.
    Dropped,
}

/// Why a send failed. The message is handed back in [`SendError`].
///
/// ```
/// use monocoque::{RepSocket, SendErrorKind};
///
/// let rep = RepSocket::new();
/// // A REP replies only after it has received a request.
/// let error = rep.try_send("reply").unwrap_err();
/// assert_eq!(error.kind, SendErrorKind::InvalidState);
/// assert_eq!(error.to_string(), SendErrorKind::InvalidState.to_string());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendErrorKind {
    /// No peer can take the message now (every queue at its high-water mark, or no peer at all).
    #[error("no peer can take the message now")]
    WouldBlock,
    /// No peer could take the message within the send timeout (`ZMQ_SNDTIMEO`; libzmq's
    /// `EAGAIN` after the wait).
    #[error("no peer could take the message within the send timeout")]
    TimedOut,
    /// This socket type cannot send (PULL, SUB).
    #[error("this socket type cannot send")]
    NotSupported,
    /// The pattern's state forbids a send now (REQ awaiting a reply, REP with no request).
    #[error(
        "out of turn: a REQ must receive the reply before it sends again (or set req_relaxed), \
         and a REP must receive a request before it replies"
    )]
    InvalidState,
    /// ROUTER with mandatory routing: no connected peer has this routing id.
    #[error("no peer has this routing id")]
    HostUnreachable,
    /// The message does not fit the pattern: it has no frames at all, or it is a ROUTER message
    /// without a routing id frame.
    #[error("the message does not fit the socket's pattern")]
    InvalidMessage,
    /// The socket is closed.
    #[error("the socket is closed")]
    Closed,
}

/// A failed send, with the message given back.
///
/// ```
/// use monocoque::{Message, PushSocket, SendErrorKind};
///
/// let push = PushSocket::new();
/// // No peer yet: nowhere to put the message, so it comes back with the error.
/// let error = push.try_send(Message::from("job")).unwrap_err();
/// assert_eq!(error.kind(), SendErrorKind::WouldBlock);
/// assert_eq!(error.into_message(), Message::from("job"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
#[non_exhaustive]
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

    /// What went wrong.
    pub fn kind(&self) -> SendErrorKind {
        self.kind
    }

    /// The message that was not sent, to retry or keep.
    pub fn into_message(self) -> Message {
        self.message
    }
}

/// Why a receive failed.
///
/// ```
/// use monocoque::{PullSocket, RecvError, ReqSocket};
///
/// let pull = PullSocket::new();
/// assert_eq!(pull.try_recv(), Err(RecvError::WouldBlock)); // nothing has arrived
/// assert_eq!(ReqSocket::new().try_recv(), Err(RecvError::InvalidState)); // nothing asked
/// // `recv` with a `recv_timeout` that runs out says so:
/// assert_eq!(RecvError::TimedOut.to_string(), "nothing arrived within the receive timeout");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// Nothing to receive now.
    #[error("nothing to receive now")]
    WouldBlock,
    /// Nothing arrived within the receive timeout (`ZMQ_RCVTIMEO`; libzmq's `EAGAIN` after the
    /// wait).
    #[error("nothing arrived within the receive timeout")]
    TimedOut,
    /// This socket type cannot receive (PUSH, PUB).
    #[error("this socket type cannot receive")]
    NotSupported,
    /// The pattern's state forbids a receive now (REQ before a request, REP before replying).
    #[error(
        "out of turn: a REQ must send a request before it receives, and a REP must reply \
         before it receives the next request"
    )]
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

    /// Names the peer of connecting pipe `id` before it connects (`ZMQ_CONNECT_ROUTING_ID`).
    fn reserve_routing_id(
        &mut self,
        _pipes: &mut Pipes,
        _id: PeerId,
        _routing_id: Bytes,
    ) -> Result<(), &'static str> {
        Err("only a ROUTER names the peers it connects to")
    }

    /// The application sends a message.
    fn send(&mut self, pipes: &mut Pipes, message: Message) -> Result<(), SendError>;

    /// The application asks for a message.
    fn recv(&mut self, pipes: &mut Pipes) -> Result<Message, RecvError>;

    /// A peer sent a message; queue it for the application or act on it. Returns `false` when the
    /// pipe's inbound queue is full (the reader should pause).
    fn inbound(&mut self, pipes: &mut Pipes, id: PeerId, message: Message) -> bool {
        pipes.push_in(id, message)
    }

    /// A peer sent a SUBSCRIBE or CANCEL (either form). Returns `false` when what the peer
    /// sends is queued for the application and that queue is full (the reader should pause).
    fn subscription(
        &mut self,
        _pipes: &mut Pipes,
        _id: PeerId,
        _subscription: Subscription,
    ) -> bool {
        true
    }

    /// The application changes a subscription (SUB and XSUB).
    fn subscribe(&mut self, _pipes: &mut Pipes, _subscription: Subscription) -> bool {
        false
    }

    /// Whether a message is ready for [`recv`](Self::recv) without waiting.
    fn can_recv(&self, pipes: &Pipes) -> bool {
        pipes.has_input()
    }

    /// Checks the pattern's own bookkeeping against the pipes.
    fn check_invariants(&self, _pipes: &Pipes) -> Result<(), String> {
        Ok(())
    }
}

/// The state of one socket: its pipes and its pattern.
///
/// ```
/// use monocoque_core::Message;
/// use monocoque_zmtp::proto::{Origin, SocketCore, PatternOptions, SocketType, SendErrorKind};
///
/// let mut push = SocketCore::new(SocketType::Push, PatternOptions::default());
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
    pub fn new(socket_type: SocketType, options: PatternOptions) -> Self {
        let pattern: Box<dyn Pattern> = match socket_type {
            SocketType::Pair => Box::new(simple::Pair::default()),
            SocketType::Push => Box::new(simple::Push),
            SocketType::Pull => Box::new(simple::Pull),
            SocketType::Dealer => Box::new(simple::Dealer),
            SocketType::Req => Box::new(reqrep::Req::new(options.seed)),
            SocketType::Rep => Box::new(reqrep::Rep::default()),
            SocketType::Router => Box::new(reqrep::Router::new(options.seed)),
            SocketType::Pub => Box::new(pubsub::Pub::new(false)),
            SocketType::Xpub => Box::new(pubsub::Pub::new(true)),
            SocketType::Sub => Box::new(pubsub::Sub::new(true)),
            SocketType::Xsub => Box::new(pubsub::Sub::new(false)),
        };
        Self {
            socket_type,
            pipes: Pipes::new(options),
            pattern,
        }
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        self.socket_type
    }

    /// The options in force.
    pub fn options(&self) -> &PatternOptions {
        self.pipes.options()
    }

    /// Changes options on a live socket. High-water marks apply to pipes created afterwards, as
    /// in libzmq; switches apply from the next message.
    pub fn set_options(&mut self, options: PatternOptions) {
        self.pipes.set_options(options);
    }

    /// Adds a pipe: at `connect` time for a connecting side (messages may queue in it before the
    /// connection exists), after the handshake for an accepted connection.
    pub fn attach(&mut self, origin: Origin) -> PeerId {
        self.pipes.attach(origin)
    }

    /// Adds a connecting pipe whose peer a ROUTER knows by `routing_id` instead of the identity
    /// the peer announces (`ZMQ_CONNECT_ROUTING_ID`). The id is taken at once: messages sent to
    /// it queue for the connection, and it stays with the pipe across reconnections. Refused
    /// (nothing attached) with the reason when the socket is not a ROUTER or the id is invalid
    /// (1 to 255 bytes, not starting with a zero byte) or in use.
    ///
    /// ```
    /// use monocoque::bytes::Bytes;
    /// use monocoque_core::Message;
    /// use monocoque_zmtp::proto::{PatternOptions, SocketCore, SocketType};
    ///
    /// let mut router = SocketCore::new(SocketType::Router, PatternOptions::default());
    /// let id = router.attach_with_routing_id(Bytes::from("backend")).unwrap();
    /// router.send(Message::from("backend").with("queued until it connects")).unwrap();
    /// assert_eq!(router.pipes().get(id).unwrap().queued_out(), 1);
    /// assert!(router.attach_with_routing_id(Bytes::from("backend")).is_err());
    /// ```
    pub fn attach_with_routing_id(&mut self, routing_id: Bytes) -> Result<PeerId, &'static str> {
        let id = self.pipes.attach(Origin::Connect);
        match self
            .pattern
            .reserve_routing_id(&mut self.pipes, id, routing_id)
        {
            Ok(()) => Ok(id),
            Err(reason) => {
                self.pipes.detach(id);
                Err(reason)
            }
        }
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

    /// Removes a pipe. Messages it has received and the application has not read yet stay
    /// readable (libzmq delivers them too); the pipe goes away once they are read. What it
    /// still had to send is dropped.
    pub fn detach(&mut self, id: PeerId) {
        if !self.pipes.contains(id) {
            return;
        }
        self.disconnected(id);
        self.pattern.detached(&mut self.pipes, id);
        self.pipes.detach(id);
    }

    /// Sends an application message according to the pattern. A message of no frames is
    /// refused with [`SendErrorKind::InvalidMessage`]: ZMTP has no way to carry it (libzmq's
    /// smallest message is one empty frame), so it would vanish.
    #[inline]
    pub fn send(&mut self, message: Message) -> Result<(), SendError> {
        if message.is_empty() {
            return Err(SendError::new(SendErrorKind::InvalidMessage, message));
        }
        self.pattern.send(&mut self.pipes, message)
    }

    /// Receives an application message according to the pattern.
    #[inline]
    pub fn recv(&mut self) -> Result<Message, RecvError> {
        self.pattern.recv(&mut self.pipes)
    }

    /// Whether [`recv`](Self::recv) would return a message now.
    pub fn can_recv(&self) -> bool {
        self.pattern.can_recv(&self.pipes)
    }

    /// Hands over a message a peer sent. Returns `false` if the pipe's inbound queue is full: the
    /// reader should stop reading until [`Event::Readable`] for this pipe.
    #[inline]
    pub fn inbound(&mut self, id: PeerId, message: Message) -> bool {
        if !self.pipes.contains(id) {
            return true;
        }
        self.pattern.inbound(&mut self.pipes, id, message)
    }

    /// Hands over a command a peer sent after the handshake. Subscriptions go to the pattern;
    /// anything else is ignored here (heartbeats are the connection's business). Returns `false`
    /// when the reader should pause, as [`inbound`](Self::inbound).
    pub fn command(&mut self, id: PeerId, command: &Command) -> bool {
        match Subscription::from_command(command) {
            Some(subscription) => self.subscription(id, subscription),
            None => true,
        }
    }

    /// Hands over a SUBSCRIBE or CANCEL a peer sent. Returns `false` when the reader should
    /// pause until [`Event::Readable`] (an XPUB whose application has not read what its
    /// subscribers sent).
    pub fn subscription(&mut self, id: PeerId, subscription: Subscription) -> bool {
        if !self.pipes.contains(id) {
            return true;
        }
        self.pattern.subscription(&mut self.pipes, id, subscription)
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

    /// Takes what is queued for `id` without encoding it, for a peer in the same process:
    /// subscriptions into `subscriptions`, up to `max` messages into `messages`. The messages
    /// still count against the send high-water mark until
    /// [`settle_outgoing`](Self::settle_outgoing) says the peer has queued them, so that both
    /// sides together hold what both high-water marks allow (libzmq's `inproc` semantics).
    /// Returns the number of messages taken.
    ///
    /// ```
    /// use monocoque_core::Message;
    /// use monocoque_zmtp::proto::{Origin, PatternOptions, PeerInfo, SocketCore, SocketType};
    ///
    /// let options = PatternOptions { send_hwm: 2, ..PatternOptions::default() };
    /// let mut push = SocketCore::new(SocketType::Push, options);
    /// let id = push.attach(Origin::Connect);
    /// push.connected(id, PeerInfo::new(SocketType::Pull));
    /// push.send(Message::from("a")).unwrap();
    /// push.send(Message::from("b")).unwrap();
    /// let (mut subscriptions, mut messages) = (Vec::new(), Vec::new());
    /// assert_eq!(push.take_outgoing(id, 10, &mut subscriptions, &mut messages), 2);
    /// // Taken but not settled: still at the high-water mark.
    /// assert!(push.send(Message::from("c")).is_err());
    /// push.settle_outgoing(id, 2);
    /// assert!(push.send(Message::from("c")).is_ok());
    /// ```
    pub fn take_outgoing(
        &mut self,
        id: PeerId,
        max: usize,
        subscriptions: &mut Vec<Subscription>,
        messages: &mut Vec<Message>,
    ) -> usize {
        self.pipes.take_out(id, max, subscriptions, messages)
    }

    /// Uncounts `n` messages taken by [`take_outgoing`](Self::take_outgoing) that the peer has
    /// queued. Returns how many were uncounted; a driver wakes blocked senders when it is not
    /// zero.
    pub fn settle_outgoing(&mut self, id: PeerId, n: usize) -> usize {
        self.pipes.settle_out(id, n)
    }

    /// Puts back, first in the queue and in their order, messages taken by
    /// [`take_outgoing`](Self::take_outgoing) that a peer which went away never queued: a
    /// connecting pipe sends them to the next peer instead of losing them.
    pub fn reclaim_outgoing(&mut self, id: PeerId, messages: Vec<Message>) {
        self.pipes.reclaim_out(id, messages);
    }

    /// Whether there are events to take.
    pub fn has_events(&self) -> bool {
        self.pipes.has_events()
    }

    /// Checks that the bookkeeping agrees with the queues (counts equal queue lengths, every
    /// pipe with input has exactly one fair-queue turn, a ROUTER's routing ids name live pipes).
    /// For tests, fuzzing and debug assertions; the error says what disagrees.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        self.pipes.check_invariants()?;
        self.pattern.check_invariants(&self.pipes)
    }

    /// Takes the events produced since the last call.
    pub fn take_events(&mut self) -> std::vec::Drain<'_, Event> {
        self.pipes.take_events()
    }
}

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};

    use super::*;
    use crate::proto::{Inbound, MessageDecoder, WriteBuffer};

    fn peer(socket_type: SocketType, identity: Option<&str>) -> PeerInfo {
        let peer = PeerInfo::new(socket_type);
        match identity {
            Some(identity) => peer.with_identity(Bytes::copy_from_slice(identity.as_bytes())),
            None => peer,
        }
    }

    fn core(socket_type: SocketType, limits: PatternOptions) -> SocketCore {
        SocketCore::new(socket_type, limits)
    }

    fn connect(core: &mut SocketCore, peer_type: SocketType, identity: Option<&str>) -> PeerId {
        let id = core.attach(Origin::Accept);
        assert!(core.connected(id, peer(peer_type, identity)));
        id
    }

    /// Everything queued for `id`, decoded as the peer would see it.
    fn written(core: &mut SocketCore, id: PeerId) -> Vec<Inbound> {
        let mut out = WriteBuffer::new();
        core.drain_outgoing(id, &mut out, usize::MAX);
        let mut buf: BytesMut = out.take_contiguous();
        let mut decoder = MessageDecoder::new(None);
        let mut got = Vec::new();
        while let Some(item) = decoder.decode(&mut buf).unwrap() {
            got.push(item);
        }
        got
    }

    fn messages(core: &mut SocketCore, id: PeerId) -> Vec<Message> {
        written(core, id)
            .into_iter()
            .filter_map(|i| match i {
                Inbound::Message(m) => Some(m),
                Inbound::Command(_) => None,
            })
            .collect()
    }

    fn msg(parts: &[&str]) -> Message {
        parts
            .iter()
            .map(|p| Bytes::copy_from_slice(p.as_bytes()))
            .collect()
    }

    #[test]
    fn push_round_robins_and_skips_full_peers() {
        let mut push = core(
            SocketType::Push,
            PatternOptions {
                send_hwm: 2,
                ..PatternOptions::default()
            },
        );
        let ids: Vec<_> = (0..3)
            .map(|_| connect(&mut push, SocketType::Pull, None))
            .collect();
        for i in 0..6 {
            push.send(msg(&[&i.to_string()])).unwrap();
        }
        // Every queue is at its mark now.
        assert_eq!(
            push.send(msg(&["x"])).unwrap_err().kind,
            SendErrorKind::WouldBlock
        );
        assert_eq!(messages(&mut push, ids[0]), vec![msg(&["0"]), msg(&["3"])]);
        // Only the drained peer has room.
        push.send(msg(&["6"])).unwrap();
        push.send(msg(&["7"])).unwrap();
        assert_eq!(
            push.send(msg(&["8"])).unwrap_err().kind,
            SendErrorKind::WouldBlock
        );
        assert_eq!(messages(&mut push, ids[0]), vec![msg(&["6"]), msg(&["7"])]);
        assert_eq!(messages(&mut push, ids[1]), vec![msg(&["1"]), msg(&["4"])]);
        assert_eq!(push.recv(), Err(RecvError::NotSupported));
    }

    #[test]
    fn pull_fair_queues_and_pauses_a_full_reader() {
        let mut pull = core(
            SocketType::Pull,
            PatternOptions {
                recv_hwm: 2,
                ..PatternOptions::default()
            },
        );
        let a = connect(&mut pull, SocketType::Push, None);
        let b = connect(&mut pull, SocketType::Push, None);
        assert!(pull.inbound(a, msg(&["a1"])));
        assert!(
            !pull.inbound(a, msg(&["a2"])),
            "a's queue is full: its reader pauses"
        );
        assert!(pull.inbound(b, msg(&["b1"])));
        let _ = pull.take_events().count();
        let order: Vec<_> = std::iter::from_fn(|| pull.recv().ok()).collect();
        assert_eq!(order, vec![msg(&["a1"]), msg(&["b1"]), msg(&["a2"])]);
        assert!(pull.take_events().any(|e| e == Event::Readable(a)));
        assert_eq!(
            pull.send(msg(&["x"])).unwrap_err().kind,
            SendErrorKind::NotSupported
        );
    }

    #[test]
    fn req_is_lock_step_and_listens_only_to_its_peer() {
        let mut req = core(SocketType::Req, PatternOptions::default());
        let a = connect(&mut req, SocketType::Rep, None);
        let b = connect(&mut req, SocketType::Rep, None);
        assert_eq!(req.recv(), Err(RecvError::InvalidState));
        req.send(msg(&["q1"])).unwrap();
        let again = req.send(msg(&["q2"])).unwrap_err();
        assert_eq!(
            (again.kind, again.message),
            (SendErrorKind::InvalidState, msg(&["q2"]))
        );
        assert_eq!(messages(&mut req, a), vec![msg(&["", "q1"])]);
        // A reply from the other peer, and one without a delimiter, are dropped.
        req.inbound(b, msg(&["", "wrong peer"]));
        req.inbound(a, msg(&["no delimiter"]));
        req.inbound(a, msg(&["", "r1"]));
        req.inbound(a, msg(&["", "duplicate"]));
        assert_eq!(req.recv(), Ok(msg(&["r1"])));
        // Round robin: the next request goes to b; a's duplicate answer is gone.
        req.send(msg(&["q2"])).unwrap();
        assert_eq!(messages(&mut req, b), vec![msg(&["", "q2"])]);
        assert_eq!(req.recv(), Err(RecvError::WouldBlock));
    }

    #[test]
    fn rep_replies_along_the_envelope() {
        let mut rep = core(SocketType::Rep, PatternOptions::default());
        let a = connect(&mut rep, SocketType::Dealer, None);
        assert_eq!(
            rep.send(msg(&["early"])).unwrap_err().kind,
            SendErrorKind::InvalidState
        );
        rep.inbound(a, msg(&["no delimiter"]));
        rep.inbound(a, msg(&["hop1", "hop2", "", "body", "more"]));
        assert_eq!(rep.recv(), Ok(msg(&["body", "more"])));
        assert_eq!(rep.recv(), Err(RecvError::InvalidState));
        rep.send(msg(&["reply"])).unwrap();
        assert_eq!(
            messages(&mut rep, a),
            vec![msg(&["hop1", "hop2", "", "reply"])]
        );
    }

    #[test]
    fn router_routes_by_identity_and_generated_ids() {
        let mut router = core(
            SocketType::Router,
            PatternOptions {
                seed: 7,
                ..PatternOptions::default()
            },
        );
        let named = connect(&mut router, SocketType::Dealer, Some("alice"));
        let anonymous = connect(&mut router, SocketType::Dealer, None);
        let generated = router.pipes().get(anonymous).unwrap().routing_id().clone();
        assert_eq!(&generated[..], &[0, 0, 0, 0, 7]);
        router.inbound(named, msg(&["hi"]));
        assert_eq!(router.recv(), Ok(msg(&["alice", "hi"])));
        router.send(msg(&["alice", "to alice"])).unwrap();
        let mut to_anon = Message::single(generated);
        to_anon.push("to anon");
        router.send(to_anon).unwrap();
        assert_eq!(messages(&mut router, named), vec![msg(&["to alice"])]);
        assert_eq!(messages(&mut router, anonymous), vec![msg(&["to anon"])]);
        // Unknown ids are dropped silently (and counted); a clashing identity is refused.
        router.send(msg(&["bob", "lost"])).unwrap();
        assert_eq!(router.pipes().dropped(), 1);
        let clash = router.attach(Origin::Accept);
        assert!(!router.connected(clash, peer(SocketType::Dealer, Some("alice"))));
        assert!(router.take_events().any(|e| e == Event::Close(clash)));
        assert_eq!(
            router.send(Message::new()).unwrap_err().kind,
            SendErrorKind::InvalidMessage
        );
    }

    #[test]
    fn mandatory_router_hands_back_what_it_cannot_route() {
        let limits = PatternOptions {
            router_mandatory: true,
            send_hwm: 1,
            ..PatternOptions::default()
        };
        let mut router = core(SocketType::Router, limits);
        connect(&mut router, SocketType::Dealer, Some("a"));
        let error = router.send(msg(&["nobody", "x"])).unwrap_err();
        assert_eq!(
            (error.kind, error.message),
            (SendErrorKind::HostUnreachable, msg(&["nobody", "x"]))
        );
        router.send(msg(&["a", "1"])).unwrap();
        let error = router.send(msg(&["a", "2"])).unwrap_err();
        assert_eq!(
            (error.kind, error.message),
            (SendErrorKind::WouldBlock, msg(&["a", "2"]))
        );
    }

    #[test]
    fn pub_fans_out_by_prefix_and_drops_for_full_subscribers() {
        let mut publisher = core(
            SocketType::Pub,
            PatternOptions {
                send_hwm: 1,
                ..PatternOptions::default()
            },
        );
        let weather = connect(&mut publisher, SocketType::Sub, None);
        let all = connect(&mut publisher, SocketType::Sub, None);
        publisher.command(weather, &Command::Subscribe("weather".into()));
        // A libzmq SUB repeats subscribes and cancels once: per peer a topic is on or off.
        publisher.command(weather, &Command::Subscribe("weather".into()));
        publisher.command(all, &Command::Subscribe(Bytes::new()));
        publisher.send(msg(&["weather.paris", "sun"])).unwrap();
        assert!(!publisher.take_events().any(|e| e == Event::Dropped));
        publisher.send(msg(&["sports"])).unwrap();
        publisher.send(msg(&["sports"])).unwrap();
        // Two drops, one event for the driver until it takes the events.
        assert_eq!(
            publisher
                .take_events()
                .filter(|e| *e == Event::Dropped)
                .count(),
            1
        );
        assert_eq!(
            messages(&mut publisher, weather),
            vec![msg(&["weather.paris", "sun"])]
        );
        // `all` had room for one message only: the second was dropped, not blocked on.
        assert_eq!(
            messages(&mut publisher, all),
            vec![msg(&["weather.paris", "sun"])]
        );
        assert_eq!(publisher.pipes().dropped(), 2);
        publisher.command(weather, &Command::Cancel("weather".into()));
        publisher.send(msg(&["weather.rome"])).unwrap();
        assert!(messages(&mut publisher, weather).is_empty());
        assert_eq!(publisher.recv(), Err(RecvError::NotSupported));
    }

    #[test]
    fn pub_with_nodrop_refuses_what_a_full_subscriber_would_miss() {
        let limits = PatternOptions {
            send_hwm: 1,
            xpub_nodrop: true,
            ..PatternOptions::default()
        };
        for socket_type in [SocketType::Pub, SocketType::Xpub] {
            let mut publisher = core(socket_type, limits.clone());
            let slow = connect(&mut publisher, SocketType::Sub, None);
            let other = connect(&mut publisher, SocketType::Sub, None);
            publisher.command(slow, &Command::Subscribe("a".into()));
            publisher.command(other, &Command::Subscribe(Bytes::new()));
            publisher.send(msg(&["a1"])).unwrap();
            // `slow` is full: a message it matches is handed back, to nobody at all.
            let error = publisher.send(msg(&["a2"])).unwrap_err();
            assert_eq!(
                (error.kind(), error.into_message()),
                (SendErrorKind::WouldBlock, msg(&["a2"]))
            );
            // One it does not match still goes once `other` has room.
            assert_eq!(messages(&mut publisher, other), vec![msg(&["a1"])]);
            publisher.send(msg(&["b1"])).unwrap();
            assert_eq!(messages(&mut publisher, other), vec![msg(&["b1"])]);
            // Once `slow` is drained, the refused message goes to both.
            assert_eq!(messages(&mut publisher, slow), vec![msg(&["a1"])]);
            publisher.send(msg(&["a2"])).unwrap();
            assert_eq!(messages(&mut publisher, slow), vec![msg(&["a2"])]);
            assert_eq!(messages(&mut publisher, other), vec![msg(&["a2"])]);
            publisher.check_invariants().unwrap();
        }
    }

    #[test]
    fn xpub_reports_first_subscribe_and_last_cancel() {
        let mut xpub = core(SocketType::Xpub, PatternOptions::default());
        let a = connect(&mut xpub, SocketType::Sub, None);
        let b = connect(&mut xpub, SocketType::Sub, None);
        xpub.command(a, &Command::Subscribe("t".into()));
        xpub.command(b, &Command::Subscribe("t".into()));
        // The ZMTP 3.0 message form counts too.
        xpub.inbound(b, Message::single(Bytes::from_static(b"\x01u")));
        xpub.command(a, &Command::Cancel("t".into()));
        xpub.detach(b);
        let seen: Vec<_> = std::iter::from_fn(|| xpub.recv().ok()).collect();
        let expected: Vec<Message> = [&b"\x01t"[..], b"\x01u", b"\x00t", b"\x00u"]
            .into_iter()
            .map(|f| Message::single(Bytes::from_static(f)))
            .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn sub_replays_filters_and_cancels_on_the_last_unsubscribe() {
        let mut sub = core(SocketType::Sub, PatternOptions::default());
        sub.subscribe("a");
        sub.subscribe("a");
        let publisher = connect(&mut sub, SocketType::Pub, None);
        assert_eq!(
            written(&mut sub, publisher),
            vec![Inbound::Command(Command::Subscribe("a".into()).to_bytes())]
        );
        sub.unsubscribe("a");
        assert!(
            written(&mut sub, publisher).is_empty(),
            "one subscription to a remains"
        );
        sub.inbound(publisher, msg(&["abc"]));
        sub.inbound(publisher, msg(&["xyz"]));
        assert_eq!(sub.recv(), Ok(msg(&["abc"])));
        assert_eq!(sub.recv(), Err(RecvError::WouldBlock));
        sub.unsubscribe("a");
        assert_eq!(
            written(&mut sub, publisher),
            vec![Inbound::Command(Command::Cancel("a".into()).to_bytes())]
        );
        assert_eq!(
            sub.send(msg(&["x"])).unwrap_err().kind,
            SendErrorKind::NotSupported
        );
    }

    #[test]
    fn xsub_subscribes_by_message_and_forwards_the_rest() {
        let mut xsub = core(SocketType::Xsub, PatternOptions::default());
        let publisher = connect(&mut xsub, SocketType::Pub, None);
        xsub.send(Message::single(Bytes::from_static(b"\x01news")))
            .unwrap();
        xsub.send(msg(&["upstream", "data"])).unwrap();
        assert_eq!(
            written(&mut xsub, publisher),
            vec![
                Inbound::Command(Command::Subscribe("news".into()).to_bytes()),
                Inbound::Message(msg(&["upstream", "data"]))
            ]
        );
        // XSUB does not filter what arrives.
        xsub.inbound(publisher, msg(&["other"]));
        assert_eq!(xsub.recv(), Ok(msg(&["other"])));
    }

    #[test]
    fn pair_takes_one_peer_at_a_time() {
        let mut pair = core(SocketType::Pair, PatternOptions::default());
        assert_eq!(
            pair.send(msg(&["x"])).unwrap_err().kind,
            SendErrorKind::WouldBlock
        );
        let first = connect(&mut pair, SocketType::Pair, None);
        let second = pair.attach(Origin::Accept);
        assert!(!pair.connected(second, peer(SocketType::Pair, None)));
        pair.detach(second);
        pair.send(msg(&["to first"])).unwrap();
        assert_eq!(messages(&mut pair, first), vec![msg(&["to first"])]);
        pair.detach(first);
        let third = connect(&mut pair, SocketType::Pair, None);
        pair.send(msg(&["to third"])).unwrap();
        assert_eq!(messages(&mut pair, third), vec![msg(&["to third"])]);
    }

    #[test]
    fn a_detached_pipe_delivers_what_it_received_then_goes() {
        let mut pull = core(SocketType::Pull, PatternOptions::default());
        let gone = connect(&mut pull, SocketType::Push, None);
        pull.inbound(gone, msg(&["1"]));
        pull.inbound(gone, msg(&["2"]));
        pull.detach(gone);
        assert!(
            pull.pipes().ids().is_empty(),
            "out of every routing decision"
        );
        assert_eq!(pull.recv(), Ok(msg(&["1"])));
        assert_eq!(pull.recv(), Ok(msg(&["2"])));
        assert!(!pull.pipes().contains(gone), "removed once read");
        assert_eq!(pull.recv(), Err(RecvError::WouldBlock));
    }

    #[test]
    fn connecting_pipes_queue_before_and_across_connections() {
        let mut dealer = core(
            SocketType::Dealer,
            PatternOptions {
                send_hwm: 3,
                ..PatternOptions::default()
            },
        );
        let id = dealer.attach(Origin::Connect);
        for i in 0..3 {
            dealer.send(msg(&[&i.to_string()])).unwrap();
        }
        assert_eq!(
            dealer.send(msg(&["full"])).unwrap_err().kind,
            SendErrorKind::WouldBlock
        );
        // Nothing is written before the handshake.
        assert!(messages(&mut dealer, id).is_empty());
        assert!(dealer.connected(id, peer(SocketType::Router, None)));
        assert_eq!(messages(&mut dealer, id).len(), 3);
        dealer.disconnected(id);
        dealer.send(msg(&["while away"])).unwrap();
        assert!(dealer.connected(id, peer(SocketType::Router, None)));
        assert_eq!(messages(&mut dealer, id), vec![msg(&["while away"])]);
    }

    #[test]
    fn a_message_of_no_frames_is_refused_not_lost() {
        for socket_type in SocketType::ALL {
            let mut core = core(socket_type, PatternOptions::default());
            let _ = core.attach(Origin::Connect);
            let error = core.send(Message::new()).unwrap_err();
            assert_eq!(error.kind, SendErrorKind::InvalidMessage, "{socket_type}");
            core.check_invariants().unwrap();
        }
    }

    #[test]
    fn a_departed_router_peer_keeps_its_id_on_every_message() {
        let mut router = core(SocketType::Router, PatternOptions::default());
        let dealer = connect(&mut router, SocketType::Dealer, Some("dealer"));
        for i in 0..3 {
            router.inbound(dealer, msg(&[&i.to_string()]));
        }
        router.detach(dealer);
        for i in 0..3 {
            // The last read removes the pipe; its message must still carry the id.
            assert_eq!(router.recv(), Ok(msg(&["dealer", &i.to_string()])));
            router.check_invariants().unwrap();
        }
        assert!(!router.pipes().contains(dealer));
    }

    #[test]
    fn a_full_queue_carried_across_a_reconnection_keeps_its_count() {
        let mut pull = core(
            SocketType::Pull,
            PatternOptions {
                recv_hwm: 2,
                ..PatternOptions::default()
            },
        );
        let id = pull.attach(Origin::Connect);
        assert!(pull.connected(id, peer(SocketType::Push, None)));
        assert!(pull.inbound(id, msg(&["1"])));
        assert!(!pull.inbound(id, msg(&["2"])), "full: pause");
        pull.disconnected(id);
        // The next connection's reader delivers what it had already decoded.
        assert!(pull.connected(id, peer(SocketType::Push, None)));
        assert!(!pull.inbound(id, msg(&["3"])));
        assert!(!pull.inbound(id, msg(&["4"])));
        pull.check_invariants().unwrap();
        for i in 1..=4 {
            assert_eq!(pull.recv(), Ok(msg(&[&i.to_string()])));
            pull.check_invariants().unwrap();
        }
        assert!(!pull.pipes().get(id).unwrap().is_reader_paused());
        assert!(pull.inbound(id, msg(&["5"])));
    }

    #[test]
    fn turning_conflate_on_for_a_live_socket_keeps_the_counts() {
        let mut dealer = core(SocketType::Dealer, PatternOptions::default());
        let id = connect(&mut dealer, SocketType::Dealer, None);
        for i in 0..5 {
            dealer.send(msg(&[&i.to_string()])).unwrap();
            dealer.inbound(id, msg(&[&i.to_string()]));
        }
        dealer.set_options(PatternOptions {
            conflate: true,
            ..PatternOptions::default()
        });
        dealer.send(msg(&["newest"])).unwrap();
        dealer.inbound(id, msg(&["newest"]));
        dealer.check_invariants().unwrap();
        assert_eq!(messages(&mut dealer, id), vec![msg(&["newest"])]);
        assert_eq!(dealer.recv(), Ok(msg(&["newest"])));
        dealer.check_invariants().unwrap();
    }
}
