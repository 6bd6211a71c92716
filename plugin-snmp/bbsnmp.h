/* SPDX-License-Identifier: MIT */
/*
 * The net-snmp front-end, shared by the dlmod (dlmod.c) and the AgentX
 * subagent (subagent.c):
 *
 *   index.c   name -> index maps (metrics, programs) that never reuse an index
 *   tables.c  BPFBRIDGE-MIB's four tables behind one cache: programs and
 *             metrics through net-snmp's table_container helper, series and
 *             buckets answered by index arithmetic over the series rows
 *   agent.c   settings (snmpd.conf tokens / options), the engines, and the
 *             glue that feeds each cache load with a fresh snapshot
 *
 * net-snmp is single-threaded: every function here runs in the agent's thread,
 * except the reader thread of agent.c, which reads the engines and builds rows
 * with bbsnmp_tables_build() (no net-snmp call) for the agent to swap in.
 */
#ifndef BPFBRIDGE_SNMP_H
#define BPFBRIDGE_SNMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/agent/net-snmp-agent-includes.h>

#include "bpfbridge.h"

/* netSnmpExperimental.25186 ("bb"), until a Private Enterprise Number exists. */
#define BBSNMP_DEFAULT_ROOT 1, 3, 6, 1, 4, 1, 8072, 9999, 25186
#define BBSNMP_DEFAULT_CACHE_TIMEOUT 5
/* BpfbridgeText's SIZE limit in BPFBRIDGE-MIB. */
#define BBSNMP_TEXT_MAX 1024
/* A series' index in bpfbridgeSeriesTable and bpfbridgeBucketTable is its
 * series store id (struct bb_series.id): unique in the process, never given
 * to another label set, so no map from labels to indexes is kept. */

/* Column numbers, as in BPFBRIDGE-MIB.txt. */
enum {
	BBSNMP_COL_PROGRAM_CONFIG = 2,
	BBSNMP_COL_PROGRAM_NAME,
	BBSNMP_COL_PROGRAM_SECTION,
	BBSNMP_COL_PROGRAM_HOOK,
	BBSNMP_COL_PROGRAM_ALTERNATIVE,
	BBSNMP_COL_PROGRAM_STATUS,
	BBSNMP_COL_PROGRAM_ERRNO,
	BBSNMP_COL_PROGRAM_ERROR,
};
enum {
	BBSNMP_COL_METRIC_NAME = 2,
	BBSNMP_COL_METRIC_HELP,
	BBSNMP_COL_METRIC_KIND,
	BBSNMP_COL_METRIC_LABEL_NAMES,
	BBSNMP_COL_METRIC_UNIT,
	BBSNMP_COL_METRIC_MULTIPLIER,
	BBSNMP_COL_METRIC_SERIES,
	BBSNMP_COL_METRIC_BUCKETS,
};
enum {
	BBSNMP_COL_SERIES_LABELS = 2,
	BBSNMP_COL_SERIES_VALUE,
	BBSNMP_COL_SERIES_GAUGE,
	BBSNMP_COL_SERIES_COUNT,
	BBSNMP_COL_SERIES_SUM,
	BBSNMP_COL_SERIES_SUM_SCALED,
	/* histograms, the last interval (BPFBRIDGE-MIB revision 202611300000Z) */
	BBSNMP_COL_SERIES_INTERVAL_COUNT,
	BBSNMP_COL_SERIES_P50,
	BBSNMP_COL_SERIES_P90,
	BBSNMP_COL_SERIES_P99,
	BBSNMP_COL_SERIES_P50_SCALED,
	BBSNMP_COL_SERIES_P90_SCALED,
	BBSNMP_COL_SERIES_P99_SCALED,
};
enum {
	BBSNMP_COL_BUCKET_UPPER_BOUND = 2,
	BBSNMP_COL_BUCKET_UPPER_BOUND_RAW,
	BBSNMP_COL_BUCKET_COUNT,
};

/* Table numbers under bpfbridgeObjects. */
enum bbsnmp_table {
	BBSNMP_TABLE_PROGRAMS = 1,
	BBSNMP_TABLE_METRICS,
	BBSNMP_TABLE_SERIES,
	BBSNMP_TABLE_BUCKETS,
};

/* bpfbridgeProgramStatus */
enum bbsnmp_program_status {
	BBSNMP_PROG_ATTACHED = 1,
	BBSNMP_PROG_FAILED = 2,
	BBSNMP_PROG_SKIPPED = 3,
	BBSNMP_PROG_CONFIG_FAILED = 4,
};

