#!/usr/bin/env python3
"""Loopback HTTP proxy in front of an S3 server, for fault and latency injection.

Usage: s3proxy.py --upstream 127.0.0.1:PORT [--port 0] [--log FILE] [--seed N]
                  [--delay-ms N] [--fail-rate R] [--drop-rate R] [--drop-after-forward]
                  [--fail-methods POST,DELETE] [--fail-match REGEX]

Clients talk to the proxy as if it were the server (`regionendpoint: http://127.0.0.1:<port>`).
Each request is forwarded unchanged (method, path, query, headers including Host, body), so
SigV4 signatures stay valid, and the upstream's answer is passed back. Python stdlib only.

  --delay-ms N     sleep N ms before handling each request (a distant S3 region)
  --fail-rate R    answer that share of eligible requests with 503 and an S3 `SlowDown`
                   XML error, without forwarding them
  --drop-rate R    close the connection of that share of eligible requests without any
                   answer (before forwarding; with --drop-after-forward, after the upstream
                   has handled it: the request took effect, the client never hears so)
  --fail-methods   only requests with these methods are eligible (default: all)
  --fail-match     only requests whose `path?query` matches this regex are eligible
                   (e.g. `[?&]delete` for DeleteObjects)
  --seed N         the sequence of fault decisions is fixed by N (default 1)

Prints its port on stdout once it listens. With --log, appends one line per request:
`METHOD<TAB>PATH?QUERY<TAB>STATUS<TAB>OUTCOME<TAB>MS` (OUTCOME: ok, fail, drop,
drop-after, error; STATUS 0 when nothing was answered).
"""
import argparse
import http.client
import random
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
}

SLOWDOWN = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
    "<RequestId>s3proxy</RequestId><HostId>s3proxy</HostId></Error>"
).encode()


class Faults:
    """Decides, in a sequence fixed by the seed, what happens to each eligible request."""

    def __init__(self, args):
        self.rng = random.Random(args.seed)
        self.lock = threading.Lock()
        self.fail_rate = args.fail_rate
        self.drop_rate = args.drop_rate
        self.methods = {m.strip().upper() for m in args.fail_methods.split(",") if m.strip()}
        self.match = re.compile(args.fail_match) if args.fail_match else None

    def decide(self, method, target):
        if self.methods and method not in self.methods:
            return "ok"
        if self.match and not self.match.search(target):
            return "ok"
        with self.lock:
            x = self.rng.random()
        if x < self.fail_rate:
            return "fail"
        if x < self.fail_rate + self.drop_rate:
            return "drop"
        return "ok"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: without TCP_NODELAY, Nagle and the
    # client's delayed ACK add ~40 ms to every answer
    disable_nagle_algorithm = True
    upstream = None  # one keep-alive upstream connection per client connection

    def log_message(self, fmt, *args):  # quiet: requests go to --log
        pass

    def record(self, status, outcome, started):
        log = self.server.log
        if log is None:
            return
        ms = (time.monotonic() - started) * 1000
        line = "%s\t%s\t%d\t%s\t%.1f\n" % (self.command, self.path, status, outcome, ms)
        with self.server.log_lock:
            log.write(line)
            log.flush()

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks), True
        n = int(self.headers.get("Content-Length") or 0)
        return (self.rfile.read(n) if n else b""), False

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def forward(self, body, was_chunked):
        """Sends the request upstream on this connection's keep-alive connection (a
        new one if the kept one turns out closed before answering) and reads the answer."""
        for attempt in (0, 1):
            fresh = self.upstream is None
            if fresh:
                cfg = self.server.cfg
                self.upstream = http.client.HTTPConnection(cfg.upstream_host, cfg.upstream_port, timeout=300)
            conn = self.upstream
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for k, v in self.headers.items():
                    if k.lower() in HOP_BY_HOP:
                        continue
                    if was_chunked and k.lower() == "content-length":
                        continue
                    conn.putheader(k, v)
                if was_chunked:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body if body else None)
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                self.upstream = None
                if fresh or attempt:
                    raise
                continue  # the kept connection had been closed by the server: once more
            except (OSError, http.client.HTTPException):
                conn.close()
                self.upstream = None
                raise
            if resp.will_close:
                conn.close()
                self.upstream = None
            return resp, data, resp.getheaders()

    def finish(self):
        if self.upstream is not None:
            self.upstream.close()
        super().finish()

    def handle_any(self):
        started = time.monotonic()
        cfg = self.server.cfg
        body, was_chunked = self.read_body()
        if cfg.delay_ms:
            time.sleep(cfg.delay_ms / 1000)
        outcome = self.server.faults.decide(self.command, self.path)
        if outcome == "fail":
            self.send_response(503, "Slow Down")
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(SLOWDOWN)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(SLOWDOWN)
            self.record(503, "fail", started)
            return
        if outcome == "drop" and not cfg.drop_after_forward:
            self.record(0, "drop", started)
            self.drop()
            return
        try:
            resp, data, headers = self.forward(body, was_chunked)
        except (OSError, http.client.HTTPException) as e:
            self.record(0, "error", started)
            print("s3proxy: upstream error: %s" % e, file=sys.stderr, flush=True)
            self.drop()
            return
        if outcome == "drop":
            self.record(resp.status, "drop-after", started)
            self.drop()
            return
        self.send_response_only(resp.status, resp.reason)
        has_length = False
        for k, v in headers:
            kl = k.lower()
            if kl in HOP_BY_HOP:
                continue
            if kl == "content-length":
                has_length = True
                if self.command != "HEAD":
                    v = str(len(data))
            self.send_header(k, v)
        if not has_length and self.command != "HEAD" and resp.status not in (204, 304):
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)
        self.record(resp.status, "ok", started)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = handle_any


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", required=True, help="HOST:PORT of the S3 server")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--log")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--delay-ms", type=float, default=0)
    p.add_argument("--fail-rate", type=float, default=0)
    p.add_argument("--drop-rate", type=float, default=0)
    p.add_argument("--drop-after-forward", action="store_true")
    p.add_argument("--fail-methods", default="")
    p.add_argument("--fail-match", default="")
    args = p.parse_args()
    host, _, port = args.upstream.rpartition(":")
    args.upstream_host, args.upstream_port = host or "127.0.0.1", int(port)

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.cfg = args
    srv.faults = Faults(args)
    srv.log = open(args.log, "a", encoding="utf-8") if args.log else None
    srv.log_lock = threading.Lock()
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
