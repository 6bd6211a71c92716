/* SPDX-License-Identifier: MIT */
/*
 * The reader against real kernel maps made with bpf_map_create() (no BPF
 * program needed): exact values, per-CPU sums and the cpu label, batch and
 * key-by-key iteration, cardinality limit, filtering and decode errors,
 * histogram assembly, sticky admission, and map checks. Needs CAP_BPF (root):
 * skipped without it, failed without it under BPFBRIDGE_REQUIRE_BPF=1.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "config.h"
#include "decode.h"
#include "log.h"
#include "reader.h"
#include "snapshot.h"

struct fixture {
	struct bb_config *cfg;
	struct bb_decode_ctx *dctx;
	struct bb_reader *rd;
	struct bb_snapshot *snap;
	int fds[4];
	size_t n_fds;
};

static char last_log[1024];

static void capture_log(enum bb_log_level level, const char *msg, void *ctx)
{
	snprintf(last_log, sizeof(last_log), "%s", msg);
}

/* A map, or skip (fail under BPFBRIDGE_REQUIRE_BPF=1) when BPF is not allowed. */
static int new_map(enum bpf_map_type type, uint32_t key_size, uint32_t max_entries)
{
	const char *require = getenv("BPFBRIDGE_REQUIRE_BPF");
	int fd = bpf_map_create(type, "bb_test", key_size, sizeof(uint64_t), max_entries, NULL);

	if (fd < 0) {
		if (require && strcmp(require, "1") == 0)
			fail_msg("bpf_map_create: %s (BPFBRIDGE_REQUIRE_BPF=1)", strerror(errno));
		skip();
	}
	return fd;
}

static struct fixture *setup(const char *yaml, const struct bb_options *opts)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[BB_ERRMSG_MAX] = "";
	struct bb_options o;

	assert_non_null(f);
	bb_log_set_sink(capture_log, NULL);
	if (bb_config_parse("/test/t.yaml", yaml, strlen(yaml), &f->cfg, err, sizeof(err)))
		fail_msg("config: %s", err);
	f->dctx = bb_decode_ctx_new(NULL);
	assert_non_null(f->dctx);
	if (!opts) {
		bb_options_init(&o);
		opts = &o;
	}
	f->rd = bb_reader_new(f->cfg, opts, f->dctx);
	assert_non_null(f->rd);
	return f;
}

static void bind(struct fixture *f, size_t metric, int fd)
{
	char err[BB_ERRMSG_MAX] = "";

	f->fds[f->n_fds++] = fd;
	if (bb_reader_bind(f->rd, metric, fd, err, sizeof(err)))
		fail_msg("bind: %s", err);
}

static const struct bb_family *read_once(struct fixture *f, const char *family)
{
	struct bb_read_result res;

	bb_snapshot_unref(f->snap);
	f->snap = bb_snapshot_new();
	assert_non_null(f->snap);
	assert_int_equal(bb_reader_read(f->rd, f->snap, &res), 0);
	assert_int_equal(res.read_errors, 0);
	bb_snapshot_finish(f->snap);
	return bb_snapshot_find(f->snap, family);
}

static void teardown(struct fixture *f)
{
	bb_snapshot_unref(f->snap);
	bb_reader_free(f->rd);
	bb_decode_ctx_free(f->dctx);
	bb_config_free(f->cfg);
	for (size_t i = 0; i < f->n_fds; i++)
		close(f->fds[i]);
	free(f);
	bb_log_set_sink(NULL, NULL);
}

static uint64_t value_of(const struct bb_family *fam, const char *const *labels)
{
	for (size_t i = 0; i < fam->n_series; i++) {
		size_t l;

		for (l = 0; l < fam->n_labels; l++) {
			if (strcmp(fam->series[i].label_values[l], labels[l]))
				break;
		}
		if (l == fam->n_labels)
			return fam->series[i].value;
	}
	fail_msg("no series %s... in %s", labels[0], fam->name);
	return 0;
}

static const char counter_yaml[] = "metrics:\n"
				   "  counters:\n"
				   "    - name: things_total\n"
				   "      help: things\n"
				   "      labels:\n"
				   "        - name: id\n"
				   "          size: 4\n"
				   "          decoders:\n"
				   "            - name: uint\n";

static void put(int fd, uint32_t key, uint64_t value)
{
	assert_int_equal(bpf_map_update_elem(fd, &key, &value, BPF_ANY), 0);
}

