// SPDX-License-Identifier: GPL-2.0-only
/*
 * Bench only: the work of bpf/syscalls.bpf.c's sys_exit program, done the
 * cheapest way this bench knows, to measure how much of the shipped
 * program's cost is its map and helper choices:
 *   - the syscall number read straight from the BTF-typed pt_regs (tp_btf
 *     allows it) instead of a bpf_probe_read_kernel() helper call;
 *   - a per-CPU array indexed by syscall number, whose lookup the verifier
 *     inlines, instead of a per-CPU hash (hashing, bucket walk, and an
 *     insert on first use);
 *   - a plain increment: a tp_btf program does not nest on one CPU.
 * Errors go to the same hash as the shipped program (getppid never fails).
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define NR_SLOTS 1024

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NR_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} syscalls_total SEC(".maps");

struct errors_key {
	__u32 syscall;
	__u32 err;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct errors_key);
	__type(value, __u64);
} syscall_errors_total SEC(".maps");

SEC("tp_btf/sys_exit")
int BPF_PROG(tp_btf_sys_exit, struct pt_regs *regs, long ret)
{
	__u32 id = (__u32)regs->orig_ax;
	__u64 *v;

	if (id >= NR_SLOTS)
		return 0;
	v = bpf_map_lookup_elem(&syscalls_total, &id);
	if (v)
		(*v)++;
	if (ret < 0 && ret >= -4095) {
		struct errors_key k = { .syscall = id, .err = -ret };
		__u64 one = 1, *e = bpf_map_lookup_elem(&syscall_errors_total, &k);

		if (e)
			__sync_fetch_and_add(e, 1);
		else
			bpf_map_update_elem(&syscall_errors_total, &k, &one, BPF_NOEXIST);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
