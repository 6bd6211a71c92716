/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "log.h"
#include "snapshot.h"

/* ---- builder ---------------------------------------------------------- */

struct bb_snapshot *bb_snapshot_new(void)
{
	struct bb_snapshot *snap = calloc(1, sizeof(*snap));

	if (snap)
		snap->refs = 1;
	return snap;
}

/* Grow *ARR (of *CAP elements of SIZE bytes) to hold at least NEED; zero the new part. */
static int grow(void **arr, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap ? *cap : 8;
	void *p;

	if (need <= *cap)
		return 0;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return -ENOMEM;
		ncap *= 2;
	}
	if (ncap > SIZE_MAX / size)
		return -ENOMEM;
	p = realloc(*arr, ncap * size);
	if (!p)
		return -ENOMEM;
	memset((char *)p + *cap * size, 0, (ncap - *cap) * size);
	*arr = p;
	*cap = ncap;
	return 0;
}

static void free_strv(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Copy N strings; NULL with errno set (EINVAL for a NULL string, ENOMEM). */
static char **dup_strv(const char *const *v, size_t n)
{
	char **out;

	if (n == 0)
		return calloc(1, sizeof(char *)); /* never NULL-vs-empty ambiguity */
	if (!v) {
		errno = EINVAL;
		return NULL;
	}
	out = calloc(n, sizeof(char *));
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!v[i]) {
			free_strv(out, i);
			errno = EINVAL;
			return NULL;
		}
		out[i] = strdup(v[i]);
		if (!out[i]) {
			free_strv(out, i);
			errno = ENOMEM;
			return NULL;
		}
	}
	return out;
}

/* ---- label sets and bounds ---------------------------------------------- */

static uint64_t hash_joined(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t bb_series_ids(uint64_t n)
{
	static uint64_t last_id;

	return __atomic_add_fetch(&last_id, n, __ATOMIC_RELAXED) - n + 1;
}

struct bb_labelset *bb_labelset_new(const char *const *values, size_t n)
{
	struct bb_labelset *ls;
	size_t len = 0;
	const char **ptrs;
	char *p;

	if (n && !values) {
		errno = EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!values[i]) {
			errno = EINVAL;
			return NULL;
		}
		len += strlen(values[i]) + 1;
	}
	if (len > UINT32_MAX || n > UINT32_MAX) {
		errno = E2BIG;
		return NULL;
	}
	/* One block: the header, the pointers, then the strings. */
	ls = malloc(sizeof(*ls) + (n ? n : 1) * sizeof(char *) + (len ? len : 1));
	if (!ls) {
		errno = ENOMEM;
		return NULL;
	}
	ptrs = (const char **)(ls + 1);
	p = (char *)(ptrs + (n ? n : 1));
	ls->refs = 1;
	ls->n = (uint32_t)n;
	ls->len = (uint32_t)len;
	ls->values = ptrs;
	ls->joined = p;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(values[i]) + 1;

		memcpy(p, values[i], l);
		ptrs[i] = p;
		p += l;
	}
	ls->hash = hash_joined(ls->joined, len);
	return ls;
}

struct bb_labelset *bb_labelset_ref(struct bb_labelset *ls)
{
	if (ls)
		__atomic_add_fetch(&ls->refs, 1, __ATOMIC_RELAXED);
	return ls;
}

