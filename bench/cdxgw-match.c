/*
 * cdxgw-match: the demographic matching benchmark.
 *
 * Builds the generator's population with planted truth in memory
 * (samples/gen/gen_population.c: persons held by several institutions
 * under their own ids, with typos, romanized names, moves, new phones,
 * birth-date slips, twins and namesakes), then ingests every record in a
 * shuffled order the way the patient index does: match keys
 * (cdx_demog_from), blocking keys, the candidates that share one, the
 * score of each (cdx_match_score), and the verdict of the best one against
 * the two thresholds.  A record is linked automatically to its best
 * candidate's person at or above the link threshold.
 *
 * Reports, against the planted truth: precision and recall of the
 * automatic links (a record "should link" when an earlier record of its
 * person is registered), the share of records sent to review, how many
 * candidates a record is compared with (early and late in the run, to
 * show the cost does not grow with the registry), blocking recall, and
 * the matching cost per record in microseconds; with --sweep, precision
 * and recall at each link threshold.  --check exits 1 when precision or
 * recall fall below the targets (0.995 and 0.95), for the ctest smoke.
 *
 *   cdxgw-match [--persons 100000] [--seed 1] [--link X] [--review Y]
 *               [--sweep] [--check] [--misses N] [--json FILE]
 */
#include "gen.h"

#include "cdx/base/common.h"
#include "cdx/domain/match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct rec {
    cdx_demog_t d;
    uint32_t person;
    uint16_t variations;
    uint8_t relation;
} rec_t;

/* ---- Blocking index: key hash → records, chained ----------------------------------------- */

typedef struct node {
    uint64_t h;
    uint32_t rec, next;
} node_t;

typedef struct index {
    uint32_t *head; /* 1-based node numbers, 0 = empty */
    size_t mask;
    node_t *nodes;
    size_t n, cap;
} index_t;

