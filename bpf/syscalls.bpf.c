// SPDX-License-Identifier: GPL-2.0-only
/*
 * Syscall counts and errors: one increment of syscalls_total per syscall
 * exit, plus one of syscall_errors_total when it returned an error.
 *
 * Every syscall exit on the machine lands here, so the common path is as
 * cheap as this program knows how to make it (docs/performance.md):
 *   - syscalls_total is a per-CPU array indexed by syscall number: the
 *     verifier inlines its lookup, nothing is hashed or inserted, and no two
 *     CPUs share a cache line. A slot that was never non-zero is no series
 *     (bpfbridge's rule for arrays), so only the syscalls that ran show, as
 *     with a hash map.
 *   - tp_btf reads the syscall number straight from the BTF-typed pt_regs.
 *   - a plain increment: the program runs with preemption off and the kernel
 *     never runs it nested on one CPU (its recursion guard skips that), so
 *     nothing else writes this CPU's slot meanwhile.
 * Errors are rare: a hash keyed by (syscall, errno) is fine for them.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "syscalls.h"
#include "core_fixes.bpf.h"
#include "maps.bpf.h"
#include "syscall_hooks.bpf.h"

/* Error returns are -1 .. -MAX_ERRNO (include/linux/err.h). */
#define SYSCALLS_MAX_ERRNO 4095

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SYSCALLS_NR_SLOTS);
	__type(key, __u32);
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
	struct syscall_errors_key err_key = {};
	__u32 slot = (__u32)id;
	__u64 *count;

	/* -1: no syscall ran (e.g. skipped by seccomp or a tracer). */
	if (id < 0 || id >= SYSCALLS_NR_SLOTS)
		return 0;
	count = bpf_map_lookup_elem(&syscalls_total, &slot);
	if (count)
		(*count)++;
	if (ret < 0 && ret >= -SYSCALLS_MAX_ERRNO) {
		err_key.syscall = slot;
		err_key.err = -ret;
		bb_counter_inc(&syscall_errors_total, &err_key);
	}
	return 0;
}

BB_SYS_EXIT_PROGRAMS(syscalls_exit)

char LICENSE[] SEC("license") = "GPL";
