//! The etcd registry: instances under leases, watched by prefix.
//!
//! etcd-client runs on tokio; this registry keeps a small tokio runtime of its own (one worker
//! thread) so that it works from compio sockets, handles, tokio programs and plain threads
//! alike. Its requests and the sockets' own I/O never share a thread.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use etcd_client::{
    Client, ConnectOptions, EventType, GetOptions, KeyValue, PutOptions, ResponseHeader,
    WatchOptions,
};
use futures_util::future::BoxFuture;
use monocoque_core::Endpoint;
use monocoque_zmtp::proto::SocketType;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::{
    DiscoveryError, Instance, Registration, RegistrationEvent, RegistrationSender, Registry, Watch,
    WatchUpdater,
};

/// How long the registry's runtime outlives the registry for revocations still in flight, on
/// top of the request timeout that bounds each.
const DROP_GRACE: Duration = Duration::from_secs(1);

/// The first wait before retrying an unreachable cluster; it doubles up to the limit.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// How to reach etcd, and where in its key space to keep registrations.
///
/// ```
/// use std::time::Duration;
/// use monocoque::discovery::EtcdOptions;
///
/// let options = EtcdOptions::new()
///     .prefix("/prod/zmq")
///     .request_timeout(Duration::from_secs(2))
///     .user("monocoque", "secret");
/// assert_eq!(options.prefix_value(), "/prod/zmq");
/// ```
#[derive(Debug, Clone)]
pub struct EtcdOptions {
    prefix: String,
    connect_timeout: Duration,
    request_timeout: Duration,
    keep_alive: Duration,
    user: Option<(String, String)>,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl EtcdOptions {
    /// Keys under `/monocoque`; 2 s to connect; 5 s per request; an idle connection pinged
    /// every 10 s (etcd refuses pings more often than every 5 s by default).
    pub fn new() -> Self {
        Self {
            prefix: "/monocoque".to_owned(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            keep_alive: Duration::from_secs(10),
            user: None,
        }
    }

    /// The key prefix: an instance of service `s` with id `i` is stored at `<prefix>/s/i`.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix: String = prefix.into();
        self.prefix = prefix.trim_end_matches('/').to_owned();
        self
    }

    /// The time allowed to open a connection to an etcd member.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The time allowed for one request.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How often an idle connection to etcd is pinged (HTTP/2 pings; default 10 s); one that
    /// does not answer within the same time is dropped and made again. etcd closes
    /// connections that ping more often than its `--grpc-keepalive-min-time` (5 s by default).
    #[must_use]
    pub fn keep_alive(mut self, interval: Duration) -> Self {
        self.keep_alive = interval;
        self
    }

    /// Authenticates as `name` with `password` (etcd's own authentication).
    #[must_use]
    pub fn user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = Some((name.into(), password.into()));
        self
    }

    /// The key prefix.
    pub fn prefix_value(&self) -> &str {
        &self.prefix
    }

    fn connect_options(&self) -> ConnectOptions {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(self.connect_timeout)
            .with_timeout(self.request_timeout)
            .with_keep_alive(self.keep_alive, self.keep_alive)
            .with_keep_alive_while_idle(true);
        if let Some((name, password)) = &self.user {
            options = options.with_user(name.clone(), password.clone());
        }
        options
    }
}

/// A registry on an etcd cluster (v3 API; etcd 3.4 and later).
///
/// Each registration is a key `<prefix>/<service>/<instance id>` holding the instance as JSON
/// (`etcdctl get --prefix /monocoque` lists them), attached to a lease of the registration's
/// time to live and renewed every third of it. A lease that is lost (the cluster was wiped,
/// or the lease expired while this process could not reach it) is granted again and the key
/// written again. Dropping the registration revokes the lease at once; a process that dies
/// without doing so disappears when its lease expires.
///
/// Each watch lists the service's keys, then follows them with an etcd watch; after a lost
/// connection it resumes from the last revision it saw, and lists again when etcd cannot
/// resume (the revision was compacted, or the cluster was wiped). Values that are not
/// instances are skipped with a warning in the log.
///
/// The registry keeps a tokio runtime of one thread for etcd's client. Clones share it.
///
/// ```no_run
/// use monocoque::discovery::{EtcdOptions, EtcdRegistry, Service};
/// use monocoque::{PubSocket, SubSocket};
///
/// # compio::runtime::Runtime::new()?.block_on(async {
/// let registry = EtcdRegistry::connect(["http://127.0.0.1:2379"], EtcdOptions::new()).await?;
/// let publisher = PubSocket::new();
/// publisher.bind("tcp://*:0").await?;
/// publisher.register(&registry, Service::new("quotes")).await?;
///
/// let subscriber = SubSocket::new();
/// subscriber.subscribe("");
/// subscriber.connect_service(&registry, "quotes")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct EtcdRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Option<tokio::runtime::Runtime>,
    client: Client,
    prefix: String,
    request_timeout: Duration,
    tasks: Arc<TaskCount>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdRegistry")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// The registrations and watches running, so that the registry's drop can let revocations
