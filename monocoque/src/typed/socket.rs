//! Typed messages over the compio sockets.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use bytes::Bytes;
use monocoque_core::Message;
use monocoque_zmtp::proto::{RecvError, SendError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Codec, EncodeError, Postcard, TypedRecvError, TypedSendError, sealed};
use crate::{
    DealerSocket, PairSocket, PubSocket, PullSocket, PushSocket, RepSocket, ReqSocket,
    RouterSocket, SubSocket, XPubSocket, XSubSocket,
};

/// A compio socket that sends and receives values of type `T`, each encoded into one frame by
/// the codec `C` ([`Postcard`] unless you choose another).
///
/// The send methods are there when the socket can send ([`SendSocket`]), the receive methods
/// when it can receive ([`RecvSocket`]). Binding, connecting, subscribing and the other socket
/// methods are on the socket: [`get_ref`](Self::get_ref).
///
/// ```
/// use monocoque::typed::{Json, Typed};
/// use monocoque::{PairSocket, SocketOptions};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, PartialEq, Serialize, Deserialize)]
/// struct Order { id: u64, lines: Vec<Line>, state: State }
/// #[derive(Debug, PartialEq, Serialize, Deserialize)]
/// struct Line { sku: String, quantity: u32 }
/// #[derive(Debug, PartialEq, Serialize, Deserialize)]
/// enum State { Open, Shipped { carrier: String } }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// compio::runtime::Runtime::new()?.block_on(async {
///     let shop = Typed::<_, Order, _>::with_codec(PairSocket::new(), Json);
///     let endpoint = shop.get_ref().bind("tcp://127.0.0.1:0").await?;
///     let warehouse = Typed::with_codec(PairSocket::new(), Json);
///     warehouse.get_ref().connect(&endpoint.to_string())?;
///
///     let order = Order {
///         id: 7,
///         lines: vec![Line { sku: "nut-m4".into(), quantity: 100 }],
///         state: State::Open,
///     };
///     shop.send(&order).await?;
///     let mut received: Order = warehouse.recv().await?;
///     assert_eq!(received, order);
///     received.state = State::Shipped { carrier: "post".into() };
///     warehouse.send(&received).await?;
///     assert_eq!(shop.recv().await?.state, State::Shipped { carrier: "post".into() });
///     Ok(())
/// })
/// # }
/// ```
///
/// A socket whose two directions carry different types (REQ and REP: requests one way,
/// replies the other) is wrapped twice, by reference:
///
/// ```
/// use monocoque::typed::Typed;
/// use monocoque::{RepSocket, ReqSocket};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// compio::runtime::Runtime::new()?.block_on(async {
///     let rep = RepSocket::new();
///     let endpoint = rep.bind("tcp://127.0.0.1:0").await?;
///     let req = ReqSocket::new();
///     req.connect(&endpoint.to_string())?;
///     let (questions, answers) = (Typed::<_, String>::new(&req), Typed::<_, u64>::new(&req));
///     let (requests, replies) = (Typed::<_, String>::new(&rep), Typed::<_, u64>::new(&rep));
///
///     questions.send(&"6 * 7".to_string()).await?;
///     assert_eq!(requests.recv().await?, "6 * 7");
///     replies.send(&42).await?;
///     assert_eq!(answers.recv().await?, 42);
///     Ok(())
/// })
/// # }
/// ```
///
/// A PUSH cannot receive, so its typed socket has no `recv`:
///
/// ```compile_fail
/// # compio::runtime::Runtime::new().unwrap().block_on(async {
/// let push = monocoque::typed::Typed::<_, u32>::new(monocoque::PushSocket::new());
/// let _ = push.recv().await;
/// # });
/// ```
pub struct Typed<S, T, C = Postcard> {
    socket: S,
    codec: C,
    values: PhantomData<fn() -> T>,
}

