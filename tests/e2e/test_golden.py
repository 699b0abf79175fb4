"""End-to-end: `cdxgw validate --json` over the shared corpus against the
committed golden facts (tests/golden/, written by tests/golden/regen.sh and
reviewed; see tests/golden/corpus_facts.py for the format).

The reference is the committed table, not a second run of the same code: a
section reader that stops finding its entries, a verdict that changes, or a
code or value read differently fails here with the file and the section.
A change meant to alter these results regenerates the tables on purpose.

CDX_CORPUS_TESTS: needs the shared corpus (ctest label `corpus`)."""

import collections
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "golden"))
import cdxtest  # noqa: E402
import corpus_facts as cf  # noqa: E402

CCDA = os.path.join(cdxtest.CORPUS_DIR, "ccda")
GOLDEN = os.path.join(os.path.dirname(HERE), "golden")


@unittest.skipUnless(os.path.isdir(CCDA), "shared corpus absent: %s (set CDX_CORPUS_DIR)" % CCDA)
class TestGoldenFacts(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cdxtest.require_binary()
        cls.rels = cf.corpus_files(CCDA)
        cls.objs = cf.validate(cdxtest.BIN, CCDA, cls.rels)
        cls.golden = cf.read_tsv(os.path.join(GOLDEN, cf.FACTS_FILE), cf.FACTS_HEADER)
        cls.sample = cf.read_tsv(os.path.join(GOLDEN, cf.SAMPLE_FILE), cf.SAMPLE_HEADER)
        cls.by_key = collections.defaultdict(list)
        for row in cls.golden:
            cls.by_key[(row[0], row[1])].append(row)
        cls.actual = {r: cf.facts_row(r, cls.objs[r]) for r in cls.rels}

    def test_golden_tables_are_substantial(self):
        """The reference itself: hundreds of files, every section well
        represented (a table regenerated from a broken build would not be)."""
        self.assertGreaterEqual(len(self.golden), 300)
        for i, s in enumerate(cf.SECTIONS):
            total = sum(int(row[3 + i]) for row in self.golden)
            self.assertGreater(total, 100, "golden table has only %d %s" % (total, s))
        self.assertGreaterEqual(len({r[0] for r in self.sample}), cf.SAMPLE_SIZE)

    def test_same_files(self):
        want = collections.Counter((r[0], r[1]) for r in self.golden)
        have = collections.Counter(row[:2] for row in self.actual.values())
        unknown = sorted(r for r in self.rels if self.actual[r][:2] not in want)
        gone = sorted(want - have)
        self.assertEqual((unknown, gone), ([], []),
                         "corpus files without a golden row / golden rows without a file: "
                         "the corpus changed; review and run tests/golden/regen.sh")

    def test_verdicts(self):
        diffs = []
        for r in self.rels:
            rows = self.by_key.get(self.actual[r][:2])
            if rows and self.actual[r][2] != rows[0][2]:
                diffs.append("%s: golden %r, now %r" % (r, rows[0][2], self.actual[r][2]))
        self.assertEqual(diffs, [], "verdicts differ from the golden table")

    def test_fact_counts_per_section(self):
        diffs = []
        totals = collections.Counter()
        for r in self.rels:
            rows = self.by_key.get(self.actual[r][:2])
            if not rows:
                continue
            for i, s in enumerate(cf.SECTIONS):
                want, have = int(rows[0][3 + i]), int(self.actual[r][3 + i])
                totals[(s, "golden")] += want
                totals[(s, "now")] += have
                if want != have:
                    diffs.append("%s: %s golden %d, now %d" % (r, s, want, have))
        sys.stderr.write("\n  facts per section (golden / now): %s\n" % ", ".join(
            "%s %d/%d" % (s, totals[(s, "golden")], totals[(s, "now")]) for s in cf.SECTIONS))
        self.assertEqual(diffs[:40], [], "%d fact counts differ from the golden table"
                         % len(diffs))

    def test_sample_codes_and_values(self):
        want = collections.defaultdict(list)
        for row in self.sample:
            want[row[0]].append(row)
        by_sha = {self.objs[r].get("sha256"): r for r in self.rels}
        for sha, rows in sorted(want.items()):
            with self.subTest(file=by_sha.get(sha, sha)):
                self.assertIn(sha, by_sha, "sample file %s is no longer in the corpus" % sha)
                have = cf.sample_rows(by_sha[sha], self.objs[by_sha[sha]])
                self.assertEqual([r[2:] for r in have], [r[2:] for r in rows],
                                 "facts of %s differ from the golden sample" % by_sha[sha])


if __name__ == "__main__":
    cdxtest.main()
