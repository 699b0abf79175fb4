/*
 * cdxgw-cohort: cohort queries over a registry of synthetic persons with
 * planted prevalence, timed, and checked against the planted truth.
 *
 *   cdxgw-cohort [--persons 100000] [--queries 50] [--seed 1] [--db PATH] [--keep]
 *                [--check] [--json FILE]
 *
 * Builds a registry through cdx_registry_store_document: every person has
 * two documents at one of three institutions (the third writes its
 * diagnoses in KCD, the second its HbA1c in mmol/mol and creatinine in
 * umol/L, the third its glucose in mmol/L), with conditions (type 2
 * diabetes 10 %, hypertension 25 %, hyperlipidaemia 15 %, chronic kidney
 * disease 4 %), drugs (metformin for 80 % of diabetics, within 0 to 200
 * days of the diagnosis; losartan, atorvastatin), laboratory values and
 * blood pressure drawn by condition, sex and birth year.  Then each
 * definition of `queries` below is counted --queries times on a reader
 * connection (cdx_registry_cohort_eval, each call timed alone; p50, p99,
 * maximum), and its count compared with the truth computed here from the
 * planted values (--check: exit 1 on any difference).
 */
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cdx/base/common.h"
#include "cdx/parsers/cohort.h"
#include "cdx/store/registry.h"

#define NINST 3
static const char *const inst_oids[NINST] = {"2.25.7101", "2.25.7102", "2.25.7103"};
static const char *const id_roots[NINST] = {"2.25.7101.1", "2.25.7102.1", "2.25.7103.1"};
#define ICD10 "2.16.840.1.113883.6.3"
#define KCD   "1.2.410.100110.40.2.3.2"
#define ATC   "2.16.840.1.113883.6.73"
#define LOINC "2.16.840.1.113883.6.1"

/* One person's planted truth. */
typedef struct person {
    int inst, female, birth_year;
    int dm, htn, lipid, ckd, metformin, losartan, statin;
    int dx_day, drug_day, lab_day; /* days since 1970 */
    double hba1c_pct, glucose_mgdl, creat_mgdl, sbp;
} person_t;

static uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t z = a * 0x9E3779B97F4A7C15ull + b;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t seed, long p, int what, double lo, double hi)
{
    double u = (double)(mix(seed, (uint64_t)p * 64 + (uint64_t)what) >> 11) / 9007199254740992.0;
    return round((lo + u * (hi - lo)) * 10) / 10;
}

static int chance(uint64_t seed, long p, int what, int per_mille)
{
    return (int)(mix(seed, (uint64_t)p * 64 + (uint64_t)what) % 1000) < per_mille;
}

static void plant(uint64_t seed, long p, person_t *x)
{
    memset(x, 0, sizeof *x);
    x->inst = (int)(p % NINST);
    x->female = chance(seed, p, 1, 510);
    x->birth_year = 1930 + (int)(mix(seed, (uint64_t)p * 64 + 2) % 75);
    x->dm = chance(seed, p, 3, 100);
    x->htn = chance(seed, p, 4, 250);
    x->lipid = chance(seed, p, 5, 150);
    x->ckd = chance(seed, p, 6, 40);
    x->metformin = x->dm && chance(seed, p, 7, 800);
    x->losartan = x->htn && chance(seed, p, 8, 600);
    x->statin = x->lipid && chance(seed, p, 9, 700);
    x->dx_day = 17532 + (int)(mix(seed, (uint64_t)p * 64 + 10) % 1400); /* 2018 .. 2021 */
    x->drug_day = x->dx_day + (int)(mix(seed, (uint64_t)p * 64 + 11) % 201);
    x->lab_day = x->dx_day + 365;
    x->hba1c_pct = x->dm ? uniform(seed, p, 12, 6.5, 10.5) : uniform(seed, p, 12, 4.6, 6.2);
    x->glucose_mgdl = x->dm ? uniform(seed, p, 13, 130, 250) : uniform(seed, p, 13, 70, 120);
    x->creat_mgdl = x->ckd ? uniform(seed, p, 14, 1.6, 4.0) : uniform(seed, p, 14, 0.6, 1.2);
    x->sbp = x->htn ? uniform(seed, p, 15, 140, 180) : uniform(seed, p, 15, 100, 138);
}

