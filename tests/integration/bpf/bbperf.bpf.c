// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only object: a perf_event program in ebpf_exporter's section syntax,
 * sampling the software cpu-clock at 99 Hz on every CPU. See
 * tests/integration/test_engine.py.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} cpu_clock_samples_total SEC(".maps");

/* PERF_TYPE_SOFTWARE = 1, PERF_COUNT_SW_CPU_CLOCK = 0 */
SEC("perf_event/type=1,config=0,frequency=99")
int cpu_clock_sample(struct bpf_perf_event_data *ctx)
{
	u32 zero = 0;
	u64 *v = bpf_map_lookup_elem(&cpu_clock_samples_total, &zero);

	if (v)
		*v += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
