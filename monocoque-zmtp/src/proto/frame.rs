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
/// read would hold megabytes for kilobytes. Small frames are copied off the buffer in runs of at
/// most [`SMALL_ARENA`] bytes, one copy and one allocation per run, and their bodies share that
/// copy, so a kept message holds at most that much, and the copy costs no allocation per message
/// (one allocation per body cost the 64 B rows of `scripts/bench.sh` a quarter of their rate).
/// Above this, a body pins at most 64 times its size.
pub const COPY_BELOW: usize = 1024;

/// The most bytes of small frames copied off the read buffer at once: the most a kept small
/// message can hold alive.
pub const SMALL_ARENA: usize = 4096;

/// One decoded frame.
///
/// ```
/// use monocoque::bytes::BytesMut;
/// use monocoque::proto::{Command, Frame, FrameDecoder};
///
/// let mut decoder = FrameDecoder::new(None);
/// // A last message frame, then a command frame (flag 0x04) holding a SUBSCRIBE.
/// let mut buf = BytesMut::from(&b"\x00\x03end\x04\x0e\x09SUBSCRIBEnews"[..]);
/// let Some(Frame::Message { body, more }) = decoder.decode(&mut buf).unwrap() else { panic!() };
/// assert_eq!((&body[..], more), (&b"end"[..], false));
/// let Some(Frame::Command(body)) = decoder.decode(&mut buf).unwrap() else { panic!() };
/// assert_eq!(Command::parse(body).unwrap(), Command::Subscribe("news".into()));
/// ```
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
/// use monocoque::bytes::BytesMut;
/// use monocoque::proto::{Frame, FrameDecoder};
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
    /// `max_frame_len` with RFC 37's limit and the address space applied.
    max: u64,
    pending: Option<Header>,
    /// The body length of the last frame split off the buffer rather than copied (0 after a
    /// small one): how much room a reader should keep for the next.
    last_large: usize,
    /// Whether the complete small frames after the one asked for may be copied with it.
    batched: bool,
    /// A copy of complete small frames, headers included, taken off the read buffer at once
    /// (see [`COPY_BELOW`]); frames are handed out of it from `at` on.
    run: Bytes,
    at: usize,
}

#[derive(Debug, Clone, Copy)]
struct Header {
    flags: u8,
    len: usize,
}

impl Header {
    fn frame(self, body: Bytes) -> Frame {
        if self.flags & FLAG_COMMAND != 0 {
            Frame::Command(body)
        } else {
            Frame::Message {
                body,
                more: self.flags & FLAG_MORE != 0,
            }
        }
    }
}

impl FrameDecoder {
    /// A decoder that refuses frames longer than `max_frame_len` bytes (`None`: only RFC 37's
    /// 2^63-1 limit applies). It takes nothing off the buffer beyond the frame it returns.
    pub fn new(max_frame_len: Option<u64>) -> Self {
        Self {
            max_frame_len,
            max: max_frame_len
                .unwrap_or(MAX_FRAME_LEN)
                .min(MAX_FRAME_LEN)
                .min(usize::MAX as u64),
            pending: None,
            last_large: 0,
            batched: false,
            run: Bytes::new(),
            at: 0,
        }
    }

    /// Lets the decoder copy the complete small frames that follow a small frame off the buffer
    /// together with it (up to [`SMALL_ARENA`] bytes), and hand them out from that copy: one
    /// copy and one allocation for many frames. Those frames are then no longer in the buffer,
    /// so this suits a decoder that owns the stream from here on (traffic), not one that hands
    /// the rest of the buffer over when it is done (a handshake).
    pub fn batched(mut self) -> Self {
        self.batched = true;
        self
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
        if self.at < self.run.len() {
            return Ok(Some(self.next_in_run()));
        }
        let header = match self.pending {
            Some(header) => header,
            None => {
                let Some((header, header_len)) = parse_header(buf, self.max)? else {
                    return Ok(None);
                };
                let end = header_len + header.len;
                if header.len < COPY_BELOW && end <= buf.len() {
                    self.last_large = 0;
                    let end = if self.batched {
                        self.run_end(buf, end)
                    } else {
                        end
                    };
                    self.run = Bytes::copy_from_slice(&buf[..end]);
                    self.at = 0;
                    buf.advance(end);
                    return Ok(Some(self.next_in_run()));
                }
                buf.advance(header_len);
                header
            }
        };
        if buf.len() < header.len {
            self.pending = Some(header);
            let missing = header.len - buf.len();
            buf.reserve(missing.min(RESERVE_STEP));
            return Ok(None);
        }
        self.pending = None;
        let body = if header.len < COPY_BELOW {
            // The rest of a small frame that arrived in pieces.
            self.last_large = 0;
            let body = Bytes::copy_from_slice(&buf[..header.len]);
            buf.advance(header.len);
            body
        } else {
            self.last_large = header.len;
            buf.split_to(header.len).freeze()
        };
        Ok(Some(header.frame(body)))
    }

