//! Thread-safe handles: sockets that live on background I/O threads, used from any thread and
//! any async runtime.
//!
//! A [`Context`] owns the I/O threads, each running a compio runtime; the sockets of the handles
//! are tasks there, so their I/O goes on whether or not the caller polls anything. A [`Handle`]
//! is `Send + Sync + Clone`: clones share the socket (cloned senders feed one queue, cloned
//! receivers compete for messages).
//!
//! Messages cross between the caller's thread and the I/O thread through two bounded queues
//! ([`HANDLE_QUEUE`] messages each way), on top of the socket's own high-water marks: a
//! `send` that returns `Ok` has handed its message to the socket's side, and backpressure from
//! the socket reaches the caller once that queue is full. Neither side wakes the other per
//! message: a parked side is woken once, and then drains all it finds.
//!
//! REQ and REP keep their lock-step rule on the handle's side, where an out-of-turn send or
//! receive can still fail with `InvalidState`; `req_relaxed` is not offered on a REQ handle.

use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use event_listener::{Event, Listener};
use futures_util::future::{Either, select};
use monocoque_core::{Endpoint, Message};

use super::context::{Context, Job, Live, ON_IO_THREAD, not_on_io_thread};
use super::mailbox::{Mailbox, Outbox};
use super::monitor::{Monitor, MonitorMask};
use super::options::SocketOptions;
use super::poller::Interest;
use super::socket::{Error, Peer, Socket};
use crate::proto::{RecvError, SendError, SendErrorKind, SocketType};

/// Messages each way between a handle and its socket, on top of the socket's high-water marks
/// (none in a direction whose high-water mark is 0 when the handle is made: that direction has
/// no limit at all, as the option asks).
pub const HANDLE_QUEUE: usize = 1024;

/// Something to do with the socket, on its thread.
type Work = Box<dyn FnOnce(&Rc<Socket>, &Tasks) + Send>;

/// The tasks commands started on the socket's thread (a `bind`, a `wait_connected`): cancelled
/// when the socket closes, so that none keeps it open.
type Tasks = std::cell::RefCell<Vec<compio::runtime::JoinHandle<()>>>;

enum Command {
    Run(Work),
    /// Close: sent by `shutdown` and by the last handle's drop.
    Close,
}

/// The options without the timeouts, which a handle keeps on its own side.
fn without_timeouts(options: SocketOptions) -> SocketOptions {
    let send = options.is_set(super::options::OptionName::SendTimeout);
    let recv = options.is_set(super::options::OptionName::RecvTimeout);
    let mut options = options;
    if send {
        options = options.send_timeout(None);
    }
    if recv {
        options = options.recv_timeout(None);
    }
    options
}

/// What a handle cannot offer: an answer that only the socket's side knows at send time.
fn check_handle_options(socket_type: SocketType, options: &SocketOptions) -> Result<(), Error> {
    if socket_type == SocketType::Req && options.req_relaxed_value() {
        return Err(Error::Unsupported(
            "req_relaxed on a REQ handle: use a DEALER handle, or the REQ socket on a compio thread",
        ));
    }
    if socket_type == SocketType::Router && options.router_mandatory_value() {
        return Err(Error::Unsupported(
            "router_mandatory on a ROUTER handle: a queued send cannot report an unknown peer; \
             use the ROUTER socket on a compio thread",
        ));
    }
    Ok(())
}

/// A socket on a [`Context`]'s I/O thread, usable from any thread and any async runtime.
///
/// Blocking methods (`send`, `recv`, `bind`, ...) park the calling thread; the `_async` ones
/// are futures that need no particular runtime. On a context's own I/O thread (in a closure
/// given to `set_options`, say) a blocking call would wait for itself: there, `send` and
/// `recv` do what they can without waiting, and the other blocking calls fail with
/// `Error::Unsupported`. Every async method keeps the sockets' cancel
/// contract: dropped before it returns `Ready`, it did nothing.
#[derive(Debug, Clone)]
pub struct Handle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    socket_type: SocketType,
    /// `None` only while dropping.
    ends: Option<Ends>,
    /// What the handles send, for the socket to take.
    outgoing: Arc<Outbox>,
    /// What the socket received, for the handles to take.
    incoming: Arc<Mailbox>,
    /// The socket has finished closing.
    closed: Arc<Closed>,
    timeouts: Mutex<(Option<Duration>, Option<Duration>)>,
    /// REQ: a request went and its reply has not been taken. REP: a request was taken and its
    /// reply has not gone. The lock-step rule is kept here, where a send or receive can still
    /// fail with it; the socket's side then never sees an out-of-turn call.
    turn: Mutex<bool>,
    _context: Context,
}

