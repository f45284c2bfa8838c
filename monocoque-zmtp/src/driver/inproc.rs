//! `inproc://`: sockets of one process linked by two mailboxes, on the same thread or on
//! different runtime threads. Messages move as they are (their `Bytes` are shared, never copied
//! or encoded), a batch per hand-over and one wake-up per batch.
//!
//! A link's two sides each run a task on their own socket's runtime, as a connection does: it
//! hands the peer what the socket's core queued for it, and hands the core what the peer sent.
//! A message handed over keeps counting against the sender's high-water mark until the receiving
//! side has queued it in its core, so the two queues together hold what both high-water marks
//! allow and no more (libzmq's `inproc` pipe has the sum of both sides' limits).
//!
//! Names live in a process-wide registry. A `connect` before the `bind` leaves its link waiting
//! under the name; the `bind` takes every waiting link, as libzmq 4.x does.

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::task::Poll;

use futures_util::task::AtomicWaker;
use monocoque_core::{Message, PeerId};

use super::connection::PipeFor;
use super::monitor::{MonitorEvent, MonitorEventKind};
use super::shared::{PipeSignals, Shared};
use crate::proto::{DisconnectReason, Metadata, PeerInfo, ProtocolError, Subscription};

/// Messages taken from the core per hand-over.
const BATCH: usize = 512;

/// What one side hands the other, in order.
enum Item {
    /// Who the sender is: always the first item.
    Hello(PeerInfo),
    Subscriptions(Vec<Subscription>),
    Messages(Vec<Message>),
}

/// What one side's task is given by the other.
#[derive(Default)]
struct Inbox {
    items: Mutex<VecDeque<Item>>,
    /// How many of the messages this side sent the other side has queued in its core.
    settled: AtomicUsize,
    /// The other side is gone.
    gone: AtomicBool,
    /// The other side's pattern refused this one (set before `gone`).
    refused: AtomicBool,
    waker: AtomicWaker,
}

impl Inbox {
    fn items(&self) -> MutexGuard<'_, VecDeque<Item>> {
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, item: Item) {
        self.items().push_back(item);
        self.waker.wake();
    }

    fn settle(&self, n: usize) {
        self.settled.fetch_add(n, Ordering::AcqRel);
        self.waker.wake();
    }

    fn hang_up(&self) {
        self.gone.store(true, Ordering::Release);
        self.waker.wake();
    }
}

/// Which end of a link a task serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Connect = 0,
    Bind = 1,
}

/// The two mailboxes of one link: `inboxes[side]` is what the task of `side` is given.
#[derive(Default)]
pub(crate) struct Link {
    inboxes: [Inbox; 2],
}

impl Link {
    fn mine(&self, side: Side) -> &Inbox {
        &self.inboxes[side as usize]
    }

    fn theirs(&self, side: Side) -> &Inbox {
        &self.inboxes[1 - side as usize]
    }
}

/// A connecting side's link on its way to a binder. Dropped untaken (the binder went away
/// before serving it), it hangs up, so that the connecting side offers a new link.
pub(crate) struct Offer(Option<Arc<Link>>);

impl Offer {
    fn take(mut self) -> Arc<Link> {
        self.0.take().expect("an offer is taken once")
    }

    fn is_abandoned(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|link| link.mine(Side::Bind).gone.load(Ordering::Acquire))
    }
}

impl Drop for Offer {
    fn drop(&mut self) {
        if let Some(link) = self.0.take() {
            link.theirs(Side::Bind).hang_up();
        }
    }
}

#[derive(Default)]
struct Name {
    binder: Option<(u64, flume::Sender<Offer>)>,
    waiting: Vec<Offer>,
}

static NAMES: LazyLock<Mutex<HashMap<String, Name>>> = LazyLock::new(Mutex::default);
static TOKENS: AtomicU64 = AtomicU64::new(0);

fn names() -> MutexGuard<'static, HashMap<String, Name>> {
    NAMES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether a socket is bound to the `inproc://` name `name`.
