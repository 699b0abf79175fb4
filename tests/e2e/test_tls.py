"""End-to-end: mutual TLS of cdxgw (client certs, CRL, protocol versions).

Every refusal test has a control that shows the same client succeeds when
the one thing under test is changed, so no refusal can pass vacuously (e.g.
because the server is down or the client cannot speak the protocol)."""

import json
import os
import select
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Gateway, Institution  # noqa: E402

PKI = None
GW = None        # tls_crl = fresh CRL; every test cert registered except `unregistered`
GW_NOCRL = None  # same institutions, no tls_crl


def registered(pki):
    """Institutions: the good certs by cert_file, and the certs that must be
    refused for another reason (chain, validity, revocation) registered by
    cert_sha256, so their refusal cannot come from non-registration."""
    return [
        Institution("2.25.1001", "Hospital A", pki.good, roles="submit, query, admin"),
        Institution("2.25.1002", "Hospital B", pki.good2, roles="submit"),
        Institution("2.25.1003", "Expired Clinic", sha256=pki.expired.sha256()),
        Institution("2.25.1004", "Revoked Clinic", sha256=pki.revoked.sha256()),
        Institution("2.25.1005", "Self-Signed Lab", sha256=pki.selfsigned.sha256()),
        Institution("2.25.1006", "Other CA Hospital", sha256=pki.otherca_client.sha256(),
                    roles="query", endpoint="https://other.example.org/cdx"),
        cdxtest.ADMIN_INSTITUTION(pki),
    ]


def setUpModule():
    global PKI, GW, GW_NOCRL
    PKI = cdxtest.shared_pki()
    GW = Gateway(PKI, institutions=registered(PKI), crl=PKI.crl, name="tls").start()
    GW_NOCRL = Gateway(PKI, institutions=registered(PKI), name="tls-nocrl").start()


def tearDownModule():
    for gw in (GW, GW_NOCRL):
        if gw is not None:
            gw.stop()


REFUSED_CERTS = ["selfsigned", "otherca_client", "expired", "revoked", "unregistered"]


class TestClientCertificates(unittest.TestCase):

    def assert_served(self, gw, cert):
        r = gw.curl("/healthz", cert=cert)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(json.loads(r.body).get("status"), "ok", r)

    def assert_curl_refused(self, gw, cert):
        r = gw.curl("/healthz", cert=cert)
        self.assertIsNone(r.status, "expected a handshake failure (no HTTP), got %r" % (r,))
        self.assertIn(r.rc, cdxtest.CURL_HANDSHAKE_FAIL, r)
        self.assertEqual(r.body, "", r)

    def test_registered_cert_gets_healthz(self):
        self.assert_served(GW, "good")
        self.assert_served(GW, "good2")

    def test_no_client_cert_refused(self):
        self.assert_curl_refused(GW, None)
        refused, detail = cdxtest.handshake_refused(GW, None)
        self.assertTrue(refused, detail)

    def test_bad_certs_refused_curl(self):
        for cert in REFUSED_CERTS:
            with self.subTest(cert=cert):
                self.assert_curl_refused(GW, cert)

    def test_bad_certs_refused_python(self):
        for cert in REFUSED_CERTS:
            with self.subTest(cert=cert):
                refused, detail = cdxtest.handshake_refused(GW, cert)
                self.assertTrue(refused, detail)

    def test_control_revoked_cert_served_without_crl(self):
        # Proves the revoked cert is refused because of the CRL, and is
        # otherwise a valid registered certificate.
        self.assert_served(GW_NOCRL, "revoked")
        self.assert_served(GW_NOCRL, "good")

    def test_nocrl_gateway_still_refuses_chain_and_validity(self):
        for cert in ["selfsigned", "otherca_client", "expired", "unregistered", None]:
            with self.subTest(cert=cert):
                self.assert_curl_refused(GW_NOCRL, cert)

    def test_s_client_shows_no_http_for_unregistered(self):
        ok = cdxtest.s_client(GW.port, PKI, cert="good")
        self.assertIn("HTTP/1.1 200", ok.stdout, "control: good cert via s_client: %s\n%s"
                      % (ok.stdout[-2000:], ok.stderr[-2000:]))
        bad = cdxtest.s_client(GW.port, PKI, cert="unregistered")
        # The server's alert shows on stderr (TLS 1.3: after the client's Finished).
        cdxtest.assert_s_client_refused(self, bad)

    def test_inline_institutions_in_main_config(self):
        inst = [Institution("2.25.2001", "Inline Hospital", PKI.good2, roles="submit, query")]
        with Gateway(PKI, institutions=inst, inline=True, name="tls-inline") as gw:
            self.assert_served(gw, "good2")
            self.assert_curl_refused(gw, "good")  # valid, but not registered here


