/*
 * cdxgw-stages: the cost of each ingest stage, one document at a time on
 * one thread, and the in-process baselines it is compared with.
 *
 *   cdxgw-stages [--set NAME=DIR]... [options]     stage benchmarks
 *   cdxgw-stages --synth SRC --size-kb N --count N --out DIR
 *                                                  fallback document maker
 *   cdxgw-stages --summary RESULTS.jsonl           ratios and targets
 *
 * Stages: the ceiling (plain xmlReadMemory: no hardening, no validation, no
 * transform), the hardened parse, the three validation layers, the XSLT
 * normalization with its serialization, the extraction with its JSON,
 * the whole pipeline (cdx_ingest_run), parse+extract of the submitted
 * document (what BlueButton.js does), and registry commits to a SQLite file
 * in a temporary folder (synchronous=FULL), one document per commit and
 * grouped; plus SQLite's own commit ceiling on the same disk.  Each stage
 * has its input prepared outside the timed region and runs over the whole
 * set repeatedly until --min-time has passed, so short stages on small sets
 * are not dominated by clock resolution.
 *
 * The registry stages also report the statements the store compiled and
 * ran per document (cdx_registry_stats); -DCDX_BENCH_NO_STMT_COUNTS builds
 * this file against a registry from before those counts, to compare.
 *
 * Output: a readable table on stdout and one JSON line per set and stage
 * (appended to --json FILE when given).  Only sizes, counts and times are
 * printed, never document content.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <malloc.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cdx/base/common.h"
#include "cdx/parsers/diag.h"
#include "cdx/domain/facts.h"
#include "cdx/parsers/extract.h"
#include "cdx/domain/ingest.h"
#include "cdx/parsers/normalize.h"
#include "cdx/store/registry.h"
#include "cdx/parsers/validate.h"
#include "cdx/parsers/xml.h"
#include "cdx/parsers/xslt.h"

#ifndef CDX_BENCH_SOURCE_DIR
#define CDX_BENCH_SOURCE_DIR "."
#endif

#define MAX_SETS     8
#define MAX_DOC_SIZE (32u << 20)

typedef struct bdoc {
    char *path;
    char *data;
    size_t len;
    char custodian[128];
    xmlDocPtr parsed; /* hardened parse, input of validate and normalize */
    xmlDocPtr norm;   /* normalized, input of extract */
    int accepted;     /* the whole pipeline accepts it */
} bdoc_t;

typedef struct docset {
    const char *name;
    const char *dir;
    bdoc_t *d;
    size_t n, cap;
    size_t skipped; /* not a ClinicalDocument that libxml2 reads */
    size_t bytes;
} docset_t;

static struct {
    docset_t sets[MAX_SETS];
    size_t nsets;
    const char *mappings;
    const char *xsd;
    const char *tmp;
    const char *json_out;
    const char *list_out;
    const char *only; /* comma-separated stage names, NULL for all */
    const char *dump; /* --dump DIR: what cdx_ingest_run makes of each file, no timing */
    double min_time;
    int group;
    int commits;
    int no_registry;
    int cpu_clock; /* --cpu: the thread's CPU time instead of the wall clock */
    FILE *json;
} opt;

/* The clock of every measurement.  On a machine shared with other work the
 * wall clock counts the time other processes held the core; --cpu counts
 * only this thread's (the registry stages then leave out fsync waits). */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(opt.cpu_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- loading ------------------------------------------------------------ */

static int by_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_file(docset_t *s, const char *path)
{
    char *data;
    size_t len;
    if (cdx_read_file(path, MAX_DOC_SIZE, &data, &len) != 0 || len == 0) {
        s->skipped++;
        return;
    }
    /* Only real CDA documents take part, so that every stage (and the
     * baselines, through --list) sees the same set; a dump takes every file. */
    xmlDocPtr doc = NULL;
    if (opt.dump != NULL)
        goto keep;
    doc = xmlReadMemory(data, (int)len, NULL, NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    int ok = root != NULL && xmlStrEqual(root->name, BAD_CAST "ClinicalDocument");
    xmlFreeDoc(doc);
    if (!ok) {
        free(data);
        s->skipped++;
        return;
    }
keep:
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 128;
        s->d = realloc(s->d, s->cap * sizeof *s->d);
        if (s->d == NULL)
            exit(1);
    }
    bdoc_t *d = &s->d[s->n++];
    memset(d, 0, sizeof *d);
    d->path = strdup(path);
    d->data = data;
    d->len = len;
    s->bytes += len;
}

static void walk(docset_t *s, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return;
    if (S_ISREG(st.st_mode)) {
        add_file(s, path);
        return;
    }
    DIR *dir = opendir(path);
    if (dir == NULL)
        return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof *names);
            if (names == NULL)
                exit(1);
        }
        size_t need = strlen(path) + strlen(e->d_name) + 2;
        names[n] = malloc(need);
        if (names[n] == NULL)
            exit(1);
        snprintf(names[n++], need, "%s/%s", path, e->d_name);
    }
    closedir(dir);
    qsort(names, n, sizeof *names, by_str);
    for (size_t i = 0; i < n; i++) {
        walk(s, names[i]);
        free(names[i]);
    }
    free(names);
}

static xmlNodePtr child_el(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n ? n->children : NULL; c != NULL; c = c->next)
        if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST name))
            return c;
    return NULL;
}

/* The custodian organization's id root picks the mapping, as the gateway's
 * pipeline does for a document whose submitter is not known. */
static void find_custodian(bdoc_t *d)
{
    xmlNodePtr n = child_el(
        child_el(child_el(xmlDocGetRootElement(d->parsed), "custodian"), "assignedCustodian"),
        "representedCustodianOrganization");
    xmlNodePtr id = child_el(n, "id");
    xmlChar *root = id ? xmlGetProp(id, BAD_CAST "root") : NULL;
    d->custodian[0] = '\0';
    if (root != NULL)
        cdx_strlcpy(d->custodian, (const char *)root, sizeof d->custodian);
    xmlFree(root);
}

/* ---- output ------------------------------------------------------------- */

typedef struct result {
    const char *set;
    const char *stage;
    size_t docs;
    double runs; /* documents processed while timing */
    double seconds;
    double bytes; /* bytes processed while timing */
    const char *note;
    int has_stmts;        /* the registry stages: its statement cache while timing */
    double stmt_prepared; /* statements compiled per stored document */
    double stmt_uses;     /* statements run per stored document */
    double store_seconds; /* the registry stages: inside the store calls alone */
} result_t;

