//! ZMTP commands: `name_len name data` in a command frame.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::ProtocolError;
use super::greeting::Version;
use super::metadata::Metadata;

/// RFC 37 caps a PING context at 16 bytes.
pub const MAX_PING_CONTEXT: usize = 16;

/// A parsed command.
///
/// Commands this crate does not know are kept as [`Command::Unknown`] so that the traffic phase can
/// skip them (RFC 37 lets mechanisms define commands; libzmq ignores unknown ones).
///
/// ```
/// use monocoque::bytes::{Bytes, BytesMut};
/// use monocoque::proto::Command;
///
/// let ping = Command::Ping { ttl_deciseconds: 20, context: Bytes::from("abc") };
/// let mut body = BytesMut::new();
/// ping.encode(&mut body);
/// assert_eq!(&body[..], b"\x04PING\x00\x14abc");
/// assert_eq!(Command::parse(body.freeze()).unwrap(), ping);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// NULL handshake: the sender's metadata.
    Ready(Metadata),
    /// A fatal handshake error, with a reason of at most 255 bytes.
    Error(Bytes),
    /// Heartbeat request.
    Ping {
        /// How long the receiver should wait for traffic before giving up, in tenths of a second
        /// (0: no hint).
        ttl_deciseconds: u16,
        /// Up to 16 bytes the PONG must echo.
        context: Bytes,
    },
    /// Heartbeat reply echoing the PING's context.
    Pong(Bytes),
    /// ZMTP 3.1 subscription.
    Subscribe(Bytes),
    /// ZMTP 3.1 subscription cancel.
    Cancel(Bytes),
    /// Any other command, kept whole.
    Unknown {
        /// The command name.
        name: Bytes,
        /// The bytes after the name.
        data: Bytes,
    },
}

impl Command {
    /// Parses a command frame body, sharing its bytes.
    pub fn parse(body: Bytes) -> Result<Self, ProtocolError> {
        let (name, data) = split_name(&body)?;
        Ok(match &name[..] {
            b"READY" => Self::Ready(Metadata::parse(&data)?),
            b"ERROR" => {
                let Some(&len) = data.first() else {
                    return Err(ProtocolError::MalformedCommandBody { command: "ERROR" });
                };
                let end = 1 + usize::from(len);
                if data.len() < end {
                    return Err(ProtocolError::MalformedCommandBody { command: "ERROR" });
                }
                Self::Error(data.slice(1..end))
            }
            b"PING" => {
                if data.len() < 2 {
                    return Err(ProtocolError::MalformedCommandBody { command: "PING" });
                }
                Self::Ping {
                    ttl_deciseconds: u16::from_be_bytes([data[0], data[1]]),
                    context: data.slice(2..),
                }
            }
            b"PONG" => Self::Pong(data),
            b"SUBSCRIBE" => Self::Subscribe(data),
            b"CANCEL" => Self::Cancel(data),
            _ => Self::Unknown { name, data },
        })
    }

    /// Parses a command received after the handshake, when only heartbeats and subscriptions
    /// matter: those are parsed (a malformed one is an error), anything else (a second READY, an
    /// ERROR, a mechanism's or an unknown command) is `Ok(None)`, skipped unread as libzmq does.
    pub fn parse_traffic(body: Bytes) -> Result<Option<Self>, ProtocolError> {
        let (name, _) = split_name(&body)?;
        match &name[..] {
            b"PING" | b"PONG" | b"SUBSCRIBE" | b"CANCEL" => Self::parse(body).map(Some),
            _ => Ok(None),
        }
    }

    /// The command name.
    pub fn name(&self) -> &[u8] {
        match self {
            Self::Ready(_) => b"READY",
            Self::Error(_) => b"ERROR",
            Self::Ping { .. } => b"PING",
            Self::Pong(_) => b"PONG",
            Self::Subscribe(_) => b"SUBSCRIBE",
            Self::Cancel(_) => b"CANCEL",
            Self::Unknown { name, .. } => name,
        }
    }

    /// The length of the encoded body.
    pub fn encoded_len(&self) -> usize {
        1 + self.name().len()
            + match self {
                Self::Ready(metadata) => metadata.encoded_len(),
                Self::Error(reason) => 1 + reason.len().min(255),
                Self::Ping { context, .. } => 2 + context.len(),
                Self::Pong(data)
                | Self::Subscribe(data)
                | Self::Cancel(data)
                | Self::Unknown { data, .. } => data.len(),
            }
    }

