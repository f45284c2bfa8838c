//! NULL handshakes between every pair of socket types, through the public API, over an in-memory
//! pair with a virtual clock.

use std::time::Duration;

use monocoque::SocketType;
use monocoque::proto::{HandshakeConfig, ProtocolError, Version};
use monocoque_tests::Pair;

const CHUNKS: [usize; 4] = [1, 7, 64, 4096];

#[test]
fn every_compatible_pair_completes_and_every_other_pair_is_refused() {
    let mut compatible = 0;
    let mut refused = 0;
    for a in SocketType::ALL {
        for b in SocketType::ALL {
            for chunk in CHUNKS {
                let mut pair = Pair::new(HandshakeConfig::new(a), HandshakeConfig::new(b), chunk);
                pair.run(10_000);
                let (ra, rb) = (pair.a.outcome().cloned(), pair.b.outcome().cloned());
                if a.is_compatible(b) {
                    let pa = ra.expect("a finished").expect("a succeeded");
                    let pb = rb.expect("b finished").expect("b succeeded");
                    assert_eq!((pa.socket_type, pb.socket_type), (b, a));
                    assert_eq!(pa.version, Version::V3_1);
                    compatible += 1;
                } else {
                    assert_eq!(
                        ra,
                        Some(Err(ProtocolError::IncompatibleSocketType {
                            local: a,
                            peer: b
                        })),
                        "{a} vs {b}, chunk {chunk}"
                    );
                    assert_eq!(
                        rb,
                        Some(Err(ProtocolError::IncompatibleSocketType {
                            local: b,
                            peer: a
                        }))
                    );
                    refused += 1;
                }
            }
        }
    }
    assert_eq!(compatible, 21 * CHUNKS.len());
    assert_eq!(refused, (121 - 21) * CHUNKS.len());
}

#[test]
fn identities_reach_a_router() {
    for peer in [SocketType::Req, SocketType::Dealer, SocketType::Router] {
        let mut pair = Pair::new(
            HandshakeConfig::new(peer)
                .identity("client-9")
                .property("X-Zone", "a")
                .unwrap(),
            HandshakeConfig::new(SocketType::Router),
            13,
        );
        pair.run(1000);
        let seen = pair.b.outcome().unwrap().as_ref().unwrap();
        assert_eq!(seen.identity.as_deref(), Some(&b"client-9"[..]));
        assert_eq!(seen.metadata.get("x-zone").unwrap(), "a");
        // The router announced an empty identity, which is no identity at all.
        assert_eq!(pair.a.outcome().unwrap().as_ref().unwrap().identity, None);
    }
}

#[test]
fn identity_of_other_types_is_not_sent() {
    let mut pair = Pair::new(
        HandshakeConfig::new(SocketType::Push).identity("ignored"),
        HandshakeConfig::new(SocketType::Pull),
        64,
    );
    pair.run(100);
    let seen = pair.b.outcome().unwrap().as_ref().unwrap();
    assert_eq!(seen.identity, None);
    assert!(seen.metadata.identity().is_none());
}

#[test]
fn incompatible_side_tells_the_peer_with_an_error_command() {
    let mut pair = Pair::new(
        HandshakeConfig::new(SocketType::Pub),
        HandshakeConfig::new(SocketType::Pull),
        4096,
    );
    pair.run(100);
    // Flush what each side queued on failure: an ERROR command after its READY.
    pair.run(1);
    let sent = String::from_utf8_lossy(&pair.a.sent).into_owned();
    assert!(sent.contains("\u{5}ERROR"), "{sent:?}");
}

#[test]
fn a_silent_peer_times_out_on_the_virtual_clock() {
    let mut pair = Pair::new(
        HandshakeConfig::new(SocketType::Dealer).timeout(Some(Duration::from_secs(5))),
        HandshakeConfig::new(SocketType::Router).timeout(None),
        4096,
    );
    // Nothing is delivered: the pair never runs.
    pair.advance(Duration::from_millis(4999));
    assert!(pair.a.outcome().is_none());
    pair.advance(Duration::from_millis(1));
    assert_eq!(
        pair.a.outcome(),
        Some(&Err(ProtocolError::HandshakeTimeout))
    );
    pair.advance(Duration::from_secs(3600));
    assert!(pair.b.outcome().is_none(), "no timeout configured on b");
}

#[test]
fn a_completed_handshake_does_not_time_out() {
    let mut pair = Pair::new(
        HandshakeConfig::new(SocketType::Pair),
        HandshakeConfig::new(SocketType::Pair),
        1,
    );
    let steps = pair.run(10_000);
    assert!(steps < 10_000);
    pair.advance(Duration::from_secs(3600));
    assert!(pair.a.outcome().unwrap().is_ok());
    assert!(pair.b.outcome().unwrap().is_ok());
}
