/*
 * cli: the `cdxgw` commands.
 *
 * Responsible for: argument parsing, help texts and exit codes (0 success,
 * 1 failure at run time, 2 usage or configuration error) of each command,
 * and wiring configuration, registry and server together.
 * Not responsible for: the work itself, which lives in the modules.
 */
#ifndef CDX_CLI_H
#define CDX_CLI_H

#include "cdx/conf/config.h"
#include "cdx/store/registry.h"

int cdx_cmd_serve(int argc, char **argv);
int cdx_cmd_demo(int argc, char **argv);
int cdx_cmd_audit(int argc, char **argv);
int cdx_cmd_deliveries(int argc, char **argv);
int cdx_cmd_cohort(int argc, char **argv);
/* `cdxgw cohort export ID --format F --out FILE` (cmd/cohort_export.c). */
int cdx_cmd_cohort_export(int argc, char **argv);
/* `cdxgw audit export` (argv[0] is "export"). */
int cdx_cmd_audit_export(int argc, char **argv);
/* Takes "NAME VALUE" out of argv (shifting the rest down, *argc less 2),
 * so that the configuration parser does not read it as a key; *value is
 * left alone when NAME is absent.  Returns 0, or 2 after printing that the
 * value is missing. */
int cdx_cli_take_option(int *argc, char **argv, const char *name, const char **value);
int cdx_cmd_validate(int argc, char **argv);
int cdx_cmd_import(int argc, char **argv);
int cdx_cmd_reindex(int argc, char **argv);

/* Loads configuration from `--config FILE` and `--key value` arguments
 * (argv[0] is the command).  need_tls: the TLS keys are required.  Returns 0, or 2
 * after printing the reason. */
int cdx_cli_load_config(int argc, char **argv, cdx_config_t *cfg, int *print_config,
                        int need_tls);

/* Opens the registry at data_dir/registry.db and registers the configured
 * institutions (inline and institutions_file).  Returns 0 or prints the
 * reason and returns 1 (2 for configuration errors). */
int cdx_cli_open_registry(const cdx_config_t *cfg, cdx_registry_t **out);

/* Runs the server until it stops.  on_ready, if not NULL, is called once
 * listening with the bound port. */
int cdx_cli_run_server(const cdx_config_t *cfg, void (*on_ready)(int port, void *arg), void *arg);

#endif
