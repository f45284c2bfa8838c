//! PLAIN (RFC 24): a user name and a password, in clear, from the client to the server.
//!
//! ```text
//! client                      server
//! HELLO (username, password) ->
//!                            <- WELCOME
//! INITIATE (metadata)        ->
//!                            <- READY (metadata)
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use super::{AuthContext, AuthDecision, AuthQuery, AuthRequest, Mechanism, MechanismStatus};
use crate::proto::command::Command;
use crate::proto::error::ProtocolError;
use crate::proto::greeting::{Greeting, MechanismName};
use crate::proto::metadata::Metadata;

/// The longest user name or password PLAIN can carry: its length is one byte.
pub const PLAIN_MAX_CREDENTIAL: usize = 255;

/// The property under which a server hands the application the user id its authenticator gave.
pub const USER_ID: &str = "User-Id";

/// An ERROR from a PLAIN or CURVE server: a refusal with a ZAP status when the reason is one
/// (as libzmq sends), any other reason as is.
pub(super) fn peer_error(reason: Bytes) -> ProtocolError {
    let status = std::str::from_utf8(&reason)
        .ok()
        .filter(|r| r.len() == 3)
        .and_then(|r| r.parse::<u16>().ok());
    match status {
        Some(status) => ProtocolError::AuthenticationFailed { status },
        None => ProtocolError::PeerError { reason },
    }
}

/// libzmq's PLAIN server writes its ERROR's name as the C string `"\x05ERROR"`, where the hex
/// escape takes the `E` as well: the body is `^RROR`, the reason's length, the reason. Read as
/// what it means, so a refusal by a libzmq server shows its status.
fn libzmq_plain_error(body: &Bytes) -> Option<ProtocolError> {
    let rest = body.strip_prefix(b"^RROR")?;
    let (&len, reason) = rest.split_first()?;
    (reason.len() == usize::from(len)).then(|| peer_error(body.slice(6..)))
}

/// The command's name and the bytes after it; a PLAIN command that is not `expected` is an error
/// (an ERROR from the peer says why it refused us).
fn expect(body: Bytes, expected: &'static [u8]) -> Result<Bytes, ProtocolError> {
    if let Some(error) = libzmq_plain_error(&body) {
        return Err(error);
    }
    match Command::parse(body)? {
        Command::Error(reason) => Err(peer_error(reason)),
        Command::Unknown { name, data } if name == expected => Ok(data),
        other => Err(ProtocolError::UnexpectedCommand {
            name: Bytes::copy_from_slice(other.name()),
        }),
    }
}

fn command(name: &[u8], data: &[u8]) -> Bytes {
    let mut body = BytesMut::with_capacity(1 + name.len() + data.len());
    body.put_u8(name.len() as u8);
    body.put_slice(name);
    body.put_slice(data);
    body.freeze()
}

/// The credentials a PLAIN client presented, as the server's authenticator sees them.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    /// The user name.
    pub username: Bytes,
    /// The password.
    pub password: Bytes,
}

impl std::fmt::Debug for PlainCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A password has no business in a log.
        f.debug_struct("PlainCredentials")
            .field("username", &String::from_utf8_lossy(&self.username))
            .field("password", &"<hidden>")
            .finish()
    }
}

/// The client side of PLAIN.
///
/// ```
/// use std::sync::Arc;
/// use monocoque::proto::{
///     AuthContext, AuthDecision, AuthRequest, Mechanism, MechanismStatus, Metadata, PlainClient,
///     PlainServer, SharedAuthenticator,
/// };
/// use monocoque::SocketType;
///
/// let allow = |_: &AuthRequest<'_>| AuthDecision::Allow { user_id: "admin".into() };
/// let auth = AuthContext {
///     authenticator: Some(SharedAuthenticator(Arc::new(allow))),
///     ..AuthContext::default()
/// };
/// let mut client = PlainClient::new("admin", "secret").unwrap();
/// let mut server = PlainServer::new(auth);
/// let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
/// client.start(&Metadata::for_socket(SocketType::Req, None), &mut to_server);
/// server.start(&Metadata::for_socket(SocketType::Rep, None), &mut to_client);
/// assert!(to_client.is_empty()); // the server waits for HELLO
///
/// // HELLO -> WELCOME -> INITIATE -> READY
/// let hello = to_server.remove(0);
/// assert_eq!(server.receive(hello, &mut to_client).unwrap(), MechanismStatus::InProgress);
/// assert_eq!(server.credentials().unwrap().username, "admin");
/// let welcome = to_client.remove(0);
/// assert_eq!(client.receive(welcome, &mut to_server).unwrap(), MechanismStatus::InProgress);
/// let initiate = to_server.remove(0);
/// let MechanismStatus::Complete(theirs) = server.receive(initiate, &mut to_client).unwrap() else {
///     panic!("the server completes on INITIATE");
/// };
/// assert_eq!(theirs.socket_type().unwrap(), SocketType::Req);
/// let ready = to_client.remove(0);
/// let MechanismStatus::Complete(theirs) = client.receive(ready, &mut to_server).unwrap() else {
///     panic!("the client completes on READY");
/// };
/// assert_eq!(theirs.socket_type().unwrap(), SocketType::Rep);
/// ```
#[derive(Debug)]
pub struct PlainClient {
    credentials: PlainCredentials,
    local: Metadata,
    state: ClientState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    Start,
    ExpectWelcome,
    ExpectReady,
}

