//! Service discovery on a real etcd, started by each test on its own ports: registration and
//! resolution, every publisher of a service delivered, a publisher killed with SIGKILL, a
//! replacement found, etcd restarted and wiped, 100 publisher restarts, foreign values, and the
//! registry's load at rest.
//!
//! Deadlines here are correctness bounds (a lease's time to live, the 1 s a replacement may
//! take), with the figures printed for the record (`--nocapture`).

mod common;
mod etcd_common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::wait_until;
use etcd_common::Etcd;
use monocoque::discovery::{DiscoveryError, EtcdOptions, EtcdRegistry, Registry, Service};
use monocoque::{Monitor, MonitorEventKind, MonitorMask, PubSocket, SocketType, SubSocket};

/// The longest any wait of these tests may take: etcd restarts included.
const WAIT: Duration = Duration::from_secs(20);

const TCP_ANY: &str = "tcp://127.0.0.1:0";

fn registry(etcd: &Etcd) -> EtcdRegistry {
    EtcdRegistry::connect_blocking([etcd.client_url()], EtcdOptions::new()).expect("registry")
}

/// The next discovery event on `monitor` that `wanted` keeps, skipping the others.
async fn next_event(
    monitor: &Monitor,
    what: &str,
    mut wanted: impl FnMut(&MonitorEventKind) -> bool,
) -> MonitorEventKind {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match compio::time::timeout(left, monitor.recv()).await {
            Ok(Some(event)) if wanted(&event.kind) => return event.kind,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the monitor ended while waiting for {what}"),
            Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
        }
    }
}

fn discovered(id: &str) -> impl FnMut(&MonitorEventKind) -> bool + '_ {
    move |kind| matches!(kind, MonitorEventKind::EndpointDiscovered { instance, .. } if instance == id)
}

fn lost(id: &str) -> impl FnMut(&MonitorEventKind) -> bool + '_ {
    move |kind| matches!(kind, MonitorEventKind::EndpointLost { instance, .. } if instance == id)
}

/// Publishes each publisher's tag until the subscriber has received every tag in `expected`
/// (some may come from other processes); returns as soon as the last one arrives.
async fn receive_tags(
    publishers: &[(&PubSocket, &str)],
    subscriber: &SubSocket,
    expected: &[&str],
) {
    let mut missing: BTreeSet<String> = expected.iter().map(|t| t.to_string()).collect();
    let deadline = Instant::now() + WAIT;
    while !missing.is_empty() {
        assert!(Instant::now() < deadline, "never received from {missing:?}");
        for (publisher, tag) in publishers {
            publisher.send(*tag).await.expect("publish");
        }
        // Publishers in other processes send without pause: stop reading at the last tag.
        while let Ok(Ok(message)) =
            compio::time::timeout(Duration::from_millis(5), subscriber.recv()).await
        {
            missing.remove(&*String::from_utf8_lossy(&message.frames()[0]));
            if missing.is_empty() {
                break;
            }
        }
    }
}

/// A publisher in a process of its own, registered as `id` with a lease of `ttl` seconds;
/// returns once it says it is registered, and when.
fn spawn_publisher(etcd: &Etcd, service: &str, id: &str, ttl: u64) -> (Child, Instant) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_discovery_publisher"))
        .args([
            &etcd.client_url(),
            "/monocoque",
            service,
            id,
            &ttl.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the publisher");
    let stdout = child.stdout.take().expect("piped");
    let (line, read) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let _ = line.send(first);
    });
    let first = read.recv_timeout(WAIT).expect("the publisher registers");
    assert!(first.starts_with("registered "), "publisher said {first:?}");
    (child, Instant::now())
}

/// Kills a child with SIGKILL on drop, whatever the test did.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[compio::test]
async fn register_and_resolve() {
    let etcd = Etcd::start();
    let registry = registry(&etcd);
    assert!(registry.resolve("quotes").await.unwrap().is_empty());
    let publisher = PubSocket::new();
    let endpoint = publisher.bind(TCP_ANY).await.unwrap();
    let instance = publisher
        .register(
            &registry,
            Service::new("quotes")
                .instance_id("p1")
                .metadata("region", "eu"),
        )
        .await
        .unwrap();
    let found = registry.resolve("quotes").await.unwrap();
    assert_eq!(found, std::slice::from_ref(&instance));
    assert_eq!(found[0].endpoints(), [endpoint.to_string()]);
    assert_eq!(found[0].socket_type(), SocketType::Pub);
    assert_eq!(found[0].metadata()["region"], "eu");
    // A clean close revokes at once.
    publisher.close().await;
    assert!(registry.resolve("quotes").await.unwrap().is_empty());
}

