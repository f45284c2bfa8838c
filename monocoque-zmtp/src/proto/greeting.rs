//! The 64-byte ZMTP greeting and version detection.
//!
//! ```text
//! greeting  = signature version mechanism as-server filler
//! signature = %xFF padding %x7F        ; padding is 8 octets, not significant
//! version   = %x03 %x01
//! mechanism = 20mechanism-char          ; NUL padded
//! as-server = %x00 | %x01
//! filler    = 31%x00
//! ```

use std::fmt;

use super::error::ProtocolError;

/// Length of a ZMTP 3.x greeting.
pub const GREETING_LEN: usize = 64;

const SIGNATURE_START: u8 = 0xFF;
const SIGNATURE_END: u8 = 0x7F;
const MAJOR_OFFSET: usize = 10;
const MINOR_OFFSET: usize = 11;
const MECHANISM_OFFSET: usize = 12;
const MECHANISM_LEN: usize = 20;
const AS_SERVER_OFFSET: usize = 32;

/// A ZMTP protocol version from a greeting.
///
/// ```
/// use monocoque::proto::Version;
/// assert!(Version::V3_0 < Version::V3_1);
/// assert!(!Version::V3_0.has_subscribe_commands());
/// assert!(Version { major: 3, minor: 7 }.has_subscribe_commands());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
}

impl Version {
    /// ZMTP 3.0 (RFC 23).
    pub const V3_0: Self = Self { major: 3, minor: 0 };
    /// ZMTP 3.1 (RFC 37), what we speak and what libzmq 4.3 speaks.
    pub const V3_1: Self = Self { major: 3, minor: 1 };

    /// Whether the peer understands the SUBSCRIBE/CANCEL commands (3.1 and later); a 3.0 peer
    /// expects subscriptions as messages starting with `0x01`/`0x00`.
    pub fn has_subscribe_commands(self) -> bool {
        self >= Self::V3_1
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A security mechanism name: up to 20 characters of `A-Z 0-9 - _ . +`, NUL padded on the wire.
///
/// ```
/// use monocoque::proto::MechanismName;
/// let plain = MechanismName::new("PLAIN").unwrap();
/// assert_eq!(plain.as_str(), "PLAIN");
/// assert_ne!(plain, MechanismName::NULL);
/// assert!(MechanismName::new("lower").is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MechanismName([u8; MECHANISM_LEN]);

impl MechanismName {
    /// The NULL mechanism (no security).
    pub const NULL: Self = Self::padded(b"NULL");
    /// The PLAIN mechanism (RFC 24).
    pub const PLAIN: Self = Self::padded(b"PLAIN");
    /// The CURVE mechanism (RFC 25).
    pub const CURVE: Self = Self::padded(b"CURVE");

    const fn padded(name: &[u8]) -> Self {
        let mut out = [0u8; MECHANISM_LEN];
        let mut i = 0;
        while i < name.len() {
            out[i] = name[i];
            i += 1;
        }
        Self(out)
    }

    /// A name from text; `None` if it is empty, longer than 20 bytes or uses other characters.
    pub fn new(name: &str) -> Option<Self> {
        let bytes = name.as_bytes();
        if bytes.is_empty()
            || bytes.len() > MECHANISM_LEN
            || !bytes.iter().all(|&b| is_mechanism_char(b))
        {
            return None;
        }
        Some(Self::padded(bytes))
    }

    /// Parses the 20-byte wire field: name characters followed only by NULs.
    pub fn from_wire(field: &[u8; MECHANISM_LEN]) -> Option<Self> {
        let len = field.iter().position(|&b| b == 0).unwrap_or(MECHANISM_LEN);
        let (name, padding) = field.split_at(len);
        if name.is_empty()
            || !name.iter().all(|&b| is_mechanism_char(b))
            || padding.iter().any(|&b| b != 0)
        {
            return None;
        }
        Some(Self(*field))
    }

    /// The 20 bytes as sent.
    pub fn as_bytes(&self) -> &[u8; MECHANISM_LEN] {
        &self.0
    }

    /// The name without padding.
    pub fn as_str(&self) -> &str {
        let len = self.0.iter().position(|&b| b == 0).unwrap_or(MECHANISM_LEN);
        // Construction only admits ASCII.
        std::str::from_utf8(&self.0[..len]).unwrap_or("?")
    }
}

impl fmt::Debug for MechanismName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MechanismName({})", self.as_str())
    }
}

