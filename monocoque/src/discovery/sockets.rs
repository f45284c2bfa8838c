//! `register` and `connect_service` on every socket and handle type.

use super::follow::{registration_changes, watch_changes};
use super::{DiscoveryError, Instance, Registry, Service, check_name};
use crate::ProxySocket;
use crate::handle::ProxyHandle;

/// The instance a socket with `options`, of `socket_type`, bound to `bound`, registers.
fn instance_of(
    service: &Service,
    socket_type: monocoque_zmtp::proto::SocketType,
    options: &monocoque_zmtp::driver::SocketOptions,
    bound: &[monocoque_core::Endpoint],
) -> Result<Instance, DiscoveryError> {
    // A CURVE server announces its public key, for clients to check.
    let key = if options.curve_server_value() {
        options.curve_public_key_value().map(|k| k.to_z85())
    } else {
        None
    };
    service.instance(socket_type, bound, key)
}

macro_rules! discovery {
    ($($name:ident),*) => {$(
        impl crate::$name {
            /// Registers this socket's bound endpoints in `registry` as an instance of
            /// `service`, and returns the instance as registered; a wildcard host
            /// (`tcp://*:0`) is replaced by the service's advertised host.
            ///
            /// The registration lives as long as the socket: its lease is renewed in the
            /// background, it is made again if the lease is lost (the registry restarted, a
            /// network cut longer than the lease), and it is revoked at once when the socket
            /// closes or is dropped. Fails if the socket is bound to nothing, or if the
            /// registry cannot be reached now. What happens later is reported on the monitor
            /// (`Registered`, `LeaseLost`, `RegistryUnavailable`).
            ///
            /// See the [`discovery`](crate::discovery) module for an example.
            pub async fn register(
                &self,
                registry: &(impl Registry + ?Sized),
                service: Service,
            ) -> Result<Instance, DiscoveryError> {
                let socket = self.driver_socket();
                let options = socket.options();
                let instance =
                    instance_of(&service, socket.socket_type(), &options, &socket.bound_endpoints())?;
                let registration = registry
                    .register(instance.clone(), service.ttl_value())
                    .registered()
                    .await?;
                let endpoint = instance.connect_endpoint().unwrap_or_default().to_owned();
                let revoked = registration.revoked();
                socket.follow_then(registration_changes(registration, endpoint), revoked)?;
                Ok(instance)
            }

            /// Connects to every live instance of `service` in `registry`, now and as they
            /// come and go, until the socket closes: a new instance is connected as soon as
            /// the registry reports it, a departed one disconnected. Returns at once; a
            /// service with no instance yet is connected when one registers. Only instances
            /// of a socket type this one can talk to are connected, each at one endpoint
            /// ([`Instance::connect_endpoint`]).
            ///
            /// While the registry cannot be reached, the connections made stay as they are.
            /// Reported on the monitor: `EndpointDiscovered`, `EndpointLost`,
            /// `RegistryUnavailable`.
            ///
            /// See the [`discovery`](crate::discovery) module for an example.
            pub fn connect_service(
                &self,
                registry: &(impl Registry + ?Sized),
                service: &str,
            ) -> Result<(), DiscoveryError> {
                check_name("service name", service)?;
                let socket = self.driver_socket();
                let watch = registry.watch(service);
                socket.follow(watch_changes(watch, socket.socket_type()))?;
                Ok(())
            }
        }

        impl crate::handle::$name {
            /// Registers the socket's bound endpoints in `registry` as an instance of
            /// `service`, waiting on this thread for the registry's answer; see the compio
            /// socket's [`register`](crate::$name::register). The registration lives as long
            /// as the socket.
            pub fn register(
                &self,
                registry: &(impl Registry + ?Sized),
                service: Service,
            ) -> Result<Instance, DiscoveryError> {
                let (instance, registration) = self.registration(registry, &service)?;
                let registration = registration.registered_blocking()?;
                self.keep(instance, registration)
            }

            /// [`register`](Self::register) as a future, for any runtime.
            pub async fn register_async(
                &self,
                registry: &(impl Registry + ?Sized),
                service: Service,
            ) -> Result<Instance, DiscoveryError> {
                let (instance, registration) = self.registration(registry, &service)?;
                let registration = registration.registered().await?;
                self.keep(instance, registration)
            }

            fn registration(
                &self,
                registry: &(impl Registry + ?Sized),
                service: &Service,
            ) -> Result<(Instance, super::Registration), DiscoveryError> {
                let handle = self.driver_handle();
                let options = handle.options()?;
                let bound = handle.bound_endpoints()?;
                let instance = instance_of(service, handle.socket_type(), &options, &bound)?;
                let registration = registry.register(instance.clone(), service.ttl_value());
                Ok((instance, registration))
            }

            fn keep(
                &self,
                instance: Instance,
                registration: super::Registration,
            ) -> Result<Instance, DiscoveryError> {
                let endpoint = instance.connect_endpoint().unwrap_or_default().to_owned();
                let revoked = registration.revoked();
                self.driver_handle()
                    .follow_then(registration_changes(registration, endpoint), revoked)?;
                Ok(instance)
            }

            /// Connects to every live instance of `service` in `registry`, now and as they
            /// come and go, until the socket closes; see the compio socket's
            /// [`connect_service`](crate::$name::connect_service).
            pub fn connect_service(
                &self,
                registry: &(impl Registry + ?Sized),
                service: &str,
            ) -> Result<(), DiscoveryError> {
                check_name("service name", service)?;
                let handle = self.driver_handle();
                let watch = registry.watch(service);
                handle.follow(watch_changes(watch, handle.socket_type()))?;
                Ok(())
            }
        }
    )*};
}

discovery!(
    PairSocket,
    PubSocket,
    SubSocket,
    XPubSocket,
    XSubSocket,
    PushSocket,
    PullSocket,
    ReqSocket,
    RepSocket,
    DealerSocket,
    RouterSocket
);
