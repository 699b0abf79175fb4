/*
 * cdxgw-registry: the cost of the registry's read functions at registry
 * scale.
 *
 *   cdxgw-registry [--persons N] [--docs N] [--queries N] [--seed N]
 *                  [--db PATH] [--keep] [--json FILE]
 *   cdxgw-registry --self-test
 *
 * Builds a registry of synthetic persons and documents through the
 * registry interface (cdx_registry_store_document in transactions of
 * --batch documents): every person has an identity at one of three
 * institutions, one in five a second identity at another, joined by a
 * document that carries both; each document has a type, a creation time
 * with an offset, a service period for discharge summaries, and a few
 * facts (a problem, a medication, a result) so that fact-based reads can
 * be measured on the same registry.  Then each measured function runs
 * --queries times on random persons, each call timed alone, and its
 * p50, p99 and maximum are printed (and appended as one JSON line to
 * --json FILE).
 *
 * The measured functions are the rows of `measures` below: a new read
 * (a timeline, a patient search) is one more row with its own function.
 * Only counts and times are printed.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cdx/base/common.h"
#include "cdx/domain/timeline.h"
#include "cdx/domain/access.h"
#include "cdx/store/registry.h"

#include <jansson.h>

#define NINST 3

static const char *const inst_oids[NINST] = {"2.25.7001", "2.25.7002", "2.25.7003"};
static const char *const id_roots[NINST] = {"2.25.7001.1", "2.25.7002.1", "2.25.7003.1"};
static const char *const types[] = {"34133-9", "11506-3", "18842-5", "57133-1", "11488-4"};
#define NTYPES (sizeof types / sizeof types[0])

typedef struct opts {
    long persons, docs, queries, batch;
    unsigned long long seed;
    const char *db;
    const char *json;
    int keep;
} opts_t;

/* ---- random ------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static long rnd_below(long n)
{
    return (long)(rnd() % (uint64_t)n);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the synthetic registry -------------------------------------------- */

/* Person p's identities: the first at institution p % 3, a second at the
 * next one for one person in five. */
static int has_second(long p)
{
    return p % 5 == 0;
}

static void identity(long p, int which, char root[32], char ext[32])
{
    int inst = (int)((p + which) % NINST);
    snprintf(root, 32, "%s", id_roots[inst]);
    snprintf(ext, 32, "%c%08ld", which ? 'Q' : 'P', p);
}

/* Document j belongs to person j % persons; the first document of a
 * person with two identities carries both. */
