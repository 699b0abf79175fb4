/* config: the key table and its parsers (see include/cdx/conf/config.h). */
#include "cdx/conf/config.h"
#include "cdx/conf/institution.h"
#include "cdx/conf/keys.h"
#include "cdx/domain/national.h"
#include "cdx/base/common.h"
#include "cdx/base/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

enum key_type { T_STRING, T_PATH, T_INT, T_LISTEN, T_LEVEL, T_BOOL, T_OIDS, T_SCORE };

#define STR(field, type, def, flags, help)                                                         \
    {#field, type, offsetof(cdx_config_t, field), sizeof(((cdx_config_t *)0)->field), def, 0, 0,   \
     flags, help}
#define INT(field, def, min, max, help)                                                            \
    {#field, T_INT, offsetof(cdx_config_t, field), 0, def, min, max, 0, help}
#define BOOL(field, def, help)                                                                     \
    {#field, T_BOOL, offsetof(cdx_config_t, field), 0, def, 0, 1, 0, help}

/* The one table of configuration keys (cdx/conf/keys.h), in the order they
 * are documented. */
static const cdx_conf_key_t keys[] = {
    STR(listen, T_LISTEN, "127.0.0.1:8443", 0, "address and port to serve HTTPS on (ADDR:PORT, [ADDR6]:PORT; port 0 picks a free one)"),
    STR(data_dir, T_PATH, "./var/data", 0, "folder of the registry database (registry.db) and stored documents"),
    STR(tls_cert, T_PATH, "", CDX_KEY_REQUIRED, "server certificate chain (PEM)"),
    STR(tls_key, T_PATH, "", CDX_KEY_REQUIRED | CDX_KEY_SECRET, "server private key (PEM file; keep it mode 0400/0600)"),
    STR(tls_client_ca, T_PATH, "", CDX_KEY_REQUIRED, "federation CA bundle that client certificates must chain to (PEM); the system store is never used"),
    STR(tls_crl, T_PATH, "", CDX_KEY_OPTIONAL_PATH, "certificate revocation list(s) of the federation CA (PEM); if set, a missing or expired CRL refuses every client"),
    STR(institutions_file, T_PATH, "", CDX_KEY_OPTIONAL_PATH, "file of [institution] sections to register at start (also allowed inline in this file)"),
    STR(mappings_dir, T_PATH, "", CDX_KEY_OPTIONAL_PATH, "folder of XSLT mappings and code maps (default: the installed mappings)"),
    STR(schema_path, T_PATH, "", CDX_KEY_OPTIONAL_PATH, "the HL7 CDA R2 schema (CDA.xsd, with SDTC extensions) to validate against; none when empty"),
    STR(patient_key_file, T_PATH, "", CDX_KEY_OPTIONAL_PATH | CDX_KEY_SECRET, "32-byte secret keying the patient hashes in audit records (default data_dir/patient-hmac.key, created on first start)"),
    STR(national_id_roots, T_OIDS, "", 0, "OIDs (separated by commas or spaces) of national patient identifiers, e.g. a resident registration number: such an id is stored and compared only as its keyed hash (`national_id_key_file`) and kept in clear only in the original bytes"),
    STR(national_id_key_file, T_PATH, "", CDX_KEY_OPTIONAL_PATH | CDX_KEY_SECRET, "32-byte secret keying the hashes of national ids (default data_dir/national-hmac.key, created on first start when `national_id_roots` is set); every gateway node of a network must share the same file, or the same person's ids will not link across them"),
    BOOL(match_demographics, "true", "true: demographic matching links and queues identities at ingest; false: identities link only by a document's own statement, a shared national id and administrators, and GET /v1/patients finds by demographics only the identities stored while it was true"),
    STR(match_link_threshold, T_SCORE, "", 0, "demographic match score at or above which two patient identities are linked automatically (default: the calibrated value, docs/PERFORMANCE.md)"),
    STR(match_review_threshold, T_SCORE, "", 0, "demographic match score at or above which (and below `match_link_threshold`) a pair waits for a person's decision (`GET /v1/links?status=review`; default: the calibrated value)"),
    STR(log_level, T_LEVEL, "info", 0, "debug, info, warn or error"),
    INT(max_body_bytes, "20971520", 1024, 1073741824, "largest request body accepted; larger gets 413 before it is read"),
    INT(max_request_line_bytes, "8192", 256, 1048576, "longest request line; longer gets 414"),
    INT(max_header_bytes, "32768", 1024, 1048576, "total size of request headers; more gets 431"),
    INT(max_headers, "100", 8, 10000, "number of request header fields; more gets 431"),
    INT(max_connections, "1024", 1, 100000, "open connections; further ones are closed at accept"),
    INT(handshake_timeout_ms, "10000", 100, 600000, "time allowed for the TLS handshake"),
    INT(header_timeout_ms, "10000", 100, 600000, "time allowed to receive a request's headers (slowloris guard); 408"),
    INT(body_timeout_ms, "20000", 100, 600000, "longest pause while receiving a body; 408"),
    INT(body_min_rate_bps, "4096", 0, 1073741824, "slowest average body rate tolerated after body_rate_grace_ms (bytes/s; 0 disables); 408"),
    INT(body_rate_grace_ms, "10000", 0, 600000, "time before body_min_rate_bps is enforced"),
    INT(keepalive_timeout_ms, "30000", 100, 3600000, "idle time before a keep-alive connection is closed"),
    INT(write_timeout_ms, "30000", 100, 600000, "time a client may leave the response unread before the connection is closed"),
    INT(write_high_water_bytes, "1048576", 16384, 268435456, "pending response bytes above which reading from that client pauses"),
    INT(max_jobs, "32", 1, 65536, "requests being processed or waiting for their registry commit; more gets 503 with Retry-After"),
    INT(worker_threads, "4", 1, 128, "worker threads for CPU jobs (libuv thread pool size; the pipeline threads of `cdxgw import`)"),
    INT(shutdown_timeout_ms, "10000", 0, 600000, "on SIGTERM, time allowed for in-flight requests to finish"),
    INT(write_queue, "4096", 16, 1048576, "changes waiting for the registry writer; more gets 503 with Retry-After"),
    INT(crl_reload_ms, "300000", 1000, 86400000, "how often tls_crl is re-read"),
    INT(xml_max_nodes, "1000000", 10000, 100000000, "most XML nodes (elements, attributes, text runs, comments) in one document; more gets 400 XML_LIMIT as soon as the parser passes it"),
    INT(xml_max_nodes_per_kb, "160", 0, 1000000, "most XML nodes per KB of body (at least 4096 nodes; 0: no relative limit); more gets 400 XML_LIMIT"),
    /* Connection budgets against floods, and who may read /metrics. */
    INT(max_handshakes, "256", 1, 100000, "connections still in their TLS handshake (at most max_connections); when full, the oldest is closed to admit a new one"),
    INT(max_handshakes_per_ip, "32", 1, 100000, "connections in their TLS handshake from one client address (an IPv6 /64 counts as one); more are closed at accept"),
    INT(max_connections_per_institution, "256", 1, 100000, "open connections of one authenticated institution; more get 503 TOO_MANY_CONNECTIONS at their first request"),
    INT(research_min_cell, "11", 5, 1000000, "smallest count of persons a cohort answer discloses: a count from 1 to one less is reported as suppressed (the size and each breakdown cell), and a research institution's cohort whose persons differ from an earlier one of its own by 1 to one less is refused (409 `COHORT_DIFFERENCING`); never below 5"),
    STR(research_projects_file, T_PATH, "", CDX_KEY_OPTIONAL_PATH, "file of [research_project] sections (`institution`, `key_file`, `mode` = `shift` or `safe_harbor`) naming the key that pseudonymizes each research institution's cohort exports (`GET /v1/cohorts/{id}/export`) and how their dates leave; an institution without one cannot export"),
    BOOL(metrics_loopback, "false", "true lets loopback clients read /metrics without the admin role (a local scraper)"),
    /* Consent and break-glass (domain/access.h). */
    STR(breakglass_minutes, T_SCORE, "60", 0, "minutes (fractions allowed, more than 0) an emergency access (`X-CDX-Purpose: ETREAT` with `X-CDX-Reason`) keeps open for the institution's further requests about the same person"),
    BOOL(breakglass_overrides_deny, "false", "true lets an emergency access override a person's explicit deny (never confidentiality `V`)"),
    STR(consent_permit_policies, T_OIDS, "", 0, "IHE BPPC policy OIDs (separated by commas or spaces) that a consent document acknowledges as a permit, besides the fixed rule (docs/CONSENT.md)"),
    STR(consent_deny_policies, T_OIDS, "", 0, "IHE BPPC policy OIDs that a consent document acknowledges as a deny (opt-out); a deny policy wins over a permit one"),
    /* Deliveries to other institutions (the outbox). */
    BOOL(forward_referrals, "false", "true delivers each new document to the registered institutions it is addressed to (informationRecipient) through the outbox, and warns in the answer about addressees that are not registered; false stores documents without looking at their addressees"),
    STR(delivery_cert, T_PATH, "", CDX_KEY_OPTIONAL_PATH, "client certificate chain (PEM) presented to receivers (default: tls_cert; it needs the clientAuth extended key usage when it has any)"),
    STR(delivery_key, T_PATH, "", CDX_KEY_OPTIONAL_PATH | CDX_KEY_SECRET, "its private key (default: tls_key)"),
    STR(delivery_ca, T_PATH, "", CDX_KEY_OPTIONAL_PATH, "CA bundle that receivers' certificates must chain to (default: tls_client_ca, the federation CA)"),
    BOOL(delivery_system_store, "false", "true also trusts the operating system's CA store for receivers' certificates"),
    INT(delivery_max_attempts, "12", 1, 1000, "attempts of one delivery before it is given up (dead, with one alert)"),
    INT(delivery_max_age_ms, "86400000", 1000, 2592000000, "age of a delivery after which it is given up instead of retried"),
    INT(delivery_backoff_min_ms, "2000", 10, 86400000, "delay before the first retry; it doubles with each failed attempt (a random half taken off)"),
    INT(delivery_backoff_max_ms, "600000", 10, 86400000, "longest delay between two attempts (a receiver's longer Retry-After is honoured)"),
    INT(delivery_concurrency, "4", 1, 256, "deliveries in flight to one destination at once; each destination has its own queue"),
    INT(delivery_connect_timeout_ms, "10000", 100, 600000, "time allowed to connect to a receiver (TCP and TLS handshake)"),
    INT(delivery_timeout_ms, "60000", 100, 3600000, "time allowed for the whole exchange with a receiver, and for any pause in it"),
    INT(delivery_poll_ms, "500", 10, 60000, "how often the outbox is looked at for deliveries that are due"),
    INT(subscriptions_max_per_institution, "1000", 0, 1000000, "most subscriptions (`POST /v1/subscriptions`) one institution may hold at once; one more is refused (409 `SUBSCRIPTION_LIMIT`)"),
    /* Accountability: the audit trail's signed checkpoints. */
    STR(audit_signing_key_file, T_PATH, "", CDX_KEY_OPTIONAL_PATH | CDX_KEY_SECRET, "Ed25519 private key (PEM) signing the audit trail's checkpoints (default data_dir/audit-ed25519.key, created mode 0600 on first start); its public key is served at `GET /v1/audit/key` for `cdxgw audit verify --key`"),
    INT(audit_checkpoint_records, "1000", 0, 1000000000, "audit records between two signed checkpoints (0: only at a clean shutdown and on `cdxgw audit checkpoint`)"),
};

static const cdx_conf_key_t *find_key(const char *name)
{
    return cdx_conf_key_find(keys, CDX_ARRAY_SIZE(keys), name);
}


int cdx_config_parse_listen(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon;
    const char *h = s;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return CDX_EINVAL;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return CDX_EINVAL;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= hostlen)
        return CDX_EINVAL;
    char tmp[64];
    if (hlen >= sizeof tmp)
        return CDX_EINVAL;
    memcpy(tmp, h, hlen);
    tmp[hlen] = '\0';
    unsigned char addr[16];
    if (inet_pton(AF_INET, tmp, addr) != 1 && inet_pton(AF_INET6, tmp, addr) != 1)
        return CDX_EINVAL;
    const char *p = colon + 1;
    if (*p == '\0')
        return CDX_EINVAL;
    long v = 0;
    for (; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return CDX_EINVAL;
        v = v * 10 + (*p - '0');
        if (v > 65535)
            return CDX_EINVAL;
    }
    memcpy(host, tmp, hlen + 1);
    *port = (int)v;
    return 0;
}

static int parse_int(const char *s, int64_t *out)
{
    /* Plain decimal digits, optionally with one size suffix (k, M, G:
     * binary multiples) or time suffix is not accepted: units are in the
     * key's name. */
    if (*s == '\0')
        return CDX_EINVAL;
    int64_t v = 0;
    const char *p = s;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > (INT64_MAX - 9) / 10)
            return CDX_ERANGE;
        v = v * 10 + (*p - '0');
    }
    if (p == s)
        return CDX_EINVAL;
    int64_t mult = 1;
    if (*p == 'k' || *p == 'K')
        mult = 1024, p++;
    else if (*p == 'M')
        mult = 1024 * 1024, p++;
    else if (*p == 'G')
        mult = 1024 * 1024 * 1024, p++;
    if (*p != '\0')
        return CDX_EINVAL;
    if (v > INT64_MAX / mult)
        return CDX_ERANGE;
    *out = v * mult;
    return 0;
}

