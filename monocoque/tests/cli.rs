//! The `mq` command-line tool against libzmq 4.3 peers (the `zmq` crate): a PUB/SUB, PUSH/PULL
//! and REQ/REP round trip in every format, ROUTER, proxy, monitor and CURVE, the help text, and
//! the one-line errors with their exit codes. `mq perf` is in cli_perf.rs.
//!
//! Every wait is bounded: libzmq sockets receive with a timeout, children are killed when a test
//! fails, and `mq` itself runs with `--timeout` wherever it waits for a peer.

mod cli_common;

use std::io::{BufRead, BufReader, Write};
use std::time::Instant;

use cli_common::*;

#[test]
fn sub_prints_what_a_libzmq_publisher_sends_in_every_format() {
    for case in cases() {
        let context = zmq::Context::new();
        let publisher = libzmq(&context, zmq::PUB);
        let endpoint = bind_any(&publisher);
        let mut reaper = Reaper(Some(spawn(&[
            "sub",
            "--connect",
            &endpoint,
            "--subscribe",
            "topic",
            "--format",
            case.format,
            "--count",
            "3",
            "--timeout",
            MQ_TIMEOUT,
        ])));
        // Until it has had three; the messages it did not subscribe to must not show.
        publish_until_exit(&publisher, &mut reaper, &case.frames);
        let output = finish(reaper);
        assert_success(&output);
        assert_eq!(stdout_lines(&output), vec![case.line; 3], "{}", case.format);
    }
}

#[test]
fn pub_reaches_a_libzmq_subscriber() {
    let context = zmq::Context::new();
    let subscriber = libzmq(&context, zmq::SUB);
    subscriber.set_subscribe(b"").expect("subscribe");
    let endpoint = bind_any(&subscriber);
    let mut child = spawn(&[
        "pub",
        "--connect",
        &endpoint,
        "--wait-peers",
        "1",
        "--timeout",
        MQ_TIMEOUT,
    ]);
    let mut stdin = child.stdin.take().expect("stdin");
    let reaper = Reaper(Some(child));
    // Lines until the subscription has reached the publisher (the first one arrives), then the
    // one that counts.
    subscriber.set_rcvtimeo(20).expect("rcvtimeo");
    let deadline = Instant::now() + WAIT;
    loop {
        writeln!(stdin, "warm-up").expect("write");
        stdin.flush().expect("flush");
        if subscriber.recv_bytes(0).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no message reached the subscriber"
        );
    }
    writeln!(stdin, "news\tof the day").expect("write");
    drop(stdin);
    subscriber
        .set_rcvtimeo(WAIT.as_millis() as i32)
        .expect("rcvtimeo");
    let frames = loop {
        let frames = subscriber.recv_multipart(0).expect("the last line");
        if frames != [b"warm-up".to_vec()] {
            break frames;
        }
    };
    assert_eq!(frames, [b"news".to_vec(), b"of the day".to_vec()]);
    assert_success(&finish(reaper));
}

#[test]
fn push_sends_each_line_to_a_libzmq_pull_in_every_format() {
    for case in cases() {
        let context = zmq::Context::new();
        let pull = libzmq(&context, zmq::PULL);
        let endpoint = bind_any(&pull);
        let input = format!("{}\n{}\n", case.line, case.line);
        let output = run(
            &[
                "push",
                "--connect",
                &endpoint,
                "--format",
                case.format,
                "--timeout",
                MQ_TIMEOUT,
            ],
            &input,
        );
        assert_success(&output);
        for _ in 0..2 {
            assert_eq!(
                pull.recv_multipart(0).expect("recv"),
                case.frames,
                "{}",
                case.format
            );
        }
    }
}