#[compio::test]
async fn a_registry_that_cannot_be_reached_is_an_error() {
    // A port nothing listens on: etcd's own, stopped.
    let mut etcd = Etcd::start();
    let registry = registry(&etcd);
    etcd.kill();
    let publisher = PubSocket::new();
    publisher.bind(TCP_ANY).await.unwrap();
    let result = publisher.register(&registry, Service::new("quotes")).await;
    assert!(
        matches!(result, Err(DiscoveryError::Unavailable(_))),
        "{result:?}"
    );
    assert!(registry.resolve("quotes").await.is_err());
}

#[compio::test]
async fn two_publishers_of_one_service_are_both_delivered() {
    let etcd = Etcd::start();
    let registry = registry(&etcd);
    let subscriber = SubSocket::new();
    subscriber.subscribe("");
    subscriber.connect_service(&registry, "quotes").unwrap();
    let a = PubSocket::new();
    a.bind(TCP_ANY).await.unwrap();
    a.register(&registry, Service::new("quotes").instance_id("a"))
        .await
        .unwrap();
    let b = PubSocket::new();
    b.bind(TCP_ANY).await.unwrap();
    b.register(&registry, Service::new("quotes").instance_id("b"))
        .await
        .unwrap();
    receive_tags(&[(&a, "a"), (&b, "b")], &subscriber, &["a", "b"]).await;
}

#[compio::test]
async fn a_killed_publisher_disappears_within_its_ttl_and_a_replacement_is_found_at_once() {
    const TTL: u64 = 2;
    let etcd = Etcd::start();
    let registry = registry(&etcd);
    let subscriber = SubSocket::new();
    subscriber.subscribe("");
    let events = subscriber.monitor_events(MonitorMask::DISCOVERY);
    subscriber.connect_service(&registry, "quotes").unwrap();

    let mut gone = Vec::new();
    let mut found = Vec::new();
    let (first, _) = spawn_publisher(&etcd, "quotes", "p0", TTL);
    let mut victim = Killed(first);
    next_event(&events, "p0 discovered", discovered("p0")).await;
    receive_tags(&[], &subscriber, &["p0"]).await;
    for round in 1..=3 {
        let id = format!("p{round}");
        // SIGKILL: no revocation, the lease expires.
        let killed = Instant::now();
        let _ = victim.0.kill();
        let _ = victim.0.wait();
        let previous = format!("p{}", round - 1);
        next_event(&events, "the killed publisher lost", lost(&previous)).await;
        gone.push(killed.elapsed());

        let (replacement, registered) = spawn_publisher(&etcd, "quotes", &id, TTL);
        victim = Killed(replacement);
        next_event(&events, "the replacement discovered", discovered(&id)).await;
        let seen = registered.elapsed();
        receive_tags(&[], &subscriber, &[&id]).await;
        found.push((seen, registered.elapsed()));
    }
    println!("killed publisher gone from the subscriber after: {gone:?} (ttl {TTL} s)");
    println!(
        "replacement discovered, and its first message at the subscriber, after registering: {found:?}"
    );
    let ttl = Duration::from_secs(TTL);
    for elapsed in &gone {
        assert!(*elapsed <= ttl, "{gone:?}");
    }
    for (_, elapsed) in &found {
        assert!(*elapsed < Duration::from_secs(1), "{found:?}");
    }
    drop(victim);
}

