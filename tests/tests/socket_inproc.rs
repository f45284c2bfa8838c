//! `inproc://`: every socket type, bind before and after connect, messages moved without a
//! copy, high-water marks as the sum of both sides', links across threads and runtimes, and the
//! errors of a name in use or an empty one.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::within;
use monocoque::{
    DealerSocket, Message, MonitorEventKind, PairSocket, PubSocket, PullSocket, PushSocket,
    RepSocket, ReqSocket, RouterSocket, SendErrorKind, SocketOptions, SubSocket, XPubSocket,
    XSubSocket,
};

/// A name no other test of this process uses.
fn name(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "inproc://test-{tag}-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[compio::test]
async fn push_pull_either_order() {
    for bind_first in [true, false] {
        let endpoint = name("pushpull");
        let pull = PullSocket::new();
        let push = PushSocket::new();
        if bind_first {
            assert_eq!(
                pull.bind(&endpoint).await.unwrap().to_string(),
                endpoint,
                "bound as named"
            );
            push.connect(&endpoint).unwrap();
        } else {
            push.connect(&endpoint).unwrap();
            // Sent before anyone bound: waits in the connecting side's queue.
            push.send("early").await.unwrap();
            pull.bind(&endpoint).await.unwrap();
        }
        push.send("late").await.unwrap();
        if !bind_first {
            assert_eq!(within("early", pull.recv()).await.unwrap(), "early".into());
        }
        assert_eq!(within("late", pull.recv()).await.unwrap(), "late".into());
    }
}

#[compio::test]
async fn frames_move_without_a_copy() {
    let endpoint = name("zero-copy");
    let pair_a = PairSocket::new();
    pair_a.bind(&endpoint).await.unwrap();
    let pair_b = PairSocket::new();
    pair_b.connect(&endpoint).unwrap();
    let payload = Bytes::from(vec![7u8; 64 * 1024]);
    let sent = Message::single(payload.clone()).with(Bytes::from_static(b"tail"));
    pair_b.send(sent).await.unwrap();
    let received = within("the message", pair_a.recv()).await.unwrap();
    assert_eq!(received.len(), 2);
    assert_eq!(received.frames()[0].as_ptr(), payload.as_ptr(), "copied");
    assert_eq!(received.frames()[1], Bytes::from_static(b"tail"));
}

#[compio::test]
async fn request_reply_and_routing() {
    let endpoint = name("reqrep");
    let rep = RepSocket::new();
    rep.bind(&endpoint).await.unwrap();
    let req = ReqSocket::new();
    req.connect(&endpoint).unwrap();
    for i in 0..3 {
        req.send(format!("ping {i}")).await.unwrap();
        let request = within("request", rep.recv()).await.unwrap();
        assert_eq!(request, Message::from(format!("ping {i}")));
        rep.send(format!("pong {i}")).await.unwrap();
        let reply = within("reply", req.recv()).await.unwrap();
        assert_eq!(reply, Message::from(format!("pong {i}")));
    }

    // A ROUTER knows an inproc DEALER by the routing id it set.
    let endpoint = name("router");
    let router = RouterSocket::new();
    router.bind(&endpoint).await.unwrap();
    let dealer = DealerSocket::with_options(SocketOptions::new().routing_id("worker-1")).unwrap();
    dealer.connect(&endpoint).unwrap();
    dealer.send("hello").await.unwrap();
    let message = within("at the router", router.recv()).await.unwrap();
    assert_eq!(message.frames()[0], Bytes::from_static(b"worker-1"));
    assert_eq!(message.frames()[1], Bytes::from_static(b"hello"));
    router
        .send(Message::from("worker-1").with("welcome"))
        .await
        .unwrap();
    assert_eq!(
        within("at the dealer", dealer.recv()).await.unwrap(),
        "welcome".into()
    );
}

#[compio::test]
async fn publish_subscribe_with_filters_and_xpub_xsub() {
    let endpoint = name("pubsub");
    let publisher = PubSocket::new();
    publisher.bind(&endpoint).await.unwrap();
    let subscriber = SubSocket::new();
    subscriber.subscribe("news.");
    subscriber.connect(&endpoint).unwrap();
    // The subscription travels to the publisher: publish until it has arrived.
    let mut first = None;
    for _ in 0..500 {
        publisher.send("sports.ignored").await.unwrap();
        publisher.send("news.one").await.unwrap();
        if let Ok(message) =
            compio::time::timeout(Duration::from_millis(10), subscriber.recv()).await
        {
            first = Some(message.unwrap());
            break;
        }
    }
    assert_eq!(first, Some(Message::from("news.one")));

    let endpoint = name("xpub");
    let xpub = XPubSocket::new();
    xpub.bind(&endpoint).await.unwrap();
    let xsub = XSubSocket::new();
    xsub.connect(&endpoint).unwrap();
    xsub.send(&b"\x01topic"[..]).await.unwrap();
    let subscription = within("the subscription", xpub.recv()).await.unwrap();
    assert_eq!(subscription, Message::from(&b"\x01topic"[..]));
    xpub.send("topic.a").await.unwrap();
    assert_eq!(
        within("published", xsub.recv()).await.unwrap(),
        "topic.a".into()
    );
}

#[compio::test]
async fn dealer_to_dealer_and_router_to_router_by_id() {
    let endpoint = name("dealers");
    let a = DealerSocket::new();
    a.bind(&endpoint).await.unwrap();
    let b = DealerSocket::new();
    b.connect(&endpoint).unwrap();
    b.send("to a").await.unwrap();
    assert_eq!(within("a", a.recv()).await.unwrap(), "to a".into());
    a.send("to b").await.unwrap();
    assert_eq!(within("b", b.recv()).await.unwrap(), "to b".into());

    let endpoint = name("routers");
    let server = RouterSocket::with_options(SocketOptions::new().routing_id("server")).unwrap();
    server.bind(&endpoint).await.unwrap();
    let client = RouterSocket::with_options(SocketOptions::new().routing_id("client")).unwrap();
    client.connect(&endpoint).unwrap();
    assert!(client.wait_connected(Some(common::WAIT)).await);
    client
        .send(Message::from("server").with("hi"))
        .await
        .unwrap();
    let message = within("server", server.recv()).await.unwrap();
    assert_eq!(message, Message::from("client").with("hi"));
}

/// libzmq's `test_hwm`: with nobody reading, a connecting PUSH can queue its send high-water
/// mark plus the binding PULL's receive high-water mark, in either order of bind and connect.
#[compio::test]
async fn high_water_marks_add_up() {
    for (send_hwm, recv_hwm, bind_first) in [(10, 10, true), (10, 10, false), (3, 50, true)] {
        let endpoint = name("hwm");
        let pull = PullSocket::with_options(SocketOptions::new().recv_hwm(recv_hwm)).unwrap();
        let push = PushSocket::with_options(
            SocketOptions::new()
                .send_hwm(send_hwm)
                .send_timeout(Some(Duration::from_millis(100))),
        )
        .unwrap();
        if bind_first {
            pull.bind(&endpoint).await.unwrap();
            push.connect(&endpoint).unwrap();
        } else {
            push.connect(&endpoint).unwrap();
            pull.bind(&endpoint).await.unwrap();
        }
        assert!(push.wait_connected(Some(common::WAIT)).await);
        let mut sent = 0;
        loop {
            match push.send(common::num(sent)).await {
                Ok(()) => sent += 1,
                Err(error) => {
                    assert_eq!(error.kind, SendErrorKind::TimedOut);
                    break;
                }
            }
            assert!(sent <= 1000, "no limit");
        }
        assert_eq!(
            sent as usize,
            send_hwm + recv_hwm,
            "send {send_hwm} + receive {recv_hwm}, bind first: {bind_first}"
        );
        // Everything arrives, in order, and room comes back.
        for i in 0..sent {
            let message = within("queued", pull.recv()).await.unwrap();
            assert_eq!(common::read_num(&message.frames()[0]), i);
        }
        push.send(common::num(sent)).await.unwrap();
        let message = within("after", pull.recv()).await.unwrap();
        assert_eq!(common::read_num(&message.frames()[0]), sent);
    }
}

#[compio::test]
async fn a_name_is_bound_once_and_freed_by_unbind() {
    let endpoint = name("in-use");
    let first = PullSocket::new();
    first.bind(&endpoint).await.unwrap();
    let second = PullSocket::new();
    let error = second.bind(&endpoint).await.unwrap_err();
    assert!(
        matches!(&error, monocoque::Error::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse),
        "{error:?}"
    );

    // A connected PUSH follows the name to its next binder.
    let push = PushSocket::new();
    push.connect(&endpoint).unwrap();
    push.send("to the first").await.unwrap();
    assert_eq!(
        within("first", first.recv()).await.unwrap(),
        "to the first".into()
    );
    first.unbind(&endpoint).unwrap();
    second.bind(&endpoint).await.unwrap();
    push.send("to the second").await.unwrap();
    assert_eq!(
        within("second", second.recv()).await.unwrap(),
        "to the second".into()
    );

    let error = PushSocket::new().connect("inproc://").unwrap_err();
    assert!(matches!(error, monocoque::Error::Endpoint(_)), "{error:?}");
}

#[compio::test]
async fn an_incompatible_peer_is_refused_with_a_monitor_event() {
    let endpoint = name("incompatible");
    let pull = PullSocket::new();
    pull.bind(&endpoint).await.unwrap();
    let sub = SubSocket::new();
    let events = sub.monitor();
    sub.connect(&endpoint).unwrap();
    loop {
        let event = within("the refusal", events.recv()).await.unwrap();
        if let MonitorEventKind::HandshakeFailedProtocol { error } = &event.kind {
            assert!(error.to_string().contains("cannot talk"), "{error}");
            break;
        }
        assert!(
            !matches!(event.kind, MonitorEventKind::HandshakeSucceeded),
            "{event:?}"
        );
    }
    assert_eq!(pull.connected_peers(), 0);
}

/// Two compio runtimes on two threads, a PUSH on one and a PULL on the other, in both orders
/// of bind and connect.
#[test]
fn across_threads_and_runtimes() {
    for bind_first in [true, false] {
        let endpoint = name("threads");
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        let receiver = {
            let endpoint = endpoint.clone();
            std::thread::spawn(move || {
                compio::runtime::Runtime::new().unwrap().block_on(async {
                    let pull = PullSocket::new();
                    if bind_first {
                        pull.bind(&endpoint).await.unwrap();
                        bound_tx.send(()).unwrap();
                    } else {
                        pull.connect(&endpoint).unwrap();
                        bound_tx.send(()).unwrap();
                    }
                    let mut total = 0u64;
                    for i in 0..10_000u32 {
                        let message = within("a message", pull.recv()).await.unwrap();
                        assert_eq!(common::read_num(&message.frames()[0]), i);
                        total += 1;
                    }
                    total
                })
            })
        };
        bound_rx.recv().unwrap();
        compio::runtime::Runtime::new().unwrap().block_on(async {
            let push = PushSocket::new();
            if bind_first {
                push.connect(&endpoint).unwrap();
            } else {
                push.bind(&endpoint).await.unwrap();
            }
            for i in 0..10_000u32 {
                within("a send", push.send(common::num(i))).await.unwrap();
            }
            push.close().await;
        });
        assert_eq!(receiver.join().unwrap(), 10_000);
    }
}

/// Handles on the library's I/O threads over inproc, from plain threads.
#[test]
fn handles_over_inproc() {
    let endpoint = name("handles");
    let pull = monocoque::handle::PullSocket::new().unwrap();
    pull.bind(&endpoint).unwrap();
    let push = monocoque::handle::PushSocket::new().unwrap();
    push.connect(&endpoint).unwrap();
    let senders: Vec<_> = (0..2)
        .map(|t| {
            let push = push.clone();
            std::thread::spawn(move || {
                for i in 0..5_000u32 {
                    push.send(common::num(t * 100_000 + i)).unwrap();
                }
            })
        })
        .collect();
    let mut seen = [0u32; 2];
    for _ in 0..10_000 {
        let message = pull.recv_timeout(common::WAIT).unwrap();
        let n = common::read_num(&message.frames()[0]);
        let (t, i) = ((n / 100_000) as usize, n % 100_000);
        assert_eq!(i, seen[t], "in order per sender");
        seen[t] += 1;
    }
    for sender in senders {
        sender.join().unwrap();
    }
    assert_eq!(seen, [5_000, 5_000]);
}

/// A binder unbound with messages on their way loses none of them: what reached its queue is
/// still readable there, what it had not queued goes back to the connecting side and on to the
/// next binder, each message exactly once.
#[compio::test]
async fn unbinding_loses_nothing_on_the_way() {
    let endpoint = name("no-loss");
    let first = PullSocket::with_options(SocketOptions::new().recv_hwm(10)).unwrap();
    first.bind(&endpoint).await.unwrap();
    let push = PushSocket::new();
    push.connect(&endpoint).unwrap();
    for i in 0..200u32 {
        push.send(common::num(i)).await.unwrap();
    }
    // Let the first binder fill its queue and hold the rest in the link.
    common::wait_until("the first queue is full", || {
        first.try_recv().is_ok_and(|m| {
            // Put nothing aside: the first message is read here, counted below.
            assert_eq!(common::read_num(&m.frames()[0]), 0);
            true
        })
    })
    .await;
    first.unbind(&endpoint).unwrap();
    let second = PullSocket::new();
    second.bind(&endpoint).await.unwrap();
    let mut seen = [false; 200];
    seen[0] = true;
    let mut count = 1;
    let deadline = std::time::Instant::now() + common::WAIT;
    while count < 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "{count} of 200 arrived"
        );
        let from_first = first.try_recv().ok();
        let from_second = if from_first.is_none() {
            compio::time::timeout(Duration::from_millis(10), second.recv())
                .await
                .ok()
                .map(Result::unwrap)
        } else {
            None
        };
        for message in from_first.into_iter().chain(from_second) {
            let n = common::read_num(&message.frames()[0]) as usize;
            assert!(!seen[n], "message {n} twice");
            seen[n] = true;
            count += 1;
        }
    }
}
