//! Endpoints of monocoque sockets: bind, unbind, connect and disconnect on TCP and IPC, many
//! endpoints on one socket, and the errors of bad endpoints.

mod common;

use std::collections::HashSet;
use std::io::ErrorKind;

use common::{IpcPath, TCP_ANY, num, read_num, wait_until, within};
use monocoque::{Endpoint, EndpointError, Error, Message, PullSocket, PushSocket};

#[compio::test]
async fn bind_reports_the_real_port_and_last_endpoint() {
    let pull = PullSocket::new();
    assert_eq!(pull.last_endpoint(), None);
    let bound = pull.bind(TCP_ANY).await.unwrap();
    let port = bound.port().expect("a real port, not 0");
    assert_ne!(port, 0);
    assert_eq!(bound.to_string(), format!("tcp://127.0.0.1:{port}"));
    assert_eq!(pull.last_endpoint(), Some(bound));

    let path = IpcPath::new("last-endpoint");
    let ipc = pull.bind(&path.endpoint()).await.unwrap();
    assert_eq!(ipc.to_string(), path.endpoint());
    assert_eq!(pull.last_endpoint(), Some(ipc));

    let push = PushSocket::new();
    push.connect(&path.endpoint()).unwrap();
    assert_eq!(
        push.last_endpoint(),
        Some(path.endpoint().parse::<Endpoint>().unwrap())
    );
}

#[compio::test]
async fn unbind_stops_accepting_and_closes_accepted_connections() {
    let pull = PullSocket::new();
    let bound = pull.bind(TCP_ANY).await.unwrap();
    let endpoint = bound.to_string();
    let push = PushSocket::new();
    push.connect(&endpoint).unwrap();
    within("send", push.send("one")).await.unwrap();
    assert_eq!(
        within("recv", pull.recv()).await.unwrap(),
        Message::from("one")
    );

    pull.unbind(&endpoint).unwrap();
    wait_until("the accepted connection is closed", || {
        pull.connected_peers() == 0 && push.connected_peers() == 0
    })
    .await;
    // Nothing listens on the port any more.
    let refused = std::net::TcpStream::connect(bound.socket_addr().unwrap()).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    // Unbinding again is an error.
    assert!(matches!(pull.unbind(&endpoint), Err(Error::NotBound(_))));
}

#[compio::test]
async fn unbind_by_the_requested_ipc_endpoint() {
    let path = IpcPath::new("unbind");
    let pull = PullSocket::new();
    pull.bind(&path.endpoint()).await.unwrap();
    let push = PushSocket::new();
    push.connect(&path.endpoint()).unwrap();
    within("send", push.send("one")).await.unwrap();
    within("recv", pull.recv()).await.unwrap();
    pull.unbind(&path.endpoint()).unwrap();
    wait_until("the accepted connection is closed", || {
        pull.connected_peers() == 0 && push.connected_peers() == 0
    })
    .await;
    let path_name = path.endpoint().trim_start_matches("ipc://").to_owned();
    let refused = std::os::unix::net::UnixStream::connect(&path_name).unwrap_err();
    assert!(
        matches!(
            refused.kind(),
            ErrorKind::NotFound | ErrorKind::ConnectionRefused
        ),
        "{refused:?}"
    );
}

#[compio::test]
async fn disconnect_stops_a_connection() {
    let (pull_a, pull_b) = (PullSocket::new(), PullSocket::new());
    let endpoint_a = pull_a.bind(TCP_ANY).await.unwrap().to_string();
    let endpoint_b = pull_b.bind(TCP_ANY).await.unwrap().to_string();
    let push = PushSocket::new();
    push.connect(&endpoint_a).unwrap();
    push.connect(&endpoint_b).unwrap();
    // Both ends of both connections are up (a PULL may finish its side of the handshake after
    // the PUSH has finished its own).
    wait_until("every handshake is done", || {
        push.connected_peers() == 2 && pull_a.connected_peers() == 1
    })
    .await;

    push.disconnect(&endpoint_a).unwrap();
    // Dropping the connection's task may wait for the runtime's next turn.
    wait_until("both ends see the disconnection", || {
        pull_a.connected_peers() == 0 && push.connected_peers() == 1
    })
    .await;
    // Everything now goes to the other PULL: all ten, in order.
    for i in 0..10 {
        within("send", push.send(Message::single(num(i))))
            .await
            .unwrap();
    }
    for i in 0..10 {
        let message = within("recv", pull_b.recv()).await.unwrap();
        assert_eq!(read_num(&message[0]), i);
    }
    assert!(pull_a.try_recv().is_err());
    assert!(matches!(
        push.disconnect(&endpoint_a),
        Err(Error::NotConnected(_))
    ));
}

