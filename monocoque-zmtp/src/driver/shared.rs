//! The state a socket shares with its connection tasks, all on one runtime thread.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monocoque_core::PeerId;

use super::monitor::{MONITOR_CAPACITY, Monitor, MonitorEvent, MonitorEventKind, MonitorMask};
use super::options::SocketOptions;
use super::signal::Signal;
use super::zap::ZapClient;
use crate::proto::{Event as CoreEvent, Origin, ReceiveBudget, SocketCore, SocketType};

/// Wake-ups and per-connection state of one pipe's connection.
#[derive(Debug, Default)]
pub(crate) struct PipeSignals {
    /// Something changed for the connection's task: new outgoing data, room in the receive
    /// queue, or the order to close.
    pub(crate) wake: Signal,
    /// The core said the pipe's receive queue has room again.
    pub(crate) resume: Cell<bool>,
    /// The connection must close (refused by the pattern, or the socket is going away).
    pub(crate) closing: Cell<bool>,
    /// A write is in progress: `close` waits for it.
    pub(crate) writing: Cell<bool>,
}

impl PipeSignals {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn close(&self) {
        self.closing.set(true);
        self.wake.notify(usize::MAX);
    }
}

/// Everything a socket's tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) socket_type: SocketType,
    pub(crate) options: RefCell<SocketOptions>,
    pub(crate) core: RefCell<SocketCore>,
    /// Room appeared in some send queue.
    pub(crate) send_ready: Signal,
    /// A message arrived for the application.
    pub(crate) recv_ready: Signal,
    /// Sends that succeeded without waiting since the sender last gave the runtime a turn.
    pub(crate) sends_in_a_row: Cell<u32>,
    /// A writer finished a batch (for `close`).
    pub(crate) flushed: Signal,
    /// What partially received messages may hold, across every connection.
    pub(crate) budget: RefCell<ReceiveBudget>,
    signals: RefCell<HashMap<PeerId, Rc<PipeSignals>>>,
    /// Every monitor watching, with the events it wants.
    monitors: RefCell<Vec<(flume::Sender<MonitorEvent>, MonitorMask)>>,
    /// What the pattern dropped and what of it was logged.
    pub(crate) drops: DropLog,
    /// The line to the ZAP handler, made when a handshake first needs it.
    zap: RefCell<Option<Rc<ZapClient>>>,
}

/// Logs dropped messages at most once per [`DropLog::PERIOD`]: a PUB at its high-water mark
/// drops on every send, and one line per message would drown the log.
#[derive(Debug, Default)]
pub(crate) struct DropLog {
    /// The drop count as last logged (or as last seen, when nobody listens at warn level).
    reported: Cell<u64>,
    last: Cell<Option<Instant>>,
}

impl DropLog {
    const PERIOD: Duration = Duration::from_secs(1);

    #[cold]
    #[inline(never)]
    pub(crate) fn report(&self, dropped: u64, socket_type: SocketType) {
        if !tracing::enabled!(tracing::Level::WARN) {
            self.reported.set(dropped);
            return;
        }
        let now = Instant::now();
        if self
            .last
            .get()
            .is_some_and(|last| now < last + Self::PERIOD)
        {
            return;
        }
        tracing::warn!(
            socket_type = %socket_type,
            dropped = dropped - self.reported.get(),
            total = dropped,
            "messages dropped: no peer could take them (high-water mark reached, or no such peer)"
        );
        self.reported.set(dropped);
        self.last.set(Some(now));
    }
}

impl Shared {
    pub(crate) fn new(socket_type: SocketType, options: SocketOptions) -> Self {
        Self {
            socket_type,
            core: RefCell::new(SocketCore::new(socket_type, options.pattern_options())),
            budget: RefCell::new(ReceiveBudget::new(options.receive_budget_value())),
            options: RefCell::new(options),
            send_ready: Signal::new(),
            recv_ready: Signal::new(),
            flushed: Signal::new(),
            sends_in_a_row: Cell::new(0),
            signals: RefCell::new(HashMap::new()),
            monitors: RefCell::new(Vec::new()),
            drops: DropLog::default(),
            zap: RefCell::new(None),
        }
    }

    /// The line to the ZAP handler (`None` if it cannot be made: the question is refused).
    pub(crate) fn zap(&self) -> Option<Rc<ZapClient>> {
        let mut zap = self.zap.borrow_mut();
        if zap.is_none() {
            *zap = ZapClient::new().map(Rc::new);
        }
        zap.clone()
    }

    /// Reports an event to each monitor that wants it; builds nothing when there is none.
    pub(crate) fn emit(&self, event: impl FnOnce() -> MonitorEvent) {
        let mut monitors = self.monitors.borrow_mut();
        if monitors.is_empty() {
            return;
        }
        let event = event();
        // A monitor whose reader is gone is forgotten; a full one misses the event.
        monitors.retain(|(sender, mask)| {
            !mask.contains(&event.kind)
                || !matches!(
                    sender.try_send(event.clone()),
                    Err(flume::TrySendError::Disconnected(_))
                )
        });
    }

    /// Starts a monitor of the events in `mask`, beside any others.
    pub(crate) fn monitor(&self, mask: MonitorMask) -> Monitor {
        let (sender, events) = flume::bounded(MONITOR_CAPACITY);
        self.monitors.borrow_mut().push((sender, mask));
        Monitor::new(events)
    }

