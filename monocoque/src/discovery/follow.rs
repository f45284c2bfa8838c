//! From a registry's reports to a socket's connections and monitor events.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::Stream;
use futures_util::stream::{self, StreamExt};
use monocoque_core::Endpoint;
use monocoque_zmtp::driver::{Follow, MonitorEventKind};
use monocoque_zmtp::proto::SocketType;

use super::{Instance, Registration, RegistrationEvent, Snapshot, Watch, event};

/// What a socket following a service has connected.
struct Follower {
    watch: Watch,
    socket_type: SocketType,
    /// By instance id: the endpoint connected.
    connected: BTreeMap<String, Endpoint>,
    /// Instances skipped (incompatible type, no usable endpoint), each logged once.
    skipped: BTreeSet<(String, Vec<String>)>,
    unavailable: Option<String>,
}

impl Follower {
    /// Where to connect for `instance`, if this socket can.
    fn target(&mut self, instance: &Instance) -> Option<Endpoint> {
        let target = if self.socket_type.is_compatible(instance.socket_type()) {
            instance
                .connect_endpoint()
                .and_then(|e| e.parse::<Endpoint>().ok())
        } else {
            None
        };
        if target.is_none()
            && self
                .skipped
                .insert((instance.id().to_owned(), instance.endpoints().to_vec()))
        {
            tracing::warn!(
                %instance,
                socket_type = %self.socket_type,
                "discovery: skipping an instance this socket cannot connect to"
            );
        }
        target
    }

    /// The changes that bring the socket's connections to `snapshot`.
    fn apply(&mut self, snapshot: &Snapshot) -> Vec<Follow> {
        let service = self.watch.service().to_owned();
        let mut changes = Vec::new();
        if snapshot.unavailable != self.unavailable {
            if let Some(error) = &snapshot.unavailable {
                let kind = MonitorEventKind::RegistryUnavailable {
                    service: service.clone(),
                    error: error.clone(),
                };
                changes.push(event(kind, ""));
            }
            self.unavailable.clone_from(&snapshot.unavailable);
        }
        let wanted: BTreeMap<String, Endpoint> = snapshot
            .instances
            .values()
            .filter_map(|i| self.target(i).map(|e| (i.id().to_owned(), e)))
            .collect();
        let gone: Vec<String> = self
            .connected
            .iter()
            .filter(|(id, endpoint)| wanted.get(*id) != Some(endpoint))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(endpoint) = self.connected.remove(&id) {
                let text = endpoint.to_string();
                tracing::info!(%service, instance = %id, endpoint = %text, "discovery: instance lost");
                // Two instances at one endpoint (a restart within the old one's lease) share
                // one connection: it goes with the last of them.
                if !self.connected.values().any(|e| *e == endpoint) {
                    changes.push(Follow::Disconnect(endpoint));
                }
                let kind = MonitorEventKind::EndpointLost {
                    service: service.clone(),
                    instance: id,
                };
                changes.push(event(kind, &text));
            }
        }
        for (id, endpoint) in wanted {
            if self.connected.contains_key(&id) {
                continue;
            }
            let text = endpoint.to_string();
            tracing::info!(%service, instance = %id, endpoint = %text, "discovery: instance found");
            if !self.connected.values().any(|e| *e == endpoint) {
                changes.push(Follow::Connect(endpoint.clone()));
            }
            let kind = MonitorEventKind::EndpointDiscovered {
                service: service.clone(),
                instance: id.clone(),
            };
            changes.push(event(kind, &text));
            self.connected.insert(id, endpoint);
        }
        // Remembered only while listed: ids come and go.
        self.skipped
            .retain(|(id, _)| snapshot.instances.contains_key(id));
        changes
    }
}

/// The connections and events that keep a socket of `socket_type` connected to every live
/// instance `watch` sees; ends when the registry stops watching.
pub(super) fn watch_changes(
    watch: Watch,
    socket_type: SocketType,
) -> impl Stream<Item = Follow> + Send + 'static {
    let follower = Follower {
        watch,
        socket_type,
        connected: BTreeMap::new(),
        skipped: BTreeSet::new(),
        unavailable: None,
    };
    stream::unfold(follower, |mut follower| async move {
        let snapshot = follower.watch.changed().await?;
        let changes = follower.apply(&snapshot);
        Some((stream::iter(changes), follower))
    })
    .flatten()
}

/// The monitor events of `registration` (which it keeps alive: dropping the stream revokes it),
/// starting with `Registered`.
pub(super) fn registration_changes(
    registration: Registration,
    endpoint: String,
) -> impl Stream<Item = Follow> + Send + 'static {
    let kind = |event: RegistrationEvent, instance: &Instance| {
        let service = instance.service().to_owned();
        let id = instance.id().to_owned();
        match event {
            RegistrationEvent::Registered => MonitorEventKind::Registered {
                service,
                instance: id,
            },
            RegistrationEvent::LeaseLost { error } => MonitorEventKind::LeaseLost {
                service,
                instance: id,
                error,
            },
            RegistrationEvent::Unavailable { error } => {
                MonitorEventKind::RegistryUnavailable { service, error }
            }
        }
    };
    let first = event(
        kind(RegistrationEvent::Registered, registration.instance()),
        &endpoint,
    );
    let rest = stream::unfold(
        (registration, endpoint),
        move |(registration, endpoint)| async move {
            let next = registration.next().await?;
            let change = event(kind(next, registration.instance()), &endpoint);
            Some((change, (registration, endpoint)))
        },
    );
    stream::iter([first]).chain(rest)
}