static void emit(const result_t *r)
{
    if (r->runs <= 0 && r->note == NULL)
        return; /* a stage left out with --only */
    double us = r->runs > 0 ? r->seconds / r->runs * 1e6 : 0;
    double dps = r->seconds > 0 ? r->runs / r->seconds : 0;
    double mbps = r->seconds > 0 ? r->bytes / r->seconds / 1e6 : 0;
    printf("  %-22s %10.1f us/doc %9.1f docs/s %8.1f MB/s%s%s\n", r->stage, us, dps, mbps,
           r->note ? "  " : "", r->note ? r->note : "");
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:I, s:f, s:f, s:f, s:f, s:f}", "tool", "cdxgw-stages", "set",
                  r->set, "stage", r->stage, "docs", (json_int_t)r->docs, "runs", r->runs,
                  "seconds", r->seconds, "us_per_doc", us, "docs_per_s", dps, "mb_per_s", mbps);
    if (o == NULL)
        return;
    if (r->note)
        json_object_set_new(o, "note", json_string(r->note));
    if (opt.cpu_clock)
        json_object_set_new(o, "clock", json_string("thread_cpu"));
    if (r->has_stmts) {
        printf("  %-22s %10.3f prepared/doc %7.1f statements run/doc\n", "", r->stmt_prepared,
               r->stmt_uses);
        json_object_set_new(o, "stmt_prepared_per_doc", json_real(r->stmt_prepared));
        json_object_set_new(o, "stmt_uses_per_doc", json_real(r->stmt_uses));
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text == NULL)
        return;
    if (opt.json)
        fprintf(opt.json, "%s\n", text);
    free(text);
}

/* ---- timing harness ----------------------------------------------------- */

/* Whether stage was asked for (--only), so that one stage can be run
 * alone under a profiler. */
