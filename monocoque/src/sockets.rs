//! One type per ZeroMQ socket type, each a thin wrapper over the driver's [`Socket`].

use bytes::Bytes;
use monocoque_core::{Endpoint, Message};
use monocoque_zmtp::driver::{
    Error, Monitor, MonitorMask, OptionError, Peer, Socket, SocketOptions,
};
use monocoque_zmtp::proto::{RecvError, SendError, SocketType};

mod sealed {
    /// Only this crate's socket types are proxied.
    pub trait Sealed {}
}

/// Any socket type of this crate, for [`proxy`](crate::proxy) (its frontend, backend and
/// capture). Sealed: implemented by the socket types only.
pub trait ProxySocket: sealed::Sealed {
    /// The socket underneath.
    #[doc(hidden)]
    fn driver_socket(&self) -> &Socket;
}

macro_rules! socket_type {
    ($(#[$doc:meta])* $name:ident => $kind:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name(Socket);

        impl sealed::Sealed for $name {}

        impl ProxySocket for $name {
            fn driver_socket(&self) -> &Socket {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl $name {
            /// A socket with libzmq's default options. Must be called on a compio runtime thread.
            pub fn new() -> Self {
                match Socket::new(SocketType::$kind, SocketOptions::new()) {
                    Ok(socket) => Self(socket),
                    // The defaults apply to every socket type.
                    Err(error) => unreachable!("default options refused: {error}"),
                }
            }

            /// A socket with the given options; an option that does not apply to this socket
            /// type, or a value out of range, is an error.
            pub fn with_options(options: SocketOptions) -> Result<Self, OptionError> {
                Socket::new(SocketType::$kind, options).map(Self)
            }

            /// The options in force.
            pub fn options(&self) -> SocketOptions {
                self.0.options()
            }

            /// Changes options on the live socket: `socket.set_options(|o| o.send_hwm(10))`.
            /// Routing switches and timeouts apply at once, high-water marks to peers attached
            /// afterwards, connection options to connections made afterwards, as in libzmq.
            pub fn set_options(
                &self,
                change: impl FnOnce(SocketOptions) -> SocketOptions,
            ) -> Result<(), OptionError> {
                self.0.set_options(change)
            }

            /// The peers connected now (handshake done), each with its routing id, socket type,
            /// mechanism and metadata: the `User-Id` a PLAIN or CURVE server's authenticator
            /// gave a client, the `X-` properties a peer announced.
            pub fn peers(&self) -> Vec<Peer> {
                self.0.peers()
            }

            /// Starts a monitor: a stream of this socket's connection events (listening,
            /// accepted, connected, handshake succeeded or failed, disconnected with its reason,
            /// ...). Several monitors may watch one socket.
            pub fn monitor(&self) -> Monitor {
                self.0.monitor()
            }

            /// Starts a monitor of the events in `mask` only, as libzmq's `zmq_socket_monitor`
            /// with an events argument: `MonitorMask::HANDSHAKE_SUCCEEDED |
            /// MonitorMask::DISCONNECTED`.
            #[doc(alias = "zmq_socket_monitor")]
            pub fn monitor_events(&self, mask: MonitorMask) -> Monitor {
                self.0.monitor_events(mask)
            }

            /// Listens on `endpoint` (`tcp://127.0.0.1:0`, `tcp://*:5555`, `ipc:///tmp/x.sock`,
            /// ...) and returns it as bound, with the real port. A socket may bind many endpoints.
            pub async fn bind(&self, endpoint: &str) -> Result<Endpoint, Error> {
                self.0.bind(endpoint).await
            }

            /// Connects to `endpoint` in the background and keeps reconnecting; returns at once.
            /// A socket may connect to many endpoints.
            pub fn connect(&self, endpoint: &str) -> Result<(), Error> {
                self.0.connect(endpoint)
            }

            /// Stops listening on `endpoint` and closes the connections accepted there.
            pub fn unbind(&self, endpoint: &str) -> Result<(), Error> {
                self.0.unbind(endpoint)
            }

            /// Stops connecting to `endpoint`, closing its connection and dropping its queue.
            pub fn disconnect(&self, endpoint: &str) -> Result<(), Error> {
                self.0.disconnect(endpoint)
            }

            /// The endpoint of the last `bind` (with its real port) or `connect`.
            pub fn last_endpoint(&self) -> Option<Endpoint> {
                self.0.last_endpoint()
            }

            /// The number of peers with a live connection.
            pub fn connected_peers(&self) -> usize {
                self.0.connected_peers()
            }

            /// Waits until at least one peer has completed its handshake, for at most `timeout`
            /// (`None`: as long as it takes), and says whether one has. Messages sent before a
            /// peer is there may be dropped (PUB) or wait in a queue; this is the cure for the
            /// slow joiner.
            pub async fn wait_connected(&self, timeout: Option<std::time::Duration>) -> bool {
                self.0.wait_connected(timeout).await
            }

            /// The socket type (libzmq's `ZMQ_TYPE`).
            #[doc(alias = "ZMQ_TYPE")]
            pub fn socket_type(&self) -> SocketType {
                self.0.socket_type()
            }

            /// Waits until every queued message has been written (for a `connect` endpoint,
            /// once its peer is there), for at most the linger time (`SocketOptions::linger`,
            /// default: no limit, as libzmq), then closes. Dropping the socket does the same
            /// in the background, as `zmq_close`: it returns at once, and what is queued still
            /// goes out within the linger time while the runtime runs.
            pub async fn close(self) {
                self.0.close().await
            }
        }
    };
}

macro_rules! sends {
    ($name:ident) => {
        impl $name {
            /// Sends a message (all its frames, atomically), waiting while no peer can take it.
            /// A failed send hands the message back inside the error.
            ///
            /// Cancel-safe: if this future is dropped before it returns `Ready` (a `select!`, a
            /// timeout), nothing was sent, so retrying sends the message exactly once.
            pub async fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
                self.0.send(message).await
            }

            /// Sends a message if that is possible without waiting; otherwise fails with
            /// `SendErrorKind::WouldBlock` and hands the message back.
            pub fn try_send(&self, message: impl Into<Message>) -> Result<(), SendError> {
                self.0.try_send(message)
            }

            /// A `futures::Sink` of messages over this socket: each item is sent as
            /// [`send`](Self::send) does, one at a time, `poll_flush` waiting for the last.
            /// Items fed but not flushed when the sink is dropped are not sent. Pin it to use
            /// `SinkExt`: `let mut sink = std::pin::pin!(socket.sink());`.
            pub fn sink(&self) -> impl futures_util::Sink<Message, Error = SendError> + '_ {
                futures_util::sink::unfold(self, |socket, message: Message| async move {
                    socket.send(message).await.map(|()| socket)
                })
            }
        }
    };
}

macro_rules! receives {
    ($name:ident) => {
        impl $name {
            /// Receives the next message, waiting for one.
            ///
            /// Cancel-safe: if this future is dropped before it returns `Ready`, no message was
            /// taken; the next `recv` gets it.
            pub async fn recv(&self) -> Result<Message, RecvError> {
                self.0.recv().await
            }

            /// Receives a message if one is ready; otherwise fails with `RecvError::WouldBlock`.
            pub fn try_recv(&self) -> Result<Message, RecvError> {
                self.0.try_recv()
            }

            /// Receives every message ready, up to `max`, appending them to `into`, and waits
            /// only for the first: returns how many arrived (at least one, unless `max` is 0).
            /// For a busy receiver: the per-call costs are paid once per batch.
            ///
            /// Cancel-safe as [`recv`](Self::recv): dropped before it returns, it took nothing.
            /// An error after the first message ends the batch, and the next call returns it.
            ///
            /// ```
            /// use monocoque::{PullSocket, PushSocket};
            ///
            /// # compio::runtime::Runtime::new()?.block_on(async {
            /// let push = PushSocket::new();
            /// let endpoint = push.bind("inproc://recv-many").await?;
            /// let pull = PullSocket::new();
            /// pull.connect(&endpoint.to_string())?;
            /// for n in 0..3 {
            ///     push.send(format!("job {n}")).await?;
            /// }
            /// let mut batch = Vec::with_capacity(256);
            /// let mut total = 0;
            /// while total < 3 {
            ///     batch.clear();
            ///     total += pull.recv_many(&mut batch, 256).await?;
            /// }
            /// assert_eq!(batch.last(), Some(&monocoque::Message::from("job 2")));
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// # })?;
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub async fn recv_many(
                &self,
                into: &mut Vec<Message>,
                max: usize,
            ) -> Result<usize, RecvError> {
                self.0.recv_many(into, max).await
            }

            /// Receives every message ready, up to `max`, into `into`, without waiting: how many,
            /// or `RecvError::WouldBlock` if none was ready.
            pub fn try_recv_many(
                &self,
                into: &mut Vec<Message>,
                max: usize,
            ) -> Result<usize, RecvError> {
                self.0.try_recv_many(into, max)
            }

            /// The received messages as a `futures::Stream`, ending at the first error (the
            /// socket closed, or a receive timeout). Dropping the stream between items takes
            /// nothing: a receive in flight is cancel-safe. Pin it for `StreamExt::next`:
            /// `let mut messages = std::pin::pin!(socket.stream());`.
            pub fn stream(&self) -> impl futures_util::Stream<Item = Message> + '_ {
                futures_util::stream::unfold(self, |socket| async move {
                    socket.recv().await.ok().map(|message| (message, socket))
                })
            }
        }
    };
}

