//! The security options of [`SocketOptions`]: the mechanism (NULL, PLAIN or CURVE), its role
//! and credentials, and who decides which clients are let in.

use std::fmt;

use bytes::Bytes;

use super::options::{OptionError, OptionName, SocketOptions};
use crate::proto::curve::{CurveClient, CurveKeyPair, CurvePublicKey, CurveSecretKey, CurveServer};
use crate::proto::{
    AuthContext, Authenticator, Mechanism, MechanismName, Null, PLAIN_MAX_CREDENTIAL, PlainClient,
    PlainServer, SharedAuthenticator,
};

/// The security mechanism a socket's connections use, and its role and credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) enum Security {
    #[default]
    Null,
    PlainClient {
        username: Bytes,
        password: Bytes,
    },
    PlainServer,
    CurveServer,
    CurveClient {
        server: CurvePublicKey,
    },
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("Null"),
            // Options are printed in logs; a password has no business there.
            Self::PlainClient { username, .. } => f
                .debug_struct("PlainClient")
                .field("username", &String::from_utf8_lossy(username))
                .field("password", &"<hidden>")
                .finish(),
            Self::PlainServer => f.write_str("PlainServer"),
            Self::CurveServer => f.write_str("CurveServer"),
            Self::CurveClient { server } => f
                .debug_struct("CurveClient")
                .field("server", server)
                .finish(),
        }
    }
}

/// A socket's long-term CURVE keys (the secret one's `Debug` hides it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CurveKeys {
    pub(crate) public: Option<CurvePublicKey>,
    pub(crate) secret: Option<CurveSecretKey>,
}

impl SocketOptions {
    /// `ZMQ_PLAIN_SERVER`: `true` makes this socket the server of the PLAIN mechanism (RFC 24)
    /// for all its connections, bound or connected; `false` goes back to NULL. The client's
    /// credentials reach the authenticator, or else the ZAP handler bound at
    /// [`ZAP_ENDPOINT`](crate::driver::ZAP_ENDPOINT); with neither, every client is refused
    /// (status 500), as libzmq's PLAIN server refuses without a ZAP handler. PLAIN sends the password in
    /// clear: use it on trusted networks, or use CURVE.
    ///
    /// ```
    /// use monocoque::SocketOptions;
    /// use monocoque::proto::MechanismName;
    ///
    /// let server = SocketOptions::new().plain_server(true);
    /// assert_eq!(server.mechanism_value(), MechanismName::PLAIN);
    /// assert!(server.plain_server_value());
    /// assert_eq!(server.plain_server(false).mechanism_value(), MechanismName::NULL);
    /// ```
    #[doc(alias = "ZMQ_PLAIN_SERVER")]
    pub fn plain_server(mut self, on: bool) -> Self {
        self.security = if on {
            Security::PlainServer
        } else {
            Security::Null
        };
        self.mark(OptionName::PlainServer)
    }

    /// `ZMQ_PLAIN_USERNAME`: makes this socket a PLAIN client presenting this user name (at
    /// most 255 bytes) with the password of [`plain_password`](Self::plain_password). An empty
    /// name goes back to NULL, as in libzmq.
    ///
    /// ```
    /// use monocoque::{OptionError, OptionName, SocketOptions, SocketType};
    /// use monocoque::proto::MechanismName;
    ///
    /// let client = SocketOptions::new().plain_username("admin").plain_password("hunter2");
    /// assert_eq!(client.mechanism_value(), MechanismName::PLAIN);
    /// assert_eq!(client.plain_username_value().unwrap(), "admin");
    /// assert!(!format!("{client:?}").contains("hunter2"));
    ///
    /// let too_long = SocketOptions::new().plain_username(vec![b'x'; 256]);
    /// assert!(matches!(
    ///     too_long.check(SocketType::Req),
    ///     Err(OptionError::InvalidValue { option: OptionName::PlainUsername, .. })
    /// ));
    /// ```
    #[doc(alias = "ZMQ_PLAIN_USERNAME")]
    pub fn plain_username(mut self, username: impl Into<Bytes>) -> Self {
        let username = username.into();
        self.security = match (username.is_empty(), self.security) {
            (true, _) => Security::Null,
            (false, Security::PlainClient { password, .. }) => {
                Security::PlainClient { username, password }
            }
            (false, _) => Security::PlainClient {
                username,
                password: Bytes::new(),
            },
        };
        self.mark(OptionName::PlainUsername)
    }

    /// `ZMQ_PLAIN_PASSWORD`: makes this socket a PLAIN client presenting this password (at most
    /// 255 bytes) with the user name of [`plain_username`](Self::plain_username).
    #[doc(alias = "ZMQ_PLAIN_PASSWORD")]
    pub fn plain_password(mut self, password: impl Into<Bytes>) -> Self {
        let password = password.into();
        self.security = match self.security {
            Security::PlainClient { username, .. } => Security::PlainClient { username, password },
            _ => Security::PlainClient {
                username: Bytes::new(),
                password,
            },
        };
        self.mark(OptionName::PlainPassword)
    }

