// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only object: uprobes, for the loader's probing of BINARY:FUNCTION
 * sections (the binary is found, the symbol looked up in its ELF symbols).
 * See tests/integration/test_engine.py.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} getpid_calls_total SEC(".maps");

static int count(void)
{
	u32 zero = 0;
	u64 *v = bpf_map_lookup_elem(&getpid_calls_total, &zero);

	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

SEC("uprobe/libc.so.6:bbtest_no_such_function")
int uprobe_missing_symbol(void *ctx)
{
	return count();
}

SEC("uprobe//nonexistent/bbtest-binary:main")
int uprobe_missing_binary(void *ctx)
{
	return count();
}

SEC("uprobe/libc.so.6:getpid")
int uprobe_getpid(void *ctx)
{
	return count();
}

char LICENSE[] SEC("license") = "GPL";
