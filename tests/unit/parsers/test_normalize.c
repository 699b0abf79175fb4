/* Unit tests of the normalization layer (parsers/normalize.c, normalize_codemap.c, mappings/):
 * golden files for every sample, fallback, unmapped codes, the coded
 * elements' pass (normalize_coded.c), stylesheet
 * sandboxing, load errors, and a run over the shared corpus.
 *
 * CDX_UPDATE_GOLDEN=1 rewrites samples/<institution>/golden/ from the
 * current mappings; read the diff before committing it, since the goldens
 * are the specification of each mapping. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cdx_test.h"
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <libxml/c14n.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdx/base/common.h"
#include "cdx/parsers/diag.h"
#include "cdx/parsers/normalize.h"
#include "cdx/parsers/xml.h"
#include "cdx/parsers/xslt.h"

#define HANBIT_OID    "2.25.83570720227913622468059417429842681918"
#define DASOM_OID     "2.25.20981123314685619330378792882634570198"
#define RIVERSIDE_OID "2.25.171372773189504359489447086526480295415"

static const struct {
    const char *name;
    const char *oid;
} institutions[] = {
    {"hanbit", HANBIT_OID},
    {"dasom", DASOM_OID},
    {"riverside", RIVERSIDE_OID},
};

static cdx_mappings_t *mappings;
static char source_dir[1024];

static int group_setup(void **state)
{
    (void)state;
    char err[1024] = "";
    const char *src = getenv("CDX_SOURCE_DIR");
    cdx_strlcpy(source_dir, src ? src : ".", sizeof source_dir);
    cdx_xml_global_init();
    cdx_xslt_global_init();
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/mappings", source_dir);
    if (cdx_mappings_load(dir, &mappings, err, sizeof err) != 0) {
        fprintf(stderr, "cannot load %s: %s\n", dir, err);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    cdx_mappings_free(mappings);
    return 0;
}

/* Removes whitespace-only text nodes, so goldens can be indented for
 * reading while the comparison stays exact about everything else. */
static void strip_blanks(xmlNodePtr node)
{
    xmlNodePtr next;
    for (xmlNodePtr c = node->children; c != NULL; c = next) {
        next = c->next;
        if (c->type == XML_TEXT_NODE && xmlIsBlankNode(c)) {
            xmlUnlinkNode(c);
            xmlFreeNode(c);
        } else if (c->type == XML_ELEMENT_NODE) {
            strip_blanks(c);
        }
    }
}

/* The document indented, one element a line, for showing differences. */
static char *formatted(xmlDocPtr doc)
{
    xmlChar *text = NULL;
    int n = 0;
    xmlDocDumpFormatMemoryEnc(doc, &text, &n, "UTF-8", 1);
    char *copy = strndup((const char *)text, (size_t)n);
    xmlFree(text);
    assert_non_null(copy);
    return copy;
}

/* Exclusive canonical XML of doc, as a heap string. */
static char *canonical(xmlDocPtr doc)
{
    xmlChar *text = NULL;
    int n = xmlC14NDocDumpMemory(doc, NULL, XML_C14N_EXCLUSIVE_1_0, NULL, 0, &text);
    assert_true(n >= 0);
    char *copy = strndup((const char *)text, (size_t)n);
    xmlFree(text);
    assert_non_null(copy);
    return copy;
}

static xmlDocPtr parse_file(const char *path, cdx_diag_t *d)
{
    char *data = NULL;
    size_t len = 0;
    xmlDocPtr doc = NULL;
    if (cdx_read_file(path, 64u << 20, &data, &len) != 0)
        fail_msg("cannot read %s", path);
    int rc = cdx_xml_parse(data, len, d, &doc);
    free(data);
    if (rc != 0)
        fail_msg("%s does not parse: %s", path, d->message);
    return doc;
}

