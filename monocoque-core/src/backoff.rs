//! Reconnect delays as a pure iterator.

use std::iter::FusedIterator;
use std::time::Duration;

/// The delays between reconnect attempts, following libzmq's `ZMQ_RECONNECT_IVL` and
/// `ZMQ_RECONNECT_IVL_MAX`.
///
/// The first delay is `interval`. When `max_interval` is greater than `interval`, each following
/// delay doubles until it reaches `max_interval`; otherwise (including a zero `max_interval`,
/// libzmq's default) every delay is `interval`. [`reset`](Self::reset) goes back to `interval`
/// after a successful connection. The iterator never ends and saturates instead of overflowing.
///
/// Jitter is off by default, so the sequence is reproducible. [`jitter(f)`](Self::jitter) adds to
/// each delay a random amount in `[0, f × interval)`, drawn from a small generator seeded with
/// [`seed`](Self::seed) (0 unless set). `jitter(1.0)` matches libzmq, which adds a random amount
/// in `[0, interval)`; like libzmq, the jitter is added after the cap, so a delay may exceed
/// `max_interval` by up to the jitter. Give each connection its own seed so that peers which
/// lose a server together do not retry in lock-step.
///
/// ```rust
/// use monocoque_core::Backoff;
/// use std::time::Duration;
///
/// let ms = Duration::from_millis;
/// let mut backoff = Backoff::new(ms(100), ms(500));
/// let delays: Vec<Duration> = backoff.by_ref().take(5).collect();
/// assert_eq!(delays, [ms(100), ms(200), ms(400), ms(500), ms(500)]);
/// backoff.reset();
/// assert_eq!(backoff.next(), Some(ms(100)));
///
/// let jittered = Backoff::new(ms(100), Duration::ZERO).jitter(0.5).seed(7);
/// assert!(jittered.take(100).all(|d| d >= ms(100) && d < ms(150)));
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    interval: Duration,
    max_interval: Duration,
    jitter: f64,
    rng: SplitMix64,
    /// The delay before jitter that the next call returns.
    next: Duration,
}

impl Backoff {
    /// libzmq's default `ZMQ_RECONNECT_IVL`: 100 ms.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);

    /// Delays starting at `interval` and doubling up to `max_interval` when it is greater than
    /// `interval`, without jitter.
    pub const fn new(interval: Duration, max_interval: Duration) -> Self {
        Self {
            interval,
            max_interval,
            jitter: 0.0,
            rng: SplitMix64(0),
            next: interval,
        }
    }

