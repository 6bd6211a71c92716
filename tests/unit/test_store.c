/* SPDX-License-Identifier: MIT */
/*
 * The series store, fed rows directly (no kernel needed): sticky admission,
 * retirement and ids, provisional labels that resolve, escaping that keeps
 * labels unique, hash suffixes, counter resets, interval quantiles, and no
 * allocation per series in steady state (malloc is counted).
 */
#define _GNU_SOURCE
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpfbridge.h"
#include "config.h"
#include "decode.h"
#include "hist.h"
#include "log.h"
#include "snapshot.h"
#include "store.h"

/* ---- counting allocations ----------------------------------------------- */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static size_t n_allocs;

void *malloc(size_t n)
{
	n_allocs++;
	return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	n_allocs++;
	return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	n_allocs++;
	return __libc_realloc(p, n);
}

/* ---- fixture ----------------------------------------------------------------- */

struct fx {
	struct bb_config *cfg;
	struct bb_decode_ctx *dctx;
	struct bb_store *st;
	struct bb_snapshot *snap;
	uint32_t offsets[8];
};

static void quiet(enum bb_log_level level, const char *msg, void *ctx)
{
}

/* bb_store_params.keep_blocks of the next fx_new() */
static uint32_t fx_keep_blocks;

static struct fx *fx_new(const char *yaml, uint32_t max_series, uint32_t retire_after,
			 const struct bb_decode_paths *paths)
{
	static const double q[] = { 0.5, 0.9, 0.99 };
	struct fx *f = calloc(1, sizeof(*f));
	char err[BB_ERRMSG_MAX] = "";
	const struct bb_metric_conf *m;
	struct bb_store_params p = { .config_name = "t",
				     .max_series = max_series,
				     .retire_after = retire_after,
				     .quantiles = q,
				     .n_quantiles = 3,
				     .keep_blocks = fx_keep_blocks };
	struct bb_store_layout lay = { .cpu_label = -1, .ncpus = 1 };
	uint32_t off = 0;

	assert_non_null(f);
	bb_log_set_sink(quiet, NULL);
	if (bb_config_parse("/test/s.yaml", yaml, strlen(yaml), &f->cfg, err, sizeof(err)))
		fail_msg("config: %s", err);
	m = &f->cfg->metrics[0];
	f->dctx = bb_decode_ctx_new(paths);
	assert_non_null(f->dctx);
	bb_decode_ctx_set_refresh_ms(f->dctx, 0);
	if (m->kind == BB_METRIC_HISTOGRAM) {
		double *le;
		int64_t *raw;
		size_t n;

		assert_int_equal(bb_hist_bounds(m, &le, &raw, &n), 0);
		p.bounds = bb_bounds_new(le, raw, n, m->bucket_multiplier);
		assert_non_null(p.bounds);
		free(le);
		free(raw);
	}
	f->st = bb_store_new(m, &p, f->dctx);
	assert_non_null(f->st);
	bb_bounds_unref(p.bounds);
	for (size_t l = 0; l < m->n_labels; l++) {
		f->offsets[l] = off;
		off += m->labels[l].size + m->labels[l].padding;
	}
	lay.key_size = off;
	lay.offsets = f->offsets;
	assert_int_equal(bb_store_bind(f->st, &lay), 0);
	return f;
}

static void fx_free(struct fx *f)
{
	bb_snapshot_unref(f->snap);
	bb_store_free(f->st);
	bb_decode_ctx_free(f->dctx);
	bb_config_free(f->cfg);
	free(f);
	bb_log_set_sink(NULL, NULL);
}

struct kv {
	const void *key;
	uint64_t value;
};

/* One read of ROWS; the family it produced. */
static const struct bb_family *fx_read(struct fx *f, const struct kv *rows, size_t n)
{
	const struct bb_metric_conf *m = &f->cfg->metrics[0];
	const char *names[8];
	size_t nl = m->kind == BB_METRIC_HISTOGRAM ? m->n_labels - 1 : m->n_labels;
	struct bb_family *fam;

	for (size_t l = 0; l < nl; l++)
		names[l] = m->labels[l].name;
	bb_snapshot_unref(f->snap);
	f->snap = bb_snapshot_new();
	fam = bb_snapshot_family(f->snap, m->name, "h", m->kind, names, nl);
	assert_non_null(fam);
	bb_store_begin(f->st);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(bb_store_add(f->st, rows[i].key, &rows[i].value, 1), 0);
	assert_true(bb_store_end(f->st, fam) >= 0);
	bb_snapshot_finish(f->snap);
	return &f->snap->families[0];
}

static const struct bb_series *find(const struct bb_family *fam, const char *label)
{
	for (size_t i = 0; i < fam->n_series; i++)
		if (strcmp(fam->series[i].label_values[0], label) == 0)
			return &fam->series[i];
	return NULL;
}

