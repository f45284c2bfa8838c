//! The byte streams a connection runs over, and how endpoints become listeners and streams.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use compio::BufResult;
use compio::buf::{IoBuf, IoBufMut, IoVectoredBuf};
use compio::io::{AsyncRead, AsyncWrite};
use compio::net::{TcpListener, TcpSocket, TcpStream, UnixListener, UnixStream};
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
    /// The peer's IP address (TCP), which the cap on pending handshakes counts by.
    pub(crate) fn peer_ip(&self) -> Option<IpAddr> {
        match self {
            Self::Tcp(s) => s.peer_addr().ok().map(|a| a.ip()),
            Self::Unix(_) => None,
        }
    }

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
        if let Self::Tcp(stream) = self {
            if let Some(timeout) = options.tcp_max_retransmit {
                set_user_timeout(&socket, timeout);
            }
            if let Some(tos) = options.tos {
                // Accepted connections do not inherit it from the listener everywhere.
                let ipv6 = stream.local_addr().is_ok_and(|a| a.is_ipv6());
                set_tos(&socket, ipv6, tos);
            }
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

#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_user_timeout(socket: &SockRef<'_>, timeout: Duration) {
    let _ = socket.set_tcp_user_timeout(Some(timeout).filter(|t| !t.is_zero()));
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_user_timeout(_socket: &SockRef<'_>, _timeout: Duration) {}

/// The file a Unix listener bound, identified by its inode: a listener that goes away after
/// another socket was bound at the same path (a restarted service) must not remove the newer
/// socket's file.
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    id: (u64, u64),
}

impl SocketFile {
    fn created(path: &std::path::Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::symlink_metadata(path).ok()?;
        Some(Self {
            path: path.to_owned(),
            id: (meta.dev(), meta.ino()),
        })
    }

    fn remove(&self) {
        use std::os::unix::fs::MetadataExt;
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.id) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A bound listener.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(TcpListener),
    /// The path is removed when the listener goes away, as libzmq does.
    Unix(UnixListener, Option<SocketFile>),
}

impl Listener {
    /// Binds `endpoint` and returns the listener with the endpoint as bound (the real port when
    /// port 0 or `*` was asked for).
    pub(crate) async fn bind(
        endpoint: &Endpoint,
        options: &SocketOptions,
    ) -> io::Result<(Self, Endpoint)> {
        match endpoint {
            Endpoint::Tcp(tcp) => {
                let port = tcp.port().unwrap_or(0);
                let ip = resolve_local(tcp.host(), options.ipv6).await?;
                let socket = tcp_socket(ip, options).await?;
                socket.set_reuseaddr(true)?;
                if ip.is_unspecified() && ip.is_ipv6() {
                    // `*` with ipv6: one socket for both families, whatever the system default.
                    SockRef::from(&socket).set_only_v6(false)?;
                }
                socket.bind(SocketAddr::new(ip, port)).await?;
                let backlog = i32::try_from(options.backlog).unwrap_or(i32::MAX);
                let listener = socket.listen(backlog).await?;
                let local = listener.local_addr()?;
                Ok((Self::Tcp(listener), Endpoint::from(local)))
            }
            Endpoint::Ipc(IpcAddr::Path(path)) => {
                remove_stale_socket(path);
                let listener = UnixListener::bind(path).await?;
                let file = SocketFile::created(path);
                Ok((Self::Unix(listener, file), endpoint.clone()))
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
        if let Self::Unix(_, Some(file)) = self {
            file.remove();
        }
    }
}

/// Opens a connection to `endpoint`, resolving host names now (libzmq resolves at connect time
/// too, and again on each reconnection).
pub(crate) async fn connect(endpoint: &Endpoint, options: &SocketOptions) -> io::Result<Stream> {
    match endpoint {
        Endpoint::Tcp(tcp) => {
            let addr = resolve_remote(tcp, options.ipv6).await?;
            let socket = tcp_socket(addr.ip(), options).await?;
            if let Some(source) = tcp.source() {
                // `tcp://source;host:port`: the connection leaves from this address (and port).
                let mut ip = resolve_local(source.host(), addr.is_ipv6()).await?;
                if ip.is_unspecified() && ip.is_ipv6() != addr.is_ipv6() {
                    ip = unspecified(addr.is_ipv6());
                }
                if ip.is_ipv6() != addr.is_ipv6() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "the source address and the peer's are of different IP versions",
                    ));
                }
                if source.port().is_some_and(|p| !p.is_ephemeral()) {
                    socket.set_reuseaddr(true)?;
                }
                let port = source.port().map_or(0, |p| p.as_u16());
                socket.bind(SocketAddr::new(ip, port)).await?;
            }
            Stream::tcp(socket.connect(addr).await?)
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

/// A TCP socket of `ip`'s family with the options that must be set before it binds or
/// connects.
async fn tcp_socket(ip: IpAddr, options: &SocketOptions) -> io::Result<TcpSocket> {
    let socket = if ip.is_ipv6() {
        TcpSocket::new_v6().await?
    } else {
        TcpSocket::new_v4().await?
    };
    if let Some(device) = &options.bind_to_device {
        bind_device(&socket, device)?;
    }
    if let Some(tos) = options.tos {
        set_tos(&SockRef::from(&socket), ip.is_ipv6(), tos);
    }
    Ok(socket)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn bind_device(socket: &TcpSocket, device: &str) -> io::Result<()> {
    socket.bind_device(Some(device.as_bytes()))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn bind_device(_socket: &TcpSocket, _device: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "bind_to_device (SO_BINDTODEVICE) needs Linux",
    ))
}

/// Sets the type-of-service byte; failures are ignored as for the other tuning options.
fn set_tos(socket: &SockRef<'_>, ipv6: bool, tos: u8) {
    let _ = if ipv6 {
        socket.set_tclass_v6(u32::from(tos))
    } else {
        socket.set_tos_v4(u32::from(tos))
    };
}

fn unspecified(ipv6: bool) -> IpAddr {
    if ipv6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

/// The local address a host names, to bind a listener or a connection's source: an IP address,
/// `*` (every address: IPv4's, or both families with `ipv6`), a network interface's name (its
/// first address of the family wanted, as libzmq), or else a DNS name.
async fn resolve_local(host: &Host, ipv6: bool) -> io::Result<IpAddr> {
    match host {
        Host::Any => Ok(unspecified(ipv6)),
        Host::Ip(ip) => Ok(*ip),
        Host::Name(name) => match interface_address(name, ipv6)? {
            Some(ip) => Ok(ip),
            None => Ok(resolve_name(name, 0, ipv6).await?.ip()),
        },
    }
}

/// The address of a network interface named `name`: IPv4 first, or IPv6 first with `ipv6`.
fn interface_address(name: &str, ipv6: bool) -> io::Result<Option<IpAddr>> {
    let addresses: Vec<IpAddr> = if_addrs::get_if_addrs()?
        .into_iter()
        .filter(|interface| interface.name == name)
        .map(|interface| interface.ip())
        .collect();
    let preferred = addresses.iter().find(|ip| ip.is_ipv6() == ipv6);
    let other = addresses.iter().find(|ip| ipv6 && ip.is_ipv4());
    Ok(preferred.or(other).copied())
}

/// The peer's address: an IP address, or a DNS name resolved now.
async fn resolve_remote(tcp: &TcpEndpoint, ipv6: bool) -> io::Result<SocketAddr> {
    let port = tcp.port().unwrap_or(0);
    let name = match tcp.host() {
        Host::Ip(ip) => return Ok(SocketAddr::new(*ip, port)),
        Host::Name(name) => name,
        Host::Any => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot connect to `*`",
            ));
        }
    };
    if port == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot connect to port 0",
        ));
    }
    resolve_name(name, port, ipv6).await
}

