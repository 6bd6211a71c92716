// SPDX-License-Identifier: GPL-2.0-only
/*
 * Bench only: programs that do nothing, on the hooks the syscall programs
 * use. Their cost is the kernel's dispatch floor for that attach type.
 * Built twice: without BENCH_ENTER (sys_exit only, the floor under
 * syscalls.bpf.c) and with it (sys_enter + sys_exit, the floor under
 * syscall-latency.bpf.c). bench/bpf/empty_*.yaml choose the attach type
 * with the same alternatives, in the same order, as the shipped configs.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* A config needs one metric; nothing writes this map. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bench_unused_total SEC(".maps");

SEC("tp_btf/sys_exit")
int BPF_PROG(tp_btf_sys_exit)
{
	return 0;
}

SEC("raw_tp/sys_exit")
int BPF_PROG(raw_tp_sys_exit)
{
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int tracepoint_sys_exit(void *ctx)
{
	return 0;
}

#ifdef BENCH_ENTER
SEC("tp_btf/sys_enter")
int BPF_PROG(tp_btf_sys_enter)
{
	return 0;
}

SEC("raw_tp/sys_enter")
int BPF_PROG(raw_tp_sys_enter)
{
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int tracepoint_sys_enter(void *ctx)
{
	return 0;
}
#endif

char LICENSE[] SEC("license") = "GPL";
