/* export_run: one research export, person by person (see
 * include/cdx/domain/export_run.h). */
#include "cdx/domain/export_run.h"
#include "cdx/base/common.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROGRESS_EVERY 500

FILE *cdx_export_spool(const char *dir)
{
    const char *d = dir != NULL && dir[0] ? dir : getenv("TMPDIR");
    char path[4096 + 32];
    snprintf(path, sizeof path, "%s/cdxgw-export-XXXXXX", d != NULL && d[0] ? d : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    unlink(path);
    FILE *f = fdopen(fd, "w+b");
    if (f == NULL)
        close(fd);
    return f;
}

/* What one person's facts are written to, as they are read. */
typedef struct person_ctx {
    const cdx_export_spec_t *spec;
    const cdx_export_person_t *p;
    FILE *out;
    FILE *tables[CDX_OMOP_TABLES]; /* the OMOP spools */
    int64_t rows[CDX_OMOP_TABLES];
    int64_t nfacts; /* of this person */
    cdx_export_counts_t *counts;
} person_ctx_t;

static int on_fact(void *arg, const cdx_export_fact_row_t *row)
{
    person_ctx_t *c = arg;
    cdx_export_fact_in_t in = {.kind = row->kind,
                               .system = row->system,
                               .code = row->code,
                               .date = row->date,
                               .end = row->end,
                               .has_value = row->has_value,
                               .value = row->value,
                               .unit = row->unit};
    cdx_export_fact_t f;
    if (cdx_export_fact(&in, c->p, c->spec->mode, &f) != 0) {
        c->counts->dropped++;
        return 0;
    }
    int rc;
    switch (c->spec->format) {
    case CDX_EXPORT_NDJSON:
        rc = cdx_export_ndjson_fact(c->out, &f, c->nfacts == 0);
        break;
    case CDX_EXPORT_CSV:
        rc = cdx_export_csv_fact(c->out, c->p, &f);
        break;
    default: {
        cdx_omop_table_t t = cdx_omop_table_of(f.kind);
        rc = cdx_omop_fact_row(c->tables[t], ++c->rows[t], c->p, &f);
        break;
    }
    }
    c->nfacts++;
    c->counts->facts++;
    return rc;
}

static int one_person(cdx_registry_t *reg, person_ctx_t *c, int64_t person)
{
    const cdx_export_spec_t *s = c->spec;
    int rc = 0;
    c->nfacts = 0;
    if (s->format == CDX_EXPORT_NDJSON)
        rc = cdx_export_ndjson_begin(c->out, c->p);
    else if (s->format == CDX_EXPORT_OMOP)
        rc = cdx_omop_person_row(c->tables[CDX_OMOP_PERSON], c->p);
    if (rc == 0)
        rc = cdx_registry_export_facts(reg, person, on_fact, c);
    if (rc == 0 && s->format == CDX_EXPORT_NDJSON)
        rc = cdx_export_ndjson_end(c->out);
    if (rc == 0)
        c->counts->persons++;
    return rc;
}

/* The OMOP archive: each table's spool as a member, in the CDM's order. */
static int omop_finish(person_ctx_t *c)
{
    for (int t = 0; t < CDX_OMOP_TABLES; t++) {
        int rc = cdx_tar_append(c->out, cdx_omop_file_name((cdx_omop_table_t)t), c->tables[t],
                                c->spec->mtime);
        if (rc != 0)
            return rc;
    }
    return cdx_tar_finish(c->out);
}

int cdx_export_run(cdx_registry_t *reg, const cdx_export_spec_t *spec, FILE *out,
                   cdx_export_counts_t *counts)
{
    const cdx_export_cohort_t *co = spec->cohort;
    memset(counts, 0, sizeof *counts);
    person_ctx_t c = {.spec = spec, .out = out, .counts = counts};
    int rc = 0;
    int32_t *birth = malloc((co->n ? co->n : 1) * sizeof *birth);
    char *sex = malloc(co->n ? co->n : 1);
    if (birth == NULL || sex == NULL)
        rc = CDX_ENOMEM;
    if (rc == 0)
        rc = cdx_registry_export_attrs(reg, co->persons, co->n, birth, sex);
    if (rc == 0 && spec->format == CDX_EXPORT_CSV)
        rc = cdx_export_csv_header(out);
    for (int t = 0; rc == 0 && spec->format == CDX_EXPORT_OMOP && t < CDX_OMOP_TABLES; t++) {
        c.tables[t] = cdx_export_spool(spec->spool_dir);
        rc = c.tables[t] == NULL ? CDX_EIO : cdx_omop_header(c.tables[t], (cdx_omop_table_t)t);
    }
    for (size_t i = 0; rc == 0 && i < co->n; i++) {
        cdx_export_person_t p;
        cdx_export_person(spec->key, co->persons[i], birth[i], sex[i], spec->today, spec->mode,
                          &p);
        c.p = &p;
        rc = one_person(reg, &c, co->persons[i]);
        if (spec->progress != NULL && ((i + 1) % PROGRESS_EVERY == 0 || i + 1 == co->n))
            spec->progress(spec->progress_arg, i + 1, co->n);
    }
    if (rc == 0 && spec->format == CDX_EXPORT_OMOP)
        rc = omop_finish(&c);
    if (rc == 0 && fflush(out) != 0)
        rc = CDX_EIO;
    for (int t = 0; t < CDX_OMOP_TABLES; t++)
        if (c.tables[t] != NULL)
            fclose(c.tables[t]);
    free(birth);
    free(sex);
    return rc;
}
