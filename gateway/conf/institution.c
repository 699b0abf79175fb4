/* institution: the [institution] section keys, their checks, and the institutions file (see
 * include/cdx/conf/institution.h). */
#include "cdx/conf/institution.h"
#include "cdx/conf/keys.h"
#include "cdx/base/common.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* How a key's value is read; each type has its case in cdx_institution_set_key. */
enum inst_key_type {
    K_OID,
    K_NAME,
    K_ROLES,
    K_ENDPOINT,
    K_CERT_SHA256,
    K_SPKI_SHA256,
    K_CERT_FILE,
    K_SCHEMA_POLICY,
    K_IDENTITY_POLICY,
    K_ID_ROOT,
};

#define FIELD(name, type, flags, help)                                                             \
    {#name, type, offsetof(cdx_institution_t, name), sizeof(((cdx_institution_t *)0)->name), "",  \
     0, 0, flags, help}
#define KEY(name, type, def, flags, help) {#name, type, 0, 0, def, 0, 0, flags, help}

/* The one table of [institution] keys (cdx/conf/keys.h), in the order the
 * README lists them and an unknown key's error names them.  A policy's
 * default is the word that leaves its policy bit clear. */
static const cdx_conf_key_t keys[] = {
    FIELD(oid, K_OID, CDX_KEY_REQUIRED, "the institution's OID (an optional `urn:oid:` prefix is removed)"),
    FIELD(name, K_NAME, CDX_KEY_REQUIRED, "display name, UTF-8"),
    KEY(roles, K_ROLES, "", 0, "any of `submit`, `query`, `research`, `admin`, `relay`"),
    FIELD(endpoint, K_ENDPOINT, 0, "`https://` URL for deliveries"),
    KEY(cert_sha256, K_CERT_SHA256, "", CDX_KEY_REPEATABLE, "SHA-256 of a DER certificate (hex, colons allowed)"),
    KEY(spki_sha256, K_SPKI_SHA256, "", CDX_KEY_REPEATABLE, "SHA-256 of a DER SubjectPublicKeyInfo, so a renewed certificate with the same key keeps working"),
    KEY(cert_file, K_CERT_FILE, "", CDX_KEY_REPEATABLE, "a PEM certificate whose SHA-256 identifies the institution (relative to the file it is in)"),
    KEY(schema_policy, K_SCHEMA_POLICY, "standard", 0, "`standard` (default: schema errors are warnings) or `strict` (they reject)"),
    KEY(identity_policy, K_IDENTITY_POLICY, "custodian", 0, "`custodian` (default: only documents whose custodian is this institution) or `custodian_or_author`"),
    KEY(id_root, K_ID_ROOT, "", CDX_KEY_REPEATABLE, "an OID besides its own under which the institution numbers its documents (an EMR vendor's arc, a former OID); `ClinicalDocument/id` and `setId` roots under it are accepted from it; at most 8, never shared by two institutions"),
};

/* Parses a SHA-256 fingerprint: 64 hex digits in either case, colons ignored (as printed by
 * `openssl x509 -fingerprint`).  Writes lower-case hex. */
static int parse_fingerprint(const char *s, char out[65])
{
    size_t n = 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (c == ':')
            continue;
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || n >= 64)
            return CDX_EINVAL;
        out[n++] = c;
    }
    if (n != 64)
        return CDX_EINVAL;
    out[64] = '\0';
    return 0;
}


static int add_credential(cdx_institution_t *inst, int spki, const char *hex, const char *key,
                          char *err, size_t errlen)
{
    for (size_t i = 0; i < inst->ncreds; i++) {
        if (strcmp(inst->creds[i].sha256, hex) == 0) {
            cdx_errf(err, errlen, "%s: fingerprint %s is already listed for this institution", key,
                    hex);
            return CDX_ECONFIG;
        }
    }
    if (inst->ncreds >= CDX_INST_MAX_CREDS) {
        cdx_errf(err, errlen, "%s: at most %d credentials per institution", key, CDX_INST_MAX_CREDS);
        return CDX_ECONFIG;
    }
    inst->creds[inst->ncreds].spki = spki;
    memcpy(inst->creds[inst->ncreds].sha256, hex, 65);
    inst->ncreds++;
    return 0;
}