static int apply(cdx_config_t *cfg, const cdx_conf_key_t *k, const char *value, char *err,
                 size_t errlen)
{
    char *field = (char *)cfg + k->offset;
    switch (k->type) {
    case T_INT: {
        int64_t v;
        int rc = parse_int(value, &v);
        if (rc != 0) {
            cdx_errf(err, errlen, "%s: '%s' is not a whole number (digits, optionally k/M/G)",
                    k->name, value);
            return CDX_ECONFIG;
        }
        if (v < k->min || v > k->max) {
            cdx_errf(err, errlen, "%s: %lld is out of bounds [%lld, %lld]", k->name, (long long)v,
                    (long long)k->min, (long long)k->max);
            return CDX_ECONFIG;
        }
        memcpy(field, &v, sizeof v);
        return 0;
    }
    case T_LISTEN: {
        char host[64];
        int port;
        if (cdx_config_parse_listen(value, host, sizeof host, &port) != 0) {
            cdx_errf(err, errlen,
                    "%s: '%s' is not ADDR:PORT with a numeric IP address (e.g. 0.0.0.0:8443 or "
                    "[::]:8443)",
                    k->name, value);
            return CDX_ECONFIG;
        }
        break;
    }
    case T_LEVEL: {
        cdx_log_level_t lvl;
        if (cdx_log_level_parse(value, &lvl) != 0) {
            cdx_errf(err, errlen, "%s: '%s' is not one of debug, info, warn, error", k->name,
                    value);
            return CDX_ECONFIG;
        }
        break;
    }
    case T_BOOL: {
        int64_t v;
        if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "on") == 0 ||
            strcmp(value, "1") == 0) {
            v = 1;
        } else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 ||
                   strcmp(value, "off") == 0 || strcmp(value, "0") == 0) {
            v = 0;
        } else {
            cdx_errf(err, errlen, "%s: '%s' is not true or false", k->name, value);
            return CDX_ECONFIG;
        }
        memcpy(field, &v, sizeof v);
        return 0;
    }
    case T_OIDS: {
        cdx_national_t nat;
        if (cdx_national_parse_roots(value, &nat, err, errlen) != 0)
            return CDX_ECONFIG;
        break;
    }
    case T_SCORE: {
        char *end = NULL;
        errno = 0;
        double v = value[0] != '\0' ? strtod(value, &end) : 0.0;
        if (value[0] != '\0' && (end == value || *end != '\0' || errno != 0 || !(v > -1e6 && v < 1e6))) {
            cdx_errf(err, errlen, "%s: '%s' is not a number", k->name, value);
            return CDX_ECONFIG;
        }
        break;
    }
    case T_STRING:
    case T_PATH:
        break;
    }
    for (const char *p = value; *p; p++) {
        if ((unsigned char)*p < 0x20) {
            cdx_errf(err, errlen, "%s: control characters are not allowed", k->name);
            return CDX_ECONFIG;
        }
    }
    if (cdx_strlcpy(field, value, k->size) != 0) {
        cdx_errf(err, errlen, "%s: value longer than %zu bytes", k->name, k->size - 1);
        return CDX_ECONFIG;
    }
    return 0;
}