/// finish.
#[derive(Debug, Default)]
struct TaskCount {
    running: Mutex<usize>,
    done: Condvar,
}

/// Counts one task while it lives.
struct TaskGuard(Arc<TaskCount>);

impl TaskGuard {
    fn new(count: &Arc<TaskCount>) -> Self {
        *count.running.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Self(count.clone())
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let mut running = self.0.running.lock().unwrap_or_else(|e| e.into_inner());
        *running -= 1;
        self.0.done.notify_all();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Every registration and watch is gone (they hold this). Their tasks may still be
        // revoking leases: the runtime lives on for them on a thread of its own, as the last
        // reference may go on a socket's I/O thread, which must not block. Stopping a runtime
        // without blocking is allowed anywhere, even inside another runtime.
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        // Stops it without blocking also if the closure is dropped unrun.
        let runtime = RuntimeGuard(Some(runtime));
        let tasks = self.tasks.clone();
        let wait = self.request_timeout + DROP_GRACE;
        let stop = move || {
            let running = tasks.running.lock().unwrap_or_else(|e| e.into_inner());
            let waited = tasks
                .done
                .wait_timeout_while(running, wait, |running| *running > 0);
            drop(waited);
            drop(runtime);
        };
        let idle = *self.tasks.running.lock().unwrap_or_else(|e| e.into_inner()) == 0;
        if idle {
            stop();
        } else if let Err(e) = std::thread::Builder::new()
            .name("monocoque-etcd-stop".into())
            .spawn(stop)
        {
            tracing::warn!(error = %e, "discovery: cannot wait for revocations in flight");
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, DiscoveryError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("monocoque-etcd")
        .enable_all()
        .build()
        .map_err(|e| DiscoveryError::Unavailable(format!("cannot start etcd's runtime: {e}")))
}

/// Stops a runtime without blocking when it goes out of scope unused.
struct RuntimeGuard(Option<tokio::runtime::Runtime>);

impl Drop for RuntimeGuard {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl EtcdRegistry {
    /// Connects to the etcd cluster whose members' client URLs are `endpoints`
    /// (`http://host:2379`). Any runtime, or none (see
    /// [`connect_blocking`](Self::connect_blocking)). Fails on a malformed URL; a cluster that
    /// is down is not an error here: registrations then fail, and watches wait for it.
    pub async fn connect<E: AsRef<str>>(
        endpoints: impl IntoIterator<Item = E>,
        options: EtcdOptions,
    ) -> Result<Self, DiscoveryError> {
        let (pending, guard) = Self::start(endpoints, &options)?;
        let client = pending.recv_async().await;
        Self::finish(client, guard, options)
    }

    /// As [`connect`](Self::connect), waiting on this thread.
    pub fn connect_blocking<E: AsRef<str>>(
        endpoints: impl IntoIterator<Item = E>,
        options: EtcdOptions,
    ) -> Result<Self, DiscoveryError> {
        let (pending, guard) = Self::start(endpoints, &options)?;
        let client = pending.recv();
        Self::finish(client, guard, options)
    }

    #[allow(clippy::type_complexity)]
    fn start<E: AsRef<str>>(
        endpoints: impl IntoIterator<Item = E>,
        options: &EtcdOptions,
    ) -> Result<
        (
            flume::Receiver<Result<Client, etcd_client::Error>>,
            RuntimeGuard,
        ),
        DiscoveryError,
    > {
        let endpoints: Vec<String> = endpoints
            .into_iter()
            .map(|e| e.as_ref().to_owned())
            .collect();
        if endpoints.is_empty() {
            return Err(DiscoveryError::Unavailable(
                "no etcd endpoint given".to_owned(),
            ));
        }
        let runtime = runtime()?;
        let (reply, pending) = flume::bounded(1);
        let connect_options = options.connect_options();
        runtime.spawn(async move {
            let _ = reply.send(Client::connect(endpoints, Some(connect_options)).await);
        });
        Ok((pending, RuntimeGuard(Some(runtime))))
    }

    fn finish(
        client: Result<Result<Client, etcd_client::Error>, flume::RecvError>,
        mut guard: RuntimeGuard,
        options: EtcdOptions,
    ) -> Result<Self, DiscoveryError> {
        let client = client
            .map_err(|_| DiscoveryError::Closed)?
            .map_err(|e| DiscoveryError::Unavailable(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                runtime: guard.0.take(),
                client,
                prefix: options.prefix,
                request_timeout: options.request_timeout,
                tasks: Arc::default(),
            }),
        })
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        if let Some(runtime) = &self.inner.runtime {
            let guard = TaskGuard::new(&self.inner.tasks);
            runtime.spawn(async move {
                task.await;
                drop(guard);
            });
        }
    }

    fn service_prefix(&self, service: &str) -> String {
        format!("{}/{service}/", self.inner.prefix)
    }
}

/// An instance as stored in etcd: the key says which service and id.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    endpoints: Vec<String>,
    socket_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    curve_public_key: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<String, String>,
}

