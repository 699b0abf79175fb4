/* Unit tests of the audit event catalogue (gateway/domain/audit_events.c):
 * the table itself, the README's table of audit events, and the source
 * tree, which must write no event the table lacks and no outcome as a bare
 * number. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cdx_readme.h"
#include "cdx_test.h"
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cdx/base/common.h"
#include "cdx/domain/audit_events.h"
#include "cdx/domain/ingest.h"

static void test_table(void **state)
{
    (void)state;
    assert_true(cdx_naudit_events >= 7);
    for (size_t i = 0; i < cdx_naudit_events; i++) {
        const cdx_audit_event_def_t *e = &cdx_audit_events[i];
        /* "word.word": lower case, one dot at least. */
        const char *dot = strchr(e->name, '.');
        if (dot == NULL || dot == e->name || dot[1] == '\0' ||
            strspn(e->name, "abcdefghijklmnopqrstuvwxyz._") != strlen(e->name))
            fail_msg("event name '%s' is not word.word", e->name);
        assert_ptr_equal(cdx_audit_event_find(e->name), e);
        assert_int_equal(strncmp(e->constant, "CDX_AUDIT_", 10), 0);
        /* Written with one outcome at least, and only DICOM ones. */
        unsigned all = 0;
        for (int o = 0; o <= 12; o += 4)
            all |= CDX_AUDIT_OUTCOME_BIT(o);
        if (e->outcomes == 0 || (e->outcomes & ~all) != 0)
            fail_msg("%s: outcomes 0x%x", e->name, e->outcomes);
        /* DICOM codes of the 110100 range (DCM), with their names. */
        if (strlen(e->event_code) != 6 || strncmp(e->event_code, "1101", 4) != 0 ||
            e->event_display[0] == '\0')
            fail_msg("%s: EventID %s %s", e->name, e->event_code, e->event_display);
        if ((e->type_code == NULL) != (e->type_display == NULL) ||
            (e->type_code != NULL && (strlen(e->type_code) != 6 || e->type_display[0] == '\0')))
            fail_msg("%s: EventTypeCode", e->name);
        assert_true(strlen(e->meaning) > 20);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(cdx_audit_events[j].name, e->name);
    }
    assert_null(cdx_audit_event_find("document.nothing"));
    assert_null(cdx_audit_event_find(NULL));
}

static void test_outcomes(void **state)
{
    (void)state;
    assert_string_equal(cdx_audit_outcome_name(CDX_AUDIT_SUCCESS), "success");
    assert_string_equal(cdx_audit_outcome_name(CDX_AUDIT_MINOR_FAILURE), "minor failure");
    assert_string_equal(cdx_audit_outcome_name(CDX_AUDIT_SERIOUS_FAILURE), "serious failure");
    assert_string_equal(cdx_audit_outcome_name(CDX_AUDIT_MAJOR_FAILURE), "major failure");
    int valid = 0;
    for (int o = -4; o <= 20; o++)
        valid += cdx_audit_outcome_valid(o);
    assert_int_equal(valid, 4);
    assert_false(cdx_audit_outcome_valid(1));
    assert_null(cdx_audit_outcome_name(16));
}

/* The codes the security alert's row names are the alert codes of ingest
 * (REPLACEMENT_FORBIDDEN is the registry's, decided when storing). */
static void test_alert_codes(void **state)
{
    (void)state;
    const cdx_audit_event_def_t *e = cdx_audit_event_find(CDX_AUDIT_SECURITY_ALERT);
    assert_non_null(e);
    size_t named = 0;
    for (const char *p = strchr(e->meaning, '`'); p != NULL; p = strchr(p + 1, '`')) {
        const char *end = strchr(p + 1, '`');
        assert_non_null(end);
        char code[64];
        snprintf(code, sizeof code, "%.*s", (int)(end - p - 1), p + 1);
        if (strcmp(code, "REPLACEMENT_FORBIDDEN") != 0 && !cdx_ingest_code_is_alert(code))
            fail_msg("%s names %s, which ingest does not raise as an alert", e->name, code);
        named++;
        p = end;
    }
    assert_true(named >= 4);
}

