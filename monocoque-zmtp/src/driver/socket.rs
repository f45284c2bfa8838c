//! The socket handle: endpoints, sending and receiving, options, monitoring, closing.

use std::cell::RefCell;
use std::pin::pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use compio::runtime::JoinHandle;
use futures_util::future::{Either, select};
use monocoque_core::{Backoff, Endpoint, EndpointError, Message, PeerId};

use super::connection::{PipeFor, serve};
use super::inproc;
use super::monitor::{Monitor, MonitorEvent, MonitorEventKind, MonitorMask};
use super::options::{OptionError, OptionName, SocketOptions, random_seed};
use super::pending::PendingHandshakes;
use super::shared::Shared;
use super::signal;
use super::transport::{self, Listener};
use crate::proto::{
    DisconnectReason, Origin, PeerInfo, RecvError, SendError, SendErrorKind, SocketType,
};

/// Every error a socket can give, for `?`: `bind`, `connect`, `unbind` and `disconnect`
/// return it, and the errors of options ([`OptionError`]), sends ([`SendError`], whose message
/// is dropped by the conversion) and receives ([`RecvError`]) convert into it.
///
/// A wrapped cause is returned by [`source`](std::error::Error::source), not repeated in the
/// message, so that error reporters (`anyhow`'s `{:#}`, ...) print each cause once; the wrapped
/// option, send and receive errors show as themselves.
///
/// ```
/// use std::error::Error as _;
/// use monocoque::PushSocket;
/// # compio::runtime::Runtime::new().unwrap().block_on(async {
/// let push = PushSocket::new();
/// let error = push.connect("tcp://127.0.0.1").unwrap_err();
/// assert_eq!(error.to_string(), "invalid endpoint");
/// assert_eq!(error.source().unwrap().to_string(), "no port in `127.0.0.1`");
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The endpoint string does not parse.
    #[error("invalid endpoint")]
    Endpoint(#[from] EndpointError),
    /// Binding failed (address in use, permission, unknown host...).
    #[error("cannot bind {endpoint}")]
    Bind {
        /// The endpoint as given.
        endpoint: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// `unbind` of an endpoint this socket is not bound to.
    #[error("not bound to {0}")]
    NotBound(String),
    /// `disconnect` of an endpoint this socket is not connected to.
    #[error("not connected to {0}")]
    NotConnected(String),
    /// `bind` or `connect` on a thread with no compio runtime: a socket's connections are
    /// tasks of the runtime of the thread that binds or connects it.
    #[error(
        "no compio runtime on this thread: bind and connect inside `compio::runtime::Runtime::block_on` or a `#[compio::main]` function"
    )]
    NoRuntime,
    /// An option refused (`with_options`, `set_options`).
    #[error(transparent)]
    Option(#[from] OptionError),
    /// A send failed. The message is not kept: match on [`SendError`] before `?` to retry it.
    #[error(transparent)]
    Send(#[from] SendErrorKind),
    /// A receive failed.
    #[error(transparent)]
    Recv(#[from] RecvError),
    /// The socket behind a handle is closed (`shutdown`, `stop`, or its context ended).
    #[error("the socket is closed")]
    Closed,
    /// What was asked is not offered (yet); the message says what to use instead.
    #[error("not supported: {0}")]
    Unsupported(&'static str),
    /// An I/O error from around the sockets (starting the runtime, ...), so that a function
    /// using sockets can return this type alone.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<SendError> for Error {
    fn from(error: SendError) -> Self {
        Self::Send(error.kind)
    }
}

impl Error {
    /// Whether this is a send or receive that timed out (`send_timeout`, `recv_timeout`).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::Send(SendErrorKind::TimedOut) | Self::Recv(RecvError::TimedOut)
        )
    }

    /// Whether this is a `try_send` or `try_recv` that would have had to wait.
    pub fn is_would_block(&self) -> bool {
        matches!(
            self,
            Self::Send(SendErrorKind::WouldBlock) | Self::Recv(RecvError::WouldBlock)
        )
    }
}

/// Fails with [`Error::NoRuntime`] outside a compio runtime, where spawning the connection tasks
/// would panic.
fn in_runtime() -> Result<(), Error> {
    compio::runtime::Runtime::try_with_current(|_| ()).map_err(|_| Error::NoRuntime)
}

/// A ZeroMQ socket of any type on the current compio runtime.
///
/// Created on a compio runtime thread and used there: its tasks run on that thread, and the
/// handle is not `Send`. Dropping it behaves like `zmq_close`: it returns at once, its listeners
/// close, and what it queued still goes out in the background (while the runtime runs) within
/// the linger time; [`close`](Self::close) waits for that.
#[derive(Debug)]
pub struct Socket {
    shared: Rc<Shared>,
    /// Shared with the tasks of [`follow`](Self::follow), which hold it weakly.
    endpoints: Rc<RefCell<Endpoints>>,
    /// `close` already waited out the linger time.
    lingered: std::cell::Cell<bool>,
}

#[derive(Debug, Default)]
struct Endpoints {
    bound: Vec<Bound>,
    connected: Vec<Connected>,
    last: Option<Endpoint>,
    /// The tasks of `follow`: stopped first when the socket closes.
    followers: Vec<Follower>,
}

/// A stream given to [`Socket::follow`], and the task that polls it.
type FollowStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = Follow>>>;

#[derive(Default)]
struct Follower {
    /// Dropped at once when the socket closes, not when the runtime gets to the cancelled
    /// task: what it owns (a registration) must end before `close` returns.
    stream: Rc<RefCell<Option<FollowStream>>>,
    task: Option<JoinHandle<()>>,
    /// What `close` waits for once the stream is dropped (a revocation to finish).
    closed: Option<std::pin::Pin<Box<dyn Future<Output = ()>>>>,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower").finish_non_exhaustive()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let stream = self.stream.borrow_mut().take();
        drop(stream);
        drop(self.task.take());
    }
}

