//! Hostile and broken peers against one side of a NULL handshake: each fault yields its own
//! error variant, never a panic, and never an allocation the peer chose.

use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use monocoque_zmtp::proto::{
    Command, FLAG_COMMAND, FLAG_LONG, FLAG_MORE, Greeting, Handshake, HandshakeConfig,
    MechanismName, Metadata, Null, PeerInfo, ProtocolError, SocketType, Version, WriteBuffer,
};

const LIBZMQ_GREETING: &[u8] = include_bytes!("../testdata/greeting_null.bin");
const LIBZMQ_READY_ROUTER: &[u8] = include_bytes!("../testdata/ready_router.bin");

struct Local {
    handshake: Handshake,
    out: WriteBuffer,
    input: BytesMut,
    start: Instant,
}

impl Local {
    fn new(socket_type: SocketType) -> Self {
        let start = Instant::now();
        let mut out = WriteBuffer::new();
        let config = HandshakeConfig::new(socket_type).timeout(Some(Duration::from_secs(10)));
        let handshake = Handshake::new(config, Box::new(Null::new()), start, &mut out);
        Self {
            handshake,
            out,
            input: BytesMut::new(),
            start,
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> Result<Option<PeerInfo>, ProtocolError> {
        self.input.extend_from_slice(bytes);
        self.handshake
            .receive(&mut self.input, &mut self.out)
            .map(|peer| peer.cloned())
    }
}

fn greeting() -> Vec<u8> {
    Greeting::new(MechanismName::NULL, false).encode().to_vec()
}

fn command_frame(body: &[u8]) -> Vec<u8> {
    let mut out = vec![FLAG_COMMAND, body.len() as u8];
    out.extend_from_slice(body);
    out
}

fn ready(socket_type: &str) -> Vec<u8> {
    let mut metadata = Metadata::new();
    metadata
        .insert("Socket-Type", socket_type.to_owned())
        .expect("valid property");
    let mut out = WriteBuffer::new();
    out.push_command(&Command::Ready(metadata));
    out.take_contiguous().to_vec()
}

#[test]
fn libzmq_router_bytes_complete_a_dealer_handshake() {
    let mut local = Local::new(SocketType::Dealer);
    assert_eq!(local.feed(LIBZMQ_GREETING), Ok(None));
    let peer = local
        .feed(LIBZMQ_READY_ROUTER)
        .unwrap()
        .expect("handshake complete");
    assert_eq!(peer.socket_type, SocketType::Router);
    assert_eq!(peer.version, Version::V3_1);
    assert_eq!(peer.identity, None);
    // We sent our greeting and our READY, nothing else.
    let sent = local.out.take_contiguous();
    assert_eq!(sent.len(), 64 + 43);
}

#[test]
fn traffic_after_ready_stays_in_the_input() {
    let mut local = Local::new(SocketType::Pull);
    let mut bytes = greeting();
    bytes.extend(ready("PUSH"));
    bytes.extend_from_slice(b"\x00\x05hello");
    assert!(local.feed(&bytes).unwrap().is_some());
    assert_eq!(&local.input[..], b"\x00\x05hello");
}

#[test]
fn truncated_greeting_waits_then_times_out() {
    let mut local = Local::new(SocketType::Dealer);
    assert_eq!(local.feed(&greeting()[..30]), Ok(None));
    assert_eq!(
        local
            .handshake
            .handle_timeout(local.start + Duration::from_millis(9999)),
        Ok(())
    );
    assert_eq!(
        local
            .handshake
            .handle_timeout(local.start + Duration::from_secs(10)),
        Err(ProtocolError::HandshakeTimeout)
    );
    assert_eq!(
        local.feed(&greeting()[30..]),
        Err(ProtocolError::HandshakeTimeout),
        "dead stays dead"
    );
}

#[test]
fn wrong_signature() {
    let mut bytes = greeting();
    bytes[9] = 0x7D;
    assert_eq!(
        Local::new(SocketType::Dealer).feed(&bytes),
        Err(ProtocolError::BadSignature)
    );
    assert_eq!(
        Local::new(SocketType::Dealer).feed(b"\x16\x03\x01\x02\x00"),
        Err(ProtocolError::BadSignature)
    );
}

#[test]
fn zmtp_2_0_and_1_0_peers() {
    // A ZMTP 2.0 peer: signature, revision 1, socket type, then an identity frame.
    let zmtp20 = b"\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x01\x05\x00\x00";
    assert_eq!(
        Local::new(SocketType::Dealer).feed(zmtp20),
        Err(ProtocolError::UnsupportedVersion { major: 2, minor: 0 })
    );
    assert_eq!(
        Local::new(SocketType::Dealer).feed(b"\x01\x00"),
        Err(ProtocolError::UnsupportedVersion { major: 1, minor: 0 })
    );
}

#[test]
fn zmtp_3_0_peer_is_accepted() {
    let mut bytes = greeting();
    bytes[11] = 0;
    bytes.extend(ready("ROUTER"));
    let peer = Local::new(SocketType::Dealer)
        .feed(&bytes)
        .unwrap()
        .unwrap();
    assert_eq!(peer.version, Version::V3_0);
}

#[test]
fn unknown_and_malformed_mechanisms() {
    let mut bytes = greeting();
    bytes[12..32].fill(0);
    bytes[12..18].copy_from_slice(b"GSSAPI");
    assert_eq!(
        Local::new(SocketType::Dealer).feed(&bytes),
        Err(ProtocolError::MechanismMismatch {
            local: MechanismName::NULL,
            peer: MechanismName::new("GSSAPI").unwrap()
        })
    );
    bytes[12..18].copy_from_slice(b"gssapi");
    assert_eq!(
        Local::new(SocketType::Dealer).feed(&bytes),
        Err(ProtocolError::InvalidMechanism)
    );
}

#[test]
fn as_server_with_null() {
    let mut bytes = greeting();
    bytes[32] = 1;
    assert_eq!(
        Local::new(SocketType::Dealer).feed(&bytes),
        Err(ProtocolError::NullAsServer)
    );
}

#[test]
fn oversized_command_is_refused_without_allocating_its_size() {
    let mut local = Local::new(SocketType::Dealer);
    local.feed(&greeting()).unwrap();
    let capacity = local.input.capacity();
    let mut frame = vec![FLAG_COMMAND | FLAG_LONG];
    frame.extend_from_slice(&(1u64 << 40).to_be_bytes());
    assert_eq!(
        local.feed(&frame),
        Err(ProtocolError::FrameTooLarge {
            len: 1 << 40,
            max: 64 * 1024
        })
    );
    assert!(
        local.input.capacity() <= capacity.max(64),
        "reserved {}",
        local.input.capacity()
    );
}

#[test]
fn frame_claiming_2_pow_63_bytes() {
    let mut local = Local::new(SocketType::Dealer);
    let mut bytes = greeting();
    bytes.push(FLAG_COMMAND | FLAG_LONG);
    bytes.extend_from_slice(&u64::MAX.to_be_bytes());
    assert_eq!(
        local.feed(&bytes),
        Err(ProtocolError::FrameLengthOverflow { len: u64::MAX })
    );
}

#[test]
fn metadata_lengths_pointing_past_the_end() {
    let mut body = b"\x05READY\x0bSocket-Type".to_vec();
    body.put_u32(1000);
    body.extend_from_slice(b"ROUTER");
    let mut bytes = greeting();
    bytes.extend(command_frame(&body));
    assert_eq!(
        Local::new(SocketType::Dealer).feed(&bytes),
        Err(ProtocolError::MetadataTruncated { field: "value" })
    );

    let mut bytes = greeting();
    bytes.extend(command_frame(b"\x05READY\x40Socket"));
    assert_eq!(
        Local::new(SocketType::Dealer).feed(&bytes),
        Err(ProtocolError::MetadataTruncated { field: "name" })
    );
}

#[test]
fn command_with_more() {
    let mut bytes = greeting();
    bytes.extend([FLAG_COMMAND | FLAG_MORE, 0]);
    assert_eq!(
        Local::new(SocketType::Dealer).feed(&bytes),
        Err(ProtocolError::CommandWithMore)
    );
}

#[test]
fn reserved_flag_bits() {
    let mut bytes = greeting();
    bytes.extend([0x80, 0]);
    assert_eq!(
        Local::new(SocketType::Dealer).feed(&bytes),
        Err(ProtocolError::ReservedFlagBits { flags: 0x80 })
    );
}

#[test]
fn message_before_ready() {
    let mut bytes = greeting();
    bytes.extend_from_slice(b"\x00\x02hi");
    assert_eq!(
        Local::new(SocketType::Dealer).feed(&bytes),
        Err(ProtocolError::MessageBeforeReady)
    );
}

#[test]
fn unexpected_command_during_handshake() {
    let mut bytes = greeting();
    bytes.extend(command_frame(b"\x04PING\x00\x00"));
    assert_eq!(
        Local::new(SocketType::Dealer).feed(&bytes),
        Err(ProtocolError::UnexpectedCommand {
            name: "PING".into()
        })
    );
}

#[test]
fn peer_error_command_is_fatal() {
    let mut bytes = greeting();
    bytes.extend(command_frame(b"\x05ERROR\x06denied"));
    assert_eq!(
        Local::new(SocketType::Dealer).feed(&bytes),
        Err(ProtocolError::PeerError {
            reason: "denied".into()
        })
    );
}

#[test]
fn missing_unknown_and_incompatible_socket_types() {
    let mut bytes = greeting();
    bytes.extend(command_frame(b"\x05READY"));
    let mut local = Local::new(SocketType::Dealer);
    assert_eq!(local.feed(&bytes), Err(ProtocolError::MissingSocketType));
    let sent = local.out.take_contiguous();
    assert!(
        sent.ends_with(b"peer did not announce its socket type"),
        "ERROR sent to the peer: {sent:?}"
    );

    let mut bytes = greeting();
    bytes.extend(ready("CLIENT"));
    assert_eq!(
        Local::new(SocketType::Dealer).feed(&bytes),
        Err(ProtocolError::UnknownSocketType {
            name: "CLIENT".into()
        })
    );

    let mut bytes = greeting();
    bytes.extend(ready("PUB"));
    assert_eq!(
        Local::new(SocketType::Dealer).feed(&bytes),
        Err(ProtocolError::IncompatibleSocketType {
            local: SocketType::Dealer,
            peer: SocketType::Pub
        })
    );
}

#[test]
fn identity_longer_than_255_bytes() {
    let mut metadata = Metadata::new();
    metadata.insert("Socket-Type", "DEALER").unwrap();
    metadata.insert("Identity", vec![b'x'; 256]).unwrap();
    let mut bytes = greeting();
    let mut out = WriteBuffer::new();
    out.push_command(&Command::Ready(metadata));
    bytes.extend_from_slice(&out.take_contiguous());
    assert_eq!(
        Local::new(SocketType::Router).feed(&bytes),
        Err(ProtocolError::IdentityTooLong { len: 256 })
    );
}

#[test]
fn byte_at_a_time_delivery_completes() {
    let mut local = Local::new(SocketType::Dealer);
    let mut bytes = LIBZMQ_GREETING.to_vec();
    bytes.extend_from_slice(LIBZMQ_READY_ROUTER);
    let (last, rest) = bytes.split_last().unwrap();
    for b in rest {
        assert_eq!(local.feed(&[*b]), Ok(None));
    }
    assert!(local.feed(&[*last]).unwrap().is_some());
}
