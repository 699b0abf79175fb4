#!/usr/bin/env python3
"""Record requests and subscriptions: a clinic asks for a patient's
documents (once, or from now on) and the gateway delivers what the clinic
may see to its registered endpoint (a test receiver) over mutual TLS.

One gateway and its receivers are shared by the cases; each case uses its
own patients."""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Gateway, Institution, wait_for  # noqa: E402
from cdxreceiver import Receiver, issue_server_cert  # noqa: E402

A = "2.25.2001"   # the hospital that stores the documents
C = "2.25.2002"   # a clinic that asks (query role, an endpoint)
G = "2.25.2003"   # another clinic that asks (no consent of the patients)
N = "2.25.2004"   # a clinic without an endpoint
SUMMARY, CONSULT = "34133-9", "11488-4"
SUB_MAX = 4
BOX_MINUTES = 0.02  # an emergency's time box: about a second

PKI = None
GW = None
RECV = {}


def cda(ext, patient, type_code=SUMMARY, when=b"20240105093000+0900"):
    doc = cdxtest.minimal_cda(custodian_oid=A, doc_ext=ext, patient_ext=patient,
                              effective_time=when)
    return doc.replace(b'<code code="34133-9"', b'<code code="' + type_code.encode() + b'"', 1)


def store(ext, patient, type_code=SUMMARY, when=b"20240105093000+0900"):
    r = cdxtest.post_document(GW, cda(ext, patient, type_code, when), cert="good")
    assert r.status == 201, r
    return json.loads(r.body)["id"]


def post_json(path, cert, body, method="POST"):
    data = body if isinstance(body, str) else json.dumps(body)
    return cdxtest.curl(GW, path, cert=cert, method=method, data=data,
                        extra=["-H", "Content-Type: application/json"])


def post_json_as(path, cert, body, purpose, reason):
    """post_json with a purpose of use and its reason."""
    return cdxtest.curl(GW, path, cert=cert, method="POST", data=json.dumps(body),
                        extra=["-H", "Content-Type: application/json",
                               "-H", "X-CDX-Purpose: " + purpose, "-H", "X-CDX-Reason: " + reason])


def glass_count():
    """cdxgw_access_breakglass_total now."""
    s = cdxtest.metric_samples(GW.metrics(), "cdxgw_access_breakglass_total")
    return s[0][1] if s else 0.0


def patient(ext):
    return "%s.1|%s" % (A, ext)


def received(oid):
    """The document ids the receiver of oid was sent."""
    return [q["headers"].get("x-cdx-document-id") for q in RECV[oid].requests]


def delivery(uid, dest):
    rows = cdxtest.registry_query(GW, "SELECT state, reason, reason_id FROM deliveries"
                                  " WHERE document_uid = ? AND destination = ?", (uid, dest))
    return rows[0] if rows else None


def problem(tc, r, status, code):
    tc.assertEqual(r.status, status, r)
    doc = json.loads(r.body)
    tc.assertEqual(doc["code"], code, doc)
    return doc


def setUpModule():
    global PKI, GW
    cdxtest.require_binary()
    PKI = cdxtest.shared_pki()
    ca = PKI.ca
    PKI.req_client = ca.issue("req-gateway-client")
    PKI.req_c = ca.issue("req-clinic-c")
    PKI.req_g = ca.issue("req-clinic-g")
    PKI.req_n = ca.issue("req-clinic-n")
    for oid, name in ((C, "c"), (G, "g")):
        cert = issue_server_cert(ca, "req-" + name, "DNS:localhost,IP:127.0.0.1,URI:urn:oid:" + oid)
        RECV[oid] = Receiver(cert.crt, cert.key, ca.crt).start()

    def ep(oid):
        return "https://127.0.0.1:%d/v1/documents" % RECV[oid].port
    GW = Gateway(PKI, name="requests", settings={
        "delivery_cert": PKI.req_client.crt, "delivery_key": PKI.req_client.key,
        "delivery_poll_ms": 50, "delivery_backoff_min_ms": 200, "delivery_backoff_max_ms": 800,
        "subscriptions_max_per_institution": SUB_MAX, "breakglass_minutes": BOX_MINUTES,
        "match_link_threshold": "1000", "match_review_threshold": "999"},
        institutions=[Institution(A, "Hospital A", PKI.good, roles="submit"),
                      Institution(C, "Clinic C", PKI.req_c, roles="query", endpoint=ep(C)),
                      Institution(G, "Clinic G", PKI.req_g, roles="query", endpoint=ep(G)),
                      Institution(N, "Clinic N", PKI.req_n, roles="query")]).start()