/// A socket a [`Typed`] can send on: every compio socket type but PULL and SUB, and a
/// reference to one. Sealed; name it in bounds of code that works with any of them.
///
/// ```
/// use monocoque::typed::{SendSocket, Typed, TypedSendError};
///
/// /// Sends a countdown on any socket that can send.
/// async fn countdown<S: SendSocket>(to: &Typed<S, u32>, from: u32) -> Result<(), TypedSendError> {
///     for n in (0..=from).rev() {
///         to.send(&n).await?;
///     }
///     Ok(())
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// compio::runtime::Runtime::new()?.block_on(async {
///     let pull = Typed::<_, u32>::new(monocoque::PullSocket::new());
///     let endpoint = pull.get_ref().bind("tcp://127.0.0.1:0").await?;
///     let push = monocoque::PushSocket::new();
///     push.connect(&endpoint.to_string())?;
///     countdown(&Typed::new(&push), 2).await?;
///     assert_eq!([pull.recv().await?, pull.recv().await?, pull.recv().await?], [2, 1, 0]);
///     Ok(())
/// })
/// # }
/// ```
pub trait SendSocket: sealed::Sealed {
    /// The socket's `send`.
    #[doc(hidden)]
    fn raw_send(&self, message: Message) -> impl Future<Output = Result<(), SendError>>;

    /// The socket's `try_send`.
    #[doc(hidden)]
    fn raw_try_send(&self, message: Message) -> Result<(), SendError>;
}

/// A socket a [`Typed`] can receive from: every compio socket type but PUSH and PUB, and a
/// reference to one. Sealed; name it in bounds of code that works with any of them.
///
/// ```
/// use monocoque::typed::{RecvSocket, Typed, TypedRecvError};
///
/// /// Receives values until a zero, on any socket that can receive.
/// async fn until_zero<S: RecvSocket>(from: &Typed<S, u32>) -> Result<Vec<u32>, TypedRecvError> {
///     let mut values = Vec::new();
///     loop {
///         match from.recv().await? {
///             0 => return Ok(values),
///             n => values.push(n),
///         }
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// compio::runtime::Runtime::new()?.block_on(async {
///     let a = Typed::<_, u32>::new(monocoque::PairSocket::new());
///     let endpoint = a.get_ref().bind("tcp://127.0.0.1:0").await?;
///     let b = Typed::<_, u32>::new(monocoque::PairSocket::new());
///     b.get_ref().connect(&endpoint.to_string())?;
///     for n in [3, 4, 0] {
///         b.send(&n).await?;
///     }
///     assert_eq!(until_zero(&a).await?, [3, 4]);
///     Ok(())
/// })
/// # }
/// ```
pub trait RecvSocket: sealed::Sealed {
    /// The socket's `recv`.
    #[doc(hidden)]
    fn raw_recv(&self) -> impl Future<Output = Result<Message, RecvError>>;

    /// The socket's `try_recv`.
    #[doc(hidden)]
    fn raw_try_recv(&self) -> Result<Message, RecvError>;
}

impl<S, T> Typed<S, T> {
    /// Wraps `socket` with the default codec, [`Postcard`].
    ///
    /// ```
    /// use monocoque::typed::{Codec, Postcard, Typed};
    /// use monocoque::PushSocket;
    ///
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// let push: Typed<PushSocket, (u8, String)> = Typed::new(PushSocket::new());
    /// assert_eq!(<Postcard as Codec>::NAME, "postcard");
    /// # let _ = push;
    /// # });
    /// ```
    pub fn new(socket: S) -> Self {
        Self::with_codec(socket, Postcard)
    }
}

impl<S, T, C: Codec> Typed<S, T, C> {
    /// Wraps `socket` with `codec`.
    ///
    /// ```
    /// use monocoque::typed::{Json, Typed};
    /// use monocoque::PushSocket;
    ///
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// let push = Typed::<_, Vec<f64>, _>::with_codec(PushSocket::new(), Json);
    /// assert_eq!(push.encode(&vec![0.5, 2.0])?[0], &b"[0.5,2.0]"[..]);
    /// # Ok::<(), monocoque::typed::EncodeError>(())
    /// # }).unwrap();
    /// ```
    pub fn with_codec(socket: S, codec: C) -> Self {
        Self {
            socket,
            codec,
            values: PhantomData,
        }
    }

