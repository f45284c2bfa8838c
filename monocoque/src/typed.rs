//! Typed messages: send and receive Rust values instead of frames (feature `serde`).
//!
//! [`Typed`] wraps a compio socket and [`TypedHandle`] a thread-safe handle. Each encodes a
//! value into one frame with a [`Codec`] — [`Postcard`] (compact, the default) or [`Json`]
//! (text, for peers in other languages), or one of your own — and decodes the last frame of
//! each message it receives:
//!
//! ```
//! use monocoque::typed::Typed;
//! use monocoque::{PullSocket, PushSocket};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! enum Job {
//!     Resize { width: u32, height: u32 },
//!     Delete(String),
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! compio::runtime::Runtime::new()?.block_on(async {
//!     let pull = Typed::<_, Job>::new(PullSocket::new());
//!     let endpoint = pull.get_ref().bind("tcp://127.0.0.1:0").await?;
//!     let push = Typed::<_, Job>::new(PushSocket::new());
//!     push.get_ref().connect(&endpoint.to_string())?;
//!
//!     push.send(&Job::Resize { width: 640, height: 480 }).await?;
//!     assert_eq!(pull.recv().await?, Job::Resize { width: 640, height: 480 });
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # The frames
//!
//! A value is one frame. [`send`](Typed::send) sends just that frame;
//! [`send_topic`](Typed::send_topic) sends a topic frame first, for PUB/SUB filtering;
//! [`send_with_envelope`](Typed::send_with_envelope) sends any frames first (a ROUTER's routing
//! id). On the receiving side [`recv`](Typed::recv) decodes the last frame and leaves out the
//! others, [`recv_topic`](Typed::recv_topic) hands the topic back with the value, and
//! [`recv_with_envelope`](Typed::recv_with_envelope) the frames before the value.
//!
//! # A message that does not decode
//!
//! A payload of another type, another codec or no codec at all is a
//! [`TypedRecvError::Decode`] for that message, carrying the message as it arrived, so that
//! nothing is lost without a trace: the connection stays up, and the next receive gets the next
//! message. A send that fails hands the encoded message back in [`TypedSendError::Send`], as
//! the untyped [`SendError`](crate::SendError) does; a value the codec cannot encode is a
//! [`TypedSendError::Encode`], and nothing is sent.
//!
//! # Which methods
//!
//! The send methods exist where the socket can send and the receive methods where it can
//! receive, through the sealed traits [`SendSocket`], [`RecvSocket`], [`SendHandle`] and
//! [`RecvHandle`]: a `Typed<PushSocket, T>` has no `recv`. Cancel safety is the socket's: a
//! receive future dropped before it returns `Ready` took no message, and a send future dropped
//! before then sent nothing. See `docs/TYPED.md` for a guide.

#![cfg_attr(docsrs, doc(cfg(feature = "serde")))]

mod codec;
mod error;
mod handle;
mod socket;

pub use codec::{Codec, DecodeError, EncodeError, Json, Postcard};
pub use error::{TypedRecvError, TypedSendError};
pub use handle::{RecvHandle, SendHandle, TypedHandle};
pub use socket::{RecvSocket, SendSocket, Typed};

use bytes::Bytes;
use monocoque_core::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The typed messages guide's examples, run as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/TYPED.md")]
pub struct TypedGuide;

mod sealed {
    /// Only this crate's sockets and handles are wrapped, or references to them.
    pub trait Sealed {}

    impl<S: Sealed> Sealed for &S {}
}

// The shapes of a typed message, shared by both adapters.

/// One frame holding `value`.
fn encode<C: Codec, T: Serialize>(codec: &C, value: &T) -> Result<Message, EncodeError> {
    codec.encode(value).map(Message::from)
}

/// The frames of `envelope`, then one frame holding `value`. Encodes first, so that a value
/// that does not encode costs no message.
fn encode_with_envelope<C: Codec, T: Serialize>(
    codec: &C,
    envelope: impl Into<Message>,
    value: &T,
) -> Result<Message, EncodeError> {
    let payload = codec.encode(value)?;
    let mut message = envelope.into();
    message.push(payload);
    Ok(message)
}

/// The value in the last frame of `message`; the frames before it are left out.
fn decode<C: Codec, T: DeserializeOwned>(codec: &C, message: Message) -> Result<T, TypedRecvError> {
    let Some(payload) = message.last() else {
        return Err(TypedRecvError::FrameCount {
            expected: 1,
            message,
        });
    };
    match codec.decode(payload) {
        Ok(value) => Ok(value),
        Err(error) => Err(TypedRecvError::Decode { error, message }),
    }
}

/// The topic and the value of a message of exactly two frames.
fn decode_topic<C: Codec, T: DeserializeOwned>(
    codec: &C,
    message: Message,
) -> Result<(Bytes, T), TypedRecvError> {
    if message.len() != 2 {
        return Err(TypedRecvError::FrameCount {
            expected: 2,
            message,
        });
    }
    let (mut envelope, value) = decode_with_envelope(codec, message)?;
    let topic = envelope.pop_front().unwrap_or_default();
    Ok((topic, value))
}

/// The frames before the last, and the value in the last.
fn decode_with_envelope<C: Codec, T: DeserializeOwned>(
    codec: &C,
    message: Message,
) -> Result<(Message, T), TypedRecvError> {
    let Some(payload) = message.last() else {
        return Err(TypedRecvError::FrameCount {
            expected: 1,
            message,
        });
    };
    match codec.decode(payload) {
        Ok(value) => {
            let mut envelope = message;
            envelope.pop_back();
            Ok((envelope, value))
        }
        Err(error) => Err(TypedRecvError::Decode { error, message }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Point {
        x: i32,
        y: i32,
    }

    #[test]
    fn a_value_is_one_frame_after_the_envelope() {
        let message = encode_with_envelope(&Postcard, Message::from("a").with("b"), &7u8).unwrap();
        assert_eq!(message, Message::from("a").with("b").with(&[7u8][..]));
        let (envelope, value) = decode_with_envelope::<_, u8>(&Postcard, message).unwrap();
        assert_eq!(envelope, Message::from("a").with("b"));
        assert_eq!(value, 7);
    }

    #[test]
    fn decode_reads_the_last_frame() {
        let message =
            Message::from("topic").with(encode(&Json, &Point { x: 1, y: -2 }).unwrap()[0].clone());
        assert_eq!(
            decode::<_, Point>(&Json, message).unwrap(),
            Point { x: 1, y: -2 }
        );
    }

    #[test]
    fn a_message_without_frames_is_a_frame_count_error() {
        let error = decode::<_, u8>(&Postcard, Message::new()).unwrap_err();
        assert_eq!(
            error,
            TypedRecvError::FrameCount {
                expected: 1,
                message: Message::new()
            }
        );
        let error = decode_with_envelope::<_, u8>(&Postcard, Message::new()).unwrap_err();
        assert!(matches!(
            error,
            TypedRecvError::FrameCount { expected: 1, .. }
        ));
    }

    #[test]
    fn a_topic_needs_exactly_two_frames() {
        let payload = encode(&Postcard, &3u8).unwrap()[0].clone();
        let (topic, value) =
            decode_topic::<_, u8>(&Postcard, Message::from("t").with(payload.clone())).unwrap();
        assert_eq!((&topic[..], value), (&b"t"[..], 3));
        for message in [
            Message::from(payload.clone()),
            Message::from("a").with("b").with(payload),
        ] {
            let error = decode_topic::<_, u8>(&Postcard, message.clone()).unwrap_err();
            assert_eq!(
                error,
                TypedRecvError::FrameCount {
                    expected: 2,
                    message
                }
            );
        }
    }

    #[test]
    fn a_failed_decode_keeps_the_whole_message() {
        let message = Message::from("topic").with("not json");
        let error = decode_topic::<_, Point>(&Json, message.clone()).unwrap_err();
        assert_eq!(error.message(), Some(&message));
        assert!(
            error
                .to_string()
                .starts_with("the payload does not decode with json: ")
        );
    }
}
