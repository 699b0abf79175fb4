"""End-to-end: the defects a hostile client found, as catalogue cases.

Each class failed against the gateway before its fix (over HTTPS, with the
shared e2e federation):
- TestRplcOwnership: a replacement (RPLC) of another institution's document
  is refused with 403 REPLACEMENT_FORBIDDEN and changes nothing;
- TestIdOwnership: a ClinicalDocument/id root in another institution's
  numbering is refused with 403 DOCUMENT_ID_FOREIGN, and the owner can
  still store its document with that id;
- TestChunkedFraming: chunk data not followed by CRLF, a bare LF in a chunk
  extension, a chunked body over max_body_bytes, an overflowing chunk size
  (catalogue row 26);
- TestReadAudit: refused (403) and unknown-id (403 CONSENT_REQUIRED) reads leave an audit
  record;
- TestPiStripping: the canonical form keeps no processing instruction
  (catalogue row 11);
- TestRequestLine: a request line with two spaces is 400;
- TestMetricsAdminOnly: /metrics is refused to a non-admin client, loopback
  or not.

The connection flood (catalogue row 33) is tested in test_tls.py
(TestConnectionFlood: flood addresses other than the client's; a client
that shares its address with a flood is held to that address's share of
handshakes, max_handshakes_per_ip).  Deleting only the newest audit records
is out of reach of a hash chain that is not anchored outside the database
(the README says so); signed checkpoints will anchor it."""

import hashlib
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Conn, Gateway, Institution, problem_check, wait_for  # noqa: E402

PKI = None
GW = None
A, B = cdxtest.E2E_OID, "2.25.1002"
MAX_BODY = 1 << 20


def setUpModule():
    global PKI, GW
    PKI = cdxtest.shared_pki()
    GW = Gateway(PKI, name="pending", institutions=[
        Institution(A, "Hospital A", PKI.good, "submit, query, admin"),
        Institution(B, "Hospital B", PKI.good2, "submit, query"),
        Institution("2.25.1003", "Research only", PKI.unregistered, "research"),
    ], settings={"max_body_bytes": MAX_BODY}).start()


def tearDownModule():
    if GW is not None:
        GW.stop()


_n = [0]


def doc(owner=A, prefix="PEND", **kw):
    _n[0] += 1
    kw.setdefault("doc_root", owner + ".2")
    kw.setdefault("patient_root", owner + ".1")
    return cdxtest.minimal_cda(custodian_oid=owner, doc_ext="%s-%d-%d" % (prefix, os.getpid(),
                                                                           _n[0]), **kw)


def post(body, cert="good"):
    with Conn.open(GW, cert=cert, timeout=120.0) as c:
        return cdxtest.raw_post(c, body, timeout=120.0)


def counts():
    return {t: cdxtest.table_count(GW, t) for t in ("documents", "document_content", "facts")}


class TestRplcOwnership(unittest.TestCase):

    def test_rplc_of_another_institutions_document_403(self):
        parent = doc(A, "PARENT")
        r = post(parent)
        self.assertEqual(r.status, 201, r)
        puid = r.json()["id"]
        replacement = doc(B, "HIJACK", related=("RPLC", cdxtest.unique_id_of(parent)))
        before = counts()
        r2 = post(replacement, "good2")
        self.assertIsNotNone(r2)
        problem_check(self, r2, 403, "REPLACEMENT_FORBIDDEN")
        self.assertEqual(counts(), before)
        status = cdxtest.registry_query(GW, "SELECT status FROM documents WHERE uid = ?",
                                        (puid,))
        self.assertIn(status[0][0], (None, "current"), "the parent was superseded")


class TestIdOwnership(unittest.TestCase):

    def test_document_id_in_another_institutions_arc_403(self):
        squat = doc(B, "SQUAT", doc_root=A + ".2")
        before = counts()
        r = post(squat, "good2")
        self.assertIsNotNone(r)
        problem_check(self, r, 403, "DOCUMENT_ID_FOREIGN")
        self.assertEqual(counts(), before)
        # The rightful owner can still store its document with that id.
        self.assertEqual(post(doc(A, "SQUAT-OWNER", doc_root=A + ".2")).status, 201)


