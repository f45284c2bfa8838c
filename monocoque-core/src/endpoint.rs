//! Transport endpoints such as `tcp://127.0.0.1:5555` or `ipc:///tmp/feed.sock`, parsed once.

mod ipc;
mod tcp;

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

pub use ipc::IpcAddr;
pub use tcp::{Host, Port, TcpEndpoint, TcpSource};

/// A parsed ZeroMQ endpoint: a transport and its address.
///
/// Parse with [`str::parse`]; [`Display`](fmt::Display) writes a string that parses back to an
/// equal value. Host names are kept as written: resolving them is the driver's job at connect
/// time, so parsing never touches the network.
///
/// Accepted forms:
///
/// - `tcp://127.0.0.1:5555`, `tcp://[::1]:5555`, `tcp://::1:5555` (an unbracketed IPv6 address is
///   accepted before a port, as libzmq does; it is printed back in brackets),
///   `tcp://localhost:5555`, `tcp://eth0:5555`.
/// - `tcp://*:5555` binds every address; `tcp://host:0` and `tcp://host:*` ask for an ephemeral
///   port.
/// - `tcp://source;host:port` on the connect side, where the source is a host with an optional
///   port (`tcp://192.168.1.1:0;10.0.0.1:5555`, `tcp://eth0;server:5555`).
/// - `ipc:///abs/path`, `ipc://relative/path` and `ipc://@name` (Linux abstract namespace).
/// - `inproc://name`: between sockets of one process; any non-empty name.
///
/// `ipc://*` (libzmq binds to a generated path) is refused with
/// [`EndpointError::IpcWildcard`]; IPv6 zone ids (`[fe80::1%eth0]`) are refused with
/// [`EndpointError::Ipv6ZoneId`]. Transport names are case-sensitive, as in libzmq.
///
/// ```rust
/// use monocoque::{Endpoint, Transport};
///
/// let ep: Endpoint = "tcp://127.0.0.1:0".parse()?;
/// assert_eq!(ep.transport(), Transport::Tcp);
/// assert_eq!(ep.port(), None); // ephemeral until bound
/// let bound = ep.with_port(40123);
/// assert_eq!(bound.to_string(), "tcp://127.0.0.1:40123");
/// assert_eq!(bound.socket_addr(), Some("127.0.0.1:40123".parse().unwrap()));
///
/// let ipc: Endpoint = "ipc://@monocoque".parse()?;
/// assert_eq!(ipc.to_string(), "ipc://@monocoque");
/// # Ok::<(), monocoque::EndpointError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `tcp://`: a TCP connection.
    Tcp(TcpEndpoint),
    /// `ipc://`: a Unix domain stream socket.
    Ipc(IpcAddr),
    /// `inproc://`: a queue between two sockets of this process, named by the string.
    Inproc(String),
}

/// The transport an [`Endpoint`] names.
///
/// ```rust
/// use monocoque::{Endpoint, Transport};
///
/// let ep: Endpoint = "ipc:///tmp/x.sock".parse()?;
/// assert_eq!(ep.transport(), Transport::Ipc);
/// assert_eq!(Transport::Tcp.to_string(), "tcp");
/// # Ok::<(), monocoque::EndpointError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// TCP.
    Tcp,
    /// Unix domain sockets.
    Ipc,
    /// Within the process.
    Inproc,
}

