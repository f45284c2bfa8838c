//! Per-peer queues (pipes) with their high-water marks, and the two routing strategies every
//! pattern is built from applied to them: [load-balancing](super::load_balance) over pipes that
//! can take a message, and [fair-queuing](super::fair_queue) over pipes that have one.

use std::collections::VecDeque;

use bytes::Bytes;
use monocoque_core::{HighWaterMark, Message, PeerId, PeerTable};

use super::Event;
use super::fair_queue::FairQueue;
use super::load_balance::LoadBalance;
use crate::proto::codec::WriteBuffer;
use crate::proto::command::Subscription;
use crate::proto::greeting::Version;
use crate::proto::handshake::PeerInfo;

/// The limits and switches of a [`SocketCore`](super::SocketCore): libzmq's socket options that
/// shape routing, each named after its `ZMQ_*` option.
///
/// ```
/// use monocoque_zmtp::proto::PatternOptions;
/// let options = PatternOptions { send_hwm: 10, ..PatternOptions::default() };
/// assert_eq!(options.recv_hwm, 1000);
/// assert!(!options.conflate);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternOptions {
    /// `ZMQ_SNDHWM`: messages queued per peer for sending (0 is unlimited).
    pub send_hwm: usize,
    /// `ZMQ_RCVHWM`: messages queued per peer after receiving (0 is unlimited).
    pub recv_hwm: usize,
    /// `ZMQ_IMMEDIATE`: queue only for peers whose connection is up.
    pub immediate: bool,
    /// `ZMQ_CONFLATE`: keep only the newest message in each queue.
    pub conflate: bool,
    /// `ZMQ_ROUTER_MANDATORY`: fail a ROUTER send to an unknown or full peer instead of dropping.
    pub router_mandatory: bool,
    /// `ZMQ_ROUTER_HANDOVER`: a new ROUTER peer with a known identity takes it over.
    pub router_handover: bool,
    /// `ZMQ_PROBE_ROUTER`: send an empty message to each new peer (ROUTER, DEALER, REQ).
    pub probe_router: bool,
    /// `ZMQ_REQ_CORRELATE`: REQ tags requests with an id and accepts only the matching reply.
    pub req_correlate: bool,
    /// `ZMQ_REQ_RELAXED`: REQ may send a new request before the reply to the last one.
    pub req_relaxed: bool,
    /// `ZMQ_XPUB_VERBOSE`: XPUB passes every subscribe to the application, not only new ones.
    pub xpub_verbose: bool,
    /// `ZMQ_XPUB_VERBOSER`: XPUB also passes every cancel.
    pub xpub_verboser: bool,
    /// `ZMQ_XPUB_MANUAL`: XPUB leaves subscriptions to the application.
    pub xpub_manual: bool,
    /// `ZMQ_XPUB_WELCOME_MSG`: sent by XPUB to each new subscriber.
    pub xpub_welcome: Option<Bytes>,
    /// `ZMQ_XSUB_VERBOSE_UNSUBSCRIBE`: XSUB forwards every cancel, not only the last.
    pub xsub_verbose_unsubscribe: bool,
    /// `ZMQ_INVERT_MATCHING`: PUB/XPUB send to, and SUB keeps, what does *not* match.
    pub invert_matching: bool,
    /// `ZMQ_XPUB_NODROP`: PUB/XPUB refuse a message (`WouldBlock`) that a matching subscriber
    /// at its high-water mark would miss.
    pub xpub_nodrop: bool,
    /// `ZMQ_ROUTER_NOTIFY`: ROUTER hands the application a message for each peer that connects
    /// or disconnects.
    pub router_notify: RouterNotify,
    /// Seed for generated routing ids and request ids, so that tests are reproducible.
    pub seed: u32,
}

/// The peer events a ROUTER reports to the application (`ZMQ_ROUTER_NOTIFY`), as a message of
/// the peer's routing id and an empty frame.
///
/// ```
/// use monocoque::RouterNotify;
///
/// let both = RouterNotify::CONNECT | RouterNotify::DISCONNECT;
/// assert!(both.contains(RouterNotify::DISCONNECT));
/// assert!(!RouterNotify::NONE.contains(RouterNotify::CONNECT));
/// assert_eq!(both.bits(), 3); // ZMQ_NOTIFY_CONNECT | ZMQ_NOTIFY_DISCONNECT
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RouterNotify(u8);

