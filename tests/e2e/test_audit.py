"""End-to-end: accountability of the audit trail.

One gateway (Hanbit and Dasom submit and query, an administrator), a
checkpoint signed every 5 records:
- TestAtna: every request-side record carries the client's address; the
  public key is served at GET /v1/audit/key;
- TestQuery: GET /v1/audit pages the trail with a signed cursor, filters by
  event and by patient (every linked identity), refuses unknown parameters
  (400) and institutions without the admin role (403), each audited;
- TestAccessLog: the home institution of a patient's id reads who looked at
  that patient's documents; another institution gets 403 ACCESS_LOG_NOT_HOME,
  audited;
- TestVerify: cdxgw audit verify passes on a copy of the registry, then
  fails naming the right record after one changed byte, two swapped
  records, a cut tail after a checkpoint;
- TestExport: the FHIR export parses as AuditEvent JSON lines with the ATNA
  fields, the syslog export as RFC 5424 lines."""

import json
import os
import re
import shutil
import sqlite3
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Conn, Gateway, Institution, problem_check, wait_for  # noqa: E402

PKI = None
GW = None
CERTS = {}
HANBIT = cdxtest.DEMO_OIDS["hanbit"]
DASOM = cdxtest.DEMO_OIDS["dasom"]
PATIENT = (HANBIT + ".1", "AUD-1")
DOC = None
PUB = None


def get(path, cert="admin"):
    with Conn.open(GW, cert=CERTS.get(cert, cert)) as c:
        c.send(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode("latin-1"))
        return c.read_response(timeout=60.0)


def pid(ident):
    return urllib.parse.quote("%s|%s" % ident, safe="")


def rows_after(seq0):
    return cdxtest.registry_query(
        GW, "SELECT a.seq, event, outcome, actor_oid, detail, x.peer FROM audit a"
        " LEFT JOIN audit_atna x USING (seq) WHERE a.seq > ? ORDER BY a.seq", (seq0,))


def wait_event(seq0, event, detail=""):
    return wait_for(lambda: [r for r in rows_after(seq0)
                             if r[1] == event and detail in (r[4] or "")] or None,
                    what="an audit record " + event)


def setUpModule():
    global PKI, GW, CERTS, DOC
    PKI = cdxtest.shared_pki()
    CERTS = cdxtest.institution_certs(PKI, ["hanbit", "dasom"])
    GW = Gateway(PKI, name="audit", institutions=[
        Institution(HANBIT, "Hanbit University Hospital", CERTS["hanbit"], "submit, query"),
        Institution(DASOM, "Dasom Family Clinic", CERTS["dasom"], "submit, query"),
        cdxtest.ADMIN_INSTITUTION(PKI),
    ], settings={"audit_checkpoint_records": "5", "match_link_threshold": "1000",
                 "match_review_threshold": "999"}).start()
    for i in range(3):
        body = cdxtest.minimal_cda(custodian_oid=HANBIT, patient_root=PATIENT[0],
                                   patient_ext=PATIENT[1], doc_ext="AUD-%d-%d" % (os.getpid(), i))
        r = cdxtest.post_document(GW, body, CERTS["hanbit"])
        assert r.status == 201, r
        DOC = cdxtest.curl_json(r)["id"]
    # Dasom reads Hanbit's patient: a document, then the list.
    with Conn.open(GW, cert=CERTS["dasom"]) as c:
        c.send(("GET /v1/documents/%s/metadata HTTP/1.1\r\nHost: localhost\r\n"
                "X-CDX-Purpose: ETREAT\r\nX-CDX-User: dr-lee\r\nX-CDX-Reason: chest pain\r\n\r\n"
                % DOC).encode())
        assert c.read_response(timeout=60.0).status == 200
    assert get("/v1/documents?patient=" + pid(PATIENT), "dasom").status == 200


def tearDownModule():
    if GW is not None:
        GW.stop()