/// Why a string is not a valid endpoint.
///
/// ```rust
/// use monocoque::{Endpoint, EndpointError};
///
/// let err = "pgm://eth0;239.192.1.1:5555".parse::<Endpoint>().unwrap_err();
/// assert_eq!(err, EndpointError::UnsupportedTransport { transport: "pgm".into() });
/// assert!(matches!("tcp://host".parse::<Endpoint>(), Err(EndpointError::MissingPort { .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// There is no `://` between the transport and the address.
    #[error("endpoint `{endpoint}` has no `://` after the transport")]
    MissingSeparator {
        /// The whole input.
        endpoint: String,
    },
    /// The transport is not one ZeroMQ defines.
    #[error("unknown transport `{transport}`")]
    UnknownTransport {
        /// The transport as written.
        transport: String,
    },
    /// The transport exists in ZeroMQ but monocoque does not implement it.
    #[error("transport `{transport}` is not supported")]
    UnsupportedTransport {
        /// The transport as written.
        transport: String,
    },
    /// The TCP host is empty, as in `tcp://:5555`.
    #[error("empty host")]
    EmptyHost,
    /// The source address before `;` is empty, as in `tcp://;host:5555`.
    #[error("empty source address before `;`")]
    EmptySource,
    /// A TCP address has no port, or nothing after its `:`.
    #[error("no port in `{address}`")]
    MissingPort {
        /// The address that lacks a port.
        address: String,
    },
    /// The port is neither `*` nor a decimal number up to 65535.
    #[error("invalid port `{port}`")]
    InvalidPort {
        /// The port as written.
        port: String,
    },
    /// The host is not an address and contains characters no host or interface name has.
    #[error("invalid host `{host}`")]
    InvalidHost {
        /// The host as written.
        host: String,
    },
    /// The host is made of digits and dots but is not an IPv4 address.
    #[error("invalid IPv4 address `{address}`")]
    InvalidIpv4 {
        /// The address as written.
        address: String,
    },
    /// The host is bracketed or contains `:` but is not an IPv6 address.
    #[error("invalid IPv6 address `{address}`")]
    InvalidIpv6 {
        /// The address as written, without brackets.
        address: String,
    },
    /// The IPv6 address carries a zone id (`%eth0`), which is not supported.
    #[error("IPv6 zone ids are not supported: `{address}`")]
    Ipv6ZoneId {
        /// The address as written, without brackets.
        address: String,
    },
    /// Unbalanced brackets, or something other than `:port` after `]`.
    #[error("misplaced IPv6 brackets in `{address}`")]
    BadIpv6Brackets {
        /// The host and port as written.
        address: String,
    },
    /// `ipc://` or `ipc://@` names no socket.
    #[error("empty ipc path")]
    EmptyIpcPath,
    /// The path or abstract name does not fit in `sockaddr_un`.
    #[error("ipc path is {len} bytes long, the limit is {max}")]
    IpcPathTooLong {
        /// Length in bytes (without the `@` of an abstract name).
        len: usize,
        /// The limit for this kind of address.
        max: usize,
    },
    /// The path contains a NUL byte, which `sockaddr_un` cannot carry.
    #[error("ipc path contains a NUL byte")]
    IpcPathNul,
    /// `ipc://*`: binding to a generated path is not supported.
    #[error("`ipc://*` (a generated path) is not supported")]
    IpcWildcard,
    /// `inproc://` names nothing.
    #[error("empty inproc name")]
    EmptyInprocName,
}

impl Endpoint {
    /// The transport of this endpoint.
    pub const fn transport(&self) -> Transport {
        match self {
            Self::Tcp(_) => Transport::Tcp,
            Self::Ipc(_) => Transport::Ipc,
            Self::Inproc(_) => Transport::Inproc,
        }
    }

    /// The TCP endpoint, if this is one.
    pub const fn as_tcp(&self) -> Option<&TcpEndpoint> {
        match self {
            Self::Tcp(tcp) => Some(tcp),
            Self::Ipc(_) | Self::Inproc(_) => None,
        }
    }

    /// The IPC address, if this is an `ipc://` endpoint.
    pub const fn as_ipc(&self) -> Option<&IpcAddr> {
        match self {
            Self::Ipc(ipc) => Some(ipc),
            Self::Tcp(_) | Self::Inproc(_) => None,
        }
    }

    /// The name of an `inproc://` endpoint.
    ///
    /// ```rust
    /// use monocoque::Endpoint;
    ///
    /// let ep: Endpoint = "inproc://workers".parse()?;
    /// assert_eq!(ep.as_inproc(), Some("workers"));
    /// assert_eq!(ep.to_string(), "inproc://workers");
    /// # Ok::<(), monocoque::EndpointError>(())
    /// ```
    pub fn as_inproc(&self) -> Option<&str> {
        match self {
            Self::Inproc(name) => Some(name),
            Self::Tcp(_) | Self::Ipc(_) => None,
        }
    }

    /// The TCP host; `None` for IPC.
    pub const fn host(&self) -> Option<&Host> {
        match self {
            Self::Tcp(tcp) => Some(tcp.host()),
            Self::Ipc(_) | Self::Inproc(_) => None,
        }
    }

    /// The TCP port; `None` for an ephemeral port (`0` or `*`) and for IPC.
    pub const fn port(&self) -> Option<u16> {
        match self {
            Self::Tcp(tcp) => tcp.port(),
            Self::Ipc(_) | Self::Inproc(_) => None,
        }
    }

    /// Whether this is a TCP endpoint whose host is `*` or an unspecified address (`0.0.0.0`,
    /// `::`).
    pub fn is_wildcard_host(&self) -> bool {
        self.as_tcp().is_some_and(TcpEndpoint::is_wildcard_host)
    }

    /// The same endpoint with its TCP port set, as the driver reports it after binding an
    /// ephemeral port. Other endpoints have no port and are returned unchanged.
    #[must_use]
    pub fn with_port(self, port: u16) -> Self {
        match self {
            Self::Tcp(tcp) => Self::Tcp(tcp.with_port(port)),
            other => other,
        }
    }

