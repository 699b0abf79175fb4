"""End-to-end: research cohorts (POST /v1/cohorts, GET /v1/cohorts/{id}) over mTLS.

Planted truth: the demo samples are posted again for fictional persons
(recordTarget replaced, fresh document ids), so each group of persons
carries the facts of its sample:

- H8: 8 persons at Hanbit with its diabetes summary (KCD-8 E11.9, which
  the Hanbit mapping stores as ICD-10; metformin as ATC; glucose 132 mg/dL,
  HbA1c 7.2 %), women born 1950;
- D7: 7 persons at Dasom with its diabetes referral (E11.9, metformin and
  glimepiride, glucose 168 mg/dL, HbA1c 8.4 %), men born 1980;
- R6: 6 persons at Riverside with Emily Walker's CCD (glucose 141 mg/dL,
  HbA1c 7.6 %, diabetes coded in SNOMED CT only), men born 1990;
- H5: 5 persons at Hanbit with Jiho Park's summary (no diabetes), men born 1970;
- N3: 3 persons at Riverside with David Nguyen's CCD (GERD, SNOMED CT
  235595009), men born 2000;
- one more H8-like person whose document is marked restricted (R): never
  counted.

Every count below is the size of a union of these groups, with
research_min_cell = 5.  Also: suppression of the size and of breakdown
cells, the differencing guard, the breakdown guard (one person set, one
breakdown per institution), the repeat (one person set asked again with
its breakdown gets the answer kept, even after the data changed), the
owner check of GET, role separation, COHORT_INVALID paths, and the audit
records (counts, never identities)."""

import hashlib
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Gateway, Institution  # noqa: E402

OIDS = cdxtest.DEMO_OIDS
RESEARCH = {"research-1": "2.25.1201", "research-2": "2.25.1202", "research-3": "2.25.1203",
            "research-4": "2.25.1204", "research-5": "2.25.1205", "research-6": "2.25.1206",
            "research-7": "2.25.1207"}
MIN_CELL = 5

PKI = None
GW = None
CERTS = {}

SAMPLES = {"H": ("hanbit", "care-summary-kim-minjun.xml"),
           "D": ("dasom", "referral-choi-yuna.xml"),
           "R": ("riverside", "ccd-walker-emily.xml"),
           "P": ("hanbit", "care-summary-park-jiho.xml"),
           "N": ("riverside", "ccd-nguyen-david.xml")}
# group: (sample, persons, sex, birth year)
GROUPS = {"H8": ("H", 8, "F", 1950), "D7": ("D", 7, "M", 1980), "R6": ("R", 6, "M", 1990),
          "H5": ("P", 5, "M", 1970), "N3": ("N", 3, "M", 2000)}

E11 = {"condition": {"system": "ICD-10", "code": "E11", "match": "prefix"}}
E11_KCD = {"condition": {"system": "KCD", "code": "E11", "match": "prefix"}}
A10 = {"medication": {"system": "ATC", "code": "A10", "match": "prefix"}}
GERD = {"condition": {"system": "SNOMED CT", "code": "235595009"}}


def hba1c(op, value, unit):
    return {"result": {"system": "LOINC", "code": "4548-4", "op": op, "value": value,
                       "unit": unit}}


def glucose(op, value, unit):
    return {"result": {"system": "LOINC", "code": "2345-7", "op": op, "value": value,
                       "unit": unit}}


def sample(key):
    inst, name = SAMPLES[key]
    path = os.path.join(cdxtest.SOURCE_DIR, "samples", inst, name)
    with open(path, "rb") as f:
        data = f.read()
    m = re.search(rb'encoding="([^"]+)"', data[:200])
    return inst, data, (m.group(1).decode() if m else "UTF-8")


_n = [0]


