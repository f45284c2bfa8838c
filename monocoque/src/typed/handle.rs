//! Typed messages over the thread-safe handles.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

use bytes::Bytes;
use monocoque_core::Message;
use monocoque_zmtp::proto::{RecvError, SendError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Codec, EncodeError, Postcard, TypedRecvError, TypedSendError, sealed};
use crate::handle;

/// A thread-safe handle ([`monocoque::handle`](crate::handle)) that sends and receives values
/// of type `T`, each encoded into one frame by the codec `C` ([`Postcard`] unless you choose
/// another): [`Typed`](super::Typed) for any thread and any runtime.
///
/// Blocking methods (`send`, `recv`, ...), `try_` and `_timeout` variants, and `_async`
/// futures for any runtime, as the handle's own. The send methods are there when the handle
/// can send ([`SendHandle`]), the receive methods when it can receive ([`RecvHandle`]). A
/// `TypedHandle` is `Clone`, `Send` and `Sync` when its handle and codec are: clones share the
/// socket.
///
/// ```
/// use monocoque::handle::{PullSocket, PushSocket};
/// use monocoque::typed::TypedHandle;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, PartialEq, Serialize, Deserialize)]
/// enum Event { Started { worker: u32 }, Progress(u32, f32), Done }
///
/// let pull = TypedHandle::<_, Event>::new(PullSocket::new()?);
/// let endpoint = pull.get_ref().bind("tcp://127.0.0.1:0")?;
/// let push = TypedHandle::<_, Event>::new(PushSocket::new()?);
/// push.get_ref().connect(&endpoint.to_string())?;
///
/// let worker = std::thread::spawn(move || -> Result<(), monocoque::typed::TypedSendError> {
///     push.send(&Event::Started { worker: 1 })?;
///     push.send(&Event::Progress(1, 0.5))?;
///     push.send(&Event::Done)
/// });
/// assert_eq!(pull.recv()?, Event::Started { worker: 1 });
/// assert_eq!(pull.recv()?, Event::Progress(1, 0.5));
/// assert_eq!(pull.recv()?, Event::Done);
/// worker.join().expect("the worker thread")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A SUB cannot send, so its typed handle has no `send`:
///
/// ```compile_fail
/// let sub = monocoque::typed::TypedHandle::<_, u32>::new(monocoque::handle::SubSocket::new()?);
/// sub.send(&1)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TypedHandle<S, T, C = Postcard> {
    socket: S,
    codec: C,
    values: PhantomData<fn() -> T>,
}

/// A handle a [`TypedHandle`] can send on: every handle type but PULL and SUB, and a reference
/// to one. Sealed; name it in bounds of code that works with any of them.
///
/// ```
/// use monocoque::typed::{SendHandle, TypedHandle, TypedSendError};
///
/// /// Sends a countdown on any handle that can send.
/// fn countdown<S: SendHandle>(to: &TypedHandle<S, u32>, from: u32) -> Result<(), TypedSendError> {
///     (0..=from).rev().try_for_each(|n| to.send(&n))
/// }
///
/// let pull = TypedHandle::<_, u32>::new(monocoque::handle::PullSocket::new()?);
/// let endpoint = pull.get_ref().bind("tcp://127.0.0.1:0")?;
/// let push = monocoque::handle::PushSocket::new()?;
/// push.connect(&endpoint.to_string())?;
/// countdown(&TypedHandle::new(&push), 2)?;
/// assert_eq!([pull.recv()?, pull.recv()?, pull.recv()?], [2, 1, 0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait SendHandle: sealed::Sealed {
    /// The handle's `send`.
    #[doc(hidden)]
    fn raw_send(&self, message: Message) -> Result<(), SendError>;

    /// The handle's `try_send`.
    #[doc(hidden)]
    fn raw_try_send(&self, message: Message) -> Result<(), SendError>;

    /// The handle's `send_timeout`.
    #[doc(hidden)]
    fn raw_send_timeout(&self, message: Message, timeout: Duration) -> Result<(), SendError>;

    /// The handle's `send_async`.
    #[doc(hidden)]
    fn raw_send_async(
        &self,
        message: Message,
    ) -> impl Future<Output = Result<(), SendError>> + Send;
}