static int store_one(cdx_registry_t *reg, const opts_t *o, long j)
{
    long p = j % o->persons;
    int inst = (int)(p % NINST);
    char r0[32], e0[32], r1[32], e1[32];
    identity(p, 0, r0, e0);
    identity(p, 1, r1, e1);
    const char *ids[4] = {r0, e0, r1, e1};
    size_t nids = has_second(p) && j < o->persons ? 2 : 1;
    if (has_second(p) && j >= o->persons && (j / o->persons) % 2 == 1) {
        /* A later document of such a person comes from the second
         * institution, under its own id only. */
        ids[0] = r1;
        ids[1] = e1;
        inst = (int)((p + 1) % NINST);
    }
    char unique[64], sha[32], created[160], start[16], stop[16], meta[160];
    snprintf(unique, sizeof unique, "%s.2^D%09ld", inst_oids[inst], j);
    snprintf(sha, sizeof sha, "sha-%ld", j);
    static const char *const offsets[] = {"+09:00", "-05:00", "Z"};
    snprintf(created, sizeof created, "%04ld-%02ld-%02ldT%02ld:%02ld:%02ld%s", 2015 + rnd_below(12),
             1 + rnd_below(12), 1 + rnd_below(28), rnd_below(24), rnd_below(60), rnd_below(60),
             offsets[rnd_below(3)]);
    const char *type = types[rnd_below((long)NTYPES)];
    int discharge = strcmp(type, "18842-5") == 0;
    snprintf(start, sizeof start, "%.4s%.2s01", created, created + 5);
    snprintf(stop, sizeof stop, "%.4s%.2s05", created, created + 5);
    snprintf(meta, sizeof meta, "{\"title\":\"synthetic\",\"code\":{\"code\":\"%s\"}}", type);
    cdx_fact_row_t facts[3] = {
        {.kind = "problems",
         .code_system = "2.16.840.1.113883.6.96",
         .code = "44054006",
         .time_low = start,
         .status = "active",
         .data = "{}"},
        {.kind = "medications",
         .code_system = "2.16.840.1.113883.6.88",
         .code = "860975",
         .time_low = start,
         .status = "active",
         .data = "{}"},
        {.kind = "results",
         .code_system = "2.16.840.1.113883.6.1",
         .code = "4548-4",
         .value = "7.1",
         .has_number = 1,
         .number = 7.1,
         .unit = "%",
         .time_low = start,
         .data = "{}"},
    };
    cdx_doc_record_t rec = {
        .unique_id = unique,
        .version = 1,
        .submitter_oid = inst_oids[inst],
        .custodian_oid = inst_oids[inst],
        .type_code = type,
        .type_system = "2.16.840.1.113883.6.1",
        .title = "synthetic",
        .creation_time = created,
        .service_start = discharge ? start : NULL,
        .service_stop = discharge ? stop : NULL,
        .patient_root = ids[0],
        .patient_ext = ids[1],
        .patient_ids = ids,
        .npatient_ids = nids,
        .sha256 = sha,
        .original = "<ClinicalDocument/>",
        .size = 19,
        .meta_json = meta,
        .fact_rows = facts,
        .nfact_rows = 3,
    };
    cdx_store_outcome_t outcome;
    char uid[33];
    int rc = cdx_registry_store_document(reg, &rec, NULL, &outcome, uid);
    return rc != 0 ? rc : (outcome == CDX_STORE_CREATED ? 0 : CDX_ECONFLICT);
}

static int build(cdx_registry_t *reg, const opts_t *o)
{
    for (int i = 0; i < NINST; i++) {
        int rc = cdx_registry_ensure_institution(reg, inst_oids[i], inst_oids[i]);
        if (rc != 0)
            return rc;
    }
    double t0 = now_s();
    for (long j = 0; j < o->docs;) {
        int rc = cdx_registry_begin(reg);
        for (long k = 0; rc == 0 && k < o->batch && j < o->docs; k++, j++)
            rc = store_one(reg, o, j);
        if (rc == 0)
            rc = cdx_registry_commit(reg);
        if (rc != 0) {
            cdx_registry_rollback(reg);
            fprintf(stderr, "cdxgw-registry: storing: %s (%s)\n", cdx_strerror(rc),
                    cdx_registry_errmsg(reg));
            return rc;
        }
    }
    double dt = now_s() - t0;
    printf("built: %ld persons, %ld documents, %ld facts in %.1f s (%.0f documents/s)\n",
           o->persons, o->docs, o->docs * 3, dt, (double)o->docs / dt);
    return 0;
}

/* ---- the measured functions -------------------------------------------- */

/* One call of a measured function on a random person; *n receives how
 * many items it returned. */
typedef int (*measure_fn)(cdx_registry_t *reg, long person, size_t *n);

static void query_of(long person, cdx_doc_query_t *q, char root[32], char ext[32])
{
    memset(q, 0, sizeof *q);
    identity(person, has_second(person) && rnd_below(2) ? 1 : 0, root, ext);
    q->root = root;
    q->ext = ext;
    q->limit = 50;
}

static int m_find(cdx_registry_t *reg, long person, size_t *n)
{
    char root[32], ext[32];
    cdx_doc_query_t q;
    query_of(person, &q, root, ext);
    cdx_doc_page_t page;
    int rc = cdx_registry_find_documents(reg, &q, &page);
    *n = page.n;
    cdx_doc_page_cleanup(&page);
    return rc;
}

