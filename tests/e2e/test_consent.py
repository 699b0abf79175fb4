"""End-to-end: consent, confidentiality and break-glass over mTLS with the
demo institutions.

Hanbit stores four documents of one patient whose Hanbit id and Dasom id
are joined into one person (a Dasom document carries both): a discharge
summary and a lab report (confidentiality N), a restricted note (R) and a
very restricted one (V).  Riverside (submit, query) asks by the Dasom id:
- without consent it sees none of Hanbit's documents, the query counts
  them as withheld, and a read of an existing and of a made-up id get the
  same 403 CONSENT_REQUIRED; Hanbit (the owner) sees all of its own;
- a patient lookup by an institution that may see none of the person's
  documents answers as for an unknown identity; a query's page fills up
  past withheld documents, reading at most four rows per entry asked;
- only the home institution records consent (403 CONSENT_FORBIDDEN,
  audited); a malformed body is 422 CONSENT_INVALID naming the member;
- a permit opens N (not R without a care relationship, never V); a scope
  by institution and by type narrows it; a withdrawal closes it again;
  GET shows the current decision and the history;
- R opens once Riverside has itself submitted a document for the person;
- break-glass (ETREAT with X-CDX-Reason) opens a missing consent, not a
  deny, never V; its time box lets plain requests through, then closes;
  it is counted in /metrics."""

import json
import os
import sys
import time
import unittest
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Conn, Gateway, Institution, problem_check, wait_for  # noqa: E402

HANBIT = cdxtest.DEMO_OIDS["hanbit"]
DASOM = cdxtest.DEMO_OIDS["dasom"]
RIVERSIDE = cdxtest.DEMO_OIDS["riverside"]
TAG = "CS%d" % os.getpid()
H_ID = (HANBIT + ".1", "H-" + TAG)
D_ID = (DASOM + ".1", "D-" + TAG)
R_ID = (RIVERSIDE + ".1", "R-" + TAG)
DISCHARGE = "18842-5"
LAB = "11502-2"
BOX_SECONDS = 3.0
H2_ID = (HANBIT + ".1", "H2-" + TAG)
PERMIT_POLICY = "2.25.4242.1"
DENY_POLICY = "2.25.4242.2"
KR_CONSENT = "1.2.410.100110.40.2.2.1.1"
KR_WITHDRAWAL = "1.2.410.100110.40.2.2.1.2"
BPPC = "1.3.6.1.4.1.19376.1.5.3.1.1.7"

PKI = None
GW = None
CERTS = {}
DOCS = {}
_n = [0]


def cda(inst, ids, type_code="34133-9", conf="N"):
    _n[0] += 1
    oid = cdxtest.DEMO_OIDS[inst]
    doc = cdxtest.minimal_cda(custodian_oid=oid, doc_ext="%s-%d" % (TAG, _n[0]),
                              patient_root=ids[0][0], patient_ext=ids[0][1])
    first = ('<id root="%s" extension="%s"/>' % ids[0]).encode()
    more = b"".join(('<id root="%s" extension="%s"/>' % i).encode() for i in ids[1:])
    doc = doc.replace(first, first + more, 1)
    doc = doc.replace(b'<code code="34133-9"', ('<code code="%s"' % type_code).encode(), 1)
    return doc.replace(b'<confidentialityCode code="N"',
                       ('<confidentialityCode code="%s"' % conf).encode(), 1)


def consent_cda(inst, ident, template, policy=None, institutions=(), types=()):
    """A consent document of inst for ident: its scope in
    documentationOf/serviceEvent (docs/CONSENT.md)."""
    events = []
    code = ('<code code="%s" codeSystem="2.25.4242"/>' % policy) if policy else ""
    perf = "".join('<performer typeCode="PRF"><assignedEntity><id root="%s"/>'
                   '<representedOrganization><id root="%s"/></representedOrganization>'
                   '</assignedEntity></performer>' % (o, o) for o in institutions)
    events.append('<documentationOf><serviceEvent classCode="ACT">%s<effectiveTime>'
                  '<low value="20261101"/></effectiveTime>%s</serviceEvent></documentationOf>'
                  % (code, perf))
    for t in types:
        events.append('<documentationOf><serviceEvent classCode="ACT"><code code="%s" '
                      'codeSystem="2.16.840.1.113883.6.1"/></serviceEvent></documentationOf>' % t)
    doc = cda(inst, [ident], "59284-0")
    doc = doc.replace(b'<typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>',
                      b'<typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>'
                      + ('<templateId root="%s"/>' % template).encode(), 1)
    end = b"</representedCustodianOrganization></assignedCustodian></custodian>"
    return doc.replace(end, end + "".join(events).encode(), 1)