/// A change to a socket's connections made from outside the socket, by service discovery: see
/// [`Socket::follow`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Follow {
    /// Connect to the endpoint, as [`Socket::connect`] does.
    Connect(Endpoint),
    /// Stop connecting to an endpoint this stream connected, as [`Socket::disconnect`] does.
    Disconnect(Endpoint),
    /// Report an event to the socket's monitors.
    Event(MonitorEvent),
}

#[derive(Debug)]
struct Bound {
    requested: Endpoint,
    actual: Endpoint,
    accept: JoinHandle<()>,
    connections: Rc<RefCell<Vec<JoinHandle<()>>>>,
    /// An `inproc://` name, freed with this.
    _name: Option<inproc::NameGuard>,
}

#[derive(Debug)]
struct Connected {
    endpoint: Endpoint,
    task: JoinHandle<()>,
}

impl Socket {
    /// A socket of `socket_type` with `options`; fails if an option does not apply to the type.
    pub fn new(socket_type: SocketType, options: SocketOptions) -> Result<Self, OptionError> {
        options.check(socket_type)?;
        Ok(Self {
            shared: Rc::new(Shared::new(socket_type, options)),
            endpoints: Rc::default(),
            lingered: std::cell::Cell::new(false),
        })
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        self.shared.socket_type
    }

    /// The options in force.
    pub fn options(&self) -> SocketOptions {
        self.shared.options.borrow().clone()
    }

    /// Changes options on the live socket. Routing switches and timeouts apply from the next
    /// call, high-water marks to peers attached afterwards, connection options (heartbeats,
    /// buffers, handshake interval) to connections made afterwards, as in libzmq.
    pub fn set_options(
        &self,
        change: impl FnOnce(SocketOptions) -> SocketOptions,
    ) -> Result<(), OptionError> {
        let options = change(self.options());
        options.check(self.shared.socket_type)?;
        let pattern = options.pattern_options();
        *self.shared.options.borrow_mut() = options;
        self.shared.with_core(|core| core.set_options(pattern));
        Ok(())
    }

    /// The peers this socket is connected to now (handshake done), each with what its
    /// handshake told: its routing id, socket type, security mechanism and metadata, including
    /// the `User-Id` a server's authenticator gave the client (libzmq's `zmq_msg_gets`).
    pub fn peers(&self) -> Vec<Peer> {
        self.shared.with_core(|core| {
            let pipes = core.pipes();
            pipes
                .ids()
                .iter()
                .filter_map(|&id| pipes.get(id))
                .filter_map(|pipe| {
                    pipe.peer().map(|info| Peer {
                        routing_id: pipe.routing_id().clone(),
                        info: info.clone(),
                    })
                })
                .collect()
        })
    }

    /// Starts a monitor: a stream of every connection event of this socket. Several monitors
    /// may watch one socket; each gets `MonitorStopped` when the socket is gone.
    pub fn monitor(&self) -> Monitor {
        self.shared.monitor(MonitorMask::ALL)
    }

    /// Starts a monitor of the events in `mask` only (libzmq's `zmq_socket_monitor` events
    /// argument); `MonitorStopped` always comes last.
    pub fn monitor_events(&self, mask: MonitorMask) -> Monitor {
        self.shared.monitor(mask)
    }

