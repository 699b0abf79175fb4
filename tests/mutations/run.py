#!/usr/bin/env python3
"""Mutation checks: break each guard that matters, one at a time, and make
sure a test notices.

mutants.json lists the mutants.  Each has a name, what it breaks, one or
more edits (file, exact original text, replacement) and the tests that must
fail with it:
  "unit:test_xml"                    a cmocka executable of tests/unit
  "e2e:test_http"                    an end-to-end script, whole
  "e2e:test_http:Class.test_method"  ... or only the named tests (comma-separated)
  "check:check_selftest"             a Python check of tests/, given the tree

The runner copies the tracked files of the tree into build/mutations/src
(only files whose content changed are rewritten, so the one build folder,
build/mutations/build, stays incremental across mutants and runs), checks
that every original text occurs exactly once (a stale mutant fails loudly),
builds, runs every listed test once without a mutant (they must pass), then
for each mutant applies its edits, rebuilds (only the edited files
recompile), runs its tests until one fails, and restores the files.  A
mutant no test kills, a mutant that does not compile, or a test that fails
without a mutant fails the run.

  tests/mutations/run.py [--list] [--only NAME[,NAME...]] [--jobs N]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
WORK = os.path.join(TOP, "build", "mutations")
SRC = os.path.join(WORK, "src")
BUILD = os.path.join(WORK, "build")
TEST_TIMEOUT = 600


def log(msg):
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def load_mutants():
    with open(os.path.join(HERE, "mutants.json"), encoding="utf-8") as f:
        data = json.load(f)
    mutants = data["mutants"]
    names = set()
    for m in mutants:
        for key in ("name", "breaks", "edits", "tests"):
            if not m.get(key):
                raise SystemExit("mutants.json: mutant %r lacks %r" % (m.get("name"), key))
        if m["name"] in names:
            raise SystemExit("mutants.json: two mutants named %r" % m["name"])
        names.add(m["name"])
        for e in m["edits"]:
            if e["original"] == e["replacement"]:
                raise SystemExit("mutants.json: %s: an edit changes nothing" % m["name"])
    return mutants


def check_stale(mutants):
    """Every original text must occur exactly once in the real tree."""
    bad = []
    for m in mutants:
        for e in m["edits"]:
            path = os.path.join(TOP, e["file"])
            try:
                with open(path, encoding="utf-8") as f:
                    n = f.read().count(e["original"])
            except FileNotFoundError:
                n = -1
            if n != 1:
                bad.append("%s: %s: the original text occurs %s" % (
                    m["name"], e["file"], "in no file (missing)" if n < 0 else "%d times" % n))
    if bad:
        raise SystemExit("stale mutants (update tests/mutations/mutants.json):\n  "
                         + "\n  ".join(bad))


def tree_files():
    """The files of the tree: git's tracked and untracked-but-not-ignored
    ones, or (no git checkout) every file outside build/, var/ and .git/."""
    try:
        p = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=TOP,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True)
        names = p.stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        names = []
        for root, dirs, files in os.walk(TOP):
            rel = os.path.relpath(root, TOP)
            if rel == ".":
                dirs[:] = [d for d in dirs if d not in ("build", "var", ".git")]
            names += [os.path.normpath(os.path.join(rel, f)) for f in files]
    return [f for f in names if f and not f.startswith(("build/", "var/"))]


def sync_copy():
    """Mirrors the tree into SRC, rewriting only files whose bytes differ."""
    os.makedirs(SRC, exist_ok=True)
    n = 0
    for rel in tree_files():
        src = os.path.join(TOP, rel)
        dst = os.path.join(SRC, rel)
        if not os.path.isfile(src):
            continue
        with open(src, "rb") as f:
            data = f.read()
        try:
            with open(dst, "rb") as f:
                if f.read() == data:
                    continue
        except FileNotFoundError:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "wb") as f:
            f.write(data)
        shutil.copymode(src, dst)
        n += 1
    return n


_configured = False


def build(targets, jobs):
    # Configured once per run, even over an earlier build folder: a source or
    # test added since the last run must be known to the build.
    global _configured
    if not _configured:
        corpus = os.environ.get("CDX_CORPUS_DIR") or os.path.join(os.path.dirname(TOP),
                                                                  "shared", "corpus")
        subprocess.run(["cmake", "-S", SRC, "-B", BUILD, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                        "-DCDX_TEST_VFS=ON", "-DCDX_CORPUS_DIR=" + corpus],
                       stdout=subprocess.DEVNULL, check=True)
        _configured = True
    cmd = ["cmake", "--build", BUILD, "-j%d" % jobs]
    for t in sorted(targets):
        cmd += ["--target", t]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode == 0, p.stdout


def corpus_dir():
    with open(os.path.join(BUILD, "CMakeCache.txt"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("CDX_CORPUS_DIR:"):
                return line.split("=", 1)[1].strip()
    return ""


def targets_of(tests):
    out = {"cdxgw"}
    for t in tests:
        kind, rest = t.split(":", 1)
        if kind == "unit":
            out.add(rest)
        elif kind == "e2e":
            out.add("cdxgw-gen")
        elif kind != "check":
            raise SystemExit("mutants.json: unknown test kind in %r" % t)
    return out


def run_test(spec):
    """Runs one test spec in the mutation build; returns (passed, output tail)."""
    tmp = os.path.join(BUILD, "tests", "tmp")
    os.makedirs(tmp, exist_ok=True)
    env = dict(os.environ, CDX_MUTATION_RUN="1", CDX_TEST_TMP=tmp, CDX_SOURCE_DIR=SRC, CDX_CORPUS_DIR=corpus_dir(),
               CDXGW_BIN=os.path.join(BUILD, "cdxgw"),
               CDXGW_GEN=os.path.join(BUILD, "cdxgw-gen"))
    kind, rest = spec.split(":", 1)
    if kind == "unit":
        cmd = [os.path.join(BUILD, "tests", rest)]
    elif kind == "check":
        cmd = [sys.executable, os.path.join(SRC, "tests", rest + ".py"), SRC]
    else:
        parts = rest.split(":", 1)
        cmd = [sys.executable, os.path.join(SRC, "tests", "e2e", parts[0] + ".py")]
        if len(parts) > 1:
            cmd += parts[1].split(",")
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=env, cwd=BUILD, timeout=TEST_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode("utf-8", "replace") if isinstance(e.stdout, bytes) else \
            (e.stdout or "")
        return False, "timed out after %d s\n%s" % (TEST_TIMEOUT, out[-1500:])
    return p.returncode == 0, p.stdout[-1500:]


def apply_edits(m):
    saved = {}
    for e in m["edits"]:
        path = os.path.join(SRC, e["file"])
        if path not in saved:
            with open(path, encoding="utf-8") as f:
                saved[path] = f.read()
    texts = dict(saved)
    for e in m["edits"]:
        path = os.path.join(SRC, e["file"])
        if texts[path].count(e["original"]) != 1:
            raise SystemExit("%s: original text not found once in the copy of %s"
                             % (m["name"], e["file"]))
        texts[path] = texts[path].replace(e["original"], e["replacement"])
    for path, text in texts.items():
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return saved


def restore(saved):
    for path, text in saved.items():
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--only", default="", help="comma-separated mutant names")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()

    mutants = load_mutants()
    if args.list:
        for m in mutants:
            log("%-28s %s  [%s]" % (m["name"], m["breaks"], ", ".join(m["tests"])))
        return 0
    if args.only:
        want = set(args.only.split(","))
        unknown = want - {m["name"] for m in mutants}
        if unknown:
            raise SystemExit("unknown mutants: %s" % ", ".join(sorted(unknown)))
        mutants = [m for m in mutants if m["name"] in want]
    check_stale(load_mutants())

    t0 = time.monotonic()
    changed = sync_copy()
    all_tests = []
    for m in mutants:
        for t in m["tests"]:
            if t not in all_tests:
                all_tests.append(t)
    targets = set()
    for m in mutants:
        targets |= targets_of(m["tests"])
    ok, out = build(targets, args.jobs)
    if not ok:
        log(out[-4000:])
        raise SystemExit("mutations: the unmutated copy does not build")
    log("mutations: copy synced (%d files changed) and built in %.0f s"
        % (changed, time.monotonic() - t0))

    # Every test must pass without a mutant, or a "kill" means nothing.
    t1 = time.monotonic()
    for t in all_tests:
        passed, out = run_test(t)
        if not passed:
            log(out)
            raise SystemExit("mutations: %s fails without any mutant" % t)
    log("mutations: %d tests pass unmutated (%.0f s)" % (len(all_tests), time.monotonic() - t1))

    survivors, broken = [], []
    for m in mutants:
        tm = time.monotonic()
        saved = apply_edits(m)
        try:
            ok, out = build(targets_of(m["tests"]), args.jobs)
            if not ok:
                broken.append(m["name"])
                log("  %-28s DOES NOT COMPILE\n%s" % (m["name"], out[-2000:]))
                continue
            killer = None
            for t in m["tests"]:
                passed, _ = run_test(t)
                if not passed:
                    killer = t
                    break
        finally:
            restore(saved)
        if killer is None:
            survivors.append(m["name"])
            log("  %-28s SURVIVED  (%s; tests: %s)" % (m["name"], m["breaks"],
                                                       ", ".join(m["tests"])))
        else:
            log("  %-28s killed by %-48s %4.0f s" % (m["name"], killer, time.monotonic() - tm))
    # Leave the build matching the unmutated copy.
    build(targets, args.jobs)
    log("mutations: %d mutants, %d killed, %d survived, %d did not compile; %.0f s"
        % (len(mutants), len(mutants) - len(survivors) - len(broken), len(survivors),
           len(broken), time.monotonic() - t0))
    return 1 if survivors or broken else 0


if __name__ == "__main__":
    sys.exit(main())
