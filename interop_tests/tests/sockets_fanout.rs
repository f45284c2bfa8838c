//! One monocoque socket with several libzmq peers: a ROUTER serving 20 DEALERs, a PUB feeding 10
//! SUBs, a PUSH spreading work evenly over 3 PULLs. Each runs four ways: monocoque binding one
//! endpoint that every peer connects to, or connecting to one endpoint per peer; over TCP and IPC.

mod sockets_common;

use std::time::{Duration, Instant};

use monocoque::{Message, SocketType};
use sockets_common::{
    Fan, FanCase, Opts, ROUND, WAIT, msg, pause, run_cases, starts_with, wait_until,
};

const DEALERS: usize = 20;
const REQUESTS_PER_DEALER: usize = 3;

fn dealer_id(i: usize) -> String {
    format!("dealer-{i:02}")
}

/// Every DEALER (with its own routing id) sends requests; the monocoque ROUTER sees each behind
/// the right id and answers by that id; each DEALER gets exactly its own answers, in order.
async fn router_with_dealers(case: FanCase) {
    let fan = Fan::establish(case, Opts::NONE, |i| Opts::id(dealer_id(i))).await;
    let router = &fan.mono;

    for (i, dealer) in fan.peers.iter().enumerate() {
        for r in 0..REQUESTS_PER_DEALER {
            dealer
                .send(msg(["request".to_owned(), format!("{i}:{r}")]))
                .await;
        }
    }

    let mut next_request = [0usize; DEALERS];
    for _ in 0..DEALERS * REQUESTS_PER_DEALER {
        let request = router.recv().await;
        let frames = request.frames();
        let parsed = (frames.len() == 3 && frames[1] == "request")
            .then(|| std::str::from_utf8(&frames[2]).ok())
            .flatten()
            .and_then(|body| body.split_once(':'))
            .and_then(|(i, r)| Some((i.parse::<usize>().ok()?, r.parse::<usize>().ok()?)));
        let Some((i, r)) = parsed.filter(|(i, _)| *i < DEALERS) else {
            panic!("{case}: the ROUTER received {request:?}");
        };
        assert_eq!(
            frames[0],
            dealer_id(i).as_bytes(),
            "{case}: request {i}:{r} arrived behind the wrong routing id"
        );
        assert_eq!(
            r, next_request[i],
            "{case}: requests of dealer {i} out of order"
        );
        next_request[i] += 1;
        router
            .send(msg([frames[0].clone(), "reply".into(), frames[2].clone()]))
            .await;
    }

    for (i, dealer) in fan.peers.iter().enumerate() {
        for r in 0..REQUESTS_PER_DEALER {
            dealer
                .expect(msg(["reply".to_owned(), format!("{i}:{r}")]))
                .await;
        }
        dealer.expect_nothing_within(Duration::ZERO).await;
    }
}

/// A monocoque ROUTER with 20 libzmq DEALERs, each with its routing id.
#[compio::test]
async fn sockets_router_with_20_dealers() {
    run_cases(
        "ROUTER with 20 DEALERs",
        FanCase::all(SocketType::Router, SocketType::Dealer, DEALERS),
        router_with_dealers,
    )
    .await;
}

const SUBSCRIBERS: usize = 10;

/// Each SUB subscribes to `all.` and to a topic of its own. Once every one receives (the slow
/// joiner: probes are published until each has seen both of its topics), each receives exactly
/// what matches its subscriptions, in publishing order.
async fn pub_with_subs(case: FanCase) {
    let fan = Fan::establish(case, Opts::NONE, |_| Opts::NONE).await;
    let publisher = &fan.mono;
    for (i, sub) in fan.peers.iter().enumerate() {
        sub.subscribe(&format!("sub-{i}.")).await;
        sub.subscribe("all.").await;
    }

    // Until every subscriber has received its own probe and an `all.` one.
    let mut seen_own = [false; SUBSCRIBERS];
    let mut seen_all = [false; SUBSCRIBERS];
    let deadline = Instant::now() + WAIT;
    while !(seen_own.iter().all(|&s| s) && seen_all.iter().all(|&s| s)) {
        assert!(
            Instant::now() < deadline,
            "{case}: after {WAIT:?}, own topic seen by {seen_own:?}, all. seen by {seen_all:?}"
        );
        for (i, seen) in seen_own.iter().enumerate() {
            if !seen {
                publisher.send(msg([format!("sub-{i}.sync")])).await;
            }
        }
        publisher.send(msg(["all.sync"])).await;
        let round = Instant::now() + ROUND;
        while Instant::now() < round {
            for (i, sub) in fan.peers.iter().enumerate() {
                while let Some(message) = sub.recv_within(Duration::ZERO).await {
                    if starts_with(&message, &format!("sub-{i}.sync")) {
                        seen_own[i] = true;
                    } else if starts_with(&message, "all.sync") {
                        seen_all[i] = true;
                    } else {
                        panic!("{case}: subscriber {i} received {message:?}");
                    }
                }
            }
            pause(Duration::from_millis(1)).await;
        }
    }

    for i in 0..SUBSCRIBERS {
        publisher
            .send(msg([format!("sub-{i}.private"), i.to_string()]))
            .await;
    }
    publisher.send(msg(["all.broadcast", "", "x"])).await;
    publisher.send(msg(["none.of-them"])).await;
    publisher.send(msg(["sub-1x.nobody"])).await;
    publisher.send(msg(["all.end"])).await;

    for (i, sub) in fan.peers.iter().enumerate() {
        let want = [
            msg([format!("sub-{i}.private"), i.to_string()]),
            msg(["all.broadcast", "", "x"]),
            msg(["all.end"]),
        ];
        for want in want {
            let got = recv_skipping_sync(sub, i).await;
            assert!(
                got == want,
                "{case}: subscriber {i} received {got:?}, expected {want:?}"
            );
        }
    }
}

