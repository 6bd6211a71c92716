// SPDX-License-Identifier: GPL-2.0-only
/*
 * Block I/O latency: from a request's issue to the device driver to its
 * completion, per device and operation.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "biolatency.h"
#include "core_fixes.bpf.h"
#include "maps.bpf.h"
#include "block.bpf.h"

/* Issue time (ns) of requests in flight, by struct request address. LRU: a
 * request whose completion is never seen ages out instead of filling it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64);
	__type(value, __u64);
} biolatency_start SEC(".maps");

/* 64 devices x 5 operations x 28 keys fit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct biolatency_key);
	__type(value, __u64);
} bio_latency_seconds SEC(".maps");

static __always_inline int biolatency_issue(const void *rq)
{
	__u64 addr = (__u64)rq;
	__u64 now = bpf_ktime_get_ns();

	if (!rq)
		return 0;
	bpf_map_update_elem(&biolatency_start, &addr, &now, BPF_ANY);
	return 0;
}

static __always_inline int biolatency_complete(const void *request)
{
	const struct request *rq = request;
	struct biolatency_key key = {};
	__u64 addr = (__u64)rq;
	__u64 now = bpf_ktime_get_ns();
	__u64 *issued, delta_us;

	issued = bpf_map_lookup_elem(&biolatency_start, &addr);
	if (!issued)
		return 0;
	/* A partially completed request completes again later: the first
	 * completion deletes the entry, so each request counts once. */
	delta_us = now > *issued ? (now - *issued) / 1000 : 0;
	bpf_map_delete_elem(&biolatency_start, &addr);

	key.dev = bb_block_encode_dev(bb_request_disk(rq));
	key.op = bb_block_op(BPF_CORE_READ(rq, cmd_flags));
	bb_hist_exp2(&bio_latency_seconds, &key, &key.bucket, BIOLATENCY_BUCKET_MAX, delta_us);
	return 0;
}

BB_BLOCK_RQ_PROGRAMS(biolatency_issue, biolatency_complete)

/* hook block_rq_issue, on kernels without the tracepoints' BTF or raw_tp */
SEC("kprobe/blk_mq_start_request")
int BPF_KPROBE(kprobe_blk_mq_start_request, struct request *rq)
{
	return biolatency_issue(rq);
}

/* hook block_rq_complete, likewise: blk_update_request() is where block_rq_complete fires (at its start), so
 * the kprobe sees the same completions, except the batched ones of
 * blk_mq_end_request_batch() (v5.16+, e.g. NVMe), which do not call it.
 * blk_account_io_done() is no target: on Debian's 6.1 it is a local symbol
 * that kprobes refuse (EINVAL), and __blk_account_io_done() does not exist. */
SEC("kprobe/blk_update_request")
int BPF_KPROBE(kprobe_blk_update_request, struct request *rq)
{
	return biolatency_complete(rq);
}

char LICENSE[] SEC("license") = "GPL";
