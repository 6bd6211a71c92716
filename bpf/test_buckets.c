/* SPDX-License-Identifier: MIT */
/*
 * buckets.h against the bucket contract of core/hist.h: every value must land
 * in the one bucket whose `le` bound is the smallest that is >= the value.
 * Flooring log2 (ebpf_exporter issue #488) fails check_exp2(3).
 */
#include <linux/types.h>
#include <inttypes.h>
#include <stdio.h>

#include "buckets.h"

static int failures;

#define CHECK(cond, ...)                              \
	do {                                          \
		if (!(cond)) {                        \
			failures++;                   \
			fprintf(stderr, __VA_ARGS__); \
		}                                     \
	} while (0)

/* le of an exp2 key i is 2^i: the key holds v iff 2^(i-1) < v <= 2^i (v <= 1: key 0). */
static void check_exp2(__u64 v)
{
	__u64 k = bb_exp2_key(v);

	CHECK(k <= 64, "exp2: v=%" PRIu64 " key %" PRIu64 " > 64\n", (uint64_t)v, (uint64_t)k);
	if (k > 64)
		return;
	if (k < 64)
		CHECK(v <= (1ULL << k), "exp2: v=%" PRIu64 " above le=2^%" PRIu64 "\n", (uint64_t)v,
		      (uint64_t)k);
	if (k > 0)
		CHECK(v > (1ULL << (k - 1)), "exp2: v=%" PRIu64 " fits le=2^%" PRIu64 " already\n",
		      (uint64_t)v, (uint64_t)(k - 1));
	else
		CHECK(v <= 1, "exp2: v=%" PRIu64 " in key 0\n", (uint64_t)v);
}

/* exp2zero: key 0 holds only 0; key i >= 1 has le 2^(i-1). */
static void check_exp2zero(__u64 v)
{
	__u64 k = bb_exp2zero_key(v);

	if (v == 0) {
		CHECK(k == 0, "exp2zero: v=0 in key %" PRIu64 "\n", (uint64_t)k);
		return;
	}
	CHECK(k >= 1 && k <= 65, "exp2zero: v=%" PRIu64 " key %" PRIu64 "\n", (uint64_t)v,
	      (uint64_t)k);
	if (k < 1 || k > 65)
		return;
	if (k - 1 < 64)
		CHECK(v <= (1ULL << (k - 1)), "exp2zero: v=%" PRIu64 " above le=2^%" PRIu64 "\n",
		      (uint64_t)v, (uint64_t)(k - 1));
	if (k >= 2)
		CHECK(v > (1ULL << (k - 2)), "exp2zero: v=%" PRIu64 " fits le=2^%" PRIu64 "\n",
		      (uint64_t)v, (uint64_t)(k - 2));
}

static void check_value(__u64 v)
{
	check_exp2(v);
	check_exp2zero(v);
	CHECK(bb_linear_key(v) == v, "linear: v=%" PRIu64 "\n", (uint64_t)v);
}

int main(void)
{
	__u64 v;
	int i;

	for (v = 0; v <= (1 << 20); v++)
		check_value(v);
	/* Both sides of every power of two, up to the largest u64. */
	for (i = 1; i < 64; i++) {
		check_value((1ULL << i) - 1);
		check_value(1ULL << i);
		check_value((1ULL << i) + 1);
	}
	check_value(~0ULL);

	/* The values of the #488 report, spelled out. */
	CHECK(bb_exp2_key(0) == 0 && bb_exp2_key(1) == 0, "exp2: 0 and 1 belong in key 0\n");
	CHECK(bb_exp2_key(2) == 1, "exp2: 2 belongs in key 1 (le=2)\n");
	CHECK(bb_exp2_key(3) == 2, "exp2: 3 belongs in key 2 (le=4), not key 1\n");
	CHECK(bb_exp2_key(4) == 2, "exp2: 4 belongs in key 2 (le=4)\n");
	CHECK(bb_exp2_key(5) == 3, "exp2: 5 belongs in key 3 (le=8)\n");
	CHECK(bb_exp2_key(~0ULL) == 64, "exp2: 2^64-1 belongs in key 64\n");
	CHECK(bb_exp2zero_key(1) == 1 && bb_exp2zero_key(2) == 2 && bb_exp2zero_key(3) == 3,
	      "exp2zero: 1, 2, 3 belong in keys 1, 2, 3 (le 1, 2, 4)\n");

	CHECK(bb_clamp_key(27, 26) == 26 && bb_clamp_key(26, 26) == 26 && bb_clamp_key(3, 26) == 3,
	      "clamp: keys above bucket_max go to bucket_max\n");

	if (failures) {
		fprintf(stderr, "test_buckets: %d failures\n", failures);
		return 1;
	}
	printf("test_buckets: ok\n");
	return 0;
}
