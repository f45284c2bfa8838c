//! Port of libzmq's `tests/test_router_handover.cpp`: with `ZMQ_ROUTER_HANDOVER`, a new peer
//! announcing a routing id already in use takes it over; without it, the newcomer is ignored.

mod zmq_common;

/// The cases of libzmq's `tests/test_router_handover.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_router_handover {
    use std::time::Duration;

    use crate::zmq_common::{TCP_ANY, msg, never, wait_until, within};
    use monocoque::{DealerSocket, RouterSocket, SocketOptions};

    /// A DEALER named `X`. The first one never comes back once the ROUTER closes its connection:
    /// with libzmq's 100 ms reconnect interval it would reconnect, take `X` back, and race the test
    /// (libzmq's own test only wins that race by being faster than 100 ms).
    fn dealer_x(reconnect: Duration) -> DealerSocket {
        DealerSocket::with_options(
            SocketOptions::new()
                .routing_id("X")
                .reconnect_interval(reconnect),
        )
        .unwrap()
    }

    /// `test_with_handover`: a second DEALER `X` takes the routing id over from the first; a
    /// message routed to `X` reaches the second, not the first. (The ROUTER closes the first
    /// DEALER's connection, as libzmq does.)
    #[compio::test]
    async fn with_handover() {
        let router =
            RouterSocket::with_options(SocketOptions::new().router_handover(true)).unwrap();
        let endpoint = router.bind(TCP_ANY).await.unwrap().to_string();

        let dealer_one = dealer_x(Duration::from_secs(60));
        dealer_one.connect(&endpoint).unwrap();
        within("send", dealer_one.send("Hello")).await.unwrap();
        assert_eq!(
            within("recv", router.recv()).await.unwrap(),
            msg(&["X", "Hello"])
        );

        let dealer_two = dealer_x(Duration::from_millis(100));
        dealer_two.connect(&endpoint).unwrap();
        within("send", dealer_two.send("Hello")).await.unwrap();
        assert_eq!(
            within("recv", router.recv()).await.unwrap(),
            msg(&["X", "Hello"])
        );
        wait_until("the first DEALER's connection is closed", || {
            dealer_one.connected_peers() == 0
        })
        .await;

        router.try_send(msg(&["X", "Hello"])).unwrap();
        assert_eq!(
            within("the second DEALER receives", dealer_two.recv())
                .await
                .unwrap(),
            msg(&["Hello"])
        );
        never("the first DEALER receiving", dealer_one.recv()).await;
    }

    /// `test_without_handover`: a second DEALER `X` is ignored: the ROUTER receives nothing from
    /// it, and a message routed to `X` still reaches the first DEALER only.
    #[compio::test]
    async fn without_handover() {
        let router = RouterSocket::new();
        let endpoint = router.bind(TCP_ANY).await.unwrap().to_string();

        let dealer_one = dealer_x(Duration::from_millis(100));
        dealer_one.connect(&endpoint).unwrap();
        within("send", dealer_one.send("Hello")).await.unwrap();
        assert_eq!(
            within("recv", router.recv()).await.unwrap(),
            msg(&["X", "Hello"])
        );

        let dealer_two = dealer_x(Duration::from_millis(100));
        dealer_two.connect(&endpoint).unwrap();
        within("send", dealer_two.send("Hello")).await.unwrap();
        never("the ROUTER receiving from the second X", router.recv()).await;

        router.try_send(msg(&["X", "Hello"])).unwrap();
        assert_eq!(
            within("the first DEALER receives", dealer_one.recv())
                .await
                .unwrap(),
            msg(&["Hello"])
        );
        never("the second DEALER receiving", dealer_two.recv()).await;
        assert_eq!(dealer_one.connected_peers(), 1);
    }
}