static void test_readme_matches_table(void **state)
{
    (void)state;
    cdx_readme_assert_table(cdx_audit_events_markdown);
}

/* ---- The source tree ------------------------------------------------------------------- */

typedef struct scan {
    size_t sites;    /* event writes found (by name or by constant) */
    size_t used[64]; /* per table row: writes found */
    char bad[4096];  /* what is wrong with the events, one line each */
    char bad_outcomes[4096];
} scan_t;

/* Adds a line to what is wrong (bad, 4096 bytes). */
__attribute__((format(printf, 2, 3))) static void complain(char *bad, const char *fmt, ...)
{
    size_t used = strlen(bad);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(bad + used, 4096 - used, fmt, ap);
    va_end(ap);
}

static int ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* Whether text at i is the member `name` (after `.` or `->`). */
static int member_at(const char *text, size_t i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(text + i, name, n) != 0 || ident_char(text[i + n]))
        return 0;
    return (i >= 1 && text[i - 1] == '.') || (i >= 2 && text[i - 2] == '-' && text[i - 1] == '>');
}

static size_t line_of(const char *text, size_t i)
{
    size_t line = 1;
    for (size_t k = 0; k < i; k++)
        line += text[k] == '\n';
    return line;
}

static int event_shaped(const char *s, size_t n)
{
    if (n == 0 || !islower((unsigned char)s[0]) || memchr(s, '.', n) == NULL)
        return 0;
    for (size_t k = 0; k < n; k++) {
        if (!(islower((unsigned char)s[k]) || s[k] == '.' || s[k] == '_'))
            return 0;
    }
    return s[n - 1] != '.';
}

/* From an event member to the end of its statement: every event-shaped
 * string literal must be a table name, every CDX_AUDIT_ constant a table
 * row's. */
static void scan_event(scan_t *sc, const char *rel, const char *text, size_t i)
{
    int found = 0;
    for (size_t k = i; text[k] != '\0' && text[k] != ';'; k++) {
        if (text[k] == '"') {
            size_t start = ++k;
            while (text[k] != '\0' && text[k] != '"')
                k += text[k] == '\\' && text[k + 1] != '\0' ? 2 : 1;
            if (!event_shaped(text + start, k - start))
                continue;
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(k - start), text + start);
            const cdx_audit_event_def_t *e = cdx_audit_event_find(name);
            if (e == NULL)
                complain(sc->bad, "%s:%zu: event \"%s\" is not in the catalogue\n", rel,
                         line_of(text, i), name);
            else
                sc->used[e - cdx_audit_events]++;
            found = 1;
        } else if (strncmp(text + k, "CDX_AUDIT_", 10) == 0 &&
                   (k == 0 || !ident_char(text[k - 1]))) {
            size_t len = 0;
            while (ident_char(text[k + len]))
                len++;
            for (size_t r = 0; r < cdx_naudit_events; r++) {
                if (strlen(cdx_audit_events[r].constant) == len &&
                    strncmp(cdx_audit_events[r].constant, text + k, len) == 0) {
                    sc->used[r]++;
                    found = 1;
                }
            }
            k += len - 1;
        }
    }
    sc->sites += found;
}

/* An outcome assigned or compared: whole numbers outside parentheses are
 * bare outcomes. */
static size_t bare_outcome(const char *text, size_t i)
{
    size_t k = i + strlen("outcome");
    while (text[k] == ' ')
        k++;
    if (!(text[k] == '=' && text[k + 1] != '=') && strncmp(text + k, "==", 2) != 0 &&
        strncmp(text + k, "!=", 2) != 0)
        return 0;
    k += text[k + 1] == '=' ? 2 : 1;
    int depth = 0;
    for (; text[k] != '\0'; k++) {
        char c = text[k];
        if (c == '(')
            depth++;
        else if (c == ')' && --depth < 0)
            break;
        else if ((c == ',' || c == ';') && depth == 0)
            break;
        else if (depth == 0 && isdigit((unsigned char)c) && !ident_char(text[k - 1]))
            return 1;
    }
    return 0;
}