macro_rules! subscribes {
    ($name:ident) => {
        impl $name {
            /// Subscribes to messages whose first frame starts with `topic`; the empty topic
            /// matches everything. Subscriptions count: two subscribes need two unsubscribes.
            pub fn subscribe(&self, topic: impl Into<Bytes>) {
                self.0.subscribe(topic)
            }

            /// Cancels one subscription to `topic`.
            pub fn unsubscribe(&self, topic: impl Into<Bytes>) {
                self.0.unsubscribe(topic)
            }
        }
    };
}

socket_type! {
    /// PAIR (RFC 31, exclusive pair): one peer at a time, messages both ways.
    ///
    /// Talks to: PAIR. A second peer is refused while the first is connected. Sending waits
    /// when the peer's queue is at the high-water mark (or no peer has ever been connected to).
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use monocoque::{Message, PairSocket};
    /// let a = PairSocket::new();
    /// let endpoint = a.bind("tcp://127.0.0.1:0").await?;
    /// let b = PairSocket::new();
    /// b.connect(&endpoint.to_string())?;
    /// b.send("ping").await?;
    /// assert_eq!(a.recv().await?, Message::from("ping"));
    /// a.send("pong").await?;
    /// assert_eq!(b.recv().await?, Message::from("pong"));
    /// # Ok::<(), monocoque::Error>(())
    /// # }).unwrap();
    /// ```
    PairSocket => Pair
}
sends!(PairSocket);
receives!(PairSocket);