    /// Appends the body (`name_len name data`). An ERROR reason is cut to 255 bytes, its limit.
    pub fn encode(&self, out: &mut BytesMut) {
        let name = self.name();
        out.reserve(self.encoded_len());
        out.put_u8(name.len() as u8);
        out.put_slice(name);
        match self {
            Self::Ready(metadata) => metadata.encode(out),
            Self::Error(reason) => {
                let reason = &reason[..reason.len().min(255)];
                out.put_u8(reason.len() as u8);
                out.put_slice(reason);
            }
            Self::Ping {
                ttl_deciseconds,
                context,
            } => {
                out.put_u16(*ttl_deciseconds);
                out.put_slice(context);
            }
            Self::Pong(data)
            | Self::Subscribe(data)
            | Self::Cancel(data)
            | Self::Unknown { data, .. } => {
                out.put_slice(data);
            }
        }
    }

    /// The encoded body as `Bytes`.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out.freeze()
    }
}

/// A subscription change, in either of its wire forms.
///
/// ZMTP 3.1 peers send SUBSCRIBE/CANCEL commands; ZMTP 3.0 peers send a one-frame message whose
/// first byte is `1` (subscribe) or `0` (cancel). Both are accepted; the form sent follows the
/// peer's version.
///
/// ```
/// use monocoque::bytes::Bytes;
/// use monocoque::proto::{Subscription, Version};
///
/// let sub = Subscription::subscribe("topic");
/// assert_eq!(sub.to_message_frame(), Bytes::from("\x01topic"));
/// assert_eq!(Subscription::from_message_frame(&Bytes::from("\x00topic")), Some(Subscription::cancel("topic")));
/// assert!(Subscription::from_message_frame(&Bytes::from("\x02x")).is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Subscription {
    /// `true` to subscribe, `false` to cancel.
    pub subscribe: bool,
    /// The topic prefix; empty matches everything.
    pub topic: Bytes,
}

impl Subscription {
    /// A subscription to `topic`.
    pub fn subscribe(topic: impl Into<Bytes>) -> Self {
        Self {
            subscribe: true,
            topic: topic.into(),
        }
    }

    /// A cancellation of `topic`.
    pub fn cancel(topic: impl Into<Bytes>) -> Self {
        Self {
            subscribe: false,
            topic: topic.into(),
        }
    }

    /// Reads a SUBSCRIBE or CANCEL command.
    pub fn from_command(command: &Command) -> Option<Self> {
        match command {
            Command::Subscribe(topic) => Some(Self::subscribe(topic.clone())),
            Command::Cancel(topic) => Some(Self::cancel(topic.clone())),
            _ => None,
        }
    }

    /// Reads the ZMTP 3.0 message form (the single frame of a message a SUB/XSUB sent).
    pub fn from_message_frame(frame: &Bytes) -> Option<Self> {
        match frame.first() {
            Some(1) => Some(Self::subscribe(frame.slice(1..))),
            Some(0) => Some(Self::cancel(frame.slice(1..))),
            _ => None,
        }
    }

    /// The command form, for ZMTP 3.1 peers.
    pub fn to_command(&self) -> Command {
        if self.subscribe {
            Command::Subscribe(self.topic.clone())
        } else {
            Command::Cancel(self.topic.clone())
        }
    }

    /// The ZMTP 3.0 message form.
    pub fn to_message_frame(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(1 + self.topic.len());
        out.put_u8(u8::from(self.subscribe));
        out.put_slice(&self.topic);
        out.freeze()
    }

    /// Queues the form `peer_version` expects.
    pub fn encode_for(&self, peer_version: Version, out: &mut super::codec::WriteBuffer) {
        if peer_version.has_subscribe_commands() {
            out.push_command(&self.to_command());
        } else {
            out.push_frame(&self.to_message_frame(), false);
        }
    }
}

