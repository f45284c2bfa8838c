//! PUSH and PULL (RFC 30) between monocoque sockets over TCP and IPC: load-balancing,
//! fair-queuing, multipart atomicity, high-water marks, queuing before a peer exists,
//! reconnection and flushing on close.

mod common;

use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use common::{IpcPath, TCP_ANY, WAIT, num, read_num, tcp_port, wait_until, within};
use monocoque::{Message, PullSocket, PushSocket, SendErrorKind, SocketOptions};

/// Options for a connecting socket that retries quickly.
fn fast_reconnect() -> SocketOptions {
    SocketOptions::new().reconnect_interval(Duration::from_millis(10))
}

#[compio::test]
async fn push_round_robins_exactly_over_three_pulls() {
    let push = PushSocket::new();
    let endpoint = push.bind(TCP_ANY).await.unwrap().to_string();
    let pulls: Vec<PullSocket> = (0..3).map(|_| PullSocket::new()).collect();
    for pull in &pulls {
        pull.connect(&endpoint).unwrap();
    }
    wait_until("the PUSH has three peers", || push.connected_peers() == 3).await;
    wait_until("every PULL is connected", || {
        pulls.iter().all(|p| p.connected_peers() == 1)
    })
    .await;

    const ROUNDS: u32 = 100;
    for i in 0..3 * ROUNDS {
        within("send", push.send(Message::single(num(i))))
            .await
            .unwrap();
    }
    let mut residues = Vec::new();
    for (k, pull) in pulls.iter().enumerate() {
        let mut received = Vec::new();
        for _ in 0..ROUNDS {
            let message = within("recv", pull.recv()).await.unwrap();
            received.push(read_num(&message[0]));
        }
        let residue = received[0] % 3;
        // Exact round-robin: every third message, in order.
        let expected: Vec<u32> = (0..ROUNDS).map(|r| residue + 3 * r).collect();
        assert_eq!(received, expected, "PULL {k} got an uneven share");
        residues.push(residue);
    }
    residues.sort_unstable();
    assert_eq!(residues, [0, 1, 2]);
    for pull in &pulls {
        assert!(pull.try_recv().is_err(), "a PULL got more than its share");
    }
}

#[compio::test]
async fn pull_fair_queues_three_pushes() {
    const PER_SENDER: u32 = 200;
    let pull = PullSocket::with_options(SocketOptions::new().recv_hwm(10)).unwrap();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let pushes: Vec<PushSocket> = (0..3).map(|_| PushSocket::new()).collect();
    for push in &pushes {
        push.connect(&endpoint).unwrap();
    }
    wait_until("the PULL has three peers", || pull.connected_peers() == 3).await;
    wait_until("every PUSH is connected", || {
        pushes.iter().all(|p| p.connected_peers() == 1)
    })
    .await;

    // Every sender queues all its messages before the receiver takes the first one.
    for seq in 0..PER_SENDER {
        for (sender, push) in (0u32..).zip(&pushes) {
            within(
                "send",
                push.send(Message::from_iter([num(sender), num(seq)])),
            )
            .await
            .unwrap();
        }
    }
    let mut order = Vec::new();
    let mut next = [0u32; 3];
    for _ in 0..3 * PER_SENDER {
        let message = within("recv", pull.recv()).await.unwrap();
        let (sender, seq) = (read_num(&message[0]) as usize, read_num(&message[1]));
        assert_eq!(seq, next[sender], "sender {sender} out of order");
        next[sender] += 1;
        order.push(sender);
    }
    assert_eq!(next, [PER_SENDER; 3]);
    // Fair-queuing: no sender is drained before the others get a turn.
    let first: std::collections::HashSet<usize> = order[..30].iter().copied().collect();
    assert_eq!(
        first.len(),
        3,
        "the first 30 messages come from {first:?} only: {:?}",
        &order[..30]
    );
    let longest_run = order
        .chunk_by(|a, b| a == b)
        .map(<[usize]>::len)
        .max()
        .unwrap();
    assert!(
        longest_run <= 30,
        "one sender delivered {longest_run} messages in a row"
    );
}

/// Message `i` of the multipart stream: between one and seven frames, some of them empty.
fn multipart(i: u32) -> Message {
    let frames = 1 + (i % 7) as usize;
    let mut message = Message::single(num(i));
    for f in 1..frames {
        let len = (i as usize * 31 + f * 17) % 50;
        // Every third frame is empty.
        let len = if (i as usize + f) % 3 == 0 { 0 } else { len };
        message.push(Bytes::from(vec![(i as u8).wrapping_add(f as u8); len]));
    }
    message
}

