//! monocoque's protocol core against libzmq 4.3 over Unix domain sockets (`ipc://`), each side
//! binding in turn.

use bytes::Bytes;
use monocoque_core::Message;
use monocoque_interop_tests::{Binder, Error, IpcPath, establish_ipc, libzmq_socket, start_ipc};
use monocoque_zmtp::proto::{HandshakeConfig, ProtocolError, SocketType, Version};

fn frames(message: &Message) -> Vec<Vec<u8>> {
    message.iter().map(|frame| frame.to_vec()).collect()
}

/// PUSH to PULL over IPC in both directions: multipart, empty frames and a 1 MiB frame.
#[test]
fn ipc_push_pull_both_directions() {
    let large = Bytes::from(
        (0..1024 * 1024)
            .map(|i| (i % 253) as u8)
            .collect::<Vec<_>>(),
    );
    let messages = [
        Message::from("one"),
        Message::from_iter(["", "two", ""]),
        Message::from_iter([Bytes::from("big"), large]),
    ];
    for binder in Binder::BOTH {
        // Declared before the context, so the file is removed after libzmq let go of it.
        let path = IpcPath::new();
        let ctx = zmq::Context::new();
        let pull = libzmq_socket(&ctx, SocketType::Pull).expect("socket");
        let (mut push, info) =
            establish_ipc(&pull, HandshakeConfig::new(SocketType::Push), binder, &path)
                .expect("handshake");
        assert_eq!(info.socket_type, SocketType::Pull);
        assert_eq!(info.version, Version::V3_1);
        for message in &messages {
            push.send(message).expect("send");
        }
        for message in &messages {
            assert!(
                pull.recv_multipart(0).expect("libzmq recv") == frames(message),
                "{binder:?}"
            );
        }

        let path = IpcPath::new();
        let push = libzmq_socket(&ctx, SocketType::Push).expect("socket");
        let (mut pull, info) =
            establish_ipc(&push, HandshakeConfig::new(SocketType::Pull), binder, &path)
                .expect("handshake");
        assert_eq!(info.socket_type, SocketType::Push);
        for message in &messages {
            push.send_multipart(frames(message), 0)
                .expect("libzmq send");
        }
        for message in &messages {
            assert!(pull.recv_message().expect("recv") == *message, "{binder:?}");
        }
    }
}

/// DEALER and ROUTER over IPC, each library on each side: the identity crosses in the handshake
/// and messages cross both ways.
#[test]
fn ipc_dealer_router() {
    for binder in Binder::BOTH {
        let path = IpcPath::new();
        let ctx = zmq::Context::new();

        // libzmq ROUTER, our DEALER.
        let router = libzmq_socket(&ctx, SocketType::Router).expect("socket");
        router.set_identity(b"ipc-router").expect("routing id");
        let config = HandshakeConfig::new(SocketType::Dealer).identity("ipc-dealer");
        let (mut dealer, info) = establish_ipc(&router, config, binder, &path).expect("handshake");
        assert_eq!(info.socket_type, SocketType::Router);
        assert_eq!(info.identity.as_deref(), Some(&b"ipc-router"[..]));
        dealer
            .send(&Message::from_iter(["", "over ipc"]))
            .expect("send");
        assert_eq!(
            router.recv_multipart(0).expect("libzmq recv"),
            [b"ipc-dealer".to_vec(), Vec::new(), b"over ipc".to_vec()],
            "{binder:?}"
        );
        router
            .send_multipart(["ipc-dealer", "", "back"], 0)
            .expect("libzmq send");
        assert_eq!(
            dealer.recv_message().expect("recv"),
            Message::from_iter(["", "back"])
        );

        // libzmq DEALER, our ROUTER.
        let path = IpcPath::new();
        let theirs = libzmq_socket(&ctx, SocketType::Dealer).expect("socket");
        theirs.set_identity(b"their-dealer").expect("routing id");
        let (mut ours, info) = establish_ipc(
            &theirs,
            HandshakeConfig::new(SocketType::Router),
            binder,
            &path,
        )
        .expect("handshake");
        assert_eq!(info.identity.as_deref(), Some(&b"their-dealer"[..]));
        theirs.send("ping over ipc", 0).expect("libzmq send");
        assert_eq!(
            ours.recv_message().expect("recv"),
            Message::from("ping over ipc")
        );
        ours.send(&Message::from("pong over ipc")).expect("send");
        assert_eq!(theirs.recv_bytes(0).expect("libzmq recv"), b"pong over ipc");
    }
}

/// An incompatible pairing is refused over IPC as over TCP.
#[test]
fn ipc_incompatible_pairing_is_refused() {
    for binder in Binder::BOTH {
        let path = IpcPath::new();
        let ctx = zmq::Context::new();
        let theirs = libzmq_socket(&ctx, SocketType::Pull).expect("socket");
        let mut ours = start_ipc(
            &theirs,
            HandshakeConfig::new(SocketType::Pub),
            binder,
            &path,
        )
        .expect("connect");
        match ours.handshake() {
            Err(Error::Protocol(ProtocolError::IncompatibleSocketType { local, peer })) => {
                assert_eq!((local, peer), (SocketType::Pub, SocketType::Pull));
            }
            other => panic!("{binder:?}: expected IncompatibleSocketType, got {other:?}"),
        }
        ours.expect_closed().expect("libzmq closes");
    }
}

/// IPC paths are unique, live under the temporary directory and are removed on drop.
#[test]
fn ipc_paths_are_unique_and_cleaned_up() {
    let a = IpcPath::new();
    let b = IpcPath::new();
    assert_ne!(a.path(), b.path());
    assert!(a.path().starts_with(std::env::temp_dir()));
    assert!(a.endpoint().starts_with("ipc:///"));
    let listener = a.listen().expect("listen");
    let file = a.path().to_owned();
    assert!(file.exists());
    drop(listener);
    drop(a);
    assert!(!file.exists());
}
