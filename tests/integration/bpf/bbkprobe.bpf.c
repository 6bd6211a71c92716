// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only object: a plain kprobe outside any hook, to check what bpfbridge
 * says on a kernel without kprobes (tests/integration/test_compat.py).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} nanosleep_calls_total SEC(".maps");

SEC("kprobe/do_nanosleep")
int kprobe_nanosleep(void *ctx)
{
	u32 zero = 0;
	u64 *v = bpf_map_lookup_elem(&nanosleep_calls_total, &zero);

	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
