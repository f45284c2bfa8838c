//! `ipc://` addresses.

use std::fmt;
use std::path::PathBuf;

use super::EndpointError;

/// The address of an `ipc://` endpoint.
///
/// [`Display`](fmt::Display) writes the part after `ipc://`: the path, or `@name` for an abstract
/// address. A path must fit in `sockaddr_un` (107 bytes); an abstract name gets 106, because
/// libzmq counts its `@` against the same space.
///
/// ```rust
/// use monocoque::{Endpoint, IpcAddr};
///
/// let ep: Endpoint = "ipc://@broker".parse()?;
/// assert_eq!(ep.as_ipc(), Some(&IpcAddr::Abstract("broker".into())));
/// assert_eq!(IpcAddr::Path("/tmp/x.sock".into()).to_string(), "/tmp/x.sock");
/// # Ok::<(), monocoque::EndpointError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IpcAddr {
    /// A filesystem path, absolute or relative to the working directory.
    Path(PathBuf),
    /// A Linux abstract-namespace name, stored without the leading `@`.
    Abstract(String),
}

impl IpcAddr {
    /// Whether this is a Linux abstract-namespace address.
    pub const fn is_abstract(&self) -> bool {
        matches!(self, Self::Abstract(_))
    }
}

impl fmt::Display for IpcAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Path(path) => write!(f, "{}", path.display()),
            Self::Abstract(name) => write!(f, "@{name}"),
        }
    }
}

/// `sockaddr_un.sun_path` is 108 bytes and a path needs its NUL terminator.
const MAX_PATH_LEN: usize = 107;

/// libzmq counts the `@` of an abstract name against the same 107 bytes, so the name itself
/// gets one byte less; matching it keeps every name we accept bindable by libzmq too.
const MAX_ABSTRACT_LEN: usize = MAX_PATH_LEN - 1;

/// Parses what follows `ipc://`.
pub(super) fn parse(address: &str) -> Result<IpcAddr, EndpointError> {
    if address == "*" {
        return Err(EndpointError::IpcWildcard);
    }
    if address.contains('\0') {
        return Err(EndpointError::IpcPathNul);
    }
    let (addr, len, max) = match address.strip_prefix('@') {
        Some(name) => (
            IpcAddr::Abstract(name.to_owned()),
            name.len(),
            MAX_ABSTRACT_LEN,
        ),
        None => (IpcAddr::Path(address.into()), address.len(), MAX_PATH_LEN),
    };
    if len == 0 {
        return Err(EndpointError::EmptyIpcPath);
    }
    if len > max {
        return Err(EndpointError::IpcPathTooLong { len, max });
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::super::Endpoint;
    use super::super::tests::round_trip;
    use super::*;

    fn ipc(s: &str) -> IpcAddr {
        round_trip(s).as_ipc().unwrap().clone()
    }

    #[test]
    fn forms_round_trip() {
        assert_eq!(
            ipc("ipc:///tmp/x.sock"),
            IpcAddr::Path("/tmp/x.sock".into())
        );
        assert_eq!(ipc("ipc://run/x.sock"), IpcAddr::Path("run/x.sock".into()));
        let named = ipc("ipc://@abstract");
        assert_eq!(named, IpcAddr::Abstract("abstract".into()));
        assert!(named.is_abstract());
        assert!(!ipc("ipc://./x").is_abstract());
    }

    #[test]
    fn length_limits() {
        ipc(&format!("ipc:///{}", "a".repeat(106)));
        ipc(&format!("ipc://@{}", "a".repeat(106)));
        let long_path = format!("ipc:///{}", "a".repeat(107));
        let long_name = format!("ipc://@{}", "a".repeat(107));
        let too_long = |len, max| Err(EndpointError::IpcPathTooLong { len, max });
        assert_eq!(long_path.parse::<Endpoint>(), too_long(108, 107));
        assert_eq!(long_name.parse::<Endpoint>(), too_long(107, 106));
    }

    #[test]
    fn errors() {
        let cases = [
            ("ipc://", EndpointError::EmptyIpcPath),
            ("ipc://@", EndpointError::EmptyIpcPath),
            ("ipc://*", EndpointError::IpcWildcard),
            ("ipc:///tmp/a\0b", EndpointError::IpcPathNul),
        ];
        for (input, expected) in cases {
            assert_eq!(input.parse::<Endpoint>(), Err(expected), "{input}");
        }
    }
}
