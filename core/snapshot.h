/* SPDX-License-Identifier: MIT */
/*
 * The snapshot every front-end consumes: families -> series. Built once by a
 * builder, then immutable and reference-counted, so a collectd read thread or
 * an SNMP cache can hold one while the next is being built.
 */
#ifndef BPFBRIDGE_SNAPSHOT_H
#define BPFBRIDGE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

/*
 * A label set: N values, interned by the series store and shared, never copied,
 * by every snapshot that shows the series. Reference-counted (atomically: a
 * snapshot may be released on another thread than the one that read it).
 */
struct bb_labelset {
	int refs;
	uint32_t n;
	uint32_t len;		   /* bytes of `joined`: each value NUL-terminated, back to back */
	uint64_t hash;		   /* of `joined` */
	const char *const *values; /* n pointers into joined */
	char *joined;
};

/* A new label set holding copies of VALUES (N of them), one reference. NULL on ENOMEM. */
struct bb_labelset *bb_labelset_new(const char *const *values, size_t n);
struct bb_labelset *bb_labelset_ref(struct bb_labelset *ls);
void bb_labelset_unref(struct bb_labelset *ls);

/*
 * What changed since the previous read in which the same series was seen
 * (valid when `valid`; a series seen for the first time has none).
 */
struct bb_interval {
	bool valid;
	bool reset;	   /* a value went down (map recreated, wrap): deltas count from 0 */
	uint64_t value;	   /* counters and gauges: the increase */
	uint64_t *buckets; /* histograms: cumulative increase per finite bound */
	uint64_t count;	   /* histograms: observations in the interval (the +Inf increase) */
	uint64_t sum_raw;
	double sum;	   /* sum_raw * multiplier */
	double mean;	   /* sum / count, NaN when count is 0 */
	double *quantiles; /* fam->n_quantiles values, scaled; see bb_hist_quantile() */
};

/*
 * Reserve N series ids; returns the first (the others follow it). Ids are
 * unique in the process, never handed out twice: the series store takes one
 * per series it admits (so its ids ascend in its order of admission), the
 * engine a block for its self-metric series. A front-end may key on the id
 * alone (the SNMP tables use it as the series index within a metric).
 */
uint64_t bb_series_ids(uint64_t n);

struct bb_series {
	const char *const *label_values; /* family->n_labels strings, shared */
	struct bb_labelset *labels;	 /* the reference this snapshot holds */
	/* bb_series_ids(): stable for the series' life in its store, never given
	 * to another series (of any store) in the process; ascending in a store's
	 * families */
	uint64_t id;
	uint64_t value; /* counters and gauges */
	/* histograms: cumulative counts per finite bound, family->n_buckets of them;
	 * the +Inf bucket is `count` and is not stored here */
	uint64_t *buckets;
	uint64_t count;
	uint64_t sum_raw; /* in the program's units, as summed in bucket_max+1 */
	double sum;	  /* sum_raw * multiplier */
	struct bb_interval iv;
};

/*
 * Histogram bounds of one metric, computed and formatted once, shared by every
 * snapshot (reference-counted like label sets).
 */
struct bb_bounds {
	int refs;
	size_t n;
	double *le;	   /* scaled by the multiplier, ascending */
	int64_t *le_raw;   /* in raw program units (fixed: the key value); may be NULL */
	char **le_text;	   /* le formatted as Prometheus does ("0.001", "1e+06") */
	double multiplier; /* never 0 */
};

/* Bounds from copies of LE and LE_RAW (may be NULL); formats le_text. NULL on error. */
struct bb_bounds *bb_bounds_new(const double *le, const int64_t *le_raw, size_t n,
				double multiplier);
struct bb_bounds *bb_bounds_ref(struct bb_bounds *b);
void bb_bounds_unref(struct bb_bounds *b);

struct bb_family {
	char *name;
	char *help;
	enum bb_metric_kind kind;
	char **label_names; /* for histograms the bucket label is not among them */
	size_t n_labels;
	/* histograms: finite upper bounds, ascending (pointers into `bounds`) */
	size_t n_buckets;
	const double *le;	    /* scaled by the multiplier */
	const int64_t *le_raw;	    /* in raw program units (fixed: the key value) */
	const char *const *le_text; /* le as text, formatted once */
	struct bb_bounds *bounds;
	double multiplier; /* histograms: bound scale; gauges: value scale (0 = 1) */
	/* the quantiles every histogram series' interval carries, in (0, 1) */
	double *quantiles;
	size_t n_quantiles;
	struct bb_series *series;
	size_t n_series;
	size_t cap_series;
	/* per-series arrays, one block each per family (series point into them) */
	uint64_t *bucket_block; /* 2 * n_buckets per series: totals, then interval */
	double *quantile_block; /* n_quantiles per series */
	struct bb_block *block; /* when set, the three arrays above live in it */
};

