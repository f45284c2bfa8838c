//! Incompatible pairings between a monocoque socket and a libzmq socket are refused at the
//! handshake by both sides: the TCP or IPC connection is made (libzmq's monitor reports it
//! accepted or connected), then dropped (`DISCONNECTED`) without libzmq ever reporting
//! `HANDSHAKE_SUCCEEDED`; monocoque's `connected_peers()` stays 0 throughout; and nothing offered
//! for sending on either side ever arrives on the other.

mod sockets_common;

use std::fmt;
use std::time::{Duration, Instant};

use monocoque::{Message, RecvError, SendErrorKind, SocketType};
use monocoque_interop_tests::IpcPath;
use sockets_common::{
    AsyncMonitor, Opts, POLL, Peer, Pump, Transport, WAIT, ZmqEvent, pause, run_cases,
    zmq_try_recv, zmq_try_send,
};
use zmq::SocketEvent;

/// (monocoque, libzmq): pairs where a message could cross if the handshake let it (one side
/// sends, the other receives), plus the pairing named in the issue (PUSH against PUB).
const INCOMPATIBLE: [(SocketType, SocketType); 9] = [
    (SocketType::Push, SocketType::Pub),
    (SocketType::Push, SocketType::Sub),
    (SocketType::Pull, SocketType::Dealer),
    (SocketType::Sub, SocketType::Push),
    (SocketType::Xsub, SocketType::Push),
    (SocketType::Pair, SocketType::Dealer),
    (SocketType::Dealer, SocketType::Pull),
    (SocketType::Req, SocketType::Req),
    (SocketType::Router, SocketType::Pair),
];

/// After the first refusal, how long both sides are still watched: a connecting side may retry
/// (both libraries give up on a peer that broke the protocol, but may see a refusal as a mere
/// disconnection when the other side closed first), and nothing may cross then either. Three
/// times either library's default reconnection interval (100 ms).
const AFTERMATH: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, Copy)]
struct Refusal {
    mono: SocketType,
    zmq: SocketType,
    mono_binds: bool,
    transport: Transport,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mono, zmq) = if self.mono_binds {
            ("binds", "connects")
        } else {
            ("connects", "binds")
        };
        write!(
            f,
            "monocoque {} {mono}, libzmq {} {zmq}, over {}",
            self.mono, self.zmq, self.transport
        )
    }
}

/// Whether the libzmq socket type can take a message from `zmq_try_send` with no further ado.
fn zmq_sends(socket_type: SocketType) -> bool {
    matches!(
        socket_type,
        SocketType::Pub
            | SocketType::Push
            | SocketType::Dealer
            | SocketType::Pair
            | SocketType::Req
    )
}

/// Whether the libzmq socket type can be asked for a message without first sending one.
fn zmq_receives(socket_type: SocketType) -> bool {
    matches!(
        socket_type,
        SocketType::Sub
            | SocketType::Pull
            | SocketType::Dealer
            | SocketType::Pair
            | SocketType::Xsub
    )
}