#[compio::test]
async fn ten_thousand_multipart_messages_arrive_whole_and_in_order() {
    const COUNT: u32 = 10_000;
    let pull = PullSocket::new();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let push = PushSocket::new();
    push.connect(&endpoint).unwrap();
    // Send from another task, so that a full queue on either side cannot stall the test.
    let sender = compio::runtime::spawn(async move {
        for i in 0..COUNT {
            push.send(multipart(i)).await.unwrap();
        }
        push
    });
    for i in 0..COUNT {
        let message = within("recv", pull.recv()).await.unwrap();
        assert_eq!(message, multipart(i), "message {i}");
    }
    let _push = within("sender task", sender).await.unwrap();
    assert!(pull.try_recv().is_err());
}

#[compio::test]
async fn a_4_mib_message_arrives_intact() {
    let pull = PullSocket::new();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let push = PushSocket::new();
    push.connect(&endpoint).unwrap();
    let big: Vec<u8> = (0..4 * 1024 * 1024u32)
        .map(|i| (i % 251) as u8 ^ (i >> 12) as u8)
        .collect();
    let message = Message::from_iter([Bytes::from_static(b"head"), Bytes::from(big)]).with("tail");
    within("send", push.send(message.clone())).await.unwrap();
    within("send", push.send("after")).await.unwrap();
    let received = within("recv", pull.recv()).await.unwrap();
    assert_eq!(received.len(), 3);
    assert_eq!(received[1].len(), 4 * 1024 * 1024);
    assert!(received == message, "the 4 MiB message was altered");
    assert_eq!(
        within("recv", pull.recv()).await.unwrap(),
        Message::from("after")
    );
}

#[compio::test]
async fn many_small_messages_over_ipc_arrive_in_order() {
    const COUNT: u32 = 100_000;
    let path = IpcPath::new("many-small");
    let pull = PullSocket::new();
    pull.bind(&path.endpoint()).await.unwrap();
    let push = PushSocket::new();
    push.connect(&path.endpoint()).unwrap();
    let sender = compio::runtime::spawn(async move {
        for i in 0..COUNT {
            push.send(Message::single(num(i))).await.unwrap();
        }
        push
    });
    for i in 0..COUNT {
        let message = within("recv", pull.recv()).await.unwrap();
        assert_eq!(message.len(), 1);
        assert_eq!(read_num(&message[0]), i);
    }
    let _push = within("sender task", sender).await.unwrap();
}

#[compio::test]
async fn a_connecting_push_queues_up_to_its_hwm_until_the_pull_binds() {
    let path = IpcPath::new("queue-before-bind");
    let push = PushSocket::with_options(fast_reconnect().send_hwm(10)).unwrap();
    push.connect(&path.endpoint()).unwrap();
    let mut queued = 0u32;
    let refused = loop {
        match push.try_send(Message::single(num(queued))) {
            Ok(()) => queued += 1,
            Err(error) => break error,
        }
        assert!(queued <= 1000, "a PUSH with no peer queued without limit");
    };
    assert_eq!(refused.kind, SendErrorKind::WouldBlock);
    assert_eq!(refused.message, Message::single(num(queued)));
    assert_eq!(
        queued, 10,
        "the queue of a connecting PUSH holds send_hwm messages"
    );

    let pull = PullSocket::new();
    pull.bind(&path.endpoint()).await.unwrap();
    for i in 0..queued {
        let message = within("a queued message", pull.recv()).await.unwrap();
        assert_eq!(read_num(&message[0]), i);
    }
    within("send after the bind", push.send("live"))
        .await
        .unwrap();
    assert_eq!(
        within("recv", pull.recv()).await.unwrap(),
        Message::from("live")
    );
}

#[compio::test]
async fn a_bound_push_without_peers_would_block() {
    let push = PushSocket::new();
    let endpoint = push.bind(TCP_ANY).await.unwrap().to_string();
    let error = push.try_send(Message::from("job").with("1")).unwrap_err();
    assert_eq!(error.kind, SendErrorKind::WouldBlock);
    assert_eq!(error.message, Message::from("job").with("1"));
    // The async send waits instead, and completes once a peer arrives.
    let push = Rc::new(push);
    let sending = compio::runtime::spawn({
        let push = push.clone();
        async move { push.send("job-2").await }
    });
    let pull = PullSocket::new();
    pull.connect(&endpoint).unwrap();
    within("the waiting send", sending).await.unwrap().unwrap();
    assert_eq!(
        within("recv", pull.recv()).await.unwrap(),
        Message::from("job-2")
    );
}

