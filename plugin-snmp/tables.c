/* SPDX-License-Identifier: MIT */
/*
 * BPFBRIDGE-MIB's tables. Each cache load turns one snapshot into rows of
 * four netsnmp containers; the table_container helper finds the row (and the
 * next row for GETNEXT), and the handlers below only format columns. Rows
 * point into the snapshot, which the tables hold until the rows are cleared.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bbsnmp.h"

struct program_row {
	netsnmp_index idx;
	oid idx_oid[1];
	char *config, *name, *section, *hook, *reason;
	int alternative;
	int error;
	enum bbsnmp_program_status status;
};

struct metric_row {
	netsnmp_index idx;
	oid idx_oid[1];
	const struct bb_family *fam;
	char *label_names;
	const char *unit;
	uint32_t n_series; /* rows, after merging duplicate label sets */
};

struct bucket_row;

struct series_row {
	netsnmp_index idx;
	oid idx_oid[2];
	const struct bb_family *fam;
	const char *labels; /* the index map's key: lives as long as the tables */
	uint64_t value, count, sum_raw;
	double sum;
	struct bucket_row *buckets; /* histograms: fam->n_buckets + 1 rows */
};

struct bucket_row {
	netsnmp_index idx;
	oid idx_oid[3];
	const struct bb_family *fam;
	uint32_t bucket; /* 0-based; fam->n_buckets is the +Inf bucket */
	uint64_t count;
};

#define N_TABLES 4

struct bbsnmp_tables {
	netsnmp_container *containers[N_TABLES]; /* by enum bbsnmp_table - 1 */
	struct program_row *programs;
	size_t n_programs;
	struct metric_row *metrics;
	size_t n_metrics;
	struct series_row *series;
	size_t n_series;
	struct bucket_row *buckets;
	size_t n_buckets;
	struct bb_snapshot *snap;
	uint64_t generation;
	struct bbsnmp_index_map metric_ids;  /* name -> index; child: series label map */
	struct bbsnmp_index_map program_ids; /* "config\0program" -> index */

	netsnmp_handler_registration *regs[N_TABLES];
	netsnmp_table_registration_info *reg_infos[N_TABLES];
	netsnmp_cache *cache;
	bbsnmp_load_fn load;
	void *load_ctx;
};

/* ---- building rows -------------------------------------------------------------- */

static void series_map_free(void *child)
{
	bbsnmp_index_map_destroy(child);
	free(child);
}

struct bbsnmp_tables *bbsnmp_tables_new(void)
{
	struct bbsnmp_tables *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	for (int i = 0; i < N_TABLES; i++) {
		t->containers[i] = netsnmp_container_find("table_container");
		if (!t->containers[i]) {
			bbsnmp_tables_free(t);
			return NULL;
		}
		t->containers[i]->compare = netsnmp_compare_netsnmp_index;
		t->containers[i]->ncompare = netsnmp_ncompare_netsnmp_index;
		/* Rows are unique by construction (duplicate label sets are merged
		 * below). Allowing duplicates spares the binary array a sort per
		 * insert: it sorts once, on the first lookup. */
		t->containers[i]->flags |= CONTAINER_KEY_ALLOW_DUPLICATES;
	}
	bbsnmp_index_map_init(&t->metric_ids, series_map_free);
	bbsnmp_index_map_init(&t->program_ids, NULL);
	return t;
}

void bbsnmp_tables_clear(struct bbsnmp_tables *t)
{
	for (int i = 0; i < N_TABLES; i++)
		if (t->containers[i])
			CONTAINER_CLEAR(t->containers[i], NULL, NULL);
	for (size_t i = 0; i < t->n_programs; i++) {
		struct program_row *p = &t->programs[i];

		free(p->config);
		free(p->name);
		free(p->section);
		free(p->hook);
		free(p->reason);
	}
	for (size_t i = 0; i < t->n_metrics; i++)
		free(t->metrics[i].label_names);
	free(t->programs);
	free(t->metrics);
	free(t->series);
	free(t->buckets);
	t->programs = NULL;
	t->metrics = NULL;
	t->series = NULL;
	t->buckets = NULL;
	t->n_programs = t->n_metrics = t->n_series = t->n_buckets = 0;
	if (t->snap) {
		bb_snapshot_unref(t->snap);
		t->snap = NULL;
	}
}

