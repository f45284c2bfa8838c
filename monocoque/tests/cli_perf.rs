//! `mq perf` against peers that behave as libzmq's perf tools (local_thr, remote_thr, local_lat,
//! remote_lat: the zmq crate's sockets doing what those tools do), and its report's lines.

mod cli_common;

use cli_common::*;

/// The lines libzmq's local_thr prints, checked for shape and the figures that must match.
fn assert_thr_report(stdout: &str, size: usize, count: u64) {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(lines[0], format!("message size: {size} [B]"));
    assert_eq!(lines[1], format!("message count: {count}"));
    let rate: u64 = lines[2]
        .strip_prefix("mean throughput: ")
        .and_then(|l| l.strip_suffix(" [msg/s]"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", lines[2]));
    assert!(rate > 0, "{stdout}");
    let megabits: f64 = lines[3]
        .strip_prefix("mean throughput: ")
        .and_then(|l| l.strip_suffix(" [Mb/s]"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", lines[3]));
    // The same figure in other units, as libzmq computes it (three decimals).
    let expected = rate as f64 * size as f64 * 8.0 / 1e6;
    assert!(
        (megabits - expected).abs() <= expected * 1e-3 + 0.01,
        "{stdout}"
    );
}

#[test]
fn perf_thr_remote_feeds_a_libzmq_local_thr() {
    let (size, count) = (64, 20_000u64);
    let context = zmq::Context::new();
    let pull = libzmq(&context, zmq::PULL);
    let endpoint = bind_any(&pull);
    let local = std::thread::spawn(move || {
        for _ in 0..count {
            assert_eq!(pull.recv_bytes(0).expect("recv").len(), size);
        }
    });
    let output = run(
        &[
            "perf",
            "thr",
            "remote",
            &endpoint,
            &size.to_string(),
            &count.to_string(),
        ],
        "",
    );
    assert_success(&output);
    assert!(output.stdout.is_empty(), "remote_thr prints nothing");
    local
        .join()
        .expect("local_thr replica received every message");
}

#[test]
fn perf_thr_local_measures_a_libzmq_remote_thr() {
    let (size, count) = (100, 20_000u64);
    let (reaper, endpoint, _stderr) = spawn_perf_local(&["perf", "thr", "local"], &size, count);
    let context = zmq::Context::new();
    let push = libzmq(&context, zmq::PUSH);
    push.connect(&endpoint).expect("connect");
    let payload = vec![7u8; size];
    for _ in 0..count {
        push.send(&payload, 0).expect("send");
    }
    let output = finish(reaper);
    assert_success(&output);
    assert_thr_report(&String::from_utf8_lossy(&output.stdout), size, count);
}

#[test]
fn perf_lat_remote_times_round_trips_through_a_libzmq_local_lat() {
    let (size, count) = (64, 2_000u64);
    let context = zmq::Context::new();
    let rep = libzmq(&context, zmq::REP);
    let endpoint = bind_any(&rep);
    let local = std::thread::spawn(move || {
        for _ in 0..count {
            let message = rep.recv_bytes(0).expect("recv");
            assert_eq!(message.len(), size);
            rep.send(message, 0).expect("send");
        }
    });
    let output = run(
        &[
            "perf",
            "lat",
            "remote",
            &endpoint,
            &size.to_string(),
            &count.to_string(),
        ],
        "",
    );
    assert_success(&output);
    local.join().expect("local_lat replica");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], format!("message size: {size} [B]"), "{stdout}");
    assert_eq!(lines[1], format!("roundtrip count: {count}"), "{stdout}");
    let average: f64 = lines[2]
        .strip_prefix("average latency: ")
        .and_then(|l| l.strip_suffix(" [us]"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(average > 0.0, "{stdout}");
    assert!(lines[3].starts_with("round trip: min "), "{stdout}");
    assert!(lines[3].contains(" p99.9 "), "{stdout}");
}

#[test]
fn perf_lat_local_echoes_for_a_libzmq_remote_lat() {
    let (size, count) = (32, 500u64);
    let (reaper, endpoint, _stderr) = spawn_perf_local(&["perf", "lat", "local"], &size, count);
    let context = zmq::Context::new();
    let req = libzmq(&context, zmq::REQ);
    req.connect(&endpoint).expect("connect");
    let payload = vec![1u8; size];
    for _ in 0..count {
        req.send(&payload, 0).expect("send");
        assert_eq!(req.recv_bytes(0).expect("echo"), payload);
    }
    assert_success(&finish(reaper));
}

#[test]
fn a_wrong_message_size_is_a_one_line_failure() {
    let context = zmq::Context::new();
    let rep = libzmq(&context, zmq::REP);
    let endpoint = bind_any(&rep);
    let local = std::thread::spawn(move || {
        let message = rep.recv_bytes(0).expect("recv");
        rep.send(&message[..1], 0).expect("send a short reply");
    });
    let output = run(&["perf", "lat", "remote", &endpoint, "8", "10"], "");
    local.join().expect("replica");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim_end(),
        "mq: message of incorrect size received: 1 bytes, 8 expected"
    );
}
