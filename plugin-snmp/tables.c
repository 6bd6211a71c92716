/* SPDX-License-Identifier: MIT */
/*
 * BPFBRIDGE-MIB's tables. Each cache load turns one snapshot into rows: the
 * programs and metrics tables (a few rows) go into netsnmp containers that
 * the table_container helper searches; the series table is one row per series
 * kept in index order, and the bucket table has no rows at all: both are
 * answered by index arithmetic over the series rows (see "virtual tables").
 * A series' index is its store id, so no index map is kept for series. Each
 * load copies what the columns show of each series into one compact array
 * per metric (a counter 24 bytes, a histogram 88 + 8 per finite bucket: the
 * cumulative counts, the sums, the interval count and the three percentiles
 * computed once) and keeps a reference to its label set; the snapshot is not
 * held, so the memory its series arrays use (with the interval's buckets and
 * the quantiles the columns do not show) goes back as soon as the load is
 * built.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bbsnmp.h"
#include "hist.h"

/* A growable string for label texts. */
struct text {
	char *buf;
	size_t len, cap;
};

struct program_row {
	netsnmp_index idx;
	oid idx_oid[1];
	char *config, *name, *section, *hook, *reason;
	int alternative;
	int error;
	enum bbsnmp_program_status status;
};

/* A series row: what the series table shows of a counter or gauge. */
struct vrow {
	uint64_t id;		    /* the series index */
	struct bb_labelset *labels; /* a reference */
	uint64_t value;		    /* counters and gauges; histograms: the count (+Inf) */
};

enum { IV_VALID = 1, IV_QUANTILES = 2 };

/* A histogram series row: the bucket table's counts and the series table's
 * histogram columns, percentiles computed when the row is built. */
struct vhist {
	struct vrow r;
	uint64_t sum_raw;
	double sum;
	uint64_t iv_count;
	uint32_t iv_flags;  /* IV_VALID: the interval is known; IV_QUANTILES: and saw something */
	uint32_t q_raw[3];  /* p50, p90, p99 in raw units as Gauge32 shows them */
	double q[3];	    /* the same scaled; NaN when the interval saw nothing */
	uint64_t buckets[]; /* cumulative, one per finite bound */
};

struct metric_row {
	netsnmp_index idx;
	oid idx_oid[1];
	/* the family's name, help, kind, label names and bounds (copies and a
	 * reference to its bounds: its series are not kept) */
	struct bb_family *fam;
	char *label_names;
	const char *unit;
	uint32_t n_series; /* rows served */
	uint32_t index;
	/* The rows, ascending by id (= series index), STRIDE bytes each. */
	uint8_t *rows;
	size_t stride, rows_bytes; /* rows_bytes: as given to bb_big_alloc() */
	bool raw_any;		   /* some finite bound has a bpfbridgeBucketUpperBoundRaw */
	double *le_raw;		   /* histograms: the raw bounds as doubles, for percentiles */
};

/* Row R of a metric; its series index is its id. */
static inline const struct vrow *row_at(const struct metric_row *mrow, size_t r)
{
	return (const struct vrow *)(mrow->rows + r * mrow->stride);
}

/* The histogram columns of a row of a histogram metric. */
static inline const struct vhist *hist_of(const struct vrow *row)
{
	return (const struct vhist *)row;
}

#define N_TABLES 4

/*
 * The rows of one load. Built by bbsnmp_tables_build() on any thread, served
 * once installed; the containers only point into it.
 */
struct bbsnmp_view {
	struct program_row *programs;
	size_t n_programs;
	struct metric_row *metrics;
	size_t n_metrics;
	size_t n_series;
	size_t n_buckets;    /* virtual rows of the bucket table */
	struct text scratch; /* labels formatted for a GET */
};

struct bbsnmp_tables {
	netsnmp_container *containers[N_TABLES]; /* by enum bbsnmp_table - 1 */
	struct bbsnmp_view *view;		 /* installed; NULL = empty tables */
	bool keep_rows; /* the cache never clears the rows: each load replaces them */
	uint64_t generation;
	struct bbsnmp_index_map metric_ids;  /* name -> index */
	struct bbsnmp_index_map program_ids; /* "config\0program" -> index */

	struct vtable {
		struct bbsnmp_tables *t;
		enum bbsnmp_table which;
	} vtables[N_TABLES];
	netsnmp_handler_registration *regs[N_TABLES];
	netsnmp_table_registration_info *reg_infos[N_TABLES];
	netsnmp_cache *cache;
	bbsnmp_load_fn load;
	void *load_ctx;
};

/* ---- building rows -------------------------------------------------------------- */

/* Tables served by table_container (small, rebuilt per load); the series and
 * bucket tables are served by index arithmetic over `series` instead. */
#define N_CONTAINERS 2

