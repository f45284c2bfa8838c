//! Two ZMTP 3.1 handshakes talking through in-memory buffers, with no sockets and no runtime:
//! the protocol core that every monocoque socket stands on.
//!
//! Runs REQ against ROUTER, DEALER against DEALER and SUB against PUB, prints what each side
//! learned about the other, exchanges one message each way over the negotiated connection, and
//! shows an incompatible pair (PUSH against SUB) being refused on both sides.
//!
//! ```text
//! cargo run -p monocoque --example handshake_demo
//! ```

use std::time::Instant;

use bytes::BytesMut;
use monocoque::proto::{
    Handshake, HandshakeConfig, Inbound, MessageDecoder, Null, PeerInfo, ProtocolError, WriteBuffer,
};
use monocoque::{Message, SocketType};

/// One end: its handshake, the bytes it has queued to send and the bytes it has received.
struct End {
    name: &'static str,
    handshake: Handshake,
    outbox: WriteBuffer,
    inbox: BytesMut,
    result: Option<Result<PeerInfo, ProtocolError>>,
}

impl End {
    fn new(name: &'static str, config: HandshakeConfig, now: Instant) -> Self {
        let mut outbox = WriteBuffer::new();
        let handshake = Handshake::new(config, Box::new(Null::new()), now, &mut outbox);
        Self {
            name,
            handshake,
            outbox,
            inbox: BytesMut::new(),
            result: None,
        }
    }

    fn receive(&mut self, bytes: &[u8]) {
        if self.result.is_some() {
            return;
        }
        self.inbox.extend_from_slice(bytes);
        match self.handshake.receive(&mut self.inbox, &mut self.outbox) {
            Ok(Some(peer)) => self.result = Some(Ok(peer.clone())),
            Ok(None) => {}
            Err(error) => self.result = Some(Err(error)),
        }
    }
}

/// Shuttles bytes between the two ends until both have a result (a few rounds for NULL).
fn connect(a: &mut End, b: &mut End) -> usize {
    let mut rounds = 0;
    while (a.result.is_none() || b.result.is_none()) && rounds < 10 {
        let to_b = a.outbox.take_contiguous();
        let to_a = b.outbox.take_contiguous();
        b.receive(&to_b);
        a.receive(&to_a);
        rounds += 1;
    }
    rounds
}

fn describe(end: &End) {
    match &end.result {
        Some(Ok(peer)) => {
            println!(
                "  {} sees a {} peer speaking ZMTP {} ({})",
                end.name, peer.socket_type, peer.version, peer.mechanism
            );
            for (name, value) in peer.metadata.iter() {
                println!("      {name} = {:?}", String::from_utf8_lossy(value));
            }
            if let Some(id) = &peer.identity {
                println!("      routing id: {:?}", String::from_utf8_lossy(id));
            }
        }
        Some(Err(error)) => println!("  {} refused the peer: {error}", end.name),
        None => println!("  {} did not finish", end.name),
    }
}

/// After the handshake, the same buffers carry traffic: encode on one side, decode on the other.
fn exchange(from: &mut End, to: &mut End, message: Message) -> Result<(), ProtocolError> {
    from.outbox.push_message(&message);
    to.inbox.extend_from_slice(&from.outbox.take_contiguous());
    let mut decoder = MessageDecoder::new(None);
    match decoder.decode(&mut to.inbox)? {
        Some(Inbound::Message(received)) => {
            println!("  {} -> {}: {received:?}", from.name, to.name)
        }
        other => println!("  {} -> {}: unexpected {other:?}", from.name, to.name),
    }
    Ok(())
}

fn main() -> Result<(), ProtocolError> {
    let now = Instant::now();
    let scenarios = [
        (
            HandshakeConfig::new(SocketType::Req)
                .identity("client-1")
                .property("X-Service", "quotes")?,
            HandshakeConfig::new(SocketType::Router),
        ),
        (
            HandshakeConfig::new(SocketType::Dealer).identity("worker-a"),
            HandshakeConfig::new(SocketType::Dealer).identity("worker-b"),
        ),
        (
            HandshakeConfig::new(SocketType::Sub),
            HandshakeConfig::new(SocketType::Pub),
        ),
        (
            HandshakeConfig::new(SocketType::Push),
            HandshakeConfig::new(SocketType::Sub),
        ),
    ];
    for (left, right) in scenarios {
        let (lt, rt) = (left.socket_type(), right.socket_type());
        println!("{lt} <-> {rt}");
        let mut a = End::new(lt.as_str(), left, now);
        let mut b = End::new(rt.as_str(), right, now);
        let rounds = connect(&mut a, &mut b);
        describe(&a);
        describe(&b);
        if matches!((&a.result, &b.result), (Some(Ok(_)), Some(Ok(_)))) {
            println!("  handshake complete in {rounds} round trips");
            if lt != SocketType::Sub {
                exchange(&mut a, &mut b, Message::from("").with("hello"))?;
            }
            exchange(&mut b, &mut a, Message::from("reply"))?;
        }
        println!();
    }
    Ok(())
}
