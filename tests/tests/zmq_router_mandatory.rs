//! Port of libzmq's `tests/test_router_mandatory.cpp`: with `ZMQ_ROUTER_MANDATORY`, a ROUTER
//! fails a send it cannot route (`EHOSTUNREACH`) or cannot queue (`EAGAIN`) instead of dropping
//! it silently.

mod zmq_common;

/// The cases of libzmq's `tests/test_router_mandatory.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_router_mandatory {
    use std::time::Duration;

    use crate::zmq_common::{TCP_ANY, msg, num, read_num, within};
    use bytes::Bytes;
    use monocoque::{
        DealerSocket, Message, OptionError, OptionName, RouterSocket, SendErrorKind, SocketOptions,
        SocketType,
    };

    /// `test_basic`: a send to an unknown peer is silently dropped by default, fails with
    /// `EHOSTUNREACH` once `ZMQ_ROUTER_MANDATORY` is set on the live socket (the message is handed
    /// back), and works once a DEALER named `X` has connected.
    #[compio::test]
    async fn basic() {
        let router = RouterSocket::new();
        let endpoint = router.bind(TCP_ANY).await.unwrap().to_string();

        router.try_send(msg(&["UNKNOWN", "DATA"])).unwrap();

        router.set_options(|o| o.router_mandatory(true)).unwrap();
        let error = router.try_send(msg(&["UNKNOWN", "DATA"])).unwrap_err();
        assert_eq!(error.kind, SendErrorKind::HostUnreachable);
        assert_eq!(error.message, msg(&["UNKNOWN", "DATA"]));
        // The async send fails the same way instead of waiting for such a peer.
        let error = within("send", router.send(msg(&["UNKNOWN", "DATA"])))
            .await
            .unwrap_err();
        assert_eq!(error.kind, SendErrorKind::HostUnreachable);

        let dealer = DealerSocket::with_options(SocketOptions::new().routing_id("X")).unwrap();
        dealer.connect(&endpoint).unwrap();
        // Get a message from the dealer to know when the connection is ready.
        within("send", dealer.send("Hello")).await.unwrap();
        assert_eq!(
            within("recv", router.recv()).await.unwrap(),
            msg(&["X", "Hello"])
        );
        router.try_send(msg(&["X", "Hello"])).unwrap();
        assert_eq!(
            within("recv", dealer.recv()).await.unwrap(),
            msg(&["Hello"])
        );
    }

    /// `test_get_peer_state` (draft API): a mandatory ROUTER with send HWM 100 sends to DEALER `X`,
    /// which reads, and to DEALER `Y`, which never does. libzmq polls `zmq_socket_get_peer_state`
    /// for `ZMQ_POLLOUT`, which monocoque does not have; the behaviour under it is ported: sends to
    /// `Y` end up failing with `EAGAIN` (the message handed back, never dropped), while `X` keeps
    /// receiving everything sent to it.
    ///
    /// The count for `Y` is exact: the sends run in a loop that never awaits, and on monocoque's
    /// single-threaded runtime `Y`'s connection cannot take anything out of its queue meanwhile.
    #[compio::test]
    async fn get_peer_state() {
        const HWM: usize = 100;
        let router =
            RouterSocket::with_options(SocketOptions::new().router_mandatory(true).send_hwm(HWM))
                .unwrap();
        let endpoint = router.bind(TCP_ANY).await.unwrap().to_string();
        let dealer1 =
            DealerSocket::with_options(SocketOptions::new().routing_id("X").recv_hwm(HWM)).unwrap();
        let dealer2 =
            DealerSocket::with_options(SocketOptions::new().routing_id("Y").recv_hwm(HWM)).unwrap();
        dealer1.connect(&endpoint).unwrap();
        dealer2.connect(&endpoint).unwrap();
        for (dealer, id) in [(&dealer1, "X"), (&dealer2, "Y")] {
            within("send", dealer.send("Hello")).await.unwrap();
            assert_eq!(
                within("recv", router.recv()).await.unwrap(),
                msg(&[id, "Hello"])
            );
        }

        let mut dealer2_sent = 0;
        let blocked = loop {
            match router.try_send(Message::from_iter([Bytes::from("Y"), num(dealer2_sent)])) {
                Ok(()) => dealer2_sent += 1,
                Err(error) => break error,
            }
        };
        assert_eq!(blocked.kind, SendErrorKind::WouldBlock);
        assert_eq!(read_num(&blocked.message[1]), dealer2_sent, "handed back");
        assert_eq!(dealer2_sent, HWM as u32, "Y's queue holds exactly its HWM");

        // X is not held up by Y.
        for i in 0..1000u32 {
            within(
                "send to X",
                router.send(Message::from_iter([Bytes::from("X"), num(i)])),
            )
            .await
            .unwrap();
            let message = within("X receives", dealer1.recv()).await.unwrap();
            assert_eq!(read_num(&message[0]), i);
        }
        // Y's connection took its queue meanwhile; Y never reads, so once the buffers on the way
        // are full, Y's queue fills up again and a send to Y blocks for good. Sends that stay
        // blocked for 200 ms (a window in which nothing moving is the point) count as blocked.
        let body = Bytes::from(vec![0u8; 1024]);
        let mut more = 0u32;
        loop {
            let message = Message::from_iter([Bytes::from("Y"), body.clone()]);
            match compio::time::timeout(Duration::from_millis(200), router.send(message)).await {
                Ok(result) => result.unwrap(),
                Err(_) => break,
            }
            more += 1;
            assert!(more < 100_000, "Y never blocked");
        }
        let error = router
            .try_send(Message::from_iter([Bytes::from("Y"), body]))
            .unwrap_err();
        assert_eq!(error.kind, SendErrorKind::WouldBlock);
        assert_eq!(error.message.len(), 2, "handed back whole");
        assert_eq!(dealer2.connected_peers(), 1, "Y is still connected");
    }

    /// `test_get_peer_state_corner_cases`: libzmq refuses `zmq_socket_get_peer_state` on a
    /// non-ROUTER socket (`ENOTSUP`). monocoque has no such call; its closest check is that
    /// `ZMQ_ROUTER_MANDATORY` itself is refused on a socket that is not a ROUTER.
    #[compio::test]
    async fn get_peer_state_corner_cases() {
        let error =
            DealerSocket::with_options(SocketOptions::new().router_mandatory(true)).unwrap_err();
        assert_eq!(
            error,
            OptionError::NotApplicable {
                option: OptionName::RouterMandatory,
                socket_type: SocketType::Dealer,
            }
        );
        let dealer = DealerSocket::new();
        assert!(dealer.set_options(|o| o.router_mandatory(true)).is_err());
    }
}
