//! Codecs: how a value becomes a frame and back.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Turns values into frames and frames back into values, for [`Typed`](super::Typed) and
/// [`TypedHandle`](super::TypedHandle).
///
/// [`Postcard`] is the default, [`Json`] the second one offered; implement the trait for a
/// format of your own. A decode must fail, not guess, when the bytes are not one whole value of
/// the type: that is how a message of the wrong type shows up as an error.
///
/// ```
/// use monocoque::typed::{Codec, DecodeError, EncodeError, Postcard};
/// use serde::{Serialize, de::DeserializeOwned};
///
/// /// Postcard behind a version byte, so that a format change can be detected.
/// struct Versioned;
///
/// impl Codec for Versioned {
///     const NAME: &'static str = "versioned postcard";
///
///     fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, EncodeError> {
///         let mut bytes = vec![1];
///         bytes.extend(Postcard.encode(value)?);
///         Ok(bytes)
///     }
///
///     fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, DecodeError> {
///         match bytes.split_first() {
///             Some((1, rest)) => Postcard.decode(rest),
///             _ => Err(DecodeError::new(Self::NAME, "not version 1")),
///         }
///     }
/// }
///
/// let bytes = Versioned.encode(&(7u16, "seven"))?;
/// assert_eq!(Versioned.decode::<(u16, String)>(&bytes)?, (7, "seven".to_string()));
/// let error = Versioned.decode::<(u16, String)>(&bytes[1..]).unwrap_err();
/// assert_eq!(error.to_string(), "the payload does not decode with versioned postcard: not version 1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Codec {
    /// The codec's name, as errors show it: `"postcard"`, `"json"`.
    const NAME: &'static str;

    /// The bytes of `value`.
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, EncodeError>;

    /// The value in `bytes`, which must hold one whole value of the type and nothing more.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, DecodeError>;
}

/// [postcard](https://docs.rs/postcard): a compact binary format (varint integers, no field
/// names), the default codec.
///
/// Postcard is not self-describing: the receiver must know the type, and formats that need
/// to look ahead (`#[serde(tag = "...")]`, `#[serde(untagged)]`, `#[serde(flatten)]`,
/// `serde_json::Value`) do not decode. Bytes left over after the value are a decode error, which
/// catches most messages of another type.
///
/// ```
/// use monocoque::typed::{Codec, Postcard};
///
/// let bytes = Postcard.encode(&(300u16, true))?;
/// assert_eq!(bytes, [0xac, 0x02, 0x01]); // 300 as a varint, then `true`
/// assert_eq!(Postcard.decode::<(u16, bool)>(&bytes)?, (300, true));
/// let error = Postcard.decode::<u16>(&bytes).unwrap_err(); // `true` left over
/// assert_eq!(error.to_string(), "the payload does not decode with postcard: 1 byte left over after the value");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Postcard;

