//! A reference model of `SocketCore`, and a harness that drives the core and the model with the
//! same operations and compares them after each one.
//!
//! Shared by the `socket_core` fuzz target and the `socket_model` property test. The test includes
//! this file by path, so it may use only the crate's public API, named through `crate::proto`
//! (the test crate re-exports `monocoque_zmtp::proto` under that name).
//!
//! The harness calls the core as the driver does: a pipe hears `inbound` and `command` only while
//! its connection is up, `connected` only while it is down, an accepted pipe connects once, a
//! detached pipe never comes back, and events are taken after every call. Within that contract
//! the operations are arbitrary, and the model predicts every result exactly, except which pipe
//! load-balancing picks: that one is read from the queue lengths and then checked to be a pipe
//! that could take the message.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::{Bytes, BytesMut};
use monocoque_core::{Message, PeerId};

use crate::proto::{
    Event, MessageDecoder, Origin, PatternOptions, PeerInfo, RecvError, SendError, SendErrorKind,
    SocketCore, SocketType, Subscription, Version, WriteBuffer,
};

/// Subscription topics: the empty one matches everything, and "a" is a prefix of "ab".
const TOPICS: [&[u8]; 4] = [b"", b"a", b"ab", b"b"];

/// Frame bodies, which some topics prefix and others do not.
const TEXTS: [&[u8]; 4] = [b"a", b"ab", b"b", b"ba"];

/// The types libzmq accepts `ZMQ_CONFLATE` on.
const CONFLATING: [SocketType; 5] = [
    SocketType::Push,
    SocketType::Pull,
    SocketType::Dealer,
    SocketType::Pub,
    SocketType::Sub,
];

/// Gives up with a message when a condition does not hold.
macro_rules! ensure {
    ($condition:expr, $($what:tt)+) => {
        if !$condition {
            return Err(format!($($what)+));
        }
    };
}

/// The socket under test: its type and options.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    socket_type: SocketType,
    options: PatternOptions,
}

impl Setup {
    /// A socket of `socket_type` with high-water marks from 0 (unlimited) to 4, taken modulo 5,
    /// and those of the switches in `switches` that mean something for the type. Bit 0: conflate,
    /// 1: immediate, 2: router_mandatory, 3: router_handover, 4: probe_router, 5: req_correlate,
    /// 6: req_relaxed, 7: xpub_verbose, 8: xpub_verboser, 9: xpub_manual, 10: a welcome message,
    /// 11: xsub_verbose_unsubscribe, 12: invert_matching.
    pub(crate) fn new(
        socket_type: SocketType,
        send_hwm: u8,
        recv_hwm: u8,
        switches: u16,
        seed: u32,
    ) -> Self {
        use SocketType::{Dealer, Pub, Req, Router, Sub, Xpub, Xsub};
        let on = |bit: u16, types: &[SocketType]| {
            switches & (1 << bit) != 0 && types.contains(&socket_type)
        };
        let options = PatternOptions {
            send_hwm: hwm(send_hwm),
            recv_hwm: hwm(recv_hwm),
            conflate: on(0, &CONFLATING),
            immediate: on(1, &SocketType::ALL),
            router_mandatory: on(2, &[Router]),
            router_handover: on(3, &[Router]),
            probe_router: on(4, &[Router, Dealer, Req]),
            req_correlate: on(5, &[Req]),
            req_relaxed: on(6, &[Req]),
            xpub_verbose: on(7, &[Xpub]),
            xpub_verboser: on(8, &[Xpub]),
            xpub_manual: on(9, &[Xpub]),
            xpub_welcome: on(10, &[Xpub]).then(|| Bytes::from_static(b"welcome")),
            xsub_verbose_unsubscribe: on(11, &[Xsub]),
            invert_matching: on(12, &[Pub, Xpub, Sub]),
            // Not modelled yet: the reference model does not predict their refusals and
            // notification messages.
            xpub_nodrop: false,
            router_notify: crate::proto::RouterNotify::NONE,
            seed,
        };
        Self {
            socket_type,
            options,
        }
    }
}

/// One call into the core. A pipe is named by how many places it is back from the newest among
/// every pipe attached so far (modulo their number), so removed pipes stay reachable and stale
/// ids get exercised.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// `attach`.
    Attach(Origin),
    /// `connected` with a peer of a compatible type (`peer` picks it), an identity from a tiny set
    /// when the peer type sends one (`identity` picks it; the last choice equals the first routing
    /// id a ROUTER generates), speaking ZMTP 3.0 or 3.1.
    Connected {
        /// The pipe.
        pipe: u8,
        /// Picks the peer type among the compatible ones.
        peer: u8,
        /// Picks none, "a", "b" or the first generated routing id.
        identity: u8,
        /// Whether the peer speaks ZMTP 3.0 (subscriptions as messages).
        v3_0: bool,
    },
    /// `inbound`: a message the peer sent.
    Inbound {
        /// The pipe.
        pipe: u8,
        /// The frames.
        frames: Vec<FrameKind>,
    },
    /// `inbound` on the pipe a message was last queued for: the peer answers (REQ takes replies
    /// only from the peer it asked).
    Reply(Vec<FrameKind>),
    /// `command`: a SUBSCRIBE or CANCEL the peer sent.
    Command {
        /// The pipe.
        pipe: u8,
        /// SUBSCRIBE, else CANCEL.
        subscribe: bool,
        /// Picks the topic.
        topic: u8,
    },
    /// `send`.
    Send(Vec<FrameKind>),
    /// `recv`.
    Recv,
    /// `subscribe` or `unsubscribe`.
    Subscribe {
        /// `subscribe`, else `unsubscribe`.
        subscribe: bool,
        /// Picks the topic.
        topic: u8,
    },
    /// `drain_outgoing` with a byte budget: unlimited, 0, 1 or 8 (`budget` modulo 4).
    Drain {
        /// The pipe.
        pipe: u8,
        /// Picks the budget.
        budget: u8,
    },
    /// `take_outgoing` of up to `max` (modulo 4) messages, for a peer in this process.
    Take {
        /// The pipe.
        pipe: u8,
        /// Picks the most messages.
        max: u8,
    },
    /// `settle_outgoing` of `n` (modulo 4) messages taken.
    Settle {
        /// The pipe.
        pipe: u8,
        /// Picks how many.
        n: u8,
    },
    /// `reclaim_outgoing` of every message taken and not settled.
    Reclaim {
        /// The pipe.
        pipe: u8,
    },
    /// `disconnected`.
    Disconnected {
        /// The pipe.
        pipe: u8,
    },
    /// `detach`.
    Detach {
        /// The pipe.
        pipe: u8,
    },
    /// `set_options` with one option changed.
    SetOptions(OptionChange),
}

/// One frame of a generated message.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FrameKind {
    /// An empty frame: REQ/REP's delimiter.
    Empty,
    /// A short body (picked from four).
    Text(u8),
    /// The message form of a subscription (`0x01`) or cancel (`0x00`).
    Subscription {
        /// Subscribe, else cancel.
        subscribe: bool,
        /// Picks the topic.
        topic: u8,
    },
    /// The 4-byte request id a correlating REQ expects now, or a wrong one.
    RequestId {
        /// The expected id, else the next one.
        current: bool,
    },
    /// The routing id a ROUTER knows a pipe by (empty for other types or unconnected pipes).
    RoutingId(u8),
}

/// An option changed on a live socket.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OptionChange {
    /// Turns `conflate` on or off, on the types that support it.
    ToggleConflate,
    /// Sets `send_hwm` (0 to 4, modulo 5), for pipes attached afterwards.
    SendHwm(u8),
    /// Sets `recv_hwm` (0 to 4, modulo 5), for pipes attached afterwards.
    RecvHwm(u8),
}

