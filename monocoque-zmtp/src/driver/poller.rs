//! `zmq_poll` for handles: wait on several at once from blocking code.

use std::time::{Duration, Instant};

use super::handle::Handle;
use super::mailbox::thread_waker;

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
                let ready = handle.readiness(*interest);
                (ready.readable || ready.writable).then_some((i, ready))
            })
            .collect()
    }

    /// Waits until at least one handle is ready, for at most `timeout` (`None`: as long as it
    /// takes), and returns the ready ones; empty when the time ran out.
    pub fn wait(&self, timeout: Option<Duration>) -> Vec<(usize, Interest)> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let waker = thread_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        loop {
            // Listen first, then look: a change after the look wakes the listeners.
            let mut listeners: Vec<_> = self
                .items
                .iter()
                .flat_map(|(handle, interest)| handle.listen(*interest))
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
