/* SPDX-License-Identifier: MIT */
/* Map layout of biolatency-cgroup.bpf.c, as biolatency-cgroup.yaml describes it. */
#ifndef BPFBRIDGE_BIOLATENCY_CGROUP_H
#define BPFBRIDGE_BIOLATENCY_CGROUP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* exp2 microseconds: the last finite bucket is le = 2^26 us (67 s). */
#define BIOLATENCY_CGROUP_BUCKET_MAX 26

#include "biolatency.h" /* enum biolatency_op: the `operation` label */

struct biolatency_cgroup_key {
	__u64 cgroup; /* cgroup v2 id of the task that submitted the request */
	__u32 dev;    /* new_encode_dev(major, minor), what the majorminor decoder reads */
	__u32 op;     /* enum biolatency_op, as in biolatency.h */
	__u64 bucket;
};

#endif