pub(crate) fn is_bound(name: &str) -> bool {
    names().get(name).is_some_and(|n| n.binder.is_some())
}

/// The links connecting sides offer to a bound `inproc://` name.
pub(crate) struct Listener {
    offers: flume::Receiver<Offer>,
}

/// A bound `inproc://` name, freed when this is dropped: at once on `unbind` or close, as in
/// libzmq, while the listener's task may go later.
#[derive(Debug)]
pub(crate) struct NameGuard {
    name: String,
    token: u64,
}

impl Listener {
    /// Takes `name`, with every link that connected to it before; `AddrInUse` if another
    /// socket holds it.
    pub(crate) fn bind(name: &str) -> std::io::Result<(Self, NameGuard)> {
        let mut names = names();
        let entry = names.entry(name.to_owned()).or_default();
        if entry.binder.is_some() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "the inproc name is bound by another socket",
            ));
        }
        let token = TOKENS.fetch_add(1, Ordering::Relaxed);
        let (sender, offers) = flume::unbounded();
        for offer in entry.waiting.drain(..).filter(|o| !o.is_abandoned()) {
            let _ = sender.send(offer);
        }
        entry.binder = Some((token, sender));
        let guard = NameGuard {
            name: name.to_owned(),
            token,
        };
        Ok((Self { offers }, guard))
    }

    /// The next link to serve.
    pub(crate) async fn accept(&self) -> Arc<Link> {
        match self.offers.recv_async().await {
            Ok(offer) => offer.take(),
            // The sender lives in the registry for as long as this listener.
            Err(flume::RecvError::Disconnected) => std::future::pending().await,
        }
    }
}

impl Drop for NameGuard {
    fn drop(&mut self) {
        let mut names = names();
        if let Some(entry) = names.get_mut(&self.name) {
            if entry.binder.as_ref().is_some_and(|(t, _)| *t == self.token) {
                entry.binder = None;
            }
            if entry.binder.is_none() && entry.waiting.is_empty() {
                names.remove(&self.name);
            }
        }
        // Links offered and not yet served hang up as the listener's channel goes.
    }
}

/// A new link to `name`, offered to its binder now or to the next one to bind.
pub(crate) fn connect(name: &str) -> Arc<Link> {
    let link = Arc::new(Link::default());
    let offer = Offer(Some(link.clone()));
    let mut names = names();
    let entry = names.entry(name.to_owned()).or_default();
    entry.waiting.retain(|o| !o.is_abandoned());
    let offer = match &entry.binder {
        Some((_, binder)) => match binder.send(offer) {
            Ok(()) => return link,
            Err(flume::SendError(offer)) => offer,
        },
        None => offer,
    };
    entry.waiting.push(offer);
    link
}

/// Serves `side` of `link` for the socket of `shared` to its end, as `connection::serve`
/// serves a stream.
pub(crate) async fn serve(
    shared: Rc<Shared>,
    link: Arc<Link>,
    side: Side,
    pipe: PipeFor,
    endpoint: Rc<str>,
) -> DisconnectReason {
    let mut driver = Driver {
        shared,
        link,
        side,
        signals: Rc::new(PipeSignals::new()),
        pipe,
        id: None,
        endpoint,
        paused: false,
        held: VecDeque::new(),
        end: DisconnectReason::ClosedLocally,
    };
    let reason = driver.run().await;
    driver.end = reason.clone();
    reason
}

struct Driver {
    shared: Rc<Shared>,
    link: Arc<Link>,
    side: Side,
    signals: Rc<PipeSignals>,
    pipe: PipeFor,
    id: Option<PeerId>,
    endpoint: Rc<str>,
    /// The core's receive queue for this pipe is full: nothing is taken from the inbox until
    /// the core says there is room.
    paused: bool,
    /// Taken from the inbox and not yet queued in the core.
    held: VecDeque<Item>,
    end: DisconnectReason,
}

