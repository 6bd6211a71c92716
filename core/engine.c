/* SPDX-License-Identifier: MIT */
/* bpfbridge.h: one config = config + loader + reader + its self-metrics. */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
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
	bool names_claimed;
	/* self-metric label sets, made once (a read allocates none per series) */
	struct bb_labelset **prog_labels; /* one per program */
	struct bb_labelset *cfg_labels;
	struct bb_labelset **metric_labels; /* one per metric */
	/* ids of the self-metric series: one per (family, label set), reserved
	 * at open (bb_series_ids) and handed out in the same order every read */
	uint64_t self_id0, self_next;
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

/* ---- metric names are unique across configs ------------------------------ */

/*
 * Two configs exporting the same metric name would be merged into one family
 * (with the first one's bounds and help), so the second is refused. A config
 * reopened from the same path (a reload) may hold the name twice for a while.
 */
struct name_claim {
	char *metric;
	char *path;
	unsigned refs;
};

static pthread_mutex_t claims_lock = PTHREAD_MUTEX_INITIALIZER;
static struct name_claim *claims;
static size_t n_claims, cap_claims;

static struct name_claim *claim_find(const char *metric)
{
	for (size_t i = 0; i < n_claims; i++)
		if (strcmp(claims[i].metric, metric) == 0)
			return &claims[i];
	return NULL;
}

static void release_names(const struct bb_config *cfg, size_t n)
{
	pthread_mutex_lock(&claims_lock);
	for (size_t i = 0; i < n; i++) {
		struct name_claim *c = claim_find(cfg->metrics[i].name);

		if (!c || --c->refs)
			continue;
		free(c->metric);
		free(c->path);
		*c = claims[--n_claims];
	}
	if (n_claims == 0) {
		free(claims);
		claims = NULL;
		cap_claims = 0;
	}
	pthread_mutex_unlock(&claims_lock);
}

static int claim_names(const struct bb_config *cfg, char *err, size_t errlen)
{
	size_t i;
	int ret = 0;

	pthread_mutex_lock(&claims_lock);
	for (i = 0; i < cfg->n_metrics && !ret; i++) {
		const struct bb_metric_conf *m = &cfg->metrics[i];
		struct name_claim *c = claim_find(m->name);

		if (c && strcmp(c->path, cfg->yaml_path) != 0) {
			snprintf(
				err, errlen,
				"%s:%d:%d: metric %s: already exported by %s; metric names must be "
				"unique across configs",
				cfg->yaml_path, m->pos.line, m->pos.column, m->name, c->path);
			ret = -EEXIST;
			break;
		}
		if (c) {
			c->refs++;
			continue;
		}
		if (n_claims == cap_claims) {
			size_t nc = cap_claims ? cap_claims * 2 : 16;
			struct name_claim *p = realloc(claims, nc * sizeof(*p));

			if (!p) {
				ret = -ENOMEM;
				break;
			}
			claims = p;
			cap_claims = nc;
		}
		c = &claims[n_claims];
		c->metric = strdup(m->name);
		c->path = strdup(cfg->yaml_path);
		c->refs = 1;
		if (!c->metric || !c->path) {
			free(c->metric);
			free(c->path);
			ret = -ENOMEM;
			break;
		}
		n_claims++;
	}
	pthread_mutex_unlock(&claims_lock);
	if (ret) {
		if (ret == -ENOMEM)
			snprintf(err, errlen, "%s: out of memory", cfg->yaml_path);
		release_names(cfg, i);
	}
	return ret;
}

static void free_self_labels(struct bb_engine *eng)
{
	for (size_t i = 0; eng->prog_labels && i < bb_engine_n_programs(eng); i++)
		bb_labelset_unref(eng->prog_labels[i]);
	for (size_t i = 0; eng->metric_labels && i < eng->cfg->n_metrics; i++)
		bb_labelset_unref(eng->metric_labels[i]);
	bb_labelset_unref(eng->cfg_labels);
	free(eng->prog_labels);
	free(eng->metric_labels);
}