static int m_find_filtered(cdx_registry_t *reg, long person, size_t *n)
{
    char root[32], ext[32];
    cdx_doc_query_t q;
    query_of(person, &q, root, ext);
    q.types[0] = types[rnd_below((long)NTYPES)];
    q.types[1] = types[rnd_below((long)NTYPES)];
    q.ntypes = 2;
    q.from = "20180101000000";
    q.to = "20250101000000";
    q.status = CDX_QUERY_ALL;
    q.institution = inst_oids[person % NINST];
    cdx_doc_page_t page;
    int rc = cdx_registry_find_documents(reg, &q, &page);
    *n = page.n;
    cdx_doc_page_cleanup(&page);
    return rc;
}

/* The second page of limit 1 (the keyset position of the first page's
 * row); the first page is not timed apart from it: both are. */
static int m_find_paged(cdx_registry_t *reg, long person, size_t *n)
{
    char root[32], ext[32], key[16] = "";
    cdx_doc_query_t q;
    query_of(person, &q, root, ext);
    q.limit = 1;
    cdx_doc_page_t page;
    int rc = cdx_registry_find_documents(reg, &q, &page);
    *n = page.n;
    if (rc == 0 && page.n == 1 && page.more) {
        cdx_strlcpy(key, page.hits[0].creation_key, sizeof key);
        q.after_key = key;
        q.after_id = page.hits[0].row.id;
        cdx_doc_page_cleanup(&page);
        rc = cdx_registry_find_documents(reg, &q, &page);
        *n += page.n;
    }
    cdx_doc_page_cleanup(&page);
    return rc;
}

/* What GET /v1/patients/{id}/timeline (or ?view=summary) does once the
 * request is decided: the person of the identity asked for, its facts,
 * merged and serialized as the answer's body. */
static int m_person_view(cdx_registry_t *reg, long person, size_t *n, int summary)
{
    char root[32], ext[32];
    cdx_doc_query_t q;
    query_of(person, &q, root, ext);
    int64_t pid = 0;
    int rc = cdx_registry_person_of(reg, root, ext, &pid);
    if (rc != 0)
        return rc;
    cdx_tl_fact_t *rows = NULL;
    size_t nrows = 0;
    rc = cdx_registry_person_facts(reg, pid, &rows, &nrows);
    if (rc != 0)
        return rc;
    cdx_tl_query_t tq = {0};
    json_t *o = summary ? cdx_tl_summary(rows, nrows, &tq) : cdx_tl_timeline(rows, nrows, &tq);
    cdx_tl_facts_free(rows, nrows);
    char *body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (body == NULL)
        return CDX_ENOMEM;
    free(body);
    *n = nrows;
    return 0;
}

static int m_timeline(cdx_registry_t *reg, long person, size_t *n)
{
    return m_person_view(reg, person, n, 0);
}

static int m_summary(cdx_registry_t *reg, long person, size_t *n)
{
    return m_person_view(reg, person, n, 1);
}

/* FindDocuments as GET /v1/documents runs it for an institution other than
 * the documents' owners: the page, then the person, what the access
 * decision reads of them (consents, care relationship, break-glass time
 * box) and the decision on every row.  *n counts the rows disclosed. */
static int m_find_consent(cdx_registry_t *reg, long person, size_t *n)
{
    char root[32], ext[32];
    cdx_doc_query_t q;
    query_of(person, &q, root, ext);
    cdx_doc_page_t page;
    int rc = cdx_registry_find_documents(reg, &q, &page);
    *n = 0;
    int64_t pid = 0;
    if (rc == 0 && page.person_found)
        rc = cdx_registry_person_of(reg, root, ext, &pid);
    static cdx_consent_t consents[16];
    size_t nconsents = 0;
    int care = 0, glass = 0;
    static const char reader[] = "2.25.424242";
    if (rc == 0 && page.person_found)
        rc = cdx_registry_access_person(reg, pid, reader, "20261203120000", consents, 16,
                                        &nconsents, &care, &glass);
    cdx_institution_t who;
    memset(&who, 0, sizeof who);
    cdx_strlcpy(who.oid, reader, sizeof who.oid);
    who.roles = CDX_ROLE_QUERY;
    cdx_access_person_t p = {consents, nconsents, care, glass};
    for (size_t i = 0; rc == 0 && i < page.n; i++) {
        const cdx_doc_row_t *r = &page.hits[i].row;
        cdx_access_target_t t = {r->submitter_oid, r->author_oid, r->custodian_oid, r->type_code,
                                 r->confidentiality};
        cdx_access_request_t rq = {.institution = &who,
                                   .role_needed = CDX_ROLE_QUERY,
                                   .purpose = cdx_purpose_find("TREAT"),
                                   .target = &t,
                                   .person = &p,
                                   .now_key = "20261203120000"};
        *n += (size_t)cdx_access_decide(&rq).allow;
    }
    cdx_doc_page_cleanup(&page);
    return rc;
}

