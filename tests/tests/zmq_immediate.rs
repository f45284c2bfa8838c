//! Port of libzmq's `tests/test_immediate.cpp`: `ZMQ_IMMEDIATE` (formerly `ZMQ_DELAY_ATTACH_ON_
//! CONNECT`) queues messages only for connections that are up.

mod zmq_common;

/// The cases of libzmq's `tests/test_immediate.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_immediate {
    use std::time::Duration;

    use crate::zmq_common::{msg, never, unused_tcp_endpoint, wait_until, within};
    use monocoque::{DealerSocket, PullSocket, PushSocket, SendErrorKind, SocketOptions};

    fn fast_reconnect() -> SocketOptions {
        SocketOptions::new()
            .linger(Some(Duration::ZERO))
            .reconnect_interval(Duration::from_millis(10))
    }

    /// `test_immediate_1`: without `ZMQ_IMMEDIATE`, a PUSH connected to a dead endpoint and a live
    /// one load-balances over both pipes, since `connect` creates a pipe at once: of 10 messages,
    /// 5 reach the live PULL and 5 stay queued for the dead endpoint.
    #[compio::test]
    async fn immediate_1() {
        let to =
            PullSocket::with_options(SocketOptions::new().linger(Some(Duration::ZERO))).unwrap();
        let endpoint = to.bind("tcp://127.0.0.1:0").await.unwrap().to_string();
        let from = PushSocket::with_options(fast_reconnect()).unwrap();
        // This pipe will not connect: nothing listens there.
        from.connect(&unused_tcp_endpoint()).unwrap();
        // This one will.
        from.connect(&endpoint).unwrap();
        wait_until("the live pipe is connected", || from.connected_peers() == 1).await;

        for _ in 0..10 {
            within("send", from.send("Hello")).await.unwrap();
        }
        for _ in 0..5 {
            assert_eq!(within("recv", to.recv()).await.unwrap(), msg(&["Hello"]));
        }
        never("a sixth message reaching the live PULL", to.recv()).await;
    }

    /// `test_immediate_2`: with `ZMQ_IMMEDIATE`, the pipe of the dead endpoint takes nothing: all
    /// 10 messages reach the live PULL. (The sends wait until the live connection is up, as
    /// libzmq's blocking sends do.)
    #[compio::test]
    async fn immediate_2() {
        let to =
            PullSocket::with_options(SocketOptions::new().linger(Some(Duration::ZERO))).unwrap();
        let endpoint = to.bind("tcp://127.0.0.1:0").await.unwrap().to_string();
        let from = PushSocket::with_options(fast_reconnect().immediate(true)).unwrap();
        from.connect(&unused_tcp_endpoint()).unwrap();
        from.connect(&endpoint).unwrap();

        for _ in 0..10 {
            within("send", from.send("Hello")).await.unwrap();
        }
        for i in 0..10 {
            assert_eq!(
                within("recv", to.recv()).await.unwrap(),
                msg(&["Hello"]),
                "message {i}"
            );
        }
        never("an eleventh message", to.recv()).await;
    }

    /// `test_immediate_3`: with `ZMQ_IMMEDIATE`, a connection that breaks stops taking messages: a
    /// non-blocking send fails with `EAGAIN` while the peer is gone, and works again once the peer
    /// is back on the same endpoint and the connection is up.
    #[compio::test]
    async fn immediate_3() {
        let backend = DealerSocket::with_options(fast_reconnect()).unwrap();
        let bound = backend.bind("tcp://127.0.0.1:0").await.unwrap();
        let endpoint = bound.to_string();
        let frontend = DealerSocket::with_options(fast_reconnect().immediate(true)).unwrap();
        frontend.connect(&endpoint).unwrap();

        // Ping backend to frontend so we know when the connection is up.
        within("send", backend.send("Hello")).await.unwrap();
        assert_eq!(
            within("recv", frontend.recv()).await.unwrap(),
            msg(&["Hello"])
        );
        frontend.try_send("Hello").unwrap();

        drop(backend);
        wait_until("the frontend sees the backend gone", || {
            frontend.connected_peers() == 0
        })
        .await;
        let error = frontend.try_send("Hello").unwrap_err();
        assert_eq!(error.kind, SendErrorKind::WouldBlock);

        let backend = DealerSocket::with_options(fast_reconnect()).unwrap();
        within("bind the same endpoint again", async {
            // The old listener's close may still be in flight on the ring.
            loop {
                match backend.bind(&endpoint).await {
                    Ok(_) => break,
                    Err(_) => compio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        })
        .await;
        within("send", backend.send("Hello")).await.unwrap();
        assert_eq!(
            within("recv", frontend.recv()).await.unwrap(),
            msg(&["Hello"])
        );
        frontend.try_send("World").unwrap();
        // Only this message: what was queued for the broken connection went with it.
        assert_eq!(
            within("the backend receives", backend.recv())
                .await
                .unwrap(),
            msg(&["World"])
        );
    }
}
