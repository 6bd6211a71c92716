// SPDX-License-Identifier: GPL-2.0-only
/* VFS read and write latency: the time spent in vfs_read() and vfs_write(). */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "vfs-latency.h"
#include "maps.bpf.h"

/* Entry time (ns) by pid_tgid: a thread is in at most one vfs_read() or
 * vfs_write() at a time. LRU: entries of threads killed inside age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64);
	__type(value, __u64);
} vfs_latency_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct vfs_latency_key);
	__type(value, __u64);
} vfs_latency_seconds SEC(".maps");

static __always_inline int vfs_latency_enter(void)
{
	__u64 tid = bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_ns();

	bpf_map_update_elem(&vfs_latency_start, &tid, &now, BPF_ANY);
	return 0;
}

static __always_inline int vfs_latency_exit(__u32 op)
{
	__u64 tid = bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_ns();
	struct vfs_latency_key key = {};
	__u64 *entered, delta_us;

	entered = bpf_map_lookup_elem(&vfs_latency_start, &tid);
	if (!entered)
		return 0;
	delta_us = now > *entered ? (now - *entered) / 1000 : 0;
	bpf_map_delete_elem(&vfs_latency_start, &tid);
	key.op = op;
	bb_hist_exp2(&vfs_latency_seconds, &key, &key.bucket, VFS_LATENCY_BUCKET_MAX, delta_us);
	return 0;
}

/* hook vfs_read: fentry + fexit, or kprobe + kretprobe, loaded as a pair */

SEC("fentry/vfs_read")
int BPF_PROG(fentry_vfs_read)
{
	return vfs_latency_enter();
}

SEC("fexit/vfs_read")
int BPF_PROG(fexit_vfs_read)
{
	return vfs_latency_exit(VFS_LATENCY_OP_READ);
}

SEC("kprobe/vfs_read")
int BPF_KPROBE(kprobe_vfs_read)
{
	return vfs_latency_enter();
}

SEC("kretprobe/vfs_read")
int BPF_KRETPROBE(kretprobe_vfs_read)
{
	return vfs_latency_exit(VFS_LATENCY_OP_READ);
}

/* hook vfs_write: the same, for vfs_write() */

SEC("fentry/vfs_write")
int BPF_PROG(fentry_vfs_write)
{
	return vfs_latency_enter();
}

SEC("fexit/vfs_write")
int BPF_PROG(fexit_vfs_write)
{
	return vfs_latency_exit(VFS_LATENCY_OP_WRITE);
}

SEC("kprobe/vfs_write")
int BPF_KPROBE(kprobe_vfs_write)
{
	return vfs_latency_enter();
}

SEC("kretprobe/vfs_write")
int BPF_KRETPROBE(kretprobe_vfs_write)
{
	return vfs_latency_exit(VFS_LATENCY_OP_WRITE);
}

char LICENSE[] SEC("license") = "GPL";