impl RouterNotify {
    /// No notifications (libzmq's default).
    pub const NONE: Self = Self(0);
    /// `ZMQ_NOTIFY_CONNECT`: a peer completed its handshake.
    pub const CONNECT: Self = Self(1);
    /// `ZMQ_NOTIFY_DISCONNECT`: a peer's connection ended.
    pub const DISCONNECT: Self = Self(2);

    /// Whether every notification in `other` is in `self`.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// libzmq's integer value.
    pub fn bits(self) -> u8 {
        self.0
    }
}

impl std::ops::BitOr for RouterNotify {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

impl Default for PatternOptions {
    fn default() -> Self {
        Self {
            send_hwm: HighWaterMark::DEFAULT_LIMIT,
            recv_hwm: HighWaterMark::DEFAULT_LIMIT,
            immediate: false,
            conflate: false,
            router_mandatory: false,
            router_handover: false,
            probe_router: false,
            req_correlate: false,
            req_relaxed: false,
            xpub_verbose: false,
            xpub_verboser: false,
            xpub_manual: false,
            xpub_welcome: None,
            xsub_verbose_unsubscribe: false,
            invert_matching: false,
            xpub_nodrop: false,
            router_notify: RouterNotify::NONE,
            seed: 0,
        }
    }
}

/// How a pipe came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Created by `connect`: exists before its connection and survives reconnections.
    Connect,
    /// Created for an accepted connection once its handshake completed; gone when it closes.
    Accept,
}

/// The queues of one peer.
#[derive(Debug)]
pub struct Pipe {
    origin: Origin,
    peer: Option<PeerInfo>,
    routing_id: Bytes,
    subscriptions: VecDeque<Subscription>,
    out: VecDeque<Message>,
    out_hwm: HighWaterMark,
    inbound: VecDeque<Message>,
    in_hwm: HighWaterMark,
    /// Messages taken by [`Pipes::take_out`] that still count against the send high-water mark
    /// until the peer settles them.
    in_transit: usize,
    /// Detached, kept only until the application has read what it received.
    draining: bool,
}

impl Pipe {
    /// How the pipe came to be.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The connected peer, if a connection is up.
    pub fn peer(&self) -> Option<&PeerInfo> {
        self.peer.as_ref()
    }

    /// The routing id a ROUTER knows this peer by (empty for other types).
    pub fn routing_id(&self) -> &Bytes {
        &self.routing_id
    }

    /// Messages waiting to be written.
    pub fn queued_out(&self) -> usize {
        self.out.len()
    }

    /// Messages received and not yet taken by the application.
    pub fn queued_in(&self) -> usize {
        self.inbound.len()
    }

    /// Whether anything (a message or a subscription) waits to be written.
    pub fn has_outgoing(&self) -> bool {
        !self.out.is_empty() || !self.subscriptions.is_empty()
    }

    /// Whether the reader of this pipe was told to pause because its inbound queue is full.
    pub fn is_reader_paused(&self) -> bool {
        self.in_hwm.is_writer_blocked()
    }

    /// Whether the send queue is at its high-water mark.
    pub fn is_full(&self) -> bool {
        self.out_hwm.is_full()
    }

    pub(crate) fn set_peer(&mut self, peer: PeerInfo) {
        self.peer = Some(peer);
    }

    pub(crate) fn set_routing_id(&mut self, id: Bytes) {
        self.routing_id = id;
    }

    fn version(&self) -> Version {
        self.peer.as_ref().map_or(Version::V3_1, |p| p.version)
    }
}

/// Every pipe of a socket, in attach order, with the load-balancing cursor and the fair-queue of
/// pipes that have input.
#[derive(Debug)]
pub struct Pipes {
    table: PeerTable<Pipe>,
    rotation: LoadBalance,
    with_input: FairQueue,
    events: Vec<Event>,
    options: PatternOptions,
    /// Messages the pattern dropped: for a peer at its high-water mark, or for none at all.
    dropped: u64,
    /// An `Event::Dropped` waits in `events`.
    drop_told: bool,
}

