"""End-to-end: command line, configuration checks, graceful shutdown, demo."""

import os
import re
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import BIN, Conn, Gateway  # noqa: E402

PKI = None

CONTRACT_KEYS = [
    "listen", "data_dir", "tls_cert", "tls_key", "tls_client_ca", "tls_crl",
    "institutions_file", "max_body_bytes", "max_request_line_bytes", "max_header_bytes",
    "max_headers", "max_connections", "handshake_timeout_ms", "header_timeout_ms",
    "body_timeout_ms", "body_min_rate_bps", "body_rate_grace_ms", "keepalive_timeout_ms",
    "write_timeout_ms", "max_jobs", "worker_threads", "shutdown_timeout_ms", "log_level",
]


def setUpModule():
    global PKI
    PKI = cdxtest.shared_pki()


def cli(*args, timeout=10):
    cdxtest.require_binary()
    return subprocess.run([BIN] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


class TestCommandLine(unittest.TestCase):

    def test_version(self):
        r = cli("--version")
        self.assertEqual(r.returncode, 0, r)
        # A test build (-DCDX_TEST_VFS=ON, README "Development") says so.
        self.assertRegex(r.stdout.strip(),
                         r"^cdxgw 0\.1\.0( \(test build: power-loss VFS, I/O faults, crash points\))?$")

    def test_help(self):
        r = cli("--help")
        self.assertEqual(r.returncode, 0, r)
        for cmd in ("serve", "demo"):
            self.assertIn(cmd, r.stdout, r.stdout)

    def test_serve_help_lists_keys(self):
        r = cli("serve", "--help")
        self.assertEqual(r.returncode, 0, r)
        for key in CONTRACT_KEYS:
            self.assertRegex(r.stdout, r"\b%s\b" % key, "serve --help lacks %s" % key)

    def test_unknown_command(self):
        r = cli("frobnicate")
        self.assertEqual(r.returncode, 2, r)  # README: 2 usage or configuration error
        self.assertTrue(r.stderr.strip(), "no message for an unknown command")


class TestConfig(unittest.TestCase):

    def gateway(self, settings=None, **kw):
        return Gateway(PKI, settings=settings, name="cfg", **kw)

    def test_print_config_masks_key_and_applies_overrides(self):
        gw = self.gateway()
        r = cli("serve", "--config", gw.conf, "--print-config", "--max_body_bytes", "2048",
                "--header_timeout_ms=777")
        self.assertEqual(r.returncode, 0, r)
        out = r.stdout
        for key in CONTRACT_KEYS:
            self.assertRegex(out, r"(?m)^%s\s*=" % key, "print-config lacks %s:\n%s" % (key, out))
        self.assertRegex(out, r"(?m)^max_body_bytes\s*=\s*2048\s*$", out)
        self.assertRegex(out, r"(?m)^header_timeout_ms\s*=\s*777\s*$", out)
        # Value from the file is kept where not overridden.
        self.assertRegex(out, r"(?m)^keepalive_timeout_ms\s*=\s*%s\s*$"
                         % cdxtest.FAST_DEFAULTS["keepalive_timeout_ms"], out)
        self.assertRegex(out, r"(?m)^tls_key\s*=", out)
        with open(PKI.server.key) as f:
            key_text = f.read()
        self.assertNotIn("PRIVATE KEY", out + r.stderr)
        for line in key_text.splitlines():
            if line and not line.startswith("-----"):
                self.assertNotIn(line, out + r.stderr, "key material printed")
        self.assertNotIn("PRIVATE KEY", out)

    def test_bad_configs_exit_2_naming_key(self):
        missing = os.path.join(PKI.dir, "no-such-cert.pem")
        cases = [
            ("unknown key", {"frobnicate_level": "3"}, [], "frobnicate_level"),
            ("max_body_bytes=abc", {"max_body_bytes": "abc"}, [], "max_body_bytes"),
            ("max_body_bytes=0", {"max_body_bytes": "0"}, [], "max_body_bytes"),
            ("missing tls_cert", {"tls_cert": missing}, [], "tls_cert"),
            ("bad listen", {"listen": "localhost-ish:99999"}, [], "listen"),
            ("bad override", {}, ["--max_body_bytes", "abc"], "max_body_bytes"),
            ("unknown override", {}, ["--no_such_key=1"], "no_such_key"),
        ]
        # Control: the base configuration serves.
        with self.gateway() as gw:
            self.assertEqual(gw.curl().status, 200)
        for name, settings, args, key in cases:
            with self.subTest(case=name):
                gw = self.gateway(settings=settings, args=args)
                try:
                    gw.start(timeout=60)
                except cdxtest.GatewayError:
                    pass
                else:
                    gw.stop()
                    self.fail("gateway served with a bad configuration (%s)" % name)
                rc = gw.wait(60)
                log = gw.log()
                self.assertEqual(rc, 2, "exit code for %s; stderr:\n%s" % (name, log))
                self.assertRegex(log, r"\b%s\b" % key, "stderr does not name %s:\n%s"
                                 % (key, log))
                gw.stop()

    def test_data_dir_holds_registry(self):
        with self.gateway() as gw:
            self.assertEqual(gw.curl().status, 200)
        self.assertTrue(os.path.isfile(os.path.join(gw.dir, "data", "registry.db")),
                        os.listdir(gw.dir))


def start_inflight(gw, declared=10, first=b"hello"):
    """A GET /healthz with a body that is only partly sent.  It asks for
    100 Continue, so the interim answer shows the gateway has read the head
    and is waiting for the body: the request is in flight (no sleeping)."""
    c = Conn.open(gw, timeout=120.0)
    c.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
           b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % declared)
    interim = c.read_response(timeout=120.0)
    if interim is None or interim.status != 100:
        raise AssertionError("expected 100 Continue, got %r" % (interim,))
    c.send(first)
    return c


