// SPDX-License-Identifier: GPL-2.0-only
/*
 * Bench only: bpf/syscall-latency.bpf.c as shipped before its histogram became
 * a per-CPU array (flat_index), to compare the two in one bench run: the
 * entry time in task-local storage, the histogram in a hash keyed by
 * (syscall, bucket) with two hashed lookups and atomic adds per observation
 * (bb_hist_exp2). tp_btf only.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "syscall-latency.h"
#include "maps.bpf.h"

struct start {
	__u64 ts;
	__u64 id;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct start);
} latency_hash_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct syscall_latency_key);
	__type(value, __u64);
} syscall_latency_seconds SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(tp_btf_sys_enter, struct pt_regs *regs, long id)
{
	struct start *s;

	if (id < 0)
		return 0;
	s = bpf_task_storage_get(&latency_hash_start, bpf_get_current_task_btf(), 0,
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
	struct start *s =
		bpf_task_storage_get(&latency_hash_start, bpf_get_current_task_btf(), 0, 0);
	__u64 now = bpf_ktime_get_ns();
	struct syscall_latency_key key = {};

	if (!s || !s->ts)
		return 0;
	key.syscall = s->id;
	bb_hist_exp2(&syscall_latency_seconds, &key, &key.bucket, SYSCALL_LATENCY_BUCKET_MAX,
		     now > s->ts ? (now - s->ts) / 1000 : 0);
	s->ts = 0;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
