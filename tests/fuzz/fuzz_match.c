/* libFuzzer target: demographic match keys and scores on hostile strings.
 *
 * The input is two patients' demographics, sixteen fields separated by
 * newlines (family, given, name text, birth, gender, street, postal code,
 * phone; then the same for the second patient), any bytes, any UTF-8 or
 * not.  Both go through cdx_demog_from, the blocking keys and the score.
 *
 * Oracle: the keys are ASCII of the documented shapes (names lower-case
 * letters, birth digits, postal upper-case letters and digits, phone
 * digits), every blocking key is shorter than its slot; the score is
 * symmetric; a patient compared with itself has no disagreeing field and
 * is not swapped; the breakdown is valid JSON with the seven fields. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/domain/match.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_match: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define NFIELDS 8

static int all_of(const char *s, const char *allowed)
{
    for (; *s; s++)
        if (strchr(allowed, *s) == NULL)
            return 0;
    return 1;
}

static void check_demog(const cdx_demog_t *d)
{
    static const char lower[] = "abcdefghijklmnopqrstuvwxyz";
    static const char digits[] = "0123456789";
    CHECK(memchr(d->family, 0, sizeof d->family) != NULL && all_of(d->family, lower));
    CHECK(memchr(d->given, 0, sizeof d->given) != NULL && all_of(d->given, lower));
    size_t bl = strnlen(d->birth, sizeof d->birth);
    CHECK(bl < sizeof d->birth && all_of(d->birth, digits) && (bl == 0 || bl == 4 || bl == 6 || bl == 8));
    CHECK(d->sex == 0 || d->sex == 'M' || d->sex == 'F');
    CHECK(memchr(d->postal, 0, sizeof d->postal) != NULL &&
          all_of(d->postal, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"));
    CHECK(memchr(d->address, 0, sizeof d->address) != NULL &&
          all_of(d->address, "abcdefghijklmnopqrstuvwxyz0123456789"));
    CHECK(strnlen(d->phone, sizeof d->phone) <= 10 && all_of(d->phone, digits));
    char keys[CDX_DEMOG_MAX_BLOCKS][CDX_DEMOG_BLOCK_LEN];
    size_t n = cdx_demog_block_keys(d, keys);
    CHECK(n <= CDX_DEMOG_MAX_BLOCKS);
    for (size_t i = 0; i < n; i++)
        CHECK(memchr(keys[i], 0, CDX_DEMOG_BLOCK_LEN) != NULL && keys[i][0] != '\0');
}

static void check_json(const cdx_match_score_t *s)
{
    char out[1024];
    int n = cdx_match_score_json(s, out, sizeof out);
    CHECK(n > 0 && (size_t)n < sizeof out);
    json_t *j = json_loads(out, 0, NULL);
    CHECK(j != NULL);
    json_t *fields = json_object_get(j, "fields");
    CHECK(json_object_size(fields) == CDX_MATCH_NFIELDS);
    CHECK(json_is_number(json_object_get(j, "total")));
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *f[2 * NFIELDS] = {0};
    char *p = copy;
    for (int i = 0; i < 2 * NFIELDS && p != NULL; i++) {
        f[i] = p;
        p = strchr(p, '\n');
        if (p != NULL)
            *p++ = '\0';
    }
    cdx_demog_t d[2];
    int ok[2];
    for (int k = 0; k < 2; k++) {
        const char *const *v = f + k * NFIELDS;
        const char *given[2] = {v[1], v[1]};
        cdx_demog_input_t in = {.family = v[0], .given = given, .ngiven = v[1] ? 1 : 0,
                                .name_text = v[2], .birth = v[3], .gender = v[4],
                                .street = v[5], .postal = v[6], .phone = v[7]};
        ok[k] = cdx_demog_from(&in, &d[k]) == 0;
        check_demog(&d[k]);
    }
    cdx_match_score_t ab, ba, aa;
    cdx_match_score(&d[0], &d[1], &ab);
    cdx_match_score(&d[1], &d[0], &ba);
    CHECK(ab.total == ba.total);
    check_json(&ab);
    if (ok[0]) {
        cdx_match_score(&d[0], &d[0], &aa);
        CHECK(!aa.swapped);
        for (int i = 0; i < CDX_MATCH_NFIELDS; i++)
            CHECK(aa.agreement[i] != CDX_MATCH_DISAGREE);
    }
    (void)cdx_match_decide(&ab, &cdx_match_default_thresholds);
    free(copy);
    return 0;
}
