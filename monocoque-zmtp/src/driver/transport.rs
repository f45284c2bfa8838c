//! The byte streams a connection runs over, and how endpoints become listeners and streams.

use std::io;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use compio::BufResult;
use compio::buf::{IoBuf, IoBufMut, IoVectoredBuf};
use compio::io::{AsyncRead, AsyncWrite};
use compio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use monocoque_core::{Endpoint, Host, IpcAddr, TcpEndpoint};
use socket2::{SockAddr, SockRef, TcpKeepalive};

use super::options::SocketOptions;

/// A connected byte stream: TCP or a Unix domain socket.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// Two handles on the same socket, one for the reading task and one for the writing task.
    pub(crate) fn split(self) -> (Self, Self) {
        match self {
            Self::Tcp(s) => {
                let (r, w) = s.into_split();
                (Self::Tcp(r), Self::Tcp(w))
            }
            Self::Unix(s) => {
                let (r, w) = s.into_split();
                (Self::Unix(r), Self::Unix(w))
            }
        }
    }

    /// The peer's address (`ip:port` for TCP; none for Unix sockets).
    pub(crate) fn peer_address(&self) -> Option<String> {
        match self {
            Self::Tcp(s) => s.peer_addr().ok().map(|a| a.to_string()),
            Self::Unix(_) => None,
        }
    }

    /// Applies the socket options that live on the connection itself. Failures are ignored, as
    /// in libzmq: the connection works without them.
    pub(crate) fn apply_options(&self, options: &SocketOptions) {
        let socket = match self {
            Self::Tcp(s) => SockRef::from(s),
            Self::Unix(s) => SockRef::from(s),
        };
        if let Some(bytes) = options.send_buffer {
            let _ = socket.set_send_buffer_size(bytes);
        }
        if let Some(bytes) = options.recv_buffer {
            let _ = socket.set_recv_buffer_size(bytes);
        }
        if let (Self::Tcp(_), Some(keepalive)) = (self, options.tcp_keepalive) {
            match keepalive {
                None => {
                    let _ = socket.set_keepalive(false);
                }
                Some(settings) => {
                    let mut params = TcpKeepalive::new();
                    if let Some(idle) = settings.idle {
                        params = params.with_time(idle);
                    }
                    if let Some(interval) = settings.interval {
                        params = params.with_interval(interval);
                    }
                    if let Some(count) = settings.count {
                        params = params.with_retries(count);
                    }
                    let _ = socket.set_tcp_keepalive(&params);
                }
            }
        }
    }

    fn tcp(stream: TcpStream) -> io::Result<Self> {
        // ZeroMQ messages are latency-sensitive and already batched by the writer.
        stream.set_nodelay(true)?;
        Ok(Self::Tcp(stream))
    }
}

impl AsyncRead for Stream {
    async fn read<B: IoBufMut>(&mut self, buf: B) -> BufResult<usize, B> {
        match self {
            Self::Tcp(s) => s.read(buf).await,
            Self::Unix(s) => s.read(buf).await,
        }
    }
}

impl AsyncWrite for Stream {
    async fn write<B: IoBuf>(&mut self, buf: B) -> BufResult<usize, B> {
        match self {
            Self::Tcp(s) => s.write(buf).await,
            Self::Unix(s) => s.write(buf).await,
        }
    }

    async fn write_vectored<B: IoVectoredBuf>(&mut self, buf: B) -> BufResult<usize, B> {
        match self {
            Self::Tcp(s) => s.write_vectored(buf).await,
            Self::Unix(s) => s.write_vectored(buf).await,
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.flush().await,
            Self::Unix(s) => s.flush().await,
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.shutdown().await,
            Self::Unix(s) => s.shutdown().await,
        }
    }
}

/// A bound listener.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(TcpListener),
    /// The path is removed when the listener goes away, as libzmq does.
    Unix(UnixListener, Option<PathBuf>),
}

impl Listener {
    /// Binds `endpoint` and returns the listener with the endpoint as bound (the real port when
    /// port 0 or `*` was asked for).
    pub(crate) async fn bind(endpoint: &Endpoint) -> io::Result<(Self, Endpoint)> {
        match endpoint {
            Endpoint::Tcp(tcp) => {
                let addr = resolve(tcp, true).await?;
                let listener = TcpListener::bind(addr).await?;
                let local = listener.local_addr()?;
                Ok((Self::Tcp(listener), Endpoint::from(local)))
            }
            Endpoint::Ipc(IpcAddr::Path(path)) => {
                remove_stale_socket(path);
                let listener = UnixListener::bind(path).await?;
                Ok((Self::Unix(listener, Some(path.clone())), endpoint.clone()))
            }
            Endpoint::Ipc(IpcAddr::Abstract(name)) => {
                let listener = UnixListener::bind_addr(&abstract_addr(name)?).await?;
                Ok((Self::Unix(listener, None), endpoint.clone()))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "unsupported transport",
            )),
        }
    }

    /// Accepts the next connection.
    pub(crate) async fn accept(&self) -> io::Result<Stream> {
        match self {
            Self::Tcp(listener) => Stream::tcp(listener.accept().await?.0),
            Self::Unix(listener, _) => Ok(Stream::Unix(listener.accept().await?.0)),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Self::Unix(_, Some(path)) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Opens a connection to `endpoint`, resolving host names now (libzmq resolves at connect time
/// too, and again on each reconnection).
pub(crate) async fn connect(endpoint: &Endpoint) -> io::Result<Stream> {
    match endpoint {
        Endpoint::Tcp(tcp) => {
            let addr = resolve(tcp, false).await?;
            Stream::tcp(TcpStream::connect(addr).await?)
        }
        Endpoint::Ipc(IpcAddr::Path(path)) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
        Endpoint::Ipc(IpcAddr::Abstract(name)) => Ok(Stream::Unix(
            UnixStream::connect_addr(&abstract_addr(name)?).await?,
        )),
        _ => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "unsupported transport",
        )),
    }
}

async fn resolve(tcp: &TcpEndpoint, binding: bool) -> io::Result<SocketAddr> {
    let port = tcp.port().unwrap_or(0);
    if let Some(ip) = tcp.host().ip() {
        return Ok(SocketAddr::new(ip, port));
    }
    let Host::Name(name) = tcp.host() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no address to bind",
        ));
    };
    if !binding && port == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot connect to port 0",
        ));
    }
    let name = name.clone();
    let addrs = compio::runtime::spawn_blocking(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), port))
    })
    .await
    .map_err(|_| io::Error::other("name resolution task failed"))??;
    let mut addrs: Vec<SocketAddr> = addrs.collect();
    // Prefer IPv4 as libzmq does unless IPv6 is asked for.
    addrs.sort_by_key(SocketAddr::is_ipv6);
    addrs
        .into_iter()
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "host name has no address"))
}

fn abstract_addr(name: &str) -> io::Result<SockAddr> {
    // A Linux abstract address is a sun_path that starts with a NUL byte; socket2 keeps its
    // exact length instead of treating it as a C string.
    let mut path = Vec::with_capacity(name.len() + 1);
    path.push(0u8);
    path.extend_from_slice(name.as_bytes());
    SockAddr::unix(std::ffi::OsStr::from_bytes(&path))
}

/// Removes a leftover socket file from an earlier process, but never a regular file.
fn remove_stale_socket(path: &std::path::Path) {
    use std::os::unix::fs::FileTypeExt;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}