#[derive(Debug, Default)]
struct Closed {
    done: std::sync::atomic::AtomicBool,
    event: Event,
}

impl Closed {
    fn set(&self) {
        self.done.store(true, Ordering::Release);
        self.event.notify(usize::MAX);
    }

    fn is_set(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    fn wait(&self) {
        loop {
            let listener = self.event.listen();
            if self.is_set() {
                return;
            }
            listener.wait();
        }
    }

    async fn wait_async(&self) {
        loop {
            let listener = self.event.listen();
            if self.is_set() {
                return;
            }
            listener.await;
        }
    }
}

/// The handles' ends of the queues to the socket's task.
#[derive(Debug)]
struct Ends {
    commands: flume::Sender<Command>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: close as `zmq_close` does, in the background.
        let Some(ends) = self.ends.take() else { return };
        self.incoming.abandon();
        let close = move || {
            let _ = ends.commands.send(Command::Close);
            drop(ends);
        };
        if std::thread::panicking() {
            // Waking the socket's task from a thread that is unwinding makes compio abort the
            // process; a thread of its own does it instead.
            let _ = std::thread::Builder::new()
                .name("monocoque-close".into())
                .spawn(close);
        } else {
            close();
        }
    }
}

impl Inner {
    fn ends(&self) -> &Ends {
        self.ends
            .as_ref()
            .unwrap_or_else(|| unreachable!("the ends go only with the last handle"))
    }
}

impl Handle {
    /// A socket of `socket_type` on one of `context`'s I/O threads.
    pub fn new(
        context: &Context,
        socket_type: SocketType,
        options: SocketOptions,
    ) -> Result<Self, Error> {
        not_on_io_thread()?;
        options.check(socket_type)?;
        check_handle_options(socket_type, &options)?;
        let timeouts = (options.send_timeout, options.recv_timeout);
        // The timeouts are the handle's: the socket's side waits for as long as it takes, or a
        // timeout there would end its pumps.
        let options = without_timeouts(options);
        let (commands, command_queue) = flume::unbounded::<Command>();
        // Half in the queue, half in the batch the socket's side has taken from it. A
        // high-water mark of 0 (no limit, as in libzmq) makes that direction's queue unbounded
        // too: the only way to ask for one.
        let unbounded_if = |hwm: usize, bound: usize| if hwm == 0 { usize::MAX } else { bound };
        let outgoing = Arc::new(Outbox::new(unbounded_if(
            options.send_hwm_value(),
            HANDLE_QUEUE / 2,
        )));
        let incoming = Arc::new(Mailbox::new(unbounded_if(
            options.recv_hwm_value(),
            HANDLE_QUEUE,
        )));
        let closed = Arc::new(Closed::default());
        let live = context.inner.live.clone();
        let (made, made_rx) = flume::bounded(1);
        let actor = Actor {
            commands: command_queue,
            outgoing: outgoing.clone(),
            incoming: incoming.clone(),
            closed: closed.clone(),
            live: live.clone(),
        };
        live.add();
        let job: Job = Box::new(move || match Socket::new(socket_type, options) {
            Ok(socket) => {
                let _ = made.send(Ok(()));
                compio::runtime::spawn(actor.run(socket)).detach();
            }
            Err(error) => {
                let _ = made.send(Err(error));
                actor.closed.set();
                actor.live.remove();
            }
        });
        if context.pick().jobs.send(job).is_err() {
            live.remove();
            return Err(Error::Closed);
        }
        made_rx.recv().map_err(|_| Error::Closed)??;
        Ok(Self {
            inner: Arc::new(Inner {
                socket_type,
                ends: Some(Ends { commands }),
                outgoing,
                incoming,
                closed,
                timeouts: Mutex::new(timeouts),
                turn: Mutex::new(false),
                _context: context.clone(),
            }),
        })
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        self.inner.socket_type
    }

