// SPDX-License-Identifier: GPL-2.0-only
/*
 * Run queue latency: how long a runnable task waits for a CPU, from its
 * wakeup (or preemption) until the scheduler switches to it.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "runqlat.h"
#include "core_fixes.bpf.h"
#include "maps.bpf.h"

/* TASK_RUNNING, include/linux/sched.h */
#define RUNQLAT_TASK_RUNNING 0

/* Enqueue time (ns) of runnable tasks, by thread id. LRU: an entry whose
 * switch-in is never seen (task exits first) ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, __u64);
} runqlat_start SEC(".maps");

/* Updated on every context switch: a per-CPU array by bucket, no hashing, no
 * contention (the reader sums the CPUs). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RUNQLAT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} run_queue_latency_seconds SEC(".maps");

static __always_inline int runqlat_enqueue(const struct task_struct *task)
{
	__u32 pid = BPF_CORE_READ(task, pid);
	__u64 now;

	if (!pid) /* the idle task never waits */
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&runqlat_start, &pid, &now, BPF_ANY);
	return 0;
}

static __always_inline int runqlat_switch(bool preempt, const struct task_struct *prev,
					  const struct task_struct *next)
{
	__u32 pid = BPF_CORE_READ(next, pid);
	__u64 now, *enqueued, delta_us;

	/* A task switched out while still runnable waits in the run queue. */
	if (preempt || bb_task_state(prev) == RUNQLAT_TASK_RUNNING)
		runqlat_enqueue(prev);

	if (!pid)
		return 0;
	enqueued = bpf_map_lookup_elem(&runqlat_start, &pid);
	if (!enqueued)
		return 0;
	now = bpf_ktime_get_ns();
	delta_us = now > *enqueued ? (now - *enqueued) / 1000 : 0;
	bpf_map_delete_elem(&runqlat_start, &pid);
	bb_hist_array_exp2(&run_queue_latency_seconds, RUNQLAT_BUCKET_MAX, delta_us);
	return 0;
}

/* hook sched_wakeup: TP_PROTO(struct task_struct *p) */

SEC("tp_btf/sched_wakeup")
int BPF_PROG(tp_btf_sched_wakeup, struct task_struct *p)
{
	return runqlat_enqueue(p);
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(raw_tp_sched_wakeup, struct task_struct *p)
{
	return runqlat_enqueue(p);
}

/* hook sched_wakeup_new: TP_PROTO(struct task_struct *p) */

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(tp_btf_sched_wakeup_new, struct task_struct *p)
{
	return runqlat_enqueue(p);
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(raw_tp_sched_wakeup_new, struct task_struct *p)
{
	return runqlat_enqueue(p);
}

/* hook sched_switch: TP_PROTO(bool preempt, struct task_struct *prev,
 * struct task_struct *next[, unsigned int prev_state since v5.18]) */

SEC("tp_btf/sched_switch")
int BPF_PROG(tp_btf_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return runqlat_switch(preempt, prev, next);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(raw_tp_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return runqlat_switch(preempt, prev, next);
}

char LICENSE[] SEC("license") = "GPL";