/// A [`SocketCore`] and its model, compared after every operation.
#[derive(Debug)]
pub(crate) struct Harness {
    core: SocketCore,
    socket_type: SocketType,
    options: PatternOptions,
    /// Every pipe ever attached, in attach order.
    pipes: Vec<PipeModel>,
    /// REQ: the pipe the outstanding request went to.
    req_awaiting: Option<usize>,
    /// REQ: the id of the last request (the seed before any).
    request_id: u32,
    /// REP: the pipe and envelope of the request being answered.
    rep_pending: Option<(usize, Vec<Bytes>)>,
    /// PAIR: the pipe that takes what is sent.
    pair_current: Option<usize>,
    /// ROUTER: the pipe each routing id leads to.
    router_ids: BTreeMap<Bytes, usize>,
    /// SUB and XSUB: the socket's own counted subscriptions.
    own_subscriptions: BTreeMap<Bytes, u32>,
    /// XPUB: what `recv` returns next, with the pipe a subscription came from.
    upstream: VecDeque<(Message, Option<usize>)>,
    /// XPUB: the pipe whose subscription the application read last.
    last_subscriber: Option<usize>,
    /// The pipe a message was last queued for.
    last_target: Option<usize>,
    /// Pipes the current operation must emit [`Event::Close`] for.
    expected_closes: Vec<PeerId>,
    /// What was applied so far, for the failure message.
    history: Vec<Op>,
}

impl Harness {
    /// A socket with no pipes.
    pub(crate) fn new(setup: Setup) -> Self {
        Self {
            core: SocketCore::new(setup.socket_type, setup.options.clone()),
            socket_type: setup.socket_type,
            request_id: setup.options.seed,
            options: setup.options,
            pipes: Vec::new(),
            req_awaiting: None,
            rep_pending: None,
            pair_current: None,
            router_ids: BTreeMap::new(),
            own_subscriptions: BTreeMap::new(),
            upstream: VecDeque::new(),
            last_subscriber: None,
            last_target: None,
            expected_closes: Vec::new(),
            history: Vec::new(),
        }
    }

    /// Applies `op` to the core and the model, then checks that they agree. The error says what
    /// disagrees, after which operations.
    pub(crate) fn apply(&mut self, op: &Op) -> Result<(), String> {
        self.history.push(op.clone());
        self.expected_closes.clear();
        self.step(op)
            .and_then(|()| self.take_events())
            .and_then(|()| self.check_state())
            .map_err(|what| {
                let steps: Vec<String> = self
                    .history
                    .iter()
                    .enumerate()
                    .map(|(i, op)| format!("  {i}: {op:?}"))
                    .collect();
                format!(
                    "{:?} with {:?}: {what}\nafter:\n{}",
                    self.socket_type,
                    self.options,
                    steps.join("\n")
                )
            })
    }

    /// Reads whatever is left (answering each request on REP) and drains every pipe, so that
    /// every message still queued has to come out as the model says.
    pub(crate) fn finish(&mut self) -> Result<(), String> {
        let queued: usize = self.pipes.iter().map(|p| p.inbound.len()).sum();
        for _ in 0..=queued + self.upstream.len() {
            if self.socket_type == SocketType::Rep && self.rep_pending.is_some() {
                self.apply(&Op::Send(vec![FrameKind::Text(0)]))?;
            }
            if !self.can_recv() {
                break;
            }
            self.apply(&Op::Recv)?;
        }
        for pipe in 0..self.pipes.len() {
            if let Ok(pipe) = u8::try_from(pipe) {
                self.apply(&Op::Drain { pipe, budget: 0 })?;
            }
        }
        Ok(())
    }

    fn step(&mut self, op: &Op) -> Result<(), String> {
        match op {
            Op::Attach(origin) => self.attach(*origin),
            Op::Connected {
                pipe,
                peer,
                identity,
                v3_0,
            } => self.connected(*pipe, *peer, *identity, *v3_0),
            Op::Inbound { pipe, frames } => self.inbound(self.pick(*pipe), frames),
            Op::Reply(frames) => self.inbound(self.last_target, frames),
            Op::Command {
                pipe,
                subscribe,
                topic,
            } => self.command(*pipe, *subscribe, *topic),
            Op::Send(frames) => self.send(frames),
            Op::Recv => self.recv(),
            Op::Subscribe { subscribe, topic } => self.subscribe(*subscribe, *topic),
            Op::Drain { pipe, budget } => self.drain(*pipe, *budget),
            Op::Take { pipe, max } => self.take(*pipe, *max),
            Op::Settle { pipe, n } => self.settle(*pipe, *n),
            Op::Reclaim { pipe } => self.reclaim(*pipe),
            Op::Disconnected { pipe } => self.disconnected(*pipe),
            Op::Detach { pipe } => self.detach(*pipe),
            Op::SetOptions(change) => {
                self.set_options(*change);
                Ok(())
            }
        }
    }

    fn attach(&mut self, origin: Origin) -> Result<(), String> {
        let id = self.core.attach(origin);
        ensure!(
            self.pipes.iter().all(|p| p.id != id),
            "{id} was handed out twice"
        );
        self.pipes.push(PipeModel::new(id, origin, &self.options));
        Ok(())
    }

    fn connected(&mut self, pipe: u8, peer: u8, identity: u8, v3_0: bool) -> Result<(), String> {
        let Some(k) = self.pick(pipe) else {
            return Ok(());
        };
        let peer_types = self.socket_type.compatible_peers();
        let peer_type = peer_types[usize::from(peer) % peer_types.len()];
        let identity = if peer_type.sends_identity() {
            self.identity(identity)
        } else {
            None
        };
        let version = if v3_0 { Version::V3_0 } else { Version::V3_1 };
        let mut info = PeerInfo::new(peer_type).with_version(version);
        if let Some(identity) = identity.clone() {
            info = info.with_identity(identity);
        }
        let p = &self.pipes[k];
        let id = p.id;
        match p.state {
            State::Removed => {
                ensure!(
                    !self.core.connected(id, info),
                    "{id}: a removed pipe accepted a connection"
                );
                return Ok(());
            }
            State::Draining => return Ok(()),
            State::Attached => {}
        }
        if p.peer.is_some() || (p.origin == Origin::Accept && p.ever_connected) {
            return Ok(());
        }
        let admitted = self.admits(k, identity.as_ref());
        let accepted = self.core.connected(id, info);
        ensure!(
            accepted == admitted,
            "{id}: connected returned {accepted}, the model says {admitted}"
        );
        self.pipes[k].ever_connected = true;
        if !accepted {
            self.clear_peer(k);
            self.expected_closes.push(id);
            return Ok(());
        }
        self.pipes[k].peer = Some(version);
        match self.socket_type {
            SocketType::Router => self.route_new_peer(k, identity)?,
            SocketType::Pair => self.pair_current = Some(k),
            SocketType::Xpub => {
                if let Some(welcome) = self.options.xpub_welcome.clone() {
                    self.push_out(k, Message::single(welcome));
                }
            }
            SocketType::Sub | SocketType::Xsub => {
                // Replayed once per distinct topic, in lexicographic order (the trie's).
                for topic in self.own_subscriptions.keys() {
                    self.pipes[k]
                        .subscriptions_out
                        .push_back(Subscription::subscribe(topic.clone()));
                }
            }
            _ => {}
        }
        let probes = matches!(
            self.socket_type,
            SocketType::Router | SocketType::Dealer | SocketType::Req
        );
        if probes && self.options.probe_router {
            self.push_out(k, Message::single(Bytes::new()));
        }
        Ok(())
    }