/* Prints where two texts first differ, as line numbers and both lines. */
static void report_difference(const char *name, const char *got, const char *want)
{
    size_t line = 1;
    const char *g = got, *w = want;
    while (*g != '\0' && *g == *w) {
        if (*g == '\n')
            line++;
        g++;
        w++;
    }
    while (g > got && g[-1] != '\n' && w > want) {
        g--;
        w--;
    }
    int gl = (int)strcspn(g, "\n"), wl = (int)strcspn(w, "\n");
    fprintf(stderr,
            "%s: canonical output differs from the golden at line %zu\n  got:  %.*s\n"
            "  want: %.*s\n",
            name, line, CDX_MIN(gl, 400), g, CDX_MIN(wl, 400), w);
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int check_sample(const char *inst, const char *oid, const char *file, int update)
{
    char path[2048], golden[2048];
    snprintf(path, sizeof path, "%s/samples/%s/%s", source_dir, inst, file);
    snprintf(golden, sizeof golden, "%s/samples/%s/golden/%s", source_dir, inst, file);
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr in = parse_file(path, &d);
    xmlDocPtr out = NULL;
    const char *version = NULL;
    int rc = cdx_normalize(mappings, oid, in, &d, &out, &version);
    if (rc != 0) {
        char *j = cdx_diag_issues_json(&d);
        fail_msg("%s/%s: normalize failed: %s", inst, file, j ? j : "");
    }
    assert_string_equal(version, cdx_mappings_version_for(mappings, oid));
    /* Samples use only mapped codes: a warning here means a code map or
     * a sample is incomplete. */
    for (size_t i = 0; i < d.nissues; i++)
        if (strcmp(d.issues[i].rule, "MAP-UNMAPPED") == 0)
            fail_msg("%s/%s: %s at %s", inst, file, d.issues[i].message,
                     d.issues[i].location ? d.issues[i].location : "?");
    int same = 1;
    strip_blanks((xmlNodePtr)out);
    char *got = canonical(out);
    if (update) {
        char gdir[2048];
        snprintf(gdir, sizeof gdir, "%s/samples/%s/golden", source_dir, inst);
        assert_int_equal(cdx_mkdirs(gdir, 0755), 0);
        char *text = formatted(out);
        assert_int_equal(cdx_write_file_atomic(golden, text, strlen(text), 0644), 0);
        free(text);
    } else {
        cdx_diag_t gd;
        cdx_diag_init(&gd);
        xmlDocPtr want_doc = parse_file(golden, &gd);
        strip_blanks((xmlNodePtr)want_doc);
        char *want = canonical(want_doc);
        if (strcmp(got, want) != 0) {
            char name[512];
            snprintf(name, sizeof name, "%s/%s", inst, file);
            char *fg = formatted(out), *fw = formatted(want_doc);
            report_difference(name, fg, fw);
            free(fg);
            free(fw);
            same = 0;
        }
        free(want);
        xmlFreeDoc(want_doc);
        cdx_diag_cleanup(&gd);
    }
    free(got);
    xmlFreeDoc(out);
    xmlFreeDoc(in);
    cdx_diag_cleanup(&d);
    return same;
}

static void test_goldens(void **state)
{
    (void)state;
    int update = getenv("CDX_UPDATE_GOLDEN") && strcmp(getenv("CDX_UPDATE_GOLDEN"), "1") == 0;
    size_t checked = 0, failed = 0;
    for (size_t i = 0; i < CDX_ARRAY_SIZE(institutions); i++) {
        char dir[2048];
        snprintf(dir, sizeof dir, "%s/samples/%s", source_dir, institutions[i].name);
        struct dirent **names = NULL;
        int n = scandir(dir, &names, NULL, alphasort);
        assert_true(n > 0);
        size_t per = 0;
        for (int k = 0; k < n; k++) {
            if (has_suffix(names[k]->d_name, ".xml")) {
                per++;
                checked++;
                if (!check_sample(institutions[i].name, institutions[i].oid, names[k]->d_name,
                                  update))
                    failed++;
            }
            free(names[k]);
        }
        free(names);
        /* Every demo institution ships at least three sample documents. */
        assert_true(per >= 3);
    }
    printf("goldens: %zu samples %s, %zu differ\n", checked, update ? "rewritten" : "checked",
           failed);
    assert_int_equal(failed, 0);
}

static xmlDocPtr parse_text(const char *text)
{
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr doc = NULL;
    assert_int_equal(cdx_xml_parse(text, strlen(text), &d, &doc), 0);
    cdx_diag_cleanup(&d);
    return doc;
}

/* text normalized by m for institution (NULL: none), as the serialized
 * result; a heap string.  The normalization must succeed. */
static char *normalized_text(const cdx_mappings_t *m, const char *institution, const char *text)
{
    xmlDocPtr in = parse_text(text);
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr out = NULL;
    assert_int_equal(cdx_normalize(m, institution, in, &d, &out, NULL), 0);
    xmlChar *mem = NULL;
    int n = 0;
    xmlDocDumpMemory(out, &mem, &n);
    assert_non_null(mem);
    char *copy = strndup((const char *)mem, (size_t)n);
    assert_non_null(copy);
    xmlFree(mem);
    xmlFreeDoc(out);
    xmlFreeDoc(in);
    cdx_diag_cleanup(&d);
    return copy;
}

static const char KCD_DOC[] =
    "<ClinicalDocument xmlns=\"urn:hl7-org:v3\" "
    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
    "<typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\"/>"
    "<id root=\"2.25.1\" extension=\"t1\"/><effectiveTime value=\"202611011200\"/>"
    "<component><structuredBody><component><section>"
    "<code code=\"11450-4\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
    "<entry><observation classCode=\"OBS\" moodCode=\"EVN\">"
    "<code code=\"%s\" codeSystem=\"1.2.410.100110.40.2.3.2\"/><statusCode code=\"active\"/>"
    "</observation></entry></section></component></structuredBody></component>"
    "</ClinicalDocument>";

static void test_fallback(void **state)
{
    (void)state;
    const char *def = cdx_mappings_version_for(mappings, NULL);
    assert_non_null(def);
    assert_string_equal(cdx_mappings_name_for(mappings, NULL), "default");
    assert_string_equal(cdx_mappings_version_for(mappings, "1.2.3.4.5"), def);
    assert_string_equal(cdx_mappings_name_for(mappings, HANBIT_OID), "hanbit");
    assert_string_equal(cdx_mappings_name_for(mappings, "urn:oid:" DASOM_OID), "dasom");
    assert_string_equal(cdx_mappings_version_for(mappings, RIVERSIDE_OID), "riverside-2026.11.1");
    assert_true(cdx_mappings_count(mappings) >= 4);

    char text[4096];
    snprintf(text, sizeof text, KCD_DOC, "I10");
    xmlDocPtr in = parse_text(text);
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr out = NULL;
    const char *version = NULL;
    assert_int_equal(cdx_normalize(mappings, "2.25.999", in, &d, &out, &version), 0);
    assert_string_equal(version, def);
    /* The default mapping's zone (+0000) and the shared KCD-8 map apply. */
    char *c = canonical(out);
    assert_non_null(strstr(c, "202611011200+0000"));
    assert_non_null(strstr(c, "codeSystem=\"2.16.840.1.113883.6.3\""));
    free(c);
    xmlFreeDoc(out);
    /* The same document from Hanbit gets Hanbit's zone. */
    assert_int_equal(cdx_normalize(mappings, HANBIT_OID, in, &d, &out, &version), 0);
    assert_string_equal(version, "hanbit-2026.11.1");
    c = canonical(out);
    assert_non_null(strstr(c, "202611011200+0900"));
    free(c);
    xmlFreeDoc(out);
    xmlFreeDoc(in);
    cdx_diag_cleanup(&d);
}

/* Processing instructions never reach the canonical form, wherever they
 * stand (before and after the root, in the header, deep in a section,
 * several in a row) and whatever the mapping; the parsed original keeps
 * them. */
static void test_no_processing_instructions(void **state)
{
    (void)state;
    static const char doc[] =
        "<?xml version=\"1.0\"?>\n"
        "<?xml-stylesheet type=\"text/xsl\" href=\"file:///etc/cdx-local.xsl\"?>"
        "<?cdx-prolog one?><?cdx-prolog two?>"
        "<ClinicalDocument xmlns=\"urn:hl7-org:v3\">"
        "<?cdx-header first-child?>"
        "<typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\"/>"
        "<id root=\"2.25.1\" extension=\"t1\"/><effectiveTime value=\"202611011200\"/>"
        "<component><structuredBody><component><section>"
        "<code code=\"11450-4\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
        "<text><paragraph>a<?cdx-text deep?>b</paragraph><?cdx-last?></text>"
        "</section></component></structuredBody></component><?cdx-tail?>"
        "</ClinicalDocument><?cdx-epilog?>";
    static const char *const oids[] = {NULL, HANBIT_OID, DASOM_OID, RIVERSIDE_OID};
    xmlDocPtr in = parse_text(doc);
    for (size_t i = 0; i < CDX_ARRAY_SIZE(oids); i++) {
        cdx_diag_t d;
        cdx_diag_init(&d);
        xmlDocPtr out = NULL;
        assert_int_equal(cdx_normalize(mappings, oids[i], in, &d, &out, NULL), 0);
        xmlChar *mem = NULL;
        int len = 0;
        xmlDocDumpMemoryEnc(out, &mem, &len, "UTF-8");
        assert_non_null(mem);
        const char *text = (const char *)mem;
        /* Only the XML declaration starts with "<?". */
        const char *pi = strstr(text, "<?");
        assert_non_null(pi);
        assert_true(strncmp(pi, "<?xml version", 13) == 0);
        if (strstr(pi + 2, "<?") != NULL)
            fail_msg("mapping for %s kept a PI: %s", oids[i] ? oids[i] : "default",
                     strstr(pi + 2, "<?"));
        /* The text around the removed instruction is intact. */
        assert_non_null(strstr(text, ">ab<"));
        xmlFree(mem);
        xmlFreeDoc(out);
        cdx_diag_cleanup(&d);
    }
    xmlChar *orig = NULL;
    int olen = 0;
    xmlDocDumpMemory(in, &orig, &olen);
    assert_non_null(strstr((const char *)orig, "<?xml-stylesheet"));
    assert_non_null(strstr((const char *)orig, "<?cdx-text deep?>"));
    xmlFree(orig);
    xmlFreeDoc(in);
}

static void test_unmapped(void **state)
{
    (void)state;
    char text[4096];
    snprintf(text, sizeof text, KCD_DOC, "X99.123");
    xmlDocPtr in = parse_text(text);
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr out = NULL;
    assert_int_equal(cdx_normalize(mappings, HANBIT_OID, in, &d, &out, NULL), 0);
    int found = 0;
    for (size_t i = 0; i < d.nissues; i++) {
        if (strcmp(d.issues[i].rule, "MAP-UNMAPPED") != 0)
            continue;
        found++;
        assert_int_equal(d.issues[i].severity, CDX_SEV_WARNING);
        assert_non_null(strstr(d.issues[i].message, "X99.123"));
        assert_non_null(strstr(d.issues[i].message, "1.2.410.100110.40.2.3.2"));
        assert_non_null(d.issues[i].location);
        assert_non_null(strstr(d.issues[i].location, "/entry/observation/code"));
    }
    assert_int_equal(found, 1);
    assert_int_equal(d.nerrors, 0);
    /* The code stays as sent, now as the value of a Problem Observation. */
    char *c = canonical(out);
    assert_non_null(strstr(c, "code=\"X99.123\" codeSystem=\"1.2.410.100110.40.2.3.2\""));
    free(c);
    xmlFreeDoc(out);
    xmlFreeDoc(in);
    cdx_diag_cleanup(&d);
}

/* The entry templates ask a section's code through cdx:has-code, which
 * keeps each section's code once per transformation: it must answer as
 * h:code/@code = '11450-4' did, for the first code, for a later one
 * (two code children: schema-invalid, still normalized) and for none. */
static void test_section_code(void **state)
{
    (void)state;
    static const char doc[] =
        "<ClinicalDocument xmlns=\"urn:hl7-org:v3\">"
        "<component><structuredBody><component><section>%s"
        "<entry><observation classCode=\"OBS\" moodCode=\"EVN\">"
        "<code code=\"I10\" codeSystem=\"1.2.410.100110.40.2.3.2\"/></observation></entry>"
        "</section></component></structuredBody></component></ClinicalDocument>";
    const struct {
        const char *codes;
        int problem;
    } cases[] = {
        {"<code code=\"11450-4\" codeSystem=\"2.16.840.1.113883.6.1\"/>", 1},
        {"<code code=\"10160-0\"/><title>t</title><code code=\"11450-4\"/>", 1},
        {"<code code=\"10160-0\"/><code code=\"48765-3\"/>", 0},
        {"<code codeSystem=\"2.16.840.1.113883.6.1\"/>", 0},
        {"<title>none</title>", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[2048];
        snprintf(text, sizeof text, doc, cases[i].codes);
        xmlDocPtr in = parse_text(text);
        cdx_diag_t d;
        cdx_diag_init(&d);
        xmlDocPtr out = NULL;
        assert_int_equal(cdx_normalize(mappings, "2.25.999", in, &d, &out, NULL), 0);
        char *c = canonical(out);
        /* A Problem Concern Act is built around a bare observation of a
         * problems section only. */
        int problem = strstr(c, "2.16.840.1.113883.10.20.22.4.3") != NULL;
        if (problem != cases[i].problem)
            fail_msg("section %s: problem act %d, want %d: %s", cases[i].codes, problem,
                     cases[i].problem, c);
        free(c);
        xmlFreeDoc(out);
        xmlFreeDoc(in);
        cdx_diag_cleanup(&d);
    }
}

static char tmp_root[1024];

static void make_tmp(void)
{
    assert_int_equal(cdx_test_scratch_dir(tmp_root, sizeof tmp_root, "normalize"), 0);
}

static void rm_tmp(void)
{
    cdx_test_remove_dir(tmp_root);
}

static void put(const char *rel, const char *text)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", tmp_root, rel);
    char dir[2048];
    cdx_strlcpy(dir, path, sizeof dir);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(cdx_mkdirs(dir, 0755), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char CONF[] = "version = test-1\nstylesheet = normalize.xsl\n";

/* A hostile stylesheet that tries to read /etc/passwd with document() and
 * to write files with exsl:document and (forwards-compatible)
 * xsl:result-document.  The sandbox must let none of it happen. */
static const char EVIL_XSL[] =
    "<xsl:stylesheet version=\"1.0\" xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\"\n"
    "    xmlns:exsl=\"http://exslt.org/common\" extension-element-prefixes=\"exsl\">\n"
    "  <xsl:template match=\"/\">\n"
    "    <out>\n"
    "      <read><xsl:copy-of select=\"document('file:///etc/passwd')\"/></read>\n"
    "      <rel><xsl:copy-of select=\"document('../../../../../../etc/passwd')\"/></rel>\n"
    "      <exsl:document href=\"@TMP@/exsl-written.txt\" method=\"text\">x</exsl:document>\n"
    "    </out>\n"
    "  </xsl:template>\n"
    "</xsl:stylesheet>\n";

static const char EVIL2_XSL[] =
    "<xsl:stylesheet version=\"2.0\" xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\">\n"
    "  <xsl:template match=\"/\">\n"
    "    <out><xsl:result-document "
    "href=\"@TMP@/result-written.txt\">x</xsl:result-document></out>\n"
    "  </xsl:template>\n"
    "</xsl:stylesheet>\n";

/* Copies template into out with @TMP@ replaced by the temporary folder. */
static void fill_tmp(const char *template, char *out, size_t outlen)
{
    const char *at = strstr(template, "@TMP@");
    assert_non_null(at);
    int n = snprintf(out, outlen, "%.*s%s%s", (int)(at - template), template, tmp_root, at + 5);
    assert_true(n > 0 && (size_t)n < outlen);
}

static void run_sandboxed(const char *xsl_template, const char *written)
{
    char xsl[4096];
    fill_tmp(xsl_template, xsl, sizeof xsl);
    put("m/default/mapping.conf", CONF);
    put("m/default/normalize.xsl", xsl);
    char dir[2048], err[1024] = "";
    snprintf(dir, sizeof dir, "%s/m", tmp_root);
    cdx_mappings_t *m = NULL;
    int rc = cdx_mappings_load(dir, &m, err, sizeof err);
    if (rc != 0) {
        /* Refusing such a stylesheet at load is as good as defusing it. */
        printf("sandbox: refused at load: %s\n", err);
        return;
    }
    xmlDocPtr in = parse_text("<ClinicalDocument xmlns=\"urn:hl7-org:v3\"/>");
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr out = NULL;
    rc = cdx_normalize(m, NULL, in, &d, &out, NULL);
    if (rc == 0) {
        xmlChar *text = NULL;
        int n = 0;
        xmlDocDumpMemory(out, &text, &n);
        assert_null(strstr((const char *)text, "root:"));
        xmlFree(text);
        xmlFreeDoc(out);
    }
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", tmp_root, written);
    assert_int_not_equal(access(path, F_OK), 0);
    xmlFreeDoc(in);
    cdx_diag_cleanup(&d);
    cdx_mappings_free(m);
}

static void test_sandbox(void **state)
{
    (void)state;
    make_tmp();
    run_sandboxed(EVIL_XSL, "exsl-written.txt");
    run_sandboxed(EVIL2_XSL, "result-written.txt");
    rm_tmp();
}

/* Loads a mapping folder holding one bad file and expects the error to
 * name that file and line. */
static void expect_load_error(const char *rel, const char *text, const char *where)
{
    make_tmp();
    put("m/default/mapping.conf", CONF);
    put("m/default/normalize.xsl",
        "<xsl:stylesheet version=\"1.0\" xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\"/>\n");
    put(rel, text);
    char dir[2048], err[1024] = "", want[2048];
    snprintf(dir, sizeof dir, "%s/m", tmp_root);
    snprintf(want, sizeof want, "%s/m/%s", tmp_root, where);
    cdx_mappings_t *m = NULL;
    assert_int_equal(cdx_mappings_load(dir, &m, err, sizeof err), CDX_ECONFIG);
    assert_null(m);
    if (strstr(err, want) == NULL)
        fail_msg("error \"%s\" does not name %s", err, want);
    rm_tmp();
}

static void test_load_errors(void **state)
{
    (void)state;
    expect_load_error("m/codemaps/a.tsv", "# map: a source_system=1.2.3\nX\t1.2\tY\nZ\tY\n",
                      "codemaps/a.tsv:3:");
    expect_load_error("m/codemaps/b.tsv", "# comment\n\nX\t1.2\tY\n", "codemaps/b.tsv:3:");
    expect_load_error("m/codemaps/c.tsv", "# map: c\nX\t1.2\tY\tx\nX\t1.3\tZ\ty\n",
                      "codemaps/c.tsv:3:");
    expect_load_error("m/codemaps/d.tsv", "# map: d\nX\tnot-an-oid\tY\n", "codemaps/d.tsv:2:");
    expect_load_error("m/codemaps/e.tsv", "# map: e source_system=bad\n", "codemaps/e.tsv:1:");
    expect_load_error("m/hanbit/mapping.conf",
                      "institutions = 2.25.1\nversion = h-1\nstylesheet = x.xsl\ntimezone = 0900\n",
                      "hanbit/mapping.conf:4:");
    expect_load_error("m/hanbit/mapping.conf", "version = h-1\ncolour = blue\n",
                      "hanbit/mapping.conf:2:");
    expect_load_error("m/hanbit/mapping.conf", "institutions = 2.25.1, banana\n",
                      "hanbit/mapping.conf:1:");
    /* A stylesheet error names the stylesheet (and libxslt its line). */
    expect_load_error("m/other/mapping.conf", "version = o-1\nstylesheet = bad.xsl\n",
                      "other/bad.xsl");
}

static size_t corpus_ok, corpus_unparsed, corpus_failed;

static int corpus_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F || !(has_suffix(path, ".xml") || has_suffix(path, ".XML")) ||
        st->st_size > (64 << 20))
        return 0;
    char *data = NULL;
    size_t len = 0;
    if (cdx_read_file(path, 64u << 20, &data, &len) != 0)
        return 0;
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr in = NULL;
    if (cdx_xml_parse(data, len, &d, &in) != 0) {
        corpus_unparsed++;
    } else {
        xmlDocPtr out = NULL;
        if (cdx_normalize(mappings, NULL, in, &d, &out, NULL) == 0 && out != NULL) {
            corpus_ok++;
        } else {
            corpus_failed++;
            char *j = cdx_diag_issues_json(&d);
            fprintf(stderr, "normalize failed: %s: %.300s\n", path, j ? j : "");
            free(j);
        }
        xmlFreeDoc(out);
        xmlFreeDoc(in);
    }
    cdx_diag_cleanup(&d);
    free(data);
    return 0;
}

static void test_corpus(void **state)
{
    (void)state;
    char dir[2048];
    const char *corpus = getenv("CDX_CORPUS_DIR");
    if (corpus != NULL)
        snprintf(dir, sizeof dir, "%s/ccda", corpus);
    else
        snprintf(dir, sizeof dir, "%s/../shared/corpus/ccda", source_dir);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        CDX_SKIP("corpus absent: %s (set CDX_CORPUS_DIR)", dir);
    }
    uint64_t t0 = cdx_now_ms();
    assert_int_equal(nftw(dir, corpus_entry, 16, FTW_PHYS), 0);
    printf("corpus: %zu normalized, %zu failed, %zu not accepted by the parser (%llu ms)\n",
           corpus_ok, corpus_failed, corpus_unparsed, (unsigned long long)(cdx_now_ms() - t0));
    assert_true(corpus_ok > 0);
    assert_int_equal(corpus_failed, 0);
}

