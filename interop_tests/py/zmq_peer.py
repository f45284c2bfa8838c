"""A pyzmq peer for monocoque's interop tests (interop_tests/tests/security_curve.rs).

The `zmq` crate's libzmq is built without CURVE; pyzmq's wheel bundles a libzmq with libsodium,
so this program is the CURVE (and ZAP) counterpart of the tests, driven by its arguments:

    zmq_peer.py --type REP --bind tcp://127.0.0.1:* --mechanism curve --curve-server \
        --secret Z85 --action echo --count 3 --monitor
    zmq_peer.py --action keypair

It reports on stdout, one fact per line, flushed at once:

    ENDPOINT <endpoint>           after a bind, as LAST_ENDPOINT says (the real port)
    CONNECTING <endpoint>         after a connect was started
    READY                         the socket is set up (and bound or connecting)
    RECV <hex> [<hex> ...]        a message received, each frame in hex, `-` for an empty frame
    USER_ID <text>                the User-Id property of a received message, when it has one
    SENT <n>                      messages sent so far (for send and publish)
    EVENT_<NAME> <value> [<name>] a monitor event; HANDSHAKE_FAILED_PROTOCOL adds the code's name
    PUBLIC/SECRET/DERIVED <z85>   from --action keypair
    DONE                          the action finished; the exit status is 0 (with --monitor,
                                  events are still reported until stdin says stop)
    TIMEOUT <what>                a wait ran out; the exit status is 2

Every wait is bounded by --timeout, and a watchdog ends the process shortly after it whatever
happens, so that a test can never hang on this peer.
"""

import argparse
import os
import sys
import threading
import time

import zmq
import zmq.auth.thread
from zmq.utils.monitor import recv_monitor_message

TYPES = {
    name: getattr(zmq, name)
    for name in ("REQ", "REP", "DEALER", "ROUTER", "PUB", "SUB", "PUSH", "PULL", "PAIR")
}

# How long a closing socket may still spend flushing its last messages.
LINGER_MS = 1000


def say(*words):
    print(*words, flush=True)


def hex_frames(frames):
    return " ".join(frame.hex() if frame else "-" for frame in frames)


def protocol_error_name(code):
    for name in dir(zmq):
        if name.startswith("PROTOCOL_ERROR_") and getattr(zmq, name) == code:
            return name[len("PROTOCOL_ERROR_"):]
    return "UNKNOWN"


def event_name(event):
    try:
        return zmq.Event(event).name
    except ValueError:
        return "0x%x" % event


class TimedOut(Exception):
    pass


