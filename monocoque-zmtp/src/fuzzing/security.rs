//! The fuzz entry points of the security mechanisms: PLAIN's commands, CURVE's handshake, and
//! CURVE's traffic decoder.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};

use crate::proto::curve::fixed_pair;
use crate::proto::curve::{
    CurveClient, CurveKeyPair, CurveSecretKey, CurveServer, seal_message_body,
};
use crate::proto::{
    AuthContext, AuthDecision, AuthRequest, Inbound, Mechanism, MechanismStatus, MessageDecoder,
    Metadata, PlainClient, PlainServer, ProtocolError, SharedAuthenticator, SocketType,
};

/// Splits `data` into length-prefixed pieces (one length byte each).
fn pieces(mut data: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (&len, rest) = data.split_first()?;
        let len = usize::from(len).min(rest.len());
        let (piece, rest) = rest.split_at(len);
        data = rest;
        Some(piece)
    })
}

fn authenticator(allow: bool) -> AuthContext {
    AuthContext {
        authenticator: Some(SharedAuthenticator(Arc::new(move |_: &AuthRequest<'_>| {
            if allow {
                AuthDecision::Allow {
                    user_id: Bytes::from_static(b"fuzz"),
                }
            } else {
                AuthDecision::Deny { status: 400 }
            }
        }))),
        ..AuthContext::default()
    }
}

/// PLAIN's two sides fed arbitrary commands (length-prefixed pieces of the input after a mode
/// byte). A server must ask its authenticator about exactly the credentials a HELLO carried.
pub fn plain(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let local = Metadata::for_socket(SocketType::Rep, None);
    let mut out = Vec::new();
    let asked = Arc::new(Mutex::new(Vec::<(Vec<u8>, Vec<u8>)>::new()));
    let log = asked.clone();
    let server = mode & 1 == 0;
    let mut mechanism: Box<dyn Mechanism> = if server {
        let allow = mode & 2 != 0;
        Box::new(PlainServer::new(AuthContext {
            authenticator: Some(SharedAuthenticator(Arc::new(
                move |request: &AuthRequest<'_>| {
                    let user = request.username.unwrap_or_default().to_vec();
                    let pass = request.password.unwrap_or_default().to_vec();
                    if let Ok(mut log) = log.lock() {
                        log.push((user, pass));
                    }
                    if allow {
                        AuthDecision::Allow {
                            user_id: Bytes::new(),
                        }
                    } else {
                        AuthDecision::Deny { status: 400 }
                    }
                },
            ))),
            ..AuthContext::default()
        }))
    } else {
        match PlainClient::new("user", "password") {
            Some(client) => Box::new(client),
            None => return,
        }
    };
    mechanism.start(&local, &mut out);
    for piece in pieces(rest) {
        let asked_before = asked.lock().map(|log| log.len()).unwrap_or(0);
        let result = mechanism.receive(Bytes::copy_from_slice(piece), &mut out);
        let log = asked.lock().map(|log| log.clone()).unwrap_or_default();
        if log.len() > asked_before {
            // Whatever reached the authenticator was a well-formed HELLO with these credentials.
            let (user, pass) = &log[log.len() - 1];
            let mut hello = b"\x05HELLO".to_vec();
            hello.push(user.len() as u8);
            hello.extend_from_slice(user);
            hello.push(pass.len() as u8);
            hello.extend_from_slice(pass);
            assert_eq!(piece, &hello[..], "the authenticator saw other credentials");
        }
        match result {
            Ok(MechanismStatus::InProgress) => {}
            Ok(MechanismStatus::Complete(metadata)) => {
                let _ = metadata.socket_type();
                break;
            }
            Ok(MechanismStatus::Authenticate(_)) => {
                panic!("a server with an authenticator asks ZAP")
            }
            Err(_) => break,
        }
    }
    assert!(
        mechanism.take_encryption().is_none(),
        "PLAIN does not encrypt"
    );
}

