//! Service discovery through the in-process registry: registration, following every instance,
//! departures, incompatible instances, and the same through handles.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{TCP_ANY, WAIT, within};
use monocoque::discovery::{DiscoveryError, Instance, Registry, Service, StaticRegistry};
use monocoque::{
    Message, Monitor, MonitorEventKind, MonitorMask, PubSocket, SocketType, SubSocket,
};

/// The next discovery event on `monitor`.
async fn next_discovery(monitor: &Monitor) -> MonitorEventKind {
    let event = within("a discovery event", monitor.recv())
        .await
        .expect("monitor open");
    event.kind
}

/// Publishes `tag` from each publisher until the subscriber has received every tag.
async fn receive_from_all(publishers: &[(&PubSocket, &str)], subscriber: &SubSocket) {
    let mut missing: BTreeSet<String> = publishers.iter().map(|(_, t)| t.to_string()).collect();
    let deadline = Instant::now() + WAIT;
    while !missing.is_empty() {
        assert!(Instant::now() < deadline, "never received from {missing:?}");
        for (publisher, tag) in publishers {
            publisher.send(*tag).await.expect("publish");
        }
        while let Ok(Ok(message)) =
            compio::time::timeout(Duration::from_millis(5), subscriber.recv()).await
        {
            let tag = String::from_utf8_lossy(&message.frames()[0]).into_owned();
            missing.remove(&tag);
        }
    }
}

#[compio::test]
async fn a_subscriber_follows_every_instance_as_they_come_and_go() {
    let registry = StaticRegistry::new();
    let subscriber = SubSocket::new();
    subscriber.subscribe("");
    let events = subscriber.monitor_events(MonitorMask::DISCOVERY);
    // Before any publisher: it connects when they register.
    subscriber.connect_service(&registry, "quotes").unwrap();

    let a = PubSocket::new();
    a.bind(TCP_ANY).await.unwrap();
    let a_instance = a
        .register(&registry, Service::new("quotes").instance_id("a"))
        .await
        .unwrap();
    let b = PubSocket::new();
    b.bind(TCP_ANY).await.unwrap();
    b.register(&registry, Service::new("quotes").instance_id("b"))
        .await
        .unwrap();

    let mut found = BTreeSet::new();
    for _ in 0..2 {
        match next_discovery(&events).await {
            MonitorEventKind::EndpointDiscovered { service, instance } => {
                assert_eq!(service, "quotes");
                found.insert(instance);
            }
            other => panic!("expected a discovered endpoint, got {other:?}"),
        }
    }
    assert_eq!(found, BTreeSet::from(["a".to_owned(), "b".to_owned()]));
    receive_from_all(&[(&a, "a"), (&b, "b")], &subscriber).await;

    // A departed instance is disconnected.
    drop(a);
    match next_discovery(&events).await {
        MonitorEventKind::EndpointLost { instance, .. } => assert_eq!(instance, "a"),
        other => panic!("expected a lost endpoint, got {other:?}"),
    }
    let ids: Vec<_> = registry
        .instances("quotes")
        .iter()
        .map(|i| i.id().to_owned())
        .collect();
    assert_eq!(ids, ["b"]);
    assert_eq!(a_instance.socket_type(), SocketType::Pub);

    // A replacement is connected, and delivered.
    let c = PubSocket::new();
    c.bind(TCP_ANY).await.unwrap();
    c.register(&registry, Service::new("quotes").instance_id("c"))
        .await
        .unwrap();
    match next_discovery(&events).await {
        MonitorEventKind::EndpointDiscovered { instance, .. } => assert_eq!(instance, "c"),
        other => panic!("expected a discovered endpoint, got {other:?}"),
    }
    receive_from_all(&[(&b, "b"), (&c, "c")], &subscriber).await;
}

#[compio::test]
async fn close_revokes_the_registration_at_once() {
    let registry = StaticRegistry::new();
    let publisher = PubSocket::new();
    let monitor = publisher.monitor_events(MonitorMask::DISCOVERY);
    let endpoint = publisher.bind(TCP_ANY).await.unwrap();
    let instance = publisher
        .register(&registry, Service::new("quotes").metadata("region", "eu"))
        .await
        .unwrap();
    assert_eq!(instance.endpoints(), [endpoint.to_string()]);
    assert_eq!(instance.id().len(), 16);
    assert_eq!(instance.metadata()["region"], "eu");
    match next_discovery(&monitor).await {
        MonitorEventKind::Registered {
            service,
            instance: id,
        } => {
            assert_eq!((service.as_str(), id.as_str()), ("quotes", instance.id()));
        }
        other => panic!("expected Registered, got {other:?}"),
    }
    assert_eq!(registry.resolve("quotes").await.unwrap(), [instance]);
    publisher.close().await;
    assert!(registry.resolve("quotes").await.unwrap().is_empty());
}

#[compio::test]
async fn a_wildcard_bind_is_registered_at_the_advertised_host() {
    let registry = StaticRegistry::new();
    let publisher = PubSocket::new();
    let endpoint = publisher.bind("tcp://*:0").await.unwrap();
    let port = endpoint.port().unwrap();
    let instance = publisher
        .register(
            &registry,
            Service::new("quotes").advertise_host("127.0.0.1"),
        )
        .await
        .unwrap();
    assert_eq!(instance.endpoints(), [format!("tcp://127.0.0.1:{port}")]);

    // And a subscriber connects there.
    let subscriber = SubSocket::new();
    subscriber.subscribe("");
    subscriber.connect_service(&registry, "quotes").unwrap();
    receive_from_all(&[(&publisher, "p")], &subscriber).await;
}

