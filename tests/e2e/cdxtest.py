"""Shared helpers of the cdxgw end-to-end tests (Python 3 standard library only).

- Pki: a throw-away federation PKI made with the `openssl` command line
  (demo CA, server cert, client certs, expired / revoked certs, CRLs, a second
  unrelated CA, a self-signed client cert).
- Gateway: writes a config + institutions file, runs `cdxgw serve` on an
  ephemeral loopback port, captures stderr, stops it.
- Clients: curl with a client cert, raw TLS sockets to send exact bytes and
  parse the replies, `openssl s_client` runs.

Environment: CDXGW_BIN (the binary), CDX_SOURCE_DIR, CDX_TEST_TMP (scratch).
"""

import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("CDX_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("CDXGW_BIN") or os.path.join(SOURCE_DIR, "build", "e2e", "cdxgw")
TMP_ROOT = os.environ.get("CDX_TEST_TMP") or os.path.join(tempfile.gettempdir(), "cdxgw-e2e")

OPENSSL = shutil.which("openssl") or "openssl"
CURL = shutil.which("curl") or "curl"

# curl exit codes that mean "the TLS handshake / connection failed":
# 7 couldn't connect, 16 HTTP/2 (n/a), 35 SSL connect error, 52 empty reply,
# 55 send error, 56 receive error, 58 local cert problem, 60 peer cert bad.
CURL_HANDSHAKE_FAIL = {35, 52, 55, 56, 60}


def scratch(prefix):
    """A new unique folder under CDX_TEST_TMP."""
    os.makedirs(TMP_ROOT, exist_ok=True)
    return tempfile.mkdtemp(prefix=prefix + "-", dir=TMP_ROOT)


def run(cmd, check=True, timeout=30, **kw):
    """Runs cmd (list) and returns CompletedProcess with text output."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("command failed (%d): %s\nstdout:\n%s\nstderr:\n%s"
                           % (p.returncode, " ".join(cmd), p.stdout, p.stderr))
    return p


def require_binary(testcase=None):
    """Fails (not skips: a missing binary must not pass) when cdxgw is absent."""
    if not (os.path.isfile(BIN) and os.access(BIN, os.X_OK)):
        msg = "cdxgw binary not found at %s (set CDXGW_BIN)" % BIN
        if testcase is not None:
            testcase.fail(msg)
        raise RuntimeError(msg)


# --------------------------------------------------------------------------
# PKI
# --------------------------------------------------------------------------

CA_CNF = """\
[ ca ]
default_ca = cdx_ca

[ cdx_ca ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = {cert}
private_key = {key}
default_md = sha256
default_days = 365
default_crl_days = 30
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no

[ policy_any ]
commonName = supplied
organizationName = optional
countryName = optional

[ client_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ crl_ext ]
authorityKeyIdentifier = keyid
"""

SERVER_EXT = """\
[ v3 ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

CLIENT_EXT = """\
[ v3 ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

SELF_EXT = """\
[ v3 ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
"""


class Cert:
    def __init__(self, name, crt, key):
        self.name, self.crt, self.key = name, crt, key

    def sha256(self):
        return cert_sha256(self.crt)

    def __repr__(self):
        return "Cert(%s)" % self.name


def cert_sha256(path):
    """Lower-case hex SHA-256 of the DER certificate in the PEM file path."""
    out = run([OPENSSL, "x509", "-in", path, "-noout", "-fingerprint", "-sha256"]).stdout
    hexs = out.strip().split("=", 1)[1].replace(":", "").lower()
    assert re.fullmatch(r"[0-9a-f]{64}", hexs), out
    return hexs


def spki_sha256(path):
    """Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo of the
    certificate in the PEM file path (an institution's spki_sha256)."""
    pub = run([OPENSSL, "x509", "-in", path, "-noout", "-pubkey"]).stdout
    der = subprocess.run([OPENSSL, "pkey", "-pubin", "-outform", "DER"], input=pub.encode(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True).stdout
    import hashlib
    return hashlib.sha256(der).hexdigest()


# How long wait_for waits by default: generous, as the suite runs under
# sanitizers on loaded machines.  The mutation runner (tests/mutations), whose
# build is optimised and has no sanitizer, waits less: there a condition that
# never comes (an audit record a mutant left out) is the common case, and
# each wait is paid once per mutant.
WAIT_TIMEOUT = 15.0 if os.environ.get("CDX_MUTATION_RUN") == "1" else 60.0


def wait_for(cond, timeout=None, interval=0.05, what="condition"):
    """Polls cond() until it returns a true value, which is returned; raises
    AssertionError naming `what` after timeout seconds (WAIT_TIMEOUT unless
    given)."""
    if timeout is None:
        timeout = WAIT_TIMEOUT
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def _newkey(path):
    run([OPENSSL, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-out", path])


class CA:
    """A CA made with `openssl req -x509`, with an `openssl ca` database for
    the cases that need it (backdated validity, revocation, CRLs)."""

    def __init__(self, folder, cn):
        self.dir = folder
        os.makedirs(os.path.join(folder, "newcerts"), exist_ok=True)
        self.crt = os.path.join(folder, "ca.crt")
        self.key = os.path.join(folder, "ca.key")
        _newkey(self.key)
        run([OPENSSL, "req", "-x509", "-new", "-key", self.key, "-out", self.crt, "-days", "3650",
             "-sha256", "-subj", "/O=cdxgw e2e/CN=" + cn,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash"])
        with open(os.path.join(folder, "index.txt"), "w"):
            pass
        with open(os.path.join(folder, "serial"), "w") as f:
            f.write("1000\n")
        with open(os.path.join(folder, "crlnumber"), "w") as f:
            f.write("1000\n")
        self.cnf = os.path.join(folder, "ca.cnf")
        with open(self.cnf, "w") as f:
            f.write(CA_CNF.format(dir=folder, cert=self.crt, key=self.key))

    def _csr(self, name, cn):
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        _newkey(key)
        run([OPENSSL, "req", "-new", "-key", key, "-out", csr, "-subj", "/O=cdxgw e2e/CN=" + cn])
        return key, csr

    def issue(self, name, cn=None, server=False, days=365, san=None, key=None):
        """Issues a cert with `openssl x509 -req` and an extfile (SAN/EKU).
        san: a subjectAltName value for a client cert (e.g.
        "URI:urn:oid:2.25.1"); key: an existing key file to certify again
        (a renewal keeping the key)."""
        if key is None:
            key, csr = self._csr(name, cn or name)
        else:
            csr = os.path.join(self.dir, name + ".csr")
            run([OPENSSL, "req", "-new", "-key", key, "-out", csr, "-subj",
                 "/O=cdxgw e2e/CN=" + (cn or name)])
        crt = os.path.join(self.dir, name + ".crt")
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write(SERVER_EXT if server else CLIENT_EXT)
            if san and not server:
                f.write("subjectAltName = %s\n" % san)
        run([OPENSSL, "x509", "-req", "-in", csr, "-CA", self.crt, "-CAkey", self.key,
             "-CAcreateserial", "-out", crt, "-days", str(days), "-sha256",
             "-extfile", ext, "-extensions", "v3"])
        return Cert(name, crt, key)

    def issue_ca(self, name, cn=None, startdate=None, enddate=None):
        """Issues a client cert through `openssl ca` (database-tracked), with
        optional explicit validity (YYYYMMDDHHMMSSZ)."""
        key, csr = self._csr(name, cn or name)
        crt = os.path.join(self.dir, name + ".crt")
        cmd = [OPENSSL, "ca", "-config", self.cnf, "-batch", "-notext", "-in", csr, "-out", crt,
               "-extensions", "client_ext"]
        if startdate:
            cmd += ["-startdate", startdate]
        if enddate:
            cmd += ["-enddate", enddate]
        else:
            cmd += ["-days", "365"]
        run(cmd)
        return Cert(name, crt, key)

    def revoke(self, cert):
        run([OPENSSL, "ca", "-config", self.cnf, "-batch", "-revoke", cert.crt,
             "-crl_reason", "keyCompromise"])

    def gencrl(self, out, lastupdate=None, nextupdate=None):
        cmd = [OPENSSL, "ca", "-config", self.cnf, "-batch", "-gencrl", "-out", out,
               "-crlexts", "crl_ext"]
        if lastupdate:
            cmd += ["-crl_lastupdate", lastupdate]
        if nextupdate:
            cmd += ["-crl_nextupdate", nextupdate]
        else:
            cmd += ["-crldays", "30"]
        run(cmd)
        return out


class Pki:
    """Everything the TLS tests need, made once per test module.

    Attributes: ca, server, good, good2, admin, unregistered, expired, revoked,
    selfsigned, otherca_client, other_ca, crl (fresh, lists `revoked`),
    stale_crl (nextUpdate in the past)."""

    def __init__(self, folder=None):
        self.dir = folder or scratch("pki")
        self.ca = CA(os.path.join(self.dir, "ca"), "cdxgw e2e federation CA")
        self.server = self.ca.issue("server", cn="localhost", server=True)
        self.good = self.ca.issue("hospital-a")
        self.good2 = self.ca.issue("hospital-b")
        # The network operations institution: the only `admin` (e.g. /metrics).
        self.admin = self.ca.issue("netops")
        self.unregistered = self.ca.issue("unregistered")
        self.expired = self.ca.issue_ca("expired", startdate="20200101000000Z",
                                        enddate="20210101000000Z")
        self.revoked = self.ca.issue_ca("revoked")
        self.ca.revoke(self.revoked)
        self.crl = self.ca.gencrl(os.path.join(self.dir, "ca", "crl.pem"))
        self.stale_crl = self.ca.gencrl(os.path.join(self.dir, "ca", "stale-crl.pem"),
                                        lastupdate="20200101000000Z",
                                        nextupdate="20200201000000Z")
        # A second, unrelated CA and a client cert from it.
        self.other_ca = CA(os.path.join(self.dir, "other"), "unrelated CA")
        self.otherca_client = self.other_ca.issue("other-client")
        # A self-signed client cert.
        sdir = os.path.join(self.dir, "self")
        os.makedirs(sdir, exist_ok=True)
        skey, scrt, sext = (os.path.join(sdir, n) for n in ("self.key", "self.crt", "self.ext"))
        _newkey(skey)
        with open(sext, "w") as f:
            f.write(SELF_EXT)
        run([OPENSSL, "req", "-x509", "-new", "-key", skey, "-out", scrt, "-days", "365",
             "-subj", "/O=cdxgw e2e/CN=self-signed client", "-config", sext,
             "-extensions", "v3"])
        self.selfsigned = Cert("selfsigned", scrt, skey)


_PKI = None


def shared_pki():
    """One Pki per process (test module)."""
    global _PKI
    if _PKI is None:
        _PKI = Pki()
    return _PKI


# --------------------------------------------------------------------------
# Gateway
# --------------------------------------------------------------------------

# Small timeouts so the suite is fast; tests override what they need.
FAST_DEFAULTS = {
    "handshake_timeout_ms": 3000,
    "header_timeout_ms": 3000,
    "body_timeout_ms": 5000,
    "body_rate_grace_ms": 10000,
    "keepalive_timeout_ms": 5000,
    "write_timeout_ms": 5000,
    "shutdown_timeout_ms": 5000,
    "worker_threads": 2,
    "log_level": "debug",
}


class Institution:
    def __init__(self, oid, name, cert=None, roles="submit, query", sha256=None, endpoint=None,
                 extra=()):
        """extra: further `key = value` lines of the section (id_root, identity_policy)."""
        self.oid, self.name, self.cert, self.roles = oid, name, cert, roles
        self.sha256, self.endpoint, self.extra = sha256, endpoint, tuple(extra)

    def section(self, base_dir):
        lines = ["[institution]", "oid = " + self.oid, "name = " + self.name,
                 "roles = " + self.roles]
        if self.endpoint:
            lines.append("endpoint = " + self.endpoint)
        if self.cert is not None:
            lines.append("cert_file = " + os.path.relpath(self.cert.crt, base_dir))
        if self.sha256:
            lines.append("cert_sha256 = " + self.sha256)
        for item in self.extra:
            lines.append(item if isinstance(item, str) else "%s = %s" % tuple(item))
        return "\n".join(lines) + "\n"


def ADMIN_INSTITUTION(pki):  # noqa: N802 - reads as a constant
    """The institution with the `admin` role, registered by default (tests
    that pass their own institutions add it to read /metrics)."""
    return Institution("2.25.1009", "Network Operations", pki.admin, roles="admin")


class GatewayError(AssertionError):
    pass


class Gateway:
    """A running `cdxgw serve` on 127.0.0.1:<ephemeral>.

    settings: extra/overriding config keys; institutions: list of
    Institution (written to an institutions file, or inline in the main
    config with inline=True); crl: path for tls_crl (None: unset)."""

    def __init__(self, pki, settings=None, institutions=None, crl=None, inline=False,
                 name="gw", args=(), wrapper=(), env=None):
        require_binary()
        self.wrapper = list(wrapper)  # a command to run cdxgw under, e.g. valgrind
        # Extra environment of the gateway process (the test hooks' CDX_TEST_*).
        self.env = dict(env or {})
        self.pki = pki
        self.dir = scratch(name)
        self.conf = os.path.join(self.dir, "cdxgw.conf")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.stdout_path = os.path.join(self.dir, "stdout.log")
        self.args = list(args)
        if institutions is None:
            institutions = [Institution("2.25.1001", "Hospital A", pki.good),
                            Institution("2.25.1002", "Hospital B", pki.good2),
                            ADMIN_INSTITUTION(pki)]
        elif getattr(pki, "admin", None) is not None and not any(
                i.cert is pki.admin or i.oid == "2.25.1009" for i in institutions):
            # /metrics is for the admin role: every test gateway has one
            # to read it with (Gateway.metrics).
            institutions = list(institutions) + [ADMIN_INSTITUTION(pki)]
        self.institutions = institutions
        cfg = {"listen": "127.0.0.1:0", "data_dir": "data",
               "tls_cert": pki.server.crt, "tls_key": pki.server.key,
               "tls_client_ca": pki.ca.crt}
        cfg.update(FAST_DEFAULTS)
        if crl:
            cfg["tls_crl"] = crl
        if not inline:
            cfg["institutions_file"] = "institutions.conf"
        cfg.update(settings or {})
        self.settings = cfg
        with open(self.conf, "w") as f:
            f.write("# cdxgw e2e test configuration\n")
            for k, v in cfg.items():
                f.write("%s = %s\n" % (k, v))
            if inline:
                f.write("\n")
                for inst in institutions:
                    f.write(inst.section(self.dir) + "\n")
        if not inline:
            with open(os.path.join(self.dir, "institutions.conf"), "w") as f:
                f.write("# institutions of the e2e federation\n")
                for inst in institutions:
                    f.write(inst.section(self.dir) + "\n")
        self.proc = None
        self.port = None
        self._errf = None
        self._outf = None

    # -- lifecycle --------------------------------------------------------

    def start(self, timeout=10.0):
        self._errf = open(self.stderr_path, "wb")
        self._outf = open(self.stdout_path, "wb")
        env = dict(os.environ, **self.env) if self.env else None
        self.proc = subprocess.Popen(self.wrapper + [BIN, "serve", "--config", self.conf]
                                     + self.args,
                                     stdin=subprocess.DEVNULL, stdout=self._outf,
                                     stderr=self._errf, cwd=self.dir, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log().splitlines():
                if "event=server.listening" in line:
                    m = re.search(r"\bport=(\d+)", line)
                    if m and int(m.group(1)) != 0:
                        self.port = int(m.group(1))
                        return self
            if self.proc.poll() is not None:
                self._close_files()
                raise GatewayError("cdxgw exited with %s before listening; stderr:\n%s"
                                   % (self.proc.returncode, self.log()))
            time.sleep(0.02)
        self.kill()
        raise GatewayError("cdxgw did not log event=server.listening with port= within %.0fs;"
                           " stderr:\n%s" % (timeout, self.log()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """Returns the exit code, or None if still running after timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=8.0):
        """SIGTERM, wait, SIGKILL on timeout. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            rc = self.wait(timeout)
            if rc is None:
                self.kill()
        self._close_files()
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_files()

    def _close_files(self):
        for f in (self._errf, self._outf):
            if f is not None and not f.closed:
                f.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def url(self, path="/healthz"):
        return "https://127.0.0.1:%d%s" % (self.port, path)

    # -- clients ------------------------------------------------------------

    def curl(self, path="/healthz", cert="good", **kw):
        return curl(self, path, cert=cert, **kw)

    def connect(self, cert="good", **kw):
        return tls_connect(self, cert=cert, **kw)

    def metrics(self, cert="admin"):
        """GET /metrics as the admin institution (see ADMIN_INSTITUTION)."""
        r = self.curl("/metrics", cert=cert)
        if r.status != 200:
            raise GatewayError("GET /metrics -> %r" % (r,))
        return r.body


def _resolve_cert(pki, cert):
    if cert is None or isinstance(cert, Cert):
        return cert
    return getattr(pki, cert)


class CurlResult:
    def __init__(self, rc, status, body, stderr, headers):
        self.rc, self.status, self.body, self.stderr, self.headers = rc, status, body, stderr, headers

    def __repr__(self):
        return ("CurlResult(rc=%d, status=%r, stderr=%r, body=%r)"
                % (self.rc, self.status, self.stderr.strip()[-300:], self.body[:300]))


def curl(gw, path="/healthz", cert="good", **kw):
    """curl -sS --cacert CA --cert C --key K -w '%{http_code}' against gw.

    status is the int HTTP status, or None when there was no HTTP response
    (http_code 000)."""
    return curl_url(gw.url(path), gw.pki, cert=cert, workdir=gw.dir, **kw)


def curl_port(port, pki, path="/", cert="good", **kw):
    return curl_url("https://127.0.0.1:%d%s" % (port, path), pki, cert=cert, **kw)


def curl_url(url, pki, cert="good", method=None, data=None, extra=(), timeout=60, cacert=None,
             workdir=None):
    c = _resolve_cert(pki, cert)
    d = tempfile.mkdtemp(prefix="curl-", dir=workdir or scratch("curl"))
    body_path, hdr_path = os.path.join(d, "body"), os.path.join(d, "headers")
    cmd = [CURL, "-sS", "--max-time", str(timeout), "--cacert", cacert or pki.ca.crt,
           "-o", body_path, "-D", hdr_path, "-w", "%{http_code}"]
    if c is not None:
        cmd += ["--cert", c.crt, "--key", c.key]
    if method:
        cmd += ["-X", method]
    if data is not None:
        cmd += ["--data-binary", data]
    cmd += list(extra)
    cmd.append(url)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout + 10)
    code = p.stdout.strip()[-3:]
    status = int(code) if code.isdigit() and code != "000" else None
    body = headers = ""
    if os.path.exists(body_path):
        with open(body_path, "rb") as f:
            body = f.read().decode("utf-8", "replace")
    if os.path.exists(hdr_path):
        with open(hdr_path, "rb") as f:
            headers = f.read().decode("utf-8", "replace")
    shutil.rmtree(d, ignore_errors=True)
    return CurlResult(p.returncode, status, body, p.stderr, headers)


def client_context(pki, cert="good", minimum=None, maximum=None, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.ca.crt)
    ctx.check_hostname = True
    c = _resolve_cert(pki, cert)
    if c is not None:
        ctx.load_cert_chain(c.crt, c.key)
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def tls_connect(gw, cert="good", timeout=60.0, **ctxkw):
    """A TLS socket to the gateway, handshake done (client side)."""
    ctx = client_context(gw.pki, cert, **ctxkw)
    raw = socket.create_connection(("127.0.0.1", gw.port), timeout=timeout)
    try:
        s = ctx.wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise
    s.settimeout(timeout)
    return s


class Response:
    def __init__(self, status, reason, headers, body, raw):
        self.status, self.reason, self.headers, self.body, self.raw = (
            status, reason, headers, body, raw)

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "Response(%d %s, headers=%r, body=%r)" % (
            self.status, self.reason, self.headers, self.body[:400])


class Conn:
    """A raw TLS connection: send exact bytes, read responses one at a time."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False

    @classmethod
    def open(cls, gw, cert="good", timeout=60.0, **kw):
        return cls(tls_connect(gw, cert=cert, timeout=timeout, **kw))

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self, deadline):
        """Reads more bytes; False on EOF/reset. Raises socket.timeout at deadline."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out waiting for the gateway")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError,
                ssl.SSLZeroReturnError):
            chunk = b""
        except ssl.SSLError as e:
            if "timed out" in str(e):
                raise socket.timeout(str(e))
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_response(self, timeout=60.0, head=False):
        """Reads one response (interim 1xx responses are returned as such).
        Returns a Response, or None if the connection closed before any byte
        of a response arrived. Raises socket.timeout."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                if self.buf:
                    raise GatewayError("connection closed inside a response head: %r"
                                       % self.buf[:500])
                return None
        head_bytes, rest = self.buf.split(b"\r\n\r\n", 1)
        lines = head_bytes.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3}) ?(.*)$", lines[0])
        if not m:
            raise GatewayError("bad status line %r" % lines[0])
        status = int(m.group(1))
        headers = []
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers.append((k.strip(), v.strip()))
        self.buf = rest
        resp = Response(status, m.group(2), headers, b"", head_bytes + b"\r\n\r\n")
        if 100 <= status < 200 or head or status in (204, 304):
            return resp
        te = (resp.header("transfer-encoding") or "").lower()
        cl = resp.header("content-length")
        if "chunked" in te:
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    if not self._fill(deadline):
                        raise GatewayError("closed inside chunked body")
                size_line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    if not self._fill(deadline):
                        raise GatewayError("closed inside chunk")
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if size == 0:
                    break
            resp.body = body
        elif cl is not None:
            n = int(cl)
            while len(self.buf) < n:
                if not self._fill(deadline):
                    raise GatewayError("closed after %d of %d body bytes: %r"
                                       % (len(self.buf), n, resp))
            resp.body, self.buf = self.buf[:n], self.buf[n:]
        else:
            while self._fill(deadline):
                pass
            resp.body, self.buf = self.buf, b""
        resp.raw += resp.body
        return resp

    def wait_closed(self, timeout=3.0):
        """True if the peer closes (EOF/reset) within timeout; any bytes that
        arrive meanwhile are kept in self.buf."""
        deadline = time.monotonic() + timeout
        try:
            while self._fill(deadline):
                pass
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def handshake_refused(gw, cert, timeout=60.0, **ctxkw):
    """Tries a TLS connection with cert and one request. Returns (refused,
    detail): refused is True when no HTTP byte came back (the handshake or
    the first read failed). With TLS 1.3 the client-cert verdict arrives
    after the client's side of the handshake, as an alert on the first read."""
    try:
        s = tls_connect(gw, cert=cert, timeout=timeout, **ctxkw)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError,
            ConnectionAbortedError) as e:
        # (ConnectionRefusedError propagates: a gateway that is not
        # listening must not count as "refused at the handshake".)
        return True, "handshake failed: %r" % (e,)
    c = Conn(s)
    try:
        try:
            c.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        except (ssl.SSLError, OSError) as e:
            return True, "send failed: %r" % (e,)
        try:
            r = c.read_response(timeout=timeout)
        except socket.timeout as e:
            # Silence is not a refusal: a refused handshake ends in an alert
            # or a close.
            return False, "no answer and no close within %.0f s: %r" % (timeout, e)
        except (ssl.SSLError, OSError) as e:
            return True, "read failed: %r" % (e,)
        if r is None:
            return True, "closed without HTTP"
        return False, "got HTTP: %r" % (r,)
    finally:
        c.close()


def s_client(port, pki, cert="good", args=(), request=None, timeout=120):
    """Runs `openssl s_client`, writes request (default GET /healthz with
    Connection: close) to it, returns CompletedProcess."""
    c = _resolve_cert(pki, cert)
    cmd = [OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost",
           "-CAfile", pki.ca.crt, "-verify_return_error", "-ign_eof"]
    if c is not None:
        cmd += ["-cert", c.crt, "-key", c.key]
    cmd += list(args)
    if request is None:
        request = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    return subprocess.run(cmd, input=request, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)


def assert_s_client_refused(tc, r):
    """s_client reached the gateway (TCP connected), got a TLS alert and no HTTP."""
    tc.assertIn("CONNECTED(", r.stdout, "s_client did not even connect: %s" % r.stderr[-1500:])
    tc.assertNotIn("HTTP/1.", r.stdout, r.stdout[-1500:])
    tc.assertRegex(r.stderr, r"(?i)alert", "no TLS alert from the gateway: %s" % r.stderr[-1500:])
    tc.assertNotEqual(r.returncode, 0, r.stderr[-1500:])


class SServer:
    """`openssl s_server` with the test server cert, used as a control that
    a client really speaks what a test claims it speaks (e.g. TLS 1.1).
    It binds port 0 itself and the port is read back from its `ACCEPT
    ADDR:PORT` line, so no other process can take the port in between."""

    def __init__(self, pki, args=(), timeout=30.0):
        cmd = [OPENSSL, "s_server", "-accept", "127.0.0.1:0", "-cert",
               pki.server.crt, "-key", pki.server.key, "-www"] + list(args)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, bufsize=0)
        self.port = None
        seen = b""
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        # Unbuffered reads: select() on a buffered reader can miss a line
        # the reader has already pulled in.
        while self.port is None and time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if not r:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            seen += chunk
            m = re.search(rb"(?m)^ACCEPT .*:(\d+)\s*$", seen)
            if m and int(m.group(1)) != 0:
                self.port = int(m.group(1))
        if self.port is None:
            self.stop()
            raise GatewayError("openssl s_server did not report its port: %r" % seen)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def metric_samples(text, name):
    """[(labels dict, value)] of the samples of metric `name` in Prometheus text."""
    out = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                 m.group(3) or ""))
        out.append((labels, float(m.group(4))))
    return out


def problem_check(tc, resp, status, code):
    """Asserts resp is an application/problem+json error with all fields."""
    tc.assertIsNotNone(resp, "no response (connection closed), expected %d %s" % (status, code))
    tc.assertEqual(resp.status, status, resp)
    ctype = (resp.header("content-type") or "").lower()
    tc.assertTrue(ctype.startswith("application/problem+json"), "content-type %r" % ctype)
    try:
        doc = resp.json()
    except ValueError as e:
        tc.fail("problem body is not JSON (%s): %r" % (e, resp.body))
    for field in ("type", "title", "status", "code", "detail", "request_id"):
        tc.assertIn(field, doc, "problem field %r missing: %r" % (field, doc))
    tc.assertEqual(doc["status"], status, doc)
    if isinstance(code, (set, tuple, list)):
        tc.assertIn(doc["code"], code, doc)
    else:
        tc.assertEqual(doc["code"], code, doc)
    tc.assertIsInstance(doc["detail"], str)
    tc.assertTrue(doc["request_id"], doc)
    return doc


# ctest's SKIP_RETURN_CODE of every e2e test (tests/CMakeLists.txt).
SKIP_RC = 77


def main():
    """Runs the module's tests.  Exits 1 on any failure; otherwise 77 (shown
    by ctest as skipped) when any case skipped, after printing one
    `cdx-skip: <module>: <case>: <reason>` line per skipped case (scripts/test
    collects them); 0 when everything ran and passed."""
    prog = unittest.main(verbosity=2, exit=False)
    res = prog.result
    module = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    sys.stderr.flush()
    for test, reason in res.skipped:
        print("cdx-skip: %s: %s: %s" % (module, test.id(), reason), flush=True)
    if not res.wasSuccessful():
        sys.exit(1)
    if res.testsRun == 0:
        print("cdx-skip: %s: no test ran" % module, flush=True)
        sys.exit(SKIP_RC)
    sys.exit(SKIP_RC if res.skipped else 0)


# --------------------------------------------------------------------------
# Documents: ingest, registry and corpus helpers (test_ingest*, test_durability*,
# test_corpus*)
# --------------------------------------------------------------------------

import glob as _glob  # noqa: E402
import hashlib as _hashlib  # noqa: E402
import sqlite3 as _sqlite3  # noqa: E402
import urllib.parse as _urlparse  # noqa: E402

GEN = os.environ.get("CDXGW_GEN") or ""
CORPUS_DIR = os.environ.get("CDX_CORPUS_DIR") or os.path.join(
    os.path.dirname(SOURCE_DIR), "shared", "corpus")

# The fictional demo institutions of samples/<name>/ (README, samples).
DEMO_OIDS = {
    "hanbit": "2.25.83570720227913622468059417429842681918",
    "dasom": "2.25.20981123314685619330378792882634570198",
    "riverside": "2.25.171372773189504359489447086526480295415",
}

# A test-only institution whose documents go through the default mapping.
E2E_OID = "2.25.1001"


def sha256_hex(data):
    return _hashlib.sha256(data).hexdigest()


def doc_uid(unique_id):
    """The registry id of a ClinicalDocument/id "root^ext" (first 16 bytes of
    its SHA-256, lower hex), as POST /v1/documents answers it."""
    return sha256_hex(unique_id.encode("utf-8"))[:32]


def sample_files(source_dir=None):
    """[(institution folder name, path)] of samples/<institution>/*.xml,
    sorted, golden/ and other sub-folders left out."""
    root = os.path.join(source_dir or SOURCE_DIR, "samples")
    out = []
    for path in sorted(_glob.glob(os.path.join(root, "*", "*.xml"))):
        inst = os.path.basename(os.path.dirname(path))
        if inst == "golden" or not os.path.isfile(path):
            continue
        out.append((inst, path))
    return out


def gen_binary():
    """The cdxgw-gen executable, or None."""
    if GEN and os.path.isfile(GEN) and os.access(GEN, os.X_OK):
        return GEN
    cand = os.path.join(os.path.dirname(BIN), "cdxgw-gen")
    if os.path.isfile(cand) and os.access(cand, os.X_OK):
        return cand
    return None


_ROOT_ID_RE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?id\b[^>]*>", re.S)
_ROOT_START_RE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?ClinicalDocument\b[^>]*>", re.S)


def _strip_comments(b):
    return re.sub(rb"<!--.*?-->", lambda m: b" " * len(m.group(0)), b, flags=re.S)


def _root_id_span(xml):
    """(start, end) of the ClinicalDocument/id start tag (the first <id>
    after the root's start tag: realmCode, typeId, templateId come before)."""
    clean = _strip_comments(xml)
    m = _ROOT_START_RE.search(clean)
    if not m:
        raise ValueError("no ClinicalDocument start tag")
    m2 = _ROOT_ID_RE.search(clean, m.end())
    if not m2:
        raise ValueError("no ClinicalDocument/id")
    return m2.start(), m2.end()


def _attr(tag, name):
    m = re.search(rb"\s" + name.encode() + rb"\s*=\s*(\"([^\"]*)\"|'([^']*)')", tag)
    if not m:
        return None
    v = m.group(2) if m.group(2) is not None else m.group(3)
    return v.decode("utf-8", "replace")


def clinical_document_id(xml):
    """(root, extension or None) of ClinicalDocument/id (ASCII-compatible
    encodings only)."""
    s, e = _root_id_span(xml)
    tag = xml[s:e]
    return _attr(tag, "root"), _attr(tag, "extension")


def unique_id_of(xml):
    root, ext = clinical_document_id(xml)
    return root if not ext else "%s^%s" % (root, ext)


def with_document_id(xml, extension, root=None):
    """xml (bytes) with ClinicalDocument/id/@extension (and @root if given)
    replaced; nothing else changes."""
    s, e = _root_id_span(xml)
    tag = xml[s:e]
    ext = extension.encode("utf-8")

    def setattr_(t, name, value):
        pat = re.compile(rb"(\s" + name + rb"\s*=\s*)(\"[^\"]*\"|'[^']*')")
        if pat.search(t):
            return pat.sub(lambda m: m.group(1) + b'"' + value + b'"', t, count=1)
        close = b"/>" if t.endswith(b"/>") else b">"
        return t[:-len(close)].rstrip() + b" " + name + b'="' + value + b'"' + close
    tag = setattr_(tag, b"extension", ext)
    if root is not None:
        tag = setattr_(tag, b"root", root.encode("utf-8"))
    return xml[:s] + tag + xml[e:]


def insert_before_body(xml, fragment):
    """Inserts fragment (bytes) as a child of ClinicalDocument just before
    authorization/componentOf/the body component (CDA header order)."""
    clean = _strip_comments(xml)
    for pat in (rb"<(?:[\w.-]+:)?authorization\b", rb"<(?:[\w.-]+:)?componentOf\b",
                rb"<(?:[\w.-]+:)?component\b\s*>\s*<(?:[\w.-]+:)?(?:structuredBody|nonXMLBody)\b"):
        m = re.search(pat, clean)
        if m:
            return xml[:m.start()] + fragment + xml[m.start():]
    m = re.search(rb"</(?:[\w.-]+:)?ClinicalDocument\s*>", clean)
    return xml[:m.start()] + fragment + xml[m.start():]


def minimal_cda(custodian_oid=E2E_OID, doc_ext="DOC-1", doc_root=None,
                patient_ext="P-0001", patient_root=None, extra_header=b"", body=None,
                prolog=b'<?xml version="1.0" encoding="UTF-8"?>\n', root_attrs=b"",
                id_tag=None, effective_time=b"20240105093000+0900", related=None):
    """A small valid CDA R2 document (bytes) under custodian_oid, for the
    default mapping.  related: (typeCode, parent unique id "root^ext")."""
    doc_root = doc_root or custodian_oid + ".2"
    patient_root = patient_root or custodian_oid + ".1"
    if id_tag is None:
        id_tag = ('<id root="%s" extension="%s"/>' % (doc_root, doc_ext)).encode()
    rel = b""
    if related is not None:
        tc, parent = related
        proot, _, pext = parent.partition("^")
        rel = ('<relatedDocument typeCode="%s"><parentDocument><id root="%s"%s/>'
               '</parentDocument></relatedDocument>'
               % (tc, proot, ' extension="%s"' % pext if pext else "")).encode()
    if body is None:
        body = (b'<component><structuredBody><component><section>'
                b'<code code="11450-4" codeSystem="2.16.840.1.113883.6.1"/><title>Problems</title>'
                b'<text>None known.</text></section></component></structuredBody></component>')
    return b"".join([
        prolog,
        b'<ClinicalDocument xmlns="urn:hl7-org:v3"', root_attrs, b'>',
        b'<realmCode code="US"/>',
        b'<typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>',
        id_tag,
        b'<code code="34133-9" codeSystem="2.16.840.1.113883.6.1"/>',
        b'<title>e2e test document</title>',
        b'<effectiveTime value="' + effective_time + b'"/>',
        b'<confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>',
        b'<languageCode code="en-US"/>',
        extra_header,
        b'<recordTarget><patientRole>',
        ('<id root="%s" extension="%s"/>' % (patient_root, patient_ext)).encode(),
        b'<addr><city>Testville</city></addr><telecom value="tel:+1-555-0100"/>',
        b'<patient><name><given>Test</given><family>Patient</family></name>',
        b'<administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>',
        b'<birthTime value="19800101"/></patient></patientRole></recordTarget>',
        b'<author><time value="20240105093000+0900"/><assignedAuthor>',
        b'<id root="2.16.840.1.113883.4.6" extension="9999999999"/>',
        b'<assignedPerson><name><given>Test</given><family>Doctor</family></name>',
        b'</assignedPerson></assignedAuthor></author>',
        b'<custodian><assignedCustodian><representedCustodianOrganization>',
        ('<id root="%s"/>' % custodian_oid).encode(),
        b'<name>e2e Clinic</name><telecom value="tel:+1-555-0101"/>',
        b'<addr><city>Testville</city></addr>',
        b'</representedCustodianOrganization></assignedCustodian></custodian>',
        rel,
        body,
        b'</ClinicalDocument>\n',
    ])


def institution_certs(pki, names):
    """{name: Cert}: one client certificate per name from the shared CA
    (issued once per process and name)."""
    cache = pki.__dict__.setdefault("_inst_certs", {})
    for n in names:
        if n not in cache:
            cache[n] = pki.ca.issue("inst-" + n)
    return {n: cache[n] for n in names}


def registry_path(gw):
    return os.path.join(gw.dir, gw.settings.get("data_dir", "data"), "registry.db")


def registry_ro(path_or_gw):
    """A read-only sqlite3 connection to a registry (a Gateway or a path)."""
    path = registry_path(path_or_gw) if isinstance(path_or_gw, Gateway) else path_or_gw
    uri = "file:%s?mode=ro" % _urlparse.quote(os.path.abspath(path))
    con = _sqlite3.connect(uri, uri=True, timeout=10)
    con.execute("PRAGMA busy_timeout = 10000")
    return con


def registry_query(path_or_gw, sql, args=()):
    con = registry_ro(path_or_gw)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def stored_content(blob):
    """The bytes a document_content column holds: a zstd frame unpacked
    (with the zstd command line tool), or a blob stored as received."""
    if blob is None:
        return None
    blob = bytes(blob)
    if not blob.startswith(ZSTD_MAGIC):
        return blob
    return subprocess.run(["zstd", "-d", "-q", "-c"], input=blob, stdout=subprocess.PIPE,
                          check=True).stdout


def table_count(path_or_gw, table):
    return registry_query(path_or_gw, "SELECT count(*) FROM %s" % table)[0][0]


def audit_max_seq(path_or_gw):
    return registry_query(path_or_gw, "SELECT coalesce(max(seq), 0) FROM audit")[0][0]


def audit_since(path_or_gw, seq):
    """[(seq, event, outcome, actor_oid, document_id, detail)] after seq."""
    return registry_query(path_or_gw,
                          "SELECT seq, event, outcome, actor_oid, document_id, detail FROM audit"
                          " WHERE seq > ? ORDER BY seq", (seq,))


def audit_verify(conf, timeout=60):
    return run([BIN, "audit", "verify", "--config", conf], check=False, timeout=timeout)


def curl_headers(res):
    """{lower-case name: value} of the last response head of a CurlResult."""
    blocks = [b for b in re.split(r"\r?\n\r?\n", res.headers) if b.strip()]
    out = {}
    if not blocks:
        return out
    for line in blocks[-1].splitlines()[1:]:
        k, sep, v = line.partition(":")
        if sep:
            out[k.strip().lower()] = v.strip()
    return out


def curl_json(res):
    try:
        return json.loads(res.body)
    except ValueError:
        return None


def post_document(gw, body, cert, content_type="application/xml", extra=(), timeout=30):
    """curl POST /v1/documents --data-binary @file with the body bytes."""
    d = tempfile.mkdtemp(prefix="post-", dir=gw.dir)
    path = os.path.join(d, "doc.xml")
    with open(path, "wb") as f:
        f.write(body)
    hdr = ["-H", "Content-Type: " + content_type] if content_type is not None else \
        ["-H", "Content-Type:"]
    try:
        return curl(gw, "/v1/documents", cert=cert, data="@" + path,
                    extra=hdr + list(extra), timeout=timeout)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def curl_get_bytes(gw, path, cert, timeout=30):
    """(status, headers dict, body bytes) of a GET with curl (exact bytes)."""
    d = tempfile.mkdtemp(prefix="get-", dir=gw.dir)
    out, hdr = os.path.join(d, "body"), os.path.join(d, "hdr")
    c = _resolve_cert(gw.pki, cert)
    cmd = [CURL, "-sS", "--max-time", str(timeout), "--cacert", gw.pki.ca.crt, "--cert", c.crt,
           "--key", c.key, "-o", out, "-D", hdr, "-w", "%{http_code}", gw.url(path)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout + 10)
    code = p.stdout.strip()[-3:]
    status = int(code) if code.isdigit() and code != "000" else None
    body = b""
    headers = ""
    if os.path.exists(out):
        with open(out, "rb") as f:
            body = f.read()
    if os.path.exists(hdr):
        with open(hdr, "rb") as f:
            headers = f.read().decode("latin-1")
    shutil.rmtree(d, ignore_errors=True)
    return status, curl_headers(CurlResult(p.returncode, status, "", p.stderr, headers)), body


def raw_post(conn, body, content_type="application/xml", path="/v1/documents", close=False,
             timeout=30.0, extra=""):
    """Sends one POST on a Conn and returns its Response (None if closed)."""
    head = "POST %s HTTP/1.1\r\nHost: localhost\r\n" % path
    if content_type is not None:
        head += "Content-Type: %s\r\n" % content_type
    head += "Content-Length: %d\r\n%s" % (len(body), extra)
    if close:
        head += "Connection: close\r\n"
    conn.send(head.encode("latin-1") + b"\r\n" + body)
    return conn.read_response(timeout=timeout)


def raw_get(conn, path, timeout=30.0, close=False):
    conn.send(("GET %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n"
               % (path, "Connection: close\r\n" if close else "")).encode("latin-1"))
    return conn.read_response(timeout=timeout)


def proc_rss_kb(pid):
    """VmRSS of a process in kB (Linux /proc), or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Sinkhole:
    """A TCP listener on 127.0.0.1 that records every connection attempt
    (for 'the gateway never fetched this URL' checks)."""

    def __init__(self):
        import threading
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = []
        self._stop = False
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop:
            try:
                c, addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            data = b""
            try:
                c.settimeout(0.5)
                data = c.recv(4096)
            except OSError:
                pass
            self.connections.append((addr, data))
            c.close()

    def url(self, path="/x"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def barrier(self, timeout=60.0):
        """The connections recorded so far, other than barrier markers, once
        every connection made before this call has been recorded: a marker
        connection is made and waited for; the listener accepts in order,
        so anything that connected earlier is recorded before it.  Replaces
        sleeping before a "nothing connected" check."""
        self._marks = getattr(self, "_marks", 0) + 1
        mark = b"cdx-barrier-%d" % self._marks
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as c:
            c.sendall(mark)
            deadline = time.monotonic() + timeout
            while not any(data == mark for _, data in self.connections):
                if time.monotonic() > deadline:
                    raise AssertionError("the sinkhole never recorded its barrier")
                time.sleep(0.01)
        return [(a, d) for a, d in self.connections if not d.startswith(b"cdx-barrier-")]

    def stop(self):
        self._stop = True
        self._t.join(2)
        self.sock.close()


def sanitizer_report(text):
    """The first sanitizer report in text (stderr), or None."""
    m = re.search(r"(==\d+==ERROR: \w+Sanitizer.*|runtime error: .*|"
                  r"SUMMARY: \w+Sanitizer.*)", text)
    return m.group(0) if m else None


def put_consent(gw, cert, ident, consent=None, timeout=60.0):
    """PUT /v1/consents/{ROOT|EXT} as cert (the patient's home institution)
    with consent (a dict; a permit of everything when None); returns the
    Response."""
    body = json.dumps(consent if consent is not None else {"decision": "permit"}).encode()
    path = "/v1/consents/" + _urlparse.quote("%s|%s" % tuple(ident), safe="")
    with Conn.open(gw, cert=cert, timeout=timeout) as c:
        c.send(("PUT %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\n\r\n" % (path, len(body))).encode("latin-1") + body)
        return c.read_response(timeout=timeout)


def permit_all(gw, cert, ident):
    """The patient's consent to every institution and document type,
    recorded by its home institution (cert); asserts it was recorded."""
    r = put_consent(gw, cert, ident)
    assert r is not None and r.status == 201, (r, r.body[:400] if r else None)
    return r.json()["id"]
