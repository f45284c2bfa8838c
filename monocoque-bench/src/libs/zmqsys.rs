//! libzmq with CURVE, for the `curve ...` rows: the system's `libzmq.so.5` (Debian's libzmq5,
//! 4.3.4, CURVE through libsodium), loaded at run time with `dlopen`. The `zmq` crate's libzmq,
//! built from source and linked into this binary, has no CURVE; loading the other one at run
//! time (its own symbol namespace, `RTLD_LOCAL`) keeps both usable in one binary.
//!
//! Blocking sockets and one context per process with its default single I/O thread, as in
//! `libs::zmq`: sends copy the payload (`zmq_send`, what rust-zmq's `send` does), the REP echoes
//! the received message itself (`zmq_msg_send`, as local_lat does).

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::OnceLock;
use std::time::Instant;

use libloading::Library;

use crate::common::{self, BoxError, Latencies, QUIT};
use crate::spec::{Config, Kind, Role};

/// The library's soname: found through the ordinary search (ldconfig's cache).
const SONAME: &str = "libzmq.so.5";

// From zmq.h (libzmq 4.3.4).
const ZMQ_REQ: c_int = 3;
const ZMQ_REP: c_int = 4;
const ZMQ_PULL: c_int = 7;
const ZMQ_PUSH: c_int = 8;
const ZMQ_SNDHWM: c_int = 23;
const ZMQ_RCVHWM: c_int = 24;
const ZMQ_LAST_ENDPOINT: c_int = 32;
const ZMQ_CURVE_SERVER: c_int = 47;
const ZMQ_CURVE_PUBLICKEY: c_int = 48;
const ZMQ_CURVE_SECRETKEY: c_int = 49;
const ZMQ_CURVE_SERVERKEY: c_int = 50;
const EINTR: c_int = libc::EINTR;

/// `zmq_msg_t`: 64 opaque bytes, pointer-aligned.
#[repr(C, align(8))]
struct RawMsg([u8; 64]);

type Socket = *mut c_void;

/// The functions used, resolved once. The library is never unloaded.
struct Api {
    _library: Library,
    version: unsafe extern "C" fn(*mut c_int, *mut c_int, *mut c_int),
    has: unsafe extern "C" fn(*const c_char) -> c_int,
    errno: unsafe extern "C" fn() -> c_int,
    strerror: unsafe extern "C" fn(c_int) -> *const c_char,
    ctx_new: unsafe extern "C" fn() -> *mut c_void,
    socket: unsafe extern "C" fn(*mut c_void, c_int) -> Socket,
    setsockopt: unsafe extern "C" fn(Socket, c_int, *const c_void, usize) -> c_int,
    getsockopt: unsafe extern "C" fn(Socket, c_int, *mut c_void, *mut usize) -> c_int,
    bind: unsafe extern "C" fn(Socket, *const c_char) -> c_int,
    connect: unsafe extern "C" fn(Socket, *const c_char) -> c_int,
    send: unsafe extern "C" fn(Socket, *const c_void, usize, c_int) -> c_int,
    msg_init: unsafe extern "C" fn(*mut RawMsg) -> c_int,
    msg_recv: unsafe extern "C" fn(*mut RawMsg, Socket, c_int) -> c_int,
    msg_send: unsafe extern "C" fn(*mut RawMsg, Socket, c_int) -> c_int,
    msg_close: unsafe extern "C" fn(*mut RawMsg) -> c_int,
    msg_data: unsafe extern "C" fn(*mut RawMsg) -> *mut c_void,
    msg_size: unsafe extern "C" fn(*const RawMsg) -> usize,
    msg_more: unsafe extern "C" fn(*const RawMsg) -> c_int,
}

// SAFETY: the library handle and plain function pointers; libzmq's functions are callable from
// any thread (sockets are not shared between threads here).
unsafe impl Send for Api {}
unsafe impl Sync for Api {}