fn encode(instance: &Instance) -> String {
    let record = Record {
        endpoints: instance.endpoints.clone(),
        socket_type: instance.socket_type.as_str().to_owned(),
        curve_public_key: instance.curve_public_key.clone(),
        metadata: instance.metadata.clone(),
    };
    // A map of strings and a list of strings always serialise.
    serde_json::to_string(&record).unwrap_or_default()
}

/// The instance a key and value under `service_prefix` hold, or why they are not one.
fn decode(
    service: &str,
    service_prefix: &str,
    key: &[u8],
    value: &[u8],
) -> Result<Instance, String> {
    let key = std::str::from_utf8(key).map_err(|_| "a key that is not UTF-8".to_owned())?;
    let id = key
        .strip_prefix(service_prefix)
        .filter(|id| super::check_name("instance id", id).is_ok())
        .ok_or_else(|| format!("a key that is not `{service_prefix}<instance id>`"))?;
    let record: Record = serde_json::from_slice(value)
        .map_err(|e| format!("a value that is not an instance: {e}"))?;
    let socket_type: SocketType = record
        .socket_type
        .parse()
        .map_err(|_| format!("an unknown socket type `{}`", record.socket_type))?;
    if record.endpoints.is_empty() {
        return Err("an instance without endpoints".to_owned());
    }
    for endpoint in &record.endpoints {
        let parsed: Endpoint = endpoint
            .parse()
            .map_err(|e| format!("an invalid endpoint `{endpoint}`: {e}"))?;
        if parsed.is_wildcard_host() {
            return Err(format!("an endpoint with a wildcard host `{endpoint}`"));
        }
        match &parsed {
            // Port 0 or `*` is for binding, not connecting.
            Endpoint::Tcp(tcp) if tcp.port().is_none() => {
                return Err(format!("an endpoint without a port `{endpoint}`"));
            }
            Endpoint::Tcp(_) | Endpoint::Ipc(_) => {}
            // An inproc name would be another socket of the follower's own process.
            _ => {
                return Err(format!(
                    "an endpoint of another machine's process `{endpoint}`"
                ));
            }
        }
    }
    let mut instance = Instance::new(service, id, socket_type);
    instance.endpoints = record.endpoints;
    instance.curve_public_key = record.curve_public_key;
    instance.metadata = record.metadata;
    Ok(instance)
}

/// Decodes, logging what is skipped.
fn decode_logged(service: &str, service_prefix: &str, kv: &KeyValue) -> Option<Instance> {
    match decode(service, service_prefix, kv.key(), kv.value()) {
        Ok(instance) => Some(instance),
        Err(why) => {
            tracing::warn!(
                key = %String::from_utf8_lossy(kv.key()),
                "discovery: skipping {why}"
            );
            None
        }
    }
}

