// SPDX-License-Identifier: GPL-2.0-only
/*
 * Bench only: one counter map, filled from userspace by bbbench, so the read
 * path can be timed at a chosen size. BENCH_ENTRIES sizes the map exactly:
 * hash maps walk every bucket, so an oversized map would time empty buckets.
 * BENCH_PERCPU makes it a per-CPU hash like bpf/syscalls.bpf.c's.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>

#include "bench.h"

#ifndef BENCH_ENTRIES
#define BENCH_ENTRIES 1000
#endif

struct {
#ifdef BENCH_PERCPU
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
#else
	__uint(type, BPF_MAP_TYPE_HASH);
#endif
	__uint(max_entries, BENCH_ENTRIES);
	__type(key, struct bench_series_key);
	__type(value, __u64);
} bench_series_total SEC(".maps");

char LICENSE[] SEC("license") = "GPL";
