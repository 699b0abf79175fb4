"""End-to-end: documents exported from mail-based exchange (Direct
messaging), that is MIME messages (samples/mime/, made from the project's own
samples).

- POST /v1/documents with a MIME message sent as application/xml: 415
  MIME_WRAPPED naming the header found, nothing stored, one audit record.
- Sent as message/rfc822, or its multipart body as multipart/related with the
  boundary: decoded, stored as the document itself (same SHA-256 as the
  sample it was made from), and the answer says "decoded".
- Bad MIME (bad base64, bad quoted-printable, unterminated multipart, no
  boundary, no CDA part, two CDA parts, an unknown transfer encoding): the
  precise status and code, nothing stored, one audit record, and the next
  request succeeds.
- `cdxgw validate --json` and `cdxgw import` decode the files and say so."""

import base64
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Gateway, Institution, problem_check  # noqa: E402

MIME = os.path.join(cdxtest.SOURCE_DIR, "samples", "mime")
SAMPLES = os.path.join(cdxtest.SOURCE_DIR, "samples")


def read(*parts):
    with open(os.path.join(*parts), "rb") as f:
        return f.read()


def split_entity(msg):
    """(header block text, body bytes) of a MIME message."""
    sep = b"\r\n\r\n" if b"\r\n\r\n" in msg else b"\n\n"
    head, body = msg.split(sep, 1)
    return head.decode("ascii"), body


class Resp:
    """A curl result with the problem helpers' interface."""

    def __init__(self, r):
        self.r, self.status = r, r.status

    def header(self, name):
        return cdxtest.curl_headers(self.r).get(name.lower())

    def json(self):
        return json.loads(self.r.body)

    def __repr__(self):
        return repr(self.r)


