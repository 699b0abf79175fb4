"""End-to-end: GET /v1/patients/{ROOT|EXT}/timeline over mTLS with the
demo institutions.

Hanbit sends a document carrying two identities of one patient (its own
and Dasom's), Dasom one under its own id that reports the same problem on
the same day and an earlier glucose value, and Hanbit a document it then
replaces.  Riverside (role query) reads the timeline:
- the problem both report appears once with both documents and both
  institutions as its sources; the replaced document's facts are left out;
- kinds= and from=/to= filter; ?view=summary lists the active problem and
  the glucose trend (latest with the earlier value), with the unit as sent;
- an identity no document carries: 404 PATIENT_NOT_FOUND, audited;
- a malformed identity, an unknown parameter, a bad date, an unknown kind
  or view: 400 naming the parameter, audited as a rejection;
- an institution without the query role: 403, audited."""

import json
import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Conn, Gateway, Institution, problem_check, wait_for  # noqa: E402

PKI = None
GW = None
CERTS = None
HANBIT = cdxtest.DEMO_OIDS["hanbit"]
DASOM = cdxtest.DEMO_OIDS["dasom"]
RIVERSIDE = cdxtest.DEMO_OIDS["riverside"]
SUBMIT_ONLY = "2.25.1004"
RUN = str(os.getpid())
H_ID = (HANBIT + ".1", "TL-H-" + RUN)
D_ID = (DASOM + ".1", "TL-D-" + RUN)
SNOMED = "2.16.840.1.113883.6.96"
DIABETES = "44054006"
HYPERTENSION = "38341003"
ASTHMA = "195967001"
GLUCOSE = "2345-7"
UIDS = {}


def problems(code, onset):
    return ('<component><section>'
            '<templateId root="2.16.840.1.113883.10.20.22.2.5.1"/>'
            '<code code="11450-4" codeSystem="2.16.840.1.113883.6.1"/><title>Problems</title>'
            '<text>Problems</text>'
            '<entry><act classCode="ACT" moodCode="EVN">'
            '<templateId root="2.16.840.1.113883.10.20.22.4.3"/>'
            '<code code="CONC" codeSystem="2.16.840.1.113883.5.6"/>'
            '<statusCode code="active"/>'
            '<entryRelationship typeCode="SUBJ"><observation classCode="OBS" moodCode="EVN">'
            '<templateId root="2.16.840.1.113883.10.20.22.4.4"/>'
            '<code code="55607006" codeSystem="%s"/><statusCode code="completed"/>'
            '<effectiveTime><low value="%s"/></effectiveTime>'
            '<value xsi:type="CD" code="%s" codeSystem="%s"/>'
            '</observation></entryRelationship></act></entry>'
            '</section></component>' % (SNOMED, onset, code, SNOMED))


def glucose(value, when):
    return ('<component><section>'
            '<templateId root="2.16.840.1.113883.10.20.22.2.3.1"/>'
            '<code code="30954-2" codeSystem="2.16.840.1.113883.6.1"/><title>Results</title>'
            '<text>Results</text>'
            '<entry><organizer classCode="BATTERY" moodCode="EVN">'
            '<templateId root="2.16.840.1.113883.10.20.22.4.1"/>'
            '<code code="24323-8" codeSystem="2.16.840.1.113883.6.1"/>'
            '<statusCode code="completed"/><effectiveTime value="%s"/>'
            '<component><observation classCode="OBS" moodCode="EVN">'
            '<templateId root="2.16.840.1.113883.10.20.22.4.2"/>'
            '<code code="%s" codeSystem="2.16.840.1.113883.6.1"/>'
            '<statusCode code="completed"/><effectiveTime value="%s"/>'
            '<value xsi:type="PQ" value="%s" unit="mg/dl"/>'
            '</observation></component></organizer></entry>'
            '</section></component>' % (when, GLUCOSE, when, value))


def body(*sections):
    return ('<component><structuredBody>%s</structuredBody></component>'
            % "".join(sections)).encode()


