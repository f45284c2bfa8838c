//! The connection status stream (`monocoque::status`): peers connected and disconnected with
//! their address and the reason, handshakes failed (protocol, authentication, refused by the
//! pattern) and never counted as connections, the same from handles on other threads, and the
//! stream's end when the socket closes.
//!
//! Every wait is bounded (`within`, `recv_timeout`); nothing sleeps for a fixed time.

mod common;

use std::io::Write;
use std::sync::mpsc;

use common::{TCP_ANY, WAIT, within};
use futures_util::StreamExt;
use monocoque::proto::{AuthDecision, AuthRequest, ProtocolError, USER_ID};
use monocoque::status::{HandleStatusStream, HandshakeFailure, Status, StatusStream};
use monocoque::{
    DealerSocket, DisconnectReason, PairSocket, PubSocket, PullSocket, PushSocket, RecvError,
    SocketOptions, SubSocket,
};

/// The next status, within the tests' bound; the stream must not have ended.
async fn next(status: &mut StatusStream) -> Status {
    within("a status", status.recv())
        .await
        .expect("the stream has not ended")
}

/// The next status of a handle's stream, within the tests' bound.
fn next_blocking(status: &mut HandleStatusStream) -> Status {
    status.recv_timeout(WAIT).expect("a status in time")
}

/// `host:port` of a `tcp://` endpoint.
fn address(endpoint: &str) -> String {
    endpoint
        .strip_prefix("tcp://")
        .expect("a tcp endpoint")
        .to_owned()
}

/// The fields of a `Connected`: `(endpoint, peer_address, connected_peers)`.
fn connected(status: &Status) -> (&str, Option<&str>, usize) {
    match status {
        Status::Connected {
            endpoint,
            peer_address,
            connected_peers,
            ..
        } => (endpoint, peer_address.as_deref(), *connected_peers),
        other => panic!("expected Connected, got {other:?}"),
    }
}

/// The fields of a `Disconnected`: `(endpoint, peer_address, reason, connected_peers)`.
fn disconnected(status: &Status) -> (&str, Option<&str>, &DisconnectReason, usize) {
    match status {
        Status::Disconnected {
            endpoint,
            peer_address,
            reason,
            connected_peers,
            ..
        } => (endpoint, peer_address.as_deref(), reason, *connected_peers),
        other => panic!("expected Disconnected, got {other:?}"),
    }
}

/// The fields of a `HandshakeFailed`: `(endpoint, peer_address, reason)`.
fn failed(status: &Status) -> (&str, Option<&str>, &HandshakeFailure) {
    match status {
        Status::HandshakeFailed {
            endpoint,
            peer_address,
            reason,
            ..
        } => (endpoint, peer_address.as_deref(), reason),
        other => panic!("expected HandshakeFailed, got {other:?}"),
    }
}

#[compio::test]
async fn a_subscriber_sees_its_publisher_connect_and_go_away() {
    let publisher = PubSocket::new();
    let endpoint = publisher.bind(TCP_ANY).await.unwrap().to_string();
    let subscriber = SubSocket::new();
    let mut status = subscriber.status();
    subscriber.connect(&endpoint).unwrap();

    let up = next(&mut status).await;
    // The connecting side's peer is the server.
    let server = address(&endpoint);
    assert_eq!(connected(&up), (&*endpoint, Some(&*server), 1));
    let Status::Connected { peer_metadata, .. } = &up else {
        unreachable!()
    };
    let metadata = peer_metadata.as_ref().expect("a TCP peer's metadata");
    assert_eq!(
        metadata.get("Socket-Type").map(|t| &t[..]),
        Some(&b"PUB"[..])
    );
    assert_eq!(
        up.to_string(),
        format!("connected: {endpoint}, peer {server} (1 peer connected)")
    );
    assert_eq!(status.connected_peers(), 1);

    drop(publisher);
    let down = next(&mut status).await;
    assert_eq!(
        disconnected(&down),
        (&*endpoint, Some(&*server), &DisconnectReason::PeerClosed, 0)
    );
    assert_eq!(
        down.to_string(),
        format!(
            "disconnected: {endpoint}, peer {server}: peer closed the connection \
             (0 peers connected)"
        )
    );
    assert_eq!(status.connected_peers(), 0);
    // Reconnection attempts (connect delayed, retried) are not statuses.
    assert_eq!(status.try_recv(), None);
}