/// Resolves a DNS name: its IPv4 addresses, as libzmq without `ipv6`; with it, IPv6 first.
async fn resolve_name(name: &str, port: u16, ipv6: bool) -> io::Result<SocketAddr> {
    let name = name.to_owned();
    let addrs = compio::runtime::spawn_blocking(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), port))
    })
    .await
    .map_err(|_| io::Error::other("name resolution task failed"))??;
    let mut addrs: Vec<SocketAddr> = addrs.filter(|a| ipv6 || a.is_ipv4()).collect();
    addrs.sort_by_key(|a| a.is_ipv6() != ipv6);
    addrs.into_iter().next().ok_or_else(|| {
        let family = if ipv6 {
            ""
        } else {
            " IPv4 (set ipv6 for IPv6)"
        };
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("host name has no{family} address"),
        )
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(endpoint: &str) -> Endpoint {
        endpoint.parse().unwrap()
    }

    #[compio::test]
    async fn listener_and_connection_options_reach_the_sockets() {
        let options = SocketOptions::new()
            .tos(0x28)
            .tcp_max_retransmit(Duration::from_millis(1500))
            .backlog(7);
        let (listener, bound) = Listener::bind(&tcp("tcp://127.0.0.1:0"), &options)
            .await
            .unwrap();
        let Listener::Tcp(inner) = &listener else {
            panic!("a TCP listener")
        };
        assert_eq!(SockRef::from(inner).tos_v4().unwrap(), 0x28);
        let (connected, accepted) =
            futures_util::future::join(connect(&bound, &options), listener.accept()).await;
        for stream in [connected.unwrap(), accepted.unwrap()] {
            stream.apply_options(&options);
            let Stream::Tcp(inner) = &stream else {
                panic!("a TCP stream")
            };
            let socket = SockRef::from(inner);
            assert_eq!(socket.tos_v4().unwrap(), 0x28);
            #[cfg(target_os = "linux")]
            assert_eq!(
                socket.tcp_user_timeout().unwrap(),
                Some(Duration::from_millis(1500))
            );
        }
    }

    #[compio::test]
    async fn an_unknown_device_fails_the_bind_and_the_connect() {
        let options = SocketOptions::new().bind_to_device("no-such-if0");
        assert!(
            Listener::bind(&tcp("tcp://127.0.0.1:0"), &options)
                .await
                .is_err()
        );
        assert!(connect(&tcp("tcp://127.0.0.1:9"), &options).await.is_err());
    }

    #[compio::test]
    async fn a_known_device_is_applied_where_the_system_allows_it() {
        let options = SocketOptions::new().bind_to_device("lo");
        match Listener::bind(&tcp("tcp://127.0.0.1:0"), &options).await {
            Ok((listener, _)) => {
                let Listener::Tcp(inner) = &listener else {
                    panic!("a TCP listener")
                };
                assert_eq!(
                    SockRef::from(inner).device().unwrap().as_deref(),
                    Some(&b"lo"[..])
                );
            }
            // Without CAP_NET_RAW on kernels before 5.7.
            Err(error) => assert_eq!(error.kind(), io::ErrorKind::PermissionDenied),
        }
    }

    #[compio::test]
    async fn a_listener_leaves_the_file_of_a_newer_one_at_its_path() {
        let path = std::env::temp_dir().join(format!(
            "monocoque-transport-{}-restart.sock",
            std::process::id()
        ));
        let endpoint = Endpoint::Ipc(IpcAddr::Path(path.clone()));
        let options = SocketOptions::new();
        let (old, _) = Listener::bind(&endpoint, &options).await.unwrap();
        // A restarted service binds the same path while the old listener is still open.
        let (new, _) = Listener::bind(&endpoint, &options).await.unwrap();
        drop(old);
        assert!(path.exists(), "the old listener removed the new one's file");
        drop(new);
        assert!(!path.exists(), "the listener left its own file behind");
    }

    #[compio::test]
    async fn names_resolve_to_ipv4_unless_ipv6_is_on() {
        let v4 = resolve_name("localhost", 1, false).await.unwrap();
        assert!(v4.is_ipv4(), "{v4}");
        assert_eq!(
            resolve_local(&Host::Any, false).await.unwrap(),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        );
        assert_eq!(
            resolve_local(&Host::Any, true).await.unwrap(),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        );
        let lo = resolve_local(&Host::Name("lo".into()), false)
            .await
            .unwrap();
        assert_eq!(lo, IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
}
