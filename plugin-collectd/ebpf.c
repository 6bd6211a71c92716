/* SPDX-License-Identifier: MIT */
/*
 * collectd read plugin "ebpf": each configured NAME.yaml + NAME.bpf.o is one
 * bb_engine with its own complex read callback ("ebpf/NAME", group "ebpf").
 *
 * Identifiers (docs/collectd.md is the reference):
 *   plugin "ebpf", plugin_instance = config name,
 *   type = metric name (counter: DERIVE, self-metric gauge: GAUGE);
 *   histograms (Histograms "buckets", "percentiles" or "both"):
 *     buckets:     NAME_bucket (DERIVE, one value per cumulative bucket, +Inf
 *                  included), NAME_sum (one GAUGE data source "scaled": the
 *                  sum already multiplied by bucket_multiplier, as DERIVE
 *                  holds integers only) and NAME_count (DERIVE);
 *     percentiles: NAME_percentile (GAUGE, one value per Percentiles entry),
 *                  NAME_average and NAME_observations (GAUGE): the interval's
 *                  quantiles, mean and count from the core (collectd's statsd
 *                  convention: latency percentiles, average and count as
 *                  gauges; NaN for an interval without observations).
 *   type_instance = the labels as "key=value,key=value" (buckets end with
 *   ",le=BOUND", percentiles with ",percentile=P"), see
 *   ebpf_format_type_instance(). With LabelsAsMetadata, labels also go into
 *   meta_data, one string entry per label.
 * Data sets are registered at init, so types.db needs no change.
 *
 * Identifiers are built once per series: the escaped label text (and its
 * meta_data) is cached by the series store's stable id and reused on every
 * read; a read only appends a precomputed ",le=..." or ",percentile=..." pair.
 *
 * Threads: a read callback touches only its own instance (collectd never
 * runs one callback twice at once); everything shared (the instance list,
 * the data sets we registered) is only written in config/init/shutdown, under
 * ebpf_lock, and is immutable while read callbacks run.
 */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/daemon/configfile.h"
#include "collectd/core/utils/metadata/meta_data.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bpfbridge.h"
#include "confdir.h"

#ifndef EBPF_DEFAULT_CONFIG_DIR
#define EBPF_DEFAULT_CONFIG_DIR "/usr/share/bpfbridge/configs"
#endif

#define EBPF_PLUGIN "ebpf"
#define EBPF_ALLOWED_KEYS                                                              \
	"ConfigDir, Config, AutoLoad, Strict, MaxSeriesPerMetric, BTFPath, Interval, " \
	"Histograms, Percentiles, LabelsAsMetadata"

/* Appended to a family name for the types of a histogram. */
#define EBPF_SUFFIX_BUCKET "_bucket"
#define EBPF_SUFFIX_SUM "_sum"
#define EBPF_SUFFIX_COUNT "_count"
#define EBPF_SUFFIX_PERCENTILE "_percentile"
#define EBPF_SUFFIX_AVERAGE "_average"
#define EBPF_SUFFIX_OBSERVATIONS "_observations"
#define EBPF_SUM_DS_NAME "scaled"

/* What a histogram dispatches (Histograms). */
#define EBPF_HIST_BUCKETS 1u
#define EBPF_HIST_PERCENTILES 2u
#define EBPF_HIST_BOTH (EBPF_HIST_BUCKETS | EBPF_HIST_PERCENTILES)
#define EBPF_DEFAULT_HISTOGRAMS EBPF_HIST_BOTH
#define EBPF_DEFAULT_LABELS_AS_METADATA false
static const double ebpf_default_percentiles[] = { 50, 90, 99 };

/* A type_instance longer than DATA_MAX_NAME_LEN - 1 keeps its first bytes and
 * ends in "~" + 16 hex digits of the FNV-1a 64 hash of the whole text. */
#define EBPF_HASH_SUFFIX_LEN 17
#define EBPF_FNV_OFFSET UINT64_C(0xcbf29ce484222325)

/* The identifier parts of one series, built when it is first dispatched. */
struct ebpf_ident {
	uint64_t id;	   /* the series store's id; the slot is free when labels is NULL */
	uint64_t seen;	   /* the instance's read generation that last dispatched it */
	char *labels;	   /* escaped "k=v,k=v" text, any length */
	size_t len;	   /* of labels */
	uint64_t hash;	   /* FNV-1a 64 state after labels */
	meta_data_t *meta; /* one entry per label; NULL without LabelsAsMetadata */
	/* position in the family's label order (ebpf_family_order()), valid
	 * when below the family's n_ranked; EBPF_UNRANKED when new */
	uint32_t rank;
};
#define EBPF_UNRANKED UINT32_MAX

/* A series of this read and its identifier, in dispatch order. */
struct ebpf_slot {
	struct ebpf_ident *id;
	const struct bb_series *s;
};

/* An escaped "name=value" pair appended to a series' labels, and its raw value
 * (for meta_data). */
struct ebpf_pair {
	char *text;
	size_t len;
	char raw[40];
};

/* A family this instance registered types for (sorted by name). */
struct ebpf_family_ref {
	char *name;
	enum bb_metric_kind kind;
	/* open addressing by series id (linear probing), cap a power of 2 */
	struct ebpf_ident *idents;
	size_t cap, n, n_seen;
	/* histograms: the "le=BOUND" pairs (n_le: the finite bounds, then +Inf)
	 * and "percentile=P" pairs, made for the bounds and quantiles they were
	 * built from (kept to notice a change) */
	struct ebpf_pair *le;
	size_t n_le;
	double *le_bounds;
	struct ebpf_pair *pct;
	size_t n_pct;
	double *pct_q;
	/* dispatch order: this read's series sorted by their label text, so
	 * that collectd's value cache and the writers' trees and sorted arrays,
	 * all keyed by the identifier, look up neighbouring keys one after the
	 * other (ebpf_family_order()); kept across reads, re-sorted only for
	 * new series. merge: scratch of the same size. */
	struct ebpf_slot *order, *merge;
	size_t cap_order;
	size_t n_ranked; /* series ranked by the last order */
};

struct ebpf_instance {
	char *name; /* config name: the plugin_instance */
	/* the config's slot in the watched directory: its engine may be replaced
	 * or removed by the watch callback between two reads */
	struct bb_confent *ent;
	uint64_t ent_generation;  /* of the engine whose programs were last logged */
	uint64_t read_generation; /* of the engine the identifier caches are keyed for */
	unsigned refs;		  /* the instance list's and the read callback's */
	struct ebpf_family_ref *families;
	size_t n_families;
	/* families that appeared in a read without registered types: warned once */
	char **unknown;
	size_t n_unknown;
	int last_read_error; /* log a read failure when it starts and when it ends */
	unsigned histograms; /* EBPF_HIST_* */
	bool labels_meta;
	uint64_t generation; /* reads dispatched */
};

static struct {
	pthread_mutex_t lock;
	/* from the <Plugin ebpf> block */
	char *config_dir;
	char **configs;
	size_t n_configs;
	bool autoload; /* every NAME.yaml + NAME.bpf.o of ConfigDir, watched */
	bool strict;
	int max_series;
	char *btf_path;
	cdtime_t interval;
	unsigned histograms;		      /* 0: EBPF_DEFAULT_HISTOGRAMS */
	double percentiles[BB_MAX_QUANTILES]; /* ascending, in (0, 100) */
	size_t n_percentiles;		      /* 0: ebpf_default_percentiles */
	int labels_meta;		      /* -1 unset, else 0 or 1 */
	/* from init */
	bool initialized;
	struct ebpf_instance **instances;
	size_t n_instances;
	char **own_types; /* data sets we registered, unregistered at shutdown */
	size_t n_own_types;
	struct bb_confdir *confdir;
	struct bb_options opts;
} ebpf_ctx = { .lock = PTHREAD_MUTEX_INITIALIZER, .labels_meta = -1 };

/* Data sets are also registered at run time, by read callbacks that meet a
 * new metric name (own_types is then shared). */
static pthread_mutex_t ebpf_types_lock = PTHREAD_MUTEX_INITIALIZER;

static int ebpf_strv_push(char ***v, size_t *n, const char *s)
{
	char *copy = strdup(s);
	char **nv;

	if (copy == NULL)
		return -ENOMEM;
	nv = realloc(*v, (*n + 1) * sizeof(**v));
	if (nv == NULL) {
		free(copy);
		return -ENOMEM;
	}
	nv[(*n)++] = copy;
	*v = nv;
	return 0;
}

static void ebpf_strv_free(char ***v, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}

