//! The floor: no ZeroMQ at all. Each message is a 4-byte little-endian length and the body, over
//! a plain blocking `std` TCP or Unix stream. Throughput goes through a 256 KiB `BufWriter` /
//! `BufReader` pair (so small messages are batched into large writes, the best any library can
//! do on one stream); messages of 32 KiB and more skip the buffers (one vectored write of header
//! and body; the body read straight into place), so the floor does not pay a copy a library
//! need not make. The ping-pong writes each message with one `write_all` and reads the reply
//! before the next (TCP_NODELAY on).

use std::io::{BufRead, BufReader, BufWriter, IoSlice, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Instant;

use crate::common::{self, Addr, BoxError, Latencies, QUIT};
use crate::spec::{Config, Kind, Role};

const BUFFER: usize = 256 * 1024;

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

fn accept(config: &Config) -> Result<Box<dyn Stream>, BoxError> {
    match common::parse_endpoint(&config.endpoint)? {
        Addr::Tcp(addr) => {
            let listener = TcpListener::bind(addr.as_str())?;
            common::announce(&format!("tcp://{}", listener.local_addr()?));
            let (stream, _) = listener.accept()?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream))
        }
        Addr::Ipc(path) => {
            let listener = UnixListener::bind(&path)?;
            common::announce(&format!("ipc://{path}"));
            let (stream, _) = listener.accept()?;
            Ok(Box::new(stream))
        }
    }
}

fn connect(config: &Config) -> Result<Box<dyn Stream>, BoxError> {
    match common::parse_endpoint(&config.endpoint)? {
        Addr::Tcp(addr) => {
            let stream = TcpStream::connect(addr.as_str())?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream))
        }
        Addr::Ipc(path) => Ok(Box::new(UnixStream::connect(&path)?)),
    }
}

/// Reads one length-prefixed message into `body` (reused).
fn read_message(reader: &mut impl Read, body: &mut Vec<u8>) -> Result<(), BoxError> {
    let mut header = [0u8; 4];
    reader.read_exact(&mut header)?;
    let len = u32::from_le_bytes(header) as usize;
    body.resize(len, 0);
    reader.read_exact(body)?;
    Ok(())
}

/// Reads one length-prefixed message through the buffered reader; what the buffer does not
/// already hold is read straight into `body` (one copy, like any framed reader would do).
fn read_buffered(
    reader: &mut BufReader<Box<dyn Stream>>,
    body: &mut Vec<u8>,
) -> Result<(), BoxError> {
    let mut header = [0u8; 4];
    reader.read_exact(&mut header)?;
    let len = u32::from_le_bytes(header) as usize;
    body.resize(len, 0);
    let buffered = reader.buffer().len().min(len);
    body[..buffered].copy_from_slice(&reader.buffer()[..buffered]);
    reader.consume(buffered);
    if buffered < len {
        reader.get_mut().read_exact(&mut body[buffered..])?;
    }
    Ok(())
}

/// Large messages bypass the writer's buffer: header and body in one vectored write.
const LARGE: usize = 32 * 1024;

fn write_vectored_all(stream: &mut dyn Stream, header: &[u8], body: &[u8]) -> Result<(), BoxError> {
    let mut slices = [IoSlice::new(header), IoSlice::new(body)];
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        let n = stream.write_vectored(slices)?;
        if n == 0 {
            return Err("connection closed".into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

fn framed(size: usize) -> Vec<u8> {
    let mut message = (size as u32).to_le_bytes().to_vec();
    message.extend_from_slice(&common::payload(size));
    message
}

pub fn run(config: &Config) -> Result<(), BoxError> {
    let mut body = Vec::with_capacity(config.size);
    match (config.kind, config.role) {
        (Kind::Proxy, _) => return Err("no proxy row for this library".into()),
        (Kind::Thr, Role::Server) => {
            let mut reader = BufReader::with_capacity(BUFFER, accept(config)?);
            read_buffered(&mut reader, &mut body)?;
            common::check(&body, config.size)?;
            let start = Instant::now();
            for _ in 1..config.count {
                read_buffered(&mut reader, &mut body)?;
                common::check(&body, config.size)?;
            }
            common::report_thr(start.elapsed(), config.count);
        }
        (Kind::Thr, Role::Client) => {
            let header = (config.size as u32).to_le_bytes();
            let payload = common::payload(config.size);
            if config.size >= LARGE {
                let mut stream = connect(config)?;
                for _ in 0..config.count {
                    write_vectored_all(&mut *stream, &header, &payload)?;
                }
            } else {
                let mut writer = BufWriter::with_capacity(BUFFER, connect(config)?);
                for _ in 0..config.count {
                    writer.write_all(&header)?;
                    writer.write_all(&payload)?;
                }
                writer.flush()?;
            }
        }
        (Kind::Lat, Role::Server) => {
            let mut stream = accept(config)?;
            let mut reply = Vec::with_capacity(4 + config.size);
            for _ in 0..config.warmup + config.count {
                read_message(&mut stream, &mut body)?;
                reply.clear();
                reply.extend_from_slice(&(body.len() as u32).to_le_bytes());
                reply.extend_from_slice(&body);
                stream.write_all(&reply)?;
            }
        }
        (Kind::Lat, Role::Client) => {
            let mut stream = connect(config)?;
            let request = framed(config.size);
            let mut latencies = Latencies::new();
            for i in 0..config.warmup + config.count {
                let start = Instant::now();
                stream.write_all(&request)?;
                read_message(&mut stream, &mut body)?;
                let rtt = start.elapsed();
                common::check(&body, config.size)?;
                if i >= config.warmup {
                    latencies.record(rtt);
                }
            }
            latencies.report();
        }
        (Kind::Fanout | Kind::Router, _) => {
            return Err("raw: no fan-out or routing".into());
        }
    }
    QUIT.wait_blocking();
    common::exit_now()
}