/* The mappings are shared by worker threads: several threads normalizing
 * the same documents at once must each get the single-threaded result. */
#define THREADS    4
#define ROUNDS     25
#define THREAD_DOC "samples/hanbit/care-summary-kim-minjun.xml"

typedef struct worker {
    xmlDocPtr in;
    const char *want;
    int mismatches;
} worker_t;

static void *work(void *arg)
{
    worker_t *w = arg;
    for (int i = 0; i < ROUNDS; i++) {
        cdx_diag_t d;
        cdx_diag_init(&d);
        xmlDocPtr out = NULL;
        if (cdx_normalize(mappings, HANBIT_OID, w->in, &d, &out, NULL) != 0) {
            w->mismatches++;
        } else {
            xmlChar *text = NULL;
            int n = xmlC14NDocDumpMemory(out, NULL, XML_C14N_EXCLUSIVE_1_0, NULL, 0, &text);
            if (n < 0 || strcmp((const char *)text, w->want) != 0)
                w->mismatches++;
            xmlFree(text);
        }
        xmlFreeDoc(out);
        cdx_diag_cleanup(&d);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", source_dir, THREAD_DOC);
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr in[THREADS];
    for (int i = 0; i < THREADS; i++)
        in[i] = parse_file(path, &d);
    xmlDocPtr out = NULL;
    assert_int_equal(cdx_normalize(mappings, HANBIT_OID, in[0], &d, &out, NULL), 0);
    char *want = canonical(out);
    xmlFreeDoc(out);
    pthread_t t[THREADS];
    worker_t w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker_t){.in = in[i], .want = want};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    int bad = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        bad += w[i].mismatches;
        xmlFreeDoc(in[i]);
    }
    free(want);
    cdx_diag_cleanup(&d);
    assert_int_equal(bad, 0);
}