#[compio::test]
async fn hwm_blocks_a_push_whose_peer_does_not_read_and_reading_unblocks() {
    const HWM: usize = 10;
    const LIMIT: u32 = 2000;
    let pull = PullSocket::with_options(SocketOptions::new().recv_hwm(HWM)).unwrap();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let push = PushSocket::with_options(SocketOptions::new().send_hwm(HWM)).unwrap();
    push.connect(&endpoint).unwrap();
    wait_until("the PUSH is connected", || push.connected_peers() == 1).await;

    // 64 KiB messages fill the kernel's buffers quickly; then only the two queues are left.
    let payload = Bytes::from(vec![7u8; 64 * 1024]);
    let mut sent = 0u32;
    loop {
        let message = Message::from_iter([num(sent), payload.clone()]);
        match push.try_send(message) {
            Ok(()) => sent += 1,
            Err(error) => {
                assert_eq!(error.kind, SendErrorKind::WouldBlock);
                assert_eq!(read_num(&error.message[0]), sent);
                // Let the writer move what it can; if nothing moves, the PUSH is blocked.
                let wait = Duration::from_millis(200);
                match compio::time::timeout(wait, push.send(error.message)).await {
                    Ok(result) => {
                        result.unwrap();
                        sent += 1;
                    }
                    Err(_) => break,
                }
            }
        }
        assert!(
            sent < LIMIT,
            "{sent} messages of 64 KiB were accepted by a PUSH whose peer never reads"
        );
    }
    assert!(
        sent as usize >= HWM,
        "only {sent} messages before blocking, less than the HWM"
    );
    // Reading drains everything that was accepted, in order, and the PUSH can send again.
    for i in 0..sent {
        let message = within("drain", pull.recv()).await.unwrap();
        assert_eq!(read_num(&message[0]), i);
        assert_eq!(message[1].len(), payload.len());
    }
    within(
        "a send after draining",
        push.send(Message::single(num(sent))),
    )
    .await
    .unwrap();
    let message = within("recv", pull.recv()).await.unwrap();
    assert_eq!(read_num(&message[0]), sent);
}

#[compio::test]
async fn a_push_reconnects_to_a_new_pull_on_the_same_port() {
    let first = PullSocket::new();
    let bound = first.bind(TCP_ANY).await.unwrap();
    let port = bound.port().expect("a real port");
    let push = PushSocket::with_options(fast_reconnect()).unwrap();
    push.connect(&bound.to_string()).unwrap();
    within("send", push.send("before")).await.unwrap();
    assert_eq!(
        within("recv", first.recv()).await.unwrap(),
        Message::from("before")
    );

    drop(first);
    wait_until("the PUSH sees the PULL gone", || {
        push.connected_peers() == 0
    })
    .await;
    // Queued while no PULL exists: kept for the next connection.
    within("send while disconnected", push.send("queued"))
        .await
        .unwrap();

    let second = PullSocket::new();
    second.bind(&tcp_port(port)).await.unwrap();
    for i in 0..10u32 {
        within("send", push.send(Message::single(num(i))))
            .await
            .unwrap();
    }
    assert_eq!(
        within("the queued message", second.recv()).await.unwrap(),
        Message::from("queued")
    );
    for i in 0..10u32 {
        let message = within("recv", second.recv()).await.unwrap();
        assert_eq!(read_num(&message[0]), i);
    }
    assert_eq!(push.connected_peers(), 1);
}

#[compio::test]
async fn close_sends_everything_queued_first() {
    const COUNT: u32 = 1000;
    let pull = PullSocket::new();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let push = PushSocket::new();
    push.connect(&endpoint).unwrap();
    wait_until("the PUSH is connected", || push.connected_peers() == 1).await;
    for i in 0..COUNT {
        within(
            "send",
            push.send(Message::from_iter([num(i), Bytes::from(vec![1u8; 100])])),
        )
        .await
        .unwrap();
    }
    within("close", push.close()).await;
    for i in 0..COUNT {
        let message = compio::time::timeout(WAIT, pull.recv())
            .await
            .unwrap_or_else(|_| panic!("only {i} of {COUNT} messages arrived after close()"))
            .unwrap();
        assert_eq!(read_num(&message[0]), i);
    }
}

/// The simplest program, connect, send, close, must deliver: `close` waits for the connection
/// of a `connect` endpoint to come up and carry what was queued for it.
#[compio::test]
async fn close_right_after_connect_still_delivers() {
    let pull = PullSocket::new();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let push = PushSocket::new();
    push.connect(&endpoint).unwrap();
    push.send("hello").await.unwrap();
    within("close", push.close()).await;
    assert_eq!(
        within("the message", pull.recv()).await.unwrap(),
        Message::from("hello")
    );
}