    /// Adds a random amount in `[0, fraction × interval)` to every delay. `fraction` is clamped
    /// to `[0, 1]`; NaN means no jitter.
    #[must_use]
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        self
    }

    /// Seeds the jitter generator, so that a given seed always gives the same delays.
    #[must_use]
    pub const fn seed(mut self, seed: u64) -> Self {
        self.rng = SplitMix64(seed);
        self
    }

    /// Starts again from `interval`, as after a successful connection. The jitter generator
    /// carries on rather than repeating its earlier draws.
    pub const fn reset(&mut self) {
        self.next = self.interval;
    }

    /// The first delay, before jitter.
    pub const fn interval(&self) -> Duration {
        self.interval
    }

    /// The cap on doubling; it has no effect unless greater than [`interval`](Self::interval).
    pub const fn max_interval(&self) -> Duration {
        self.max_interval
    }

    /// The jitter as a fraction of the interval.
    pub const fn jitter_fraction(&self) -> f64 {
        self.jitter
    }

    fn draw_jitter(&mut self) -> Duration {
        if self.jitter <= 0.0 {
            return Duration::ZERO;
        }
        // Intervals beyond 584 years of nanoseconds get that much jitter at most.
        let interval = u64::try_from(self.interval.as_nanos()).unwrap_or(u64::MAX);
        // The float product may round past the interval; the bound is `[0, interval)`.
        let span = ((interval as f64 * self.jitter) as u64).min(interval);
        // Scaling a 64-bit draw by multiply-and-shift keeps the result strictly below `span`.
        let nanos = (u128::from(self.rng.next_u64()) * u128::from(span)) >> 64;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

impl Default for Backoff {
    /// libzmq's defaults: 100 ms between attempts, no doubling, and no jitter.
    fn default() -> Self {
        Self::new(Self::DEFAULT_INTERVAL, Duration::ZERO)
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let base = self.next;
        if self.max_interval > self.interval {
            self.next = base.saturating_mul(2).min(self.max_interval);
        }
        Some(base.saturating_add(self.draw_jitter()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

impl FusedIterator for Backoff {}

/// Vigna's SplitMix64: tiny, fast and well mixed, which is all jitter needs.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn no_max_keeps_the_interval() {
        let delays: Vec<_> = Backoff::default().take(4).collect();
        assert_eq!(delays, [ms(100); 4]);
    }

    #[test]
    fn max_not_above_interval_keeps_the_interval() {
        assert!(Backoff::new(ms(100), ms(100)).take(5).all(|d| d == ms(100)));
        assert!(Backoff::new(ms(100), ms(50)).take(5).all(|d| d == ms(100)));
    }

    #[test]
    fn doubles_up_to_the_cap() {
        let delays: Vec<_> = Backoff::new(ms(10), ms(100)).take(6).collect();
        assert_eq!(delays, [ms(10), ms(20), ms(40), ms(80), ms(100), ms(100)]);
    }

    #[test]
    fn reset_starts_over() {
        let mut backoff = Backoff::new(ms(10), ms(1000));
        backoff.by_ref().take(5).for_each(drop);
        assert_eq!(backoff.next(), Some(ms(320)));
        backoff.reset();
        assert_eq!(backoff.next(), Some(ms(10)));
        assert_eq!(backoff.next(), Some(ms(20)));
    }

    #[test]
    fn zero_interval() {
        assert!(
            Backoff::new(Duration::ZERO, ms(100))
                .take(10)
                .all(|d| d.is_zero())
        );
        let jittered = Backoff::new(Duration::ZERO, Duration::ZERO).jitter(1.0);
        assert!(jittered.take(10).all(|d| d.is_zero()));
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        let mut backoff = Backoff::new(Duration::MAX / 3, Duration::MAX)
            .jitter(1.0)
            .seed(1);
        assert!(backoff.by_ref().take(4).all(|d| d >= Duration::MAX / 3));
        assert_eq!(backoff.next(), Some(Duration::MAX));
    }

    #[test]
    fn jitter_stays_in_bounds_and_is_deterministic() {
        let backoff = Backoff::new(ms(100), ms(400)).jitter(1.0).seed(42);
        let first: Vec<_> = backoff.clone().take(200).collect();
        let second: Vec<_> = backoff.take(200).collect();
        assert_eq!(first, second);
        for (i, delay) in first.iter().enumerate() {
            let base = ms(100 << i.min(2));
            assert!(*delay >= base && *delay < base + ms(100), "{i}: {delay:?}");
        }
        // All-equal delays would mean the jitter is not random at all.
        assert!(first[3..].windows(2).any(|w| w[0] != w[1]));

        let other: Vec<_> = Backoff::new(ms(100), ms(400))
            .jitter(1.0)
            .seed(43)
            .take(200)
            .collect();
        assert_ne!(first, other);
    }

    #[test]
    fn jitter_fraction_is_clamped() {
        let b = Backoff::default();
        assert_eq!(b.clone().jitter(2.0).jitter_fraction(), 1.0);
        assert_eq!(b.clone().jitter(-1.0).jitter_fraction(), 0.0);
        assert_eq!(b.jitter(f64::NAN).jitter_fraction(), 0.0);
    }

    #[test]
    fn accessors() {
        let b = Backoff::new(ms(1), ms(2)).jitter(0.25);
        assert_eq!(
            (b.interval(), b.max_interval(), b.jitter_fraction()),
            (ms(1), ms(2), 0.25)
        );
        assert_eq!(b.size_hint(), (usize::MAX, None));
    }
}