static void test_counter_values_exact(void **state)
{
	struct fixture *f = setup(counter_yaml, NULL);
	int fd = new_map(BPF_MAP_TYPE_HASH, 4, 64);
	const struct bb_family *fam;

	put(fd, 7, 70);
	put(fd, 3, 30);
	put(fd, 12, 1ULL << 40);
	bind(f, 0, fd);
	fam = read_once(f, "things_total");
	assert_non_null(fam);
	assert_int_equal(fam->n_series, 3);
	assert_int_equal(value_of(fam, (const char *[]){ "12" }), 1ULL << 40);
	assert_int_equal(value_of(fam, (const char *[]){ "3" }), 30);
	assert_int_equal(value_of(fam, (const char *[]){ "7" }), 70);
	/* first seen, first listed: ids ascend, and the order holds on the next read */
	assert_true(fam->series[0].id < fam->series[1].id && fam->series[1].id < fam->series[2].id);
	assert_int_equal(bb_reader_stats(f->rd, 0)->series_last, 3);
	teardown(f);
}

/* 3000 entries: batch lookups continue past their first chunk, and key-by-key
 * iteration finds the same thing. */
static void check_many(bool batch)
{
	struct fixture *f = setup(counter_yaml, NULL);
	int fd = new_map(BPF_MAP_TYPE_HASH, 4, 4096);
	const struct bb_family *fam;
	uint64_t total = 0;

	for (uint32_t k = 0; k < 3000; k++)
		put(fd, k, k + 1);
	if (!batch)
		bb_reader_disable_batch(f->rd);
	bind(f, 0, fd);
	fam = read_once(f, "things_total");
	assert_int_equal(fam->n_series, 3000);
	for (size_t i = 0; i < fam->n_series; i++) {
		assert_int_equal(fam->series[i].value,
				 strtoull(fam->series[i].label_values[0], NULL, 10) + 1);
		total += fam->series[i].value;
	}
	assert_int_equal(total, 3000ULL * 3001 / 2);
	teardown(f);
}

static void test_batch_reads_everything(void **state)
{
	check_many(true);
}

static void test_iteration_reads_everything(void **state)
{
	check_many(false);
}

static void test_array_slots_never_nonzero_are_not_series(void **state)
{
	struct fixture *f = setup(counter_yaml, NULL);
	int fd = new_map(BPF_MAP_TYPE_ARRAY, 4, 4);
	const struct bb_family *fam;

	put(fd, 2, 5);
	bind(f, 0, fd);
	fam = read_once(f, "things_total");
	assert_int_equal(fam->n_series, 1);
	assert_int_equal(value_of(fam, (const char *[]){ "2" }), 5);
	put(fd, 0, 1);
	put(fd, 2, 0);
	fam = read_once(f, "things_total");
	assert_int_equal(fam->n_series, 2); /* slot 2 was non-zero once: still a series */
	assert_int_equal(value_of(fam, (const char *[]){ "0" }), 1);
	assert_int_equal(value_of(fam, (const char *[]){ "2" }), 0);
	teardown(f);
}

static void put_percpu(int fd, uint32_t key, int ncpu, uint64_t base)
{
	uint64_t *vals = calloc((size_t)ncpu, sizeof(uint64_t));

	assert_non_null(vals);
	for (int c = 0; c < ncpu; c++)
		vals[c] = base + (uint64_t)c;
	assert_int_equal(bpf_map_update_elem(fd, &key, vals, BPF_ANY), 0);
	free(vals);
}

/* What put_percpu(..., BASE) sums to over NCPU CPUs. */
static uint64_t percpu_total(uint64_t base, int ncpu)
{
	return base * (uint64_t)ncpu + (uint64_t)ncpu * (uint64_t)(ncpu - 1) / 2;
}

static void test_percpu_values_are_summed(void **state)
{
	struct fixture *f = setup(counter_yaml, NULL);
	int fd = new_map(BPF_MAP_TYPE_PERCPU_HASH, 4, 8);
	int ncpu = libbpf_num_possible_cpus();
	const struct bb_family *fam;

	put_percpu(fd, 1, ncpu, 10);
	bind(f, 0, fd);
	fam = read_once(f, "things_total");
	assert_int_equal(fam->n_series, 1);
	assert_int_equal(fam->series[0].value, percpu_total(10, ncpu));
	teardown(f);
}

