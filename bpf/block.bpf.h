/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the block I/O programs (biolatency, biolatency-cgroup) share: the
 * device and operation labels of a request, and the tp_btf and raw_tp
 * alternatives of the block_rq_issue and block_rq_complete hooks.
 *
 * Include after vmlinux.h, bpf_helpers.h, bpf_tracing.h, bpf_core_read.h and
 * core_fixes.bpf.h.
 */
#ifndef BPFBRIDGE_BLOCK_BPF_H
#define BPFBRIDGE_BLOCK_BPF_H

#include "biolatency.h"

/* cmd_flags: the operation is in the low REQ_OP_BITS (8) bits since v4.10. */
#define BB_BLOCK_REQ_OP_MASK 0xff

/* The `device` label: new_encode_dev(), the userspace dev_t layout that the
 * majorminor decoder reads. 0 for a request without a disk. */
static __always_inline __u32 bb_block_encode_dev(const struct gendisk *disk)
{
	__u32 major, minor;

	if (!disk)
		return 0;
	major = BPF_CORE_READ(disk, major);
	minor = BPF_CORE_READ(disk, first_minor);
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffU) << 12);
}

/* The `operation` label: enum biolatency_op (static_map in the YAML). */
static __always_inline __u32 bb_block_op(__u32 cmd_flags)
{
	switch (cmd_flags & BB_BLOCK_REQ_OP_MASK) {
	case REQ_OP_READ:
		return BIOLATENCY_OP_READ;
	case REQ_OP_WRITE:
		return BIOLATENCY_OP_WRITE;
	case REQ_OP_FLUSH:
		return BIOLATENCY_OP_FLUSH;
	case REQ_OP_DISCARD:
		return BIOLATENCY_OP_DISCARD;
	default:
		return BIOLATENCY_OP_OTHER;
	}
}

/*
 * hook block_rq_issue: the request is argument 0, or 1 before v5.11
 * (core_fixes.bpf.h); hook block_rq_complete: TP_PROTO(struct request *rq,
 * ...) on every BTF kernel. ISSUE(const void *rq) and COMPLETE(const void
 * *rq) are the program's bodies.
 */
#define BB_BLOCK_RQ_PROGRAMS(ISSUE, COMPLETE)                             \
	SEC("tp_btf/block_rq_issue")                                      \
	int BPF_PROG(tp_btf_block_rq_issue)                               \
	{                                                                 \
		if (bb_block_rq_issue_rq_arg() == 1)                      \
			return ISSUE((void *)ctx[1]);                     \
		return ISSUE((void *)ctx[0]);                             \
	}                                                                 \
                                                                          \
	SEC("raw_tp/block_rq_issue")                                      \
	int raw_tp_block_rq_issue(struct bpf_raw_tracepoint_args *ctx)    \
	{                                                                 \
		if (bb_block_rq_issue_rq_arg() == 1)                      \
			return ISSUE((void *)ctx->args[1]);               \
		return ISSUE((void *)ctx->args[0]);                       \
	}                                                                 \
                                                                          \
	SEC("tp_btf/block_rq_complete")                                   \
	int BPF_PROG(tp_btf_block_rq_complete, struct request *rq)        \
	{                                                                 \
		return COMPLETE(rq);                                      \
	}                                                                 \
                                                                          \
	SEC("raw_tp/block_rq_complete")                                   \
	int raw_tp_block_rq_complete(struct bpf_raw_tracepoint_args *ctx) \
	{                                                                 \
		return COMPLETE((void *)ctx->args[0]);                    \
	}

#endif
