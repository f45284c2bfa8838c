//! A ZAP handler bound at `inproc://zeromq.zap.01` answers for PLAIN and CURVE servers that have
//! no authenticator of their own, as libzmq's do (RFC 27). One test: the handler is the
//! process's, and would answer for the other tests of this binary too.

mod common;

use std::time::Duration;

use common::{TCP_ANY, within};
use monocoque::curve::CurveKeyPair;
use monocoque::{
    Message, Monitor, MonitorEventKind, PullSocket, PushSocket, RepSocket, SocketOptions,
    ZAP_ENDPOINT,
};

/// Answers ZAP requests: PLAIN `admin`/`secret` and the CURVE key `allowed` get in (as `admin`
/// and `sensor`); a request for domain `slow` is never answered; the rest is refused with 400.
/// Returns the requests it saw, as [version, mechanism, first credential].
async fn serve_zap(
    handler: RepSocket,
    allowed: Vec<u8>,
    seen: std::rc::Rc<std::cell::RefCell<Vec<Vec<Vec<u8>>>>>,
) {
    while let Ok(request) = handler.recv().await {
        let frames: Vec<Vec<u8>> = request.frames().iter().map(|f| f.to_vec()).collect();
        seen.borrow_mut().push(frames.clone());
        // version, request id, domain, address, identity, mechanism, credentials...
        let (id, domain, mechanism) = (frames[1].clone(), frames[2].clone(), frames[5].clone());
        if domain == b"slow" {
            continue;
        }
        let (status, user) = match (&mechanism[..], &frames[6..]) {
            (b"PLAIN", [user, password]) if user == b"admin" && password == b"secret" => {
                ("200", "admin")
            }
            (b"CURVE", [key]) if *key == allowed => ("200", "sensor"),
            _ => ("400", ""),
        };
        let reply = Message::from_iter([
            b"1.0".to_vec(),
            id,
            status.as_bytes().to_vec(),
            b"text".to_vec(),
            user.as_bytes().to_vec(),
            Vec::new(),
        ]);
        if handler.send(reply).await.is_err() {
            return;
        }
    }
}

async fn outcome(monitor: &Monitor) -> MonitorEventKind {
    within("a handshake outcome", async {
        loop {
            let event = monitor.recv().await.expect("the monitor");
            if matches!(
                event.kind,
                MonitorEventKind::HandshakeSucceeded
                    | MonitorEventKind::HandshakeFailedAuth { .. }
                    | MonitorEventKind::HandshakeFailedProtocol { .. }
                    | MonitorEventKind::Disconnected { .. }
            ) {
                return event.kind;
            }
        }
    })
    .await
}

#[compio::test]
async fn a_zap_handler_on_the_inproc_endpoint_decides_for_servers_without_an_authenticator() {
    let server_keys = CurveKeyPair::generate();
    let (sensor, stranger) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let handler = RepSocket::new();
    handler.bind(ZAP_ENDPOINT).await.unwrap();
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let _zap = compio::runtime::spawn(serve_zap(
        handler,
        sensor.public.as_bytes().to_vec(),
        seen.clone(),
    ));

    // PLAIN: the right password gets in with the handler's user id; a wrong one gets its 400.
    let pull =
        PullSocket::with_options(SocketOptions::new().plain_server(true).zap_domain("global"))
            .unwrap();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let admin = PushSocket::with_options(
        SocketOptions::new()
            .plain_username("admin")
            .plain_password("secret"),
    )
    .unwrap();
    admin.connect(&endpoint).unwrap();
    admin.send("as admin").await.unwrap();
    assert_eq!(
        within("PLAIN allowed", pull.recv()).await.unwrap(),
        Message::from("as admin")
    );
    assert_eq!(
        pull.peers()[0].user_id().map(|u| &u[..]),
        Some(&b"admin"[..])
    );
    let guess = PushSocket::with_options(
        SocketOptions::new()
            .plain_username("admin")
            .plain_password("guess"),
    )
    .unwrap();
    let guess_events = guess.monitor();
    guess.connect(&endpoint).unwrap();
    assert_eq!(
        outcome(&guess_events).await,
        MonitorEventKind::HandshakeFailedAuth { status: 400 }
    );
    {
        let seen = seen.borrow();
        let first = &seen[0];
        assert_eq!(first[0], b"1.0");
        assert_eq!(first[2], b"global");
        assert_eq!(first[3], b"127.0.0.1");
        assert_eq!(
            &first[5..],
            [b"PLAIN".to_vec(), b"admin".to_vec(), b"secret".to_vec()]
        );
    }

    // CURVE: the handler's allow-list of keys.
    let curve = PullSocket::with_options(
        SocketOptions::new()
            .curve_server(true)
            .curve_keypair(&server_keys),
    )
    .unwrap();
    let curve_endpoint = curve.bind(TCP_ANY).await.unwrap().to_string();
    let client = |keys: &CurveKeyPair| {
        PushSocket::with_options(
            SocketOptions::new()
                .curve_server_key(server_keys.public)
                .curve_keypair(keys),
        )
        .unwrap()
    };
    let good = client(&sensor);
    good.connect(&curve_endpoint).unwrap();
    good.send("reading").await.unwrap();
    assert_eq!(
        within("CURVE allowed", curve.recv()).await.unwrap(),
        Message::from("reading")
    );
    assert_eq!(
        curve.peers()[0].user_id().map(|u| &u[..]),
        Some(&b"sensor"[..])
    );
    let bad = client(&stranger);
    let bad_events = bad.monitor();
    bad.connect(&curve_endpoint).unwrap();
    bad.send("must not arrive").await.unwrap();
    assert_eq!(
        outcome(&bad_events).await,
        MonitorEventKind::HandshakeFailedAuth { status: 400 }
    );
    let waited = compio::time::timeout(Duration::from_millis(200), curve.recv()).await;
    assert!(waited.is_err(), "a refused client's message arrived");

    // A handler that never answers: the handshake times out; the server reads nothing meanwhile.
    let slow = PullSocket::with_options(
        SocketOptions::new()
            .plain_server(true)
            .zap_domain("slow")
            .handshake_timeout(Some(Duration::from_millis(300))),
    )
    .unwrap();
    let slow_events = slow.monitor();
    let slow_endpoint = slow.bind(TCP_ANY).await.unwrap().to_string();
    let waiting = PushSocket::with_options(
        SocketOptions::new()
            .plain_username("admin")
            .plain_password("secret"),
    )
    .unwrap();
    waiting.connect(&slow_endpoint).unwrap();
    assert!(matches!(
        outcome(&slow_events).await,
        MonitorEventKind::Disconnected { .. } | MonitorEventKind::HandshakeFailedProtocol { .. }
    ));
}
