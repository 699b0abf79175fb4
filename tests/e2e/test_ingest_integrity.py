"""End-to-end: what one institution may do to another's documents.

Over HTTPS, with one client certificate per demo institution:
- a replacement (relatedDocument RPLC) of another institution's document is
  refused with 403 REPLACEMENT_FORBIDDEN, nothing changes, and a security
  alert is audited; a stranger's replacement that arrives before its parent
  does not supersede the parent when its owner sends it;
- a ClinicalDocument/id or setId root in another institution's numbering
  is refused with 403 DOCUMENT_ID_FOREIGN (the owner can still store its
  document with that id afterwards); the institution's OID, an arc under
  it, a UUID and a registered id_root are accepted;
- a read refused for its role (403) and a read of an unknown id (403 CONSENT_REQUIRED, as a document without consent) are
  audited with the institution and the id asked for;
- processing instructions are kept in the original and absent from the
  canonical form."""

import os
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Gateway, Institution, problem_check  # noqa: E402

HANBIT = cdxtest.DEMO_OIDS["hanbit"]
DASOM = cdxtest.DEMO_OIDS["dasom"]
RIVERSIDE = cdxtest.DEMO_OIDS["riverside"]
# An EMR vendor's arc under which Riverside numbers its documents.
RIVERSIDE_ID_ROOT = "1.2.840.114350.1.13.999"

PKI = None
GW = None
CERTS = {}


def setUpModule():
    global PKI, GW, CERTS
    PKI = cdxtest.shared_pki()
    CERTS = cdxtest.institution_certs(PKI, ["hanbit", "dasom", "riverside"])
    insts = [Institution(HANBIT, "hanbit", CERTS["hanbit"], "submit, query"),
             Institution(DASOM, "dasom", CERTS["dasom"], "submit, query"),
             # Submit only: its reads are refused.
             Institution(RIVERSIDE, "riverside", CERTS["riverside"], "submit",
                         extra=["id_root = urn:oid:" + RIVERSIDE_ID_ROOT])]
    GW = Gateway(PKI, name="integrity", institutions=insts,
                 settings={"worker_threads": 2}).start()


def tearDownModule():
    if GW is not None:
        GW.stop()


_counter = [0]


def fresh_ext(prefix):
    _counter[0] += 1
    return "%s-%d-%d" % (prefix, os.getpid(), _counter[0])


def as_response(res):
    hdrs = list(cdxtest.curl_headers(res).items())
    return cdxtest.Response(res.status or 0, "", hdrs, res.body.encode("utf-8"), b"")


def doc(custodian, ext, root=None, related=None, extra_header=b"", **kw):
    return cdxtest.minimal_cda(custodian, doc_ext=ext, doc_root=root or custodian + ".2",
                               related=related, extra_header=extra_header, **kw)


class Case(unittest.TestCase):
    def setUp(self):
        if not GW.alive():
            self.fail("gateway is not running; stderr:\n%s" % GW.log()[-4000:])

    def post(self, body, who):
        return cdxtest.post_document(GW, body, CERTS[who])

    def post_ok(self, body, who, expect=201):
        r = self.post(body, who)
        self.assertEqual(r.status, expect, "%r\nlog tail:\n%s" % (r, GW.log()[-1500:]))
        return cdxtest.curl_json(r)

    def status_of(self, unique_id):
        rows = cdxtest.registry_query(GW, "SELECT status FROM documents WHERE unique_id = ?",
                                      (unique_id,))
        return rows[0][0] if rows else None

    def snapshot(self):
        return cdxtest.audit_max_seq(GW), cdxtest.table_count(GW, "documents")

    def refused(self, body, who, status, code):
        """Posts, expects the problem, one security alert by `who` and no new
        document; returns the problem body."""
        seq, ndocs = self.snapshot()
        r = self.post(body, who)
        d = problem_check(self, as_response(r), status, code)
        rows = cdxtest.audit_since(GW, seq)
        self.assertEqual([(ev, oc, actor) for _, ev, oc, actor, _, _ in rows],
                         [("security.alert", 8, cdxtest.DEMO_OIDS[who])], rows)
        self.assertIn("code=" + code, rows[0][5])
        self.assertEqual(cdxtest.table_count(GW, "documents"), ndocs, "a row was added")
        return d

    def wait_audit(self, seq, n):
        """The audit rows after seq once there are n of them (written just
        after the answer for refusals decided before a handler)."""
        deadline = time.monotonic() + 10.0
        rows = cdxtest.audit_since(GW, seq)
        while len(rows) < n and time.monotonic() < deadline:
            time.sleep(0.05)
            rows = cdxtest.audit_since(GW, seq)
        return rows