/// Doubling waits between retries, up to a limit.
struct Retry {
    next: Duration,
    max: Duration,
}

impl Retry {
    fn new(max: Duration) -> Self {
        Self {
            next: RETRY_FIRST,
            max: max.max(RETRY_FIRST),
        }
    }

    fn reset(&mut self) {
        self.next = RETRY_FIRST;
    }

    /// The wait before the next attempt.
    fn wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }
}

/// Resolves when the registration or watch it belongs to is dropped.
struct Cancel {
    receiver: oneshot::Receiver<()>,
    /// The receiver has completed: it must not be polled again.
    fired: bool,
}

impl Cancel {
    fn pair() -> (oneshot::Sender<()>, Self) {
        let (sender, receiver) = oneshot::channel();
        let cancel = Self {
            receiver,
            fired: false,
        };
        (sender, cancel)
    }

    async fn cancelled(&mut self) {
        if !self.fired {
            // A dropped sender is a cancellation too.
            let _ = (&mut self.receiver).await;
            self.fired = true;
        }
    }

    /// Whether the cancellation has come, without waiting.
    fn is_cancelled(&mut self) -> bool {
        if !self.fired {
            self.fired = !matches!(
                self.receiver.try_recv(),
                Err(oneshot::error::TryRecvError::Empty)
            );
        }
        self.fired
    }

    /// Runs `future` unless cancelled first (`None`).
    async fn run<T>(&mut self, future: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            () = self.cancelled() => None,
            output = future => Some(output),
        }
    }

    /// Sleeps for `wait`; `false` if cancelled meanwhile.
    async fn sleep(&mut self, wait: Duration) -> bool {
        self.run(tokio::time::sleep(wait)).await.is_some()
    }
}

/// How often etcd looks for expired leases: a dead instance stays listed for its lease's time
/// to live and up to this much more.
const EXPIRY_SWEEP: Duration = Duration::from_millis(500);

/// The lease, in etcd's whole seconds, under which an instance disappears within `ttl` of its
/// last renewal: the time to live less etcd's expiry sweep, rounded down; at least 1 s.
fn lease_seconds(ttl: Duration) -> i64 {
    let seconds = ttl.saturating_sub(EXPIRY_SWEEP).as_secs();
    i64::try_from(seconds.max(1)).unwrap_or(i64::MAX)
}

/// How a lease's keep-alive ended.
enum KeepAlive {
    Cancelled,
    /// etcd says the lease is gone.
    Lost(String),
    /// etcd could not be reached.
    Unreachable(String),
}

/// Why a registration attempt failed.
enum GrantError {
    /// No lease was granted.
    NoLease(String),
    /// The lease was granted but the key not written: the lease is to be revoked.
    NotWritten(i64, String),
}

/// Grants a lease of `ttl` seconds: the lease, and the time to live etcd granted (more than
/// asked if under its minimum, which follows its election timeout).
async fn grant(client: &mut Client, ttl: i64, timeout: Duration) -> Result<(i64, i64), String> {
    match tokio::time::timeout(timeout, client.lease_grant(ttl, None)).await {
        Ok(Ok(granted)) => Ok((granted.id(), granted.ttl())),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("etcd did not answer in time".to_owned()),
    }
}

/// Writes `key` under `lease`.
async fn put(
    client: &mut Client,
    key: &str,
    value: &str,
    lease: i64,
    timeout: Duration,
) -> Result<(), String> {
    let put = PutOptions::new().with_lease(lease);
    match tokio::time::timeout(timeout, client.put(key, value, Some(put))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("etcd did not answer in time".to_owned()),
    }
}

/// Everything a registration's task needs.
struct Registering {
    client: Client,
    key: String,
    value: String,
    ttl: i64,
    events: RegistrationSender,
    cancel: Cancel,
    request_timeout: Duration,
}

