/* libFuzzer target: the query string of the document query and what is
 * read from it: cdx_params_parse against the endpoint's kind of table,
 * the typed readers (integer, patient identity, time), cdx_patient_ref_parse,
 * cdx_time_key and the paging cursor's decoder.
 *
 * Oracles besides the sanitizers: a time key is 14 digits; a patient
 * identity read has a non-empty root and extension; a cursor the decoder
 * accepts is one the encoder writes back byte for byte (no second
 * spelling of a cursor is accepted), and a position made from the input
 * reads back as written. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/api/cursor.h"
#include "cdx/api/params.h"
#include "cdx/base/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_query: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const cdx_param_spec_t specs[] = {
    {"patient", 0, 400},   {"type", CDX_PARAM_REPEAT, 64},
    {"class", 0, 64},      {"from", 0, 40},
    {"to", 0, 40},         {"service_from", 0, 40},
    {"service_to", 0, 40}, {"institution", 0, 128},
    {"status", 0, 16},     {"limit", 0, 8},
    {"cursor", 0, 512},
};

#define TYPES_MAX 20

static const unsigned char SECRET[32] = "fuzz_query cursor secret 32 byte";
static const char SCOPE[] = "documents.find\npatient=2.25.1|A\n";

static void check_key(const char *s)
{
    char key[CDX_TIME_KEY_LEN];
    if (cdx_time_key(s, key) != 0)
        return;
    CHECK(strlen(key) == CDX_TIME_KEY_LEN - 1);
    CHECK(strspn(key, "0123456789") == CDX_TIME_KEY_LEN - 1);
}

static void check_params(const char *text)
{
    static cdx_params_t p;
    cdx_param_error_t err;
    if (cdx_params_parse(text, specs, sizeof specs / sizeof specs[0], &p, &err) != 0) {
        CHECK(err.status == 400 && err.code != NULL && err.detail[0] != '\0');
        return;
    }
    const char *types[TYPES_MAX];
    size_t n = cdx_params_all(&p, "type", types, TYPES_MAX);
    for (size_t i = 0; i < n && i < TYPES_MAX; i++)
        CHECK(types[i] != NULL);
    long limit = 0;
    (void)cdx_params_int(&p, "limit", 1, 500, 50, &limit, &err);
    cdx_patient_ref_t ref;
    int present = 0;
    if (cdx_params_patient(&p, "patient", &ref, &present, &err) == 0 && present)
        CHECK(ref.root[0] != '\0' && ref.ext[0] != '\0');
    static const char *const times[] = {"from", "to", "service_from", "service_to"};
    for (size_t i = 0; i < 4; i++) {
        char key[CDX_TIME_KEY_LEN];
        if (cdx_params_time(&p, times[i], key, &err) == 0 && key[0] != '\0')
            CHECK(strlen(key) == CDX_TIME_KEY_LEN - 1);
    }
}

static void check_cursor(const char *text, const uint8_t *data, size_t size)
{
    unsigned char key[32];
    cdx_cursor_key(SECRET, key);
    cdx_cursor_t pos;
    char again[CDX_CURSOR_TEXT_MAX];
    if (cdx_cursor_decode(key, SCOPE, text, &pos) == 0) {
        CHECK(cdx_cursor_encode(key, SCOPE, &pos, again) == 0);
        CHECK(strcmp(again, text) == 0);
    }
    /* A position made of the input's bytes reads back as written. */
    cdx_cursor_t made = {.id = 0};
    size_t k = 0;
    for (size_t i = 0; i < size && k < CDX_CURSOR_SORT_MAX; i++)
        if (data[i] > 0x20 && data[i] < 0x7f)
            made.sort[k++] = (char)data[i];
    for (size_t i = 0; i < size && i < 8; i++)
        made.id = (int64_t)((uint64_t)made.id << 8 | data[i]);
    CHECK(cdx_cursor_encode(key, SCOPE, &made, again) == 0);
    CHECK(cdx_cursor_decode(key, SCOPE, again, &pos) == 0);
    CHECK(strcmp(pos.sort, made.sort) == 0 && pos.id == made.id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* a NUL inside ends the text, as it would a C string */
    check_params(text);
    cdx_patient_ref_t ref;
    if (cdx_patient_ref_parse(text, &ref) == 0)
        CHECK(ref.root[0] != '\0' && ref.ext[0] != '\0');
    check_key(text);
    check_cursor(text, data, size);
    free(text);
    return 0;
}
