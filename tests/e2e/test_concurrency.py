"""End-to-end: concurrent ingest, reads while writing, group commit.

The concurrency-focused scenario that the ThreadSanitizer build runs (and
every other build too): several clients push distinct documents at once on
keep-alive TLS connections (the worker pool parses, validates, normalizes
and extracts them in parallel; the writer thread commits them in groups);
others read acknowledged documents back (original, normalized, metadata)
and scrape /metrics (the writer's counters) while the writes go on; a
second process runs `cdxgw audit verify` against the live registry
meanwhile.  Then every acknowledged document must read back byte for byte,
each stored once with its ingest audit record, the chain must verify, and
SIGTERM must stop the gateway with exit 0 and no sanitizer report (under
TSAN_OPTIONS=halt_on_error=1 a data race ends the process at once)."""

import hashlib
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Conn, Gateway, Institution  # noqa: E402

WRITERS = 6
DOCS_PER_WRITER = 20
READERS = 3
DEADLINE_S = 300  # generous: sanitizer builds on a loaded machine

PKI = None


def setUpModule():
    global PKI
    PKI = cdxtest.shared_pki()


class TestConcurrentIngest(unittest.TestCase):

    def test_concurrent_posts_reads_and_group_commit(self):
        gw = Gateway(PKI, name="concurrency",
                     institutions=[Institution(cdxtest.E2E_OID, "e2e clinic", PKI.good,
                                               "submit, query, admin")],
                     settings={"worker_threads": 4, "log_level": "info"})
        gw.start(timeout=60)
        self.addCleanup(gw.stop)

        docs = [[cdxtest.minimal_cda(doc_ext="CONC-%d-%d-%d" % (os.getpid(), w, i),
                                     patient_ext="P-%d" % (i % 7))
                 for i in range(DOCS_PER_WRITER)] for w in range(WRITERS)]
        lock = threading.Lock()
        acked = []        # (uid, body)
        failures = []
        writers_done = threading.Event()
        deadline = time.monotonic() + DEADLINE_S

        def writer(w):
            try:
                with Conn.open(gw, timeout=60.0) as c:
                    for body in docs[w]:
                        r = cdxtest.raw_post(c, body, timeout=60.0)
                        if r is None or r.status != 201:
                            with lock:
                                failures.append("POST: %r" % (r,))
                            return
                        rec = r.json()
                        if rec["sha256"] != hashlib.sha256(body).hexdigest():
                            with lock:
                                failures.append("receipt sha256 mismatch: %r" % rec)
                        with lock:
                            acked.append((rec["id"], body))
            except (OSError, cdxtest.GatewayError) as e:
                with lock:
                    failures.append("writer %d: %r" % (w, e))

        reads = [0]

        def reader(k):
            try:
                with Conn.open(gw, timeout=60.0) as c:
                    n = 0
                    while not writers_done.is_set() and time.monotonic() < deadline:
                        with lock:
                            pick = acked[(n * 7 + k) % len(acked)] if acked else None
                        n += 1
                        if pick is None:
                            r = cdxtest.raw_get(c, "/healthz", timeout=60.0)
                            if r is None or r.status != 200:
                                with lock:
                                    failures.append("healthz: %r" % (r,))
                                return
                            continue
                        uid, body = pick
                        form = ("", "?form=normalized", "/metadata", "metrics")[n % 4]
                        path = "/metrics" if form == "metrics" else "/v1/documents/" + uid + form
                        r = cdxtest.raw_get(c, path, timeout=60.0)
                        if r is None or r.status != 200 or (form == "" and r.body != body):
                            with lock:
                                failures.append("GET %s while writing: %r" % (path, r))
                            return
                        with lock:
                            reads[0] += 1
            except (OSError, cdxtest.GatewayError) as e:
                with lock:
                    failures.append("reader %d: %r" % (k, e))

        verifies = []

        def verifier():
            while not writers_done.is_set() and time.monotonic() < deadline:
                p = cdxtest.audit_verify(gw.conf, timeout=120)
                verifies.append(p.returncode)
                if p.returncode != 0:
                    with lock:
                        failures.append("audit verify while serving: %s %s"
                                        % (p.stdout, p.stderr))
                    return

        ws = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
        rs = [threading.Thread(target=reader, args=(k,)) for k in range(READERS)]
        vs = [threading.Thread(target=verifier)]
        for t in ws + rs + vs:
            t.start()
        for t in ws:
            t.join(DEADLINE_S)
        writers_done.set()
        for t in rs + vs:
            t.join(DEADLINE_S)
        self.assertFalse(any(t.is_alive() for t in ws + rs + vs), "clients still running")
        self.assertEqual(failures, [], "gateway log tail:\n" + gw.log()[-3000:])
        self.assertTrue(gw.alive(), gw.log()[-3000:])
        self.assertEqual(len(acked), WRITERS * DOCS_PER_WRITER)
        self.assertGreater(len(verifies), 0)

        # Group commit: how many changes each commit carried (a figure, not
        # a bound: it depends on timing).
        m = gw.metrics()
        commits = cdxtest.metric_samples(m, "cdxgw_registry_commits_total")
        changes = cdxtest.metric_samples(m, "cdxgw_registry_changes_total")
        self.assertTrue(commits and changes, m)
        if commits and changes:
            c0, ch0 = int(commits[0][1]), int(changes[0][1])
            sys.stderr.write("\n  %d documents from %d clients, %d reads meanwhile, %d audit "
                             "verifications; %d changes in %d commits\n"
                             % (len(acked), WRITERS, reads[0], len(verifies), ch0, c0))
            self.assertGreaterEqual(ch0, len(acked))

        # Everything acknowledged is there, once, byte for byte, audited.
        with Conn.open(gw, timeout=60.0) as c:
            for uid, body in acked:
                g = cdxtest.raw_get(c, "/v1/documents/" + uid, timeout=60.0)
                self.assertEqual((g.status, g.body), (200, body), uid)
        rows = dict(cdxtest.registry_query(gw, "SELECT uid, count(*) FROM documents GROUP BY uid"))
        self.assertEqual(rows, {uid: 1 for uid, _ in acked})
        ingests = cdxtest.registry_query(
            gw, "SELECT count(DISTINCT document_id) FROM audit WHERE event = 'document.ingest'")
        self.assertEqual(ingests[0][0], len(acked))

        rc = gw.stop(timeout=60)
        self.assertEqual(rc, 0, "gateway exit %s; stderr:\n%s" % (rc, gw.log()[-5000:]))
        self.assertIsNone(cdxtest.sanitizer_report(gw.log()), gw.log()[-5000:])
        p = cdxtest.audit_verify(gw.conf, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    cdxtest.main()
