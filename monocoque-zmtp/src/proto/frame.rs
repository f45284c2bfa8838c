//! Frame decoding: `flags size body`, one frame at a time, without copying large bodies.
//!
//! ```text
//! flags: bits 7..3 reserved (zero) | bit 2 COMMAND | bit 1 LONG | bit 0 MORE
//! size:  one octet, or eight octets big-endian when LONG is set
//! ```

use bytes::{Buf, Bytes, BytesMut};

use super::error::ProtocolError;

/// Flag bit: more frames of this message follow.
pub const FLAG_MORE: u8 = 0x01;
/// Flag bit: the size field is eight octets.
pub const FLAG_LONG: u8 = 0x02;
/// Flag bit: the frame is a command.
pub const FLAG_COMMAND: u8 = 0x04;
const RESERVED_FLAGS: u8 = !(FLAG_MORE | FLAG_LONG | FLAG_COMMAND);

/// The largest size RFC 37 allows for a long frame (2^63 - 1).
pub const MAX_FRAME_LEN: u64 = i64::MAX as u64;

/// While a frame is incomplete, the decoder reserves read-buffer room in steps of at most this
/// much, so a peer's declared length alone never decides an allocation: memory grows with the
/// bytes that actually arrive (even under a generous limit, where reserving the whole declared
/// size at once could abort the process on a failed allocation).
const RESERVE_STEP: usize = 1 << 20;

/// Bodies shorter than this are copied out of the read buffer instead of sharing it. A shared
/// body keeps the whole read chunk (up to 64 KiB, more for a large frame) alive for as long as
/// the application holds the message: a subscriber keeping one 10-byte message out of every
/// read would hold megabytes for kilobytes. Small bodies are copied into an arena of
/// [`SMALL_ARENA`] bytes shared only with other small bodies, so a kept message holds at most
/// that, and the copy costs no allocation per message (one allocation per body cost the 64 B
/// rows of `scripts/bench.sh` a quarter of their rate). Above this, a body pins at most 64 times
/// its size.
pub const COPY_BELOW: usize = 1024;

/// The arena small bodies are copied into: the most a kept small message can hold alive.
pub const SMALL_ARENA: usize = 4096;

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A message frame; `more` is set on every frame of a multipart message but the last.
    Message {
        /// The frame body.
        body: Bytes,
        /// Whether more frames of the same message follow.
        more: bool,
    },
    /// A command frame: `name_len name data`, parsed by [`Command::parse`](super::Command::parse).
    Command(Bytes),
}

/// Decodes frames from a read buffer.
///
/// The caller appends bytes to a `BytesMut` and calls [`decode`](Self::decode) until it returns
/// `Ok(None)`. Bodies of [`COPY_BELOW`] bytes or more are split off the buffer and frozen, so a
/// large body is never copied; smaller ones are copied, so they do not pin the buffer.
///
/// ```
/// use bytes::BytesMut;
/// use monocoque_zmtp::proto::{Frame, FrameDecoder};
///
/// let mut decoder = FrameDecoder::new(Some(1024));
/// let mut buf = BytesMut::from(&b"\x01\x02hi\x00\x00"[..]);
/// assert_eq!(
///     decoder.decode(&mut buf).unwrap(),
///     Some(Frame::Message { body: "hi".into(), more: true })
/// );
/// assert_eq!(
///     decoder.decode(&mut buf).unwrap(),
///     Some(Frame::Message { body: "".into(), more: false })
/// );
/// assert_eq!(decoder.decode(&mut buf).unwrap(), None);
/// ```
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_len: Option<u64>,
    pending: Option<Header>,
    /// Where small bodies are copied to (see [`COPY_BELOW`]).
    small: BytesMut,
}

#[derive(Debug, Clone, Copy)]
struct Header {
    flags: u8,
    len: usize,
}

impl FrameDecoder {
    /// A decoder that refuses frames longer than `max_frame_len` bytes (`None`: only RFC 37's
    /// 2^63-1 limit applies).
    pub fn new(max_frame_len: Option<u64>) -> Self {
        Self {
            max_frame_len,
            pending: None,
            small: BytesMut::new(),
        }
    }

    /// The configured maximum frame length.
    pub fn max_frame_len(&self) -> Option<u64> {
        self.max_frame_len
    }

