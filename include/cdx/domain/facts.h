/*
 * facts: the extractor's facts as rows ready to store.
 *
 * Responsible for: turning the extractor's {"problems":[...], ...} object
 * into cdx_fact_row_t rows (include/cdx/domain/types.h), on whichever
 * thread runs the pipeline, so that the writer only binds them.
 * Not responsible for: storing them (the store does) or extracting them
 * (parsers/ does).
 */
#ifndef CDX_DOMAIN_FACTS_H
#define CDX_DOMAIN_FACTS_H

#include <stddef.h>

#include "cdx/domain/types.h"

struct json_t;

/* Turns facts into rows whose strings point into facts (keep it alive)
 * and whose data is each fact's JSON, all in one heap block;
 * cdx_fact_rows_free releases it.  Returns 0 or CDX_ENOMEM (nothing to free then).  Any
 * thread; facts is only read. */
int cdx_fact_rows_from_json(struct json_t *facts, cdx_fact_row_t **out, size_t *n);
/* The text json_dumps(facts, JSON_COMPACT) gives, put together from the
 * rows' data (rows made from facts by cdx_fact_rows_from_json), so each
 * fact is serialized once; heap, or NULL on allocation failure. */
char *cdx_fact_rows_join(struct json_t *facts, const cdx_fact_row_t *rows, size_t n);
/* Frees rows and their data; NULL is a no-op. */
void cdx_fact_rows_free(cdx_fact_row_t *rows, size_t n);

#endif
