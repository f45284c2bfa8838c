//! monocoque's thread-safe handles against libzmq: several threads sending and receiving on
//! clones at once, with a libzmq peer on the other end of each socket.

use std::collections::HashSet;
use std::thread;
use std::time::Duration;

use monocoque::handle::{Context, Handle};
use monocoque::{Message, SocketOptions, SocketType};

const WAIT_MS: i32 = 10_000;

fn numbered(thread: u32, n: u32) -> Message {
    Message::from(thread.to_be_bytes().to_vec()).with(n.to_be_bytes().to_vec())
}

fn number(frame: &[u8]) -> u32 {
    u32::from_be_bytes(frame.try_into().expect("a four-byte frame"))
}

/// Threads push on clones of a monocoque PUSH handle; a libzmq PULL receives every message once,
/// in each thread's order.
#[test]
fn handle_clones_push_to_a_libzmq_pull() {
    let zmq = zmq::Context::new();
    let pull = zmq.socket(zmq::PULL).expect("a libzmq PULL");
    pull.set_rcvtimeo(WAIT_MS).expect("rcvtimeo");
    pull.bind("tcp://127.0.0.1:*").expect("bind");
    let endpoint = pull
        .get_last_endpoint()
        .expect("last endpoint")
        .expect("utf-8");

    let context = Context::new(1).expect("a context");
    let push = Handle::new(&context, SocketType::Push, SocketOptions::new()).expect("PUSH");
    push.connect(&endpoint).expect("connect");
    const THREADS: u32 = 4;
    const EACH: u32 = 5_000;
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let push = push.clone();
            thread::spawn(move || {
                for n in 0..EACH {
                    push.send(numbered(t, n)).expect("send");
                }
            })
        })
        .collect();
    let mut next = [0u32; THREADS as usize];
    for _ in 0..THREADS * EACH {
        let frames = pull.recv_multipart(0).expect("a message within the wait");
        let (t, n) = (number(&frames[0]), number(&frames[1]));
        assert_eq!(n, next[t as usize], "thread {t}: out of order or lost");
        next[t as usize] += 1;
    }
    for sender in senders {
        sender.join().expect("a sender thread");
    }
    assert_eq!(next, [EACH; THREADS as usize]);
}

/// A libzmq DEALER sends requests to a monocoque ROUTER handle; worker threads take them from
/// clones (competing) and answer through clones; every request is answered exactly once.
#[test]
fn handle_clones_serve_a_libzmq_dealer() {
    let context = Context::new(1).expect("a context");
    let router = Handle::new(&context, SocketType::Router, SocketOptions::new()).expect("ROUTER");
    let endpoint = router.bind("tcp://127.0.0.1:0").expect("bind");

    let zmq = zmq::Context::new();
    let dealer = zmq.socket(zmq::DEALER).expect("a libzmq DEALER");
    dealer.set_rcvtimeo(WAIT_MS).expect("rcvtimeo");
    dealer.set_identity(b"libzmq").expect("identity");
    dealer.connect(&endpoint.to_string()).expect("connect");

    const REQUESTS: u32 = 10_000;
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let router = router.clone();
            thread::spawn(move || {
                let mut served = 0;
                while let Ok(request) = router.recv_timeout(Duration::from_millis(500)) {
                    // [routing id, n] -> [routing id, n, "done"]
                    router.send(request.with("done")).expect("reply");
                    served += 1;
                }
                served
            })
        })
        .collect();
    for n in 0..REQUESTS {
        dealer.send(&n.to_be_bytes()[..], 0).expect("request");
    }
    let mut answered = HashSet::new();
    for _ in 0..REQUESTS {
        let frames = dealer.recv_multipart(0).expect("a reply within the wait");
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert_eq!(frames[1], b"done");
        assert!(answered.insert(number(&frames[0])), "answered twice");
    }
    let served: u32 = workers
        .into_iter()
        .map(|w| w.join().expect("a worker thread"))
        .sum();
    assert_eq!(served, REQUESTS);
    assert_eq!(answered.len(), REQUESTS as usize);
}

