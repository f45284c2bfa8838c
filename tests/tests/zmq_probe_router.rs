//! Port of libzmq's `tests/test_probe_router.cpp`: with `ZMQ_PROBE_ROUTER`, a connecting socket
//! sends an empty message to each new peer, so that a ROUTER learns its routing id at once.

mod zmq_common;

/// The cases of libzmq's `tests/test_probe_router.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_probe_router {
    use crate::zmq_common::{TCP_ANY, msg, within};
    use monocoque::{
        DealerSocket, OptionError, OptionName, PubSocket, RouterSocket, SocketOptions, SocketType,
    };

    fn probing_client() -> SocketOptions {
        SocketOptions::new().routing_id("X").probe_router(true)
    }

    /// `test_probe_router_router`: a ROUTER client named `X` with the probe connects to a ROUTER
    /// server; the server receives `X` and an empty frame without the client sending anything, and
    /// can answer at once; the client sees the server's generated routing id (5 bytes, starting
    /// with a zero byte) in front of the answer.
    #[compio::test]
    async fn probe_router_router() {
        let server = RouterSocket::new();
        let endpoint = server.bind(TCP_ANY).await.unwrap().to_string();
        let client = RouterSocket::with_options(probing_client()).unwrap();
        client.connect(&endpoint).unwrap();

        assert_eq!(
            within("the probe", server.recv()).await.unwrap(),
            msg(&["X", ""])
        );
        server.try_send(msg(&["X", "Hello"])).unwrap();
        let answer = within("the answer", client.recv()).await.unwrap();
        assert_eq!(answer.len(), 2, "{answer:?}");
        assert_eq!(
            answer[0].len(),
            5,
            "a generated routing id: {:?}",
            answer[0]
        );
        assert_eq!(
            answer[0][0], 0,
            "generated routing ids start with a zero byte"
        );
        assert_eq!(&answer[1][..], b"Hello");
    }

    /// `test_probe_router_dealer`: the same with a DEALER client, which receives the answer alone.
    #[compio::test]
    async fn probe_router_dealer() {
        let server = RouterSocket::new();
        let endpoint = server.bind(TCP_ANY).await.unwrap().to_string();
        let client = DealerSocket::with_options(probing_client()).unwrap();
        client.connect(&endpoint).unwrap();

        assert_eq!(
            within("the probe", server.recv()).await.unwrap(),
            msg(&["X", ""])
        );
        server.try_send(msg(&["X", "Hello"])).unwrap();
        assert_eq!(
            within("the answer", client.recv()).await.unwrap(),
            msg(&["Hello"])
        );
    }

    /// Extends `test_probe_router_*`: libzmq accepts `ZMQ_PROBE_ROUTER` on ROUTER, DEALER and REQ
    /// only (`EINVAL` elsewhere); monocoque refuses it on other types the same way, with a typed
    /// error.
    #[compio::test]
    async fn probe_router_is_refused_on_other_socket_types() {
        let error = PubSocket::with_options(SocketOptions::new().probe_router(true)).unwrap_err();
        assert_eq!(
            error,
            OptionError::NotApplicable {
                option: OptionName::ProbeRouter,
                socket_type: SocketType::Pub,
            }
        );
    }
}