/// A CURVE handshake between a real client and server, with the commands in flight altered as
/// the input says: passed on, a bit flipped, cut short, or replaced by input bytes. Whatever
/// happens must end in an error, or in a handshake whose two ends then understand each other.
pub fn curve_handshake(data: &[u8]) {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let server_secret = CurveSecretKey::from_bytes([mode | 1; 32]);
    let client_keys = CurveKeyPair::from_secret(CurveSecretKey::from_bytes([0x55; 32]));
    let client_public = client_keys.public;
    let mut client = CurveClient::new(client_keys, server_secret.public_key());
    // Bit 2: refuse; bit 4: leave the decision to a ZAP handler, asked and answered here.
    let auth = if mode & 4 != 0 {
        AuthContext {
            deferred: Some(|| true),
            ..AuthContext::default()
        }
    } else {
        authenticator(mode & 2 == 0)
    };
    let mut server = CurveServer::new(server_secret, auth);
    let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
    client.start(
        &Metadata::for_socket(SocketType::Dealer, None),
        &mut to_server,
    );
    server.start(
        &Metadata::for_socket(SocketType::Router, None),
        &mut to_client,
    );
    let (mut client_done, mut server_done) = (false, false);
    for _ in 0..8 {
        let (for_server, body) = if !to_server.is_empty() {
            (true, to_server.remove(0))
        } else if !to_client.is_empty() {
            (false, to_client.remove(0))
        } else {
            break;
        };
        let mut next = || {
            let (&b, tail) = rest.split_first().unwrap_or((&0, &[]));
            rest = tail;
            usize::from(b)
        };
        let body = match next() % 4 {
            1 if !body.is_empty() => {
                let (at, bit) = (next() * 7 % body.len(), next() % 8);
                let mut bytes = body.to_vec();
                bytes[at] ^= 1 << bit;
                Bytes::from(bytes)
            }
            2 => body.slice(..next() * body.len() / 256),
            3 => {
                let len = next();
                Bytes::from((0..len).map(|_| next() as u8).collect::<Vec<_>>())
            }
            _ => body,
        };
        let mut result = if for_server {
            server.receive(body, &mut to_client)
        } else {
            client.receive(body, &mut to_server)
        };
        if let Ok(MechanismStatus::Authenticate(query)) = &result {
            assert!(for_server && mode & 4 != 0, "only a deferred server asks");
            assert_eq!(query.curve_key, Some(client_public));
            let decision = if mode & 2 == 0 {
                AuthDecision::Allow {
                    user_id: Bytes::from_static(b"zap"),
                }
            } else {
                AuthDecision::Deny { status: 400 }
            };
            result = server.resume(decision, &mut to_client);
        }
        match result {
            Ok(MechanismStatus::Complete(metadata)) => {
                assert!(metadata.socket_type().is_ok());
                if for_server {
                    server_done = true;
                } else {
                    client_done = true;
                }
            }
            Ok(MechanismStatus::InProgress) => {}
            Ok(MechanismStatus::Authenticate(_)) => panic!("asked twice"),
            Err(ProtocolError::AuthenticationFailed { status }) if for_server => {
                // The server refuses only when its authenticator does, and says what it said.
                assert_eq!(status, 400);
                assert!(mode & 2 != 0);
                return;
            }
            Err(_) => return,
        }
    }
    if client_done && server_done {
        let mut ours = client
            .take_encryption()
            .expect("a done client has its encryption");
        let mut theirs = server
            .take_encryption()
            .expect("a done server has its encryption");
        let sealed = seal_message_body(&mut ours.encoder, false, false, b"check");
        let opened = theirs
            .decoder
            .open(&sealed)
            .expect("the two ends must agree");
        assert_eq!(&opened.body[..], b"check");
        let back = seal_message_body(&mut theirs.encoder, true, false, b"back");
        assert!(ours.decoder.open(&back).expect("both ways").more);
    }
}

/// The CURVE traffic decoder behind a [`MessageDecoder`]: frames sealed from the input, some
/// with a bit flipped, some replayed, some raw input. Only what was sealed and left alone may
/// come out, in order, and nothing after the first bad frame.
pub fn curve_message(data: &[u8]) {
    let (mut client, server) = fixed_pair();
    let mut decoder =
        MessageDecoder::with_limits(Some(1 << 20), (1 << 20) + 64).with_decryption(server.decoder);
    let mut expected: Vec<Bytes> = Vec::new();
    let mut last: Option<Vec<u8>> = None;
    let mut input = BytesMut::new();
    for piece in pieces(data) {
        let Some((&op, body)) = piece.split_first() else {
            continue;
        };
        let mut frame = BytesMut::new();
        match op % 4 {
            0 => {
                client
                    .encoder
                    .seal_frame(op & 4 != 0, false, body, &mut frame);
                expected.push(Bytes::copy_from_slice(body));
            }
            1 => {
                client.encoder.seal_frame(false, false, body, &mut frame);
                let at = usize::from(op) % frame.len();
                frame[at] ^= 0x80;
            }
            2 => match &last {
                Some(previous) => frame.extend_from_slice(previous),
                None => continue,
            },
            _ => frame.extend_from_slice(body),
        }
        last = Some(frame.to_vec());
        input.extend_from_slice(&frame);
        loop {
            match decoder.decode(&mut input) {
                Ok(Some(Inbound::Message(message))) => {
                    assert!(
                        message.len() <= expected.len(),
                        "a frame nobody sealed came out"
                    );
                    let want: Vec<Bytes> = expected.drain(..message.len()).collect();
                    assert_eq!(message.frames(), &want[..]);
                }
                Ok(Some(Inbound::Command(_))) => panic!("no command was sealed"),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_security_targets_run_fixed_inputs() {
        // A clean CURVE handshake both ways (mode 0 allows, 2 denies), with every kind of
        // alteration of each command, and traffic with each kind of frame.
        for mode in [0u8, 2, 4, 6] {
            curve_handshake(&[mode]);
            for op in 0..4u8 {
                for at in [0u8, 1, 7, 100, 255] {
                    curve_handshake(&[mode, op, at, 3, op, at, 5, op, at, 1]);
                }
            }
        }
        let mut traffic = Vec::new();
        for op in [0u8, 4, 0, 1, 0, 2, 3] {
            traffic.extend_from_slice(&[4, op, b'a', b'b', b'c']);
        }
        curve_message(&traffic);
        curve_message(&[1, 0, 5, 2, 1, 2, 3, 4]);
        let mut hello = vec![0u8, 19];
        hello.extend_from_slice(b"\x05HELLO\x04user\x08password");
        plain(&hello);
        plain(&[1, 8, 7, b'W', b'E', b'L', b'C', b'O', b'M', b'E']);
    }

    #[test]
    fn a_sealed_frame_comes_out_and_a_replay_ends_the_stream() {
        let (mut client, server) = fixed_pair();
        let mut decoder = MessageDecoder::new(None).with_decryption(server.decoder);
        let mut frame = BytesMut::new();
        client.encoder.seal_frame(false, false, b"x", &mut frame);
        let mut input = BytesMut::from(&frame[..]);
        input.extend_from_slice(&frame);
        assert!(matches!(
            decoder.decode(&mut input),
            Ok(Some(Inbound::Message(_)))
        ));
        assert!(matches!(
            decoder.decode(&mut input),
            Err(ProtocolError::InvalidNonce { nonce: 3, last: 3 })
        ));
    }
}
