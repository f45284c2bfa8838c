//! Heartbeat timing (ZMTP 3.1 PING/PONG) as a pure function of the time passed in.
//!
//! libzmq's rules, which this follows:
//! - every `interval`, send a PING carrying our TTL (in deciseconds);
//! - after sending a PING, if no traffic at all arrives within `timeout`, the peer is dead;
//! - on a PING with a non-zero TTL, if no traffic arrives within that TTL, the peer is dead;
//! - any incoming traffic proves the peer alive and clears both deadlines;
//! - a PING is answered with a PONG echoing its context (at most 16 bytes).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::command::{Command, MAX_PING_CONTEXT};

/// Heartbeat settings: libzmq's ZMQ_HEARTBEAT_IVL, ZMQ_HEARTBEAT_TTL and ZMQ_HEARTBEAT_TIMEOUT.
///
/// ```
/// use std::time::Duration;
/// use monocoque::proto::HeartbeatConfig;
/// let config = HeartbeatConfig::every(Duration::from_secs(1)).ttl(Duration::from_secs(5));
/// assert_eq!(config.ttl_deciseconds(), 50);
/// assert_eq!(config.effective_timeout(), Some(Duration::from_secs(1)));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeartbeatConfig {
    /// How often to send a PING (`None`: never, libzmq's default).
    pub interval: Option<Duration>,
    /// The TTL announced in our PINGs (`None`: 0, no hint).
    pub ttl: Option<Duration>,
    /// How long to wait for traffic after a PING (`None`: the interval, as libzmq).
    pub timeout: Option<Duration>,
}

impl HeartbeatConfig {
    /// Heartbeats every `interval`, with no TTL and the default timeout.
    pub fn every(interval: Duration) -> Self {
        Self {
            interval: Some(interval),
            ..Self::default()
        }
    }

    /// Sets the TTL announced to the peer.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Sets the timeout after a PING.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The TTL in the PING's unit, tenths of a second, saturating at 6553.5 s.
    pub fn ttl_deciseconds(&self) -> u16 {
        self.ttl.map_or(0, |ttl| {
            u16::try_from(ttl.as_millis() / 100).unwrap_or(u16::MAX)
        })
    }

    /// The timeout in force: the configured one, else the interval.
    pub fn effective_timeout(&self) -> Option<Duration> {
        self.timeout.or(self.interval)
    }
}

/// Why a peer is considered dead.
///
/// ```
/// use std::time::{Duration, Instant};
/// use monocoque::bytes::Bytes;
/// use monocoque::proto::{Expired, Heartbeat, HeartbeatConfig};
///
/// let start = Instant::now();
/// let mut hb = Heartbeat::new(HeartbeatConfig::default(), start);
/// // The peer's PING announces a TTL of 1.5 s; then nothing more arrives from it.
/// hb.on_traffic();
/// let _pong = hb.on_ping(15, &Bytes::from_static(b"ctx"), start);
/// assert_eq!(hb.poll(start + Duration::from_millis(1400)), Ok(None));
/// assert_eq!(hb.poll(start + Duration::from_millis(1500)), Err(Expired::Ttl));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// No traffic within the heartbeat timeout after one of our PINGs.
    Timeout,
    /// No traffic within the TTL the peer announced in its PING.
    Ttl,
}

/// The heartbeat state of one connection.
///
/// ```
/// use std::time::{Duration, Instant};
/// use monocoque::proto::{Command, Expired, Heartbeat, HeartbeatConfig};
///
/// let start = Instant::now();
/// let mut hb = Heartbeat::new(HeartbeatConfig::every(Duration::from_secs(1)), start);
/// assert_eq!(hb.poll(start), Ok(None));
/// let t1 = start + Duration::from_secs(1);
/// assert!(matches!(hb.poll(t1), Ok(Some(Command::Ping { .. }))));
/// // Silence for a whole timeout after the PING: the peer is dead.
/// assert_eq!(hb.poll(t1 + Duration::from_secs(1)), Err(Expired::Timeout));
/// ```
#[derive(Debug, Clone)]
pub struct Heartbeat {
    config: HeartbeatConfig,
    next_ping: Option<Instant>,
    timeout_at: Option<Instant>,
    ttl_at: Option<Instant>,
}

impl Heartbeat {
    /// Starts heartbeating at `now` (when the handshake completes).
    pub fn new(config: HeartbeatConfig, now: Instant) -> Self {
        let next_ping = config
            .interval
            .filter(|i| !i.is_zero())
            .and_then(|i| now.checked_add(i));
        Self {
            config,
            next_ping,
            timeout_at: None,
            ttl_at: None,
        }
    }

    /// Records that traffic of any kind arrived: the peer is alive.
    #[inline]
    pub fn on_traffic(&mut self) {
        self.timeout_at = None;
        self.ttl_at = None;
    }