/* Rebinding to a map with per-CPU values must not reuse buffers sized for one
 * value per entry (they were kept and overflowed). Under ASan or valgrind the
 * old code wrote past the value buffer; here the values must also be right. */
static void test_rebind_to_a_percpu_map(void **state)
{
	struct fixture *f = setup(counter_yaml, NULL);
	int plain = new_map(BPF_MAP_TYPE_HASH, 4, 2048);
	int percpu = new_map(BPF_MAP_TYPE_PERCPU_HASH, 4, 2048);
	int ncpu = libbpf_num_possible_cpus();
	const struct bb_family *fam;

	for (uint32_t k = 0; k < 2000; k++) {
		put(plain, k, 1);
		put_percpu(percpu, k, ncpu, 10);
	}
	bind(f, 0, plain);
	fam = read_once(f, "things_total");
	assert_int_equal(fam->n_series, 2000);
	bind(f, 0, percpu);
	fam = read_once(f, "things_total");
	assert_int_equal(fam->n_series, 2000);
	for (size_t i = 0; i < fam->n_series; i++)
		assert_int_equal(fam->series[i].value, percpu_total(10, ncpu));
	teardown(f);
}

static void test_percpu_cpu_label(void **state)
{
	static const char yaml[] = "metrics:\n"
				   "  counters:\n"
				   "    - name: things_total\n"
				   "      help: things\n"
				   "      labels:\n"
				   "        - name: id\n"
				   "          size: 4\n"
				   "          decoders:\n"
				   "            - name: uint\n"
				   "        - name: cpu\n"
				   "          size: 4\n"
				   "          decoders:\n"
				   "            - name: uint\n";
	struct fixture *f = setup(yaml, NULL);
	int fd = new_map(BPF_MAP_TYPE_PERCPU_HASH, 4, 8);
	int ncpu = libbpf_num_possible_cpus();
	const struct bb_family *fam;

	put_percpu(fd, 1, ncpu, 10);
	bind(f, 0, fd);
	fam = read_once(f, "things_total");
	assert_int_equal(fam->n_labels, 2);
	assert_string_equal(fam->label_names[1], "cpu");
	assert_int_equal(fam->n_series, ncpu);
	for (int c = 0; c < ncpu; c++) {
		char cpu[16];

		snprintf(cpu, sizeof(cpu), "%d", c);
		assert_int_equal(value_of(fam, (const char *[]){ "1", cpu }), 10 + c);
	}
	teardown(f);
}

/* The same rule for per-CPU arrays: 0 on every CPU so far, no series. */
static void test_percpu_array_slots_never_nonzero_are_not_series(void **state)
{
	struct fixture *f = setup(counter_yaml, NULL);
	int fd = new_map(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 16);
	int ncpu = libbpf_num_possible_cpus();
	const struct bb_family *fam;

	put_percpu(fd, 3, ncpu, 1);
	put_percpu(fd, 9, ncpu, 0); /* CPU 0 holds 0, CPU 1 (if any) 1 */
	bind(f, 0, fd);
	fam = read_once(f, "things_total");
	assert_int_equal(fam->n_series, ncpu > 1 ? 2 : 1);
	assert_int_equal(value_of(fam, (const char *[]){ "3" }), percpu_total(1, ncpu));
	teardown(f);
}

/* Linked with --wrap=bpf_map_lookup_batch: when nonzero, the next batch lookup
 * fails with this -errno, as an older kernel answers for a map type without
 * batch ops. */
static int batch_fault;
int __real_bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values,
				__u32 *count, const struct bpf_map_batch_opts *opts);
int __wrap_bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values,
				__u32 *count, const struct bpf_map_batch_opts *opts);
int __wrap_bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values,
				__u32 *count, const struct bpf_map_batch_opts *opts)
{
	int err = batch_fault;

	if (err) {
		batch_fault = 0;
		errno = -err;
		return err;
	}
	return __real_bpf_map_lookup_batch(fd, in_batch, out_batch, keys, values, count, opts);
}

/* Debian 11's 5.10 has no batch ops for per-CPU arrays and says so with the
 * kernel-internal ENOTSUPP (524): the reader iterates keys instead, exactly. */