static int wanted_stage(const char *stage)
{
    if (opt.only == NULL)
        return 1;
    size_t n = strlen(stage);
    for (const char *p = opt.only; (p = strstr(p, stage)) != NULL; p += n)
        if ((p == opt.only || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return 1;
    return 0;
}

/* One stage applied to one document; returns 0 on success. */
typedef int (*stage_fn)(bdoc_t *d, void *arg);

/* Runs fn over every document of s, repeatedly, until min_time has passed;
 * only documents for which want() holds take part. */
static result_t time_stage(docset_t *s, const char *stage, stage_fn fn, void *arg,
                           int accepted_only)
{
    result_t r = {.set = s->name, .stage = stage};
    size_t failures = 0;
    if (!wanted_stage(stage))
        return r;
    for (size_t i = 0; i < s->n; i++)
        if (!accepted_only || s->d[i].accepted)
            r.docs++;
    if (r.docs == 0)
        return r;
    do {
        for (size_t i = 0; i < s->n; i++) {
            bdoc_t *d = &s->d[i];
            if (accepted_only && !d->accepted)
                continue;
            double t0 = now_s();
            if (fn(d, arg) != 0)
                failures++;
            r.seconds += now_s() - t0;
            r.runs++;
            r.bytes += (double)d->len;
        }
    } while (r.seconds < opt.min_time);
    if (failures > 0) {
        static char note[64];
        snprintf(note, sizeof note, "(%zu failures)", failures);
        r.note = note;
    }
    return r;
}

/* ---- stages ------------------------------------------------------------- */

typedef struct ctx {
    cdx_validator_t *validator;
    cdx_mappings_t *mappings;
    cdx_pipeline_t *pipeline;
    cdx_validate_timing_t vt; /* summed layer times */
    double v_structure, v_schema, v_profile;
    uint64_t p_parse, p_validate, p_normalize, p_extract;
} ctx_t;

static int st_ceiling(bdoc_t *d, void *arg)
{
    (void)arg;
    xmlDocPtr doc = xmlReadMemory(d->data, (int)d->len, NULL, NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    int rc = doc ? 0 : -1;
    xmlFreeDoc(doc);
    return rc;
}

static int st_parse(bdoc_t *d, void *arg)
{
    (void)arg;
    cdx_diag_t diag;
    cdx_diag_init(&diag);
    xmlDocPtr doc = NULL;
    int rc = cdx_xml_parse(d->data, d->len, &diag, &doc);
    xmlFreeDoc(doc);
    cdx_diag_cleanup(&diag);
    return rc;
}

static int st_validate(bdoc_t *d, void *arg)
{
    ctx_t *c = arg;
    cdx_diag_t diag;
    cdx_diag_init(&diag);
    cdx_validate_timing_t t = {0};
    int rc = cdx_validate_timed(c->validator, d->parsed, CDX_SCHEMA_STANDARD, &diag, &t);
    c->v_structure += (double)t.structure_ns / 1e9;
    c->v_schema += (double)t.schema_ns / 1e9;
    c->v_profile += (double)t.profile_ns / 1e9;
    cdx_diag_cleanup(&diag);
    return rc;
}

/* Normalization as the pipeline does it: the transform, then serializing
 * the canonical form for storage. */
static int st_normalize(bdoc_t *d, void *arg)
{
    ctx_t *c = arg;
    cdx_diag_t diag;
    cdx_diag_init(&diag);
    xmlDocPtr out = NULL;
    int rc = cdx_normalize(c->mappings, d->custodian[0] ? d->custodian : NULL, d->parsed, &diag,
                           &out, NULL);
    if (rc == 0) {
        xmlChar *mem = NULL;
        int len = 0;
        xmlDocDumpMemoryEnc(out, &mem, &len, "UTF-8");
        xmlFree(mem);
    }
    xmlFreeDoc(out);
    cdx_diag_cleanup(&diag);
    return rc;
}

/* Extraction with what the registry stores, from a parsed document, as
 * the pipeline does it: the lean extraction, the metadata's text and the
 * fact rows written straight from the extraction. */
static int extract_json(xmlDocPtr doc)
{
    cdx_diag_t diag;
    cdx_diag_init(&diag);
    cdx_extract_t ex;
    int rc = cdx_extract_lean(doc, &ex, &diag);
    if (rc == 0) {
        json_t *m = cdx_extract_meta_json(&ex.meta);
        char *a = m ? json_dumps(m, JSON_COMPACT) : NULL;
        cdx_fact_row_t *rows = NULL;
        size_t nrows = 0;
        if (a == NULL || cdx_fact_rows_from_extract(&ex, &rows, &nrows) != 0)
            rc = -1;
        free(a);
        cdx_fact_rows_free(rows, nrows);
        json_decref(m);
        cdx_extract_cleanup(&ex);
    }
    cdx_diag_cleanup(&diag);
    return rc;
}

static int st_extract(bdoc_t *d, void *arg)
{
    (void)arg;
    return d->norm ? extract_json(d->norm) : -1;
}

/* What BlueButton.js does with a document: parse it and read the header
 * and the clinical sections into data structures (here with the JSON
 * serialization on top, which BlueButton.js does not do). */
static int st_parse_extract(bdoc_t *d, void *arg)
{
    (void)arg;
    cdx_diag_t diag;
    cdx_diag_init(&diag);
    xmlDocPtr doc = NULL;
    int rc = cdx_xml_parse(d->data, d->len, &diag, &doc);
    if (rc == 0)
        rc = extract_json(doc);
    xmlFreeDoc(doc);
    cdx_diag_cleanup(&diag);
    return rc;
}

static int st_pipeline(bdoc_t *d, void *arg)
{
    ctx_t *c = arg;
    cdx_ingest_t in;
    int rc = cdx_ingest_run(c->pipeline, d->data, d->len, NULL, &in);
    c->p_parse += in.us_parse;
    c->p_validate += in.us_validate;
    c->p_normalize += in.us_normalize;
    c->p_extract += in.us_extract;
    cdx_ingest_cleanup(&in);
    return rc == 0 || rc == CDX_EPARSE ? 0 : rc;
}

/* ---- registry commits --------------------------------------------------- */

static int rm_tree(const char *dir)
{
    char cmd[4200];
    if (strstr(dir, "cdxgw-stages.") == NULL)
        return -1; /* only ever remove what this tool created */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

/* Stores ingest result in (of document bytes data) as copy number k, under
 * a new document id, in a savepoint of the open transaction; the time of
 * the store calls is added to r->store_seconds. */
static int store_copy(cdx_registry_t *reg, cdx_ingest_t *in, const char *data, size_t k,
                      result_t *r)
{
    cdx_doc_record_t rec;
    char uid[600], sha[65], doc_uid[33];
    const char *sub = in->custodian_oid ? in->custodian_oid : "2.25.1";
    cdx_ingest_record(in, sub, data, "00000000000000000000000000000000", &rec);
    snprintf(uid, sizeof uid, "%.500s^bench-%zu", rec.unique_id ? rec.unique_id : "x", k);
    snprintf(sha, sizeof sha, "%048zx%016zx", (size_t)0, k);
    rec.unique_id = uid;
    rec.sha256 = sha;
    rec.replaces = NULL;
    cdx_audit_event_t ev = {.event = "document.ingest",
                            .actor_oid = sub,
                            .outcome = 0,
                            .patient_key = "00000000000000000000000000000000",
                            .detail = "bench"};
    cdx_store_outcome_t oc;
    int rc;
    double s0 = now_s();
    if (cdx_registry_savepoint(reg) != 0 ||
        cdx_registry_store_document(reg, &rec, &ev, &oc, doc_uid) != 0) {
        cdx_registry_rollback_savepoint(reg);
        rc = -1;
    } else {
        rc = cdx_registry_release(reg);
    }
    r->store_seconds += now_s() - s0;
    return rc;
}

/* Stores every accepted document of s again and again (each time under a
 * new document id, so every store is a new row, the 201 path), group per
 * transaction, for at least min_time.  Returns documents stored per
 * second in r. */
static result_t time_registry(docset_t *s, ctx_t *c, int group, const char *stage)
{
    result_t r = {.set = s->name, .stage = stage};
    if (!wanted_stage(stage))
        return r;
    char dir[4096], dbpath[4200], err[512];
    snprintf(dir, sizeof dir, "%s/cdxgw-stages.XXXXXX", opt.tmp);
    if (mkdtemp(dir) == NULL) {
        r.note = "no temporary folder";
        return r;
    }
    snprintf(dbpath, sizeof dbpath, "%s/registry.db", dir);
    cdx_registry_t *reg = NULL;
    if (cdx_registry_open(dbpath, &reg, err, sizeof err) != 0) {
        fprintf(stderr, "cdxgw-stages: registry: %s\n", err);
        r.note = "registry open failed";
        rm_tree(dir);
        return r;
    }
    /* Ingest results are prepared once: only the store and the commit are timed. */
    cdx_ingest_t *ins = calloc(s->n, sizeof *ins);
    size_t *src = calloc(s->n, sizeof *src); /* which document each result came from */
    size_t nin = 0;
    for (size_t i = 0; i < s->n && ins != NULL && src != NULL; i++) {
        if (!s->d[i].accepted)
            continue;
        if (cdx_ingest_run(c->pipeline, s->d[i].data, s->d[i].len, NULL, &ins[nin]) == 0)
            src[nin++] = i;
        else
            cdx_ingest_cleanup(&ins[nin]);
    }
    r.docs = nin;
    if (nin == 0) {
        r.note = "no accepted document";
        goto out;
    }
    for (size_t i = 0; i < nin; i++) {
        const char *sub = ins[i].custodian_oid ? ins[i].custodian_oid : "2.25.1";
        cdx_registry_ensure_institution(reg, sub, "bench");
    }
    size_t target = (size_t)opt.commits;
    size_t k = 0, failures = 0;
#ifndef CDX_BENCH_NO_STMT_COUNTS
    cdx_registry_stats_t st0, st1;
    cdx_registry_stats(reg, &st0);
#endif
    double t0 = now_s();
    while (k < target || now_s() - t0 < opt.min_time) {
        if (k >= 20u * target)
            break;
        if (cdx_registry_begin(reg) != 0) {
            failures++;
            break;
        }
        for (int j = 0; j < group; j++, k++) {
            size_t i = k % nin;
            if (store_copy(reg, &ins[i], s->d[src[i]].data, k, &r) != 0)
                failures++;
            r.bytes += (double)ins[i].size;
        }
        if (cdx_registry_commit(reg) != 0) {
            failures++;
            break;
        }
    }
    r.seconds = now_s() - t0;
    r.runs = (double)k;
#ifndef CDX_BENCH_NO_STMT_COUNTS
    cdx_registry_stats(reg, &st1);
    if (k > 0) {
        /* Everything compiled while timing, in the cache or once. */
        r.has_stmts = 1;
        r.stmt_prepared =
            (double)(st1.prepared + st1.one_off - st0.prepared - st0.one_off) / (double)k;
        r.stmt_uses = (double)(st1.prepared + st1.reused + st1.one_off - st0.prepared - st0.reused -
                               st0.one_off) /
                      (double)k;
    }
#endif
    if (failures > 0) {
        static char note[80];
        snprintf(note, sizeof note, "(%zu failures: %s)", failures, cdx_registry_errmsg(reg));
        r.note = note;
    }
out:
    for (size_t i = 0; i < nin; i++)
        cdx_ingest_cleanup(&ins[i]);
    free(ins);
    free(src);
    cdx_registry_close(reg);
    rm_tree(dir);
    return r;
}

/* SQLite alone on the same disk: WAL, synchronous=FULL, a 200-byte row,
 * one row per commit or group rows per commit. */
static result_t time_sqlite(int group)
{
    result_t r = {.set = "disk", .stage = group == 1 ? "sqlite_commit_1" : "sqlite_commit_100"};
    char dir[4096], dbpath[4200];
    snprintf(dir, sizeof dir, "%s/cdxgw-stages.XXXXXX", opt.tmp);
    if (mkdtemp(dir) == NULL)
        return r;
    snprintf(dbpath, sizeof dbpath, "%s/ceiling.db", dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    if (sqlite3_open(dbpath, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB NOT NULL);",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO t(v) VALUES (?1)", -1, &ins, NULL) != SQLITE_OK) {
        r.note = "sqlite set-up failed";
        goto out;
    }
    unsigned char row[200];
    memset(row, 0xa5, sizeof row);
    size_t k = 0;
    double t0 = now_s();
    while (now_s() - t0 < opt.min_time || k < 200) {
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        for (int j = 0; j < group; j++, k++) {
            sqlite3_bind_blob(ins, 1, row, sizeof row, SQLITE_STATIC);
            sqlite3_step(ins);
            sqlite3_reset(ins);
        }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            r.note = "commit failed";
            break;
        }
    }
    r.seconds = now_s() - t0;
    r.runs = (double)k;
    r.docs = (size_t)k;
    r.bytes = (double)k * sizeof row;
out:
    sqlite3_finalize(ins);
    sqlite3_close(db);
    rm_tree(dir);
    return r;
}

/* ---- dump --------------------------------------------------------------- */

static void dump_text(const char *dir, const char *base, const char *ext, const char *text,
                      size_t len)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s.%s", dir, base, ext);
    if (n < 0 || (size_t)n >= sizeof path) {
        fprintf(stderr, "cdxgw-stages: path too long under %s\n", dir);
        return;
    }
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "cdxgw-stages: cannot write %s\n", path);
        return;
    }
    if (text != NULL)
        fwrite(text, 1, len, f);
    fclose(f);
}