def post_raw(inst, doc):
    with Conn.open(GW, cert=CERTS[inst], timeout=120.0) as c:
        return cdxtest.raw_post(c, doc, timeout=120.0)


def post(inst, doc):
    with Conn.open(GW, cert=CERTS[inst], timeout=120.0) as c:
        r = cdxtest.raw_post(c, doc, timeout=120.0)
    assert r is not None and r.status == 201, (r, r.body[:400] if r else None)
    return r.json()["id"]


def get(path, inst="riverside", headers=""):
    with Conn.open(GW, cert=CERTS[inst]) as c:
        c.send(("GET %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n" % (path, headers))
               .encode("utf-8"))
        return c.read_response(timeout=60.0)


def pid(ident):
    return urllib.parse.quote("%s|%s" % ident, safe="")


def find(inst="riverside", ident=D_ID, headers=""):
    r = get("/v1/documents?patient=" + pid(ident), inst, headers)
    assert r.status == 200, (r, r.body[:400])
    return r.json()


def find_page(query, inst="riverside", ident=D_ID):
    r = get("/v1/documents?patient=%s&%s" % (pid(ident), query), inst)
    assert r.status == 200, (r, r.body[:400])
    return r.json()


def names(answer):
    back = {v: k for k, v in DOCS.items()}
    return sorted(back.get(d["id"], d["id"]) for d in answer["documents"])


def consent(body, inst="hanbit", ident=H_ID):
    return cdxtest.put_consent(GW, CERTS[inst], ident, body)


def consent_ok(body):
    r = consent(body)
    assert r.status == 201, (r, r.body[:400])
    return r.json()["id"]


def setUpModule():
    global PKI, GW, CERTS
    PKI = cdxtest.shared_pki()
    CERTS = cdxtest.institution_certs(PKI, sorted(cdxtest.DEMO_OIDS))
    insts = [Institution(oid, name, CERTS[name], "submit, query")
             for name, oid in sorted(cdxtest.DEMO_OIDS.items())]
    GW = Gateway(PKI, name="consent", institutions=insts, settings={
        "match_link_threshold": "1000", "match_review_threshold": "999",
        "breakglass_minutes": "%.4f" % (BOX_SECONDS / 60.0),
        "consent_permit_policies": PERMIT_POLICY, "consent_deny_policies": DENY_POLICY}).start()
    DOCS["h_dis"] = post("hanbit", cda("hanbit", [H_ID], DISCHARGE))
    DOCS["h_lab"] = post("hanbit", cda("hanbit", [H_ID], LAB))
    DOCS["h_r"] = post("hanbit", cda("hanbit", [H_ID], DISCHARGE, "R"))
    DOCS["h_v"] = post("hanbit", cda("hanbit", [H_ID], DISCHARGE, "V"))
    DOCS["d1"] = post("dasom", cda("dasom", [D_ID, H_ID], LAB))
    DOCS["h2_dis"] = post("hanbit", cda("hanbit", [H2_ID], DISCHARGE))
    DOCS["h2_lab"] = post("hanbit", cda("hanbit", [H2_ID], LAB))


def tearDownModule():
    if GW is not None:
        GW.stop()