    /// Listens on `endpoint` (`tcp://host:port`, `tcp://*:port`, `tcp://127.0.0.1:0`,
    /// `ipc:///path`, `ipc://@name`) and returns the endpoint as bound, with the real port.
    pub async fn bind(&self, endpoint: &str) -> Result<Endpoint, Error> {
        in_runtime()?;
        let requested: Endpoint = endpoint.parse()?;
        if let Endpoint::Inproc(name) = &requested {
            return self.bind_inproc(endpoint, name.clone(), requested.clone());
        }
        let options = self.shared.options.borrow().clone();
        let (listener, actual) = match Listener::bind(&requested, &options).await {
            Ok(bound) => bound,
            Err(source) => {
                self.shared.emit(|| {
                    MonitorEvent::new(
                        MonitorEventKind::BindFailed {
                            error: source.to_string(),
                        },
                        endpoint,
                    )
                });
                return Err(Error::Bind {
                    endpoint: endpoint.to_owned(),
                    source,
                });
            }
        };
        let name: Rc<str> = actual.to_string().into();
        tracing::info!(endpoint = &*name, socket_type = %self.shared.socket_type, "listening");
        self.shared
            .emit(|| MonitorEvent::new(MonitorEventKind::Listening, &name));
        let connections = Rc::new(RefCell::new(Vec::new()));
        let accept = compio::runtime::spawn(accept_loop(
            self.shared.clone(),
            listener,
            name,
            connections.clone(),
        ));
        let mut endpoints = self.endpoints.borrow_mut();
        endpoints.last = Some(actual.clone());
        endpoints.bound.push(Bound {
            requested,
            actual: actual.clone(),
            accept,
            connections,
            _name: None,
        });
        Ok(actual)
    }

    fn bind_inproc(
        &self,
        endpoint: &str,
        name: String,
        requested: Endpoint,
    ) -> Result<Endpoint, Error> {
        let (listener, guard) = inproc::Listener::bind(&name).map_err(|source| {
            self.shared.emit(|| {
                MonitorEvent::new(
                    MonitorEventKind::BindFailed {
                        error: source.to_string(),
                    },
                    endpoint,
                )
            });
            Error::Bind {
                endpoint: endpoint.to_owned(),
                source,
            }
        })?;
        let label: Rc<str> = requested.to_string().into();
        self.shared
            .emit(|| MonitorEvent::new(MonitorEventKind::Listening, &label));
        let connections = Rc::new(RefCell::new(Vec::new()));
        let accept = compio::runtime::spawn(accept_inproc(
            self.shared.clone(),
            listener,
            label,
            connections.clone(),
        ));
        let mut endpoints = self.endpoints.borrow_mut();
        endpoints.last = Some(requested.clone());
        endpoints.bound.push(Bound {
            requested: requested.clone(),
            actual: requested.clone(),
            accept,
            connections,
            _name: Some(guard),
        });
        Ok(requested)
    }

    /// Connects to `endpoint` in the background, reconnecting whenever the connection is lost.
    ///
    /// Returns at once, as libzmq does: messages sent meanwhile wait in this endpoint's queue
    /// (up to the send high-water mark) and leave when the connection is up.
    pub fn connect(&self, endpoint: &str) -> Result<(), Error> {
        in_runtime()?;
        let endpoint: Endpoint = endpoint.parse()?;
        let id = self.shared.attach(Origin::Connect);
        self.start_connecting(endpoint, id);
        Ok(())
    }

    /// ROUTER: connects to `endpoint` as [`connect`](Self::connect) does, and knows the peer
    /// there by `routing_id` instead of the identity it announces (libzmq's
    /// `ZMQ_CONNECT_ROUTING_ID` followed by `zmq_connect`). The id is taken at once: messages
    /// sent to it wait for the connection, and it stays with this endpoint across
    /// reconnections. An id in use, or not 1 to 255 bytes starting with a non-zero byte, is an
    /// [`OptionError::InvalidValue`] (libzmq aborts the process on a clash).
    #[doc(alias = "ZMQ_CONNECT_ROUTING_ID")]
    pub fn connect_with_routing_id(
        &self,
        endpoint: &str,
        routing_id: impl Into<Bytes>,
    ) -> Result<(), Error> {
        in_runtime()?;
        let endpoint: Endpoint = endpoint.parse()?;
        let routing_id = routing_id.into();
        let id = self
            .shared
            .with_core(|core| core.attach_with_routing_id(routing_id))
            .map_err(|reason| {
                let option = OptionName::ConnectRoutingId;
                if self.shared.socket_type == SocketType::Router {
                    OptionError::InvalidValue { option, reason }
                } else {
                    OptionError::NotApplicable {
                        option,
                        socket_type: self.shared.socket_type,
                    }
                }
            })?;
        self.start_connecting(endpoint, id);
        Ok(())
    }

