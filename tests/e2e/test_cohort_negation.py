"""End-to-end: a negated fact counts in no cohort.

Riverside's CCD of Emily Walker is posted for 12 fictional persons: 6 as
it is (type 2 diabetes, SNOMED CT 44054006), 6 with the diabetes problem
observation marked negationInd="true" (a statement that the person does
not have it).  A cohort of the diagnosis counts the first 6 only, its
"not" the other 6; the negated documents' other facts (their results)
still count.  The de-identified export of the 12 carries the diagnosis for
the first 6 only."""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Gateway, Institution  # noqa: E402

OIDS = cdxtest.DEMO_OIDS
RESEARCH = "2.25.1211"
MIN_CELL = 5
GW = None
CERTS = {}

DM = {"condition": {"system": "SNOMED CT", "code": "44054006"}}
HBA1C = {"result": {"system": "LOINC", "code": "4548-4"}}


def document(ext, negated):
    path = os.path.join(cdxtest.SOURCE_DIR, "samples", "riverside", "ccd-walker-emily.xml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    rt = ('<recordTarget><patientRole><id root="%s.1" extension="%s"/>'
          "<patient><name><family>Negation%s</family><given>Pat</given></name>"
          '<administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>'
          '<birthTime value="19700101"/></patient></patientRole></recordTarget>'
          % (OIDS["riverside"], ext, ext))
    text = re.sub(r"<recordTarget>.*?</recordTarget>", lambda m: rt, text, count=1, flags=re.S)
    if negated:
        # The observation whose value is the diagnosis says it is absent.
        obs = re.search(r'<observation classCode="OBS" moodCode="EVN">(?:(?!</observation>).)*'
                        r'code="44054006"', text, flags=re.S)
        if obs is None:
            raise AssertionError("the sample has no diabetes observation")
        text = (text[:obs.start()] + '<observation classCode="OBS" moodCode="EVN"'
                ' negationInd="true">' + text[obs.start() + len(
                    '<observation classCode="OBS" moodCode="EVN">'):])
    return cdxtest.with_document_id(text.encode("utf-8"), "NEG-%d-%s" % (os.getpid(), ext))


def setUpModule():
    global GW, CERTS
    pki = cdxtest.shared_pki()
    CERTS = cdxtest.institution_certs(pki, ["riverside", "research-n"])
    insts = [Institution(OIDS["riverside"], "riverside", CERTS["riverside"], "submit, query"),
             Institution(RESEARCH, "research-n", CERTS["research-n"], "research")]
    GW = Gateway(pki, name="cohort-negation", institutions=insts,
                 settings={"research_min_cell": str(MIN_CELL), "match_link_threshold": "1000",
                           "match_review_threshold": "999",
                           "research_projects_file": "projects.conf"})
    with open(os.path.join(GW.dir, "projects.conf"), "w") as f:
        f.write("[research_project]\ninstitution = %s\nkey_file = project.key\n" % RESEARCH)
    GW.start()
    for i in range(12):
        res = cdxtest.post_document(GW, document("N%d" % i, negated=i >= 6), CERTS["riverside"])
        if res.status != 201:
            raise AssertionError("N%d: %s %s" % (i, res.status, res.body))


def tearDownModule():
    if GW is not None:
        GW.stop()


class Negation(unittest.TestCase):
    def post(self, definition):
        res = cdxtest.curl(GW, "/v1/cohorts", cert=CERTS["research-n"], method="POST",
                           data=json.dumps(definition),
                           extra=["-H", "Content-Type: application/json"])
        self.assertEqual(res.status, 201, res.body)
        return json.loads(res.body)

    def count(self, definition):
        return self.post(definition)["size"]

    def test_negated_diagnosis_not_exported(self):
        cohort = self.post(HBA1C)["id"]
        status, _, body = cdxtest.curl_get_bytes(
            GW, "/v1/cohorts/%s/export?format=ndjson" % cohort, CERTS["research-n"], timeout=60)
        self.assertEqual(status, 200, body)
        people = [json.loads(line) for line in body.decode().splitlines()]
        self.assertEqual(len(people), 12)
        with_dm = [p for p in people if any(f["code"] == "44054006" for f in p["facts"])]
        self.assertEqual(len(with_dm), 6)

    def test_negated_diagnosis_not_counted(self):
        # Each fact is stored, negated or not.
        rows = cdxtest.registry_query(
            GW, "SELECT count(*) FROM facts f JOIN fact_negations n ON n.fact_id = f.id"
                " WHERE f.code = '44054006'")
        self.assertEqual(rows[0][0], 6)
        self.assertEqual(self.count(DM), 6)
        self.assertEqual(self.count(HBA1C), 12)
        self.assertEqual(self.count({"all": [HBA1C, {"not": DM}]}), 6)


if __name__ == "__main__":
    unittest.main()