class TestProtocolVersions(unittest.TestCase):
    WEAK = ["-cipher", "DEFAULT@SECLEVEL=0"]

    def test_tls12_and_tls13_accepted(self):
        for flag in ("-tls1_2", "-tls1_3"):
            with self.subTest(flag=flag):
                r = cdxtest.s_client(GW.port, PKI, args=[flag])
                self.assertIn("HTTP/1.1 200", r.stdout, r.stderr[-1500:])

    def test_tls10_tls11_refused_s_client(self):
        for flag in ("-tls1", "-tls1_1"):
            with self.subTest(flag=flag):
                # Control: this client really negotiates the old version.
                srv = cdxtest.SServer(PKI, [flag] + self.WEAK)
                try:
                    ctl = cdxtest.s_client(srv.port, PKI, args=[flag] + self.WEAK)
                finally:
                    srv.stop()
                self.assertIn("HTTP/1.0 200", ctl.stdout,
                              "control: s_client %s against openssl s_server failed: %s"
                              % (flag, ctl.stderr[-1500:]))
                r = cdxtest.s_client(GW.port, PKI, args=[flag] + self.WEAK)
                cdxtest.assert_s_client_refused(self, r)

    def test_tls11_refused_curl(self):
        args = ["--tlsv1.1", "--tls-max", "1.1", "--ciphers", "DEFAULT@SECLEVEL=0"]
        srv = cdxtest.SServer(PKI, ["-tls1_1"] + self.WEAK)
        try:
            ctl = cdxtest.curl_port(srv.port, PKI, extra=args)
        finally:
            srv.stop()
        self.assertEqual(ctl.status, 200, "control: curl TLS 1.1 against s_server: %r" % (ctl,))
        r = GW.curl("/healthz", extra=args)
        self.assertIsNone(r.status, r)
        self.assertIn(r.rc, cdxtest.CURL_HANDSHAKE_FAIL, r)

    def test_non_aead_suite_refused(self):
        cbc, gcm = "ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"
        srv = cdxtest.SServer(PKI, ["-tls1_2"])
        try:
            ctl = cdxtest.s_client(srv.port, PKI, args=["-tls1_2", "-cipher", cbc])
        finally:
            srv.stop()
        self.assertIn("HTTP/1.0 200", ctl.stdout, "control: CBC suite vs s_server: %s"
                      % ctl.stderr[-1500:])
        ok = cdxtest.s_client(GW.port, PKI, args=["-tls1_2", "-cipher", gcm])
        self.assertIn("HTTP/1.1 200", ok.stdout, ok.stderr[-1500:])
        bad = cdxtest.s_client(GW.port, PKI, args=["-tls1_2", "-cipher", cbc])
        cdxtest.assert_s_client_refused(self, bad)


class TestCrl(unittest.TestCase):

    def test_stale_crl_refuses_everyone(self):
        with Gateway(PKI, institutions=registered(PKI), crl=PKI.stale_crl,
                     name="tls-stale") as gw:
            for cert in ("good", "good2"):
                with self.subTest(cert=cert):
                    r = gw.curl("/healthz", cert=cert)
                    self.assertIsNone(r.status, "stale CRL must fail closed: %r" % (r,))
                    self.assertIn(r.rc, cdxtest.CURL_HANDSHAKE_FAIL, r)
        # Control: the same certs pass with the fresh CRL (GW).
        self.assertEqual(GW.curl("/healthz", cert="good").status, 200)

    def test_missing_crl_fails_closed(self):
        # A missing CRL either stops the gateway at start (exit 2, naming
        # tls_crl) or makes it refuse every client; it must never serve.
        gw = Gateway(PKI, institutions=registered(PKI),
                     crl=os.path.join(PKI.dir, "no-such-crl.pem"), name="tls-nocrlfile")
        try:
            try:
                gw.start()
            except cdxtest.GatewayError:
                rc = gw.wait(60)
                self.assertEqual(rc, 2, gw.log())
                self.assertIn("tls_crl", gw.log())
                return
            r = gw.curl("/healthz", cert="good")
            self.assertIsNone(r.status, "missing CRL must fail closed: %r" % (r,))
        finally:
            gw.stop()


