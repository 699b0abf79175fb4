"""End-to-end: de-identified cohort exports (GET /v1/cohorts/{id}/export) over mTLS.

A population from cdxgw-gen (names, ids, phones, addresses and birth dates
known from its documents; planted facts from --facts) is imported, three
of its documents first marked restricted (R).  Two research institutions
each have a research project (research-1 `shift`, research-2
`safe_harbor`), a third has none.  Each counts everyone; then one person
opts out of research.  The exports (every format) must:

- carry none of the generator's names, patient ids, phone numbers, street
  lines, exact birth dates or document ids;
- name each person of the cohort but the one who opted out by the
  HMAC-SHA256 of the registry person id under the project's key: the same
  in two exports of one project, unrelated across the two projects;
- carry the planted facts of the readable documents and none that only a
  restricted document holds;
- be refused: other roles 403, another institution's cohort 404
  COHORT_NOT_FOUND, a small cohort 403 COHORT_TOO_SMALL, no project 403
  EXPORT_NOT_CONFIGURED, an unknown format 400 naming `format`; each
  export and refusal audited (cohort.export) without a person.

`cdxgw cohort export` writes the same records offline."""

import csv
import hashlib
import hmac
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Gateway, Institution  # noqa: E402

OIDS = cdxtest.DEMO_OIDS
RESEARCH = {"research-1": "2.25.1301", "research-2": "2.25.1302", "research-3": "2.25.1303"}
MIN_CELL = 5
EVERYONE = {"any": [{"sex": "M"}, {"sex": "F"}]}

GW = None
CERTS = {}
WORK = None
KEYS = {}           # research name -> project key bytes
PERSON_OF = {}      # (root, ext) -> registry person id
DOC_PERSON = {}     # document id -> registry person id
FACTS = {}          # document id -> set of (kind, system, code)
RESTRICTED = set()  # document ids marked R
SECRETS = set()     # strings that must never appear in an export
BIRTHS = set()      # birth dates as ISO dates: never in a person's own fields
COHORT = {}         # research name -> cohort id of EVERYONE
PERSONS = {}        # research name -> registry person ids of that cohort
OPTED_OUT = None    # the person who opted out after the cohorts were counted
SMALL = None        # research-1's cohort of fewer than MIN_CELL persons
EXPORTS = {}        # (research name, format) -> body bytes


