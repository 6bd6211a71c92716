/* SPDX-License-Identifier: MIT */
/*
 * collectd read plugin "ebpf": each configured NAME.yaml + NAME.bpf.o is one
 * bb_engine with its own complex read callback ("ebpf/NAME", group "ebpf").
 *
 * Identifiers (docs/collectd.md is the reference):
 *   plugin "ebpf", plugin_instance = config name,
 *   type = metric name (counter: DERIVE, self-metric gauge: GAUGE);
 *   histograms: NAME_bucket (DERIVE, one value per cumulative bucket, +Inf
 *   included), NAME_sum (one GAUGE data source "scaled": the sum already
 *   multiplied by bucket_multiplier, as DERIVE holds integers only) and
 *   NAME_count (DERIVE).
 *   type_instance = the labels as "key=value,key=value" (buckets end with
 *   ",le=BOUND"), see ebpf_format_type_instance(). Labels also go into
 *   meta_data, one string entry per label.
 * Data sets are registered at init, so types.db needs no change.
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

#ifndef EBPF_DEFAULT_CONFIG_DIR
#define EBPF_DEFAULT_CONFIG_DIR "/usr/share/bpfbridge/configs"
#endif

#define EBPF_PLUGIN "ebpf"
#define EBPF_ALLOWED_KEYS "ConfigDir, Config, Strict, MaxSeriesPerMetric, BTFPath, Interval"

/* Appended to a family name for the three types of a histogram; the longest
 * decides how long a metric name may be. */
#define EBPF_SUFFIX_BUCKET "_bucket"
#define EBPF_SUFFIX_SUM "_sum"
#define EBPF_SUFFIX_COUNT "_count"
#define EBPF_SUM_DS_NAME "scaled"
#define EBPF_MAX_FAMILY_NAME (DATA_MAX_NAME_LEN - 1 - (sizeof(EBPF_SUFFIX_BUCKET) - 1))

/* A type_instance longer than DATA_MAX_NAME_LEN - 1 keeps its first bytes and
 * ends in "~" + 16 hex digits of the FNV-1a 64 hash of the whole text. */
#define EBPF_HASH_SUFFIX_LEN 17

/* A family this instance registered types for (sorted by name). */
struct ebpf_family_ref {
	char *name;
	enum bb_metric_kind kind;
};

struct ebpf_instance {
	char *name; /* config name: the plugin_instance */
	struct bb_engine *engine;
	struct ebpf_family_ref *families;
	size_t n_families;
	/* families that appeared in a read without registered types: warned once */
	char **unknown;
	size_t n_unknown;
	int last_read_error; /* log a read failure when it starts and when it ends */
};

static struct {
	pthread_mutex_t lock;
	/* from the <Plugin ebpf> block */
	char *config_dir;
	char **configs;
	size_t n_configs;
	bool strict;
	int max_series;
	char *btf_path;
	cdtime_t interval;
	/* from init */
	bool initialized;
	struct ebpf_instance **instances;
	size_t n_instances;
	char **own_types; /* data sets we registered, unregistered at shutdown */
	size_t n_own_types;
} ebpf_ctx = { .lock = PTHREAD_MUTEX_INITIALIZER };

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