static int set_cert_file(cdx_institution_t *inst, const char *value, const char *base_dir,
                         char *err, size_t errlen)
{
    char q[CDX_EXCERPT_MAX + 4];
    char path[PATH_MAX];
    if (value[0] == '\0') {
        cdx_errf(err, errlen, "cert_file: empty (give the path of a PEM certificate)");
        return CDX_ECONFIG;
    }
    int w;
    if (value[0] == '/' || base_dir == NULL || base_dir[0] == '\0')
        w = snprintf(path, sizeof path, "%s", value);
    else
        w = snprintf(path, sizeof path, "%s/%s", base_dir, value);
    if (w < 0 || (size_t)w >= sizeof path) {
        cdx_errf(err, errlen, "cert_file: path '%s' is too long", cdx_excerpt(value, q));
        return CDX_ECONFIG;
    }
    /* The fingerprint function only says "I/O error", so look first to name the real reason.
     * Paths are printed whole: a shortened path would not tell the operator which file. */
    if (access(path, R_OK) != 0) {
        cdx_errf(err, errlen, "cert_file: cannot read '%s': %s", path, strerror(errno));
        return CDX_ECONFIG;
    }
    char hex[65];
    int rc = cdx_cert_fingerprint_file(path, 0, hex);
    if (rc != 0) {
        cdx_errf(err, errlen, "cert_file: '%s': %s", path,
                rc == CDX_ECRYPTO ? "no PEM certificate found in it" : cdx_strerror(rc));
        return CDX_ECONFIG;
    }
    return add_credential(inst, 0, hex, "cert_file", err, errlen);
}

/* id_root: an OID (optional urn:oid: prefix) the institution numbers its documents under. */
static int add_id_root(cdx_institution_t *inst, const char *value, char *err, size_t errlen)
{
    char why[256];
    const char *oid = value;
    if (strncasecmp(oid, "urn:oid:", 8) == 0)
        oid += 8;
    if (cdx_institution_oid_check(oid, why, sizeof why) != 0) {
        /* oid_check names the key "oid"; this one is id_root. */
        cdx_errf(err, errlen, "id_root: %s", strncmp(why, "oid: ", 5) == 0 ? why + 5 : why);
        return CDX_ECONFIG;
    }
    for (size_t i = 0; i < inst->nid_roots; i++) {
        if (strcmp(inst->id_roots[i], oid) == 0) {
            cdx_errf(err, errlen, "id_root: %s is already listed for this institution", oid);
            return CDX_ECONFIG;
        }
    }
    if (inst->nid_roots >= CDX_INST_MAX_ID_ROOTS) {
        cdx_errf(err, errlen, "id_root: at most %d per institution", CDX_INST_MAX_ID_ROOTS);
        return CDX_ECONFIG;
    }
    memcpy(inst->id_roots[inst->nid_roots++], oid, strlen(oid) + 1);
    return 0;
}

/* The OID without its optional urn:oid: prefix. */
static const char *strip_urn(const char *oid)
{
    return strncasecmp(oid, "urn:oid:", 8) == 0 ? oid + 8 : oid;
}

static int set_roles(cdx_institution_t *inst, const char *value, char *err, size_t errlen)
{
    char q[CDX_EXCERPT_MAX + 4];
    char bad[80];
    unsigned roles;
    if (cdx_roles_parse_named(value, &roles, bad, sizeof bad) != 0) {
        if (strcasecmp(bad, "none") == 0) {
            cdx_errf(err, errlen, "roles: 'none' cannot be combined with other roles");
            return CDX_ECONFIG;
        }
        cdx_errf(err, errlen,
                "roles: unknown role '%s' (use submit, query, research, admin, relay, separated by "
                "commas or spaces; or none)",
                cdx_excerpt(bad, q));
        return CDX_ECONFIG;
    }
    inst->roles = roles;
    return 0;
}

