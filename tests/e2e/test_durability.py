"""End-to-end: "nothing lost" (security-research.md section 6, rows 39-41).

- The crash loop (TestCrashLoop): concurrent clients on keep-alive TLS
  connections push unique documents while the gateway runs over the
  power-loss VFS of test builds (include/cdx/store/testvfs.h: every write not yet
  synced is lost when the process dies, as at a power cut).  Each round ends
  with a SIGKILL: from the test right after an acknowledgement arrived, or
  from the gateway itself at an injected point (a change written, before
  COMMIT, after COMMIT before the answers, right after an answer was
  written, at an xSync before it reaches the disk, halfway through an
  xSync).  After each restart every acknowledged
  document is read back byte for byte, its registry row, content, patient
  index and ingest audit record are checked, and `cdxgw audit verify`
  passes; every round must have acknowledged at least MIN_ACKS documents.
  A missing fsync, synchronous=NORMAL, or an answer sent before its commit
  is synced loses an acknowledged document here and fails the test.
- I/O failure (TestIoFailure): an fsync or a write of the registry fails;
  the gateway exits with 70 without acknowledging the request, and after a
  restart every earlier acknowledgement is there and the audit chain
  verifies.
- Storage errors (TestStorageErrors): a full disk (a small tmpfs) gives
  507 STORAGE_FULL with nothing acknowledged and recovers once space is
  freed; a registry locked by another process gives 503
  STORAGE_UNAVAILABLE.
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
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Conn, Gateway, Institution  # noqa: E402

SANITIZED = os.environ.get("CDX_SANITIZED") == "1"
# Under the sanitizers, and in the mutation runner (tests/mutations), the
# crash loop runs each kind of round once instead of twice.
QUICK = SANITIZED or os.environ.get("CDX_MUTATION_RUN") == "1"
THREADS = 6
# Crash loop: each round must acknowledge MIN_ACKS documents, the whole loop
# MIN_TOTAL_ACKS.
ROUND_KINDS = ("kill", "write", "commit", "reply", "acked", "sync", "torn_sync")
ROUNDS = len(ROUND_KINDS) * (1 if QUICK else 2)
MIN_ACKS = 25
MIN_TOTAL_ACKS = 300 if QUICK else 1000
MAX_DOCS_PER_ROUND = 600
# The N of CDX_TEST_CRASH=point:N, per point: large enough that MIN_ACKS
# documents are acknowledged first (a batch holds one or more documents),
# small enough that a round stays short.
CRASH_RANGE = {"write": (60, 110), "commit": (45, 80), "reply": (45, 80), "acked": (40, 90),
               "sync": (60, 110), "torn_sync": (60, 110)}
KILL_RANGE = (50, 110)
VFS_ENV = {"CDX_TEST_VFS": "powerloss", "CDX_TEST_SYNC_LATENCY_US": "2000"}
# The "acked" rounds kill the gateway right after it answered: with a disk
# this slow to sync, an answer sent before its commit was synced
# (synchronous=NORMAL, an acknowledgement sent too early) is sure to be lost.
ACKED_LATENCY_US = "20000"

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


def require_test_hooks(tc):
    """Skips unless cdxgw was built with -DCDX_TEST_VFS=ON (scripts/setup does)."""
    p = cdxtest.run([cdxtest.BIN, "--version"], check=False)
    if "power-loss VFS" not in p.stdout:
        tc.skipTest("cdxgw was built without -DCDX_TEST_VFS=ON (no power-loss VFS): %s"
                    % p.stdout.strip())


class Doc:
    def __init__(self, body, cert):
        self.body, self.cert = body, cert
        self.sha256 = hashlib.sha256(body).hexdigest()
        self.uid = cdxtest.doc_uid(cdxtest.unique_id_of(body))
        self.sent = False       # a request was written for it
        self.status = None      # HTTP status of the burst push (None: no answer)
        self.receipt = None

    @property
    def acked(self):
        return self.status in (200, 201)


_SAMPLES = None


def usable_samples():
    """[(bytes, cert)] of the samples of the demo institutions, with their id
    rewritten, that `cdxgw validate` accepts.  Every sample must stay usable:
    one that stops validating fails here rather than silently leaving the
    loop to the synthetic documents."""
    global _SAMPLES
    if _SAMPLES is not None:
        return _SAMPLES
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
        raise AssertionError("no sample of the demo institutions has a rewritable id")
    p = cdxtest.run([cdxtest.BIN, "validate", "--json"] + [c[0] for c in cands],
                    check=False, timeout=120)
    valid = set()
    for line in p.stdout.splitlines():
        try:
            o = json.loads(line)
        except ValueError:
            continue
        if o.get("valid"):
            valid.add(o.get("file"))
    bad = [out for out, _, _ in cands if out not in valid]
    if bad:
        raise AssertionError("samples not valid after an id rewrite: %r\n%s"
                             % (bad, p.stderr[-2000:]))
    _SAMPLES = [(src, cert) for _, src, cert in cands]
    return _SAMPLES


def make_doc(tag, i):
    """A unique document: every other one a sample of a demo institution with
    a new ClinicalDocument/id/@extension, the others small synthetic
    documents of the test institution."""
    samples = usable_samples()
    ext = "DUR-%s-%d-%d" % (tag, os.getpid(), i)
    if i % 2:
        src, cert = samples[i % len(samples)]
        return Doc(cdxtest.with_document_id(src, ext), cert)
    return Doc(cdxtest.minimal_cda(doc_ext=ext, patient_ext="P-%d" % (i % 97)), PKI.good)


def make_docs(tag, n):
    return [make_doc(tag, i) for i in range(n)]


def burst(gw, tag, kill_after=None, limit=MAX_DOCS_PER_ROUND):
    """Pushes new documents from THREADS keep-alive connections until the
    gateway dies (a crash point) or, with kill_after, SIGKILLs it from the
    client thread that received the kill_after-th acknowledgement.  Returns
    the documents that were sent."""
    lock = threading.Lock()
    state = {"next": 0, "acked": 0, "killed": False}
    docs = []
    pid = gw.proc.pid

    def worker():
        c = None
        try:
            while True:
                with lock:
                    if state["killed"] or state["next"] >= limit:
                        return
                    i = state["next"]
                    state["next"] += 1
                d = make_doc(tag, i)
                try:
                    if c is None or c[0] != d.cert.name:
                        if c is not None:
                            c[1].close()
                        c = (d.cert.name, Conn.open(gw, cert=d.cert, timeout=20.0))
                    with lock:
                        docs.append(d)
                    d.sent = True
                    r = cdxtest.raw_post(c[1], d.body, timeout=20.0)
                except (OSError, cdxtest.GatewayError):
                    r = None
                if r is None:
                    if c is not None:
                        c[1].close()
                    c = None
                    if gw.proc.poll() is not None:
                        return
                    continue
                d.status = r.status
                if d.acked:
                    d.receipt = r.json()
                    with lock:
                        state["acked"] += 1
                        if kill_after is not None and state["acked"] == kill_after:
                            # A power cut right after this answer left.
                            os.kill(pid, signal.SIGKILL)
                            state["killed"] = True
                            return
                if (r.header("connection") or "").lower() == "close":
                    c[1].close()
                    c = None
        finally:
            if c is not None:
                c[1].close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    if state["killed"]:
        # SIGKILL is delivered at once, but the kernel takes a moment to tear
        # down a large process (an AddressSanitizer build maps terabytes of
        # shadow memory): wait for it rather than race its exit.
        try:
            gw.proc.wait(60)
        except subprocess.TimeoutExpired:
            pass
    if gw.proc.poll() is None:
        gw.kill()
        statuses = {}
        for d in docs:
            statuses[d.status] = statuses.get(d.status, 0) + 1
        raise AssertionError("the gateway was still running after %d documents (crash point "
                             "not reached?); %d acknowledged, statuses %r; stderr:\n%s"
                             % (limit, state["acked"], statuses, gw.log()[-3000:]))
    gw.kill()  # reaps it, closes the log files
    return docs


class DurabilityCase(unittest.TestCase):

    def assert_clean_stop(self, gw):
        """Stops gw (SIGTERM) and checks exit 0 and no sanitizer report."""
        rc = gw.stop()
        self.assertEqual(rc, 0, "gateway exit %s; stderr:\n%s" % (rc, gw.log()[-3000:]))
        self.assertIsNone(cdxtest.sanitizer_report(gw.log()), gw.log()[-5000:])

    def restart(self, gw, label, env=None):
        shutil.copy(gw.stderr_path, os.path.join(gw.dir, "stderr-%s.log" % label))
        if env is not None:
            gw.env = env
        gw.start()

    def fetch_all(self, gw, docs):
        """GET every doc over TLS (4 threads, keep-alive) and checks the bytes,
        their SHA-256 and the ETag."""
        failures = []
        lock = threading.Lock()
        work = list(docs)

        def reader():
            conns = {}
            try:
                while True:
                    with lock:
                        if not work:
                            return
                        d = work.pop()
                    c = conns.get(d.cert.name)
                    if c is None:
                        c = conns[d.cert.name] = Conn.open(gw, cert=d.cert, timeout=20.0)
                    g = cdxtest.raw_get(c, "/v1/documents/" + d.uid, timeout=20.0)
                    if g is None or g.status != 200:
                        failures.append("acknowledged %s lost: %r" % (d.uid, g))
                    elif hashlib.sha256(g.body).hexdigest() != d.sha256 or g.body != d.body:
                        failures.append("acknowledged %s comes back with other bytes" % d.uid)
                    elif g.header("etag") != '"%s"' % d.sha256:
                        failures.append("ETag of %s: %r" % (d.uid, g.header("etag")))
            finally:
                for c in conns.values():
                    c.close()

        threads = [threading.Thread(target=reader) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        self.assertEqual(failures[:10], [], "%d of %d acknowledged documents wrong after the "
                         "crash" % (len(failures), len(docs)))

    def read_live(self, gw, read):
        """read(con) on a read-only connection to the running gateway's
        registry, in one read transaction.  The gateway runs on the
        power-loss VFS, which keeps its unsynced writes in its own memory:
        a reader in another process can meet a page the gateway's
        checkpoint has not synced yet and get "database disk image is
        malformed" although the file is sound (PRAGMA integrity_check on a
        fresh connection says ok).  Such a read is tried again, at most
        four more times; a lasting error still fails."""
        for attempt in range(5):
            con = cdxtest.registry_ro(gw)
            try:
                con.execute("BEGIN")
                return read(con)
            except sqlite3.DatabaseError as e:
                if "malformed" not in str(e) or attempt == 4:
                    raise
                time.sleep(0.2)
            finally:
                con.close()

    def check_rows(self, gw, acked):
        """Every acknowledged document has its registry row (sha256), content
        (the original bytes), patient index entry and ingest audit record."""
        def read(con):
            rows = {}
            for uid, sha, original, npids, meta in con.execute(
                    "SELECT d.uid, d.sha256, c.original,"
                    " (SELECT count(*) FROM document_patient_ids p WHERE p.document_id = d.id),"
                    " d.meta_json FROM documents d"
                    " LEFT JOIN document_content c ON c.document_id = d.id"):
                rows[uid] = (sha, cdxtest.stored_content(original), npids, meta)
            audited = set(r[0] for r in con.execute(
                "SELECT document_id FROM audit WHERE event = 'document.ingest'"))
            return rows, audited
        rows, audited = self.read_live(gw, read)
        for d in acked:
            self.assertEqual(d.receipt["id"], d.uid, d.receipt)
            self.assertEqual(d.receipt["sha256"], d.sha256, d.receipt)
            row = rows.get(d.uid)
            self.assertIsNotNone(row, "no registry row for acknowledged %s" % d.uid)
            sha, original, npids, meta = row
            self.assertEqual(sha, d.sha256, d.uid)
            self.assertEqual(original, d.body, "stored content of %s" % d.uid)
            self.assertGreaterEqual(npids, 1, "no patient index entry for %s" % d.uid)
            self.assertTrue(json.loads(meta), "empty metadata of %s" % d.uid)
            self.assertIn(d.uid, audited, "no ingest audit record for %s" % d.uid)

    def check_registry(self, gw):
        def read(con):
            return (con.execute("PRAGMA integrity_check").fetchall(),
                    # I4: every stored document has its ingest audit row.
                    con.execute(
                        "SELECT uid FROM documents d WHERE NOT EXISTS (SELECT 1 FROM audit a"
                        " WHERE a.document_id = d.uid AND a.event = 'document.ingest')").fetchall(),
                    con.execute("SELECT count(*), min(seq), max(seq) FROM audit").fetchone(),
                    # No content-less rows (I5).
                    con.execute(
                        "SELECT count(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM"
                        " document_content c WHERE c.document_id = d.id)").fetchone()[0])
        integrity, missing, (n, lo, hi), dangling = self.read_live(gw, read)
        self.assertEqual(integrity, [("ok",)])
        self.assertEqual(missing, [], "documents without an ingest audit row")
        self.assertEqual((lo, hi), (1, n), "audit seq not contiguous")  # no gaps
        self.assertEqual(dangling, 0)
        self.assertEqual(audit_chain_recomputed(gw), [], "audit rows whose hash is not the"
                         " specified one")

    def check_audit_verify(self, gw):
        p = cdxtest.audit_verify(gw.conf)
        self.assertEqual(p.returncode, 0, "audit verify: %s %s" % (p.stdout, p.stderr))


class TestCrashLoop(DurabilityCase):

    def test_crash_loop(self):
        require_test_hooks(self)
        rnd = random.Random(int(os.environ.get("CDX_DURABILITY_SEED", "41")))
        gw = Gateway(PKI, name="durability", institutions=institutions(), env=VFS_ENV,
                     settings={"worker_threads": 2, "max_body_bytes": 8 << 20})
        gw.start()
        self.addCleanup(gw.stop)
        self.assertIn("event=test.vfs", gw.log(), "the power-loss VFS is not in use")
        all_docs = []
        summary = []
        try:
            for rno in range(ROUNDS):
                kind = ROUND_KINDS[rno % len(ROUND_KINDS)]
                if kind == "kill":
                    n = rnd.randint(*KILL_RANGE)
                    docs = burst(gw, "r%d" % rno, kill_after=n)
                else:
                    n = rnd.randint(*CRASH_RANGE[kind])
                    self.assert_clean_stop(gw)
                    env = dict(VFS_ENV, CDX_TEST_CRASH="%s:%d" % (kind, n))
                    if kind == "acked":
                        env["CDX_TEST_SYNC_LATENCY_US"] = ACKED_LATENCY_US
                    self.restart(gw, "r%d-before" % rno, env=env)
                    docs = burst(gw, "r%d" % rno)
                    self.assertIn("event=test.crash_point point=%s pass=%d" % (kind, n),
                                  gw.log(), "the gateway did not die at the crash point")
                self.assertEqual(gw.proc.returncode, -signal.SIGKILL,
                                 "the gateway was not killed by SIGKILL (exit %s); stderr:\n%s"
                                 % (gw.proc.returncode, gw.log()[-3000:]))
                all_docs.extend(docs)
                acked = [d for d in docs if d.acked]
                statuses = {}
                for d in docs:
                    statuses[d.status] = statuses.get(d.status, 0) + 1
                summary.append("round %d (%s %d): %d sent, %d acknowledged; statuses %r"
                               % (rno, kind, n, len(docs), len(acked), statuses))
                bad = {s for s in statuses if s not in (None, 200, 201)}
                self.assertEqual(bad, set(), "unexpected statuses in the burst: %r" % statuses)
                self.assertGreaterEqual(len(acked), MIN_ACKS, "round %d acknowledged too few "
                                        "documents to check anything" % rno)
                # Power back: the registry holds what was synced.
                self.restart(gw, "r%d" % rno, env=VFS_ENV)
                self.fetch_all(gw, acked)
                self.check_rows(gw, [d for d in all_docs if d.acked])
                self.check_registry(gw)
                self.check_audit_verify(gw)
            total = sum(1 for d in all_docs if d.acked)
            summary.append("%d rounds, %d acknowledgements checked" % (ROUNDS, total))
            self.assertGreaterEqual(total, MIN_TOTAL_ACKS)
            # Documents sent but not acknowledged: a safe retry exists.
            unacked = [d for d in all_docs if d.sent and not d.acked]
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
                    self.assertEqual(r.status, 200 if d.uid in present else 201,
                                     "re-push of %s (%s before): %r"
                                     % (d.uid, "present" if d.uid in present else "absent", r))
                    rec = r.json()
                    self.assertEqual((rec["id"], rec["sha256"]), (d.uid, d.sha256), rec)
                    retried[r.status] += 1
                # Acknowledged ones again: 200 already_stored, same id.
                for d in [d for d in all_docs if d.acked][:20]:
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
            self.assertEqual(n_docs, len({d.uid for d in all_docs if d.sent}),
                             "one row per document sent")
            self.check_registry(gw)
            self.assert_clean_stop(gw)
            self.check_audit_verify(gw)
            summary.append("re-pushed %d unacknowledged: %d stored, %d already stored (committed "
                           "before the crash, answer lost)" % (len(unacked), retried[201],
                                                               retried[200]))
        finally:
            sys.stderr.write("\n  " + "\n  ".join(summary) + "\n")


def push_all(tc, gw, docs):
    """Pushes docs one by one on keep-alive connections; each must get 201."""
    conns = {}
    try:
        for d in docs:
            c = conns.get(d.cert.name)
            if c is None:
                c = conns[d.cert.name] = Conn.open(gw, cert=d.cert, timeout=20.0)
            r = cdxtest.raw_post(c, d.body, timeout=20.0)
            tc.assertIsNotNone(r, "no answer for %s" % d.uid)
            tc.assertEqual(r.status, 201, r)
            d.sent, d.status, d.receipt = True, r.status, r.json()
    finally:
        for c in conns.values():
            c.close()


def push_one(gw, d, timeout=60.0):
    """Pushes d on a new connection; the Response, or None when the
    connection ended without an answer."""
    try:
        with Conn.open(gw, cert=d.cert, timeout=20.0) as c:
            d.sent = True
            return cdxtest.raw_post(c, d.body, timeout=timeout)
    except (OSError, cdxtest.GatewayError):
        return None


class TestIoFailure(DurabilityCase):
    """A commit whose fsync or write fails: exit 70, nothing acknowledged,
    everything acknowledged before it still there after a restart."""

    def run_fault(self, mode):
        require_test_hooks(self)
        fault = os.path.join(cdxtest.scratch("durability-fault"), "fault")
        env = dict(VFS_ENV, CDX_TEST_FAULT_FILE=fault)
        gw = Gateway(PKI, name="durability-eio", institutions=institutions(), env=env)
        gw.start()
        self.addCleanup(gw.stop)
        before = make_docs("eio-%s" % mode, 10)
        push_all(self, gw, before)
        with open(fault, "w") as f:
            f.write(mode)
        victim = make_doc("eio-%s-victim" % mode, 1)
        r = push_one(gw, victim)
        self.assertIsNone(r, "an answer was sent for a document whose %s failed: %r" % (mode, r))
        rc = gw.wait(60)
        self.assertEqual(rc, 70, "exit code after a failed %s (stderr:\n%s)"
                         % (mode, gw.log()[-3000:]))
        self.assertIn("event=registry.io_failure", gw.log())
        gw.kill()  # closes the log files
        os.unlink(fault)
        self.restart(gw, "eio")
        self.fetch_all(gw, before)
        self.check_rows(gw, before)
        self.check_registry(gw)
        self.check_audit_verify(gw)
        # The failed commit never reached the disk: the document can be sent again.
        r = push_one(gw, victim)
        self.assertIsNotNone(r)
        self.assertEqual(r.status, 201, r)
        self.assert_clean_stop(gw)
        self.check_audit_verify(gw)

    def test_fsync_failure_exits_70(self):
        self.run_fault("sync")

    def test_write_failure_exits_70(self):
        self.run_fault("write")


class TestStorageErrors(DurabilityCase):

    def test_disk_full_507_then_recovery(self):
        """The data folder on a 2 MiB tmpfs: pushes until the disk is full
        give 507 STORAGE_FULL (nothing acknowledged, earlier documents
        intact); once the file system grows, the same document is stored."""
        if os.geteuid() != 0 or shutil.which("mount") is None:
            self.skipTest("mounting a size-limited tmpfs needs root and mount(8)")
        gw = Gateway(PKI, name="durability-full", institutions=institutions())
        data = os.path.join(gw.dir, "data")
        os.makedirs(data)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", data],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            self.skipTest("this sandbox does not allow mounting a tmpfs: %s" % p.stdout.strip())
        self.addCleanup(subprocess.run, ["umount", "-l", data])
        gw.start()
        self.addCleanup(gw.stop)
        stored, full = [], None
        conns = {}
        try:
            for i in range(400):
                d = make_doc("full", i)
                c = conns.get(d.cert.name)
                if c is None:
                    c = conns[d.cert.name] = Conn.open(gw, cert=d.cert, timeout=20.0)
                r = cdxtest.raw_post(c, d.body, timeout=30.0)
                self.assertIsNotNone(r, "no answer while the disk fills (stderr:\n%s)"
                                     % gw.log()[-3000:])
                if r.status == 201:
                    d.status, d.receipt = r.status, r.json()
                    stored.append(d)
                    continue
                cdxtest.problem_check(self, r, 507, "STORAGE_FULL")
                full = d
                break
        finally:
            for c in conns.values():
                c.close()
        self.assertIsNotNone(full, "2 MiB never filled up")
        self.assertGreaterEqual(len(stored), 5, "the disk was full before anything was stored")
        self.assertTrue(gw.alive(), "the gateway died on a full disk:\n%s" % gw.log()[-3000:])
        present = cdxtest.registry_query(gw, "SELECT count(*) FROM documents WHERE uid = ?",
                                         (full.uid,))[0][0]
        self.assertEqual(present, 0, "a document refused with 507 was stored")
        # Read from the registry: a read over HTTP needs its audit record, which
        # a full disk may refuse too.
        self.check_rows(gw, stored)
        # Space freed: the same document is stored.
        p = subprocess.run(["mount", "-o", "remount,size=64m", data], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        self.assertEqual(p.returncode, 0, p.stdout)
        r = push_one(gw, full)
        self.assertIsNotNone(r)
        self.assertEqual(r.status, 201, r)
        full.status, full.receipt = r.status, r.json()
        stored.append(full)
        self.fetch_all(gw, stored)
        self.assert_clean_stop(gw)
        gw.start()
        self.fetch_all(gw, stored)
        self.check_rows(gw, stored)
        self.check_registry(gw)
        self.assert_clean_stop(gw)
        self.check_audit_verify(gw)

    def test_locked_registry_503_storage_unavailable(self):
        """Another process holds the registry's write lock longer than the
        busy timeout: 503 STORAGE_UNAVAILABLE with Retry-After, nothing
        stored; once the lock is released the same document is stored."""
        gw = Gateway(PKI, name="durability-locked", institutions=institutions())
        gw.start()
        self.addCleanup(gw.stop)
        d = make_doc("locked", 0)
        con = cdxtest._sqlite3.connect(cdxtest.registry_path(gw), timeout=10,
                                       isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            r = push_one(gw, d)
        finally:
            con.execute("ROLLBACK")
            con.close()
        self.assertIsNotNone(r)
        cdxtest.problem_check(self, r, 503, "STORAGE_UNAVAILABLE")
        self.assertEqual(r.header("retry-after"), "1", r)
        self.assertEqual(cdxtest.registry_query(gw, "SELECT count(*) FROM documents WHERE"
                                                    " uid = ?", (d.uid,))[0][0], 0)
        r = push_one(gw, d)
        self.assertIsNotNone(r)
        self.assertEqual(r.status, 201, r)
        self.assert_clean_stop(gw)
        self.check_audit_verify(gw)


def audit_chain_recomputed(path_or_gw):
    """Recomputes the audit chain from the registry rows as the README's
    audit record is specified (gateway/store/audit.c cdx_store_audit_hash):
    SHA-256 over the tag "cdx.audit.v1", prev_hash, seq, ts, event,
    actor_oid, actor_user, purpose, outcome, patient_key, document_id,
    detail; a record of version 2 (its row in audit_atna) has the tag
    "cdx.audit.v2" and adds peer, decision, reason, consent and the version;
    integers as 8 big-endian bytes, strings as a presence byte then (if
    present) an 8-byte big-endian length and the UTF-8 bytes.  Returns the
    seqs whose prev_hash or hash differ from the recomputation."""
    def u64(v):
        return int(v).to_bytes(8, "big")

    def text(s):
        if s is None:
            return b"\x00"
        b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
        return b"\x01" + u64(len(b)) + b

    bad = []
    prev = "0" * 64
    for row in cdxtest.registry_query(
            path_or_gw, "SELECT a.seq, ts, event, actor_oid, actor_user, purpose, outcome,"
            " patient_key, document_id, detail, prev_hash, hash, x.hash_version, x.peer,"
            " x.decision, x.reason, x.consent FROM audit a LEFT JOIN audit_atna x USING (seq)"
            " ORDER BY a.seq"):
        (seq, ts, event, actor, user, purpose, outcome, pkey, doc, detail, prev_hash, h,
         version, peer, decision, reason, consent) = row
        version = version or 1
        m = hashlib.sha256()
        parts = [text("cdx.audit.v%d" % version), text(prev), u64(seq), text(ts), text(event),
                 text(actor), text(user), text(purpose), u64(outcome), text(pkey), text(doc),
                 text(detail)]
        if version == 2:
            parts += [text(peer), text(decision), text(reason), text(consent), u64(version)]
        for part in parts:
            m.update(part)
        if prev_hash != prev or h != m.hexdigest():
            bad.append(seq)
        prev = h
    return bad


class TestAuditChain(DurabilityCase):

    def test_chain_matches_its_specification_and_verify_finds_tampering(self):
        """The chain the gateway writes is the one its specification gives
        (recomputed here independently of the C code, so a field left out of
        the hash input on both the writing and the verifying side is
        caught), and `cdxgw audit verify` exits 1 naming the first changed
        row whichever field is changed."""
        gw = Gateway(PKI, name="durability-audit", institutions=institutions())
        gw.start()
        self.addCleanup(gw.stop)
        docs = make_docs("audit", 4)
        push_all(self, gw, docs)
        with Conn.open(gw, cert=docs[0].cert) as c:
            self.assertEqual(cdxtest.raw_get(c, "/v1/documents/" + docs[0].uid).status, 200)
        self.assert_clean_stop(gw)
        self.assertEqual(audit_chain_recomputed(gw), [])
        self.check_audit_verify(gw)
        db = cdxtest.registry_path(gw)
        seq = cdxtest.registry_query(gw, "SELECT max(seq) FROM audit WHERE event ="
                                         " 'document.ingest'")[0][0]
        fields = ("ts", "event", "actor_oid", "actor_user", "purpose", "outcome",
                  "patient_key", "document_id", "detail")
        for field in fields:
            with self.subTest(field=field):
                con = cdxtest._sqlite3.connect(db, isolation_level=None)
                try:
                    old = con.execute("SELECT %s FROM audit WHERE seq = ?" % field,
                                      (seq,)).fetchone()[0]
                    new = 7 if field == "outcome" else ("x" if old is None else old + "x")
                    con.execute("UPDATE audit SET %s = ? WHERE seq = ?" % field, (new, seq))
                    p = cdxtest.audit_verify(gw.conf)
                    con.execute("UPDATE audit SET %s = ? WHERE seq = ?" % field, (old, seq))
                finally:
                    con.close()
                self.assertEqual(p.returncode, 1, "audit verify with %s changed: %s %s"
                                 % (field, p.stdout, p.stderr))
                self.assertIn("seq %d" % seq, p.stdout + p.stderr)
        self.check_audit_verify(gw)


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
