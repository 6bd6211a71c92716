/* SPDX-License-Identifier: MIT */
/* Map layout of syscall-latency.bpf.c, as syscall-latency.yaml describes it. */
#ifndef BPFBRIDGE_SYSCALL_LATENCY_H
#define BPFBRIDGE_SYSCALL_LATENCY_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* exp2 microseconds: the last finite bucket is le = 2^26 us (67 s). */
#define SYSCALL_LATENCY_BUCKET_MAX 26

struct syscall_latency_key {
	__u32 syscall;
	__u32 pad; /* `padding: 4` in the YAML; always zero */
	__u64 bucket;
};

#endif
