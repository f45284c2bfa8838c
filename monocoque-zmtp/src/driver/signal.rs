//! A wake-up signal for tasks of one runtime thread that costs nothing when nobody waits.
//!
//! `event_listener::Event::notify` takes a lock on every call; a socket notifies once per
//! message. Everything here runs on one thread, so two cells remove nearly all of those calls:
//! a count of waiters (no waiter, nothing to do), and whether a notification is already on its
//! way to a waiter that has not run yet (a second one would change nothing: the woken task looks
//! at the state when it runs, and notifies on if there is more for others).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use event_listener::{Event, EventListener};

/// An event that tasks wait on and others notify.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    event: Event,
    waiting: Rc<Cell<usize>>,
    /// A notification was sent and no listener has since woken up or started to listen.
    pending: Rc<Cell<bool>>,
}

impl Signal {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Starts waiting: any `notify` after this call wakes the listener.
    pub(crate) fn listen(&self) -> Listener {
        self.waiting.set(self.waiting.get() + 1);
        // A new listener was not covered by a notification sent before it listened.
        self.pending.set(false);
        Listener {
            inner: self.event.listen(),
            waiting: self.waiting.clone(),
            pending: self.pending.clone(),
        }
    }

    /// Whether any task is waiting.
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiting.get() > 0
    }

    /// Wakes up to `n` waiting listeners.
    pub(crate) fn notify(&self, n: usize) {
        if self.waiting.get() > 0 && !self.pending.get() {
            self.pending.set(true);
            self.event.notify(n);
        }
    }
}

/// One task's wait on a [`Signal`]; no longer counted once dropped.
#[derive(Debug)]
pub(crate) struct Listener {
    inner: EventListener,
    waiting: Rc<Cell<usize>>,
    pending: Rc<Cell<bool>>,
}

impl Future for Listener {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let poll = Pin::new(&mut self.inner).poll(cx);
        if poll.is_ready() {
            // The woken task now runs and sees the state; later changes must notify again.
            self.pending.set(false);
        }
        poll
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.waiting.set(self.waiting.get() - 1);
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    #[test]
    fn a_notification_reaches_only_those_listening() {
        let signal = Signal::new();
        // Nobody listens: nothing to wake, nothing remembered.
        signal.notify(1);
        let mut listener = signal.listen();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(Pin::new(&mut listener).poll(&mut cx).is_pending());
        signal.notify(1);
        assert!(Pin::new(&mut listener).poll(&mut cx).is_ready());
        drop(listener);
        assert_eq!(signal.waiting.get(), 0);
    }

    #[test]
    fn a_woken_listener_passes_the_next_notification_on() {
        let signal = Signal::new();
        let mut cx = Context::from_waker(Waker::noop());
        let mut first = signal.listen();
        let mut second = signal.listen();
        signal.notify(1);
        // Skipped: a notification is on its way and its listener has not run yet.
        signal.notify(1);
        assert!(Pin::new(&mut first).poll(&mut cx).is_ready());
        assert!(Pin::new(&mut second).poll(&mut cx).is_pending());
        // The first task ran; what it notifies reaches the second.
        signal.notify(1);
        assert!(Pin::new(&mut second).poll(&mut cx).is_ready());
    }
}
