/* SPDX-License-Identifier: MIT */
/* Histogram bounds and assembly: exact bounds, counts and sums for every bucket type. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "log.h"
#include "snapshot.h"

#define assert_double_exact(a, b)                                                    \
	do {                                                                         \
		double a_ = (a), b_ = (b);                                           \
		if (a_ != b_)                                                        \
			fail_msg("%s = %.17g, expected %s = %.17g", #a, a_, #b, b_); \
	} while (0)

/* Capture what the core logs, so error paths can be checked for a useful message. */
static char last_log[1024];
static int n_logs;

static void capture_log(enum bb_log_level level, const char *msg, void *ctx)
{
	snprintf(last_log, sizeof(last_log), "%s", msg);
	n_logs++;
}

static int setup_log(void **state)
{
	bb_log_set_sink(capture_log, NULL);
	last_log[0] = '\0';
	n_logs = 0;
	return 0;
}

static struct bb_metric_conf range_hist(enum bb_bucket_type type, int64_t min, int64_t max,
					double mult)
{
	struct bb_metric_conf m = { 0 };

	m.kind = BB_METRIC_HISTOGRAM;
	m.name = "test_seconds";
	m.help = "test";
	m.bucket_type = type;
	m.bucket_min = min;
	m.bucket_max = max;
	m.bucket_multiplier = mult;
	return m;
}

static struct bb_metric_conf fixed_hist(double *keys, size_t n, double mult)
{
	struct bb_metric_conf m = range_hist(BB_BUCKET_FIXED, 0, 0, mult);

	m.bucket_keys = keys;
	m.n_bucket_keys = n;
	return m;
}

/* A snapshot with one histogram family for M and one series without labels. */
struct hist_fixture {
	struct bb_snapshot *snap;
	struct bb_family *fam;
	struct bb_series *s;
};

static void fixture_init(struct hist_fixture *fx, const struct bb_metric_conf *m)
{
	double *le;
	int64_t *raw;
	size_t n;

	assert_int_equal(bb_hist_bounds(m, &le, &raw, &n), 0);
	fx->snap = bb_snapshot_new();
	assert_non_null(fx->snap);
	fx->fam = bb_snapshot_family(fx->snap, m->name, m->help, BB_METRIC_HISTOGRAM, NULL, 0);
	assert_non_null(fx->fam);
	assert_int_equal(bb_family_set_buckets(fx->fam, le, raw, n, m->bucket_multiplier), 0);
	free(le);
	free(raw);
	fx->s = bb_family_add_series(fx->fam, NULL);
	assert_non_null(fx->s);
}

static void fixture_fini(struct hist_fixture *fx)
{
	bb_snapshot_unref(fx->snap);
}

static void assert_buckets(const struct bb_series *s, const uint64_t *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s->buckets[i] != want[i])
			fail_msg("bucket %zu = %llu, expected %llu", i,
				 (unsigned long long)s->buckets[i], (unsigned long long)want[i]);
}

/* ---- bounds ------------------------------------------------------------- */

static void test_bounds_exp2(void **state)
{
	struct bb_metric_conf m = range_hist(BB_BUCKET_EXP2, 0, 3, 1e-6);
	double *le;
	int64_t *raw;
	size_t n;

	assert_int_equal(bb_hist_bounds(&m, &le, &raw, &n), 0);
	assert_int_equal(n, 4);
	assert_double_exact(le[0], 1e-6);
	assert_double_exact(le[1], 2e-6);
	assert_double_exact(le[2], 4e-6);
	assert_double_exact(le[3], 8e-6);
	assert_int_equal(raw[0], 1);
	assert_int_equal(raw[1], 2);
	assert_int_equal(raw[2], 4);
	assert_int_equal(raw[3], 8);
	free(le);
	free(raw);

	/* bucket_min > 0, and multiplier 0 means 1.0 */
	m = range_hist(BB_BUCKET_EXP2, 2, 5, 0);
	assert_int_equal(bb_hist_bounds(&m, &le, &raw, &n), 0);
	assert_int_equal(n, 4);
	assert_double_exact(le[0], 4);
	assert_double_exact(le[3], 32);
	assert_int_equal(raw[0], 4);
	assert_int_equal(raw[3], 32);
	free(le);
	free(raw);

	/* the largest exp2 bound an int64 holds */
	m = range_hist(BB_BUCKET_EXP2, 60, 62, 1);
	assert_int_equal(bb_hist_bounds(&m, &le, &raw, &n), 0);
	assert_int_equal(n, 3);
	assert_true(raw[2] == INT64_C(4611686018427387904));
	assert_double_exact(le[2], 4611686018427387904.0);
	free(le);
	free(raw);
}

