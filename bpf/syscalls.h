/* SPDX-License-Identifier: MIT */
/* Map layout of syscalls.bpf.c, as syscalls.yaml describes it. */
#ifndef BPFBRIDGE_SYSCALLS_H
#define BPFBRIDGE_SYSCALLS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Slots of syscalls_total, one per syscall number: x86_64 has about 460,
 * arm64 about 450. Higher numbers are not counted. */
#define SYSCALLS_NR_SLOTS 1024

/* syscalls_total is an array: its key is the syscall number itself. */
struct syscalls_key {
	__u32 syscall; /* the number of this architecture's native table */
};

struct syscall_errors_key {
	__u32 syscall;
	__u32 err; /* positive errno */
};

#endif
