/* match: who is who by demographics (see include/cdx/domain/match.h). */
#include "cdx/domain/match.h"
#include "cdx/base/common.h"
#include "cdx/domain/names.h"
#include "cdx/parsers/extract.h"

#include <stdio.h>
#include <string.h>

/* ---- Weights ------------------------------------------------------------------------------
 *
 * Fellegi-Sunter: a field that agrees adds log2(m/u), one that disagrees
 * adds log2((1-m)/(1-u)), where m is the chance that the field agrees for
 * two records of one person and u the chance for two different persons.
 * The values below start from those estimates (m: how often the field is
 * recorded the same way at two institutions; u: one over the number of
 * values in the population, e.g. 1/32,000 for a birth date, about 1/6 for
 * a Korean surname) and were then tuned with bench/cdxgw-match on a
 * generated population with planted truth (docs/PERFORMANCE.md).  Address
 * and phone disagree often for one person (people move and change phones),
 * so their disagreement weights are small. */
typedef struct weights {
    double agree, partial, disagree;
} weights_t;

static const weights_t weights[CDX_MATCH_NFIELDS] = {
    [CDX_MATCH_FAMILY] = {4.0, 2.0, -5.0},  [CDX_MATCH_GIVEN] = {9.0, 4.0, -7.0},
    [CDX_MATCH_BIRTH] = {14.0, 5.0, -9.0},  [CDX_MATCH_SEX] = {1.0, 0.0, -5.0},
    [CDX_MATCH_POSTAL] = {5.0, 1.5, -0.5},  [CDX_MATCH_ADDRESS] = {5.0, 2.5, -0.5},
    [CDX_MATCH_PHONE] = {6.0, 2.0, -0.5},
};

/* A birth date known only to the year or month on one side and agreeing
 * at that precision. */
#define BIRTH_COARSE_WEIGHT 3.0

const cdx_match_thresholds_t cdx_match_default_thresholds = {.link = 22.0, .review = 12.0};

/* ---- Keys ------------------------------------------------------------------------------ */

static void join_given(const cdx_demog_input_t *in, char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < in->ngiven && in->given; i++) {
        if (in->given[i] == NULL)
            continue;
        int w = snprintf(out + len, n - len, "%s%s", len ? " " : "", in->given[i]);
        if (w < 0 || (size_t)w >= n - len)
            break;
        len += (size_t)w;
    }
}

