//! Port of libzmq's `tests/test_hwm.cpp`: how many messages a PUSH can queue towards a PULL
//! before it blocks, for each combination of send and receive high-water marks (0 = no limit).
//!
//! libzmq runs every case over `inproc://`, where one pipe joins the sender's and the receiver's
//! queues, so the counts are exact sums (`SNDHWM + RCVHWM`). monocoque has TCP and IPC only:
//!
//! - before any connection exists, a connecting PUSH holds messages in its own queue only, so
//!   the count is exact there: `SNDHWM` (the `*_connect_first` tests);
//! - once connected, the kernel's socket buffers and the connection's read and write buffers sit
//!   between the two queues and take messages too, so the count is a bounded range:
//!   `SNDHWM + RCVHWM` at least, plus what fits in those buffers (the `*_bind_first` tests set
//!   small kernel buffers and send 1 KiB messages to keep that slack known).

mod zmq_common;

/// The cases of libzmq's `tests/test_hwm.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_hwm {
    use std::time::Duration;

    use crate::zmq_common::{num, read_num, unused_tcp_endpoint, wait_until, within};
    use bytes::Bytes;
    use monocoque::{Message, PullSocket, PushSocket, RecvError, SendErrorKind, SocketOptions};

    /// libzmq's cap on the sends of one case.
    const MAX_SENDS: u32 = 10_000;

    /// The kernel buffers asked for on each connection of the `*_bind_first` cases.
    const KERNEL_BUFFER: usize = 64 * 1024;

    /// The body of the messages of the finite `*_bind_first` cases.
    const BODY: usize = 1024;

    /// How many 1 KiB messages can sit between the two queues once connected: the writer's batch
    /// (256 KiB), the reader's buffer (64 KiB and a partial message), both kernel buffers (which
    /// Linux doubles), with room to spare.
    const SLACK: u32 = 1024;

    /// How long a blocked PUSH waits for room before the queues count as full. A window in which
    /// nothing happening is the point: if the connection moved anything, the send would succeed.
    const STALL: Duration = Duration::from_millis(200);

    fn options(send_hwm: usize, recv_hwm: usize) -> SocketOptions {
        SocketOptions::new()
            .send_hwm(send_hwm)
            .recv_hwm(recv_hwm)
            .send_buffer(KERNEL_BUFFER)
            .recv_buffer(KERNEL_BUFFER)
            .reconnect_interval(Duration::from_millis(10))
    }

    fn numbered(i: u32, body: &Bytes) -> Message {
        Message::from_iter([num(i), body.clone()])
    }

    /// Sends numbered messages without ever waiting, as libzmq's `ZMQ_DONTWAIT` loop, until one
    /// would block or `MAX_SENDS` went out.
    fn send_until_blocked(push: &PushSocket, body: &Bytes) -> u32 {
        let mut sent = 0;
        while sent < MAX_SENDS {
            match push.try_send(numbered(sent, body)) {
                Ok(()) => sent += 1,
                Err(error) => {
                    assert_eq!(error.kind, SendErrorKind::WouldBlock);
                    break;
                }
            }
        }
        sent
    }

    /// Sends numbered messages, letting the connection move them, until the PUSH stays blocked for
    /// [`STALL`] or `MAX_SENDS` went out.
    async fn send_until_stalled(push: &PushSocket, body: &Bytes) -> u32 {
        let mut sent = 0;
        while sent < MAX_SENDS {
            match push.try_send(numbered(sent, body)) {
                Ok(()) => sent += 1,
                Err(error) => {
                    assert_eq!(error.kind, SendErrorKind::WouldBlock);
                    match compio::time::timeout(STALL, push.send(error.message)).await {
                        Ok(result) => {
                            result.unwrap();
                            sent += 1;
                        }
                        Err(_) => break,
                    }
                }
            }
        }
        sent
    }

    /// Receives `count` messages, which must be numbered 0 to `count - 1` in order.
    async fn receive_all(pull: &PullSocket, count: u32) {
        for i in 0..count {
            let message = within("the next queued message", pull.recv())
                .await
                .unwrap();
            assert_eq!(read_num(&message[0]), i, "lost or reordered");
        }
    }

    /// libzmq's `count_msg` check after receiving everything: one more message can be sent, and it
    /// is the only one left.
    async fn one_more(push: &PushSocket, pull: &PullSocket, count: u32) {
        within("one more send", push.send(numbered(count, &Bytes::new())))
            .await
            .unwrap();
        let message = within("the last message", pull.recv()).await.unwrap();
        assert_eq!(read_num(&message[0]), count);
        assert_eq!(pull.try_recv().unwrap_err(), RecvError::WouldBlock);
    }

    /// `count_msg` with `CONNECT_FIRST`, over TCP: the PUSH connects to an endpoint where nothing
    /// listens yet, sends until it would block (exact: its own HWM), then the PULL binds there and
    /// receives every message.
    async fn count_connect_first(send_hwm: usize, recv_hwm: usize) -> u32 {
        let endpoint = unused_tcp_endpoint();
        let push = PushSocket::with_options(options(send_hwm, recv_hwm)).unwrap();
        push.connect(&endpoint).unwrap();
        let count = send_until_blocked(&push, &Bytes::new());

        let pull = PullSocket::with_options(options(send_hwm, recv_hwm)).unwrap();
        pull.bind(&endpoint).await.unwrap();
        receive_all(&pull, count).await;
        one_more(&push, &pull, count).await;
        count
    }

    /// `count_msg` with `BIND_FIRST`, over TCP: the PULL binds, the PUSH connects, and once
    /// connected sends until it stays blocked; the PULL then receives every message.
    async fn count_bind_first(send_hwm: usize, recv_hwm: usize, body: &Bytes) -> u32 {
        let pull = PullSocket::with_options(options(send_hwm, recv_hwm)).unwrap();
        let endpoint = pull.bind("tcp://127.0.0.1:0").await.unwrap().to_string();
        let push = PushSocket::with_options(options(send_hwm, recv_hwm)).unwrap();
        push.connect(&endpoint).unwrap();
        wait_until("connected", || {
            push.connected_peers() == 1 && pull.connected_peers() == 1
        })
        .await;
        let count = send_until_stalled(&push, body).await;
        receive_all(&pull, count).await;
        one_more(&push, &pull, count).await;
        count
    }

    /// `test_defaults`: with the default HWMs (1000 each) libzmq counts 2000 over inproc. Before a
    /// connection exists, only the PUSH's 1000 can be queued, exactly.
    #[compio::test]
    async fn defaults_connect_first() {
        let push = PushSocket::new();
        assert_eq!(push.options().send_hwm_value(), 1000);
        assert_eq!(push.options().recv_hwm_value(), 1000);
        assert_eq!(count_connect_first(1000, 1000).await, 1000);
    }

    /// `test_defaults`, connected: at least both default HWMs (2000), plus the bounded slack of the
    /// buffers between them.
    #[compio::test]
    async fn defaults_bind_first() {
        let count = count_bind_first(1000, 1000, &Bytes::from(vec![0u8; BODY])).await;
        assert!(
            (2000..=2000 + SLACK).contains(&count),
            "{count} messages queued"
        );
    }

    /// `test_infinite_both_inproc_connect_first`: no limit on either side; every one of the
    /// `MAX_SENDS` is taken.
    #[compio::test]
    async fn infinite_both_connect_first() {
        assert_eq!(count_connect_first(0, 0).await, MAX_SENDS);
    }

    /// `test_infinite_both_inproc_bind_first`.
    #[compio::test]
    async fn infinite_both_bind_first() {
        assert_eq!(count_bind_first(0, 0, &Bytes::new()).await, MAX_SENDS);
    }

    /// `test_infinite_receive_inproc_connect_first`: send HWM 1, no receive limit. libzmq counts
    /// `MAX_SENDS` because inproc joins the two queues; before a connection exists the PUSH's own
    /// queue holds exactly one.
    #[compio::test]
    async fn infinite_receive_connect_first() {
        assert_eq!(count_connect_first(1, 0).await, 1);
    }

    /// `test_infinite_receive_inproc_bind_first`: once connected, a PULL without limit takes
    /// everything, so every one of the `MAX_SENDS` goes out.
    #[compio::test]
    async fn infinite_receive_bind_first() {
        assert_eq!(count_bind_first(1, 0, &Bytes::new()).await, MAX_SENDS);
    }

    /// `test_infinite_send_inproc_connect_first`: no send limit, receive HWM 1.
    #[compio::test]
    async fn infinite_send_connect_first() {
        assert_eq!(count_connect_first(0, 1).await, MAX_SENDS);
    }

    /// `test_infinite_send_inproc_bind_first`.
    #[compio::test]
    async fn infinite_send_bind_first() {
        assert_eq!(count_bind_first(0, 1, &Bytes::new()).await, MAX_SENDS);
    }

    /// `test_finite_both_connect_first`: HWM 1 on both sides; libzmq counts 2 over inproc, and
    /// before a connection exists the PUSH holds exactly 1.
    #[compio::test]
    async fn finite_both_connect_first() {
        assert_eq!(count_connect_first(1, 1).await, 1);
    }

    /// `test_finite_both_bind_first`: HWM 1 on both sides, connected: at least 2, plus the bounded
    /// slack of the buffers between the queues.
    #[compio::test]
    async fn finite_both_bind_first() {
        let count = count_bind_first(1, 1, &Bytes::from(vec![0u8; BODY])).await;
        assert!((2..=2 + SLACK).contains(&count), "{count} messages queued");
    }

    /// `test_infinite_recv_connect_and_close_first`: a connecting PUSH with HWM 1 queues exactly
    /// one message, is closed before anything listens, and the PULL that binds afterwards still
    /// gets it. (With TCP, `close` waits for the connection to deliver, as with libzmq's default
    /// linger.)
    #[compio::test]
    async fn infinite_recv_connect_and_close_first() {
        let endpoint = unused_tcp_endpoint();
        let push = PushSocket::with_options(options(1, 0)).unwrap();
        push.connect(&endpoint).unwrap();
        let count = send_until_blocked(&push, &Bytes::new());
        assert_eq!(count, 1);
        let closing = compio::runtime::spawn(push.close());

        let pull = PullSocket::with_options(options(1, 0)).unwrap();
        pull.bind(&endpoint).await.unwrap();
        receive_all(&pull, count).await;
        within("close completes once delivered", closing)
            .await
            .unwrap();
        assert_eq!(pull.try_recv().unwrap_err(), RecvError::WouldBlock);
    }

    /// `test_infinite_recv_bind_and_close_first`: a bound PUSH with HWM 1 and no peer yet. libzmq
    /// notes that it expected one queued message but "all messages get thrown away before the
    /// connect. BUG?"; monocoque does the same on purpose: a bound socket has no queue for a peer
    /// that does not exist, so not even one message is taken.
    #[compio::test]
    async fn infinite_recv_bind_and_close_first() {
        let push = PushSocket::with_options(options(1, 0)).unwrap();
        push.bind("tcp://127.0.0.1:0").await.unwrap();
        assert_eq!(send_until_blocked(&push, &Bytes::new()), 0);
    }
}
