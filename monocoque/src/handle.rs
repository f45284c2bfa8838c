//! Thread-safe handles: sockets on background I/O threads, for any thread and any async
//! runtime (tokio, async-std, smol, plain threads).
//!
//! Each type here mirrors the compio socket of the same name in the crate root, with blocking
//! methods (`send`, `recv`, `bind`, ...), `try_` and `_timeout` variants, and `_async` futures
//! that need no particular runtime. A handle is `Send + Sync + Clone`: clones share the socket.
//! The sockets run on the I/O threads of a [`Context`] (the process-wide one unless you make
//! your own); messages cross to them through bounded queues of [`HANDLE_QUEUE`] messages each
//! way, woken once per burst, not per message. REQ and REP keep their lock-step rule on the
//! handle's side (an out-of-turn call fails with `InvalidState`); `req_relaxed` is not offered
//! on a REQ handle.

use std::time::Duration;

use bytes::Bytes;
use monocoque_core::{Endpoint, Message};
#[doc(inline)]
pub use monocoque_zmtp::driver::{Context, HANDLE_QUEUE, Handle, HandleSink, Interest, Poller};
use monocoque_zmtp::driver::{Error, Monitor, MonitorMask, Peer, ProxyControl, SocketOptions};
use monocoque_zmtp::proto::{RecvError, SendError, SocketType};

mod sealed {
    /// Only this module's handle types are proxied.
    pub trait Sealed {}
}

/// Any handle type of this module, for [`proxy`] (its frontend, backend and capture). Sealed:
/// implemented by the handle types only.
pub trait ProxyHandle: sealed::Sealed {
    /// The handle underneath.
    #[doc(hidden)]
    fn driver_handle(&self) -> &Handle;
}

/// Forwards messages between `frontend` and `backend` on the calling thread until `control`
/// terminates the proxy or a socket fails: libzmq's `zmq_proxy_steerable`, for handles. Each
/// message first goes to `capture`, if given. `control` may be used from any thread; see
/// [`crate::proxy`] for the compio sockets' proxy and the forwarding rules. Refused on one of
/// the library's I/O threads; [`proxy_async`] is the same as a future.
///
/// ```
/// use monocoque::handle::{DealerSocket, RepSocket, ReqSocket, RouterSocket};
/// use monocoque::{Message, ProxyControl};
///
/// let frontend = RouterSocket::new()?;
/// frontend.bind("inproc://doc-proxy-clients")?;
/// let backend = DealerSocket::new()?;
/// backend.bind("inproc://doc-proxy-workers")?;
/// let control = ProxyControl::new();
/// let broker = std::thread::spawn({
///     let control = control.clone();
///     move || monocoque::handle::proxy(&frontend, &backend, None, &control)
/// });
/// let worker = RepSocket::new()?;
/// worker.connect("inproc://doc-proxy-workers")?;
/// let client = ReqSocket::new()?;
/// client.connect("inproc://doc-proxy-clients")?;
/// client.send("2+2")?;
/// assert_eq!(worker.recv()?, Message::from("2+2"));
/// worker.send("4")?;
/// assert_eq!(client.recv()?, Message::from("4"));
/// control.terminate();
/// broker.join().unwrap()?;
/// assert_eq!(control.statistics().frontend.messages_in, 1);
/// # Ok::<(), monocoque::Error>(())
/// ```
#[doc(alias = "zmq_proxy")]
#[doc(alias = "zmq_proxy_steerable")]
pub fn proxy(
    frontend: &impl ProxyHandle,
    backend: &impl ProxyHandle,
    capture: Option<&dyn ProxyHandle>,
    control: &ProxyControl,
) -> Result<(), Error> {
    monocoque_zmtp::driver::proxy_handles_blocking(
        frontend.driver_handle(),
        backend.driver_handle(),
        capture.map(ProxyHandle::driver_handle),
        control,
    )
}

/// [`proxy`] as a future for any runtime.
pub async fn proxy_async(
    frontend: &impl ProxyHandle,
    backend: &impl ProxyHandle,
    capture: Option<&dyn ProxyHandle>,
    control: &ProxyControl,
) -> Result<(), Error> {
    monocoque_zmtp::driver::proxy_handles(
        frontend.driver_handle(),
        backend.driver_handle(),
        capture.map(ProxyHandle::driver_handle),
        control,
    )
    .await
}