def new_connection_outcome(gw):
    """'refused', 'closed' (accepted then dropped without HTTP), 'served' or 'hang'."""
    try:
        raw = socket.create_connection(("127.0.0.1", gw.port), timeout=30)
    except ConnectionRefusedError:
        return "refused"
    except socket.timeout:
        return "hang"
    try:
        ctx = cdxtest.client_context(gw.pki, "good")
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        s.settimeout(30)
        c = Conn(s)
        c.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        r = c.read_response(timeout=30)
        return "closed" if r is None else "served"
    except socket.timeout:
        return "hang"
    except (ssl.SSLError, OSError):
        return "closed"
    finally:
        raw.close()


class TestShutdown(unittest.TestCase):

    def test_sigterm_idle_exits_0(self):
        gw = Gateway(PKI, name="sig-idle").start()
        self.assertEqual(gw.curl().status, 200)
        gw.signal(signal.SIGTERM)
        rc = gw.wait(60)
        gw.stop()
        self.assertEqual(rc, 0, gw.log()[-3000:])

    def test_sigterm_drains_inflight_request(self):
        gw = Gateway(PKI, name="sig-drain", settings={"shutdown_timeout_ms": 6000}).start()
        try:
            c = start_inflight(gw)
            gw.signal(signal.SIGTERM)
            cdxtest.wait_for(lambda: "event=server.stopping" in gw.log(),
                             what="event=server.stopping")
            outcome = new_connection_outcome(gw)
            self.assertIn(outcome, ("refused", "closed"),
                          "new connection after SIGTERM was %s" % outcome)
            self.assertTrue(gw.alive(), "gateway exited with a request in flight: %s"
                            % gw.log()[-3000:])
            c.send(b"world")
            r = c.read_response(timeout=60)
            self.assertIsNotNone(r, "the in-flight request was dropped")
            self.assertEqual(r.status, 200, r)
            self.assertEqual((r.header("connection") or "").lower(), "close", r)
            self.assertTrue(c.wait_closed(60))
            c.close()
            rc = gw.wait(60)
            self.assertEqual(rc, 0, "exit code after drain; stderr:\n%s" % gw.log()[-3000:])
        finally:
            gw.stop()

    def test_second_signal_exits_at_once(self):
        for second in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(second=second.name):
                # The drain could last ten minutes (shutdown_timeout_ms and
                # the body timeouts): an exit within the wait below is the
                # second signal's doing.
                gw = Gateway(PKI, name="sig-twice",
                             settings={"shutdown_timeout_ms": 600000, "body_timeout_ms": 600000,
                                       "body_min_rate_bps": 0}).start()
                try:
                    c = start_inflight(gw)
                    gw.signal(signal.SIGTERM)
                    cdxtest.wait_for(lambda: "event=server.stopping" in gw.log(),
                                     what="event=server.stopping")
                    self.assertTrue(gw.alive(), "first SIGTERM must wait for the in-flight "
                                    "request; stderr:\n%s" % gw.log()[-3000:])
                    gw.signal(second)
                    rc = gw.wait(120)
                    self.assertIsNotNone(rc, "second %s did not exit at once" % second.name)
                    self.assertNotEqual(rc, 0, "a second signal exits without draining")
                    c.close()
                finally:
                    gw.stop()

    def test_shutdown_timeout_bounds_drain(self):
        # The stuck request could last ten minutes (body timeouts): an exit
        # within the wait below is shutdown_timeout_ms's doing.
        gw = Gateway(PKI, name="sig-timeout", settings={"shutdown_timeout_ms": 1000,
                                                          "body_timeout_ms": 600000,
                                                          "body_min_rate_bps": 0}).start()
        try:
            c = start_inflight(gw)
            t0 = time.monotonic()
            gw.signal(signal.SIGTERM)
            rc = gw.wait(120)
            self.assertIsNotNone(rc, "stuck in-flight request kept the gateway past "
                                 "shutdown_timeout_ms")
            # A lower bound only: it waited for the in-flight work.
            self.assertGreater(time.monotonic() - t0, 0.5, "did not wait for in-flight work")
            c.close()
        finally:
            gw.stop()