class TestA_NoConsent(unittest.TestCase):
    """Runs first (classes run in name order): nothing recorded yet."""

    def test_query_withholds_and_counts(self):
        a = find()
        self.assertEqual(names(a), [])
        self.assertEqual(a["withheld"], {"consent": 3, "confidentiality": 2})
        self.assertEqual(a["count"], 0)
        # The owners see their own.
        self.assertEqual(names(find("hanbit")), ["h_dis", "h_lab", "h_r", "h_v"])
        self.assertEqual(names(find("dasom")), ["d1"])

    def test_existing_and_made_up_ids_answer_alike(self):
        answers = []
        for docid in (DOCS["h_dis"], uuid.uuid4().hex):
            for suffix in ("", "/metadata", "/html"):
                r = get("/v1/documents/" + docid + suffix)
                p = problem_check(self, r, 403, "CONSENT_REQUIRED")
                p.pop("request_id", None)
                answers.append((suffix, json.dumps(p, sort_keys=True)))
        self.assertEqual(answers[:3], answers[3:])

    def test_timeline_withholds(self):
        r = get("/v1/patients/%s/timeline" % pid(D_ID))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["withheld"], {"consent": 3, "confidentiality": 2})

    def test_refusal_audited(self):
        seq0 = cdxtest.audit_max_seq(GW)
        get("/v1/documents/" + DOCS["h_lab"])
        rows = wait_for(lambda: cdxtest.audit_since(GW, seq0), what="an audit record")
        self.assertEqual([(r[1], r[2], r[3], r[4]) for r in rows],
                         [("document.read", 8, RIVERSIDE, DOCS["h_lab"])])
        self.assertIn("code=CONSENT_REQUIRED", rows[0][5])


    def test_patient_lookup_answers_as_for_nobody(self):
        """Riverside may see none of the person's documents: the lookup
        answers as for an identity no document carries; only the audit
        record says a person was left out.  Its owners find it."""
        seq0 = cdxtest.audit_max_seq(GW)
        r = get("/v1/patients?identifier=" + pid(D_ID))
        nobody = get("/v1/patients?identifier=" + pid((D_ID[0], "NOBODY-" + TAG)))
        self.assertEqual((r.status, nobody.status), (200, 200), (r, nobody))
        self.assertEqual(r.json(), {"persons": []})
        self.assertEqual(r.json(), nobody.json())
        def lookups():
            got = [x for x in cdxtest.audit_since(GW, seq0) if x[1] == "patient.query"]
            return got if len(got) >= 2 else None
        rows = wait_for(lookups, what="both lookups' audit records")
        self.assertEqual(sorted((x[2], x[3], x[5]) for x in rows),
                         [(4, RIVERSIDE, "route=patients.query by=identifier persons=0"),
                          (4, RIVERSIDE,
                           "route=patients.query by=identifier persons=0 withheld=1")])
        for owner in ("hanbit", "dasom"):
            r = get("/v1/patients?identifier=" + pid(D_ID), owner)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(len(r.json()["persons"]), 1, (owner, r.json()))

    def test_page_fills_past_withheld(self):
        """Hanbit pages through its patient one entry at a time: the Dasom
        document, newest and withheld without consent, leaves no page
        empty while Hanbit's own documents remain."""
        seen, withheld, cursor = [], 0, ""
        for _ in range(10):
            r = get("/v1/documents?patient=%s&limit=1%s" % (pid(H_ID), cursor), "hanbit")
            self.assertEqual(r.status, 200, r)
            a = r.json()
            withheld += a.get("withheld", {}).get("consent", 0)
            seen += names(a)
            if "next" not in a:
                break
            self.assertEqual(a["count"], 1, a)
            cursor = "&cursor=" + urllib.parse.quote(a["next"], safe="")
        self.assertEqual(sorted(seen), ["h_dis", "h_lab", "h_r", "h_v"])
        self.assertEqual(withheld, 1)

    def test_page_read_is_bounded(self):
        """Riverside sees none of the person's five documents: a page of
        one entry reads at most four rows, then hands out a cursor."""
        a = find_page("limit=1")
        self.assertEqual((a["count"], sum(a["withheld"].values())), (0, 4), a)
        self.assertIn("next", a)
        b = find_page("limit=1&cursor=" + urllib.parse.quote(a["next"], safe=""))
        self.assertEqual((b["count"], sum(b["withheld"].values())), (0, 1), b)
        self.assertNotIn("next", b)


