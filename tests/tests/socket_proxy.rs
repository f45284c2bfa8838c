//! The steerable proxy: an XSUB/XPUB forwarder with subscriptions going upstream, a capture
//! socket, pause and resume, statistics, and termination.

mod common;

use std::time::Duration;

use common::{TCP_ANY, wait_until, within};
use futures_util::future::{Either, select};
use monocoque::{
    Message, ProxyControl, PubSocket, PullSocket, PushSocket, SubSocket, XPubSocket, XSubSocket,
};

#[compio::test]
async fn an_xsub_xpub_forwarder_carries_subscriptions_up_and_messages_down() {
    let publisher = PubSocket::new();
    let upstream = publisher.bind(TCP_ANY).await.unwrap();
    let frontend = XSubSocket::new();
    frontend.connect(&upstream.to_string()).unwrap();
    let backend = XPubSocket::new();
    let downstream = backend.bind(TCP_ANY).await.unwrap();
    let capture = PullSocket::new();
    let captured = capture.bind(TCP_ANY).await.unwrap();
    let capture_push = PushSocket::new();
    capture_push.connect(&captured.to_string()).unwrap();

    let control = ProxyControl::new();
    let forwarder = monocoque::proxy(&frontend, &backend, Some(&capture_push), &control);
    let test = async {
        let subscriber = SubSocket::new();
        subscriber.subscribe("news.");
        subscriber.connect(&downstream.to_string()).unwrap();
        // The subscription travels SUB -> XPUB -> proxy -> XSUB -> PUB: publish until it
        // has arrived.
        let mut received = None;
        for _ in 0..500 {
            publisher.send("sports.ignored").await.unwrap();
            publisher.send("news.hello").await.unwrap();
            let wait = Duration::from_millis(10);
            if let Ok(message) = compio::time::timeout(wait, subscriber.recv()).await {
                received = Some(message.unwrap());
                break;
            }
        }
        assert_eq!(received, Some(Message::from("news.hello")));
        // What went through was captured: the subscription first, then the message.
        let first = within("capture", capture.recv()).await.unwrap();
        assert_eq!(first, Message::from(&b"\x01news."[..]));

        // Paused, nothing is forwarded; resumed, it flows again.
        control.pause();
        let before = control.statistics();
        publisher.send("news.held").await.unwrap();
        let wait = Duration::from_millis(50);
        assert!(
            compio::time::timeout(wait, subscriber.recv())
                .await
                .is_err(),
            "forwarded while paused"
        );
        assert_eq!(control.statistics(), before);
        control.resume();
        loop {
            let message = within("after resume", subscriber.recv()).await.unwrap();
            if message == Message::from("news.held") {
                break;
            }
            // A "news.hello" still on its way from the probing loop.
            assert_eq!(message, Message::from("news.hello"));
        }
        let statistics = control.statistics();
        assert!(statistics.frontend.messages_in >= 2, "{statistics:?}");
        assert_eq!(
            statistics.frontend.messages_in,
            statistics.backend.messages_out
        );
        assert!(statistics.backend.messages_in >= 1, "the subscription");
        control.terminate();
    };
    let (proxied, ()) = within("the forwarder", futures_util::future::join(forwarder, test)).await;
    proxied.unwrap();
}

#[compio::test]
async fn a_pull_push_streamer_is_one_way_and_ends_when_told() {
    let source = PushSocket::new();
    let frontend = PullSocket::new();
    let inbound = frontend.bind(TCP_ANY).await.unwrap();
    source.connect(&inbound.to_string()).unwrap();
    let backend = PushSocket::new();
    let outbound = backend.bind(TCP_ANY).await.unwrap();
    let sink = PullSocket::new();
    sink.connect(&outbound.to_string()).unwrap();

    let control = ProxyControl::new();
    let streamer = std::pin::pin!(monocoque::proxy(&frontend, &backend, None, &control));
    let test = std::pin::pin!(async {
        for n in 0..1_000u32 {
            source.send(n.to_be_bytes().to_vec()).await.unwrap();
        }
        for n in 0..1_000u32 {
            let message = within("recv", sink.recv()).await.unwrap();
            assert_eq!(&message[0][..], &n.to_be_bytes()[..]);
        }
        wait_until("the counters", || {
            control.statistics().backend.messages_out == 1_000
        })
        .await;
        control.terminate();
    });
    match within("the streamer", select(streamer, test)).await {
        Either::Left((result, _)) => panic!("the proxy ended first: {result:?}"),
        Either::Right(((), streamer)) => within("terminate", streamer).await.unwrap(),
    }
    assert_eq!(control.statistics().frontend.bytes_in, 4_000);

    // A frontend that cannot receive is refused.
    let refused = monocoque::proxy(&backend, &frontend, None, &ProxyControl::new()).await;
    assert!(matches!(refused, Err(monocoque::Error::Unsupported(_))));
}