static uint64_t fnv(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static int index_add(index_t *ix, uint64_t h, uint32_t rec)
{
    if (ix->n == ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 1u << 16;
        node_t *g = realloc(ix->nodes, cap * sizeof *g);
        if (g == NULL)
            return -1;
        ix->nodes = g;
        ix->cap = cap;
    }
    size_t b = h & ix->mask;
    ix->nodes[ix->n] = (node_t){h, rec, ix->head[b]};
    ix->head[b] = (uint32_t)++ix->n;
    return 0;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* ---- Options and results ----------------------------------------------------------------- */

typedef struct opts {
    unsigned long persons;
    uint64_t seed;
    cdx_match_thresholds_t t;
    int sweep, check;
    unsigned long misses; /* print this many missed or false links */
    const char *json;     /* append a JSON line of the results */
} opts_t;

typedef struct outcome {
    double best;     /* best score, -1e9 when no candidate */
    uint8_t should;  /* an earlier record of the person is registered */
    uint8_t correct; /* the best candidate is the same person */
    uint8_t blocked; /* a record of the same person was among the candidates */
} outcome_t;

static int parse(int argc, char **argv, opts_t *o)
{
    *o = (opts_t){.persons = 100000, .seed = 1, .t = cdx_match_default_thresholds};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--sweep") == 0)
            o->sweep = 1;
        else if (strcmp(a, "--check") == 0)
            o->check = 1;
        else if (v && strcmp(a, "--persons") == 0 && ++i)
            o->persons = strtoul(v, NULL, 10);
        else if (v && strcmp(a, "--seed") == 0 && ++i)
            o->seed = strtoull(v, NULL, 10);
        else if (v && strcmp(a, "--link") == 0 && ++i)
            o->t.link = strtod(v, NULL);
        else if (v && strcmp(a, "--review") == 0 && ++i)
            o->t.review = strtod(v, NULL);
        else if (v && strcmp(a, "--misses") == 0 && ++i)
            o->misses = strtoul(v, NULL, 10);
        else if (v && strcmp(a, "--json") == 0 && ++i)
            o->json = v;
        else {
            fprintf(stderr, "usage: cdxgw-match [--persons N] [--seed N] [--link X] [--review Y] "
                            "[--sweep] [--check] [--misses N] [--json FILE]\n");
            return -1;
        }
    }
    return o->persons > 0 && o->persons < 4000000 ? 0 : -1;
}

static double demog_us; /* time spent in cdx_demog_from */

/* Every record of the population, with its match keys. */
static rec_t *population(const opts_t *o, size_t *nrec)
{
    size_t cap = o->persons * 3 + 16, n = 0;
    rec_t *recs = malloc(cap * sizeof *recs);
    if (recs == NULL)
        return NULL;
    for (unsigned long pi = 0; pi < o->persons; pi++) {
        pop_record_t pr[POP_MAX_RECORDS];
        size_t k = pop_person_records(o->seed, pi, pr);
        for (size_t j = 0; j < k; j++) {
            if (n == cap) {
                cap *= 2;
                rec_t *g = realloc(recs, cap * sizeof *g);
                if (g == NULL) {
                    free(recs);
                    return NULL;
                }
                recs = g;
            }
            const patient_t *p = &pr[j].p;
            char birth[16], sex[2] = {p->sex, 0};
            snprintf(birth, sizeof birth, "%04d%02d%02d", p->by, p->bm, p->bd);
            const char *given[1] = {p->given};
            cdx_demog_input_t in = {.family = p->family,
                                    .given = given,
                                    .ngiven = 1,
                                    .birth = birth,
                                    .gender = sex,
                                    .street = p->street,
                                    .city = p->city,
                                    .postal = p->zip,
                                    .phone = p->tel};
            rec_t *r = &recs[n++];
            memset(r, 0, sizeof *r);
            double t0 = now_us();
            cdx_demog_from(&in, &r->d);
            demog_us += now_us() - t0;
            r->person = (uint32_t)pi;
            r->variations = (uint16_t)pr[j].variations;
            r->relation = (uint8_t)pr[j].relation;
        }
    }
    *nrec = n;
    return recs;
}

static void show(const char *what, const rec_t *a, const rec_t *b, const cdx_match_score_t *s)
{
    char json[1024];
    cdx_match_score_json(s, json, sizeof json);
    printf("  %s (var %#x rel %d / var %#x rel %d)\n    %s|%s|%s|%c|%s|%s|%s\n    "
           "%s|%s|%s|%c|%s|%s|%s\n"
           "    %s\n",
           what, a->variations, a->relation, b->variations, b->relation, a->d.family, a->d.given,
           a->d.birth, a->d.sex ? a->d.sex : '-', a->d.postal, a->d.address, a->d.phone,
           b->d.family, b->d.given, b->d.birth, b->d.sex ? b->d.sex : '-', b->d.postal,
           b->d.address, b->d.phone, json);
}

typedef struct totals {
    double us;
    unsigned long miss_bits[10], misses, miss_twin, miss_namesake;
    unsigned long false_twin, false_namesake, false_links;
    unsigned long long per_key[26]; /* records found per key kind (its first letter) */
    unsigned long long cands, cands_first, cands_last;
    size_t n_first, n_last, max_cands;
} totals_t;

/* Counts a false link (and whether it joined twins or namesakes) or a
 * missed one (and what its records had changed). */
static void account(const opts_t *o, const rec_t *r, const rec_t *b, const rec_t *tr,
                    const outcome_t *oc, totals_t *tot)
{
    if (oc->best >= o->t.link && !oc->correct) {
        /* A false link: between twins or namesakes (persons next to each other)? */
        const rec_t *later = b->person > r->person ? b : r;
        int next = b->person + 1 == r->person || r->person + 1 == b->person;
        tot->false_links++;
        tot->false_twin += next && later->relation == POP_TWIN;
        tot->false_namesake += next && later->relation == POP_NAMESAKE;
    }
    if (oc->should && !(oc->best >= o->t.link && oc->correct)) {
        /* What the record and its closest true candidate had changed. */
        unsigned bits = r->variations | (tr ? tr->variations : 0);
        for (int k = 0; k < 10; k++)
            tot->miss_bits[k] += (bits >> k) & 1;
        tot->misses++;
        tot->miss_twin += r->relation == POP_TWIN;
        tot->miss_namesake += r->relation == POP_NAMESAKE;
    }
}

/* Ingests recs in the order ord; fills out[] per position. */
static int ingest(const opts_t *o, const rec_t *recs, size_t n, const uint32_t *ord, outcome_t *out,
                  totals_t *tot)
{
    index_t ix = {0};
    size_t buckets = 1;
    while (buckets < n * 4)
        buckets <<= 1;
    ix.head = calloc(buckets, sizeof *ix.head);
    ix.mask = buckets - 1;
    uint32_t *seen = calloc(n, sizeof *seen);
    uint32_t *per_person = calloc(o->persons, sizeof *per_person);
    uint32_t *cand = malloc(n * sizeof *cand);
    uint32_t *first = malloc(o->persons * sizeof *first); /* a registered record per person */
    if (!ix.head || !seen || !per_person || !cand || !first)
        return -1;
    unsigned long printed = 0;
    for (size_t i = 0; i < n; i++) {
        const rec_t *r = &recs[ord[i]];
        double t0 = now_us();
        /* What the index does per new record: keys, candidates, scores. */
        char keys[CDX_DEMOG_MAX_BLOCKS][CDX_DEMOG_BLOCK_LEN];
        size_t nk = cdx_demog_block_keys(&r->d, keys), nc = 0;
        uint64_t hs[CDX_DEMOG_MAX_BLOCKS];
        for (size_t k = 0; k < nk; k++) {
            hs[k] = fnv(keys[k]);
            for (uint32_t x = ix.head[hs[k] & ix.mask]; x; x = ix.nodes[x - 1].next) {
                const node_t *nd = &ix.nodes[x - 1];
                if (nd->h == hs[k] && keys[k][0] >= 'a' && keys[k][0] <= 'z')
                    tot->per_key[keys[k][0] - 'a']++;
                if (nd->h == hs[k] && seen[nd->rec] != i + 1) {
                    seen[nd->rec] = (uint32_t)(i + 1);
                    cand[nc++] = nd->rec;
                }
            }
        }
        double best = -1e9, best_true = -1e9;
        uint32_t best_rec = 0, true_rec = UINT32_MAX;
        int blocked = 0;
        cdx_match_score_t s;
        for (size_t c = 0; c < nc; c++) {
            cdx_match_score(&r->d, &recs[cand[c]].d, &s);
            if (s.total > best) {
                best = s.total;
                best_rec = cand[c];
            }
            if (recs[cand[c]].person == r->person) {
                blocked = 1;
                if (s.total > best_true) {
                    best_true = s.total;
                    true_rec = cand[c];
                }
            }
        }
        for (size_t k = 0; k < nk; k++)
            if (index_add(&ix, hs[k], ord[i]) != 0)
                return -1;
        tot->us += now_us() - t0;
        tot->cands += nc;
        tot->max_cands = nc > tot->max_cands ? nc : tot->max_cands;
        if (i < n / 10) {
            tot->cands_first += nc;
            tot->n_first++;
        } else if (i >= n - n / 10) {
            tot->cands_last += nc;
            tot->n_last++;
        }
        outcome_t *oc = &out[i];
        oc->best = best;
        oc->should = per_person[r->person] > 0;
        oc->correct = nc > 0 && recs[best_rec].person == r->person;
        oc->blocked = (uint8_t)blocked;
        if (per_person[r->person]++ == 0)
            first[r->person] = ord[i];
        if (printed < o->misses && oc->should && !blocked) {
            cdx_match_score(&r->d, &recs[first[r->person]].d, &s);
            show("not blocked together", r, &recs[first[r->person]], &s);
            printed++;
        }
        account(o, r, &recs[best_rec], true_rec == UINT32_MAX ? NULL : &recs[true_rec], oc, tot);
        if (printed < o->misses && nc > 0 &&
            ((best >= o->t.link && !oc->correct) || (oc->should && best < o->t.link))) {
            cdx_match_score(&r->d, &recs[best_rec].d, &s);
            show(oc->correct         ? "missed link"
                 : best >= o->t.link ? "false link"
                                     : "no link",
                 r, &recs[best_rec], &s);
            printed++;
        }
    }
    free(ix.head);
    free(ix.nodes);
    free(seen);
    free(per_person);
    free(cand);
    free(first);
    return 0;
}

typedef struct rates {
    unsigned long should, links, correct, review, review_true, blocked;
    double precision, recall, review_rate;
} rates_t;

static rates_t rates(const outcome_t *out, size_t n, cdx_match_thresholds_t t)
{
    rates_t r = {0};
    for (size_t i = 0; i < n; i++) {
        r.should += out[i].should;
        r.blocked += out[i].should && out[i].blocked;
        if (out[i].best >= t.link) {
            r.links++;
            r.correct += out[i].correct;
        } else if (out[i].best >= t.review) {
            r.review++;
            r.review_true += out[i].correct;
        }
    }
    r.precision = r.links ? (double)r.correct / (double)r.links : 1.0;
    r.recall = r.should ? (double)r.correct / (double)r.should : 1.0;
    r.review_rate = n ? (double)r.review / (double)n : 0;
    return r;
}

int main(int argc, char **argv)
{
    opts_t o;
    if (parse(argc, argv, &o) != 0)
        return 2;
    double g0 = now_us();
    size_t n = 0;
    rec_t *recs = population(&o, &n);
    if (recs == NULL)
        return 1;
    double gen_ms = (now_us() - g0) / 1e3;
    /* A shuffled arrival order (Fisher-Yates on the seed). */
    uint32_t *ord = malloc(n * sizeof *ord);
    outcome_t *out = calloc(n, sizeof *out);
    if (!ord || !out)
        return 1;
    for (size_t i = 0; i < n; i++)
        ord[i] = (uint32_t)i;
    rng_t rg = {mix(o.seed, 0x5A0FFull)};
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(next_u64(&rg) % (i + 1));
        uint32_t t = ord[i];
        ord[i] = ord[j];
        ord[j] = t;
    }
    totals_t tot = {0};
    if (ingest(&o, recs, n, ord, out, &tot) != 0)
        return 1;
    rates_t r = rates(out, n, o.t);
    printf("persons %lu, records %zu (generated in %.0f ms), seed %llu\n", o.persons, n, gen_ms,
           (unsigned long long)o.seed);
    printf("thresholds: link %.1f, review %.1f\n", o.t.link, o.t.review);
    printf("records that should link: %lu; automatic links: %lu, correct %lu\n", r.should, r.links,
           r.correct);
    printf("precision %.4f  recall %.4f  review %.4f of records (%lu, of which best is the "
           "same person: %lu)\n",
           r.precision, r.recall, r.review_rate, r.review, r.review_true);
    printf("blocking recall %.4f (a record of the same person among the candidates)\n",
           r.should ? (double)r.blocked / (double)r.should : 1.0);
    printf("candidates per record: %.2f mean, %zu max; first 10%% of arrivals %.2f, last 10%% "
           "%.2f\n",
           (double)tot.cands / (double)n, tot.max_cands,
           tot.n_first ? (double)tot.cands_first / (double)tot.n_first : 0,
           tot.n_last ? (double)tot.cands_last / (double)tot.n_last : 0);
    printf("matching cost: %.2f us per record: match keys %.2f, then blocking, scoring and "
           "registering %.2f\n",
           (demog_us + tot.us) / (double)n, demog_us / (double)n, tot.us / (double)n);
    printf("records found per blocking key kind and record:");
    for (int k = 0; k < 26; k++)
        if (tot.per_key[k])
            printf(" %c %.2f", 'a' + k, (double)tot.per_key[k] / (double)n);
    printf("\n");
    printf("false links: %lu, between twins %lu, between namesakes %lu\n", tot.false_links,
           tot.false_twin, tot.false_namesake);
    static const char *const bit_names[] = {"romanized",  "typo",      "swapped",
                                            "no address", "moved",     "no phone",
                                            "new phone",  "birth d/m", "birth digit"};
    printf("missed links: %lu; the record or its closest true candidate had:", tot.misses);
    for (int b = 0; b < 9; b++)
        printf(" %s %lu,", bit_names[b], tot.miss_bits[b]);
    printf(" (twins %lu, namesakes %lu)\n", tot.miss_twin, tot.miss_namesake);
    if (o.sweep) {
        printf("\nlink threshold  precision  recall   links\n");
        for (double l = 10; l <= 34.01; l += 1) {
            rates_t s = rates(out, n, (cdx_match_thresholds_t){.link = l, .review = o.t.review});
            printf("%14.1f  %9.4f  %6.4f  %6lu\n", l, s.precision, s.recall, s.links);
        }
    }
    FILE *jf = o.json ? fopen(o.json, "a") : NULL;
    if (jf != NULL) {
        fprintf(jf,
                "{\"tool\":\"match\",\"persons\":%lu,\"records\":%zu,\"link\":%.1f,"
                "\"review\":%.1f,\"precision\":%.4f,\"recall\":%.4f,\"review_rate\":%.4f,"
                "\"candidates_per_record\":%.2f,\"us_per_record\":%.2f}\n",
                o.persons, n, o.t.link, o.t.review, r.precision, r.recall, r.review_rate,
                (double)tot.cands / (double)n, (demog_us + tot.us) / (double)n);
        fclose(jf);
    }
    int rc = 0;
    if (o.check && (r.precision < 0.995 || r.recall < 0.95)) {
        fprintf(stderr, "cdxgw-match: below target (precision %.4f, recall %.4f)\n", r.precision,
                r.recall);
        rc = 1;
    }
    free(recs);
    free(ord);
    free(out);
    return rc;
}