impl Registering {
    /// Renews `lease` every third of its time to live until cancelled or interrupted.
    async fn keep_alive(&mut self, lease: i64) -> KeepAlive {
        let period = Duration::from_secs(u64::try_from(self.ttl).unwrap_or(1)) / 3;
        let answer = period.min(self.request_timeout);
        let open = tokio::time::timeout(
            answer.max(Duration::from_millis(500)),
            self.client.lease_keep_alive(lease),
        );
        let Some(opened) = self.cancel.run(open).await else {
            return KeepAlive::Cancelled;
        };
        let (mut keeper, mut stream) = match opened {
            Ok(Ok(opened)) => opened,
            Ok(Err(e)) => return KeepAlive::Unreachable(e.to_string()),
            Err(_) => return KeepAlive::Unreachable("etcd did not answer in time".into()),
        };
        loop {
            let renewal = async {
                keeper.keep_alive().await?;
                stream.message().await
            };
            match self
                .cancel
                .run(tokio::time::timeout(
                    answer.max(Duration::from_millis(500)),
                    renewal,
                ))
                .await
            {
                None => return KeepAlive::Cancelled,
                Some(Err(_)) => {
                    return KeepAlive::Unreachable("etcd did not answer in time".into());
                }
                Some(Ok(Err(e))) => return KeepAlive::Unreachable(e.to_string()),
                Some(Ok(Ok(None))) => {
                    return KeepAlive::Unreachable("etcd closed the keep-alive stream".into());
                }
                Some(Ok(Ok(Some(response)))) if response.ttl() <= 0 => {
                    return KeepAlive::Lost("the lease expired".into());
                }
                Some(Ok(Ok(Some(_)))) => {}
            }
            if !self.cancel.sleep(period).await {
                return KeepAlive::Cancelled;
            }
        }
    }

    /// Whether `lease` still lives, once etcd answers again; `None` if cancelled meanwhile.
    async fn lease_alive(&mut self, lease: i64, retry: &mut Retry) -> Option<bool> {
        loop {
            let ask = tokio::time::timeout(
                self.request_timeout,
                self.client.lease_time_to_live(lease, None),
            );
            match self.cancel.run(ask).await? {
                Ok(Ok(response)) => return Some(response.ttl() > 0),
                Ok(Err(e)) => {
                    self.events.send(RegistrationEvent::Unavailable {
                        error: e.to_string(),
                    });
                }
                Err(_) => {
                    self.events.send(RegistrationEvent::Unavailable {
                        error: "etcd did not answer in time".into(),
                    });
                }
            }
            if !self.cancel.sleep(retry.wait()).await {
                return None;
            }
        }
    }

