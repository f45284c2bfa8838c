//! CURVE (RFC 25 on CurveZMQ, RFC 26): the client proves it knows the server's public key, both
//! sides agree on short-term keys, and every frame after the handshake is boxed.
//!
//! ```text
//! client                                  server
//! HELLO (C', Box[zeros](C'->S))          ->
//!                                        <- WELCOME (Box[S' + cookie](S->C'))
//! INITIATE (cookie, Box[C + vouch + metadata](C'->S')) ->
//!                                        <- READY (Box[metadata](S'->C'))
//! MESSAGE ...                            <-> MESSAGE ...
//! ```
//!
//! Nonces are libzmq's: short nonces count up from 1 on each side (HELLO 1, INITIATE 2, then
//! traffic; READY 1, then traffic), long nonces are 16 random bytes. The cookie is boxed with a
//! key made for this connection alone and forgotten once INITIATE is checked, so a HELLO and
//! INITIATE captured from one connection open nothing on another. Secret keys, short-term keys
//! and cookie keys are zeroed when dropped.

mod cipher;
mod keys;

pub use cipher::{CurveDecoder, CurveEncoder, Encryption, OpenedFrame, seal_message_body};
use cipher::{Secret, TrafficKey, encryption, public_of, random_bytes, random_secret};
pub use keys::{
    CURVE_KEY_LEN, CURVE_KEY_Z85_LEN, CurveKeyPair, CurvePublicKey, CurveSecretKey, KeyError,
};

use bytes::{BufMut, Bytes, BytesMut};
use zeroize::Zeroizing;

use super::plain::{peer_error, refusal, with_user_id};
use super::{AuthContext, AuthDecision, AuthQuery, AuthRequest, Mechanism, MechanismStatus};
use crate::proto::error::ProtocolError;
use crate::proto::greeting::{Greeting, MechanismName};
use crate::proto::metadata::Metadata;

const TAG: usize = 16;
const KEY: usize = 32;

const HELLO: &[u8] = b"\x05HELLO";
const WELCOME: &[u8] = b"\x07WELCOME";
const INITIATE: &[u8] = b"\x08INITIATE";
const READY: &[u8] = b"\x05READY";
const ERROR: &[u8] = b"\x05ERROR";

/// HELLO: name, version, 72 bytes of padding, C', nonce, Box[64 zeros].
const HELLO_LEN: usize = 6 + 2 + 72 + KEY + 8 + TAG + 64;
/// WELCOME: name, long nonce, Box[S' + cookie].
const WELCOME_LEN: usize = 8 + 16 + TAG + KEY + COOKIE_LEN;
/// The cookie: its long nonce and Box[C' + s'](cookie key).
const COOKIE_LEN: usize = 16 + TAG + 2 * KEY;
/// INITIATE up to its box: name, cookie, nonce.
const INITIATE_HEAD: usize = 9 + COOKIE_LEN + 8;
/// The box of INITIATE without metadata: C, the vouch's nonce, the vouch.
const INITIATE_BOX_MIN: usize = TAG + KEY + 16 + VOUCH_BOX;
/// The vouch: Box[C' + S](C->S').
const VOUCH_BOX: usize = TAG + 2 * KEY;
/// READY: name, nonce, Box[metadata].
const READY_MIN: usize = 6 + 8 + TAG;

const CLIENT_MESSAGE: &[u8; 16] = b"CurveZMQMESSAGEC";
const SERVER_MESSAGE: &[u8; 16] = b"CurveZMQMESSAGES";

fn short_nonce(prefix: &[u8; 16], n: u64) -> [u8; 24] {
    let mut nonce = [0u8; 24];
    nonce[..16].copy_from_slice(prefix);
    nonce[16..].copy_from_slice(&n.to_be_bytes());
    nonce
}

fn long_nonce(prefix: &[u8; 8], random: &[u8]) -> [u8; 24] {
    let mut nonce = [0u8; 24];
    nonce[..8].copy_from_slice(prefix);
    nonce[8..].copy_from_slice(random);
    nonce
}

fn random16() -> [u8; 16] {
    random_bytes()
}

fn key_of(bytes: &[u8]) -> [u8; KEY] {
    let mut key = [0u8; KEY];
    key.copy_from_slice(&bytes[..KEY]);
    key
}

fn read_u64(bytes: &[u8]) -> u64 {
    let mut n = [0u8; 8];
    n.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(n)
}