impl Codec for Postcard {
    const NAME: &'static str = "postcard";

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, EncodeError> {
        postcard::to_stdvec(value)
            .map_err(|error| EncodeError::new(Self::NAME, postcard_reason(&error)))
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, DecodeError> {
        let (value, rest) = postcard::take_from_bytes(bytes)
            .map_err(|error| DecodeError::new(Self::NAME, postcard_reason(&error)))?;
        match rest.len() {
            0 => Ok(value),
            1 => Err(DecodeError::new(
                Self::NAME,
                "1 byte left over after the value",
            )),
            n => Err(DecodeError::new(
                Self::NAME,
                format_args!("{n} bytes left over after the value"),
            )),
        }
    }
}

/// JSON through [serde_json](https://docs.rs/serde_json): text that peers in any language can
/// read, and self-describing, at the cost of size and speed.
///
/// ```
/// use std::collections::HashMap;
/// use monocoque::typed::{Codec, Json};
///
/// let bytes = Json.encode(&HashMap::from([("celsius", 21.5)]))?;
/// assert_eq!(bytes, br#"{"celsius":21.5}"#);
/// assert_eq!(Json.decode::<HashMap<String, f64>>(&bytes)?["celsius"], 21.5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Json;

impl Codec for Json {
    const NAME: &'static str = "json";

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, EncodeError> {
        serde_json::to_vec(value).map_err(|error| EncodeError::new(Self::NAME, error))
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, DecodeError> {
        serde_json::from_slice(bytes).map_err(|error| DecodeError::new(Self::NAME, error))
    }
}

/// A value the codec cannot encode (a JSON map whose keys are not strings, a `Serialize` impl
/// that fails, ...). Nothing was sent.
///
/// ```
/// use std::collections::HashMap;
/// use monocoque::typed::{Codec, Json};
///
/// // JSON object keys are strings.
/// let error = Json.encode(&HashMap::from([((1, 2), 3)])).unwrap_err();
/// assert_eq!(error.to_string(), "cannot encode the value with json: key must be a string");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode the value with {codec}: {reason}")]
#[non_exhaustive]
pub struct EncodeError {
    /// The codec's name ([`Codec::NAME`]).
    pub codec: &'static str,
    /// What the codec said (serde's message).
    pub reason: String,
}

impl EncodeError {
    /// The error of codec `codec` (its [`Codec::NAME`]) for `reason`, for a codec of your own.
    ///
    /// ```
    /// use monocoque::typed::EncodeError;
    ///
    /// let error = EncodeError::new("mine", format_args!("{} is too big", 1 << 20));
    /// assert_eq!(error.reason, "1048576 is too big");
    /// ```
    pub fn new(codec: &'static str, reason: impl fmt::Display) -> Self {
        Self {
            codec,
            reason: reason.to_string(),
        }
    }
}

/// Bytes that are not one whole value of the expected type for this codec: a message of
/// another type, from another codec, truncated or corrupted.
///
/// ```
/// use monocoque::typed::{Codec, Json};
///
/// let error = Json.decode::<u32>(b"\"forty-two\"").unwrap_err();
/// assert_eq!(error.codec, "json");
/// assert!(error.reason.starts_with("invalid type: string \"forty-two\", expected u32"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the payload does not decode with {codec}: {reason}")]
#[non_exhaustive]
pub struct DecodeError {
    /// The codec's name ([`Codec::NAME`]).
    pub codec: &'static str,
    /// What the codec said (serde's message).
    pub reason: String,
}

impl DecodeError {
    /// The error of codec `codec` (its [`Codec::NAME`]) for `reason`, for a codec of your own.
    ///
    /// ```
    /// use monocoque::typed::DecodeError;
    ///
    /// let error = DecodeError::new("mine", "no version byte");
    /// assert_eq!(error.to_string(), "the payload does not decode with mine: no version byte");
    /// ```
    pub fn new(codec: &'static str, reason: impl fmt::Display) -> Self {
        Self {
            codec,
            reason: reason.to_string(),
        }
    }
}

/// What postcard says of `error`. Postcard keeps no message of the errors that serde's derives
/// and `Serialize`/`Deserialize` impls raise (`Error::custom`: an enum variant index out of range,
/// a failed `try_from`), only that there was one: say what it most likely was.
fn postcard_reason(error: &postcard::Error) -> String {
    match error {
        postcard::Error::SerdeDeCustom => "the bytes do not fit the type (an enum variant index \
            out of range, or a check in the type's `Deserialize`; postcard keeps no detail)"
            .to_string(),
        postcard::Error::SerdeSerCustom => {
            "the type's `Serialize` failed (postcard keeps no detail)".to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Circle { radius: u32 },
        Polygon(Vec<(i16, i16)>),
        Empty,
    }

    fn round_trip<C: Codec>(codec: C) {
        for shape in [
            Shape::Circle { radius: 3 },
            Shape::Polygon(vec![(0, 0), (-1, 5), (300, -300)]),
            Shape::Empty,
        ] {
            let bytes = codec.encode(&shape).unwrap();
            assert_eq!(codec.decode::<Shape>(&bytes).unwrap(), shape);
        }
    }

    #[test]
    fn both_codecs_round_trip_enums() {
        round_trip(Postcard);
        round_trip(Json);
    }

    #[test]
    fn postcard_refuses_a_truncated_value() {
        let bytes = Postcard.encode(&Shape::Polygon(vec![(1, 2)])).unwrap();
        let error = Postcard
            .decode::<Shape>(&bytes[..bytes.len() - 1])
            .unwrap_err();
        assert_eq!(error.codec, "postcard");
    }

    #[test]
    fn postcard_refuses_bytes_left_over() {
        let mut bytes = Postcard.encode(&Shape::Empty).unwrap();
        bytes.extend([0, 0]);
        let error = Postcard.decode::<Shape>(&bytes).unwrap_err();
        assert_eq!(error.reason, "2 bytes left over after the value");
    }

    #[test]
    fn postcard_says_what_its_custom_errors_most_likely_are() {
        let error = Postcard.decode::<Shape>(&[7]).unwrap_err(); // Shape has 3 variants
        assert!(
            error.reason.contains("enum variant index"),
            "{}",
            error.reason
        );
    }

    #[test]
    fn json_refuses_a_value_of_another_type() {
        let bytes = Json.encode(&Shape::Empty).unwrap();
        let error = Json.decode::<u32>(&bytes).unwrap_err();
        assert_eq!(error.codec, "json");
        assert!(error.reason.contains("expected u32"), "{}", error.reason);
    }
}
