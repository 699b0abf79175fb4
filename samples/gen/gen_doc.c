/* gen_doc: one synthetic CDA document in its institution's dialect: the
 * header, then problems, medications, allergies, results, vital signs and
 * narrative sections, with codes as in mappings/codemaps. */
#include "gen.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Built-in vocabularies (codes as in mappings/codemaps)                */
/* ------------------------------------------------------------------ */

typedef struct dx {
    const char *kcd; /* KCD-8 code, as in kcd8-icd10.tsv */
    const char *ko;  /* Korean name */
    const char *sct; /* SNOMED CT for Riverside */
    const char *en;  /* English name */
} dx_t;

static const dx_t diagnoses[] = {
    {"I10", "본태성(원발성) 고혈압", "38341003", "Hypertensive disorder, systemic arterial"},
    {"E11.9", "합병증을 동반하지 않은 2형 당뇨병", "44054006", "Diabetes mellitus type 2"},
    {"E78.5", "상세불명의 고지질혈증", "55822004", "Hyperlipidemia"},
    {"J45.9", "상세불명의 천식", "195967001", "Asthma"},
    {"K21.9", "식도염을 동반하지 않은 위-식도역류병", "235595009",
     "Gastroesophageal reflux disease"},
    {"M17.9", "상세불명의 무릎관절증", "239873007", "Osteoarthritis of knee"},
    {"E03.9", "상세불명의 갑상선기능저하증", "40930008", "Hypothyroidism"},
    {"I48.9", "상세불명의 심방세동 및 심방조동", "49436004", "Atrial fibrillation"},
    {"F32.9", "상세불명의 우울에피소드", "35489007", "Depressive disorder"},
    {"J30.4", "상세불명의 알레르기비염", "61582004", "Allergic rhinitis"},
    {"M81.9", "상세불명의 골다공증", "64859006", "Osteoporosis"},
    {"N18.9", "상세불명의 만성 신장병", "709044004", "Chronic kidney disease"},
    {"K29.7", "상세불명의 위염", "4556007", "Gastritis"},
    {"G43.9", "상세불명의 편두통", "37796009", "Migraine"},
    {"J20.9", "상세불명의 급성 기관지염", "10509002", "Acute bronchitis"},
};

typedef struct drug {
    const char *atc; /* WHO ATC, as kd-atc.tsv and edi-drug-atc.tsv map both codes */
    const char *kd;  /* KD product code (kd-atc.tsv) */
    const char *edi; /* EDI insurance code (edi-drug-atc.tsv) */
    const char *ko;
    const char *rx; /* RxNorm clinical drug */
    const char *en;
    int period_h;
} drug_t;

static const drug_t drugs[] = {
    {"A10BA02", "641900010", "641900011", "메트포르민 500mg", "861007",
     "metformin hydrochloride 500 MG Oral Tablet", 12},
    {"C08CA01", "645400040", "645400041", "암로디핀 5mg", "197361", "amlodipine 5 MG Oral Tablet", 24},
    {"C09CA01", "645900050", "645900051", "로사르탄 50mg", "979485", "losartan potassium 50 MG Oral Tablet",
     24},
    {"C10AA05", "646700060", "646700061", "아토르바스타틴 10mg", "617312", "atorvastatin 10 MG Oral Tablet",
     24},
    {"B01AC06", "647800080", "647800081", "아스피린 100mg", "243670", "aspirin 81 MG Oral Tablet", 24},
    {"A02BC01", "648200100", "648200101", "오메프라졸 20mg", "198053",
     "omeprazole 20 MG Delayed Release Oral Capsule", 24},
    {"H03AA01", "649100120", "649100121", "레보티록신 0.1mg", "966247",
     "levothyroxine sodium 0.1 MG Oral Tablet", 24},
    {"R03DC03", "651200150", "651200151", "몬테루카스트 10mg", "200224", "montelukast 10 MG Oral Tablet", 24},
    {"N06AB06", "652400170", "652400171", "서트랄린 50mg", "312940", "sertraline 50 MG Oral Tablet", 24},
    {"N02BE01", "649600130", "649600131", "아세트아미노펜 500mg", "198440", "acetaminophen 500 MG Oral Tablet",
     8},
};

typedef struct lab {
    const char *local; /* Hanbit local code (hanbit-lab-loinc.tsv) */
    const char *edi;   /* EDI code (edi-lab-loinc.tsv) */
    const char *loinc;
    const char *ko;
    const char *en;
    const char *unit; /* as the sender writes it */
    int lo10, hi10;   /* reference range, tenths */
    int min10, max10; /* values drawn from, tenths */
} lab_t;

