/*
 * keys: the descriptor of one configuration key, shared by the tables of
 * conf/: the main configuration's keys (config.c) and the keys of an
 * `[institution]` section (institution.c).
 *
 * Responsible for: what a table row says of its key (name, value type,
 * where the value goes, default, bounds, flags, help) and finding a key by
 * name.  Each table's own code applies values by type and renders its
 * `--help` and README table from the same rows.
 * Not responsible for: parsing values (the table's owner does).
 */
#ifndef CDX_CONF_KEYS_H
#define CDX_CONF_KEYS_H

#include <stddef.h>
#include <stdint.h>

enum {
    CDX_KEY_REQUIRED = 1,      /* must be set */
    CDX_KEY_SECRET = 2,        /* names a secret: its content is never printed */
    CDX_KEY_OPTIONAL_PATH = 4, /* a path that may be left empty */
    CDX_KEY_REPEATABLE = 8,    /* each line adds a value */
};

typedef struct cdx_conf_key {
    const char *name;
    int type;         /* the owning table's enum of value types */
    size_t offset;    /* where the value goes in the table's struct */
    size_t size;      /* for strings: the size of that field */
    const char *def;  /* default as text ("" for none) */
    int64_t min, max; /* bounds of whole numbers */
    unsigned flags;   /* CDX_KEY_* */
    const char *help; /* one line, Markdown allowed (the README shows it) */
} cdx_conf_key_t;

/* The row of table (n rows) named name, dashes read as underscores (so
 * `max-jobs` is `max_jobs`); NULL when there is none.  Any thread. */
const cdx_conf_key_t *cdx_conf_key_find(const cdx_conf_key_t *table, size_t n, const char *name);

#endif
