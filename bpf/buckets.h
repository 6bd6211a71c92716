/* SPDX-License-Identifier: MIT */
/*
 * Histogram bucket keys, as core/hist.h reads them. Pure arithmetic, so the
 * same code runs in BPF programs (through maps.bpf.h) and in the host test
 * (test_buckets.c). The includer provides __u64 (vmlinux.h or <linux/types.h>).
 *
 *   exp2:      key i holds 2^(i-1) < v <= 2^i; v = 0 and v = 1 are key 0
 *   exp2zero:  key 0 holds v == 0; key i >= 1 holds 2^(i-2) < v <= 2^(i-1)
 *   linear:    key i holds v == i
 *
 * The exp2 key is the *ceiling* of log2(v): a bucket's `le` bound is an upper
 * bound of every value counted in it. Flooring log2 (as ebpf_exporter's
 * examples did, issue #488) puts v = 3 under le = 2.
 */
#ifndef BPFBRIDGE_BUCKETS_H
#define BPFBRIDGE_BUCKETS_H

/* floor(log2(v)) for v >= 1, loop-free so the BPF verifier sees straight-line code. */
static inline __u64 bb_log2_floor(__u64 v)
{
	__u64 r = 0;

	if (v >> 32) {
		v >>= 32;
		r += 32;
	}
	if (v >> 16) {
		v >>= 16;
		r += 16;
	}
	if (v >> 8) {
		v >>= 8;
		r += 8;
	}
	if (v >> 4) {
		v >>= 4;
		r += 4;
	}
	if (v >> 2) {
		v >>= 2;
		r += 2;
	}
	if (v >> 1)
		r += 1;
	return r;
}

/* Smallest i with v <= 2^i; 0 for v <= 1. */
static inline __u64 bb_exp2_key(__u64 v)
{
	if (v <= 1)
		return 0;
	return bb_log2_floor(v - 1) + 1;
}

/* Key 0 is reserved for v == 0; the exp2 keys move up by one. */
static inline __u64 bb_exp2zero_key(__u64 v)
{
	if (v == 0)
		return 0;
	return bb_exp2_key(v) + 1;
}

static inline __u64 bb_linear_key(__u64 v)
{
	return v;
}

/* Values beyond the last finite bucket are counted in it (documented in docs/programs.md). */
static inline __u64 bb_clamp_key(__u64 key, __u64 bucket_max)
{
	return key < bucket_max ? key : bucket_max;
}

#endif