    /// Runs `f` on the socket, on its I/O thread, and hands back its result.
    fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Socket) -> R + Send + 'static,
    ) -> Result<R, Error> {
        not_on_io_thread()?;
        let (reply, result) = flume::bounded(1);
        self.inner
            .ends()
            .commands
            .send(Command::Run(Box::new(
                move |socket: &Rc<Socket>, _: &Tasks| {
                    let _ = reply.send(f(socket));
                },
            )))
            .map_err(|_| Error::Closed)?;
        result.recv().map_err(|_| Error::Closed)
    }

    /// Runs the future `f` makes on the socket's I/O thread; the receiver gets its output.
    fn spawn<R, F, Fut>(&self, f: F) -> Result<flume::Receiver<R>, Error>
    where
        R: Send + 'static,
        F: FnOnce(Rc<Socket>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
    {
        let (reply, result) = flume::bounded(1);
        self.inner
            .ends()
            .commands
            .send(Command::Run(Box::new(
                move |socket: &Rc<Socket>, tasks: &Tasks| {
                    let future = f(socket.clone());
                    let task = compio::runtime::spawn(async move {
                        let _ = reply.send(future.await);
                    });
                    let mut tasks = tasks.borrow_mut();
                    tasks.retain(|t| !t.is_finished());
                    tasks.push(task);
                },
            )))
            .map_err(|_| Error::Closed)?;
        Ok(result)
    }

    /// Binds `endpoint` (see the compio socket's `bind`) and returns it as bound.
    pub fn bind(&self, endpoint: &str) -> Result<Endpoint, Error> {
        not_on_io_thread()?;
        let endpoint = endpoint.to_owned();
        self.spawn(move |socket| async move { socket.bind(&endpoint).await })?
            .recv()
            .map_err(|_| Error::Closed)?
    }

    /// [`bind`](Self::bind) as a future.
    pub async fn bind_async(&self, endpoint: &str) -> Result<Endpoint, Error> {
        let endpoint = endpoint.to_owned();
        self.spawn(move |socket| async move { socket.bind(&endpoint).await })?
            .recv_async()
            .await
            .map_err(|_| Error::Closed)?
    }

    /// Connects to `endpoint` in the background, reconnecting as the socket's options say.
    pub fn connect(&self, endpoint: &str) -> Result<(), Error> {
        let endpoint = endpoint.to_owned();
        self.call(move |socket| socket.connect(&endpoint))?
    }

    /// Stops listening on `endpoint`.
    pub fn unbind(&self, endpoint: &str) -> Result<(), Error> {
        let endpoint = endpoint.to_owned();
        self.call(move |socket| socket.unbind(&endpoint))?
    }

    /// Lets `changes` connect and disconnect the socket and report on its monitors, on the
    /// socket's thread, until the stream ends or the socket closes: see
    /// [`Socket::follow`](super::Socket::follow).
    pub fn follow(
        &self,
        changes: impl futures_util::Stream<Item = super::Follow> + Send + 'static,
    ) -> Result<(), Error> {
        self.call(move |socket| socket.follow(changes))?
    }

    /// As [`follow`](Self::follow), and the socket's close waits for `closed` after dropping
    /// the stream: see [`Socket::follow_then`](super::Socket::follow_then).
    pub fn follow_then(
        &self,
        changes: impl futures_util::Stream<Item = super::Follow> + Send + 'static,
        closed: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        self.call(move |socket| socket.follow_then(changes, closed))?
    }

    /// Every endpoint the socket listens on, as bound (with the real port), in bind order.
    pub fn bound_endpoints(&self) -> Result<Vec<Endpoint>, Error> {
        self.call(|socket| socket.bound_endpoints())
    }

    /// Stops connecting to `endpoint`.
    pub fn disconnect(&self, endpoint: &str) -> Result<(), Error> {
        let endpoint = endpoint.to_owned();
        self.call(move |socket| socket.disconnect(&endpoint))?
    }

    /// The options in force.
    pub fn options(&self) -> Result<SocketOptions, Error> {
        let (send, recv) = *self
            .inner
            .timeouts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.call(move |socket| socket.options().send_timeout(send).recv_timeout(recv))
    }

    /// Changes options on the live socket, as the compio socket's `set_options`.
    pub fn set_options(
        &self,
        change: impl FnOnce(SocketOptions) -> SocketOptions + Send + 'static,
    ) -> Result<(), Error> {
        let (send, recv) = *self
            .inner
            .timeouts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let socket_type = self.inner.socket_type;
        let (send, recv) = self.call(move |socket| {
            let mut timeouts = (send, recv);
            let result = socket.set_options(|options| {
                let changed = change(options.send_timeout(send).recv_timeout(recv));
                timeouts = (changed.send_timeout, changed.recv_timeout);
                without_timeouts(changed)
            });
            result.map_err(Error::from).and_then(|()| {
                check_handle_options(socket_type, &socket.options())?;
                Ok(timeouts)
            })
        })??;
        *self
            .inner
            .timeouts
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = (send, recv);
        Ok(())
    }

    /// A monitor of every event of the socket; it can be read from any thread.
    pub fn monitor(&self) -> Result<Monitor, Error> {
        self.call(|socket| socket.monitor())
    }

    /// A monitor of the events in `mask`.
    pub fn monitor_events(&self, mask: MonitorMask) -> Result<Monitor, Error> {
        self.call(move |socket| socket.monitor_events(mask))
    }

    /// Subscribes (SUB, XSUB) to `topic`.
    pub fn subscribe(&self, topic: impl Into<Bytes>) -> Result<(), Error> {
        let topic = topic.into();
        self.call(move |socket| socket.subscribe(topic))
    }

    /// Cancels one subscription to `topic`.
    pub fn unsubscribe(&self, topic: impl Into<Bytes>) -> Result<(), Error> {
        let topic = topic.into();
        self.call(move |socket| socket.unsubscribe(topic))
    }

    /// The number of peers with a live connection.
    pub fn connected_peers(&self) -> Result<usize, Error> {
        self.call(|socket| socket.connected_peers())
    }

    /// The peers connected now, with their routing ids and metadata (the `User-Id` a PLAIN or
    /// CURVE server's authenticator gave each client): see [`Socket::peers`].
    pub fn peers(&self) -> Result<Vec<Peer>, Error> {
        self.call(|socket| socket.peers())
    }

    /// The endpoint of the last `bind` or `connect`.
    pub fn last_endpoint(&self) -> Result<Option<Endpoint>, Error> {
        self.call(|socket| socket.last_endpoint())
    }

    /// Waits until a peer has completed its handshake, for at most `timeout`.
    pub fn wait_connected(&self, timeout: Option<Duration>) -> Result<bool, Error> {
        not_on_io_thread()?;
        self.spawn(move |socket| async move { socket.wait_connected(timeout).await })?
            .recv()
            .map_err(|_| Error::Closed)
    }

    fn can_send(&self) -> Result<(), SendErrorKind> {
        if matches!(self.inner.socket_type, SocketType::Pull | SocketType::Sub) {
            Err(SendErrorKind::NotSupported)
        } else {
            Ok(())
        }
    }

    fn can_recv(&self) -> Result<(), RecvError> {
        if matches!(self.inner.socket_type, SocketType::Push | SocketType::Pub) {
            Err(RecvError::NotSupported)
        } else {
            Ok(())
        }
    }

    /// Queues `message` for the socket if there is room now; otherwise `WouldBlock` with the
    /// message back.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        let message = message.into();
        if let Err(kind) = self.can_send() {
            return Err(SendError::new(kind, message));
        }
        if message.is_empty() {
            return Err(SendError::new(SendErrorKind::InvalidMessage, message));
        }
        let Some(req) = self.lock_step() else {
            return self.queue(message);
        };
        // REQ may send when no reply is awaited, REP when a request awaits its reply; the turn
        // changes with the push, under one lock, so that two clones cannot both pass.
        let mut turn = self.inner.turn.lock().unwrap_or_else(|e| e.into_inner());
        if *turn == req {
            return Err(SendError::new(SendErrorKind::InvalidState, message));
        }
        self.queue(message)?;
        *turn = req;
        Ok(())
    }

    /// Pushes `message` to the socket's side if the queue has room.
    fn queue(&self, message: Message) -> Result<(), SendError> {
        self.inner.outgoing.try_push(message)
    }

    /// Sends `message`, blocking while the socket cannot take it, for at most the send timeout
    /// (`SocketOptions::send_timeout`).
    pub fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        // The timeout matters only to a send that has to wait.
        let message = match self.try_send(message) {
            Err(error) if error.kind == SendErrorKind::WouldBlock => error.message,
            other => return other,
        };
        let timeout = self.timeouts().0;
        self.send_deadline(message, timeout.map(|t| Instant::now() + t))
    }

    fn timeouts(&self) -> (Option<Duration>, Option<Duration>) {
        *self
            .inner
            .timeouts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// One attempt to queue `message`, and a second after listening for room if the first
    /// found none: then the message and the listener come back, to wait on.
    fn try_send_or_listen(
        &self,
        message: Message,
    ) -> Result<Result<(), SendError>, (Message, event_listener::EventListener)> {
        let message = match self.try_send(message) {
            Err(error) if error.kind == SendErrorKind::WouldBlock => error.message,
            other => return Ok(other),
        };
        let listener = self.inner.outgoing.listen_room();
        match self.try_send(message) {
            Err(error) if error.kind == SendErrorKind::WouldBlock => Err((error.message, listener)),
            other => Ok(other),
        }
    }

    /// Sends `message`, blocking for at most `timeout`.
    pub fn send_timeout(
        &self,
        message: impl Into<Message>,
        timeout: Duration,
    ) -> Result<(), SendError> {
        self.send_deadline(message.into(), Some(Instant::now() + timeout))
    }

    fn send_deadline(
        &self,
        mut message: Message,
        deadline: Option<Instant>,
    ) -> Result<(), SendError> {
        if ON_IO_THREAD.get() {
            // Waiting here would wait for this very thread: what can go now goes.
            return self.try_send(message);
        }
        loop {
            let listener;
            (message, listener) = match self.try_send_or_listen(message) {
                Ok(result) => return result,
                Err(waiting) => waiting,
            };
            match deadline {
                None => listener.wait(),
                Some(deadline) => {
                    if listener.wait_deadline(deadline).is_none() && Instant::now() >= deadline {
                        return Err(SendError::new(SendErrorKind::TimedOut, message));
                    }
                }
            }
        }
    }

    /// [`send`](Self::send) as a future for any runtime. Cancel-safe: the message is queued in
    /// the poll that returns `Ready`, so a future dropped before that sent nothing.
    pub async fn send_async(&self, message: impl Into<Message>) -> Result<(), SendError> {
        let mut message = message.into();
        loop {
            let listener;
            (message, listener) = match self.try_send_or_listen(message) {
                Ok(result) => return result,
                Err(waiting) => waiting,
            };
            listener.await;
        }
    }

    /// `Some(true)` for REQ, `Some(false)` for REP, `None` for the other types.
    fn lock_step(&self) -> Option<bool> {
        match self.inner.socket_type {
            SocketType::Req => Some(true),
            SocketType::Rep => Some(false),
            _ => None,
        }
    }

    /// What of `interest` the handle is ready for now; a closed handle is ready for all of it
    /// (the call fails at once with `Closed`, as libzmq's poll reports a terminated socket).
    pub(super) fn readiness(&self, interest: Interest) -> Interest {
        if self.is_closed() {
            return interest;
        }
        Interest {
            readable: interest.readable
                && self.may_recv().is_ok()
                && !self.inner.incoming.is_empty(),
            writable: interest.writable && self.may_send() && !self.inner.outgoing.is_full(),
        }
    }

    /// Listeners that fire when the handle may have become ready for `interest`, or closed.
    pub(super) fn listen(&self, interest: Interest) -> Vec<event_listener::EventListener> {
        let mut listeners = vec![self.inner.closed.event.listen()];
        if interest.readable {
            listeners.push(self.inner.incoming.listen_arrived());
        }
        if interest.writable {
            listeners.push(self.inner.outgoing.listen_room());
        }
        listeners
    }

    /// Whether a send is in turn and possible for the type (REQ: no reply awaited; REP: a
    /// request awaits its reply).
    fn may_send(&self) -> bool {
        self.can_send().is_ok()
            && self
                .lock_step()
                .is_none_or(|req| *self.inner.turn.lock().unwrap_or_else(|e| e.into_inner()) != req)
    }

    /// Whether this receive is in turn (REQ: a reply is awaited; REP: no request is held).
    fn may_recv(&self) -> Result<(), RecvError> {
        self.can_recv()?;
        match self.lock_step() {
            Some(req) if *self.inner.turn.lock().unwrap_or_else(|e| e.into_inner()) != req => {
                Err(RecvError::InvalidState)
            }
            _ => Ok(()),
        }
    }

    fn took(&self) {
        if let Some(req) = self.lock_step() {
            *self.inner.turn.lock().unwrap_or_else(|e| e.into_inner()) = !req;
        }
    }

    /// Takes a received message if one is there.
    pub fn try_recv(&self) -> Result<Message, RecvError> {
        self.may_recv()?;
        let message = self.inner.incoming.try_pop()?;
        self.took();
        Ok(message)
    }

    /// Receives a message, blocking for at most the receive timeout
    /// (`SocketOptions::recv_timeout`).
    pub fn recv(&self) -> Result<Message, RecvError> {
        if ON_IO_THREAD.get() {
            // Waiting here would wait for this very thread.
            return self.try_recv();
        }
        // The timeout matters only to a receive that has to wait.
        match self.try_recv() {
            Err(RecvError::WouldBlock) => {}
            other => return other,
        }
        match self.timeouts().1 {
            Some(timeout) => self.recv_timeout(timeout),
            None => {
                self.may_recv()?;
                let message = self.inner.incoming.pop_blocking(None)?;
                self.took();
                Ok(message)
            }
        }
    }

    /// Receives a message, blocking for at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message, RecvError> {
        if ON_IO_THREAD.get() {
            return self.try_recv();
        }
        self.may_recv()?;
        let message = self
            .inner
            .incoming
            .pop_blocking(Some(Instant::now() + timeout))?;
        self.took();
        Ok(message)
    }

    /// [`recv`](Self::recv) as a future for any runtime (without the receive timeout: wrap it
    /// in your runtime's timeout). Cancel-safe: a dropped future took nothing.
    pub async fn recv_async(&self) -> Result<Message, RecvError> {
        self.may_recv()?;
        let message = self.inner.incoming.pop().await?;
        self.took();
        Ok(message)
    }

    /// The received messages, blocking for each, until the socket is closed.
    pub fn iter(&self) -> impl Iterator<Item = Message> + '_ {
        std::iter::from_fn(move || self.recv().ok())
    }

    /// The received messages as a [`Stream`](futures_util::Stream) for any runtime, ending
    /// when the socket is closed. Clones' streams compete for messages, as their `recv`s do.
    /// Dropping the stream between items takes nothing. Not for REQ and REP, whose receives
    /// must alternate with sends: `recv_async` keeps that rule.
    pub fn stream(&self) -> impl futures_util::Stream<Item = Message> + Send + Unpin + 'static {
        use futures_util::StreamExt;
        if self.can_recv().is_err() || self.lock_step().is_some() {
            return futures_util::stream::empty().left_stream();
        }
        futures_util::stream::unfold(self.clone(), |handle| async move {
            let message = handle.inner.incoming.pop().await.ok()?;
            handle.took();
            Some((message, handle))
        })
        .boxed()
        .right_stream()
    }

    /// A [`Sink`](futures_util::Sink) of messages for any runtime: `poll_ready` waits for room
    /// in the handle's queue, `start_send` queues. With clones sending at once, the room that
    /// `poll_ready` saw may be taken by another: `start_send` then fails with `WouldBlock`,
    /// the message in the error.
    pub fn sink(&self) -> HandleSink {
        HandleSink {
            handle: self.clone(),
            listener: None,
        }
    }

    /// Closes the socket for every clone: what was queued is written within the linger time
    /// (`SocketOptions::linger`), then this returns. Sends and receives on any clone fail with
    /// `Closed` afterwards.
    pub fn shutdown(&self) {
        let _ = self.inner.ends().commands.send(Command::Close);
        if ON_IO_THREAD.get() {
            // Waiting here would stop the thread that does the closing.
            return;
        }
        self.inner.closed.wait();
    }

    /// [`shutdown`](Self::shutdown) as a future.
    pub async fn shutdown_async(&self) {
        let _ = self.inner.ends().commands.send(Command::Close);
        self.inner.closed.wait_async().await;
    }

    /// Closes the socket for every clone at once, dropping what is queued (linger zero).
    pub fn stop(&self) {
        let _ = self.set_options(|o| o.linger(Some(Duration::ZERO)));
        self.shutdown();
    }

    /// Whether the socket has finished closing.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.is_set()
    }
}