    /// Tells every monitor that no more events will come.
    pub(crate) fn stop_monitor(&self) {
        for (sender, _) in self.monitors.borrow_mut().drain(..) {
            let _ = sender.try_send(MonitorEvent::new(MonitorEventKind::MonitorStopped, ""));
        }
    }

    /// Runs `f` on the core, then acts on the events it produced.
    pub(crate) fn with_core<R>(&self, f: impl FnOnce(&mut SocketCore) -> R) -> R {
        let mut core = self.core.borrow_mut();
        let result = f(&mut core);
        self.dispatch(&mut core);
        result
    }

    fn dispatch(&self, core: &mut SocketCore) {
        if !core.has_events() {
            return;
        }
        let signals = self.signals.borrow();
        let mut dropped = false;
        for event in core.take_events() {
            match event {
                CoreEvent::Writable(id) => {
                    if let Some(s) = signals.get(&id) {
                        s.wake.notify(1);
                    }
                }
                CoreEvent::Readable(id) => {
                    if let Some(s) = signals.get(&id) {
                        s.resume.set(true);
                        s.wake.notify(1);
                    }
                }
                CoreEvent::Close(id) => {
                    if let Some(s) = signals.get(&id) {
                        s.close();
                    }
                }
                CoreEvent::Dropped => dropped = true,
            }
        }
        if dropped {
            self.drops.report(core.pipes().dropped(), self.socket_type);
        }
    }

    /// Adds a pipe.
    pub(crate) fn attach(&self, origin: Origin) -> PeerId {
        self.with_core(|core| core.attach(origin))
    }

    /// A handshake completed on a connection with `signals`: its pipe (the connecting one, or a
    /// new one for an accepted connection) takes the peer. Returns the pipe, whether the pattern
    /// accepted the peer, and the routing id the socket knows it by (or the identity it sent).
    pub(crate) fn connect_pipe(
        &self,
        connecting: Option<PeerId>,
        signals: &Rc<PipeSignals>,
        peer: crate::proto::PeerInfo,
    ) -> (PeerId, bool, Option<bytes::Bytes>) {
        let id = connecting.unwrap_or_else(|| self.attach(Origin::Accept));
        self.register(id, signals.clone());
        let identity = peer.identity.clone();
        let (accepted, routing_id) = self.with_core(|core| {
            let accepted = core.connected(id, peer);
            let routing_id = core
                .pipes()
                .get(id)
                .map(|p| p.routing_id().clone())
                .filter(|r| !r.is_empty());
            (accepted, routing_id)
        });
        // A ROUTER_NOTIFY message may be waiting for the application.
        self.recv_ready.notify(1);
        (id, accepted, routing_id.or(identity))
    }

    /// Makes `signals`, a new connection's own, those of pipe `id`. Each connection has its own,
    /// so a task of a dead connection can never act on its successor's behalf.
    pub(crate) fn register(&self, id: PeerId, signals: Rc<PipeSignals>) {
        if let Some(old) = self.signals.borrow_mut().insert(id, signals) {
            old.close();
        }
    }

    /// Forgets `signals` for pipe `id`, unless a newer connection's took their place.
    pub(crate) fn unregister(&self, id: PeerId, signals: &Rc<PipeSignals>) {
        let mut map = self.signals.borrow_mut();
        if map.get(&id).is_some_and(|s| Rc::ptr_eq(s, signals)) {
            map.remove(&id);
        }
    }

    /// Removes a pipe; its connection, if any, is told to close.
    pub(crate) fn detach(&self, id: PeerId) {
        self.with_core(|core| core.detach(id));
        if let Some(signals) = self.signals.borrow_mut().remove(&id) {
            signals.close();
        }
        // A REQ waiting on a pipe that vanished, a sender blocked on it, or `close` waiting for
        // it to flush, re-evaluates.
        self.send_ready.notify(usize::MAX);
        self.recv_ready.notify(usize::MAX);
        self.flushed.notify(usize::MAX);
    }

    /// Records that the connection of pipe `id` ended; the pipe stays for the next one.
    pub(crate) fn disconnected(&self, id: PeerId) {
        self.with_core(|core| core.disconnected(id));
        if let Some(signals) = self.signals.borrow_mut().remove(&id) {
            signals.close();
        }
        self.flushed.notify(usize::MAX);
        // A ROUTER_NOTIFY message may be waiting for the application.
        self.recv_ready.notify(1);
    }

    /// Every pipe's signals, to close them all.
    pub(crate) fn all_signals(&self) -> Vec<Rc<PipeSignals>> {
        self.signals.borrow().values().cloned().collect()
    }

    /// Whether every pipe that can still deliver has written everything queued for it. A pipe
    /// created by `connect` can deliver once its connection comes up, so it counts even while
    /// disconnected.
    pub(crate) fn is_flushed(&self) -> bool {
        let core = self.core.borrow();
        let signals = self.signals.borrow();
        core.pipes().ids().iter().all(|id| {
            let Some(pipe) = core.pipes().get(*id) else {
                return true;
            };
            let can_deliver = pipe.peer().is_some() || pipe.origin() == Origin::Connect;
            !can_deliver
                || (!pipe.has_outgoing() && !signals.get(id).is_some_and(|s| s.writing.get()))
        })
    }
}
