"""End-to-end: the README's promises that no other test provokes, each over
real HTTPS against a running gateway.

- error codes: MAPPING_FAILED (a mapping whose XSLT terminates),
  CDA_PROFILE_INVALID, OVERLOADED with Retry-After (max_jobs, write_queue),
  HTTP_BODY_TIMEOUT, HTTP_BODY_TOO_SLOW, HTTP_EXPECTATION_FAILED,
  HTTP_VERSION_NOT_SUPPORTED, BAD_QUERY, and `Allow` on 405;
- identity: identity_policy = custodian_or_author, a certificate identified
  by its subjectAltName `urn:oid:` and by spki_sha256 (surviving a renewal
  with the same key);
- TLS: the CRL re-read every crl_reload_ms (a revocation takes effect, a
  stale CRL refuses everyone, a fresh one restores service);
- limits: max_connections, write_timeout_ms against a client that never
  reads;
- audit: every read leaves a record;
- commands: `cdxgw reindex` after a mapping change.

No sleeps as synchronization: every wait polls a condition (an answer, a
metric, a log line) with a generous deadline."""

import os
import shutil
import socket
import sqlite3
import ssl
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Conn, Gateway, Institution, problem_check, wait_for  # noqa: E402

PKI = None
E2E = cdxtest.E2E_OID


def setUpModule():
    global PKI
    PKI = cdxtest.shared_pki()


def admin_institutions(extra=()):
    """The test institution (submit, query, admin: it may read /metrics
    whatever the /metrics policy) and a second one that only queries."""
    return [Institution(E2E, "e2e clinic", PKI.good, "submit, query, admin"),
            Institution("2.25.1002", "Hospital B", PKI.good2, "query")] + list(extra)


_n = [0]


def doc(prefix="PROM", **kw):
    _n[0] += 1
    return cdxtest.minimal_cda(doc_ext="%s-%d-%d" % (prefix, os.getpid(), _n[0]), **kw)


def post(gw, body, cert="good", timeout=60.0, **kw):
    with Conn.open(gw, cert=cert, timeout=timeout) as c:
        return cdxtest.raw_post(c, body, timeout=timeout, **kw)


def metric(gw, name):
    samples = cdxtest.metric_samples(gw.metrics(), name)
    return sum(v for _, v in samples) if samples else None


def copy_mappings(dest):
    shutil.copytree(os.path.join(cdxtest.SOURCE_DIR, "mappings"), dest)
    return dest


class Case(unittest.TestCase):

    def gateway(self, name, settings=None, institutions=None, **kw):
        gw = Gateway(PKI, name=name, settings=settings,
                     institutions=institutions or admin_institutions(), **kw).start()
        self.addCleanup(gw.stop)
        return gw


# ---------------------------------------------------------------------------
# Error codes of the document pipeline
# ---------------------------------------------------------------------------

TERMINATING_XSL = b"""<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:template match="/">
    <xsl:message terminate="yes">this mapping refuses every document</xsl:message>
  </xsl:template>
</xsl:stylesheet>
"""