void bbsnmp_tables_free(struct bbsnmp_tables *t)
{
	if (!t)
		return;
	bbsnmp_tables_unregister(t);
	bbsnmp_tables_clear(t);
	for (int i = 0; i < N_TABLES; i++)
		if (t->containers[i])
			CONTAINER_FREE(t->containers[i]);
	bbsnmp_index_map_destroy(&t->metric_ids);
	bbsnmp_index_map_destroy(&t->program_ids);
	free(t);
}

size_t bbsnmp_tables_rows(const struct bbsnmp_tables *t, enum bbsnmp_table which)
{
	switch (which) {
	case BBSNMP_TABLE_PROGRAMS:
		return t->n_programs;
	case BBSNMP_TABLE_METRICS:
		return t->n_metrics;
	case BBSNMP_TABLE_SERIES:
		return t->n_series;
	case BBSNMP_TABLE_BUCKETS:
		return t->n_buckets;
	}
	return 0;
}

uint64_t bbsnmp_tables_generation(const struct bbsnmp_tables *t)
{
	return t->generation;
}

/* A growable string for label texts. */
struct text {
	char *buf;
	size_t len, cap;
};

static int text_put(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 256;
		char *buf;

		while (t->len + n + 1 > cap)
			cap *= 2;
		buf = realloc(t->buf, cap);
		if (!buf)
			return -ENOMEM;
		t->buf = buf;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
	return 0;
}

static int text_puts(struct text *t, const char *s)
{
	return text_put(t, s, strlen(s));
}

/* name="value",... with Prometheus' escapes, so the text reads like a selector. */
static int format_labels(struct text *out, const struct bb_family *fam,
			 const struct bb_series *series)
{
	int err = 0;

	out->len = 0;
	err |= text_put(out, "", 0);
	for (size_t i = 0; i < fam->n_labels && !err; i++) {
		const char *v = series->label_values[i] ? series->label_values[i] : "";

		if (i)
			err |= text_put(out, ",", 1);
		err |= text_puts(out, fam->label_names[i]);
		err |= text_put(out, "=\"", 2);
		for (; *v && !err; v++) {
			if (*v == '\\')
				err |= text_put(out, "\\\\", 2);
			else if (*v == '"')
				err |= text_put(out, "\\\"", 2);
			else if (*v == '\n')
				err |= text_put(out, "\\n", 2);
			else
				err |= text_put(out, v, 1);
		}
		err |= text_put(out, "\"", 1);
	}
	return err ? -ENOMEM : 0;
}

static char *join_label_names(const struct bb_family *fam)
{
	struct text t = { 0 };
	int err = text_put(&t, "", 0);

	for (size_t i = 0; i < fam->n_labels && !err; i++) {
		if (i)
			err |= text_put(&t, ",", 1);
		err |= text_puts(&t, fam->label_names[i]);
	}
	if (err) {
		free(t.buf);
		return NULL;
	}
	return t.buf;
}

/* The unit a Prometheus-style name ends in ("_seconds", "_bytes_total"), or "". */
static const char *unit_of(const char *name)
{
	static const char *const units[] = {
		"seconds", "milliseconds", "microseconds", "nanoseconds", "bytes", "bits",
		"ratio",   "percent",	   "celsius",	   "joules",	  "volts", "amperes",
		"meters",  "grams",	   "hertz",	   "packets",	  "pages",
	};
	size_t len = strlen(name);
	const char *end = name + len;
	const char *start;

	if (len > 6 && strcmp(end - 6, "_total") == 0)
		end -= 6;
	for (start = end; start > name && start[-1] != '_'; start--)
		;
	if (start == name)
		return "";
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i]) == (size_t)(end - start) &&
		    strncmp(start, units[i], end - start) == 0)
			return units[i];
	return "";
}

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