static void test_kernel_enotsupp_falls_back_to_iteration(void **state)
{
	struct fixture *f = setup(counter_yaml, NULL);
	int fd = new_map(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 1024);
	int ncpu = libbpf_num_possible_cpus();
	const struct bb_family *fam;

	put_percpu(fd, 5, ncpu, 100);
	bind(f, 0, fd);
	batch_fault = -524;
	fam = read_once(f, "things_total");
	assert_int_equal(batch_fault, 0); /* the batch lookup was tried */
	assert_int_equal(fam->n_series, 1);
	assert_int_equal(value_of(fam, (const char *[]){ "5" }), percpu_total(100, ncpu));
	/* and stays on iteration: the next read needs no batch lookup to fail */
	put_percpu(fd, 6, ncpu, 1);
	fam = read_once(f, "things_total");
	assert_int_equal(fam->n_series, 2);
	teardown(f);
}

/* ebpf_exporter: a counter without labels is u32 key 0 of its map. */
static void test_no_labels_reads_key_zero(void **state)
{
	static const char yaml[] = "metrics:\n"
				   "  counters:\n"
				   "    - name: things_total\n"
				   "      help: things\n";
	struct fixture *f = setup(yaml, NULL);
	struct bb_map_desc wide = { "things_total", BPF_MAP_TYPE_HASH, 8, 8, 8 };
	char err[BB_ERRMSG_MAX] = "";
	int fd = new_map(BPF_MAP_TYPE_ARRAY, 4, 4);
	const struct bb_family *fam;

	assert_int_equal(bb_reader_check_map(f->cfg, &f->cfg->metrics[0], &wide, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "/test/t.yaml:3:7: metric things_total: it has no labels, so it "
				 "reads u32 key 0 as ebpf_exporter does, but map things_total has "
				 "8-byte keys");
	put(fd, 0, 7);
	put(fd, 1, 1000);
	bind(f, 0, fd);
	fam = read_once(f, "things_total");
	assert_int_equal(fam->n_labels, 0);
	assert_int_equal(fam->n_series, 1);
	assert_int_equal(fam->series[0].value, 7);
	teardown(f);
}

/* ebpf_exporter: a per-CPU map whose only label is cpu, one series per CPU. */
static void test_only_cpu_label(void **state)
{
	static const char yaml[] = "metrics:\n"
				   "  counters:\n"
				   "    - name: things_total\n"
				   "      help: things\n"
				   "      labels:\n"
				   "        - name: cpu\n"
				   "          size: 4\n"
				   "          decoders:\n"
				   "            - name: uint\n";
	struct fixture *f = setup(yaml, NULL);
	int fd = new_map(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 2);
	int ncpu = libbpf_num_possible_cpus();
	const struct bb_family *fam;

	put_percpu(fd, 0, ncpu, 10);
	put_percpu(fd, 1, ncpu, 500); /* not key 0: ignored */
	bind(f, 0, fd);
	fam = read_once(f, "things_total");
	assert_int_equal(fam->n_series, ncpu);
	for (int c = 0; c < ncpu; c++) {
		char cpu[16];

		snprintf(cpu, sizeof(cpu), "%d", c);
		assert_int_equal(value_of(fam, (const char *[]){ cpu }), 10 + (uint64_t)c);
	}
	teardown(f);
}

static void test_cpu_label_takes_no_key_bytes_only_per_cpu(void **state)
{
	static const char yaml[] = "metrics:\n"
				   "  counters:\n"
				   "    - name: things_total\n"
				   "      help: things\n"
				   "      labels:\n"
				   "        - name: id\n"
				   "          size: 4\n"
				   "          decoders:\n"
				   "            - name: uint\n"
				   "        - name: cpu\n"
				   "          size: 4\n"
				   "          decoders:\n"
				   "            - name: uint\n";
	struct fixture *f = setup(yaml, NULL);
	struct bb_map_desc plain = { "things_total", BPF_MAP_TYPE_HASH, 4, 8, 8 };
	struct bb_map_desc percpu = { "things_total", BPF_MAP_TYPE_PERCPU_HASH, 8, 8, 8 };
	char err[BB_ERRMSG_MAX] = "";

	/* a plain map: cpu is an ordinary 4-byte label */
	assert_int_equal(bb_reader_check_map(f->cfg, &f->cfg->metrics[0], &plain, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "/test/t.yaml:3:7: metric things_total: labels add up to 8 bytes "
				 "but map things_total has 4-byte keys");
	assert_int_equal(bb_reader_check_map(f->cfg, &f->cfg->metrics[0], &percpu, err,
					     sizeof(err)),
			 -EINVAL);
	assert_string_equal(
		err, "/test/t.yaml:3:7: metric things_total: labels add up to 4 bytes (the "
		     "cpu label of a per-CPU map takes none) but map things_total has 8-byte "
		     "keys");
	teardown(f);
}

static void test_map_checks(void **state)
{
	struct fixture *f = setup(counter_yaml, NULL);
	struct bb_map_desc ok = { "things_total", BPF_MAP_TYPE_LRU_HASH, 4, 8, 8 };
	struct bb_map_desc wide = { "things_total", BPF_MAP_TYPE_HASH, 4, 16, 8 };
	struct bb_map_desc ring = { "things_total", BPF_MAP_TYPE_RINGBUF, 0, 0, 4096 };
	char err[BB_ERRMSG_MAX] = "";

	assert_int_equal(bb_reader_check_map(f->cfg, &f->cfg->metrics[0], &ok, err, sizeof(err)),
			 0);
	assert_int_equal(bb_reader_check_map(f->cfg, &f->cfg->metrics[0], &wide, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "/test/t.yaml:3:7: metric things_total: map things_total has "
				 "16-byte values, expected 8 (a u64, or a per-CPU u64)");
	assert_int_equal(bb_reader_check_map(f->cfg, &f->cfg->metrics[0], &ring, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "map things_total is a ringbuf map; metrics read hash"));
	teardown(f);
}

static void test_cardinality_limit(void **state)
{
	struct bb_options opts;
	struct fixture *f;
	int fd;
	const struct bb_family *fam;

	bb_options_init(&opts);
	opts.max_series_per_metric = 4;
	f = setup(counter_yaml, &opts);
	fd = new_map(BPF_MAP_TYPE_HASH, 4, 64);
	for (uint32_t k = 0; k < 10; k++)
		put(fd, k, 1);
	bind(f, 0, fd);
	fam = read_once(f, "things_total");
	assert_int_equal(fam->n_series, 4);
	assert_int_equal(bb_reader_stats(f->rd, 0)->series_dropped, 6);
	/* counted again on every read: a total, like the counters it guards */
	fam = read_once(f, "things_total");
	assert_int_equal(fam->n_series, 4);
	assert_int_equal(bb_reader_stats(f->rd, 0)->series_dropped, 12);
	teardown(f);
}

static void test_admitted_series_are_never_displaced(void **state)
{
	struct bb_options opts;
	struct fixture *f;
	const struct bb_family *fam;
	char first[2][16];
	int fd;

	bb_options_init(&opts);
	opts.max_series_per_metric = 2;
	f = setup(counter_yaml, &opts);
	fd = new_map(BPF_MAP_TYPE_HASH, 4, 64);
	for (uint32_t k = 0; k < 20; k++)
		put(fd, k, k);
	bind(f, 0, fd);
	fam = read_once(f, "things_total");
	assert_int_equal(fam->n_series, 2);
	snprintf(first[0], sizeof(first[0]), "%s", fam->series[0].label_values[0]);
	snprintf(first[1], sizeof(first[1]), "%s", fam->series[1].label_values[0]);
	/* more keys, which reorders the hash map: the same two stay */
	for (uint32_t k = 20; k < 60; k++)
		put(fd, k, k);
	for (int r = 0; r < 3; r++) {
		fam = read_once(f, "things_total");
		assert_int_equal(fam->n_series, 2);
		assert_string_equal(fam->series[0].label_values[0], first[0]);
		assert_string_equal(fam->series[1].label_values[0], first[1]);
	}
	assert_int_equal(bb_reader_stats(f->rd, 0)->series_dropped, 18 + 3 * 58);
	teardown(f);
}

static void test_regexp_drop_is_filtering_not_an_error(void **state)
{
	static const char yaml[] = "metrics:\n"
				   "  counters:\n"
				   "    - name: things_total\n"
				   "      help: things\n"
				   "      labels:\n"
				   "        - name: id\n"
				   "          size: 4\n"
				   "          decoders:\n"
				   "            - name: uint\n"
				   "            - name: regexp\n"
				   "              regexps:\n"
				   "                - ^1[0-9]$\n";
	struct fixture *f = setup(yaml, NULL);
	int fd = new_map(BPF_MAP_TYPE_HASH, 4, 64);
	const struct bb_family *fam;

	put(fd, 5, 1);
	put(fd, 12, 2);
	put(fd, 17, 3);
	bind(f, 0, fd);
	fam = read_once(f, "things_total");
	assert_int_equal(fam->n_series, 2);
	assert_int_equal(value_of(fam, (const char *[]){ "12" }), 2);
	assert_int_equal(bb_reader_stats(f->rd, 0)->filtered, 1);
	assert_int_equal(bb_reader_stats(f->rd, 0)->decode_errors, 0);
	teardown(f);
}

static void test_decode_errors_are_counted_and_logged(void **state)
{
	static const char yaml[] = "metrics:\n"
				   "  counters:\n"
				   "    - name: things_total\n"
				   "      help: things\n"
				   "      labels:\n"
				   "        - name: dev\n"
				   "          size: 8\n"
				   "          decoders:\n"
				   "            - name: majorminor\n";
	struct fixture *f = setup(yaml, NULL);
	int fd = new_map(BPF_MAP_TYPE_HASH, 8, 8);
	const struct bb_family *fam;
	uint64_t bad = 1ULL << 40, good = 0, one = 1;

	assert_int_equal(bpf_map_update_elem(fd, &bad, &one, BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(fd, &good, &one, BPF_ANY), 0);
	bind(f, 0, fd);
	last_log[0] = '\0';
	fam = read_once(f, "things_total");
	assert_int_equal(fam->n_series, 1);
	assert_int_equal(bb_reader_stats(f->rd, 0)->decode_errors, 1);
	assert_non_null(strstr(last_log, "metric things_total: label dev: majorminor: "));
	/* the key is remembered as undecodable: not counted or logged again */
	last_log[0] = '\0';
	read_once(f, "things_total");
	assert_int_equal(bb_reader_stats(f->rd, 0)->decode_errors, 1);
	assert_string_equal(last_log, "");
	teardown(f);
}

struct hist_key {
	uint32_t op;
	uint32_t pad;
	uint64_t bucket;
};

static void test_histogram_from_rows(void **state)
{
	static const char yaml[] = "metrics:\n"
				   "  histograms:\n"
				   "    - name: lat_seconds\n"
				   "      help: latency\n"
				   "      bucket_type: exp2\n"
				   "      bucket_min: 0\n"
				   "      bucket_max: 3\n"
				   "      bucket_multiplier: 0.5\n"
				   "      labels:\n"
				   "        - name: op\n"
				   "          size: 4\n"
				   "          padding: 4\n"
				   "          decoders:\n"
				   "            - name: uint\n"
				   "        - name: bucket\n"
				   "          size: 8\n"
				   "          decoders:\n"
				   "            - name: uint\n";
	static const struct {
		struct hist_key k;
		uint64_t v;
	} rows[] = {
		{ { 1, 0xdead, 0 }, 2 }, /* padding bytes do not split a series */
		{ { 1, 0, 2 }, 3 },	 { { 1, 0, 4 }, 100 }, /* the sum, at bucket_max + 1 */
		{ { 2, 0, 1 }, 1 },	 { { 2, 0, 9 }, 4 }, /* beyond the sum key: only in +Inf */
	};
	struct fixture *f = setup(yaml, NULL);
	int fd = new_map(BPF_MAP_TYPE_HASH, sizeof(struct hist_key), 64);
	const struct bb_family *fam;
	const struct bb_series *s1, *s2;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(bpf_map_update_elem(fd, &rows[i].k, &rows[i].v, BPF_ANY), 0);
	bind(f, 0, fd);
	fam = read_once(f, "lat_seconds");
	assert_int_equal(fam->kind, BB_METRIC_HISTOGRAM);
	assert_int_equal(fam->n_labels, 1);
	assert_int_equal(fam->n_buckets, 4);
	assert_true(fam->le[3] == 4.0); /* 2^3 * 0.5 */
	assert_int_equal(fam->n_series, 2);
	/* series come in the order they were first seen (here, map order) */
	s1 = &fam->series[strcmp(fam->series[0].label_values[0], "1") == 0 ? 0 : 1];
	s2 = &fam->series[s1 == &fam->series[0] ? 1 : 0];
	assert_string_equal(s1->label_values[0], "1");
	assert_int_equal(s1->buckets[0], 2);
	assert_int_equal(s1->buckets[1], 2);
	assert_int_equal(s1->buckets[2], 5);
	assert_int_equal(s1->buckets[3], 5);
	assert_int_equal(s1->count, 5);
	assert_int_equal(s1->sum_raw, 100);
	assert_true(s1->sum == 50.0);
	assert_string_equal(s2->label_values[0], "2");
	assert_int_equal(s2->buckets[3], 1);
	assert_int_equal(s2->count, 5);
	teardown(f);
}

/* flat_index: an array of bucket_max + 2 slots per series label value, read
 * as if its keys were (label, bucket) rows. */
static const char flat_yaml[] = "metrics:\n"
				"  histograms:\n"
				"    - name: op_seconds\n"
				"      help: latency\n"
				"      bucket_type: exp2\n"
				"      bucket_max: 2\n"
				"      flat_index: true\n"
				"      labels:\n"
				"        - name: op\n"
				"          size: 2\n"
				"          padding: 2\n"
				"          decoders:\n"
				"            - name: uint\n"
				"        - name: bucket\n"
				"          size: 4\n"
				"          decoders:\n"
				"            - name: uint\n";

static void test_flat_index_histogram(void **state)
{
	struct fixture *f = setup(flat_yaml, NULL);
	int fd = new_map(BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), 4 * 4); /* ops 0..3 x 4 slots */
	const struct bb_family *fam;
	const struct bb_series *s;

	put(fd, 1 * 4 + 0, 2);	/* op 1: 2 in bucket 0 */
	put(fd, 1 * 4 + 2, 5);	/* 5 in bucket 2 */
	put(fd, 1 * 4 + 3, 40); /* the sum */
	put(fd, 3 * 4 + 1, 1);	/* op 3: 1 in bucket 1, sum 0 */
	bind(f, 0, fd);
	fam = read_once(f, "op_seconds");
	assert_int_equal(fam->n_buckets, 3);
	/* ops 0 and 2 never had a non-zero slot: not series */
	assert_int_equal(fam->n_series, 2);
	s = &fam->series[strcmp(fam->series[0].label_values[0], "1") == 0 ? 0 : 1];
	assert_string_equal(s->label_values[0], "1");
	assert_int_equal(s->buckets[0], 2);
	assert_int_equal(s->buckets[1], 2);
	assert_int_equal(s->buckets[2], 7);
	assert_int_equal(s->count, 7);
	assert_int_equal(s->sum_raw, 40);
	s = &fam->series[s == &fam->series[0] ? 1 : 0];
	assert_string_equal(s->label_values[0], "3");
	assert_int_equal(s->buckets[0], 0);
	assert_int_equal(s->buckets[1], 1);
	assert_int_equal(s->count, 1);
	/* the next read sees the increments */
	put(fd, 1 * 4 + 0, 3);
	fam = read_once(f, "op_seconds");
	s = &fam->series[strcmp(fam->series[0].label_values[0], "1") == 0 ? 0 : 1];
	assert_int_equal(s->count, 8);
	/* the keys written by the first read serve the later ones: a label
	 * first non-zero now is found under its own key */
	put(fd, 0 * 4 + 1, 4);
	put(fd, 2 * 4 + 2, 9);
	fam = read_once(f, "op_seconds");
	assert_int_equal(fam->n_series, 4);
	for (size_t i = 0; i < fam->n_series; i++) {
		const char *op = fam->series[i].label_values[0];

		assert_int_equal(fam->series[i].count, !strcmp(op, "0")	  ? 4
						       : !strcmp(op, "1") ? 8
						       : !strcmp(op, "2") ? 9
									  : 1);
		if (!strcmp(op, "0"))
			assert_int_equal(fam->series[i].buckets[0], 0);
		if (!strcmp(op, "2"))
			assert_int_equal(fam->series[i].buckets[1], 0);
	}
	teardown(f);
}

static void test_flat_index_map_checks(void **state)
{
	struct fixture *f = setup(flat_yaml, NULL);
	const struct bb_metric_conf *m = &f->cfg->metrics[0];
	struct bb_map_desc ok = { "op_seconds", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 4 * 100 };
	struct bb_map_desc hash = { "op_seconds", BPF_MAP_TYPE_HASH, 8, 8, 64 };
	struct bb_map_desc ragged = { "op_seconds", BPF_MAP_TYPE_ARRAY, 4, 8, 4 * 100 + 1 };
	struct bb_map_desc big = { "op_seconds", BPF_MAP_TYPE_ARRAY, 4, 8, 4 * 65537 };
	char err[BB_ERRMSG_MAX] = "";

	assert_int_equal(bb_reader_check_map(f->cfg, m, &ok, err, sizeof(err)), 0);
	assert_int_equal(bb_reader_check_map(f->cfg, m, &hash, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "/test/t.yaml:3:7: metric op_seconds: flat_index: true expects an "
				 "array or percpu_array map, but map op_seconds is a hash map");
	assert_int_equal(bb_reader_check_map(f->cfg, m, &ragged, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "/test/t.yaml:3:7: metric op_seconds: flat_index: true expects "
				 "map op_seconds to hold whole series of bucket_max + 2 = 4 "
				 "slots, but it has 401 entries");
	assert_int_equal(bb_reader_check_map(f->cfg, m, &big, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "/test/t.yaml:3:7: metric op_seconds: flat_index: map op_seconds "
				 "holds 65537 series, more than label op (2 bytes) can number");
	teardown(f);
}

/*
 * With release_read_buffers the read buffers' pages go back to the system
 * after each read (none resident between reads; without it they stay), and
 * the next read, refilling them, is as exact as the first.
 */
static void test_read_buffers_released_between_reads(void **state)
{
	enum { N = 100000 };
	for (int release = 0; release <= 1; release++) {
		struct bb_options o;
		struct fixture *f;
		int fd = new_map(BPF_MAP_TYPE_HASH, 4, N);
		const struct bb_family *fam;
		uint64_t total = 0;

		bb_options_init(&o);
		o.release_read_buffers = release;
		o.max_series_per_metric = N;
		f = setup(counter_yaml, &o);
		for (uint32_t k = 0; k < N; k++)
			put(fd, k, k + 1);
		bind(f, 0, fd);
		fam = read_once(f, "things_total");
		assert_int_equal(fam->n_series, N);
		if (release)
			assert_int_equal(bb_reader_buffers_resident(f->rd), 0);
		else /* 100000 keys of 4 bytes and values of 8 */
			assert_true(bb_reader_buffers_resident(f->rd) >= N * 12 - 2 * 4096);
		for (uint32_t k = 0; k < N; k++)
			put(fd, k, 2 * (k + 1));
		fam = read_once(f, "things_total");
		assert_int_equal(fam->n_series, N);
		for (size_t i = 0; i < fam->n_series; i++) {
			uint64_t k = strtoull(fam->series[i].label_values[0], NULL, 10);

			assert_int_equal(fam->series[i].value, 2 * (k + 1));
			assert_int_equal(fam->series[i].iv.value, k + 1);
			total += fam->series[i].value;
		}
		assert_int_equal(total, (uint64_t)N * (N + 1));
		if (release)
			assert_int_equal(bb_reader_buffers_resident(f->rd), 0);
		teardown(f);
	}
}

static void test_unbound_metric_reads_as_empty_family(void **state)
{
	struct fixture *f = setup(counter_yaml, NULL);
	const struct bb_family *fam = read_once(f, "things_total");

	assert_non_null(fam);
	assert_int_equal(fam->n_series, 0);
	teardown(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_values_exact),
		cmocka_unit_test(test_batch_reads_everything),
		cmocka_unit_test(test_iteration_reads_everything),
		cmocka_unit_test(test_array_slots_never_nonzero_are_not_series),
		cmocka_unit_test(test_percpu_values_are_summed),
		cmocka_unit_test(test_rebind_to_a_percpu_map),
		cmocka_unit_test(test_percpu_cpu_label),
		cmocka_unit_test(test_cpu_label_takes_no_key_bytes_only_per_cpu),
		cmocka_unit_test(test_percpu_array_slots_never_nonzero_are_not_series),
		cmocka_unit_test(test_kernel_enotsupp_falls_back_to_iteration),
		cmocka_unit_test(test_no_labels_reads_key_zero),
		cmocka_unit_test(test_only_cpu_label),
		cmocka_unit_test(test_map_checks),
		cmocka_unit_test(test_cardinality_limit),
		cmocka_unit_test(test_admitted_series_are_never_displaced),
		cmocka_unit_test(test_regexp_drop_is_filtering_not_an_error),
		cmocka_unit_test(test_decode_errors_are_counted_and_logged),
		cmocka_unit_test(test_histogram_from_rows),
		cmocka_unit_test(test_flat_index_histogram),
		cmocka_unit_test(test_flat_index_map_checks),
		cmocka_unit_test(test_read_buffers_released_between_reads),
		cmocka_unit_test(test_unbound_metric_reads_as_empty_family),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
