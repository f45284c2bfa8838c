//! Reconnection of monocoque sockets to libzmq 4.3 peers that are killed and restarted: a
//! monocoque PUSH loses only what was in flight on each dead connection and never reorders;
//! what it queues while the peer is down is delivered when it comes back; a monocoque SUB
//! resubscribes by itself to a restarted libzmq PUB.
//!
//! Each libzmq peer lives on a thread of its own with a context of its own, like a separate
//! process: killing it closes the socket with linger 0 and terminates the context, discarding
//! whatever it had not delivered to the application. The monocoque side runs on the test's
//! compio runtime and never blocks it.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use monocoque::{Message, MonitorEventKind, PushSocket, SendErrorKind, SocketOptions, SubSocket};

/// The longest any single wait may take.
const WAIT: Duration = Duration::from_secs(5);

/// How often the monocoque side retries a connection.
const RECONNECT: Duration = Duration::from_millis(10);

/// `SO_SNDBUF`/`SO_RCVBUF` of both ends: Linux doubles it, so the kernel holds at most `4 ×`
/// this between two sockets.
const KERNEL_BUFFER: usize = 64 * 1024;

/// monocoque's write batch and read size (`WRITE_BATCH`, `READ_CHUNK` in
/// `monocoque-zmtp/src/driver/connection.rs`).
const WRITE_BATCH: usize = 256 * 1024;
const READ_CHUNK: usize = 64 * 1024;

/// libzmq's receive batch (`in_batch_size`, 8 KiB).
const LIBZMQ_IN_BATCH: usize = 8 * 1024;

const RESTARTS: usize = 10;

/// The payload of the numbered messages.
const PAYLOAD: usize = 4096;

/// The bytes a `[num, payload]` message takes on the wire.
const WIRE: usize = (2 + 4) + (9 + PAYLOAD);

/// The libzmq PULL's receive high-water mark.
const PULL_HWM: usize = 16;

/// How many messages the final PULL must have received before the PUSH stops sending.
const FINAL_COUNT: usize = 1000;

fn num(n: u32) -> Bytes {
    Bytes::copy_from_slice(&n.to_be_bytes())
}

fn read_num(frame: &[u8]) -> u32 {
    u32::from_be_bytes(frame.try_into().expect("a four-byte number frame"))
}

fn numbered(i: u32) -> Message {
    Message::from_iter([num(i), Bytes::from(vec![i as u8; PAYLOAD])])
}

fn tcp_port(port: u16) -> String {
    format!("tcp://127.0.0.1:{port}")
}

/// A loopback TCP port that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Awaits `future`, failing the test if it takes longer than [`WAIT`].
async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match compio::time::timeout(WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {WAIT:?}: {what}"),
    }
}

/// Yields to the runtime until `condition` holds, for at most [`WAIT`].
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        compio::time::sleep(Duration::from_millis(1)).await;
    }
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