class Peer:
    def __init__(self, args):
        self.args = args
        self.deadline = time.monotonic() + args.timeout
        self.context = zmq.Context()
        self.auth = None
        self.monitor = None
        self.stop = threading.Event()
        self.watching = False

        if args.zap_curve_key or args.zap_plain or args.zap:
            # The handler must be bound before the socket sees its first client.
            self.auth = zmq.auth.thread.ThreadAuthenticator(self.context)
            self.auth.start()
            if args.zap_plain:
                passwords = dict(pair.split("=", 1) for pair in args.zap_plain)
                self.auth.configure_plain(domain="*", passwords=passwords)
            allowed = {key.encode() for key in args.zap_curve_key}

            class Keys:
                def callback(self, domain, key):
                    return key in allowed

            self.auth.configure_curve_callback(domain="*", credentials_provider=Keys())

        self.socket = self.context.socket(TYPES[args.type])
        self.socket.linger = LINGER_MS
        self.configure_security()
        if args.type == "SUB":
            self.socket.setsockopt(zmq.SUBSCRIBE, args.subscribe.encode())
        if args.monitor:
            self.monitor = self.socket.get_monitor_socket()

        if args.bind:
            self.socket.bind(args.bind)
            say("ENDPOINT", self.socket.getsockopt_string(zmq.LAST_ENDPOINT))
        else:
            self.socket.connect(args.connect)
            say("CONNECTING", args.connect)
        say("READY")

    def configure_security(self):
        args, socket = self.args, self.socket
        if args.mechanism == "plain":
            if args.plain_server:
                socket.plain_server = True
            else:
                socket.plain_username = args.username.encode()
                socket.plain_password = args.password.encode()
        elif args.mechanism == "curve":
            if args.curve_server:
                socket.curve_server = True
            else:
                socket.curve_serverkey = args.server_key.encode()
            socket.curve_secretkey = args.secret.encode()
            public = args.public or zmq.curve_public(args.secret.encode()).decode()
            socket.curve_publickey = public.encode()

    def report_events(self):
        while self.monitor is not None and self.monitor.poll(0):
            event = recv_monitor_message(self.monitor)
            name = event_name(event["event"])
            value = event["value"]
            if event["event"] == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
                say("EVENT_" + name, value, protocol_error_name(value))
            else:
                say("EVENT_" + name, value)

    def wait(self, flag, what):
        """Waits until the socket is ready for `flag`, reporting monitor events meanwhile."""
        poller = zmq.Poller()
        poller.register(self.socket, flag)
        if self.monitor is not None:
            poller.register(self.monitor, zmq.POLLIN)
        while True:
            self.report_events()
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimedOut(what)
            # Short rounds, so that a stop from stdin is seen soon.
            ready = dict(poller.poll(min(remaining, 0.05) * 1000))
            if ready.get(self.socket, 0) & flag:
                self.report_events()
                return

    def recv(self):
        self.wait(zmq.POLLIN, "a message")
        frames = self.socket.recv_multipart(copy=False)
        say("RECV", hex_frames([frame.bytes for frame in frames]))
        try:
            user_id = frames[-1].get("User-Id")
        except zmq.ZMQError:
            user_id = None
        if user_id:
            say("USER_ID", user_id)
        return [frame.bytes for frame in frames]

    def send(self, frames):
        self.wait(zmq.POLLOUT, "room to send")
        self.socket.send_multipart(frames)

    def payload(self, i):
        return ("%s %d" % (self.args.message, i)).encode()

    def run(self):
        action, count = self.args.action, self.args.count
        if action == "echo":
            for _ in range(count):
                self.send(self.recv())
        elif action == "recv":
            for _ in range(count):
                self.recv()
        elif action == "request":
            for i in range(count):
                self.send([self.payload(i)])
                self.recv()
        elif action == "send":
            for i in range(count):
                self.send([self.payload(i)])
                say("SENT", i + 1)
        elif action == "publish":
            self.watch_stdin()
            i = 0
            while not self.stop.is_set():
                if time.monotonic() >= self.deadline:
                    raise TimedOut("a stop on stdin")
                self.socket.send_multipart([self.payload(i)])
                i += 1
                # A subscriber that joins late still gets one of the next ones.
                self.stop.wait(0.01)
                self.report_events()
        say("DONE")
        if self.monitor is not None:
            self.watch_events()

    def watch_events(self):
        """Goes on reporting monitor events, with the connection open, until stdin says stop or
        the time is up: a handshake may end after the action did (a send only queues)."""
        self.watch_stdin()
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            self.monitor.poll(50)
            self.report_events()

    def watch_stdin(self):
        if self.watching:
            return
        self.watching = True

        def watch():
            sys.stdin.readline()
            self.stop.set()

        threading.Thread(target=watch, daemon=True).start()

    def close(self):
        if self.monitor is not None:
            self.socket.disable_monitor()
            self.monitor.close(linger=0)
        self.socket.close()
        if self.auth is not None:
            self.auth.stop()
        self.context.term()


def keypairs(count):
    for _ in range(count):
        public, secret = zmq.curve_keypair()
        say("PUBLIC", public.decode())
        say("SECRET", secret.decode())
        say("DERIVED", zmq.curve_public(secret).decode())
    say("DONE")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--type", choices=sorted(TYPES), default="PAIR")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--bind", metavar="ENDPOINT")
    where.add_argument("--connect", metavar="ENDPOINT")
    parser.add_argument("--mechanism", choices=("null", "plain", "curve"), default="null")
    parser.add_argument("--curve-server", action="store_true")
    parser.add_argument("--secret", metavar="Z85", help="this socket's CURVE secret key")
    parser.add_argument("--public", metavar="Z85", help="its public key (else derived)")
    parser.add_argument("--server-key", metavar="Z85", help="a CURVE client's server key")
    parser.add_argument("--plain-server", action="store_true")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--zap", action="store_true", help="run a ZAP handler (deny all)")
    parser.add_argument(
        "--zap-curve-key", metavar="Z85", action="append", default=[],
        help="a CURVE client key the ZAP handler allows (repeatable)",
    )
    parser.add_argument(
        "--zap-plain", metavar="USER=PASSWORD", action="append", default=[],
        help="PLAIN credentials the ZAP handler allows (repeatable)",
    )
    parser.add_argument("--monitor", action="store_true", help="report monitor events")
    parser.add_argument(
        "--action",
        choices=("echo", "recv", "request", "send", "publish", "keypair"),
        required=True,
    )
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--message", default="hello", help="payload i is '<message> <i>'")
    parser.add_argument("--subscribe", default="", help="a SUB's topic")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds, for all waits")
    args = parser.parse_args()

    # Whatever blocks (a context that will not terminate, a stuck thread), the process ends.
    watchdog = threading.Timer(args.timeout + 5, lambda: os._exit(3))
    watchdog.daemon = True
    watchdog.start()

    if args.action == "keypair":
        keypairs(args.count)
        return 0
    if not (args.bind or args.connect):
        parser.error("--bind or --connect is required")
    if args.mechanism == "curve" and not args.secret:
        parser.error("CURVE needs --secret")
    if args.mechanism == "curve" and not args.curve_server and not args.server_key:
        parser.error("a CURVE client needs --server-key")

    peer = Peer(args)
    status = 0
    try:
        peer.run()
    except TimedOut as waited:
        say("TIMEOUT", waited)
        status = 2
    finally:
        peer.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