    /// Whether the pattern takes a new peer on pipe `k`.
    fn admits(&self, k: usize, identity: Option<&Bytes>) -> bool {
        match self.socket_type {
            SocketType::Pair => !self
                .pair_current
                .is_some_and(|c| c != k && self.pipes[c].peer.is_some()),
            SocketType::Router => identity.is_none_or(|identity| {
                !self.router_ids.contains_key(identity) || self.options.router_handover
            }),
            _ => true,
        }
    }

    /// ROUTER: records the routing id of the peer that just connected on pipe `k`, handing a
    /// taken identity over to it. Generated ids are read from the core and checked to be fresh.
    fn route_new_peer(&mut self, k: usize, identity: Option<Bytes>) -> Result<(), String> {
        let routing_id = match identity {
            Some(identity) => {
                if let Some(old) = self.router_ids.remove(&identity) {
                    let parked = self.actual_routing_id(old);
                    self.check_generated(&parked)?;
                    ensure!(
                        parked != identity,
                        "the parked id is the identity handed over"
                    );
                    self.router_ids.insert(parked.clone(), old);
                    self.pipes[old].routing_id = parked;
                    self.expected_closes.push(self.pipes[old].id);
                }
                identity
            }
            None => {
                let generated = self.actual_routing_id(k);
                self.check_generated(&generated)?;
                generated
            }
        };
        self.router_ids.insert(routing_id.clone(), k);
        self.pipes[k].routing_id = routing_id;
        Ok(())
    }

    fn check_generated(&self, id: &Bytes) -> Result<(), String> {
        // libzmq's form: a zero byte, which peers' identities must not start with, and a counter.
        ensure!(
            id.len() == 5 && id[0] == 0,
            "generated routing id {id:?} is not a zero byte and a counter"
        );
        ensure!(
            !self.router_ids.contains_key(id),
            "generated routing id {id:?} is already taken"
        );
        Ok(())
    }

    fn inbound(&mut self, pipe: Option<usize>, frames: &[FrameKind]) -> Result<(), String> {
        // A peer's message has at least one frame: the decoder never yields an empty one.
        let (Some(k), false) = (pipe, frames.is_empty()) else {
            return Ok(());
        };
        let message = self.message(frames);
        let id = self.pipes[k].id;
        let expected = if self.pipes[k].state == State::Removed {
            true
        } else if self.pipes[k].peer.is_none() {
            return Ok(());
        } else {
            self.model_inbound(k, message.clone())
        };
        let more = self.core.inbound(id, message);
        ensure!(
            more == expected,
            "{id}: inbound returned {more}, the model says {expected}"
        );
        if !more {
            if self.socket_type == SocketType::Xpub {
                self.pipes[k].upstream_paused = true;
            } else {
                self.pipes[k].reader_paused = true;
            }
        }
        Ok(())
    }

    /// What the pattern does with a message from pipe `k`; returns whether the reader may go on.
    fn model_inbound(&mut self, k: usize, message: Message) -> bool {
        match self.socket_type {
            SocketType::Push => true,
            SocketType::Pub | SocketType::Xpub => {
                if let Some(subscription) = subscription_message(&message) {
                    self.subscription(k, &subscription)
                } else if self.socket_type == SocketType::Xpub {
                    self.upstream.push_back((message, None));
                    self.upstream_room(k)
                } else {
                    true
                }
            }
            SocketType::Sub => {
                let topic = message.first().map_or(&[][..], |f| &f[..]);
                let matched = self.own_subscriptions.keys().any(|t| topic.starts_with(t));
                if matched == self.options.invert_matching {
                    return true;
                }
                self.push_in(k, message)
            }
            SocketType::Req if self.req_awaiting != Some(k) => true,
            _ => self.push_in(k, message),
        }
    }

    fn command(&mut self, pipe: u8, subscribe: bool, topic: u8) -> Result<(), String> {
        let Some(k) = self.pick(pipe) else {
            return Ok(());
        };
        let subscription = subscription(subscribe, topic);
        let p = &self.pipes[k];
        if p.state != State::Removed && p.peer.is_none() {
            return Ok(());
        }
        let id = p.id;
        let publishes = matches!(self.socket_type, SocketType::Pub | SocketType::Xpub);
        let expected = if p.state != State::Removed && publishes {
            self.subscription(k, &subscription)
        } else {
            true
        };
        let more = self.core.command(id, &subscription.to_command());
        ensure!(
            more == expected,
            "{id}: command returned {more}, the model says {expected}"
        );
        if !more {
            self.pipes[k].upstream_paused = true;
        }
        Ok(())
    }

    /// XPUB: whether pipe `k` may go on after adding to what the application reads; the queue
    /// holds `recv_hwm` (0: no limit).
    fn upstream_room(&mut self, k: usize) -> bool {
        let limit = self.options.recv_hwm;
        limit == 0 || self.upstream.len() < limit || {
            self.pipes[k].upstream_paused = true;
            false
        }
    }

    /// PUB and XPUB: a subscription change from pipe `k`; returns whether its reader may go on.
    fn subscription(&mut self, k: usize, subscription: &Subscription) -> bool {
        let xpub = self.socket_type == SocketType::Xpub;
        if xpub && self.options.xpub_manual {
            let own = self.pipes[k].own_topics.get_or_insert_default();
            if subscription.subscribe {
                own.insert(subscription.topic.clone());
            } else {
                own.remove(&subscription.topic);
            }
            self.tell_application(subscription, Some(k));
            return self.upstream_room(k);
        }
        let changed = self.trie_apply(k, subscription);
        let verbose = if subscription.subscribe {
            self.options.xpub_verbose || self.options.xpub_verboser
        } else {
            self.options.xpub_verboser
        };
        if changed || verbose {
            self.tell_application(subscription, Some(k));
        }
        !xpub || self.upstream_room(k)
    }

    /// Applies a subscription to what pipe `k` holds (a topic is held once per peer); returns
    /// whether the topic gained its first or lost its last subscriber.
    fn trie_apply(&mut self, k: usize, subscription: &Subscription) -> bool {
        let topic = &subscription.topic;
        let held = if subscription.subscribe {
            if self.pipes[k].topics.contains(topic) {
                return false;
            }
            let held = self.topic_held(topic);
            self.pipes[k].topics.insert(topic.clone());
            held
        } else {
            if !self.pipes[k].topics.remove(topic) {
                return false;
            }
            self.topic_held(topic)
        };
        !held
    }

    fn topic_held(&self, topic: &Bytes) -> bool {
        self.pipes.iter().any(|p| p.topics.contains(topic))
    }

    fn tell_application(&mut self, subscription: &Subscription, from: Option<usize>) {
        if self.socket_type == SocketType::Xpub {
            self.upstream
                .push_back((Message::single(subscription.to_message_frame()), from));
        }
    }

    /// PUB and XPUB: pipe `k` loses every subscription, and XPUB hears of the topics that go.
    fn forget_subscriber(&mut self, k: usize) {
        if self.last_subscriber == Some(k) {
            self.last_subscriber = None;
        }
        // A departed subscriber is not resumed.
        self.pipes[k].upstream_paused = false;
        let topics = std::mem::take(&mut self.pipes[k].topics);
        let emptied: Vec<Bytes> = topics.into_iter().filter(|t| !self.topic_held(t)).collect();
        let cancelled = match self.pipes[k].own_topics.take() {
            // Manual mode: the peer's own topics, each of them.
            Some(own) => own.into_iter().collect(),
            None => emptied,
        };
        for topic in cancelled {
            self.tell_application(&Subscription::cancel(topic), None);
        }
    }