static int make_self_labels(struct bb_engine *eng)
{
	const char *name = eng->cfg->name;
	size_t np = bb_engine_n_programs(eng), nm = eng->cfg->n_metrics;

	eng->prog_labels = calloc(np ? np : 1, sizeof(*eng->prog_labels));
	eng->metric_labels = calloc(nm ? nm : 1, sizeof(*eng->metric_labels));
	eng->cfg_labels = bb_labelset_new(&name, 1);
	if (!eng->prog_labels || !eng->metric_labels || !eng->cfg_labels)
		return -ENOMEM;
	for (size_t i = 0; i < np; i++) {
		const struct bb_program_status *st = bb_engine_program(eng, i);
		const char *vals[] = { name, st->name, st->hook, st->section };

		eng->prog_labels[i] = bb_labelset_new(vals, 4);
		if (!eng->prog_labels[i])
			return -ENOMEM;
	}
	for (size_t i = 0; i < nm; i++) {
		const char *vals[] = { name, eng->cfg->metrics[i].name };

		eng->metric_labels[i] = bb_labelset_new(vals, 2);
		if (!eng->metric_labels[i])
			return -ENOMEM;
	}
	/* add_self_metrics() adds np + 4 * nm + 3 series */
	eng->self_id0 = bb_series_ids(np + 4 * nm + 3);
	return 0;
}

static bool same_labelset(const struct bb_labelset *a, const struct bb_labelset *b)
{
	return a && b && a->len == b->len && memcmp(a->joined, b->joined, a->len) == 0;
}

int bb_engine_inherit(struct bb_engine *eng, const struct bb_engine *old)
{
	size_t np = bb_engine_n_programs(eng), nm = eng->cfg->n_metrics;
	bool same = old && np == bb_engine_n_programs(old) && nm == old->cfg->n_metrics;

	if (!old)
		return 0;
	for (size_t i = 0; same && i < np; i++)
		same = same_labelset(eng->prog_labels[i], old->prog_labels[i]);
	for (size_t i = 0; same && i < nm; i++)
		same = same_labelset(eng->metric_labels[i], old->metric_labels[i]);
	if (same)
		eng->self_id0 = old->self_id0;
	return bb_reader_inherit(eng->rd, old->rd);
}

void bb_engine_close(struct bb_engine *eng)
{
	if (!eng)
		return;
	if (eng->ld)
		free_self_labels(eng);
	if (eng->names_claimed)
		release_names(eng->cfg, eng->cfg->n_metrics);
	bb_reader_free(eng->rd);
	bb_loader_close(eng->ld);
	bb_decode_ctx_free(eng->dctx);
	bb_config_free(eng->cfg);
	free(eng);
}

int bb_engine_open(const char *yaml_path, const struct bb_options *opts, struct bb_engine **out,
		   char *err, size_t errlen)
{
	return bb_engine_reopen(yaml_path, opts, NULL, out, err, errlen);
}

int bb_engine_reopen(const char *yaml_path, const struct bb_options *opts,
		     struct bb_engine *running, struct bb_engine **out, char *err, size_t errlen)
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
	ret = claim_names(eng->cfg, err, errlen);
	if (ret)
		goto fail;
	eng->names_claimed = true;

	eng->dctx = bb_decode_ctx_new(NULL);
	if (!eng->dctx) {
		snprintf(err, errlen, "%s: out of memory", yaml_path);
		ret = -ENOMEM;
		goto fail;
	}
	ret = bb_loader_reopen(eng->cfg, &eng->opts, running ? running->ld : NULL, &eng->ld, err,
			       errlen);
	if (ret)
		goto fail;
	if (make_self_labels(eng)) {
		snprintf(err, errlen, "%s: out of memory", yaml_path);
		ret = -ENOMEM;
		goto fail;
	}
	eng->rd = bb_reader_new(eng->cfg, &eng->opts, eng->dctx);
	if (!eng->rd) {
		snprintf(err, errlen, "%s: cannot set up the map reader", yaml_path);
		ret = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < eng->cfg->n_metrics; i++) {
		int fd = bb_loader_metric_fd(eng->ld, i);

		if (fd < 0) {
			snprintf(err, errlen, "%s: metric %s: its map vanished after load",
				 yaml_path, eng->cfg->metrics[i].name);
			ret = -ENOENT;
			goto fail;
		}
		ret = bb_reader_bind(eng->rd, i, fd, err, errlen);
		if (ret)
			goto fail;
	}
	*out = eng;
	return 0;