class TestB_Recording(unittest.TestCase):

    def test_only_the_home_institution(self):
        seq0 = cdxtest.audit_max_seq(GW)
        r = consent({"decision": "permit"}, inst="riverside")
        problem_check(self, r, 403, "CONSENT_FORBIDDEN")
        r = get("/v1/consents/" + pid(H_ID), "riverside")
        problem_check(self, r, 403, "CONSENT_FORBIDDEN")
        # Refusals of other cases may still be landing: Riverside's only.
        rows = wait_for(lambda: (lambda x: x if len(x) >= 2 else None)(
            [r for r in cdxtest.audit_since(GW, seq0) if r[3] == RIVERSIDE]),
            what="two audit records")
        self.assertEqual([(r[1], r[2], r[3]) for r in rows],
                         [("consent.record", 8, RIVERSIDE), ("patient.query", 8, RIVERSIDE)])
        self.assertIn("code=CONSENT_FORBIDDEN", rows[0][5])

    def test_malformed_names_the_member(self):
        for body, member in (({}, "decision"), ({"decision": "yes"}, "decision"),
                             ({"decision": "permit", "expires": "soon"}, "expires"),
                             ({"decision": "permit", "scope": {"types": ["a b"]}}, "scope.types"),
                             ({"decision": "permit", "scope": {"institutions": ["x"]}},
                              "scope.institutions")):
            with self.subTest(body=body):
                p = problem_check(self, consent(body), 422, "CONSENT_INVALID")
                self.assertTrue(p["detail"].startswith(member + ":"), p)

    def test_unknown_patient(self):
        r = consent({"decision": "permit"}, ident=(HANBIT + ".1", "NOBODY-" + TAG))
        problem_check(self, r, 404, "PATIENT_NOT_FOUND")


class TestC_Consent(unittest.TestCase):
    """One scenario, in order: permit, scopes, withdrawal, history."""

    def test_scenario(self):
        seq0 = cdxtest.audit_max_seq(GW)
        cid = consent_ok({"decision": "permit"})
        rows = wait_for(lambda: cdxtest.audit_since(GW, seq0), what="an audit record")
        self.assertEqual([(r[1], r[2], r[3]) for r in rows], [("consent.record", 0, HANBIT)])
        self.assertIn("consent=%d decision=permit source=api" % cid, rows[0][5])
        # N under consent; R without a care relationship and V stay closed.
        a = find()
        self.assertEqual(names(a), ["d1", "h_dis", "h_lab"])
        self.assertEqual(a["withheld"], {"confidentiality": 2})
        self.assertEqual(get("/v1/documents/" + DOCS["h_dis"]).status, 200)
        problem_check(self, get("/v1/documents/" + DOCS["h_r"]), 403, "CONFIDENTIALITY")
        problem_check(self, get("/v1/documents/%s/html" % DOCS["h_v"]), 403, "CONFIDENTIALITY")
        # A scope of another institution: none for Riverside.
        consent_ok({"decision": "permit", "scope": {"institutions": [DASOM]}})
        self.assertEqual(names(find()), [])
        # A scope of lab reports.
        consent_ok({"decision": "permit", "scope": {"institutions": [RIVERSIDE], "types": [LAB]}})
        a = find()
        self.assertEqual(names(a), ["d1", "h_lab"])
        self.assertEqual(a["withheld"], {"consent": 1, "confidentiality": 2})
        # A partial withdrawal of lab reports leaves nothing.
        consent_ok({"decision": "deny", "scope": {"types": [LAB]}})
        self.assertEqual(names(find()), [])
        # A permit again, then the withdrawal of everything.
        consent_ok({"decision": "permit", "research": "deny"})
        self.assertEqual(names(find()), ["d1", "h_dis", "h_lab"])
        consent_ok({"decision": "deny"})
        a = find()
        self.assertEqual(names(a), [])
        problem_check(self, get("/v1/documents/" + DOCS["h_dis"]), 403, "CONSENT_REQUIRED")
        # An expired permit is none.
        consent_ok({"decision": "permit", "expires": "2020-01-01"})
        self.assertEqual(names(find()), [])
        # The home institution reads the current decision and history.
        r = get("/v1/consents/" + pid(H_ID), "hanbit")
        self.assertEqual(r.status, 200, r)
        c = r.json()
        self.assertEqual(c["current"]["decision"], "permit")
        self.assertFalse(c["current"]["in_effect"])
        self.assertEqual([h["decision"] for h in c["history"]],
                         ["permit", "deny", "permit", "deny", "permit", "permit", "permit"])
        self.assertEqual(c["history"][0]["identity"], {"root": H_ID[0], "extension": H_ID[1]})
        self.assertEqual(c["history"][2]["research"], "deny")
        # Leave a permit of discharge summaries for the next cases.
        consent_ok({"decision": "permit", "scope": {"types": [DISCHARGE]}})


