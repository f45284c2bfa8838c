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
    /// The client's IP address (`127.0.0.1`, as ZAP's address frame carries it; none for IPC).
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
    /// The authenticator; with none (and not deferred), a PLAIN server refuses every client
    /// with status 500 and a CURVE server lets every client in, as libzmq's do without a ZAP
    /// handler.
    pub authenticator: Option<SharedAuthenticator>,
    /// The ZAP domain.
    pub domain: String,
    /// The client's address.
    pub address: Option<String>,
    /// With no authenticator: whether a ZAP handler is there to ask, looked at when the
    /// decision is due (as libzmq connects to ZAP then); if it says so, the decision is left
    /// to the handler through [`MechanismStatus::Authenticate`](super::MechanismStatus::Authenticate).
    pub deferred: Option<fn() -> bool>,
}

impl AuthContext {
    /// Whether the decision goes to a ZAP handler.
    pub fn asks_zap(&self) -> bool {
        self.authenticator.is_none() && self.deferred.is_some_and(|handler_there| handler_there())
    }
}

/// A question a server's mechanism leaves to a ZAP handler (RFC 27) elsewhere: the driver sends
/// it, and gives the answer back to the handshake
/// ([`Connection::resume_auth`](crate::proto::Connection::resume_auth)).
///
/// ```
/// use monocoque::Message;
/// use monocoque::proto::{AuthDecision, AuthQuery, MechanismName, parse_zap_reply};
///
/// let query = AuthQuery {
///     domain: "global".into(),
///     address: Some("10.0.0.7".into()),
///     mechanism: MechanismName::PLAIN,
///     username: Some("admin".into()),
///     password: Some("secret".into()),
///     curve_key: None,
/// };
/// let request = query.zap_request("7".into());
/// assert_eq!(request.frames()[1..4], ["1.0", "7", "global"]);
/// assert_eq!(request.frames()[6..], ["PLAIN", "admin", "secret"]);
/// // The handler's reply: version, request id, status, text, user id, metadata.
/// let reply = Message::from_iter(["", "1.0", "7", "200", "OK", "admin", ""]);
/// assert_eq!(
///     parse_zap_reply(&reply),
///     Some(("7".into(), AuthDecision::Allow { user_id: "admin".into() }))
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthQuery {
    /// The ZAP domain.
    pub domain: String,
    /// The client's address.
    pub address: Option<String>,
    /// The mechanism.
    pub mechanism: MechanismName,
    /// PLAIN: the user name.
    pub username: Option<Bytes>,
    /// PLAIN: the password.
    pub password: Option<Bytes>,
    /// CURVE: the client's long-term public key.
    pub curve_key: Option<CurvePublicKey>,
}

impl AuthQuery {
    /// The query as an in-process authenticator sees it.
    pub fn request(&self) -> AuthRequest<'_> {
        AuthRequest {
            domain: &self.domain,
            address: self.address.as_deref(),
            mechanism: self.mechanism,
            username: self.username.as_deref(),
            password: self.password.as_deref(),
            curve_key: self.curve_key.as_ref(),
        }
    }

    /// The ZAP request as a DEALER sends it to the handler (RFC 27), empty delimiter first:
    /// version, request id, domain, address, identity (empty), mechanism, credentials.
    pub fn zap_request(&self, request_id: Bytes) -> monocoque_core::Message {
        let mut frames = vec![
            Bytes::new(),
            Bytes::from_static(b"1.0"),
            request_id,
            Bytes::from(self.domain.clone()),
            Bytes::from(self.address.clone().unwrap_or_default()),
            Bytes::new(),
            Bytes::copy_from_slice(self.mechanism.as_str().as_bytes()),
        ];
        if let (Some(user), Some(password)) = (&self.username, &self.password) {
            frames.push(user.clone());
            frames.push(password.clone());
        }
        if let Some(key) = &self.curve_key {
            frames.push(Bytes::copy_from_slice(key.as_bytes()));
        }
        monocoque_core::Message::from_iter(frames)
    }
}

/// Reads a ZAP reply as a DEALER receives it (empty delimiter, version "1.0", request id,
/// status code, status text, user id, metadata): the request id and the decision. `None` for
/// anything else, which a server treats as a refusal (500), as libzmq does.
pub fn parse_zap_reply(reply: &monocoque_core::Message) -> Option<(Bytes, AuthDecision)> {
    let frames = reply.frames();
    let [delimiter, version, id, status, _text, user_id, _metadata] = frames else {
        return None;
    };
    if !delimiter.is_empty() || &version[..] != b"1.0" {
        return None;
    }
    // Exactly the four codes of RFC 27, as libzmq reads them.
    let decision = match &status[..] {
        b"200" => AuthDecision::Allow {
            user_id: user_id.clone(),
        },
        b"300" => AuthDecision::Deny { status: 300 },
        b"400" => AuthDecision::Deny { status: 400 },
        b"500" => AuthDecision::Deny { status: 500 },
        _ => return None,
    };
    Some((id.clone(), decision))
}