void cdx_config_init(cdx_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < CDX_ARRAY_SIZE(keys); i++) {
        int rc = apply(cfg, &keys[i], keys[i].def, NULL, 0);
        CDX_ASSERT(rc == 0);
    }
}

void cdx_config_cleanup(cdx_config_t *cfg)
{
    free(cfg->institutions);
    cfg->institutions = NULL;
    cfg->ninstitutions = 0;
}

int cdx_config_set(cdx_config_t *cfg, const char *key, const char *value, char *err,
                   size_t errlen)
{
    const cdx_conf_key_t *k = find_key(key);
    if (k == NULL) {
        cdx_errf(err, errlen, "%s: unknown configuration key (see `cdxgw serve --help`)", key);
        return CDX_ENOTFOUND;
    }
    return apply(cfg, k, value, err, errlen);
}


static int add_institution(cdx_config_t *cfg)
{
    cdx_institution_t *grown =
        realloc(cfg->institutions, (cfg->ninstitutions + 1) * sizeof *cfg->institutions);
    if (grown == NULL)
        return CDX_ENOMEM;
    cfg->institutions = grown;
    memset(&cfg->institutions[cfg->ninstitutions], 0, sizeof *grown);
    cfg->ninstitutions++;
    return 0;
}

int cdx_config_load_file(cdx_config_t *cfg, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = cdx_read_file(path, 16u << 20, &text, &len);
    if (rc != 0) {
        cdx_errf(err, errlen, "%s: cannot read configuration file: %s", path, cdx_strerror(rc));
        return CDX_ECONFIG;
    }
    char *copy = strdup(path);
    char *dir = copy ? dirname(copy) : NULL;
    if (dir == NULL || cdx_strlcpy(cfg->base_dir, dir, sizeof cfg->base_dir) != 0) {
        free(copy);
        free(text);
        cdx_errf(err, errlen, "%s: path too long", path);
        return CDX_ECONFIG;
    }
    free(copy);
    if (memchr(text, '\0', len) != NULL) {
        cdx_errf(err, errlen, "%s: contains a NUL byte; is this a text file?", path);
        rc = CDX_ECONFIG;
        goto out;
    }

    int in_institution = 0;
    char msg[512];
    size_t lineno = 0;
    char *save = NULL;
    for (char *line = text; line != NULL; line = save) {
        char *nl = strchr(line, '\n');
        save = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        lineno++;
        char *s = cdx_trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            if (strcmp(s, "[institution]") != 0) {
                cdx_errf(err, errlen, "%s:%zu: unknown section %s (only [institution] exists)",
                        path, lineno, s);
                rc = CDX_ECONFIG;
                goto out;
            }
            if (in_institution &&
                cdx_institution_check(&cfg->institutions[cfg->ninstitutions - 1], msg,
                                      sizeof msg) != 0) {
                cdx_errf(err, errlen, "%s:%zu: institution ending here: %s", path, lineno - 1, msg);
                rc = CDX_ECONFIG;
                goto out;
            }
            rc = add_institution(cfg);
            if (rc != 0)
                goto out;
            in_institution = 1;
            continue;
        }
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            cdx_errf(err, errlen, "%s:%zu: expected `key = value`", path, lineno);
            rc = CDX_ECONFIG;
            goto out;
        }
        *eq = '\0';
        char *key = cdx_trim(s);
        char *value = cdx_trim(eq + 1);
        if (in_institution) {
            rc = cdx_institution_set_key(&cfg->institutions[cfg->ninstitutions - 1], key, value,
                                         cfg->base_dir, msg, sizeof msg);
        } else {
            rc = cdx_config_set(cfg, key, value, msg, sizeof msg);
        }
        if (rc != 0) {
            cdx_errf(err, errlen, "%s:%zu: %s", path, lineno, msg);
            rc = CDX_ECONFIG;
            goto out;
        }
    }
    if (in_institution && cdx_institution_check(&cfg->institutions[cfg->ninstitutions - 1], msg,
                                                sizeof msg) != 0) {
        cdx_errf(err, errlen, "%s:%zu: institution ending here: %s", path, lineno, msg);
        rc = CDX_ECONFIG;
        goto out;
    }
    rc = 0;