    /// The socket address of a TCP endpoint whose host is an IP address or `*`; see
    /// [`TcpEndpoint::socket_addr`].
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.as_tcp().and_then(TcpEndpoint::socket_addr)
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((transport, address)) = s.split_once("://") else {
            return Err(EndpointError::MissingSeparator {
                endpoint: s.to_owned(),
            });
        };
        match transport {
            "tcp" => tcp::parse(address).map(Self::Tcp),
            "ipc" => ipc::parse(address).map(Self::Ipc),
            "inproc" if address.is_empty() => Err(EndpointError::EmptyInprocName),
            "inproc" => Ok(Self::Inproc(address.to_owned())),
            _ if UNSUPPORTED_TRANSPORTS.contains(&transport) => {
                Err(EndpointError::UnsupportedTransport {
                    transport: transport.to_owned(),
                })
            }
            _ => Err(EndpointError::UnknownTransport {
                transport: transport.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(tcp) => tcp.fmt(f),
            Self::Ipc(ipc) => write!(f, "ipc://{ipc}"),
            Self::Inproc(name) => write!(f, "inproc://{name}"),
        }
    }
}

impl From<TcpEndpoint> for Endpoint {
    fn from(tcp: TcpEndpoint) -> Self {
        Self::Tcp(tcp)
    }
}

impl From<IpcAddr> for Endpoint {
    fn from(ipc: IpcAddr) -> Self {
        Self::Ipc(ipc)
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Self {
        Self::Tcp(addr.into())
    }
}

impl Transport {
    /// The scheme as written before `://`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Ipc => "ipc",
            Self::Inproc => "inproc",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Transports libzmq knows that monocoque does not implement, so that a typo and a missing
/// feature give different errors.
const UNSUPPORTED_TRANSPORTS: &[&str] =
    &["pgm", "epgm", "tipc", "vmci", "udp", "norm", "ws", "wss"];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Parses `s`, checks that it prints back exactly as written and that the printed form
    /// parses to the same value.
    pub(super) fn round_trip(s: &str) -> Endpoint {
        let ep: Endpoint = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(ep.to_string(), s, "display of {s}");
        assert_eq!(ep.to_string().parse::<Endpoint>(), Ok(ep.clone()));
        ep
    }

    #[test]
    fn transport_errors() {
        use EndpointError as E;
        let s = String::from;
        #[rustfmt::skip]
        let cases = [
            ("127.0.0.1:5555", E::MissingSeparator { endpoint: s("127.0.0.1:5555") }),
            ("tcp:/x:1", E::MissingSeparator { endpoint: s("tcp:/x:1") }),
            ("http://x:1", E::UnknownTransport { transport: s("http") }),
            ("TCP://x:1", E::UnknownTransport { transport: s("TCP") }),
            ("://x:1", E::UnknownTransport { transport: s("") }),
        ];
        for (input, expected) in cases {
            assert_eq!(input.parse::<Endpoint>(), Err(expected), "{input}");
        }
    }

    #[test]
    fn known_but_unsupported_transports() {
        for transport in UNSUPPORTED_TRANSPORTS {
            let err = format!("{transport}://x").parse::<Endpoint>().unwrap_err();
            let expected = EndpointError::UnsupportedTransport {
                transport: (*transport).into(),
            };
            assert_eq!(err, expected);
        }
    }

    #[test]
    fn accessors_by_transport() {
        let tcp = round_trip("tcp://*:5555");
        assert_eq!(tcp.transport(), Transport::Tcp);
        assert_eq!((tcp.host(), tcp.port()), (Some(&Host::Any), Some(5555)));
        assert!(tcp.is_wildcard_host());
        assert!(tcp.as_ipc().is_none());

        let ipc = round_trip("ipc:///tmp/a");
        assert_eq!(ipc.transport(), Transport::Ipc);
        assert_eq!(
            (ipc.host(), ipc.port(), ipc.socket_addr()),
            (None, None, None)
        );
        assert!(!ipc.is_wildcard_host());
        assert!(ipc.as_tcp().is_none());
        assert_eq!(ipc.clone().with_port(1), ipc);
        assert_eq!(Endpoint::from(IpcAddr::Path("/tmp/a".into())), ipc);
    }

    #[test]
    fn with_port_fills_in_the_bound_port() {
        let ep = round_trip("tcp://*:*").with_port(41000);
        assert_eq!(ep.to_string(), "tcp://*:41000");
        assert_eq!(ep.port(), Some(41000));
    }

    #[test]
    fn from_socket_addr() {
        let addr: SocketAddr = "[2001:db8::7]:9000".parse().unwrap();
        let ep = Endpoint::from(addr);
        assert_eq!(ep.to_string(), "tcp://[2001:db8::7]:9000");
        assert_eq!(ep.socket_addr(), Some(addr));
    }

    proptest! {
        /// Whatever parses prints back to something that parses to the same value.
        #[test]
        fn anything_accepted_round_trips(s in "(tcp|ipc|udp|x)://[a-f0-9:.*;@/%\\[\\]-]{0,24}") {
            if let Ok(ep) = s.parse::<Endpoint>() {
                prop_assert_eq!(ep.to_string().parse::<Endpoint>(), Ok(ep));
            }
        }
    }
}
