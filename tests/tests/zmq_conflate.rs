//! Port of libzmq's `tests/test_conflate.cpp`: with `ZMQ_CONFLATE`, a queue keeps only the newest
//! message.

mod zmq_common;

/// The cases of libzmq's `tests/test_conflate.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_conflate {
    use std::time::Duration;

    use crate::zmq_common::{read_num, unused_tcp_endpoint, wait_until, within};
    use monocoque::{
        Message, OptionError, OptionName, PullSocket, PushSocket, RecvError, RouterSocket,
        SocketOptions, SocketType,
    };

    fn int(j: u32) -> Message {
        Message::single(j.to_be_bytes().to_vec())
    }

    /// `test_conflate`: a bound PULL with `ZMQ_CONFLATE` receives 20 numbers from a PUSH and, once
    /// they have all arrived, hands out only the last one (19).
    ///
    /// libzmq sleeps until they have arrived; here the PUSH is closed (which flushes it), and the
    /// PULL seeing the connection end proves it has read everything before it.
    #[compio::test]
    async fn conflate() {
        let s_in = PullSocket::with_options(SocketOptions::new().conflate(true)).unwrap();
        let endpoint = s_in.bind("tcp://127.0.0.1:0").await.unwrap().to_string();
        let s_out = PushSocket::new();
        s_out.connect(&endpoint).unwrap();

        let message_count = 20;
        for j in 0..message_count {
            within("send", s_out.send(int(j))).await.unwrap();
        }
        within("close flushes", s_out.close()).await;
        wait_until("the PULL has read the whole connection", || {
            s_in.connected_peers() == 0
        })
        .await;

        let received = within("recv", s_in.recv()).await.unwrap();
        assert_eq!(read_num(&received[0]), message_count - 1);
        assert_eq!(s_in.try_recv().unwrap_err(), RecvError::WouldBlock);
    }

    /// Extends `test_conflate`: `ZMQ_CONFLATE` on the sending side, which libzmq applies to
    /// outgoing queues as well: a connecting PUSH that cannot deliver yet keeps only the newest of
    /// 20 messages, and that is all the PULL gets once it binds.
    #[compio::test]
    async fn conflate_on_the_sending_side() {
        let endpoint = unused_tcp_endpoint();
        let s_out = PushSocket::with_options(
            SocketOptions::new()
                .conflate(true)
                .reconnect_interval(Duration::from_millis(10)),
        )
        .unwrap();
        s_out.connect(&endpoint).unwrap();
        for j in 0..20 {
            s_out.try_send(int(j)).unwrap();
        }
        let s_in = PullSocket::new();
        s_in.bind(&endpoint).await.unwrap();
        let received = within("recv", s_in.recv()).await.unwrap();
        assert_eq!(read_num(&received[0]), 19);
        within("close flushes", s_out.close()).await;
        wait_until("the PULL has read the whole connection", || {
            s_in.connected_peers() == 0
        })
        .await;
        assert_eq!(s_in.try_recv().unwrap_err(), RecvError::WouldBlock);
    }

    /// Extends `test_conflate`: libzmq accepts `ZMQ_CONFLATE` on any socket and documents it for
    /// single-part streams only (PUSH, PULL, PUB, SUB, DEALER). monocoque refuses it where it means
    /// nothing (difference on purpose), e.g. on a ROUTER, whose messages always carry a routing-id
    /// frame.
    #[compio::test]
    async fn conflate_is_refused_where_it_does_not_apply() {
        let error = RouterSocket::with_options(SocketOptions::new().conflate(true)).unwrap_err();
        assert_eq!(
            error,
            OptionError::NotApplicable {
                option: OptionName::Conflate,
                socket_type: SocketType::Router,
            }
        );
    }
}
