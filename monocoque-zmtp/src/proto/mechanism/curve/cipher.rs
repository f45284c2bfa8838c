//! CURVE traffic: every frame, commands included, travels inside a MESSAGE command, boxed with
//! the connection's short-term keys and a nonce that only goes up.
//!
//! ```text
//! frame (flags 0) = %x07 "MESSAGE" nonce:8 box
//! box             = Box[flags:1 body](C'->S' or S'->C')   ; 16 bytes of tag, then the ciphertext
//! flags           = bit 0: MORE, bit 1: COMMAND
//! ```

use bytes::{BufMut, Bytes, BytesMut};
use poly1305::universal_hash::KeyInit;
use salsa20::XSalsa20;
use salsa20::cipher::consts::U10;
use salsa20::cipher::{KeyIvInit, StreamCipher};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::proto::error::ProtocolError;

/// A secret key, zeroed on drop.
pub(crate) type Secret = Zeroizing<[u8; 32]>;

/// A fresh secret key from the operating system's generator.
pub(crate) fn random_secret() -> Secret {
    let mut secret = Zeroizing::new([0u8; 32]);
    if getrandom::fill(&mut *secret).is_err() {
        // Without the system's generator there is no key to make; a process that cannot read
        // it cannot run CURVE safely at all.
        panic!("the operating system's random generator failed");
    }
    secret
}

/// The public key of `secret` (X25519 of the base point).
pub(crate) fn public_of(secret: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::x25519(*secret, x25519_dalek::X25519_BASEPOINT_BYTES)
}

/// Random bytes for nonces and cookie keys.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if getrandom::fill(&mut bytes).is_err() {
        panic!("the operating system's random generator failed");
    }
    bytes
}