class TestAtna(unittest.TestCase):
    def test_peer_on_request_records(self):
        rows = cdxtest.registry_query(
            GW, "SELECT a.event, x.peer, x.hash_version FROM audit a LEFT JOIN audit_atna x"
            " USING (seq) WHERE a.actor_oid IN (?, ?)", (HANBIT, DASOM))
        self.assertGreaterEqual(len(rows), 5)
        for event, peer, version in rows:
            self.assertEqual((peer, version), ("127.0.0.1", 2), event)
        # Records of the gateway's own start (institutions) have no peer.
        local = cdxtest.registry_query(
            GW, "SELECT x.peer FROM audit a JOIN audit_atna x USING (seq)"
            " WHERE a.actor_oid = 'local:config'")
        self.assertTrue(local and all(p is None for (p,) in local))

    def test_public_key(self):
        global PUB
        r = get("/v1/audit/key", "dasom")
        self.assertEqual(r.status, 200, r)
        self.assertIn(b"-----BEGIN PUBLIC KEY-----", r.body)
        self.assertEqual(len(r.header("x-cdx-key-id") or ""), 32)
        key_file = os.path.join(GW.dir, "data", "audit-ed25519.key")
        self.assertEqual(os.stat(key_file).st_mode & 0o777, 0o600)


class TestQuery(unittest.TestCase):
    def test_paging(self):
        seen, path, pages = [], "/v1/audit?limit=3", 0
        top = cdxtest.audit_max_seq(GW)
        while path and pages < 50:
            r = get(path)
            self.assertEqual(r.status, 200, r)
            body = r.json()
            seen += [rec["seq"] for rec in body["records"]]
            for rec in body["records"]:
                for k in ("ts", "event", "actor", "outcome", "peer", "decision", "reason",
                          "consent", "dicom_event", "hash", "hash_version"):
                    self.assertIn(k, rec)
            nxt = body.get("next")
            path = "/v1/audit?limit=3&cursor=" + urllib.parse.quote(nxt, safe="") if nxt else None
            pages += 1
            if seen and seen[-1] >= top:
                break
        self.assertEqual(seen[:top], list(range(1, top + 1)))
        # The reads are audited themselves.
        self.assertTrue(wait_event(top, "audit.read"))
        r = get("/v1/audit?limit=3&event=document.read&cursor=" +
                urllib.parse.quote(nxt or "x", safe=""))
        problem_check(self, r, 400, "CURSOR_INVALID")

    def test_filters(self):
        r = get("/v1/audit?event=document.read")
        self.assertEqual(r.status, 200, r)
        recs = r.json()["records"]
        self.assertTrue(recs and all(x["event"] == "document.read" for x in recs))
        r = get("/v1/audit?event=breakglass")
        recs = r.json()["records"]
        # The emergency read, and the plain query inside its time box.
        self.assertTrue(recs and all(x["purpose"] == "ETREAT" or x["decision"] == "breakglass"
                                     for x in recs), recs)
        self.assertIn(("document.read", "ETREAT", "chest pain"),
                      [(x["event"], x["purpose"], x["reason"]) for x in recs])
        self.assertIn(("document.query", "breakglass"),
                      [(x["event"], x["decision"]) for x in recs])
        r = get("/v1/audit?patient=" + pid(PATIENT))
        recs = r.json()["records"]
        events = {x["event"] for x in recs}
        self.assertTrue({"document.ingest", "document.read", "document.query"} <= events, events)
        r = get("/v1/audit?from=2000-01-01&to=2000-01-02")
        self.assertEqual(r.json()["count"], 0)

    def test_refusals_audited(self):
        for path, code in (("/v1/audit?x=1", "PARAMETER_UNKNOWN"),
                           ("/v1/audit?event=nope", "PARAMETER_INVALID"),
                           ("/v1/audit?from=yesterday", "DATE_INVALID")):
            seq0 = cdxtest.audit_max_seq(GW)
            problem_check(self, get(path), 400, code)
            rows = wait_event(seq0, "audit.read", "code=" + code)
            self.assertEqual(rows[0][2], 4)
            self.assertIn("code=" + code, rows[0][4])
        seq0 = cdxtest.audit_max_seq(GW)
        problem_check(self, get("/v1/audit", "hanbit"), 403, "FORBIDDEN")
        rows = wait_event(seq0, "audit.read", "code=FORBIDDEN")
        self.assertEqual(rows[0][2:4], (8, HANBIT))
        self.assertEqual(rows[0][5], "127.0.0.1")