static const char uint_yaml[] = "metrics:\n"
				"  counters:\n"
				"    - name: things_total\n"
				"      help: things\n"
				"      labels:\n"
				"        - name: id\n"
				"          size: 4\n"
				"          decoders:\n"
				"            - name: uint\n";

/* ---- admission ------------------------------------------------------------- */

static void test_admission_is_sticky(void **state)
{
	uint32_t keys[10] = { 5, 1, 9, 0, 2, 3, 4, 6, 7, 8 };
	struct kv rows[10];
	struct fx *f = fx_new(uint_yaml, 3, 5, NULL);
	const struct bb_family *fam;

	for (int i = 0; i < 10; i++)
		rows[i] = (struct kv){ &keys[i], 1 };
	fam = fx_read(f, rows, 10);
	assert_int_equal(fam->n_series, 3);
	assert_non_null(find(fam, "5"));
	assert_non_null(find(fam, "1"));
	assert_non_null(find(fam, "9"));
	assert_int_equal(bb_store_stats(f->st)->series_dropped, 7);
	/* another order (a hash map's order changes as it grows): the same three */
	for (int round = 0; round < 5; round++) {
		struct kv rev[10];

		for (int i = 0; i < 10; i++)
			rev[i] = (struct kv){ &keys[9 - i], (uint64_t)round + 2 };
		fam = fx_read(f, rev, 10);
		assert_int_equal(fam->n_series, 3);
		assert_non_null(find(fam, "5"));
		assert_non_null(find(fam, "1"));
		assert_non_null(find(fam, "9"));
		assert_int_equal(find(fam, "9")->value, (uint64_t)round + 2);
	}
	/* dropped once per read per key: 7 a read, 6 reads */
	assert_int_equal(bb_store_stats(f->st)->series_dropped, 42);
	fx_free(f);
}

static void test_ids_are_stable_and_ordered(void **state)
{
	uint32_t keys[4] = { 30, 10, 20, 40 };
	struct kv rows[4];
	struct fx *f = fx_new(uint_yaml, 100, 5, NULL);
	const struct bb_family *fam;
	uint64_t ids[4];

	for (int i = 0; i < 4; i++)
		rows[i] = (struct kv){ &keys[i], 1 };
	fam = fx_read(f, rows, 4);
	assert_int_equal(fam->n_series, 4);
	static const char *const order[] = { "30", "10", "20", "40" };

	for (int i = 0; i < 4; i++) {
		ids[i] = fam->series[i].id;
		/* first seen, first listed: ascending ids, no sort */
		assert_string_equal(fam->series[i].label_values[0], order[i]);
		if (i)
			assert_true(ids[i] > ids[i - 1]);
	}
	fam = fx_read(f, rows + 1, 3); /* 30 is gone this read */
	assert_int_equal(fam->n_series, 3);
	assert_null(find(fam, "30"));
	assert_int_equal(find(fam, "10")->id, ids[1]);
	fam = fx_read(f, rows, 4); /* back within retire_after: same id, same place */
	assert_int_equal(fam->series[0].id, ids[0]);
	assert_string_equal(fam->series[0].label_values[0], "30");
	fx_free(f);
}

/* Ids are unique in the process: two stores (or a store made anew for the
 * same metric, as when an engine is reopened) never hand out the same one,
 * and each store's ids still ascend in its order of admission. */
static void test_ids_are_unique_across_stores(void **state)
{
	uint32_t keys[3] = { 7, 8, 9 };
	struct kv rows[3];
	struct fx *f1 = fx_new(uint_yaml, 100, 5, NULL), *f2 = fx_new(uint_yaml, 100, 5, NULL);
	const struct bb_family *fam1, *fam2;
	uint64_t ids1[3], ids2[3];

	for (int i = 0; i < 3; i++)
		rows[i] = (struct kv){ &keys[i], 1 };
	fam1 = fx_read(f1, rows, 1);
	fam2 = fx_read(f2, rows, 3);
	fam1 = fx_read(f1, rows, 3);
	assert_int_equal(fam1->n_series, 3);
	assert_int_equal(fam2->n_series, 3);
	for (int i = 0; i < 3; i++) {
		ids1[i] = fam1->series[i].id;
		ids2[i] = fam2->series[i].id;
		assert_true(ids1[i] >= 1 && ids2[i] >= 1);
		if (i) {
			assert_true(ids1[i] > ids1[i - 1]);
			assert_true(ids2[i] > ids2[i - 1]);
		}
	}
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			assert_true(ids1[i] != ids2[j]);
	/* The same labels in a new store: new ids. */
	fx_free(f2);
	f2 = fx_new(uint_yaml, 100, 5, NULL);
	fam2 = fx_read(f2, rows, 3);
	for (int i = 0; i < 3; i++)
		assert_true(fam2->series[i].id > ids2[2] && fam2->series[i].id > ids1[2]);
	fx_free(f1);
	fx_free(f2);
}