static int add_programs(struct bbsnmp_tables *t, const struct bbsnmp_program *programs, size_t n)
{
	if (!n)
		return 0;
	t->programs = calloc(n, sizeof(*t->programs));
	if (!t->programs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct bbsnmp_program *in = &programs[i];
		struct program_row *row = &t->programs[t->n_programs];
		char key[2 * BBSNMP_TEXT_MAX];
		int keylen = snprintf(key, sizeof(key), "%s%c%s", in->config ? in->config : "", 0,
				      in->name ? in->name : "");
		struct bbsnmp_index_entry *e;

		if (keylen < 0 || (size_t)keylen >= sizeof(key))
			keylen = sizeof(key) - 1;
		e = bbsnmp_index_get(&t->program_ids, key, keylen);
		if (!e)
			return -errno;
		if (e->generation == t->generation) {
			bb_warn("snmp: program %s of config %s is listed twice; showing the first",
				in->name ? in->name : "", in->config ? in->config : "");
			continue;
		}
		e->generation = t->generation;
		row->config = dup_or_empty(in->config);
		row->name = dup_or_empty(in->name);
		row->section = dup_or_empty(in->section);
		row->hook = dup_or_empty(in->hook);
		row->reason = dup_or_empty(in->reason);
		t->n_programs++; /* counted before a failure so clear() frees it */
		if (!row->config || !row->name || !row->section || !row->hook || !row->reason)
			return -ENOMEM;
		row->alternative = in->alternative;
		row->status = in->status;
		row->error = in->error < 0 ? -in->error : in->error;
		row->idx_oid[0] = e->index;
		row->idx.oids = row->idx_oid;
		row->idx.len = 1;
		if (CONTAINER_INSERT(t->containers[BBSNMP_TABLE_PROGRAMS - 1], row) != 0)
			return -ENOMEM;
	}
	return 0;
}

static void merge_series(struct series_row *into, const struct bb_series *s)
{
	into->value += s->value;
	into->count += s->count;
	into->sum_raw += s->sum_raw;
	into->sum += s->sum;
	if (into->buckets) {
		for (size_t b = 0; b < into->fam->n_buckets; b++)
			into->buckets[b].count += s->buckets ? s->buckets[b] : 0;
		into->buckets[into->fam->n_buckets].count += s->count;
	}
}

static int add_family(struct bbsnmp_tables *t, const struct bb_family *fam, struct text *labels)
{
	struct bbsnmp_index_entry *me =
		bbsnmp_index_get(&t->metric_ids, fam->name, strlen(fam->name));
	struct bbsnmp_index_map *series_ids;
	struct metric_row *mrow;
	bool histogram = fam->kind == BB_METRIC_HISTOGRAM;

	if (!me)
		return -errno;
	if (!me->child) {
		me->child = calloc(1, sizeof(struct bbsnmp_index_map));
		if (!me->child)
			return -ENOMEM;
		bbsnmp_index_map_init(me->child, NULL);
	}
	series_ids = me->child;
	if (me->generation == t->generation) {
		/* bb_snapshot_family() keeps names unique; guard anyway. */
		bb_warn("snmp: metric %s appears twice in one snapshot; showing the first",
			fam->name);
		return 0;
	}
	me->generation = t->generation;

	mrow = &t->metrics[t->n_metrics];
	mrow->label_names = join_label_names(fam);
	if (!mrow->label_names)
		return -ENOMEM;
	t->n_metrics++;
	mrow->fam = fam;
	mrow->unit = unit_of(fam->name);
	mrow->idx_oid[0] = me->index;
	mrow->idx.oids = mrow->idx_oid;
	mrow->idx.len = 1;
	if (CONTAINER_INSERT(t->containers[BBSNMP_TABLE_METRICS - 1], mrow) != 0)
		return -ENOMEM;

	for (size_t i = 0; i < fam->n_series; i++) {
		const struct bb_series *s = &fam->series[i];
		struct bbsnmp_index_entry *se;
		struct series_row *srow;

		if (format_labels(labels, fam, s) < 0)
			return -ENOMEM;
		se = bbsnmp_index_get(series_ids, labels->buf, labels->len);
		if (!se)
			return -errno;
		if (se->generation == t->generation) {
			/* Two raw keys decoded to the same labels (e.g. a static_map
			 * folding values): one series, values added. */
			merge_series(se->row, s);
			continue;
		}
		se->generation = t->generation;
		srow = &t->series[t->n_series++];
		se->row = srow;
		mrow->n_series++;
		srow->fam = fam;
		srow->labels = se->key;
		srow->value = s->value;
		srow->count = s->count;
		srow->sum_raw = s->sum_raw;
		srow->sum = s->sum;
		srow->idx_oid[0] = me->index;
		srow->idx_oid[1] = se->index;
		srow->idx.oids = srow->idx_oid;
		srow->idx.len = 2;
		if (CONTAINER_INSERT(t->containers[BBSNMP_TABLE_SERIES - 1], srow) != 0)
			return -ENOMEM;
		if (!histogram)
			continue;
		srow->buckets = &t->buckets[t->n_buckets];
		for (size_t b = 0; b <= fam->n_buckets; b++) {
			struct bucket_row *brow = &t->buckets[t->n_buckets++];

			brow->fam = fam;
			brow->bucket = b;
			brow->count = b < fam->n_buckets ? (s->buckets ? s->buckets[b] : 0)
							 : s->count;
			brow->idx_oid[0] = me->index;
			brow->idx_oid[1] = se->index;
			brow->idx_oid[2] = b + 1;
			brow->idx.oids = brow->idx_oid;
			brow->idx.len = 3;
			if (CONTAINER_INSERT(t->containers[BBSNMP_TABLE_BUCKETS - 1], brow) != 0)
				return -ENOMEM;
		}
	}
	return 0;
}