impl sealed::Sealed for Handle {}

/// A handle of any socket type, its type chosen at run time: a proxy between sockets named in
/// a configuration or on a command line.
///
/// ```
/// use monocoque::handle::{Context, Handle, ReqSocket, RepSocket};
/// use monocoque::{ProxyControl, SocketOptions, SocketType};
///
/// let context = Context::global()?;
/// let frontend = Handle::new(context, "router".parse()?, SocketOptions::new())?;
/// frontend.bind("inproc://doc-any-proxy-front")?;
/// let backend = Handle::new(context, SocketType::Dealer, SocketOptions::new())?;
/// backend.bind("inproc://doc-any-proxy-back")?;
/// let control = ProxyControl::new();
/// let broker = std::thread::spawn({
///     let control = control.clone();
///     move || monocoque::handle::proxy(&frontend, &backend, None, &control)
/// });
/// let worker = RepSocket::new()?;
/// worker.connect("inproc://doc-any-proxy-back")?;
/// let client = ReqSocket::new()?;
/// client.connect("inproc://doc-any-proxy-front")?;
/// client.send("ping")?;
/// worker.send(worker.recv()?)?;
/// assert_eq!(client.recv()?, "ping".into());
/// control.terminate();
/// broker.join().unwrap()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl ProxyHandle for Handle {
    fn driver_handle(&self) -> &Handle {
        self
    }
}

macro_rules! handle_type {
    ($(#[$doc:meta])* $name:ident => $kind:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(Handle);

        impl sealed::Sealed for $name {}

        impl ProxyHandle for $name {
            fn driver_handle(&self) -> &Handle {
                &self.0
            }
        }

        impl $name {
            /// A socket with libzmq's default options on the process-wide [`Context`].
            pub fn new() -> Result<Self, Error> {
                Self::with_options(SocketOptions::new())
            }

            /// A socket with `options` on the process-wide [`Context`].
            pub fn with_options(options: SocketOptions) -> Result<Self, Error> {
                Self::on(Context::global()?, options)
            }

            /// A socket with `options` on one of `context`'s I/O threads.
            pub fn on(context: &Context, options: SocketOptions) -> Result<Self, Error> {
                Handle::new(context, SocketType::$kind, options).map(Self)
            }

            /// The untyped handle underneath.
            pub fn handle(&self) -> &Handle {
                &self.0
            }

            /// Listens on `endpoint` and returns it as bound, with the real port.
            pub fn bind(&self, endpoint: &str) -> Result<Endpoint, Error> {
                self.0.bind(endpoint)
            }

            /// [`bind`](Self::bind) as a future for any runtime.
            pub async fn bind_async(&self, endpoint: &str) -> Result<Endpoint, Error> {
                self.0.bind_async(endpoint).await
            }

            /// Connects to `endpoint` in the background and keeps reconnecting.
            pub fn connect(&self, endpoint: &str) -> Result<(), Error> {
                self.0.connect(endpoint)
            }

            /// Stops listening on `endpoint`.
            pub fn unbind(&self, endpoint: &str) -> Result<(), Error> {
                self.0.unbind(endpoint)
            }

            /// Stops connecting to `endpoint`.
            pub fn disconnect(&self, endpoint: &str) -> Result<(), Error> {
                self.0.disconnect(endpoint)
            }

            /// The options in force.
            pub fn options(&self) -> Result<SocketOptions, Error> {
                self.0.options()
            }

            /// Changes options on the live socket: `socket.set_options(|o| o.send_hwm(10))`.
            pub fn set_options(
                &self,
                change: impl FnOnce(SocketOptions) -> SocketOptions + Send + 'static,
            ) -> Result<(), Error> {
                self.0.set_options(change)
            }

            /// A monitor of every event of the socket, readable from any thread.
            pub fn monitor(&self) -> Result<Monitor, Error> {
                self.0.monitor()
            }

            /// A monitor of the events in `mask`.
            #[doc(alias = "zmq_socket_monitor")]
            pub fn monitor_events(&self, mask: MonitorMask) -> Result<Monitor, Error> {
                self.0.monitor_events(mask)
            }

            /// The number of peers with a live connection.
            pub fn connected_peers(&self) -> Result<usize, Error> {
                self.0.connected_peers()
            }

            /// The peers connected now, with their routing ids and metadata: the `User-Id` a
            /// PLAIN or CURVE server's authenticator gave each client, their `X-` properties.
            pub fn peers(&self) -> Result<Vec<Peer>, Error> {
                self.0.peers()
            }

            /// The endpoint of the last `bind` or `connect`.
            pub fn last_endpoint(&self) -> Result<Option<Endpoint>, Error> {
                self.0.last_endpoint()
            }

            /// Waits until a peer has completed its handshake, for at most `timeout`.
            pub fn wait_connected(&self, timeout: Option<Duration>) -> Result<bool, Error> {
                self.0.wait_connected(timeout)
            }

            /// The socket type (libzmq's `ZMQ_TYPE`).
            #[doc(alias = "ZMQ_TYPE")]
            pub fn socket_type(&self) -> SocketType {
                SocketType::$kind
            }

            /// Closes the socket for every clone, writing what is queued within the linger
            /// time first.
            pub fn shutdown(&self) {
                self.0.shutdown()
            }

            /// [`shutdown`](Self::shutdown) as a future.
            pub async fn shutdown_async(&self) {
                self.0.shutdown_async().await
            }

            /// Closes the socket for every clone at once, dropping what is queued.
            pub fn stop(&self) {
                self.0.stop()
            }

            /// Whether the socket has finished closing.
            pub fn is_closed(&self) -> bool {
                self.0.is_closed()
            }
        }
    };
}

macro_rules! sends {
    ($name:ident) => {
        impl $name {
            /// Sends a message, blocking while the socket cannot take it, for at most the send
            /// timeout. A failed send hands the message back.
            pub fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
                self.0.send(message)
            }

            /// Sends if that is possible now; otherwise `WouldBlock` with the message back.
            pub fn try_send(&self, message: impl Into<Message>) -> Result<(), SendError> {
                self.0.try_send(message)
            }

            /// Sends, blocking for at most `timeout`.
            pub fn send_timeout(
                &self,
                message: impl Into<Message>,
                timeout: Duration,
            ) -> Result<(), SendError> {
                self.0.send_timeout(message, timeout)
            }

            /// [`send`](Self::send) as a future for any runtime. Cancel-safe: dropped before
            /// it returns `Ready`, it sent nothing.
            pub async fn send_async(&self, message: impl Into<Message>) -> Result<(), SendError> {
                self.0.send_async(message).await
            }

            /// A `futures::Sink` of messages for any runtime (see [`Handle::sink`]).
            pub fn sink(&self) -> HandleSink {
                self.0.sink()
            }
        }
    };
}