    /// Handles a PING received at `now` (after [`on_traffic`](Self::on_traffic) for the same
    /// frame) and returns the PONG to send.
    pub fn on_ping(&mut self, ttl_deciseconds: u16, context: &Bytes, now: Instant) -> Command {
        if ttl_deciseconds > 0 && self.ttl_at.is_none() {
            self.ttl_at = now.checked_add(Duration::from_millis(u64::from(ttl_deciseconds) * 100));
        }
        // libzmq truncates an over-long context rather than failing; so do we.
        Command::Pong(context.slice(..context.len().min(MAX_PING_CONTEXT)))
    }

    /// Advances to `now`: returns a PING when one is due, or an error when the peer is dead.
    pub fn poll(&mut self, now: Instant) -> Result<Option<Command>, Expired> {
        if self.timeout_at.is_some_and(|at| now >= at) {
            return Err(Expired::Timeout);
        }
        if self.ttl_at.is_some_and(|at| now >= at) {
            return Err(Expired::Ttl);
        }
        let (Some(due), Some(interval)) = (self.next_ping, self.config.interval) else {
            return Ok(None);
        };
        if now < due {
            return Ok(None);
        }
        self.next_ping = now.checked_add(interval);
        if self.timeout_at.is_none() {
            self.timeout_at = self
                .config
                .effective_timeout()
                .and_then(|t| now.checked_add(t));
        }
        Ok(Some(Command::Ping {
            ttl_deciseconds: self.config.ttl_deciseconds(),
            context: Bytes::new(),
        }))
    }

    /// The next instant at which [`poll`](Self::poll) has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.next_ping, self.timeout_at, self.ttl_at]
            .into_iter()
            .flatten()
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn disabled_by_default() {
        let now = Instant::now();
        let mut hb = Heartbeat::new(HeartbeatConfig::default(), now);
        assert_eq!(hb.next_deadline(), None);
        assert_eq!(hb.poll(now + 1000 * SEC), Ok(None));
    }

    #[test]
    fn pings_every_interval_while_the_peer_answers() {
        let start = Instant::now();
        let config = HeartbeatConfig::every(SEC).ttl(3 * SEC).timeout(2 * SEC);
        let mut hb = Heartbeat::new(config, start);
        for i in 1..=10u32 {
            let now = start + i * SEC;
            assert_eq!(hb.next_deadline(), Some(now));
            assert_eq!(hb.poll(now - Duration::from_millis(1)), Ok(None));
            assert_eq!(
                hb.poll(now),
                Ok(Some(Command::Ping {
                    ttl_deciseconds: 30,
                    context: Bytes::new()
                }))
            );
            hb.on_traffic();
        }
    }

    #[test]
    fn timeout_runs_from_the_first_unanswered_ping() {
        let start = Instant::now();
        let mut hb = Heartbeat::new(HeartbeatConfig::every(SEC).timeout(3 * SEC), start);
        assert!(hb.poll(start + SEC).unwrap().is_some());
        assert!(hb.poll(start + 2 * SEC).unwrap().is_some());
        assert!(hb.poll(start + 3 * SEC).unwrap().is_some());
        assert_eq!(
            hb.poll(start + 4 * SEC - Duration::from_nanos(1))
                .map(|c| c.is_some()),
            Ok(false)
        );
        assert_eq!(hb.poll(start + 4 * SEC), Err(Expired::Timeout));
    }

    #[test]
    fn peer_ttl_expires_without_traffic() {
        let start = Instant::now();
        let mut hb = Heartbeat::new(HeartbeatConfig::default(), start);
        hb.on_traffic();
        let pong = hb.on_ping(15, &Bytes::from("ctx"), start);
        assert_eq!(pong, Command::Pong(Bytes::from("ctx")));
        assert_eq!(
            hb.next_deadline(),
            Some(start + Duration::from_millis(1500))
        );
        assert_eq!(hb.poll(start + Duration::from_millis(1499)), Ok(None));
        assert_eq!(
            hb.poll(start + Duration::from_millis(1500)),
            Err(Expired::Ttl)
        );
    }

    #[test]
    fn traffic_clears_the_ttl() {
        let start = Instant::now();
        let mut hb = Heartbeat::new(HeartbeatConfig::default(), start);
        hb.on_ping(10, &Bytes::new(), start);
        hb.on_traffic();
        assert_eq!(hb.poll(start + 100 * SEC), Ok(None));
    }

    #[test]
    fn zero_ttl_sets_no_deadline_and_long_contexts_are_truncated() {
        let now = Instant::now();
        let mut hb = Heartbeat::new(HeartbeatConfig::default(), now);
        let pong = hb.on_ping(0, &Bytes::from(vec![b'c'; 40]), now);
        assert_eq!(pong, Command::Pong(Bytes::from(vec![b'c'; 16])));
        assert_eq!(hb.next_deadline(), None);
    }

    #[test]
    fn ttl_saturates() {
        assert_eq!(
            HeartbeatConfig::default()
                .ttl(Duration::from_secs(100_000))
                .ttl_deciseconds(),
            u16::MAX
        );
        assert_eq!(HeartbeatConfig::default().ttl_deciseconds(), 0);
    }
}
