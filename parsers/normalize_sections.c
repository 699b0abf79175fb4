/* normalize_sections: a section's code for cdx:has-code, read once per
 * transformation, and a section's first bare entry for cdx:first-bare
 * (see normalize_internal.h). */
#include "normalize_internal.h"

#include <libxml/xmlstring.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int is_v3_code(const xmlNode *n)
{
    return n->type == XML_ELEMENT_NODE && n->ns != NULL &&
           xmlStrEqual(n->ns->href, BAD_CAST "urn:hl7-org:v3") &&
           xmlStrEqual(n->name, BAD_CAST "code");
}

/* Whether a code child of section has @code equal to code (the XPath
 * h:code/@code = 'code'), walking all of its children. */
static int any_code_is(const xmlNode *section, const char *code)
{
    for (xmlNodePtr c = section->children; c != NULL; c = c->next) {
        if (!is_v3_code(c))
            continue;
        xmlChar *v = xmlGetNoNsProp(c, BAD_CAST "code");
        int same = v != NULL && strcmp((const char *)v, code) == 0;
        xmlFree(v);
        if (same)
            return 1;
    }
    return 0;
}

/* The section's entry in the table, filled on first sight (NULL when the
 * table is full or out of memory: the caller walks). */
static const section_code_t *section_of(section_codes_t *t, const xmlNode *section)
{
    size_t h = (((uintptr_t)section >> 4) * 2654435761u) & (SECTION_SLOTS - 1);
    for (size_t i = 0; i < SECTION_SLOTS; i++, h = (h + 1) & (SECTION_SLOTS - 1)) {
        section_code_t *slot = &t->v[h];
        if (slot->section == section)
            return slot;
        if (slot->section != NULL)
            continue;
        if (t->n >= SECTION_SLOTS * 3 / 4)
            return NULL;
        section_code_t e = {.section = section};
        const xmlNode *first = NULL;
        for (xmlNodePtr k = section->children; k != NULL && !e.several; k = k->next) {
            if (is_v3_code(k) && first != NULL)
                e.several = 1;
            else if (is_v3_code(k))
                first = k;
        }
        if (first != NULL && !e.several) {
            xmlChar *v = xmlGetNoNsProp(first, BAD_CAST "code");
            if (v != NULL) {
                e.code = strdup((const char *)v);
                xmlFree(v);
                if (e.code == NULL)
                    return NULL;
            }
        }
        *slot = e;
        t->n++;
        return slot;
    }
    return NULL;
}

int cdx_normalize_has_code(section_codes_t *t, const xmlNode *section, const char *code)
{
    const section_code_t *e = t != NULL ? section_of(t, section) : NULL;
    if (e == NULL || e->several)
        return any_code_is(section, code);
    return e->code != NULL && strcmp(e->code, code) == 0;
}

void cdx_normalize_sections_cleanup(section_codes_t *t)
{
    for (size_t i = 0; i < SECTION_SLOTS; i++)
        free(t->v[i].code);
    memset(t, 0, sizeof *t);
}

static int same_name(const xmlNode *a, const xmlChar *name, const xmlChar *href)
{
    if (a->type != XML_ELEMENT_NODE || !xmlStrEqual(a->name, name))
        return 0;
    return a->ns != NULL ? href != NULL && xmlStrEqual(a->ns->href, href) : href == NULL;
}

/* Whether el has a v3 child named child without a v3 templateId child. */
static int is_bare(const xmlNode *el, const char *child)
{
    for (const xmlNode *c = el->children; c != NULL; c = c->next) {
        if (!cdx_normalize_is_v3(c) || strcmp((const char *)c->name, child) != 0)
            continue;
        const xmlNode *t = c->children;
        while (t != NULL &&
               !(cdx_normalize_is_v3(t) && strcmp((const char *)t->name, "templateId") == 0))
            t = t->next;
        if (t == NULL)
            return 1;
    }
    return 0;
}

int cdx_normalize_first_bare(first_bare_t *c, const xmlNode *el, const char *child)
{
    const xmlNode *parent = el->parent;
    if (el->type != XML_ELEMENT_NODE || parent == NULL)
        return 0;
    const xmlChar *href = el->ns != NULL ? el->ns->href : NULL;
    size_t len = strlen(child);
    if (c != NULL && c->parent == parent && xmlStrEqual(c->name, el->name) &&
        (c->href == href || (c->href != NULL && href != NULL && xmlStrEqual(c->href, href))) &&
        strcmp(c->child, child) == 0)
        return c->first == el;
    const xmlNode *first = parent->children;
    while (first != NULL && !(same_name(first, el->name, href) && is_bare(first, child)))
        first = first->next;
    if (c != NULL && len < sizeof c->child) {
        *c = (first_bare_t){.parent = parent, .name = el->name, .href = href, .first = first};
        memcpy(c->child, child, len + 1);
    }
    return first == el;
}
