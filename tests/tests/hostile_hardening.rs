//! Hostile peers against the engine's bounds: a frame header declaring more than the socket
//! could ever hold, peers dripping large frames into a shared receive budget, a peer that stops
//! reading while its kernel still takes bytes, and small messages that would pin large read
//! buffers.

mod hostile_common;

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use hostile_common::{
    MIB, MORE, Memory, Mock, RSS_BOUND, Scene, frame, long_header, options, run, traffic_fault,
    wait_until, within,
};
use monocoque::proto::{DEFAULT_RECEIVE_BUDGET, ProtocolError};
use monocoque::{
    DisconnectReason, Message, MonitorEventKind, PubSocket, PullSocket, PushSocket, SocketOptions,
    SubSocket,
};

/// A header claiming 2^62 bytes after a good handshake, then more bytes: with no
/// `max_message_size`, the connection still closes at once (it used to stay open and keep all
/// that followed), because no socket could hold such a frame.
#[test]
fn a_frame_claiming_2_62_bytes_closes_the_connection_at_once() {
    run(|| async {
        let mut scene = Scene::start(options()).await;
        traffic_fault(
            &mut scene,
            "a frame header claiming 2^62 bytes, no maximum",
            &[long_header(0, 1 << 62), vec![0x5a; 1 << 20]],
            ProtocolError::FrameTooLarge {
                len: 1 << 62,
                max: DEFAULT_RECEIVE_BUDGET,
            },
        )
        .await;
        scene.finish().await;
    });
}

/// Two peers each send 5 MiB of a 7 MiB frame into a socket with an 8 MiB receive budget: one
/// of them takes the socket over it and is disconnected; the other completes its message, and
/// the good peer never notices.
#[test]
fn peers_dripping_large_frames_share_the_receive_budget() {
    const BUDGET: u64 = 8 * MIB;
    run(|| async {
        let mut scene = Scene::start(options().receive_budget(BUDGET)).await;
        let before = Memory::baseline();
        let mut mocks = Vec::new();
        for _ in 0..2 {
            let mut mock = Mock::connect(scene.addr).await;
            mock.handshake("PUSH").await;
            scene.wait_handshake(mock.addr).await;
            mocks.push(mock);
        }
        let mut start = frame(MORE, b"mock");
        start.extend_from_slice(&long_header(MORE, 7 * MIB));
        for mock in &mut mocks {
            if mock.send(&start).await.is_err() {
                continue;
            }
            for _ in 0..5 {
                if mock.send(&vec![0x5a; MIB as usize]).await.is_err() {
                    break;
                }
            }
        }
        let over = scene
            .wait_event("a disconnection for the budget", |e| {
                matches!(
                    &e.kind,
                    MonitorEventKind::Disconnected {
                        reason: DisconnectReason::Protocol(
                            ProtocolError::ReceiveBudgetExceeded { .. }
                        )
                    }
                )
            })
            .await;
        assert_eq!(
            over.kind,
            MonitorEventKind::Disconnected {
                reason: DisconnectReason::Protocol(ProtocolError::ReceiveBudgetExceeded {
                    limit: BUDGET
                })
            }
        );
        let refused = over.peer_address.expect("the refused mock's address");
        let mut survivor = mocks
            .into_iter()
            .find(|m| m.addr.to_string() != refused)
            .expect("one mock is still connected");
        let mut rest = vec![0x5a; 2 * MIB as usize];
        rest.extend_from_slice(&frame(0, b"the survivor's message"));
        survivor.send(&rest).await.expect("the survivor goes on");
        scene.wait_mock_message("the survivor's message").await;
        let growth = Memory::now().since(&before);
        eprintln!("hostile | two peers dripping 7 MiB frames into an 8 MiB budget: {growth}");
        growth.assert_rss_below(RSS_BOUND + 2 * BUDGET, "the shared budget");
        drop(survivor);
        scene.finish().await;
    });
}

