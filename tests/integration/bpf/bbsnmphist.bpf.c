// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only object for tests/integration/test_snmp.py: two histogram maps and
 * no program. The test writes random series into them with bpftool, so the
 * SNMP bucket table can be walked at shapes chosen by the test.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct hist_key {
	u32 id;
	u32 pad;
	u64 bucket;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct hist_key);
	__type(value, u64);
} snmp_hist_a_seconds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct hist_key);
	__type(value, u64);
} snmp_hist_b_seconds SEC(".maps");

char LICENSE[] SEC("license") = "GPL";
