//! Port of libzmq's `tests/test_monitor.cpp`: the events a socket monitor reports for a client
//! and a server over a connection's life, with their addresses (the "versioned" cases).
//!
//! A monocoque monitor is a stream returned by `monitor()`, not an `inproc://` endpoint read by a
//! PAIR, PUB or PUSH socket; so `test_monitor_invalid_protocol_fails` and
//! `test_monitor_versioned_invalid_socket_type` have nothing to port (see
//! `monitor_is_a_stream_not_an_endpoint`). `ZMQ_EVENT_PIPES_STATS` does not exist in
//! monocoque; `tipc://` neither.

mod zmq_common;

/// The cases of libzmq's `tests/test_monitor.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_monitor {
    use std::net::SocketAddr;

    use crate::zmq_common::{BindAddr, TCP_ANY, Transport, msg, next_event, within};
    use monocoque::{
        DealerSocket, Monitor, MonitorEvent, MonitorEventKind, MonitorMask, SocketOptions,
    };

    /// libzmq's `bounce`: a message from the client to the server and back.
    async fn bounce(server: &DealerSocket, client: &DealerSocket) {
        within("send", client.send(msg(&["bounce", "1"])))
            .await
            .unwrap();
        let message = within("recv", server.recv()).await.unwrap();
        assert_eq!(message, msg(&["bounce", "1"]));
        within("send back", server.send(message)).await.unwrap();
        assert_eq!(
            within("recv", client.recv()).await.unwrap(),
            msg(&["bounce", "1"])
        );
    }

    /// Every remaining event up to `MonitorStopped`, after which the stream must end.
    async fn rest_until_stopped(monitor: &Monitor) -> Vec<MonitorEventKind> {
        let mut rest = Vec::new();
        loop {
            let event = next_event(monitor).await;
            if event.kind == MonitorEventKind::MonitorStopped {
                break;
            }
            rest.push(event.kind);
        }
        assert_eq!(
            within("the end of the stream", monitor.recv()).await,
            None,
            "nothing after MonitorStopped"
        );
        rest
    }

    /// The events of both sides of a bounce between two DEALERs, both closed afterwards.
    struct Observed {
        server_endpoint: String,
        client: Vec<MonitorEvent>,
        server: Vec<MonitorEvent>,
    }

    async fn observe(bind: &str) -> Observed {
        let client = DealerSocket::with_options(SocketOptions::new().routing_id("client")).unwrap();
        let server = DealerSocket::new();
        let client_mon = client.monitor();
        let server_mon = server.monitor();

        let server_endpoint = server.bind(bind).await.unwrap().to_string();
        client.connect(&server_endpoint).unwrap();
        bounce(&server, &client).await;
        // Close client and server (libzmq: zero linger).
        drop(client);
        drop(server);

        let mut client_events = Vec::new();
        let mut event = next_event(&client_mon).await;
        if matches!(event.kind, MonitorEventKind::ConnectDelayed { .. }) {
            event = next_event(&client_mon).await;
        }
        assert_eq!(event.kind, MonitorEventKind::Connected, "{event:?}");
        client_events.push(event);
        let event = next_event(&client_mon).await;
        assert_eq!(
            event.kind,
            MonitorEventKind::HandshakeSucceeded,
            "{event:?}"
        );
        client_events.push(event);
        for kind in rest_until_stopped(&client_mon).await {
            assert!(
                matches!(
                    kind,
                    MonitorEventKind::Disconnected { .. } | MonitorEventKind::ConnectRetried { .. }
                ),
                "unexpected client event {kind:?}"
            );
        }

        let mut server_events = Vec::new();
        for expected in [
            MonitorEventKind::Listening,
            MonitorEventKind::Accepted,
            MonitorEventKind::HandshakeSucceeded,
        ] {
            let event = next_event(&server_mon).await;
            assert_eq!(event.kind, expected, "{event:?}");
            server_events.push(event);
        }
        let rest = rest_until_stopped(&server_mon).await;
        assert!(
            rest.iter().all(|kind| matches!(
                kind,
                MonitorEventKind::Disconnected { .. } | MonitorEventKind::Closed
            )),
            "unexpected server events {rest:?}"
        );
        assert!(
            rest.contains(&MonitorEventKind::Closed),
            "closing the server closes its listener: {rest:?}"
        );
        Observed {
            server_endpoint,
            client: client_events,
            server: server_events,
        }
    }

    /// `test_monitor_basic`: the client reports connected (possibly after a delayed attempt),
    /// handshake succeeded, and at most a disconnection and a retry before the monitor stops; the
    /// server reports listening, accepted, handshake succeeded, then closed (and possibly
    /// disconnected) before the monitor stops.
    #[compio::test]
    async fn monitor_basic() {
        let observed = observe(TCP_ANY).await;
        assert_eq!(observed.client.len(), 2);
        assert_eq!(observed.server.len(), 3);
    }

    /// `test_monitor_versioned_basic` over TCP: the addresses of the events. The client's
    /// `Connected` names the server endpoint and the server's address as peer; the server's events
    /// name its endpoint, and its `Accepted` and `HandshakeSucceeded` the client's address, on
    /// another port. (monocoque's events carry the endpoint and the peer's address, not libzmq's
    /// local/remote pair.) The server's handshake event also carries the client's routing id.
    async fn versioned_basic_tcp(bind: &str, prefix: &str) {
        let observed = observe(bind).await;
        let server_endpoint = &observed.server_endpoint;
        assert!(server_endpoint.starts_with(prefix), "{server_endpoint}");
        let server_addr: SocketAddr = server_endpoint
            .strip_prefix("tcp://")
            .unwrap()
            .parse()
            .unwrap();

        let connected = &observed.client[0];
        assert_eq!(&connected.endpoint, server_endpoint);
        assert_eq!(connected.peer_address, Some(server_addr.to_string()));
        assert_eq!(&observed.client[1].endpoint, server_endpoint);

        let [listening, accepted, handshake] = &observed.server[..] else {
            unreachable!()
        };
        assert_eq!(&listening.endpoint, server_endpoint);
        assert_eq!(listening.peer_address, None);
        assert_eq!(&accepted.endpoint, server_endpoint);
        let client_addr: SocketAddr = accepted
            .peer_address
            .as_deref()
            .expect("the client's address")
            .parse()
            .unwrap();
        assert_eq!(client_addr.ip(), server_addr.ip());
        assert_ne!(client_addr.port(), server_addr.port());
        assert_eq!(handshake.peer_address, accepted.peer_address);
        assert_eq!(handshake.routing_id.as_deref(), Some(&b"client"[..]));
    }

    /// `test_monitor_versioned_basic_tcp_ipv4`.
    #[compio::test]
    async fn monitor_versioned_basic_tcp_ipv4() {
        versioned_basic_tcp(TCP_ANY, "tcp://127.0.0.1:").await;
    }

    /// `test_monitor_versioned_basic_tcp_ipv6` (when the machine has an IPv6 loopback).
    #[compio::test]
    async fn monitor_versioned_basic_tcp_ipv6() {
        if !crate::zmq_common::ipv6_available() {
            assert!(DealerSocket::new().bind("tcp://[::1]:0").await.is_err());
            return;
        }
        versioned_basic_tcp("tcp://[::1]:0", "tcp://[::1]:").await;
    }

    /// `test_monitor_versioned_basic_ipc`: the same flow over ipc, where the events name the path
    /// and there is no peer address.
    #[compio::test]
    async fn monitor_versioned_basic_ipc() {
        let addr = BindAddr::new(Transport::Ipc, "monitor");
        let observed = observe(addr.endpoint()).await;
        assert!(observed.server_endpoint.starts_with("ipc://"));
        for event in observed.client.iter().chain(&observed.server) {
            assert_eq!(event.endpoint, observed.server_endpoint, "{event:?}");
            assert_eq!(event.peer_address, None, "{event:?}");
        }
        assert_eq!(
            observed.server[2].routing_id.as_deref(),
            Some(&b"client"[..])
        );
    }

    /// What replaces `test_monitor_invalid_protocol_fails`: there is no endpoint to get wrong; a
    /// monitor is a stream. Several may watch one socket, each with its events mask, and each is
    /// told when the socket is gone.
    #[compio::test]
    async fn monitor_is_a_stream_not_an_endpoint() {
        let socket = DealerSocket::new();
        let first = socket.monitor();
        let second = socket.monitor();
        let handshakes = socket.monitor_events(MonitorMask::HANDSHAKE_SUCCEEDED);
        let endpoint = socket.bind(TCP_ANY).await.unwrap().to_string();
        assert_eq!(next_event(&first).await.kind, MonitorEventKind::Listening);
        assert_eq!(next_event(&second).await.kind, MonitorEventKind::Listening);
        let peer = DealerSocket::new();
        peer.connect(&endpoint).unwrap();
        assert_eq!(
            next_event(&handshakes).await.kind,
            MonitorEventKind::HandshakeSucceeded,
            "the mask keeps Listening and Accepted out"
        );
        drop(socket);
        for monitor in [&first, &second, &handshakes] {
            let mut last = None;
            while let Some(event) = within("the end", monitor.recv()).await {
                last = Some(event.kind);
            }
            assert_eq!(last, Some(MonitorEventKind::MonitorStopped));
        }
    }
}