static const struct measure {
    const char *name;
    measure_fn fn;
    const char *what;     /* one line for the table */
    double target_p99_ms; /* 0: none */
} measures[] = {
    {"find_documents", m_find, "FindDocuments, patient only (limit 50)", 5.0},
    {"find_documents_filtered", m_find_filtered,
     "FindDocuments with 2 types, from/to, status all, institution", 5.0},
    {"find_documents_paged", m_find_paged, "FindDocuments limit 1, then the next page", 5.0},
    {"timeline", m_timeline, "a person's merged timeline: person, facts, merge, JSON body", 20.0},
    {"summary", m_summary, "a person's summary: person, facts, merge, trends, JSON body", 20.0},
    {"find_documents_consent", m_find_consent,
     "FindDocuments (limit 50) with the access decision: consents, care, break-glass, per row",
     5.0},
};

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *sorted, long n, double p)
{
    long i = (long)ceil(p / 100.0 * (double)n) - 1;
    return sorted[i < 0 ? 0 : (i >= n ? n - 1 : i)];
}

static int run_measure(cdx_registry_t *reg, const opts_t *o, const struct measure *m, FILE *js,
                       int *missed)
{
    double *lat = calloc((size_t)o->queries, sizeof *lat);
    if (lat == NULL)
        return CDX_ENOMEM;
    size_t items = 0;
    for (long i = 0; i < o->queries; i++) {
        long person = rnd_below(o->persons);
        size_t n = 0;
        double t0 = now_s();
        int rc = m->fn(reg, person, &n);
        lat[i] = (now_s() - t0) * 1e3;
        if (rc != 0) {
            fprintf(stderr, "cdxgw-registry: %s: %s (%s)\n", m->name, cdx_strerror(rc),
                    cdx_registry_errmsg(reg));
            free(lat);
            return rc;
        }
        items += n;
    }
    qsort(lat, (size_t)o->queries, sizeof *lat, by_double);
    double p50 = pct(lat, o->queries, 50), p99 = pct(lat, o->queries, 99);
    double max = lat[o->queries - 1];
    int ok = m->target_p99_ms <= 0 || p99 < m->target_p99_ms;
    printf("%-26s p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms  %6.2f items/call  %s\n", m->name, p50,
           p99, max, (double)items / (double)o->queries,
           m->target_p99_ms <= 0 ? "" : (ok ? "(p99 target met)" : "(p99 TARGET MISSED)"));
    if (js != NULL)
        fprintf(js,
                "{\"tool\":\"cdxgw-registry\",\"measure\":\"%s\",\"persons\":%ld,\"documents\":%ld,"
                "\"queries\":%ld,\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"max_ms\":%.4f,"
                "\"items_per_call\":%.3f,\"target_p99_ms\":%.1f}\n",
                m->name, o->persons, o->docs, o->queries, p50, p99, max,
                (double)items / (double)o->queries, m->target_p99_ms);
    *missed += !ok;
    free(lat);
    return 0;
}

/* ---- main --------------------------------------------------------------- */

