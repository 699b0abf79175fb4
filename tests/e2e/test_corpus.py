"""End-to-end: the shared third-party CDA corpus through `cdxgw validate`
and `cdxgw import`.

Every file under CDX_CORPUS_DIR/ccda is validated (`--json`, many files per
invocation) and bulk-imported into a fresh data_dir; nothing may crash (exit
0 or 1, no sanitizer report), every file gets one JSON object, every invalid
one a code and a located issue.  Import must store exactly the valid
documents (the first of each ClinicalDocument/id; later files with the same
id and other bytes are conflicts, identical files are skipped), and a second
run must skip everything it stored.  A summary table is printed.

CDX_CORPUS_TESTS: needs the shared corpus (ctest label `corpus`)."""

import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402

CCDA = os.path.join(cdxtest.CORPUS_DIR, "ccda")
KINDS = ("problems", "medications", "allergies", "results", "vital_signs", "procedures",
         "immunizations", "encounters")
CHUNKS = 4
PARALLEL = 2


def walk_sorted(path):
    """Regular files under path in `cdxgw import`'s order (names sorted
    byte-wise per folder, hidden entries skipped)."""
    out = []
    names = sorted(os.listdir(path), key=lambda n: n.encode("utf-8", "surrogateescape"))
    for n in names:
        if n.startswith("."):
            continue
        p = os.path.join(path, n)
        if os.path.isdir(p):
            out.extend(walk_sorted(p))
        elif os.path.isfile(p):
            out.append(p)
    return out


