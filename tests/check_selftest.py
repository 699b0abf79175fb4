#!/usr/bin/env python3
"""The checks check themselves: each of check_layers.py, check_size.py and
check_errors.py is run on a small tree built here, once clean (it must
pass) and once with the fault it exists to catch (it must fail naming it).
Without this, a check that silently stopped checking would still pass."""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(HERE)
FAILED = []


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def run(check, root):
    p = subprocess.run([sys.executable, os.path.join(HERE, check), root],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode, p.stdout


def expect(name, check, root, ok, words=()):
    rc, out = run(check, root)
    good = (rc == 0) == ok and all(w in out for w in words)
    print("%s %s" % ("ok  " if good else "FAIL", name))
    if not good:
        FAILED.append(name)
        print("    %s exited %d, wanted %s%s\n    %s" % (
            check, rc, "success" if ok else "failure",
            " naming %r" % (words,) if words else "", out.strip().replace("\n", "\n    ")))


def layers(tmp):
    root = os.path.join(tmp, "layers")
    write(root, "parsers/base/common.c", '#include "cdx/base/common.h"\n#include <string.h>\n')
    write(root, "gateway/store/db.c", '#include "cdx/domain/types.h"\n#include <sqlite3.h>\n')
    write(root, "gateway/net/conn.c", '#include "cdx/domain/types.h"\n#include <openssl/ssl.h>\n')
    write(root, "gateway/api/app.c", '#include "cdx/store/registry.h"\n#include "cdx/net/server.h"\n')
    write(root, "include/cdx/net/server.h", '#include "cdx/base/buf.h"\n')
    expect("layers: a clean tree passes", "check_layers.py", root, True)
    faults = [
        ("net/ reaching into store/", "gateway/net/listener.c",
         '#include "cdx/store/registry.h"\n', "net/ may not include store/"),
        ("a header of net/ reaching into conf/", "include/cdx/net/tls.h",
         '#include "cdx/conf/config.h"\n', "net/ may not include conf/"),
        ("domain/ including SQLite", "gateway/domain/rule.c", "#include <sqlite3.h>\n",
         "SQLite"),
        ("parsers/ including libuv", "parsers/xml.c", "#include <uv.h>\n", "libuv"),
        ("api/ including http_parser", "gateway/api/h.c", "#include <http_parser.h>\n",
         "http_parser"),
        ("store/ reaching up into api/", "gateway/store/audit.c", '#include "cdx/api/app.h"\n',
         "store/ may not include api/"),
        ("a header outside a room folder", "gateway/cmd/main.c", '#include "cdx/common.h"\n',
         "room folder"),
    ]
    for name, rel, text, word in faults:
        write(root, rel, text)
        expect("layers: " + name, "check_layers.py", root, False, (rel, word))
        os.remove(os.path.join(root, rel))


def function(name, body_lines, comment=""):
    body = "".join("    x += %d;\n" % i for i in range(body_lines))
    return "%sstatic int %s(int x)\n{\n%s    return x;\n}\n" % (comment, name, body)


def sizes(tmp):
    root = os.path.join(tmp, "sizes")
    # 100 lines in all: signature, braces, return and 96 statements.
    write(root, "gateway/net/a.c", function("fits", 96))
    write(root, "gateway/net/b.c", function(
        "explained", 150, "/* Long: one table of cases, clearer in one place. */\n"))
    write(root, "gateway/net/c.c", "int x;\n" * 800)
    expect("sizes: a clean tree passes", "check_size.py", root, True)
    write(root, "gateway/net/a.c", function("too_long", 97))
    expect("sizes: a function of 101 lines", "check_size.py", root, False, ("too_long()",))
    write(root, "gateway/net/a.c", function("unexplained", 150, "/* Long because. */\n"))
    expect("sizes: a long function without a \"Long:\" reason", "check_size.py", root, False,
           ("unexplained()",))
    write(root, "gateway/net/a.c", function("fits", 96))
    write(root, "gateway/net/c.c", "int x;\n" * 801)
    expect("sizes: a file of 801 lines", "check_size.py", root, False, ("801 lines",))


def errors(tmp):
    root = os.path.join(tmp, "errors")
    for folder in ("gateway", "parsers"):
        shutil.copytree(os.path.join(TOP, folder), os.path.join(root, folder))
    expect("errors: the tree as it is passes", "check_errors.py", root, True)
    path = os.path.join(root, "gateway", "api", "health.c")
    with open(path, encoding="utf-8") as f:
        clean = f.read()
    extra = ('\nvoid selftest_extra(cdx_request_t *rq);\nvoid selftest_extra(cdx_request_t *rq)\n'
             '{\n    cdx_respond_problem(rq, %s, %s, "detail", NULL);\n}\n')
    cases = [
        ("a code missing from the catalogue", ('409', '"NO_SUCH_CODE_ANYWHERE"'),
         "NO_SUCH_CODE_ANYWHERE"),
        ("a code with another status than the catalogue's", ('418', '"BAD_REQUEST"'),
         "BAD_REQUEST"),
        ("a code that is not a literal", ('400', 'rq->id'), "not a literal"),
    ]
    for name, args, word in cases:
        with open(path, "w", encoding="utf-8") as f:
            f.write(clean + extra % args)
        expect("errors: " + name, "check_errors.py", root, False, (word,))
    with open(path, "w", encoding="utf-8") as f:
        f.write(clean)


def main():
    with tempfile.TemporaryDirectory(prefix="cdx-checks-") as tmp:
        layers(tmp)
        sizes(tmp)
        errors(tmp)
    if FAILED:
        print("%d self-test case(s) failed" % len(FAILED))
        return 1
    print("the checks catch what they are for")
    return 0


if __name__ == "__main__":
    sys.exit(main())
