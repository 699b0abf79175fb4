#!/usr/bin/env python3
"""Delivery benchmark: how fast the outbox empties over mutual TLS on
loopback, and what a hanging receiver costs a healthy one.

    bench/forward.py [--bin build/default/cdxgw] [--docs 300] [--kb 100] [--json OUT]
    bench/forward.py --subscriptions 1000 [--docs 400] [--persons 200] [--rounds 2]

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

With --subscriptions N, the ingest instead: cdxgw-load pushes DOCS
documents of about KB KB over HTTPS (8 keep-alive connections, closed
loop) to a gateway whose subscriber holds N subscriptions, against the
same gateway with none, alternated ROUNDS times.  Before each timed push,
one document of each of PERSONS persons is stored and the persons permit
the subscriber (so a matching subscription makes a delivery, which the
delivery worker then sends to a receiver during the push).  The N
subscriptions are for persons 0..N-1 (those under PERSONS have documents
in the push), every other one to the pushed documents' type and the rest
to another type; a third variant holds the N subscriptions with none to
the pushed type (the cost of looking them up and deciding, without the
deliveries that the worker then sends during the push).

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


SUB = "2.25.3100"


def big_document(i, patient_ext, kb):
    """A document of hospital A of about kb KB for patient_ext, addressed to nobody."""
    import cdxtest
    para = "<paragraph>%s</paragraph>" % ("Findings were discussed with the patient. " * 20)
    n = max(1, kb * 1024 // len(para))
    body = ("<component><structuredBody><component><section>"
            "<code code=\"11450-4\" codeSystem=\"2.16.840.1.113883.6.1\"/><title>Notes</title>"
            "<text>" + para * n + "</text></section></component></structuredBody></component>"
            ).encode()
    return cdxtest.minimal_cda(custodian_oid=A, doc_ext="ING-%d" % i, patient_ext=patient_ext,
                               body=body)


def call(conn, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    conn.send(("%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\n\r\n" % (method, path, len(data))).encode() + data)
    return conn.read_response(timeout=60)


def load(gw, pki, docs_dir, count, label, json_out):
    import cdxtest
    tool = os.path.join(os.path.dirname(cdxtest.BIN), "cdxgw-load")
    cmd = [tool, "--target", "127.0.0.1:%d" % gw.port, "--cacert", pki.ca.crt,
           "--cert", pki.good.crt, "--key", pki.good.key, "--docs", docs_dir,
           "--connections", "8", "--count", str(count), "--pid", str(gw.proc.pid),
           "--label", label, "--quiet", "--json", json_out]
    cdxtest.run(cmd, timeout=900)
    with open(json_out) as f:
        return json.loads(f.read().strip().splitlines()[-1])


def ingest_scenario(pki, subs, docs, persons, kb, rnd, matching=True):
    """One timed push of docs documents with subs subscriptions held (matching
    False: none of them matches a pushed document's type)."""
    import cdxtest
    from cdxreceiver import Receiver, issue_server_cert
    import urllib.parse
    if not hasattr(pki, "bench_sub"):
        pki.bench_sub = pki.ca.issue("bench-subscriber")
        pki.bench_sender = getattr(pki, "bench_sender", None) or pki.ca.issue("bench-sender")
    cert = issue_server_cert(pki.ca, "bench-sub-%d-%d-%d" % (subs, int(matching), rnd),
                             "DNS:localhost,IP:127.0.0.1,URI:urn:oid:" + SUB)
    rcv = Receiver(cert.crt, cert.key, pki.ca.crt).start()
    insts = [cdxtest.Institution(A, "Hospital A", pki.good, roles="submit"),
             cdxtest.Institution(SUB, "Subscriber", pki.bench_sub, roles="query",
                                 endpoint="https://127.0.0.1:%d/v1/documents" % rcv.port)]
    name = "bench-ingest-%d-%d-%d" % (subs, int(matching), rnd)
    gw = cdxtest.Gateway(pki, name=name, institutions=insts, settings={
        "log_level": "info", "delivery_poll_ms": 50,
        "delivery_cert": pki.bench_sender.crt, "delivery_key": pki.bench_sender.key,
        "subscriptions_max_per_institution": max(1000, subs),
        "match_link_threshold": "1000", "match_review_threshold": "999"})
    seed_dir, push_dir = os.path.join(gw.dir, "seed"), os.path.join(gw.dir, "push")
    os.makedirs(seed_dir)
    os.makedirs(push_dir)
    for p in range(persons):
        with open(os.path.join(seed_dir, "s%05d.xml" % p), "wb") as f:
            f.write(big_document(p, "BP-%d" % p, 4))
    for i in range(min(docs, persons * 2)):
        with open(os.path.join(push_dir, "d%05d.xml" % i), "wb") as f:
            f.write(big_document(i, "BP-%d" % (i % persons), kb))
    try:
        gw.start()
        load(gw, pki, seed_dir, persons, "seed", os.path.join(gw.dir, "seed.json"))
        with cdxtest.Conn.open(gw, cert=pki.good) as c:
            for p in range(persons):
                path = "/v1/consents/" + urllib.parse.quote("%s.1|BP-%d" % (A, p), safe="")
                r = call(c, "PUT", path, {"decision": "permit", "scope": {"institutions": [SUB]}})
                assert r.status == 201, r
        t0 = time.monotonic()
        with cdxtest.Conn.open(gw, cert=pki.bench_sub) as c:
            for k in range(subs):
                types = ["34133-9"] if matching and k % 2 == 0 else ["11488-4"]
                r = call(c, "POST", "/v1/subscriptions",
                         {"patient": "%s.1|BP-%d" % (A, k), "types": types})
                assert r.status == 201, r
        subs_s = time.monotonic() - t0
        label = "ingest-subs-%d%s" % (subs, "" if matching or not subs else "-none-matching")
        res = load(gw, pki, push_dir, docs, label, os.path.join(gw.dir, "push.json"))
        made = cdxtest.registry_query(gw, "SELECT count(*) FROM deliveries"
                                      " WHERE reason = 'subscription'")[0][0]
    finally:
        gw.stop()
        rcv.stop()
    res.update({"subscriptions": subs, "subscriptions_create_s": round(subs_s, 2),
                "subscription_deliveries": made, "round": rnd})
    return res


def ingest_main(a):
    import cdxtest
    pki = cdxtest.shared_pki()
    runs = []
    for rnd in range(a.rounds):
        for subs, matching in ((0, True), (a.subscriptions, False), (a.subscriptions, True)):
            r = ingest_scenario(pki, subs, a.docs, a.persons, a.kb, rnd, matching)
            line = {k: r.get(k) for k in ("label", "round", "subscriptions", "docs", "seconds",
                                          "docs_per_s", "created", "latency_ms", "status",
                                          "subscription_deliveries", "subscriptions_create_s")}
            print(json.dumps(line))
            runs.append(line)
            if a.json:
                with open(a.json, "a") as f:
                    f.write(json.dumps(line) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "default", "cdxgw"))
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--kb", type=int, default=100)
    ap.add_argument("--json", default="")
    ap.add_argument("--subscriptions", type=int, default=0)
    ap.add_argument("--persons", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    os.environ["CDXGW_BIN"] = os.path.abspath(a.bin)
    os.environ.setdefault("CDX_TEST_TMP", os.path.join(ROOT, "build", "bench-forward"))
    import cdxtest
    cdxtest.BIN = os.environ["CDXGW_BIN"]
    if a.subscriptions > 0:
        ingest_main(a)
        return
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
