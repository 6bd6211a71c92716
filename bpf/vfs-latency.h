/* SPDX-License-Identifier: MIT */
/* Map layout of vfs-latency.bpf.c, as vfs-latency.yaml describes it. */
#ifndef BPFBRIDGE_VFS_LATENCY_H
#define BPFBRIDGE_VFS_LATENCY_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* exp2 microseconds: the last finite bucket is le = 2^26 us (67 s). */
#define VFS_LATENCY_BUCKET_MAX 26

enum vfs_latency_op {
	VFS_LATENCY_OP_READ = 0,
	VFS_LATENCY_OP_WRITE = 1,
};

struct vfs_latency_key {
	__u32 op;  /* enum vfs_latency_op */
	__u32 pad; /* `padding: 4` in the YAML; always zero */
	__u64 bucket;
};

#endif