/// Appends `tag || ciphertext` of `plaintext` to `out`.
fn seal_into(cipher: &TrafficKey, nonce: &[u8; 24], plaintext: &[u8], out: &mut BytesMut) {
    let tag_at = out.len();
    out.put_bytes(0, TAG);
    let text_at = out.len();
    out.put_slice(plaintext);
    let tag = cipher.seal(nonce, &mut out[text_at..]);
    out[tag_at..text_at].copy_from_slice(&tag);
}

/// Opens `tag || ciphertext`; the plaintext is zeroed when dropped, as it may hold keys.
fn open(
    cipher: &TrafficKey,
    nonce: &[u8; 24],
    boxed: &[u8],
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, ProtocolError> {
    let failed = ProtocolError::Cryptographic { what };
    if boxed.len() < TAG {
        return Err(failed);
    }
    let mut text = Zeroizing::new(boxed[TAG..].to_vec());
    cipher
        .open(nonce, &mut text, &boxed[..TAG])
        .map_err(|()| failed)?;
    Ok(text)
}

/// The command's kind, checked by name before its length: an ERROR is the peer refusing us.
fn check_command(body: &[u8], name: &'static [u8]) -> Result<(), ProtocolError> {
    if body.starts_with(name) {
        return Ok(());
    }
    if body.starts_with(ERROR) {
        let len = body.get(6).map_or(0, |&n| usize::from(n));
        return match body.get(7..7 + len) {
            Some(reason) if 7 + len == body.len() => {
                Err(peer_error(Bytes::copy_from_slice(reason)))
            }
            _ => Err(ProtocolError::MalformedCommandBody { command: "ERROR" }),
        };
    }
    let name_len = body.first().map_or(0, |&n| usize::from(n));
    Err(ProtocolError::UnexpectedCommand {
        name: Bytes::copy_from_slice(body.get(1..1 + name_len).unwrap_or_default()),
    })
}

/// The client side of CURVE: knows the server's public key and its own long-term keypair.
///
/// ```
/// use monocoque::curve::{CurveClient, CurveKeyPair, CurveServer};
/// use monocoque::proto::{AuthContext, Mechanism, MechanismStatus, Metadata};
/// use monocoque::SocketType;
///
/// let (server_keys, client_keys) = (CurveKeyPair::generate(), CurveKeyPair::generate());
/// let mut client = CurveClient::new(client_keys.clone(), server_keys.public);
/// // No authenticator: every client that knows the server key is let in (libzmq without ZAP).
/// let mut server = CurveServer::new(server_keys.secret, AuthContext::default());
/// let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
/// client.start(&Metadata::for_socket(SocketType::Dealer, None), &mut to_server);
/// server.start(&Metadata::for_socket(SocketType::Router, None), &mut to_client);
///
/// // HELLO -> WELCOME -> INITIATE -> READY
/// server.receive(to_server.remove(0), &mut to_client).unwrap();
/// client.receive(to_client.remove(0), &mut to_server).unwrap();
/// let MechanismStatus::Complete(theirs) = server.receive(to_server.remove(0), &mut to_client).unwrap() else {
///     panic!("the server completes on INITIATE");
/// };
/// assert_eq!(theirs.socket_type().unwrap(), SocketType::Dealer);
/// assert_eq!(server.client_key(), Some(client_keys.public));
/// let MechanismStatus::Complete(theirs) = client.receive(to_client.remove(0), &mut to_server).unwrap() else {
///     panic!("the client completes on READY");
/// };
/// assert_eq!(theirs.socket_type().unwrap(), SocketType::Router);
///
/// // Traffic is boxed from here on.
/// let (mut ours, mut theirs) = (client.take_encryption().unwrap(), server.take_encryption().unwrap());
/// let boxed = monocoque::curve::seal_message_body(&mut ours.encoder, false, false, b"hello");
/// assert!(!boxed.windows(5).any(|w| w == b"hello"));
/// assert_eq!(&theirs.decoder.open(&boxed).unwrap().body[..], b"hello");
/// // The same box twice is a replay.
/// assert!(theirs.decoder.open(&boxed).is_err());
/// ```
pub struct CurveClient {
    keys: CurveKeyPair,
    server: CurvePublicKey,
    short_secret: Secret,
    short_public: [u8; KEY],
    next_nonce: u64,
    local: Metadata,
    state: ClientState,
    session: Option<TrafficKey>,
    encryption: Option<Encryption>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    Start,
    ExpectWelcome,
    ExpectReady,
    Done,
}

impl std::fmt::Debug for CurveClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveClient")
            .field("public", &self.keys.public)
            .field("server", &self.server)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl CurveClient {
    /// A client with the long-term keypair `keys`, for the server whose public key is `server`.
    /// Its short-term keypair is made here, fresh for this connection.
    pub fn new(keys: CurveKeyPair, server: CurvePublicKey) -> Self {
        let short_secret = random_secret();
        Self {
            short_public: public_of(&short_secret),
            short_secret,
            keys,
            server,
            next_nonce: 1,
            local: Metadata::default(),
            state: ClientState::Start,
            session: None,
            encryption: None,
        }
    }

    fn take_nonce(&mut self) -> u64 {
        let n = self.next_nonce;
        self.next_nonce += 1;
        n
    }

    fn hello(&mut self) -> Bytes {
        let nonce = self.take_nonce();
        let mut hello = BytesMut::with_capacity(HELLO_LEN);
        hello.put_slice(HELLO);
        hello.put_slice(&[1, 0]);
        hello.put_bytes(0, 72);
        hello.put_slice(&self.short_public);
        hello.put_u64(nonce);
        // The signature: proof that we know S, which an attacker without it cannot forge. A
        // server key of low order (a configuration error) gets a box no server opens.
        let cipher = TrafficKey::agree(self.server.as_bytes(), &self.short_secret, "HELLO")
            .unwrap_or_else(|_| TrafficKey::secretbox(&random_bytes()));
        seal_into(
            &cipher,
            &short_nonce(b"CurveZMQHELLO---", nonce),
            &[0; 64],
            &mut hello,
        );
        hello.freeze()
    }

    fn welcome(&mut self, body: &[u8]) -> Result<Bytes, ProtocolError> {
        check_command(body, WELCOME)?;
        if body.len() != WELCOME_LEN {
            return Err(ProtocolError::MalformedCommandBody { command: "WELCOME" });
        }
        let cipher = TrafficKey::agree(self.server.as_bytes(), &self.short_secret, "WELCOME")?;
        let text = open(
            &cipher,
            &long_nonce(b"WELCOME-", &body[8..24]),
            &body[24..],
            "WELCOME",
        )?;
        let server_short = key_of(&text);
        let cookie = &text[KEY..];

        // vouch = Box[C' + S](C->S'): the long-term key stands behind the short-term one.
        let vouch_random = random16();
        let mut vouch_text = Zeroizing::new([0u8; 2 * KEY]);
        vouch_text[..KEY].copy_from_slice(&self.short_public);
        vouch_text[KEY..].copy_from_slice(self.server.as_bytes());
        let long_term =
            TrafficKey::agree(&server_short, self.keys.secret.as_bytes(), "WELCOME (S')")?;
        let mut plain = BytesMut::with_capacity(INITIATE_BOX_MIN + self.local.encoded_len());
        plain.put_slice(self.keys.public.as_bytes());
        plain.put_slice(&vouch_random);
        seal_into(
            &long_term,
            &long_nonce(b"VOUCH---", &vouch_random),
            &vouch_text[..],
            &mut plain,
        );
        self.local.encode(&mut plain);

        let session = TrafficKey::agree(&server_short, &self.short_secret, "WELCOME (S')")?;
        let nonce = self.take_nonce();
        let mut initiate = BytesMut::with_capacity(INITIATE_HEAD + TAG + plain.len());
        initiate.put_slice(INITIATE);
        initiate.put_slice(cookie);
        initiate.put_u64(nonce);
        seal_into(
            &session,
            &short_nonce(b"CurveZMQINITIATE", nonce),
            &plain,
            &mut initiate,
        );
        self.session = Some(session);
        Ok(initiate.freeze())
    }

    fn ready(&mut self, body: &[u8]) -> Result<Metadata, ProtocolError> {
        check_command(body, READY)?;
        if body.len() < READY_MIN {
            return Err(ProtocolError::MalformedCommandBody { command: "READY" });
        }
        let Some(session) = self.session.take() else {
            return Err(ProtocolError::MalformedCommandBody { command: "READY" });
        };
        let nonce = read_u64(&body[6..14]);
        let text = open(
            &session,
            &short_nonce(b"CurveZMQREADY---", nonce),
            &body[14..],
            "READY",
        )?;
        let metadata = Metadata::parse(&Bytes::copy_from_slice(&text))?;
        self.encryption = Some(encryption(
            session,
            (CLIENT_MESSAGE, self.next_nonce),
            (SERVER_MESSAGE, nonce),
        ));
        Ok(metadata)
    }
}

impl Mechanism for CurveClient {
    fn name(&self) -> MechanismName {
        MechanismName::CURVE
    }

    fn as_server(&self) -> bool {
        false
    }

    fn check_peer_greeting(&self, _peer: &Greeting) -> Result<(), ProtocolError> {
        // libzmq leaves the as-server field zero whatever its role: the roles show in the
        // commands (a HELLO sent to a client is refused as unexpected).
        Ok(())
    }

    fn start(&mut self, local: &Metadata, out: &mut Vec<Bytes>) {
        self.local = local.clone();
        out.push(self.hello());
        self.state = ClientState::ExpectWelcome;
    }

    fn receive(
        &mut self,
        body: Bytes,
        out: &mut Vec<Bytes>,
    ) -> Result<MechanismStatus, ProtocolError> {
        match self.state {
            ClientState::Start | ClientState::ExpectWelcome => {
                out.push(self.welcome(&body)?);
                self.state = ClientState::ExpectReady;
                Ok(MechanismStatus::InProgress)
            }
            ClientState::ExpectReady => {
                let metadata = self.ready(&body)?;
                self.state = ClientState::Done;
                Ok(MechanismStatus::Complete(metadata))
            }
            ClientState::Done => Err(ProtocolError::MalformedCommandBody { command: "READY" }),
        }
    }

    fn take_encryption(&mut self) -> Option<Encryption> {
        self.encryption.take()
    }
}

/// The server side of CURVE: holds its long-term secret key; clients must know its public key.
///
/// With an [`Authenticator`](super::Authenticator), each client's long-term public key is put to
/// it (ZAP's place in libzmq) after the client has proven it holds that key; with none, every
/// client that knows the server's key is let in, as libzmq's CURVE server does without a ZAP
/// handler (the "Stonehouse" pattern: encryption without client authentication). See
/// [`CurveClient`] for a handshake.
pub struct CurveServer {
    secret: CurveSecretKey,
    public: CurvePublicKey,
    auth: AuthContext,
    short_secret: Secret,
    short_public: [u8; KEY],
    cookie_key: Option<Zeroizing<[u8; KEY]>>,
    client_short: Option<[u8; KEY]>,
    client_key: Option<CurvePublicKey>,
    hello_nonce: u64,
    next_nonce: u64,
    local: Metadata,
    encryption: Option<Encryption>,
    /// A client whose INITIATE checked out, waiting for the decision about it.
    verified: Option<Verified>,
    done: bool,
}

/// What the server keeps of a checked INITIATE until the client is let in or refused.
struct Verified {
    metadata: Metadata,
    nonce: u64,
    session: TrafficKey,
}

impl std::fmt::Debug for CurveServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveServer")
            .field("public", &self.public)
            .field("client_key", &self.client_key)
            .finish_non_exhaustive()
    }
}