static int set_fingerprint(cdx_institution_t *inst, const cdx_conf_key_t *k, const char *value,
                           char *err, size_t errlen)
{
    char q[CDX_EXCERPT_MAX + 4];
    char hex[65];
    if (parse_fingerprint(value, hex) != 0) {
        cdx_errf(err, errlen,
                "%s: '%s' is not a SHA-256 fingerprint (64 hex digits, colons allowed, as "
                "printed by `openssl x509 -noout -fingerprint -sha256`)",
                k->name, cdx_excerpt(value, q));
        return CDX_ECONFIG;
    }
    return add_credential(inst, k->type == K_SPKI_SHA256, hex, k->name, err, errlen);
}

/* A policy key: its default word clears the policy bit, its other word
 * sets it. */
static int set_policy(cdx_institution_t *inst, const cdx_conf_key_t *k, const char *value,
                      char *err, size_t errlen)
{
    char q[CDX_EXCERPT_MAX + 4];
    const char *other = k->type == K_SCHEMA_POLICY ? "strict" : "custodian_or_author";
    unsigned bit = k->type == K_SCHEMA_POLICY ? CDX_POLICY_SCHEMA_STRICT : CDX_POLICY_AUTHOR_OK;
    if (strcmp(value, other) == 0) {
        inst->policy |= bit;
    } else if (strcmp(value, k->def) == 0) {
        inst->policy &= ~bit;
    } else {
        cdx_errf(err, errlen, "%s: '%s' is not '%s' or '%s'", k->name, cdx_excerpt(value, q),
                k->def, other);
        return CDX_ECONFIG;
    }
    return 0;
}

/* The text fields (oid, name, endpoint): checked, then copied whole. */
static int set_text(cdx_institution_t *inst, const cdx_conf_key_t *k, const char *value,
                    char *err, size_t errlen)
{
    int rc = k->type == K_OID    ? cdx_institution_oid_check(value, err, errlen)
             : k->type == K_NAME ? cdx_institution_name_check(value, err, errlen)
                                 : cdx_institution_endpoint_check(value, err, errlen);
    if (rc != 0)
        return CDX_ECONFIG;
    memcpy((char *)inst + k->offset, value, strlen(value) + 1);
    return 0;
}

static void unknown_key(const char *key, char *err, size_t errlen)
{
    char q[CDX_EXCERPT_MAX + 4];
    char known[256] = "";
    for (size_t i = 0, used = 0; i < CDX_ARRAY_SIZE(keys) && used < sizeof known; i++)
        used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "",
                                 keys[i].name);
    cdx_errf(err, errlen, "unknown key '%s' in [institution] (known: %s)", cdx_excerpt(key, q),
            known);
}

int cdx_institution_set_key(cdx_institution_t *inst, const char *key, const char *value,
                            const char *base_dir, char *err, size_t errlen)
{
    if (inst == NULL || key == NULL || value == NULL) {
        cdx_errf(err, errlen, "internal error: missing institution, key or value");
        return CDX_ECONFIG;
    }
    /* Keys accept '-' for '_' like the main configuration does. */
    const cdx_conf_key_t *k = cdx_conf_key_find(keys, CDX_ARRAY_SIZE(keys), key);
    if (k == NULL) {
        unknown_key(key, err, errlen);
        return CDX_ECONFIG;
    }
    switch ((enum inst_key_type)k->type) {
    case K_OID:
        return set_text(inst, k, strip_urn(value), err, errlen);
    case K_NAME:
    case K_ENDPOINT:
        return set_text(inst, k, value, err, errlen);
    case K_ROLES:
        return set_roles(inst, value, err, errlen);
    case K_CERT_SHA256:
    case K_SPKI_SHA256:
        return set_fingerprint(inst, k, value, err, errlen);
    case K_CERT_FILE:
        return set_cert_file(inst, value, base_dir, err, errlen);
    case K_SCHEMA_POLICY:
    case K_IDENTITY_POLICY:
        return set_policy(inst, k, value, err, errlen);
    case K_ID_ROOT:
        return add_id_root(inst, value, err, errlen);
    }
    unknown_key(key, err, errlen);
    return CDX_ECONFIG;
}