/* A store that replaces another (a config reloaded) keeps each unchanged label
 * set's id, gives a changed one a new id, emits in id order although it admits
 * in another order, and forgets unclaimed ids after retire_after reads. */
static void test_inherited_ids(void **state)
{
	uint32_t keys[4] = { 1, 2, 3, 4 };
	struct kv rows[4];
	struct fx *old = fx_new(uint_yaml, 100, 2, NULL), *f = fx_new(uint_yaml, 100, 2, NULL);
	const struct bb_family *fam;
	uint64_t ids[3];

	for (int i = 0; i < 4; i++)
		rows[i] = (struct kv){ &keys[i], 1 };
	fam = fx_read(old, rows, 3);
	for (int i = 0; i < 3; i++)
		ids[i] = fam->series[i].id;
	assert_int_equal(bb_store_inherit(f->st, old->st), 0);
	fx_free(old); /* the predecessor may go at once */

	/* 3 first, then 4 (new), then 1: admitted 3, 4, 1 */
	struct kv first[2] = { rows[2], rows[3] };
	fam = fx_read(f, first, 2);
	assert_int_equal(fam->n_series, 2);
	assert_int_equal(find(fam, "3")->id, ids[2]);
	assert_true(find(fam, "4")->id > ids[2]);
	fam = fx_read(f, rows, 4);
	assert_int_equal(fam->n_series, 4);
	assert_int_equal(find(fam, "1")->id, ids[0]);
	assert_int_equal(find(fam, "2")->id, ids[1]);
	for (size_t i = 1; i < fam->n_series; i++)
		assert_true(fam->series[i].id > fam->series[i - 1].id);
	assert_string_equal(fam->series[0].label_values[0], "1");
	assert_string_equal(fam->series[3].label_values[0], "4");
	fx_free(f);

	/* an id unclaimed for retire_after reads is gone: the label set comes back new */
	old = fx_new(uint_yaml, 100, 2, NULL);
	f = fx_new(uint_yaml, 100, 2, NULL);
	fam = fx_read(old, rows, 2);
	ids[0] = find(fam, "1")->id;
	ids[1] = find(fam, "2")->id;
	assert_int_equal(bb_store_inherit(f->st, old->st), 0);
	fx_free(old);
	fam = fx_read(f, rows + 1, 1);
	assert_int_equal(find(fam, "2")->id, ids[1]);
	fx_read(f, rows + 1, 1);
	fam = fx_read(f, rows, 2);
	assert_true(find(fam, "1")->id > ids[1]);
	assert_int_equal(find(fam, "2")->id, ids[1]);
	fx_free(f);
}

static void test_retire_after_unseen_reads(void **state)
{
	uint32_t a = 1, b = 2;
	struct kv both[2] = { { &a, 1 }, { &b, 1 } }, only_b[1] = { { &b, 2 } };
	struct fx *f = fx_new(uint_yaml, 1, 2, NULL);
	const struct bb_family *fam;
	uint64_t id_a;

	fam = fx_read(f, both, 2);
	assert_int_equal(fam->n_series, 1);
	id_a = find(fam, "1")->id;
	fx_read(f, only_b, 1); /* a unseen 1 read; b still over the limit */
	assert_int_equal(bb_store_stats(f->st)->series_retired, 0);
	fam = fx_read(f, only_b, 1); /* unseen 2 reads: retired, room for b */
	assert_int_equal(bb_store_stats(f->st)->series_retired, 1);
	assert_int_equal(bb_store_stats(f->st)->series_live, 0);
	/* b's key was dropped while seen: it stays dropped (sticky) */
	assert_int_equal(fam->n_series, 0);
	fam = fx_read(f, both, 2);
	/* a's key is new again: admitted with a new id, never the old one */
	assert_int_equal(fam->n_series, 1);
	assert_true(find(fam, "1")->id > id_a);
	fx_free(f);
}

static void test_churn_keeps_memory_flat(void **state)
{
	struct fx *f = fx_new(uint_yaml, 100000, 2, NULL);
	uint32_t keys[256];
	struct kv rows[256];
	size_t mem_after_warmup = 0;

	for (uint32_t r = 0; r < 2000; r++) {
		/* half the keys change every read */
		for (uint32_t i = 0; i < 256; i++) {
			keys[i] = i < 128 ? i : 1000000 + r * 128 + i; /* same width: same bytes */
			rows[i] = (struct kv){ &keys[i], r };
		}
		fx_read(f, rows, 256);
		if (r == 100)
			mem_after_warmup = bb_store_memory(f->st);
	}
	assert_true(bb_store_stats(f->st)->series_live <= 128 + 128 * 3);
	assert_int_equal(bb_store_memory(f->st), mem_after_warmup);
	fx_free(f);
}

