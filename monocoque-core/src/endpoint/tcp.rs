//! `tcp://` endpoints: hosts, ports and source addresses.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use super::EndpointError;

/// A TCP endpoint: host, port and an optional source address for connecting.
///
/// [`Display`](fmt::Display) includes the `tcp://` scheme.
///
/// ```rust
/// use monocoque::{Endpoint, Host, Port, TcpEndpoint, TcpSource};
///
/// let ep = TcpEndpoint::new(Host::Name("server".into()), Port::Number(5555))
///     .with_source(TcpSource::new(Host::Name("eth0".into()), None));
/// assert_eq!(ep.to_string(), "tcp://eth0;server:5555");
/// assert_eq!(Endpoint::Tcp(ep.clone()), "tcp://eth0;server:5555".parse()?);
/// assert_eq!(ep.socket_addr(), None); // names are resolved by the driver
/// # Ok::<(), monocoque::EndpointError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TcpEndpoint {
    source: Option<TcpSource>,
    host: Host,
    port: Port,
}

/// The local address a connecting TCP socket binds before it connects (`tcp://source;host:port`).
///
/// ```rust
/// use monocoque::{Endpoint, Host, Port};
///
/// let ep: Endpoint = "tcp://192.168.1.1:0;10.0.0.1:5555".parse()?;
/// let source = ep.as_tcp().and_then(|tcp| tcp.source()).unwrap();
/// assert_eq!(source.host(), &Host::Ip("192.168.1.1".parse().unwrap()));
/// assert_eq!(source.port(), Some(Port::Number(0)));
/// # Ok::<(), monocoque::EndpointError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TcpSource {
    host: Host,
    port: Option<Port>,
}

/// A TCP port as written: a number, or `*`.
///
/// `0` and `*` both ask the system for an ephemeral port; they are kept apart only so that an
/// endpoint prints back the way it was written.
///
/// ```rust
/// use monocoque::Port;
///
/// assert!(Port::Wildcard.is_ephemeral());
/// assert!(Port::Number(0).is_ephemeral());
/// assert_eq!(Port::Number(5555).fixed(), Some(5555));
/// assert_eq!(Port::Wildcard.as_u16(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Port {
    /// A port number; `0` is ephemeral.
    Number(u16),
    /// `*`: an ephemeral port.
    Wildcard,
}

/// The host part of a TCP endpoint.
///
/// [`Display`](fmt::Display) writes the endpoint form: `*`, an IPv4 address, an IPv6 address in
/// brackets, or the name. [`FromStr`] accepts the same forms (plus an unbracketed IPv6 address).
/// A name is made of ASCII letters, digits, `-`, `.` and `_`; it is kept as written, and
/// [`Display`](fmt::Display) writes a hand-built [`Host::Name`] verbatim.
///
/// ```rust
/// use monocoque::Host;
/// use std::net::{IpAddr, Ipv4Addr};
///
/// assert_eq!("*".parse::<Host>()?, Host::Any);
/// assert_eq!("[::1]".parse::<Host>()?.to_string(), "[::1]");
/// assert_eq!(Host::Any.ip(), Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
/// assert!(Host::Name("localhost".into()).ip().is_none());
/// # Ok::<(), monocoque::EndpointError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// `*`: every local address (for binding).
    Any,
    /// An IP address literal.
    Ip(IpAddr),
    /// A DNS name or a network interface name, resolved by the driver.
    Name(String),
}

impl TcpEndpoint {
    /// An endpoint for `host:port` without a source address.
    pub const fn new(host: Host, port: Port) -> Self {
        Self {
            source: None,
            host,
            port,
        }
    }

    /// The same endpoint, binding `source` before connecting.
    #[must_use]
    pub fn with_source(mut self, source: TcpSource) -> Self {
        self.source = Some(source);
        self
    }

    /// The host.
    pub const fn host(&self) -> &Host {
        &self.host
    }

    /// The port number; `None` when the port is ephemeral (`0` or `*`).
    pub const fn port(&self) -> Option<u16> {
        self.port.fixed()
    }

    /// The port as written.
    pub const fn port_spec(&self) -> Port {
        self.port
    }

    /// The source address given before `;`, if any.
    pub const fn source(&self) -> Option<&TcpSource> {
        self.source.as_ref()
    }

    /// Whether the host is `*` or an unspecified address (`0.0.0.0`, `::`).
    pub fn is_wildcard_host(&self) -> bool {
        self.host.is_wildcard()
    }

    /// The same endpoint with its port set.
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Port::Number(port);
        self
    }

    /// The address to bind or connect to when the host is an IP address or `*` (`*` maps to
    /// `0.0.0.0`; a driver that binds IPv6 may use `::` instead). An ephemeral port gives port 0.
    /// `None` for a name, which the driver must resolve.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.host
            .ip()
            .map(|ip| SocketAddr::new(ip, self.port.as_u16()))
    }
}