/* The walk after every mapping's stylesheet: times with a time of day and
 * no zone get the mapping's zone (dates, zoned times and physical
 * quantities stay as sent), units go to UCUM, and a measured value whose
 * unit changed keeps its spelling as its first translation, once. */
#define NS_XSI "http://www.w3.org/2001/XMLSchema-instance"

static void test_finishing_walk(void **state)
{
    (void)state;
    static const char doc[] =
        "<ClinicalDocument xmlns=\"urn:hl7-org:v3\" "
        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
        "<id root=\"2.25.1\" extension=\"w\"/><effectiveTime value=\"2026110112\"/>"
        "<recordTarget><patientRole><patient><birthTime value=\"19800101\"/></patient>"
        "</patientRole></recordTarget><component><structuredBody><component><section>"
        "<code code=\"30954-2\" codeSystem=\"2.16.840.1.113883.6.1\"/><entry><organizer>"
        "<templateId root=\"1.2\"/><effectiveTime><low value=\"202611011200.5\"/>"
        "<high value=\"20261101120000-0500\"/></effectiveTime><component><observation>"
        "<templateId root=\"1.3\"/>"
        "<value xsi:type=\"PQ\" value=\"3\" unit=\"mg/dl\"><translation code=\"a\" "
        "codeSystem=\"1.2\"/></value>"
        "<value xsi:type=\"TS\" value=\"202611011230\"/>"
        "<value xsi:type=\"IVL_PQ\"><low value=\"20261101123000\" unit=\"mg/dl\"/>"
        "<high value=\"2026110112\"/></value>"
        "<value xsi:type=\"PQ\" value=\"7\" unit=\"x10^3/uL\"><translation code=\"x10^3/uL\" "
        "codeSystemName=\"unit as sent\"/></value>"
        "<doseQuantity value=\"1\" unit=\"mg/dl\"/>"
        "</observation></component></organizer></entry></section></component>"
        "</structuredBody></component></ClinicalDocument>";
    xmlDocPtr in = parse_text(doc);
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr out = NULL;
    assert_int_equal(cdx_normalize(mappings, "2.25.999", in, &d, &out, NULL), 0);
    char *c = canonical(out);
    static const char *const want[] = {
        "<effectiveTime value=\"2026110112+0000\">",
        "<birthTime value=\"19800101\">",
        "<low value=\"202611011200.5+0000\">",
        "<high value=\"20261101120000-0500\">",
        "<value xmlns:xsi=\"" NS_XSI
        "\" unit=\"mg/dL\" value=\"3\" xsi:type=\"PQ\"><translation code=\"mg/dl\" "
        "codeSystemName=\"unit as sent\" value=\"3\"></translation><translation code=\"a\" "
        "codeSystem=\"1.2\"></translation></value>",
        "<value xmlns:xsi=\"" NS_XSI "\" value=\"202611011230+0000\" xsi:type=\"TS\">",
        "<low unit=\"mg/dL\" value=\"20261101123000\"></low><high value=\"2026110112\">",
        "<value xmlns:xsi=\"" NS_XSI
        "\" unit=\"10*3/uL\" value=\"7\" xsi:type=\"PQ\"><translation code=\"x10^3/uL\" "
        "codeSystemName=\"unit as sent\"></translation></value>",
        "<doseQuantity unit=\"mg/dL\" value=\"1\"></doseQuantity>",
    };
    for (size_t i = 0; i < CDX_ARRAY_SIZE(want); i++)
        if (strstr(c, want[i]) == NULL)
            fail_msg("missing %s in %s", want[i], c);
    free(c);
    xmlFreeDoc(out);
    xmlFreeDoc(in);
    cdx_diag_cleanup(&d);
}

