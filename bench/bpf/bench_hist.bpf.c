// SPDX-License-Identifier: GPL-2.0-only
/*
 * Bench only: one histogram map, filled from userspace by bbbench, for the
 * SNMP bucket-table walk. BENCH_ENTRIES sizes the map (series x keys each).
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>

#include "bench.h"

#ifndef BENCH_ENTRIES
#define BENCH_ENTRIES 1000
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BENCH_ENTRIES);
	__type(key, struct bench_hist_key);
	__type(value, __u64);
} bench_latency_seconds SEC(".maps");

char LICENSE[] SEC("license") = "GPL";
