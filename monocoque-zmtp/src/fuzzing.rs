//! Entry points for the cargo-fuzz targets in `monocoque-fuzz`, one per attack surface.
//!
//! Each takes arbitrary bytes, must never panic on them, and checks invariants with assertions so
//! that the fuzzer reports logic errors as well as crashes. Enabled by the `fuzzing` feature.

mod security;
mod socket_harness;

pub use security::{curve_handshake, curve_message, plain};

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::proto::{
    Command, Greeting, Handshake, HandshakeConfig, Inbound, MessageDecoder, Metadata, Null, Origin,
    SocketType, WriteBuffer,
};
use socket_harness::{FrameKind, Harness, Op, OptionChange, Setup};

/// The frame and message decoder, fed in chunks whose sizes come from the input itself, with a
/// 1 MiB message limit. Every command is parsed too.
pub fn decode(data: &[u8]) {
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut decoder = MessageDecoder::new(Some(1 << 20));
    let mut buf = BytesMut::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(Inbound::Message(message))) => assert!(message.byte_len() <= 1 << 20),
                Ok(Some(Inbound::Command(body))) => {
                    if let Ok(command) = Command::parse(body.clone()) {
                        check_command_round_trip(&command, &body);
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(
            buf.capacity() <= data.len() + (2 << 20),
            "decoder reserved more than the input justifies"
        );
    }
}

/// The greeting parser on every prefix of the input.
pub fn greeting(data: &[u8]) {
    for end in 0..=data.len().min(64) {
        match Greeting::decode(&data[..end]) {
            Ok(Some(greeting)) => {
                assert_eq!(end, 64);
                assert_eq!(Greeting::decode(&greeting.encode()), Ok(Some(greeting)));
            }
            Ok(None) => assert!(end < 64),
            Err(_) => {
                // Once refused, a longer input must not be accepted.
                if data.len() >= 64 {
                    assert!(Greeting::decode(&data[..64]).is_err());
                }
                return;
            }
        }
    }
}

/// A NULL handshake of a socket type picked by the first byte against a peer whose bytes are the
/// rest of the input, delivered in chunks sized by the second byte; then traffic decoding.
pub fn handshake(data: &[u8]) {
    let [kind, chunk, rest @ ..] = data else {
        return;
    };
    let socket_type = SocketType::ALL[usize::from(*kind) % SocketType::ALL.len()];
    let chunk = usize::from(*chunk).max(1);
    let now = Instant::now();
    let mut out = WriteBuffer::new();
    let config = HandshakeConfig::new(socket_type).timeout(Some(Duration::from_secs(1)));
    let mut hs = Handshake::new(config, Box::new(Null::new()), now, &mut out);
    let mut input = BytesMut::new();
    let mut traffic: Option<MessageDecoder> = None;
    for piece in rest.chunks(chunk) {
        input.extend_from_slice(piece);
        if let Some(decoder) = traffic.as_mut() {
            while let Ok(Some(_)) = decoder.decode(&mut input) {}
            continue;
        }
        match hs.receive(&mut input, &mut out) {
            Ok(Some(peer)) => {
                assert!(socket_type.is_compatible(peer.socket_type));
                traffic = Some(MessageDecoder::new(Some(1 << 20)));
            }
            Ok(None) => {}
            Err(_) => {
                assert!(
                    hs.receive(&mut input, &mut out).is_err(),
                    "a failed handshake must stay failed"
                );
                return;
            }
        }
    }
    assert!(hs.handle_timeout(now + Duration::from_secs(1)).is_err() || hs.is_done());
}

/// The metadata parser; whatever parses must encode back to the same bytes.
pub fn metadata(data: &[u8]) {
    let data = Bytes::copy_from_slice(data);
    if let Ok(metadata) = Metadata::parse(&data) {
        let mut out = BytesMut::new();
        metadata.encode(&mut out);
        assert_eq!(out.freeze(), data);
        let _ = metadata.socket_type();
    }
}

/// The socket patterns: a [`SocketCore`](crate::proto::SocketCore) of a type and options chosen
/// by the first six bytes, driven by up to 256 operations read from the rest (attach, connect,
/// messages and subscriptions from peers, send, recv, drain, disconnect, detach, option changes)
/// and compared after each one with a reference model: every result, queue length, routing id,
/// written byte and event, the core's own invariants, the high-water marks, and that no
/// wake-up is lost.
pub fn socket_core(data: &[u8]) {
    let [kind, send_hwm, recv_hwm, low, high, seed, rest @ ..] = data else {
        return;
    };
    let socket_type = SocketType::ALL[usize::from(*kind) % SocketType::ALL.len()];
    let switches = u16::from_le_bytes([*low, *high]);
    let setup = Setup::new(
        socket_type,
        *send_hwm,
        *recv_hwm,
        switches,
        u32::from(*seed),
    );
    let mut harness = Harness::new(setup);
    let mut input = rest.iter().copied();
    for _ in 0..256 {
        let Some(op) = next_op(&mut input) else {
            break;
        };
        if let Err(what) = harness.apply(&op) {
            panic!("{what}");
        }
    }
    if let Err(what) = harness.finish() {
        panic!("{what}");
    }
}