/* Coded elements are mapped by the finishing walk (normalize_coded.c) as
 * the default stylesheet's coded template wrote them: attribute and child
 * order of a mapped and of an unmapped code, one MAP-UNMAPPED per code in
 * the order of the canonical form (the vital signs gathered into one
 * organizer come before the entry that stood between them) located at the
 * source element, none twice for a code the stylesheet wrote itself, and
 * the source's line numbers as they were. */
#define LAB "2.25.83570720227913622468059417429842681918.3.1"
static xmlNodePtr find_element(xmlNodePtr n, const char *name)
{
    for (; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (xmlStrEqual(n->name, BAD_CAST name))
            return n;
        xmlNodePtr below = find_element(n->children, name);
        if (below != NULL)
            return below;
    }
    return NULL;
}

#define EDI "1.2.410.100110.40.2.3.3"
static void test_coded_walk(void **state)
{
    (void)state;
    static const char doc[] =
        "<ClinicalDocument xmlns=\"urn:hl7-org:v3\" "
        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><component><structuredBody>"
        "<component><section><code code=\"11450-4\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
        "<entry><observation classCode=\"OBS\" moodCode=\"EVN\">"
        "<code code=\"Z99.99\" codeSystem=\"1.2.410.100110.40.2.3.2\"/></observation></entry>"
        "</section></component>"
        "<component><section><code code=\"8716-3\" codeSystem=\"2.16.840.1.113883.6.1\"/>\n"
        "<entry><observation classCode=\"OBS\" moodCode=\"EVN\"><code code=\"8480-6\"/>"
        "<value xsi:type=\"PQ\" value=\"120\" unit=\"mmHg\"/></observation></entry>\n"
        "<entry><observation classCode=\"OBS\" moodCode=\"EVN\">"
        "<templateId root=\"2.16.840.1.113883.10.20.22.4.27\"/><code code=\"8867-4\"/>"
        "<value xsi:type=\"CD\" code=\"E-NONE1\" codeSystem=\"" EDI "\"/></observation></entry>\n"
        "<entry><observation classCode=\"OBS\" moodCode=\"EVN\"><code code=\"8462-4\"/>"
        "<interpretationCode code=\"E-NONE2\" codeSystem=\"" EDI "\"/></observation></entry>"
        "</section></component>"
        "<component><section><code code=\"30954-2\" codeSystem=\"2.16.840.1.113883.6.1\"/>\n"
        "<entry><observation classCode=\"OBS\" moodCode=\"EVN\">\n"
        "<code codeSystem=\"" LAB "\" xsi:type=\"CD\" displayName=\"TG\" code=\"L-TG01\" "
        "codeSystemVersion=\"7\" extra=\"x\"> <!-- c --><translation code=\"t\" codeSystem=\"1.2\"/>"
        "<originalText>TG</originalText> </code>\n"
        "<methodCode codeSystem=\"" LAB "\" displayName=\"d\" xsi:type=\"CD\" code=\"L-NONE\"/>"
        "</observation></entry></section></component>"
        "</structuredBody></component></ClinicalDocument>";
    xmlDocPtr in = parse_text(doc);
    xmlNodePtr method = find_element(xmlDocGetRootElement(in), "methodCode");
    assert_non_null(method);
    long method_line = xmlGetLineNo(method);
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr out = NULL;
    assert_int_equal(cdx_normalize(mappings, HANBIT_OID, in, &d, &out, NULL), 0);
    assert_int_equal(xmlGetLineNo(method), method_line);
    const char *want[][2] = {
        {"Z99.99", "/section/entry/observation/code"},
        {"E-NONE2", "/section/entry[3]/observation/interpretationCode"},
        {"E-NONE1", "/section/entry[2]/observation/value"},
        {"L-NONE", "/section/entry/observation/methodCode"},
    };
    size_t k = 0;
    for (size_t i = 0; i < d.nissues; i++) {
        if (strcmp(d.issues[i].rule, "MAP-UNMAPPED") != 0)
            continue;
        assert_true(k < sizeof want / sizeof *want);
        assert_non_null(strstr(d.issues[i].message, want[k][0]));
        assert_non_null(d.issues[i].location);
        if (strstr(d.issues[i].location, want[k][1]) == NULL)
            fail_msg("%s at %s, want %s", want[k][0], d.issues[i].location, want[k][1]);
        k++;
    }
    assert_int_equal(k, sizeof want / sizeof *want);
    xmlChar *mem = NULL;
    int len = 0;
    xmlDocDumpMemory(out, &mem, &len);
    const char *text = (const char *)mem;
    const char *expect[] = {
        "<code xsi:type=\"CD\" extra=\"x\" code=\"2571-8\" codeSystem=\"2.16.840.1.113883.6.1\" "
        "codeSystemName=\"LOINC\" displayName=\"Triglyceride [Mass/volume] in Serum or Plasma\">"
        "<originalText>TG</originalText><translation code=\"L-TG01\" codeSystem=\"" LAB "\" "
        "displayName=\"TG\" codeSystemVersion=\"7\"/><translation code=\"t\" codeSystem=\"1.2\"/>"
        "</code>",
        "<methodCode xsi:type=\"CD\" displayName=\"d\" code=\"L-NONE\" codeSystem=\"" LAB "\"/>",
        "<value xsi:type=\"CD\" code=\"Z99.99\" codeSystem=\"1.2.410.100110.40.2.3.2\"/>",
    };
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++)
        if (strstr(text, expect[i]) == NULL)
            fail_msg("missing %s in %s", expect[i], text);
    xmlFree(mem);
    xmlFreeDoc(out);
    xmlFreeDoc(in);
    cdx_diag_cleanup(&d);
}

