"""End-to-end: the patient index at ingest, over mTLS with the demo institutions.

Documents are the demo samples with their recordTarget replaced by fictional
patients written here (the rest of each sample, and so each institution's
mapping, is unchanged):

- Hanbit and Dasom send the same person under their own local ids plus the
  same national id (a root configured in national_id_roots): one person,
  linked by rule 'national'.  The national number appears nowhere in the
  registry's files (database and WAL, scanned as bytes), the log, or the
  metadata and canonical forms the gateway answers; only the original bytes
  keep it.
- Riverside sends the same person with the romanized name, the same birth
  date and sex, its own local id and a US address: linked by demographics
  (rule 'match').
- Twins (same birth date and address, different given names) stay apart.
- `cdxgw reindex` over the registry adds nothing (idempotent)."""

import json
import os
import re
import subprocess
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Gateway, Institution  # noqa: E402

NATIONAL_ROOT = "2.25.271828182845904523536028747135266249"
NATIONAL_NO = "7302142917364"  # fictional, never a real registration number
HYPHENATED = NATIONAL_NO[:6] + "-" + NATIONAL_NO[6:]  # as a form prints it
OIDS = cdxtest.DEMO_OIDS

PKI = None
GW = None
CERTS = {}


def sample(inst):
    """(bytes, encoding) of one demo sample of inst."""
    for name, path in cdxtest.sample_files():
        if name == inst:
            with open(path, "rb") as f:
                data = f.read()
            m = re.search(rb'encoding="([^"]+)"', data[:200])
            return data, (m.group(1).decode() if m else "UTF-8")
    raise unittest.SkipTest("no sample of %s" % inst)


def record_target(ids, family, given, birth, sex, city, postal, street, phone):
    """A recordTarget element (text) with the given fictional patient."""
    idx = "".join('<id root="%s" extension="%s"/>' % i for i in ids)
    given_x = "".join("<given>%s</given>" % g for g in given)
    return ("<recordTarget><patientRole>%s"
            '<addr use="H"><streetAddressLine>%s</streetAddressLine><city>%s</city>'
            "<postalCode>%s</postalCode></addr>"
            '<telecom use="HP" value="tel:%s"/>'
            "<patient><name><family>%s</family>%s</name>"
            '<administrativeGenderCode code="%s" codeSystem="2.16.840.1.113883.5.1"/>'
            '<birthTime value="%s"/></patient></patientRole></recordTarget>'
            % (idx, street, city, postal, phone, family, given_x, sex, birth))


_n = [0]


def document(inst, rt, narrative=None):
    """A sample of inst with recordTarget rt and a fresh document id
    (narrative, when given, opens the first section's text)."""
    data, enc = sample(inst)
    text = data.decode(enc)
    text = re.sub(r"<recordTarget>.*?</recordTarget>", lambda m: rt, text, count=1, flags=re.S)
    if narrative is not None:
        assert "<text>" in text
        text = text.replace("<text>", "<text>" + narrative, 1)
    _n[0] += 1
    out = text.encode(enc)
    return cdxtest.with_document_id(out, "PIX-%d-%d" % (os.getpid(), _n[0]))


def local(inst, ext):
    return (OIDS[inst] + ".1", ext)


def setUpModule():
    global PKI, GW, CERTS
    PKI = cdxtest.shared_pki()
    CERTS = cdxtest.institution_certs(PKI, sorted(OIDS))
    insts = [Institution(oid, name, CERTS[name], "submit, query")
             for name, oid in sorted(OIDS.items())]
    GW = Gateway(PKI, name="pindex", institutions=insts,
                 settings={"national_id_roots": NATIONAL_ROOT, "log_level": "debug"}).start()


def tearDownModule():
    if GW is not None:
        GW.stop()


def person_of(root, ext):
    rows = cdxtest.registry_query(GW, "SELECT person_id FROM patients WHERE root = ? AND"
                                      " extension = ?", (root, ext))
    return rows[0][0] if rows else None