/* ---- labels -------------------------------------------------------------------- */

static const char string_yaml[] = "metrics:\n"
				  "  counters:\n"
				  "    - name: names_total\n"
				  "      help: names\n"
				  "      labels:\n"
				  "        - name: name\n"
				  "          size: 8\n"
				  "          decoders:\n"
				  "            - name: string\n";

static void test_invalid_bytes_escape_uniquely(void **state)
{
	char k[5][8] = { "a\xff", "a\xfe", "a\\xff", "a\\x2d", "caf\xc3\xa9" };
	struct kv rows[5];
	struct fx *f = fx_new(string_yaml, 100, 5, NULL);
	const struct bb_family *fam;

	for (int i = 0; i < 5; i++)
		rows[i] = (struct kv){ k[i], (uint64_t)i + 1 };
	fam = fx_read(f, rows, 5);
	assert_int_equal(fam->n_series, 5);
	assert_int_equal(find(fam, "a\\xff")->value, 1); /* the byte 0xff */
	assert_int_equal(find(fam, "a\\xfe")->value, 2);
	assert_int_equal(find(fam, "a\\x5cxff")->value, 3); /* the text \xff */
	assert_int_equal(find(fam, "a\\x2d")->value, 4);    /* systemd's escape: unchanged */
	assert_int_equal(find(fam, "caf\xc3\xa9")->value, 5);
	fx_free(f);
}

static void test_escape_is_reversible(void **state)
{
	/* decode the escaped text back and compare, over many byte strings */
	unsigned seed = 1;

	for (int t = 0; t < 20000; t++) {
		char in[12], out[BB_LABEL_MAX], back[12 * 4];
		size_t n = 1 + (size_t)(rand_r(&seed) % 10), w = 0;
		static const char alphabet[] = {
			'\\', 'x', 'f',	       'F',	   '5',	       'c',
			'2',  'a', (char)0xff, (char)0xc3, (char)0xa9, 0x01
		};

		for (size_t i = 0; i < n; i++)
			in[i] = alphabet[rand_r(&seed) % sizeof(alphabet)];
		in[n] = '\0';
		assert_false(bb_label_escape(in, out, sizeof(out)));
		for (size_t i = 0; out[i];) {
			unsigned v;

			if (out[i] == '\\' && out[i + 1] == 'x' &&
			    sscanf(out + i + 2, "%2x", &v) == 1 && out[i + 2] && out[i + 3] &&
			    (v < 0x20 || v == 0x7f || v >= 0x80 || v == 0x5c) &&
			    strchr("0123456789abcdef", out[i + 2]) &&
			    strchr("0123456789abcdef", out[i + 3])) {
				back[w++] = (char)v;
				i += 4;
			} else {
				back[w++] = out[i++];
			}
		}
		back[w] = '\0';
		if (strcmp(back, in) != 0)
			fail_msg("escape of %zu bytes did not read back (got \"%s\")", n, out);
	}
}

static const char long_yaml[] = "metrics:\n"
				"  counters:\n"
				"    - name: long_total\n"
				"      help: long\n"
				"      labels:\n"
				"        - name: name\n"
				"          size: 300\n"
				"          decoders:\n"
				"            - name: string\n";

static void test_long_labels_keep_a_hash_suffix(void **state)
{
	char a[300], b[300];
	struct kv rows[2] = { { a, 1 }, { b, 2 } };
	struct fx *f = fx_new(long_yaml, 100, 5, NULL);
	const struct bb_family *fam;

	memset(a, 'x', sizeof(a));
	memset(b, 'x', sizeof(b));
	a[298] = 'a';
	b[298] = 'b';
	a[299] = b[299] = '\0';
	fam = fx_read(f, rows, 2);
	assert_int_equal(fam->n_series, 2);
	for (int i = 0; i < 2; i++) {
		const char *v = fam->series[i].label_values[0];

		assert_int_equal(strlen(v), BB_LABEL_MAX - 1);
		assert_int_equal(v[BB_LABEL_MAX - 1 - 17], '~');
	}
	assert_string_not_equal(fam->series[0].label_values[0], fam->series[1].label_values[0]);
	assert_int_equal(bb_store_stats(f->st)->labels_truncated, 2);
	fx_free(f);
}

