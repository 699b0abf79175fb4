#!/usr/bin/env python3
"""Memory and time of the gateway under documents made of many small
elements (a node bomb), and the memory it keeps afterwards.

    bench/node-bomb.py [--bin build/default/cdxgw] [--gen build/default/cdxgw-gen]
                       [--brs 4000000] [--rounds 2] [--large 10] [--KEY VALUE]...

Starts a gateway on a loopback port (certificates made with openssl, as the
end-to-end tests do), then:
  1. posts --rounds documents of --brs `<br/>` in one section's text (the
     19 MB case of the issue with the default 4 000 000) and prints, for each,
     the answer, the wall time and the gateway's VmRSS / VmHWM;
  2. posts --large valid 1 MB documents of cdxgw-gen (when it is built) and
     prints the same;
  3. prints VmRSS once everything is answered.
Extra `--KEY VALUE` pairs go into the gateway's configuration (for example
`--xml_max_nodes 4000000` to see the cost without the default limit).
Nothing is asserted: the figures go into docs/PERFORMANCE.md and the report.
"""

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "default", "cdxgw"))
    ap.add_argument("--gen", default=os.path.join(ROOT, "build", "default", "cdxgw-gen"))
    ap.add_argument("--brs", type=int, default=4000000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--large", type=int, default=10)
    args, rest = ap.parse_known_args()
    settings = {"max_body_bytes": 64 << 20, "log_level": "info", "worker_threads": 4,
                "body_timeout_ms": 60000}
    while rest:
        k = rest.pop(0).lstrip("-").replace("-", "_")
        settings[k] = rest.pop(0)
    os.environ["CDXGW_BIN"] = os.path.abspath(args.bin)
    os.environ.setdefault("CDX_TEST_TMP", tempfile.mkdtemp(prefix="cdxgw-bomb-"))
    import cdxtest  # noqa: E402  (reads CDXGW_BIN at import)

    pki = cdxtest.shared_pki()
    certs = cdxtest.institution_certs(pki, ["hanbit", "dasom", "riverside"])
    insts = [cdxtest.Institution(cdxtest.E2E_OID, "e2e clinic", pki.good)]
    insts += [cdxtest.Institution(cdxtest.DEMO_OIDS[n], n, certs[n]) for n in certs]
    gw = cdxtest.Gateway(pki, settings=settings, institutions=insts, name="bomb").start(30)
    pid = gw.proc.pid

    def mem():
        out = {}
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1]) // 1024
        return "VmRSS %4d MB  VmHWM %4d MB" % (out.get("VmRSS", -1), out.get("VmHWM", -1))

    def post(label, body, cert):
        t0 = time.monotonic()
        r = cdxtest.post_document(gw, body, cert, timeout=600)
        dt = time.monotonic() - t0
        js = cdxtest.curl_json(r) or {}
        print("%-28s %6.1f MB  %s %-12s %6.2f s   %s" % (
            label, len(body) / 1e6, r.status, js.get("code", ""), dt, mem()))
        return r

    try:
        print("%-28s %9s  %s" % ("after start", "", mem()))
        for i in range(args.rounds):
            text = b"<br/>" * args.brs
            body = cdxtest.minimal_cda(doc_ext="BOMB-%d-%d" % (os.getpid(), i),
                                       body=b"<component><structuredBody><component><section>"
                                            b"<code code=\"11450-4\" codeSystem=\"2.16.840.1."
                                            b"113883.6.1\"/><title>Problems</title><text>"
                                       + text + b"</text></section></component>"
                                       b"</structuredBody></component>")
            post("%d x <br/> #%d" % (args.brs, i + 1), body, "good")
        gen = args.gen
        if args.large > 0 and os.access(gen, os.X_OK):
            out = tempfile.mkdtemp(prefix="gen-", dir=gw.dir)
            subprocess.run([gen, "--seed", "11", "--patients", str(args.large),
                            "--docs-per-patient", "1", "--institution", "mixed",
                            "--size-kb", "1000", "--out", out], check=True,
                           stdout=subprocess.DEVNULL)
            files = sorted(glob.glob(os.path.join(out, "*", "*", "*.xml")))[:args.large]
            for path in files:
                inst = path.split(os.sep)[-3]
                with open(path, "rb") as f:
                    post("1 MB %s" % inst, f.read(), certs[inst])
        print("%-28s %9s  %s" % ("at the end", "", mem()))
    finally:
        gw.stop()


if __name__ == "__main__":
    main()
