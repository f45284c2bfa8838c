//! `mq monitor`: every monitor event of a socket that connects to (or binds) an endpoint, with
//! what each peer announced in its handshake.

use std::time::Instant;

use monocoque::handle::{Context, Handle};
use monocoque::{MonitorEvent, MonitorEventKind, MonitorMask};

use crate::args::MonitorArgs;
use crate::{Failure, options, seconds, socket_type};

pub(crate) fn run(args: &MonitorArgs) -> Result<(), Failure> {
    let socket_type = socket_type(&args.socket_type)?;
    let timeout = seconds(args.timeout)?;
    let options = options(socket_type, &args.options, None)?;
    let context = Context::global().map_err(|e| Failure::from_error("start", &e))?;
    let handle = Handle::new(context, socket_type, options)
        .map_err(|e| Failure::from_error("socket", &e))?;
    let monitor = handle
        .monitor_events(MonitorMask::ALL)
        .map_err(|e| Failure::from_error("monitor", &e))?;
    if args.bind {
        handle
            .bind(&args.endpoint)
            .map_err(|e| Failure::from_error(&format!("bind {}", args.endpoint), &e))?;
    } else {
        handle
            .connect(&args.endpoint)
            .map_err(|e| Failure::from_error(&format!("connect {}", args.endpoint), &e))?;
    }
    println!("# {socket_type} socket, watching {}", args.endpoint);
    let started = Instant::now();
    // The monitor's receive is a future; a runtime of this thread's own waits on it.
    let runtime = compio::runtime::Runtime::new()
        .map_err(|e| Failure::failed(format!("start a runtime: {e}")))?;
    let mut seen = 0;
    while args.count.is_none_or(|count| seen < count) {
        let next = runtime.block_on(async {
            match timeout {
                Some(timeout) => compio::time::timeout(timeout, monitor.recv()).await.ok(),
                None => Some(monitor.recv().await),
            }
        });
        let event = match next {
            Some(Some(event)) => event,
            Some(None) => break,
            None => {
                handle.stop();
                return Err(Failure::timeout("no event within the timeout"));
            }
        };
        print_event(started, &event);
        if event.kind == MonitorEventKind::HandshakeSucceeded {
            print_greeting(&handle, &event);
        }
        seen += 1;
    }
    handle.stop();
    Ok(())
}

fn print_event(started: Instant, event: &MonitorEvent) {
    let mut line = format!(
        "{:>9.3}s {:<25} {}",
        started.elapsed().as_secs_f64(),
        name(&event.kind),
        event.endpoint
    );
    if let Some(peer) = &event.peer_address {
        line.push_str(&format!(" peer={peer}"));
    }
    if let Some(id) = &event.routing_id {
        line.push_str(&format!(" routing-id={}", printable(id)));
    }
    if let Some(detail) = detail(&event.kind) {
        line.push_str(&format!(" {detail}"));
    }
    println!("{line}");
    if let Some(metadata) = &event.peer_metadata {
        for (name, value) in metadata.iter() {
            println!("            {name}: {}", printable(value));
        }
    }
}

/// The peer's security mechanism and ZMTP version, from the socket's list of peers: the peer the
/// event names by routing id, or the only one. Nothing if it has already gone.
fn print_greeting(handle: &Handle, event: &MonitorEvent) {
    let Ok(peers) = handle.peers() else { return };
    let peer = match &event.routing_id {
        Some(id) => peers.iter().find(|p| p.routing_id == id),
        None if peers.len() == 1 => peers.first(),
        None => None,
    };
    if let Some(peer) = peer {
        println!(
            "            (mechanism: {}, ZMTP {})",
            peer.info.mechanism, peer.info.version
        );
    }
}

/// The event's name, as libzmq's `ZMQ_EVENT_*` without the prefix where there is one.
fn name(kind: &MonitorEventKind) -> &'static str {
    match kind {
        MonitorEventKind::Listening => "LISTENING",
        MonitorEventKind::BindFailed { .. } => "BIND_FAILED",
        MonitorEventKind::Accepted => "ACCEPTED",
        MonitorEventKind::AcceptFailed { .. } => "ACCEPT_FAILED",
        MonitorEventKind::Connected => "CONNECTED",
        MonitorEventKind::ConnectDelayed { .. } => "CONNECT_DELAYED",
        MonitorEventKind::ConnectRetried { .. } => "CONNECT_RETRIED",
        MonitorEventKind::Closed => "CLOSED",
        MonitorEventKind::Disconnected { .. } => "DISCONNECTED",
        MonitorEventKind::HandshakeSucceeded => "HANDSHAKE_SUCCEEDED",
        MonitorEventKind::HandshakeFailedProtocol { .. } => "HANDSHAKE_FAILED_PROTOCOL",
        MonitorEventKind::HandshakeFailedAuth { .. } => "HANDSHAKE_FAILED_AUTH",
        MonitorEventKind::MonitorStopped => "MONITOR_STOPPED",
        MonitorEventKind::EndpointDiscovered { .. } => "ENDPOINT_DISCOVERED",
        MonitorEventKind::EndpointLost { .. } => "ENDPOINT_LOST",
        MonitorEventKind::Registered { .. } => "REGISTERED",
        MonitorEventKind::LeaseLost { .. } => "LEASE_LOST",
        MonitorEventKind::RegistryUnavailable { .. } => "REGISTRY_UNAVAILABLE",
        _ => "EVENT",
    }
}

/// What the event carries besides its name (a reason, an error, a status).
fn detail(kind: &MonitorEventKind) -> Option<String> {
    Some(match kind {
        MonitorEventKind::BindFailed { error }
        | MonitorEventKind::AcceptFailed { error }
        | MonitorEventKind::ConnectDelayed { error } => format!("error={error}"),
        MonitorEventKind::ConnectRetried { interval } => format!("retry-in={interval:?}"),
        MonitorEventKind::Disconnected { reason } => format!("reason={reason}"),
        MonitorEventKind::HandshakeFailedProtocol { error } => format!("error={error}"),
        MonitorEventKind::HandshakeFailedAuth { status } => format!("status={status}"),
        MonitorEventKind::EndpointDiscovered { service, instance }
        | MonitorEventKind::EndpointLost { service, instance }
        | MonitorEventKind::Registered { service, instance } => {
            format!("service={service} instance={instance}")
        }
        MonitorEventKind::LeaseLost {
            service,
            instance,
            error,
        } => format!("service={service} instance={instance} error={error}"),
        MonitorEventKind::RegistryUnavailable { service, error } => {
            format!("service={service} error={error}")
        }
        MonitorEventKind::Listening
        | MonitorEventKind::Accepted
        | MonitorEventKind::Connected
        | MonitorEventKind::Closed
        | MonitorEventKind::HandshakeSucceeded
        | MonitorEventKind::MonitorStopped => return None,
        other => format!("{other:?}"),
    })
}

/// Bytes as text when they are printable UTF-8, else as hexadecimal with a `0x` prefix.
fn printable(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(char::is_control) => text.to_owned(),
        _ => format!("0x{}", hex::encode(bytes)),
    }
}