static const lab_t lab_tests[] = {
    {"L-GLU01", "C3711", "2345-7", "공복혈당", "Glucose [Mass/volume] in Serum or Plasma", "mg/dl",
     700, 990, 650, 2200},
    {"L-HBA1C", "C3795", "4548-4", "당화혈색소", "Hemoglobin A1c/Hemoglobin.total in Blood", "%",
     40, 56, 45, 110},
    {"L-CHOL01", "C2411", "2093-3", "총콜레스테롤", "Cholesterol [Mass/volume] in Serum or Plasma",
     "mg/dl", 0, 1990, 1200, 2800},
    {"L-TG01", "C2421", "2571-8", "중성지방", "Triglyceride [Mass/volume] in Serum or Plasma",
     "mg/dl", 0, 1490, 500, 3500},
    {"L-CRE01", "C3750", "2160-0", "크레아티닌", "Creatinine [Mass/volume] in Serum or Plasma",
     "mg/dl", 7, 13, 5, 25},
    {"L-ALT01", "C3762", "1742-6", "ALT",
     "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "IU/L", 0, 400, 80,
     1200},
    {"L-HGB01", "B1040", "718-7", "혈색소", "Hemoglobin [Mass/volume] in Blood", "g/dl", 120, 160,
     90, 180},
    {"L-WBC01", "B1050", "6690-2", "백혈구", "Leukocytes [#/volume] in Blood by Automated count",
     "x10^3/uL", 40, 100, 30, 150},
    {"L-K01", "C3812", "2823-3", "칼륨", "Potassium [Moles/volume] in Serum or Plasma", "mmol/l",
     35, 51, 30, 60},
    {"L-TSH01", "C7231", "3016-3", "갑상선자극호르몬",
     "Thyrotropin [Units/volume] in Serum or Plasma", "uIU/ml", 4, 40, 2, 120},
};

static const char *const narrative_ko[] = {
    "외래 추적 관찰 중이며 증상은 안정적입니다.",
    "생활습관 교정과 규칙적인 운동을 권유하였습니다.",
    "최근 검사 결과를 환자와 함께 검토하였습니다.",
    "투약 순응도는 양호하며 이상 반응은 없었습니다.",
    "다음 외래에서 혈액검사를 다시 시행할 예정입니다.",
};
static const char *const narrative_en[] = {
    "Patient seen for routine follow-up; symptoms stable.",
    "Counseled on diet, exercise and medication adherence.",
    "Recent laboratory results reviewed with the patient.",
    "No adverse reactions reported to current medications.",
    "Plan to repeat laboratory studies at the next visit.",
};

/* ------------------------------------------------------------------ */
/* Document pieces                                                     */
/* ------------------------------------------------------------------ */

typedef struct when {
    int y, m, d, hh, mm;
} when_t;

static void fmt_ts(char *out, size_t n, const when_t *w)
{
    snprintf(out, n, "%04d%02d%02d%02d%02d", w->y, w->m, w->d, w->hh, w->mm);
}

static void fmt_date(char *out, size_t n, const when_t *w)
{
    snprintf(out, n, "%04d%02d%02d", w->y, w->m, w->d);
}

typedef struct ctx {
    rng_t r;
    const patient_t *p;
    unsigned doc;
    char doc_id[64];
    when_t when;
    char ts[16], date[16];
    const char *oid;
} ctx_t;

#define P(b, ...) cdx_buf_printf((b), __VA_ARGS__)

FILE *gen_facts;

/* One planted fact on gen_facts (gen.h). */
static void planted(const ctx_t *c, const char *kind, const char *system, const char *code,
                    const char *value, const char *unit)
{
    if (gen_facts != NULL)
        fprintf(gen_facts, "%s\t%s\t%s\t%s\t%s\t%s\n", c->doc_id, kind, system, code,
                value != NULL ? value : "", unit != NULL ? unit : "");
}

