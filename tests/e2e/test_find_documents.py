"""End-to-end: the document query, GET /v1/documents?patient=ROOT|EXT.

Over mTLS with the demo institutions: Hanbit and Dasom store documents of
one person under their own ids; one Dasom document carries both ids, which
joins them into one person.  Riverside (role query) asks by either id and
gets every document of that person, newest first by creation time in UTC.
- TestFind: both ids give the same list; every filter (type repeated, from
  and to at year, day and second precision with offsets, service period,
  status, institution); an unknown patient gets an empty list; the answer
  carries the metadata entry with id, status and institution; every query
  leaves one audit record with the keyed patient key and the count, and
  no identifier in clear;
- TestPaging: limit=1 walks every document once while a new one arrives;
  a cursor with other filters, an altered or cut cursor is refused;
- TestRefused: unknown parameter, malformed patient, bad date, bad limit,
  missing patient, tampered cursor: 400 with the code naming the
  parameter, each audited; an institution without the query role: 403,
  audited as a query."""

import base64
import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Conn, Gateway, Institution, problem_check, wait_for  # noqa: E402

HANBIT = cdxtest.DEMO_OIDS["hanbit"]
DASOM = cdxtest.DEMO_OIDS["dasom"]
RIVERSIDE = cdxtest.DEMO_OIDS["riverside"]
SUBMIT_ONLY = "2.25.1011"
TAG = "Q%d" % os.getpid()
H_ID = (HANBIT + ".1", "H-" + TAG)
D_ID = (DASOM + ".1", "D-" + TAG)

PKI = None
GW = None
CERTS = {}
DOCS = {}  # name -> registry id
_n = [0]


def cda(inst, ids, effective, type_code="34133-9", service=None, related=None):
    """A small CDA of inst for the patient ids [(root, ext), ...]."""
    _n[0] += 1
    oid = cdxtest.DEMO_OIDS[inst]
    ext = "%s-%d" % (TAG, _n[0])
    doc = cdxtest.minimal_cda(custodian_oid=oid, doc_ext=ext, patient_root=ids[0][0],
                              patient_ext=ids[0][1], effective_time=effective.encode(),
                              related=related)
    first = ('<id root="%s" extension="%s"/>' % ids[0]).encode()
    more = b"".join(('<id root="%s" extension="%s"/>' % i).encode() for i in ids[1:])
    doc = doc.replace(first, first + more, 1)
    doc = doc.replace(b'<code code="34133-9"', ('<code code="%s"' % type_code).encode(), 1)
    if service is not None:
        end = b"</representedCustodianOrganization></assignedCustodian></custodian>"
        ev = ('<documentationOf><serviceEvent classCode="PCPR"><effectiveTime>'
              '<low value="%s"/><high value="%s"/></effectiveTime></serviceEvent>'
              '</documentationOf>' % service).encode()
        doc = doc.replace(end, end + ev, 1)
    return doc, "%s.2^%s" % (oid, ext)


def post(inst, doc):
    with Conn.open(GW, cert=CERTS[inst], timeout=120.0) as c:
        r = cdxtest.raw_post(c, doc, timeout=120.0)
    assert r is not None and r.status == 201, (r, r.body[:400] if r else None)
    return r.json()["id"]


def get(path, cert=None):
    with Conn.open(GW, cert=cert or CERTS["riverside"]) as c:
        c.send(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode("latin-1"))
        return c.read_response(timeout=60.0)


def find(query, cert=None):
    return get("/v1/documents?" + query, cert)


def pid(ident):
    return urllib.parse.quote("%s|%s" % ident, safe="")


def ids_of(r):
    assert r.status == 200, (r, r.body[:400])
    return [d["id"] for d in r.json()["documents"]]


def audit_rows(seq0):
    return cdxtest.registry_query(
        GW, "SELECT event, outcome, actor_oid, patient_key, document_id, detail FROM audit"
        " WHERE seq > ? ORDER BY seq", (seq0,))


def wait_rows(seq0, n=1):
    return wait_for(lambda: (lambda r: r if len(r) >= n else None)(audit_rows(seq0)),
                    what="%d audit record(s)" % n)


