/* cohort_people: the birth dates and sex of persons, for the age and sex
 * criteria and the breakdown of cohorts (see gateway/store/store_internal.h,
 * cdx_store_cohort_attrs). */
#include "store_internal.h"

#include "cdx/base/common.h"

#include <string.h>

/* Up to this many persons are read one by one; more, in one pass. */
#define PER_PERSON_MAX 20000

static const char SQL_ATTRS_ALL[] =
    "SELECT person_id, birth, sex FROM patients ORDER BY person_id, id";
static const char SQL_ATTRS_ONE[] =
    "SELECT person_id, birth, sex FROM patients INDEXED BY patients_cohort_attrs"
    " WHERE person_id = ?1 ORDER BY id";

void cdx_store_civil_ymd(int32_t z, int32_t *ymd)
{
    /* Howard Hinnant's civil_from_days. */
    z += 719468;
    const int32_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int32_t doe = z - era * 146097;
    const int32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int32_t mp = (5 * doy + 2) / 153;
    const int32_t d = doy - (153 * mp + 2) / 5 + 1;
    const int32_t m = mp < 10 ? mp + 3 : mp - 9;
    *ymd = (yoe + era * 400 + (m <= 2)) * 10000 + m * 100 + d;
}

static int32_t ymd_of(const unsigned char *birth)
{
    if (birth == NULL || strlen((const char *)birth) != 8)
        return 0;
    int32_t v = 0;
    for (int i = 0; i < 8; i++) {
        if (birth[i] < '0' || birth[i] > '9')
            return 0;
        v = v * 10 + (birth[i] - '0');
    }
    return v;
}

/* A person's birth date and sex: those of the first identity that has them. */
typedef struct attrs {
    int32_t birth;
    char sex;
} attrs_t;

static void attrs_add(attrs_t *a, sqlite3_stmt *st)
{
    const unsigned char *sex = sqlite3_column_text(st, 2);
    if (a->birth == 0)
        a->birth = ymd_of(sqlite3_column_text(st, 1));
    if (a->sex == 0 && sex != NULL && (sex[0] == 'M' || sex[0] == 'F'))
        a->sex = (char)sex[0];
}

/* Whether v[0..n) (ascending) holds x, and where. */
static int find(const int64_t *v, size_t n, int64_t x, size_t *at)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return lo < n && v[lo] == x;
}

int cdx_store_cohort_attrs(cdx_registry_t *reg, const int64_t *persons, size_t n, int32_t *birth,
                           char *sex)
{
    /* For many persons, one pass over every identity instead of a read each. */
    int scan = n > PER_PERSON_MAX;
    sqlite3_stmt *st = NULL;
    int rc = scan ? cdx_store_stmt_get(reg, STMT_COHORT_ATTRS_ALL, SQL_ATTRS_ALL, &st)
                  : cdx_store_stmt_get(reg, STMT_COHORT_ATTRS_ONE, SQL_ATTRS_ONE, &st);
    if (rc != 0)
        return rc;
    int src = SQLITE_OK;
    if (scan) {
        attrs_t a = {0};
        int64_t cur = -1;
        size_t at = 0;
        for (;;) {
            src = sqlite3_step(st);
            int row = src == SQLITE_ROW;
            int64_t p = row ? sqlite3_column_int64(st, 0) : -1;
            if (cur >= 0 && (!row || p != cur)) {
                if (find(persons, n, cur, &at)) {
                    birth[at] = a.birth;
                    sex[at] = a.sex;
                }
                a = (attrs_t){0};
            }
            if (!row)
                break;
            cur = p;
            attrs_add(&a, st);
        }
    }
    for (size_t i = 0; !scan && i < n; i++) {
        attrs_t a = {0};
        src = sqlite3_bind_int64(st, 1, persons[i]);
        while (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
            attrs_add(&a, st);
            src = SQLITE_OK;
        }
        cdx_store_stmt_put(st);
        if (src != SQLITE_DONE)
            break;
        birth[i] = a.birth;
        sex[i] = a.sex;
    }
    rc = src == SQLITE_DONE ? 0 : cdx_store_fail(reg, src, "reading the persons of a cohort");
    cdx_store_stmt_put(st);
    return rc;
}

/* A person's research decision is the newest consent of
 * any of the person's identities that says one (PUT /v1/consents with
 * "research", or a consent document); "deny" takes the person out of
 * research, no decision leaves the person in (an opt-out). */
int cdx_store_research_opted_out(cdx_registry_t *reg, int64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = cdx_store_stmt_get(
        reg, STMT_COHORT_OPTED_OUT,
        "SELECT p.person_id FROM consents AS c JOIN patients AS p ON p.id = c.patient_id"
        " WHERE c.research IS NOT NULL GROUP BY p.person_id"
        " HAVING max(c.id) IN (SELECT c2.id FROM consents AS c2 WHERE c2.research = 'deny')"
        " ORDER BY p.person_id",
        &st);
    if (rc != 0)
        return rc;
    size_t cap = 0;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (cdx_grow(out, &cap, *n + 1, sizeof **out, 64) != 0) {
            rc = CDX_ENOMEM;
            break;
        }
        (*out)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = cdx_store_fail(reg, src, "reading research opt-outs");
    cdx_store_stmt_put(st);
    if (rc != 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}
