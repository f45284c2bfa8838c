//! REQ, REP, DEALER and ROUTER (RFC 28) between monocoque sockets over TCP and IPC: lock-step,
//! envelopes, routing ids, routing by first frame and mandatory routing.

mod common;

use std::collections::HashSet;
use std::rc::Rc;

use bytes::Bytes;
use common::{IpcPath, TCP_ANY, wait_until, within};
use monocoque::{
    DealerSocket, Message, RecvError, RepSocket, ReqSocket, RouterSocket, SendErrorKind,
    SocketOptions,
};

/// Answers every request on `rep` with `[name, request...]`, until the task is dropped.
fn serve(name: &'static str, rep: Rc<RepSocket>) -> compio::runtime::JoinHandle<()> {
    compio::runtime::spawn(async move {
        loop {
            let request = rep.recv().await.expect("REP receives");
            let mut reply = Message::single(name);
            reply.extend(request);
            rep.send(reply).await.expect("REP replies");
        }
    })
}

#[compio::test]
async fn req_cannot_send_twice_without_a_reply() {
    let rep = RepSocket::new();
    let endpoint = rep.bind(TCP_ANY).await.unwrap().to_string();
    let req = ReqSocket::new();
    req.connect(&endpoint).unwrap();
    within("send", req.send("first")).await.unwrap();

    let error = req
        .try_send(Message::from("second").with("part"))
        .unwrap_err();
    assert_eq!(error.kind, SendErrorKind::InvalidState);
    assert_eq!(error.message, Message::from("second").with("part"));
    // The async send fails the same way instead of waiting.
    let error = within("send", req.send("third")).await.unwrap_err();
    assert_eq!(error.kind, SendErrorKind::InvalidState);
    assert_eq!(error.message, Message::from("third"));

    assert_eq!(
        within("recv", rep.recv()).await.unwrap(),
        Message::from("first")
    );
    within("reply", rep.send("answer")).await.unwrap();
    assert_eq!(
        within("recv", req.recv()).await.unwrap(),
        Message::from("answer")
    );
    // After the reply the REQ may send again, and only the first request ever reached the REP.
    within("send", req.send("fourth")).await.unwrap();
    assert_eq!(
        within("recv", rep.recv()).await.unwrap(),
        Message::from("fourth")
    );
}

#[compio::test]
async fn req_cannot_recv_before_send() {
    let rep = RepSocket::new();
    let endpoint = rep.bind(TCP_ANY).await.unwrap().to_string();
    let req = ReqSocket::new();
    req.connect(&endpoint).unwrap();
    wait_until("the REQ is connected", || req.connected_peers() == 1).await;
    assert_eq!(req.try_recv().unwrap_err(), RecvError::InvalidState);
    assert_eq!(
        within("recv", req.recv()).await.unwrap_err(),
        RecvError::InvalidState
    );
    // A REP cannot reply before it has a request either.
    let error = rep.try_send("unasked").unwrap_err();
    assert_eq!(error.kind, SendErrorKind::InvalidState);
    assert_eq!(error.message, Message::from("unasked"));
}

#[compio::test]
async fn req_alternates_between_two_reps() {
    let (rep_a, rep_b) = (Rc::new(RepSocket::new()), Rc::new(RepSocket::new()));
    let endpoint_a = rep_a.bind(TCP_ANY).await.unwrap().to_string();
    let endpoint_b = rep_b.bind(TCP_ANY).await.unwrap().to_string();
    let _servers = [serve("a", rep_a.clone()), serve("b", rep_b.clone())];
    let req = ReqSocket::new();
    req.connect(&endpoint_a).unwrap();
    req.connect(&endpoint_b).unwrap();
    wait_until("the REQ has both peers", || req.connected_peers() == 2).await;

    let mut answered_by = Vec::new();
    for i in 0..10u8 {
        within("send", req.send(Message::single(vec![i])))
            .await
            .unwrap();
        let reply = within("recv", req.recv()).await.unwrap();
        assert_eq!(reply.len(), 2);
        assert_eq!(reply[1], Bytes::from(vec![i]), "the reply to request {i}");
        answered_by.push(reply[0].clone());
    }
    let first = answered_by[0].clone();
    for (i, by) in answered_by.iter().enumerate() {
        assert_eq!(
            (by == &first),
            i % 2 == 0,
            "requests do not alternate: {answered_by:?}"
        );
    }
}

#[compio::test]
async fn rep_replies_to_the_right_one_of_five_reqs() {
    let rep = RepSocket::new();
    let endpoint = rep.bind(TCP_ANY).await.unwrap().to_string();
    let reqs: Vec<ReqSocket> = (0..5).map(|_| ReqSocket::new()).collect();
    for req in &reqs {
        req.connect(&endpoint).unwrap();
    }
    for round in 0..3 {
        for (i, req) in reqs.iter().enumerate() {
            within("send", req.send(format!("req-{i}-{round}")))
                .await
                .unwrap();
        }
        let mut seen = HashSet::new();
        for _ in 0..reqs.len() {
            let request = within("recv", rep.recv()).await.unwrap();
            assert_eq!(request.len(), 1);
            let text = String::from_utf8(request[0].to_vec()).unwrap();
            assert!(seen.insert(text.clone()), "{text} arrived twice");
            within("reply", rep.send(Message::from("re").with(text)))
                .await
                .unwrap();
        }
        for (i, req) in reqs.iter().enumerate() {
            assert_eq!(
                within("recv", req.recv()).await.unwrap(),
                Message::from("re").with(format!("req-{i}-{round}")),
                "REQ {i} got someone else's reply"
            );
        }
    }
}