/* The mapping alone (cdx_normalize, the custodian's mapping) on any file
 * that parses, valid or not: base.normalize.xml and its issues. */
static void dump_normalize(const cdx_mappings_t *m, bdoc_t *d, const char *dir, const char *base)
{
    cdx_diag_t diag;
    cdx_diag_init(&diag);
    if (m != NULL && cdx_xml_parse(d->data, d->len, &diag, &d->parsed) == 0) {
        find_custodian(d);
        xmlDocPtr out = NULL;
        if (cdx_normalize(m, d->custodian[0] ? d->custodian : NULL, d->parsed, &diag, &out,
                          NULL) == 0) {
            xmlChar *mem = NULL;
            int len = 0;
            xmlDocDumpMemoryEnc(out, &mem, &len, "UTF-8");
            dump_text(dir, base, "normalize.xml", (const char *)mem, (size_t)len);
            xmlFree(mem);
        }
        xmlFreeDoc(out);
    }
    char *issues = cdx_diag_issues_json(&diag);
    dump_text(dir, base, "normalize-issues.json", issues, issues ? strlen(issues) : 0);
    free(issues);
    xmlFreeDoc(d->parsed);
    d->parsed = NULL;
    cdx_diag_cleanup(&diag);
}

/* --dump DIR: for every file of every set, what cdx_ingest_run makes of
 * it (no submitter: the custodian picks the mapping), written to
 * DIR/SET/<path below the set, '/' as '__'>.{canonical.xml,issues.json,
 * meta.json,facts.json,verdict}, so that two builds can be compared byte
 * for byte. */
static int dump_sets(const cdx_pipeline_t *pl, const cdx_mappings_t *c)
{
    for (size_t i = 0; i < opt.nsets; i++) {
        docset_t *s = &opt.sets[i];
        walk(s, s->dir);
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", opt.dump, s->name);
        if (mkdir(opt.dump, 0755) != 0 && errno != EEXIST)
            return 2;
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            return 2;
        for (size_t j = 0; j < s->n; j++) {
            bdoc_t *d = &s->d[j];
            const char *rel = d->path + strlen(s->dir);
            while (*rel == '/')
                rel++;
            char base[1024];
            size_t k = 0;
            for (const char *p = rel; *p != '\0' && k + 3 < sizeof base; p++) {
                if (*p == '/') {
                    base[k++] = '_';
                    base[k++] = '_';
                } else {
                    base[k++] = *p;
                }
            }
            base[k] = '\0';
            if (k == 0)
                snprintf(base, sizeof base, "file");
            cdx_ingest_t in;
            int rc = cdx_ingest_run(pl, d->data, d->len, NULL, &in);
            char verdict[256];
            int n = snprintf(verdict, sizeof verdict, "rc %d status %d code %s mapping %s\n", rc,
                             in.diag.status, in.diag.code,
                             in.mapping_version ? in.mapping_version : "-");
            dump_text(dir, base, "verdict", verdict, (size_t)n);
            dump_text(dir, base, "canonical.xml", in.normalized, in.normalized_len);
            dump_text(dir, base, "issues.json", in.issues_json,
                      in.issues_json ? strlen(in.issues_json) : 0);
            dump_text(dir, base, "meta.json", in.meta_json,
                      in.meta_json ? strlen(in.meta_json) : 0);
            char *facts =
                in.meta_json != NULL ? cdx_fact_rows_join(in.fact_rows, in.nfact_rows) : NULL;
            dump_text(dir, base, "facts.json", facts, facts ? strlen(facts) : 0);
            free(facts);
            cdx_ingest_cleanup(&in);
            dump_normalize(pl == NULL ? NULL : c, d, dir, base);
        }
        printf("%s: %zu files dumped to %s\n", s->name, s->n, dir);
    }
    return 0;
}

/* ---- one set ------------------------------------------------------------ */