#[compio::test]
async fn a_publisher_counts_its_subscribers_and_names_the_one_that_left() {
    let publisher = PubSocket::new();
    let mut status = publisher.status();
    let endpoint = publisher.bind(TCP_ANY).await.unwrap().to_string();

    let first = SubSocket::new();
    first.connect(&endpoint).unwrap();
    let up = next(&mut status).await;
    let (on, first_address, count) = connected(&up);
    assert_eq!((on, count), (&*endpoint, 1));
    let first_address = first_address.expect("a TCP peer address").to_owned();
    assert!(first_address.starts_with("127.0.0.1:"), "{first_address}");

    let second = SubSocket::new();
    second.connect(&endpoint).unwrap();
    let up = next(&mut status).await;
    let (_, second_address, count) = connected(&up);
    assert_eq!(count, 2);
    let second_address = second_address.expect("a TCP peer address").to_owned();
    assert_ne!(first_address, second_address);

    drop(first);
    let down = next(&mut status).await;
    assert_eq!(
        disconnected(&down),
        (
            &*endpoint,
            Some(&*first_address),
            &DisconnectReason::PeerClosed,
            1
        )
    );
    drop(second);
    let down = next(&mut status).await;
    assert_eq!(
        disconnected(&down),
        (
            &*endpoint,
            Some(&*second_address),
            &DisconnectReason::PeerClosed,
            0
        )
    );
}

fn plain_server() -> SocketOptions {
    SocketOptions::new()
        .plain_server(true)
        .authenticator(
            |request: &AuthRequest<'_>| match (request.username, request.password) {
                (Some(b"admin"), Some(b"secret")) => AuthDecision::Allow {
                    user_id: "admin".into(),
                },
                _ => AuthDecision::Deny { status: 400 },
            },
        )
}

fn plain_client(password: &str) -> SocketOptions {
    SocketOptions::new()
        .plain_username("admin")
        .plain_password(password.to_owned())
}

#[compio::test]
async fn a_wrong_password_is_a_handshake_failure_on_both_sides_and_no_connection() {
    let pull = PullSocket::with_options(plain_server()).unwrap();
    let mut server = pull.status();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();

    let intruder = PushSocket::with_options(plain_client("guess")).unwrap();
    let mut client = intruder.status();
    intruder.connect(&endpoint).unwrap();

    let refused = next(&mut server).await;
    let (on, peer, reason) = failed(&refused);
    assert_eq!(on, endpoint);
    assert!(
        peer.is_some_and(|p| p.starts_with("127.0.0.1:")),
        "{peer:?}"
    );
    assert_eq!(reason, &HandshakeFailure::Authentication { status: 400 });
    assert!(
        refused
            .to_string()
            .ends_with(": authentication refused (ZAP status 400)"),
        "{refused}"
    );
    let told = next(&mut client).await;
    let (on, peer, reason) = failed(&told);
    assert_eq!(on, endpoint);
    assert_eq!(peer, Some(&*address(&endpoint)));
    assert_eq!(reason, &HandshakeFailure::Authentication { status: 400 });

    // The refused connection's end is not a disconnection, nor counted: the next status is the
    // good client's, the first peer connected.
    let user = PushSocket::with_options(plain_client("secret")).unwrap();
    user.connect(&endpoint).unwrap();
    let up = next(&mut server).await;
    assert_eq!(connected(&up).2, 1);
    let Status::Connected { peer_metadata, .. } = &up else {
        unreachable!()
    };
    let user_id = peer_metadata.as_ref().and_then(|m| m.get(USER_ID));
    assert_eq!(user_id.map(|u| &u[..]), Some(&b"admin"[..]));
    assert_eq!(client.try_recv(), None);
}

#[compio::test]
async fn garbage_instead_of_a_greeting_is_a_protocol_failure() {
    let pull = PullSocket::new();
    let mut status = pull.status();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();

    let mut web = std::net::TcpStream::connect(address(&endpoint)).unwrap();
    web.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let broken = next(&mut status).await;
    let web_address = web.local_addr().unwrap().to_string();
    assert_eq!(
        failed(&broken),
        (
            &*endpoint,
            Some(&*web_address),
            &HandshakeFailure::Protocol(ProtocolError::BadSignature)
        )
    );
    assert_eq!(
        broken.to_string(),
        format!(
            "handshake failed: {endpoint}, peer {web_address}: protocol error: not a ZMTP \
             peer: bad greeting signature"
        )
    );

    let push = PushSocket::new();
    push.connect(&endpoint).unwrap();
    assert_eq!(connected(&next(&mut status).await).2, 1);
}

#[compio::test]
async fn a_second_pair_peer_is_refused_and_not_counted() {
    let pair = PairSocket::new();
    let mut status = pair.status();
    let endpoint = pair.bind(TCP_ANY).await.unwrap().to_string();
    let first = PairSocket::new();
    first.connect(&endpoint).unwrap();
    assert_eq!(connected(&next(&mut status).await).2, 1);

    let second = PairSocket::new();
    second.connect(&endpoint).unwrap();
    let refused = next(&mut status).await;
    assert_eq!(failed(&refused).2, &HandshakeFailure::Refused);
    assert_eq!(status.connected_peers(), 1);
}

