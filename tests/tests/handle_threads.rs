//! Thread-safe handles from plain threads and from a multi-threaded tokio runtime: clones
//! sending and receiving at once, backpressure, cancel safety of the async methods, close from
//! another thread, and a context that ends with its threads joined.

use std::collections::HashSet;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use monocoque::handle::{Context, HANDLE_QUEUE, Handle};
use monocoque::{Message, RecvError, SendErrorKind, SocketOptions, SocketType};

/// The longest any wait of these tests may take.
const WAIT: Duration = Duration::from_secs(10);

fn numbered(thread: u32, n: u32) -> Message {
    Message::from(thread.to_be_bytes().to_vec()).with(n.to_be_bytes().to_vec())
}

fn number(frame: &[u8]) -> u32 {
    u32::from_be_bytes(frame.try_into().expect("a four-byte frame"))
}

fn pair(context: &Context, sender: SocketType, receiver: SocketType) -> (Handle, Handle) {
    let receive = Handle::new(context, receiver, SocketOptions::new()).expect("a receiver");
    let endpoint = receive.bind("tcp://127.0.0.1:0").expect("bind");
    let send = Handle::new(context, sender, SocketOptions::new()).expect("a sender");
    send.connect(&endpoint.to_string()).expect("connect");
    (send, receive)
}

/// Runs `f` on a thread and fails the test if it does not finish within [`WAIT`].
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(f());
    });
    result
        .recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?}: {what}"))
}

#[test]
fn threads_send_on_clones_and_every_message_arrives_once_in_order() {
    let context = Context::new(1).unwrap();
    let (push, pull) = pair(&context, SocketType::Push, SocketType::Pull);
    const THREADS: u32 = 4;
    const EACH: u32 = 20_000;
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let push = push.clone();
            thread::spawn(move || {
                for n in 0..EACH {
                    push.send(numbered(t, n)).unwrap();
                }
            })
        })
        .collect();
    drop(push);
    let received = within("receive everything", move || {
        let mut next = [0u32; THREADS as usize];
        for _ in 0..THREADS * EACH {
            let message = pull.recv().unwrap();
            let (t, n) = (number(&message[0]), number(&message[1]));
            assert_eq!(n, next[t as usize], "thread {t}: out of order or lost");
            next[t as usize] += 1;
        }
        assert_eq!(pull.try_recv(), Err(RecvError::WouldBlock));
        next
    });
    assert_eq!(received, [EACH; THREADS as usize]);
    for sender in senders {
        sender.join().unwrap();
    }
}

#[test]
fn receiving_clones_compete_for_messages() {
    let context = Context::new(2).unwrap();
    let (push, pull) = pair(&context, SocketType::Push, SocketType::Pull);
    const TOTAL: u32 = 20_000;
    let (seen, all) = mpsc::channel();
    let receivers: Vec<_> = (0..3)
        .map(|_| {
            let pull = pull.clone();
            let seen = seen.clone();
            thread::spawn(move || {
                while let Ok(message) = pull.recv_timeout(Duration::from_millis(500)) {
                    seen.send(number(&message[1])).unwrap();
                }
            })
        })
        .collect();
    drop(seen);
    for n in 0..TOTAL {
        push.send(numbered(0, n)).unwrap();
    }
    let numbers: Vec<u32> = within("receive", move || all.iter().collect());
    let distinct: HashSet<u32> = numbers.iter().copied().collect();
    assert_eq!(numbers.len(), TOTAL as usize, "a message twice, or lost");
    assert_eq!(distinct.len(), TOTAL as usize);
    for receiver in receivers {
        receiver.join().unwrap();
    }
}

#[test]
fn a_blocked_recv_is_woken_by_shutdown_on_another_thread() {
    let context = Context::new(1).unwrap();
    let pull = Handle::new(&context, SocketType::Pull, SocketOptions::new()).unwrap();
    let blocked = pull.clone();
    let (result, woken) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let _ = result.send(blocked.recv());
    });
    // Let the waiter block (it may not have yet: then it sees the closed socket at once).
    thread::sleep(Duration::from_millis(20));
    within("shutdown", move || pull.shutdown());
    assert_eq!(woken.recv_timeout(WAIT).unwrap(), Err(RecvError::Closed));
    waiter.join().unwrap();
}

