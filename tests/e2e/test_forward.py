#!/usr/bin/env python3
"""Forwarding: referrals delivered over mutual TLS from one cdxgw (the
sender) to another (the receiver) and to small test receivers that refuse,
hang, fail or present the wrong certificate; the outbox's states, retries,
bounds, alerts and restart after kill -9.

One sender and one receiver gateway are shared by the cases; each case
uses its own document ids and destinations."""
import json
import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Gateway, Institution, wait_for  # noqa: E402
from cdxreceiver import Receiver, issue_server_cert  # noqa: E402

A = "2.25.1001"          # the hospital that sends referrals (at the sender)
B = "2.25.1002"          # served by the receiving gateway
C = "2.25.1003"          # a test receiver (modes change per case)
D = "2.25.1004"          # a test receiver that hangs
E = "2.25.1005"          # registered, no endpoint
W = "2.25.1006"          # a receiver presenting another institution's certificate
F = "2.25.1007"          # a receiver that is down, then back
RELAY = "2.25.1090"      # the sending gateway, as the receiver knows it
MAX_ATTEMPTS = 4

PKI = None
SENDER = None
RECEIVER = None
RECV = {}


def referral(ext, to, patient_ext="FWD-P-1"):
    """A referral of hospital A addressed to the institutions in to."""
    doc = cdxtest.minimal_cda(custodian_oid=A, doc_ext=ext, patient_ext=patient_ext)
    ir = b"".join(b'<informationRecipient><intendedRecipient><receivedOrganization>'
                  b'<id root="' + oid.encode() + b'"/><name>Clinic</name>'
                  b'</receivedOrganization></intendedRecipient></informationRecipient>'
                  for oid in to)
    return doc.replace(b"</custodian>", b"</custodian>" + ir, 1)


def deliveries(gw, where="1=1", args=()):
    return cdxtest.registry_query(
        gw, "SELECT d.id, d.destination, d.state, d.attempts, coalesce(d.last_error, ''),"
        " coalesce(d.receipt_status, 0), d.document_uid FROM deliveries d WHERE " + where, args)


def delivery_of(ext, dest):
    uid = cdxtest.doc_uid("%s.2^%s" % (A, ext))
    rows = deliveries(SENDER, "d.document_uid = ? AND d.destination = ?", (uid, dest))
    return rows[0] if rows else None


def wait_state(ext, dest, state, timeout=20):
    return wait_for(lambda: (delivery_of(ext, dest) or [None] * 3)[2] == state and
                    delivery_of(ext, dest), timeout=timeout, interval=0.05,
                    what="delivery of %s to %s %s" % (ext, dest, state))


def post(ext, to):
    r = cdxtest.post_document(SENDER, referral(ext, to), cert="good")
    assert r.status == 201, r
    return json.loads(r.body)


def sender_institutions(recv_port):
    def ep(port):
        return "https://127.0.0.1:%d/v1/documents" % port
    return [
        Institution(A, "Hospital A", PKI.good),
        Institution(B, "Hospital B", PKI.good2, endpoint=ep(recv_port)),
        Institution(C, "Clinic C", PKI.clinic_c, roles="submit", endpoint=ep(RECV[C].port)),
        Institution(D, "Clinic D", roles="none", endpoint=ep(RECV[D].port),
                    sha256="d" * 64),
        Institution(E, "Clinic E", roles="submit", sha256="e" * 64),
        Institution(W, "Clinic W", roles="none", endpoint=ep(RECV[W].port),
                    sha256="f" * 64),
        Institution(F, "Clinic F", roles="none", endpoint=ep(RECV[F].port),
                    sha256="a" * 64),
    ]


