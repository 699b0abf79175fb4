/* xslt: trusted stylesheets, compiled once, applied safely (see include/cdx/parsers/xslt.h). */
#include "cdx/parsers/xslt.h"
#include "cdx/base/buf.h"
#include "cdx/base/common.h"
#include "cdx/parsers/xml.h"

#include <libxml/parser.h>
#include <libxslt/documents.h>
#include <libxslt/security.h>
#include <libxslt/transform.h>
#include <libxslt/xsltInternals.h>
#include <libxslt/xsltutils.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static xsltSecurityPrefsPtr prefs;

/* The folder stylesheets may be imported from, set while one compiles
 * (start-up only; compiling is not done concurrently). */
static _Thread_local const char *compile_root;
static _Thread_local cdx_buf_t *compile_errors;

static int under_root(const char *path, const char *root, char *real)
{
    char rroot[PATH_MAX];
    if (root == NULL || realpath(path, real) == NULL || realpath(root, rroot) == NULL)
        return 0;
    size_t n = strlen(rroot);
    return strncmp(real, rroot, n) == 0 && real[n] == '/';
}

/* document() can load nothing at all; xsl:import and xsl:include only
 * files under the compile root, parsed with the hardened options. */
static xmlDocPtr loader(const xmlChar *uri, xmlDictPtr dict, int options, void *ctxt,
                        xsltLoadType type)
{
    (void)options;
    (void)ctxt;
    char real[PATH_MAX];
    if (type != XSLT_LOAD_STYLESHEET || uri == NULL)
        return NULL;
    const char *path = (const char *)uri;
    if (strncmp(path, "file://", 7) == 0)
        path += 7;
    if (strstr(path, "://") != NULL || !under_root(path, compile_root, real))
        return NULL;
    char *text = NULL;
    size_t len = 0;
    if (cdx_read_file(real, 16u << 20, &text, &len) != 0)
        return NULL;
    /* libxslt compares names by dictionary pointer: an imported stylesheet
     * must share the importing one's dictionary, or its variables are
     * "not declared" at run time. */
    xmlParserCtxtPtr pctxt = xmlNewParserCtxt();
    xmlDocPtr doc = NULL;
    if (pctxt != NULL) {
        if (dict != NULL) {
            xmlDictFree(pctxt->dict);
            pctxt->dict = dict;
            xmlDictReference(dict);
        }
        doc = xmlCtxtReadMemory(pctxt, text, (int)len, real, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOCDATA);
        xmlFreeParserCtxt(pctxt);
    }
    free(text);
    return doc;
}