class TestPipelineCodes(Case):

    def test_mapping_failed(self):
        mdir = copy_mappings(os.path.join(cdxtest.scratch("mappings-fail"), "mappings"))
        with open(os.path.join(mdir, "default", "normalize.xsl"), "wb") as f:
            f.write(TERMINATING_XSL)
        gw = self.gateway("mapping-failed", settings={"mappings_dir": mdir})
        seq0 = cdxtest.audit_max_seq(gw)
        r = post(gw, doc("MAPFAIL"))
        d = problem_check(self, r, 422, "MAPPING_FAILED")
        self.assertIsInstance(d.get("issues"), list, d)
        self.assertEqual(cdxtest.table_count(gw, "documents"), 0)
        rows = cdxtest.audit_since(gw, seq0)
        self.assertEqual([(e, o, a) for _, e, o, a, _, _ in rows],
                         [("document.reject", 4, E2E)], rows)

    def test_profile_invalid(self):
        gw = self.gateway("profile")
        hdr = (b'<realmCode code="US"/><templateId root="2.16.840.1.113883.10.20.22.1.1"'
               b' extension="2015-08-01"/>')
        ok = doc("PROF-OK").replace(b'<realmCode code="US"/>', hdr, 1)
        bad = doc("PROF-BAD").replace(b'<realmCode code="US"/>', hdr, 1).replace(
            b'<birthTime value="19800101"/>', b"", 1)
        self.assertNotIn(b"birthTime", bad)
        before = cdxtest.table_count(gw, "documents")
        d = problem_check(self, post(gw, bad), 422, "CDA_PROFILE_INVALID")
        rules = [i.get("rule") for i in d.get("issues", []) if i.get("severity") == "error"]
        self.assertIn("US-HDR-008", rules, d)
        self.assertEqual(cdxtest.table_count(gw, "documents"), before)
        # Control: the same profile, birthTime present.
        r = post(gw, ok)
        self.assertEqual(r.status, 201, r)


# ---------------------------------------------------------------------------
# OVERLOADED: max_jobs and write_queue, with Retry-After
# ---------------------------------------------------------------------------

class WriterLock:
    """Holds the registry's write lock from this process (BEGIN IMMEDIATE),
    so the gateway's writer waits (busy_timeout) and requests stay held."""

    def __init__(self, gw):
        self.con = sqlite3.connect(cdxtest.registry_path(gw), isolation_level=None,
                                   timeout=30)
        self.con.execute("BEGIN IMMEDIATE")

    def release(self):
        if self.con is not None:
            self.con.execute("ROLLBACK")
            self.con.close()
            self.con = None


def assert_retry_after(tc, r):
    ra = r.header("retry-after")
    tc.assertIsNotNone(ra, "503 without Retry-After: %r" % r)
    tc.assertRegex(ra, r"^[1-9][0-9]*$", r)


class TestOverloaded(Case):

    def test_max_jobs_503_with_retry_after(self):
        gw = self.gateway("max-jobs", settings={"max_jobs": 1, "worker_threads": 1})
        lock = WriterLock(gw)
        self.addCleanup(lock.release)
        held = {}

        def first():
            held["r"] = post(gw, held_doc)
        held_doc = doc("HELD")
        t = threading.Thread(target=first)
        t.start()
        # The first request's results wait for the registry writer.
        wait_for(lambda: metric(gw, "cdxgw_jobs_in_flight") == 1, what="one job in flight")
        r = post(gw, doc("REFUSED"))
        problem_check(self, r, 503, "OVERLOADED")
        assert_retry_after(self, r)
        # A read is concurrent work too; /healthz is not.
        with Conn.open(gw) as c:
            g = cdxtest.raw_get(c, "/v1/documents/" + "0" * 32)
            problem_check(self, g, 503, "OVERLOADED")
            assert_retry_after(self, g)
            self.assertEqual(cdxtest.raw_get(c, "/healthz").status, 200)
        self.assertGreaterEqual(metric(gw, "cdxgw_jobs_refused_total"), 2)
        lock.release()
        t.join(60)
        self.assertEqual(held["r"].status, 201, held["r"])
        self.assertEqual(cdxtest.table_count(gw, "documents"), 1, "the refused one was stored")
        # Retrying after the pause succeeds.
        self.assertEqual(post(gw, doc("RETRY")).status, 201)

    def test_write_queue_bound(self):
        queue, n = 16, 40
        gw = self.gateway("write-queue", settings={"write_queue": queue, "max_jobs": 256,
                                                   "worker_threads": 2})
        lock = WriterLock(gw)
        self.addCleanup(lock.release)
        docs = [doc("WQ") for _ in range(n)]
        out = [None] * n
        conns = [Conn.open(gw, timeout=120.0) for _ in range(n)]
        for c in conns:
            self.addCleanup(c.close)

        def push(k):
            try:
                out[k] = cdxtest.raw_post(conns[k], docs[k], timeout=120.0)
            except (OSError, cdxtest.GatewayError) as e:
                out[k] = e
        threads = [threading.Thread(target=push, args=(k,)) for k in range(n)]
        for t in threads:
            t.start()
        # While the writer is blocked, the queue fills to its bound and the
        # rest is refused at once.
        refused = wait_for(lambda: [r for r in out if isinstance(r, cdxtest.Response)
                                    and r.status == 503] or None,
                           what="a 503 while the write queue is full")
        for r in refused:
            problem_check(self, r, 503, "OVERLOADED")
            assert_retry_after(self, r)
        # The refusals came from a full queue: write_queue changes wait (plus
        # the group the blocked writer holds).
        self.assertGreaterEqual(metric(gw, "cdxgw_registry_write_queue"), queue)
        lock.release()
        for t in threads:
            t.join(120)
        statuses = {}
        for r in out:
            self.assertIsInstance(r, cdxtest.Response, out)
            statuses[r.status] = statuses.get(r.status, 0) + 1
        self.assertEqual(set(statuses) - {201, 503}, set(), statuses)
        self.assertGreaterEqual(statuses.get(201, 0), 1, statuses)
        stored = {u for (u,) in cdxtest.registry_query(gw, "SELECT uid FROM documents")}
        acked = {r.json()["id"] for r in out if r.status == 201}
        self.assertEqual(stored, acked, "stored documents are exactly the acknowledged ones")


