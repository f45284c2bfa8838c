//! Typed messages (`monocoque::typed`, feature `serde`) between monocoque sockets and handles:
//! nested structs and enums round trip with both codecs over TCP, IPC and inproc; a message of
//! another type, or a frame of garbage, is a typed error carrying the message as it arrived, and
//! the next message still arrives; topics and envelopes; a failed send hands the encoded message
//! back; a typed receive stays cancel-safe.
//!
//! Every wait is bounded; PUB/SUB tests publish a probe until the subscription has reached the
//! publisher (the slow joiner), with a deadline.

mod common;
mod fault_common;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{IpcPath, TCP_ANY, WAIT, within};
use fault_common::{TIMEOUTS, poll_once, yield_now};
use monocoque::typed::{Codec, Json, Postcard, Typed, TypedHandle, TypedRecvError, TypedSendError};
use monocoque::{
    DealerSocket, Message, PairSocket, PubSocket, PullSocket, PushSocket, RecvError, RepSocket,
    ReqSocket, RouterSocket, SendErrorKind, SocketOptions, SubSocket, handle,
};
use serde::{Deserialize, Serialize, Serializer};

/// How long a subscriber waits for a probe before the publisher sends the next one.
const PROBE_INTERVAL: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Telemetry {
    device: Device,
    readings: Vec<Reading>,
    state: State,
    labels: BTreeMap<String, String>,
    firmware: Option<(u8, u8, u16)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Device {
    id: u64,
    name: String,
    location: Location,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Location {
    lat: f64,
    lon: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Reading {
    Temperature { celsius: f64 },
    Humidity(u8),
    Door { open: bool, since: u64 },
    Batch(Vec<Self>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum State {
    Idle,
    Running { job: Job },
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Job {
    id: u32,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Step {
    Load(String),
    Compute { iterations: u32 },
    Store,
}

/// A value of another type than [`Telemetry`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Other {
    text: String,
    count: u64,
}

/// A value no codec can encode.
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("refused on purpose"))
    }
}

/// The `n`th of a few telemetry values, each with a different shape of the enums. The floats
/// are exact in binary, so that JSON gives back the same bits.
fn telemetry(n: u32) -> Telemetry {
    let state = match n % 3 {
        0 => State::Idle,
        1 => State::Running {
            job: Job {
                id: n,
                steps: vec![
                    Step::Load(format!("input-{n}")),
                    Step::Compute {
                        iterations: n * 1000,
                    },
                    Step::Store,
                ],
            },
        },
        _ => State::Failed(format!("disk {n} full")),
    };
    Telemetry {
        device: Device {
            id: u64::from(n) << 40 | 7,
            name: format!("sensor-{n}"),
            location: Location {
                lat: 59.75 + f64::from(n),
                lon: -10.625,
            },
        },
        readings: vec![
            Reading::Temperature { celsius: 21.5 },
            Reading::Humidity(n as u8),
            Reading::Batch(vec![
                Reading::Door {
                    open: n % 2 == 0,
                    since: 1_700_000_000 + u64::from(n),
                },
                Reading::Batch(vec![]),
            ]),
        ],
        state,
        labels: BTreeMap::from([
            ("site".to_string(), "oslo".to_string()),
            ("rack".to_string(), n.to_string()),
        ]),
        firmware: (n % 2 == 1).then_some((1, 2, 300)),
    }
}

/// A name no other test of this process uses.
fn inproc(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "inproc://typed-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A connected PAIR of typed sockets with `codec`, bound on `endpoint`.
async fn typed_pair<C: Codec + Copy>(
    codec: C,
    endpoint: &str,
) -> (
    Typed<PairSocket, Telemetry, C>,
    Typed<PairSocket, Telemetry, C>,
) {
    let a = Typed::with_codec(PairSocket::new(), codec);
    let bound = a.get_ref().bind(endpoint).await.expect("bind").to_string();
    let b = Typed::with_codec(PairSocket::new(), codec);
    b.get_ref().connect(&bound).expect("connect");
    (a, b)
}

/// Checks that a decode error is `codec`'s and carries `message`, whole.
fn assert_decode_error<C: Codec>(result: Result<Telemetry, TypedRecvError>, message: &Message) {
    match result {
        Err(TypedRecvError::Decode {
            error,
            message: got,
        }) => {
            assert_eq!(error.codec, C::NAME);
            assert!(!error.reason.is_empty());
            assert_eq!(&got, message, "the error carries the message as it arrived");
        }
        other => panic!("expected a {} decode error, got {other:?}", C::NAME),
    }
}

// Round trips over the compio sockets.

async fn push_pull_round_trip<C: Codec + Copy>(codec: C) {
    let pull = Typed::<_, Telemetry, _>::with_codec(PullSocket::new(), codec);
    let endpoint = pull.get_ref().bind(TCP_ANY).await.expect("bind");
    let push = Typed::with_codec(PushSocket::new(), codec);
    push.get_ref()
        .connect(&endpoint.to_string())
        .expect("connect");
    for n in 0..6 {
        within("send", push.send(&telemetry(n)))
            .await
            .expect("typed send");
    }
    for n in 0..6 {
        let received = within("recv", pull.recv()).await.expect("typed recv");
        assert_eq!(received, telemetry(n), "{}", C::NAME);
    }
    assert_eq!(
        pull.try_recv(),
        Err(TypedRecvError::Recv(RecvError::WouldBlock))
    );
}

#[compio::test]
async fn nested_values_round_trip_over_tcp_with_both_codecs() {
    push_pull_round_trip(Postcard).await;
    push_pull_round_trip(Json).await;
}

async fn pair_round_trip<C: Codec + Copy>(codec: C, endpoint: &str) {
    let (a, b) = typed_pair(codec, endpoint).await;
    for n in 0..6 {
        within("send", b.send(&telemetry(n)))
            .await
            .expect("b sends");
        assert_eq!(
            within("recv", a.recv()).await.expect("typed recv"),
            telemetry(n)
        );
        within("send", a.send(&telemetry(n + 10)))
            .await
            .expect("a sends");
        assert_eq!(
            within("recv", b.recv()).await.expect("typed recv"),
            telemetry(n + 10)
        );
    }
}

#[compio::test]
async fn nested_values_round_trip_over_ipc_with_both_codecs() {
    let path = IpcPath::new("typed-postcard");
    pair_round_trip(Postcard, &path.endpoint()).await;
    let path = IpcPath::new("typed-json");
    pair_round_trip(Json, &path.endpoint()).await;
}

#[compio::test]
async fn nested_values_round_trip_over_inproc_with_both_codecs() {
    pair_round_trip(Postcard, &inproc("postcard")).await;
    pair_round_trip(Json, &inproc("json")).await;
}

async fn router_dealer_envelopes<C: Codec + Copy>(codec: C) {
    let router = Typed::<_, Telemetry, _>::with_codec(RouterSocket::new(), codec);
    let endpoint = inproc("router");
    router.get_ref().bind(&endpoint).await.expect("bind");
    let options = SocketOptions::new().routing_id("dealer-1");
    let dealer = Typed::with_codec(
        DealerSocket::with_options(options).expect("a DEALER"),
        codec,
    );
    dealer.get_ref().connect(&endpoint).expect("connect");

    within("send", dealer.send(&telemetry(1)))
        .await
        .expect("dealer sends");
    let (envelope, request) = within("recv", router.recv_with_envelope())
        .await
        .expect("router receives");
    assert_eq!(envelope, Message::from("dealer-1"));
    assert_eq!(request, telemetry(1));
    within("send", router.send_with_envelope(envelope, &telemetry(2)))
        .await
        .expect("router replies");
    assert_eq!(
        within("recv", dealer.recv())
            .await
            .expect("dealer receives"),
        telemetry(2)
    );
}

#[compio::test]
async fn router_replies_along_the_envelope_with_both_codecs() {
    router_dealer_envelopes(Postcard).await;
    router_dealer_envelopes(Json).await;
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Request {
    Sum(Vec<i64>),
    Describe { id: u64 },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Reply {
    Total(i64),
    Device(Device),
}

#[compio::test]
async fn request_and_reply_of_two_types_on_one_socket_each() {
    let rep = RepSocket::new();
    let endpoint = rep.bind(TCP_ANY).await.expect("bind").to_string();
    let req = ReqSocket::new();
    req.connect(&endpoint).expect("connect");
    let (ask, answers) = (
        Typed::<_, Request>::new(&req),
        Typed::<_, Reply, _>::with_codec(&req, Postcard),
    );
    let (requests, replies) = (Typed::<_, Request>::new(&rep), Typed::<_, Reply>::new(&rep));

    for request in [
        Request::Sum(vec![1, -2, 40, 3]),
        Request::Describe { id: 9 },
    ] {
        within("send", ask.send(&request)).await.expect("REQ sends");
        let reply = match within("recv", requests.recv()).await.expect("REP gets") {
            Request::Sum(terms) => Reply::Total(terms.iter().sum()),
            Request::Describe { id } => Reply::Device(telemetry(id as u32).device),
        };
        within("send", replies.send(&reply))
            .await
            .expect("REP replies");
        let expected = match request {
            Request::Sum(_) => Reply::Total(42),
            Request::Describe { .. } => Reply::Device(telemetry(9).device),
        };
        assert_eq!(
            within("recv", answers.recv()).await.expect("typed recv"),
            expected
        );
    }
}

// Messages that do not decode.

async fn wrong_type_then_next<C: Codec + Copy>(codec: C) {
    let (a, b) = typed_pair(codec, TCP_ANY).await;
    // The same socket, sending another type.
    let wrong = Typed::<_, Other, _>::with_codec(b.get_ref(), codec);
    let other = Other {
        text: "not telemetry".into(),
        count: 3,
    };
    within("send", wrong.send(&other)).await.expect("send");
    within("send", b.send(&telemetry(4))).await.expect("send");
    within("send", wrong.send(&other)).await.expect("send");
    within("send", b.send(&telemetry(5))).await.expect("send");

    let sent = wrong.encode(&other).expect("encodes");
    for n in [4, 5] {
        assert_decode_error::<C>(within("recv", a.recv()).await, &sent);
        assert_eq!(
            within("recv", a.recv()).await.expect("typed recv"),
            telemetry(n)
        );
    }
    // The connection is whole: traffic the other way goes on too.
    within("send", a.send(&telemetry(6))).await.expect("send");
    assert_eq!(
        within("recv", b.recv()).await.expect("typed recv"),
        telemetry(6)
    );
}

#[compio::test]
async fn a_message_of_another_type_is_a_decode_error_and_the_next_arrives() {
    wrong_type_then_next(Postcard).await;
    wrong_type_then_next(Json).await;
}

async fn garbage_then_next<C: Codec + Copy>(codec: C) {
    let (a, b) = typed_pair(codec, TCP_ANY).await;
    let garbage = [
        Message::from(&[0xffu8; 11][..]),
        Message::from(&b""[..]),
        Message::from(&b"{\"device\": "[..]),
        // The right payload, with a byte too many.
        Message::from({
            let mut bytes = codec.encode(&telemetry(0)).expect("encodes");
            bytes.push(b'!');
            bytes
        }),
    ];
    for (n, message) in garbage.iter().enumerate() {
        within("send raw", b.get_ref().send(message.clone()))
            .await
            .expect("send");
        within("send", b.send(&telemetry(n as u32)))
            .await
            .expect("send");
    }
    for (n, message) in garbage.iter().enumerate() {
        assert_decode_error::<C>(within("recv", a.recv()).await, message);
        assert_eq!(
            within("recv", a.recv()).await.expect("typed recv"),
            telemetry(n as u32)
        );
    }
}

#[compio::test]
async fn a_frame_of_garbage_is_a_decode_error_and_the_next_arrives() {
    garbage_then_next(Postcard).await;
    garbage_then_next(Json).await;
}

#[compio::test]
async fn a_message_without_a_topic_frame_is_a_frame_count_error() {
    let (a, b) = typed_pair(Postcard, TCP_ANY).await;
    within("send", b.send(&telemetry(1))).await.expect("send");
    within("send", b.send_topic("t", &telemetry(2)))
        .await
        .expect("send");
    match within("recv", a.recv_topic()).await {
        Err(TypedRecvError::FrameCount { expected, message }) => {
            assert_eq!(expected, 2);
            assert_eq!(message, b.encode(&telemetry(1)).unwrap());
        }
        other => panic!("expected a frame count error, got {other:?}"),
    }
    let (topic, value) = within("recv", a.recv_topic()).await.expect("recv_topic");
    assert_eq!((&topic[..], value), (&b"t"[..], telemetry(2)));
}

// Topics.

/// Publishes `probe` under `topic` until `sub` receives something, then returns it.
async fn publish_until<C: Codec>(
    publisher: &Typed<PubSocket, Telemetry, C>,
    sub: &Typed<SubSocket, Telemetry, C>,
    topic: &str,
    probe: &Telemetry,
) -> (bytes::Bytes, Telemetry) {
    let deadline = Instant::now() + WAIT;
    loop {
        within("publish", publisher.send_topic(topic.to_string(), probe))
            .await
            .expect("PUB sends");
        if let Ok(received) = compio::time::timeout(PROBE_INTERVAL, sub.recv_topic()).await {
            return received.expect("SUB receives");
        }
        assert!(
            Instant::now() < deadline,
            "the subscription never reached the publisher"
        );
    }
}

async fn topics_through_pub_sub<C: Codec + Copy>(codec: C) {
    let publisher = Typed::with_codec(PubSocket::new(), codec);
    let endpoint = publisher.get_ref().bind(TCP_ANY).await.expect("bind");
    let sub = Typed::with_codec(SubSocket::new(), codec);
    sub.get_ref().subscribe("sensors.");
    sub.get_ref()
        .connect(&endpoint.to_string())
        .expect("connect");
    let probe = telemetry(99);
    let (topic, received) = publish_until(&publisher, &sub, "sensors.probe", &probe).await;
    assert_eq!((&topic[..], received), (&b"sensors.probe"[..], probe));

    let sent = [
        ("sensors.a", telemetry(1)),
        ("other.b", telemetry(2)),
        ("sensors", telemetry(3)),
        ("sensors.c", telemetry(4)),
    ];
    for (topic, value) in &sent {
        within("publish", publisher.send_topic(*topic, value))
            .await
            .expect("PUB sends");
    }
    let mut got = Vec::new();
    while got.len() < 2 {
        let (topic, value) = within("recv", sub.recv_topic()).await.expect("SUB gets");
        if &topic[..] != b"sensors.probe" {
            got.push((
                String::from_utf8(topic.to_vec()).expect("a UTF-8 topic"),
                value,
            ));
        }
    }
    assert_eq!(
        got,
        [
            ("sensors.a".to_string(), telemetry(1)),
            ("sensors.c".to_string(), telemetry(4)),
        ]
    );
    // `recv` leaves the topic out.
    within("publish", publisher.send_topic("sensors.d", &telemetry(5)))
        .await
        .expect("PUB sends");
    assert_eq!(
        within("recv", sub.recv()).await.expect("typed recv"),
        telemetry(5)
    );
}

#[compio::test]
async fn topics_round_trip_through_pub_sub_with_both_codecs() {
    topics_through_pub_sub(Postcard).await;
    topics_through_pub_sub(Json).await;
}

// Sends that fail.

#[compio::test]
async fn a_failed_send_hands_the_encoded_message_back() {
    let push = Typed::<_, Telemetry>::new(PushSocket::new());
    let error = push.try_send(&telemetry(3)).unwrap_err();
    assert_eq!(error.kind(), Some(SendErrorKind::WouldBlock));
    let TypedSendError::Send(send_error) = error.clone() else {
        panic!("expected a send error, got {error:?}");
    };
    assert_eq!(send_error.kind, SendErrorKind::WouldBlock);
    let message = error.into_message().expect("the message comes back");
    assert_eq!(push.decode(message).unwrap(), telemetry(3));
}

async fn unencodable_sends_nothing<C: Codec + Copy>(codec: C) {
    let pull = Typed::<_, Telemetry, _>::with_codec(PullSocket::new(), codec);
    let endpoint = pull.get_ref().bind(TCP_ANY).await.expect("bind");
    let push = PushSocket::new();
    push.connect(&endpoint.to_string()).expect("connect");
    let refused = Typed::<_, Unencodable, _>::with_codec(&push, codec);
    let values = Typed::<_, Telemetry, _>::with_codec(&push, codec);

    let Err(error) = within("send", refused.send(&Unencodable)).await else {
        panic!("an unencodable value was sent");
    };
    let TypedSendError::Encode(encode) = &error else {
        panic!("expected an encode error, got {error:?}");
    };
    assert_eq!(encode.codec, C::NAME);
    // postcard keeps no custom message; JSON does.
    assert!(!encode.reason.is_empty());
    if C::NAME == "json" {
        assert!(encode.reason.contains("refused on purpose"), "{encode}");
    }
    assert_eq!(error.kind(), None);
    assert!(refused.try_send(&Unencodable).is_err());
    assert!(
        within("send", refused.send_topic("topic", &Unencodable))
            .await
            .is_err()
    );

    // Nothing went out: the next value is the first to arrive.
    within("send", values.send(&telemetry(8)))
        .await
        .expect("send");
    assert_eq!(
        within("recv", pull.recv()).await.expect("typed recv"),
        telemetry(8)
    );
    assert_eq!(
        pull.try_recv(),
        Err(TypedRecvError::Recv(RecvError::WouldBlock))
    );
}

#[compio::test]
async fn a_value_that_does_not_encode_is_an_encode_error_and_sends_nothing() {
    unencodable_sends_nothing(Postcard).await;
    unencodable_sends_nothing(Json).await;
}

// Cancel safety.

#[compio::test]
async fn a_cancelled_typed_recv_takes_nothing() {
    const TOTAL: u32 = 2_000;
    let pull = Typed::<_, (u32, Telemetry)>::new(PullSocket::new());
    let endpoint = pull.get_ref().bind(TCP_ANY).await.expect("bind");
    // Nothing sent yet: these receives are cancelled for certain.
    assert!(poll_once(pull.recv()).await.is_none());
    assert!(
        compio::time::timeout(TIMEOUTS[0], pull.recv())
            .await
            .is_err()
    );
    let push = Typed::<_, (u32, Telemetry)>::new(PushSocket::new());
    push.get_ref()
        .connect(&endpoint.to_string())
        .expect("connect");
    // The sender keeps at most two messages ahead of the receiver, so that the receiver often
    // finds nothing and its receive is cut short while it waits.
    let progress = Rc::new(Cell::new(0u32));
    let sender = compio::runtime::spawn({
        let progress = progress.clone();
        async move {
            for n in 0..TOTAL {
                while progress.get() + 2 < n {
                    yield_now().await;
                }
                push.send(&(n, telemetry(n % 5))).await.expect("send");
            }
        }
    });

    let deadline = Instant::now() + WAIT * 4;
    let (mut next, mut attempt, mut cancelled) = (0, 0u64, 2u64);
    while next < TOTAL {
        assert!(Instant::now() < deadline, "stuck at {next}");
        attempt += 1;
        let received = match attempt % 4 {
            0 => poll_once(pull.recv()).await,
            style => compio::time::timeout(TIMEOUTS[style as usize - 1], pull.recv())
                .await
                .ok(),
        };
        match received {
            Some(result) => {
                let (n, value) = result.expect("typed recv");
                assert_eq!(n, next, "lost, duplicated or reordered");
                assert_eq!(value, telemetry(n % 5));
                next += 1;
                progress.set(next);
            }
            None => {
                cancelled += 1;
                yield_now().await;
            }
        }
    }
    println!("{TOTAL} typed messages, {cancelled} receives cancelled");
    within("the sender", sender).await.expect("the sender task");
    assert_eq!(
        pull.try_recv(),
        Err(TypedRecvError::Recv(RecvError::WouldBlock))
    );
}

// Handles.

fn handle_push_pull<C: Codec + Copy>(
    codec: C,
) -> (
    TypedHandle<handle::PushSocket, Telemetry, C>,
    TypedHandle<handle::PullSocket, Telemetry, C>,
) {
    let pull = TypedHandle::with_codec(handle::PullSocket::new().expect("a PULL"), codec);
    let endpoint = pull.get_ref().bind(TCP_ANY).expect("bind");
    let push = TypedHandle::with_codec(handle::PushSocket::new().expect("a PUSH"), codec);
    push.get_ref()
        .connect(&endpoint.to_string())
        .expect("connect");
    (push, pull)
}

fn handles_round_trip_from_threads<C: Codec + Copy + Send + Sync + 'static>(codec: C) {
    let (push, pull) = handle_push_pull(codec);
    let senders: Vec<_> = (0..3u32)
        .map(|t| {
            let push = push.clone(); // clones share the socket
            std::thread::spawn(move || {
                for n in 0..20 {
                    push.send(&telemetry(t * 100 + n)).expect("send");
                }
            })
        })
        .collect();
    let mut next = [0u32; 3];
    for _ in 0..60 {
        let value = pull.recv_timeout(WAIT).expect("typed recv");
        let n = (value.device.id >> 40) as u32;
        let (t, i) = (n / 100, n % 100);
        assert_eq!(i, next[t as usize], "thread {t}: out of order or lost");
        assert_eq!(value, telemetry(n));
        next[t as usize] += 1;
    }
    for sender in senders {
        sender.join().expect("a sender thread");
    }
    assert_eq!(
        pull.try_recv(),
        Err(TypedRecvError::Recv(RecvError::WouldBlock))
    );
}

#[test]
fn handles_round_trip_nested_values_from_threads_with_both_codecs() {
    handles_round_trip_from_threads(Postcard);
    handles_round_trip_from_threads(Json);
}

fn handles_async<C: Codec + Copy + Send + Sync + 'static>(codec: C) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async {
        let endpoint = inproc("handles-async");
        let a = TypedHandle::<_, Telemetry, _>::with_codec(
            handle::PairSocket::new().expect("a PAIR"),
            codec,
        );
        a.get_ref().bind_async(&endpoint).await.expect("bind");
        let b = TypedHandle::with_codec(handle::PairSocket::new().expect("a PAIR"), codec);
        b.get_ref().connect(&endpoint).expect("connect");

        let task = tokio::spawn(async move {
            for n in 0..10 {
                b.send_async(&telemetry(n)).await.expect("send_async");
            }
            b.send_topic_async("last", &telemetry(10))
                .await
                .expect("send_topic_async");
            b.send_with_envelope_async(Message::from("x").with("y"), &telemetry(11))
                .await
                .expect("send_with_envelope_async");
            b
        });
        for n in 0..10 {
            let value = tokio::time::timeout(WAIT, a.recv_async())
                .await
                .expect("in time")
                .expect("recv_async");
            assert_eq!(value, telemetry(n));
        }
        let (topic, value) = tokio::time::timeout(WAIT, a.recv_topic_async())
            .await
            .expect("in time")
            .expect("recv_topic_async");
        assert_eq!((&topic[..], value), (&b"last"[..], telemetry(10)));
        let received = tokio::time::timeout(WAIT, a.recv_with_envelope_async())
            .await
            .expect("in time")
            .expect("recv_with_envelope_async");
        assert_eq!(received, (Message::from("x").with("y"), telemetry(11)));
        task.await.expect("the sending task");
    });
}

#[test]
fn handles_round_trip_nested_values_in_async_tasks_over_inproc_with_both_codecs() {
    handles_async(Postcard);
    handles_async(Json);
}

fn handles_decode_errors<C: Codec + Copy>(codec: C) {
    let (push, pull) = handle_push_pull(codec);
    let wrong = TypedHandle::<_, Other, _>::with_codec(push.get_ref(), codec);
    let other = Other {
        text: "not telemetry".into(),
        count: 1,
    };
    let garbage = Message::from(&[0xffu8, 0x00, 0x7b][..]);
    wrong.send(&other).expect("send");
    push.send(&telemetry(1)).expect("send");
    push.get_ref().send(garbage.clone()).expect("send raw");
    push.send(&telemetry(2)).expect("send");

    assert_decode_error::<C>(
        pull.recv_timeout(WAIT),
        &wrong.encode(&other).expect("encodes"),
    );
    assert_eq!(pull.recv_timeout(WAIT).expect("typed recv"), telemetry(1));
    assert_decode_error::<C>(pull.recv_timeout(WAIT), &garbage);
    assert_eq!(pull.recv_timeout(WAIT).expect("typed recv"), telemetry(2));
    assert_eq!(
        pull.recv_timeout(Duration::from_millis(5)),
        Err(TypedRecvError::Recv(RecvError::TimedOut))
    );
}

#[test]
fn handles_give_decode_errors_with_the_message_and_the_next_arrives() {
    handles_decode_errors(Postcard);
    handles_decode_errors(Json);
}

fn handles_topics<C: Codec + Copy>(codec: C) {
    let publisher = TypedHandle::with_codec(handle::PubSocket::new().expect("a PUB"), codec);
    let endpoint = publisher.get_ref().bind(TCP_ANY).expect("bind");
    let sub =
        TypedHandle::<_, Telemetry, _>::with_codec(handle::SubSocket::new().expect("a SUB"), codec);
    sub.get_ref().subscribe("sensors.").expect("subscribe");
    sub.get_ref()
        .connect(&endpoint.to_string())
        .expect("connect");

    let probe = telemetry(99);
    let deadline = Instant::now() + WAIT;
    loop {
        publisher
            .send_topic("sensors.probe", &probe)
            .expect("PUB sends");
        match sub.recv_timeout(PROBE_INTERVAL) {
            Ok(value) => {
                assert_eq!(value, probe);
                break;
            }
            Err(TypedRecvError::Recv(RecvError::TimedOut)) => {}
            Err(error) => panic!("SUB: {error}"),
        }
        assert!(
            Instant::now() < deadline,
            "the subscription never reached the publisher"
        );
    }

    publisher
        .send_topic("other.a", &telemetry(1))
        .expect("PUB sends");
    publisher
        .send_topic("sensors.b", &telemetry(2))
        .expect("PUB sends");
    loop {
        let (topic, value) = sub.recv_topic().expect("SUB gets");
        if &topic[..] != b"sensors.probe" {
            assert_eq!((&topic[..], value), (&b"sensors.b"[..], telemetry(2)));
            break;
        }
    }
}

#[test]
fn handles_round_trip_topics_through_pub_sub_with_both_codecs() {
    handles_topics(Postcard);
    handles_topics(Json);
}

#[test]
fn handle_send_errors_hand_the_message_back() {
    let req = TypedHandle::<_, Telemetry>::new(handle::ReqSocket::new().expect("a REQ"));
    req.try_send(&telemetry(1))
        .expect("queued for the I/O thread");
    // Out of turn: a REQ must receive the reply first.
    let error = req
        .send_timeout(&telemetry(2), Duration::from_millis(5))
        .unwrap_err();
    assert_eq!(error.kind(), Some(SendErrorKind::InvalidState));
    let message = error.into_message().expect("the message comes back");
    assert_eq!(req.decode(message).unwrap(), telemetry(2));

    let json = TypedHandle::<_, BTreeMap<(u8, u8), u8>, _>::with_codec(
        handle::PushSocket::new().expect("a PUSH"),
        Json,
    );
    let error = json.send(&BTreeMap::from([((1, 2), 3)])).unwrap_err();
    assert!(
        matches!(&error, TypedSendError::Encode(e) if e.codec == "json"),
        "{error:?}"
    );
}

#[test]
fn typed_handles_and_their_futures_cross_threads() {
    fn send_and_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let (push, pull) = handle_push_pull(Postcard);
    send_and_sync(&push);
    send_and_sync(&pull);
    let value = telemetry(0);
    let sending = push.send_async(&value);
    send(&sending);
    let receiving = pull.recv_async();
    send(&receiving);
    let topics = pull.recv_topic_async();
    send(&topics);
}
