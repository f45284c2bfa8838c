//! REQ, REP and ROUTER (RFC 28): lock-step and routing by identity over the shared strategies.

use std::collections::HashMap;

use bytes::Bytes;
use monocoque_core::{Message, PeerId};
use smallvec::SmallVec;

use super::{Pattern, Pipes, RecvError, RouterNotify, SendError, SendErrorKind};

/// REQ: sends one request at a time, to the next peer in round-robin order, with an empty
/// delimiter frame in front; takes the reply only from that peer.
///
/// With `req_correlate` a 4-byte request id goes in front of the delimiter and only the reply
/// carrying it is accepted; with `req_relaxed` a new request may be sent before the reply to the
/// last one, which is then abandoned.
#[derive(Debug)]
pub(crate) struct Req {
    awaiting: Option<PeerId>,
    request_id: u32,
}

impl Req {
    pub(crate) fn new(seed: u32) -> Self {
        Self {
            awaiting: None,
            request_id: seed,
        }
    }

    fn strip_reply(&self, correlate: bool, mut reply: Message) -> Option<Message> {
        if correlate {
            let id = reply.pop_front()?;
            if id[..] != self.request_id.to_be_bytes() {
                return None;
            }
        }
        // > The REQ socket MUST discard silently any messages received that do not have an
        // > empty delimiter frame. (RFC 28)
        if !reply.first().is_some_and(Bytes::is_empty) {
            return None;
        }
        reply.pop_front();
        Some(reply)
    }
}

impl Pattern for Req {
    fn connected(&mut self, pipes: &mut Pipes, id: PeerId) -> bool {
        pipes.probe(id);
        true
    }

    fn send(&mut self, pipes: &mut Pipes, mut message: Message) -> Result<(), SendError> {
        let options = pipes.options();
        let (correlate, relaxed) = (options.req_correlate, options.req_relaxed);
        if self.awaiting.is_some() && !relaxed {
            return Err(SendError::new(SendErrorKind::InvalidState, message));
        }
        message.push_front(Bytes::new());
        let next_id = self.request_id.wrapping_add(1);
        if correlate {
            message.push_front(Bytes::copy_from_slice(&next_id.to_be_bytes()));
        }
        match pipes.load_balance(message) {
            Ok(id) => {
                if let Some(previous) = self.awaiting.replace(id) {
                    // Relaxed: the last request is abandoned, and so is whatever it got back.
                    pipes.discard_in(previous);
                }
                self.request_id = next_id;
                Ok(())
            }
            Err(mut message) => {
                message.pop_front();
                if correlate {
                    message.pop_front();
                }
                Err(SendError::new(SendErrorKind::WouldBlock, message))
            }
        }
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Message, RecvError> {
        let id = self.awaiting.ok_or(RecvError::InvalidState)?;
        let correlate = pipes.options().req_correlate;
        while let Some(reply) = pipes.recv_from(id) {
            if let Some(reply) = self.strip_reply(correlate, reply) {
                self.awaiting = None;
                // Anything else this peer sent is a second answer to the same request.
                pipes.discard_in(id);
                return Ok(reply);
            }
        }
        Err(RecvError::WouldBlock)
    }

    fn inbound(&mut self, pipes: &mut Pipes, id: PeerId, message: Message) -> bool {
        // > The REQ socket MUST accept an incoming message only from the last peer that it sent
        // > a request to. (RFC 28)
        if self.awaiting == Some(id) {
            pipes.push_in(id, message)
        } else {
            true
        }
    }

    fn can_recv(&self, pipes: &Pipes) -> bool {
        self.awaiting.is_some_and(|id| pipes.has_input_from(id))
    }
}

/// The routing envelope of a request: every frame up to and including the empty delimiter.
type Envelope = SmallVec<[Bytes; 2]>;

/// REP: fair-queues requests, strips and keeps each one's envelope, and sends the reply back
/// along it.
#[derive(Debug, Default)]
pub(crate) struct Rep {
    pending: Option<(PeerId, Envelope)>,
}

impl Pattern for Rep {
    fn send(&mut self, pipes: &mut Pipes, message: Message) -> Result<(), SendError> {
        let Some((id, envelope)) = self.pending.take() else {
            return Err(SendError::new(SendErrorKind::InvalidState, message));
        };
        let mut reply: Message = envelope.into_iter().collect();
        reply.extend(message);
        // A requester that left or cannot keep up loses its reply, as with libzmq; so does one
        // whose connection is down under `immediate`.
        if !pipes.accepts_traffic(id) || pipes.push_out(id, reply).is_err() {
            pipes.count_drop();
        }
        Ok(())
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Message, RecvError> {
        if self.pending.is_some() {
            return Err(RecvError::InvalidState);
        }
        while let Some((id, request)) = pipes.fair_queue() {
            let mut frames = request.into_frames();
            let mut envelope = Envelope::new();
            // > The REP socket MUST discard silently any messages received that do not have an
            // > empty delimiter frame. (RFC 28)
            let mut delimited = false;
            for frame in frames.by_ref() {
                let empty = frame.is_empty();
                envelope.push(frame);
                if empty {
                    delimited = true;
                    break;
                }
            }
            if delimited {
                self.pending = Some((id, envelope));
                return Ok(frames.collect());
            }
        }
        Err(RecvError::WouldBlock)
    }

    fn can_recv(&self, pipes: &Pipes) -> bool {
        self.pending.is_none() && pipes.has_input()
    }
}

/// ROUTER: fair-queues input with the sender's routing id in front, and routes output by its
/// first frame.
#[derive(Debug)]
pub(crate) struct Router {
    by_id: HashMap<Bytes, PeerId>,
    next_id: u32,
    /// Connecting pipes named by the application (`ZMQ_CONNECT_ROUTING_ID`): they keep their id
    /// from `connect` until they are removed.
    reserved: Vec<PeerId>,
}

impl Router {
    pub(crate) fn new(seed: u32) -> Self {
        Self {
            by_id: HashMap::new(),
            next_id: seed,
            reserved: Vec::new(),
        }
    }

