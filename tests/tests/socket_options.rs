//! Socket options that live on the TCP connection or decide where it goes: interface names and
//! source addresses in endpoints, IPv6, never reconnecting, and XPUB_NODROP end to end.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{TCP_ANY, free_port, tcp_port, wait_until, within};
use futures_util::future::join;
use monocoque::{
    DealerSocket, Message, MonitorMask, PubSocket, PullSocket, PushSocket, RouterNotify,
    RouterSocket, SendErrorKind, SocketOptions, SubSocket,
};

#[compio::test]
async fn an_interface_name_binds_its_address() {
    let pull = PullSocket::new();
    let bound = pull.bind("tcp://lo:0").await.unwrap();
    let addr = bound.socket_addr().unwrap();
    assert!(addr.ip().is_loopback(), "{bound}");
    assert_ne!(addr.port(), 0);
    let push = PushSocket::new();
    push.connect(&bound.to_string()).unwrap();
    within("send", push.send("over lo")).await.unwrap();
    assert_eq!(
        within("recv", pull.recv()).await.unwrap(),
        Message::from("over lo")
    );
}

#[compio::test]
async fn a_source_address_is_where_the_connection_comes_from() {
    let pull = PullSocket::new();
    let accepted = pull.monitor_events(MonitorMask::ACCEPTED);
    let bound = pull.bind(TCP_ANY).await.unwrap();
    let port = bound.port().unwrap();
    // All of 127.0.0.0/8 is the loopback interface on Linux.
    let push = PushSocket::new();
    push.connect(&format!("tcp://127.0.0.2:0;127.0.0.1:{port}"))
        .unwrap();
    within("send", push.send("from .2")).await.unwrap();
    assert_eq!(
        within("recv", pull.recv()).await.unwrap(),
        Message::from("from .2")
    );
    let event = within("accepted", accepted.recv()).await.unwrap();
    let peer = event.peer_address.expect("a TCP peer has an address");
    assert!(peer.starts_with("127.0.0.2:"), "{peer}");
}

#[compio::test]
async fn a_wildcard_binds_ipv4_unless_ipv6_is_on() {
    let v4 = PullSocket::new();
    let bound = v4.bind("tcp://*:0").await.unwrap();
    assert!(bound.socket_addr().unwrap().is_ipv4(), "{bound}");

    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped the dual-stack half: this machine has no IPv6 loopback");
        return;
    }
    let dual = PullSocket::with_options(SocketOptions::new().ipv6(true)).unwrap();
    let bound = dual.bind("tcp://*:0").await.unwrap();
    assert!(bound.socket_addr().unwrap().is_ipv6(), "{bound}");
    let port = bound.port().unwrap();
    // One listener takes both families.
    for (endpoint, text) in [
        (tcp_port(port), "over IPv4"),
        (format!("tcp://[::1]:{port}"), "over IPv6"),
    ] {
        let push = PushSocket::new();
        push.connect(&endpoint).unwrap();
        within("send", push.send(text)).await.unwrap();
        assert_eq!(
            within("recv", dual.recv()).await.unwrap(),
            Message::from(text)
        );
    }
}

#[compio::test]
async fn without_reconnect_a_failed_endpoint_is_given_up_with_its_queue() {
    let port = free_port();
    // No limit on the queue: a connecting endpoint would take every message while it retries.
    for reconnect in [true, false] {
        let push = PushSocket::with_options(
            SocketOptions::new()
                .send_hwm(0)
                .reconnect(reconnect)
                .reconnect_interval(Duration::from_millis(10)),
        )
        .unwrap();
        let delayed = push.monitor_events(MonitorMask::CONNECT_DELAYED);
        push.connect(&tcp_port(port)).unwrap();
        within("the attempt fails", delayed.recv()).await.unwrap();
        if reconnect {
            // Still retrying: the endpoint's queue takes messages.
            for _ in 0..100 {
                push.try_send("queued").unwrap();
                compio::time::sleep(Duration::from_millis(1)).await;
            }
        } else {
            // Given up: no pipe is left to take a message.
            wait_until("the endpoint is given up", || {
                matches!(
                    push.try_send("nowhere"),
                    Err(error) if error.kind() == SendErrorKind::WouldBlock
                )
            })
            .await;
        }
    }
}

