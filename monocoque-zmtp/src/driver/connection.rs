//! One connection: the handshake, then a read loop in this task and a write loop in another.

use std::pin::pin;
use std::rc::Rc;
use std::time::Instant;

use bytes::BytesMut;
use compio::BufResult;
use compio::io::{AsyncReadExt, AsyncWriteExt};
use futures_util::future::{Either, select};
use monocoque_core::PeerId;

use super::monitor::{MonitorEvent, MonitorEventKind};
use super::shared::{PipeSignals, Shared};
use super::transport::Stream;
use crate::proto::{
    Command, Handshake, HandshakeConfig, Inbound, MessageDecoder, Null, Origin, PeerInfo,
    ProtocolError, SocketCore, WriteBuffer,
};

/// The most bytes asked of the kernel per read: large reads, many frames decoded per read.
const READ_CHUNK: usize = 64 * 1024;

/// The read size of a quiet connection. Reads grow towards [`READ_CHUNK`] while they come back
/// full and shrink back when traffic dies down, so an idle connection holds a small buffer (a
/// ROUTER with thousands of mostly idle peers) and a busy one reads in large gulps.
const MIN_READ: usize = 4 * 1024;

/// Bytes of queued messages moved into one vectored write: enough for a thousand small messages
/// per system call, small enough that a connection dying mid-write loses little of what was
/// already taken off the queue.
const WRITE_BATCH: usize = 64 * 1024;

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectionEnd {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("handshake timed out")]
    HandshakeTimeout,
    #[error("peer closed the connection")]
    Closed,
    #[error("refused by the socket's pattern")]
    Refused,
    #[error("closed by the socket")]
    ClosedLocally,
}

/// Which pipe a connection feeds: its own (accepted) or the connecting pipe that outlives it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PipeFor {
    Accepted,
    Connecting(PeerId),
}

/// Runs a connection to its end: handshake, then traffic until either side closes. Reports the
/// handshake and the disconnection to the socket's monitor.
pub(crate) async fn serve(
    shared: Rc<Shared>,
    stream: Stream,
    pipe: PipeFor,
    endpoint: Rc<str>,
) -> ConnectionEnd {
    let address = stream.peer_address();
    let end = run(&shared, stream, pipe, &endpoint, address.as_deref()).await;
    shared.emit(|| {
        let error = match &end {
            ConnectionEnd::Protocol(error) => Some(error.clone()),
            _ => None,
        };
        MonitorEvent::new(
            MonitorEventKind::Disconnected {
                reason: end.to_string(),
                error,
            },
            &endpoint,
        )
        .peer(address.as_deref())
    });
    end
}

async fn run(
    shared: &Rc<Shared>,
    mut stream: Stream,
    pipe: PipeFor,
    endpoint: &str,
    address: Option<&str>,
) -> ConnectionEnd {
    stream.apply_options(&shared.options.borrow());
    let handshake = handshake(shared, &mut stream);
    let limit = shared.options.borrow().handshake_timeout;
    let outcome = match limit {
        Some(limit) => match compio::time::timeout(limit, handshake).await {
            Ok(outcome) => outcome,
            Err(_) => Err(ConnectionEnd::HandshakeTimeout),
        },
        None => handshake.await,
    };
    let (peer, leftover) = match outcome {
        Ok(done) => done,
        Err(end) => {
            let error = match &end {
                ConnectionEnd::Protocol(error) => Some(error.clone()),
                ConnectionEnd::HandshakeTimeout => Some(ProtocolError::HandshakeTimeout),
                _ => None,
            };
            if let Some(error) = error {
                shared.emit(|| {
                    MonitorEvent::new(
                        MonitorEventKind::HandshakeFailedProtocol { error },
                        endpoint,
                    )
                    .peer(address)
                });
            }
            return end;
        }
    };
    let routing_id = peer.identity.clone();
    let id = match pipe {
        PipeFor::Accepted => shared.attach(Origin::Accept),
        PipeFor::Connecting(id) => id,
    };
    let signals = shared.connection_signals(id);
    // Whatever ends this connection (including the task being dropped), the pipe learns of it.
    let _guard = ConnectionGuard {
        shared: shared.clone(),
        id,
        detach: matches!(pipe, PipeFor::Accepted),
    };
    if !shared.with_core(|core| core.connected(id, peer)) {
        return ConnectionEnd::Refused;
    }
    shared.emit(|| {
        let mut event =
            MonitorEvent::new(MonitorEventKind::HandshakeSucceeded, endpoint).peer(address);
        event.routing_id = routing_id;
        event
    });
    shared.send_ready.notify(usize::MAX);
    let (reader, writer) = stream.split();
    let writer = compio::runtime::spawn(write_loop(shared.clone(), id, signals.clone(), writer));
    let closed = wait_closed(&signals);
    let end = match select(
        pin!(read_loop(shared, id, &signals, reader, leftover)),
        pin!(closed),
    )
    .await
    {
        Either::Left((end, _)) => end,
        Either::Right(((), _)) => ConnectionEnd::ClosedLocally,
    };
    drop(writer);
    end
}