void bb_labelset_unref(struct bb_labelset *ls)
{
	if (ls && __atomic_sub_fetch(&ls->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(ls);
}

struct bb_bounds *bb_bounds_new(const double *le, const int64_t *le_raw, size_t n,
				double multiplier)
{
	struct bb_bounds *b;
	char text[64];

	for (size_t i = 0; i < n; i++) {
		if (!le || !isfinite(le[i]) || (i > 0 && le[i] <= le[i - 1])) {
			bb_err("histogram bounds must be finite and strictly ascending");
			errno = EINVAL;
			return NULL;
		}
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->refs = 1;
	b->n = n;
	b->multiplier = multiplier == 0 ? 1.0 : multiplier;
	b->le = malloc((n ? n : 1) * sizeof(*b->le));
	b->le_raw = le_raw ? malloc((n ? n : 1) * sizeof(*b->le_raw)) : NULL;
	b->le_text = calloc(n ? n : 1, sizeof(*b->le_text));
	if (!b->le || (le_raw && !b->le_raw) || !b->le_text)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		b->le[i] = le[i];
		if (le_raw)
			b->le_raw[i] = le_raw[i];
		bb_format_double(le[i], text, sizeof(text));
		b->le_text[i] = strdup(text);
		if (!b->le_text[i])
			goto nomem;
	}
	return b;
nomem:
	b->refs = 1;
	bb_bounds_unref(b);
	errno = ENOMEM;
	return NULL;
}

struct bb_bounds *bb_bounds_ref(struct bb_bounds *b)
{
	if (b)
		__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
	return b;
}

void bb_bounds_unref(struct bb_bounds *b)
{
	if (!b || __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	if (b->le_text)
		for (size_t i = 0; i < b->n; i++)
			free(b->le_text[i]);
	free(b->le_text);
	free(b->le);
	free(b->le_raw);
	free(b);
}

void *bb_big_alloc(size_t bytes, bool populate)
{
	void *p;

	if (bytes < BB_BIG_MAP_MIN)
		return calloc(1, bytes ? bytes : 1);
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0), -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void bb_big_free(void *p, size_t bytes)
{
	if (!p)
		return;
	if (bytes < BB_BIG_MAP_MIN)
		free(p);
	else
		munmap(p, bytes);
}

struct bb_block {
	int refs;
	size_t bytes;
	uint64_t made; /* order of creation, to replace the oldest */
	max_align_t data[];
};

static size_t block_size(size_t bytes)
{
	return sizeof(struct bb_block) + (bytes ? bytes : 1);
}

static struct bb_block *block_alloc(size_t bytes)
{
	struct bb_block *b = bb_big_alloc(block_size(bytes), false);

	if (!b)
		return NULL;
	b->refs = 1;
	b->bytes = bytes;
	return b;
}

void bb_block_unref(struct bb_block *b)
{
	if (!b || __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	bb_big_free(b, block_size(b->bytes));
}

int bb_family_lend(struct bb_family *fam, struct bb_block **cache, size_t n_cache, size_t n)
{
	size_t nb = fam->kind == BB_METRIC_HISTOGRAM ? fam->n_buckets : 0;
	size_t nq = fam->kind == BB_METRIC_HISTOGRAM ? fam->n_quantiles : 0;
	size_t per = sizeof(struct bb_series) + (2 * nb + nq) * sizeof(uint64_t), bytes;
	static uint64_t counter;
	struct bb_block *b = NULL;
	size_t oldest = 0;

	if (fam->n_series || fam->series)
		return -EINVAL;
	if (n && per > SIZE_MAX / n)
		return -ENOMEM;
	bytes = n * per;
	for (size_t i = 0; i < n_cache; i++) {
		/* refs == 1: only the producer holds it, no snapshot does */
		if (cache[i] && __atomic_load_n(&cache[i]->refs, __ATOMIC_ACQUIRE) == 1 &&
		    cache[i]->bytes >= bytes) {
			b = cache[i];
			break;
		}
		if (!cache[i] || (cache[oldest] && cache[i]->made < cache[oldest]->made))
			oldest = i;
	}
	if (!b) {
		b = block_alloc(bytes);
		if (!b)
			return -ENOMEM;
		b->made = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
		if (n_cache == 0) {
			fam->block = b; /* the only reference */
			goto place;
		}
		bb_block_unref(cache[oldest]);
		cache[oldest] = b;
	}
	__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
	fam->block = b;
place:
	fam->series = (struct bb_series *)b->data;
	fam->cap_series = n;
	fam->bucket_block = nb ? (uint64_t *)(fam->series + n) : NULL;
	fam->quantile_block = nq ? (double *)((uint64_t *)(fam->series + n) + 2 * nb * n) : NULL;
	return 0;
}

static void family_free(struct bb_family *fam)
{
	for (size_t i = 0; i < fam->n_series; i++)
		bb_labelset_unref(fam->series[i].labels);
	if (fam->block) {
		bb_block_unref(fam->block);
	} else {
		free(fam->series);
		free(fam->bucket_block);
		free(fam->quantile_block);
	}
	free(fam->quantiles);
	free(fam->name);
	free(fam->help);
	free_strv(fam->label_names, fam->n_labels);
	bb_bounds_unref(fam->bounds);
}

/* Prometheus data model: metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]* and not starting with "__" (reserved). */
static bool valid_name(const char *s, bool colon_ok)
{
	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  (colon_ok && c == ':') || (p != s && c >= '0' && c <= '9');

		if (!ok)
			return false;
	}
	return true;
}

static bool same_labels(const struct bb_family *fam, const char *const *names, size_t n)
{
	if (fam->n_labels != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!names || !names[i] || strcmp(fam->label_names[i], names[i]) != 0)
			return false;
	return true;
}

static bool valid_label_set(const char *family, enum bb_metric_kind kind, const char *const *names,
			    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!names || !valid_name(names[i], false) || strncmp(names[i], "__", 2) == 0) {
			bb_err("metric %s: invalid label name \"%s\"", family,
			       names && names[i] ? names[i] : "(null)");
			return false;
		}
		if (kind == BB_METRIC_HISTOGRAM && strcmp(names[i], "le") == 0) {
			bb_err("metric %s: label name \"le\" is reserved for histogram buckets",
			       family);
			return false;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(names[i], names[j]) == 0) {
				bb_err("metric %s: label \"%s\" appears twice", family, names[i]);
				return false;
			}
		}
	}
	return true;
}

