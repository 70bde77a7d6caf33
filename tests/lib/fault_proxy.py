#!/usr/bin/env python3
"""A fault-injecting TCP proxy for HTTP/1.1 registries (tests only).

Forwards every connection to --target, logs each request it sees, and can
break things on purpose:
  --cut-match REGEX --cut-after N [--cut-times K]
      for a request whose "METHOD PATH" matches REGEX, forward N bytes of
      the response, then close both sides (a connection lost mid-response);
      K times in all.  Responses shorter than N are not cut and do not
      count (on a kept-alive connection the next request starts afresh).
  --fail-match REGEX --fail-status CODE [--fail-times K]
      answer the first K matching requests with CODE (empty body,
      "Retry-After: 0") instead of forwarding them.
  --redirect-match REGEX --redirect-to BASE
      answer matching requests with "307 Temporary Redirect" to BASE+PATH
      (another origin: like a registry sending blobs to storage).
  --corrupt-match REGEX [--corrupt-times K]
      flip the first body byte of the first K matching requests (an
      upload damaged on the way: the registry must refuse it).
  --strip-range
      drop Range headers from requests (the server then answers 200 with
      the whole content: a client resuming must skip what it has).

Usage:
  fault_proxy.py --target 127.0.0.1:5000 [--port N | --port-file F]
                 [--log FILE] [cut / fail options]

--log gets one line per request: "METHOD PATH" (path with its query),
followed by " range=VALUE" when the request has a Range header and by
" authorization=present" when it carries an Authorization header.
A connection whose first bytes are not an HTTP request (a TLS probe) is
forwarded untouched and not logged.  Prints the port to --port-file
(written atomically), or to stdout, once listening.
"""
import argparse
import os
import re
import socket
import sys
import threading

METHODS = (b"GET", b"HEAD", b"PUT", b"POST", b"PATCH", b"DELETE", b"OPTIONS")


class State:
    def __init__(self, opts):
        self.opts = opts
        self.lock = threading.Lock()
        self.cuts_left = opts.cut_times
        self.fails_left = opts.fail_times
        self.cut_re = re.compile(opts.cut_match) if opts.cut_match else None
        self.fail_re = re.compile(opts.fail_match) if opts.fail_match else None
        self.redirect_re = re.compile(opts.redirect_match) if opts.redirect_match else None
        self.corrupt_re = re.compile(opts.corrupt_match) if opts.corrupt_match else None
        self.corrupts_left = opts.corrupt_times

    def log(self, line):
        if self.opts.log:
            with self.lock:
                with open(self.opts.log, "a") as f:
                    f.write(line + "\n")

    def wants_cut(self, line):
        with self.lock:
            return bool(self.cut_re and self.cuts_left > 0 and self.cut_re.search(line))

    def take_cut(self):
        with self.lock:
            if self.cuts_left > 0:
                self.cuts_left -= 1
                return True
        return False

    def take_corrupt(self, line):
        with self.lock:
            if self.corrupt_re and self.corrupts_left > 0 and self.corrupt_re.search(line):
                self.corrupts_left -= 1
                return True
        return False

    def take_fail(self, line):
        with self.lock:
            if self.fail_re and self.fails_left > 0 and self.fail_re.search(line):
                self.fails_left -= 1
                return True
        return False


def close_both(a, b):
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            s.close()
        except OSError:
            pass


