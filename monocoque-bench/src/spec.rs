//! The libraries, the kinds of measurement, and the configuration a child process receives as
//! `key=value` arguments.

use std::fmt;

use crate::common::BoxError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lib {
    /// libzmq 4.3.4 through the `zmq` crate (rust-zmq): the reference. That build has no CURVE,
    /// so on the CURVE rows this column is the system's libzmq.so.5 (Debian's libzmq5, CURVE
    /// through libsodium), loaded at run time: `libs::zmqsys`.
    Zmq,
    /// This repository.
    Mono,
    /// `omq-tokio` from the public registry.
    Omq,
    /// `zeromq` (zmq.rs) from the public registry.
    Zeromq,
    /// `monocoque-rs` from the public registry: an earlier, single-connection take on this library.
    MonoRs,
    /// Length-prefixed frames over a plain blocking socket: the floor.
    Raw,
    /// This repository's thread-safe handles, used from a plain thread.
    MonoHandle,
    /// This repository on compio's polling driver (epoll) instead of io_uring: what io_uring
    /// is worth, the same engine on both.
    MonoEpoll,
}

impl Lib {
    pub const ALL: [Self; 8] = [
        Self::Zmq,
        Self::Mono,
        Self::Omq,
        Self::Zeromq,
        Self::MonoRs,
        Self::Raw,
        Self::MonoHandle,
        Self::MonoEpoll,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Zmq => "libzmq",
            Self::Mono => "monocoque",
            Self::Omq => "omq-tokio",
            Self::Zeromq => "zeromq",
            Self::MonoRs => "monocoque-rs",
            Self::Raw => "raw",
            Self::MonoHandle => "monocoque-handle",
            Self::MonoEpoll => "monocoque-epoll",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|l| l.name() == name)
            .or(match name {
                "zmq" => Some(Self::Zmq),
                "mono" => Some(Self::Mono),
                "omq" => Some(Self::Omq),
                "zmq.rs" | "zmqrs" => Some(Self::Zeromq),
                "monors" | "monocoque_rs" => Some(Self::MonoRs),
                "epoll" => Some(Self::MonoEpoll),
                _ => None,
            })
    }

    pub fn index(self) -> usize {
        Self::ALL.iter().position(|l| *l == self).unwrap_or(0)
    }

    /// Why this library cannot do this measurement, if it cannot.
    pub fn unsupported(
        self,
        kind: Kind,
        transport: Transport,
        hwm: Option<u32>,
        curve: bool,
    ) -> Option<&'static str> {
        if curve {
            return match self {
                Self::Zmq | Self::Mono | Self::MonoHandle => None,
                Self::Omq => Some(
                    "omq-tokio: curve rows not run (its CURVE is a cargo feature this bench does \
                     not build)",
                ),
                Self::Zeromq | Self::MonoRs => {
                    Some("zeromq, monocoque-rs: no CURVE mechanism, no curve rows")
                }
                Self::Raw => Some("raw: the floor is unencrypted; no curve rows"),
                Self::MonoEpoll => {
                    Some("monocoque-epoll: the driver comparison is on the plain rows")
                }
            };
        }
        let own_process = matches!(self, Self::Zmq | Self::Mono | Self::MonoHandle);
        if (transport == Transport::Inproc || kind == Kind::Proxy) && !own_process {
            return Some(
                "inproc and proxy rows: libzmq, monocoque and its handles only (one process, \
                 several threads)",
            );
        }
        if self == Self::MonoEpoll && (transport == Transport::Inproc || kind == Kind::Proxy) {
            return Some(
                "monocoque-epoll: the driver comparison is on the tcp and ipc rows (inproc does \
                 no I/O)",
            );
        }
        if kind == Kind::Proxy && self == Self::MonoHandle {
            return Some("monocoque-handle: the proxy row runs the compio sockets' proxy");
        }
        match (self, kind) {
            (Self::MonoHandle, Kind::Fanout | Kind::Router) => Some(
                "monocoque-handle: the handle rows are throughput and latency from a plain thread",
            ),
            (Self::Raw, Kind::Fanout | Kind::Router) => {
                Some("raw: the floor is one plain stream; it has no fan-out or routing")
            }
            (Self::MonoRs, Kind::Router) => Some(
                "monocoque-rs: its RouterSocket wraps one accepted connection (single peer); \
                 1,000 peers would be 1,000 sockets, not one ROUTER",
            ),
            (Self::Zeromq, Kind::Fanout) if hwm.is_some_and(|h| h > 1000) => Some(
                "zeromq: has no high-water-mark option (its queues are fixed), so there is no \
                 large-HWM variant; its default-HWM row runs on those fixed queues",
            ),
            _ => None,
        }
    }
}

