//! libzmq 4.3.4 through the `zmq` crate: blocking sockets, one background I/O thread per context
//! (the default), default options.

use std::time::Instant;

use crate::common::{self, BoxError, Latencies, QUIT, SubStats};
use crate::spec::{Config, Kind, Role};

/// One context for the process: inproc endpoints are per context, and a context is never
/// terminated (terminating waits for every socket of every thread).
static CONTEXT: std::sync::LazyLock<zmq::Context> = std::sync::LazyLock::new(zmq::Context::new);

pub fn run(config: &Config) -> Result<(), BoxError> {
    let context = &*CONTEXT;
    let payload = common::payload(config.size);
    // libzmq spells "any port" as `*`.
    let bind_endpoint = match config.endpoint.strip_suffix(":0") {
        Some(host) if config.endpoint.starts_with("tcp://") => format!("{host}:*"),
        _ => config.endpoint.clone(),
    };
    let bind = |kind| -> Result<zmq::Socket, BoxError> {
        let socket = context.socket(kind)?;
        set_hwm(&socket, config)?;
        socket.bind(&bind_endpoint)?;
        let bound = socket
            .get_last_endpoint()?
            .map_err(|_| "libzmq returned a non-UTF-8 endpoint")?;
        common::announce(&bound);
        Ok(socket)
    };
    let connect = |kind| -> Result<zmq::Socket, BoxError> {
        let socket = context.socket(kind)?;
        set_hwm(&socket, config)?;
        socket.connect(&config.endpoint)?;
        Ok(socket)
    };
    let mut message = zmq::Message::new();
    match (config.kind, config.role) {
        (Kind::Proxy, Role::Server) => proxy_row(config, &payload)?,
        (Kind::Proxy, Role::Client) => return Err("the proxy row is one process".into()),
        (Kind::Thr, Role::Server) => {
            let pull = bind(zmq::PULL)?;
            pull.recv(&mut message, 0)?;
            check(&message, config.size)?;
            let start = Instant::now();
            for _ in 1..config.count {
                pull.recv(&mut message, 0)?;
                check(&message, config.size)?;
            }
            common::report_thr(start.elapsed(), config.count);
        }
        (Kind::Thr, Role::Client) => {
            let mut push = connect(zmq::PUSH)?;
            for _ in 0..config.count {
                send_uninit(&mut push, config.size)?;
            }
        }
        (Kind::Lat, Role::Server) => {
            let rep = bind(zmq::REP)?;
            for _ in 0..config.warmup + config.count {
                rep.recv(&mut message, 0)?;
                // The received message itself goes back, without a copy (as local_lat does).
                rep.send(std::mem::replace(&mut message, zmq::Message::new()), 0)?;
            }
        }
        (Kind::Lat, Role::Client) => {
            let req = connect(zmq::REQ)?;
            let mut latencies = Latencies::new();
            for i in 0..config.warmup + config.count {
                let start = Instant::now();
                req.send(&payload[..], 0)?;
                req.recv(&mut message, 0)?;
                let rtt = start.elapsed();
                check(&message, config.size)?;
                if i >= config.warmup {
                    latencies.record(rtt);
                }
            }
            latencies.report();
        }
        (Kind::Fanout, Role::Server) => {
            let publisher = bind(zmq::PUB)?;
            while !common::GO.is_set() {
                publisher.send(common::PROBE, 0)?;
                std::thread::sleep(common::TICK);
            }
            for _ in 0..config.count {
                publisher.send(&payload[..], 0)?;
            }
            while !QUIT.is_set() {
                publisher.send(common::END, 0)?;
                std::thread::sleep(common::TICK);
            }
            common::exit_now();
        }
        (Kind::Fanout, Role::Client) => {
            let mut subs = Vec::with_capacity(config.peers);
            for _ in 0..config.peers {
                let sub = connect(zmq::SUB)?;
                sub.set_subscribe(b"")?;
                subs.push(sub);
            }
            let mut stats = vec![SubStats::default(); subs.len()];
            let mut probed = vec![false; subs.len()];
            let mut live: Vec<usize> = (0..subs.len()).collect();
            let mut ready = 0;
            while !live.is_empty() {
                let mut items: Vec<zmq::PollItem<'_>> = live
                    .iter()
                    .map(|&i| subs[i].as_poll_item(zmq::POLLIN))
                    .collect();
                zmq::poll(&mut items, -1)?;
                let readable: Vec<usize> = items
                    .iter()
                    .zip(&live)
                    .filter(|(item, _)| item.is_readable())
                    .map(|(_, &i)| i)
                    .collect();
                drop(items);
                let mut finished = Vec::new();
                for i in readable {
                    loop {
                        match subs[i].recv(&mut message, zmq::DONTWAIT) {
                            Ok(()) => {}
                            Err(zmq::Error::EAGAIN) => break,
                            Err(e) => return Err(e.into()),
                        }
                        let kind = common::classify(&message, config.size)?;
                        if !probed[i] {
                            probed[i] = true;
                            ready += 1;
                            if ready == subs.len() {
                                common::ready();
                            }
                        }
                        if stats[i].on_message(kind) {
                            finished.push(i);
                            break;
                        }
                    }
                }
                live.retain(|i| !finished.contains(i));
            }
            common::report_fanout(&stats, config.count);
        }
        (Kind::Router, Role::Server) => {
            let router = bind(zmq::ROUTER)?;
            let before = common::rss_bytes();
            let mut hellos = Vec::with_capacity(config.peers);
            for _ in 0..config.peers {
                let mut id = zmq::Message::new();
                let mut body = zmq::Message::new();
                router.recv(&mut id, 0)?;
                router.recv(&mut body, 0)?;
                hellos.push((id, body));
            }
            let after = common::rss_bytes();
            common::report(&[("rss_before", before as f64), ("rss_after", after as f64)]);
            for (id, body) in hellos {
                router.send(id, zmq::SNDMORE)?;
                router.send(body, 0)?;
            }
            let mut id = zmq::Message::new();
            for _ in 0..config.count * config.peers as u64 {
                router.recv(&mut id, 0)?;
                router.recv(&mut message, 0)?;
                router.send(
                    std::mem::replace(&mut id, zmq::Message::new()),
                    zmq::SNDMORE,
                )?;
                router.send(std::mem::replace(&mut message, zmq::Message::new()), 0)?;
            }
        }
        (Kind::Router, Role::Client) => {
            let mut dealers = Vec::with_capacity(config.peers);
            for _ in 0..config.peers {
                let dealer = connect(zmq::DEALER)?;
                dealer.send(common::HELLO, 0)?;
                dealers.push(dealer);
            }
            for dealer in &dealers {
                dealer.recv(&mut message, 0)?;
                if &message[..] != common::HELLO {
                    return Err("unexpected reply to hello".into());
                }
            }
            let start = Instant::now();
            for _ in 0..config.count {
                for dealer in &dealers {
                    dealer.send(&payload[..], 0)?;
                }
                for dealer in &dealers {
                    dealer.recv(&mut message, 0)?;
                    check(&message, config.size)?;
                }
            }
            let elapsed = start.elapsed();
            common::report(&[
                ("router_elapsed_ns", elapsed.as_nanos() as f64),
                ("requests", (config.count * config.peers as u64) as f64),
            ]);
        }
    }
    QUIT.wait_blocking();
    common::exit_now()
}

