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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use event_listener::{Event, Listener};
use futures_util::future::{Either, select};
use monocoque_core::{Endpoint, Message};

use super::monitor::{Monitor, MonitorMask};
use super::options::SocketOptions;
use super::socket::{Error, Socket};
use crate::proto::{RecvError, SendError, SendErrorKind, SocketType};

/// Messages each way between a handle and its socket, on top of the socket's high-water marks.
pub const HANDLE_QUEUE: usize = 1024;

type Job = Box<dyn FnOnce() + Send>;

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

std::thread_local! {
    /// Whether this thread is an I/O thread of a context: a blocking call into a handle here
    /// would wait for work that only this thread can do.
    static ON_IO_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Refuses a blocking call on an I/O thread, where it would wait for itself for ever.
fn not_on_io_thread() -> Result<(), Error> {
    if ON_IO_THREAD.get() {
        Err(Error::Unsupported(
            "a blocking handle call on a context's I/O thread would wait for itself: use the \
             compio sockets there, or the handle's async methods",
        ))
    } else {
        Ok(())
    }
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

/// Background I/O threads for [`Handle`]s, as libzmq's context.
///
/// [`Context::global`] needs no set-up; [`Context::new`] makes one with its own threads.
/// Dropping the last reference lets its threads end once their sockets are closed;
/// [`term`](Self::term) waits for that, as `zmq_ctx_term` does.
///
/// ```
/// use monocoque_zmtp::driver::{Context, Handle, SocketOptions};
/// use monocoque_zmtp::proto::SocketType;
///
/// let context = Context::new(1)?;
/// let pull = Handle::new(&context, SocketType::Pull, SocketOptions::new())?;
/// let endpoint = pull.bind("tcp://127.0.0.1:0")?;
/// let push = Handle::new(&context, SocketType::Push, SocketOptions::new())?;
/// push.connect(&endpoint.to_string())?;
/// // A plain thread sends; this one receives.
/// let sender = std::thread::spawn(move || push.send("from a thread"));
/// assert_eq!(pull.recv()?, "from a thread".into());
/// sender.join().unwrap()?;
/// drop(pull);
/// context.term(); // every socket closed: the threads are joined
/// # Ok::<(), monocoque_zmtp::driver::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Context {
    inner: Arc<ContextInner>,
}

#[derive(Debug)]
struct ContextInner {
    threads: Vec<IoThread>,
    next: AtomicUsize,
    live: Arc<Live>,
}

#[derive(Debug)]
struct IoThread {
    jobs: flume::Sender<Job>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Sockets of a context that have not finished closing.
#[derive(Debug, Default)]
struct Live {
    count: Mutex<usize>,
    done: Condvar,
}

impl Live {
    fn add(&self) {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }

    fn remove(&self) {
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        *count -= 1;
        if *count == 0 {
            self.done.notify_all();
        }
    }

    fn wait_none(&self) {
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        while *count > 0 {
            count = self.done.wait(count).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Context {
    /// A context with `io_threads` I/O threads (at least one), each a compio runtime; sockets
    /// are spread over them in turn.
    pub fn new(io_threads: usize) -> Result<Self, Error> {
        static CONTEXTS: AtomicUsize = AtomicUsize::new(0);
        let id = CONTEXTS.fetch_add(1, Ordering::Relaxed);
        let mut threads = Vec::new();
        for n in 0..io_threads.max(1) {
            let (jobs, queue) = flume::unbounded::<Job>();
            let (started, start) = flume::bounded(1);
            let thread = std::thread::Builder::new()
                // Linux shows 15 bytes of a thread's name: `mq-io-<context>-<thread>`.
                .name(format!("mq-io-{id}-{n}"))
                .spawn(move || {
                    let runtime = match compio::runtime::Runtime::new() {
                        Ok(runtime) => runtime,
                        Err(error) => {
                            let _ = started.send(Err(error));
                            return;
                        }
                    };
                    let _ = started.send(Ok(()));
                    ON_IO_THREAD.set(true);
                    runtime.block_on(async move {
                        while let Ok(job) = queue.recv_async().await {
                            job();
                        }
                    });
                })?;
            start
                .recv()
                .map_err(|_| std::io::Error::other("the I/O thread ended at start"))??;
            threads.push(IoThread {
                jobs,
                thread: Mutex::new(Some(thread)),
            });
        }
        Ok(Self {
            inner: Arc::new(ContextInner {
                threads,
                next: AtomicUsize::new(0),
                live: Arc::default(),
            }),
        })
    }

    /// The process-wide context, with one I/O thread, made on first use.
    pub fn global() -> Result<&'static Self, Error> {
        static GLOBAL: OnceLock<Context> = OnceLock::new();
        if let Some(context) = GLOBAL.get() {
            return Ok(context);
        }
        let context = Self::new(1)?;
        Ok(GLOBAL.get_or_init(|| context))
    }

    /// The number of I/O threads.
    pub fn io_threads(&self) -> usize {
        self.inner.threads.len()
    }

    /// The name of this context's I/O threads, before the thread's number (`mq-io-3-`), as
    /// debuggers and `/proc` show them.
    pub fn thread_name_prefix(&self) -> Result<String, Error> {
        let name = self.inner.threads[0]
            .thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|t| t.thread().name().map(str::to_owned))
            .ok_or(Error::Closed)?;
        Ok(name[..=name.rfind('-').unwrap_or(0)].to_owned())
    }

    /// Waits until every socket of this context is closed (its handles dropped or closed, and
    /// what it queued written within its linger time), then ends the I/O threads and joins
    /// them, as `zmq_ctx_term`. Blocks for ever while a handle is alive, as libzmq does. Called
    /// on one of the context's own I/O threads it returns at once instead of waiting for itself.
    pub fn term(self) {
        if ON_IO_THREAD.get() {
            // Its own thread cannot wait for itself: the threads end when their sockets do.
            return;
        }
        self.inner.live.wait_none();
        for thread in &self.inner.threads {
            // An empty job wakes the loop; dropping every sender ends it. Other clones of the
            // context keep their senders, so the threads are only joined if this was the last.
            let _ = thread.jobs.send(Box::new(|| {}));
        }
        // The last handle's drop, on another thread, may still be letting go of its reference
        // to the context just after its socket closed.
        let deadline = Instant::now() + Duration::from_secs(1);
        while Arc::strong_count(&self.inner) > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Ok(inner) = Arc::try_unwrap(self.inner) {
            let handles: Vec<_> = inner
                .threads
                .into_iter()
                .filter_map(|t| {
                    drop(t.jobs);
                    t.thread.into_inner().unwrap_or_else(|e| e.into_inner())
                })
                .collect();
            for handle in handles {
                let _ = handle.join();
            }
        }
    }

    fn pick(&self) -> &IoThread {
        let n = self.inner.next.fetch_add(1, Ordering::Relaxed);
        &self.inner.threads[n % self.inner.threads.len()]
    }
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
    /// Room appeared in `outgoing` (the I/O side took messages).
    outgoing_room: Arc<Event>,
    /// Room appeared in `incoming` (a caller took a message).
    incoming_room: Arc<Event>,
    /// A message arrived in `incoming` (for pollers; free when nobody listens).
    arrived: Arc<Event>,
    /// The socket has finished closing.
    closed: Arc<Closed>,
    timeouts: Mutex<(Option<Duration>, Option<Duration>)>,
    /// REQ: a request went and its reply has not been taken. REP: a request was taken and its
    /// reply has not gone. The lock-step rule is kept here, where a send or receive can still
    /// fail with it; the socket's side then never sees an out-of-turn call.
    turn: Mutex<bool>,
    /// Messages taken from `incoming`, for waking the socket's side in batches.
    taken: AtomicUsize,
    _context: Context,
}

#[derive(Debug, Default)]
struct Closed {
    done: Mutex<bool>,
    signal: Condvar,
    event: Event,
}

impl Closed {
    fn set(&self) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.signal.notify_all();
        self.event.notify(usize::MAX);
    }

    fn is_set(&self) -> bool {
        *self.done.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait(&self) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            done = self.signal.wait(done).unwrap_or_else(|e| e.into_inner());
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
    outgoing: flume::Sender<Message>,
    incoming: flume::Receiver<Message>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: close as `zmq_close` does, in the background.
        let Some(ends) = self.ends.take() else { return };
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
        // Half in the queue, half in the batch the socket's side has taken from it.
        let (outgoing, outgoing_queue) = flume::bounded(HANDLE_QUEUE / 2);
        let (incoming_queue, incoming) = flume::bounded(HANDLE_QUEUE);
        let outgoing_room = Arc::new(Event::new());
        let incoming_room = Arc::new(Event::new());
        let arrived = Arc::new(Event::new());
        let closed = Arc::new(Closed::default());
        let live = context.inner.live.clone();
        let (made, made_rx) = flume::bounded(1);
        let actor = Actor {
            commands: command_queue,
            outgoing: outgoing_queue,
            incoming: incoming_queue,
            outgoing_room: outgoing_room.clone(),
            incoming_room: incoming_room.clone(),
            arrived: arrived.clone(),
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
                ends: Some(Ends {
                    commands,
                    outgoing,
                    incoming,
                }),
                outgoing_room,
                incoming_room,
                arrived,
                closed,
                timeouts: Mutex::new(timeouts),
                turn: Mutex::new(false),
                taken: AtomicUsize::new(0),
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
        let lock_step = self.lock_step();
        let mut turn = self.inner.turn.lock().unwrap_or_else(|e| e.into_inner());
        // REQ may send when no reply is awaited, REP when a request awaits its reply.
        if lock_step.is_some_and(|req| *turn == req) {
            return Err(SendError::new(SendErrorKind::InvalidState, message));
        }
        match self.inner.ends().outgoing.try_send(message) {
            Ok(()) => {
                if let Some(req) = lock_step {
                    *turn = req;
                }
                Ok(())
            }
            Err(flume::TrySendError::Full(message)) => {
                Err(SendError::new(SendErrorKind::WouldBlock, message))
            }
            Err(flume::TrySendError::Disconnected(message)) => {
                Err(SendError::new(SendErrorKind::Closed, message))
            }
        }
    }

    /// Sends `message`, blocking while the socket cannot take it, for at most the send timeout
    /// (`SocketOptions::send_timeout`).
    pub fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        let timeout = self
            .inner
            .timeouts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0;
        self.send_deadline(message.into(), timeout.map(|t| Instant::now() + t))
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
            match self.try_send(message) {
                Err(error) if error.kind == SendErrorKind::WouldBlock => message = error.message,
                other => return other,
            }
            let listener = self.inner.outgoing_room.listen();
            match self.try_send(message) {
                Err(error) if error.kind == SendErrorKind::WouldBlock => message = error.message,
                other => return other,
            }
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
            match self.try_send(message) {
                Err(error) if error.kind == SendErrorKind::WouldBlock => message = error.message,
                other => return other,
            }
            let listener = self.inner.outgoing_room.listen();
            match self.try_send(message) {
                Err(error) if error.kind == SendErrorKind::WouldBlock => message = error.message,
                other => return other,
            }
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
        // The socket's side, parked on a full queue, is woken once per quarter of it taken,
        // not once per message.
        if self.inner.taken.fetch_add(1, Ordering::Relaxed) % (HANDLE_QUEUE / 4) == 0 {
            self.inner.incoming_room.notify(1);
        }
    }

    /// Takes a received message if one is there.
    pub fn try_recv(&self) -> Result<Message, RecvError> {
        self.may_recv()?;
        match self.inner.ends().incoming.try_recv() {
            Ok(message) => {
                self.took();
                Ok(message)
            }
            Err(flume::TryRecvError::Empty) => Err(RecvError::WouldBlock),
            Err(flume::TryRecvError::Disconnected) => Err(RecvError::Closed),
        }
    }

    /// Receives a message, blocking for at most the receive timeout
    /// (`SocketOptions::recv_timeout`).
    pub fn recv(&self) -> Result<Message, RecvError> {
        if ON_IO_THREAD.get() {
            // Waiting here would wait for this very thread.
            return self.try_recv();
        }
        let timeout = self
            .inner
            .timeouts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1;
        match timeout {
            Some(timeout) => self.recv_timeout(timeout),
            None => {
                self.may_recv()?;
                let message = self
                    .inner
                    .ends()
                    .incoming
                    .recv()
                    .map_err(|_| RecvError::Closed)?;
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
        match self.inner.ends().incoming.recv_timeout(timeout) {
            Ok(message) => {
                self.took();
                Ok(message)
            }
            Err(flume::RecvTimeoutError::Timeout) => Err(RecvError::TimedOut),
            Err(flume::RecvTimeoutError::Disconnected) => Err(RecvError::Closed),
        }
    }

    /// [`recv`](Self::recv) as a future for any runtime (without the receive timeout: wrap it
    /// in your runtime's timeout). Cancel-safe: a dropped future took nothing.
    pub async fn recv_async(&self) -> Result<Message, RecvError> {
        self.may_recv()?;
        let message = self
            .inner
            .ends()
            .incoming
            .recv_async()
            .await
            .map_err(|_| RecvError::Closed)?;
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
        let handle = self.clone();
        let incoming = self.inner.ends().incoming.clone().into_stream();
        incoming
            .map(move |message| {
                handle.took();
                message
            })
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
            let outgoing = &self.handle.inner.ends().outgoing;
            if outgoing.is_disconnected() {
                return Poll::Ready(Err(SendError::new(SendErrorKind::Closed, Message::new())));
            }
            if !outgoing.is_full() {
                self.listener = None;
                return Poll::Ready(Ok(()));
            }
            match self.listener.as_mut() {
                None => self.listener = Some(self.handle.inner.outgoing_room.listen()),
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
    outgoing: flume::Receiver<Message>,
    incoming: flume::Sender<Message>,
    outgoing_room: Arc<Event>,
    incoming_room: Arc<Event>,
    arrived: Arc<Event>,
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
            loop {
                let next = {
                    let listener = closing.event.listen();
                    if closing.started() {
                        None
                    } else {
                        match select(pin!(self.outgoing.recv_async()), listener).await {
                            Either::Left((Ok(message), _)) => Some(message),
                            Either::Left((Err(_), _)) | Either::Right(_) => None,
                        }
                    }
                };
                let Some(message) = next else { break };
                // Everything else that is waiting, taken under one lock of the queue, without
                // another wake-up; the handles may refill the queue while these go out.
                let batch: Vec<Message> = self.outgoing.drain().collect();
                self.outgoing_room.notify(usize::MAX);
                let mut open = send_until_closed(&socket, message, &closing).await;
                for message in batch {
                    if !open {
                        break;
                    }
                    open = send_until_closed(&socket, message, &closing).await;
                }
                if !open {
                    break;
                }
            }
            // Closing: what the handles queued still goes, within the linger time.
            while let Ok(message) = self.outgoing.try_recv() {
                if !send_until_closed(&socket, message, &closing).await {
                    break;
                }
            }
            self.outgoing_room.notify(usize::MAX);
        };
        let recv_pump = async {
            if !receives {
                return std::future::pending::<()>().await;
            }
            while let Ok(message) = socket.recv().await {
                if !self.deliver(message).await {
                    break;
                }
            }
            std::future::pending::<()>().await
        };
        let lock_step = async {
            // REQ: a request, then its reply; REP: a request, then the reply to it.
            let req = socket.socket_type() == SocketType::Req;
            loop {
                if req {
                    let Ok(request) = self.outgoing.recv_async().await else {
                        break;
                    };
                    self.outgoing_room.notify(usize::MAX);
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
                    let Ok(reply) = self.outgoing.recv_async().await else {
                        break;
                    };
                    self.outgoing_room.notify(usize::MAX);
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
            while let Ok(message) = self.outgoing.try_recv() {
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
        // The handles' receivers see `Closed` once they have read what is queued.
        drop(self.incoming);
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
    async fn deliver(&self, mut message: Message) -> bool {
        loop {
            match self.incoming.try_send(message) {
                Ok(()) => {
                    self.arrived.notify(usize::MAX);
                    return true;
                }
                Err(flume::TrySendError::Full(back)) => {
                    message = back;
                    let listener = self.incoming_room.listen();
                    if !self.incoming.is_full() {
                        continue;
                    }
                    listener.await;
                }
                Err(flume::TrySendError::Disconnected(_)) => return false,
            }
        }
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
        let listener = closing.event.listen();
        if !closing.started() {
            match select(send.as_mut(), listener).await {
                Either::Left((result, _)) => return open(result),
                Either::Right(((), _)) => {}
            }
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

/// What a [`Poller`] waits for on a handle, as `zmq_poll`'s `ZMQ_POLLIN` and `ZMQ_POLLOUT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interest {
    /// A message can be received without waiting.
    pub readable: bool,
    /// A message can be sent without waiting.
    pub writable: bool,
}

impl Interest {
    /// `ZMQ_POLLIN`.
    pub const READABLE: Self = Self {
        readable: true,
        writable: false,
    };
    /// `ZMQ_POLLOUT`.
    pub const WRITABLE: Self = Self {
        readable: false,
        writable: true,
    };
    /// Both.
    pub const BOTH: Self = Self {
        readable: true,
        writable: true,
    };
}

/// Waits on several handles at once, for blocking code: libzmq's `zmq_poll`.
///
/// ```
/// use std::time::Duration;
/// use monocoque_zmtp::driver::{Context, Handle, Interest, Poller, SocketOptions};
/// use monocoque_zmtp::proto::SocketType;
///
/// let context = Context::new(1)?;
/// let a = Handle::new(&context, SocketType::Pull, SocketOptions::new())?;
/// let b = Handle::new(&context, SocketType::Pull, SocketOptions::new())?;
/// let endpoint = b.bind("tcp://127.0.0.1:0")?;
/// let push = Handle::new(&context, SocketType::Push, SocketOptions::new())?;
/// push.connect(&endpoint.to_string())?;
///
/// let mut poller = Poller::new();
/// poller.add(&a, Interest::READABLE);
/// poller.add(&b, Interest::READABLE);
/// assert!(poller.wait(Some(Duration::from_millis(10))).is_empty()); // nothing yet
/// push.send("for b")?;
/// let ready = poller.wait(Some(Duration::from_secs(5)));
/// assert_eq!(ready, [(1, Interest::READABLE)]);
/// assert_eq!(b.try_recv()?, "for b".into());
/// # Ok::<(), monocoque_zmtp::driver::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct Poller {
    items: Vec<(Handle, Interest)>,
}

impl Poller {
    /// A poller with no handles.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `handle` (a clone of it) with what to wait for; its index is its place in the
    /// order of `add` calls.
    pub fn add(&mut self, handle: &Handle, interest: Interest) -> usize {
        self.items.push((handle.clone(), interest));
        self.items.len() - 1
    }

    /// The handles that are ready, by index, with what they are ready for.
    pub fn poll(&self) -> Vec<(usize, Interest)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, (handle, interest))| {
                if handle.is_closed() {
                    // What was asked for now fails at once with `Closed`: ready, as libzmq's
                    // poll reports a terminated socket.
                    return Some((i, *interest));
                }
                let ends = handle.inner.ends();
                let ready = Interest {
                    readable: interest.readable
                        && handle.may_recv().is_ok()
                        && !ends.incoming.is_empty(),
                    writable: interest.writable && handle.may_send() && !ends.outgoing.is_full(),
                };
                (ready.readable || ready.writable).then_some((i, ready))
            })
            .collect()
    }

    /// Waits until at least one handle is ready, for at most `timeout` (`None`: as long as it
    /// takes), and returns the ready ones; empty when the time ran out.
    pub fn wait(&self, timeout: Option<Duration>) -> Vec<(usize, Interest)> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = std::task::Context::from_waker(&waker);
        loop {
            // Listen first, then look: a change after the look wakes the listeners.
            let mut listeners: Vec<_> = self
                .items
                .iter()
                .flat_map(|(handle, interest)| {
                    let arrived = interest.readable.then(|| handle.inner.arrived.listen());
                    let room = interest
                        .writable
                        .then(|| handle.inner.outgoing_room.listen());
                    let closed = handle.inner.closed.event.listen();
                    arrived.into_iter().chain(room).chain([closed])
                })
                .collect();
            let ready = self.poll();
            if !ready.is_empty() {
                return ready;
            }
            let mut woken = false;
            for listener in &mut listeners {
                woken |= std::pin::Pin::new(listener).poll(&mut cx).is_ready();
            }
            if woken {
                continue;
            }
            match deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return self.poll();
                    }
                    std::thread::park_timeout(deadline - now);
                }
            }
        }
    }
}

/// Wakes the polling thread.
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}