impl Api {
    fn load() -> Result<Self, String> {
        // SAFETY: loading libzmq runs its (and libsodium's, libstdc++'s) initialisers, which
        // have no preconditions.
        let library = unsafe { Library::new(SONAME) }.map_err(|e| {
            format!(
                "cannot load {SONAME} ({e}); install Debian's libzmq5 (apt-get install libzmq5)"
            )
        })?;
        /// A function of the library; the pointer lives as long as the library, which is never
        /// unloaded.
        ///
        /// SAFETY: `T` must be the function's C signature in zmq.h.
        unsafe fn symbol<T: Copy>(library: &Library, name: &str) -> Result<T, String> {
            // SAFETY: the caller gives the right signature.
            unsafe { library.get::<T>(name.as_bytes()) }
                .map(|symbol| *symbol)
                .map_err(|e| format!("{SONAME}: no {name}: {e}"))
        }
        macro_rules! symbols {
            ($($field:ident = $name:literal),* $(,)?) => {
                Self {
                    $(
                        // SAFETY: each field's type is its function's signature in zmq.h.
                        $field: unsafe { symbol(&library, $name)? },
                    )*
                    _library: library,
                }
            };
        }
        let api = symbols! {
            version = "zmq_version",
            has = "zmq_has",
            errno = "zmq_errno",
            strerror = "zmq_strerror",
            ctx_new = "zmq_ctx_new",
            socket = "zmq_socket",
            setsockopt = "zmq_setsockopt",
            getsockopt = "zmq_getsockopt",
            bind = "zmq_bind",
            connect = "zmq_connect",
            send = "zmq_send",
            msg_init = "zmq_msg_init",
            msg_recv = "zmq_msg_recv",
            msg_send = "zmq_msg_send",
            msg_close = "zmq_msg_close",
            msg_data = "zmq_msg_data",
            msg_size = "zmq_msg_size",
            msg_more = "zmq_msg_more",
        };
        // SAFETY: a NUL-terminated string.
        if unsafe { (api.has)(c"curve".as_ptr()) } != 1 {
            return Err(format!(
                "{SONAME} {} is built without CURVE (zmq_has(\"curve\") is 0); the curve rows \
                 need one built with libsodium, as Debian's libzmq5 is",
                api.version_string()
            ));
        }
        Ok(api)
    }

    fn version_string(&self) -> String {
        let (mut major, mut minor, mut patch) = (0, 0, 0);
        // SAFETY: three writable ints.
        unsafe { (self.version)(&mut major, &mut minor, &mut patch) };
        format!("{major}.{minor}.{patch}")
    }

    /// The last error of this thread, as libzmq words it.
    fn error(&self, what: &str) -> BoxError {
        // SAFETY: zmq_strerror returns a static NUL-terminated string.
        let text = unsafe {
            let code = (self.errno)();
            CStr::from_ptr((self.strerror)(code))
                .to_string_lossy()
                .into_owned()
        };
        format!("{SONAME} {what}: {text}").into()
    }

    fn errno(&self) -> c_int {
        // SAFETY: no arguments.
        unsafe { (self.errno)() }
    }