#[test]
fn pull_prints_what_a_libzmq_push_sends() {
    let (reaper, endpoint, _stderr) = spawn_bound(&["pull", "--count", "2", "--format", "json"]);
    let context = zmq::Context::new();
    let push = libzmq(&context, zmq::PUSH);
    push.connect(&endpoint).expect("connect");
    push.send_multipart(["a", "b"], 0).expect("send");
    push.send("c", 0).expect("send");
    let output = finish(reaper);
    assert_success(&output);
    assert_eq!(stdout_lines(&output), [r#"["a","b"]"#, r#"["c"]"#]);
}

#[test]
fn req_round_trips_with_a_libzmq_rep_in_every_format() {
    for case in cases() {
        let context = zmq::Context::new();
        let rep = libzmq(&context, zmq::REP);
        let endpoint = bind_any(&rep);
        let echo = std::thread::spawn(move || {
            for _ in 0..2 {
                let request = rep.recv_multipart(0).expect("request");
                rep.send_multipart(request, 0).expect("reply");
            }
        });
        let input = format!("{}\n{}\n", case.line, case.line);
        let output = run(
            &[
                "req",
                "--connect",
                &endpoint,
                "--format",
                case.format,
                "--timeout",
                MQ_TIMEOUT,
            ],
            &input,
        );
        assert_success(&output);
        echo.join().expect("echo thread");
        assert_eq!(stdout_lines(&output), vec![case.line; 2], "{}", case.format);
    }
}

#[test]
fn rep_answers_a_libzmq_req_with_input_lines_or_the_request() {
    let (mut reaper, endpoint, _stderr) = spawn_bound(&["rep", "--count", "2"]);
    {
        let stdin = reaper
            .0
            .as_mut()
            .expect("child")
            .stdin
            .as_mut()
            .expect("stdin");
        stdin
            .write_all(b"first answer\nsecond answer\n")
            .expect("write");
    }
    let context = zmq::Context::new();
    let req = libzmq(&context, zmq::REQ);
    req.connect(&endpoint).expect("connect");
    for (question, answer) in [("one?", "first answer"), ("two?", "second answer")] {
        req.send(question, 0).expect("send");
        assert_eq!(req.recv_string(0).expect("recv").expect("utf-8"), answer);
    }
    let output = finish(reaper);
    assert_success(&output);
    assert_eq!(stdout_lines(&output), ["one?", "two?"]);

    let (reaper, endpoint, _stderr) = spawn_bound(&["rep", "--echo", "--count", "1"]);
    let req = libzmq(&context, zmq::REQ);
    req.connect(&endpoint).expect("connect");
    req.send_multipart(["x", "y"], 0).expect("send");
    assert_eq!(
        req.recv_multipart(0).expect("recv"),
        [b"x".to_vec(), b"y".to_vec()]
    );
    assert_success(&finish(reaper));
}

#[test]
fn help_lists_every_command_the_exit_codes_and_examples() {
    let output = mq().arg("--help").output().expect("mq --help");
    assert_success(&output);
    let help = String::from_utf8_lossy(&output.stdout);
    for command in [
        "pub", "sub", "xpub", "xsub", "push", "pull", "req", "rep", "dealer", "router", "pair",
        "monitor", "proxy", "keygen", "perf",
    ] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{command} "))),
            "{command} missing from:\n{help}"
        );
    }
    assert!(help.contains("Exit codes: 0 done; 1"), "{help}");
    assert!(help.contains("Examples:"), "{help}");
    for command in [
        "pub", "sub", "xpub", "xsub", "push", "pull", "req", "rep", "dealer", "router", "pair",
        "monitor", "proxy", "keygen",
    ] {
        let output = mq().args([command, "--help"]).output().expect("help");
        assert_success(&output);
        let text = String::from_utf8_lossy(&output.stdout);
        let example = text
            .split_once("Example:\n  ")
            .map(|(_, rest)| rest.lines().next().unwrap_or_default());
        assert!(
            example.is_some_and(|line| line.contains("mq ")),
            "{command}:\n{text}"
        );
    }
    for command in ["thr", "lat"] {
        let output = mq()
            .args(["perf", command, "--help"])
            .output()
            .expect("help");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("libzmq"),
            "{command}"
        );
    }
}