    fn send(&mut self, frames: &[FrameKind]) -> Result<(), String> {
        let message = self.message(frames);
        if message.is_empty() {
            // No frame, nothing ZMTP can carry: refused, whatever the type.
            let result = self.core.send(message.clone());
            return expect_send(result, Err(SendErrorKind::InvalidMessage), &message);
        }
        match self.socket_type {
            SocketType::Pull | SocketType::Sub => {
                let result = self.core.send(message.clone());
                expect_send(result, Err(SendErrorKind::NotSupported), &message)
            }
            SocketType::Push | SocketType::Dealer => {
                self.load_balance(message.clone(), &message).map(drop)
            }
            SocketType::Req => self.send_request(message),
            SocketType::Rep => self.send_reply(message),
            SocketType::Router => self.send_routed(message),
            SocketType::Pub | SocketType::Xpub => self.publish(message),
            SocketType::Xsub => self.send_upstream(message),
            // PAIR (the wildcard because the type is non-exhaustive where the test includes
            // this file).
            _ => self.send_to_pair(message),
        }
    }

    /// Sends `original` through load-balancing, which queues `wire` (the message as the pattern
    /// frames it) on one pipe that can take it.
    fn load_balance(&mut self, wire: Message, original: &Message) -> Result<Sent, String> {
        let eligible: Vec<usize> = (0..self.pipes.len())
            .filter(|&k| self.takes_traffic(k))
            .collect();
        let before: Vec<usize> = self.pipes.iter().map(|p| p.out.len()).collect();
        let result = self.core.send(original.clone());
        if eligible.is_empty() {
            expect_send(result, Err(SendErrorKind::WouldBlock), original)?;
            return Ok(Sent::Refused);
        }
        expect_send(result, Ok(()), original)?;
        let changed: Vec<usize> = (0..self.pipes.len())
            .filter(|&k| self.actual_out(k) != before[k])
            .collect();
        match changed[..] {
            [k] => {
                ensure!(
                    eligible.contains(&k),
                    "load-balancing picked {}, which cannot take a message",
                    self.pipes[k].id
                );
                self.push_out(k, wire);
                Ok(Sent::To(k))
            }
            [] => {
                // Only a conflating queue can take a message and keep its length: the newest
                // replaced the one it held. Which pipe it was does not show.
                ensure!(self.options.conflate, "a sent message went nowhere");
                let candidates: Vec<usize> =
                    eligible.into_iter().filter(|&k| before[k] == 1).collect();
                match candidates[..] {
                    [] => Err("a sent message went nowhere".to_owned()),
                    [k] => {
                        self.push_out(k, wire);
                        Ok(Sent::To(k))
                    }
                    _ => {
                        for k in candidates {
                            self.pipes[k].out = Out::Unknown(1);
                        }
                        Ok(Sent::Unknown)
                    }
                }
            }
            _ => Err(format!("one load-balanced message reached {changed:?}")),
        }
    }

    /// Whether load-balancing may pick pipe `k`.
    fn takes_traffic(&self, k: usize) -> bool {
        let p = &self.pipes[k];
        let room =
            self.options.conflate || p.send_hwm == 0 || p.out.len() + p.held.len() < p.send_hwm;
        let up = p.peer.is_some() || (p.origin == Origin::Connect && !self.options.immediate);
        p.state == State::Attached && room && up
    }

    fn send_request(&mut self, message: Message) -> Result<(), String> {
        if self.req_awaiting.is_some() && !self.options.req_relaxed {
            let result = self.core.send(message.clone());
            return expect_send(result, Err(SendErrorKind::InvalidState), &message);
        }
        let next_id = self.request_id.wrapping_add(1);
        let mut wire = message.clone();
        wire.push_front(Bytes::new());
        if self.options.req_correlate {
            wire.push_front(Bytes::copy_from_slice(&next_id.to_be_bytes()));
        }
        match self.load_balance(wire, &message)? {
            Sent::To(k) => {
                if let Some(previous) = self.req_awaiting.replace(k) {
                    // Relaxed: the last request is abandoned with whatever came back for it.
                    while self.take_in(previous).is_some() {}
                }
                self.request_id = next_id;
                Ok(())
            }
            Sent::Refused => Ok(()),
            Sent::Unknown => Err("a request went to an unknown peer".to_owned()),
        }
    }

    fn send_reply(&mut self, message: Message) -> Result<(), String> {
        let result = self.core.send(message.clone());
        let Some((k, envelope)) = self.rep_pending.take() else {
            return expect_send(result, Err(SendErrorKind::InvalidState), &message);
        };
        expect_send(result, Ok(()), &message)?;
        let reply: Message = envelope.into_iter().chain(message).collect();
        // A requester that left or cannot keep up loses its reply, and so does one whose
        // connection is down under `immediate`.
        if self.is_up(k) {
            self.push_out(k, reply);
        }
        Ok(())
    }

    fn send_routed(&mut self, message: Message) -> Result<(), String> {
        let result = self.core.send(message.clone());
        let Some(routing_id) = message.first() else {
            return expect_send(result, Err(SendErrorKind::InvalidMessage), &message);
        };
        let rest: Message = message.iter().skip(1).cloned().collect();
        let mandatory = self.options.router_mandatory;
        let expected = match self.router_ids.get(routing_id).copied() {
            Some(k) if self.push_out(k, rest) => Ok(()),
            Some(_) if mandatory => Err(SendErrorKind::WouldBlock),
            None if mandatory => Err(SendErrorKind::HostUnreachable),
            _ => Ok(()),
        };
        expect_send(result, expected, &message)
    }

    fn publish(&mut self, message: Message) -> Result<(), String> {
        let result = self.core.send(message.clone());
        expect_send(result, Ok(()), &message)?;
        let topic = message.first().map_or(&[][..], |f| &f[..]);
        let matches = |p: &PipeModel| p.topics.iter().any(|t| topic.starts_with(t));
        let targets: Vec<usize> = (0..self.pipes.len())
            .filter(|&k| {
                let p = &self.pipes[k];
                if self.options.invert_matching {
                    p.state == State::Attached && p.peer.is_some() && !matches(p)
                } else {
                    matches(p)
                }
            })
            .collect();
        for k in targets {
            // > ... SHALL silently drop the message if the queue for a subscriber is full.
            self.push_out(k, message.clone());
        }
        Ok(())
    }

    fn send_upstream(&mut self, message: Message) -> Result<(), String> {
        let result = self.core.send(message.clone());
        expect_send(result, Ok(()), &message)?;
        if let Some(subscription) = subscription_message(&message) {
            if self.own_apply(&subscription) {
                self.broadcast(&subscription);
            }
            return Ok(());
        }
        // To every pipe that takes traffic (under `immediate`, only connected ones).
        for k in 0..self.pipes.len() {
            if self.pipes[k].state == State::Attached && self.is_up(k) {
                self.push_out(k, message.clone());
            }
        }
        Ok(())
    }

    /// PAIR sends to its current pipe, or before any connection to the first pipe; under
    /// `immediate` only once that pipe's connection is up.
    fn send_to_pair(&mut self, message: Message) -> Result<(), String> {
        let current = self
            .pair_current
            .filter(|&c| self.pipes[c].state != State::Removed);
        let target = match current {
            Some(c) => Some(c),
            None => {
                // Before any connection, the first pipe (one created by connect) takes it.
                self.pair_current = self.pipes.iter().position(|p| p.state == State::Attached);
                self.pair_current
            }
        };
        let result = self.core.send(message.clone());
        let expected = match target {
            Some(k) if self.is_up(k) && self.push_out(k, message.clone()) => Ok(()),
            _ => Err(SendErrorKind::WouldBlock),
        };
        expect_send(result, expected, &message)
    }

    /// Whether pipe `k` takes traffic: connected, or created by connect and waiting for its
    /// connection unless `immediate` is set.
    fn is_up(&self, k: usize) -> bool {
        let p = &self.pipes[k];
        p.state == State::Attached
            && (p.peer.is_some() || (p.origin == Origin::Connect && !self.options.immediate))
    }