const cdx_conf_key_t *cdx_institution_keys(size_t *n)
{
    *n = CDX_ARRAY_SIZE(keys);
    return keys;
}

void cdx_institution_keys_markdown(FILE *out)
{
    fputs("| key | required | repeatable | meaning |\n|---|---|---|---|\n", out);
    for (size_t i = 0; i < CDX_ARRAY_SIZE(keys); i++) {
        const cdx_conf_key_t *k = &keys[i];
        fprintf(out, "| `%s` | %s | %s | %s |\n", k->name,
                (k->flags & CDX_KEY_REQUIRED) ? "yes" : "",
                (k->flags & CDX_KEY_REPEATABLE) ? "yes" : "", k->help);
    }
}


/* ---- Institutions file ------------------------------------------------------------------ */

#define INST_FILE_MAX (16u << 20)
#define INST_LINE_MAX (64u << 10)

typedef struct item_lines {
    size_t header; /* line of the [institution] header */
    size_t oid;    /* line of the last oid key in the section */
} item_lines_t;

typedef struct loader {
    const char *path;
    cdx_institution_t *items;
    item_lines_t *lines;
    size_t n, cap, caplines; /* items and lines hold cap and caplines (the same once grown) */
    /* Open-addressing set of finished items' OIDs (index + 1; 0 is empty), so duplicate
     * detection stays linear even for a very large file. */
    size_t *slots;
    size_t nslots, nused;
} loader_t;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211u;
    }
    return h;
}

/* Returns the index of a finished item with this OID, or SIZE_MAX. */
static size_t oid_set_find(const loader_t *ld, const char *oid)
{
    if (ld->nslots == 0)
        return SIZE_MAX;
    for (size_t i = (size_t)fnv1a(oid) & (ld->nslots - 1);; i = (i + 1) & (ld->nslots - 1)) {
        if (ld->slots[i] == 0)
            return SIZE_MAX;
        if (strcmp(ld->items[ld->slots[i] - 1].oid, oid) == 0)
            return ld->slots[i] - 1;
    }
}

static int oid_set_add(loader_t *ld, size_t idx)
{
    if ((ld->nused + 1) * 2 > ld->nslots) {
        size_t nslots = ld->nslots ? ld->nslots * 2 : 64;
        size_t *slots = calloc(nslots, sizeof *slots);
        if (slots == NULL)
            return CDX_ENOMEM;
        for (size_t k = 0; k < ld->nslots; k++) {
            if (ld->slots[k] == 0)
                continue;
            size_t i = (size_t)fnv1a(ld->items[ld->slots[k] - 1].oid) & (nslots - 1);
            while (slots[i] != 0)
                i = (i + 1) & (nslots - 1);
            slots[i] = ld->slots[k];
        }
        free(ld->slots);
        ld->slots = slots;
        ld->nslots = nslots;
    }
    size_t i = (size_t)fnv1a(ld->items[idx].oid) & (ld->nslots - 1);
    while (ld->slots[i] != 0)
        i = (i + 1) & (ld->nslots - 1);
    ld->slots[i] = idx + 1;
    ld->nused++;
    return 0;
}

