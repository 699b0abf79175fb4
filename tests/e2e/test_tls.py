"""End-to-end: mutual TLS of cdxgw (client certs, CRL, protocol versions).

Every refusal test has a control that shows the same client succeeds when
the one thing under test is changed, so no refusal can pass vacuously (e.g.
because the server is down or the client cannot speak the protocol)."""

import json
import os
import sys
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
        Institution("2.25.1001", "Hospital A", pki.good),
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
                rc = gw.wait(5)
                self.assertEqual(rc, 2, gw.log())
                self.assertIn("tls_crl", gw.log())
                return
            r = gw.curl("/healthz", cert="good")
            self.assertIsNone(r.status, "missing CRL must fail closed: %r" % (r,))
        finally:
            gw.stop()


class TestHandshakeMetrics(unittest.TestCase):

    def test_failures_counted_by_reason(self):
        with Gateway(PKI, institutions=registered(PKI), crl=PKI.crl, name="tls-metrics") as gw:
            name = "cdxgw_tls_handshake_failures_total"
            before = cdxtest.metric_samples(gw.metrics(), name)
            total0 = sum(v for _, v in before)
            for cert in (None, "otherca_client", "unregistered", "revoked"):
                r = gw.curl("/healthz", cert=cert)
                self.assertIsNone(r.status, r)
            text = gw.metrics()
            after = cdxtest.metric_samples(text, name)
            self.assertTrue(after, "no %s samples in /metrics:\n%s" % (name, text))
            for labels, _ in after:
                self.assertIn("reason", labels, after)
            total1 = sum(v for _, v in after)
            self.assertGreaterEqual(total1 - total0, 4, after)
            reasons = {lab["reason"] for lab, v in after if v > 0}
            self.assertGreaterEqual(len(reasons), 2,
                                    "expected distinct reasons (no cert / unknown CA / "
                                    "unregistered / revoked), got %r" % (after,))


if __name__ == "__main__":
    cdxtest.main()
