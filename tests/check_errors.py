#!/usr/bin/env python3
"""Problem codes: the catalogue (parsers/base/errors.c) and the sources agree.

Every problem code the gateway can answer with is written once in the
sources as a status literal followed by a code literal, `403, "FORBIDDEN"`:
as the arguments of one of the functions that refuse a request or reject
an input (PROBLEM_FUNCTIONS below: the HTTP responders, the HTTP parser's
and chunked decoder's refusals, the ingest pipeline's verdict
cdx_diag_reject, the audit hooks of refusals), or as a row of a table
that such a call reads its code from.  This check reads gateway/ and
parsers/ (comments left out) and fails when
  - a call of a PROBLEM_FUNCTION passes a code that is not a literal,
    unless it forwards a code chosen elsewhere: an expression listed in
    FORWARDS (a verdict of the pipeline, a refusal of the HTTP parser), or
    a parameter of a function that is itself a PROBLEM_FUNCTION, whose
    callers' literals are read instead;
  - a call passes a literal code with a status that is not a literal;
  - a code emitted is missing from the catalogue, or emitted with another
    status than the catalogue gives it;
  - a catalogue entry is never emitted;
  - a row of the catalogue does not parse.
README.md's table is kept in step with the catalogue by
tests/e2e/test_readme_codes.py, which uses catalogue() from here.
"""
import os
import re
import sys

TOP = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
CATALOGUE = "parsers/base/errors.c"

# Function name -> index of its code argument; the status is the argument
# before it.
PROBLEM_FUNCTIONS = {
    "cdx_respond_problem": 2,
    "cdx_net_respond_problem_raw": 2,
    "cdx_net_respond_fatal": 2,
    "fail": 2,
    "refuse": 2,
    "refuse_post": 2,
    "server_refuse": 2,
    "cdx_diag_reject": 2,
    "audit_refusal": 2,
    "cdx_app_on_reject": 5,
    "cdx_app_audit_reject": 5,
    "reject_hook": 5,
}

# Calls that pass on a code chosen elsewhere, where this check reads it as
# a literal: "function: code argument" (by function, not file, so that
# moving code between files keeps them).
FORWARDS = {
    # The ingest pipeline's verdict (its cdx_diag_reject calls).
    "cdx_respond_problem: job->in.diag.code",
    # The HTTP parser's refusal (its fail calls), and the chunked
    # decoder's (its refuse calls) through the parser.
    "cdx_net_respond_fatal: e->code",
    "fail: p->ck.code",
    # The disclosure sequence's refusals, from the rows of its table.
    "refuse: r->code",
    # A query string refused by gateway/api/params.c (its literals).
    "cdx_respond_problem: e->code",
    "cdx_app_audit_reject: e->code",
    # A refusal before the registry (gateway/api/refuse.c), its code from
    # the literals of the api files' refuse calls.
    "cdx_respond_problem: r->code",
}

PAIR = re.compile(r'(?<![\w.])(\d{3})\s*,\s*"([A-Z][A-Z0-9_]*)"')
DEFINITION = re.compile(r"^[A-Za-z_][\w \t*]*?\b(\w+)\s*\(", re.M)

ROW = re.compile(r'^\s*\{(\d{3}), "([A-Z][A-Z0-9_]*)", "([^"\\]+)"\},\s*$')
CODE = re.compile(r'^"([A-Z][A-Z0-9_]*)"$')
STATUS = re.compile(r"^\d{3}$")


