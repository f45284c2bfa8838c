//! Port of libzmq's `tests/test_unbind_wildcard.cpp`: binding with a wildcard address and/or
//! port, connecting to the endpoint `bind` reports (`ZMQ_LAST_ENDPOINT`), and unbinding by it.
//!
//! monocoque has no `ZMQ_IPV6` option (difference): `tcp://*:port` always means the IPv4
//! wildcard `0.0.0.0`, and IPv6 is used by naming an IPv6 address (`tcp://[::]:0`,
//! `tcp://[::1]:0`). The `*_ipv6` cases are ported that way.

mod zmq_common;

/// The cases of libzmq's `tests/test_unbind_wildcard.cpp`; every test names the case it ports.
// Integration tests are always built with `cfg(test)`; saying so lets clippy treat the helpers
// below as test code too (`allow-unwrap-in-tests`).
#[cfg(test)]
mod zmq_unbind_wildcard {
    use std::io::ErrorKind;
    use std::net::{SocketAddr, TcpStream};

    use crate::zmq_common::{msg, wait_until, within};
    use monocoque::{RepSocket, ReqSocket};

    /// libzmq's `bounce`, for REQ and REP.
    async fn bounce(sb: &RepSocket, sc: &ReqSocket) {
        within("send", sc.send(msg(&["bounce", "1"])))
            .await
            .unwrap();
        let request = within("recv", sb.recv()).await.unwrap();
        assert_eq!(request, msg(&["bounce", "1"]));
        within("reply", sb.send(request)).await.unwrap();
        assert_eq!(
            within("recv", sc.recv()).await.unwrap(),
            msg(&["bounce", "1"])
        );
    }

    /// Binds `bind`, checks the reported endpoint starts with `reported_prefix`, connects to
    /// `connect` (the reported endpoint if `None`), bounces, disconnects and unbinds by the
    /// reported endpoint; afterwards the port refuses connections.
    async fn bind_bounce_unbind(bind: &str, reported_prefix: &str, connect: Option<&str>) {
        let sb = RepSocket::new();
        let sc = ReqSocket::new();
        let bind_endpoint = sb.bind(bind).await.unwrap();
        let reported = bind_endpoint.to_string();
        assert!(
            reported.starts_with(reported_prefix),
            "bound {bind} as {reported}"
        );
        assert_eq!(sb.last_endpoint(), Some(bind_endpoint.clone()));
        let port = bind_endpoint.port().expect("a real port");
        assert_ne!(port, 0);
        let connect_endpoint = connect.map_or(reported.clone(), |c| format!("{c}:{port}"));

        sc.connect(&connect_endpoint).unwrap();
        bounce(&sb, &sc).await;
        sc.disconnect(&connect_endpoint).unwrap();
        sb.unbind(&reported).unwrap();

        wait_until("both sides see the connection gone", || {
            sb.connected_peers() == 0 && sc.connected_peers() == 0
        })
        .await;
        let target: SocketAddr = connect_endpoint
            .strip_prefix("tcp://")
            .unwrap()
            .parse()
            .unwrap();
        // The listener's close may still be in flight on the ring for a moment.
        wait_until("nothing listens on the port any more", || {
            TcpStream::connect(target).is_err_and(|e| e.kind() == ErrorKind::ConnectionRefused)
        })
        .await;
    }

    /// `test_address_wildcard_ipv4`: `tcp://*:*` binds every IPv4 address on an ephemeral port and
    /// reports `tcp://0.0.0.0:<port>`, which a client can connect to (on Linux, as libzmq does).
    #[compio::test]
    async fn address_wildcard_ipv4() {
        bind_bounce_unbind("tcp://*:*", "tcp://0.0.0.0:", None).await;
    }

    /// `test_address_wildcard_ipv6`: the IPv6 wildcard is named explicitly, `tcp://[::]:*`; it is
    /// reported as `tcp://[::]:<port>` and reachable on `[::1]`.
    #[compio::test]
    async fn address_wildcard_ipv6() {
        if !crate::zmq_common::ipv6_available() {
            assert!(RepSocket::new().bind("tcp://[::1]:*").await.is_err());
            return;
        }
        bind_bounce_unbind("tcp://[::]:*", "tcp://[::]:", Some("tcp://[::1]")).await;
    }

    /// `test_port_wildcard_ipv4_address`: `tcp://127.0.0.1:*`.
    #[compio::test]
    async fn port_wildcard_ipv4_address() {
        bind_bounce_unbind("tcp://127.0.0.1:*", "tcp://127.0.0.1:", None).await;
    }

    /// `test_port_wildcard_ipv4_address_ipv6`: with `ZMQ_IPV6` set, an IPv4 address still binds
    /// IPv4; monocoque has no such switch, so this is the IPv4 case again, with `:0` for the port.
    #[compio::test]
    async fn port_wildcard_ipv4_address_ipv6() {
        bind_bounce_unbind("tcp://127.0.0.1:0", "tcp://127.0.0.1:", None).await;
    }

    /// `test_port_wildcard_ipv6_address`: `tcp://[::1]:*` (libzmq ignores the case when the machine
    /// has no IPv6; then monocoque's bind must fail too).
    #[compio::test]
    async fn port_wildcard_ipv6_address() {
        if !crate::zmq_common::ipv6_available() {
            assert!(RepSocket::new().bind("tcp://[::1]:*").await.is_err());
            return;
        }
        bind_bounce_unbind("tcp://[::1]:*", "tcp://[::1]:", None).await;
    }
}
