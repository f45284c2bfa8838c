//! Hostile peers that claim huge frames *within* the configured maximum size: the header alone
//! must not make the socket allocate what the peer merely announced.
//!
//! With a maximum set, monocoque's frame decoder reserves room for the whole declared body as
//! soon as the header arrives. A claim within a large maximum is therefore an allocation the
//! peer chooses with nine bytes. These cases measure it, and check that a claim beyond what the
//! machine can allocate does not take the process down (libzmq, which also allocates a message
//! when its header arrives, turns a failed allocation into ENOMEM and a closed connection).

mod hostile_common;

use std::process::Command;

use hostile_common::{
    Growth, MIB, Memory, Mock, RSS_BOUND, Scene, long_header, options, report, run,
};
use monocoque::{DisconnectReason, MonitorEventKind};

/// A header claiming `claim` bytes, 64 KiB of body, then the end of the connection; returns the
/// memory growth and the Disconnected reason.
async fn claim(scene: &mut Scene, case: &str, claim: u64) -> (Growth, MonitorEventKind) {
    let before = Memory::baseline();
    let mut mock = Mock::connect(scene.addr).await;
    mock.handshake("PUSH").await;
    scene.wait_handshake(mock.addr).await;
    mock.send(&long_header(0, claim)).await.expect("header");
    for _ in 0..16 {
        if mock.send(&[0x5A; 4096]).await.is_err() {
            break;
        }
    }
    mock.shutdown().await;
    let closed = mock.closed().await;
    let address = mock.addr.to_string();
    let ended = scene
        .wait_event("the hostile connection's end", |e| {
            e.peer_address.as_deref() == Some(&address)
                && matches!(e.kind, MonitorEventKind::Disconnected { .. })
        })
        .await;
    let growth = Memory::now().since(&before);
    report(case, &closed, &growth);
    growth.assert_rss_below(RSS_BOUND, case);
    let events = scene.events_of(mock.addr);
    assert_eq!(
        events[..2],
        [
            MonitorEventKind::Accepted,
            MonitorEventKind::HandshakeSucceeded
        ]
    );
    assert_eq!(events.len(), 3, "{events:?}");
    eprintln!("hostile | {case}: ended with {:?}", ended.kind);
    (growth, ended.kind)
}

/// Within a 4 GiB maximum, a 1 GiB claim: the resident set stays small (the reservation is never
/// touched), and the address space reserved is reported.
#[test]
fn a_1_gib_claim_within_a_4_gib_maximum_keeps_the_resident_set_small() {
    run(|| async {
        let mut scene = Scene::start(options().max_message_size(Some(4 << 30))).await;
        let (growth, ended) =
            claim(&mut scene, "frame claiming 1 GiB, maximum 4 GiB", 1 << 30).await;
        eprintln!(
            "hostile | 1 GiB claim within a 4 GiB maximum: {:.0} MiB of address space reserved \
             by a 9-byte header",
            growth.peak as f64 / MIB as f64
        );
        assert_eq!(
            ended,
            MonitorEventKind::Disconnected {
                reason: DisconnectReason::PeerClosed
            }
        );
        scene.finish().await;
    });
}

const CHILD: &str = "MONOCOQUE_HOSTILE_RESERVE_CHILD";

/// Within a 1 TiB maximum, a 512 GiB claim: more than the machine can allocate. The process (run
/// as a child, so that its death is reported rather than suffered) must survive, close or keep the
/// connection, and keep serving the good peer.
#[test]
fn a_claim_beyond_what_can_be_allocated_does_not_kill_the_process() {
    const NAME: &str = "a_claim_beyond_what_can_be_allocated_does_not_kill_the_process";
    if std::env::var_os(CHILD).is_some() {
        run(|| async {
            let mut scene = Scene::start(options().max_message_size(Some(1 << 40))).await;
            claim(&mut scene, "frame claiming 512 GiB, maximum 1 TiB", 1 << 39).await;
            scene.finish().await;
        });
        return;
    }
    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    // What killed it, and where in monocoque.
    let mut why: Vec<&str> = lines
        .iter()
        .filter(|l| l.contains("memory allocation of") || l.contains("panicked at"))
        .copied()
        .collect();
    if let Some(i) = lines.iter().position(|l| l.contains("monocoque_zmtp::")) {
        why.extend(lines[i..(i + 2).min(lines.len())].iter().map(|l| l.trim()));
    }
    for line in lines.iter().filter(|l| l.starts_with("hostile |")) {
        eprintln!("{line}");
    }
    assert!(
        output.status.success(),
        "the process serving the socket died ({}) after a peer announced a 512 GiB frame \
         within a 1 TiB maximum: {}",
        output.status,
        why.join(" | ")
    );
}