static void header(cdx_buf_t *b, const ctx_t *c, const char *encoding, const char *tid,
                   const char *code, const char *code_name, const char *title, int kr)
{
    const patient_t *p = c->p;
    P(b, "<?xml version=\"1.0\" encoding=\"%s\"?>\n", encoding);
    P(b, "<ClinicalDocument xmlns=\"urn:hl7-org:v3\" "
         "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n");
    P(b, "  <realmCode code=\"%s\"/>\n", kr ? "KR" : "US");
    P(b, "  <typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\"/>\n");
    if (!kr)
        P(b, "  <templateId root=\"2.16.840.1.113883.10.20.22.1.1\" extension=\"2015-08-01\"/>\n");
    P(b, "  <templateId root=\"%s\"%s/>\n", tid, kr ? "" : " extension=\"2015-08-01\"");
    P(b, "  <id root=\"%s.2\" extension=\"%s\"/>\n", c->oid, c->doc_id);
    P(b,
      "  <code code=\"%s\" codeSystem=\"" LOINC "\" codeSystemName=\"LOINC\" "
      "displayName=\"%s\"/>\n",
      code, code_name);
    P(b, "  <title>%s</title>\n  <effectiveTime value=\"%s\"/>\n", title, c->ts);
    P(b, "  <confidentialityCode code=\"N\" codeSystem=\"2.16.840.1.113883.5.25\"/>\n");
    if (p->inst != INST_DASOM)
        P(b, "  <languageCode code=\"%s\"/>\n", kr ? "ko-KR" : "en-US");
    P(b, "  <setId root=\"%s.2\" extension=\"%s\"/>\n  <versionNumber value=\"1\"/>\n", c->oid,
      c->doc_id);
    P(b, "  <recordTarget>\n    <patientRole>\n");
    if (p->inst == INST_DASOM)
        P(b, "      <id root=\"%s.9\" extension=\"C-%lu\"/>\n", c->oid, p->alt);
    P(b, "      <id root=\"%s.1\" extension=\"%s\"/>\n", c->oid, p->mrn);
    if (p->street[0] != '\0' && kr) /* no addr when the address is unknown */
        P(b,
          "      <addr use=\"H\"><state>%s</state><city>%s</city>"
          "<streetAddressLine>%s</streetAddressLine><postalCode>%s</postalCode></addr>\n",
          p->state, p->city, p->street, p->zip);
    else if (p->street[0] != '\0')
        P(b,
          "      <addr use=\"HP\"><streetAddressLine>%s</streetAddressLine><city>%s</city>"
          "<state>%s</state><postalCode>%s</postalCode><country>US</country></addr>\n",
          p->street, p->city, p->state, p->zip);
    if (p->tel[0] != '\0')
        P(b, "      <telecom use=\"HP\" value=\"tel:%s\"/>\n", p->tel);
    P(b, "      <patient>\n");
    P(b, "        <name><family>%s</family><given>%s</given></name>\n", p->family, p->given);
    P(b, "        <administrativeGenderCode code=\"%c\" codeSystem=\"2.16.840.1.113883.5.1\"/>\n",
      p->sex);
    P(b, "        <birthTime value=\"%04d%02d%02d\"/>\n      </patient>\n", p->by, p->bm, p->bd);
    P(b, "    </patientRole>\n  </recordTarget>\n");
    P(b, "  <author>\n    <time value=\"%s\"/>\n    <assignedAuthor>\n", c->ts);
    P(b, "      <id root=\"%s.5\" extension=\"DR%03u\"/>\n", c->oid, (unsigned)(p->index % 97));
    P(b, "      <assignedPerson><name>%s</name></assignedPerson>\n",
      kr ? "<family>문</family><given>지원</given>" : "<given>Alex</given><family>Morgan</family>");
    P(b,
      "      <representedOrganization><id root=\"%s\"/><name>%s</name>"
      "</representedOrganization>\n",
      c->oid,
      p->inst == INST_HANBIT  ? "한빛대학교병원"
      : p->inst == INST_DASOM ? "다솜가정의원"
                              : "Riverside General Hospital");
    P(b, "    </assignedAuthor>\n  </author>\n");
    P(b,
      "  <custodian><assignedCustodian><representedCustodianOrganization><id root=\"%s\"/>"
      "<name>%s</name>%s</representedCustodianOrganization></assignedCustodian></custodian>\n",
      c->oid,
      p->inst == INST_HANBIT  ? "한빛대학교병원"
      : p->inst == INST_DASOM ? "다솜가정의원"
                              : "Riverside General Hospital",
      kr ? ""
         : "<telecom use=\"WP\" value=\"tel:+1-503-555-0100\"/><addr><streetAddressLine>1200 "
           "Riverside Parkway</streetAddressLine><city>Portland</city><state>OR</state>"
           "<postalCode>97201</postalCode><country>US</country></addr>");
    if (!kr)
        P(b,
          "  <documentationOf><serviceEvent classCode=\"PCPR\"><effectiveTime><low "
          "value=\"%04d0101\"/><high value=\"%s\"/></effectiveTime></serviceEvent>"
          "</documentationOf>\n",
          c->when.y - 3, c->ts);
    /* A referral names where it goes; a reply names whom it answers. */
    if (p->inst == INST_DASOM)
        P(b, "  <informationRecipient><intendedRecipient><receivedOrganization>"
             "<id root=\"" HANBIT_OID "\"/><name>한빛대학교병원</name></receivedOrganization>"
             "</intendedRecipient></informationRecipient>\n");
    else if (strcmp(tid, "1.2.410.100110.40.2.1.3") == 0)
        P(b, "  <informationRecipient><intendedRecipient><receivedOrganization>"
             "<id root=\"" DASOM_OID "\"/><name>다솜가정의원</name></receivedOrganization>"
             "</intendedRecipient></informationRecipient>\n");
    P(b, "  <component>\n    <structuredBody>\n");
}

static void section_open(cdx_buf_t *b, const char *tid, const char *code, const char *name,
                         const char *title)
{
    P(b, "      <component>\n        <section>\n");
    if (tid != NULL)
        P(b, "          <templateId root=\"%s\"/>\n", tid);
    P(b,
      "          <code code=\"%s\" codeSystem=\"" LOINC "\" codeSystemName=\"LOINC\" "
      "displayName=\"%s\"/>\n          <title>%s</title>\n",
      code, name, title);
}

static void section_close(cdx_buf_t *b)
{
    P(b, "        </section>\n      </component>\n");
}

/* Picks k distinct indexes out of n into out. */
static void distinct(rng_t *r, unsigned n, unsigned k, unsigned *out)
{
    for (unsigned i = 0; i < k; i++) {
        unsigned v;
        int dup;
        do {
            v = pick(r, n);
            dup = 0;
            for (unsigned j = 0; j < i; j++)
                dup |= out[j] == v;
        } while (dup);
        out[i] = v;
    }
}