/// A monocoque REQ handle used from two threads in turn against a libzmq REP: each request is
/// answered, and the lock-step holds across threads.
#[test]
fn a_req_handle_talks_to_a_libzmq_rep() {
    let zmq = zmq::Context::new();
    let rep = zmq.socket(zmq::REP).expect("a libzmq REP");
    rep.set_rcvtimeo(WAIT_MS).expect("rcvtimeo");
    rep.bind("tcp://127.0.0.1:*").expect("bind");
    let endpoint = rep
        .get_last_endpoint()
        .expect("last endpoint")
        .expect("utf-8");
    let server = thread::spawn(move || {
        for _ in 0..2_000 {
            let request = rep.recv_multipart(0).expect("a request within the wait");
            rep.send_multipart(request.iter().chain([&b"ok".to_vec()]), 0)
                .expect("reply");
        }
    });

    let context = Context::new(1).expect("a context");
    let req = Handle::new(&context, SocketType::Req, SocketOptions::new()).expect("REQ");
    req.connect(&endpoint).expect("connect");
    let clients: Vec<_> = (0..2u32)
        .map(|t| {
            let req = req.clone();
            thread::spawn(move || {
                let mut done = 0;
                while done < 1_000 {
                    // The other thread may be mid round trip: then it is not our turn.
                    match req.try_send(numbered(t, done)) {
                        Ok(()) => {}
                        Err(error) => {
                            assert_eq!(error.kind(), monocoque::SendErrorKind::InvalidState);
                            thread::yield_now();
                            continue;
                        }
                    }
                    let reply = req.recv().expect("a reply");
                    assert_eq!(&reply[2][..], b"ok");
                    done += 1;
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client thread");
    }
    server.join().expect("the libzmq server");
}

/// Tasks of a multi-threaded tokio runtime send requests on clones of a DEALER handle to a
/// libzmq ROUTER that echoes them, and take the replies on clones with `recv_async`: every
/// request comes back exactly once.
#[test]
fn tokio_tasks_on_handle_clones_talk_to_a_libzmq_router() {
    let zmq = zmq::Context::new();
    let router = zmq.socket(zmq::ROUTER).expect("a libzmq ROUTER");
    router.set_rcvtimeo(WAIT_MS).expect("rcvtimeo");
    router.bind("tcp://127.0.0.1:*").expect("bind");
    let endpoint = router
        .get_last_endpoint()
        .expect("last endpoint")
        .expect("utf-8");
    const TASKS: u32 = 4;
    const EACH: u32 = 500;
    let echo = thread::spawn(move || {
        for _ in 0..TASKS * EACH {
            let frames = router.recv_multipart(0).expect("a request within the wait");
            router.send_multipart(frames, 0).expect("echo");
        }
    });

    let context = Context::new(2).expect("a context");
    let dealer = Handle::new(&context, SocketType::Dealer, SocketOptions::new()).expect("DEALER");
    dealer.connect(&endpoint).expect("connect");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let replies = runtime.block_on(async {
        let senders: Vec<_> = (0..TASKS)
            .map(|t| {
                let dealer = dealer.clone();
                tokio::spawn(async move {
                    for n in 0..EACH {
                        dealer.send_async(numbered(t, n)).await.expect("send");
                    }
                })
            })
            .collect();
        let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let deadline = tokio::time::Instant::now() + Duration::from_millis(WAIT_MS as u64);
        let receivers: Vec<_> = (0..TASKS)
            .map(|_| {
                let dealer = dealer.clone();
                let received = received.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    let total = (TASKS * EACH) as usize;
                    // Each receiver stops once the receivers between them have every reply.
                    while received.load(std::sync::atomic::Ordering::SeqCst) < total
                        && tokio::time::Instant::now() < deadline
                    {
                        let poll = Duration::from_millis(50);
                        match tokio::time::timeout(poll, dealer.recv_async()).await {
                            Ok(Ok(message)) => {
                                got.push((number(&message[0]), number(&message[1])));
                                received.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            }
                            Ok(Err(error)) => panic!("recv: {error}"),
                            Err(_) => {}
                        }
                    }
                    got
                })
            })
            .collect();
        for sender in senders {
            sender.await.expect("a sending task");
        }
        let mut all = HashSet::new();
        let mut count = 0;
        // The receivers compete: between them they see every reply.
        for receiver in receivers {
            for reply in receiver.await.expect("a receiving task") {
                count += 1;
                all.insert(reply);
            }
        }
        (count, all)
    });
    echo.join().expect("the echo thread");
    let (count, all) = replies;
    assert_eq!(count, (TASKS * EACH) as usize, "a reply lost or duplicated");
    assert_eq!(all.len(), (TASKS * EACH) as usize);
}
