/* routes: the joined route table (see include/cdx/api/routes.h). */
#include "cdx/api/routes.h"
#include "cdx/api/documents.h"
#include "cdx/api/health.h"
#include "cdx/api/render.h"
#include "cdx/api/timeline.h"
#include "cdx/api/query.h"
#include "cdx/api/consents.h"
#include "cdx/api/links.h"
#include "cdx/api/patients.h"
#include "cdx/api/deliveries.h"
#include "cdx/api/cohorts.h"
#include "cdx/api/cohort_export.h"
#include "cdx/api/audit.h"
#include "cdx/api/requests.h"
#include "cdx/base/common.h"

#include <string.h>

#define MAX_ROUTES 64

/* Every api module that serves routes, once. */
static const struct module {
    const cdx_route_t *routes;
    const size_t *n;
} modules[] = {
    {cdx_health_routes, &cdx_health_nroutes},
    {cdx_document_routes, &cdx_document_nroutes},
    {cdx_render_routes, &cdx_render_nroutes},
    {cdx_timeline_routes, &cdx_timeline_nroutes},
    {cdx_query_routes, &cdx_query_nroutes},
    {cdx_link_routes, &cdx_link_nroutes},
    {cdx_patient_routes, &cdx_patient_nroutes},
    {cdx_consent_routes, &cdx_consent_nroutes},
    {cdx_delivery_routes, &cdx_delivery_nroutes},
    {cdx_cohort_routes, &cdx_cohort_nroutes},
    {cdx_cohort_export_routes, &cdx_cohort_export_nroutes},
    {cdx_audit_routes, &cdx_audit_nroutes},
    {cdx_request_routes, &cdx_request_nroutes},
    {cdx_subscription_routes, &cdx_subscription_nroutes},
};

static cdx_route_t table[MAX_ROUTES];
static size_t ntable;

static int same_route(const cdx_route_t *a, const cdx_route_t *b)
{
    return strcmp(a->name, b->name) == 0 ||
           (strcmp(a->method, b->method) == 0 && strcmp(a->pattern, b->pattern) == 0);
}

void cdx_routes_init(void)
{
    cdx_health_init();
    ntable = 0;
    for (size_t m = 0; m < CDX_ARRAY_SIZE(modules); m++) {
        for (size_t i = 0; i < *modules[m].n; i++) {
            const cdx_route_t *r = &modules[m].routes[i];
            CDX_ASSERT(ntable < MAX_ROUTES);
            for (size_t j = 0; j < ntable; j++)
                CDX_ASSERT(!same_route(&table[j], r));
            table[ntable++] = *r;
        }
    }
}

const cdx_route_t *cdx_routes_table(size_t *n)
{
    CDX_ASSERT(ntable > 0);
    *n = ntable;
    return table;
}
