//! The command line, as clap reads it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::format::Format;

const AFTER_HELP: &str = "\
Exit codes: 0 done; 1 a socket or I/O failure; 2 a bad argument, endpoint, option or input
line; 3 --timeout passed (no peer to send to, nothing arrived, or --count not reached).

Examples:
  mq sub --connect tcp://localhost:5556 --subscribe weather. --count 10
  printf 'a\\nb\\n' | mq push --connect tcp://localhost:5557
  mq rep --bind tcp://*:5555 --echo
  echo hello | mq req --connect tcp://localhost:5555 --timeout 5
  mq monitor tcp://localhost:5555 --type dealer
  mq perf thr local tcp://*:5555 64 1000000     (then: mq perf thr remote ...)
  mq keygen

Guide: docs/CLI.md in the monocoque repository.";

/// Talk to any ZeroMQ endpoint, watch it, measure it.
///
/// A socket of any type, bound or connected to endpoints as libzmq writes them (tcp://host:port,
/// ipc://path, inproc://name), sends what it reads from standard input (a message per line) and
/// prints what arrives.
#[derive(Debug, Parser)]
#[command(name = "mq", version, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// A PUB socket: publishes each input line.
    #[command(after_help = "Example:\n  mq pub --bind tcp://*:5556 --wait-peers 1 < ticks.txt")]
    Pub(SocketArgs),
    /// A SUB socket: prints what arrives (subscribed to everything unless --subscribe).
    #[command(
        after_help = "Example:\n  mq sub --connect tcp://localhost:5556 --subscribe weather. --count 10"
    )]
    Sub(SocketArgs),
    /// An XPUB socket: publishes input lines, prints the subscriptions that arrive.
    #[command(
        after_help = "Example:\n  mq xpub --bind tcp://*:5556 --format hex   (a subscription prints as 01<topic hex>)"
    )]
    Xpub(SocketArgs),
    /// An XSUB socket: sends input lines (subscriptions start with byte 1), prints what arrives.
    #[command(
        after_help = "Example:\n  echo 01 | mq xsub --connect tcp://localhost:5556 --format hex   (subscribe to all)"
    )]
    Xsub(SocketArgs),
    /// A PUSH socket: sends each input line to the next peer in turn.
    #[command(after_help = "Example:\n  seq 100 | mq push --connect tcp://localhost:5557")]
    Push(SocketArgs),
    /// A PULL socket: prints what arrives.
    #[command(after_help = "Example:\n  mq pull --bind tcp://*:5557 --count 100")]
    Pull(SocketArgs),
    /// A REQ socket: sends each input line and prints the reply before the next.
    #[command(
        after_help = "Example:\n  echo ping | mq req --connect tcp://localhost:5555 --timeout 5"
    )]
    Req(SocketArgs),
    /// A REP socket: prints each request and replies with the next input line (or --echo).
    #[command(after_help = "Example:\n  mq rep --bind tcp://*:5555 --echo")]
    Rep(SocketArgs),
    /// A DEALER socket: sends input lines, prints what arrives.
    #[command(
        after_help = "Example:\n  echo hello | mq dealer --connect tcp://localhost:5555 --identity me --count 1 --timeout 5"
    )]
    Dealer(SocketArgs),
    /// A ROUTER socket: prints arrivals with the sender's routing id as the first frame; input
    /// lines name the peer in their first frame.
    #[command(
        after_help = "Example:\n  mq router --bind tcp://*:5555 --format hex   (a reply: <id hex><TAB><payload hex>)"
    )]
    Router(SocketArgs),
    /// A PAIR socket: sends input lines, prints what arrives.
    #[command(after_help = "Example:\n  mq pair --bind ipc:///tmp/pair.sock")]
    Pair(SocketArgs),
    /// Connects (or binds) and prints every monitor event and the peer's handshake metadata.
    #[command(
        after_help = "Example:\n  mq monitor tcp://localhost:5555 --type sub\n  mq monitor tcp://*:5555 --bind --count 4"
    )]
    Monitor(MonitorArgs),
    /// Forwards between a frontend and a backend socket (libzmq's zmq_proxy).
    #[command(
        after_help = "Example:\n  mq proxy tcp://*:5559 tcp://*:5560   (ROUTER clients, DEALER workers)\n  mq proxy tcp://*:5559 tcp://*:5560 --frontend-type xsub --backend-type xpub"
    )]
    Proxy(ProxyArgs),
    /// Prints a new CURVE keypair in Z85 (40 characters each).
    #[command(after_help = "Example:\n  mq keygen")]
    Keygen,
    /// Throughput and latency, interoperable with libzmq's local_thr, remote_thr, local_lat
    /// and remote_lat.
    #[command(subcommand)]
    Perf(PerfCommand),
}

