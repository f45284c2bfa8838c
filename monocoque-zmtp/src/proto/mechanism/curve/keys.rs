//! CURVE keys: 32-byte Curve25519 keys, written in text as 40 Z85 characters (as libzmq's
//! `zmq_curve_keypair` and `zmq_z85_encode` write them).

use std::fmt;
use std::str::FromStr;

use zeroize::Zeroizing;

use super::cipher::{public_of, random_secret};

/// The length of a CURVE key in bytes.
pub const CURVE_KEY_LEN: usize = 32;

/// The length of a CURVE key in Z85 text.
pub const CURVE_KEY_Z85_LEN: usize = 40;

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key is 32 bytes, or 40 characters of Z85.
    #[error("a CURVE key is 32 bytes or 40 Z85 characters, not {len}")]
    InvalidLength {
        /// The length given.
        len: usize,
    },
    /// The text is not Z85.
    #[error("not a Z85 key: {reason}")]
    InvalidZ85 {
        /// What is wrong with it.
        reason: String,
    },
}

/// Reads 32 raw bytes, or 40 Z85 characters (a 41st, a NUL as libzmq's buffers end, is allowed).
fn read_key(input: &[u8]) -> Result<Zeroizing<[u8; CURVE_KEY_LEN]>, KeyError> {
    let mut key = Zeroizing::new([0u8; CURVE_KEY_LEN]);
    match input.len() {
        CURVE_KEY_LEN => key.copy_from_slice(input),
        CURVE_KEY_Z85_LEN => decode_z85(input, &mut key)?,
        41 if input[40] == 0 => decode_z85(&input[..40], &mut key)?,
        len => return Err(KeyError::InvalidLength { len }),
    }
    Ok(key)
}

fn decode_z85(text: &[u8], key: &mut [u8; CURVE_KEY_LEN]) -> Result<(), KeyError> {
    let decoded = Zeroizing::new(z85::decode(text).map_err(|e| KeyError::InvalidZ85 {
        reason: e.to_string(),
    })?);
    if decoded.len() != CURVE_KEY_LEN {
        return Err(KeyError::InvalidLength { len: text.len() });
    }
    key.copy_from_slice(&decoded);
    Ok(())
}

/// A CURVE public key: a server's, which its clients must know, or a client's, which a server's
/// authenticator may check.
///
/// ```
/// use monocoque::curve::CurvePublicKey;
///
/// // The server key of libzmq's test suite, in Z85.
/// let key: CurvePublicKey = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7".parse().unwrap();
/// assert_eq!(key.to_z85(), "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
/// assert_eq!(CurvePublicKey::from_bytes(*key.as_bytes()), key);
/// assert!("too short".parse::<CurvePublicKey>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CurvePublicKey([u8; CURVE_KEY_LEN]);

impl CurvePublicKey {
    /// The key of these 32 bytes.
    pub fn from_bytes(bytes: [u8; CURVE_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Reads 32 raw bytes or 40 Z85 characters, as libzmq's `ZMQ_CURVE_PUBLICKEY` and
    /// `ZMQ_CURVE_SERVERKEY` accept them.
    pub fn from_slice(input: &[u8]) -> Result<Self, KeyError> {
        Ok(Self(*read_key(input)?))
    }

    /// Reads 40 Z85 characters.
    pub fn from_z85(text: &str) -> Result<Self, KeyError> {
        if text.len() != CURVE_KEY_Z85_LEN {
            return Err(KeyError::InvalidLength { len: text.len() });
        }
        Self::from_slice(text.as_bytes())
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; CURVE_KEY_LEN] {
        &self.0
    }

    /// The key in Z85 (40 characters).
    pub fn to_z85(&self) -> String {
        z85::encode(self.0)
    }
}

impl fmt::Debug for CurvePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CurvePublicKey({})", self.to_z85())
    }
}

impl fmt::Display for CurvePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_z85())
    }
}

impl FromStr for CurvePublicKey {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, KeyError> {
        Self::from_z85(text)
    }
}

/// A CURVE secret key. Its bytes are zeroed when it is dropped, and neither `Debug` nor
/// `Display` prints them.
///
/// ```
/// use monocoque::curve::{CurvePublicKey, CurveSecretKey};
///
/// // libzmq's test server keypair: the public key follows from the secret one.
/// let secret: CurveSecretKey = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6".parse().unwrap();
/// let public: CurvePublicKey = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7".parse().unwrap();
/// assert_eq!(secret.public_key(), public);
/// assert_eq!(format!("{secret:?}"), "CurveSecretKey(<hidden>)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CurveSecretKey(Zeroizing<[u8; CURVE_KEY_LEN]>);