def link_between(a, b):
    """(rule, status, score) of the link between identities a and b, or None."""
    rows = cdxtest.registry_query(
        GW, "SELECT l.rule, l.status, l.score FROM patient_links AS l"
            " JOIN patients AS x ON x.id = l.a JOIN patients AS y ON y.id = l.b"
            " WHERE (x.root = ? AND x.extension = ? AND y.root = ? AND y.extension = ?)"
            " OR (x.root = ? AND x.extension = ? AND y.root = ? AND y.extension = ?)",
        a + b + b + a)
    return rows[0] if rows else None


class PatientIndex(unittest.TestCase):
    posted = []

    def setUp(self):
        if not GW.alive():
            self.fail("gateway is not running; stderr:\n%s" % GW.log()[-4000:])

    def post(self, inst, rt, narrative=None):
        body = document(inst, rt, narrative)
        res = cdxtest.post_document(GW, body, CERTS[inst])
        self.assertEqual(res.status, 201, res.body)
        doc = json.loads(res.body)
        PatientIndex.posted.append(doc["id"])
        return doc

    def test_1_national_then_demographics(self):
        hanbit = local("hanbit", "HB-PIX-100")
        dasom = local("dasom", "DS-PIX-200")
        river = local("riverside", "RGH-PIX-300")
        nat = (NATIONAL_ROOT, NATIONAL_NO)
        # Hanbit's narrative also prints the number, as a registration form does.
        d1 = self.post("hanbit", record_target([hanbit, nat], "최", ["유나"], "19730214", "F",
                                               "해운대구", "48094", "해운대로 570, 101동 1504호",
                                               "010-3358-1209"),
                       narrative="주민등록번호 %s " % HYPHENATED)
        d2 = self.post("dasom", record_target([dasom, nat], "최", ["유나"], "19730214", "F",
                                              "해운대구", "48094", "해운대로 570, 101동 1504호",
                                              "010-3358-1209"))
        for d in (d1, d2):
            self.assertNotIn(NATIONAL_NO, json.dumps(d, ensure_ascii=False))
        self.assertIsNotNone(person_of(*hanbit))
        self.assertEqual(person_of(*hanbit), person_of(*dasom), "one person by national id")
        hashed = cdxtest.registry_query(
            GW, "SELECT extension, national FROM patients WHERE root = ?", (NATIONAL_ROOT,))
        self.assertEqual(len(hashed), 1, hashed)
        self.assertRegex(hashed[0][0], r"^hmac-sha256:[0-9a-f]{64}$")
        self.assertEqual(hashed[0][1], 1)
        self.assertEqual(link_between(hanbit, (NATIONAL_ROOT, hashed[0][0]))[:2],
                         ("national", "linked"))
        self.assertEqual(link_between(dasom, (NATIONAL_ROOT, hashed[0][0]))[:2],
                         ("national", "linked"))
        # The canonical id of each document is its local one, not the hash.
        rows = cdxtest.registry_query(
            GW, "SELECT patient_root, patient_ext FROM documents WHERE uid IN (?, ?)",
            (d1["id"], d2["id"]))
        self.assertEqual(sorted(rows), sorted([hanbit, dasom]))

        # Riverside: romanized name, same birth date and sex, its own id.
        self.post("riverside", record_target([river], "Choi", ["Yuna"], "19730214", "F",
                                             "Portland", "97239", "845 SW Harbor View Ave",
                                             "+1-971-555-0143"))
        link = link_between(river, hanbit) or link_between(river, dasom)
        self.assertIsNotNone(link, "no match link for the romanized name")
        self.assertEqual(link[:2], ("match", "linked"), link)
        self.assertEqual(person_of(*river), person_of(*hanbit))
        audit = cdxtest.registry_query(
            GW, "SELECT detail FROM audit WHERE event = 'patient.link'")
        details = " ".join(r[0] for r in audit)
        self.assertIn("rule=national", details)
        self.assertIn("rule=match", details)
        self.assertNotIn(NATIONAL_NO, details)
        # What the gateway answers: metadata and the canonical form carry
        # the hash, the original bytes the number.
        for docid in (d1["id"], d2["id"]):
            st, _, meta = cdxtest.curl_get_bytes(GW, "/v1/documents/%s/metadata" % docid,
                                                 CERTS["hanbit" if docid == d1["id"] else "dasom"])
            self.assertEqual(st, 200, meta)
            self.assertNotIn(NATIONAL_NO.encode(), meta)
            self.assertIn(b"hmac-sha256:", meta)
            st, _, norm = cdxtest.curl_get_bytes(GW, "/v1/documents/%s?form=normalized" % docid,
                                                 CERTS["hanbit" if docid == d1["id"] else "dasom"])
            self.assertEqual(st, 200, norm[:200])
            self.assertNotIn(NATIONAL_NO.encode(), norm)
            self.assertNotIn(HYPHENATED.encode(), norm)
            self.assertIn(b"hmac-sha256:", norm)
            st, _, orig = cdxtest.curl_get_bytes(GW, "/v1/documents/%s" % docid,
                                                 CERTS["hanbit" if docid == d1["id"] else "dasom"])
            self.assertEqual(st, 200)
            self.assertIn(NATIONAL_NO.encode(), orig, "the original bytes stay as sent")
        # The narrative's writing of the number is masked in the canonical form.
        st, _, norm = cdxtest.curl_get_bytes(GW, "/v1/documents/%s?form=normalized" % d1["id"],
                                             CERTS["hanbit"])
        self.assertIn(b"******-*******", norm)

    def test_2_twins_stay_apart(self):
        a = local("hanbit", "HB-PIX-TWIN-A")
        b = local("hanbit", "HB-PIX-TWIN-B")
        addr = ("마포구", "03966", "월드컵로 12길 34, 502호", "010-2841-7730")
        self.post("hanbit", record_target([a], "김", ["서준"], "20100505", "M", *addr))
        self.post("hanbit", record_target([b], "김", ["도윤"], "20100505", "M", *addr))
        self.assertNotEqual(person_of(*a), person_of(*b))
        keys = cdxtest.registry_query(
            GW, "SELECT family, given, birth, sex, postal, address, phone FROM patients"
                " WHERE root = ? AND extension = ?", a)
        self.assertTrue(keys and all(keys[0]), "match keys of the twin: %r" % (keys,))
        link = link_between(a, b)
        self.assertTrue(link is None or link[1] != "linked", link)

    def test_2b_read_by_national_number_in_clear(self):
        """A clinician types the national number as the card shows it: the
        document query, the timeline and the patient search hash it with the
        gateway's key and find the person; the number is written nowhere
        (test_3 then scans the log and the registry)."""
        if not PatientIndex.posted:
            self.skipTest("no document posted")
        nat = urllib.parse.quote("%s|%s" % (NATIONAL_ROOT, NATIONAL_NO), safe="")
        own = cdxtest.registry_query(
            GW, "SELECT d.uid FROM documents AS d JOIN institutions AS i ON i.id = d.submitter_id"
                " JOIN document_patient_ids AS p ON p.document_id = d.id"
                " WHERE i.oid = ? AND p.root = ?", (OIDS["hanbit"], NATIONAL_ROOT))
        self.assertTrue(own, "Hanbit's document under the national id")
        r = GW.curl("/v1/documents?patient=" + nat, cert=CERTS["hanbit"])
        self.assertEqual(r.status, 200, r)
        got = [e["id"] for e in json.loads(r.body)["documents"]]
        for (uid,) in own:
            self.assertIn(uid, got)
        r = GW.curl("/v1/patients/%s/timeline" % nat, cert=CERTS["hanbit"])
        self.assertEqual(r.status, 200, r)
        r = GW.curl("/v1/patients?identifier=" + nat, cert=CERTS["hanbit"])
        self.assertEqual(r.status, 200, r)
        ids = json.loads(r.body)["persons"][0]["identifiers"]
        self.assertIn({"root": NATIONAL_ROOT, "national": True}, ids)
        self.assertIn(local("hanbit", "HB-PIX-100")[1], [i.get("extension") for i in ids])
        self.assertNotIn(NATIONAL_NO, r.body)
        # Another number under the national root is nobody here.
        other = urllib.parse.quote("%s|%s" % (NATIONAL_ROOT, "7302142917365"), safe="")
        r = GW.curl("/v1/patients/%s/timeline" % other, cert=CERTS["hanbit"])
        self.assertEqual(r.status, 404, r)

    def test_3_national_number_stored_nowhere_in_clear(self):
        """Scans the registry files as bytes (the documents' original bytes
        are the one place the number may be: they are stored as sent, so
        the scan counts occurrences against the originals')."""
        if not PatientIndex.posted:
            self.skipTest("no document posted")
        data_dir = os.path.join(GW.dir, "data")
        needle = NATIONAL_NO.encode()
        stored = cdxtest.registry_query(GW, "SELECT original, normalized FROM document_content")
        in_originals = sum(cdxtest.stored_content(o[0]).count(needle) for o in stored)
        self.assertGreater(in_originals, 0)
        # The normalized forms are stored compressed: unpacked, they must not
        # hold it either.
        for o in stored:
            self.assertNotIn(needle, cdxtest.stored_content(o[1]) or b"",
                             "the national number is in a normalized form")
        # With the originals removed from a copy, the number must be gone.
        copy = os.path.join(GW.dir, "scan.db")
        con = cdxtest.registry_ro(GW)
        try:
            con.execute("VACUUM INTO ?", (copy,))
        finally:
            con.close()
        import sqlite3
        c2 = sqlite3.connect(copy)
        c2.execute("UPDATE document_content SET original = zeroblob(length(original))")
        c2.commit()
        c2.execute("VACUUM")
        c2.close()
        with open(copy, "rb") as f:
            blob = f.read()
        self.assertNotIn(needle, blob, "the national number is in the registry")
        self.assertNotIn(HYPHENATED.encode(), blob, "the printed number is in the registry")
        # The live files (database, WAL) hold it only as often as the
        # originals do (a WAL may keep older page images of the same rows);
        # originals are stored compressed, so it may show only in pieces.
        for name in sorted(os.listdir(data_dir)):
            path = os.path.join(data_dir, name)
            if not os.path.isfile(path) or not name.startswith("registry.db"):
                continue
            with open(path, "rb") as f:
                blob = f.read()
            for m in re.finditer(re.escape(needle), blob):
                ctx = blob[max(0, m.start() - 80):m.end() + 20]
                self.assertIn(b"extension=\"" + needle, ctx,
                              "%s: the national number outside an original document" % name)
        self.assertNotIn(NATIONAL_NO, GW.log(), "the national number is in the log")

    def test_4_reindex_adds_nothing(self):
        if not PatientIndex.posted:
            self.skipTest("no document posted")
        before = (cdxtest.table_count(GW, "patients"), cdxtest.table_count(GW, "patient_links"),
                  cdxtest.registry_query(GW, "SELECT count(DISTINCT person_id) FROM patients"))
        GW.stop()
        try:
            p = subprocess.run([cdxtest.BIN, "reindex", "--restart", "--config", GW.conf],
                               cwd=GW.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertNotIn(NATIONAL_NO, p.stdout + p.stderr)
            after = (cdxtest.table_count(GW, "patients"),
                     cdxtest.table_count(GW, "patient_links"),
                     cdxtest.registry_query(GW, "SELECT count(DISTINCT person_id) FROM patients"))
            self.assertEqual(before, after)
            rows = cdxtest.registry_query(GW, "SELECT count(*) FROM document_patient_ids"
                                              " WHERE extension = ?", (NATIONAL_NO,))
            self.assertEqual(rows[0][0], 0)
        finally:
            GW.start()


if __name__ == "__main__":
    cdxtest.main()