macro_rules! receives {
    ($name:ident) => {
        impl $name {
            /// Receives a message, blocking for at most the receive timeout.
            pub fn recv(&self) -> Result<Message, RecvError> {
                self.0.recv()
            }

            /// Takes a message if one is there.
            pub fn try_recv(&self) -> Result<Message, RecvError> {
                self.0.try_recv()
            }

            /// Receives, blocking for at most `timeout`.
            pub fn recv_timeout(&self, timeout: Duration) -> Result<Message, RecvError> {
                self.0.recv_timeout(timeout)
            }

            /// [`recv`](Self::recv) as a future for any runtime. Cancel-safe: dropped before it
            /// returns `Ready`, it took nothing.
            pub async fn recv_async(&self) -> Result<Message, RecvError> {
                self.0.recv_async().await
            }

            /// The received messages, blocking for each, until the socket is closed.
            pub fn iter(&self) -> impl Iterator<Item = Message> + '_ {
                self.0.iter()
            }
        }
    };
}

macro_rules! streams {
    ($($name:ident),*) => {
        $(impl $name {
            /// The received messages as a `futures::Stream` for any runtime, ending when the
            /// socket is closed (see [`Handle::stream`]).
            pub fn stream(
                &self,
            ) -> impl futures_util::Stream<Item = Message> + Send + Unpin + 'static {
                self.0.stream()
            }
        })*
    };
}

macro_rules! subscribes {
    ($name:ident) => {
        impl $name {
            /// Subscribes to messages whose first frame starts with `topic`.
            pub fn subscribe(&self, topic: impl Into<Bytes>) -> Result<(), Error> {
                self.0.subscribe(topic)
            }

            /// Cancels one subscription to `topic`.
            pub fn unsubscribe(&self, topic: impl Into<Bytes>) -> Result<(), Error> {
                self.0.unsubscribe(topic)
            }
        }
    };
}