#[compio::test]
async fn one_socket_binds_tcp_and_ipc_endpoints_and_receives_on_each() {
    let path = IpcPath::new("many-binds");
    let pull = PullSocket::new();
    let endpoints = [
        pull.bind(TCP_ANY).await.unwrap().to_string(),
        pull.bind(TCP_ANY).await.unwrap().to_string(),
        pull.bind(&path.endpoint()).await.unwrap().to_string(),
    ];
    assert_eq!(
        endpoints.iter().collect::<HashSet<_>>().len(),
        3,
        "{endpoints:?}"
    );
    let pushes: Vec<PushSocket> = endpoints
        .iter()
        .map(|endpoint| {
            let push = PushSocket::new();
            push.connect(endpoint).unwrap();
            push
        })
        .collect();
    for (i, push) in (0u32..).zip(&pushes) {
        within("send", push.send(Message::single(num(i))))
            .await
            .unwrap();
    }
    let mut senders = HashSet::new();
    for _ in 0..pushes.len() {
        let message = within("recv", pull.recv()).await.unwrap();
        senders.insert(read_num(&message[0]));
    }
    assert_eq!(senders, HashSet::from([0, 1, 2]));
    assert_eq!(pull.connected_peers(), 3);
}

#[compio::test]
async fn one_socket_connects_to_several_endpoints() {
    let path = IpcPath::new("many-connects");
    let pushes = [PushSocket::new(), PushSocket::new(), PushSocket::new()];
    let endpoints = [
        pushes[0].bind(TCP_ANY).await.unwrap().to_string(),
        pushes[1].bind(TCP_ANY).await.unwrap().to_string(),
        pushes[2].bind(&path.endpoint()).await.unwrap().to_string(),
    ];
    let pull = PullSocket::new();
    for endpoint in &endpoints {
        pull.connect(endpoint).unwrap();
    }
    for seq in 0..5 {
        for (sender, push) in (0u32..).zip(&pushes) {
            within(
                "send",
                push.send(Message::from_iter([num(sender), num(seq)])),
            )
            .await
            .unwrap();
        }
    }
    let mut next = [0u32; 3];
    for _ in 0..15 {
        let message = within("recv", pull.recv()).await.unwrap();
        let sender = read_num(&message[0]) as usize;
        assert_eq!(read_num(&message[1]), next[sender]);
        next[sender] += 1;
    }
    assert_eq!(next, [5, 5, 5]);
    assert_eq!(pull.connected_peers(), 3);
}

#[compio::test]
async fn bad_endpoints_give_typed_errors() {
    let pull = PullSocket::new();
    let endpoint_error = |result: Result<Endpoint, Error>| match result {
        Err(Error::Endpoint(error)) => error,
        other => panic!("expected an endpoint error, got {other:?}"),
    };
    assert!(matches!(
        endpoint_error(pull.bind("tcp://127.0.0.1").await),
        EndpointError::MissingPort { .. }
    ));
    assert_eq!(
        endpoint_error(pull.bind("udp://x:1").await),
        EndpointError::UnsupportedTransport {
            transport: "udp".into()
        }
    );
    assert_eq!(
        endpoint_error(pull.bind("ipc://").await),
        EndpointError::EmptyIpcPath
    );
    assert!(matches!(
        endpoint_error(pull.bind("carrier-pigeon://coop:1").await),
        EndpointError::UnknownTransport { .. }
    ));
    assert!(matches!(
        endpoint_error(pull.bind("127.0.0.1:5555").await),
        EndpointError::MissingSeparator { .. }
    ));
    assert!(matches!(
        endpoint_error(pull.bind("tcp://127.0.0.1:99999").await),
        EndpointError::InvalidPort { .. }
    ));
    // connect checks the endpoint at once too, and unbind and disconnect as well.
    for bad in ["tcp://127.0.0.1", "udp://x:1", "ipc://"] {
        assert!(
            matches!(pull.connect(bad), Err(Error::Endpoint(_))),
            "connect {bad}"
        );
        assert!(matches!(pull.unbind(bad), Err(Error::Endpoint(_))));
        assert!(matches!(pull.disconnect(bad), Err(Error::Endpoint(_))));
    }
    assert_eq!(pull.last_endpoint(), None);
    assert_eq!(pull.connected_peers(), 0);
}

#[compio::test]
async fn binding_a_port_in_use_fails() {
    let first = PullSocket::new();
    let bound = first.bind(TCP_ANY).await.unwrap();
    let second = PullSocket::new();
    match second.bind(&bound.to_string()).await {
        Err(Error::Bind { endpoint, source }) => {
            assert_eq!(endpoint, bound.to_string());
            assert_eq!(source.kind(), ErrorKind::AddrInUse);
        }
        other => panic!("expected a bind error, got {other:?}"),
    }
    // The failed bind left the socket usable.
    let other = second.bind(TCP_ANY).await.unwrap();
    let push = PushSocket::new();
    push.connect(&other.to_string()).unwrap();
    within("send", push.send("ok")).await.unwrap();
    assert_eq!(
        within("recv", second.recv()).await.unwrap(),
        Message::from("ok")
    );
}

/// Outside a compio runtime, `connect` and `bind` say what is wrong instead of panicking in the
/// runtime.
#[test]
fn connecting_outside_a_runtime_is_a_typed_error() {
    let push = PushSocket::new();
    let error = push.connect("tcp://127.0.0.1:5555").unwrap_err();
    assert!(matches!(error, Error::NoRuntime), "{error}");
    assert!(error.to_string().contains("compio runtime"));
    // Polled once on a thread with no runtime, `bind` fails at once.
    let mut bind = std::pin::pin!(push.bind("tcp://127.0.0.1:0"));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(matches!(
        bind.as_mut().poll(&mut cx),
        std::task::Poll::Ready(Err(Error::NoRuntime))
    ));
}