#[compio::test]
async fn instances_a_socket_cannot_talk_to_are_skipped() {
    let registry = StaticRegistry::new();
    // A PUSH and an unparseable endpoint under the service: neither is for a SUB.
    registry.insert(
        Instance::new("quotes", "push", SocketType::Push).with_endpoint("tcp://127.0.0.1:1"),
    );
    registry.insert(Instance::new("quotes", "junk", SocketType::Pub).with_endpoint("tcp://"));
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
    // The first discovery is the good one: nothing came of the other two.
    match next_discovery(&events).await {
        MonitorEventKind::EndpointDiscovered { instance, .. } => assert_eq!(instance, "good"),
        other => panic!("expected the good instance, got {other:?}"),
    }
    receive_from_all(&[(&publisher, "good")], &subscriber).await;
    assert_eq!(subscriber.connected_peers(), 1);
}

#[compio::test]
async fn bad_registrations_are_typed_errors() {
    let registry = StaticRegistry::new();
    let publisher = PubSocket::new();
    let unbound = publisher.register(&registry, Service::new("quotes")).await;
    assert!(
        matches!(unbound, Err(DiscoveryError::NotBound)),
        "{unbound:?}"
    );
    publisher.bind(TCP_ANY).await.unwrap();
    for (service, what) in [
        (Service::new(""), "service name"),
        (Service::new("a/b"), "service name"),
        (Service::new("ok").instance_id("x\ny"), "instance id"),
    ] {
        match publisher.register(&registry, service).await {
            Err(DiscoveryError::InvalidName { what: got, .. }) => assert_eq!(got, what),
            other => panic!("expected an invalid name, got {other:?}"),
        }
    }
    for ttl in [Duration::from_millis(1999), Duration::from_secs(86_401)] {
        assert!(matches!(
            publisher
                .register(&registry, Service::new("ok").ttl(ttl))
                .await,
            Err(DiscoveryError::InvalidTtl(_))
        ));
    }
    let host = Service::new("ok").advertise_host("*");
    assert!(matches!(
        publisher.register(&registry, host).await,
        Err(DiscoveryError::InvalidHost(_))
    ));
    let subscriber = SubSocket::new();
    assert!(matches!(
        subscriber.connect_service(&registry, "a/b"),
        Err(DiscoveryError::InvalidName { .. })
    ));
    assert!(registry.instances("ok").is_empty());
}

#[test]
fn handles_register_and_follow() {
    use monocoque::handle;
    let registry = StaticRegistry::new();
    let subscriber = handle::SubSocket::new().unwrap();
    subscriber.subscribe("").unwrap();
    subscriber.connect_service(&registry, "quotes").unwrap();
    let publisher = handle::PubSocket::new().unwrap();
    publisher.bind(TCP_ANY).unwrap();
    let instance = publisher
        .register(&registry, Service::new("quotes"))
        .unwrap();
    assert_eq!(instance.socket_type(), SocketType::Pub);
    let deadline = Instant::now() + WAIT;
    let received = loop {
        assert!(
            Instant::now() < deadline,
            "nothing arrived through discovery"
        );
        publisher.send("tick").unwrap();
        if let Ok(message) = subscriber.recv_timeout(Duration::from_millis(10)) {
            break message;
        }
    };
    assert_eq!(received, Message::from("tick"));
    drop(publisher);
    // The handle's socket closes on its thread, and revokes there.
    let deadline = Instant::now() + WAIT;
    while !registry.instances("quotes").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the registration outlived its socket"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[compio::test]
async fn two_instances_at_one_endpoint_share_one_connection() {
    // A publisher restarted on a fixed port within its old lease: two ids, one endpoint.
    let registry = StaticRegistry::new();
    let a = PubSocket::new();
    let at = a.bind(TCP_ANY).await.unwrap().to_string();
    let b = PubSocket::new();
    let bt = b.bind(TCP_ANY).await.unwrap().to_string();
    let instance = |id: &str, endpoint: &str| {
        Instance::new("quotes", id, SocketType::Pub).with_endpoint(endpoint)
    };
    registry.insert(instance("old", &at));
    registry.insert(instance("new", &at));

    let subscriber = SubSocket::new();
    subscriber.subscribe("");
    let events = subscriber.monitor_events(MonitorMask::DISCOVERY | MonitorMask::CONNECTED);
    subscriber.connect_service(&registry, "quotes").unwrap();
    receive_from_all(&[(&a, "a")], &subscriber).await;
    // The old id goes: the endpoint stays connected for the new one.
    assert!(registry.remove("quotes", "old"));
    // Another instance after it, whose connection marks the end of what the first two made.
    registry.insert(instance("other", &bt));
    let mut connected = Vec::new();
    let mut lost = Vec::new();
    while !connected.contains(&bt) {
        let event = within("an event", events.recv())
            .await
            .expect("monitor open");
        match event.kind {
            MonitorEventKind::Connected => connected.push(event.endpoint.to_string()),
            MonitorEventKind::EndpointLost { instance, .. } => lost.push(instance),
            _ => {}
        }
    }
    assert_eq!(
        connected,
        [at.clone(), bt.clone()],
        "one connection per endpoint"
    );
    assert_eq!(lost, ["old"]);
    receive_from_all(&[(&a, "a"), (&b, "b")], &subscriber).await;
}
