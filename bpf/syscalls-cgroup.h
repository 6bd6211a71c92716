/* SPDX-License-Identifier: MIT */
/* Map layout of syscalls-cgroup.bpf.c, as syscalls-cgroup.yaml describes it. */
#ifndef BPFBRIDGE_SYSCALLS_CGROUP_H
#define BPFBRIDGE_SYSCALLS_CGROUP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

struct syscalls_cgroup_key {
	__u64 cgroup;  /* cgroup v2 id, bpf_get_current_cgroup_id() */
	__u32 syscall; /* the number of this architecture's native table */
	__u32 pad;
};

#endif