struct bb_family *bb_snapshot_family(struct bb_snapshot *snap, const char *name, const char *help,
				     enum bb_metric_kind kind, const char *const *label_names,
				     size_t n_labels)
{
	struct bb_family *fam;

	if (!snap || !valid_name(name, true)) {
		bb_err("snapshot: invalid metric name \"%s\"", name ? name : "(null)");
		errno = EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < snap->n_families; i++) {
		fam = &snap->families[i];
		if (strcmp(fam->name, name) != 0)
			continue;
		if (fam->kind != kind || !same_labels(fam, label_names, n_labels)) {
			bb_err("metric %s: defined twice, with a different kind or label set",
			       name);
			errno = EEXIST;
			return NULL;
		}
		return fam;
	}
	if (kind != BB_METRIC_COUNTER && kind != BB_METRIC_HISTOGRAM && kind != BB_METRIC_GAUGE) {
		errno = EINVAL;
		return NULL;
	}
	if (!valid_label_set(name, kind, label_names, n_labels)) {
		errno = EINVAL;
		return NULL;
	}
	if (grow((void **)&snap->families, &snap->cap_families, snap->n_families + 1,
		 sizeof(*snap->families))) {
		errno = ENOMEM;
		return NULL;
	}

	fam = &snap->families[snap->n_families];
	memset(fam, 0, sizeof(*fam));
	fam->kind = kind;
	fam->multiplier = 1.0;
	fam->name = strdup(name);
	fam->help = strdup(help ? help : "");
	fam->label_names = dup_strv(label_names, n_labels);
	if (!fam->name || !fam->help || !fam->label_names) {
		free(fam->name);
		free(fam->help);
		free_strv(fam->label_names, n_labels);
		memset(fam, 0, sizeof(*fam));
		errno = ENOMEM;
		return NULL;
	}
	fam->n_labels = n_labels;
	snap->n_families++;
	return fam;
}

int bb_family_share_bounds(struct bb_family *fam, struct bb_bounds *bounds)
{
	if (!fam || fam->kind != BB_METRIC_HISTOGRAM || !bounds)
		return -EINVAL;
	/* Series already hold buckets sized for the old bounds. */
	if (fam->n_series && bounds->n != fam->n_buckets)
		return -EBUSY;
	if (fam->bounds == bounds)
		return 0;
	bb_bounds_ref(bounds);
	bb_bounds_unref(fam->bounds);
	fam->bounds = bounds;
	fam->n_buckets = bounds->n;
	fam->le = bounds->le;
	fam->le_raw = bounds->le_raw;
	fam->le_text = (const char *const *)bounds->le_text;
	fam->multiplier = bounds->multiplier;
	return 0;
}