class TestD_CareRelationship(unittest.TestCase):

    def test_restricted_after_own_document(self):
        problem_check(self, get("/v1/documents/" + DOCS["h_r"]), 403, "CONFIDENTIALITY")
        DOCS["r1"] = post("riverside", cda("riverside", [R_ID, D_ID], LAB))
        self.assertEqual(get("/v1/documents/" + DOCS["h_r"]).status, 200)
        problem_check(self, get("/v1/documents/" + DOCS["h_v"]), 403, "CONFIDENTIALITY")


class TestE_BreakGlass(unittest.TestCase):

    ETREAT = "X-CDX-Purpose: ETREAT\r\nX-CDX-User: dr.er\r\n"

    def glass_count(self):
        s = cdxtest.metric_samples(GW.metrics(), "cdxgw_access_breakglass_total")
        return s[0][1] if s else 0.0

    def test_reason_required_and_checked(self):
        r = get("/v1/documents/" + DOCS["h_lab"], headers=self.ETREAT)
        problem_check(self, r, 400, "REASON_REQUIRED")
        r = get("/v1/documents/" + DOCS["h_lab"],
                headers=self.ETREAT + "X-CDX-Reason: %s\r\n" % ("x" * 300))
        problem_check(self, r, 400, "REASON_INVALID")

    def test_time_boxed_and_flagged(self):
        # Lab reports: the current permit covers discharge summaries only.
        problem_check(self, get("/v1/documents/" + DOCS["h_lab"]), 403, "CONSENT_REQUIRED")
        before = self.glass_count()
        r = get("/v1/documents/" + DOCS["h_lab"],
                headers=self.ETREAT + "X-CDX-Reason: unconscious on arrival\r\n")
        self.assertEqual(r.status, 200, r)
        opened = time.monotonic()
        # Never V.
        r = get("/v1/documents/" + DOCS["h_v"],
                headers=self.ETREAT + "X-CDX-Reason: unconscious on arrival\r\n")
        problem_check(self, r, 403, "CONFIDENTIALITY")
        # The time box: plain requests pass, flagged, for the person.
        r = get("/v1/documents/" + DOCS["h_lab"])
        in_box = time.monotonic() - opened < 0.9
        if in_box:
            self.assertEqual(r.status, 200, r)
        self.assertGreaterEqual(self.glass_count(), before + (2 if in_box else 1))
        rows = cdxtest.registry_query(
            GW, "SELECT institution_oid FROM breakglass")
        self.assertEqual(rows, [(RIVERSIDE,)])
        time.sleep(max(0.0, BOX_SECONDS + 1.1 - (time.monotonic() - opened)))
        problem_check(self, get("/v1/documents/" + DOCS["h_lab"]), 403, "CONSENT_REQUIRED")
        # The patient's access log (for the home institution) shows the
        # emergency read with its reason and decision; the operators' list
        # of break-glass accesses has it too.
        log = get("/v1/patients/%s/access-log" % pid(H_ID), "hanbit")
        self.assertEqual(log.status, 200, log)
        glass = [a for a in log.json()["accesses"]
                 if a.get("decision") == "breakglass" and a.get("document_id") == DOCS["h_lab"]]
        self.assertTrue(glass, log.json())
        self.assertEqual(glass[0]["institution"], RIVERSIDE)
        self.assertEqual(glass[0]["reason"], "unconscious on arrival")
        self.assertEqual(glass[0]["user"], "dr.er")
        with Conn.open(GW, cert=PKI.admin) as c:
            c.send(b"GET /v1/audit?event=breakglass HTTP/1.1\r\nHost: localhost\r\n\r\n")
            r = c.read_response(timeout=60.0)
        self.assertEqual(r.status, 200, r)
        recs = r.json()["records"]
        self.assertTrue(any(x.get("reason") == "unconscious on arrival" for x in recs), recs)
        self.assertTrue(all(x.get("purpose") == "ETREAT" or x.get("decision") == "breakglass"
                            for x in recs), recs)

    def test_deny_holds(self):
        consent_ok({"decision": "deny", "scope": {"institutions": [DASOM]}})
        try:
            # Dasom: an explicit (partial) deny; break-glass does not pass it.
            r = get("/v1/documents/" + DOCS["h_dis"], "dasom",
                    self.ETREAT + "X-CDX-Reason: stroke\r\n")
            problem_check(self, r, 403, "CONSENT_REQUIRED")
        finally:
            consent_ok({"decision": "permit", "scope": {"types": [DISCHARGE]}})