/* ---- index.c: stable indexes ------------------------------------------------ */

struct bbsnmp_index_entry {
	struct bbsnmp_index_entry *next;
	uint32_t hash;
	uint32_t index;
	/* The row this key got in the load numbered `generation`: a key seen twice
	 * in one snapshot is merged into its first row instead of duplicating an
	 * OID. */
	uint64_t generation;
	void *row;
	void *child; /* owned; freed by the map's child_free */
	size_t keylen;
	char key[]; /* keylen bytes, then a NUL */
};

struct bbsnmp_index_map {
	struct bbsnmp_index_entry **slots;
	size_t n_slots;
	size_t n_entries;
	uint32_t last_index;
	void (*child_free)(void *child);
};

void bbsnmp_index_map_init(struct bbsnmp_index_map *map, void (*child_free)(void *child));
void bbsnmp_index_map_destroy(struct bbsnmp_index_map *map);
/* The entry for KEY, created with the next unused index (from 1) if new. NULL
 * with errno ENOMEM, or ERANGE once 2^32-1 indexes have been handed out. */
struct bbsnmp_index_entry *bbsnmp_index_get(struct bbsnmp_index_map *map, const char *key,
					    size_t keylen);
/* The entry for KEY, or NULL. */
struct bbsnmp_index_entry *bbsnmp_index_find(const struct bbsnmp_index_map *map, const char *key,
					     size_t keylen);
/* Remove every entry last seen before generation KEEP_FROM (its index is
 * never handed out again). Returns how many were removed. */
size_t bbsnmp_index_retire(struct bbsnmp_index_map *map, uint64_t keep_from);

/* ---- tables.c: BPFBRIDGE-MIB's tables --------------------------------------- */

/* One row of the programs table, as the agent hands it over. Strings are copied. */
struct bbsnmp_program {
	const char *config;
	const char *name; /* "" for a config that failed to load */
	const char *section;
	const char *hook;
	int alternative;
	enum bbsnmp_program_status status;
	int error;	    /* positive errno, 0 when attached */
	const char *reason; /* NULL when attached */
};

struct bbsnmp_tables;

/* Called by the cache when it needs fresh rows: must end in one
 * bbsnmp_tables_update() (or return a negative errno). */
typedef int (*bbsnmp_load_fn)(struct bbsnmp_tables *tables, void *ctx);

struct bbsnmp_tables *bbsnmp_tables_new(void);
/* Unregisters if needed, then frees everything (indexes included). Safe with NULL. */
void bbsnmp_tables_free(struct bbsnmp_tables *tables);

/*
 * Replace the rows with those of SNAP and PROGRAMS (copied: what the columns
 * show of each series, and a reference to its label set; SNAP is not held). Series indexes are the series'
 * ids, metric indexes come from the tables' index map: both survive across
 * updates. Returns 0 or -ENOMEM
 * (the tables are then empty).
 */
int bbsnmp_tables_update(struct bbsnmp_tables *tables, struct bb_snapshot *snap,
			 const struct bbsnmp_program *programs, size_t n_programs);
void bbsnmp_tables_clear(struct bbsnmp_tables *tables);

/*
 * bbsnmp_tables_update() in two steps, so that the costly one can run off the
 * agent's thread. Build: the rows of SNAP and PROGRAMS into *OUT, index maps
 * updated; any thread, but one call at a time per tables (and not alongside
 * update). Install (agent thread): serve VIEW from now on, and get back the
 * view served so far, to free with bbsnmp_view_free() on any thread.
 */
struct bbsnmp_view;
int bbsnmp_tables_build(struct bbsnmp_tables *tables, struct bb_snapshot *snap,
			const struct bbsnmp_program *programs, size_t n_programs,
			struct bbsnmp_view **out);
struct bbsnmp_view *bbsnmp_tables_install(struct bbsnmp_tables *tables, struct bbsnmp_view *view);
void bbsnmp_view_free(struct bbsnmp_view *view);
size_t bbsnmp_tables_rows(const struct bbsnmp_tables *tables, enum bbsnmp_table which);
/* Bytes of the installed series rows' arrays (their own mappings from 1 MiB
 * on, so not in malloc's statistics). */
size_t bbsnmp_tables_row_bytes(const struct bbsnmp_tables *tables);
/* Updates done so far (each cache load is one). */
uint64_t bbsnmp_tables_generation(const struct bbsnmp_tables *tables);
/* Entries in the index maps (metrics and programs; series need none), for
 * tests and benchmarks. */