class TestMime(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        pki = cdxtest.shared_pki()
        cls.certs = cdxtest.institution_certs(pki, ["hanbit", "dasom", "riverside"])
        cls.gw = Gateway(pki, name="mime", institutions=[
            Institution(cdxtest.E2E_OID, "e2e clinic", pki.good)] + [
            Institution(cdxtest.DEMO_OIDS[n], n, c) for n, c in cls.certs.items()]).start(30)

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()

    def post(self, body, cert, content_type):
        return cdxtest.post_document(self.gw, body, self.certs.get(cert, cert),
                                     content_type=content_type)

    def counts(self):
        return (cdxtest.table_count(self.gw, "documents"), cdxtest.audit_max_seq(self.gw))

    def refused(self, body, cert, content_type, status, code, words=()):
        docs0, seq0 = self.counts()
        r = self.post(body, cert, content_type)
        doc = problem_check(self, Resp(r), status, code)
        for w in words:
            self.assertIn(w, doc["detail"], doc)
        docs1, _ = self.counts()
        self.assertEqual(docs1, docs0, "a refused MIME body stored something")
        # A refusal answered before its handler ran is audited through the
        # writer while the answer goes out: wait for the record.
        rows = cdxtest.wait_for(lambda: cdxtest.audit_since(self.gw, seq0), timeout=30,
                                what="the refusal's audit record")
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0][2], 4, rows)
        self.assertIn(code, rows[0][5] or "", rows)
        # The next request is served.
        ok = self.post(cdxtest.minimal_cda(doc_ext="AFTER-%s-%d" % (code, seq0)), "good",
                       "application/xml")
        self.assertEqual(ok.status, 201, ok)
        return doc

    def stored(self, body, cert, content_type, sample, how):
        r = self.post(body, cert, content_type)
        self.assertIn(r.status, (200, 201), "%r\n%s" % (r, self.gw.log()[-1500:]))
        js = cdxtest.curl_json(r)
        self.assertEqual(js.get("decoded"), how, js)
        want = read(SAMPLES, sample)
        self.assertEqual(js["sha256"], cdxtest.sha256_hex(want), js)
        status, _, got = cdxtest.curl_get_bytes(self.gw, "/v1/documents/" + js["id"],
                                                self.certs[sample.split("/")[0]])
        self.assertEqual(status, 200)
        self.assertEqual(got, want, "the stored original is not the decoded document")
        return js

    def test_mime_as_xml_is_415_naming_the_header(self):
        msg = read(MIME, "hanbit-care-summary-base64.eml")
        doc = self.refused(msg, "hanbit", "application/xml", 415, "MIME_WRAPPED",
                           ["MIME-Version: 1.0", "message/rfc822"])
        self.assertNotIn("empty", doc["detail"])
        qp = read(MIME, "riverside-ccd-quoted-printable.eml")
        self.refused(qp, "riverside", "text/xml; charset=utf-8", 415, "MIME_WRAPPED",
                     ["content-type: text/xml"])

    def test_message_rfc822_base64_and_quoted_printable(self):
        self.stored(read(MIME, "hanbit-care-summary-base64.eml"), "hanbit", "message/rfc822",
                    "hanbit/care-summary-kim-minjun.xml", "mime-base64")
        self.stored(read(MIME, "riverside-ccd-quoted-printable.eml"), "riverside",
                    "message/rfc822", "riverside/ccd-nguyen-david.xml", "mime-quoted-printable")

    def test_multipart_related_with_boundary(self):
        msg = read(MIME, "dasom-referral-direct-message.eml")
        head, body = split_entity(msg)
        self.assertIn('boundary="----=_Part_17_cdx"', head)
        self.stored(body, "dasom", 'multipart/related; boundary="----=_Part_17_cdx"',
                    "dasom/referral-choi-yuna.xml", "multipart-base64")
        # The whole message as message/rfc822: the same document again.
        r = self.post(msg, "dasom", "message/rfc822")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(cdxtest.curl_json(r)["status"], "already_stored")

    def test_bad_mime(self):
        cda = cdxtest.minimal_cda(doc_ext="MIME-BAD-%d" % os.getpid())
        b64 = base64.encodebytes(cda)
        self.refused(b"Content-Type: application/xml\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                     + b64[:40] + b"*" + b64[41:], "good", "message/rfc822", 400,
                     "MIME_BAD_ENCODING", ["base64", "byte 40"])
        self.refused(b"Content-Type: application/xml\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                     + b"".join(b64.split())[:-1] + b"\r\n", "good", "message/rfc822", 400,
                     "MIME_BAD_ENCODING", ["padding"])
        self.refused(b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + cda.replace(
            b'="', b'=Q"', 1), "good", "message/rfc822", 400, "MIME_BAD_ENCODING",
            ["quoted-printable"])
        part = b"--p1\r\nContent-Type: application/xml\r\n\r\n" + cda + b"\r\n"
        self.refused(part, "good", "multipart/related; boundary=p1", 400, "MIME_MALFORMED",
                     ["unterminated", "--p1--"])
        self.refused(part + b"--p1--\r\n", "good", "multipart/related", 400, "MIME_MALFORMED",
                     ["boundary"])
        self.refused(b"--p1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--p1\r\n"
                     b"Content-Type: application/pdf\r\n\r\n%PDF-1.4\r\n--p1--\r\n", "good",
                     "multipart/related; boundary=p1", 422, "MIME_NO_CDA",
                     ["text/plain, application/pdf"])
        self.refused(read(MIME, "riverside-two-documents.eml"), "riverside", "message/rfc822",
                     422, "MIME_MULTIPLE_CDA", ["2 CDA documents", "one document per request"])
        self.refused(b"Content-Type: application/xml\r\nContent-Transfer-Encoding: x-gzip64\r\n"
                     b"\r\nH4sI\r\n", "good", "message/rfc822", 415, "MIME_UNSUPPORTED",
                     ["x-gzip64"])
        self.refused(b"<ClinicalDocument/>", "good", "message/rfc822", 400, "MIME_MALFORMED",
                     ["header"])

    def test_cli_validate_and_import(self):
        work = cdxtest.scratch("mime-cli")
        p = cdxtest.run([cdxtest.BIN, "validate", "--json",
                         os.path.join(MIME, "hanbit-care-summary-base64.eml"),
                         os.path.join(MIME, "riverside-two-documents.eml")], check=False,
                        cwd=work)
        self.assertEqual(p.returncode, 1, p.stderr)
        objs = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
        self.assertEqual(len(objs), 2, p.stdout)
        self.assertTrue(objs[0]["valid"], objs[0])
        self.assertEqual(objs[0]["decoded"], "mime-base64")
        self.assertEqual(objs[0]["sha256"], cdxtest.sha256_hex(
            read(SAMPLES, "hanbit", "care-summary-kim-minjun.xml")))
        self.assertEqual(objs[1]["code"], "MIME_MULTIPLE_CDA", objs[1])
        text = cdxtest.run([cdxtest.BIN, "validate",
                            os.path.join(MIME, "riverside-ccd-quoted-printable.eml")],
                           check=False, cwd=work)
        self.assertEqual(text.returncode, 0, text.stdout)
        self.assertIn("decoded from it (mime-quoted-printable)", text.stdout)
        conf = os.path.join(work, "cdxgw.conf")
        with open(conf, "w") as f:
            f.write("data_dir = data\n")
        imp = subprocess.run([cdxtest.BIN, "import", "--config", conf, MIME], cwd=work,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=120)
        self.assertEqual(imp.returncode, 1, imp.stdout + imp.stderr)
        self.assertIn("stored 3,", imp.stdout)
        self.assertIn("MIME_MULTIPLE_CDA", imp.stdout)
        self.assertIn("3 documents were decoded from MIME messages", imp.stdout)
        reg = os.path.join(work, "data", "registry.db")
        shas = {r[0] for r in cdxtest.registry_query(reg, "SELECT sha256 FROM documents")}
        for s in ("hanbit/care-summary-kim-minjun.xml", "riverside/ccd-nguyen-david.xml",
                  "dasom/referral-choi-yuna.xml"):
            self.assertIn(cdxtest.sha256_hex(read(SAMPLES, s)), shas, s)
        # Run again: everything stored is recognized by the decoded hash.
        again = subprocess.run([cdxtest.BIN, "import", "--config", conf, MIME], cwd=work,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=120)
        self.assertIn("stored 0, already stored 3", again.stdout)


if __name__ == "__main__":
    cdxtest.main()