static void problems(cdx_buf_t *b, ctx_t *c, const unsigned *dx, unsigned ndx)
{
    const patient_t *p = c->p;
    if (p->inst == INST_RIVERSIDE)
        section_open(b, "2.16.840.1.113883.10.20.22.2.5.1", "11450-4", "Problem list - Reported",
                     "PROBLEMS");
    else if (p->inst == INST_HANBIT)
        section_open(b, NULL, "29548-5", "Diagnosis", "진단");
    else
        section_open(b, NULL, "11450-4", "Problem list - Reported", "진단");
    P(b, "          <text><list>");
    for (unsigned i = 0; i < ndx; i++)
        P(b, "<item>%s %s</item>", diagnoses[dx[i]].kcd,
          p->inst == INST_RIVERSIDE ? diagnoses[dx[i]].en : diagnoses[dx[i]].ko);
    P(b, "</list></text>\n");
    for (unsigned i = 0; i < ndx; i++) {
        const dx_t *x = &diagnoses[dx[i]];
        planted(c, "condition", p->inst == INST_RIVERSIDE ? "SNOMED CT" : "ICD-10",
                p->inst == INST_RIVERSIDE ? x->sct : x->kcd, NULL, NULL);
        int onset = c->when.y - between(&c->r, 0, 12);
        if (onset < p->by)
            onset = p->by;
        if (p->inst == INST_HANBIT) {
            P(b,
              "          <entry><observation classCode=\"OBS\" moodCode=\"EVN\">"
              "<id root=\"%s.6\" extension=\"%s-D%u\"/>"
              "<code code=\"%s\" codeSystem=\"" KCD "\" codeSystemName=\"KCD-8\" "
              "displayName=\"%s\"/><statusCode code=\"active\"/>"
              "<effectiveTime><low value=\"%04d0101\"/></effectiveTime>"
              "</observation></entry>\n",
              c->oid, c->doc_id, i + 1, x->kcd, x->ko, onset);
            continue;
        }
        P(b, "          <entry><act classCode=\"ACT\" moodCode=\"EVN\">");
        if (p->inst == INST_RIVERSIDE)
            P(b, "<templateId root=\"2.16.840.1.113883.10.20.22.4.3\" extension=\"2015-08-01\"/>");
        P(b,
          "<id root=\"%s.6\" extension=\"%s-D%u\"/>"
          "<code code=\"CONC\" codeSystem=\"2.16.840.1.113883.5.6\"/>"
          "<statusCode code=\"active\"/><effectiveTime><low value=\"%04d0101\"/></effectiveTime>"
          "<entryRelationship typeCode=\"SUBJ\"><observation classCode=\"OBS\" "
          "moodCode=\"EVN\">",
          c->oid, c->doc_id, i + 1, onset);
        if (p->inst == INST_RIVERSIDE)
            P(b,
              "<templateId root=\"2.16.840.1.113883.10.20.22.4.4\" extension=\"2015-08-01\"/>"
              "<id root=\"%s.6\" extension=\"%s-D%u-o\"/>"
              "<code code=\"55607006\" codeSystem=\"" SNOMED "\" displayName=\"Problem\"/>"
              "<statusCode code=\"completed\"/><effectiveTime><low value=\"%04d0101\"/>"
              "</effectiveTime><value xsi:type=\"CD\" code=\"%s\" codeSystem=\"" SNOMED "\" "
              "codeSystemName=\"SNOMED CT\" displayName=\"%s\"/>",
              c->oid, c->doc_id, i + 1, onset, x->sct, x->en);
        else
            P(b,
              "<code code=\"282291009\" codeSystem=\"" SNOMED "\"/>"
              "<statusCode code=\"completed\"/><effectiveTime><low value=\"%04d0101\"/>"
              "</effectiveTime><value xsi:type=\"CD\" code=\"%s\" codeSystem=\"KCD8\" "
              "displayName=\"%s\"/>",
              onset, x->kcd, x->ko);
        P(b, "</observation></entryRelationship></act></entry>\n");
    }
    section_close(b);
}

