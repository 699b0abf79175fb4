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

The runner checks that every original text occurs exactly once (a stale
mutant fails loudly), then copies the tracked files of the tree into one
copy per worker, build/mutations/src (and src2, ...; only files whose
content changed are rewritten, so each copy's build folder,
build/mutations/build (build2, ...), stays incremental across mutants and
runs), builds them, and runs every listed test once without a mutant (they
must pass).  Then each worker takes the next mutant, applies its edits to
its own copy, rebuilds only the targets the mutant's tests need (only the
edited files recompile; a mutant of Python checks builds nothing), runs
its tests until one fails (unit tests first, then the checks, then the
end-to-end tests), and restores the files.  A mutant no test kills, a mutant that does not
compile, or a test that fails without a mutant fails the run.

Most of a mutant's time is single-threaded (one file compiled, one link,
one test process), so two workers on two cores take about half the time of
one.  --jobs is the number of cores to use, --workers (default: 2, at most
--jobs and the number of mutants) the number of copies; each worker builds
with --jobs / --workers parallel jobs.

  tests/mutations/run.py [--list] [--only NAME[,NAME...]] [--jobs N] [--workers W]
"""

import argparse
import json
import os
import shutil
import queue
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
WORK = os.path.join(TOP, "build", "mutations")
TEST_TIMEOUT = 600
# Tests of a mutant run in this order: the cheap unit tests first.
KIND_ORDER = {"unit": 0, "check": 1, "e2e": 2}

_log_lock = threading.Lock()


def log(msg):
    with _log_lock:
        sys.stdout.write(msg + "\n")
        sys.stdout.flush()


class Tree:
    """One worker's copy of the tree and its build folder: the first is
    build/mutations/src and build/mutations/build, the next ones src2,
    build2, ..."""

    def __init__(self, n, jobs):
        suffix = "" if n == 0 else str(n + 1)
        self.name = "worker %d" % (n + 1)
        self.src = os.path.join(WORK, "src" + suffix)
        self.build_dir = os.path.join(WORK, "build" + suffix)
        self.jobs = jobs
        self.configured = False


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


def sync_copy(tree, files):
    """Mirrors the tree into tree.src, rewriting only files whose bytes differ."""
    os.makedirs(tree.src, exist_ok=True)
    n = 0
    for rel in files:
        src = os.path.join(TOP, rel)
        dst = os.path.join(tree.src, rel)
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


def build(tree, targets):
    """Builds the targets in tree (nothing when there are none: the tests
    of a mutant of the Python checks need no build)."""
    # Configured once per run, even over an earlier build folder: a source or
    # test added since the last run must be known to the build.
    if not tree.configured:
        corpus = os.environ.get("CDX_CORPUS_DIR") or os.path.join(os.path.dirname(TOP),
                                                                  "shared", "corpus")
        subprocess.run(["cmake", "-S", tree.src, "-B", tree.build_dir,
                        "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                        "-DCDX_TEST_VFS=ON", "-DCDX_CORPUS_DIR=" + corpus],
                       stdout=subprocess.DEVNULL, check=True)
        tree.configured = True
    if not targets:
        return True, ""
    cmd = ["cmake", "--build", tree.build_dir, "-j%d" % tree.jobs]
    for t in sorted(targets):
        cmd += ["--target", t]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode == 0, p.stdout


def corpus_dir(tree):
    with open(os.path.join(tree.build_dir, "CMakeCache.txt"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("CDX_CORPUS_DIR:"):
                return line.split("=", 1)[1].strip()
    return ""


def targets_of(tests):
    """The build targets the tests need: a unit test its executable, an
    end-to-end test the gateway and the generator, a check nothing."""
    out = set()
    for t in tests:
        kind, rest = t.split(":", 1)
        if kind == "unit":
            out.add(rest)
        elif kind == "e2e":
            out |= {"cdxgw", "cdxgw-gen"}
        elif kind != "check":
            raise SystemExit("mutants.json: unknown test kind in %r" % t)
    return out


def mutant_targets(m):
    out = targets_of(m["tests"])
    if not out and any(not e["file"].endswith(".py") for e in m["edits"]):
        # A mutant of compiled code must still be seen to compile.
        out.add("cdxgw")
    return out


def ordered_tests(tests):
    """The mutant's tests, unit tests first, then checks, then end-to-end
    tests (each kind in the order mutants.json gives)."""
    return sorted(tests, key=lambda t: KIND_ORDER.get(t.split(":", 1)[0], 3))


def run_test(tree, spec):
    """Runs one test spec in tree's build; returns (passed, output tail)."""
    build_dir, src = tree.build_dir, tree.src
    tmp = os.path.join(build_dir, "tests", "tmp")
    os.makedirs(tmp, exist_ok=True)
    env = dict(os.environ, CDX_MUTATION_RUN="1", CDX_TEST_TMP=tmp, CDX_SOURCE_DIR=src,
               CDX_CORPUS_DIR=corpus_dir(tree),
               CDXGW_BIN=os.path.join(build_dir, "cdxgw"),
               CDXGW_GEN=os.path.join(build_dir, "cdxgw-gen"))
    kind, rest = spec.split(":", 1)
    if kind == "unit":
        cmd = [os.path.join(build_dir, "tests", rest)]
    elif kind == "check":
        cmd = [sys.executable, os.path.join(src, "tests", rest + ".py"), src]
    else:
        parts = rest.split(":", 1)
        cmd = [sys.executable, os.path.join(src, "tests", "e2e", parts[0] + ".py")]
        if len(parts) > 1:
            cmd += parts[1].split(",")
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=env, cwd=build_dir, timeout=TEST_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode("utf-8", "replace") if isinstance(e.stdout, bytes) else \
            (e.stdout or "")
        return False, "timed out after %d s\n%s" % (TEST_TIMEOUT, out[-1500:])
    return p.returncode == 0, p.stdout[-1500:]


