//! `mq`: talk to any ZeroMQ endpoint, watch it, measure it. `mq --help`, and docs/CLI.md.

mod args;
mod format;
mod monitor;
mod perf;
mod proxy;
mod socket;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use monocoque::curve::{CurveKeyPair, CurvePublicKey, CurveSecretKey};
use monocoque::{Error, RecvError, SendErrorKind, SocketOptions, SocketType};

use args::{Cli, Command, OptionArgs};

/// A failure as the user sees it: one line on stderr and an exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
}

/// Exit codes (also in `mq --help` and docs/CLI.md). clap exits with 2 on a bad argument.
pub(crate) const EXIT_FAILED: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;
pub(crate) const EXIT_TIMEOUT: u8 = 3;

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_FAILED,
            message: message.into(),
        }
    }

    pub(crate) fn timeout(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_TIMEOUT,
            message: message.into(),
        }
    }

    /// Not a failure: the run ends here with exit code 0 (stdout was closed by its reader).
    pub(crate) fn done() -> Self {
        Self {
            code: 0,
            message: String::new(),
        }
    }

    /// `error` while doing `what` (for example "bind tcp://*:5555").
    pub(crate) fn from_error(what: &str, error: &Error) -> Self {
        let mut message = format!("{what}: {error}");
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        let code = match error {
            Error::Endpoint(_)
            | Error::Option(_)
            | Error::Unsupported(_)
            | Error::NotBound(_)
            | Error::NotConnected(_) => EXIT_USAGE,
            Error::Recv(RecvError::TimedOut) | Error::Send(SendErrorKind::TimedOut) => EXIT_TIMEOUT,
            _ => EXIT_FAILED,
        };
        Self { code, message }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Monitor(args) => monitor::run(args),
        Command::Proxy(args) => proxy::run(args),
        Command::Keygen => {
            keygen();
            Ok(())
        }
        Command::Perf(command) => perf::run(command),
        command => match command.socket() {
            Some((socket_type, args)) => socket::run(socket_type, args),
            None => unreachable!("every other command is a socket type"),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) if failure.code == 0 => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("mq: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn keygen() {
    let keys = CurveKeyPair::generate();
    println!("public: {}", keys.public.to_z85());
    println!("secret: {}", keys.secret.to_z85().as_str());
}

/// A socket type by its libzmq name, any case (`router`, `ZMQ_ROUTER`).
pub(crate) fn socket_type(name: &str) -> Result<SocketType, Failure> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("ZMQ_").unwrap_or(&upper);
    bare.parse().map_err(|_| {
        Failure::usage(format!(
            "unknown socket type {name:?}: one of pair, pub, sub, req, rep, dealer, router, \
             pull, push, xpub, xsub"
        ))
    })
}

/// The options of `args` for a socket of `socket_type`, checked as the socket will check them.
pub(crate) fn options(
    socket_type: SocketType,
    args: &OptionArgs,
    identity: Option<&str>,
) -> Result<SocketOptions, Failure> {
    let ms = Duration::from_millis;
    let mut options = SocketOptions::new().linger(match args.linger {
        n if n < 0 => None,
        n => Some(ms(n.unsigned_abs())),
    });
    if let Some(hwm) = args.hwm {
        options = options.send_hwm(hwm).recv_hwm(hwm);
    }
    if let Some(interval) = args.heartbeat {
        options = options.heartbeat_interval(ms(interval));
    }
    if let Some(timeout) = args.heartbeat_timeout {
        options = options.heartbeat_timeout(ms(timeout));
    }
    if let Some(interval) = args.reconnect {
        options = options.reconnect_interval(ms(interval));
    }
    if let Some(timeout) = args.handshake_timeout {
        options = options.handshake_timeout(Some(ms(timeout)).filter(|t| !t.is_zero()));
    }
    if let Some(bytes) = args.max_message_size {
        options = options.max_message_size(Some(bytes));
    }
    if let Some(id) = identity {
        options = options.routing_id(id.as_bytes().to_vec());
    }
    if let Some(credentials) = &args.plain {
        let (user, password) = credentials
            .split_once(':')
            .ok_or_else(|| Failure::usage("--plain wants USER:PASSWORD"))?;
        options = options
            .plain_username(user.as_bytes().to_vec())
            .plain_password(password.as_bytes().to_vec());
    }
    if let Some(server) = &args.curve_serverkey {
        let server = CurvePublicKey::from_z85(server)
            .map_err(|e| Failure::usage(format!("--curve-serverkey: {e}")))?;
        options = options
            .curve_keypair(&CurveKeyPair::generate())
            .curve_server_key(server);
    }
    if let Some(secret) = &args.curve_secretkey {
        let secret = CurveSecretKey::from_z85(secret)
            .map_err(|e| Failure::usage(format!("--curve-secretkey: {e}")))?;
        options = options.curve_server(true).curve_secret_key(secret);
    }
    options
        .check(socket_type)
        .map_err(|e| Failure::from_error("options", &Error::Option(e)))?;
    Ok(options)
}

/// `--timeout` in seconds as a duration; a negative or absurd value is a usage error.
pub(crate) fn seconds(value: Option<f64>) -> Result<Option<Duration>, Failure> {
    value
        .map(|s| {
            Duration::try_from_secs_f64(s)
                .map_err(|_| Failure::usage(format!("--timeout {s}: not a number of seconds")))
        })
        .transpose()
}
