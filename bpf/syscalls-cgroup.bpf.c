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

/* Filled and kept current by the loader (cgroup_id_map in the YAML). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} cgroup_id_map SEC(".maps");

/* cgroups x syscalls: sized for a busy node; the config's max_series bounds
 * what is reported. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct syscalls_cgroup_key);
	__type(value, __u64);
} syscalls_by_cgroup_total SEC(".maps");

static __always_inline int syscalls_cgroup_exit(long id)
{
	struct syscalls_cgroup_key key = {};

	if (id < 0)
		return 0;
	key.cgroup = bpf_get_current_cgroup_id();
	if (!bpf_map_lookup_elem(&cgroup_id_map, &key.cgroup))
		return 0;
	key.syscall = id;
	bb_counter_inc(&syscalls_by_cgroup_total, &key);
	return 0;
}

/* hook sys_exit: TP_PROTO(struct pt_regs *regs, long ret) */

SEC("tp_btf/sys_exit")
int BPF_PROG(tp_btf_sys_exit, struct pt_regs *regs, long ret)
{
	return syscalls_cgroup_exit(bb_pt_regs_syscall_nr(regs));
}

SEC("raw_tp/sys_exit")
int BPF_PROG(raw_tp_sys_exit, struct pt_regs *regs, long ret)
{
	return syscalls_cgroup_exit(bb_pt_regs_syscall_nr(regs));
}

SEC("tracepoint/raw_syscalls/sys_exit")
int tracepoint_sys_exit(struct trace_event_raw_sys_exit *ctx)
{
	return syscalls_cgroup_exit(ctx->id);
}

char LICENSE[] SEC("license") = "GPL";
