// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only object for tests/integration/test_store.py: counts the marker
 * syscall (ioprio_get, nr 252) by the caller's cgroup v2 id, twice: once for
 * a metric without a series limit and once for one limited to two series.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "maps.bpf.h" /* bb_counter_inc */

#define MARKER_NR 252

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u64);
	__type(value, u64);
} cgroup_marker_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u64);
	__type(value, u64);
} cgroup_limited_total SEC(".maps");

SEC("raw_tp/sys_enter")
int raw_tp_cgroup_marker(struct bpf_raw_tracepoint_args *ctx)
{
	u64 id;

	if ((u32)ctx->args[1] != MARKER_NR)
		return 0;
	id = bpf_get_current_cgroup_id();
	bb_counter_inc(&cgroup_marker_total, &id);
	bb_counter_inc(&cgroup_limited_total, &id);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
