//! ZMTP 3.1 heartbeats on real connections: PINGs go out on the interval with our TTL, PONGs
//! come back, and a peer that stops answering is cut off (libzmq's test_heartbeats, in spirit).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{TCP_ANY, WAIT, within};
use monocoque::proto::{
    Command, Handshake, HandshakeConfig, Inbound, MessageDecoder, Null, WriteBuffer,
};
use monocoque::{DealerSocket, Message, RouterSocket, SocketOptions, SocketType};

/// What a raw peer saw on a connection it never answers after the handshake.
struct Observed {
    pings: Vec<u16>,
    closed_after: Duration,
}

/// A ROUTER-typed peer on a std thread: it completes the handshake, then reads and never
/// writes again, recording every PING's TTL until the socket closes the connection.
fn silent_router() -> (String, std::thread::JoinHandle<Observed>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("tcp://{}", listener.local_addr().expect("local address"));
    let thread = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut out = WriteBuffer::new();
        let mut handshake = Handshake::new(
            HandshakeConfig::new(SocketType::Router),
            Box::new(Null::new()),
            Instant::now(),
            &mut out,
        );
        let mut input = BytesMut::new();
        let mut chunk = [0u8; 4096];
        while !handshake.is_done() {
            stream.write_all(&out.take_contiguous()).expect("write");
            let n = stream.read(&mut chunk).expect("read during handshake");
            assert_ne!(n, 0, "closed during the handshake");
            input.extend_from_slice(&chunk[..n]);
            handshake.receive(&mut input, &mut out).expect("handshake");
        }
        stream.write_all(&out.take_contiguous()).expect("write");
        let since = Instant::now();
        let mut decoder = MessageDecoder::new(None);
        let mut pings = Vec::new();
        loop {
            while let Some(inbound) = decoder.decode(&mut input).expect("valid frames") {
                if let Inbound::Command(body) = inbound {
                    if let Ok(Command::Ping {
                        ttl_deciseconds, ..
                    }) = Command::parse(body)
                    {
                        pings.push(ttl_deciseconds);
                    }
                }
            }
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => input.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                Err(e) => panic!("the silent peer was never cut off: {e}"),
            }
        }
        Observed {
            pings,
            closed_after: since.elapsed(),
        }
    });
    (endpoint, thread)
}

#[compio::test]
async fn a_peer_that_stops_answering_is_cut_off() {
    let (endpoint, peer) = silent_router();
    let options = SocketOptions::new()
        .heartbeat_interval(Duration::from_millis(50))
        .heartbeat_ttl(Duration::from_millis(1500))
        .heartbeat_timeout(Duration::from_millis(200))
        // Stay away after the cut, so the thread sees the close and nothing else.
        .reconnect_interval(Duration::from_secs(60));
    let dealer = DealerSocket::with_options(options).unwrap();
    dealer.connect(&endpoint).expect("connect");
    let observed = within("the silent peer to be cut off", async {
        loop {
            if peer.is_finished() {
                break peer.join().expect("peer thread");
            }
            compio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(!observed.pings.is_empty(), "PINGs were sent");
    assert!(
        observed.pings.iter().all(|&ttl| ttl == 15),
        "TTL in deciseconds: {:?}",
        observed.pings
    );
    // Cut no earlier than the timeout after the first unanswered PING.
    assert!(
        observed.closed_after >= Duration::from_millis(200),
        "cut after {:?}",
        observed.closed_after
    );
}

#[compio::test]
async fn answered_heartbeats_keep_a_quiet_connection_up() {
    let options = SocketOptions::new()
        .heartbeat_interval(Duration::from_millis(20))
        .heartbeat_timeout(Duration::from_millis(60));
    let router = RouterSocket::with_options(options.clone()).unwrap();
    let endpoint = router.bind(TCP_ANY).await.expect("bind").to_string();
    let dealer = DealerSocket::with_options(options.routing_id("d")).unwrap();
    dealer.connect(&endpoint).expect("connect");
    dealer.send("first").await.expect("send");
    assert_eq!(
        within("first message", router.recv()).await.expect("recv"),
        Message::from("d").with("first")
    );
    // Twenty timeouts of silence but for heartbeats: the connection must survive them.
    compio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(router.connected_peers(), 1);
    assert_eq!(dealer.connected_peers(), 1);
    router
        .send(Message::from("d").with("still here"))
        .await
        .expect("send");
    assert_eq!(
        within("reply", dealer.recv()).await.expect("recv"),
        Message::from("still here")
    );
}