static void test_bounds_exp2zero(void **state)
{
	struct bb_metric_conf m = range_hist(BB_BUCKET_EXP2ZERO, 0, 4, 1e-3);
	const int64_t want_raw[] = { 0, 1, 2, 4, 8 };
	double *le;
	int64_t *raw;
	size_t n;

	assert_int_equal(bb_hist_bounds(&m, &le, &raw, &n), 0);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(raw[i], want_raw[i]);
		assert_double_exact(le[i], (double)want_raw[i] * 1e-3);
	}
	assert_double_exact(le[0], 0);
	assert_double_exact(le[1], 0.001);
	free(le);
	free(raw);

	m = range_hist(BB_BUCKET_EXP2ZERO, 1, 63, 1);
	assert_int_equal(bb_hist_bounds(&m, &le, &raw, &n), 0);
	assert_int_equal(n, 63);
	assert_int_equal(raw[0], 1);
	assert_true(raw[62] == INT64_C(4611686018427387904));
	free(le);
	free(raw);
}

static void test_bounds_linear(void **state)
{
	struct bb_metric_conf m = range_hist(BB_BUCKET_LINEAR, 0, 3, 0.5);
	double *le;
	int64_t *raw;
	size_t n;

	assert_int_equal(bb_hist_bounds(&m, &le, &raw, &n), 0);
	assert_int_equal(n, 4);
	assert_double_exact(le[0], 0);
	assert_double_exact(le[1], 0.5);
	assert_double_exact(le[2], 1);
	assert_double_exact(le[3], 1.5);
	for (int64_t i = 0; i < 4; i++)
		assert_int_equal(raw[i], i);
	free(le);
	free(raw);

	m = range_hist(BB_BUCKET_LINEAR, 5, 7, 0);
	assert_int_equal(bb_hist_bounds(&m, &le, &raw, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(raw[0], 5);
	assert_int_equal(raw[2], 7);
	assert_double_exact(le[0], 5);
	assert_double_exact(le[2], 7);
	free(le);
	free(raw);
}

static void test_bounds_fixed(void **state)
{
	double keys[] = { 100, 1000, 250000, 1000000 };
	struct bb_metric_conf m = fixed_hist(keys, 4, 1e-6);
	double *le;
	int64_t *raw;
	size_t n;

	assert_int_equal(bb_hist_bounds(&m, &le, &raw, &n), 0);
	assert_int_equal(n, 4);
	/* le = key * multiplier, the same product ebpf_exporter computes */
	assert_double_exact(le[0], 100 * 1e-6);
	assert_double_exact(le[1], 1000 * 1e-6);
	assert_double_exact(le[2], 0.25);
	assert_double_exact(le[3], 1);
	assert_int_equal(raw[0], 100);
	assert_int_equal(raw[1], 1000);
	assert_int_equal(raw[2], 250000);
	assert_int_equal(raw[3], 1000000);
	free(le);
	free(raw);

	/* bucket_min/bucket_max do not matter for fixed buckets */
	m.bucket_min = 7;
	m.bucket_max = 3;
	assert_int_equal(bb_hist_bounds(&m, &le, &raw, &n), 0);
	assert_int_equal(n, 4);
	free(le);
	free(raw);
}

static void expect_bounds_error(const struct bb_metric_conf *m, int want, const char *msg_part)
{
	double *le = (double *)1;
	int64_t *raw = (int64_t *)1;
	size_t n = 99;

	last_log[0] = '\0';
	assert_int_equal(bb_hist_bounds(m, &le, &raw, &n), want);
	assert_null(le);
	assert_null(raw);
	assert_int_equal(n, 0);
	if (!strstr(last_log, msg_part))
		fail_msg("log \"%s\" does not mention \"%s\"", last_log, msg_part);
	if (!strstr(last_log, m->name))
		fail_msg("log \"%s\" does not name the metric", last_log);
}

static void test_bounds_errors(void **state)
{
	struct bb_metric_conf m;
	double unsorted[] = { 10, 5 };
	double dup[] = { 10, 10 };
	double fractional[] = { 1, 2.5 };
	double negative[] = { -1, 2 };

	m = range_hist(BB_BUCKET_EXP2, 3, 2, 1);
	expect_bounds_error(&m, -EINVAL, "bucket range [3, 2]");
	m = range_hist(BB_BUCKET_LINEAR, -1, 2, 1);
	expect_bounds_error(&m, -EINVAL, "bucket range [-1, 2]");
	m = range_hist(BB_BUCKET_EXP2, 0, 63, 1);
	expect_bounds_error(&m, -ERANGE, "bucket_max 63");
	m = range_hist(BB_BUCKET_EXP2ZERO, 0, 64, 1);
	expect_bounds_error(&m, -ERANGE, "bucket_max 64");
	m = range_hist(BB_BUCKET_LINEAR, 0, BB_HIST_MAX_BUCKETS, 1);
	expect_bounds_error(&m, -E2BIG, "more than");
	m = range_hist(BB_BUCKET_LINEAR, 0, INT64_MAX, 1);
	expect_bounds_error(&m, -E2BIG, "more than");
	m = range_hist(BB_BUCKET_EXP2, 0, 3, -1);
	expect_bounds_error(&m, -EINVAL, "bucket_multiplier");
	m = range_hist(BB_BUCKET_EXP2, 0, 3, INFINITY);
	expect_bounds_error(&m, -EINVAL, "bucket_multiplier");
	m = range_hist(BB_BUCKET_EXP2, 0, 62, 1e300);
	expect_bounds_error(&m, -ERANGE, "not a finite value");
	m = range_hist(BB_BUCKET_EXP2, 0, 3, 1);
	m.kind = BB_METRIC_COUNTER;
	expect_bounds_error(&m, -EINVAL, "not a histogram");

	m = fixed_hist(NULL, 0, 1);
	expect_bounds_error(&m, -EINVAL, "at least one bucket_keys");
	m = fixed_hist(unsorted, 2, 1);
	expect_bounds_error(&m, -EINVAL, "strictly ascending");
	m = fixed_hist(dup, 2, 1);
	expect_bounds_error(&m, -EINVAL, "strictly ascending");
	m = fixed_hist(fractional, 2, 1);
	expect_bounds_error(&m, -EINVAL, "bucket_keys[1] = 2.5");
	m = fixed_hist(negative, 2, 1);
	expect_bounds_error(&m, -EINVAL, "bucket_keys[0] = -1");
}

/* ---- value -> key (what the BPF side must do) ----------------------------- */

static void test_key_for_value(void **state)
{
	/* exp2: key i holds 2^(i-1) < v <= 2^i; 0 and 1 both in key 0 */
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2, 0), 0);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2, 1), 0);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2, 2), 1);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2, 3), 2);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2, 4), 2);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2, 5), 3);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2, 8), 3);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2, 9), 4);
	/* issue #488's example: 268 lies in (256, 512], so le=512 (key 9), never le=256 */
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2, 256), 8);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2, 257), 9);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2, 268), 9);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2, 512), 9);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2, UINT64_C(1) << 63), 63);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2, (UINT64_C(1) << 63) + 1), 64);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2, UINT64_MAX), 64);

	/* exp2zero: key 0 only for 0; key i >= 1 holds 2^(i-2) < v <= 2^(i-1) */
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2ZERO, 0), 0);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2ZERO, 1), 1);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2ZERO, 2), 2);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2ZERO, 3), 3);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2ZERO, 4), 3);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2ZERO, 5), 4);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_EXP2ZERO, UINT64_MAX), 65);

	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_LINEAR, 0), 0);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_LINEAR, 7), 7);
	assert_int_equal(bb_hist_key_for_value(BB_BUCKET_FIXED, 1000), 1000);
}

