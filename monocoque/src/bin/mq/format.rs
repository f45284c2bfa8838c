//! Messages as lines of text: how input lines become frames and frames become output lines.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use clap::ValueEnum;
use monocoque::Message;
use serde_json::Value;

/// How a message is written as one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Frames as UTF-8 text between delimiters (invalid UTF-8 printed with U+FFFD).
    Text,
    /// Frames in hexadecimal between delimiters.
    Hex,
    /// Frames in base64 between delimiters.
    Base64,
    /// A JSON array of frames per line: a string for a UTF-8 frame, {"base64": "..."} for any
    /// other; a lone string is a one-frame message.
    Json,
}

/// The frames of one input line.
pub(crate) fn decode(format: Format, delimiter: &str, line: &str) -> Result<Message, String> {
    match format {
        Format::Json => decode_json(line),
        _ => {
            let parts: Vec<&str> = if delimiter.is_empty() {
                vec![line]
            } else {
                line.split(delimiter).collect()
            };
            parts
                .into_iter()
                .map(|part| decode_frame(format, part))
                .collect::<Result<Vec<Bytes>, String>>()
                .map(Message::from)
        }
    }
}

fn decode_frame(format: Format, part: &str) -> Result<Bytes, String> {
    match format {
        Format::Text => Ok(Bytes::copy_from_slice(part.as_bytes())),
        Format::Hex => hex::decode(part.trim())
            .map(Bytes::from)
            .map_err(|e| format!("not hexadecimal ({e}): {part:?}")),
        Format::Base64 => BASE64
            .decode(part.trim())
            .map(Bytes::from)
            .map_err(|e| format!("not base64 ({e}): {part:?}")),
        Format::Json => unreachable!("JSON lines are decoded whole"),
    }
}

fn decode_json(line: &str) -> Result<Message, String> {
    let value: Value =
        serde_json::from_str(line).map_err(|e| format!("not a JSON line ({e}): {line:?}"))?;
    match value {
        Value::Array(frames) if frames.is_empty() => {
            Err("a message has at least one frame: [] is empty".to_owned())
        }
        Value::Array(frames) => frames
            .into_iter()
            .map(json_frame)
            .collect::<Result<Vec<Bytes>, String>>()
            .map(Message::from),
        other => json_frame(other).map(Message::single),
    }
}

fn json_frame(value: Value) -> Result<Bytes, String> {
    match value {
        Value::String(text) => Ok(Bytes::from(text)),
        Value::Object(map) => match map.get("base64") {
            Some(Value::String(encoded)) if map.len() == 1 => BASE64
                .decode(encoded)
                .map(Bytes::from)
                .map_err(|e| format!("not base64 ({e}): {encoded:?}")),
            _ => Err(format!(
                "a JSON frame is a string or {{\"base64\": \"...\"}}, not {}",
                Value::Object(map)
            )),
        },
        other => Err(format!(
            "a JSON frame is a string or {{\"base64\": \"...\"}}, not {other}"
        )),
    }
}

/// One output line (without its newline) for `message`.
pub(crate) fn encode(format: Format, delimiter: &str, message: &Message) -> String {
    match format {
        Format::Json => {
            let frames: Vec<Value> = message
                .frames()
                .iter()
                .map(|frame| match std::str::from_utf8(frame) {
                    Ok(text) => Value::String(text.to_owned()),
                    Err(_) => serde_json::json!({ "base64": BASE64.encode(frame) }),
                })
                .collect();
            Value::Array(frames).to_string()
        }
        _ => {
            let mut line = String::new();
            for (i, frame) in message.frames().iter().enumerate() {
                if i > 0 {
                    line.push_str(delimiter);
                }
                match format {
                    Format::Text => line.push_str(&String::from_utf8_lossy(frame)),
                    Format::Hex => line.push_str(&hex::encode(frame)),
                    Format::Base64 => line.push_str(&BASE64.encode(frame)),
                    Format::Json => unreachable!("handled above"),
                }
            }
            line
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(message: &Message) -> Vec<&[u8]> {
        message.frames().iter().map(|f| &f[..]).collect()
    }

    #[test]
    fn every_format_reads_back_what_it_writes() {
        let message = Message::from(vec![
            Bytes::from_static(b"id"),
            Bytes::new(),
            Bytes::from_static(b"\x00\xffbinary"),
        ]);
        for format in [Format::Hex, Format::Base64, Format::Json] {
            let line = encode(format, "\t", &message);
            assert!(!line.contains('\n'), "{format:?}: {line}");
            let back = decode(format, "\t", &line).expect("decodes");
            assert_eq!(frames(&back), frames(&message), "{format:?}: {line}");
        }
    }

    #[test]
    fn text_splits_at_the_delimiter_only_when_there_is_one() {
        let message = decode(Format::Text, "|", "a|b||c").expect("text");
        assert_eq!(frames(&message), [&b"a"[..], b"b", b"", b"c"]);
        let message = decode(Format::Text, "", "a|b").expect("text");
        assert_eq!(frames(&message), [&b"a|b"[..]]);
        assert_eq!(encode(Format::Text, " | ", &message), "a|b");
    }

    #[test]
    fn json_takes_strings_base64_objects_and_a_lone_string() {
        let message = decode(Format::Json, "", r#"["topic", {"base64": "AP8="}]"#).expect("json");
        assert_eq!(frames(&message), [&b"topic"[..], b"\x00\xff"]);
        let message = decode(Format::Json, "", r#""one""#).expect("json");
        assert_eq!(frames(&message), [&b"one"[..]]);
        assert_eq!(
            encode(Format::Json, "", &Message::from(vec!["a", "b"])),
            r#"["a","b"]"#
        );
    }

    #[test]
    fn bad_input_is_an_error_naming_the_input() {
        let error = decode(Format::Hex, "\t", "zz").expect_err("not hex");
        assert!(error.contains("\"zz\""), "{error}");
        assert!(decode(Format::Base64, "\t", "!!!").is_err());
        assert!(decode(Format::Json, "", "[1]").is_err());
        assert!(decode(Format::Json, "", "[]").is_err());
        assert!(decode(Format::Json, "", "{").is_err());
        assert!(decode(Format::Json, "", r#"[{"base64": "AA==", "x": 1}]"#).is_err());
    }
}
