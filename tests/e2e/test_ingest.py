"""End-to-end: POST /v1/documents and the document read endpoints over HTTPS.

Every sample in samples/<institution>/*.xml is pushed with curl as its own
institution (one client certificate per demo institution), read back byte
for byte, as metadata and in its canonical form, and resubmitted.  The
protocol cases (409, RPLC, 415, 403, 404) use small synthetic documents of a
test institution (default mapping), plus sample-derived copies when the
samples exist.  Every ingest must add exactly one audit row."""

import hashlib
import json
import os
import re
import sys
import time
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Gateway, Institution, problem_check  # noqa: E402

V3 = "{urn:hl7-org:v3}"
US_REALM = "2.16.840.1.113883.10.20.22.1.1"
READER_OID = "2.25.1009"

PKI = None
GW = None
CERTS = {}
SAMPLES = []


def setUpModule():
    global PKI, GW, CERTS, SAMPLES
    PKI = cdxtest.shared_pki()
    CERTS = cdxtest.institution_certs(PKI, sorted(cdxtest.DEMO_OIDS))
    insts = [Institution(cdxtest.E2E_OID, "e2e clinic", PKI.good, "submit, query"),
             Institution(READER_OID, "e2e reader", PKI.good2, "query")]
    for name, oid in sorted(cdxtest.DEMO_OIDS.items()):
        insts.append(Institution(oid, name, CERTS[name], "submit, query"))
    GW = Gateway(PKI, name="ingest", institutions=insts,
                 settings={"worker_threads": 2, "max_body_bytes": 8 << 20}).start()
    SAMPLES = cdxtest.sample_files()


def tearDownModule():
    if GW is not None:
        GW.stop()


def as_response(res):
    """A cdxtest.Response from a CurlResult (for problem_check)."""
    hdrs = list(cdxtest.curl_headers(res).items())
    return cdxtest.Response(res.status or 0, "", hdrs, res.body.encode("utf-8"), b"")


_counter = [0]


def fresh_ext(prefix="E2E"):
    _counter[0] += 1
    return "%s-%d-%d" % (prefix, os.getpid(), _counter[0])