    /// The socket, for what is not about values: `bind`, `connect`, `subscribe`, options,
    /// monitors, untyped messages.
    ///
    /// ```
    /// use monocoque::typed::Typed;
    /// use monocoque::SubSocket;
    ///
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// let sub = Typed::<_, u32>::new(SubSocket::new());
    /// sub.get_ref().subscribe("prices.");
    /// # });
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.socket
    }

    /// The codec.
    ///
    /// ```
    /// use monocoque::typed::{Json, Typed};
    ///
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// let pair = Typed::<_, u32, _>::with_codec(monocoque::PairSocket::new(), Json);
    /// assert_eq!(*pair.codec(), Json);
    /// # });
    /// ```
    pub fn codec(&self) -> &C {
        &self.codec
    }

    /// The socket, unwrapped.
    ///
    /// ```
    /// use monocoque::typed::Typed;
    /// use monocoque::{Message, PushSocket};
    ///
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// let push = Typed::<_, u32>::new(PushSocket::new()).into_inner();
    /// assert!(push.try_send(Message::from("untyped again")).is_err()); // no peer yet
    /// # });
    /// ```
    pub fn into_inner(self) -> S {
        self.socket
    }

    /// The message [`send`](Self::send) would send for `value`: one frame.
    ///
    /// ```
    /// use monocoque::typed::Typed;
    ///
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// let push = Typed::<_, (u16, bool)>::new(monocoque::PushSocket::new());
    /// let message = push.encode(&(300, true))?;
    /// assert_eq!(message.frames(), [&[0xac, 0x02, 0x01][..]]);
    /// # Ok::<(), monocoque::typed::EncodeError>(())
    /// # }).unwrap();
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
    /// use monocoque::typed::Typed;
    /// use monocoque::Message;
    ///
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// let pull = Typed::<_, (u16, bool)>::new(monocoque::PullSocket::new());
    /// let message = Message::from("topic").with(&[0xacu8, 0x02, 0x01][..]);
    /// assert_eq!(pull.decode(message)?, (300, true));
    /// # Ok::<(), monocoque::typed::TypedRecvError>(())
    /// # }).unwrap();
    /// ```
    pub fn decode(&self, message: Message) -> Result<T, TypedRecvError>
    where
        T: DeserializeOwned,
    {
        super::decode(&self.codec, message)
    }
}

impl<S: SendSocket, T: Serialize, C: Codec> Typed<S, T, C> {
    /// Sends `value` as a message of one frame, waiting while no peer can take it (as the
    /// socket's `send`).
    ///
    /// A value the codec cannot encode is [`TypedSendError::Encode`], and nothing is sent; a
    /// failed send is [`TypedSendError::Send`], with the encoded message handed back.
    /// Cancel-safe: dropped before it returns `Ready`, it sent nothing.
    ///
    /// ```
    /// use monocoque::typed::Typed;
    /// use monocoque::{PullSocket, PushSocket};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let pull = Typed::<_, Option<String>>::new(PullSocket::new());
    ///     let endpoint = pull.get_ref().bind("tcp://127.0.0.1:0").await?;
    ///     let push = Typed::new(PushSocket::new());
    ///     push.get_ref().connect(&endpoint.to_string())?;
    ///     push.send(&Some("hello".to_string())).await?;
    ///     push.send(&None).await?;
    ///     assert_eq!(pull.recv().await?.as_deref(), Some("hello"));
    ///     assert_eq!(pull.recv().await?, None);
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn send(&self, value: &T) -> Result<(), TypedSendError> {
        let message = self.encode(value)?;
        Ok(self.socket.raw_send(message).await?)
    }

    /// Sends `value` if that is possible without waiting; otherwise
    /// `SendErrorKind::WouldBlock`, with the encoded message handed back.
    ///
    /// ```
    /// use monocoque::typed::Typed;
    /// use monocoque::{PushSocket, SendErrorKind};
    ///
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// let push = Typed::<_, u32>::new(PushSocket::new());
    /// let error = push.try_send(&7).unwrap_err(); // no peer yet
    /// assert_eq!(error.kind(), Some(SendErrorKind::WouldBlock));
    /// # });
    /// ```
    pub fn try_send(&self, value: &T) -> Result<(), TypedSendError> {
        let message = self.encode(value)?;
        Ok(self.socket.raw_try_send(message)?)
    }