#[test]
fn backpressure_reaches_the_caller_with_no_hidden_queue() {
    let context = Context::new(1).unwrap();
    let hwm = 100;
    let push = Handle::new(
        &context,
        SocketType::Push,
        SocketOptions::new()
            .send_hwm(hwm)
            .linger(Some(Duration::ZERO)),
    )
    .unwrap();
    // A connecting endpoint with nobody there: its queue takes `hwm` messages.
    push.connect("tcp://127.0.0.1:1").unwrap();
    let deadline = Instant::now() + WAIT;
    let mut accepted = 0;
    loop {
        match push.send_timeout(numbered(0, accepted as u32), Duration::from_millis(50)) {
            Ok(()) => accepted += 1,
            Err(error) => {
                assert_eq!(error.kind(), SendErrorKind::TimedOut);
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{accepted} accepted and no backpressure"
        );
    }
    // A timed-out send only says the I/O thread did not make room in time: top up with
    // `try_send` until it refuses, then count.
    loop {
        match push.try_send("more") {
            Ok(()) => accepted += 1,
            Err(error) => {
                assert_eq!(error.kind(), SendErrorKind::WouldBlock);
                assert_eq!(error.into_message(), Message::from("more"));
                break;
            }
        }
        assert!(accepted <= 2 * (hwm + HANDLE_QUEUE), "no backpressure");
    }
    // The socket's queue, the message the I/O thread holds, and the handle's queue.
    assert!(
        accepted <= hwm + 1 + HANDLE_QUEUE,
        "{accepted} accepted: more than the high-water mark and the handle's queue"
    );
    assert!(
        accepted >= hwm,
        "{accepted} accepted: less than the high-water mark"
    );
}

#[test]
fn dropping_the_last_handle_still_delivers_what_it_queued() {
    let context = Context::new(1).unwrap();
    let (push, pull) = pair(&context, SocketType::Push, SocketType::Pull);
    for n in 0..5_000 {
        push.send(numbered(0, n)).unwrap();
    }
    drop(push);
    within("receive after the sender is gone", move || {
        for n in 0..5_000 {
            let message = pull.recv().unwrap();
            assert_eq!(number(&message[1]), n);
        }
    });
}

/// The threads of this process whose name starts with `prefix` (Linux: /proc).
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .filter(|name| name.starts_with(prefix))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_context_ends_once_its_sockets_are_closed_and_leaves_no_thread() {
    let context = Context::new(2).unwrap();
    let prefix = context.thread_name_prefix().unwrap();
    assert_eq!(threads_named(&prefix), 2, "{prefix}");
    let (push, pull) = pair(&context, SocketType::Push, SocketType::Pull);
    push.send("last").unwrap();
    assert_eq!(pull.recv().unwrap(), Message::from("last"));
    drop((push, pull));
    within("term", move || context.term());
    // `term` joined the threads; the kernel drops a joined thread from /proc a moment after the
    // join returns (the join wakes on the thread's exit, before its task is released).
    let deadline = Instant::now() + Duration::from_secs(1);
    while threads_named(&prefix) > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(threads_named(&prefix), 0, "an I/O thread outlived term");
}

#[test]
fn async_sends_dropped_before_ready_sent_nothing() {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context as TaskContext, Poll};

    let context = Context::new(1).unwrap();
    let (push, pull) = pair(&context, SocketType::Push, SocketType::Pull);
    const TOTAL: u32 = 50_000;
    let waker = futures_util::task::noop_waker();
    let mut cx = TaskContext::from_waker(&waker);
    let receiver = thread::spawn(move || {
        let mut seen = Vec::with_capacity(TOTAL as usize);
        while seen.len() < TOTAL as usize {
            match pull.recv_timeout(WAIT) {
                Ok(message) => seen.push(number(&message[1])),
                Err(error) => panic!("after {}: {error}", seen.len()),
            }
        }
        assert_eq!(pull.try_recv(), Err(RecvError::WouldBlock), "a duplicate");
        seen
    });
    let mut pending = 0;
    let mut n = 0;
    while n < TOTAL {
        // Polled once, then dropped if it is not Ready: it must have sent nothing.
        let poll = pin!(push.send_async(numbered(0, n))).poll(&mut cx);
        match poll {
            Poll::Ready(result) => {
                result.unwrap();
                n += 1;
            }
            Poll::Pending => {
                pending += 1;
                thread::yield_now();
            }
        }
    }
    let seen = receiver.join().unwrap();
    assert!(
        seen.iter().copied().eq(0..TOTAL),
        "lost, doubled or reordered"
    );
    eprintln!("{pending} sends were dropped pending and retried");
}

