// SPDX-License-Identifier: GPL-2.0-only
/*
 * Bench only: bpf/syscalls.bpf.c as shipped before issue 16, kept so that bench/run
 * measures the previous design beside the current one in the same run.
 *
 * Syscall counts and errors: one increment of syscalls_total per syscall
 * exit, plus one of syscall_errors_total when it returned an error.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "syscalls.h"
#include "core_fixes.bpf.h"
#include "maps.bpf.h"

/* Error returns are -1 .. -MAX_ERRNO (include/linux/err.h). */
#define SYSCALLS_MAX_ERRNO 4095

/* Every syscall exit on the machine lands here: per-CPU values keep the CPUs
 * from contending for one cache line (the reader sums them). x86_64 has about
 * 460 syscalls. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct syscalls_key);
	__type(value, __u64);
} syscalls_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct syscall_errors_key);
	__type(value, __u64);
} syscall_errors_total SEC(".maps");

static __always_inline int syscalls_exit(long id, long ret)
{
	struct syscalls_key key = {};
	struct syscall_errors_key err_key = {};

	/* -1: no syscall ran (e.g. skipped by seccomp or a tracer). */
	if (id < 0)
		return 0;
	key.syscall = id;
	bb_counter_inc(&syscalls_total, &key);
	if (ret < 0 && ret >= -SYSCALLS_MAX_ERRNO) {
		err_key.syscall = id;
		err_key.err = -ret;
		bb_counter_inc(&syscall_errors_total, &err_key);
	}
	return 0;
}

/* hook sys_exit: TP_PROTO(struct pt_regs *regs, long ret) */

SEC("tp_btf/sys_exit")
int BPF_PROG(tp_btf_sys_exit, struct pt_regs *regs, long ret)
{
	return syscalls_exit(bb_pt_regs_syscall_nr(regs), ret);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(raw_tp_sys_exit, struct pt_regs *regs, long ret)
{
	return syscalls_exit(bb_pt_regs_syscall_nr(regs), ret);
}

SEC("tracepoint/raw_syscalls/sys_exit")
int tracepoint_sys_exit(struct trace_event_raw_sys_exit *ctx)
{
	return syscalls_exit(ctx->id, ctx->ret);
}

char LICENSE[] SEC("license") = "GPL";