out:
    free(text);
    return rc;
}

static int resolve(const cdx_config_t *cfg, char *field, size_t size)
{
    if (field[0] == '\0' || field[0] == '/')
        return 0;
    char base[CDX_PATH_MAX];
    if (cfg->base_dir[0] != '\0') {
        if (cdx_strlcpy(base, cfg->base_dir, sizeof base) != 0)
            return CDX_ERANGE;
    } else if (getcwd(base, sizeof base) == NULL) {
        return CDX_ERANGE;
    }
    if (base[0] != '/') {
        char cwd[CDX_PATH_MAX], joined[CDX_PATH_MAX];
        if (getcwd(cwd, sizeof cwd) == NULL)
            return CDX_ERANGE;
        if ((size_t)snprintf(joined, sizeof joined, "%s/%s", cwd, base) >= sizeof joined)
            return CDX_ERANGE;
        memcpy(base, joined, sizeof base);
    }
    char out[CDX_PATH_MAX];
    const char *rel = field;
    if (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    if ((size_t)snprintf(out, sizeof out, "%s/%s", base, rel) >= sizeof out ||
        strlen(out) >= size)
        return CDX_ERANGE;
    memcpy(field, out, strlen(out) + 1);
    return 0;
}

int cdx_config_finish(cdx_config_t *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < CDX_ARRAY_SIZE(keys); i++) {
        const cdx_conf_key_t *k = &keys[i];
        char *field = (char *)cfg + k->offset;
        if (k->type == T_PATH && resolve(cfg, field, k->size) != 0) {
            cdx_errf(err, errlen, "%s: path too long", k->name);
            return CDX_ECONFIG;
        }
    }
    if (cfg->mappings_dir[0] == '\0')
        cdx_strlcpy(cfg->mappings_dir, CDX_SOURCE_MAPPINGS_DIR, sizeof cfg->mappings_dir);
    if (cfg->patient_key_file[0] == '\0' &&
        (size_t)snprintf(cfg->patient_key_file, sizeof cfg->patient_key_file,
                         "%s/patient-hmac.key", cfg->data_dir) >= sizeof cfg->patient_key_file) {
        cdx_errf(err, errlen, "patient_key_file: path too long");
        return CDX_ECONFIG;
    }
    if (cfg->national_id_key_file[0] == '\0' &&
        (size_t)snprintf(cfg->national_id_key_file, sizeof cfg->national_id_key_file,
                         "%s/national-hmac.key", cfg->data_dir) >= sizeof cfg->national_id_key_file) {
        cdx_errf(err, errlen, "national_id_key_file: path too long");
        return CDX_ECONFIG;
    }
    if (cfg->audit_signing_key_file[0] == '\0' &&
        (size_t)snprintf(cfg->audit_signing_key_file, sizeof cfg->audit_signing_key_file,
                         "%s/audit-ed25519.key", cfg->data_dir) >= sizeof cfg->audit_signing_key_file) {
        cdx_errf(err, errlen, "audit_signing_key_file: path too long");
        return CDX_ECONFIG;
    }
    if (cfg->match_link_threshold[0] != '\0' && cfg->match_review_threshold[0] != '\0' &&
        strtod(cfg->match_review_threshold, NULL) > strtod(cfg->match_link_threshold, NULL)) {
        cdx_errf(err, errlen, "match_review_threshold: above match_link_threshold");
        return CDX_ECONFIG;
    }
    if (cfg->delivery_backoff_min_ms > cfg->delivery_backoff_max_ms) {
        cdx_errf(err, errlen, "delivery_backoff_min_ms: above delivery_backoff_max_ms");
        return CDX_ECONFIG;
    }
    return 0;
}