class IngestCase(unittest.TestCase):
    def setUp(self):
        if not GW.alive():
            self.fail("gateway is not running (exit %s); stderr:\n%s"
                      % (GW.proc.returncode, GW.log()[-4000:]))

    # -- registry snapshots ------------------------------------------------

    def snapshot(self):
        return (cdxtest.audit_max_seq(GW), cdxtest.table_count(GW, "documents"))

    def assert_one_audit(self, before, event=None, outcome=None, what=""):
        """Exactly one audit row after the snapshot `before`; returns it."""
        rows = cdxtest.audit_since(GW, before[0])
        # A consent document also records the patient's consent, with it.
        consent = [r for r in rows if r[1] == "consent.record"]
        rows = [r for r in rows if r[1] != "consent.record"]
        self.assertEqual([r[4] for r in consent], [r[4] for r in rows][:len(consent)], consent)
        self.assertEqual(len(rows), 1, "%s: expected exactly one new audit row, got %r"
                         % (what, rows))
        seq, ev, oc, actor, docid, detail = rows[0]
        if event is not None:
            self.assertEqual(ev, event, "%s: audit row %r" % (what, rows[0]))
        if outcome is not None:
            if isinstance(outcome, (set, tuple, list)):
                self.assertIn(oc, outcome, "%s: audit row %r" % (what, rows[0]))
            else:
                self.assertEqual(oc, outcome, "%s: audit row %r" % (what, rows[0]))
        return rows[0]

    def assert_docs(self, before, delta, what=""):
        now = cdxtest.table_count(GW, "documents")
        self.assertEqual(now, before[1] + delta, "%s: documents went from %d to %d, expected +%d"
                         % (what, before[1], now, delta))

    # -- requests --------------------------------------------------------------

    def post(self, body, cert="good", ctype="application/xml"):
        return cdxtest.post_document(GW, body, cert, content_type=ctype)

    def post_ok(self, body, cert="good", oid=cdxtest.E2E_OID, expect=201, what=""):
        """POSTs, checks the 201/200 receipt and the audit row; returns it."""
        before = self.snapshot()
        r = self.post(body, cert)
        self.assertEqual(r.status, expect, "%s: POST -> %r\nlog tail:\n%s"
                         % (what, r, GW.log()[-1500:]))
        doc = cdxtest.curl_json(r)
        self.assertIsInstance(doc, dict, r)
        self.check_receipt(doc, body, expect, what)
        hdrs = cdxtest.curl_headers(r)
        self.assertTrue(hdrs.get("content-type", "").startswith("application/json"), hdrs)
        if expect == 201:
            self.assertEqual(hdrs.get("location"), "/v1/documents/" + doc["id"], hdrs)
        row = self.assert_one_audit(before, "document.ingest", 0, what)
        self.assertEqual(row[3], oid, "audit actor_oid: %r" % (row,))
        self.assert_docs(before, 1 if expect == 201 else 0, what)
        return doc

    def check_receipt(self, doc, body, expect, what):
        for k in ("id", "status", "document_id", "sha256", "size", "patient", "version",
                  "set_id", "mapping_version", "warnings"):
            self.assertIn(k, doc, "%s: receipt lacks %r: %r" % (what, k, doc))
        self.assertRegex(doc["id"], r"^[0-9a-f]{32}$", doc)
        self.assertEqual(doc["status"], "stored" if expect == 201 else "already_stored", doc)
        self.assertEqual(doc["sha256"], hashlib.sha256(body).hexdigest(), doc)
        self.assertEqual(doc["size"], len(body), doc)
        self.assertEqual(doc["id"], cdxtest.doc_uid(doc["document_id"]),
                         "%s: id is not derived from document_id: %r" % (what, doc))
        try:
            uid = cdxtest.unique_id_of(body)
        except ValueError:
            uid = None
        if uid is not None:
            self.assertEqual(doc["document_id"], uid, doc)
        self.assertIsInstance(doc["patient"], dict, doc)
        self.assertTrue(doc["patient"].get("root"), doc)
        self.assertIn("extension", doc["patient"], doc)
        self.assertIsInstance(doc["version"], int, doc)
        self.assertIsInstance(doc["warnings"], list, doc)
        for w in doc["warnings"]:
            for k in ("severity", "rule", "location", "message"):
                self.assertIn(k, w, "warning without %r: %r" % (k, w))

    def get(self, docid, suffix="", cert="good"):
        return cdxtest.curl_get_bytes(GW, "/v1/documents/" + docid + suffix, cert)

    def get_original(self, docid, body, cert="good", what=""):
        st, hdrs, got = self.get(docid, cert=cert)
        self.assertEqual(st, 200, "%s: GET original -> %s %r" % (what, st, got[:300]))
        self.assertEqual(got, body, "%s: stored bytes differ (%d vs %d bytes)"
                         % (what, len(got), len(body)))
        self.assertEqual(hdrs.get("etag"), '"%s"' % hashlib.sha256(body).hexdigest(), hdrs)
        return hdrs

    def metadata(self, docid, cert="good"):
        st, hdrs, got = self.get(docid, "/metadata", cert=cert)
        self.assertEqual(st, 200, "GET metadata -> %s %r" % (st, got[:300]))
        self.assertTrue(hdrs.get("content-type", "").startswith("application/json"), hdrs)
        return json.loads(got.decode("utf-8"))


