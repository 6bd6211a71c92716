/* SPDX-License-Identifier: MIT */
/*
 * The series store: per metric, state that lives across reads.
 *
 * The reader hands it every (raw key, value) row of one pass over a map. The
 * store maps each raw key to a series with one hash probe, decoding labels
 * only the first time a key is seen (and again, within a budget, while a
 * decoder's answer is provisional), and updates the series' values in place.
 * A histogram row's bucket index comes from its bucket label value through a
 * second table as small as the number of distinct bucket values, so nothing
 * is kept per (series, bucket) key. It keeps each series' values of the previous read, so a
 * read can offer the interval's deltas and quantiles, and it retires series
 * whose keys have left the map. Then it writes the seen series, in id order,
 * into a snapshot family, sharing its interned label sets.
 *
 * Keys: the series-key table is keyed by the raw key with padding and the
 * bucket label masked out, and points to the series (or to one per CPU for a
 * `cpu` label). Several series keys may decode to the same labels: they then
 * feed one series. A histogram row whose bucket value a decoder filters, that
 * cannot be decoded or that matches no bucket is counted (filtered or
 * decode_errors) on each read it is in the map.
 *
 * Admission is sticky: the first max_series label sets are admitted and stay
 * admitted while they are in the map; a later one is dropped (and counted on
 * every read it is in the map) at the cost of one probe. An array-map slot
 * that has never been non-zero is not a series.
 *
 * In steady state (no new keys) a read allocates nothing per series.
 */
#ifndef BPFBRIDGE_STORE_H
#define BPFBRIDGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "decode.h"
#include "snapshot.h"

/* Cumulative per-metric counters, for the self-metrics. */
struct bb_metric_stats {
	uint64_t series_dropped; /* cardinality limit: dropped label sets, once per read */
	uint64_t decode_errors;
	uint64_t filtered; /* keys a decoder (regexp, static_map) dropped on purpose, per read */
	uint64_t series_retired;   /* series not in the map for retire_after reads, or relabelled */
	uint64_t labels_truncated; /* label values cut to the length limit (hash suffix kept) */
	uint64_t relabelled;	   /* provisional labels that resolved */
	uint64_t series_last;	   /* series in the last read */
	uint64_t series_live;	   /* series the store holds */
	uint64_t keys_live;	   /* series keys it knows (map keys without the bucket label) */
};

/* How the metric's labels sit in its map's keys; fixed when the map is bound. */
struct bb_store_layout {
	uint32_t key_size;
	const uint32_t *offsets; /* byte offset of each label; UINT32_MAX for the cpu label */
	int cpu_label;		 /* index of the virtual cpu label, or -1 */
	int ncpus;
	bool array; /* an array map: slots that have never been non-zero are not series */
};

struct bb_store_params {
	const char *config_name; /* for log lines */
	uint32_t max_series;
	uint32_t retire_after; /* reads */
	const double *quantiles;
	size_t n_quantiles;
	struct bb_bounds *bounds; /* histograms: shared, the store takes a reference */
	uint32_t keep_blocks;	  /* snapshot memory kept for reuse: 1 or 2 (0 = 2), or
				 BB_SNAPSHOT_BLOCKS_NONE */
};

struct bb_store;

/* A store for metric M; DCTX is borrowed. NULL on ENOMEM. */
struct bb_store *bb_store_new(const struct bb_metric_conf *m, const struct bb_store_params *p,
			      struct bb_decode_ctx *dctx);
void bb_store_free(struct bb_store *st);

/* (Re)bind to a map with LAYOUT (copied): every key and series is forgotten. */
int bb_store_bind(struct bb_store *st, const struct bb_store_layout *layout);

/* Start a read: retry provisional labels within the budget. */
void bb_store_begin(struct bb_store *st);

/*
 * One map entry: KEY (layout.key_size bytes) and its value, VALS[0..nvals)
 * (one per CPU for per-CPU maps). Returns 0, or -ENOMEM (the row is lost and
 * the read reported incomplete).
 */
int bb_store_add(struct bb_store *st, const uint8_t *key, const uint64_t *vals, size_t nvals);

/* bb_store_add() for N entries: KEYS back to back, NVALS values each. Faster
 * (it prefetches ahead); stops at the first error. */
int bb_store_add_many(struct bb_store *st, const uint8_t *keys, const uint64_t *vals, size_t n,
		      size_t nvals);

/*
 * End the read: retire what has left the map, then append every series seen
 * in this read to FAM (created by the caller with the metric's labels; for
 * histograms the store shares its bounds and quantiles with it). Returns the
 * number of series written, or -ENOMEM.
 */
long bb_store_end(struct bb_store *st, struct bb_family *fam);

/*
 * ST replaces OLD (the same metric, reopened: a config reloaded). Each label
 * set OLD holds keeps its series id in ST if ST sees it within OLD's
 * retire_after reads; a label set that changed gets a new id, as does one
 * that comes back later. Call before ST's first read; OLD may be freed right
 * after. Returns 0 or -ENOMEM (ST then gives new ids, as without a call).
 */
int bb_store_inherit(struct bb_store *st, const struct bb_store *old);

const struct bb_metric_stats *bb_store_stats(const struct bb_store *st);

/* Approximate heap bytes the store holds (tables, values, label sets). */
size_t bb_store_memory(const struct bb_store *st);

#endif
