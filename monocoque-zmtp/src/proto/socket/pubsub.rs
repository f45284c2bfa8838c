//! PUB, XPUB, SUB and XSUB (RFC 29): fan-out through a subscription trie at the publisher,
//! subscriptions sent upstream and replayed to every new publisher by the subscriber.

use std::collections::{BTreeSet, HashMap, VecDeque};

use bytes::Bytes;
use monocoque_core::{Message, PeerId};

use super::{Pattern, Pipes, RecvError, SendError, SendErrorKind};
use crate::proto::command::Subscription;
use crate::proto::trie::{SubscriptionTrie, Unsubscribed};

/// PUB and XPUB: every message goes to each peer with a matching subscription whose queue has
/// room; a peer that cannot keep up loses messages, and the publisher never blocks. XPUB also
/// hands subscriptions to the application as `0x01`/`0x00` + topic: by default only a topic's
/// first subscribe and last cancel, all subscribes with `xpub_verbose`, everything with
/// `xpub_verboser` or `xpub_manual`.
///
/// What XPUB's subscribers send waits for the application in one queue bounded by `recv_hwm`:
/// when it is full, the readers of the peers that filled it pause until the application has
/// read it down to half.
#[derive(Debug)]
pub(crate) struct Pub {
    trie: SubscriptionTrie<PeerId>,
    xpub: bool,
    /// Messages for the application, with the peer a subscription came from.
    upstream: VecDeque<(Message, Option<PeerId>)>,
    matched: Vec<PeerId>,
    /// The peer whose subscription the application read last (`xpub_manual`).
    last_subscriber: Option<PeerId>,
    /// `xpub_manual`: what each peer itself subscribed to (the trie holds what the application
    /// decided), so that a peer's departure cancels its own topics.
    manual: HashMap<PeerId, BTreeSet<Bytes>>,
    /// Peers whose readers were paused by a full `upstream`.
    paused: Vec<PeerId>,
}

impl Pub {
    pub(crate) fn new(xpub: bool) -> Self {
        Self {
            trie: SubscriptionTrie::new(),
            xpub,
            upstream: VecDeque::new(),
            matched: Vec::new(),
            last_subscriber: None,
            manual: HashMap::new(),
            paused: Vec::new(),
        }
    }

    fn tell_application(&mut self, subscription: &Subscription, from: Option<PeerId>) {
        if self.xpub {
            self.upstream
                .push_back((Message::single(subscription.to_message_frame()), from));
        }
    }

    /// Whether peer `id` may go on sending after adding to `upstream`; if not, it is paused.
    fn room_for(&mut self, pipes: &Pipes, id: PeerId) -> bool {
        let limit = pipes.options().recv_hwm;
        if limit == 0 || self.upstream.len() < limit {
            return true;
        }
        if !self.paused.contains(&id) {
            self.paused.push(id);
        }
        false
    }

    fn forget_peer(&mut self, id: PeerId) {
        if self.last_subscriber == Some(id) {
            self.last_subscriber = None;
        }
        self.paused.retain(|&p| p != id);
        let emptied = self.trie.remove_peer(id);
        if let Some(own) = self.manual.remove(&id) {
            // Manual mode: the peer's own topics go, each of them (libzmq does the same).
            for topic in own {
                self.tell_application(&Subscription::cancel(topic), None);
            }
        } else {
            for topic in emptied {
                self.tell_application(&Subscription::cancel(topic), None);
            }
        }
    }

    /// Applies a subscription change from peer `id`; returns whether the trie changed in a way
    /// the application hears of by default (first subscribe, last cancel).
    fn apply(&mut self, id: PeerId, subscription: &Subscription) -> bool {
        // Per peer a topic is subscribed or not, as in libzmq: a libzmq SUB counts repeated
        // subscriptions itself and sends CANCEL only for the last one.
        if subscription.subscribe {
            !self.trie.contains(id, &subscription.topic)
                && self.trie.subscribe(id, &subscription.topic)
        } else {
            self.trie.unsubscribe(id, &subscription.topic) == Unsubscribed::LastRemoved
        }
    }
}