fn split_name(body: &Bytes) -> Result<(Bytes, Bytes), ProtocolError> {
    let Some(&len) = body.first() else {
        return Err(ProtocolError::MalformedCommand);
    };
    let end = 1 + usize::from(len);
    if len == 0 || body.len() < end {
        return Err(ProtocolError::MalformedCommand);
    }
    Ok((body.slice(1..end), body.slice(end..)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Frame, FrameDecoder, SocketType, WriteBuffer};

    fn command_frame(bytes: &[u8]) -> Command {
        let mut buf = BytesMut::from(bytes);
        let Some(Frame::Command(body)) = FrameDecoder::new(None).decode(&mut buf).unwrap() else {
            panic!("expected a command frame");
        };
        assert!(buf.is_empty());
        Command::parse(body).unwrap()
    }

    fn encode_frame(command: &Command) -> BytesMut {
        let mut out = WriteBuffer::new();
        out.push_command(command);
        out.take_contiguous()
    }

    #[test]
    fn libzmq_ready_frames_match_ours_byte_for_byte() {
        let recorded: [(SocketType, &[u8]); 11] = [
            (
                SocketType::Pair,
                include_bytes!("../../testdata/ready_pair.bin"),
            ),
            (
                SocketType::Pub,
                include_bytes!("../../testdata/ready_pub.bin"),
            ),
            (
                SocketType::Sub,
                include_bytes!("../../testdata/ready_sub.bin"),
            ),
            (
                SocketType::Xpub,
                include_bytes!("../../testdata/ready_xpub.bin"),
            ),
            (
                SocketType::Xsub,
                include_bytes!("../../testdata/ready_xsub.bin"),
            ),
            (
                SocketType::Push,
                include_bytes!("../../testdata/ready_push.bin"),
            ),
            (
                SocketType::Pull,
                include_bytes!("../../testdata/ready_pull.bin"),
            ),
            (
                SocketType::Req,
                include_bytes!("../../testdata/ready_req.bin"),
            ),
            (
                SocketType::Rep,
                include_bytes!("../../testdata/ready_rep.bin"),
            ),
            (
                SocketType::Dealer,
                include_bytes!("../../testdata/ready_dealer.bin"),
            ),
            (
                SocketType::Router,
                include_bytes!("../../testdata/ready_router.bin"),
            ),
        ];
        for (socket_type, bytes) in recorded {
            let Command::Ready(metadata) = command_frame(bytes) else {
                panic!("{socket_type}: not READY")
            };
            assert_eq!(metadata.socket_type(), Ok(socket_type));
            assert_eq!(
                metadata.identity().is_some(),
                socket_type.sends_identity(),
                "{socket_type}"
            );
            let ours = Command::Ready(Metadata::for_socket(socket_type, None));
            assert_eq!(&encode_frame(&ours)[..], bytes, "{socket_type}");
        }
    }

    #[test]
    fn libzmq_ready_with_identity() {
        let bytes = include_bytes!("../../testdata/ready_dealer_identity.bin");
        let Command::Ready(metadata) = command_frame(bytes) else {
            panic!("not READY")
        };
        assert_eq!(metadata.identity().unwrap(), "peer-1");
        let ours = Command::Ready(Metadata::for_socket(
            SocketType::Dealer,
            Some("peer-1".into()),
        ));
        assert_eq!(&encode_frame(&ours)[..], bytes);
    }

    #[test]
    fn libzmq_ping_and_pong() {
        let ping = command_frame(include_bytes!("../../testdata/ping.bin"));
        // The recorder set ZMQ_HEARTBEAT_TTL to 2000 ms: 20 deciseconds.
        assert_eq!(
            ping,
            Command::Ping {
                ttl_deciseconds: 20,
                context: Bytes::new()
            }
        );
        let pong = command_frame(include_bytes!("../../testdata/pong.bin"));
        assert_eq!(pong, Command::Pong(Bytes::from("ctx-42")));
        assert_eq!(
            &encode_frame(&pong)[..],
            include_bytes!("../../testdata/pong.bin")
        );
    }

    #[test]
    fn malformed_commands() {
        assert_eq!(
            Command::parse(Bytes::new()),
            Err(ProtocolError::MalformedCommand)
        );
        assert_eq!(
            Command::parse(Bytes::from_static(b"\x00")),
            Err(ProtocolError::MalformedCommand)
        );
        assert_eq!(
            Command::parse(Bytes::from_static(b"\x09SUBSCR")),
            Err(ProtocolError::MalformedCommand)
        );
        assert_eq!(
            Command::parse(Bytes::from_static(b"\x04PING\x00")),
            Err(ProtocolError::MalformedCommandBody { command: "PING" })
        );
        assert_eq!(
            Command::parse(Bytes::from_static(b"\x05ERROR\x05abc")),
            Err(ProtocolError::MalformedCommandBody { command: "ERROR" })
        );
        assert_eq!(
            Command::parse(Bytes::from_static(b"\x05ERROR")),
            Err(ProtocolError::MalformedCommandBody { command: "ERROR" })
        );
    }

    #[test]
    fn traffic_skips_what_it_does_not_act_on() {
        let broken_ready = Bytes::from_static(b"\x05READY\x0bSocket-Type\x00\x00\x10");
        assert!(Command::parse(broken_ready.clone()).is_err());
        assert_eq!(Command::parse_traffic(broken_ready), Ok(None));
        assert_eq!(
            Command::parse_traffic(Bytes::from_static(b"\x05HELLO")),
            Ok(None)
        );
        assert_eq!(
            Command::parse_traffic(Bytes::from_static(b"\x04PING\x00")),
            Err(ProtocolError::MalformedCommandBody { command: "PING" })
        );
        assert_eq!(
            Command::parse_traffic(Bytes::from_static(b"\x09SUB")),
            Err(ProtocolError::MalformedCommand)
        );
        assert_eq!(
            Command::parse_traffic(Bytes::from_static(b"\x06CANCELx")),
            Ok(Some(Command::Cancel(Bytes::from_static(b"x"))))
        );
    }

    #[test]
    fn unknown_commands_are_kept() {
        let cmd = Command::parse(Bytes::from_static(b"\x05HELLOworld")).unwrap();
        assert_eq!(
            cmd,
            Command::Unknown {
                name: "HELLO".into(),
                data: "world".into()
            }
        );
        assert_eq!(cmd.to_bytes(), Bytes::from_static(b"\x05HELLOworld"));
    }

    #[test]
    fn error_reason_is_capped_at_255() {
        let cmd = Command::Error(Bytes::from(vec![b'x'; 300]));
        let bytes = cmd.to_bytes();
        assert_eq!(bytes.len(), cmd.encoded_len());
        assert_eq!(
            Command::parse(bytes).unwrap(),
            Command::Error(Bytes::from(vec![b'x'; 255]))
        );
    }

    #[test]
    fn libzmq_subscriptions_in_both_forms_match_ours() {
        let recorded: [(Subscription, Version, &[u8]); 4] = [
            (
                Subscription::subscribe("topic"),
                Version::V3_1,
                include_bytes!("../../testdata/subscribe.bin"),
            ),
            (
                Subscription::cancel("topic"),
                Version::V3_1,
                include_bytes!("../../testdata/cancel.bin"),
            ),
            (
                Subscription::subscribe("topic"),
                Version::V3_0,
                include_bytes!("../../testdata/subscribe_zmtp30.bin"),
            ),
            (
                Subscription::cancel("topic"),
                Version::V3_0,
                include_bytes!("../../testdata/cancel_zmtp30.bin"),
            ),
        ];
        for (subscription, version, bytes) in recorded {
            let mut out = WriteBuffer::new();
            subscription.encode_for(version, &mut out);
            assert_eq!(
                &out.take_contiguous()[..],
                bytes,
                "{subscription:?} for {version}"
            );
            let mut buf = BytesMut::from(bytes);
            let decoded = match FrameDecoder::new(None).decode(&mut buf).unwrap().unwrap() {
                Frame::Command(body) => Subscription::from_command(&Command::parse(body).unwrap()),
                Frame::Message { body, more: false } => Subscription::from_message_frame(&body),
                Frame::Message { .. } => None,
            };
            assert_eq!(decoded, Some(subscription));
        }
    }

    #[test]
    fn subscription_forms() {
        let sub = Subscription::subscribe("topic");
        let mut out = WriteBuffer::new();
        sub.encode_for(Version::V3_1, &mut out);
        assert_eq!(&out.take_contiguous()[..], b"\x04\x0f\x09SUBSCRIBEtopic");
        sub.encode_for(Version::V3_0, &mut out);
        assert_eq!(&out.take_contiguous()[..], b"\x00\x06\x01topic");
        assert_eq!(Subscription::from_command(&sub.to_command()), Some(sub));
        assert_eq!(
            Subscription::from_command(&Command::Pong(Bytes::new())),
            None
        );
        assert_eq!(Subscription::from_message_frame(&Bytes::new()), None);
    }
}
