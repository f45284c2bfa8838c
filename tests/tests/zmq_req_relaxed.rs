//! Port of libzmq's `tests/test_req_relaxed.cpp`: with `ZMQ_REQ_RELAXED` (and
//! `ZMQ_REQ_CORRELATE`), a REQ may send a new request before the reply to the last one, whose
//! reply is then discarded.
//!
//! libzmq also checks `ZMQ_EVENTS` (`ZMQ_POLLOUT` after each send); monocoque has no such
//! getter, so the port checks instead that each send succeeds without waiting (`try_send`).

mod zmq_common;

/// The cases of libzmq's `tests/test_req_relaxed.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_req_relaxed {
    use std::time::Duration;

    use crate::zmq_common::{TCP_ANY, msg, unused_tcp_endpoint, wait_until, within};
    use monocoque::{Message, RepSocket, ReqSocket, RouterSocket, SocketOptions};

    fn relaxed() -> SocketOptions {
        SocketOptions::new().req_relaxed(true).req_correlate(true)
    }

    /// libzmq's `setUp`: a bound relaxed, correlating REQ and five REPs connected one after the
    /// other, each waited for, so that requests go round-robin in the order `rep[0]` to `rep[4]`.
    async fn set_up() -> (ReqSocket, Vec<RepSocket>) {
        let req = ReqSocket::with_options(relaxed()).unwrap();
        let endpoint = req.bind(TCP_ANY).await.unwrap().to_string();
        let mut reps = Vec::new();
        for n in 1..=5 {
            let rep = RepSocket::new();
            rep.connect(&endpoint).unwrap();
            wait_until("the REP is connected", || req.connected_peers() == n).await;
            reps.push(rep);
        }
        (req, reps)
    }

    /// Case 1: a second send before a reply arrives in a pipe.
    async fn case_1(req: &ReqSocket, rep: &[RepSocket]) {
        // Send a request, ensure it arrives, don't send a reply.
        req.try_send(msg(&["A", "B"])).unwrap();
        assert_eq!(
            within("recv", rep[0].recv()).await.unwrap(),
            msg(&["A", "B"])
        );
        // Send another request on the REQ socket.
        req.try_send(msg(&["C", "D"])).unwrap();
        assert_eq!(
            within("recv", rep[1].recv()).await.unwrap(),
            msg(&["C", "D"])
        );
        // A reply to the first request must be discarded by the REQ.
        within("reply", rep[0].send("WRONG")).await.unwrap();
        // The expected reply.
        within("reply", rep[1].send("OK")).await.unwrap();
        assert_eq!(within("recv", req.recv()).await.unwrap(), msg(&["OK"]));
        // Another standard req-rep cycle, just to check.
        req.try_send("E").unwrap();
        assert_eq!(within("recv", rep[2].recv()).await.unwrap(), msg(&["E"]));
        within("reply", rep[2].send(msg(&["F", "G"])))
            .await
            .unwrap();
        assert_eq!(within("recv", req.recv()).await.unwrap(), msg(&["F", "G"]));
    }

    /// Case 2: a second send after a reply is already in a pipe on the REQ.
    ///
    /// libzmq sleeps so that `BAD` has arrived before the next send; monocoque cannot observe its
    /// arrival without receiving it, so `BAD` may arrive before or after the next send: either way
    /// (discarded with the abandoned request, or refused as coming from a peer not asked) the REQ
    /// must deliver `GOOD`.
    async fn case_2(req: &ReqSocket, rep: &[RepSocket]) {
        req.try_send("H").unwrap();
        assert_eq!(within("recv", rep[3].recv()).await.unwrap(), msg(&["H"]));
        within("reply", rep[3].send("BAD")).await.unwrap();
        // Without receiving that reply, send another request.
        req.try_send("I").unwrap();
        assert_eq!(within("recv", rep[4].recv()).await.unwrap(), msg(&["I"]));
        within("reply", rep[4].send("GOOD")).await.unwrap();
        assert_eq!(within("recv", req.recv()).await.unwrap(), msg(&["GOOD"]));
    }

    /// Case 3 (libzmq issue #1690): two sends in a row do not close the pipe of the abandoned
    /// request: after cases 1 and 2, `rep[0]` is next in the rotation and receives `J`.
    async fn case_3(req: &ReqSocket, rep: &[RepSocket]) {
        req.try_send("J").unwrap();
        assert_eq!(within("recv", rep[0].recv()).await.unwrap(), msg(&["J"]));
    }

    /// `test_case_1`.
    #[compio::test]
    async fn test_case_1() {
        let (req, rep) = set_up().await;
        case_1(&req, &rep).await;
    }

    /// `test_case_2`, which reruns case 1 first, as libzmq does.
    #[compio::test]
    async fn test_case_2() {
        let (req, rep) = set_up().await;
        case_1(&req, &rep).await;
        case_2(&req, &rep).await;
    }

    /// `test_case_3`, which reruns cases 1 and 2 first, as libzmq does.
    #[compio::test]
    async fn test_case_3() {
        let (req, rep) = set_up().await;
        case_1(&req, &rep).await;
        case_2(&req, &rep).await;
        case_3(&req, &rep).await;
    }

    /// `test_case_4` (libzmq issue #1695): requests pile up before a server exists; once it binds
    /// and bounces both back as they are, the REQ delivers the reply to the last request only.
    #[compio::test]
    async fn test_case_4() {
        let endpoint = unused_tcp_endpoint();
        let req = ReqSocket::with_options(relaxed().reconnect_interval(Duration::from_millis(10)))
            .unwrap();
        req.connect(&endpoint).unwrap();
        let router = RouterSocket::new();
        // Two requests, queued while nothing listens.
        req.try_send("TO_BE_DISCARDED").unwrap();
        req.try_send("TO_BE_ANSWERED").unwrap();
        router.bind(&endpoint).await.unwrap();
        for _ in 0..2 {
            let request: Message = within("bounce", router.recv()).await.unwrap();
            router.try_send(request).unwrap();
        }
        assert_eq!(
            within("the correlated reply", req.recv()).await.unwrap(),
            msg(&["TO_BE_ANSWERED"])
        );
    }
}