static int valid_md(int m, int d)
{
    return m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

/* YYYYMMDD (or YYYYMM, YYYY) from an HL7 TS or an ISO 8601 date. */
static void birth_key(const char *s, char out[9])
{
    char digits[9];
    size_t n = 0;
    out[0] = '\0';
    if (s == NULL)
        return;
    for (const char *p = s; *p && n < 8; p++) {
        if (*p >= '0' && *p <= '9')
            digits[n++] = *p;
        else if (*p == 'T' || *p == '+' || *p == ' ' || *p == 'Z')
            break;
        else if (*p != '-')
            return;
    }
    digits[n] = '\0';
    if (n < 4)
        return;
    int m = n >= 6 ? (digits[4] - '0') * 10 + (digits[5] - '0') : 1;
    int d = n >= 8 ? (digits[6] - '0') * 10 + (digits[7] - '0') : 1;
    if (!valid_md(m, d)) {
        n = valid_md(m, 1) ? 6 : 4;
    } else if (n != 4 && n != 6 && n != 8) {
        n = n > 6 ? 6 : 4;
    }
    memcpy(out, digits, n);
    out[n] = '\0';
}

static void upper_alnum(const char *s, char *out, size_t n)
{
    size_t len = 0;
    for (; s && *s && len + 1 < n; s++) {
        char c = *s;
        if (c >= 'a' && c <= 'z')
            out[len++] = (char)(c - 'a' + 'A');
        else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            out[len++] = c;
    }
    out[len] = '\0';
}

static void phone_key(const char *s, char out[16])
{
    char d[64];
    size_t n = 0;
    for (; s && *s && n + 1 < sizeof d; s++)
        if (*s >= '0' && *s <= '9')
            d[n++] = *s;
    d[n] = '\0';
    const char *tail = n > 10 ? d + n - 10 : d;
    snprintf(out, 16, "%s", tail);
}

void cdx_demog_input_from_meta(const cdx_doc_meta_t *m, cdx_demog_input_t *out)
{
    memset(out, 0, sizeof *out);
    out->family = m->patient_family;
    out->given = (const char *const *)m->patient_given;
    out->ngiven = m->npatient_given;
    out->name_text = m->patient_name;
    out->birth = m->patient_birth_time.raw;
    out->gender = m->patient_gender.code;
    out->street = m->patient_street;
    out->city = m->patient_city;
    out->postal = m->patient_postal_code;
    out->phone = m->patient_phone;
}

int cdx_demog_from(const cdx_demog_input_t *in, cdx_demog_t *out)
{
    memset(out, 0, sizeof *out);
    char family[128] = "", given[256] = "";
    if (in->family && in->family[0])
        cdx_strlcpy(family, in->family, sizeof family);
    join_given(in, given, sizeof given);
    if (family[0] == '\0' && given[0] == '\0' && in->name_text)
        cdx_name_split(in->name_text, family, sizeof family, given, sizeof given);
    cdx_name_family_key(family, out->family, sizeof out->family);
    cdx_name_fold(given, out->given, sizeof out->given);
    birth_key(in->birth, out->birth);
    if (in->gender && (in->gender[0] == 'M' || in->gender[0] == 'm'))
        out->sex = 'M';
    else if (in->gender && (in->gender[0] == 'F' || in->gender[0] == 'f'))
        out->sex = 'F';
    upper_alnum(in->postal, out->postal, sizeof out->postal);
    cdx_name_fold_alnum(in->street, out->address, sizeof out->address);
    phone_key(in->phone, out->phone);
    if (out->family[0] == '\0' && out->given[0] == '\0' && out->birth[0] == '\0')
        return CDX_EINVAL;
    return 0;
}

/* ---- Blocking ------------------------------------------------------------------------- */

size_t cdx_demog_block_keys(const cdx_demog_t *d, char keys[][CDX_DEMOG_BLOCK_LEN])
{
    size_t n = 0;
    char g[64] = "", f[64] = "";
    cdx_name_phonetic(d->given, g, sizeof g);
    cdx_name_phonetic(d->family, f, sizeof f);
    size_t blen = strlen(d->birth);
    /* 1. the whole birth date and sex */
    if (blen == 8)
        snprintf(keys[n++], CDX_DEMOG_BLOCK_LEN, "b:%s%c", d->birth, d->sex ? d->sex : 'U');
    /* 2. surname and birth month */
    if (d->family[0] && blen >= 6)
        snprintf(keys[n++], CDX_DEMOG_BLOCK_LEN, "f:%.40s:%.6s", d->family, d->birth);
    /* 3. the phone */
    if (strlen(d->phone) >= 7)
        snprintf(keys[n++], CDX_DEMOG_BLOCK_LEN, "p:%s", d->phone);
    /* 4. both names (in either order) and the birth decade */
    if (f[0] && g[0]) {
        int lt = strcmp(f, g) < 0;
        snprintf(keys[n++], CDX_DEMOG_BLOCK_LEN, "n:%.24s:%.24s:%.3s", lt ? f : g, lt ? g : f,
                 d->birth);
    }
    /* 5. surname, birth year, and month and day in either order */
    if (d->family[0] && blen == 8) {
        const char *md = d->birth + 4, *dm = d->birth + 6;
        int lt = strncmp(md, dm, 2) <= 0;
        snprintf(keys[n++], CDX_DEMOG_BLOCK_LEN, "d:%.40s:%.4s%.2s%.2s", d->family, d->birth,
                 lt ? md : dm, lt ? dm : md);
    }
    /* 6. given name and birth year (a misspelt or changed surname) */
    if (g[0] && blen >= 4)
        snprintf(keys[n++], CDX_DEMOG_BLOCK_LEN, "g:%.40s:%.4s", g, d->birth);
    return n;
}

/* ---- Comparisons ---------------------------------------------------------------------- */

/* Typos: one edit on names of five letters or more. */
static int close_name(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la < 5 || lb < 5)
        return 0;
    return cdx_name_edit_distance(a, b, 1) <= 1 || cdx_name_jaro_winkler(a, b) >= 0.95;
}

static cdx_match_agreement_t cmp_family(const char *a, const char *b)
{
    if (!a[0] || !b[0])
        return CDX_MATCH_MISSING;
    if (strcmp(a, b) == 0)
        return CDX_MATCH_AGREE;
    char pa[64], pb[64];
    cdx_name_phonetic(a, pa, sizeof pa);
    cdx_name_phonetic(b, pb, sizeof pb);
    if (strcmp(pa, pb) == 0 || close_name(a, b) || (strlen(a) >= 4 && close_name(pa, pb)))
        return CDX_MATCH_PARTIAL;
    return CDX_MATCH_DISAGREE;
}