static void day_text(int day, char out[32])
{
    /* civil_from_days */
    long z = day + 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    long d = doy - (153 * mp + 2) / 5 + 1;
    long m = mp < 10 ? mp + 3 : mp - 9;
    snprintf(out, 32, "%04ld%02ld%02ld", yoe + era * 400 + (m <= 2), m, d);
}

typedef struct facts {
    cdx_fact_row_t rows[12];
    char text[12][24];
    size_t n;
} facts_t;

static void add(facts_t *f, const char *kind, const char *system, const char *code,
                const char *when, int has_number, double number, const char *unit)
{
    cdx_fact_row_t *r = &f->rows[f->n];
    *r = (cdx_fact_row_t){.kind = kind,
                          .code_system = system,
                          .code = code,
                          .time_low = when,
                          .has_number = has_number,
                          .number = number,
                          .unit = unit,
                          .status = "active",
                          .data = "{}"};
    if (has_number) {
        snprintf(f->text[f->n], sizeof f->text[f->n], "%g", number);
        r->value = f->text[f->n];
    }
    f->n++;
}

static int store(cdx_registry_t *reg, long p, int doc, const person_t *x, const facts_t *f,
                 const char *when)
{
    char ext[32], unique[64], sha[32];
    snprintf(ext, sizeof ext, "P%08ld", p);
    snprintf(unique, sizeof unique, "%s.2^C%09ld-%d", inst_oids[x->inst], p, doc);
    snprintf(sha, sizeof sha, "sha-%ld-%d", p, doc);
    const char *ids[2] = {id_roots[x->inst], ext};
    cdx_doc_record_t rec = {.unique_id = unique,
                            .version = 1,
                            .submitter_oid = inst_oids[x->inst],
                            .custodian_oid = inst_oids[x->inst],
                            .creation_time = when,
                            .confidentiality = "N",
                            .patient_root = ids[0],
                            .patient_ext = ext,
                            .patient_ids = ids,
                            .npatient_ids = 1,
                            .sha256 = sha,
                            .original = "<ClinicalDocument/>",
                            .size = 19,
                            .meta_json = "{}",
                            .fact_rows = f->rows,
                            .nfact_rows = f->n};
    cdx_store_outcome_t outcome;
    char uid[33];
    return cdx_registry_store_document(reg, &rec, NULL, &outcome, uid);
}

static double hba1c_stored(const person_t *x);

/* Long: the two documents of a person, fact by fact, in each institution's dialect. */
static int store_person(cdx_registry_t *reg, uint64_t seed, long p)
{
    person_t x;
    plant(seed, p, &x);
    char dx[32], drug[32], lab[32];
    day_text(x.dx_day, dx);
    day_text(x.drug_day, drug);
    day_text(x.lab_day, lab);
    const char *dxsys = x.inst == 2 ? KCD : ICD10;
    facts_t f = {.n = 0};
    if (x.dm)
        add(&f, "problems", dxsys, "E11.9", dx, 0, 0, NULL);
    if (x.htn)
        add(&f, "problems", dxsys, "I10", dx, 0, 0, NULL);
    if (x.lipid)
        add(&f, "problems", dxsys, "E78.5", dx, 0, 0, NULL);
    if (x.ckd)
        add(&f, "problems", dxsys, "N18.9", dx, 0, 0, NULL);
    add(&f, "problems", dxsys, "J30.4", dx, 0, 0, NULL); /* noise everybody shares */
    if (x.metformin)
        add(&f, "medications", ATC, "A10BA02", drug, 0, 0, NULL);
    if (x.losartan)
        add(&f, "medications", ATC, "C09CA01", drug, 0, 0, NULL);
    if (x.statin)
        add(&f, "medications", ATC, "C10AA05", drug, 0, 0, NULL);
    int rc = store(reg, p, 1, &x, &f, dx);
    if (rc != 0)
        return rc;
    f.n = 0;
    if (x.dm)
        add(&f, "problems", dxsys, "E11.9", lab, 0, 0, NULL); /* seen again a year later */
    if (x.inst == 1)
        add(&f, "results", LOINC, "4548-4", lab, 1, hba1c_stored(&x), "mmol/mol");
    else
        add(&f, "results", LOINC, "4548-4", lab, 1, x.hba1c_pct, "%");
    if (x.inst == 2)
        add(&f, "results", LOINC, "2345-7", lab, 1, round(x.glucose_mgdl / 18.016 * 100) / 100,
            "mmol/L");
    else
        add(&f, "results", LOINC, "2345-7", lab, 1, x.glucose_mgdl, "mg/dL");
    if (x.inst == 1)
        add(&f, "results", LOINC, "2160-0", lab, 1, round(x.creat_mgdl * 88.42), "umol/L");
    else
        add(&f, "results", LOINC, "2160-0", lab, 1, x.creat_mgdl, "mg/dL");
    add(&f, "vital_signs", LOINC, "8480-6", lab, 1, x.sbp, "mm[Hg]");
    return store(reg, p, 2, &x, &f, lab);
}

