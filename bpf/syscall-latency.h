/* SPDX-License-Identifier: MIT */
/* Map layout of syscall-latency.bpf.c, as syscall-latency.yaml describes it. */
#ifndef BPFBRIDGE_SYSCALL_LATENCY_H
#define BPFBRIDGE_SYSCALL_LATENCY_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* exp2 microseconds: the last finite bucket is le = 2^26 us (67 s). */
#define SYSCALL_LATENCY_BUCKET_MAX 26

/* Histogram slots per syscall number: buckets 0..BUCKET_MAX, then the sum. */
#define SYSCALL_LATENCY_SLOTS (SYSCALL_LATENCY_BUCKET_MAX + 2)

/* Syscall numbers with a histogram: x86_64 has about 460, arm64 about 450.
 * Higher numbers are not observed (as in syscalls.h). */
#define SYSCALL_LATENCY_NR_SYSCALLS 512

/* The key the reader rebuilds from a slot of the per-CPU array (flat_index:
 * syscall = slot / SLOTS, bucket = slot % SLOTS), as the YAML's labels say. */
struct syscall_latency_key {
	__u32 syscall;
	__u32 pad; /* `padding: 4` in the YAML; always zero */
	__u64 bucket;
};

#endif
