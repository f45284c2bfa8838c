//! A publisher and a subscriber that find each other by name through etcd: neither knows the
//! other's address, and the subscriber may start first.
//!
//! With an etcd listening on its default port (`etcd` with no arguments starts one):
//!
//! ```text
//! cargo run -p monocoque --features etcd --example discovery            # both, in one process
//! cargo run -p monocoque --features etcd --example discovery -- sub     # in one terminal
//! cargo run -p monocoque --features etcd --example discovery -- pub     # in as many others
//! ```
//!
//! A second argument names the etcd endpoint (default `http://127.0.0.1:2379`). Kill a
//! publisher and start another: the subscriber drops the dead one when its lease expires (5 s
//! here) and connects to the new one as soon as it registers.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use monocoque::discovery::{EtcdOptions, EtcdRegistry, Service};
use monocoque::{MonitorEventKind, MonitorMask, PubSocket, SubSocket};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Publishes every 100 ms until `done` is set.
async fn publish(registry: &EtcdRegistry, done: Rc<Cell<bool>>) -> Result {
    let publisher = PubSocket::new();
    // Any free port on every interface: the registration advertises a connectable host.
    publisher.bind("tcp://*:0").await?;
    let service = Service::new("quotes").ttl(Duration::from_secs(5));
    let instance = publisher.register(registry, service).await?;
    println!(
        "publisher {} registered at {:?}",
        instance.id(),
        instance.endpoints()
    );
    let mut sent = 0;
    while !done.get() {
        publisher
            .send(format!("{} says {sent}", instance.id()))
            .await?;
        sent += 1;
        compio::time::sleep(Duration::from_millis(100)).await;
    }
    // Revokes the registration before returning: subscribers disconnect at once.
    publisher.close().await;
    Ok(())
}

/// Prints what arrives, `count` messages or forever.
async fn subscribe(registry: &EtcdRegistry, count: Option<usize>) -> Result {
    let subscriber = SubSocket::new();
    subscriber.subscribe("");
    let events = subscriber.monitor_events(MonitorMask::DISCOVERY);
    compio::runtime::spawn(async move {
        while let Some(event) = events.recv().await {
            match event.kind {
                MonitorEventKind::EndpointDiscovered { instance, .. } => {
                    println!("subscriber: found {instance} at {}", event.endpoint);
                }
                MonitorEventKind::EndpointLost { instance, .. } => {
                    println!("subscriber: lost {instance}");
                }
                other => println!("subscriber: {other:?}"),
            }
        }
    })
    .detach();
    // Returns at once: instances are connected as they register, for as long as it lives.
    subscriber.connect_service(registry, "quotes")?;
    let mut received = 0;
    while count.is_none_or(|count| received < count) {
        let message = subscriber.recv().await?;
        println!(
            "subscriber: {}",
            String::from_utf8_lossy(&message.frames()[0])
        );
        received += 1;
    }
    Ok(())
}

fn main() -> Result {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let role = args.first().map_or("both", String::as_str);
    let url = args.get(1).map_or("http://127.0.0.1:2379", String::as_str);
    compio::runtime::Runtime::new()?.block_on(async {
        let registry = EtcdRegistry::connect([url], EtcdOptions::new()).await?;
        let forever = Rc::new(Cell::new(false));
        match role {
            "pub" => publish(&registry, forever).await,
            "sub" => subscribe(&registry, None).await,
            "both" => {
                // The subscriber first: it connects when the publisher registers.
                let done = Rc::new(Cell::new(false));
                let publisher = compio::runtime::spawn({
                    let (registry, done) = (registry.clone(), done.clone());
                    async move { publish(&registry, done).await.map_err(|e| e.to_string()) }
                });
                let received = subscribe(&registry, Some(5)).await;
                done.set(true);
                publisher.await.map_err(|_| "the publisher panicked")??;
                received
            }
            other => Err(format!("unknown role `{other}`: pub, sub or both").into()),
        }
    })
}
