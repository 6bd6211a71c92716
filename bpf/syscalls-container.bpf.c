// SPDX-License-Identifier: GPL-2.0-only
/*
 * Syscall counts per container: one increment of syscalls_by_container_total
 * per syscall exit of a task whose cgroup the loader put in cgroup_id_map
 * (the config's regexps: the container runtimes' cgroup names). The YAML
 * turns the cgroup's path into pod_uid and container_id labels.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "syscalls-container.h"
#include "core_fixes.bpf.h"
#include "maps.bpf.h"
#include "cgroups.bpf.h"
#include "syscall_hooks.bpf.h"

/* containers x syscalls: the config's max_series bounds what is reported. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct syscalls_container_key);
	__type(value, __u64);
} syscalls_by_container_total SEC(".maps");

static __always_inline int syscalls_container_exit(long id, long ret)
{
	struct syscalls_container_key key = {};

	if (id < 0)
		return 0;
	key.container_cgroup = bb_current_cgroup_matched();
	if (!key.container_cgroup)
		return 0;
	key.pod_cgroup = key.container_cgroup;
	key.syscall = id;
	bb_counter_inc(&syscalls_by_container_total, &key);
	return 0;
}

BB_SYS_EXIT_PROGRAMS(syscalls_container_exit)

char LICENSE[] SEC("license") = "GPL";