/// With a linger time, `close` gives up on a peer that never comes.
#[compio::test]
async fn close_gives_up_after_the_linger_time() {
    let push =
        PushSocket::with_options(SocketOptions::new().linger(Some(Duration::from_millis(50))))
            .unwrap();
    push.connect("tcp://127.0.0.1:1").unwrap();
    push.send("nowhere").await.unwrap();
    within("close with linger", push.close()).await;
}

/// libzmq delivers what a peer sent before it went away: the pipe is only dropped once the
/// application has read up to its end.
#[compio::test]
async fn messages_that_arrived_before_the_peer_left_are_still_delivered() {
    const COUNT: u32 = 10;
    let pull = PullSocket::new();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let push = PushSocket::new();
    push.connect(&endpoint).unwrap();
    wait_until("the PUSH is connected", || push.connected_peers() == 1).await;
    for i in 0..COUNT {
        within("send", push.send(Message::single(num(i))))
            .await
            .unwrap();
    }
    within("close", push.close()).await;
    // The PULL reads the messages, then the end of the connection, before the application
    // gets to them.
    wait_until("the PULL sees the PUSH gone", || {
        pull.connected_peers() == 0
    })
    .await;
    for i in 0..COUNT {
        let message = compio::time::timeout(WAIT, pull.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("only {i} of {COUNT} messages received before the disconnect were delivered")
            })
            .unwrap();
        assert_eq!(read_num(&message[0]), i);
    }
}

#[compio::test]
async fn sockets_are_a_stream_and_a_sink() {
    use futures_util::{SinkExt, StreamExt};

    let pull = PullSocket::new();
    let endpoint = pull.bind("tcp://127.0.0.1:0").await.unwrap();
    let push = PushSocket::new();
    push.connect(&endpoint.to_string()).unwrap();
    let mut sink = std::pin::pin!(push.sink());
    for n in 0..1_000u32 {
        sink.feed(Message::from(n.to_be_bytes().to_vec()))
            .await
            .unwrap();
    }
    sink.flush().await.unwrap();
    let numbers: Vec<u32> = compio::time::timeout(
        Duration::from_secs(5),
        pull.stream()
            .take(1_000)
            .map(|message| u32::from_be_bytes(message[0][..].try_into().unwrap()))
            .collect(),
    )
    .await
    .expect("every message within the wait");
    assert!(numbers.into_iter().eq(0..1_000));
}

#[compio::test]
async fn recv_many_takes_batches_in_order_and_never_more_than_asked() {
    let pull = PullSocket::new();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let push = PushSocket::new();
    push.connect(&endpoint).unwrap();
    const COUNT: u32 = 10_000;
    let mut batch = Vec::new();
    assert_eq!(
        pull.try_recv_many(&mut batch, 10).unwrap_err(),
        monocoque::RecvError::WouldBlock
    );
    assert_eq!(pull.try_recv_many(&mut batch, 0), Ok(0));
    for i in 0..COUNT {
        within("send", push.send(Message::single(num(i))))
            .await
            .unwrap();
    }
    let mut next = 0;
    let mut batches = 0;
    while next < COUNT {
        batch.clear();
        let taken = within("recv_many", pull.recv_many(&mut batch, 64))
            .await
            .unwrap();
        assert!((1..=64).contains(&taken), "{taken}");
        assert_eq!(batch.len(), taken);
        for message in &batch {
            assert_eq!(read_num(&message[0]), next);
            next += 1;
        }
        batches += 1;
    }
    // Messages queued together come out together.
    assert!(batches < COUNT, "{batches} batches for {COUNT} messages");
    assert_eq!(
        pull.try_recv_many(&mut batch, 10).unwrap_err(),
        monocoque::RecvError::WouldBlock
    );
}

#[compio::test]
async fn a_dropped_recv_many_takes_nothing() {
    let pull = PullSocket::new();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let push = PushSocket::new();
    push.connect(&endpoint).unwrap();
    let mut batch = Vec::new();
    // Waiting, then dropped: nothing arrived, nothing taken.
    let waited =
        compio::time::timeout(Duration::from_millis(20), pull.recv_many(&mut batch, 8)).await;
    assert!(waited.is_err());
    assert!(batch.is_empty());
    within("send", push.send(Message::single(num(7))))
        .await
        .unwrap();
    let message = within("recv", pull.recv()).await.unwrap();
    assert_eq!(read_num(&message[0]), 7);
}