socket_type! {
    /// PUB (RFC 29, publish-subscribe): sends each message to every subscriber whose
    /// subscription is a prefix of its first frame.
    ///
    /// Talks to: SUB, XSUB. Never blocks: a subscriber whose queue is at the high-water mark
    /// misses the message. Cannot receive.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use monocoque::{Message, PubSocket, SubSocket};
    /// let publisher = PubSocket::new();
    /// let endpoint = publisher.bind("tcp://127.0.0.1:0").await?;
    /// let subscriber = SubSocket::new();
    /// subscriber.subscribe("weather.");
    /// subscriber.connect(&endpoint.to_string())?;
    /// // The subscription reaches the publisher asynchronously ("slow joiner"): publish until
    /// // something arrives, waiting on the subscriber between rounds.
    /// let mut received = None;
    /// for _ in 0..500 {
    ///     publisher.send(Message::from("sports.f1").with("ignored")).await?;
    ///     publisher.send(Message::from("weather.paris").with("sunny")).await?;
    ///     let wait = std::time::Duration::from_millis(10);
    ///     if let Ok(message) = compio::time::timeout(wait, subscriber.recv()).await {
    ///         received = Some(message?);
    ///         break;
    ///     }
    /// }
    /// let received = received.expect("subscription reached the publisher");
    /// assert_eq!(received, Message::from("weather.paris").with("sunny"));
    /// # Ok::<(), monocoque::Error>(())
    /// # }).unwrap();
    /// ```
    PubSocket => Pub
}
sends!(PubSocket);

