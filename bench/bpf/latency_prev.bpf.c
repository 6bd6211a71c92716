// SPDX-License-Identifier: GPL-2.0-only
/*
 * Bench only: bpf/syscall-latency.bpf.c as shipped before issue 16, kept so
 * that bench/run measures the previous design beside the current one in the
 * same run. Syscall latency: from sys_enter to sys_exit of the same thread.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "syscall-latency.h"
#include "maps.bpf.h"

struct syscall_latency_start {
	__u64 ts;
	__u64 id;
};

/* One entry per thread inside a syscall, by pid_tgid. LRU: threads that
 * never return (exit_group) age out; with more threads blocked in syscalls
 * than this, the longest-waiting ones lose their sample. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u64);
	__type(value, struct syscall_latency_start);
} syscall_latency_start SEC(".maps");

/* About 460 syscalls x 28 keys fit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct syscall_latency_key);
	__type(value, __u64);
} syscall_latency_seconds SEC(".maps");

static __always_inline int syscall_latency_enter(long id)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct syscall_latency_start start = {};

	if (id < 0)
		return 0;
	start.ts = bpf_ktime_get_ns();
	start.id = id;
	bpf_map_update_elem(&syscall_latency_start, &tid, &start, BPF_ANY);
	return 0;
}

static __always_inline int syscall_latency_exit(void)
{
	__u64 tid = bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_ns();
	struct syscall_latency_start *start;
	struct syscall_latency_key key = {};
	__u64 delta_us;

	start = bpf_map_lookup_elem(&syscall_latency_start, &tid);
	if (!start)
		return 0;
	delta_us = now > start->ts ? (now - start->ts) / 1000 : 0;
	key.syscall = start->id;
	bpf_map_delete_elem(&syscall_latency_start, &tid);
	bb_hist_exp2(&syscall_latency_seconds, &key, &key.bucket, SYSCALL_LATENCY_BUCKET_MAX,
		     delta_us);
	return 0;
}

/* hook sys_enter: TP_PROTO(struct pt_regs *regs, long id) */

SEC("tp_btf/sys_enter")
int BPF_PROG(tp_btf_sys_enter, struct pt_regs *regs, long id)
{
	return syscall_latency_enter(id);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(raw_tp_sys_enter, struct pt_regs *regs, long id)
{
	return syscall_latency_enter(id);
}

SEC("tracepoint/raw_syscalls/sys_enter")
int tracepoint_sys_enter(struct trace_event_raw_sys_enter *ctx)
{
	return syscall_latency_enter(ctx->id);
}

/* hook sys_exit: the syscall number comes from the sys_enter entry */

SEC("tp_btf/sys_exit")
int BPF_PROG(tp_btf_sys_exit)
{
	return syscall_latency_exit();
}

SEC("raw_tp/sys_exit")
int BPF_PROG(raw_tp_sys_exit)
{
	return syscall_latency_exit();
}

SEC("tracepoint/raw_syscalls/sys_exit")
int tracepoint_sys_exit(struct trace_event_raw_sys_exit *ctx)
{
	return syscall_latency_exit();
}

char LICENSE[] SEC("license") = "GPL";
