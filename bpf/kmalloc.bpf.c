// SPDX-License-Identifier: GPL-2.0-only
/* Sizes requested from kmalloc(): a histogram of bytes_req. */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "kmalloc.h"
#include "core_fixes.bpf.h"
#include "maps.bpf.h"

/* kmalloc() is hot: a per-CPU array by bucket, no hashing, no contention
 * (the reader sums the CPUs). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KMALLOC_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} kmalloc_size_bytes SEC(".maps");

static __always_inline int kmalloc_record(__u64 bytes_req)
{
	bb_hist_array_exp2(&kmalloc_size_bytes, KMALLOC_BUCKET_MAX, bytes_req);
	return 0;
}

/* hook kmalloc: TP_PROTO(unsigned long call_site, const void *ptr,
 * size_t bytes_req, size_t bytes_alloc, gfp_t gfp_flags[, int node since v6.1]) */

SEC("tp_btf/kmalloc")
int BPF_PROG(tp_btf_kmalloc, unsigned long call_site, const void *ptr, size_t bytes_req)
{
	return kmalloc_record(bytes_req);
}

SEC("tracepoint/kmem/kmalloc")
int tracepoint_kmalloc(void *ctx)
{
	return kmalloc_record(bb_kmalloc_tp_bytes_req(ctx));
}

char LICENSE[] SEC("license") = "GPL";
