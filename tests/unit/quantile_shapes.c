/* SPDX-License-Identifier: MIT */
/*
 * Not a test by itself: tests/integration/test_quantiles.py feeds it histogram
 * shapes and checks its answers against Prometheus' own histogram_quantile()
 * (promtool test rules). Each input line is one shape, two reads of one
 * series through the real series store:
 *
 *   NAME TYPE MIN MAX MULT | PREV... | CUR...
 *
 * where PREV and CUR hold the raw count of every bucket key MIN..MAX, then the
 * sum (key MAX + 1), then observations above it (+Inf only). Each output line
 * is JSON: the bounds as exported, both reads' cumulative buckets, and the
 * interval's quantiles for the q list.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "decode.h"
#include "hist.h"
#include "log.h"
#include "snapshot.h"
#include "store.h"

static const double qs[] = { 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99 };
#define NQ (sizeof(qs) / sizeof(qs[0]))

static void print_double(double v)
{
	if (isnan(v))
		printf("\"NaN\"");
	else
		printf("%.17g", v);
}

static int run_shape(char *line)
{
	char name[64], type[16], yaml[1024], err[BB_ERRMSG_MAX];
	long min, max;
	double mult;
	char *prev_s = strchr(line, '|'), *cur_s;
	struct bb_config *cfg = NULL;
	struct bb_decode_ctx *dctx = bb_decode_ctx_new(NULL);
	struct bb_store *st = NULL;
	struct bb_bounds *bounds = NULL;
	double *le = NULL;
	int64_t *le_raw = NULL;
	size_t n = 0;
	uint32_t offsets[1] = { 0 };
	int ret = 1;

	if (!prev_s || !(cur_s = strchr(prev_s + 1, '|')) ||
	    sscanf(line, "%63s %15s %ld %ld %lf", name, type, &min, &max, &mult) != 5)
		goto out;
	*prev_s++ = *cur_s++ = '\0';
	snprintf(yaml, sizeof(yaml),
		 "metrics:\n  histograms:\n    - name: lat_seconds\n      help: h\n"
		 "      bucket_type: %s\n      bucket_min: %ld\n      bucket_max: %ld\n"
		 "      bucket_multiplier: %g\n      labels:\n        - name: bucket\n"
		 "          size: 8\n          decoders:\n            - name: uint\n",
		 type, min, max, mult);
	if (bb_config_parse("/shape.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	if (bb_hist_bounds(&cfg->metrics[0], &le, &le_raw, &n))
		goto out;
	bounds = bb_bounds_new(le, le_raw, n, cfg->metrics[0].bucket_multiplier);
	{
		struct bb_store_params p = { .config_name = "shape",
					     .max_series = 1,
					     .retire_after = 5,
					     .quantiles = qs,
					     .n_quantiles = NQ,
					     .bounds = bounds };
		struct bb_store_layout lay = {
			.key_size = 8, .offsets = offsets, .cpu_label = -1, .ncpus = 1
		};

		st = bb_store_new(&cfg->metrics[0], &p, dctx);
		if (!st || bb_store_bind(st, &lay))
			goto out;
	}
	printf("{\"name\":\"%s\",\"le\":[", name);
	for (size_t b = 0; b < n; b++)
		printf("%s\"%s\"", b ? "," : "", bounds->le_text[b]);
	printf("],\"reads\":[");
	for (int r = 0; r < 2; r++) {
		char *p = r ? cur_s : prev_s;
		struct bb_snapshot *snap = bb_snapshot_new();
		struct bb_family *fam =
			bb_snapshot_family(snap, "lat_seconds", "h", BB_METRIC_HISTOGRAM, NULL, 0);
		const struct bb_series *s;

		bb_store_begin(st);
		/* keys MIN..MAX, then the sum key, then one above it */
		for (long key = min; key <= max + 2; key++) {
			uint64_t k = (uint64_t)key, v = strtoull(p, &p, 10);

			if (bb_store_add(st, (const uint8_t *)&k, &v, 1))
				goto out;
		}
		if (bb_store_end(st, fam) != 1)
			goto out;
		s = &fam->series[0];
		printf("%s{\"buckets\":[", r ? "," : "");
		for (size_t b = 0; b < n; b++)
			printf("%s%llu", b ? "," : "", (unsigned long long)s->buckets[b]);
		printf("],\"count\":%llu}", (unsigned long long)s->count);
		if (r == 1) {
			printf("],\"q\":[");
			for (size_t q = 0; q < NQ; q++) {
				printf("%s", q ? "," : "");
				print_double(qs[q]);
			}
			printf("],\"quantiles\":[");
			for (size_t q = 0; q < NQ; q++) {
				printf("%s", q ? "," : "");
				print_double(s->iv.quantiles[q]);
			}
			printf("],\"interval_count\":%llu}\n", (unsigned long long)s->iv.count);
		}
		bb_snapshot_unref(snap);
	}
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "quantile_shapes: bad shape line\n");
	bb_store_free(st);
	bb_bounds_unref(bounds);
	free(le);
	free(le_raw);
	bb_config_free(cfg);
	bb_decode_ctx_free(dctx);
	return ret;
}

int main(void)
{
	char line[8192];
	int ret = 0;

	while (fgets(line, sizeof(line), stdin))
		if (line[0] != '\n' && line[0] != '#')
			ret |= run_shape(line);
	return ret;
}
