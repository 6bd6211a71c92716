// SPDX-License-Identifier: GPL-2.0-only
/*
 * Syscall latency per cgroup (container, pod, service): syscall-latency's
 * histogram with the caller's cgroup in the key, for the cgroups the loader
 * put in cgroup_id_map (the config's regexps choose which). A thread outside
 * them costs one hash lookup per syscall entry and stores nothing.
 *
 * The entry time is kept as in syscall-latency.bpf.c: task-local storage
 * where the kernel has it (5.11+), else an LRU hash by pid_tgid. The cgroup is
 * taken at entry and kept with it, so a syscall that moves its caller to
 * another cgroup (a write to cgroup.procs) counts where it started.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "syscall-latency-cgroup.h"
#include "maps.bpf.h"
#include "cgroups.bpf.h"
#include "syscall_hooks.bpf.h"

struct syscall_latency_cgroup_start {
	__u64 ts; /* 0: not inside a syscall we saw enter */
	__u64 cgroup;
	__u64 id;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct syscall_latency_cgroup_start);
} syscall_latency_cgroup_task_start SEC(".maps");

/* The fallback: one entry per matched thread inside a syscall (see
 * syscall-latency.bpf.c for why LRU). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u64);
	__type(value, struct syscall_latency_cgroup_start);
} syscall_latency_cgroup_start SEC(".maps");

/* cgroups x syscalls x 28 keys; the config's max_series bounds what is
 * reported, this bounds what is counted (a full map drops new keys). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct syscall_latency_cgroup_key);
	__type(value, __u64);
} syscall_latency_by_cgroup_seconds SEC(".maps");

static __always_inline void
syscall_latency_cgroup_observe(const struct syscall_latency_cgroup_start *s, __u64 now)
{
	struct syscall_latency_cgroup_key key = {};
	__u64 delta_us = now > s->ts ? (now - s->ts) / 1000 : 0;

	key.cgroup = s->cgroup;
	key.syscall = s->id;
	bb_hist_exp2(&syscall_latency_by_cgroup_seconds, &key, &key.bucket,
		     SYSCALL_LATENCY_CGROUP_BUCKET_MAX, delta_us);
}

/* ---- task storage ---- */

static __always_inline int syscall_latency_cgroup_enter_task(long id)
{
	struct syscall_latency_cgroup_start *start;
	__u64 cgroup;

	if (id < 0)
		return 0;
	cgroup = bb_current_cgroup_matched();
	if (!cgroup)
		return 0;
	start = bpf_task_storage_get(&syscall_latency_cgroup_task_start, bpf_get_current_task_btf(),
				     0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!start)
		return 0;
	start->ts = bpf_ktime_get_ns();
	start->cgroup = cgroup;
	start->id = id;
	return 0;
}

static __always_inline int syscall_latency_cgroup_exit_task(void)
{
	struct syscall_latency_cgroup_start *start;
	__u64 now = bpf_ktime_get_ns();

	/* no F_CREATE: a thread never matched has no storage to look at */
	start = bpf_task_storage_get(&syscall_latency_cgroup_task_start, bpf_get_current_task_btf(),
				     0, 0);
	if (!start || !start->ts)
		return 0;
	syscall_latency_cgroup_observe(start, now);
	start->ts = 0;
	return 0;
}

/* ---- LRU hash by pid_tgid ---- */

static __always_inline int syscall_latency_cgroup_enter(long id)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct syscall_latency_cgroup_start start = {};

	if (id < 0)
		return 0;
	start.cgroup = bb_current_cgroup_matched();
	if (!start.cgroup)
		return 0;
	start.ts = bpf_ktime_get_ns();
	start.id = id;
	bpf_map_update_elem(&syscall_latency_cgroup_start, &tid, &start, BPF_ANY);
	return 0;
}

static __always_inline int syscall_latency_cgroup_exit(void)
{
	__u64 tid = bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_ns();
	struct syscall_latency_cgroup_start *found, start;

	found = bpf_map_lookup_elem(&syscall_latency_cgroup_start, &tid);
	if (!found)
		return 0;
	start = *found;
	bpf_map_delete_elem(&syscall_latency_cgroup_start, &tid);
	syscall_latency_cgroup_observe(&start, now);
	return 0;
}

/* hook sys_enter_exit: the exit takes the syscall number from the entry */
BB_SYS_ENTER_EXIT_PROGRAMS(syscall_latency_cgroup_enter_task, syscall_latency_cgroup_exit_task,
			   syscall_latency_cgroup_enter, syscall_latency_cgroup_exit)

char LICENSE[] SEC("license") = "GPL";
