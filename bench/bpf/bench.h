/* SPDX-License-Identifier: MIT */
/* Map layouts of the bench-only objects, shared with bench/bbbench.c. */
#ifndef BPFBRIDGE_BENCH_H
#define BPFBRIDGE_BENCH_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* bench_counter.bpf.c: the counter read by the read-cost benchmark. */
struct bench_series_key {
	__u32 id;
	__u32 shard;
};

/* bench_hist.bpf.c: the histogram behind the SNMP bucket-table benchmark. */
#define BENCH_HIST_BUCKET_MAX 8 /* exp2, le = 1..256: 9 finite buckets + +Inf */

/* bench_hist27.bpf.c: the histogram of the read-cost benchmark (same key layout). */
#define BENCH_HIST27_BUCKET_MAX 26 /* exp2: 27 finite buckets, every one filled */

struct bench_hist_key {
	__u32 id;
	__u32 pad;
	__u64 bucket;
};

#endif