#[compio::test]
async fn dealer_to_rep_needs_the_empty_delimiter_and_gets_it_back() {
    let rep = RepSocket::new();
    let endpoint = rep.bind(TCP_ANY).await.unwrap().to_string();
    let dealer = DealerSocket::new();
    dealer.connect(&endpoint).unwrap();

    // Without a delimiter the REP discards the request silently.
    within("send", dealer.send("no-delimiter")).await.unwrap();
    within("send", dealer.send(Message::from_iter(["", "hello"])))
        .await
        .unwrap();
    assert_eq!(
        within("recv", rep.recv()).await.unwrap(),
        Message::from("hello")
    );
    within("reply", rep.send("world")).await.unwrap();
    assert_eq!(
        within("recv", dealer.recv()).await.unwrap(),
        Message::from_iter(["", "world"])
    );

    // The whole envelope up to the delimiter comes back with the reply.
    within(
        "send",
        dealer.send(Message::from_iter(["hop-1", "hop-2", "", "q", "r"])),
    )
    .await
    .unwrap();
    assert_eq!(
        within("recv", rep.recv()).await.unwrap(),
        Message::from_iter(["q", "r"])
    );
    within("reply", rep.send(Message::from_iter(["s", ""])))
        .await
        .unwrap();
    assert_eq!(
        within("recv", dealer.recv()).await.unwrap(),
        Message::from_iter(["hop-1", "hop-2", "", "s", ""])
    );
}

#[compio::test]
async fn router_sees_configured_routing_ids_as_the_first_frame() {
    let router = RouterSocket::new();
    let endpoint = router.bind(TCP_ANY).await.unwrap().to_string();
    let dealer = DealerSocket::with_options(SocketOptions::new().routing_id("dealer-a")).unwrap();
    let req = ReqSocket::with_options(SocketOptions::new().routing_id("req-b")).unwrap();
    dealer.connect(&endpoint).unwrap();
    req.connect(&endpoint).unwrap();
    within("send", dealer.send(Message::from("hi").with("there")))
        .await
        .unwrap();
    within("send", req.send("hello")).await.unwrap();

    let mut received = [
        within("recv", router.recv()).await.unwrap(),
        within("recv", router.recv()).await.unwrap(),
    ];
    received.sort_by(|a, b| a[0].cmp(&b[0]));
    assert_eq!(received[0], Message::from_iter(["dealer-a", "hi", "there"]));
    assert_eq!(received[1], Message::from_iter(["req-b", "", "hello"]));

    within(
        "reply",
        router.send(Message::from_iter(["req-b", "", "ok"])),
    )
    .await
    .unwrap();
    within("reply", router.send(Message::from_iter(["dealer-a", "yo"])))
        .await
        .unwrap();
    assert_eq!(
        within("recv", req.recv()).await.unwrap(),
        Message::from("ok")
    );
    assert_eq!(
        within("recv", dealer.recv()).await.unwrap(),
        Message::from("yo")
    );
}

#[compio::test]
async fn router_generates_five_byte_ids_starting_with_zero() {
    let router = RouterSocket::new();
    let endpoint = router.bind(TCP_ANY).await.unwrap().to_string();
    let dealers: Vec<DealerSocket> = (0..3).map(|_| DealerSocket::new()).collect();
    for (i, dealer) in dealers.iter().enumerate() {
        dealer.connect(&endpoint).unwrap();
        within("send", dealer.send(format!("from-{i}")))
            .await
            .unwrap();
    }
    let mut ids = HashSet::new();
    for _ in 0..dealers.len() {
        let message = within("recv", router.recv()).await.unwrap();
        assert_eq!(message.len(), 2);
        let id = message[0].clone();
        assert_eq!(id.len(), 5, "generated id {id:?}");
        assert_eq!(id[0], 0, "generated id {id:?}");
        assert!(ids.insert(id.clone()), "id {id:?} given twice");
        // The generated id routes a reply back to the sender.
        let mut reply = Message::single(id);
        reply.push(Bytes::from([&b"echo-"[..], &message[1][..]].concat()));
        within("reply", router.send(reply)).await.unwrap();
    }
    for (i, dealer) in dealers.iter().enumerate() {
        assert_eq!(
            within("recv", dealer.recv()).await.unwrap(),
            Message::from(format!("echo-from-{i}"))
        );
    }
}

