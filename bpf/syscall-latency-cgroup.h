/* SPDX-License-Identifier: MIT */
/* Map layout of syscall-latency-cgroup.bpf.c, as syscall-latency-cgroup.yaml describes it. */
#ifndef BPFBRIDGE_SYSCALL_LATENCY_CGROUP_H
#define BPFBRIDGE_SYSCALL_LATENCY_CGROUP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* exp2 microseconds: the last finite bucket is le = 2^26 us (67 s). */
#define SYSCALL_LATENCY_CGROUP_BUCKET_MAX 26

struct syscall_latency_cgroup_key {
	__u64 cgroup;  /* cgroup v2 id at sys_enter, bpf_get_current_cgroup_id() */
	__u32 syscall; /* the number of this architecture's native table */
	__u32 pad;     /* `padding: 4` in the YAML; always zero */
	__u64 bucket;
};

#endif
