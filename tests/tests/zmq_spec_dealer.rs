//! Port of libzmq's `tests/test_spec_dealer.cpp`: the DEALER socket of RFC 28 (round-robin out,
//! fair-queued in, blocking without peers, the queues of a peer that disconnects).
//!
//! libzmq runs each case over `inproc://` and `tcp://`; here they run over `tcp://` and `ipc://`.

mod zmq_common;

/// The cases of libzmq's `tests/test_spec_dealer.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_spec_dealer {
    use std::collections::HashSet;
    use std::time::{Duration, Instant};

    use crate::zmq_common::{BindAddr, Transport, msg, wait_until, within};
    use monocoque::{DealerSocket, Message, RecvError, RepSocket, SendErrorKind, SocketOptions};

    /// `test_round_robin_out`: a bound DEALER with five connected REPs gives each REP one of five
    /// requests (and, checked here as well, one of the next five too).
    async fn round_robin_out(transport: Transport) {
        let addr = BindAddr::new(transport, "dealer-rr");
        let dealer = DealerSocket::new();
        let endpoint = dealer.bind(addr.endpoint()).await.unwrap().to_string();
        let reps: Vec<RepSocket> = (0..5).map(|_| RepSocket::new()).collect();
        for rep in &reps {
            rep.connect(&endpoint).unwrap();
        }
        wait_until("the DEALER has five peers", || {
            dealer.connected_peers() == 5
        })
        .await;

        for round in 0..2 {
            for _ in 0..reps.len() {
                within("send", dealer.send(msg(&["", "ABC"])))
                    .await
                    .unwrap();
            }
            for (i, rep) in reps.iter().enumerate() {
                assert_eq!(
                    within("each REP gets one request", rep.recv())
                        .await
                        .unwrap(),
                    msg(&["ABC"]),
                    "REP {i}, round {round}"
                );
                // Reply, so that the REP can take the next request.
                within("reply", rep.send("DEF")).await.unwrap();
            }
            for _ in 0..reps.len() {
                assert_eq!(
                    within("replies", dealer.recv()).await.unwrap(),
                    msg(&["", "DEF"])
                );
            }
        }
    }

    /// `test_round_robin_out_tcp`.
    #[compio::test]
    async fn round_robin_out_tcp() {
        round_robin_out(Transport::Tcp).await;
    }

    /// `test_round_robin_out_inproc`, over ipc.
    #[compio::test]
    async fn round_robin_out_ipc() {
        round_robin_out(Transport::Ipc).await;
    }

    /// `test_fair_queue_in`: a bound DEALER receives from five connected DEALERs: twice from the
    /// first, then one `B` from each (each sender tags its `B`, to check every one arrives once).
    async fn fair_queue_in(transport: Transport) {
        let addr = BindAddr::new(transport, "dealer-fq");
        let receiver = DealerSocket::new();
        let endpoint = receiver.bind(addr.endpoint()).await.unwrap().to_string();
        let senders: Vec<DealerSocket> = (0..5).map(|_| DealerSocket::new()).collect();
        for sender in &senders {
            sender.connect(&endpoint).unwrap();
        }

        for _ in 0..2 {
            within("send", senders[0].send("A")).await.unwrap();
            assert_eq!(within("recv", receiver.recv()).await.unwrap(), msg(&["A"]));
        }
        for (i, sender) in senders.iter().enumerate() {
            within("send", sender.send(msg(&["B", &i.to_string()])))
                .await
                .unwrap();
        }
        let mut from = HashSet::new();
        for _ in 0..senders.len() {
            let message = within("recv", receiver.recv()).await.unwrap();
            assert_eq!(&message[0][..], b"B");
            from.insert(message[1].clone());
        }
        assert_eq!(from.len(), senders.len(), "one B from every sender");
    }

    /// `test_fair_queue_in_tcp`.
    #[compio::test]
    async fn fair_queue_in_tcp() {
        fair_queue_in(Transport::Tcp).await;
    }

    /// `test_fair_queue_in_inproc`, over ipc.
    #[compio::test]
    async fn fair_queue_in_ipc() {
        fair_queue_in(Transport::Ipc).await;
    }

    /// `test_block_on_send_no_peers`: a DEALER without peers fails a non-blocking send at once and
    /// a blocking one after its send timeout, with `EAGAIN` (`WouldBlock`).
    #[compio::test]
    async fn block_on_send_no_peers() {
        let timeout = Duration::from_millis(250);
        let dealer =
            DealerSocket::with_options(SocketOptions::new().send_timeout(Some(timeout))).unwrap();
        let error = dealer.try_send(Message::from("")).unwrap_err();
        assert_eq!(error.kind, SendErrorKind::WouldBlock);
        let started = Instant::now();
        let error = within("a send with a timeout", dealer.send(Message::from("")))
            .await
            .unwrap_err();
        // libzmq's EAGAIN after the wait.
        assert_eq!(error.kind, SendErrorKind::TimedOut);
        assert_eq!(error.message, Message::from(""));
        assert!(
            started.elapsed() >= timeout - Duration::from_millis(50),
            "gave up after {:?}",
            started.elapsed()
        );
    }

    /// `test_destroy_queue_on_disconnect` (disabled in libzmq "until libzmq does this properly"),
    /// the deterministic part: once B disconnects, A has no queue for it (a send would block), and
    /// after B reconnects neither side gets anything from before.
    #[compio::test]
    async fn destroy_queue_on_disconnect() {
        let a = DealerSocket::new();
        let endpoint = a.bind("tcp://127.0.0.1:0").await.unwrap().to_string();
        let b = DealerSocket::new();
        b.connect(&endpoint).unwrap();
        within("send", a.send("ABC")).await.unwrap();
        assert_eq!(within("recv", b.recv()).await.unwrap(), msg(&["ABC"]));
        within("send", b.send("DEF")).await.unwrap();
        assert_eq!(within("recv", a.recv()).await.unwrap(), msg(&["DEF"]));

        b.disconnect(&endpoint).unwrap();
        wait_until("A sees B gone", || a.connected_peers() == 0).await;
        let error = a.try_send("lost").unwrap_err();
        assert_eq!(
            error.kind,
            SendErrorKind::WouldBlock,
            "A kept a queue for B"
        );
        assert_eq!(a.try_recv().unwrap_err(), RecvError::WouldBlock);

        b.connect(&endpoint).unwrap();
        wait_until("B is back", || a.connected_peers() == 1).await;
        assert_eq!(a.try_recv().unwrap_err(), RecvError::WouldBlock);
        assert_eq!(b.try_recv().unwrap_err(), RecvError::WouldBlock);
        within("send", a.send("new")).await.unwrap();
        assert_eq!(
            within("only the new message", b.recv()).await.unwrap(),
            msg(&["new"])
        );
    }

    /// `test_destroy_queue_on_disconnect`, the part that differs on purpose: RFC 28 says a DEALER
    /// SHALL discard the messages in the queue of a peer that disconnects; monocoque, like libzmq
    /// in practice (the reason libzmq disabled this test), still delivers what that peer's
    /// connection had already received when the application asks for it.
    ///
    /// A sends two messages in one go, so that they travel in one write and are read together; B
    /// takes the first, disconnects, and still receives the second.
    #[compio::test]
    async fn messages_received_before_a_disconnect_stay_readable() {
        let a = DealerSocket::new();
        let endpoint = a.bind("tcp://127.0.0.1:0").await.unwrap().to_string();
        let b = DealerSocket::new();
        b.connect(&endpoint).unwrap();
        wait_until("A has its peer", || a.connected_peers() == 1).await;
        a.try_send("ABC").unwrap();
        a.try_send("DEF").unwrap();
        assert_eq!(within("recv", b.recv()).await.unwrap(), msg(&["ABC"]));
        b.disconnect(&endpoint).unwrap();
        assert_eq!(
            b.try_recv().unwrap(),
            msg(&["DEF"]),
            "the message read before the disconnect is delivered (RFC 28 says discard)"
        );
        assert_eq!(b.try_recv().unwrap_err(), RecvError::WouldBlock);
    }
}