/// A handle a [`TypedHandle`] can receive from: every handle type but PUSH and PUB, and a
/// reference to one. Sealed; name it in bounds of code that works with any of them.
///
/// ```
/// use monocoque::typed::{RecvHandle, TypedHandle, TypedRecvError};
///
/// /// The next `n` values, on any handle that can receive.
/// fn take<S: RecvHandle>(from: &TypedHandle<S, u32>, n: usize) -> Result<Vec<u32>, TypedRecvError> {
///     (0..n).map(|_| from.recv()).collect()
/// }
///
/// let a = TypedHandle::<_, u32>::new(monocoque::handle::PairSocket::new()?);
/// let endpoint = a.get_ref().bind("tcp://127.0.0.1:0")?;
/// let b = TypedHandle::<_, u32>::new(monocoque::handle::PairSocket::new()?);
/// b.get_ref().connect(&endpoint.to_string())?;
/// b.send(&5)?;
/// b.send(&6)?;
/// assert_eq!(take(&a, 2)?, [5, 6]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait RecvHandle: sealed::Sealed {
    /// The handle's `recv`.
    #[doc(hidden)]
    fn raw_recv(&self) -> Result<Message, RecvError>;

    /// The handle's `try_recv`.
    #[doc(hidden)]
    fn raw_try_recv(&self) -> Result<Message, RecvError>;

    /// The handle's `recv_timeout`.
    #[doc(hidden)]
    fn raw_recv_timeout(&self, timeout: Duration) -> Result<Message, RecvError>;

    /// The handle's `recv_async`.
    #[doc(hidden)]
    fn raw_recv_async(&self) -> impl Future<Output = Result<Message, RecvError>> + Send;
}

impl<S, T> TypedHandle<S, T> {
    /// Wraps `handle` with the default codec, [`Postcard`].
    ///
    /// ```
    /// use monocoque::handle::PushSocket;
    /// use monocoque::typed::TypedHandle;
    ///
    /// let push: TypedHandle<PushSocket, (u8, String)> = TypedHandle::new(PushSocket::new()?);
    /// # let _ = push;
    /// # Ok::<(), monocoque::Error>(())
    /// ```
    pub fn new(handle: S) -> Self {
        Self::with_codec(handle, Postcard)
    }
}

impl<S, T, C: Codec> TypedHandle<S, T, C> {
    /// Wraps `handle` with `codec`.
    ///
    /// ```
    /// use monocoque::handle::PushSocket;
    /// use monocoque::typed::{Json, TypedHandle};
    ///
    /// let push = TypedHandle::<_, Vec<f64>, _>::with_codec(PushSocket::new()?, Json);
    /// assert_eq!(push.encode(&vec![0.5, 2.0])?[0], &b"[0.5,2.0]"[..]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_codec(handle: S, codec: C) -> Self {
        Self {
            socket: handle,
            codec,
            values: PhantomData,
        }
    }

    /// The handle, for what is not about values: `bind`, `connect`, `subscribe`, options,
    /// monitors, untyped messages.
    ///
    /// ```
    /// use monocoque::handle::SubSocket;
    /// use monocoque::typed::TypedHandle;
    ///
    /// let sub = TypedHandle::<_, u32>::new(SubSocket::new()?);
    /// sub.get_ref().subscribe("prices.")?;
    /// # Ok::<(), monocoque::Error>(())
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.socket
    }

    /// The codec.
    ///
    /// ```
    /// use monocoque::typed::{Json, TypedHandle};
    ///
    /// let pair = TypedHandle::<_, u32, _>::with_codec(monocoque::handle::PairSocket::new()?, Json);
    /// assert_eq!(*pair.codec(), Json);
    /// # Ok::<(), monocoque::Error>(())
    /// ```
    pub fn codec(&self) -> &C {
        &self.codec
    }

    /// The handle, unwrapped.
    ///
    /// ```
    /// use monocoque::handle::PushSocket;
    /// use monocoque::typed::TypedHandle;
    /// use monocoque::Message;
    ///
    /// let push = TypedHandle::<_, u32>::new(PushSocket::new()?).into_inner();
    /// push.try_send(Message::from("untyped again"))?; // queued for the socket's I/O thread
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_inner(self) -> S {
        self.socket
    }

    /// The message [`send`](Self::send) would send for `value`: one frame.
    ///
    /// ```
    /// use monocoque::typed::TypedHandle;
    ///
    /// let push = TypedHandle::<_, (u16, bool)>::new(monocoque::handle::PushSocket::new()?);
    /// let message = push.encode(&(300, true))?;
    /// assert_eq!(message.frames(), [&[0xac, 0x02, 0x01][..]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode(&self, value: &T) -> Result<Message, EncodeError>
    where
        T: Serialize,
    {
        super::encode(&self.codec, value)
    }

    /// The value in the last frame of `message`, as [`recv`](Self::recv) decodes it: for a
    /// message received untyped, or handed back by a failed send.
    ///
    /// ```
    /// use monocoque::typed::TypedHandle;
    /// use monocoque::Message;
    ///
    /// let pull = TypedHandle::<_, (u16, bool)>::new(monocoque::handle::PullSocket::new()?);
    /// let message = Message::from("topic").with(&[0xacu8, 0x02, 0x01][..]);
    /// assert_eq!(pull.decode(message)?, (300, true));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decode(&self, message: Message) -> Result<T, TypedRecvError>
    where
        T: DeserializeOwned,
    {
        super::decode(&self.codec, message)
    }
}

