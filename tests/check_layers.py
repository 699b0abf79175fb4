#!/usr/bin/env python3
"""Layering: which room may include what (docs/ARCHITECTURE.md).

Every source and header belongs to a room: parsers/base (plumbing),
parsers (document formats), and the gateway's net, store, domain, api,
conf and cmd.  A room may include the project headers of the rooms listed
for it below, and only the rooms named for a library may include that
library's headers.  Prints every offending line and exits 1 on any.
"""
import os
import re
import sys

TOP = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")

# Project rooms each room may include (its own always).
MAY_INCLUDE = {
    "base": set(),
    "parsers": {"base"},
    "domain": {"base", "parsers"},
    # The store keeps domain rules (an institution entry's checks) at its
    # door, and takes domain types; it knows neither net nor cmd.
    "store": {"base", "parsers", "domain"},
    # net is handed what it needs (an institution lookup, its settings):
    # it knows neither store nor conf nor cmd.
    "net": {"base", "parsers", "domain"},
    "conf": {"base", "parsers", "domain"},
    "api": {"base", "parsers", "domain", "store", "net", "conf"},
    "cmd": {"base", "parsers", "domain", "store", "net", "conf", "api"},
}
# Domain rules may call the store through its interface (never SQL text).
MAY_INCLUDE["domain"].add("store")

# Library headers and the rooms that may include them.
LIBRARIES = [
    (re.compile(r"^sqlite3\.h$"), {"store"}, "SQLite"),
    (re.compile(r"^zstd\.h$"), {"store"}, "zstd"),
    (re.compile(r"^http_parser\.h$"), {"net"}, "http_parser"),
    (re.compile(r"^openssl/(ssl|tls1|x509_vfy)\.h$"), {"net"}, "the TLS internals"),
    (re.compile(r"^openssl/"), {"net", "store", "domain", "conf", "api", "cmd"}, "OpenSSL"),
    (re.compile(r"^uv\.h$"), {"net", "store", "api", "cmd"}, "libuv"),
]

# Lines that break a rule today, each to be removed by the change that
# fixes it: "path: included header".
KNOWN = set()

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def room_of(rel):
    parts = rel.split("/")
    if parts[0] == "parsers":
        return "base" if parts[1] == "base" else "parsers"
    if parts[0] == "gateway" and len(parts) > 2:
        return parts[1]
    if parts[:2] == ["include", "cdx"] and len(parts) > 3:
        return "parsers" if parts[2] == "parsers" else parts[2]
    return None


def main():
    bad = []
    seen_known = set()
    for folder in ("parsers", "gateway", "include/cdx"):
        for root, _dirs, files in os.walk(os.path.join(TOP, folder)):
            for name in sorted(files):
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(root, name)
                rel = os.path.relpath(path, TOP)
                room = room_of(rel)
                if room is None:
                    bad.append("%s: not inside a room (move it into one)" % rel)
                    continue
                with open(path, encoding="utf-8") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        header = m.group(2)
                        why = None
                        if header.startswith("cdx/"):
                            target = header.split("/")[1]
                            if target not in MAY_INCLUDE and not header.count("/") == 1:
                                why = "unknown room"
                            elif header.count("/") == 1:
                                why = "project headers live in a room folder"
                            elif target != room and target not in MAY_INCLUDE[room]:
                                why = "%s/ may not include %s/" % (room, target)
                        else:
                            for pattern, rooms, lib in LIBRARIES:
                                if pattern.match(header):
                                    if room not in rooms:
                                        why = "only %s may include %s" % (
                                            ", ".join(sorted(r + "/" for r in rooms)), lib)
                                    break
                        if why is None:
                            continue
                        key = "%s: %s" % (rel, header)
                        if key in KNOWN:
                            seen_known.add(key)
                            continue
                        bad.append("%s:%d: %s (%s)" % (rel, lineno, header, why))
    for key in sorted(KNOWN - seen_known):
        bad.append("%s: fixed; remove it from KNOWN in tests/check_layers.py" % key)
    if bad:
        print("layering violations:")
        print("\n".join(bad))
        return 1
    print("layers ok (%d known exceptions left)" % len(KNOWN))
    return 0


if __name__ == "__main__":
    sys.exit(main())