impl From<SocketAddr> for TcpEndpoint {
    fn from(addr: SocketAddr) -> Self {
        Self::new(Host::Ip(addr.ip()), Port::Number(addr.port()))
    }
}

impl fmt::Display for TcpEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tcp://")?;
        if let Some(source) = &self.source {
            write!(f, "{source};")?;
        }
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl TcpSource {
    /// A source address: a host (IP address, `*`, DNS name or interface name) and an optional
    /// port.
    pub const fn new(host: Host, port: Option<Port>) -> Self {
        Self { host, port }
    }

    /// The host to bind.
    pub const fn host(&self) -> &Host {
        &self.host
    }

    /// The port to bind, if one was given.
    pub const fn port(&self) -> Option<Port> {
        self.port
    }
}

impl fmt::Display for TcpSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

impl Port {
    /// Whether the system picks the port (`0` or `*`).
    pub const fn is_ephemeral(self) -> bool {
        matches!(self, Self::Number(0) | Self::Wildcard)
    }

    /// The port number, or `None` when it is ephemeral.
    pub const fn fixed(self) -> Option<u16> {
        match self {
            Self::Number(0) | Self::Wildcard => None,
            Self::Number(port) => Some(port),
        }
    }

    /// The number to hand to the system: `*` is 0.
    pub const fn as_u16(self) -> u16 {
        match self {
            Self::Number(port) => port,
            Self::Wildcard => 0,
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(port) => write!(f, "{port}"),
            Self::Wildcard => f.write_str("*"),
        }
    }
}

impl Host {
    /// Whether this is `*` or an unspecified IP address.
    pub fn is_wildcard(&self) -> bool {
        match self {
            Self::Any => true,
            Self::Ip(ip) => ip.is_unspecified(),
            Self::Name(_) => false,
        }
    }

    /// The IP address, with `*` as `0.0.0.0`; `None` for a name.
    pub const fn ip(&self) -> Option<IpAddr> {
        match self {
            Self::Any => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            Self::Ip(ip) => Some(*ip),
            Self::Name(_) => None,
        }
    }
}

impl FromStr for Host {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad_brackets = || EndpointError::BadIpv6Brackets {
            address: s.to_owned(),
        };
        match s.strip_prefix('[') {
            Some(inner) => match inner.strip_suffix(']') {
                Some(inner) if !inner.contains(['[', ']']) => {
                    parse_host(HostText::Bracketed(inner))
                }
                _ => Err(bad_brackets()),
            },
            None if s.contains(['[', ']']) => Err(bad_brackets()),
            None => parse_host(HostText::Bare(s)),
        }
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Self {
        Self::Ip(ip)
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Self::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Self::Name(name) => f.write_str(name),
        }
    }
}

/// Parses what follows `tcp://`.
pub(super) fn parse(address: &str) -> Result<TcpEndpoint, EndpointError> {
    let (source, target) = match address.split_once(';') {
        Some((source, target)) => (Some(parse_source(source)?), target),
        None => (None, address),
    };
    let (host, port) = split_host_port(target)?;
    let host = parse_host(host)?;
    let port = parse_port(port, target)?;
    Ok(TcpEndpoint { source, host, port })
}

/// A host as it appeared in the endpoint: bracketed hosts may only be IPv6 addresses.
enum HostText<'a> {
    Bare(&'a str),
    Bracketed(&'a str),
}

fn parse_source(source: &str) -> Result<TcpSource, EndpointError> {
    let (host, port) = split_host_port(source)?;
    if matches!(host, HostText::Bare("")) {
        return Err(EndpointError::EmptySource);
    }
    let host = parse_host(host)?;
    let port = match port {
        Some(_) => Some(parse_port(port, source)?),
        None => None,
    };
    Ok(TcpSource { host, port })
}

/// Splits `host:port`, `[v6]:port`, `[v6]` or `host`. The last `:` separates the port, so an
/// unbracketed IPv6 address works only when a port follows it, as in libzmq.
fn split_host_port(address: &str) -> Result<(HostText<'_>, Option<&str>), EndpointError> {
    let bad_brackets = || EndpointError::BadIpv6Brackets {
        address: address.to_owned(),
    };
    if let Some(inner) = address.strip_prefix('[') {
        let (host, after) = inner.split_once(']').ok_or_else(bad_brackets)?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(bad_brackets)?),
        };
        if host.contains('[') {
            return Err(bad_brackets());
        }
        return Ok((HostText::Bracketed(host), port));
    }
    if address.contains(['[', ']']) {
        return Err(bad_brackets());
    }
    Ok(match address.rsplit_once(':') {
        Some((host, port)) => (HostText::Bare(host), Some(port)),
        None => (HostText::Bare(address), None),
    })
}

