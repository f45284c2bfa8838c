//! Send and receive are cancel-safe: dropping a `send` or `recv` future (here: polled once then
//! dropped, or cut short by timeouts of 10 µs to 1 ms) never loses, duplicates, reorders or
//! half-delivers a message, and never leaves the connection out of sync.
//!
//! Each test moves 100,000 numbered multipart messages through small queues and small kernel
//! buffers, so that senders really block and receivers really wait; the senders and the
//! receivers stall in turns to make sure of it. A cancelled send is retried with the same
//! message: a dropped send future either queued the whole message or nothing, so a duplicate
//! would show as a number arriving twice. Every receive checks the next number, whole.

mod common;
mod fault_common;

use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{TCP_ANY, num, read_num, wait_until, within};
use fault_common::{
    Rx, TIMEOUTS, Tx, connection_events, numbered, poll_once, small_queues, yield_now,
};
use monocoque::{DealerSocket, Message, PullSocket, PushSocket, SocketOptions};

/// Messages per test.
const TOTAL: u32 = 100_000;

/// The longest a whole test may take.
const LIMIT: Duration = Duration::from_secs(60);

/// Every this many messages, a sender (or receiver) stalls for [`STALL`], so that the other side
/// is sure to block (or wait) and be cancelled while it does.
const STALL_EVERY: u32 = 250;
const STALL: Duration = Duration::from_millis(2);

/// How many operations were cancelled, by how.
#[derive(Debug, Default, Clone, Copy)]
struct Cancelled {
    /// Polled once, pending, dropped.
    polled_once: u64,
    /// Cut short by a timer of 10 µs, 100 µs or 1 ms.
    timed_out: [u64; 3],
}

impl Cancelled {
    fn total(&self) -> u64 {
        self.polled_once + self.timed_out.iter().sum::<u64>()
    }
}

/// Runs `future` under cancellation style `attempt % 4`: polled once, or a timeout from
/// [`TIMEOUTS`]. `None` (and the count) if it was cancelled.
async fn cancellable<F: Future>(
    attempt: u64,
    cancelled: &mut Cancelled,
    future: F,
) -> Option<F::Output> {
    let style = (attempt % 4) as usize;
    let output = if style == 0 {
        poll_once(future).await
    } else {
        compio::time::timeout(TIMEOUTS[style - 1], future)
            .await
            .ok()
    };
    if output.is_none() {
        if style == 0 {
            cancelled.polled_once += 1;
        } else {
            cancelled.timed_out[style - 1] += 1;
        }
        // A cancelled poll-once has not yielded: let the connections move.
        yield_now().await;
    }
    output
}

/// Sends `numbered(0..count)`, each under cancellation, retrying a cancelled send with the same
/// message.
async fn send_all(tx: &impl Tx, count: u32) -> Cancelled {
    let mut cancelled = Cancelled::default();
    let mut attempt = 0u64;
    for i in 0..count {
        let message = numbered(i);
        loop {
            attempt += 1;
            let sent = cancellable(attempt, &mut cancelled, tx.send_msg(message.clone())).await;
            if let Some(result) = sent {
                result.unwrap_or_else(|e| panic!("send {i} failed: {e}"));
                break;
            }
        }
        if i % STALL_EVERY == STALL_EVERY / 2 {
            // The receiver runs dry and waits: its receives get cancelled.
            compio::time::sleep(STALL).await;
        }
    }
    cancelled
}

/// Receives `count` messages, each under cancellation, checking that they are
/// `numbered(0..count)`, in order, each whole and once.
async fn recv_all(rx: &impl Rx, count: u32, what: &str) -> Cancelled {
    let mut cancelled = Cancelled::default();
    let mut attempt = 0u64;
    let mut next = 0u32;
    while next < count {
        attempt += 1;
        let Some(received) = cancellable(attempt, &mut cancelled, rx.recv_msg()).await else {
            continue;
        };
        let message = received.unwrap_or_else(|e| panic!("{what}: recv failed: {e}"));
        if message != numbered(next) {
            let got = message
                .first()
                .filter(|f| f.len() == 4)
                .map(|f| read_num(f));
            panic!(
                "{what}: expected message {next} whole, got number {got:?} with {} frames \
                 (a loss, duplicate, reorder or torn message)",
                message.len()
            );
        }
        next += 1;
        if next % STALL_EVERY == 0 {
            // The sender's queue and the kernel buffers fill: its sends get cancelled.
            compio::time::sleep(STALL).await;
        }
    }
    cancelled
}

/// Both kinds of cancellation hit both sides. Which timeouts fire depends on scheduling (on a
/// loaded machine a 10 µs timer may never beat the operation it races), so at least one of the
/// three is asked for, not each.
fn assert_cancelled_both_ways(what: &str, sends: Cancelled, receives: Cancelled) {
    for (side, cancelled) in [("send", sends), ("recv", receives)] {
        assert!(
            cancelled.polled_once > 0 && cancelled.timed_out.iter().any(|&n| n > 0),
            "{what}: poll-once and timeout cancellations must both have hit {side}: {cancelled:?}"
        );
    }
}