class TestF_ConsentDocuments(unittest.TestCase):
    """A second patient, whose consent comes as documents."""

    def find2(self):
        return names(find(ident=H2_ID))

    def test_documents(self):
        self.assertEqual(self.find2(), [])
        # Not the home institution: refused, nothing recorded.
        r = post_raw("dasom", consent_cda("dasom", H2_ID, KR_CONSENT))
        problem_check(self, r, 403, "CONSENT_FORBIDDEN")
        # The Korean consent, scoped to Riverside: recorded with the document.
        seq0 = cdxtest.audit_max_seq(GW)
        DOCS["h2_c1"] = post("hanbit", consent_cda("hanbit", H2_ID, KR_CONSENT,
                                                   institutions=[RIVERSIDE]))
        rows = wait_for(lambda: (lambda x: x if len(x) >= 2 else None)(
            cdxtest.audit_since(GW, seq0)), what="two audit records")
        self.assertEqual([(x[1], x[2], x[4]) for x in rows],
                         [("document.ingest", 0, DOCS["h2_c1"]),
                          ("consent.record", 0, DOCS["h2_c1"])])
        self.assertIn("source=document", rows[1][5])
        self.assertEqual(self.find2(), ["h2_c1", "h2_dis", "h2_lab"])
        c = get("/v1/consents/" + pid(H2_ID), "hanbit").json()
        self.assertEqual((c["current"]["source"], c["current"]["document"]),
                         ("document", DOCS["h2_c1"]))
        # A partial withdrawal of lab reports.
        DOCS["h2_w1"] = post("hanbit", consent_cda("hanbit", H2_ID, KR_WITHDRAWAL, types=[LAB]))
        self.assertEqual(self.find2(), ["h2_c1", "h2_dis", "h2_w1"])
        # The whole withdrawal.
        post("hanbit", consent_cda("hanbit", H2_ID, KR_WITHDRAWAL))
        self.assertEqual(self.find2(), [])
        # BPPC: the configured permit policy, then the deny policy.
        post("hanbit", consent_cda("hanbit", H2_ID, BPPC, policy=PERMIT_POLICY))
        self.assertEqual(len(self.find2()), 6)  # its two documents and four consent documents
        post("hanbit", consent_cda("hanbit", H2_ID, BPPC, policy=DENY_POLICY))
        self.assertEqual(self.find2(), [])
        # A policy the gateway does not know: refused, nothing recorded.
        r = post_raw("hanbit", consent_cda("hanbit", H2_ID, BPPC, policy="2.25.4242.9"))
        problem_check(self, r, 422, "CONSENT_INVALID")
        # And a consent document that says nothing of its scope.
        r = post_raw("hanbit", consent_cda("hanbit", H2_ID, KR_CONSENT).replace(
            b"<documentationOf>", b"<!--").replace(b"</documentationOf>", b"-->"))
        problem_check(self, r, 422, "CDA_PROFILE_INVALID")
        self.assertEqual(self.find2(), [])


if __name__ == "__main__":
    cdxtest.main()
