//! Service discovery: sockets that find each other by name instead of by address.
//!
//! A socket that binds [registers](crate::PubSocket::register) its endpoints in a [`Registry`]
//! as an instance of a named service, under a lease that is kept alive in the background and
//! revoked when the socket closes. A socket that connects [follows a
//! service](crate::SubSocket::connect_service): it connects to every live instance, connects to
//! each new one as it registers, and disconnects from each one that goes away (revoked, or its
//! lease expired because its process died).
//!
//! Two registries come with the crate: [`StaticRegistry`], in-process, for tests and fixed
//! topologies, and `EtcdRegistry` (feature `etcd`), on an etcd cluster. Both are used the same
//! way:
//!
//! ```
//! use monocoque::discovery::{Service, StaticRegistry};
//! use monocoque::{Message, PubSocket, SubSocket};
//!
//! # compio::runtime::Runtime::new()?.block_on(async {
//! let registry = StaticRegistry::new();
//!
//! let subscriber = SubSocket::new();
//! subscriber.subscribe("");
//! // Before any publisher exists: it connects when one registers.
//! subscriber.connect_service(&registry, "quotes")?;
//!
//! let publisher = PubSocket::new();
//! publisher.bind("tcp://127.0.0.1:0").await?;
//! let instance = publisher.register(&registry, Service::new("quotes")).await?;
//! assert!(instance.endpoints()[0].starts_with("tcp://127.0.0.1:"));
//!
//! subscriber.wait_connected(None).await;
//! # let mut received = None;
//! # for _ in 0..500 {
//! publisher.send("EUR/USD 1.08").await?;
//! #     let wait = std::time::Duration::from_millis(10);
//! #     if let Ok(message) = compio::time::timeout(wait, subscriber.recv()).await {
//! #         received = Some(message?);
//! #         break;
//! #     }
//! # }
//! # assert_eq!(received, Some(Message::from("EUR/USD 1.08")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What happens on the way is reported on the sockets' monitors, in
//! [`MonitorMask::DISCOVERY`](crate::MonitorMask::DISCOVERY): `EndpointDiscovered`,
//! `EndpointLost`, `Registered`, `LeaseLost`, `RegistryUnavailable`. See `docs/DISCOVERY.md`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use event_listener::Listener as _;

use futures_util::future::BoxFuture;
use monocoque_core::{Endpoint, Host, Port, TcpEndpoint, Transport};
use monocoque_zmtp::driver::{Error, Follow, MonitorEvent, MonitorEventKind};
use monocoque_zmtp::proto::SocketType;

mod follow;
mod memory;
mod sockets;

#[cfg(feature = "etcd")]
mod etcd;

#[cfg(feature = "etcd")]
#[cfg_attr(docsrs, doc(cfg(feature = "etcd")))]
pub use etcd::{EtcdOptions, EtcdRegistry};
pub use memory::StaticRegistry;

/// The time to live a registration asks for unless told otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

/// The shortest time to live a service may ask for: etcd's leases are whole seconds, swept for
/// expiry every 500 ms.
pub const MIN_TTL: Duration = Duration::from_secs(2);

/// The longest time to live a service may ask for.
pub const MAX_TTL: Duration = Duration::from_secs(86_400);