def setUpModule():
    global PKI, GW, CERTS
    PKI = cdxtest.shared_pki()
    CERTS = cdxtest.institution_certs(PKI, sorted(cdxtest.DEMO_OIDS))
    CERTS["submit-only"] = PKI.good2
    insts = [Institution(HANBIT, "hanbit", CERTS["hanbit"], "submit, query"),
             Institution(DASOM, "dasom", CERTS["dasom"], "submit, query"),
             Institution(RIVERSIDE, "riverside", CERTS["riverside"], "query"),
             Institution(SUBMIT_ONLY, "submit only", PKI.good2, "submit")]
    GW = Gateway(PKI, name="find", institutions=insts).start()
    # Hanbit: 2024-01-05 09:30 +0900 (00:30 UTC), replaced in 2025.
    h1_doc, h1_uid = cda("hanbit", [H_ID], "20240105093000+0900")
    DOCS["h1"] = post("hanbit", h1_doc)
    # Dasom: both ids (joins them), a progress note.
    DOCS["d1"] = post("dasom", cda("dasom", [D_ID, H_ID], "20240301120000+0900",
                                   type_code="11506-3")[0])
    # 2024-06-01 00:00 +0900 is 2024-05-31 15:00 UTC; 2024-05-31 20:00 -0500
    # is 2024-06-01 01:00 UTC: by UTC the second is the newer.
    DOCS["d_kst"] = post("dasom", cda("dasom", [D_ID], "20240601000000+0900")[0])
    DOCS["d_est"] = post("dasom", cda("dasom", [D_ID], "20240531200000-0500")[0])
    # A discharge summary with a service period.
    DOCS["d_dis"] = post("dasom", cda("dasom", [D_ID], "20250615100000+0900",
                                      type_code="18842-5",
                                      service=("20250610", "20250612"))[0])
    # Hanbit replaces its first document.
    DOCS["h2"] = post("hanbit", cda("hanbit", [H_ID], "20250701080000+0900",
                                    related=("RPLC", h1_uid))[0])
    # The patient consents to every institution (recorded by Hanbit, a home
    # institution of the person): Riverside may see them.
    cdxtest.permit_all(GW, CERTS["hanbit"], H_ID)


def tearDownModule():
    if GW is not None:
        GW.stop()