impl fmt::Display for Lib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// PUSH -> PULL throughput.
    Thr,
    /// REQ <-> REP round trips.
    Lat,
    /// PUB -> n SUB.
    Fanout,
    /// n DEALER -> ROUTER.
    Router,
    /// DEALER -> ROUTER | proxy | DEALER -> DEALER, one process, three threads.
    Proxy,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Thr => "thr",
            Self::Lat => "lat",
            Self::Fanout => "fanout",
            Self::Router => "router",
            Self::Proxy => "proxy",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp,
    Ipc,
    /// Both sides in one process, on two threads.
    Inproc,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Tcp => "tcp",
            Self::Ipc => "ipc",
            Self::Inproc => "inproc",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Binds: PULL, REP, PUB, ROUTER.
    Server,
    /// Connects: PUSH, REQ, the SUBs, the DEALERs.
    Client,
}

/// Everything one child process needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub lib: Lib,
    pub role: Role,
    pub kind: Kind,
    pub transport: Transport,
    /// Message body size in bytes.
    pub size: usize,
    /// Messages (thr, fan-out), timed round trips (lat), or timed rounds of one request per peer
    /// (router).
    pub count: u64,
    /// Untimed round trips first (lat).
    pub warmup: u64,
    /// Subscribers (fan-out) or DEALER peers (router).
    pub peers: usize,
    /// High-water mark to set on both sides; `None` leaves the library's default.
    pub hwm: Option<u32>,
    /// Where to bind (server: `tcp://127.0.0.1:0` or `ipc://path`) or connect (client).
    pub endpoint: String,
    /// CURVE on every connection, with the fixed keys of `common::curve_keys`.
    pub curve: bool,
}

impl Config {
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("lib={}", self.lib.name()),
            format!(
                "role={}",
                match self.role {
                    Role::Server => "server",
                    Role::Client => "client",
                }
            ),
            format!("kind={}", self.kind.name()),
            format!("transport={}", self.transport),
            format!("size={}", self.size),
            format!("count={}", self.count),
            format!("warmup={}", self.warmup),
            format!("peers={}", self.peers),
            format!("endpoint={}", self.endpoint),
        ];
        if let Some(hwm) = self.hwm {
            args.push(format!("hwm={hwm}"));
        }
        if self.curve {
            args.push("curve=1".to_owned());
        }
        args
    }

    pub fn parse(args: &[String]) -> Result<Self, BoxError> {
        let mut lib = None;
        let mut role = None;
        let mut kind = None;
        let mut transport = Transport::Tcp;
        let mut size = 64;
        let mut count = 10_000;
        let mut warmup = 0;
        let mut peers = 1;
        let mut hwm = None;
        let mut endpoint = String::new();
        let mut curve = false;
        for arg in args {
            let (key, value) = arg
                .split_once('=')
                .ok_or_else(|| format!("expected key=value, got {arg:?}"))?;
            match key {
                "lib" => lib = Some(Lib::parse(value).ok_or(format!("unknown lib {value:?}"))?),
                "role" => {
                    role = Some(match value {
                        "server" => Role::Server,
                        "client" => Role::Client,
                        _ => return Err(format!("role={value}: server or client").into()),
                    })
                }
                "kind" => {
                    kind = Some(match value {
                        "thr" => Kind::Thr,
                        "lat" => Kind::Lat,
                        "fanout" => Kind::Fanout,
                        "router" => Kind::Router,
                        "proxy" => Kind::Proxy,
                        _ => {
                            return Err(
                                format!("kind={value}: thr, lat, fanout, router, proxy").into()
                            );
                        }
                    })
                }
                "transport" => {
                    transport = match value {
                        "tcp" => Transport::Tcp,
                        "ipc" => Transport::Ipc,
                        "inproc" => Transport::Inproc,
                        _ => return Err(format!("transport={value}: tcp, ipc or inproc").into()),
                    }
                }
                "size" => size = value.parse()?,
                "count" => count = value.parse::<u64>()?.max(2),
                "warmup" => warmup = value.parse()?,
                "peers" => peers = value.parse::<usize>()?.max(1),
                "hwm" => hwm = Some(value.parse()?),
                "endpoint" => value.clone_into(&mut endpoint),
                "curve" => curve = value == "1",
                _ => return Err(format!("unknown argument {key:?}").into()),
            }
        }
        Ok(Self {
            lib: lib.ok_or("missing lib=")?,
            role: role.ok_or("missing role=")?,
            kind: kind.ok_or("missing kind=")?,
            transport,
            size,
            count,
            warmup,
            peers,
            hwm,
            endpoint,
            curve,
        })
    }
}