static void medications(cdx_buf_t *b, ctx_t *c, const unsigned *dr, unsigned ndr)
{
    const patient_t *p = c->p;
    int us = p->inst == INST_RIVERSIDE;
    section_open(b, us ? "2.16.840.1.113883.10.20.22.2.1.1" : NULL, "10160-0",
                 "History of Medication use", us ? "MEDICATIONS" : "투약");
    P(b, "          <text><list>");
    for (unsigned i = 0; i < ndr; i++)
        P(b, "<item>%s</item>", us ? drugs[dr[i]].en : drugs[dr[i]].ko);
    P(b, "</list></text>\n");
    for (unsigned i = 0; i < ndr; i++) {
        const drug_t *x = &drugs[dr[i]];
        planted(c, "medication", us ? "RxNorm" : "ATC", us ? x->rx : x->atc, NULL, NULL);
        P(b, "          <entry><substanceAdministration classCode=\"SBADM\" moodCode=\"INT\">");
        if (us)
            P(b, "<templateId root=\"2.16.840.1.113883.10.20.22.4.16\" extension=\"2014-06-09\"/>");
        P(b,
          "<id root=\"%s.7\" extension=\"%s-M%u\"/><statusCode code=\"active\"/>"
          "<effectiveTime xsi:type=\"IVL_TS\"><low value=\"%s\"/></effectiveTime>"
          "<effectiveTime xsi:type=\"PIVL_TS\" institutionSpecified=\"true\" operator=\"A\">"
          "<period value=\"%d\" unit=\"h\"/></effectiveTime>"
          "<routeCode code=\"C38288\" codeSystem=\"" ROUTE "\" displayName=\"ORAL\"/>"
          "<doseQuantity value=\"1\"%s/><consumable><manufacturedProduct>",
          c->oid, c->doc_id, i + 1, c->date, x->period_h,
          us ? "" : (p->inst == INST_HANBIT ? " unit=\"정\"" : " unit=\"tab\""));
        if (us)
            P(b,
              "<templateId root=\"2.16.840.1.113883.10.20.22.4.23\" extension=\"2014-06-09\"/>"
              "<manufacturedMaterial><code code=\"%s\" codeSystem=\"" RXNORM "\" "
              "codeSystemName=\"RxNorm\" displayName=\"%s\"/></manufacturedMaterial>",
              x->rx, x->en);
        else if (p->inst == INST_HANBIT)
            P(b,
              "<manufacturedMaterial><code code=\"%s\" codeSystem=\"" KD "\" "
              "codeSystemName=\"KD\" displayName=\"%s\"/></manufacturedMaterial>",
              x->kd, x->ko);
        else
            P(b,
              "<manufacturedMaterial><code code=\"%s\" codeSystem=\"EDI\" displayName=\"%s\"/>"
              "</manufacturedMaterial>",
              x->edi, x->ko);
        P(b, "</manufacturedProduct></consumable></substanceAdministration></entry>\n");
    }
    section_close(b);
}

/* One lab panel of k tests at when, as an organizer entry. */
static void lab_panel(cdx_buf_t *b, ctx_t *c, unsigned serial, const when_t *w, unsigned k)
{
    const patient_t *p = c->p;
    int us = p->inst == INST_RIVERSIDE;
    char ts[16];
    fmt_ts(ts, sizeof ts, w);
    unsigned idx[8];
    distinct(&c->r, CDX_ARRAY_SIZE(lab_tests), k, idx);
    P(b, "          <entry typeCode=\"DRIV\"><organizer classCode=\"BATTERY\" moodCode=\"EVN\">");
    if (us)
        P(b, "<templateId root=\"2.16.840.1.113883.10.20.22.4.1\" extension=\"2015-08-01\"/>");
    P(b, "<id root=\"%s.8\" extension=\"%s-L%u\"/>", c->oid, c->doc_id, serial);
    if (us)
        P(b, "<code code=\"24323-8\" codeSystem=\"" LOINC "\" displayName=\"Comprehensive "
             "metabolic 2000 panel - Serum or Plasma\"/>");
    else if (p->inst == INST_HANBIT)
        P(b, "<code code=\"P-CHEM\" codeSystem=\"%s.3.1\" displayName=\"일반화학\"/>", c->oid);
    else
        P(b, "<code nullFlavor=\"OTH\"><originalText>외래 검사</originalText></code>");
    P(b, "<statusCode code=\"completed\"/><effectiveTime value=\"%s\"/>\n", ts);
    for (unsigned i = 0; i < k; i++) {
        const lab_t *x = &lab_tests[idx[i]];
        int v = between(&c->r, x->min10, x->max10);
        const char *interp = v < x->lo10 ? "L" : v > x->hi10 ? "H" : "N";
        char value[24];
        snprintf(value, sizeof value, "%d.%d", v / 10, v % 10);
        planted(c, "result", "LOINC", x->loinc, value, x->unit);
        P(b, "            <component><observation classCode=\"OBS\" moodCode=\"EVN\">");
        if (us)
            P(b, "<templateId root=\"2.16.840.1.113883.10.20.22.4.2\" extension=\"2015-08-01\"/>");
        P(b, "<id root=\"%s.8\" extension=\"%s-L%u-%u\"/>", c->oid, c->doc_id, serial, i + 1);
        if (us)
            P(b,
              "<code code=\"%s\" codeSystem=\"" LOINC "\" codeSystemName=\"LOINC\" "
              "displayName=\"%s\"/>",
              x->loinc, x->en);
        else if (p->inst == INST_HANBIT)
            P(b, "<code code=\"%s\" codeSystem=\"%s.3.1\" displayName=\"%s\"/>", x->local, c->oid,
              x->ko);
        else
            P(b,
              "<code code=\"%s\" codeSystem=\"" EDI "\" codeSystemName=\"EDI\" "
              "displayName=\"%s\"/>",
              x->edi, x->ko);
        P(b,
          "<statusCode code=\"completed\"/><effectiveTime value=\"%s\"/>"
          "<value xsi:type=\"PQ\" value=\"%d.%d\" unit=\"%s\"/>"
          "<interpretationCode code=\"%s\" codeSystem=\"2.16.840.1.113883.5.83\"/>"
          "<referenceRange><observationRange><value xsi:type=\"IVL_PQ\">"
          "<low value=\"%d.%d\" unit=\"%s\"/><high value=\"%d.%d\" unit=\"%s\"/></value>"
          "</observationRange></referenceRange></observation></component>\n",
          ts, v / 10, v % 10, x->unit, interp, x->lo10 / 10, x->lo10 % 10, x->unit, x->hi10 / 10,
          x->hi10 % 10, x->unit);
    }
    P(b, "          </organizer></entry>\n");
}