    /// SUB and XSUB: applies a change to the socket's own subscriptions; returns whether the
    /// publishers must hear of it.
    fn own_apply(&mut self, subscription: &Subscription) -> bool {
        if subscription.subscribe {
            let count = self
                .own_subscriptions
                .entry(subscription.topic.clone())
                .or_insert(0);
            *count = count.saturating_add(1);
            return true;
        }
        let Some(count) = self.own_subscriptions.get_mut(&subscription.topic) else {
            return false;
        };
        *count -= 1;
        if *count == 0 {
            self.own_subscriptions.remove(&subscription.topic);
            return true;
        }
        self.options.xsub_verbose_unsubscribe
    }

    /// Queues a subscription change for every connected pipe.
    fn broadcast(&mut self, subscription: &Subscription) {
        for p in &mut self.pipes {
            if p.state == State::Attached && p.peer.is_some() {
                p.subscriptions_out.push_back(subscription.clone());
            }
        }
    }

    fn recv(&mut self) -> Result<(), String> {
        let result = self.core.recv();
        match self.socket_type {
            SocketType::Push | SocketType::Pub => {
                ensure!(
                    result == Err(RecvError::NotSupported),
                    "recv returned {result:?}"
                );
                Ok(())
            }
            SocketType::Xpub => {
                let expected = self.upstream.pop_front();
                if let Some((_, Some(from))) = &expected {
                    // Only a subscriber still connected can be answered.
                    self.last_subscriber = Some(*from).filter(|&k| self.pipes[k].peer.is_some());
                }
                let expected = expected.map(|(m, _)| m).ok_or(RecvError::WouldBlock);
                ensure!(
                    result == expected,
                    "recv returned {result:?}, the model says {expected:?}"
                );
                Ok(())
            }
            SocketType::Req => self.recv_reply(result),
            SocketType::Rep => self.recv_request(result),
            _ => self.recv_fair(result),
        }
    }

    /// Fair-queued types: one message from one pipe, the oldest that pipe holds.
    fn recv_fair(&mut self, result: Result<Message, RecvError>) -> Result<(), String> {
        let taken = self.taken_in()?;
        let message = match result {
            Ok(message) => message,
            Err(RecvError::WouldBlock) => {
                ensure!(
                    self.pipes.iter().all(|p| p.inbound.is_empty()),
                    "recv would block with messages queued"
                );
                return Ok(());
            }
            Err(error) => return Err(format!("recv failed: {error:?}")),
        };
        let &[(k, 1)] = &taken[..] else {
            return Err(format!("one recv took {taken:?} (pipe, count)"));
        };
        self.check_turns(&taken)?;
        let Some(mut expected) = self.take_in(k) else {
            return Err("recv took from an empty pipe".to_owned());
        };
        // What a peer sent, so never without frames (REQ and REP may strip all of them).
        ensure!(
            !message.is_empty(),
            "recv returned a message without frames"
        );
        if self.socket_type == SocketType::Router {
            let routing_id = self.pipes[k].routing_id.clone();
            ensure!(
                !routing_id.is_empty(),
                "a ROUTER message from {} has an empty routing id",
                self.pipes[k].id
            );
            expected.push_front(routing_id);
        }
        ensure!(
            message == expected,
            "recv returned {message:?} from {}, the model says {expected:?}",
            self.pipes[k].id
        );
        Ok(())
    }

    /// REQ: the first well-formed reply from the pipe the request went to; the rest of what that
    /// pipe sent is dropped.
    fn recv_reply(&mut self, result: Result<Message, RecvError>) -> Result<(), String> {
        let Some(k) = self.req_awaiting else {
            ensure!(
                result == Err(RecvError::InvalidState),
                "recv without a request returned {result:?}"
            );
            return Ok(());
        };
        let mut expected = Err(RecvError::WouldBlock);
        while let Some(reply) = self.take_in(k) {
            if let Some(body) = self.strip_reply(reply) {
                expected = Ok(body);
                self.req_awaiting = None;
                while self.take_in(k).is_some() {}
                break;
            }
        }
        ensure!(
            result == expected,
            "REQ recv returned {result:?}; from {}, the pipe it last sent to, the model says \
             {expected:?}",
            self.pipes[k].id
        );
        Ok(())
    }

    fn strip_reply(&self, mut reply: Message) -> Option<Message> {
        if self.options.req_correlate && reply.pop_front()?[..] != self.request_id.to_be_bytes() {
            return None;
        }
        // > The REQ socket MUST discard silently any messages received that do not have an
        // > empty delimiter frame. (RFC 28)
        if !reply.pop_front()?.is_empty() {
            return None;
        }
        Some(reply)
    }

    /// REP: requests without a delimiter are dropped on the way to the first one with it. Which
    /// pipes were visited is read from the queue lengths.
    fn recv_request(&mut self, result: Result<Message, RecvError>) -> Result<(), String> {
        if self.rep_pending.is_some() {
            ensure!(
                result == Err(RecvError::InvalidState),
                "recv before the reply returned {result:?}"
            );
            return Ok(());
        }
        let taken = self.taken_in()?;
        self.check_turns(&taken)?;
        let mut delivered = None;
        for (k, count) in taken {
            for i in 0..count {
                let Some(request) = self.take_in(k) else {
                    return Err("recv took from an empty pipe".to_owned());
                };
                if request.iter().any(Bytes::is_empty) {
                    ensure!(
                        delivered.is_none() && i + 1 == count,
                        "REP went past a well-formed request"
                    );
                    delivered = Some((k, request));
                }
            }
        }
        match (result, delivered) {
            (Ok(body), Some((k, request))) => {
                let mut frames = request.into_iter();
                let mut envelope = Vec::new();
                for frame in frames.by_ref() {
                    let delimiter = frame.is_empty();
                    envelope.push(frame);
                    if delimiter {
                        break;
                    }
                }
                let expected: Message = frames.collect();
                ensure!(
                    body == expected,
                    "REP recv returned {body:?}, the model says {expected:?}"
                );
                self.rep_pending = Some((k, envelope));
                Ok(())
            }
            (Err(RecvError::WouldBlock), None) => {
                ensure!(
                    self.pipes.iter().all(|p| p.inbound.is_empty()),
                    "REP recv would block with requests queued"
                );
                Ok(())
            }
            (result, delivered) => Err(format!(
                "REP recv returned {result:?}; the request taken was {delivered:?}"
            )),
        }
    }

    /// Fair-queuing: between two turns of a pipe with input, every other pipe has at most one
    /// turn, so no pipe waits for more turns than there are other pipes. `taken` is what each
    /// pipe gave in the last call; the inbound queues are still as they were before it.
    fn check_turns(&mut self, taken: &[(usize, usize)]) -> Result<(), String> {
        let turns: usize = taken.iter().map(|&(_, count)| count).sum();
        let pipes = self.pipes.len();
        for (k, p) in self.pipes.iter_mut().enumerate() {
            if taken.iter().any(|&(served, _)| served == k) {
                p.waited = 0;
            } else if !p.inbound.is_empty() {
                p.waited += turns;
                ensure!(
                    p.waited < pipes,
                    "{} has waited {} turns with input, among {pipes} pipes",
                    p.id,
                    p.waited
                );
            }
        }
        Ok(())
    }

    /// How many messages each pipe lost from its inbound queue in the last call, as `(pipe,
    /// count)`, from the queue lengths.
    fn taken_in(&self) -> Result<Vec<(usize, usize)>, String> {
        let mut taken = Vec::new();
        for (k, p) in self.pipes.iter().enumerate() {
            let now = self.core.pipes().get(p.id).map_or(0, |a| a.queued_in());
            ensure!(
                now <= p.inbound.len(),
                "{}: recv added to the inbound queue",
                p.id
            );
            if now < p.inbound.len() {
                taken.push((k, p.inbound.len() - now));
            }
        }
        Ok(taken)
    }