/// What can go wrong with discovery.
///
/// ```
/// use monocoque::discovery::{DiscoveryError, Service};
/// let error = Service::new("a/b").check().unwrap_err();
/// assert!(matches!(error, DiscoveryError::InvalidName { .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// A service name or instance id that is empty, holds a `/` or a control character, or
    /// is longer than 255 bytes.
    #[error(
        "invalid {what} `{name}`: it must be 1 to 255 bytes, without `/` or control characters"
    )]
    InvalidName {
        /// "service name" or "instance id".
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// A time to live under two seconds, or over a day.
    #[error("invalid time to live {0:?}: it must be from 2 s to 24 h")]
    InvalidTtl(Duration),
    /// An advertised host that is not an IP address or a host name.
    #[error("invalid advertised host `{0}`")]
    InvalidHost(String),
    /// `register` on a socket that is bound to nothing.
    #[error("the socket is bound to no endpoint: bind before registering")]
    NotBound,
    /// The registry could not be reached, or refused the request.
    #[error("the registry is unavailable: {0}")]
    Unavailable(String),
    /// The registry ended the registration before it was made (it was shut down).
    #[error("the registry closed")]
    Closed,
    /// The socket refused (it is closed, or this thread has no runtime).
    #[error(transparent)]
    Socket(#[from] Error),
}

/// Checks a service name or an instance id: a path segment of the registry's keys.
fn check_name(what: &'static str, name: &str) -> Result<(), DiscoveryError> {
    let valid = !name.is_empty()
        && name.len() <= 255
        && !name.contains('/')
        && !name.chars().any(char::is_control);
    if valid {
        Ok(())
    } else {
        Err(DiscoveryError::InvalidName {
            what,
            name: name.to_owned(),
        })
    }
}

/// One registered instance of a service: where to connect, what it is, and what its owner
/// said about it.
///
/// ```
/// use monocoque::SocketType;
/// use monocoque::discovery::Instance;
///
/// let instance = Instance::new("quotes", "pub-1", SocketType::Pub)
///     .with_endpoint("ipc:///tmp/quotes.sock")
///     .with_endpoint("tcp://10.0.0.7:5556")
///     .with_metadata("region", "eu-west");
/// // Clients connect over TCP where the instance offers it.
/// assert_eq!(instance.connect_endpoint(), Some("tcp://10.0.0.7:5556"));
/// assert_eq!(instance.metadata()["region"], "eu-west");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    service: String,
    id: String,
    socket_type: SocketType,
    endpoints: Vec<String>,
    curve_public_key: Option<String>,
    metadata: BTreeMap<String, String>,
}

impl Instance {
    /// An instance `id` of `service`, a socket of `socket_type`, with no endpoint yet.
    pub fn new(service: impl Into<String>, id: impl Into<String>, socket_type: SocketType) -> Self {
        Self {
            service: service.into(),
            id: id.into(),
            socket_type,
            endpoints: Vec::new(),
            curve_public_key: None,
            metadata: BTreeMap::new(),
        }
    }

    /// The same, with `endpoint` added (connectable: no wildcard host).
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoints.push(endpoint.into());
        self
    }

    /// The same, with the server's CURVE public key (Z85, 40 characters), for clients that
    /// want to check it.
    #[must_use]
    pub fn with_curve_public_key(mut self, key: impl Into<String>) -> Self {
        self.curve_public_key = Some(key.into());
        self
    }

    /// The same, with a metadata entry.
    #[must_use]
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The service's name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The instance's id, unique within the service.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The socket type of the instance.
    pub fn socket_type(&self) -> SocketType {
        self.socket_type
    }

    /// Every endpoint the instance listens on, in its bind order.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The endpoint a client connects to: the first `tcp://` one, else the first `ipc://` one,
    /// else the first. One per instance, so that a subscriber never gets a message twice.
    pub fn connect_endpoint(&self) -> Option<&str> {
        let parsed = || {
            self.endpoints
                .iter()
                .filter_map(|e| e.parse::<Endpoint>().ok().map(|p| (e, p)))
        };
        parsed()
            .find(|(_, p)| p.transport() == Transport::Tcp)
            .or_else(|| parsed().find(|(_, p)| p.transport() == Transport::Ipc))
            .map(|(e, _)| e.as_str())
            .or_else(|| self.endpoints.first().map(String::as_str))
    }

    /// The server's CURVE public key in Z85, if the instance is a CURVE server.
    pub fn curve_public_key(&self) -> Option<&str> {
        self.curve_public_key.as_deref()
    }

    /// What the instance's owner said about it.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }
}

impl fmt::Display for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} ({}", self.service, self.id, self.socket_type)?;
        for endpoint in &self.endpoints {
            write!(f, " {endpoint}")?;
        }
        f.write_str(")")
    }
}

/// How a socket registers: the service's name, and what goes with it.
///
/// ```
/// use std::time::Duration;
/// use monocoque::discovery::Service;
///
/// let service = Service::new("quotes")
///     .instance_id("quotes-eu-1")
///     .ttl(Duration::from_secs(5))
///     .advertise_host("10.0.0.7")
///     .metadata("region", "eu-west");
/// assert!(service.check().is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct Service {
    name: String,
    instance_id: Option<String>,
    ttl: Duration,
    advertise_host: Option<String>,
    metadata: BTreeMap<String, String>,
}