/// Both directions of a connection, from its short-term key agreement.
pub(crate) fn encryption(
    key: TrafficKey,
    (send_prefix, send_next): (&'static [u8; 16], u64),
    (recv_prefix, recv_last): (&'static [u8; 16], u64),
) -> Encryption {
    Encryption {
        encoder: CurveEncoder::new(key.clone(), send_prefix, send_next),
        decoder: CurveDecoder::new(key, recv_prefix, recv_last),
    }
}

/// Below this many bytes a frame's MAC is HACL*'s portable Poly1305 (libcrux); from it on,
/// poly1305's (AVX2 where the CPU has it), whose fixed cost of about 1.4 us only pays off on
/// long input.
const LONG_MAC: usize = 4096;

/// NaCl's `crypto_box` after `beforenm`: the shared key of a connection's two short-term keys,
/// zeroed on drop. The box is the one crypto_box's `SalsaBox` makes, tag first (a test checks
/// they agree byte for byte); it is built here from the same primitives so that short frames do
/// not pay for a MAC set-up meant for long ones.
#[derive(Clone)]
pub(crate) struct TrafficKey(Zeroizing<[u8; 32]>);

impl TrafficKey {
    /// `crypto_box_beforenm`: the key of `ours` and `peer`. A peer key of low order makes a
    /// shared secret of zeros, which anyone can compute: refused, as libsodium refuses it.
    pub(crate) fn agree(
        peer: &[u8; 32],
        ours: &[u8; 32],
        what: &'static str,
    ) -> Result<Self, ProtocolError> {
        let shared = Zeroizing::new(x25519_dalek::x25519(*ours, *peer));
        if bool::from(shared.ct_eq(&[0u8; 32])) {
            return Err(ProtocolError::Cryptographic { what });
        }
        let mut key = salsa20::hsalsa::<U10>((&*shared).into(), &Default::default());
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&key);
        key.as_mut_slice().zeroize();
        Ok(Self(bytes))
    }

    /// `crypto_secretbox` with `key` (the server's cookie).
    pub(crate) fn secretbox(key: &[u8; 32]) -> Self {
        Self(Zeroizing::new(*key))
    }

    /// The stream for `nonce`, and the one-time MAC key it starts with.
    fn stream(&self, nonce: &[u8; 24]) -> (XSalsa20, Zeroizing<[u8; 32]>) {
        let mut stream = XSalsa20::new((&*self.0).into(), nonce.into());
        let mut mac_key = Zeroizing::new([0u8; 32]);
        stream.apply_keystream(&mut *mac_key);
        (stream, mac_key)
    }

    fn mac(key: &[u8; 32], data: &[u8]) -> [u8; TAG_LEN] {
        let mut tag = [0u8; TAG_LEN];
        if data.len() < LONG_MAC {
            // Fails only for input past 2^32 bytes, which a short frame is not.
            let _ = libcrux_poly1305::mac(key, data, &mut tag);
        } else {
            tag.copy_from_slice(&poly1305::Poly1305::new(key.into()).compute_unpadded(data));
        }
        tag
    }

    /// Encrypts `text` in place; returns its tag.
    pub(crate) fn seal(&self, nonce: &[u8; 24], text: &mut [u8]) -> [u8; TAG_LEN] {
        let (mut stream, mac_key) = self.stream(nonce);
        stream.apply_keystream(text);
        Self::mac(&mac_key, text)
    }

    /// Checks `tag`, then decrypts `text` in place; on a bad tag `text` is left as it was.
    pub(crate) fn open(&self, nonce: &[u8; 24], text: &mut [u8], tag: &[u8]) -> Result<(), ()> {
        let (mut stream, mac_key) = self.stream(nonce);
        if !bool::from(Self::mac(&mac_key, text).ct_eq(tag)) {
            return Err(());
        }
        stream.apply_keystream(text);
        Ok(())
    }
}

use crate::proto::frame::encode_frame_header;

const MESSAGE: &[u8; 8] = b"\x07MESSAGE";
const TAG_LEN: usize = 16;
/// `%x07 MESSAGE`, the short nonce and the tag: what a MESSAGE adds to a frame besides its flags.
pub(crate) const MESSAGE_OVERHEAD: usize = MESSAGE.len() + 8 + TAG_LEN;

const INNER_MORE: u8 = 0x01;
const INNER_COMMAND: u8 = 0x02;

fn full_nonce(prefix: &[u8; 16], short: u64) -> [u8; 24] {
    let mut nonce = [0u8; 24];
    nonce[..16].copy_from_slice(prefix);
    nonce[16..].copy_from_slice(&short.to_be_bytes());
    nonce
}

/// Our side of a CURVE connection's traffic: boxes each outgoing frame.
pub struct CurveEncoder {
    cipher: TrafficKey,
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
    pub(crate) fn new(cipher: TrafficKey, prefix: &'static [u8; 16], next_nonce: u64) -> Self {
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
            .seal(&full_nonce(self.prefix, nonce), &mut out[text_at..]);
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
    cipher: TrafficKey,
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
    pub(crate) fn new(cipher: TrafficKey, prefix: &'static [u8; 16], last_nonce: u64) -> Self {
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
        let mut text = BytesMut::from(&frame[MESSAGE_OVERHEAD..]);
        self.cipher
            .open(
                &full_nonce(self.prefix, nonce),
                &mut text,
                &frame[16..MESSAGE_OVERHEAD],
            )
            .map_err(|()| ProtocolError::Cryptographic { what: "MESSAGE" })?;
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

#[cfg(test)]
mod tests {
    use crypto_box::SalsaBox;
    use crypto_box::aead::{AeadInPlace, OsRng};

    use super::*;

    #[test]
    fn the_traffic_box_is_crypto_box_byte_for_byte_on_both_sides_of_the_mac_switch() {
        for len in [
            0, 1, 15, 16, 17, 64, 65, 100, 1000, 4095, 4096, 4097, 70_000,
        ] {
            let (a, b) = (
                crypto_box::SecretKey::generate(&mut OsRng),
                crypto_box::SecretKey::generate(&mut OsRng),
            );
            let ours = TrafficKey::agree(b.public_key().as_bytes(), &a.to_bytes(), "test").unwrap();
            assert_eq!(public_of(&a.to_bytes()), *a.public_key().as_bytes());
            let theirs = SalsaBox::new(&a.public_key(), &b);
            let nonce = full_nonce(b"CurveZMQMESSAGEC", len as u64 + 7);
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();

            let mut sealed = plain.clone();
            let tag = ours.seal(&nonce, &mut sealed);
            let mut reference = plain.clone();
            let reference_tag = theirs
                .encrypt_in_place_detached((&nonce).into(), b"", &mut reference)
                .unwrap();
            assert_eq!(sealed, reference, "{len}");
            assert_eq!(&tag[..], &reference_tag[..], "{len}");

            let mut opened = sealed.clone();
            ours.open(&nonce, &mut opened, &tag).unwrap();
            assert_eq!(opened, plain);
            if len > 0 {
                let mut tampered = sealed.clone();
                tampered[len / 2] ^= 1;
                assert!(ours.open(&nonce, &mut tampered, &tag).is_err());
            }
            let mut bad_tag = tag;
            bad_tag[0] ^= 0x80;
            assert!(ours.open(&nonce, &mut sealed, &bad_tag).is_err());
        }
    }

    #[test]
    fn a_low_order_peer_key_is_refused() {
        let ours = random_secret();
        // Zero, and the other low-order points of Curve25519 in their usual encodings.
        let mut order_eight = [0u8; 32];
        order_eight[0] = 1;
        for point in [[0u8; 32], order_eight] {
            assert_eq!(
                TrafficKey::agree(&point, &ours, "HELLO").err(),
                Some(ProtocolError::Cryptographic { what: "HELLO" })
            );
        }
        assert!(TrafficKey::agree(&public_of(&random_secret()), &ours, "HELLO").is_ok());
    }
}