socket_type! {
    /// SUB (RFC 29): receives what publishers send that matches its subscriptions, fair-queued
    /// across publishers; subscriptions are sent to every publisher and replayed on reconnection.
    ///
    /// Talks to: PUB, XPUB. Cannot send. A new SUB receives nothing until it subscribes.
    /// Receive-side high-water mark: when full, reading from that publisher pauses (TCP then
    /// pushes back), and the publisher drops what it cannot queue.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use monocoque::SubSocket;
    /// let subscriber = SubSocket::new();
    /// subscriber.subscribe(""); // everything
    /// assert!(subscriber.try_recv().is_err());
    /// # Ok::<(), monocoque::Error>(())
    /// # }).unwrap();
    /// ```
    SubSocket => Sub
}
receives!(SubSocket);
subscribes!(SubSocket);

socket_type! {
    /// XPUB (RFC 29): a PUB that also hands subscriptions to the application, as messages of
    /// `0x01` + topic (first subscriber of a topic) and `0x00` + topic (last one gone).
    ///
    /// Talks to: SUB, XSUB. Never blocks on send, like PUB.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use monocoque::{Message, SubSocket, XPubSocket};
    /// let xpub = XPubSocket::new();
    /// let endpoint = xpub.bind("tcp://127.0.0.1:0").await?;
    /// let sub = SubSocket::new();
    /// sub.connect(&endpoint.to_string())?;
    /// sub.subscribe("news");
    /// assert_eq!(xpub.recv().await?, Message::from(&b"\x01news"[..]));
    /// # Ok::<(), monocoque::Error>(())
    /// # }).unwrap();
    /// ```
    XPubSocket => Xpub
}
sends!(XPubSocket);
receives!(XPubSocket);

impl XPubSocket {
    /// With `xpub_manual`: subscribes the peer whose subscription the application received
    /// last to `topic`. Does nothing otherwise.
    pub fn subscribe(&self, topic: impl Into<Bytes>) {
        self.0.subscribe(topic)
    }

    /// With `xpub_manual`: cancels that peer's subscription to `topic`.
    pub fn unsubscribe(&self, topic: impl Into<Bytes>) {
        self.0.unsubscribe(topic)
    }
}