impl<S: SendHandle, T: Serialize, C: Codec> TypedHandle<S, T, C> {
    /// Sends `value` as a message of one frame, blocking while the socket cannot take it, for
    /// at most the send timeout (`SocketOptions::send_timeout`).
    ///
    /// A value the codec cannot encode is [`TypedSendError::Encode`], and nothing is sent; a
    /// failed send is [`TypedSendError::Send`], with the encoded message handed back.
    ///
    /// ```
    /// use monocoque::handle::{PullSocket, PushSocket};
    /// use monocoque::typed::TypedHandle;
    ///
    /// let pull = TypedHandle::<_, Option<String>>::new(PullSocket::new()?);
    /// let endpoint = pull.get_ref().bind("tcp://127.0.0.1:0")?;
    /// let push = TypedHandle::new(PushSocket::new()?);
    /// push.get_ref().connect(&endpoint.to_string())?;
    /// push.send(&Some("hello".to_string()))?;
    /// push.send(&None)?;
    /// assert_eq!(pull.recv()?.as_deref(), Some("hello"));
    /// assert_eq!(pull.recv()?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send(&self, value: &T) -> Result<(), TypedSendError> {
        let message = self.encode(value)?;
        Ok(self.socket.raw_send(message)?)
    }

    /// Sends `value` if the socket can take it now; otherwise `SendErrorKind::WouldBlock`,
    /// with the encoded message handed back.
    ///
    /// ```
    /// use monocoque::handle::PubSocket;
    /// use monocoque::typed::TypedHandle;
    ///
    /// let publisher = TypedHandle::<_, u32>::new(PubSocket::new()?);
    /// publisher.try_send(&7)?; // a PUB never waits: with no subscriber, the message is dropped
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_send(&self, value: &T) -> Result<(), TypedSendError> {
        let message = self.encode(value)?;
        Ok(self.socket.raw_try_send(message)?)
    }

    /// Sends `value`, blocking for at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use monocoque::handle::ReqSocket;
    /// use monocoque::typed::TypedHandle;
    /// use monocoque::SendErrorKind;
    ///
    /// let req = TypedHandle::<_, u32>::new(ReqSocket::new()?);
    /// req.send_timeout(&1, Duration::from_millis(10))?; // queued while no peer is there
    /// // A REQ must receive the reply before it asks again.
    /// let error = req.send_timeout(&2, Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(error.kind(), Some(SendErrorKind::InvalidState));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_timeout(&self, value: &T, timeout: Duration) -> Result<(), TypedSendError> {
        let message = self.encode(value)?;
        Ok(self.socket.raw_send_timeout(message, timeout)?)
    }

    /// [`send`](Self::send) as a future for any runtime (without the send timeout: wrap it in
    /// your runtime's timeout). Cancel-safe: dropped before it returns `Ready`, it sent
    /// nothing.
    ///
    /// ```
    /// use monocoque::handle::{PullSocket, PushSocket};
    /// use monocoque::typed::TypedHandle;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// tokio::runtime::Runtime::new()?.block_on(async {
    ///     let pull = TypedHandle::<_, String>::new(PullSocket::new()?);
    ///     let endpoint = pull.get_ref().bind_async("tcp://127.0.0.1:0").await?;
    ///     let push = TypedHandle::<_, String>::new(PushSocket::new()?);
    ///     push.get_ref().connect(&endpoint.to_string())?;
    ///     tokio::spawn(async move { push.send_async(&"from a task".to_string()).await });
    ///     assert_eq!(pull.recv_async().await?, "from a task");
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn send_async(&self, value: &T) -> Result<(), TypedSendError> {
        let message = self.encode(value)?;
        Ok(self.socket.raw_send_async(message).await?)
    }

    /// Sends `[topic, value]`: a topic frame for SUB sockets to filter on, then the value;
    /// blocking as [`send`](Self::send).
    ///
    /// ```
    /// use std::time::Duration;
    /// use monocoque::handle::{PubSocket, SubSocket};
    /// use monocoque::typed::TypedHandle;
    ///
    /// let publisher = TypedHandle::<_, f64>::new(PubSocket::new()?);
    /// let endpoint = publisher.get_ref().bind("tcp://127.0.0.1:0")?;
    /// let subscriber = TypedHandle::<_, f64>::new(SubSocket::new()?);
    /// subscriber.get_ref().subscribe("temperature.")?;
    /// subscriber.get_ref().connect(&endpoint.to_string())?;
    /// // A subscription reaches the publisher some time after `connect` (the slow joiner):
    /// // publish until one arrives.
    /// let mut received = None;
    /// for _ in 0..500 {
    ///     publisher.send_topic("humidity.lab", &0.4)?;
    ///     publisher.send_topic("temperature.lab", &21.5)?;
    ///     if let Ok(celsius) = subscriber.recv_timeout(Duration::from_millis(10)) {
    ///         received = Some(celsius);
    ///         break;
    ///     }
    /// }
    /// assert_eq!(received, Some(21.5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_topic(&self, topic: impl Into<Bytes>, value: &T) -> Result<(), TypedSendError> {
        self.send_with_envelope(Message::single(topic), value)
    }

    /// [`send_topic`](Self::send_topic) as a future for any runtime. Cancel-safe, as
    /// [`send_async`](Self::send_async).
    ///
    /// ```
    /// use monocoque::handle::PubSocket;
    /// use monocoque::typed::TypedHandle;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// tokio::runtime::Runtime::new()?.block_on(async {
    ///     let publisher = TypedHandle::<_, f64>::new(PubSocket::new()?);
    ///     publisher.send_topic_async("temperature.lab", &21.5).await?; // to no subscriber
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn send_topic_async(
        &self,
        topic: impl Into<Bytes>,
        value: &T,
    ) -> Result<(), TypedSendError> {
        self.send_with_envelope_async(Message::single(topic), value)
            .await
    }

    /// Sends the frames of `envelope`, then `value`: a ROUTER's routing id (and whatever
    /// [`recv_with_envelope`](Self::recv_with_envelope) gave with the request), or frames of
    /// your own; blocking as [`send`](Self::send).
    ///
    /// ```
    /// use monocoque::handle::{DealerSocket, RouterSocket};
    /// use monocoque::typed::TypedHandle;
    /// use monocoque::{Message, SocketOptions};
    ///
    /// let router = TypedHandle::<_, String>::new(RouterSocket::new()?);
    /// let endpoint = router.get_ref().bind("tcp://127.0.0.1:0")?;
    /// let dealer = DealerSocket::with_options(SocketOptions::new().routing_id("worker-1"))?;
    /// let dealer = TypedHandle::<_, String>::new(dealer);
    /// dealer.get_ref().connect(&endpoint.to_string())?;
    ///
    /// dealer.send(&"ready".to_string())?;
    /// let (envelope, hello) = router.recv_with_envelope()?;
    /// assert_eq!((envelope.clone(), hello.as_str()), (Message::from("worker-1"), "ready"));
    /// router.send_with_envelope(envelope, &"work".to_string())?;
    /// assert_eq!(dealer.recv()?, "work");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_with_envelope(
        &self,
        envelope: impl Into<Message>,
        value: &T,
    ) -> Result<(), TypedSendError> {
        let message = super::encode_with_envelope(&self.codec, envelope, value)?;
        Ok(self.socket.raw_send(message)?)
    }

    /// [`send_with_envelope`](Self::send_with_envelope) as a future for any runtime.
    /// Cancel-safe, as [`send_async`](Self::send_async).
    ///
    /// ```
    /// use monocoque::handle::{PullSocket, PushSocket};
    /// use monocoque::typed::TypedHandle;
    /// use monocoque::Message;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// tokio::runtime::Runtime::new()?.block_on(async {
    ///     let pull = TypedHandle::<_, u8>::new(PullSocket::new()?);
    ///     let endpoint = pull.get_ref().bind_async("tcp://127.0.0.1:0").await?;
    ///     let push = TypedHandle::<_, u8>::new(PushSocket::new()?);
    ///     push.get_ref().connect(&endpoint.to_string())?;
    ///     push.send_with_envelope_async(Message::from("a").with("b"), &9).await?;
    ///     let received = pull.recv_with_envelope_async().await?;
    ///     assert_eq!(received, (Message::from("a").with("b"), 9));
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn send_with_envelope_async(
        &self,
        envelope: impl Into<Message>,
        value: &T,
    ) -> Result<(), TypedSendError> {
        let message = super::encode_with_envelope(&self.codec, envelope, value)?;
        Ok(self.socket.raw_send_async(message).await?)
    }
}

