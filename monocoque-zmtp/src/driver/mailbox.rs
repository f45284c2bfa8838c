//! The queues between a socket's I/O thread and its handles. The I/O side moves a batch per
//! lock and wake-up (appends what it received, takes everything queued for sending); a handle
//! moves one message per lock. A queue of one message per lock on both sides made the lock's
//! cache line cross cores twice per message.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::time::Instant;

use event_listener::Event;
use futures_util::task::AtomicWaker;
use monocoque_core::Message;

use crate::proto::{RecvError, SendError, SendErrorKind};

/// Received messages, from the I/O side to the handles.
#[derive(Debug)]
pub(super) struct Mailbox {
    queue: Mutex<Queue>,
    /// The queue's length, readable without the lock.
    len: AtomicUsize,
    capacity: usize,
    /// Every handle is gone: nothing will be taken.
    abandoned: AtomicBool,
    /// `Queue::closed`, readable without the lock.
    closed: AtomicBool,
    /// Receivers waiting for messages (or for the I/O side to be done).
    receivers: Wakers,
    /// Messages arrived, for pollers (costs nothing while none listens).
    arrived: Event,
    /// A receiver took messages: room for the I/O side.
    room: Event,
    /// Messages taken since the I/O side was last told of room.
    taken: AtomicUsize,
}

#[derive(Debug, Default)]
struct Queue {
    messages: VecDeque<Message>,
    /// The I/O side will add nothing more.
    closed: bool,
}

impl Mailbox {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            queue: Mutex::default(),
            len: AtomicUsize::new(0),
            capacity,
            abandoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            receivers: Wakers::default(),
            arrived: Event::new(),
            room: Event::new(),
            taken: AtomicUsize::new(0),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many more messages fit.
    pub(super) fn room(&self) -> usize {
        self.capacity
            .saturating_sub(self.len.load(Ordering::Acquire))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len.load(Ordering::SeqCst) == 0
    }

    /// Appends `batch` (the I/O side checked the room) and wakes the receivers.
    pub(super) fn push(&self, batch: &mut Vec<Message>) {
        if batch.is_empty() {
            return;
        }
        {
            let mut queue = self.queue();
            queue.messages.extend(batch.drain(..));
            self.len.store(queue.messages.len(), Ordering::SeqCst);
        }
        self.receivers.wake_all();
        self.arrived.notify(usize::MAX);
    }

    /// The I/O side is done: receivers get `Closed` once they have taken what is queued.
    pub(super) fn close(&self) {
        let mut queue = self.queue();
        queue.closed = true;
        self.closed.store(true, Ordering::SeqCst);
        drop(queue);
        self.receivers.wake_all();
        self.arrived.notify(usize::MAX);
    }

    /// Every handle is gone.
    pub(super) fn abandon(&self) {
        self.abandoned.store(true, Ordering::Release);
        self.room.notify(usize::MAX);
    }

    pub(super) fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Acquire)
    }

    /// Takes the next message if there is one.
    pub(super) fn try_pop(&self) -> Result<Message, RecvError> {
        if self.is_empty() && !self.closed.load(Ordering::SeqCst) {
            // Nothing to lock for.
            return Err(RecvError::WouldBlock);
        }
        let mut queue = self.queue();
        match queue.messages.pop_front() {
            Some(message) => {
                let left = queue.messages.len();
                self.len.store(left, Ordering::Release);
                drop(queue);
                // The I/O side, waiting for room, is told once per quarter of the queue taken,
                // and whenever the queue runs dry.
                let taken = self.taken.fetch_add(1, Ordering::Relaxed) + 1;
                if left == 0 || taken >= self.capacity / 4 {
                    self.taken.store(0, Ordering::Relaxed);
                    self.room.notify(1);
                }
                Ok(message)
            }
            None if queue.closed => Err(RecvError::Closed),
            None => Err(RecvError::WouldBlock),
        }
    }

    /// Takes the next message, waiting until `deadline` (`None`: as long as it takes).
    pub(super) fn pop_blocking(&self, deadline: Option<Instant>) -> Result<Message, RecvError> {
        let waker = thread_waker();
        let mut waiting = Waiting {
            wakers: &self.receivers,
            id: None,
        };
        loop {
            match self.try_pop() {
                Err(RecvError::WouldBlock) => {}
                other => return other,
            }
            waiting.register(&waker);
            match self.try_pop() {
                Err(RecvError::WouldBlock) => {}
                other => return other,
            }
            match deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(RecvError::TimedOut);
                    }
                    std::thread::park_timeout(deadline - now);
                }
            }
        }
    }

    /// Takes the next message, waiting as a future. Cancel-safe: only the poll that returns
    /// `Ready` takes a message.
    pub(super) async fn pop(&self) -> Result<Message, RecvError> {
        let mut waiting = Waiting {
            wakers: &self.receivers,
            id: None,
        };
        std::future::poll_fn(|cx| {
            match self.try_pop() {
                Err(RecvError::WouldBlock) => {}
                other => return Poll::Ready(other),
            }
            waiting.register(cx.waker());
            match self.try_pop() {
                Err(RecvError::WouldBlock) => Poll::Pending,
                other => Poll::Ready(other),
            }
        })
        .await
    }

    /// Waits until there is room or every handle is gone.
    pub(super) async fn wait_for_room(&self) {
        loop {
            if self.room() > 0 || self.is_abandoned() {
                return;
            }
            let listener = self.room.listen();
            if self.room() > 0 || self.is_abandoned() {
                return;
            }
            listener.await;
        }
    }

    /// A listener that fires when messages arrive (for pollers).
    pub(super) fn listen_arrived(&self) -> event_listener::EventListener {
        self.arrived.listen()
    }
}

