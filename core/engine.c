/* SPDX-License-Identifier: MIT */
/* bpfbridge.h: one config = config + loader + reader + its self-metrics. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "bpfbridge.h"
#include "decode.h"
#include "loader.h"
#include "trust.h"
#include "reader.h"

struct bb_engine {
	struct bb_config *cfg;
	struct bb_options opts;
	struct bb_loader *ld;
	struct bb_decode_ctx *dctx;
	struct bb_reader *rd;
	uint64_t read_errors; /* cumulative */
	uint64_t last_duration_us;
	uint64_t last_series;
};

void bb_options_init(struct bb_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->max_series_per_metric = BB_DEFAULT_MAX_SERIES;
}

void bb_engine_close(struct bb_engine *eng)
{
	if (!eng)
		return;
	bb_reader_free(eng->rd);
	bb_loader_close(eng->ld);
	bb_decode_ctx_free(eng->dctx);
	bb_config_free(eng->cfg);
	free(eng);
}

int bb_engine_open(const char *yaml_path, const struct bb_options *opts, struct bb_engine **out,
		   char *err, size_t errlen)
{
	struct bb_engine *eng;
	char *yaml = NULL;
	size_t len = 0;
	int ret;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	eng = calloc(1, sizeof(*eng));
	if (!eng) {
		snprintf(err, errlen, "%s: out of memory", yaml_path);
		return -ENOMEM;
	}
	if (opts)
		eng->opts = *opts;
	else
		bb_options_init(&eng->opts);

	/* The YAML decides what gets loaded: it gets the same ownership check. */
	ret = bb_trust_read_file(yaml_path, eng->opts.skip_owner_check, &yaml, &len, err, errlen);
	if (ret)
		goto fail;
	ret = bb_config_parse(yaml_path, yaml, len, &eng->cfg, err, errlen);
	free(yaml);
	if (ret)
		goto fail;

	eng->dctx = bb_decode_ctx_new(NULL);
	if (!eng->dctx) {
		snprintf(err, errlen, "%s: out of memory", yaml_path);
		ret = -ENOMEM;
		goto fail;
	}
	ret = bb_loader_open(eng->cfg, &eng->opts, &eng->ld, err, errlen);
	if (ret)
		goto fail;
	eng->rd = bb_reader_new(eng->cfg, &eng->opts, eng->dctx);
	if (!eng->rd) {
		snprintf(err, errlen, "%s: cannot set up the map reader", yaml_path);
		ret = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < eng->cfg->n_metrics; i++) {
		struct bpf_map *map = bb_loader_map(eng->ld, eng->cfg->metrics[i].name);

		if (!map) {
			snprintf(err, errlen, "%s: metric %s: its map vanished after load",
				 yaml_path, eng->cfg->metrics[i].name);
			ret = -ENOENT;
			goto fail;
		}
		ret = bb_reader_bind(eng->rd, i, bpf_map__fd(map), err, errlen);
		if (ret)
			goto fail;
	}
	*out = eng;
	return 0;
fail:
	if (errlen && !err[0])
		snprintf(err, errlen, "%s: %s", yaml_path, strerror(ret < 0 ? -ret : ret));
	bb_engine_close(eng);
	return ret < 0 ? ret : -EINVAL;
}

const struct bb_config *bb_engine_config(const struct bb_engine *eng)
{
	return eng ? eng->cfg : NULL;
}

const char *bb_engine_name(const struct bb_engine *eng)
{
	return eng && eng->cfg ? eng->cfg->name : NULL;
}

size_t bb_engine_n_programs(const struct bb_engine *eng)
{
	return eng ? bb_loader_n_programs(eng->ld) : 0;
}