impl Driver {
    async fn run(&mut self) -> DisconnectReason {
        let hello = {
            let options = self.shared.options.borrow();
            let socket_type = self.shared.socket_type;
            let mut peer = PeerInfo::new(socket_type);
            if socket_type.sends_identity() {
                peer.identity = options.routing_id.clone().filter(|id| !id.is_empty());
                peer.metadata = Metadata::for_socket(socket_type, peer.identity.clone());
            }
            peer
        };
        self.link.theirs(self.side).push(Item::Hello(hello));
        let link = self.link.clone();
        let mine = link.mine(self.side);
        let mut subscriptions = Vec::new();
        let mut messages = Vec::new();
        let mut listener = None;
        loop {
            let listening = listener.get_or_insert_with(|| self.signals.wake.listen());
            if self.signals.closing.get() {
                return DisconnectReason::ClosedLocally;
            }
            if self.paused && self.signals.resume.take() {
                self.paused = false;
            }
            if !self.paused {
                let mut held = std::mem::take(&mut self.held);
                held.extend(mine.items().drain(..));
                let delivered = self.deliver(&mut held);
                self.held = held;
                if let Err(reason) = delivered {
                    return reason;
                }
            }
            let settled = mine.settled.swap(0, Ordering::AcqRel);
            if let (Some(id), true) = (self.id, settled > 0) {
                if self.shared.with_core(|c| c.settle_outgoing(id, settled)) > 0 {
                    self.shared.send_ready.notify(usize::MAX);
                }
            }
            if let Some(id) = self.id {
                let mut handed = false;
                loop {
                    let taken = self.shared.with_core(|core| {
                        core.take_outgoing(id, BATCH, &mut subscriptions, &mut messages)
                    });
                    let theirs = self.link.theirs(self.side);
                    if !subscriptions.is_empty() {
                        theirs.push(Item::Subscriptions(std::mem::take(&mut subscriptions)));
                        handed = true;
                    }
                    if !messages.is_empty() {
                        theirs.push(Item::Messages(std::mem::take(&mut messages)));
                        handed = true;
                    }
                    if taken < BATCH {
                        break;
                    }
                }
                if handed {
                    // What was taken went to the peer as a whole: `close` may stop waiting.
                    self.shared.flushed.notify(usize::MAX);
                }
            }
            let gone = mine.gone.load(Ordering::Acquire);
            if gone && self.held.is_empty() && mine.items().is_empty() {
                if mine.refused.load(Ordering::Acquire) {
                    return DisconnectReason::Refused;
                }
                return DisconnectReason::PeerClosed;
            }
            let paused = self.paused;
            let mut fired = false;
            poll_fn(|cx| {
                mine.waker.register(cx.waker());
                if (!paused && (mine.gone.load(Ordering::Acquire) || !mine.items().is_empty()))
                    || mine.settled.load(Ordering::Acquire) > 0
                {
                    return Poll::Ready(());
                }
                if Pin::new(&mut *listening).poll(cx).is_ready() {
                    fired = true;
                    return Poll::Ready(());
                }
                Poll::Pending
            })
            .await;
            if fired {
                listener = None;
            }
        }
    }

    /// Hands the core what the peer sent, in order, until the core's queue fills; what is left
    /// stays in `held`. Tells the peer how many messages it queued.
    fn deliver(&mut self, held: &mut VecDeque<Item>) -> Result<(), DisconnectReason> {
        let mut queued = 0;
        let mut delivered = false;
        while !self.paused {
            let Some(item) = held.pop_front() else { break };
            let item = match item {
                Item::Hello(peer) => {
                    self.establish(peer)?;
                    continue;
                }
                other => other,
            };
            // Nothing but the hello comes before the hello.
            let Some(id) = self.id else { continue };
            delivered = true;
            let paused = &mut self.paused;
            self.shared.with_core(|core| match item {
                Item::Subscriptions(subscriptions) => {
                    let mut rest = subscriptions.into_iter();
                    for subscription in rest.by_ref() {
                        if !core.subscription(id, subscription) {
                            *paused = true;
                            break;
                        }
                    }
                    let rest: Vec<_> = rest.collect();
                    if !rest.is_empty() {
                        held.push_front(Item::Subscriptions(rest));
                    }
                }
                Item::Messages(messages) => {
                    let mut rest = messages.into_iter();
                    for message in rest.by_ref() {
                        queued += 1;
                        if !core.inbound(id, message) {
                            *paused = true;
                            break;
                        }
                    }
                    let rest: Vec<_> = rest.collect();
                    if !rest.is_empty() {
                        held.push_front(Item::Messages(rest));
                    }
                }
                Item::Hello(_) => {}
            });
            if self.paused {
                // A resume flagged before this pause is stale: the core says again when there is
                // room.
                self.signals.resume.set(false);
            }
        }
        if queued > 0 {
            self.link.theirs(self.side).settle(queued);
        }
        if delivered {
            self.shared.recv_ready.notify(1);
        }
        Ok(())
    }

