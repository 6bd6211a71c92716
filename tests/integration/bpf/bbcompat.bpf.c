// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only object: ebpf_exporter conventions that bpfbridge honours. Each map
 * counts the marker syscall (ioprio_get, nr 252) its own way:
 *   nolabel_total           array, key 0 per call, key 1 never read (+1000)
 *   cpu_only_total          per-CPU array with one entry (only a cpu label)
 *   comm_total              hash keyed by the caller's comm (regexp folding)
 *   perf_marker_total       perf_event_array, one event per call
 *   post_attach_calls_total  counted by the post_attach_mark uprobe
 * See tests/integration/test_compat.py.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define MARKER_NR 252

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, u64);
} nolabel_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} cpu_only_total SEC(".maps");

struct comm_key {
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct comm_key);
	__type(value, u64);
} comm_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} perf_marker_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} post_attach_calls_total SEC(".maps");

static void add(void *map, u32 key, u64 n)
{
	u64 *v = bpf_map_lookup_elem(map, &key);

	if (v)
		__sync_fetch_and_add(v, n);
}

SEC("raw_tp/sys_enter")
int compat_marker(struct bpf_raw_tracepoint_args *ctx)
{
	struct comm_key ck = {};
	u32 nr = MARKER_NR;
	u64 one = 1, *v;

	if (ctx->args[1] != MARKER_NR)
		return 0;
	add(&nolabel_total, 0, 1);
	add(&nolabel_total, 1, 1000); /* a reader that summed every key would show it */
	add(&cpu_only_total, 0, 1);
	bpf_get_current_comm(&ck.comm, sizeof(ck.comm));
	v = bpf_map_lookup_elem(&comm_total, &ck);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&comm_total, &ck, &one, BPF_NOEXIST);
	bpf_perf_event_output(ctx, &perf_marker_total, BPF_F_CURRENT_CPU, &nr, sizeof(nr));
	return 0;
}

SEC("uprobe//proc/self/exe:post_attach_mark")
int compat_init(void *ctx)
{
	add(&post_attach_calls_total, 0, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