/* Every value v in 1..2^20 lands in a bucket whose bound is >= v, and the previous bound < v. */
static void test_key_for_value_matches_bounds(void **state)
{
	struct bb_metric_conf m2 = range_hist(BB_BUCKET_EXP2, 0, 20, 1);
	struct bb_metric_conf mz = range_hist(BB_BUCKET_EXP2ZERO, 0, 21, 1);
	double *le2, *lez;
	int64_t *raw2, *rawz;
	size_t n2, nz;

	assert_int_equal(bb_hist_bounds(&m2, &le2, &raw2, &n2), 0);
	assert_int_equal(bb_hist_bounds(&mz, &lez, &rawz, &nz), 0);
	for (uint64_t v = 0; v <= (1u << 20); v++) {
		uint64_t k2 = bb_hist_key_for_value(BB_BUCKET_EXP2, v);
		uint64_t kz = bb_hist_key_for_value(BB_BUCKET_EXP2ZERO, v);

		assert_true(k2 < n2 && kz < nz);
		if (!((uint64_t)raw2[k2] >= v && (k2 == 0 || (uint64_t)raw2[k2 - 1] < v)))
			fail_msg("exp2: value %llu got key %llu (le %lld)", (unsigned long long)v,
				 (unsigned long long)k2, (long long)raw2[k2]);
		if (!((uint64_t)rawz[kz] >= v && (kz == 0 || (uint64_t)rawz[kz - 1] < v)))
			fail_msg("exp2zero: value %llu got key %llu (le %lld)",
				 (unsigned long long)v, (unsigned long long)kz,
				 (long long)rawz[kz]);
	}
	free(le2);
	free(raw2);
	free(lez);
	free(rawz);
}

