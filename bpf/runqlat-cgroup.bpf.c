// SPDX-License-Identifier: GPL-2.0-only
/*
 * Run queue latency per cgroup (container, pod, service): runqlat's
 * histogram with the waiting task's cgroup in the key, for the cgroups the
 * loader put in cgroup_id_map (the config's regexps choose which). A task
 * outside them costs one hash lookup per wakeup or preemption and stores
 * nothing.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "runqlat-cgroup.h"
#include "core_fixes.bpf.h"
#include "maps.bpf.h"
#include "cgroups.bpf.h"

/* TASK_RUNNING, include/linux/sched.h */
#define RUNQLAT_CGROUP_TASK_RUNNING 0

/* Enqueue time (ns) of runnable matched tasks, by thread id. LRU: an entry
 * whose switch-in is never seen (task exits first) ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, __u64);
} runqlat_cgroup_start SEC(".maps");

/* 2000 cgroups x 28 keys fit. A plain hash, unlike runqlat's per-CPU one:
 * the keys spread over the cgroups, and per-CPU values of this many keys
 * would cost megabytes per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 57344);
	__type(key, struct runqlat_cgroup_key);
	__type(value, __u64);
} run_queue_latency_by_cgroup_seconds SEC(".maps");

/* The task's cgroup v2 id, what bpf_get_current_cgroup_id() gives when it runs. */
static __always_inline __u64 runqlat_cgroup_of(const struct task_struct *task)
{
	return BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
}

static __always_inline int runqlat_cgroup_enqueue(const struct task_struct *task)
{
	__u32 pid = BPF_CORE_READ(task, pid);
	__u64 cgroup, now;

	if (!pid) /* the idle task never waits */
		return 0;
	cgroup = runqlat_cgroup_of(task);
	if (!bb_cgroup_matched(cgroup))
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&runqlat_cgroup_start, &pid, &now, BPF_ANY);
	return 0;
}

static __always_inline int runqlat_cgroup_switch(bool preempt, const struct task_struct *prev,
						 const struct task_struct *next)
{
	struct runqlat_cgroup_key key = {};
	__u32 pid = BPF_CORE_READ(next, pid);
	__u64 now, *enqueued, delta_us;

	/* A task switched out while still runnable waits in the run queue. */
	if (preempt || bb_task_state(prev) == RUNQLAT_CGROUP_TASK_RUNNING)
		runqlat_cgroup_enqueue(prev);

	if (!pid)
		return 0;
	enqueued = bpf_map_lookup_elem(&runqlat_cgroup_start, &pid);
	if (!enqueued)
		return 0;
	now = bpf_ktime_get_ns();
	delta_us = now > *enqueued ? (now - *enqueued) / 1000 : 0;
	bpf_map_delete_elem(&runqlat_cgroup_start, &pid);
	key.cgroup = runqlat_cgroup_of(next);
	bb_hist_exp2(&run_queue_latency_by_cgroup_seconds, &key, &key.bucket,
		     RUNQLAT_CGROUP_BUCKET_MAX, delta_us);
	return 0;
}

/* hook sched_wakeup: TP_PROTO(struct task_struct *p) */

SEC("tp_btf/sched_wakeup")
int BPF_PROG(tp_btf_sched_wakeup, struct task_struct *p)
{
	return runqlat_cgroup_enqueue(p);
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(raw_tp_sched_wakeup, struct task_struct *p)
{
	return runqlat_cgroup_enqueue(p);
}

/* hook sched_wakeup_new: TP_PROTO(struct task_struct *p) */

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(tp_btf_sched_wakeup_new, struct task_struct *p)
{
	return runqlat_cgroup_enqueue(p);
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(raw_tp_sched_wakeup_new, struct task_struct *p)
{
	return runqlat_cgroup_enqueue(p);
}

/* hook sched_switch: TP_PROTO(bool preempt, struct task_struct *prev,
 * struct task_struct *next[, unsigned int prev_state since v5.18]) */

SEC("tp_btf/sched_switch")
int BPF_PROG(tp_btf_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return runqlat_cgroup_switch(preempt, prev, next);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(raw_tp_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return runqlat_cgroup_switch(preempt, prev, next);
}

char LICENSE[] SEC("license") = "GPL";
