/* SPDX-License-Identifier: MIT */
/*
 * The config model: an ebpf_exporter YAML file (NAME.yaml next to NAME.bpf.o)
 * plus bpfbridge's additions (hooks with alternatives, max_series).
 * Parsing is all-or-nothing: on error nothing is returned but the message.
 */
#ifndef BPFBRIDGE_CONFIG_H
#define BPFBRIDGE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define BB_ERRMSG_MAX 512

/* Where a node came from: 1-based line and column, as editors count. */
struct bb_pos {
	int line;
	int column;
};

/* Configs define counters and histograms; gauges exist only for self-metrics. */
enum bb_metric_kind { BB_METRIC_COUNTER = 0, BB_METRIC_HISTOGRAM, BB_METRIC_GAUGE };

enum bb_bucket_type {
	BB_BUCKET_EXP2 = 0,
	BB_BUCKET_EXP2ZERO,
	BB_BUCKET_LINEAR,
	BB_BUCKET_FIXED,
};

struct bb_static_entry {
	char *key;
	char *value;
};

struct bb_decoder_conf {
	char *name; /* validated against bb_decoder_known() at parse time */
	struct bb_pos pos;
	/* static_map */
	struct bb_static_entry *static_map;
	size_t n_static_map;
	bool allow_unknown;
	/* regexp */
	char **regexps;
	size_t n_regexps;
	/* Filled by bb_decoder_prepare() (decode.h): compiled state, freed with the config. */
	void *priv;
};

struct bb_label_conf {
	char *name;
	struct bb_pos pos;
	uint32_t size;	  /* bytes of the map key this label takes */
	uint32_t padding; /* bytes skipped after it */
	struct bb_decoder_conf *decoders;
	size_t n_decoders;
};

struct bb_metric_conf {
	enum bb_metric_kind kind;
	char *name;
	char *help;
	struct bb_pos pos;
	struct bb_label_conf *labels;
	size_t n_labels;
	uint32_t key_size; /* sum of label sizes + paddings */
	/* 0 = use the runtime default (bb_options.max_series_per_metric) */
	uint32_t max_series;
	/* counters only: events from a perf_event_array map, each one an increment */
	bool perf_event_array;
	uint64_t flush_interval_ns; /* 0 = ebpf_exporter's default, one hour */
	/* histograms only */
	enum bb_bucket_type bucket_type;
	int64_t bucket_min;
	int64_t bucket_max;
	double bucket_multiplier; /* 1.0 when absent */
	double *bucket_keys;	  /* fixed only */
	size_t n_bucket_keys;
	/* bpfbridge's extension (not ebpf_exporter's): the map is an array with
	 * u32 keys, slot = series label * (bucket_max + 2) + bucket key, the last
	 * slot of each series being its sum; the labels describe the key the
	 * reader rebuilds from the slot number (docs/config.md) */
	bool flat_index;
};

/* One alternative: a set of BPF program names (function names in the object)
 * that are loaded together, e.g. {fentry_vfs_read, fexit_vfs_read}. */
struct bb_alternative {
	char **programs;
	size_t n_programs;
	struct bb_pos pos;
};

/* A hook names an ordered list of alternatives; the loader loads the first
 * whose targets all exist and disables the programs of every other one. */
struct bb_hook_conf {
	char *name;
	struct bb_pos pos;
	struct bb_alternative *alternatives;
	size_t n_alternatives;
};

/* ebpf_exporter's cgroup_id_map: a BPF map the loader keeps filled with the
 * cgroups whose path matches one of the regexps (core/cgroups.h). */
enum bb_cgroup_map_type {
	BB_CGROUP_MAP_HASH = 0,	    /* key: u64 cgroup id, value: u64 1 */
	BB_CGROUP_MAP_CGRP_STORAGE, /* BPF_MAP_TYPE_CGRP_STORAGE, value: u64 1 */
};

struct bb_cgroup_id_map_conf {
	char *name; /* the map in the object */
	enum bb_cgroup_map_type type;
	char **regexps; /* POSIX extended, matched against paths like "/system.slice/x.service" */
	size_t n_regexps;
	struct bb_pos pos; /* of the cgroup_id_map key, for messages */
};

struct bb_config {
	char *name;	   /* NAME, from the file name (ebpf_exporter's "name" key is ignored) */
	char *yaml_path;   /* .../NAME.yaml */
	char *object_path; /* .../NAME.bpf.o */
	struct bb_metric_conf *metrics; /* counters first, then histograms, in file order */
	size_t n_metrics;
	char **kaddrs;
	size_t n_kaddrs;
	struct bb_hook_conf *hooks;
	size_t n_hooks;
	struct bb_cgroup_id_map_conf *cgroup_id_map; /* NULL when the config has none */
};

/*
 * Parse PATH (a NAME.yaml). On success returns 0 and *out. On failure returns
 * -errno-ish (-EINVAL for a bad document, -errno for I/O) and writes one line to
 * err: "PATH:LINE:COLUMN: KEY: what was expected". Nothing is allocated on failure.
 */
int bb_config_load(const char *path, struct bb_config **out, char *err, size_t errlen);

/* Same, from a buffer; PATH is only used for messages and for name/object_path. */
int bb_config_parse(const char *path, const char *buf, size_t len, struct bb_config **out,
		    char *err, size_t errlen);

/* Resolve "NAME" or "NAME.yaml" or a path against DIR into DIR/NAME.yaml. Caller frees. */
char *bb_config_path(const char *dir, const char *name);

void bb_config_free(struct bb_config *cfg);

const char *bb_bucket_type_name(enum bb_bucket_type t);
const char *bb_metric_kind_name(enum bb_metric_kind k);
const char *bb_cgroup_map_type_name(enum bb_cgroup_map_type t);

#endif
