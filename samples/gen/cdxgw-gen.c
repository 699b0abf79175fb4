/*
 * cdxgw-gen: a deterministic synthetic population of CDA documents in the
 * three dialects of the demo institutions (Hanbit K-CDA summaries and
 * replies, Dasom EUC-KR referrals, Riverside C-CDA R2.1 CCDs), for load
 * tests and benchmarks.
 *
 * Every patient and every value is made up from built-in lists and a
 * seeded splitmix64 generator; the same arguments always give the same
 * bytes.  Each patient has its own generator state derived from the seed
 * and the patient number, so output does not depend on the order in which
 * patients are written.  Codes come from the shared and per-institution
 * code maps in mappings/, so the documents normalize without MAP-UNMAPPED
 * warnings.
 *
 * Output: DIR/<institution>/<shard>/<document id>.xml, the shard being two
 * hex digits of the patient's hash (256 folders keep directories small at
 * 100,000 patients), plus DIR/manifest.tsv (path, submitting institution
 * OID, patient id root and extension, document id, set id).
 *
 * With --planted-truth FILE the patients are persons of a population
 * with planted truth (gen_population.c): each is held as one or more
 * records by the demo institutions under their own local ids, with the
 * differences real registries show, twins and namesakes; FILE is a CSV of
 * who is who (path, institution, patient id as ROOT|EXT, person number).
 *
 * This file holds the options and the output; the patients are made in
 * gen_people.c and gen_population.c, the documents in gen_doc.c.
 */
#include "gen.h"

#include <errno.h>
#include <iconv.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

typedef struct out {
    const char *dir;
    unsigned char made[INST_COUNT][256];
    int made_inst[INST_COUNT];
    iconv_t euckr;
    char *conv;
    size_t convcap;
    FILE *manifest;
    unsigned long docs;
    unsigned long long bytes;
} out_t;

static int write_bytes(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -errno;
    int rc = fwrite(data, 1, len, f) == len ? 0 : -EIO;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    return rc;
}

static int to_euckr(out_t *o, const char *in, size_t len, const char **res, size_t *reslen)
{
    if (o->convcap < len * 2 + 16) {
        char *grown = realloc(o->conv, len * 2 + 16);
        if (grown == NULL)
            return CDX_ENOMEM;
        o->conv = grown;
        o->convcap = len * 2 + 16;
    }
    iconv(o->euckr, NULL, NULL, NULL, NULL);
    char *ip = (char *)in, *op = o->conv;
    size_t il = len, ol = o->convcap;
    if (iconv(o->euckr, &ip, &il, &op, &ol) == (size_t)-1)
        return CDX_EINVAL;
    *res = o->conv;
    *reslen = o->convcap - ol;
    return 0;
}

static int emit(out_t *o, const patient_t *p, unsigned doc, const char *doc_id, cdx_buf_t *b,
                int bom_crlf)
{
    char path[4096];
    const char *inst = inst_names[p->inst];
    if (!o->made_inst[p->inst] || !o->made[p->inst][p->shard]) {
        snprintf(path, sizeof path, "%s/%s/%02x", o->dir, inst, p->shard);
        int rc = cdx_mkdirs(path, 0755);
        if (rc != 0)
            return rc;
        o->made_inst[p->inst] = 1;
        o->made[p->inst][p->shard] = 1;
    }
    snprintf(path, sizeof path, "%s/%s/%02x/%s.xml", o->dir, inst, p->shard, doc_id);
    const char *data = b->data;
    size_t len = b->len;
    cdx_buf_t alt;
    cdx_buf_init(&alt, DOC_MAX * 2);
    int rc = 0;
    if (p->inst == INST_DASOM && strstr(data, "encoding=\"EUC-KR\"") != NULL) {
        rc = to_euckr(o, data, len, &data, &len);
    } else if (bom_crlf) {
        rc = cdx_buf_append(&alt, "\xEF\xBB\xBF", 3);
        for (size_t i = 0; rc == 0 && i < len; i++)
            rc = data[i] == '\n' ? cdx_buf_append(&alt, "\r\n", 2)
                                 : cdx_buf_append(&alt, &data[i], 1);
        data = alt.data;
        len = alt.len;
    }
    if (rc == 0)
        rc = write_bytes(path, data, len);
    cdx_buf_cleanup(&alt);
    if (rc != 0)
        return rc;
    fprintf(o->manifest, "%s/%02x/%s.xml\t%s\t%s.1\t%s\t%s\n", inst, p->shard, doc_id,
            inst_oids[p->inst], inst_oids[p->inst], p->mrn, doc_id);
    o->docs++;
    o->bytes += len;
    (void)doc;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: cdxgw-gen --seed N --patients N --docs-per-patient N --out DIR\n"
               "                 [--institution hanbit|dasom|riverside|mixed] [--size-kb N]\n"
               "                 [--planted-truth FILE] [--facts FILE]\n"
               "Writes deterministic synthetic CDA documents of fictional patients to\n"
               "DIR/<institution>/<00..ff>/ and a DIR/manifest.tsv.  With --planted-truth,\n"
               "--patients counts persons, each held by one or more institutions under\n"
               "their own ids with realistic differences, and FILE says who is who\n"
               "(CSV: path,institution,patient_id,person).  With --facts, FILE lists the\n"
               "clinical facts planted in each document (TSV: document id, kind, code\n"
               "system, code, value, unit), codes as the gateway stores them.\n");
}

