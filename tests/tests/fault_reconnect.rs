//! Reconnection: a connecting socket whose peer goes away reconnects with backoff and resumes; a
//! SUB resubscribes by itself; what is queued while the peer is away waits within the high-water
//! mark and is delivered when it is back; a peer killed and restarted again and again costs only
//! what was in flight on the dead connection, and never the order.
//!
//! A killed peer is a monocoque socket on a compio runtime of its own, on a thread of its own,
//! like a separate process: killing it drops the socket and the runtime with whatever they had
//! not delivered to the application.

mod common;
mod fault_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{TCP_ANY, WAIT, free_port, num, read_num, tcp_port, wait_until, within};
use fault_common::{KERNEL_BUFFER, bind_retry, in_transit_bound, join_thread};
use monocoque::{
    Message, Monitor, MonitorEvent, MonitorEventKind, PubSocket, PullSocket, PushSocket,
    SendErrorKind, SocketOptions, SubSocket,
};

/// How often a connecting socket retries in these tests.
const RECONNECT: Duration = Duration::from_millis(10);

/// The next monitor event, within [`WAIT`].
async fn next_event(monitor: &Monitor) -> MonitorEvent {
    within("a monitor event", monitor.recv())
        .await
        .expect("the monitor is running")
}

// ---------------------------------------------------------------------------------------------
// A PULL killed and restarted ten times under a PUSH that keeps sending.

const RESTARTS: usize = 10;

/// The payload of the numbered messages: large enough that the bytes in transit are few
/// messages, small enough that thousands go by quickly.
const PAYLOAD: usize = 4096;

/// The bytes a `[num, payload]` message takes on the wire.
const WIRE: usize = (2 + 4) + (9 + PAYLOAD);

/// The PULL's receive high-water mark.
const PULL_HWM: usize = 16;

/// How many messages the final PULL must have received before the PUSH stops sending.
const FINAL_COUNT: usize = 1000;

fn payload(i: u32) -> Bytes {
    Bytes::from(vec![i as u8; PAYLOAD])
}

fn numbered(i: u32) -> Message {
    Message::from_iter([num(i), payload(i)])
}

/// How many messages life `life` of the PULL receives before it is killed.
fn per_life(life: usize) -> usize {
    500 + 97 * life
}

/// The PULL "process": binds (a port from port 0 at first, the same port after), receives,
/// and is killed after [`per_life`] messages, [`RESTARTS`] times; its last life receives until
/// `"end"`. Returns what each life received.
fn pull_process(port_tx: mpsc::Sender<u16>, final_progress: Arc<AtomicUsize>) -> Vec<Vec<u32>> {
    let mut port = 0u16;
    let mut lives = Vec::new();
    for life in 0..=RESTARTS {
        let runtime = compio::runtime::Runtime::new().expect("a runtime");
        let received = runtime.block_on(async {
            let options = SocketOptions::new()
                .recv_hwm(PULL_HWM)
                .send_buffer(KERNEL_BUFFER)
                .recv_buffer(KERNEL_BUFFER);
            let pull = PullSocket::with_options(options).expect("options accepted");
            let endpoint = tcp_port(port);
            let bound = bind_retry("the PULL", || pull.bind(&endpoint)).await;
            if life == 0 {
                port = bound.port().expect("a TCP port");
                port_tx
                    .send(port)
                    .expect("the test is waiting for the port");
            }
            let mut received = Vec::new();
            loop {
                let message = within("a message at the PULL", pull.recv())
                    .await
                    .expect("recv");
                if life == RESTARTS && message == Message::from("end") {
                    break;
                }
                let n = read_num(&message[0]);
                assert!(message == numbered(n), "message {n} altered");
                received.push(n);
                if life == RESTARTS {
                    final_progress.store(received.len(), Ordering::Relaxed);
                } else if received.len() == per_life(life) {
                    break;
                }
            }
            received
            // Killed: the socket goes with whatever it received and did not deliver.
        });
        drop(runtime);
        lives.push(received);
    }
    lives
}