def document(key, ext, family, given, sex, birth, confidentiality="N", patient_of=None):
    """A sample of key for a fictional person; patient_of names the
    institution whose patient id root the person's id is under (default:
    the sample's own)."""
    inst, data, enc = sample(key)
    text = data.decode(enc)
    rt = ('<recordTarget><patientRole><id root="%s.1" extension="%s"/>'
          '<addr use="H"><streetAddressLine>%d Cohort Road</streetAddressLine>'
          "<city>Testville</city><postalCode>%05d</postalCode></addr>"
          "<patient><name><family>%s</family><given>%s</given></name>"
          '<administrativeGenderCode code="%s" codeSystem="2.16.840.1.113883.5.1"/>'
          '<birthTime value="%s"/></patient></patientRole></recordTarget>'
          % (OIDS[patient_of or inst], ext, _n[0] + 1, _n[0] + 1, family, given, sex, birth))
    text = re.sub(r"<recordTarget>.*?</recordTarget>", lambda m: rt, text, count=1, flags=re.S)
    text = re.sub(r'(<confidentialityCode code=")[A-Z]+"', r'\g<1>%s"' % confidentiality, text,
                  count=1)
    _n[0] += 1
    return inst, cdxtest.with_document_id(text.encode(enc), "COH-%d-%d" % (os.getpid(), _n[0]))


def setUpModule():
    global PKI, GW, CERTS
    PKI = cdxtest.shared_pki()
    CERTS = cdxtest.institution_certs(PKI, sorted(OIDS) + sorted(RESEARCH))
    insts = [Institution(oid, name, CERTS[name], "submit, query")
             for name, oid in sorted(OIDS.items())]
    insts += [Institution(oid, name, CERTS[name], "research")
              for name, oid in sorted(RESEARCH.items())]
    GW = Gateway(PKI, name="cohorts", institutions=insts,
                 settings={"research_min_cell": str(MIN_CELL), "match_link_threshold": "1000",
                           "match_review_threshold": "999"}).start()
    names = ["Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir", "Ginkgo", "Hazel", "Ivy"]
    for group, (key, count, sex, year) in sorted(GROUPS.items()):
        for i in range(count):
            inst, body = document(key, "%s-%d" % (group, i), names[i] + group, "Pat" + group,
                                  sex, "%d%02d%02d" % (year, 3 + i, 10 + i))
            res = cdxtest.post_document(GW, body, CERTS[inst])
            if res.status != 201:
                raise AssertionError("%s %d: %s %s" % (group, i, res.status, res.body))
    inst, body = document("H", "RESTRICTED-1", "Hidden", "Pat", "F", "19500101",
                          confidentiality="R")
    res = cdxtest.post_document(GW, body, CERTS[inst])
    if res.status != 201:
        raise AssertionError("restricted: %s %s" % (res.status, res.body))


def tearDownModule():
    if GW is not None:
        GW.stop()


def post_cohort(definition, who="research-1", query=""):
    body = definition if isinstance(definition, str) else json.dumps(definition)
    return cdxtest.curl(GW, "/v1/cohorts" + query, cert=CERTS[who], method="POST", data=body,
                        extra=["-H", "Content-Type: application/json"])


def size(groups):
    return sum(GROUPS[g][1] for g in groups)


