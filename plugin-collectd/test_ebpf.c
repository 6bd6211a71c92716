/* SPDX-License-Identifier: MIT */
/*
 * The collectd plugin without the daemon: ebpf.c is compiled into this test
 * (so its static functions are reachable) and linked against collectd_mock.c,
 * which records what the plugin registers, dispatches and logs.
 */
#include "ebpf.c"

#include "collectd_mock.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- building oconfig trees ---- */

static oconfig_item_t *ci_block(void)
{
	oconfig_item_t *ci = calloc(1, sizeof(*ci));

	assert_non_null(ci);
	ci->key = strdup("Plugin");
	return ci;
}

static oconfig_item_t *ci_child(oconfig_item_t *parent, const char *key)
{
	oconfig_item_t *c;

	parent->children = realloc(parent->children, (parent->children_num + 1) * sizeof(*c));
	assert_non_null(parent->children);
	c = parent->children + parent->children_num++;
	memset(c, 0, sizeof(*c));
	c->key = strdup(key);
	c->parent = parent;
	return c;
}

static oconfig_value_t *ci_value(oconfig_item_t *c, int type)
{
	c->values = realloc(c->values, (c->values_num + 1) * sizeof(*c->values));
	assert_non_null(c->values);
	memset(c->values + c->values_num, 0, sizeof(*c->values));
	c->values[c->values_num].type = type;
	return c->values + c->values_num++;
}

static void ci_str(oconfig_item_t *c, const char *s)
{
	ci_value(c, OCONFIG_TYPE_STRING)->value.string = strdup(s);
}

static void ci_num(oconfig_item_t *c, double d)
{
	ci_value(c, OCONFIG_TYPE_NUMBER)->value.number = d;
}

static void ci_bool(oconfig_item_t *c, bool b)
{
	ci_value(c, OCONFIG_TYPE_BOOLEAN)->value.boolean = b;
}

static void ci_free_item(oconfig_item_t *c)
{
	for (int i = 0; i < c->values_num; i++)
		if (c->values[i].type == OCONFIG_TYPE_STRING)
			free(c->values[i].value.string);
	free(c->values);
	for (int i = 0; i < c->children_num; i++)
		ci_free_item(c->children + i);
	free(c->children);
	free(c->key);
}

static void ci_free(oconfig_item_t *ci)
{
	ci_free_item(ci);
	free(ci);
}

/* ---- fixtures ---- */

static int setup(void **state)
{
	(void)state;
	mock_reset();
	mock_meta_live = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ebpf_free_all();
	bb_log_set_sink(NULL, NULL);
	assert_int_equal(mock_meta_live, 0);
	mock_reset();
	return 0;
}

/* ---- module_register and config ---- */

static void test_module_register(void **state)
{
	(void)state;
	module_register();
	assert_string_equal(mock_callbacks.config_name, "ebpf");
	assert_string_equal(mock_callbacks.init_name, "ebpf");
	assert_string_equal(mock_callbacks.shutdown_name, "ebpf");
	assert_ptr_equal(mock_callbacks.config, ebpf_config);
	assert_ptr_equal(mock_callbacks.init, ebpf_init);
	assert_ptr_equal(mock_callbacks.shutdown, ebpf_shutdown);
}

static void test_config_all_keys(void **state)
{
	oconfig_item_t *ci = ci_block(), *c;

	(void)state;
	ci_str(ci_child(ci, "ConfigDir"), "/etc/bpfbridge");
	c = ci_child(ci, "Config");
	ci_str(c, "biolatency");
	ci_str(c, "syscalls");
	ci_str(ci_child(ci, "config"), "/abs/other.yaml"); /* keys are case-insensitive */
	ci_bool(ci_child(ci, "Strict"), true);
	ci_num(ci_child(ci, "MaxSeriesPerMetric"), 5000);
	ci_str(ci_child(ci, "BTFPath"), "/boot/vmlinux.btf");
	ci_num(ci_child(ci, "Interval"), 2.5);
	ci_str(ci_child(ci, "Histograms"), "Percentiles");
	c = ci_child(ci, "Percentiles");
	ci_num(c, 99.9);
	ci_num(c, 50);
	ci_num(c, 0.1);
	ci_bool(ci_child(ci, "LabelsAsMetadata"), true);

	assert_int_equal(ebpf_config(ci), 0);
	assert_string_equal(ebpf_ctx.config_dir, "/etc/bpfbridge");
	assert_int_equal(ebpf_ctx.n_configs, 3);
	assert_string_equal(ebpf_ctx.configs[0], "biolatency");
	assert_string_equal(ebpf_ctx.configs[1], "syscalls");
	assert_string_equal(ebpf_ctx.configs[2], "/abs/other.yaml");
	assert_true(ebpf_ctx.strict);
	assert_int_equal(ebpf_ctx.max_series, 5000);
	assert_string_equal(ebpf_ctx.btf_path, "/boot/vmlinux.btf");
	assert_true(ebpf_ctx.interval == DOUBLE_TO_CDTIME_T(2.5));
	assert_int_equal(ebpf_ctx.histograms, EBPF_HIST_PERCENTILES);
	/* sorted */
	assert_int_equal(ebpf_ctx.n_percentiles, 3);
	assert_true(ebpf_ctx.percentiles[0] == 0.1 && ebpf_ctx.percentiles[1] == 50 &&
		    ebpf_ctx.percentiles[2] == 99.9);
	assert_int_equal(ebpf_ctx.labels_meta, 1);
	assert_int_equal(mock_count_logs(LOG_ERR, NULL, NULL), 0);
	ci_free(ci);
}

