"""End-to-end: "nothing lost" (security-research.md section 6, rows 39-41).

- kill -9 mid-burst: concurrent clients on keep-alive TLS connections push
  unique documents; the gateway is SIGKILLed while they run; after a restart
  on the same data_dir every acknowledged (2xx) document is retrievable byte
  for byte, the registry passes PRAGMA integrity_check, the audit chain
  verifies, and every unacknowledged document can be pushed again (201, or
  200 when it had been committed before the kill).  Three rounds on one
  data_dir.
- a second process reading the registry (`cdxgw audit verify`) while the
  gateway serves must not cost acknowledged documents.
- the same document submitted concurrently on several connections: all get
  2xx with the same receipt, one row (row 39)."""

import hashlib
import json
import os
import random
import shutil
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Conn, Gateway, Institution  # noqa: E402

THREADS = 6
DOCS_PER_ROUND = 150
ROUNDS = 3

PKI = None
CERTS = {}


def setUpModule():
    global PKI, CERTS
    PKI = cdxtest.shared_pki()
    CERTS = cdxtest.institution_certs(PKI, sorted(cdxtest.DEMO_OIDS))


def institutions():
    insts = [Institution(cdxtest.E2E_OID, "e2e clinic", PKI.good, "submit, query")]
    for name, oid in sorted(cdxtest.DEMO_OIDS.items()):
        insts.append(Institution(oid, name, CERTS[name], "submit, query"))
    return insts


class Doc:
    def __init__(self, body, cert):
        self.body, self.cert = body, cert
        self.sha256 = hashlib.sha256(body).hexdigest()
        self.uid = cdxtest.doc_uid(cdxtest.unique_id_of(body))
        self.status = None      # HTTP status of the burst push (None: no answer)
        self.receipt = None


_SAMPLES = None


def usable_samples():
    """[(bytes, cert)] of the samples that `cdxgw validate` accepts once their
    id is rewritten (test_ingest checks the samples themselves; this test
    needs documents that are stored)."""
    global _SAMPLES
    if _SAMPLES is not None:
        return _SAMPLES
    _SAMPLES = []
    cands = []
    d = cdxtest.scratch("durability-samples")
    for k, (inst, path) in enumerate(cdxtest.sample_files()):
        if inst not in cdxtest.DEMO_OIDS:
            continue
        with open(path, "rb") as f:
            src = f.read()
        try:
            probe = cdxtest.with_document_id(src, "PROBE-%d" % k)
        except ValueError:
            continue
        out = os.path.join(d, "%d.xml" % k)
        with open(out, "wb") as f:
            f.write(probe)
        cands.append((out, src, CERTS[inst]))
    if not cands:
        raise AssertionError("no samples under samples/<institution>/ to push")
    # `validate` must answer for every file; a crash, a usage error or a
    # missing object fails the test rather than quietly pushing only
    # synthetic documents.
    p = cdxtest.run([cdxtest.BIN, "validate", "--json"] + [c[0] for c in cands],
                    check=False, timeout=120)
    if p.returncode not in (0, 1):
        raise AssertionError("cdxgw validate exited %d over the samples; stderr:\n%s"
                             % (p.returncode, p.stderr[-3000:]))
    verdicts = {}
    for line in p.stdout.splitlines():
        o = json.loads(line)
        verdicts[o.get("file")] = o
    missing = [c[0] for c in cands if c[0] not in verdicts]
    if missing:
        raise AssertionError("cdxgw validate printed no verdict for %r" % missing)
    _SAMPLES = [(src, cert) for out, src, cert in cands if verdicts[out].get("valid")]
    if not _SAMPLES:
        raise AssertionError("no sample is valid after an id rewrite: %r"
                             % [(v.get("file"), v.get("code")) for v in verdicts.values()])
    if len(_SAMPLES) < len(cands):
        sys.stderr.write("\n  note: %d of %d samples are not valid after an id rewrite; "
                         "using the others\n" % (len(cands) - len(_SAMPLES), len(cands)))
    return _SAMPLES


