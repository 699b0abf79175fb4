"""End-to-end: the purpose of use a request declares (X-CDX-Purpose).

Over HTTPS with the shared e2e federation:
- TestAccepted: a read and a submission declaring an accepted purpose are
  served, and their audit records carry it (TREAT when none is sent);
- TestRefused: a read (document or metadata) or a submission declaring a
  purpose the gateway does not accept is refused with 400 PURPOSE_UNKNOWN,
  whose detail names the accepted values; nothing is disclosed or stored,
  and the refusal leaves one audit record naming no purpose;
- TestRoleFirst: a read lacking the role is refused with 403 whatever
  purpose it declares."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Conn, Gateway, Institution, problem_check, wait_for  # noqa: E402

PKI = None
GW = None
A = cdxtest.E2E_OID
R = "2.25.1003"
_n = [0]


def setUpModule():
    global PKI, GW
    PKI = cdxtest.shared_pki()
    GW = Gateway(PKI, name="purpose", institutions=[
        Institution(A, "Hospital A", PKI.good, "submit, query"),
        Institution(R, "Research only", PKI.unregistered, "research"),
    ]).start()


def tearDownModule():
    if GW is not None:
        GW.stop()


def doc():
    _n[0] += 1
    return cdxtest.minimal_cda(custodian_oid=A, doc_ext="PURPOSE-%d-%d" % (os.getpid(), _n[0]))


def get(path, headers="", cert="good"):
    with Conn.open(GW, cert=cert) as c:
        c.send(("GET %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n" % (path, headers))
               .encode("latin-1"))
        return c.read_response(timeout=60.0)


def post(body, headers=""):
    with Conn.open(GW, timeout=120.0) as c:
        return cdxtest.raw_post(c, body, timeout=120.0, extra=headers)


def audit_rows(seq0):
    """[(event, outcome, actor, user, purpose, document_id, detail)] after seq0."""
    return cdxtest.registry_query(
        GW, "SELECT event, outcome, actor_oid, actor_user, purpose, document_id, detail"
        " FROM audit WHERE seq > ? ORDER BY seq", (seq0,))


def wait_rows(seq0, n=1):
    return wait_for(lambda: (lambda r: r if len(r) >= n else None)(audit_rows(seq0)),
                    what="%d audit record(s)" % n)


def stored_id():
    r = post(doc())
    assert r is not None and r.status == 201, r
    return r.json()["id"]


class TestAccepted(unittest.TestCase):

    def test_read_with_declared_purpose(self):
        uid = stored_id()
        seq0 = cdxtest.audit_max_seq(GW)
        r = get("/v1/documents/" + uid, "X-CDX-Purpose: ETREAT\r\nX-CDX-User: dr.e2e\r\n"
                "X-CDX-Reason: unconscious on arrival\r\n")
        self.assertEqual(r.status, 200, r)
        self.assertIn(b"ClinicalDocument", r.body)
        rows = wait_rows(seq0)
        self.assertEqual(rows, [("document.read", 0, A, "dr.e2e", "ETREAT", uid,
                                 "form=original")])

    def test_metadata_without_purpose_is_treatment(self):
        uid = stored_id()
        seq0 = cdxtest.audit_max_seq(GW)
        r = get("/v1/documents/%s/metadata" % uid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["id"], uid)
        rows = wait_rows(seq0)
        self.assertEqual([(x[0], x[1], x[4], x[6]) for x in rows],
                         [("document.read", 0, "TREAT", "form=metadata")])

    def test_submission_with_declared_purpose(self):
        seq0 = cdxtest.audit_max_seq(GW)
        r = post(doc(), "X-CDX-Purpose: HOPERAT\r\n")
        self.assertEqual(r.status, 201, r)
        rows = wait_rows(seq0)
        self.assertEqual([(x[1], x[4], x[5]) for x in rows], [(0, "HOPERAT", r.json()["id"])])


class TestRefused(unittest.TestCase):

    def check_refusal(self, r):
        p = problem_check(self, r, 400, "PURPOSE_UNKNOWN")
        self.assertEqual(p["title"], "Unknown purpose of use")
        for accepted in ("TREAT", "ETREAT", "HPAYMT", "PUBHLTH"):
            self.assertIn(accepted, p["detail"])
        self.assertNotIn(b"ClinicalDocument", r.body)

    def test_reads_with_unknown_purpose(self):
        uid = stored_id()
        for path, route, purpose in (("/v1/documents/" + uid, "documents.get", "MARKETING"),
                                     ("/v1/documents/%s/metadata" % uid, "documents.metadata",
                                      "treat")):
            with self.subTest(route=route, purpose=purpose):
                seq0 = cdxtest.audit_max_seq(GW)
                self.check_refusal(get(path, "X-CDX-Purpose: %s\r\n" % purpose))
                rows = wait_rows(seq0)
                self.assertEqual(rows, [("document.read", 4, A, None, None, uid,
                                         "route=%s status=400 code=PURPOSE_UNKNOWN" % route)])

    def test_submission_with_unknown_purpose(self):
        before = cdxtest.table_count(GW, "documents")
        seq0 = cdxtest.audit_max_seq(GW)
        self.check_refusal(post(doc(), "X-CDX-Purpose: Treatment\r\n"))
        rows = wait_rows(seq0)
        self.assertEqual([(x[0], x[1], x[4], x[6]) for x in rows],
                         [("document.reject", 4, None,
                           "route=documents.post status=400 code=PURPOSE_UNKNOWN")])
        self.assertEqual(cdxtest.table_count(GW, "documents"), before)


class TestRoleFirst(unittest.TestCase):

    def test_role_refusal_before_purpose(self):
        uid = stored_id()
        seq0 = cdxtest.audit_max_seq(GW)
        r = get("/v1/documents/" + uid, "X-CDX-Purpose: MARKETING\r\n", cert="unregistered")
        problem_check(self, r, 403, "FORBIDDEN")
        rows = wait_rows(seq0)
        self.assertEqual(rows, [("document.read", 8, R, None, None, uid,
                                 "route=documents.get status=403 code=FORBIDDEN")])


if __name__ == "__main__":
    cdxtest.main()