static cdx_match_agreement_t cmp_given(const char *a, const char *b)
{
    if (!a[0] || !b[0])
        return CDX_MATCH_MISSING;
    if (strcmp(a, b) == 0)
        return CDX_MATCH_AGREE;
    char pa[96], pb[96];
    cdx_name_phonetic(a, pa, sizeof pa);
    cdx_name_phonetic(b, pb, sizeof pb);
    if (strcmp(pa, pb) == 0)
        return CDX_MATCH_AGREE; /* a spelling variant of the same name */
    if (close_name(a, b) || close_name(pa, pb))
        return CDX_MATCH_PARTIAL;
    return CDX_MATCH_DISAGREE;
}

static int hamming(const char *a, const char *b, size_t n)
{
    int d = 0;
    for (size_t i = 0; i < n; i++)
        d += a[i] != b[i];
    return d;
}

static cdx_match_agreement_t cmp_birth(const char *a, const char *b, double *w)
{
    size_t la = strlen(a), lb = strlen(b);
    *w = 0;
    if (!la || !lb)
        return CDX_MATCH_MISSING;
    if (la != lb || la != 8) {
        size_t n = la < lb ? la : lb;
        if (strncmp(a, b, n) == 0) {
            *w = la == lb ? weights[CDX_MATCH_BIRTH].agree / 2 : BIRTH_COARSE_WEIGHT;
            return la == lb ? CDX_MATCH_AGREE : CDX_MATCH_PARTIAL;
        }
        *w = weights[CDX_MATCH_BIRTH].disagree;
        return CDX_MATCH_DISAGREE;
    }
    if (strcmp(a, b) == 0) {
        *w = weights[CDX_MATCH_BIRTH].agree;
        return CDX_MATCH_AGREE;
    }
    int transposed = strncmp(a, b, 4) == 0 && strncmp(a + 4, b + 6, 2) == 0 &&
                     strncmp(a + 6, b + 4, 2) == 0;
    if (transposed || hamming(a, b, 8) == 1) {
        *w = weights[CDX_MATCH_BIRTH].partial;
        return CDX_MATCH_PARTIAL;
    }
    *w = weights[CDX_MATCH_BIRTH].disagree;
    return CDX_MATCH_DISAGREE;
}

static cdx_match_agreement_t cmp_postal(const char *a, const char *b)
{
    if (!a[0] || !b[0])
        return CDX_MATCH_MISSING;
    if (strcmp(a, b) == 0)
        return CDX_MATCH_AGREE;
    if (strlen(a) >= 5 && strlen(b) >= 5 && strncmp(a, b, 3) == 0)
        return CDX_MATCH_PARTIAL;
    return CDX_MATCH_DISAGREE;
}

static cdx_match_agreement_t cmp_address(const char *a, const char *b)
{
    if (!a[0] || !b[0])
        return CDX_MATCH_MISSING;
    if (strcmp(a, b) == 0)
        return CDX_MATCH_AGREE;
    if (cdx_name_jaro_winkler(a, b) >= 0.92)
        return CDX_MATCH_PARTIAL;
    return CDX_MATCH_DISAGREE;
}

static cdx_match_agreement_t cmp_phone(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la < 7 || lb < 7)
        return CDX_MATCH_MISSING;
    size_t n = la < lb ? la : lb;
    const char *ta = a + la - n, *tb = b + lb - n;
    if (strcmp(ta, tb) == 0)
        return CDX_MATCH_AGREE;
    if (hamming(ta, tb, n) == 1 || cdx_name_edit_distance(ta, tb, 1) <= 1)
        return CDX_MATCH_PARTIAL;
    return CDX_MATCH_DISAGREE;
}

static double weight_of(cdx_match_field_t f, cdx_match_agreement_t a)
{
    switch (a) {
    case CDX_MATCH_AGREE: return weights[f].agree;
    case CDX_MATCH_PARTIAL: return weights[f].partial;
    case CDX_MATCH_DISAGREE: return weights[f].disagree;
    default: return 0;
    }
}

/* Family and given compared straight (swap 0) or crosswise (swap 1). */
static double names_score(const cdx_demog_t *a, const cdx_demog_t *b, int swap,
                          cdx_match_agreement_t *fam, cdx_match_agreement_t *giv)
{
    if (!swap) {
        *fam = cmp_family(a->family, b->family);
        *giv = cmp_given(a->given, b->given);
    } else {
        /* a's given name stands where b's surname is: both as surname keys */
        char bf[96], ag[96];
        cdx_name_family_key(b->given, bf, sizeof bf);
        cdx_name_family_key(a->given, ag, sizeof ag);
        *fam = cmp_family(a->family, bf);
        *giv = cmp_given(ag, b->family);
    }
    return weight_of(CDX_MATCH_FAMILY, *fam) + weight_of(CDX_MATCH_GIVEN, *giv);
}