/* strerror() for read threads: strerror() itself is not thread-safe. */
static const char *ebpf_strerror(int err, char *buf, size_t len)
{
	if (err < 0)
		err = -err;
	if (strerror_r(err, buf, len) != 0)
		snprintf(buf, len, "error %d", err);
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

/*
 * type_instance grammar:
 *   type_instance = "" | pair *("," pair)
 *   pair          = name "=" value   (in the family's label order; le last)
 * In names and values every byte below 0x20, 0x7f and each of % , = / \ " ~
 * is written as %XX (uppercase hex). When the text is longer than
 * SIZE - 1 bytes it is cut to SIZE - 1 - 17 bytes (never inside a %XX or a
 * UTF-8 sequence) and "~" + 16 lowercase hex digits of the FNV-1a 64 hash of
 * the whole text are appended, so it stays unique and deterministic.
 * Returns true when the text was truncated.
 */
static bool ebpf_format_type_instance(char *out, size_t size, char *const *names,
				      const char *const *values, size_t n, const char *le)
{
	struct ebpf_ti_writer w = { out, size, 0, UINT64_C(0xcbf29ce484222325) };
	size_t keep;

	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			ebpf_ti_put(&w, ',');
		ebpf_ti_put_escaped(&w, names[i]);
		ebpf_ti_put(&w, '=');
		ebpf_ti_put_escaped(&w, values[i] ? values[i] : "");
	}
	if (le != NULL) {
		if (n > 0)
			ebpf_ti_put(&w, ',');
		ebpf_ti_put_escaped(&w, "le");
		ebpf_ti_put(&w, '=');
		ebpf_ti_put_escaped(&w, le);
	}
	if (w.len < size) {
		out[w.len] = '\0';
		return false;
	}

	keep = size - 1 - EBPF_HASH_SUFFIX_LEN;
	if (keep >= 1 && out[keep - 1] == '%')
		keep -= 1;
	else if (keep >= 2 && out[keep - 2] == '%')
		keep -= 2;
	while (keep > 0 && ((unsigned char)out[keep] & 0xc0) == 0x80)
		keep--;
	snprintf(out + keep, size - keep, "~%016" PRIx64, w.hash);
	return true;
}

/* ---- data sets ---- */

/* The one data source of type FAMILY+SUFFIX. A histogram's _sum is a GAUGE
 * (scaled by bucket_multiplier; DERIVE holds integers only) named "scaled":
 * write_prometheus appends a data source name other than "value", so it
 * exports collectd_ebpf_NAME_sum_scaled, which promtool's lint accepts,
 * where a gauge ending in _sum is reserved for histograms. */
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
	} else {
		src->type = DS_TYPE_DERIVE;
		src->min = 0;
	}
	ebpf_copy_field(src->name, sizeof(src->name), name);
}

/* Make sure the collectd type FAMILY+SUFFIX exists with its one data source.
 * A type of that name with another shape (types.db's, say) is a conflict:
 * overwriting it would break the plugins that use it. */
