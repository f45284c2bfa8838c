//! A publisher in a process of its own, for the discovery tests to kill: registers as an
//! instance of a service in etcd, prints `registered <endpoint>`, then publishes its instance
//! id once a millisecond until it is killed.
//!
//! `discovery_publisher <etcd url> <prefix> <service> <instance id> <ttl seconds>`

use std::time::Duration;

use monocoque::PubSocket;
use monocoque::discovery::{EtcdOptions, EtcdRegistry, Service};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, prefix, service, id, ttl] = args.as_slice() else {
        return Err("usage: discovery_publisher <etcd url> <prefix> <service> <id> <ttl>".into());
    };
    let ttl = Duration::from_secs(ttl.parse()?);
    compio::runtime::Runtime::new()?.block_on(async {
        let registry = EtcdRegistry::connect([url], EtcdOptions::new().prefix(prefix)).await?;
        let publisher = PubSocket::new();
        publisher.bind("tcp://127.0.0.1:0").await?;
        let service = Service::new(service).instance_id(id).ttl(ttl);
        let instance = publisher.register(&registry, service).await?;
        println!("registered {}", instance.endpoints()[0]);
        loop {
            publisher.send(id.as_str()).await?;
            compio::time::sleep(Duration::from_millis(1)).await;
        }
    })
}