size_t bbsnmp_tables_index_entries(const struct bbsnmp_tables *tables);
/* The index LABELS (as bpfbridgeSeriesLabels shows them) has in metric
 * METRIC in the installed rows, or 0 when it has none (tests; a linear scan). */
uint32_t bbsnmp_tables_series_index(const struct bbsnmp_tables *tables, const char *metric,
				    const char *labels);

/*
 * Register the four tables under ROOT (bpfbridgeMIB's OID or the configured
 * replacement) behind one cache of CACHE_TIMEOUT seconds whose load calls
 * LOAD(tables, CTX). Returns 0, or a negative errno after logging why (nothing
 * stays registered then).
 */
/* The longest usable root OID: a bucket row's instance is root.1.TABLE.1.COLUMN.METRIC.SERIES.BUCKET,
 * root + 7 sub-identifiers, and net-snmp's OIDs hold MAX_OID_LEN (128). */
#define BBSNMP_ROOT_MAX (MAX_OID_LEN - 7)

int bbsnmp_tables_register(struct bbsnmp_tables *tables, const oid *root, size_t root_len,
			   int cache_timeout, bbsnmp_load_fn load, void *ctx);
/* Before registering: the cache never clears the rows (a load that installs
 * nothing keeps serving the rows installed before). */
void bbsnmp_tables_keep_rows(struct bbsnmp_tables *tables, bool keep);
/* Remove every registration and the cache. Safe when not registered. */
void bbsnmp_tables_unregister(struct bbsnmp_tables *tables);

/* ---- agent.c: settings and engines --------------------------------------------- */

struct bbsnmp_settings {
	char *config_dir;
	char **configs; /* names (NAME or NAME.yaml) to load from config_dir */
	size_t n_configs;
	int cache_timeout; /* seconds */
	int interval;	   /* seconds between reads off the agent's thread; 0 = cache_timeout */
	oid root[MAX_OID_LEN];
	size_t root_len;
	bool strict;
	uint32_t max_series; /* per metric when the config sets none; 0 = engine default */
	char *btf_path;
	bool autoload; /* every NAME.yaml + NAME.bpf.o of config_dir, watched */
};

void bbsnmp_settings_init(struct bbsnmp_settings *s);
void bbsnmp_settings_destroy(struct bbsnmp_settings *s);
/* Setters shared by the config tokens and the subagent's options. Each
 * returns NULL or a message saying what was expected. */
const char *bbsnmp_set_config_dir(struct bbsnmp_settings *s, const char *dir);
const char *bbsnmp_add_configs(struct bbsnmp_settings *s, const char *names);
const char *bbsnmp_set_cache_timeout(struct bbsnmp_settings *s, const char *value);
const char *bbsnmp_set_interval(struct bbsnmp_settings *s, const char *value);
const char *bbsnmp_set_root_oid(struct bbsnmp_settings *s, const char *value);
const char *bbsnmp_set_strict(struct bbsnmp_settings *s, const char *value);
const char *bbsnmp_set_autoload(struct bbsnmp_settings *s, const char *value);
const char *bbsnmp_set_max_series(struct bbsnmp_settings *s, const char *value);
const char *bbsnmp_set_btf(struct bbsnmp_settings *s, const char *path);

/*
 * Register the bpfbridge* configuration tokens for the running application's
 * config files (snmpd.conf for the dlmod, bpfbridge-snmp.conf for the
 * subagent); each sets a field of S. Unregister before S goes away.
 */
void bbsnmp_tokens_register(struct bbsnmp_settings *s);
void bbsnmp_tokens_unregister(void);
/* Bad token values seen since bbsnmp_tokens_register() (each already logged). */
unsigned bbsnmp_tokens_errors(void);

/* Route the core's logger into snmp_log(), and back to stderr. */
void bbsnmp_log_to_netsnmp(void);
void bbsnmp_log_restore(void);

struct bbsnmp_agent;

/* Open every configured engine (a config that fails is logged and shown in
 * the programs table; the others still load) and register the tables. NULL
 * only when the tables cannot be registered at all. */
struct bbsnmp_agent *bbsnmp_agent_start(const struct bbsnmp_settings *s);
/* Unregister everything, detach and close every engine, free. Safe with NULL. */
void bbsnmp_agent_stop(struct bbsnmp_agent *agent);
size_t bbsnmp_agent_n_engines(const struct bbsnmp_agent *agent);

#endif
