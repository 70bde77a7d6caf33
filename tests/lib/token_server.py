#!/usr/bin/env python3
"""A small token server for docker-registry's `auth: token` (tests only).

Issues RS256 JWTs as distribution's token auth expects them, signed with
`openssl dgst -sha256 -sign KEY` (no Python crypto modules needed), with
the signing certificate in the JWT "x5c" header; the registry trusts it
when its `rootcertbundle` is that same certificate.

Usage:
  token_server.py --key KEY.pem --cert CERT.pem [--port N | --port-file F]
                  [--issuer hoist-test-issuer] [--service hoist-test]
                  [--user NAME:PASSWORD]... [--refresh-token TOKEN]
                  [--anonymous pull|none] [--expires SECONDS] [--log FILE]

  GET  /token?service=S&scope=repository:a:pull,push&scope=...
       Basic auth with a --user: every requested action is granted.
       Basic auth with a wrong password: 401.
       No auth: --anonymous pull grants pull only (default), none: 401.
  POST /token  (grant_type=refresh_token&refresh_token=T&scope=...)
       OAuth2 refresh grant; T must equal --refresh-token.

Make a key and certificate with:
  openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem \
      -days 2 -subj /CN=hoist-token

Each request is appended to --log as one line:
  GET /token user=NAME|- scope=repository:a:pull,push scope=...
Prints the port to --port-file (written atomically) once listening.
"""
import argparse
import base64
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cert_der_b64(cert_path):
    pem = open(cert_path).read()
    body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    return "".join(body.split())


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def make_handler(opts):
    users = dict(u.split(":", 1) for u in opts.user)
    x5c = cert_der_b64(opts.cert)
    log_lock = threading.Lock()

    def sign(payload):
        p = subprocess.run(["openssl", "dgst", "-sha256", "-sign", opts.key],
                           input=payload, stdout=subprocess.PIPE, check=True)
        return p.stdout

    def token_for(subject, scopes, anonymous):
        access = []
        for s in scopes:
            parts = s.split(":")
            if len(parts) < 3:
                continue
            typ, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1]
            acts = [a for a in actions.split(",") if a]
            if anonymous:
                acts = [a for a in acts if a == "pull"]
            access.append({"type": typ, "name": name, "actions": acts})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [x5c]}
        claims = {"iss": opts.issuer, "sub": subject, "aud": opts.service,
                  "exp": now + opts.expires, "nbf": now - 10, "iat": now,
                  "jti": uuid.uuid4().hex, "access": access}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode())).encode()
        return signing_input.decode() + "." + b64url(sign(signing_input))

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def record(self, user, scopes):
            if not opts.log:
                return
            line = "%s %s user=%s %s\n" % (
                self.command, urllib.parse.urlsplit(self.path).path,
                user or "-", " ".join("scope=" + s for s in scopes))
            with log_lock:
                with open(opts.log, "a") as f:
                    f.write(line)

        def reply(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if code == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="token"')
            self.end_headers()
            self.wfile.write(body)

        def grant(self, user, scopes, anonymous):
            tok = token_for(user or "anonymous", scopes, anonymous)
            self.reply(200, {"token": tok, "access_token": tok,
                             "expires_in": opts.expires,
                             "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            q = urllib.parse.parse_qs(u.query)
            scopes = []
            for s in q.get("scope", []):
                scopes.extend(s.split(" "))
            auth = self.headers.get("Authorization", "")
            user = None
            if auth.startswith("Basic "):
                try:
                    user, pw = base64.b64decode(auth[6:]).decode().split(":", 1)
                except Exception:
                    user, pw = "?", None
                self.record(user, scopes)
                if users.get(user) != pw:
                    return self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid username or password"}]})
                return self.grant(user, scopes, False)
            self.record(None, scopes)
            if u.path != "/token":
                return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]})
            if opts.anonymous == "none":
                return self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})
            self.grant(None, scopes, True)

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(n).decode())
            scopes = []
            for s in form.get("scope", []):
                scopes.extend(s.split(" "))
            self.record("refresh" if form.get("refresh_token") else None, scopes)
            if not opts.refresh_token:
                return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no oauth endpoint"}]})
            if form.get("grant_type") != ["refresh_token"] or form.get("refresh_token") != [opts.refresh_token]:
                return self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid refresh token"}]})
            self.grant("refresh-user", scopes, False)

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--key", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--issuer", default="hoist-test-issuer")
    ap.add_argument("--service", default="hoist-test")
    ap.add_argument("--user", action="append", default=[])
    ap.add_argument("--refresh-token")
    ap.add_argument("--anonymous", choices=["pull", "none"], default="pull")
    ap.add_argument("--expires", type=int, default=300)
    ap.add_argument("--log")
    opts = ap.parse_args()
    srv = Server(("127.0.0.1", opts.port), make_handler(opts))
    port = srv.server_address[1]
    if opts.port_file:
        tmp = opts.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, opts.port_file)
    else:
        print(port, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
