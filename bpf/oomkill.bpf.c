// SPDX-License-Identifier: GPL-2.0-only
/* OOM kills, per OOM constraint (global, cpuset, mempolicy, memory cgroup). */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "oomkill.h"
#include "maps.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct oomkill_key);
	__type(value, __u64);
} oom_kills_total SEC(".maps");

static __always_inline int oomkill_count(__u32 constraint)
{
	struct oomkill_key key = {};

	key.constraint = constraint;
	bb_counter_inc(&oom_kills_total, &key);
	return 0;
}

/* hook oom_kill: the kprobe sees the oom_control, so it knows the constraint;
 * mark_victim only says that a victim was chosen. */

SEC("kprobe/oom_kill_process")
int BPF_KPROBE(kprobe_oom_kill_process, struct oom_control *oc)
{
	return oomkill_count(BPF_CORE_READ(oc, constraint));
}

SEC("tracepoint/oom/mark_victim")
int tracepoint_mark_victim(void *ctx)
{
	return oomkill_count(OOMKILL_CONSTRAINT_UNKNOWN);
}

char LICENSE[] SEC("license") = "GPL";
