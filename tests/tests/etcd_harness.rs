//! The etcd harness of the discovery tests (`etcd_common`): a real server starts and serves,
//! keeps its data across a restart and loses it when wiped, two run side by side, and its
//! metrics count the requests it gets.
//!
//! Each etcd call is bounded by [`WAIT`], so that a server that stops answering fails the test
//! instead of hanging it.

mod etcd_common;

use std::future::Future;
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions};
use etcd_common::{Etcd, sum_metric};

/// The longest any one etcd call (connect, put, get) may take.
const WAIT: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test if it takes longer than [`WAIT`].
async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {WAIT:?}: {what}"),
    }
}

/// A client of `etcd` alone.
async fn client(etcd: &Etcd) -> Client {
    let options = ConnectOptions::new()
        .with_connect_timeout(WAIT)
        .with_timeout(WAIT);
    within(
        "connect",
        Client::connect([etcd.client_url()], Some(options)),
    )
    .await
    .expect("connect to etcd")
}

/// The value of `key`, if it has one.
async fn value(etcd: &Etcd, key: &str) -> Option<String> {
    let mut client = client(etcd).await;
    let response = within("get", client.get(key, None)).await.expect("get");
    response
        .kvs()
        .first()
        .map(|kv| kv.value_str().expect("a UTF-8 value").to_owned())
}

/// How many members the cluster of `etcd` has.
async fn member_count(etcd: &Etcd) -> usize {
    let mut client = client(etcd).await;
    within("member list", client.member_list())
        .await
        .expect("member list")
        .members()
        .len()
}

/// Sets `key` to `value`.
async fn put(etcd: &Etcd, key: &str, value: &str) {
    let mut client = client(etcd).await;
    within("put", client.put(key, value, None))
        .await
        .expect("put");
}

#[tokio::test]
async fn data_survives_restarts_and_not_a_wipe() {
    let started = Instant::now();
    let mut etcd = Etcd::start();
    eprintln!("start: {:?}", started.elapsed());
    let url = etcd.client_url();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    put(&etcd, "/monocoque/key", "value").await;
    assert_eq!(
        value(&etcd, "/monocoque/key").await.as_deref(),
        Some("value")
    );

    let restarted = Instant::now();
    etcd.restart();
    eprintln!("restart (SIGTERM, start): {:?}", restarted.elapsed());
    assert_eq!(etcd.client_url(), url, "a restart keeps the client port");
    assert_eq!(
        value(&etcd, "/monocoque/key").await.as_deref(),
        Some("value")
    );

    // A crash loses nothing either: etcd syncs each write to its log before it answers.
    put(&etcd, "/monocoque/key", "after restart").await;
    etcd.kill();
    assert!(!etcd.is_running());
    let restarted = Instant::now();
    etcd.restart();
    eprintln!("restart after a kill: {:?}", restarted.elapsed());
    assert_eq!(
        value(&etcd, "/monocoque/key").await.as_deref(),
        Some("after restart")
    );

    let wiped = Instant::now();
    etcd.restart_wiped();
    eprintln!("restart_wiped: {:?}", wiped.elapsed());
    assert_eq!(etcd.client_url(), url, "a wipe keeps the client port");
    assert_eq!(value(&etcd, "/monocoque/key").await, None);

    // The log holds every launch, the wiped one included.
    let log = etcd.log();
    assert_eq!(log.matches("===== launch ").count(), 4, "{log}");
}

#[tokio::test]
async fn two_servers_side_by_side() {
    let a = Etcd::start();
    let b = Etcd::start();
    assert_ne!(a.client_url(), b.client_url());

    put(&a, "/monocoque/who", "a").await;
    put(&b, "/monocoque/who", "b").await;
    assert_eq!(value(&a, "/monocoque/who").await.as_deref(), Some("a"));
    assert_eq!(value(&b, "/monocoque/who").await.as_deref(), Some("b"));

    // Two separate clusters, not two members of one.
    assert_eq!(member_count(&a).await, 1);
    assert_eq!(member_count(&b).await, 1);
}

#[tokio::test]
async fn metrics_count_requests() {
    let etcd = Etcd::start();
    let puts = || etcd.metric("grpc_server_msg_received_total", &[("grpc_method", "Put")]);
    let before = puts();
    let started_before = etcd.metric("grpc_server_started_total", &[]);

    let mut client = client(&etcd).await;
    for i in 0..5 {
        within("put", client.put("/monocoque/count", i.to_string(), None))
            .await
            .expect("put");
    }

    assert_eq!(puts() - before, 5.0);
    assert!(etcd.metric("grpc_server_started_total", &[]) >= started_before + 5.0);
    assert_eq!(
        etcd.metric(
            "grpc_server_msg_received_total",
            &[("grpc_method", "LeaseKeepAlive")]
        ),
        0.0,
        "no lease was kept alive"
    );
    assert_eq!(etcd.metric("no_such_metric", &[]), 0.0);
}

#[test]
fn metric_lines_are_parsed() {
    let text = "\
# HELP requests_total Requests.
# TYPE requests_total counter
requests_total{method=\"Put\",service=\"KV\"} 3
requests_total{method=\"Range\",service=\"KV\"} 4 1700000000000
requests_total{method=\"odd \\\"one\\\", \\\\ {x}\",service=\"KV\"} 5
requests_total_other{method=\"Put\"} 100
requests_total 7
latency_seconds{le=\"+Inf\"} 1.5e1
";
    assert_eq!(sum_metric(text, "requests_total", &[]), 19.0);
    assert_eq!(
        sum_metric(text, "requests_total", &[("method", "Put")]),
        3.0
    );
    assert_eq!(
        sum_metric(text, "requests_total", &[("service", "KV")]),
        12.0
    );
    assert_eq!(
        sum_metric(text, "requests_total", &[("method", "odd \"one\", \\ {x}")]),
        5.0
    );
    assert_eq!(
        sum_metric(
            text,
            "requests_total",
            &[("method", "Put"), ("service", "X")]
        ),
        0.0
    );
    assert_eq!(sum_metric(text, "latency_seconds", &[("le", "+Inf")]), 15.0);
    assert_eq!(sum_metric(text, "missing", &[]), 0.0);
}