handle_type! {
    /// A thread-safe PAIR: see [`crate::PairSocket`] for the pattern.
    PairSocket => Pair
}
sends!(PairSocket);
receives!(PairSocket);

handle_type! {
    /// A thread-safe PUB: see [`crate::PubSocket`] for the pattern.
    PubSocket => Pub
}
sends!(PubSocket);

handle_type! {
    /// A thread-safe SUB: see [`crate::SubSocket`] for the pattern.
    SubSocket => Sub
}
receives!(SubSocket);
subscribes!(SubSocket);

handle_type! {
    /// A thread-safe XPUB: see [`crate::XPubSocket`] for the pattern.
    XPubSocket => Xpub
}
sends!(XPubSocket);
receives!(XPubSocket);
subscribes!(XPubSocket);

handle_type! {
    /// A thread-safe XSUB: see [`crate::XSubSocket`] for the pattern.
    XSubSocket => Xsub
}
sends!(XSubSocket);
receives!(XSubSocket);

handle_type! {
    /// A thread-safe PUSH: see [`crate::PushSocket`] for the pattern.
    ///
    /// ```
    /// use monocoque::handle::{PullSocket, PushSocket};
    /// use monocoque::Message;
    ///
    /// let pull = PullSocket::new()?;
    /// let endpoint = pull.bind("tcp://127.0.0.1:0")?;
    /// let push = PushSocket::new()?;
    /// push.connect(&endpoint.to_string())?;
    /// let workers: Vec<_> = (0..2)
    ///     .map(|n| {
    ///         let push = push.clone(); // clones share the socket
    ///         std::thread::spawn(move || push.send(format!("from thread {n}")))
    ///     })
    ///     .collect();
    /// for worker in workers {
    ///     worker.join().unwrap()?;
    /// }
    /// let mut got = vec![pull.recv()?, pull.recv()?];
    /// got.sort_by(|a, b| a[0].cmp(&b[0]));
    /// assert_eq!(got, [Message::from("from thread 0"), Message::from("from thread 1")]);
    /// # Ok::<(), monocoque::Error>(())
    /// ```
    PushSocket => Push
}
sends!(PushSocket);

handle_type! {
    /// A thread-safe PULL: see [`crate::PullSocket`] for the pattern.
    PullSocket => Pull
}
receives!(PullSocket);

handle_type! {
    /// A thread-safe DEALER: see [`crate::DealerSocket`] for the pattern.
    DealerSocket => Dealer
}
sends!(DealerSocket);
receives!(DealerSocket);

handle_type! {
    /// A thread-safe ROUTER: see [`crate::RouterSocket`] for the pattern.
    RouterSocket => Router
}
sends!(RouterSocket);
receives!(RouterSocket);

handle_type! {
    /// A thread-safe REQ: see [`crate::ReqSocket`] for the pattern.
    ///
    /// ```
    /// use monocoque::handle::{RepSocket, ReqSocket};
    /// use monocoque::{Message, RecvError};
    ///
    /// let rep = RepSocket::new()?;
    /// let endpoint = rep.bind("tcp://127.0.0.1:0")?;
    /// let server = std::thread::spawn(move || -> Result<(), monocoque::Error> {
    ///     let request = rep.recv()?;
    ///     rep.send(Message::from("echo").with(request[0].clone()))?;
    ///     Ok(())
    /// });
    /// let req = ReqSocket::new()?;
    /// req.connect(&endpoint.to_string())?;
    /// assert_eq!(req.try_recv(), Err(RecvError::InvalidState)); // nothing asked yet
    /// req.send("ping")?;
    /// assert_eq!(req.recv()?, Message::from("echo").with("ping"));
    /// server.join().unwrap()?;
    /// # Ok::<(), monocoque::Error>(())
    /// ```
    ReqSocket => Req
}
sends!(ReqSocket);
receives!(ReqSocket);

handle_type! {
    /// A thread-safe REP: see [`crate::RepSocket`] for the pattern.
    RepSocket => Rep
}
sends!(RepSocket);
receives!(RepSocket);

streams!(
    PairSocket,
    SubSocket,
    XPubSocket,
    XSubSocket,
    PullSocket,
    DealerSocket,
    RouterSocket
);