/// The [`Sink`](futures_util::Sink) of [`Handle::sink`].
#[derive(Debug)]
pub struct HandleSink {
    handle: Handle,
    listener: Option<event_listener::EventListener>,
}

impl futures_util::Sink<Message> for HandleSink {
    type Error = SendError;

    fn poll_ready(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), SendError>> {
        use std::task::Poll;
        loop {
            let outgoing = &self.handle.inner.outgoing;
            if outgoing.is_closed() {
                return Poll::Ready(Err(SendError::new(SendErrorKind::Closed, Message::new())));
            }
            if !outgoing.is_full() {
                self.listener = None;
                return Poll::Ready(Ok(()));
            }
            match self.listener.as_mut() {
                None => self.listener = Some(self.handle.inner.outgoing.listen_room()),
                Some(listener) => {
                    if std::pin::Pin::new(listener).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    self.listener = None;
                }
            }
        }
    }

    fn start_send(self: std::pin::Pin<&mut Self>, message: Message) -> Result<(), SendError> {
        self.handle.try_send(message)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), SendError>> {
        // Queued is handed over: the socket's side writes it without being asked.
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), SendError>> {
        self.poll_flush(cx)
    }
}

/// The socket's side: one task on the I/O thread runs the commands and moves messages between
/// the socket and the handles' queues.
struct Actor {
    commands: flume::Receiver<Command>,
    outgoing: Arc<Outbox>,
    incoming: Arc<Mailbox>,
    closed: Arc<Closed>,
    live: Arc<Live>,
}