/// Waits for a value from another thread without blocking the runtime.
async fn recv_from_thread<T>(what: &str, rx: &mpsc::Receiver<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(value) = rx.try_recv() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        compio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Checks what the lives of a killed and restarted receiver got from a sender that sent
/// `0..sent`: each connection delivers a contiguous run, in order; across restarts numbers only
/// grow, and what is skipped at a restart is at most `in_flight`; the first and the last life
/// miss nothing at their ends. Returns the gap at each restart.
fn check_lives(lives: &[Vec<u32>], sent: u32, in_flight: usize) -> Vec<u32> {
    for (life, received) in lives.iter().enumerate() {
        assert!(!received.is_empty(), "life {life} received nothing");
        for pair in received.windows(2) {
            assert_eq!(
                pair[1],
                pair[0] + 1,
                "life {life}: a gap or reorder on a single connection"
            );
        }
    }
    assert_eq!(lives[0][0], 0, "the first messages were lost");
    let mut gaps = Vec::new();
    for (life, pair) in lives.windows(2).enumerate() {
        let (last, first) = (
            *pair[0].last().expect("every life received something"),
            pair[1][0],
        );
        assert!(
            first > last,
            "restart {}: {first} arrived after {last}: duplicated or reordered",
            life + 1
        );
        let gap = first - last - 1;
        assert!(
            gap as usize <= in_flight,
            "restart {}: {gap} messages lost, more than the {in_flight} that can be in flight",
            life + 1
        );
        gaps.push(gap);
    }
    assert_eq!(
        *lives
            .last()
            .expect("every life received something")
            .last()
            .expect("every life received something"),
        sent - 1,
        "messages sent to the last connection were lost"
    );
    gaps
}

#[compio::test]
async fn a_push_loses_only_in_flight_messages_across_ten_pull_restarts() {
    let started = Instant::now();
    let (port_tx, port_rx) = mpsc::channel();
    let final_progress = Arc::new(AtomicUsize::new(0));
    let peer = std::thread::spawn({
        let final_progress = final_progress.clone();
        move || pull_process(port_tx, final_progress)
    });
    let port = recv_from_thread("the PULL's port", &port_rx).await;

    let push = PushSocket::with_options(
        SocketOptions::new()
            .reconnect_interval(RECONNECT)
            .send_buffer(KERNEL_BUFFER)
            .recv_buffer(KERNEL_BUFFER),
    )
    .unwrap();
    let monitor = push.monitor();
    push.connect(&tcp_port(port)).unwrap();
    let mut sent = 0u32;
    while final_progress.load(Ordering::Relaxed) < FINAL_COUNT {
        within("a send", push.send(numbered(sent))).await.unwrap();
        sent += 1;
        assert!(sent < 1_000_000, "the PULL process makes no progress");
    }
    within("the end", push.send("end")).await.unwrap();
    let lives = join_thread("the PULL process", peer, Duration::from_secs(30)).await;
    assert_eq!(lives.len(), RESTARTS + 1);

    // In flight on a dead connection: the PUSH's write batch and kernel buffers, the PULL's
    // kernel buffer, undecoded input and receive queue.
    let in_flight = in_transit_bound(WIRE) + PULL_HWM;
    let gaps = check_lives(&lives, sent, in_flight);
    let mut handshakes = 0;
    while let Some(event) = monitor.try_recv() {
        if event.kind == MonitorEventKind::HandshakeSucceeded {
            handshakes += 1;
        }
    }
    assert!(
        handshakes > RESTARTS,
        "{handshakes} connections for {} PULLs",
        RESTARTS + 1
    );
    println!(
        "PUSH across {RESTARTS} monocoque PULL restarts: {sent} sent in {:?}, {} received, \
         lost per restart {gaps:?} (in-flight bound {in_flight}), {handshakes} connections",
        started.elapsed(),
        lives.iter().map(Vec::len).sum::<usize>()
    );
}

// ---------------------------------------------------------------------------------------------
// Messages sent while the peer is down.

#[compio::test]
async fn messages_queued_while_the_pull_is_down_are_delivered_when_it_returns() {
    const HWM: usize = 50;
    let first = PullSocket::new();
    let bound = first.bind(TCP_ANY).await.unwrap();
    let port = bound.port().expect("a TCP port");
    let push = PushSocket::with_options(
        SocketOptions::new()
            .send_hwm(HWM)
            .reconnect_interval(RECONNECT),
    )
    .unwrap();
    push.connect(&bound.to_string()).unwrap();
    within("hello", push.send("hello")).await.unwrap();
    assert_eq!(
        within("hello", first.recv()).await.unwrap(),
        Message::from("hello")
    );

    drop(first);
    wait_until("the PUSH sees the PULL gone", || {
        push.connected_peers() == 0
    })
    .await;
    let mut queued = 0u32;
    let refused = loop {
        match push.try_send(numbered(queued)) {
            Ok(()) => queued += 1,
            Err(error) => break error,
        }
        assert!(queued as usize <= 10 * HWM, "queued without limit");
    };
    assert_eq!(
        queued as usize, HWM,
        "messages queued while the peer is down"
    );
    assert_eq!(refused.kind, SendErrorKind::WouldBlock);
    assert_eq!(refused.message, numbered(queued));

    let second = PullSocket::new();
    let endpoint = tcp_port(port);
    bind_retry("the second PULL", || second.bind(&endpoint)).await;
    for i in 0..queued {
        let message = within("a queued message", second.recv()).await.unwrap();
        assert_eq!(read_num(&message[0]), i, "queued messages out of order");
        assert!(message == numbered(i));
    }
    within("a live message", push.send("live")).await.unwrap();
    assert_eq!(
        within("the live message", second.recv()).await.unwrap(),
        Message::from("live"),
        "a message beyond the high-water mark was queued"
    );
}

// ---------------------------------------------------------------------------------------------
// SUB resubscribes.

#[compio::test]
async fn a_sub_resubscribes_by_itself_to_a_pub_restarted_five_times() {
    const PUB_RESTARTS: usize = 5;
    let sub = SubSocket::with_options(SocketOptions::new().reconnect_interval(RECONNECT)).unwrap();
    let monitor = sub.monitor();
    sub.subscribe("a.");
    let mut port = 0u16;
    for life in 0..=PUB_RESTARTS {
        let publisher = PubSocket::new();
        let endpoint = tcp_port(port);
        let bound = bind_retry("the PUB", || publisher.bind(&endpoint)).await;
        if life == 0 {
            port = bound.port().expect("a TCP port");
            sub.connect(&tcp_port(port)).unwrap();
        }
        // No subscribe call here: the SUB replays its subscription on each new connection.
        let wanted = Message::from(format!("a.{life}"));
        let deadline = Instant::now() + WAIT;
        let mut rounds = 0;
        loop {
            publisher.try_send(format!("b.{life}")).unwrap();
            publisher.try_send(wanted.clone()).unwrap();
            rounds += 1;
            match compio::time::timeout(Duration::from_millis(10), sub.recv()).await {
                Ok(message) => {
                    assert_eq!(message.unwrap(), wanted, "life {life}: filtered wrongly");
                    break;
                }
                Err(_) => assert!(
                    Instant::now() < deadline,
                    "life {life}: the SUB never received from the restarted PUB"
                ),
            }
        }
        println!("PUB life {life}: the SUB received after {rounds} rounds");
        drop(publisher);
        wait_until("the SUB sees the PUB gone", || sub.connected_peers() == 0).await;
        // What was on its way before the PUB went is delivered, and is all `a.{life}`.
        while let Ok(message) = sub.try_recv() {
            assert_eq!(message, wanted, "life {life}: filtered wrongly");
        }
    }
    let mut handshakes = 0;
    while let Some(event) = monitor.try_recv() {
        if event.kind == MonitorEventKind::HandshakeSucceeded {
            handshakes += 1;
        }
    }
    assert_eq!(handshakes, PUB_RESTARTS + 1, "one connection per PUB");
}

// ---------------------------------------------------------------------------------------------
// Backoff.

/// With no peer at all, the waits between attempts start at `reconnect_interval`, double up to
/// `reconnect_interval_max`, each with up to one interval of jitter, and the attempts really are
/// that far apart. After a connection that worked, the wait starts over.
#[compio::test]
async fn reconnection_backs_off_doubling_with_jitter_up_to_the_maximum_then_starts_over() {
    const ATTEMPTS: usize = 10;
    let interval = Duration::from_millis(10);
    let max = Duration::from_millis(200);
    let port = free_port();
    let push = PushSocket::with_options(
        SocketOptions::new()
            .reconnect_interval(interval)
            .reconnect_interval_max(Some(max)),
    )
    .unwrap();
    let monitor = push.monitor();
    push.connect(&tcp_port(port)).unwrap();

    // (when the attempt failed, the wait announced after it)
    let mut attempts: Vec<(Instant, Duration)> = Vec::new();
    let mut failed_at = None;
    while attempts.len() < ATTEMPTS {
        let event = next_event(&monitor).await;
        match event.kind {
            MonitorEventKind::ConnectDelayed { .. } => failed_at = Some(Instant::now()),
            MonitorEventKind::ConnectRetried { interval } => {
                let at = failed_at.take().expect("a retry follows a failed attempt");
                attempts.push((at, interval));
            }
            other => panic!("unexpected event with no peer: {other:?}"),
        }
    }
    let waits: Vec<Duration> = attempts.iter().map(|(_, wait)| *wait).collect();
    let mut base = interval;
    for (k, wait) in waits.iter().enumerate() {
        assert!(
            *wait >= base && *wait < base + interval,
            "wait {k} is {wait:?}, expected {base:?} plus less than {interval:?} of jitter: \
             {waits:?}"
        );
        base = (base * 2).min(max);
    }
    assert!(
        waits.iter().all(|wait| *wait < max + interval),
        "capped at the maximum plus one interval: {waits:?}"
    );
    assert!(
        waits
            .iter()
            .zip(expected_bases(interval, max))
            .any(|(w, b)| *w != b),
        "no jitter at all: {waits:?}"
    );
    // The attempts were that far apart (the last wait is still running).
    let spent = attempts[ATTEMPTS - 1].0 - attempts[0].0;
    let promised: Duration = waits[..ATTEMPTS - 1].iter().sum();
    assert!(
        spent + Duration::from_millis(5) >= promised,
        "{ATTEMPTS} attempts in {spent:?}, sooner than the {promised:?} of waits announced"
    );
    println!("backoff waits with no peer: {waits:?}; attempts spread over {spent:?}");

    // A peer appears: the PUSH connects at its next attempt.
    let pull = PullSocket::new();
    let endpoint = tcp_port(port);
    bind_retry("the PULL", || pull.bind(&endpoint)).await;
    loop {
        let event = next_event(&monitor).await;
        if event.kind == MonitorEventKind::HandshakeSucceeded {
            break;
        }
    }
    // It goes: after a connection that worked, the first wait is the interval again.
    drop(pull);
    let reset = loop {
        let event = next_event(&monitor).await;
        if let MonitorEventKind::ConnectRetried { interval } = event.kind {
            break interval;
        }
    };
    println!("first wait after a working connection: {reset:?}");
    assert!(
        reset >= interval && reset < 2 * interval,
        "after a working connection the wait starts over from {interval:?}, got {reset:?}"
    );
}

fn expected_bases(interval: Duration, max: Duration) -> impl Iterator<Item = Duration> {
    std::iter::successors(Some(interval), move |base| Some((*base * 2).min(max)))
}
