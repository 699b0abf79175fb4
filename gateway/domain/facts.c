/* facts: the extractor's facts as rows ready to store (see include/cdx/domain/facts.h). */
#include "cdx/domain/facts.h"
#include "cdx/base/common.h"

#include <jansson.h>
#include <stdlib.h>

static const char *json_str(json_t *o, const char *k1, const char *k2)
{
    json_t *v = json_object_get(o, k1);
    if (!json_is_string(v) && k2 != NULL)
        v = json_object_get(o, k2);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int cdx_fact_rows_from_json(json_t *facts, cdx_fact_row_t **out, size_t *n)
{
    size_t total = 0;
    const char *kind;
    json_t *list;
    *out = NULL;
    *n = 0;
    json_object_foreach(facts, kind, list)
    {
        if (json_is_array(list))
            total += json_array_size(list);
    }
    if (total == 0)
        return 0;
    cdx_fact_row_t *rows = calloc(total, sizeof *rows);
    if (rows == NULL)
        return CDX_ENOMEM;
    size_t k = 0;
    json_object_foreach(facts, kind, list)
    {
        size_t i;
        json_t *f;
        if (!json_is_array(list))
            continue;
        json_array_foreach(list, i, f)
        {
            if (!json_is_object(f) || k >= total)
                continue;
            cdx_fact_row_t *r = &rows[k];
            r->data = json_dumps(f, JSON_COMPACT);
            if (r->data == NULL) {
                cdx_fact_rows_free(rows, k);
                return CDX_ENOMEM;
            }
            json_t *num = json_object_get(f, "number");
            json_t *et = json_object_get(f, "effectiveTime");
            r->kind = kind;
            r->code_system = json_str(f, "codeSystem", NULL);
            r->code = json_str(f, "code", NULL);
            r->display = json_str(f, "displayName", "originalText");
            r->value = json_str(f, "value", NULL);
            r->has_number = json_is_number(num);
            r->number = r->has_number ? json_number_value(num) : 0;
            r->unit = json_str(f, "unit", NULL);
            r->time_low = json_is_object(et) ? json_str(et, "low", NULL) : NULL;
            r->time_high = json_is_object(et) ? json_str(et, "high", NULL) : NULL;
            r->status = json_str(f, "status", NULL);
            k++;
        }
    }
    *out = rows;
    *n = k;
    return 0;
}

void cdx_fact_rows_free(cdx_fact_row_t *rows, size_t n)
{
    for (size_t i = 0; rows != NULL && i < n; i++)
        free((char *)rows[i].data);
    free(rows);
}
