/* SPDX-License-Identifier: MIT */
/* Map layout of syscalls-container.bpf.c, as syscalls-container.yaml describes it. */
#ifndef BPFBRIDGE_SYSCALLS_CONTAINER_H
#define BPFBRIDGE_SYSCALLS_CONTAINER_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/*
 * The cgroup id twice: a label reads its own bytes of the key, and the YAML
 * decodes one copy into pod_uid and the other into container_id (regexp
 * capture groups over the cgroup's path).
 */
struct syscalls_container_key {
	__u64 pod_cgroup;	/* cgroup v2 id, bpf_get_current_cgroup_id() */
	__u64 container_cgroup; /* the same id */
	__u32 syscall;		/* the number of this architecture's native table */
	__u32 pad;
};

#endif
