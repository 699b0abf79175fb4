"""End-to-end: cohort counts over a generated population equal the planted truth.

cdxgw-gen writes a population with planted truth across the three demo
institutions and their dialects (Hanbit's KCD-8 diagnoses and KD drugs,
Dasom's EUC-KR referrals with EDI codes and code systems named instead of
given as OIDs, Riverside's C-CDA with SNOMED CT and RxNorm) and, with
--facts, the clinical facts it planted in each document, written as the
gateway stores them.  `cdxgw import` loads the documents; `cdxgw cohort run`
counts each definition below; the expected count is computed here from the
planted facts and the person each document's patient belongs to in the
registry: one check per criterion kind (condition, medication, result with
and without unit conversion, vital) and for combinations (all, any, not,
windows are covered by the unit tests)."""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402

MIN_CELL = 5
WORK = None
DB = None
PERSON_FACTS = {}  # registry person id -> set of (kind, system, code, value, unit)


def run_cmd(args, cwd, binary=None):
    p = subprocess.run([binary or cdxtest.BIN] + args, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=600)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def setUpModule():
    global WORK, DB
    cdxtest.require_binary()
    gen = cdxtest.gen_binary()
    if gen is None:
        raise unittest.SkipTest("cdxgw-gen is not built")
    WORK = cdxtest.scratch("cohort-gen")
    docs = os.path.join(WORK, "docs")
    facts = os.path.join(WORK, "facts.tsv")
    rc, out, err = run_cmd(["--seed", "7", "--patients", "90", "--docs-per-patient", "2",
                            "--out", docs, "--planted-truth", os.path.join(WORK, "truth.csv"),
                            "--facts", facts], WORK, binary=gen)
    if rc != 0:
        raise AssertionError("cdxgw-gen: %s" % err)
    with open(os.path.join(WORK, "cdxgw.conf"), "w") as f:
        f.write("data_dir = data\nresearch_min_cell = %d\nmappings_dir = %s\n"
                % (MIN_CELL, os.path.join(cdxtest.SOURCE_DIR, "mappings")))
    rc, out, err = run_cmd(["import", "--config", "cdxgw.conf", docs], WORK)
    DB = os.path.join(WORK, "data", "registry.db")
    patient_of = {}
    with open(os.path.join(docs, "manifest.tsv"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            path, inst, root, ext, doc_id = line.rstrip("\n").split("\t")[:5]
            patient_of[doc_id] = (root, ext)
    # Every document is stored (the folder's manifest.tsv is the one file refused).
    if "stored %d," % len(patient_of) not in out:
        raise AssertionError("import: %s %s" % (out, err))
    persons = dict(((r, e), p) for r, e, p in cdxtest.registry_query(
        DB, "SELECT root, extension, person_id FROM patients"))
    with open(facts, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            doc_id, kind, system, code, value, unit = line.rstrip("\n").split("\t")
            person = persons[patient_of[doc_id]]
            PERSON_FACTS.setdefault(person, set()).add((kind, system, code, value, unit))


def expected(pred):
    """The persons one of whose planted facts passes pred."""
    return set(p for p, fs in PERSON_FACTS.items() if any(pred(*f) for f in fs))


def cohort(definition):
    path = os.path.join(WORK, "definition.json")
    with open(path, "w") as f:
        json.dump(definition, f)
    rc, out, err = run_cmd(["cohort", "run", path, "--config", "cdxgw.conf"], WORK)
    if rc != 0:
        raise AssertionError("cohort run: %s %s" % (out, err))
    return json.loads(out)["size"]


def shown(n):
    return "suppressed" if 0 < n < MIN_CELL else n


def num(v):
    return float(v) if v else None


E11 = {"condition": {"system": "ICD-10", "code": "E11", "match": "prefix"}}
DM_SCT = {"condition": {"system": "SNOMED CT", "code": "44054006"}}
A10 = {"medication": {"system": "ATC", "code": "A10", "match": "prefix"}}
MET_RX = {"medication": {"system": "RxNorm", "code": "861007"}}
HBA1C_7 = {"result": {"system": "LOINC", "code": "4548-4", "op": ">=", "value": 7,
                      "unit": "%"}}
GLU_7 = {"result": {"system": "LOINC", "code": "2345-7", "op": ">", "value": 7,
                    "unit": "mmol/L"}}
SBP_140 = {"vital": {"system": "LOINC", "code": "8480-6", "op": ">", "value": 140,
                     "unit": "mm[Hg]"}}


def is_e11(k, s, c, v, u):
    return k == "condition" and s == "ICD-10" and c.startswith("E11")


def is_dm_sct(k, s, c, v, u):
    return k == "condition" and s == "SNOMED CT" and c == "44054006"


def is_a10(k, s, c, v, u):
    return k == "medication" and s == "ATC" and c.startswith("A10")


def is_hba1c_7(k, s, c, v, u):
    return k == "result" and c == "4548-4" and u == "%" and num(v) >= 7


def is_glu_7(k, s, c, v, u):
    return k == "result" and c == "2345-7" and u.lower() == "mg/dl" and num(v) / 18.016 > 7


class PlantedTruth(unittest.TestCase):
    def check(self, definition, persons):
        self.assertGreater(len(persons), 0, "the population plants nobody for %s" % definition)
        self.assertEqual(cohort(definition), shown(len(persons)), definition)

    def test_criterion_kinds(self):
        # Hanbit and Dasom send KCD-8; an ICD-10 criterion finds them.
        self.check(E11, expected(is_e11))
        self.check(DM_SCT, expected(is_dm_sct))
        self.check(A10, expected(is_a10))
        self.check(MET_RX, expected(lambda k, s, c, v, u: k == "medication" and s == "RxNorm"
                                    and c == "861007"))
        self.check(HBA1C_7, expected(is_hba1c_7))
        # Glucose is sent in mg/dl: the criterion in mmol/L converts it.
        self.check(GLU_7, expected(is_glu_7))
        self.check(SBP_140, expected(lambda k, s, c, v, u: k == "vital" and c == "8480-6"
                                     and num(v) > 140))

    def test_combinations(self):
        self.check({"all": [E11, A10]}, expected(is_e11) & expected(is_a10))
        self.check({"any": [E11, DM_SCT]}, expected(is_e11) | expected(is_dm_sct))
        self.check({"all": [HBA1C_7, {"not": E11}]}, expected(is_hba1c_7) - expected(is_e11))
        self.check({"any": [{"all": [E11, GLU_7]}, {"all": [DM_SCT, HBA1C_7]}]},
                   (expected(is_e11) & expected(is_glu_7))
                   | (expected(is_dm_sct) & expected(is_hba1c_7)))


if __name__ == "__main__":
    cdxtest.main()