def curl_lines(text):
    """The printed `curl ...` commands (backslash continuations joined)."""
    logical, cur = [], ""
    for ln in text.splitlines():
        if ln.rstrip().endswith("\\"):
            cur += ln.rstrip()[:-1] + " "
            continue
        logical.append(cur + ln)
        cur = ""
    out = []
    for ln in logical:
        s = ln.strip()
        if s.startswith("$ "):
            s = s[2:].strip()
        if s.startswith("curl "):
            out.append(s)
    return out


class TestDemo(unittest.TestCase):

    def run_demo(self, folder, timeout=120):
        log_path = os.path.join(folder + ".log%d" % time.monotonic_ns())
        logf = open(log_path, "wb")
        proc = subprocess.Popen([BIN, "demo", folder, "--listen", "127.0.0.1:0"],
                                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        text = ""
        curls = []
        while time.monotonic() < deadline:
            with open(log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            curls = curl_lines(text)
            # "Configuration: ..." is the last line of the printed list.
            if "event=server.listening" in text and re.search(r"(?m)^Configuration: .*\n", text):
                break
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        return proc, logf, text, curls

    def stop(self, proc, logf):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(8)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        logf.close()
        return proc.returncode

    def check_round(self, folder):
        cdxtest.require_binary(self)
        proc, logf, text, curls = self.run_demo(folder)
        try:
            self.assertIsNone(proc.poll(), "demo exited (%s):\n%s" % (proc.returncode, text))
            m = re.search(r"event=server\.listening.*?\bport=(\d+)", text)
            self.assertIsNotNone(m, "no listening line:\n" + text)
            port = m.group(1)
            self.assertNotEqual(port, "0")
            health = [ln for ln in curls if "/healthz" in ln]
            self.assertTrue(health, "no healthz curl command printed:\n" + text)
            self.assertGreaterEqual(len(curls), 2, "only healthz printed:\n" + text)
            for ln in curls:
                words = shlex.split(ln)
                for opt in ("--cacert", "--cert", "--key"):
                    self.assertIn(opt, words, ln)
                    path = words[words.index(opt) + 1]
                    self.assertTrue(os.path.isabs(path), "%s %s not absolute" % (opt, path))
                    self.assertTrue(os.path.isfile(path), "%s %s missing" % (opt, path))
                self.assertIn(":%s" % port, ln, "curl line lacks the real port %s" % port)
            cmd = health[0].split(" | ")[0] + " -sS -o /dev/null -w '%{http_code}'"
            r = subprocess.run(["sh", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, timeout=15)
            self.assertEqual(r.stdout.strip()[-3:], "200", "%s -> %r %r" % (cmd, r.stdout,
                                                                           r.stderr))
        finally:
            rc = self.stop(proc, logf)
        self.assertIsNotNone(rc)
        return text

    def test_demo_serves_and_reuses_folder(self):
        folder = os.path.join(cdxtest.scratch("demo"), "site")
        self.check_round(folder)
        self.assertTrue(os.path.isfile(os.path.join(folder, "cdxgw.conf")))
        ca = os.path.join(folder, "pki", "ca.crt")
        self.assertTrue(os.path.isfile(ca), os.listdir(folder))
        crts = [n for n in os.listdir(os.path.join(folder, "pki")) if n.endswith(".crt")]
        self.assertGreaterEqual(len(crts), 6, "expected CA + 5 institutions: %r" % crts)
        for n in crts:
            if n != "ca.crt":
                self.assertTrue(os.path.isfile(os.path.join(folder, "pki", n[:-4] + ".key")), n)
        fp1 = cdxtest.cert_sha256(ca)
        self.check_round(folder)
        self.assertEqual(cdxtest.cert_sha256(ca), fp1, "second demo run replaced the CA")


if __name__ == "__main__":
    cdxtest.main()