async fn handshake(
    shared: &Shared,
    stream: &mut Stream,
) -> Result<(PeerInfo, BytesMut), ConnectionEnd> {
    let mut config = HandshakeConfig::new(shared.socket_type).timeout(None);
    if let Some(id) = &shared.options.borrow().routing_id {
        config = config.identity(id.clone());
    }
    let mut out = WriteBuffer::new();
    let mut handshake = Handshake::new(config, Box::new(Null::new()), Instant::now(), &mut out);
    let mut input = BytesMut::with_capacity(1024);
    loop {
        if !out.is_empty() {
            let BufResult(result, _) = stream.write_all(out.take_contiguous()).await;
            result?;
        }
        if let Some(peer) = handshake.peer() {
            return Ok((peer.clone(), input));
        }
        let BufResult(read, buf) = stream.append(input).await;
        input = buf;
        if read? == 0 {
            return Err(ConnectionEnd::Closed);
        }
        if let Err(error) = handshake.receive(&mut input, &mut out) {
            // Tell the peer why (an ERROR command may be queued) before closing.
            if !out.is_empty() {
                let _ = stream.write_all(out.take_contiguous()).await;
            }
            return Err(error.into());
        }
        if input.capacity() - input.len() < 256 {
            input.reserve(1024);
        }
    }
}

async fn read_loop(
    shared: &Shared,
    id: PeerId,
    signals: &PipeSignals,
    mut stream: Stream,
    mut buf: BytesMut,
) -> ConnectionEnd {
    let mut decoder = MessageDecoder::new(shared.options.borrow().max_message_size);
    let mut read_size = MIN_READ;
    loop {
        // Everything already read is decoded and handed over under one borrow of the socket, and
        // a waiting receiver is woken once for the lot.
        let mut delivered = false;
        let batch = shared.with_core(|core| {
            decode_batch(core, id, signals, &mut decoder, &mut buf, &mut delivered)
        });
        if delivered {
            shared.recv_ready.notify(1);
        }
        match batch {
            Batch::NeedMore => {}
            Batch::Full => {
                wait_for_room(shared, id, signals).await;
                if signals.closing.get() {
                    return ConnectionEnd::ClosedLocally;
                }
                continue;
            }
            Batch::Failed(error) => return error.into(),
        }
        if buf.capacity() - buf.len() < read_size / 4 {
            buf.reserve(read_size);
        }
        let asked = buf.capacity() - buf.len();
        let BufResult(read, returned) = stream.append(buf).await;
        buf = returned;
        match read {
            Ok(0) => return ConnectionEnd::Closed,
            Ok(n) if n == asked => read_size = (read_size * 2).min(READ_CHUNK),
            Ok(n) if n < read_size / 8 => read_size = (read_size / 2).max(MIN_READ),
            Ok(_) => {}
            Err(error) => return error.into(),
        }
    }
}

/// How a batch of decoding ended.
enum Batch {
    /// Everything complete was handed over; more bytes are needed.
    NeedMore,
    /// The pipe's receive queue is full: wait for room before decoding more.
    Full,
    /// The peer broke the protocol.
    Failed(ProtocolError),
}