static void on_generic_error(void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void on_generic_error(void *ctx, const char *fmt, ...)
{
    (void)ctx;
    if (compile_errors == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    cdx_buf_vprintf(compile_errors, fmt, ap);
    va_end(ap);
}

/* File reads are allowed only while a stylesheet compiles, and only under
 * its root (xsl:import, xsl:include); during transformations never. */
static int check_read(xsltSecurityPrefsPtr sec, xsltTransformContextPtr ctxt, const char *value)
{
    (void)sec;
    char real[PATH_MAX];
    if (ctxt != NULL || compile_root == NULL || value == NULL)
        return 0;
    const char *path = strncmp(value, "file://", 7) == 0 ? value + 7 : value;
    return under_root(path, compile_root, real);
}

static void init(void)
{
    cdx_xml_global_init();
    xsltInit();
    prefs = xsltNewSecurityPrefs();
    xsltSetSecurityPrefs(prefs, XSLT_SECPREF_READ_FILE, check_read);
    xsltSetSecurityPrefs(prefs, XSLT_SECPREF_WRITE_FILE, xsltSecurityForbid);
    xsltSetSecurityPrefs(prefs, XSLT_SECPREF_CREATE_DIRECTORY, xsltSecurityForbid);
    xsltSetSecurityPrefs(prefs, XSLT_SECPREF_READ_NETWORK, xsltSecurityForbid);
    xsltSetSecurityPrefs(prefs, XSLT_SECPREF_WRITE_NETWORK, xsltSecurityForbid);
    xsltSetDefaultSecurityPrefs(prefs);
    xsltSetLoaderFunc(loader);
    xsltSetGenericErrorFunc(NULL, on_generic_error);
    /* Deep enough for the identity transform over the deepest document
     * the parser accepts, shallow enough to stop runaway recursion. */
    xsltMaxDepth = 3 * CDX_XML_MAX_DEPTH;
    xsltMaxVars = 15000;
}

void cdx_xslt_global_init(void)
{
    pthread_once(&init_once, init);
}

int cdx_xslt_compile(const char *path, const char *allowed_root, xsltStylesheetPtr *out, char *err,
                     size_t errlen)
{
    cdx_xslt_global_init();
    char real[PATH_MAX];
    char *text = NULL;
    size_t len = 0;
    int rc = CDX_ECONFIG;
    cdx_buf_t errors;
    cdx_buf_init(&errors, 4096);
    if (!under_root(path, allowed_root, real)) {
        snprintf(err, errlen, "%s: stylesheet missing or outside %s", path, allowed_root);
        goto out;
    }
    if (cdx_read_file(real, 16u << 20, &text, &len) != 0) {
        snprintf(err, errlen, "%s: cannot read the stylesheet", path);
        goto out;
    }
    compile_root = allowed_root;
    compile_errors = &errors;
    xmlDocPtr doc = xmlReadMemory(text, (int)len, real, NULL, XML_PARSE_NONET | XML_PARSE_NOCDATA);
    xsltStylesheetPtr style = doc ? xsltParseStylesheetDoc(doc) : NULL;
    compile_root = NULL;
    compile_errors = NULL;
    if (style == NULL || style->errors > 0) {
        if (style != NULL)
            xsltFreeStylesheet(style);
        else
            xmlFreeDoc(doc);
        snprintf(err, errlen, "%s: %s", path,
                 errors.data ? errors.data : (doc ? "not a valid XSLT 1.0 stylesheet"
                                                  : "not well-formed XML"));
        size_t n = strlen(err);
        while (n > 0 && err[n - 1] == '\n')
            err[--n] = '\0';
        goto out;
    }
    *out = style;
    rc = 0;
out:
    free(text);
    cdx_buf_cleanup(&errors);
    return rc;
}

typedef struct apply_state {
    cdx_diag_t *d;
    const char *rule;
    cdx_buf_t msg;
} apply_state_t;

static void on_transform_error(void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void on_transform_error(void *ctx, const char *fmt, ...)
{
    apply_state_t *st = ctx;
    va_list ap;
    va_start(ap, fmt);
    cdx_buf_vprintf(&st->msg, fmt, ap);
    va_end(ap);
}

int cdx_xslt_apply(xsltStylesheetPtr style, xmlDocPtr doc, const char **params,
                   cdx_xslt_setup_fn setup, void *arg, const char *rule_id, cdx_diag_t *d,
                   xmlDocPtr *out)
{
    return cdx_xslt_apply_finish(style, doc, params, setup, NULL, arg, rule_id, d, out);
}

int cdx_xslt_apply_finish(xsltStylesheetPtr style, xmlDocPtr doc, const char **params,
                          cdx_xslt_setup_fn setup, cdx_xslt_finish_fn finish, void *arg,
                          const char *rule_id, cdx_diag_t *d, xmlDocPtr *out)
{
    cdx_xslt_global_init();
    *out = NULL;
    apply_state_t st = {.d = d, .rule = rule_id};
    cdx_buf_init(&st.msg, 8192);
    xsltTransformContextPtr ctxt = xsltNewTransformContext(style, doc);
    if (ctxt == NULL) {
        cdx_buf_cleanup(&st.msg);
        return CDX_ENOMEM;
    }
    xsltSetCtxtSecurityPrefs(prefs, ctxt);
    xsltSetTransformErrorFunc(ctxt, &st, on_transform_error);
    /* XPath errors go through libxml2's (thread-local) generic handler:
     * route them into the diag too, never to stderr. */
    xmlSetGenericErrorFunc(&st, on_transform_error);
    if (setup != NULL)
        setup(ctxt, arg);
    xmlDocPtr res = xsltApplyStylesheetUser(style, doc, params, NULL, NULL, ctxt);
    int failed = res == NULL || ctxt->state == XSLT_STATE_ERROR ||
                 ctxt->state == XSLT_STATE_STOPPED;
    int frc = !failed && finish != NULL ? finish(ctxt, res, arg) : 0;
    cdx_xml_quiet_errors();
    xsltFreeTransformContext(ctxt);
    /* xsl:message output lands in msg too; without a failure it is a note. */
    int had_msg = st.msg.len > 0;
    if (frc > 0) {
        /* finish asked for another run: this one leaves no trace. */
        cdx_buf_cleanup(&st.msg);
        xmlFreeDoc(res);
        return frc;
    }
    if (had_msg) {
        size_t n = st.msg.len;
        while (n > 0 && st.msg.data[n - 1] == '\n')
            st.msg.data[--n] = '\0';
        cdx_diag_add(d, failed ? CDX_SEV_ERROR : CDX_SEV_WARNING, rule_id, NULL, "%s",
                     st.msg.data);
    }
    cdx_buf_cleanup(&st.msg);
    if (failed) {
        xmlFreeDoc(res);
        if (!had_msg)
            cdx_diag_add(d, CDX_SEV_ERROR, rule_id, NULL, "the transformation failed");
        return CDX_EPARSE;
    }
    if (frc != 0) {
        xmlFreeDoc(res);
        return frc;
    }
    *out = res;
    return 0;
}

int cdx_xslt_serialize(xsltStylesheetPtr style, xmlDocPtr result, char **out, size_t *len)
{
    xmlChar *text = NULL;
    int n = 0;
    if (xsltSaveResultToString(&text, &n, result, style) != 0 || n < 0)
        return CDX_ENOMEM;
    if (text == NULL) {
        *out = strdup("");
        *len = 0;
        return *out ? 0 : CDX_ENOMEM;
    }
    char *copy = malloc((size_t)n + 1);
    if (copy == NULL) {
        xmlFree(text);
        return CDX_ENOMEM;
    }
    memcpy(copy, text, (size_t)n);
    copy[n] = '\0';
    xmlFree(text);
    *out = copy;
    *len = (size_t)n;
    return 0;
}
