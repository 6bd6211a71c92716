// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only object for tests/integration/test_cgroups.py: counts the marker
 * syscall (ioprio_get, nr 252) per cgroup id, and again only for the cgroups
 * the loader put in cgroup_id_map (type hash) or in cgroup_storage (type
 * cgrp_storage). Two configs share this object, one per map type.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "maps.bpf.h" /* bb_counter_inc */

#define MARKER_NR 252

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u64);
	__type(value, u64);
} cgroup_id_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGRP_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, u64);
} cgroup_storage SEC(".maps");

/* every marker call, by cgroup */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u64);
	__type(value, u64);
} marker_by_cgroup_total SEC(".maps");

/* only those from a cgroup in cgroup_id_map */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u64);
	__type(value, u64);
} marker_hash_matched_total SEC(".maps");

/* only those from a cgroup with a cgroup_storage entry */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u64);
	__type(value, u64);
} marker_storage_matched_total SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(marker_by_cgroup, struct pt_regs *regs, long nr)
{
	struct task_struct *task;
	u64 id, *ok;

	if (nr != MARKER_NR)
		return 0;
	id = bpf_get_current_cgroup_id();
	bb_counter_inc(&marker_by_cgroup_total, &id);
	if (bpf_map_lookup_elem(&cgroup_id_map, &id))
		bb_counter_inc(&marker_hash_matched_total, &id);
	task = bpf_get_current_task_btf();
	ok = bpf_cgrp_storage_get(&cgroup_storage, task->cgroups->dfl_cgrp, 0, 0);
	if (ok && *ok)
		bb_counter_inc(&marker_storage_matched_total, &id);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
