/* SPDX-License-Identifier: MIT */
/* Shared by the `bpfbridge` subcommands. */
#ifndef BPFBRIDGE_CLI_H
#define BPFBRIDGE_CLI_H

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>

#include "bpfbridge.h"

#ifndef BB_CONFIGSDIR
#define BB_CONFIGSDIR "/usr/local/share/bpfbridge/configs"
#endif
/* Where CONFIG names are looked up unless --config-dir says otherwise. */
#define BB_DEFAULT_CONFIG_DIR BB_CONFIGSDIR

#ifndef BB_VERSION
#define BB_VERSION "unknown"
#endif

/* Options every subcommand that loads configs understands. */
struct bb_cli_common {
	struct bb_options opts;
	const char *config_dir;
	double interval;	/* seconds */
	const char *ready_file; /* touched once every config is attached */
	bool configs_optional;	/* set by a command option: CONFIG... may be empty */
};

enum {
	BB_OPT_STRICT = 0x100,
	BB_OPT_BTF,
	BB_OPT_CONFIG_DIR,
	BB_OPT_INTERVAL,
	BB_OPT_FORMAT,
	BB_OPT_READY_FILE,
	BB_OPT_MAX_SERIES,
	BB_OPT_LIBBPF_DEBUG,
	BB_OPT_COUNT,
	BB_OPT_AUTOLOAD,
};

/* clang-format off */
#define BB_CLI_COMMON_LONGOPTS \
	{ "strict", no_argument, NULL, BB_OPT_STRICT }, \
	{ "btf", required_argument, NULL, BB_OPT_BTF }, \
	{ "config-dir", required_argument, NULL, BB_OPT_CONFIG_DIR }, \
	{ "max-series", required_argument, NULL, BB_OPT_MAX_SERIES }, \
	{ "libbpf-debug", no_argument, NULL, BB_OPT_LIBBPF_DEBUG }, \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "help", no_argument, NULL, 'h' }
/* clang-format on */

void bb_cli_common_init(struct bb_cli_common *c);

/* Handle one of the common options. Returns 0 if handled, 1 if OPT is not a
 * common option, 2 after printing a usage error for its argument. */
int bb_cli_common_opt(struct bb_cli_common *c, int opt, const char *arg, const char *cmd);

/* A subcommand's own option: return 0 if handled, 1 if not its option, 2 after
 * printing a usage error. */
typedef int (*bb_cli_extra_opt)(int opt, const char *arg, void *ctx);

/*
 * Parse a subcommand's options (the common ones plus, through EXTRA, its own)
 * and require at least one CONFIG. Returns -1 to go on with argv[optind..], or
 * the exit code: 0 after --help, 2 after a usage error.
 */
int bb_cli_parse(int argc, char **argv, const struct option *longopts, struct bb_cli_common *c,
		 const char *cmd, void (*print_usage)(FILE *), bb_cli_extra_opt extra, void *ctx);

/* Create (or truncate) the --ready-file; returns false after printing why. */
bool bb_cli_signal_ready(const struct bb_cli_common *c, const char *cmd);

/* Set by SIGINT/SIGTERM: the signal number. */
extern volatile sig_atomic_t bb_cli_stop;

/* The engines of CONFIG arguments, opened together. */
struct bb_cli_engines {
	struct bb_engine **engines;
	size_t n;
};

/* Open every config in ARGS (names resolved in DIR). On any failure print each
 * error to stderr, close what was opened and return -1. */
int bb_cli_open_all(const char *dir, char **args, int n_args, const struct bb_options *opts,
		    struct bb_cli_engines *out, const char *cmd);
void bb_cli_close_all(struct bb_cli_engines *e);

/* Install SIGINT/SIGTERM handlers that set bb_cli_stop and interrupt sleeps. */
void bb_cli_catch_signals(void);

/* Sleep up to SECONDS; returns early (false) when bb_cli_stop is set. When
 * KEY_FD >= 0 also returns early with *key set to a byte read from it. */
bool bb_cli_sleep(double seconds, int key_fd, int *key);

/* Parse a positive interval in seconds ("1", "0.5"); false if malformed. */
bool bb_cli_parse_interval(const char *s, double *out);

/* `bpfbridge watch` (cli/watch.c). ARGV[0] is "watch". */
int bb_cli_watch(int argc, char **argv);

/* `bpfbridge relabel` (cli/relabel.c). ARGV[0] is "relabel". */
int bb_cli_relabel(int argc, char **argv);

#endif