    /// Whether the decoder is in the middle of a frame (its header has been consumed).
    pub fn is_mid_frame(&self) -> bool {
        self.pending.is_some()
    }

    /// How many more bytes the frame in progress needs beyond the `buffered` already in the
    /// read buffer (0 when not in the middle of a frame).
    pub fn missing(&self, buffered: usize) -> usize {
        self.pending
            .map_or(0, |header| header.len.saturating_sub(buffered))
    }

    /// The body length of the last frame large enough to be split off the buffer rather than
    /// copied, or of the one in progress; 0 once a small frame came. A reader that keeps this
    /// much room free after its reads lets the next such frame complete in place, instead of
    /// moving the part already read to a larger buffer.
    pub fn large_frame_hint(&self) -> usize {
        self.pending
            .map_or(self.last_large, |header| header.len.max(self.last_large))
    }

    /// Where the run of complete small frames that starts `buf` ends, given that the first one
    /// ends at `end`. A frame that fails its checks ends the run: its error comes when it is
    /// decoded from the buffer.
    fn run_end(&self, buf: &[u8], mut end: usize) -> usize {
        while let Ok(Some((header, header_len))) = parse_header(&buf[end..], self.max) {
            let next = end + header_len + header.len;
            if header.len >= COPY_BELOW || next > buf.len() || next > SMALL_ARENA {
                break;
            }
            end = next;
        }
        end
    }

    /// The next frame of the run: complete and checked when it was copied.
    fn next_in_run(&mut self) -> Frame {
        let rest = &self.run[self.at..];
        let flags = rest[0];
        let (header_len, len) = if flags & FLAG_LONG != 0 {
            let mut size = [0u8; 8];
            size.copy_from_slice(&rest[1..9]);
            (9, u64::from_be_bytes(size) as usize)
        } else {
            (2, usize::from(rest[1]))
        };
        let start = self.at + header_len;
        self.at = start + len;
        let body = self.run.slice(start..self.at);
        if self.at == self.run.len() {
            // The bodies keep the copy alive, not the decoder.
            self.run = Bytes::new();
            self.at = 0;
        }
        Header { flags, len }.frame(body)
    }
}