/* ---- the measured definitions, with their truth --------------------------- */

#define E11 "{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E11\", \"match\": \"prefix\"}}"

static int age_at_2026(const person_t *x)
{
    return 2026 - x->birth_year - 1; /* birth dates are set to 12-31 below */
}

/* HbA1c as stored: mmol/mol to one decimal at the second institution. */
static double hba1c_stored(const person_t *x)
{
    return round((x->hba1c_pct * 10.929 - 23.497) * 10) / 10;
}

/* HbA1c in mmol/mol and in % as the registry compares them. */
static double hba1c_mmol(const person_t *x)
{
    return x->inst == 1 ? hba1c_stored(x) : x->hba1c_pct * 10.929 - 10.929 * 2.15;
}

static double hba1c_pct(const person_t *x)
{
    return x->inst == 1 ? (hba1c_stored(x) + 10.929 * 2.15) / 10.929 : x->hba1c_pct;
}

static int truth3(const person_t *x)
{
    return x->dm && hba1c_mmol(x) >= 53 && age_at_2026(x) >= 40;
}

static int truth10(const person_t *x)
{
    int age = age_at_2026(x);
    double glucose =
        x->inst == 2 ? round(x->glucose_mgdl / 18.016 * 100) / 100 : x->glucose_mgdl / 18.016;
    double creat = x->inst == 1 ? round(x->creat_mgdl * 88.42) / 88.42 : x->creat_mgdl;
    int metformin_90 = x->metformin && x->drug_day - x->dx_day <= 90;
    return x->dm && (metformin_90 || hba1c_pct(x) >= 8.0) && !x->ckd && age >= 40 && age <= 80 &&
           glucose >= 7.0 && (x->htn || x->lipid) && creat < 1.5 && x->sbp > 130;
}

static int truth_kcd(const person_t *x)
{
    return x->dm && x->inst == 2;
}

