// SPDX-License-Identifier: GPL-2.0-only
/*
 * Block I/O latency per cgroup (container, pod, service): biolatency's
 * histogram with the cgroup of the task that submitted the request in the
 * key, for the cgroups the loader put in cgroup_id_map (the config's regexps
 * choose which).
 *
 * The submitter is the task that allocates the request (block_getrq, in its
 * own context); the request is often issued to the driver later and by
 * another task (a scheduler's dispatch, kblockd), so block_rq_issue's current
 * task says nothing. The bio that block_getrq reports becomes the request's
 * first bio, which is how block_rq_issue finds the submitter again.
 * Writeback of page-cache data counts under the flusher (a kworker: the root
 * cgroup), not under the cgroup that dirtied the pages.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "biolatency-cgroup.h"
#include "core_fixes.bpf.h"
#include "maps.bpf.h"
#include "cgroups.bpf.h"
#include "block.bpf.h"

struct biolatency_cgroup_start {
	__u64 ts;
	__u64 cgroup;
};

/* Submitting cgroup of new requests of matched cgroups, by the address of
 * their first bio, from block_getrq until block_rq_issue. LRU: a request
 * that is never issued (or whose first bio changed, a front merge) ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64);
	__type(value, __u64);
} biolatency_cgroup_submitter SEC(".maps");

/* Issue time and cgroup of requests in flight, by struct request address. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64);
	__type(value, struct biolatency_cgroup_start);
} biolatency_cgroup_start SEC(".maps");

/* 300 cgroups x 4 devices x 2 operations x 28 keys fit; the config's
 * max_series bounds what is reported. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct biolatency_cgroup_key);
	__type(value, __u64);
} bio_latency_by_cgroup_seconds SEC(".maps");

static __always_inline int biolatency_cgroup_getrq(const void *bio)
{
	__u64 addr = (__u64)bio;
	__u64 cgroup = bpf_get_current_cgroup_id();

	if (!bio || !bb_cgroup_matched(cgroup))
		return 0;
	bpf_map_update_elem(&biolatency_cgroup_submitter, &addr, &cgroup, BPF_ANY);
	return 0;
}

static __always_inline int biolatency_cgroup_issue(const void *request)
{
	const struct request *rq = request;
	struct biolatency_cgroup_start start = {}, *requeued;
	__u64 addr = (__u64)rq, bio, *cgroup;

	if (!rq)
		return 0;
	bio = (__u64)BPF_CORE_READ(rq, bio);
	cgroup = bio ? bpf_map_lookup_elem(&biolatency_cgroup_submitter, &bio) : 0;
	if (!cgroup) {
		/* Issued again after a requeue: time the last issue, as biolatency does. */
		requeued = bpf_map_lookup_elem(&biolatency_cgroup_start, &addr);
		if (requeued)
			requeued->ts = bpf_ktime_get_ns();
		return 0;
	}
	start.cgroup = *cgroup;
	bpf_map_delete_elem(&biolatency_cgroup_submitter, &bio);
	start.ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&biolatency_cgroup_start, &addr, &start, BPF_ANY);
	return 0;
}

static __always_inline int biolatency_cgroup_complete(const void *request)
{
	const struct request *rq = request;
	struct biolatency_cgroup_key key = {};
	struct biolatency_cgroup_start *found;
	__u64 addr = (__u64)rq;
	__u64 now = bpf_ktime_get_ns();
	__u64 delta_us;

	found = bpf_map_lookup_elem(&biolatency_cgroup_start, &addr);
	if (!found)
		return 0;
	/* A partially completed request completes again later: the first
	 * completion deletes the entry, so each request counts once. */
	delta_us = now > found->ts ? (now - found->ts) / 1000 : 0;
	key.cgroup = found->cgroup;
	bpf_map_delete_elem(&biolatency_cgroup_start, &addr);

	key.dev = bb_block_encode_dev(bb_request_disk(rq));
	key.op = bb_block_op(BPF_CORE_READ(rq, cmd_flags));
	bb_hist_exp2(&bio_latency_by_cgroup_seconds, &key, &key.bucket,
		     BIOLATENCY_CGROUP_BUCKET_MAX, delta_us);
	return 0;
}

/* hook block_getrq: TP_PROTO(struct bio *bio), or (q, bio, rw) before v5.11 */

SEC("tp_btf/block_getrq")
int BPF_PROG(tp_btf_block_getrq)
{
	if (bb_block_getrq_bio_arg() == 1)
		return biolatency_cgroup_getrq((void *)ctx[1]);
	return biolatency_cgroup_getrq((void *)ctx[0]);
}

SEC("raw_tp/block_getrq")
int raw_tp_block_getrq(struct bpf_raw_tracepoint_args *ctx)
{
	if (bb_block_getrq_bio_arg() == 1)
		return biolatency_cgroup_getrq((void *)ctx->args[1]);
	return biolatency_cgroup_getrq((void *)ctx->args[0]);
}

BB_BLOCK_RQ_PROGRAMS(biolatency_cgroup_issue, biolatency_cgroup_complete)

char LICENSE[] SEC("license") = "GPL";