impl Pattern for Pub {
    fn connected(&mut self, pipes: &mut Pipes, id: PeerId) -> bool {
        if self.xpub {
            if let Some(welcome) = pipes.options().xpub_welcome.clone() {
                let _ = pipes.push_out(id, Message::single(welcome));
            }
        }
        true
    }

    fn disconnected(&mut self, _pipes: &mut Pipes, id: PeerId) {
        // A subscriber replays its subscriptions when it reconnects.
        self.forget_peer(id);
    }

    fn detached(&mut self, _pipes: &mut Pipes, id: PeerId) {
        self.forget_peer(id);
    }

    fn send(&mut self, pipes: &mut Pipes, message: Message) -> Result<(), SendError> {
        let topic = message.first().map_or(&[][..], |f| &f[..]);
        self.matched.clear();
        self.trie.matches(topic, &mut self.matched);
        if pipes.options().invert_matching {
            // `matched` is sorted: keep every connected peer that is not in it.
            let matched = std::mem::take(&mut self.matched);
            self.matched.extend(
                pipes
                    .ids()
                    .iter()
                    .copied()
                    .filter(|id| matched.binary_search(id).is_err())
                    .filter(|id| pipes.get(*id).is_some_and(|p| p.peer().is_some())),
            );
        }
        if pipes.options().xpub_nodrop
            && self
                .matched
                .iter()
                .any(|&id| pipes.get(id).is_some_and(|p| p.is_full()))
        {
            // `ZMQ_XPUB_NODROP`: all or nothing, as libzmq's check of every matching pipe.
            return Err(SendError::new(SendErrorKind::WouldBlock, message));
        }
        for &id in &self.matched {
            // > ... SHALL silently drop the message if the queue for a subscriber is full.
            if pipes.push_out(id, message.clone()).is_err() {
                pipes.count_drop();
            }
        }
        Ok(())
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Message, RecvError> {
        if !self.xpub {
            return Err(RecvError::NotSupported);
        }
        let (message, from) = self.upstream.pop_front().ok_or(RecvError::WouldBlock)?;
        if from.is_some() {
            // A subscriber that left after asking gets no answer, nor does its next connection.
            self.last_subscriber =
                from.filter(|&id| pipes.get(id).is_some_and(|p| p.peer().is_some()));
        }
        // Resume at the low-water mark, as a pipe's queue does.
        if !self.paused.is_empty() && self.upstream.len() <= pipes.options().recv_hwm / 2 {
            for id in self.paused.drain(..) {
                pipes.push_event(super::Event::Readable(id));
            }
        }
        Ok(message)
    }

    fn inbound(&mut self, pipes: &mut Pipes, id: PeerId, message: Message) -> bool {
        // ZMTP 3.0 subscribers, and libzmq's XSUB forwarding what its application sends, use the
        // message form even on 3.1 connections.
        if message.len() == 1 {
            if let Some(subscription) = Subscription::from_message_frame(&message[0]) {
                return self.subscription(pipes, id, subscription);
            }
        }
        if !self.xpub {
            return true;
        }
        self.upstream.push_back((message, None));
        self.room_for(pipes, id)
    }

    fn subscription(&mut self, pipes: &mut Pipes, id: PeerId, subscription: Subscription) -> bool {
        let options = pipes.options();
        if self.xpub && options.xpub_manual {
            // The application decides, through `subscribe`, for the peer whose request it read
            // last.
            let own = self.manual.entry(id).or_default();
            if subscription.subscribe {
                own.insert(subscription.topic.clone());
            } else {
                own.remove(&subscription.topic);
            }
            self.tell_application(&subscription, Some(id));
            return self.room_for(pipes, id);
        }
        let verbose = if subscription.subscribe {
            options.xpub_verbose || options.xpub_verboser
        } else {
            options.xpub_verboser
        };
        if self.apply(id, &subscription) || verbose {
            self.tell_application(&subscription, Some(id));
        }
        !self.xpub || self.room_for(pipes, id)
    }

    fn subscribe(&mut self, pipes: &mut Pipes, subscription: Subscription) -> bool {
        // XPUB with `xpub_manual`: the application's answer to the last subscription it saw.
        if !(self.xpub && pipes.options().xpub_manual) {
            return false;
        }
        let Some(id) = self.last_subscriber.filter(|id| pipes.contains(*id)) else {
            return false;
        };
        self.apply(id, &subscription);
        true
    }

    fn can_recv(&self, _pipes: &Pipes) -> bool {
        !self.upstream.is_empty()
    }
}

/// SUB and XSUB: fair-queue input from publishers; keep our own subscriptions, send them to
/// every publisher and replay them to each new connection. SUB also filters what arrives.
#[derive(Debug)]
pub(crate) struct Sub {
    subscriptions: SubscriptionTrie<()>,
    filter: bool,
}

impl Sub {
    pub(crate) fn new(filter: bool) -> Self {
        Self {
            subscriptions: SubscriptionTrie::new(),
            filter,
        }
    }