# ---------------------------------------------------------------------------
# HTTP codes and headers
# ---------------------------------------------------------------------------

class TestBodyTimeouts(Case):

    def partial_post(self, gw, declared, first):
        c = Conn.open(gw, timeout=120.0)
        self.addCleanup(c.close)
        c.send(b"POST /v1/documents HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
               b"application/xml\r\nContent-Length: %d\r\n\r\n" % declared + first)
        return c

    def test_body_timeout_408(self):
        gw = self.gateway("body-timeout", settings={"body_timeout_ms": 300,
                                                    "body_min_rate_bps": 0})
        c = self.partial_post(gw, 1000, b"<ClinicalDocument")
        problem_check(self, c.read_response(timeout=120.0), 408, "HTTP_BODY_TIMEOUT")
        self.assertTrue(c.wait_closed(60.0), "connection open after 408")
        self.assertEqual(cdxtest.table_count(gw, "documents"), 0)
        self.assertEqual(post(gw, doc("AFTER-TO")).status, 201)

    def test_body_too_slow_408(self):
        gw = self.gateway("body-slow", settings={"body_timeout_ms": 600000,
                                                 "body_min_rate_bps": 1 << 20,
                                                 "body_rate_grace_ms": 100})
        c = self.partial_post(gw, 100000, b"<ClinicalDocument")
        problem_check(self, c.read_response(timeout=120.0), 408, "HTTP_BODY_TOO_SLOW")
        self.assertTrue(c.wait_closed(60.0), "connection open after 408")
        self.assertEqual(cdxtest.table_count(gw, "documents"), 0)
        self.assertEqual(post(gw, doc("AFTER-SLOW")).status, 201)


