//! Connection metadata: the property list carried by READY (and by PLAIN/CURVE handshakes).
//!
//! ```text
//! metadata = *property
//! property = name value
//! name     = short-size 1*255name-char      ; ALPHA | DIGIT | "-" | "_" | "." | "+"
//! value    = 4OCTET *OCTET                  ; size in network byte order, at most 2^31-1
//! ```

use std::collections::HashSet;

use bytes::{BufMut, Bytes, BytesMut};

use super::error::ProtocolError;
use super::socket_type::SocketType;

/// The property naming the sender's socket type.
pub const SOCKET_TYPE: &str = "Socket-Type";
/// The property carrying a REQ, DEALER or ROUTER peer's routing id.
pub const IDENTITY: &str = "Identity";
/// The property naming a resource on a shared endpoint (new in ZMTP 3.1; libzmq ignores it).
pub const RESOURCE: &str = "Resource";

const MAX_VALUE_LEN: u64 = i32::MAX as u64;

/// The most properties accepted in one property list. libzmq sends two (`Socket-Type`,
/// `Identity`) plus the application's `ZMQ_METADATA`; a list is parsed before the peer has
/// proven anything, so its length is capped rather than left to the command size alone.
pub const MAX_PROPERTIES: usize = 1024;

/// An ordered list of properties with case-insensitive names.
///
/// ```
/// use monocoque::proto::Metadata;
/// use monocoque::SocketType;
///
/// let mut ours = Metadata::for_socket(SocketType::Dealer, Some("worker-1".into()));
/// ours.insert("X-Region", "eu-west").unwrap();
/// let mut wire = bytes::BytesMut::new();
/// ours.encode(&mut wire);
///
/// let theirs = Metadata::parse(&wire.freeze()).unwrap();
/// assert_eq!(theirs.socket_type().unwrap(), SocketType::Dealer);
/// assert_eq!(theirs.get("identity").unwrap(), "worker-1");
/// assert_eq!(theirs.get("x-region").unwrap(), "eu-west");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    properties: Vec<(String, Bytes)>,
}

impl Metadata {
    /// An empty property list.
    pub fn new() -> Self {
        Self::default()
    }

    /// What libzmq puts in READY: `Socket-Type`, then `Identity` for REQ, DEALER and ROUTER
    /// (empty when no routing id is set).
    pub fn for_socket(socket_type: SocketType, identity: Option<Bytes>) -> Self {
        let mut properties = vec![(
            SOCKET_TYPE.to_owned(),
            Bytes::from_static(socket_type.as_str().as_bytes()),
        )];
        if socket_type.sends_identity() {
            properties.push((IDENTITY.to_owned(), identity.unwrap_or_default()));
        }
        Self { properties }
    }

    /// Parses a property list, sharing value bytes with `data`, in time linear in its length.
    /// At most [`MAX_PROPERTIES`] properties are accepted.
    pub fn parse(data: &Bytes) -> Result<Self, ProtocolError> {
        let mut properties: Vec<(String, Bytes)> = Vec::new();
        // Names seen so far, lowercased: duplicates are found in one pass.
        let mut seen: HashSet<Box<[u8]>> = HashSet::new();
        let mut pos = 0usize;
        while pos < data.len() {
            if properties.len() == MAX_PROPERTIES {
                return Err(ProtocolError::TooManyProperties {
                    max: MAX_PROPERTIES,
                });
            }
            let name_len = usize::from(data[pos]);
            pos += 1;
            let name = data
                .get(pos..pos + name_len)
                .ok_or(ProtocolError::MetadataTruncated { field: "name" })?;
            if !is_valid_name(name) {
                return Err(ProtocolError::InvalidPropertyName);
            }
            pos += name_len;
            let size = data
                .get(pos..pos + 4)
                .ok_or(ProtocolError::MetadataTruncated {
                    field: "value length",
                })?;
            let value_len = u64::from(u32::from_be_bytes([size[0], size[1], size[2], size[3]]));
            if value_len > MAX_VALUE_LEN {
                return Err(ProtocolError::PropertyValueTooLong { len: value_len });
            }
            pos += 4;
            let remaining = (data.len() - pos) as u64;
            if value_len > remaining {
                return Err(ProtocolError::MetadataTruncated { field: "value" });
            }
            let end = pos + value_len as usize;
            // Names are checked ASCII, so this conversion cannot fail.
            let name = String::from_utf8_lossy(name).into_owned();
            if !seen.insert(name.to_ascii_lowercase().into_bytes().into_boxed_slice()) {
                return Err(ProtocolError::DuplicateProperty { name });
            }
            properties.push((name, data.slice(pos..end)));
            pos = end;
        }
        Ok(Self { properties })
    }

