//! Port of libzmq's `tests/test_reconnect_ivl.cpp`: `ZMQ_RECONNECT_IVL`.
//!
//! libzmq's test sets the interval to -1, which disables reconnection: after the bound PAIR
//! unbinds and binds again, the connecting PAIR stays disconnected until it calls `connect`
//! again. monocoque's `reconnect_interval` takes a `Duration` and has no "never" (difference):
//! a connecting socket always reconnects. The ports document that, and check what the option
//! does do: the interval between attempts, and its growth up to `ZMQ_RECONNECT_IVL_MAX`.

mod zmq_common;

/// The cases of libzmq's `tests/test_reconnect_ivl.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_reconnect_ivl {
    use std::time::Duration;

    use crate::zmq_common::{
        BindAddr, Transport, msg, never, next_event, unused_tcp_endpoint, wait_until, within,
    };
    use monocoque::{MonitorEventKind, PairSocket, SocketOptions};

    /// libzmq's `bounce`: a message each way.
    async fn bounce(sb: &PairSocket, sc: &PairSocket) {
        within("send", sc.send(msg(&["ping", "1"]))).await.unwrap();
        assert_eq!(
            within("recv", sb.recv()).await.unwrap(),
            msg(&["ping", "1"])
        );
        within("send", sb.send(msg(&["pong", "2"]))).await.unwrap();
        assert_eq!(
            within("recv", sc.recv()).await.unwrap(),
            msg(&["pong", "2"])
        );
    }

    /// `test_reconnect_ivl_against_pair_socket`, up to where it differs: a PAIR connects and
    /// bounces; the bound PAIR unbinds, and nothing gets through (libzmq's `expect_bounce_fail`);
    /// it binds the same endpoint again. With libzmq's interval -1 the bounce would still fail;
    /// monocoque reconnects by itself, so what the connecting PAIR queued meanwhile arrives and the
    /// bounce works without a second `connect`.
    async fn reconnect_ivl_against_pair_socket(transport: Transport) {
        let addr = BindAddr::new(transport, "reconnect-ivl");
        let sb = PairSocket::new();
        let endpoint = sb.bind(addr.endpoint()).await.unwrap().to_string();
        let sc = PairSocket::with_options(
            SocketOptions::new().reconnect_interval(Duration::from_millis(10)),
        )
        .unwrap();
        sc.connect(&endpoint).unwrap();
        bounce(&sb, &sc).await;

        sb.unbind(&endpoint).unwrap();
        wait_until("the connection is gone", || {
            sb.connected_peers() == 0 && sc.connected_peers() == 0
        })
        .await;
        // Queued for the endpoint while nothing is there.
        within("send", sc.send("while unbound")).await.unwrap();
        never("the unbound PAIR receiving", sb.recv()).await;

        within("bind the same endpoint again", async {
            // The old listener's close may still be in flight on the ring.
            while sb.bind(&endpoint).await.is_err() {
                compio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert_eq!(
            within("the queued message, after reconnecting", sb.recv())
                .await
                .unwrap(),
            msg(&["while unbound"]),
            "monocoque reconnects (libzmq with ZMQ_RECONNECT_IVL -1 would not)"
        );
        bounce(&sb, &sc).await;
    }

    /// `test_reconnect_ivl_ipc`.
    #[compio::test]
    async fn reconnect_ivl_ipc() {
        reconnect_ivl_against_pair_socket(Transport::Ipc).await;
    }

    /// `test_reconnect_ivl_tcp_ipv4`.
    #[compio::test]
    async fn reconnect_ivl_tcp_ipv4() {
        reconnect_ivl_against_pair_socket(Transport::Tcp).await;
    }

    /// `test_reconnect_ivl_tcp_ipv6`: the same over the IPv6 loopback (when the machine has one).
    #[compio::test]
    async fn reconnect_ivl_tcp_ipv6() {
        if !crate::zmq_common::ipv6_available() {
            // libzmq skips the case too; check at least that monocoque fails the same way.
            let sb = PairSocket::new();
            assert!(sb.bind("tcp://[::1]:0").await.is_err());
            return;
        }
        let sb = PairSocket::new();
        let endpoint = sb.bind("tcp://[::1]:0").await.unwrap().to_string();
        assert!(endpoint.starts_with("tcp://[::1]:"), "{endpoint}");
        let sc = PairSocket::with_options(
            SocketOptions::new().reconnect_interval(Duration::from_millis(10)),
        )
        .unwrap();
        sc.connect(&endpoint).unwrap();
        bounce(&sb, &sc).await;
        sb.unbind(&endpoint).unwrap();
        wait_until("the connection is gone", || sc.connected_peers() == 0).await;
        within("bind again", async {
            while sb.bind(&endpoint).await.is_err() {
                compio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        bounce(&sb, &sc).await;
    }

    /// Extends `test_reconnect_ivl_*`: what `ZMQ_RECONNECT_IVL` controls, seen on the monitor: each
    /// failed attempt is followed by a retry after exactly the interval.
    #[compio::test]
    async fn connect_retried_after_the_interval() {
        let sc = PairSocket::with_options(
            SocketOptions::new().reconnect_interval(Duration::from_millis(20)),
        )
        .unwrap();
        let monitor = sc.monitor();
        sc.connect(&unused_tcp_endpoint()).unwrap();
        for _ in 0..3 {
            let delayed = next_event(&monitor).await;
            assert!(
                matches!(delayed.kind, MonitorEventKind::ConnectDelayed { .. }),
                "{delayed:?}"
            );
            let retried = next_event(&monitor).await;
            assert_eq!(
                retried.kind,
                MonitorEventKind::ConnectRetried {
                    interval: Duration::from_millis(20)
                }
            );
        }
    }

    /// Extends `test_reconnect_ivl_*` to `ZMQ_RECONNECT_IVL_MAX`: the wait doubles after each
    /// failed attempt up to the maximum, with up to one interval of random jitter on top, as
    /// libzmq.
    #[compio::test]
    async fn connect_retries_back_off_up_to_the_maximum() {
        let (interval, max) = (Duration::from_millis(10), Duration::from_millis(40));
        let sc = PairSocket::with_options(
            SocketOptions::new()
                .reconnect_interval(interval)
                .reconnect_interval_max(Some(max)),
        )
        .unwrap();
        let monitor = sc.monitor();
        sc.connect(&unused_tcp_endpoint()).unwrap();
        let mut waits = Vec::new();
        while waits.len() < 5 {
            if let MonitorEventKind::ConnectRetried { interval } = next_event(&monitor).await.kind {
                waits.push(interval);
            }
        }
        let floors = [10, 20, 40, 40, 40].map(Duration::from_millis);
        for (wait, floor) in waits.iter().zip(floors) {
            assert!(
                *wait >= floor && *wait < floor + interval,
                "waits {waits:?}: expected {floor:?} plus less than one interval of jitter"
            );
        }
    }
}
