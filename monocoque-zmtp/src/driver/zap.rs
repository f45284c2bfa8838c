//! The ZAP client (RFC 27): a PLAIN or CURVE server without an authenticator of its own asks the
//! handler bound at `inproc://zeromq.zap.01`, as libzmq does. A REP (or ROUTER) socket bound
//! there in the same process answers for every server of the process, as a pyzmq or libzmq ZAP
//! handler thread does for its context.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;
use compio::runtime::JoinHandle;

use super::inproc;
use super::options::SocketOptions;
use super::socket::Socket;
use crate::proto::{AuthDecision, AuthQuery, SocketType, parse_zap_reply};

/// Where a ZAP handler (RFC 27) binds, as in libzmq. While a socket of this process is bound
/// there, PLAIN and CURVE servers without an authenticator of their own ask it about each
/// client: a REP socket receives `1.0`, the request id, the domain, the client's address, an
/// empty identity, the mechanism and its credentials (user name and password, or the client's
/// 32-byte public key), and replies `1.0`, the request id, a status (`200`, `300`, `400`,
/// `500`), a status text, the user id and empty metadata.
///
/// ```
/// use monocoque::{Message, ZAP_ENDPOINT};
///
/// assert_eq!(ZAP_ENDPOINT, "inproc://zeromq.zap.01");
/// // What a handler sends back to let a client in as `admin`:
/// fn allow(request: &Message) -> Message {
///     let id = request.frames()[1].clone();
///     Message::from_iter(["1.0".into(), id, "200".into(), "OK".into(), "admin".into(), "".into()])
/// }
/// let request = Message::from_iter(["1.0", "7", "", "127.0.0.1:1", "", "PLAIN", "admin", "pw"]);
/// assert_eq!(allow(&request).frames()[1], "7");
/// ```
pub const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

const REFUSED: AuthDecision = AuthDecision::Deny { status: 500 };

/// Whether a ZAP handler is bound in this process: servers without an authenticator ask it.
pub(crate) fn handler_bound() -> bool {
    inproc::is_bound(&ZAP_ENDPOINT["inproc://".len()..])
}

type Waiting = Rc<RefCell<HashMap<Bytes, flume::Sender<AuthDecision>>>>;

/// One socket's line to the ZAP handler: a DEALER, and the requests waiting for their reply.
pub(crate) struct ZapClient {
    socket: Rc<Socket>,
    waiting: Waiting,
    next_id: Cell<u64>,
    _replies: JoinHandle<()>,
}

impl std::fmt::Debug for ZapClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZapClient")
            .field("waiting", &self.waiting.borrow().len())
            .finish_non_exhaustive()
    }
}

impl ZapClient {
    pub(crate) fn new() -> Option<Self> {
        let socket = Rc::new(Socket::new(SocketType::Dealer, SocketOptions::new()).ok()?);
        socket.connect(ZAP_ENDPOINT).ok()?;
        let waiting = Waiting::default();
        let replies = compio::runtime::spawn({
            let (socket, waiting) = (socket.clone(), waiting.clone());
            async move {
                while let Ok(reply) = socket.recv().await {
                    // A reply that does not parse refuses its request (500), as libzmq's;
                    // one without a request id answers nobody.
                    let (id, decision) = match parse_zap_reply(&reply) {
                        Some(parsed) => parsed,
                        None => match reply.frames().get(2) {
                            Some(id) => (id.clone(), REFUSED),
                            None => continue,
                        },
                    };
                    if let Some(waiter) = waiting.borrow_mut().remove(&id) {
                        let _ = waiter.send(decision);
                    }
                }
            }
        });
        Some(Self {
            socket,
            waiting,
            next_id: Cell::new(1),
            _replies: replies,
        })
    }

    /// Puts `query` to the handler and waits for its decision (the handshake's deadline bounds
    /// the wait: a connection that times out drops this future, and its entry with it).
    pub(crate) async fn ask(&self, query: AuthQuery) -> AuthDecision {
        let id = Bytes::from(self.next_id.get().to_string());
        self.next_id.set(self.next_id.get() + 1);
        let (tx, rx) = flume::bounded(1);
        self.waiting.borrow_mut().insert(id.clone(), tx);
        let _forget = Forget(self.waiting.clone(), id.clone());
        if self.socket.send(query.zap_request(id)).await.is_err() {
            return REFUSED;
        }
        rx.recv_async().await.unwrap_or(REFUSED)
    }
}

/// Drops a request's entry however its wait ends.
struct Forget(Waiting, Bytes);

impl Drop for Forget {
    fn drop(&mut self) {
        self.0.borrow_mut().remove(&self.1);
    }
}
