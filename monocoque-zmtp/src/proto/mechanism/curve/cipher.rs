//! CURVE traffic: every frame, commands included, travels inside a MESSAGE command, boxed with
//! the connection's short-term keys and a nonce that only goes up.
//!
//! ```text
//! frame (flags 0) = %x07 "MESSAGE" nonce:8 box
//! box             = Box[flags:1 body](C'->S' or S'->C')   ; 16 bytes of tag, then the ciphertext
//! flags           = bit 0: MORE, bit 1: COMMAND
//! ```

use bytes::{BufMut, Bytes, BytesMut};
use crypto_box::SalsaBox;
use crypto_box::aead::AeadInPlace;

use crate::proto::error::ProtocolError;

/// Both directions of a connection, from its short-term keys. The box keeps the shared key it
/// derives and zeroes it on drop; it cannot be cloned, so each direction derives its own.
pub(crate) fn encryption(
    peer_short: &crypto_box::PublicKey,
    our_short: &crypto_box::SecretKey,
    (send_prefix, send_next): (&'static [u8; 16], u64),
    (recv_prefix, recv_last): (&'static [u8; 16], u64),
) -> Encryption {
    Encryption {
        encoder: CurveEncoder::new(SalsaBox::new(peer_short, our_short), send_prefix, send_next),
        decoder: CurveDecoder::new(SalsaBox::new(peer_short, our_short), recv_prefix, recv_last),
    }
}
use crate::proto::frame::encode_frame_header;

const MESSAGE: &[u8; 8] = b"\x07MESSAGE";
const TAG_LEN: usize = 16;
/// `%x07 MESSAGE`, the short nonce and the tag: what a MESSAGE adds to a frame besides its flags.
pub(crate) const MESSAGE_OVERHEAD: usize = MESSAGE.len() + 8 + TAG_LEN;

const INNER_MORE: u8 = 0x01;
const INNER_COMMAND: u8 = 0x02;

fn full_nonce(prefix: &[u8; 16], short: u64) -> crypto_box::Nonce {
    let mut nonce = crypto_box::Nonce::default();
    nonce[..16].copy_from_slice(prefix);
    nonce[16..].copy_from_slice(&short.to_be_bytes());
    nonce
}

/// Our side of a CURVE connection's traffic: boxes each outgoing frame.
pub struct CurveEncoder {
    cipher: SalsaBox,
    prefix: &'static [u8; 16],
    next_nonce: u64,
}

impl std::fmt::Debug for CurveEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveEncoder")
            .field("next_nonce", &self.next_nonce)
            .finish_non_exhaustive()
    }
}

impl CurveEncoder {
    pub(crate) fn new(cipher: SalsaBox, prefix: &'static [u8; 16], next_nonce: u64) -> Self {
        Self {
            cipher,
            prefix,
            next_nonce,
        }
    }

    /// Appends to `out` the MESSAGE frame that carries `body`: its frame header, the command
    /// name, the nonce, then the box made in place.
    pub(crate) fn seal_frame(
        &mut self,
        more: bool,
        command: bool,
        body: &[u8],
        out: &mut BytesMut,
    ) {
        let nonce = self.next_nonce;
        // 2^64 frames are out of reach; were they not, a repeated nonce would reveal plaintext.
        self.next_nonce = nonce.wrapping_add(1);
        let len = MESSAGE_OVERHEAD + 1 + body.len();
        out.reserve(9 + len);
        // Frame flags 0, as libzmq sends: the flags that matter are inside the box.
        encode_frame_header(out, 0, len);
        out.put_slice(MESSAGE);
        out.put_u64(nonce);
        let tag_at = out.len();
        out.put_bytes(0, TAG_LEN);
        let text_at = out.len();
        out.put_u8((u8::from(more) * INNER_MORE) | (u8::from(command) * INNER_COMMAND));
        out.put_slice(body);
        let tag = self
            .cipher
            .encrypt_in_place_detached(&full_nonce(self.prefix, nonce), b"", &mut out[text_at..])
            // XSalsa20 fails only past 2^70 bytes, and there is no associated data to refuse.
            .unwrap_or_default();
        out[tag_at..text_at].copy_from_slice(&tag);
    }