impl PlainClient {
    /// A client presenting `username` and `password`; `None` if either is longer than 255 bytes.
    pub fn new(username: impl Into<Bytes>, password: impl Into<Bytes>) -> Option<Self> {
        let (username, password) = (username.into(), password.into());
        if username.len() > PLAIN_MAX_CREDENTIAL || password.len() > PLAIN_MAX_CREDENTIAL {
            return None;
        }
        Some(Self {
            credentials: PlainCredentials { username, password },
            local: Metadata::default(),
            state: ClientState::Start,
        })
    }
}

impl Mechanism for PlainClient {
    fn name(&self) -> MechanismName {
        MechanismName::PLAIN
    }

    fn as_server(&self) -> bool {
        false
    }

    fn check_peer_greeting(&self, _peer: &Greeting) -> Result<(), ProtocolError> {
        // libzmq leaves the as-server field zero whatever its role: the roles show in the
        // commands (a second client's HELLO is refused as unexpected).
        Ok(())
    }

    fn start(&mut self, local: &Metadata, out: &mut Vec<Bytes>) {
        self.local = local.clone();
        let PlainCredentials { username, password } = &self.credentials;
        let mut hello = Vec::with_capacity(2 + username.len() + password.len());
        // Both are at most 255 bytes: checked in `new`.
        hello.push(username.len() as u8);
        hello.extend_from_slice(username);
        hello.push(password.len() as u8);
        hello.extend_from_slice(password);
        out.push(command(b"HELLO", &hello));
        self.state = ClientState::ExpectWelcome;
    }

    fn receive(
        &mut self,
        body: Bytes,
        out: &mut Vec<Bytes>,
    ) -> Result<MechanismStatus, ProtocolError> {
        match self.state {
            ClientState::Start | ClientState::ExpectWelcome => {
                let data = expect(body, b"WELCOME")?;
                if !data.is_empty() {
                    return Err(ProtocolError::MalformedCommandBody { command: "WELCOME" });
                }
                let mut initiate = BytesMut::new();
                self.local.encode(&mut initiate);
                out.push(command(b"INITIATE", &initiate));
                self.state = ClientState::ExpectReady;
                Ok(MechanismStatus::InProgress)
            }
            ClientState::ExpectReady if libzmq_plain_error(&body).is_some() => {
                Err(libzmq_plain_error(&body).unwrap_or(ProtocolError::MalformedCommand))
            }
            ClientState::ExpectReady => match Command::parse(body)? {
                Command::Ready(metadata) => Ok(MechanismStatus::Complete(metadata)),
                Command::Error(reason) => Err(peer_error(reason)),
                other => Err(ProtocolError::UnexpectedCommand {
                    name: Bytes::copy_from_slice(other.name()),
                }),
            },
        }
    }
}

/// The server side of PLAIN. Whether the credentials are good is the [`Authenticator`]'s call
/// (ZAP's place in libzmq); with none, every client is refused with status 500, as libzmq's
/// PLAIN server refuses without a ZAP handler. A refused client gets an ERROR with the status.
///
/// [`Authenticator`]: super::Authenticator
#[derive(Debug, Default)]
pub struct PlainServer {
    auth: AuthContext,
    credentials: Option<PlainCredentials>,
    user_id: Bytes,
    local: Metadata,
    welcomed: bool,
}