impl fmt::Display for MechanismName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed ZMTP 3.x greeting.
///
/// ```
/// use monocoque::proto::{Greeting, MechanismName, Version};
/// let ours = Greeting::new(MechanismName::NULL, false);
/// let bytes = ours.encode();
/// assert_eq!(&bytes[..2], &[0xFF, 0x00]);
/// assert_eq!(Greeting::decode(&bytes).unwrap(), Some(ours));
/// // Half a greeting is not an error, just not enough yet.
/// assert_eq!(Greeting::decode(&bytes[..30]).unwrap(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Greeting {
    /// The peer's protocol version.
    pub version: Version,
    /// The security mechanism.
    pub mechanism: MechanismName,
    /// Whether the sender acts as the server of the security handshake.
    pub as_server: bool,
}

impl Greeting {
    /// Our greeting: ZMTP 3.1 with the given mechanism and role.
    pub fn new(mechanism: MechanismName, as_server: bool) -> Self {
        Self {
            version: Version::V3_1,
            mechanism,
            as_server,
        }
    }

    /// The 64 bytes to send. Padding is zero, as RFC 37 asks of peers that send the whole greeting
    /// at once.
    pub fn encode(&self) -> [u8; GREETING_LEN] {
        let mut out = [0u8; GREETING_LEN];
        out[0] = SIGNATURE_START;
        out[9] = SIGNATURE_END;
        out[MAJOR_OFFSET] = self.version.major;
        out[MINOR_OFFSET] = self.version.minor;
        out[MECHANISM_OFFSET..MECHANISM_OFFSET + MECHANISM_LEN]
            .copy_from_slice(self.mechanism.as_bytes());
        out[AS_SERVER_OFFSET] = u8::from(self.as_server);
        out
    }

    /// Decodes a greeting from the bytes received so far.
    ///
    /// Returns `Ok(None)` while more bytes are needed. Old protocol versions are recognised from
    /// as few bytes as possible (1.0 from the first two, 2.0 from the first eleven), because such a
    /// peer never sends a full 64-byte greeting and would otherwise stall us until a timeout.
    pub fn decode(input: &[u8]) -> Result<Option<Self>, ProtocolError> {
        let Some(&first) = input.first() else {
            return Ok(None);
        };
        if first != SIGNATURE_START {
            // A ZMTP 1.0 peer opens with a short identity frame: a length that counts the flags
            // octet (so at least 1) and a flags octet with only MORE possibly set.
            return match input.get(1) {
                None => Ok(None),
                Some(&flags) if first >= 1 && flags <= 1 => {
                    Err(ProtocolError::UnsupportedVersion { major: 1, minor: 0 })
                }
                Some(_) => Err(ProtocolError::BadSignature),
            };
        }
        let Some(&sig_end) = input.get(9) else {
            return Ok(None);
        };
        if sig_end & 1 == 0 {
            // RFC 37: a clear low bit in the 10th octet is a ZMTP 1.0 long identity length.
            return Err(ProtocolError::UnsupportedVersion { major: 1, minor: 0 });
        }
        if sig_end != SIGNATURE_END {
            return Err(ProtocolError::BadSignature);
        }
        let Some(&major) = input.get(MAJOR_OFFSET) else {
            return Ok(None);
        };
        if major < 3 {
            // > If the peer version number is 1 or 2, the peer is using ZMTP 2.0
            let major = if major == 0 { 0 } else { 2 };
            return Err(ProtocolError::UnsupportedVersion { major, minor: 0 });
        }
        if input.len() < GREETING_LEN {
            return Ok(None);
        }
        let minor = input[MINOR_OFFSET];
        let mut field = [0u8; MECHANISM_LEN];
        field.copy_from_slice(&input[MECHANISM_OFFSET..MECHANISM_OFFSET + MECHANISM_LEN]);
        let mechanism = MechanismName::from_wire(&field).ok_or(ProtocolError::InvalidMechanism)?;
        // The filler is not checked: RFC 37 asks peers to accept future versions, which may use it.
        Ok(Some(Self {
            version: Version { major, minor },
            mechanism,
            as_server: input[AS_SERVER_OFFSET] != 0,
        }))
    }

    /// The version both sides will speak: ours (3.1) unless the peer is older.
    pub fn negotiated_version(&self) -> Version {
        self.version.min(Version::V3_1)
    }
}