static void vitals(cdx_buf_t *b, ctx_t *c)
{
    const patient_t *p = c->p;
    int us = p->inst == INST_RIVERSIDE;
    int sys = between(&c->r, 100, 165), dia = between(&c->r, 60, 100);
    int hr = between(&c->r, 55, 105), wt = between(&c->r, 450, 1050);
    struct {
        const char *code, *name, *unit;
        char value[16];
    } v[4] = {
        {"8480-6", "Systolic blood pressure", "mmHg", ""},
        {"8462-4", "Diastolic blood pressure", "mmHg", ""},
        {"8867-4", "Heart rate", us ? "/min" : "bpm", ""},
        {"29463-7", "Body weight", us ? "lbs" : "kg", ""},
    };
    snprintf(v[0].value, sizeof v[0].value, "%d", sys);
    snprintf(v[1].value, sizeof v[1].value, "%d", dia);
    snprintf(v[2].value, sizeof v[2].value, "%d", hr);
    if (us)
        snprintf(v[3].value, sizeof v[3].value, "%d", wt * 22 / 100);
    else
        snprintf(v[3].value, sizeof v[3].value, "%d.%d", wt / 10, wt % 10);
    section_open(b, us ? "2.16.840.1.113883.10.20.22.2.4.1" : NULL, "8716-3", "Vital signs",
                 us ? "VITAL SIGNS" : "활력징후");
    P(b, "          <text>BP %d/%d, HR %d</text>\n", sys, dia, hr);
    if (us || p->inst == INST_DASOM) {
        P(b, "          <entry typeCode=\"DRIV\"><organizer classCode=\"CLUSTER\" "
             "moodCode=\"EVN\">");
        if (us)
            P(b, "<templateId root=\"2.16.840.1.113883.10.20.22.4.26\" "
                 "extension=\"2015-08-01\"/>");
        P(b,
          "<id root=\"%s.13\" extension=\"%s-V\"/><code code=\"46680005\" "
          "codeSystem=\"" SNOMED "\" displayName=\"Vital signs\"/>"
          "<statusCode code=\"completed\"/><effectiveTime value=\"%s\"/>\n",
          c->oid, c->doc_id, c->ts);
    }
    for (unsigned i = 0; i < CDX_ARRAY_SIZE(v); i++) {
        int grouped = us || p->inst == INST_DASOM;
        planted(c, "vital", "LOINC", v[i].code, v[i].value, v[i].unit);
        P(b, grouped ? "            <component>" : "          <entry>");
        P(b, "<observation classCode=\"OBS\" moodCode=\"EVN\">");
        if (us)
            P(b, "<templateId root=\"2.16.840.1.113883.10.20.22.4.27\" "
                 "extension=\"2014-06-09\"/>");
        P(b,
          "<code code=\"%s\" codeSystem=\"" LOINC "\" displayName=\"%s\"/>"
          "<statusCode code=\"completed\"/><effectiveTime value=\"%s\"/>"
          "<value xsi:type=\"PQ\" value=\"%s\" unit=\"%s\"/></observation>%s\n",
          v[i].code, v[i].name, c->ts, v[i].value, v[i].unit,
          grouped ? "</component>" : "</entry>");
    }
    if (us || p->inst == INST_DASOM)
        P(b, "          </organizer></entry>\n");
    section_close(b);
}

static void narrative(cdx_buf_t *b, ctx_t *c, const char *code, const char *name, const char *title,
                      unsigned paragraphs)
{
    int us = c->p->inst == INST_RIVERSIDE;
    section_open(b, NULL, code, name, title);
    P(b, "          <text>");
    for (unsigned i = 0; i < paragraphs; i++)
        P(b, "<paragraph>%s</paragraph>",
          us ? PICK(&c->r, narrative_en) : PICK(&c->r, narrative_ko));
    P(b, "</text>\n");
    section_close(b);
}

