/*
 * sqlite-count: counts the SQL statements a process compiles, for any
 * cdxgw build, so that builds with and without the registry's statement
 * cache compare on one measure.
 *
 *   LD_PRELOAD=build/bench/libcdxgw-sqlite-count.so build/bench/cdxgw-stages ...
 *
 * It stands in front of the shared SQLite library: every sqlite3_prepare*
 * call and every sqlite3_exec call (which compiles its SQL too; our execs
 * run one statement each, a multi-statement exec counts once) counts as
 * one compilation, and every completed "INSERT INTO documents" step counts as
 * one stored document.  At exit it prints, on stderr, the compilations
 * made from the first stored document on (so opening the registry and its
 * migrations are left out) per stored document.  Only counts are printed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_ulong compiles, compiles_at_first, documents;
/* sqlite3_exec may compile through the exported sqlite3_prepare_v2, which
 * then arrives here too: counted once, as the exec. */
static _Thread_local int in_exec;

static void *next(const char *name)
{
    void *fn = dlsym(RTLD_NEXT, name);
    if (fn == NULL) {
        fprintf(stderr, "sqlite-count: %s not found\n", name);
        _Exit(70);
    }
    return fn;
}

int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **st, const char **tail)
{
    static int (*fn)(sqlite3 *, const char *, int, sqlite3_stmt **, const char **);
    if (fn == NULL)
        fn = next("sqlite3_prepare_v2");
    if (!in_exec)
        atomic_fetch_add(&compiles, 1);
    return fn(db, sql, n, st, tail);
}

int sqlite3_prepare_v3(sqlite3 *db, const char *sql, int n, unsigned flags, sqlite3_stmt **st,
                       const char **tail)
{
    static int (*fn)(sqlite3 *, const char *, int, unsigned, sqlite3_stmt **, const char **);
    if (fn == NULL)
        fn = next("sqlite3_prepare_v3");
    if (!in_exec)
        atomic_fetch_add(&compiles, 1);
    return fn(db, sql, n, flags, st, tail);
}

int sqlite3_exec(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **), void *arg,
                 char **errmsg)
{
    static int (*fn)(sqlite3 *, const char *, int (*)(void *, int, char **, char **), void *,
                     char **);
    if (fn == NULL)
        fn = next("sqlite3_exec");
    atomic_fetch_add(&compiles, 1);
    in_exec++;
    int rc = fn(db, sql, cb, arg, errmsg);
    in_exec--;
    return rc;
}

int sqlite3_step(sqlite3_stmt *st)
{
    static int (*fn)(sqlite3_stmt *);
    if (fn == NULL)
        fn = next("sqlite3_step");
    int rc = fn(st);
    const char *sql = sqlite3_sql(st);
    if (rc == SQLITE_ROW && sql != NULL && strncmp(sql, "INSERT INTO documents ", 22) == 0) {
        if (atomic_fetch_add(&documents, 1) == 0)
            atomic_store(&compiles_at_first, atomic_load(&compiles));
    }
    return rc;
}

__attribute__((destructor)) static void report(void)
{
    unsigned long docs = atomic_load(&documents);
    unsigned long total = atomic_load(&compiles);
    unsigned long from_first = docs > 0 ? total - atomic_load(&compiles_at_first) : 0;
    fprintf(stderr,
            "sqlite-count: compiled=%lu stored_documents=%lu compiled_after_first_document=%lu"
            " per_document=%.3f\n",
            total, docs, from_first, docs > 1 ? (double)from_first / (double)(docs - 1) : 0.0);
}