def setUpModule():
    global PKI, SENDER, RECEIVER
    cdxtest.require_binary()
    PKI = cdxtest.shared_pki()
    ca = PKI.ca
    recv_server = issue_server_cert(ca, "fwd-recv-gw", "DNS:localhost,IP:127.0.0.1,URI:urn:oid:" + B)
    PKI.sender_client = ca.issue("fwd-sender-gw")
    PKI.clinic_c = ca.issue("fwd-clinic-c")
    for oid, name in ((C, "c"), (D, "d"), (F, "f")):
        cert = issue_server_cert(ca, "fwd-" + name, "DNS:localhost,IP:127.0.0.1,URI:urn:oid:" + oid)
        RECV[oid] = Receiver(cert.crt, cert.key, ca.crt, mode="hang" if oid == D else "ok")
    # W's receiver presents a certificate naming another institution.
    wrong = issue_server_cert(ca, "fwd-w", "DNS:localhost,IP:127.0.0.1,URI:urn:oid:2.25.1099")
    RECV[W] = Receiver(wrong.crt, wrong.key, ca.crt)
    for oid in (C, D, W):
        RECV[oid].start()
    RECEIVER = Gateway(PKI, name="fwd-receiver", settings={
        "tls_cert": recv_server.crt, "tls_key": recv_server.key,
        "match_link_threshold": "1000", "match_review_threshold": "999"},
        institutions=[Institution(A, "Hospital A", PKI.good),
                      Institution(B, "Hospital B", PKI.good2),
                      Institution(RELAY, "Sending gateway", PKI.sender_client,
                                  roles="submit, relay")]).start()
    SENDER = Gateway(PKI, name="fwd-sender", settings={
        "forward_referrals": "true", "delivery_cert": PKI.sender_client.crt, "delivery_key": PKI.sender_client.key,
        "delivery_max_attempts": MAX_ATTEMPTS, "delivery_backoff_min_ms": 200,
        "delivery_backoff_max_ms": 800, "delivery_poll_ms": 50,
        "delivery_connect_timeout_ms": 1000, "delivery_timeout_ms": 2000,
        "delivery_concurrency": 2,
        "match_link_threshold": "1000", "match_review_threshold": "999"},
        institutions=sender_institutions(RECEIVER.port)).start()


def tearDownModule():
    for gw in (SENDER, RECEIVER):
        if gw is not None:
            gw.stop()
    for r in RECV.values():
        r.stop()


