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

/* Filled and kept current by the loader (cgroup_id_map in the YAML). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} cgroup_id_map SEC(".maps");

/* containers x syscalls: the config's max_series bounds what is reported. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct syscalls_container_key);
	__type(value, __u64);
} syscalls_by_container_total SEC(".maps");

static __always_inline int syscalls_container_exit(long id)
{
	struct syscalls_container_key key = {};

	if (id < 0)
		return 0;
	key.container_cgroup = bpf_get_current_cgroup_id();
	if (!bpf_map_lookup_elem(&cgroup_id_map, &key.container_cgroup))
		return 0;
	key.pod_cgroup = key.container_cgroup;
	key.syscall = id;
	bb_counter_inc(&syscalls_by_container_total, &key);
	return 0;
}

/* hook sys_exit: TP_PROTO(struct pt_regs *regs, long ret) */

SEC("tp_btf/sys_exit")
int BPF_PROG(tp_btf_sys_exit, struct pt_regs *regs, long ret)
{
	return syscalls_container_exit(bb_pt_regs_syscall_nr(regs));
}

SEC("raw_tp/sys_exit")
int BPF_PROG(raw_tp_sys_exit, struct pt_regs *regs, long ret)
{
	return syscalls_container_exit(bb_pt_regs_syscall_nr(regs));
}

SEC("tracepoint/raw_syscalls/sys_exit")
int tracepoint_sys_exit(struct trace_event_raw_sys_exit *ctx)
{
	return syscalls_container_exit(ctx->id);
}

char LICENSE[] SEC("license") = "GPL";