/// Bad input: one line on stderr, starting `mq: ` or clap's `error: `, and the documented code.
fn assert_one_line_error(args: &[&str], code: i32, starts_with: &str) {
    let output = run(args, "");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with(starts_with), "{args:?}: {stderr}");
    if starts_with.starts_with("mq:") {
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn bad_endpoints_options_and_timeouts_get_one_line_and_their_exit_code() {
    assert_one_line_error(
        &["push", "--connect", "nonsense://x"],
        2,
        "mq: connect nonsense://x: invalid endpoint: ",
    );
    assert_one_line_error(
        &["pull", "--bind", "tcp://127.0.0.1:99999"],
        2,
        "mq: bind tcp://127.0.0.1:99999: invalid endpoint",
    );
    assert_one_line_error(&["push"], 2, "mq: give the PUSH socket an endpoint");
    assert_one_line_error(
        &["pull", "--bind", "tcp://127.0.0.1:0", "--subscribe", "x"],
        2,
        "mq: --subscribe is for a sub socket",
    );
    assert_one_line_error(
        &[
            "dealer",
            "--connect",
            "tcp://127.0.0.1:1",
            "--curve-serverkey",
            "short",
        ],
        2,
        "mq: --curve-serverkey: ",
    );
    assert_one_line_error(
        &["monitor", "tcp://127.0.0.1:1", "--type", "fish"],
        2,
        "mq: unknown socket type \"fish\"",
    );
    // clap's own errors: also exit code 2.
    assert_one_line_error(&["push", "--hwm", "lots"], 2, "error: invalid value 'lots'");
    assert_one_line_error(&["frobnicate"], 2, "error: unrecognized subcommand");
    // Nothing arrives: 3.
    assert_one_line_error(
        &[
            "pull",
            "--bind",
            "tcp://127.0.0.1:0",
            "--timeout",
            "0.2",
            "--quiet",
        ],
        3,
        "mq: nothing arrived within the timeout",
    );
    // A port in use: a failure, 1.
    let context = zmq::Context::new();
    let taken = libzmq(&context, zmq::PULL);
    let endpoint = bind_any(&taken);
    assert_one_line_error(
        &["pull", "--bind", &endpoint],
        1,
        &format!("mq: bind {endpoint}: cannot bind {endpoint}: "),
    );
}

#[test]
fn bad_input_lines_name_the_line() {
    let context = zmq::Context::new();
    let pull = libzmq(&context, zmq::PULL);
    let endpoint = bind_any(&pull);
    let output = run(
        &[
            "push",
            "--connect",
            &endpoint,
            "--format",
            "hex",
            "--timeout",
            MQ_TIMEOUT,
        ],
        "00ff\nnot hex\n",
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("mq: input line 2: not hexadecimal"),
        "{stderr}"
    );
    assert_eq!(
        pull.recv_bytes(0).expect("the good line went out"),
        [0x00, 0xff]
    );
}

#[test]
fn monitor_shows_the_handshake_and_the_peers_metadata() {
    let context = zmq::Context::new();
    let router = libzmq(&context, zmq::ROUTER);
    let endpoint = bind_any(&router);
    let output = run(
        &[
            "monitor",
            &endpoint,
            "--type",
            "dealer",
            "--count",
            "2",
            "--timeout",
            MQ_TIMEOUT,
        ],
        "",
    );
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(" CONNECTED "), "{stdout}");
    assert!(stdout.contains(" HANDSHAKE_SUCCEEDED "), "{stdout}");
    assert!(stdout.contains("Socket-Type: ROUTER"), "{stdout}");
    assert!(stdout.contains("(mechanism: NULL, ZMTP 3."), "{stdout}");

    // A peer that refuses us: the event says why.
    let publisher = libzmq(&context, zmq::PUB);
    let endpoint = bind_any(&publisher);
    let output = run(
        &[
            "monitor",
            &endpoint,
            "--type",
            "dealer",
            "--count",
            "3",
            "--timeout",
            MQ_TIMEOUT,
        ],
        "",
    );
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("HANDSHAKE_FAILED") || stdout.contains("DISCONNECTED"),
        "{stdout}"
    );
    assert!(stdout.contains("PUB"), "{stdout}");
}

