//! Cancellation at scale, for the patterns `fault_cancel.rs` does not cover: PUB/SUB,
//! DEALER/ROUTER (an echo along the routing id) and REQ/REP (lock-step). Every send and every
//! receive runs under cancellation: polled once then dropped, or cut short by a timeout of
//! 10 µs, 100 µs or 1 ms. A cancelled operation is retried with the same message, and the other
//! end checks that every numbered multipart message arrives whole, once and in order: a dropped
//! `send` or `recv` future did nothing.
//!
//! The styles rotate as in `fault_cancel.rs`, except that only an operation that had to wait
//! (pending at its first poll) takes the next style: one that completes at once cannot be
//! cancelled anyway, and a PUB, a REQ or a REP send waits only at the runtime turn it gives every
//! 256 sends in a row, a period that a rotation over all operations would meet at the same
//! style every time (256 is a multiple of 4).
//!
//! The number of messages per test comes from `MONOCOQUE_CANCEL_MESSAGES` (default 20,000, a
//! few seconds each in a debug build); a manual run can push it up:
//!
//! ```text
//! MONOCOQUE_CANCEL_MESSAGES=200000 cargo test --release -p monocoque-tests \
//!     --test fault_cancel_scale -- --nocapture
//! ```
//!
//! Each test prints one line: messages, operations (sends and receives, completed and
//! cancelled), cancellations by style on each side, and the time taken.
//!
//! Small queues and socket buffers make senders block. PUB/SUB and REQ/REP run on loopback TCP;
//! DEALER/ROUTER, which holds both directions full for a while, runs over IPC (its test says
//! why).

mod common;
mod fault_common;

use std::cell::Cell;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{IpcPath, TCP_ANY, WAIT, num, read_num, wait_until, within};
use fault_common::{TIMEOUTS, connection_events, numbered, poll_once, small_queues, yield_now};
use monocoque::{
    DealerSocket, Message, PubSocket, RepSocket, ReqSocket, RouterSocket, SocketOptions, SubSocket,
};

/// The environment variable that sets the number of messages per test.
const MESSAGES_VAR: &str = "MONOCOQUE_CANCEL_MESSAGES";

/// Messages per test when [`MESSAGES_VAR`] is not set.
const DEFAULT_MESSAGES: u32 = 20_000;

/// Fewer messages than this would not give every style its turn on every side.
const MIN_MESSAGES: u32 = 2_000;

/// Every this many messages, a sender (or receiver) stalls for [`STALL`], so that the other side
/// is sure to block (or wait) longer than the longest timeout, and be cancelled while it does.
/// DEALER/ROUTER stalls as often, until a condition holds (see [`HOLD`]).
const STALL_EVERY: u32 = 250;
const STALL: Duration = Duration::from_millis(2);

/// DEALER/ROUTER: how long the operations a stall aims at must have waited before it ends:
/// long enough for a few turns of every style, the longest timeout included.
const HOLD: Duration = Duration::from_millis(5);

/// PUB/SUB: at most this many messages sent and not yet received by the application. The PUB's
/// queue for the SUB holds only such messages, so with this as its high-water mark it never
/// drops one, however the SUB's small queue and the small kernel buffers push back.
const WINDOW: u32 = 64;

/// The routing id the DEALER announces to the ROUTER.
const DEALER_ID: &[u8] = b"dealer-1";

