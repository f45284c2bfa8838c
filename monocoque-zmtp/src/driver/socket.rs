//! The socket handle: endpoints, sending and receiving, closing.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;
use compio::runtime::JoinHandle;
use monocoque_core::{Endpoint, EndpointError, Message, PeerId};

use super::connection::{ConnectionEnd, PipeFor, serve};
use super::options::SocketOptions;
use super::shared::Shared;
use super::transport::{self, Listener};
use crate::proto::{Origin, RecvError, SendError, SendErrorKind, SocketType};

/// Errors of `bind`, `connect`, `unbind` and `disconnect`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The endpoint string does not parse.
    #[error("invalid endpoint: {0}")]
    Endpoint(#[from] EndpointError),
    /// Binding failed (address in use, permission, unknown host...).
    #[error("cannot bind {endpoint}: {source}")]
    Bind {
        /// The endpoint as given.
        endpoint: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// `unbind` of an endpoint this socket is not bound to.
    #[error("not bound to {0}")]
    NotBound(String),
    /// `disconnect` of an endpoint this socket is not connected to.
    #[error("not connected to {0}")]
    NotConnected(String),
}

/// A ZeroMQ socket of any type on the current compio runtime.
///
/// Created on a compio runtime thread and used there: its tasks run on that thread, and the
/// handle is not `Send`. Dropping it closes every connection at once, discarding unsent
/// messages; [`close`](Self::close) sends them first.
#[derive(Debug)]
pub struct Socket {
    shared: Rc<Shared>,
    endpoints: RefCell<Endpoints>,
}

#[derive(Debug, Default)]
struct Endpoints {
    bound: Vec<Bound>,
    connected: Vec<Connected>,
    last: Option<Endpoint>,
}

#[derive(Debug)]
struct Bound {
    requested: Endpoint,
    actual: Endpoint,
    accept: JoinHandle<()>,
    connections: Rc<RefCell<Vec<JoinHandle<()>>>>,
}

#[derive(Debug)]
struct Connected {
    endpoint: Endpoint,
    task: JoinHandle<()>,
}

impl Socket {
    /// A socket of `socket_type` with `options`.
    pub fn new(socket_type: SocketType, options: SocketOptions) -> Self {
        Self {
            shared: Rc::new(Shared::new(socket_type, options)),
            endpoints: RefCell::default(),
        }
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        self.shared.socket_type
    }

    /// Listens on `endpoint` (`tcp://host:port`, `tcp://*:port`, `tcp://127.0.0.1:0`,
    /// `ipc:///path`, `ipc://@name`) and returns the endpoint as bound, with the real port.
    pub async fn bind(&self, endpoint: &str) -> Result<Endpoint, Error> {
        let requested: Endpoint = endpoint.parse()?;
        let (listener, actual) =
            Listener::bind(&requested)
                .await
                .map_err(|source| Error::Bind {
                    endpoint: endpoint.to_owned(),
                    source,
                })?;
        let connections = Rc::new(RefCell::new(Vec::new()));
        let accept = compio::runtime::spawn(accept_loop(
            self.shared.clone(),
            listener,
            connections.clone(),
        ));
        let mut endpoints = self.endpoints.borrow_mut();
        endpoints.last = Some(actual.clone());
        endpoints.bound.push(Bound {
            requested,
            actual: actual.clone(),
            accept,
            connections,
        });
        Ok(actual)
    }

    /// Connects to `endpoint` in the background, reconnecting whenever the connection is lost.
    ///
    /// Returns at once, as libzmq does: messages sent meanwhile wait in this endpoint's queue
    /// (up to the send high-water mark) and leave when the connection is up.
    pub fn connect(&self, endpoint: &str) -> Result<(), Error> {
        let endpoint: Endpoint = endpoint.parse()?;
        let id = self.shared.attach(Origin::Connect);
        let task = compio::runtime::spawn(connect_loop(self.shared.clone(), endpoint.clone(), id));
        let mut endpoints = self.endpoints.borrow_mut();
        endpoints.last = Some(endpoint.clone());
        endpoints.connected.push(Connected { endpoint, task });
        Ok(())
    }

    /// Stops listening on `endpoint` (as given to `bind`, or as returned by it) and closes the
    /// connections accepted there.
    pub fn unbind(&self, endpoint: &str) -> Result<(), Error> {
        let wanted: Endpoint = endpoint.parse()?;
        let removed = {
            let mut endpoints = self.endpoints.borrow_mut();
            let pos = endpoints
                .bound
                .iter()
                .position(|b| b.actual == wanted || b.requested == wanted)
                .ok_or_else(|| Error::NotBound(endpoint.to_owned()))?;
            endpoints.bound.remove(pos)
        };
        // Dropping the handles cancels the tasks; their guards detach the pipes.
        drop(removed.accept);
        let connections = std::mem::take(&mut *removed.connections.borrow_mut());
        drop(connections);
        Ok(())
    }

    /// Stops connecting to `endpoint` and drops its queue.
    pub fn disconnect(&self, endpoint: &str) -> Result<(), Error> {
        let wanted: Endpoint = endpoint.parse()?;
        let removed = {
            let mut endpoints = self.endpoints.borrow_mut();
            let pos = endpoints
                .connected
                .iter()
                .position(|c| c.endpoint == wanted)
                .ok_or_else(|| Error::NotConnected(endpoint.to_owned()))?;
            endpoints.connected.remove(pos)
        };
        drop(removed.task);
        Ok(())
    }

    /// The endpoint of the last `bind` (with its real port) or `connect` (libzmq's
    /// `ZMQ_LAST_ENDPOINT`).
    pub fn last_endpoint(&self) -> Option<Endpoint> {
        self.endpoints.borrow().last.clone()
    }

    /// Sends a message, waiting while the pattern has no peer that can take it.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        let mut message = message.into();
        loop {
            let listener = self.shared.send_ready.listen();
            match self.try_send(message) {
                Err(error) if error.kind == SendErrorKind::WouldBlock => message = error.message,
                other => return other,
            }
            listener.await;
        }
    }

    /// Sends a message if that is possible without waiting.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        self.shared.with_core(|core| core.send(message.into()))
    }

    /// Receives a message, waiting for one.
    pub async fn recv(&self) -> Result<Message, RecvError> {
        loop {
            let listener = self.shared.recv_ready.listen();
            match self.try_recv() {
                Err(RecvError::WouldBlock) => {}
                other => return other,
            }
            listener.await;
        }
    }

    /// Receives a message if one is ready.
    pub fn try_recv(&self) -> Result<Message, RecvError> {
        let result = self.shared.with_core(|core| core.recv());
        if result.is_ok() && self.shared.core.borrow().can_recv() {
            // Another task waiting on this socket can take the next one.
            self.shared.recv_ready.notify(1);
        }
        result
    }

    /// Subscribes to messages starting with `topic` (SUB and XSUB; ignored by other types).
    pub fn subscribe(&self, topic: impl Into<Bytes>) {
        self.shared.with_core(|core| core.subscribe(topic));
    }

    /// Cancels one subscription to `topic` (SUB and XSUB).
    pub fn unsubscribe(&self, topic: impl Into<Bytes>) {
        self.shared.with_core(|core| core.unsubscribe(topic));
    }

    /// The number of peers with a live connection.
    pub fn connected_peers(&self) -> usize {
        let core = self.shared.core.borrow();
        core.pipes()
            .ids()
            .iter()
            .filter(|id| core.pipes().get(**id).is_some_and(|p| p.peer().is_some()))
            .count()
    }

    /// Waits until every queued message has been written (to a peer that is connected, or to
    /// the peer of a `connect` endpoint once it connects), for at most the linger time, then
    /// closes. Dropping the socket instead closes at once and discards what is queued.
    pub async fn close(self) {
        let flushed = async {
            loop {
                let listener = self.shared.flushed.listen();
                if self.shared.is_flushed() {
                    break;
                }
                listener.await;
            }
        };
        match self.shared.options.linger {
            Some(linger) => {
                let _ = compio::time::timeout(linger, flushed).await;
            }
            None => flushed.await,
        }
    }

    /// Pipe ids, for tests.
    #[doc(hidden)]
    pub fn pipe_ids(&self) -> Vec<PeerId> {
        self.shared.core.borrow().pipes().ids().to_vec()
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // Take the handles out first: cancelling a task runs its guards, which use the socket.
        let endpoints = std::mem::take(&mut *self.endpoints.borrow_mut());
        for signals in self.shared.all_signals() {
            signals.close();
        }
        for bound in endpoints.bound {
            drop(bound.accept);
            let connections = std::mem::take(&mut *bound.connections.borrow_mut());
            drop(connections);
        }
        drop(endpoints.connected);
    }
}

