//! Port of libzmq's `tests/test_sub_forward.cpp`: an XPUB/XSUB device forwards subscriptions
//! upstream and messages downstream.

mod zmq_common;

/// The cases of libzmq's `tests/test_sub_forward.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_sub_forward {
    use crate::zmq_common::{TCP_ANY, probe_until, within};
    use monocoque::{Message, PubSocket, SubSocket, XPubSocket, XSubSocket};

    /// `test`: a SUB subscribes to everything through an XPUB/XSUB pair driven by hand; the
    /// subscription passes upstream to the PUB, and an empty message from the PUB passes downstream
    /// to the SUB.
    ///
    /// libzmq sleeps until the subscription has reached the PUB; here the PUB probes with empty
    /// messages until one reaches the XSUB.
    #[compio::test]
    async fn sub_forward() {
        // First, create an intermediate device.
        let xpub = XPubSocket::new();
        let endpoint1 = xpub.bind(TCP_ANY).await.unwrap().to_string();
        let xsub = XSubSocket::new();
        let endpoint2 = xsub.bind(TCP_ANY).await.unwrap().to_string();
        // A publisher and a subscriber.
        let publisher = PubSocket::new();
        publisher.connect(&endpoint2).unwrap();
        let sub = SubSocket::new();
        sub.connect(&endpoint1).unwrap();
        // Subscribe for all messages.
        sub.subscribe("");

        // Pass the subscription upstream through the device.
        let subscription = within("the subscription", xpub.recv()).await.unwrap();
        assert_eq!(subscription, Message::from(&b"\x01"[..]));
        within("forward", xsub.send(subscription)).await.unwrap();

        // Send an empty message (until the subscription has reached the publisher).
        let empty = Message::from("");
        let message = probe_until(
            "the subscription reaches the publisher",
            &publisher,
            &xsub,
            &empty,
            |_| true,
        )
        .await;
        assert_eq!(message, empty);
        // Pass the message downstream through the device.
        xpub.try_send(message).unwrap();
        assert_eq!(within("the SUB receives", sub.recv()).await.unwrap(), empty);
    }
}