impl Pipes {
    pub(crate) fn new(options: PatternOptions) -> Self {
        Self {
            table: PeerTable::new(),
            rotation: LoadBalance::default(),
            with_input: FairQueue::default(),
            events: Vec::new(),
            options,
            dropped: 0,
            drop_told: false,
        }
    }

    /// Counts a message the pattern dropped instead of queueing it, and tells the driver once
    /// per batch of events.
    #[inline]
    pub(crate) fn count_drop(&mut self) {
        if !self.drop_told {
            self.drop_told = true;
            self.events.push(Event::Dropped);
        }
        self.dropped += 1;
    }

    /// How many messages the socket dropped since it was created, as its pattern has it: PUB and
    /// XPUB for a subscriber at its high-water mark, ROUTER for a full or unknown peer, REP for a
    /// requester that is full or gone, XSUB for a full publisher.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub(crate) fn attach(&mut self, origin: Origin) -> PeerId {
        let id = self.table.insert(Pipe {
            origin,
            peer: None,
            routing_id: Bytes::new(),
            subscriptions: VecDeque::new(),
            out: VecDeque::new(),
            out_hwm: HighWaterMark::from_option_value(self.options.send_hwm),
            inbound: VecDeque::new(),
            in_hwm: HighWaterMark::from_option_value(self.options.recv_hwm),
            in_transit: 0,
            draining: false,
        });
        self.rotation.join(id);
        id
    }

    /// Removes pipe `id`, or, if it holds received messages, keeps it out of every routing
    /// decision until they are read.
    pub(crate) fn detach(&mut self, id: PeerId) {
        let Some(pipe) = self.table.get_mut(id) else {
            return;
        };
        if pipe.inbound.is_empty() {
            self.remove(id);
        } else {
            pipe.draining = true;
            pipe.peer = None;
            pipe.out.clear();
            pipe.out_hwm.clear();
            pipe.in_transit = 0;
            pipe.subscriptions.clear();
            self.leave_rotation(id);
        }
    }

    fn remove(&mut self, id: PeerId) {
        if self.table.remove(id).is_none() {
            return;
        }
        self.leave_rotation(id);
        self.with_input.remove(id);
    }

    fn leave_rotation(&mut self, id: PeerId) {
        self.rotation.leave(id);
    }

    /// The pipe `id`, if it is still attached.
    pub fn get(&self, id: PeerId) -> Option<&Pipe> {
        self.table.get(id)
    }

    pub(crate) fn get_mut(&mut self, id: PeerId) -> Option<&mut Pipe> {
        self.table.get_mut(id)
    }

    /// Whether pipe `id` may take a message now: it has a connection, or it was created by
    /// `connect` and waits for one (libzmq queues there too) unless `immediate` is set.
    #[inline]
    pub(crate) fn accepts_traffic(&self, id: PeerId) -> bool {
        self.table
            .get(id)
            .is_some_and(|p| accepts_traffic(p, self.options.immediate))
    }

    /// Whether `id` is attached.
    pub fn contains(&self, id: PeerId) -> bool {
        self.table.contains(id)
    }

    /// Every pipe id, in attach order.
    pub fn ids(&self) -> &[PeerId] {
        self.rotation.ids()
    }

    /// The number of pipes.
    pub fn len(&self) -> usize {
        self.rotation.ids().len()
    }

    /// Whether there are no pipes.
    pub fn is_empty(&self) -> bool {
        self.rotation.ids().is_empty()
    }

    /// The options in force.
    pub fn options(&self) -> &PatternOptions {
        &self.options
    }

    pub(crate) fn set_options(&mut self, options: PatternOptions) {
        self.options = options;
    }

    /// Forgets the connection of `id`: pending subscriptions are dropped (the next connection
    /// replays them), queued messages stay.
    pub(crate) fn clear_peer(&mut self, id: PeerId) {
        let immediate = self.options.immediate;
        if let Some(pipe) = self.table.get_mut(id) {
            pipe.peer = None;
            pipe.subscriptions.clear();
            // What the lost peer took is its own now (it may still deliver it); it no longer
            // counts here.
            pipe.out_hwm.release_n(pipe.in_transit);
            pipe.in_transit = 0;
            if immediate {
                // Only completed connections hold messages: what waited for this one is gone.
                pipe.out.clear();
                pipe.out_hwm.clear();
            }
        }
    }

    pub(crate) fn push_event(&mut self, event: Event) {
        self.events.push(event);
    }

    pub(crate) fn mark_writable(&mut self, id: PeerId) {
        if self.table.get(id).is_some_and(Pipe::has_outgoing) {
            self.events.push(Event::Writable(id));
        }
    }

    pub(crate) fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    pub(crate) fn take_events(&mut self) -> std::vec::Drain<'_, Event> {
        self.drop_told = false;
        self.events.drain(..)
    }

    /// Queues `message` for `id` unless its queue is full.
    #[inline]
    pub(crate) fn push_out(&mut self, id: PeerId, message: Message) -> Result<(), Message> {
        // A detached pipe only waits for the application to read what it received.
        let Some(pipe) = self.table.get_mut(id).filter(|p| !p.draining) else {
            return Err(message);
        };
        if self.options.conflate {
            // Only the newest message matters: replace what has not been written yet. Never
            // refused, even with messages taken and not yet settled.
            let was_idle = !pipe.has_outgoing();
            pipe.out_hwm.release_n(pipe.out.len());
            pipe.out.clear();
            pipe.out.push_back(message);
            let _ = pipe.out_hwm.acquire_forced();
            if was_idle {
                self.events.push(Event::Writable(id));
            }
            return Ok(());
        }
        if !pipe.out_hwm.try_acquire() {
            return Err(message);
        }
        let was_idle = !pipe.has_outgoing();
        pipe.out.push_back(message);
        if was_idle {
            self.events.push(Event::Writable(id));
        }
        Ok(())
    }

    /// `ZMQ_PROBE_ROUTER` (ROUTER, DEALER and REQ): when it is on, an empty message announces us
    /// to each new peer.
    pub(crate) fn probe(&mut self, id: PeerId) {
        if self.options.probe_router {
            let _ = self.push_out(id, Message::single(Bytes::new()));
        }
    }

    /// Queues a subscription change for `id`. Subscriptions bypass the high-water mark: they are
    /// few and small, and losing one would silently change what the peer sends us.
    pub(crate) fn push_subscription(&mut self, id: PeerId, subscription: Subscription) {
        if let Some(pipe) = self.table.get_mut(id) {
            let was_idle = !pipe.has_outgoing();
            pipe.subscriptions.push_back(subscription);
            if was_idle {
                self.events.push(Event::Writable(id));
            }
        }
    }

    /// Load-balancing: the next pipe in round-robin order whose queue has room takes `message`.
    #[inline]
    pub(crate) fn load_balance(&mut self, message: Message) -> Result<PeerId, Message> {
        let (immediate, conflate) = (self.options.immediate, self.options.conflate);
        let table = &self.table;
        let next = self.rotation.next(|id| {
            table
                .get(id)
                // A conflating queue always takes the newest message in place of the last.
                .is_some_and(|p| (conflate || !p.is_full()) && accepts_traffic(p, immediate))
        });
        match next {
            // Room was checked just above, so this cannot fail.
            Some(id) => self.push_out(id, message).map(|()| id),
            None => Err(message),
        }
    }

    /// Queues a received message. The message is always kept (it has been read already); the
    /// return value is `false` when the queue has reached its limit and the reader should pause.
    #[inline]
    pub(crate) fn push_in(&mut self, id: PeerId, message: Message) -> bool {
        let Some(pipe) = self.table.get_mut(id) else {
            return true;
        };
        if pipe.inbound.is_empty() {
            self.with_input.ready(id);
        }
        if self.options.conflate {
            // Only the newest message matters, and a conflating queue never pauses its reader.
            pipe.inbound.clear();
            let resumed = pipe.in_hwm.clear();
            pipe.inbound.push_back(message);
            let _ = pipe.in_hwm.try_acquire();
            if resumed {
                self.events.push(Event::Readable(id));
            }
            return true;
        }
        pipe.inbound.push_back(message);
        // Counted even past the limit (a reader that ignored a pause cannot make the count
        // drift); the reader stays paused until the queue drains to the low-water mark.
        pipe.in_hwm.acquire_forced()
    }

    /// Whether pipe `id` can take a message for the application without passing its
    /// high-water mark.
    pub(crate) fn has_room_in(&self, id: PeerId) -> bool {
        self.table
            .get(id)
            .is_some_and(|p| !p.draining && !p.in_hwm.is_full())
    }

    /// Fair-queuing: one message from the pipe whose turn it is.
    #[inline]
    pub(crate) fn fair_queue(&mut self) -> Option<(PeerId, Message)> {
        let id = self.with_input.take_turn()?;
        let message = self.take_in(id)?;
        if self.table.get(id).is_some_and(|p| !p.inbound.is_empty()) {
            self.with_input.ready(id);
        }
        Some((id, message))
    }

    /// The pipe whose turn it is in the fair-queue, without taking its message.
    #[inline]
    pub(crate) fn next_input(&self) -> Option<PeerId> {
        self.with_input.next()
    }

    /// One message from pipe `id` only (REQ takes its reply from the peer it asked).
    pub(crate) fn recv_from(&mut self, id: PeerId) -> Option<Message> {
        let message = self.take_in(id)?;
        if self.table.get(id).is_some_and(|p| p.inbound.is_empty()) {
            self.with_input.remove(id);
        }
        Some(message)
    }

    /// Drops whatever pipe `id` has received and not yet delivered.
    pub(crate) fn discard_in(&mut self, id: PeerId) {
        while self.recv_from(id).is_some() {}
    }

    #[inline]
    fn take_in(&mut self, id: PeerId) -> Option<Message> {
        let pipe = self.table.get_mut(id)?;
        let message = pipe.inbound.pop_front()?;
        // Resumes at the low-water mark, not at the first free slot: otherwise a reader faster
        // than the application would be paused and woken once per message.
        let resume = pipe.in_hwm.release();
        if pipe.draining {
            if pipe.inbound.is_empty() {
                self.remove(id);
            }
        } else if resume {
            self.events.push(Event::Readable(id));
        }
        Some(message)
    }

    /// Whether any pipe has a message for the application.
    #[inline]
    pub fn has_input(&self) -> bool {
        !self.with_input.is_empty()
    }

    /// Whether pipe `id` has a message for the application.
    pub fn has_input_from(&self, id: PeerId) -> bool {
        self.table.get(id).is_some_and(|p| !p.inbound.is_empty())
    }

    pub(crate) fn drain_out(
        &mut self,
        id: PeerId,
        out: &mut WriteBuffer,
        max_bytes: usize,
    ) -> usize {
        let Some(pipe) = self.table.get_mut(id) else {
            return 0;
        };
        if pipe.peer.is_none() {
            return 0;
        }
        let version = pipe.version();
        while let Some(subscription) = pipe.subscriptions.pop_front() {
            subscription.encode_for(version, out);
        }
        let mut taken = 0;
        while out.len() < max_bytes {
            let Some(message) = pipe.out.pop_front() else {
                break;
            };
            out.push_message(&message);
            pipe.out_hwm.release();
            taken += 1;
        }
        taken
    }

    /// Takes what is queued for `id` as it is (subscriptions first, then up to `max` messages)
    /// for a peer in this process. The messages keep counting against the send high-water mark
    /// until [`settle_out`](Self::settle_out), so that the peer's queue and this one together
    /// hold no more than both limits. Returns the number of messages taken.
    pub(crate) fn take_out(
        &mut self,
        id: PeerId,
        max: usize,
        subscriptions: &mut Vec<Subscription>,
        messages: &mut Vec<Message>,
    ) -> usize {
        let Some(pipe) = self.table.get_mut(id) else {
            return 0;
        };
        if pipe.peer.is_none() {
            return 0;
        }
        subscriptions.extend(pipe.subscriptions.drain(..));
        let n = pipe.out.len().min(max);
        messages.extend(pipe.out.drain(..n));
        if self.options.conflate {
            // A conflating socket never waits: what it handed over no longer counts.
            pipe.out_hwm.release_n(n);
        } else {
            pipe.in_transit += n;
        }
        n
    }

    /// Uncounts `n` messages taken by [`take_out`](Self::take_out) that the peer has now queued
    /// on its side. Returns how many were uncounted (none once the peer is gone).
    pub(crate) fn settle_out(&mut self, id: PeerId, n: usize) -> usize {
        let Some(pipe) = self.table.get_mut(id) else {
            return 0;
        };
        let n = n.min(pipe.in_transit);
        pipe.in_transit -= n;
        pipe.out_hwm.release_n(n);
        n
    }

    /// Puts back at the front of the queue, in order, messages taken by
    /// [`take_out`](Self::take_out) that the peer never queued.
    pub(crate) fn reclaim_out(&mut self, id: PeerId, messages: Vec<Message>) {
        let Some(pipe) = self.table.get_mut(id) else {
            return;
        };
        let n = messages.len().min(pipe.in_transit);
        pipe.in_transit -= n;
        let mut messages: Vec<Message> = messages.into_iter().take(n).collect();
        if self.options.conflate {
            // Only the newest message matters, and what was queued since is newer still.
            let keep = if pipe.out.is_empty() {
                messages.pop()
            } else {
                None
            };
            pipe.out_hwm.release_n(n - usize::from(keep.is_some()));
            messages = keep.into_iter().collect();
        }
        // Never past the high-water mark (a conflate switched on and off meanwhile can leave
        // the count above it): the oldest go first.
        if let Some(limit) = pipe.out_hwm.limit() {
            let fits = limit.get().saturating_sub(pipe.out.len());
            if messages.len() > fits {
                let dropped = messages.len() - fits;
                messages.drain(..dropped);
                pipe.out_hwm.release_n(dropped);
            }
        }
        let was_idle = !pipe.has_outgoing();
        for message in messages.into_iter().rev() {
            pipe.out.push_front(message);
        }
        if was_idle && n > 0 && pipe.peer.is_some() {
            self.events.push(Event::Writable(id));
        }
    }
}