/* ---- fill ---------------------------------------------------------------- */

/* Feed VALUES through the BPF-side mapping (with clamping) and the sum key. */
static size_t observe(const struct bb_metric_conf *m, const uint64_t *values, size_t n,
		      struct bb_hist_row *rows)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t key = bb_hist_key_for_value(m->bucket_type, values[i]);

		if (key > (uint64_t)m->bucket_max)
			key = (uint64_t)m->bucket_max;
		rows[i].key = key;
		rows[i].value = 1;
		sum += values[i];
	}
	rows[n].key = (uint64_t)m->bucket_max + 1;
	rows[n].value = sum;
	return n + 1;
}

/* ebpf_exporter PR #515: values 1..8 into exp2 0..3 give le=1:1 le=2:2 le=4:4 le=8:8 sum 36. */
static void test_fill_issue_488_exp2(void **state)
{
	struct bb_metric_conf m = range_hist(BB_BUCKET_EXP2, 0, 3, 1);
	const uint64_t values[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	const uint64_t want[] = { 1, 2, 4, 8 };
	struct bb_hist_row rows[9];
	struct hist_fixture fx;
	size_t n = observe(&m, values, 8, rows);

	fixture_init(&fx, &m);
	assert_int_equal(bb_hist_fill(&m, fx.fam, rows, n, fx.s), 0);
	assert_buckets(fx.s, want, 4);
	assert_int_equal(fx.s->count, 8);
	assert_int_equal(fx.s->sum_raw, 36);
	assert_double_exact(fx.s->sum, 36);
	fixture_fini(&fx);
}

static void test_fill_issue_488_exp2zero(void **state)
{
	struct bb_metric_conf m = range_hist(BB_BUCKET_EXP2ZERO, 0, 4, 1);
	const uint64_t values[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8 };
	const uint64_t want[] = { 1, 2, 3, 5, 9 }; /* le 0, 1, 2, 4, 8 */
	struct bb_hist_row rows[10];
	struct hist_fixture fx;
	size_t n = observe(&m, values, 9, rows);

	fixture_init(&fx, &m);
	assert_int_equal(bb_hist_fill(&m, fx.fam, rows, n, fx.s), 0);
	assert_buckets(fx.s, want, 5);
	assert_int_equal(fx.s->count, 9);
	assert_int_equal(fx.s->sum_raw, 36);
	fixture_fini(&fx);
}

/* The bug in #488 floored log2: 3 went under le=2. Values one above a power of two
 * must land in the next bucket, values exactly on it must not. */
static void test_fill_power_of_two_edges(void **state)
{
	struct bb_metric_conf m = range_hist(BB_BUCKET_EXP2, 0, 10, 1e-6);
	const uint64_t values[] = { 256, 257 };
	struct bb_hist_row rows[3];
	struct hist_fixture fx;
	size_t n = observe(&m, values, 2, rows);

	fixture_init(&fx, &m);
	assert_int_equal(bb_hist_fill(&m, fx.fam, rows, n, fx.s), 0);
	assert_int_equal(fx.s->buckets[7], 0); /* le 128e-6 */
	assert_int_equal(fx.s->buckets[8], 1); /* le 256e-6: only 256 */
	assert_int_equal(fx.s->buckets[9], 2); /* le 512e-6: 257 too */
	assert_int_equal(fx.s->buckets[10], 2);
	assert_int_equal(fx.s->count, 2);
	assert_int_equal(fx.s->sum_raw, 513);
	assert_double_exact(fx.s->sum, 513 * 1e-6);
	fixture_fini(&fx);
}

static void test_fill_missing_and_unordered(void **state)
{
	struct bb_metric_conf m = range_hist(BB_BUCKET_EXP2, 0, 3, 1e-6);
	const struct bb_hist_row rows[] = { { 3, 5 }, { 4, 1000 }, { 1, 2 } };
	const uint64_t want[] = { 0, 2, 2, 7 };
	struct hist_fixture fx;

	fixture_init(&fx, &m);
	assert_int_equal(bb_hist_fill(&m, fx.fam, rows, 3, fx.s), 0);
	assert_buckets(fx.s, want, 4);
	assert_int_equal(fx.s->count, 7);
	assert_int_equal(fx.s->sum_raw, 1000);
	assert_double_exact(fx.s->sum, 1000 * 1e-6);
	fixture_fini(&fx);
}

static void test_fill_linear_and_below_min(void **state)
{
	struct bb_metric_conf m = range_hist(BB_BUCKET_LINEAR, 2, 4, 1);
	/* keys 0 and 1 are below bucket_min: values <= 1 are <= the first bound (2) */
	const struct bb_hist_row rows[] = { { 0, 1 }, { 1, 2 }, { 2, 4 }, { 4, 8 }, { 5, 77 } };
	const uint64_t want[] = { 7, 7, 15 };
	struct hist_fixture fx;

	fixture_init(&fx, &m);
	assert_int_equal(bb_hist_fill(&m, fx.fam, rows, 5, fx.s), 0);
	assert_buckets(fx.s, want, 3);
	assert_int_equal(fx.s->count, 15);
	assert_int_equal(fx.s->sum_raw, 77);
	fixture_fini(&fx);
}

/* The BPF side clamps to bucket_max: large values count in the last finite bucket. */
static void test_fill_clamped_last_bucket(void **state)
{
	struct bb_metric_conf m = range_hist(BB_BUCKET_EXP2, 0, 3, 1);
	const uint64_t values[] = { 1, 1000000, UINT64_C(1) << 40 };
	const uint64_t want[] = { 1, 1, 1, 3 };
	struct bb_hist_row rows[4];
	struct hist_fixture fx;
	size_t n = observe(&m, values, 3, rows);

	assert_int_equal(rows[1].key, 3);
	assert_int_equal(rows[2].key, 3);
	fixture_init(&fx, &m);
	assert_int_equal(bb_hist_fill(&m, fx.fam, rows, n, fx.s), 0);
	assert_buckets(fx.s, want, 4);
	assert_int_equal(fx.s->count, 3);
	assert_int_equal(fx.s->sum_raw, 1 + 1000000 + (UINT64_C(1) << 40));
	fixture_fini(&fx);
}

/* Keys beyond the sum key are nonsense from the program: +Inf only, and reported. */
static void test_fill_above_sum_key(void **state)
{
	struct bb_metric_conf m = range_hist(BB_BUCKET_EXP2, 0, 3, 1);
	const struct bb_hist_row rows[] = { { 0, 1 }, { 5, 10 }, { 4, 3 }, { 64, 100 } };
	const uint64_t want[] = { 1, 1, 1, 1 };
	struct hist_fixture fx;

	fixture_init(&fx, &m);
	assert_int_equal(bb_hist_fill(&m, fx.fam, rows, 4, fx.s), 2);
	assert_buckets(fx.s, want, 4);
	assert_int_equal(fx.s->count, 111);
	assert_int_equal(fx.s->sum_raw, 3);
	fixture_fini(&fx);
}

static void test_fill_empty(void **state)
{
	struct bb_metric_conf m = range_hist(BB_BUCKET_EXP2ZERO, 0, 5, 1e-3);
	const uint64_t want[] = { 0, 0, 0, 0, 0, 0 };
	struct hist_fixture fx;

	fixture_init(&fx, &m);
	assert_int_equal(bb_hist_fill(&m, fx.fam, NULL, 0, fx.s), 0);
	assert_buckets(fx.s, want, 6);
	assert_int_equal(fx.s->count, 0);
	assert_int_equal(fx.s->sum_raw, 0);
	assert_double_exact(fx.s->sum, 0);
	fixture_fini(&fx);
}

/* Duplicated keys (e.g. rows not yet summed across CPUs) add up, sum included;
 * a second fill replaces the first instead of adding to it. */
static void test_fill_duplicates_and_refill(void **state)
{
	struct bb_metric_conf m = range_hist(BB_BUCKET_LINEAR, 0, 2, 0.25);
	const struct bb_hist_row rows[] = { { 1, 2 }, { 3, 10 }, { 1, 3 }, { 3, 6 }, { 0, 1 } };
	const struct bb_hist_row rows2[] = { { 2, 4 } };
	const uint64_t want[] = { 1, 6, 6 };
	const uint64_t want2[] = { 0, 0, 4 };
	struct hist_fixture fx;

	fixture_init(&fx, &m);
	assert_int_equal(bb_hist_fill(&m, fx.fam, rows, 5, fx.s), 0);
	assert_buckets(fx.s, want, 3);
	assert_int_equal(fx.s->count, 6);
	assert_int_equal(fx.s->sum_raw, 16);
	assert_double_exact(fx.s->sum, 4);
	assert_double_exact(fx.s->sum, (double)fx.s->sum_raw * fx.fam->multiplier);

	assert_int_equal(bb_hist_fill(&m, fx.fam, rows2, 1, fx.s), 0);
	assert_buckets(fx.s, want2, 3);
	assert_int_equal(fx.s->count, 4);
	assert_int_equal(fx.s->sum_raw, 0);
	assert_double_exact(fx.s->sum, 0);
	fixture_fini(&fx);
}

static void test_fill_saturates(void **state)
{
	struct bb_metric_conf m = range_hist(BB_BUCKET_LINEAR, 0, 1, 1);
	const struct bb_hist_row rows[] = {
		{ 0, UINT64_MAX - 1 }, { 1, 5 }, { 2, UINT64_MAX }, { 2, 1 }, { 9, 1 }
	};
	struct hist_fixture fx;

	fixture_init(&fx, &m);
	assert_int_equal(bb_hist_fill(&m, fx.fam, rows, 5, fx.s), 1);
	assert_true(fx.s->buckets[0] == UINT64_MAX - 1);
	assert_true(fx.s->buckets[1] == UINT64_MAX);
	assert_true(fx.s->count == UINT64_MAX);
	assert_true(fx.s->sum_raw == UINT64_MAX);
	fixture_fini(&fx);
}

/* Fixed: sum at bucket_keys[last] + 1 (ebpf_exporter's choice); other keys -> +Inf, reported. */
static void test_fill_fixed(void **state)
{
	double keys[] = { 10, 100, 1000 };
	struct bb_metric_conf m = fixed_hist(keys, 3, 1e-3);
	const struct bb_hist_row rows[] = {
		{ 100, 2 }, { 10, 1 }, { 1001, 555 }, { 50, 4 }, { 1000, 3 }, { 100, 1 }, { 0, 5 },
	};
	const uint64_t want[] = { 1, 4, 7 };
	struct hist_fixture fx;

	assert_int_equal(bb_hist_sum_key(&m), 1001);
	fixture_init(&fx, &m);
	assert_int_equal(bb_hist_fill(&m, fx.fam, rows, 7, fx.s), 2);
	assert_buckets(fx.s, want, 3);
	assert_int_equal(fx.s->count, 16);
	assert_int_equal(fx.s->sum_raw, 555);
	assert_double_exact(fx.s->sum, 555 * 1e-3);
	fixture_fini(&fx);
}

static void test_sum_key(void **state)
{
	struct bb_metric_conf m = range_hist(BB_BUCKET_EXP2, 0, 26, 1e-6);

	assert_int_equal(bb_hist_sum_key(&m), 27);
	m = range_hist(BB_BUCKET_LINEAR, 5, 9, 1);
	assert_int_equal(bb_hist_sum_key(&m), 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_bounds_exp2, setup_log),
		cmocka_unit_test_setup(test_bounds_exp2zero, setup_log),
		cmocka_unit_test_setup(test_bounds_linear, setup_log),
		cmocka_unit_test_setup(test_bounds_fixed, setup_log),
		cmocka_unit_test_setup(test_bounds_errors, setup_log),
		cmocka_unit_test_setup(test_key_for_value, setup_log),
		cmocka_unit_test_setup(test_key_for_value_matches_bounds, setup_log),
		cmocka_unit_test_setup(test_fill_issue_488_exp2, setup_log),
		cmocka_unit_test_setup(test_fill_issue_488_exp2zero, setup_log),
		cmocka_unit_test_setup(test_fill_power_of_two_edges, setup_log),
		cmocka_unit_test_setup(test_fill_missing_and_unordered, setup_log),
		cmocka_unit_test_setup(test_fill_linear_and_below_min, setup_log),
		cmocka_unit_test_setup(test_fill_clamped_last_bucket, setup_log),
		cmocka_unit_test_setup(test_fill_above_sum_key, setup_log),
		cmocka_unit_test_setup(test_fill_empty, setup_log),
		cmocka_unit_test_setup(test_fill_duplicates_and_refill, setup_log),
		cmocka_unit_test_setup(test_fill_saturates, setup_log),
		cmocka_unit_test_setup(test_fill_fixed, setup_log),
		cmocka_unit_test_setup(test_sum_key, setup_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