    /// `ZMQ_CURVE_SERVER`: `true` makes this socket the server of the CURVE mechanism (RFC 26)
    /// for all its connections, bound or connected, with the secret key of
    /// [`curve_secret_key`](Self::curve_secret_key) (required); `false` goes back to NULL.
    /// Clients must know the server's public key. Each client's public key reaches the
    /// authenticator; with none, every client that knows the server's key is let in, as
    /// libzmq's CURVE server does without a ZAP handler.
    ///
    /// ```
    /// use monocoque::curve::CurveKeyPair;
    /// use monocoque::proto::MechanismName;
    /// use monocoque::{SocketOptions, SocketType};
    ///
    /// let keys = CurveKeyPair::generate();
    /// let server = SocketOptions::new().curve_server(true).curve_keypair(&keys);
    /// assert_eq!(server.mechanism_value(), MechanismName::CURVE);
    /// assert!(server.curve_server_value());
    /// assert_eq!(server.curve_public_key_value(), Some(keys.public));
    /// // Without a secret key a server cannot work: refused when the socket is made.
    /// assert!(SocketOptions::new().curve_server(true).check(SocketType::Rep).is_err());
    /// ```
    #[doc(alias = "ZMQ_CURVE_SERVER")]
    pub fn curve_server(mut self, on: bool) -> Self {
        if on {
            self.security = Security::CurveServer;
        } else if self.security == Security::CurveServer {
            self.security = Security::Null;
        }
        self.mark(OptionName::CurveServer)
    }

    /// `ZMQ_CURVE_SECRETKEY`: this socket's long-term secret key, a server's or a client's.
    /// Its public key follows from it.
    #[doc(alias = "ZMQ_CURVE_SECRETKEY")]
    pub fn curve_secret_key(mut self, secret: CurveSecretKey) -> Self {
        self.curve.secret = Some(secret);
        self.mark(OptionName::CurveSecretKey)
    }

    /// `ZMQ_CURVE_PUBLICKEY`: this socket's long-term public key. Optional (it follows from the
    /// secret key); when given, it must be the secret key's.
    #[doc(alias = "ZMQ_CURVE_PUBLICKEY")]
    pub fn curve_public_key(mut self, public: CurvePublicKey) -> Self {
        self.curve.public = Some(public);
        self.mark(OptionName::CurvePublicKey)
    }

    /// Both of this socket's long-term keys at once.
    pub fn curve_keypair(self, keys: &CurveKeyPair) -> Self {
        self.curve_secret_key(keys.secret.clone())
            .curve_public_key(keys.public)
    }

    /// `ZMQ_CURVE_SERVERKEY`: makes this socket a CURVE client of the server whose public key
    /// this is, for all its connections. A client presents its own keypair
    /// ([`curve_keypair`](Self::curve_keypair)); one that sets none gets a fresh keypair per
    /// connection, which is enough for a server that does not check clients' keys.
    ///
    /// ```
    /// use monocoque::curve::{CurveKeyPair, CurvePublicKey};
    /// use monocoque::proto::MechanismName;
    /// use monocoque::SocketOptions;
    ///
    /// let server_key: CurvePublicKey = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7".parse().unwrap();
    /// let client = SocketOptions::new()
    ///     .curve_server_key(server_key)
    ///     .curve_keypair(&CurveKeyPair::generate());
    /// assert_eq!(client.mechanism_value(), MechanismName::CURVE);
    /// assert_eq!(client.curve_server_key_value(), Some(server_key));
    /// ```
    #[doc(alias = "ZMQ_CURVE_SERVERKEY")]
    pub fn curve_server_key(mut self, server: CurvePublicKey) -> Self {
        self.security = Security::CurveClient { server };
        self.mark(OptionName::CurveServerKey)
    }

    /// Whether this socket is a CURVE server.
    pub fn curve_server_value(&self) -> bool {
        self.security == Security::CurveServer
    }

    /// This socket's long-term CURVE public key, given or derived from its secret key.
    pub fn curve_public_key_value(&self) -> Option<CurvePublicKey> {
        self.curve
            .public
            .or_else(|| self.curve.secret.as_ref().map(CurveSecretKey::public_key))
    }

    /// The server key of a CURVE client.
    pub fn curve_server_key_value(&self) -> Option<CurvePublicKey> {
        match self.security {
            Security::CurveClient { server } => Some(server),
            _ => None,
        }
    }

    /// The security mechanism of this socket's connections (`ZMQ_MECHANISM`).
    #[doc(alias = "ZMQ_MECHANISM")]
    pub fn mechanism_value(&self) -> MechanismName {
        match self.security {
            Security::Null => MechanismName::NULL,
            Security::PlainClient { .. } | Security::PlainServer => MechanismName::PLAIN,
            Security::CurveServer | Security::CurveClient { .. } => MechanismName::CURVE,
        }
    }