    fn subscribe(&mut self, subscribe: bool, topic: u8) -> Result<(), String> {
        let subscription = subscription(subscribe, topic);
        let done = if subscribe {
            self.core.subscribe(subscription.topic.clone())
        } else {
            self.core.unsubscribe(subscription.topic.clone())
        };
        let expected = match self.socket_type {
            SocketType::Sub | SocketType::Xsub => {
                if self.own_apply(&subscription) {
                    self.broadcast(&subscription);
                }
                true
            }
            SocketType::Xpub if self.options.xpub_manual => {
                // The application answers the subscriber whose request it read last, if that
                // one is still connected (its departure forgets it).
                let last = self
                    .last_subscriber
                    .filter(|&k| self.pipes[k].state != State::Removed);
                if let Some(k) = last {
                    self.trie_apply(k, &subscription);
                }
                last.is_some()
            }
            _ => false,
        };
        ensure!(
            done == expected,
            "subscribe returned {done}, the model says {expected}"
        );
        Ok(())
    }

    fn drain(&mut self, pipe: u8, budget: u8) -> Result<(), String> {
        let Some(k) = self.pick(pipe) else {
            return Ok(());
        };
        let max_bytes = match budget % 4 {
            0 => usize::MAX,
            1 => 0,
            2 => 1,
            _ => 8,
        };
        let id = self.pipes[k].id;
        let mut out = WriteBuffer::new();
        let taken = self.core.drain_outgoing(id, &mut out, max_bytes);
        let written = out.take_contiguous();
        let p = &mut self.pipes[k];
        let Some(version) = p.peer else {
            ensure!(
                taken == 0 && written.is_empty(),
                "{id}: {taken} messages written without a connection"
            );
            return Ok(());
        };
        // Subscriptions first, all of them; then whole messages while under the budget.
        let mut expected = WriteBuffer::new();
        for subscription in p.subscriptions_out.drain(..) {
            subscription.encode_for(version, &mut expected);
        }
        match &mut p.out {
            Out::Known(queue) => {
                let mut count = 0;
                while expected.len() < max_bytes {
                    let Some(message) = queue.pop_front() else {
                        break;
                    };
                    expected.push_message(&message);
                    count += 1;
                }
                let expected = expected.take_contiguous();
                ensure!(
                    taken == count && written == expected,
                    "{id}: drained {taken} messages as {written:?}, the model says {count} as \
                     {expected:?}"
                );
            }
            Out::Unknown(queued) => {
                let subscriptions = expected.take_contiguous();
                ensure!(
                    written.starts_with(&subscriptions[..]) && taken <= *queued,
                    "{id}: drained {taken} of {queued} messages as {written:?}"
                );
                let mut rest = BytesMut::from(&written[subscriptions.len()..]);
                let mut decoder = MessageDecoder::new(None);
                let mut decoded = 0;
                while let Some(_item) = decoder
                    .decode(&mut rest)
                    .map_err(|e| format!("{id}: drained bytes do not decode: {e}"))?
                {
                    decoded += 1;
                }
                ensure!(
                    rest.is_empty() && decoded <= taken,
                    "{id}: {taken} messages drained as {decoded} and {} stray bytes",
                    rest.len()
                );
                *queued -= taken;
                if *queued == 0 {
                    p.out = Out::Known(VecDeque::new());
                }
            }
        }
        if !p.has_outgoing() {
            p.writer_awake = false;
        }
        Ok(())
    }

    fn take(&mut self, pipe: u8, max: u8) -> Result<(), String> {
        let Some(k) = self.pick(pipe) else {
            return Ok(());
        };
        let max = usize::from(max % 4);
        let id = self.pipes[k].id;
        let (mut subscriptions, mut messages) = (Vec::new(), Vec::new());
        let taken = self
            .core
            .take_outgoing(id, max, &mut subscriptions, &mut messages);
        let conflate = self.options.conflate;
        let p = &mut self.pipes[k];
        if p.peer.is_none() {
            ensure!(
                taken == 0 && subscriptions.is_empty() && messages.is_empty(),
                "{id}: {taken} messages taken without a connection"
            );
            return Ok(());
        }
        let expected: Vec<Subscription> = p.subscriptions_out.drain(..).collect();
        ensure!(
            subscriptions == expected,
            "{id}: took subscriptions {subscriptions:?}, the model says {expected:?}"
        );
        ensure!(
            taken == messages.len(),
            "{id}: said {taken}, took {}",
            messages.len()
        );
        match &mut p.out {
            Out::Known(queue) => {
                let expected: Vec<Message> = queue.drain(..max.min(queue.len())).collect();
                ensure!(
                    messages == expected,
                    "{id}: took {messages:?}, the model says {expected:?}"
                );
            }
            Out::Unknown(queued) => {
                ensure!(
                    taken == max.min(*queued),
                    "{id}: took {taken} of {queued} with at most {max}"
                );
                *queued -= taken;
                if *queued == 0 {
                    p.out = Out::Known(VecDeque::new());
                }
            }
        }
        // A conflating socket's messages stop counting once taken.
        if !conflate {
            p.held.extend(messages);
        }
        if !p.has_outgoing() {
            p.writer_awake = false;
        }
        Ok(())
    }

    fn settle(&mut self, pipe: u8, n: u8) -> Result<(), String> {
        let Some(k) = self.pick(pipe) else {
            return Ok(());
        };
        let n = usize::from(n % 4);
        let id = self.pipes[k].id;
        let settled = self.core.settle_outgoing(id, n);
        let p = &mut self.pipes[k];
        let expected = n.min(p.held.len());
        ensure!(
            settled == expected,
            "{id}: settled {settled} of {n}, the model holds {}",
            p.held.len()
        );
        p.held.drain(..expected);
        Ok(())
    }

    fn reclaim(&mut self, pipe: u8) -> Result<(), String> {
        let Some(k) = self.pick(pipe) else {
            return Ok(());
        };
        let id = self.pipes[k].id;
        let mut held = std::mem::take(&mut self.pipes[k].held);
        self.core.reclaim_outgoing(id, held.clone());
        let p = &mut self.pipes[k];
        if self.options.conflate {
            // Only the newest message is kept, and only if nothing newer is queued.
            held = match held.pop() {
                Some(last) if p.out.len() == 0 => vec![last],
                _ => Vec::new(),
            };
        }
        if p.send_hwm != 0 {
            let fits = p.send_hwm.saturating_sub(p.out.len());
            if held.len() > fits {
                held.drain(..held.len() - fits);
            }
        }
        match &mut p.out {
            Out::Known(queue) => {
                for message in held.into_iter().rev() {
                    queue.push_front(message);
                }
            }
            Out::Unknown(queued) => *queued += held.len(),
        }
        Ok(())
    }

    fn disconnected(&mut self, pipe: u8) -> Result<(), String> {
        let Some(k) = self.pick(pipe) else {
            return Ok(());
        };
        if self.pipes[k].peer.is_some() {
            self.lose_connection(k);
        }
        self.core.disconnected(self.pipes[k].id);
        Ok(())
    }

