//! One connection, one task: it drives the connection's [`proto::Connection`] by selecting over
//! the read in flight, the write in flight, a timer set from the state machine's next deadline
//! and the socket's wake-up, as compio-quic drives quinn-proto.
//!
//! [`proto::Connection`]: crate::proto::Connection

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use compio::BufResult;
use compio::buf::{IntoInner, IoBuf};
use compio::io::{AsyncReadExt, AsyncWriteExt};
use futures_util::FutureExt;
use monocoque_core::PeerId;

use super::monitor::{MonitorEvent, MonitorEventKind};
use super::pending::PendingGuard;
use super::shared::{PipeSignals, Shared};
use super::transport::Stream;
use crate::proto::{
    AuthDecision, Connection, ConnectionConfig, ConnectionEvent, DisconnectReason, HandshakeConfig,
    ProtocolError,
};

/// The most bytes asked of the kernel per read: large reads, many frames decoded per read.
const READ_CHUNK: usize = 64 * 1024;

/// The most room kept free after a read for a large frame that starts in it (see
/// `Connection::read_hints`): frames up to this size complete where they started.
const MAX_SLACK: usize = 1 << 20;

/// The read size of a quiet connection. Reads grow towards [`READ_CHUNK`] while they come back
/// full and shrink back when traffic dies down, so an idle connection holds a small buffer (a
/// ROUTER with thousands of mostly idle peers) and a busy one reads in large gulps.
const MIN_READ: usize = 4 * 1024;

/// Bytes of queued messages moved into one vectored write: enough for a thousand small messages
/// per system call, small enough that a connection dying mid-write loses little of what was
/// already taken off the queue.
const WRITE_BATCH: usize = 64 * 1024;

/// How long a refused peer is given to take the ERROR command that says why.
const ERROR_LINGER: Duration = Duration::from_millis(500);

/// Which pipe a connection feeds: its own (accepted) or the connecting pipe that outlives it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PipeFor {
    Accepted,
    Connecting(PeerId),
}

/// Runs a connection to its end: handshake, then traffic until either side closes. Reports the
/// handshake and the end (with its reason, and the peer's routing id once known) to the
/// socket's monitor, also when the task is dropped.
pub(crate) async fn serve(
    shared: Rc<Shared>,
    stream: Stream,
    pipe: PipeFor,
    endpoint: Rc<str>,
    pending: Option<PendingGuard>,
) -> DisconnectReason {
    let address = stream.peer_address();
    // ZAP's address frame is the IP alone, as libzmq sends it.
    let ip = stream.peer_ip().map(|ip| ip.to_string());
    let mut driver = Driver::new(shared, pipe, endpoint, address, ip.as_deref());
    driver.pending = pending;
    let reason = driver.run(stream).await;
    driver.end = reason.clone();
    reason
}

/// The state of one connection's task. Dropping it, however the task ends, detaches the pipe
/// and reports the end.
struct Driver {
    shared: Rc<Shared>,
    conn: Connection,
    signals: Rc<PipeSignals>,
    pipe: PipeFor,
    /// The pipe, once the handshake is done.
    id: Option<PeerId>,
    endpoint: Rc<str>,
    address: Option<String>,
    routing_id: Option<Bytes>,
    /// The pipe's receive queue is full: nothing is decoded or read until the core says so.
    paused: bool,
    /// This connection's share of the socket's receive budget.
    held: u64,
    end: DisconnectReason,
    /// An accepted connection's place among its listener's handshakes in progress, until the
    /// handshake is done.
    pending: Option<PendingGuard>,
}

/// What woke the task.
enum Woken {
    Read(Stream, BufResult<usize, BytesMut>),
    Wrote(Stream, BufResult<(), Vec<Bytes>>),
    Timer,
    Signal,
    /// The ZAP handler decided about the client.
    Authenticated(AuthDecision),
}

impl Driver {
    fn new(
        shared: Rc<Shared>,
        pipe: PipeFor,
        endpoint: Rc<str>,
        address: Option<String>,
        ip: Option<&str>,
    ) -> Self {
        let conn = {
            let options = shared.options.borrow();
            let mut handshake =
                HandshakeConfig::new(shared.socket_type).timeout(options.handshake_timeout);
            if let Some(id) = &options.routing_id {
                handshake = handshake.identity(id.clone());
            }
            let config = ConnectionConfig::new(shared.socket_type)
                .with_handshake(handshake)
                .heartbeat(options.heartbeat)
                .max_message_size(options.max_message_size)
                .max_frame_len(shared.budget.borrow().limit());
            Connection::new(config, options.mechanism(ip), Instant::now())
        };
        Self {
            shared,
            conn,
            signals: Rc::new(PipeSignals::new()),
            pipe,
            id: None,
            endpoint,
            address,
            routing_id: None,
            pending: None,
            paused: false,
            held: 0,
            end: DisconnectReason::ClosedLocally,
        }
    }