    /// Sends `[topic, value]`: a topic frame for SUB sockets to filter on (their
    /// subscriptions are prefixes of it), then the value. Cancel-safe, as
    /// [`send`](Self::send).
    ///
    /// ```
    /// use std::time::Duration;
    /// use monocoque::typed::Typed;
    /// use monocoque::{PubSocket, SubSocket};
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Debug, PartialEq, Serialize, Deserialize)]
    /// struct Quote { bid: u32, ask: u32 }
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let publisher = Typed::<_, Quote>::new(PubSocket::new());
    ///     let endpoint = publisher.get_ref().bind("tcp://127.0.0.1:0").await?;
    ///     let subscriber = Typed::<_, Quote>::new(SubSocket::new());
    ///     subscriber.get_ref().subscribe("EUR");
    ///     subscriber.get_ref().connect(&endpoint.to_string())?;
    ///
    ///     // A subscription reaches the publisher some time after `connect` (the slow
    ///     // joiner): publish until one arrives.
    ///     let quote = Quote { bid: 108, ask: 109 };
    ///     for _ in 0..500 {
    ///         publisher.send_topic("USDJPY", &Quote { bid: 150, ask: 151 }).await?;
    ///         publisher.send_topic("EURUSD", &quote).await?;
    ///         let wait = Duration::from_millis(10);
    ///         if let Ok(received) = compio::time::timeout(wait, subscriber.recv_topic()).await {
    ///             let (topic, received) = received?;
    ///             assert_eq!((&topic[..], received), (&b"EURUSD"[..], quote));
    ///             return Ok(());
    ///         }
    ///     }
    ///     Err("the subscription never reached the publisher".into())
    /// })
    /// # }
    /// ```
    pub async fn send_topic(
        &self,
        topic: impl Into<Bytes>,
        value: &T,
    ) -> Result<(), TypedSendError> {
        self.send_with_envelope(Message::single(topic), value).await
    }

    /// Sends the frames of `envelope`, then `value`: a ROUTER's routing id (and whatever
    /// [`recv_with_envelope`](Self::recv_with_envelope) gave with the request), or frames of
    /// your own. Cancel-safe, as [`send`](Self::send).
    ///
    /// ```
    /// use monocoque::typed::Typed;
    /// use monocoque::{DealerSocket, Message, RouterSocket, SocketOptions};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let router = Typed::<_, String>::new(RouterSocket::new());
    ///     let endpoint = router.get_ref().bind("tcp://127.0.0.1:0").await?;
    ///     let dealer = DealerSocket::with_options(SocketOptions::new().routing_id("worker-1"))?;
    ///     let dealer = Typed::<_, String>::new(dealer);
    ///     dealer.get_ref().connect(&endpoint.to_string())?;
    ///
    ///     dealer.send(&"ready".to_string()).await?;
    ///     let (envelope, hello) = router.recv_with_envelope().await?;
    ///     assert_eq!((envelope.clone(), hello.as_str()), (Message::from("worker-1"), "ready"));
    ///     router.send_with_envelope(envelope, &"work".to_string()).await?;
    ///     assert_eq!(dealer.recv().await?, "work");
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn send_with_envelope(
        &self,
        envelope: impl Into<Message>,
        value: &T,
    ) -> Result<(), TypedSendError> {
        let message = super::encode_with_envelope(&self.codec, envelope, value)?;
        Ok(self.socket.raw_send(message).await?)
    }
}

impl<S: RecvSocket, T: DeserializeOwned, C: Codec> Typed<S, T, C> {
    /// Receives the next message, waiting for one, and decodes its last frame (leaving out
    /// any frames before it: a topic, an envelope).
    ///
    /// A message that does not decode is [`TypedRecvError::Decode`], with the message inside;
    /// the next `recv` gets the next message. Cancel-safe: dropped before it returns `Ready`,
    /// it took no message.
    ///
    /// ```
    /// use monocoque::typed::{Typed, TypedRecvError};
    /// use monocoque::{PullSocket, PushSocket};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let pull = Typed::<_, char>::new(PullSocket::new());
    ///     let endpoint = pull.get_ref().bind("tcp://127.0.0.1:0").await?;
    ///     let push = PushSocket::new();
    ///     push.connect(&endpoint.to_string())?;
    ///     push.send(&[0xffu8][..]).await?; // not postcard: an unfinished varint
    ///     push.send(&[1u8, b'x'][..]).await?; // 'x' in postcard: a length, then UTF-8
    ///     assert!(matches!(pull.recv().await, Err(TypedRecvError::Decode { .. })));
    ///     assert_eq!(pull.recv().await?, 'x');
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn recv(&self) -> Result<T, TypedRecvError> {
        // Decoding after the receive, with no await in between: a cancelled receive took
        // nothing, and a finished one returns what it took, decoded or not.
        let message = self.socket.raw_recv().await?;
        self.decode(message)
    }