static void scan_file(scan_t *sc, const char *path, const char *rel)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(cdx_read_file(path, 1u << 24, &text, &len), 0);
    for (size_t i = 0; i < len; i++) {
        if (member_at(text, i, "event")) {
            scan_event(sc, rel, text, i);
        } else if (member_at(text, i, "outcome") && bare_outcome(text, i)) {
            complain(sc->bad_outcomes,
                     "%s:%zu: an outcome as a bare number (name it CDX_AUDIT_...)\n", rel,
                     line_of(text, i));
        }
    }
    free(text);
}

static void scan_tree(scan_t *sc, const char *top, const char *rel)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", top, rel);
    DIR *dir = opendir(path);
    assert_non_null(dir);
    struct dirent *ent;
    while ((ent = readdir(dir)) != NULL) {
        if (ent->d_name[0] == '.')
            continue;
        char child[2048], full[4096];
        snprintf(child, sizeof child, "%s/%s", rel, ent->d_name);
        snprintf(full, sizeof full, "%s/%s", top, child);
        struct stat sb;
        assert_int_equal(stat(full, &sb), 0);
        size_t n = strlen(child);
        if (S_ISDIR(sb.st_mode))
            scan_tree(sc, top, child);
        else if (n > 2 && (strcmp(child + n - 2, ".c") == 0 || strcmp(child + n - 2, ".h") == 0) &&
                 strcmp(child, "gateway/domain/audit_events.c") != 0)
            scan_file(sc, full, child);
    }
    closedir(dir);
}

/* Every event the gateway writes, in every room, is in the catalogue, and
 * every row of the catalogue is written somewhere. */
static void test_source_writes_catalogue_events(void **state)
{
    (void)state;
    const char *src = getenv("CDX_SOURCE_DIR");
    if (src == NULL)
        CDX_SKIP("CDX_SOURCE_DIR unset: the source tree is not found");
    assert_true(cdx_naudit_events <= CDX_ARRAY_SIZE(((scan_t *)0)->used));
    scan_t *sc = calloc(1, sizeof *sc);
    assert_non_null(sc);
    scan_tree(sc, src, "gateway");
    for (size_t r = 0; r < cdx_naudit_events; r++) {
        if (sc->used[r] == 0)
            complain(sc->bad, "%s (%s) is in the catalogue but nothing writes it\n",
                     cdx_audit_events[r].name, cdx_audit_events[r].constant);
    }
    /* The scan sees the writes: ingest, import, the handlers, the store. */
    if (sc->sites < 8)
        complain(sc->bad, "only %zu event writes found in gateway/\n", sc->sites);
    char bad[4096];
    snprintf(bad, sizeof bad, "%s", sc->bad);
    free(sc);
    if (bad[0] != '\0')
        fail_msg("%s", bad);
}

/* Outcomes are named by the catalogue's constants in every room of the
 * gateway, never written as bare numbers. */
static void test_outcomes_are_named(void **state)
{
    (void)state;
    const char *src = getenv("CDX_SOURCE_DIR");
    if (src == NULL)
        CDX_SKIP("CDX_SOURCE_DIR unset: the source tree is not found");
    scan_t *sc = calloc(1, sizeof *sc);
    assert_non_null(sc);
    scan_tree(sc, src, "gateway");
    char bad[4096];
    snprintf(bad, sizeof bad, "%s", sc->bad_outcomes);
    free(sc);
    if (bad[0] != '\0')
        fail_msg("%s", bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_outcomes),
        cmocka_unit_test(test_alert_codes),
        cmocka_unit_test(test_readme_matches_table),
        cmocka_unit_test(test_source_writes_catalogue_events),
        cmocka_unit_test(test_outcomes_are_named),
    };
    return cdx_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