int bbsnmp_tables_update(struct bbsnmp_tables *t, struct bb_snapshot *snap,
			 const struct bbsnmp_program *programs, size_t n_programs)
{
	size_t n_series = 0, n_buckets = 0;
	struct text labels = { 0 };
	int err = 0;

	bbsnmp_tables_clear(t);
	t->generation++;
	err = add_programs(t, programs, n_programs);
	if (err || !snap)
		goto out;
	t->snap = bb_snapshot_ref(snap);
	for (size_t f = 0; f < snap->n_families; f++) {
		const struct bb_family *fam = &snap->families[f];

		n_series += fam->n_series;
		if (fam->kind == BB_METRIC_HISTOGRAM)
			n_buckets += fam->n_series * (fam->n_buckets + 1);
	}
	t->metrics = calloc(snap->n_families ? snap->n_families : 1, sizeof(*t->metrics));
	t->series = calloc(n_series ? n_series : 1, sizeof(*t->series));
	t->buckets = calloc(n_buckets ? n_buckets : 1, sizeof(*t->buckets));
	if (!t->metrics || !t->series || !t->buckets) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t f = 0; f < snap->n_families && !err; f++)
		err = add_family(t, &snap->families[f], &labels);
out:
	free(labels.buf);
	if (err) {
		bb_err("snmp: cannot build the tables: %s", strerror(-err));
		bbsnmp_tables_clear(t);
	}
	return err;
}

/* ---- serving columns ------------------------------------------------------------- */

static void set_text(netsnmp_request_info *request, const char *s)
{
	size_t len = s ? strlen(s) : 0;
	char cut[BBSNMP_TEXT_MAX];

	if (len > BBSNMP_TEXT_MAX) {
		/* Cut at a UTF-8 character boundary and say so. */
		size_t keep = BBSNMP_TEXT_MAX - 3;

		while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
			keep--;
		memcpy(cut, s, keep);
		memcpy(cut + keep, "...", 3);
		s = cut;
		len = keep + 3;
	}
	snmp_set_var_typed_value(request->requestvb, ASN_OCTET_STR, s ? s : "", len);
}

static void set_integer(netsnmp_request_info *request, long v)
{
	snmp_set_var_typed_value(request->requestvb, ASN_INTEGER, &v, sizeof(v));
}

static void set_gauge(netsnmp_request_info *request, uint64_t v)
{
	u_long g = v > UINT32_MAX ? UINT32_MAX : (u_long)v;

	snmp_set_var_typed_value(request->requestvb, ASN_GAUGE, &g, sizeof(g));
}

static void set_counter64(netsnmp_request_info *request, uint64_t v)
{
	struct counter64 c = { .high = v >> 32, .low = v & 0xffffffffu };

	snmp_set_var_typed_value(request->requestvb, ASN_COUNTER64, &c, sizeof(c));
}

static void set_double(netsnmp_request_info *request, double v)
{
	char buf[64];

	bb_format_double(v, buf, sizeof(buf));
	set_text(request, buf);
}

