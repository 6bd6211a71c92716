// SPDX-License-Identifier: GPL-2.0-only
/*
 * Bench only: the part of any syscall latency program that no map design
 * removes. One bpf_ktime_get_ns() on sys_enter and one on sys_exit, each
 * stored in a per-CPU array slot (an inlined lookup) so that the compiler
 * keeps the read. Nothing is keyed, bucketed or kept per task: its cost over
 * the empty programs is the price of the two clock reads on this machine's
 * clock source (docs/performance.md, issue 16).
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} clock_reads_total SEC(".maps");

static __always_inline int clock_read_into(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&clock_reads_total, &slot);

	if (v)
		*v = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(tp_btf_sys_enter)
{
	return clock_read_into(0);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(tp_btf_sys_exit)
{
	return clock_read_into(1);
}

char LICENSE[] SEC("license") = "GPL";