/// The queue of messages to send between the handles and a socket's I/O thread: each sender
/// appends one message per lock, the I/O side takes everything queued per lock and wake-up.
#[derive(Debug)]
pub(super) struct Outbox {
    queue: Mutex<OutQueue>,
    /// The queue's length, readable without the lock.
    len: AtomicUsize,
    capacity: usize,
    /// `OutQueue::closed`, readable without the lock.
    closed: AtomicBool,
    /// The I/O side's task, while it waits for messages: one waiter, woken with no lock held.
    waiter: AtomicWaker,
    /// The I/O side took messages, or closed.
    room: Event,
}

#[derive(Debug, Default)]
struct OutQueue {
    messages: VecDeque<Message>,
    /// The socket is closing: nothing more is taken.
    closed: bool,
    /// The I/O side is waiting for messages (its waker is registered).
    waiting: bool,
}

impl Outbox {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            queue: Mutex::default(),
            len: AtomicUsize::new(0),
            capacity,
            closed: AtomicBool::new(false),
            waiter: AtomicWaker::new(),
            room: Event::new(),
        }
    }

    fn queue(&self) -> MutexGuard<'_, OutQueue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn is_full(&self) -> bool {
        self.len.load(Ordering::Acquire) >= self.capacity
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Queues `message` if there is room: `WouldBlock` or `Closed` with it back otherwise.
    pub(super) fn try_push(&self, message: Message) -> Result<(), SendError> {
        if self.is_full() && !self.is_closed() {
            return Err(SendError::new(SendErrorKind::WouldBlock, message));
        }
        let mut queue = self.queue();
        if queue.closed {
            return Err(SendError::new(SendErrorKind::Closed, message));
        }
        if queue.messages.len() >= self.capacity {
            return Err(SendError::new(SendErrorKind::WouldBlock, message));
        }
        queue.messages.push_back(message);
        self.len.store(queue.messages.len(), Ordering::Release);
        let wake = std::mem::take(&mut queue.waiting);
        drop(queue);
        if wake {
            self.waiter.wake();
        }
        Ok(())
    }

    /// Moves everything queued into `into` (which must be empty), under one lock.
    pub(super) fn take_all(&self, into: &mut VecDeque<Message>) {
        debug_assert!(into.is_empty());
        let mut queue = self.queue();
        std::mem::swap(&mut queue.messages, into);
        self.len.store(0, Ordering::Release);
        drop(queue);
        if !into.is_empty() {
            self.room.notify(usize::MAX);
        }
    }

    /// Takes the first queued message.
    pub(super) fn take_one(&self) -> Option<Message> {
        let mut queue = self.queue();
        let message = queue.messages.pop_front();
        self.len.store(queue.messages.len(), Ordering::Release);
        drop(queue);
        if message.is_some() {
            self.room.notify(usize::MAX);
        }
        message
    }

    /// Refuses every later message and hands back what is still queued.
    pub(super) fn close(&self) -> VecDeque<Message> {
        let mut queue = self.queue();
        queue.closed = true;
        self.closed.store(true, Ordering::Release);
        let left = std::mem::take(&mut queue.messages);
        self.len.store(0, Ordering::Release);
        drop(queue);
        self.room.notify(usize::MAX);
        left
    }

    /// Waits until something is queued. For the I/O side's one task.
    pub(super) async fn filled(&self) {
        std::future::poll_fn(|cx| {
            if self.len.load(Ordering::Acquire) > 0 {
                return Poll::Ready(());
            }
            self.waiter.register(cx.waker());
            // Under the lock, a push either came before (and is seen) or sees the flag.
            let mut queue = self.queue();
            if !queue.messages.is_empty() {
                return Poll::Ready(());
            }
            queue.waiting = true;
            Poll::Pending
        })
        .await;
    }

    /// A listener that fires when room appears or the socket closes.
    pub(super) fn listen_room(&self) -> event_listener::EventListener {
        self.room.listen()
    }
}

/// The wakers of tasks and threads waiting on one side of a queue. Waking takes the list under
/// the lock and wakes after letting go of it: a woken thread that preempts the waker (one core,
/// or a busy machine) never finds the lock held, as it did with a list woken under its lock.
#[derive(Debug, Default)]
struct Wakers {
    list: Mutex<Vec<(u64, Waker)>>,
    /// The list's length, readable without the lock.
    waiting: AtomicUsize,
    next: AtomicUsize,
}