def cda(custodian, ext, ids, sections, related=None):
    xml = cdxtest.minimal_cda(custodian, doc_ext=ext, patient_root=ids[0][0],
                              patient_ext=ids[0][1], body=body(*sections), related=related,
                              root_attrs=b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"')
    first = ('<id root="%s" extension="%s"/>' % ids[0]).encode()
    more = b"".join(('<id root="%s" extension="%s"/>' % i).encode() for i in ids[1:])
    return xml.replace(first, first + more, 1)


def post(cert, xml):
    with Conn.open(GW, cert=cert, timeout=120.0) as c:
        return cdxtest.raw_post(c, xml, timeout=120.0)


def get(path, cert=None):
    with Conn.open(GW, cert=cert or CERTS["riverside"]) as c:
        c.send(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode("latin-1"))
        return c.read_response(timeout=60.0)


def tl_path(ident, query=""):
    p = "/v1/patients/%s/timeline" % urllib.parse.quote("%s|%s" % ident, safe="")
    return p + ("?" + query if query else "")


def audit_rows(seq0):
    return cdxtest.registry_query(
        GW, "SELECT event, outcome, actor_oid, patient_key, detail FROM audit WHERE seq > ?"
        " ORDER BY seq", (seq0,))


def wait_audit(seq0):
    return wait_for(lambda: audit_rows(seq0) or None, what="an audit record")


def setUpModule():
    global PKI, GW, CERTS
    PKI = cdxtest.shared_pki()
    CERTS = cdxtest.institution_certs(PKI, sorted(cdxtest.DEMO_OIDS))
    insts = [Institution(SUBMIT_ONLY, "submit only", PKI.good, "submit")]
    for name, oid in sorted(cdxtest.DEMO_OIDS.items()):
        insts.append(Institution(oid, name, CERTS[name], "submit, query"))
    GW = Gateway(PKI, name="timeline", institutions=insts).start()
    docs = [
        ("h1", CERTS["hanbit"], cda(HANBIT, "TL-H1-" + RUN, [H_ID, D_ID],
                                    [problems(DIABETES, "20200315"),
                                     glucose("182", "20240104")])),
        ("d1", CERTS["dasom"], cda(DASOM, "TL-D1-" + RUN, [D_ID],
                                   [problems(DIABETES, "20200315"),
                                    glucose("150", "20230601")])),
        ("h2", CERTS["hanbit"], cda(HANBIT, "TL-H2-" + RUN, [H_ID],
                                    [problems(HYPERTENSION, "2021")])),
        ("h2v2", CERTS["hanbit"], cda(HANBIT, "TL-H2V2-" + RUN, [H_ID],
                                      [problems(ASTHMA, "2022")],
                                      related=("RPLC", "%s.2^TL-H2-%s" % (HANBIT, RUN)))),
    ]
    for key, cert, xml in docs:
        r = post(cert, xml)
        if r is None or r.status != 201:
            raise AssertionError("%s not stored: %r %s" % (key, r, r.body if r else b""))
        UIDS[key] = r.json()["id"]
    # The patient consents to every institution: Riverside may read.
    cdxtest.permit_all(GW, CERTS["hanbit"], H_ID)


def tearDownModule():
    if GW is not None:
        GW.stop()


def codes(facts, kind=None):
    return [f.get("code") for f in facts if kind is None or f["kind"] == kind]


class TestTimeline(unittest.TestCase):

    def read(self, ident=H_ID, query=""):
        r = get(tl_path(ident, query))
        self.assertIsNotNone(r)
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.header("content-type").startswith("application/json"))
        return r.json()

    def test_merged_with_both_sources(self):
        t = self.read()
        self.assertEqual(t["view"], "timeline")
        dm = [f for f in t["facts"] if f.get("code") == DIABETES]
        self.assertEqual(len(dm), 1, t)
        docs = sorted(s["document"] for s in dm[0]["sources"])
        self.assertEqual(docs, sorted([UIDS["h1"], UIDS["d1"]]))
        insts = sorted(s["institution"]["oid"] for s in dm[0]["sources"])
        self.assertEqual(insts, sorted([HANBIT, DASOM]))
        self.assertTrue(all(s["sectionTitle"] == "Problems" for s in dm[0]["sources"]))
        # Two glucose values, two facts; the unit as sent beside UCUM.
        glu = [f for f in t["facts"] if f.get("code") == GLUCOSE]
        self.assertEqual(sorted(f["number"] for f in glu), [150.0, 182.0])
        self.assertTrue(all(f["unit"] == "mg/dL" and f["unitOriginal"] == "mg/dl"
                            for f in glu), glu)
        # Time order.
        lows = [f["effectiveTime"]["low"] for f in t["facts"]]
        self.assertEqual(lows[0][:8], "20200315")
        self.assertEqual(t["count"], len(t["facts"]))

    def test_same_person_from_either_identity(self):
        a, b = self.read(H_ID), self.read(D_ID)
        self.assertEqual(sorted(codes(a["facts"])), sorted(codes(b["facts"])))

    def test_replaced_document_left_out(self):
        t = self.read()
        self.assertNotIn(HYPERTENSION, codes(t["facts"]))
        self.assertIn(ASTHMA, codes(t["facts"]))

    def test_filters(self):
        t = self.read(query="kinds=results")
        self.assertEqual(set(f["kind"] for f in t["facts"]), {"results"})
        t = self.read(query="kinds=problems,results&kinds=allergies")
        self.assertEqual(set(f["kind"] for f in t["facts"]), {"problems", "results"})
        t = self.read(query="kinds=results&from=2024&to=2025-01-01")
        self.assertEqual([f["number"] for f in t["facts"]], [182.0])
        t = self.read(query="from=20240105")
        self.assertEqual(t["facts"], [])

    def test_summary(self):
        s = self.read(query="view=summary")
        self.assertEqual(s["view"], "summary")
        self.assertEqual(sorted(codes(s["active_problems"])), sorted([ASTHMA, DIABETES]))
        trend = [x for x in s["results"] if x["code"] == GLUCOSE]
        self.assertEqual(len(trend), 1, s["results"])
        self.assertEqual(trend[0]["latest"]["number"], 182.0)
        self.assertEqual(trend[0]["latest"]["unitOriginal"], "mg/dl")
        self.assertEqual([p["number"] for p in trend[0]["previous"]], [150.0])
        for k in ("current_medications", "allergies", "vital_signs"):
            self.assertEqual(s[k], [])

    def test_disclosure_audited(self):
        seq = cdxtest.audit_max_seq(GW)
        self.read()
        rows = wait_audit(seq)
        ev, outcome, actor, key, detail = rows[-1]
        self.assertEqual((ev, outcome, actor), ("document.read", 0, RIVERSIDE))
        self.assertTrue(key and len(key) == 32, key)
        self.assertIn("form=timeline", detail)
        self.assertNotIn(H_ID[1], json.dumps(rows))