    fn start_connecting(&self, endpoint: Endpoint, id: PeerId) {
        start_connecting(&self.shared, &self.endpoints, endpoint, id);
    }

    /// Stops listening on `endpoint` (as given to `bind`, or as returned by it) and closes the
    /// connections accepted there.
    pub fn unbind(&self, endpoint: &str) -> Result<(), Error> {
        let wanted: Endpoint = endpoint.parse()?;
        let removed = {
            let mut endpoints = self.endpoints.borrow_mut();
            let pos = endpoints
                .bound
                .iter()
                .position(|b| b.actual == wanted || b.requested == wanted)
                .ok_or_else(|| Error::NotBound(endpoint.to_owned()))?;
            endpoints.bound.remove(pos)
        };
        self.shared
            .emit(|| MonitorEvent::new(MonitorEventKind::Closed, &removed.actual.to_string()));
        close_bound(removed);
        Ok(())
    }

    /// Stops connecting to `endpoint` and drops its queue.
    pub fn disconnect(&self, endpoint: &str) -> Result<(), Error> {
        let wanted: Endpoint = endpoint.parse()?;
        let removed = {
            let mut endpoints = self.endpoints.borrow_mut();
            let pos = endpoints
                .connected
                .iter()
                .position(|c| c.endpoint == wanted)
                .ok_or_else(|| Error::NotConnected(endpoint.to_owned()))?;
            endpoints.connected.remove(pos)
        };
        drop(removed.task);
        Ok(())
    }

    /// Lets `changes` connect and disconnect this socket, and report events on its monitors,
    /// until the stream ends or the socket closes: the driver side of service discovery, which
    /// keeps a socket connected to every live instance of a service.
    ///
    /// The stream is polled on this socket's thread and dropped when the socket closes, before
    /// the linger wait, so that what it owns (a registration, a watch) ends first. Connections
    /// it made stay when it ends.
    pub fn follow(
        &self,
        changes: impl futures_util::Stream<Item = Follow> + 'static,
    ) -> Result<(), Error> {
        self.follow_then(changes, std::future::ready(()))
    }

    /// As [`follow`](Self::follow), and [`close`](Self::close) waits for `closed` after
    /// dropping the stream: for what the stream's end starts and must finish before the
    /// socket is gone (a registration's revocation). Dropping the socket does not wait.
    pub fn follow_then(
        &self,
        changes: impl futures_util::Stream<Item = Follow> + 'static,
        closed: impl Future<Output = ()> + 'static,
    ) -> Result<(), Error> {
        in_runtime()?;
        let shared = self.shared.clone();
        let endpoints = Rc::downgrade(&self.endpoints);
        let stream: Rc<RefCell<Option<FollowStream>>> =
            Rc::new(RefCell::new(Some(Box::pin(changes))));
        let polled = Rc::downgrade(&stream);
        let next = move || {
            std::future::poll_fn({
                let polled = polled.clone();
                move |cx| {
                    let Some(stream) = polled.upgrade() else {
                        return std::task::Poll::Ready(None);
                    };
                    let mut stream = stream.borrow_mut();
                    match stream.as_mut() {
                        Some(stream) => stream.as_mut().poll_next(cx),
                        None => std::task::Poll::Ready(None),
                    }
                }
            })
        };
        let task = compio::runtime::spawn(async move {
            while let Some(change) = next().await {
                // Gone with the socket: nothing left to change.
                let Some(endpoints) = endpoints.upgrade() else {
                    break;
                };
                match change {
                    Follow::Connect(endpoint) => {
                        let id = shared.attach(Origin::Connect);
                        start_connecting(&shared, &endpoints, endpoint, id);
                    }
                    Follow::Disconnect(endpoint) => {
                        let removed = {
                            let mut endpoints = endpoints.borrow_mut();
                            let pos = endpoints
                                .connected
                                .iter()
                                .position(|c| c.endpoint == endpoint);
                            pos.map(|pos| endpoints.connected.remove(pos))
                        };
                        drop(removed);
                    }
                    Follow::Event(event) => shared.emit(|| event),
                }
            }
        });
        self.endpoints.borrow_mut().followers.push(Follower {
            stream,
            task: Some(task),
            closed: Some(Box::pin(closed)),
        });
        Ok(())
    }

    /// Every endpoint this socket listens on, as bound (with the real port), in bind order.
    pub fn bound_endpoints(&self) -> Vec<Endpoint> {
        let endpoints = self.endpoints.borrow();
        endpoints.bound.iter().map(|b| b.actual.clone()).collect()
    }

    /// The endpoint of the last `bind` (with its real port) or `connect` (libzmq's
    /// `ZMQ_LAST_ENDPOINT`).
    pub fn last_endpoint(&self) -> Option<Endpoint> {
        self.endpoints.borrow().last.clone()
    }

