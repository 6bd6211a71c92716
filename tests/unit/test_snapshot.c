/* SPDX-License-Identifier: MIT */
/*
 * The snapshot model and its writers. The Prometheus text is checked by the
 * real `promtool check metrics`, the JSON by Python's json module: a writer
 * that only agrees with its own tests is not worth much.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"
#include "log.h"
#include "snapshot.h"

#define PYTHON "/usr/bin/python3"

static char last_log[1024];

static void capture_log(enum bb_log_level level, const char *msg, void *ctx)
{
	snprintf(last_log, sizeof(last_log), "%s", msg);
}

static int setup_log(void **state)
{
	bb_log_set_sink(capture_log, NULL);
	last_log[0] = '\0';
	return 0;
}

/* ---- helpers ---------------------------------------------------------------- */

/* Missing tools skip the test, unless the environment says they are required. */
static bool tools_required(void)
{
	const char *a = getenv("BPFBRIDGE_REQUIRE_BPF");
	const char *b = getenv("BB_REQUIRE_TOOLS");

	return (a && *a && strcmp(a, "0") != 0) || (b && *b && strcmp(b, "0") != 0);
}

/* Full path of PROG found in $PATH (or PROG itself if it has a slash), or false. */
static bool find_tool(const char *prog, char *path, size_t len)
{
	const char *env = getenv("PATH");
	char *dirs, *save = NULL;
	bool found = false;

	if (strchr(prog, '/')) {
		snprintf(path, len, "%s", prog);
		return access(path, X_OK) == 0;
	}
	dirs = strdup(env ? env : "/usr/local/bin:/usr/bin:/bin");
	assert_non_null(dirs);
	for (char *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		snprintf(path, len, "%s/%s", *d ? d : ".", prog);
		found = access(path, X_OK) == 0;
	}
	free(dirs);
	return found;
}

static void require_tool(const char *prog, char *path, size_t len)
{
	if (find_tool(prog, path, len))
		return;
	if (tools_required())
		fail_msg("%s not found, and BPFBRIDGE_REQUIRE_BPF/BB_REQUIRE_TOOLS is set", prog);
	fprintf(stderr, "# SKIP: %s not found in PATH; install it to run this test\n", prog);
	skip();
}

static char *temp_path(const char *suffix_tag)
{
	const char *dir = getenv("TMPDIR");
	char *path;
	int fd;

	assert_true(asprintf(&path, "%s/bb-test-%s-XXXXXX", dir && *dir ? dir : "/tmp",
			     suffix_tag) > 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	return path;
}

/* Run CMD (stdin from INPUT, stderr merged); return its exit status, *output its text. */
static int run_with_input(const char *cmd, const char *input, char **output)
{
	char *full;
	FILE *p;
	size_t cap = 4096, len = 0, n;
	char *buf = malloc(cap);
	int status;

	assert_non_null(buf);
	assert_true(asprintf(&full, "%s < '%s' 2>&1", cmd, input) > 0);
	p = popen(full, "r");
	assert_non_null(p);
	while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (cap - len - 1 == 0) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	buf[len] = '\0';
	status = pclose(p);
	free(full);
	*output = buf;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len >= 0);
	rewind(f);
	buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static char *write_to_string(const struct bb_snapshot *snap, bool json)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	if (json)
		assert_int_equal(bb_snapshot_write_json(snap, f), 0);
	else
		assert_int_equal(bb_snapshot_write_prometheus(snap, f), 0);
	fclose(f);
	return text;
}