fn parse_host(text: HostText<'_>) -> Result<Host, EndpointError> {
    let host = match text {
        HostText::Bracketed(inner) => return parse_ipv6(inner),
        HostText::Bare(host) => host,
    };
    if host.is_empty() {
        return Err(EndpointError::EmptyHost);
    }
    if host == "*" {
        return Ok(Host::Any);
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(ip.into()));
    }
    if host.contains(':') {
        return parse_ipv6(host);
    }
    // A name of only digits and dots would be sent to DNS and fail obscurely; it is almost
    // certainly a mistyped address.
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(EndpointError::InvalidIpv4 {
            address: host.to_owned(),
        });
    }
    // DNS labels and interface names (`eth0`, `wlp3s0`, `br-lan`, `vlan_10`).
    if host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Ok(Host::Name(host.to_owned()));
    }
    Err(EndpointError::InvalidHost {
        host: host.to_owned(),
    })
}

fn parse_ipv6(address: &str) -> Result<Host, EndpointError> {
    if address.contains('%') {
        return Err(EndpointError::Ipv6ZoneId {
            address: address.to_owned(),
        });
    }
    address
        .parse::<Ipv6Addr>()
        .map(|ip| Host::Ip(ip.into()))
        .map_err(|_| EndpointError::InvalidIpv6 {
            address: address.to_owned(),
        })
}