static const char static_yaml[] = "metrics:\n"
				  "  counters:\n"
				  "    - name: folded_total\n"
				  "      help: folded\n"
				  "      labels:\n"
				  "        - name: kind\n"
				  "          size: 4\n"
				  "          decoders:\n"
				  "            - name: uint\n"
				  "            - name: static_map\n"
				  "              static_map:\n"
				  "                1: odd\n"
				  "                3: odd\n"
				  "                2: even\n";

static void test_keys_with_the_same_labels_feed_one_series(void **state)
{
	uint32_t k[3] = { 1, 2, 3 };
	struct kv rows[3] = { { &k[0], 10 }, { &k[1], 5 }, { &k[2], 7 } };
	struct fx *f = fx_new(static_yaml, 100, 5, NULL);
	const struct bb_family *fam;

	fam = fx_read(f, rows, 3);
	assert_int_equal(fam->n_series, 2);
	assert_int_equal(find(fam, "odd")->value, 17);
	assert_int_equal(find(fam, "even")->value, 5);
	rows[0].value = 11;
	fam = fx_read(f, rows, 3);
	assert_int_equal(find(fam, "odd")->value, 18);
	assert_int_equal(find(fam, "odd")->iv.value, 1);
	fx_free(f);
}

static const char cgroup_yaml[] = "metrics:\n"
				  "  counters:\n"
				  "    - name: cg_total\n"
				  "      help: by cgroup\n"
				  "      labels:\n"
				  "        - name: cgroup\n"
				  "          size: 8\n"
				  "          decoders:\n"
				  "            - name: cgroup\n";

static void test_provisional_label_is_relabelled(void **state)
{
	char root[] = "/tmp/bb-store-cg.XXXXXX", dir[128], away[128], want[64];
	struct bb_decode_paths paths = { .cgroup_root = root };
	struct stat sb;
	uint64_t id;
	struct kv row = { &id, 1 };
	struct fx *f;
	const struct bb_family *fam;
	uint64_t old_id;
	int reads;

	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/late", root);
	snprintf(away, sizeof(away), "%s.away", root);
	assert_int_equal(mkdir(away, 0755), 0);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(stat(dir, &sb), 0);
	id = sb.st_ino;
	/* the cgroup exists only after the first read */
	snprintf(want, sizeof(want), "%s/late", away);
	assert_int_equal(rename(dir, want), 0);
	f = fx_new(cgroup_yaml, 100, 5, &paths);
	fam = fx_read(f, &row, 1);
	assert_int_equal(fam->n_series, 1);
	assert_true(strncmp(fam->series[0].label_values[0], "unknown_cgroup_id:", 18) == 0);
	old_id = fam->series[0].id;
	assert_int_equal(rename(want, dir), 0);
	for (reads = 1; reads <= 3; reads++) {
		fam = fx_read(f, &row, 1);
		if (strcmp(fam->series[0].label_values[0], "/late") == 0)
			break;
	}
	assert_true(reads <= 3);
	assert_int_equal(fam->n_series, 1);
	assert_true(fam->series[0].id != old_id);
	assert_int_equal(bb_store_stats(f->st)->relabelled, 1);
	assert_int_equal(bb_store_stats(f->st)->series_retired, 1); /* the old label set */
	assert_int_equal(bb_store_stats(f->st)->series_live, 1);
	fx_free(f);
	rmdir(dir);
	rmdir(root);
	rmdir(away);
}

/* ---- values ------------------------------------------------------------------------ */

static void test_counter_reset(void **state)
{
	uint32_t k = 7;
	struct kv row = { &k, 10 };
	struct fx *f = fx_new(uint_yaml, 100, 5, NULL);
	const struct bb_family *fam;

	fam = fx_read(f, &row, 1);
	assert_false(fam->series[0].iv.valid); /* first read: no interval */
	row.value = 15;
	fam = fx_read(f, &row, 1);
	assert_true(fam->series[0].iv.valid);
	assert_false(fam->series[0].iv.reset);
	assert_int_equal(fam->series[0].iv.value, 5);
	row.value = 3; /* the map was recreated */
	fam = fx_read(f, &row, 1);
	assert_true(fam->series[0].iv.reset);
	assert_int_equal(fam->series[0].iv.value, 3);
	assert_int_equal(fam->series[0].value, 3);
	fx_free(f);
}

static void test_array_slots_never_nonzero_are_not_series(void **state)
{
	struct fx *f = fx_new(uint_yaml, 100, 5, NULL);
	struct bb_store_layout lay = {
		.key_size = 4, .offsets = f->offsets, .cpu_label = -1, .ncpus = 1, .array = true
	};
	uint32_t k[3] = { 0, 1, 2 };
	struct kv rows[3] = { { &k[0], 0 }, { &k[1], 4 }, { &k[2], 0 } };
	const struct bb_family *fam;

	assert_int_equal(bb_store_bind(f->st, &lay), 0);
	fam = fx_read(f, rows, 3);
	assert_int_equal(fam->n_series, 1);
	assert_int_equal(find(fam, "1")->value, 4);
	rows[1].value = 0; /* once non-zero, a series for good */
	fam = fx_read(f, rows, 3);
	assert_int_equal(fam->n_series, 1);
	assert_true(find(fam, "1")->iv.reset);
	fx_free(f);
}

