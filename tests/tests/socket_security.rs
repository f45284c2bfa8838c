//! PLAIN between monocoque sockets: the authenticator's decisions reach both monitors, nothing
//! from a refused client is delivered, and a mechanism mismatch is named.

mod common;

use std::time::Duration;

use common::{TCP_ANY, within};
use monocoque::proto::{AuthDecision, AuthRequest, MechanismName, ProtocolError};
use monocoque::{Message, Monitor, MonitorEventKind, PullSocket, PushSocket, SocketOptions};

fn server() -> SocketOptions {
    SocketOptions::new()
        .plain_server(true)
        .authenticator(
            |request: &AuthRequest<'_>| match (request.username, request.password) {
                (Some(b"admin"), Some(b"secret")) => AuthDecision::Allow {
                    user_id: "admin".into(),
                },
                _ => AuthDecision::Deny { status: 400 },
            },
        )
}

fn client(password: &str) -> SocketOptions {
    SocketOptions::new()
        .plain_username("admin")
        .plain_password(password.to_owned())
}

/// The first handshake outcome on `monitor`, within the tests' bound.
async fn outcome(monitor: &Monitor) -> MonitorEventKind {
    within("a handshake outcome", async {
        loop {
            let event = monitor.recv().await.expect("the monitor");
            if matches!(
                event.kind,
                MonitorEventKind::HandshakeSucceeded
                    | MonitorEventKind::HandshakeFailedAuth { .. }
                    | MonitorEventKind::HandshakeFailedProtocol { .. }
            ) {
                return event.kind;
            }
        }
    })
    .await
}

#[compio::test]
async fn the_right_password_gets_in() {
    let pull = PullSocket::with_options(server()).unwrap();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let push = PushSocket::with_options(client("secret")).unwrap();
    push.connect(&endpoint).unwrap();
    push.send("hello").await.unwrap();
    assert_eq!(
        within("the message", pull.recv()).await.unwrap(),
        Message::from("hello")
    );
}

#[compio::test]
async fn a_wrong_password_is_refused_on_both_monitors_and_delivers_nothing() {
    let pull = PullSocket::with_options(server()).unwrap();
    let server_events = pull.monitor();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let push = PushSocket::with_options(client("guess")).unwrap();
    let client_events = push.monitor();
    push.connect(&endpoint).unwrap();
    push.send("must not arrive").await.unwrap();
    assert_eq!(
        outcome(&server_events).await,
        MonitorEventKind::HandshakeFailedAuth { status: 400 }
    );
    assert_eq!(
        outcome(&client_events).await,
        MonitorEventKind::HandshakeFailedAuth { status: 400 }
    );
    let waited = compio::time::timeout(Duration::from_millis(200), pull.recv()).await;
    assert!(waited.is_err(), "a refused client's message arrived");
}

#[compio::test]
async fn a_server_without_an_authenticator_refuses_everyone() {
    let pull = PullSocket::with_options(SocketOptions::new().plain_server(true)).unwrap();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let push = PushSocket::with_options(client("secret")).unwrap();
    let events = push.monitor();
    push.connect(&endpoint).unwrap();
    assert_eq!(
        outcome(&events).await,
        MonitorEventKind::HandshakeFailedAuth { status: 500 }
    );
}

/// The server names the mismatch: it always reads the whole of our client's greeting. The
/// client may learn it too, or see the server close first (as it would with libzmq).
#[compio::test]
async fn a_null_client_against_a_plain_server_is_told_the_mismatch() {
    let pull = PullSocket::with_options(server()).unwrap();
    let events = pull.monitor();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let push = PushSocket::new();
    push.connect(&endpoint).unwrap();
    assert_eq!(
        outcome(&events).await,
        MonitorEventKind::HandshakeFailedProtocol {
            error: ProtocolError::MechanismMismatch {
                local: MechanismName::PLAIN,
                peer: MechanismName::NULL
            }
        }
    );
}