#[compio::test]
async fn pub_sub_survives_cancelled_sends_and_receives() {
    let messages = message_count();
    let started = Instant::now();
    let publisher = Rc::new(
        PubSocket::with_options(
            SocketOptions::new()
                .send_hwm(WINDOW as usize)
                .send_buffer(4096)
                .recv_buffer(4096),
        )
        .unwrap(),
    );
    let pub_monitor = publisher.monitor();
    let endpoint = publisher.bind(TCP_ANY).await.unwrap().to_string();
    let subscriber = SubSocket::with_options(small_queues()).unwrap();
    let sub_monitor = subscriber.monitor();
    subscriber.subscribe("");
    subscriber.connect(&endpoint).unwrap();
    wait_until("connected", || {
        publisher.connected_peers() == 1 && subscriber.connected_peers() == 1
    })
    .await;
    subscribed(&publisher, &subscriber).await;

    let window = Rc::new(Window::new(WINDOW));
    let sender = compio::runtime::spawn({
        let publisher = publisher.clone();
        let window = window.clone();
        async move {
            let mut sends = Ops::default();
            for i in 0..messages {
                within("the SUB to make room in the window", window.admit(i)).await;
                let message = numbered(i);
                sends
                    .retry("PUB send", i, || publisher.send(message.clone()))
                    .await
                    .unwrap_or_else(|e| panic!("PUB send {i} failed: {e}"));
                if i % STALL_EVERY == STALL_EVERY / 2 {
                    // The SUB runs dry and waits: its receives get cancelled.
                    compio::time::sleep(STALL).await;
                }
            }
            sends
        }
    });
    let mut receives = Ops::default();
    for i in 0..messages {
        let message = receives
            .retry("SUB recv", i, || subscriber.recv())
            .await
            .unwrap_or_else(|e| panic!("SUB recv {i} failed: {e}"));
        expect("PUB to SUB", i, &message, &numbered(i));
        window.advance();
        if (i + 1) % STALL_EVERY == 0 {
            // The sender runs into the window: the SUB's queue fills and its reader pauses, and
            // the rest waits in the kernel buffers and the PUB's queue.
            compio::time::sleep(STALL).await;
        }
    }
    let sends = within("the PUB's sender", sender).await.unwrap();
    let elapsed = started.elapsed();

    // The connection is still in sync: one more message goes through, and nothing is left.
    within("a last send", publisher.send(numbered(messages)))
        .await
        .unwrap();
    let last = within("a last recv", subscriber.recv()).await.unwrap();
    expect("PUB to SUB", messages, &last, &numbered(messages));
    assert!(subscriber.try_recv().is_err(), "a message arrived twice");
    assert_eq!(connection_events(&pub_monitor), (1, 0), "PUB connections");
    assert_eq!(connection_events(&sub_monitor), (1, 0), "SUB connections");
    summary(
        "PUB to SUB",
        messages,
        elapsed,
        &[("PUB send", sends), ("SUB recv", receives)],
    );
    // A PUB never waits for its subscribers (it drops at the high-water mark instead, which the
    // window rules out here): its send is pending only at the runtime turn it takes every 256
    // sends in a row. Poll-once cancels every such send it meets; a timeout cancels one only if
    // the turn outlasts it, which is up to the scheduler, so only poll-once can be asserted.
    assert_polled_once("PUB send", sends);
    assert_every_style("SUB recv", receives);
}