int bb_family_set_buckets(struct bb_family *fam, const double *le, const int64_t *le_raw, size_t n,
			  double multiplier)
{
	struct bb_bounds *b;
	int ret;

	if (!fam || fam->kind != BB_METRIC_HISTOGRAM || (n && !le))
		return -EINVAL;
	b = bb_bounds_new(le, le_raw, n, multiplier);
	if (!b)
		return errno == EINVAL ? -EINVAL : -ENOMEM;
	ret = bb_family_share_bounds(fam, b);
	bb_bounds_unref(b);
	return ret;
}

int bb_family_set_quantiles(struct bb_family *fam, const double *q, size_t n)
{
	double *nq = NULL;

	if (!fam || (n && !q))
		return -EINVAL;
	if (fam->n_series && n != fam->n_quantiles)
		return -EBUSY;
	for (size_t i = 0; i < n; i++)
		if (!(q[i] > 0 && q[i] < 1))
			return -EINVAL;
	if (n) {
		nq = malloc(n * sizeof(*nq));
		if (!nq)
			return -ENOMEM;
		memcpy(nq, q, n * sizeof(*nq));
	}
	free(fam->quantiles);
	fam->quantiles = nq;
	fam->n_quantiles = n;
	return 0;
}

/* Point every series' arrays into the family's blocks (after they moved). */
static void family_repoint(struct bb_family *fam)
{
	size_t nb = fam->kind == BB_METRIC_HISTOGRAM ? fam->n_buckets : 0;
	size_t nq = fam->kind == BB_METRIC_HISTOGRAM ? fam->n_quantiles : 0;

	for (size_t i = 0; i < fam->n_series; i++) {
		struct bb_series *s = &fam->series[i];

		s->buckets = nb ? fam->bucket_block + i * 2 * nb : NULL;
		s->iv.buckets = nb ? s->buckets + nb : NULL;
		s->iv.quantiles = nq ? fam->quantile_block + i * nq : NULL;
	}
}

int bb_family_reserve(struct bb_family *fam, size_t n)
{
	size_t nb = fam->kind == BB_METRIC_HISTOGRAM ? fam->n_buckets : 0;
	size_t nq = fam->kind == BB_METRIC_HISTOGRAM ? fam->n_quantiles : 0;
	size_t need = fam->n_series + n, cap = fam->cap_series;

	if (need <= fam->cap_series)
		return 0;
	if (fam->block)
		return -ENOSPC; /* lent memory does not grow */
	if (grow((void **)&fam->series, &fam->cap_series, need, sizeof(*fam->series)))
		return -ENOMEM;
	/* The blocks follow the series array's capacity. */
	if (nb) {
		size_t c = cap;

		if (fam->cap_series > SIZE_MAX / (2 * nb * sizeof(uint64_t)))
			return -ENOMEM;
		if (grow((void **)&fam->bucket_block, &c, fam->cap_series,
			 2 * nb * sizeof(uint64_t)))
			return -ENOMEM;
	}
	if (nq) {
		size_t c = cap;

		if (grow((void **)&fam->quantile_block, &c, fam->cap_series, nq * sizeof(double)))
			return -ENOMEM;
	}
	family_repoint(fam);
	return 0;
}

struct bb_series *bb_family_add_shared(struct bb_family *fam, struct bb_labelset *labels)
{
	struct bb_series *s;

	if (!fam || !labels || labels->n != fam->n_labels) {
		errno = EINVAL;
		return NULL;
	}
	if (fam->n_series == fam->cap_series &&
	    bb_family_reserve(fam, fam->cap_series ? fam->cap_series : 8)) {
		errno = ENOMEM;
		return NULL;
	}
	s = &fam->series[fam->n_series++];
	memset(s, 0, sizeof(*s));
	s->labels = bb_labelset_ref(labels);
	s->label_values = labels->values;
	if (fam->kind == BB_METRIC_HISTOGRAM) {
		size_t nb = fam->n_buckets, nq = fam->n_quantiles, i = fam->n_series - 1;

		s->buckets = nb ? fam->bucket_block + i * 2 * nb : NULL;
		s->iv.buckets = nb ? s->buckets + nb : NULL;
		s->iv.quantiles = nq ? fam->quantile_block + i * nq : NULL;
		if (nb)
			memset(s->buckets, 0, 2 * nb * sizeof(uint64_t));
	}
	return s;
}

