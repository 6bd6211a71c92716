/* SPDX-License-Identifier: MIT */
/* Map layout of syscalls.bpf.c, as syscalls.yaml describes it. */
#ifndef BPFBRIDGE_SYSCALLS_H
#define BPFBRIDGE_SYSCALLS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

struct syscalls_key {
	__u32 syscall; /* the number of this architecture's native table */
};

struct syscall_errors_key {
	__u32 syscall;
	__u32 err; /* positive errno */
};

#endif