class ForwardTest(unittest.TestCase):
    def test_a_referral_reaches_the_receiving_gateway(self):
        ans = post("FWD-1", [B])
        self.assertEqual(ans["deliveries"], 1, ans)
        row = wait_state("FWD-1", B, "delivered")
        self.assertEqual(row[5], 201, row)  # the receipt: the receiver stored it
        uid = row[6]
        # The receiver holds it once, filed under its custodian, relayed by the sender.
        got = cdxtest.registry_query(RECEIVER, "SELECT d.uid, i.oid, r.relay_oid FROM documents d"
                                     " JOIN institutions i ON i.id = d.submitter_id"
                                     " JOIN document_relays r ON r.document_id = d.id"
                                     " WHERE d.uid = ?", (uid,))
        self.assertEqual(got, [(uid, A, RELAY)])
        audit = cdxtest.registry_query(RECEIVER, "SELECT actor_oid, detail FROM audit WHERE"
                                       " event = 'document.ingest' AND document_id = ?", (uid,))
        self.assertEqual(audit[0][0], RELAY)
        self.assertIn("relayed_for=" + A, audit[0][1])
        # Queryable there by the addressee once the patient's home
        # institution has recorded the patient's consent there too: the
        # receiving gateway decides its own disclosures.
        r = cdxtest.curl(RECEIVER, "/v1/documents/" + uid, cert="good2")
        self.assertEqual(r.status, 403, r)
        c = cdxtest.put_consent(RECEIVER, PKI.good, (A + ".1", "FWD-P-1"),
                                {"decision": "permit", "scope": {"institutions": [B]}})
        self.assertEqual(c.status, 201, c)
        r = cdxtest.curl(RECEIVER, "/v1/documents/" + uid, cert="good2")
        self.assertEqual(r.status, 200, r)
        # The sender audited the delivery.
        sent = cdxtest.registry_query(SENDER, "SELECT count(*) FROM audit WHERE"
                                      " event = 'delivery.sent' AND document_id = ?", (uid,))
        self.assertEqual(sent[0][0], 1)
        # A repeated delivery of the same bytes: 200 there, nothing stored twice.
        r = cdxtest.post_document(RECEIVER, referral("FWD-1", [B]), cert=PKI.sender_client)
        self.assertEqual(r.status, 200, r)
        n = cdxtest.registry_query(RECEIVER, "SELECT count(*) FROM documents WHERE uid = ?", (uid,))
        self.assertEqual(n[0][0], 1)

    def test_b_unregistered_addressee_is_a_warning(self):
        ans = post("FWD-2", ["2.25.9999"])
        self.assertEqual(ans["deliveries"], 0)
        rules = [w["rule"] for w in ans["warnings"]]
        self.assertIn("GW-REFERRAL", rules, ans)
        self.assertIn("2.25.9999", json.dumps(ans["warnings"]))
        self.assertIsNone(delivery_of("FWD-2", "2.25.9999"))

    def test_c_no_endpoint_is_dead_at_once_with_one_alert(self):
        post("FWD-3", [E])
        row = wait_state("FWD-3", E, "dead")
        self.assertIn("no endpoint", row[4])
        n = cdxtest.registry_query(SENDER, "SELECT count(*) FROM audit WHERE event ="
                                   " 'delivery.dead' AND detail LIKE ?",
                                   ("delivery=%d %%" % row[0],))
        self.assertEqual(n[0][0], 1)
        # The log line follows the commit on the loop.
        wait_for(lambda: "event=delivery.dead delivery=%d " % row[0] in SENDER.log(), timeout=5,
                 what="the alert's log line")

    def test_d_wrong_certificate_is_permanent(self):
        before = RECV[W].count()
        post("FWD-4", [W])
        row = wait_state("FWD-4", W, "dead")
        self.assertEqual(row[3], 1, row)          # one attempt, no retry
        self.assertIn("tls_institution", row[4])
        self.assertEqual(RECV[W].count(), before)  # nothing was sent to it

    def test_e_server_error_is_dead_after_the_bound_with_one_alert(self):
        RECV[C].set_mode("500")
        try:
            post("FWD-5", [C])
            row = wait_state("FWD-5", C, "dead", timeout=30)
        finally:
            RECV[C].set_mode("ok")
        self.assertEqual(row[3], MAX_ATTEMPTS, row)
        self.assertIn("http 500", row[4])
        self.assertIn("given up after %d attempts" % MAX_ATTEMPTS, row[4])
        def alerts():
            return re.findall(r"event=delivery\.dead delivery=%d " % row[0], SENDER.log())
        wait_for(alerts, timeout=5, what="the alert's log line")
        time.sleep(0.3)
        self.assertEqual(len(alerts()), 1)
        n = cdxtest.registry_query(SENDER, "SELECT count(*) FROM audit WHERE event ="
                                   " 'delivery.dead' AND detail LIKE ?",
                                   ("delivery=%d %%" % row[0],))
        self.assertEqual(n[0][0], 1)
        wait_for(lambda: 'cdxgw_delivery_dead_total{destination="%s"} 1' % C in SENDER.metrics(),
                 timeout=5, what="the dead metric")

    def test_f_receiver_down_then_back_is_delivered(self):
        rcv = RECV[F]  # not listening yet
        post("FWD-6", [F])
        # Two attempts refused and their retries scheduled (the attempt
        # counter moves when an attempt starts, so it alone would let the
        # receiver come up during the second).
        did = wait_for(lambda: delivery_of("FWD-6", F), timeout=15, what="the delivery")[0]
        wait_for(lambda: len(re.findall(r"event=delivery\.retry delivery=%d " % did,
                                        SENDER.log())) >= 2,
                 timeout=15, what="two refused attempts")
        rcv.start()
        row = wait_state("FWD-6", F, "delivered", timeout=15)
        self.assertGreaterEqual(row[3], 3)
        delays = [int(x) for x in re.findall(
            r"event=delivery\.retry delivery=%d destination=\S+ attempts=\d+ delay_ms=(\d+)"
            % row[0], SENDER.log())]
        self.assertGreaterEqual(len(delays), 2, delays)
        # Backoff 200 ms doubling, less up to half as jitter.
        self.assertTrue(100 <= delays[0] <= 200, delays)
        self.assertTrue(200 <= delays[1] <= 400, delays)
        req = rcv.requests[-1]
        self.assertEqual(req["headers"]["content-type"], "application/xml")
        self.assertEqual(req["headers"]["x-cdx-document-id"], "%s.2^FWD-6" % A)
        self.assertEqual(req["headers"]["x-cdx-delivery-id"], str(row[0]))
        self.assertEqual(req["body"], referral("FWD-6", [F]))

    def test_g_retry_after_is_honoured(self):
        RECV[C].retry_after = 1
        RECV[C].set_mode("429")
        try:
            post("FWD-7", [C])
            wait_for(lambda: RECV[C].count() and any(
                r["headers"].get("x-cdx-document-id", "").endswith("FWD-7")
                for r in RECV[C].requests), timeout=10, what="the first attempt")
            time.sleep(0.5)
            RECV[C].set_mode("ok")
            row = wait_state("FWD-7", C, "delivered", timeout=10)
        finally:
            RECV[C].set_mode("ok")
        times = [r["time"] for r in RECV[C].requests
                 if r["headers"].get("x-cdx-document-id", "").endswith("FWD-7")]
        self.assertEqual(row[3], 2, row)
        self.assertGreaterEqual(times[1] - times[0], 0.95)

    def test_h_a_hanging_destination_does_not_delay_another(self):
        hung_before = RECV[D].count()
        t0 = time.monotonic()
        post("FWD-8", [D, B])
        wait_state("FWD-8", B, "delivered", timeout=10)
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, 1.5, "the healthy destination waited %.2f s" % elapsed)
        wait_for(lambda: RECV[D].count() > hung_before, timeout=5, what="the hanging request")
        self.assertEqual(delivery_of("FWD-8", D)[2], "pending")

    def test_h2_concurrency_per_destination_is_capped(self):
        for k in range(3):
            post("FWD-9-%d" % k, [D])
        wait_for(lambda: RECV[D].active >= 2, timeout=5, what="two hanging requests")
        time.sleep(0.5)
        self.assertEqual(RECV[D].max_active, 2)  # delivery_concurrency

    def test_i_operators_list(self):
        r = cdxtest.curl(SENDER, "/v1/deliveries?status=dead&limit=1", cert="admin")
        self.assertEqual(r.status, 200, r)
        body = json.loads(r.body)
        self.assertEqual(len(body["items"]), 1)
        self.assertEqual(body["items"][0]["state"], "dead")
        self.assertIn("next_cursor", body)
        r2 = cdxtest.curl(SENDER, "/v1/deliveries?status=dead&limit=1&cursor=" +
                          body["next_cursor"], cert="admin")
        self.assertEqual(r2.status, 200, r2)
        self.assertLess(json.loads(r2.body)["items"][0]["id"], body["items"][0]["id"])
        r = cdxtest.curl(SENDER, "/v1/deliveries", cert="good")
        self.assertEqual(r.status, 403, r)
        r = cdxtest.curl(SENDER, "/v1/deliveries?status=lost", cert="admin")
        self.assertEqual(r.status, 400, r)
        # The command: retry a dead delivery, which the receiver now takes.
        row = delivery_of("FWD-5", C)
        p = cdxtest.run([cdxtest.BIN, "deliveries", "retry", str(row[0]), "--config",
                         SENDER.conf], check=False)
        self.assertEqual(p.returncode, 0, p)
        wait_state("FWD-5", C, "delivered", timeout=10)
        p = cdxtest.run([cdxtest.BIN, "deliveries", "list", "--status", "delivered",
                         "--config", SENDER.conf], check=False)
        self.assertEqual(p.returncode, 0, p)
        self.assertIn('"state":"delivered"', p.stdout)

    def test_j_receiver_patient_id_when_linked(self):
        # Clinic C knows the patient as C-77; an administrator links that
        # identity with hospital A's.
        own = cdxtest.minimal_cda(custodian_oid=C, doc_ext="C-DOC-1", patient_ext="C-77")
        r = cdxtest.post_document(SENDER, own, cert=PKI.clinic_c)
        self.assertEqual(r.status, 201, r)
        r = cdxtest.post_document(SENDER, cdxtest.minimal_cda(custodian_oid=A, doc_ext="FWD-J0",
                                                              patient_ext="FWD-P-J"), cert="good")
        self.assertEqual(r.status, 201, r)
        link = json.dumps({"a": "%s.1|FWD-P-J" % A, "b": "%s.1|C-77" % C, "reason": "same person"})
        r = cdxtest.curl(SENDER, "/v1/links", cert="admin", method="POST", data=link,
                         extra=["-H", "Content-Type: application/json"])
        self.assertEqual(r.status, 201, r)
        doc = referral("FWD-J1", [C], patient_ext="FWD-P-J")
        r = cdxtest.post_document(SENDER, doc, cert="good")
        self.assertEqual(r.status, 201, r)
        wait_state("FWD-J1", C, "delivered")
        req = [q for q in RECV[C].requests
               if q["headers"].get("x-cdx-document-id") == "%s.2^FWD-J1" % A][-1]
        self.assertEqual(req["headers"].get("x-cdx-patient"), "%s.1|C-77" % C)
        # Without a link, no X-CDX-Patient.
        req = [q for q in RECV[C].requests
               if q["headers"].get("x-cdx-document-id") == "%s.2^FWD-5" % A][-1]
        self.assertNotIn("x-cdx-patient", req["headers"])

    def test_k_withdrawn_consent_stops_a_pending_delivery(self):
        rcv = RECV[C]
        rcv.set_mode("429")  # asks to wait (Retry-After: 1 s): the delivery stays pending
        try:
            r = cdxtest.post_document(SENDER, referral("FWD-11", [C], patient_ext="FWD-P-11"),
                                      cert="good")
            self.assertEqual(r.status, 201, r)
            wait_for(lambda: (delivery_of("FWD-11", C) or [0] * 4)[3] >= 1, timeout=15,
                     what="a first attempt")
            self.assertEqual(delivery_of("FWD-11", C)[2], "pending")
            # The patient's home institution records a withdrawal for C.
            c = cdxtest.put_consent(SENDER, PKI.good, (A + ".1", "FWD-P-11"),
                                    {"decision": "deny", "scope": {"institutions": [C]}})
            self.assertEqual(c.status, 201, c)
            seen = sum(1 for q in rcv.requests
                       if q["headers"].get("x-cdx-document-id") == "%s.2^FWD-11" % A)
            rcv.set_mode("ok")
            row = wait_state("FWD-11", C, "dead", timeout=20)
            self.assertIn("consent", row[4])
            # Not sent again once withdrawn (one attempt may have been in flight).
            after = sum(1 for q in rcv.requests
                        if q["headers"].get("x-cdx-document-id") == "%s.2^FWD-11" % A)
            self.assertLessEqual(after, seen + 1)
            n = cdxtest.registry_query(SENDER, "SELECT count(*) FROM audit WHERE event ="
                                       " 'delivery.dead' AND detail LIKE ?",
                                       ("delivery=%d %%" % row[0],))
            self.assertEqual(n[0][0], 1)
        finally:
            rcv.set_mode("ok")

    def test_z_kill_during_a_burst_then_every_delivery_completes(self):
        global SENDER
        n = 20
        for i in range(n):
            post("FWD-BURST-%d" % i, [B])
            if i == n // 2:
                SENDER.proc.send_signal(signal.SIGKILL)
                SENDER.proc.wait()
                break
        sent = i + 1
        SENDER.start()
        for i in range(sent, n):
            post("FWD-BURST-%d" % i, [B])
        for i in range(n):
            wait_state("FWD-BURST-%d" % i, B, "delivered", timeout=30)
        uids = [cdxtest.doc_uid("%s.2^FWD-BURST-%d" % (A, i)) for i in range(n)]
        rows = cdxtest.registry_query(
            RECEIVER, "SELECT uid, count(*) FROM documents WHERE uid IN (%s) GROUP BY uid"
            % ",".join("?" * n), uids)
        self.assertEqual(len(rows), n)
        self.assertTrue(all(c == 1 for _, c in rows))


if __name__ == "__main__":
    cdxtest.main()