static void bench_set(docset_t *s, ctx_t *c)
{
    printf("\n%s: %zu documents (%zu files skipped), mean %.1f KB, total %.2f MB, from %s\n",
           s->name, s->n, s->skipped, s->n ? (double)s->bytes / (double)s->n / 1024 : 0,
           (double)s->bytes / 1e6, s->dir);
    if (s->n == 0)
        return;
    /* Inputs of the later stages, prepared untimed. */
    size_t accepted = 0;
    for (size_t i = 0; i < s->n; i++) {
        bdoc_t *d = &s->d[i];
        cdx_diag_t diag;
        cdx_diag_init(&diag);
        if (cdx_xml_parse(d->data, d->len, &diag, &d->parsed) == 0) {
            find_custodian(d);
            cdx_diag_t nd;
            cdx_diag_init(&nd);
            if (cdx_normalize(c->mappings, d->custodian[0] ? d->custodian : NULL, d->parsed, &nd,
                              &d->norm, NULL) != 0)
                d->norm = NULL;
            cdx_diag_cleanup(&nd);
            cdx_ingest_t in;
            d->accepted = cdx_ingest_run(c->pipeline, d->data, d->len, NULL, &in) == 0;
            cdx_ingest_cleanup(&in);
            accepted += d->accepted;
        }
        cdx_diag_cleanup(&diag);
    }
    printf("  (%zu of %zu accepted by the whole pipeline; stages run on all that parse)\n",
           accepted, s->n);
    result_t r;
    r = time_stage(s, "ceiling_parse", st_ceiling, NULL, 0);
    r.note = "xmlReadMemory only";
    emit(&r);
    r = time_stage(s, "parse", st_parse, NULL, 0);
    emit(&r);
    docset_t parsed = *s; /* the stages below need a parsed document */
    c->v_structure = c->v_schema = c->v_profile = 0;
    r = time_stage(&parsed, "validate", st_validate, c, 0);
    emit(&r);
    /* The validator's own layer clocks split the time just measured. */
    result_t layer = r;
    if (layer.runs > 0) {
        layer.stage = "validate_structure";
        layer.seconds = c->v_structure;
        layer.note = "own checks";
        emit(&layer);
        layer.stage = "validate_xsd";
        layer.seconds = c->v_schema;
        layer.note = opt.xsd ? "official CDA.xsd (SDTC)" : "no schema";
        emit(&layer);
        layer.stage = "validate_profiles";
        layer.seconds = c->v_profile;
        layer.note = "XSLT rule sets";
        emit(&layer);
    }
    r = time_stage(s, "normalize", st_normalize, c, 0);
    r.note = "XSLT + serialize";
    emit(&r);
    r = time_stage(s, "extract", st_extract, c, 0);
    r.note = "from the canonical form, with JSON";
    emit(&r);
    r = time_stage(s, "parse_extract", st_parse_extract, c, 0);
    r.note = "submitted document, with JSON";
    emit(&r);
    c->p_parse = c->p_validate = c->p_normalize = c->p_extract = 0;
    r = time_stage(s, "pipeline", st_pipeline, c, 0);
    r.note = "cdx_ingest_run, all documents";
    emit(&r);
    r = time_stage(s, "pipeline_accepted", st_pipeline, c, 1);
    r.note = "cdx_ingest_run, accepted documents";
    emit(&r);
    if (!opt.no_registry) {
        r = time_registry(s, c, 1, "commit_1");
        if (r.note == NULL && r.runs > 0)
            r.note = "one document per commit, synchronous=FULL";
        emit(&r);
        char stage[32];
        snprintf(stage, sizeof stage, "commit_%d", opt.group);
        r = time_registry(s, c, opt.group, stage);
        if (r.note == NULL && r.runs > 0)
            r.note = "grouped commit, synchronous=FULL";
        emit(&r);
        /* The same run, the store calls alone (savepoint, store, release):
         * what the writer thread spends per document besides the commit. */
        snprintf(stage, sizeof stage, "store_%d", opt.group);
        r.stage = stage;
        r.seconds = r.store_seconds;
        r.has_stmts = 0;
        r.note = r.runs > 0 ? "registry store calls alone, inside the grouped commits" : NULL;
        emit(&r);
    }
    for (size_t i = 0; i < s->n; i++) {
        xmlFreeDoc(s->d[i].parsed);
        xmlFreeDoc(s->d[i].norm);
        s->d[i].parsed = s->d[i].norm = NULL;
    }
}

/* ---- fallback document maker -------------------------------------------- */

/* Grows a document to about size_kb by repeating the sections of its
 * structuredBody, and writes count copies that differ only in
 * ClinicalDocument/id/@extension.  It is a stand-in for cdxgw-gen when
 * that generator is not built; the sections keep their own templateIds,
 * so extraction sees proportionally more facts. */
static int synth(const char *src, int size_kb, int count, const char *out)
{
    char *data;
    size_t len;
    if (cdx_read_file(src, MAX_DOC_SIZE, &data, &len) != 0) {
        fprintf(stderr, "cdxgw-stages: cannot read %s\n", src);
        return 2;
    }
    xmlDocPtr doc = xmlReadMemory(data, (int)len, NULL, NULL, XML_PARSE_NONET);
    free(data);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    xmlNodePtr body = child_el(child_el(root, "component"), "structuredBody");
    xmlNodePtr id = child_el(root, "id");
    if (body == NULL || id == NULL) {
        fprintf(stderr, "cdxgw-stages: %s has no structuredBody or id\n", src);
        xmlFreeDoc(doc);
        return 2;
    }
    xmlNodePtr first = child_el(body, "component"), last = xmlGetLastChild(body);
    for (;;) {
        xmlChar *mem = NULL;
        int n = 0;
        xmlDocDumpMemory(doc, &mem, &n);
        xmlFree(mem);
        if (n >= size_kb * 1024 || first == NULL)
            break;
        /* One more copy of each original section, until the size is reached. */
        for (xmlNodePtr c = first; c != NULL; c = c->next) {
            if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST "component"))
                xmlAddChild(body, xmlCopyNode(c, 1));
            if (c == last)
                break;
            xmlChar *m2 = NULL;
            xmlDocDumpMemory(doc, &m2, &n);
            xmlFree(m2);
            if (n >= size_kb * 1024)
                break;
        }
    }
    if (cdx_mkdirs(out, 0755) != 0) {
        xmlFreeDoc(doc);
        return 2;
    }
    xmlChar *ext0 = xmlGetProp(id, BAD_CAST "extension");
    for (int i = 0; i < count; i++) {
        char ext[256], path[4096];
        snprintf(ext, sizeof ext, "%.200s-s%dk-%d", ext0 ? (const char *)ext0 : "synth", size_kb,
                 i);
        xmlSetProp(id, BAD_CAST "extension", BAD_CAST ext);
        snprintf(path, sizeof path, "%s/synth-%dk-%04d.xml", out, size_kb, i);
        if (xmlSaveFileEnc(path, doc, "UTF-8") < 0) {
            fprintf(stderr, "cdxgw-stages: cannot write %s\n", path);
            break;
        }
    }
    xmlFree(ext0);
    xmlFreeDoc(doc);
    return 0;
}

