//! A flood of connections that never speak: 1,000 of them (fewer if the file descriptor limit is
//! low) against a socket with a 300 ms handshake interval, while a good peer keeps sending. Every
//! silent connection must be closed by the handshake interval with its monitor events, the good
//! peer must be served throughout, and memory must stay bounded.

mod hostile_common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hostile_common::{MIB, Memory, Mock, Scene, handshake_failed, run};
use monocoque::proto::ProtocolError;
use monocoque::{MonitorEventKind, SocketOptions};

/// The handshake interval of this test.
const IVL: Duration = Duration::from_millis(300);

/// How much the resident set may grow with the whole flood.
const FLOOD_RSS_BOUND: u64 = 64 * MIB;

/// 1,000 connections, or as many as the soft file descriptor limit allows with both ends of each
/// in this process and room to spare.
fn flood_size() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("read /proc/self/limits");
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1024);
    1000.min(soft.saturating_sub(256) / 2)
}

#[test]
fn a_flood_of_silent_connections_is_dropped_and_the_good_peer_served() {
    run(|| async {
        let n = flood_size();
        assert!(n >= 100, "too few file descriptors for a flood: {n}");
        // The handshake timeout alone is under test here: the caps on pending handshakes (which
        // would refuse most of these from one address) are lifted above the flood.
        let mut scene = Scene::start(
            SocketOptions::new()
                .handshake_timeout(Some(IVL))
                .max_pending_handshakes(4 * n)
                .max_pending_handshakes_per_address(4 * n),
        )
        .await;
        let before = Memory::baseline();
        let received_before = scene.received();

        let started = Instant::now();
        let mut mocks = Vec::with_capacity(n);
        for _ in 0..n {
            mocks.push(Mock::connect(scene.addr).await);
            scene.drain_monitor();
        }
        let connecting = started.elapsed();
        let addresses: Vec<String> = mocks.iter().map(|m| m.addr.to_string()).collect();
        scene
            .wait_log("every silent connection accepted", |log| {
                log.iter()
                    .filter(|e| e.kind == MonitorEventKind::Accepted)
                    .count()
                    > n
            })
            .await;
        let during = Memory::now();
        let pending_peers = scene.pull.connected_peers();
        assert_eq!(
            pending_peers, 1,
            "connections without a handshake count as peers"
        );
        // Served while the flood is pending.
        let received_during = scene.received();
        scene.wait_received(received_during + 20).await;

        // Every silent connection is closed, none before the interval, none long after.
        let mut lifetimes = Vec::with_capacity(n);
        let mut resets = 0;
        for mock in &mut mocks {
            let closed = mock.closed().await;
            if closed.how == hostile_common::End::Reset {
                resets += 1;
            }
            lifetimes.push(closed.after);
        }
        let all_closed = started.elapsed();
        lifetimes.sort_unstable();
        let (first, median, last) = (lifetimes[0], lifetimes[n / 2], lifetimes[n - 1]);
        assert!(
            first >= IVL * 3 / 4,
            "a silent connection was closed after {first:?}, before the interval of {IVL:?}"
        );
        assert!(
            last < IVL + Duration::from_secs(2),
            "a silent connection lived {last:?}; the interval is {IVL:?}"
        );

        // Each has exactly its three events.
        let expected = handshake_failed(ProtocolError::HandshakeTimeout);
        let wanted: std::collections::HashSet<&str> =
            addresses.iter().map(String::as_str).collect();
        scene
            .wait_log("a Disconnected event for every silent connection", |log| {
                log.iter()
                    .filter(|e| {
                        matches!(e.kind, MonitorEventKind::Disconnected { .. })
                            && e.peer_address
                                .as_deref()
                                .is_some_and(|a| wanted.contains(a))
                    })
                    .count()
                    == n
            })
            .await;
        let mut by_peer: HashMap<&str, Vec<MonitorEventKind>> = HashMap::new();
        for event in scene.log() {
            if let Some(peer) = event.peer_address.as_deref().filter(|a| wanted.contains(a)) {
                by_peer.entry(peer).or_default().push(event.kind.clone());
            }
        }
        assert_eq!(by_peer.len(), n, "events for every silent connection");
        for (peer, events) in &by_peer {
            assert_eq!(events, &expected, "monitor events of {peer}");
        }
        drop(mocks);

        let after = Memory::now();
        let peak = during.since(&before);
        let left = after.since(&before);
        eprintln!(
            "hostile | flood of {n} silent connections: connected in {connecting:?}, all closed \
             {all_closed:?} after the first connect; lifetimes {first:?} / {median:?} / {last:?} \
             (min / median / max), {resets} by RST; {pending_peers} peer(s) counted while pending"
        );
        eprintln!(
            "hostile | flood: with {n} pending: {peak}, {:.1} KiB per connection; after: {left}",
            peak.rss as f64 / 1024.0 / n as f64
        );
        peak.assert_rss_below(FLOOD_RSS_BOUND, "flood, pending");
        left.assert_rss_below(FLOOD_RSS_BOUND, "flood, after");
        assert!(
            scene.received() > received_before + 20,
            "the good peer was starved during the flood"
        );
        scene.finish().await;
    });
}