def run_validate(files, workdir):
    """Runs `cdxgw validate --json` over files in CHUNKS invocations
    (PARALLEL at a time); returns [(rc, stdout, stderr, chunk)]."""
    chunks = [files[i::CHUNKS] for i in range(CHUNKS)]
    chunks = [c for c in chunks if c]
    results = []
    for start in range(0, len(chunks), PARALLEL):
        procs = []
        for chunk in chunks[start:start + PARALLEL]:
            p = subprocess.Popen([cdxtest.BIN, "validate", "--json"] + chunk, cwd=workdir,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            procs.append((p, chunk))
        for p, chunk in procs:
            out, err = p.communicate(timeout=600)
            results.append((p.returncode, out.decode("utf-8", "replace"),
                            err.decode("utf-8", "replace"), chunk))
    return results


def run_import(conf, path, workdir):
    p = subprocess.run([cdxtest.BIN, "import", "--config", conf, path], cwd=workdir,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=900)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def parse_import(out):
    m = re.search(r"stored (\d+), already stored (\d+) \(identical (\d+)\), rejected (\d+)", out)
    if not m:
        return None
    s = {"stored": int(m.group(1)), "already": int(m.group(2)), "identical": int(m.group(3)),
         "rejected": int(m.group(4)), "reasons": {}, "facts": {}}
    for code, n in re.findall(r"^\s{4}([A-Z][A-Z0-9_]+)\s+(\d+)\s*$", out, re.M):
        s["reasons"][code] = int(n)
    fm = re.search(r"facts stored:(.*)$", out, re.M)
    if fm:
        for k, v in re.findall(r"(\w+)=(\d+)", fm.group(1)):
            s["facts"][k] = int(v)
    return s


@unittest.skipUnless(os.path.isdir(CCDA), "shared corpus absent: %s (set CDX_CORPUS_DIR)" % CCDA)
class TestCorpus(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cdxtest.require_binary()
        cls.work = cdxtest.scratch("corpus")
        cls.files = walk_sorted(CCDA)
        cls.validate_runs = run_validate(cls.files, cls.work)
        cls.objects = {}
        cls.parse_errors = []
        for rc, out, err, chunk in cls.validate_runs:
            for line in out.splitlines():
                if not line.strip():
                    continue
                try:
                    o = json.loads(line)
                except ValueError as e:
                    cls.parse_errors.append("%s: %r" % (e, line[:200]))
                    continue
                cls.objects.setdefault(o.get("file"), []).append(o)
        cls.conf = os.path.join(cls.work, "cdxgw.conf")
        with open(cls.conf, "w") as f:
            f.write("data_dir = data\n")
        cls.import1 = run_import(cls.conf, CCDA, cls.work)
        cls.summary1 = parse_import(cls.import1[1])
        cls.docs_after1 = cdxtest.table_count(cls.registry(), "documents")
        cls.import2 = run_import(cls.conf, CCDA, cls.work)
        cls.summary2 = parse_import(cls.import2[1])
        cls.print_table()

    @classmethod
    def registry(cls):
        return os.path.join(cls.work, "data", "registry.db")

    @classmethod
    def one(cls, f):
        objs = cls.objects.get(f) or [None]
        return objs[0]

    @classmethod
    def print_table(cls):
        valid = [o for f in cls.files for o in [cls.one(f)] if o and o.get("valid")]
        invalid = [o for f in cls.files for o in [cls.one(f)] if o and not o.get("valid")]
        by_code = {}
        for o in invalid:
            by_code[o.get("code")] = by_code.get(o.get("code"), 0) + 1
        facts = {k: sum(len(o.get(k) or []) for o in valid) for k in KINDS}
        lines = ["", "corpus %s: %d files" % (CCDA, len(cls.files)),
                 "  validate: accepted %d, rejected %d" % (len(valid), len(invalid))]
        for code, n in sorted(by_code.items(), key=lambda kv: (-kv[1], str(kv[0]))):
            lines.append("    %-26s %d" % (code, n))
        lines.append("  facts per section (sum over accepted files):")
        for k in KINDS:
            lines.append("    %-26s %d" % (k, facts[k]))
        lines.append("  import #1 (exit %d): %s" % (cls.import1[0], cls.summary1))
        lines.append("  import #2 (exit %d): %s" % (cls.import2[0], cls.summary2))
        sys.stderr.write("\n".join(lines) + "\n")

    # -- validate ----------------------------------------------------------------

    def test_validate_no_crash(self):
        for rc, out, err, chunk in self.validate_runs:
            self.assertIn(rc, (0, 1), "validate exit %d over %d files; stderr:\n%s"
                          % (rc, len(chunk), err[-3000:]))
            self.assertIsNone(cdxtest.sanitizer_report(err), err[-5000:])

    def test_validate_one_object_per_file(self):
        self.assertEqual(self.parse_errors, [], "lines that are not JSON")
        missing = [f for f in self.files if f not in self.objects]
        self.assertEqual(missing, [], "files without a JSON object")
        dup = [f for f, objs in self.objects.items() if len(objs) != 1]
        self.assertEqual(dup, [], "files with several objects")
        extra = set(self.objects) - set(self.files)
        self.assertEqual(extra, set())

    def test_validate_json_shape(self):
        for f in self.files:
            o = self.one(f)
            if o is None:
                continue
            with self.subTest(file=os.path.relpath(f, CCDA)):
                for k in ("file", "valid", "issues", "metadata") + KINDS:
                    self.assertIn(k, o, "key %r missing" % k)
                self.assertIsInstance(o["valid"], bool)
                self.assertIsInstance(o["issues"], list)
                for k in KINDS:
                    self.assertIsInstance(o[k], list, k)
                if o["valid"]:
                    self.assertIsInstance(o["metadata"], dict)

    def test_validate_json_has_all_contract_keys(self):
        """The contract lists status and code among the keys of every object
        (null for a valid document is fine)."""
        lacking = {}
        for f in self.files:
            o = self.one(f) or {}
            for k in ("status", "code"):
                if k not in o:
                    lacking.setdefault(k, []).append(os.path.relpath(f, CCDA))
        self.assertEqual({k: "%d files, e.g. %s" % (len(v), v[0]) for k, v in lacking.items()},
                         {}, "objects without the contract keys")

    def test_invalid_have_code_and_located_issue(self):
        for f in self.files:
            o = self.one(f)
            if o is None or o.get("valid"):
                continue
            with self.subTest(file=os.path.relpath(f, CCDA)):
                self.assertRegex(o.get("code") or "", r"^[A-Z][A-Z0-9_]+$", o.get("code"))
                self.assertIsInstance(o.get("status"), int)
                self.assertIn(o["status"], (400, 403, 413, 415, 422), o.get("code"))
                located = [i for i in o["issues"] if i.get("location")]
                self.assertTrue(located, "no issue with a location: %r" % o["issues"][:5])
                for i in o["issues"]:
                    for k in ("severity", "rule", "location", "message"):
                        self.assertIn(k, i)

    # -- import --------------------------------------------------------------------

    def test_import_no_crash(self):
        for n, (rc, out, err) in enumerate((self.import1, self.import2), 1):
            self.assertIn(rc, (0, 1), "import #%d exit %d; stdout:\n%s\nstderr:\n%s"
                          % (n, rc, out[-2000:], err[-3000:]))
            self.assertIsNone(cdxtest.sanitizer_report(err), err[-5000:])
        self.assertIsNotNone(self.summary1, self.import1[1])
        self.assertIsNotNone(self.summary2, self.import2[1])

    def expected_store(self):
        """(ids stored, facts) import must store: the first valid file of
        each ClinicalDocument/id, in import order, identical bytes skipped."""
        seen_ids, seen_sha = {}, set()
        facts = {k: 0 for k in KINDS}
        for f in self.files:
            o = self.one(f)
            if o is None or not o.get("valid"):
                continue
            uid = (o.get("metadata") or {}).get("uniqueId")
            if o.get("sha256") in seen_sha or uid in seen_ids:
                continue
            seen_ids[uid] = f
            seen_sha.add(o.get("sha256"))
            for k in KINDS:
                facts[k] += len(o.get(k) or [])
        return seen_ids, facts

    def test_import_stores_what_validate_accepts(self):
        s = self.summary1
        self.assertIsNotNone(s)
        ids, facts = self.expected_store()
        valid = [f for f in self.files if (self.one(f) or {}).get("valid")]
        invalid = len(self.files) - len(valid)
        self.assertEqual(s["stored"], len(ids),
                         "import stored %d, validate accepts %d files with %d distinct ids"
                         % (s["stored"], len(valid), len(ids)))
        self.assertEqual(self.docs_after1, s["stored"])
        stored = set(r[0] for r in cdxtest.registry_query(self.registry(),
                                                          "SELECT unique_id FROM documents"))
        self.assertEqual(stored, set(ids))
        # Rejections: the invalid files plus the conflicts of the duplicate ids.
        by_code = {}
        for f in self.files:
            o = self.one(f)
            if o is not None and not o.get("valid"):
                by_code[o.get("code")] = by_code.get(o.get("code"), 0) + 1
        reasons = dict(s["reasons"])
        conflicts = reasons.pop("DOC_ID_CONFLICT", 0)
        self.assertEqual(reasons, by_code, "import's rejection reasons differ from validate's")
        self.assertEqual(s["rejected"], invalid + conflicts)
        self.assertEqual(s["stored"] + s["already"] + s["rejected"], len(self.files))
        self.assertEqual(self.import1[0], 1 if s["rejected"] else 0)

    def test_import_facts_match_validate(self):
        s = self.summary1
        self.assertIsNotNone(s)
        _, facts = self.expected_store()
        self.assertEqual({k: s["facts"].get(k) for k in KINDS}, facts,
                         "facts stored by import vs facts validate reports for the same files")

    def test_second_import_skips_everything(self):
        s1, s2 = self.summary1, self.summary2
        self.assertIsNotNone(s1)
        self.assertIsNotNone(s2)
        self.assertEqual(s2["stored"], 0, "the second run stored again: %r" % s2)
        self.assertEqual(s2["already"], s1["stored"] + s1["already"], s2)
        self.assertEqual(s2["rejected"], s1["rejected"], s2)
        self.assertEqual(cdxtest.table_count(self.registry(), "documents"), self.docs_after1)
        self.assertEqual(self.import2[0], self.import1[0])

    def test_import_registry_integrity_and_audit(self):
        con = cdxtest.registry_ro(self.registry())
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
            n = con.execute("SELECT count(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM"
                            " audit a WHERE a.document_id = d.uid AND a.event ="
                            " 'document.ingest')").fetchone()[0]
            self.assertEqual(n, 0, "stored documents without an ingest audit row")
        finally:
            con.close()
        p = cdxtest.audit_verify(self.conf)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    cdxtest.main()