/* Percentiles reach the core as quantiles; the defaults when unset. */
static void test_config_percentile_options(void **state)
{
	oconfig_item_t *ci = ci_block(), *c;
	struct bb_options opts;
	struct ebpf_instance *inst;

	(void)state;
	bb_options_init(&opts);
	ebpf_options_quantiles(&opts);
	assert_int_equal(opts.n_quantiles, 3);
	assert_true(opts.quantiles[0] == 0.5 && opts.quantiles[1] == 0.9 &&
		    opts.quantiles[2] == 0.99);
	inst = ebpf_instance_new("x");
	assert_int_equal(inst->histograms, EBPF_HIST_BOTH);
	assert_false(inst->labels_meta);
	ebpf_instance_free(inst);

	ci_str(ci_child(ci, "Histograms"), "buckets");
	c = ci_child(ci, "Percentiles");
	ci_num(c, 75);
	ci_num(c, 25);
	ci_str(ci_child(ci, "LabelsAsMetadata"), "false");
	assert_int_equal(ebpf_config(ci), 0);
	bb_options_init(&opts);
	ebpf_options_quantiles(&opts);
	assert_int_equal(opts.n_quantiles, 2);
	assert_true(opts.quantiles[0] == 0.25 && opts.quantiles[1] == 0.75);
	inst = ebpf_instance_new("x");
	assert_int_equal(inst->histograms, EBPF_HIST_BUCKETS);
	assert_false(inst->labels_meta);
	ebpf_instance_free(inst);
	ci_free(ci);
}

static void test_config_unknown_key(void **state)
{
	oconfig_item_t *ci = ci_block();

	(void)state;
	ci_str(ci_child(ci, "Config"), "syscalls");
	ci_str(ci_child(ci, "ConfigDirectory"), "/tmp");
	assert_int_equal(ebpf_config(ci), -1);
	/* The message names the key and what is allowed. */
	assert_int_equal(mock_count_logs(LOG_ERR, "\"ConfigDirectory\"", EBPF_ALLOWED_KEYS), 1);
	assert_int_equal(mock_count_logs(LOG_ERR, "ebpf plugin: unknown option", NULL), 1);
	ci_free(ci);
}

