//! Port of libzmq's `tests/test_hwm_pubsub.cpp`: the send high-water mark of a publisher, which
//! drops what a subscriber's queue cannot take instead of blocking.
//!
//! libzmq runs the cases over `tcp://`, `inproc://` and `ipc://*`; here over `tcp://` and a
//! unique `ipc://` path. The counts are exact: the publisher sends in a loop that never awaits,
//! and on monocoque's single-threaded runtime the connection cannot move anything out of the
//! queue before the loop ends, so exactly the HWM is queued, whatever the kernel buffers.

mod zmq_common;

/// The cases of libzmq's `tests/test_hwm_pubsub.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_hwm_pubsub {
    use crate::zmq_common::{BindAddr, Transport, num, read_num, recv_until, within};
    use bytes::Bytes;
    use monocoque::{Message, PubSocket, SocketOptions, SubSocket, XPubSocket};

    fn is_end(message: &Message) -> bool {
        &message[0][..] == b"end"
    }

    /// `test_defaults (send_hwm, msg_cnt)`: an XPUB with `send_hwm` waits for the one subscriber's
    /// subscription (`\x01` + nothing), sends `msg_cnt` messages without waiting (none fails: a
    /// publisher never blocks), and the subscriber receives exactly `send_hwm` of them, the first
    /// ones, in order. The messages beyond the HWM are dropped: an `end` marker sent afterwards is
    /// the very next message.
    async fn defaults(send_hwm: u32, msg_cnt: u32, transport: Transport) -> u32 {
        let addr = BindAddr::new(transport, "hwm-pubsub");
        let xpub =
            XPubSocket::with_options(SocketOptions::new().send_hwm(send_hwm as usize)).unwrap();
        let endpoint = xpub.bind(addr.endpoint()).await.unwrap().to_string();
        let sub = SubSocket::new();
        sub.connect(&endpoint).unwrap();
        sub.subscribe("");
        assert_eq!(
            within("the subscription", xpub.recv()).await.unwrap(),
            Message::from(&b"\x01"[..])
        );

        let mut send_count = 0;
        while send_count < msg_cnt
            && xpub
                .try_send(Message::from_iter([
                    num(send_count),
                    Bytes::from("test message"),
                ]))
                .is_ok()
        {
            send_count += 1;
        }
        assert_eq!(send_count, msg_cnt, "a publisher never blocks");

        let mut recv_count = 0;
        for i in 0..send_hwm.min(msg_cnt) {
            let message = within("a queued message", sub.recv()).await.unwrap();
            assert_eq!(read_num(&message[0]), i);
            recv_count += 1;
        }
        xpub.try_send(Message::from("end")).unwrap();
        let extra = recv_until("the end marker", &sub, is_end).await;
        assert!(
            extra.is_empty(),
            "messages beyond the HWM arrived: {}",
            extra.len()
        );
        recv_count
    }

    /// `test_defaults_large_tcp`: HWM 1000, 1000 messages, 1000 received.
    #[compio::test]
    async fn defaults_large_tcp() {
        assert_eq!(defaults(1000, 1000, Transport::Tcp).await, 1000);
    }

    /// `test_defaults_small_tcp`: HWM 100, 100 messages, 100 received.
    #[compio::test]
    async fn defaults_small_tcp() {
        assert_eq!(defaults(100, 100, Transport::Tcp).await, 100);
    }

    /// `test_defaults_large_ipc`.
    #[compio::test]
    async fn defaults_large_ipc() {
        assert_eq!(defaults(1000, 1000, Transport::Ipc).await, 1000);
    }

    /// `test_defaults_small_ipc`.
    #[compio::test]
    async fn defaults_small_ipc() {
        assert_eq!(defaults(100, 100, Transport::Ipc).await, 100);
    }

    /// `test_blocking_tcp` sets `ZMQ_XPUB_NODROP`, with which libzmq's XPUB fails a send with
    /// `EAGAIN` at the HWM instead of dropping. monocoque has no such option (difference): its XPUB
    /// always drops. Sending 6000 messages at HWM 2000 never fails, and exactly the first 2000
    /// arrive.
    #[compio::test]
    async fn blocking_tcp_without_nodrop_drops() {
        assert_eq!(defaults(2000, 6000, Transport::Tcp).await, 2000);
    }

    /// `test_blocking_ipc`, as `blocking_tcp_without_nodrop_drops`.
    #[compio::test]
    async fn blocking_ipc_without_nodrop_drops() {
        assert_eq!(defaults(2000, 6000, Transport::Ipc).await, 2000);
    }

    /// `test_reset_hwm`: the HWM counts what is queued now, not what has ever been sent. With HWM
    /// 11024 on both sides, 9999 messages go through, are received, and then 1100 more go through
    /// too (9999 + 1100 is above the HWM).
    ///
    /// libzmq uses a PUB and sleeps until the subscription has arrived; the subscription is
    /// observed here on an XPUB (the same publisher, which also reports subscriptions).
    #[compio::test]
    async fn reset_hwm() {
        const HWM: usize = 11024;
        let publisher = XPubSocket::with_options(SocketOptions::new().send_hwm(HWM)).unwrap();
        let endpoint = publisher
            .bind("tcp://127.0.0.1:0")
            .await
            .unwrap()
            .to_string();
        let sub = SubSocket::with_options(SocketOptions::new().recv_hwm(HWM)).unwrap();
        sub.connect(&endpoint).unwrap();
        sub.subscribe("");
        within("the subscription", publisher.recv()).await.unwrap();

        for count in [9999, 1100] {
            let mut send_count = 0;
            while send_count < count && publisher.try_send(Message::single(num(send_count))).is_ok()
            {
                send_count += 1;
            }
            assert_eq!(send_count, count);
            for i in 0..count {
                let message = within("the next message", sub.recv()).await.unwrap();
                assert_eq!(read_num(&message[0]), i, "lost or reordered");
            }
            publisher.try_send(Message::from("end")).unwrap();
            let extra = recv_until("the end marker", &sub, is_end).await;
            assert!(extra.is_empty(), "{} extra messages", extra.len());
        }
    }

    /// The plain PUB of `test_reset_hwm` behaves the same as the XPUB above: it drops above its HWM
    /// without blocking. A PUB cannot tell when the subscription has arrived, so the subscriber
    /// probes first.
    #[compio::test]
    async fn pub_drops_above_hwm() {
        let publisher = PubSocket::with_options(SocketOptions::new().send_hwm(100)).unwrap();
        let endpoint = publisher
            .bind("tcp://127.0.0.1:0")
            .await
            .unwrap()
            .to_string();
        let sub = SubSocket::new();
        sub.connect(&endpoint).unwrap();
        sub.subscribe("");
        crate::zmq_common::probe_until(
            "the subscription reaches the PUB",
            &publisher,
            &sub,
            &Message::from("probe"),
            |_| true,
        )
        .await;
        publisher.try_send(Message::from("sync")).unwrap();
        recv_until("the sync marker", &sub, |m| &m[0][..] == b"sync").await;

        for i in 0..300 {
            publisher.try_send(Message::single(num(i))).unwrap();
        }
        for i in 0..100 {
            let message = within("the next message", sub.recv()).await.unwrap();
            assert_eq!(read_num(&message[0]), i);
        }
        publisher.try_send(Message::from("end")).unwrap();
        let extra = recv_until("the end marker", &sub, is_end).await;
        assert!(extra.is_empty(), "{} messages beyond the HWM", extra.len());
    }
}
