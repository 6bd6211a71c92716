// SPDX-License-Identifier: GPL-2.0-only
/*
 * Syscall counts per cgroup (container, pod, service): one increment of
 * syscalls_by_cgroup_total per syscall exit of a task whose cgroup the loader
 * put in cgroup_id_map (the config's regexps choose which).
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "syscalls-cgroup.h"
#include "core_fixes.bpf.h"
#include "maps.bpf.h"
#include "cgroups.bpf.h"
#include "syscall_hooks.bpf.h"

/* cgroups x syscalls: sized for a busy node; the config's max_series bounds
 * what is reported. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct syscalls_cgroup_key);
	__type(value, __u64);
} syscalls_by_cgroup_total SEC(".maps");

static __always_inline int syscalls_cgroup_exit(long id, long ret)
{
	struct syscalls_cgroup_key key = {};

	if (id < 0)
		return 0;
	key.cgroup = bb_current_cgroup_matched();
	if (!key.cgroup)
		return 0;
	key.syscall = id;
	bb_counter_inc(&syscalls_by_cgroup_total, &key);
	return 0;
}

BB_SYS_EXIT_PROGRAMS(syscalls_cgroup_exit)

char LICENSE[] SEC("license") = "GPL";