/*
 * Memory a producer (the series store) lends to the families of successive
 * snapshots, so that a read does not allocate and page-fault its series
 * arrays anew: reused once no snapshot holds it any more.
 */
struct bb_block;

/*
 * Give FAM room for N series (it must have none yet), from one of the
 * producer's CACHE[0..n_cache) blocks that no snapshot holds, else from a
 * new block that replaces the least recently made one in CACHE (with
 * N_CACHE 0, a new block only the family holds). The family then cannot hold
 * more than N series. 0 or -ENOMEM.
 */
int bb_family_lend(struct bb_family *fam, struct bb_block **cache, size_t n_cache, size_t n);

/*
 * Zeroed memory for large arrays that come and go with reads (snapshot
 * blocks, a read's sums, the SNMP rows): from BB_BIG_MAP_MIN bytes on it is
 * its own mapping (with POPULATE, faulted in at once), so that freeing it
 * always returns it to the system (glibc would keep a freed block below its
 * adaptive mmap threshold, up to 32 MiB, in its heap); below, calloc. Free
 * with bb_big_free() and the same BYTES. NULL on ENOMEM.
 */
#define BB_BIG_MAP_MIN ((size_t)1 << 20)
void *bb_big_alloc(size_t bytes, bool populate);
void bb_big_free(void *p, size_t bytes);

/* Drop a producer's reference (from bb_family_lend's cache). Safe with NULL. */
void bb_block_unref(struct bb_block *b);

struct bb_snapshot {
	struct bb_family *families;
	size_t n_families;
	size_t cap_families;
	uint64_t taken_ns; /* CLOCK_REALTIME when finished */
	int refs;
};

struct bb_snapshot *bb_snapshot_new(void);

/*
 * Families and series live in arrays that grow by realloc: a bb_family * is
 * valid only until the next family is created in the same snapshot, and a
 * bb_series * only until the next series is added to its family. Once the
 * snapshot is finished nothing moves.
 *
 * Return the family NAME, creating it with the given help, kind and label names
 * (copied) if it does not exist. An existing family with a different kind or
 * label set is an error (NULL, errno EEXIST).
 */
struct bb_family *bb_snapshot_family(struct bb_snapshot *snap, const char *name, const char *help,
				     enum bb_metric_kind kind, const char *const *label_names,
				     size_t n_labels);

/* Histogram families: set the finite bounds (copied) before adding series. */
int bb_family_set_buckets(struct bb_family *fam, const double *le, const int64_t *le_raw, size_t n,
			  double multiplier);

/* Histogram families: share BOUNDS (takes a reference) before adding series. */
int bb_family_share_bounds(struct bb_family *fam, struct bb_bounds *bounds);

/* Histogram families: the quantiles each series' interval carries (copied), before adding series. */
int bb_family_set_quantiles(struct bb_family *fam, const double *q, size_t n);

/* Room for N more series without moving anything (one allocation per array). */
int bb_family_reserve(struct bb_family *fam, size_t n);

/* Append a series with the given label values (copied). Histogram series get
 * zeroed buckets. Returns NULL on ENOMEM. */
struct bb_series *bb_family_add_series(struct bb_family *fam, const char *const *label_values);

/* Append a series sharing LABELS (takes a reference; labels->n must be
 * fam->n_labels). Histogram series get zeroed buckets. NULL on ENOMEM. */
struct bb_series *bb_family_add_shared(struct bb_family *fam, struct bb_labelset *labels);

/* Seal: stamps taken_ns and sorts nothing (order is insertion order). */
void bb_snapshot_finish(struct bb_snapshot *snap);

/* A gauge's value as exported: value * multiplier (the raw value when the multiplier is 0 or 1). */
double bb_gauge_value(const struct bb_family *fam, const struct bb_series *s);

struct bb_snapshot *bb_snapshot_ref(struct bb_snapshot *snap);
void bb_snapshot_unref(struct bb_snapshot *snap);

const struct bb_family *bb_snapshot_find(const struct bb_snapshot *snap, const char *name);

/* Prometheus text exposition format 0.0.4 (accepted by `promtool check metrics`). */
int bb_snapshot_write_prometheus(const struct bb_snapshot *snap, FILE *out);
/* One JSON document: {"families":[{"name","help","kind","labels":[..],"series":[...]}]} */
int bb_snapshot_write_json(const struct bb_snapshot *snap, FILE *out);

/* Format a bound the way Prometheus' Go client does ("1e-06", "0.25", "+Inf"). */
void bb_format_double(double v, char *buf, size_t len);

#endif
