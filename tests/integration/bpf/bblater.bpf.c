// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only object: a uprobe on a binary found through PATH that the test
 * installs only after the config was opened once, for the loader's rule that
 * a failed probe is not remembered past the opens running at the same time:
 * the hook's first alternative, with a fallback that counts nothing.
 * See tests/integration/test_runtime_config.py.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} later_calls_total SEC(".maps");

SEC("uprobe/bbtest-later:bbtest_later_mark")
int uprobe_later(void *ctx)
{
	u32 zero = 0;
	u64 *v = bpf_map_lookup_elem(&later_calls_total, &zero);

	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

SEC("raw_tp/task_rename")
int fallback_rename(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