    fn detach(&mut self, pipe: u8) -> Result<(), String> {
        let Some(k) = self.pick(pipe) else {
            return Ok(());
        };
        let id = self.pipes[k].id;
        if self.pipes[k].state != State::Removed {
            if self.pipes[k].peer.is_some() {
                self.lose_connection(k);
            }
            match self.socket_type {
                SocketType::Pair if self.pair_current == Some(k) => self.pair_current = None,
                SocketType::Router => self.forget_routing_id(k),
                SocketType::Pub | SocketType::Xpub => self.forget_subscriber(k),
                _ => {}
            }
            let p = &mut self.pipes[k];
            // What it received stays readable; what it had to send is dropped.
            p.out = Out::Known(VecDeque::new());
            p.held.clear();
            p.subscriptions_out.clear();
            p.writer_awake = false;
            p.state = if p.inbound.is_empty() {
                State::Removed
            } else {
                State::Draining
            };
        }
        self.core.detach(id);
        Ok(())
    }

    fn lose_connection(&mut self, k: usize) {
        match self.socket_type {
            SocketType::Router => self.forget_routing_id(k),
            SocketType::Pub | SocketType::Xpub => self.forget_subscriber(k),
            _ => {}
        }
        self.clear_peer(k);
    }

    fn forget_routing_id(&mut self, k: usize) {
        let routing_id = &self.pipes[k].routing_id;
        if self.router_ids.get(routing_id) == Some(&k) {
            self.router_ids.remove(routing_id);
        }
    }

    fn clear_peer(&mut self, k: usize) {
        let p = &mut self.pipes[k];
        p.peer = None;
        p.writer_awake = false;
        p.subscriptions_out.clear();
        // What the lost peer took no longer counts.
        p.held.clear();
        if self.options.immediate {
            // Only completed connections hold messages.
            p.out = Out::Known(VecDeque::new());
        }
    }

    fn set_options(&mut self, change: OptionChange) {
        match change {
            OptionChange::ToggleConflate => {
                if !CONFLATING.contains(&self.socket_type) {
                    return;
                }
                self.options.conflate = !self.options.conflate;
            }
            OptionChange::SendHwm(value) => self.options.send_hwm = hwm(value),
            OptionChange::RecvHwm(value) => self.options.recv_hwm = hwm(value),
        }
        self.core.set_options(self.options.clone());
    }

    /// Takes the events of the last call: each `Close` must be expected, and wake-ups feed the
    /// liveness checks.
    fn take_events(&mut self) -> Result<(), String> {
        let events: Vec<Event> = self.core.take_events().collect();
        let mut closes = Vec::new();
        for event in events {
            let (Event::Writable(id) | Event::Readable(id) | Event::Close(id)) = event else {
                // Dropped: the count is the pattern's bookkeeping, not the model's.
                continue;
            };
            let Some(k) = self.pipes.iter().position(|p| p.id == id) else {
                return Err(format!("{event:?} names a pipe never attached"));
            };
            let p = &mut self.pipes[k];
            match event {
                // A wake-up before the connection is up reaches no writer.
                Event::Writable(_) if p.peer.is_some() => p.writer_awake = true,
                Event::Writable(_) => {}
                Event::Readable(_) => {
                    p.reader_paused = false;
                    p.upstream_paused = false;
                }
                Event::Close(_) => closes.push(id),
                Event::Dropped => {}
            }
        }
        closes.sort();
        self.expected_closes.sort();
        ensure!(
            closes == self.expected_closes,
            "Close for {closes:?}, the model says {:?}",
            self.expected_closes
        );
        Ok(())
    }

    /// Compares every pipe with its model, and checks the core's own invariants.
    fn check_state(&self) -> Result<(), String> {
        self.core
            .check_invariants()
            .map_err(|e| format!("invariant: {e}"))?;
        let attached: Vec<PeerId> = self
            .pipes
            .iter()
            .filter(|p| p.state == State::Attached)
            .map(|p| p.id)
            .collect();
        ensure!(
            self.core.pipes().ids() == attached,
            "pipes {:?}, the model says {attached:?}",
            self.core.pipes().ids()
        );
        for p in &self.pipes {
            let id = p.id;
            let actual = self.core.pipes().get(id);
            let Some(a) = actual else {
                ensure!(p.state == State::Removed, "{id} is gone, the model has it");
                continue;
            };
            ensure!(p.state != State::Removed, "{id} should be gone");
            ensure!(
                a.peer().map(|peer| peer.version) == p.peer,
                "{id}: connection {:?}, the model says {:?}",
                a.peer().map(|peer| peer.version),
                p.peer
            );
            ensure!(a.origin() == p.origin, "{id}: origin changed");
            ensure!(
                a.queued_in() == p.inbound.len(),
                "{id}: {} received, the model says {}",
                a.queued_in(),
                p.inbound.len()
            );
            ensure!(
                a.queued_out() == p.out.len(),
                "{id}: {} to send, the model says {}",
                a.queued_out(),
                p.out.len()
            );
            ensure!(
                a.has_outgoing() == p.has_outgoing(),
                "{id}: outgoing {}, the model says {}",
                a.has_outgoing(),
                p.has_outgoing()
            );
            ensure!(
                a.routing_id() == &p.routing_id,
                "{id}: routing id {:?}, the model says {:?}",
                a.routing_id(),
                p.routing_id
            );
            ensure!(
                p.send_hwm == 0 || a.queued_out() <= p.send_hwm,
                "{id}: {} queued to send past a high-water mark of {}",
                a.queued_out(),
                p.send_hwm
            );
            if p.state != State::Attached {
                continue;
            }
            // ZMQ_IMMEDIATE: "messages shall be queued only to completed connections".
            ensure!(
                !self.options.immediate || p.peer.is_some() || a.queued_out() == 0,
                "{id}: {} queued without a connection, with immediate",
                a.queued_out()
            );
            // Subscriptions belong to a connection: they go with it and the next one replays its
            // own.
            ensure!(
                p.peer.is_some() || p.topics.is_empty() || self.options.xpub_manual,
                "{id}: holds subscriptions {:?} without a connection",
                p.topics
            );
            // Lost wake-ups: a connected writer with data must have been told, and a paused
            // reader must be resumed by the time its queue is down to the low-water mark.
            ensure!(
                p.peer.is_none() || !p.has_outgoing() || p.writer_awake,
                "{id}: has data to write and no Writable since it last ran dry"
            );
            ensure!(
                a.is_reader_paused() == p.reader_paused,
                "{id}: reader paused {}, the model says {}",
                a.is_reader_paused(),
                p.reader_paused
            );
            // The queue for the application is the socket's: its limit is the live option, and
            // the application's reads are what resume its subscribers.
            let read = matches!(self.history.last(), Some(Op::Recv));
            ensure!(
                !read || !p.upstream_paused || self.upstream.len() > self.options.recv_hwm / 2,
                "{id}: XPUB subscriber still paused with {} of {} for the application",
                self.upstream.len(),
                self.options.recv_hwm
            );
            ensure!(
                !p.reader_paused || p.inbound.len() > p.recv_hwm / 2,
                "{id}: reader still paused with {} of {} queued",
                p.inbound.len(),
                p.recv_hwm
            );
        }
        ensure!(
            self.core.can_recv() == self.can_recv(),
            "can_recv is {}, the model says {}",
            self.core.can_recv(),
            self.can_recv()
        );
        Ok(())
    }

    /// Whether the model has something for `recv` (REP: a request, well-formed or not).
    fn can_recv(&self) -> bool {
        let any_input = self.pipes.iter().any(|p| !p.inbound.is_empty());
        match self.socket_type {
            SocketType::Push => false,
            SocketType::Pub | SocketType::Xpub => !self.upstream.is_empty(),
            SocketType::Req => self
                .req_awaiting
                .is_some_and(|k| !self.pipes[k].inbound.is_empty()),
            SocketType::Rep => self.rep_pending.is_none() && any_input,
            _ => any_input,
        }
    }

