//! Port of libzmq's `tests/test_timeo.cpp`: `ZMQ_RCVTIMEO` and `ZMQ_SNDTIMEO`.

mod zmq_common;

/// The cases of libzmq's `tests/test_timeo.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_timeo {
    use std::time::{Duration, Instant};

    use crate::zmq_common::{TCP_ANY, msg, within};
    use monocoque::{DealerSocket, RecvError, SocketOptions};

    /// `test_timeo`: a receive on a DEALER without peers fails at once when it must not wait, and
    /// after the receive timeout (250 ms, set on the live socket) otherwise; then, with a peer and
    /// a send timeout, messages flow normally.
    ///
    /// libzmq asserts the receive took more than 200 ms (timeout minus 50 ms of jitter) and only
    /// warns when it took much longer; the port bounds it by the test's overall wait.
    #[compio::test]
    async fn timeo() {
        let timeout = Duration::from_millis(250);
        let jitter = Duration::from_millis(50);
        let frontend = DealerSocket::new();
        let endpoint = frontend.bind(TCP_ANY).await.unwrap().to_string();

        // Receive on a socket without peers returns immediately.
        assert_eq!(frontend.try_recv().unwrap_err(), RecvError::WouldBlock);

        // Check whether the receive timeout is honoured.
        frontend
            .set_options(|o| o.recv_timeout(Some(timeout)))
            .unwrap();
        let stopwatch = Instant::now();
        assert_eq!(
            within("a receive with a timeout", frontend.recv())
                .await
                .unwrap_err(),
            // libzmq's EAGAIN after the wait.
            RecvError::TimedOut
        );
        let elapsed = stopwatch.elapsed();
        assert!(elapsed > timeout - jitter, "returned after {elapsed:?}");

        // Check that normal message flow works as expected. (The receive timeout is lifted first:
        // on a loaded machine the connection alone could take longer than 250 ms.)
        frontend.set_options(|o| o.recv_timeout(None)).unwrap();
        let backend =
            DealerSocket::with_options(SocketOptions::new().send_timeout(Some(timeout))).unwrap();
        backend.connect(&endpoint).unwrap();
        within("send", backend.send("Hello")).await.unwrap();
        assert_eq!(
            within("recv", frontend.recv()).await.unwrap(),
            msg(&["Hello"])
        );
    }
}
