/* SPDX-License-Identifier: MIT */
/*
 * Histogram assembly: raw (bucket key -> count) rows of one series become
 * complete cumulative buckets with `le` bounds, count and sum.
 *
 * Bucket key semantics (what the BPF side must write, see bpf/maps.bpf.h and
 * bb_hist_key_for_value() below; this fixes ebpf_exporter issue #488, where
 * BPF code floored log2 and so counted 2^i+1 .. 2^(i+1)-1 under le = 2^i):
 *   exp2:      key i holds values v with 2^(i-1) < v <= 2^i   (le = 2^i)
 *              (v = 0 and v = 1 both go to key 0)
 *   exp2zero:  key 0 holds v == 0 (le = 0); key i >= 1 holds
 *              2^(i-2) < v <= 2^(i-1)                          (le = 2^(i-1))
 *   linear:    key i holds le = i (for integer values: key = v)
 *   fixed:     key is the bucket_keys value itself (le = that value); the BPF
 *              side writes the smallest bucket_keys entry >= v
 * The BPF side clamps keys to bucket_max (fixed: to the last bucket_keys
 * entry), so the last finite bucket may also hold values above its bound.
 *
 * Where the sum lives:
 *   exp2, exp2zero, linear: key bucket_max + 1
 *   fixed:                  key bucket_keys[last] + 1
 * The fixed case matches ebpf_exporter (exporter/histogram.go reads the sum of
 * a fixed histogram from the last bucket key + 1). bucket_keys must be
 * strictly ascending non-negative integers, so that key never collides with a
 * bucket. bucket_min and bucket_max are ignored for fixed histograms.
 *
 * Every bound and the sum are scaled by bucket_multiplier (0 means 1.0,
 * as in ebpf_exporter): le = bound * multiplier, sum = sum_raw * multiplier.
 *
 * Counts saturate at UINT64_MAX instead of wrapping, so cumulative buckets stay
 * monotonic even on absurd input.
 */
#ifndef BPFBRIDGE_HIST_H
#define BPFBRIDGE_HIST_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "snapshot.h"

/* Most finite buckets one histogram may have (linear histograms can ask for many). */
#define BB_HIST_MAX_BUCKETS 4096

struct bb_hist_row {
	uint64_t key; /* decoded bucket label (uint) */
	uint64_t value;
};

/*
 * The bucket key a BPF program must write for VALUE, before clamping to
 * bucket_max. exp2: ceil(log2(v)), with 0 and 1 -> 0. exp2zero: 0 -> 0, else
 * ceil(log2(v)) + 1. linear: v. fixed: v unchanged -- the program must round
 * up to the smallest bucket_keys entry >= v, which needs the key list.
 */
static inline uint64_t bb_hist_key_for_value(enum bb_bucket_type type, uint64_t value)
{
	uint64_t log2_ceil = value <= 1 ? 0 : 64 - (uint64_t)__builtin_clzll(value - 1);

	switch (type) {
	case BB_BUCKET_EXP2:
		return log2_ceil;
	case BB_BUCKET_EXP2ZERO:
		return value == 0 ? 0 : log2_ceil + 1;
	case BB_BUCKET_LINEAR:
	case BB_BUCKET_FIXED:
	default:
		return value;
	}
}

/*
 * Compute the finite bounds of histogram M: *n ascending bounds, *le scaled by
 * the multiplier, *le_raw in the program's units (2^i, i, or the fixed key).
 * Caller frees *le and *le_raw. Returns 0, or a negative errno after logging
 * why: -EINVAL (not a histogram, bucket_max < bucket_min, negative bucket_min,
 * bad multiplier, fixed keys empty / not ascending non-negative integers),
 * -ERANGE (a bound does not fit: exp2 bucket_max > 62, exp2zero > 63, or a
 * scaled bound is not finite), -E2BIG (more than BB_HIST_MAX_BUCKETS),
 * -ENOMEM.
 */
int bb_hist_bounds(const struct bb_metric_conf *m, double **le, int64_t **le_raw, size_t *n);

/* The key holding the sum: bucket_max + 1, or bucket_keys[last] + 1 for fixed. */
uint64_t bb_hist_sum_key(const struct bb_metric_conf *m);

/*
 * Fill S (a series of a family whose buckets were set from bb_hist_bounds)
 * from ROWS. Rows may be missing or in any order. Keys below bucket_min count
 * in the first bucket; keys above the sum key count only in +Inf. Returns the
 * number of rows whose key made no sense (e.g. fixed key not in bucket_keys):
 * those are counted in +Inf and reported, never silently dropped.
 *
 * S's buckets, count, sum_raw and sum are overwritten, not added to. Rows with
 * the same key add up (e.g. per-CPU rows not yet summed).
 */
size_t bb_hist_fill(const struct bb_metric_conf *m, const struct bb_family *fam,
		    const struct bb_hist_row *rows, size_t n_rows, struct bb_series *s);

/* Where a bucket key's count goes, see bb_hist_row_index(). */
#define BB_HIST_ROW_SUM (-2)

/*
 * The index of raw bucket KEY of histogram M among its N finite bounds LE_RAW
 * (from bb_hist_bounds): 0..N-1 a finite bucket (keys below bucket_min count
 * in the first), N for +Inf only (a key that makes no sense: above the sum key,
 * or a fixed key not in bucket_keys; the caller counts it as a decode error),
 * or BB_HIST_ROW_SUM for the key holding the sum.
 */
int64_t bb_hist_row_index(const struct bb_metric_conf *m, const int64_t *le_raw, size_t n,
			  uint64_t key);

/*
 * Prometheus' histogram_quantile(Q, ...) over one histogram: CUM holds the
 * cumulative counts of the N finite bounds LE (ascending), TOTAL the +Inf
 * bucket. Same rules as Prometheus (promql/quantile.go, bucketQuantile): NaN
 * for a NaN Q, no finite bound or TOTAL 0; -Inf / +Inf for Q < 0 / Q > 1; the
 * highest finite bound when the rank falls in +Inf; the first bound when it
 * falls in the first bucket and that bound is <= 0; otherwise linear
 * interpolation inside the bucket, from 0 for the first one.
 */
double bb_hist_quantile(double q, const double *le, const uint64_t *cum, size_t n, uint64_t total);

#endif
