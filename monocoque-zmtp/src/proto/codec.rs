//! Traffic codec: frames assembled into whole messages on the way in, messages and commands
//! encoded into vectored write batches on the way out.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use monocoque_core::Message;

use super::command::Command;
use super::error::ProtocolError;
use super::frame::{
    FLAG_COMMAND, FLAG_MORE, Frame, FrameDecoder, encode_frame_header, frame_header_len,
};
use super::mechanism::curve::{CurveDecoder, CurveEncoder};

/// Bodies at least this long are handed to the vectored write by reference instead of being copied
/// next to their header.
pub const DEFAULT_COPY_THRESHOLD: usize = 4096;

/// The most buffers handed to one vectored write: half of Linux's `IOV_MAX` (1024), past which
/// `writev` fails with `EINVAL`.
pub const MAX_IOVECS: usize = 512;

/// What arrives on a connection after the handshake.
///
/// ```
/// use monocoque::bytes::{Bytes, BytesMut};
/// use monocoque::Message;
/// use monocoque::proto::{Command, Inbound, MessageDecoder};
///
/// let mut decoder = MessageDecoder::new(None);
/// // A one-frame message, then a command frame (flag 0x04) holding a PING.
/// let mut buf = BytesMut::from(&b"\x00\x02hi\x04\x07\x04PING\x00\x00"[..]);
/// assert_eq!(decoder.decode(&mut buf).unwrap(), Some(Inbound::Message(Message::from("hi"))));
/// let Some(Inbound::Command(body)) = decoder.decode(&mut buf).unwrap() else { panic!() };
/// let ping = Command::Ping { ttl_deciseconds: 0, context: Bytes::new() };
/// assert_eq!(Command::parse(body).unwrap(), ping);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A complete multipart message.
    Message(Message),
    /// A command frame body (see [`Command::parse`]).
    Command(Bytes),
}

/// Assembles frames into whole messages: a message is delivered with all its frames or not at all.
///
/// `max_message_len` bounds both each frame and the sum of a message's frames;
/// [`with_max_frames`](Self::with_max_frames) bounds the number of frames. A connection bounds
/// the memory of a message in progress, frames and bookkeeping together, with its socket's
/// [`ReceiveBudget`](super::ReceiveBudget) through [`partial`](Self::partial).
///
/// ```
/// use monocoque::bytes::BytesMut;
/// use monocoque::proto::{Inbound, MessageDecoder};
///
/// let mut decoder = MessageDecoder::new(None);
/// let mut buf = BytesMut::from(&b"\x01\x01a"[..]);
/// assert_eq!(decoder.decode(&mut buf).unwrap(), None); // first frame of two
/// buf.extend_from_slice(b"\x00\x01b");
/// let Some(Inbound::Message(msg)) = decoder.decode(&mut buf).unwrap() else { panic!() };
/// assert_eq!(msg.frames(), &["a", "b"]);
/// ```
#[derive(Debug)]
pub struct MessageDecoder {
    frames: FrameDecoder,
    partial: Message,
    partial_len: u64,
    max_message_len: Option<u64>,
    max_frames: Option<usize>,
    decryption: Option<Box<CurveDecoder>>,
}

impl MessageDecoder {
    /// A decoder with an optional limit on a message's total body bytes.
    pub fn new(max_message_len: Option<u64>) -> Self {
        Self {
            frames: FrameDecoder::new(max_message_len).batched(),
            partial: Message::new(),
            partial_len: 0,
            max_message_len,
            max_frames: None,
            decryption: None,
        }
    }

    /// Opens every frame with `decoder` (CURVE): each must be a MESSAGE whose box opens, with a
    /// nonce above the last.
    pub fn with_decryption(mut self, decoder: CurveDecoder) -> Self {
        self.decryption = Some(Box::new(decoder));
        self
    }

    /// A decoder with an optional limit on a message's total body bytes and a limit on each
    /// frame, checked from its header.
    pub fn with_limits(max_message_len: Option<u64>, max_frame_len: u64) -> Self {
        Self {
            frames: FrameDecoder::new(Some(max_frame_len)).batched(),
            ..Self::new(max_message_len)
        }
    }

    /// Sets the most frames one message may have.
    pub fn with_max_frames(mut self, max_frames: usize) -> Self {
        self.max_frames = Some(max_frames.max(1));
        self
    }