class Conn:
    def __init__(self, st, client, server):
        self.st = st
        self.client = client
        self.server = server
        self.lock = threading.Lock()
        self.cut_budget = None  # bytes of response still allowed, or None
        self.closed = False

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
        close_both(self.client, self.server)

    def upstream(self):
        """client -> server: parse requests, log, inject faults."""
        buf = b""
        raw = False
        try:
            while True:
                data = self.client.recv(65536)
                if not data:
                    break
                if raw:
                    self.server.sendall(data)
                    continue
                buf += data
                while True:
                    if not buf:
                        break
                    if not buf.split(b" ", 1)[0] in METHODS:
                        if len(buf) >= 8 or b" " in buf:
                            raw = True
                            self.server.sendall(buf)
                            buf = b""
                        break
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        break
                    head = buf[:end + 4]
                    lines = head.split(b"\r\n")
                    method, path = lines[0].split(b" ")[:2]
                    length = 0
                    chunked = False
                    for h in lines[1:]:
                        k, _, v = h.partition(b":")
                        if k.strip().lower() == b"content-length":
                            length = int(v.strip() or 0)
                        if k.strip().lower() == b"transfer-encoding" and b"chunked" in v.lower():
                            chunked = True
                    line = "%s %s" % (method.decode(), path.decode())
                    rng = [h.partition(b":")[2].strip() for h in lines[1:]
                           if h.partition(b":")[0].strip().lower() == b"range"]
                    has_auth = any(h.partition(b":")[0].strip().lower() == b"authorization"
                                   for h in lines[1:])
                    self.st.log(line + ("".join(" range=" + r.decode() for r in rng)) +
                                (" authorization=present" if has_auth else ""))
                    if self.st.redirect_re and self.st.redirect_re.search(line):
                        rest = buf[end + 4:]
                        while len(rest) < length:
                            more = self.client.recv(65536)
                            if not more:
                                return self.close()
                            rest += more
                        buf = rest[length:]
                        resp = ("HTTP/1.1 307 Temporary Redirect\r\nLocation: %s%s\r\n"
                                "Content-Length: 0\r\n\r\n" % (self.st.opts.redirect_to, path.decode()))
                        self.client.sendall(resp.encode())
                        continue
                    if rng and self.st.opts.strip_range:
                        kept = [h for h in lines[1:] if h and h.partition(b":")[0].strip().lower() != b"range"]
                        newhead = b"\r\n".join([lines[0]] + kept)
                        buf = newhead + buf[end:]
                        end = len(newhead)
                    if self.st.take_fail(line):
                        # swallow the request (and its body) and answer
                        body_left = length
                        rest = buf[end + 4:]
                        while len(rest) < body_left:
                            more = self.client.recv(65536)
                            if not more:
                                return self.close()
                            rest += more
                        buf = rest[body_left:]
                        resp = ("HTTP/1.1 %d Injected\r\nContent-Length: 0\r\n"
                                "Retry-After: 0\r\n\r\n" % self.st.opts.fail_status)
                        self.client.sendall(resp.encode())
                        continue
                    if length > 0 and self.st.take_corrupt(line):
                        while len(buf) < end + 5:
                            more = self.client.recv(65536)
                            if not more:
                                return self.close()
                            buf += more
                        buf = buf[:end + 4] + bytes([buf[end + 4] ^ 0xff]) + buf[end + 5:]
                        self.st.log("CORRUPTED " + line)
                    # arm for this request's response only
                    with self.lock:
                        self.cut_budget = (self.st.opts.cut_after
                                           if self.st.wants_cut(line) else None)
                    if chunked:
                        raw = True
                        self.server.sendall(buf)
                        buf = b""
                        break
                    total = end + 4 + length
                    if len(buf) >= total:
                        self.server.sendall(buf[:total])
                        buf = buf[total:]
                        continue
                    self.server.sendall(buf)
                    left = total - len(buf)
                    buf = b""
                    while left > 0:
                        more = self.client.recv(min(65536, left))
                        if not more:
                            return self.close()
                        self.server.sendall(more)
                        left -= len(more)
        except OSError:
            pass
        self.close()

    def downstream(self):
        """server -> client, cutting the response when armed."""
        try:
            while True:
                data = self.server.recv(65536)
                if not data:
                    break
                with self.lock:
                    budget = self.cut_budget
                if budget is not None:
                    if len(data) >= budget and self.st.take_cut():
                        self.client.sendall(data[:budget])
                        self.st.log("CUT after %d bytes" % self.st.opts.cut_after)
                        break
                    with self.lock:
                        self.cut_budget = budget - len(data)
                self.client.sendall(data)
        except OSError:
            pass
        self.close()


def serve(st, lsock):
    host, port = st.opts.target.rsplit(":", 1)
    while True:
        client, _ = lsock.accept()
        try:
            server = socket.create_connection((host, int(port)))
        except OSError:
            client.close()
            continue
        c = Conn(st, client, server)
        threading.Thread(target=c.upstream, daemon=True).start()
        threading.Thread(target=c.downstream, daemon=True).start()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--cut-match")
    ap.add_argument("--cut-after", type=int, default=0)
    ap.add_argument("--cut-times", type=int, default=1)
    ap.add_argument("--fail-match")
    ap.add_argument("--fail-status", type=int, default=503)
    ap.add_argument("--fail-times", type=int, default=1)
    ap.add_argument("--strip-range", action="store_true")
    ap.add_argument("--redirect-match")
    ap.add_argument("--redirect-to")
    ap.add_argument("--corrupt-match")
    ap.add_argument("--corrupt-times", type=int, default=1)
    opts = ap.parse_args()
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", opts.port))
    lsock.listen(64)
    port = lsock.getsockname()[1]
    if opts.port_file:
        tmp = opts.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, opts.port_file)
    else:
        print(port, flush=True)
    try:
        serve(State(opts), lsock)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