/// Waits for a peer thread to finish without blocking the runtime, and returns its result.
async fn join_thread<T>(what: &str, handle: std::thread::JoinHandle<T>, limit: Duration) -> T {
    let deadline = Instant::now() + limit;
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        compio::time::sleep(Duration::from_millis(1)).await;
    }
    match handle.join() {
        Ok(output) => output,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// A libzmq socket of `kind` in a fresh context, configured by `configure` (before the bind:
/// libzmq applies options to the binds and connections made after them), bound to `port` (an
/// ephemeral port for `0`), retrying while the port is still held by the peer's previous life.
/// Returns it with the port.
fn libzmq_bound(
    kind: zmq::SocketType,
    port: u16,
    configure: impl FnOnce(&zmq::Socket),
) -> (zmq::Context, zmq::Socket, u16) {
    let ctx = zmq::Context::new();
    let socket = ctx.socket(kind).expect("a libzmq socket");
    configure(&socket);
    socket.set_linger(0).expect("ZMQ_LINGER");
    socket
        .set_rcvtimeo(WAIT.as_millis() as i32)
        .expect("ZMQ_RCVTIMEO");
    socket
        .set_sndtimeo(WAIT.as_millis() as i32)
        .expect("ZMQ_SNDTIMEO");
    let endpoint = if port == 0 {
        "tcp://127.0.0.1:*".to_owned()
    } else {
        tcp_port(port)
    };
    let deadline = Instant::now() + WAIT;
    loop {
        match socket.bind(&endpoint) {
            Ok(()) => break,
            Err(zmq::Error::EADDRINUSE) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(error) => panic!("libzmq bind {endpoint}: {error}"),
        }
    }
    let last = socket
        .get_last_endpoint()
        .expect("ZMQ_LAST_ENDPOINT")
        .expect("a UTF-8 endpoint");
    let port = last
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port in the endpoint");
    (ctx, socket, port)
}

/// Closes a libzmq socket and terminates its context: what it held is gone.
fn kill(ctx: zmq::Context, socket: zmq::Socket) {
    drop(socket);
    drop(ctx);
}

/// A libzmq PULL with a small receive queue and pinned kernel buffers.
fn libzmq_pull(port: u16) -> (zmq::Context, zmq::Socket, u16) {
    libzmq_bound(zmq::PULL, port, |socket| {
        socket.set_rcvhwm(PULL_HWM as i32).expect("ZMQ_RCVHWM");
        socket.set_rcvbuf(KERNEL_BUFFER as i32).expect("ZMQ_RCVBUF");
        socket.set_sndbuf(KERNEL_BUFFER as i32).expect("ZMQ_SNDBUF");
    })
}

fn zmq_recv(socket: &zmq::Socket, what: &str) -> Message {
    let frames = socket
        .recv_multipart(0)
        .unwrap_or_else(|error| panic!("libzmq recv ({what}): {error}"));
    Message::from_iter(frames.into_iter().map(Bytes::from))
}

/// How many messages life `life` of the PULL receives before it is killed.
fn per_life(life: usize) -> usize {
    500 + 97 * life
}

/// The libzmq PULL "process": killed after [`per_life`] messages, [`RESTARTS`] times, on the
/// same port; its last life receives until `"end"`. Returns what each life received.
fn libzmq_pull_process(port_tx: mpsc::Sender<u16>, progress: Arc<AtomicUsize>) -> Vec<Vec<u32>> {
    let mut port = 0u16;
    let mut lives = Vec::new();
    for life in 0..=RESTARTS {
        let (ctx, pull, bound) = libzmq_pull(port);
        if life == 0 {
            port = bound;
            port_tx
                .send(port)
                .expect("the test is waiting for the port");
        }
        let mut received = Vec::new();
        loop {
            let message = zmq_recv(&pull, "a numbered message");
            if life == RESTARTS && message == Message::from("end") {
                break;
            }
            let n = read_num(&message[0]);
            assert!(message == numbered(n), "message {n} altered");
            received.push(n);
            if life == RESTARTS {
                progress.store(received.len(), Ordering::Relaxed);
            } else if received.len() == per_life(life) {
                break;
            }
        }
        kill(ctx, pull);
        lives.push(received);
    }
    lives
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
async fn a_push_loses_only_in_flight_messages_across_ten_libzmq_pull_restarts() {
    let started = Instant::now();
    let (port_tx, port_rx) = mpsc::channel();
    let progress = Arc::new(AtomicUsize::new(0));
    let peer = std::thread::spawn({
        let progress = progress.clone();
        move || libzmq_pull_process(port_tx, progress)
    });
    let port = recv_from_thread("the libzmq PULL's port", &port_rx).await;

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
    while progress.load(Ordering::Relaxed) < FINAL_COUNT {
        within("a send", push.send(numbered(sent))).await.unwrap();
        sent += 1;
        assert!(
            sent < 1_000_000,
            "the libzmq PULL process makes no progress"
        );
    }
    within("the end", push.send("end")).await.unwrap();
    let lives = join_thread("the libzmq PULL process", peer, Duration::from_secs(30)).await;
    assert_eq!(lives.len(), RESTARTS + 1);

    // In flight on a dead connection: our write batch (plus the message crossing its limit),
    // both kernel buffers doubled, libzmq's read batch and receive pipe, and our undecoded
    // input (none here: we only send).
    let in_transit =
        (WRITE_BATCH + WIRE + 4 * KERNEL_BUFFER + LIBZMQ_IN_BATCH + 2 * READ_CHUNK).div_ceil(WIRE);
    let in_flight = in_transit + 1 + PULL_HWM;
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
        "PUSH across {RESTARTS} libzmq PULL restarts: {sent} sent in {:?}, {} received, lost \
         per restart {gaps:?} (in-flight bound {in_flight}), {handshakes} connections",
        started.elapsed(),
        lives.iter().map(Vec::len).sum::<usize>()
    );
}

#[compio::test]
async fn messages_queued_while_a_libzmq_pull_is_down_are_delivered_when_it_returns() {
    const HWM: usize = 50;
    // First life: receives "hello", then is killed.
    let (port_tx, port_rx) = mpsc::channel();
    let first = std::thread::spawn(move || {
        let (ctx, pull, port) = libzmq_pull(0);
        port_tx.send(port).unwrap();
        let hello = zmq_recv(&pull, "hello");
        kill(ctx, pull);
        hello
    });
    let port = recv_from_thread("the libzmq PULL's port", &port_rx).await;
    let push = PushSocket::with_options(
        SocketOptions::new()
            .send_hwm(HWM)
            .reconnect_interval(RECONNECT),
    )
    .unwrap();
    push.connect(&tcp_port(port)).unwrap();
    within("hello", push.send("hello")).await.unwrap();
    assert_eq!(
        join_thread("the first libzmq PULL", first, WAIT).await,
        Message::from("hello")
    );
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

    // Second life on the same port: everything queued, in order, then the live message.
    let second = std::thread::spawn(move || {
        let (ctx, pull, _) = libzmq_pull(port);
        let received: Vec<Message> = (0..=HWM).map(|_| zmq_recv(&pull, "queued")).collect();
        kill(ctx, pull);
        received
    });
    // Sent once the queue has room again, that is once the new connection took the queue.
    within("a live message", push.send("live")).await.unwrap();
    let received = join_thread("the second libzmq PULL", second, WAIT).await;
    for (i, message) in received[..HWM].iter().enumerate() {
        assert_eq!(
            read_num(&message[0]),
            i as u32,
            "queued messages out of order"
        );
        assert!(*message == numbered(i as u32));
    }
    assert_eq!(
        received[HWM],
        Message::from("live"),
        "a message beyond the high-water mark was queued"
    );
}

#[compio::test]
async fn a_sub_resubscribes_by_itself_to_a_libzmq_pub_restarted_five_times() {
    const PUB_RESTARTS: usize = 5;
    let sub = SubSocket::with_options(SocketOptions::new().reconnect_interval(RECONNECT)).unwrap();
    let monitor = sub.monitor();
    sub.subscribe("a.");
    let mut port = free_port();
    for life in 0..=PUB_RESTARTS {
        // The PUB publishes a non-matching and a matching message every millisecond until told
        // to stop, then is killed.
        let stop = Arc::new(AtomicBool::new(false));
        let (port_tx, port_rx) = mpsc::channel();
        let publisher = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let (ctx, publisher, port) = libzmq_bound(zmq::PUB, port, |_| {});
                port_tx.send(port).unwrap();
                let deadline = Instant::now() + WAIT;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    publisher.send(format!("b.{life}").as_str(), 0).unwrap();
                    publisher.send(format!("a.{life}").as_str(), 0).unwrap();
                    std::thread::sleep(Duration::from_millis(1));
                }
                kill(ctx, publisher);
            }
        });
        port = recv_from_thread("the libzmq PUB's port", &port_rx).await;
        if life == 0 {
            sub.connect(&tcp_port(port)).unwrap();
        }
        // No subscribe call here: the SUB replays its subscription on each new connection.
        let wanted = Message::from(format!("a.{life}"));
        let message = within("a message from the restarted PUB", sub.recv())
            .await
            .unwrap();
        assert_eq!(message, wanted, "life {life}: filtered wrongly");
        stop.store(true, Ordering::Relaxed);
        join_thread("the libzmq PUB", publisher, WAIT).await;
        wait_until("the SUB sees the PUB gone", || sub.connected_peers() == 0).await;
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