def make_docs(tag, n):
    """n unique documents: copies of the samples with a new
    ClinicalDocument/id/@extension (each under its institution), every
    other one a small synthetic document of the test institution."""
    samples = usable_samples()
    docs = []
    for i in range(n):
        ext = "DUR-%s-%d-%d" % (tag, os.getpid(), i)
        if samples and i % 2:
            src, cert = samples[i % len(samples)]
            docs.append(Doc(cdxtest.with_document_id(src, ext), cert))
        else:
            docs.append(Doc(cdxtest.minimal_cda(doc_ext=ext), PKI.good))
    return docs


def burst(gw, docs, kill_after):
    """Pushes docs from THREADS keep-alive connections; SIGKILLs the gateway
    once kill_after documents are acknowledged.  Fills Doc.status."""
    lock = threading.Lock()
    queue = list(range(len(docs)))
    acked = [0]
    stop = threading.Event()
    conns = {}

    def worker():
        c = None
        while not stop.is_set():
            with lock:
                if not queue:
                    return
                i = queue.pop(0)
            d = docs[i]
            try:
                key = d.cert.name
                if c is None or c[0] != key:
                    if c is not None:
                        c[1].close()
                    c = (key, Conn.open(gw, cert=d.cert, timeout=20.0))
                r = cdxtest.raw_post(c[1], d.body, timeout=20.0)
            except (OSError, cdxtest.GatewayError):
                r = None
            if r is None:
                d.status = None
                if c is not None:
                    c[1].close()
                c = None
                if not gw.alive():
                    return
                continue
            d.status = r.status
            if r.status in (200, 201):
                d.receipt = r.json()
                with lock:
                    acked[0] += 1
            if (r.header("connection") or "").lower() == "close":
                c[1].close()
                c = None
        if c is not None:
            c[1].close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(THREADS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while acked[0] < kill_after and time.monotonic() < deadline and any(
            t.is_alive() for t in threads):
        time.sleep(0.002)
    gw.kill()  # SIGKILL, wait, close the log files
    stop.set()
    for t in threads:
        t.join(30)
    del conns
    return acked[0]


class DurabilityCase(unittest.TestCase):

    def assert_clean_stop(self, gw):
        """Stops gw (SIGTERM) and checks exit 0 and no sanitizer report."""
        rc = gw.stop()
        self.assertEqual(rc, 0, "gateway exit %s; stderr:\n%s" % (rc, gw.log()[-3000:]))
        self.assertIsNone(cdxtest.sanitizer_report(gw.log()), gw.log()[-5000:])

    def restart(self, gw, round_no):
        shutil.copy(gw.stderr_path, os.path.join(gw.dir, "stderr-round%d.log" % round_no))
        gw.start()

    def check_acked(self, gw, docs):
        acked = [d for d in docs if d.status in (200, 201)]
        for d in acked:
            self.assertEqual(d.receipt["id"], d.uid, d.receipt)
            self.assertEqual(d.receipt["sha256"], d.sha256, d.receipt)
        # One connection per institution, keep-alive, to read them all back.
        conns = {}
        try:
            for d in acked:
                c = conns.get(d.cert.name)
                if c is None:
                    c = conns[d.cert.name] = Conn.open(gw, cert=d.cert, timeout=20.0)
                g = cdxtest.raw_get(c, "/v1/documents/" + d.uid, timeout=20.0)
                self.assertIsNotNone(g, "no answer reading acknowledged %s" % d.uid)
                self.assertEqual(g.status, 200, "acknowledged document %s lost after kill -9: %r"
                                 % (d.uid, g))
                self.assertEqual(hashlib.sha256(g.body).hexdigest(), d.sha256, d.uid)
                self.assertEqual(g.body, d.body, d.uid)
                self.assertEqual(g.header("etag"), '"%s"' % d.sha256)
        finally:
            for c in conns.values():
                c.close()
        # The registry rows agree.
        rows = dict(cdxtest.registry_query(gw, "SELECT uid, sha256 FROM documents"))
        for d in acked:
            self.assertEqual(rows.get(d.uid), d.sha256, "registry row of acknowledged %s" % d.uid)
        return acked

    def check_registry(self, gw):
        con = cdxtest.registry_ro(gw)
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
            # I4: every stored document has its ingest audit row.
            missing = con.execute(
                "SELECT uid FROM documents d WHERE NOT EXISTS (SELECT 1 FROM audit a WHERE"
                " a.document_id = d.uid AND a.event = 'document.ingest')").fetchall()
            self.assertEqual(missing, [], "documents without an ingest audit row")
            # The audit sequence has no gaps.
            n, lo, hi = con.execute("SELECT count(*), min(seq), max(seq) FROM audit").fetchone()
            self.assertEqual((lo, hi), (1, n), "audit seq not contiguous")
            # No content-less rows (I5).
            dangling = con.execute(
                "SELECT count(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM"
                " document_content c WHERE c.document_id = d.id)").fetchone()[0]
            self.assertEqual(dangling, 0)
        finally:
            con.close()


class TestKill9(DurabilityCase):

    def test_kill9_mid_burst(self):
        rnd = random.Random(int(os.environ.get("CDX_DURABILITY_SEED", "41")))
        gw = Gateway(PKI, name="durability", institutions=institutions(),
                     settings={"worker_threads": 2, "max_body_bytes": 8 << 20})
        gw.start()
        self.addCleanup(gw.stop)
        all_docs = []
        summary = []
        try:
            for rno in range(ROUNDS):
                docs = make_docs("r%d" % rno, DOCS_PER_ROUND)
                kill_after = int(DOCS_PER_ROUND * rnd.uniform(0.25, 0.75))
                n_acked = burst(gw, docs, kill_after)
                self.assertEqual(gw.proc.returncode, -signal.SIGKILL,
                                 "the gateway was not killed by SIGKILL (exit %s); stderr:\n%s"
                                 % (gw.proc.returncode, gw.log()[-3000:]))
                all_docs.extend(docs)
                self.restart(gw, rno)
                acked = self.check_acked(gw, all_docs)
                self.check_registry(gw)
                statuses = {}
                for d in docs:
                    statuses[d.status] = statuses.get(d.status, 0) + 1
                summary.append("round %d: kill after %d acks; acked %d; statuses %r"
                               % (rno, kill_after, n_acked, statuses))
                self.assertGreaterEqual(len(acked), n_acked)
                bad = {s for s in statuses if s not in (None, 200, 201, 503)}
                self.assertEqual(bad, set(), "unexpected statuses in the burst: %r" % statuses)
            # The audit chain, offline (the gateway stopped cleanly first).
            self.assert_clean_stop(gw)
            p = cdxtest.audit_verify(gw.conf)
            self.assertEqual(p.returncode, 0, "audit verify after kills: %s %s"
                             % (p.stdout, p.stderr))
            # Unacknowledged documents: a safe retry exists.
            gw.start()
            unacked = [d for d in all_docs if d.status not in (200, 201)]
            present = set(r[0] for r in cdxtest.registry_query(gw, "SELECT uid FROM documents"))
            conns = {}
            retried = {201: 0, 200: 0}
            try:
                for d in unacked:
                    c = conns.get(d.cert.name)
                    if c is None:
                        c = conns[d.cert.name] = Conn.open(gw, cert=d.cert, timeout=20.0)
                    r = cdxtest.raw_post(c, d.body, timeout=20.0)
                    self.assertIsNotNone(r, "no answer re-pushing %s" % d.uid)
                    self.assertIn(r.status, (200, 201), r)
                    self.assertEqual(r.status, 200 if d.uid in present else 201,
                                     "re-push of %s (%s before): %r"
                                     % (d.uid, "present" if d.uid in present else "absent", r))
                    rec = r.json()
                    self.assertEqual((rec["id"], rec["sha256"]), (d.uid, d.sha256), rec)
                    retried[r.status] += 1
                # Every acknowledged one again: 200 already_stored, same id.
                for d in [d for d in all_docs if d.status in (200, 201)][:20]:
                    c = conns.get(d.cert.name)
                    if c is None:
                        c = conns[d.cert.name] = Conn.open(gw, cert=d.cert, timeout=20.0)
                    r = cdxtest.raw_post(c, d.body, timeout=20.0)
                    self.assertEqual(r.status, 200, r)
                    self.assertEqual(r.json()["status"], "already_stored")
                    self.assertEqual(r.json()["id"], d.uid)
            finally:
                for c in conns.values():
                    c.close()
            n_docs = cdxtest.table_count(gw, "documents")
            self.assertEqual(n_docs, len({d.uid for d in all_docs}), "one row per document")
            self.check_registry(gw)
            self.assert_clean_stop(gw)
            summary.append("re-pushed %d unacknowledged: %d stored, %d already stored (committed "
                           "before the kill, answer lost)" % (len(unacked), retried[201],
                                                              retried[200]))
        finally:
            sys.stderr.write("\n  " + "\n  ".join(summary) + "\n")


class TestConcurrentReader(DurabilityCase):

    def test_audit_verify_while_serving_keeps_acks(self):
        """`cdxgw audit verify` against the live registry (a second process
        opening registry.db), then a POST acknowledged with 201, then kill -9:
        the acknowledged document must survive."""
        gw = Gateway(PKI, name="durability-cli", institutions=institutions())
        gw.start()
        self.addCleanup(gw.stop)
        a = cdxtest.minimal_cda(doc_ext="CLI-A-%d" % os.getpid())
        b = cdxtest.minimal_cda(doc_ext="CLI-B-%d" % os.getpid())
        with Conn.open(gw) as c:
            self.assertEqual(cdxtest.raw_post(c, a).status, 201)
        p = cdxtest.audit_verify(gw.conf)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with Conn.open(gw) as c:
            r = cdxtest.raw_post(c, b)
            self.assertEqual(r.status, 201, r)
            bid = r.json()["id"]
        # Visible to another process right away (the commit is durable).
        seen = cdxtest.registry_query(gw, "SELECT count(*) FROM documents WHERE uid = ?",
                                      (bid,))[0][0]
        files = sorted(os.listdir(os.path.join(gw.dir, "data")))
        gw.kill()
        self.assertEqual(gw.proc.returncode, -signal.SIGKILL)
        gw.start()
        with Conn.open(gw) as c:
            g = cdxtest.raw_get(c, "/v1/documents/" + bid)
            self.assertEqual(g.status, 200, "document acknowledged with 201 after a live `cdxgw "
                             "audit verify` is lost after kill -9: %r" % g)
            self.assertEqual(g.body, b)
        self.assert_clean_stop(gw)
        self.assertEqual(seen, 1, "a document acknowledged with 201 was not in registry.db as "
                         "other processes see it (data/: %r)" % files)


class TestConcurrentIdentical(DurabilityCase):

    def test_row39_concurrent_identical_submissions(self):
        gw = Gateway(PKI, name="durability-dup", institutions=institutions(),
                     settings={"worker_threads": 2})
        gw.start()
        self.addCleanup(gw.stop)
        docs = make_docs("dup", 12)
        ways = 4
        for d in docs:
            conns = [Conn.open(gw, cert=d.cert, timeout=20.0) for _ in range(ways)]
            barrier = threading.Barrier(ways)
            out = [None] * ways

            def push(k):
                barrier.wait()
                try:
                    out[k] = cdxtest.raw_post(conns[k], d.body, timeout=20.0)
                except (OSError, cdxtest.GatewayError) as e:
                    out[k] = e
            ts = [threading.Thread(target=push, args=(k,)) for k in range(ways)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(30)
            for c in conns:
                c.close()
            with self.subTest(doc=d.uid):
                for r in out:
                    self.assertIsInstance(r, cdxtest.Response, out)
                    self.assertIn(r.status, (200, 201), r)
                self.assertEqual(sorted(r.status for r in out), [200] * (ways - 1) + [201],
                                 "exactly one of the identical submissions stores it")
                receipts = [r.json() for r in out]
                keys = ("id", "document_id", "sha256", "size", "patient", "version", "set_id",
                        "mapping_version")
                first = {k: receipts[0][k] for k in keys}
                for rec in receipts[1:]:
                    self.assertEqual({k: rec[k] for k in keys}, first)
                self.assertEqual(first["id"], d.uid)
        rows = cdxtest.registry_query(gw, "SELECT uid, count(*) FROM documents GROUP BY uid")
        self.assertEqual(sorted(rows), sorted((d.uid, 1) for d in docs))
        # One ingest audit row per submission.
        n = cdxtest.registry_query(gw, "SELECT count(*) FROM audit WHERE event ="
                                       " 'document.ingest'")[0][0]
        self.assertEqual(n, ways * len(docs))
        self.assert_clean_stop(gw)


if __name__ == "__main__":
    cdxtest.main()