/* Two unmapped codes alike on one line: the walk cannot tell their copies
 * apart by line number, and the run is made again with the source tagged
 * (normalize_coded.c); each warning still names its own element, and the
 * source's line numbers are as they were. */
static void test_coded_alike(void **state)
{
    (void)state;
    static const char doc[] =
        "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><component><structuredBody><component>"
        "<section><entry><observation classCode=\"OBS\" moodCode=\"EVN\">"
        "<value code=\"L-DUP\" codeSystem=\"" LAB "\"/><value code=\"L-DUP\" codeSystem=\"" LAB
        "\"/></observation></entry></section></component></structuredBody></component>"
        "</ClinicalDocument>";
    xmlDocPtr in = parse_text(doc);
    xmlNodePtr value = find_element(xmlDocGetRootElement(in), "value");
    assert_non_null(value);
    long line = xmlGetLineNo(value);
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr out = NULL;
    assert_int_equal(cdx_normalize(mappings, HANBIT_OID, in, &d, &out, NULL), 0);
    assert_int_equal(xmlGetLineNo(value), line);
    assert_int_equal(d.nissues, 2);
    assert_non_null(strstr(d.issues[0].location, "/observation/value[1]"));
    assert_non_null(strstr(d.issues[1].location, "/observation/value[2]"));
    xmlFreeDoc(out);
    xmlFreeDoc(in);
    cdx_diag_cleanup(&d);
}