/* A histogram of (op, bucket), bounds 0.5, 1, 2, 4; the bucket label's
 * decoders start with uint (tests may add more). */
#define HIST_YAML_HEAD                   \
	"metrics:\n"                     \
	"  histograms:\n"                \
	"    - name: lat_seconds\n"      \
	"      help: latency\n"          \
	"      bucket_type: exp2\n"      \
	"      bucket_min: 0\n"          \
	"      bucket_max: 3\n"          \
	"      bucket_multiplier: 0.5\n" \
	"      labels:\n"                \
	"        - name: op\n"           \
	"          size: 4\n"            \
	"          decoders:\n"          \
	"            - name: uint\n"     \
	"        - name: bucket\n"       \
	"          size: 4\n"            \
	"          decoders:\n"          \
	"            - name: uint\n"

static const char hist_yaml[] = HIST_YAML_HEAD;

struct hkey {
	uint32_t op, bucket;
};

static void test_histogram_interval(void **state)
{
	/* bounds 0.5, 1, 2, 4 (2^i * 0.5); sum at key 4 */
	struct hkey k[5] = { { 1, 0 }, { 1, 1 }, { 1, 2 }, { 1, 4 }, { 1, 9 } };
	struct kv rows[5] = { { &k[0], 1 }, { &k[1], 1 }, { &k[2], 0 }, { &k[3], 3 }, { &k[4], 0 } };
	struct fx *f = fx_new(hist_yaml, 100, 5, NULL);
	const struct bb_family *fam;
	const struct bb_series *s;

	size_t mem;

	fam = fx_read(f, rows, 5);
	mem = bb_store_memory(f->st);
	assert_int_equal(fam->n_series, 1);
	assert_string_equal(fam->le_text[0], "0.5");
	assert_string_equal(fam->le_text[3], "4");
	s = &fam->series[0];
	assert_int_equal(s->count, 2);
	assert_false(s->iv.valid);
	/* interval: +8 in bucket 2 (le 2), +2 beyond the sum key (+Inf only) */
	rows[2].value = 8;
	rows[3].value = 3 + 20;
	rows[4].value = 2;
	fam = fx_read(f, rows, 5);
	/* known rows are found again, not added again: 5 rows, 1 series key and
	 * nothing kept per (series, bucket) key */
	assert_int_equal(bb_store_memory(f->st), mem);
	assert_int_equal(bb_store_stats(f->st)->keys_live, 1);
	/* the row at bucket 9 matches no bucket: a decode error on each read */
	assert_int_equal(bb_store_stats(f->st)->decode_errors, 2);
	s = &fam->series[0];
	assert_true(s->iv.valid);
	assert_int_equal(s->iv.count, 10);
	assert_int_equal(s->iv.buckets[0], 0);
	assert_int_equal(s->iv.buckets[1], 0);
	assert_int_equal(s->iv.buckets[2], 8);
	assert_int_equal(s->iv.buckets[3], 8);
	assert_int_equal(s->iv.sum_raw, 20);
	assert_true(fabs(s->iv.mean - 1.0) < 1e-12); /* 20 * 0.5 / 10 */
	/* rank 5 of 8 in (1, 2]: 1 + 1 * 5/8 */
	assert_true(fabs(s->iv.quantiles[0] - 1.625) < 1e-12);
	/* rank 9 > 8: in +Inf, so the highest finite bound */
	assert_true(s->iv.quantiles[1] == 4.0);
	assert_int_equal(s->count, 12);
	/* an empty interval: NaN */
	fam = fx_read(f, rows, 5);
	assert_int_equal(bb_store_stats(f->st)->decode_errors, 3);
	s = &fam->series[0];
	assert_int_equal(s->iv.count, 0);
	assert_true(isnan(s->iv.quantiles[0]));
	assert_true(isnan(s->iv.mean));
	fx_free(f);
}

/*
 * Bucket label values are decoded once per distinct value, not per key, and
 * a row whose value is filtered, cannot be decoded or matches no bucket is
 * counted on every read it is in the map, however many series share it.
 */
