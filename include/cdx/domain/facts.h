/*
 * facts: the extractor's facts as rows ready to store.
 *
 * Responsible for: turning the extractor's facts (cdx_extract_t, or their
 * {"problems":[...], ...} JSON from older callers and stored text) into
 * cdx_fact_row_t rows (include/cdx/domain/types.h), on whichever thread
 * runs the pipeline, so that the writer only binds them.
 * Not responsible for: storing them (the store does) or extracting them
 * (parsers/ does).
 */
#ifndef CDX_DOMAIN_FACTS_H
#define CDX_DOMAIN_FACTS_H

#include <stddef.h>

#include "cdx/domain/types.h"
#include "cdx/parsers/extract.h"

struct json_t;

/* Turns facts into rows whose strings point into facts (keep it alive),
 * whose json is the whole fact and whose data holds only the fact's fields
 * that its columns do not: codeSystem, code, value, unit and status when
 * strings, displayName when a string (and not equal to originalText),
 * number when a real, and effectiveTime's low and high when strings
 * (effectiveTime itself when nothing else is left in it) go to the columns
 * alone; "{}" when nothing is left.  All in one heap block;
 * cdx_fact_rows_free releases it.  cdx_fact_json puts the whole fact back
 * together from a stored row.  Returns 0 or CDX_ENOMEM (nothing to free
 * then).  Any thread; facts is only read. */
int cdx_fact_rows_from_json(struct json_t *facts, cdx_fact_row_t **out, size_t *n);
/* The rows of x's facts, written straight from it: the same rows, byte
 * for byte, as cdx_fact_rows_from_json gives for cdx_extract_facts_json(x)
 * (json the whole fact as that JSON has it, data what its columns do not
 * hold), in its order: by kind (problems first), then as extracted; facts
 * of no kind are left out.  Every string is a copy in one heap block with
 * the rows, so x may be freed at once and cdx_fact_rows_free is one
 * free().  Returns 0 (*out NULL when there are no facts) or CDX_ENOMEM
 * (nothing to free then).  Any thread; x is only read.  Strings are
 * written as they are, which is valid JSON for the UTF-8 of a libxml2
 * tree the extractor copies them from. */
int cdx_fact_rows_from_extract(const cdx_extract_t *x, cdx_fact_row_t **out, size_t *n);
/* The facts' text, {"problems":[...], ..., "encounters":[...]} with all
 * eight kinds, put together from the json of rows made by
 * cdx_fact_rows_from_extract: what json_dumps(cdx_extract_facts_json(x),
 * JSON_COMPACT) gives, each fact serialized once.  Heap; NULL when out of
 * memory or when the rows are not in that order or lack their json. */
char *cdx_fact_rows_join(const cdx_fact_row_t *rows, size_t n);
/* The whole fact of a stored row as compact JSON (heap, free()): its
 * data with the fields its columns hold put back (fields data already has
 * stay as they are, so rows stored whole before read the same).  Key
 * order may differ from the extractor's.  NULL when out of memory. */
char *cdx_fact_json(const cdx_fact_row_t *row);
/* Frees rows and their data; NULL is a no-op. */
void cdx_fact_rows_free(cdx_fact_row_t *rows, size_t n);

#endif
