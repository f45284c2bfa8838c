//! PAIR (RFC 31) between monocoque sockets over TCP and IPC: both ways, one peer at a time.

mod common;

use std::time::{Duration, Instant};

use common::{IpcPath, TCP_ANY, WAIT, num, read_num, wait_until, within};
use monocoque::{Message, PairSocket, SocketOptions};

/// Sends messages both ways, interleaved, and checks each side gets the other's in order.
async fn exchange(a: &PairSocket, b: &PairSocket) {
    for i in 0..100u32 {
        within("a sends", a.send(Message::from("a").with(num(i))))
            .await
            .expect("send");
        within(
            "b sends",
            b.send(Message::from_iter(["b", "", "x"]).with(num(i))),
        )
        .await
        .expect("send");
    }
    for i in 0..100u32 {
        assert_eq!(
            within("b receives", b.recv()).await.expect("recv"),
            Message::from("a").with(num(i))
        );
        assert_eq!(
            within("a receives", a.recv()).await.expect("recv"),
            Message::from_iter(["b", "", "x"]).with(num(i))
        );
    }
}

#[compio::test]
async fn pair_exchanges_both_ways_over_tcp() {
    let a = PairSocket::new();
    let endpoint = a.bind(TCP_ANY).await.unwrap().to_string();
    let b = PairSocket::new();
    b.connect(&endpoint).unwrap();
    exchange(&a, &b).await;
}

#[compio::test]
async fn pair_exchanges_both_ways_over_ipc() {
    let path = IpcPath::new("pair");
    let a = PairSocket::new();
    a.bind(&path.endpoint()).await.unwrap();
    let b = PairSocket::new();
    b.connect(&path.endpoint()).unwrap();
    exchange(&a, &b).await;
}

#[compio::test]
async fn a_second_pair_gets_nothing_while_the_first_is_connected() {
    let a = PairSocket::new();
    let endpoint = a.bind(TCP_ANY).await.unwrap().to_string();
    let first = PairSocket::new();
    first.connect(&endpoint).unwrap();
    within("first sends", first.send("hello")).await.unwrap();
    assert_eq!(
        within("a receives", a.recv()).await.unwrap(),
        Message::from("hello")
    );

    // The second one keeps trying; each time its handshake completes, the bound PAIR closes it.
    // With a queue of one message, the queue draining shows a handshake completed.
    let second = PairSocket::with_options(
        SocketOptions::new()
            .send_hwm(1)
            .reconnect_interval(Duration::from_millis(5)),
    )
    .unwrap();
    second.connect(&endpoint).unwrap();
    second.try_send("probe").unwrap();
    wait_until("the second PAIR has reached the bound one", || {
        second.try_send("probe").is_ok()
    })
    .await;
    for i in 0..50u32 {
        within("a sends", a.send(Message::single(num(i))))
            .await
            .unwrap();
    }
    for i in 0..50u32 {
        let message = within("first receives", first.recv()).await.unwrap();
        assert_eq!(
            read_num(&message[0]),
            i,
            "a message went to the second PAIR"
        );
    }
    assert!(
        a.try_recv().is_err(),
        "the bound PAIR accepted the second one"
    );

    // Once the first one leaves, the second one gets in, and the first thing it receives is
    // what is sent now: nothing of before was queued for it.
    drop(first);
    let deadline = Instant::now() + WAIT;
    loop {
        let _ = second.try_send("probe");
        if let Ok(message) = compio::time::timeout(Duration::from_millis(10), a.recv()).await {
            assert_eq!(message.unwrap(), Message::from("probe"));
            break;
        }
        assert!(Instant::now() < deadline, "the second PAIR never got in");
    }
    within("a sends", a.send("for-the-second")).await.unwrap();
    assert_eq!(
        within("second receives", second.recv()).await.unwrap(),
        Message::from("for-the-second")
    );
}