def tearDownModule():
    if GW is not None:
        GW.stop()
    for r in RECV.values():
        r.stop()


class RequestTest(unittest.TestCase):
    def test_a_request_delivers_exactly_what_matches(self):
        old = store("RQ-A1", "RQ-P1", SUMMARY, b"20200105093000+0900")
        new = store("RQ-A2", "RQ-P1", SUMMARY, b"20240105093000+0900")
        consult = store("RQ-A3", "RQ-P1", CONSULT)
        other = store("RQ-A4", "RQ-P9", SUMMARY)
        r = cdxtest.put_consent(GW, PKI.good, (A + ".1", "RQ-P1"),
                                {"decision": "permit", "scope": {"institutions": [C]}})
        self.assertEqual(r.status, 201, r)
        r = post_json("/v1/requests", "req_c",
                      {"patient": patient("RQ-P1"), "types": [SUMMARY], "from": "2023"})
        self.assertEqual(r.status, 202, r)
        ans = json.loads(r.body)
        self.assertEqual(ans["count"], 1, ans)
        self.assertEqual(ans["documents"], [new])
        self.assertIn("location: /v1/requests/" + ans["id"], r.headers.lower())
        wait_for(lambda: delivery(new, C)[0] == "delivered", timeout=15, what="the delivery")
        self.assertIn("%s.2^RQ-A2" % A, received(C))
        for uid in (old, consult, other):
            self.assertIsNone(delivery(uid, C))
        self.assertEqual(delivery(new, C), ("delivered", "request", ans["id"]))
        # The request shows each document's delivery.
        r = cdxtest.curl(GW, "/v1/requests/" + ans["id"], cert="req_c")
        self.assertEqual(r.status, 200, r)
        got = json.loads(r.body)
        self.assertEqual([(d["id"], d["state"]) for d in got["documents"]], [(new, "delivered")])
        self.assertEqual(got["deliveries"], {"pending": 0, "delivered": 1, "dead": 0})
        self.assertEqual(got["types"], [SUMMARY])
        # Without filters: every document C may see, the one delivered kept once.
        r = post_json("/v1/requests", "req_c", {"patient": patient("RQ-P1")})
        ans2 = json.loads(r.body)
        self.assertEqual(sorted(ans2["documents"]), sorted([old, new, consult]))
        wait_for(lambda: all(delivery(u, C)[0] == "delivered" for u in (old, consult)),
                 timeout=15, what="both deliveries")
        self.assertEqual(received(C).count("%s.2^RQ-A2" % A), 1)
        # Audited with the change, without the id in clear.
        rows = cdxtest.registry_query(GW, "SELECT outcome, patient_key, detail FROM audit"
                                      " WHERE event = 'request.create' AND detail LIKE ?",
                                      ("request=%s %%" % ans["id"],))
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0][0], 0)
        self.assertNotIn("RQ-P1", json.dumps(rows))

    def test_b_consent_decides_and_nothing_leaks(self):
        denied = store("RQ-B1", "RQ-P2")
        r = cdxtest.put_consent(GW, PKI.good, (A + ".1", "RQ-P2"),
                                {"decision": "deny", "scope": {"institutions": [C]}})
        self.assertEqual(r.status, 201, r)
        withheld = post_json("/v1/requests", "req_c", {"patient": patient("RQ-P2")})
        unknown = post_json("/v1/requests", "req_c", {"patient": patient("RQ-NOBODY")})
        # G has no consent of RQ-P1 at all.
        none = post_json("/v1/requests", "req_g", {"patient": patient("RQ-P2")})
        for r in (withheld, unknown, none):
            self.assertEqual(r.status, 202, r)
            ans = json.loads(r.body)
            self.assertEqual(sorted(ans), ["count", "documents", "id", "status"], ans)
            self.assertEqual((ans["count"], ans["documents"]), (0, []))
        self.assertIsNone(delivery(denied, C))
        self.assertIsNone(delivery(denied, G))
        r = cdxtest.curl(GW, "/v1/requests/" + json.loads(unknown.body)["id"], cert="req_c")
        self.assertEqual(json.loads(r.body)["count"], 0)
        outcomes = cdxtest.registry_query(GW, "SELECT outcome FROM audit WHERE event ="
                                          " 'request.create' AND detail LIKE ?",
                                          ("request=%s %%" % json.loads(unknown.body)["id"],))
        self.assertEqual(outcomes, [(4,)])

    def test_c_another_institution_finds_nothing(self):
        r = post_json("/v1/requests", "req_c", {"patient": patient("RQ-P3")})
        rid = json.loads(r.body)["id"]
        r = post_json("/v1/subscriptions", "req_c", {"patient": patient("RQ-P3")})
        self.assertEqual(r.status, 201, r)
        sid = json.loads(r.body)["id"]
        mine = cdxtest.curl(GW, "/v1/requests/" + rid, cert="req_g")
        madeup = cdxtest.curl(GW, "/v1/requests/" + "0" * 32, cert="req_g")
        for r in (mine, madeup):
            doc = problem(self, r, 404, "REQUEST_NOT_FOUND")
            doc.pop("request_id")
        self.assertEqual(json.loads(mine.body)["detail"], json.loads(madeup.body)["detail"])
        # Both reads are access attempts: each leaves the same failed request.read record,
        # naming no patient.
        for uid in (rid, "0" * 32):
            rows = cdxtest.registry_query(GW, "SELECT outcome, patient_key, detail FROM audit"
                                          " WHERE event = 'request.read' AND actor_oid = ?"
                                          " AND document_id = ?", (G, uid))
            self.assertEqual(rows, [(4, None, "route=requests.get status=404"
                                              " code=REQUEST_NOT_FOUND")], uid)
        r = cdxtest.curl(GW, "/v1/subscriptions/" + sid, cert="req_g", method="DELETE")
        problem(self, r, 404, "SUBSCRIPTION_NOT_FOUND")
        r = cdxtest.curl(GW, "/v1/subscriptions/nonsense", cert="req_g", method="DELETE")
        problem(self, r, 404, "SUBSCRIPTION_NOT_FOUND")
        r = cdxtest.curl(GW, "/v1/subscriptions", cert="req_g")
        self.assertNotIn(sid, r.body)
        r = cdxtest.curl(GW, "/v1/subscriptions", cert="req_c")
        self.assertIn(sid, [s["id"] for s in json.loads(r.body)["subscriptions"]])
        # The hospital (no query role) may not ask at all.
        r = post_json("/v1/requests", "good", {"patient": patient("RQ-P3")})
        self.assertEqual(r.status, 403, r)
        self.assertEqual(cdxtest.curl(GW, "/v1/subscriptions/" + sid, cert="req_c",
                                      method="DELETE").status, 200)
        n = cdxtest.registry_query(GW, "SELECT count(*) FROM audit WHERE event ="
                                   " 'subscription.delete' AND outcome = 0 AND detail = ?",
                                   ("subscription=" + sid,))
        self.assertEqual(n[0][0], 1)
        n = cdxtest.registry_query(GW, "SELECT count(*) FROM audit WHERE event ="
                                   " 'subscription.delete' AND outcome = 4")
        self.assertGreaterEqual(n[0][0], 2)

    def test_d_a_subscription_delivers_new_documents_until_deleted(self):
        before = store("RQ-D0", "RQ-P4")
        r = cdxtest.put_consent(GW, PKI.good, (A + ".1", "RQ-P4"),
                                {"decision": "permit", "scope": {"institutions": [C]}})
        self.assertEqual(r.status, 201, r)
        r = post_json("/v1/subscriptions", "req_c",
                      {"patient": patient("RQ-P4"), "types": [SUMMARY]})
        self.assertEqual(r.status, 201, r)
        sid = json.loads(r.body)["id"]
        self.assertIn("location: /v1/subscriptions/" + sid, r.headers.lower())
        match = store("RQ-D1", "RQ-P4", SUMMARY)
        other_type = store("RQ-D2", "RQ-P4", CONSULT)
        wait_for(lambda: (delivery(match, C) or [0])[0] == "delivered", timeout=15,
                 what="the delivery")
        self.assertIn("%s.2^RQ-D1" % A, received(C))
        self.assertEqual(delivery(match, C), ("delivered", "subscription", sid))
        self.assertIsNone(delivery(other_type, C))
        self.assertIsNone(delivery(before, C))
        # G's subscription to the same person: no consent, nothing.
        r = post_json("/v1/subscriptions", "req_g", {"patient": patient("RQ-P4")})
        self.assertEqual(r.status, 201, r)
        gsid = json.loads(r.body)["id"]
        r = cdxtest.curl(GW, "/v1/subscriptions/" + sid, cert="req_c", method="DELETE")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(json.loads(r.body), {"id": sid, "status": "ended"})
        after = store("RQ-D3", "RQ-P4", SUMMARY)
        self.assertIsNone(delivery(after, C))
        self.assertIsNone(delivery(after, G))
        self.assertEqual(cdxtest.curl(GW, "/v1/subscriptions/" + gsid, cert="req_g",
                                      method="DELETE").status, 200)
        n = cdxtest.registry_query(GW, "SELECT count(*) FROM audit WHERE event ="
                                   " 'subscription.create' AND outcome = 0")
        self.assertGreaterEqual(n[0][0], 2)

    def test_e_bad_input_names_the_field(self):
        cases = [
            ({"types": [SUMMARY]}, "PATIENT_REQUIRED", "'patient'"),
            ({"patient": "RQ-P1"}, "PATIENT_ID_INVALID", "'patient'"),
            ({"patient": patient("X"), "types": ["summary"]}, "DOCUMENT_TYPE_INVALID", "'types'"),
            ({"patient": patient("X"), "types": ["34133-8"]}, "DOCUMENT_TYPE_INVALID", "'types'"),
            ({"patient": patient("X"), "from": "2024", "to": "2020"}, "DATE_RANGE_INVALID",
             "'from'"),
            ({"patient": patient("X"), "from": "soon"}, "DATE_INVALID", "'from'"),
            ({"patient": patient("X"), "colour": 1}, "REQUEST_BODY_INVALID", "'colour'"),
            ("[1, 2", "REQUEST_BODY_INVALID", "JSON object"),
        ]
        for body, code, field in cases:
            doc = problem(self, post_json("/v1/requests", "req_c", body), 400, code)
            self.assertIn(field, doc["detail"])
        doc = problem(self, post_json("/v1/subscriptions", "req_c", {"types": [SUMMARY]}), 400,
                      "PATIENT_REQUIRED")
        self.assertIn("'patient'", doc["detail"])
        problem(self, post_json("/v1/subscriptions", "req_c",
                                {"patient": patient("X"), "to": "2020"}), 400,
                "REQUEST_BODY_INVALID")
        for path in ("/v1/requests", "/v1/subscriptions"):
            problem(self, post_json(path, "req_n", {"patient": patient("X")}), 409,
                    "ENDPOINT_REQUIRED")
        n = cdxtest.registry_query(GW, "SELECT count(*) FROM audit WHERE event ="
                                   " 'request.create' AND outcome = 4 AND detail LIKE ?",
                                   ("%code=DATE_RANGE_INVALID%",))
        self.assertEqual(n[0][0], 1)

    def test_f_subscriptions_are_capped(self):
        made = []
        for i in range(SUB_MAX + 1):
            r = post_json("/v1/subscriptions", "req_g", {"patient": patient("RQ-CAP-%d" % i)})
            if r.status == 409:
                problem(self, r, 409, "SUBSCRIPTION_LIMIT")
                break
            self.assertEqual(r.status, 201, r)
            made.append(json.loads(r.body)["id"])
        self.assertLessEqual(len(made), SUB_MAX)
        r = post_json("/v1/subscriptions", "req_g", {"patient": patient("RQ-CAP-X")})
        problem(self, r, 409, "SUBSCRIPTION_LIMIT")
        # Ending one makes room again.
        self.assertEqual(cdxtest.curl(GW, "/v1/subscriptions/" + made[0], cert="req_g",
                                      method="DELETE").status, 200)
        r = post_json("/v1/subscriptions", "req_g", {"patient": patient("RQ-CAP-X")})
        self.assertEqual(r.status, 201, r)
        for sid in made[1:] + [json.loads(r.body)["id"]]:
            cdxtest.curl(GW, "/v1/subscriptions/" + sid, cert="req_g", method="DELETE")

    def test_g_a_narrower_consent_stops_a_pending_request_delivery(self):
        uid = store("RQ-G1", "RQ-P7")
        r = cdxtest.put_consent(GW, PKI.good, (A + ".1", "RQ-P7"),
                                {"decision": "permit", "scope": {"institutions": [C]}})
        self.assertEqual(r.status, 201, r)
        rcv = RECV[C]
        rcv.set_mode("429")  # asks to wait: the delivery stays pending
        try:
            r = post_json("/v1/requests", "req_c", {"patient": patient("RQ-P7")})
            self.assertEqual(json.loads(r.body)["documents"], [uid])
            rid = json.loads(r.body)["id"]
            wait_for(lambda: cdxtest.registry_query(
                GW, "SELECT attempts FROM deliveries WHERE document_uid = ? AND destination = ?",
                (uid, C))[0][0] >= 1, timeout=15, what="a first attempt")
            # The patient's newer permit names G only: nothing denies C, but
            # nothing allows it any more either.
            r = cdxtest.put_consent(GW, PKI.good, (A + ".1", "RQ-P7"),
                                    {"decision": "permit", "scope": {"institutions": [G]}})
            self.assertEqual(r.status, 201, r)
            rcv.set_mode("ok")
            wait_for(lambda: delivery(uid, C)[0] == "dead", timeout=20, what="the delivery dead")
            err = cdxtest.registry_query(GW, "SELECT last_error FROM deliveries WHERE"
                                         " document_uid = ? AND destination = ?", (uid, C))
            self.assertIn("consent", err[0][0])
        finally:
            rcv.set_mode("ok")
        # Read again, the request no longer shows the document it may not see.
        r = cdxtest.curl(GW, "/v1/requests/" + rid, cert="req_c")
        self.assertEqual(r.status, 200, r)
        got = json.loads(r.body)
        self.assertEqual(got["documents"], [{"state": "withheld", "code": "CONSENT_REQUIRED"}])
        self.assertEqual(got["withheld"], {"consent": 1})
        self.assertEqual(got["deliveries"], {"pending": 0, "delivered": 0, "dead": 0})
        self.assertNotIn(uid, r.body)

    def test_h_an_emergency_request_is_sent_as_it_was_asked(self):
        """The send-time check decides with the request's purpose: an ETREAT
        request's delivery still pending after its break-glass time box has
        closed leaves as break-glass (no consent), audited so."""
        uid = store("RQ-H1", "RQ-P8")
        rcv = RECV[C]
        rcv.set_mode("429")  # asks to wait: the delivery stays pending
        try:
            r = post_json_as("/v1/requests", "req_c", {"patient": patient("RQ-P8")},
                             "ETREAT", "unconscious patient in the emergency room")
            self.assertEqual(r.status, 202, r)
            rid = json.loads(r.body)["id"]
            self.assertEqual(json.loads(r.body)["documents"], [uid])
            wait_for(lambda: cdxtest.registry_query(
                GW, "SELECT attempts FROM deliveries WHERE document_uid = ? AND destination = ?",
                (uid, C))[0][0] >= 1, timeout=15, what="a first attempt")
            self.assertEqual(cdxtest.registry_query(
                GW, "SELECT purpose FROM deliveries WHERE reason_id = ?", (rid,)), [("ETREAT",)])
            # The outbox shows it (GET /v1/deliveries and `cdxgw deliveries list`).
            r = cdxtest.curl(GW, "/v1/deliveries?destination=" + C, cert="admin")
            self.assertEqual(r.status, 200, r)
            rows = [d for d in json.loads(r.body)["items"] if d["reason_id"] == rid]
            self.assertEqual([(d["document"], d.get("purpose")) for d in rows], [(uid, "ETREAT")])
            # The time box the request opened closes (whole seconds).
            time.sleep(BOX_MINUTES * 60 + 2)
            glass = glass_count()
            rcv.set_mode("ok")
            wait_for(lambda: delivery(uid, C)[0] != "pending", timeout=20,
                     what="the delivery's outcome")
            self.assertEqual(delivery(uid, C), ("delivered", "request", rid))
            # Sent on break-glass: counted as a disclosure on break-glass.
            wait_for(lambda: glass_count() == glass + 1, timeout=10,
                     what="cdxgw_access_breakglass_total counting the delivery")
        finally:
            rcv.set_mode("ok")
        rows = cdxtest.registry_query(
            GW, "SELECT a.purpose, t.decision FROM audit a JOIN audit_atna t ON t.seq = a.seq"
            " WHERE a.event = 'delivery.sent' AND a.document_id = ?", (uid,))
        self.assertEqual(rows, [("ETREAT", "breakglass")])
        # A plain request's delivery is decided as TREAT, and says so.
        plain = store("RQ-H2", "RQ-P8b")
        r = cdxtest.put_consent(GW, PKI.good, (A + ".1", "RQ-P8b"),
                                {"decision": "permit", "scope": {"institutions": [C]}})
        self.assertEqual(r.status, 201, r)
        r = post_json("/v1/requests", "req_c", {"patient": patient("RQ-P8b")})
        self.assertEqual(json.loads(r.body)["documents"], [plain])
        wait_for(lambda: delivery(plain, C)[0] == "delivered", timeout=15, what="the delivery")
        rows = cdxtest.registry_query(
            GW, "SELECT a.purpose, t.decision FROM audit a JOIN audit_atna t ON t.seq = a.seq"
            " WHERE a.event = 'delivery.sent' AND a.document_id = ?", (plain,))
        self.assertEqual(rows, [("TREAT", "consent")])

    def test_j_an_emergency_never_outweighs_a_later_deny(self):
        """An ETREAT request's pending delivery is stopped by the patient's
        deny recorded since, and the dead record says on what purpose and
        decision."""
        uid = store("RQ-J1", "RQ-P11")
        rcv = RECV[C]
        rcv.set_mode("429")
        try:
            r = post_json_as("/v1/requests", "req_c", {"patient": patient("RQ-P11")},
                             "ETREAT", "cardiac arrest on arrival")
            self.assertEqual(json.loads(r.body)["documents"], [uid])
            wait_for(lambda: cdxtest.registry_query(
                GW, "SELECT attempts FROM deliveries WHERE document_uid = ? AND destination = ?",
                (uid, C))[0][0] >= 1, timeout=15, what="a first attempt")
            r = cdxtest.put_consent(GW, PKI.good, (A + ".1", "RQ-P11"), {"decision": "deny"})
            self.assertEqual(r.status, 201, r)
            rcv.set_mode("ok")
            wait_for(lambda: delivery(uid, C)[0] == "dead", timeout=20, what="the delivery dead")
        finally:
            rcv.set_mode("ok")
        self.assertIn("not sent", cdxtest.registry_query(
            GW, "SELECT last_error FROM deliveries WHERE document_uid = ? AND destination = ?",
            (uid, C))[0][0])
        rows = cdxtest.registry_query(
            GW, "SELECT a.purpose, t.decision, t.consent IS NOT NULL FROM audit a"
            " JOIN audit_atna t ON t.seq = a.seq"
            " WHERE a.event = 'delivery.dead' AND a.document_id = ?", (uid,))
        self.assertEqual(rows, [("ETREAT", "consent_denied", 1)])

    def test_i_each_read_decides_again(self):
        """A request read after the patient withdrew part of the consent shows
        what may still be seen and withholds the rest, naming nothing of it;
        the read is audited with what it withheld."""
        summary = store("RQ-I1", "RQ-P10", SUMMARY)
        consult = store("RQ-I2", "RQ-P10", CONSULT)
        r = cdxtest.put_consent(GW, PKI.good, (A + ".1", "RQ-P10"),
                                {"decision": "permit", "scope": {"institutions": [C]}})
        self.assertEqual(r.status, 201, r)
        r = post_json("/v1/requests", "req_c", {"patient": patient("RQ-P10")})
        rid = json.loads(r.body)["id"]
        self.assertEqual(sorted(json.loads(r.body)["documents"]), sorted([summary, consult]))
        wait_for(lambda: all((delivery(u, C) or [0])[0] == "delivered" for u in (summary, consult)),
                 timeout=15, what="both deliveries")
        r = cdxtest.curl(GW, "/v1/requests/" + rid, cert="req_c")
        self.assertEqual(len(json.loads(r.body)["documents"]), 2)
        self.assertNotIn("withheld", json.loads(r.body))
        # The patient withdraws the consult notes from C.
        r = cdxtest.put_consent(GW, PKI.good, (A + ".1", "RQ-P10"),
                                {"decision": "deny",
                                 "scope": {"institutions": [C], "types": [CONSULT]}})
        self.assertEqual(r.status, 201, r)
        r = cdxtest.curl(GW, "/v1/requests/" + rid, cert="req_c")
        self.assertEqual(r.status, 200, r)
        got = json.loads(r.body)
        self.assertEqual(got["count"], 2)
        self.assertEqual(got["documents"][0]["id"], summary)
        self.assertEqual(got["documents"][0]["state"], "delivered")
        self.assertEqual(got["documents"][1], {"state": "withheld", "code": "CONSENT_REQUIRED"})
        self.assertEqual(got["withheld"], {"consent": 1})
        self.assertEqual(got["deliveries"], {"pending": 0, "delivered": 1, "dead": 0})
        self.assertNotIn(consult, r.body)
        rows = cdxtest.registry_query(GW, "SELECT outcome, patient_key IS NOT NULL, detail"
                                      " FROM audit WHERE event = 'request.read' AND actor_oid = ?"
                                      " AND document_id = ? ORDER BY seq", (C, rid))
        self.assertEqual([row[:2] for row in rows], [(0, 1), (0, 1)])
        self.assertEqual(rows[-1][2], "route=requests.get status=200 documents=2 withheld=1/0")
        # Another institution still finds nothing under the id, and is audited.
        problem(self, cdxtest.curl(GW, "/v1/requests/" + rid, cert="req_g"), 404,
                "REQUEST_NOT_FOUND")
        rows = cdxtest.registry_query(GW, "SELECT outcome FROM audit WHERE event = 'request.read'"
                                      " AND actor_oid = ? AND document_id = ?", (G, rid))
        self.assertEqual(rows, [(4,)])


if __name__ == "__main__":
    cdxtest.main()