/// Over IPC, not TCP. This test holds both directions full until the tasks at both ends have
/// waited [`HOLD`], and on loopback TCP with small kernel buffers (Linux 6.18 here) a window
/// that reopens after such a pause often ends with the receiving kernel dropping segments
/// (`TCPRcvQDrop`, `TCPBeyondWindow`) and rate-limiting the ACKs that would tell the sender
/// (`TCPACKSkippedSeq`): the sender's kernel then waits on retransmission timeouts that back off
/// to seconds, while the receiving socket waits with nothing in its kernel queue (seen with `ss`
/// and `nstat`, with 4 KiB and with 64 KiB buffers). A Unix stream socket pushes back on the
/// sender without any of that.
#[compio::test]
async fn dealer_router_echo_survives_cancelled_sends_and_receives_both_ways() {
    let messages = message_count();
    let started = Instant::now();
    let path = IpcPath::new("cancel-scale-router");
    // Mandatory routing: a send to a full DEALER queue waits instead of dropping the echo.
    let router =
        Rc::new(RouterSocket::with_options(small_queues().router_mandatory(true)).unwrap());
    let router_monitor = router.monitor();
    let endpoint = router.bind(&path.endpoint()).await.unwrap().to_string();
    let dealer = Rc::new(DealerSocket::with_options(small_queues().routing_id(DEALER_ID)).unwrap());
    let dealer_monitor = dealer.monitor();
    dealer.connect(&endpoint).unwrap();
    wait_until("connected", || {
        router.connected_peers() == 1 && dealer.connected_peers() == 1
    })
    .await;

    // The loop holds more (two queues, two socket buffers and a paused reader's input each way)
    // than a fixed stall can be sure to fill or empty, so the stalls end on conditions instead,
    // taking turns every [`STALL_EVERY`] messages. Fill: the DEALER's receiver stops until the
    // ROUTER's echo and then the DEALER's sender have waited on full queues for [`HOLD`].
    // Drain: the DEALER's sender stops until the ROUTER and then the DEALER's receiver have
    // waited on empty ones for as long.
    let waiting = Rc::new(Waiting::default());
    let sender = compio::runtime::spawn({
        let dealer = dealer.clone();
        let waiting = waiting.clone();
        async move {
            let mut sends = Ops::default();
            for i in 0..messages {
                if waiting.hold_sender.get() {
                    wait_until("the loop to drain", || {
                        stuck(&waiting.router_recv) && stuck(&waiting.dealer_recv)
                    })
                    .await;
                    waiting.hold_sender.set(false);
                }
                let message = numbered(i);
                tracked(
                    &waiting.dealer_send,
                    sends.retry("DEALER send", i, || dealer.send(message.clone())),
                )
                .await
                .unwrap_or_else(|e| panic!("DEALER send {i} failed: {e}"));
            }
            // A fill that starts now cannot block the sender any more.
            waiting.sender_done.set(true);
            sends
        }
    });
    let echo = compio::runtime::spawn({
        let router = router.clone();
        let waiting = waiting.clone();
        async move {
            let (mut receives, mut sends) = (Ops::default(), Ops::default());
            for i in 0..messages {
                let mut message = tracked(
                    &waiting.router_recv,
                    receives.retry("ROUTER recv", i, || router.recv()),
                )
                .await
                .unwrap_or_else(|e| panic!("ROUTER recv {i} failed: {e}"));
                let id = message.pop_front();
                assert_eq!(
                    id.as_deref(),
                    Some(DEALER_ID),
                    "ROUTER: message {i} without the DEALER's routing id in front"
                );
                expect("DEALER to ROUTER", i, &message, &numbered(i));
                message.push_front(Bytes::from_static(DEALER_ID));
                tracked(
                    &waiting.router_send,
                    sends.retry("ROUTER send", i, || router.send(message.clone())),
                )
                .await
                .unwrap_or_else(|e| panic!("ROUTER send {i} failed: {e}"));
            }
            (receives, sends)
        }
    });
    let mut echoes = Ops::default();
    let (mut next_turn, mut fill_next, mut fills, mut drains) = (STALL_EVERY, true, 0, 0);
    for i in 0..messages {
        let message = tracked(
            &waiting.dealer_recv,
            echoes.retry("DEALER recv", i, || dealer.recv()),
        )
        .await
        .unwrap_or_else(|e| panic!("DEALER recv {i} failed: {e}"));
        expect("ROUTER to DEALER", i, &message, &numbered(i));
        // No fill while the sender is held (it could not end), nor once it is done.
        if i + 1 >= next_turn && !waiting.hold_sender.get() && !waiting.sender_done.get() {
            if fill_next {
                let full = || stuck(&waiting.router_send) && stuck(&waiting.dealer_send);
                wait_until("the loop to fill", || waiting.sender_done.get() || full()).await;
                fills += u32::from(full());
            } else {
                waiting.hold_sender.set(true);
                drains += 1;
            }
            fill_next = !fill_next;
            next_turn = i + 1 + STALL_EVERY;
        }
    }
    let sends = within("the DEALER's sender", sender).await.unwrap();
    let (router_receives, router_sends) = within("the ROUTER's echo", echo).await.unwrap();
    let elapsed = started.elapsed();

    within("a last send", dealer.send(numbered(messages)))
        .await
        .unwrap();
    let mut last = within("a last recv", router.recv()).await.unwrap();
    assert_eq!(last.pop_front().as_deref(), Some(DEALER_ID));
    expect("DEALER to ROUTER", messages, &last, &numbered(messages));
    last.push_front(Bytes::from_static(DEALER_ID));
    within("a last echo", router.send(last)).await.unwrap();
    let last = within("a last echo received", dealer.recv()).await.unwrap();
    expect("ROUTER to DEALER", messages, &last, &numbered(messages));
    assert!(router.try_recv().is_err(), "a message arrived twice");
    assert!(dealer.try_recv().is_err(), "an echo arrived twice");
    assert_eq!(
        connection_events(&router_monitor),
        (1, 0),
        "ROUTER connections"
    );
    assert_eq!(
        connection_events(&dealer_monitor),
        (1, 0),
        "DEALER connections"
    );
    summary(
        &format!("DEALER to ROUTER and back, over IPC ({fills} fills, {drains} drains)"),
        messages,
        elapsed,
        &[
            ("DEALER send", sends),
            ("ROUTER recv", router_receives),
            ("ROUTER send", router_sends),
            ("DEALER recv", echoes),
        ],
    );
    assert_every_style("DEALER send", sends);
    assert_every_style("ROUTER recv", router_receives);
    assert_every_style("ROUTER send", router_sends);
    assert_every_style("DEALER recv", echoes);
}