def catalogue(top=TOP):
    """[(status, code, title)] of the C table, in its order."""
    with open(os.path.join(top, CATALOGUE), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^static const cdx_error_t table\[\] = \{\n(.*?)^\};", text, re.M | re.S)
    if not m:
        raise AssertionError("%s: no `static const cdx_error_t table[] = {` found" % CATALOGUE)
    rows = []
    for line in m.group(1).splitlines():
        if not line.strip() or re.match(r"^\s*/\*.*\*/\s*$", line):
            continue
        row = ROW.match(line)
        if not row:
            raise AssertionError("%s: a catalogue row does not parse: %r" % (CATALOGUE, line))
        rows.append((int(row.group(1)), row.group(2), row.group(3)))
    return rows


def strip_comments(src):
    """The C text with comments blanked (line numbers kept), strings intact."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if c in "\"'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            out.append(src[i:j + 1])
            i = j + 1
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def call_args(src, start):
    """The top-level arguments of the call whose '(' is at start, or None."""
    depth, args, cur, i = 0, [], [], start
    while i < len(src):
        c = src[i]
        if c in "\"'":
            j = i + 1
            while j < len(src) and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            cur.append(src[i:j + 1])
            i = j + 1
            continue
        if c in "([{":
            depth += 1
            if depth > 1:
                cur.append(c)
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                args.append("".join(cur).strip())
                return args
            cur.append(c)
        elif c == "," and depth == 1:
            args.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        i += 1
    return None


# The outbound clients answer nobody: what they refuse (a peer's response,
# its certificate) becomes an error result for their caller, never a
# problem body, so their local refuse()/fail() helpers are not read.
OUTBOUND = {
    "gateway/net/http_client.c",
    "gateway/net/http_response.c",
    "gateway/net/tls_client.c",
    "gateway/net/url.c",
}


def sources(top):
    for folder in ("gateway", "parsers"):
        for root, _dirs, files in os.walk(os.path.join(top, folder)):
            for name in sorted(files):
                if name.endswith(".c"):
                    path = os.path.join(root, name)
                    rel = os.path.relpath(path, top)
                    if rel not in OUTBOUND:
                        yield rel, path


def enclosing_function(src, pos):
    """(name, [parameter names]) of the function whose definition precedes pos."""
    last = None
    for m in DEFINITION.finditer(src, 0, pos):
        last = m
    if last is None:
        return None, []
    params = call_args(src, last.end() - 1) or []
    return last.group(1), [re.sub(r".*?(\w+)\s*$", r"\1", p) for p in params]


def emitted(top=TOP):
    """({code: {status: [where]}}, [problems]) over gateway/ and parsers/."""
    codes, bad, forwards_seen = {}, [], set()
    call = re.compile(r"(?<!\w)(%s)\s*\(" % "|".join(PROBLEM_FUNCTIONS))
    for rel, path in sources(top):
        if rel == CATALOGUE:
            continue
        with open(path, encoding="utf-8") as f:
            src = strip_comments(f.read())
        for m in PAIR.finditer(src):
            where = "%s:%d" % (rel, src.count("\n", 0, m.start()) + 1)
            codes.setdefault(m.group(2), {}).setdefault(int(m.group(1)), []).append(where)
        for m in call.finditer(src):
            args = call_args(src, m.end() - 1)
            k = PROBLEM_FUNCTIONS[m.group(1)]
            if args is None or len(args) <= k or re.match(r"^(const\s+)?char\b", args[k]):
                continue  # a definition or a prototype, not a call with a code
            where = "%s:%d" % (rel, src.count("\n", 0, m.start()) + 1)
            code, status = args[k], args[k - 1]
            if CODE.match(code):
                if not STATUS.match(status):
                    bad.append("%s: %s passes %s with the status %r, not a literal"
                               % (where, m.group(1), code, status))
                continue
            key = "%s: %s" % (m.group(1), code)
            if key in FORWARDS:
                forwards_seen.add(key)
                continue
            outer, params = enclosing_function(src, m.start())
            if code in params and outer in PROBLEM_FUNCTIONS:
                continue  # a wrapper handing on its caller's code, read at the caller
            bad.append("%s: %s passes the code %r, not a literal (write the literal where "
                       "the code is chosen, list the wrapper %s in PROBLEM_FUNCTIONS, or the "
                       "forward in FORWARDS)" % (where, m.group(1), code, outer))
    for key in sorted(FORWARDS - forwards_seen):
        bad.append("%s: no such forward any more; remove it from FORWARDS" % key)
    return codes, bad


def check(top=TOP):
    problems = []
    rows = catalogue(top)
    table = {}
    for status, code, _title in rows:
        if code in table:
            problems.append("%s: %s listed twice" % (CATALOGUE, code))
        table[code] = status
    codes, bad = emitted(top)
    problems += bad
    for code in sorted(codes):
        if code not in table:
            where = sorted(w for ws in codes[code].values() for w in ws)
            problems.append("%s is emitted (%s) but not in %s" % (code, ", ".join(where),
                                                                 CATALOGUE))
            continue
        for status, where in sorted(codes[code].items()):
            if status != table[code]:
                problems.append("%s is emitted with %d at %s; the catalogue says %d"
                                % (code, status, ", ".join(where), table[code]))
    for code in sorted(set(table) - set(codes)):
        problems.append("%s is in %s but nothing emits it: remove it, or emit it" %
                        (code, CATALOGUE))
    return rows, codes, problems


def main():
    rows, codes, problems = check()
    if problems:
        print("problem codes out of step:")
        print("\n".join(problems))
        return 1
    print("problem codes ok (%d in the catalogue, all emitted)" % len(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