class TestSamples(IngestCase):
    """Every sample, as its institution: 201, GET back, metadata, canonical
    form, resubmit 200."""

    def test_samples_roundtrip(self):
        if not SAMPLES:
            self.skipTest("no samples under samples/<institution>/*.xml yet")
        unknown = sorted({inst for inst, _ in SAMPLES if inst not in cdxtest.DEMO_OIDS})
        self.assertEqual(unknown, [], "sample folders of unknown institutions")
        self.replaced = set()  # ids that samples pushed so far replace (RPLC)
        stored = {}
        for inst, path in SAMPLES:
            with self.subTest(sample=os.path.relpath(path, cdxtest.SOURCE_DIR)):
                stored[path] = (inst, self.roundtrip(inst, path))
        # In the end every sample that another one replaces is superseded,
        # the others current (whatever the order they arrived in).
        for path, (inst, receipt) in stored.items():
            if receipt is None:
                continue
            with self.subTest(final_status=os.path.relpath(path, cdxtest.SOURCE_DIR)):
                want = "superseded" if receipt["document_id"] in self.replaced else "current"
                self.assertEqual(self.metadata(receipt["id"], CERTS[inst]).get("status"), want)

    @staticmethod
    def rplc_targets(body):
        """ClinicalDocument/id "root^ext" values a document replaces."""
        out = set()
        for m in re.finditer(rb"<(?:[\w.-]+:)?relatedDocument\b([^>]*)>(.*?)</(?:[\w.-]+:)?"
                             rb"relatedDocument\s*>", body, re.S):
            if not re.search(rb"typeCode\s*=\s*[\"']RPLC[\"']", m.group(1)):
                continue
            idm = re.search(rb"<(?:[\w.-]+:)?id\b[^>]*>", m.group(2))
            if idm:
                tag = idm.group(0)
                root = re.search(rb"\broot\s*=\s*[\"']([^\"']*)", tag)
                ext = re.search(rb"\bextension\s*=\s*[\"']([^\"']*)", tag)
                if root:
                    uid = root.group(1).decode()
                    if ext and ext.group(1):
                        uid += "^" + ext.group(1).decode()
                    out.add(uid)
        return out

    def roundtrip(self, inst, path):
        oid = cdxtest.DEMO_OIDS[inst]
        with open(path, "rb") as f:
            body = f.read()
        what = os.path.relpath(path, cdxtest.SOURCE_DIR)
        receipt = self.post_ok(body, CERTS[inst], oid, 201, what)
        docid = receipt["id"]
        self.get_original(docid, body, CERTS[inst], what)

        self.replaced |= self.rplc_targets(body)
        meta = self.metadata(docid, CERTS[inst])
        self.assertEqual(meta.get("id"), docid, meta)
        # A replacement that arrived earlier supersedes it at once.
        self.assertEqual(meta.get("status"), "superseded" if receipt["document_id"] in
                         self.replaced else "current", meta)
        self.assertEqual(meta.get("sha256"), receipt["sha256"], meta)
        self.assertRegex(meta.get("normalized_sha256") or "", r"^[0-9a-f]{64}$", meta)
        self.assertEqual(meta.get("mapping_version"), receipt["mapping_version"], meta)
        self.assertTrue(meta.get("mapping_version"), meta)
        self.assertEqual(meta.get("submitter"), oid, meta)
        for k in ("custodian", "patientIds", "creationTime"):
            self.assertIn(k, meta, "metadata lacks header field %r: %r" % (k, meta))

        st, hdrs, norm = self.get(docid, "?form=normalized", CERTS[inst])
        self.assertEqual(st, 200, norm[:300])
        self.assertEqual(hashlib.sha256(norm).hexdigest(), meta["normalized_sha256"],
                         "normalized bytes do not hash to normalized_sha256")
        self.assertEqual(hdrs.get("etag"), '"%s"' % meta["normalized_sha256"], hdrs)
        self.check_canonical(norm, what)

        # Same bytes again: 200 already_stored, same id, one audit row.
        again = self.post_ok(body, CERTS[inst], oid, 200, what + " (resubmitted)")
        self.assertEqual(again["id"], docid, again)
        return receipt

    def check_canonical(self, norm, what):
        try:
            text = norm.decode("utf-8")
        except UnicodeDecodeError as e:
            self.fail("%s: canonical form is not UTF-8: %s" % (what, e))
        m = re.match(r'<\?xml[^>]*encoding=["\']([^"\']+)', text)
        if m:
            self.assertEqual(m.group(1).upper(), "UTF-8", "%s: declared %s" % (what, m.group(1)))
        try:
            root = ET.fromstring(norm)
        except ET.ParseError as e:
            self.fail("%s: canonical form is not well-formed XML: %s" % (what, e))
        self.assertEqual(root.tag, V3 + "ClinicalDocument", what)
        tids = [(t.get("root"), t.get("extension")) for t in root.findall(V3 + "templateId")]
        self.assertIn((US_REALM, "2015-08-01"), tids,
                      "%s: canonical form lacks the US Realm Header templateId (CANONICAL.md)"
                      % what)
        self.assertIsNotNone(root.find(V3 + "languageCode"),
                             "%s: canonical form has no languageCode" % what)


