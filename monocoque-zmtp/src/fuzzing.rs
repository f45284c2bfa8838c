//! Entry points for the cargo-fuzz targets in `monocoque-fuzz`, one per attack surface.
//!
//! Each takes arbitrary bytes, must never panic on them, and checks invariants with assertions so
//! that the fuzzer reports logic errors as well as crashes. Enabled by the `fuzzing` feature.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::proto::{
    Command, Greeting, Handshake, HandshakeConfig, Inbound, MessageDecoder, Metadata, Null,
    SocketType, WriteBuffer,
};

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

fn check_command_round_trip(command: &Command, body: &Bytes) {
    let encoded = command.to_bytes();
    assert_eq!(encoded.len(), command.encoded_len());
    // ERROR may carry trailing bytes after its reason, which are not kept.
    if !matches!(command, Command::Error(_)) {
        assert_eq!(&encoded, body);
    }
}