    /// The peer said who it is: it gets a pipe (or takes over the connecting pipe), unless its
    /// type cannot talk to ours or the pattern refuses it.
    fn establish(&mut self, peer: PeerInfo) -> Result<(), DisconnectReason> {
        let local = self.shared.socket_type;
        if !local.is_compatible(peer.socket_type) {
            return Err(DisconnectReason::Incompatible(
                ProtocolError::IncompatibleSocketType {
                    local,
                    peer: peer.socket_type,
                },
            ));
        }
        let connecting = match self.pipe {
            PipeFor::Accepted => None,
            PipeFor::Connecting(id) => Some(id),
        };
        let (id, accepted, routing_id) = self.shared.connect_pipe(connecting, &self.signals, peer);
        self.id = Some(id);
        if !accepted {
            return Err(DisconnectReason::Refused);
        }
        let kind = match self.side {
            Side::Connect => MonitorEventKind::Connected,
            Side::Bind => MonitorEventKind::Accepted,
        };
        self.shared.emit(|| MonitorEvent::new(kind, &self.endpoint));
        self.shared.emit(|| {
            let mut event = MonitorEvent::new(MonitorEventKind::HandshakeSucceeded, &self.endpoint);
            event.routing_id = routing_id;
            event
        });
        self.shared.send_ready.notify(usize::MAX);
        Ok(())
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let (mine, theirs) = (self.link.mine(self.side), self.link.theirs(self.side));
        // What this side took and did not queue goes back, for the peer to reclaim.
        if !self.held.is_empty() {
            let mut items = mine.items();
            for item in self.held.drain(..).rev() {
                items.push_front(item);
            }
        }
        if self.end == DisconnectReason::Refused {
            theirs.refused.store(true, Ordering::Release);
        }
        theirs.hang_up();
        if let (Some(id), PipeFor::Connecting(_)) = (self.id, self.pipe) {
            if mine.gone.load(Ordering::Acquire) {
                // The peer went without queuing all this side sent: the connecting pipe keeps
                // it for the next peer rather than losing it.
                let messages: Vec<Message> = theirs
                    .items()
                    .drain(..)
                    .filter_map(|item| match item {
                        Item::Messages(messages) => Some(messages),
                        _ => None,
                    })
                    .flatten()
                    .collect();
                if !messages.is_empty() {
                    self.shared
                        .with_core(|core| core.reclaim_outgoing(id, messages));
                }
            }
        }
        if let Some(id) = self.id {
            self.shared.unregister(id, &self.signals);
            match self.pipe {
                PipeFor::Accepted => self.shared.detach(id),
                PipeFor::Connecting(_) => self.shared.disconnected(id),
            }
        }
        let reason = self.end.clone();
        tracing::debug!(endpoint = &*self.endpoint, %reason, "inproc link closed");
        if self.id.is_none() {
            if let Some(error) = reason.protocol_error().cloned() {
                self.shared.emit(|| {
                    MonitorEvent::new(
                        MonitorEventKind::HandshakeFailedProtocol { error },
                        &self.endpoint,
                    )
                });
            }
        }
        if self.id.is_some() || reason.protocol_error().is_some() {
            self.shared.emit(|| {
                MonitorEvent::new(MonitorEventKind::Disconnected { reason }, &self.endpoint)
            });
        }
    }
}