int cdx_config_require_tls(const cdx_config_t *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < CDX_ARRAY_SIZE(keys); i++) {
        const cdx_conf_key_t *k = &keys[i];
        const char *field = (const char *)cfg + k->offset;
        if ((k->flags & CDX_KEY_REQUIRED) && field[0] == '\0') {
            cdx_errf(err, errlen, "%s: required, but not set (in the configuration file or as --%s)",
                    k->name, k->name);
            return CDX_ECONFIG;
        }
    }
    return 0;
}

static void print_value(FILE *out, const cdx_conf_key_t *k, const cdx_config_t *cfg)
{
    const char *field = (const char *)cfg + k->offset;
    if (k->type == T_INT) {
        int64_t v;
        memcpy(&v, field, sizeof v);
        fprintf(out, "%lld", (long long)v);
    } else if (k->type == T_BOOL) {
        int64_t v;
        memcpy(&v, field, sizeof v);
        fputs(v ? "true" : "false", out);
    } else {
        fputs(field, out);
    }
}

void cdx_config_print(const cdx_config_t *cfg, FILE *out)
{
    for (size_t i = 0; i < CDX_ARRAY_SIZE(keys); i++) {
        const cdx_conf_key_t *k = &keys[i];
        fprintf(out, "%s = ", k->name);
        print_value(out, k, cfg);
        if (k->flags & CDX_KEY_SECRET)
            fputs("   # secret: the file's content is never printed", out);
        fputc('\n', out);
    }
    for (size_t i = 0; i < cfg->ninstitutions; i++) {
        const cdx_institution_t *inst = &cfg->institutions[i];
        char roles[64];
        cdx_roles_format(inst->roles, roles, sizeof roles);
        fprintf(out, "\n[institution]\noid = %s\nname = %s\nroles = %s\n", inst->oid, inst->name,
                roles);
        if (inst->endpoint[0])
            fprintf(out, "endpoint = %s\n", inst->endpoint);
        for (size_t c = 0; c < inst->ncreds; c++)
            fprintf(out, "%s = %s\n", inst->creds[c].spki ? "spki_sha256" : "cert_sha256",
                    inst->creds[c].sha256);
        for (size_t r = 0; r < inst->nid_roots; r++)
            fprintf(out, "id_root = %s\n", inst->id_roots[r]);
    }
}

