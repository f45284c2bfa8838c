//! `mq proxy`: libzmq's `zmq_proxy` between two sockets named on the command line.

use monocoque::handle::{Context, Handle};
use monocoque::{ProxyControl, SocketType};

use crate::args::ProxyArgs;
use crate::{Failure, options, socket_type};

pub(crate) fn run(args: &ProxyArgs) -> Result<(), Failure> {
    let context = Context::global().map_err(|e| Failure::from_error("start", &e))?;
    let frontend = side(context, &args.frontend_type, &args.frontend, args)?;
    let backend = side(context, &args.backend_type, &args.backend, args)?;
    let capture = args
        .capture
        .as_deref()
        .map(|endpoint| side(context, "pub", endpoint, args))
        .transpose()?;
    let control = ProxyControl::new();
    let capture = capture
        .as_ref()
        .map(|c| c as &dyn monocoque::handle::ProxyHandle);
    monocoque::handle::proxy(&frontend, &backend, capture, &control)
        .map_err(|e| Failure::from_error("proxy", &e))
}

/// A socket of `type_name` bound to `endpoint`, or connected to it when it starts with `>`
/// (czmq's convention; `@` for bind is accepted too).
fn side(
    context: &Context,
    type_name: &str,
    endpoint: &str,
    args: &ProxyArgs,
) -> Result<Handle, Failure> {
    let socket_type: SocketType = socket_type(type_name)?;
    let options = options(socket_type, &args.options, None)?;
    let handle = Handle::new(context, socket_type, options)
        .map_err(|e| Failure::from_error("socket", &e))?;
    if let Some(endpoint) = endpoint.strip_prefix('>') {
        handle
            .connect(endpoint)
            .map_err(|e| Failure::from_error(&format!("connect {endpoint}"), &e))?;
    } else {
        let endpoint = endpoint.strip_prefix('@').unwrap_or(endpoint);
        let bound = handle
            .bind(endpoint)
            .map_err(|e| Failure::from_error(&format!("bind {endpoint}"), &e))?;
        eprintln!("mq: {socket_type} bound {bound}");
    }
    Ok(handle)
}