/* with-templates puts the templateIds after the last of realmCode, typeId
 * and templateId, comments staying where they were, or first when there is
 * none of them; the identity template's attribute copy (cdx:copy-attributes)
 * keeps values, character references and namespaced attributes as
 * xsl:copy-of select="@*" wrote them. */
static void test_restructure_shapes(void **state)
{
    (void)state;
    static const char doc[] =
        "<ClinicalDocument xmlns=\"urn:hl7-org:v3\" "
        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:sdtc=\"urn:hl7-org:sdtc\">"
        "<component><structuredBody><component><section>"
        "<code code=\"30954-2\" codeSystem=\"2.16.840.1.113883.6.1\"/><entry>"
        "<organizer classCode=\"BATTERY\" moodCode=\"EVN\"><realmCode code=\"KR\"/><!--a-->"
        "<typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\"/><!--b-->"
        "<id root=\"1.2.3\" extension=\"o1\"/><component>"
        "<observation classCode=\"OBS\" moodCode=\"EVN\"><!--c--><id root=\"1.2.3\"/>"
        "<code code=\"2345-7\" codeSystem=\"2.16.840.1.113883.6.1\" displayName=\"A &amp; B&#10;C\"/>"
        "<value xsi:type=\"PQ\" value=\"5\" unit=\"mg\" sdtc:x=\"y\"/></observation>"
        "</component></organizer></entry></section></component></structuredBody></component>"
        "</ClinicalDocument>";
    static const char *const want[] = {
        "<organizer classCode=\"BATTERY\" moodCode=\"EVN\"><realmCode code=\"KR\"/><!--a-->"
        "<typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\"/>"
        "<templateId root=\"2.16.840.1.113883.10.20.22.4.1\"/>"
        "<templateId root=\"2.16.840.1.113883.10.20.22.4.1\" extension=\"2015-08-01\"/>"
        "<!--b--><id root=\"1.2.3\" extension=\"o1\"/>",
        "<observation classCode=\"OBS\" moodCode=\"EVN\">"
        "<templateId root=\"2.16.840.1.113883.10.20.22.4.2\"/>"
        "<templateId root=\"2.16.840.1.113883.10.20.22.4.2\" extension=\"2015-08-01\"/>"
        "<!--c--><id root=\"1.2.3\"/>",
        "displayName=\"A &amp; B&#10;C\"",
        "<value xsi:type=\"PQ\" value=\"5\" unit=\"mg\" sdtc:x=\"y\"/>",
    };
    char *text = normalized_text(mappings, "2.25.999", doc);
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (strstr(text, want[i]) == NULL)
            fail_msg("want %s in %s", want[i], text);
    free(text);
}

static size_t count_of(const char *text, const char *what)
{
    size_t n = 0;
    for (const char *p = strstr(text, what); p != NULL; p = strstr(p + 1, what))
        n++;
    return n;
}

/* Bare vital-sign observations are gathered into one organizer per
 * section, written where the first entry holding one was (cdx:first-bare):
 * an entry with a templated and a bare observation counts, entries with
 * templates only are copied, and each section gets its own organizer. */
