/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "log.h"

static double hist_multiplier(const struct bb_metric_conf *m)
{
	return m->bucket_multiplier == 0 ? 1.0 : m->bucket_multiplier;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* 2^63 as a double: the first value an int64_t cannot hold. */
#define TWO_POW_63 9223372036854775808.0

static int fixed_raw_bounds(const struct bb_metric_conf *m, int64_t *raw)
{
	for (size_t i = 0; i < m->n_bucket_keys; i++) {
		double k = m->bucket_keys[i];

		if (!(k >= 0 && k < TWO_POW_63) || k != floor(k)) {
			bb_err("histogram %s: bucket_keys[%zu] = %g is not a non-negative integer "
			       "below 2^63",
			       m->name, i, k);
			return -EINVAL;
		}
		raw[i] = (int64_t)k;
		if (i > 0 && raw[i] <= raw[i - 1]) {
			bb_err("histogram %s: bucket_keys must be strictly ascending, "
			       "but bucket_keys[%zu] = %g follows %g",
			       m->name, i, k, m->bucket_keys[i - 1]);
			return -EINVAL;
		}
	}
	return 0;
}

static int range_raw_bounds(const struct bb_metric_conf *m, int64_t *raw, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t key = m->bucket_min + (int64_t)i;

		switch (m->bucket_type) {
		case BB_BUCKET_EXP2:
			raw[i] = (int64_t)1 << key;
			break;
		case BB_BUCKET_EXP2ZERO:
			raw[i] = key == 0 ? 0 : (int64_t)1 << (key - 1);
			break;
		case BB_BUCKET_LINEAR:
			raw[i] = key;
			break;
		default:
			return -EINVAL;
		}
	}
	return 0;
}

/* Check the shape of M and return the number of finite buckets, or a negative errno. */
static int64_t hist_bucket_count(const struct bb_metric_conf *m)
{
	if (m->kind != BB_METRIC_HISTOGRAM) {
		bb_err("metric %s: not a histogram", m->name);
		return -EINVAL;
	}
	if (m->bucket_type == BB_BUCKET_FIXED) {
		if (m->n_bucket_keys == 0 || !m->bucket_keys) {
			bb_err("histogram %s: fixed buckets need at least one bucket_keys entry",
			       m->name);
			return -EINVAL;
		}
		/* at most BB_HIST_MAX_BUCKETS keys: config.c's check, the only one */
		return (int64_t)m->n_bucket_keys;
	}
	if (m->bucket_type != BB_BUCKET_EXP2 && m->bucket_type != BB_BUCKET_EXP2ZERO &&
	    m->bucket_type != BB_BUCKET_LINEAR) {
		bb_err("histogram %s: unknown bucket type %d", m->name, (int)m->bucket_type);
		return -EINVAL;
	}
	if (m->bucket_min < 0 || m->bucket_max < m->bucket_min) {
		bb_err("histogram %s: bucket range [%lld, %lld] must satisfy "
		       "0 <= bucket_min <= bucket_max",
		       m->name, (long long)m->bucket_min, (long long)m->bucket_max);
		return -EINVAL;
	}
	if ((m->bucket_type == BB_BUCKET_EXP2 && m->bucket_max > 62) ||
	    (m->bucket_type == BB_BUCKET_EXP2ZERO && m->bucket_max > 63)) {
		bb_err("histogram %s: bucket_max %lld is too large for %s buckets (at most %d)",
		       m->name, (long long)m->bucket_max, bb_bucket_type_name(m->bucket_type),
		       m->bucket_type == BB_BUCKET_EXP2 ? 62 : 63);
		return -ERANGE;
	}
	/* bucket_max < INT64_MAX keeps the sum key (bucket_max + 1) representable. */
	if (m->bucket_max == INT64_MAX || m->bucket_max - m->bucket_min >= BB_HIST_MAX_BUCKETS) {
		bb_err("histogram %s: bucket range [%lld, %lld] has more than %d buckets", m->name,
		       (long long)m->bucket_min, (long long)m->bucket_max, BB_HIST_MAX_BUCKETS);
		return -E2BIG;
	}
	return m->bucket_max - m->bucket_min + 1;
}