/// Decodes every complete frame in `buf` and hands it to the socket, until the bytes run out or
/// the pipe's receive queue fills up.
fn decode_batch(
    core: &mut SocketCore,
    id: PeerId,
    signals: &PipeSignals,
    decoder: &mut MessageDecoder,
    buf: &mut BytesMut,
    delivered: &mut bool,
) -> Batch {
    loop {
        let inbound = match decoder.decode(buf) {
            Ok(None) => return Batch::NeedMore,
            Ok(Some(inbound)) => inbound,
            Err(error) => return Batch::Failed(error),
        };
        // > a peer SHOULD treat any incoming traffic (not just a PONG reply) as a sign of life.
        signals.heartbeat.borrow_mut().on_traffic();
        match inbound {
            Inbound::Message(message) => {
                let has_room = core.inbound(id, message);
                *delivered = true;
                if !has_room {
                    return Batch::Full;
                }
            }
            Inbound::Command(body) => match Command::parse_traffic(body) {
                Ok(Some(Command::Ping {
                    ttl_deciseconds,
                    context,
                })) => {
                    let pong = signals.heartbeat.borrow_mut().on_ping(
                        ttl_deciseconds,
                        &context,
                        Instant::now(),
                    );
                    signals.push_pong(pong);
                    // The writer also re-arms its timer: the peer's TTL is a new deadline.
                    signals.writable.notify(1);
                }
                Ok(Some(command @ (Command::Subscribe(_) | Command::Cancel(_)))) => {
                    core.command(id, &command);
                    // XPUB hands subscriptions to the application.
                    *delivered = true;
                }
                // PONG, a second READY, unknown commands: skipped, as libzmq does.
                Ok(_) => {}
                Err(error) => return Batch::Failed(error),
            },
        }
    }
}

async fn wait_for_room(shared: &Shared, id: PeerId, signals: &PipeSignals) {
    loop {
        let listener = signals.readable.listen();
        let paused = shared
            .core
            .borrow()
            .pipes()
            .get(id)
            .is_some_and(|p| p.is_reader_paused());
        if !paused || signals.closing.get() {
            return;
        }
        listener.await;
    }
}

async fn wait_closed(signals: &PipeSignals) {
    loop {
        let listener = signals.close.listen();
        if signals.closing.get() {
            return;
        }
        listener.await;
    }
}

async fn write_loop(shared: Rc<Shared>, id: PeerId, signals: Rc<PipeSignals>, mut stream: Stream) {
    let mut out = WriteBuffer::new();
    loop {
        let listener = signals.writable.listen();
        if signals.closing.get() {
            return;
        }
        let taken = {
            let mut core = shared.core.borrow_mut();
            if !core.pipes().contains(id) {
                return;
            }
            for pong in signals.pongs.borrow_mut().drain(..) {
                out.push_command(&pong);
            }
            core.drain_outgoing(id, &mut out, WRITE_BATCH)
        };
        if taken > 0 {
            shared.send_ready.notify(usize::MAX);
        }
        let beat = signals.heartbeat.borrow_mut().poll(Instant::now());
        match beat {
            Ok(Some(ping)) => out.push_command(&ping),
            Ok(None) => {}
            Err(_) => {
                // The peer has been silent too long: end the connection (a connecting side
                // reconnects).
                signals.close();
                return;
            }
        }
        if out.is_empty() {
            let deadline = signals.heartbeat.borrow().next_deadline();
            match deadline {
                Some(deadline) => {
                    let _ = select(listener, pin!(compio::time::sleep_until(deadline))).await;
                }
                None => listener.await,
            }
            continue;
        }
        signals.writing.set(true);
        let BufResult(result, _) = stream.write_vectored_all(out.take_chunks()).await;
        signals.writing.set(false);
        shared.flushed.notify(usize::MAX);
        if result.is_err() {
            // The read side sees the broken connection too and ends it.
            signals.close();
            return;
        }
    }
}

/// Tells the socket that a connection ended, however its task ended.
struct ConnectionGuard {
    shared: Rc<Shared>,
    id: PeerId,
    detach: bool,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if self.detach {
            self.shared.detach(self.id);
        } else {
            self.shared.disconnected(self.id);
        }
    }
}