static void assert_format(double v, const char *want)
{
	char buf[64];

	bb_format_double(v, buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		fail_msg("bb_format_double(%.17g) = \"%s\", expected \"%s\"", v, buf, want);
}

/* A histogram family from a config-like description, via the real bounds code. */
static struct bb_family *add_histogram(struct bb_snapshot *snap, const char *name, const char *help,
				       enum bb_bucket_type type, int64_t max, double mult,
				       const char *const *labels, size_t n_labels)
{
	struct bb_metric_conf m = { 0 };
	struct bb_family *fam;
	double *le;
	int64_t *raw;
	size_t n;

	m.kind = BB_METRIC_HISTOGRAM;
	m.name = (char *)name;
	m.bucket_type = type;
	m.bucket_max = max;
	m.bucket_multiplier = mult;
	assert_int_equal(bb_hist_bounds(&m, &le, &raw, &n), 0);
	fam = bb_snapshot_family(snap, name, help, BB_METRIC_HISTOGRAM, labels, n_labels);
	assert_non_null(fam);
	assert_int_equal(bb_family_set_buckets(fam, le, raw, n, mult), 0);
	free(le);
	free(raw);
	return fam;
}

static void fill_histogram(struct bb_family *fam, enum bb_bucket_type type, int64_t max,
			   double mult, const char *const *values, const struct bb_hist_row *rows,
			   size_t n_rows)
{
	struct bb_metric_conf m = { 0 };
	struct bb_series *s = bb_family_add_series(fam, values);

	assert_non_null(s);
	m.kind = BB_METRIC_HISTOGRAM;
	m.name = fam->name;
	m.bucket_type = type;
	m.bucket_max = max;
	m.bucket_multiplier = mult;
	assert_int_equal(bb_hist_fill(&m, fam, rows, n_rows, s), 0);
}

static void add_counter(struct bb_family *fam, const char *const *values, uint64_t v)
{
	struct bb_series *s = bb_family_add_series(fam, values);

	assert_non_null(s);
	s->value = v;
}

/* ---- number formatting -------------------------------------------------------- */

static void test_format_double(void **state)
{
	assert_format(0, "0");
	assert_format(-0.0, "0");
	assert_format(1, "1");
	assert_format(-1, "-1");
	assert_format(2.5, "2.5");
	assert_format(-2.5, "-2.5");
	assert_format(1e-6, "1e-06");
	assert_format(8e-6, "8e-06");
	assert_format(0.000512, "0.000512");
	assert_format(0.0001, "0.0001");
	assert_format(0.00001, "1e-05");
	assert_format(123456, "123456");
	assert_format(999999, "999999");
	assert_format(1e6, "1e+06");
	assert_format(1234567, "1.234567e+06");
	assert_format(1048576, "1.048576e+06");
	assert_format(4611686018427387904.0, "4.611686018427388e+18");
	assert_format(0.1 + 0.2, "0.30000000000000004");
	assert_format(100 * 1e-6, "9.999999999999999e-05");
	assert_format(20 * 1e-6, "1.9999999999999998e-05");
	assert_format(512 * 1e-9, "5.12e-07");
	assert_format(0.25, "0.25");
	assert_format(1e100, "1e+100");
	assert_format(5e-324, "5e-324");
	assert_format(DBL_MAX, "1.7976931348623157e+308");
	assert_format(INFINITY, "+Inf");
	assert_format(-INFINITY, "-Inf");
	assert_format(NAN, "NaN");
}

static int significant_digits(const char *s)
{
	int n = 0;
	bool leading = true;

	for (; *s && *s != 'e'; s++) {
		if (*s < '0' || *s > '9')
			continue;
		if (leading && *s == '0')
			continue;
		leading = false;
		n++;
	}
	return n;
}

/* Whatever comes out reads back as the same double, and is no longer than %.17g. */
static void test_format_double_round_trips(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15u;
	char buf[64], plain[64];
	int prec;

	for (int i = 0; i < 200000; i++) {
		uint64_t bits;
		double v;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* every other value sits on a power of two, where round-trip intervals are lopsided */
		bits = i % 2 ? x : ((x % 2046 + 1) << 52);
		memcpy(&v, &bits, sizeof(v));
		if (isnan(v))
			continue;
		bb_format_double(v, buf, sizeof(buf));
		if (strtod(buf, NULL) != v && !(v == 0 && strcmp(buf, "0") == 0))
			fail_msg("%.17g formatted as \"%s\" does not round-trip", v, buf);
		/* no more significant digits than the shortest %.*g that round-trips */
		for (prec = 1; prec < 17; prec++) {
			snprintf(plain, sizeof(plain), "%.*g", prec, v);
			if (strtod(plain, NULL) == v)
				break;
		}
		if (significant_digits(buf) > prec)
			fail_msg("%.17g formatted as \"%s\", but \"%s\" is shorter", v, buf, plain);
	}
}

static void test_format_double_small_buffer(void **state)
{
	char buf[4];

	bb_format_double(1234567, buf, sizeof(buf));
	assert_string_equal(buf, "1.2");
	bb_format_double(1, buf, 0); /* must not write */
}

/* ---- builder ---------------------------------------------------------------- */

static void test_family_lookup_and_errors(void **state)
{
	struct bb_snapshot *snap = bb_snapshot_new();
	const char *labels[] = { "syscall" };
	const char *other_labels[] = { "errno" };
	const char *bad_labels[] = { "bad-name" };
	const char *reserved[] = { "__name__" };
	const char *dup[] = { "a", "a" };
	const char *le_label[] = { "le" };
	struct bb_family *fam, *again;

	assert_non_null(snap);
	fam = bb_snapshot_family(snap, "syscalls_total", "h", BB_METRIC_COUNTER, labels, 1);
	assert_non_null(fam);
	again = bb_snapshot_family(snap, "syscalls_total", "other help", BB_METRIC_COUNTER, labels,
				   1);
	assert_ptr_equal(fam, again);
	assert_string_equal(again->help, "h");

	errno = 0;
	assert_null(bb_snapshot_family(snap, "syscalls_total", "h", BB_METRIC_GAUGE, labels, 1));
	assert_int_equal(errno, EEXIST);
	assert_non_null(strstr(last_log, "syscalls_total"));
	errno = 0;
	assert_null(
		bb_snapshot_family(snap, "syscalls_total", "h", BB_METRIC_HISTOGRAM, labels, 1));
	assert_int_equal(errno, EEXIST);
	errno = 0;
	assert_null(bb_snapshot_family(snap, "syscalls_total", "h", BB_METRIC_COUNTER, other_labels,
				       1));
	assert_int_equal(errno, EEXIST);
	errno = 0;
	assert_null(bb_snapshot_family(snap, "syscalls_total", "h", BB_METRIC_COUNTER, NULL, 0));
	assert_int_equal(errno, EEXIST);

	errno = 0;
	assert_null(bb_snapshot_family(snap, "1abc", "h", BB_METRIC_COUNTER, NULL, 0));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(bb_snapshot_family(snap, "", "h", BB_METRIC_COUNTER, NULL, 0));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(bb_snapshot_family(snap, "x_total", "h", BB_METRIC_COUNTER, bad_labels, 1));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(last_log, "bad-name"));
	errno = 0;
	assert_null(bb_snapshot_family(snap, "x_total", "h", BB_METRIC_COUNTER, reserved, 1));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(bb_snapshot_family(snap, "x_total", "h", BB_METRIC_COUNTER, dup, 2));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(bb_snapshot_family(snap, "x_seconds", "h", BB_METRIC_HISTOGRAM, le_label, 1));
	assert_int_equal(errno, EINVAL);
	/* "le" is fine outside histograms; colons are fine in metric names */
	assert_non_null(bb_snapshot_family(snap, "x:y_total", "h", BB_METRIC_COUNTER, le_label, 1));

	/* the failed attempts left nothing behind */
	assert_int_equal(snap->n_families, 2);
	assert_ptr_equal(bb_snapshot_find(snap, "syscalls_total"), &snap->families[0]);
	assert_null(bb_snapshot_find(snap, "x_total"));
	assert_null(bb_snapshot_find(snap, "nope"));
	assert_null(bb_snapshot_find(NULL, "nope"));
	bb_snapshot_unref(snap);
}

