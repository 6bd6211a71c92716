/* SPDX-License-Identifier: MIT */
/* Map layout of runqlat.bpf.c, as runqlat.yaml describes it. */
#ifndef BPFBRIDGE_RUNQLAT_H
#define BPFBRIDGE_RUNQLAT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* exp2 microseconds: the last finite bucket is le = 2^26 us (67 s). */
#define RUNQLAT_BUCKET_MAX 26

/* run_queue_latency_seconds is a per-CPU array indexed by the u32 bucket:
 * slots 0..RUNQLAT_BUCKET_MAX, then the sum. */
#define RUNQLAT_SLOTS (RUNQLAT_BUCKET_MAX + 2)

#endif