fn is_mechanism_char(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.' | b'+')
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIBZMQ_GREETING: &[u8] = include_bytes!("../../testdata/greeting_null.bin");

    #[test]
    fn decodes_libzmq_greeting() {
        let g = Greeting::decode(LIBZMQ_GREETING).unwrap().unwrap();
        assert_eq!(g.version, Version::V3_1);
        assert_eq!(g.mechanism, MechanismName::NULL);
        assert!(!g.as_server);
    }

    #[test]
    fn libzmq_greeting_matches_ours_but_for_padding() {
        // libzmq writes its identity length + 1 into the padding for 1.0 detection.
        let ours = Greeting::new(MechanismName::NULL, false).encode();
        assert_eq!(LIBZMQ_GREETING.len(), GREETING_LEN);
        assert_eq!(LIBZMQ_GREETING[0], ours[0]);
        assert_eq!(LIBZMQ_GREETING[9..], ours[9..]);
    }

    #[test]
    fn every_prefix_of_a_good_greeting_needs_more() {
        let bytes = Greeting::new(MechanismName::CURVE, true).encode();
        for cut in 0..GREETING_LEN {
            assert_eq!(Greeting::decode(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn higher_versions_are_accepted_and_spoken_as_3_1() {
        let mut bytes = Greeting::new(MechanismName::NULL, false).encode();
        bytes[MAJOR_OFFSET] = 4;
        bytes[MINOR_OFFSET] = 2;
        let g = Greeting::decode(&bytes).unwrap().unwrap();
        assert_eq!(g.version, Version { major: 4, minor: 2 });
        assert_eq!(g.negotiated_version(), Version::V3_1);
        bytes[MAJOR_OFFSET] = 3;
        bytes[MINOR_OFFSET] = 0;
        assert_eq!(
            Greeting::decode(&bytes)
                .unwrap()
                .unwrap()
                .negotiated_version(),
            Version::V3_0
        );
    }

    #[test]
    fn zmtp_1_0_is_refused_from_two_bytes() {
        // A 1.0 peer's empty identity frame: length 1 (the flags octet), flags 0.
        assert_eq!(
            Greeting::decode(&[0x01, 0x00]),
            Err(ProtocolError::UnsupportedVersion { major: 1, minor: 0 })
        );
        let mut long = [0u8; 10];
        long[0] = 0xFF;
        long[9] = 0x00;
        assert_eq!(
            Greeting::decode(&long),
            Err(ProtocolError::UnsupportedVersion { major: 1, minor: 0 })
        );
    }

    #[test]
    fn zmtp_2_0_is_refused_from_eleven_bytes() {
        let mut bytes = [0u8; 11];
        bytes[0] = 0xFF;
        bytes[8] = 0x01;
        bytes[9] = 0x7F;
        bytes[10] = 0x01;
        assert_eq!(
            Greeting::decode(&bytes),
            Err(ProtocolError::UnsupportedVersion { major: 2, minor: 0 })
        );
    }

    #[test]
    fn garbage_is_a_bad_signature() {
        assert_eq!(
            Greeting::decode(b"GET / HTTP/1.1\r\n"),
            Err(ProtocolError::BadSignature)
        );
        let mut bytes = Greeting::new(MechanismName::NULL, false).encode();
        bytes[9] = 0x41;
        assert_eq!(Greeting::decode(&bytes), Err(ProtocolError::BadSignature));
    }

    #[test]
    fn malformed_mechanism_names_are_refused() {
        for bad in [&b"null"[..], b"", b"NU LL", b"NULL\0X"] {
            let mut bytes = Greeting::new(MechanismName::NULL, false).encode();
            bytes[MECHANISM_OFFSET..MECHANISM_OFFSET + MECHANISM_LEN].fill(0);
            bytes[MECHANISM_OFFSET..MECHANISM_OFFSET + bad.len()].copy_from_slice(bad);
            assert_eq!(
                Greeting::decode(&bytes),
                Err(ProtocolError::InvalidMechanism),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn mechanism_names() {
        assert_eq!(MechanismName::new("NULL"), Some(MechanismName::NULL));
        assert_eq!(
            MechanismName::new("X-MY_MECH.1+"),
            MechanismName::new("X-MY_MECH.1+")
        );
        assert!(MechanismName::new("ABCDEFGHIJKLMNOPQRSTU").is_none());
        assert!(MechanismName::new("").is_none());
        assert_eq!(MechanismName::CURVE.to_string(), "CURVE");
    }
}