#[compio::test]
async fn router_routes_by_first_frame_to_the_right_one_of_ten_dealers() {
    let router = RouterSocket::new();
    let endpoint = router.bind(TCP_ANY).await.unwrap().to_string();
    let dealers: Vec<DealerSocket> = (0..10)
        .map(|i| {
            DealerSocket::with_options(SocketOptions::new().routing_id(format!("d{i}"))).unwrap()
        })
        .collect();
    for dealer in &dealers {
        dealer.connect(&endpoint).unwrap();
    }
    wait_until("the ROUTER has ten peers", || {
        router.connected_peers() == 10
    })
    .await;
    for round in 0..5u32 {
        // Replies in an order unrelated to connection order.
        for i in (0..10)
            .rev()
            .chain(0..10)
            .filter(|i| (i + round as usize) % 2 == 0)
        {
            let message = Message::from(format!("d{i}")).with(format!("for-d{i}-{round}"));
            within("send", router.send(message)).await.unwrap();
        }
        for (i, dealer) in dealers.iter().enumerate() {
            let expected = Message::from(format!("for-d{i}-{round}"));
            let copies = if (i + round as usize) % 2 == 0 { 2 } else { 0 };
            for _ in 0..copies {
                assert_eq!(within("recv", dealer.recv()).await.unwrap(), expected);
            }
        }
    }
    // Every dealer got exactly its own: a marker sent to each is the next thing it receives.
    for (i, dealer) in dealers.iter().enumerate() {
        let marker = Message::from(format!("d{i}")).with("end");
        within("send", router.send(marker)).await.unwrap();
        assert_eq!(
            within("recv", dealer.recv()).await.unwrap(),
            Message::from("end"),
            "dealer d{i} received a message meant for another"
        );
    }
}

#[compio::test]
async fn router_drops_messages_for_unknown_ids_silently() {
    let router = RouterSocket::new();
    let endpoint = router.bind(TCP_ANY).await.unwrap().to_string();
    let dealer = DealerSocket::with_options(SocketOptions::new().routing_id("known")).unwrap();
    dealer.connect(&endpoint).unwrap();
    wait_until("the ROUTER has its peer", || router.connected_peers() == 1).await;

    within("send", router.send(Message::from_iter(["unknown", "lost"])))
        .await
        .unwrap();
    router
        .try_send(Message::from_iter(["nobody", "lost"]))
        .unwrap();
    within("send", router.send(Message::from_iter(["known", "kept"])))
        .await
        .unwrap();
    assert_eq!(
        within("recv", dealer.recv()).await.unwrap(),
        Message::from("kept")
    );
}

#[compio::test]
async fn router_mandatory_fails_for_unknown_ids_and_hands_the_message_back() {
    let router = RouterSocket::with_options(SocketOptions::new().router_mandatory(true)).unwrap();
    let endpoint = router.bind(TCP_ANY).await.unwrap().to_string();
    let dealer = DealerSocket::with_options(SocketOptions::new().routing_id("known")).unwrap();
    dealer.connect(&endpoint).unwrap();
    wait_until("the ROUTER has its peer", || router.connected_peers() == 1).await;

    let message = Message::from_iter(["unknown", "a", "b"]);
    let error = router.try_send(message.clone()).unwrap_err();
    assert_eq!(error.kind, SendErrorKind::HostUnreachable);
    assert_eq!(error.message, message);
    let error = within("send", router.send(message.clone()))
        .await
        .unwrap_err();
    assert_eq!(error.kind, SendErrorKind::HostUnreachable);
    assert_eq!(error.message, message);

    within("send", router.send(Message::from_iter(["known", "kept"])))
        .await
        .unwrap();
    assert_eq!(
        within("recv", dealer.recv()).await.unwrap(),
        Message::from("kept")
    );
    // Once the peer has gone, its id is unknown again.
    drop(dealer);
    wait_until("the ROUTER sees its peer gone", || {
        router.connected_peers() == 0
    })
    .await;
    let error = router
        .try_send(Message::from_iter(["known", "late"]))
        .unwrap_err();
    assert_eq!(error.kind, SendErrorKind::HostUnreachable);
}

#[compio::test]
async fn router_to_router_with_identities_over_ipc() {
    let path = IpcPath::new("router-router");
    let server = RouterSocket::with_options(SocketOptions::new().routing_id("server")).unwrap();
    server.bind(&path.endpoint()).await.unwrap();
    let client = RouterSocket::with_options(
        SocketOptions::new()
            .routing_id("client")
            .router_mandatory(true),
    )
    .unwrap();
    client.connect(&path.endpoint()).unwrap();
    // The client learns the server's id from the handshake; before that it is unknown.
    wait_until("the client is connected", || client.connected_peers() == 1).await;
    within("send", client.send(Message::from_iter(["server", "hello"])))
        .await
        .unwrap();
    assert_eq!(
        within("recv", server.recv()).await.unwrap(),
        Message::from_iter(["client", "hello"])
    );
    within(
        "reply",
        server.send(Message::from_iter(["client", "world", ""])),
    )
    .await
    .unwrap();
    assert_eq!(
        within("recv", client.recv()).await.unwrap(),
        Message::from_iter(["server", "world", ""])
    );
}
