#!/usr/bin/env python3
"""Delivery benchmark: how fast the outbox empties over mutual TLS on
loopback, and what a hanging receiver costs a healthy one.

    bench/forward.py [--bin build/default/cdxgw] [--docs 300] [--kb 100] [--json OUT]

For each scenario: a fresh registry gets DOCS referrals of about KB KB
each (loaded with `cdxgw import`, which writes each delivery in the
document's transaction), then `cdxgw serve` starts and the time until the
last delivery is `delivered` is measured (polling the registry).
Receivers are the small Python TLS receivers of the forwarding tests
(tests/e2e/cdxreceiver.py, threads of this process), answering 201 and
asking for a client certificate.  The CPU seconds of the gateway and of
this process (the receivers, and the polling) during the delivery phase
tell which side was the bottleneck.

  one      DOCS deliveries to one receiver
  ten      DOCS deliveries spread over ten receivers
  healthy  DOCS/10 deliveries to one receiver (baseline of the next)
  hanging  the same DOCS/10 to that receiver while DOCS/10 more go to a
           receiver that reads each request and never answers

Everything listens on 127.0.0.1 and stops on exit."""
import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

A = "2.25.1001"


def big_referral(i, to, kb):
    import cdxtest
    para = "<paragraph>%s</paragraph>" % ("Follow-up requested for the findings above. " * 20)
    n = max(1, kb * 1024 // len(para))
    body = ("<component><structuredBody><component><section>"
            "<code code=\"42349-1\" codeSystem=\"2.16.840.1.113883.6.1\"/><title>Referral</title>"
            "<text>" + para * n + "</text></section></component></structuredBody></component>"
            ).encode()
    doc = cdxtest.minimal_cda(custodian_oid=A, doc_ext="BENCH-%d" % i, patient_ext="BP-%d" % i,
                              body=body)
    ir = ('<informationRecipient><intendedRecipient><receivedOrganization><id root="%s"/>'
          '</receivedOrganization></intendedRecipient></informationRecipient>' % to).encode()
    return doc.replace(b"</custodian>", b"</custodian>" + ir, 1)


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scenario(name, plan, kb, hang=()):
    """plan: [(destination OID, number of documents)]; hang: OIDs whose
    receiver never answers.  Returns the measurements."""
    import cdxtest
    from cdxreceiver import Receiver, issue_server_cert
    pki = cdxtest.shared_pki()
    if not hasattr(pki, "bench_sender"):
        pki.bench_sender = pki.ca.issue("bench-sender")
    receivers = {}
    insts = [cdxtest.Institution(A, "Hospital A", pki.good)]
    for k, (oid, _) in enumerate(plan):
        cert = issue_server_cert(pki.ca, "bench-%s-%d" % (name, k),
                                 "DNS:localhost,IP:127.0.0.1,URI:urn:oid:" + oid)
        r = Receiver(cert.crt, cert.key, pki.ca.crt, mode="hang" if oid in hang else "ok")
        receivers[oid] = r.start()
        insts.append(cdxtest.Institution(oid, "Receiver %d" % k, roles="none",
                                         sha256="%064x" % (k + 1),
                                         endpoint="https://127.0.0.1:%d/v1/documents" % r.port))
    gw = cdxtest.Gateway(pki, name="bench-fwd-" + name, institutions=insts, settings={
        "log_level": "info", "worker_threads": 2, "forward_referrals": "true", "delivery_poll_ms": 50,
        "delivery_cert": pki.bench_sender.crt, "delivery_key": pki.bench_sender.key,
        "delivery_timeout_ms": 60000,
        "match_link_threshold": "1000", "match_review_threshold": "999"})
    docs_dir = os.path.join(gw.dir, "docs")
    os.makedirs(docs_dir)
    i = 0
    for oid, n in plan:
        for _ in range(n):
            with open(os.path.join(docs_dir, "d%05d.xml" % i), "wb") as f:
                f.write(big_referral(i, oid, kb))
            i += 1
    t0 = time.monotonic()
    cdxtest.run([cdxtest.BIN, "import", "--config", gw.conf, docs_dir], timeout=600, cwd=gw.dir)
    load_s = time.monotonic() - t0
    healthy = [oid for oid, _ in plan if oid not in hang]
    want = sum(n for oid, n in plan if oid not in hang)
    marks = ",".join("?" * len(healthy))
    try:
        gw.start()
        t0 = time.monotonic()
        gw_cpu0, me0 = cpu_seconds(gw.proc.pid), time.process_time()
        while True:
            done = cdxtest.registry_query(
                gw, "SELECT count(*) FROM deliveries WHERE state = 'delivered' AND destination"
                " IN (%s)" % marks, healthy)[0][0]
            if done >= want:
                break
            if time.monotonic() - t0 > 300:
                raise SystemExit("%s: only %d of %d delivered after 300 s" % (name, done, want))
            time.sleep(0.02)
        elapsed = time.monotonic() - t0
        gw_cpu = cpu_seconds(gw.proc.pid) - gw_cpu0
        rcv_cpu = time.process_time() - me0
        lat = cdxtest.registry_query(
            gw, "SELECT avg(latency_ms), max(latency_ms) FROM deliveries WHERE state = 'delivered'")
    finally:
        gw.stop()
        for r in receivers.values():
            r.stop()
    got = sum(receivers[oid].count() for oid in healthy)
    return {"scenario": name, "deliveries": want, "kb": kb, "seconds": round(elapsed, 3),
            "per_second": round(want / elapsed, 1), "received": got,
            "latency_ms_avg": round(lat[0][0] or 0, 1), "latency_ms_max": lat[0][1],
            "import_seconds": round(load_s, 2), "gateway_cpu_s": round(gw_cpu, 2),
            "receivers_cpu_s": round(rcv_cpu, 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "default", "cdxgw"))
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--kb", type=int, default=100)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    os.environ["CDXGW_BIN"] = os.path.abspath(a.bin)
    os.environ.setdefault("CDX_TEST_TMP", os.path.join(ROOT, "build", "bench-forward"))
    import cdxtest
    cdxtest.BIN = os.environ["CDXGW_BIN"]
    ten = ["2.25.30%02d" % k for k in range(10)]
    per = max(1, a.docs // 10)
    runs = [
        scenario("one", [("2.25.3000", a.docs)], a.kb),
        scenario("ten", [(oid, per) for oid in ten], a.kb),
        scenario("healthy", [("2.25.3000", per)], a.kb),
        scenario("hanging", [("2.25.3000", per), ("2.25.3001", per)], a.kb, hang=("2.25.3001",)),
    ]
    runs[-1]["delay_vs_healthy_s"] = round(runs[-1]["seconds"] - runs[-2]["seconds"], 3)
    for r in runs:
        print(json.dumps(r))
    if a.json:
        with open(a.json, "a") as f:
            for r in runs:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
