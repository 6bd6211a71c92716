/* SPDX-License-Identifier: MIT */
/* Map layout of softirq-latency.bpf.c, as softirq-latency.yaml describes it. */
#ifndef BPFBRIDGE_SOFTIRQ_LATENCY_H
#define BPFBRIDGE_SOFTIRQ_LATENCY_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* exp2 nanoseconds: the last finite bucket is le = 2^30 ns (1.07 s). */
#define SOFTIRQ_LATENCY_BUCKET_MAX 30

/* HI_SOFTIRQ .. RCU_SOFTIRQ: the vectors the kernel has had since v4.x. */
#define SOFTIRQ_LATENCY_NR_VECTORS 10

/* Histogram slots per vector: buckets 0..BUCKET_MAX, then the sum. */
#define SOFTIRQ_LATENCY_SLOTS (SOFTIRQ_LATENCY_BUCKET_MAX + 2)

/* The key the reader rebuilds from a slot of a histogram's per-CPU array
 * (flat_index: vector = slot / SLOTS, bucket = slot % SLOTS). */
struct softirq_latency_key {
	__u32 vector; /* HI_SOFTIRQ (0) ... RCU_SOFTIRQ (9) */
	__u32 pad;    /* `padding: 4` in the YAML; always zero */
	__u64 bucket;
};

#endif