#[test]
fn tokio_tasks_use_clones_from_many_threads() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let context = Context::new(1).unwrap();
    let (dealer, router) = pair(&context, SocketType::Dealer, SocketType::Router);
    const TASKS: u32 = 4;
    const EACH: u32 = 5_000;
    let received = runtime.block_on(async move {
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let dealer = dealer.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0..EACH {
                    dealer.send_async(numbered(t, n)).await.unwrap();
                }
            }));
        }
        let receive = tokio::spawn(async move {
            let mut next = [0u32; TASKS as usize];
            for _ in 0..TASKS * EACH {
                let message = tokio::time::timeout(WAIT, router.recv_async())
                    .await
                    .expect("a message within the wait")
                    .unwrap();
                // [routing id, thread, n]
                let (t, n) = (number(&message[1]), number(&message[2]));
                assert_eq!(n, next[t as usize]);
                next[t as usize] += 1;
            }
            next
        });
        for task in tasks {
            task.await.unwrap();
        }
        receive.await.unwrap()
    });
    assert_eq!(received, [EACH; TASKS as usize]);
}

#[test]
fn a_thread_that_panics_holding_the_last_handle_does_not_take_the_process() {
    let context = Context::new(1).unwrap();
    let (push, pull) = pair(&context, SocketType::Push, SocketType::Pull);
    push.send("before the panic").unwrap();
    let panicking = thread::spawn(move || {
        let _last = push;
        panic!("the application fails while holding a handle");
    });
    assert!(panicking.join().is_err());
    // The socket closed in the background, and what it queued still arrived.
    let message = within("recv", move || pull.recv().unwrap());
    assert_eq!(message, Message::from("before the panic"));
}

#[test]
fn req_and_rep_handles_keep_the_lock_step_from_any_thread() {
    let context = Context::new(1).unwrap();
    let (req, rep) = pair(&context, SocketType::Req, SocketType::Rep);
    // Out of turn on either side, before anything happened.
    assert_eq!(req.try_recv(), Err(RecvError::InvalidState));
    assert_eq!(
        rep.try_send("no request yet").unwrap_err().kind(),
        SendErrorKind::InvalidState
    );
    let server = thread::spawn(move || {
        for _ in 0..1_000 {
            let request = rep.recv().unwrap();
            assert_eq!(
                rep.try_recv(),
                Err(RecvError::InvalidState),
                "a second request before the reply"
            );
            rep.send(request.with("done")).unwrap();
        }
    });
    within("1,000 round trips", move || {
        for n in 0..1_000u32 {
            req.send(numbered(0, n)).unwrap();
            assert_eq!(
                req.try_send("again").unwrap_err().kind(),
                SendErrorKind::InvalidState,
                "a second request before the reply"
            );
            let reply = req.recv().unwrap();
            assert_eq!(number(&reply[1]), n);
            assert_eq!(&reply[2][..], b"done");
        }
    });
    server.join().unwrap();
}

