//! Port of libzmq's `tests/test_xpub_manual.cpp`: with `ZMQ_XPUB_MANUAL`, an XPUB applies no
//! subscription itself; the application sees each one and subscribes (or unsubscribes) the peer
//! it came from to whatever topic it chooses, as a proxy does.
//!
//! libzmq runs some cases over `inproc://` and sleeps until messages have travelled; here
//! everything runs over TCP, and waits on the messages themselves (probing a PUB until a
//! subscription has reached it, and sending end markers to prove what did not arrive).

mod zmq_common;

/// The cases of libzmq's `tests/test_xpub_manual.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_xpub_manual {
    use std::time::Duration;

    use crate::zmq_common::{TCP_ANY, msg, probe_until, raw, recv_until, within};
    use monocoque::{Message, PubSocket, RecvError, SubSocket, XPubSocket, XSubSocket};

    fn manual_xpub() -> XPubSocket {
        XPubSocket::with_options(monocoque::SocketOptions::new().xpub_manual(true)).unwrap()
    }

    fn subscribe_msg(topic: &str) -> Message {
        Message::single([&[1u8][..], topic.as_bytes()].concat())
    }

    fn unsubscribe_msg(topic: &str) -> Message {
        Message::single([&[0u8][..], topic.as_bytes()].concat())
    }

    fn first_frame_is(message: &Message, frame: &str) -> bool {
        message.first().is_some_and(|f| f[..] == *frame.as_bytes())
    }

    /// `test_basic`: the XSUB asks for `A`; the application subscribes it to `B` instead; of `A`
    /// and `B`, the XSUB receives `B` only.
    #[compio::test]
    async fn basic() {
        let pub_ = manual_xpub();
        let endpoint = pub_.bind(TCP_ANY).await.unwrap().to_string();
        let sub = XSubSocket::new();
        sub.connect(&endpoint).unwrap();

        within("subscribe", sub.send(subscribe_msg("A")))
            .await
            .unwrap();
        assert_eq!(
            within("the subscription", pub_.recv()).await.unwrap(),
            subscribe_msg("A")
        );
        pub_.subscribe("B");

        pub_.try_send("A").unwrap();
        pub_.try_send("B").unwrap();
        // A was sent first: had it been delivered, it would come first.
        assert_eq!(within("B", sub.recv()).await.unwrap(), msg(&["B"]));
    }

    /// `test_unsubscribe_manual`: the XSUB asks for `A` and `B`, which the application maps to `XA`
    /// and `XB`; the XSUB cancels `A`, which the application maps to cancelling `XA`; of `XA` and
    /// `XB` the XSUB receives `XB` only. When the XSUB goes away, the XPUB reports the cancel of
    /// what the XSUB itself was still subscribed to: `\x00B`.
    ///
    /// libzmq keeps a second trie of the peer's own subscriptions (`_manual_subscriptions`) for
    /// that last report.
    #[compio::test]
    async fn unsubscribe_manual() {
        let pub_ = manual_xpub();
        let endpoint = pub_.bind(TCP_ANY).await.unwrap().to_string();
        let sub = XSubSocket::new();
        sub.connect(&endpoint).unwrap();

        within("subscribe", sub.send(subscribe_msg("A")))
            .await
            .unwrap();
        within("subscribe", sub.send(subscribe_msg("B")))
            .await
            .unwrap();
        assert_eq!(
            within("subscription A", pub_.recv()).await.unwrap(),
            subscribe_msg("A")
        );
        pub_.subscribe("XA");
        assert_eq!(
            within("subscription B", pub_.recv()).await.unwrap(),
            subscribe_msg("B")
        );
        pub_.subscribe("XB");

        within("unsubscribe", sub.send(unsubscribe_msg("A")))
            .await
            .unwrap();
        assert_eq!(
            within("the cancel of A", pub_.recv()).await.unwrap(),
            unsubscribe_msg("A")
        );
        pub_.unsubscribe("XA");

        pub_.try_send("XA").unwrap();
        pub_.try_send("XB").unwrap();
        assert_eq!(within("XB", sub.recv()).await.unwrap(), msg(&["XB"]));

        drop(sub);
        assert_eq!(
            within("the cancel reported on disconnect", pub_.recv())
                .await
                .unwrap(),
            unsubscribe_msg("B"),
            "libzmq reports the peer's own remaining subscription (B), not the topic the \
             application mapped it to"
        );
        pub_.unsubscribe("XB");
    }

    /// A proxy: an XSUB frontend bound for publishers, a manual XPUB backend bound for subscribers.
    struct Proxy {
        xsub: XSubSocket,
        xpub: XPubSocket,
        frontend: String,
        backend: String,
    }

    impl Proxy {
        async fn new() -> Self {
            let xsub = XSubSocket::new();
            let frontend = xsub.bind(TCP_ANY).await.unwrap().to_string();
            let xpub = manual_xpub();
            let backend = xpub.bind(TCP_ANY).await.unwrap().to_string();
            Self {
                xsub,
                xpub,
                frontend,
                backend,
            }
        }

        /// Receives the next subscription message on the backend, expects `expected`, confirms it
        /// for its peer (`subscribe`/`unsubscribe` of the same topic) and forwards it upstream.
        async fn reroute_subscription(&self, expected: &Message) {
            let subscription = within("a subscription at the proxy", self.xpub.recv())
                .await
                .unwrap();
            assert_eq!(&subscription, expected);
            let frame = &subscription[0];
            let topic = frame.slice(1..);
            if frame[0] == 1 {
                self.xpub.subscribe(topic);
            } else {
                self.xpub.unsubscribe(topic);
            }
            within("forward upstream", self.xsub.send(subscription))
                .await
                .unwrap();
        }
    }

    /// `test_xpub_proxy_unsubscribe_on_disconnect`: two SUBs subscribe to `1` through a proxy with
    /// a manual XPUB; a message on `1` reaches both; when both SUBs go away, the proxy's XPUB
    /// reports a cancel of `1` for each, the proxy forwards them, and the publisher stops sending
    /// `1` to it.
    #[compio::test]
    async fn xpub_proxy_unsubscribe_on_disconnect() {
        let proxy = Proxy::new().await;
        let publisher = PubSocket::new();
        publisher.connect(&proxy.frontend).unwrap();

        let sub1 = SubSocket::new();
        sub1.connect(&proxy.backend).unwrap();
        sub1.subscribe("1");
        proxy.reroute_subscription(&subscribe_msg("1")).await;
        let sub2 = SubSocket::new();
        sub2.connect(&proxy.backend).unwrap();
        sub2.subscribe("1");
        proxy.reroute_subscription(&subscribe_msg("1")).await;

        // Wait until the subscription has reached the publisher.
        probe_until(
            "the subscription reaches the publisher",
            &publisher,
            &proxy.xsub,
            &msg(&["1", "probe"]),
            |_| true,
        )
        .await;
        publisher.try_send(msg(&["1", "X"])).unwrap();
        let before = recv_until("the data at the proxy", &proxy.xsub, |m| {
            *m == msg(&["1", "X"])
        })
        .await;
        assert!(
            before.iter().all(|m| *m == msg(&["1", "probe"])),
            "{before:?}"
        );
        proxy.xpub.try_send(msg(&["1", "X"])).unwrap();
        assert_eq!(within("sub2", sub2.recv()).await.unwrap(), msg(&["1", "X"]));
        assert_eq!(within("sub1", sub1.recv()).await.unwrap(), msg(&["1", "X"]));

        drop(sub1);
        drop(sub2);
        // One cancel per subscriber that went away, each confirmed and passed upstream.
        proxy.reroute_subscription(&unsubscribe_msg("1")).await;
        let second = compio::time::timeout(Duration::from_secs(1), proxy.xpub.recv()).await;
        assert!(
            matches!(&second, Ok(Ok(m)) if *m == unsubscribe_msg("1")),
            "libzmq's manual XPUB reports a cancel of 1 for each subscriber that goes away (two \
             here); the second did not come: {second:?}"
        );
        proxy.xpub.unsubscribe("1");
        within("forward upstream", proxy.xsub.send(unsubscribe_msg("1")))
            .await
            .unwrap();

        // The publisher stops sending `1`: once a later subscription (`2`, sent after the cancels
        // on the same connection) has reached it, a `1` published before an end marker never
        // arrives.
        within("subscribe 2", proxy.xsub.send(subscribe_msg("2")))
            .await
            .unwrap();
        probe_until(
            "the marker subscription reaches the publisher",
            &publisher,
            &proxy.xsub,
            &msg(&["2", "probe"]),
            |_| true,
        )
        .await;
        publisher.try_send(msg(&["1", "X"])).unwrap();
        publisher.try_send(msg(&["2", "end"])).unwrap();
        let before = recv_until("the end marker", &proxy.xsub, |m| *m == msg(&["2", "end"])).await;
        assert!(
            before.iter().all(|m| first_frame_is(m, "2")),
            "the publisher still sends 1: {before:?}"
        );
    }

    /// `test_missing_subscriptions`: two SUBs subscribe to different topics through the proxy, each
    /// confirmed for its own SUB; each SUB receives the message on its own topic only.
    #[compio::test]
    async fn missing_subscriptions() {
        let proxy = Proxy::new().await;
        let publisher = PubSocket::new();
        publisher.connect(&proxy.frontend).unwrap();

        let sub1 = SubSocket::new();
        sub1.connect(&proxy.backend).unwrap();
        sub1.subscribe("1");
        proxy.reroute_subscription(&subscribe_msg("1")).await;
        let sub2 = SubSocket::new();
        sub2.connect(&proxy.backend).unwrap();
        sub2.subscribe("2");
        proxy.reroute_subscription(&subscribe_msg("2")).await;

        // `1` was forwarded before `2` on the same connection: once `2` works, both do.
        probe_until(
            "the subscriptions reach the publisher",
            &publisher,
            &proxy.xsub,
            &msg(&["2", "probe"]),
            |_| true,
        )
        .await;
        publisher.try_send(msg(&["1", "X"])).unwrap();
        publisher.try_send(msg(&["2", "X"])).unwrap();
        for topic in ["1", "2"] {
            let before = recv_until("the data at the proxy", &proxy.xsub, |m| {
                *m == msg(&[topic, "X"])
            })
            .await;
            assert!(before.iter().all(|m| m[1] == b"probe"[..]), "{before:?}");
            proxy.xpub.try_send(msg(&[topic, "X"])).unwrap();
        }
        assert_eq!(within("sub2", sub2.recv()).await.unwrap(), msg(&["2", "X"]));
        assert_eq!(within("sub1", sub1.recv()).await.unwrap(), msg(&["1", "X"]));
        // And sub1 did not get `2`: a later `1` is its next message.
        proxy.xpub.try_send(msg(&["1", "Z"])).unwrap();
        assert_eq!(within("sub1", sub1.recv()).await.unwrap(), msg(&["1", "Z"]));
        assert_eq!(sub2.try_recv().unwrap_err(), RecvError::WouldBlock);
    }

    /// The first half of `test_unsubscribe_cleanup`: the XSUB asks for `A`, mapped to `XA`; it gets
    /// `XA`, not `XB`; when it goes away, the XPUB reports the cancel of the XSUB's own
    /// subscription, `\x00A`.
    #[compio::test]
    async fn unsubscribe_cleanup() {
        let pub_ = manual_xpub();
        let endpoint = pub_.bind(TCP_ANY).await.unwrap().to_string();
        let sub = XSubSocket::new();
        sub.connect(&endpoint).unwrap();
        within("subscribe", sub.send(subscribe_msg("A")))
            .await
            .unwrap();
        assert_eq!(
            within("subscription A", pub_.recv()).await.unwrap(),
            subscribe_msg("A")
        );
        pub_.subscribe("XA");
        pub_.try_send("XA").unwrap();
        pub_.try_send("XB").unwrap();
        pub_.try_send("XA-end").unwrap();
        let before = recv_until("the end marker", &sub, |m| first_frame_is(m, "XA-end")).await;
        assert_eq!(before, vec![msg(&["XA"])], "XA only, nothing left");

        drop(sub);
        assert_eq!(
            within("the cancel reported on disconnect", pub_.recv())
                .await
                .unwrap(),
            unsubscribe_msg("A"),
            "libzmq reports the peer's own subscription (A), not the topic the application mapped \
             it to"
        );
    }

    /// The second half of `test_unsubscribe_cleanup`: after the XSUB went away, an `unsubscribe`
    /// does nothing (no last peer), and a new XSUB asking for `B`, mapped to `XB`, gets `XB` and
    /// nothing of the old `XA`.
    #[compio::test]
    async fn unsubscribe_cleanup_then_a_new_subscriber() {
        let pub_ = manual_xpub();
        let endpoint = pub_.bind(TCP_ANY).await.unwrap().to_string();
        let sub = XSubSocket::new();
        sub.connect(&endpoint).unwrap();
        within("subscribe", sub.send(subscribe_msg("A")))
            .await
            .unwrap();
        within("subscription A", pub_.recv()).await.unwrap();
        pub_.subscribe("XA");
        drop(sub);
        let cancel = within("a cancel on disconnect", pub_.recv()).await.unwrap();
        assert_eq!(cancel[0][0], 0, "{cancel:?}");
        // No last peer any more: does nothing.
        pub_.unsubscribe("XA");

        let sub = XSubSocket::new();
        sub.connect(&endpoint).unwrap();
        within("subscribe", sub.send(subscribe_msg("B")))
            .await
            .unwrap();
        assert_eq!(
            within("subscription B", pub_.recv()).await.unwrap(),
            subscribe_msg("B")
        );
        pub_.subscribe("XB");
        pub_.try_send("XA").unwrap();
        pub_.try_send("XB").unwrap();
        pub_.try_send("XB-end").unwrap();
        let before = recv_until("the end marker", &sub, |m| first_frame_is(m, "XB-end")).await;
        assert_eq!(before, vec![msg(&["XB"])], "XB only, nothing left");
    }

    /// `test_user_message`: a message from the XSUB that is neither a subscribe nor a cancel
    /// (`\x02A`) reaches the XPUB's application as it is.
    #[compio::test]
    async fn user_message() {
        let pub_ = manual_xpub();
        let endpoint = pub_.bind(TCP_ANY).await.unwrap().to_string();
        let sub = XSubSocket::new();
        sub.connect(&endpoint).unwrap();
        within("send", sub.send(raw(&[b"\x02A"]))).await.unwrap();
        assert_eq!(
            within("the user message", pub_.recv()).await.unwrap(),
            raw(&[b"\x02A"])
        );
    }
}
