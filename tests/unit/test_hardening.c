/* SPDX-License-Identifier: MIT */
/*
 * Issue 17's regression tests that need no BPF: the fixed-histogram limit, the
 * online CPU list (no FILE leaked, the right errno), and bb_strerror() from
 * threads. Linked with -Wl,--wrap=libbpf_num_possible_cpus,--wrap=fopen so that
 * the loader's calls can be made to fail on demand.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* decode.h brings core/config.h: a bare "config.h" here would find autoconf's. */
#include "decode.h"
#include "hist.h"
#include "loader.h"

/* ---- hooks ------------------------------------------------------------------------------ */

static int possible_cpus_result; /* 0: the real one */
static int possible_cpus_errno;	 /* set as a side effect, as libbpf may */
static int online_fopen_errno;	 /* non-zero: fopen of the online list fails so */

int __real_libbpf_num_possible_cpus(void);
int __wrap_libbpf_num_possible_cpus(void);
FILE *__real_fopen(const char *path, const char *mode);
FILE *__wrap_fopen(const char *path, const char *mode);

int __wrap_libbpf_num_possible_cpus(void)
{
	if (possible_cpus_errno)
		errno = possible_cpus_errno;
	return possible_cpus_result ? possible_cpus_result : __real_libbpf_num_possible_cpus();
}

FILE *__wrap_fopen(const char *path, const char *mode)
{
	if (online_fopen_errno && strcmp(path, "/sys/devices/system/cpu/online") == 0) {
		errno = online_fopen_errno;
		return NULL;
	}
	return __real_fopen(path, mode);
}

