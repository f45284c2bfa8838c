//! Defects found by trying monocoque from outside, each reproduced through the public API: large
//! multipart messages, a departing ROUTER peer's routing id, dropping a socket with messages
//! queued, and XPUB's queue of what its subscribers send.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{IpcPath, TCP_ANY, free_port, num, read_num, tcp_port, wait_until, within};
use monocoque::{
    DealerSocket, DisconnectReason, Message, MonitorEventKind, PullSocket, PushSocket,
    RouterSocket, SocketOptions, XPubSocket, XSubSocket,
};

/// Binds `endpoint`, retrying while a previous listener's port is not free yet.
async fn bind_again(push: &PushSocket, endpoint: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Err(error) = push.bind(endpoint).await {
        assert!(Instant::now() < deadline, "bind {endpoint}: {error}");
        compio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A message of `frames` frames of 8 KiB, each frame tagged with its index.
fn many_frames(frames: usize) -> Message {
    (0..frames)
        .map(|i| {
            let mut body = vec![(i % 251) as u8; 8192];
            body[..4].copy_from_slice(&(i as u32).to_be_bytes());
            Bytes::from(body)
        })
        .collect()
}

/// Each body of 4 KiB or more is its own buffer of a vectored write, and `writev` takes at most
/// 1,024 buffers: a message of 600 frames of 8 KiB used to fail the write and close the
/// connection without a word.
#[compio::test]
async fn multipart_messages_of_thousands_of_large_frames_arrive_whole() {
    let ipc = IpcPath::new("many-frames");
    for endpoint in [TCP_ANY.to_owned(), ipc.endpoint()] {
        let pull = PullSocket::new();
        let bound = pull.bind(&endpoint).await.unwrap().to_string();
        let push = PushSocket::new();
        let monitor = push.monitor();
        push.connect(&bound).unwrap();
        for frames in [1, 511, 512, 600, 2000, 4096] {
            let message = many_frames(frames);
            within("send", push.send(message.clone())).await.unwrap();
            let received = within(&format!("{frames} frames over {endpoint}"), pull.recv())
                .await
                .unwrap();
            assert_eq!(received.len(), frames);
            assert!(received == message, "{frames} frames arrived changed");
        }
        while let Some(event) = monitor.try_recv() {
            assert!(
                !matches!(event.kind, MonitorEventKind::Disconnected { .. }),
                "the connection dropped: {event:?}"
            );
        }
    }
}

/// A DEALER sends three messages and leaves: the ROUTER still gets all three, each with the
/// DEALER's routing id (the last one used to lose it with the pipe), and the monitor names the
/// peer that left.
#[compio::test]
async fn a_departed_dealers_last_messages_keep_its_routing_id() {
    let router = RouterSocket::new();
    let monitor = router.monitor();
    let endpoint = router.bind(TCP_ANY).await.unwrap().to_string();
    let dealer = DealerSocket::with_options(SocketOptions::new().routing_id("dealer")).unwrap();
    dealer.connect(&endpoint).unwrap();
    for i in 0..3 {
        dealer.send(Message::single(num(i))).await.unwrap();
    }
    within("the dealer's close", dealer.close()).await;
    let ended = within("the Disconnected event", async {
        loop {
            let event = monitor.recv().await.expect("the monitor runs");
            if let MonitorEventKind::Disconnected { reason } = &event.kind {
                break (reason.clone(), event.routing_id.clone());
            }
        }
    })
    .await;
    assert_eq!(
        ended,
        (DisconnectReason::PeerClosed, Some(Bytes::from("dealer")))
    );
    for i in 0..3 {
        let message = within("a message", router.recv()).await.unwrap();
        assert_eq!(message[0], "dealer", "message {i} lost its routing id");
        assert_eq!(read_num(&message[1]), i);
    }
}

/// Dropping a socket behaves like `zmq_close`: it returns at once, and what it queued still
/// goes out, here to a peer that only appears afterwards.
#[compio::test]
async fn a_dropped_push_still_delivers_what_it_queued() {
    let port = free_port();
    let push = PushSocket::new();
    push.connect(&tcp_port(port)).unwrap();
    for i in 0..10 {
        push.send(Message::single(num(i))).await.unwrap();
    }
    let dropped = Instant::now();
    drop(push);
    assert!(
        dropped.elapsed() < Duration::from_millis(100),
        "drop waited"
    );
    let pull = PullSocket::new();
    pull.bind(&tcp_port(port)).await.unwrap();
    for i in 0..10 {
        let message = within("a message queued before the drop", pull.recv())
            .await
            .unwrap();
        assert_eq!(read_num(&message[0]), i);
    }
}

/// With a linger time, a dropped socket gives up on what it could not deliver once that time
/// is over, and then stops (its monitor says so).
#[compio::test]
async fn a_dropped_socket_gives_up_after_its_linger_time() {
    const LINGER: Duration = Duration::from_millis(200);
    let push = PushSocket::with_options(SocketOptions::new().linger(Some(LINGER))).unwrap();
    let monitor = push.monitor();
    push.connect(&tcp_port(free_port())).unwrap();
    push.send("never delivered").await.unwrap();
    let dropped = Instant::now();
    drop(push);
    within("the monitor's end", async {
        while let Some(event) = monitor.recv().await {
            if event.kind == MonitorEventKind::MonitorStopped {
                break;
            }
        }
    })
    .await;
    let lingered = dropped.elapsed();
    assert!(
        lingered >= LINGER,
        "stopped after {lingered:?}, before the linger time"
    );
}

/// XPUB hands what its subscribers send (subscriptions, and any message from an XSUB) to the
/// application; while the application does not read, that queue stops at `recv_hwm` and the
/// readers of those peers pause, instead of growing without bound. An XSUB drops what it cannot
/// queue (as libzmq's), so what arrives is a subsequence, in order.
#[compio::test]
async fn an_xpub_that_is_not_read_holds_at_most_its_recv_hwm() {
    const HWM: usize = 100;
    const TOTAL: u32 = 20_000;
    let xpub = XPubSocket::with_options(SocketOptions::new().recv_hwm(HWM)).unwrap();
    let endpoint = xpub.bind(TCP_ANY).await.unwrap().to_string();
    let xsub = XSubSocket::with_options(
        SocketOptions::new()
            .send_hwm(HWM)
            .send_buffer(8192)
            .recv_buffer(8192)
            .linger(Some(Duration::from_millis(300))),
    )
    .unwrap();
    xsub.connect(&endpoint).unwrap();
    wait_until("connected", || xpub.connected_peers() == 1).await;
    let payload = Bytes::from(vec![b'x'; 1024]);
    for i in 0..TOTAL {
        xsub.send(Message::single(num(i)).with(payload.clone()))
            .await
            .unwrap();
    }
    // Whatever can still go out does, within the linger time; the rest waits on a paused XPUB.
    within("the XSUB's close", xsub.close()).await;
    let mut held = Vec::new();
    while let Ok(message) = xpub.try_recv() {
        held.push(read_num(&message[0]));
    }
    assert!(
        held.windows(2).all(|w| w[0] < w[1]),
        "reordered or duplicated"
    );
    // The queue itself, plus what one read had decoded when it paused.
    assert!(
        held.len() <= HWM + 64,
        "the XPUB held {} of {TOTAL} messages with recv_hwm {HWM}",
        held.len()
    );
    println!(
        "the unread XPUB held {} of {TOTAL} messages (recv_hwm {HWM})",
        held.len()
    );
}

/// A connecting PULL whose application does not read fills its queue, and its peer restarts: the
/// new connection delivers into the full queue (what it had already read cannot be given back),
/// and the queue's count must follow every message through, so that reading it all resumes the
/// reader (the count used to drift and trip an assertion the network could reach).
#[compio::test]
async fn a_full_queue_carried_across_a_reconnection_drains_and_resumes() {
    const HWM: usize = 10;
    let port = free_port();
    let endpoint = tcp_port(port);
    let pull = PullSocket::with_options(
        SocketOptions::new()
            .recv_hwm(HWM)
            .reconnect_interval(Duration::from_millis(10)),
    )
    .unwrap();
    pull.connect(&endpoint).unwrap();
    let mut next = 0u32;
    for _round in 0..3 {
        let push =
            PushSocket::with_options(SocketOptions::new().linger(Some(Duration::ZERO))).unwrap();
        bind_again(&push, &endpoint).await;
        wait_until("the PULL connected", || push.connected_peers() == 1).await;
        for _ in 0..3 * HWM {
            push.send(Message::single(num(next))).await.unwrap();
            next += 1;
        }
        // The PUSH goes away with what the PULL did not take; the PULL reconnects to the next.
        drop(push);
    }
    // Everything the PULL took arrives in order, then the next peer's message: reading it all
    // resumes the reader.
    let push = PushSocket::new();
    bind_again(&push, &endpoint).await;
    push.send(Message::single(num(u32::MAX))).await.unwrap();
    let mut last = None;
    loop {
        let message = within("the next message", pull.recv()).await.unwrap();
        let n = read_num(&message[0]);
        if n == u32::MAX {
            break;
        }
        assert!(last.is_none_or(|l| n > l), "reordered: {n} after {last:?}");
        last = Some(n);
    }
}
