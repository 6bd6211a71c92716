/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Every kernel-version shim of the shipped programs lives here. Each one is a
 * `struct foo___suffix` flavour (libbpf matches it to the kernel's `struct foo`
 * by name, ignoring the ___suffix) tested with bpf_core_field_exists() or
 * bpf_core_type_exists(), and names the kernel change it covers. libbpf turns
 * those tests into constants at load time and the verifier drops the dead
 * branch, so a branch may read a field this kernel does not have.
 * Never compare LINUX_VERSION_CODE: distributions backport.
 */
#ifndef BPFBRIDGE_CORE_FIXES_BPF_H
#define BPFBRIDGE_CORE_FIXES_BPF_H

#include <vmlinux.h>
#include <bpf/bpf_core_read.h>

/*
 * The gendisk of a request.
 * commit d152c682f03c ("block: add an explicit ->disk backpointer to the
 * request_queue") added rq->q->disk (v5.15), and commit f3fa33acca9f
 * ("block: remove the ->rq_disk field in struct request") removed rq->rq_disk.
 */
struct request_queue___bb {
	struct gendisk *disk;
} __attribute__((preserve_access_index));

struct request___bb {
	struct request_queue___bb *q;
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

static __always_inline struct gendisk *bb_request_disk(const void *request)
{
	const struct request___bb *rq = request;

	if (bpf_core_field_exists(rq->rq_disk))
		return BPF_CORE_READ(rq, rq_disk);
	return BPF_CORE_READ(rq, q, disk);
}

/*
 * Where the struct request is among the block_rq_issue arguments.
 * commit a54895fa057c ("block: remove the request_queue to argument request
 * based tracepoints") (v5.11) changed TP_PROTO(struct request_queue *q,
 * struct request *rq) into TP_PROTO(struct request *rq), and v5.10.137
 * backported it: Debian 11's 5.10 kernels have the one-argument tracepoint
 * while everything else of 5.10 (struct hd_struct, ...) is still there, so
 * no type that v5.11 changed tells the two apart.
 * The tracepoint's own prototype does. bpf_core_type_matches() needs
 * clang >= 15, but bpf_core_type_exists() is enough: libbpf accepts a
 * candidate only if it is compatible with the local type, and two function
 * prototypes are compatible only with the same number of parameters. The
 * first parameter of every btf_trace_* prototype is the context (void *).
 */
typedef void (*btf_trace_block_rq_issue___bb_rq)(void *, struct request *);

static __always_inline int bb_block_rq_issue_rq_arg(void)
{
	return bpf_core_type_exists(btf_trace_block_rq_issue___bb_rq) ? 0 : 1;
}

/*
 * Where the struct bio is among the block_getrq arguments: the same v5.11
 * series turned TP_PROTO(struct request_queue *q, struct bio *bio, int rw)
 * into TP_PROTO(struct bio *bio). Told apart by the prototype, as above.
 */
typedef void (*btf_trace_block_getrq___bb_bio)(void *, struct bio *);

static __always_inline int bb_block_getrq_bio_arg(void)
{
	return bpf_core_type_exists(btf_trace_block_getrq___bb_bio) ? 0 : 1;
}

/*
 * A task's scheduler state.
 * commit 2f064a59a11f ("sched: Change task_struct::state") (v5.14) renamed
 * the volatile long `state` to the unsigned int `__state`.
 */
struct task_struct___bb_old {
	long state;
} __attribute__((preserve_access_index));

static __always_inline unsigned int bb_task_state(const struct task_struct *task)
{
	const struct task_struct___bb_old *old = (const void *)task;

	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state);
	return (unsigned int)BPF_CORE_READ(old, state);
}

/*
 * The kmem/kmalloc tracepoint record.
 * commit 2c1d697fb8ba ("mm/slab_common: drop kmem_alloc & avoid dereferencing
 * fields when not using") (v6.1) dropped the kmem_alloc event class: the
 * record of kmem/kmalloc became struct trace_event_raw_kmalloc (with a new
 * `node` field) instead of struct trace_event_raw_kmem_alloc.
 * Before that kernel, kmalloc_node() allocations had their own tracepoint,
 * kmem/kmalloc_node, which kmalloc.bpf.c does not attach (docs/programs.md).
 */
