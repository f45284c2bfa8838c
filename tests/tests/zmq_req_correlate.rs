//! Port of libzmq's `tests/test_req_correlate.cpp`: with `ZMQ_REQ_CORRELATE`, a REQ puts a
//! request id in front of each request and accepts only the reply that carries it back.

mod zmq_common;

/// The cases of libzmq's `tests/test_req_correlate.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_req_correlate {
    use crate::zmq_common::{TCP_ANY, msg, within};
    use bytes::Bytes;
    use monocoque::{Message, ReqSocket, RouterSocket, SocketOptions};

    /// `test_req_correlate`: the ROUTER sees `[peer id, request id (4 bytes), "", ABC, DEF]`; it
    /// answers first with a wrong request id (`DATA`), then with the right one (`GHI`); the REQ
    /// delivers `GHI` only.
    #[compio::test]
    async fn req_correlate() {
        let req = ReqSocket::with_options(SocketOptions::new().req_correlate(true)).unwrap();
        let router = RouterSocket::new();
        let endpoint = router.bind(TCP_ANY).await.unwrap().to_string();
        req.connect(&endpoint).unwrap();

        within("send a multi-part request", req.send(msg(&["ABC", "DEF"])))
            .await
            .unwrap();
        let request = within("the ROUTER receives", router.recv()).await.unwrap();
        assert_eq!(request.len(), 5, "{request:?}");
        let peer_id = request[0].clone();
        assert!(!peer_id.is_empty());
        let req_id = request[1].clone();
        assert_eq!(req_id.len(), 4, "a 4-byte request id");
        assert_eq!(&request.frames()[2..], msg(&["", "ABC", "DEF"]).frames());

        let mut bad_req_id = <[u8; 4]>::try_from(&req_id[..]).unwrap();
        bad_req_id[3] = bad_req_id[3].wrapping_add(1);
        router
            .try_send(Message::from_iter([
                peer_id.clone(),
                Bytes::copy_from_slice(&bad_req_id),
                Bytes::new(),
                Bytes::from("DATA"),
            ]))
            .unwrap();
        router
            .try_send(Message::from_iter([
                peer_id,
                req_id,
                Bytes::new(),
                Bytes::from("GHI"),
            ]))
            .unwrap();
        // If the bad reply got through, this would be DATA.
        assert_eq!(
            within("the reply", req.recv()).await.unwrap(),
            msg(&["GHI"])
        );
    }
}