impl CurveServer {
    /// A server for one connection, with the long-term secret key `secret`, asking `auth`'s
    /// authenticator (if any) about each client.
    pub fn new(secret: CurveSecretKey, auth: AuthContext) -> Self {
        let short_secret = random_secret();
        Self {
            public: secret.public_key(),
            secret,
            auth,
            short_public: public_of(&short_secret),
            short_secret,
            cookie_key: None,
            client_short: None,
            client_key: None,
            hello_nonce: 0,
            next_nonce: 1,
            local: Metadata::default(),
            encryption: None,
            verified: None,
            done: false,
        }
    }

    /// The client's long-term public key, once its INITIATE has been checked.
    pub fn client_key(&self) -> Option<CurvePublicKey> {
        self.client_key
    }

    fn hello(&mut self, body: &[u8]) -> Result<Bytes, ProtocolError> {
        check_command(body, HELLO)?;
        if body.len() != HELLO_LEN || body[6..8] != [1, 0] {
            return Err(ProtocolError::MalformedCommandBody { command: "HELLO" });
        }
        let client_short = key_of(&body[80..112]);
        let nonce = read_u64(&body[112..120]);
        // A C' of low order would make a box anyone can open without knowing S.
        let cipher = TrafficKey::agree(&client_short, self.secret.as_bytes(), "HELLO")?;
        // A client that cannot make this box does not know our public key.
        open(
            &cipher,
            &short_nonce(b"CurveZMQHELLO---", nonce),
            &body[120..],
            "HELLO",
        )?;
        self.hello_nonce = nonce;

        // cookie = Box[C' + s'](K), K made for this connection alone.
        let cookie_key = Zeroizing::new(random_bytes::<KEY>());
        let cookie_random = random16();
        let mut cookie_text = Zeroizing::new([0u8; 2 * KEY]);
        cookie_text[..KEY].copy_from_slice(&client_short);
        cookie_text[KEY..].copy_from_slice(&*self.short_secret);
        let mut welcome_text = BytesMut::with_capacity(KEY + COOKIE_LEN);
        welcome_text.put_slice(&self.short_public);
        welcome_text.put_slice(&cookie_random);
        let cookie_cipher = TrafficKey::secretbox(&cookie_key);
        seal_into(
            &cookie_cipher,
            &long_nonce(b"COOKIE--", &cookie_random),
            &cookie_text[..],
            &mut welcome_text,
        );

        let welcome_random = random16();
        let mut welcome = BytesMut::with_capacity(WELCOME_LEN);
        welcome.put_slice(WELCOME);
        welcome.put_slice(&welcome_random);
        seal_into(
            &cipher,
            &long_nonce(b"WELCOME-", &welcome_random),
            &welcome_text,
            &mut welcome,
        );
        self.cookie_key = Some(cookie_key);
        self.client_short = Some(client_short);
        Ok(welcome.freeze())
    }