def run(args, cwd, binary=None, timeout=120):
    p = subprocess.run([binary or cdxtest.BIN] + args, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def collect_secrets(xml):
    """The identifying strings of one generated document."""
    rt = re.search(r"<recordTarget>.*?</recordTarget>", xml, re.S).group(0)
    for tag in ("given", "family", "streetAddressLine"):
        SECRETS.update(v for v in re.findall(r"<%s>([^<]+)</%s>" % (tag, tag), rt)
                       if len(v) >= 2)
    SECRETS.update(re.findall(r'value="tel:([^"]+)"', rt))
    SECRETS.update(re.findall(r'extension="([^"]+)"', rt))
    for b in re.findall(r'<birthTime value="(\d{8})', rt):
        SECRETS.add(b)
        BIRTHS.add("%s-%s-%s" % (b[:4], b[4:6], b[6:8]))
    m = re.search(r'<ClinicalDocument[^>]*>.*?<id root="([^"]+)" extension="([^"]+)"', xml, re.S)
    SECRETS.add(m.group(2))
    SECRETS.add(m.group(1))


def setUpModule():
    global GW, CERTS, WORK, OPTED_OUT, SMALL
    cdxtest.require_binary()
    gen = cdxtest.gen_binary()
    if gen is None:
        raise unittest.SkipTest("cdxgw-gen is not built")
    pki = cdxtest.shared_pki()
    CERTS = cdxtest.institution_certs(pki, sorted(OIDS) + sorted(RESEARCH))
    insts = [Institution(oid, name, CERTS[name], "submit, query")
             for name, oid in sorted(OIDS.items())]
    insts += [Institution(oid, name, CERTS[name], "research")
              for name, oid in sorted(RESEARCH.items())]
    GW = Gateway(pki, name="cohort-export", institutions=insts,
                 settings={"research_min_cell": str(MIN_CELL),
                           "research_projects_file": "projects.conf",
                           # The smallest queue: an export is sent in many pulls.
                           "write_high_water_bytes": "16384",
                           "match_link_threshold": "1000", "match_review_threshold": "999"})
    WORK = GW.dir
    docs = os.path.join(WORK, "docs")
    facts = os.path.join(WORK, "facts.tsv")
    rc, out, err = run(["--seed", "11", "--patients", "40", "--docs-per-patient", "2",
                        "--out", docs, "--facts", facts], WORK, binary=gen)
    if rc != 0:
        raise AssertionError("cdxgw-gen: %s" % err)
    manifest = []
    with open(os.path.join(docs, "manifest.tsv"), encoding="utf-8") as f:
        for line in f:
            if not line.startswith("#"):
                manifest.append(line.rstrip("\n").split("\t")[:5])
    for i, (path, inst, root, ext, doc_id) in enumerate(manifest):
        full = os.path.join(docs, path)
        with open(full, "rb") as f:
            data = f.read()
        enc = re.search(rb'encoding="([^"]+)"', data[:200])
        text = data.decode(enc.group(1).decode() if enc else "utf-8")
        collect_secrets(text)
        if i % 37 == 5 and len(RESTRICTED) < 3:
            RESTRICTED.add(doc_id)
            text = text.replace('<confidentialityCode code="N"', '<confidentialityCode code="R"', 1)
            with open(full, "wb") as f:
                f.write(text.encode(enc.group(1).decode() if enc else "utf-8"))
    with open(facts, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("#"):
                doc_id, kind, system, code = line.rstrip("\n").split("\t")[:4]
                FACTS.setdefault(doc_id, set()).add((kind, system, code))
    # Fixed project keys, so that date shifts are the same in every run.
    os.makedirs(os.path.join(WORK, "keys"), mode=0o700)
    for f, seed in (("one.key", b"one"), ("two.key", b"two")):
        with open(os.path.join(WORK, "keys", f), "wb") as kf:
            kf.write(hashlib.sha256(b"cohort export test key " + seed).digest())
    with open(os.path.join(WORK, "projects.conf"), "w") as f:
        f.write("# research projects of the e2e federation\n"
                "[research_project]\ninstitution = %s\nkey_file = keys/one.key\n\n"
                "[research_project]\ninstitution = urn:oid:%s\nkey_file = keys/two.key\n"
                "mode = safe_harbor\n" % (RESEARCH["research-1"], RESEARCH["research-2"]))
    rc, out, err = run(["import", "--config", GW.conf, docs], WORK)
    if "stored %d," % len(manifest) not in out:
        raise AssertionError("import: %s %s" % (out, err))
    GW.start()
    for r, e, p in cdxtest.registry_query(GW, "SELECT root, extension, person_id FROM patients"):
        PERSON_OF[(r, e)] = p
    for path, inst, root, ext, doc_id in manifest:
        DOC_PERSON[doc_id] = PERSON_OF[(root, ext)]
    for name in ("research-1", "research-2", "research-3"):
        res = post_cohort(EVERYONE, name)
        if res.status != 201:
            raise AssertionError("cohort: %s %s" % (res.status, res.body))
        COHORT[name] = json.loads(res.body)["id"]
        PERSONS[name] = set(p for (p,) in cdxtest.registry_query(
            GW, "SELECT person_id FROM cohort_persons JOIN cohorts ON cohorts.id = cohort_id"
            " WHERE uid = ?", (COHORT[name],)))
    # A small cohort: the persons of one rare planted code.
    holders = {}
    for doc_id, fs in FACTS.items():
        if doc_id not in RESTRICTED:
            for k, s, c in fs:
                holders.setdefault((k, s, c), set()).add(DOC_PERSON[doc_id])
    rare = sorted((len(v), key) for key, v in holders.items()
                  if 0 < len(v) < MIN_CELL and key[0] == "condition")[0][1]
    res = post_cohort({"condition": {"system": rare[1], "code": rare[2]}}, "research-1")
    if res.status != 201 or json.loads(res.body)["size"] != "suppressed":
        raise AssertionError("small cohort: %s %s" % (res.status, res.body))
    SMALL = json.loads(res.body)["id"]
    # One person opts out after the cohorts were counted.
    path, inst, root, ext, doc_id = manifest[-1]
    home = [n for n, o in OIDS.items() if o == inst][0]
    r = cdxtest.put_consent(GW, CERTS[home], (root, ext),
                            {"decision": "permit", "research": "deny"})
    if r is None or r.status != 201:
        raise AssertionError("consent: %s" % (r and r.body[:300]))
    OPTED_OUT = PERSON_OF[(root, ext)]
    for (name, fmt) in (("research-1", "ndjson"), ("research-1", "csv"), ("research-1", "omop"),
                        ("research-2", "ndjson"), ("research-2", "omop")):
        status, headers, body = export(name, COHORT[name], fmt)
        if status != 200:
            raise AssertionError("export %s %s: %s %s" % (name, fmt, status, body[:300]))
        EXPORTS[(name, fmt)] = (headers, body)
    for name, f in (("research-1", "one.key"), ("research-2", "two.key")):
        with open(os.path.join(WORK, "keys", f), "rb") as kf:
            KEYS[name] = kf.read()


def tearDownModule():
    if GW is not None:
        GW.stop()


def post_cohort(definition, who):
    return cdxtest.curl(GW, "/v1/cohorts", cert=CERTS[who], method="POST",
                        data=json.dumps(definition),
                        extra=["-H", "Content-Type: application/json"])


def export(who, cohort, fmt):
    return cdxtest.curl_get_bytes(GW, "/v1/cohorts/%s/export?format=%s" % (cohort, fmt),
                                  CERTS[who], timeout=60)


def pseudonym(key, person):
    return hmac.new(key, ("cdx.pseudonym.v1|%d" % person).encode(), hashlib.sha256).hexdigest()


def ndjson(name):
    return [json.loads(line) for line in EXPORTS[(name, "ndjson")][1].decode().splitlines()]


def omop(name):
    tar = tarfile.open(fileobj=io.BytesIO(EXPORTS[(name, "omop")][1]))
    return dict((m.name, tar.extractfile(m).read().decode()) for m in tar.getmembers())


def texts():
    """Every export's text, pseudonyms and OMOP person ids removed."""
    for (name, fmt), (headers, body) in sorted(EXPORTS.items()):
        parts = omop(name).values() if fmt == "omop" else [body.decode()]
        for t in parts:
            t = re.sub(r"[0-9a-f]{64}", "", t)
            yield (name, fmt), re.sub(r"(?m)^(\d+),(\d+),", "", t)


class CohortExport(unittest.TestCase):
    def test_1_no_identifiers(self):
        self.assertGreater(len(SECRETS), 200)
        for which, text in texts():
            found = sorted(s for s in SECRETS if s in text)
            self.assertEqual(found, [], "%s leaks %s" % (which, found[:5]))
            self.assertNotIn("<", text)

    def test_1b_birth_year_only(self):
        for name in ("research-1", "research-2"):
            for r in ndjson(name):
                del r["facts"]
                text = json.dumps(r)
                self.assertFalse([b for b in BIRTHS if b in text or b[:7] in text], text)
            person = omop(name)["person.csv"]
            self.assertFalse([b for b in BIRTHS if b in person])
            for row in csv.DictReader(io.StringIO(person)):
                self.assertEqual(row["month_of_birth"] + row["day_of_birth"] +
                                 row["birth_datetime"], "")

    def test_2_pseudonyms(self):
        for name in ("research-1", "research-2"):
            want = set(pseudonym(KEYS[name], p) for p in PERSONS[name] if p != OPTED_OUT)
            self.assertIn(OPTED_OUT, PERSONS[name])
            got = [r["pseudonym"] for r in ndjson(name)]
            self.assertEqual(len(got), len(set(got)))
            self.assertEqual(set(got), want)
            tables = omop(name)
            rows = list(csv.DictReader(io.StringIO(tables["person.csv"])))
            self.assertEqual(set(r["person_source_value"] for r in rows), want)
        # Stable within a project (ndjson, csv, omop), unrelated across two.
        rows = list(csv.DictReader(io.StringIO(EXPORTS[("research-1", "csv")][1].decode())))
        self.assertEqual(set(r["pseudonym"] for r in rows),
                         set(r["pseudonym"] for r in ndjson("research-1") if r["facts"]))
        self.assertFalse(set(r["pseudonym"] for r in ndjson("research-1")) &
                         set(r["pseudonym"] for r in ndjson("research-2")))

    def test_3_facts_and_restricted(self):
        person_of = dict((pseudonym(KEYS["research-1"], p), p) for p in PERSONS["research-1"])
        got = {}
        for r in ndjson("research-1"):
            got[person_of[r["pseudonym"]]] = set((f["kind"], f["system"], f["code"])
                                                 for f in r["facts"])
            self.assertRegex(r["birth_year"] and str(r["birth_year"]) or "1900", r"^\d{4}$")
        readable, hidden = {}, {}
        for doc_id, fs in FACTS.items():
            into = hidden if doc_id in RESTRICTED else readable
            into.setdefault(DOC_PERSON[doc_id], set()).update(fs)
        only_hidden = 0
        for p, facts in got.items():
            self.assertLessEqual(readable.get(p, set()), facts, "person %d" % p)
            secret = hidden.get(p, set()) - readable.get(p, set())
            only_hidden += len(secret)
            self.assertFalse(secret & facts, "person %d: a restricted document's facts" % p)
        self.assertGreater(only_hidden, 0)
        # safe_harbor: years alone; shift: days.
        for r in ndjson("research-2"):
            for f in r["facts"]:
                self.assertRegex(f["date"] or "2000", r"^\d{4}$")
        days = [f["date"] for r in ndjson("research-1") for f in r["facts"] if f["date"]]
        self.assertTrue(any(re.match(r"^\d{4}-\d{2}-\d{2}$", d) for d in days))

    def test_4_omop_and_streaming(self):
        headers, body = EXPORTS[("research-1", "omop")]
        self.assertEqual(headers.get("content-type"), "application/x-tar")
        self.assertEqual(headers.get("transfer-encoding"), "chunked")
        tables = omop("research-1")
        self.assertEqual(sorted(tables), sorted([
            "person.csv", "visit_occurrence.csv", "condition_occurrence.csv",
            "drug_exposure.csv", "measurement.csv", "procedure_occurrence.csv",
            "observation.csv"]))
        for name, text in tables.items():
            rows = list(csv.reader(io.StringIO(text)))
            for row in rows[1:]:
                self.assertEqual(len(row), len(rows[0]), name)
        self.assertIn("ICD-10:", tables["condition_occurrence.csv"])
        m = list(csv.DictReader(io.StringIO(tables["measurement.csv"])))
        self.assertTrue(any(r["value_as_number"] and r["unit_source_value"] for r in m))
        self.assertTrue(all(r["measurement_concept_id"] == "0" for r in m))

    def test_4b_client_leaves_mid_stream(self):
        """A client that reads the head and goes: the gateway frees the
        export and serves the next request."""
        self.assertGreater(len(EXPORTS[("research-1", "omop")][1]), 4 * 16384)
        s = cdxtest.tls_connect(GW, cert=CERTS["research-1"])
        s.sendall(("GET /v1/cohorts/%s/export?format=omop HTTP/1.1\r\nHost: localhost\r\n\r\n"
                   % COHORT["research-1"]).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            self.assertTrue(chunk)
            head += chunk
        self.assertIn(b"200 OK", head.split(b"\r\n")[0])
        s.close()
        status, _, body = export("research-1", COHORT["research-1"], "csv")
        self.assertEqual(status, 200)
        self.assertEqual(body, EXPORTS[("research-1", "csv")][1])
        self.assertTrue(GW.alive())

    def test_5_refusals(self):
        status, _, body = export("research-2", COHORT["research-1"], "ndjson")
        self.assertEqual(status, 404)
        self.assertIn(b"COHORT_NOT_FOUND", body)
        status, _, body = export("research-1", "0" * 32, "csv")
        self.assertEqual(status, 404)
        status, _, body = export("research-1", SMALL, "ndjson")
        self.assertEqual(status, 403)
        self.assertIn(b"COHORT_TOO_SMALL", body)
        status, _, body = export("research-3", COHORT["research-3"], "ndjson")
        self.assertEqual(status, 403)
        self.assertIn(b"EXPORT_NOT_CONFIGURED", body)
        status, _, body = export("research-1", COHORT["research-1"], "xml")
        self.assertEqual(status, 400)
        self.assertIn(b"PARAMETER_INVALID", body)
        self.assertIn(b"format", body)
        for name in OIDS:
            status, _, body = export(name, COHORT["research-1"], "ndjson")
            self.assertEqual(status, 403, name)
            self.assertIn(b"FORBIDDEN", body)

    def test_6_audit(self):
        rows = cdxtest.registry_query(
            GW, "SELECT actor_oid, outcome, patient_key, detail FROM audit"
            " WHERE event = 'cohort.export'")
        ok = [r for r in rows if r[1] == 0]
        self.assertGreaterEqual(len(ok), 5)
        self.assertTrue(any("format=omop" in r[3] and "opted_out=1" in r[3] for r in ok))
        self.assertTrue(any("COHORT_TOO_SMALL" in r[3] for r in rows if r[1] == 4))
        self.assertTrue(any("EXPORT_NOT_CONFIGURED" in r[3] for r in rows if r[1] == 4))
        self.assertTrue(any(r[1] == 8 for r in rows))
        everything = " ".join(str(c) for r in rows for c in r)
        for name, key in KEYS.items():
            for p in PERSONS[name]:
                self.assertNotIn(pseudonym(key, p), everything)
            self.assertNotIn(key.hex(), everything)

    def test_7_offline(self):
        out = os.path.join(WORK, "offline.csv")
        rc, _, err = run(["cohort", "export", COHORT["research-1"], "--format", "csv",
                          "--out", out, "--config", GW.conf], WORK)
        self.assertEqual(rc, 0, err)
        n = len(PERSONS["research-1"]) - 1
        self.assertIn("%d / %d persons" % (n, n), err)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), EXPORTS[("research-1", "csv")][1])
        rc, _, err = run(["cohort", "export", SMALL, "--format", "csv", "--out", out,
                          "--config", GW.conf], WORK)
        self.assertEqual(rc, 3)
        self.assertIn("COHORT_TOO_SMALL", err)


    def test_8_broken_projects_file_refused_at_start(self):
        gw = Gateway(GW.pki, name="cohort-export-bad",
                     settings={"research_projects_file": "projects.conf"})
        with open(os.path.join(gw.dir, "projects.conf"), "w") as f:
            f.write("[research_project]\ninstitution = 2.25.1\nkey_file = a.key\nmode = fuzzy\n")
        with self.assertRaises(cdxtest.GatewayError) as e:
            gw.start()
            gw.stop()
        self.assertIn("mode is shift or safe_harbor", str(e.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2)