impl PlainServer {
    /// A server for one connection, asking `auth`'s authenticator.
    pub fn new(auth: AuthContext) -> Self {
        Self {
            auth,
            ..Self::default()
        }
    }

    fn decide(&self, credentials: &PlainCredentials) -> AuthDecision {
        let Some(authenticator) = &self.auth.authenticator else {
            return AuthDecision::Deny { status: 500 };
        };
        let request = AuthRequest::plain(
            &self.auth.domain,
            self.auth.address.as_deref(),
            &credentials.username,
            &credentials.password,
        );
        match authenticator.0.authenticate(&request) {
            AuthDecision::Allow { user_id } => AuthDecision::Allow { user_id },
            // A status outside ZAP's refusals is an authenticator's bug: refused all the same.
            AuthDecision::Deny { status } if (300..600).contains(&status) => {
                AuthDecision::Deny { status }
            }
            AuthDecision::Deny { .. } => AuthDecision::Deny { status: 500 },
        }
    }

    fn welcome(
        &mut self,
        decision: AuthDecision,
        out: &mut Vec<Bytes>,
    ) -> Result<MechanismStatus, ProtocolError> {
        match decision {
            AuthDecision::Allow { user_id } => {
                self.user_id = user_id;
                out.push(command(b"WELCOME", &[]));
                self.welcomed = true;
                Ok(MechanismStatus::InProgress)
            }
            AuthDecision::Deny { status } => {
                // The status as libzmq sends it: three digits.
                if let Some(reason) = refusal(status) {
                    out.push(Command::Error(reason).to_bytes());
                }
                Err(ProtocolError::AuthenticationFailed { status })
            }
        }
    }

    /// The credentials the client presented, once its HELLO has arrived.
    pub fn credentials(&self) -> Option<&PlainCredentials> {
        self.credentials.as_ref()
    }

    fn parse_hello(data: &Bytes) -> Result<PlainCredentials, ProtocolError> {
        let malformed = ProtocolError::MalformedCommandBody { command: "HELLO" };
        let mut at = 0;
        let mut field = || {
            let len = usize::from(*data.get(at).ok_or(malformed.clone())?);
            let start = at + 1;
            let end = start + len;
            if end > data.len() {
                return Err(malformed.clone());
            }
            at = end;
            Ok(data.slice(start..end))
        };
        let username = field()?;
        let password = field()?;
        if at != data.len() {
            return Err(malformed);
        }
        Ok(PlainCredentials { username, password })
    }
}

impl Mechanism for PlainServer {
    fn name(&self) -> MechanismName {
        MechanismName::PLAIN
    }

    fn as_server(&self) -> bool {
        true
    }

    fn check_peer_greeting(&self, _peer: &Greeting) -> Result<(), ProtocolError> {
        // See `PlainClient`: libzmq's as-server field says nothing.
        Ok(())
    }

    fn start(&mut self, local: &Metadata, _out: &mut Vec<Bytes>) {
        self.local = local.clone();
    }

    fn receive(
        &mut self,
        body: Bytes,
        out: &mut Vec<Bytes>,
    ) -> Result<MechanismStatus, ProtocolError> {
        if !self.welcomed {
            if self.credentials.is_some() {
                // A second HELLO, or anything while the ZAP handler decides.
                return Err(ProtocolError::MalformedCommandBody { command: "HELLO" });
            }
            let data = expect(body, b"HELLO")?;
            let credentials = Self::parse_hello(&data)?;
            if self.auth.asks_zap() {
                let query = AuthQuery {
                    domain: self.auth.domain.clone(),
                    address: self.auth.address.clone(),
                    mechanism: MechanismName::PLAIN,
                    username: Some(credentials.username.clone()),
                    password: Some(credentials.password.clone()),
                    curve_key: None,
                };
                self.credentials = Some(credentials);
                return Ok(MechanismStatus::Authenticate(query));
            }
            let decision = self.decide(&credentials);
            self.credentials = Some(credentials);
            return self.welcome(decision, out);
        }
        let data = expect(body, b"INITIATE")?;
        // The application reads who it talks to among the peer's properties.
        let metadata = with_user_id(Metadata::parse(&data)?, self.user_id.clone())?;
        out.push(Command::Ready(self.local.clone()).to_bytes());
        Ok(MechanismStatus::Complete(metadata))
    }