    /// Sends a message, waiting while the pattern has no peer that can take it, for at most the
    /// send timeout.
    ///
    /// Cancel-safe: if the future is dropped before it returns `Ready`, nothing was sent, so a
    /// caller that retries sends the message once. The message is queued in the same poll that
    /// returns `Ready`; every wait comes before it.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        // Lets the connection tasks run before a send that follows SEND_BUDGET sends that did not
        // wait. A PUB or ROUTER never waits (it drops at the high-water mark), so a loop of sends
        // would otherwise fill every queue before a single byte went out, and drop the rest. The
        // turn comes before the message is queued, so a send dropped during it did nothing.
        if self.shared.sends_in_a_row.get() >= SEND_BUDGET {
            self.shared.sends_in_a_row.set(0);
            YieldNow(false).await;
        }
        // The common case needs no listener (each costs an allocation and a lock).
        let mut message = match self.try_send(message) {
            Err(error) if error.kind == SendErrorKind::WouldBlock => error.message,
            Ok(()) => {
                self.shared
                    .sends_in_a_row
                    .set(self.shared.sends_in_a_row.get() + 1);
                return Ok(());
            }
            other => return other,
        };
        self.shared.sends_in_a_row.set(0);
        let deadline = self
            .shared
            .options
            .borrow()
            .send_timeout
            .map(|t| Instant::now() + t);
        loop {
            let listener = self.shared.send_ready.listen();
            match self.try_send(message) {
                Err(error) if error.kind == SendErrorKind::WouldBlock => message = error.message,
                other => return other,
            }
            if !wait(listener, deadline).await {
                return Err(SendError {
                    kind: SendErrorKind::TimedOut,
                    message,
                });
            }
        }
    }

    /// Sends a message if that is possible without waiting.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        self.shared.with_core(|core| core.send(message.into()))
    }

    /// Receives a message, waiting for at most the receive timeout. Cancel-safe: a dropped
    /// future has taken nothing.
    pub async fn recv(&self) -> Result<Message, RecvError> {
        self.recv_with(|| self.try_recv()).await
    }

    /// Receives every message ready, up to `max`, into `into`, waiting for the first: the
    /// number received (at least one, unless `max` is 0). One borrow of the socket for the lot,
    /// so a busy receiver pays the per-call costs once per batch instead of once per message.
    ///
    /// Cancel-safe as [`recv`](Self::recv): the messages are taken in the poll that returns
    /// them. An error after the first message ends the batch; the next call reports it.
    pub async fn recv_many(&self, into: &mut Vec<Message>, max: usize) -> Result<usize, RecvError> {
        if max == 0 {
            return Ok(0);
        }
        self.recv_with(|| self.try_recv_many(into, max)).await
    }

    /// Runs `attempt` until it has something other than `WouldBlock` to say, waiting between
    /// tries for the socket's receive side to change, within the receive timeout. Whatever
    /// `attempt` takes, it takes in the poll that returns it: dropped, this took nothing.
    async fn recv_with<T>(
        &self,
        mut attempt: impl FnMut() -> Result<T, RecvError>,
    ) -> Result<T, RecvError> {
        match attempt() {
            Err(RecvError::WouldBlock) => {}
            other => return other,
        }
        let deadline = self
            .shared
            .options
            .borrow()
            .recv_timeout
            .map(|t| Instant::now() + t);
        loop {
            let listener = self.shared.recv_ready.listen();
            match attempt() {
                Err(RecvError::WouldBlock) => {}
                other => return other,
            }
            if !wait(listener, deadline).await {
                return Err(RecvError::TimedOut);
            }
        }
    }

    /// Receives every message ready, up to `max`, into `into`, without waiting: the number
    /// received, or `RecvError::WouldBlock` if none was ready.
    pub fn try_recv_many(&self, into: &mut Vec<Message>, max: usize) -> Result<usize, RecvError> {
        if max == 0 {
            return Ok(0);
        }
        self.shared.with_core(|core| {
            let mut taken = 0;
            while taken < max {
                match core.recv() {
                    Ok(message) => {
                        into.push(message);
                        taken += 1;
                    }
                    Err(error) if taken == 0 => return Err(error),
                    Err(_) => break,
                }
            }
            if self.shared.recv_ready.has_waiters() && core.can_recv() {
                self.shared.recv_ready.notify(1);
            }
            Ok(taken)
        })
    }

    /// Receives a message if one is ready.
    pub fn try_recv(&self) -> Result<Message, RecvError> {
        self.shared.with_core(|core| {
            let result = core.recv();
            // Another task waiting on this socket can take the next one; asked only when there
            // is such a task, in the same borrow.
            if result.is_ok() && self.shared.recv_ready.has_waiters() && core.can_recv() {
                self.shared.recv_ready.notify(1);
            }
            result
        })
    }

    /// Subscribes (SUB, XSUB) to messages starting with `topic`; on an XPUB with
    /// `xpub_manual`, subscribes the peer whose subscription the application saw last.
    pub fn subscribe(&self, topic: impl Into<Bytes>) {
        self.shared.with_core(|core| core.subscribe(topic));
    }

    /// Cancels one subscription to `topic` (SUB, XSUB; XPUB with `xpub_manual`).
    pub fn unsubscribe(&self, topic: impl Into<Bytes>) {
        self.shared.with_core(|core| core.unsubscribe(topic));
    }

    /// Waits until at least one peer has completed its handshake, for at most `timeout` (`None`:
    /// as long as it takes). Returns whether one has: the cure for the slow joiner, a PUB that
    /// publishes before its subscribers are there.
    pub async fn wait_connected(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            // Every completed handshake notifies `send_ready`.
            let listener = self.shared.send_ready.listen();
            if self.connected_peers() > 0 {
                return true;
            }
            if !wait(listener, deadline).await {
                return self.connected_peers() > 0;
            }
        }
    }

    /// The number of peers with a live connection.
    pub fn connected_peers(&self) -> usize {
        let core = self.shared.core.borrow();
        core.pipes()
            .ids()
            .iter()
            .filter(|id| core.pipes().get(**id).is_some_and(|p| p.peer().is_some()))
            .count()
    }

    /// Waits until every queued message has been written (to a peer that is connected, or to
    /// the peer of a `connect` endpoint once it connects), for at most the linger time, then
    /// closes. Dropping the socket does the same in the background and returns at once.
    pub async fn close(self) {
        // A registration is revoked before the linger wait, not after.
        let followers = std::mem::take(&mut self.endpoints.borrow_mut().followers);
        let closed: Vec<_> = followers
            .into_iter()
            .filter_map(|mut follower| follower.closed.take())
            .collect();
        for closed in closed {
            closed.await;
        }
        let linger = self.shared.options.borrow().linger;
        flush(&self.shared, linger).await;
        self.lingered.set(true);
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // Take the handles out first: cancelling a task runs its guards, which use the socket.
        let endpoints = std::mem::take(&mut *self.endpoints.borrow_mut());
        drop(endpoints.followers);
        // No new peers, as zmq_close: the listeners go now, their connections stay for now.
        let mut accepted = Vec::new();
        for bound in endpoints.bound {
            self.shared
                .emit(|| MonitorEvent::new(MonitorEventKind::Closed, &bound.actual.to_string()));
            drop(bound.accept);
            accepted.push(bound.connections);
        }
        let tasks = Tasks {
            accepted,
            connected: endpoints.connected,
        };
        let linger = self.shared.options.borrow().linger;
        if self.lingered.get() || linger == Some(Duration::ZERO) || self.shared.is_flushed() {
            shut_down(&self.shared, tasks);
            return;
        }
        // What is queued goes out in the background within the linger time, then the
        // connections close. Outside a runtime there is nothing left to run them.
        let shared = self.shared.clone();
        let lingering = compio::runtime::Runtime::try_with_current(|runtime| {
            runtime.spawn(async move {
                flush(&shared, linger).await;
                shut_down(&shared, tasks);
            })
        });
        match lingering {
            Ok(task) => task.detach(),
            Err(_) => {
                for signals in self.shared.all_signals() {
                    signals.close();
                }
                self.shared.stop_monitor();
            }
        }
    }
}