impl<S: RecvHandle, T: DeserializeOwned, C: Codec> TypedHandle<S, T, C> {
    /// Receives the next message, blocking for at most the receive timeout
    /// (`SocketOptions::recv_timeout`), and decodes its last frame (leaving out any frames
    /// before it: a topic, an envelope).
    ///
    /// A message that does not decode is [`TypedRecvError::Decode`], with the message inside;
    /// the next `recv` gets the next message.
    ///
    /// ```
    /// use monocoque::handle::{PullSocket, PushSocket};
    /// use monocoque::typed::{TypedHandle, TypedRecvError};
    ///
    /// let pull = TypedHandle::<_, char>::new(PullSocket::new()?);
    /// let endpoint = pull.get_ref().bind("tcp://127.0.0.1:0")?;
    /// let push = PushSocket::new()?;
    /// push.connect(&endpoint.to_string())?;
    /// push.send(&[0xffu8][..])?; // not postcard: an unfinished varint
    /// push.send(&[1u8, b'x'][..])?; // 'x' in postcard: a length, then UTF-8
    /// assert!(matches!(pull.recv(), Err(TypedRecvError::Decode { .. })));
    /// assert_eq!(pull.recv()?, 'x');
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv(&self) -> Result<T, TypedRecvError> {
        let message = self.socket.raw_recv()?;
        self.decode(message)
    }