    fn initiate(
        &mut self,
        body: &[u8],
        out: &mut Vec<Bytes>,
    ) -> Result<MechanismStatus, ProtocolError> {
        check_command(body, INITIATE)?;
        if body.len() < INITIATE_HEAD + INITIATE_BOX_MIN {
            return Err(ProtocolError::MalformedCommandBody {
                command: "INITIATE",
            });
        }
        // One INITIATE per cookie: the key goes whatever the outcome.
        let (Some(cookie_key), Some(client_short)) = (self.cookie_key.take(), self.client_short)
        else {
            return Err(ProtocolError::MalformedCommandBody {
                command: "INITIATE",
            });
        };
        let cookie = &body[9..9 + COOKIE_LEN];
        let cookie_cipher = TrafficKey::secretbox(&cookie_key);
        let cookie_text = open(
            &cookie_cipher,
            &long_nonce(b"COOKIE--", &cookie[..16]),
            &cookie[16..],
            "INITIATE cookie",
        )?;
        if cookie_text[..KEY] != client_short[..] || cookie_text[KEY..] != self.short_secret[..] {
            return Err(ProtocolError::Cryptographic {
                what: "INITIATE cookie",
            });
        }
        let nonce = read_u64(&body[9 + COOKIE_LEN..INITIATE_HEAD]);
        if nonce <= self.hello_nonce {
            return Err(ProtocolError::InvalidNonce {
                nonce,
                last: self.hello_nonce,
            });
        }
        let session = TrafficKey::agree(&client_short, &self.short_secret, "INITIATE")?;
        let text = open(
            &session,
            &short_nonce(b"CurveZMQINITIATE", nonce),
            &body[INITIATE_HEAD..],
            "INITIATE",
        )?;
        let mut client_key = [0u8; KEY];
        client_key.copy_from_slice(&text[..KEY]);
        let client_key = CurvePublicKey::from_bytes(client_key);
        // A client key of low order would vouch for anyone.
        let vouch_cipher =
            TrafficKey::agree(client_key.as_bytes(), &self.short_secret, "INITIATE vouch")?;
        let vouch = open(
            &vouch_cipher,
            &long_nonce(b"VOUCH---", &text[KEY..KEY + 16]),
            &text[KEY + 16..KEY + 16 + VOUCH_BOX],
            "INITIATE vouch",
        )?;
        // The vouch must name this connection's C' and this server: a vouch lifted from another
        // connection names another C'.
        if vouch[..KEY] != client_short[..] || vouch[KEY..] != self.public.as_bytes()[..] {
            return Err(ProtocolError::Cryptographic {
                what: "INITIATE vouch",
            });
        }
        self.client_key = Some(client_key);
        let metadata = Metadata::parse(&Bytes::copy_from_slice(&text[KEY + 16 + VOUCH_BOX..]))?;
        self.verified = Some(Verified {
            metadata,
            nonce,
            session,
        });
        if self.auth.asks_zap() {
            return Ok(MechanismStatus::Authenticate(AuthQuery {
                domain: self.auth.domain.clone(),
                address: self.auth.address.clone(),
                mechanism: MechanismName::CURVE,
                username: None,
                password: None,
                curve_key: Some(client_key),
            }));
        }
        let decision = self.decide(&client_key);
        self.ready(decision, out)
    }

