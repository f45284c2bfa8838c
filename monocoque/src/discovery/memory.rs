//! The in-process registry.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{
    DiscoveryError, Instance, Registration, RegistrationEvent, RegistrationSender, Registry, Watch,
    WatchUpdater,
};

/// A registry in this process's memory: for tests, for sockets of one process that find each
/// other by name, and for fixed topologies written down once ([`insert`](Self::insert)).
///
/// Leases never expire here: a registration lasts until it is dropped. Clones share the
/// registry.
///
/// ```
/// use monocoque::SocketType;
/// use monocoque::discovery::{Instance, Registry, StaticRegistry};
///
/// let registry = StaticRegistry::new();
/// registry.insert(Instance::new("quotes", "a", SocketType::Pub).with_endpoint("tcp://10.0.0.7:5556"));
/// registry.insert(Instance::new("quotes", "b", SocketType::Pub).with_endpoint("tcp://10.0.0.8:5556"));
/// let found = futures_util::FutureExt::now_or_never(registry.resolve("quotes")).unwrap()?;
/// assert_eq!(found.len(), 2);
/// # Ok::<(), monocoque::discovery::DiscoveryError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticRegistry {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// By service, then instance id.
    services: BTreeMap<String, BTreeMap<String, Entry>>,
    watchers: BTreeMap<String, Vec<WatchUpdater>>,
    next_token: u64,
}

#[derive(Debug)]
struct Entry {
    instance: Instance,
    /// Which registration made it, so that an older registration of the same id, dropped
    /// later, does not remove the newer one.
    token: u64,
    /// Kept so that the registration's event stream stays open.
    _sender: Option<RegistrationSender>,
}

impl State {
    fn instances(&self, service: &str) -> Vec<Instance> {
        self.services
            .get(service)
            .map(|entries| entries.values().map(|e| e.instance.clone()).collect())
            .unwrap_or_default()
    }

    /// Tells the watchers of `service` its new set, forgetting the watches dropped.
    fn publish(&mut self, service: &str) {
        let instances = self.instances(service);
        if let Some(watchers) = self.watchers.get_mut(service) {
            watchers.retain(|w| !w.is_closed());
            for watcher in watchers.iter() {
                watcher.replace(instances.iter().cloned());
            }
        }
    }

    fn insert(&mut self, instance: Instance, sender: Option<RegistrationSender>) -> u64 {
        self.next_token += 1;
        let token = self.next_token;
        let service = instance.service().to_owned();
        let entry = Entry {
            instance,
            token,
            _sender: sender,
        };
        self.services
            .entry(service.clone())
            .or_default()
            .insert(entry.instance.id().to_owned(), entry);
        self.publish(&service);
        token
    }

    fn remove(&mut self, service: &str, id: &str, token: Option<u64>) -> bool {
        let Some(entries) = self.services.get_mut(service) else {
            return false;
        };
        let matches = entries
            .get(id)
            .is_some_and(|e| token.is_none_or(|t| t == e.token));
        if matches {
            entries.remove(id);
            if entries.is_empty() {
                self.services.remove(service);
            }
            self.publish(service);
        }
        matches
    }
}

impl StaticRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lists `instance` until [`remove`](Self::remove)d: a fixed address, known in advance.
    /// Replaces an instance of the same service and id.
    pub fn insert(&self, instance: Instance) {
        self.lock().insert(instance, None);
    }

    /// Removes an instance, whoever listed it; `false` if there was none.
    pub fn remove(&self, service: &str, id: &str) -> bool {
        self.lock().remove(service, id, None)
    }

    /// The live instances of `service` now.
    pub fn instances(&self, service: &str) -> Vec<Instance> {
        self.lock().instances(service)
    }
}

impl Registry for StaticRegistry {
    fn register(&self, instance: Instance, _ttl: Duration) -> Registration {
        let service = instance.service().to_owned();
        let id = instance.id().to_owned();
        let token = Arc::new(std::sync::OnceLock::new());
        let state = Arc::downgrade(&self.state);
        let revoke_token = token.clone();
        let (sender, registration) = Registration::channel(instance.clone(), move || {
            let (Some(state), Some(token)) = (state.upgrade(), revoke_token.get()) else {
                return;
            };
            let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
            state.remove(&service, &id, Some(*token));
        });
        sender.send(RegistrationEvent::Registered);
        let _ = token.set(self.lock().insert(instance, Some(sender)));
        registration
    }

    fn watch(&self, service: &str) -> Watch {
        let (updater, watch) = Watch::channel(service, || ());
        let mut state = self.lock();
        updater.replace(state.instances(service));
        let watchers = state.watchers.entry(service.to_owned()).or_default();
        // Watches dropped since the service last changed.
        watchers.retain(|w| !w.is_closed());
        watchers.push(updater);
        watch
    }

    fn resolve(&self, service: &str) -> BoxFuture<'static, Result<Vec<Instance>, DiscoveryError>> {
        let instances = self.instances(service);
        Box::pin(async move { Ok(instances) })
    }
}
