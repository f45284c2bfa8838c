//! High-water-mark accounting for one queue.

use std::num::NonZeroUsize;

/// Counts the messages queued in one direction of one peer and refuses more past a limit, as
/// libzmq's pipes do with `ZMQ_SNDHWM` and `ZMQ_RCVHWM`.
///
/// A queue with limit `hwm` accepts exactly `hwm` messages. When [`try_acquire`] refuses one,
/// the writer is considered blocked; [`release`] then returns `true` once, when the queue has
/// drained to the [low-water mark](Self::low_water_mark), to say the writer should be woken.
///
/// libzmq's reader tells the writer that it made progress every `compute_lwm(hwm) =
/// (hwm + 1) / 2` messages, so a writer blocked on a full pipe resumes after about half the
/// queue has drained: at `hwm − (hwm + 1) / 2 = hwm / 2` (rounded down) queued messages. This
/// type keeps that level: waking earlier would resume the writer for a single message at a time,
/// and waking later would leave the queue idle before it refills.
///
/// [`try_acquire`]: Self::try_acquire
/// [`release`]: Self::release
///
/// ```rust
/// use monocoque_core::HighWaterMark;
///
/// let mut hwm = HighWaterMark::from_option_value(4);
/// assert!((0..4).all(|_| hwm.try_acquire()));
/// assert!(!hwm.try_acquire()); // full: the writer blocks
/// assert_eq!(hwm.low_water_mark(), Some(2));
/// assert!(!hwm.release()); // 3 queued
/// assert!(hwm.release()); // 2 queued: wake the writer
/// assert!(!hwm.release()); // already woken
///
/// assert!(HighWaterMark::from_option_value(0).limit().is_none()); // 0 is unlimited
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HighWaterMark {
    limit: Option<NonZeroUsize>,
    len: usize,
    writer_blocked: bool,
}

impl HighWaterMark {
    /// libzmq's default `ZMQ_SNDHWM` and `ZMQ_RCVHWM`: 1000 messages.
    pub const DEFAULT_LIMIT: usize = 1000;

    /// An empty queue holding at most `limit` messages, or any number for `None`.
    pub const fn new(limit: Option<NonZeroUsize>) -> Self {
        Self {
            limit,
            len: 0,
            writer_blocked: false,
        }
    }

    /// An empty queue without a limit.
    pub const fn unlimited() -> Self {
        Self::new(None)
    }

    /// An empty queue with a limit given as a socket option value, where 0 means no limit.
    pub const fn from_option_value(value: usize) -> Self {
        Self::new(NonZeroUsize::new(value))
    }

    /// The limit; `None` when unlimited.
    pub const fn limit(&self) -> Option<NonZeroUsize> {
        self.limit
    }

    /// How many messages are queued.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no message is queued.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the queue has reached its limit.
    pub fn is_full(&self) -> bool {
        self.limit.is_some_and(|limit| self.len >= limit.get())
    }

    /// How many more messages fit; `None` when unlimited.
    pub fn remaining(&self) -> Option<usize> {
        self.limit.map(|limit| limit.get().saturating_sub(self.len))
    }

    /// The queue length at or below which a blocked writer is woken: half the limit, rounded
    /// down. `None` when unlimited.
    pub fn low_water_mark(&self) -> Option<usize> {
        self.limit.map(|limit| limit.get() / 2)
    }

    /// Whether a writer has been refused and not yet woken by [`release`](Self::release).
    pub const fn is_writer_blocked(&self) -> bool {
        self.writer_blocked
    }

    /// Counts one more message if it fits. A refusal marks the writer as blocked.
    pub fn try_acquire(&mut self) -> bool {
        self.try_acquire_n(1)
    }