socket_type! {
    /// XSUB (RFC 29): a SUB whose subscriptions are messages the application sends
    /// (`0x01` + topic to subscribe, `0x00` + topic to cancel); other messages go to every
    /// publisher. Receives without filtering.
    ///
    /// Talks to: PUB, XPUB. With XPUB it forms a forwarding proxy.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use monocoque::{Message, PubSocket, XSubSocket};
    /// let publisher = PubSocket::new();
    /// let endpoint = publisher.bind("tcp://127.0.0.1:0").await?;
    /// let xsub = XSubSocket::new();
    /// xsub.connect(&endpoint.to_string())?;
    /// xsub.send(Message::from(&b"\x01"[..])).await?; // subscribe to everything
    /// let mut received = None;
    /// for _ in 0..500 {
    ///     publisher.send("tick").await?;
    ///     let wait = std::time::Duration::from_millis(10);
    ///     if let Ok(message) = compio::time::timeout(wait, xsub.recv()).await {
    ///         received = Some(message?);
    ///         break;
    ///     }
    /// }
    /// let received = received.expect("subscription reached the publisher");
    /// assert_eq!(received, Message::from("tick"));
    /// # Ok::<(), monocoque::Error>(())
    /// # }).unwrap();
    /// ```
    XSubSocket => Xsub
}
sends!(XSubSocket);
receives!(XSubSocket);

socket_type! {
    /// PUSH (RFC 30, pipeline): load-balances messages round-robin over its peers.
    ///
    /// Talks to: PULL. Sending waits when every peer's queue is at the high-water mark, and
    /// when it has no peer at all (a connecting PUSH queues for its endpoint meanwhile).
    /// Cannot receive.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use monocoque::{Message, PullSocket, PushSocket};
    /// let pull = PullSocket::new();
    /// let endpoint = pull.bind("tcp://127.0.0.1:0").await?;
    /// let push = PushSocket::new();
    /// push.connect(&endpoint.to_string())?;
    /// push.send(Message::from("task").with("42")).await?;
    /// assert_eq!(pull.recv().await?, Message::from("task").with("42"));
    /// # Ok::<(), monocoque::Error>(())
    /// # }).unwrap();
    /// ```
    PushSocket => Push
}
sends!(PushSocket);

socket_type! {
    /// PULL (RFC 30): receives from its peers, fair-queued.
    ///
    /// Talks to: PUSH. Cannot send. When its receive queue for a peer is full it stops reading
    /// from that peer, and TCP pushes back on the sender.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use monocoque::PullSocket;
    /// let pull = PullSocket::new();
    /// let endpoint = pull.bind("ipc:///tmp/monocoque-doc-pull.sock").await?;
    /// assert_eq!(endpoint.to_string(), "ipc:///tmp/monocoque-doc-pull.sock");
    /// # Ok::<(), monocoque::Error>(())
    /// # }).unwrap();
    /// ```
    PullSocket => Pull
}
receives!(PullSocket);

socket_type! {
    /// REQ (RFC 28, request-reply client): sends a request, then must receive its reply before
    /// the next request. Requests go round-robin to its peers with an empty delimiter frame in
    /// front; a reply is accepted only from the peer the request went to.
    ///
    /// Talks to: REP, ROUTER. Sending twice in a row, or receiving before sending, fails with
    /// an invalid-state error. Sending waits when no peer can take the request.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use monocoque::{Message, RepSocket, ReqSocket};
    /// let rep = RepSocket::new();
    /// let endpoint = rep.bind("tcp://127.0.0.1:0").await?;
    /// let req = ReqSocket::new();
    /// req.connect(&endpoint.to_string())?;
    /// req.send("2+2").await?;
    /// assert_eq!(rep.recv().await?, Message::from("2+2"));
    /// rep.send("4").await?;
    /// assert_eq!(req.recv().await?, Message::from("4"));
    /// # Ok::<(), monocoque::Error>(())
    /// # }).unwrap();
    /// ```
    ReqSocket => Req
}
sends!(ReqSocket);
receives!(ReqSocket);

socket_type! {
    /// REP (RFC 28, request-reply service): receives requests fair-queued, and sends each reply
    /// back to the requester along the request's envelope.
    ///
    /// Talks to: REQ, DEALER. Receive and send must alternate. A reply whose requester has
    /// gone, or whose queue is full, is dropped.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use monocoque::RepSocket;
    /// let rep = RepSocket::new();
    /// assert!(rep.try_send("no request yet").is_err());
    /// # Ok::<(), monocoque::Error>(())
    /// # }).unwrap();
    /// ```
    RepSocket => Rep
}
sends!(RepSocket);
receives!(RepSocket);