    /// Receives and decodes a message if one is there; otherwise
    /// `TypedRecvError::Recv(RecvError::WouldBlock)`.
    ///
    /// ```
    /// use monocoque::handle::PullSocket;
    /// use monocoque::typed::{TypedHandle, TypedRecvError};
    /// use monocoque::RecvError;
    ///
    /// let pull = TypedHandle::<_, u32>::new(PullSocket::new()?);
    /// assert_eq!(pull.try_recv(), Err(TypedRecvError::Recv(RecvError::WouldBlock)));
    /// # Ok::<(), monocoque::Error>(())
    /// ```
    pub fn try_recv(&self) -> Result<T, TypedRecvError> {
        let message = self.socket.raw_try_recv()?;
        self.decode(message)
    }

    /// Receives and decodes a message, blocking for at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use monocoque::handle::PullSocket;
    /// use monocoque::typed::{TypedHandle, TypedRecvError};
    /// use monocoque::RecvError;
    ///
    /// let pull = TypedHandle::<_, u32>::new(PullSocket::new()?);
    /// let error = pull.recv_timeout(Duration::from_millis(5)).unwrap_err();
    /// assert_eq!(error, TypedRecvError::Recv(RecvError::TimedOut));
    /// # Ok::<(), monocoque::Error>(())
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, TypedRecvError> {
        let message = self.socket.raw_recv_timeout(timeout)?;
        self.decode(message)
    }

    /// [`recv`](Self::recv) as a future for any runtime (without the receive timeout: wrap it
    /// in your runtime's timeout). Cancel-safe: dropped before it returns `Ready`, it took no
    /// message.
    ///
    /// ```
    /// use monocoque::handle::PairSocket;
    /// use monocoque::typed::TypedHandle;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// tokio::runtime::Runtime::new()?.block_on(async {
    ///     let a = TypedHandle::<_, Vec<u16>>::new(PairSocket::new()?);
    ///     let endpoint = a.get_ref().bind_async("tcp://127.0.0.1:0").await?;
    ///     let b = TypedHandle::<_, Vec<u16>>::new(PairSocket::new()?);
    ///     b.get_ref().connect(&endpoint.to_string())?;
    ///     b.send_async(&vec![1, 2, 3]).await?;
    ///     assert_eq!(a.recv_async().await?, [1, 2, 3]);
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn recv_async(&self) -> Result<T, TypedRecvError> {
        // Decoding after the receive, with no await in between: a cancelled receive took
        // nothing, and a finished one returns what it took, decoded or not.
        let message = self.socket.raw_recv_async().await?;
        self.decode(message)
    }

