//! Hostile peers that complete a valid handshake and then misbehave: a frame or a message larger
//! than the maximum size, a long frame claiming 2^63 bytes or more, a frame claiming 1 GiB with no
//! maximum set, a command with MORE, reserved flag bits, a malformed command, a second READY.
//!
//! Each case: a PULL socket with a monitor, a good PUSH peer sending numbered messages throughout,
//! and a raw TCP mock that handshakes as a PUSH and delivers one good message before its attack.
//! The socket must close the mock's connection, report Disconnected with the protocol error as
//! the reason, deliver the mock's messages from before the fault (and no part of a message the
//! fault cut short), and lose none of the good peer's messages.

mod hostile_common;

use std::time::{Duration, Instant};

use hostile_common::{
    COMMAND, MIB, MORE, Memory, Mock, RSS_BOUND, Scene, Sent, ended_after_handshake,
    failed_after_handshake, frame, long_header, mock_message, options, ready, ready_body, report,
    run, traffic_fault,
};
use monocoque::DisconnectReason;
use monocoque::proto::ProtocolError;

/// How long a flooding mock waits for the socket to take more bytes before concluding that the
/// socket stopped reading it.
const STALL: Duration = Duration::from_secs(1);

#[test]
fn a_frame_larger_than_the_maximum_size_closes_the_connection() {
    run(|| async {
        let mut scene = Scene::start(options().max_message_size(Some(1024))).await;
        // The first frame of a message, then a frame over the limit: the message is lost whole.
        let mut partial = frame(MORE, b"mock");
        partial.extend_from_slice(&frame(MORE, b"cut short"));
        let (mock, _) = traffic_fault(
            &mut scene,
            "frame of 2000 bytes, maximum 1024",
            &[partial, frame(0, &[7u8; 2000])],
            ProtocolError::FrameTooLarge {
                len: 2000,
                max: 1024,
            },
        )
        .await;
        drop(mock);
        // Only the header is needed to refuse it: one claiming 1 GiB, with no body.
        traffic_fault(
            &mut scene,
            "frame header claiming 1 GiB, maximum 1024",
            &[long_header(0, 1024 * MIB)],
            ProtocolError::FrameTooLarge {
                len: 1024 * MIB,
                max: 1024,
            },
        )
        .await;
        // Frames each under the limit whose message is over it.
        let mut frames = Vec::new();
        for _ in 0..3 {
            frames.extend_from_slice(&frame(MORE, &[1u8; 600]));
        }
        frames.extend_from_slice(&frame(0, b"end"));
        traffic_fault(
            &mut scene,
            "message of 3 x 600 bytes, maximum 1024",
            &[frames],
            ProtocolError::MessageTooLarge {
                len: 1200,
                max: 1024,
            },
        )
        .await;
        assert!(
            scene
                .mock_messages()
                .iter()
                .all(|m| m.ends_with(b"before the fault")),
            "part of a message cut short by a fault was delivered: {:?}",
            scene.mock_messages()
        );
        scene.finish().await;
    });
}

#[test]
fn a_long_frame_claiming_2_pow_63_bytes_closes_the_connection() {
    run(|| async {
        // No maximum: only RFC 37's 2^63-1 applies.
        let mut scene = Scene::start(options()).await;
        traffic_fault(
            &mut scene,
            "frame claiming 2^63 bytes",
            &[long_header(0, 1 << 63)],
            ProtocolError::FrameLengthOverflow { len: 1 << 63 },
        )
        .await;
        traffic_fault(
            &mut scene,
            "frame claiming 2^64-1 bytes",
            &[long_header(MORE, u64::MAX)],
            ProtocolError::FrameLengthOverflow { len: u64::MAX },
        )
        .await;
        traffic_fault(
            &mut scene,
            "command claiming 2^63 bytes",
            &[long_header(COMMAND, 1 << 63)],
            ProtocolError::FrameLengthOverflow { len: 1 << 63 },
        )
        .await;
        scene.finish().await;
    });
}

#[test]
fn a_frame_claiming_1_gib_without_a_maximum_reserves_only_what_arrives() {
    run(|| async {
        let mut scene = Scene::start(options()).await;
        let before = Memory::baseline();
        let mut mock = Mock::connect(scene.addr).await;
        mock.handshake("PUSH").await;
        scene.wait_handshake(mock.addr).await;
        // A header claiming 1 GiB, 64 KiB of its body, then the end of the connection.
        mock.send(&long_header(0, 1024 * MIB))
            .await
            .expect("header");
        for _ in 0..16 {
            mock.send(&[0x5A; 4096]).await.expect("some of the body");
        }
        mock.shutdown().await;
        let closed = mock.closed().await;
        scene
            .expect_events(
                mock.addr,
                &ended_after_handshake(DisconnectReason::PeerClosed),
            )
            .await;
        let growth = Memory::now().since(&before);
        report(
            "frame claiming 1 GiB, 64 KiB sent, no maximum",
            &closed,
            &growth,
        );
        growth.assert_rss_below(RSS_BOUND, "1 GiB claim");
        // Reserving the declared size would show as 1 GiB of address space, touched or not.
        assert!(
            growth.peak < 256 * MIB,
            "the socket reserved room for the declared 1 GiB: {growth}"
        );
        scene.finish().await;
    });
}