/// Parses and checks the frame header at the start of `bytes` against the largest frame allowed;
/// `Ok(None)` while it is incomplete.
fn parse_header(bytes: &[u8], max: u64) -> Result<Option<(Header, usize)>, ProtocolError> {
    let Some(&flags) = bytes.first() else {
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
    if bytes.len() < header_len {
        return Ok(None);
    }
    let len = if long {
        let mut size = [0u8; 8];
        size.copy_from_slice(&bytes[1..9]);
        u64::from_be_bytes(size)
    } else {
        u64::from(bytes[1])
    };
    if len > MAX_FRAME_LEN {
        return Err(ProtocolError::FrameLengthOverflow { len });
    }
    if len > max {
        return Err(ProtocolError::FrameTooLarge { len, max });
    }
    // `max` fits in a usize.
    Ok(Some((
        Header {
            flags,
            len: len as usize,
        },
        header_len,
    )))
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
    fn a_reader_learns_what_a_large_frame_still_needs_and_how_large_they_come() {
        let mut decoder = FrameDecoder::new(None).batched();
        let len = 5000usize;
        let mut bytes = vec![FLAG_LONG];
        bytes.extend_from_slice(&(len as u64).to_be_bytes());
        bytes.extend(std::iter::repeat_n(7u8, 1000));
        let mut buf = BytesMut::from(&bytes[..]);
        assert_eq!(decoder.decode(&mut buf).unwrap(), None);
        // The header is taken; 1,000 of the body's bytes are in the buffer.
        assert_eq!(decoder.missing(buf.len()), len - 1000);
        assert_eq!(decoder.large_frame_hint(), len);
        buf.extend(std::iter::repeat_n(7u8, len - 1000));
        assert!(decoder.decode(&mut buf).unwrap().is_some());
        assert_eq!(decoder.missing(buf.len()), 0);
        // Still the size to make room for, until a small frame comes.
        assert_eq!(decoder.large_frame_hint(), len);
        buf.extend_from_slice(&[0, 2, b'h', b'i']);
        assert!(decoder.decode(&mut buf).unwrap().is_some());
        assert_eq!(decoder.large_frame_hint(), 0);
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

    fn small_frames(count: usize, len: usize) -> BytesMut {
        let mut buf = BytesMut::new();
        for i in 0..count {
            encode_frame_header(&mut buf, FLAG_MORE, len);
            buf.extend_from_slice(&vec![i as u8; len]);
        }
        buf
    }

    #[test]
    fn runs_of_small_frames_are_copied_in_bounded_pieces() {
        let (count, len) = (500, 64);
        let mut buf = small_frames(count, len);
        let read = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
        let mut decoder = FrameDecoder::new(None).batched();
        let mut bodies = Vec::new();
        while let Some(frame) = decoder.decode(&mut buf).unwrap() {
            let Frame::Message { body, more: true } = frame else {
                panic!("expected a message frame with more set");
            };
            bodies.push(body);
        }
        assert!(buf.is_empty());
        assert_eq!(bodies.len(), count);
        for (i, body) in bodies.iter().enumerate() {
            assert_eq!(&body[..], &vec![i as u8; len][..]);
            assert!(
                !read.contains(&(body.as_ptr() as usize)),
                "copied off the read"
            );
        }
        // Bodies of one copy lie a header apart; each copy spans at most SMALL_ARENA bytes.
        let mut copies = 1;
        let mut first = bodies[0].as_ptr() as usize;
        for pair in bodies.windows(2) {
            let next = pair[1].as_ptr() as usize;
            if next != pair[0].as_ptr() as usize + len + 2 {
                copies += 1;
                first = next;
            }
            assert!(next + len - first <= SMALL_ARENA);
        }
        assert!(copies >= count * (len + 2) / SMALL_ARENA, "{copies} copies");
        assert!(
            copies < count / 10,
            "one copy for many frames, not one each: {copies}"
        );
    }

    #[test]
    fn a_bad_header_after_a_run_comes_after_the_good_frames() {
        let mut buf = small_frames(3, 10);
        buf.extend_from_slice(&[0x80, 0]);
        let mut decoder = FrameDecoder::new(None).batched();
        for _ in 0..3 {
            assert!(matches!(
                decoder.decode(&mut buf),
                Ok(Some(Frame::Message { .. }))
            ));
        }
        assert_eq!(
            decoder.decode(&mut buf),
            Err(ProtocolError::ReservedFlagBits { flags: 0x80 })
        );
    }

    #[test]
    fn a_frame_over_the_limit_after_a_run_is_refused_in_its_turn() {
        let mut buf = small_frames(2, 10);
        buf.extend_from_slice(&[0, 200]);
        buf.extend_from_slice(&[1; 200]);
        let mut decoder = FrameDecoder::new(Some(100)).batched();
        for _ in 0..2 {
            assert!(matches!(
                decoder.decode(&mut buf),
                Ok(Some(Frame::Message { .. }))
            ));
        }
        assert_eq!(
            decoder.decode(&mut buf),
            Err(ProtocolError::FrameTooLarge { len: 200, max: 100 })
        );
    }

    #[test]
    fn an_unbatched_decoder_leaves_the_next_frames_in_the_buffer() {
        let mut buf = small_frames(3, 10);
        let mut decoder = FrameDecoder::new(None);
        assert!(decoder.decode(&mut buf).unwrap().is_some());
        assert_eq!(buf.len(), 2 * 12);
    }

    #[test]
    fn small_frames_split_across_reads_are_decoded_whole() {
        let whole = small_frames(40, 30);
        let mut decoder = FrameDecoder::new(None).batched();
        let mut buf = BytesMut::new();
        let mut bodies = Vec::new();
        for piece in whole.chunks(7) {
            buf.extend_from_slice(piece);
            while let Some(Frame::Message { body, .. }) = decoder.decode(&mut buf).unwrap() {
                bodies.push(body);
            }
        }
        assert_eq!(bodies.len(), 40);
        for (i, body) in bodies.iter().enumerate() {
            assert_eq!(&body[..], &[i as u8; 30][..]);
        }
        assert!(!decoder.is_mid_frame());
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