class TestChunkedFraming(unittest.TestCase):

    HEAD = ("POST /v1/documents HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/xml\r\n"
            "Transfer-Encoding: chunked\r\n\r\n")

    def send(self, raw):
        c = Conn.open(GW, timeout=120.0)
        self.addCleanup(c.close)
        try:
            c.send(raw)
        except OSError:
            pass
        return c, c.read_response(timeout=120.0)

    def test_chunk_data_without_crlf(self):
        body = doc(A, "NOCRLF")
        c, r = self.send(self.HEAD.encode() + b"%x\r\n" % len(body) + body + b"XX0\r\n\r\n")
        problem_check(self, r, 400, "HTTP_BAD_CHUNK")

    def test_bare_lf_in_chunk_extension(self):
        c, r = self.send(self.HEAD + "5;a=b\nc\r\nhello\r\n0\r\n\r\n")
        problem_check(self, r, 400, "HTTP_BAD_CHUNK")

    def test_chunked_body_over_limit_refused_early(self):
        c = Conn.open(GW, timeout=120.0)
        self.addCleanup(c.close)
        c.send(self.HEAD + "%x\r\n" % (MAX_BODY + 1))
        c.send(b"x" * 65536)  # the rest is never sent
        problem_check(self, c.read_response(timeout=120.0), 413, "BODY_TOO_LARGE")

    def test_overflowing_chunk_size_says_so(self):
        c, r = self.send(self.HEAD + "FFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n")
        d = problem_check(self, r, 400, "HTTP_BAD_CHUNK")
        self.assertNotIn("content-length", d["detail"].lower(), d)
        self.assertIn("chunk", d["detail"].lower(), d)


class TestReadAudit(unittest.TestCase):

    def test_not_found_read_audited(self):
        seq0 = cdxtest.audit_max_seq(GW)
        with Conn.open(GW) as c:
            # An id no document has: refused as a document without consent.
            problem_check(self, cdxtest.raw_get(c, "/v1/documents/" + "f" * 32), 403,
                          "CONSENT_REQUIRED")
        rows = wait_for(lambda: cdxtest.audit_since(GW, seq0), what="an audit record")
        self.assertEqual([(r[3], r[4]) for r in rows], [(A, "f" * 32)], rows)

    def test_forbidden_read_audited(self):
        r = post(doc(A, "READ403"))
        self.assertEqual(r.status, 201, r)
        uid = r.json()["id"]
        seq0 = cdxtest.audit_max_seq(GW)
        with Conn.open(GW, cert="unregistered") as c:
            problem_check(self, cdxtest.raw_get(c, "/v1/documents/" + uid), 403, "FORBIDDEN")
        rows = wait_for(lambda: cdxtest.audit_since(GW, seq0), what="an audit record")
        self.assertEqual([(r[3], r[4]) for r in rows], [("2.25.1003", uid)], rows)
        self.assertNotEqual(rows[0][2], 0, "a refused read recorded as a success")


class TestPiStripping(unittest.TestCase):

    def test_normalized_form_has_no_processing_instruction(self):
        body = doc(A, "PI").replace(b"?>\n", b'?>\n<?xml-stylesheet type="text/xsl" '
                                    b'href="file:///etc/passwd"?>\n<?cdx-e2e x?>\n', 1)
        r = post(body)
        self.assertEqual(r.status, 201, r)
        with Conn.open(GW) as c:
            n = cdxtest.raw_get(c, "/v1/documents/%s?form=normalized" % r.json()["id"])
            o = cdxtest.raw_get(c, "/v1/documents/%s" % r.json()["id"])
        self.assertEqual(n.status, 200, n)
        self.assertNotIn(b"<?xml-stylesheet", n.body)
        self.assertNotIn(b"<?cdx-e2e", n.body)
        self.assertEqual(hashlib.sha256(o.body).hexdigest(), hashlib.sha256(body).hexdigest())


class TestRequestLine(unittest.TestCase):

    def test_two_spaces_in_request_line(self):
        for line in ("GET  /healthz HTTP/1.1", "GET /healthz  HTTP/1.1"):
            with self.subTest(line=line):
                c = Conn.open(GW)
                self.addCleanup(c.close)
                c.send(line + "\r\nHost: localhost\r\n\r\n")
                problem_check(self, c.read_response(timeout=60.0), 400, "HTTP_MALFORMED")


class TestMetricsAdminOnly(unittest.TestCase):

    def test_metrics_refused_to_non_admin(self):
        r = GW.curl("/metrics", cert="good2")
        self.assertEqual(r.status, 403, r)
        self.assertEqual(cdxtest.curl_json(r).get("code"), "FORBIDDEN", r)
        self.assertEqual(GW.curl("/metrics", cert="good").status, 200)


if __name__ == "__main__":
    cdxtest.main()
