"""A small TLS receiver of deliveries, for the forwarding tests and the
delivery benchmark.

It speaks HTTPS on 127.0.0.1 with a certificate of the test CA, asks for a
client certificate from that CA, and answers each POST as its mode says:
  ok      201 with a small JSON receipt
  500     500, forever
  429     429 with Retry-After: <retry_after>
  hang    reads the request and never answers (until stopped)
  refuse  not listening at all (connections are refused)
Every request that arrived is kept (headers, body, time) in `requests`.
"""
import json
import os
import socket
import ssl
import threading
import time


class Receiver:
    def __init__(self, cert, key, ca, mode="ok", retry_after=1, port=0):
        self.cert, self.key, self.ca = cert, key, ca
        self.mode = mode
        self.retry_after = retry_after
        self.requests = []
        self.active = 0       # exchanges hanging now
        self.max_active = 0   # the most at once
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.port = port
        self.sock = None
        self.thread = None
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.load_verify_locations(ca)
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        if port == 0:
            # Reserve a port now so that endpoints can name it before start.
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
            s.close()

    # -- life ------------------------------------------------------------

    def start(self):
        if self.sock is not None:
            return self
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.settimeout(0.2)
        self.sock = s
        self.stop_event.clear()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        """Stops listening (connections are then refused) and lets every
        hanging exchange go."""
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(5)
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.thread = None

    def set_mode(self, mode):
        if mode == "refuse":
            self.stop()
        else:
            self.mode = mode
            self.start()

    def count(self):
        with self.lock:
            return len(self.requests)

    # -- serving ---------------------------------------------------------

    def _accept(self):
        while not self.stop_event.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _read_request(self, tls):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = tls.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = tls.recv(65536)
            if not chunk:
                return None
            body += chunk
        return {"line": lines[0], "headers": headers, "body": body, "time": time.monotonic()}

    def _serve(self, conn):
        conn.settimeout(30)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()
            return
        conn = tls
        try:
            req = self._read_request(tls)
            if req is None:
                return
            with self.lock:
                self.requests.append(req)
            mode = self.mode
            if mode == "hang":
                with self.lock:
                    self.active += 1
                    self.max_active = max(self.max_active, self.active)
                try:
                    self.stop_event.wait(30)
                finally:
                    with self.lock:
                        self.active -= 1
                return
            if mode == "ok":
                body = json.dumps({"id": "r%d" % self.count(), "status": "stored"}).encode()
                status, extra = "201 Created", ""
            elif mode == "429":
                body, status = b"busy", "429 Too Many Requests"
                extra = "Retry-After: %d\r\n" % self.retry_after
            else:
                body, status, extra = b"broken", "500 Internal Server Error", ""
            tls.sendall(("HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d"
                         "\r\nConnection: close\r\n%s\r\n" % (status, len(body), extra)).encode()
                        + body)
            try:
                tls.unwrap()
            except (ssl.SSLError, OSError):
                pass
        except (ssl.SSLError, OSError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass


def issue_server_cert(ca, name, san):
    """A server certificate of ca (cdxtest.CA) with subjectAltName san,
    e.g. "DNS:localhost,IP:127.0.0.1,URI:urn:oid:2.25.1003"."""
    import cdxtest
    key, csr = ca._csr(name, "localhost")
    crt = os.path.join(ca.dir, name + ".crt")
    ext = os.path.join(ca.dir, name + ".ext")
    with open(ext, "w") as f:
        f.write("[ v3 ]\nbasicConstraints = critical,CA:FALSE\n"
                "keyUsage = critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage = serverAuth\nsubjectAltName = %s\n"
                "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n" % san)
    cdxtest.run([cdxtest.OPENSSL, "x509", "-req", "-in", csr, "-CA", ca.crt, "-CAkey", ca.key,
                 "-CAcreateserial", "-out", crt, "-days", "30", "-sha256", "-extfile", ext,
                 "-extensions", "v3"])
    return cdxtest.Cert(name, crt, key)