class TestHandshakeMetrics(unittest.TestCase):

    def test_failures_counted_by_reason(self):
        """Each refused client is counted once, under its own reason."""
        cases = [(None, "no_certificate"), ("otherca_client", "unknown_ca"),
                 ("selfsigned", "unknown_ca"), ("unregistered", "unregistered"),
                 ("revoked", "revoked"), ("expired", "expired")]
        with Gateway(PKI, institutions=registered(PKI), crl=PKI.crl, name="tls-metrics") as gw:
            name = "cdxgw_tls_handshake_failures_total"

            def by_reason():
                samples = cdxtest.metric_samples(gw.metrics(), name)
                self.assertTrue(samples, "no %s samples in /metrics" % name)
                for labels, _ in samples:
                    self.assertIn("reason", labels, samples)
                return {lab["reason"]: v for lab, v in samples}

            for cert, reason in cases:
                with self.subTest(cert=cert, reason=reason):
                    before = by_reason()
                    r = gw.curl("/healthz", cert=cert)
                    self.assertIsNone(r.status, r)
                    after = cdxtest.wait_for(
                        lambda: (lambda a: a if sum(a.values()) > sum(before.values()) else None)(
                            by_reason()), what="the refusal of %s counted" % cert)
                    delta = {k: after[k] - before.get(k, 0) for k in after
                             if after[k] != before.get(k, 0)}
                    self.assertEqual(delta, {reason: 1}, "refusing %s" % cert)
            self.assertRegex(gw.log(), r"event=tls\.handshake_failed\b.*\breason=revoked\b")


class Flood:
    """Plain TCP connections that never start TLS, from several loopback
    addresses, kept open: one closed by the gateway is opened again, as a
    flooding client would, at up to `reopen_rate` connections a second (the
    test machine is shared: the point is holding slots, not burning CPU)."""

    def __init__(self, port, addresses, per_address, reopen_rate=200):
        self.port, self.addresses, self.per_address = port, addresses, per_address
        self.reopen_rate = reopen_rate
        self.to_reopen = []
        self.socks = {}  # socket -> source address
        self.opened = 0
        self.failed_opens = 0
        self.closed_by_gateway = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, addr):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((addr, 0))
            s.connect_ex(("127.0.0.1", self.port))
        except OSError:
            s.close()
            self.failed_opens += 1
            return
        self.socks[s] = addr
        self.opened += 1

    def start(self):
        for addr in self.addresses:
            for _ in range(self.per_address):
                self._open(addr)
        self.thread.start()
        return self

    def _run(self):
        tokens, last = 0.0, time.monotonic()
        while not self.stop_event.is_set():
            now = time.monotonic()
            tokens = min(self.reopen_rate, tokens + (now - last) * self.reopen_rate)
            last = now
            while self.to_reopen and tokens >= 1:
                self._open(self.to_reopen.pop(0))
                tokens -= 1
            socks = list(self.socks)
            try:
                readable, _, _ = select.select(socks, [], [], 0.05)
            except (OSError, ValueError):
                readable = [s for s in socks if s.fileno() < 0]
            for s in readable:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if data:
                    continue
                addr = self.socks.pop(s)
                s.close()
                self.closed_by_gateway += 1
                self.to_reopen.append(addr)

    def stop(self):
        self.stop_event.set()
        self.thread.join(10)
        for s in list(self.socks):
            s.close()
        self.socks.clear()