#[test]
fn a_command_with_more_closes_the_connection() {
    run(|| async {
        let mut scene = Scene::start(options()).await;
        traffic_fault(
            &mut scene,
            "PING command with MORE",
            &[frame(COMMAND | MORE, b"\x04PING\x00\x00")],
            ProtocolError::CommandWithMore,
        )
        .await;
        // Between the frames of a message.
        let mut cut = frame(MORE, b"mock");
        cut.extend_from_slice(&frame(COMMAND | MORE, b"\x09SUBSCRIBE"));
        traffic_fault(
            &mut scene,
            "command with MORE inside a message",
            &[cut],
            ProtocolError::CommandWithMore,
        )
        .await;
        scene.finish().await;
    });
}

#[test]
fn reserved_flag_bits_close_the_connection() {
    run(|| async {
        let mut scene = Scene::start(options()).await;
        for flags in [0x08, 0x10, 0x20, 0x40, 0x80, 0xFF] {
            traffic_fault(
                &mut scene,
                &format!("message frame with flags {flags:#04x}"),
                &[vec![flags, 1, b'x']],
                ProtocolError::ReservedFlagBits { flags },
            )
            .await;
        }
        scene.finish().await;
    });
}

#[test]
fn a_malformed_command_after_the_handshake_closes_the_connection() {
    run(|| async {
        let mut scene = Scene::start(options()).await;
        traffic_fault(
            &mut scene,
            "empty command frame",
            &[frame(COMMAND, b"")],
            ProtocolError::MalformedCommand,
        )
        .await;
        traffic_fault(
            &mut scene,
            "PING without its TTL",
            &[frame(COMMAND, b"\x04PING\x00")],
            ProtocolError::MalformedCommandBody { command: "PING" },
        )
        .await;
        scene.finish().await;
    });
}

/// libzmq ignores every command after the handshake but PING, PONG, SUBSCRIBE and CANCEL
/// (`zmtp_engine_t::process_command_message`), READY included. So does monocoque: a second READY,
/// even one announcing another socket type, changes nothing, and the connection carries on.
#[test]
fn a_second_ready_is_ignored_as_libzmq_does() {
    run(|| async {
        let mut scene = Scene::start(options()).await;
        let before = Memory::baseline();
        let mut mock = Mock::connect(scene.addr).await;
        mock.handshake("PUSH").await;
        scene.wait_handshake(mock.addr).await;
        mock.send(&mock_message("first")).await.expect("send");
        scene.wait_mock_message("first").await;
        mock.send(&ready("PUSH"))
            .await
            .expect("send a second READY");
        mock.send(&ready("PULL"))
            .await
            .expect("send a READY as PULL");
        mock.send(&frame(COMMAND, b"\x05HELLOworld"))
            .await
            .expect("send an unknown command");
        mock.send(&mock_message("after")).await.expect("send");
        scene.wait_mock_message("after").await;
        assert_eq!(scene.mock_messages(), ["first", "after"]);
        assert_eq!(
            scene.pull.connected_peers(),
            2,
            "the mock is still attached"
        );
        assert_eq!(
            scene.events_of(mock.addr),
            [
                monocoque::MonitorEventKind::Accepted,
                monocoque::MonitorEventKind::HandshakeSucceeded
            ],
            "the second READY ended nothing"
        );
        // The mock leaves in good order.
        mock.shutdown().await;
        let closed = mock.closed().await;
        scene
            .expect_events(
                mock.addr,
                &ended_after_handshake(DisconnectReason::PeerClosed),
            )
            .await;
        let growth = Memory::now().since(&before);
        report("second READY (PUSH, then PULL): ignored", &closed, &growth);
        growth.assert_rss_below(RSS_BOUND, "second READY");
        scene.finish().await;
    });
}

/// libzmq never parses a READY after the handshake, so a broken one is ignored like any other:
/// monocoque reads only PING, PONG, SUBSCRIBE and CANCEL after the handshake, too.
#[test]
fn a_second_ready_with_broken_metadata_is_ignored_as_libzmq_does() {
    run(|| async {
        let mut scene = Scene::start(options()).await;
        let mut mock = Mock::connect(scene.addr).await;
        mock.handshake("PUSH").await;
        scene.wait_handshake(mock.addr).await;
        mock.send(&frame(
            COMMAND,
            &ready_body(b"\x0bSocket-Type\x00\x00\x00\x10PUSH"),
        ))
        .await
        .expect("send a broken second READY");
        mock.send(&mock_message("after")).await.expect("send");
        scene.wait_mock_message("after").await;
        assert_eq!(
            scene.pull.connected_peers(),
            2,
            "the mock is still attached"
        );
        mock.shutdown().await;
        let _ = mock.closed().await;
        scene
            .expect_events(
                mock.addr,
                &ended_after_handshake(DisconnectReason::PeerClosed),
            )
            .await;
        scene.finish().await;
    });
}

