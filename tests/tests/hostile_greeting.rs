//! Hostile peers that break the 64-byte greeting: garbage, a greeting that stops halfway or
//! trickles in, ZMTP 1.0 and 2.0 peers, a wrong or malformed security mechanism, a NULL peer
//! claiming to be the server.
//!
//! Each case: a PULL socket with a monitor, a good PUSH peer sending numbered messages throughout,
//! and a raw TCP mock. The socket must close the mock's connection, report Accepted,
//! HandshakeFailedProtocol with the exact error and Disconnected for it, and lose none of the good
//! peer's messages.

mod hostile_common;

use std::time::Duration;

use hostile_common::{
    HANDSHAKE_IVL, Memory, Mock, RSS_BOUND, Scene, greeting, handshake_failed, handshake_fault,
    null_greeting, options, report, run,
};
use monocoque::proto::{MechanismName, ProtocolError};

#[test]
fn garbage_instead_of_a_greeting() {
    run(|| async {
        let mut scene = Scene::start(options()).await;
        handshake_fault(
            &mut scene,
            "garbage: an HTTP request",
            &[b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec()],
            ProtocolError::BadSignature,
        )
        .await;
        // Pseudo-random bytes, more than the socket reads in one go.
        let mut state = 0x2545_f491_u32;
        let noise: Vec<u8> = (0..16 * 1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 24) as u8
            })
            .collect();
        let mut noise = noise;
        // Not 0xFF (a signature) nor a ZMTP 1.0 identity frame (length, then flags 0 or 1).
        noise[..2].copy_from_slice(b"\x42\x43");
        handshake_fault(
            &mut scene,
            "garbage: 16 KiB of noise",
            &[noise],
            ProtocolError::BadSignature,
        )
        .await;
        // A right start, then a wrong end of the signature.
        let mut bad_end = null_greeting();
        bad_end[9] = 0x41;
        handshake_fault(
            &mut scene,
            "garbage: signature ending 0x41",
            &[bad_end],
            ProtocolError::BadSignature,
        )
        .await;
        scene.finish().await;
    });
}

#[test]
fn a_greeting_that_stops_halfway_is_dropped_at_the_handshake_interval() {
    run(|| async {
        let mut scene = Scene::start(options()).await;
        let (_, closed) = handshake_fault(
            &mut scene,
            "greeting stops after 30 of 64 bytes",
            &[null_greeting()[..30].to_vec()],
            ProtocolError::HandshakeTimeout,
        )
        .await;
        assert!(
            closed.after >= HANDSHAKE_IVL * 3 / 4,
            "closed after {:?}, before the handshake interval of {HANDSHAKE_IVL:?}",
            closed.after
        );
        // A whole greeting and then silence: the interval covers READY too.
        let (_, closed) = handshake_fault(
            &mut scene,
            "greeting, then no READY",
            &[null_greeting()],
            ProtocolError::HandshakeTimeout,
        )
        .await;
        assert!(closed.after >= HANDSHAKE_IVL * 3 / 4, "{closed:?}");
        // Nothing at all.
        handshake_fault(
            &mut scene,
            "connects and never speaks",
            &[],
            ProtocolError::HandshakeTimeout,
        )
        .await;
        scene.finish().await;
    });
}

#[test]
fn a_greeting_trickling_in_byte_by_byte_does_not_extend_the_handshake_interval() {
    run(|| async {
        let mut scene = Scene::start(options()).await;
        let before = Memory::baseline();
        let mut mock = Mock::connect(scene.addr).await;
        let started = std::time::Instant::now();
        // One byte every 20 ms: the 64 bytes would take 1.3 s, the interval is 200 ms. An interval
        // reset by each byte would keep the connection for more than 1.3 s.
        let mut writer = mock.stream();
        let drip = compio::runtime::spawn(async move {
            use compio::io::AsyncWriteExt;
            for byte in null_greeting() {
                let compio::BufResult(result, _) = writer.write_all(vec![byte]).await;
                if result.is_err() {
                    return;
                }
                compio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let closed = mock.closed().await;
        let lifetime = started.elapsed();
        drop(drip);
        scene
            .expect_events(
                mock.addr,
                &handshake_failed(ProtocolError::HandshakeTimeout),
            )
            .await;
        let growth = Memory::now().since(&before);
        report("greeting trickles in, 1 byte / 20 ms", &closed, &growth);
        growth.assert_rss_below(RSS_BOUND, "trickle");
        assert!(
            lifetime >= HANDSHAKE_IVL * 3 / 4 && lifetime < Duration::from_secs(1),
            "the trickling connection lived {lifetime:?}; the handshake interval is {HANDSHAKE_IVL:?}"
        );
        scene.finish().await;
    });
}

#[test]
fn zmtp_1_0_and_2_0_peers_are_refused() {
    run(|| async {
        let mut scene = Scene::start(options()).await;
        // ZMTP 1.0: an identity frame, length 1 (the flags octet), flags 0.
        handshake_fault(
            &mut scene,
            "ZMTP 1.0, short identity",
            &[vec![0x01, 0x00]],
            ProtocolError::UnsupportedVersion { major: 1, minor: 0 },
        )
        .await;
        // ZMTP 1.0 with a long identity: 0xFF, an 8-byte length, flags with bit 0 clear.
        let mut long_identity = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 0x09, 0x00];
        long_identity.extend_from_slice(b"identity");
        handshake_fault(
            &mut scene,
            "ZMTP 1.0, long identity",
            &[long_identity],
            ProtocolError::UnsupportedVersion { major: 1, minor: 0 },
        )
        .await;
        // ZMTP 2.0: signature, revision 1, socket type (PUSH = 8), an empty identity frame.
        handshake_fault(
            &mut scene,
            "ZMTP 2.0 (revision 1)",
            &[vec![
                0xFF, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x7F, 0x01, 0x08, 0x00, 0x00,
            ]],
            ProtocolError::UnsupportedVersion { major: 2, minor: 0 },
        )
        .await;
        // A 3.x-style greeting announcing version 2.0.
        handshake_fault(
            &mut scene,
            "greeting announcing 2.0",
            &[greeting(2, 0, b"NULL", false)],
            ProtocolError::UnsupportedVersion { major: 2, minor: 0 },
        )
        .await;
        scene.finish().await;
    });
}

#[test]
fn a_wrong_security_mechanism_is_refused() {
    run(|| async {
        let mut scene = Scene::start(options()).await;
        handshake_fault(
            &mut scene,
            "mechanism PLAIN",
            &[greeting(3, 1, b"PLAIN", false)],
            ProtocolError::MechanismMismatch {
                local: MechanismName::NULL,
                peer: MechanismName::PLAIN,
            },
        )
        .await;
        handshake_fault(
            &mut scene,
            "mechanism CURVE as server",
            &[greeting(3, 1, b"CURVE", true)],
            ProtocolError::MechanismMismatch {
                local: MechanismName::NULL,
                peer: MechanismName::CURVE,
            },
        )
        .await;
        handshake_fault(
            &mut scene,
            "mechanism name in lower case",
            &[greeting(3, 1, b"null", false)],
            ProtocolError::InvalidMechanism,
        )
        .await;
        handshake_fault(
            &mut scene,
            "mechanism name not NUL-padded",
            &[greeting(3, 1, b"NULL\0junk", false)],
            ProtocolError::InvalidMechanism,
        )
        .await;
        handshake_fault(
            &mut scene,
            "NULL with as-server set",
            &[greeting(3, 1, b"NULL", true)],
            ProtocolError::NullAsServer,
        )
        .await;
        scene.finish().await;
    });
}
