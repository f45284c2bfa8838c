//! Port of libzmq's `tests/test_spec_rep.cpp`: the REP socket of RFC 28 (fair-queued requests,
//! the envelope stored and put back on the reply).
//!
//! libzmq runs each case over `inproc://` and `tcp://`; here they run over `tcp://` and `ipc://`.

mod zmq_common;

/// The cases of libzmq's `tests/test_spec_rep.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_spec_rep {
    use std::collections::HashSet;

    use crate::zmq_common::{BindAddr, Transport, msg, wait_until, within};
    use monocoque::{DealerSocket, RepSocket, ReqSocket};

    /// `test_fair_queue_in`: a bound REP serves five REQs. The first REQ does two round trips; then
    /// every REQ sends a request at once (the part libzmq keeps under `#ifdef SOMEONE_FIXES_THIS`,
    /// because it expected them in connect order), and each gets the reply to its own request.
    async fn fair_queue_in(transport: Transport) {
        let addr = BindAddr::new(transport, "rep-fq");
        let rep = RepSocket::new();
        let endpoint = rep.bind(addr.endpoint()).await.unwrap().to_string();
        let reqs: Vec<ReqSocket> = (0..5).map(|_| ReqSocket::new()).collect();
        for req in &reqs {
            req.connect(&endpoint).unwrap();
        }
        wait_until("the REP has five peers", || rep.connected_peers() == 5).await;

        for _ in 0..2 {
            within("send", reqs[0].send("A")).await.unwrap();
            assert_eq!(within("recv", rep.recv()).await.unwrap(), msg(&["A"]));
            within("reply", rep.send("A")).await.unwrap();
            assert_eq!(within("reply", reqs[0].recv()).await.unwrap(), msg(&["A"]));
        }

        let names = ["A", "B", "C", "D", "E"];
        for (req, name) in reqs.iter().zip(names) {
            within("send", req.send(name)).await.unwrap();
        }
        let mut seen = HashSet::new();
        for _ in 0..names.len() {
            let request = within("a request", rep.recv()).await.unwrap();
            assert_eq!(request.len(), 1);
            seen.insert(request[0].clone());
            // Echo: the reply must go back to whoever sent it.
            within("reply", rep.send(request)).await.unwrap();
        }
        assert_eq!(seen.len(), names.len(), "every request arrived once");
        for (req, name) in reqs.iter().zip(names) {
            assert_eq!(
                within("the REQ's own reply", req.recv()).await.unwrap(),
                msg(&[name])
            );
        }
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

    /// `test_envelope`: the REP strips everything up to and including the empty delimiter, hands
    /// the rest to the application, and puts the same envelope in front of the reply; with the
    /// minimal envelope (the delimiter alone) and a bigger one (`X`, `Y`, delimiter).
    async fn envelope(transport: Transport) {
        let addr = BindAddr::new(transport, "rep-env");
        let rep = RepSocket::new();
        let endpoint = rep.bind(addr.endpoint()).await.unwrap().to_string();
        let dealer = DealerSocket::new();
        dealer.connect(&endpoint).unwrap();

        // Minimal envelope.
        within("send", dealer.send(msg(&["", "A"]))).await.unwrap();
        assert_eq!(within("recv", rep.recv()).await.unwrap(), msg(&["A"]));
        within("reply", rep.send("A")).await.unwrap();
        assert_eq!(
            within("reply", dealer.recv()).await.unwrap(),
            msg(&["", "A"])
        );

        // Big envelope.
        within("send", dealer.send(msg(&["X", "Y", "", "A"])))
            .await
            .unwrap();
        assert_eq!(within("recv", rep.recv()).await.unwrap(), msg(&["A"]));
        within("reply", rep.send("A")).await.unwrap();
        assert_eq!(
            within("reply", dealer.recv()).await.unwrap(),
            msg(&["X", "Y", "", "A"])
        );
    }

    /// `test_envelope_tcp`.
    #[compio::test]
    async fn envelope_tcp() {
        envelope(Transport::Tcp).await;
    }

    /// `test_envelope_inproc`, over ipc.
    #[compio::test]
    async fn envelope_ipc() {
        envelope(Transport::Ipc).await;
    }
}