struct bbsnmp_tables *bbsnmp_tables_new(void)
{
	struct bbsnmp_tables *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	for (int i = 0; i < N_CONTAINERS; i++) {
		t->containers[i] = netsnmp_container_find("table_container");
		if (!t->containers[i]) {
			bbsnmp_tables_free(t);
			return NULL;
		}
		t->containers[i]->compare = netsnmp_compare_netsnmp_index;
		t->containers[i]->ncompare = netsnmp_ncompare_netsnmp_index;
		/* Rows are unique by construction. Allowing duplicates spares the
		 * binary array a sort per insert: it sorts once, on the first lookup. */
		t->containers[i]->flags |= CONTAINER_KEY_ALLOW_DUPLICATES;
	}
	bbsnmp_index_map_init(&t->metric_ids, NULL);
	bbsnmp_index_map_init(&t->program_ids, NULL);
	return t;
}

static void meta_free(struct bb_family *meta)
{
	if (!meta)
		return;
	free(meta->name);
	free(meta->help);
	for (size_t i = 0; meta->label_names && i < meta->n_labels; i++)
		free(meta->label_names[i]);
	free(meta->label_names);
	bb_bounds_unref(meta->bounds);
	free(meta);
}

/* What the tables keep of FAM: no series. NULL on ENOMEM. */
static struct bb_family *meta_copy(const struct bb_family *fam)
{
	struct bb_family *meta = calloc(1, sizeof(*meta));

	if (!meta)
		return NULL;
	meta->kind = fam->kind;
	meta->multiplier = fam->multiplier;
	meta->name = strdup(fam->name ? fam->name : "");
	meta->help = strdup(fam->help ? fam->help : "");
	meta->label_names = calloc(fam->n_labels ? fam->n_labels : 1, sizeof(char *));
	if (!meta->name || !meta->help || !meta->label_names)
		goto fail;
	for (; meta->n_labels < fam->n_labels; meta->n_labels++) {
		meta->label_names[meta->n_labels] = strdup(fam->label_names[meta->n_labels]);
		if (!meta->label_names[meta->n_labels])
			goto fail;
	}
	if (fam->kind == BB_METRIC_HISTOGRAM && fam->n_buckets) {
		/* families made by bb_family_set_buckets() or the store share
		 * their bounds; one built by hand may only have the arrays */
		meta->bounds = fam->bounds
				       ? bb_bounds_ref(fam->bounds)
				       : bb_bounds_new(fam->le, fam->le_raw, fam->n_buckets,
						       fam->multiplier != 0 ? fam->multiplier : 1);
		if (!meta->bounds)
			goto fail;
		meta->n_buckets = fam->n_buckets;
		meta->le = meta->bounds->le;
		meta->le_raw = meta->bounds->le_raw;
		meta->le_text = (const char *const *)meta->bounds->le_text;
	}
	return meta;
fail:
	meta_free(meta);
	return NULL;
}

static void rows_free(struct metric_row *mrow)
{
	for (size_t r = 0; r < mrow->n_series; r++)
		bb_labelset_unref(row_at(mrow, r)->labels);
	mrow->n_series = 0;
	bb_big_free(mrow->rows, mrow->rows_bytes);
	mrow->rows = NULL;
}

static int rows_alloc(struct metric_row *mrow, size_t n)
{
	size_t bytes;

	if (n > SIZE_MAX / mrow->stride)
		return -ENOMEM;
	bytes = (n ? n : 1) * mrow->stride;
	/* a big array is faulted in at once: cheaper than page by page as the
	 * copy fills it */
	mrow->rows = bb_big_alloc(bytes, true);
	if (!mrow->rows)
		return -ENOMEM;
	mrow->rows_bytes = bytes;
	return 0;
}

void bbsnmp_view_free(struct bbsnmp_view *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n_programs; i++) {
		struct program_row *p = &v->programs[i];

		free(p->config);
		free(p->name);
		free(p->section);
		free(p->hook);
		free(p->reason);
	}
	for (size_t i = 0; i < v->n_metrics; i++) {
		free(v->metrics[i].label_names);
		free(v->metrics[i].le_raw);
		meta_free(v->metrics[i].fam);
		rows_free(&v->metrics[i]);
	}
	free(v->programs);
	free(v->metrics);
	free(v->scratch.buf);
	free(v);
}

struct bbsnmp_view *bbsnmp_tables_install(struct bbsnmp_tables *t, struct bbsnmp_view *v)
{
	struct bbsnmp_view *old = t->view;

	for (int i = 0; i < N_CONTAINERS; i++)
		if (t->containers[i])
			CONTAINER_CLEAR(t->containers[i], NULL, NULL);
	t->view = v;
	if (!v)
		return old;
	/* A few rows each: the containers' sort on first lookup is cheap. */
	for (size_t i = 0; i < v->n_programs; i++)
		if (CONTAINER_INSERT(t->containers[BBSNMP_TABLE_PROGRAMS - 1], &v->programs[i]) !=
		    0)
			goto oom;
	for (size_t i = 0; i < v->n_metrics; i++)
		if (CONTAINER_INSERT(t->containers[BBSNMP_TABLE_METRICS - 1], &v->metrics[i]) != 0)
			goto oom;
	return old;
oom:
	bb_err("snmp: cannot install the rows: out of memory");
	for (int i = 0; i < N_CONTAINERS; i++)
		CONTAINER_CLEAR(t->containers[i], NULL, NULL);
	t->view = NULL;
	bbsnmp_view_free(v);
	return old;
}

