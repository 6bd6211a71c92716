/* SPDX-License-Identifier: MIT */
/*
 * bbdispatch: the collectd plugin's own cost per value, without collectd.
 * bench/run builds it from plugin-collectd/ebpf.c (included, to reach its
 * static functions), plugin-collectd/collectd_mock.c (collectd's API,
 * with the mock's plugin_dispatch_values renamed away) and the build tree's
 * libbpfbridge, and runs it for section 3b.
 *
 *   bbdispatch counters|histograms|buckets SERIES REPS [meta]
 *
 * Builds one snapshot as a read would (counters: SERIES series with labels
 * id and shard; histograms: SERIES series x 27 exp2 bounds, percentiles
 * 50/90/99 and a valid interval), then times ebpf_dispatch_snapshot() over
 * it: the first call (identifiers built) and REPS calls after it (the steady
 * state), interleaved with nothing. plugin_dispatch_values() is a function
 * here that only reads the value list, so what is timed is the plugin side:
 * identifier lookup, type_instance, value_list filling (and, with "meta",
 * the LabelsAsMetadata meta_data). Prints one line:
 *   result MODE META VALUES_PER_READ FIRST_NS_PER_VALUE STEADY_NS_PER_VALUE
 */
#include "ebpf.c"

#include <time.h>

static volatile unsigned long bbd_sink;
static unsigned long bbd_values;

/* collectd's would copy the list into its write queue; this one only reads it */
int plugin_dispatch_values(value_list_t const *vl)
{
	bbd_sink += (unsigned char)vl->type_instance[0] + vl->values_len + (vl->meta != NULL) +
		    (unsigned char)vl->type[0];
	bbd_values++;
	return 0;
}

static double bbd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct bb_snapshot *bbd_snapshot(bool hist, size_t n)
{
	static const char *const labels[] = { "id", "shard" };
	static const double q[] = { 0.5, 0.9, 0.99 };
	struct bb_snapshot *snap = bb_snapshot_new();
	struct bb_family *fam;
	double le[27];
	int64_t le_raw[27];
	char a[32], b[32];

	if (snap == NULL)
		return NULL;
	for (int i = 0; i < 27; i++) {
		le_raw[i] = (int64_t)1 << i;
		le[i] = (double)le_raw[i] * 1e-6;
	}
	fam = bb_snapshot_family(snap, hist ? "bench_hist27_seconds" : "bench_series_total",
				 "bench", hist ? BB_METRIC_HISTOGRAM : BB_METRIC_COUNTER, labels,
				 hist ? 1 : 2);
	if (fam == NULL || (hist && (bb_family_set_buckets(fam, le, le_raw, 27, 1e-6) < 0 ||
				     bb_family_set_quantiles(fam, q, 3) < 0)))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		struct bb_series *s;

		snprintf(a, sizeof(a), "%zu", i);
		snprintf(b, sizeof(b), "%zu", i % 16);
		s = bb_family_add_series(fam, (const char *const[]){ a, b });
		if (s == NULL)
			return NULL;
		s->id = i + 1;
		s->value = i * 7 + 1;
		s->iv.valid = true;
		s->iv.value = 3;
		if (hist) {
			for (int k = 0; k < 27; k++)
				s->buckets[k] = s->iv.buckets[k] = (uint64_t)(k + 1) * 2;
			s->count = s->iv.count = 60;
			s->sum = s->iv.sum = 1e-3;
			s->iv.mean = 1e-3 / 60;
			for (int k = 0; k < 3; k++)
				s->iv.quantiles[k] = (double)(k + 1) * 1e-4;
		}
	}
	bb_snapshot_finish(snap);
	return snap;
}

int main(int argc, char **argv)
{
	struct bb_snapshot *snap;
	struct ebpf_instance *inst;
	bool hist;
	size_t n, per_read, failed;
	int reps;
	double t0, first, steady;

	if (argc < 4 || (strcmp(argv[1], "counters") != 0 && strcmp(argv[1], "histograms") != 0 &&
			 strcmp(argv[1], "buckets") != 0)) {
		fprintf(stderr,
			"usage: bbdispatch counters|histograms|buckets SERIES REPS [meta]\n");
		return 2;
	}
	hist = argv[1][0] != 'c';
	n = strtoul(argv[2], NULL, 10);
	reps = atoi(argv[3]);
	if (n == 0 || reps <= 0) {
		fprintf(stderr, "bbdispatch: SERIES and REPS must be positive\n");
		return 2;
	}
	ebpf_ctx.labels_meta = argc > 4 && strcmp(argv[4], "meta") == 0;
	ebpf_ctx.histograms = strcmp(argv[1], "buckets") == 0 ? EBPF_HIST_BUCKETS : EBPF_HIST_BOTH;
	snap = bbd_snapshot(hist, n);
	inst = ebpf_instance_new("bench");
	if (snap == NULL || inst == NULL || ebpf_instance_add_snapshot_families(inst, snap) < 0) {
		fprintf(stderr, "bbdispatch: out of memory\n");
		return 1;
	}
	t0 = bbd_now();
	failed = ebpf_dispatch_snapshot(inst, snap); /* builds every identifier */
	first = bbd_now() - t0;
	per_read = bbd_values;
	t0 = bbd_now();
	for (int r = 0; r < reps; r++)
		failed += ebpf_dispatch_snapshot(inst, snap);
	steady = bbd_now() - t0;
	if (failed != 0 || bbd_values != per_read * (size_t)(reps + 1)) {
		fprintf(stderr, "bbdispatch: %zu series not dispatched, %lu values\n", failed,
			bbd_values);
		return 1;
	}
	printf("result %s %d %zu %.1f %.1f\n", argv[1], ebpf_ctx.labels_meta ? 1 : 0, per_read,
	       first / (double)per_read * 1e9, steady / reps / (double)per_read * 1e9);
	ebpf_instance_free(inst);
	bb_snapshot_unref(snap);
	return 0;
}