/* Error text for read threads (plain strerror is not thread-safe). */
static const char *ebpf_strerror(int err, char *buf, size_t len)
{
	/* bb_strerror: a GNU strerror_r may leave BUF untouched and return its own text */
	snprintf(buf, len, "%s", bb_strerror(err));
	return buf;
}

/* Copy SRC into a collectd identifier field; false if it does not fit. */
static bool ebpf_copy_field(char *dst, size_t size, const char *src)
{
	size_t len = strlen(src);

	if (len >= size)
		return false;
	memcpy(dst, src, len + 1);
	return true;
}

/* ---- logging: the core's messages go to collectd's log ---- */

static void ebpf_log_sink(enum bb_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	switch (level) {
	case BB_LOG_ERR:
		ERROR(EBPF_PLUGIN " plugin: %s", msg);
		break;
	case BB_LOG_WARN:
		WARNING(EBPF_PLUGIN " plugin: %s", msg);
		break;
	case BB_LOG_INFO:
		INFO(EBPF_PLUGIN " plugin: %s", msg);
		break;
	default:
		plugin_log(LOG_DEBUG, EBPF_PLUGIN " plugin: %s", msg);
		break;
	}
}

/* ---- configuration ---- */

static int ebpf_config_strings(oconfig_item_t *ci, char ***v, size_t *n)
{
	if (ci->values_num < 1) {
		ERROR(EBPF_PLUGIN " plugin: %s needs at least one string argument", ci->key);
		return -1;
	}
	for (int i = 0; i < ci->values_num; i++) {
		if (ci->values[i].type != OCONFIG_TYPE_STRING) {
			ERROR(EBPF_PLUGIN " plugin: %s: argument %d is not a string", ci->key,
			      i + 1);
			return -1;
		}
		if (ci->values[i].value.string[0] == '\0') {
			ERROR(EBPF_PLUGIN " plugin: %s: argument %d is empty", ci->key, i + 1);
			return -1;
		}
		if (ebpf_strv_push(v, n, ci->values[i].value.string) < 0) {
			ERROR(EBPF_PLUGIN " plugin: out of memory");
			return -1;
		}
	}
	return 0;
}

/* Histograms "buckets" | "percentiles" | "both" */
static int ebpf_config_histograms(oconfig_item_t *ci, unsigned *out)
{
	static const struct {
		const char *name;
		unsigned mode;
	} modes[] = {
		{ "buckets", EBPF_HIST_BUCKETS },
		{ "percentiles", EBPF_HIST_PERCENTILES },
		{ "both", EBPF_HIST_BOTH },
	};

	if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING) {
		ERROR(EBPF_PLUGIN " plugin: Histograms: expected one of \"buckets\", "
				  "\"percentiles\" or \"both\"");
		return -1;
	}
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcasecmp(modes[i].name, ci->values[0].value.string) == 0) {
			*out = modes[i].mode;
			return 0;
		}
	}
	ERROR(EBPF_PLUGIN " plugin: Histograms: expected \"buckets\", \"percentiles\" or "
			  "\"both\", got \"%s\"",
	      ci->values[0].value.string);
	return -1;
}

static int ebpf_double_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Percentiles P... : numbers in (0, 100), at most BB_MAX_QUANTILES, no repeats. */
static int ebpf_config_percentiles(oconfig_item_t *ci, double *out, size_t *n_out)
{
	double p[BB_MAX_QUANTILES];
	size_t n = (size_t)ci->values_num;

	if (ci->values_num < 1 || n > BB_MAX_QUANTILES) {
		ERROR(EBPF_PLUGIN " plugin: Percentiles: expected 1 to %d numbers in (0, 100), "
				  "got %d values",
		      BB_MAX_QUANTILES, ci->values_num);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (ci->values[i].type != OCONFIG_TYPE_NUMBER) {
			ERROR(EBPF_PLUGIN " plugin: Percentiles: argument %zu: expected a number "
					  "in (0, 100), got a %s",
			      i + 1,
			      ci->values[i].type == OCONFIG_TYPE_STRING ? "string" : "boolean");
			return -1;
		}
		p[i] = ci->values[i].value.number;
		if (!(p[i] > 0 && p[i] < 100)) {
			ERROR(EBPF_PLUGIN " plugin: Percentiles: argument %zu: expected a number "
					  "in (0, 100), got %g",
			      i + 1, p[i]);
			return -1;
		}
	}
	qsort(p, n, sizeof(p[0]), ebpf_double_cmp);
	for (size_t i = 1; i < n; i++) {
		if (p[i] == p[i - 1]) {
			ERROR(EBPF_PLUGIN " plugin: Percentiles: %g is given twice", p[i]);
			return -1;
		}
	}
	memcpy(out, p, n * sizeof(p[0]));
	*n_out = n;
	return 0;
}

static int ebpf_config(oconfig_item_t *ci)
{
	int status = 0;

	pthread_mutex_lock(&ebpf_ctx.lock);
	for (int i = 0; i < ci->children_num && status == 0; i++) {
		oconfig_item_t *child = ci->children + i;

		if (child->children_num > 0) {
			ERROR(EBPF_PLUGIN " plugin: option \"%s\" takes no block", child->key);
			status = -1;
		} else if (strcasecmp("ConfigDir", child->key) == 0) {
			status = cf_util_get_string(child, &ebpf_ctx.config_dir);
		} else if (strcasecmp("Config", child->key) == 0) {
			status = ebpf_config_strings(child, &ebpf_ctx.configs, &ebpf_ctx.n_configs);
		} else if (strcasecmp("AutoLoad", child->key) == 0) {
			status = cf_util_get_boolean(child, &ebpf_ctx.autoload);
		} else if (strcasecmp("Strict", child->key) == 0) {
			status = cf_util_get_boolean(child, &ebpf_ctx.strict);
		} else if (strcasecmp("MaxSeriesPerMetric", child->key) == 0) {
			status = cf_util_get_int(child, &ebpf_ctx.max_series);
			if (status == 0 && ebpf_ctx.max_series < 1) {
				ERROR(EBPF_PLUGIN " plugin: MaxSeriesPerMetric must be at least 1, "
						  "got %d",
				      ebpf_ctx.max_series);
				status = -1;
			}
		} else if (strcasecmp("BTFPath", child->key) == 0) {
			status = cf_util_get_string(child, &ebpf_ctx.btf_path);
		} else if (strcasecmp("Interval", child->key) == 0) {
			status = cf_util_get_cdtime(child, &ebpf_ctx.interval);
		} else if (strcasecmp("Histograms", child->key) == 0) {
			status = ebpf_config_histograms(child, &ebpf_ctx.histograms);
		} else if (strcasecmp("Percentiles", child->key) == 0) {
			status = ebpf_config_percentiles(child, ebpf_ctx.percentiles,
							 &ebpf_ctx.n_percentiles);
		} else if (strcasecmp("LabelsAsMetadata", child->key) == 0) {
			bool b = false;

			status = cf_util_get_boolean(child, &b);
			if (status == 0)
				ebpf_ctx.labels_meta = b;
		} else {
			ERROR(EBPF_PLUGIN " plugin: unknown option \"%s\"; allowed options "
					  "are " EBPF_ALLOWED_KEYS,
			      child->key);
			status = -1;
		}
	}
	pthread_mutex_unlock(&ebpf_ctx.lock);
	return status == 0 ? 0 : -1;
}

/* ---- type_instance ---- */

struct ebpf_ti_writer {
	char *out;
	size_t size; /* of out, including the NUL */
	size_t len;  /* bytes of the whole text, written or not */
	uint64_t hash;
};

static void ebpf_ti_put(struct ebpf_ti_writer *w, char c)
{
	if (w->len + 1 < w->size)
		w->out[w->len] = c;
	w->len++;
	w->hash ^= (unsigned char)c;
	w->hash *= UINT64_C(0x100000001b3);
}

/* Bytes the grammar or collectd's identifiers reserve; '~' marks truncation. */
static bool ebpf_ti_reserved(unsigned char c)
{
	return c < 0x20 || c == 0x7f || strchr("%,=/\\\"~", c) != NULL;
}

static void ebpf_ti_put_escaped(struct ebpf_ti_writer *w, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (ebpf_ti_reserved(*p)) {
			ebpf_ti_put(w, '%');
			ebpf_ti_put(w, hex[*p >> 4]);
			ebpf_ti_put(w, hex[*p & 0xf]);
		} else {
			ebpf_ti_put(w, (char)*p);
		}
	}
}

/* Every label of a series as "name=value" pairs joined by ",". */
static void ebpf_ti_put_labels(struct ebpf_ti_writer *w, char *const *names,
			       const char *const *values, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			ebpf_ti_put(w, ',');
		ebpf_ti_put_escaped(w, names[i]);
		ebpf_ti_put(w, '=');
		ebpf_ti_put_escaped(w, values[i] ? values[i] : "");
	}
}