    /// READY for a client the decision lets in, an ERROR with the status for one it refuses.
    fn ready(
        &mut self,
        decision: AuthDecision,
        out: &mut Vec<Bytes>,
    ) -> Result<MechanismStatus, ProtocolError> {
        let Some(Verified {
            metadata,
            nonce,
            session,
        }) = self.verified.take()
        else {
            return Err(ProtocolError::AuthenticationFailed { status: 500 });
        };
        let metadata = match decision {
            AuthDecision::Allow { user_id } => with_user_id(metadata, user_id)?,
            AuthDecision::Deny { status } => {
                // Sent in clear, as libzmq does: the client could not open a box with a key it
                // has been refused anyway.
                if let Some(reason) = refusal(status) {
                    let mut error = BytesMut::with_capacity(7 + reason.len());
                    error.put_slice(ERROR);
                    error.put_u8(reason.len() as u8);
                    error.put_slice(&reason);
                    out.push(error.freeze());
                }
                return Err(ProtocolError::AuthenticationFailed { status });
            }
        };

        let ready_nonce = self.next_nonce;
        self.next_nonce += 1;
        let mut metadata_text = BytesMut::with_capacity(self.local.encoded_len());
        self.local.encode(&mut metadata_text);
        let mut ready = BytesMut::with_capacity(READY_MIN + metadata_text.len());
        ready.put_slice(READY);
        ready.put_u64(ready_nonce);
        seal_into(
            &session,
            &short_nonce(b"CurveZMQREADY---", ready_nonce),
            &metadata_text,
            &mut ready,
        );
        out.push(ready.freeze());
        self.encryption = Some(encryption(
            session,
            (SERVER_MESSAGE, self.next_nonce),
            (CLIENT_MESSAGE, nonce),
        ));
        Ok(MechanismStatus::Complete(metadata))
    }