impl Wakers {
    fn list(&self) -> MutexGuard<'_, Vec<(u64, Waker)>> {
        self.list.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake_all(&self) {
        // SeqCst: the waker stored the queue's state and reads this; a waiter stores this and
        // reads the state again.
        if self.waiting.load(Ordering::SeqCst) == 0 {
            return;
        }
        let woken = {
            let mut list = self.list();
            self.waiting.store(0, Ordering::SeqCst);
            std::mem::take(&mut *list)
        };
        for (_, waker) in woken {
            waker.wake();
        }
    }
}

/// One waiter's place in a [`Wakers`] list, given up when dropped.
struct Waiting<'a> {
    wakers: &'a Wakers,
    id: Option<u64>,
}

impl Waiting<'_> {
    fn register(&mut self, waker: &Waker) {
        let mut list = self.wakers.list();
        let id = *self
            .id
            .get_or_insert_with(|| self.wakers.next.fetch_add(1, Ordering::Relaxed) as u64);
        match list.iter_mut().find(|(i, _)| *i == id) {
            Some((_, registered)) => registered.clone_from(waker),
            None => list.push((id, waker.clone())),
        }
        self.wakers.waiting.store(list.len(), Ordering::SeqCst);
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let Some(id) = self.id else { return };
        let mut list = self.wakers.list();
        list.retain(|(i, _)| *i != id);
        self.wakers.waiting.store(list.len(), Ordering::SeqCst);
    }
}

/// Wakes a parked thread.
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// A waker that unparks the calling thread: for the blocking waits of handles, pollers and the
/// handles' proxy.
pub(super) fn thread_waker() -> Waker {
    Waker::from(Arc::new(Unpark(std::thread::current())))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use monocoque_core::Message;

    use super::{Mailbox, Outbox};
    use crate::proto::{RecvError, SendErrorKind};

    fn num(n: u32) -> Message {
        Message::single(Bytes::copy_from_slice(&n.to_be_bytes()))
    }

    fn read(message: &Message) -> u32 {
        let mut bytes = [0; 4];
        bytes.copy_from_slice(&message[0]);
        u32::from_be_bytes(bytes)
    }

    /// Batches pushed while four threads block on the mailbox: every message is taken exactly
    /// once, and every receiver ends with `Closed` (no wake-up lost, none left waiting).
    #[test]
    fn blocked_receivers_take_every_batch_once() {
        const TOTAL: u32 = 100_000;
        let mailbox = Arc::new(Mailbox::new(64));
        let receivers: Vec<_> = (0..4)
            .map(|_| {
                let mailbox = mailbox.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        match mailbox.pop_blocking(Some(Instant::now() + Duration::from_secs(10))) {
                            Ok(message) => got.push(read(&message)),
                            Err(RecvError::Closed) => return got,
                            Err(other) => panic!("{other:?}"),
                        }
                    }
                })
            })
            .collect();
        let mut next = 0;
        let mut batch = Vec::new();
        let runtime = compio::runtime::Runtime::new().unwrap();
        while next < TOTAL {
            runtime.block_on(mailbox.wait_for_room());
            let room = mailbox.room().min(17);
            for _ in 0..room.min((TOTAL - next) as usize) {
                batch.push(num(next));
                next += 1;
            }
            mailbox.push(&mut batch);
        }
        mailbox.close();
        let mut all: Vec<u32> = receivers
            .into_iter()
            .flat_map(|r| r.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..TOTAL).collect::<Vec<_>>());
    }

    #[test]
    fn a_receive_times_out_and_a_closed_mailbox_says_so_after_its_messages() {
        let mailbox = Mailbox::new(4);
        let start = Instant::now();
        let waited = mailbox.pop_blocking(Some(start + Duration::from_millis(20)));
        assert_eq!(waited, Err(RecvError::TimedOut));
        assert!(start.elapsed() >= Duration::from_millis(20));
        mailbox.push(&mut vec![num(1)]);
        mailbox.close();
        assert_eq!(mailbox.try_pop().map(|m| read(&m)), Ok(1));
        assert_eq!(mailbox.try_pop(), Err(RecvError::Closed));
    }

    #[test]
    fn an_outbox_refuses_past_its_capacity_and_after_closing() {
        let outbox = Outbox::new(2);
        outbox.try_push(num(1)).unwrap();
        outbox.try_push(num(2)).unwrap();
        let full = outbox.try_push(num(3)).unwrap_err();
        assert_eq!(full.kind, SendErrorKind::WouldBlock);
        assert_eq!(read(&full.message), 3);
        let mut taken = std::collections::VecDeque::new();
        outbox.take_all(&mut taken);
        assert_eq!(taken.iter().map(read).collect::<Vec<_>>(), [1, 2]);
        outbox.try_push(num(4)).unwrap();
        let left = outbox.close();
        assert_eq!(left.iter().map(read).collect::<Vec<_>>(), [4]);
        let closed = outbox.try_push(num(5)).unwrap_err();
        assert_eq!(closed.kind, SendErrorKind::Closed);
    }
}