impl Service {
    /// Registration as an instance of `name`, with a random instance id, a lease of
    /// [`DEFAULT_TTL`], and wildcard hosts replaced by this machine's first non-loopback IPv4
    /// address.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            instance_id: None,
            ttl: DEFAULT_TTL,
            advertise_host: None,
            metadata: BTreeMap::new(),
        }
    }

    /// The instance's id (default: 16 random hexadecimal digits). A second registration with
    /// the same id replaces the first.
    #[must_use]
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    /// The longest an instance whose process died stays listed, from 2 s to 24 h (default
    /// 10 s). etcd's lease is this less etcd's 500 ms expiry sweep, in whole seconds rounded
    /// down (9 s for the default), and is renewed every third of its time.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The host clients connect to where the socket is bound to a wildcard host (`tcp://*:0`,
    /// `tcp://0.0.0.0:5556`): an IP address or a name.
    #[must_use]
    pub fn advertise_host(mut self, host: impl Into<String>) -> Self {
        self.advertise_host = Some(host.into());
        self
    }

    /// A metadata entry, for clients to read in [`Instance::metadata`].
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The time to live asked for.
    pub fn ttl_value(&self) -> Duration {
        self.ttl
    }

    /// Checks the name, instance id, time to live and advertised host.
    pub fn check(&self) -> Result<(), DiscoveryError> {
        check_name("service name", &self.name)?;
        if let Some(id) = &self.instance_id {
            check_name("instance id", id)?;
        }
        if self.ttl < MIN_TTL || self.ttl > MAX_TTL {
            return Err(DiscoveryError::InvalidTtl(self.ttl));
        }
        if let Some(host) = &self.advertise_host {
            let valid = host.parse::<Host>().is_ok_and(|h| !h.is_wildcard());
            if !valid {
                return Err(DiscoveryError::InvalidHost(host.clone()));
            }
        }
        Ok(())
    }

    /// The instance a socket of `socket_type` bound to `bound` registers.
    fn instance(
        &self,
        socket_type: SocketType,
        bound: &[Endpoint],
        curve_public_key: Option<String>,
    ) -> Result<Instance, DiscoveryError> {
        self.check()?;
        if bound.is_empty() {
            return Err(DiscoveryError::NotBound);
        }
        let id = match &self.instance_id {
            Some(id) => id.clone(),
            None => random_id()?,
        };
        let mut instance = Instance::new(&self.name, id, socket_type);
        for endpoint in bound {
            instance
                .endpoints
                .push(advertised(endpoint, self.advertise_host.as_deref())?);
        }
        instance.curve_public_key = curve_public_key;
        instance.metadata = self.metadata.clone();
        Ok(instance)
    }
}