static void test_series_and_buckets(void **state)
{
	struct bb_snapshot *snap = bb_snapshot_new();
	const char *labels[] = { "device", "operation" };
	const char *values[] = { "sda", "read" };
	const char *null_value[] = { "sda", NULL };
	const double le[] = { 1, 2, 4 };
	const double bad_le[] = { 1, 1, 4 };
	const int64_t raw[] = { 1, 2, 4 };
	struct bb_family *fam, *counter;
	struct bb_series *s;

	fam = bb_snapshot_family(snap, "lat_seconds", "h", BB_METRIC_HISTOGRAM, labels, 2);
	assert_non_null(fam);
	assert_int_equal(bb_family_set_buckets(fam, bad_le, raw, 3, 1), -EINVAL);
	assert_int_equal(bb_family_set_buckets(fam, le, raw, 3, 0), 0);
	assert_true(fam->multiplier == 1.0);
	assert_int_equal(fam->n_buckets, 3);
	assert_true(fam->le[2] == 4 && fam->le_raw[2] == 4);

	errno = 0;
	assert_null(bb_family_add_series(fam, null_value));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(fam->n_series, 0);

	s = bb_family_add_series(fam, values);
	assert_non_null(s);
	assert_string_equal(s->label_values[0], "sda");
	assert_string_equal(s->label_values[1], "read");
	assert_ptr_not_equal(s->label_values[0], values[0]);
	assert_non_null(s->buckets);
	assert_true(s->buckets[0] == 0 && s->buckets[2] == 0 && s->count == 0);

	/* series exist: the bucket layout may not change size any more */
	assert_int_equal(bb_family_set_buckets(fam, le, raw, 2, 1), -EBUSY);
	assert_int_equal(bb_family_set_buckets(fam, le, NULL, 3, 2), 0);
	assert_null(fam->le_raw);

	/* many series: the array grows and keeps what it had */
	for (int i = 0; i < 100; i++)
		assert_non_null(bb_family_add_series(fam, values));
	assert_int_equal(fam->n_series, 101);
	assert_string_equal(fam->series[100].label_values[1], "read");

	counter = bb_snapshot_family(snap, "c_total", "h", BB_METRIC_COUNTER, NULL, 0);
	assert_non_null(counter);
	assert_int_equal(bb_family_set_buckets(counter, le, raw, 3, 1), -EINVAL);
	s = bb_family_add_series(counter, NULL);
	assert_non_null(s);
	assert_null(s->buckets);
	bb_snapshot_unref(snap);
}

