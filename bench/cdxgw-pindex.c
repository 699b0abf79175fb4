/*
 * cdxgw-pindex: the patient index through the registry, as the writer
 * thread runs it.
 *
 * Builds the generator's population with planted truth
 * (samples/gen/gen_population.c), shuffles its records, and stores each
 * as a document through cdx_registry_store_document into a fresh registry
 * (one transaction per batch of 256, one savepoint per document, as the
 * writer groups them), with its match keys and blocking keys computed
 * beforehand as the worker threads do.  With --no-match the same
 * documents are stored without demographics, for the cost of matching by
 * difference.
 *
 * Reports the store time per document (the first and the last fifth of
 * the run, to show whether it grows with the registry), and, against the
 * planted truth, the pairwise precision and recall of the persons the
 * registry ends with (two records are "linked" when the registry puts
 * them in one person) and the reviews recorded.
 *
 *   cdxgw-pindex [--persons 20000] [--seed 1] [--no-match] [--db PATH]
 */
#include "gen.h"

#include "cdx/base/common.h"
#include "cdx/domain/match.h"
#include "cdx/store/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INST "2.25.4242"
#define BATCH 256

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

typedef struct rec {
    cdx_demog_t d;
    char blocks[CDX_DEMOG_MAX_BLOCKS][CDX_DEMOG_BLOCK_LEN];
    size_t nblocks;
    int usable;
    uint32_t person;
    char ext[32];
} rec_t;

static rec_t *population(unsigned long persons, uint64_t seed, size_t *nrec)
{
    size_t cap = persons * POP_MAX_RECORDS, n = 0;
    rec_t *recs = calloc(cap, sizeof *recs);
    if (recs == NULL)
        return NULL;
    for (unsigned long pi = 0; pi < persons; pi++) {
        pop_record_t pr[POP_MAX_RECORDS];
        size_t k = pop_person_records(seed, pi, pr);
        for (size_t j = 0; j < k; j++) {
            const patient_t *p = &pr[j].p;
            char birth[16], sex[2] = {p->sex, 0};
            snprintf(birth, sizeof birth, "%04d%02d%02d", p->by, p->bm, p->bd);
            const char *given[1] = {p->given};
            cdx_demog_input_t in = {.family = p->family, .given = given, .ngiven = 1,
                                    .birth = birth, .gender = sex, .street = p->street,
                                    .city = p->city, .postal = p->zip, .phone = p->tel};
            rec_t *r = &recs[n];
            r->usable = cdx_demog_from(&in, &r->d) == 0;
            r->nblocks = r->usable ? cdx_demog_block_keys(&r->d, r->blocks) : 0;
            r->person = (uint32_t)pi;
            snprintf(r->ext, sizeof r->ext, "R%zu", n);
            n++;
        }
    }
    *nrec = n;
    return recs;
}

/* Pairs within groups: sum of C(size, 2) over runs of equal keys in a
 * sorted array of (a, b) pairs, by a alone or by (a, b). */
typedef struct pair {
    int64_t a, b;
} pair_t;

static int by_ab(const void *x, const void *y)
{
    const pair_t *p = x, *q = y;
    if (p->a != q->a)
        return p->a < q->a ? -1 : 1;
    return p->b < q->b ? -1 : p->b > q->b;
}

static double pairs(const pair_t *v, size_t n, int both)
{
    double total = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && v[j].a == v[i].a && (!both || v[j].b == v[i].b))
            j++;
        double k = (double)(j - i);
        total += k * (k - 1) / 2;
        i = j;
    }
    return total;
}