    async fn run(&mut self, stream: Stream) -> DisconnectReason {
        stream.apply_options(&self.shared.options.borrow());
        let (reader, writer) = stream.split();
        let mut read_size = MIN_READ;
        let mut asked = MIN_READ;
        let mut read_full = false;
        // The read, write and timer futures own what they work on and hand it back; the first
        // read and the greeting's write start at once.
        let mut reading = pin!(read(reader, BytesMut::with_capacity(MIN_READ), MIN_READ).fuse());
        let greeting = self.conn.poll_transmit().unwrap_or_default();
        self.signals.writing.set(true);
        let mut writing = pin!(write(writer, greeting).fuse());
        let mut timer = pin!(sleep(None).fuse());
        let (mut reader, mut writer, mut buf) = (None, None, None);
        let mut timer_at: Option<Instant> = None;
        let mut undecoded = false;
        // A question to the ZAP handler in flight: nothing is read until it is answered.
        let mut asking: Option<Pin<Box<dyn Future<Output = AuthDecision>>>> = None;
        // Listening starts before the state is looked at, so that no wake-up is missed; a
        // listener that has not fired yet still covers the next look.
        let mut listener = None;
        loop {
            let listening = listener.get_or_insert_with(|| self.signals.wake.listen());
            if self.signals.closing.get() {
                return DisconnectReason::ClosedLocally;
            }
            if self.paused && self.signals.resume.take() {
                self.paused = false;
            }
            if undecoded && !self.paused {
                if let Some(buf) = buf.as_mut() {
                    match self.decode(buf) {
                        Ok(()) => {
                            undecoded = self.paused;
                            if let Some(query) = self.conn.take_auth_query() {
                                asking = Some(match self.shared.zap() {
                                    Some(zap) => Box::pin(async move { zap.ask(query).await }),
                                    None => Box::pin(std::future::ready(AuthDecision::Deny {
                                        status: 500,
                                    })),
                                });
                            }
                        }
                        Err(reason) => {
                            // A refused handshake tells the peer why (an ERROR command), after
                            // the write in flight, within a short while.
                            if self.id.is_none() && self.conn.has_transmit() {
                                let told = async {
                                    let mut stream = match writer.take() {
                                        Some(stream) => stream,
                                        None => writing.as_mut().await.0,
                                    };
                                    if let Some(chunks) = self.conn.poll_transmit() {
                                        let _ = stream.write_vectored_all(chunks).await;
                                    }
                                };
                                let _ = compio::time::timeout(ERROR_LINGER, told).await;
                            }
                            return reason;
                        }
                    }
                }
            }
            if let Some(stream) = writer.take() {
                match self.next_write() {
                    Some(chunks) => {
                        self.signals.writing.set(true);
                        writing.set(write(stream, chunks).fuse());
                    }
                    None => writer = Some(stream),
                }
            }
            if !self.paused && !undecoded && asking.is_none() && reader.is_some() && buf.is_some() {
                if let (Some(stream), Some(mut b)) = (reader.take(), buf.take()) {
                    // Both come from what a peer announced: never reserved past MAX_SLACK here
                    // (the decoder grows the buffer for a longer frame as its bytes come).
                    let (missing, hint) = self.conn.read_hints(b.len());
                    let (missing, hint) = (missing.min(MAX_SLACK), hint.min(MAX_SLACK));
                    // Room for the next large frame only while they stream in back to back
                    // (the last read came back full): an idle connection keeps a small buffer.
                    let hint = if read_full || missing > 0 { hint } else { 0 };
                    let limit = if missing > 0 {
                        // The rest of a large frame: into the room the decoder made for it,
                        // and past its end only as far as leaves room for another like it.
                        if b.capacity() - b.len() < missing {
                            b.reserve(missing);
                        }
                        let spare = b.capacity() - b.len();
                        spare.saturating_sub(hint).max(missing.min(spare))
                    } else {
                        if b.capacity() - b.len() < read_size / 4 + hint {
                            b.reserve(read_size + hint);
                        }
                        (b.capacity() - b.len()) - hint
                    };
                    asked = limit;
                    reading.set(read(stream, b, limit).fuse());
                }
            }
            let deadline = self.conn.poll_timeout();
            // A later deadline lets the armed timer fire early and re-arm: one timer per change
            // of mind would cost a registration per batch of traffic. With no deadline at all
            // (after a handshake, heartbeats off) the timer goes, so that no wake polls it.
            if deadline.is_some() && (timer_at.is_none() || deadline < timer_at) {
                timer_at = deadline;
                timer.set(sleep(deadline).fuse());
            } else if deadline.is_none() && timer_at.is_some() {
                timer_at = None;
                timer.set(sleep(None).fuse());
            }

            let woken = poll_fn(|cx| {
                if let Poll::Ready((stream, result)) = reading.as_mut().poll(cx) {
                    return Poll::Ready(Woken::Read(stream, result));
                }
                if let Poll::Ready((stream, result)) = writing.as_mut().poll(cx) {
                    return Poll::Ready(Woken::Wrote(stream, result));
                }
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Woken::Timer);
                }
                if Pin::new(&mut *listening).poll(cx).is_ready() {
                    return Poll::Ready(Woken::Signal);
                }
                if let Some(Poll::Ready(decision)) = asking.as_mut().map(|a| a.as_mut().poll(cx)) {
                    return Poll::Ready(Woken::Authenticated(decision));
                }
                Poll::Pending
            })
            .await;
            match woken {
                Woken::Read(stream, BufResult(result, returned)) => {
                    reader = Some(stream);
                    buf = Some(returned);
                    match result {
                        Ok(0) => return DisconnectReason::PeerClosed,
                        Ok(n) => {
                            read_full = n == asked;
                            if n == asked {
                                read_size = (read_size * 2).min(READ_CHUNK);
                            } else if n < read_size / 8 {
                                read_size = (read_size / 2).max(MIN_READ);
                            }
                            undecoded = true;
                        }
                        Err(error) => return DisconnectReason::Io(error.kind()),
                    }
                }
                Woken::Wrote(stream, BufResult(result, _)) => {
                    writer = Some(stream);
                    if self.signals.writing.replace(false) {
                        self.shared.flushed.notify(usize::MAX);
                    }
                    if let Err(error) = result {
                        return DisconnectReason::Io(error.kind());
                    }
                }
                Woken::Timer => {
                    timer_at = None;
                    if let Err(reason) = self.conn.handle_timeout(Instant::now()) {
                        return reason;
                    }
                }
                Woken::Signal => listener = None,
                Woken::Authenticated(decision) => {
                    asking = None;
                    // A refusal ends the connection with an ERROR queued: the next decode
                    // reports it and says it to the peer, as a refusal in the handshake does.
                    let _ = self.conn.resume_auth(decision);
                    undecoded = true;
                }
            }
        }
    }

    /// Decodes what `buf` holds and hands it to the socket under one borrow, until the bytes run
    /// out or the pipe's receive queue fills up; a waiting receiver is woken once for the lot.
    fn decode(&mut self, buf: &mut BytesMut) -> Result<(), DisconnectReason> {
        let now = Instant::now();
        if self.id.is_none() {
            match self.conn.poll_input(buf, now)? {
                None => return Ok(()),
                Some(ConnectionEvent::Established(peer)) => self.establish(*peer)?,
                // Only the handshake's end comes before the traffic.
                Some(_) => {}
            }
        }
        let Some(id) = self.id else { return Ok(()) };
        let mut delivered = false;
        let conn = &mut self.conn;
        let outcome = self.shared.with_core(|core| {
            conn.poll_inputs(buf, now, |event| {
                delivered = true;
                match event {
                    ConnectionEvent::Message(message) => core.inbound(id, message),
                    ConnectionEvent::Subscription(subscription) => {
                        core.subscription(id, subscription)
                    }
                    ConnectionEvent::Established(_) => true,
                }
            })
        });
        if delivered {
            self.shared.recv_ready.notify(1);
        }
        if outcome? {
            self.paused = true;
            // A resume flagged before this pause is stale: the core says again when there is
            // room.
            self.signals.resume.set(false);
        }
        let partial = self.conn.partial_bytes(buf);
        self.shared
            .budget
            .borrow_mut()
            .update(&mut self.held, partial)
            .map_err(DisconnectReason::Protocol)
    }

    /// The handshake is done: the peer gets a pipe (or takes over its connecting pipe), unless
    /// the pattern refuses it.
    fn establish(&mut self, peer: crate::proto::PeerInfo) -> Result<(), DisconnectReason> {
        let (peer_type, mechanism, version) = (peer.socket_type, peer.mechanism, peer.version);
        let metadata = peer.metadata.clone();
        self.pending = None;
        let connecting = match self.pipe {
            PipeFor::Accepted => None,
            PipeFor::Connecting(id) => Some(id),
        };
        let (id, accepted, routing_id) = self.shared.connect_pipe(connecting, &self.signals, peer);
        self.id = Some(id);
        self.routing_id = routing_id;
        if !accepted {
            return Err(DisconnectReason::Refused);
        }
        tracing::debug!(
            endpoint = &*self.endpoint,
            peer = self.address.as_deref(),
            socket_type = %self.shared.socket_type,
            peer_socket_type = %peer_type,
            mechanism = %mechanism,
            ?version,
            routing_id = ?self.routing_id,
            "handshake done"
        );
        self.shared.emit(|| {
            let mut event = MonitorEvent::new(MonitorEventKind::HandshakeSucceeded, &self.endpoint)
                .peer(self.address.as_deref());
            event.routing_id = self.routing_id.clone();
            event.peer_metadata = Some(metadata);
            event
        });
        self.shared.send_ready.notify(usize::MAX);
        Ok(())
    }

    /// What to write next: what the connection owes the peer, then queued messages.
    fn next_write(&mut self) -> Option<Vec<Bytes>> {
        if let Some(id) = self.id {
            if self.conn.queued_bytes() < WRITE_BATCH {
                let conn = &mut self.conn;
                let taken = self
                    .shared
                    .with_core(|core| core.drain_outgoing(id, conn.transmit_buffer(), WRITE_BATCH));
                if taken > 0 {
                    self.shared.send_ready.notify(usize::MAX);
                }
            }
        }
        self.conn.poll_transmit()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.shared.budget.borrow_mut().release(&mut self.held);
        if let Some(id) = self.id {
            self.shared.unregister(id, &self.signals);
            match self.pipe {
                PipeFor::Accepted => self.shared.detach(id),
                PipeFor::Connecting(_) => self.shared.disconnected(id),
            }
        }
        let reason = self.end.clone();
        match &reason {
            DisconnectReason::Protocol(_) | DisconnectReason::Incompatible(_) => tracing::warn!(
                endpoint = &*self.endpoint,
                peer = self.address.as_deref(),
                %reason,
                "connection closed"
            ),
            _ => tracing::debug!(
                endpoint = &*self.endpoint,
                peer = self.address.as_deref(),
                %reason,
                "connection closed"
            ),
        }
        if self.id.is_none() {
            let error = match &reason {
                DisconnectReason::HandshakeTimeout => Some(ProtocolError::HandshakeTimeout),
                other => other.protocol_error().cloned(),
            };
            if let Some(error) = error {
                let kind = match error {
                    ProtocolError::AuthenticationFailed { status } => {
                        MonitorEventKind::HandshakeFailedAuth { status }
                    }
                    error => MonitorEventKind::HandshakeFailedProtocol { error },
                };
                self.shared
                    .emit(|| MonitorEvent::new(kind, &self.endpoint).peer(self.address.as_deref()));
            }
        }
        self.shared.emit(|| {
            let mut event =
                MonitorEvent::new(MonitorEventKind::Disconnected { reason }, &self.endpoint)
                    .peer(self.address.as_deref());
            event.routing_id = self.routing_id.clone();
            event
        });
    }
}

/// Reads at most `limit` bytes into the spare capacity of `buf`, handing the stream and the
/// buffer back.
async fn read(
    mut stream: Stream,
    buf: BytesMut,
    limit: usize,
) -> (Stream, BufResult<usize, BytesMut>) {
    let start = buf.len();
    let end = (start + limit).min(buf.capacity());
    let result = stream.append(buf.slice(start..end)).await;
    (stream, result.map_buffer(IntoInner::into_inner))
}

/// Writes every chunk, handing the stream back.
async fn write(mut stream: Stream, chunks: Vec<Bytes>) -> (Stream, BufResult<(), Vec<Bytes>>) {
    if chunks.is_empty() {
        return (stream, BufResult(Ok(()), chunks));
    }
    let result = stream.write_vectored_all(chunks).await;
    (stream, result)
}

/// Sleeps until `deadline`, or forever.
async fn sleep(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => compio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