    /// The message in progress: how many frames and body bytes it has so far.
    pub fn partial(&self) -> (usize, u64) {
        (self.partial.len(), self.partial_len)
    }

    /// Whether a frame's header has been taken and its body has not all arrived: the bytes
    /// waiting in the read buffer are that body's.
    pub fn is_mid_frame(&self) -> bool {
        self.frames.is_mid_frame()
    }

    /// See [`FrameDecoder::missing`](crate::proto::FrameDecoder::missing).
    pub fn frame_missing(&self, buffered: usize) -> usize {
        self.frames.missing(buffered)
    }

    /// See [`FrameDecoder::large_frame_hint`](crate::proto::FrameDecoder::large_frame_hint).
    pub fn large_frame_hint(&self) -> usize {
        self.frames.large_frame_hint()
    }

    /// Decodes the next complete message or command, or `Ok(None)` if more bytes are needed.
    ///
    /// Commands may arrive between the frames of a message (libzmq does not forbid it); they are
    /// returned at once and the message goes on assembling.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Inbound>, ProtocolError> {
        loop {
            let Some(mut frame) = self.frames.decode(buf)? else {
                return Ok(None);
            };
            if let Some(decoder) = &mut self.decryption {
                frame = open_frame(decoder, frame)?;
            }
            match frame {
                Frame::Command(body) => return Ok(Some(Inbound::Command(body))),
                Frame::Message { body, more } => {
                    self.partial_len += body.len() as u64;
                    if let Some(max) = self.max_message_len {
                        if self.partial_len > max {
                            return Err(ProtocolError::MessageTooLarge {
                                len: self.partial_len,
                                max,
                            });
                        }
                    }
                    if let Some(max) = self.max_frames.filter(|&max| self.partial.len() >= max) {
                        return Err(ProtocolError::TooManyFrames { max });
                    }
                    self.partial.push(body);
                    if !more {
                        self.partial_len = 0;
                        return Ok(Some(Inbound::Message(std::mem::take(&mut self.partial))));
                    }
                }
            }
        }
    }

    /// Whether part of a message or frame has been consumed but not yet delivered.
    pub fn is_mid_message(&self) -> bool {
        !self.partial.is_empty() || self.frames.is_mid_frame()
    }
}

/// A CURVE MESSAGE out of its box. Only the flags inside the box count: the outer frame's are
/// not authenticated, and a MORE set there in transit would join two messages into one.
#[cold]
#[inline(never)]
fn open_frame(decoder: &mut CurveDecoder, frame: Frame) -> Result<Frame, ProtocolError> {
    let body = match frame {
        Frame::Command(body) | Frame::Message { body, .. } => body,
    };
    let opened = decoder.open(&body)?;
    Ok(if opened.command {
        if opened.more {
            return Err(ProtocolError::CommandWithMore);
        }
        Frame::Command(opened.body)
    } else {
        Frame::Message {
            body: opened.body,
            more: opened.more,
        }
    })
}

/// An outgoing byte queue built for vectored writes.
///
/// Frame headers and small bodies are copied into one contiguous chunk; bodies of at least the
/// copy threshold become chunks of their own, shared with the caller's `Bytes` rather than copied.
/// [`take_chunks`](Self::take_chunks) hands everything queued to one vectored write.
///
/// ```
/// use monocoque::bytes::Bytes;
/// use monocoque::Message;
/// use monocoque::proto::WriteBuffer;
///
/// let big = Bytes::from(vec![7u8; 10_000]);
/// let mut out = WriteBuffer::new();
/// out.push_message(&Message::from_iter([Bytes::from("key"), big.clone()]));
/// let chunks = out.take_chunks();
/// assert_eq!(chunks.len(), 2);
/// assert_eq!(&chunks[0][..], b"\x01\x03key\x02\x00\x00\x00\x00\x00\x00\x27\x10");
/// assert_eq!(chunks[1].as_ptr(), big.as_ptr()); // not copied
/// ```
#[derive(Debug)]
pub struct WriteBuffer {
    chunks: VecDeque<Bytes>,
    head: BytesMut,
    len: usize,
    copy_threshold: usize,
    encryption: Option<Box<CurveEncoder>>,
}

impl Default for WriteBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl WriteBuffer {
    /// An empty buffer with the [`DEFAULT_COPY_THRESHOLD`].
    pub fn new() -> Self {
        Self::with_copy_threshold(DEFAULT_COPY_THRESHOLD)
    }

