//! Property tests of the traffic codec: round trips and split invariance.

use bytes::{Bytes, BytesMut};
use monocoque_core::Message;
use monocoque_zmtp::proto::{Command, Inbound, MessageDecoder, WriteBuffer};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Item {
    Message(Vec<Vec<u8>>),
    Ping(u16, Vec<u8>),
}

fn frame() -> impl Strategy<Value = Vec<u8>> {
    // Mostly short frames, some long ones past the 255-byte short-size limit.
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..40),
        1 => prop::collection::vec(any::<u8>(), 250..700),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        8 => prop::collection::vec(frame(), 1..6).prop_map(Item::Message),
        1 => (any::<u16>(), prop::collection::vec(any::<u8>(), 0..16)).prop_map(|(t, c)| Item::Ping(t, c)),
    ]
}

fn encode(items: &[Item], copy_threshold: usize) -> Vec<u8> {
    let mut out = WriteBuffer::with_copy_threshold(copy_threshold);
    for item in items {
        match item {
            Item::Message(frames) => out.push_message(&frames.iter().cloned().collect::<Message>()),
            Item::Ping(ttl, context) => out.push_command(&Command::Ping {
                ttl_deciseconds: *ttl,
                context: Bytes::from(context.clone()),
            }),
        }
    }
    let expected_len = out.len();
    let chunks = out.take_chunks();
    let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    assert_eq!(bytes.len(), expected_len);
    bytes
}

fn expected(items: &[Item]) -> Vec<Inbound> {
    items
        .iter()
        .map(|item| match item {
            Item::Message(frames) => Inbound::Message(frames.iter().cloned().collect()),
            Item::Ping(ttl, context) => Inbound::Command(
                Command::Ping {
                    ttl_deciseconds: *ttl,
                    context: Bytes::from(context.clone()),
                }
                .to_bytes(),
            ),
        })
        .collect()
}

/// Decodes `bytes` delivered in the given pieces.
fn decode_in_pieces<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Vec<Inbound> {
    let mut decoder = MessageDecoder::new(Some(1 << 20));
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        while let Some(inbound) = decoder.decode(&mut buf).expect("valid stream") {
            got.push(inbound);
        }
    }
    assert!(buf.is_empty());
    assert!(!decoder.is_mid_message());
    got
}

proptest! {
    #[test]
    fn round_trip(items in prop::collection::vec(item(), 0..20), threshold in 0usize..1000) {
        let bytes = encode(&items, threshold);
        prop_assert_eq!(decode_in_pieces([&bytes[..]]), expected(&items));
    }

    #[test]
    fn split_at_every_offset(items in prop::collection::vec(item(), 1..6)) {
        let bytes = encode(&items, 64);
        let want = expected(&items);
        for cut in 0..=bytes.len() {
            prop_assert_eq!(&decode_in_pieces([&bytes[..cut], &bytes[cut..]]), &want, "cut at {}", cut);
        }
    }

    #[test]
    fn arbitrary_chunking(items in prop::collection::vec(item(), 1..20), sizes in prop::collection::vec(1usize..300, 1..50)) {
        let bytes = encode(&items, 128);
        let mut pieces = Vec::new();
        let mut rest = &bytes[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            let (head, tail) = rest.split_at(n);
            pieces.push(head);
            rest = tail;
            i += 1;
        }
        prop_assert_eq!(decode_in_pieces(pieces), expected(&items));
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let mut decoder = MessageDecoder::new(Some(4096));
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(inbound)) = decoder.decode(&mut buf) {
            if let Inbound::Command(body) = inbound {
                let _ = Command::parse(body);
            }
        }
        prop_assert!(buf.capacity() <= 2 * bytes.len().max(4096) + 64);
    }
}