/// 16 random hexadecimal digits.
fn random_id() -> Result<String, DiscoveryError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|e| DiscoveryError::Unavailable(format!("no random numbers: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `endpoint` as a client elsewhere can connect to it: a wildcard host replaced.
fn advertised(endpoint: &Endpoint, host: Option<&str>) -> Result<String, DiscoveryError> {
    if !endpoint.is_wildcard_host() {
        return Ok(endpoint.to_string());
    }
    let host = match host {
        Some(host) => host
            .parse::<Host>()
            .map_err(|_| DiscoveryError::InvalidHost(host.to_owned()))?,
        None => Host::Ip(default_host()),
    };
    let port = endpoint.port().unwrap_or(0);
    Ok(Endpoint::Tcp(TcpEndpoint::new(host, Port::Number(port))).to_string())
}

/// This machine's first non-loopback IPv4 address, else loopback.
fn default_host() -> std::net::IpAddr {
    if_addrs::get_if_addrs()
        .ok()
        .and_then(|interfaces| {
            interfaces
                .into_iter()
                .map(|i| i.ip())
                .find(|ip| ip.is_ipv4() && !ip.is_loopback())
        })
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}

/// What became of a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationEvent {
    /// The instance is registered under a live lease (again, after a `LeaseLost`).
    Registered,
    /// The lease was lost (the registry was wiped, or kept no contact for the lease's time
    /// to live); the instance is registered again as soon as the registry answers.
    LeaseLost {
        /// Why.
        error: String,
    },
    /// The registry could not be reached; the registration is retried. Until its lease
    /// expires, the instance stays listed.
    Unavailable {
        /// Why.
        error: String,
    },
}

/// Events a registration keeps before the oldest unread ones are dropped: they are only
/// reports (a socket's registration forwards them to its monitors as they come).
const REGISTRATION_EVENTS: usize = 64;

/// A live registration: the instance stays registered (its lease renewed, re-registered after
/// a loss) until this is dropped, which revokes it at once.
///
/// Made by a [`Registry`]; a registry of your own makes one with [`Registration::channel`].
pub struct Registration {
    instance: Instance,
    events: flume::Receiver<RegistrationEvent>,
    /// Disconnected once every sender is gone: the registry is done with the registration.
    done: flume::Receiver<()>,
    on_drop: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// The registry's side of a [`Registration`]: where it reports what happens. The registry
/// drops it (every clone) once it is done with the registration, revoked included: that is
/// what [`Registration::revoked`] waits for.
#[derive(Debug, Clone)]
pub struct RegistrationSender {
    events: flume::Sender<RegistrationEvent>,
    _done: flume::Sender<()>,
}

impl RegistrationSender {
    /// Reports `event`; dropped if the registration's reader is more than 64 events behind.
    /// `false` once the registration is dropped.
    pub fn send(&self, event: RegistrationEvent) -> bool {
        match self.events.try_send(event) {
            Ok(()) | Err(flume::TrySendError::Full(_)) => true,
            Err(flume::TrySendError::Disconnected(_)) => false,
        }
    }

    /// Whether the registration was dropped.
    pub fn is_closed(&self) -> bool {
        self.events.is_disconnected()
    }
}

impl Registration {
    /// A registration of `instance` and its sender, for a registry of your own;
    /// `on_drop` runs when the registration is dropped, to revoke it.
    ///
    /// ```
    /// use monocoque::SocketType;
    /// use monocoque::discovery::{Instance, Registration, RegistrationEvent};
    ///
    /// let instance = Instance::new("quotes", "a", SocketType::Pub).with_endpoint("tcp://10.0.0.7:1");
    /// let (sender, registration) = Registration::channel(instance, || println!("revoked"));
    /// assert!(sender.send(RegistrationEvent::Registered));
    /// assert_eq!(registration.try_next(), Some(RegistrationEvent::Registered));
    /// drop(registration); // prints "revoked"
    /// assert!(sender.is_closed());
    /// ```
    pub fn channel(
        instance: Instance,
        on_drop: impl FnOnce() + Send + Sync + 'static,
    ) -> (RegistrationSender, Self) {
        let (sender, events) = flume::bounded(REGISTRATION_EVENTS);
        let (done_sender, done) = flume::bounded(1);
        let registration = Self {
            instance,
            events,
            done,
            on_drop: Some(Box::new(on_drop)),
        };
        let sender = RegistrationSender {
            events: sender,
            _done: done_sender,
        };
        (sender, registration)
    }

    /// A future that completes once the registry is done with this registration: after the
    /// registration is dropped, when its revocation has finished (or failed). Any runtime.
    ///
    /// ```
    /// use monocoque::SocketType;
    /// use monocoque::discovery::{Instance, Registration};
    ///
    /// let instance = Instance::new("quotes", "a", SocketType::Pub).with_endpoint("tcp://10.0.0.7:1");
    /// let (sender, registration) = Registration::channel(instance, || {});
    /// let revoked = registration.revoked();
    /// drop(registration);
    /// drop(sender); // the registry's revocation finished
    /// compio::runtime::Runtime::new().unwrap().block_on(revoked);
    /// ```
    pub fn revoked(&self) -> impl Future<Output = ()> + Send + 'static {
        let done = self.done.clone();
        async move {
            // Nothing is ever sent: the only outcome is the disconnection.
            let _ = done.recv_async().await;
        }
    }

    /// The instance registered.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// The next event, waiting for one; `None` once the registry is gone. Any runtime.
    pub async fn next(&self) -> Option<RegistrationEvent> {
        self.events.recv_async().await.ok()
    }

    /// The next event if there is one.
    pub fn try_next(&self) -> Option<RegistrationEvent> {
        self.events.try_recv().ok()
    }

    /// The next event, waiting on this thread for at most `timeout`.
    pub fn next_timeout(&self, timeout: Duration) -> Option<RegistrationEvent> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Waits for the first outcome: `Ok` once registered, the error if the registry could not
    /// be reached on the first try (the registration is then dropped, and revoked).
    pub async fn registered(self) -> Result<Self, DiscoveryError> {
        match self.next().await {
            Some(RegistrationEvent::Registered) => Ok(self),
            Some(
                RegistrationEvent::LeaseLost { error } | RegistrationEvent::Unavailable { error },
            ) => Err(DiscoveryError::Unavailable(error)),
            None => Err(DiscoveryError::Closed),
        }
    }
}

impl Registration {
    /// As [`registered`](Self::registered), waiting on this thread.
    pub fn registered_blocking(self) -> Result<Self, DiscoveryError> {
        match self.events.recv() {
            Ok(RegistrationEvent::Registered) => Ok(self),
            Ok(
                RegistrationEvent::LeaseLost { error } | RegistrationEvent::Unavailable { error },
            ) => Err(DiscoveryError::Unavailable(error)),
            Err(_) => Err(DiscoveryError::Closed),
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(on_drop) = self.on_drop.take() {
            on_drop();
        }
    }
}

/// The live instances of a service as a watch last saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The instances, by id.
    pub instances: BTreeMap<String, Instance>,
    /// Why the registry cannot be reached now, if it cannot: the instances are then the last
    /// ones seen.
    pub unavailable: Option<String>,
}

#[derive(Debug, Default)]
struct WatchState {
    snapshot: Snapshot,
    /// Bumped at each change, so that a reader sees that something changed, not each change:
    /// the state is the set of instances, of bounded size, never a queue of events.
    version: u64,
    /// The registry's side is gone: no change will come.
    ended: bool,
    /// The watch is gone: the registry may stop.
    dropped: bool,
    /// Live updaters.
    updaters: usize,
}

#[derive(Debug, Default)]
struct WatchShared {
    state: Mutex<WatchState>,
    changed: event_listener::Event,
}

impl WatchShared {
    fn lock(&self) -> MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The live instances of a service, kept up to date by a registry: wait for a change with
/// [`changed`](Self::changed) and read the whole set. Changes are never queued: a reader that
/// falls behind reads the newest set.
///
/// Made by [`Registry::watch`]; a registry of your own makes one with [`Watch::channel`].
pub struct Watch {
    service: String,
    shared: Arc<WatchShared>,
    seen: u64,
    on_drop: Option<Box<dyn FnOnce() + Send>>,
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// The registry's side of a [`Watch`]: where it records the instances it sees. When the last
/// clone is dropped, the watch's reader learns that no more changes will come.
#[derive(Debug)]
pub struct WatchUpdater {
    shared: Arc<WatchShared>,
}

impl Clone for WatchUpdater {
    fn clone(&self) -> Self {
        self.shared.lock().updaters += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl WatchUpdater {
    fn update(&self, change: impl FnOnce(&mut Snapshot) -> bool) {
        let mut state = self.shared.lock();
        if change(&mut state.snapshot) {
            state.version += 1;
            drop(state);
            self.shared.changed.notify(usize::MAX);
        }
    }

    /// Records `instance` as live (new, or changed).
    pub fn insert(&self, instance: Instance) {
        self.update(|snapshot| {
            let changed = snapshot.unavailable.take().is_some();
            let old = snapshot
                .instances
                .insert(instance.id.clone(), instance.clone());
            changed || old.as_ref() != Some(&instance)
        });
    }

    /// Records that the instance `id` is gone.
    pub fn remove(&self, id: &str) {
        self.update(|snapshot| {
            let changed = snapshot.unavailable.take().is_some();
            snapshot.instances.remove(id).is_some() || changed
        });
    }

    /// Records the whole set of live instances (after a resynchronisation).
    pub fn replace(&self, instances: impl IntoIterator<Item = Instance>) {
        let instances: BTreeMap<_, _> = instances.into_iter().map(|i| (i.id.clone(), i)).collect();
        self.update(|snapshot| {
            let changed = snapshot.unavailable.take().is_some();
            if snapshot.instances == instances {
                return changed;
            }
            snapshot.instances = instances;
            true
        });
    }

    /// Records that the registry cannot be reached now (the instances stay as last seen).
    pub fn unavailable(&self, error: impl Into<String>) {
        let error = error.into();
        self.update(|snapshot| {
            let changed = snapshot.unavailable.as_ref() != Some(&error);
            snapshot.unavailable = Some(error);
            changed
        });
    }

    /// Records that the registry can be reached again, with nothing missed.
    pub fn available(&self) {
        self.update(|snapshot| snapshot.unavailable.take().is_some());
    }

    /// Whether the watch was dropped: the registry may stop updating it.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().dropped
    }
}

impl Drop for WatchUpdater {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.updaters -= 1;
        if state.updaters == 0 {
            state.ended = true;
            drop(state);
            self.shared.changed.notify(usize::MAX);
        }
    }
}

impl Watch {
    /// A watch of `service` and its updater, for a registry of your own; `on_drop` runs when
    /// the watch is dropped, to stop watching.
    ///
    /// ```
    /// use monocoque::SocketType;
    /// use monocoque::discovery::{Instance, Watch};
    ///
    /// # futures_util::FutureExt::now_or_never(async {
    /// let (updater, mut watch) = Watch::channel("quotes", || ());
    /// updater.insert(Instance::new("quotes", "a", SocketType::Pub).with_endpoint("tcp://10.0.0.7:1"));
    /// let snapshot = watch.changed().await.unwrap();
    /// assert_eq!(snapshot.instances.len(), 1);
    /// # }).unwrap();
    /// ```
    pub fn channel(
        service: impl Into<String>,
        on_drop: impl FnOnce() + Send + 'static,
    ) -> (WatchUpdater, Self) {
        let shared = Arc::new(WatchShared::default());
        shared.lock().updaters = 1;
        let watch = Self {
            service: service.into(),
            shared: shared.clone(),
            seen: 0,
            on_drop: Some(Box::new(on_drop)),
        };
        (WatchUpdater { shared }, watch)
    }

    /// The service watched.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The instances as last seen, without waiting.
    pub fn snapshot(&self) -> Snapshot {
        self.shared.lock().snapshot.clone()
    }

    /// Waits until the set differs from the one this watch last returned, and returns it;
    /// `None` once the registry has stopped watching. Any runtime.
    pub async fn changed(&mut self) -> Option<Snapshot> {
        loop {
            let listener = self.shared.changed.listen();
            if let Some(result) = self.poll_state() {
                return result;
            }
            listener.await;
        }
    }

    /// As [`changed`](Self::changed), waiting on this thread for at most `timeout`; `Some(None)`
    /// once the registry has stopped watching, `None` on timeout.
    pub fn changed_timeout(&mut self, timeout: Duration) -> Option<Option<Snapshot>> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let listener = self.shared.changed.listen();
            if let Some(result) = self.poll_state() {
                return Some(result);
            }
            listener.wait_deadline(deadline)?;
        }
    }

    /// `Some` when there is something to return.
    fn poll_state(&mut self) -> Option<Option<Snapshot>> {
        let state = self.shared.lock();
        if state.version != self.seen {
            self.seen = state.version;
            return Some(Some(state.snapshot.clone()));
        }
        state.ended.then_some(None)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.shared.lock().dropped = true;
        if let Some(on_drop) = self.on_drop.take() {
            on_drop();
        }
    }
}

/// Where services are registered and found: [`StaticRegistry`] in-process, `EtcdRegistry`
/// (feature `etcd`) on etcd, or one of your own.
///
/// A registry keeps each [`Registration`] alive until it is dropped (renewing its lease,
/// registering it again after a loss), and each [`Watch`] up to date until it is dropped
/// (catching up after the registry comes back). Neither call waits: what happens is reported
/// through them.
pub trait Registry: Send + Sync {
    /// Registers `instance` so that it stays listed for at most `ttl` once no longer renewed
    /// (its process died); the first event says whether it worked.
    fn register(&self, instance: Instance, ttl: Duration) -> Registration;

    /// Watches the live instances of `service`.
    fn watch(&self, service: &str) -> Watch;

    /// The live instances of `service` now: a one-shot lookup. Any runtime.
    fn resolve(&self, service: &str) -> BoxFuture<'static, Result<Vec<Instance>, DiscoveryError>>;
}

impl<R: Registry + ?Sized> Registry for Arc<R> {
    fn register(&self, instance: Instance, ttl: Duration) -> Registration {
        (**self).register(instance, ttl)
    }

    fn watch(&self, service: &str) -> Watch {
        (**self).watch(service)
    }

    fn resolve(&self, service: &str) -> BoxFuture<'static, Result<Vec<Instance>, DiscoveryError>> {
        (**self).resolve(service)
    }
}

/// A discovery event on `endpoint`, for a socket's monitors.
fn event(kind: MonitorEventKind, endpoint: &str) -> Follow {
    Follow::Event(MonitorEvent::new(kind, endpoint))
}
