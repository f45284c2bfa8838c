//! PUB/SUB with topic filtering: one publisher, three subscribers, each seeing only its topics.
//!
//! Subscriptions are byte prefixes of a message's first frame: `weather.` matches
//! `weather.paris` and `weather.oslo` but not `weatherman`, and the empty subscription matches
//! everything. The publisher filters (ZMTP 3.1 sends subscriptions upstream), so a subscriber
//! never even receives what it did not ask for.
//!
//! A subscription reaches the publisher some time after `connect` (the "slow joiner"): whatever
//! is published before that is not delivered. The example first publishes `hello` messages in a
//! bounded loop, waiting on each subscriber with `compio::time::timeout` between rounds, until
//! every subscriber has heard one; only then does it publish the real messages and check that
//! each subscriber got exactly the ones matching its subscription, in order.
//!
//! ```text
//! cargo run -p monocoque --example pub_sub
//! ```

use std::error::Error;
use std::time::Duration;

use monocoque::{Message, PubSocket, SubSocket};

/// What the publisher sends after the warm-up: `(topic, body)`.
const MESSAGES: [(&str, &str); 7] = [
    ("weather.paris", "sunny, 24C"),
    ("sports.f1", "pole position for car 44"),
    ("weatherman", "the forecaster is on holiday"),
    ("weather.oslo", "snow, -3C"),
    ("news", "markets up"),
    ("sports.tennis", "final in 5 sets"),
    ("weather.lima", "cloudy, 18C"),
];

/// The body of the warm-up messages, which subscribers skip.
const HELLO: &str = "hello";

/// How long to wait on a subscriber per warm-up round, and at most how many rounds.
const ROUND_WAIT: Duration = Duration::from_millis(10);
const MAX_ROUNDS: usize = 500;

#[compio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let publisher = PubSocket::new();
    let endpoint = publisher.bind("tcp://127.0.0.1:0").await?.to_string();
    println!("PUB bound to {endpoint}");

    let subscribers = [
        ("weather.", SubSocket::new()),
        ("sports.", SubSocket::new()),
        ("", SubSocket::new()),
    ];
    for (topic, socket) in &subscribers {
        socket.subscribe(*topic);
        socket.connect(&endpoint)?;
        println!("SUB subscribed to {topic:?}");
    }

    // Slow joiner: publish a hello on every topic until each subscriber has seen one.
    let mut joined = [false; 3];
    let mut rounds = 0;
    while !joined.iter().all(|&j| j) {
        rounds += 1;
        if rounds > MAX_ROUNDS {
            return Err(format!("subscriptions did not arrive after {MAX_ROUNDS} rounds").into());
        }
        for topic in ["weather.hello", "sports.hello"] {
            publisher.send(Message::from(topic).with(HELLO)).await?;
        }
        for ((_, socket), joined) in subscribers.iter().zip(&mut joined) {
            if !*joined
                && compio::time::timeout(ROUND_WAIT, socket.recv())
                    .await
                    .is_ok()
            {
                *joined = true;
            }
        }
    }
    println!("all subscriptions reached the publisher after {rounds} warm-up round(s)");

    for (topic, body) in MESSAGES {
        publisher.send(Message::from(topic).with(body)).await?;
    }
    // A last message every subscriber matches marks the end of the stream for it.
    for topic in ["weather.end", "sports.end"] {
        publisher.send(Message::from(topic).with("end")).await?;
    }
    println!("published {} messages", MESSAGES.len());

    let mut all_ok = true;
    for (topic, socket) in &subscribers {
        let received = receive_until_end(socket, topic).await?;
        let expected: Vec<String> = MESSAGES
            .iter()
            .filter(|(t, _)| t.starts_with(topic))
            .map(|(t, _)| (*t).to_owned())
            .collect();
        let ok = received == expected;
        all_ok &= ok;
        println!(
            "SUB {topic:?} received {} message(s): {} {}",
            received.len(),
            received.join(", "),
            if ok { "(as expected)" } else { "(WRONG)" },
        );
    }
    if !all_ok {
        return Err("a subscriber did not receive exactly its topics".into());
    }
    Ok(())
}

/// Receives until the subscriber's `end` marker (the last one it matches) and returns the topics
/// of the real messages, skipping warm-up hellos still in flight.
async fn receive_until_end(
    socket: &SubSocket,
    subscription: &str,
) -> Result<Vec<String>, Box<dyn Error>> {
    // The empty subscription matches both end markers; the others match one.
    let mut ends_left = if subscription.is_empty() { 2 } else { 1 };
    let mut topics = Vec::new();
    while ends_left > 0 {
        let message = compio::time::timeout(Duration::from_secs(5), socket.recv())
            .await
            .map_err(|_| format!("SUB {subscription:?}: stream stopped before its end marker"))??;
        let topic = String::from_utf8_lossy(&message[0]).into_owned();
        match message.frames().get(1).map(|body| &body[..]) {
            Some(body) if body == HELLO.as_bytes() => {}
            Some(b"end") => ends_left -= 1,
            _ => topics.push(topic),
        }
    }
    Ok(topics)
}