static int loader_add(loader_t *ld, size_t header_line)
{
    if (cdx_grow(&ld->items, &ld->cap, ld->n + 1, sizeof *ld->items, 8) != 0 ||
        cdx_grow(&ld->lines, &ld->caplines, ld->n + 1, sizeof *ld->lines, 8) != 0)
        return CDX_ENOMEM;
    memset(&ld->items[ld->n], 0, sizeof ld->items[ld->n]);
    ld->lines[ld->n].header = header_line;
    ld->lines[ld->n].oid = header_line;
    ld->n++;
    return 0;
}

/* Checks the last section once it is complete and records its OID. */
static int loader_finish(loader_t *ld, char *err, size_t errlen)
{
    char msg[512];
    size_t idx = ld->n - 1;
    const cdx_institution_t *inst = &ld->items[idx];
    if (cdx_institution_check(inst, msg, sizeof msg) != 0) {
        cdx_errf(err, errlen, "%s:%zu: this [institution] is incomplete: %s", ld->path,
                ld->lines[idx].header, msg);
        return CDX_ECONFIG;
    }
    size_t other = oid_set_find(ld, inst->oid);
    if (other != SIZE_MAX) {
        cdx_errf(err, errlen,
                "%s:%zu: duplicate oid %s (already used by the [institution] at line %zu)",
                ld->path, ld->lines[idx].oid, inst->oid, ld->lines[other].header);
        return CDX_ECONFIG;
    }
    int rc = oid_set_add(ld, idx);
    if (rc != 0) {
        cdx_errf(err, errlen, "%s: %s", ld->path, cdx_strerror(rc));
        return CDX_ECONFIG;
    }
    return 0;
}


/* A section header: `[institution]` ends the section before it and
 * starts a new one; any other name is refused. */
static int load_header(loader_t *ld, char *s, size_t lineno, int *in_section, char *err,
                       size_t errlen)
{
    char q[CDX_EXCERPT_MAX + 4];
    size_t slen = strlen(s);
    char *name = NULL;
    if (s[slen - 1] == ']') {
        s[slen - 1] = '\0';
        name = cdx_trim(s + 1);
    }
    if (name == NULL || strcmp(name, "institution") != 0) {
        if (name != NULL)
            s[slen - 1] = ']';
        cdx_errf(err, errlen, "%s:%zu: unknown section '%s' (only [institution] is allowed)",
                ld->path, lineno, cdx_excerpt(s, q));
        return CDX_ECONFIG;
    }
    int rc;
    if (*in_section && (rc = loader_finish(ld, err, errlen)) != 0)
        return rc;
    if (loader_add(ld, lineno) != 0) {
        cdx_errf(err, errlen, "%s:%zu: out of memory", ld->path, lineno);
        return CDX_ECONFIG;
    }
    *in_section = 1;
    return 0;
}

/* A `key = value` line of the current section. */
static int load_key(loader_t *ld, char *s, size_t lineno, int in_section, const char *base_dir,
                    char *err, size_t errlen)
{
    char q[CDX_EXCERPT_MAX + 4];
    char msg[512];
    char *eq = strchr(s, '=');
    if (eq == NULL) {
        cdx_errf(err, errlen,
                "%s:%zu: expected `key = value`, an [institution] header or a # comment",
                ld->path, lineno);
        return CDX_ECONFIG;
    }
    *eq = '\0';
    char *key = cdx_trim(s);
    char *value = cdx_trim(eq + 1);
    if (!in_section) {
        cdx_errf(err, errlen,
                "%s:%zu: '%s = ...' before any [institution] section (start one with a "
                "line [institution])",
                ld->path, lineno, cdx_excerpt(key, q));
        return CDX_ECONFIG;
    }
    if (*key == '\0') {
        cdx_errf(err, errlen, "%s:%zu: missing key before '='", ld->path, lineno);
        return CDX_ECONFIG;
    }
    if (cdx_institution_set_key(&ld->items[ld->n - 1], key, value, base_dir, msg, sizeof msg) !=
        0) {
        cdx_errf(err, errlen, "%s:%zu: %s", ld->path, lineno, msg);
        return CDX_ECONFIG;
    }
    if (strcmp(key, "oid") == 0)
        ld->lines[ld->n - 1].oid = lineno;
    return 0;
}