fn parse_port(port: Option<&str>, address: &str) -> Result<Port, EndpointError> {
    match port {
        None | Some("") => Err(EndpointError::MissingPort {
            address: address.to_owned(),
        }),
        Some("*") => Ok(Port::Wildcard),
        // `u16::from_str` would also take a leading `+`.
        Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => digits
            .parse()
            .map(Port::Number)
            .map_err(|_| EndpointError::InvalidPort {
                port: digits.to_owned(),
            }),
        Some(other) => Err(EndpointError::InvalidPort {
            port: other.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Endpoint;
    use super::super::tests::round_trip;
    use super::*;
    use proptest::prelude::*;

    fn tcp(s: &str) -> TcpEndpoint {
        round_trip(s).as_tcp().unwrap().clone()
    }

    fn ip(s: &str) -> Host {
        Host::Ip(s.parse().unwrap())
    }

    #[test]
    fn forms_round_trip() {
        let ep = tcp("tcp://127.0.0.1:5555");
        assert_eq!((ep.host(), ep.port()), (&ip("127.0.0.1"), Some(5555)));
        assert_eq!(ep.socket_addr(), Some("127.0.0.1:5555".parse().unwrap()));
        assert!(ep.source().is_none());

        let any = tcp("tcp://*:5555");
        assert_eq!(any.host(), &Host::Any);
        assert!(any.is_wildcard_host());
        assert_eq!(any.socket_addr(), Some("0.0.0.0:5555".parse().unwrap()));

        let v6 = tcp("tcp://[::1]:5555");
        assert_eq!(v6.host(), &ip("::1"));
        assert_eq!(v6.socket_addr(), Some("[::1]:5555".parse().unwrap()));

        let name = tcp("tcp://localhost:5555");
        assert_eq!(name.host(), &Host::Name("localhost".into()));
        assert_eq!(name.socket_addr(), None);

        assert!(tcp("tcp://0.0.0.0:1").is_wildcard_host());
        assert!(tcp("tcp://[::]:1").is_wildcard_host());
        assert!(!tcp("tcp://eth0:5555").is_wildcard_host());
        tcp("tcp://my-host.example.com:65535");
        tcp("tcp://[::ffff:10.0.0.1]:1");
    }

    #[test]
    fn ephemeral_ports_print_as_written() {
        let zero = tcp("tcp://host:0");
        assert_eq!((zero.port(), zero.port_spec()), (None, Port::Number(0)));
        let star = tcp("tcp://*:*");
        assert_eq!((star.port(), star.port_spec()), (None, Port::Wildcard));
        assert_eq!(star.socket_addr(), Some("0.0.0.0:0".parse().unwrap()));
        assert_eq!(star.with_port(7).port(), Some(7));
    }

    #[test]
    fn unbracketed_ipv6_is_printed_in_brackets() {
        let ep: Endpoint = "tcp://::1:5555".parse().unwrap();
        assert_eq!(ep.to_string(), "tcp://[::1]:5555");
        assert_eq!(ep.host(), Some(&ip("::1")));
    }

    #[test]
    fn source_addresses() {
        let ep = tcp("tcp://192.168.1.1:0;10.0.0.1:5555");
        let source = ep.source().unwrap();
        assert_eq!(source.host(), &ip("192.168.1.1"));
        assert_eq!(source.port(), Some(Port::Number(0)));
        assert_eq!(ep.host(), &ip("10.0.0.1"));

        let named = tcp("tcp://src-host;host:5555");
        let source = named.source().unwrap();
        assert_eq!(
            (source.host(), source.port()),
            (&Host::Name("src-host".into()), None)
        );

        tcp("tcp://eth0;server:5555");
        tcp("tcp://eth0:*;server:5555");
        tcp("tcp://*:4000;server:5555");
        tcp("tcp://[::1]:4000;[::1]:5555");
        tcp("tcp://[fe80::1];[::1]:5555");
    }

    #[test]
    fn errors() {
        use EndpointError as E;
        let s = String::from;
        #[rustfmt::skip]
        let cases = [
            ("tcp://localhost", E::MissingPort { address: s("localhost") }),
            ("tcp://localhost:", E::MissingPort { address: s("localhost:") }),
            ("tcp://[::1]", E::MissingPort { address: s("[::1]") }),
            ("tcp://*", E::MissingPort { address: s("*") }),
            ("tcp://h:65536", E::InvalidPort { port: s("65536") }),
            ("tcp://h:http", E::InvalidPort { port: s("http") }),
            ("tcp://h:+80", E::InvalidPort { port: s("+80") }),
            ("tcp://h:-1", E::InvalidPort { port: s("-1") }),
            ("tcp://s:x;h:1", E::InvalidPort { port: s("x") }),
            ("tcp://:5555", E::EmptyHost),
            ("tcp://", E::EmptyHost),
            ("tcp://h:1;", E::EmptyHost),
            ("tcp://;h:1", E::EmptySource),
            ("tcp://:1;h:1", E::EmptySource),
            ("tcp://[::1:5555", E::BadIpv6Brackets { address: s("[::1:5555") }),
            ("tcp://::1]:5555", E::BadIpv6Brackets { address: s("::1]:5555") }),
            ("tcp://[::1]5555", E::BadIpv6Brackets { address: s("[::1]5555") }),
            ("tcp://[[::1]]:1", E::BadIpv6Brackets { address: s("[[::1]]:1") }),
            ("tcp://[localhost]:1", E::InvalidIpv6 { address: s("localhost") }),
            ("tcp://[]:1", E::InvalidIpv6 { address: s("") }),
            ("tcp://a:b:1", E::InvalidIpv6 { address: s("a:b") }),
            ("tcp://[fe80::1%eth0]:1", E::Ipv6ZoneId { address: s("fe80::1%eth0") }),
            ("tcp://256.0.0.1:1", E::InvalidIpv4 { address: s("256.0.0.1") }),
            ("tcp://ho st:1", E::InvalidHost { host: s("ho st") }),
            ("tcp://h/x:1", E::InvalidHost { host: s("h/x") }),
            ("tcp://a;b;c:1", E::InvalidHost { host: s("b;c") }),
        ];
        for (input, expected) in cases {
            assert_eq!(input.parse::<Endpoint>(), Err(expected), "{input}");
        }
    }

    #[test]
    fn host_from_str() {
        assert_eq!("*".parse::<Host>(), Ok(Host::Any));
        assert_eq!("::1".parse::<Host>(), Ok(ip("::1")));
        assert_eq!("[::1]".parse::<Host>(), Ok(ip("::1")));
        assert_eq!("10.1.2.3".parse::<Host>(), Ok(ip("10.1.2.3")));
        assert_eq!("eth0".parse::<Host>(), Ok(Host::Name("eth0".into())));
        for bad in ["[::1", "::1]", "[[::1]]"] {
            let expected = EndpointError::BadIpv6Brackets {
                address: bad.into(),
            };
            assert_eq!(bad.parse::<Host>(), Err(expected));
        }
    }

    proptest! {
        #[test]
        fn ip_endpoints_round_trip(addr in any::<IpAddr>(), port in any::<u16>()) {
            let ep = Endpoint::from(SocketAddr::new(addr, port));
            let parsed: Endpoint = ep.to_string().parse().unwrap();
            prop_assert_eq!(parsed.socket_addr(), Some(SocketAddr::new(addr, port)));
            prop_assert_eq!(parsed, ep);
        }

        #[test]
        fn source_endpoints_round_trip(
            src in any::<IpAddr>(),
            src_port in proptest::option::of(any::<u16>()),
            dst in any::<IpAddr>(),
            port in any::<u16>(),
        ) {
            let source = TcpSource::new(Host::Ip(src), src_port.map(Port::Number));
            let ep = Endpoint::from(TcpEndpoint::from(SocketAddr::new(dst, port)).with_source(source));
            prop_assert_eq!(ep.to_string().parse::<Endpoint>(), Ok(ep));
        }
    }
}