    /// Receives a message of two frames, `[topic, value]` (as
    /// [`send_topic`](Self::send_topic) sends them), and returns the topic with the value;
    /// blocking as [`recv`](Self::recv). A message of another number of frames is
    /// [`TypedRecvError::FrameCount`], with the message inside.
    ///
    /// ```
    /// use monocoque::handle::PairSocket;
    /// use monocoque::typed::TypedHandle;
    ///
    /// let a = TypedHandle::<_, [i8; 2]>::new(PairSocket::new()?);
    /// let endpoint = a.get_ref().bind("tcp://127.0.0.1:0")?;
    /// let b = TypedHandle::<_, [i8; 2]>::new(PairSocket::new()?);
    /// b.get_ref().connect(&endpoint.to_string())?;
    /// b.send_topic("move", &[1, -1])?;
    /// let (topic, step) = a.recv_topic()?;
    /// assert_eq!((&topic[..], step), (&b"move"[..], [1, -1]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_topic(&self) -> Result<(Bytes, T), TypedRecvError> {
        let message = self.socket.raw_recv()?;
        super::decode_topic(&self.codec, message)
    }

    /// [`recv_topic`](Self::recv_topic) as a future for any runtime. Cancel-safe, as
    /// [`recv_async`](Self::recv_async).
    ///
    /// ```
    /// use monocoque::handle::PairSocket;
    /// use monocoque::typed::TypedHandle;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// tokio::runtime::Runtime::new()?.block_on(async {
    ///     let a = TypedHandle::<_, bool>::new(PairSocket::new()?);
    ///     let endpoint = a.get_ref().bind_async("tcp://127.0.0.1:0").await?;
    ///     let b = TypedHandle::<_, bool>::new(PairSocket::new()?);
    ///     b.get_ref().connect(&endpoint.to_string())?;
    ///     b.send_topic_async("door.open", &true).await?;
    ///     let (topic, open) = a.recv_topic_async().await?;
    ///     assert_eq!((&topic[..], open), (&b"door.open"[..], true));
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn recv_topic_async(&self) -> Result<(Bytes, T), TypedRecvError> {
        let message = self.socket.raw_recv_async().await?;
        super::decode_topic(&self.codec, message)
    }

    /// Receives a message and returns its frames before the last (the envelope: a ROUTER's
    /// routing id, a topic) with the value decoded from the last; blocking as
    /// [`recv`](Self::recv). See [`send_with_envelope`](Self::send_with_envelope) for a ROUTER
    /// replying along the envelope.
    ///
    /// ```
    /// use monocoque::handle::{PullSocket, PushSocket};
    /// use monocoque::typed::TypedHandle;
    /// use monocoque::Message;
    ///
    /// let pull = TypedHandle::<_, u8>::new(PullSocket::new()?);
    /// let endpoint = pull.get_ref().bind("tcp://127.0.0.1:0")?;
    /// let push = TypedHandle::<_, u8>::new(PushSocket::new()?);
    /// push.get_ref().connect(&endpoint.to_string())?;
    /// push.send_with_envelope(Message::from("a").with("b"), &9)?;
    /// assert_eq!(pull.recv_with_envelope()?, (Message::from("a").with("b"), 9));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_with_envelope(&self) -> Result<(Message, T), TypedRecvError> {
        let message = self.socket.raw_recv()?;
        super::decode_with_envelope(&self.codec, message)
    }

    /// [`recv_with_envelope`](Self::recv_with_envelope) as a future for any runtime.
    /// Cancel-safe, as [`recv_async`](Self::recv_async). See
    /// [`send_with_envelope_async`](Self::send_with_envelope_async) for an example.
    ///
    /// ```
    /// use monocoque::handle::PullSocket;
    /// use monocoque::typed::TypedHandle;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // Any runtime: here compio's.
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let pull = TypedHandle::<_, u8>::new(PullSocket::new()?);
    ///     // Nothing comes: give up after a while, taking nothing.
    ///     let wait = std::time::Duration::from_millis(5);
    ///     assert!(compio::time::timeout(wait, pull.recv_with_envelope_async()).await.is_err());
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn recv_with_envelope_async(&self) -> Result<(Message, T), TypedRecvError> {
        let message = self.socket.raw_recv_async().await?;
        super::decode_with_envelope(&self.codec, message)
    }
}