    fn broadcast(pipes: &mut Pipes, subscription: &Subscription) {
        for i in 0..pipes.ids().len() {
            let id = pipes.ids()[i];
            if pipes.get(id).is_some_and(|p| p.peer().is_some()) {
                pipes.push_subscription(id, subscription.clone());
            }
        }
    }

    /// Applies a subscription change locally; returns whether publishers must hear of it.
    fn apply(&mut self, pipes: &Pipes, subscription: &Subscription) -> bool {
        if subscription.subscribe {
            self.subscriptions.subscribe((), &subscription.topic);
            // Sent every time, as libzmq does: the publisher treats repeats as one.
            true
        } else {
            let outcome = self.subscriptions.unsubscribe((), &subscription.topic);
            // Only the last cancel of a topic reaches the publishers, unless XSUB is verbose.
            outcome == Unsubscribed::LastRemoved
                || (!self.filter
                    && pipes.options().xsub_verbose_unsubscribe
                    && outcome != Unsubscribed::NotSubscribed)
        }
    }
}

impl Pattern for Sub {
    fn connected(&mut self, pipes: &mut Pipes, id: PeerId) -> bool {
        for topic in self.subscriptions.topics() {
            pipes.push_subscription(id, Subscription::subscribe(topic));
        }
        true
    }

    fn send(&mut self, pipes: &mut Pipes, message: Message) -> Result<(), SendError> {
        if self.filter {
            return Err(SendError::new(SendErrorKind::NotSupported, message));
        }
        // XSUB: a `0x01`/`0x00` + topic message is a subscription; anything else goes upstream
        // to every publisher.
        if message.len() == 1 {
            if let Some(subscription) = Subscription::from_message_frame(&message[0]) {
                if self.apply(pipes, &subscription) {
                    Self::broadcast(pipes, &subscription);
                }
                return Ok(());
            }
        }
        for i in 0..pipes.ids().len() {
            let id = pipes.ids()[i];
            if pipes.accepts_traffic(id) && pipes.push_out(id, message.clone()).is_err() {
                pipes.count_drop();
            }
        }
        Ok(())
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Message, RecvError> {
        pipes
            .fair_queue()
            .map(|(_, m)| m)
            .ok_or(RecvError::WouldBlock)
    }

    fn inbound(&mut self, pipes: &mut Pipes, id: PeerId, message: Message) -> bool {
        if self.filter {
            let topic = message.first().map_or(&[][..], |f| &f[..]);
            if self.subscriptions.has_match(topic) == pipes.options().invert_matching {
                return true;
            }
        }
        pipes.push_in(id, message)
    }

    fn subscribe(&mut self, pipes: &mut Pipes, subscription: Subscription) -> bool {
        if self.apply(pipes, &subscription) {
            Self::broadcast(pipes, &subscription);
        }
        true
    }
}