    /// `ZMQ_ROUTER_NOTIFY`: a message of the routing id and an empty frame, unless the pipe's
    /// queue is full (libzmq loses it then too).
    fn notify(pipes: &mut Pipes, id: PeerId, event: RouterNotify) {
        if pipes.options().router_notify.contains(event) && pipes.has_room_in(id) {
            pipes.push_in(id, Message::single(Bytes::new()));
        }
    }

    fn fresh_id(&mut self) -> Bytes {
        loop {
            let generated = self.generate_id();
            if !self.by_id.contains_key(&generated) {
                return generated;
            }
        }
    }

    fn generate_id(&mut self) -> Bytes {
        // libzmq's form: a zero byte (reserved for generated ids by RFC 37) and a counter.
        let mut id = [0u8; 5];
        id[1..].copy_from_slice(&self.next_id.to_be_bytes());
        self.next_id = self.next_id.wrapping_add(1);
        Bytes::copy_from_slice(&id)
    }

    fn forget(&mut self, pipes: &Pipes, id: PeerId) {
        if let Some(pipe) = pipes.get(id) {
            if self.by_id.get(pipe.routing_id()) == Some(&id) {
                self.by_id.remove(pipe.routing_id());
            }
        }
    }
}

impl Pattern for Router {
    fn connected(&mut self, pipes: &mut Pipes, id: PeerId) -> bool {
        if self.reserved.contains(&id) {
            pipes.probe(id);
            Self::notify(pipes, id, RouterNotify::CONNECT);
            return true;
        }
        let announced = pipes
            .get(id)
            .and_then(|p| p.peer())
            .and_then(|p| p.identity.clone());
        let routing_id = match announced {
            Some(identity) => {
                if let Some(&old) = self.by_id.get(&identity) {
                    // libzmq keeps the first peer with an identity unless ZMQ_ROUTER_HANDOVER
                    // hands it to the newcomer; the old connection then goes.
                    if !pipes.options().router_handover {
                        return false;
                    }
                    let parked = self.fresh_id();
                    if let Some(pipe) = pipes.get_mut(old) {
                        pipe.set_routing_id(parked.clone());
                    }
                    self.by_id.remove(&identity);
                    self.by_id.insert(parked, old);
                    pipes.push_event(super::Event::Close(old));
                }
                identity
            }
            None => self.fresh_id(),
        };
        self.by_id.insert(routing_id.clone(), id);
        if let Some(pipe) = pipes.get_mut(id) {
            pipe.set_routing_id(routing_id);
        }
        pipes.probe(id);
        Self::notify(pipes, id, RouterNotify::CONNECT);
        true
    }