/* ---- summary ------------------------------------------------------------ */

typedef struct line_set {
    json_t **v;
    size_t n;
} lines_t;

static json_t *find_line(const lines_t *L, const char *tool, const char *k1, const char *v1,
                         const char *k2, const char *v2)
{
    json_t *hit = NULL;
    for (size_t i = 0; i < L->n; i++) {
        json_t *o = L->v[i];
        const char *t = json_string_value(json_object_get(o, "tool"));
        const char *a = json_string_value(json_object_get(o, k1));
        const char *b = k2 ? json_string_value(json_object_get(o, k2)) : NULL;
        if (t && strcmp(t, tool) == 0 && a && strcmp(a, v1) == 0 &&
            (k2 == NULL || (b && strcmp(b, v2) == 0)))
            hit = o; /* the last one wins: results files are appended to */
    }
    return hit;
}

static double num(json_t *o, const char *key)
{
    json_t *v = o ? json_object_get(o, key) : NULL;
    return v ? json_number_value(v) : NAN;
}

static double stage_dps(const lines_t *L, const char *set, const char *stage)
{
    return num(find_line(L, "cdxgw-stages", "set", set, "stage", stage), "docs_per_s");
}

static void ratio_line(const char *what, double ours, double base, const char *unit, double target,
                       FILE *js)
{
    double ratio = ours / base;
    int have = !isnan(ratio) && !isinf(ratio);
    printf("| %s | %.1f | %.1f %s | %s%.2f× | %s |\n", what, ours, base, unit, have ? "" : "n/a ",
           have ? ratio : 0.0,
           isnan(target)     ? "—"
           : !have           ? "not measured"
           : ratio >= target ? "met"
                             : "missed");
    fprintf(js, "%s{\"what\":\"%s\",\"ours\":%.3f,\"baseline\":%.3f,\"ratio\":%.4f}",
            ftell(js) > 0 ? "," : "", what, isnan(ours) ? -1 : ours, isnan(base) ? -1 : base,
            have ? ratio : -1);
}

/* Reads the JSON lines of a results file (lines that are not objects are
 * skipped).  Returns 0, 1 (memory) or 2 (unreadable). */
static int read_results(const char *path, lines_t *out)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "cdxgw-stages: cannot read %s\n", path);
        return 2;
    }
    lines_t L = {0};
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (o == NULL || !json_is_object(o)) {
            json_decref(o);
            continue;
        }
        L.v = realloc(L.v, (L.n + 1) * sizeof *L.v);
        if (L.v == NULL)
            return 1;
        L.v[L.n++] = o;
    }
    free(line);
    fclose(f);
    *out = L;
    return 0;
}

/* The comparisons against baselines, as table rows and JSON objects in js. */
static void summary_ratios(const lines_t *L, FILE *js)
{
    printf("| comparison | ours | baseline | ratio | target |\n|---|---|---|---|---|\n");
    /* 1. End-to-end HTTPS ingest on 2 cores against the parse-only ceiling
     *    scaled to 2 cores, on the 100 KB documents. */
    json_t *peak = find_line(L, "cdxgw-load", "label", "peak-100k", NULL, NULL);
    double ceil100 = stage_dps(L, "gen-100k", "ceiling_parse");
    ratio_line("HTTPS ingest 100 KB, 2 cores, docs/s vs 2× parse-only ceiling",
               num(peak, "docs_per_s"), 2 * ceil100, "docs/s", 0.5, js);
    json_t *peak20 = find_line(L, "cdxgw-load", "label", "peak-20k", NULL, NULL);
    ratio_line("HTTPS ingest 20 KB, 2 cores, docs/s vs 2× parse-only ceiling",
               num(peak20, "docs_per_s"), 2 * stage_dps(L, "gen-20k", "ceiling_parse"), "docs/s",
               0.5, js);
    /* 2. Parse + extract against BlueButton.js on the corpus. */
    json_t *bb = find_line(L, "bluebutton", "set", "corpus", NULL, NULL);
    ratio_line("parse+extract on the corpus vs BlueButton.js",
               stage_dps(L, "corpus", "parse_extract"), num(bb, "docs_per_s"), "docs/s", 20, js);
    /* 3. The pipeline against what an integrator would script. */
    const char *sets[] = {"corpus", "gen-20k", "gen-100k", "gen-1m"};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(sets); i++) {
        json_t *naive = find_line(L, "naive", "set", sets[i], NULL, NULL);
        char what[128];
        snprintf(what, sizeof what, "pipeline on %s vs xmllint --schema + xsltproc", sets[i]);
        ratio_line(what, stage_dps(L, sets[i], "pipeline"), num(naive, "docs_per_s"), "docs/s", NAN,
                   js);
        snprintf(what, sizeof what, "pipeline on %s vs parse-only ceiling (1 core)", sets[i]);
        ratio_line(what, stage_dps(L, sets[i], "pipeline"), stage_dps(L, sets[i], "ceiling_parse"),
                   "docs/s", NAN, js);
    }
    /* 4. Registry store and commit of a whole 100 KB document against
     *    SQLite committing a 200-byte row on the same disk: how far the
     *    document store is from the disk's own limit. */
    ratio_line("registry store+commit of a 100 KB document, 1 per commit, vs SQLite 1 row per "
               "commit",
               stage_dps(L, "gen-100k", "commit_1"), stage_dps(L, "disk", "sqlite_commit_1"),
               "commits/s", NAN, js);
    ratio_line("registry store+commit, 32 documents per commit vs 1 per commit (100 KB)",
               stage_dps(L, "gen-100k", "commit_32"), stage_dps(L, "gen-100k", "commit_1"),
               "docs/s", NAN, js);
    /* The 200 path (same bytes again) against the 201 path over HTTPS. */
    json_t *rep = find_line(L, "cdxgw-load", "label", "repeat-100k", NULL, NULL);
    ratio_line("HTTPS 200 path (repeated 100 KB documents) vs 201 path", num(rep, "docs_per_s"),
               num(peak, "docs_per_s"), "docs/s", NAN, js);
}

