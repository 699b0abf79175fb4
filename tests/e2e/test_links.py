"""End-to-end: the patient index's administrators' links and GET /v1/patients.

Over HTTPS (mTLS) with the demo institutions Hanbit and Dasom, the network
operations institution (admin) and a query-only institution:
- TestLinkAndUnlink: a patient at Hanbit and at Dasom under their own ids;
  the administrator links them (201, then 200), GET /v1/patients by either
  id returns both; DELETE separates them, a document sent again does not
  re-link them, and each step leaves its audit record in the registry;
- TestReview: a pair waiting for review is listed with its score
  breakdown, newest first, paged by a signed cursor; its unlink records
  "distinct"; a changed cursor is refused;
- TestRefusals: 403 for every links route without the admin role (with an
  audit record), 400/404/409/415/422 with precise codes, and no national
  id in any answer."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Conn, Gateway, Institution, problem_check, wait_for  # noqa: E402

PKI = None
GW = None
CERTS = {}
HANBIT = cdxtest.DEMO_OIDS["hanbit"]
DASOM = cdxtest.DEMO_OIDS["dasom"]
ADMIN = "2.25.1009"
QUERY = "2.25.1003"
_n = [0]


def setUpModule():
    global PKI, GW, CERTS
    PKI = cdxtest.shared_pki()
    CERTS = cdxtest.institution_certs(PKI, ["hanbit", "dasom"])
    GW = Gateway(PKI, name="links", institutions=[
        Institution(HANBIT, "Hanbit University Hospital", CERTS["hanbit"], "submit, query"),
        Institution(DASOM, "Dasom Family Clinic", CERTS["dasom"], "submit, query"),
        Institution(QUERY, "Query only", PKI.good2, "query"),
        cdxtest.ADMIN_INSTITUTION(PKI),
    # The documents here share their demographics: automatic matching is
    # set out of reach so that only an administrator links them.
    ], settings={"match_link_threshold": "1000", "match_review_threshold": "999"}).start()


def tearDownModule():
    if GW is not None:
        GW.stop()


def request(method, path, body=None, cert="admin", ctype="application/json", headers=""):
    with Conn.open(GW, cert=cert) as c:
        head = "%s %s HTTP/1.1\r\nHost: localhost\r\n%s" % (method, path, headers)
        data = b""
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            if ctype:
                head += "Content-Type: %s\r\n" % ctype
            head += "Content-Length: %d\r\n" % len(data)
        c.send(head.encode("latin-1") + b"\r\n" + data)
        return c.read_response(timeout=60.0)


def push(inst, ext, doc_ext=None):
    """Stores a document of inst (a demo name) for patient inst.1|ext."""
    _n[0] += 1
    oid = cdxtest.DEMO_OIDS[inst]
    body = cdxtest.minimal_cda(custodian_oid=oid, patient_ext=ext,
                               doc_ext=doc_ext or "LINKS-%d-%d" % (os.getpid(), _n[0]))
    r = cdxtest.post_document(GW, body, CERTS[inst])
    assert r.status in (200, 201), r
    # The patient's consent, so that the query-only institution may find
    # the person (a lookup is under the access decision).
    cdxtest.permit_all(GW, CERTS[inst], ("%s.1" % oid, ext))
    return body


def ident(inst, ext):
    return "%s.1|%s" % (cdxtest.DEMO_OIDS[inst], ext)


def audit_rows(seq0):
    return cdxtest.registry_query(
        GW, "SELECT event, outcome, actor_oid, patient_key, detail FROM audit WHERE seq > ?"
        " ORDER BY seq", (seq0,))


def wait_rows(seq0, has):
    """The audit records after seq0 whose detail contains has, once there
    is one.  A refusal's record is queued as the answer leaves, so one of
    the request before may still arrive after seq0: the detail tells them
    apart."""
    return wait_for(lambda: [r for r in audit_rows(seq0) if has in (r[4] or "")] or None,
                    what="an audit record with %r" % has)


def patients(identifier, cert="good2"):
    from urllib.parse import quote
    return request("GET", "/v1/patients?identifier=" + quote(identifier, safe=""), cert=cert)


def extensions(resp):
    persons = resp.json()["persons"]
    return sorted((i.get("extension") for p in persons for i in p["identifiers"]),
                  key=lambda e: e or "")


def unique(tag):
    _n[0] += 1
    return "%s-%d-%d" % (tag, os.getpid(), _n[0])


def registry_write(sql):
    """Writes what demographic matching would (the gateway is running)."""
    import sqlite3
    con = sqlite3.connect(cdxtest.registry_path(GW), timeout=30)
    try:
        con.execute("PRAGMA busy_timeout = 30000")
        con.execute(sql)
        con.commit()
    finally:
        con.close()


class TestLinkAndUnlink(unittest.TestCase):

    def test_link_query_unlink_resend(self):
        h, d = unique("H"), unique("D")
        push("hanbit", h)
        dasom_doc = push("dasom", d)
        r = patients(ident("hanbit", h))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(extensions(r), [h])

        seq0 = cdxtest.audit_max_seq(GW)
        body = {"a": ident("hanbit", h), "b": ident("dasom", d), "reason": "checked by phone"}
        r = request("POST", "/v1/links", body)
        self.assertEqual(r.status, 201, r)
        link = r.json()
        self.assertEqual((link["rule"], link["status"], link["reason"], link["actor"]),
                         ("admin", "linked", "checked by phone", ADMIN))
        self.assertEqual({link["a"]["extension"], link["b"]["extension"]}, {h, d})
        rows = wait_rows(seq0, "rule=admin link=")
        self.assertEqual(rows[0][:3], ("patient.link", 0, ADMIN))
        self.assertIn("rule=admin link=%d status=linked" % link["id"], rows[0][4])
        self.assertEqual(len(rows[0][3]), 32)  # the keyed hash, not the id
        self.assertNotIn(h, rows[0][4])

        r = request("POST", "/v1/links", body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["id"], link["id"])

        for who in (ident("hanbit", h), ident("dasom", d)):
            seq0 = cdxtest.audit_max_seq(GW)
            r = patients(who)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(extensions(r), sorted([h, d]))
            rows = wait_rows(seq0, "by=identifier")
            self.assertEqual(rows[0][:3], ("patient.query", 0, QUERY))
            self.assertEqual(rows[0][4], "route=patients.query by=identifier persons=1")

        seq0 = cdxtest.audit_max_seq(GW)
        r = request("DELETE", "/v1/links/%d" % link["id"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["status"], "unlinked")
        rows = wait_rows(seq0, "status=unlinked")
        self.assertEqual(rows[0][:3], ("patient.unlink", 0, ADMIN))
        self.assertIn("status=unlinked split=1", rows[0][4])
        self.assertEqual(extensions(patients(ident("hanbit", h))), [h])
        self.assertEqual(extensions(patients(ident("dasom", d))), [d])

        r = request("DELETE", "/v1/links/%d" % link["id"])
        self.assertEqual(r.status, 200, r)

        # The same document again, and a new one: still apart.
        cdxtest.post_document(GW, dasom_doc, CERTS["dasom"])
        push("dasom", d)
        push("hanbit", h)
        self.assertEqual(extensions(patients(ident("dasom", d))), [d])
        self.assertEqual(extensions(patients(ident("hanbit", h))), [h])

        # An administrator may link them again: the decision is overridden.
        r = request("POST", "/v1/links", body)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(extensions(patients(ident("dasom", d))), sorted([h, d]))

    def test_demographic_search(self):
        h, d = unique("G1"), unique("G2")
        push("hanbit", h)
        push("dasom", d)
        r = request("POST", "/v1/links", {"a": ident("hanbit", h), "b": ident("dasom", d),
                                          "reason": "same person"})
        self.assertEqual(r.status, 201, r)
        # The match keys and summary demographic matching stores at ingest.
        registry_write("UPDATE patients SET family = 'kim', given = 'minjun', birth = '19790101',"
                       " sex = 'M', summary = '{\"family\":\"Kim\",\"birth\":\"1979-01-01\"}'"
                       " WHERE extension = '%s'" % d)
        registry_write("INSERT INTO patient_blocks (key, patient_id) SELECT 'd:kim:19790101', id"
                       " FROM patients WHERE extension = '%s'" % d)
        # A national id of the same person, as the patient index keeps it.
        registry_write("INSERT INTO patients (root, extension, person_id, national, created_at,"
                       " updated_at) SELECT '2.25.99999', 'hmac-sha256:%s', person_id, 1, 'x', 'x'"
                       " FROM patients WHERE extension = '%s'" % ("ab" * 32, d))
        for q in ("family=Kim&birthdate=1979-01-01", "family=KIM&birthdate=19790101&gender=M",
                  "family=%EA%B9%80&birthdate=19790101&given=Min-Jun"):
            seq0 = cdxtest.audit_max_seq(GW)
            r = request("GET", "/v1/patients?" + q, cert="good2")
            self.assertEqual(r.status, 200, (q, r))
            self.assertEqual(extensions(r), sorted([h, d, None], key=lambda e: e or ""), q)
            self.assertIn({"root": "2.25.99999", "national": True},
                          r.json()["persons"][0]["identifiers"])
            self.assertNotIn(b"hmac-sha256", r.body)
            # The summary written above, beside the one the other identity's
            # document gave at ingest.
            self.assertIn({"family": "Kim", "birth": "1979-01-01"},
                          r.json()["persons"][0]["demographics"])
            rows = wait_rows(seq0, "by=demographics")
            self.assertEqual(rows[0][:2], ("patient.query", 0))
            self.assertEqual(rows[0][4], "route=patients.query by=demographics persons=1")
            self.assertNotIn("Kim", rows[0][4])
        for q in ("family=Kim&birthdate=19790102", "family=Kim&birthdate=19790101&given=Seoyeon",
                  "family=Kim&birthdate=19790101&gender=F"):
            r = request("GET", "/v1/patients?" + q, cert="good2")
            self.assertEqual(r.json(), {"persons": []}, q)

    def test_unknown_identifier_is_an_empty_list(self):
        seq0 = cdxtest.audit_max_seq(GW)
        r = patients(ident("hanbit", "NOBODY-%d" % os.getpid()))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"persons": []})
        rows = wait_rows(seq0, "route=patients.query")
        self.assertEqual(rows[0][:2], ("patient.query", 4))


class TestReview(unittest.TestCase):

    def test_review_listing_and_decision(self):
        a, b = unique("RA"), unique("RB")
        push("hanbit", a)
        push("dasom", b)
        # A pair waiting for review, as demographic matching records it.
        registry_write("INSERT INTO patient_links (a, b, rule, status, score, breakdown, created_at)"
                     " SELECT min(id), max(id), 'match', 'review', 9.5,"
                     " '{\"total\":9.5,\"fields\":{\"family\":{\"agreement\":\"agree\"}}}',"
                       " '2026-01-01T00:00:00.000Z' FROM patients WHERE extension IN ('%s', '%s')"
                       % (a, b))
        r = request("GET", "/v1/links?status=review&limit=1")
        self.assertEqual(r.status, 200, r)
        links = r.json()["links"]
        self.assertEqual(len(links), 1)
        review = links[0]
        self.assertEqual(review["status"], "review")
        self.assertEqual(review["breakdown"]["total"], 9.5)
        self.assertEqual(review["score"], 9.5)

        # Paging: a second review pair, then two pages of one.
        c, d = unique("RC"), unique("RD")
        push("hanbit", c)
        push("dasom", d)
        registry_write("INSERT INTO patient_links (a, b, rule, status, score, created_at)"
                       " SELECT min(id), max(id), 'match', 'review', 8.0, 'x' FROM patients"
                       " WHERE extension IN ('%s', '%s')" % (c, d))
        r = request("GET", "/v1/links?status=review&limit=1")
        first = r.json()
        self.assertIn("next_cursor", first)
        r = request("GET", "/v1/links?status=review&limit=1&cursor=" + first["next_cursor"])
        self.assertEqual(r.status, 200, r)
        self.assertLess(r.json()["links"][0]["id"], first["links"][0]["id"])
        # A cursor of another listing, or changed, is refused.
        for bad in (first["next_cursor"][:-2] + "AA", "x" + first["next_cursor"], "@@@"):
            r = request("GET", "/v1/links?status=review&cursor=" + bad)
            problem_check(self, r, 400, "CURSOR_INVALID")
        r = request("GET", "/v1/links?status=linked&cursor=" + first["next_cursor"])
        problem_check(self, r, 400, "CURSOR_INVALID")

        r = request("DELETE", "/v1/links/%d" % review["id"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["status"], "distinct")
        r = request("GET", "/v1/links?status=distinct")
        self.assertIn(review["id"], [x["id"] for x in r.json()["links"]])


class TestRefusals(unittest.TestCase):

    def test_not_admin(self):
        for method, path, body in (("POST", "/v1/links", {"a": "1.2|x", "b": "1.2|y",
                                                          "reason": "r"}),
                                   ("DELETE", "/v1/links/1", None),
                                   ("GET", "/v1/links?status=review", None)):
            for cert in ("good2", CERTS["hanbit"]):
                seq0 = cdxtest.audit_max_seq(GW)
                r = request(method, path, body, cert=cert)
                problem_check(self, r, 403, "FORBIDDEN")
                rows = wait_rows(seq0, "status=403")
                self.assertEqual(rows[0][:2], ("patient.query" if method == "GET"
                                               else "access.denied", 8), rows)

    def test_patients_needs_query_role(self):
        r = request("GET", "/v1/patients?identifier=1.2.3%7Cx")
        problem_check(self, r, 403, "FORBIDDEN")

    def test_link_refusals(self):
        h = unique("X")
        push("hanbit", h)
        good = ident("hanbit", h)
        cases = [
            ({"a": good, "b": ident("dasom", "NOBODY"), "reason": "r"}, 404, "PATIENT_NOT_FOUND"),
            ({"a": good, "b": good, "reason": "r"}, 422, "LINK_SAME_IDENTITY"),
            ({"a": "not-an-id", "b": good, "reason": "r"}, 422, "LINK_INVALID"),
            ({"a": good, "b": good}, 422, "LINK_INVALID"),
            ({"a": good, "b": good, "reason": ""}, 422, "LINK_INVALID"),
            ({"a": good, "b": good, "reason": "a\u0007b"}, 422, "LINK_INVALID"),
            ({"a": good, "b": good, "reason": "x" * 501}, 422, "LINK_INVALID"),
            ({"a": good, "b": good, "reason": "r", "extra": 1}, 422, "LINK_INVALID"),
            (b"{not json", 422, "LINK_INVALID"),
            (b"[]", 422, "LINK_INVALID"),
            (b'{"a":"1.2|x","a":"1.2|y","b":"1.2|z","reason":"r"}', 422, "LINK_INVALID"),
            (b"{" + b" " * 5000 + b"}", 413, "BODY_TOO_LARGE"),
        ]
        for body, status, code in cases:
            seq0 = cdxtest.audit_max_seq(GW)
            r = request("POST", "/v1/links", body)
            p = problem_check(self, r, status, code)
            self.assertNotIn(h, p["detail"])
            rows = wait_rows(seq0, "code=" + code)
            self.assertEqual(rows[0][:2], ("patient.link", 4), (body, rows))
            self.assertIn("code=" + code, rows[0][4])
            self.assertNotIn(h, rows[0][4])
        r = request("POST", "/v1/links", {"a": good, "b": good, "reason": "r"}, ctype="text/plain")
        problem_check(self, r, 415, "UNSUPPORTED_MEDIA_TYPE")
        # A field named in the detail.
        r = request("POST", "/v1/links", {"a": good, "b": "1.2.3"})
        self.assertIn("b must be", problem_check(self, r, 422, "LINK_INVALID")["detail"])

    def test_same_person(self):
        a, b, c = unique("S1"), unique("S2"), unique("S3")
        push("hanbit", a)
        push("dasom", b)
        push("dasom", c)
        for x, y in ((a, b), (b, c)):
            r = request("POST", "/v1/links", {"a": ident("hanbit" if x == a else "dasom", x),
                                              "b": ident("dasom", y), "reason": "r"})
            self.assertEqual(r.status, 201, r)
        r = request("POST", "/v1/links", {"a": ident("hanbit", a), "b": ident("dasom", c),
                                          "reason": "r"})
        problem_check(self, r, 409, "LINK_SAME_PERSON")

    def test_unlink_refusals(self):
        for path in ("/v1/links/99999999", "/v1/links/abc", "/v1/links/0", "/v1/links/-1"):
            seq0 = cdxtest.audit_max_seq(GW)
            r = request("DELETE", path)
            problem_check(self, r, 404, "LINK_NOT_FOUND")
            rows = wait_rows(seq0, "LINK_NOT_FOUND")
            self.assertEqual(rows[0][:2], ("patient.unlink", 4))

    def test_list_and_query_parameters(self):
        for path, code in (("/v1/links?status=maybe", "PARAMETER_INVALID"),
                           ("/v1/links?limit=0", "PARAMETER_INVALID"),
                           ("/v1/links?limit=501", "PARAMETER_INVALID"),
                           ("/v1/links?color=red", "PARAMETER_UNKNOWN")):
            seq0 = cdxtest.audit_max_seq(GW)
            problem_check(self, request("GET", path), 400, code)
            rows = wait_rows(seq0, "code=" + code)
            self.assertEqual(rows[0][:2], ("patient.query", 4))
            self.assertEqual(rows[0][4], "route=links.list status=400 code=" + code)
        for path, code in (("/v1/patients", "PATIENT_QUERY_INCOMPLETE"),
                           ("/v1/patients?family=Kim", "PATIENT_QUERY_INCOMPLETE"),
                           ("/v1/patients?identifier=nope", "PATIENT_ID_INVALID"),
                           ("/v1/patients?family=Kim&birthdate=1980-13-45", "DATE_INVALID"),
                           ("/v1/patients?family=Kim&birthdate=1980", "PARAMETER_INVALID"),
                           ("/v1/patients?family=Kim&birthdate=19800101&gender=Q",
                            "PARAMETER_INVALID"),
                           ("/v1/patients?identifier=1.2.3%7Cx&family=Kim", "PARAMETER_INVALID"),
                           ("/v1/patients?x=1", "PARAMETER_UNKNOWN")):
            seq0 = cdxtest.audit_max_seq(GW)
            problem_check(self, request("GET", path, cert="good2"), 400, code)
            rows = wait_rows(seq0, "code=" + code)
            self.assertEqual(rows[0][:2], ("patient.query", 4))
            self.assertEqual(rows[0][4], "route=patients.query status=400 code=" + code)
        r = request("GET", "/v1/patients?family=Nobody&birthdate=19800101", cert="good2")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"persons": []})

    def test_audit_chain_intact(self):
        r = cdxtest.audit_verify(GW.conf)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    cdxtest.main()