static void test_refcount_and_finish(void **state)
{
	struct bb_snapshot *snap = bb_snapshot_new();
	const char *labels[] = { "a" };
	const char *values[] = { "x" };
	struct timespec now;
	uint64_t now_ns;

	assert_int_equal(snap->refs, 1);
	assert_int_equal(snap->taken_ns, 0);
	add_counter(bb_snapshot_family(snap, "a_total", "h", BB_METRIC_COUNTER, labels, 1), values,
		    1);
	add_histogram(snap, "h_seconds", "h", BB_BUCKET_EXP2, 3, 1e-6, labels, 1);
	bb_snapshot_finish(snap);
	clock_gettime(CLOCK_REALTIME, &now);
	now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	assert_true(snap->taken_ns > 0 && snap->taken_ns <= now_ns &&
		    now_ns - snap->taken_ns < 5000000000u);

	assert_ptr_equal(bb_snapshot_ref(snap), snap);
	assert_int_equal(snap->refs, 2);
	bb_snapshot_unref(snap);
	assert_int_equal(snap->refs, 1);
	/* still usable after one unref */
	assert_non_null(bb_snapshot_find(snap, "h_seconds"));
	bb_snapshot_unref(snap); /* frees everything: valgrind checks this */

	assert_null(bb_snapshot_ref(NULL));
	bb_snapshot_unref(NULL);
}

/* ---- Prometheus text ----------------------------------------------------------- */

static struct bb_snapshot *small_snapshot(void)
{
	struct bb_snapshot *snap = bb_snapshot_new();
	const char *syscall[] = { "syscall" };
	const char *device[] = { "device" };
	const char *v_read[] = { "read" };
	const char *v_weird[] = { "a\\b\"c\nd" };
	const char *v_sda[] = { "sda" };
	const struct bb_hist_row rows[] = { { 0, 1 }, { 1, 2 }, { 2, 1 }, { 5, 1 }, { 3, 20 } };
	struct bb_family *fam;
	struct bb_series *s;

	fam = bb_snapshot_family(snap, "syscalls_total", "Syscalls.", BB_METRIC_COUNTER, syscall,
				 1);
	add_counter(fam, v_read, 5);
	add_counter(fam, v_weird, 2);
	fam = bb_snapshot_family(snap, "bpfbridge_series", "Series in last read.", BB_METRIC_GAUGE,
				 NULL, 0);
	add_counter(fam, NULL, 3);
	fam = add_histogram(snap, "bio_latency_seconds", "Block I/O latency.", BB_BUCKET_EXP2, 2,
			    1e-6, device, 1);
	s = bb_family_add_series(fam, v_sda);
	assert_non_null(s);
	{
		struct bb_metric_conf m = { 0 };

		m.kind = BB_METRIC_HISTOGRAM;
		m.name = "bio_latency_seconds";
		m.bucket_type = BB_BUCKET_EXP2;
		m.bucket_max = 2;
		m.bucket_multiplier = 1e-6;
		/* key 5 is beyond the sum key (3): +Inf only, reported */
		assert_int_equal(bb_hist_fill(&m, fam, rows, 5, s), 1);
	}
	bb_snapshot_family(snap, "empty_total", "Nothing yet.\nback\\slash \"quoted\"",
			   BB_METRIC_COUNTER, NULL, 0);
	add_counter(bb_snapshot_family(snap, "no_help_total", "", BB_METRIC_COUNTER, NULL, 0), NULL,
		    UINT64_MAX);
	bb_snapshot_finish(snap);
	return snap;
}

