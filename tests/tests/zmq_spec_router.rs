//! Port of libzmq's `tests/test_spec_router.cpp`: the ROUTER socket of RFC 28 (fair-queued input
//! with the sender's routing id in front, the queues of a peer that disconnects).
//!
//! libzmq runs each case over `inproc://` and `tcp://`; here they run over `tcp://` and `ipc://`.

mod zmq_common;

/// The cases of libzmq's `tests/test_spec_router.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_spec_router {
    use std::collections::HashSet;

    use crate::zmq_common::{BindAddr, Transport, msg, wait_until, within};
    use bytes::Bytes;
    use monocoque::{DealerSocket, RecvError, RouterSocket, SendErrorKind, SocketOptions};

    /// `test_fair_queue_in`: a bound ROUTER receives from five DEALERs named `A` to `E`: twice from
    /// `A`, then one message from each, every one with its sender's routing id in front.
    async fn fair_queue_in(transport: Transport) {
        let addr = BindAddr::new(transport, "router-fq");
        let receiver = RouterSocket::new();
        let endpoint = receiver.bind(addr.endpoint()).await.unwrap().to_string();
        let names = ["A", "B", "C", "D", "E"];
        let senders: Vec<DealerSocket> = names
            .iter()
            .map(|name| DealerSocket::with_options(SocketOptions::new().routing_id(*name)).unwrap())
            .collect();
        for sender in &senders {
            sender.connect(&endpoint).unwrap();
        }
        wait_until("the ROUTER has five peers", || {
            receiver.connected_peers() == 5
        })
        .await;

        for _ in 0..2 {
            within("send", senders[0].send("M")).await.unwrap();
            assert_eq!(
                within("recv", receiver.recv()).await.unwrap(),
                msg(&["A", "M"])
            );
        }
        for sender in &senders {
            within("send", sender.send("M")).await.unwrap();
        }
        let mut ids = HashSet::new();
        for _ in 0..senders.len() {
            let message = within("recv", receiver.recv()).await.unwrap();
            assert_eq!(message.len(), 2, "{message:?}");
            assert_eq!(&message[1][..], b"M");
            ids.insert(message[0].clone());
        }
        let expected: HashSet<Bytes> = names.iter().map(|n| Bytes::from(*n)).collect();
        assert_eq!(ids, expected, "one message from each sender, with its id");
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

    /// `test_destroy_queue_on_disconnect` (disabled in libzmq "until libzmq implements this
    /// properly"): when DEALER `B` disconnects, a mandatory ROUTER forgets it (`EHOSTUNREACH` on a
    /// send to `B`) and has nothing left to receive; after `B` reconnects, neither side gets
    /// anything from before.
    ///
    /// The messages of the libzmq test are received before the disconnect here: whether a message
    /// still in flight at the disconnect is delivered depends on timing (monocoque delivers what a
    /// connection had already read, see `zmq_spec_dealer`).
    async fn destroy_queue_on_disconnect(transport: Transport) {
        let addr = BindAddr::new(transport, "router-destroy");
        let a = RouterSocket::with_options(SocketOptions::new().router_mandatory(true)).unwrap();
        let endpoint = a.bind(addr.endpoint()).await.unwrap().to_string();
        let b = DealerSocket::with_options(SocketOptions::new().routing_id("B")).unwrap();
        b.connect(&endpoint).unwrap();
        wait_until("A knows B", || a.connected_peers() == 1).await;

        within("send", a.send(msg(&["B", "ABC"]))).await.unwrap();
        assert_eq!(within("recv", b.recv()).await.unwrap(), msg(&["ABC"]));
        within("send", b.send("DEF")).await.unwrap();
        assert_eq!(within("recv", a.recv()).await.unwrap(), msg(&["B", "DEF"]));

        b.disconnect(&endpoint).unwrap();
        wait_until("A sees B gone", || a.connected_peers() == 0).await;
        let error = a.try_send(msg(&["B", "x"])).unwrap_err();
        assert_eq!(error.kind, SendErrorKind::HostUnreachable);
        assert_eq!(error.message, msg(&["B", "x"]));
        assert_eq!(a.try_recv().unwrap_err(), RecvError::WouldBlock);

        b.connect(&endpoint).unwrap();
        wait_until("B is back", || a.connected_peers() == 1).await;
        assert_eq!(a.try_recv().unwrap_err(), RecvError::WouldBlock);
        assert_eq!(b.try_recv().unwrap_err(), RecvError::WouldBlock);
        within("send", a.send(msg(&["B", "again"]))).await.unwrap();
        assert_eq!(
            within("only the new message", b.recv()).await.unwrap(),
            msg(&["again"])
        );
    }

    /// `test_destroy_queue_on_disconnect_tcp`.
    #[compio::test]
    async fn destroy_queue_on_disconnect_tcp() {
        destroy_queue_on_disconnect(Transport::Tcp).await;
    }

    /// `test_destroy_queue_on_disconnect_inproc`, over ipc.
    #[compio::test]
    async fn destroy_queue_on_disconnect_ipc() {
        destroy_queue_on_disconnect(Transport::Ipc).await;
    }
}