#[test]
fn handles_are_a_stream_and_a_sink_on_tokio() {
    use futures_util::{SinkExt, StreamExt};
    use monocoque::handle::{PullSocket, PushSocket};

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let context = Context::new(1).unwrap();
    let pull = PullSocket::on(&context, SocketOptions::new()).unwrap();
    let endpoint = pull.bind("tcp://127.0.0.1:0").unwrap();
    let push = PushSocket::on(&context, SocketOptions::new()).unwrap();
    push.connect(&endpoint.to_string()).unwrap();
    const TOTAL: u32 = 10_000;
    let got: Vec<u32> = runtime.block_on(async move {
        let sending = tokio::spawn(async move {
            let mut sink = push.sink();
            for n in 0..TOTAL {
                sink.feed(numbered(0, n)).await.unwrap();
            }
            sink.flush().await.unwrap();
        });
        let numbers = tokio::time::timeout(
            WAIT,
            pull.stream()
                .take(TOTAL as usize)
                .map(|message| number(&message[1]))
                .collect::<Vec<_>>(),
        )
        .await
        .expect("every message within the wait");
        sending.await.unwrap();
        numbers
    });
    assert!(got.into_iter().eq(0..TOTAL), "lost, doubled or reordered");
}

#[test]
fn a_poller_wakes_for_the_handle_that_became_ready() {
    use monocoque::handle::{Interest, Poller};

    let context = Context::new(1).unwrap();
    let (push_a, pull_a) = pair(&context, SocketType::Push, SocketType::Pull);
    let (push_b, pull_b) = pair(&context, SocketType::Push, SocketType::Pull);
    let mut poller = Poller::new();
    assert_eq!(poller.add(&pull_a, Interest::READABLE), 0);
    assert_eq!(poller.add(&pull_b, Interest::READABLE), 1);
    assert_eq!(poller.add(&push_a, Interest::WRITABLE), 2);
    // The PUSH can queue at once; nothing is readable.
    assert_eq!(poller.poll(), [(2, Interest::WRITABLE)]);
    let mut readers = Poller::new();
    readers.add(&pull_a, Interest::READABLE);
    readers.add(&pull_b, Interest::READABLE);
    let started = Instant::now();
    assert!(readers.wait(Some(Duration::from_millis(30))).is_empty());
    assert!(started.elapsed() >= Duration::from_millis(30));
    // A message sent from another thread wakes a poller blocked without a timeout.
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        push_b.send("wake up").unwrap();
        push_b
    });
    let ready = within("the poller wakes", move || {
        let ready = readers.wait(None);
        (ready, readers)
    });
    assert_eq!(ready.0, [(1, Interest::READABLE)]);
    assert_eq!(pull_b.try_recv().unwrap(), Message::from("wake up"));
    assert_eq!(pull_a.try_recv(), Err(RecvError::WouldBlock));
    drop((sender.join().unwrap(), push_a));
}

#[test]
fn a_blocking_call_on_an_io_thread_fails_instead_of_waiting_for_itself() {
    let context = Context::new(1).unwrap();
    let (push, pull) = pair(&context, SocketType::Push, SocketType::Pull);
    let inside = pull;
    let (seen, outcome) = mpsc::channel();
    // The closure runs on the I/O thread that serves both sockets.
    within("set_options", move || {
        push.set_options(move |options| {
            let _ = seen.send((
                inside.connected_peers().is_err(),
                inside.recv() == Err(RecvError::WouldBlock),
            ));
            options
        })
    })
    .unwrap();
    assert_eq!(outcome.recv_timeout(WAIT).unwrap(), (true, true));
}