impl Actor {
    async fn run(self, socket: Socket) {
        let socket = Rc::new(socket);
        let sends = !matches!(socket.socket_type(), SocketType::Pull | SocketType::Sub);
        let receives = !matches!(socket.socket_type(), SocketType::Push | SocketType::Pub);
        let closing = Closing::default();
        let tasks = Tasks::default();
        let commands = async {
            while let Ok(Command::Run(command)) = self.commands.recv_async().await {
                command(&socket, &tasks);
            }
            closing.start();
        };
        let send_pump = async {
            if !sends {
                return;
            }
            // Everything the handles queued, taken under one lock per batch, without a wake-up
            // per message; the handles refill the queue while the batch goes out.
            let mut batch = std::collections::VecDeque::new();
            loop {
                let filled = {
                    let listener = closing.event.listen();
                    !closing.started()
                        && matches!(
                            select(pin!(self.outgoing.filled()), listener).await,
                            Either::Left(_)
                        )
                };
                if !filled {
                    break;
                }
                self.outgoing.take_all(&mut batch);
                let mut open = true;
                while let Some(message) = batch.pop_front() {
                    open = send_until_closed(&socket, message, &closing).await;
                    if !open {
                        break;
                    }
                }
                if !open {
                    batch.clear();
                    break;
                }
            }
            // Closing: what the handles queued still goes, within the linger time.
            batch.extend(self.outgoing.close());
            for message in batch {
                if !send_until_closed(&socket, message, &closing).await {
                    break;
                }
            }
        };
        let recv_pump = async {
            if !receives {
                return std::future::pending::<()>().await;
            }
            // A batch per hand-over: what the socket has ready, as much as fits.
            let mut batch = Vec::new();
            loop {
                self.incoming.wait_for_room().await;
                if self.incoming.is_abandoned() {
                    break;
                }
                let Ok(message) = socket.recv().await else {
                    break;
                };
                batch.push(message);
                let room = self.incoming.room();
                while batch.len() < room {
                    match socket.try_recv() {
                        Ok(message) => batch.push(message),
                        Err(_) => break,
                    }
                }
                self.incoming.push(&mut batch);
            }
            std::future::pending::<()>().await
        };
        let lock_step = async {
            // REQ: a request, then its reply; REP: a request, then the reply to it.
            let req = socket.socket_type() == SocketType::Req;
            loop {
                if req {
                    self.outgoing.filled().await;
                    let Some(request) = self.outgoing.take_one() else {
                        continue;
                    };
                    if socket.send(request).await.is_err() {
                        break;
                    }
                }
                let Ok(message) = socket.recv().await else {
                    break;
                };
                if !self.deliver(message).await {
                    break;
                }
                if !req {
                    let reply = loop {
                        self.outgoing.filled().await;
                        if let Some(reply) = self.outgoing.take_one() {
                            break reply;
                        }
                    };
                    if socket.send(reply).await.is_err() {
                        break;
                    }
                }
            }
            std::future::pending::<()>().await;
        };
        if matches!(socket.socket_type(), SocketType::Req | SocketType::Rep) {
            drop((send_pump, recv_pump));
            let _ = select(pin!(commands), pin!(lock_step)).await;
            // What a REP was about to answer still goes, within the linger time.
            for message in self.outgoing.close() {
                if !send_until_closed(&socket, message, &closing).await {
                    break;
                }
            }
        } else {
            drop(lock_step);
            let until_closing = async {
                // The receive pump never ends by itself; it stops when the commands do.
                let _ = select(pin!(commands), pin!(recv_pump)).await;
            };
            futures_util::future::join(until_closing, send_pump).await;
        }
        // The handles' receivers see `Closed` once they have read what is queued, and their
        // senders `Closed` from now on.
        self.incoming.close();
        let _ = self.outgoing.close();
        // Commands still running (a `wait_connected` with no peer) end with the socket: their
        // callers get `Closed`. The runtime drops a cancelled task's future on its next turn.
        drop(tasks.take());
        for _ in 0..4 {
            if Rc::strong_count(&socket) == 1 {
                break;
            }
            compio::time::sleep(Duration::ZERO).await;
        }
        match Rc::try_unwrap(socket) {
            Ok(socket) => socket.close().await,
            // A command's task still holds it: dropping lingers in the background.
            Err(socket) => drop(socket),
        }
        self.closed.set();
        self.live.remove();
    }
}