#[compio::test]
async fn inproc_peers_come_and_go() {
    let endpoint = "inproc://socket-status-inproc";
    let pair = PairSocket::new();
    let mut status = pair.status();
    pair.bind(endpoint).await.unwrap();
    let peer = PairSocket::new();
    peer.connect(endpoint).unwrap();
    assert_eq!(connected(&next(&mut status).await), (endpoint, None, 1));
    drop(peer);
    let down = next(&mut status).await;
    assert_eq!(disconnected(&down).3, 0);
    assert_eq!(disconnected(&down).0, endpoint);
}

#[compio::test]
async fn the_stream_ends_when_the_socket_closes() {
    let dealer = DealerSocket::new();
    let mut status = dealer.status();
    let endpoint = dealer.bind(TCP_ANY).await.unwrap().to_string();
    let peer = DealerSocket::new();
    peer.connect(&endpoint).unwrap();
    assert_eq!(connected(&next(&mut status).await).2, 1);

    drop(dealer);
    // Its connections may be reported closed by the socket before the end.
    let last = loop {
        match next(&mut status).await {
            Status::Disconnected { reason, .. } => {
                assert_eq!(reason, DisconnectReason::ClosedLocally);
            }
            other => break other,
        }
    };
    assert_eq!(last, Status::Closed);
    assert_eq!(last.to_string(), "closed");
    assert_eq!(status.connected_peers(), 0);
    assert_eq!(within("the end", status.recv()).await, None);
    assert_eq!(within("the end", status.next()).await, None);
    assert_eq!(status.try_recv(), None);
}

#[test]
fn a_handle_reports_to_another_thread() {
    use monocoque::handle;

    let publisher = handle::PubSocket::new().unwrap();
    let endpoint = publisher.bind(TCP_ANY).unwrap().to_string();
    let subscriber = handle::SubSocket::new().unwrap();
    let mut status = subscriber.status().unwrap();
    subscriber.connect(&endpoint).unwrap();

    // The watcher passes each status on, and what its stream says after the end.
    let (statuses, seen) = mpsc::channel();
    let watcher = std::thread::spawn(move || {
        loop {
            let next = next_blocking(&mut status);
            let closed = next == Status::Closed;
            statuses.send(next).unwrap();
            if closed {
                break;
            }
        }
        (status.recv(), status.recv_timeout(WAIT), status.try_recv())
    });

    let up = seen.recv_timeout(WAIT).unwrap();
    let server = address(&endpoint);
    assert_eq!(connected(&up), (&*endpoint, Some(&*server), 1));
    publisher.shutdown();
    let down = seen.recv_timeout(WAIT).unwrap();
    assert_eq!(
        disconnected(&down),
        (&*endpoint, Some(&*server), &DisconnectReason::PeerClosed, 0)
    );
    subscriber.shutdown();
    assert_eq!(seen.recv_timeout(WAIT).unwrap(), Status::Closed);
    let after = watcher.join().unwrap();
    assert_eq!(after, (None, Err(RecvError::Closed), None));
}

#[test]
fn a_handle_reports_a_handshake_failure() {
    use monocoque::handle;

    let pull = handle::PullSocket::new().unwrap();
    let mut status = pull.status().unwrap();
    let endpoint = pull.bind(TCP_ANY).unwrap().to_string();
    assert_eq!(
        status.recv_timeout(std::time::Duration::from_millis(1)),
        Err(RecvError::TimedOut)
    );
    let mut web = std::net::TcpStream::connect(address(&endpoint)).unwrap();
    web.write_all(b"\x42\x43 no greeting").unwrap();
    let broken = next_blocking(&mut status);
    assert_eq!(
        failed(&broken),
        (
            &*endpoint,
            Some(&*web.local_addr().unwrap().to_string()),
            &HandshakeFailure::Protocol(ProtocolError::BadSignature)
        )
    );
    assert_eq!(status.connected_peers(), 0);
}

#[test]
fn a_handle_status_is_a_stream_for_any_runtime() {
    use monocoque::handle;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pull = handle::PullSocket::new().unwrap();
        let mut status = pull.status().unwrap();
        let endpoint = pull.bind_async(TCP_ANY).await.unwrap().to_string();
        let push = handle::PushSocket::new().unwrap();
        push.connect(&endpoint).unwrap();
        let up = tokio::time::timeout(WAIT, status.next()).await.unwrap();
        assert_eq!(connected(&up.unwrap()).2, 1);
        push.stop();
        let down = tokio::time::timeout(WAIT, status.recv_async())
            .await
            .unwrap();
        assert_eq!(disconnected(&down.unwrap()).3, 0);
    });
}