#[compio::test]
async fn req_rep_lock_step_survives_cancelled_sends_and_receives() {
    let messages = message_count();
    let started = Instant::now();
    let rep = RepSocket::with_options(small_queues()).unwrap();
    let rep_monitor = rep.monitor();
    let endpoint = rep.bind(TCP_ANY).await.unwrap().to_string();
    let req = Rc::new(ReqSocket::with_options(small_queues()).unwrap());
    let req_monitor = req.monitor();
    req.connect(&endpoint).unwrap();
    wait_until("connected", || {
        rep.connected_peers() == 1 && req.connected_peers() == 1
    })
    .await;

    let client = compio::runtime::spawn({
        let req = req.clone();
        async move {
            let (mut sends, mut receives) = (Ops::default(), Ops::default());
            for i in 0..messages {
                if i % STALL_EVERY == STALL_EVERY / 2 {
                    // The REP waits for this request longer than the longest timeout.
                    compio::time::sleep(STALL).await;
                }
                // A cancelled send did nothing, so the REQ may still send: a send that had
                // gone out would make the retry fail with an invalid-state error.
                let request = numbered(i);
                sends
                    .retry("REQ send", i, || req.send(request.clone()))
                    .await
                    .unwrap_or_else(|e| panic!("REQ send {i} failed: {e}"));
                // A cancelled receive leaves the reply waiting for the next one.
                let reply = receives
                    .retry("REQ recv", i, || req.recv())
                    .await
                    .unwrap_or_else(|e| panic!("REQ recv {i} failed: {e}"));
                expect("REP to REQ", i, &reply, &answer(i));
            }
            (sends, receives)
        }
    });
    let (mut receives, mut sends) = (Ops::default(), Ops::default());
    for i in 0..messages {
        let request = receives
            .retry("REP recv", i, || rep.recv())
            .await
            .unwrap_or_else(|e| panic!("REP recv {i} failed: {e}"));
        expect("REQ to REP", i, &request, &numbered(i));
        if i % STALL_EVERY == 0 {
            // The REQ waits for this reply longer than the longest timeout.
            compio::time::sleep(STALL).await;
        }
        // A REP send that went out would have used up the request's envelope: the retry
        // would fail with an invalid-state error.
        let reply = answer(i);
        sends
            .retry("REP send", i, || rep.send(reply.clone()))
            .await
            .unwrap_or_else(|e| panic!("REP send {i} failed: {e}"));
    }
    let (req_sends, req_receives) = within("the REQ", client).await.unwrap();
    let elapsed = started.elapsed();

    // Still in lock-step on the same connection: one more round trip, and nothing left over.
    within("a last request", req.send(numbered(messages)))
        .await
        .unwrap();
    let request = within("a last request received", rep.recv()).await.unwrap();
    expect("REQ to REP", messages, &request, &numbered(messages));
    within("a last reply", rep.send(answer(messages)))
        .await
        .unwrap();
    let reply = within("a last reply received", req.recv()).await.unwrap();
    expect("REP to REQ", messages, &reply, &answer(messages));
    assert!(rep.try_recv().is_err(), "a request arrived twice");
    assert_eq!(connection_events(&rep_monitor), (1, 0), "REP connections");
    assert_eq!(connection_events(&req_monitor), (1, 0), "REQ connections");
    summary(
        "REQ to REP and back",
        messages,
        elapsed,
        &[
            ("REQ send", req_sends),
            ("REP recv", receives),
            ("REP send", sends),
            ("REQ recv", req_receives),
        ],
    );
    // In lock-step no queue ever holds more than one message, so neither send waits for room:
    // a REQ or REP send is pending only at the runtime turn it takes every 256 sends in a row.
    // Poll-once cancels every such send it meets; a timeout only if the turn outlasts it.
    assert_polled_once("REQ send", req_sends);
    assert_polled_once("REP send", sends);
    assert_every_style("REP recv", receives);
    assert_every_style("REQ recv", req_receives);
}