    /// Keeps the key registered until cancelled, then revokes its lease.
    async fn run(mut self) {
        let mut retry = Retry::new(Duration::from_secs(u64::try_from(self.ttl).unwrap_or(1)) / 3);
        let mut lease = None;
        'grant: loop {
            if self.cancel.is_cancelled() {
                break;
            }
            // Not raced with the cancellation: a lease granted must be known, to be revoked.
            match self.attempt().await {
                Ok(granted) => {
                    lease = Some(granted);
                    retry.reset();
                    tracing::info!(key = %self.key, lease = granted, "discovery: registered");
                    self.events.send(RegistrationEvent::Registered);
                }
                Err(failed) => {
                    let error = match failed {
                        GrantError::NoLease(error) => error,
                        GrantError::NotWritten(granted, error) => {
                            self.revoke(granted).await;
                            error
                        }
                    };
                    tracing::warn!(key = %self.key, %error, "discovery: cannot register");
                    self.events.send(RegistrationEvent::Unavailable { error });
                    if !self.cancel.sleep(retry.wait()).await {
                        break;
                    }
                    continue;
                }
            }
            if self.cancel.is_cancelled() {
                break;
            }
            let Some(current) = lease else { break };
            loop {
                match self.keep_alive(current).await {
                    KeepAlive::Cancelled => break 'grant,
                    KeepAlive::Lost(error) => {
                        tracing::warn!(key = %self.key, %error, "discovery: lease lost");
                        lease = None;
                        self.events.send(RegistrationEvent::LeaseLost { error });
                        continue 'grant;
                    }
                    KeepAlive::Unreachable(error) => {
                        tracing::warn!(key = %self.key, %error, "discovery: etcd unreachable");
                        self.events.send(RegistrationEvent::Unavailable { error });
                        if !self.cancel.sleep(retry.wait()).await {
                            break 'grant;
                        }
                        match self.lease_alive(current, &mut retry).await {
                            None => break 'grant,
                            Some(true) => retry.reset(),
                            Some(false) => {
                                lease = None;
                                let error = "the lease expired while etcd was unreachable";
                                tracing::warn!(key = %self.key, error, "discovery: lease lost");
                                self.events.send(RegistrationEvent::LeaseLost {
                                    error: error.to_owned(),
                                });
                                continue 'grant;
                            }
                        }
                    }
                }
            }
        }
        if let Some(lease) = lease {
            self.revoke(lease).await;
        }
    }

    /// Grants a lease and writes the key under it.
    async fn attempt(&mut self) -> Result<i64, GrantError> {
        let (lease, granted_ttl) = grant(&mut self.client, self.ttl, self.request_timeout)
            .await
            .map_err(GrantError::NoLease)?;
        if granted_ttl > self.ttl {
            tracing::warn!(
                key = %self.key,
                asked = self.ttl,
                granted = granted_ttl,
                "discovery: etcd raised the lease to its minimum time to live"
            );
            self.ttl = granted_ttl;
        }
        put(
            &mut self.client,
            &self.key,
            &self.value,
            lease,
            self.request_timeout,
        )
        .await
        .map_err(|error| GrantError::NotWritten(lease, error))?;
        Ok(lease)
    }

    /// Revokes `lease`, and with it the key; one try, bounded by the request timeout.
    async fn revoke(&mut self, lease: i64) {
        let revoke = self.client.lease_revoke(lease);
        match tokio::time::timeout(self.request_timeout, revoke).await {
            Ok(Ok(_)) => tracing::info!(key = %self.key, "discovery: revoked"),
            Ok(Err(error)) => {
                tracing::warn!(key = %self.key, %error, "discovery: cannot revoke; the lease will expire");
            }
            Err(_) => {
                tracing::warn!(key = %self.key, "discovery: revoke timed out; the lease will expire");
            }
        }
    }
}

/// Everything a watch's task needs.
struct Watching {
    client: Client,
    service: String,
    prefix: String,
    updater: WatchUpdater,
    cancel: Cancel,
    request_timeout: Duration,
    /// The store's revision up to which every change has been seen.
    revision: i64,
    /// The highest raft term seen: a lower one means a new cluster (wiped), whose revisions
    /// start again.
    term: u64,
    /// The wait before the next retry; reset once a watch is running.
    retry: Retry,
    /// A watch ran since the last listing: a relist needs no wait before it.
    settled: bool,
}

/// Why a watch stream ended.
enum Interrupted {
    Cancelled,
    /// Resume from the last revision seen.
    Resume,
    /// List again: etcd cannot resume.
    Relist,
}

impl Watching {
    /// Whether `header` says the store went back (a new cluster): what was seen is void.
    fn went_back(&mut self, header: Option<&ResponseHeader>) -> bool {
        let Some(header) = header else { return false };
        let back = header.raft_term() < self.term || header.revision() < self.revision;
        self.term = self.term.max(header.raft_term());
        back
    }

    /// Lists the service's instances: the whole set, and the revision to follow from.
    async fn list(&mut self) -> Option<()> {
        let mut retry = Retry::new(RETRY_MAX);
        loop {
            let get = tokio::time::timeout(
                self.request_timeout,
                self.client
                    .get(self.prefix.clone(), Some(GetOptions::new().with_prefix())),
            );
            match self.cancel.run(get).await? {
                Ok(Ok(response)) => {
                    if let Some(header) = response.header() {
                        self.revision = header.revision();
                        self.term = header.raft_term();
                    }
                    let instances = response
                        .kvs()
                        .iter()
                        .filter_map(|kv| decode_logged(&self.service, &self.prefix, kv));
                    self.updater.replace(instances);
                    return Some(());
                }
                Ok(Err(e)) => self.updater.unavailable(e.to_string()),
                Err(_) => self.updater.unavailable("etcd did not answer in time"),
            }
            if !self.cancel.sleep(retry.wait()).await {
                return None;
            }
        }
    }