impl Command {
    /// The socket type of a socket subcommand.
    pub(crate) fn socket(&self) -> Option<(monocoque::SocketType, &SocketArgs)> {
        use monocoque::SocketType as T;
        Some(match self {
            Self::Pub(a) => (T::Pub, a),
            Self::Sub(a) => (T::Sub, a),
            Self::Xpub(a) => (T::Xpub, a),
            Self::Xsub(a) => (T::Xsub, a),
            Self::Push(a) => (T::Push, a),
            Self::Pull(a) => (T::Pull, a),
            Self::Req(a) => (T::Req, a),
            Self::Rep(a) => (T::Rep, a),
            Self::Dealer(a) => (T::Dealer, a),
            Self::Router(a) => (T::Router, a),
            Self::Pair(a) => (T::Pair, a),
            _ => return None,
        })
    }
}

/// Where a socket goes and how it behaves.
#[derive(Debug, Args)]
pub(crate) struct SocketArgs {
    /// Bind to ENDPOINT (repeatable); `tcp://*:0` picks a free port, printed on stderr.
    #[arg(short, long, value_name = "ENDPOINT")]
    pub(crate) bind: Vec<String>,
    /// Connect to ENDPOINT (repeatable).
    #[arg(short, long, value_name = "ENDPOINT")]
    pub(crate) connect: Vec<String>,
    /// How messages are read from stdin and printed.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// The string between the frames of a multipart message, in and out (text, hex, base64).
    #[arg(
        short,
        long,
        default_value = "\t",
        hide_default_value = true,
        allow_hyphen_values = true
    )]
    pub(crate) delimiter: String,
    /// Send all of stdin as one message (a file), instead of a message per line.
    #[arg(long)]
    pub(crate) raw: bool,
    /// Read input from FILE instead of stdin.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) input: Option<PathBuf>,
    /// Stop after COUNT messages received (or sent, for PUB and PUSH).
    #[arg(short = 'n', long)]
    pub(crate) count: Option<u64>,
    /// Bound every wait: for a first peer before sending, for each arrival (exit 3 if nothing
    /// came, or --count was not reached), and the linger at exit.
    #[arg(short, long, value_name = "SECONDS")]
    pub(crate) timeout: Option<f64>,
    /// Before the first send, wait until N peers are connected (bounded by --timeout).
    #[arg(long, value_name = "N")]
    pub(crate) wait_peers: Option<usize>,
    /// Then wait MS more before sending (a subscriber's subscription takes a moment to arrive).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub(crate) settle: u64,
    /// SUB: a topic prefix to subscribe to (repeatable; default: everything).
    #[arg(short, long, value_name = "PREFIX", allow_hyphen_values = true)]
    pub(crate) subscribe: Vec<String>,
    /// The socket's routing id (ZMQ_ROUTING_ID).
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub(crate) identity: Option<String>,
    /// REP: reply with each request instead of with input lines.
    #[arg(long)]
    pub(crate) echo: bool,
    /// No notes on stderr (the endpoints bound); messages only.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    #[command(flatten)]
    pub(crate) options: OptionArgs,
}

