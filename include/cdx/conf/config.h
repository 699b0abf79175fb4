/*
 * config: the gateway's configuration, one table of keys.
 *
 * Responsible for: every key with its type, default, bounds and help text
 * (the table drives parsing, `--help`, `--print-config` and the README),
 * reading a `key = value` file, command-line overrides, and refusing bad
 * values with the key and the reason.  `[institution]` sections in the
 * file are collected for the registry.
 * Not responsible for: opening the files the keys name (the server does,
 * and reports what is wrong with them).
 */
#ifndef CDX_CONFIG_H
#define CDX_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cdx/domain/types.h"

#define CDX_PATH_MAX 1024

typedef struct cdx_config {
    char listen[256];
    char data_dir[CDX_PATH_MAX];
    char tls_cert[CDX_PATH_MAX];
    char tls_key[CDX_PATH_MAX];
    char tls_client_ca[CDX_PATH_MAX];
    char tls_crl[CDX_PATH_MAX];
    char institutions_file[CDX_PATH_MAX];
    char mappings_dir[CDX_PATH_MAX];
    char schema_path[CDX_PATH_MAX];
    char patient_key_file[CDX_PATH_MAX];
    char national_id_roots[2048];      /* OIDs separated by commas or spaces */
    char national_id_key_file[CDX_PATH_MAX];
    char match_link_threshold[32];     /* a number, "" for the calibrated default */
    char match_review_threshold[32];
    char breakglass_minutes[32];           /* a number of minutes (fractions allowed) */
    char consent_permit_policies[2048];    /* BPPC policy OIDs read as permit */
    char consent_deny_policies[2048];      /* BPPC policy OIDs read as deny */
    char log_level[16];
    int64_t max_body_bytes;
    int64_t research_min_cell; /* cohort suppression and differencing threshold */
    char research_projects_file[CDX_PATH_MAX]; /* research projects: export keys and modes */
    int64_t max_request_line_bytes;
    int64_t max_header_bytes;
    int64_t max_headers;
    int64_t max_connections;
    int64_t handshake_timeout_ms;
    int64_t header_timeout_ms;
    int64_t body_timeout_ms;
    int64_t body_min_rate_bps;
    int64_t body_rate_grace_ms;
    int64_t keepalive_timeout_ms;
    int64_t write_timeout_ms;
    int64_t write_high_water_bytes;
    int64_t max_jobs;
    int64_t worker_threads;
    int64_t shutdown_timeout_ms;
    int64_t crl_reload_ms;
    int64_t write_queue;
    int64_t xml_max_nodes;
    int64_t xml_max_nodes_per_kb;
    int64_t max_handshakes;
    int64_t max_handshakes_per_ip;
    int64_t max_connections_per_institution;
    int64_t metrics_loopback; /* 0 or 1 */
    int64_t match_demographics; /* 0 or 1 */
    int64_t breakglass_overrides_deny; /* 0 or 1 */
    int64_t forward_referrals; /* 0 or 1 */
    char delivery_cert[CDX_PATH_MAX];
    char delivery_key[CDX_PATH_MAX];
    char delivery_ca[CDX_PATH_MAX];
    int64_t delivery_system_store; /* 0 or 1 */
    int64_t delivery_max_attempts;
    int64_t delivery_max_age_ms;
    int64_t delivery_backoff_min_ms;
    int64_t delivery_backoff_max_ms;
    int64_t delivery_concurrency;
    int64_t delivery_connect_timeout_ms;
    int64_t delivery_timeout_ms;
    int64_t delivery_poll_ms;
    int64_t subscriptions_max_per_institution;
    char audit_signing_key_file[CDX_PATH_MAX];
    int64_t audit_checkpoint_records;

    /* [institution] sections found in the configuration file. */
    cdx_institution_t *institutions;
    size_t ninstitutions;
    /* Folder of the configuration file: relative paths resolve against it. */
    char base_dir[CDX_PATH_MAX];
} cdx_config_t;

/* Fills every key with its default.  Caller storage; cdx_config_cleanup
 * frees the institutions. */
void cdx_config_init(cdx_config_t *cfg);
void cdx_config_cleanup(cdx_config_t *cfg);

/* Sets one key from text.  Dashes in key are read as underscores.
 * Returns 0, or CDX_ENOTFOUND (unknown key) / CDX_ECONFIG (bad value) with
 * "key: reason" in err. */
int cdx_config_set(cdx_config_t *cfg, const char *key, const char *value, char *err,
                   size_t errlen);

/* Reads a configuration file; relative paths in it (and base_dir) resolve
 * against the file's folder.  Errors name "path:line: key: reason". */
int cdx_config_load_file(cdx_config_t *cfg, const char *path, char *err, size_t errlen);

/* Resolves relative paths against base_dir (or the working folder when no
 * file was read) and checks cross-key rules (required keys, low < high).
 * Returns 0 or CDX_ECONFIG with the reason in err. */
int cdx_config_finish(cdx_config_t *cfg, char *err, size_t errlen);

/* Checks that the keys serving needs (tls_cert, tls_key, tls_client_ca)
 * are set.  Returns 0 or CDX_ECONFIG with the reason in err. */
int cdx_config_require_tls(const cdx_config_t *cfg, char *err, size_t errlen);

/* Prints `key = value` lines for every key; secrets are masked. */
void cdx_config_print(const cdx_config_t *cfg, FILE *out);

/* Prints the key table: name, default, bounds, help. */
void cdx_config_help(FILE *out);

/* Writes the key table as a Markdown table (for the README). */
void cdx_config_help_markdown(FILE *out);

/* Parses "ADDR:PORT" or "[ADDR6]:PORT" into host (size hostlen) and port.
 * Returns 0 or CDX_EINVAL. */
int cdx_config_parse_listen(const char *s, char *host, size_t hostlen, int *port);

#endif