/* Let the table helper skip to the next row for GETNEXT; a GET gets noSuchInstance. */
static void no_instance(netsnmp_agent_request_info *reqinfo, netsnmp_request_info *request)
{
	netsnmp_set_request_error(reqinfo, request, SNMP_NOSUCHINSTANCE);
}

typedef void (*column_fn)(const void *row, unsigned col, netsnmp_agent_request_info *reqinfo,
			  netsnmp_request_info *request);

static void program_column(const void *r, unsigned col, netsnmp_agent_request_info *reqinfo,
			   netsnmp_request_info *request)
{
	const struct program_row *row = r;

	switch (col) {
	case BBSNMP_COL_PROGRAM_CONFIG:
		return set_text(request, row->config);
	case BBSNMP_COL_PROGRAM_NAME:
		return set_text(request, row->name);
	case BBSNMP_COL_PROGRAM_SECTION:
		return set_text(request, row->section);
	case BBSNMP_COL_PROGRAM_HOOK:
		return set_text(request, row->hook);
	case BBSNMP_COL_PROGRAM_ALTERNATIVE:
		return set_integer(request, row->alternative < -1 ? -1 : row->alternative);
	case BBSNMP_COL_PROGRAM_STATUS:
		return set_integer(request, row->status);
	case BBSNMP_COL_PROGRAM_ERRNO:
		return set_integer(request, row->error);
	case BBSNMP_COL_PROGRAM_ERROR:
		return set_text(request, row->reason);
	}
	no_instance(reqinfo, request);
}

static void metric_column(const void *r, unsigned col, netsnmp_agent_request_info *reqinfo,
			  netsnmp_request_info *request)
{
	const struct metric_row *row = r;
	const struct bb_family *fam = row->fam;
	bool histogram = fam->kind == BB_METRIC_HISTOGRAM;

	switch (col) {
	case BBSNMP_COL_METRIC_NAME:
		return set_text(request, fam->name);
	case BBSNMP_COL_METRIC_HELP:
		return set_text(request, fam->help);
	case BBSNMP_COL_METRIC_KIND:
		return set_integer(request, fam->kind == BB_METRIC_COUNTER     ? 1
					    : fam->kind == BB_METRIC_HISTOGRAM ? 2
									       : 3);
	case BBSNMP_COL_METRIC_LABEL_NAMES:
		return set_text(request, row->label_names);
	case BBSNMP_COL_METRIC_UNIT:
		return set_text(request, row->unit);
	case BBSNMP_COL_METRIC_MULTIPLIER:
		/* Histogram bounds and sums, and gauges, are served in raw units. */
		return set_double(request, fam->kind != BB_METRIC_COUNTER && fam->multiplier != 0
						   ? fam->multiplier
						   : 1);
	case BBSNMP_COL_METRIC_SERIES:
		return set_gauge(request, row->n_series);
	case BBSNMP_COL_METRIC_BUCKETS:
		return set_gauge(request, histogram ? fam->n_buckets + 1 : 0);
	}
	no_instance(reqinfo, request);
}

static void series_column(const void *r, unsigned col, netsnmp_agent_request_info *reqinfo,
			  netsnmp_request_info *request)
{
	const struct series_row *row = r;
	enum bb_metric_kind kind = row->fam->kind;

	if (col == BBSNMP_COL_SERIES_LABELS)
		return set_text(request, row->labels);
	if (kind == BB_METRIC_COUNTER && col == BBSNMP_COL_SERIES_VALUE)
		return set_counter64(request, row->value);
	if (kind == BB_METRIC_GAUGE && col == BBSNMP_COL_SERIES_GAUGE)
		return set_gauge(request, row->value);
	if (kind == BB_METRIC_HISTOGRAM) {
		switch (col) {
		case BBSNMP_COL_SERIES_COUNT:
			return set_counter64(request, row->count);
		case BBSNMP_COL_SERIES_SUM:
			return set_counter64(request, row->sum_raw);
		case BBSNMP_COL_SERIES_SUM_SCALED:
			return set_double(request, row->sum);
		}
	}
	no_instance(reqinfo, request); /* the column is not this kind's */
}