static int reset_hooks(void **state)
{
	(void)state;
	possible_cpus_result = 0;
	possible_cpus_errno = 0;
	online_fopen_errno = 0;
	return 0;
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ---- online CPUs ------------------------------------------------------------------------ */

static void test_online_cpus(void **state)
{
	bool *mask = NULL;
	int n = 0;

	(void)state;
	assert_int_equal(bb_loader_online_cpus(&mask, &n), 0);
	assert_true(n >= 1);
	assert_true(mask[0]); /* CPU 0 cannot be taken offline on x86 */
	free(mask);
}

/* libbpf cannot count the CPUs: the error comes back and no FILE stays open. */
static void test_online_cpus_no_leak(void **state)
{
	bool *mask = NULL;
	int n = 0, before = open_fds();

	(void)state;
	possible_cpus_result = -ENOENT;
	for (int i = 0; i < 8; i++)
		assert_int_equal(bb_loader_online_cpus(&mask, &n), -ENOENT);
	assert_null(mask);
	assert_int_equal(open_fds(), before);
}

/* fopen's errno is the one returned, whatever libbpf leaves in errno. */
static void test_online_cpus_errno(void **state)
{
	bool *mask = NULL;
	int n = 0;

	(void)state;
	online_fopen_errno = EACCES;
	possible_cpus_errno = ENOENT;
	assert_int_equal(bb_loader_online_cpus(&mask, &n), -EACCES);
	assert_null(mask);
}

/* ---- fixed histograms: one limit, a config error ----------------------------------------- */

static char *fixed_hist_yaml(size_t keys)
{
	size_t cap = 256 + keys * 12, len;
	char *y = malloc(cap);

	assert_non_null(y);
	len = (size_t)snprintf(y, cap,
			       "metrics:\n  histograms:\n    - name: h_seconds\n      help: h\n"
			       "      bucket_type: fixed\n      bucket_keys: [");
	for (size_t i = 0; i < keys; i++)
		len += (size_t)snprintf(y + len, cap - len, "%s%zu", i ? ", " : "", i);
	snprintf(y + len, cap - len,
		 "]\n      labels:\n        - name: bucket\n          size: 8\n"
		 "          decoders: [{name: uint}]\n");
	return y;
}

static void test_fixed_hist_limit(void **state)
{
	struct bb_config *cfg = NULL;
	char err[BB_ERRMSG_MAX] = "";
	char *y = fixed_hist_yaml(BB_HIST_MAX_BUCKETS + 1);
	double *le = NULL;
	int64_t *le_raw = NULL;
	size_t n = 0;

	(void)state;
	assert_int_not_equal(bb_config_parse("big.yaml", y, strlen(y), &cfg, err, sizeof(err)), 0);
	assert_null(cfg);
	assert_string_equal(err, "big.yaml:6:20: metrics.histograms[0].bucket_keys: expected at "
				 "most 4096 bucket keys, got a list of 4097");
	free(y);

	/* the limit itself is accepted and reads as 4096 buckets, not as empty */
	y = fixed_hist_yaml(BB_HIST_MAX_BUCKETS);
	err[0] = '\0';
	assert_int_equal(bb_config_parse("big.yaml", y, strlen(y), &cfg, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(bb_hist_bounds(&cfg->metrics[0], &le, &le_raw, &n), 0);
	assert_true(n >= BB_HIST_MAX_BUCKETS);
	assert_int_equal(le_raw[BB_HIST_MAX_BUCKETS - 1], BB_HIST_MAX_BUCKETS - 1);
	free(le);
	free(le_raw);
	bb_config_free(cfg);
	free(y);
}

/* ---- bb_strerror from threads ------------------------------------------------------------ */

struct strerror_arg {
	int err;
	const char *text;
	char copy[64];
};

static pthread_barrier_t both_formatted;

static void *strerror_thread(void *p)
{
	struct strerror_arg *a = p;

	a->text = bb_strerror(a->err);
	/* the other thread formats its own number meanwhile */
	pthread_barrier_wait(&both_formatted);
	snprintf(a->copy, sizeof(a->copy), "%s", a->text);
	return NULL;
}

static void test_strerror_threads(void **state)
{
	struct strerror_arg a = { .err = 40001 }, b = { .err = -40002 };
	pthread_t ta, tb;

	(void)state;
	assert_string_equal(bb_strerror(EACCES), "Permission denied");
	assert_string_equal(bb_strerror(-EACCES), "Permission denied");
	assert_int_equal(pthread_barrier_init(&both_formatted, NULL, 2), 0);
	assert_int_equal(pthread_create(&ta, NULL, strerror_thread, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, strerror_thread, &b), 0);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(pthread_join(tb, NULL), 0);
	pthread_barrier_destroy(&both_formatted);
	/* unknown numbers are formatted into a buffer of each thread's own */
	assert_string_equal(a.copy, "Unknown error 40001");
	assert_string_equal(b.copy, "Unknown error 40002");
	assert_string_equal(bb_strerror(40003), "Unknown error 40003");
}

/* ---- fuzz findings ------------------------------------------------------------------------- */

static int parse_regexp(const char *re, char *err, size_t errlen)
{
	char yaml[512];
	struct bb_config *cfg = NULL;
	int rc;

	snprintf(yaml, sizeof(yaml),
		 "metrics:\n  counters:\n    - name: c_total\n      help: h\n      labels:\n"
		 "        - name: l\n          size: 8\n          decoders:\n"
		 "            - name: string\n            - name: regexp\n"
		 "              regexps: ['%s']\n",
		 re);
	err[0] = '\0';
	rc = bb_config_parse("re.yaml", yaml, strlen(yaml), &cfg, err, errlen);
	bb_config_free(cfg);
	return rc;
}

/* fuzz_config: "b++++..." made glibc's regcomp take minutes and GBs */
static void test_nested_repetition_refused(void **state)
{
	char err[BB_ERRMSG_MAX];

	(void)state;
	assert_int_not_equal(
		parse_regexp("|b++++++++++++++++++++++++++++++++++)", err, sizeof(err)), 0);
	if (!strstr(err, "re.yaml:10:15: "))
		fail_msg("%s", err);
	assert_non_null(strstr(err, "expected no repetition operator right after another "
				    "(at offset 3)"));
	assert_int_not_equal(parse_regexp("^a*{2}$", err, sizeof(err)), 0);
	assert_int_not_equal(parse_regexp("x+??", err, sizeof(err)), 0);
	/* a lazy marker, operators inside brackets, escaped ones: accepted */
	assert_int_equal(parse_regexp("^sd.*?$", err, sizeof(err)), 0);
	assert_int_equal(parse_regexp("^[+*?]+[]*]{1,3}\\++$", err, sizeof(err)), 0);
	assert_int_equal(parse_regexp("^[[:alpha:]]+[^]x]*$", err, sizeof(err)), 0);
	/* fuzz_config again (a timeout in the fresh-machine check's CI run): a
	 * '[' inside a bracket is a literal, and the ']' after it closes the
	 * bracket; the scan took it for an opening and missed the '+' chain */
	assert_int_not_equal(
		parse_regexp("|al[{x se[]exp1zero++++++++++++++++++++++)", err, sizeof(err)), 0);
	assert_non_null(strstr(err, "(at offset 20)"));
	assert_int_not_equal(parse_regexp("[[:digit:]]++", err, sizeof(err)), 0);
}

/* fuzz_decode: a decode error quoting kstack's frames held newlines */
static void test_decode_error_one_line(void **state)
{
	static const char yaml[] = "metrics:\n  counters:\n    - name: c_total\n      help: h\n"
				   "      labels:\n        - name: l\n          size: 16\n"
				   "          decoders: [{name: kstack}, {name: uint}]\n";
	const struct bb_decode_paths paths = { .kallsyms = BB_TEST_DATA_DIR "/decode/kallsyms" };
	struct bb_decode_ctx *ctx = bb_decode_ctx_new(&paths);
	uint64_t key[2] = { 0xffffffff81000000ull, 0xffffffff81000010ull };
	char err[BB_ERRMSG_MAX] = "", out[BB_LABEL_MAX];
	struct bb_config *cfg = NULL;

	(void)state;
	assert_non_null(ctx);
	assert_int_equal(bb_config_parse("k.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err)), 0);
	assert_int_equal(bb_decode_label(ctx, &cfg->metrics[0].labels[0], (const uint8_t *)key, out,
					 sizeof(out), err, sizeof(err)),
			 BB_DECODE_ERROR);
	assert_non_null(strstr(err, "uint: expected a decimal number"));
	assert_null(strchr(err, '\n'));
	bb_config_free(cfg);
	bb_decode_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_online_cpus, reset_hooks),
		cmocka_unit_test_setup(test_online_cpus_no_leak, reset_hooks),
		cmocka_unit_test_setup(test_online_cpus_errno, reset_hooks),
		cmocka_unit_test(test_fixed_hist_limit),
		cmocka_unit_test(test_strerror_threads),
		cmocka_unit_test(test_nested_repetition_refused),
		cmocka_unit_test(test_decode_error_one_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
