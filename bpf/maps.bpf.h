/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Map updates for the metrics bpfbridge reads: u64 counters, and histograms
 * whose bucket keys follow core/hist.h (see buckets.h).
 */
#ifndef BPFBRIDGE_MAPS_BPF_H
#define BPFBRIDGE_MAPS_BPF_H

#include <bpf/bpf_helpers.h>

#include "buckets.h"

/*
 * Add DELTA to the u64 at KEY in MAP (a hash or per-CPU hash), creating the
 * entry at zero first. Returns -1 only when the map is full; each program
 * sizes its maps for the cardinality it can produce (docs/programs.md).
 */
static __always_inline int bb_map_add(void *map, const void *key, __u64 delta)
{
	__u64 zero = 0;
	__u64 *value;

	value = bpf_map_lookup_elem(map, key);
	if (!value) {
		/* Another CPU may insert the key in between: BPF_NOEXIST then
		 * fails harmlessly and the second lookup finds its entry. */
		bpf_map_update_elem(map, key, &zero, BPF_NOEXIST);
		value = bpf_map_lookup_elem(map, key);
		if (!value)
			return -1;
	}
	/* Atomic even in per-CPU maps: a tracepoint may interrupt another. */
	__sync_fetch_and_add(value, delta);
	return 0;
}

static __always_inline int bb_counter_inc(void *map, const void *key)
{
	return bb_map_add(map, key, 1);
}

/*
 * One histogram observation. KEY is the program's key struct, fully
 * initialised, padding included; BUCKET points at its last member, the
 * __u64 bucket index. Adds 1 at the bucket (clamped to BUCKET_MAX) and
 * VALUE at BUCKET_MAX + 1, where the reader takes the sum from.
 */
static __always_inline void bb_hist_add(void *map, void *key, __u64 *bucket, __u64 index,
					__u64 bucket_max, __u64 value)
{
	*bucket = bb_clamp_key(index, bucket_max);
	bb_map_add(map, key, 1);
	*bucket = bucket_max + 1;
	bb_map_add(map, key, value);
}

static __always_inline void bb_hist_exp2(void *map, void *key, __u64 *bucket, __u64 bucket_max,
					 __u64 value)
{
	bb_hist_add(map, key, bucket, bb_exp2_key(value), bucket_max, value);
}

/*
 * One observation in a histogram without labels kept in a per-CPU array of
 * BUCKET_MAX + 2 slots, indexed by a u32 bucket: buckets 0..BUCKET_MAX, then
 * the sum. Array lookups need no hashing and are inlined by the verifier,
 * and every slot exists, so nothing is inserted. Atomic adds: an interrupt
 * may run a program writing the same slot meanwhile (kmalloc() in an IRQ).
 */
static __always_inline void bb_hist_array_add(void *map, __u32 index, __u32 bucket_max, __u64 value)
{
	__u32 slot = (__u32)bb_clamp_key(index, bucket_max);
	__u64 *v = bpf_map_lookup_elem(map, &slot);

	if (v)
		__sync_fetch_and_add(v, 1);
	slot = bucket_max + 1;
	v = bpf_map_lookup_elem(map, &slot);
	if (v)
		__sync_fetch_and_add(v, value);
}

static __always_inline void bb_hist_array_exp2(void *map, __u32 bucket_max, __u64 value)
{
	bb_hist_array_add(map, (__u32)bb_exp2_key(value), bucket_max, value);
}

/*
 * One observation in a flat-index histogram (flat_index: true in the YAML,
 * docs/config.md): a per-CPU array of BUCKET_MAX + 2 slots per LABEL value,
 * the bucket's slot then the sum's. LABEL must be below the map's
 * max_entries / (BUCKET_MAX + 2). Plain adds: only for programs that never
 * interrupt one another on a CPU (syscall exits, softirq entry and exit).
 */
static __always_inline void bb_hist_flat_exp2(void *map, __u32 label, __u32 bucket_max, __u64 value)
{
	__u32 base = label * (bucket_max + 2);
	__u32 slot = base + (__u32)bb_clamp_key(bb_exp2_key(value), bucket_max);
	__u64 *v = bpf_map_lookup_elem(map, &slot);

	if (v)
		(*v)++;
	slot = base + bucket_max + 1;
	v = bpf_map_lookup_elem(map, &slot);
	if (v)
		*v += value;
}

static __always_inline void bb_hist_exp2zero(void *map, void *key, __u64 *bucket, __u64 bucket_max,
					     __u64 value)
{
	bb_hist_add(map, key, bucket, bb_exp2zero_key(value), bucket_max, value);
}

static __always_inline void bb_hist_linear(void *map, void *key, __u64 *bucket, __u64 bucket_max,
					   __u64 value)
{
	bb_hist_add(map, key, bucket, bb_linear_key(value), bucket_max, value);
}

#endif