    fn resume(
        &mut self,
        decision: AuthDecision,
        out: &mut Vec<Bytes>,
    ) -> Result<MechanismStatus, ProtocolError> {
        if self.welcomed || self.credentials.is_none() {
            return Err(ProtocolError::AuthenticationFailed { status: 500 });
        }
        self.welcome(checked(decision), out)
    }
}

/// The peer's metadata with the user id the server's authenticator gave, and never one the peer
/// sent itself: a client must not name its own user.
pub(super) fn with_user_id(metadata: Metadata, user_id: Bytes) -> Result<Metadata, ProtocolError> {
    let mut checked = Metadata::new();
    for (name, value) in metadata.iter() {
        if !name.eq_ignore_ascii_case(USER_ID) {
            checked.insert(name, value.clone())?;
        }
    }
    if !user_id.is_empty() {
        checked.insert(USER_ID, user_id)?;
    }
    Ok(checked)
}

/// The ERROR a refusal sends: none for 300 ("try later"), which libzmq answers by closing so
/// that the client retries, where an ERROR would end the client's session for good.
pub(super) fn refusal(status: u16) -> Option<Bytes> {
    (status != 300).then(|| Bytes::from(format!("{status:03}")))
}

/// A decision with a status outside ZAP's refusals is an authenticator's bug: refused all the
/// same, with 500.
pub(super) fn checked(decision: AuthDecision) -> AuthDecision {
    match decision {
        AuthDecision::Deny { status } if !(300..600).contains(&status) => {
            AuthDecision::Deny { status: 500 }
        }
        decision => decision,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::proto::SocketType;
    use crate::proto::mechanism::SharedAuthenticator;

    fn allow_all() -> AuthContext {
        let allow = |_: &AuthRequest<'_>| AuthDecision::Allow {
            user_id: Bytes::new(),
        };
        AuthContext {
            authenticator: Some(SharedAuthenticator(Arc::new(allow))),
            ..AuthContext::default()
        }
    }

    #[test]
    fn the_authenticator_decides_and_a_refusal_tells_the_client_why() {
        let only_admin = |request: &AuthRequest<'_>| {
            assert_eq!(request.address, Some("10.0.0.1:5555"));
            assert_eq!(request.domain, "global");
            match (request.username, request.password) {
                (Some(b"admin"), Some(b"secret")) => AuthDecision::Allow {
                    user_id: Bytes::from_static(b"the admin"),
                },
                _ => AuthDecision::Deny { status: 400 },
            }
        };
        let auth = AuthContext {
            authenticator: Some(SharedAuthenticator(Arc::new(only_admin))),
            domain: "global".into(),
            address: Some("10.0.0.1:5555".into()),
            deferred: None,
        };
        // A wrong password: ERROR "400", and the client reads it as a refusal.
        let mut server = PlainServer::new(auth.clone());
        let mut out = Vec::new();
        let refused = server.receive(hello(b"admin", b"guess"), &mut out);
        assert_eq!(
            refused,
            Err(ProtocolError::AuthenticationFailed { status: 400 })
        );
        assert_eq!(out, [Command::Error(Bytes::from_static(b"400")).to_bytes()]);
        let mut client = PlainClient::new("admin", "guess").unwrap();
        client.start(&Metadata::default(), &mut Vec::new());
        assert_eq!(
            client.receive(out.remove(0), &mut Vec::new()),
            Err(ProtocolError::AuthenticationFailed { status: 400 })
        );
        // The right one: in, with the user id among the peer's properties.
        let mut server = PlainServer::new(auth);
        let mut out = Vec::new();
        server
            .receive(hello(b"admin", b"secret"), &mut out)
            .unwrap();
        let initiate = {
            let mut metadata = BytesMut::new();
            Metadata::for_socket(SocketType::Req, None).encode(&mut metadata);
            command(b"INITIATE", &metadata)
        };
        let Ok(MechanismStatus::Complete(peer)) = server.receive(initiate, &mut out) else {
            panic!("not complete");
        };
        assert_eq!(peer.get(USER_ID).unwrap(), "the admin");
        // No authenticator: refused, as libzmq refuses without a ZAP handler.
        let mut server = PlainServer::new(AuthContext::default());
        assert_eq!(
            server.receive(hello(b"admin", b"secret"), &mut Vec::new()),
            Err(ProtocolError::AuthenticationFailed { status: 500 })
        );
    }

    fn hello(username: &[u8], password: &[u8]) -> Bytes {
        let mut data = vec![username.len() as u8];
        data.extend_from_slice(username);
        data.push(password.len() as u8);
        data.extend_from_slice(password);
        command(b"HELLO", &data)
    }

    #[test]
    fn a_malformed_hello_is_refused() {
        for data in [
            &b""[..],
            &b"\x05adm"[..],
            &b"\x01a"[..],
            &b"\x01a\x03pw"[..],
            &b"\x01a\x01pwextra"[..],
        ] {
            let mut server = PlainServer::new(allow_all());
            let error = server
                .receive(command(b"HELLO", data), &mut Vec::new())
                .unwrap_err();
            assert_eq!(
                error,
                ProtocolError::MalformedCommandBody { command: "HELLO" },
                "{data:?}"
            );
        }
        let mut server = PlainServer::new(allow_all());
        let mut out = Vec::new();
        server.receive(hello(b"", b""), &mut out).unwrap();
        assert_eq!(out, [command(b"WELCOME", &[])]);
        assert_eq!(server.credentials().unwrap().username, Bytes::new());
    }

    #[test]
    fn commands_out_of_turn_are_refused() {
        let mut server = PlainServer::new(allow_all());
        let ready = Command::Ready(Metadata::for_socket(SocketType::Req, None)).to_bytes();
        assert!(matches!(
            server.receive(ready, &mut Vec::new()),
            Err(ProtocolError::UnexpectedCommand { .. })
        ));
        let mut client = PlainClient::new("u", "p").unwrap();
        client.start(&Metadata::default(), &mut Vec::new());
        assert!(matches!(
            client.receive(hello(b"u", b"p"), &mut Vec::new()),
            Err(ProtocolError::UnexpectedCommand { .. })
        ));
        let refused = Command::Error(Bytes::from_static(b"denied")).to_bytes();
        assert_eq!(
            client.receive(refused, &mut Vec::new()),
            Err(ProtocolError::PeerError {
                reason: Bytes::from_static(b"denied")
            })
        );
    }

    #[test]
    fn credentials_are_limited_and_the_password_stays_out_of_logs() {
        assert!(PlainClient::new(vec![b'u'; 256], "p").is_none());
        assert!(PlainClient::new("u", vec![b'p'; 256]).is_none());
        assert!(PlainClient::new(vec![b'u'; 255], vec![b'p'; 255]).is_some());
        let credentials = PlainCredentials {
            username: Bytes::from_static(b"admin"),
            password: Bytes::from_static(b"hunter2"),
        };
        let shown = format!("{credentials:?}");
        assert!(
            shown.contains("admin") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn the_roles_show_in_the_commands_not_the_greeting() {
        // libzmq sends as-server 0 from its PLAIN servers too.
        let server = PlainServer::new(allow_all());
        assert_eq!(
            server.check_peer_greeting(&Greeting::new(MechanismName::PLAIN, false)),
            Ok(())
        );
        // Two clients: each refuses the other's HELLO.
        let mut client = PlainClient::new("u", "p").unwrap();
        let mut out = Vec::new();
        client.start(&Metadata::default(), &mut out);
        assert_eq!(
            client.receive(out.remove(0), &mut Vec::new()),
            Err(ProtocolError::UnexpectedCommand {
                name: Bytes::from_static(b"HELLO")
            })
        );
    }

    #[test]
    fn the_error_libzmq_s_plain_server_sends_reads_as_its_status() {
        // Captured from libzmq 4.3.4 and 4.3.5 refusing a password: `^RROR`, 3, "400".
        let body = Bytes::from_static(b"^RROR\x03400");
        let mut client = PlainClient::new("admin", "guess").unwrap();
        client.start(&Metadata::default(), &mut Vec::new());
        assert_eq!(
            client.receive(body.clone(), &mut Vec::new()),
            Err(ProtocolError::AuthenticationFailed { status: 400 })
        );
        let mut waiting_ready = PlainClient::new("admin", "guess").unwrap();
        waiting_ready.start(&Metadata::default(), &mut Vec::new());
        let welcome = command(b"WELCOME", &[]);
        waiting_ready.receive(welcome, &mut Vec::new()).unwrap();
        assert_eq!(
            waiting_ready.receive(body, &mut Vec::new()),
            Err(ProtocolError::AuthenticationFailed { status: 400 })
        );
        // A length that does not match is no ERROR.
        assert!(libzmq_plain_error(&Bytes::from_static(b"^RROR\x05400")).is_none());
    }
}
