// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only object: counts the marker syscall (ioprio_get, nr 252) from the
 * classic tracepoint raw_syscalls/sys_enter, the one attach type that needs
 * tracefs. See tests/integration/test_engine.py.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define MARKER_NR 252

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} tp_marker_calls_total SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int tracepoint_marker(struct trace_event_raw_sys_enter *ctx)
{
	u32 zero = 0;
	u64 *v;

	if (ctx->id != MARKER_NR)
		return 0;
	v = bpf_map_lookup_elem(&tp_marker_calls_total, &zero);
	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
