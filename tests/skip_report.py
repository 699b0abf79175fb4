#!/usr/bin/env python3
"""Lists the tests ctest skipped, with the reasons they printed, and fails
when the shared corpus is present but a test labelled `corpus` skipped
anyway (a corpus test that silently stops running must not look green).

    tests/skip_report.py BUILD_DIR JUNIT_XML

BUILD_DIR is a configured build folder (its CMakeCache.txt names
CDX_CORPUS_DIR); JUNIT_XML is what `ctest --output-junit` wrote.  A skipped
test is one whose executable exited with its SKIP_RETURN_CODE (77) after
printing `cdx-skip: ...` lines (tests/support/cdx_test.h, cdxtest.main())."""

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET


def corpus_dir(build):
    with open(os.path.join(build, "CMakeCache.txt"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"CDX_CORPUS_DIR:[A-Z]+=(.*)$", line.rstrip("\n"))
            if m:
                return m.group(1)
    return ""


def labelled(build, label):
    out = subprocess.run(["ctest", "--test-dir", build, "--show-only=json-v1"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         check=True).stdout
    names = set()
    for t in json.loads(out).get("tests", []):
        for p in t.get("properties", []):
            if p.get("name") == "LABELS" and label in (p.get("value") or []):
                names.add(t["name"])
    return names


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    build, junit = sys.argv[1], sys.argv[2]
    root = ET.parse(junit).getroot()
    counts = {"passed": 0, "failed": 0, "skipped": 0, "disabled": 0}
    skipped, disabled = [], []
    for tc in root.iter("testcase"):
        name = tc.get("name")
        status = tc.get("status")
        out = "".join(e.text or "" for e in tc.iter("system-out"))
        if status == "disabled":
            counts["disabled"] += 1
            disabled.append(name)
        elif status == "notrun" or tc.find("skipped") is not None:
            counts["skipped"] += 1
            reasons = [ln.strip() for ln in out.splitlines() if ln.startswith("cdx-skip:")]
            skipped.append((name, reasons or ["(no cdx-skip line: %s)"
                                              % ((tc.find("skipped") is not None and
                                                  tc.find("skipped").get("message")) or status)]))
        elif status == "fail" or tc.find("failure") is not None:
            counts["failed"] += 1
        else:
            counts["passed"] += 1
    print("tests: %(passed)d passed, %(failed)d failed, %(skipped)d skipped, %(disabled)d disabled"
          " (pending fixes)" % counts)
    for name in disabled:
        print("  disabled %s (its cases wait for fixes: see the file's docstring)" % name)
    for name, reasons in skipped:
        print("  skipped %s" % name)
        for r in reasons:
            print("    %s" % r)
    corpus = corpus_dir(build)
    if corpus and os.path.isdir(os.path.join(corpus, "ccda")):
        bad = sorted(name for name, _ in skipped if name in labelled(build, "corpus"))
        if bad:
            print("FAILED: the corpus is present (%s) but these corpus tests skipped: %s"
                  % (corpus, ", ".join(bad)))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