static void test_prometheus_exact(void **state)
{
	struct bb_snapshot *snap = small_snapshot();
	char *text = write_to_string(snap, false);
	const char *want = "# HELP syscalls_total Syscalls.\n"
			   "# TYPE syscalls_total counter\n"
			   "syscalls_total{syscall=\"read\"} 5\n"
			   "syscalls_total{syscall=\"a\\\\b\\\"c\\nd\"} 2\n"
			   "# HELP bpfbridge_series Series in last read.\n"
			   "# TYPE bpfbridge_series gauge\n"
			   "bpfbridge_series 3\n"
			   "# HELP bio_latency_seconds Block I/O latency.\n"
			   "# TYPE bio_latency_seconds histogram\n"
			   "bio_latency_seconds_bucket{device=\"sda\",le=\"1e-06\"} 1\n"
			   "bio_latency_seconds_bucket{device=\"sda\",le=\"2e-06\"} 3\n"
			   "bio_latency_seconds_bucket{device=\"sda\",le=\"4e-06\"} 4\n"
			   "bio_latency_seconds_bucket{device=\"sda\",le=\"+Inf\"} 5\n"
			   "bio_latency_seconds_sum{device=\"sda\"} 1.9999999999999998e-05\n"
			   "bio_latency_seconds_count{device=\"sda\"} 5\n"
			   "# HELP empty_total Nothing yet.\\nback\\\\slash \"quoted\"\n"
			   "# TYPE empty_total counter\n"
			   "# TYPE no_help_total counter\n"
			   "no_help_total 18446744073709551615\n";

	assert_string_equal(text, want);
	free(text);
	bb_snapshot_unref(snap);
}

static void test_prometheus_unlabelled_histogram(void **state)
{
	struct bb_snapshot *snap = bb_snapshot_new();
	const struct bb_hist_row rows[] = { { 1, 4 }, { 3, 9 } };
	struct bb_family *fam =
		add_histogram(snap, "q_depth", "Queue depth.", BB_BUCKET_LINEAR, 2, 0, NULL, 0);
	char *text;

	fill_histogram(fam, BB_BUCKET_LINEAR, 2, 0, NULL, rows, 2);
	text = write_to_string(snap, false);
	assert_string_equal(text, "# HELP q_depth Queue depth.\n"
				  "# TYPE q_depth histogram\n"
				  "q_depth_bucket{le=\"0\"} 0\n"
				  "q_depth_bucket{le=\"1\"} 4\n"
				  "q_depth_bucket{le=\"2\"} 4\n"
				  "q_depth_bucket{le=\"+Inf\"} 4\n"
				  "q_depth_sum 9\n"
				  "q_depth_count 4\n");
	free(text);
	bb_snapshot_unref(snap);
}

/* Bytes that are not UTF-8 cannot go out as they are (promtool rejects the
 * whole scrape): they become U+FFFD, valid multi-byte characters stay. */
static void test_prometheus_invalid_utf8(void **state)
{
	struct bb_snapshot *snap = bb_snapshot_new();
	const char *labels[] = { "comm" };
	const char *values[] = { "a\xff\xc3\xbc\xe2\x82" };
	char *text;

	add_counter(bb_snapshot_family(snap, "x_total", "h\xc0", BB_METRIC_COUNTER, labels, 1),
		    values, 1);
	text = write_to_string(snap, false);
	assert_string_equal(text,
			    "# HELP x_total h\xef\xbf\xbd\n"
			    "# TYPE x_total counter\n"
			    "x_total{comm=\"a\xef\xbf\xbd\xc3\xbc\xef\xbf\xbd\xef\xbf\xbd\"} 1\n");
	free(text);
	bb_snapshot_unref(snap);
}