    /// An empty buffer that copies bodies shorter than `copy_threshold` and shares longer ones.
    pub fn with_copy_threshold(copy_threshold: usize) -> Self {
        Self {
            chunks: VecDeque::new(),
            head: BytesMut::new(),
            len: 0,
            copy_threshold,
            encryption: None,
        }
    }

    /// Boxes every frame queued from now on with `encoder` (CURVE).
    pub fn set_encryption(&mut self, encoder: CurveEncoder) {
        self.encryption = Some(Box::new(encoder));
    }

    /// Whether frames are boxed.
    pub fn is_encrypted(&self) -> bool {
        self.encryption.is_some()
    }

    /// Queues raw bytes (the greeting).
    pub fn push_raw(&mut self, bytes: &[u8]) {
        self.head.extend_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Queues one message frame.
    pub fn push_frame(&mut self, body: &Bytes, more: bool) {
        self.push_framed(if more { FLAG_MORE } else { 0 }, body);
    }

    /// Queues every frame of a multipart message.
    pub fn push_message(&mut self, message: &Message) {
        let frames = message.frames();
        let last = frames.len().saturating_sub(1);
        for (i, body) in frames.iter().enumerate() {
            self.push_frame(body, i < last);
        }
    }

    /// Queues a command frame.
    pub fn push_command(&mut self, command: &Command) {
        if self.encryption.is_some() {
            let mut body = BytesMut::with_capacity(command.encoded_len());
            command.encode(&mut body);
            self.push_framed(FLAG_COMMAND, &body.freeze());
            return;
        }
        let len = command.encoded_len();
        self.head.reserve(frame_header_len(len) + len);
        encode_frame_header(&mut self.head, FLAG_COMMAND, len);
        command.encode(&mut self.head);
        self.len += frame_header_len(len) + len;
    }

    /// Queues a command frame from an already encoded body (`name_len name data`).
    pub fn push_command_body(&mut self, body: &Bytes) {
        self.push_framed(FLAG_COMMAND, body);
    }

    fn push_framed(&mut self, flags: u8, body: &Bytes) {
        if let Some(encoder) = &mut self.encryption {
            let before = self.head.len();
            encoder.seal_frame(
                flags & FLAG_MORE != 0,
                flags & FLAG_COMMAND != 0,
                body,
                &mut self.head,
            );
            self.len += self.head.len() - before;
            return;
        }
        encode_frame_header(&mut self.head, flags, body.len());
        self.len += frame_header_len(body.len()) + body.len();
        if body.len() >= self.copy_threshold {
            self.seal_head();
            self.chunks.push_back(body.clone());
        } else {
            self.head.extend_from_slice(body);
        }
    }

    fn seal_head(&mut self) {
        if !self.head.is_empty() {
            self.chunks.push_back(self.head.split().freeze());
        }
    }

    /// Total bytes queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes and returns everything queued, in order, as chunks for one vectored write.
    pub fn take_chunks(&mut self) -> Vec<Bytes> {
        self.seal_head();
        self.len = 0;
        self.chunks.drain(..).collect()
    }

    /// Removes and returns at most `max` chunks from the front, in order; the rest stay queued.
    /// A vectored write takes at most `IOV_MAX` (1024 on Linux) buffers, and a message of many
    /// large frames makes a chunk per frame, so writers take [`MAX_IOVECS`] at a time.
    ///
    /// ```
    /// use monocoque::bytes::Bytes;
    /// use monocoque::Message;
    /// use monocoque::proto::WriteBuffer;
    ///
    /// let mut out = WriteBuffer::with_copy_threshold(1);
    /// out.push_message(&Message::from_iter(["a", "b", "c"])); // a header, a body, ...: 6 chunks
    /// let first = out.take_chunks_max(4);
    /// assert_eq!(first.len(), 4);
    /// assert_eq!(out.len(), 2 + 1);
    /// assert_eq!(out.take_chunks_max(4).len(), 2);
    /// assert!(out.is_empty());
    /// ```
    pub fn take_chunks_max(&mut self, max: usize) -> Vec<Bytes> {
        self.seal_head();
        let n = self.chunks.len().min(max);
        let taken: Vec<Bytes> = self.chunks.drain(..n).collect();
        self.len -= taken.iter().map(Bytes::len).sum::<usize>();
        taken
    }

    /// The number of chunks a [`take_chunks`](Self::take_chunks) would return now.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len() + usize::from(!self.head.is_empty())
    }