static void test_vital_signs_gathered(void **state)
{
    (void)state;
#define VS_SECTION "<component><section><code code=\"8716-3\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
#define VS_OBS(code, extra)                                                                        \
    "<observation classCode=\"OBS\" moodCode=\"EVN\">" extra "<code code=\"" code "\" "           \
    "codeSystem=\"2.16.840.1.113883.6.1\"/><value xsi:type=\"PQ\" value=\"1\" unit=\"kg\"/>"       \
    "</observation>"
#define VS_T "<templateId root=\"1.2.3.4\"/>"
    static const char doc[] =
        "<ClinicalDocument xmlns=\"urn:hl7-org:v3\" "
        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><component><structuredBody>"
        VS_SECTION "<!--a--><entry><organizer classCode=\"CLUSTER\" moodCode=\"EVN\">" VS_T
        "<component>" VS_OBS("8302-2", VS_T) "</component></organizer></entry>"
        "<entry>" VS_OBS("8310-5", VS_T) "</entry>"
        "<entry>" VS_OBS("8867-4", VS_T) VS_OBS("8480-6", "") "</entry><!--m-->"
        "<entry>" VS_OBS("8462-4", "") "</entry></section></component>"
        VS_SECTION "<!--b--><entry>" VS_OBS("29463-7", "") "</entry></section></component>"
        "</structuredBody></component></ClinicalDocument>";
#undef VS_SECTION
#undef VS_OBS
#undef VS_T
    char *mem = normalized_text(mappings, "2.25.999", doc);
    const char *t = mem;
    const char *a = strstr(t, "<!--a-->"), *m = strstr(t, "<!--m-->"), *b = strstr(t, "<!--b-->");
    const char *first = strstr(t, "code=\"46680005\"");
    const char *second = first != NULL ? strstr(first + 1, "code=\"46680005\"") : NULL;
    if (a == NULL || m == NULL || b == NULL || first == NULL || second == NULL ||
        count_of(t, "code=\"46680005\"") != 2 || !(a < first && first < m && b < second))
        fail_msg("one organizer per section, at its first bare entry: %s", t);
    /* The organizer of the first section holds the two bare observations
     * in document order; the observations with templates are copied. */
    const char *p8480 = strstr(first, "code=\"8480-6\""), *p8462 = strstr(first, "code=\"8462-4\"");
    if (p8480 == NULL || p8462 == NULL || !(p8480 < p8462 && p8462 < m) ||
        count_of(t, "root=\"2.16.840.1.113883.10.20.22.4.27\" extension") != 3 ||
        count_of(t, "code=\"8302-2\"") != 1 || count_of(t, "code=\"8310-5\"") != 1)
        fail_msg("organizer components: %s", t);
    free(mem);
}

/* <cdx:copy-attributes/> after an xsl:attribute replaces its namesake, as
 * xsl:copy-of select="@*" does; after a child it adds nothing. */
static void test_copy_attributes(void **state)
{
    (void)state;
    make_tmp();
    put("m/default/mapping.conf", CONF);
    put("m/default/normalize.xsl",
        "<xsl:stylesheet version=\"1.0\" xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\"\n"
        "    xmlns:cdx=\"urn:cdxgw:ext\" extension-element-prefixes=\"cdx\">\n"
        "  <xsl:template match=\"*\"><xsl:copy><xsl:attribute name=\"code\">x</xsl:attribute>"
        "<xsl:attribute name=\"extra\">e</xsl:attribute><cdx:copy-attributes/>"
        "<xsl:apply-templates/></xsl:copy></xsl:template>\n"
        "  <xsl:template match=\"*[local-name() = 'late']\"><xsl:copy><i/>"
        "<cdx:copy-attributes/></xsl:copy></xsl:template>\n"
        "</xsl:stylesheet>\n");
    char dir[2048], err[1024] = "";
    snprintf(dir, sizeof dir, "%s/m", tmp_root);
    cdx_mappings_t *m = NULL;
    assert_int_equal(cdx_mappings_load(dir, &m, err, sizeof err), 0);
    char *t = normalized_text(m, NULL,
                              "<ClinicalDocument xmlns=\"urn:hl7-org:v3\">"
                              "<code code=\"c\" codeSystem=\"s\"/><late/></ClinicalDocument>");
    if (strstr(t, "<code code=\"c\" extra=\"e\" codeSystem=\"s\"/>") == NULL ||
        strstr(t, "<late><i xmlns=\"\"/></late>") == NULL)
        fail_msg("copy-attributes: %s", t);
    free(t);
    cdx_diag_t d;
    xmlDocPtr in = parse_text("<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><late code=\"l\"/>"
                    "</ClinicalDocument>");
    cdx_diag_init(&d);
    xmlDocPtr out = NULL;
    assert_int_not_equal(cdx_normalize(m, NULL, in, &d, &out, NULL), 0);
    xmlFreeDoc(out);
    xmlFreeDoc(in);
    cdx_diag_cleanup(&d);
    cdx_mappings_free(m);
    rm_tmp();
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_goldens),
        cmocka_unit_test(test_fallback),
        cmocka_unit_test(test_unmapped),
        cmocka_unit_test(test_section_code),
        cmocka_unit_test(test_sandbox),
        cmocka_unit_test(test_no_processing_instructions),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_finishing_walk),
        cmocka_unit_test(test_coded_walk),
        cmocka_unit_test(test_coded_alike),
        cmocka_unit_test(test_restructure_shapes),
        cmocka_unit_test(test_copy_attributes),
        cmocka_unit_test(test_vital_signs_gathered),
    };
    /* CDX_CORPUS_TESTS: the cases that need the shared corpus. */
    const struct CMUnitTest corpus_tests[] = {
        cmocka_unit_test(test_corpus),
    };
    if (cdx_test_corpus_group(argc, argv))
        return cdx_test_exit(cmocka_run_group_tests(corpus_tests, group_setup, group_teardown));
    return cdx_test_exit(cmocka_run_group_tests(tests, group_setup, group_teardown));
}
