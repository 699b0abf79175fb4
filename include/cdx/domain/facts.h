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
/* The text json_dumps(facts, JSON_COMPACT) gives, put together from the
 * rows' json (rows made from facts by cdx_fact_rows_from_json), so each
 * fact is serialized once; heap, or NULL on allocation failure. */
char *cdx_fact_rows_join(struct json_t *facts, const cdx_fact_row_t *rows, size_t n);
/* The whole fact of a stored row as compact JSON (heap, free()): its
 * data with the fields its columns hold put back (fields data already has
 * stay as they are, so rows stored whole before read the same).  Key
 * order may differ from the extractor's.  NULL when out of memory. */
char *cdx_fact_json(const cdx_fact_row_t *row);
/* Frees rows and their data; NULL is a no-op. */
void cdx_fact_rows_free(cdx_fact_row_t *rows, size_t n);

#endif