/// A peer that stops reading (its kernel still acknowledges what fits in its window) while a
/// PUSH is blocked writing to it: the heartbeat timeout still cuts it off (the writer used to
/// look at heartbeats only between writes), and the PUSH moves on to a new peer.
#[test]
fn a_peer_that_stops_reading_is_cut_off_by_heartbeats_while_a_write_is_blocked() {
    run(|| async {
        let options = SocketOptions::new()
            .heartbeat_interval(std::time::Duration::from_millis(100))
            .send_hwm(4)
            .send_buffer(8192);
        let push = Rc::new(PushSocket::with_options(options).unwrap());
        let monitor = push.monitor();
        let endpoint = push.bind("tcp://127.0.0.1:0").await.unwrap().to_string();
        let addr: SocketAddr = endpoint.trim_start_matches("tcp://").parse().unwrap();
        let mut mock = Mock::connect_small_window(addr).await;
        mock.handshake("PULL").await;
        // From here on the mock reads nothing, and answers no PING.
        let waiting = Rc::new(Cell::new(false));
        let sender = compio::runtime::spawn({
            let (push, waiting) = (push.clone(), waiting.clone());
            async move {
                let payload = Bytes::from(vec![0x5a; 64 * 1024]);
                for i in 0u32.. {
                    let message = Message::single(Bytes::copy_from_slice(&i.to_be_bytes()))
                        .with(payload.clone());
                    waiting.set(true);
                    push.send(message).await.unwrap();
                    waiting.set(false);
                }
            }
        });
        let reason = within("the silent peer's disconnection", async {
            loop {
                let event = monitor.recv().await.expect("the monitor runs");
                if let MonitorEventKind::Disconnected { reason } = event.kind {
                    break reason;
                }
            }
        })
        .await;
        assert_eq!(reason, DisconnectReason::HeartbeatTimeout);
        assert!(
            waiting.get(),
            "the PUSH was not blocked behind the silent peer when it was cut off"
        );
        // The PUSH moves on to the next peer.
        let pull = PullSocket::new();
        pull.connect(&endpoint).unwrap();
        within("a message for the next peer", pull.recv())
            .await
            .unwrap();
        drop(sender);
        drop(mock);
    });
}

/// A subscriber that keeps one small message out of every 60 KiB it reads: the messages it keeps
/// must not hold the reads they came in (1,000 of them would pin tens of MiB).
#[test]
fn kept_small_messages_do_not_pin_their_read_buffers() {
    const ROUNDS: usize = 1000;
    run(|| async {
        let sub = SubSocket::with_options(SocketOptions::new().recv_hwm(0)).unwrap();
        sub.subscribe("");
        let endpoint = sub.bind("tcp://127.0.0.1:0").await.unwrap().to_string();
        let publisher = PubSocket::new();
        publisher.connect(&endpoint).unwrap();
        wait_until("the subscription reached the PUB", || {
            publisher.try_send(Message::from("keep-probe")).is_ok() && sub.try_recv().is_ok()
        })
        .await;
        let before = Memory::baseline();
        let noise = Bytes::from(vec![0x5a; 1024]);
        let mut kept = Vec::with_capacity(ROUNDS);
        for round in 0..ROUNDS {
            for _ in 0..60 {
                publisher
                    .send(Message::from("noise").with(noise.clone()))
                    .await
                    .unwrap();
            }
            let message = Message::from("keep").with(Bytes::copy_from_slice(&round.to_be_bytes()));
            publisher.send(message).await.unwrap();
            // One round at a time: the publisher's queue stays small, and each kept message
            // comes out of a read of its own.
            loop {
                let message = within("a message", sub.recv()).await.unwrap();
                // The application keeps the rare message it wants and drops the rest (and the
                // probes still on their way).
                if message[0] == "keep" && message.len() == 2 {
                    kept.push(message);
                    break;
                }
            }
        }
        let growth = Memory::now().since(&before);
        eprintln!("hostile | {ROUNDS} kept 10-byte messages out of 60 KiB reads: {growth}");
        assert!(
            kept.iter()
                .enumerate()
                .all(|(i, m)| m[1][..] == i.to_be_bytes())
        );
        growth.assert_rss_below(RSS_BOUND, "kept small messages");
    });
}
