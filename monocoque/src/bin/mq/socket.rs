//! `mq <socket-type>`: a socket that sends its input and prints what arrives.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

use monocoque::handle::{Context, Handle};
use monocoque::{Error, Message, RecvError, SendErrorKind, SocketType};

use crate::args::SocketArgs;
use crate::format::{self, Format};
use crate::{Failure, options, seconds};

/// What the socket does with input and arrivals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// PUB, PUSH: send the input, then exit.
    Send,
    /// SUB, PULL: print arrivals.
    Receive,
    /// REQ: a line, then its reply.
    Request,
    /// REP: a request, then a line (or the request) as its reply.
    Reply,
    /// DEALER, ROUTER, PAIR, XPUB, XSUB: both at once.
    Both,
}

fn role(socket_type: SocketType) -> Role {
    match socket_type {
        SocketType::Pub | SocketType::Push => Role::Send,
        SocketType::Sub | SocketType::Pull => Role::Receive,
        SocketType::Req => Role::Request,
        SocketType::Rep => Role::Reply,
        _ => Role::Both,
    }
}

pub(crate) fn run(socket_type: SocketType, args: &SocketArgs) -> Result<(), Failure> {
    if args.bind.is_empty() && args.connect.is_empty() {
        return Err(Failure::usage(format!(
            "give the {socket_type} socket an endpoint: --bind ENDPOINT or --connect ENDPOINT"
        )));
    }
    if !args.subscribe.is_empty() && socket_type != SocketType::Sub {
        return Err(Failure::usage("--subscribe is for a sub socket"));
    }
    if args.echo && socket_type != SocketType::Rep {
        return Err(Failure::usage("--echo is for a rep socket"));
    }
    let timeout = seconds(args.timeout)?;
    let options = options(socket_type, &args.options, args.identity.as_deref())?;
    let context = Context::global().map_err(|e| Failure::from_error("start", &e))?;
    let handle = Handle::new(context, socket_type, options)
        .map_err(|e| Failure::from_error("socket", &e))?;
    if socket_type == SocketType::Sub {
        let topics = if args.subscribe.is_empty() {
            vec![String::new()]
        } else {
            args.subscribe.clone()
        };
        for topic in topics {
            handle
                .subscribe(topic.into_bytes())
                .map_err(|e| Failure::from_error("subscribe", &e))?;
        }
    }
    for endpoint in &args.bind {
        let bound = handle
            .bind(endpoint)
            .map_err(|e| Failure::from_error(&format!("bind {endpoint}"), &e))?;
        if !args.quiet {
            eprintln!("mq: bound {bound}");
        }
    }
    for endpoint in &args.connect {
        handle
            .connect(endpoint)
            .map_err(|e| Failure::from_error(&format!("connect {endpoint}"), &e))?;
    }
    let io = Io::new(args)?;
    let result = match role(socket_type) {
        Role::Send => send_all(&handle, io, args, timeout),
        Role::Receive => receive_all(&handle, &io, args, timeout),
        Role::Request => request(&handle, io, args, timeout),
        Role::Reply => reply(&handle, io, args, timeout),
        Role::Both => both(&handle, io, args, timeout),
    };
    // What is queued goes out within the linger time before the process ends, as zmq_close;
    // with --timeout, for at most that long.
    if let Some(timeout) = timeout {
        let linger = match args.options.linger {
            n if n < 0 => timeout,
            n => timeout.min(Duration::from_millis(n.unsigned_abs())),
        };
        let _ = handle.set_options(move |o| o.linger(Some(linger)));
    }
    handle.shutdown();
    result
}

/// The input, and how lines and messages map to each other both ways.
struct Io {
    input: Input,
    lines: Lines,
}

/// A message as a line, in and out.
#[derive(Clone)]
struct Lines {
    format: Format,
    delimiter: String,
}

impl Lines {
    fn print(&self, message: &Message) -> Result<(), Failure> {
        print_line(&format::encode(self.format, &self.delimiter, message))
    }
}

enum Input {
    Lines(Box<dyn BufRead + Send>, u64),
    Whole(Option<Box<dyn Read + Send>>),
}

