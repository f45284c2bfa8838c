//! The context of thread-safe handles: background I/O threads, each a compio runtime.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::socket::Error;

pub(super) type Job = Box<dyn FnOnce() + Send>;

std::thread_local! {
    /// Whether this thread is an I/O thread of a context: a blocking call into a handle here
    /// would wait for work that only this thread can do.
    pub(super) static ON_IO_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Refuses a blocking call on an I/O thread, where it would wait for itself for ever.
pub(super) fn not_on_io_thread() -> Result<(), Error> {
    if ON_IO_THREAD.get() {
        Err(Error::Unsupported(
            "a blocking handle call on a context's I/O thread would wait for itself: use the \
             compio sockets there, or the handle's async methods",
        ))
    } else {
        Ok(())
    }
}

/// Background I/O threads for [`Handle`](super::Handle)s, as libzmq's context.
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
    pub(super) inner: Arc<ContextInner>,
}

#[derive(Debug)]
pub(super) struct ContextInner {
    threads: Vec<IoThread>,
    next: AtomicUsize,
    pub(super) live: Arc<Live>,
}

#[derive(Debug)]
pub(super) struct IoThread {
    pub(super) jobs: flume::Sender<Job>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Sockets of a context that have not finished closing.
#[derive(Debug, Default)]
pub(super) struct Live {
    count: Mutex<usize>,
    done: Condvar,
}

impl Live {
    pub(super) fn add(&self) {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }

    pub(super) fn remove(&self) {
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

    pub(super) fn pick(&self) -> &IoThread {
        let n = self.inner.next.fetch_add(1, Ordering::Relaxed);
        &self.inner.threads[n % self.inner.threads.len()]
    }
}