fail:
	if (errlen && !err[0])
		snprintf(err, errlen, "%s: %s", yaml_path, bb_strerror(ret < 0 ? -ret : ret));
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
		       bb_strerror(errno ? errno : ENOMEM));
	return fam;
}

static int add_value(struct bb_engine *eng, struct bb_family *fam, struct bb_labelset *labels,
		     uint64_t value)
{
	uint64_t id = eng->self_next++;
	struct bb_series *s;

	if (!fam)
		return -ENOMEM;
	s = bb_family_add_shared(fam, labels);
	if (!s)
		return -ENOMEM;
	s->id = id;
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
	static const struct {
		const char *name, *help;
		size_t offset;
	} per_metric[] = {
		{ "bpfbridge_series_dropped_total",
		  "Label sets dropped because the metric reached its max_series limit, once per "
		  "read.",
		  offsetof(struct bb_metric_stats, series_dropped) },
		{ "bpfbridge_decode_errors_total", "Map keys whose labels could not be decoded.",
		  offsetof(struct bb_metric_stats, decode_errors) },
		{ "bpfbridge_series_retired_total",
		  "Series forgotten because their keys left the map, or relabelled.",
		  offsetof(struct bb_metric_stats, series_retired) },
		{ "bpfbridge_labels_truncated_total",
		  "Label values cut to the length limit (a hash of the whole value is kept).",
		  offsetof(struct bb_metric_stats, labels_truncated) },
	};
	struct bb_family *fam;
	int ret = 0;

	eng->self_next = eng->self_id0;
	fam = self_family(snap, "bpfbridge_program_attached",
			  "Whether a BPF program of the config is attached (1) or not (0).",
			  BB_METRIC_GAUGE, prog_labels, 4);
	for (size_t i = 0; i < bb_engine_n_programs(eng); i++)
		ret |= add_value(eng, fam, eng->prog_labels[i],
				 bb_engine_program(eng, i)->state == BB_PROG_ATTACHED);
	/* Kept in microseconds, exported in seconds (Prometheus' base unit). */
	fam = self_family(snap, "bpfbridge_read_duration_seconds",
			  "How long the last read of the config's maps took.", BB_METRIC_GAUGE,
			  cfg_labels, 1);
	if (fam)
		fam->multiplier = 1e-6;
	ret |= add_value(eng, fam, eng->cfg_labels, eng->last_duration_us);
	fam = self_family(snap, "bpfbridge_series", "Series the last read of the config produced.",
			  BB_METRIC_GAUGE, cfg_labels, 1);
	ret |= add_value(eng, fam, eng->cfg_labels, eng->last_series);
	for (size_t k = 0; k < sizeof(per_metric) / sizeof(per_metric[0]); k++) {
		fam = self_family(snap, per_metric[k].name, per_metric[k].help, BB_METRIC_COUNTER,
				  metric_labels, 2);
		for (size_t i = 0; i < bb_reader_n_metrics(eng->rd); i++) {
			const char *st = (const char *)bb_reader_stats(eng->rd, i);
			uint64_t v;

			memcpy(&v, st + per_metric[k].offset, sizeof(v));
			ret |= add_value(eng, fam, eng->metric_labels[i], v);
		}
	}
	fam = self_family(snap, "bpfbridge_read_errors_total",
			  "Reads of the config's maps that failed (or that found an online CPU a "
			  "perf_event/ program could not sample).",
			  BB_METRIC_COUNTER, cfg_labels, 1);
	ret |= add_value(eng, fam, eng->cfg_labels, eng->read_errors);
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
	if (bb_loader_follow_cpus(eng->ld) != 0)
		eng->read_errors++; /* a CPU online but not sampled: visible, not silent */
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

size_t bb_engine_maps_kept(const struct bb_engine *eng)
{
	return eng ? bb_loader_n_reused_maps(eng->ld) : 0;
}

size_t bb_engine_memory(const struct bb_engine *eng)
{
	return eng ? bb_reader_memory(eng->rd) : 0;
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