class TestAccessLog(unittest.TestCase):
    def test_home_institution_reads(self):
        seq0 = cdxtest.audit_max_seq(GW)
        r = get("/v1/patients/%s/access-log" % pid(PATIENT), "hanbit")
        self.assertEqual(r.status, 200, r)
        acc = r.json()["accesses"]
        dasom = [a for a in acc if a["institution"] == DASOM]
        self.assertEqual({a["event"] for a in dasom}, {"document.read", "document.query"})
        read = [a for a in dasom if a["event"] == "document.read"][0]
        self.assertEqual((read["document_id"], read["purpose"], read["user"]),
                         (DOC, "ETREAT", "dr-lee"))
        # Submissions are not accesses.
        self.assertFalse([a for a in acc if a["event"] == "document.ingest"])
        rows = wait_event(seq0, "audit.read")
        self.assertEqual(rows[0][2:4], (0, HANBIT))
        # Paging.
        r = get("/v1/patients/%s/access-log?limit=1" % pid(PATIENT), "hanbit")
        self.assertEqual(r.json()["count"], 1)
        self.assertIn("next", r.json())

    def test_other_institution_refused(self):
        seq0 = cdxtest.audit_max_seq(GW)
        problem_check(self, get("/v1/patients/%s/access-log" % pid(PATIENT), "dasom"), 403,
                      "ACCESS_LOG_NOT_HOME")
        rows = wait_event(seq0, "access.denied", "ACCESS_LOG_NOT_HOME")
        self.assertEqual(rows[0][2:4], (8, DASOM))
        self.assertIn("ACCESS_LOG_NOT_HOME", rows[0][4])
        problem_check(self, get("/v1/patients/x/access-log", "hanbit"), 400,
                      "PATIENT_ID_INVALID")


def copy_registry(name):
    """A copy of the running gateway's registry in its own data folder, and
    a configuration naming it (no signing key there: --key must be given)."""
    d = os.path.join(GW.dir, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "data"))
    src = cdxtest.registry_ro(GW)
    dst = sqlite3.connect(os.path.join(d, "data", "registry.db"))
    src.backup(dst)
    src.close()
    dst.close()
    conf = os.path.join(d, "cdxgw.conf")
    with open(conf, "w") as f:
        f.write("data_dir = data\n")
    return d, conf


def public_key():
    r = get("/v1/audit/key", "hanbit")
    path = os.path.join(GW.dir, "audit-public.pem")
    with open(path, "wb") as f:
        f.write(r.body)
    return path


def verify(conf, key):
    return cdxtest.run([cdxtest.BIN, "audit", "verify", "--config", conf, "--key", key],
                       check=False, timeout=60)


def edit(d, sql):
    con = sqlite3.connect(os.path.join(d, "data", "registry.db"))
    con.executescript(sql)
    con.commit()
    con.close()