    /// Decodes the next frame, or returns `Ok(None)` if `buf` does not hold one completely yet.
    ///
    /// A header is consumed as soon as it is complete and validated; the body is split off once
    /// all of it has arrived. The size limit is checked before any room is reserved for the body.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        let header = match self.pending {
            Some(header) => header,
            None => match self.decode_header(buf)? {
                Some(header) => header,
                None => {
                    if buf.is_empty() {
                        // Between reads an idle connection keeps no arena.
                        self.small = BytesMut::new();
                    }
                    return Ok(None);
                }
            },
        };
        if buf.len() < header.len {
            self.pending = Some(header);
            let missing = header.len - buf.len();
            buf.reserve(missing.min(RESERVE_STEP));
            return Ok(None);
        }
        self.pending = None;
        let body = if header.len == 0 {
            Bytes::new()
        } else if header.len < COPY_BELOW {
            if self.small.capacity() - self.small.len() < header.len {
                // No larger than what this read can still hold: a lone request gets an arena of
                // its own size.
                self.small = BytesMut::with_capacity(buf.len().clamp(header.len, SMALL_ARENA));
            }
            self.small.extend_from_slice(&buf[..header.len]);
            buf.advance(header.len);
            self.small.split().freeze()
        } else {
            buf.split_to(header.len).freeze()
        };
        Ok(Some(if header.flags & FLAG_COMMAND != 0 {
            Frame::Command(body)
        } else {
            Frame::Message {
                body,
                more: header.flags & FLAG_MORE != 0,
            }
        }))
    }

    /// Whether the decoder is in the middle of a frame (its header has been consumed).
    pub fn is_mid_frame(&self) -> bool {
        self.pending.is_some()
    }

    fn decode_header(&self, buf: &mut BytesMut) -> Result<Option<Header>, ProtocolError> {
        let Some(&flags) = buf.first() else {
            return Ok(None);
        };
        if flags & RESERVED_FLAGS != 0 {
            return Err(ProtocolError::ReservedFlagBits { flags });
        }
        if flags & FLAG_COMMAND != 0 && flags & FLAG_MORE != 0 {
            return Err(ProtocolError::CommandWithMore);
        }
        let long = flags & FLAG_LONG != 0;
        let header_len = if long { 9 } else { 2 };
        if buf.len() < header_len {
            return Ok(None);
        }
        let len = if long {
            let mut size = [0u8; 8];
            size.copy_from_slice(&buf[1..9]);
            u64::from_be_bytes(size)
        } else {
            u64::from(buf[1])
        };
        if len > MAX_FRAME_LEN {
            return Err(ProtocolError::FrameLengthOverflow { len });
        }
        let max = self
            .max_frame_len
            .unwrap_or(MAX_FRAME_LEN)
            .min(usize::MAX as u64);
        if len > max {
            return Err(ProtocolError::FrameTooLarge { len, max });
        }
        let len = usize::try_from(len).map_err(|_| ProtocolError::FrameTooLarge { len, max })?;
        buf.advance(header_len);
        Ok(Some(Header { flags, len }))
    }
}

/// Writes a frame header for a body of `len` bytes. Like libzmq, the long form is used only for
/// bodies over 255 bytes.
pub fn encode_frame_header(out: &mut BytesMut, mut flags: u8, len: usize) {
    if len > usize::from(u8::MAX) {
        flags |= FLAG_LONG;
        out.extend_from_slice(&[flags]);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    } else {
        out.extend_from_slice(&[flags, len as u8]);
    }
}