const struct bb_program_status *bb_engine_program(const struct bb_engine *eng, size_t i)
{
	return eng ? bb_loader_program(eng->ld, i) : NULL;
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static struct bb_family *self_family(struct bb_snapshot *snap, const char *name, const char *help,
				     enum bb_metric_kind kind, const char *const *labels, size_t n)
{
	struct bb_family *fam = bb_snapshot_family(snap, name, help, kind, labels, n);

	if (!fam)
		bb_err("cannot add self-metric family %s: %s", name,
		       strerror(errno ? errno : ENOMEM));
	return fam;
}

static int add_value(struct bb_family *fam, const char *const *vals, uint64_t value)
{
	struct bb_series *s;

	if (!fam)
		return -ENOMEM;
	s = bb_family_add_series(fam, vals);
	if (!s)
		return -ENOMEM;
	s->value = value;
	return 0;
}

/*
 * The self-metric families (see DESIGN.md), present in every read. Each family
 * is filled before the next is created: creating one may move the others.
 */
static int add_self_metrics(struct bb_engine *eng, struct bb_snapshot *snap)
{
	static const char *const prog_labels[] = { "config", "program", "hook", "section" };
	static const char *const cfg_labels[] = { "config" };
	static const char *const metric_labels[] = { "config", "metric" };
	const char *name = eng->cfg->name;
	const char *cfg_vals[] = { name };
	struct bb_family *fam;
	int ret = 0;

	fam = self_family(snap, "bpfbridge_program_attached",
			  "Whether a BPF program of the config is attached (1) or not (0).",
			  BB_METRIC_GAUGE, prog_labels, 4);
	for (size_t i = 0; i < bb_engine_n_programs(eng); i++) {
		const struct bb_program_status *st = bb_engine_program(eng, i);
		const char *vals[] = { name, st->name, st->hook, st->section };

		ret |= add_value(fam, vals, st->state == BB_PROG_ATTACHED);
	}
	/* Kept in microseconds, exported in seconds (Prometheus' base unit). */
	fam = self_family(snap, "bpfbridge_read_duration_seconds",
			  "How long the last read of the config's maps took.", BB_METRIC_GAUGE,
			  cfg_labels, 1);
	if (fam)
		fam->multiplier = 1e-6;
	ret |= add_value(fam, cfg_vals, eng->last_duration_us);
	fam = self_family(snap, "bpfbridge_series", "Series the last read of the config produced.",
			  BB_METRIC_GAUGE, cfg_labels, 1);
	ret |= add_value(fam, cfg_vals, eng->last_series);
	fam = self_family(snap, "bpfbridge_series_dropped_total",
			  "Series dropped because the metric reached its max_series limit.",
			  BB_METRIC_COUNTER, metric_labels, 2);
	for (size_t i = 0; i < bb_reader_n_metrics(eng->rd); i++) {
		const char *vals[] = { name, eng->cfg->metrics[i].name };

		ret |= add_value(fam, vals, bb_reader_stats(eng->rd, i)->series_dropped);
	}
	fam = self_family(snap, "bpfbridge_decode_errors_total",
			  "Map keys whose labels could not be decoded.", BB_METRIC_COUNTER,
			  metric_labels, 2);
	for (size_t i = 0; i < bb_reader_n_metrics(eng->rd); i++) {
		const char *vals[] = { name, eng->cfg->metrics[i].name };

		ret |= add_value(fam, vals, bb_reader_stats(eng->rd, i)->decode_errors);
	}
	fam = self_family(snap, "bpfbridge_read_errors_total",
			  "Reads of the config's maps that failed.", BB_METRIC_COUNTER, cfg_labels,
			  1);
	ret |= add_value(fam, cfg_vals, eng->read_errors);
	return ret ? -ENOMEM : 0;
}

int bb_engine_read(struct bb_engine *eng, struct bb_snapshot *snap)
{
	struct bb_read_result res;
	uint64_t start;
	int ret, sret;

	if (!eng || !snap)
		return -EINVAL;
	start = mono_us();
	ret = bb_reader_read(eng->rd, snap, &res);
	eng->last_duration_us = mono_us() - start;
	eng->last_series = res.series;
	eng->read_errors += res.read_errors;
	sret = add_self_metrics(eng, snap);
	return ret ? ret : sret;
}

struct bb_snapshot *bb_engines_snapshot(struct bb_engine *const *engines, size_t n)
{
	struct bb_snapshot *snap = bb_snapshot_new();

	if (!snap)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (engines[i])
			(void)bb_engine_read(engines[i], snap); /* failures are self-metrics */
	}
	bb_snapshot_finish(snap);
	return snap;
}

const char *bb_program_state_name(enum bb_program_state state)
{
	switch (state) {
	case BB_PROG_ATTACHED:
		return "attached";
	case BB_PROG_FAILED:
		return "failed";
	case BB_PROG_SKIPPED:
		return "skipped";
	}
	return "unknown";
}