class TestHttpCodes(Case):

    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(PKI, name="http-codes", institutions=admin_institutions()).start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()

    def send(self, raw):
        c = Conn.open(self.gw)
        self.addCleanup(c.close)
        c.send(raw)
        return c, c.read_response(timeout=60.0)

    def test_expectation_failed_417(self):
        c, r = self.send("POST /v1/documents HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                         "application/xml\r\nContent-Length: 5\r\nExpect: 200-ok\r\n\r\n")
        problem_check(self, r, 417, "HTTP_EXPECTATION_FAILED")
        self.assertNotIn(b"100 Continue", r.raw)
        # Control: 100-continue is the one expectation served.
        c2, r2 = self.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n"
                           "Expect: 100-continue\r\n\r\n")
        self.assertEqual(r2.status, 100, r2)

    def test_version_not_supported_505(self):
        for version in ("HTTP/2.0", "HTTP/3.0", "HTTP/1.2"):
            with self.subTest(version=version):
                c, r = self.send("GET /healthz %s\r\nHost: localhost\r\n\r\n" % version)
                problem_check(self, r, 505, "HTTP_VERSION_NOT_SUPPORTED")
                self.assertTrue(c.wait_closed(60.0))
        for version in ("HTTP/1.0", "HTTP/1.1"):
            with self.subTest(control=version):
                c, r = self.send("GET /healthz %s\r\nHost: localhost\r\n\r\n" % version)
                self.assertEqual(r.status, 200, r)

    def test_bad_query(self):
        c, r = self.send("GET /v1/documents/%s?form=html HTTP/1.1\r\nHost: localhost\r\n\r\n"
                         % ("0" * 32))
        problem_check(self, r, 400, "BAD_QUERY")

    def test_405_names_allowed_methods(self):
        cases = [("DELETE", "/healthz", {"GET"}),
                 ("PUT", "/v1/documents", {"GET", "POST"}),
                 ("PUT", "/v1/documents/%s" % ("0" * 32), {"GET"}),
                 ("POST", "/metrics", {"GET"})]
        for method, path, allowed in cases:
            with self.subTest(method=method, path=path):
                c, r = self.send("%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"
                                 % (method, path))
                problem_check(self, r, 405, "METHOD_NOT_ALLOWED")
                allow = {m.strip() for m in (r.header("allow") or "").split(",") if m.strip()}
                allow.discard("HEAD")
                self.assertEqual(allow, allowed, r)


# ---------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------

def with_author_org(body, oid):
    """body with author/assignedAuthor/representedOrganization/id = oid."""
    frag = ('<representedOrganization><id root="%s"/><name>Author org</name>'
            '</representedOrganization>' % oid).encode()
    out = body.replace(b"</assignedPerson></assignedAuthor>",
                       b"</assignedPerson>" + frag + b"</assignedAuthor>", 1)
    assert out != body
    return out