static struct bb_snapshot *big_snapshot(void)
{
	struct bb_snapshot *snap = bb_snapshot_new();
	const char *syscall[] = { "syscall" };
	const char *sys_errno[] = { "syscall", "errno" };
	const char *dev_op[] = { "device", "operation" };
	const char *attached[] = { "config", "program", "hook", "section" };
	const char *v1[] = { "ioprio_get" };
	const char *v2[] = { "back\\slash \"quote\"\nnew line" };
	const char *v3[] = { "ioprio_get", "EINVAL" };
	const char *v4[] = { "unicode \xc3\xbc \xe2\x82\xac", "invalid \xff byte" };
	const char *v5[] = { "sda", "read" };
	const char *v6[] = { "nvme0n1", "write" };
	const char *v7[] = { "biolatency", "tp_btf_block_rq_issue", "block_rq_issue",
			     "tp_btf/block_rq_issue" };
	const struct bb_hist_row r1[] = { { 0, 3 }, { 4, 10 }, { 10, 7 }, { 27, 123456 } };
	const struct bb_hist_row r2[] = { { 26, 1 }, { 27, 99999999 } };
	const struct bb_hist_row r3[] = { { 0, 1 }, { 7, 5 }, { 8, 40 } };
	struct bb_family *fam;

	fam = bb_snapshot_family(snap, "syscalls_total", "Syscalls by name.", BB_METRIC_COUNTER,
				 syscall, 1);
	add_counter(fam, v1, 42);
	add_counter(fam, v2, 1);
	fam = bb_snapshot_family(snap, "syscall_errors_total", "Failed syscalls.\\ by errno\n",
				 BB_METRIC_COUNTER, sys_errno, 2);
	add_counter(fam, v3, 7);
	add_counter(fam, v4, 0);
	add_counter(bb_snapshot_family(snap, "plain_total", "No labels.", BB_METRIC_COUNTER, NULL,
				       0),
		    NULL, UINT64_MAX);
	add_counter(bb_snapshot_family(snap, "bpfbridge_program_attached", "Attached (1) or not.",
				       BB_METRIC_GAUGE, attached, 4),
		    v7, 1);
	bb_snapshot_family(snap, "bpfbridge_series_dropped_total", "Dropped series.",
			   BB_METRIC_COUNTER, syscall, 1);

	fam = add_histogram(snap, "bio_latency_seconds", "Block I/O latency.", BB_BUCKET_EXP2, 26,
			    1e-6, dev_op, 2);
	fill_histogram(fam, BB_BUCKET_EXP2, 26, 1e-6, v5, r1, 4);
	fill_histogram(fam, BB_BUCKET_EXP2, 26, 1e-6, v6, r2, 2);
	fam = add_histogram(snap, "runq_length", "Run queue length.", BB_BUCKET_LINEAR, 7, 0, NULL,
			    0);
	fill_histogram(fam, BB_BUCKET_LINEAR, 7, 0, NULL, r3, 3);
	add_histogram(snap, "empty_seconds", "A histogram without series.", BB_BUCKET_EXP2ZERO, 5,
		      1e-9, NULL, 0);
	bb_snapshot_finish(snap);
	return snap;
}

static void test_prometheus_promtool(void **state)
{
	char promtool[4096], *cmd, *output;
	char *path = temp_path("prom");
	struct bb_snapshot *snap = big_snapshot();
	FILE *f;
	int status;

	require_tool("promtool", promtool, sizeof(promtool));
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(bb_snapshot_write_prometheus(snap, f), 0);
	assert_int_equal(fclose(f), 0);

	assert_true(asprintf(&cmd, "'%s' check metrics", promtool) > 0);
	status = run_with_input(cmd, path, &output);
	if (status != 0 || output[0] != '\0') {
		char *text = slurp(path);

		fail_msg("promtool check metrics exited %d with output:\n%s\non:\n%s", status,
			 output, text);
	}

	/* and promtool is not a rubber stamp: an invalid file fails */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("# TYPE x_total counter\nx_total{a=\"\xff\"} 1\n", f);
	assert_int_equal(fclose(f), 0);
	free(output);
	status = run_with_input(cmd, path, &output);
	assert_int_not_equal(status, 0);

	free(output);
	free(cmd);
	unlink(path);
	free(path);
	bb_snapshot_unref(snap);
}