#[compio::test]
async fn etcd_restarted_and_wiped_registrations_come_back() {
    let mut etcd = Etcd::start();
    let registry = registry(&etcd);
    let subscriber = SubSocket::new();
    subscriber.subscribe("");
    let events = subscriber.monitor_events(MonitorMask::DISCOVERY);
    subscriber.connect_service(&registry, "quotes").unwrap();
    let ttl = Duration::from_secs(2);
    let a = PubSocket::new();
    let a_events = a.monitor_events(MonitorMask::DISCOVERY);
    a.bind(TCP_ANY).await.unwrap();
    a.register(&registry, Service::new("quotes").instance_id("a").ttl(ttl))
        .await
        .unwrap();
    let b = PubSocket::new();
    b.bind(TCP_ANY).await.unwrap();
    b.register(&registry, Service::new("quotes").instance_id("b").ttl(ttl))
        .await
        .unwrap();
    receive_tags(&[(&a, "a"), (&b, "b")], &subscriber, &["a", "b"]).await;

    // A restart with its data: the leases survive, nothing is lost.
    etcd.restart();
    receive_tags(&[(&a, "a"), (&b, "b")], &subscriber, &["a", "b"]).await;
    wait_for_instances(&registry, &["a", "b"]).await;

    // A wiped etcd: the leases are gone; each publisher registers again, and the subscriber
    // finds both again.
    etcd.restart_wiped();
    next_event(&a_events, "a's lease lost", |k| {
        matches!(k, MonitorEventKind::LeaseLost { .. })
    })
    .await;
    next_event(&a_events, "a registered again", |k| {
        matches!(k, MonitorEventKind::Registered { .. })
    })
    .await;
    wait_for_instances(&registry, &["a", "b"]).await;
    receive_tags(&[(&a, "a"), (&b, "b")], &subscriber, &["a", "b"]).await;
    // The subscriber's view settles on exactly the two publishers.
    wait_until("two connected publishers", || {
        subscriber.connected_peers() == 2
    })
    .await;
    drop(events);
}

/// Waits until the registry lists exactly `ids` (it may be restarting).
async fn wait_for_instances(registry: &EtcdRegistry, ids: &[&str]) {
    let wanted: BTreeSet<String> = ids.iter().map(|s| s.to_string()).collect();
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(found) = registry.resolve("quotes").await {
            let found: BTreeSet<String> = found.iter().map(|i| i.id().to_owned()).collect();
            if found == wanted {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "listed {found:?}, want {wanted:?}"
            );
        }
        assert!(Instant::now() < deadline, "etcd never answered");
        compio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[compio::test]
async fn a_hundred_publisher_restarts_leave_no_stale_endpoint() {
    let etcd = Etcd::start();
    let registry = registry(&etcd);
    let subscriber = SubSocket::new();
    subscriber.subscribe("");
    let events = subscriber.monitor_events(MonitorMask::DISCOVERY);
    subscriber.connect_service(&registry, "quotes").unwrap();
    let started = Instant::now();
    for round in 0..100 {
        let id = format!("gen-{round}");
        let publisher = PubSocket::new();
        publisher.bind(TCP_ANY).await.unwrap();
        publisher
            .register(&registry, Service::new("quotes").instance_id(id.clone()))
            .await
            .unwrap();
        next_event(&events, "the new publisher discovered", discovered(&id)).await;
        drop(publisher);
    }
    let last = PubSocket::new();
    last.bind(TCP_ANY).await.unwrap();
    last.register(&registry, Service::new("quotes").instance_id("last"))
        .await
        .unwrap();
    println!("100 publisher restarts in {:?}", started.elapsed());
    wait_for_instances(&registry, &["last"]).await;
    receive_tags(&[(&last, "last")], &subscriber, &["last"]).await;
    // Every earlier one was disconnected: one connection remains.
    wait_until("one connected publisher", || {
        subscriber.connected_peers() == 1
    })
    .await;
}

/// Writes `value` at `key` with etcd's own client.
fn put_raw(etcd: &Etcd, key: &str, value: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut client = etcd_client::Client::connect([etcd.client_url()], None)
            .await
            .expect("connect");
        client.put(key, value, None).await.expect("put");
    });
}

