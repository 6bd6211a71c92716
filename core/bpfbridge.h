/* SPDX-License-Identifier: MIT */
/*
 * The one header front-ends include. A bb_engine is one loaded config:
 * NAME.yaml + NAME.bpf.o, its programs attached, its maps readable.
 * Front-ends never touch libbpf themselves.
 */
#ifndef BPFBRIDGE_H
#define BPFBRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "log.h"
#include "snapshot.h"

#define BB_DEFAULT_MAX_SERIES 10000
#define BB_DEFAULT_RETIRE_AFTER 5 /* reads */
#define BB_MAX_QUANTILES 16

struct bb_options {
	bool strict; /* any program that fails to attach fails the whole config */
	uint32_t max_series_per_metric; /* when the metric sets no max_series; 0 = default */
	const char *btf_path;  /* external BTF for kernels without /sys/kernel/btf/vmlinux */
	bool libbpf_debug;     /* pass libbpf's debug messages to the logger */
	bool skip_owner_check; /* tests only: do not refuse files not owned by root */
	/* A series not in its map for this many reads in a row is retired: its
	 * state is freed and, should its labels come back, it gets a new id.
	 * 0 = BB_DEFAULT_RETIRE_AFTER. */
	uint32_t retire_after_reads;
	/* Quantiles each histogram series' interval carries, in (0, 1); n = 0
	 * means the default 0.5, 0.9, 0.99. */
	double quantiles[BB_MAX_QUANTILES];
	size_t n_quantiles;
	/* Snapshot memory each metric keeps for the next reads: 2 (0 = the
	 * default) lets a front-end hold the last snapshot while the next one is
	 * read without allocating anew; 1 returns an older snapshot's memory to
	 * the system as soon as the front-end releases it, for one that holds the
	 * last snapshot until the next is made; BB_SNAPSHOT_BLOCKS_NONE keeps
	 * none: each snapshot's series arrays are their own memory, returned to
	 * the system when the snapshot is freed (the SNMP module, which copies
	 * what it serves and frees the snapshot at once: no snapshot resident
	 * between reads, for page faults on each read). */
	uint32_t snapshot_blocks;
	/* Give the pages of the map read buffers back to the system after each
	 * read (they are refilled, a page fault per 4 KiB, on the next): for a
	 * front-end whose process should stay small between reads (the SNMP
	 * module). */
	bool release_read_buffers;
};

#define BB_SNAPSHOT_BLOCKS_NONE UINT32_MAX

void bb_options_init(struct bb_options *opts);

enum bb_program_state {
	BB_PROG_ATTACHED = 0,
	BB_PROG_FAILED, /* chosen, but load or attach failed */
	BB_PROG_SKIPPED, /* an alternative that was probed and not chosen, or lost to an earlier one */
};

struct bb_program_status {
	char *name;	 /* BPF program (function) name */
	char *section;	 /* ELF section, e.g. "tp_btf/block_rq_issue" */
	char *hook;	 /* hook name from the config, or the section when the config names none */
	int alternative; /* index of the alternative within its hook, -1 if none */
	enum bb_program_state state;
	int error;    /* negative errno when not attached */
	char *reason; /* human-readable: why failed or skipped; NULL when attached */
};

/* "attached", "failed" or "skipped". */
const char *bb_program_state_name(enum bb_program_state state);

struct bb_engine;

/*
 * Load the config at YAML_PATH and its object, choose alternatives, load and
 * attach. Returns 0, or a negative errno with err set to one line naming the
 * file and the problem. A program that fails to attach is not an error
 * unless opts->strict.
 */
int bb_engine_open(const char *yaml_path, const struct bb_options *opts, struct bb_engine **out,
		   char *err, size_t errlen);

/*
 * The same, as a replacement for RUNNING (a reload of the same config; may be
 * NULL). When the .bpf.o is unchanged, the maps RUNNING reads are shared with
 * the new engine (counts and bucket history carry on) and RUNNING's programs
 * are detached just before the new ones attach. On failure RUNNING is left as
 * it was, attached and readable; on success the caller closes RUNNING.
 */
int bb_engine_reopen(const char *yaml_path, const struct bb_options *opts,
		     struct bb_engine *running, struct bb_engine **out, char *err, size_t errlen);

/*
 * ENG replaces OLD: series whose labels did not change keep their series ids
 * (so SNMP indexes and collectd identifiers survive a reload), and so do the
 * engine's own self-metric series when the programs and metrics are the same.
 * Call before ENG's first read, with OLD not being read meanwhile (the caller
 * holds the lock its reads take). Returns 0 or -ENOMEM (new ids then).
 */
int bb_engine_inherit(struct bb_engine *eng, const struct bb_engine *old);

/* How many maps the engine shares with the engine it replaced (0: a fresh start). */
size_t bb_engine_maps_kept(const struct bb_engine *eng);

/* Detach, unload and free. Safe with NULL. */
void bb_engine_close(struct bb_engine *eng);

const struct bb_config *bb_engine_config(const struct bb_engine *eng);
const char *bb_engine_name(const struct bb_engine *eng);
size_t bb_engine_n_programs(const struct bb_engine *eng);
const struct bb_program_status *bb_engine_program(const struct bb_engine *eng, size_t i);

/*
 * Read every metric map once and append this config's families, plus its
 * self-metrics, to SNAP. One engine must not be read from two threads at once;
 * different engines may be. Returns 0 or a negative errno (SNAP then holds
 * whatever was read; the failure is also counted as a self-metric).
 */
int bb_engine_read(struct bb_engine *eng, struct bb_snapshot *snap);

/* Approximate heap bytes the engine holds for its series (stores, read buffers). */
size_t bb_engine_memory(const struct bb_engine *eng);

/* Convenience: a new snapshot holding one read of each engine, finished. */
struct bb_snapshot *bb_engines_snapshot(struct bb_engine *const *engines, size_t n);

#endif