class TestFind(unittest.TestCase):

    CURRENT = ["h2", "d_dis", "d_est", "d_kst", "d1"]

    def names(self, r):
        back = {v: k for k, v in DOCS.items()}
        return [back.get(i, i) for i in ids_of(r)]

    def test_either_id_gives_the_whole_person_newest_first(self):
        by_h = self.names(find("patient=" + pid(H_ID)))
        by_d = self.names(find("patient=" + pid(D_ID)))
        self.assertEqual(by_h, by_d)
        for name in self.CURRENT:
            self.assertIn(name, by_h)
        order = [n for n in by_h if n in self.CURRENT]
        self.assertEqual(order, self.CURRENT)
        self.assertNotIn("h1", by_h)  # superseded

    def test_entry_shape(self):
        r = find("patient=%s&type=18842-5" % pid(D_ID))
        body = r.json()
        self.assertEqual(body["count"], 1)
        self.assertNotIn("next", body)
        e = body["documents"][0]
        self.assertEqual(e["id"], DOCS["d_dis"])
        self.assertEqual(e["status"], "current")
        self.assertEqual(e["institution"], DASOM)
        self.assertEqual(e["submitter"], DASOM)
        meta = get("/v1/documents/%s/metadata" % DOCS["d_dis"]).json()
        for k, v in meta.items():
            self.assertEqual(e[k], v, k)

    def test_type_repeated(self):
        got = self.names(find("patient=%s&type=11506-3&type=18842-5" % pid(H_ID)))
        self.assertEqual(got, ["d_dis", "d1"])

    def test_creation_time_in_utc(self):
        q = "patient=" + pid(H_ID)
        # Year precision: 2025 onwards, before 2025 (exclusive to).
        self.assertEqual(self.names(find(q + "&from=2025")), ["h2", "d_dis"])
        before = self.names(find(q + "&to=2025"))
        self.assertNotIn("d_dis", before)
        self.assertIn("d1", before)
        # Day precision, ISO: 2024-06-01 UTC holds d_est only (d_kst is 05-31 UTC).
        self.assertEqual(self.names(find(q + "&from=2024-06-01&to=2024-06-02")), ["d_est"])
        self.assertEqual(self.names(find(q + "&from=20240531&to=20240601")), ["d_kst"])
        # Second precision with offsets: d_kst is 2024-05-31T15:00:00Z.
        self.assertEqual(self.names(find(q + "&from=" + urllib.parse.quote(
            "2024-06-01T00:00:00+09:00") + "&to=" + urllib.parse.quote(
            "20240601000001+0900"))), ["d_kst"])
        self.assertEqual(self.names(find(q + "&from=" + urllib.parse.quote(
            "20240531100001-0500"))), ["h2", "d_dis", "d_est"])

    def test_service_period(self):
        q = "patient=" + pid(H_ID)
        self.assertEqual(self.names(find(q + "&service_from=20250611")), ["d_dis"])
        self.assertEqual(self.names(find(q + "&service_from=2025-06-13")), [])
        self.assertEqual(self.names(find(q + "&service_to=20250610")), [])
        self.assertEqual(self.names(find(q + "&service_to=20250610000001")), ["d_dis"])

    def test_status(self):
        q = "patient=" + pid(D_ID)
        self.assertEqual(self.names(find(q + "&status=superseded")), ["h1"])
        sup = find(q + "&status=superseded").json()["documents"]
        self.assertEqual([d["status"] for d in sup], ["superseded"])
        all_ = ids_of(find(q + "&status=all"))
        self.assertEqual(len(all_), len(ids_of(find(q))) + 1)

    def test_institution(self):
        q = "patient=" + pid(D_ID)
        got = find(q + "&institution=" + HANBIT).json()["documents"]
        self.assertTrue(got)
        self.assertTrue(all(d["institution"] == HANBIT for d in got))
        self.assertEqual(self.names(find(q + "&institution=" + DASOM)),
                         ["d_dis", "d_est", "d_kst", "d1"])
        self.assertEqual(ids_of(find(q + "&institution=2.25.999")), [])

    def test_class_of_the_document_type(self):
        q = "patient=" + pid(D_ID)
        self.assertEqual(self.names(find(q + "&class=discharge")), ["d_dis"])
        self.assertEqual(self.names(find(q + "&class=progress")), ["d1"])
        self.assertEqual(self.names(find(q + "&class=summary")), ["h2", "d_est", "d_kst"])
        self.assertEqual(ids_of(find(q + "&class=imaging")), [])
        self.assertEqual(self.names(find(q + "&class=summary&type=11506-3")), [])
        entries = {d["id"]: d for d in find(q).json()["documents"]}
        self.assertEqual(entries[DOCS["d_dis"]]["class"], "discharge")
        self.assertEqual(entries[DOCS["d1"]]["class"], "progress")
        for bad in ("DISCHARGE", "18842-5", "summary%20"):
            r = find(q + "&class=" + bad)
            self.assertEqual(r.status, 400, (bad, r))
            body = r.json()
            self.assertEqual(body["code"], "PARAMETER_INVALID")
            self.assertIn("'class'", body["detail"])
            self.assertIn("discharge", body["detail"])

    def test_unknown_patient_is_an_empty_list(self):
        seq0 = cdxtest.audit_max_seq(GW)
        r = find("patient=" + pid((RIVERSIDE + ".1", "NOBODY-" + TAG)))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"count": 0, "documents": []})
        rows = wait_rows(seq0)
        self.assertEqual([(x[0], x[1], x[2], x[3]) for x in rows],
                         [("document.query", 4, RIVERSIDE, None)])

    def test_audited_once_with_key_and_count(self):
        seq0 = cdxtest.audit_max_seq(GW)
        r = find("patient=%s&type=11506-3" % pid(H_ID))
        self.assertEqual(r.json()["count"], 1)
        rows = wait_rows(seq0)
        self.assertEqual(len(rows), 1)
        event, outcome, actor, key, doc, detail = rows[0]
        self.assertEqual((event, outcome, actor, doc), ("document.query", 0, RIVERSIDE, None))
        self.assertRegex(key, r"^[0-9a-f]{32}$")
        self.assertIn("count=1", detail)
        self.assertIn("filters=type", detail)
        for row in cdxtest.registry_query(GW, "SELECT * FROM audit"):
            self.assertNotIn(H_ID[1], " ".join(str(x) for x in row))