class TestIdentity(Case):

    def test_custodian_or_author_policy(self):
        other = "2.25.7777"  # a custodian organization no one registered
        gw = self.gateway("identity-policy", institutions=[
            Institution(E2E, "e2e clinic", PKI.good, "submit, query, admin",
                        extra=[("identity_policy", "custodian_or_author")]),
            Institution("2.25.1002", "Hospital B", PKI.good2, "submit, query"),
        ])
        # Authored by the submitting institution, kept by another: allowed
        # under custodian_or_author ...
        a = with_author_org(doc("AUTH-A", custodian_oid=other, doc_root=E2E + ".2",
                                patient_root=E2E + ".1"), E2E)
        r = post(gw, a)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(cdxtest.registry_query(
            gw, "SELECT i.oid FROM documents d JOIN institutions i ON i.id = d.submitter_id"
                " WHERE d.uid = ?", (r.json()["id"],)), [(E2E,)])
        # ... refused under the default policy (Hospital B, same shape) ...
        b = with_author_org(doc("AUTH-B", custodian_oid=other, doc_root="2.25.1002.2",
                                patient_root="2.25.1002.1"), "2.25.1002")
        problem_check(self, post(gw, b, cert="good2"), 403, "IDENTITY_MISMATCH")
        # ... and neither custodian nor author: refused even under the policy.
        c = with_author_org(doc("AUTH-C", custodian_oid=other, doc_root=E2E + ".2",
                                patient_root=E2E + ".1"), "2.25.8888")
        problem_check(self, post(gw, c), 403, "IDENTITY_MISMATCH")

    def test_san_urn_oid_identifies(self):
        oid = "2.25.3001"
        ca = PKI.ca
        by_san = ca.issue("san-3001", san="URI:urn:oid:%s" % oid)
        stranger = ca.issue("san-3999", san="URI:urn:oid:2.25.3999")
        foreign = PKI.other_ca.issue("foreign-3001", san="URI:urn:oid:%s" % oid)
        gw = self.gateway("identity-san", institutions=admin_institutions(
            [Institution(oid, "SAN Hospital", None, "submit, query")]))
        r = gw.curl("/healthz", cert=by_san)
        self.assertEqual(r.status, 200, r)
        body = doc("SAN", custodian_oid=oid)
        with Conn.open(gw, cert=by_san) as c:
            seq0 = cdxtest.audit_max_seq(gw)
            p = cdxtest.raw_post(c, body)
            self.assertEqual(p.status, 201, p)
        self.assertEqual([row[3] for row in cdxtest.audit_since(gw, seq0)], [oid])
        # An OID no institution has, a certificate without the SAN, and the
        # right SAN from a CA the federation does not trust: refused.
        for cert in (stranger, PKI.unregistered, foreign):
            with self.subTest(cert=cert.name):
                refused, detail = cdxtest.handshake_refused(gw, cert)
                self.assertTrue(refused, detail)

    def test_spki_sha256_survives_renewal(self):
        ca = PKI.ca
        first = ca.issue("spki-first")
        renewed = ca.issue("spki-renewed", key=first.key)
        other_key = ca.issue("spki-other")
        spki = cdxtest.spki_sha256(first.crt)
        self.assertEqual(cdxtest.spki_sha256(renewed.crt), spki)
        self.assertNotEqual(first.sha256(), renewed.sha256())
        oid = "2.25.3101"
        gw = self.gateway("identity-spki", institutions=admin_institutions(
            [Institution(oid, "SPKI Clinic", None, "submit, query",
                         extra=[("spki_sha256", spki)])]))
        for cert in (first, renewed):
            with self.subTest(cert=cert.name):
                r = gw.curl("/healthz", cert=cert)
                self.assertEqual(r.status, 200, r)
                p = cdxtest.post_document(gw, doc("SPKI", custodian_oid=oid), cert)
                self.assertEqual(p.status, 201, p)
        refused, detail = cdxtest.handshake_refused(gw, other_key)
        self.assertTrue(refused, "a certificate with another key was served: %s" % detail)


# ---------------------------------------------------------------------------
# CRL reload and recovery
# ---------------------------------------------------------------------------

class _CrlPki:
    """A PKI of its own (its CA's revocations must not reach the shared one)."""

    def __init__(self):
        self.dir = cdxtest.scratch("pki-crl")
        self.ca = cdxtest.CA(os.path.join(self.dir, "ca"), "cdxgw e2e CRL-reload CA")
        self.server = self.ca.issue("server", cn="localhost", server=True)
        self.good = self.ca.issue_ca("crl-a")
        self.victim = self.ca.issue_ca("crl-b")
        self.admin = self.ca.issue_ca("crl-admin")  # reads /metrics


def replace_file(src, dest):
    tmp = dest + ".new"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