class TestConnectionFlood(unittest.TestCase):
    """Idle TCP connections that never start TLS must not lock out
    certified clients: handshakes have their own budget, each address its
    own share of it, and the oldest handshake makes room for a new one."""

    SETTINGS = {
        "max_connections": 120,
        "max_handshakes": 40,
        "max_handshakes_per_ip": 16,
        # Far longer than the test: the flood holds its connections for as
        # long as the gateway lets it.
        "handshake_timeout_ms": 120000,
        "log_level": "info",
    }

    def test_certified_client_served_during_flood(self):
        addresses = ["127.0.0.%d" % i for i in range(2, 10)]
        per_address = 40  # 320 connections: more than max_connections
        with Gateway(PKI, name="tls-flood", settings=self.SETTINGS) as gw:
            flood = Flood(gw.port, addresses, per_address).start()
            try:
                # Let the flood fill the gateway before the client comes.
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and flood.closed_by_gateway < 100:
                    time.sleep(0.05)
                t0 = time.monotonic()
                deadline = t0 + 60
                attempts, worst, first_ok = 0, 0.0, None
                served = 0
                while time.monotonic() < deadline and served < 5:
                    a0 = time.monotonic()
                    r = gw.curl("/healthz", cert="good", timeout=10)
                    attempts += 1
                    if r.status == 200:
                        served += 1
                        worst = max(worst, time.monotonic() - a0)
                        if first_ok is None:
                            first_ok = time.monotonic() - t0
                self.assertEqual(served, 5, "certified client not served during the flood "
                                 "(%d attempts; flood opened %d, %d closed by the gateway)"
                                 % (attempts, flood.opened, flood.closed_by_gateway))
                metrics = gw.metrics()
                self.assertTrue(flood.thread.is_alive(), "the flood stopped early")
            finally:
                flood.stop()
            refused = {lab["reason"]: v for lab, v in
                       cdxtest.metric_samples(metrics, "cdxgw_connections_refused_total")}
            evicted = sum(v for _, v in
                          cdxtest.metric_samples(metrics, "cdxgw_connections_evicted_total"))
            active = sum(v for _, v in
                         cdxtest.metric_samples(metrics, "cdxgw_handshakes_active"))
            self.assertGreater(refused.get("max_handshakes_per_ip", 0), 0, metrics)
            self.assertGreater(evicted, 0, metrics)
            self.assertLessEqual(active, self.SETTINGS["max_handshakes"], metrics)
            # The flood's addresses hold many handshakes each, the client's
            # one: evictions always fall on the flood.
            evicted_clients = [ln for ln in gw.log().splitlines()
                               if "event=conn.evicted" in ln and "peer=127.0.0.1 " in ln]
            self.assertEqual(evicted_clients, [], "\n".join(evicted_clients[:5]))
            print("flood: %d addresses x %d idle connections; certified client served 5 times "
                  "in %d attempts, first after %.2f s, worst request %.3f s; gateway closed %d "
                  "flood connections (refused %r, evicted %d)"
                  % (len(addresses), per_address, attempts, first_ok, worst,
                     flood.closed_by_gateway, refused, evicted), file=sys.stderr)

    def test_per_address_share(self):
        # One address alone cannot take more than its share of handshakes:
        # with 40 idle connections from 127.0.0.2, the rest are closed at
        # accept and a client elsewhere never needs to evict anyone.
        with Gateway(PKI, name="tls-per-ip", settings=self.SETTINGS) as gw:
            flood = Flood(gw.port, ["127.0.0.2"], 40).start()
            try:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and flood.closed_by_gateway < 24:
                    time.sleep(0.05)
                r = gw.curl("/healthz", cert="good")
                self.assertEqual(r.status, 200, r)
                metrics = gw.metrics()
            finally:
                flood.stop()
            refused = {lab["reason"]: v for lab, v in
                       cdxtest.metric_samples(metrics, "cdxgw_connections_refused_total")}
            self.assertGreaterEqual(refused.get("max_handshakes_per_ip", 0), 24, metrics)
            evicted = sum(v for _, v in
                          cdxtest.metric_samples(metrics, "cdxgw_connections_evicted_total"))
            self.assertEqual(evicted, 0, metrics)
            self.assertIn("reason=max_handshakes_per_ip", gw.log())


class TestInstitutionShare(unittest.TestCase):

    def test_connections_per_institution(self):
        with Gateway(PKI, name="tls-per-institution",
                     settings={"max_connections_per_institution": 2}) as gw:
            held = [cdxtest.Conn.open(gw) for _ in range(2)]
            try:
                for c in held:
                    c.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    self.assertEqual(c.read_response().status, 200)
                third = cdxtest.Conn.open(gw)
                third.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                doc = cdxtest.problem_check(self, third.read_response(), 503,
                                            "TOO_MANY_CONNECTIONS")
                self.assertIn("2 open connections", doc["detail"])
                self.assertTrue(third.wait_closed(5.0))
                third.close()
                # A document refused for the cap is audited, and not stored.
                seq0 = cdxtest.audit_max_seq(gw)
                body = cdxtest.minimal_cda(doc_ext="CAP-1")
                fourth = cdxtest.Conn.open(gw)
                fourth.send(b"POST /v1/documents HTTP/1.1\r\nHost: localhost\r\n"
                            b"Content-Type: application/xml\r\nContent-Length: %d\r\n\r\n"
                            % len(body) + body)
                cdxtest.problem_check(self, fourth.read_response(), 503, "TOO_MANY_CONNECTIONS")
                fourth.close()
                rows = cdxtest.wait_for(lambda: cdxtest.audit_since(gw, seq0),
                                        what="the refusal's audit record")
                self.assertEqual([(e, o, a) for _, e, o, a, _, _ in rows],
                                 [("document.reject", 4, cdxtest.E2E_OID)], rows)
                self.assertIn("TOO_MANY_CONNECTIONS", rows[0][5])
                self.assertEqual(cdxtest.table_count(gw, "documents"), 0)
                # Another institution is not affected.
                self.assertEqual(gw.curl("/healthz", cert="good2").status, 200)
                # Once one closes, the institution gets its slot back.
                held.pop().close()
                deadline = time.monotonic() + 30
                r = None
                while time.monotonic() < deadline:
                    r = gw.curl("/healthz", cert="good")
                    if r.status == 200:
                        break
                    time.sleep(0.05)
                self.assertEqual(r.status, 200, r)
                refused = {lab["reason"]: v for lab, v in cdxtest.metric_samples(
                    gw.metrics(), "cdxgw_connections_refused_total")}
                self.assertGreaterEqual(refused.get("max_connections_per_institution", 0), 1)
            finally:
                for c in held:
                    c.close()


if __name__ == "__main__":
    cdxtest.main()