class TestVerify(unittest.TestCase):
    def test_tampering_named(self):
        # Enough records for two signed checkpoints past seq 10, whichever
        # tests ran before this one (reads of a document are audited).
        for _ in range(12):
            self.assertEqual(get("/v1/documents/%s/metadata" % DOC, "hanbit").status, 200)
        wait_for(lambda: (cdxtest.registry_query(
            GW, "SELECT max(seq) FROM audit_checkpoints")[0][0] or 0) >= 10,
            what="a signed checkpoint past seq 10")
        key = public_key()
        d, conf = copy_registry("verify-intact")
        r = verify(conf, key)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("signatures verified", r.stdout)
        con = sqlite3.connect(os.path.join(d, "data", "registry.db"))
        last_cp = con.execute("SELECT max(seq) FROM audit_checkpoints").fetchone()[0]
        con.close()
        self.assertGreaterEqual(last_cp, 10)
        cases = [
            ("one changed byte", "UPDATE audit SET detail = substr(detail, 1, 3) || 'X' ||"
             " substr(detail, 5) WHERE seq = 7", 7),
            ("a changed peer", "UPDATE audit_atna SET peer = '127.0.0.2' WHERE seq = 8", 8),
            ("two swapped records",
             "UPDATE audit SET (ts, event, actor_oid, actor_user, purpose, outcome, patient_key,"
             " document_id, detail, prev_hash, hash) = (SELECT ts, event, actor_oid, actor_user,"
             " purpose, outcome, patient_key, document_id, detail, prev_hash, hash FROM audit b"
             " WHERE b.seq = 11 - audit.seq) WHERE seq IN (5, 6)", 5),
            ("a cut tail", "DELETE FROM audit WHERE seq >= %d" % (last_cp - 1), last_cp - 1),
        ]
        for what, sql, bad in cases:
            with self.subTest(what):
                d, conf = copy_registry("verify-" + what.replace(" ", "-"))
                edit(d, sql)
                r = verify(conf, key)
                self.assertEqual(r.returncode, 1, what + ": " + r.stdout + r.stderr)
                self.assertIn("audit chain broken at seq %d:" % bad, r.stdout)
        # Without the key, and the data folder holds none: signatures are not checked, said so.
        d, conf = copy_registry("verify-nokey")
        r = cdxtest.run([cdxtest.BIN, "audit", "verify", "--config", conf], check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("signatures not checked", r.stdout)

    def test_checkpoint_command(self):
        d, conf = copy_registry("checkpoint")
        shutil.copy(os.path.join(GW.dir, "data", "audit-ed25519.key"),
                    os.path.join(d, "data", "audit-ed25519.key"))
        r = cdxtest.run([cdxtest.BIN, "audit", "checkpoint", "--config", conf], check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("checkpoint signed at seq", r.stdout)
        r = verify(conf, public_key())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class TestShutdownCheckpoint(unittest.TestCase):
    def test_clean_shutdown_signs(self):
        """With audit_checkpoint_records 0 only a clean shutdown signs: the last
        record is covered, by the same key after a restart."""
        gw = Gateway(PKI, name="audit-stop", institutions=[
            Institution(HANBIT, "Hanbit University Hospital", CERTS["hanbit"], "submit, query")],
            settings={"audit_checkpoint_records": "0"}).start()
        try:
            body = cdxtest.minimal_cda(custodian_oid=HANBIT, patient_ext="STOP-1",
                                       doc_ext="STOP-%d" % os.getpid())
            self.assertEqual(cdxtest.post_document(gw, body, CERTS["hanbit"]).status, 201)
            self.assertEqual(cdxtest.registry_query(
                gw, "SELECT count(*) FROM audit_checkpoints")[0][0], 0)
        finally:
            gw.stop()
        last = cdxtest.audit_max_seq(gw)
        cps = cdxtest.registry_query(gw, "SELECT seq, key_id FROM audit_checkpoints")
        self.assertEqual([c[0] for c in cps], [last])
        r = cdxtest.run([cdxtest.BIN, "audit", "verify", "--config", gw.conf], check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("signatures verified with key %s" % cps[0][1], r.stdout)


SYSLOG = re.compile(r'^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\S{1,255}) '
                    r'cdxgw - ([!-~]{1,32}) \[cdx-audit@32473((?: [a-zA-Z]{1,32}="'
                    r'(?:[^"\\\]]|\\["\\\]])*")+)\] (.*)$')


class TestExport(unittest.TestCase):
    def test_fhir(self):
        d, conf = copy_registry("export-fhir")
        out = os.path.join(d, "audit.ndjson")
        r = cdxtest.run([cdxtest.BIN, "audit", "export", "--format", "fhir", "--config", conf,
                         "--out", out], check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(out) as f:
            events = [json.loads(line) for line in f]
        self.assertEqual(len(events), cdxtest.registry_query(
            os.path.join(d, "data", "registry.db"), "SELECT count(*) FROM audit")[0][0])
        for e in events:
            self.assertEqual(e["resourceType"], "AuditEvent")
            self.assertEqual(e["type"]["system"], "http://dicom.nema.org/resources/ontology/DCM")
            for k in ("subtype", "action", "recorded", "outcome", "agent", "source", "entity"):
                self.assertIn(k, e)
        reads = [e for e in events if e["subtype"][0]["code"] == "document.read"
                 and e.get("purposeOfEvent")]
        self.assertTrue(reads)
        agent = reads[0]["agent"][0]
        self.assertEqual(agent["network"]["address"], "127.0.0.1")
        self.assertEqual(agent["who"]["identifier"]["value"], "urn:oid:" + DASOM)
        self.assertEqual(reads[0]["purposeOfEvent"][0]["coding"][0]["code"], "ETREAT")
        kinds = {en["type"]["code"] for en in reads[0]["entity"]}
        self.assertEqual(kinds, {"1", "2"})  # the patient's keyed hash, the document

    def test_syslog(self):
        d, conf = copy_registry("export-syslog")
        r = cdxtest.run([cdxtest.BIN, "audit", "export", "--format", "syslog", "--config", conf,
                         "--from", "2000-01-01"], check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertGreater(len(lines), 5)
        for line in lines:
            m = SYSLOG.match(line)
            self.assertIsNotNone(m, line)
            self.assertIn(int(m.group(1)), (86, 85, 84, 83))
        self.assertTrue(any('peer="127.0.0.1"' in line for line in lines))
        r = cdxtest.run([cdxtest.BIN, "audit", "export", "--format", "syslog", "--config", conf,
                         "--to", "2000-01-01"], check=False)
        self.assertEqual((r.returncode, r.stdout), (0, ""))
        r = cdxtest.run([cdxtest.BIN, "audit", "export", "--format", "xml", "--config", conf],
                        check=False)
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    cdxtest.main()
