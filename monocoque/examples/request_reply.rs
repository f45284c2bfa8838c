//! REQ/REP: a client asks a service a few questions over loopback TCP, one at a time.
//!
//! The REP socket binds a port the OS picks and answers in a task of its own; the REQ socket
//! connects and sends each question only after the previous answer has arrived. REQ enforces that
//! lock-step: the example also shows a second send, before the reply, being refused.
//!
//! ```text
//! cargo run -p monocoque --example request_reply
//! ```

use std::error::Error;
use std::time::Duration;

use monocoque::{Message, RepSocket, ReqSocket, SendErrorKind};

/// The questions the client asks, in order.
const QUESTIONS: [&str; 4] = ["2 + 2", "6 * 7", "10 - 3", "9 / 3"];

/// How long the client waits for any one reply before giving up (it never should).
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

#[compio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let rep = RepSocket::new();
    let endpoint = rep.bind("tcp://127.0.0.1:0").await?;
    println!("REP bound to {endpoint}");

    // The service answers exactly as many requests as the client will send, then closes (which
    // flushes its last reply).
    let service = compio::runtime::spawn(async move {
        for _ in 0..QUESTIONS.len() {
            let request = rep.recv().await?;
            let question = text(&request);
            let answer =
                evaluate(&question).map_or_else(|| "I don't know".to_owned(), |n| n.to_string());
            println!("  REP: got {question:?}, answering {answer:?}");
            rep.send(answer).await?;
        }
        rep.close().await;
        Ok::<(), Box<dyn Error>>(())
    });

    let req = ReqSocket::new();
    req.connect(&endpoint.to_string())?;
    println!("REQ connecting to {endpoint}");

    for (i, question) in QUESTIONS.iter().enumerate() {
        req.send(*question).await?;
        if i == 0 {
            // REQ is lock-step: until the reply arrives, another request is an error, and the
            // message comes back inside it.
            let refused = req
                .try_send("one more?")
                .expect_err("REQ must refuse a second request before the reply");
            assert_eq!(refused.kind, SendErrorKind::InvalidState);
            println!("REQ: a second send before the reply is refused ({refused})");
        }
        let reply = compio::time::timeout(REPLY_TIMEOUT, req.recv())
            .await
            .map_err(|_| format!("no reply to {question:?} within {REPLY_TIMEOUT:?}"))??;
        println!("REQ: {question} = {}", text(&reply));
    }

    service.await??;
    println!("{} round trips done", QUESTIONS.len());
    Ok(())
}

/// The message's frames as text, joined by `|`.
fn text(message: &Message) -> String {
    message
        .iter()
        .map(|frame| String::from_utf8_lossy(frame).into_owned())
        .collect::<Vec<_>>()
        .join("|")
}

/// Evaluates `a op b` for integers; `None` for anything else.
fn evaluate(question: &str) -> Option<i64> {
    let mut parts = question.split_whitespace();
    let a: i64 = parts.next()?.parse().ok()?;
    let op = parts.next()?;
    let b: i64 = parts.next()?.parse().ok()?;
    match op {
        "+" => a.checked_add(b),
        "-" => a.checked_sub(b),
        "*" => a.checked_mul(b),
        "/" => a.checked_div(b),
        _ => None,
    }
}