/*
 * End W's text: NUL-terminate it, or, when it is longer than SIZE - 1 bytes,
 * cut it to SIZE - 1 - 17 bytes (never inside a %XX or a UTF-8 sequence) and
 * append "~" + 16 lowercase hex digits of the FNV-1a 64 hash of the whole
 * text. Returns true when the text was truncated.
 */
static bool ebpf_ti_finish(struct ebpf_ti_writer *w)
{
	char *out = w->out;
	size_t size = w->size, keep;

	if (w->len < size) {
		out[w->len] = '\0';
		return false;
	}
	keep = size - 1 - EBPF_HASH_SUFFIX_LEN;
	/* UTF-8 first: a stray continuation byte after "%06" would otherwise move the
	 * cut back into the escape (found by tests/fuzz/fuzz_writer) */
	while (keep > 0 && ((unsigned char)out[keep] & 0xc0) == 0x80)
		keep--;
	if (keep >= 1 && out[keep - 1] == '%')
		keep -= 1;
	else if (keep >= 2 && out[keep - 2] == '%')
		keep -= 2;
	snprintf(out + keep, size - keep, "~%016" PRIx64, w->hash);
	return true;
}

/*
 * type_instance grammar:
 *   type_instance = "" | pair *("," pair)
 *   pair          = name "=" value   (in the family's label order; then le or
 *                                     percentile, if any)
 * In names and values every byte below 0x20, 0x7f and each of % , = / \ " ~
 * is written as %XX (uppercase hex). Longer than SIZE - 1 bytes: see
 * ebpf_ti_finish(). This is the reference; dispatch builds the same text from
 * a series' cached labels with ebpf_ti_compose(). PAIR_NAME=PAIR_VALUE, when
 * PAIR_NAME is not NULL, is the last pair. Returns true when truncated.
 * (Only the unit test calls it: it checks the cached path against it.)
 */
__attribute__((unused)) static bool
ebpf_format_type_instance(char *out, size_t size, char *const *names, const char *const *values,
			  size_t n, const char *pair_name, const char *pair_value)
{
	struct ebpf_ti_writer w = { out, size, 0, EBPF_FNV_OFFSET };

	ebpf_ti_put_labels(&w, names, values, n);
	if (pair_name != NULL) {
		if (n > 0)
			ebpf_ti_put(&w, ',');
		ebpf_ti_put_escaped(&w, pair_name);
		ebpf_ti_put(&w, '=');
		ebpf_ti_put_escaped(&w, pair_value);
	}
	return ebpf_ti_finish(&w);
}

/* The type_instance of ID's series plus PAIR (an escaped "name=value", or
 * NULL): the same text ebpf_format_type_instance() makes, from cached parts. */
static bool ebpf_ti_compose(char *out, size_t size, const struct ebpf_ident *id,
			    const struct ebpf_pair *pair)
{
	struct ebpf_ti_writer w = { out, size, 0, id->hash };
	size_t total = id->len;

	if (pair != NULL)
		total += (id->len > 0) + pair->len;
	if (total < size) {
		memcpy(out, id->labels, id->len);
		if (pair != NULL) {
			char *p = out + id->len;

			if (id->len > 0)
				*p++ = ',';
			memcpy(p, pair->text, pair->len);
		}
		out[total] = '\0';
		return false;
	}
	/* Too long: the first bytes, and the hash of the whole text. */
	w.len = id->len < size - 1 ? id->len : size - 1;
	memcpy(out, id->labels, w.len);
	w.len = id->len;
	if (pair != NULL) {
		if (id->len > 0)
			ebpf_ti_put(&w, ',');
		for (size_t i = 0; i < pair->len; i++)
			ebpf_ti_put(&w, pair->text[i]);
	}
	return ebpf_ti_finish(&w);
}

/* PAIR := escaped NAME "=" RAW, and RAW kept for meta_data. 0 or -ENOMEM. */
static int ebpf_pair_set(struct ebpf_pair *pair, const char *name, const char *raw)
{
	struct ebpf_ti_writer w = { NULL, 0, 0, EBPF_FNV_OFFSET };

	ebpf_ti_put_escaped(&w, name);
	ebpf_ti_put(&w, '=');
	ebpf_ti_put_escaped(&w, raw);
	pair->text = malloc(w.len + 1);
	if (pair->text == NULL)
		return -ENOMEM;
	pair->len = w.len;
	w = (struct ebpf_ti_writer){ pair->text, pair->len + 1, 0, EBPF_FNV_OFFSET };
	ebpf_ti_put_escaped(&w, name);
	ebpf_ti_put(&w, '=');
	ebpf_ti_put_escaped(&w, raw);
	pair->text[pair->len] = '\0';
	snprintf(pair->raw, sizeof(pair->raw), "%s", raw);
	return 0;
}

static void ebpf_pairs_free(struct ebpf_pair **pairs, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free((*pairs)[i].text);
	free(*pairs);
	*pairs = NULL;
	*n = 0;
}

/* ---- data sets ---- */

/* The one data source of type FAMILY+SUFFIX. A histogram's _sum is a GAUGE
 * (scaled by bucket_multiplier; DERIVE holds integers only) named "scaled":
 * write_prometheus appends a data source name other than "value", so it
 * exports collectd_ebpf_NAME_sum_scaled, which promtool's lint accepts,
 * where a gauge ending in _sum is reserved for histograms. The interval's
 * percentiles, average and observations are GAUGEs. */
static void ebpf_data_source(enum bb_metric_kind kind, const char *suffix, data_source_t *src)
{
	const char *name = "value";

	src->min = NAN;
	src->max = NAN;
	if (kind == BB_METRIC_GAUGE) {
		src->type = DS_TYPE_GAUGE;
	} else if (kind == BB_METRIC_HISTOGRAM && strcmp(suffix, EBPF_SUFFIX_SUM) == 0) {
		src->type = DS_TYPE_GAUGE;
		name = EBPF_SUM_DS_NAME;
	} else if (kind == BB_METRIC_HISTOGRAM && (strcmp(suffix, EBPF_SUFFIX_PERCENTILE) == 0 ||
						   strcmp(suffix, EBPF_SUFFIX_AVERAGE) == 0 ||
						   strcmp(suffix, EBPF_SUFFIX_OBSERVATIONS) == 0)) {
		src->type = DS_TYPE_GAUGE;
		if (strcmp(suffix, EBPF_SUFFIX_OBSERVATIONS) == 0)
			src->min = 0;
	} else {
		src->type = DS_TYPE_DERIVE;
		src->min = 0;
	}
	ebpf_copy_field(src->name, sizeof(src->name), name);
}

static int ebpf_register_type_locked(const char *config, const char *family, data_set_t *ds);

/* Make sure the collectd type FAMILY+SUFFIX exists with its one data source.
 * A type of that name with another shape (types.db's, say) is a conflict:
 * overwriting it would break the plugins that use it. */
static int ebpf_register_type(const char *config, const char *family, enum bb_metric_kind kind,
			      const char *suffix)
{
	data_source_t src;
	data_set_t ds = { .ds_num = 1, .ds = &src };
	int rc;

	ebpf_data_source(kind, suffix, &src);
	if ((size_t)snprintf(ds.type, sizeof(ds.type), "%s%s", family, suffix) >= sizeof(ds.type)) {
		ERROR(EBPF_PLUGIN
		      " plugin: config %s: metric %s: name longer than %zu bytes cannot "
		      "be a collectd type (with its suffix %s)",
		      config, family, sizeof(ds.type) - 1 - strlen(suffix), suffix);
		return -ENAMETOOLONG;
	}

	pthread_mutex_lock(&ebpf_types_lock);
	rc = ebpf_register_type_locked(config, family, &ds);
	pthread_mutex_unlock(&ebpf_types_lock);
	return rc;
}

static int ebpf_register_type_locked(const char *config, const char *family, data_set_t *ds_in)
{
	data_set_t ds = *ds_in;
	data_source_t src = ds_in->ds[0];
	const data_set_t *have;

	have = plugin_get_ds(ds.type);
	if (have != NULL) {
		if (have->ds_num == 1 && have->ds[0].type == src.type &&
		    strcmp(have->ds[0].name, src.name) == 0)
			return 0;
		ERROR(EBPF_PLUGIN " plugin: config %s: metric %s: collectd type \"%s\" already "
				  "exists (types.db?) with %zu data source(s), first %s:%s; need "
				  "one, %s:%s: rename the metric",
		      config, family, ds.type, have->ds_num,
		      have->ds_num > 0 ? have->ds[0].name : "-",
		      have->ds_num > 0 ? DS_TYPE_TO_STRING(have->ds[0].type) : "none", src.name,
		      DS_TYPE_TO_STRING(src.type));
		return -EEXIST;
	}
	if (plugin_register_data_set(&ds) != 0) {
		ERROR(EBPF_PLUGIN " plugin: config %s: registering collectd type \"%s\" failed",
		      config, ds.type);
		return -EINVAL;
	}
	if (ebpf_strv_push(&ebpf_ctx.own_types, &ebpf_ctx.n_own_types, ds.type) < 0) {
		plugin_unregister_data_set(ds.type);
		return -ENOMEM;
	}
	return 0;
}

