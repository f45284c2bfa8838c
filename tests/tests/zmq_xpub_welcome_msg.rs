//! Port of libzmq's `tests/test_xpub_welcome_msg.cpp`: with `ZMQ_XPUB_WELCOME_MSG`, an XPUB
//! sends a message to every new subscriber.

mod zmq_common;

/// The cases of libzmq's `tests/test_xpub_welcome_msg.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_xpub_welcome_msg {
    use crate::zmq_common::{TCP_ANY, msg, within};
    use monocoque::{Message, SocketOptions, SubSocket, XPubSocket};

    /// `test`: an XPUB with welcome message `W`; a SUB subscribed to `W` connects; the XPUB sees
    /// the subscription (`\x01W`) and the SUB receives `W`.
    #[compio::test]
    async fn welcome_message() {
        let pub_ =
            XPubSocket::with_options(SocketOptions::new().xpub_welcome_message("W")).unwrap();
        let endpoint = pub_.bind(TCP_ANY).await.unwrap().to_string();
        let sub = SubSocket::new();
        // Subscribe to the welcome message.
        sub.subscribe("W");
        sub.connect(&endpoint).unwrap();
        assert_eq!(
            within("the subscription", pub_.recv()).await.unwrap(),
            Message::from(&b"\x01W"[..])
        );
        assert_eq!(
            within("the welcome message", sub.recv()).await.unwrap(),
            msg(&["W"])
        );
    }

    /// Extends `test`: every new subscriber gets the welcome message, once: a second SUB connecting
    /// later gets it too, and the first does not get it again. (The XPUB is verbose, so that it
    /// reports the second SUB's duplicate subscription too, which tells when it has arrived.)
    #[compio::test]
    async fn every_new_subscriber_is_welcomed_once() {
        let pub_ = XPubSocket::with_options(
            SocketOptions::new()
                .xpub_welcome_message("W")
                .xpub_verbose(true),
        )
        .unwrap();
        let endpoint = pub_.bind(TCP_ANY).await.unwrap().to_string();
        let first = SubSocket::new();
        first.subscribe("W");
        first.connect(&endpoint).unwrap();
        assert_eq!(within("welcome", first.recv()).await.unwrap(), msg(&["W"]));

        let second = SubSocket::new();
        second.subscribe("W");
        second.connect(&endpoint).unwrap();
        assert_eq!(within("welcome", second.recv()).await.unwrap(), msg(&["W"]));
        for _ in 0..2 {
            assert_eq!(
                within("a subscription", pub_.recv()).await.unwrap(),
                Message::from(&b"\x01W"[..])
            );
        }
        pub_.try_send("W-after").unwrap();
        assert_eq!(
            within("next", second.recv()).await.unwrap(),
            msg(&["W-after"])
        );
        assert_eq!(
            within("next", first.recv()).await.unwrap(),
            msg(&["W-after"])
        );
    }
}