class TestReplacementOwnership(Case):

    def test_stranger_cannot_replace(self):
        ext = fresh_ext("P")
        parent = self.post_ok(doc(HANBIT, ext), "hanbit")
        pid = parent["document_id"]
        # Dasom, in its own numbering, claims to replace Hanbit's document.
        rplc = doc(DASOM, fresh_ext("R"), related=("RPLC", pid))
        d = self.refused(rplc, "dasom", 403, "REPLACEMENT_FORBIDDEN")
        self.assertIn("replace", d["detail"])
        self.assertEqual(self.status_of(pid), "current")
        self.assertIsNone(self.status_of(cdxtest.unique_id_of(rplc)))
        # Hanbit itself may (control), and its parent is then superseded.
        own = doc(HANBIT, ext + "-v2", related=("RPLC", pid))
        self.post_ok(own, "hanbit")
        self.assertEqual(self.status_of(pid), "superseded")
        self.assertEqual(self.status_of(cdxtest.unique_id_of(own)), "current")

    def test_early_stranger_replacement_does_not_supersede(self):
        pid = "%s.2^%s" % (HANBIT, fresh_ext("LATE"))
        # The replacement comes first: its parent is unknown, so it is kept.
        self.post_ok(doc(DASOM, fresh_ext("R"), related=("RPLC", pid)), "dasom")
        # When Hanbit's real document arrives, it stays current.
        self.post_ok(doc(HANBIT, pid.split("^")[1]), "hanbit")
        self.assertEqual(self.status_of(pid), "current")

    def test_early_own_replacement_supersedes(self):
        pid = "%s.2^%s" % (HANBIT, fresh_ext("LATE"))
        self.post_ok(doc(HANBIT, fresh_ext("R"), related=("RPLC", pid)), "hanbit")
        self.post_ok(doc(HANBIT, pid.split("^")[1]), "hanbit")
        self.assertEqual(self.status_of(pid), "superseded")


class TestDocumentIdOwnership(Case):

    def test_squatting_refused_and_owner_keeps_its_id(self):
        ext = fresh_ext("SQ")
        squat = doc(DASOM, ext, root=HANBIT + ".2")
        d = self.refused(squat, "dasom", 403, "DOCUMENT_ID_FOREIGN")
        self.assertTrue(any(i.get("location") == "/ClinicalDocument/id" for i in d["issues"]),
                        d)
        # Hanbit's real document with that id is stored, not 409.
        self.post_ok(doc(HANBIT, ext), "hanbit")

    def test_foreign_set_id_refused(self):
        body = doc(DASOM, fresh_ext("SET"), extra_header=(
            '<setId root="%s.2" extension="S-1"/><versionNumber value="1"/>' % HANBIT).encode())
        d = self.refused(body, "dasom", 403, "DOCUMENT_ID_FOREIGN")
        self.assertTrue(any(i.get("location") == "/ClinicalDocument/setId"
                            for i in d["issues"]), d)

    def test_prefix_that_is_not_an_arc_refused(self):
        # Hanbit's OID with one more digit is another OID, not one under it.
        self.refused(doc(DASOM, fresh_ext("PFX"), root=DASOM + "7"), "dasom", 403,
                     "DOCUMENT_ID_FOREIGN")

    def test_another_institutions_id_root_refused(self):
        self.refused(doc(DASOM, fresh_ext("VR"), root=RIVERSIDE_ID_ROOT + ".2"), "dasom", 403,
                     "DOCUMENT_ID_FOREIGN")

    def test_own_numbering_accepted(self):
        cases = {
            "the OID itself": (DASOM, "dasom"),
            "an arc under it": (DASOM + ".2.7.1", "dasom"),
            "a UUID": (str(uuid.uuid4()), "dasom"),
            "an upper-case UUID": (str(uuid.uuid4()).upper(), "dasom"),
            "the registered id_root": (RIVERSIDE_ID_ROOT, "riverside"),
            "an arc under the id_root": (RIVERSIDE_ID_ROOT + ".4.1", "riverside"),
        }
        for name, (root, who) in cases.items():
            with self.subTest(case=name):
                oid = cdxtest.DEMO_OIDS[who]
                self.post_ok(doc(oid, fresh_ext("OK"), root=root, extra_header=(
                    '<setId root="%s" extension="S"/>' % root).encode()), who)