/// The tasks that serve a socket's connections.
struct Tasks {
    accepted: Vec<Rc<RefCell<Vec<JoinHandle<()>>>>>,
    connected: Vec<Connected>,
}

/// Closes every connection of a socket that is gone, and its monitor.
fn shut_down(shared: &Shared, tasks: Tasks) {
    for signals in shared.all_signals() {
        signals.close();
    }
    for connections in tasks.accepted {
        let connections = std::mem::take(&mut *connections.borrow_mut());
        drop(connections);
    }
    drop(tasks.connected);
    shared.stop_monitor();
}

/// Waits until everything queued has been written, for at most `linger` (`None`: forever).
async fn flush(shared: &Shared, linger: Option<Duration>) {
    let flushed = async {
        loop {
            let listener = shared.flushed.listen();
            if shared.is_flushed() {
                break;
            }
            listener.await;
        }
    };
    match linger {
        Some(linger) => {
            let _ = compio::time::timeout(linger, flushed).await;
        }
        None => flushed.await,
    }
}

/// Sends in a row without waiting before a sender gives the runtime a turn: small enough that a
/// socket's writers keep queues well under the default high-water mark, large enough that their
/// writes stay batched (a turn costs one task switch).
const SEND_BUDGET: u32 = 256;

/// Returns `Pending` once, after waking itself: the runtime runs other ready tasks and polls
/// for completed I/O before resuming the caller.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// Waits for `listener` until `deadline`; `false` if the deadline passed first.
async fn wait(listener: signal::Listener, deadline: Option<Instant>) -> bool {
    match deadline {
        None => {
            listener.await;
            true
        }
        Some(deadline) => {
            matches!(
                select(listener, pin!(compio::time::sleep_until(deadline))).await,
                Either::Left(_)
            )
        }
    }
}