/* ---- JSON ------------------------------------------------------------------- */

static void test_json_valid(void **state)
{
	char python[4096], *output, *cmd;
	char *path = temp_path("json"), *script = temp_path("py");
	struct bb_snapshot *snap = big_snapshot();
	FILE *f;
	int status;

	require_tool(PYTHON, python, sizeof(python));
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(bb_snapshot_write_json(snap, f), 0);
	assert_int_equal(fclose(f), 0);

	assert_true(asprintf(&cmd, "'%s' -m json.tool", python) > 0);
	status = run_with_input(cmd, path, &output);
	if (status != 0)
		fail_msg("json.tool exited %d: %s", status, output);
	free(output);
	free(cmd);

	/* The content survives, escapes included. */
	f = fopen(script, "w");
	assert_non_null(f);
	fputs("import json, sys\n"
	      "d = json.load(sys.stdin)\n"
	      "fams = {f['name']: f for f in d['families']}\n"
	      "assert d['taken_ns'] > 0\n"
	      "s = fams['syscalls_total']['series']\n"
	      "assert fams['syscalls_total']['kind'] == 'counter'\n"
	      "assert fams['syscalls_total']['labels'] == ['syscall']\n"
	      "assert s[0] == {'id': 0, 'labels': {'syscall': 'ioprio_get'}, 'value': 42}, s[0]\n"
	      "assert s[1]['labels']['syscall'] == 'back\\\\slash \"quote\"\\nnew line', s[1]\n"
	      "assert fams['syscall_errors_total']['help'] == 'Failed syscalls.\\\\ by errno\\n'\n"
	      "e = fams['syscall_errors_total']['series'][1]['labels']\n"
	      "assert e == {'syscall': 'unicode \\u00fc \\u20ac', 'errno': 'invalid \\ufffd "
	      "byte'}, e\n"
	      "assert fams['plain_total']['series'][0]['value'] == 18446744073709551615\n"
	      "h = fams['bio_latency_seconds']\n"
	      "assert h['kind'] == 'histogram' and h['multiplier'] == 1e-06\n"
	      "assert h['le'][:3] == [1e-06, 2e-06, 4e-06] and len(h['le']) == 27\n"
	      "assert h['le_raw'][26] == 2**26\n"
	      "a = h['series'][0]\n"
	      "assert a['labels'] == {'device': 'sda', 'operation': 'read'}\n"
	      "assert [b['count'] for b in a['buckets']][:11] == [3, 3, 3, 3, 13, 13, 13, 13, 13, "
	      "13, 20]\n"
	      "assert a['buckets'][10]['le'] == 1024 * 1e-06\n"
	      "assert a['count'] == 20 and a['sum_raw'] == 123456 and a['sum'] == 123456 * 1e-06\n"
	      "assert fams['empty_seconds']['series'] == [] and fams['empty_seconds']['le'][0] == "
	      "0\n"
	      "assert fams['bpfbridge_program_attached']['kind'] == 'gauge'\n"
	      "assert fams['bpfbridge_series_dropped_total']['series'] == []\n"
	      "print('ok')\n",
	      f);
	assert_int_equal(fclose(f), 0);
	assert_true(asprintf(&cmd, "'%s' '%s'", python, script) > 0);
	status = run_with_input(cmd, path, &output);
	if (status != 0 || strcmp(output, "ok\n") != 0)
		fail_msg("JSON content check exited %d: %s", status, output);

	free(output);
	free(cmd);
	unlink(script);
	unlink(path);
	free(script);
	free(path);
	bb_snapshot_unref(snap);
}

static void test_json_control_chars_exact(void **state)
{
	struct bb_snapshot *snap = bb_snapshot_new();
	const char *labels[] = { "v" };
	const char *values[] = { "\x01\b\f\r\t\n\x1f\x7f\"\\/" };
	char *text;

	add_counter(bb_snapshot_family(snap, "c_total", "", BB_METRIC_COUNTER, labels, 1), values,
		    9);
	text = write_to_string(snap, true);
	assert_string_equal(
		text,
		"{\"taken_ns\":0,\"families\":[\n"
		"{\"name\":\"c_total\",\"help\":\"\",\"kind\":\"counter\","
		"\"labels\":[\"v\"],\"series\":[\n"
		" {\"id\":0,\"labels\":{\"v\":\"\\u0001\\b\\f\\r\\t\\n\\u001f\x7f\\\"\\\\/\"},"
		"\"value\":9}]}\n"
		"]}\n");
	free(text);
	bb_snapshot_unref(snap);
}