#[compio::test]
async fn push_pull_survive_100_000_cancelled_sends_and_receives() {
    let started = Instant::now();
    let pull = PullSocket::with_options(small_queues()).unwrap();
    let pull_monitor = pull.monitor();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let push = Rc::new(PushSocket::with_options(small_queues()).unwrap());
    let push_monitor = push.monitor();
    push.connect(&endpoint).unwrap();
    wait_until("connected", || push.connected_peers() == 1).await;

    let sender = compio::runtime::spawn({
        let push = push.clone();
        async move { send_all(&*push, TOTAL).await }
    });
    let receives = compio::time::timeout(LIMIT, recv_all(&pull, TOTAL, "PUSH to PULL"))
        .await
        .expect("the receiver finished in time");
    let sends = within("the sender", sender).await.unwrap();
    let elapsed = started.elapsed();

    // The connection is still in sync: one more message goes through, and nothing is left.
    within("a last send", push.send(numbered(TOTAL)))
        .await
        .unwrap();
    assert_eq!(
        within("a last recv", pull.recv()).await.unwrap(),
        numbered(TOTAL)
    );
    assert!(pull.try_recv().is_err(), "a message arrived twice");
    // On the same connection throughout.
    assert_eq!(connection_events(&push_monitor), (1, 0), "PUSH connections");
    assert_eq!(connection_events(&pull_monitor), (1, 0), "PULL connections");
    println!(
        "PUSH to PULL, {TOTAL} messages in {elapsed:?}: {} sends cancelled {sends:?}, {} \
         receives cancelled {receives:?}",
        sends.total(),
        receives.total()
    );
    assert_cancelled_both_ways("PUSH to PULL", sends, receives);
}

#[compio::test]
async fn dealers_survive_100_000_cancelled_sends_and_receives_both_ways() {
    const EACH_WAY: u32 = TOTAL / 2;
    let started = Instant::now();
    let a = Rc::new(DealerSocket::with_options(small_queues()).unwrap());
    let a_monitor = a.monitor();
    let endpoint = a.bind(TCP_ANY).await.unwrap().to_string();
    let b = Rc::new(DealerSocket::with_options(small_queues()).unwrap());
    let b_monitor = b.monitor();
    b.connect(&endpoint).unwrap();
    wait_until("connected", || {
        a.connected_peers() == 1 && b.connected_peers() == 1
    })
    .await;

    let spawn_send = |from: &Rc<DealerSocket>| {
        let from = from.clone();
        compio::runtime::spawn(async move { send_all(&*from, EACH_WAY).await })
    };
    let a_sends = spawn_send(&a);
    let b_sends = spawn_send(&b);
    let b_receives = compio::runtime::spawn({
        let b = b.clone();
        async move { recv_all(&*b, EACH_WAY, "DEALER a to b").await }
    });
    let a_receives = compio::time::timeout(LIMIT, recv_all(&*a, EACH_WAY, "DEALER b to a"))
        .await
        .expect("a's receiver finished in time");
    let b_receives = compio::time::timeout(LIMIT, b_receives)
        .await
        .expect("b's receiver finished in time")
        .unwrap();
    let a_sends = within("a's sender", a_sends).await.unwrap();
    let b_sends = within("b's sender", b_sends).await.unwrap();
    let elapsed = started.elapsed();

    for (from, to) in [(&a, &b), (&b, &a)] {
        within("a last send", from.send(numbered(EACH_WAY)))
            .await
            .unwrap();
        assert_eq!(
            within("a last recv", to.recv()).await.unwrap(),
            numbered(EACH_WAY)
        );
        assert!(to.try_recv().is_err(), "a message arrived twice");
    }
    assert_eq!(connection_events(&a_monitor), (1, 0), "a's connections");
    assert_eq!(connection_events(&b_monitor), (1, 0), "b's connections");
    println!(
        "DEALER both ways, {EACH_WAY} messages each way in {elapsed:?}: a->b {} sends \
         cancelled {a_sends:?}, {} receives cancelled {b_receives:?}; b->a {} sends cancelled \
         {b_sends:?}, {} receives cancelled {a_receives:?}",
        a_sends.total(),
        b_receives.total(),
        b_sends.total(),
        a_receives.total()
    );
    assert_cancelled_both_ways("DEALER a to b", a_sends, b_receives);
    assert_cancelled_both_ways("DEALER b to a", b_sends, a_receives);
}

/// A send that never waits (a high-water mark no test reaches) still gives the runtime a turn
/// now and then; a caller that drops the future at that turn must find nothing sent. Each send
/// here is polled once and retried with the same message while it is pending.
#[compio::test]
async fn a_send_polled_once_and_retried_is_delivered_once() {
    const COUNT: u32 = 10_000;
    let options = || SocketOptions::new().send_hwm(1_000_000).recv_hwm(1_000_000);
    let pull = PullSocket::with_options(options()).unwrap();
    let endpoint = pull.bind(TCP_ANY).await.unwrap().to_string();
    let push = PushSocket::with_options(options()).unwrap();
    push.connect(&endpoint).unwrap();
    wait_until("connected", || push.connected_peers() == 1).await;
    let mut pending = 0u32;
    for i in 0..COUNT {
        loop {
            match poll_once(push.send(Message::single(num(i)))).await {
                Some(result) => {
                    result.unwrap();
                    break;
                }
                None => {
                    pending += 1;
                    yield_now().await;
                }
            }
        }
    }
    assert!(pending > 0, "no send ever yielded: the test proves nothing");
    for i in 0..COUNT {
        let message = within("a message", pull.recv()).await.unwrap();
        assert_eq!(read_num(&message[0]), i, "lost, duplicated or reordered");
    }
    // Nothing more arrives: a duplicate would be here by now, behind a last message.
    push.send(Message::single(num(COUNT))).await.unwrap();
    let last = within("the last message", pull.recv()).await.unwrap();
    assert_eq!(read_num(&last[0]), COUNT, "a duplicate arrived");
    println!("{COUNT} sends, {pending} of them pending once and retried");
}