/// The length of the header [`encode_frame_header`] writes for a body of `len` bytes.
pub fn frame_header_len(len: usize) -> usize {
    if len > usize::from(u8::MAX) { 9 } else { 2 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(decoder: &mut FrameDecoder, bytes: &[u8]) -> Result<Vec<Frame>, ProtocolError> {
        let mut buf = BytesMut::from(bytes);
        let mut frames = Vec::new();
        while let Some(frame) = decoder.decode(&mut buf)? {
            frames.push(frame);
        }
        Ok(frames)
    }

    #[test]
    fn accepts_long_form_for_small_bodies() {
        let mut bytes = vec![FLAG_LONG];
        bytes.extend_from_slice(&3u64.to_be_bytes());
        bytes.extend_from_slice(b"abc");
        let frames = decode_all(&mut FrameDecoder::new(None), &bytes).unwrap();
        assert_eq!(
            frames,
            vec![Frame::Message {
                body: "abc".into(),
                more: false
            }]
        );
    }

    #[test]
    fn reserved_bits_are_refused_from_the_first_byte() {
        for bit in 3..8 {
            let flags = 1u8 << bit;
            let mut buf = BytesMut::from(&[flags][..]);
            assert_eq!(
                FrameDecoder::new(None).decode(&mut buf),
                Err(ProtocolError::ReservedFlagBits { flags })
            );
        }
    }

    #[test]
    fn command_with_more_is_refused() {
        let mut buf = BytesMut::from(&[FLAG_COMMAND | FLAG_MORE, 0][..]);
        assert_eq!(
            FrameDecoder::new(None).decode(&mut buf),
            Err(ProtocolError::CommandWithMore)
        );
    }

    #[test]
    fn oversized_frame_is_refused_without_reserving() {
        let mut bytes = vec![FLAG_LONG];
        bytes.extend_from_slice(&(1u64 << 40).to_be_bytes());
        let mut buf = BytesMut::from(&bytes[..]);
        let before = buf.capacity();
        assert_eq!(
            FrameDecoder::new(Some(1 << 20)).decode(&mut buf),
            Err(ProtocolError::FrameTooLarge {
                len: 1 << 40,
                max: 1 << 20
            })
        );
        assert_eq!(buf.capacity(), before);
    }

    #[test]
    fn length_of_2_pow_63_is_refused() {
        let mut bytes = vec![FLAG_LONG];
        bytes.extend_from_slice(&(1u64 << 63).to_be_bytes());
        let mut buf = BytesMut::from(&bytes[..]);
        assert_eq!(
            FrameDecoder::new(None).decode(&mut buf),
            Err(ProtocolError::FrameLengthOverflow { len: 1 << 63 })
        );
    }

    #[test]
    fn a_generous_limit_still_reserves_in_bounded_steps() {
        let mut bytes = vec![FLAG_LONG];
        bytes.extend_from_slice(&(1u64 << 39).to_be_bytes());
        let mut buf = BytesMut::from(&bytes[..]);
        let mut decoder = FrameDecoder::new(Some(1 << 40));
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert!(buf.capacity() <= 2 * RESERVE_STEP);
    }

    #[test]
    fn unlimited_decoder_reserves_in_bounded_steps() {
        let mut bytes = vec![FLAG_LONG];
        bytes.extend_from_slice(&((1u64 << 62) - 1).to_be_bytes());
        let mut buf = BytesMut::from(&bytes[..]);
        let mut decoder = FrameDecoder::new(None);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert!(decoder.is_mid_frame());
        assert!(buf.capacity() <= 2 * RESERVE_STEP);
    }

    #[test]
    fn header_is_not_consumed_until_complete() {
        let mut buf = BytesMut::from(&[FLAG_LONG, 0, 0, 0][..]);
        let mut decoder = FrameDecoder::new(None);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert_eq!(buf.len(), 4);
        assert!(!decoder.is_mid_frame());
    }

    #[test]
    fn large_bodies_are_shared_and_small_ones_copied() {
        let mut buf = BytesMut::with_capacity(64 + COPY_BELOW);
        let mut header = BytesMut::new();
        encode_frame_header(&mut header, FLAG_MORE, COPY_BELOW);
        buf.extend_from_slice(&header);
        buf.extend_from_slice(&[7; COPY_BELOW]);
        buf.extend_from_slice(&[0, 5]);
        buf.extend_from_slice(b"hello");
        let start = buf.as_ptr() as usize;
        let mut decoder = FrameDecoder::new(None);
        let Some(Frame::Message { body: large, .. }) = decoder.decode(&mut buf).unwrap() else {
            panic!("expected a message frame");
        };
        assert_eq!(large.as_ptr() as usize, start + 9, "shared, not copied");
        let Some(Frame::Message { body: small, .. }) = decoder.decode(&mut buf).unwrap() else {
            panic!("expected a message frame");
        };
        assert_eq!(small, "hello");
        let inside = start..start + 64 + COPY_BELOW;
        assert!(
            !inside.contains(&(small.as_ptr() as usize)),
            "a small body must not keep the read buffer alive"
        );
    }

    #[test]
    fn header_form_follows_libzmq() {
        let mut out = BytesMut::new();
        encode_frame_header(&mut out, 0, 255);
        assert_eq!(&out[..], &[0, 255]);
        out.clear();
        encode_frame_header(&mut out, FLAG_MORE, 256);
        assert_eq!(&out[..], &[FLAG_MORE | FLAG_LONG, 0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(frame_header_len(255), 2);
        assert_eq!(frame_header_len(256), 9);
    }
}