/// The common socket options, as libzmq names them.
#[derive(Debug, Args, Clone)]
pub(crate) struct OptionArgs {
    /// ZMQ_SNDHWM and ZMQ_RCVHWM: messages queued per peer and direction (0: no limit).
    #[arg(long, value_name = "MESSAGES")]
    pub(crate) hwm: Option<usize>,
    /// ZMQ_LINGER in milliseconds: how long unsent messages are kept at exit (-1: for ever).
    #[arg(
        long,
        value_name = "MS",
        allow_negative_numbers = true,
        default_value_t = 1000
    )]
    pub(crate) linger: i64,
    /// ZMQ_HEARTBEAT_IVL in milliseconds: PING the peer this often.
    #[arg(long, value_name = "MS")]
    pub(crate) heartbeat: Option<u64>,
    /// ZMQ_HEARTBEAT_TIMEOUT in milliseconds (default: the interval).
    #[arg(long, value_name = "MS")]
    pub(crate) heartbeat_timeout: Option<u64>,
    /// ZMQ_RECONNECT_IVL in milliseconds.
    #[arg(long, value_name = "MS")]
    pub(crate) reconnect: Option<u64>,
    /// ZMQ_HANDSHAKE_IVL in milliseconds (0: none).
    #[arg(long, value_name = "MS")]
    pub(crate) handshake_timeout: Option<u64>,
    /// ZMQ_MAXMSGSIZE in bytes.
    #[arg(long, value_name = "BYTES")]
    pub(crate) max_message_size: Option<u64>,
    /// PLAIN client: USER:PASSWORD.
    #[arg(long, value_name = "USER:PASSWORD", allow_hyphen_values = true)]
    pub(crate) plain: Option<String>,
    /// CURVE client: the server's public key (Z85); this side uses a new keypair.
    // Z85 keys may start with `-`.
    #[arg(long, value_name = "Z85", allow_hyphen_values = true)]
    pub(crate) curve_serverkey: Option<String>,
    /// CURVE server: this side's secret key (Z85), from `mq keygen`.
    #[arg(long, value_name = "Z85", allow_hyphen_values = true)]
    pub(crate) curve_secretkey: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct MonitorArgs {
    /// The endpoint to connect to (or bind, with --bind).
    pub(crate) endpoint: String,
    /// Bind ENDPOINT and watch who comes.
    #[arg(long)]
    pub(crate) bind: bool,
    /// The socket type to present to the peer.
    #[arg(long = "type", value_name = "TYPE", default_value = "dealer")]
    pub(crate) socket_type: String,
    /// Stop after COUNT events.
    #[arg(short = 'n', long)]
    pub(crate) count: Option<u64>,
    /// Stop (exit code 3) when no event comes for SECONDS.
    #[arg(short, long, value_name = "SECONDS")]
    pub(crate) timeout: Option<f64>,
    #[command(flatten)]
    pub(crate) options: OptionArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    /// Where clients come (bound unless it starts with `>`: `>tcp://host:port` connects).
    pub(crate) frontend: String,
    /// Where workers come (same rule).
    pub(crate) backend: String,
    /// Also send every message to this endpoint (a PUB bound there, or connected with `>`).
    #[arg(long, value_name = "ENDPOINT")]
    pub(crate) capture: Option<String>,
    /// The frontend's socket type.
    #[arg(long, default_value = "router")]
    pub(crate) frontend_type: String,
    /// The backend's socket type.
    #[arg(long, default_value = "dealer")]
    pub(crate) backend_type: String,
    #[command(flatten)]
    pub(crate) options: OptionArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PerfCommand {
    /// Throughput: `local` binds a PULL and measures, `remote` connects a PUSH and sends.
    #[command(
        after_help = "Against libzmq's tools:\n  local_thr tcp://*:5555 64 1000000  &  mq perf thr remote tcp://localhost:5555 64 1000000\n  mq perf thr local tcp://*:5555 64 1000000  &  remote_thr tcp://localhost:5555 64 1000000"
    )]
    Thr(PerfArgs),
    /// Latency: `local` binds a REP and echoes, `remote` connects a REQ and measures round
    /// trips (average as libzmq prints it, then a histogram).
    #[command(
        after_help = "Against libzmq's tools:\n  local_lat tcp://*:5555 64 10000  &  mq perf lat remote tcp://localhost:5555 64 10000"
    )]
    Lat(PerfArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PerfArgs {
    /// Which side: local (binds, receives) or remote (connects, sends).
    pub(crate) side: Side,
    /// The endpoint (bind-to for local, connect-to for remote).
    pub(crate) endpoint: String,
    /// The message size in bytes.
    pub(crate) size: usize,
    /// Messages (thr) or round trips (lat).
    pub(crate) count: u64,
    /// Hide the progress bar (hidden anyway when stdout or stderr is not a terminal).
    #[arg(long)]
    pub(crate) no_progress: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Side {
    Local,
    Remote,
}
