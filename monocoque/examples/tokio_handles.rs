//! monocoque from a tokio program: thread-safe handles whose sockets run on monocoque's own I/O
//! thread, used from tokio tasks with `send_async`, a `Stream` and a `Sink`.
//!
//! ```text
//! cargo run -p monocoque --example tokio_handles
//! ```

use futures_util::{SinkExt, StreamExt};
use monocoque::Message;
use monocoque::handle::{DealerSocket, RouterSocket};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), monocoque::Error> {
    let router = RouterSocket::new()?;
    let endpoint = router.bind_async("tcp://127.0.0.1:0").await?;

    // Three tokio tasks, each with its own DEALER, send work to the ROUTER.
    let mut tasks = Vec::new();
    for t in 0..3 {
        let endpoint = endpoint.to_string();
        tasks.push(tokio::spawn(async move {
            let dealer = DealerSocket::new()?;
            dealer.connect(&endpoint)?;
            let mut sink = dealer.sink();
            for n in 0..4 {
                sink.feed(Message::from(format!("task {t} job {n}")))
                    .await?;
            }
            sink.flush().await?;
            // Each task waits for its four answers.
            let answers: Vec<Message> = dealer.stream().take(4).collect().await;
            Ok::<_, monocoque::Error>(answers.len())
        }));
    }

    // The ROUTER answers each job through its Stream of requests: [dealer id, job].
    let mut requests = router.stream();
    for _ in 0..12 {
        let request = requests.next().await.ok_or(monocoque::Error::Closed)?;
        let answer = format!("done: {}", String::from_utf8_lossy(&request[1]));
        router
            .send_async(Message::from(request[0].clone()).with(answer))
            .await?;
    }
    for task in tasks {
        let answered = task.await.map_err(|_| monocoque::Error::Closed)??;
        assert_eq!(answered, 4);
    }
    println!("12 jobs from 3 tokio tasks answered through thread-safe handles");
    Ok(())
}
