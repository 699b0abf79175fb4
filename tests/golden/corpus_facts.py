#!/usr/bin/env python3
"""The golden facts of the shared CDA corpus: format, generation, reading.

Two tab-separated tables, committed and reviewed (tests/golden/regen.sh
writes them; tests/e2e/test_golden.py compares `cdxgw validate --json`
against them):

- corpus-facts.tsv: one row per file under CORPUS/ccda: its source (the
  first folder under ccda/), the SHA-256 of its bytes (the key: file names
  of the corpus carry test patients' names, so they are not recorded; a
  changed file shows as one row gone and one unknown), the verdict
  (`accepted`, or the rejection's status and code, e.g.
  `422 CDA_REQUIRED_FIELD`), and the number of facts in each of the eight
  sections.
- corpus-facts-sample.tsv: for SAMPLE_SIZE accepted files spread over the
  sources, every fact in document order: section, code system, code, numeric
  value, unit, status and negation.

Only counts, codes and values: no names, identifiers, dates, free text or
display names (the corpus files themselves stay outside the repository)."""

import json
import os
import subprocess
import sys

SECTIONS = ("problems", "medications", "allergies", "results", "vital_signs", "procedures",
            "immunizations", "encounters")
SAMPLE_SIZE = 20
FACTS_FILE = "corpus-facts.tsv"
SAMPLE_FILE = "corpus-facts-sample.tsv"
# Rejections that come after extraction, so the facts are all there.
SAMPLE_ALSO = ("DOCUMENT_ID_FOREIGN",)
FACTS_HEADER = ("source", "sha256", "verdict") + SECTIONS
SAMPLE_HEADER = ("sha256", "n", "section", "codeSystem", "code", "number", "unit", "status",
                 "negated")


def corpus_files(ccda):
    """Regular files under ccda, relative paths, sorted (hidden entries skipped)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(ccda):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for n in filenames:
            if not n.startswith("."):
                out.append(os.path.relpath(os.path.join(dirpath, n), ccda))
    return sorted(out)


def validate(binary, ccda, rels, chunk=100):
    """{relative path: the object `cdxgw validate --json` prints for it}.
    Raises on an exit code other than 0/1 or a file without one object."""
    objs = {}
    for i in range(0, len(rels), chunk):
        part = [os.path.join(ccda, r) for r in rels[i:i + chunk]]
        p = subprocess.run([binary, "validate", "--json"] + part, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=900)
        if p.returncode not in (0, 1):
            raise RuntimeError("cdxgw validate exited %d; stderr:\n%s"
                               % (p.returncode, p.stderr.decode("utf-8", "replace")[-3000:]))
        for line in p.stdout.decode("utf-8").splitlines():
            if line.strip():
                o = json.loads(line)
                rel = os.path.relpath(o["file"], ccda)
                if rel in objs:
                    raise RuntimeError("two objects for %s" % rel)
                objs[rel] = o
    missing = [r for r in rels if r not in objs]
    if missing:
        raise RuntimeError("no validate object for %r" % missing[:10])
    return objs


def verdict(o):
    return "accepted" if o.get("valid") else "%s %s" % (o.get("status"), o.get("code"))


def source_of(rel):
    return rel.split(os.sep, 1)[0] if os.sep in rel else "."


def facts_row(rel, o):
    return (source_of(rel), o.get("sha256") or "-", verdict(o)) + tuple(
        str(len(o.get(s) or [])) for s in SECTIONS)


def _cell(v):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    s = str(v)
    return s.replace("\t", " ").replace("\n", " ") or "-"


def sample_rows(rel, o):
    rows, n = [], 0
    for s in SECTIONS:
        for f in o.get(s) or []:
            rows.append((o.get("sha256") or "-", str(n), s, _cell(f.get("codeSystem")), _cell(f.get("code")),
                         _cell(f.get("number")), _cell(f.get("unit")), _cell(f.get("status")),
                         _cell(f.get("negated"))))
            n += 1
    return rows


def choose_sample(objs):
    """SAMPLE_SIZE files with facts, spread evenly over the sorted list (so
    every source folder is likely represented): accepted files, and files
    refused only for their numbering (DOCUMENT_ID_FOREIGN: the vendors'
    example id roots are not their custodians'), whose facts are extracted
    all the same."""
    cands = [r for r in sorted(objs)
             if (objs[r].get("valid") or objs[r].get("code") in SAMPLE_ALSO)
             and sum(len(objs[r].get(s) or []) for s in SECTIONS) > 0]
    if len(cands) <= SAMPLE_SIZE:
        return cands
    step = len(cands) / float(SAMPLE_SIZE)
    return [cands[int(i * step)] for i in range(SAMPLE_SIZE)]


def read_tsv(path, header):
    with open(path, encoding="utf-8") as f:
        lines = [ln.rstrip("\n") for ln in f if ln.strip() and not ln.startswith("#")]
    head = tuple(lines[0].split("\t"))
    if head != header:
        raise ValueError("%s: header %r, expected %r" % (path, head, header))
    return [tuple(ln.split("\t")) for ln in lines[1:]]


def write_tsv(path, header, rows, comment):
    with open(path, "w", encoding="utf-8") as f:
        for c in comment:
            f.write("# %s\n" % c)
        f.write("\t".join(header) + "\n")
        for r in rows:
            f.write("\t".join(r) + "\n")


def main(argv):
    if len(argv) != 4:
        sys.stderr.write("usage: corpus_facts.py CDXGW_BINARY CORPUS_DIR OUT_DIR\n")
        return 2
    binary, corpus, out = argv[1:]
    ccda = os.path.join(corpus, "ccda")
    rels = corpus_files(ccda)
    objs = validate(binary, ccda, rels)
    comment = ["Written by tests/golden/regen.sh; reviewed and updated on purpose only.",
               "Compared by tests/e2e/test_golden.py against cdxgw validate --json."]
    write_tsv(os.path.join(out, FACTS_FILE), FACTS_HEADER,
              sorted(facts_row(r, objs[r]) for r in rels), comment)
    sample = []
    for r in sorted(choose_sample(objs), key=lambda r: objs[r].get("sha256") or ""):
        sample.extend(sample_rows(r, objs[r]))
    write_tsv(os.path.join(out, SAMPLE_FILE), SAMPLE_HEADER, sample, comment)
    accepted = sum(1 for r in rels if objs[r].get("valid"))
    print("%d files (%d accepted), %d sample facts from %d files"
          % (len(rels), accepted, len(sample), len(choose_sample(objs))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
