/* SPDX-License-Identifier: MIT */
/* Map layout of biolatency-cgroup.bpf.c, as biolatency-cgroup.yaml describes it. */
#ifndef BPFBRIDGE_BIOLATENCY_CGROUP_H
#define BPFBRIDGE_BIOLATENCY_CGROUP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* exp2 microseconds: the last finite bucket is le = 2^26 us (67 s). */
#define BIOLATENCY_CGROUP_BUCKET_MAX 26

/* The `operation` label (static_map in biolatency-cgroup.yaml), as in biolatency.h. */
enum biolatency_cgroup_op {
	BIOLATENCY_CGROUP_OP_READ = 0,
	BIOLATENCY_CGROUP_OP_WRITE = 1,
	BIOLATENCY_CGROUP_OP_FLUSH = 2,
	BIOLATENCY_CGROUP_OP_DISCARD = 3,
	BIOLATENCY_CGROUP_OP_OTHER = 4,
};

struct biolatency_cgroup_key {
	__u64 cgroup; /* cgroup v2 id of the task that submitted the request */
	__u32 dev;    /* new_encode_dev(major, minor), what the majorminor decoder reads */
	__u32 op;     /* enum biolatency_cgroup_op */
	__u64 bucket;
};

#endif