class TestRefusals(unittest.TestCase):

    def test_unknown_patient(self):
        seq = cdxtest.audit_max_seq(GW)
        r = get(tl_path((HANBIT + ".1", "NOBODY-" + RUN)))
        problem_check(self, r, 404, "PATIENT_NOT_FOUND")
        rows = wait_audit(seq)
        self.assertEqual(rows[-1][:3], ("document.read", 4, RIVERSIDE))
        self.assertIsNone(rows[-1][3])
        self.assertIn("PATIENT_NOT_FOUND", rows[-1][4])

    def check_400(self, path, code, param):
        seq = cdxtest.audit_max_seq(GW)
        r = get(path)
        problem_check(self, r, 400, code)
        self.assertIn(param, r.json()["detail"])
        rows = wait_audit(seq)
        self.assertEqual(rows[-1][0], "document.reject")
        self.assertIn(code, rows[-1][4])

    def test_bad_input(self):
        self.check_400("/v1/patients/nope/timeline", "PATIENT_ID_INVALID", "patient")
        self.check_400("/v1/patients/not-an-oid%7CX/timeline", "PATIENT_ID_INVALID", "patient")
        self.check_400("/v1/patients/%ZZ/timeline", "PATIENT_ID_INVALID", "patient")
        self.check_400(tl_path(H_ID, "color=red"), "PARAMETER_UNKNOWN", "color")
        self.check_400(tl_path(H_ID, "from=yesterday"), "DATE_INVALID", "from")
        self.check_400(tl_path(H_ID, "to=20241399"), "DATE_INVALID", "to")
        self.check_400(tl_path(H_ID, "kinds=labs"), "PARAMETER_INVALID", "kinds")
        self.check_400(tl_path(H_ID, "kinds=results,"), "PARAMETER_INVALID", "kinds")
        self.check_400(tl_path(H_ID, "view=everything"), "PARAMETER_INVALID", "view")

    def test_role_refused(self):
        seq = cdxtest.audit_max_seq(GW)
        r = get(tl_path(H_ID), cert=PKI.good)
        problem_check(self, r, 403, "FORBIDDEN")
        rows = wait_audit(seq)
        self.assertEqual(rows[-1][:3], ("document.read", 8, SUBMIT_ONLY))
        self.assertIn("route=patients.timeline", rows[-1][4])


if __name__ == "__main__":
    cdxtest.main()