fn set_hwm(socket: &zmq::Socket, config: &Config) -> Result<(), BoxError> {
    if let Some(hwm) = config.hwm {
        socket.set_sndhwm(hwm as i32)?;
        socket.set_rcvhwm(hwm as i32)?;
    }
    Ok(())
}

fn check(message: &zmq::Message, size: usize) -> Result<(), BoxError> {
    if message.get_more() {
        return Err("received a multipart message, expected one frame".into());
    }
    common::check(message, size)
}

/// DEALER -> ROUTER | `zmq_proxy` | DEALER -> DEALER over tcp: the broker and the sender on
/// threads of their own, the receiver here.
fn proxy_row(config: &Config, payload: &[u8]) -> Result<(), BoxError> {
    let context = &*CONTEXT;
    let frontend = context.socket(zmq::ROUTER)?;
    frontend.bind("tcp://127.0.0.1:*")?;
    let backend = context.socket(zmq::DEALER)?;
    backend.bind("tcp://127.0.0.1:*")?;
    let endpoint = |socket: &zmq::Socket| -> Result<String, BoxError> {
        Ok(socket
            .get_last_endpoint()?
            .map_err(|_| "libzmq returned a non-UTF-8 endpoint")?)
    };
    let (front, back) = (endpoint(&frontend)?, endpoint(&backend)?);
    // Runs until the process exits.
    std::thread::spawn(move || zmq::proxy(&frontend, &backend));
    let sender = context.socket(zmq::DEALER)?;
    sender.connect(&front)?;
    let (count, payload) = (config.count, payload.to_vec());
    std::thread::spawn(move || -> Result<(), zmq::Error> {
        for _ in 0..count {
            sender.send(&payload[..], 0)?;
        }
        QUIT.wait_blocking();
        Ok(())
    });
    let receiver = context.socket(zmq::DEALER)?;
    receiver.connect(&back)?;
    common::announce(&back);
    let mut message = zmq::Message::new();
    let mut receive = || -> Result<(), BoxError> {
        // The routing id the proxy passed on, then the body.
        loop {
            receiver.recv(&mut message, 0)?;
            if !message.get_more() {
                return common::check(&message, config.size);
            }
        }
    };
    receive()?;
    let start = Instant::now();
    for _ in 1..config.count {
        receive()?;
    }
    common::report_thr(start.elapsed(), config.count);
    Ok(())
}

/// Sends a message of `size` bytes as libzmq's own `remote_thr` does: `zmq_msg_init_size` and
/// `zmq_msg_send`, with no copy and no fill (rust-zmq's `send` of a slice copies it, and its
/// `Message::with_size` zeroes it): libzmq at its best, as its perf tools measure it. Only the
/// three bytes the receiver's check looks at (first, middle, last) are written.
fn send_uninit(socket: &mut zmq::Socket, size: usize) -> Result<(), BoxError> {
    // SAFETY: a zmq_msg_t initialised by zmq_msg_init_size is handed to zmq_msg_send, which
    // takes it over on success; on failure it is closed here. The socket pointer is live for
    // the borrow.
    unsafe {
        let mut message = std::mem::MaybeUninit::<zmq_sys::zmq_msg_t>::uninit();
        if zmq_sys::zmq_msg_init_size(message.as_mut_ptr(), size) != 0 {
            return Err("zmq_msg_init_size failed".into());
        }
        if size > 0 {
            let data = zmq_sys::zmq_msg_data(message.as_mut_ptr()).cast::<u8>();
            for at in [0, size / 2, size - 1] {
                *data.add(at) = common::FILL;
            }
        }
        if zmq_sys::zmq_msg_send(message.as_mut_ptr(), socket.as_mut_ptr(), 0) < 0 {
            let error = std::io::Error::last_os_error();
            zmq_sys::zmq_msg_close(message.as_mut_ptr());
            return Err(format!("zmq_msg_send: {error}").into());
        }
    }
    Ok(())
}