    fn decide(&self, client_key: &CurvePublicKey) -> AuthDecision {
        let Some(authenticator) = &self.auth.authenticator else {
            return AuthDecision::Allow {
                user_id: Bytes::new(),
            };
        };
        let request =
            AuthRequest::curve(&self.auth.domain, self.auth.address.as_deref(), client_key);
        match authenticator.0.authenticate(&request) {
            AuthDecision::Allow { user_id } => AuthDecision::Allow { user_id },
            AuthDecision::Deny { status } if (300..600).contains(&status) => {
                AuthDecision::Deny { status }
            }
            AuthDecision::Deny { .. } => AuthDecision::Deny { status: 500 },
        }
    }
}

impl Mechanism for CurveServer {
    fn name(&self) -> MechanismName {
        MechanismName::CURVE
    }

    fn as_server(&self) -> bool {
        true
    }

    fn check_peer_greeting(&self, _peer: &Greeting) -> Result<(), ProtocolError> {
        // libzmq leaves the as-server field zero whatever its role: the roles show in the
        // commands (a HELLO sent to a client is refused as unexpected).
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
        if self.done {
            return Err(ProtocolError::MalformedCommandBody {
                command: "INITIATE",
            });
        }
        if self.client_short.is_none() {
            out.push(self.hello(&body)?);
            return Ok(MechanismStatus::InProgress);
        }
        self.done = true;
        self.initiate(&body, out)
    }

    fn resume(
        &mut self,
        decision: AuthDecision,
        out: &mut Vec<Bytes>,
    ) -> Result<MechanismStatus, ProtocolError> {
        self.ready(super::plain::checked(decision), out)
    }

    fn take_encryption(&mut self) -> Option<Encryption> {
        self.encryption.take()
    }
}

#[cfg(test)]
mod tests;

/// Two ends of an established CURVE connection with fixed keys, for the fuzz targets and tests
/// of the traffic codec: (the client's, the server's).
#[cfg(feature = "fuzzing")]
pub(crate) fn fixed_pair() -> (Encryption, Encryption) {
    let (client, server) = ([7u8; KEY], [9u8; KEY]);
    let agree = |peer: &[u8; KEY], ours: &[u8; KEY]| {
        TrafficKey::agree(&public_of(peer), ours, "fixed")
            .unwrap_or_else(|_| TrafficKey::secretbox(ours))
    };
    (
        encryption(
            agree(&server, &client),
            (CLIENT_MESSAGE, 3),
            (SERVER_MESSAGE, 1),
        ),
        encryption(
            agree(&client, &server),
            (SERVER_MESSAGE, 2),
            (CLIENT_MESSAGE, 2),
        ),
    )
}