static int parse_ulong(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > max || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

/* What the command line asks for. */
typedef struct options {
    unsigned long long seed, patients, per, size_kb;
    const char *dir;
    int inst;
    const char *truth; /* --planted-truth */
    const char *facts; /* --facts */
} options_t;

/* Reads the options into *opt.  Returns the exit status to stop with
 * (0 after --help, 2 after a usage message), or -1 to go on. */
static int parse_args(int argc, char **argv, options_t *opt)
{
    int have_seed = 0, have_patients = 0;
    *opt = (options_t){.seed = 1, .per = 1, .inst = INST_MIXED};
    /* Options come in pairs: each step consumes a flag and its value. */
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (v == NULL) {
            bad = 1;
        } else if (strcmp(a, "--seed") == 0) {
            bad = parse_ulong(v, UINT64_MAX, &opt->seed);
            have_seed = 1;
        } else if (strcmp(a, "--patients") == 0) {
            bad = parse_ulong(v, 100000000ull, &opt->patients);
            have_patients = 1;
        } else if (strcmp(a, "--docs-per-patient") == 0) {
            bad = parse_ulong(v, 10000ull, &opt->per) || opt->per == 0;
        } else if (strcmp(a, "--size-kb") == 0) {
            bad = parse_ulong(v, 60000ull, &opt->size_kb);
        } else if (strcmp(a, "--out") == 0) {
            opt->dir = v;
        } else if (strcmp(a, "--planted-truth") == 0) {
            opt->truth = v;
        } else if (strcmp(a, "--facts") == 0) {
            opt->facts = v;
        } else if (strcmp(a, "--institution") == 0) {
            opt->inst = -1;
            for (int k = 0; k < INST_COUNT; k++)
                if (strcmp(v, inst_names[k]) == 0)
                    opt->inst = k;
            if (strcmp(v, "mixed") == 0)
                opt->inst = INST_MIXED;
            bad = opt->inst < 0;
        } else {
            bad = 1;
        }
        if (bad) {
            fprintf(stderr, "cdxgw-gen: bad or missing value for %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (opt->dir == NULL || !have_seed || !have_patients) {
        usage(stderr);
        return 2;
    }
    return -1;
}

/* Writes the per documents of patient p; with truth, one line of who is
 * who per document.  Returns 0, or -1 after a message. */
static int write_patient(out_t *o, const patient_t *p, unsigned long long per,
                         unsigned long long size_kb, uint64_t seed, cdx_buf_t *b, FILE *truth,
                         unsigned long person)
{
    for (unsigned d = 0; d < per; d++) {
        cdx_buf_reset(b);
        if (build_doc(p, d, (size_t)size_kb, seed, b) != 0) {
            fprintf(stderr, "cdxgw-gen: document too large\n");
            return -1;
        }
        /* The document id sits in the header; rebuild it for naming. */
        char doc_id[64];
        snprintf(doc_id, sizeof doc_id, "G%" PRIu64 "-%lu-%u", seed % 1000000, p->index, d);
        int bom_crlf = p->inst == INST_DASOM && d % 4 == 3;
        int erc = emit(o, p, d, doc_id, b, bom_crlf);
        if (erc != 0) {
            fprintf(stderr, "cdxgw-gen: writing %s: %s\n", doc_id, cdx_strerror(erc));
            return -1;
        }
        if (truth != NULL)
            fprintf(truth, "%s/%02x/%s.xml,%s,%s.1|%s,%lu\n", inst_names[p->inst], p->shard, doc_id,
                    inst_names[p->inst], inst_oids[p->inst], p->mrn, person);
    }
    return 0;
}

int cdx_gen_main(int argc, char **argv);

/* The whole program; main() calls it, and tests call it in-process. */
int cdx_gen_main(int argc, char **argv)
{
    options_t opt;
    int status = parse_args(argc, argv, &opt);
    if (status >= 0)
        return status;
    unsigned long long seed = opt.seed, patients = opt.patients, per = opt.per;
    unsigned long long size_kb = opt.size_kb;
    const char *dir = opt.dir;
    int inst = opt.inst;
    int rc = 1;
    FILE *truth = NULL;
    out_t o;
    memset(&o, 0, sizeof o);
    o.dir = dir;
    o.euckr = iconv_open("EUC-KR", "UTF-8");
    cdx_buf_t b;
    cdx_buf_init(&b, DOC_MAX);
    char mpath[4096];
    snprintf(mpath, sizeof mpath, "%s/manifest.tsv", dir);
    if (o.euckr == (iconv_t)-1) {
        fprintf(stderr, "cdxgw-gen: iconv has no EUC-KR\n");
        goto out;
    }
    if (cdx_mkdirs(dir, 0755) != 0 || (o.manifest = fopen(mpath, "w")) == NULL) {
        fprintf(stderr, "cdxgw-gen: cannot write to %s: %s\n", dir, strerror(errno));
        goto out;
    }
    fprintf(o.manifest, "# path\tinstitution_oid\tpatient_id_root\tpatient_id\tdocument_id\n");
    if (opt.truth != NULL) {
        if ((truth = fopen(opt.truth, "w")) == NULL) {
            fprintf(stderr, "cdxgw-gen: cannot write %s: %s\n", opt.truth, strerror(errno));
            goto out;
        }
        fprintf(truth, "path,institution,patient_id,person\n");
    }
    if (opt.facts != NULL) {
        if ((gen_facts = fopen(opt.facts, "w")) == NULL) {
            fprintf(stderr, "cdxgw-gen: cannot write %s: %s\n", opt.facts, strerror(errno));
            goto out;
        }
        fprintf(gen_facts, "# document_id\tkind\tsystem\tcode\tvalue\tunit\n");
    }
    uint64_t t0 = cdx_now_ms();
    for (unsigned long pi = 0; pi < patients; pi++) {
        pop_record_t recs[POP_MAX_RECORDS];
        size_t nrec = 1;
        if (truth != NULL)
            nrec = pop_person_records(seed, pi, recs);
        else
            make_patient(seed, pi, inst, &recs[0].p);
        for (size_t k = 0; k < nrec; k++)
            if (write_patient(&o, &recs[k].p, per, size_kb, seed, &b, truth, pi) != 0)
                goto out;
    }
    uint64_t ms = cdx_now_ms() - t0;
    fprintf(stderr, "cdxgw-gen: %lu documents, %llu bytes in %llu ms (%.0f documents/s)\n", o.docs,
            o.bytes, (unsigned long long)ms,
            ms ? (double)o.docs * 1000.0 / (double)ms : (double)o.docs);
    rc = 0;
out:
    if (gen_facts != NULL && fclose(gen_facts) != 0 && rc == 0) {
        fprintf(stderr, "cdxgw-gen: writing %s failed\n", opt.facts);
        rc = 1;
    }
    gen_facts = NULL;
    if (truth != NULL && fclose(truth) != 0 && rc == 0) {
        fprintf(stderr, "cdxgw-gen: writing %s failed\n", opt.truth);
        rc = 1;
    }
    if (o.manifest != NULL && fclose(o.manifest) != 0 && rc == 0) {
        fprintf(stderr, "cdxgw-gen: writing %s failed\n", mpath);
        rc = 1;
    }
    if (o.euckr != (iconv_t)-1)
        iconv_close(o.euckr);
    free(o.conv);
    cdx_buf_cleanup(&b);
    return rc;
}

#ifndef CDXGW_GEN_NO_MAIN
int main(int argc, char **argv)
{
    return cdx_gen_main(argc, argv);
}
#endif