/* The latency and memory targets: table rows; their values in t[4]
 * (p99, RSS at 256 connections, soak middle and end). */
static void summary_targets(const lines_t *L, double t[4])
{
    /* 5. Latency and memory targets. */
    json_t *half = find_line(L, "cdxgw-load", "label", "half-100k", NULL, NULL);
    json_t *lat = half ? json_object_get(half, "latency_ms") : NULL;
    double p99 = num(lat, "p99");
    printf("| p99 latency, 100 KB at half of peak (ms) | %.2f | 25 ms | | %s |\n", p99,
           isnan(p99) ? "not measured"
           : p99 < 25 ? "met"
                      : "missed");
    json_t *c256 = find_line(L, "cdxgw-load", "label", "conns-256", NULL, NULL);
    json_t *gw = c256 ? json_object_get(c256, "gateway") : NULL;
    double rss = num(gw, "rss_mb_max");
    printf("| RSS with 256 connections under load (MB) | %.1f | 150 MB | | %s |\n", rss,
           isnan(rss)  ? "not measured"
           : rss < 150 ? "met"
                       : "missed");
    json_t *soak = find_line(L, "cdxgw-load", "label", "soak", NULL, NULL);
    json_t *sg = soak ? json_object_get(soak, "gateway") : NULL;
    double mid = num(sg, "rss_mb_mid"), end = num(sg, "rss_mb_end");
    printf("| soak RSS, middle → end (MB) | %.1f → %.1f | flat | | %s |\n", mid, end,
           isnan(mid)                    ? "not measured"
           : end - mid <= 0.05 * mid + 2 ? "flat"
                                         : "growing");
    t[0] = p99;
    t[1] = rss;
    t[2] = mid;
    t[3] = end;
}

static int summary(const char *path)
{
    lines_t L = {0};
    int rc = read_results(path, &L);
    if (rc != 0)
        return rc;
    char *jbuf = NULL;
    size_t jlen = 0;
    FILE *js = open_memstream(&jbuf, &jlen);
    if (js == NULL)
        return 1;
    summary_ratios(&L, js);
    double t[4];
    summary_targets(&L, t);
    double p99 = t[0], rss = t[1], mid = t[2], end = t[3];
    fclose(js);
    printf("\n{\"tool\":\"summary\",\"p99_half_100k_ms\":%.3f,\"rss_256_mb\":%.1f,"
           "\"soak_rss_mid_mb\":%.1f,\"soak_rss_end_mb\":%.1f,\"ratios\":[%s]}\n",
           isnan(p99) ? -1 : p99, isnan(rss) ? -1 : rss, isnan(mid) ? -1 : mid,
           isnan(end) ? -1 : end, jbuf ? jbuf : "");
    free(jbuf);
    for (size_t i = 0; i < L.n; i++)
        json_decref(L.v[i]);
    free(L.v);
    return 0;
}

/* ---- self-test ---------------------------------------------------------- */

static int self_test(void)
{
    int passed = 0, failed = 0;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            fprintf(stderr, "self-test: %s:%d: %s\n", __FILE__, __LINE__, #cond);                  \
        }                                                                                          \
    } while (0)
    docset_t s = {.name = "self", .dir = "(memory)"};
    char tmpl[] = "/tmp/cdxgw-stages.selftest.XXXXXX";
    int fd = mkstemp(tmpl);
    CHECK(fd >= 0);
    static const char doc[] = "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><id root=\"1.2.3\"/>"
                              "</ClinicalDocument>";
    static const char other[] = "<notCda/>";
    if (fd >= 0) {
        CHECK(write(fd, doc, sizeof doc - 1) == (ssize_t)(sizeof doc - 1));
        close(fd);
        add_file(&s, tmpl);
        FILE *f = fopen(tmpl, "w");
        if (f != NULL) {
            fputs(other, f);
            fclose(f);
        }
        add_file(&s, tmpl);
        unlink(tmpl);
    }
    CHECK(s.n == 1 && s.skipped == 1 && s.bytes == sizeof doc - 1);
    opt.min_time = 0.01;
    result_t r = time_stage(&s, "ceiling_parse", st_ceiling, NULL, 0);
    CHECK(r.runs >= 1 && r.seconds >= 0.01 && r.bytes == r.runs * (double)(sizeof doc - 1));
    CHECK(r.note == NULL);
    r = time_stage(&s, "pipeline_accepted", st_ceiling, NULL, 1);
    CHECK(r.runs == 0 && r.docs == 0);
    for (size_t i = 0; i < s.n; i++) {
        free(s.d[i].path);
        free(s.d[i].data);
    }
    free(s.d);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
#undef CHECK
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: cdxgw-stages [--set NAME=DIR]... [options]\n"
               "  --set NAME=DIR     a document set (default: corpus=../shared/corpus/ccda)\n"
               "  --mappings DIR     mappings folder (default: the source tree's mappings/)\n"
               "  --xsd PATH         CDA schema (default: ../shared/corpus/schema/cda-r2-sdtc/"
               "CDA.xsd when present; 'none' for none)\n"
               "  --min-time S       seconds each stage runs at least (default 1)\n"
               "  --commits N        registry commits per measurement at least (default 200)\n"
               "  --group N          documents per grouped commit (default 32)\n"
               "  --no-registry      skip the registry and SQLite measurements\n"
               "  --cpu              time with the thread's CPU clock, not the wall clock\n"
               "  --tmp DIR          folder for the temporary databases (default $TMPDIR or /tmp)\n"
               "  --json FILE        append the JSON lines to FILE\n"
               "  --only S1,S2       run only these stages (e.g. normalize,commit_32)\n"
               "  --list FILE        write the paths of the documents of the first set to FILE\n"
               "  --dump DIR         write what cdx_ingest_run makes of every file of the sets\n"
               "                     (canonical form, issues, metadata, facts) under DIR; no timing\n"
               "usage: cdxgw-stages --synth SRC --size-kb N --count N --out DIR\n"
               "usage: cdxgw-stages --summary RESULTS.jsonl\n"
               "usage: cdxgw-stages --self-test\n");
}

/* What --synth asks for. */
typedef struct synth_args {
    const char *src, *out;
    int kb, count;
} synth_args_t;

/* Reads the options into opt, *xsd and *sy.  Returns -1 to go on, else
 * the exit status (a --self-test, --help or --summary already ran). */