    /// Follows changes from the revision after the last seen, until interrupted.
    async fn follow(&mut self) -> Interrupted {
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(self.revision + 1)
            .with_progress_notify();
        let opened = tokio::time::timeout(
            self.request_timeout,
            self.client.watch(self.prefix.clone(), Some(options)),
        );
        let mut stream = match self.cancel.run(opened).await {
            None => return Interrupted::Cancelled,
            Some(Ok(Ok(stream))) => stream,
            Some(Ok(Err(e))) => {
                self.updater.unavailable(e.to_string());
                return Interrupted::Resume;
            }
            Some(Err(_)) => {
                self.updater.unavailable("etcd did not answer in time");
                return Interrupted::Resume;
            }
        };
        loop {
            let response = match self.cancel.run(stream.message()).await {
                None => return Interrupted::Cancelled,
                Some(Ok(Some(response))) => response,
                Some(Ok(None)) => {
                    self.updater.unavailable("etcd closed the watch");
                    return Interrupted::Resume;
                }
                Some(Err(e)) => {
                    self.updater.unavailable(e.to_string());
                    return Interrupted::Resume;
                }
            };
            if response.canceled() || response.compact_revision() > 0 {
                tracing::warn!(
                    service = %self.service,
                    reason = response.cancel_reason(),
                    compacted = response.compact_revision(),
                    "discovery: etcd cannot resume the watch: listing again"
                );
                return Interrupted::Relist;
            }
            if response.created() {
                if self.went_back(response.header()) {
                    tracing::warn!(service = %self.service, "discovery: etcd's store went back (a new cluster?): listing again");
                    return Interrupted::Relist;
                }
                // Reachable again. The header's revision is the store's, not what this watch
                // has seen: the changes since the last revision seen are still to come.
                self.settled = true;
                self.retry.reset();
                self.updater.available();
                continue;
            }
            let events = response.events();
            if events.is_empty() {
                // A progress notification: every change up to its revision has come.
                if let Some(header) = response.header() {
                    self.revision = self.revision.max(header.revision());
                }
                continue;
            }
            for event in events {
                let Some(kv) = event.kv() else { continue };
                self.revision = self.revision.max(kv.mod_revision());
                let Some(id) = std::str::from_utf8(kv.key())
                    .ok()
                    .and_then(|key| key.strip_prefix(&self.prefix))
                else {
                    continue;
                };
                match event.event_type() {
                    EventType::Put => match decode_logged(&self.service, &self.prefix, kv) {
                        Some(instance) => self.updater.insert(instance),
                        // A key that stopped being an instance is one no more.
                        None => self.updater.remove(id),
                    },
                    EventType::Delete => self.updater.remove(id),
                }
            }
        }
    }

    async fn run(mut self) {
        'list: loop {
            if self.list().await.is_none() {
                return;
            }
            loop {
                match self.follow().await {
                    Interrupted::Cancelled => return,
                    Interrupted::Relist => {
                        // Relisting again before any watch ran (a lagging member behind the
                        // one listed): back off rather than loop.
                        if !self.settled {
                            let wait = self.retry.wait();
                            if !self.cancel.sleep(wait).await {
                                return;
                            }
                        }
                        self.settled = false;
                        continue 'list;
                    }
                    Interrupted::Resume => {
                        let wait = self.retry.wait();
                        if !self.cancel.sleep(wait).await {
                            return;
                        }
                    }
                }
            }
        }
    }
}

impl Registry for EtcdRegistry {
    fn register(&self, instance: Instance, ttl: Duration) -> Registration {
        let key = format!(
            "{}{}",
            self.service_prefix(instance.service()),
            instance.id()
        );
        let value = encode(&instance);
        let (stop, cancel) = Cancel::pair();
        // The registration keeps the registry (its runtime) alive, and stops its task when
        // dropped.
        let keep = self.inner.clone();
        let (events, registration) = Registration::channel(instance, move || {
            let _ = stop.send(());
            drop(keep);
        });
        let task = Registering {
            client: self.inner.client.clone(),
            key,
            value,
            ttl: lease_seconds(ttl),
            events,
            cancel,
            request_timeout: self.inner.request_timeout,
        };
        self.spawn(task.run());
        registration
    }