class Cohorts(unittest.TestCase):
    def setUp(self):
        if not GW.alive():
            self.fail("gateway is not running; stderr:\n%s" % GW.log()[-4000:])

    def count(self, definition, who="research-1", query=""):
        res = post_cohort(definition, who, query)
        self.assertEqual(res.status, 201, res.body)
        return json.loads(res.body)

    def test_1_planted_counts(self):
        # The order keeps each cohort at least MIN_CELL persons away from
        # the earlier ones of research-1 (or equal to one).
        cases = [
            (E11, ["H8", "D7"]),  # Hanbit writes KCD-8: found by ICD-10
            (E11_KCD, ["H8", "D7"]),
            (A10, ["H8", "D7"]),
            (hba1c(">=", 48, "mmol/mol"), ["H8", "D7", "R6"]),  # 7.2 % is 55 mmol/mol
            (hba1c(">=", 8, "%"), ["D7"]),
            (glucose(">", 7.5, "mmol/L"), ["D7", "R6"]),  # 132 mg/dL is 7.3 mmol/L
            ({"all": [E11, hba1c(">=", 8, "%")]}, ["D7"]),
            ({"all": [hba1c(">=", 6.5, "%"), {"not": E11}]}, ["R6"]),
            ({"institution": OIDS["hanbit"]}, ["H8", "H5"]),
            ({"any": [E11, hba1c(">=", 6.5, "%")]}, ["H8", "D7", "R6"]),
            ({"all": [GERD, E11]}, []),  # nobody: 0 is no cell to hide
        ]
        for definition, groups in cases:
            with self.subTest(definition=definition):
                a = self.count(definition)
                self.assertEqual(a["size"], size(groups), a)
                self.assertEqual(a["skipped_values"], 0, a)
                self.assertEqual(len(a["id"]), 32)
                self.assertEqual(a["definition_sha256"],
                                 hashlib.sha256(json.dumps(definition).encode()).hexdigest())

    def test_2_demographics_and_breakdown(self):
        a = self.count({"sex": "F"}, who="research-3")
        self.assertEqual(a["size"], size(["H8"]))
        a = self.count({"age": {"min": 60, "at": "2026-01-01"}}, who="research-3")
        self.assertEqual(a["size"], size(["H8"]))
        a = self.count({"age": {"max": 40, "at": "2026-01-01"}}, who="research-3")
        self.assertEqual(a["size"], size(["R6", "N3"]))
        a = self.count(E11, who="research-3", query="?breakdown=sex,age_band,institution")
        b = a["breakdown"]
        self.assertEqual(b["sex"], {"F": 8, "M": 7})
        self.assertEqual(b["institution"], {OIDS["hanbit"]: 8, OIDS["dasom"]: 7})
        self.assertEqual(sum(b["age_band"].values()), 15)

    def test_3_suppression(self):
        a = self.count(GERD, who="research-2")
        self.assertEqual(a["size"], "suppressed")
        self.assertEqual(a["min_cell"], MIN_CELL)
        self.assertNotIn("3", json.dumps(a["size"]))
        # A cell of a breakdown is suppressed as the size is.
        a = self.count({"any": [E11, GERD]}, who="research-2",
                       query="?breakdown=institution")
        self.assertEqual(a["size"], size(["H8", "D7", "N3"]))
        cells = a["breakdown"]["institution"]
        self.assertEqual(cells[OIDS["riverside"]], "suppressed")
        self.assertEqual(cells[OIDS["hanbit"]], 8)

    def test_3_crosstab(self):
        # The persons of test_3_suppression's cohort: Hanbit F 8, Dasom M 7,
        # Riverside M 3, asked by another institution (research-2 keeps
        # them to the breakdown it asked first).
        a = self.count({"any": [E11, GERD]}, who="research-4",
                       query="?breakdown=institution,sex")
        x = a["crosstab"]
        self.assertEqual(x["dimensions"], ["institution", "sex"])
        cells = {tuple(c["key"]): c["count"] for c in x["cells"]}
        self.assertEqual(cells, {(OIDS["hanbit"], "F"): 8,
                                 (OIDS["dasom"], "M"): "suppressed",
                                 (OIDS["riverside"], "M"): "suppressed"})
        # Riverside's 3 alone would be 18 - 8 - 7: Dasom's 7 goes with it.
        self.assertEqual(a["breakdown"]["institution"],
                         {OIDS["hanbit"]: 8, OIDS["dasom"]: "suppressed",
                          OIDS["riverside"]: "suppressed"})
        self.assertEqual(a["breakdown"]["sex"], {"F": 8, "M": 10})
        self.assertNotIn(":3", json.dumps(a, separators=(",", ":")))
        res = cdxtest.curl(GW, "/v1/cohorts/" + a["id"], cert=CERTS["research-4"])
        self.assertEqual(res.status, 200, res.body)
        self.assertEqual(json.loads(res.body)["crosstab"], x)
        # H8 + D7 + R6: test_2 asked research-3's H8 + D7 with another breakdown.
        a = self.count({"any": [E11, hba1c(">=", 6.5, "%")]}, who="research-3",
                       query="?breakdown=sex,age_band")
        self.assertEqual(a["crosstab"]["dimensions"], ["sex", "age_band"])
        self.assertEqual(sum(c["count"] for c in a["crosstab"]["cells"]), 21)
        a = self.count({"sex": "F"}, who="research-3", query="?breakdown=sex")
        self.assertEqual(a["breakdown"], {"sex": {"F": 8}})
        self.assertNotIn("crosstab", a)
        res = post_cohort(E11, who="research-3", query="?breakdown=sex,shoe_size")
        self.assertEqual(res.status, 400, res.body)
        self.assertIn("breakdown", json.loads(res.body)["detail"])

    def test_4_differencing(self):
        who = "research-3"
        first = self.count(E11, who=who)  # the same as test 2's, no difference
        self.assertEqual(first["size"], 15)
        res = post_cohort({"any": [E11, GERD]}, who=who)  # three persons more
        self.assertEqual(res.status, 409, res.body)
        self.assertEqual(json.loads(res.body)["code"], "COHORT_DIFFERENCING")
        # Each institution is compared with its own cohorts: research-1 is
        # refused only once it holds H8+D7 itself.
        self.count(E11, who="research-1")
        res = post_cohort({"any": [E11, GERD, A10]}, who="research-1")
        self.assertEqual(res.status, 409, res.body)
        self.count({"any": [E11, hba1c(">=", 6.5, "%")]}, who=who)  # six more: allowed

    def test_4_breakdown_fixed(self):
        # One person set, one breakdown: a second breakdown of H8 + D7
        # could be subtracted from the first.
        who = "research-5"
        first = self.count(E11, who=who, query="?breakdown=sex")
        self.assertEqual(first["breakdown"]["sex"], {"F": 8, "M": 7})
        res = post_cohort(E11, who=who, query="?breakdown=sex,age_band")
        self.assertEqual(res.status, 409, res.body)
        problem = json.loads(res.body)
        self.assertEqual(problem["code"], "COHORT_BREAKDOWN_FIXED")
        self.assertIn("cohort %s " % first["id"], problem["detail"])
        self.assertIn("breakdown=sex;", problem["detail"])
        # The same breakdown again is answered as before (under a new id,
        # repeating the first), and the size alone always.
        again = self.count(E11, who=who, query="?breakdown=sex")
        self.assertNotEqual(again["id"], first["id"])
        self.assertEqual(again["repeats"], first["id"])
        self.assertEqual(dict(again, id=None, repeats=None), dict(first, id=None, repeats=None))
        self.assertEqual(self.count(E11, who=who)["size"], 15)
        # Another definition reaching the same persons is held to it too.
        res = post_cohort(A10, who=who, query="?breakdown=age_band")
        self.assertEqual(res.status, 409, res.body)
        self.assertEqual(json.loads(res.body)["code"], "COHORT_BREAKDOWN_FIXED")
        self.assertEqual(self.count(E11_KCD, who=who, query="?breakdown=sex")["breakdown"],
                         first["breakdown"])
        # Each refusal is audited (durable before the answer), without counts.
        rows = cdxtest.registry_query(
            GW, "SELECT outcome, detail FROM audit WHERE event = 'cohort.query'"
                " AND actor_oid = ? AND detail LIKE '%COHORT_BREAKDOWN_FIXED%' ORDER BY seq",
            (RESEARCH[who],))
        self.assertEqual([r[0] for r in rows], [4, 4], rows)
        self.assertIn("breakdown=sex,age_band earlier=%s " % first["id"], rows[0][1])
        self.assertNotIn("size=", rows[0][1])

    def test_5_get_owner_only(self):
        a = self.count(E11)
        res = cdxtest.curl(GW, "/v1/cohorts/" + a["id"], cert=CERTS["research-1"])
        self.assertEqual(res.status, 200, res.body)
        self.assertEqual(json.loads(res.body), a)
        res = cdxtest.curl(GW, "/v1/cohorts/" + a["id"], cert=CERTS["research-2"])
        self.assertEqual(res.status, 404, res.body)
        self.assertEqual(json.loads(res.body)["code"], "COHORT_NOT_FOUND")
        res = cdxtest.curl(GW, "/v1/cohorts/" + "0" * 32, cert=CERTS["research-1"])
        self.assertEqual(res.status, 404, res.body)
        res = cdxtest.curl(GW, "/v1/cohorts/not-an-id", cert=CERTS["research-1"])
        self.assertEqual(res.status, 404, res.body)

    def test_6_roles(self):
        # A hospital with submit and query is no research institution.
        res = post_cohort(E11, who="hanbit")
        self.assertEqual(res.status, 403, res.body)
        res = cdxtest.curl(GW, "/v1/cohorts/" + "0" * 32, cert=CERTS["dasom"])
        self.assertEqual(res.status, 403, res.body)
        # The research role reaches no identified endpoint.
        r = CERTS["research-1"]
        for path in ("/v1/documents?patient=%s.1%%7CH8-0" % OIDS["hanbit"],
                     "/v1/patients?identifier=%s.1%%7CH8-0" % OIDS["hanbit"],
                     "/v1/patients/%s.1%%7CH8-0/timeline" % OIDS["hanbit"],
                     "/v1/links", "/v1/audit", "/metrics"):
            with self.subTest(path=path):
                res = cdxtest.curl(GW, path, cert=r)
                self.assertIn(res.status, (403, 404), res.body)
                self.assertNotIn("H8-0", res.body)
        inst, body = document("H", "BY-RESEARCH", "Nobody", "Pat", "F", "19500101")
        res = cdxtest.post_document(GW, body, r)
        self.assertEqual(res.status, 403, res.body)

    def test_7_invalid(self):
        bad = {"all": [{"sex": "F"}, {"result": {"system": "LOINC", "code": "4548-4",
                                                "op": "~", "value": 1, "unit": "%"}}]}
        res = post_cohort(bad)
        self.assertEqual(res.status, 422, res.body)
        problem = json.loads(res.body)
        self.assertEqual(problem["code"], "COHORT_INVALID")
        self.assertIn("$.all[1].result.op", problem["detail"])
        for definition, path in (
                ({"condition": {"system": "ICD-9", "code": "250"}}, "$.condition.system"),
                ({"result": {"system": "LOINC", "code": "2345-7", "op": ">", "value": 1,
                             "unit": "stone"}}, "$.result.unit"),
                ({"sex": "F", "colour": "blue"}, "$"),
                ({"any": [{"age": {"min": 1, "shoe": 9}}]}, "$.any[0].age.shoe"),
                ("{not json", "$")):
            with self.subTest(path=path):
                res = post_cohort(definition)
                self.assertEqual(res.status, 422, res.body)
                self.assertTrue(json.loads(res.body)["detail"].startswith(path + ":"), res.body)
        res = post_cohort(E11, query="?breakdown=postcode")
        self.assertEqual(res.status, 400, res.body)
        res = cdxtest.curl(GW, "/v1/cohorts", cert=CERTS["research-1"], method="POST",
                           data="{}", extra=["-H", "Content-Type: text/plain"])
        self.assertEqual(res.status, 415, res.body)

    def test_8_audit(self):
        cdxtest.wait_for(lambda: cdxtest.registry_query(
            GW, "SELECT count(*) FROM audit WHERE event = 'cohort.query'")[0][0] > 20,
            what="cohort audit records")
        rows = cdxtest.registry_query(
            GW, "SELECT actor_oid, outcome, patient_key, detail FROM audit"
                " WHERE event = 'cohort.query' ORDER BY seq")
        self.assertTrue(any(r[1] == 0 and "sha256=" in r[3] and "size=" in r[3] for r in rows))
        self.assertTrue(any(r[1] == 4 and "COHORT_DIFFERENCING" in r[3] for r in rows))
        self.assertTrue(any(r[1] == 4 and "COHORT_INVALID" in r[3] for r in rows))
        for actor, outcome, patient_key, detail in rows:
            self.assertIsNone(patient_key or None)
            for group in GROUPS:
                self.assertNotIn(group + "-", detail)
            self.assertNotRegex(detail, r"size=[1-4]\b")
        denied = cdxtest.registry_query(
            GW, "SELECT count(*) FROM audit WHERE actor_oid = ? AND outcome = 8",
            (OIDS["hanbit"],))[0][0]
        self.assertGreater(denied, 0)

    def test_9_repeat_from_kept_answer(self):
        # Last: it adds a document.  research-6 counts H8 + D7 by institution.
        who, query = "research-6", "?breakdown=institution"
        first = self.count(E11, who=who, query=query)
        self.assertEqual(first["breakdown"]["institution"],
                         {OIDS["hanbit"]: 8, OIDS["dasom"]: 7})
        self.assertNotIn("repeats", first)
        # Riverside then stores a document (no diabetes) of one H8 person,
        # under Hanbit's patient id: the persons stay the same, but a count
        # made now puts that person at Riverside too.
        inst, body = document("N", "H8-0", "AlderH8", "PatH8", "F", "19500310",
                              patient_of="hanbit")
        self.assertEqual(inst, "riverside")
        res = cdxtest.post_document(GW, body, CERTS[inst])
        self.assertEqual(res.status, 201, res.body)
        fresh = self.count(E11, who="research-7", query=query)
        self.assertEqual(fresh["size"], first["size"])
        self.assertEqual(fresh["breakdown"]["institution"],
                         {OIDS["hanbit"]: 8, OIDS["dasom"]: "suppressed",
                          OIDS["riverside"]: "suppressed"})
        # research-6 asking again gets its first answer: comparing a
        # recount with it would point at the person who moved.
        again = self.count(E11, who=who, query=query)
        self.assertEqual(again["breakdown"], first["breakdown"])
        self.assertNotEqual(again["id"], first["id"])
        self.assertEqual(again.get("repeats"), first["id"])
        self.assertEqual(dict(again, id=None, repeats=None), dict(first, id=None, repeats=None))
        # Another definition of the same persons repeats it too, under its own hash.
        other = self.count(E11_KCD, who=who, query=query)
        self.assertEqual(other["repeats"], first["id"])
        self.assertEqual(other["breakdown"], first["breakdown"])
        self.assertEqual(other["definition_sha256"],
                         hashlib.sha256(json.dumps(E11_KCD).encode()).hexdigest())
        res = cdxtest.curl(GW, "/v1/cohorts/" + again["id"], cert=CERTS[who])
        self.assertEqual(res.status, 200, res.body)
        self.assertEqual(json.loads(res.body), again)
        # The audit record names the answer repeated, with the counts as sent.
        rows = cdxtest.registry_query(
            GW, "SELECT outcome, detail FROM audit WHERE event = 'cohort.query'"
                " AND actor_oid = ? AND detail LIKE 'route=cohorts.post %' ORDER BY seq",
            (RESEARCH[who],))
        self.assertEqual([r[0] for r in rows], [0, 0, 0], rows)
        self.assertNotIn("repeats=", rows[0][1])
        for outcome, detail in rows[1:]:
            self.assertIn("status=201 repeats=%s " % first["id"], detail)
            self.assertIn('"%s":7' % OIDS["dasom"], detail)
            self.assertNotIn(OIDS["riverside"], detail)


if __name__ == "__main__":
    cdxtest.main()
