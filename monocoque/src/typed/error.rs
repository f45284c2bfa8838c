//! The errors of typed sends and receives.

use monocoque_core::Message;
use monocoque_zmtp::proto::{RecvError, SendError, SendErrorKind};

use super::{DecodeError, EncodeError};

/// A failed typed send: the value did not encode, or the message did not go.
///
/// ```
/// use monocoque::typed::{Typed, TypedSendError};
/// use monocoque::{PushSocket, SendErrorKind};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// compio::runtime::Runtime::new()?.block_on(async {
///     let push = Typed::<_, String>::new(PushSocket::new());
///     // No peer yet: the encoded message comes back with the error.
///     let error = push.try_send(&"job".to_string()).unwrap_err();
///     assert_eq!(error.kind(), Some(SendErrorKind::WouldBlock));
///     let message = error.into_message().expect("a send error hands the message back");
///     assert_eq!(push.decode(message)?, "job");
///     Ok(())
/// })
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TypedSendError {
    /// The codec could not encode the value; nothing was sent.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The send failed, as an untyped send fails; the encoded message is handed back inside.
    #[error(transparent)]
    Send(#[from] SendError),
}

impl TypedSendError {
    /// Why the send failed, if the value was encoded (`None` for [`Self::Encode`]).
    ///
    /// ```
    /// use monocoque::typed::{EncodeError, TypedSendError};
    ///
    /// let error = TypedSendError::from(EncodeError::new("json", "key must be a string"));
    /// assert_eq!(error.kind(), None);
    /// ```
    pub fn kind(&self) -> Option<SendErrorKind> {
        match self {
            Self::Encode(_) => None,
            Self::Send(error) => Some(error.kind),
        }
    }

    /// The encoded message that was not sent, to retry or keep (`None` for [`Self::Encode`]:
    /// the value is still yours).
    ///
    /// ```
    /// use monocoque::typed::{EncodeError, TypedSendError};
    ///
    /// let error = TypedSendError::from(EncodeError::new("json", "key must be a string"));
    /// assert_eq!(error.into_message(), None);
    /// ```
    pub fn into_message(self) -> Option<Message> {
        match self {
            Self::Encode(_) => None,
            Self::Send(error) => Some(error.message),
        }
    }
}

/// A failed typed receive: nothing was taken, or a message was taken that does not decode as
/// the type (and comes back inside the error).
///
/// A message that does not decode affects that message alone: the connection stays up and the
/// next receive gets the next message.
///
/// ```
/// use monocoque::typed::{Typed, TypedRecvError};
/// use monocoque::{PairSocket, RecvError};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// compio::runtime::Runtime::new()?.block_on(async {
///     let a = Typed::<_, u32>::new(PairSocket::new());
///     let endpoint = a.get_ref().bind("tcp://127.0.0.1:0").await?;
///     let b = PairSocket::new();
///     b.connect(&endpoint.to_string())?;
///     assert_eq!(a.try_recv(), Err(TypedRecvError::Recv(RecvError::WouldBlock)));
///
///     b.send("not a number").await?; // 12 bytes of text: postcard reads a u32, then 11 left over
///     match a.recv().await {
///         Err(TypedRecvError::Decode { error, message }) => {
///             assert_eq!(error.codec, "postcard");
///             assert_eq!(&message[0][..], b"not a number");
///         }
///         other => panic!("expected a decode error, got {other:?}"),
///     }
///     b.send(&[42u8][..]).await?; // 42 in postcard: the next message arrives as usual
///     assert_eq!(a.recv().await?, 42);
///     Ok(())
/// })
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TypedRecvError {
    /// The receive failed, as an untyped receive fails; no message was taken.
    #[error(transparent)]
    Recv(#[from] RecvError),
    /// A message arrived whose payload (its last frame) does not decode as the type: a sender
    /// of another type or codec, or a corrupted payload. The message is here, whole.
    #[error("{error}")]
    Decode {
        /// What the codec said.
        error: DecodeError,
        /// The message as it arrived, every frame.
        message: Message,
    },
    /// A message arrived with a number of frames the call cannot take apart:
    /// [`recv_topic`](super::Typed::recv_topic) needs exactly two (the topic, the payload), and
    /// every receive at least one. The message is here, whole.
    #[error("a message of {} frames where {expected} were expected", message.len())]
    FrameCount {
        /// The number of frames the call takes apart.
        expected: usize,
        /// The message as it arrived, every frame.
        message: Message,
    },
}

impl TypedRecvError {
    /// The message that was taken but did not decode (`None` for [`Self::Recv`]: nothing was
    /// taken).
    ///
    /// ```
    /// use monocoque::Message;
    /// use monocoque::typed::Typed;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let pull = Typed::<_, bool>::new(monocoque::PullSocket::new());
    ///     let error = pull.decode(Message::from(&[2u8][..])).unwrap_err(); // 2 is no bool
    ///     assert_eq!(error.message(), Some(&Message::from(&[2u8][..])));
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn message(&self) -> Option<&Message> {
        match self {
            Self::Recv(_) => None,
            Self::Decode { message, .. } | Self::FrameCount { message, .. } => Some(message),
        }
    }

    /// The message that was taken but did not decode, to log, forward or decode otherwise
    /// (`None` for [`Self::Recv`]).
    ///
    /// ```
    /// use monocoque::typed::TypedRecvError;
    /// use monocoque::RecvError;
    ///
    /// assert_eq!(TypedRecvError::from(RecvError::TimedOut).into_message(), None);
    /// ```
    pub fn into_message(self) -> Option<Message> {
        match self {
            Self::Recv(_) => None,
            Self::Decode { message, .. } | Self::FrameCount { message, .. } => Some(message),
        }
    }
}