    fn watch(&self, service: &str) -> Watch {
        let (stop, cancel) = Cancel::pair();
        let keep = self.inner.clone();
        let (updater, watch) = Watch::channel(service, move || {
            let _ = stop.send(());
            drop(keep);
        });
        let task = Watching {
            client: self.inner.client.clone(),
            service: service.to_owned(),
            prefix: self.service_prefix(service),
            updater,
            cancel,
            request_timeout: self.inner.request_timeout,
            revision: 0,
            term: 0,
            retry: Retry::new(RETRY_MAX),
            settled: true,
        };
        self.spawn(task.run());
        watch
    }

    fn resolve(&self, service: &str) -> BoxFuture<'static, Result<Vec<Instance>, DiscoveryError>> {
        let mut client = self.inner.client.clone();
        let prefix = self.service_prefix(service);
        let service = service.to_owned();
        let timeout = self.inner.request_timeout;
        let (reply, answer) = flume::bounded(1);
        self.spawn(async move {
            let get = client.get(prefix.clone(), Some(GetOptions::new().with_prefix()));
            let result = match tokio::time::timeout(timeout, get).await {
                Ok(Ok(response)) => Ok(response
                    .kvs()
                    .iter()
                    .filter_map(|kv| decode_logged(&service, &prefix, kv))
                    .collect()),
                Ok(Err(e)) => Err(DiscoveryError::Unavailable(e.to_string())),
                Err(_) => Err(DiscoveryError::Unavailable(
                    "etcd did not answer in time".to_owned(),
                )),
            };
            let _ = reply.send(result);
        });
        Box::pin(async move {
            answer
                .recv_async()
                .await
                .unwrap_or(Err(DiscoveryError::Closed))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_survives_the_round_trip() {
        let instance = Instance::new("quotes", "a1", SocketType::Pub)
            .with_endpoint("tcp://10.0.0.7:5556")
            .with_metadata("region", "eu");
        let stored = encode(&instance);
        assert_eq!(
            decode("quotes", "/m/quotes/", b"/m/quotes/a1", stored.as_bytes()),
            Ok(instance)
        );
    }

    #[test]
    fn foreign_values_are_refused_with_a_reason() {
        let good = r#"{"endpoints":["tcp://10.0.0.7:1"],"socket_type":"PUB"}"#;
        for (key, value, why) in [
            ("/m/quotes/a", "hello", "not an instance"),
            ("/m/quotes/a", "{}", "not an instance"),
            (
                "/m/quotes/a",
                r#"{"endpoints":[],"socket_type":"PUB"}"#,
                "without endpoints",
            ),
            (
                "/m/quotes/a",
                r#"{"endpoints":["tcp://"],"socket_type":"PUB"}"#,
                "invalid endpoint",
            ),
            (
                "/m/quotes/a",
                r#"{"endpoints":["tcp://*:1"],"socket_type":"PUB"}"#,
                "wildcard",
            ),
            (
                "/m/quotes/a",
                r#"{"endpoints":["tcp://10.0.0.7:1"],"socket_type":"NOPE"}"#,
                "unknown socket type",
            ),
            (
                "/m/quotes/a",
                r#"{"endpoints":["tcp://10.0.0.7:0"],"socket_type":"PUB"}"#,
                "without a port",
            ),
            (
                "/m/quotes/a",
                r#"{"endpoints":["inproc://quotes"],"socket_type":"PUB"}"#,
                "another machine",
            ),
            ("/m/quotes/a/b", good, "not `/m/quotes/<instance id>`"),
            ("/m/other/a", good, "not `/m/quotes/<instance id>`"),
        ] {
            let error =
                decode("quotes", "/m/quotes/", key.as_bytes(), value.as_bytes()).unwrap_err();
            assert!(error.contains(why), "{key} {value}: {error}");
        }
        assert!(decode("quotes", "/m/quotes/", b"/m/quotes/a", good.as_bytes()).is_ok());
    }

    #[test]
    fn leases_leave_room_for_the_expiry_sweep() {
        assert_eq!(lease_seconds(Duration::from_secs(2)), 1);
        assert_eq!(lease_seconds(Duration::from_millis(2500)), 2);
        assert_eq!(lease_seconds(Duration::from_secs(4)), 3);
        assert_eq!(lease_seconds(Duration::from_secs(10)), 9);
        assert_eq!(lease_seconds(Duration::from_secs(1)), 1);
    }
}