impl Actor {
    /// Hands a received message to the handles, waiting while their queue is full. `false`
    /// when no handle is left to take it.
    async fn deliver(&self, message: Message) -> bool {
        self.incoming.wait_for_room().await;
        if self.incoming.is_abandoned() {
            return false;
        }
        self.incoming.push(&mut vec![message]);
        true
    }
}

/// The actor's closing phase: from then on, sends are bounded by the linger time.
#[derive(Default)]
struct Closing {
    since: std::cell::Cell<Option<Instant>>,
    event: Event,
}

impl Closing {
    fn start(&self) {
        self.since.set(Some(Instant::now()));
        self.event.notify(usize::MAX);
    }

    fn started(&self) -> bool {
        self.since.get().is_some()
    }
}

/// Hands `message` to the socket, waiting for room as long as the socket is open and for at
/// most the linger time once it is closing. `false` when nothing more can go: the socket is
/// closed or the linger time is over. A message the pattern refuses on its own (none can
/// reach here but by a bug: the handle checks first) is dropped, and the next may go.
async fn send_until_closed(socket: &Socket, message: Message, closing: &Closing) -> bool {
    let open = |result: Result<(), SendError>| !matches!(result, Err(error) if error.kind == SendErrorKind::Closed);
    let mut send = pin!(socket.send(message));
    if !closing.started() {
        // The closing phase is watched only while the send waits: most sends do not, and a
        // listener per message would cost a lock and an allocation each.
        let mut listener: Option<event_listener::EventListener> = None;
        let sent = std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(result) = send.as_mut().poll(cx) {
                return std::task::Poll::Ready(Some(result));
            }
            let listening = listener.get_or_insert_with(|| closing.event.listen());
            if closing.started() || std::pin::Pin::new(listening).poll(cx).is_ready() {
                return std::task::Poll::Ready(None);
            }
            std::task::Poll::Pending
        })
        .await;
        if let Some(result) = sent {
            return open(result);
        }
    }
    let Some(since) = closing.since.get() else {
        return false;
    };
    match socket.options().linger_value() {
        None => open(send.await),
        Some(linger) => {
            let left = (since + linger).saturating_duration_since(Instant::now());
            compio::time::timeout(left, send).await.is_ok_and(open)
        }
    }
}
