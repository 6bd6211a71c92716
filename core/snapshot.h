/* SPDX-License-Identifier: MIT */
/*
 * The snapshot every front-end consumes: families -> series. Built once by a
 * builder, then immutable and reference-counted, so a collectd read thread or
 * an SNMP cache can hold one while the next is being built.
 */
#ifndef BPFBRIDGE_SNAPSHOT_H
#define BPFBRIDGE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

struct bb_series {
	char **label_values; /* family->n_labels strings */
	uint64_t value;	     /* counters */
	/* histograms: cumulative counts per finite bound, family->n_buckets of them;
	 * the +Inf bucket is `count` and is not stored here */
	uint64_t *buckets;
	uint64_t count;
	uint64_t sum_raw; /* in the program's units, as summed in bucket_max+1 */
	double sum;	  /* sum_raw * multiplier */
};

struct bb_family {
	char *name;
	char *help;
	enum bb_metric_kind kind;
	char **label_names; /* for histograms the bucket label is not among them */
	size_t n_labels;
	/* histograms: finite upper bounds, ascending */
	size_t n_buckets;
	double *le;	   /* scaled by the multiplier */
	int64_t *le_raw;   /* in raw program units (fixed: the key value) */
	double multiplier; /* histograms: bound scale; gauges: value scale (0 = 1) */
	struct bb_series *series;
	size_t n_series;
	size_t cap_series;
};

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

/* Append a series with the given label values (copied). Histogram series get
 * zeroed buckets. Returns NULL on ENOMEM. */
struct bb_series *bb_family_add_series(struct bb_family *fam, const char *const *label_values);

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