static int parse_args(int argc, char **argv, const char **xsd, synth_args_t *sy)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v != NULL && ++i)
        if (strcmp(a, "--self-test") == 0) {
            cdx_xml_global_init();
            return self_test();
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--no-registry") == 0) {
            opt.no_registry = 1;
        } else if (strcmp(a, "--cpu") == 0) {
            opt.cpu_clock = 1;
        } else if (OPT("--summary")) {
            return summary(v);
        } else if (OPT("--set")) {
            const char *eq = strchr(v, '=');
            if (eq == NULL || opt.nsets == MAX_SETS) {
                usage(stderr);
                return 2;
            }
            docset_t *s = &opt.sets[opt.nsets++];
            s->name = strndup(v, (size_t)(eq - v));
            s->dir = eq + 1;
        } else if (OPT("--mappings")) {
            opt.mappings = v;
        } else if (OPT("--xsd")) {
            *xsd = v;
        } else if (OPT("--min-time")) {
            opt.min_time = atof(v);
        } else if (OPT("--commits")) {
            opt.commits = atoi(v);
        } else if (OPT("--group")) {
            opt.group = atoi(v);
        } else if (OPT("--tmp")) {
            opt.tmp = v;
        } else if (OPT("--json")) {
            opt.json_out = v;
        } else if (OPT("--only")) {
            opt.only = v;
        } else if (OPT("--dump")) {
            opt.dump = v;
        } else if (OPT("--list")) {
            opt.list_out = v;
        } else if (OPT("--synth")) {
            sy->src = v;
        } else if (OPT("--size-kb")) {
            sy->kb = atoi(v);
        } else if (OPT("--count")) {
            sy->count = atoi(v);
        } else if (OPT("--out")) {
            sy->out = v;
        } else {
            fprintf(stderr, "cdxgw-stages: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
#undef OPT
    }
    return -1;
}

/* Measures every document set with the stages and the registry. */
static int run_sets(void)
{
    ctx_t c = {0};
    char err[1024];
    cdx_pipeline_options_t po = {.mappings_dir = opt.mappings, .xsd_path = opt.xsd};
    char profiles[4096];
    snprintf(profiles, sizeof profiles, "%s/profiles", opt.mappings);
    if (cdx_pipeline_new(&po, &c.pipeline, err, sizeof err) != 0 ||
        cdx_validator_new(profiles, opt.xsd, &c.validator, err, sizeof err) != 0 ||
        cdx_mappings_load(opt.mappings, &c.mappings, err, sizeof err) != 0) {
        fprintf(stderr, "cdxgw-stages: set-up: %s\n", err);
        return 2;
    }
    cdx_xml_seal();
    if (opt.dump != NULL) {
        int drc = dump_sets(c.pipeline, c.mappings);
        cdx_pipeline_free(c.pipeline);
        cdx_validator_free(c.validator);
        cdx_mappings_free(c.mappings);
        return drc;
    }
    printf("cdxgw-stages: one thread, min %.1f s (%s clock) per stage; schema %s; mappings %s\n",
           opt.min_time, opt.cpu_clock ? "CPU" : "wall", opt.xsd ? opt.xsd : "none", opt.mappings);

    /* The disk's own ceiling is measured first, after a sync, so that the
     * write-back of the stage runs' databases cannot slow its flushes. */
    if (!opt.no_registry && wanted_stage("sqlite_commit")) {
        sync();
        printf("\ndisk: SQLite alone, WAL, synchronous=FULL, 200-byte rows\n");
        result_t r = time_sqlite(1);
        r.note = "one row per commit";
        emit(&r);
        r = time_sqlite(100);
        r.note = "100 rows per commit";
        emit(&r);
    }
    for (size_t i = 0; i < opt.nsets; i++) {
        walk(&opt.sets[i], opt.sets[i].dir);
        if (i == 0 && opt.list_out != NULL) {
            FILE *lf = fopen(opt.list_out, "w");
            for (size_t j = 0; lf != NULL && j < opt.sets[i].n; j++)
                fprintf(lf, "%s\n", opt.sets[i].d[j].path);
            if (lf != NULL)
                fclose(lf);
        }
        bench_set(&opt.sets[i], &c);
    }
    cdx_pipeline_free(c.pipeline);
    cdx_validator_free(c.validator);
    cdx_mappings_free(c.mappings);
    if (opt.json)
        fclose(opt.json);
    return 0;
}

int main(int argc, char **argv)
{
    /* The allocator as cdxgw's main sets it up (gateway/cmd/main.c), so
     * that the stages cost here what they cost in the gateway; without
     * it glibc's fastbins add malloc_consolidate to every large request.
     * CDX_BENCH_GLIBC_DEFAULTS=1 measures glibc's defaults instead. */
    const char *glibc_defaults = getenv("CDX_BENCH_GLIBC_DEFAULTS");
    if (glibc_defaults == NULL || strcmp(glibc_defaults, "1") != 0) {
        mallopt(M_MXFAST, 0);
        mallopt(M_MMAP_THRESHOLD, 1 << 20);
        mallopt(M_TRIM_THRESHOLD, 8 << 20);
    }
    opt.min_time = 1.0;
    opt.group = 32;
    opt.commits = 200;
    opt.mappings = CDX_BENCH_SOURCE_DIR "/mappings";
    opt.tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    const char *xsd = CDX_BENCH_SOURCE_DIR "/../shared/corpus/schema/cda-r2-sdtc/CDA.xsd";
    synth_args_t sy = {.count = 1};
    int rc = parse_args(argc, argv, &xsd, &sy);
    if (rc >= 0)
        return rc;
    cdx_xml_global_init();
    if (sy.src != NULL) {
        if (sy.kb <= 0 || sy.count <= 0 || sy.out == NULL) {
            usage(stderr);
            return 2;
        }
        return synth(sy.src, sy.kb, sy.count, sy.out);
    }
    if (opt.group < 1 || opt.min_time < 0) {
        usage(stderr);
        return 2;
    }
    if (opt.nsets == 0) {
        opt.sets[0].name = "corpus";
        opt.sets[0].dir = CDX_BENCH_SOURCE_DIR "/../shared/corpus/ccda";
        opt.nsets = 1;
    }
    struct stat st;
    opt.xsd = strcmp(xsd, "none") != 0 && stat(xsd, &st) == 0 ? xsd : NULL;
    if (opt.json_out != NULL && (opt.json = fopen(opt.json_out, "a")) == NULL) {
        fprintf(stderr, "cdxgw-stages: cannot append to %s\n", opt.json_out);
        return 2;
    }

    return run_sets();
}