#[test]
fn a_receive_timeout_on_the_handle_does_not_stop_its_socket() {
    let context = Context::new(1).unwrap();
    let pull = Handle::new(
        &context,
        SocketType::Pull,
        SocketOptions::new().recv_timeout(Some(Duration::from_millis(20))),
    )
    .unwrap();
    let endpoint = pull.bind("tcp://127.0.0.1:0").unwrap();
    // Idle for several timeouts: each receive says so, and the socket stays alive.
    for _ in 0..5 {
        assert_eq!(pull.recv(), Err(RecvError::TimedOut));
    }
    assert_eq!(
        pull.options().unwrap().recv_timeout_value(),
        Some(Duration::from_millis(20))
    );
    let push = Handle::new(&context, SocketType::Push, SocketOptions::new()).unwrap();
    push.connect(&endpoint.to_string()).unwrap();
    push.send("late").unwrap();
    let message = within("a message after the timeouts", move || {
        loop {
            match pull.recv() {
                Err(RecvError::TimedOut) => continue,
                other => break other,
            }
        }
    });
    assert_eq!(message, Ok(Message::from("late")));
}

#[test]
fn what_a_handle_cannot_report_is_refused_up_front() {
    let context = Context::new(1).unwrap();
    let refused = Handle::new(
        &context,
        SocketType::Router,
        SocketOptions::new().router_mandatory(true),
    );
    assert!(matches!(refused, Err(monocoque::Error::Unsupported(_))));
    let router = Handle::new(&context, SocketType::Router, SocketOptions::new()).unwrap();
    assert!(matches!(
        router.set_options(|o| o.router_mandatory(true)),
        Err(monocoque::Error::Unsupported(_))
    ));
    let relaxed = Handle::new(
        &context,
        SocketType::Req,
        SocketOptions::new().req_relaxed(true),
    );
    assert!(matches!(relaxed, Err(monocoque::Error::Unsupported(_))));
}

#[test]
fn a_stream_on_a_lock_step_socket_takes_nothing() {
    use futures_util::StreamExt;

    let context = Context::new(1).unwrap();
    let (req, rep) = pair(&context, SocketType::Req, SocketType::Rep);
    req.send("question").unwrap();
    // REP's receives must alternate with its sends: its stream is empty, and the request
    // stays for `recv`.
    let mut stream = rep.stream();
    let waker = futures_util::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    assert_eq!(
        stream.poll_next_unpin(&mut cx),
        std::task::Poll::Ready(None)
    );
    let request = within("recv", move || {
        let request = rep.recv_timeout(WAIT);
        (request, rep)
    });
    assert_eq!(request.0, Ok(Message::from("question")));
    request.1.send("answer").unwrap();
    assert_eq!(req.recv_timeout(WAIT), Ok(Message::from("answer")));
}

#[test]
fn shutdown_on_an_io_thread_returns_instead_of_waiting_for_itself() {
    let context = Context::new(1).unwrap();
    let (push, pull) = pair(&context, SocketType::Push, SocketType::Pull);
    let other = pull.clone();
    within("set_options", move || {
        push.set_options(move |options| {
            other.shutdown();
            options
        })
    })
    .unwrap();
    // The close it asked for happens once the I/O thread is free.
    within("closed", move || {
        while !pull.is_closed() {
            thread::sleep(Duration::from_millis(1));
        }
    });
}

#[test]
fn a_poller_reports_a_socket_closed_by_another_thread() {
    use monocoque::handle::{Interest, Poller};

    let context = Context::new(1).unwrap();
    let pull = Handle::new(&context, SocketType::Pull, SocketOptions::new()).unwrap();
    let mut poller = Poller::new();
    poller.add(&pull, Interest::READABLE);
    let closer = pull.clone();
    let closing = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        closer.shutdown();
    });
    let ready = within("the poller sees the close", move || poller.wait(None));
    assert_eq!(ready, [(0, Interest::READABLE)]);
    assert_eq!(pull.try_recv(), Err(RecvError::Closed));
    closing.join().unwrap();
}

#[test]
fn shutdown_ends_a_wait_connected_in_progress() {
    let context = Context::new(1).unwrap();
    let push = Handle::new(&context, SocketType::Push, SocketOptions::new()).unwrap();
    let waiting = push.clone();
    let (result, outcome) = mpsc::channel();
    let waiter = thread::spawn(move || {
        // Nobody will ever connect.
        let _ = result.send(waiting.wait_connected(None));
    });
    thread::sleep(Duration::from_millis(20));
    within("shutdown", move || push.shutdown());
    let ended = outcome
        .recv_timeout(WAIT)
        .expect("the wait ended with the socket");
    assert!(ended.is_err(), "{ended:?}");
    waiter.join().unwrap();
    within("term", move || context.term());
}

