//! Authentication of PLAIN (and later CURVE) clients: what the server asks, what it is told.
//!
//! The decision is made in-process by an [`Authenticator`], at the point of the handshake where
//! libzmq sends a ZAP request (RFC 27); its statuses are ZAP's: 200 allows, 300 is a temporary
//! failure, 400 a refusal, 500 an internal error.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use super::curve::CurvePublicKey;
use crate::proto::greeting::MechanismName;

/// What an authenticator is asked about one connecting client.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthRequest<'a> {
    /// The server socket's ZAP domain (`ZMQ_ZAP_DOMAIN`; empty when unset).
    pub domain: &'a str,
    /// The client's address (`127.0.0.1:51234`, or a path for IPC), when known.
    pub address: Option<&'a str>,
    /// The mechanism the client used.
    pub mechanism: MechanismName,
    /// PLAIN: the user name.
    pub username: Option<&'a [u8]>,
    /// PLAIN: the password.
    pub password: Option<&'a [u8]>,
    /// CURVE: the client's long-term public key, which it has proven it holds.
    pub curve_key: Option<&'a CurvePublicKey>,
}

impl<'a> AuthRequest<'a> {
    /// A PLAIN request, as a server builds it (and as a test of an authenticator may).
    pub fn plain(
        domain: &'a str,
        address: Option<&'a str>,
        username: &'a [u8],
        password: &'a [u8],
    ) -> Self {
        Self {
            domain,
            address,
            mechanism: MechanismName::PLAIN,
            username: Some(username),
            password: Some(password),
            curve_key: None,
        }
    }

    /// A CURVE request: the client's long-term public key.
    pub fn curve(domain: &'a str, address: Option<&'a str>, key: &'a CurvePublicKey) -> Self {
        Self {
            domain,
            address,
            mechanism: MechanismName::CURVE,
            username: None,
            password: None,
            curve_key: Some(key),
        }
    }
}

/// An authenticator's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthDecision {
    /// Let the client in, known to the application by this user id (may be empty).
    Allow {
        /// The user id (libzmq's `User-Id` property).
        user_id: Bytes,
    },
    /// Refuse the client with a ZAP status: 300 (try later), 400 (refused) or 500 (error).
    Deny {
        /// The status, sent to the client as the reason of an ERROR command.
        status: u16,
    },
}

/// Decides whether a client may connect. Called on the socket's I/O thread during the handshake:
/// keep it quick (look up a table; do not block on the network).
///
/// Any `Fn(&AuthRequest) -> AuthDecision + Send + Sync` is one:
///
/// ```
/// use monocoque::proto::{AuthDecision, AuthRequest, Authenticator};
///
/// let only_admin = |request: &AuthRequest<'_>| match (request.username, request.password) {
///     (Some(b"admin"), Some(b"secret")) => AuthDecision::Allow { user_id: "admin".into() },
///     _ => AuthDecision::Deny { status: 400 },
/// };
/// let request = AuthRequest::plain("", None, b"admin", b"secret");
/// assert_eq!(
///     only_admin.authenticate(&request),
///     AuthDecision::Allow { user_id: "admin".into() }
/// );
/// let wrong = AuthRequest::plain("", None, b"admin", b"guess");
/// assert_eq!(only_admin.authenticate(&wrong), AuthDecision::Deny { status: 400 });
/// ```
pub trait Authenticator: Send + Sync {
    /// The decision for `request`.
    fn authenticate(&self, request: &AuthRequest<'_>) -> AuthDecision;
}

impl<F> Authenticator for F
where
    F: Fn(&AuthRequest<'_>) -> AuthDecision + Send + Sync,
{
    fn authenticate(&self, request: &AuthRequest<'_>) -> AuthDecision {
        self(request)
    }
}

/// A shared [`Authenticator`], as socket options hold it.
#[derive(Clone)]
pub struct SharedAuthenticator(pub Arc<dyn Authenticator>);

impl fmt::Debug for SharedAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authenticator")
    }
}

/// Who a server asks, and what it tells it about the connection.
#[derive(Debug, Clone, Default)]
pub struct AuthContext {
    /// The authenticator; with none, every client is refused with status 500, as libzmq's PLAIN
    /// and CURVE servers refuse without a ZAP handler.
    pub authenticator: Option<SharedAuthenticator>,
    /// The ZAP domain.
    pub domain: String,
    /// The client's address.
    pub address: Option<String>,
}