    /// Adds or replaces a property. Fails on a name RFC 37 does not allow or a value over 2^31-1.
    pub fn insert(&mut self, name: &str, value: impl Into<Bytes>) -> Result<(), ProtocolError> {
        if !is_valid_name(name.as_bytes()) {
            return Err(ProtocolError::InvalidPropertyName);
        }
        let value = value.into();
        if value.len() as u64 > MAX_VALUE_LEN {
            return Err(ProtocolError::PropertyValueTooLong {
                len: value.len() as u64,
            });
        }
        match self
            .properties
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.properties.push((name.to_owned(), value)),
        }
        Ok(())
    }

    /// The value of a property, looked up without regard to case.
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.properties
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The announced socket type, checked.
    pub fn socket_type(&self) -> Result<SocketType, ProtocolError> {
        let raw = self
            .get(SOCKET_TYPE)
            .ok_or(ProtocolError::MissingSocketType)?;
        SocketType::from_wire(raw)
            .ok_or_else(|| ProtocolError::UnknownSocketType { name: raw.clone() })
    }

    /// The `Identity` property, if present.
    pub fn identity(&self) -> Option<&Bytes> {
        self.get(IDENTITY)
    }

    /// The `Resource` property, if present.
    pub fn resource(&self) -> Option<&Bytes> {
        self.get(RESOURCE)
    }

    /// The properties in the order they were sent or inserted.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Bytes)> {
        self.properties.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// The number of properties.
    pub fn len(&self) -> usize {
        self.properties.len()
    }

    /// Whether there are no properties.
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty()
    }

    /// The encoded length in bytes.
    pub fn encoded_len(&self) -> usize {
        self.properties
            .iter()
            .map(|(n, v)| 1 + n.len() + 4 + v.len())
            .sum()
    }

    /// Appends the wire form.
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(self.encoded_len());
        for (name, value) in &self.properties {
            // `insert` and `parse` admit only names of 1..=255 bytes and values up to 2^31-1.
            out.put_u8(name.len() as u8);
            out.put_slice(name.as_bytes());
            out.put_u32(value.len() as u32);
            out.put_slice(value);
        }
    }
}

fn is_valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(name: &[u8], value: &[u8]) -> Vec<u8> {
        let mut out = vec![name.len() as u8];
        out.extend_from_slice(name);
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn lengths_past_the_end_are_truncation_errors() {
        let whole = prop(b"Socket-Type", b"DEALER");
        let expected = |cut: usize| {
            if cut < 1 + 11 {
                "name"
            } else if cut < 1 + 11 + 4 {
                "value length"
            } else {
                "value"
            }
        };
        for cut in 1..whole.len() {
            let data = Bytes::copy_from_slice(&whole[..cut]);
            assert_eq!(
                Metadata::parse(&data),
                Err(ProtocolError::MetadataTruncated {
                    field: expected(cut)
                }),
                "cut at {cut}"
            );
        }
        assert!(Metadata::parse(&Bytes::from(whole)).is_ok());
    }

    #[test]
    fn a_value_length_of_four_gigabytes_is_refused_without_allocating() {
        let mut data = vec![1, b'A'];
        data.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            Metadata::parse(&Bytes::from(data)),
            Err(ProtocolError::PropertyValueTooLong {
                len: u64::from(u32::MAX)
            })
        );
    }

    #[test]
    fn bad_names_are_refused() {
        for name in [&b""[..], b"Has Space", b"Nul\0", b"\xff"] {
            let data = Bytes::from(prop(name, b"v"));
            assert_eq!(
                Metadata::parse(&data),
                Err(ProtocolError::InvalidPropertyName),
                "{name:?}"
            );
        }
        assert_eq!(
            Metadata::new().insert("", "v"),
            Err(ProtocolError::InvalidPropertyName)
        );
    }

    #[test]
    fn duplicates_are_refused_regardless_of_case() {
        let mut data = prop(b"Socket-Type", b"PUB");
        data.extend(prop(b"socket-type", b"SUB"));
        assert_eq!(
            Metadata::parse(&Bytes::from(data)),
            Err(ProtocolError::DuplicateProperty {
                name: "socket-type".into()
            })
        );
    }

    #[test]
    fn socket_type_checks() {
        let unknown = Metadata::parse(&Bytes::from(prop(b"Socket-Type", b"CLIENT"))).unwrap();
        assert_eq!(
            unknown.socket_type(),
            Err(ProtocolError::UnknownSocketType {
                name: "CLIENT".into()
            })
        );
        assert_eq!(
            Metadata::new().socket_type(),
            Err(ProtocolError::MissingSocketType)
        );
    }

    #[test]
    fn zero_length_values_and_empty_lists() {
        let meta = Metadata::parse(&Bytes::from(prop(b"Identity", b""))).unwrap();
        assert_eq!(meta.identity().unwrap(), "");
        assert!(Metadata::parse(&Bytes::new()).unwrap().is_empty());
    }

    #[test]
    fn a_list_of_tiny_properties_is_capped() {
        // What fits in a 64 KiB READY: about 8,000 one-letter names with empty values.
        let mut data = Vec::new();
        for i in 0..8000u32 {
            data.extend(prop(format!("p{i}").as_bytes(), b""));
        }
        assert_eq!(
            Metadata::parse(&Bytes::from(data)),
            Err(ProtocolError::TooManyProperties {
                max: MAX_PROPERTIES
            })
        );
        let mut data = Vec::new();
        for i in 0..MAX_PROPERTIES {
            data.extend(prop(format!("p{i}").as_bytes(), b"v"));
        }
        let parsed = Metadata::parse(&Bytes::from(data)).unwrap();
        assert_eq!(parsed.len(), MAX_PROPERTIES);
        assert_eq!(parsed.get("P1023").unwrap(), "v");
    }

    #[test]
    fn insert_replaces_case_insensitively() {
        let mut meta = Metadata::new();
        meta.insert("X-A", "1").unwrap();
        meta.insert("x-a", "2").unwrap();
        assert_eq!(meta.len(), 1);
        assert_eq!(meta.get("X-A").unwrap(), "2");
    }
}