    fn setsockopt(&self, socket: Socket, option: c_int, value: &[u8]) -> Result<(), BoxError> {
        // SAFETY: `value` is readable for its length.
        let rc = unsafe { (self.setsockopt)(socket, option, value.as_ptr().cast(), value.len()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(self.error(&format!("zmq_setsockopt({option})")))
        }
    }

    fn socket(&self, context: *mut c_void, kind: c_int) -> Result<Socket, BoxError> {
        // SAFETY: a live context.
        let socket = unsafe { (self.socket)(context, kind) };
        if socket.is_null() {
            Err(self.error("zmq_socket"))
        } else {
            Ok(socket)
        }
    }

    fn last_endpoint(&self, socket: Socket) -> Result<String, BoxError> {
        let mut buf = [0u8; 256];
        let mut len = buf.len();
        // SAFETY: `buf` is writable for `len` bytes; libzmq writes a NUL-terminated string.
        let rc = unsafe {
            (self.getsockopt)(socket, ZMQ_LAST_ENDPOINT, buf.as_mut_ptr().cast(), &mut len)
        };
        if rc != 0 {
            return Err(self.error("zmq_getsockopt(ZMQ_LAST_ENDPOINT)"));
        }
        let text = CStr::from_bytes_until_nul(&buf[..len.min(buf.len())])
            .map_err(|_| "ZMQ_LAST_ENDPOINT without a NUL")?;
        Ok(text.to_str()?.to_owned())
    }

    fn send(&self, socket: Socket, body: &[u8]) -> Result<(), BoxError> {
        loop {
            // SAFETY: `body` is readable for its length; libzmq copies it.
            let rc = unsafe { (self.send)(socket, body.as_ptr().cast(), body.len(), 0) };
            if rc >= 0 {
                return Ok(());
            }
            if self.errno() != EINTR {
                return Err(self.error("zmq_send"));
            }
        }
    }
}

/// One received message, reused.
struct Msg<'a> {
    api: &'a Api,
    raw: RawMsg,
}

impl<'a> Msg<'a> {
    fn new(api: &'a Api) -> Self {
        let mut raw = RawMsg([0; 64]);
        // SAFETY: zmq_msg_init cannot fail on a writable zmq_msg_t.
        unsafe { (api.msg_init)(&mut raw) };
        Self { api, raw }
    }

    fn recv(&mut self, socket: Socket) -> Result<(), BoxError> {
        loop {
            // SAFETY: an initialised message (recv closes what it held) and a live socket.
            let rc = unsafe { (self.api.msg_recv)(&mut self.raw, socket, 0) };
            if rc >= 0 {
                return Ok(());
            }
            if self.api.errno() != EINTR {
                return Err(self.api.error("zmq_msg_recv"));
            }
        }
    }

    /// Sends this message itself, which leaves it empty (initialised) on success.
    fn send(&mut self, socket: Socket) -> Result<(), BoxError> {
        loop {
            // SAFETY: an initialised message and a live socket.
            let rc = unsafe { (self.api.msg_send)(&mut self.raw, socket, 0) };
            if rc >= 0 {
                return Ok(());
            }
            if self.api.errno() != EINTR {
                return Err(self.api.error("zmq_msg_send"));
            }
        }
    }

    /// Checks that this is one frame of `size` bytes of the fill.
    fn check(&mut self, size: usize) -> Result<(), BoxError> {
        // SAFETY: an initialised message; its data is readable for its size until it changes.
        let (more, body) = unsafe {
            let len = (self.api.msg_size)(&self.raw);
            let data = (self.api.msg_data)(&mut self.raw).cast::<u8>();
            let body: &[u8] = if len == 0 {
                &[]
            } else {
                std::slice::from_raw_parts(data, len)
            };
            ((self.api.msg_more)(&self.raw) != 0, body)
        };
        if more {
            return Err("received a multipart message, expected one frame".into());
        }
        common::check(body, size)
    }
}

impl Drop for Msg<'_> {
    fn drop(&mut self) {
        // SAFETY: an initialised message.
        unsafe { (self.api.msg_close)(&mut self.raw) };
    }
}

fn api() -> Result<&'static Api, BoxError> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(Api::load)
        .as_ref()
        .map_err(|e| e.clone().into())
}

/// What was found: `libzmq.so.5 4.3.4 with CURVE`, or why it cannot be used.
pub fn describe() -> Result<String, BoxError> {
    let api = api()?;
    Ok(format!("{SONAME} {} with CURVE", api.version_string()))
}

