/* Unit tests of the joined route table (gateway/api/routes.c): every
 * module's routes are in it once, with their role and flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cdx_test.h"
#include "cdx/api/cohorts.h"
#include "cdx/api/cohort_export.h"
#include "cdx/api/audit.h"
#include "cdx/api/documents.h"
#include "cdx/api/health.h"
#include "cdx/api/render.h"
#include "cdx/api/query.h"
#include "cdx/api/consents.h"
#include "cdx/api/links.h"
#include "cdx/api/patients.h"
#include "cdx/api/deliveries.h"
#include "cdx/api/requests.h"
#include "cdx/api/routes.h"
#include "cdx/api/timeline.h"
#include "cdx/base/common.h"

static const cdx_route_t *find(const cdx_route_t *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

static void test_joined_table(void **state)
{
    (void)state;
    cdx_routes_init();
    size_t n = 0;
    const cdx_route_t *t = cdx_routes_table(&n);
    assert_int_equal(n, cdx_health_nroutes + cdx_document_nroutes + cdx_render_nroutes +
                            cdx_timeline_nroutes + cdx_query_nroutes + cdx_link_nroutes +
                            cdx_patient_nroutes + cdx_consent_nroutes + cdx_delivery_nroutes +
                            cdx_cohort_nroutes + cdx_cohort_export_nroutes + cdx_audit_nroutes +
                            cdx_request_nroutes + cdx_subscription_nroutes);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(t[i].handler);
        for (size_t j = i + 1; j < n; j++) {
            assert_string_not_equal(t[i].name, t[j].name);
            assert_false(strcmp(t[i].method, t[j].method) == 0 &&
                         strcmp(t[i].pattern, t[j].pattern) == 0);
        }
    }
    const cdx_route_t *r = find(t, n, "healthz");
    assert_non_null(r);
    assert_int_equal(r->role, 0);
    r = find(t, n, "metrics");
    assert_int_equal(r->role, CDX_ROLE_ADMIN);
    assert_true(r->flags & CDX_ROUTE_LOOPBACK_OR_ROLE);
    /* The audit trail: its reads are disclosures, audited; its key is public. */
    r = find(t, n, "audit.query");
    assert_int_equal(r->role, CDX_ROLE_ADMIN);
    assert_true(r->flags & CDX_ROUTE_DISCLOSES);
    r = find(t, n, "audit.access_log");
    assert_true(r->flags & CDX_ROUTE_DISCLOSES);
    r = find(t, n, "audit.key");
    assert_int_equal(r->role, 0);
    r = find(t, n, "documents.post");
    assert_int_equal(r->role, CDX_ROLE_SUBMIT);
    assert_true(r->flags & CDX_ROUTE_BODY);
    assert_false(r->flags & CDX_ROUTE_DISCLOSES);
    /* The reads of patient data go through the disclosure sequence. */
    static const char *const reads[] = {"documents.get", "documents.metadata", "documents.html",
                                        "documents.media", "patients.timeline"};
    for (size_t i = 0; i < CDX_ARRAY_SIZE(reads); i++) {
        r = find(t, n, reads[i]);
        assert_non_null(r);
        assert_string_equal(r->method, "GET");
        assert_int_equal(r->role, CDX_ROLE_QUERY);
        assert_true(r->flags & CDX_ROUTE_DISCLOSES);
    }
    /* The research role opens the cohort routes and nothing else: no route
     * that names a patient or returns a document is within its reach. */
    for (size_t i = 0; i < n; i++) {
        int cohort = strncmp(t[i].name, "cohorts.", 8) == 0;
        if (cohort != ((t[i].role & CDX_ROLE_RESEARCH) != 0))
            fail_msg("route %s: role 0x%x", t[i].name, t[i].role);
        if (cohort)
            assert_int_equal(t[i].role, CDX_ROLE_RESEARCH);
    }
    /* The export of a cohort's persons is a disclosure, audited. */
    r = find(t, n, "cohorts.export");
    assert_non_null(r);
    assert_string_equal(r->method, "GET");
    assert_true(r->flags & CDX_ROUTE_DISCLOSES);
    /* A second start builds the same table. */
    cdx_routes_init();
    size_t n2 = 0;
    assert_ptr_equal(cdx_routes_table(&n2), t);
    assert_int_equal(n2, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_joined_table),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