static void bucket_column(const void *r, unsigned col, netsnmp_agent_request_info *reqinfo,
			  netsnmp_request_info *request)
{
	const struct bucket_row *row = r;
	const struct bb_family *fam = row->fam;
	bool inf = row->bucket >= fam->n_buckets;

	switch (col) {
	case BBSNMP_COL_BUCKET_UPPER_BOUND:
		if (inf)
			return set_text(request, "+Inf");
		return set_double(request, fam->le[row->bucket]);
	case BBSNMP_COL_BUCKET_UPPER_BOUND_RAW:
		if (inf || !fam->le_raw || fam->le_raw[row->bucket] < INT32_MIN ||
		    fam->le_raw[row->bucket] > INT32_MAX)
			break; /* documented: absent when it does not fit */
		return set_integer(request, (long)fam->le_raw[row->bucket]);
	case BBSNMP_COL_BUCKET_COUNT:
		return set_counter64(request, row->count);
	}
	no_instance(reqinfo, request);
}

/*
 * table_container has already found the row (for GETNEXT: the next row, with
 * the request's OID rewritten) and calls us in GET mode.
 */
static int serve(netsnmp_agent_request_info *reqinfo, netsnmp_request_info *requests,
		 column_fn column)
{
	if (!MODE_IS_GET(reqinfo->mode))
		return SNMP_ERR_NOERROR; /* registered read-only: the agent refuses SETs */
	for (netsnmp_request_info *r = requests; r; r = r->next) {
		netsnmp_table_request_info *info;
		void *row;

		if (r->processed)
			continue;
		row = netsnmp_container_table_row_extract(r);
		info = netsnmp_extract_table_info(r);
		if (!row || !info) {
			no_instance(reqinfo, r);
			continue;
		}
		column(row, info->colnum, reqinfo, r);
	}
	return SNMP_ERR_NOERROR;
}

static int program_handler(netsnmp_mib_handler *handler, netsnmp_handler_registration *reginfo,
			   netsnmp_agent_request_info *reqinfo, netsnmp_request_info *requests)
{
	return serve(reqinfo, requests, program_column);
}

static int metric_handler(netsnmp_mib_handler *handler, netsnmp_handler_registration *reginfo,
			  netsnmp_agent_request_info *reqinfo, netsnmp_request_info *requests)
{
	return serve(reqinfo, requests, metric_column);
}

static int series_handler(netsnmp_mib_handler *handler, netsnmp_handler_registration *reginfo,
			  netsnmp_agent_request_info *reqinfo, netsnmp_request_info *requests)
{
	return serve(reqinfo, requests, series_column);
}

static int bucket_handler(netsnmp_mib_handler *handler, netsnmp_handler_registration *reginfo,
			  netsnmp_agent_request_info *reqinfo, netsnmp_request_info *requests)
{
	return serve(reqinfo, requests, bucket_column);
}

/* ---- registration ---------------------------------------------------------------- */

static const struct table_def {
	const char *name;
	Netsnmp_Node_Handler *handler;
	int n_indexes;
	unsigned max_column;
} table_defs[N_TABLES] = {
	{ "bpfbridgeProgramTable", program_handler, 1, BBSNMP_COL_PROGRAM_ERROR },
	{ "bpfbridgeMetricTable", metric_handler, 1, BBSNMP_COL_METRIC_BUCKETS },
	{ "bpfbridgeSeriesTable", series_handler, 2, BBSNMP_COL_SERIES_SUM_SCALED },
	{ "bpfbridgeBucketTable", bucket_handler, 3, BBSNMP_COL_BUCKET_COUNT },
};

static int cache_load(netsnmp_cache *cache, void *magic)
{
	struct bbsnmp_tables *t = magic;
	int err = t->load(t, t->load_ctx);

	DEBUGMSGTL(("bpfbridge", "cache load %llu: %d (%zu series, %zu buckets)\n",
		    (unsigned long long)t->generation, err, t->n_series, t->n_buckets));
	return err < 0 ? -1 : 0;
}

static void cache_free(netsnmp_cache *cache, void *magic)
{
	bbsnmp_tables_clear(magic);
}