void cdx_config_help(FILE *out)
{
    for (size_t i = 0; i < CDX_ARRAY_SIZE(keys); i++) {
        const cdx_conf_key_t *k = &keys[i];
        fprintf(out, "  --%s", k->name);
        if (k->type == T_INT)
            fprintf(out, " N   (default %s; %lld..%lld)\n", k->def, (long long)k->min,
                    (long long)k->max);
        else if (k->type == T_BOOL)
            fprintf(out, " true|false   (default %s)\n", k->def);
        else
            fprintf(out, " VALUE   (default %s%s)\n", k->def[0] ? k->def : "none",
                    (k->flags & CDX_KEY_REQUIRED) ? ", required" : "");
        fprintf(out, "      %s\n", k->help);
    }
}

void cdx_config_help_markdown(FILE *out)
{
    fputs("| key | default | bounds | meaning |\n|---|---|---|---|\n", out);
    for (size_t i = 0; i < CDX_ARRAY_SIZE(keys); i++) {
        const cdx_conf_key_t *k = &keys[i];
        fprintf(out, "| `%s` | %s%s%s | ", k->name, k->def[0] ? "`" : "",
                k->def[0] ? k->def : ((k->flags & CDX_KEY_REQUIRED) ? "required" : "none"),
                k->def[0] ? "`" : "");
        if (k->type == T_INT)
            fprintf(out, "%lld – %lld", (long long)k->min, (long long)k->max);
        else if (k->type == T_BOOL)
            fputs("true, false", out);
        fprintf(out, " | %s |\n", k->help);
    }
}
