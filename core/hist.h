/* SPDX-License-Identifier: MIT */
/*
 * Histogram assembly: raw (bucket key -> count) rows of one series become
 * complete cumulative buckets with `le` bounds, count and sum.
 *
 * Bucket key semantics (what the BPF side must write, see bpf/maps.bpf.h):
 *   exp2:      key i holds values v with 2^(i-1) < v <= 2^i   (le = 2^i)
 *   exp2zero:  key 0 holds v == 0 (le = 0); key i >= 1 holds le = 2^(i-1)
 *   linear:    key i holds le = i
 *   fixed:     key is the bucket_keys value itself (le = that value)
 * For exp2, exp2zero and linear the sum lives at key bucket_max + 1.
 * Every bound is scaled by bucket_multiplier.
 */
#ifndef BPFBRIDGE_HIST_H
#define BPFBRIDGE_HIST_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "snapshot.h"

struct bb_hist_row {
	uint64_t key; /* decoded bucket label (uint) */
	uint64_t value;
};

/* Compute the finite bounds of metric M. Caller frees *le and *le_raw. */
int bb_hist_bounds(const struct bb_metric_conf *m, double **le, int64_t **le_raw, size_t *n);

/*
 * Fill S (a series of a family whose buckets were set from bb_hist_bounds)
 * from ROWS. Rows may be missing or in any order. Keys below bucket_min count
 * in the first bucket; keys above the sum key count only in +Inf. Returns the
 * number of rows whose key made no sense (e.g. fixed key not in bucket_keys):
 * those are counted in +Inf and reported, never silently dropped.
 */
size_t bb_hist_fill(const struct bb_metric_conf *m, const struct bb_family *fam,
		    const struct bb_hist_row *rows, size_t n_rows, struct bb_series *s);

#endif