#[test]
fn keygen_prints_a_z85_keypair_that_belongs_together() {
    let output = mq().arg("keygen").output().expect("keygen");
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let public = stdout
        .lines()
        .find_map(|l| l.strip_prefix("public: "))
        .expect("public line");
    let secret = stdout
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .expect("secret line");
    assert_eq!((public.len(), secret.len()), (40, 40), "{stdout}");
    let derived = monocoque::curve::CurveSecretKey::from_z85(secret)
        .expect("secret key")
        .public_key();
    assert_eq!(derived.to_z85(), public);
}

#[test]
fn proxy_carries_libzmq_requests_to_a_libzmq_worker() {
    let mut child = spawn(&["proxy", "tcp://127.0.0.1:0", "tcp://127.0.0.1:0"]);
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let reaper = Reaper(Some(child));
    let mut bound = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        stderr.read_line(&mut line).expect("read stderr");
        bound.push(line.trim().rsplit(' ').next().expect("endpoint").to_owned());
    }
    let context = zmq::Context::new();
    let worker = libzmq(&context, zmq::REP);
    worker.connect(&bound[1]).expect("connect worker");
    let client = libzmq(&context, zmq::REQ);
    client.connect(&bound[0]).expect("connect client");
    for n in 0..3 {
        client.send(&format!("job {n}"), 0).expect("send");
        let job = worker.recv_string(0).expect("recv").expect("utf-8");
        worker.send(&format!("{job} done"), 0).expect("reply");
        assert_eq!(
            client.recv_string(0).expect("reply").expect("utf-8"),
            format!("job {n} done")
        );
    }
    drop(reaper);
}

#[test]
fn curve_keys_from_keygen_secure_a_request_and_reply() {
    let output = mq().arg("keygen").output().expect("keygen");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let key = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .expect("key line")
            .to_owned()
    };
    let (public, secret) = (key("public: "), key("secret: "));
    let output = curve_echo(&secret, &public, "secret message", MQ_TIMEOUT);
    assert_success(&output);
    assert_eq!(stdout_lines(&output), ["secret message"]);

    // The wrong server key: the handshake never completes, and the client gives up.
    let wrong = monocoque::curve::CurveKeyPair::generate().public.to_z85();
    let output = curve_echo(&secret, &wrong, "secret message", "0.5");
    assert_eq!(output.status.code(), Some(3));
}

#[test]
fn router_prints_the_sender_and_replies_to_the_peer_a_line_names() {
    let (mut reaper, endpoint, _stderr) = spawn_bound(&["router"]);
    let context = zmq::Context::new();
    let dealer = libzmq(&context, zmq::DEALER);
    dealer.set_identity(b"client-1").expect("identity");
    dealer.connect(&endpoint).expect("connect");
    dealer.send("hello", 0).expect("send");
    let child = reaper.0.as_mut().expect("child");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read stdout");
    assert_eq!(line, "client-1\thello\n");
    // The reply names the peer in its first frame; closing the input ends the ROUTER.
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "client-1\thi back").expect("write");
    drop(stdin);
    assert_eq!(
        dealer.recv_string(0).expect("reply").expect("utf-8"),
        "hi back"
    );
    assert_success(&finish(reaper));
}