async fn refused(case: Refusal) {
    let ctx = zmq::Context::new();
    let mono = Peer::mono(case.mono, Opts::NONE, case.to_string());
    let zmq_peer = Peer::zmq(&ctx, case.zmq, Opts::NONE, case.to_string());
    let Some(zmq) = zmq_peer.as_zmq().cloned() else {
        unreachable!("a libzmq peer");
    };
    let monitor = AsyncMonitor::new(&ctx, &zmq);
    // Subscribed to everything: a SUB on either side would take any message that crossed.
    if case.zmq == SocketType::Sub {
        zmq.set_subscribe(b"").expect("subscribe");
    }
    if case.mono == SocketType::Sub {
        mono.subscribe("").await;
    }

    let path = (case.transport == Transport::Ipc).then(IpcPath::new);
    let (binder, connector) = if case.mono_binds {
        (&mono, &zmq_peer)
    } else {
        (&zmq_peer, &mono)
    };
    let endpoint = binder.bind(case.transport, path.as_ref()).await;
    connector.connect(&endpoint);
    let _pump = Pump::start(vec![zmq.clone()]);

    let leak_from_mono = Message::from("from monocoque: must never arrive");
    let leak_from_zmq = Message::from("from libzmq: must never arrive");
    let (mut mono_sent, mut zmq_sent) = (false, false);
    let mut events: Vec<ZmqEvent> = Vec::new();
    let mut refusals = 0;
    let mut first_refusal: Option<Instant> = None;
    let deadline = Instant::now() + WAIT;
    loop {
        // Our side: no peer, ever, and nothing received.
        let peers = mono.as_mono().connected_peers();
        assert_eq!(
            peers, 0,
            "{case}: monocoque counts {peers} connected peer(s); libzmq events so far: {events:?}"
        );
        match mono.as_mono().try_recv() {
            None | Some(Err(RecvError::WouldBlock | RecvError::InvalidState)) => {}
            Some(other) => panic!("{case}: monocoque received {other:?}"),
        }
        if zmq_receives(case.zmq) {
            match zmq_try_recv(&zmq) {
                Err(zmq::Error::EAGAIN) => {}
                other => panic!("{case}: libzmq received {other:?}"),
            }
        }
        // Offer a message on each side that can send, until it is taken (queued for the
        // connection being attempted) or forever refused for want of a peer.
        if !mono_sent {
            match mono.as_mono().try_send(leak_from_mono.clone()) {
                None => mono_sent = true,
                Some(Ok(())) => mono_sent = true,
                Some(Err(error)) if error.kind == SendErrorKind::WouldBlock => {}
                Some(Err(error)) => panic!("{case}: monocoque send: {error}"),
            }
        }
        if !zmq_sent && zmq_sends(case.zmq) {
            match zmq_try_send(&zmq, &leak_from_zmq) {
                Ok(()) => zmq_sent = true,
                Err(zmq::Error::EAGAIN) => {}
                Err(error) => panic!("{case}: libzmq send: {error}"),
            }
        }

        // libzmq's verdict.
        while let Some(event) = monitor.next_within(Duration::ZERO).await {
            assert!(
                !event.is(SocketEvent::HANDSHAKE_SUCCEEDED),
                "{case}: libzmq reported a successful handshake; events: {events:?}"
            );
            if event.is(SocketEvent::DISCONNECTED) {
                refusals += 1;
                first_refusal.get_or_insert_with(Instant::now);
            }
            events.push(event);
        }

        if first_refusal.is_some_and(|at| at.elapsed() >= AFTERMATH) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{case}: libzmq did not drop the connection within {WAIT:?}; events: {}",
            names(&events)
        );
        pause(POLL).await;
    }

    // The connection itself was made: what was refused is the peer, at the handshake.
    let made = events
        .iter()
        .position(|event| event.is(SocketEvent::ACCEPTED) || event.is(SocketEvent::CONNECTED));
    let dropped = events
        .iter()
        .position(|event| event.is(SocketEvent::DISCONNECTED));
    assert!(
        matches!((made, dropped), (Some(made), Some(dropped)) if made < dropped),
        "{case}: libzmq events {}, expected a connection made then dropped",
        names(&events)
    );
    println!(
        "       {case}: libzmq events {} ({refusals} refusal(s))",
        names(&events)
    );
}

fn names(events: &[ZmqEvent]) -> String {
    events
        .iter()
        .map(ZmqEvent::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn cases(transport: Transport) -> Vec<Refusal> {
    let mut cases = Vec::new();
    for (mono, zmq) in INCOMPATIBLE {
        for mono_binds in [true, false] {
            cases.push(Refusal {
                mono,
                zmq,
                mono_binds,
                transport,
            });
        }
    }
    cases
}

/// Incompatible pairings over TCP, each library's socket binding in turn.
#[compio::test]
async fn sockets_incompatible_pairings_are_refused_over_tcp() {
    run_cases(
        "incompatible pairings over tcp",
        cases(Transport::Tcp),
        refused,
    )
    .await;
}

/// Incompatible pairings over IPC, each library's socket binding in turn.
#[compio::test]
async fn sockets_incompatible_pairings_are_refused_over_ipc() {
    run_cases(
        "incompatible pairings over ipc",
        cases(Transport::Ipc),
        refused,
    )
    .await;
}