void bbsnmp_tables_clear(struct bbsnmp_tables *t)
{
	bbsnmp_view_free(bbsnmp_tables_install(t, NULL));
}

void bbsnmp_tables_free(struct bbsnmp_tables *t)
{
	if (!t)
		return;
	bbsnmp_tables_unregister(t);
	bbsnmp_tables_clear(t);
	for (int i = 0; i < N_CONTAINERS; i++)
		if (t->containers[i])
			CONTAINER_FREE(t->containers[i]);
	bbsnmp_index_map_destroy(&t->metric_ids);
	bbsnmp_index_map_destroy(&t->program_ids);
	free(t);
}

size_t bbsnmp_tables_rows(const struct bbsnmp_tables *t, enum bbsnmp_table which)
{
	const struct bbsnmp_view *v = t->view;

	if (!v)
		return 0;
	switch (which) {
	case BBSNMP_TABLE_PROGRAMS:
		return v->n_programs;
	case BBSNMP_TABLE_METRICS:
		return v->n_metrics;
	case BBSNMP_TABLE_SERIES:
		return v->n_series;
	case BBSNMP_TABLE_BUCKETS:
		return v->n_buckets;
	}
	return 0;
}

size_t bbsnmp_tables_row_bytes(const struct bbsnmp_tables *t)
{
	size_t n = 0;

	for (size_t m = 0; t->view && m < t->view->n_metrics; m++)
		n += t->view->metrics[m].rows_bytes;
	return n;
}

uint64_t bbsnmp_tables_generation(const struct bbsnmp_tables *t)
{
	return t->generation;
}

size_t bbsnmp_tables_index_entries(const struct bbsnmp_tables *t)
{
	return t->metric_ids.n_entries + t->program_ids.n_entries;
}

static int format_labels(struct text *out, const struct bb_family *fam,
			 const struct bb_labelset *labels);

