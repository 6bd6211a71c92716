/* SPDX-License-Identifier: MIT */
/* Map layout of kmalloc.bpf.c, as kmalloc.yaml describes it. */
#ifndef BPFBRIDGE_KMALLOC_H
#define BPFBRIDGE_KMALLOC_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* exp2 bytes: the last finite bucket is le = 2^24 bytes (16 MiB), above
 * KMALLOC_MAX_SIZE on common configurations. */
#define KMALLOC_BUCKET_MAX 24

/* kmalloc_size_bytes is a per-CPU array indexed by the u32 bucket: slots
 * 0..KMALLOC_BUCKET_MAX, then the sum. */
#define KMALLOC_SLOTS (KMALLOC_BUCKET_MAX + 2)

#endif