impl<S: Clone, T, C: Clone> Clone for TypedHandle<S, T, C> {
    fn clone(&self) -> Self {
        Self {
            socket: self.socket.clone(),
            codec: self.codec.clone(),
            values: PhantomData,
        }
    }
}

impl<S: fmt::Debug, T, C: Codec> fmt::Debug for TypedHandle<S, T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedHandle")
            .field("handle", &self.socket)
            .field("value", &std::any::type_name::<T>())
            .field("codec", &C::NAME)
            .finish()
    }
}

impl<S: SendHandle> SendHandle for &S {
    fn raw_send(&self, message: Message) -> Result<(), SendError> {
        (**self).raw_send(message)
    }

    fn raw_try_send(&self, message: Message) -> Result<(), SendError> {
        (**self).raw_try_send(message)
    }

    fn raw_send_timeout(&self, message: Message, timeout: Duration) -> Result<(), SendError> {
        (**self).raw_send_timeout(message, timeout)
    }

    fn raw_send_async(
        &self,
        message: Message,
    ) -> impl Future<Output = Result<(), SendError>> + Send {
        (**self).raw_send_async(message)
    }
}

impl<S: RecvHandle> RecvHandle for &S {
    fn raw_recv(&self) -> Result<Message, RecvError> {
        (**self).raw_recv()
    }

    fn raw_try_recv(&self) -> Result<Message, RecvError> {
        (**self).raw_try_recv()
    }

    fn raw_recv_timeout(&self, timeout: Duration) -> Result<Message, RecvError> {
        (**self).raw_recv_timeout(timeout)
    }

    fn raw_recv_async(&self) -> impl Future<Output = Result<Message, RecvError>> + Send {
        (**self).raw_recv_async()
    }
}

macro_rules! sealed {
    ($($name:ident),*) => {
        $(impl sealed::Sealed for handle::$name {})*
    };
}

macro_rules! sends {
    ($($name:ident),*) => {
        $(impl SendHandle for handle::$name {
            fn raw_send(&self, message: Message) -> Result<(), SendError> {
                self.send(message)
            }

            fn raw_try_send(&self, message: Message) -> Result<(), SendError> {
                self.try_send(message)
            }

            fn raw_send_timeout(
                &self,
                message: Message,
                timeout: Duration,
            ) -> Result<(), SendError> {
                self.send_timeout(message, timeout)
            }

            fn raw_send_async(
                &self,
                message: Message,
            ) -> impl Future<Output = Result<(), SendError>> + Send {
                self.send_async(message)
            }
        })*
    };
}

macro_rules! receives {
    ($($name:ident),*) => {
        $(impl RecvHandle for handle::$name {
            fn raw_recv(&self) -> Result<Message, RecvError> {
                self.recv()
            }

            fn raw_try_recv(&self) -> Result<Message, RecvError> {
                self.try_recv()
            }

            fn raw_recv_timeout(&self, timeout: Duration) -> Result<Message, RecvError> {
                self.recv_timeout(timeout)
            }

            fn raw_recv_async(&self) -> impl Future<Output = Result<Message, RecvError>> + Send {
                self.recv_async()
            }
        })*
    };
}

sealed!(
    PairSocket,
    PubSocket,
    SubSocket,
    XPubSocket,
    XSubSocket,
    PushSocket,
    PullSocket,
    ReqSocket,
    RepSocket,
    DealerSocket,
    RouterSocket
);
sends!(
    PairSocket,
    PubSocket,
    XPubSocket,
    XSubSocket,
    PushSocket,
    ReqSocket,
    RepSocket,
    DealerSocket,
    RouterSocket
);
receives!(
    PairSocket,
    SubSocket,
    XPubSocket,
    XSubSocket,
    PullSocket,
    ReqSocket,
    RepSocket,
    DealerSocket,
    RouterSocket
);