int bbsnmp_tables_register(struct bbsnmp_tables *t, const oid *root, size_t root_len,
			   int cache_timeout, bbsnmp_load_fn load, void *ctx)
{
	oid table_oid[MAX_OID_LEN];

	if (t->cache) {
		snmp_log(LOG_ERR, "bpfbridge: tables are already registered\n");
		return -EALREADY;
	}
	if (root_len == 0 || root_len + 2 > MAX_OID_LEN) {
		snmp_log(LOG_ERR, "bpfbridge: root OID of %zu sub-identifiers is not usable\n",
			 root_len);
		return -EINVAL;
	}
	t->load = load;
	t->load_ctx = ctx;
	t->cache = netsnmp_cache_create(cache_timeout, cache_load, cache_free, root, root_len);
	if (!t->cache) {
		snmp_log(LOG_ERR, "bpfbridge: cannot create the cache\n");
		return -ENOMEM;
	}
	t->cache->magic = t;
	t->cache->flags = NETSNMP_CACHE_DONT_INVALIDATE_ON_SET;

	memcpy(table_oid, root, root_len * sizeof(oid));
	table_oid[root_len] = 1; /* bpfbridgeObjects */
	for (int i = 0; i < N_TABLES; i++) {
		const struct table_def *def = &table_defs[i];
		netsnmp_handler_registration *reg;
		netsnmp_table_registration_info *info;
		netsnmp_mib_handler *cache_handler;
		int rc;

		table_oid[root_len + 1] = i + 1;
		/* One handler name for all four: the cache handler marks a request
		 * as served per name, so a PDU that spans tables loads at most one
		 * snapshot and sees one consistent set of values. */
		reg = netsnmp_create_handler_registration("bpfbridge", def->handler, table_oid,
							  root_len + 2, HANDLER_CAN_RONLY);
		info = SNMP_MALLOC_TYPEDEF(netsnmp_table_registration_info);
		if (!reg || !info) {
			if (reg)
				netsnmp_handler_registration_free(reg);
			free(info);
			goto fail;
		}
		for (int k = 0; k < def->n_indexes; k++)
			netsnmp_table_helper_add_index(info, ASN_UNSIGNED);
		info->min_column = 2;
		info->max_column = def->max_column;
		/* On failure net-snmp frees REG (and the handlers in it), not INFO. */
		rc = netsnmp_container_table_register(reg, info, t->containers[i],
						      TABLE_CONTAINER_KEY_NETSNMP_INDEX);
		if (rc != SNMPERR_SUCCESS) {
			snmp_log(LOG_ERR, "bpfbridge: cannot register %s (error %d%s)\n", def->name,
				 rc,
				 rc == MIB_DUPLICATE_REGISTRATION ? ": already registered" : "");
			netsnmp_table_registration_info_free(info);
			goto fail;
		}
		t->regs[i] = reg;
		t->reg_infos[i] = info;
		/* The cache goes right above the container lookup, as mib2c does it;
		 * all four tables share it, so one load serves a whole walk. */
		cache_handler = netsnmp_cache_handler_get(t->cache);
		if (!cache_handler ||
		    netsnmp_inject_handler_before(reg, cache_handler, "table_container") !=
			    SNMPERR_SUCCESS) {
			if (cache_handler)
				netsnmp_handler_free(cache_handler);
			snmp_log(LOG_ERR, "bpfbridge: cannot add the cache to %s\n", def->name);
			goto fail;
		}
	}
	return 0;
fail:
	bbsnmp_tables_unregister(t);
	return -ENOMEM;
}

void bbsnmp_tables_unregister(struct bbsnmp_tables *t)
{
	if (!t)
		return;
	for (int i = 0; i < N_TABLES; i++) {
		if (t->regs[i]) {
			/* Frees the registration and its handlers, not the container. */
			netsnmp_unregister_handler(t->regs[i]);
			t->regs[i] = NULL;
		}
		if (t->reg_infos[i]) {
			netsnmp_table_registration_info_free(t->reg_infos[i]);
			t->reg_infos[i] = NULL;
		}
	}
	if (t->cache) {
		netsnmp_cache_remove(t->cache);
		/* Calls cache_free() if it holds rows. */
		netsnmp_cache_free(t->cache);
		t->cache = NULL;
	}
	bbsnmp_tables_clear(t);
}