static int ebpf_register_type(const char *config, const char *family, enum bb_metric_kind kind,
			      const char *suffix)
{
	data_source_t src;
	data_set_t ds = { .ds_num = 1, .ds = &src };
	const data_set_t *have;

	ebpf_data_source(kind, suffix, &src);
	if ((size_t)snprintf(ds.type, sizeof(ds.type), "%s%s", family, suffix) >= sizeof(ds.type)) {
		ERROR(EBPF_PLUGIN
		      " plugin: config %s: metric %s: name longer than %zu bytes cannot "
		      "be a collectd type",
		      config, family, (size_t)EBPF_MAX_FAMILY_NAME);
		return -ENAMETOOLONG;
	}

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

static const struct ebpf_family_ref *ebpf_find_family(const struct ebpf_instance *inst,
						      const char *name)
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
	if (kind == BB_METRIC_HISTOGRAM) {
		rc = ebpf_register_type(inst->name, name, kind, EBPF_SUFFIX_BUCKET);
		if (rc == 0)
			rc = ebpf_register_type(inst->name, name, kind, EBPF_SUFFIX_SUM);
		if (rc == 0)
			rc = ebpf_register_type(inst->name, name, kind, EBPF_SUFFIX_COUNT);
	} else {
		rc = ebpf_register_type(inst->name, name, kind, "");
	}
	if (rc < 0)
		return rc;

	nf = realloc(inst->families, (inst->n_families + 1) * sizeof(*nf));
	if (nf == NULL)
		return -ENOMEM;
	inst->families = nf;
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

static void ebpf_instance_free(struct ebpf_instance *inst)
{
	if (inst == NULL)
		return;
	bb_engine_close(inst->engine);
	for (size_t i = 0; i < inst->n_families; i++)
		free(inst->families[i].name);
	free(inst->families);
	ebpf_strv_free(&inst->unknown, &inst->n_unknown);
	free(inst->name);
	free(inst);
}

static struct ebpf_instance *ebpf_instance_new(const char *name)
{
	struct ebpf_instance *inst = calloc(1, sizeof(*inst));

	if (inst == NULL)
		return NULL;
	inst->name = strdup(name);
	if (inst->name == NULL) {
		free(inst);
		return NULL;
	}
	return inst;
}

/* ---- dispatch ---- */

static void ebpf_warn_unknown_family(struct ebpf_instance *inst, const struct bb_family *fam)
{
	for (size_t i = 0; i < inst->n_unknown; i++)
		if (strcmp(inst->unknown[i], fam->name) == 0)
			return;
	WARNING(EBPF_PLUGIN " plugin: config %s: metric %s (%s) appeared after init and has no "
			    "collectd type; its values are not dispatched",
		inst->name, fam->name, bb_metric_kind_name(fam->kind));
	/* Out of memory here only means the warning may repeat. */
	ebpf_strv_push(&inst->unknown, &inst->n_unknown, fam->name);
}

static meta_data_t *ebpf_labels_meta(const struct bb_family *fam, const struct bb_series *s,
				     const char *le)
{
	meta_data_t *meta = meta_data_create();

	if (meta == NULL)
		return NULL;
	for (size_t i = 0; i < fam->n_labels; i++) {
		if (meta_data_add_string(meta, fam->label_names[i],
					 s->label_values[i] ? s->label_values[i] : "") != 0)
			goto fail;
	}
	if (le != NULL && meta_data_add_string(meta, "le", le) != 0)
		goto fail;
	return meta;
fail:
	meta_data_destroy(meta);
	return NULL;
}

/* Dispatch one value of type FAM->name + SUFFIX. Returns 0 or -1. */
static int ebpf_dispatch_one(value_list_t *vl, const struct bb_family *fam,
			     const struct bb_series *s, const char *suffix, const char *le,
			     value_t value)
{
	int status;

	snprintf(vl->type, sizeof(vl->type), "%s%s", fam->name, suffix);
	ebpf_format_type_instance(vl->type_instance, sizeof(vl->type_instance), fam->label_names,
				  s->label_values, fam->n_labels, le);
	vl->values = &value;
	vl->values_len = 1;
	vl->meta = ebpf_labels_meta(fam, s, le);
	if (vl->meta == NULL) {
		ERROR(EBPF_PLUGIN " plugin: out of memory building meta data for %s", vl->type);
		return -1;
	}
	status = plugin_dispatch_values(vl);
	meta_data_destroy(vl->meta);
	vl->meta = NULL;
	vl->values = NULL;
	return status == 0 ? 0 : -1;
}

static int ebpf_dispatch_series(value_list_t *vl, const struct bb_family *fam,
				const struct bb_series *s)
{
	char le[64];
	value_t v;
	int failed = 0;

	switch (fam->kind) {
	case BB_METRIC_COUNTER:
		v.derive = (derive_t)s->value;
		return ebpf_dispatch_one(vl, fam, s, "", NULL, v);
	case BB_METRIC_GAUGE:
		v.gauge = (gauge_t)bb_gauge_value(fam, s);
		return ebpf_dispatch_one(vl, fam, s, "", NULL, v);
	case BB_METRIC_HISTOGRAM:
		for (size_t b = 0; b <= fam->n_buckets; b++) {
			if (b < fam->n_buckets) {
				bb_format_double(fam->le[b], le, sizeof(le));
				v.derive = (derive_t)s->buckets[b];
			} else {
				snprintf(le, sizeof(le), "+Inf");
				v.derive = (derive_t)s->count;
			}
			failed |= ebpf_dispatch_one(vl, fam, s, EBPF_SUFFIX_BUCKET, le, v);
		}
		v.gauge = s->sum;
		failed |= ebpf_dispatch_one(vl, fam, s, EBPF_SUFFIX_SUM, NULL, v);
		v.derive = (derive_t)s->count;
		failed |= ebpf_dispatch_one(vl, fam, s, EBPF_SUFFIX_COUNT, NULL, v);
		return failed ? -1 : 0;
	}
	return -1;
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

	for (size_t f = 0; f < snap->n_families; f++) {
		const struct bb_family *fam = snap->families + f;
		const struct ebpf_family_ref *ref = ebpf_find_family(inst, fam->name);

		if (ref == NULL || ref->kind != fam->kind) {
			ebpf_warn_unknown_family(inst, fam);
			continue;
		}
		for (size_t i = 0; i < fam->n_series; i++)
			if (ebpf_dispatch_series(&vl, fam, fam->series + i) != 0)
				failed++;
	}
	return failed;
}

static int ebpf_read(user_data_t *ud)
{
	struct ebpf_instance *inst = ud->data;
	struct bb_snapshot *snap = bb_snapshot_new();
	char ebuf[128];
	size_t failed;
	int rc;

	if (snap == NULL) {
		ERROR(EBPF_PLUGIN " plugin: config %s: out of memory", inst->name);
		return -1;
	}
	rc = bb_engine_read(inst->engine, snap);
	bb_snapshot_finish(snap);
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

static void ebpf_log_programs(const struct ebpf_instance *inst)
{
	size_t n = bb_engine_n_programs(inst->engine), attached = 0, failed = 0;
	char ebuf[128];

	for (size_t i = 0; i < n; i++) {
		const struct bb_program_status *p = bb_engine_program(inst->engine, i);

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

static struct ebpf_instance *ebpf_find_instance(const char *name)
{
	for (size_t i = 0; i < ebpf_ctx.n_instances; i++)
		if (strcmp(ebpf_ctx.instances[i]->name, name) == 0)
			return ebpf_ctx.instances[i];
	return NULL;
}

/* Open one config; on failure log why (the engine's message names the file,
 * line and column) and return NULL. */
static struct ebpf_instance *ebpf_open_config(const char *config, const struct bb_options *opts)
{
	char err[BB_ERRMSG_MAX + 256] = "", ebuf[128];
	struct bb_engine *eng = NULL;
	struct ebpf_instance *inst;
	struct bb_snapshot *snap;
	const struct bb_config *cfg;
	char *path;
	int rc;

	path = bb_config_path(ebpf_ctx.config_dir ? ebpf_ctx.config_dir : EBPF_DEFAULT_CONFIG_DIR,
			      config);
	if (path == NULL) {
		ERROR(EBPF_PLUGIN " plugin: config %s: out of memory", config);
		return NULL;
	}
	rc = bb_engine_open(path, opts, &eng, err, sizeof(err));
	free(path);
	if (rc < 0) {
		ERROR(EBPF_PLUGIN " plugin: config %s: %s", config,
		      err[0] ? err : ebpf_strerror(rc, ebuf, sizeof(ebuf)));
		return NULL;
	}

	if (strlen(bb_engine_name(eng)) >= DATA_MAX_NAME_LEN) {
		ERROR(EBPF_PLUGIN " plugin: config %s: name longer than %d bytes cannot be a "
				  "plugin instance",
		      config, DATA_MAX_NAME_LEN - 1);
		bb_engine_close(eng);
		return NULL;
	}
	if (ebpf_find_instance(bb_engine_name(eng)) != NULL) {
		ERROR(EBPF_PLUGIN " plugin: config %s: a config named %s is already loaded", config,
		      bb_engine_name(eng));
		bb_engine_close(eng);
		return NULL;
	}
	inst = ebpf_instance_new(bb_engine_name(eng));
	if (inst == NULL) {
		ERROR(EBPF_PLUGIN " plugin: config %s: out of memory", config);
		bb_engine_close(eng);
		return NULL;
	}
	inst->engine = eng;

	/* Types for the config's metrics, and for every family a first read
	 * shows (the self-metrics): data sets cannot be added once read
	 * threads run, since collectd reads its data set tree unlocked. */
	cfg = bb_engine_config(eng);
	rc = 0;
	for (size_t i = 0; cfg != NULL && i < cfg->n_metrics && rc == 0; i++)
		rc = ebpf_instance_add_family(inst, cfg->metrics[i].name, cfg->metrics[i].kind);
	if (rc == 0) {
		snap = bb_snapshot_new();
		if (snap == NULL) {
			rc = -ENOMEM;
		} else {
			bb_engine_read(eng, snap);
			bb_snapshot_finish(snap);
			rc = ebpf_instance_add_snapshot_families(inst, snap);
			bb_snapshot_unref(snap);
		}
	}
	if (rc < 0) {
		ERROR(EBPF_PLUGIN " plugin: config %s: not loaded: %s", config,
		      ebpf_strerror(rc, ebuf, sizeof(ebuf)));
		ebpf_instance_free(inst);
		return NULL;
	}
	ebpf_log_programs(inst);
	return inst;
}

static void ebpf_free_all(void)
{
	for (size_t i = 0; i < ebpf_ctx.n_instances; i++)
		ebpf_instance_free(ebpf_ctx.instances[i]);
	free(ebpf_ctx.instances);
	ebpf_ctx.instances = NULL;
	ebpf_ctx.n_instances = 0;
	for (size_t i = 0; i < ebpf_ctx.n_own_types; i++)
		plugin_unregister_data_set(ebpf_ctx.own_types[i]);
	ebpf_strv_free(&ebpf_ctx.own_types, &ebpf_ctx.n_own_types);
	ebpf_strv_free(&ebpf_ctx.configs, &ebpf_ctx.n_configs);
	free(ebpf_ctx.config_dir);
	ebpf_ctx.config_dir = NULL;
	free(ebpf_ctx.btf_path);
	ebpf_ctx.btf_path = NULL;
	ebpf_ctx.strict = false;
	ebpf_ctx.max_series = 0;
	ebpf_ctx.interval = 0;
	ebpf_ctx.initialized = false;
}

static int ebpf_init(void)
{
	struct bb_options opts;
	size_t registered = 0;

	pthread_mutex_lock(&ebpf_ctx.lock);
	if (ebpf_ctx.initialized) {
		pthread_mutex_unlock(&ebpf_ctx.lock);
		return 0;
	}
	bb_log_set_sink(ebpf_log_sink, NULL);
	if (ebpf_ctx.n_configs == 0) {
		ERROR(EBPF_PLUGIN " plugin: no Config given in <Plugin " EBPF_PLUGIN ">; nothing "
				  "to load");
		goto fail;
	}

	bb_options_init(&opts);
	opts.strict = ebpf_ctx.strict;
	opts.max_series_per_metric = (uint32_t)ebpf_ctx.max_series;
	opts.btf_path = ebpf_ctx.btf_path;

	for (size_t i = 0; i < ebpf_ctx.n_configs; i++) {
		struct ebpf_instance *inst = ebpf_open_config(ebpf_ctx.configs[i], &opts);
		struct ebpf_instance **ni;

		if (inst == NULL)
			continue;
		ni = realloc(ebpf_ctx.instances, (ebpf_ctx.n_instances + 1) * sizeof(*ni));
		if (ni == NULL) {
			ERROR(EBPF_PLUGIN " plugin: config %s: out of memory", inst->name);
			ebpf_instance_free(inst);
			continue;
		}
		ebpf_ctx.instances = ni;
		ni[ebpf_ctx.n_instances++] = inst;
	}

	for (size_t i = 0; i < ebpf_ctx.n_instances; i++) {
		struct ebpf_instance *inst = ebpf_ctx.instances[i];
		user_data_t ud = { .data = inst, .free_func = NULL };
		char name[DATA_MAX_NAME_LEN + sizeof(EBPF_PLUGIN)];

		snprintf(name, sizeof(name), EBPF_PLUGIN "/%s", inst->name);
		if (plugin_register_complex_read(EBPF_PLUGIN, name, ebpf_read, ebpf_ctx.interval,
						 &ud) != 0) {
			ERROR(EBPF_PLUGIN
			      " plugin: config %s: registering the read callback failed",
			      inst->name);
			ebpf_instance_free(inst);
			continue;
		}
		ebpf_ctx.instances[registered++] = inst;
	}
	ebpf_ctx.n_instances = registered;
	if (registered == 0) {
		ERROR(EBPF_PLUGIN " plugin: none of the %zu configs could be loaded",
		      ebpf_ctx.n_configs);
		goto fail;
	}
	INFO(EBPF_PLUGIN " plugin: %zu of %zu configs loaded", registered, ebpf_ctx.n_configs);
	ebpf_ctx.initialized = true;
	pthread_mutex_unlock(&ebpf_ctx.lock);
	return 0;

fail:
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