fn start_connecting(
    shared: &Rc<Shared>,
    endpoints: &RefCell<Endpoints>,
    endpoint: Endpoint,
    id: PeerId,
) {
    tracing::info!(%endpoint, socket_type = %shared.socket_type, "connecting");
    let task = match &endpoint {
        Endpoint::Inproc(name) => compio::runtime::spawn(connect_inproc(
            shared.clone(),
            name.clone(),
            endpoint.to_string().into(),
            id,
        )),
        _ => compio::runtime::spawn(connect_loop(shared.clone(), endpoint.clone(), id)),
    };
    let mut endpoints = endpoints.borrow_mut();
    endpoints.last = Some(endpoint.clone());
    endpoints.connected.push(Connected { endpoint, task });
}

fn close_bound(bound: Bound) {
    // Dropping the handles cancels the tasks; their guards detach the pipes.
    drop(bound.accept);
    let connections = std::mem::take(&mut *bound.connections.borrow_mut());
    drop(connections);
}

async fn accept_loop(
    shared: Rc<Shared>,
    listener: Listener,
    endpoint: Rc<str>,
    connections: Rc<RefCell<Vec<JoinHandle<()>>>>,
) {
    let pending = PendingHandshakes::default();
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let admitted = {
                    let options = shared.options.borrow();
                    pending.admit(
                        stream.peer_ip(),
                        options.max_pending_handshakes,
                        options.max_pending_per_address,
                    )
                };
                let guard = match admitted {
                    Ok(guard) => guard,
                    Err(refused) => {
                        // Closed before a byte is read: a flood of connections that never
                        // complete a handshake costs a file descriptor for a moment, no more.
                        shared.emit(|| {
                            MonitorEvent::new(
                                MonitorEventKind::AcceptFailed {
                                    error: refused.to_string(),
                                },
                                &endpoint,
                            )
                            .peer(stream.peer_address().as_deref())
                        });
                        drop(stream);
                        continue;
                    }
                };
                shared.emit(|| {
                    MonitorEvent::new(MonitorEventKind::Accepted, &endpoint)
                        .peer(stream.peer_address().as_deref())
                });
                let task = compio::runtime::spawn({
                    let shared = shared.clone();
                    let endpoint = endpoint.clone();
                    async move {
                        let _end =
                            serve(shared, stream, PipeFor::Accepted, endpoint, Some(guard)).await;
                    }
                });
                let mut connections = connections.borrow_mut();
                connections.retain(|c| !c.is_finished());
                connections.push(task);
            }
            Err(error) => {
                shared.emit(|| {
                    MonitorEvent::new(
                        MonitorEventKind::AcceptFailed {
                            error: error.to_string(),
                        },
                        &endpoint,
                    )
                });
                // Out of file descriptors and the like: give the system a moment instead of
                // spinning on the same error.
                compio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn accept_inproc(
    shared: Rc<Shared>,
    listener: inproc::Listener,
    endpoint: Rc<str>,
    connections: Rc<RefCell<Vec<JoinHandle<()>>>>,
) {
    loop {
        let link = listener.accept().await;
        let task = compio::runtime::spawn({
            let shared = shared.clone();
            let endpoint = endpoint.clone();
            async move {
                let _end = inproc::serve(
                    shared,
                    link,
                    inproc::Side::Bind,
                    PipeFor::Accepted,
                    endpoint,
                )
                .await;
            }
        });
        let mut connections = connections.borrow_mut();
        connections.retain(|c| !c.is_finished());
        connections.push(task);
    }
}

/// Links to the socket bound to `name`, now or once one binds, and again after it goes (as a
/// stream endpoint reconnects).
async fn connect_inproc(shared: Rc<Shared>, name: String, endpoint: Rc<str>, id: PeerId) {
    let _owner = PipeOwner {
        shared: shared.clone(),
        id,
    };
    let mut backoff = backoff(&shared.options.borrow());
    loop {
        let link = inproc::connect(&name);
        let end = inproc::serve(
            shared.clone(),
            link,
            inproc::Side::Connect,
            PipeFor::Connecting(id),
            endpoint.clone(),
        )
        .await;
        if !end.allows_reconnect() || !shared.options.borrow().reconnect {
            return;
        }
        if end == DisconnectReason::PeerClosed {
            // The binder went away after a working link: the next one may come at once.
            backoff = self::backoff(&shared.options.borrow());
            continue;
        }
        // Refused by the pattern (a second PAIR peer, a routing id in use): not in a loop.
        let interval = backoff.next().unwrap_or(Duration::from_millis(100));
        shared.emit(|| MonitorEvent::new(MonitorEventKind::ConnectRetried { interval }, &endpoint));
        compio::time::sleep(interval).await;
    }
}

async fn connect_loop(shared: Rc<Shared>, endpoint: Endpoint, id: PeerId) {
    // The pipe belongs to this task: cancelling it (disconnect, drop) removes the pipe.
    let _owner = PipeOwner {
        shared: shared.clone(),
        id,
    };
    let name: Rc<str> = endpoint.to_string().into();
    let mut backoff = backoff(&shared.options.borrow());
    loop {
        let options = shared.options.borrow().clone();
        let attempt = match options.connect_timeout {
            Some(limit) => compio::time::timeout(limit, transport::connect(&endpoint, &options))
                .await
                .unwrap_or_else(|_| {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "connect timed out",
                    ))
                }),
            None => transport::connect(&endpoint, &options).await,
        };
        match attempt {
            Ok(stream) => {
                shared.emit(|| {
                    MonitorEvent::new(MonitorEventKind::Connected, &name)
                        .peer(stream.peer_address().as_deref())
                });
                let end = serve(
                    shared.clone(),
                    stream,
                    PipeFor::Connecting(id),
                    name.clone(),
                    None,
                )
                .await;
                if !end.allows_reconnect() {
                    // As libzmq: a peer that breaks the protocol (wrong socket type, bad greeting,
                    // an ERROR command) is not retried; the endpoint and its queue are dropped.
                    return;
                }
                if !matches!(
                    end,
                    DisconnectReason::HandshakeTimeout | DisconnectReason::Refused
                ) {
                    // The connection worked: the next failure starts from the first interval.
                    backoff = self::backoff(&shared.options.borrow());
                }
            }
            Err(error) => {
                tracing::debug!(endpoint = &*name, %error, "connect failed; will retry");
                shared.emit(|| {
                    MonitorEvent::new(
                        MonitorEventKind::ConnectDelayed {
                            error: error.to_string(),
                        },
                        &name,
                    )
                });
            }
        }
        if !shared.options.borrow().reconnect {
            // `ZMQ_RECONNECT_IVL` -1: one attempt, one connection. The endpoint is given up and
            // its queue dropped (`disconnect` still finds it, as libzmq keeps its name).
            tracing::debug!(endpoint = &*name, "not reconnecting (reconnect off)");
            return;
        }
        let interval = backoff.next().unwrap_or(Duration::from_millis(100));
        tracing::debug!(endpoint = &*name, ?interval, "reconnecting");
        shared.emit(|| MonitorEvent::new(MonitorEventKind::ConnectRetried { interval }, &name));
        compio::time::sleep(interval).await;
    }
}

