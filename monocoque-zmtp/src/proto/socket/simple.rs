//! PAIR (RFC 31), PUSH and PULL (RFC 30), and DEALER (RFC 28): patterns made of the two routing
//! strategies alone.

use monocoque_core::{Message, PeerId};

use super::{Pattern, Pipes, RecvError, SendError, SendErrorKind};

fn load_balance(pipes: &mut Pipes, message: Message) -> Result<(), SendError> {
    pipes
        .load_balance(message)
        .map(drop)
        .map_err(|m| SendError::new(SendErrorKind::WouldBlock, m))
}

fn fair_queue(pipes: &mut Pipes) -> Result<Message, RecvError> {
    pipes
        .fair_queue()
        .map(|(_, m)| m)
        .ok_or(RecvError::WouldBlock)
}

/// PUSH: load-balances messages over its peers; receives nothing.
#[derive(Debug)]
pub(crate) struct Push;

impl Pattern for Push {
    fn send(&mut self, pipes: &mut Pipes, message: Message) -> Result<(), SendError> {
        load_balance(pipes, message)
    }

    fn recv(&mut self, _pipes: &mut Pipes) -> Result<Message, RecvError> {
        Err(RecvError::NotSupported)
    }

    fn inbound(&mut self, _pipes: &mut Pipes, _id: PeerId, _message: Message) -> bool {
        // A PULL has no business sending to us: drop rather than queue without a reader.
        true
    }
}

/// PULL: fair-queues messages from its peers; sends nothing.
#[derive(Debug)]
pub(crate) struct Pull;

impl Pattern for Pull {
    fn send(&mut self, _pipes: &mut Pipes, message: Message) -> Result<(), SendError> {
        Err(SendError::new(SendErrorKind::NotSupported, message))
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Message, RecvError> {
        fair_queue(pipes)
    }
}

/// DEALER: load-balances out, fair-queues in.
#[derive(Debug)]
pub(crate) struct Dealer;

impl Pattern for Dealer {
    fn connected(&mut self, pipes: &mut Pipes, id: PeerId) -> bool {
        pipes.probe(id);
        true
    }

    fn send(&mut self, pipes: &mut Pipes, message: Message) -> Result<(), SendError> {
        load_balance(pipes, message)
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Message, RecvError> {
        fair_queue(pipes)
    }
}

/// PAIR: exactly one peer at a time; a second one is refused while the first is connected.
#[derive(Debug, Default)]
pub(crate) struct Pair {
    current: Option<PeerId>,
}

impl Pair {
    fn pipe(&mut self, pipes: &Pipes) -> Option<PeerId> {
        if let Some(id) = self.current.filter(|&id| pipes.contains(id)) {
            return Some(id);
        }
        // Before any connection, a pipe created by connect takes the messages.
        self.current = pipes.ids().first().copied();
        self.current
    }
}

impl Pattern for Pair {
    fn connected(&mut self, pipes: &mut Pipes, id: PeerId) -> bool {
        match self.current {
            Some(current)
                if current != id && pipes.get(current).is_some_and(|p| p.peer().is_some()) =>
            {
                false
            }
            _ => {
                self.current = Some(id);
                true
            }
        }
    }

    fn detached(&mut self, _pipes: &mut Pipes, id: PeerId) {
        if self.current == Some(id) {
            self.current = None;
        }
    }

    fn send(&mut self, pipes: &mut Pipes, message: Message) -> Result<(), SendError> {
        let Some(id) = self.pipe(pipes).filter(|&id| pipes.accepts_traffic(id)) else {
            return Err(SendError::new(SendErrorKind::WouldBlock, message));
        };
        pipes
            .push_out(id, message)
            .map_err(|m| SendError::new(SendErrorKind::WouldBlock, m))
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Message, RecvError> {
        fair_queue(pipes)
    }
}
