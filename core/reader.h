/* SPDX-License-Identifier: MIT */
/*
 * The reader: one pass over each metric map -> families in a snapshot.
 *
 * Per metric it reads every (key, value) of the map that has the metric's
 * name (batched where the kernel can, get_next_key otherwise), sums per-CPU
 * values (or keeps them apart under a `cpu` label, see below) and hands each
 * row to the metric's series store (store.h), which decodes, admits, keeps and
 * emits the series.
 *
 * The `cpu` label: in a per-CPU map whose metric's last non-bucket label is
 * named `cpu`, that label takes no bytes of the key (per-CPU maps keep one
 * value per CPU, not one key per CPU): its value is the CPU number and its
 * size, padding and decoders are ignored.
 *
 * Zero key bytes: a metric whose labels take none (a counter without labels,
 * or a per-CPU map whose only label is `cpu`) is read from u32 key 0 only,
 * as ebpf_exporter does; other keys of the map are ignored.
 */
#ifndef BPFBRIDGE_READER_H
#define BPFBRIDGE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpfbridge.h"
#include "config.h"
#include "decode.h"
#include "snapshot.h"
#include "store.h"

struct bb_reader;

/* What the reader needs to know about a map; from libbpf or the kernel. */
struct bb_map_desc {
	const char *name;
	uint32_t type; /* enum bpf_map_type */
	uint32_t key_size;
	uint32_t value_size;
	uint32_t max_entries;
};

/*
 * Check that MAP can back metric M of CFG. On mismatch returns -EINVAL and
 * writes "PATH:LINE:COLUMN: metric NAME: ..." naming both sizes.
 */
int bb_reader_check_map(const struct bb_config *cfg, const struct bb_metric_conf *m,
			const struct bb_map_desc *map, char *err, size_t errlen);

/* A reader for every metric of CFG. DCTX is borrowed. */
struct bb_reader *bb_reader_new(const struct bb_config *cfg, const struct bb_options *opts,
				struct bb_decode_ctx *dctx);
void bb_reader_free(struct bb_reader *rd);

/*
 * Bind metric I to the map open at MAP_FD (borrowed; it must stay open while
 * bound). Validates it like bb_reader_check_map(). Unbound metrics read as
 * empty families.
 */
int bb_reader_bind(struct bb_reader *rd, size_t i, int map_fd, char *err, size_t errlen);

struct bb_read_result {
	size_t series;	    /* series added to SNAP */
	size_t read_errors; /* maps that could not be read */
	int first_error;    /* negative errno of the first failure, or 0 */
};

/* Iterate keys one by one instead of batch lookups (tests; kernels whose
 * batch lookups misbehave). Without this the reader falls back by itself when
 * the kernel rejects batch lookups. */
void bb_reader_disable_batch(struct bb_reader *rd);

/* One pass over every metric; appends one family per metric to SNAP. */
int bb_reader_read(struct bb_reader *rd, struct bb_snapshot *snap, struct bb_read_result *res);

/*
 * RD replaces OLD (a config reloaded): each metric of RD that OLD has too,
 * with the same name, kind and label names, keeps the series ids of its
 * unchanged label sets (bb_store_inherit). Call before RD's first read, on
 * the thread that reads OLD. Returns 0 or -ENOMEM (new ids then).
 */
int bb_reader_inherit(struct bb_reader *rd, const struct bb_reader *old);

size_t bb_reader_n_metrics(const struct bb_reader *rd);
const struct bb_metric_stats *bb_reader_stats(const struct bb_reader *rd, size_t i);

/* Bytes of the whole pages of the metrics' read buffers that are resident
 * (mincore; keys and values of a pass, not a flat_index key table): 0
 * between reads with bb_options.release_read_buffers. */
size_t bb_reader_buffers_resident(const struct bb_reader *rd);

/* Approximate heap bytes held for the metrics' series (stores and read buffers). */
size_t bb_reader_memory(const struct bb_reader *rd);

#endif