    /// Whether this socket is a PLAIN server.
    pub fn plain_server_value(&self) -> bool {
        self.security == Security::PlainServer
    }

    /// The PLAIN user name this socket presents, if it is a PLAIN client.
    pub fn plain_username_value(&self) -> Option<&Bytes> {
        match &self.security {
            Security::PlainClient { username, .. } => Some(username),
            _ => None,
        }
    }

    /// The authenticator of this socket's PLAIN and CURVE server side: libzmq's ZAP handler,
    /// in-process. It is asked once per connecting client, with its credentials (or CURVE key)
    /// and address, and allows it (with a user id the application reads as the peer's `User-Id`
    /// property) or denies it with a ZAP status, which the client gets in an ERROR command and
    /// the server's monitor as `HandshakeFailedAuth`. A server without one asks the ZAP handler
    /// bound at [`ZAP_ENDPOINT`](crate::driver::ZAP_ENDPOINT), if any; with neither, a PLAIN
    /// server refuses every client (status 500) and a CURVE server lets every client in, as
    /// libzmq's do without a ZAP handler.
    ///
    /// ```
    /// use monocoque::SocketOptions;
    /// use monocoque::proto::{AuthDecision, AuthRequest};
    ///
    /// let options = SocketOptions::new()
    ///     .plain_server(true)
    ///     .zap_domain("accounts")
    ///     .authenticator(|request: &AuthRequest<'_>| {
    ///         if request.password == Some(b"secret") {
    ///             AuthDecision::Allow { user_id: "alice".into() }
    ///         } else {
    ///             AuthDecision::Deny { status: 400 }
    ///         }
    ///     });
    /// assert_eq!(options.zap_domain_value(), "accounts");
    /// ```
    pub fn authenticator(mut self, authenticator: impl Authenticator + 'static) -> Self {
        self.authenticator = Some(SharedAuthenticator(std::sync::Arc::new(authenticator)));
        self
    }

    /// `ZMQ_ZAP_DOMAIN`: the domain the authenticator is told, to tell servers apart.
    #[doc(alias = "ZMQ_ZAP_DOMAIN")]
    pub fn zap_domain(mut self, domain: impl Into<String>) -> Self {
        self.zap_domain = domain.into();
        self
    }

    /// The value of `zap_domain` (empty when unset).
    pub fn zap_domain_value(&self) -> &str {
        &self.zap_domain
    }

    /// A mechanism for one new connection to or from `address`.
    pub(crate) fn mechanism(&self, address: Option<&str>) -> Box<dyn Mechanism> {
        let auth = || AuthContext {
            authenticator: self.authenticator.clone(),
            domain: self.zap_domain.clone(),
            address: address.map(str::to_owned),
            deferred: Some(super::zap::handler_bound),
        };
        match &self.security {
            Security::Null => Box::new(Null::new()),
            Security::PlainServer => Box::new(PlainServer::new(auth())),
            Security::PlainClient { username, password } => {
                // `check` refuses credentials over 255 bytes before a socket exists; were one
                // to get here, PLAIN's `new` would refuse it and the client would send none.
                let client = PlainClient::new(username.clone(), password.clone())
                    .or_else(|| PlainClient::new("", ""));
                match client {
                    Some(client) => Box::new(client),
                    None => Box::new(Null::new()),
                }
            }
            Security::CurveServer => {
                // `check` refuses a server without its secret key; were one to get here, a
                // fresh key no client knows refuses every client.
                let secret = self
                    .curve
                    .secret
                    .clone()
                    .unwrap_or_else(CurveSecretKey::generate);
                Box::new(CurveServer::new(secret, auth()))
            }
            Security::CurveClient { server } => {
                let keys = match &self.curve.secret {
                    Some(secret) => CurveKeyPair::from_secret(secret.clone()),
                    None => CurveKeyPair::generate(),
                };
                Box::new(CurveClient::new(keys, *server))
            }
        }
    }

    /// Checks the security options as `check` does the others.
    pub(super) fn check_security(&self) -> Result<(), OptionError> {
        if let Security::PlainClient { username, password } = &self.security {
            for (option, value) in [
                (OptionName::PlainUsername, username),
                (OptionName::PlainPassword, password),
            ] {
                if value.len() > PLAIN_MAX_CREDENTIAL {
                    return Err(OptionError::InvalidValue {
                        option,
                        reason: "PLAIN credentials have at most 255 bytes",
                    });
                }
            }
        }
        if self.security == Security::CurveServer && self.curve.secret.is_none() {
            return Err(OptionError::InvalidValue {
                option: OptionName::CurveServer,
                reason: "a CURVE server needs its secret key (curve_secret_key or curve_keypair)",
            });
        }
        if let (Some(public), Some(secret)) = (&self.curve.public, &self.curve.secret) {
            if secret.public_key() != *public {
                return Err(OptionError::InvalidValue {
                    option: OptionName::CurvePublicKey,
                    reason: "the CURVE public key is not the secret key's",
                });
            }
        }
        Ok(())
    }
}