#[compio::test]
async fn foreign_values_under_the_prefix_are_skipped() {
    let etcd = Etcd::start();
    let registry = registry(&etcd);
    put_raw(&etcd, "/monocoque/quotes/junk", "not json");
    put_raw(&etcd, "/monocoque/quotes/empty", "{}");
    put_raw(
        &etcd,
        "/monocoque/quotes/deep/er",
        r#"{"endpoints":["tcp://127.0.0.1:1"],"socket_type":"PUB"}"#,
    );
    put_raw(
        &etcd,
        "/monocoque/quotes/wild",
        r#"{"endpoints":["tcp://*:1"],"socket_type":"PUB"}"#,
    );
    let subscriber = SubSocket::new();
    subscriber.subscribe("");
    let events = subscriber.monitor_events(MonitorMask::DISCOVERY);
    subscriber.connect_service(&registry, "quotes").unwrap();
    let publisher = PubSocket::new();
    publisher.bind(TCP_ANY).await.unwrap();
    publisher
        .register(&registry, Service::new("quotes").instance_id("good"))
        .await
        .unwrap();
    // The first discovery is the good instance; the others were skipped.
    match next_event(&events, "a discovery", |k| {
        matches!(k, MonitorEventKind::EndpointDiscovered { .. })
    })
    .await
    {
        MonitorEventKind::EndpointDiscovered { instance, .. } => assert_eq!(instance, "good"),
        other => panic!("{other:?}"),
    }
    let ids: Vec<String> = registry
        .resolve("quotes")
        .await
        .unwrap()
        .iter()
        .map(|i| i.id().to_owned())
        .collect();
    assert_eq!(ids, ["good"]);
    receive_tags(&[(&publisher, "good")], &subscriber, &["good"]).await;

    // Junk written over a live instance: it is one no more.
    put_raw(&etcd, "/monocoque/quotes/good", "overwritten");
    next_event(&events, "the overwritten instance lost", lost("good")).await;
}

#[test]
fn handles_register_and_follow_through_etcd() {
    use monocoque::handle;
    let etcd = Etcd::start();
    let registry = registry(&etcd);
    let subscriber = handle::SubSocket::new().unwrap();
    subscriber.subscribe("").unwrap();
    subscriber.connect_service(&registry, "quotes").unwrap();
    let publisher = handle::PubSocket::new().unwrap();
    publisher.bind(TCP_ANY).unwrap();
    publisher
        .register(&registry, Service::new("quotes").instance_id("h"))
        .unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "nothing arrived through etcd");
        publisher.send("h").unwrap();
        if subscriber.recv_timeout(Duration::from_millis(10)).is_ok() {
            break;
        }
    }
    drop(publisher);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while !runtime
        .block_on(registry.resolve("quotes"))
        .unwrap()
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the registration outlived its handle"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[compio::test]
async fn the_load_at_rest_is_one_renewal_per_third_of_the_lease() {
    const SOCKETS: usize = 10;
    // A lease of 3 s: the TTL less etcd's 500 ms expiry sweep, rounded down.
    const TTL: u64 = 4;
    const LEASE: u64 = 3;
    let etcd = Etcd::start();
    let registry = registry(&etcd);
    let mut publishers = Vec::new();
    for i in 0..SOCKETS {
        let publisher = PubSocket::new();
        publisher.bind(TCP_ANY).await.unwrap();
        publisher
            .register(
                &registry,
                Service::new("quotes")
                    .instance_id(format!("p{i}"))
                    .ttl(Duration::from_secs(TTL)),
            )
            .await
            .unwrap();
        publishers.push(publisher);
    }
    let subscriber = SubSocket::new();
    subscriber.connect_service(&registry, "quotes").unwrap();
    let keepalive = [("grpc_method", "LeaseKeepAlive")];
    let window = Duration::from_secs(6);
    let (renewals, calls) = (
        etcd.metric("grpc_server_msg_received_total", &keepalive),
        etcd.metric("grpc_server_msg_received_total", &[]),
    );
    compio::time::sleep(window).await;
    let renewals = etcd.metric("grpc_server_msg_received_total", &keepalive) - renewals;
    let calls = etcd.metric("grpc_server_msg_received_total", &[]) - calls;
    let per_socket = renewals / window.as_secs_f64() / SOCKETS as f64;
    let all = calls / window.as_secs_f64() / SOCKETS as f64;
    println!(
        "at rest: {per_socket:.2} renewals/s and {all:.2} etcd requests/s per registered socket \
         (ttl {TTL} s, {SOCKETS} sockets and one watching subscriber)"
    );
    let expected = 3.0 / LEASE as f64;
    assert!(
        per_socket > expected * 0.6 && per_socket < expected * 1.4,
        "{per_socket} renewals/s per socket, expected about {expected}"
    );
    assert!(all < expected * 1.5, "{all} requests/s per socket");
}