impl Io {
    fn new(args: &SocketArgs) -> Result<Self, Failure> {
        let reader: Box<dyn Read + Send> = match &args.input {
            Some(path) => Box::new(
                File::open(path)
                    .map_err(|e| Failure::usage(format!("--input {}: {e}", path.display())))?,
            ),
            None => Box::new(std::io::stdin()),
        };
        let input = if args.raw {
            Input::Whole(Some(reader))
        } else {
            Input::Lines(Box::new(BufReader::new(reader)), 0)
        };
        let delimiter = if args.format == Format::Json {
            String::new()
        } else {
            args.delimiter.clone()
        };
        Ok(Self {
            input,
            lines: Lines {
                format: args.format,
                delimiter,
            },
        })
    }

    /// The next message to send; `None` at the end of the input.
    fn next(&mut self) -> Result<Option<Message>, Failure> {
        match &mut self.input {
            Input::Whole(reader) => {
                let Some(mut reader) = reader.take() else {
                    return Ok(None);
                };
                let mut bytes = Vec::new();
                reader
                    .read_to_end(&mut bytes)
                    .map_err(|e| Failure::failed(format!("reading input: {e}")))?;
                Ok(Some(Message::single(bytes)))
            }
            Input::Lines(reader, number) => {
                let mut line = String::new();
                *number += 1;
                let read = reader.read_line(&mut line).map_err(|e| {
                    let message = format!(
                        "input line {number}: {e} (binary input: --raw, or --format hex or base64)"
                    );
                    match e.kind() {
                        std::io::ErrorKind::InvalidData => Failure::usage(message),
                        _ => Failure::failed(message),
                    }
                })?;
                if read == 0 {
                    return Ok(None);
                }
                let line = line.strip_suffix('\n').unwrap_or(&line);
                let line = line.strip_suffix('\r').unwrap_or(line);
                format::decode(self.lines.format, &self.lines.delimiter, line)
                    .map(Some)
                    .map_err(|e| Failure::usage(format!("input line {number}: {e}")))
            }
        }
    }

    fn print(&self, message: &Message) -> Result<(), Failure> {
        self.lines.print(message)
    }
}

/// Writes a line to stdout at once (others read it as it comes); a closed stdout ends quietly.
fn print_line(line: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        // Whoever read the output has gone: stop as if done.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::done()),
        Err(e) => Err(Failure::failed(format!("writing output: {e}"))),
    }
}

/// Waits for `--wait-peers` peers (with `--timeout` alone, for one) and `--settle`, within
/// `timeout`: without a peer, a send would wait in the queue past any timeout, or be dropped at
/// exit.
fn wait_for_peers(
    handle: &Handle,
    args: &SocketArgs,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    let wanted = args.wait_peers.or(timeout.map(|_| 1));
    if let Some(wanted) = wanted {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let peers = handle
                .connected_peers()
                .map_err(|e| Failure::from_error("peers", &e))?;
            if peers >= wanted {
                break;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Failure::timeout(if wanted == 1 {
                    "no peer connected within the timeout".to_owned()
                } else {
                    format!("{peers} of {wanted} peers connected within the timeout")
                }));
            }
            if peers == 0 {
                // The first peer's handshake wakes this.
                let _ = handle.wait_connected(Some(Duration::from_millis(20)));
            } else {
                // wait_connected returns at once while any peer is connected.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    if args.settle > 0 {
        std::thread::sleep(Duration::from_millis(args.settle));
    }
    Ok(())
}

fn send(handle: &Handle, message: Message, timeout: Option<Duration>) -> Result<(), Failure> {
    let result = match timeout {
        Some(timeout) => handle.send_timeout(message, timeout),
        None => handle.send(message),
    };
    result.map_err(|e| match e.kind {
        SendErrorKind::TimedOut => Failure::timeout("no peer took the message within the timeout"),
        kind => Failure::from_error("send", &Error::Send(kind)),
    })
}