class TestPaging(unittest.TestCase):

    def test_walk_with_limit_1_while_a_document_arrives(self):
        q = "patient=%s&status=all&limit=1" % pid(H_ID)
        everything = ids_of(find("patient=%s&status=all" % pid(H_ID)))
        seen, cursor, pages = [], None, 0
        while True:
            r = find(q + ("&cursor=" + cursor if cursor else ""))
            body = r.json()
            self.assertLessEqual(len(body["documents"]), 1)
            seen += [d["id"] for d in body["documents"]]
            pages += 1
            if pages == 2:
                # A newer document arrives between pages: it is not in this
                # walk (it sorts before the cursor) and moves nothing.
                post("dasom", cda("dasom", [D_ID], "20300101000000+0000")[0])
            cursor = body.get("next")
            if not cursor:
                break
            self.assertLess(pages, 50)
        self.assertEqual(seen, everything)
        self.assertEqual(len(seen), len(set(seen)))

    def first_cursor(self, q):
        r = find(q + "&limit=1")
        return r.json()["next"]

    def test_cursor_with_other_filters(self):
        q = "patient=" + pid(H_ID)
        cur = self.first_cursor(q)
        r = find(q + "&limit=2&cursor=" + cur)  # limit may change
        self.assertEqual(r.status, 200)
        # The default status written out, a date at another spelling: the same query.
        self.assertEqual(find(q + "&status=current&cursor=" + cur).status, 200)
        cur2 = self.first_cursor(q + "&from=2024")
        self.assertEqual(find(q + "&from=20240101000000&cursor=" + cur2).status, 200)
        problem_check(self, find(q + "&type=11506-3&cursor=" + cur), 400, "CURSOR_INVALID")
        problem_check(self, find("patient=%s&cursor=%s" % (pid(D_ID), cur)), 400,
                      "CURSOR_INVALID")

    def test_cursor_altered_or_cut(self):
        q = "patient=" + pid(H_ID)
        cur = self.first_cursor(q)
        raw = bytearray(base64.urlsafe_b64decode(cur + "=" * (-len(cur) % 4)))
        for i in range(len(raw)):
            bad = bytearray(raw)
            bad[i] ^= 0x01
            text = base64.urlsafe_b64encode(bytes(bad)).decode().rstrip("=")
            problem_check(self, find(q + "&cursor=" + text), 400, "CURSOR_INVALID")
        for text in (cur[:-1], cur[:10], cur + "A", "x", "!!!!"):
            problem_check(self, find(q + "&cursor=" + urllib.parse.quote(text)), 400,
                          "CURSOR_INVALID")


class TestRefused(unittest.TestCase):

    CASES = [
        ("patient=%s&colour=red" % pid(H_ID), "PARAMETER_UNKNOWN", "colour"),
        ("patient=1.2.3", "PATIENT_ID_INVALID", "patient"),
        ("patient=" + urllib.parse.quote("not an oid|X", safe=""), "PATIENT_ID_INVALID",
         "patient"),
        ("patient=%s&from=2024-13-01" % pid(H_ID), "DATE_INVALID", "from"),
        ("patient=%s&service_to=yesterday" % pid(H_ID), "DATE_INVALID", "service_to"),
        ("patient=%s&limit=0" % pid(H_ID), "PARAMETER_INVALID", "limit"),
        ("patient=%s&limit=501" % pid(H_ID), "PARAMETER_INVALID", "limit"),
        ("patient=%s&status=old" % pid(H_ID), "PARAMETER_INVALID", "status"),
        ("type=34133-9", "PARAMETER_INVALID", "patient"),
        ("patient=%s&cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" % pid(H_ID),
         "CURSOR_INVALID", "cursor"),
    ]

    def test_each_refused_and_audited(self):
        for query, code, param in self.CASES:
            with self.subTest(code=code, query=query):
                seq0 = cdxtest.audit_max_seq(GW)
                r = find(query)
                problem_check(self, r, 400, code)
                self.assertIn("'%s'" % param, r.json().get("detail", ""))
                rows = wait_rows(seq0)
                self.assertEqual(len(rows), 1)
                self.assertEqual(rows[0][0], "document.reject")
                self.assertIn("code=" + code, rows[0][5])
                self.assertNotIn(H_ID[1], rows[0][5])

    def test_without_query_role(self):
        seq0 = cdxtest.audit_max_seq(GW)
        r = find("patient=" + pid(H_ID), cert=CERTS["submit-only"])
        problem_check(self, r, 403, "FORBIDDEN")
        rows = wait_rows(seq0)
        self.assertEqual([(x[0], x[1], x[2]) for x in rows],
                         [("document.query", 8, SUBMIT_ONLY)])

    def test_get_served_beside_post(self):
        r = get("/v1/documents?patient=" + pid(H_ID))
        self.assertEqual(r.status, 200)


if __name__ == "__main__":
    cdxtest.main()
