/* libFuzzer target: the body of PUT /v1/consents/{patient}
 * (cdx_consent_parse_json) and the scope lists as the registry keeps them.
 *
 * Oracles besides the sanitizers: a body is accepted, or refused with
 * CDX_EPARSE and a member named from the fixed set; an accepted consent has
 * a decision, at most CDX_CONSENT_MAX_SCOPE entries per list with no entry
 * repeated, an expiry key of 14 digits exactly when an expiry was given,
 * and its scope lists read back from their stored text as they were; a
 * scope covers every institution and type it lists. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx/domain/consent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_consent: check failed at %s:%d: %s\n", __FILE__, __LINE__,     \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int member_known(const char *m)
{
    static const char *const known[] = {"",        "decision", "research",           "expires",
                                        "scope",   "scope.institutions", "scope.types"};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(known); i++)
        if (strcmp(m, known[i]) == 0)
            return 1;
    return 0;
}

static void check_lists(const cdx_consent_t *c)
{
    CHECK(c->ninstitutions <= CDX_CONSENT_MAX_SCOPE && c->ntypes <= CDX_CONSENT_MAX_SCOPE);
    for (size_t i = 0; i < c->ninstitutions; i++) {
        CHECK(cdx_consent_covers(c, c->institutions[i], c->ntypes ? c->types[0] : NULL));
        for (size_t j = i + 1; j < c->ninstitutions; j++)
            CHECK(strcmp(c->institutions[i], c->institutions[j]) != 0);
    }
    for (size_t i = 0; i < c->ntypes; i++)
        for (size_t j = i + 1; j < c->ntypes; j++)
            CHECK(strcmp(c->types[i], c->types[j]) != 0);
    cdx_consent_t back;
    memset(&back, 0, sizeof back);
    char text[CDX_CONSENT_SCOPE_TEXT];
    for (int types = 0; types <= 1; types++) {
        CHECK(cdx_consent_scope_text(c, types, text, sizeof text) == 0);
        CHECK(cdx_consent_scope_parse(text, types, &back) == 0);
    }
    CHECK(back.ninstitutions == c->ninstitutions && back.ntypes == c->ntypes);
    for (size_t i = 0; i < c->ninstitutions; i++)
        CHECK(strcmp(back.institutions[i], c->institutions[i]) == 0);
    for (size_t i = 0; i < c->ntypes; i++)
        CHECK(strcmp(back.types[i], c->types[i]) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cdx_consent_t c;
    char member[32], why[160];
    int rc = cdx_consent_parse_json((const char *)data, size, &c, member, sizeof member, why,
                                    sizeof why);
    if (rc != 0) {
        CHECK(rc == CDX_EPARSE);
        CHECK(member_known(member));
        CHECK(why[0] != '\0');
        return 0;
    }
    CHECK(c.permit == 0 || c.permit == 1);
    CHECK(c.research >= -1 && c.research <= 1);
    CHECK((c.expires[0] != '\0') == (c.expires_key[0] != '\0'));
    CHECK(c.expires_key[0] == '\0' ||
          (strlen(c.expires_key) == 14 && strspn(c.expires_key, "0123456789") == 14));
    check_lists(&c);
    /* The stored text of any input reads without overflow. */
    char copy[CDX_CONSENT_SCOPE_TEXT + 2];
    size_t n = size < sizeof copy - 1 ? size : sizeof copy - 1;
    memcpy(copy, data, n);
    copy[n] = '\0';
    cdx_consent_t any;
    memset(&any, 0, sizeof any);
    (void)cdx_consent_scope_parse(copy, 0, &any);
    (void)cdx_consent_scope_parse(copy, 1, &any);
    CHECK(any.ninstitutions <= CDX_CONSENT_MAX_SCOPE && any.ntypes <= CDX_CONSENT_MAX_SCOPE);
    return 0;
}
