// SPDX-License-Identifier: GPL-2.0-only
/*
 * Syscall latency: from sys_enter to sys_exit of the same thread, per syscall.
 *
 * Where the entry time is kept is what this program's cost is about
 * (docs/performance.md):
 *   - task-local storage (kernels >= 5.11): a pointer chase from the current
 *     task, no hashing, nothing inserted or deleted per syscall, and freed
 *     with the task, so a thread that never returns (exit_group) leaves
 *     nothing behind;
 *   - otherwise an LRU hash keyed by pid_tgid: an update on entry, a lookup
 *     and a delete on exit.
 * The two designs do not mix: each alternative of the config's one hook is an
 * entry program and its exit program, loaded together.
 *
 * The histogram is a per-CPU array of SYSCALL_LATENCY_SLOTS slots per syscall
 * number (flat_index in the YAML): an observation is two inlined array
 * lookups and two plain adds, where a hash keyed by (syscall, bucket) cost two
 * hashed lookups and atomic adds (docs/performance.md, issue 16). The adds
 * need no atomics: the programs run with preemption off and a syscall exit
 * does not nest in another on one CPU.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "syscall-latency.h"
#include "maps.bpf.h"
#include "syscall_hooks.bpf.h"

struct syscall_latency_start {
	__u64 ts; /* 0: not inside a syscall we saw enter */
	__u64 id;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct syscall_latency_start);
} syscall_latency_task_start SEC(".maps");

/* The fallback: one entry per thread inside a syscall, by pid_tgid. LRU:
 * threads that never return (exit_group) age out; with more threads blocked
 * in syscalls than this, the longest-waiting ones lose their sample. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u64);
	__type(value, struct syscall_latency_start);
} syscall_latency_start SEC(".maps");

/* Slot syscall * SYSCALL_LATENCY_SLOTS + bucket; the last slot of a syscall is
 * its sum. The reader rebuilds struct syscall_latency_key from the slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SYSCALL_LATENCY_NR_SYSCALLS *SYSCALL_LATENCY_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} syscall_latency_seconds SEC(".maps");

static __always_inline void syscall_latency_observe(__u64 id, __u64 start_ns, __u64 now)
{
	if (id >= SYSCALL_LATENCY_NR_SYSCALLS)
		return;
	bb_hist_flat_exp2(&syscall_latency_seconds, (__u32)id, SYSCALL_LATENCY_BUCKET_MAX,
			  now > start_ns ? (now - start_ns) / 1000 : 0);
}

/* ---- task storage ---- */

static __always_inline int syscall_latency_enter_task(long id)
{
	struct syscall_latency_start *start;

	if (id < 0 || id >= SYSCALL_LATENCY_NR_SYSCALLS)
		return 0;
	start = bpf_task_storage_get(&syscall_latency_task_start, bpf_get_current_task_btf(), 0,
				     BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!start)
		return 0;
	start->ts = bpf_ktime_get_ns();
	start->id = id;
	return 0;
}

static __always_inline int syscall_latency_exit_task(void)
{
	struct syscall_latency_start *start;
	__u64 now = bpf_ktime_get_ns();

	start = bpf_task_storage_get(&syscall_latency_task_start, bpf_get_current_task_btf(), 0, 0);
	if (!start || !start->ts)
		return 0;
	syscall_latency_observe(start->id, start->ts, now);
	start->ts = 0;
	return 0;
}

/* ---- LRU hash by pid_tgid ---- */

static __always_inline int syscall_latency_enter(long id)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct syscall_latency_start start = {};

	if (id < 0 || id >= SYSCALL_LATENCY_NR_SYSCALLS)
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
	__u64 id, ts;

	start = bpf_map_lookup_elem(&syscall_latency_start, &tid);
	if (!start)
		return 0;
	id = start->id;
	ts = start->ts;
	bpf_map_delete_elem(&syscall_latency_start, &tid);
	syscall_latency_observe(id, ts, now);
	return 0;
}

/* hook sys_enter_exit: the exit takes the syscall number from the entry */
BB_SYS_ENTER_EXIT_PROGRAMS(syscall_latency_enter_task, syscall_latency_exit_task,
			   syscall_latency_enter, syscall_latency_exit)

char LICENSE[] SEC("license") = "GPL";