/* Drug allergies: a KD (Korean dialects) or RxNorm (Riverside) substance. */
static void allergies(cdx_buf_t *b, ctx_t *c)
{
    static const struct {
        const char *kd, *ko, *rx, *en, *reaction;
    } subst[] = {
        {"650300140", "아목시실린", "723", "Amoxicillin", "247472004"},
        {"647800080", "아스피린", "1191", "Aspirin", "271807003"},
        {"649600130", "아세트아미노펜", "161", "Acetaminophen", "271807003"},
    };
    const patient_t *p = c->p;
    int us = p->inst == INST_RIVERSIDE;
    unsigned k = pick(&c->r, CDX_ARRAY_SIZE(subst));
    section_open(b, us ? "2.16.840.1.113883.10.20.22.2.6.1" : NULL, "48765-2",
                 "Allergies and adverse reactions Document", us ? "ALLERGIES" : "알레르기");
    P(b, "          <text>%s</text>\n", us ? subst[k].en : subst[k].ko);
    if (p->inst == INST_HANBIT) {
        /* Hanbit: the bare observation the default mapping wraps. */
        P(b,
          "          <entry><observation classCode=\"OBS\" moodCode=\"EVN\">"
          "<id root=\"%s.9\" extension=\"%s-A\"/><code code=\"ASSERTION\" "
          "codeSystem=\"2.16.840.1.113883.5.4\"/><statusCode code=\"completed\"/>"
          "<value xsi:type=\"CD\" code=\"416098002\" codeSystem=\"" SNOMED "\" "
          "displayName=\"Allergy to drug\"/><participant typeCode=\"CSM\"><participantRole "
          "classCode=\"MANU\"><playingEntity classCode=\"MMAT\"><code code=\"%s\" "
          "codeSystem=\"" KD "\" displayName=\"%s\"/></playingEntity></participantRole>"
          "</participant></observation></entry>\n",
          c->oid, c->doc_id, subst[k].kd, subst[k].ko);
        section_close(b);
        return;
    }
    P(b, "          <entry><act classCode=\"ACT\" moodCode=\"EVN\">");
    if (us)
        P(b, "<templateId root=\"2.16.840.1.113883.10.20.22.4.30\" extension=\"2015-08-01\"/>");
    P(b,
      "<id root=\"%s.9\" extension=\"%s-A\"/><code code=\"CONC\" "
      "codeSystem=\"2.16.840.1.113883.5.6\"/><statusCode code=\"active\"/>"
      "<effectiveTime><low value=\"%04d\"/></effectiveTime>"
      "<entryRelationship typeCode=\"SUBJ\"><observation classCode=\"OBS\" moodCode=\"EVN\">",
      c->oid, c->doc_id, c->when.y - 5);
    if (us)
        P(b,
          "<templateId root=\"2.16.840.1.113883.10.20.22.4.7\" extension=\"2014-06-09\"/>"
          "<id root=\"%s.9\" extension=\"%s-A-o\"/>",
          c->oid, c->doc_id);
    P(b,
      "<code code=\"ASSERTION\" codeSystem=\"2.16.840.1.113883.5.4\"/>"
      "<statusCode code=\"completed\"/><effectiveTime><low value=\"%04d\"/></effectiveTime>"
      "<value xsi:type=\"CD\" code=\"416098002\" codeSystem=\"" SNOMED "\" "
      "displayName=\"Allergy to drug\"/><participant typeCode=\"CSM\"><participantRole "
      "classCode=\"MANU\"><playingEntity classCode=\"MMAT\">",
      c->when.y - 5);
    if (us)
        P(b,
          "<code code=\"%s\" codeSystem=\"" RXNORM "\" codeSystemName=\"RxNorm\" "
          "displayName=\"%s\"/>",
          subst[k].rx, subst[k].en);
    else
        P(b, "<code code=\"%s\" codeSystem=\"KD\" displayName=\"%s\"/>", subst[k].kd, subst[k].ko);
    P(b, "</playingEntity></participantRole></participant><entryRelationship typeCode=\"MFST\" "
         "inversionInd=\"true\"><observation classCode=\"OBS\" moodCode=\"EVN\">");
    if (us)
        P(b,
          "<templateId root=\"2.16.840.1.113883.10.20.22.4.9\" extension=\"2014-06-09\"/>"
          "<id root=\"%s.9\" extension=\"%s-A-r\"/>",
          c->oid, c->doc_id);
    P(b,
      "<code code=\"ASSERTION\" codeSystem=\"2.16.840.1.113883.5.4\"/>"
      "<statusCode code=\"completed\"/><value xsi:type=\"CD\" code=\"%s\" "
      "codeSystem=\"" SNOMED "\"/></observation></entryRelationship></observation>"
      "</entryRelationship></act></entry>\n",
      subst[k].reaction);
    section_close(b);
}

/* C-CDA requires a Social History section in a CCD: smoking status. */
static void social_history(cdx_buf_t *b, ctx_t *c)
{
    static const char *const status[][2] = {{"266919005", "Never smoked tobacco"},
                                            {"8517006", "Ex-smoker"},
                                            {"449868002", "Smokes tobacco daily"}};
    unsigned k = pick(&c->r, CDX_ARRAY_SIZE(status));
    section_open(b, "2.16.840.1.113883.10.20.22.2.17", "29762-2", "Social history Narrative",
                 "SOCIAL HISTORY");
    P(b, "          <text>Tobacco smoking status: %s</text>\n", status[k][1]);
    P(b,
      "          <entry typeCode=\"DRIV\"><observation classCode=\"OBS\" moodCode=\"EVN\">"
      "<templateId root=\"2.16.840.1.113883.10.20.22.4.78\" extension=\"2014-06-09\"/>"
      "<id root=\"%s.14\" extension=\"%s-S\"/><code code=\"72166-2\" codeSystem=\"" LOINC
      "\" displayName=\"Tobacco smoking status\"/><statusCode code=\"completed\"/>"
      "<effectiveTime value=\"%s\"/><value xsi:type=\"CD\" code=\"%s\" codeSystem=\"" SNOMED
      "\" displayName=\"%s\"/></observation></entry>\n",
      c->oid, c->doc_id, c->ts, status[k][0], status[k][1]);
    section_close(b);
}