/// A peer that sends PING after PING and never reads the PONGs. libzmq keeps one pending PONG
/// (`zmtp_engine_t::process_heartbeat_message` overwrites `_pong_msg`); whatever the policy
/// (keeping one, closing the connection, no longer reading it), the socket must not queue without
/// limit what a peer that does not read will never take.
#[test]
fn a_ping_flood_from_a_peer_that_never_reads_keeps_memory_bounded() {
    const PINGS: usize = 1_000_000;
    const PER_WRITE: usize = 7000;
    run(|| async {
        let mut scene = Scene::start(options().send_buffer(4096)).await;
        let mut mock = Mock::connect_small_window(scene.addr).await;
        mock.handshake("PUSH").await;
        scene.wait_handshake(mock.addr).await;
        let ping = frame(COMMAND, b"\x04PING\x00\x00");
        let chunk = ping.repeat(PER_WRITE);
        let before = Memory::baseline();
        let started = Instant::now();
        let mut sent = 0;
        let mut outcome = Sent::Done;
        while sent < PINGS && outcome == Sent::Done {
            outcome = mock.try_send(&chunk, STALL).await;
            sent += PER_WRITE;
        }
        let outcome = match outcome {
            Sent::Done => {
                // Everything before this message has been read once it arrives.
                let _ = mock.try_send(&mock_message("after the PINGs"), STALL).await;
                scene
                    .delivered_or_refused(mock.addr, "after the PINGs")
                    .await
            }
            Sent::Failed => "refused",
            Sent::Stalled => "no longer read",
        };
        let flooded = started.elapsed();
        let growth = Memory::now().since(&before);
        eprintln!(
            "hostile | {sent} PINGs, PONGs never read: {outcome} after {flooded:?}; {growth}"
        );
        drop(mock);
        scene.finish().await;
        growth.assert_rss_below(RSS_BOUND, "PING flood, PONGs never read");
    });
}

/// Empty frames cost no body bytes, so `max_message_size` does not bound their number; the
/// socket's receive budget counts each frame's bookkeeping, so a message of a million empty
/// frames ends the connection once it holds the budget, without a fixed frame cap that libzmq
/// peers would trip over.
#[test]
fn a_message_of_a_million_empty_frames_stays_within_the_receive_budget() {
    const FRAMES: usize = 1_000_000;
    const PER_WRITE: usize = 10_000;
    const BUDGET: u64 = 4 * MIB;
    run(|| async {
        let options = options()
            .max_message_size(Some(1024))
            .receive_budget(BUDGET);
        let mut scene = Scene::start(options).await;
        let mut mock = Mock::connect(scene.addr).await;
        mock.handshake("PUSH").await;
        scene.wait_handshake(mock.addr).await;
        let before = Memory::baseline();
        let mut outcome = mock.try_send(&frame(MORE, b"mock"), STALL).await;
        let empty = [MORE, 0].repeat(PER_WRITE);
        let mut sent = 0;
        while sent < FRAMES && outcome == Sent::Done {
            outcome = mock.try_send(&empty, STALL).await;
            sent += PER_WRITE;
        }
        scene
            .expect_events(
                mock.addr,
                &failed_after_handshake(&ProtocolError::ReceiveBudgetExceeded { limit: BUDGET }),
            )
            .await;
        let growth = Memory::now().since(&before);
        eprintln!(
            "hostile | {sent} empty frames in one message, budget 4 MiB: {outcome:?}; {growth}"
        );
        drop(mock);
        scene.finish().await;
        growth.assert_rss_below(RSS_BOUND, "a million empty frames");
    });
}

/// A pyzmq peer may send a message of thousands of small frames; without a budget concern, it
/// arrives whole (an earlier fixed cap of 4,096 frames refused it).
#[test]
fn a_message_of_5000_small_frames_arrives_whole() {
    run(|| async {
        let mut scene = Scene::start(options()).await;
        let mut mock = Mock::connect(scene.addr).await;
        mock.handshake("PUSH").await;
        scene.wait_handshake(mock.addr).await;
        let mut bytes = frame(MORE, b"mock");
        for _ in 0..5000 {
            bytes.extend_from_slice(&frame(MORE, b"x"));
        }
        bytes.extend_from_slice(&frame(0, b"5000 frames"));
        mock.send(&bytes).await.expect("the mock writes");
        scene.wait_mock_message("5000 frames").await;
        drop(mock);
        scene.finish().await;
    });
}