/// The next message that is not a probe of the synchronisation phase.
async fn recv_skipping_sync(sub: &sockets_common::Peer, i: usize) -> Message {
    loop {
        let message = sub.recv().await;
        if !(starts_with(&message, &format!("sub-{i}.sync")) || starts_with(&message, "all.sync")) {
            return message;
        }
    }
}

/// A monocoque PUB with 10 libzmq SUBs.
#[compio::test]
async fn sockets_pub_with_10_subs() {
    run_cases(
        "PUB with 10 SUBs",
        FanCase::all(SocketType::Pub, SocketType::Sub, SUBSCRIBERS),
        pub_with_subs,
    )
    .await;
}

const PULLERS: usize = 3;
const TASKS: usize = 300;

/// Once all three PULLs are connected, 300 messages go round-robin: exactly 100 each, each PULL
/// receiving its share in sending order, and every message exactly once.
async fn push_to_pulls(case: FanCase) {
    let fan = Fan::establish(case, Opts::NONE, |_| Opts::NONE).await;
    let push = &fan.mono;
    wait_until(format!("{case}: three connected peers"), || {
        push.as_mono().connected_peers() == PULLERS
    })
    .await;

    for task in 0..TASKS {
        push.send(msg([format!("task {task}"), task.to_string()]))
            .await;
    }

    let mut received: Vec<Vec<usize>> = vec![Vec::new(); PULLERS];
    let deadline = Instant::now() + WAIT;
    while received.iter().map(Vec::len).sum::<usize>() < TASKS {
        assert!(
            Instant::now() < deadline,
            "{case}: after {WAIT:?} the PULLs had received {:?} messages",
            received.iter().map(Vec::len).collect::<Vec<_>>()
        );
        let mut idle = true;
        for (i, pull) in fan.peers.iter().enumerate() {
            while let Some(message) = pull.recv_within(Duration::ZERO).await {
                idle = false;
                let task = (message.len() == 2)
                    .then(|| std::str::from_utf8(&message[1]).ok())
                    .flatten()
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|&n| message[0] == format!("task {n}").as_bytes())
                    .unwrap_or_else(|| panic!("{case}: PULL {i} received {message:?}"));
                received[i].push(task);
            }
        }
        if idle {
            pause(Duration::from_millis(1)).await;
        }
    }

    let counts: Vec<usize> = received.iter().map(Vec::len).collect();
    assert_eq!(
        counts,
        vec![TASKS / PULLERS; PULLERS],
        "{case}: the load was not spread evenly"
    );
    for (i, tasks) in received.iter().enumerate() {
        assert!(
            tasks.windows(2).all(|w| w[0] < w[1]),
            "{case}: PULL {i} received its tasks out of order: {tasks:?}"
        );
    }
    let mut all: Vec<usize> = received.concat();
    all.sort_unstable();
    assert!(
        all == (0..TASKS).collect::<Vec<_>>(),
        "{case}: some task was lost or duplicated"
    );
    for pull in &fan.peers {
        pull.expect_nothing_within(ROUND).await;
    }
}

/// A monocoque PUSH with 3 libzmq PULLs, the load spread evenly.
#[compio::test]
async fn sockets_push_to_3_pulls_spreads_evenly() {
    run_cases(
        "PUSH to 3 PULLs",
        FanCase::all(SocketType::Push, SocketType::Pull, PULLERS),
        push_to_pulls,
    )
    .await;
}