class TestGenerated(IngestCase):
    """cdxgw-gen output (when the generator is built): every generated
    document is stored as its custodian."""

    def test_generated_documents_stored(self):
        gen = cdxtest.gen_binary()
        if gen is None:
            self.skipTest("cdxgw-gen not built (CDXGW_GEN unset)")
        out = cdxtest.scratch("gen")
        p = cdxtest.run([gen, "--seed", "8", "--patients", "3", "--docs-per-patient", "2",
                         "--out", out, "--institution", "mixed"], check=False, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(out) for f in fs
                       if f.endswith(".xml"))
        self.assertEqual(len(files), 6, files)
        by_oid = {oid: name for name, oid in cdxtest.DEMO_OIDS.items()}
        for path in files:
            with open(path, "rb") as f:
                body = f.read()
            m = re.search(rb"<(?:[\w.-]+:)?representedCustodianOrganization\b.*?<(?:[\w.-]+:)?id"
                          rb"\b[^>]*\broot\s*=\s*[\"']([^\"']+)", body, re.S)
            with self.subTest(file=os.path.basename(path)):
                self.assertIsNotNone(m, "no custodian id")
                oid = m.group(1).decode()
                self.assertIn(oid, by_oid, "custodian %s is not a demo institution" % oid)
                name = by_oid[oid]
                receipt = self.post_ok(body, CERTS[name], oid, 201, path)
                self.get_original(receipt["id"], body, CERTS[name], path)