class TestCrlReload(Case):

    def test_revocation_staleness_and_recovery(self):
        pki = _CrlPki()
        crl_path = os.path.join(pki.dir, "live-crl.pem")
        fresh = pki.ca.gencrl(os.path.join(pki.dir, "crl-0.pem"))
        replace_file(fresh, crl_path)
        gw = Gateway(pki, name="crl-reload", crl=crl_path,
                     settings={"crl_reload_ms": 1000},
                     institutions=[Institution("2.25.4001", "A", pki.good, "query, admin"),
                                   Institution("2.25.4002", "B", pki.victim, "query")]).start()
        self.addCleanup(gw.stop)

        def served(cert):
            return gw.curl("/healthz", cert=cert).status == 200

        self.assertTrue(served("good"))
        self.assertTrue(served("victim"))
        # A revocation published in the file takes effect without a restart.
        pki.ca.revoke(pki.victim)
        replace_file(pki.ca.gencrl(os.path.join(pki.dir, "crl-1.pem")), crl_path)
        wait_for(lambda: not served("victim"), what="the revoked certificate refused")
        self.assertTrue(served("good"))
        # A CRL past its next update: everyone is refused (fail closed).
        stale = pki.ca.gencrl(os.path.join(pki.dir, "crl-stale.pem"),
                              lastupdate="20200101000000Z", nextupdate="20200201000000Z")
        replace_file(stale, crl_path)
        wait_for(lambda: not served("good"), what="every client refused with a stale CRL")
        # A fresh CRL again: service recovers, the revocation stays.
        replace_file(pki.ca.gencrl(os.path.join(pki.dir, "crl-2.pem")), crl_path)
        wait_for(lambda: served("good"), what="service back with a fresh CRL")
        self.assertFalse(served("victim"))
        reasons = {lab["reason"]: v for lab, v in
                   cdxtest.metric_samples(gw.metrics(), "cdxgw_tls_handshake_failures_total")}
        self.assertGreaterEqual(reasons.get("revoked", 0), 1, reasons)
        self.assertGreaterEqual(reasons.get("crl_unavailable", 0), 1, reasons)


# ---------------------------------------------------------------------------
# Connection limits
# ---------------------------------------------------------------------------

def connection_served(gw):
    """True when a new TLS connection gets an answer to GET /healthz."""
    try:
        with Conn.open(gw, timeout=30.0) as c:
            r = cdxtest.raw_get(c, "/healthz", timeout=30.0)
            return r is not None and r.status == 200
    except (ssl.SSLError, OSError, cdxtest.GatewayError):
        return False


