//! Port of libzmq's `tests/test_heartbeats.cpp`: ZMTP 3.1 heartbeats (`ZMQ_HEARTBEAT_IVL`,
//! `_TTL`, `_TIMEOUT`): a silent peer is cut off, a PING is answered with a PONG echoing (at most
//! 16 bytes of) its context, a peer's TTL is respected, and answered heartbeats keep a
//! connection up.
//!
//! The server's monitor tells what happened, as in libzmq. Hand-made peers are raw std sockets
//! speaking ZMTP through `monocoque::proto`, like libzmq's `mock_handshake`. The
//! `*_with_curve` cases cannot be ported: monocoque speaks the NULL mechanism only (see
//! `heartbeat_notimeout_with_curve_is_not_available`).

mod zmq_common;

/// The cases of libzmq's `tests/test_heartbeats.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_heartbeats {
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    use crate::zmq_common::{RawPeer, TCP_ANY, never_within, wait_event, within};
    use monocoque::proto::{Greeting, Inbound, MechanismName, ProtocolError};
    use monocoque::{
        DealerSocket, MonitorEventKind, OptionError, OptionName, PairSocket, PubSocket, PullSocket,
        PushSocket, RepSocket, ReqSocket, RouterSocket, SocketOptions, SocketType, SubSocket,
    };

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn is_accepted(kind: &MonitorEventKind) -> bool {
        matches!(kind, MonitorEventKind::Accepted)
    }

    fn is_disconnected(kind: &MonitorEventKind) -> bool {
        matches!(kind, MonitorEventKind::Disconnected { .. })
    }

    /// `test_heartbeat_timeout_router`: a ROUTER with a 50 ms heartbeat interval (and so a 50 ms
    /// timeout) accepts a hand-made DEALER that completes the handshake and then never answers; the
    /// ROUTER's monitor reports the connection accepted, then disconnected, and the peer sees its
    /// connection closed after at least one PING.
    #[compio::test]
    async fn heartbeat_timeout_router() {
        let server = RouterSocket::with_options(
            SocketOptions::new()
                .linger(Some(Duration::ZERO))
                .heartbeat_interval(ms(50)),
        )
        .unwrap();
        let monitor = server.monitor();
        let endpoint = server.bind(TCP_ANY).await.unwrap().to_string();

        let peer = compio::runtime::spawn_blocking(move || {
            let mut peer = RawPeer::connect(&endpoint, SocketType::Dealer);
            let mut pings = 0;
            while let Some(inbound) = peer.next_inbound() {
                if let Inbound::Command(body) = inbound {
                    if body.starts_with(b"\x04PING") {
                        pings += 1;
                    }
                }
            }
            pings
        });

        wait_event(&monitor, "the connection accepted", is_accepted).await;
        let event = wait_event(&monitor, "the silent peer cut off", is_disconnected).await;
        assert!(event.peer_address.is_some(), "{event:?}");
        let pings = within("the peer sees the close", peer).await.unwrap();
        assert!(pings >= 1, "the ROUTER never sent a PING");
    }

    /// `test_heartbeat_timeout_router_mock_ping`: a ROUTER without heartbeats answers a PING from a
    /// hand-made DEALER with a PONG carrying the PING's context (`LOL`), and truncates a 58-byte
    /// context to 16 bytes in its PONG, byte for byte as libzmq does.
    ///
    /// The two PINGs are sent in one go ("to avoid timeouts, do a bulk send"; here in a single
    /// write, so that they are always read together): libzmq answers each one (it writes a PONG
    /// as it processes each PING), so both PONGs must come back, in order.
    #[compio::test]
    async fn heartbeat_timeout_router_mock_ping() {
        let server =
            RouterSocket::with_options(SocketOptions::new().linger(Some(Duration::ZERO))).unwrap();
        let monitor = server.monitor();
        let endpoint = server.bind(TCP_ANY).await.unwrap().to_string();

        let peer = compio::runtime::spawn_blocking(move || {
            let mut peer = RawPeer::connect(&endpoint, SocketType::Dealer);
            let ping: [u8; 12] = [4, 10, 4, b'P', b'I', b'N', b'G', 0, 0, b'L', b'O', b'L'];
            // A larger body: context `LOL` + 55 `z`.
            let mut big = [b'z'; 67];
            big[..12].copy_from_slice(&ping);
            big[1] = 65;
            // One write, so that the two PINGs arrive together.
            peer.write(&[&ping[..], &big[..]].concat());
            // Both PONGs, 10 + 23 bytes; whatever has come after a quiet second otherwise.
            peer.read_up_to(33, Duration::from_secs(1))
        });

        wait_event(&monitor, "the connection accepted", is_accepted).await;
        let pongs = within("the PONGs", peer).await.unwrap();
        let mut expected = vec![4, 8, 4, b'P', b'O', b'N', b'G', b'L', b'O', b'L'];
        // The large PONG: the context cut to 16 bytes.
        expected.extend([4, 21, 4, b'P', b'O', b'N', b'G', b'L', b'O', b'L']);
        expected.resize(33, b'z');
        assert_eq!(
            pongs, expected,
            "one PONG per PING, in order: the small one, then the large one cut to 16 bytes"
        );
    }

    /// `test_heartbeat_ttl`: the client announces a 100 ms TTL in PINGs sent every 250 ms; the
    /// server, which does no heartbeating itself, must drop the connection when nothing follows a
    /// PING within the TTL. Its monitor reports the connection accepted, then disconnected, no
    /// sooner than the first PING.
    async fn expect_disconnect_after_ttl(monitor: &monocoque::Monitor) {
        wait_event(monitor, "the connection accepted", is_accepted).await;
        let accepted = Instant::now();
        wait_event(
            monitor,
            "the connection dropped after the TTL",
            is_disconnected,
        )
        .await;
        assert!(
            accepted.elapsed() >= ms(200),
            "dropped after {:?}, before the first PING was due",
            accepted.elapsed()
        );
    }

    macro_rules! heartbeat_ttl {
        ($(#[$doc:meta])* $name:ident, $client:ty, $server:ty) => {
            $(#[$doc])*
            #[compio::test]
            async fn $name() {
                let server =
                    <$server>::with_options(SocketOptions::new().linger(Some(Duration::ZERO)))
                        .unwrap();
                let monitor = server.monitor();
                let endpoint = server.bind(TCP_ANY).await.unwrap().to_string();
                let client = <$client>::with_options(
                    SocketOptions::new()
                        .heartbeat_ttl(ms(100))
                        // Much longer than the TTL, so that the server times the client out.
                        .heartbeat_interval(ms(250)),
                )
                .unwrap();
                client.connect(&endpoint).unwrap();
                expect_disconnect_after_ttl(&monitor).await;
            }
        };
    }

    heartbeat_ttl! {
        /// `test_heartbeat_ttl_dealer_router`.
        heartbeat_ttl_dealer_router, DealerSocket, RouterSocket
    }
    heartbeat_ttl! {
        /// `test_heartbeat_ttl_req_rep`.
        heartbeat_ttl_req_rep, ReqSocket, RepSocket
    }
    heartbeat_ttl! {
        /// `test_heartbeat_ttl_pull_push`.
        heartbeat_ttl_pull_push, PullSocket, PushSocket
    }
    heartbeat_ttl! {
        /// `test_heartbeat_ttl_sub_pub`.
        heartbeat_ttl_sub_pub, SubSocket, PubSocket
    }
    heartbeat_ttl! {
        /// `test_heartbeat_ttl_pair_pair`.
        heartbeat_ttl_pair_pair, PairSocket, PairSocket
    }

    /// How long the `notimeout` cases watch a heartbeating connection stay up.
    const STAYS_UP: Duration = Duration::from_millis(500);

    macro_rules! heartbeat_notimeout {
        ($(#[$doc:meta])* $name:ident, $client:ty, $server:ty) => {
            $(#[$doc])*
            #[compio::test]
            async fn $name() {
                let server = <$server>::with_options(
                    SocketOptions::new()
                        .linger(Some(Duration::ZERO))
                        .heartbeat_interval(ms(50))
                        .heartbeat_timeout(ms(200)),
                )
                .unwrap();
                let monitor = server.monitor();
                let endpoint = server.bind(TCP_ANY).await.unwrap().to_string();
                let client = <$client>::new();
                client.connect(&endpoint).unwrap();
                wait_event(&monitor, "the connection accepted", is_accepted).await;
                wait_event(&monitor, "the handshake", |k| {
                    matches!(k, MonitorEventKind::HandshakeSucceeded)
                })
                .await;
                // PINGs go out every 50 ms and are answered: no event at all in the window.
                never_within("a monitor event", STAYS_UP, monitor.recv()).await;
                assert_eq!(server.connected_peers(), 1);
            }
        };
    }

    heartbeat_notimeout! {
        /// `test_heartbeat_notimeout_dealer_router`: a ROUTER sending PINGs every 50 ms to a DEALER
        /// that answers them keeps the connection; its monitor reports nothing after the accept.
        ///
        /// libzmq times a peer out after one interval without traffic (50 ms). Both sockets of a
        /// test share one runtime thread, so a 50 ms scheduling hiccup on a loaded machine would
        /// cut a healthy connection; the timeout is 200 ms here (libzmq itself ignores a failure of
        /// this case "on slow CIs"). A peer that does not answer is still cut off well within the
        /// window.
        heartbeat_notimeout_dealer_router, DealerSocket, RouterSocket
    }
    heartbeat_notimeout! {
        /// `test_heartbeat_notimeout_req_rep`, as `heartbeat_notimeout_dealer_router`.
        heartbeat_notimeout_req_rep, ReqSocket, RepSocket
    }
    heartbeat_notimeout! {
        /// `test_heartbeat_notimeout_pull_push`, as `heartbeat_notimeout_dealer_router`.
        heartbeat_notimeout_pull_push, PullSocket, PushSocket
    }
    heartbeat_notimeout! {
        /// `test_heartbeat_notimeout_sub_pub`, as `heartbeat_notimeout_dealer_router`.
        heartbeat_notimeout_sub_pub, SubSocket, PubSocket
    }
    heartbeat_notimeout! {
        /// `test_heartbeat_notimeout_pair_pair`, as `heartbeat_notimeout_dealer_router`.
        heartbeat_notimeout_pair_pair, PairSocket, PairSocket
    }

    /// `test_heartbeat_notimeout_*_with_curve` cannot be ported: monocoque implements the NULL
    /// mechanism only. This documents it: a client greeting with CURVE is refused by a
    /// heartbeating ROUTER with a mechanism mismatch, reported on its monitor.
    #[compio::test]
    async fn heartbeat_notimeout_with_curve_is_not_available() {
        let server = RouterSocket::with_options(
            SocketOptions::new()
                .linger(Some(Duration::ZERO))
                .heartbeat_interval(ms(50)),
        )
        .unwrap();
        let monitor = server.monitor();
        let endpoint = server.bind(TCP_ANY).await.unwrap().to_string();
        let address = endpoint.trim_start_matches("tcp://").to_owned();
        let client = compio::runtime::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(address).expect("connect");
            stream
                .set_read_timeout(Some(crate::zmq_common::WAIT))
                .expect("timeout");
            stream
                .write_all(&Greeting::new(MechanismName::CURVE, false).encode())
                .expect("greeting");
            // Read until the server closes the connection.
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink);
        });
        let event = wait_event(&monitor, "the handshake failure", |k| {
            matches!(k, MonitorEventKind::HandshakeFailedProtocol { .. })
        })
        .await;
        let MonitorEventKind::HandshakeFailedProtocol { error } = event.kind else {
            unreachable!()
        };
        assert!(
            matches!(
                error,
                ProtocolError::MechanismMismatch { .. } | ProtocolError::InvalidMechanism
            ),
            "{error:?}"
        );
        within("the client sees the close", client).await.unwrap();
    }

    /// The TTL a DEALER announces in its PINGs with `heartbeat_ttl` = `ttl`, read by a hand-made
    /// ROUTER (libzmq reads the option back with `zmq_getsockopt` instead; monocoque has no
    /// getter).
    async fn announced_ttl(ttl: Duration) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("tcp://{}", listener.local_addr().expect("address"));
        let peer = compio::runtime::spawn_blocking(move || {
            RawPeer::accept(&listener, SocketType::Router).next_ping_ttl()
        });
        let dealer = DealerSocket::with_options(
            SocketOptions::new()
                .heartbeat_interval(ms(20))
                .heartbeat_ttl(ttl),
        )
        .unwrap();
        dealer.connect(&endpoint).unwrap();
        within("a PING", peer).await.unwrap()
    }

    /// `test_setsockopt_heartbeat_ttl_max`: libzmq accepts a TTL up to 6553599 ms
    /// (`(UINT16_MAX + 1) * 100 - 1`) and truncates it to whole deciseconds (6553500 ms, announced
    /// as 65535).
    #[compio::test]
    async fn setsockopt_heartbeat_ttl_max() {
        let max = ms((u64::from(u16::MAX) + 1) * 100 - 1);
        let accepted = PairSocket::with_options(SocketOptions::new().heartbeat_ttl(max));
        assert!(
            accepted.is_ok(),
            "libzmq accepts a TTL of {max:?} and truncates it to 6553.5 s: {accepted:?}"
        );
        assert_eq!(announced_ttl(max).await, u16::MAX);
    }

    /// `test_setsockopt_heartbeat_ttl_more_than_max_fails`: one millisecond more is `EINVAL`.
    #[compio::test]
    async fn setsockopt_heartbeat_ttl_more_than_max_fails() {
        let too_long = ms((u64::from(u16::MAX) + 1) * 100);
        let error =
            PairSocket::with_options(SocketOptions::new().heartbeat_ttl(too_long)).unwrap_err();
        assert!(
            matches!(
                error,
                OptionError::InvalidValue {
                    option: OptionName::HeartbeatTtl,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    /// `test_setsockopt_heartbeat_ttl_near_zero`: 99 ms is accepted and truncated to 0 deciseconds,
    /// which is what goes out in the PINGs (0: no TTL).
    #[compio::test]
    async fn setsockopt_heartbeat_ttl_near_zero() {
        assert!(PairSocket::with_options(SocketOptions::new().heartbeat_ttl(ms(99))).is_ok());
        assert_eq!(announced_ttl(ms(99)).await, 0);
    }
}
