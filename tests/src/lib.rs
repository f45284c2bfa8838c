//! Test harnesses shared by the workspace-level tests.
//!
//! [`Pair`] runs two sans-IO handshakes against each other through in-memory queues and a virtual
//! clock, in the manner of quinn-proto's test pair: no sockets, no sleeps, fully deterministic.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use monocoque::proto::{Handshake, HandshakeConfig, Null, PeerInfo, ProtocolError, WriteBuffer};

/// One end of a [`Pair`].
#[derive(Debug)]
pub struct Side {
    handshake: Handshake,
    out: WriteBuffer,
    inbox: BytesMut,
    outcome: Option<Result<PeerInfo, ProtocolError>>,
    /// Every byte this side has sent, in order.
    pub sent: Vec<u8>,
}

impl Side {
    fn new(config: HandshakeConfig, now: Instant) -> Self {
        let mut out = WriteBuffer::new();
        let handshake = Handshake::new(config, Box::new(Null::new()), now, &mut out);
        Self {
            handshake,
            out,
            inbox: BytesMut::new(),
            outcome: None,
            sent: Vec::new(),
        }
    }

    /// The result of this side's handshake, once it has one.
    pub fn outcome(&self) -> Option<&Result<PeerInfo, ProtocolError>> {
        self.outcome.as_ref()
    }

    fn feed(&mut self, bytes: &[u8]) -> bool {
        if self.outcome.is_some() || bytes.is_empty() {
            return false;
        }
        self.inbox.extend_from_slice(bytes);
        match self.handshake.receive(&mut self.inbox, &mut self.out) {
            Ok(Some(peer)) => self.outcome = Some(Ok(peer.clone())),
            Ok(None) => {}
            Err(error) => self.outcome = Some(Err(error)),
        }
        true
    }

    fn flush(&mut self) -> Vec<u8> {
        let bytes = self.out.take_contiguous().to_vec();
        self.sent.extend_from_slice(&bytes);
        bytes
    }
}

/// Two handshakes connected back to back, delivering at most `chunk` bytes per step each way.
#[derive(Debug)]
pub struct Pair {
    /// The virtual time.
    pub now: Instant,
    /// The first side.
    pub a: Side,
    /// The second side.
    pub b: Side,
    chunk: usize,
    a_to_b: Vec<u8>,
    b_to_a: Vec<u8>,
}

impl Pair {
    /// Starts both handshakes at the same virtual instant.
    pub fn new(a: HandshakeConfig, b: HandshakeConfig, chunk: usize) -> Self {
        let now = Instant::now();
        Self {
            now,
            a: Side::new(a, now),
            b: Side::new(b, now),
            chunk: chunk.max(1),
            a_to_b: Vec::new(),
            b_to_a: Vec::new(),
        }
    }

    /// Moves bytes until both sides have an outcome or nothing moves; returns the step count.
    /// Bounded: a handshake that needs more than `max_steps` steps is a failure of the test.
    pub fn run(&mut self, max_steps: usize) -> usize {
        for step in 0..max_steps {
            self.a_to_b.extend(self.a.flush());
            self.b_to_a.extend(self.b.flush());
            let n = self.a_to_b.len().min(self.chunk);
            let to_b: Vec<u8> = self.a_to_b.drain(..n).collect();
            let n = self.b_to_a.len().min(self.chunk);
            let to_a: Vec<u8> = self.b_to_a.drain(..n).collect();
            let moved = self.b.feed(&to_b) | self.a.feed(&to_a);
            if self.a.outcome.is_some() && self.b.outcome.is_some() {
                return step + 1;
            }
            if !moved && self.a_to_b.is_empty() && self.b_to_a.is_empty() {
                return step + 1;
            }
        }
        max_steps
    }

    /// Advances the virtual clock and fires handshake timeouts that are due.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        for side in [&mut self.a, &mut self.b] {
            if side.outcome.is_none() {
                if let Err(error) = side.handshake.handle_timeout(self.now) {
                    side.outcome = Some(Err(error));
                }
            }
        }
    }
}