/// The operations of one side (the sends, or the receives, of one socket), by outcome.
#[derive(Debug, Default, Clone, Copy)]
struct Ops {
    /// Every attempt: completed or cancelled.
    operations: u64,
    /// Attempts that were pending at their first poll (and so took the next style).
    waited: u64,
    /// Polled once, pending, dropped.
    polled_once: u64,
    /// Cut short by the timeouts of [`TIMEOUTS`].
    timed_out: [u64; 3],
}

impl Ops {
    fn cancelled(&self) -> u64 {
        self.polled_once + self.timed_out.iter().sum::<u64>()
    }

    /// Runs the operation `op` makes until it completes, each attempt under cancellation,
    /// making it anew (with the same message) after each cancellation. Fails the test if no
    /// attempt completes for [`WAIT`]: a lost message, or a hang.
    async fn retry<F: Future>(
        &mut self,
        what: &str,
        i: u32,
        mut op: impl FnMut() -> F,
    ) -> F::Output {
        let started = Instant::now();
        loop {
            if let Some(output) = self.attempt(op()).await {
                return output;
            }
            assert!(
                started.elapsed() < WAIT,
                "{what} of message {i}: still cancelled after {WAIT:?} of attempts (a lost \
                 message or a hang): {self:?}"
            );
        }
    }

    /// Runs `future` under the current style: polled once, or a timeout from [`TIMEOUTS`].
    /// `None` (and the count) if it was cancelled. The style moves on when the future was
    /// pending at its first poll.
    async fn attempt<F: Future>(&mut self, future: F) -> Option<F::Output> {
        self.operations += 1;
        let style = (self.waited % 4) as usize;
        let waited = Cell::new(false);
        let future = observe_first_poll(future, &waited);
        let output = if style == 0 {
            poll_once(future).await
        } else {
            compio::time::timeout(TIMEOUTS[style - 1], future)
                .await
                .ok()
        };
        if waited.get() {
            self.waited += 1;
        }
        if output.is_none() {
            if style == 0 {
                self.polled_once += 1;
            } else {
                self.timed_out[style - 1] += 1;
            }
            // A cancelled poll-once has not yielded: let the connections move.
            yield_now().await;
        }
        output
    }
}

impl fmt::Display for Ops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [t10us, t100us, t1ms] = self.timed_out;
        write!(
            f,
            "{} ops, {} waited, {} cancelled (poll-once {}, 10µs {t10us}, 100µs {t100us}, \
             1ms {t1ms})",
            self.operations,
            self.waited,
            self.cancelled(),
            self.polled_once
        )
    }
}

/// Polls `future`, recording in `waited` whether its first poll was pending.
async fn observe_first_poll<F: Future>(future: F, waited: &Cell<bool>) -> F::Output {
    let mut future = pin!(future);
    let mut first = true;
    poll_fn(|cx| {
        let poll = future.as_mut().poll(cx);
        if first {
            first = false;
            waited.set(poll.is_pending());
        }
        poll
    })
    .await
}

/// What the tasks of the DEALER/ROUTER test tell each other: since when each has been trying to
/// complete its current operation (`None` between operations), and the sender's state.
#[derive(Default)]
struct Waiting {
    dealer_send: Cell<Option<Instant>>,
    router_recv: Cell<Option<Instant>>,
    router_send: Cell<Option<Instant>>,
    dealer_recv: Cell<Option<Instant>>,
    /// The DEALER's sender must stop until the loop has drained.
    hold_sender: Cell<bool>,
    /// The DEALER's sender has sent every message.
    sender_done: Cell<bool>,
}

/// Awaits `future` (the retries of one operation), recording in `since` when it began.
async fn tracked<T>(since: &Cell<Option<Instant>>, future: impl Future<Output = T>) -> T {
    since.set(Some(Instant::now()));
    let output = future.await;
    since.set(None);
    output
}

/// Whether the operation tracked in `since` has been waiting for at least [`HOLD`].
fn stuck(since: &Cell<Option<Instant>>) -> bool {
    since.get().is_some_and(|t| t.elapsed() >= HOLD)
}

/// Flow control between a PUB sender and its SUB receiver, in the application: message `i`
/// may be sent once fewer than `size` messages before it are still unreceived.
struct Window {
    size: u32,
    received: Cell<u32>,
    sender: Cell<Option<Waker>>,
}

impl Window {
    fn new(size: u32) -> Self {
        Self {
            size,
            received: Cell::new(0),
            sender: Cell::new(None),
        }
    }