struct trace_event_raw_kmem_alloc___bb_old {
	size_t bytes_req;
	size_t bytes_alloc;
} __attribute__((preserve_access_index));

struct trace_event_raw_kmalloc___bb {
	size_t bytes_req;
	size_t bytes_alloc;
} __attribute__((preserve_access_index));

static __always_inline __u64 bb_kmalloc_tp_bytes_req(const void *ctx)
{
	if (bpf_core_type_exists(struct trace_event_raw_kmalloc___bb)) {
		const struct trace_event_raw_kmalloc___bb *rec = ctx;

		return BPF_CORE_READ(rec, bytes_req);
	}
	const struct trace_event_raw_kmem_alloc___bb_old *old = ctx;

	return BPF_CORE_READ(old, bytes_req);
}

/*
 * The tcp/tcp_retransmit_skb tracepoint.
 * commit ad892e912b84 ("tcp: trace retransmit failures in tcp_retransmit_skb")
 * (v6.17) made it its own event with a trailing `err` argument and field, and
 * made it fire for failed retransmissions too (err != 0). Before it, the
 * record was struct trace_event_raw_tcp_event_sk_skb and the event fired only
 * for retransmissions that were sent. Callers count err == 0 only, so the
 * metric means the same on every kernel.
 */
struct trace_event_raw_tcp_retransmit_skb___bb {
	const void *skaddr;
	int err;
} __attribute__((preserve_access_index));

struct trace_event_raw_tcp_event_sk_skb___bb_old {
	const void *skaddr;
} __attribute__((preserve_access_index));

static __always_inline bool bb_tcp_retransmit_has_err(void)
{
	return bpf_core_field_exists(struct trace_event_raw_tcp_retransmit_skb___bb, err);
}

static __always_inline const struct sock *bb_tcp_retransmit_tp_sk(const void *ctx, int *err)
{
	if (bb_tcp_retransmit_has_err()) {
		const struct trace_event_raw_tcp_retransmit_skb___bb *rec = ctx;

		*err = BPF_CORE_READ(rec, err);
		return BPF_CORE_READ(rec, skaddr);
	}
	const struct trace_event_raw_tcp_event_sk_skb___bb_old *old = ctx;

	*err = 0;
	return BPF_CORE_READ(old, skaddr);
}

/*
 * The syscall number in a struct pt_regs, as syscall_get_nr() reads it. This
 * is per architecture, not per kernel version: x86 keeps it in orig_ax, arm64
 * in syscallno. Other architectures get -1 and the callers skip the event.
 */
struct pt_regs___bb_x86 {
	unsigned long orig_ax;
} __attribute__((preserve_access_index));

struct pt_regs___bb_arm64 {
	int syscallno;
} __attribute__((preserve_access_index));

/*
 * The same from a BTF-typed pt_regs (a tp_btf argument): a plain load the
 * verifier checks against the kernel's BTF, with no helper call. The flavour
 * casts only pick the field; CO-RE relocates its offset.
 */
static __always_inline long bb_pt_regs_syscall_nr_btf(const struct pt_regs *regs)
{
	const struct pt_regs___bb_x86 *x86 = (const void *)regs;
	const struct pt_regs___bb_arm64 *arm64 = (const void *)regs;

	if (bpf_core_field_exists(x86->orig_ax))
		return (long)x86->orig_ax;
	if (bpf_core_field_exists(arm64->syscallno))
		return arm64->syscallno;
	return -1;
}

static __always_inline long bb_pt_regs_syscall_nr(const void *regs)
{
	const struct pt_regs___bb_x86 *x86 = regs;
	const struct pt_regs___bb_arm64 *arm64 = regs;

	if (bpf_core_field_exists(x86->orig_ax))
		return (long)BPF_CORE_READ(x86, orig_ax);
	if (bpf_core_field_exists(arm64->syscallno))
		return BPF_CORE_READ(arm64, syscallno);
	return -1;
}

#endif