def apply_edits(tree, m):
    saved = {}
    for e in m["edits"]:
        path = os.path.join(tree.src, e["file"])
        if path not in saved:
            with open(path, encoding="utf-8") as f:
                saved[path] = f.read()
    texts = dict(saved)
    for e in m["edits"]:
        path = os.path.join(tree.src, e["file"])
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


def parallel(trees, items, work):
    """Runs work(tree, item) for every item, each tree (worker) taking the
    next item when it is done with one; returns the results in the order
    of items."""
    q = queue.Queue()
    for i, item in enumerate(items):
        q.put((i, item))
    results = [None] * len(items)
    errors = []

    def worker(tree):
        while not errors:
            try:
                i, item = q.get_nowait()
            except queue.Empty:
                return
            try:
                results[i] = work(tree, item)
            except BaseException as e:  # noqa: B902 (re-raised in the main thread)
                errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in trees]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--only", default="", help="comma-separated mutant names")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2,
                    help="cores to use (default: all)")
    ap.add_argument("--workers", type=int, default=2,
                    help="copies of the tree working in parallel (default 2)")
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

    jobs = max(1, args.jobs)
    nworkers = max(1, min(args.workers, jobs, len(mutants)))
    trees = [Tree(n, max(1, jobs // nworkers)) for n in range(nworkers)]
    t0 = time.monotonic()
    files = tree_files()
    changed = [sync_copy(tree, files) for tree in trees]
    all_tests = []
    for m in mutants:
        for t in m["tests"]:
            if t not in all_tests:
                all_tests.append(t)
    targets = set()
    for m in mutants:
        targets |= mutant_targets(m)
    for tree, (ok, out) in zip(trees, parallel(trees, trees, lambda _, tree: build(tree, targets))):
        if not ok:
            log(out[-4000:])
            raise SystemExit("mutations: the unmutated copy does not build (%s)" % tree.name)
    log("mutations: %d copies synced (%s files changed) and built in %.0f s"
        % (len(trees), "+".join(str(n) for n in changed), time.monotonic() - t0))

    # Every test must pass without a mutant, or a "kill" means nothing.
    t1 = time.monotonic()
    # Each spec runs as the mutants run it, alone in its process; the
    # end-to-end tests (the longest) start first.
    all_tests = sorted(all_tests, key=lambda t: -KIND_ORDER.get(t.split(":", 1)[0], 3))
    for spec, (passed, out) in zip(all_tests, parallel(trees, all_tests, run_test)):
        if not passed:
            log(out)
            raise SystemExit("mutations: %s fails without any mutant" % spec)
    log("mutations: %d tests pass unmutated (%.0f s)" % (len(all_tests), time.monotonic() - t1))

    def try_mutant(tree, m):
        tm = time.monotonic()
        saved = apply_edits(tree, m)
        try:
            ok, out = build(tree, mutant_targets(m))
            if not ok:
                log("  %-28s DOES NOT COMPILE\n%s" % (m["name"], out[-2000:]))
                return "broken"
            killer = None
            for t in ordered_tests(m["tests"]):
                passed, _ = run_test(tree, t)
                if not passed:
                    killer = t
                    break
        finally:
            restore(saved)
        if killer is None:
            log("  %-28s SURVIVED  (%s; tests: %s)" % (m["name"], m["breaks"],
                                                       ", ".join(m["tests"])))
            return "survived"
        log("  %-28s killed by %-48s %4.0f s" % (m["name"], killer, time.monotonic() - tm))
        return "killed"

    # The build folders are left as the last mutant built them: the next
    # run's first build recompiles the restored files (they are newer).
    # The mutants only an end-to-end test can kill take longest: they start
    # first, so that the workers finish together.
    queue_order = sorted(mutants, key=lambda m: ordered_tests(m["tests"])[0].startswith("e2e:"),
                         reverse=True)
    outcomes = parallel(trees, queue_order, try_mutant)
    survived, broken = outcomes.count("survived"), outcomes.count("broken")
    log("mutations: %d mutants, %d killed, %d survived, %d did not compile; %.0f s"
        % (len(mutants), len(mutants) - survived - broken, survived, broken,
           time.monotonic() - t0))
    return 1 if survived or broken else 0


if __name__ == "__main__":
    sys.exit(main())
