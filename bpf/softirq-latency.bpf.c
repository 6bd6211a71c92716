// SPDX-License-Identifier: GPL-2.0-only
/*
 * Softirq latency, per vector, as two histograms:
 *   softirq_latency_seconds: from softirq_raise to softirq_entry (waiting)
 *   softirq_runtime_seconds: from softirq_entry to softirq_exit (running)
 * A vector is raised, run and finished on one CPU, so the start times are
 * per-CPU arrays indexed by vector. So are the histograms: SOFTIRQ_LATENCY_SLOTS
 * slots per vector (flat_index in the YAML), two inlined array lookups and two
 * plain adds per observation; softirqs do not nest on a CPU, and the raise
 * program, which an interrupt may run meanwhile, writes no histogram.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "softirq-latency.h"
#include "maps.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SOFTIRQ_LATENCY_NR_VECTORS);
	__type(key, __u32);
	__type(value, __u64);
} softirq_raised_at SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SOFTIRQ_LATENCY_NR_VECTORS);
	__type(key, __u32);
	__type(value, __u64);
} softirq_entered_at SEC(".maps");

/* Slot vector * SOFTIRQ_LATENCY_SLOTS + bucket, the last slot of a vector its
 * sum; the reader rebuilds struct softirq_latency_key from the slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SOFTIRQ_LATENCY_NR_VECTORS *SOFTIRQ_LATENCY_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} softirq_latency_seconds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SOFTIRQ_LATENCY_NR_VECTORS *SOFTIRQ_LATENCY_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} softirq_runtime_seconds SEC(".maps");

static __always_inline int softirq_raise(__u32 vec)
{
	__u64 *raised = bpf_map_lookup_elem(&softirq_raised_at, &vec);

	/* Raising a pending vector again does not move its first raise. */
	if (raised && !*raised)
		*raised = bpf_ktime_get_ns();
	return 0;
}

/* Take the timestamp at VEC out of START_MAP and record the time since. */
static __always_inline void softirq_record(void *start_map, void *hist, __u32 vec, __u64 now)
{
	__u64 *start = bpf_map_lookup_elem(start_map, &vec);
	__u64 delta_ns;

	/* the lookup fails for a vector beyond the array: nothing recorded */
	if (!start || !*start)
		return;
	delta_ns = now > *start ? now - *start : 0;
	*start = 0;
	bb_hist_flat_exp2(hist, vec, SOFTIRQ_LATENCY_BUCKET_MAX, delta_ns);
}

static __always_inline int softirq_entry(__u32 vec)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 *entered = bpf_map_lookup_elem(&softirq_entered_at, &vec);

	softirq_record(&softirq_raised_at, &softirq_latency_seconds, vec, now);
	if (entered)
		*entered = now;
	return 0;
}

static __always_inline int softirq_exit(__u32 vec)
{
	softirq_record(&softirq_entered_at, &softirq_runtime_seconds, vec, bpf_ktime_get_ns());
	return 0;
}

/* hook softirq_raise: TP_PROTO(unsigned int vec_nr) */

SEC("tp_btf/softirq_raise")
int BPF_PROG(tp_btf_softirq_raise, unsigned int vec)
{
	return softirq_raise(vec);
}

SEC("raw_tp/softirq_raise")
int BPF_PROG(raw_tp_softirq_raise, unsigned int vec)
{
	return softirq_raise(vec);
}

SEC("tracepoint/irq/softirq_raise")
int tracepoint_softirq_raise(struct trace_event_raw_softirq *ctx)
{
	return softirq_raise(ctx->vec);
}

/* hook softirq_entry */

SEC("tp_btf/softirq_entry")
int BPF_PROG(tp_btf_softirq_entry, unsigned int vec)
{
	return softirq_entry(vec);
}

SEC("raw_tp/softirq_entry")
int BPF_PROG(raw_tp_softirq_entry, unsigned int vec)
{
	return softirq_entry(vec);
}

SEC("tracepoint/irq/softirq_entry")
int tracepoint_softirq_entry(struct trace_event_raw_softirq *ctx)
{
	return softirq_entry(ctx->vec);
}

/* hook softirq_exit */

SEC("tp_btf/softirq_exit")
int BPF_PROG(tp_btf_softirq_exit, unsigned int vec)
{
	return softirq_exit(vec);
}

SEC("raw_tp/softirq_exit")
int BPF_PROG(raw_tp_softirq_exit, unsigned int vec)
{
	return softirq_exit(vec);
}

SEC("tracepoint/irq/softirq_exit")
int tracepoint_softirq_exit(struct trace_event_raw_softirq *ctx)
{
	return softirq_exit(ctx->vec);
}

char LICENSE[] SEC("license") = "GPL";