async fn accept_loop(
    shared: Rc<Shared>,
    listener: Listener,
    connections: Rc<RefCell<Vec<JoinHandle<()>>>>,
) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let task = compio::runtime::spawn({
                    let shared = shared.clone();
                    async move {
                        let _end = serve(shared, stream, PipeFor::Accepted).await;
                    }
                });
                let mut connections = connections.borrow_mut();
                connections.retain(|c| !c.is_finished());
                connections.push(task);
            }
            // Out of file descriptors and the like: give the system a moment instead of spinning.
            Err(_) => compio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
}

async fn connect_loop(shared: Rc<Shared>, endpoint: Endpoint, id: PeerId) {
    // The pipe belongs to this task: cancelling it (disconnect, drop) removes the pipe.
    let _owner = PipeOwner {
        shared: shared.clone(),
        id,
    };
    loop {
        if let Ok(stream) = transport::connect(&endpoint).await {
            if let ConnectionEnd::Protocol(_) =
                serve(shared.clone(), stream, PipeFor::Connecting(id)).await
            {
                // As libzmq: a peer that breaks the protocol (wrong socket type, bad greeting,
                // an ERROR command) is not retried; the endpoint and its queue are dropped.
                return;
            }
        }
        compio::time::sleep(shared.options.reconnect_interval).await;
    }
}

struct PipeOwner {
    shared: Rc<Shared>,
    id: PeerId,
}

impl Drop for PipeOwner {
    fn drop(&mut self) {
        self.shared.detach(self.id);
    }
}