    fn disconnected(&mut self, pipes: &mut Pipes, id: PeerId) {
        Self::notify(pipes, id, RouterNotify::DISCONNECT);
        if !self.reserved.contains(&id) {
            self.forget(pipes, id);
        }
    }

    fn detached(&mut self, pipes: &mut Pipes, id: PeerId) {
        self.reserved.retain(|&r| r != id);
        self.forget(pipes, id);
    }

    fn reserve_routing_id(
        &mut self,
        pipes: &mut Pipes,
        id: PeerId,
        routing_id: Bytes,
    ) -> Result<(), &'static str> {
        if routing_id.is_empty() || routing_id.len() > 255 {
            return Err("a routing id has 1 to 255 bytes");
        }
        if routing_id[0] == 0 {
            return Err("routing ids starting with a zero byte are reserved");
        }
        if self.by_id.contains_key(&routing_id) {
            return Err("the routing id is in use");
        }
        let pipe = pipes.get_mut(id).ok_or("no such pipe")?;
        pipe.set_routing_id(routing_id.clone());
        self.by_id.insert(routing_id, id);
        self.reserved.push(id);
        Ok(())
    }

    fn send(&mut self, pipes: &mut Pipes, mut message: Message) -> Result<(), SendError> {
        let Some(routing_id) = message.pop_front() else {
            return Err(SendError::new(SendErrorKind::InvalidMessage, message));
        };
        let Some(&id) = self.by_id.get(&routing_id) else {
            message.push_front(routing_id);
            return if pipes.options().router_mandatory {
                Err(SendError::new(SendErrorKind::HostUnreachable, message))
            } else {
                pipes.count_drop();
                Ok(())
            };
        };
        match pipes.push_out(id, message) {
            Ok(()) => Ok(()),
            Err(mut message) if pipes.options().router_mandatory => {
                message.push_front(routing_id);
                Err(SendError::new(SendErrorKind::WouldBlock, message))
            }
            // > ROUTER ... SHALL drop the message when the peer's queue is full. (RFC 28)
            Err(_) => {
                pipes.count_drop();
                Ok(())
            }
        }
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Message, RecvError> {
        // The id is read before the message is taken: taking the last message of a departed
        // peer removes its pipe, and its id with it.
        let id = pipes.next_input().ok_or(RecvError::WouldBlock)?;
        let routing_id = pipes
            .get(id)
            .map(|p| p.routing_id().clone())
            .unwrap_or_default();
        let (taken, mut message) = pipes.fair_queue().ok_or(RecvError::WouldBlock)?;
        debug_assert_eq!(taken, id);
        message.push_front(routing_id);
        Ok(message)
    }

    fn check_invariants(&self, pipes: &Pipes) -> Result<(), String> {
        for (routing_id, &id) in &self.by_id {
            let Some(pipe) = pipes.get(id) else {
                return Err(format!("routing id {routing_id:?} names a removed pipe"));
            };
            if pipe.routing_id() != routing_id {
                return Err(format!(
                    "routing id {routing_id:?} names a pipe known as {:?}",
                    pipe.routing_id()
                ));
            }
        }
        for &id in pipes.ids() {
            let Some(pipe) = pipes.get(id) else { continue };
            if pipe.peer().is_some() && pipe.routing_id().is_empty() {
                return Err(format!("{id:?}: a connected peer without a routing id"));
            }
        }
        Ok(())
    }
}