struct bb_series *bb_family_add_series(struct bb_family *fam, const char *const *label_values)
{
	struct bb_labelset *ls;
	struct bb_series *s;

	if (!fam) {
		errno = EINVAL;
		return NULL;
	}
	ls = bb_labelset_new(label_values, fam->n_labels);
	if (!ls)
		return NULL;
	s = bb_family_add_shared(fam, ls);
	bb_labelset_unref(ls);
	return s;
}

void bb_snapshot_finish(struct bb_snapshot *snap)
{
	struct timespec ts;

	if (!snap)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	snap->taken_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct bb_snapshot *bb_snapshot_ref(struct bb_snapshot *snap)
{
	if (snap)
		__atomic_add_fetch(&snap->refs, 1, __ATOMIC_RELAXED);
	return snap;
}

void bb_snapshot_unref(struct bb_snapshot *snap)
{
	if (!snap || __atomic_sub_fetch(&snap->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; i < snap->n_families; i++)
		family_free(&snap->families[i]);
	free(snap->families);
	free(snap);
}

const struct bb_family *bb_snapshot_find(const struct bb_snapshot *snap, const char *name)
{
	if (!snap || !name)
		return NULL;
	for (size_t i = 0; i < snap->n_families; i++)
		if (strcmp(snap->families[i].name, name) == 0)
			return &snap->families[i];
	return NULL;
}

/* ---- number formatting -------------------------------------------------- */

/*
 * Shortest decimal digits that read back as V (finite, > 0), like Go's
 * strconv: DIGITS gets them without a point or trailing zeros, *EXP10 the
 * decimal exponent of the first digit. For each precision the correctly
 * rounded value is tried first, then its neighbour on the other side of V:
 * next to a power of two the round-trip interval is lopsided, so the nearest
 * P-digit decimal may miss it while the other one hits.
 */
static void shortest_digits(double v, char *digits, size_t len, int *exp10)
{
	for (int prec = 1; prec <= 17; prec++) {
		char buf[40];
		uint64_t mant = 0, pow = 1;
		int e;
		char *p;

		snprintf(buf, sizeof(buf), "%.*e", prec - 1, v);
		for (p = buf; *p && *p != 'e'; p++)
			if (*p != '.')
				mant = mant * 10 + (uint64_t)(*p - '0');
		e = atoi(p + 1);
		for (int i = 1; i < prec; i++)
			pow *= 10; /* 10^(prec-1): the smallest PREC-digit mantissa */

		for (int which = 0; which < 2; which++) {
			uint64_t m = mant;
			int me = e;
			char cand[48];

			if (which == 1) {
				double rounded = strtod(buf, NULL);

				if (rounded > v) {
					m--;
					if (m < pow) { /* 10..0 - 1 = 9..9 one decade down */
						m = pow * 10 - 1;
						me--;
					}
				} else {
					m++;
					if (m == pow * 10) { /* 9..9 + 1 = 10..0 one decade up */
						m = pow;
						me++;
					}
				}
			}
			snprintf(cand, sizeof(cand), "%" PRIu64 "e%d", m, me - prec + 1);
			if (strtod(cand, NULL) != v)
				continue;
			while (m >= 10 && m % 10 == 0)
				m /= 10;
			snprintf(digits, len, "%" PRIu64, m);
			*exp10 = me;
			return;
		}
	}
	/* not reached: 17 significant digits always round-trip */
	snprintf(digits, len, "0");
	*exp10 = 0;
}

/*
 * The "C" numeric locale, for this thread only while formatting: the host
 * agent (collectd, snmpd) may run with LC_NUMERIC=de_DE, where printf and
 * strtod use a decimal comma. uselocale() is per thread, so concurrent reads
 * in other threads are not disturbed.
 */
static locale_t loc_holder;

static void c_locale_init(void)
{
	loc_holder = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

static locale_t c_numeric_locale(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, c_locale_init);
	return loc_holder;
}

static void format_double_c(double v, char *buf, size_t len);

/* strconv.FormatFloat(v, 'g', -1, 64) as the Prometheus Go client writes it. */
void bb_format_double(double v, char *buf, size_t len)
{
	locale_t c = c_numeric_locale(), old = (locale_t)0;

	if (c)
		old = uselocale(c);
	format_double_c(v, buf, len);
	if (c)
		uselocale(old);
}

static void format_double_c(double v, char *buf, size_t len)
{
	char digits[24], out[64];
	int exp10, nd;
	size_t pos = 0;

	if (!buf || len == 0)
		return;
	if (isnan(v)) {
		snprintf(buf, len, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == 0) { /* -0 too, as client_golang's writeFloat does */
		snprintf(buf, len, "0");
		return;
	}
	if (v < 0) {
		out[pos++] = '-';
		v = -v;
	}
	shortest_digits(v, digits, sizeof(digits), &exp10);
	nd = (int)strlen(digits);

	/* Go: %e when the exponent is < -4 or >= 6 (eprec is 6 for shortest). */
	if (exp10 < -4 || exp10 >= 6) {
		out[pos++] = digits[0];
		if (nd > 1) {
			out[pos++] = '.';
			memcpy(out + pos, digits + 1, (size_t)nd - 1);
			pos += (size_t)nd - 1;
		}
		snprintf(out + pos, sizeof(out) - pos, "e%c%02d", exp10 < 0 ? '-' : '+',
			 exp10 < 0 ? -exp10 : exp10);
	} else if (exp10 < 0) {
		out[pos++] = '0';
		out[pos++] = '.';
		for (int i = -1; i > exp10; i--)
			out[pos++] = '0';
		memcpy(out + pos, digits, (size_t)nd);
		pos += (size_t)nd;
		out[pos] = '\0';
	} else {
		for (int i = 0; i <= exp10 || i < nd; i++) {
			if (i == exp10 + 1)
				out[pos++] = '.';
			out[pos++] = i < nd ? digits[i] : '0';
		}
		out[pos] = '\0';
	}
	snprintf(buf, len, "%s", out);
}

/* ---- writers ------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at P (P[0] != 0), or 0 if it is not one. */
static size_t utf8_seq_len(const unsigned char *p)
{
	uint32_t cp;
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

enum esc_mode {
	ESC_PROM_LABEL, /* \\ \" \n */
	ESC_PROM_HELP,	/* \\ \n */
	ESC_JSON,
};

/*
 * Write S escaped for MODE. Bytes that are not valid UTF-8 (a decoder may
 * produce any bytes) become U+FFFD: both formats require UTF-8, and a
 * replacement keeps the series visible instead of breaking the whole scrape.
 */
static void write_escaped(FILE *out, const char *s, enum esc_mode mode)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = utf8_seq_len(p);
		unsigned char c = *p;

		if (n == 0) {
			fputs(mode == ESC_JSON ? "\\ufffd" : "\xef\xbf\xbd", out);
			p++;
			continue;
		}
		if (n > 1) {
			fwrite(p, 1, n, out);
			p += n;
			continue;
		}
		p++;
		if (c == '\\') {
			fputs("\\\\", out);
		} else if (c == '\n') {
			fputs("\\n", out);
		} else if (c == '"' && mode != ESC_PROM_HELP) {
			fputs("\\\"", out);
		} else if (mode == ESC_JSON && c < 0x20) {
			switch (c) {
			case '\b':
				fputs("\\b", out);
				break;
			case '\f':
				fputs("\\f", out);
				break;
			case '\r':
				fputs("\\r", out);
				break;
			case '\t':
				fputs("\\t", out);
				break;
			default:
				fprintf(out, "\\u%04x", c);
			}
		} else {
			fputc(c, out);
		}
	}
}

static void write_double(FILE *out, double v)
{
	char buf[64];

	bb_format_double(v, buf, sizeof(buf));
	fputs(buf, out);
}

static bool gauge_scaled(const struct bb_family *fam)
{
	return fam->kind == BB_METRIC_GAUGE && fam->multiplier != 0 && fam->multiplier != 1;
}

double bb_gauge_value(const struct bb_family *fam, const struct bb_series *s)
{
	if (gauge_scaled(fam))
		return (double)s->value * fam->multiplier;
	return (double)s->value;
}

/* {a="x",b="y",le="0.5"}; nothing at all when there are no labels and no LE. */
static void prom_labels(FILE *out, const struct bb_family *fam, const struct bb_series *s,
			const char *le)
{
	if (fam->n_labels == 0 && !le)
		return;
	fputc('{', out);
	for (size_t i = 0; i < fam->n_labels; i++) {
		fprintf(out, "%s%s=\"", i ? "," : "", fam->label_names[i]);
		write_escaped(out, s->label_values[i], ESC_PROM_LABEL);
		fputc('"', out);
	}
	if (le)
		fprintf(out, "%sle=\"%s\"", fam->n_labels ? "," : "", le);
	fputc('}', out);
}

static void prom_histogram_series(FILE *out, const struct bb_family *fam, const struct bb_series *s)
{
	for (size_t b = 0; b < fam->n_buckets; b++) {
		fprintf(out, "%s_bucket", fam->name);
		prom_labels(out, fam, s, fam->le_text[b]);
		fprintf(out, " %" PRIu64 "\n", s->buckets ? s->buckets[b] : 0);
	}
	fprintf(out, "%s_bucket", fam->name);
	prom_labels(out, fam, s, "+Inf");
	fprintf(out, " %" PRIu64 "\n", s->count);

	fprintf(out, "%s_sum", fam->name);
	prom_labels(out, fam, s, NULL);
	fputc(' ', out);
	write_double(out, s->sum);
	fputc('\n', out);

	fprintf(out, "%s_count", fam->name);
	prom_labels(out, fam, s, NULL);
	fprintf(out, " %" PRIu64 "\n", s->count);
}

int bb_snapshot_write_prometheus(const struct bb_snapshot *snap, FILE *out)
{
	if (!snap || !out)
		return -EINVAL;
	for (size_t f = 0; f < snap->n_families; f++) {
		const struct bb_family *fam = &snap->families[f];

		/* An empty HELP is legal but promtool flags it; leave the line out. */
		if (fam->help && *fam->help) {
			fprintf(out, "# HELP %s ", fam->name);
			write_escaped(out, fam->help, ESC_PROM_HELP);
			fputc('\n', out);
		}
		fprintf(out, "# TYPE %s %s\n", fam->name, bb_metric_kind_name(fam->kind));
		for (size_t i = 0; i < fam->n_series; i++) {
			const struct bb_series *s = &fam->series[i];

			if (fam->kind == BB_METRIC_HISTOGRAM) {
				prom_histogram_series(out, fam, s);
				continue;
			}
			fputs(fam->name, out);
			prom_labels(out, fam, s, NULL);
			if (gauge_scaled(fam)) {
				char buf[64];

				bb_format_double(bb_gauge_value(fam, s), buf, sizeof(buf));
				fprintf(out, " %s\n", buf);
			} else {
				fprintf(out, " %" PRIu64 "\n", s->value);
			}
		}
	}
	if (fflush(out) != 0 || ferror(out))
		return -EIO;
	return 0;
}

static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	write_escaped(out, s ? s : "", ESC_JSON);
	fputc('"', out);
}

/* JSON has no Inf or NaN: those go out as the strings Prometheus would print. */
static void json_double(FILE *out, double v)
{
	char buf[64];

	bb_format_double(v, buf, sizeof(buf));
	if (isfinite(v))
		fputs(buf, out);
	else
		fprintf(out, "\"%s\"", buf);
}

static void json_series(FILE *out, const struct bb_family *fam, const struct bb_series *s)
{
	fprintf(out, "{\"id\":%" PRIu64 ",\"labels\":{", s->id);
	for (size_t i = 0; i < fam->n_labels; i++) {
		if (i)
			fputc(',', out);
		json_string(out, fam->label_names[i]);
		fputc(':', out);
		json_string(out, s->label_values[i]);
	}
	fputc('}', out);
	if (gauge_scaled(fam)) {
		fputs(",\"value\":", out);
		json_double(out, bb_gauge_value(fam, s));
		fputc('}', out);
		return;
	}
	if (fam->kind != BB_METRIC_HISTOGRAM) {
		fprintf(out, ",\"value\":%" PRIu64, s->value);
		if (s->iv.valid)
			fprintf(out, ",\"interval\":{\"reset\":%s,\"increase\":%" PRIu64 "}",
				s->iv.reset ? "true" : "false", s->iv.value);
		fputc('}', out);
		return;
	}
	fputs(",\"buckets\":[", out);
	for (size_t b = 0; b < fam->n_buckets; b++) {
		fputs(b ? ",{\"le\":" : "{\"le\":", out);
		json_double(out, fam->le[b]);
		fprintf(out, ",\"count\":%" PRIu64 "}", s->buckets ? s->buckets[b] : 0);
	}
	fprintf(out, "],\"count\":%" PRIu64 ",\"sum\":", s->count);
	json_double(out, s->sum);
	fprintf(out, ",\"sum_raw\":%" PRIu64, s->sum_raw);
	if (s->iv.valid) {
		fprintf(out, ",\"interval\":{\"reset\":%s,\"count\":%" PRIu64 ",\"sum\":",
			s->iv.reset ? "true" : "false", s->iv.count);
		json_double(out, s->iv.sum);
		fputs(",\"mean\":", out);
		json_double(out, s->iv.mean);
		fputs(",\"buckets\":[", out);
		for (size_t b = 0; b < fam->n_buckets; b++)
			fprintf(out, "%s%" PRIu64, b ? "," : "", s->iv.buckets[b]);
		fputs("],\"quantiles\":[", out);
		for (size_t q = 0; q < fam->n_quantiles; q++) {
			fputs(q ? ",{\"q\":" : "{\"q\":", out);
			json_double(out, fam->quantiles[q]);
			fputs(",\"value\":", out);
			json_double(out, s->iv.quantiles[q]);
			fputc('}', out);
		}
		fputs("]}", out);
	}
	fputc('}', out);
}

int bb_snapshot_write_json(const struct bb_snapshot *snap, FILE *out)
{
	if (!snap || !out)
		return -EINVAL;
	fprintf(out, "{\"taken_ns\":%" PRIu64 ",\"families\":[", snap->taken_ns);
	for (size_t f = 0; f < snap->n_families; f++) {
		const struct bb_family *fam = &snap->families[f];

		fputs(f ? ",\n{\"name\":" : "\n{\"name\":", out);
		json_string(out, fam->name);
		fputs(",\"help\":", out);
		json_string(out, fam->help);
		fprintf(out, ",\"kind\":\"%s\",\"labels\":[", bb_metric_kind_name(fam->kind));
		for (size_t i = 0; i < fam->n_labels; i++) {
			if (i)
				fputc(',', out);
			json_string(out, fam->label_names[i]);
		}
		fputc(']', out);
		if (fam->kind == BB_METRIC_HISTOGRAM) {
			fputs(",\"multiplier\":", out);
			json_double(out, fam->multiplier);
			fputs(",\"le\":[", out);
			for (size_t b = 0; b < fam->n_buckets; b++) {
				if (b)
					fputc(',', out);
				json_double(out, fam->le[b]);
			}
			fputs("],\"le_raw\":[", out);
			for (size_t b = 0; fam->le_raw && b < fam->n_buckets; b++)
				fprintf(out, "%s%" PRId64, b ? "," : "", fam->le_raw[b]);
			fputc(']', out);
		}
		fputs(",\"series\":[", out);
		for (size_t i = 0; i < fam->n_series; i++) {
			fputs(i ? ",\n " : "\n ", out);
			json_series(out, fam, &fam->series[i]);
		}
		fputs("]}", out);
	}
	fputs("\n]}\n", out);
	if (fflush(out) != 0 || ferror(out))
		return -EIO;
	return 0;
}