socket_type! {
    /// DEALER (RFC 28): load-balances what it sends and fair-queues what it receives, with no
    /// lock-step: an asynchronous REQ.
    ///
    /// Talks to: REP, DEALER, ROUTER. Sending waits when every peer's queue is full.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use monocoque::{DealerSocket, Message, RouterSocket, SocketOptions};
    /// let router = RouterSocket::new();
    /// let endpoint = router.bind("tcp://127.0.0.1:0").await?;
    /// let dealer = DealerSocket::with_options(SocketOptions::new().routing_id("d1"))?;
    /// dealer.connect(&endpoint.to_string())?;
    /// dealer.send("hello").await?;
    /// assert_eq!(router.recv().await?, Message::from("d1").with("hello"));
    /// router.send(Message::from("d1").with("welcome")).await?;
    /// assert_eq!(dealer.recv().await?, Message::from("welcome"));
    /// # Ok::<(), monocoque::Error>(())
    /// # }).unwrap();
    /// ```
    DealerSocket => Dealer
}
sends!(DealerSocket);
receives!(DealerSocket);

socket_type! {
    /// ROUTER (RFC 28): receives from all peers fair-queued, with the sender's routing id as
    /// the first frame, and sends each message to the peer named by its first frame.
    ///
    /// Talks to: REQ, DEALER, ROUTER. A peer's routing id is the identity it announced, or a
    /// generated 5-byte id (a zero byte and a counter, as libzmq). A message for an unknown or
    /// full peer is dropped, unless `SocketOptions::router_mandatory` makes the send fail.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use monocoque::{Message, RouterSocket, SendErrorKind, SocketOptions};
    /// let router = RouterSocket::with_options(SocketOptions::new().router_mandatory(true))?;
    /// let error = router.send(Message::from("nobody").with("hi")).await.unwrap_err();
    /// assert_eq!(error.kind, SendErrorKind::HostUnreachable);
    /// assert_eq!(error.message, Message::from("nobody").with("hi"));
    /// # Ok::<(), monocoque::Error>(())
    /// # }).unwrap();
    /// ```
    RouterSocket => Router
}
sends!(RouterSocket);
receives!(RouterSocket);

impl RouterSocket {
    /// Connects to `endpoint` as `connect` does, and knows the peer there by `routing_id`
    /// instead of the identity it announces (libzmq's `ZMQ_CONNECT_ROUTING_ID` before
    /// `zmq_connect`). The id is taken at once: messages sent to it wait for the connection,
    /// and it stays with this endpoint across reconnections. An id in use, or not 1 to 255
    /// bytes starting with a non-zero byte, is refused.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use monocoque::{Message, RouterSocket};
    /// let backend = RouterSocket::new();
    /// let endpoint = backend.bind("tcp://127.0.0.1:0").await?;
    /// let frontend = RouterSocket::new();
    /// frontend.connect_with_routing_id(&endpoint.to_string(), "backend")?;
    /// // Routed by the name given at connect time, before the connection is even up.
    /// frontend.send(Message::from("backend").with("hello")).await?;
    /// let received = backend.recv().await?;
    /// assert_eq!(&received[1][..], b"hello"); // after the id backend gave frontend
    /// assert!(frontend.connect_with_routing_id(&endpoint.to_string(), "backend").is_err());
    /// # Ok::<(), monocoque::Error>(())
    /// # }).unwrap();
    /// ```
    #[doc(alias = "ZMQ_CONNECT_ROUTING_ID")]
    pub fn connect_with_routing_id(
        &self,
        endpoint: &str,
        routing_id: impl Into<Bytes>,
    ) -> Result<(), Error> {
        self.0.connect_with_routing_id(endpoint, routing_id)
    }
}
