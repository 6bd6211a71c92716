/* SPDX-License-Identifier: MIT */
/*
 * bench_snmp_tables SERIES BUCKETS [LOADS]: what a cache refresh of the SNMP
 * tables costs at SERIES histogram series of BUCKETS finite buckets, from a
 * snapshot built in memory (no BPF). Prints one JSON object:
 *
 *   build_ms    bbsnmp_tables_build(): rows and index maps (reader thread)
 *   install_ms  bbsnmp_tables_install(): the swap (agent thread)
 *   free_ms     bbsnmp_view_free() of the replaced rows (reader thread)
 *   update_ms   bbsnmp_tables_update(): all of it on one thread
 *   view_bytes_per_series: the rows' arrays and heap growth per series
 *   index_bytes_per_series: heap growth of the index maps per series
 *
 * Each figure is the median over LOADS loads (default 10) of the same
 * snapshot; the first load (every index new) is reported apart.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bbsnmp.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static size_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), compare_double);
	return v[n / 2];
}

static struct bb_snapshot *make_snapshot(size_t n_series, size_t n_buckets)
{
	static const char *const names[] = { "cgroup", "op" };
	struct bb_snapshot *snap = bb_snapshot_new();
	struct bb_family *fam;
	double le[64];
	int64_t raw[64];

	if (!snap)
		return NULL;
	fam = bb_snapshot_family(snap, "bench_latency_seconds", "Bench.", BB_METRIC_HISTOGRAM,
				 names, 2);
	for (size_t b = 0; b < n_buckets; b++) {
		raw[b] = (int64_t)1 << b;
		le[b] = raw[b] * 1e-6;
	}
	if (!fam || bb_family_set_buckets(fam, le, raw, n_buckets, 1e-6) < 0)
		return NULL;
	for (size_t i = 0; i < n_series; i++) {
		char cg[48], op[24];
		const char *values[] = { cg, op };
		struct bb_series *s;

		snprintf(cg, sizeof(cg), "/sys/fs/cgroup/user-%zu", i / 4);
		snprintf(op, sizeof(op), "op%zu", i % 4);
		s = bb_family_add_series(fam, values);
		if (!s)
			return NULL;
		s->id = i + 1; /* as a store gives them: ascending */
		for (size_t b = 0; b < n_buckets; b++)
			s->buckets[b] = i + b;
		s->count = i + n_buckets;
		s->sum_raw = i * 3;
		s->sum = s->sum_raw * 1e-6;
	}
	bb_snapshot_finish(snap);
	return snap;
}

int main(int argc, char **argv)
{
	size_t n_series = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
	size_t n_buckets = argc > 2 ? strtoul(argv[2], NULL, 10) : 10;
	int loads = argc > 3 ? atoi(argv[3]) : 10;
	double *build = calloc(loads, sizeof(double)), *install = calloc(loads, sizeof(double));
	double *freeing = calloc(loads, sizeof(double)), *update = calloc(loads, sizeof(double));
	struct bbsnmp_tables *t;
	struct bb_snapshot *snap;
	struct bbsnmp_view *view, *old;
	size_t heap0, heap1, heap2;
	double first, t0;

	if (!n_series || n_buckets > 64 || loads < 1 || !build || !install || !freeing || !update) {
		fprintf(stderr, "usage: bench_snmp_tables SERIES BUCKETS(<=64) [LOADS]\n");
		return 2;
	}
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_PERSIST_STATE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_ROLE, 0);
	setenv("MIBS", "", 1);
	init_agent("bbsnmpbench");
	init_snmp("bbsnmpbench");

	snap = make_snapshot(n_series, n_buckets);
	t = bbsnmp_tables_new();
	if (!snap || !t) {
		fprintf(stderr, "bench_snmp_tables: out of memory\n");
		return 1;
	}
	malloc_trim(0);
	heap0 = heap_bytes();
	t0 = now_ms();
	if (bbsnmp_tables_build(t, snap, NULL, 0, &view) < 0)
		return 1;
	first = now_ms() - t0;
	bbsnmp_view_free(bbsnmp_tables_install(t, view));
	heap1 = heap_bytes() + bbsnmp_tables_row_bytes(t);
	bbsnmp_tables_clear(t);
	heap2 = heap_bytes(); /* the index maps alone */
	for (int i = 0; i < loads; i++) {
		t0 = now_ms();
		if (bbsnmp_tables_build(t, snap, NULL, 0, &view) < 0)
			return 1;
		build[i] = now_ms() - t0;
		t0 = now_ms();
		old = bbsnmp_tables_install(t, view);
		install[i] = now_ms() - t0;
		t0 = now_ms();
		bbsnmp_view_free(old);
		freeing[i] = now_ms() - t0;
	}
	for (int i = 0; i < loads; i++) {
		t0 = now_ms();
		if (bbsnmp_tables_update(t, snap, NULL, 0) < 0)
			return 1;
		update[i] = now_ms() - t0;
	}
	printf("{\"series\": %zu, \"buckets\": %zu, \"loads\": %d, \"first_build_ms\": %.2f, "
	       "\"build_ms\": %.2f, \"install_ms\": %.4f, \"free_ms\": %.2f, \"update_ms\": %.2f, "
	       "\"bucket_rows\": %zu, \"view_bytes_per_series\": %.1f, "
	       "\"index_bytes_per_series\": %.1f}\n",
	       n_series, n_buckets, loads, first, median(build, loads), median(install, loads),
	       median(freeing, loads), median(update, loads),
	       bbsnmp_tables_rows(t, BBSNMP_TABLE_BUCKETS),
	       ((double)heap1 - (double)heap2) / n_series,
	       ((double)heap2 - (double)heap0) / n_series);
	bbsnmp_tables_free(t);
	bb_snapshot_unref(snap);
	free(build);
	free(install);
	free(freeing);
	free(update);
	snmp_shutdown("bbsnmpbench");
	return 0;
}
