//! A wake-up signal for tasks of one runtime thread that costs nothing when nobody waits.
//!
//! `event_listener::Event::notify` takes a lock on every call; a socket notifies once per
//! message, and nearly always nobody is waiting. Counting the waiters (everything here runs on
//! one thread) lets a notification with no waiter return at once.

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
}

impl Signal {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Starts waiting: any `notify` after this call wakes the listener.
    pub(crate) fn listen(&self) -> Listener {
        self.waiting.set(self.waiting.get() + 1);
        Listener {
            inner: self.event.listen(),
            waiting: self.waiting.clone(),
        }
    }

    /// Wakes up to `n` waiting listeners.
    pub(crate) fn notify(&self, n: usize) {
        if self.waiting.get() > 0 {
            self.event.notify(n);
        }
    }
}

/// One task's wait on a [`Signal`]; no longer counted once dropped.
#[derive(Debug)]
pub(crate) struct Listener {
    inner: EventListener,
    waiting: Rc<Cell<usize>>,
}

impl Future for Listener {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.inner).poll(cx)
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
}
