//! Typed PUB/SUB: weather reports as Rust values, with topics, over the default postcard codec.
//!
//! The publisher sends `Report`s (an enum holding nested structs) with `send_topic`, one topic
//! per city; two subscribers decode them with `recv_topic`. One of them follows every city
//! (`weather.`), the other Oslo only (`weather.oslo`). In the middle of the stream the publisher
//! also sends a frame that is not a `Report` at all (JSON text, through the untyped socket):
//! each subscriber gets a typed decode error for that message, with the message inside, and
//! goes on with the next one.
//!
//! A subscription reaches the publisher some time after `connect` (the slow joiner), so the
//! publisher first sends `Report::Hello` until both subscribers have heard one.
//!
//! ```text
//! cargo run -p monocoque --example typed_pubsub --features serde
//! ```

use std::error::Error;
use std::time::Duration;

use monocoque::typed::{Typed, TypedRecvError};
use monocoque::{Message, PubSocket, SubSocket};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Report {
    /// The warm-up probe, which subscribers skip.
    Hello,
    Reading(Reading),
    /// The end of the stream.
    End,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Reading {
    station: Station,
    celsius: f32,
    sky: Sky,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Station {
    city: String,
    id: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Sky {
    Clear,
    Cloudy { cover_percent: u8 },
    Snow { cm_per_hour: f32 },
}

/// How long to wait on a subscriber per warm-up round, and at most how many rounds.
const ROUND_WAIT: Duration = Duration::from_millis(10);
const MAX_ROUNDS: usize = 500;

/// How long a subscriber waits for the next report before giving up.
const WAIT: Duration = Duration::from_secs(5);

#[compio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let publisher = Typed::<_, Report>::new(PubSocket::new());
    let endpoint = publisher
        .get_ref()
        .bind("tcp://127.0.0.1:0")
        .await?
        .to_string();
    println!("PUB bound to {endpoint}");

    let subscribers = [
        ("weather.", Typed::<_, Report>::new(SubSocket::new())),
        ("weather.oslo", Typed::<_, Report>::new(SubSocket::new())),
    ];
    for (topic, subscriber) in &subscribers {
        subscriber.get_ref().subscribe(*topic);
        subscriber.get_ref().connect(&endpoint)?;
    }

    // Slow joiner: publish hellos until each subscriber has heard one.
    let mut joined = [false; 2];
    let mut rounds = 0;
    while !joined.iter().all(|&j| j) {
        rounds += 1;
        if rounds > MAX_ROUNDS {
            return Err(format!("subscriptions did not arrive after {MAX_ROUNDS} rounds").into());
        }
        publisher.send_topic("weather.oslo", &Report::Hello).await?;
        for ((_, subscriber), joined) in subscribers.iter().zip(&mut joined) {
            if !*joined
                && compio::time::timeout(ROUND_WAIT, subscriber.recv())
                    .await
                    .is_ok()
            {
                *joined = true;
            }
        }
    }
    println!("both subscriptions reached the publisher after {rounds} warm-up round(s)");

    let readings = [
        reading("oslo", 1, -3.5, Sky::Snow { cm_per_hour: 1.5 }),
        reading("paris", 2, 24.0, Sky::Clear),
        reading("oslo", 1, -4.0, Sky::Cloudy { cover_percent: 80 }),
        reading("lima", 3, 18.5, Sky::Cloudy { cover_percent: 40 }),
    ];
    for reading in &readings {
        let topic = format!("weather.{}", reading.station.city);
        publisher
            .send_topic(topic, &Report::Reading(reading.clone()))
            .await?;
    }
    // Not a report: another program publishing JSON on the same topic.
    let stray = Message::from("weather.oslo").with(r#"{"celsius": 20}"#);
    publisher.get_ref().send(stray).await?;
    let last = reading("oslo", 1, -2.0, Sky::Clear);
    publisher
        .send_topic("weather.oslo", &Report::Reading(last.clone()))
        .await?;
    publisher.send_topic("weather.oslo", &Report::End).await?;

    for (subscription, subscriber) in &subscribers {
        println!("SUB {subscription:?}:");
        let mut received = Vec::new();
        let mut decode_errors = 0;
        loop {
            let next = compio::time::timeout(WAIT, subscriber.recv_topic())
                .await
                .map_err(|_| format!("SUB {subscription:?}: no end of stream"))?;
            match next {
                Ok((_, Report::Hello)) => {} // a warm-up probe still in flight
                Ok((topic, Report::Reading(reading))) => {
                    println!("  {}: {reading:?}", String::from_utf8_lossy(&topic));
                    received.push(reading);
                }
                Ok((_, Report::End)) => break,
                Err(TypedRecvError::Decode { error, message }) => {
                    println!("  not a report ({error}): {message:?}; going on");
                    decode_errors += 1;
                }
                Err(error) => return Err(error.into()),
            }
        }
        let expected: Vec<Reading> = readings
            .iter()
            .chain([&last])
            .filter(|r| format!("weather.{}", r.station.city).starts_with(subscription))
            .cloned()
            .collect();
        if received != expected || decode_errors != 1 {
            return Err(format!("SUB {subscription:?} did not receive exactly its reports").into());
        }
        println!(
            "  {} report(s) as expected, and 1 message that did not decode",
            received.len()
        );
    }
    Ok(())
}

fn reading(city: &str, id: u32, celsius: f32, sky: Sky) -> Reading {
    Reading {
        station: Station {
            city: city.to_string(),
            id,
        },
        celsius,
        sky,
    }
}