/// The next arrival, within `timeout` if given.
fn receive(handle: &Handle, timeout: Option<Duration>) -> Result<Message, Failure> {
    let result = match timeout {
        Some(timeout) => handle.recv_timeout(timeout),
        None => handle.recv(),
    };
    result.map_err(|e| match e {
        RecvError::TimedOut => Failure::timeout("nothing arrived within the timeout"),
        e => Failure::from_error("receive", &Error::Recv(e)),
    })
}

fn send_all(
    handle: &Handle,
    mut io: Io,
    args: &SocketArgs,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    wait_for_peers(handle, args, timeout)?;
    let mut sent = 0;
    while args.count.is_none_or(|count| sent < count) {
        let Some(message) = io.next()? else { break };
        send(handle, message, timeout)?;
        sent += 1;
    }
    Ok(())
}

fn receive_all(
    handle: &Handle,
    io: &Io,
    args: &SocketArgs,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    let mut received = 0;
    while args.count.is_none_or(|count| received < count) {
        let message = match receive(handle, timeout) {
            Ok(message) => message,
            Err(failure) => return idle_end(failure, args, received),
        };
        io.print(&message)?;
        received += 1;
    }
    Ok(())
}

fn request(
    handle: &Handle,
    mut io: Io,
    args: &SocketArgs,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    wait_for_peers(handle, args, timeout)?;
    let mut done = 0;
    while args.count.is_none_or(|count| done < count) {
        let Some(message) = io.next()? else { break };
        send(handle, message, timeout)?;
        io.print(&receive(handle, timeout)?)?;
        done += 1;
    }
    Ok(())
}

fn reply(
    handle: &Handle,
    mut io: Io,
    args: &SocketArgs,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    let mut done = 0;
    while args.count.is_none_or(|count| done < count) {
        let request = match receive(handle, timeout) {
            Ok(request) => request,
            Err(failure) => return idle_end(failure, args, done),
        };
        io.print(&request)?;
        let answer = if args.echo {
            request
        } else {
            match io.next()? {
                Some(answer) => answer,
                None => break,
            }
        };
        send(handle, answer, timeout)?;
        done += 1;
    }
    Ok(())
}

/// Input sent from a thread of its own while arrivals are printed here; ends at `--count`
/// arrivals or `--timeout`, or when the input ends if neither is given.
fn both(
    handle: &Handle,
    io: Io,
    args: &SocketArgs,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    wait_for_peers(handle, args, timeout)?;
    let printer = io.lines.clone();
    let sender = {
        let handle = handle.clone();
        let mut io = io;
        std::thread::spawn(move || -> Result<(), Failure> {
            while let Some(message) = io.next()? {
                send(&handle, message, timeout)?;
            }
            Ok(())
        })
    };
    // Arrivals are awaited in short slices, so that the input thread's end or failure is seen
    // at once; `--timeout` is kept here as the time since the last arrival.
    const SLICE: Duration = Duration::from_millis(50);
    let mut sender = Some(sender);
    let mut idle_since = Instant::now();
    let mut received = 0;
    loop {
        if let Some(finished) = sender.take_if(|s| s.is_finished()) {
            finished
                .join()
                .map_err(|_| Failure::failed("the input thread panicked"))??;
            if args.count.is_none() && timeout.is_none() {
                return Ok(());
            }
        }
        if args.count.is_some_and(|count| received >= count) {
            return Ok(());
        }
        match receive(handle, Some(SLICE)) {
            Ok(message) => {
                printer.print(&message)?;
                received += 1;
                idle_since = Instant::now();
            }
            Err(failure) if failure.code == crate::EXIT_TIMEOUT => {
                if timeout.is_some_and(|t| idle_since.elapsed() >= t) {
                    return idle_end(failure, args, received);
                }
            }
            Err(failure) => return Err(failure),
        }
    }
}

/// `--timeout` passed with nothing arriving: the end of a run without `--count` once something
/// came (exit 0), else a timeout (exit 3).
fn idle_end(failure: Failure, args: &SocketArgs, received: u64) -> Result<(), Failure> {
    if failure.code == crate::EXIT_TIMEOUT && args.count.is_none() && received > 0 {
        Ok(())
    } else {
        Err(failure)
    }
}