    /// Receives and decodes a message if one is ready; otherwise
    /// `TypedRecvError::Recv(RecvError::WouldBlock)`.
    ///
    /// ```
    /// use monocoque::typed::{Typed, TypedRecvError};
    /// use monocoque::{PullSocket, RecvError};
    ///
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// let pull = Typed::<_, u32>::new(PullSocket::new());
    /// assert_eq!(pull.try_recv(), Err(TypedRecvError::Recv(RecvError::WouldBlock)));
    /// # });
    /// ```
    pub fn try_recv(&self) -> Result<T, TypedRecvError> {
        let message = self.socket.raw_try_recv()?;
        self.decode(message)
    }

    /// Receives a message of two frames, `[topic, value]` (as
    /// [`send_topic`](Self::send_topic) sends them), and returns the topic with the value. A
    /// message of another number of frames is [`TypedRecvError::FrameCount`], with the message
    /// inside. Cancel-safe, as [`recv`](Self::recv).
    ///
    /// ```
    /// use monocoque::typed::Typed;
    /// use monocoque::PairSocket;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let a = Typed::<_, [i8; 2]>::new(PairSocket::new());
    ///     let endpoint = a.get_ref().bind("tcp://127.0.0.1:0").await?;
    ///     let b = Typed::<_, [i8; 2]>::new(PairSocket::new());
    ///     b.get_ref().connect(&endpoint.to_string())?;
    ///     b.send_topic("move", &[1, -1]).await?;
    ///     let (topic, step) = a.recv_topic().await?;
    ///     assert_eq!((&topic[..], step), (&b"move"[..], [1, -1]));
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn recv_topic(&self) -> Result<(Bytes, T), TypedRecvError> {
        let message = self.socket.raw_recv().await?;
        super::decode_topic(&self.codec, message)
    }

    /// Receives a message and returns its frames before the last (the envelope: a ROUTER's
    /// routing id, a topic) with the value decoded from the last. Cancel-safe, as
    /// [`recv`](Self::recv). See [`send_with_envelope`](Self::send_with_envelope) for a
    /// ROUTER replying along the envelope.
    ///
    /// ```
    /// use monocoque::typed::Typed;
    /// use monocoque::{Message, PullSocket, PushSocket};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let pull = Typed::<_, u8>::new(PullSocket::new());
    ///     let endpoint = pull.get_ref().bind("tcp://127.0.0.1:0").await?;
    ///     let push = Typed::<_, u8>::new(PushSocket::new());
    ///     push.get_ref().connect(&endpoint.to_string())?;
    ///     push.send_with_envelope(Message::from("a").with("b"), &9).await?;
    ///     assert_eq!(pull.recv_with_envelope().await?, (Message::from("a").with("b"), 9));
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn recv_with_envelope(&self) -> Result<(Message, T), TypedRecvError> {
        let message = self.socket.raw_recv().await?;
        super::decode_with_envelope(&self.codec, message)
    }
}

impl<S: fmt::Debug, T, C: Codec> fmt::Debug for Typed<S, T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Typed")
            .field("socket", &self.socket)
            .field("value", &std::any::type_name::<T>())
            .field("codec", &C::NAME)
            .finish()
    }
}

impl<S: SendSocket> SendSocket for &S {
    fn raw_send(&self, message: Message) -> impl Future<Output = Result<(), SendError>> {
        (**self).raw_send(message)
    }

    fn raw_try_send(&self, message: Message) -> Result<(), SendError> {
        (**self).raw_try_send(message)
    }
}

impl<S: RecvSocket> RecvSocket for &S {
    fn raw_recv(&self) -> impl Future<Output = Result<Message, RecvError>> {
        (**self).raw_recv()
    }

    fn raw_try_recv(&self) -> Result<Message, RecvError> {
        (**self).raw_try_recv()
    }
}

macro_rules! sealed {
    ($($name:ident),*) => {
        $(impl sealed::Sealed for $name {})*
    };
}

macro_rules! sends {
    ($($name:ident),*) => {
        $(impl SendSocket for $name {
            fn raw_send(&self, message: Message) -> impl Future<Output = Result<(), SendError>> {
                self.send(message)
            }

            fn raw_try_send(&self, message: Message) -> Result<(), SendError> {
                self.try_send(message)
            }
        })*
    };
}

macro_rules! receives {
    ($($name:ident),*) => {
        $(impl RecvSocket for $name {
            fn raw_recv(&self) -> impl Future<Output = Result<Message, RecvError>> {
                self.recv()
            }

            fn raw_try_recv(&self) -> Result<Message, RecvError> {
                self.try_recv()
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
