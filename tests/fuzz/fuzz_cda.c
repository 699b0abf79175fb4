/* libFuzzer target: the CDA document path that needs no files, that is
 * hardened parsing, the structure checks and extraction
 * (parsers/xml.c, validate.c, extract.c).  Crashes, leaks and undefined
 * behaviour are the findings; a crash found becomes a regression test. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "cdx/parsers/diag.h"
#include "cdx/parsers/extract.h"
#include "cdx/parsers/validate.h"
#include "cdx/parsers/xml.h"
#include "cdx/parsers/xslt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cdx_validator_t *validator;
    if (validator == NULL) {
        cdx_xml_global_init();
        cdx_xslt_global_init();
        char err[256];
        if (cdx_validator_new(NULL, NULL, &validator, err, sizeof err) != 0)
            abort();
        cdx_xml_seal();
    }
    cdx_diag_t d;
    cdx_diag_init(&d);
    xmlDocPtr doc = NULL;
    if (cdx_xml_parse((const char *)data, size, &d, &doc) == 0) {
        cdx_validate(validator, doc, CDX_SCHEMA_STANDARD, &d);
        cdx_extract_t x;
        if (cdx_extract(doc, &x, &d) == 0) {
            json_t *meta = cdx_extract_meta_json(&x.meta);
            json_t *facts = cdx_extract_facts_json(&x);
            json_decref(meta);
            json_decref(facts);
            cdx_extract_cleanup(&x);
        }
        xmlFreeDoc(doc);
    }
    free(cdx_diag_issues_json(&d));
    cdx_diag_cleanup(&d);
    return 0;
}