/// The reconnection delays: `reconnect_interval`, doubling up to `reconnect_interval_max` with
/// jitter of up to one interval, as libzmq.
fn backoff(options: &SocketOptions) -> Backoff {
    let interval = options.reconnect_interval;
    match options.reconnect_interval_max.filter(|max| *max > interval) {
        Some(max) => Backoff::new(interval, max)
            .jitter(1.0)
            .seed(u64::from(random_seed())),
        None => Backoff::new(interval, interval),
    }
}

struct PipeOwner {
    shared: Rc<Shared>,
    id: PeerId,
}

impl Drop for PipeOwner {
    fn drop(&mut self) {
        self.shared.detach(self.id);
    }
}

/// A connected peer, as [`Socket::peers`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Peer {
    /// The routing id this socket knows the peer by (a ROUTER's; for other socket types, the
    /// identity the peer announced, or empty).
    pub routing_id: Bytes,
    /// What the handshake told about the peer.
    pub info: PeerInfo,
}

impl Peer {
    /// A property of the peer's metadata: `Socket-Type`, `Identity`, `User-Id` (set by a PLAIN
    /// or CURVE server's authenticator), or an application's `X-` property.
    pub fn property(&self, name: &str) -> Option<&Bytes> {
        self.info.metadata.get(name)
    }

    /// The user id a server's authenticator gave this client (`User-Id`), if any.
    pub fn user_id(&self) -> Option<&Bytes> {
        self.property(crate::proto::USER_ID)
    }
}
