// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only object: a second config with a post_attach_mark uprobe, loaded
 * beside bbcompat in one process, to check that each config's
 * initialization runs once (tests/integration/test_compat.py).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} mark_calls_total SEC(".maps");

SEC("uprobe//proc/self/exe:post_attach_mark")
int mark_init(void *ctx)
{
	u32 zero = 0;
	u64 *v = bpf_map_lookup_elem(&mark_calls_total, &zero);

	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