class TestConnectionLimits(Case):

    def test_max_connections(self):
        gw = self.gateway("max-conns", settings={"max_connections": 2,
                                                 "keepalive_timeout_ms": 600000})
        held = []
        for _ in range(2):
            c = Conn.open(gw, timeout=30.0)
            self.addCleanup(c.close)
            self.assertEqual(cdxtest.raw_get(c, "/healthz").status, 200)
            held.append(c)
        self.assertFalse(connection_served(gw), "a third connection was served")
        # Both held connections still work.
        for c in held:
            self.assertEqual(cdxtest.raw_get(c, "/healthz").status, 200)
        held[0].close()
        wait_for(lambda: connection_served(gw), what="a slot freed by a closed connection")
        held[1].close()
        refused = wait_for(lambda: metric(gw, "cdxgw_connections_refused_total"),
                           what="the refusal counted")
        self.assertGreaterEqual(refused, 1)

    def test_write_timeout_disconnects_a_client_that_never_reads(self):
        size = 12 << 20
        gw = self.gateway("write-timeout", settings={"write_timeout_ms": 500,
                                                     "max_body_bytes": 16 << 20,
                                                     "keepalive_timeout_ms": 600000})
        text = b"<paragraph>" + b"x" * size + b"</paragraph>"
        big = cdxtest.minimal_cda(doc_ext="BIG-%d" % os.getpid(), body=(
            b'<component><structuredBody><component><section><code code="11450-4"'
            b' codeSystem="2.16.840.1.113883.6.1"/><title>Problems</title><text>' + text
            + b'</text></section></component></structuredBody></component>'))
        r = cdxtest.post_document(gw, big, PKI.good, timeout=300)
        self.assertEqual(r.status, 201, r)
        uid = cdxtest.curl_json(r)["id"]
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", gw.port))
        ctx = cdxtest.client_context(PKI, "good")
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        self.addCleanup(s.close)
        s.sendall(b"GET /v1/documents/%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % uid.encode())
        # Never read: the gateway must give up on this client.
        wait_for(lambda: "conn.slow_reader" in gw.log(), timeout=120,
                 what="event=conn.slow_reader in the log")
        s_conn = Conn(s)
        self.assertTrue(s_conn.wait_closed(120.0), "connection not closed after write_timeout_ms")
        self.assertLess(len(s_conn.buf), size, "the whole response arrived")
        self.assertTrue(connection_served(gw))


# ---------------------------------------------------------------------------
# Read auditing and reindex
# ---------------------------------------------------------------------------

class TestReadAudit(Case):

    def test_every_read_is_audited(self):
        gw = self.gateway("read-audit")
        r = post(gw, doc("READ"))
        self.assertEqual(r.status, 201, r)
        uid = r.json()["id"]
        # The patient consents: the other institution may read too.
        patient = r.json()["patient"]
        cdxtest.permit_all(gw, "good", (patient["root"], patient["extension"]))
        seq0 = cdxtest.audit_max_seq(gw)
        reads = [("good", "", "form=original"), ("good", "?form=normalized", "form=normalized"),
                 ("good2", "/metadata", "form=metadata"), ("good2", "", "form=original")]
        for cert, suffix, _ in reads:
            with Conn.open(gw, cert=cert) as c:
                g = cdxtest.raw_get(c, "/v1/documents/%s%s" % (uid, suffix))
                self.assertEqual(g.status, 200, g)
        rows = cdxtest.audit_since(gw, seq0)
        actors = {"good": E2E, "good2": "2.25.1002"}
        self.assertEqual([(e, o, a, d, det) for _, e, o, a, d, det in rows],
                         [("document.read", 0, actors[c], uid, det) for c, _, det in reads])
        p = cdxtest.audit_verify(gw.conf)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


class TestReindex(Case):

    def test_reindex_after_mapping_change(self):
        mdir = copy_mappings(os.path.join(cdxtest.scratch("mappings-reindex"), "mappings"))
        conf = os.path.join(mdir, "default", "mapping.conf")
        with open(conf, encoding="utf-8") as f:
            text = f.read()
        self.assertIn("version = default-", text)
        gw = Gateway(PKI, name="reindex", settings={"mappings_dir": mdir},
                     institutions=admin_institutions()).start()
        self.addCleanup(gw.stop)
        uids = []
        for _ in range(3):
            r = post(gw, doc("REIDX"))
            self.assertEqual(r.status, 201, r)
            uids.append(r.json()["id"])
        facts0 = cdxtest.table_count(gw, "facts")
        self.assertEqual(gw.stop(), 0)
        new_version = "reindex-e2e-%d" % os.getpid()
        with open(conf, "w", encoding="utf-8") as f:
            f.write("\n".join("version = " + new_version if ln.startswith("version =") else ln
                              for ln in text.splitlines()) + "\n")
        p = cdxtest.run([cdxtest.BIN, "reindex", "--config", gw.conf], check=False, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        versions = cdxtest.registry_query(gw, "SELECT DISTINCT mapping_version FROM documents")
        self.assertEqual(versions, [(new_version,)], p.stdout)
        self.assertEqual(cdxtest.table_count(gw, "facts"), facts0)
        # A second run finds nothing left; --restart does them all again.
        p2 = cdxtest.run([cdxtest.BIN, "reindex", "--config", gw.conf, "--restart"],
                         check=False, timeout=300)
        self.assertEqual(p2.returncode, 0, p2.stdout + p2.stderr)
        self.assertEqual(cdxtest.audit_verify(gw.conf).returncode, 0)
        gw.start()
        for uid in uids:
            with Conn.open(gw) as c:
                m = cdxtest.raw_get(c, "/v1/documents/%s/metadata" % uid)
                self.assertEqual(m.json().get("mapping_version"), new_version, m)
                n = cdxtest.raw_get(c, "/v1/documents/%s?form=normalized" % uid)
                self.assertEqual(n.status, 200, n)


if __name__ == "__main__":
    cdxtest.main()
