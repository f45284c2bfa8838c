//! Port of libzmq's `tests/test_spec_pushpull.cpp`: PUSH and PULL of RFC 30 (round-robin out,
//! fair-queued in, blocking without peers, the queues of a peer that disconnects, multipart
//! messages delivered or dropped whole).
//!
//! libzmq runs each case over `inproc://` and `tcp://`; here they run over `tcp://` and `ipc://`.

mod zmq_common;

/// The cases of libzmq's `tests/test_spec_pushpull.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_spec_pushpull {
    use std::time::{Duration, Instant};

    use crate::zmq_common::{BindAddr, Transport, msg, wait_until, within};
    use bytes::Bytes;
    use monocoque::{Message, PullSocket, PushSocket, RecvError, SendErrorKind, SocketOptions};

    /// `test_push_round_robin_out`: a bound PUSH with five connected PULLs sends `ABC` five times,
    /// then `DEF` five times; every PULL gets one of each, in that order.
    async fn push_round_robin_out(transport: Transport) {
        let addr = BindAddr::new(transport, "push-rr");
        let push = PushSocket::new();
        let endpoint = push.bind(addr.endpoint()).await.unwrap().to_string();
        let pulls: Vec<PullSocket> = (0..5).map(|_| PullSocket::new()).collect();
        for pull in &pulls {
            pull.connect(&endpoint).unwrap();
        }
        wait_until("the PUSH has five peers", || push.connected_peers() == 5).await;

        for body in ["ABC", "DEF"] {
            for _ in 0..pulls.len() {
                within("send", push.send(body)).await.unwrap();
            }
        }
        for (i, pull) in pulls.iter().enumerate() {
            for body in ["ABC", "DEF"] {
                assert_eq!(
                    within("recv", pull.recv()).await.unwrap(),
                    msg(&[body]),
                    "PULL {i}"
                );
            }
            assert_eq!(
                pull.try_recv().unwrap_err(),
                RecvError::WouldBlock,
                "PULL {i}"
            );
        }
    }

    /// `test_spec_pushpull_tcp_push_round_robin_out`.
    #[compio::test]
    async fn push_round_robin_out_tcp() {
        push_round_robin_out(Transport::Tcp).await;
    }

    /// `test_spec_pushpull_inproc_push_round_robin_out`, over ipc.
    #[compio::test]
    async fn push_round_robin_out_ipc() {
        push_round_robin_out(Transport::Ipc).await;
    }

    /// `test_pull_fair_queue_in`: five PUSHes each send two messages (`A`+i, then `F`+i) to a bound
    /// PULL; the PULL hands out one message from each PUSH before the second of any.
    ///
    /// libzmq sleeps until the ten messages have arrived. Here each PUSH is closed (which flushes
    /// it), and the PULL seeing every connection end proves it has read everything before them.
    async fn pull_fair_queue_in(transport: Transport) {
        let addr = BindAddr::new(transport, "pull-fq");
        let pull = PullSocket::new();
        let endpoint = pull.bind(addr.endpoint()).await.unwrap().to_string();
        let pushes: Vec<PushSocket> = (0..5).map(|_| PushSocket::new()).collect();
        for push in &pushes {
            push.connect(&endpoint).unwrap();
        }
        wait_until("the PULL has five peers", || pull.connected_peers() == 5).await;

        for (i, push) in (0u8..).zip(&pushes) {
            within("send", push.send(Message::single(vec![b'A' + i])))
                .await
                .unwrap();
            within("send", push.send(Message::single(vec![b'F' + i])))
                .await
                .unwrap();
        }
        for push in pushes {
            within("close flushes", push.close()).await;
        }
        wait_until("the PULL has read every connection to its end", || {
            pull.connected_peers() == 0
        })
        .await;

        let mut first_half = Vec::new();
        for _ in 0..5 {
            first_half.push(within("recv", pull.recv()).await.unwrap()[0][0]);
        }
        let mut second_half = Vec::new();
        for _ in 0..5 {
            second_half.push(within("recv", pull.recv()).await.unwrap()[0][0]);
        }
        first_half.sort_unstable();
        second_half.sort_unstable();
        assert_eq!(first_half, b"ABCDE", "one message from each PUSH first");
        assert_eq!(second_half, b"FGHIJ", "then the second of each");
        assert_eq!(pull.try_recv().unwrap_err(), RecvError::WouldBlock);
    }

    /// `test_spec_pushpull_tcp_pull_fair_queue_in`.
    #[compio::test]
    async fn pull_fair_queue_in_tcp() {
        pull_fair_queue_in(Transport::Tcp).await;
    }

    /// `test_spec_pushpull_inproc_pull_fair_queue_in`, over ipc.
    #[compio::test]
    async fn pull_fair_queue_in_ipc() {
        pull_fair_queue_in(Transport::Ipc).await;
    }

    /// `test_push_block_on_send_no_peers`: a PUSH without peers fails a non-blocking send at once
    /// and a blocking one after its send timeout, with `EAGAIN` (`WouldBlock`).
    #[compio::test]
    async fn push_block_on_send_no_peers() {
        let timeout = Duration::from_millis(250);
        let push =
            PushSocket::with_options(SocketOptions::new().send_timeout(Some(timeout))).unwrap();
        let error = push.try_send(Message::from("")).unwrap_err();
        assert_eq!(error.kind, SendErrorKind::WouldBlock);
        let started = Instant::now();
        let error = within("a send with a timeout", push.send(Message::from("")))
            .await
            .unwrap_err();
        // libzmq's EAGAIN after the wait.
        assert_eq!(error.kind, SendErrorKind::TimedOut);
        assert!(
            started.elapsed() >= timeout - Duration::from_millis(50),
            "gave up after {:?}",
            started.elapsed()
        );
    }

    /// `test_destroy_queue_on_disconnect` (disabled in libzmq "until libzmq does this properly"):
    /// once the PULL disconnects, the bound PUSH (HWM 1) has no queue left for it (a send would
    /// block), and after the PULL reconnects nothing from before arrives, new messages do.
    ///
    /// libzmq first fills both queues and expects the third send to fail: over TCP the kernel
    /// buffers between the two queues take more than two messages, so that exact count is not
    /// ported (see `zmq_hwm` for where HWM counts are exact).
    async fn destroy_queue_on_disconnect(transport: Transport) {
        let addr = BindAddr::new(transport, "push-destroy");
        let a = PushSocket::with_options(SocketOptions::new().send_hwm(1)).unwrap();
        let endpoint = a.bind(addr.endpoint()).await.unwrap().to_string();
        let b = PullSocket::with_options(SocketOptions::new().recv_hwm(1)).unwrap();
        b.connect(&endpoint).unwrap();
        within("send", a.send("ABC")).await.unwrap();
        assert_eq!(within("recv", b.recv()).await.unwrap(), msg(&["ABC"]));

        b.disconnect(&endpoint).unwrap();
        wait_until("the PUSH sees the PULL gone", || a.connected_peers() == 0).await;
        assert_eq!(b.try_recv().unwrap_err(), RecvError::WouldBlock);
        let error = a.try_send("DEF").unwrap_err();
        assert_eq!(error.kind, SendErrorKind::WouldBlock, "no queue is left");

        b.connect(&endpoint).unwrap();
        wait_until("the PULL is back", || a.connected_peers() == 1).await;
        assert_eq!(b.try_recv().unwrap_err(), RecvError::WouldBlock);
        within("send", a.send("GHI")).await.unwrap();
        assert_eq!(within("recv", b.recv()).await.unwrap(), msg(&["GHI"]));
    }

    /// `test_spec_pushpull_tcp_destroy_queue_on_disconnect`.
    #[compio::test]
    async fn destroy_queue_on_disconnect_tcp() {
        destroy_queue_on_disconnect(Transport::Tcp).await;
    }

    /// `test_spec_pushpull_inproc_destroy_queue_on_disconnect`, over ipc.
    #[compio::test]
    async fn destroy_queue_on_disconnect_ipc() {
        destroy_queue_on_disconnect(Transport::Ipc).await;
    }

    /// Large enough to overrun the TCP buffers, as in libzmq.
    const LARGE: usize = 16 * 1024 * 1024;

    fn large(fill: u8) -> Bytes {
        Bytes::from(vec![fill; LARGE])
    }

    /// `test_push_multipart_atomic_drop`: PUSH and PULL SHALL receive or drop multipart messages
    /// atomically, even when the PULL disconnects while a large message is half-way through and
    /// reconnects at once.
    ///
    /// The messages: `0` = [`0`, `0`, 16 MiB of `a`], `1` = [`1`], `2` = [`2`, `2`, 16 MiB of `b`],
    /// `3` = [`3`, `3`, 16 MiB of `c`, `3b`], `5` = [`5`, `5`, 16 MiB of `d`]; `2` is in flight
    /// when the PULL disconnects. libzmq expects the first message after the reconnection to be `3`
    /// or `5`, whole. Difference on purpose: monocoque still delivers what the PULL's old
    /// connection had already read (`1`, see `zmq_spec_dealer`), so `1` may come first; the test
    /// accepts that and asserts what the libzmq test is about: every message arrives whole or not
    /// at all, in order, and `5` arrives.
    async fn push_multipart_atomic_drop(transport: Transport, block: bool) {
        let addr = BindAddr::new(transport, "push-atomic");
        let push = PushSocket::with_options(
            SocketOptions::new()
                .send_hwm(1)
                .linger(Some(Duration::ZERO)),
        )
        .unwrap();
        let endpoint = push.bind(addr.endpoint()).await.unwrap().to_string();
        let pull = PullSocket::with_options(
            SocketOptions::new()
                .recv_hwm(1)
                .linger(Some(Duration::ZERO)),
        )
        .unwrap();
        pull.connect(&endpoint).unwrap();
        wait_until("connected", || push.connected_peers() == 1).await;

        let zero = Message::from_iter([Bytes::from("0"), Bytes::from("0"), large(b'a')]);
        within("send 0", push.send(zero.clone())).await.unwrap();
        assert!(within("recv 0", pull.recv()).await.unwrap() == zero);

        // Fill the queues: `1`, then the large `2`.
        within("send 1", push.send("1")).await.unwrap();
        let two = Message::from_iter([Bytes::from("2"), Bytes::from("2"), large(b'b')]);
        within("send 2", push.send(two)).await.unwrap();

        pull.disconnect(&endpoint).unwrap();
        wait_until("the PUSH sees the PULL gone", || {
            push.connected_peers() == 0
        })
        .await;
        pull.connect(&endpoint).unwrap();

        let three = Message::from_iter([
            Bytes::from("3"),
            Bytes::from("3"),
            large(b'c'),
            Bytes::from("3b"),
        ]);
        if block {
            within("send 3", push.send(three.clone())).await.unwrap();
        } else {
            // A non-blocking send fails while the new connection is not there yet; then send for
            // real.
            if let Err(error) = push.try_send(three.clone()) {
                assert_eq!(error.kind, SendErrorKind::WouldBlock);
                assert!(error.message == three, "the whole message is handed back");
                within("send 3", push.send(error.message)).await.unwrap();
            }
        }
        let five = Message::from_iter([Bytes::from("5"), Bytes::from("5"), large(b'd')]);
        within("send 5", push.send(five.clone())).await.unwrap();

        let mut received = Vec::new();
        loop {
            let message = within("recv", pull.recv()).await.unwrap();
            let name = message[0].clone();
            let expected = match &name[..] {
                b"1" => msg(&["1"]),
                b"3" => three.clone(),
                b"5" => five.clone(),
                other => panic!(
                    "unexpected message {other:?} first of {} frames",
                    message.len()
                ),
            };
            assert!(message == expected, "message {name:?} is not whole");
            received.push(name.clone());
            if &name[..] == b"5" {
                break;
            }
        }
        let names: Vec<&[u8]> = received.iter().map(|n| &n[..]).collect();
        assert!(
            matches!(names[..], [b"3", b"5"] | [b"1", b"3", b"5"]),
            "received {names:?}"
        );
    }

    /// `test_spec_pushpull_tcp_push_multipart_atomic_drop_block`.
    #[compio::test]
    async fn push_multipart_atomic_drop_block_tcp() {
        push_multipart_atomic_drop(Transport::Tcp, true).await;
    }

    /// `test_spec_pushpull_tcp_push_multipart_atomic_drop_non_block`.
    #[compio::test]
    async fn push_multipart_atomic_drop_non_block_tcp() {
        push_multipart_atomic_drop(Transport::Tcp, false).await;
    }

    /// `test_spec_pushpull_inproc_push_multipart_atomic_drop_block`, over ipc.
    #[compio::test]
    async fn push_multipart_atomic_drop_block_ipc() {
        push_multipart_atomic_drop(Transport::Ipc, true).await;
    }

    /// `test_spec_pushpull_inproc_push_multipart_atomic_drop_non_block`, over ipc.
    #[compio::test]
    async fn push_multipart_atomic_drop_non_block_ipc() {
        push_multipart_atomic_drop(Transport::Ipc, false).await;
    }
}