    /// The bytes a frame of `body_len` takes once boxed, header excluded.
    pub fn boxed_len(body_len: usize) -> usize {
        MESSAGE_OVERHEAD + 1 + body_len
    }
}

/// A frame as it came out of its box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedFrame {
    /// More frames of the same message follow.
    pub more: bool,
    /// The body is a command (`name_len name data`).
    pub command: bool,
    /// The frame's body.
    pub body: Bytes,
}

/// The peer's side of a CURVE connection's traffic: opens each incoming MESSAGE.
pub struct CurveDecoder {
    cipher: SalsaBox,
    prefix: &'static [u8; 16],
    last_nonce: u64,
}

impl std::fmt::Debug for CurveDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveDecoder")
            .field("last_nonce", &self.last_nonce)
            .finish_non_exhaustive()
    }
}

impl CurveDecoder {
    pub(crate) fn new(cipher: SalsaBox, prefix: &'static [u8; 16], last_nonce: u64) -> Self {
        Self {
            cipher,
            prefix,
            last_nonce,
        }
    }

    /// Opens one MESSAGE (the frame's whole body). A replayed or reordered nonce, a box that
    /// does not open, or anything that is not a MESSAGE is an error: the connection must end.
    pub fn open(&mut self, frame: &[u8]) -> Result<OpenedFrame, ProtocolError> {
        if frame.len() < MESSAGE.len() || &frame[..MESSAGE.len()] != MESSAGE {
            let name_len = frame.first().map_or(0, |&n| usize::from(n));
            let name = frame.get(1..1 + name_len).unwrap_or_default();
            return Err(ProtocolError::UnexpectedCommand {
                name: Bytes::copy_from_slice(name),
            });
        }
        if frame.len() < MESSAGE_OVERHEAD + 1 {
            return Err(ProtocolError::MalformedCommandBody { command: "MESSAGE" });
        }
        let mut short = [0u8; 8];
        short.copy_from_slice(&frame[8..16]);
        let nonce = u64::from_be_bytes(short);
        if nonce <= self.last_nonce {
            return Err(ProtocolError::InvalidNonce {
                nonce,
                last: self.last_nonce,
            });
        }
        let tag = crypto_box::Tag::clone_from_slice(&frame[16..MESSAGE_OVERHEAD]);
        let mut text = BytesMut::from(&frame[MESSAGE_OVERHEAD..]);
        self.cipher
            .decrypt_in_place_detached(&full_nonce(self.prefix, nonce), b"", &mut text, &tag)
            .map_err(|_| ProtocolError::Cryptographic { what: "MESSAGE" })?;
        // Only a box that opened moves the nonce on: garbage cannot push it out of reach.
        self.last_nonce = nonce;
        let flags = text[0];
        let body = text.split_off(1).freeze();
        Ok(OpenedFrame {
            more: flags & INNER_MORE != 0,
            command: flags & INNER_COMMAND != 0,
            body,
        })
    }
}

/// A CURVE connection's two directions, handed from the handshake to the traffic codec.
#[derive(Debug)]
pub struct Encryption {
    /// Boxes what we send.
    pub encoder: CurveEncoder,
    /// Opens what the peer sends.
    pub decoder: CurveDecoder,
}

/// A MESSAGE frame as [`CurveEncoder`] writes it, without the frame header: for tests and
/// fuzzing, which build boxes by hand.
pub fn seal_message_body(
    encoder: &mut CurveEncoder,
    more: bool,
    command: bool,
    body: &[u8],
) -> Bytes {
    let mut out = BytesMut::new();
    encoder.seal_frame(more, command, body, &mut out);
    let header = out.len() - CurveEncoder::boxed_len(body.len());
    out.split_off(header).freeze()
}