static void test_config_bad_values(void **state)
{
	static const struct {
		const char *key;
		int type;
		double num;
		const char *str;
		const char *expect;
	} cases[] = {
		{ "MaxSeriesPerMetric", OCONFIG_TYPE_NUMBER, 0, NULL, "at least 1" },
		{ "MaxSeriesPerMetric", OCONFIG_TYPE_STRING, 0, "many", "MaxSeriesPerMetric" },
		{ "Strict", OCONFIG_TYPE_STRING, 0, "maybe", "Strict" },
		{ "Config", OCONFIG_TYPE_NUMBER, 3, NULL, "not a string" },
		{ "Config", OCONFIG_TYPE_STRING, 0, "", "is empty" },
		{ "Config", -1, 0, NULL, "at least one string" },
		{ "ConfigDir", OCONFIG_TYPE_NUMBER, 1, NULL, "ConfigDir" },
		{ "Interval", OCONFIG_TYPE_NUMBER, -1, NULL, "Interval" },
		{ "Histograms", OCONFIG_TYPE_STRING, 0, "quantiles",
		  "expected \"buckets\", \"percentiles\" or \"both\", got \"quantiles\"" },
		{ "Histograms", OCONFIG_TYPE_NUMBER, 1, NULL, "Histograms: expected one of" },
		{ "Histograms", -1, 0, NULL, "Histograms: expected one of" },
		{ "Percentiles", OCONFIG_TYPE_NUMBER, 100, NULL,
		  "argument 1: expected a number in (0, 100), got 100" },
		{ "Percentiles", OCONFIG_TYPE_NUMBER, 0, NULL, "in (0, 100), got 0" },
		{ "Percentiles", OCONFIG_TYPE_NUMBER, NAN, NULL, "in (0, 100), got nan" },
		{ "Percentiles", OCONFIG_TYPE_STRING, 0, "p99",
		  "expected a number in (0, 100), got a "
		  "string" },
		{ "Percentiles", -1, 0, NULL,
		  "expected 1 to 16 numbers in (0, 100), got 0 values" },
		{ "LabelsAsMetadata", OCONFIG_TYPE_STRING, 0, "sometimes", "LabelsAsMetadata" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		oconfig_item_t *ci = ci_block(), *c = ci_child(ci, cases[i].key);

		if (cases[i].type == OCONFIG_TYPE_NUMBER)
			ci_num(c, cases[i].num);
		else if (cases[i].type == OCONFIG_TYPE_STRING)
			ci_str(c, cases[i].str);
		mock_reset();
		assert_int_equal(ebpf_config(ci), -1);
		if (mock_count_logs(LOG_ERR, cases[i].expect, NULL) != 1) {
			mock_print_logs();
			fail_msg("case %zu (%s): no error mentioning \"%s\"", i, cases[i].key,
				 cases[i].expect);
		}
		ci_free(ci);
		ebpf_free_all();
	}
}

static void test_config_percentiles_list(void **state)
{
	oconfig_item_t *ci = ci_block(), *c = ci_child(ci, "Percentiles");

	(void)state;
	ci_num(c, 90);
	ci_num(c, 50);
	ci_num(c, 90);
	assert_int_equal(ebpf_config(ci), -1);
	assert_int_equal(mock_count_logs(LOG_ERR, "Percentiles: 90 is given twice", NULL), 1);
	ci_free(ci);

	ci = ci_block();
	c = ci_child(ci, "Percentiles");
	for (int i = 1; i <= BB_MAX_QUANTILES + 1; i++)
		ci_num(c, i);
	assert_int_equal(ebpf_config(ci), -1);
	assert_int_equal(mock_count_logs(LOG_ERR, "expected 1 to 16 numbers", "got 17 values"), 1);
	assert_int_equal(ebpf_ctx.n_percentiles, 0);
	ci_free(ci);
}

static void test_config_option_with_block(void **state)
{
	oconfig_item_t *ci = ci_block(), *c = ci_child(ci, "Config");

	(void)state;
	ci_str(c, "x");
	ci_str(ci_child(c, "Nested"), "y");
	assert_int_equal(ebpf_config(ci), -1);
	assert_int_equal(mock_count_logs(LOG_ERR, "\"Config\" takes no block", NULL), 1);
	ci_free(ci);
}

/* ---- type_instance ---- */

static void fmt(char *out, size_t size, const char *const *kv, size_t n, const char *le)
{
	char *names[8] = { 0 };
	const char *values[8] = { 0 };

	for (size_t i = 0; i < n; i++) {
		names[i] = (char *)kv[2 * i];
		values[i] = kv[2 * i + 1];
	}
	ebpf_format_type_instance(out, size, names, values, n, le ? "le" : NULL, le);
}

static void test_type_instance_plain(void **state)
{
	const char *kv[] = { "device", "sda", "operation", "write" };
	char out[DATA_MAX_NAME_LEN];

	(void)state;
	fmt(out, sizeof(out), kv, 2, NULL);
	assert_string_equal(out, "device=sda,operation=write");
	fmt(out, sizeof(out), kv, 2, "0.000512");
	assert_string_equal(out, "device=sda,operation=write,le=0.000512");
	fmt(out, sizeof(out), kv, 0, "+Inf");
	assert_string_equal(out, "le=+Inf");
	fmt(out, sizeof(out), kv, 0, NULL);
	assert_string_equal(out, "");
}

static void test_type_instance_escaping(void **state)
{
	const char *kv[] = { "path",	     "/var/log a,b=c%d\\e\"f~g\n", "empty", "", "utf8",
			     "caf\xc3\xa9-:" };
	char out[DATA_MAX_NAME_LEN];

	(void)state;
	fmt(out, sizeof(out), kv, 3, NULL);
	assert_string_equal(
		out, "path=%2Fvar%2Flog a%2Cb%3Dc%25d%5Ce%22f%7Eg%0A,empty=,utf8=caf\xc3\xa9-:");
}

static void test_type_instance_exact_fit(void **state)
{
	char value[DATA_MAX_NAME_LEN];
	const char *kv[] = { "k", value };
	char out[DATA_MAX_NAME_LEN];

	(void)state;
	/* "k=" + 125 bytes = 127 bytes: fits */
	memset(value, 'x', 125);
	value[125] = '\0';
	assert_false(
		ebpf_format_type_instance(out, sizeof(out), (char **)kv, kv + 1, 1, NULL, NULL));
	assert_int_equal(strlen(out), 127);
	/* one more byte: truncated */
	value[125] = 'x';
	value[126] = '\0';
	assert_true(
		ebpf_format_type_instance(out, sizeof(out), (char **)kv, kv + 1, 1, NULL, NULL));
	assert_int_equal(strlen(out), 127);
}

static bool is_hash_suffix(const char *s)
{
	size_t len = strlen(s);

	if (len < EBPF_HASH_SUFFIX_LEN || s[len - EBPF_HASH_SUFFIX_LEN] != '~')
		return false;
	for (size_t i = len - EBPF_HASH_SUFFIX_LEN + 1; i < len; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

static void test_type_instance_truncation(void **state)
{
	char a[400], b[400];
	const char *kva[] = { "stack", a, "comm", "x" };
	const char *kvb[] = { "stack", b, "comm", "x" };
	char out_a[DATA_MAX_NAME_LEN], out_a2[DATA_MAX_NAME_LEN], out_b[DATA_MAX_NAME_LEN];

	(void)state;
	memset(a, 'f', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memcpy(b, a, sizeof(a));
	b[300] = 'g'; /* differs only far beyond the cut */

	fmt(out_a, sizeof(out_a), kva, 2, NULL);
	fmt(out_a2, sizeof(out_a2), kva, 2, NULL);
	fmt(out_b, sizeof(out_b), kvb, 2, NULL);
	assert_int_equal(strlen(out_a), DATA_MAX_NAME_LEN - 1);
	assert_true(is_hash_suffix(out_a));
	assert_string_equal(out_a, out_a2);    /* deterministic */
	assert_string_not_equal(out_a, out_b); /* still unique */
	assert_memory_equal(out_a, out_b, DATA_MAX_NAME_LEN - 1 - EBPF_HASH_SUFFIX_LEN);
	assert_memory_equal(out_a, "stack=fff", 9);

	/* The same label set with another le stays distinct after truncation. */
	fmt(out_b, sizeof(out_b), kva, 2, "0.5");
	assert_true(is_hash_suffix(out_b));
	assert_string_not_equal(out_a, out_b);
}

static void test_type_instance_cut_boundaries(void **state)
{
	char value[200], out[DATA_MAX_NAME_LEN];
	const char *kv[] = { "k", value };
	size_t keep = DATA_MAX_NAME_LEN - 1 - EBPF_HASH_SUFFIX_LEN;

	(void)state;
	/* Every byte escapes to 3: the cut must fall between two escapes,
	 * whatever the offset ("k=" is 2 bytes, then a 0-2 byte prefix). */
	for (int prefix = 0; prefix < 3; prefix++) {
		memset(value, 'a', (size_t)prefix);
		memset(value + prefix, '/', sizeof(value) - 1 - (size_t)prefix);
		value[sizeof(value) - 1] = '\0';
		fmt(out, sizeof(out), kv, 1, NULL);
		assert_true(is_hash_suffix(out));
		size_t body = strlen(out) - EBPF_HASH_SUFFIX_LEN;
		assert_true(body <= keep && body + 2 >= keep);
		assert_int_equal((body - 2 - (size_t)prefix) % 3, 0);
		for (size_t i = 2 + (size_t)prefix; i < body; i += 3)
			assert_memory_equal(out + i, "%2F", 3);
	}

	/* A 2-byte UTF-8 sequence is never split. */
	for (int prefix = 0; prefix < 2; prefix++) {
		size_t i;

		memset(value, 'a', (size_t)prefix);
		for (i = (size_t)prefix; i + 2 < sizeof(value); i += 2)
			memcpy(value + i, "\xc3\xa9", 2);
		value[i] = '\0';
		fmt(out, sizeof(out), kv, 1, NULL);
		size_t body = strlen(out) - EBPF_HASH_SUFFIX_LEN;
		assert_true(body <= keep && body + 1 >= keep);
		assert_int_equal((body - 2 - (size_t)prefix) % 2, 0);
		assert_int_equal((unsigned char)out[body - 1], 0xa9);
	}
}

/* ---- dispatch of a hand-built snapshot ---- */

/* The quantiles and one series' interval, as the series store fills them
 * (by hand here: the mock tests do not run the store). */
static const double test_q[] = { 0.5, 0.9, 0.99 };
static const double test_iv_q[] = { 2.5e-06, 3.6e-06, 3.96e-06 };

static struct bb_snapshot *build_snapshot(void)
{
	static const char *const sys_labels[] = { "syscall" };
	static const char *const bio_labels[] = { "device", "operation" };
	static const char *const self_labels[] = { "config" };
	static const double le[] = { 1e-06, 2e-06, 4e-06 };
	static const int64_t le_raw[] = { 1, 2, 4 };
	struct bb_snapshot *snap = bb_snapshot_new();
	struct bb_family *fam;
	struct bb_series *s;

	assert_non_null(snap);
	fam = bb_snapshot_family(snap, "syscalls_total", "Syscalls", BB_METRIC_COUNTER, sys_labels,
				 1);
	assert_non_null(fam);
	s = bb_family_add_series(fam, (const char *const[]){ "ioprio_get" });
	assert_non_null(s);
	s->id = 1;
	s->value = 42;
	s = bb_family_add_series(fam, (const char *const[]){ "read" });
	assert_non_null(s);
	s->id = 2;
	s->value = 7;

	fam = bb_snapshot_family(snap, "bio_latency_seconds", "Block I/O latency",
				 BB_METRIC_HISTOGRAM, bio_labels, 2);
	assert_non_null(fam);
	assert_int_equal(bb_family_set_buckets(fam, le, le_raw, 3, 1e-6), 0);
	assert_int_equal(bb_family_set_quantiles(fam, test_q, 3), 0);
	s = bb_family_add_series(fam, (const char *const[]){ "sda", "write" });
	assert_non_null(s);
	s->id = 3;
	s->buckets[0] = 1;
	s->buckets[1] = 3;
	s->buckets[2] = 4;
	s->count = 6;
	s->sum_raw = 123;
	s->sum = 123 * 1e-6;
	/* the interval: 5 observations, 2 of them above the last bound */
	s->iv.valid = true;
	s->iv.count = 5;
	s->iv.sum = 100e-6;
	s->iv.mean = 20e-6;
	assert_non_null(s->iv.quantiles);
	memcpy(s->iv.quantiles, test_iv_q, sizeof(test_iv_q));
	/* a second series: seen for the first time (no interval yet) */
	s = bb_family_add_series(fam, (const char *const[]){ "sdb", "read" });
	assert_non_null(s);
	s->id = 4;
	s->count = 2;
	/* a third one: an interval without observations */
	s = bb_family_add_series(fam, (const char *const[]){ "sdc", "read" });
	assert_non_null(s);
	s->id = 5;
	s->iv.valid = true;
	s->iv.mean = NAN;

	fam = bb_snapshot_family(snap, "bpfbridge_series", "Series", BB_METRIC_GAUGE, self_labels,
				 1);
	assert_non_null(fam);
	s = bb_family_add_series(fam, (const char *const[]){ "testcfg" });
	assert_non_null(s);
	s->id = 6;
	s->value = 4;

	/* self-metrics come from the engine, not a store: id 0 for every series */
	fam = bb_snapshot_family(snap, "bpfbridge_series_dropped_total", "Dropped",
				 BB_METRIC_COUNTER, (const char *const[]){ "metric" }, 1);
	assert_non_null(fam);
	s = bb_family_add_series(fam, (const char *const[]){ "a_total" });
	assert_non_null(s);
	s->value = 1;
	s = bb_family_add_series(fam, (const char *const[]){ "b_total" });
	assert_non_null(s);
	s->value = 2;

	bb_snapshot_finish(snap);
	return snap;
}

static void check_value(const char *type, const char *ti, int ds_type, double expect,
			const char *meta)
{
	const struct mock_value *v = mock_find_value(type, ti);

	if (v == NULL)
		fail_msg("no value %s / %s dispatched", type, ti);
	assert_string_equal(v->plugin, "ebpf");
	assert_string_equal(v->plugin_instance, "testcfg");
	assert_int_equal(v->ds_type, ds_type);
	if (ds_type == DS_TYPE_GAUGE && isnan(expect)) {
		if (!isnan(v->value.gauge))
			fail_msg("%s / %s: %g, expected NaN", type, ti, v->value.gauge);
	} else if (ds_type == DS_TYPE_GAUGE) {
		if (!(fabs(v->value.gauge - expect) < 1e-12))
			fail_msg("%s / %s: %g, expected %g", type, ti, v->value.gauge, expect);
	} else {
		assert_int_equal(v->value.derive, (derive_t)expect);
	}
	assert_string_equal(v->meta, meta);
}

static size_t count_values(const char *type)
{
	size_t n = 0;

	for (size_t i = 0; i < mock_n_values; i++)
		n += strcmp(mock_values[i].type, type) == 0;
	return n;
}

static void test_dispatch_snapshot(void **state)
{
	struct ebpf_instance *inst;
	struct bb_snapshot *snap = build_snapshot();

	(void)state;
	ebpf_ctx.labels_meta = 1;
	inst = ebpf_instance_new("testcfg");
	assert_int_equal(inst->histograms, EBPF_HIST_BOTH); /* the default */
	assert_int_equal(ebpf_instance_add_snapshot_families(inst, snap), 0);
	/* counter, 6 histogram types, gauge */
	assert_int_equal(mock_n_types(), 9);
	assert_int_equal(plugin_get_ds("syscalls_total")->ds[0].type, DS_TYPE_DERIVE);
	assert_int_equal(plugin_get_ds("bio_latency_seconds_bucket")->ds[0].type, DS_TYPE_DERIVE);
	assert_int_equal(plugin_get_ds("bio_latency_seconds_sum")->ds[0].type, DS_TYPE_GAUGE);
	assert_int_equal(plugin_get_ds("bio_latency_seconds_count")->ds[0].type, DS_TYPE_DERIVE);
	assert_int_equal(plugin_get_ds("bio_latency_seconds_percentile")->ds[0].type,
			 DS_TYPE_GAUGE);
	assert_int_equal(plugin_get_ds("bio_latency_seconds_average")->ds[0].type, DS_TYPE_GAUGE);
	assert_int_equal(plugin_get_ds("bio_latency_seconds_observations")->ds[0].type,
			 DS_TYPE_GAUGE);
	assert_int_equal(plugin_get_ds("bpfbridge_series")->ds[0].type, DS_TYPE_GAUGE);
	assert_string_equal(plugin_get_ds("syscalls_total")->ds[0].name, "value");
	assert_string_equal(plugin_get_ds("bio_latency_seconds_sum")->ds[0].name, "scaled");
	assert_string_equal(plugin_get_ds("bio_latency_seconds_count")->ds[0].name, "value");
	assert_string_equal(plugin_get_ds("bio_latency_seconds_percentile")->ds[0].name, "value");

	assert_int_equal(ebpf_dispatch_snapshot(inst, snap), 0);
	/* 2 counters + 3 x ((3 buckets + Inf + sum + count) + (3 percentiles +
	 * average + observations)) + 1 gauge */
	assert_int_equal(mock_n_values, 2 + 3 * (6 + 5) + 1 + 2);
	check_value("syscalls_total", "syscall=ioprio_get", DS_TYPE_DERIVE, 42,
		    "syscall=ioprio_get");
	check_value("syscalls_total", "syscall=read", DS_TYPE_DERIVE, 7, "syscall=read");
	check_value("bio_latency_seconds_bucket", "device=sda,operation=write,le=1e-06",
		    DS_TYPE_DERIVE, 1, "device=sda;operation=write;le=1e-06");
	check_value("bio_latency_seconds_bucket", "device=sda,operation=write,le=2e-06",
		    DS_TYPE_DERIVE, 3, "device=sda;operation=write;le=2e-06");
	check_value("bio_latency_seconds_bucket", "device=sda,operation=write,le=4e-06",
		    DS_TYPE_DERIVE, 4, "device=sda;operation=write;le=4e-06");
	check_value("bio_latency_seconds_bucket", "device=sda,operation=write,le=+Inf",
		    DS_TYPE_DERIVE, 6, "device=sda;operation=write;le=+Inf");
	check_value("bio_latency_seconds_sum", "device=sda,operation=write", DS_TYPE_GAUGE,
		    0.000123, "device=sda;operation=write");
	check_value("bio_latency_seconds_count", "device=sda,operation=write", DS_TYPE_DERIVE, 6,
		    "device=sda;operation=write");
	/* the interval's percentiles, average and count, in the metric's unit */
	check_value("bio_latency_seconds_percentile", "device=sda,operation=write,percentile=50",
		    DS_TYPE_GAUGE, 2.5e-06, "device=sda;operation=write;percentile=50");
	check_value("bio_latency_seconds_percentile", "device=sda,operation=write,percentile=90",
		    DS_TYPE_GAUGE, 3.6e-06, "device=sda;operation=write;percentile=90");
	check_value("bio_latency_seconds_percentile", "device=sda,operation=write,percentile=99",
		    DS_TYPE_GAUGE, 3.96e-06, "device=sda;operation=write;percentile=99");
	check_value("bio_latency_seconds_average", "device=sda,operation=write", DS_TYPE_GAUGE,
		    20e-6, "device=sda;operation=write");
	check_value("bio_latency_seconds_observations", "device=sda,operation=write", DS_TYPE_GAUGE,
		    5, "device=sda;operation=write");
	/* first read of a series: no interval, everything unknown (NaN) */
	check_value("bio_latency_seconds_percentile", "device=sdb,operation=read,percentile=99",
		    DS_TYPE_GAUGE, NAN, "device=sdb;operation=read;percentile=99");
	check_value("bio_latency_seconds_average", "device=sdb,operation=read", DS_TYPE_GAUGE, NAN,
		    "device=sdb;operation=read");
	check_value("bio_latency_seconds_observations", "device=sdb,operation=read", DS_TYPE_GAUGE,
		    NAN, "device=sdb;operation=read");
	/* an empty interval: 0 observations, NaN percentiles and average */
	check_value("bio_latency_seconds_percentile", "device=sdc,operation=read,percentile=50",
		    DS_TYPE_GAUGE, NAN, "device=sdc;operation=read;percentile=50");
	check_value("bio_latency_seconds_average", "device=sdc,operation=read", DS_TYPE_GAUGE, NAN,
		    "device=sdc;operation=read");
	check_value("bio_latency_seconds_observations", "device=sdc,operation=read", DS_TYPE_GAUGE,
		    0, "device=sdc;operation=read");
	check_value("bpfbridge_series", "config=testcfg", DS_TYPE_GAUGE, 4, "config=testcfg");
	/* series without a store id are told apart by their labels, every read */
	check_value("bpfbridge_series_dropped_total", "metric=a_total", DS_TYPE_DERIVE, 1,
		    "metric=a_total");
	check_value("bpfbridge_series_dropped_total", "metric=b_total", DS_TYPE_DERIVE, 2,
		    "metric=b_total");
	/* One timestamp for the whole read: the snapshot's. */
	for (size_t i = 0; i < mock_n_values; i++)
		assert_true(mock_values[i].time == NS_TO_CDTIME_T(snap->taken_ns));
	assert_int_equal(mock_count_logs(LOG_WARNING, NULL, NULL), 0);
	assert_int_equal(mock_count_logs(LOG_ERR, NULL, NULL), 0);
	/* one cached meta_data per series */
	assert_int_equal(mock_meta_live, 6);

	/* Registering again is a no-op (and a second config may share types). */
	assert_int_equal(ebpf_instance_add_snapshot_families(inst, snap), 0);
	assert_int_equal(mock_n_types(), 9);
	bb_snapshot_unref(snap);
	ebpf_instance_free(inst);
}

/* Histograms "buckets" / "percentiles": only those types and values. */
static void test_dispatch_histogram_modes(void **state)
{
	struct ebpf_instance *inst;
	struct bb_snapshot *snap = build_snapshot();

	(void)state;
	ebpf_ctx.histograms = EBPF_HIST_BUCKETS;
	inst = ebpf_instance_new("testcfg");
	assert_false(inst->labels_meta); /* the default */
	assert_int_equal(ebpf_instance_add_snapshot_families(inst, snap), 0);
	assert_int_equal(mock_n_types(), 6);
	assert_null(plugin_get_ds("bio_latency_seconds_percentile"));
	assert_int_equal(ebpf_dispatch_snapshot(inst, snap), 0);
	assert_int_equal(mock_n_values, 2 + 3 * 6 + 1 + 2);
	/* LabelsAsMetadata false: no meta data at all */
	check_value("bio_latency_seconds_bucket", "device=sda,operation=write,le=+Inf",
		    DS_TYPE_DERIVE, 6, "");
	assert_int_equal(mock_meta_live, 0);
	ebpf_instance_free(inst);
	ebpf_free_all(); /* unregisters the types */
	assert_int_equal(mock_n_types(), 0);
	mock_reset();

	ebpf_ctx.histograms = EBPF_HIST_PERCENTILES;
	inst = ebpf_instance_new("testcfg");
	assert_int_equal(ebpf_instance_add_snapshot_families(inst, snap), 0);
	assert_int_equal(mock_n_types(), 6);
	assert_null(plugin_get_ds("bio_latency_seconds_bucket"));
	assert_null(plugin_get_ds("bio_latency_seconds_sum"));
	assert_int_equal(ebpf_dispatch_snapshot(inst, snap), 0);
	assert_int_equal(mock_n_values, 2 + 3 * 5 + 1 + 2);
	assert_int_equal(count_values("bio_latency_seconds_percentile"), 9);
	check_value("bio_latency_seconds_percentile", "device=sda,operation=write,percentile=90",
		    DS_TYPE_GAUGE, 3.6e-06, "");
	bb_snapshot_unref(snap);
	ebpf_instance_free(inst);
}

/* Identifiers are built on a series' first dispatch and reused by id; the
 * series a read no longer shows are forgotten (with their meta data). */
static void test_identifier_cache(void **state)
{
	struct ebpf_instance *inst;
	struct bb_snapshot *snap = build_snapshot();
	struct bb_family *sys = snap->families + 0;
	struct ebpf_family_ref *ref;
	const char *const *orig;

	(void)state;
	ebpf_ctx.labels_meta = 1;
	inst = ebpf_instance_new("testcfg");
	assert_int_equal(ebpf_instance_add_snapshot_families(inst, snap), 0);
	assert_int_equal(ebpf_dispatch_snapshot(inst, snap), 0);
	ref = ebpf_find_family(inst, "syscalls_total");
	assert_int_equal(ref->n, 2);
	assert_int_equal(mock_meta_live, 6);

	/* Same ids: the cached text is used, not the (here changed) labels. A
	 * real store never changes a series' labels; this shows the cache. */
	orig = sys->series[1].label_values;
	sys->series[1].label_values = (const char *const[]){ "write" };
	mock_clear_values();
	assert_int_equal(ebpf_dispatch_snapshot(inst, snap), 0);
	check_value("syscalls_total", "syscall=read", DS_TYPE_DERIVE, 7, "syscall=read");
	assert_null(mock_find_value("syscalls_total", "syscall=write"));
	assert_int_equal(ref->n, 2);
	assert_int_equal(mock_meta_live, 6);

	/* A new id gets its own identifier... */
	sys->series[1].id = 7;
	mock_clear_values();
	assert_int_equal(ebpf_dispatch_snapshot(inst, snap), 0);
	check_value("syscalls_total", "syscall=write", DS_TYPE_DERIVE, 7, "syscall=write");
	/* ...and id 2, not shown in this read, is forgotten. */
	assert_int_equal(ref->n, 2);
	assert_int_equal(mock_meta_live, 6);
	sys->series[1].label_values = orig;
	bb_snapshot_unref(snap);

	/* A read without any series frees every identifier. */
	snap = bb_snapshot_new();
	bb_snapshot_finish(snap);
	assert_int_equal(ebpf_dispatch_snapshot(inst, snap), 0);
	assert_int_equal(ref->n, 0);
	assert_int_equal(mock_meta_live, 0);
	bb_snapshot_unref(snap);
	ebpf_instance_free(inst);
}

/* Churn: many series come and go; the table grows and shrinks, never loses
 * a live series, and frees every departed one; the series go out in label
 * order whatever their ids (ebpf_family_order()). */
static void test_identifier_churn(void **state)
{
	static const char *const labels[] = { "k" };
	struct ebpf_instance *inst;
	struct ebpf_family_ref *ref;
	uint64_t next_id = 100;
	static char tis[300][DATA_MAX_NAME_LEN];

	(void)state;
	ebpf_ctx.labels_meta = 1;
	ebpf_ctx.histograms = EBPF_HIST_BUCKETS;
	inst = ebpf_instance_new("testcfg");
	assert_int_equal(ebpf_instance_add_family(inst, "churn_total", BB_METRIC_COUNTER), 0);
	ref = ebpf_find_family(inst, "churn_total");
	for (int round = 0; round < 40; round++) {
		struct bb_snapshot *snap = bb_snapshot_new();
		struct bb_family *fam =
			bb_snapshot_family(snap, "churn_total", "x", BB_METRIC_COUNTER, labels, 1);
		/* 0..299 series, about half of them new each round; an id always
		 * has the same labels, as in the store */
		size_t n = (size_t)((round * 37) % 300);
		char buf[32];

		for (size_t i = 0; i < n; i++) {
			struct bb_series *s;

			snprintf(buf, sizeof(buf), "v%" PRIu64, next_id + i);
			s = bb_family_add_series(fam, (const char *const[]){ buf });
			assert_non_null(s);
			s->id = next_id + i;
			s->value = s->id;
		}
		bb_snapshot_finish(snap);
		mock_clear_values();
		assert_int_equal(ebpf_dispatch_snapshot(inst, snap), 0);
		assert_int_equal(mock_n_values, n);
		assert_int_equal(ref->n, n);
		assert_int_equal(mock_meta_live, (long)n);
		assert_true(n == 0 || (ref->cap >= 16 && ref->n * 4 <= ref->cap * 3));
		/* every series once, with its own value, in label order (the
		 * value cache's order), though half of them are new each round */
		for (size_t i = 0; i < n; i++) {
			uint64_t id;

			assert_int_equal(sscanf(mock_values[i].type_instance, "k=v%" SCNu64, &id),
					 1);
			assert_true(id >= next_id && id < next_id + n);
			assert_int_equal(mock_values[i].value.derive, (derive_t)id);
			if (i > 0)
				assert_true(strcmp(mock_values[i - 1].type_instance,
						   mock_values[i].type_instance) < 0);
		}
		assert_int_equal(ref->n_ranked, n);
		/* the same series again: placed by their ranks, same order */
		for (size_t i = 0; i < n; i++)
			snprintf(tis[i], sizeof(tis[i]), "%s", mock_values[i].type_instance);
		mock_clear_values();
		assert_int_equal(ebpf_dispatch_snapshot(inst, snap), 0);
		assert_int_equal(mock_n_values, n);
		for (size_t i = 0; i < n; i++)
			assert_string_equal(mock_values[i].type_instance, tis[i]);
		next_id += n / 2;
		bb_snapshot_unref(snap);
	}
	ebpf_instance_free(inst);
	assert_int_equal(mock_meta_live, 0);
}

/* The cached path builds exactly the reference text, hostile labels and
 * truncation included, for every length around the 127-byte limit. */
static void test_compose_matches_reference(void **state)
{
	char *names[] = { "dev", "path" };
	char value[400], ref_out[DATA_MAX_NAME_LEN], got[DATA_MAX_NAME_LEN];
	const char *values[] = { "sda", value };
	static const char hostile[] = "\xff\xfe\"q'/-=,%~\\ \xc3\xa9\xe2\x82";
	struct bb_family fam = { .label_names = names, .n_labels = 2 };
	struct bb_series s = { .label_values = values };
	struct ebpf_pair pairs[3];
	const char *pair_names[] = { "le", "percentile", "le" };
	const char *pair_values[] = { "0.000512", "99.9", "+Inf" };

	(void)state;
	for (int p = 0; p < 3; p++)
		assert_int_equal(ebpf_pair_set(pairs + p, pair_names[p], pair_values[p]), 0);
	for (size_t len = 0; len < 300; len++) {
		struct ebpf_ident id = { 0 };

		for (size_t i = 0; i < len; i++)
			value[i] = hostile[i % (sizeof(hostile) - 1)];
		value[len] = '\0';
		s.id = len;
		assert_int_equal(ebpf_ident_init(&id, &fam, &s, false), 0);
		ebpf_format_type_instance(ref_out, sizeof(ref_out), names, values, 2, NULL, NULL);
		ebpf_ti_compose(got, sizeof(got), &id, NULL);
		assert_string_equal(got, ref_out);
		for (int p = 0; p < 3; p++) {
			bool cut = ebpf_format_type_instance(ref_out, sizeof(ref_out), names,
							     values, 2, pair_names[p],
							     pair_values[p]);

			assert_int_equal(ebpf_ti_compose(got, sizeof(got), &id, pairs + p), cut);
			assert_string_equal(got, ref_out);
			assert_true(strlen(got) < DATA_MAX_NAME_LEN);
			/* no "/" ever: csv and rrdtool would make it a directory */
			assert_null(strchr(got, '/'));
		}
		ebpf_ident_clear(&id);
	}
	/* no labels at all */
	{
		struct bb_family none = { 0 };
		struct ebpf_ident id = { 0 };

		assert_int_equal(ebpf_ident_init(&id, &none, &s, false), 0);
		ebpf_ti_compose(got, sizeof(got), &id, pairs + 2);
		assert_string_equal(got, "le=+Inf");
		ebpf_ti_compose(got, sizeof(got), &id, NULL);
		assert_string_equal(got, "");
		ebpf_ident_clear(&id);
	}
	for (int p = 0; p < 3; p++)
		free(pairs[p].text);
}

/* A metric name that appears after the instance started (a config reloaded
 * with a new metric) gets its data sets registered then and is dispatched; a
 * name whose type exists with another shape is skipped, named once. */
static void test_dispatch_new_family(void **state)
{
	struct ebpf_instance *inst = ebpf_instance_new("testcfg");
	struct bb_snapshot *snap = build_snapshot();

	(void)state;
	mock_add_type("bpfbridge_series", DS_TYPE_DERIVE);
	assert_int_equal(ebpf_instance_add_family(inst, "syscalls_total", BB_METRIC_COUNTER), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ebpf_dispatch_snapshot(inst, snap), 0);
	assert_non_null(plugin_get_ds("bio_latency_seconds_bucket"));
	assert_non_null(plugin_get_ds("bio_latency_seconds_percentile"));
	assert_int_equal(count_values("syscalls_total"), 3 * 2);
	assert_true(count_values("bio_latency_seconds_count") > 0);
	assert_int_equal(count_values("bpfbridge_series"), 0);
	assert_int_equal(mock_count_logs(LOG_WARNING, "bio_latency_seconds", NULL), 0);
	assert_int_equal(
		mock_count_logs(LOG_ERR, "collectd type \"bpfbridge_series\" already", NULL), 1);
	assert_int_equal(mock_count_logs(LOG_WARNING, "metric bpfbridge_series (gauge)", NULL), 1);
	bb_snapshot_unref(snap);
	ebpf_instance_free(inst);
}

static void test_type_conflict(void **state)
{
	struct ebpf_instance *inst = ebpf_instance_new("testcfg");

	(void)state;
	/* types.db already has these; overwriting would break other plugins */
	mock_add_type("latency", DS_TYPE_GAUGE);
	mock_add_type("derive", DS_TYPE_DERIVE);
	assert_int_equal(ebpf_instance_add_family(inst, "latency", BB_METRIC_COUNTER), -EEXIST);
	assert_int_equal(mock_count_logs(LOG_ERR, "collectd type \"latency\" already exists",
					 "config testcfg: metric latency"),
			 1);
	assert_int_equal(plugin_get_ds("latency")->ds[0].type, DS_TYPE_GAUGE);
	/* Same shape: reused, and not ours to unregister. */
	assert_int_equal(ebpf_instance_add_family(inst, "derive", BB_METRIC_COUNTER), 0);
	assert_int_equal(ebpf_ctx.n_own_types, 0);
	/* One family, two kinds. */
	assert_int_equal(ebpf_instance_add_family(inst, "derive", BB_METRIC_GAUGE), -EEXIST);
	ebpf_instance_free(inst);
}

/* A type name holds 127 bytes: the longest suffix the Histograms mode
 * registers decides how long a histogram's name may be. */
static void test_name_too_long(void **state)
{
	static const struct {
		unsigned mode;
		size_t max;
		size_t types;
	} cases[] = {
		{ EBPF_HIST_BUCKETS, DATA_MAX_NAME_LEN - 1 - 7, 3 },	  /* _bucket */
		{ EBPF_HIST_PERCENTILES, DATA_MAX_NAME_LEN - 1 - 13, 3 }, /* _observations */
		{ EBPF_HIST_BOTH, DATA_MAX_NAME_LEN - 1 - 13, 6 },
	};
	char name[DATA_MAX_NAME_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ebpf_instance *inst;

		ebpf_ctx.histograms = cases[i].mode;
		inst = ebpf_instance_new("testcfg");
		memset(name, 'h', cases[i].max + 1);
		name[cases[i].max + 1] = '\0';
		assert_int_equal(ebpf_instance_add_family(inst, name, BB_METRIC_HISTOGRAM),
				 -ENAMETOOLONG);
		assert_int_equal(mock_count_logs(LOG_ERR, "cannot be a collectd type", NULL), 1);
		assert_int_equal(ebpf_shutdown(), 0);
		mock_reset();
		ebpf_ctx.histograms = cases[i].mode;
		name[cases[i].max] = '\0';
		assert_int_equal(ebpf_instance_add_family(inst, name, BB_METRIC_HISTOGRAM), 0);
		assert_int_equal(mock_n_types(), cases[i].types);
		ebpf_instance_free(inst);
		/* shutdown unregisters what the plugin registered */
		assert_int_equal(ebpf_shutdown(), 0);
		assert_int_equal(mock_n_types(), 0);
		mock_reset();
	}
}

/* ---- init ---- */

static void test_init_without_config(void **state)
{
	(void)state;
	assert_int_equal(ebpf_init(), -1);
	assert_int_equal(mock_count_logs(LOG_ERR, "no Config given", NULL), 1);
	assert_int_equal(mock_n_reads, 0);
}

static void test_init_all_configs_fail(void **state)
{
	char dir[] = "/tmp/test_ebpf.XXXXXX", path[256];
	oconfig_item_t *ci = ci_block(), *c;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/broken.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("metrics:\n  counters:\n    - name: [unclosed\n", f);
	fclose(f);

	ci_str(ci_child(ci, "ConfigDir"), dir);
	c = ci_child(ci, "Config");
	ci_str(c, "missing");
	ci_str(c, "broken");
	assert_int_equal(ebpf_config(ci), 0);
	assert_int_equal(ebpf_init(), -1);

	/* Each failure is named with its reason, then the summary. */
	assert_int_equal(mock_count_logs(LOG_ERR, "ebpf plugin: config missing: ", "missing"), 1);
	assert_int_equal(mock_count_logs(LOG_ERR, "ebpf plugin: config broken: ", path), 1);
	assert_int_equal(mock_count_logs(LOG_ERR, "none of the 2 configs", NULL), 1);
	assert_int_equal(mock_n_reads, 0);
	/* init cleaned up after itself; shutdown after a failed init is harmless */
	assert_int_equal(ebpf_ctx.n_configs, 0);
	assert_int_equal(ebpf_shutdown(), 0);

	unlink(path);
	rmdir(dir);
	ci_free(ci);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_module_register, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_all_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_percentile_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_unknown_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_bad_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_percentiles_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_option_with_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_type_instance_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_type_instance_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_type_instance_exact_fit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_type_instance_truncation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_type_instance_cut_boundaries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dispatch_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dispatch_histogram_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identifier_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identifier_churn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compose_matches_reference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dispatch_new_family, setup, teardown),
		cmocka_unit_test_setup_teardown(test_type_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_name_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_without_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_all_configs_fail, setup, teardown),
	};

	return cmocka_run_group_tests_name("collectd plugin ebpf", tests, NULL, NULL);
}