impl Pipes {
    /// Checks the bookkeeping against the queues: each count equals its queue's length, the
    /// fair-queue holds exactly the pipes with input, the rotation exactly the pipes not draining.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        for (id, pipe) in self.table.iter() {
            if pipe.out_hwm.len() != pipe.out.len() + pipe.in_transit {
                return Err(format!(
                    "{id:?}: send count {} for {} queued and {} in transit",
                    pipe.out_hwm.len(),
                    pipe.out.len(),
                    pipe.in_transit
                ));
            }
            if pipe.in_hwm.len() != pipe.inbound.len() {
                return Err(format!(
                    "{id:?}: receive count {} for {} queued",
                    pipe.in_hwm.len(),
                    pipe.inbound.len()
                ));
            }
            let turns = self.with_input.turns_of(id);
            if turns != usize::from(!pipe.inbound.is_empty()) {
                return Err(format!(
                    "{id:?}: {turns} fair-queue turns with {} received",
                    pipe.inbound.len()
                ));
            }
            let in_rotation = self.rotation.contains(id);
            if in_rotation == pipe.draining {
                return Err(format!(
                    "{id:?}: in rotation {in_rotation}, draining {}",
                    pipe.draining
                ));
            }
            if pipe.draining && (pipe.peer.is_some() || pipe.inbound.is_empty()) {
                return Err(format!("{id:?}: a draining pipe is connected or empty"));
            }
        }
        if let Some(id) = self.with_input.iter().find(|&id| !self.table.contains(id)) {
            return Err(format!("{id:?}: a removed pipe has a fair-queue turn"));
        }
        if let Some(id) = self
            .rotation
            .ids()
            .iter()
            .find(|&&id| !self.table.contains(id))
        {
            return Err(format!("{id:?}: a removed pipe is in the rotation"));
        }
        Ok(())
    }
}

/// A pipe takes traffic while it has a connection, or, when it was created by `connect`, while
/// it waits for one (libzmq queues there too) unless `immediate` is set.
#[inline]
fn accepts_traffic(pipe: &Pipe, immediate: bool) -> bool {
    !pipe.draining && (pipe.peer.is_some() || (pipe.origin == Origin::Connect && !immediate))
}
