//! Port of libzmq's `tests/test_xpub_verbose.cpp`: which subscriptions and cancels an XPUB hands
//! to the application by default (a topic's first subscribe, its last cancel), with
//! `ZMQ_XPUB_VERBOSE` (every subscribe) and with `ZMQ_XPUB_VERBOSER` (every subscribe and
//! cancel), with one and with two subscribers.
//!
//! libzmq runs over `inproc://` and checks "nothing was passed on" with a non-blocking receive
//! right after the SUB's `setsockopt`. Over TCP the subscription may still be on its way, so
//! each such check here is made deterministic with a marker: the same SUB then subscribes to a
//! fresh topic (`M1`, `M2`, ...), which the XPUB always passes on, and the XPUB's next message
//! must be that marker. Messages on one connection keep their order, so anything the XPUB had
//! passed on before would have come first.

mod zmq_common;

/// The cases of libzmq's `tests/test_xpub_verbose.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_xpub_verbose {
    use crate::zmq_common::{TCP_ANY, msg, wait_until, within};
    use monocoque::{Message, RecvError, SubSocket, XPubSocket};

    fn subscribe_msg(topic: &str) -> Message {
        Message::single([&[1u8][..], topic.as_bytes()].concat())
    }

    fn unsubscribe_msg(topic: &str) -> Message {
        Message::single([&[0u8][..], topic.as_bytes()].concat())
    }

    /// Asserts that the XPUB passes nothing else on from `sub` before the marker subscription
    /// `marker` (see the module documentation).
    async fn nothing_passed_on(xpub: &XPubSocket, sub: &SubSocket, marker: &str) {
        sub.subscribe(marker.to_owned());
        assert_eq!(
            within("the marker subscription", xpub.recv())
                .await
                .unwrap(),
            subscribe_msg(marker),
            "the XPUB passed something on before the marker {marker}"
        );
        assert_eq!(xpub.try_recv().unwrap_err(), RecvError::WouldBlock);
    }

    async fn xpub_with_subs(count: usize) -> (XPubSocket, Vec<SubSocket>) {
        let xpub = XPubSocket::new();
        let endpoint = xpub.bind(TCP_ANY).await.unwrap().to_string();
        let subs: Vec<SubSocket> = (0..count).map(|_| SubSocket::new()).collect();
        for sub in &subs {
            sub.connect(&endpoint).unwrap();
        }
        wait_until("every SUB is connected", || {
            xpub.connected_peers() == count && subs.iter().all(|s| s.connected_peers() == 1)
        })
        .await;
        (xpub, subs)
    }

    /// libzmq's `create_duplicate_subscription`: `sub0` subscribes to `A` (passed on), then `sub1`
    /// does too (a duplicate: not passed on).
    async fn create_duplicate_subscription(xpub: &XPubSocket, sub0: &SubSocket, sub1: &SubSocket) {
        sub0.subscribe("A");
        assert_eq!(within("A", xpub.recv()).await.unwrap(), subscribe_msg("A"));
        sub1.subscribe("A");
        nothing_passed_on(xpub, sub1, "M-dup").await;
    }

    /// `test_xpub_verbose_one_sub`: a repeated subscribe to `A` is passed on only once
    /// `ZMQ_XPUB_VERBOSE` is set (on the live socket); publishing still works.
    #[compio::test]
    async fn xpub_verbose_one_sub() {
        let (pub_, subs) = xpub_with_subs(1).await;
        let sub = &subs[0];
        sub.subscribe("A");
        assert_eq!(within("A", pub_.recv()).await.unwrap(), subscribe_msg("A"));
        sub.subscribe("B");
        assert_eq!(within("B", pub_.recv()).await.unwrap(), subscribe_msg("B"));
        // Subscribe again for A: a duplicate, filtered out.
        sub.subscribe("A");
        nothing_passed_on(&pub_, sub, "M1").await;

        pub_.set_options(|o| o.xpub_verbose(true)).unwrap();
        // This time, with VERBOSE, the duplicate is passed on.
        sub.subscribe("A");
        assert_eq!(
            within("A again", pub_.recv()).await.unwrap(),
            subscribe_msg("A")
        );

        pub_.try_send("A").unwrap();
        pub_.try_send("B").unwrap();
        assert_eq!(within("A", sub.recv()).await.unwrap(), msg(&["A"]));
        assert_eq!(within("B", sub.recv()).await.unwrap(), msg(&["B"]));
    }

    /// `test_xpub_verbose_two_subs`: a second SUB's subscribe to a topic already subscribed is
    /// passed on only with `ZMQ_XPUB_VERBOSE`; both SUBs then receive `A`.
    #[compio::test]
    async fn xpub_verbose_two_subs() {
        let (pub_, subs) = xpub_with_subs(2).await;
        let (sub0, sub1) = (&subs[0], &subs[1]);
        create_duplicate_subscription(&pub_, sub0, sub1).await;
        sub0.subscribe("B");
        assert_eq!(within("B", pub_.recv()).await.unwrap(), subscribe_msg("B"));

        pub_.set_options(|o| o.xpub_verbose(true)).unwrap();
        sub1.subscribe("A");
        assert_eq!(
            within("A again", pub_.recv()).await.unwrap(),
            subscribe_msg("A")
        );

        pub_.try_send("A").unwrap();
        pub_.try_send("B").unwrap();
        assert_eq!(within("A", sub0.recv()).await.unwrap(), msg(&["A"]));
        assert_eq!(within("A", sub1.recv()).await.unwrap(), msg(&["A"]));
        assert_eq!(within("B", sub0.recv()).await.unwrap(), msg(&["B"]));
    }

    /// `test_xpub_verboser_one_sub`: the SUB counts its subscriptions and sends only the cancel of
    /// the last one, and never a cancel for a topic it is not subscribed to; by default the XPUB
    /// passes on the cancel that removes a topic; with `ZMQ_XPUB_VERBOSER` too.
    #[compio::test]
    async fn xpub_verboser_one_sub() {
        let (pub_, subs) = xpub_with_subs(1).await;
        let sub = &subs[0];
        // Unsubscribe for A, which does not exist yet: filtered out by the SUB.
        sub.unsubscribe("A");
        nothing_passed_on(&pub_, sub, "M1").await;
        sub.subscribe("A");
        assert_eq!(within("A", pub_.recv()).await.unwrap(), subscribe_msg("A"));
        // Subscribe again: the SUB counts it, the XPUB filters the duplicate.
        sub.subscribe("A");
        nothing_passed_on(&pub_, sub, "M2").await;
        // Two unsubscribes: only the last one is sent, and passed on.
        sub.unsubscribe("A");
        sub.unsubscribe("A");
        assert_eq!(
            within("the cancel", pub_.recv()).await.unwrap(),
            unsubscribe_msg("A")
        );
        nothing_passed_on(&pub_, sub, "M3").await;
        // Unsubscribe for A, which does not exist any more: filtered by the SUB.
        sub.unsubscribe("A");
        nothing_passed_on(&pub_, sub, "M4").await;

        pub_.set_options(|o| o.xpub_verboser(true)).unwrap();
        sub.subscribe("A");
        assert_eq!(within("A", pub_.recv()).await.unwrap(), subscribe_msg("A"));
        pub_.try_send("A").unwrap();
        assert_eq!(within("A", sub.recv()).await.unwrap(), msg(&["A"]));
        sub.unsubscribe("A");
        assert_eq!(
            within("the cancel", pub_.recv()).await.unwrap(),
            unsubscribe_msg("A")
        );
        // Unsubscribe again: the SUB filters it even with VERBOSER on the XPUB.
        sub.unsubscribe("A");
        nothing_passed_on(&pub_, sub, "M5").await;
    }

    /// `test_xpub_verboser_two_subs`: by default a topic's cancel is passed on only when its last
    /// subscriber leaves; with `ZMQ_XPUB_VERBOSER` every subscribe and every cancel is.
    #[compio::test]
    async fn xpub_verboser_two_subs() {
        let (pub_, subs) = xpub_with_subs(2).await;
        let (sub0, sub1) = (&subs[0], &subs[1]);
        create_duplicate_subscription(&pub_, sub0, sub1).await;

        // sub1 is still subscribed: no notification.
        sub0.unsubscribe("A");
        nothing_passed_on(&pub_, sub0, "M1").await;
        // The last subscriber leaves: one notification.
        sub1.unsubscribe("A");
        assert_eq!(
            within("the cancel", pub_.recv()).await.unwrap(),
            unsubscribe_msg("A")
        );
        nothing_passed_on(&pub_, sub1, "M2").await;

        pub_.set_options(|o| o.xpub_verboser(true)).unwrap();
        sub0.subscribe("A");
        sub1.subscribe("A");
        // VERBOSER: the subscriptions of both.
        assert_eq!(within("A", pub_.recv()).await.unwrap(), subscribe_msg("A"));
        assert_eq!(within("A", pub_.recv()).await.unwrap(), subscribe_msg("A"));
        pub_.try_send("A").unwrap();
        assert_eq!(within("A", sub0.recv()).await.unwrap(), msg(&["A"]));
        assert_eq!(within("A", sub1.recv()).await.unwrap(), msg(&["A"]));

        sub1.unsubscribe("A");
        assert_eq!(
            within("sub1's cancel", pub_.recv()).await.unwrap(),
            unsubscribe_msg("A")
        );
        sub0.unsubscribe("A");
        assert_eq!(
            within("sub0's cancel", pub_.recv()).await.unwrap(),
            unsubscribe_msg("A")
        );
        // Unmatched now, so the SUB filters it even with VERBOSER.
        sub1.unsubscribe("A");
        nothing_passed_on(&pub_, sub1, "M3").await;
    }
}