    /// Waits until message `i` may be sent.
    async fn admit(&self, i: u32) {
        poll_fn(|cx| {
            if i < self.received.get() + self.size {
                Poll::Ready(())
            } else {
                self.sender.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await;
    }

    /// One more message received.
    fn advance(&self) {
        self.received.set(self.received.get() + 1);
        if let Some(sender) = self.sender.take() {
            sender.wake();
        }
    }
}

/// The number of messages per test: [`MESSAGES_VAR`], or [`DEFAULT_MESSAGES`].
fn message_count() -> u32 {
    let Ok(value) = std::env::var(MESSAGES_VAR) else {
        return DEFAULT_MESSAGES;
    };
    let count: u32 = value
        .replace('_', "")
        .parse()
        .unwrap_or_else(|e| panic!("{MESSAGES_VAR}={value:?}: {e}"));
    assert!(
        count >= MIN_MESSAGES,
        "{MESSAGES_VAR}={count}: at least {MIN_MESSAGES}, so that every style meets every side"
    );
    count
}

/// The REP's reply to request `i`: distinct from every request, and from every other reply.
fn answer(i: u32) -> Message {
    let len = (i as usize * 13) % 300;
    Message::single(num(i))
        .with("answer")
        .with(Bytes::from(vec![i as u8; len]))
        .with(num(i.rotate_left(16)))
}

/// A PUB/SUB setup message, told apart from [`numbered`] by its first frame.
fn probe(k: u32) -> Message {
    Message::single("probe").with(num(k))
}

/// Waits until `subscriber`'s subscription has reached `publisher`, deterministically: probes
/// go out until one arrives (those sent before the subscription was there are dropped), then
/// every probe still on its way is received, up to the last one sent, which must arrive since
/// it was sent after one that did. Nothing is left in flight when this returns.
async fn subscribed(publisher: &PubSocket, subscriber: &SubSocket) {
    const ROUND: Duration = Duration::from_millis(10);
    let rounds = (WAIT.as_millis() / ROUND.as_millis()) as u32;
    let mut sent = 0;
    let mut message = loop {
        assert!(sent < rounds, "the subscription never reached the PUB");
        publisher
            .send(probe(sent))
            .await
            .expect("a PUB send never fails");
        sent += 1;
        if let Ok(received) = compio::time::timeout(ROUND, subscriber.recv()).await {
            break received.expect("a probe received");
        }
    };
    loop {
        assert!(
            message.len() == 2 && message[0][..] == b"probe"[..],
            "a probe expected, got {message:?}"
        );
        if read_num(&message[1]) == sent - 1 {
            return;
        }
        message = within("the last probe", subscriber.recv())
            .await
            .expect("a probe received");
    }
}

/// Checks that `message` is `expected`, message `i` of a sequence, whole.
fn expect(what: &str, i: u32, message: &Message, expected: &Message) {
    if message != expected {
        let got = message
            .first()
            .filter(|f| f.len() == 4)
            .map(|f| read_num(f));
        panic!(
            "{what}: expected message {i} whole, got number {got:?} with {} frames (a loss, \
             duplicate, reorder or torn message)",
            message.len()
        );
    }
}

/// Prints the one-line summary of a test.
fn summary(pattern: &str, messages: u32, elapsed: Duration, sides: &[(&str, Ops)]) {
    let operations: u64 = sides.iter().map(|(_, ops)| ops.operations).sum();
    let cancelled: u64 = sides.iter().map(|(_, ops)| ops.cancelled()).sum();
    let sides = sides
        .iter()
        .map(|(side, ops)| format!("{side}: {ops}"))
        .collect::<Vec<_>>()
        .join("; ");
    println!(
        "{pattern}: {messages} messages, {operations} operations, {cancelled} cancelled, in \
         {elapsed:.2?}; {sides}"
    );
}

/// Asserts that every style cancelled some of `ops`.
fn assert_every_style(side: &str, ops: Ops) {
    assert!(
        ops.polled_once > 0 && ops.timed_out.iter().all(|&n| n > 0),
        "every cancellation style must have hit {side}: {ops}"
    );
}

/// Asserts that poll-once cancelled some of `ops` (a side whose operations wait only at a
/// runtime turn, which a timeout may or may not outlast).
fn assert_polled_once(side: &str, ops: Ops) {
    assert!(
        ops.polled_once > 0,
        "poll-once must have cancelled some of {side}: {ops}"
    );
}