static int run(const opts_t *o)
{
    char path[1024];
    if (o->db != NULL)
        snprintf(path, sizeof path, "%s", o->db);
    else
        snprintf(path, sizeof path, "%s/cdxgw-registry-%ld.db",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
    char err[512];
    cdx_registry_t *reg = NULL;
    int rc = cdx_registry_open(path, &reg, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "cdxgw-registry: %s\n", err);
        return 1;
    }
    rng_state = o->seed ? o->seed : 88172645463325252ull;
    rc = build(reg, o);
    cdx_registry_close(reg);
    reg = NULL;
    /* Measured on a reader connection, as the gateway's workers read. */
    if (rc == 0)
        rc = cdx_registry_open_reader(path, &reg, err, sizeof err);
    FILE *js = o->json != NULL ? fopen(o->json, "a") : NULL;
    int missed = 0;
    for (size_t i = 0; rc == 0 && i < sizeof measures / sizeof measures[0]; i++)
        rc = run_measure(reg, o, &measures[i], js, &missed);
    if (js != NULL)
        fclose(js);
    cdx_registry_close(reg);
    if (!o->keep) {
        static const char *const suffixes[] = {"", "-wal", "-shm"};
        for (size_t i = 0; i < 3; i++) {
            char f[1100];
            snprintf(f, sizeof f, "%s%s", path, suffixes[i]);
            (void)unlink(f);
        }
    }
    return rc != 0 ? 1 : (missed ? 2 : 0);
}

/* A small registry whose answers are known: every person's documents are
 * found whichever of its ids is asked, and the paged walk finds them too. */
static int self_test(void)
{
    opts_t o = {.persons = 50, .docs = 150, .queries = 200, .batch = 40, .seed = 7};
    char path[256];
    snprintf(path, sizeof path, "%s/cdxgw-registry-selftest-%ld.db",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
    o.db = path;
    char err[512];
    cdx_registry_t *reg = NULL;
    if (cdx_registry_open(path, &reg, err, sizeof err) != 0)
        return 1;
    rng_state = o.seed;
    int bad = build(reg, &o) != 0;
    for (long p = 0; !bad && p < o.persons; p++) {
        for (int which = 0; which <= has_second(p); which++) {
            char root[32], ext[32];
            identity(p, which, root, ext);
            cdx_doc_query_t q = {.root = root, .ext = ext, .limit = 50};
            cdx_doc_page_t page;
            bad |= cdx_registry_find_documents(reg, &q, &page) != 0 || page.n != 3;
            for (size_t i = 1; i < page.n; i++)
                bad |= strcmp(page.hits[i - 1].creation_key, page.hits[i].creation_key) < 0;
            cdx_doc_page_cleanup(&page);
        }
        size_t n = 0;
        bad |= m_find_paged(reg, p, &n) != 0 || n != 2;
    }
    cdx_registry_close(reg);
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char f[300];
        snprintf(f, sizeof f, "%s%s", path, suffixes[i]);
        (void)unlink(f);
    }
    printf("cdxgw-registry self-test: %s\n", bad ? "FAILED" : "ok");
    return bad;
}

static long arg_long(const char *s)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v <= 0) {
        fprintf(stderr, "cdxgw-registry: not a positive number: %s\n", s);
        exit(64);
    }
    return v;
}

int main(int argc, char **argv)
{
    opts_t o = {.persons = 100000, .docs = 200000, .queries = 10000, .batch = 10000};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--self-test") == 0)
            return self_test();
        if (strcmp(a, "--keep") == 0) {
            o.keep = 1;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "usage: cdxgw-registry [--persons N] [--docs N] [--queries N] "
                            "[--batch N] [--seed N] [--db PATH] [--keep] [--json FILE] | "
                            "--self-test\n");
            return 64;
        }
        i++;
        if (strcmp(a, "--persons") == 0)
            o.persons = arg_long(v);
        else if (strcmp(a, "--docs") == 0)
            o.docs = arg_long(v);
        else if (strcmp(a, "--queries") == 0)
            o.queries = arg_long(v);
        else if (strcmp(a, "--batch") == 0)
            o.batch = arg_long(v);
        else if (strcmp(a, "--seed") == 0)
            o.seed = (unsigned long long)arg_long(v);
        else if (strcmp(a, "--db") == 0)
            o.db = v;
        else if (strcmp(a, "--json") == 0)
            o.json = v;
        else {
            fprintf(stderr, "cdxgw-registry: unknown option %s\n", a);
            return 64;
        }
    }
    return run(&o);
}