/// Reads one operation: a byte for its kind, then one per operand (0 once the input runs out).
fn next_op(input: &mut impl Iterator<Item = u8>) -> Option<Op> {
    let code = input.next()?;
    let mut next = || input.next().unwrap_or(0);
    let op = match code % 16 {
        0 => Op::Attach(Origin::Connect),
        1 => Op::Attach(Origin::Accept),
        2 | 3 => {
            let pipe = next();
            let choices = next();
            Op::Connected {
                pipe,
                peer: choices & 0x0f,
                identity: choices >> 4,
                v3_0: code & 0x80 != 0,
            }
        }
        4 | 5 => {
            let pipe = next();
            Op::Inbound {
                pipe,
                frames: frames(&mut next),
            }
        }
        6 if code & 0x80 != 0 => Op::Reply(frames(&mut next)),
        6 => {
            let choices = next();
            Op::Command {
                pipe: next(),
                subscribe: choices & 1 != 0,
                topic: choices >> 1,
            }
        }
        7 | 8 => Op::Send(frames(&mut next)),
        9 | 10 => Op::Recv,
        11 => Op::Subscribe {
            subscribe: code & 0x80 == 0,
            topic: code >> 4,
        },
        12 => Op::Drain {
            pipe: next(),
            budget: code >> 4,
        },
        13 => {
            let pipe = next();
            match (code >> 4) % 4 {
                0 => Op::Drain {
                    pipe,
                    budget: code >> 6,
                },
                1 => Op::Take { pipe, max: next() },
                2 => Op::Settle { pipe, n: next() },
                _ => Op::Reclaim { pipe },
            }
        }
        14 => {
            let pipe = next();
            if code & 0x80 == 0 {
                Op::Disconnected { pipe }
            } else {
                Op::Detach { pipe }
            }
        }
        _ => Op::SetOptions(match code >> 4 {
            0..=7 => OptionChange::ToggleConflate,
            8..=11 => OptionChange::SendHwm(code),
            _ => OptionChange::RecvHwm(code),
        }),
    };
    Some(op)
}

/// Up to four frames, one byte each.
fn frames(next: &mut impl FnMut() -> u8) -> Vec<FrameKind> {
    let count = next() % 5;
    (0..count)
        .map(|_| {
            let byte = next();
            let arg = byte / 5;
            match byte % 5 {
                0 => FrameKind::Empty,
                1 => FrameKind::Text(arg),
                2 => FrameKind::Subscription {
                    subscribe: arg & 1 != 0,
                    topic: arg >> 1,
                },
                3 => FrameKind::RequestId {
                    current: arg & 1 == 0,
                },
                _ => FrameKind::RoutingId(arg),
            }
        })
        .collect()
}

fn check_command_round_trip(command: &Command, body: &Bytes) {
    let encoded = command.to_bytes();
    assert_eq!(encoded.len(), command.encoded_len());
    // ERROR may carry trailing bytes after its reason, which are not kept.
    if !matches!(command, Command::Error(_)) {
        assert_eq!(&encoded, body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_core_runs_fixed_inputs() {
        // Every socket type, with and without switches, over the same operation bytes: enough
        // to catch a driver that stopped decoding or a check that trips on ordinary traffic.
        let ops: Vec<u8> = (0..=255u8).map(|b| b.wrapping_mul(37)).collect();
        for kind in 0..11u8 {
            for switches in [0x0000u16, 0xffff, 0x1555, 0x0aaa] {
                let [low, high] = switches.to_le_bytes();
                for hwms in [[0, 0], [1, 1], [2, 4]] {
                    let mut data = vec![kind, hwms[0], hwms[1], low, high, 7];
                    data.extend_from_slice(&ops);
                    socket_core(&data);
                }
            }
        }
        socket_core(&[]);
        socket_core(&[6, 1, 1, 0, 0, 0]);
    }

    #[test]
    fn socket_core_runs_a_conversation() {
        // Attach and connect a pipe, a message in, recv, send, drain, a reply, recv, a
        // subscription from the peer and one of our own, a second peer, detach: each type.
        let ops = [
            0x00, 0x02, 0x00, 0x00, 0x04, 0x00, 0x02, 0x00, 0x01, 0x09, 0x07, 0x01, 0x01, 0x0c,
            0x00, 0x86, 0x02, 0x00, 0x01, 0x09, 0x06, 0x03, 0x00, 0x0b, 0x00, 0x02, 0x00, 0x31,
            0x07, 0x02, 0x04, 0x01, 0x0c, 0x01, 0x8e, 0x01,
        ];
        for kind in 0..11u8 {
            for switches in [0x0000u16, 0xffff] {
                let [low, high] = switches.to_le_bytes();
                let mut data = vec![kind, 2, 2, low, high, 0];
                data.extend_from_slice(&ops);
                socket_core(&data);
            }
        }
    }
}
