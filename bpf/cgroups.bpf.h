/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The cgroup filter of the per-cgroup programs (*-cgroup, syscalls-container):
 * cgroup_id_map holds the cgroup v2 ids the loader matched against the
 * config's regexps (`cgroup_id_map` in the YAML, docs/config.md), and keeps
 * it current as cgroups come and go. A program counts only the tasks of
 * those cgroups; everything else costs it one hash lookup.
 */
#ifndef BPFBRIDGE_CGROUPS_BPF_H
#define BPFBRIDGE_CGROUPS_BPF_H

#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} cgroup_id_map SEC(".maps");

/* Whether the loader matched CGROUP (a cgroup v2 id). */
static __always_inline bool bb_cgroup_matched(__u64 cgroup)
{
	return bpf_map_lookup_elem(&cgroup_id_map, &cgroup) != NULL;
}

/* The current task's cgroup v2 id when the loader matched it, else 0 (no
 * cgroup has id 0: the root's is 1). */
static __always_inline __u64 bb_current_cgroup_matched(void)
{
	__u64 cgroup = bpf_get_current_cgroup_id();

	return bb_cgroup_matched(cgroup) ? cgroup : 0;
}

#endif
