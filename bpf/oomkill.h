/* SPDX-License-Identifier: MIT */
/* Map layout of oomkill.bpf.c, as oomkill.yaml describes it. */
#ifndef BPFBRIDGE_OOMKILL_H
#define BPFBRIDGE_OOMKILL_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* The kernel's enum oom_constraint is 0..3; the tracepoint path cannot see it. */
#define OOMKILL_CONSTRAINT_UNKNOWN 255

struct oomkill_key {
	__u32 constraint; /* enum oom_constraint, or OOMKILL_CONSTRAINT_UNKNOWN */
};

#endif
