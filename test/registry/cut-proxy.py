#!/usr/bin/python3
"""cut-proxy.py -- a plain-HTTP proxy in front of a test registry that cuts
blob downloads short, for husk's tests of a connection dropped mid-blob.

    cut-proxy.py --upstream HOST:PORT --port-file FILE --log FILE
                 [--cut-after N] [--cuts K] [--min-size M] [--upstream-tls]

Listens on 127.0.0.1, on a port of the kernel's choosing (written to
--port-file once it listens), and forwards every GET and HEAD, with its
headers (Range and Authorization included), to the registry at --upstream
(over TLS without verification with --upstream-tls). The first K (--cuts,
default 1) blob GETs (`/v2/.../blobs/sha256:...`) answered 200 or 206 with a
body of at least M bytes (--min-size, default 2 N) send their headers, with
the full Content-Length, and N bytes (--cut-after, default 65536) of the
body, then the connection is closed: what a client sees of a server that
dies mid-blob.

One line per request in --log: `METHOD PATH range=RANGE status=CODE
bytes=SENT[ CUT]`; a client that speaks TLS to it (a first HTTPS attempt)
gets a 400 and a line `bad-request`.

Python standard library only."""

import argparse
import http.client
import http.server
import re
import socket
import ssl
import sys
import threading

from serve import serve

BLOB = re.compile(r"^/v2/.+/blobs/sha256:[0-9a-f]{64}$")
HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
       "trailers", "transfer-encoding", "upgrade"}


def make_handler(args, state):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def log_line(self, text):
            with state["lock"], open(args.log, "a") as f:
                f.write(text + "\n")

        def handle(self):
            # a TLS ClientHello (a client's first HTTPS attempt) would wait
            # for a newline that may never come: refuse it at once
            try:
                first = self.connection.recv(1, socket.MSG_PEEK)
            except OSError:
                return
            if first == b"\x16":
                self.send_error(400)
                return
            super().handle()

        def send_error(self, code, message=None, explain=None):
            # a request that is not HTTP lands here
            self.log_line("bad-request")
            self.close_connection = True
            try:
                self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass

        def forward(self):
            host, port = args.upstream.rsplit(":", 1)
            if args.upstream_tls:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                conn = http.client.HTTPSConnection(host, int(port), timeout=60, context=ctx)
            else:
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            headers["Host"] = args.upstream
            conn.request(self.command, self.path, headers=headers)
            resp = conn.getresponse()
            length = resp.getheader("Content-Length")
            length = int(length) if length is not None else None

            cut = False
            if (self.command == "GET" and BLOB.match(self.path.split("?")[0])
                    and resp.status in (200, 206) and length is not None
                    and length >= args.min_size):
                with state["lock"]:
                    if state["cuts_left"] > 0:
                        state["cuts_left"] -= 1
                        cut = True

            self.send_response_only(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() in HOP:
                    continue
                # the registry's Location for a redirect points at itself:
                # not rewritten (the filesystem driver does not redirect)
                self.send_header(k, v)
            if length is None and self.command != "HEAD":
                # a body without a length (an error page): read it all
                body = resp.read()
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                sent = len(body)
            else:
                self.end_headers()
                sent = 0
                if self.command != "HEAD":
                    limit = args.cut_after if cut else None
                    while True:
                        want = 65536 if limit is None else min(65536, limit - sent)
                        if want <= 0:
                            break
                        chunk = resp.read(want)
                        if not chunk:
                            break
                        self.wfile.write(chunk)
                        sent += len(chunk)
            conn.close()
            self.log_line(f"{self.command} {self.path} range={self.headers.get('Range', '-')} "
                          f"status={resp.status} bytes={sent}{' CUT' if cut else ''}")
            if cut:
                self.wfile.flush()
                self.close_connection = True
                # a hard close: no more bytes, the client sees the body end early
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass

        def do_GET(self):
            try:
                self.forward()
            except (OSError, http.client.HTTPException) as e:
                self.log_line(f"{self.command} {self.path} error={e!r}")
                self.close_connection = True

        do_HEAD = do_GET

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True)
    p.add_argument("--upstream-tls", action="store_true")
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--cut-after", type=int, default=65536)
    p.add_argument("--cuts", type=int, default=1)
    p.add_argument("--min-size", type=int, default=0)
    args = p.parse_args()
    if args.min_size <= 0:
        args.min_size = 2 * args.cut_after
    state = {"lock": threading.Lock(), "cuts_left": args.cuts}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(args, state))
    server.daemon_threads = True
    return serve(server, args.port_file)


if __name__ == "__main__":
    sys.exit(main())
