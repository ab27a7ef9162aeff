#!/usr/bin/python3
"""token-server.py -- a Docker registry token server for husk's tests
(distribution's "token" auth: https://distribution.github.io/distribution/spec/auth/token/).

    token-server.py --key KEY.pem --users FILE --service NAME --issuer NAME
                    --port-file FILE --log FILE [--tls-cert CRT --tls-key KEY]

Listens on 127.0.0.1, on a port of the kernel's choosing, written to
--port-file once it listens. `GET /token?service=S&scope=repository:NAME:ACTIONS`
with `Authorization: Basic base64(USER:PASS)` matching a line `USER:PASS` of
--users answers 200 `{"token": JWT, "access_token": JWT, "expires_in": 300,
"issued_at": ...}`, granting every requested action on every requested
scope; no or wrong credentials, or another service, answer 401 with a
`WWW-Authenticate: Basic` challenge. The JWT is signed RS256 with --key
(the openssl CLI signs; Python's standard library has no RSA): its header
names the key by the `kid` the registry derives from a certificate of its
`rootcertbundle` (libtrust's key id) and carries that certificate in `x5c`.

Every request is logged to --log, one line: `METHOD PATH user=USER
scopes=SCOPE,... status=CODE` (never a password).

Python standard library only, plus the openssl command."""

import argparse
import base64
import binascii
import hashlib
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

from serve import serve


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args: str, data: bytes = b"") -> bytes:
    return subprocess.run(["openssl", *args], input=data, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=True).stdout


def libtrust_kid(public_der: bytes) -> str:
    """libtrust's KeyID: the first 240 bits of the SHA-256 of the PKIX DER
    public key, base32 without padding, in groups of four joined by ':'."""
    b32 = base64.b32encode(hashlib.sha256(public_der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


class Signer:
    def __init__(self, key_path: str, cert_path: str):
        self.key_path = key_path
        public_der = openssl("pkey", "-in", key_path, "-pubout", "-outform", "DER")
        self.kid = libtrust_kid(public_der)
        self.x5c = []
        if cert_path:
            cert_der = openssl("x509", "-in", cert_path, "-outform", "DER")
            self.x5c = [base64.b64encode(cert_der).decode()]
        self.lock = threading.Lock()

    def sign(self, claims: dict) -> str:
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        if self.x5c:
            header["x5c"] = self.x5c
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        with self.lock:
            sig = openssl("dgst", "-sha256", "-sign", self.key_path, data=signing_input.encode())
        return signing_input + "." + b64url(sig)


def parse_scope(scope: str):
    """TYPE:NAME:ACTION[,ACTION...] -> the token's access entry (NAME is
    what lies between the first and the last ':')."""
    parts = scope.split(":")
    if len(parts) < 3:
        return None
    typ, actions = parts[0], parts[-1]
    name = ":".join(parts[1:-1])
    return {"type": typ, "name": name, "actions": [a for a in actions.split(",") if a]}


def make_handler(args, users, signer, log_lock):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "husk-test-token/1"

        def log_message(self, fmt, *a):  # quiet on stderr
            pass

        def log_line(self, user, scopes, status):
            with log_lock, open(args.log, "a") as f:
                f.write(f"{self.command} {urllib.parse.urlsplit(self.path).path} user={user or '-'} "
                        f"scopes={','.join(scopes) or '-'} status={status}\n")

        def reply(self, status, body: bytes, ctype="application/json", extra=()):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            q = urllib.parse.parse_qs(url.query)
            scopes = q.get("scope", [])
            if url.path != "/token":
                self.log_line(None, scopes, 404)
                self.reply(404, b'{"error":"not found"}')
                return
            user = None
            ok = False
            auth = self.headers.get("Authorization", "")
            if auth[:6].lower() == "basic ":
                try:
                    user_pass = base64.b64decode(auth[6:].strip(), validate=True).decode()
                except (binascii.Error, UnicodeDecodeError):
                    user_pass = ""
                user = user_pass.split(":", 1)[0] if ":" in user_pass else None
                ok = user_pass in users
            service = q.get("service", [""])[0]
            if not ok or service != args.service:
                self.log_line(user, scopes, 401)
                self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                           extra=[("WWW-Authenticate", 'Basic realm="husk-test-token"')])
                return
            access = [s for s in (parse_scope(x) for x in scopes) if s]
            now = int(time.time())
            claims = {
                "iss": args.issuer,
                "sub": user,
                "aud": args.service,
                "exp": now + 300,
                "nbf": now - 60,
                "iat": now,
                "jti": binascii.hexlify(os.urandom(12)).decode(),
                "access": access,
            }
            token = signer.sign(claims)
            body = json.dumps({
                "token": token,
                "access_token": token,
                "expires_in": 300,
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            }).encode()
            self.log_line(user, scopes, 200)
            self.reply(200, body)

        do_HEAD = do_GET

        def do_POST(self):  # OAuth2 form flow: not offered, as docker's own fallback expects
            self.log_line(None, [], 404)
            self.reply(404, b'{"error":"not found"}')

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--key", required=True)
    p.add_argument("--cert", default="", help="the certificate of --key, sent in x5c")
    p.add_argument("--users", required=True)
    p.add_argument("--service", required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    args = p.parse_args()

    with open(args.users) as f:
        users = {line.rstrip("\n") for line in f if ":" in line}
    signer = Signer(args.key, args.cert)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             make_handler(args, users, signer, threading.Lock()))
    server.daemon_threads = True
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    return serve(server, args.port_file)


if __name__ == "__main__":
    sys.exit(main())