static int ebpf_family_cmp(const void *a, const void *b)
{
	const struct ebpf_family_ref *fa = a, *fb = b;

	return strcmp(fa->name, fb->name);
}

static struct ebpf_family_ref *ebpf_find_family(const struct ebpf_instance *inst, const char *name)
{
	struct ebpf_family_ref key = { .name = (char *)name };

	if (inst->n_families == 0)
		return NULL;
	return bsearch(&key, inst->families, inst->n_families, sizeof(key), ebpf_family_cmp);
}

/* Register the types of family NAME for INST (once; kept sorted). */
static int ebpf_instance_add_family(struct ebpf_instance *inst, const char *name,
				    enum bb_metric_kind kind)
{
	const struct ebpf_family_ref *known = ebpf_find_family(inst, name);
	struct ebpf_family_ref *nf;
	int rc;

	if (known != NULL) {
		if (known->kind == kind)
			return 0;
		ERROR(EBPF_PLUGIN " plugin: config %s: metric %s appears as both %s and %s",
		      inst->name, name, bb_metric_kind_name(known->kind),
		      bb_metric_kind_name(kind));
		return -EEXIST;
	}
	rc = 0;
	if (kind == BB_METRIC_HISTOGRAM) {
		static const char *const bucket_types[] = { EBPF_SUFFIX_BUCKET, EBPF_SUFFIX_SUM,
							    EBPF_SUFFIX_COUNT };
		static const char *const pct_types[] = { EBPF_SUFFIX_PERCENTILE,
							 EBPF_SUFFIX_AVERAGE,
							 EBPF_SUFFIX_OBSERVATIONS };

		for (size_t i = 0; i < 3 && rc == 0; i++) {
			if (inst->histograms & EBPF_HIST_BUCKETS)
				rc = ebpf_register_type(inst->name, name, kind, bucket_types[i]);
			if (rc == 0 && (inst->histograms & EBPF_HIST_PERCENTILES))
				rc = ebpf_register_type(inst->name, name, kind, pct_types[i]);
		}
	} else {
		rc = ebpf_register_type(inst->name, name, kind, "");
	}
	if (rc < 0)
		return rc;

	nf = realloc(inst->families, (inst->n_families + 1) * sizeof(*nf));
	if (nf == NULL)
		return -ENOMEM;
	inst->families = nf;
	memset(nf + inst->n_families, 0, sizeof(*nf));
	nf[inst->n_families].name = strdup(name);
	if (nf[inst->n_families].name == NULL)
		return -ENOMEM;
	nf[inst->n_families].kind = kind;
	inst->n_families++;
	qsort(inst->families, inst->n_families, sizeof(*nf), ebpf_family_cmp);
	return 0;
}

