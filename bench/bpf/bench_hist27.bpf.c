// SPDX-License-Identifier: GPL-2.0-only
/*
 * Bench only: a histogram map with 27 finite buckets, every bucket and the sum
 * filled from userspace by bbbench, for the read-cost benchmark.
 * BENCH_ENTRIES sizes the map (series x 28 keys).
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>

#include "bench.h"

#ifndef BENCH_ENTRIES
#define BENCH_ENTRIES 28000
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BENCH_ENTRIES);
	__type(key, struct bench_hist_key);
	__type(value, __u64);
} bench_hist27_seconds SEC(".maps");

char LICENSE[] SEC("license") = "GPL";
