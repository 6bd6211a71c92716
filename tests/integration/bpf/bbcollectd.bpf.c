// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only object for tests/integration/test_collectd.py.
 *
 * - hostile_total / hostile_seconds: filled by the test with bpftool, keyed
 *   by a 304-byte string label (invalid UTF-8, quotes, "/", "-", "=", 300
 *   bytes long) to push hostile labels through collectd's writers.
 * - churn_total / churn_seconds: LRU maps keyed by the pid argument of
 *   getpgid(): a test calling getpgid() with ever new arguments makes series
 *   appear and (evicted) disappear on every read.
 * Built at test time: clang -target bpf -I $BB_BUILD_DIR/bpf.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define HOSTILE_LEN 304
#define CHURN_BUCKET_MAX 3

struct hostile_key {
	char name[HOSTILE_LEN];
};

struct hostile_hist_key {
	char name[HOSTILE_LEN];
	u64 bucket;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct hostile_key);
	__type(value, u64);
} hostile_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct hostile_hist_key);
	__type(value, u64);
} hostile_seconds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32);
	__type(key, u32);
	__type(value, u64);
} churn_total SEC(".maps");

struct churn_hist_key {
	u32 arg;
	u32 pad;
	u64 bucket;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 64);
	__type(key, struct churn_hist_key);
	__type(value, u64);
} churn_seconds SEC(".maps");

static void add(void *map, void *key, u64 n)
{
	u64 *v = bpf_map_lookup_elem(map, key);

	if (v)
		__sync_fetch_and_add(v, n);
	else
		bpf_map_update_elem(map, key, &n, BPF_NOEXIST);
}

SEC("tracepoint/syscalls/sys_enter_getpgid")
int tp_getpgid(struct trace_event_raw_sys_enter *ctx)
{
	u32 arg = (u32)ctx->args[0];
	struct churn_hist_key hk = { .arg = arg, .bucket = arg % (CHURN_BUCKET_MAX + 1) };

	add(&churn_total, &arg, 1);
	add(&churn_seconds, &hk, 1);
	hk.bucket = CHURN_BUCKET_MAX + 1; /* the sum */
	add(&churn_seconds, &hk, arg % 16);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