/* Every family of SNAP gets its types. */
static int ebpf_instance_add_snapshot_families(struct ebpf_instance *inst,
					       const struct bb_snapshot *snap)
{
	for (size_t i = 0; i < snap->n_families; i++) {
		int rc = ebpf_instance_add_family(inst, snap->families[i].name,
						  snap->families[i].kind);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- instances ---- */

static void ebpf_ident_clear(struct ebpf_ident *id)
{
	free(id->labels);
	if (id->meta != NULL)
		meta_data_destroy(id->meta);
	memset(id, 0, sizeof(*id));
}

/* Drop every cached identifier of REF (keeps the table and the pairs). */
static void ebpf_idents_forget(struct ebpf_family_ref *ref)
{
	for (size_t i = 0; i < ref->cap; i++)
		if (ref->idents[i].labels != NULL)
			ebpf_ident_clear(ref->idents + i);
	ref->n = 0;
	ref->n_seen = 0;
	ref->n_ranked = 0;
}

static void ebpf_family_ref_clear(struct ebpf_family_ref *ref)
{
	for (size_t i = 0; i < ref->cap; i++)
		if (ref->idents[i].labels != NULL)
			ebpf_ident_clear(ref->idents + i);
	free(ref->idents);
	ebpf_pairs_free(&ref->le, &ref->n_le);
	free(ref->le_bounds);
	ebpf_pairs_free(&ref->pct, &ref->n_pct);
	free(ref->pct_q);
	free(ref->order);
	free(ref->merge);
	free(ref->name);
	memset(ref, 0, sizeof(*ref));
}

static void ebpf_instance_free(struct ebpf_instance *inst)
{
	if (inst == NULL)
		return;
	bb_confent_unref(inst->ent);
	for (size_t i = 0; i < inst->n_families; i++)
		ebpf_family_ref_clear(inst->families + i);
	free(inst->families);
	ebpf_strv_free(&inst->unknown, &inst->n_unknown);
	free(inst->name);
	free(inst);
}

static void ebpf_instance_unref(void *data)
{
	struct ebpf_instance *inst = data;

	if (inst != NULL && __atomic_sub_fetch(&inst->refs, 1, __ATOMIC_ACQ_REL) == 0)
		ebpf_instance_free(inst);
}

/* A new instance, with the <Plugin ebpf> block's dispatch settings. */
static struct ebpf_instance *ebpf_instance_new(const char *name)
{
	struct ebpf_instance *inst = calloc(1, sizeof(*inst));

	if (inst == NULL)
		return NULL;
	inst->refs = 1;
	inst->name = strdup(name);
	if (inst->name == NULL) {
		free(inst);
		return NULL;
	}
	inst->histograms = ebpf_ctx.histograms ? ebpf_ctx.histograms : EBPF_DEFAULT_HISTOGRAMS;
	inst->labels_meta = ebpf_ctx.labels_meta < 0 ? EBPF_DEFAULT_LABELS_AS_METADATA
						     : ebpf_ctx.labels_meta != 0;
	return inst;
}

/* ---- identifiers, cached per series ---- */

static meta_data_t *ebpf_labels_meta(const struct bb_family *fam, const struct bb_series *s)
{
	meta_data_t *meta = meta_data_create();

	if (meta == NULL)
		return NULL;
	for (size_t i = 0; i < fam->n_labels; i++) {
		if (meta_data_add_string(meta, fam->label_names[i],
					 s->label_values[i] ? s->label_values[i] : "") != 0) {
			meta_data_destroy(meta);
			return NULL;
		}
	}
	return meta;
}

static size_t ebpf_ident_slot(uint64_t id, size_t cap)
{
	uint64_t h = id * UINT64_C(0x9e3779b97f4a7c15);

	return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

/* Move the idents that KEEP accepts into a table of CAP slots (a power of 2
 * above their number); the others are freed. */
static int ebpf_idents_rehash(struct ebpf_family_ref *ref, size_t cap, uint64_t keep_gen,
			      bool keep_all)
{
	struct ebpf_ident *nt = calloc(cap, sizeof(*nt));
	size_t n = 0;

	if (nt == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < ref->cap; i++) {
		struct ebpf_ident *id = ref->idents + i;
		size_t j;

		if (id->labels == NULL)
			continue;
		if (!keep_all && id->seen != keep_gen) {
			ebpf_ident_clear(id);
			continue;
		}
		for (j = ebpf_ident_slot(id->id, cap); nt[j].labels != NULL;
		     j = (j + 1) & (cap - 1))
			;
		nt[j] = *id;
		n++;
	}
	free(ref->idents);
	ref->idents = nt;
	ref->cap = cap;
	ref->n = n;
	return 0;
}

/* Build ID's parts for series S of FAM. */
static int ebpf_ident_init(struct ebpf_ident *id, const struct bb_family *fam,
			   const struct bb_series *s, bool with_meta)
{
	struct ebpf_ti_writer w = { NULL, 0, 0, EBPF_FNV_OFFSET };

	ebpf_ti_put_labels(&w, fam->label_names, s->label_values, fam->n_labels);
	id->labels = malloc(w.len + 1);
	if (id->labels == NULL)
		return -ENOMEM;
	id->len = w.len;
	w = (struct ebpf_ti_writer){ id->labels, id->len + 1, 0, EBPF_FNV_OFFSET };
	ebpf_ti_put_labels(&w, fam->label_names, s->label_values, fam->n_labels);
	id->labels[id->len] = '\0';
	id->hash = w.hash;
	id->id = s->id;
	id->meta = NULL;
	id->rank = EBPF_UNRANKED;
	if (with_meta) {
		id->meta = ebpf_labels_meta(fam, s);
		if (id->meta == NULL) {
			free(id->labels);
			id->labels = NULL;
			return -ENOMEM;
		}
	}
	return 0;
}

/* The cached identifier of series S (built on its first dispatch), marked as
 * seen in read GEN. NULL on ENOMEM. */
static struct ebpf_ident *ebpf_ident_get(struct ebpf_family_ref *ref, const struct bb_family *fam,
					 const struct bb_series *s, bool with_meta, uint64_t gen)
{
	struct ebpf_ident *id;
	size_t i;

	if ((ref->n + 1) * 4 > ref->cap * 3 &&
	    ebpf_idents_rehash(ref, ref->cap ? 2 * ref->cap : 16, 0, true) < 0)
		return NULL;
	for (i = ebpf_ident_slot(s->id, ref->cap); ref->idents[i].labels != NULL;
	     i = (i + 1) & (ref->cap - 1)) {
		if (ref->idents[i].id == s->id)
			break;
	}
	id = ref->idents + i;
	if (id->labels == NULL) {
		if (ebpf_ident_init(id, fam, s, with_meta) < 0)
			return NULL;
		ref->n++;
	}
	if (id->seen != gen) {
		id->seen = gen;
		ref->n_seen++;
	}
	return id;
}

/* Room for N identifiers in REF's table at once, so that a read showing many
 * new series allocates the table once instead of doubling it through every
 * power of two (each old table a hole left in the reading thread's arena). */
static void ebpf_idents_reserve(struct ebpf_family_ref *ref, size_t n)
{
	size_t cap = 16;

	while ((n + 1) * 4 > cap * 3)
		cap *= 2;
	/* on ENOMEM ebpf_ident_get() grows the table itself */
	if (cap > ref->cap)
		(void)ebpf_idents_rehash(ref, cap, 0, true);
}

/* After read GEN: forget the series it did not show (retired, or gone from
 * the map; one that comes back is built again). */
static void ebpf_idents_sweep(struct ebpf_family_ref *ref, uint64_t gen)
{
	size_t cap = 16;

	if (ref->n == ref->n_seen)
		return;
	while ((ref->n_seen + 1) * 4 > cap * 3)
		cap *= 2;
	if (ebpf_idents_rehash(ref, cap, gen, false) < 0) {
		/* Out of memory: free the unseen ones in place, then rebuild the
		 * probe chains by reinserting at the same size. */
		for (size_t i = 0; i < ref->cap; i++)
			if (ref->idents[i].labels != NULL && ref->idents[i].seen != gen)
				ebpf_ident_clear(ref->idents + i);
		ref->n = ref->n_seen;
		if (ebpf_idents_rehash(ref, ref->cap, 0, true) < 0) {
			/* A hole may now cut a probe chain: drop everything. */
			for (size_t i = 0; i < ref->cap; i++)
				if (ref->idents[i].labels != NULL)
					ebpf_ident_clear(ref->idents + i);
			ref->n = 0;
		}
	}
}

/* The "le=BOUND" and "percentile=P" pairs of histogram FAM, made once (and
 * again if its bounds or quantiles change). */
static int ebpf_family_pairs(struct ebpf_family_ref *ref, const struct bb_family *fam,
			     unsigned histograms)
{
	char buf[64];

	if ((histograms & EBPF_HIST_BUCKETS) &&
	    (ref->n_le != fam->n_buckets + 1 ||
	     (fam->n_buckets > 0 &&
	      memcmp(ref->le_bounds, fam->le, fam->n_buckets * sizeof(double)) != 0))) {
		ebpf_pairs_free(&ref->le, &ref->n_le);
		free(ref->le_bounds);
		ref->le_bounds = calloc(fam->n_buckets + 1, sizeof(double));
		ref->le = calloc(fam->n_buckets + 1, sizeof(*ref->le));
		if (ref->le_bounds == NULL || ref->le == NULL)
			goto nomem;
		for (size_t b = 0; b <= fam->n_buckets; b++) {
			const char *raw = "+Inf";

			if (b < fam->n_buckets) {
				ref->le_bounds[b] = fam->le[b];
				if (fam->le_text != NULL) {
					raw = fam->le_text[b];
				} else {
					bb_format_double(fam->le[b], buf, sizeof(buf));
					raw = buf;
				}
			}
			if (ebpf_pair_set(ref->le + b, "le", raw) < 0)
				goto nomem;
			ref->n_le = b + 1;
		}
	}
	if ((histograms & EBPF_HIST_PERCENTILES) &&
	    (ref->n_pct != fam->n_quantiles ||
	     (fam->n_quantiles > 0 &&
	      memcmp(ref->pct_q, fam->quantiles, fam->n_quantiles * sizeof(double)) != 0))) {
		ebpf_pairs_free(&ref->pct, &ref->n_pct);
		free(ref->pct_q);
		ref->pct_q = calloc(fam->n_quantiles + 1, sizeof(double));
		ref->pct = calloc(fam->n_quantiles + 1, sizeof(*ref->pct));
		if (ref->pct_q == NULL || ref->pct == NULL)
			goto nomem;
		for (size_t q = 0; q < fam->n_quantiles; q++) {
			ref->pct_q[q] = fam->quantiles[q];
			/* 10 digits: 0.99 * 100 is 99.00000000000001 */
			snprintf(buf, sizeof(buf), "%.10g", fam->quantiles[q] * 100);
			if (ebpf_pair_set(ref->pct + q, "percentile", buf) < 0)
				goto nomem;
			ref->n_pct = q + 1;
		}
	}
	return 0;
nomem:
	ebpf_pairs_free(&ref->le, &ref->n_le);
	free(ref->le_bounds);
	ref->le_bounds = NULL;
	ebpf_pairs_free(&ref->pct, &ref->n_pct);
	free(ref->pct_q);
	ref->pct_q = NULL;
	return -ENOMEM;
}

/* ---- dispatch ---- */

static bool ebpf_is_unknown(const struct ebpf_instance *inst, const char *name)
{
	for (size_t i = 0; i < inst->n_unknown; i++)
		if (strcmp(inst->unknown[i], name) == 0)
			return true;
	return false;
}

static void ebpf_warn_unknown_family(struct ebpf_instance *inst, const struct bb_family *fam)
{
	if (ebpf_is_unknown(inst, fam->name))
		return;
	WARNING(EBPF_PLUGIN " plugin: config %s: metric %s (%s) has no collectd type (see the "
			    "error above); its values are not dispatched",
		inst->name, fam->name, bb_metric_kind_name(fam->kind));
	/* Out of memory here only means the warning may repeat. */
	ebpf_strv_push(&inst->unknown, &inst->n_unknown, fam->name);
}

/* Set vl->type to NAME + SUFFIX (both checked to fit when the type was registered). */
static void ebpf_set_type(value_list_t *vl, const char *name, const char *suffix)
{
	size_t n = strlen(name), m = strlen(suffix);

	if (n + m >= sizeof(vl->type)) {
		vl->type[0] = '\0';
		return;
	}
	memcpy(vl->type, name, n);
	memcpy(vl->type + n, suffix, m + 1);
}

/* Dispatch VALUE for ID's series (+ PAIR, whose raw value also goes into the
 * meta data as META_KEY). Returns 0 or -1. */
static int ebpf_submit(value_list_t *vl, const struct ebpf_ident *id, const struct ebpf_pair *pair,
		       const char *meta_key, value_t value)
{
	int status;

	ebpf_ti_compose(vl->type_instance, sizeof(vl->type_instance), id, pair);
	if (id->meta != NULL && pair != NULL && meta_key != NULL &&
	    meta_data_add_string(id->meta, meta_key, pair->raw) != 0) {
		ERROR(EBPF_PLUGIN " plugin: out of memory building meta data for %s", vl->type);
		return -1;
	}
	vl->values = &value;
	vl->values_len = 1;
	vl->meta = id->meta;
	status = plugin_dispatch_values(vl);
	vl->meta = NULL;
	vl->values = NULL;
	return status == 0 ? 0 : -1;
}

static int ebpf_dispatch_buckets(value_list_t *vl, const struct ebpf_family_ref *ref,
				 const struct bb_family *fam, const struct bb_series *s,
				 const struct ebpf_ident *id)
{
	value_t v;
	int failed = 0;

	ebpf_set_type(vl, fam->name, EBPF_SUFFIX_SUM);
	v.gauge = s->sum;
	failed |= ebpf_submit(vl, id, NULL, NULL, v);
	ebpf_set_type(vl, fam->name, EBPF_SUFFIX_COUNT);
	v.derive = (derive_t)s->count;
	failed |= ebpf_submit(vl, id, NULL, NULL, v);
	ebpf_set_type(vl, fam->name, EBPF_SUFFIX_BUCKET);
	for (size_t b = 0; b < ref->n_le; b++) {
		v.derive = (derive_t)(b < fam->n_buckets ? s->buckets[b] : s->count);
		failed |= ebpf_submit(vl, id, ref->le + b, "le", v);
	}
	if (id->meta != NULL)
		meta_data_delete(id->meta, "le");
	return failed;
}

/* The interval's percentiles, average and observation count as gauges: NaN
 * for what an interval does not have (the series' first read has no interval;
 * an interval without observations has no percentiles and no average). */
static int ebpf_dispatch_percentiles(value_list_t *vl, const struct ebpf_family_ref *ref,
				     const struct bb_family *fam, const struct bb_series *s,
				     const struct ebpf_ident *id)
{
	const struct bb_interval *iv = &s->iv;
	bool observed = iv->valid && iv->count > 0;
	value_t v;
	int failed = 0;

	ebpf_set_type(vl, fam->name, EBPF_SUFFIX_AVERAGE);
	v.gauge = observed ? iv->mean : NAN;
	failed |= ebpf_submit(vl, id, NULL, NULL, v);
	ebpf_set_type(vl, fam->name, EBPF_SUFFIX_OBSERVATIONS);
	v.gauge = iv->valid ? (gauge_t)iv->count : NAN;
	failed |= ebpf_submit(vl, id, NULL, NULL, v);
	ebpf_set_type(vl, fam->name, EBPF_SUFFIX_PERCENTILE);
	for (size_t q = 0; q < ref->n_pct; q++) {
		v.gauge = observed && iv->quantiles != NULL ? iv->quantiles[q] : NAN;
		failed |= ebpf_submit(vl, id, ref->pct + q, "percentile", v);
	}
	if (id->meta != NULL)
		meta_data_delete(id->meta, "percentile");
	return failed;
}

/* The values of series S with identifier ID. Counters and gauges: vl->type
 * is already the family's name. */
static int ebpf_dispatch_values(const struct ebpf_instance *inst, const struct ebpf_family_ref *ref,
				value_list_t *vl, const struct bb_family *fam,
				const struct bb_series *s, const struct ebpf_ident *id)
{
	value_t v;
	int failed = -1;

	switch (fam->kind) {
	case BB_METRIC_COUNTER:
		v.derive = (derive_t)s->value;
		failed = ebpf_submit(vl, id, NULL, NULL, v);
		break;
	case BB_METRIC_GAUGE:
		v.gauge = (gauge_t)bb_gauge_value(fam, s);
		failed = ebpf_submit(vl, id, NULL, NULL, v);
		break;
	case BB_METRIC_HISTOGRAM:
		failed = 0;
		if (inst->histograms & EBPF_HIST_BUCKETS)
			failed |= ebpf_dispatch_buckets(vl, ref, fam, s, id);
		if (inst->histograms & EBPF_HIST_PERCENTILES)
			failed |= ebpf_dispatch_percentiles(vl, ref, fam, s, id);
		break;
	}
	return failed ? -1 : 0;
}

/* Series S: its identifier (cached by store id), then its values. */
static int ebpf_dispatch_series(struct ebpf_instance *inst, struct ebpf_family_ref *ref,
				value_list_t *vl, const struct bb_family *fam,
				const struct bb_series *s)
{
	struct ebpf_ident scratch = { 0 }, *id = NULL;
	int failed;

	/* Id 0: not from a series store (the engine's self-metrics), so no key
	 * to cache by: built for this read only. */
	if (s->id == 0) {
		if (ebpf_ident_init(&scratch, fam, s, inst->labels_meta) == 0)
			id = &scratch;
	} else {
		id = ebpf_ident_get(ref, fam, s, inst->labels_meta, inst->generation);
	}
	if (id == NULL) {
		ERROR(EBPF_PLUGIN " plugin: config %s: out of memory building the identifier of a "
				  "%s series",
		      inst->name, fam->name);
		return -1;
	}
	failed = ebpf_dispatch_values(inst, ref, vl, fam, s, id);
	if (id == &scratch)
		ebpf_ident_clear(&scratch);
	return failed;
}

static int ebpf_slot_cmp(const void *a, const void *b)
{
	const struct ebpf_slot *sa = a, *sb = b;
	int c = strcmp(sa->id->labels, sb->id->labels);

	/* distinct label sets escape to distinct texts; the id only makes
	 * the order total */
	return c != 0 ? c : (sa->id->id > sb->id->id) - (sa->id->id < sb->id->id);
}

/* The cached identifier of store id ID, or NULL. */
static struct ebpf_ident *ebpf_ident_find(const struct ebpf_family_ref *ref, uint64_t id)
{
	if (ref->cap == 0)
		return NULL;
	for (size_t i = ebpf_ident_slot(id, ref->cap); ref->idents[i].labels != NULL;
	     i = (i + 1) & (ref->cap - 1))
		if (ref->idents[i].id == id)
			return ref->idents + i;
	return NULL;
}

/*
 * Put FAM's series (all from a series store: ids != 0) with their
 * identifiers into REF->order, sorted by label text: the order of
 * collectd's value cache keys within a type. The series ranked by the
 * previous read keep their order (placed by rank, O(n)); only new ones are
 * sorted and merged in. Returns 0, or -1 (out of memory: the caller
 * dispatches in snapshot order instead).
 */
static int ebpf_family_order(struct ebpf_instance *inst, struct ebpf_family_ref *ref,
			     const struct bb_family *fam)
{
	size_t n = fam->n_series, old = ref->n_ranked, need = n + old, w = 0, m = 0;
	const struct ebpf_ident *table;

	if (need > ref->cap_order) {
		size_t cap = need + need / 4;
		struct ebpf_slot *o = malloc(cap * sizeof(*o)), *g = malloc(cap * sizeof(*g));

		if (o == NULL || g == NULL) {
			free(o);
			free(g);
			return -1;
		}
		free(ref->order);
		free(ref->merge);
		ref->order = o;
		ref->merge = g;
		ref->cap_order = cap;
	}
	/* order[0, old): last read's series by rank (holes for the departed);
	 * order[old, old + m): new ones */
	memset(ref->order, 0, old * sizeof(*ref->order));
	table = ref->idents;
	for (size_t i = 0; i < n; i++) {
		const struct bb_series *s = fam->series + i;
		struct ebpf_ident *id =
			ebpf_ident_get(ref, fam, s, inst->labels_meta, inst->generation);

		if (id == NULL)
			return -1;
		if (id->rank < old)
			ref->order[id->rank] = (struct ebpf_slot){ id, s };
		else
			ref->order[old + m++] = (struct ebpf_slot){ id, s };
	}
	if (ref->idents != table) {
		/* the table grew: the identifiers moved */
		for (size_t i = 0; i < old + m; i++)
			if (ref->order[i].s != NULL)
				ref->order[i].id = ebpf_ident_find(ref, ref->order[i].s->id);
	}
	for (size_t r = 0; r < old; r++)
		if (ref->order[r].s != NULL)
			ref->order[w++] = ref->order[r];
	if (m > 0) {
		struct ebpf_slot *a = ref->order, *b = ref->order + old, *out = ref->merge;
		size_t i = 0, j = 0, k = 0;

		qsort(b, m, sizeof(*b), ebpf_slot_cmp);
		while (i < w && j < m)
			out[k++] = ebpf_slot_cmp(a + i, b + j) <= 0 ? a[i++] : b[j++];
		while (i < w)
			out[k++] = a[i++];
		while (j < m)
			out[k++] = b[j++];
		ref->merge = ref->order;
		ref->order = out;
	}
	if (m > 0 || w != old)
		for (size_t k = 0; k < n; k++)
			ref->order[k].id->rank = (uint32_t)k;
	ref->n_ranked = n;
	return 0;
}

/*
 * Dispatch every family of SNAP as values of plugin "ebpf", instance
 * INST->name. Families without registered types are skipped with a warning
 * (once per family). Returns the number of series not (fully) dispatched.
 */
static size_t ebpf_dispatch_snapshot(struct ebpf_instance *inst, const struct bb_snapshot *snap)
{
	value_list_t vl = VALUE_LIST_INIT;
	size_t failed = 0;

	ebpf_copy_field(vl.plugin, sizeof(vl.plugin), EBPF_PLUGIN);
	ebpf_copy_field(vl.plugin_instance, sizeof(vl.plugin_instance), inst->name);
	if (snap->taken_ns != 0)
		vl.time = NS_TO_CDTIME_T(snap->taken_ns);

	inst->generation++;
	for (size_t i = 0; i < inst->n_families; i++)
		inst->families[i].n_seen = 0;
	for (size_t f = 0; f < snap->n_families; f++) {
		const struct bb_family *fam = snap->families + f;
		struct ebpf_family_ref *ref = ebpf_find_family(inst, fam->name);

		if (ref == NULL && !ebpf_is_unknown(inst, fam->name)) {
			/* A metric name new since the instance started (the config was
			 * reloaded with it): its data sets are registered now. */
			if (ebpf_instance_add_family(inst, fam->name, fam->kind) == 0)
				ref = ebpf_find_family(inst, fam->name);
		}
		if (ref == NULL || ref->kind != fam->kind) {
			ebpf_warn_unknown_family(inst, fam);
			continue;
		}
		if (fam->kind == BB_METRIC_HISTOGRAM) {
			if (ebpf_family_pairs(ref, fam, inst->histograms) < 0) {
				ERROR(EBPF_PLUGIN " plugin: config %s: out of memory for %s",
				      inst->name, fam->name);
				failed += fam->n_series;
				continue;
			}
		} else {
			ebpf_set_type(&vl, fam->name, "");
		}
		if (fam->n_series > 0 && fam->series[0].id != 0) {
			ebpf_idents_reserve(ref, fam->n_series > ref->n ? fam->n_series : ref->n);
			if (fam->n_series <= UINT32_MAX && ebpf_family_order(inst, ref, fam) == 0) {
				for (size_t k = 0; k < fam->n_series; k++)
					if (ebpf_dispatch_values(inst, ref, &vl, fam,
								 ref->order[k].s,
								 ref->order[k].id) != 0)
						failed++;
				continue;
			}
			/* out of memory for the order: snapshot order, the ranks start over */
			ref->n_ranked = 0;
		}
		for (size_t i = 0; i < fam->n_series; i++)
			if (ebpf_dispatch_series(inst, ref, &vl, fam, fam->series + i) != 0)
				failed++;
	}
	for (size_t i = 0; i < inst->n_families; i++)
		ebpf_idents_sweep(inst->families + i, inst->generation);
	return failed;
}

static void ebpf_log_programs(struct ebpf_instance *inst);

static int ebpf_read(user_data_t *ud)
{
	struct ebpf_instance *inst = ud->data;
	uint64_t generation = 0;
	struct bb_snapshot *snap = bb_snapshot_new();
	char ebuf[128];
	size_t failed;
	int rc;

	if (snap == NULL) {
		ERROR(EBPF_PLUGIN " plugin: config %s: out of memory", inst->name);
		return -1;
	}
	if (bb_confent_generation(inst->ent) != inst->ent_generation)
		ebpf_log_programs(inst);
	rc = bb_confent_read(inst->ent, snap, &generation);
	bb_snapshot_finish(snap);
	if (generation != inst->read_generation) {
		/* A reloaded config has a new series store, whose ids start again:
		 * the identifiers cached by id are rebuilt (same labels, same text). */
		for (size_t i = 0; i < inst->n_families; i++)
			ebpf_idents_forget(inst->families + i);
		inst->read_generation = generation;
	}
	if (rc != inst->last_read_error) {
		if (rc < 0)
			ERROR(EBPF_PLUGIN
			      " plugin: config %s: reading maps failed: %s (counted in "
			      "bpfbridge_read_errors_total; logged again when it changes)",
			      inst->name, ebpf_strerror(rc, ebuf, sizeof(ebuf)));
		else
			INFO(EBPF_PLUGIN " plugin: config %s: reading maps works again",
			     inst->name);
		inst->last_read_error = rc;
	}
	failed = ebpf_dispatch_snapshot(inst, snap);
	bb_snapshot_unref(snap);
	if (failed > 0)
		WARNING(EBPF_PLUGIN " plugin: config %s: %zu series could not be dispatched",
			inst->name, failed);
	return 0;
}

/* ---- init and shutdown ---- */

/* The programs of the instance's current engine (at start and after each reload). */
static void ebpf_log_programs(struct ebpf_instance *inst)
{
	struct bb_engine *eng;
	size_t n, attached = 0, failed = 0;
	char ebuf[128];

	inst->ent_generation = bb_confent_generation(inst->ent);
	eng = bb_confent_lock(inst->ent, NULL);
	n = bb_engine_n_programs(eng);
	for (size_t i = 0; i < n; i++) {
		const struct bb_program_status *p = bb_engine_program(eng, i);

		if (p->state == BB_PROG_ATTACHED) {
			attached++;
		} else if (p->state == BB_PROG_FAILED) {
			failed++;
			WARNING(EBPF_PLUGIN
				" plugin: config %s: program %s (hook %s) not attached: %s",
				inst->name, p->name, p->hook ? p->hook : "-",
				p->reason ? p->reason
					  : ebpf_strerror(p->error, ebuf, sizeof(ebuf)));
		}
	}
	bb_confent_unlock(inst->ent);
	if (eng == NULL)
		return;
	INFO(EBPF_PLUGIN
	     " plugin: config %s: %zu program(s) attached, %zu failed, %zu alternative(s) "
	     "not used",
	     inst->name, attached, failed, n - attached - failed);
	if (attached == 0 && n > 0)
		WARNING(EBPF_PLUGIN
			" plugin: config %s: no program attached; its metrics stay empty "
			"(the reasons are logged above)",
			inst->name);
}

/* An instance for ENT, its types registered: those of the config's metrics and
 * of every family a first read shows (the self-metrics). NULL on failure. */
static struct ebpf_instance *ebpf_instance_for(struct bb_confent *ent)
{
	const char *name = bb_confent_name(ent);
	struct ebpf_instance *inst;
	struct bb_snapshot *snap;
	struct bb_engine *eng;
	char ebuf[128];
	int rc = 0;

	if (strlen(name) >= DATA_MAX_NAME_LEN) {
		ERROR(EBPF_PLUGIN " plugin: config %s: name longer than %d bytes cannot be a "
				  "plugin instance",
		      name, DATA_MAX_NAME_LEN - 1);
		return NULL;
	}
	inst = ebpf_instance_new(name);
	if (inst == NULL) {
		ERROR(EBPF_PLUGIN " plugin: config %s: out of memory", name);
		return NULL;
	}
	bb_confent_ref(ent);
	inst->ent = ent;

	eng = bb_confent_lock(ent, NULL);
	for (size_t i = 0; eng != NULL && i < bb_engine_config(eng)->n_metrics && rc == 0; i++)
		rc = ebpf_instance_add_family(inst, bb_engine_config(eng)->metrics[i].name,
					      bb_engine_config(eng)->metrics[i].kind);
	bb_confent_unlock(ent);
	if (rc == 0) {
		snap = bb_snapshot_new();
		if (snap == NULL) {
			rc = -ENOMEM;
		} else {
			bb_confent_read(ent, snap, &inst->read_generation);
			bb_snapshot_finish(snap);
			rc = ebpf_instance_add_snapshot_families(inst, snap);
			bb_snapshot_unref(snap);
		}
	}
	if (rc < 0) {
		ERROR(EBPF_PLUGIN " plugin: config %s: not loaded: %s", name,
		      ebpf_strerror(rc, ebuf, sizeof(ebuf)));
		ebpf_instance_free(inst);
		return NULL;
	}
	ebpf_log_programs(inst);
	return inst;
}

static void ebpf_read_name(const struct ebpf_instance *inst, char *name, size_t len)
{
	snprintf(name, len, EBPF_PLUGIN "/%s", inst->name);
}

/*
 * Bring the instances in line with the config directory: an instance and a
 * read callback for each config tried (loaded, or failed with its reload
 * self-metrics to show), none for a removed one. The instance list is ours
 * (under ebpf_ctx.lock); collectd frees an unregistered callback's instance
 * when no read thread uses it any more.
 */
static size_t ebpf_sync_instances(void)
{
	size_t kept = 0;

	for (size_t i = 0; i < ebpf_ctx.n_instances; i++) {
		struct ebpf_instance *inst = ebpf_ctx.instances[i];
		char name[DATA_MAX_NAME_LEN + sizeof(EBPF_PLUGIN)];

		if (!bb_confent_removed(inst->ent)) {
			ebpf_ctx.instances[kept++] = inst;
			continue;
		}
		ebpf_read_name(inst, name, sizeof(name));
		plugin_unregister_read(name);
		INFO(EBPF_PLUGIN " plugin: config %s: removed; its values stop", inst->name);
		ebpf_instance_unref(inst);
	}
	ebpf_ctx.n_instances = kept;

	for (size_t e = 0; e < bb_confdir_n_entries(ebpf_ctx.confdir); e++) {
		struct bb_confent *ent = bb_confdir_entry(ebpf_ctx.confdir, e);
		struct ebpf_instance *inst, **grown;
		char name[DATA_MAX_NAME_LEN + sizeof(EBPF_PLUGIN)];
		user_data_t ud = { .free_func = ebpf_instance_unref };
		bool known = false;

		for (size_t i = 0; i < ebpf_ctx.n_instances && !known; i++)
			known = ebpf_ctx.instances[i]->ent == ent;
		if (known || !bb_confent_tried(ent))
			continue;
		grown = realloc(ebpf_ctx.instances, (ebpf_ctx.n_instances + 1) * sizeof(*grown));
		if (grown == NULL) {
			ERROR(EBPF_PLUGIN " plugin: config %s: out of memory",
			      bb_confent_name(ent));
			continue;
		}
		ebpf_ctx.instances = grown;
		inst = ebpf_instance_for(ent);
		if (inst == NULL)
			continue;
		ebpf_read_name(inst, name, sizeof(name));
		inst->refs = 2; /* the list's and the read callback's */
		ud.data = inst;
		if (plugin_register_complex_read(EBPF_PLUGIN, name, ebpf_read, ebpf_ctx.interval,
						 &ud) != 0) {
			ERROR(EBPF_PLUGIN
			      " plugin: config %s: registering the read callback failed",
			      inst->name);
			ebpf_instance_free(inst);
			continue;
		}
		ebpf_ctx.instances[ebpf_ctx.n_instances++] = inst;
	}
	return ebpf_ctx.n_instances;
}

/* The watch callback: apply what changed in ConfigDir since the last interval. */
static int ebpf_watch(user_data_t *ud)
{
	(void)ud;
	pthread_mutex_lock(&ebpf_ctx.lock);
	if (ebpf_ctx.confdir != NULL && bb_confdir_poll(ebpf_ctx.confdir) > 0)
		ebpf_sync_instances();
	pthread_mutex_unlock(&ebpf_ctx.lock);
	return 0;
}

static void ebpf_free_all(void)
{
	for (size_t i = 0; i < ebpf_ctx.n_instances; i++)
		ebpf_instance_unref(ebpf_ctx.instances[i]);
	free(ebpf_ctx.instances);
	ebpf_ctx.instances = NULL;
	ebpf_ctx.n_instances = 0;
	for (size_t i = 0; i < ebpf_ctx.n_own_types; i++)
		plugin_unregister_data_set(ebpf_ctx.own_types[i]);
	ebpf_strv_free(&ebpf_ctx.own_types, &ebpf_ctx.n_own_types);
	/* closes every engine: their programs detach */
	bb_confdir_free(ebpf_ctx.confdir);
	ebpf_ctx.confdir = NULL;
	ebpf_strv_free(&ebpf_ctx.configs, &ebpf_ctx.n_configs);
	ebpf_ctx.autoload = false;
	free(ebpf_ctx.config_dir);
	ebpf_ctx.config_dir = NULL;
	free(ebpf_ctx.btf_path);
	ebpf_ctx.btf_path = NULL;
	ebpf_ctx.strict = false;
	ebpf_ctx.max_series = 0;
	ebpf_ctx.interval = 0;
	ebpf_ctx.histograms = 0;
	ebpf_ctx.n_percentiles = 0;
	ebpf_ctx.labels_meta = -1;
	ebpf_ctx.initialized = false;
}

/* The core computes the interval quantiles the Percentiles option asks for. */
static void ebpf_options_quantiles(struct bb_options *opts)
{
	const double *p = ebpf_ctx.percentiles;
	size_t n = ebpf_ctx.n_percentiles;

	if (n == 0) {
		p = ebpf_default_percentiles;
		n = sizeof(ebpf_default_percentiles) / sizeof(ebpf_default_percentiles[0]);
	}
	for (size_t i = 0; i < n; i++)
		opts->quantiles[i] = p[i] / 100;
	opts->n_quantiles = n;
}

static int ebpf_init(void)
{
	struct bb_confdir_conf conf = { 0 };
	char err[BB_ERRMSG_MAX];
	user_data_t ud = { 0 };
	size_t loaded;

	pthread_mutex_lock(&ebpf_ctx.lock);
	if (ebpf_ctx.initialized) {
		pthread_mutex_unlock(&ebpf_ctx.lock);
		return 0;
	}
	bb_log_set_sink(ebpf_log_sink, NULL);
	if (ebpf_ctx.n_configs == 0 && !ebpf_ctx.autoload) {
		ERROR(EBPF_PLUGIN " plugin: no Config given in <Plugin " EBPF_PLUGIN "> and "
				  "AutoLoad is off; nothing to load");
		goto fail;
	}

	bb_options_init(&ebpf_ctx.opts);
	ebpf_ctx.opts.strict = ebpf_ctx.strict;
	ebpf_ctx.opts.max_series_per_metric = (uint32_t)ebpf_ctx.max_series;
	ebpf_ctx.opts.btf_path = ebpf_ctx.btf_path;
	ebpf_options_quantiles(&ebpf_ctx.opts);

	conf.dir = ebpf_ctx.config_dir ? ebpf_ctx.config_dir : EBPF_DEFAULT_CONFIG_DIR;
	conf.autoload = ebpf_ctx.autoload;
	conf.names = (const char *const *)ebpf_ctx.configs;
	conf.n_names = ebpf_ctx.n_configs;
	if (bb_confdir_new(&conf, &ebpf_ctx.opts, &ebpf_ctx.confdir, err, sizeof(err)) < 0) {
		ERROR(EBPF_PLUGIN " plugin: %s: %s", conf.dir, err);
		goto fail;
	}
	bb_confdir_poll(ebpf_ctx.confdir);
	ebpf_sync_instances();
	loaded = 0;
	for (size_t e = 0; e < bb_confdir_n_entries(ebpf_ctx.confdir); e++) {
		struct bb_engine *eng =
			bb_confent_lock(bb_confdir_entry(ebpf_ctx.confdir, e), NULL);

		loaded += eng != NULL;
		bb_confent_unlock(bb_confdir_entry(ebpf_ctx.confdir, e));
	}
	/* Without AutoLoad, a plugin that loads nothing is a configuration error. */
	if (loaded == 0 && !ebpf_ctx.autoload) {
		ERROR(EBPF_PLUGIN " plugin: none of the %zu configs could be loaded",
		      ebpf_ctx.n_configs);
		goto fail;
	}
	if (plugin_register_complex_read(EBPF_PLUGIN, EBPF_PLUGIN "/watch", ebpf_watch,
					 ebpf_ctx.interval, &ud) != 0) {
		ERROR(EBPF_PLUGIN " plugin: registering the config directory watch failed");
		goto fail;
	}
	if (ebpf_ctx.autoload)
		INFO(EBPF_PLUGIN " plugin: %zu config(s) loaded; watching %s (AutoLoad)", loaded,
		     conf.dir);
	else
		INFO(EBPF_PLUGIN " plugin: %zu of %zu configs loaded; watching their files", loaded,
		     ebpf_ctx.n_configs);
	ebpf_ctx.initialized = true;
	pthread_mutex_unlock(&ebpf_ctx.lock);
	return 0;

fail:
	for (size_t i = 0; i < ebpf_ctx.n_instances; i++) {
		char name[DATA_MAX_NAME_LEN + sizeof(EBPF_PLUGIN)];

		ebpf_read_name(ebpf_ctx.instances[i], name, sizeof(name));
		plugin_unregister_read(name);
	}
	ebpf_free_all();
	bb_log_set_sink(NULL, NULL);
	pthread_mutex_unlock(&ebpf_ctx.lock);
	return -1;
}

/* collectd stops the read threads before it calls shutdown callbacks, so no
 * read callback can be using an engine here. */
static int ebpf_shutdown(void)
{
	pthread_mutex_lock(&ebpf_ctx.lock);
	ebpf_free_all();
	bb_log_set_sink(NULL, NULL);
	pthread_mutex_unlock(&ebpf_ctx.lock);
	return 0;
}

void module_register(void)
{
	plugin_register_complex_config(EBPF_PLUGIN, ebpf_config);
	plugin_register_init(EBPF_PLUGIN, ebpf_init);
	plugin_register_shutdown(EBPF_PLUGIN, ebpf_shutdown);
}
