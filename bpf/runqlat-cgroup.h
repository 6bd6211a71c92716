/* SPDX-License-Identifier: MIT */
/* Map layout of runqlat-cgroup.bpf.c, as runqlat-cgroup.yaml describes it. */
#ifndef BPFBRIDGE_RUNQLAT_CGROUP_H
#define BPFBRIDGE_RUNQLAT_CGROUP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* exp2 microseconds: the last finite bucket is le = 2^26 us (67 s). */
#define RUNQLAT_CGROUP_BUCKET_MAX 26

struct runqlat_cgroup_key {
	__u64 cgroup; /* cgroup v2 id of the task that waited */
	__u64 bucket;
};

#endif