/* Reads the file's text: at most INST_FILE_MAX bytes, no NUL byte. */
static int load_text(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    int rc = cdx_read_file(path, INST_FILE_MAX, text, len);
    if (rc != 0) {
        if (rc == CDX_ERANGE)
            cdx_errf(err, errlen, "%s: larger than 16 MiB; is this an institutions file?", path);
        else
            cdx_errf(err, errlen, "%s: cannot read institutions file: %s", path, cdx_strerror(rc));
        return CDX_ECONFIG;
    }
    if (memchr(*text, '\0', *len) != NULL) {
        cdx_errf(err, errlen, "%s: contains a NUL byte; is this a text file?", path);
        return CDX_ECONFIG;
    }
    return 0;
}

int cdx_institutions_file_load(const char *path, cdx_institution_t **out, size_t *n, char *err,
                               size_t errlen)
{
    char *text = NULL;
    char *dircopy = NULL;
    size_t len = 0;
    loader_t ld = {.path = path};
    int rc;

    if (path == NULL || out == NULL || n == NULL) {
        cdx_errf(err, errlen, "internal error: missing argument");
        return CDX_EINVAL;
    }
    *out = NULL;
    *n = 0;
    rc = load_text(path, &text, &len, err, errlen);
    if (rc != 0)
        goto out;
    dircopy = strdup(path);
    if (dircopy == NULL) {
        cdx_errf(err, errlen, "%s: out of memory", path);
        rc = CDX_ECONFIG;
        goto out;
    }
    const char *base_dir = dirname(dircopy);

    char *line = text;
    /* A UTF-8 byte order mark is legal at the start of a UTF-8 file; skip it. */
    if (len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
        line += 3;
    size_t lineno = 0;
    int in_section = 0;
    while (line != NULL) {
        char *nl = strchr(line, '\n');
        char *next = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        lineno++;
        size_t linelen = nl ? (size_t)(nl - line) : strlen(line);
        if (linelen > INST_LINE_MAX) {
            cdx_errf(err, errlen, "%s:%zu: line longer than %u bytes", path, lineno, INST_LINE_MAX);
            rc = CDX_ECONFIG;
            goto out;
        }
        char *s = cdx_trim(line);
        line = next;
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        rc = *s == '[' ? load_header(&ld, s, lineno, &in_section, err, errlen)
                       : load_key(&ld, s, lineno, in_section, base_dir, err, errlen);
        if (rc != 0)
            goto out;
    }
    if (in_section && (rc = loader_finish(&ld, err, errlen)) != 0)
        goto out;
    *out = ld.items;
    *n = ld.n;
    ld.items = NULL;
    rc = 0;
out:
    free(ld.items);
    free(ld.lines);
    free(ld.slots);
    free(dircopy);
    free(text);
    return rc;
}

/* ---- Certificate fingerprints ----------------------------------------------------------- */

int cdx_cert_fingerprint_file(const char *cert_path, int spki, char out[65])
{
    FILE *f = fopen(cert_path, "r");
    if (f == NULL)
        return CDX_EIO;
    X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (cert == NULL)
        return CDX_ECRYPTO;
    unsigned char *der = NULL;
    int len = spki ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der) : i2d_X509(cert, &der);
    X509_free(cert);
    if (len <= 0)
        return CDX_ECRYPTO;
    unsigned char md[32];
    unsigned int mdlen = 0;
    int ok = EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL);
    OPENSSL_free(der);
    if (!ok || mdlen != 32)
        return CDX_ECRYPTO;
    cdx_hex(md, 32, out);
    return 0;
}