static int store_one(cdx_registry_t *reg, const rec_t *r, size_t i, int match)
{
    char uid[64], sha[32], doc_uid[33];
    snprintf(uid, sizeof uid, INST ".2^D%zu", i);
    snprintf(sha, sizeof sha, "sha-%zu", i);
    const char *ids[] = {INST ".1", r->ext};
    cdx_patient_match_t m = {.demog = &r->d, .blocks = (const char(*)[64])r->blocks,
                             .nblocks = r->nblocks, .summary_json = "{}"};
    cdx_doc_record_t rec = {.unique_id = uid, .version = 1, .submitter_oid = INST,
                            .custodian_oid = INST, .patient_root = ids[0],
                            .patient_ext = r->ext, .patient_ids = ids, .npatient_ids = 1,
                            .patient_key = "0123456789abcdef0123456789abcdef", .sha256 = sha,
                            .original = "<x/>", .size = 4, .meta_json = "{}",
                            .facts_json = "{}", .match = match && r->usable ? &m : NULL};
    cdx_audit_event_t ev = {.event = "document.ingest", .actor_oid = INST, .detail = "bench"};
    cdx_store_outcome_t outcome;
    int rc = cdx_registry_savepoint(reg);
    if (rc == 0)
        rc = cdx_registry_store_document(reg, &rec, &ev, &outcome, doc_uid);
    if (rc == 0)
        rc = cdx_registry_release(reg);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned long persons = 20000;
    uint64_t seed = 1;
    int match = 1;
    const char *db = "cdxgw-pindex.db";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-match") == 0)
            match = 0;
        else if (strcmp(argv[i], "--persons") == 0 && i + 1 < argc)
            persons = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
            db = argv[++i];
        else {
            fprintf(stderr, "usage: cdxgw-pindex [--persons N] [--seed N] [--no-match] "
                            "[--db PATH]\n");
            return 2;
        }
    }
    size_t n = 0;
    rec_t *recs = population(persons, seed, &n);
    uint32_t *ord = malloc(n * sizeof *ord);
    if (recs == NULL || ord == NULL || n < 10)
        return 1;
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++)
        ord[i] = (uint32_t)i;
    for (size_t i = n - 1; i > 0; i--) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        size_t j = (size_t)((s >> 33) % (i + 1));
        uint32_t t = ord[i];
        ord[i] = ord[j];
        ord[j] = t;
    }
    char err[512];
    remove(db);
    cdx_registry_t *reg = NULL;
    if (cdx_registry_open(db, &reg, err, sizeof err) != 0) {
        fprintf(stderr, "cdxgw-pindex: %s\n", err);
        return 1;
    }
    cdx_registry_manual_checkpoints(reg);
    cdx_institution_t inst = {.oid = INST, .name = "bench", .roles = CDX_ROLE_SUBMIT};
    int rc = cdx_registry_put_institution(reg, &inst, "bench");
    double fifth[5] = {0}, t_all = now_us();
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i % BATCH == 0)
            rc = cdx_registry_begin(reg);
        double t0 = now_us();
        if (rc == 0)
            rc = store_one(reg, &recs[ord[i]], i, match);
        fifth[i * 5 / n] += now_us() - t0;
        if (rc == 0 && (i % BATCH == BATCH - 1 || i == n - 1)) {
            rc = cdx_registry_commit(reg);
            if (rc == 0)
                rc = cdx_registry_checkpoint(reg);
        }
    }
    t_all = now_us() - t_all;
    if (rc != 0) {
        fprintf(stderr, "cdxgw-pindex: %s\n", cdx_registry_errmsg(reg));
        return 1;
    }
    /* Persons the registry ends with, against the truth. */
    pair_t *v = malloc(n * sizeof *v);
    for (size_t i = 0; v != NULL && i < n; i++) {
        int64_t person = 0;
        if (cdx_registry_person_of(reg, INST ".1", recs[i].ext, &person) != 0)
            return 1;
        v[i] = (pair_t){person, recs[i].person};
    }
    if (v == NULL)
        return 1;
    qsort(v, n, sizeof *v, by_ab);
    double predicted = pairs(v, n, 0), tp = pairs(v, n, 1);
    for (size_t i = 0; i < n; i++)
        v[i] = (pair_t){v[i].b, 0};
    qsort(v, n, sizeof *v, by_ab);
    double truth = pairs(v, n, 0);
    printf("records %zu of %lu persons, matching %s\n", n, persons, match ? "on" : "off");
    printf("store: %.1f us/document overall (%.0f documents/s, commits included); "
           "first fifth %.1f us, last fifth %.1f us\n",
           t_all / (double)n, (double)n / (t_all / 1e6), fifth[0] / (double)(n / 5),
           fifth[4] / (double)(n - 4 * (n / 5)));
    if (match)
        printf("pairs: predicted %.0f, true %.0f, correct %.0f: precision %.4f recall %.4f\n",
               predicted, truth, tp, predicted > 0 ? tp / predicted : 1.0,
               truth > 0 ? tp / truth : 1.0);
    free(v);
    free(ord);
    free(recs);
    cdx_registry_close(reg);
    return 0;
}