    /// Queues `message` for pipe `k` as `Pipes::push_out` does; returns whether it was taken.
    fn push_out(&mut self, k: usize, message: Message) -> bool {
        let conflate = self.options.conflate;
        let p = &mut self.pipes[k];
        if p.state == State::Removed {
            return false;
        }
        if conflate {
            p.out = Out::Known(VecDeque::from([message]));
            self.last_target = Some(k);
            return true;
        }
        if p.send_hwm != 0 && p.out.len() + p.held.len() >= p.send_hwm {
            return false;
        }
        p.out.push(message);
        self.last_target = Some(k);
        true
    }

    /// Queues a received message for the application; returns whether the reader may go on.
    fn push_in(&mut self, k: usize, message: Message) -> bool {
        let p = &mut self.pipes[k];
        if self.options.conflate {
            p.inbound.clear();
            p.inbound.push_back(message);
            return true;
        }
        p.inbound.push_back(message);
        p.recv_hwm == 0 || p.inbound.len() < p.recv_hwm
    }

    /// Takes the oldest message pipe `k` received; a detached pipe goes with its last one.
    fn take_in(&mut self, k: usize) -> Option<Message> {
        let p = &mut self.pipes[k];
        let message = p.inbound.pop_front()?;
        if p.state == State::Draining && p.inbound.is_empty() {
            p.state = State::Removed;
        }
        Some(message)
    }

    /// The pipe `pipe` places back from the newest (modulo their number): small numbers name
    /// recent pipes, which are the likeliest to be alive.
    fn pick(&self, pipe: u8) -> Option<usize> {
        let len = self.pipes.len();
        (len > 0).then(|| len - 1 - usize::from(pipe) % len)
    }

    fn actual_out(&self, k: usize) -> usize {
        let id = self.pipes[k].id;
        self.core.pipes().get(id).map_or(0, |a| a.queued_out())
    }

    fn actual_routing_id(&self, k: usize) -> Bytes {
        let id = self.pipes[k].id;
        self.core
            .pipes()
            .get(id)
            .map(|a| a.routing_id().clone())
            .unwrap_or_default()
    }

    /// None, "a", "b", or the routing id a ROUTER with this seed generates first, so that
    /// identities clash with each other and with generated ids.
    fn identity(&self, choice: u8) -> Option<Bytes> {
        match choice % 4 {
            0 => None,
            1 => Some(Bytes::from_static(b"a")),
            2 => Some(Bytes::from_static(b"b")),
            _ => {
                let mut id = vec![0];
                id.extend_from_slice(&self.options.seed.to_be_bytes());
                Some(Bytes::from(id))
            }
        }
    }

    fn message(&self, frames: &[FrameKind]) -> Message {
        frames.iter().map(|&f| self.frame(f)).collect()
    }

    fn frame(&self, kind: FrameKind) -> Bytes {
        match kind {
            FrameKind::Empty => Bytes::new(),
            FrameKind::Text(i) => Bytes::from_static(TEXTS[usize::from(i) % TEXTS.len()]),
            FrameKind::Subscription { subscribe, topic } => {
                subscription(subscribe, topic).to_message_frame()
            }
            FrameKind::RequestId { current } => {
                let id = if current {
                    self.request_id
                } else {
                    self.request_id.wrapping_add(1)
                };
                Bytes::copy_from_slice(&id.to_be_bytes())
            }
            FrameKind::RoutingId(pipe) => self
                .pick(pipe)
                .map(|k| self.pipes[k].routing_id.clone())
                .unwrap_or_default(),
        }
    }
}

/// Where a load-balanced message went.
#[derive(Debug, Clone, Copy)]
enum Sent {
    /// No pipe could take it.
    Refused,
    /// To this pipe.
    To(usize),
    /// To one of several conflating pipes, which now hold unknown messages.
    Unknown,
}

/// Where a pipe is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Attached and in every routing decision.
    Attached,
    /// Detached, kept until the application has read what it received.
    Draining,
    /// Gone from the core.
    Removed,
}

/// The messages a pipe has to send.
#[derive(Debug)]
enum Out {
    /// These, in order.
    Known(VecDeque<Message>),
    /// This many, of which the model lost track (see [`Sent::Unknown`]).
    Unknown(usize),
}

impl Out {
    fn len(&self) -> usize {
        match self {
            Self::Known(queue) => queue.len(),
            Self::Unknown(len) => *len,
        }
    }

    fn push(&mut self, message: Message) {
        match self {
            Self::Known(queue) => queue.push_back(message),
            Self::Unknown(len) => *len += 1,
        }
    }
}

/// What the core should hold for one pipe.
#[derive(Debug)]
struct PipeModel {
    id: PeerId,
    origin: Origin,
    state: State,
    /// The high-water marks in force when the pipe was attached.
    send_hwm: usize,
    recv_hwm: usize,
    /// The version the connected peer speaks; `None` while the connection is down.
    peer: Option<Version>,
    ever_connected: bool,
    routing_id: Bytes,
    inbound: VecDeque<Message>,
    out: Out,
    /// Taken by `take_outgoing` and not settled: still counted against the send high-water
    /// mark.
    held: Vec<Message>,
    subscriptions_out: VecDeque<Subscription>,
    /// Told to pause (inbound returned false) and not yet told to resume.
    reader_paused: bool,
    /// XPUB: paused because the queue for the application is full, until told to resume.
    upstream_paused: bool,
    /// Told to write while connected, and has not run dry since.
    writer_awake: bool,
    /// Fair-queue turns other pipes had since this one last had its turn, while it had input.
    waited: usize,
    /// PUB and XPUB: the topics this peer holds.
    topics: BTreeSet<Bytes>,
    /// XPUB with `xpub_manual`: the topics the peer itself asked for, once it asked for any.
    own_topics: Option<BTreeSet<Bytes>>,
}

impl PipeModel {
    fn new(id: PeerId, origin: Origin, options: &PatternOptions) -> Self {
        Self {
            id,
            origin,
            state: State::Attached,
            send_hwm: options.send_hwm,
            recv_hwm: options.recv_hwm,
            peer: None,
            ever_connected: false,
            routing_id: Bytes::new(),
            inbound: VecDeque::new(),
            out: Out::Known(VecDeque::new()),
            held: Vec::new(),
            subscriptions_out: VecDeque::new(),
            reader_paused: false,
            upstream_paused: false,
            writer_awake: false,
            waited: 0,
            topics: BTreeSet::new(),
            own_topics: None,
        }
    }

    fn has_outgoing(&self) -> bool {
        self.out.len() > 0 || !self.subscriptions_out.is_empty()
    }
}

/// Compares a send's result with the model's, and checks that a refused message comes back
/// whole.
fn expect_send(
    result: Result<(), SendError>,
    expected: Result<(), SendErrorKind>,
    message: &Message,
) -> Result<(), String> {
    match (result, expected) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(error), Err(kind)) if error.kind == kind => {
            ensure!(
                error.message == *message,
                "a refused send handed back {:?} for {message:?}",
                error.message
            );
            Ok(())
        }
        (result, expected) => Err(format!(
            "send returned {:?}, the model says {expected:?}",
            result.map_err(|e| e.kind)
        )),
    }
}

/// The message form of a subscription: one frame starting with 1 or 0.
fn subscription_message(message: &Message) -> Option<Subscription> {
    match message.frames() {
        [frame] => Subscription::from_message_frame(frame),
        _ => None,
    }
}

fn subscription(subscribe: bool, topic: u8) -> Subscription {
    let topic = Bytes::from_static(TOPICS[usize::from(topic) % TOPICS.len()]);
    if subscribe {
        Subscription::subscribe(topic)
    } else {
        Subscription::cancel(topic)
    }
}

fn hwm(value: u8) -> usize {
    usize::from(value % 5)
}