impl CurveSecretKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Self {
        Self(random_secret())
    }

    /// The key of these 32 bytes.
    pub fn from_bytes(bytes: [u8; CURVE_KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Reads 32 raw bytes or 40 Z85 characters, as libzmq's `ZMQ_CURVE_SECRETKEY` accepts them.
    pub fn from_slice(input: &[u8]) -> Result<Self, KeyError> {
        Ok(Self(read_key(input)?))
    }

    /// Reads 40 Z85 characters.
    pub fn from_z85(text: &str) -> Result<Self, KeyError> {
        if text.len() != CURVE_KEY_Z85_LEN {
            return Err(KeyError::InvalidLength { len: text.len() });
        }
        Self::from_slice(text.as_bytes())
    }

    /// The public key that belongs to this secret key (libzmq's `zmq_curve_public`).
    #[doc(alias = "zmq_curve_public")]
    pub fn public_key(&self) -> CurvePublicKey {
        CurvePublicKey(public_of(&self.0))
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; CURVE_KEY_LEN] {
        &self.0
    }

    /// The key in Z85 (40 characters), in a string zeroed on drop.
    pub fn to_z85(&self) -> Zeroizing<String> {
        Zeroizing::new(z85::encode(*self.0))
    }
}

impl fmt::Debug for CurveSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CurveSecretKey(<hidden>)")
    }
}

impl FromStr for CurveSecretKey {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, KeyError> {
        Self::from_z85(text)
    }
}

/// A long-term CURVE keypair (libzmq's `zmq_curve_keypair`).
///
/// ```
/// use monocoque::curve::CurveKeyPair;
///
/// let server = CurveKeyPair::generate();
/// assert_eq!(server.secret.public_key(), server.public);
/// // Distribute the public key as text; keep the secret one secret.
/// println!("server key: {}", server.public);
/// assert_eq!(server.public.to_z85().len(), 40);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurveKeyPair {
    /// The public key.
    pub public: CurvePublicKey,
    /// The secret key.
    pub secret: CurveSecretKey,
}

impl CurveKeyPair {
    /// A fresh random keypair.
    #[doc(alias = "zmq_curve_keypair")]
    pub fn generate() -> Self {
        Self::from_secret(CurveSecretKey::generate())
    }

    /// The keypair of `secret`.
    pub fn from_secret(secret: CurveSecretKey) -> Self {
        Self {
            public: secret.public_key(),
            secret,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z85_matches_the_spec_example_and_libzmq_keys_round_trip() {
        // RFC 32's test vector: 8 bytes to 10 characters.
        let bytes = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(z85::encode(bytes), "HelloWorld");
        // libzmq's test client keypair.
        let secret = CurveSecretKey::from_z85("D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs").unwrap();
        assert_eq!(
            secret.public_key().to_z85(),
            "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
        );
        assert_eq!(
            &*secret.to_z85(),
            "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs"
        );
    }

    #[test]
    fn keys_are_read_from_bytes_z85_or_z85_with_a_nul_and_nothing_else() {
        let pair = CurveKeyPair::generate();
        let z85 = pair.public.to_z85();
        assert_eq!(
            CurvePublicKey::from_slice(z85.as_bytes()).unwrap(),
            pair.public
        );
        let mut with_nul = z85.into_bytes();
        with_nul.push(0);
        assert_eq!(CurvePublicKey::from_slice(&with_nul).unwrap(), pair.public);
        assert_eq!(
            CurvePublicKey::from_slice(pair.public.as_bytes()).unwrap(),
            pair.public
        );
        assert_eq!(
            CurvePublicKey::from_slice(&[0; 31]),
            Err(KeyError::InvalidLength { len: 31 })
        );
        assert!(matches!(
            CurvePublicKey::from_z85("~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~"),
            Err(KeyError::InvalidZ85 { .. })
        ));
        assert_eq!(
            CurveSecretKey::from_z85("short").unwrap_err(),
            KeyError::InvalidLength { len: 5 }
        );
        assert_ne!(CurveKeyPair::generate(), pair);
    }
}