    /// Counts `n` more messages if all of them fit; otherwise counts none and marks the writer
    /// as blocked. `n` greater than the limit never fits.
    pub fn try_acquire_n(&mut self, n: usize) -> bool {
        let fits = match (self.len.checked_add(n), self.limit) {
            (Some(len), Some(limit)) => len <= limit.get(),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if fits {
            self.len += n;
            self.writer_blocked = false;
        } else {
            self.writer_blocked = true;
        }
        fits
    }

    /// Counts one message that is already taken (a message read off the wire cannot be given
    /// back), past the limit if need be. Returns whether there is room for another; when there
    /// is not, the writer counts as blocked until [`release`](Self::release) wakes it at the
    /// low-water mark.
    ///
    /// ```rust
    /// use monocoque_core::HighWaterMark;
    ///
    /// let mut hwm = HighWaterMark::from_option_value(2);
    /// assert!(hwm.acquire_forced());
    /// assert!(!hwm.acquire_forced()); // full: pause the reader
    /// assert!(!hwm.acquire_forced()); // a message that was already on its way still counts
    /// assert_eq!(hwm.len(), 3);
    /// assert!(hwm.is_writer_blocked());
    /// assert!(!hwm.release());
    /// assert!(hwm.release()); // at the low-water mark (1): resume
    /// ```
    pub fn acquire_forced(&mut self) -> bool {
        self.len = self.len.saturating_add(1);
        let full = self.is_full();
        if full {
            self.writer_blocked = true;
        }
        !full
    }

    /// Uncounts every message (the queue was emptied at once). Returns `true` when a blocked
    /// writer should now be woken.
    pub fn clear(&mut self) -> bool {
        self.release_n(self.len)
    }

    /// Uncounts one message. Returns `true` when a blocked writer should now be woken; see
    /// [`release_n`](Self::release_n).
    pub fn release(&mut self) -> bool {
        self.release_n(1)
    }

    /// Uncounts `n` messages. Returns `true` when a writer was refused since the last wake-up and
    /// the queue is now at or below the [low-water mark](Self::low_water_mark); the writer's
    /// next [`try_acquire`](Self::try_acquire) may still be refused if it asks for more than
    /// fits. Releasing more than is queued is a caller bug: it panics in debug builds and stops
    /// the count at zero otherwise.
    pub fn release_n(&mut self, n: usize) -> bool {
        debug_assert!(
            n <= self.len,
            "released {n} of {} queued messages",
            self.len
        );
        self.len = self.len.saturating_sub(n);
        let drained = self.low_water_mark().is_none_or(|lwm| self.len <= lwm);
        let wake = self.writer_blocked && drained;
        if wake {
            self.writer_blocked = false;
        }
        wake
    }
}

impl Default for HighWaterMark {
    /// An empty queue with libzmq's default limit of [`DEFAULT_LIMIT`](Self::DEFAULT_LIMIT).
    fn default() -> Self {
        Self::from_option_value(Self::DEFAULT_LIMIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_exactly_the_limit() {
        let mut hwm = HighWaterMark::default();
        assert_eq!(hwm.limit().map(NonZeroUsize::get), Some(1000));
        for i in 0..1000 {
            assert!(hwm.try_acquire(), "message {i}");
        }
        assert!(hwm.is_full());
        assert_eq!(hwm.remaining(), Some(0));
        assert!(!hwm.try_acquire());
        assert_eq!(hwm.len(), 1000);
        assert!(hwm.is_writer_blocked());
    }

    #[test]
    fn wakes_the_writer_at_the_low_water_mark() {
        let mut hwm = HighWaterMark::from_option_value(1000);
        assert!(hwm.try_acquire_n(1000));
        assert!(!hwm.try_acquire());
        assert_eq!(hwm.low_water_mark(), Some(500));
        assert!(!hwm.release_n(499));
        assert_eq!(hwm.len(), 501);
        assert!(hwm.release());
        assert_eq!(hwm.len(), 500);
        assert!(!hwm.is_writer_blocked());
        assert!(!hwm.release());
    }

    #[test]
    fn no_wake_without_a_blocked_writer() {
        let mut hwm = HighWaterMark::from_option_value(10);
        assert!(hwm.try_acquire_n(10));
        assert!((0..10).all(|_| !hwm.release()));
        assert!(hwm.is_empty());
    }

    #[test]
    fn a_successful_retry_unblocks() {
        let mut hwm = HighWaterMark::from_option_value(4);
        assert!(hwm.try_acquire_n(3));
        assert!(!hwm.try_acquire_n(2));
        assert!(hwm.is_writer_blocked());
        assert!(hwm.try_acquire());
        assert!(!hwm.is_writer_blocked());
        assert!(!hwm.release_n(2));
    }

    #[test]
    fn limit_of_one() {
        let mut hwm = HighWaterMark::from_option_value(1);
        assert_eq!(hwm.low_water_mark(), Some(0));
        assert!(hwm.try_acquire());
        assert!(!hwm.try_acquire());
        assert!(hwm.release());
        assert!(hwm.try_acquire());
    }

    #[test]
    fn odd_limit_rounds_the_low_water_mark_down() {
        let mut hwm = HighWaterMark::from_option_value(5);
        assert_eq!(hwm.low_water_mark(), Some(2));
        assert!(hwm.try_acquire_n(5));
        assert!(!hwm.try_acquire());
        assert!(!hwm.release_n(2));
        assert!(hwm.release());
    }

    #[test]
    fn batch_that_cannot_fit_counts_nothing() {
        let mut hwm = HighWaterMark::from_option_value(3);
        assert!(hwm.try_acquire_n(2));
        assert!(!hwm.try_acquire_n(2));
        assert_eq!(hwm.len(), 2);
        assert!(!hwm.try_acquire_n(4));
        assert!(hwm.try_acquire_n(0));
    }

    #[test]
    fn unlimited() {
        let mut hwm = HighWaterMark::from_option_value(0);
        assert_eq!(hwm, HighWaterMark::unlimited());
        assert!(hwm.try_acquire_n(1_000_000));
        assert!(!hwm.is_full());
        assert_eq!((hwm.remaining(), hwm.low_water_mark()), (None, None));
        assert!(!hwm.try_acquire_n(usize::MAX));
        assert_eq!(hwm.len(), 1_000_000);
        assert!(hwm.release());
    }
}