    /// Removes everything queued into one contiguous buffer (tests and small writes).
    pub fn take_contiguous(&mut self) -> BytesMut {
        let mut out = BytesMut::with_capacity(self.len);
        for chunk in self.take_chunks() {
            out.extend_from_slice(&chunk);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIBZMQ_SINGLE: &[u8] = include_bytes!("../../testdata/msg_single.bin");
    const LIBZMQ_MULTIPART: &[u8] = include_bytes!("../../testdata/msg_multipart.bin");
    const LIBZMQ_LONG: &[u8] = include_bytes!("../../testdata/msg_long_65536.bin");

    fn pattern(len: usize) -> Bytes {
        (0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>().into()
    }

    fn decode_one(bytes: &[u8]) -> Message {
        let mut buf = BytesMut::from(bytes);
        let mut decoder = MessageDecoder::new(None);
        let Some(Inbound::Message(message)) = decoder.decode(&mut buf).unwrap() else {
            panic!("expected one message");
        };
        assert!(buf.is_empty(), "trailing bytes");
        message
    }

    fn encode(message: &Message) -> BytesMut {
        let mut out = WriteBuffer::new();
        out.push_message(message);
        out.take_contiguous()
    }

    #[test]
    fn libzmq_messages_decode_and_encode_byte_for_byte() {
        let single = Message::from_iter(["hello"]);
        let multipart = Message::from_iter([Bytes::from("id"), Bytes::new(), pattern(300)]);
        let long = Message::from_iter([pattern(65536)]);
        for (bytes, message) in [
            (LIBZMQ_SINGLE, single),
            (LIBZMQ_MULTIPART, multipart),
            (LIBZMQ_LONG, long),
        ] {
            assert_eq!(decode_one(bytes), message);
            assert_eq!(&encode(&message)[..], bytes);
        }
    }

    #[test]
    fn message_limit_counts_all_frames() {
        let message = Message::from_iter([pattern(600), pattern(600)]);
        let mut buf = encode(&message);
        let mut decoder = MessageDecoder::new(Some(1000));
        assert_eq!(
            decoder.decode(&mut buf),
            Err(ProtocolError::MessageTooLarge {
                len: 1200,
                max: 1000
            })
        );
    }

    #[test]
    fn frame_count_is_limited() {
        let message: Message = std::iter::repeat_n(Bytes::new(), 5).collect();
        let mut buf = encode(&message);
        let mut decoder = MessageDecoder::new(Some(1024)).with_max_frames(4);
        assert_eq!(
            decoder.decode(&mut buf),
            Err(ProtocolError::TooManyFrames { max: 4 })
        );
        let mut buf = encode(&message);
        assert!(
            matches!(MessageDecoder::new(None).decode(&mut buf), Ok(Some(Inbound::Message(m))) if m.len() == 5)
        );
    }

    #[test]
    fn commands_pass_through_a_partial_message() {
        let mut out = WriteBuffer::new();
        out.push_frame(&Bytes::from("a"), true);
        out.push_command(&Command::Pong(Bytes::new()));
        out.push_frame(&Bytes::from("b"), false);
        let mut buf = out.take_contiguous();
        let mut decoder = MessageDecoder::new(None);
        assert!(matches!(
            decoder.decode(&mut buf),
            Ok(Some(Inbound::Command(_)))
        ));
        assert!(decoder.is_mid_message());
        let Ok(Some(Inbound::Message(message))) = decoder.decode(&mut buf) else {
            panic!()
        };
        assert_eq!(message.frames(), &["a", "b"]);
        assert!(!decoder.is_mid_message());
    }

    #[test]
    fn small_messages_coalesce_into_one_chunk() {
        let mut out = WriteBuffer::new();
        for i in 0..100u8 {
            out.push_message(&Message::from_iter([vec![i; 10]]));
        }
        assert_eq!(out.len(), 100 * 12);
        let chunks = out.take_chunks();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].len(), 1200);
        assert!(out.is_empty());
    }

    #[test]
    fn empty_message_list_encodes_nothing() {
        let mut out = WriteBuffer::new();
        out.push_message(&Message::new());
        assert!(out.is_empty());
        assert!(out.take_chunks().is_empty());
    }
}
