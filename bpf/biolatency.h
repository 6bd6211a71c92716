/* SPDX-License-Identifier: MIT */
/* Map layout of biolatency.bpf.c, as biolatency.yaml describes it. */
#ifndef BPFBRIDGE_BIOLATENCY_H
#define BPFBRIDGE_BIOLATENCY_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* exp2 microseconds: the last finite bucket is le = 2^26 us (67 s). */
#define BIOLATENCY_BUCKET_MAX 26

/* The `operation` label (static_map in biolatency.yaml). */
enum biolatency_op {
	BIOLATENCY_OP_READ = 0,
	BIOLATENCY_OP_WRITE = 1,
	BIOLATENCY_OP_FLUSH = 2,
	BIOLATENCY_OP_DISCARD = 3,
	BIOLATENCY_OP_OTHER = 4,
};

struct biolatency_key {
	__u32 dev; /* new_encode_dev(major, minor), what the majorminor decoder reads */
	__u32 op;  /* enum biolatency_op */
	__u64 bucket;
};

#endif
