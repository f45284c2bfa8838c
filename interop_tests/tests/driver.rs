//! The blocking driver itself, without libzmq: two monocoque peers over a Unix socket pair, and
//! the bounded waits the interop tests rely on.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

use monocoque_core::Message;
use monocoque_interop_tests::{Error, ProtoPeer, accept_tcp_within, listen_tcp};
use monocoque_zmtp::proto::{Command, HandshakeConfig, SocketType};

/// A DEALER pair of monocoque peers over `UnixStream::pair`, the far one handshaken in a thread.
fn dealer_pair() -> (ProtoPeer<UnixStream>, ProtoPeer<UnixStream>) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    let far = thread::spawn(move || {
        ProtoPeer::establish(b, HandshakeConfig::new(SocketType::Dealer)).map(|(peer, _)| peer)
    });
    let (near, info) =
        ProtoPeer::establish(a, HandshakeConfig::new(SocketType::Dealer).identity("near"))
            .expect("near handshake");
    assert_eq!(info.socket_type, SocketType::Dealer);
    let far = far.join().expect("thread").expect("far handshake");
    assert_eq!(
        far.peer().and_then(|p| p.identity.as_deref()),
        Some(&b"near"[..])
    );
    (near, far)
}

/// A receive that times out in the middle of a message loses nothing: the rest completes it.
#[test]
fn a_timeout_mid_message_loses_nothing() {
    let (near, mut far) = dealer_pair();
    let mut raw = near.into_stream();
    // First frame of two ("a", MORE) and half of the second frame's header.
    raw.write_all(b"\x01\x01a\x00").expect("write");
    match far.recv_within(Duration::from_millis(50)) {
        Err(Error::Timeout(_)) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    raw.write_all(b"\x02bc").expect("write");
    assert_eq!(
        far.recv_message().expect("recv"),
        Message::from_iter(["a", "bc"])
    );
}

/// Commands and messages keep their order, and the typed receives reject the other kind.
#[test]
fn typed_receives_reject_the_other_kind() {
    let (mut near, mut far) = dealer_pair();
    near.send_command(&Command::Pong("x".into())).expect("send");
    near.send(&Message::from("m")).expect("send");
    assert!(matches!(far.recv_message(), Err(Error::Unexpected(_))));
    assert!(matches!(far.recv_command(), Err(Error::Unexpected(_))));
}

/// The peer closing is reported as a disconnect, not a timeout.
#[test]
fn a_close_is_a_disconnect() {
    let (near, mut far) = dealer_pair();
    drop(near);
    let error = far.recv().expect_err("closed");
    assert!(error.is_disconnect(), "{error:?}");
    assert_eq!(far.expect_closed().expect("closed"), 0);
}

/// Accepting gives up at its deadline instead of blocking forever.
#[test]
fn accept_times_out() {
    let (listener, endpoint) = listen_tcp().expect("listen");
    assert!(endpoint.starts_with("tcp://127.0.0.1:"));
    let start = Instant::now();
    match accept_tcp_within(&listener, Duration::from_millis(100)) {
        Err(Error::Timeout(_)) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(start.elapsed() >= Duration::from_millis(100));
}
