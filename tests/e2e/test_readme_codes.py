"""Keeps the README's error table, the gateway's catalogue of problem codes
and the end-to-end tests in step.

The table of README.md's "Errors" section lists exactly the codes of the C
catalogue (parsers/base/errors.c, read by tests/check_errors.py, which also
checks that the sources emit each of them and no other), each with the
catalogue's HTTP status: a code missing on either side fails here.

Every `code` in the README's table must be asserted by at least one
end-to-end test: it must appear as a string literal of its own (e.g.
`problem_check(self, r, 503, "OVERLOADED")`, or a row of a table-driven
test) in a tests/e2e/test_*.py file other than this one.  Docstrings and
comments do not count.  A code added to the README without a test fails
here, and so does a table row that no longer parses.

COVERED_ELSEWHERE lists the few codes provoked by tests outside these files;
once such a code is asserted here too, its entry must go (this test says
so).  UNREACHABLE lists the codes no request can provoke today, each with
why it is kept; such a code must stay unasserted (one that a test provokes
belongs in the other lists)."""

import io
import os
import re
import sys
import tokenize
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import cdxtest  # noqa: E402
import check_errors  # noqa: E402  (tests/check_errors.py)

HERE = os.path.dirname(os.path.abspath(__file__))

COVERED_ELSEWHERE = {
    # Every code of the README table is asserted in tests/e2e today; a code
    # provoked only by a test elsewhere goes here with where.
}

UNREACHABLE = {
    # gateway/domain/ingest.c: the verdict for a document that has error
    # issues but no verdict yet, so that such a document is never stored.
    # Every check that adds an error issue today also gives its own
    # verdict (XML_*, CDA_*, MAPPING_FAILED, ...), so no document reaches it.
    "CDA_INVALID": "guard verdict of the ingest pipeline",
}


def readme_codes(path):
    """{code: status} from the table of the README's "## Errors" section."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^## Errors\s*$(.*?)^## ", text, re.M | re.S)
    if not m:
        raise AssertionError("README.md has no '## Errors' section")
    codes = {}
    for line in m.group(1).splitlines():
        row = re.match(r"^\|\s*(\d{3})\s*\|([^|]*)\|", line)
        if not row:
            continue
        found = re.findall(r"`([A-Z][A-Z0-9_]+)`", row.group(2))
        if not found:
            raise AssertionError("error table row without a code: %r" % line)
        for code in found:
            codes[code] = int(row.group(1))
    return codes


def asserted_literals():
    """{string literal: [files]} of the e2e test files, docstrings left out."""
    out = {}
    for name in sorted(os.listdir(HERE)):
        if not (name.startswith("test_") and name.endswith(".py")) or \
                name == os.path.basename(__file__):
            continue
        with open(os.path.join(HERE, name), encoding="utf-8") as f:
            src = f.read()
        if re.search(r"(?m)^CDX_PENDING_FIXES", src):
            continue  # not run yet: asserts nothing
        prev = None
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type == tokenize.STRING:
                # A docstring is a string statement on its own.
                is_doc = prev is None or prev.type in (tokenize.INDENT, tokenize.NEWLINE,
                                                       tokenize.DEDENT, tokenize.NL)
                if not is_doc:
                    m = re.fullmatch(r"[bru]*(['\"])([A-Z][A-Z0-9_]+)\1", tok.string, re.I)
                    if m:
                        out.setdefault(m.group(2), []).append(name)
            if tok.type not in (tokenize.COMMENT, tokenize.NL):
                prev = tok
    return out


class TestReadmeErrorTable(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.codes = readme_codes(os.path.join(cdxtest.SOURCE_DIR, "README.md"))
        cls.literals = asserted_literals()

    def test_table_parses(self):
        self.assertGreaterEqual(len(self.codes), 30, self.codes)
        for code in ("HTTP_MALFORMED", "XML_DTD_FORBIDDEN", "OVERLOADED", "DOC_ID_CONFLICT"):
            self.assertIn(code, self.codes)

    def test_every_code_has_an_e2e_assertion(self):
        missing = sorted(c for c in self.codes if c not in self.literals and
                         c not in COVERED_ELSEWHERE and c not in UNREACHABLE)
        self.assertEqual(missing, [], "README error codes no end-to-end test asserts")

    def test_unreachable_is_current(self):
        stale = sorted(c for c in UNREACHABLE if c not in self.codes)
        self.assertEqual(stale, [], "UNREACHABLE names codes the README no longer has")
        asserted = sorted(c for c in UNREACHABLE if c in self.literals)
        self.assertEqual(asserted, [], "a test provokes these codes: remove them from "
                         "UNREACHABLE")


class TestReadmeMatchesCatalogue(unittest.TestCase):
    """The README's table and the C catalogue list the same codes with the
    same statuses, in both directions."""

    @classmethod
    def setUpClass(cls):
        cls.readme = readme_codes(os.path.join(cdxtest.SOURCE_DIR, "README.md"))
        cls.table = {code: status for status, code, _title in
                     check_errors.catalogue(cdxtest.SOURCE_DIR)}

    def test_every_catalogue_code_is_documented(self):
        missing = sorted(c for c in self.table if c not in self.readme)
        self.assertEqual(missing, [], "codes of parsers/base/errors.c missing from the "
                         "README's error table")

    def test_every_documented_code_is_in_the_catalogue(self):
        unknown = sorted(c for c in self.readme if c not in self.table)
        self.assertEqual(unknown, [], "codes of the README's error table the gateway never "
                         "answers with (not in parsers/base/errors.c)")

    def test_statuses_agree(self):
        differ = sorted("%s: README %d, catalogue %d" % (c, s, self.table[c])
                        for c, s in self.readme.items() if c in self.table and
                        s != self.table[c])
        self.assertEqual(differ, [])

    def test_covered_elsewhere_is_current(self):
        stale = sorted(c for c in COVERED_ELSEWHERE if c not in self.codes)
        self.assertEqual(stale, [], "COVERED_ELSEWHERE names codes the README no longer has")
        now_here = sorted(c for c in COVERED_ELSEWHERE if c in self.literals)
        self.assertEqual(now_here, [], "these codes are asserted in tests/e2e now: remove them "
                         "from COVERED_ELSEWHERE")


if __name__ == "__main__":
    cdxtest.main()