#[compio::test]
async fn xpub_nodrop_makes_a_publisher_wait_instead_of_dropping() {
    let options = SocketOptions::new()
        .send_hwm(4)
        .xpub_nodrop(true)
        .send_buffer(4096);
    let publisher = PubSocket::with_options(options).unwrap();
    let bound = publisher.bind(TCP_ANY).await.unwrap();
    let subscriber =
        SubSocket::with_options(SocketOptions::new().recv_hwm(4).recv_buffer(4096)).unwrap();
    subscriber.subscribe("");
    subscriber.connect(&bound.to_string()).unwrap();
    within("the subscriber connects", publisher.wait_connected(None)).await;
    // The subscription travels on its own: send one message until it arrives.
    wait_until("the subscription reaches the publisher", || {
        let _ = publisher.try_send("hello");
        subscriber.try_recv().is_ok()
    })
    .await;
    while subscriber.try_recv().is_ok() {}

    // The subscriber reads nothing: the publisher must end up refusing, not dropping.
    let body = Bytes::from(vec![7u8; 1024]);
    let mut sent = 0u32;
    let mut refused = false;
    for _ in 0..100_000 {
        match publisher.try_send(Message::from(body.clone()).with(sent.to_be_bytes().to_vec())) {
            Ok(()) => sent += 1,
            Err(error) => {
                assert_eq!(error.kind(), SendErrorKind::WouldBlock);
                refused = true;
                break;
            }
        }
        if sent % 16 == 0 {
            compio::time::sleep(Duration::ZERO).await;
        }
    }
    assert!(
        refused,
        "{sent} messages sent without the publisher refusing one"
    );
    // A waiting send completes once the subscriber reads; every message arrives, in order.
    let last = Message::from(body.clone()).with(sent.to_be_bytes().to_vec());
    let send = publisher.send(last);
    let read = async {
        let mut n = 0;
        while n <= sent {
            let message = within("recv", subscriber.recv()).await.unwrap();
            if message == Message::from("hello") {
                // A probe of the subscription that was still on its way.
                assert_eq!(n, 0, "a probe after the numbered messages");
                continue;
            }
            assert_eq!(&message[1][..], &n.to_be_bytes()[..], "message {n}");
            n += 1;
        }
    };
    let (sent_last, ()) = within("send and read", join(send, read)).await;
    sent_last.unwrap();
}

#[compio::test]
async fn router_notify_reports_peers_coming_and_going() {
    let notify = RouterNotify::CONNECT | RouterNotify::DISCONNECT;
    let router = RouterSocket::with_options(SocketOptions::new().router_notify(notify)).unwrap();
    let bound = router.bind(TCP_ANY).await.unwrap();
    let dealer = DealerSocket::with_options(SocketOptions::new().routing_id("d1")).unwrap();
    dealer.connect(&bound.to_string()).unwrap();
    let connected = within("the connect notification", router.recv())
        .await
        .unwrap();
    assert_eq!(connected, Message::from("d1").with(""));
    dealer.send("work").await.unwrap();
    assert_eq!(
        within("recv", router.recv()).await.unwrap(),
        Message::from("d1").with("work")
    );
    drop(dealer);
    let gone = within("the disconnect notification", router.recv())
        .await
        .unwrap();
    assert_eq!(gone, Message::from("d1").with(""));
}

#[compio::test]
async fn a_connect_routing_id_names_the_peer_across_reconnections() {
    let port = free_port();
    let frontend = RouterSocket::new();
    frontend
        .connect_with_routing_id(&tcp_port(port), "backend")
        .unwrap();
    for round in 0..2 {
        let backend = RouterSocket::new();
        backend.bind(&tcp_port(port)).await.unwrap();
        within("the frontend connects", backend.wait_connected(None)).await;
        let text = format!("round {round}");
        frontend
            .send(Message::from("backend").with(text.clone()))
            .await
            .unwrap();
        let received = within("recv", backend.recv()).await.unwrap();
        assert_eq!(&received[1][..], text.as_bytes());
        backend.close().await;
        wait_until("the frontend sees the backend gone", || {
            frontend.connected_peers() == 0
        })
        .await;
    }
    // The name stays taken while the endpoint is there.
    assert!(
        frontend
            .connect_with_routing_id(&tcp_port(port), "backend")
            .is_err()
    );
}
