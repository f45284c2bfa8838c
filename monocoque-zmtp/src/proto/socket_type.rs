//! The eleven ZeroMQ socket types and which of them may talk to each other.

use std::fmt;
use std::str::FromStr;

/// A ZeroMQ socket type, as announced in the `Socket-Type` property of READY.
///
/// ```
/// use monocoque::SocketType;
/// let req: SocketType = "REQ".parse().unwrap();
/// assert!(req.is_compatible(SocketType::Router));
/// assert!(!req.is_compatible(SocketType::Req));
/// assert_eq!(req.to_string(), "REQ");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SocketType {
    /// Exclusive pair (RFC 31).
    Pair,
    /// Publisher (RFC 29).
    Pub,
    /// Subscriber (RFC 29).
    Sub,
    /// Extended publisher that sees subscriptions (RFC 29).
    Xpub,
    /// Extended subscriber that sends subscriptions as messages (RFC 29).
    Xsub,
    /// Pipeline producer (RFC 30).
    Push,
    /// Pipeline consumer (RFC 30).
    Pull,
    /// Requester (RFC 28).
    Req,
    /// Replier (RFC 28).
    Rep,
    /// Asynchronous requester/replier (RFC 28).
    Dealer,
    /// Addressed routing (RFC 28).
    Router,
}

impl SocketType {
    /// Every socket type, in libzmq's numbering order.
    pub const ALL: [Self; 11] = [
        Self::Pair,
        Self::Pub,
        Self::Sub,
        Self::Req,
        Self::Rep,
        Self::Dealer,
        Self::Router,
        Self::Pull,
        Self::Push,
        Self::Xpub,
        Self::Xsub,
    ];

    /// The name as it appears on the wire (`"DEALER"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pair => "PAIR",
            Self::Pub => "PUB",
            Self::Sub => "SUB",
            Self::Xpub => "XPUB",
            Self::Xsub => "XSUB",
            Self::Push => "PUSH",
            Self::Pull => "PULL",
            Self::Req => "REQ",
            Self::Rep => "REP",
            Self::Dealer => "DEALER",
            Self::Router => "ROUTER",
        }
    }

    /// Parses the wire name. Like libzmq, the comparison is exact (upper case).
    pub fn from_wire(name: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().as_bytes() == name)
    }

    /// The peer types this type accepts (RFC 37, "The Socket-Type Property").
    pub const fn compatible_peers(self) -> &'static [Self] {
        match self {
            Self::Req => &[Self::Rep, Self::Router],
            Self::Rep => &[Self::Req, Self::Dealer],
            Self::Dealer => &[Self::Rep, Self::Dealer, Self::Router],
            Self::Router => &[Self::Req, Self::Dealer, Self::Router],
            Self::Pub | Self::Xpub => &[Self::Sub, Self::Xsub],
            Self::Sub | Self::Xsub => &[Self::Pub, Self::Xpub],
            Self::Push => &[Self::Pull],
            Self::Pull => &[Self::Push],
            Self::Pair => &[Self::Pair],
        }
    }

    /// Whether a socket of this type may complete a handshake with a `peer`.
    pub fn is_compatible(self, peer: Self) -> bool {
        self.compatible_peers().contains(&peer)
    }

    /// Whether libzmq puts an `Identity` property in this type's READY.
    ///
    /// Only REQ, DEALER and ROUTER do; RFC 37 tells the others' receivers to ignore it.
    pub const fn sends_identity(self) -> bool {
        matches!(self, Self::Req | Self::Dealer | Self::Router)
    }
}

impl fmt::Display for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error from parsing an unknown socket type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown socket type {0:?}")]
pub struct UnknownSocketType(pub String);

impl FromStr for SocketType {
    type Err = UnknownSocketType;

    /// Accepts the wire name in any case (`"dealer"`, `"DEALER"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownSocketType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_is_symmetric() {
        for a in SocketType::ALL {
            for b in SocketType::ALL {
                assert_eq!(a.is_compatible(b), b.is_compatible(a), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn exactly_the_rfc_pairs_are_compatible() {
        use SocketType::*;
        let pairs = [
            (Req, Rep),
            (Req, Router),
            (Rep, Dealer),
            (Dealer, Dealer),
            (Dealer, Router),
            (Router, Router),
            (Pub, Sub),
            (Pub, Xsub),
            (Xpub, Sub),
            (Xpub, Xsub),
            (Push, Pull),
            (Pair, Pair),
        ];
        let mut count = 0;
        for a in SocketType::ALL {
            for b in SocketType::ALL {
                let listed = pairs.contains(&(a, b)) || pairs.contains(&(b, a));
                assert_eq!(a.is_compatible(b), listed, "{a} vs {b}");
                count += usize::from(listed);
            }
        }
        // 12 unordered pairs: 3 self-pairs and 9 ordered both ways.
        assert_eq!(count, 21);
    }

    #[test]
    fn names_round_trip() {
        for t in SocketType::ALL {
            assert_eq!(SocketType::from_wire(t.as_str().as_bytes()), Some(t));
            assert_eq!(t.to_string().parse::<SocketType>(), Ok(t));
        }
        assert_eq!(SocketType::from_wire(b"dealer"), None);
        assert_eq!(SocketType::from_wire(b"CLIENT"), None);
        assert!("client".parse::<SocketType>().is_err());
    }
}