static const struct query {
    const char *name;
    const char *json;
    int (*truth)(const person_t *x);
} queries[] = {
    {"3-criterion",
     "{\"all\": [" E11 ", {\"result\": {\"system\": \"LOINC\", \"code\": \"4548-4\", \"op\": "
     "\">=\", \"value\": 53, \"unit\": \"mmol/mol\"}}, {\"age\": {\"min\": 40, \"at\": "
     "\"2026-01-01\"}}]}",
     truth3},
    {"10-criterion",
     "{\"all\": [" E11 ", {\"any\": [{\"medication\": {\"system\": \"ATC\", \"code\": \"A10\", "
     "\"match\": \"prefix\", \"window\": {\"after\": " E11 ", \"days\": 90}}}, {\"result\": "
     "{\"system\": \"LOINC\", \"code\": \"4548-4\", \"op\": \">=\", \"value\": 8, \"unit\": "
     "\"%\"}}]}, {\"not\": {\"condition\": {\"system\": \"ICD-10\", \"code\": \"N18\", \"match\": "
     "\"prefix\"}}}, {\"age\": {\"min\": 40, \"max\": 80, \"at\": \"2026-01-01\"}}, {\"result\": "
     "{\"system\": \"LOINC\", \"code\": \"2345-7\", \"op\": \">=\", \"value\": 7.0, \"unit\": "
     "\"mmol/L\"}}, {\"any\": [{\"condition\": {\"system\": \"ICD-10\", \"code\": \"I10\"}}, "
     "{\"condition\": {\"system\": \"ICD-10\", \"code\": \"E78\", \"match\": \"prefix\"}}]}, "
     "{\"result\": {\"system\": \"LOINC\", \"code\": \"2160-0\", \"op\": \"<\", \"value\": 1.5, "
     "\"unit\": \"mg/dL\"}}, {\"vital\": {\"system\": \"LOINC\", \"code\": \"8480-6\", \"op\": "
     "\">\", \"value\": 130, \"unit\": \"mm[Hg]\"}}]}",
     truth10},
    {"kcd-by-icd10", "{\"all\": [" E11 ", {\"institution\": \"2.25.7103\"}]}", truth_kcd},
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int demographics(const char *path, uint64_t seed, long persons)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_open(path, &db) == SQLITE_OK &&
             sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(
                 db, "UPDATE patients SET birth = ?1, sex = ?2 WHERE root = ?4 AND extension = ?3",
                 -1, &st, NULL) == SQLITE_OK;
    for (long p = 0; ok && p < persons; p++) {
        person_t x;
        plant(seed, p, &x);
        char birth[16], ext[32];
        snprintf(birth, sizeof birth, "%04d1231", x.birth_year);
        snprintf(ext, sizeof ext, "P%08ld", p);
        sqlite3_bind_text(st, 1, birth, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, x.female ? "F" : "M", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, ext, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, id_roots[x.inst], -1, SQLITE_STATIC);
        ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    ok = ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close(db);
    return ok ? 0 : CDX_EDB;
}

static int build(const char *path, uint64_t seed, long persons)
{
    char err[512];
    cdx_registry_t *reg = NULL;
    int rc = cdx_registry_open(path, &reg, err, sizeof err);
    for (int i = 0; rc == 0 && i < NINST; i++)
        rc = cdx_registry_ensure_institution(reg, inst_oids[i], inst_oids[i]);
    double t0 = now_s();
    for (long p = 0; rc == 0 && p < persons;) {
        rc = cdx_registry_begin(reg);
        for (long k = 0; rc == 0 && k < 5000 && p < persons; k++, p++)
            rc = store_person(reg, seed, p);
        if (rc == 0)
            rc = cdx_registry_commit(reg);
        else
            cdx_registry_rollback(reg);
    }
    if (rc != 0)
        fprintf(stderr, "cdxgw-cohort: building: %s (%s)\n", cdx_strerror(rc),
                reg != NULL ? cdx_registry_errmsg(reg) : err);
    cdx_registry_close(reg);
    if (rc == 0)
        rc = demographics(path, seed, persons);
    if (rc == 0)
        printf("built: %ld persons, %ld documents in %.1f s\n", persons, persons * 2, now_s() - t0);
    fflush(stdout);
    return rc;
}

/* Long: options, the registry, then each query timed and checked. */
int main(int argc, char **argv)
{
    long persons = 100000, nq = 50;
    uint64_t seed = 1;
    const char *db = "cdxgw-cohort.db", *json = NULL;
    int keep = 0, check = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep") == 0) {
            keep = 1;
        } else if (strcmp(a, "--check") == 0) {
            check = 1;
        } else if (v != NULL && strcmp(a, "--persons") == 0) {
            persons = atol(v), i++;
        } else if (v != NULL && strcmp(a, "--queries") == 0) {
            nq = atol(v), i++;
        } else if (v != NULL && strcmp(a, "--seed") == 0) {
            seed = strtoull(v, NULL, 10), i++;
        } else if (v != NULL && strcmp(a, "--db") == 0) {
            db = v, i++;
        } else if (v != NULL && strcmp(a, "--json") == 0) {
            json = v, i++;
        } else {
            fprintf(stderr, "usage: cdxgw-cohort [--persons N] [--queries N] [--seed N] "
                            "[--db PATH] [--keep] [--check] [--json FILE]\n");
            return 2;
        }
    }
    if (persons < 1 || nq < 1)
        return 2;
    int reuse = keep && access(db, F_OK) == 0;
    if (!reuse) {
        char side[1100];
        unlink(db);
        snprintf(side, sizeof side, "%s-wal", db);
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", db);
        unlink(side);
        if (build(db, seed, persons) != 0)
            return 1;
    }
    char err[512];
    cdx_registry_t *reg = NULL;
    if (cdx_registry_open_reader(db, &reg, err, sizeof err) != 0) {
        fprintf(stderr, "cdxgw-cohort: %s\n", err);
        return 1;
    }
    int32_t today = (int32_t)(time(NULL) / 86400);
    int bad = 0;
    double *t = calloc((size_t)nq, sizeof *t), *cpu = calloc((size_t)nq, sizeof *cpu);
    FILE *jf = json != NULL ? fopen(json, "a") : NULL;
    for (size_t q = 0; t != NULL && q < CDX_ARRAY_SIZE(queries); q++) {
        cdx_cohort_def_t *def = NULL;
        cdx_cohort_error_t e;
        if (cdx_cohort_parse(queries[q].json, strlen(queries[q].json), &def, &e) != 0) {
            fprintf(stderr, "cdxgw-cohort: %s: %s %s\n", queries[q].name, e.path, e.detail);
            return 1;
        }
        size_t got = 0;
        for (long i = 0; i < nq; i++) {
            cdx_cohort_eval_t ev;
            double t0 = now_s(), c0 = cpu_s();
            int rc = cdx_registry_cohort_eval(reg, def, today, &ev);
            t[i] = (now_s() - t0) * 1000;
            cpu[i] = (cpu_s() - c0) * 1000;
            if (rc != 0) {
                fprintf(stderr, "cdxgw-cohort: %s: %s\n", queries[q].name, cdx_strerror(rc));
                return 1;
            }
            got = ev.n;
            cdx_cohort_eval_free(&ev);
        }
        long want = 0;
        for (long p = 0; p < persons; p++) {
            person_t x;
            plant(seed, p, &x);
            want += queries[q].truth(&x);
        }
        qsort(t, (size_t)nq, sizeof *t, cmp_double);
        qsort(cpu, (size_t)nq, sizeof *cpu, cmp_double);
        size_t i99 = (size_t)((double)(nq - 1) * 0.99);
        double p50 = t[nq / 2], p99 = t[i99], max = t[nq - 1];
        printf("%-14s persons=%-7zu planted=%-7ld %s  p50 %.1f ms  p99 %.1f ms  max %.1f ms"
               "  cpu p50 %.1f ms p99 %.1f ms  (%ld runs)\n",
               queries[q].name, got, want, (long)got == want ? "ok  " : "DIFF", p50, p99, max,
               cpu[nq / 2], cpu[i99], nq);
        if (jf != NULL)
            fprintf(jf,
                    "{\"tool\":\"cdxgw-cohort\",\"query\":\"%s\",\"persons\":%ld,\"count\":%zu,"
                    "\"planted\":%ld,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f,"
                    "\"cpu_p50_ms\":%.2f,\"cpu_p99_ms\":%.2f}\n",
                    queries[q].name, persons, got, want, p50, p99, max, cpu[nq / 2], cpu[i99]);
        bad |= (long)got != want;
        cdx_cohort_def_free(def);
    }
    if (jf != NULL)
        fclose(jf);
    free(t);
    free(cpu);
    cdx_registry_close(reg);
    if (!keep)
        unlink(db);
    return check && bad ? 1 : 0;
}