pub fn run(config: &Config) -> Result<(), BoxError> {
    let api = api()?;
    // SAFETY: no arguments. One context for the process, never terminated (as in libs::zmq).
    let context = unsafe { (api.ctx_new)() };
    if context.is_null() {
        return Err(api.error("zmq_ctx_new"));
    }
    let payload = common::payload(config.size);
    let keys = common::curve_keys()?;
    let socket = |kind| -> Result<Socket, BoxError> {
        let socket = api.socket(context, kind)?;
        if let Some(hwm) = config.hwm {
            api.setsockopt(socket, ZMQ_SNDHWM, &(hwm as c_int).to_ne_bytes())?;
            api.setsockopt(socket, ZMQ_RCVHWM, &(hwm as c_int).to_ne_bytes())?;
        }
        if config.curve {
            // Keys as 32 raw bytes. The binding side is the CURVE server.
            match config.role {
                Role::Server => {
                    api.setsockopt(socket, ZMQ_CURVE_SERVER, &1_i32.to_ne_bytes())?;
                    api.setsockopt(socket, ZMQ_CURVE_SECRETKEY, keys.server.secret.as_bytes())?;
                }
                Role::Client => {
                    api.setsockopt(socket, ZMQ_CURVE_SERVERKEY, keys.server.public.as_bytes())?;
                    api.setsockopt(socket, ZMQ_CURVE_PUBLICKEY, keys.client.public.as_bytes())?;
                    api.setsockopt(socket, ZMQ_CURVE_SECRETKEY, keys.client.secret.as_bytes())?;
                }
            }
        }
        Ok(socket)
    };
    let bind = |kind| -> Result<Socket, BoxError> {
        let socket = socket(kind)?;
        // libzmq spells "any port" as `*`.
        let endpoint = match config.endpoint.strip_suffix(":0") {
            Some(host) if config.endpoint.starts_with("tcp://") => format!("{host}:*"),
            _ => config.endpoint.clone(),
        };
        let endpoint = CString::new(endpoint)?;
        // SAFETY: a live socket and a NUL-terminated endpoint.
        if unsafe { (api.bind)(socket, endpoint.as_ptr()) } != 0 {
            return Err(api.error("zmq_bind"));
        }
        common::announce(&api.last_endpoint(socket)?);
        Ok(socket)
    };
    let connect = |kind| -> Result<Socket, BoxError> {
        let socket = socket(kind)?;
        let endpoint = CString::new(config.endpoint.as_str())?;
        // SAFETY: a live socket and a NUL-terminated endpoint.
        if unsafe { (api.connect)(socket, endpoint.as_ptr()) } != 0 {
            return Err(api.error("zmq_connect"));
        }
        Ok(socket)
    };
    let mut message = Msg::new(api);
    match (config.kind, config.role) {
        (Kind::Thr, Role::Server) => {
            let pull = bind(ZMQ_PULL)?;
            message.recv(pull)?;
            message.check(config.size)?;
            let start = Instant::now();
            for _ in 1..config.count {
                message.recv(pull)?;
                message.check(config.size)?;
            }
            common::report_thr(start.elapsed(), config.count);
        }
        (Kind::Thr, Role::Client) => {
            let push = connect(ZMQ_PUSH)?;
            for _ in 0..config.count {
                api.send(push, &payload)?;
            }
        }
        (Kind::Lat, Role::Server) => {
            let rep = bind(ZMQ_REP)?;
            for _ in 0..config.warmup + config.count {
                message.recv(rep)?;
                message.send(rep)?;
            }
        }
        (Kind::Lat, Role::Client) => {
            let req = connect(ZMQ_REQ)?;
            let mut latencies = Latencies::new();
            for i in 0..config.warmup + config.count {
                let start = Instant::now();
                api.send(req, &payload)?;
                message.recv(req)?;
                let rtt = start.elapsed();
                message.check(config.size)?;
                if i >= config.warmup {
                    latencies.record(rtt);
                }
            }
            latencies.report();
        }
        _ => {
            return Err(format!(
                "{SONAME} (the curve rows' libzmq): throughput and latency rows only"
            )
            .into());
        }
    }
    QUIT.wait_blocking();
    common::exit_now()
}