#[test]
fn option_values_may_start_with_a_hyphen() {
    // One Z85 key in 85 starts with `-`: take keypairs until the public key does.
    let keys = (0..100_000)
        .map(|_| monocoque::curve::CurveKeyPair::generate())
        .find(|k| k.public.to_z85().starts_with('-'))
        .expect("a public key starting with '-'");
    let (public, secret) = (keys.public.to_z85(), keys.secret.to_z85().to_string());
    let output = curve_echo(&secret, &public, "-starts with a hyphen", MQ_TIMEOUT);
    assert_success(&output);
    assert_eq!(stdout_lines(&output), ["-starts with a hyphen"]);

    let context = zmq::Context::new();
    let publisher = libzmq(&context, zmq::PUB);
    let endpoint = bind_any(&publisher);
    let mut reaper = Reaper(Some(spawn(&[
        "sub",
        "--connect",
        &endpoint,
        "--subscribe",
        "-x",
        "--delimiter",
        "-",
        "--count",
        "1",
        "--timeout",
        MQ_TIMEOUT,
    ])));
    publish_until_exit(&publisher, &mut reaper, &[b"-x".to_vec(), b"y".to_vec()]);
    let output = finish(reaper);
    assert_success(&output);
    assert_eq!(stdout_lines(&output), ["-x-y"]);
}

/// An endpoint nobody listens on (a path no one binds), to connect to without a peer.
fn nowhere() -> String {
    format!(
        "ipc://{}/mq-cli-test-nowhere-{}.sock",
        std::env::temp_dir().display(),
        std::process::id()
    )
}

#[test]
fn a_timeout_bounds_the_wait_for_a_peer_before_sending() {
    for socket in ["push", "pub", "req", "dealer"] {
        let started = Instant::now();
        let output = run(
            &[socket, "--connect", &nowhere(), "--timeout", "0.3"],
            "hi\n",
        );
        assert_eq!(output.status.code(), Some(3), "{socket}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr).trim_end(),
            "mq: no peer connected within the timeout",
            "{socket}"
        );
        assert!(started.elapsed() < WAIT, "{socket}");
    }
}

#[test]
fn a_bad_input_line_ends_a_two_way_socket_at_once_with_its_error() {
    let context = zmq::Context::new();
    let router = libzmq(&context, zmq::ROUTER);
    let endpoint = bind_any(&router);
    for extra in [
        &[][..],
        &["--count", "1"][..],
        &["--timeout", MQ_TIMEOUT][..],
    ] {
        let mut args = vec!["dealer", "--connect", &endpoint, "--format", "hex"];
        args.extend(extra);
        let output = run(&args, "zz\n");
        assert_eq!(output.status.code(), Some(2), "{extra:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr)
                .starts_with("mq: input line 1: not hexadecimal"),
            "{extra:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn without_a_count_a_quiet_spell_after_arrivals_ends_the_run_with_success() {
    let context = zmq::Context::new();
    let pair = libzmq(&context, zmq::PAIR);
    let endpoint = bind_any(&pair);
    let answer = std::thread::spawn(move || {
        let message = pair.recv_string(0).expect("recv").expect("utf-8");
        pair.send(&format!("re: {message}"), 0).expect("send");
    });
    let mut child = spawn(&["pair", "--connect", &endpoint, "--timeout", "0.5"]);
    // The input stays open: the run ends on the quiet spell, not on the input's end.
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "hi").expect("write");
    let output = wait(child);
    drop(stdin);
    answer.join().expect("peer");
    assert_success(&output);
    assert_eq!(stdout_lines(&output), ["re: hi"]);

    // Nothing at all: a timeout.
    let output = run(
        &[
            "pull",
            "--bind",
            "tcp://127.0.0.1:0",
            "--timeout",
            "0.2",
            "--quiet",
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(3));
}

#[test]
fn input_that_is_not_a_message_is_a_usage_error() {
    let context = zmq::Context::new();
    let pull = libzmq(&context, zmq::PULL);
    let endpoint = bind_any(&pull);
    let output = run(
        &[
            "push",
            "--connect",
            &endpoint,
            "--format",
            "json",
            "--timeout",
            MQ_TIMEOUT,
        ],
        "[]\n",
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("input line 1: a message has at least one frame")
    );

    let output = run(
        &["push", "--connect", &endpoint, "--timeout", MQ_TIMEOUT],
        b"\xff\xfe\n",
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("binary input: --raw"));
}