#[test]
fn a_poller_sees_a_req_writable_only_in_its_turn() {
    use monocoque::handle::{Interest, Poller};

    let context = Context::new(1).unwrap();
    let (req, rep) = pair(&context, SocketType::Req, SocketType::Rep);
    let mut poller = Poller::new();
    poller.add(&req, Interest::BOTH);
    assert_eq!(poller.poll(), [(0, Interest::WRITABLE)]);
    req.send("question").unwrap();
    // Waiting for the reply: neither a send nor, yet, a receive.
    assert!(poller.poll().is_empty());
    let request = rep.recv_timeout(WAIT).unwrap();
    rep.send(request).unwrap();
    let ready = within("the reply", move || poller.wait(Some(WAIT)));
    assert_eq!(ready, [(0, Interest::READABLE)]);
    assert_eq!(req.recv().unwrap(), Message::from("question"));
}

/// A send high-water mark of 0 asks for no limit, as in libzmq: the handle's own queue then has
/// none either, and sends with nobody to take them never wait.
#[test]
fn a_zero_high_water_mark_makes_the_handle_unbounded_too() {
    let context = Context::new(1).unwrap();
    let push = Handle::new(
        &context,
        SocketType::Push,
        SocketOptions::new()
            .send_hwm(0)
            .linger(Some(Duration::ZERO)),
    )
    .unwrap();
    push.connect("tcp://127.0.0.1:1").unwrap();
    for n in 0..(8 * HANDLE_QUEUE) as u32 {
        push.try_send(numbered(0, n))
            .unwrap_or_else(|error| panic!("message {n} refused: {error}"));
    }
    // The default keeps its bound.
    let bounded = Handle::new(
        &context,
        SocketType::Push,
        SocketOptions::new().linger(Some(Duration::ZERO)),
    )
    .unwrap();
    bounded.connect("tcp://127.0.0.1:1").unwrap();
    let refused =
        (0..(8 * HANDLE_QUEUE) as u32).find(|n| bounded.try_send(numbered(1, *n)).is_err());
    assert!(refused.is_some(), "a default handle took everything");
}

#[test]
fn curve_between_handles_with_the_user_id_on_the_server_handle() {
    let context = Context::new(1).expect("a context");
    let server_keys = monocoque::curve::CurveKeyPair::generate();
    let client_keys = monocoque::curve::CurveKeyPair::generate();
    let allowed = client_keys.public;
    let pull = Handle::new(
        &context,
        SocketType::Pull,
        SocketOptions::new()
            .curve_server(true)
            .curve_keypair(&server_keys)
            .authenticator(move |request: &monocoque::proto::AuthRequest<'_>| {
                if request.curve_key == Some(&allowed) {
                    monocoque::proto::AuthDecision::Allow {
                        user_id: "handle-user".into(),
                    }
                } else {
                    monocoque::proto::AuthDecision::Deny { status: 400 }
                }
            }),
    )
    .expect("PULL");
    let endpoint = pull.bind("tcp://127.0.0.1:0").expect("bind");
    let push = Handle::new(
        &context,
        SocketType::Push,
        SocketOptions::new()
            .curve_server_key(server_keys.public)
            .curve_keypair(&client_keys),
    )
    .expect("PUSH");
    push.connect(&endpoint.to_string()).expect("connect");
    push.send("from a thread").expect("send");
    let got = pull
        .recv_timeout(Duration::from_secs(5))
        .expect("the message");
    assert_eq!(got, Message::from("from a thread"));
    let peers = pull.peers().expect("peers");
    assert_eq!(peers.len(), 1);
    assert_eq!(
        peers[0].user_id().map(|u| &u[..]),
        Some(&b"handle-user"[..])
    );
}
