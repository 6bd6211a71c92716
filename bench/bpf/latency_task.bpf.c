// SPDX-License-Identifier: GPL-2.0-only
/*
 * Bench only: the work of bpf/syscall-latency.bpf.c, done the cheapest way
 * this bench knows, to measure how much of the shipped programs' cost is
 * their map choices:
 *   - the entry timestamp in task-local storage (a pointer chase from the
 *     task) instead of an LRU hash keyed by pid_tgid (hash, LRU lists, and an
 *     insert plus a delete per syscall);
 *   - the histogram in a per-CPU array indexed by syscall * BUCKETS + bucket
 *     (inlined lookup, no insert) instead of a hash with two lookups per
 *     observation (bucket and sum).
 * Same clock (bpf_ktime_get_ns) and the same exp2 bucketing of microseconds.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "buckets.h"

#define NR_SYSCALLS 512
#define BUCKET_MAX 26
#define SLOTS (BUCKET_MAX + 2) /* buckets 0..BUCKET_MAX, then the sum */

struct start {
	__u64 ts;
	__u64 id;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct start);
} latency_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NR_SYSCALLS *SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} syscall_latency_slots_total SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(tp_btf_sys_enter, struct pt_regs *regs, long id)
{
	struct start *s;

	if (id < 0 || id >= NR_SYSCALLS)
		return 0;
	s = bpf_task_storage_get(&latency_start, bpf_get_current_task_btf(), 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s)
		return 0;
	s->ts = bpf_ktime_get_ns();
	s->id = id;
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(tp_btf_sys_exit)
{
	struct start *s = bpf_task_storage_get(&latency_start, bpf_get_current_task_btf(), 0, 0);
	__u64 now = bpf_ktime_get_ns(), delta_us;
	__u32 slot;
	__u64 *v;

	if (!s || !s->ts || s->id >= NR_SYSCALLS)
		return 0;
	delta_us = now > s->ts ? (now - s->ts) / 1000 : 0;
	s->ts = 0;
	slot = s->id * SLOTS + bb_clamp_key(bb_exp2_key(delta_us), BUCKET_MAX);
	v = bpf_map_lookup_elem(&syscall_latency_slots_total, &slot);
	if (v)
		(*v)++;
	slot = s->id * SLOTS + BUCKET_MAX + 1;
	v = bpf_map_lookup_elem(&syscall_latency_slots_total, &slot);
	if (v)
		*v += delta_us;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