class TestProtocol(IngestCase):

    def test_receipt_get_metadata_normalized_synthetic(self):
        body = cdxtest.minimal_cda(doc_ext=fresh_ext())
        receipt = self.post_ok(body, what="synthetic")
        self.get_original(receipt["id"], body)
        meta = self.metadata(receipt["id"])
        self.assertEqual(meta.get("status"), "current", meta)
        self.assertEqual(meta.get("submitter"), cdxtest.E2E_OID, meta)
        st, hdrs, norm = self.get(receipt["id"], "?form=normalized")
        self.assertEqual(st, 200, norm[:300])
        ET.fromstring(norm)
        norm.decode("utf-8")
        st, hdrs, orig = self.get(receipt["id"], "?form=original")
        self.assertEqual((st, orig), (200, body))

    def test_resubmit_already_stored(self):
        body = cdxtest.minimal_cda(doc_ext=fresh_ext())
        first = self.post_ok(body, what="first")
        for i in range(2):
            again = self.post_ok(body, expect=200, what="again #%d" % i)
            self.assertEqual(again["id"], first["id"])
            self.assertEqual(again["sha256"], first["sha256"])
            self.assertEqual(again["document_id"], first["document_id"])
        self.assertEqual(cdxtest.registry_query(
            GW, "SELECT count(*) FROM documents WHERE unique_id = ?",
            (first["document_id"],))[0][0], 1)

    def conflict(self, body, other, cert="good", oid=cdxtest.E2E_OID, what=""):
        first = self.post_ok(body, cert, oid, what=what)
        before = self.snapshot()
        r = self.post(other, cert)
        problem_check(self, as_response(r), 409, "DOC_ID_CONFLICT")
        row = self.assert_one_audit(before, what=what + " 409")
        self.assertIn(row[2], (4, 8), "%s: the audit row of a rejected (409) ingest must have "
                      "outcome 4 (rejected), got %r" % (what, row))
        self.assert_docs(before, 0, what)
        self.get_original(first["id"], body, cert, what + " original after 409")
        meta = self.metadata(first["id"], cert)
        self.assertEqual(meta["sha256"], first["sha256"])

    def test_conflict_409_same_id_other_bytes(self):
        ext = fresh_ext()
        body = cdxtest.minimal_cda(doc_ext=ext)
        other = body.replace(b"e2e test document", b"e2e test document (changed)")
        self.assertNotEqual(body, other)
        self.conflict(body, other, what="synthetic")

    def test_conflict_409_sample(self):
        if not SAMPLES:
            self.skipTest("no samples yet")
        inst, path = SAMPLES[0]
        with open(path, "rb") as f:
            src = f.read()
        body = cdxtest.with_document_id(src, fresh_ext("CONFLICT"))
        # Other bytes, same id: one more space before the root's end tag.
        other = re.sub(rb"(</(?:[\w.-]+:)?ClinicalDocument\s*>)", rb" \1", body, count=1)
        self.assertNotEqual(body, other)
        self.conflict(body, other, CERTS[inst], cdxtest.DEMO_OIDS[inst], "sample " + path)

    def rplc(self, v1, make_v2, cert="good", oid=cdxtest.E2E_OID, what=""):
        r1 = self.post_ok(v1, cert, oid, what=what + " v1")
        self.assertEqual(self.metadata(r1["id"], cert)["status"], "current")
        v2 = make_v2(r1["document_id"])
        r2 = self.post_ok(v2, cert, oid, what=what + " v2")
        self.assertNotEqual(r1["id"], r2["id"])
        m1 = self.metadata(r1["id"], cert)
        self.assertEqual(m1.get("status"), "superseded", "%s: the replaced document: %r"
                         % (what, m1))
        self.assertEqual(self.metadata(r2["id"], cert).get("status"), "current")
        # Still retrievable, byte for byte.
        self.get_original(r1["id"], v1, cert, what + " superseded v1")
        self.get_original(r2["id"], v2, cert, what + " v2")

    def test_rplc_supersedes_synthetic(self):
        ext = fresh_ext("V1")
        v1 = cdxtest.minimal_cda(doc_ext=ext)
        self.rplc(v1, lambda parent: cdxtest.minimal_cda(
            doc_ext=ext + "-v2", related=("RPLC", parent),
            extra_header=b'<setId root="2.25.1001.3" extension="S1"/><versionNumber value="2"/>'),
            what="synthetic")

    def test_rplc_supersedes_sample(self):
        if not SAMPLES:
            self.skipTest("no samples yet")
        inst, path = SAMPLES[-1]
        with open(path, "rb") as f:
            src = f.read()
        if re.search(rb"<(?:[\w.-]+:)?relatedDocument\b", src):
            self.skipTest("%s already has a relatedDocument" % path)
        ext = fresh_ext("RPLC")
        v1 = cdxtest.with_document_id(src, ext)

        def v2(parent):
            root, _, pext = parent.partition("^")
            frag = ('<relatedDocument typeCode="RPLC"><parentDocument><id root="%s"%s/>'
                    '</parentDocument></relatedDocument>'
                    % (root, ' extension="%s"' % pext if pext else "")).encode()
            return cdxtest.insert_before_body(cdxtest.with_document_id(src, ext + "-v2"), frag)
        self.rplc(v1, v2, CERTS[inst], cdxtest.DEMO_OIDS[inst], "sample " + path)

    def test_media_types(self):
        before = self.snapshot()
        body = cdxtest.minimal_cda(doc_ext=fresh_ext())
        for ctype in ("text/plain", "application/json", "application/octet-stream",
                      "multipart/form-data; boundary=x", None):
            with self.subTest(content_type=ctype):
                r = self.post(body, ctype=ctype)
                problem_check(self, as_response(r), 415, "UNSUPPORTED_MEDIA_TYPE")
        self.assert_docs(before, 0, "415")
        # The refusals are audited just after their answers: wait for the
        # five rows, so that they do not land in the snapshots below.
        deadline = time.monotonic() + 10.0
        rows = cdxtest.audit_since(GW, before[0])
        while len(rows) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
            rows = cdxtest.audit_since(GW, before[0])
        self.assertEqual([(r[1], r[2]) for r in rows], [("document.reject", 4)] * 5, rows)
        for ctype in ("text/xml", "application/hl7-v3+xml", "application/xml; charset=utf-8",
                      "Application/XML"):
            with self.subTest(content_type=ctype):
                b = cdxtest.minimal_cda(doc_ext=fresh_ext())
                before = self.snapshot()
                r = self.post(b, ctype=ctype)
                self.assertEqual(r.status, 201, r)
                self.assert_one_audit(before, "document.ingest", 0, ctype)

    def identity_mismatch(self, body, cert):
        before = self.snapshot()
        r = self.post(body, cert)
        doc = problem_check(self, as_response(r), 403, "IDENTITY_MISMATCH")
        self.assertIsInstance(doc.get("issues"), list, doc)
        self.assert_one_audit(before, "security.alert", 8, "IDENTITY_MISMATCH")
        self.assert_docs(before, 0, "IDENTITY_MISMATCH")

    def test_identity_mismatch_hanbit_doc_dasom_cert(self):
        hanbit = [p for i, p in SAMPLES if i == "hanbit"]
        if hanbit:
            with open(hanbit[0], "rb") as f:
                body = cdxtest.with_document_id(f.read(), fresh_ext("IDM"))
        else:
            body = cdxtest.minimal_cda(cdxtest.DEMO_OIDS["hanbit"], doc_ext=fresh_ext("IDM"),
                                       doc_root="2.25.1001.2")
        self.identity_mismatch(body, CERTS["dasom"])
        # The e2e institution may not submit a hanbit document either.
        self.identity_mismatch(body, "good")
        # ... and hanbit may (control).
        r = self.post(body, CERTS["hanbit"])
        self.assertEqual(r.status, 201, "control: hanbit submits its own document: %r" % (r,))

    def test_expect_continue_on_documents(self):
        """100 Continue only once the limits and the role pass; the
        document is then stored as usual.  Refused requests get their final
        answer at once, and the body is never asked for."""
        seq0 = cdxtest.audit_max_seq(GW)
        body = cdxtest.minimal_cda(doc_ext=fresh_ext())
        head = ("POST /v1/documents HTTP/1.1\r\nHost: localhost\r\n"
                "Content-Type: application/xml\r\nContent-Length: %d\r\n"
                "Expect: 100-continue\r\n\r\n")
        with cdxtest.Conn.open(GW, cert="good") as c:
            c.send(head % len(body))
            interim = c.read_response(timeout=120.0)
            self.assertIsNotNone(interim)
            self.assertEqual(interim.status, 100, interim)
            c.send(body)
            r = c.read_response(timeout=120.0)
            self.assertEqual(r.status, 201, r)
            self.assertEqual(r.json()["status"], "stored")
        # Too large: 413 at once, no 100.
        with cdxtest.Conn.open(GW, cert="good") as c:
            c.send(head % ((8 << 20) + 1))
            r = c.read_response(timeout=120.0)
            problem_check(self, r, 413, "BODY_TOO_LARGE")
        # No submit role: 403 at once, no 100.
        with cdxtest.Conn.open(GW, cert="good2") as c:
            c.send(head % len(body))
            r = c.read_response(timeout=120.0)
            problem_check(self, r, 403, "FORBIDDEN")
        # One audit record each: the stored document and the two refusals
        # (written just after their answers).
        rows = cdxtest.wait_for(lambda: (lambda r: r if len(r) >= 3 else None)(
            cdxtest.audit_since(GW, seq0)), what="three audit records")
        self.assertEqual(sorted((row[1], row[2]) for row in rows),
                         [("document.ingest", 0), ("document.reject", 4),
                          ("document.reject", 4)], rows)

    def test_forbidden_without_submit_role(self):
        before = self.snapshot()
        seq0 = cdxtest.audit_max_seq(GW)
        body = cdxtest.minimal_cda(READER_OID, doc_ext=fresh_ext())
        r = self.post(body, "good2")
        problem_check(self, as_response(r), 403, "FORBIDDEN")
        self.assert_docs(before, 0, "FORBIDDEN")
        # The refusal is audited (written just after the answer).
        rows = cdxtest.wait_for(lambda: cdxtest.audit_since(GW, seq0), what="an audit record")
        self.assertEqual([(row[1], row[2]) for row in rows], [("document.reject", 4)], rows)

    def test_query_only_institution_can_read(self):
        body = cdxtest.minimal_cda(doc_ext=fresh_ext())
        receipt = self.post_ok(body)
        # The patient consents (recorded by its home institution, the
        # submitter): the query-only institution may read.
        patient = receipt["patient"]
        cdxtest.permit_all(GW, "good", (patient["root"], patient["extension"]))
        self.get_original(receipt["id"], body, cert="good2", what="reader")
        meta = self.metadata(receipt["id"], cert="good2")
        self.assertEqual(meta["sha256"], receipt["sha256"])
        st, _, norm = self.get(receipt["id"], "?form=normalized", cert="good2")
        self.assertEqual(st, 200)

    def test_404_unknown_id(self):
        # A malformed id is no document id (404); a well-formed id no
        # document has is refused as a document without consent (403), so
        # that an id tells nothing of what is stored.
        for suffix in ("", "/metadata", "?form=normalized"):
            for docid, status, code in (("0" * 32, 403, "CONSENT_REQUIRED"),
                                        ("0123456789abcdef0123456789abcdef", 403,
                                         "CONSENT_REQUIRED"),
                                        ("not-an-id", 404, "DOCUMENT_NOT_FOUND"),
                                        ("ABCDEF0123456789ABCDEF0123456789", 404,
                                         "DOCUMENT_NOT_FOUND")):
                with self.subTest(docid=docid, suffix=suffix):
                    st, hdrs, body = self.get(docid, suffix)
                    resp = cdxtest.Response(st or 0, "", list(hdrs.items()), body, b"")
                    problem_check(self, resp, status, code)

    def test_audit_one_row_per_ingest_batch(self):
        """Ten ingests (mixed outcomes) add exactly ten audit rows."""
        seq0 = cdxtest.audit_max_seq(GW)
        expected = []
        for i in range(4):
            r = self.post(cdxtest.minimal_cda(doc_ext=fresh_ext()))
            self.assertEqual(r.status, 201, r)
            expected.append(("document.ingest", 0))
        same = cdxtest.minimal_cda(doc_ext=fresh_ext())
        for st in (201, 200):
            self.assertEqual(self.post(same).status, st)
            expected.append(("document.ingest", 0))
        r = self.post(b"<ClinicalDocument xmlns='urn:hl7-org:v3'><unclosed></ClinicalDocument>")
        self.assertEqual(r.status, 400, r)
        expected.append(("document.reject", 4))
        r = self.post(cdxtest.minimal_cda(doc_ext=fresh_ext(), id_tag=b"<id/>"))
        self.assertEqual(r.status, 422, r)
        expected.append(("document.reject", 4))
        r = self.post(cdxtest.minimal_cda(cdxtest.DEMO_OIDS["riverside"], doc_ext=fresh_ext()))
        self.assertEqual(r.status, 403, r)
        expected.append(("security.alert", 8))
        r = self.post(b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>")
        self.assertEqual(r.status, 400, r)
        expected.append(("security.alert", 8))
        rows = cdxtest.audit_since(GW, seq0)
        self.assertEqual([(ev, oc) for _, ev, oc, _, _, _ in rows], expected, rows)
        self.assertTrue(all(actor == cdxtest.E2E_OID for _, _, _, actor, _, _ in rows), rows)
        self.assertEqual([s for s, *_ in rows], list(range(seq0 + 1, seq0 + 11)), rows)



class TestZzAuditChain(IngestCase):
    """Runs last (classes and tests run in name order): `cdxgw audit verify`
    opens the registry from a second process; test_durability checks that
    this does not disturb the running gateway."""

    def test_audit_chain_verifies(self):
        self.post_ok(cdxtest.minimal_cda(doc_ext=fresh_ext()))
        p = cdxtest.audit_verify(GW.conf)
        self.assertEqual(p.returncode, 0, "audit verify: %s %s" % (p.stdout, p.stderr))
        self.assertIn("intact", p.stdout)


class TestZzGatewayHealthy(unittest.TestCase):
    """Runs last: the gateway survived everything above without a sanitizer
    report or an error-level crash line."""

    def test_gateway_alive_and_clean(self):
        self.assertTrue(GW.alive(), "gateway exited with %s; stderr:\n%s"
                        % (GW.proc.returncode, GW.log()[-4000:]))
        self.assertIsNone(cdxtest.sanitizer_report(GW.log()), GW.log()[-5000:])

    def test_log_has_no_patient_data(self):
        """Row 60: after every sample went through, the gateway's log holds
        none of their patient identifiers, names or birth dates, and no
        private key or certificate."""
        secrets = set()
        for _, path in SAMPLES:
            with open(path, "rb") as f:
                text = f.read()
            enc = re.search(rb'encoding="([^"]+)"', text[:200])
            doc = text.decode(enc.group(1).decode() if enc else "utf-8", "replace")
            role = re.search(r"<patientRole>(.*?)</patientRole>", doc, re.S)
            self.assertIsNotNone(role, path)
            block = role.group(1)
            secrets.update(re.findall(r'extension="([^"]{4,})"', block))
            secrets.update(v.strip() for v in re.findall(r"<(?:family|given)[^>]*>([^<]+)<", block)
                           if len(v.strip()) >= 2)
            secrets.update(re.findall(r'<birthTime value="(\d{8})', block))
        self.assertGreater(len(secrets), 10, secrets)
        log = GW.log()
        self.assertIn("event=document.stored", log)
        for secret in sorted(secrets):
            self.assertNotIn(secret, log, "patient data %r appears in the gateway log" % secret)
        for marker in ("PRIVATE KEY", "BEGIN CERTIFICATE"):
            self.assertNotIn(marker, log)


if __name__ == "__main__":
    cdxtest.main()