/* Advances w by days (28-day months keep the arithmetic trivial and the
 * dates valid). */
static void add_days(when_t *w, int days)
{
    w->d += days;
    while (w->d > 28) {
        w->d -= 28;
        if (++w->m > 12) {
            w->m = 1;
            w->y++;
        }
    }
}

/* Builds document number doc of patient p into out (UTF-8). */
int build_doc(const patient_t *p, unsigned doc, size_t size_kb, uint64_t seed, cdx_buf_t *out)
{
    ctx_t c;
    memset(&c, 0, sizeof c);
    c.p = p;
    c.doc = doc;
    c.oid = inst_oids[p->inst];
    c.r.s = mix(p->seed, doc + 1000);
    snprintf(c.doc_id, sizeof c.doc_id, "G%" PRIu64 "-%lu-%u", seed % 1000000, p->index, doc);
    c.when.y = 2020 + (int)((p->index + doc) % 6);
    c.when.m = between(&c.r, 1, 12);
    c.when.d = between(&c.r, 1, 28);
    c.when.hh = between(&c.r, 8, 17);
    c.when.mm = between(&c.r, 0, 59);
    fmt_ts(c.ts, sizeof c.ts, &c.when);
    fmt_date(c.date, sizeof c.date, &c.when);

    unsigned ndx = 1 + pick(&c.r, 4), ndr = 1 + pick(&c.r, 4);
    unsigned dx[4], dr[4];
    distinct(&c.r, CDX_ARRAY_SIZE(diagnoses), ndx, dx);
    distinct(&c.r, CDX_ARRAY_SIZE(drugs), ndr, dr);

    cdx_buf_t body, results;
    cdx_buf_init(&body, DOC_MAX);
    cdx_buf_init(&results, DOC_MAX);
    int rc = 0;
    switch (p->inst) {
    case INST_HANBIT:
        if (doc % 2 == 0)
            header(out, &c, "UTF-8", "1.2.410.100110.40.2.1.4", "60591-5",
                   "Patient summary Document", "진료기록요약지", 1);
        else
            header(out, &c, "UTF-8", "1.2.410.100110.40.2.1.3", "11488-4", "Consult note", "회신서",
                   1);
        break;
    case INST_DASOM:
        header(out, &c, doc % 4 == 3 ? "UTF-8" : "EUC-KR", "1.2.410.100110.40.2.1.1", "57133-1",
               "Referral note", "진료의뢰서", 1);
        narrative(&body, &c, "42349-1", "Reason for referral", "의뢰 사유", 2);
        break;
    default:
        header(out, &c, "UTF-8", "2.16.840.1.113883.10.20.22.1.2", "34133-9",
               "Summarization of Episode Note", "Continuity of Care Document", 0);
        break;
    }
    problems(&body, &c, dx, ndx);
    medications(&body, &c, dr, ndr);
    vitals(&body, &c);
    allergies(&body, &c);
    if (p->inst == INST_HANBIT && doc % 2 == 1)
        narrative(&body, &c, "51848-0", "Evaluation note", "회신 소견", 2);
    if (p->inst == INST_RIVERSIDE)
        social_history(&body, &c);

    /* Results last: padding to --size-kb adds earlier panels (one a week
     * back in time) until the document reaches roughly the size asked. */
    int us = p->inst == INST_RIVERSIDE;
    section_open(&results, us ? "2.16.840.1.113883.10.20.22.2.3.1" : NULL, "30954-2",
                 "Relevant diagnostic tests/laboratory data", us ? "RESULTS" : "검사결과");
    P(&results, "          <text>%s</text>\n", us ? "See entries." : "검사 결과는 항목 참조.");
    when_t w = c.when;
    unsigned serial = 1;
    lab_panel(&results, &c, serial++, &w, 2 + pick(&c.r, 3));
    const size_t tail = 64;
    size_t target = size_kb * 1024;
    while (target > 0 && out->len + body.len + results.len + tail < target) {
        w.y -= w.m == 1 ? 1 : 0;
        w.m = w.m == 1 ? 12 : w.m - 1;
        add_days(&w, between(&c.r, 0, 20));
        lab_panel(&results, &c, serial++, &w, 3 + pick(&c.r, 4));
    }
    section_close(&results);
    if (cdx_buf_append(out, body.data, body.len) != 0 ||
        cdx_buf_append(out, results.data, results.len) != 0 ||
        cdx_buf_puts(out, "    </structuredBody>\n  </component>\n</ClinicalDocument>\n") != 0)
        rc = CDX_ERANGE;
    cdx_buf_cleanup(&body);
    cdx_buf_cleanup(&results);
    return rc;
}