static void test_write_errors(void **state)
{
	struct bb_snapshot *snap = small_snapshot();
	FILE *ro = fopen("/dev/null", "r");

	assert_non_null(ro);
	assert_int_equal(bb_snapshot_write_prometheus(snap, ro), -EIO);
	clearerr(ro);
	assert_int_equal(bb_snapshot_write_json(snap, ro), -EIO);
	fclose(ro);
	assert_int_equal(bb_snapshot_write_prometheus(NULL, stdout), -EINVAL);
	assert_int_equal(bb_snapshot_write_json(snap, NULL), -EINVAL);
	bb_snapshot_unref(snap);
}

static void test_empty_snapshot(void **state)
{
	struct bb_snapshot *snap = bb_snapshot_new();
	char *text = write_to_string(snap, false);

	assert_string_equal(text, "");
	free(text);
	text = write_to_string(snap, true);
	assert_string_equal(text, "{\"taken_ns\":0,\"families\":[\n]}\n");
	free(text);
	bb_snapshot_unref(snap);
}

/*
 * A host agent running with LC_NUMERIC=de_DE writes "0,5" through printf; the
 * core must not. The locale is compiled into a private directory (LOCPATH)
 * so the test needs no system locale; the test first checks that printf
 * really uses the comma, so it cannot pass by accident.
 */
static void test_numbers_ignore_the_locale(void **state)
{
	char dir[] = "/tmp/bb-locale.XXXXXX", cmd[256], buf[64];
	struct bb_bounds *b;
	const double le[] = { 0.5, 1e-6, 2.25 };
	const int64_t raw[] = { 1, 2, 3 };

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "localedef -i de_DE -f UTF-8 -c %s/de_DE.UTF-8 2>/dev/null",
		 dir);
	if (system(cmd) != 0)
		fail_msg("localedef could not build de_DE.UTF-8 (apt-get install locales)");
	setenv("LOCPATH", dir, 1);
	assert_non_null(setlocale(LC_NUMERIC, "de_DE.UTF-8"));
	snprintf(buf, sizeof(buf), "%g", 0.5);
	assert_string_equal(buf, "0,5"); /* the locale is really in effect */

	bb_format_double(0.5, buf, sizeof(buf));
	assert_string_equal(buf, "0.5");
	bb_format_double(1.5e-7, buf, sizeof(buf));
	assert_string_equal(buf, "1.5e-07");
	b = bb_bounds_new(le, raw, 3, 0);
	assert_null(b); /* not ascending */
	{
		const double ok[] = { 1e-6, 0.5, 2.25 };

		b = bb_bounds_new(ok, raw, 3, 1e-6);
		assert_non_null(b);
		assert_string_equal(b->le_text[0], "1e-06");
		assert_string_equal(b->le_text[1], "0.5");
		assert_string_equal(b->le_text[2], "2.25");
		bb_bounds_unref(b);
	}
	setlocale(LC_NUMERIC, "C");
	unsetenv("LOCPATH");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_numbers_ignore_the_locale, setup_log),
		cmocka_unit_test_setup(test_format_double, setup_log),
		cmocka_unit_test_setup(test_format_double_round_trips, setup_log),
		cmocka_unit_test_setup(test_format_double_small_buffer, setup_log),
		cmocka_unit_test_setup(test_family_lookup_and_errors, setup_log),
		cmocka_unit_test_setup(test_series_and_buckets, setup_log),
		cmocka_unit_test_setup(test_refcount_and_finish, setup_log),
		cmocka_unit_test_setup(test_prometheus_exact, setup_log),
		cmocka_unit_test_setup(test_prometheus_unlabelled_histogram, setup_log),
		cmocka_unit_test_setup(test_prometheus_invalid_utf8, setup_log),
		cmocka_unit_test_setup(test_prometheus_promtool, setup_log),
		cmocka_unit_test_setup(test_json_valid, setup_log),
		cmocka_unit_test_setup(test_json_control_chars_exact, setup_log),
		cmocka_unit_test_setup(test_write_errors, setup_log),
		cmocka_unit_test_setup(test_empty_snapshot, setup_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
