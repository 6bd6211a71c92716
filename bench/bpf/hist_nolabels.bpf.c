// SPDX-License-Identifier: GPL-2.0-only
/*
 * Bench only: the histogram update of the shipped kmalloc and runqlat (a
 * histogram without labels), once per sys_exit, observing the syscall's
 * return value. Built twice:
 *   - without BENCH_ARRAY: their previous design, a per-CPU hash keyed by
 *     the u64 bucket (bb_hist_exp2: two hash lookups);
 *   - with BENCH_ARRAY: the shipped design, a per-CPU array indexed by the
 *     u32 bucket (bb_hist_array_exp2: two inlined array lookups).
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "maps.bpf.h"

#define BUCKET_MAX 26

#ifdef BENCH_ARRAY
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BUCKET_MAX + 2);
	__type(key, __u32);
	__type(value, __u64);
} bench_hist_seconds SEC(".maps");
#else
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u64);
} bench_hist_seconds SEC(".maps");
#endif

SEC("tp_btf/sys_exit")
int BPF_PROG(tp_btf_sys_exit, struct pt_regs *regs, long ret)
{
	__u64 value = ret < 0 ? -ret : ret;
#ifdef BENCH_ARRAY
	bb_hist_array_exp2(&bench_hist_seconds, BUCKET_MAX, value);
#else
	__u64 key = 0;

	bb_hist_exp2(&bench_hist_seconds, &key, &key, BUCKET_MAX, value);
#endif
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