static void test_bucket_values_decoded_once_counted_per_read(void **state)
{
	static const char yaml[] = HIST_YAML_HEAD "            - name: regexp\n"
						  "              regexps: [\"^[0-4]$\"]\n"
						  "            - name: static_map\n"
						  "              allow_unknown: true\n"
						  "              static_map:\n"
						  "                3: three\n"
						  "            - name: uint\n";
	/* per series: bucket 0, 1, 3 ("three": not an integer), 4 (the sum),
	 * 6 (filtered by the regexp) */
	static const uint32_t bk[5] = { 0, 1, 3, 4, 6 };
	struct hkey k[3 * 5];
	struct kv rows[3 * 5], good[3];
	struct fx *f = fx_new(yaml, 100, 5, NULL);
	const struct bb_metric_stats *st;
	const struct bb_family *fam;
	size_t mem;

	for (size_t i = 0; i < 3 * 5; i++) {
		k[i] = (struct hkey){ (uint32_t)(i / 5), bk[i % 5] };
		rows[i] = (struct kv){ &k[i], i % 5 == 3 ? 100 : 1 };
	}
	fam = fx_read(f, rows, 3 * 5);
	mem = bb_store_memory(f->st);
	st = bb_store_stats(f->st);
	assert_int_equal(fam->n_series, 3);
	for (size_t s = 0; s < 3; s++) {
		assert_int_equal(fam->series[s].buckets[0], 1);
		assert_int_equal(fam->series[s].buckets[1], 2);
		assert_int_equal(fam->series[s].buckets[3], 2);
		assert_int_equal(fam->series[s].count, 2);
		assert_int_equal(fam->series[s].sum_raw, 100);
	}
	assert_int_equal(st->keys_live, 3);
	assert_int_equal(st->decode_errors, 3);
	assert_int_equal(st->filtered, 3);
	fam = fx_read(f, rows, 3 * 5);
	assert_int_equal(st->decode_errors, 6);
	assert_int_equal(st->filtered, 6);
	assert_int_equal(bb_store_memory(f->st), mem);
	/* one read without the bad rows: nothing counted */
	for (size_t i = 0; i < 3; i++)
		good[i] = rows[i * 5]; /* bucket 0 of each series */
	fam = fx_read(f, good, 3);
	assert_int_equal(fam->n_series, 3);
	assert_int_equal(st->decode_errors, 6);
	assert_int_equal(st->filtered, 6);
	fx_free(f);
}

static void test_quantile_rules(void **state)
{
	const double le[] = { -1, 0, 1, 2 };
	const uint64_t cum[] = { 4, 4, 8, 8 };

	assert_true(isnan(bb_hist_quantile(0.5, le, cum, 4, 0)));
	assert_true(isnan(bb_hist_quantile(NAN, le, cum, 4, 8)));
	assert_true(bb_hist_quantile(-0.1, le, cum, 4, 8) == -INFINITY);
	assert_true(bb_hist_quantile(1.1, le, cum, 4, 8) == INFINITY);
	/* in the first bucket, whose bound is <= 0: the bound itself */
	assert_true(bb_hist_quantile(0.25, le, cum, 4, 8) == -1);
	/* (0, 1] holds ranks 4..8: 0.75 -> rank 6 -> 0 + 1 * 2/4 */
	assert_true(fabs(bb_hist_quantile(0.75, le, cum, 4, 8) - 0.5) < 1e-12);
	assert_true(fabs(bb_hist_quantile(0.75, le, cum, 4, 10) - 0.875) < 1e-12); /* rank 7.5 */
	assert_true(bb_hist_quantile(0.9, le, cum, 4, 10) == 2);  /* rank 9 in +Inf */
	assert_true(isnan(bb_hist_quantile(0.5, le, cum, 0, 8))); /* only +Inf */
}

/* ---- steady state ---------------------------------------------------------------- */

static size_t allocs_for_one_read(struct fx *f, const struct kv *rows, size_t n)
{
	size_t before = n_allocs;

	fx_read(f, rows, n);
	return n_allocs - before;
}

static void test_steady_state_allocates_nothing_per_series(void **state)
{
	enum { N = 20000 };
	uint32_t *keys = calloc(N, sizeof(*keys));
	struct kv *rows = calloc(N, sizeof(*rows));
	struct fx *small = fx_new(uint_yaml, N, 5, NULL), *big = fx_new(uint_yaml, N, 5, NULL);
	size_t a_small, a_big;

	for (uint32_t i = 0; i < N; i++) {
		keys[i] = i * 7919;
		rows[i] = (struct kv){ &keys[i], i };
	}
	fx_read(small, rows, 100); /* warm: every key known */
	fx_read(big, rows, N);
	fx_read(small, rows, 100);
	fx_read(big, rows, N);
	a_small = allocs_for_one_read(small, rows, 100);
	a_big = allocs_for_one_read(big, rows, N);
	/* the same handful (the snapshot and its family), whatever the series count */
	assert_int_equal(a_big, a_small);
	assert_true(a_big < 16);
	fx_free(small);
	fx_free(big);
	free(keys);
	free(rows);
}