int bb_hist_bounds(const struct bb_metric_conf *m, double **le, int64_t **le_raw, size_t *n)
{
	double mult = hist_multiplier(m);
	int64_t count = hist_bucket_count(m);
	double *scaled = NULL;
	int64_t *raw = NULL;
	int err;

	*le = NULL;
	*le_raw = NULL;
	*n = 0;
	if (count < 0)
		return (int)count;
	if (!isfinite(mult) || mult < 0) {
		bb_err("histogram %s: bucket_multiplier %g must be a positive finite number",
		       m->name, mult);
		return -EINVAL;
	}

	scaled = calloc((size_t)count, sizeof(*scaled));
	raw = calloc((size_t)count, sizeof(*raw));
	if (!scaled || !raw) {
		err = -ENOMEM;
		goto fail;
	}
	if (m->bucket_type == BB_BUCKET_FIXED)
		err = fixed_raw_bounds(m, raw);
	else
		err = range_raw_bounds(m, raw, (size_t)count);
	if (err)
		goto fail;

	for (int64_t i = 0; i < count; i++) {
		/* fixed: scale the configured double itself, as ebpf_exporter does */
		double bound = m->bucket_type == BB_BUCKET_FIXED ? m->bucket_keys[i]
								 : (double)raw[i];

		scaled[i] = bound * mult;
		if (!isfinite(scaled[i]) || (i > 0 && scaled[i] <= scaled[i - 1])) {
			bb_err("histogram %s: bound %lld * bucket_multiplier %g = %g is not a "
			       "finite value above the previous bound",
			       m->name, (long long)raw[i], mult, scaled[i]);
			err = -ERANGE;
			goto fail;
		}
	}

	*le = scaled;
	*le_raw = raw;
	*n = (size_t)count;
	return 0;

fail:
	free(scaled);
	free(raw);
	return err;
}

uint64_t bb_hist_sum_key(const struct bb_metric_conf *m)
{
	if (m->bucket_type == BB_BUCKET_FIXED) {
		if (m->n_bucket_keys == 0 || !m->bucket_keys)
			return 0;
		return (uint64_t)m->bucket_keys[m->n_bucket_keys - 1] + 1;
	}
	return (uint64_t)m->bucket_max + 1;
}

int64_t bb_hist_row_index(const struct bb_metric_conf *m, const int64_t *le_raw, size_t n,
			  uint64_t key)
{
	if (key == bb_hist_sum_key(m))
		return BB_HIST_ROW_SUM;
	if (n == 0)
		return (int64_t)n;
	if (m->bucket_type == BB_BUCKET_FIXED) {
		size_t lo = 0, hi = n;

		if (!le_raw)
			return (int64_t)n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			uint64_t bound = (uint64_t)le_raw[mid];

			if (bound == key)
				return (int64_t)mid;
			if (bound < key)
				lo = mid + 1;
			else
				hi = mid;
		}
		return (int64_t)n;
	}
	if (key <= (uint64_t)m->bucket_min)
		return 0;
	if (key > (uint64_t)m->bucket_max || key - (uint64_t)m->bucket_min >= n)
		return (int64_t)n;
	return (int64_t)(key - (uint64_t)m->bucket_min);
}

double bb_hist_quantile(double q, const double *le, const uint64_t *cum, size_t n, uint64_t total)
{
	double rank, start, count;
	size_t b;

	if (isnan(q))
		return NAN;
	if (q < 0)
		return -INFINITY;
	if (q > 1)
		return INFINITY;
	if (n == 0 || total == 0)
		return NAN;
	rank = q * (double)total;
	/* the first finite bucket whose cumulative count reaches the rank */
	for (b = 0; b < n; b++)
		if ((double)cum[b] >= rank)
			break;
	if (b == n)
		return le[n - 1];
	if (b == 0 && le[0] <= 0)
		return le[0];
	start = b > 0 ? le[b - 1] : 0;
	count = (double)cum[b];
	if (b > 0) {
		count -= (double)cum[b - 1];
		rank -= (double)cum[b - 1];
	}
	return start + (le[b] - start) * (rank / count);
}

size_t bb_hist_fill(const struct bb_metric_conf *m, const struct bb_family *fam,
		    const struct bb_hist_row *rows, size_t n_rows, struct bb_series *s)
{
	uint64_t above = 0; /* observations in +Inf only */
	size_t nonsense = 0;
	size_t n_buckets = s->buckets ? fam->n_buckets : 0;

	if (n_buckets)
		memset(s->buckets, 0, n_buckets * sizeof(*s->buckets));
	s->sum_raw = 0;

	for (size_t r = 0; r < n_rows; r++) {
		const struct bb_hist_row *row = &rows[r];
		int64_t idx;

		idx = bb_hist_row_index(m, fam->le_raw, n_buckets, row->key);
		if (idx == BB_HIST_ROW_SUM) {
			s->sum_raw = sat_add(s->sum_raw, row->value);
			continue;
		}
		if (idx >= (int64_t)n_buckets) {
			above = sat_add(above, row->value);
			nonsense++;
			continue;
		}
		s->buckets[idx] = sat_add(s->buckets[idx], row->value);
	}

	for (size_t i = 1; i < n_buckets; i++)
		s->buckets[i] = sat_add(s->buckets[i], s->buckets[i - 1]);
	s->count = sat_add(n_buckets ? s->buckets[n_buckets - 1] : 0, above);
	s->sum = (double)s->sum_raw * hist_multiplier(m);
	return nonsense;
}
