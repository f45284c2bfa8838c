//! Hostile peers that send a good greeting and then break the NULL handshake: an incompatible
//! socket type, a READY with broken metadata, a command with MORE or reserved flag bits, a message
//! or another command instead of READY, an ERROR, a READY too large for a handshake command.
//!
//! Each case: a PULL socket with a monitor, a good PUSH peer sending numbered messages throughout,
//! and a raw TCP mock. The socket must close the mock's connection, report Accepted,
//! HandshakeFailedProtocol with the exact error and Disconnected for it, and lose none of the good
//! peer's messages.

mod hostile_common;

use bytes::Bytes;
use hostile_common::{
    COMMAND, MIB, MORE, Scene, frame, handshake_fault, long_header, null_greeting, options,
    property, ready, ready_body,
};
use monocoque::SocketType;
use monocoque::proto::ProtocolError;

/// A good greeting followed by `rest`.
fn after_greeting(rest: Vec<u8>) -> Vec<Vec<u8>> {
    vec![null_greeting(), rest]
}

/// A READY command frame carrying `properties`.
fn ready_with(properties: &[u8]) -> Vec<u8> {
    frame(COMMAND, &ready_body(properties))
}

#[test]
fn an_incompatible_socket_type_is_refused_with_an_error_command() {
    run_cases(&[
        (
            "Socket-Type PULL to a PULL",
            ready("PULL"),
            ProtocolError::IncompatibleSocketType {
                local: SocketType::Pull,
                peer: SocketType::Pull,
            },
        ),
        (
            "Socket-Type PUB to a PULL",
            ready("PUB"),
            ProtocolError::IncompatibleSocketType {
                local: SocketType::Pull,
                peer: SocketType::Pub,
            },
        ),
    ]);
}

#[test]
fn a_ready_with_broken_metadata_is_refused() {
    let socket_type = property(b"Socket-Type", b"PUSH");
    let value_past_end = b"\x0bSocket-Type\x00\x00\x00\x10PUSH".to_vec();
    let mut duplicate = socket_type.clone();
    duplicate.extend_from_slice(&property(b"socket-type", b"PUSH"));
    let mut bad_name = socket_type.clone();
    bad_name.extend_from_slice(&property(b"X Bad", b"1"));
    let mut empty_name = socket_type.clone();
    empty_name.extend_from_slice(b"\x00\x00\x00\x00\x00");
    let mut huge_value = socket_type;
    huge_value.extend_from_slice(b"\x05X-Big\xff\xff\xff\xff");
    run_cases(&[
        (
            "READY: value length past the end",
            ready_with(&value_past_end),
            ProtocolError::MetadataTruncated { field: "value" },
        ),
        (
            "READY: name length past the end",
            ready_with(b"\x20Socket"),
            ProtocolError::MetadataTruncated { field: "name" },
        ),
        (
            "READY: value length cut short",
            ready_with(b"\x0bSocket-Type\x00\x00"),
            ProtocolError::MetadataTruncated {
                field: "value length",
            },
        ),
        (
            "READY: property name with a space",
            ready_with(&bad_name),
            ProtocolError::InvalidPropertyName,
        ),
        (
            "READY: empty property name",
            ready_with(&empty_name),
            ProtocolError::InvalidPropertyName,
        ),
        (
            "READY: value length 2^32-1",
            ready_with(&huge_value),
            ProtocolError::PropertyValueTooLong {
                len: u32::MAX.into(),
            },
        ),
        (
            "READY: Socket-Type twice",
            ready_with(&duplicate),
            ProtocolError::DuplicateProperty {
                name: "socket-type".to_owned(),
            },
        ),
        (
            "READY: 6,000 tiny properties in 60 KiB",
            ready_with(&tiny_properties(6000)),
            ProtocolError::TooManyProperties {
                max: monocoque::proto::MAX_PROPERTIES,
            },
        ),
        (
            "READY: no Socket-Type",
            ready_with(&property(b"X-Only", b"1")),
            ProtocolError::MissingSocketType,
        ),
        (
            "READY: Socket-Type in lower case",
            ready_with(&property(b"Socket-Type", b"push")),
            ProtocolError::UnknownSocketType {
                name: Bytes::from_static(b"push"),
            },
        ),
        (
            "command frame with no name",
            frame(COMMAND, b""),
            ProtocolError::MalformedCommand,
        ),
        (
            "command name length past the end",
            frame(COMMAND, b"\x09READY"),
            ProtocolError::MalformedCommand,
        ),
    ]);
}

/// `Socket-Type: PUSH` and then `count - 1` properties of a two-byte name and no value: about
/// ten bytes each, near the most a READY can hold. Parsed before the peer proves anything.
fn tiny_properties(count: usize) -> Vec<u8> {
    let mut out = property(b"Socket-Type", b"PUSH");
    for i in 1..count {
        out.extend_from_slice(&property(format!("p{i}").as_bytes(), b""));
    }
    out
}

#[test]
fn bad_frames_instead_of_ready_are_refused() {
    let mut ready_with_more = ready("PUSH");
    ready_with_more[0] |= MORE;
    let mut reserved = ready("PUSH");
    reserved[0] |= 0x80;
    run_cases(&[
        (
            "READY with the MORE flag",
            ready_with_more,
            ProtocolError::CommandWithMore,
        ),
        (
            "READY with reserved flag bit 7",
            reserved,
            ProtocolError::ReservedFlagBits { flags: 0x84 },
        ),
        (
            "a message frame instead of READY",
            frame(0, b"hello"),
            ProtocolError::MessageBeforeReady,
        ),
        (
            "PING instead of READY",
            frame(COMMAND, b"\x04PING\x00\x00"),
            ProtocolError::UnexpectedCommand {
                name: Bytes::from_static(b"PING"),
            },
        ),
        (
            "ERROR instead of READY",
            frame(COMMAND, b"\x05ERROR\x04nope"),
            ProtocolError::PeerError {
                reason: Bytes::from_static(b"nope"),
            },
        ),
        (
            "a READY claiming 1 GiB",
            long_header(COMMAND, 1024 * MIB),
            ProtocolError::FrameTooLarge {
                len: 1024 * MIB,
                max: 64 * 1024,
            },
        ),
        (
            "a command frame claiming 2^63 bytes",
            long_header(COMMAND, 1 << 63),
            ProtocolError::FrameLengthOverflow { len: 1 << 63 },
        ),
    ]);
}

/// Runs each `(case, bytes after the greeting, error)` against one scene, then checks the good
/// peer.
fn run_cases(cases: &[(&str, Vec<u8>, ProtocolError)]) {
    hostile_common::run(|| async {
        let mut scene = Scene::start(options()).await;
        for (case, rest, error) in cases {
            let (mock, _) = handshake_fault(
                &mut scene,
                case,
                &after_greeting(rest.clone()),
                error.clone(),
            )
            .await;
            if matches!(
                error,
                ProtocolError::IncompatibleSocketType { .. }
                    | ProtocolError::MissingSocketType
                    | ProtocolError::UnknownSocketType { .. }
            ) {
                // RFC 37: the peer is told why before the connection closes.
                let reason = error.to_string();
                let mut expected = b"\x05ERROR".to_vec();
                expected.push(reason.len() as u8);
                expected.extend_from_slice(reason.as_bytes());
                assert!(
                    mock.commands().contains(&expected),
                    "{case}: no ERROR command {reason:?} before the close; commands: {:?}",
                    mock.commands()
                );
            }
        }
        scene.finish().await;
    });
}
