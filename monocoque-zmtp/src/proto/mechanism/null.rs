use bytes::Bytes;

use super::{Mechanism, MechanismStatus};
use crate::proto::command::Command;
use crate::proto::error::ProtocolError;
use crate::proto::greeting::{Greeting, MechanismName};
use crate::proto::metadata::Metadata;

/// The NULL mechanism: no authentication, no encryption; each side sends READY with its metadata.
///
/// Like libzmq, both sides send READY as soon as the greetings are exchanged instead of the client
/// waiting for the server, which saves a round trip and is what RFC 37's peers accept.
///
/// ```
/// use monocoque::proto::{Greeting, Mechanism, MechanismName, Null, ProtocolError};
/// let null = Null::new();
/// assert_eq!(null.name(), MechanismName::NULL);
/// let as_server = Greeting::new(MechanismName::NULL, true);
/// assert_eq!(null.check_peer_greeting(&as_server), Err(ProtocolError::NullAsServer));
/// ```
#[derive(Debug, Default)]
pub struct Null {
    _private: (),
}

impl Null {
    /// A NULL mechanism for one connection.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Mechanism for Null {
    fn name(&self) -> MechanismName {
        MechanismName::NULL
    }

    fn as_server(&self) -> bool {
        false
    }

    fn check_peer_greeting(&self, peer: &Greeting) -> Result<(), ProtocolError> {
        // > When a peer uses the NULL security mechanism, the as-server field MUST be zero.
        if peer.as_server {
            Err(ProtocolError::NullAsServer)
        } else {
            Ok(())
        }
    }

    fn start(&mut self, local: &Metadata, out: &mut Vec<Bytes>) {
        out.push(Command::Ready(local.clone()).to_bytes());
    }

    fn receive(
        &mut self,
        command: Bytes,
        _out: &mut Vec<Bytes>,
    ) -> Result<MechanismStatus, ProtocolError> {
        match Command::parse(command)? {
            Command::Ready(metadata) => Ok(MechanismStatus::Complete(metadata)),
            // > The peer SHALL treat an incoming ERROR command as fatal.
            Command::Error(reason) => Err(ProtocolError::PeerError { reason }),
            other => Err(ProtocolError::UnexpectedCommand {
                name: Bytes::copy_from_slice(other.name()),
            }),
        }
    }
}