#[compio::test]
async fn a_flood_on_one_side_does_not_starve_the_other() {
    use monocoque::DealerSocket;
    use std::cell::Cell;

    let frontend = DealerSocket::new();
    let clients = frontend.bind(TCP_ANY).await.unwrap();
    let backend = DealerSocket::new();
    let workers = backend.bind(TCP_ANY).await.unwrap();
    let client = DealerSocket::new();
    client.connect(&clients.to_string()).unwrap();
    let worker = DealerSocket::new();
    worker.connect(&workers.to_string()).unwrap();

    let control = ProxyControl::new();
    let broker = monocoque::proxy(&frontend, &backend, None, &control);
    let answered = Cell::new(false);
    let flood = async {
        // The client never stops sending until an answer comes back.
        let mut sent = 0u32;
        while !answered.get() && sent < 2_000_000 {
            client.send("work").await.unwrap();
            sent += 1;
        }
    };
    let answer = async {
        let request = within("a request at the worker", worker.recv())
            .await
            .unwrap();
        worker.send(request.with("answer")).await.unwrap();
        loop {
            let message = within("the answer back", client.recv()).await.unwrap();
            if message.len() == 2 {
                break;
            }
        }
        answered.set(true);
        control.terminate();
    };
    let (proxied, ((), ())) = within(
        "the broker",
        futures_util::future::join(broker, futures_util::future::join(flood, answer)),
    )
    .await;
    proxied.unwrap();
    assert!(control.statistics().backend.messages_in >= 1);
}

#[compio::test]
async fn terminate_ends_a_proxy_blocked_on_a_send() {
    let frontend = PullSocket::new();
    let inbound = frontend.bind(TCP_ANY).await.unwrap();
    let source = PushSocket::new();
    source.connect(&inbound.to_string()).unwrap();
    // A backend with no peer at all: its send waits for ever.
    let backend = PushSocket::new();
    let control = ProxyControl::new();
    let streamer = monocoque::proxy(&frontend, &backend, None, &control);
    let test = async {
        source.send("stuck").await.unwrap();
        wait_until("the message reached the proxy", || {
            control.statistics().frontend.messages_in == 1
        })
        .await;
        control.terminate();
    };
    let (proxied, ()) = within("terminate", futures_util::future::join(streamer, test)).await;
    proxied.unwrap();
    assert_eq!(control.statistics().backend.messages_out, 0);
}

/// The proxy on handles: a ROUTER/DEALER broker on its own thread between REQ clients and REP
/// workers on other threads, steered (paused, resumed, terminated) from the test's thread.
#[test]
fn a_broker_of_handles_is_steered_from_another_thread() {
    use monocoque::handle;

    let frontend = handle::RouterSocket::new().unwrap();
    let clients = frontend.bind(TCP_ANY).unwrap().to_string();
    let backend = handle::DealerSocket::new().unwrap();
    backend.bind("inproc://proxy-test-workers").unwrap();
    let control = ProxyControl::new();
    let broker = std::thread::spawn({
        let control = control.clone();
        move || handle::proxy(&frontend, &backend, None, &control)
    });
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let worker = handle::RepSocket::new().unwrap();
            worker.connect("inproc://proxy-test-workers").unwrap();
            let closer = worker.clone();
            let thread = std::thread::spawn(move || {
                // Serves until the test closes the socket.
                while let Ok(request) = worker.recv() {
                    if worker
                        .send(Message::from("done").with(request[0].clone()))
                        .is_err()
                    {
                        break;
                    }
                }
            });
            (closer, thread)
        })
        .collect();
    let client = handle::ReqSocket::new().unwrap();
    client.connect(&clients).unwrap();
    for i in 0..20 {
        client.send(format!("job {i}")).unwrap();
        let reply = client.recv_timeout(common::WAIT).unwrap();
        assert_eq!(reply, Message::from("done").with(format!("job {i}")));
    }
    // Paused, a request waits in the sockets' queues; resumed, it is answered.
    control.pause();
    client.send("held").unwrap();
    assert_eq!(
        client.recv_timeout(Duration::from_millis(100)),
        Err(monocoque::RecvError::TimedOut)
    );
    control.resume();
    let reply = client.recv_timeout(common::WAIT).unwrap();
    assert_eq!(reply, Message::from("done").with("held"));
    control.terminate();
    broker.join().unwrap().unwrap();
    let statistics = control.statistics();
    assert_eq!(statistics.frontend.messages_in, 21);
    assert_eq!(statistics.backend.messages_out, 21);
    assert_eq!(statistics.backend.messages_in, 21);
    assert_eq!(statistics.frontend.messages_out, 21);
    for (closer, thread) in workers {
        // A worker blocked in `recv` is woken by its socket closing.
        closer.stop();
        thread.join().unwrap();
    }
}