/* Is [P, P + LEN) mapped? msync fails with ENOMEM on pages that are not. */
static bool mapped(const void *p, size_t len)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)p & ~(page - 1);

	return msync((void *)a, len + ((uintptr_t)p - a), MS_ASYNC) == 0;
}

/*
 * A front-end that holds the last snapshot while the next is read: with two
 * blocks kept, reads alternate between them and allocate nothing; with one,
 * the older snapshot's memory goes back to the system when it is released.
 */
static void test_snapshot_blocks_kept(void **state)
{
	enum { N = 20000 }; /* 20000 x 128 B of series: mapped blocks */
	uint32_t *keys = calloc(N, sizeof(*keys));
	struct kv *rows = calloc(N, sizeof(*rows));

	for (uint32_t i = 0; i < N; i++) {
		keys[i] = i;
		rows[i] = (struct kv){ &keys[i], i + 1 };
	}
	for (uint32_t keep = 1; keep <= 2; keep++) {
		struct bb_snapshot *held;
		const struct bb_series *first[3];
		struct fx *f;

		fx_keep_blocks = keep;
		f = fx_new(uint_yaml, N, 5, NULL);
		fx_keep_blocks = 0;
		for (int r = 0; r < 3; r++) {
			held = bb_snapshot_ref(f->snap); /* the front-end keeps the last one */
			first[r] = fx_read(f, rows, N)->series;
			assert_int_equal(f->snap->families[0].n_series, N);
			assert_true(mapped(first[r], N * sizeof(struct bb_series)));
			if (r > 0) /* held and the new one: two blocks */
				assert_ptr_not_equal(first[r], first[r - 1]);
			bb_snapshot_unref(held); /* the front-end moves on */
			if (r > 0 && keep == 1)
				assert_false(mapped(first[r - 1], N * sizeof(struct bb_series)));
			if (r > 0 && keep == 2)
				assert_true(mapped(first[r - 1], N * sizeof(struct bb_series)));
		}
		if (keep == 2) /* the third read reused the first read's block */
			assert_ptr_equal(first[2], first[0]);
		fx_free(f);
	}
	free(keys);
	free(rows);
}

/* A front-end that copies what it serves keeps no block: a snapshot's series
 * memory goes back to the system as soon as the snapshot is freed, even
 * before the next read. */
static void test_snapshot_blocks_none(void **state)
{
	enum { N = 20000 };
	uint32_t *keys = calloc(N, sizeof(*keys));
	struct kv *rows = calloc(N, sizeof(*rows));
	const struct bb_series *first;
	struct fx *f;

	for (uint32_t i = 0; i < N; i++) {
		keys[i] = i;
		rows[i] = (struct kv){ &keys[i], i + 1 };
	}
	fx_keep_blocks = BB_SNAPSHOT_BLOCKS_NONE;
	f = fx_new(uint_yaml, N, 5, NULL);
	fx_keep_blocks = 0;
	for (int r = 0; r < 3; r++) {
		first = fx_read(f, rows, N)->series;
		assert_int_equal(f->snap->families[0].n_series, N);
		assert_int_equal(f->snap->families[0].series[N - 1].value, N);
		assert_true(mapped(first, N * sizeof(struct bb_series)));
		bb_snapshot_unref(f->snap);
		f->snap = NULL;
		assert_false(mapped(first, N * sizeof(struct bb_series)));
	}
	fx_free(f);
	free(keys);
	free(rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_admission_is_sticky),
		cmocka_unit_test(test_ids_are_stable_and_ordered),
		cmocka_unit_test(test_ids_are_unique_across_stores),
		cmocka_unit_test(test_inherited_ids),
		cmocka_unit_test(test_retire_after_unseen_reads),
		cmocka_unit_test(test_churn_keeps_memory_flat),
		cmocka_unit_test(test_invalid_bytes_escape_uniquely),
		cmocka_unit_test(test_escape_is_reversible),
		cmocka_unit_test(test_long_labels_keep_a_hash_suffix),
		cmocka_unit_test(test_keys_with_the_same_labels_feed_one_series),
		cmocka_unit_test(test_provisional_label_is_relabelled),
		cmocka_unit_test(test_counter_reset),
		cmocka_unit_test(test_array_slots_never_nonzero_are_not_series),
		cmocka_unit_test(test_histogram_interval),
		cmocka_unit_test(test_bucket_values_decoded_once_counted_per_read),
		cmocka_unit_test(test_quantile_rules),
		cmocka_unit_test(test_steady_state_allocates_nothing_per_series),
		cmocka_unit_test(test_snapshot_blocks_kept),
		cmocka_unit_test(test_snapshot_blocks_none),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