uint32_t bbsnmp_tables_series_index(const struct bbsnmp_tables *t, const char *metric,
				    const char *labels)
{
	const struct bbsnmp_view *v = t->view;
	struct text text = { 0 };
	uint32_t found = 0;

	for (size_t m = 0; v && m < v->n_metrics && !found; m++) {
		const struct metric_row *mrow = &v->metrics[m];

		if (strcmp(mrow->fam->name, metric) != 0)
			continue;
		for (size_t r = 0; r < mrow->n_series && !found; r++)
			if (format_labels(&text, mrow->fam, row_at(mrow, r)->labels) == 0 &&
			    strcmp(text.buf, labels) == 0)
				found = (uint32_t)row_at(mrow, r)->id;
	}
	free(text.buf);
	return found;
}

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
			 const struct bb_labelset *labels)
{
	int err = 0;

	out->len = 0;
	err |= text_put(out, "", 0);
	for (size_t i = 0; i < fam->n_labels && !err; i++) {
		const char *v = labels && i < labels->n && labels->values[i] ? labels->values[i]
									     : "";

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

static int add_programs(struct bbsnmp_tables *t, struct bbsnmp_view *v,
			const struct bbsnmp_program *programs, size_t n)
{
	if (!n)
		return 0;
	v->programs = calloc(n, sizeof(*v->programs));
	if (!v->programs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct bbsnmp_program *in = &programs[i];
		struct program_row *row = &v->programs[v->n_programs];
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
		v->n_programs++; /* counted before a failure so it is freed */
		if (!row->config || !row->name || !row->section || !row->hook || !row->reason)
			return -ENOMEM;
		row->alternative = in->alternative;
		row->status = in->status;
		row->error = in->error < 0 ? -in->error : in->error;
		row->idx_oid[0] = e->index;
		row->idx.oids = row->idx_oid;
		row->idx.len = 1;
	}
	return 0;
}

static int compare_ids(const void *a, const void *b)
{
	const struct bb_series *x = *(const struct bb_series *const *)a;
	const struct bb_series *y = *(const struct bb_series *const *)b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x < y ? -1 : x > y; /* snapshot order: the first of equal ids stays first */
}

static int compare_metrics(const void *a, const void *b)
{
	const struct metric_row *x = a, *y = b;

	return x->index < y->index ? -1 : x->index > y->index;
}

static bool raw_bound_fits(const struct bb_family *fam, size_t b)
{
	return fam->le_raw && b < fam->n_buckets && fam->le_raw[b] >= INT32_MIN &&
	       fam->le_raw[b] <= INT32_MAX;
}

/* Can S be a row: an id that fits an Unsigned32 index (ids above 2^32-1, after
 * four billion series in one process, are not served and are counted). */
static bool servable(const struct bb_series *s)
{
	return s->id >= 1 && s->id <= UINT32_MAX;
}

/* Gauge32 of a raw percentile, as bpfbridgeSeriesP50 and the others show it. */
static uint32_t gauge_of(double q)
{
	return q <= 0 || isnan(q) ? 0 : q >= 4294967295.0 ? UINT32_MAX : (uint32_t)llround(q);
}

/* Copy series S of histogram family FAM into row H (labels referenced by the caller). */
static void fill_hist(const struct metric_row *mrow, const struct bb_family *fam,
		      const struct bb_series *s, struct vhist *h)
{
	static const double q[3] = { 0.5, 0.9, 0.99 };
	size_t nb = fam->n_buckets;

	h->r.value = s->count;
	h->sum_raw = s->sum_raw;
	h->sum = s->sum;
	bool known = s->iv.valid && s->iv.count && nb && s->iv.buckets;

	h->iv_flags = (s->iv.valid ? IV_VALID : 0) | (known ? IV_QUANTILES : 0);
	h->iv_count = s->iv.valid ? s->iv.count : 0;
	for (size_t b = 0; b < nb; b++)
		h->buckets[b] = s->buckets ? s->buckets[b] : 0;
	for (int i = 0; i < 3; i++) {
		h->q[i] = known ? bb_hist_quantile(q[i], fam->le, s->iv.buckets, nb, s->iv.count)
				: NAN;
		h->q_raw[i] = known ? gauge_of(bb_hist_quantile(q[i], mrow->le_raw, s->iv.buckets,
								nb, s->iv.count))
				    : 0;
	}
}

static int add_family(struct bbsnmp_tables *t, struct bbsnmp_view *v, const struct bb_family *fam)
{
	struct bbsnmp_index_entry *me =
		bbsnmp_index_get(&t->metric_ids, fam->name, strlen(fam->name));
	const struct bb_series **sorted = NULL;
	struct metric_row *mrow;
	bool ascending = true, hist = fam->kind == BB_METRIC_HISTOGRAM;
	size_t n = 0, dups = 0, unservable = 0;
	int err;

	if (!me)
		return -errno;
	if (me->generation == t->generation) {
		/* bb_snapshot_family() keeps names unique; guard anyway. */
		bb_warn("snmp: metric %s appears twice in one snapshot; showing the first",
			fam->name);
		return 0;
	}
	me->generation = t->generation;

	mrow = &v->metrics[v->n_metrics];
	mrow->label_names = join_label_names(fam);
	if (!mrow->label_names)
		return -ENOMEM;
	v->n_metrics++;
	mrow->fam = meta_copy(fam);
	if (!mrow->fam)
		return -ENOMEM;
	mrow->unit = unit_of(fam->name);
	mrow->index = me->index;
	mrow->stride = hist ? sizeof(struct vhist) + fam->n_buckets * sizeof(uint64_t)
			    : sizeof(struct vrow);
	for (size_t b = 0; b < fam->n_buckets && hist; b++)
		mrow->raw_any |= raw_bound_fits(fam, b);
	if (hist && fam->n_buckets) {
		double mult = fam->multiplier != 0 ? fam->multiplier : 1;

		mrow->le_raw = malloc(fam->n_buckets * sizeof(*mrow->le_raw));
		if (!mrow->le_raw)
			return -ENOMEM;
		for (size_t b = 0; b < fam->n_buckets; b++)
			mrow->le_raw[b] = fam->le_raw ? (double)fam->le_raw[b] : fam->le[b] / mult;
	}

	/* The store writes its series in ascending id order: then the family's
	 * array is copied as it is (one pass to check). */
	for (size_t i = 0; i < fam->n_series && ascending; i++)
		ascending = servable(&fam->series[i]) &&
			    (i == 0 || fam->series[i - 1].id < fam->series[i].id);
	if (ascending) {
		n = fam->n_series;
	} else {
		sorted = malloc((fam->n_series ? fam->n_series : 1) * sizeof(*sorted));
		if (!sorted)
			return -ENOMEM;
		for (size_t i = 0; i < fam->n_series; i++) {
			if (servable(&fam->series[i]))
				sorted[n++] = &fam->series[i];
			else
				unservable++;
		}
		qsort(sorted, n, sizeof(*sorted), compare_ids);
		/* An id twice (not from one store): the first is shown. */
		for (size_t r = 0, w = 0; r < n; r++) {
			if (w && sorted[w - 1]->id == sorted[r]->id) {
				dups++;
				continue;
			}
			sorted[w++] = sorted[r];
		}
		n -= dups;
		if (dups || unservable)
			bb_warn("snmp: metric %s: %zu series with an id already shown and %zu with "
				"an id outside 1..4294967295 are not served",
				fam->name, dups, unservable);
	}
	if (n > UINT32_MAX)
		n = UINT32_MAX;
	err = rows_alloc(mrow, n);
	for (size_t r = 0; r < n && !err; r++) {
		const struct bb_series *s = sorted ? sorted[r] : &fam->series[r];
		struct vrow *row = (struct vrow *)(mrow->rows + r * mrow->stride);

		row->id = s->id;
		row->labels = bb_labelset_ref(s->labels);
		row->value = s->value;
		if (hist)
			fill_hist(mrow, fam, s, (struct vhist *)row);
		mrow->n_series = (uint32_t)(r + 1); /* counted as made, so it is freed */
	}
	free(sorted);
	if (err)
		return err;
	v->n_series += n;
	if (hist)
		v->n_buckets += n * (fam->n_buckets + 1);
	return 0;
}

int bbsnmp_tables_build(struct bbsnmp_tables *t, struct bb_snapshot *snap,
			const struct bbsnmp_program *programs, size_t n_programs,
			struct bbsnmp_view **out)
{
	struct bbsnmp_view *v = calloc(1, sizeof(*v));
	int err = 0;

	*out = NULL;
	if (!v)
		return -ENOMEM;
	t->generation++;
	err = add_programs(t, v, programs, n_programs);
	if (err || !snap)
		goto out;
	v->metrics = calloc(snap->n_families ? snap->n_families : 1, sizeof(*v->metrics));
	if (!v->metrics) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t f = 0; f < snap->n_families && !err; f++)
		err = add_family(t, v, &snap->families[f]);
	if (err)
		goto out;
	/* Metrics are few: sorted by index for the binary searches. */
	qsort(v->metrics, v->n_metrics, sizeof(*v->metrics), compare_metrics);
	for (size_t m = 0; m < v->n_metrics; m++) {
		struct metric_row *mrow = &v->metrics[m];

		mrow->idx_oid[0] = mrow->index;
		mrow->idx.oids = mrow->idx_oid;
		mrow->idx.len = 1;
	}
out:
	if (err) {
		bb_err("snmp: cannot build the tables: %s", bb_strerror(-err));
		bbsnmp_view_free(v);
		return err;
	}
	*out = v;
	return 0;
}

int bbsnmp_tables_update(struct bbsnmp_tables *t, struct bb_snapshot *snap,
			 const struct bbsnmp_program *programs, size_t n_programs)
{
	struct bbsnmp_view *v;
	int err;

	bbsnmp_tables_clear(t);
	err = bbsnmp_tables_build(t, snap, programs, n_programs, &v);
	if (err)
		return err;
	bbsnmp_view_free(bbsnmp_tables_install(t, v));
	return t->view ? 0 : -ENOMEM;
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

/* ---- virtual tables: series and buckets -------------------------------------------- */

/*
 * The series table's instances are (column, metric, series) and the bucket
 * table's (column, metric, series, bucket), in that OID order. Both are
 * answered from the series rows: metrics ascending by index, each with its
 * rows ascending by index, each histogram row standing for n_buckets + 1
 * bucket instances. A GET is two binary searches; a GETNEXT finds where the
 * request's OID falls the same way and moves forward to the next instance the
 * column has. Nothing per bucket is ever stored.
 */
struct vpos {
	size_t m;   /* in t->metrics */
	size_t r;   /* in that metric's rows */
	uint32_t b; /* bucket, 1-based (bucket table only) */
};

static unsigned n_index_parts(enum bbsnmp_table which)
{
	return which == BBSNMP_TABLE_BUCKETS ? 3 : 2;
}

static unsigned max_column(enum bbsnmp_table which)
{
	return which == BBSNMP_TABLE_BUCKETS ? BBSNMP_COL_BUCKET_COUNT
					     : BBSNMP_COL_SERIES_P99_SCALED;
}

/* Does column COL have instances in metric MROW at all? */
static bool metric_has(enum bbsnmp_table which, unsigned col, const struct metric_row *mrow)
{
	enum bb_metric_kind kind = mrow->fam->kind;

	if (which == BBSNMP_TABLE_BUCKETS)
		return kind == BB_METRIC_HISTOGRAM &&
		       (col != BBSNMP_COL_BUCKET_UPPER_BOUND_RAW || mrow->raw_any);
	switch (col) {
	case BBSNMP_COL_SERIES_LABELS:
		return true;
	case BBSNMP_COL_SERIES_VALUE:
		return kind == BB_METRIC_COUNTER;
	case BBSNMP_COL_SERIES_GAUGE:
		return kind == BB_METRIC_GAUGE;
	case BBSNMP_COL_SERIES_COUNT:
	case BBSNMP_COL_SERIES_SUM:
	case BBSNMP_COL_SERIES_SUM_SCALED:
	case BBSNMP_COL_SERIES_INTERVAL_COUNT:
	case BBSNMP_COL_SERIES_P50:
	case BBSNMP_COL_SERIES_P90:
	case BBSNMP_COL_SERIES_P99:
	case BBSNMP_COL_SERIES_P50_SCALED:
	case BBSNMP_COL_SERIES_P90_SCALED:
	case BBSNMP_COL_SERIES_P99_SCALED:
		return kind == BB_METRIC_HISTOGRAM;
	}
	return false;
}

/* Given metric_has(): does this row have column COL (the interval columns
 * are absent until known, the percentiles while the interval is empty)? */
static bool row_has(unsigned col, const struct metric_row *mrow, const struct vrow *row)
{
	if (col < BBSNMP_COL_SERIES_INTERVAL_COUNT)
		return true;
	if (col == BBSNMP_COL_SERIES_INTERVAL_COUNT)
		return hist_of(row)->iv_flags & IV_VALID;
	return hist_of(row)->iv_flags & IV_QUANTILES;
}

/* Given metric_has(): does bucket B (1-based) of a series have column COL? */
static bool bucket_has(unsigned col, const struct metric_row *mrow, uint32_t b)
{
	if (b < 1 || b > mrow->fam->n_buckets + 1)
		return false;
	return col != BBSNMP_COL_BUCKET_UPPER_BOUND_RAW || raw_bound_fits(mrow->fam, b - 1);
}

/* Move P forward (staying put if it is one) to the next instance of COL. */
static bool next_present(const struct bbsnmp_view *t, enum bbsnmp_table which, unsigned col,
			 struct vpos *p)
{
	for (; p->m < t->n_metrics; p->m++, p->r = 0, p->b = 1) {
		const struct metric_row *mrow = &t->metrics[p->m];
		uint32_t nb = (uint32_t)mrow->fam->n_buckets + 1;

		if (!metric_has(which, col, mrow) || p->r >= mrow->n_series)
			continue;
		if (which != BBSNMP_TABLE_BUCKETS) {
			for (; p->r < mrow->n_series; p->r++)
				if (row_has(col, mrow, row_at(mrow, p->r)))
					return true;
			continue;
		}
		for (; p->r < mrow->n_series; p->r++, p->b = 1)
			for (; p->b <= nb; p->b++)
				if (bucket_has(col, mrow, p->b))
					return true;
	}
	return false;
}

/* First metric whose index is >= IDX. */
static size_t metric_lower_bound(const struct bbsnmp_view *t, oid idx)
{
	size_t lo = 0, hi = t->n_metrics;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->metrics[mid].index < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static size_t row_lower_bound(const struct metric_row *mrow, oid idx)
{
	size_t lo = 0, hi = mrow->n_series;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (row_at(mrow, mid)->id < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Where the first instance whose index is after IDX (N parts of it; at or
 * after with INCLUSIVE) would be, ignoring which instances a column has.
 */
static struct vpos locate(const struct bbsnmp_view *t, enum bbsnmp_table which, const oid *idx,
			  size_t n, bool inclusive)
{
	struct vpos p = { 0, 0, 1 };
	const struct metric_row *mrow;
	unsigned parts = n_index_parts(which);

	if (n == 0)
		return p;
	p.m = metric_lower_bound(t, idx[0]);
	if (p.m >= t->n_metrics || t->metrics[p.m].index != idx[0] || n == 1)
		return p; /* every instance of that metric is after (idx[0]) */
	mrow = &t->metrics[p.m];
	p.r = row_lower_bound(mrow, idx[1]);
	if (p.r >= mrow->n_series || row_at(mrow, p.r)->id != idx[1] || n == 2) {
		/* (m, s) is after IDX, or IDX is its prefix: in the series table
		 * (m, s) == IDX is the instance itself, taken when inclusive. */
		if (parts == 2 && n == 2 && p.r < mrow->n_series &&
		    row_at(mrow, p.r)->id == idx[1] && !inclusive)
			p.r++;
		goto fix;
	}
	/* The row matches and IDX goes on. */
	if (parts == 2) {
		p.r++; /* (m, s) is a prefix of IDX: before it */
		goto fix;
	}
	if (idx[2] > mrow->fam->n_buckets + 1) {
		p.r++;
		goto fix;
	}
	p.b = (uint32_t)idx[2];
	if (!(inclusive && n == 3))
		p.b++; /* (m, s, b) == IDX is not after it, and before it when IDX is longer */
	if (p.b < 1)
		p.b = 1;
	if (p.b > mrow->fam->n_buckets + 1) {
		p.r++;
		p.b = 1;
	}
fix:
	if (p.r >= t->metrics[p.m].n_series) {
		p.m++;
		p.r = 0;
		p.b = 1;
	}
	return p;
}

static void series_value(struct bbsnmp_view *t, const struct metric_row *mrow,
			 const struct vrow *row, unsigned col, netsnmp_request_info *request)
{
	switch (col) {
	case BBSNMP_COL_SERIES_LABELS:
		if (format_labels(&t->scratch, mrow->fam, row->labels) < 0)
			return set_text(request, "");
		return set_text(request, t->scratch.buf);
	case BBSNMP_COL_SERIES_VALUE:
		return set_counter64(request, row->value);
	case BBSNMP_COL_SERIES_GAUGE:
		return set_gauge(request, row->value);
	case BBSNMP_COL_SERIES_COUNT:
		return set_counter64(request, row->value);
	case BBSNMP_COL_SERIES_SUM:
		return set_counter64(request, hist_of(row)->sum_raw);
	case BBSNMP_COL_SERIES_SUM_SCALED:
		return set_double(request, hist_of(row)->sum);
	case BBSNMP_COL_SERIES_INTERVAL_COUNT:
		return set_gauge(request, hist_of(row)->iv_count);
	case BBSNMP_COL_SERIES_P50:
	case BBSNMP_COL_SERIES_P90:
	case BBSNMP_COL_SERIES_P99:
		return set_gauge(request, hist_of(row)->q_raw[col - BBSNMP_COL_SERIES_P50]);
	case BBSNMP_COL_SERIES_P50_SCALED:
	case BBSNMP_COL_SERIES_P90_SCALED:
	case BBSNMP_COL_SERIES_P99_SCALED:
		return set_double(request, hist_of(row)->q[col - BBSNMP_COL_SERIES_P50_SCALED]);
	}
}

static void bucket_value(const struct metric_row *mrow, const struct vrow *row, uint32_t b,
			 unsigned col, netsnmp_request_info *request)
{
	const struct bb_family *fam = mrow->fam;
	const uint64_t *cum = hist_of(row)->buckets;

	switch (col) {
	case BBSNMP_COL_BUCKET_UPPER_BOUND:
		if (b > fam->n_buckets)
			return set_text(request, "+Inf");
		return set_double(request, fam->le[b - 1]);
	case BBSNMP_COL_BUCKET_UPPER_BOUND_RAW:
		return set_integer(request, (long)fam->le_raw[b - 1]);
	case BBSNMP_COL_BUCKET_COUNT:
		return set_counter64(request, b > fam->n_buckets ? row->value : cum[b - 1]);
	}
}

/* Answer REQUEST with instance P of column COL: its OID (for GETNEXT) and value. */
static void answer(struct bbsnmp_view *t, enum bbsnmp_table which,
		   const netsnmp_handler_registration *reg, unsigned col, const struct vpos *p,
		   netsnmp_request_info *request, bool set_name)
{
	const struct metric_row *mrow = &t->metrics[p->m];
	const struct vrow *row = row_at(mrow, p->r);

	if (set_name) {
		oid name[MAX_OID_LEN];
		size_t len = reg->rootoid_len;

		memcpy(name, reg->rootoid, len * sizeof(oid));
		name[len++] = 1;
		name[len++] = col;
		name[len++] = mrow->index;
		name[len++] = (oid)row->id;
		if (which == BBSNMP_TABLE_BUCKETS)
			name[len++] = p->b;
		snmp_set_var_objid(request->requestvb, name, len);
	}
	if (which == BBSNMP_TABLE_BUCKETS)
		bucket_value(mrow, row, p->b, col, request);
	else
		series_value(t, mrow, row, col, request);
}

static void virtual_get(struct bbsnmp_view *t, enum bbsnmp_table which,
			const netsnmp_handler_registration *reg,
			netsnmp_agent_request_info *reqinfo, netsnmp_request_info *request)
{
	const netsnmp_variable_list *vb = request->requestvb;
	size_t base = reg->rootoid_len;
	unsigned parts = n_index_parts(which);
	const oid *idx = vb->name + base + 2;
	struct vpos p;
	unsigned col;

	if (vb->name_length < base + 2 || vb->name[base] != 1 || vb->name[base + 1] < 2 ||
	    vb->name[base + 1] > max_column(which)) {
		netsnmp_set_request_error(reqinfo, request, SNMP_NOSUCHOBJECT);
		return;
	}
	col = (unsigned)vb->name[base + 1];
	if (vb->name_length != base + 2 + parts)
		goto none;
	p = locate(t, which, idx, parts, true);
	if (p.m >= t->n_metrics || t->metrics[p.m].index != idx[0] ||
	    p.r >= t->metrics[p.m].n_series || row_at(&t->metrics[p.m], p.r)->id != idx[1] ||
	    !metric_has(which, col, &t->metrics[p.m]))
		goto none;
	if (which == BBSNMP_TABLE_SERIES &&
	    !row_has(col, &t->metrics[p.m], row_at(&t->metrics[p.m], p.r)))
		goto none;
	if (which == BBSNMP_TABLE_BUCKETS &&
	    (p.b != idx[2] || !bucket_has(col, &t->metrics[p.m], p.b)))
		goto none;
	answer(t, which, reg, col, &p, request, false);
	return;
none:
	netsnmp_set_request_error(reqinfo, request, SNMP_NOSUCHINSTANCE);
}

/* Leaves REQUEST untouched when nothing in the table follows its OID: the
 * agent then moves on to the next registration. */
static void virtual_getnext(struct bbsnmp_view *t, enum bbsnmp_table which,
			    const netsnmp_handler_registration *reg, netsnmp_request_info *request)
{
	const netsnmp_variable_list *vb = request->requestvb;
	const oid *root = reg->rootoid;
	size_t base = reg->rootoid_len;
	bool inclusive = request->inclusive;
	unsigned col = 2;
	struct vpos p = { 0, 0, 1 };
	int c = snmp_oid_compare(vb->name, vb->name_length < base ? vb->name_length : base, root,
				 base);

	if (c > 0)
		return;
	if (c == 0 && vb->name_length > base) {
		if (vb->name[base] > 1)
			return;
		if (vb->name[base] == 1 && vb->name_length > base + 1) {
			oid want = vb->name[base + 1];

			if (want > max_column(which))
				return;
			if (want >= 2) {
				col = (unsigned)want;
				p = locate(t, which, vb->name + base + 2,
					   vb->name_length - base - 2, inclusive);
			}
		}
	}
	/* Below the table, at its OID, its entry or a column before the first:
	 * the first instance of the first column. */
	for (; col <= max_column(which); col++, p = (struct vpos){ 0, 0, 1 })
		if (next_present(t, which, col, &p)) {
			answer(t, which, reg, col, &p, request, true);
			return;
		}
}

static int virtual_handler(netsnmp_mib_handler *handler, netsnmp_handler_registration *reginfo,
			   netsnmp_agent_request_info *reqinfo, netsnmp_request_info *requests)
{
	struct vtable *vt = handler->myvoid;
	struct bbsnmp_view *v = vt->t->view;

	for (netsnmp_request_info *r = requests; r; r = r->next) {
		if (r->processed)
			continue;
		switch (reqinfo->mode) {
		case MODE_GET:
			if (v)
				virtual_get(v, vt->which, reginfo, reqinfo, r);
			else
				netsnmp_set_request_error(reqinfo, r, SNMP_NOSUCHINSTANCE);
			break;
		case MODE_GETNEXT:
			if (v)
				virtual_getnext(v, vt->which, reginfo, r);
			break;
		default:
			/* registered read-only: the agent refuses SETs before us */
			netsnmp_set_request_error(reqinfo, r, SNMP_ERR_NOTWRITABLE);
			break;
		}
	}
	return SNMP_ERR_NOERROR;
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
	{ "bpfbridgeSeriesTable", virtual_handler, 2, BBSNMP_COL_SERIES_P99_SCALED },
	{ "bpfbridgeBucketTable", virtual_handler, 3, BBSNMP_COL_BUCKET_COUNT },
};

static int cache_load(netsnmp_cache *cache, void *magic)
{
	struct bbsnmp_tables *t = magic;
	int err = t->load(t, t->load_ctx);

	DEBUGMSGTL(("bpfbridge", "cache load %llu: %d (%zu series, %zu buckets)\n",
		    (unsigned long long)t->generation, err,
		    bbsnmp_tables_rows(t, BBSNMP_TABLE_SERIES),
		    bbsnmp_tables_rows(t, BBSNMP_TABLE_BUCKETS)));
	return err < 0 ? -1 : 0;
}

static void cache_free(netsnmp_cache *cache, void *magic)
{
	struct bbsnmp_tables *t = magic;

	if (!t->keep_rows)
		bbsnmp_tables_clear(t);
}

void bbsnmp_tables_keep_rows(struct bbsnmp_tables *t, bool keep)
{
	t->keep_rows = keep;
}

int bbsnmp_tables_register(struct bbsnmp_tables *t, const oid *root, size_t root_len,
			   int cache_timeout, bbsnmp_load_fn load, void *ctx)
{
	oid table_oid[MAX_OID_LEN];

	if (t->cache) {
		snmp_log(LOG_ERR, "bpfbridge: tables are already registered\n");
		return -EALREADY;
	}
	if (root_len == 0 || root_len > BBSNMP_ROOT_MAX) {
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
	if (t->keep_rows)
		t->cache->flags |= NETSNMP_CACHE_DONT_FREE_BEFORE_LOAD |
				   NETSNMP_CACHE_DONT_FREE_EXPIRED |
				   NETSNMP_CACHE_DONT_AUTO_RELEASE;

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
		if (i >= N_CONTAINERS) {
			/* A plain handler: it parses the OIDs itself. */
			if (!reg)
				goto fail;
			t->vtables[i].t = t;
			t->vtables[i].which = i + 1;
			reg->handler->myvoid = &t->vtables[i];
			cache_handler = netsnmp_cache_handler_get(t->cache);
			if (!cache_handler ||
			    netsnmp_inject_handler(reg, cache_handler) != SNMPERR_SUCCESS) {
				if (cache_handler)
					netsnmp_handler_free(cache_handler);
				netsnmp_handler_registration_free(reg);
				snmp_log(LOG_ERR, "bpfbridge: cannot add the cache to %s\n",
					 def->name);
				goto fail;
			}
			/* On failure net-snmp frees REG and its handlers. */
			rc = netsnmp_register_handler(reg);
			if (rc != MIB_REGISTERED_OK) {
				snmp_log(LOG_ERR, "bpfbridge: cannot register %s (error %d%s)\n",
					 def->name, rc,
					 rc == MIB_DUPLICATE_REGISTRATION ? ": already registered"
									  : "");
				goto fail;
			}
			t->regs[i] = reg;
			continue;
		}
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
