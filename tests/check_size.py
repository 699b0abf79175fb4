#!/usr/bin/env python3
"""Size rules (docs/ARCHITECTURE.md): no C file over 800 lines, and no
function over 100 lines unless the comment just above it gives the reason
in a sentence starting "Long:".  Prints every offender and exits 1 on any.
"""
import os
import re
import sys

TOP = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
MAX_FILE = 800
MAX_FUNCTION = 100
FOLDERS = ("parsers", "gateway", "include", "samples", "bench", "tests/unit", "tests/fuzz",
           "tests/support")
# Test and tool sources: cmocka files list many cases and are exempt from
# the file size, not from the function size.
FILE_EXEMPT = re.compile(r"^(tests/|bench/)")

# Offenders today, each to be removed by the change that fixes it.
KNOWN = set()

SIGNATURE = re.compile(r"^[A-Za-z_][\w \*]*\b(\w+)\s*\(")


def functions(lines):
    """Yields (name, first line, length, reason given) for each function
    defined with its opening brace alone at column 0."""
    for i, line in enumerate(lines):
        if line.rstrip("\n") != "{":
            continue
        # The signature starts at the nearest line above at column 0 that
        # is not a continuation of parameters.
        j = i - 1
        while j > 0 and (lines[j].startswith((" ", "\t")) or lines[j].strip() == ""):
            j -= 1
        m = SIGNATURE.match(lines[j])
        if not m or lines[j].startswith(("typedef", "struct", "enum", "union", "static const",
                                         "const ")) and "(" not in lines[j]:
            continue
        end = i + 1
        while end < len(lines) and lines[end].rstrip("\n") != "}":
            end += 1
        length = end - j + 1
        k = j - 1
        comment = []
        while k >= 0 and (lines[k].lstrip().startswith(("/*", "*", "//")) or
                          lines[k].rstrip().endswith("*/")):
            comment.append(lines[k])
            k -= 1
        reason = re.search(r"\bLong:", "".join(comment)) is not None
        yield m.group(1), j + 1, length, reason


def main():
    bad = []
    seen = set()
    for folder in FOLDERS:
        for root, _dirs, files in os.walk(os.path.join(TOP, folder)):
            for name in sorted(files):
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(root, name)
                rel = os.path.relpath(path, TOP)
                with open(path, encoding="utf-8") as f:
                    lines = f.readlines()
                offences = []
                if len(lines) > MAX_FILE and not FILE_EXEMPT.match(rel):
                    offences.append((rel, "%s: %d lines (at most %d: split it by concern)"
                                     % (rel, len(lines), MAX_FILE)))
                if name.endswith(".c"):
                    for fn, first, length, reason in functions(lines):
                        if length > MAX_FUNCTION and not reason:
                            offences.append((
                                "%s:%s" % (rel, fn),
                                "%s:%d: %s() is %d lines (at most %d, or say why in a "
                                "comment sentence starting \"Long:\")"
                                % (rel, first, fn, length, MAX_FUNCTION)))
                for key, message in offences:
                    if key in KNOWN:
                        seen.add(key)
                    else:
                        bad.append(message)
    for key in sorted(KNOWN - seen):
        bad.append("%s: fixed; remove it from KNOWN in tests/check_size.py" % key)
    if bad:
        print("size rules broken:")
        print("\n".join(bad))
        return 1
    print("sizes ok (%d known exceptions left)" % len(KNOWN))
    return 0


if __name__ == "__main__":
    sys.exit(main())
