// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only object for tests/integration/test_engine.py: counts the marker
 * syscall (ioprio_get, nr 252) and carries programs that are meant to fail,
 * so the loader's fallbacks can be exercised on any kernel with raw_tp.
 * Built at test time: clang -target bpf -I $BB_BUILD_DIR/bpf.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "maps.bpf.h" /* bb_counter_inc */

#define MARKER_NR 252

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, u64);
} marker_calls_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, u64);
} marker_percpu_total SEC(".maps");

struct pair {
	u64 a, b;
};

/* 16-byte values: no metric may read this map */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, struct pair);
} bad_value_total SEC(".maps");

/* kaddrs: the loader writes /proc/kallsyms' address of `schedule` here when
 * the config lists it; the marker copies it into kaddr_value_total. */
const volatile u64 kaddr_schedule = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} kaddr_value_total SEC(".maps");

/* One series per key: for the cardinality limit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, u64);
} many_series_total SEC(".maps");

/* The verifier rejects this (a map value used without a NULL check), so the
 * loader has to fall back to raw_tp_marker after a failed load. */
SEC("tp_btf/sys_enter")
int tp_btf_broken(u64 *ctx)
{
	u32 key = 0;
	u64 *v = bpf_map_lookup_elem(&marker_calls_total, &key);

	return (int)*v;
}

SEC("raw_tp/sys_enter")
int raw_tp_marker(struct bpf_raw_tracepoint_args *ctx)
{
	u32 nr = (u32)ctx->args[1];

	if (nr != MARKER_NR)
		return 0;
	bb_counter_inc(&marker_calls_total, &nr);
	bb_counter_inc(&marker_percpu_total, &nr);
	for (u32 i = 0; i < 20; i++)
		bb_counter_inc(&many_series_total, &i);
	{
		u32 zero = 0;
		u64 addr = kaddr_schedule;

		bpf_map_update_elem(&kaddr_value_total, &zero, &addr, BPF_ANY);
	}
	return 0;
}

/* In no hook, and broken: reported as failed while its siblings run. */
SEC("raw_tp/sys_exit")
int unhooked_broken(struct bpf_raw_tracepoint_args *ctx)
{
	u32 key = 1;
	u64 *v = bpf_map_lookup_elem(&bad_value_total, &key);

	return (int)*v;
}

/* Targets that exist on no kernel. */
SEC("tracepoint/bbtest_no_such_category/bbtest_no_such_event")
int tp_missing(void *ctx)
{
	return 0;
}

SEC("fentry/bbtest_no_such_function")
int fentry_missing(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