void cdx_match_score(const cdx_demog_t *a, const cdx_demog_t *b, cdx_match_score_t *out)
{
    memset(out, 0, sizeof *out);
    cdx_match_agreement_t fam, giv, sfam, sgiv;
    double straight = names_score(a, b, 0, &fam, &giv);
    /* Crosswise only when the straight names do not already agree, so
     * that the score stays symmetric and a swap is never reported for
     * names that match as written. */
    if (!(fam == CDX_MATCH_AGREE && giv == CDX_MATCH_AGREE)) {
        double s1 = names_score(a, b, 1, &sfam, &sgiv);
        cdx_match_agreement_t f2, g2;
        double s2 = names_score(b, a, 1, &f2, &g2);
        if (s2 > s1) {
            s1 = s2;
            sfam = f2;
            sgiv = g2;
        }
        if (s1 > straight && sfam != CDX_MATCH_DISAGREE && sgiv != CDX_MATCH_DISAGREE) {
            fam = sfam;
            giv = sgiv;
            out->swapped = 1;
        }
    }
    out->agreement[CDX_MATCH_FAMILY] = fam;
    out->agreement[CDX_MATCH_GIVEN] = giv;
    out->agreement[CDX_MATCH_BIRTH] = cmp_birth(a->birth, b->birth, &out->weight[CDX_MATCH_BIRTH]);
    out->agreement[CDX_MATCH_SEX] = !a->sex || !b->sex ? CDX_MATCH_MISSING
                                    : a->sex == b->sex ? CDX_MATCH_AGREE
                                                       : CDX_MATCH_DISAGREE;
    out->agreement[CDX_MATCH_POSTAL] = cmp_postal(a->postal, b->postal);
    out->agreement[CDX_MATCH_ADDRESS] = cmp_address(a->address, b->address);
    out->agreement[CDX_MATCH_PHONE] = cmp_phone(a->phone, b->phone);
    for (int f = 0; f < CDX_MATCH_NFIELDS; f++) {
        if (f != CDX_MATCH_BIRTH)
            out->weight[f] = weight_of((cdx_match_field_t)f, out->agreement[f]);
    }
    /* Household: address, postal code and phone are shared by the members
     * of one household (twins, a parent and child of one name), so when
     * the given names disagree their agreement is no evidence for the
     * same person and adds nothing. */
    if (giv == CDX_MATCH_DISAGREE)
        for (int f = CDX_MATCH_POSTAL; f <= CDX_MATCH_PHONE; f++)
            if (out->weight[f] > 0)
                out->weight[f] = 0;
    for (int f = 0; f < CDX_MATCH_NFIELDS; f++)
        out->total += out->weight[f];
}

/* ---- Breakdown and verdict ----------------------------------------------------------- */

const char *cdx_match_field_name(cdx_match_field_t f)
{
    static const char *const names[CDX_MATCH_NFIELDS] = {"family", "given",   "birth", "sex",
                                                         "postal", "address", "phone"};
    return (unsigned)f < CDX_MATCH_NFIELDS ? names[f] : "unknown";
}

static const char *agreement_name(cdx_match_agreement_t a)
{
    switch (a) {
    case CDX_MATCH_AGREE: return "agree";
    case CDX_MATCH_PARTIAL: return "partial";
    case CDX_MATCH_DISAGREE: return "disagree";
    default: return "missing";
    }
}

int cdx_match_score_json(const cdx_match_score_t *s, char *out, size_t n)
{
    char buf[1024];
    size_t len = 0;
    int w = snprintf(buf, sizeof buf, "{\"total\":%.2f,\"swapped\":%s,\"fields\":{", s->total,
                     s->swapped ? "true" : "false");
    len = (size_t)w;
    for (int f = 0; f < CDX_MATCH_NFIELDS; f++) {
        w = snprintf(buf + len, sizeof buf - len, "%s\"%s\":{\"agreement\":\"%s\",\"weight\":%.2f}",
                     f ? "," : "", cdx_match_field_name((cdx_match_field_t)f),
                     agreement_name(s->agreement[f]), s->weight[f]);
        len += (size_t)w;
    }
    w = snprintf(buf + len, sizeof buf - len, "}}");
    len += (size_t)w;
    return snprintf(out, n, "%s", buf);
}

cdx_match_verdict_t cdx_match_decide(const cdx_match_score_t *s, const cdx_match_thresholds_t *t)
{
    if (t == NULL)
        t = &cdx_match_default_thresholds;
    if (s->total >= t->link)
        return CDX_MATCH_LINK;
    if (s->total >= t->review)
        return CDX_MATCH_REVIEW;
    return CDX_MATCH_NONE;
}