class TestReadAudit(Case):

    def test_unknown_id_is_audited(self):
        for suffix, form in (("", "original"), ("/metadata", "metadata"),
                             ("?form=normalized", "normalized")):
            with self.subTest(suffix=suffix):
                docid = uuid.uuid4().hex
                seq = cdxtest.audit_max_seq(GW)
                st, hdrs, body = cdxtest.curl_get_bytes(GW, "/v1/documents/" + docid + suffix,
                                                        CERTS["hanbit"])
                # Refused as a document without consent: an id tells nothing.
                problem_check(self, cdxtest.Response(st or 0, "", list(hdrs.items()), body, b""),
                              403, "CONSENT_REQUIRED")
                rows = cdxtest.audit_since(GW, seq)
                self.assertEqual(len(rows), 1, rows)
                _, ev, oc, actor, did, detail = rows[0]
                self.assertEqual((ev, oc, actor, did), ("document.read", 8, HANBIT, docid), rows)
                self.assertIn("code=CONSENT_REQUIRED", detail)
                pkey = cdxtest.registry_query(GW, "SELECT patient_key FROM audit WHERE seq = ?",
                                              (rows[0][0],))[0][0]
                self.assertIsNone(pkey)

    def test_malformed_id_is_audited_without_it(self):
        seq = cdxtest.audit_max_seq(GW)
        st, _, _ = cdxtest.curl_get_bytes(GW, "/v1/documents/not-an-id", CERTS["hanbit"])
        self.assertEqual(st, 404)
        rows = cdxtest.audit_since(GW, seq)
        self.assertEqual([(ev, oc, actor, did) for _, ev, oc, actor, did, _ in rows],
                         [("document.read", 4, HANBIT, None)], rows)
        self.assertIn("id=malformed", rows[0][5])
        self.assertNotIn("not-an-id", rows[0][5])

    def test_forbidden_read_is_audited(self):
        receipt = self.post_ok(doc(HANBIT, fresh_ext("RD")), "hanbit")
        for suffix in ("", "/metadata", "?form=normalized"):
            with self.subTest(suffix=suffix):
                seq = cdxtest.audit_max_seq(GW)
                st, hdrs, body = cdxtest.curl_get_bytes(
                    GW, "/v1/documents/" + receipt["id"] + suffix, CERTS["riverside"])
                problem_check(self, cdxtest.Response(st or 0, "", list(hdrs.items()), body, b""),
                              403, "FORBIDDEN")
                self.assertNotIn(b"<ClinicalDocument", body)
                rows = self.wait_audit(seq, 1)
                self.assertEqual([(ev, oc, actor, did) for _, ev, oc, actor, did, _ in rows],
                                 [("document.read", 8, RIVERSIDE, receipt["id"])], rows)
                self.assertIn("status=403", rows[0][5])

    def test_zz_audit_chain_verifies(self):
        p = cdxtest.audit_verify(GW.conf)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


class TestCanonicalWithoutPIs(Case):

    def test_processing_instructions_stay_in_the_original_only(self):
        prolog = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                  b'<?xml-stylesheet type="text/xsl" href="file:///etc/passwd"?>\n'
                  b'<?cdx-viewer mode="full"?>\n')
        body = (b'<component><structuredBody><component><section>'
                b'<code code="11450-4" codeSystem="2.16.840.1.113883.6.1"/><title>Problems</title>'
                b'<text>None <?cdx-inline keep-out?>known.</text></section></component>'
                b'</structuredBody></component>')
        src = doc(HANBIT, fresh_ext("PI"), prolog=prolog, body=body)
        receipt = self.post_ok(src, "hanbit")
        path = "/v1/documents/" + receipt["id"]
        st, _, original = cdxtest.curl_get_bytes(GW, path, CERTS["hanbit"])
        self.assertEqual((st, original), (200, src))
        st, _, canon = cdxtest.curl_get_bytes(GW, path + "?form=normalized", CERTS["hanbit"])
        self.assertEqual(st, 200)
        for marker in (b"xml-stylesheet", b"/etc/passwd", b"cdx-viewer", b"cdx-inline"):
            self.assertNotIn(marker, canon)
        self.assertEqual(canon.count(b"<?"), 1 if canon.startswith(b"<?xml ") else 0, canon[:200])
        self.assertIn(b"None known.", canon)


if __name__ == "__main__":
    cdxtest.main()
