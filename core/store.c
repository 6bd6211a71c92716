/* SPDX-License-Identifier: MIT */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* qsort_r */
#endif
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bpfbridge.h"
#include "hist.h"
#include "log.h"
#include "store.h"

/* Provisional keys decoded again per read, at most. */
#define RETRY_BUDGET 64
/* A key still provisional is retried after 1, 2, 4 ... reads, at most this many apart. */
#define RETRY_MAX_WAIT 64
/* How far bb_store_add_many() looks ahead (a power of two). */
#define RING_DIST 16
/* Distinct bucket label values whose bucket index is kept (more are decoded per row). */
#define BUCKET_CACHE_MAX 4096
/* How often a metric may log the same kind of trouble. */
#define LOG_INTERVAL_NS (60ULL * 1000000000ULL)

/* ---- hashing ------------------------------------------------------------ */

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ULL;
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ULL;
	x ^= x >> 32;
	return x;
}

/* Eight bytes at a time; map keys are short and mostly multiples of 4. */
static uint64_t hash_key(const uint8_t *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
	uint64_t w;

	while (n >= 8) {
		memcpy(&w, p, 8);
		h = (h ^ mix64(w)) * 0x9e3779b97f4a7c15ULL;
		p += 8;
		n -= 8;
	}
	if (n) {
		w = 0;
		memcpy(&w, p, n);
		h = (h ^ mix64(w)) * 0x9e3779b97f4a7c15ULL;
	}
	return mix64(h);
}

/* ---- a table of fixed-size keys with inline payloads -------------------- */

/*
 * Entries live in one array: [hash][payload][key], found through an
 * open-addressing index of entry numbers (linear probing, deletion by
 * backward shift, so no tombstones build up under churn). Entry numbers are
 * stable while the entry lives; freed ones are reused.
 */
struct ktab {
	uint32_t *index; /* entry + 1, 0 = empty */
	size_t cap;	 /* power of two */
	size_t used;
	uint8_t *ents;
	size_t stride, psize, ksize;
	size_t n_ents, cap_ents; /* high-water mark, allocated */
	uint32_t *free_ents;
	size_t n_free, cap_free;
};

static void ktab_init(struct ktab *t, size_t ksize, size_t psize)
{
	memset(t, 0, sizeof(*t));
	t->ksize = ksize;
	t->psize = (psize + 7) & ~(size_t)7;
	t->stride = 8 + t->psize + ((ksize + 7) & ~(size_t)7);
}

static void ktab_free(struct ktab *t)
{
	free(t->index);
	free(t->ents);
	free(t->free_ents);
	ktab_init(t, t->ksize, t->psize);
}

static inline uint8_t *ktab_ent(const struct ktab *t, uint32_t e)
{
	return t->ents + (size_t)e * t->stride;
}

static inline uint64_t ktab_hash(const struct ktab *t, uint32_t e)
{
	uint64_t h;

	memcpy(&h, ktab_ent(t, e), 8);
	return h;
}

static inline void *ktab_payload(const struct ktab *t, uint32_t e)
{
	return ktab_ent(t, e) + 8;
}

static inline uint8_t *ktab_key(const struct ktab *t, uint32_t e)
{
	return ktab_ent(t, e) + 8 + t->psize;
}

/* Entry number of KEY, or -1. */
static inline int64_t ktab_find(const struct ktab *t, const uint8_t *key, uint64_t h)
{
	size_t mask = t->cap - 1;

	if (!t->cap)
		return -1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		uint32_t v = t->index[i];

		if (!v)
			return -1;
		if (ktab_hash(t, v - 1) == h && memcmp(ktab_key(t, v - 1), key, t->ksize) == 0)
			return v - 1;
	}
}

static void ktab_place(struct ktab *t, uint32_t e)
{
	size_t mask = t->cap - 1, i = ktab_hash(t, e) & mask;

	while (t->index[i])
		i = (i + 1) & mask;
	t->index[i] = e + 1;
}

static int ktab_grow_index(struct ktab *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 64;
	uint32_t *old = t->index;
	size_t ocap = t->cap;

	t->index = calloc(ncap, sizeof(*t->index));
	if (!t->index) {
		t->index = old;
		return -ENOMEM;
	}
	t->cap = ncap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i])
			ktab_place(t, old[i] - 1);
	free(old);
	return 0;
}

/* Add KEY (absent) with a zeroed payload; the entry number, or -1 on ENOMEM. */
static int64_t ktab_insert(struct ktab *t, const uint8_t *key, uint64_t h)
{
	uint32_t e;

	if ((t->used + 1) * 2 > t->cap && ktab_grow_index(t))
		return -1;
	if (t->n_free) {
		e = t->free_ents[--t->n_free];
	} else {
		if (t->n_ents == t->cap_ents) {
			size_t nc = t->cap_ents ? t->cap_ents * 2 : 64;
			uint8_t *p;

			if (nc > UINT32_MAX - 1)
				return -1;
			p = realloc(t->ents, nc * t->stride);
			if (!p)
				return -1;
			t->ents = p;
			t->cap_ents = nc;
		}
		e = (uint32_t)t->n_ents++;
	}
	memset(ktab_ent(t, e), 0, t->stride);
	memcpy(ktab_ent(t, e), &h, 8);
	memcpy(ktab_key(t, e), key, t->ksize);
	ktab_place(t, e);
	t->used++;
	return e;
}

static bool ktab_live(const struct ktab *t, uint32_t e);

/* Remove entry E. Returns -ENOMEM only if the free list cannot grow (the
 * entry is then leaked into the table's high-water mark, not lost). */
static int ktab_remove(struct ktab *t, uint32_t e)
{
	size_t mask = t->cap - 1, i = ktab_hash(t, e) & mask, j;

	while (t->index[i] != e + 1)
		i = (i + 1) & mask;
	t->index[i] = 0;
	/* Backward shift: move later members of the run into the hole when
	 * their home slot is not between the hole and them. */
	for (j = (i + 1) & mask; t->index[j]; j = (j + 1) & mask) {
		size_t home = ktab_hash(t, t->index[j] - 1) & mask;
		bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);

		if (between)
			continue;
		t->index[i] = t->index[j];
		t->index[j] = 0;
		i = j;
	}
	t->used--;
	memset(ktab_ent(t, e), 0xff, 8); /* mark dead for ktab_live() */
	if (t->n_free == t->cap_free) {
		size_t nc = t->cap_free ? t->cap_free * 2 : 64;
		uint32_t *p = realloc(t->free_ents, nc * sizeof(*p));

		if (!p)
			return -ENOMEM;
		t->free_ents = p;
		t->cap_free = nc;
	}
	t->free_ents[t->n_free++] = e;
	return 0;
}

/* A dead entry's hash is all ones; a live one's never is (see hash_live). */
static bool ktab_live(const struct ktab *t, uint32_t e)
{
	return ktab_hash(t, e) != UINT64_MAX;
}

static inline uint64_t hash_live(uint64_t h)
{
	return h == UINT64_MAX ? h - 1 : h;
}

/* ---- the store ---------------------------------------------------------- */

enum skey_state {
	SK_OK = 0,
	SK_DROPPED,  /* over the cardinality limit */
	SK_FILTERED, /* a decoder dropped it on purpose */
	SK_ERROR,    /* labels could not be decoded */
};

struct skey {
	int32_t series; /* slot, or -1 (state != SK_OK, or a cpu label: see cpu_series) */
	uint32_t seen;	/* generation of the last read it was in */
	uint8_t state;
	uint8_t provisional;
	uint8_t retry_wait, retry_in; /* reads, at most RETRY_MAX_WAIT */
	uint32_t prov_pos;	      /* in st->prov while provisional */
};

enum { ROW_OK = 0, ROW_FILTERED, ROW_ERROR };

/* What a bucket label value means, decoded once per distinct value. */
struct bucket {
	int32_t bidx; /* 0..nb-1 finite, nb +Inf only, nb + 1 the sum */
	uint8_t state;
	uint8_t odd; /* a value that matches no bucket: counted as a decode error */
};

struct heir {
	struct bb_labelset *ls; /* NULL once claimed */
	uint64_t id;
};

struct sseries {
	struct bb_labelset *ls; /* NULL: a free slot */
	uint64_t id;
	uint32_t seen; /* generation of the last read it was in */
	uint32_t nkeys;
	bool has_prev;
	uint64_t value, prev; /* counters */
};

struct bb_store {
	const struct bb_metric_conf *m;
	struct bb_decode_ctx *dctx;
	char *config_name;
	bool hist;
	size_t n_labels; /* series labels (the bucket label excluded) */
	uint32_t max_series, retire_after;
	double *quantiles;
	size_t n_quantiles;
	struct bb_bounds *bounds;
	size_t nb; /* finite buckets */

	struct bb_store_layout lay;
	uint32_t *offsets;
	uint8_t *skey_mask, *scratch;
	uint8_t *ring; /* RING_DIST masked keys, for bb_store_add_many() */
	uint64_t ring_hash[RING_DIST];
	bool bound;

	/* histograms: bucket label value (raw bytes) -> struct bucket; a row's
	 * series key is its key with the bucket label masked out, so the store
	 * keeps nothing per (series, bucket) key */
	struct ktab buckets;
	struct ktab skeys;   /* payload struct skey */
	int32_t *cpu_series; /* skeys.cap_ents * ncpus, for a cpu label */
	size_t cap_cpu_series;

	struct sseries *series;
	size_t n_slots, cap_slots;
	int32_t *free_slots;
	size_t n_free_slots, cap_free_slots;
	size_t live;
	/* histograms, (nb + 2) per slot: the values of the last read each series
	 * was in, and, during a read only, the sums of this read's rows (freed
	 * once the read is emitted, so that between reads a series costs one
	 * array of values, not two) */
	uint64_t *hlast;
	uint64_t *hacc;
	size_t acc_slots; /* slots hacc holds */

	/* label set -> series slot */
	uint32_t *intern; /* slot + 1 */
	size_t cap_intern;

	/* series slots in id order */
	int32_t *order;
	size_t n_order, cap_order;

	uint32_t *prov; /* provisional series keys */
	size_t n_prov, cap_prov;

	/* ids of a predecessor (bb_store_inherit): label set -> id */
	struct heir *heirs;
	uint32_t *heir_idx; /* heir + 1, open addressing on the label set's hash */
	size_t n_heirs, cap_heir_idx;
	uint32_t heir_reads; /* reads left before unclaimed ids are dropped */
	bool order_unsorted; /* an inherited id was admitted after a higher one */

	uint32_t gen;
	size_t skeys_seen, series_seen;
	/* snapshot memory lent to families, reused once no snapshot holds it
	 * (two: a front-end may hold the last snapshot while the next is read;
	 * one when it asks for an older snapshot's memory to be returned) */
	struct bb_block *blocks[2];
	size_t n_blocks;

	/* decode scratch */
	char *vals;	   /* n_labels * BB_LABEL_MAX */
	const char **ptrs; /* n_labels */
	char *joined;	   /* n_labels * BB_LABEL_MAX */

	struct bb_metric_stats stats;
	uint64_t last_log_ns, suppressed;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Log at most once a minute per metric; say how many were held back. */
static void __attribute__((format(printf, 3, 4)))
store_log(struct bb_store *st, enum bb_log_level level, const char *fmt, ...)
{
	uint64_t now = now_ns();
	char msg[768];
	va_list ap;

	if (st->last_log_ns && now - st->last_log_ns < LOG_INTERVAL_NS) {
		st->suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (st->suppressed)
		bb_log(level, "%s: metric %s: %s (%" PRIu64 " similar messages suppressed)",
		       st->config_name, st->m->name, msg, st->suppressed);
	else
		bb_log(level, "%s: metric %s: %s", st->config_name, st->m->name, msg);
	st->last_log_ns = now ? now : 1;
	st->suppressed = 0;
}

static size_t hstride(const struct bb_store *st)
{
	return st->nb + 2;
}

/* A read's sums: big ones are their own mapping, so freeing them returns them. */
static void acc_release(struct bb_store *st)
{
	bb_big_free(st->hacc, st->acc_slots * hstride(st) * sizeof(uint64_t));
	st->hacc = NULL;
	st->acc_slots = 0;
}

/* Histograms, during a read: room in hacc for every slot; new room is zero. */
static int acc_fit(struct bb_store *st)
{
	size_t hs = hstride(st), want = st->cap_slots;
	uint64_t *p;

	if (st->acc_slots >= want)
		return 0;
	p = bb_big_alloc(want * hs * sizeof(uint64_t), false);
	if (!p)
		return -ENOMEM;
	if (st->hacc)
		memcpy(p, st->hacc, st->acc_slots * hs * sizeof(uint64_t));
	acc_release(st);
	st->hacc = p;
	st->acc_slots = want;
	return 0;
}

/* ---- interned label sets -------------------------------------------------- */

static int64_t intern_find(const struct bb_store *st, const char *joined, size_t len, uint64_t h)
{
	size_t mask = st->cap_intern - 1;

	if (!st->cap_intern)
		return -1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		uint32_t v = st->intern[i];
		const struct bb_labelset *ls;

		if (!v)
			return -1;
		ls = st->series[v - 1].ls;
		if (ls->hash == h && ls->len == len && memcmp(ls->joined, joined, len) == 0)
			return v - 1;
	}
}

static void intern_place(struct bb_store *st, uint32_t slot)
{
	size_t mask = st->cap_intern - 1, i = st->series[slot].ls->hash & mask;

	while (st->intern[i])
		i = (i + 1) & mask;
	st->intern[i] = slot + 1;
}

/* Room in the intern index for one more series. */
static int intern_add_room(struct bb_store *st)
{
	if ((st->live + 1) * 2 > st->cap_intern) {
		size_t ncap = st->cap_intern ? st->cap_intern * 2 : 64, ocap = st->cap_intern;
		uint32_t *old = st->intern, *idx = calloc(ncap, sizeof(*idx));

		if (!idx)
			return -ENOMEM;
		st->intern = idx;
		st->cap_intern = ncap;
		for (size_t i = 0; i < ocap; i++)
			if (old[i])
				intern_place(st, old[i] - 1);
		free(old);
	}
	return 0;
}

static void intern_remove(struct bb_store *st, uint32_t slot)
{
	size_t mask = st->cap_intern - 1, i = st->series[slot].ls->hash & mask, j;

	while (st->intern[i] != slot + 1)
		i = (i + 1) & mask;
	st->intern[i] = 0;
	for (j = (i + 1) & mask; st->intern[j]; j = (j + 1) & mask) {
		size_t home = st->series[st->intern[j] - 1].ls->hash & mask;
		bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);

		if (between)
			continue;
		st->intern[i] = st->intern[j];
		st->intern[j] = 0;
		i = j;
	}
}

/* ---- series slots ----------------------------------------------------------- */

static int grow_array(void **arr, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap ? *cap : 64;
	void *p;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*arr, ncap * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* ---- ids inherited from a predecessor ------------------------------------- */

static void heirs_free(struct bb_store *st)
{
	for (size_t i = 0; i < st->n_heirs; i++)
		bb_labelset_unref(st->heirs[i].ls);
	free(st->heirs);
	free(st->heir_idx);
	st->heirs = NULL;
	st->heir_idx = NULL;
	st->n_heirs = st->cap_heir_idx = 0;
	st->heir_reads = 0;
}

/* The predecessor's id for LS if it had one (claimed: given once), else 0. */
static uint64_t heir_claim(struct bb_store *st, const struct bb_labelset *ls)
{
	size_t mask = st->cap_heir_idx - 1;

	if (!st->n_heirs)
		return 0;
	for (size_t i = ls->hash & mask; st->heir_idx[i]; i = (i + 1) & mask) {
		struct heir *h = &st->heirs[st->heir_idx[i] - 1];

		if (h->ls && h->ls->hash == ls->hash && h->ls->len == ls->len &&
		    memcmp(h->ls->joined, ls->joined, ls->len) == 0) {
			bb_labelset_unref(h->ls);
			h->ls = NULL;
			return h->id;
		}
	}
	return 0;
}

static int cmp_slot_id(const void *a, const void *b, void *arg)
{
	const struct sseries *series = arg;
	uint64_t x = series[*(const int32_t *)a].id, y = series[*(const int32_t *)b].id;

	return x < y ? -1 : x > y;
}

int bb_store_inherit(struct bb_store *st, const struct bb_store *old)
{
	size_t n = 0, cap = 16;

	heirs_free(st);
	if (!old || !old->live)
		return 0;
	while (cap < old->live * 2)
		cap *= 2;
	st->heirs = calloc(old->live, sizeof(*st->heirs));
	st->heir_idx = calloc(cap, sizeof(*st->heir_idx));
	if (!st->heirs || !st->heir_idx) {
		heirs_free(st);
		return -ENOMEM;
	}
	st->cap_heir_idx = cap;
	for (size_t i = 0; i < old->n_slots; i++) {
		const struct sseries *s = &old->series[i];
		size_t j;

		if (!s->ls)
			continue;
		st->heirs[n] = (struct heir){ .ls = bb_labelset_ref(s->ls), .id = s->id };
		for (j = s->ls->hash & (cap - 1); st->heir_idx[j]; j = (j + 1) & (cap - 1))
			;
		st->heir_idx[j] = (uint32_t)++n;
	}
	st->n_heirs = n;
	/* a series gone for retire_after reads would lose its id anyway */
	st->heir_reads = old->retire_after ? old->retire_after : 5;
	return 0;
}

/* A new series for LS (the store takes the reference); its slot or -1. */
static int32_t series_new(struct bb_store *st, struct bb_labelset *ls)
{
	size_t hs = hstride(st);
	int32_t slot;

	if (grow_array((void **)&st->order, &st->cap_order, st->n_order + 1, sizeof(*st->order)))
		return -1;
	if (st->n_free_slots) {
		slot = st->free_slots[st->n_free_slots - 1];
	} else {
		size_t ocap = st->cap_slots;

		if (st->n_slots >= INT32_MAX)
			return -1;
		if (grow_array((void **)&st->series, &st->cap_slots, st->n_slots + 1,
			       sizeof(*st->series)))
			return -1;
		if (st->hist && st->cap_slots != ocap) {
			size_t c1 = ocap;

			if (grow_array((void **)&st->hlast, &c1, st->cap_slots,
				       hs * sizeof(uint64_t)) ||
			    acc_fit(st)) {
				st->cap_slots = ocap; /* retry the whole growth next time */
				return -1;
			}
		}
		slot = (int32_t)st->n_slots;
	}
	if (intern_add_room(st))
		return -1;
	st->series[slot] = (struct sseries){ .ls = ls, .id = heir_claim(st, ls) };
	if (!st->series[slot].id)
		st->series[slot].id = bb_series_ids(1);
	intern_place(st, (uint32_t)slot);
	if (st->n_free_slots && st->free_slots[st->n_free_slots - 1] == slot)
		st->n_free_slots--;
	else
		st->n_slots++;
	if (st->hist) {
		memset(st->hlast + (size_t)slot * hs, 0, hs * sizeof(uint64_t));
		memset(st->hacc + (size_t)slot * hs, 0, hs * sizeof(uint64_t));
	}
	/* fresh ids grow, so appending keeps id order; an inherited one may not */
	if (st->n_order && st->series[st->order[st->n_order - 1]].id > st->series[slot].id)
		st->order_unsorted = true;
	st->order[st->n_order++] = slot;
	st->live++;
	return slot;
}

/* Forget a series: its id is never used again. The order array is compacted
 * by the caller (retire_sweep) or right here for a single one. */
static void series_retire(struct bb_store *st, int32_t slot, bool compact_order)
{
	struct sseries *s = &st->series[slot];

	intern_remove(st, (uint32_t)slot);
	bb_labelset_unref(s->ls);
	s->ls = NULL;
	st->live--;
	st->stats.series_retired++;
	if (compact_order) {
		size_t w = 0;

		for (size_t r = 0; r < st->n_order; r++)
			if (st->order[r] != slot)
				st->order[w++] = st->order[r];
		st->n_order = w;
	}
	/* The free list can always hold every slot: it is sized with the slots. */
	if (grow_array((void **)&st->free_slots, &st->cap_free_slots, st->n_free_slots + 1,
		       sizeof(*st->free_slots)) == 0)
		st->free_slots[st->n_free_slots++] = slot;
}

/* ---- decoding a new series key --------------------------------------------- */

static int32_t *cpu_slots(struct bb_store *st, uint32_t sk)
{
	return st->cpu_series + (size_t)sk * (size_t)st->lay.ncpus;
}

/*
 * Join the decoded values (cpu label = CPU) into st->joined; return its
 * length. Values are NUL-terminated back to back, as in a bb_labelset.
 */
static size_t join_values(struct bb_store *st, int cpu)
{
	char cpu_text[16];
	size_t len = 0;

	for (size_t l = 0; l < st->n_labels; l++) {
		const char *v = st->vals + l * BB_LABEL_MAX;
		size_t n;

		if ((int)l == st->lay.cpu_label) {
			snprintf(cpu_text, sizeof(cpu_text), "%d", cpu);
			v = cpu_text;
		}
		n = strlen(v) + 1;
		memcpy(st->joined + len, v, n);
		st->ptrs[l] = st->joined + len;
		len += n;
	}
	return len;
}

/* The series for the decoded values (with CPU): found, admitted, or -1 when
 * over the limit (*dropped) or out of memory (*nomem). */
static int32_t series_for_values(struct bb_store *st, int cpu, bool *dropped, bool *nomem)
{
	size_t len = join_values(st, cpu);
	uint64_t h = 0xcbf29ce484222325ULL;
	struct bb_labelset *ls;
	int64_t found;
	int32_t slot;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)st->joined[i];
		h *= 0x100000001b3ULL;
	}
	found = intern_find(st, st->joined, len, h);
	if (found >= 0)
		return (int32_t)found;
	if (st->live >= st->max_series) {
		*dropped = true;
		return -1;
	}
	ls = bb_labelset_new(st->ptrs, st->n_labels);
	if (!ls) {
		*nomem = true;
		return -1;
	}
	slot = series_new(st, ls);
	if (slot < 0) {
		bb_labelset_unref(ls);
		*nomem = true;
	}
	return slot;
}

/*
 * Decode the series labels of KEY into st->vals. Returns SK_OK, SK_FILTERED
 * or SK_ERROR; *flags gets BB_DECODE_PROVISIONAL / BB_DECODE_TRUNCATED.
 */
static int decode_values(struct bb_store *st, const uint8_t *key, unsigned *flags)
{
	*flags = 0;
	for (size_t l = 0; l < st->n_labels; l++) {
		const struct bb_label_conf *lab = &st->m->labels[l];
		char *out = st->vals + l * BB_LABEL_MAX, err[256] = "";
		enum bb_decode_status ds;
		unsigned f = 0;

		out[0] = '\0';
		if ((int)l == st->lay.cpu_label)
			continue;
		ds = bb_decode_label_flags(st->dctx, lab, key + st->offsets[l], out, BB_LABEL_MAX,
					   err, sizeof(err), &f);
		if (ds == BB_DECODE_DROP)
			return SK_FILTERED;
		if (ds != BB_DECODE_OK) {
			st->stats.decode_errors++;
			store_log(st, BB_LOG_WARN, "label %s: %s; series skipped", lab->name,
				  err[0] ? err : "decode failed");
			return SK_ERROR;
		}
		if (f & BB_DECODE_TRUNCATED)
			st->stats.labels_truncated++;
		*flags |= f;
	}
	return SK_OK;
}

static void detach_skey(struct bb_store *st, uint32_t e)
{
	struct skey *sk = ktab_payload(&st->skeys, e);
	int n = st->lay.cpu_label >= 0 ? st->lay.ncpus : 1;

	if (sk->state != SK_OK)
		return;
	for (int c = 0; c < n; c++) {
		int32_t slot = st->lay.cpu_label >= 0 ? cpu_slots(st, e)[c] : sk->series;

		if (slot < 0 || !st->series[slot].ls)
			continue;
		if (--st->series[slot].nkeys == 0)
			series_retire(st, slot, true);
	}
	sk->series = -1;
}

/* Point series key E (decoded into st->vals) at its series. */
static int attach_skey(struct bb_store *st, uint32_t e)
{
	struct skey *sk = ktab_payload(&st->skeys, e);
	int n = st->lay.cpu_label >= 0 ? st->lay.ncpus : 1;
	bool dropped = false, nomem = false;

	for (int c = 0; c < n; c++) {
		int32_t slot = series_for_values(st, c, &dropped, &nomem);

		if (st->lay.cpu_label >= 0)
			cpu_slots(st, e)[c] = slot;
		else
			sk->series = slot;
		if (slot >= 0)
			st->series[slot].nkeys++;
	}
	if (nomem)
		return -ENOMEM;
	/* Over the limit: the key is dropped (with a cpu label, only the CPUs
	 * that found no room are; bb_store_add counts them). */
	if (dropped && st->lay.cpu_label < 0)
		sk->state = SK_DROPPED;
	return 0;
}

static void prov_remove(struct bb_store *st, uint32_t e)
{
	struct skey *sk = ktab_payload(&st->skeys, e);
	uint32_t last;

	if (!sk->provisional)
		return;
	last = st->prov[--st->n_prov];
	if (last != e) {
		st->prov[sk->prov_pos] = last;
		((struct skey *)ktab_payload(&st->skeys, last))->prov_pos = sk->prov_pos;
	}
	sk->provisional = 0;
}

static int prov_add(struct bb_store *st, uint32_t e)
{
	struct skey *sk = ktab_payload(&st->skeys, e);

	if (sk->provisional)
		return 0;
	if (grow_array((void **)&st->prov, &st->cap_prov, st->n_prov + 1, sizeof(*st->prov)))
		return -ENOMEM;
	sk->provisional = 1;
	sk->prov_pos = (uint32_t)st->n_prov;
	sk->retry_wait = 1;
	sk->retry_in = 1;
	st->prov[st->n_prov++] = e;
	return 0;
}

/* A new series key at st->scratch (masked). Its entry number, or -1 on ENOMEM. */
static int64_t skey_create(struct bb_store *st, const uint8_t *key, uint64_t h)
{
	int64_t e = ktab_insert(&st->skeys, st->scratch, h);
	struct skey *sk;
	unsigned flags;
	int state;

	if (e < 0)
		return -1;
	if (st->lay.cpu_label >= 0 &&
	    grow_array((void **)&st->cpu_series, &st->cap_cpu_series,
		       st->skeys.cap_ents * (size_t)st->lay.ncpus, sizeof(int32_t))) {
		ktab_remove(&st->skeys, (uint32_t)e);
		return -1;
	}
	sk = ktab_payload(&st->skeys, (uint32_t)e);
	sk->series = -1;
	if (st->lay.cpu_label >= 0)
		for (int c = 0; c < st->lay.ncpus; c++)
			cpu_slots(st, (uint32_t)e)[c] = -1;
	state = decode_values(st, key, &flags);
	sk->state = (uint8_t)state;
	if (state != SK_OK)
		return e;
	if (attach_skey(st, (uint32_t)e) ||
	    ((flags & BB_DECODE_PROVISIONAL) && prov_add(st, (uint32_t)e))) {
		detach_skey(st, (uint32_t)e);
		ktab_remove(&st->skeys, (uint32_t)e);
		return -1;
	}
	return e;
}

/* ---- bucket keys ------------------------------------------------------------ */

/*
 * What the bucket label value RAW means. Not counted here: a row with a value
 * that is filtered, cannot be decoded or matches no bucket is counted each
 * read it is in the map (see add_row), so the count does not depend on
 * whether the value was cached.
 */
static struct bucket decode_bucket(struct bb_store *st, const uint8_t *raw)
{
	size_t b = st->m->n_labels - 1;
	const struct bb_label_conf *lab = &st->m->labels[b];
	struct bucket r = { .state = ROW_OK };
	char out[BB_LABEL_MAX], err[256] = "", *end;
	enum bb_decode_status ds;
	uint64_t v = 0;
	int64_t idx;

	if (lab->n_decoders == 0) {
		switch (lab->size) {
		case 1:
		case 2:
		case 4:
		case 8:
			for (uint32_t i = 0; i < lab->size; i++)
				v |= (uint64_t)raw[i] << (8 * i);
			break;
		default:
			store_log(st, BB_LOG_WARN,
				  "bucket label %s: size %u is not 1, 2, 4 or 8 bytes", lab->name,
				  lab->size);
			r.state = ROW_ERROR;
			return r;
		}
	} else {
		ds = bb_decode_label(st->dctx, lab, raw, out, sizeof(out), err, sizeof(err));
		if (ds == BB_DECODE_DROP) {
			r.state = ROW_FILTERED;
			return r;
		}
		if (ds != BB_DECODE_OK) {
			store_log(st, BB_LOG_WARN, "bucket label %s: %s", lab->name,
				  err[0] ? err : "decode failed");
			r.state = ROW_ERROR;
			return r;
		}
		errno = 0;
		v = strtoull(out, &end, 0);
		if (errno || end == out || *end || out[0] == '-') {
			store_log(st, BB_LOG_WARN,
				  "bucket label %s: \"%s\" is not an unsigned integer", lab->name,
				  out);
			r.state = ROW_ERROR;
			return r;
		}
	}
	idx = bb_hist_row_index(st->m, st->bounds->le_raw, st->nb, v);
	if (idx == BB_HIST_ROW_SUM) {
		r.bidx = (int32_t)st->nb + 1;
		return r;
	}
	r.odd = idx >= (int64_t)st->nb;
	r.bidx = (int32_t)idx;
	return r;
}

/* The bucket of histogram row KEY: one probe of a table as small as the
 * number of distinct bucket values (BUCKET_CACHE_MAX at most). */
static inline struct bucket row_bucket(struct bb_store *st, const uint8_t *key)
{
	const uint8_t *raw = key + st->offsets[st->m->n_labels - 1];
	uint64_t h = hash_live(hash_key(raw, st->buckets.ksize));
	int64_t e = ktab_find(&st->buckets, raw, h);
	struct bucket r;

	if (e >= 0)
		return *(const struct bucket *)ktab_payload(&st->buckets, (uint32_t)e);
	r = decode_bucket(st, raw);
	if (st->buckets.used < BUCKET_CACHE_MAX) {
		e = ktab_insert(&st->buckets, raw, h);
		if (e >= 0)
			*(struct bucket *)ktab_payload(&st->buckets, (uint32_t)e) = r;
	}
	return r;
}

/* ---- the read ------------------------------------------------------------------- */

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	uint64_t r = a + b;

	return r < a ? UINT64_MAX : r;
}

/* First row of this read for series SLOT: keep the last values, start anew. */
static inline void series_touch(struct bb_store *st, int32_t slot)
{
	struct sseries *s = &st->series[slot];

	if (s->seen == st->gen)
		return;
	s->has_prev = s->seen != 0;
	s->seen = st->gen;
	st->series_seen++;
	if (!st->hist) { /* histograms sum into hacc, zero at the read's start */
		s->prev = s->value;
		s->value = 0;
	}
}

static inline void series_put(struct bb_store *st, int32_t slot, int32_t bidx, uint64_t v)
{
	series_touch(st, slot);
	if (st->hist) {
		uint64_t *c = st->hacc + (size_t)slot * hstride(st) + bidx;

		*c = sat_add(*c, v);
	} else {
		st->series[slot].value = sat_add(st->series[slot].value, v);
	}
}

/* Do st->vals (just decoded) name the series SK already feeds? */
static bool same_labels(struct bb_store *st, const struct skey *sk)
{
	const struct bb_labelset *ls;
	size_t len;

	if (st->lay.cpu_label >= 0 || sk->series < 0)
		return false;
	ls = st->series[sk->series].ls;
	len = join_values(st, 0);
	return ls && ls->len == len && memcmp(ls->joined, st->joined, len) == 0;
}

void bb_store_begin(struct bb_store *st)
{
	size_t budget = RETRY_BUDGET;

	st->gen++;
	st->skeys_seen = st->series_seen = 0;
	if (st->hist) { /* a read that was never ended left its sums: drop them */
		acc_release(st);
		(void)acc_fit(st); /* else the first row fails with ENOMEM */
	}
	for (size_t i = 0; i < st->n_prov && budget;) {
		uint32_t e = st->prov[i];
		struct skey *sk = ktab_payload(&st->skeys, e);
		unsigned flags;
		int state;

		if (--sk->retry_in > 0) {
			i++;
			continue;
		}
		budget--;
		state = decode_values(st, ktab_key(&st->skeys, e), &flags);
		if (state == SK_OK && (flags & BB_DECODE_PROVISIONAL)) {
			sk->retry_wait = sk->retry_wait >= RETRY_MAX_WAIT / 2 ? RETRY_MAX_WAIT
									      : sk->retry_wait * 2;
			sk->retry_in = sk->retry_wait;
			i++;
			continue;
		}
		/* Resolved (or now filtered / failing): relabel. */
		prov_remove(st, e); /* moves the last one to i */
		if (state == SK_OK && sk->state == SK_OK && same_labels(st, sk))
			continue;
		detach_skey(st, e);
		sk->state = (uint8_t)state;
		st->stats.relabelled++;
		if (state == SK_OK && attach_skey(st, e))
			sk->state = SK_ERROR; /* out of memory: retried when the key is new again */
	}
}

/* KEY masked to its series key (padding and a bucket label out) into OUT; its hash. */
static inline uint64_t mask_and_hash(const struct bb_store *st, const uint8_t *key, uint8_t *out)
{
	const uint8_t *mask = st->skey_mask;
	size_t ks = st->lay.key_size;

	for (size_t i = 0; i < ks; i++)
		out[i] = key[i] & mask[i];
	return hash_live(hash_key(out, ks));
}

/* One row; MASKED and H from mask_and_hash(). */
static int add_row(struct bb_store *st, const uint8_t *key, const uint8_t *masked, uint64_t h,
		   const uint64_t *vals, size_t nvals)
{
	size_t ks = st->lay.key_size;
	uint64_t total = 0;
	struct skey *sk;
	int32_t bidx = 0;
	int64_t e;
	bool any = false;

	for (size_t c = 0; c < nvals; c++) {
		total = sat_add(total, vals[c]);
		any |= vals[c] != 0;
	}
	e = ktab_find(&st->skeys, masked, h);
	if (e < 0) {
		if (st->lay.array && !any)
			return 0; /* never non-zero: not a series */
		memcpy(st->scratch, masked, ks);
		e = skey_create(st, key, h);
		if (e < 0)
			return -ENOMEM;
	}
	if (st->hist) {
		/* the series key is touched below whatever the bucket: it outlives
		 * its rows */
		struct bucket b = row_bucket(st, key);

		if (b.state == ROW_FILTERED)
			st->stats.filtered++;
		else if (b.state == ROW_ERROR || b.odd)
			st->stats.decode_errors++;
		bidx = b.state == ROW_OK ? b.bidx : -1;
	}

	sk = ktab_payload(&st->skeys, (uint32_t)e);
	if (sk->seen != st->gen) {
		sk->seen = st->gen;
		st->skeys_seen++;
		if (sk->state == SK_DROPPED)
			st->stats.series_dropped++;
		else if (sk->state == SK_FILTERED)
			st->stats.filtered++;
	}
	if (sk->state != SK_OK || bidx < 0)
		return 0;
	if (st->lay.cpu_label >= 0) {
		const int32_t *slots = cpu_slots(st, (uint32_t)e);

		for (size_t c = 0; c < nvals && c < (size_t)st->lay.ncpus; c++) {
			if (slots[c] >= 0)
				series_put(st, slots[c], bidx, vals[c]);
			else if (vals[c])
				st->stats.series_dropped++;
		}
	} else if (sk->series >= 0) {
		series_put(st, sk->series, bidx, total);
	}
	return 0;
}

int bb_store_add(struct bb_store *st, const uint8_t *key, const uint64_t *vals, size_t nvals)
{
	uint8_t *masked = st->ring;

	if (st->hist && st->acc_slots < st->cap_slots && acc_fit(st))
		return -ENOMEM;
	return add_row(st, key, masked, mask_and_hash(st, key, masked), vals, nvals);
}

/*
 * Rows come in map order, so each one's index slot, entry and series are cache
 * misses. Look RING_DIST rows ahead: hash and prefetch the index slot; half as
 * far ahead, prefetch the entry it points to; a quarter, the series.
 */
static inline void ahead_hash(struct bb_store *st, const uint8_t *keys, size_t j)
{
	struct ktab *t = &st->skeys;
	size_t ks = st->lay.key_size, r = j % RING_DIST;
	uint64_t h = mask_and_hash(st, keys + j * ks, st->ring + r * ks);

	st->ring_hash[r] = h;
	if (t->cap)
		__builtin_prefetch(&t->index[h & (t->cap - 1)]);
}

static inline void ahead_entry(struct bb_store *st, size_t j)
{
	struct ktab *t = &st->skeys;
	uint64_t h = st->ring_hash[j % RING_DIST];
	uint32_t v;

	if (!t->cap)
		return;
	v = t->index[h & (t->cap - 1)];
	if (v)
		__builtin_prefetch(ktab_ent(t, v - 1));
}

static inline void ahead_series(struct bb_store *st, size_t j)
{
	uint64_t h = st->ring_hash[j % RING_DIST];
	const struct skey *sk;
	uint32_t v;

	if (!st->skeys.cap)
		return;
	v = st->skeys.index[h & (st->skeys.cap - 1)];
	if (!v || ktab_hash(&st->skeys, v - 1) != h)
		return;
	sk = ktab_payload(&st->skeys, v - 1);
	if (sk->series >= 0)
		__builtin_prefetch(&st->series[sk->series]);
}

int bb_store_add_many(struct bb_store *st, const uint8_t *keys, const uint64_t *vals, size_t n,
		      size_t nvals)
{
	size_t ks = st->lay.key_size;
	int ret = 0;

	if (st->hist && st->acc_slots < st->cap_slots && acc_fit(st))
		return -ENOMEM;
	for (size_t j = 0; j < n && j < RING_DIST; j++)
		ahead_hash(st, keys, j);
	for (size_t i = 0; i < n && ret == 0; i++) {
		size_t r = i % RING_DIST;

		if (i + RING_DIST / 2 < n)
			ahead_entry(st, i + RING_DIST / 2);
		if (i + RING_DIST / 4 < n)
			ahead_series(st, i + RING_DIST / 4);
		ret = add_row(st, keys + i * ks, st->ring + r * ks, st->ring_hash[r],
			      vals + i * nvals, nvals);
		if (i + RING_DIST < n)
			ahead_hash(st, keys, i + RING_DIST);
	}
	return ret;
}

/* Drop keys and series that have not been in the map for retire_after reads. */
static void retire_sweep(struct bb_store *st)
{
	uint32_t limit = st->retire_after;
	bool keys_stale, series_stale;
	size_t w = 0;

	keys_stale = st->skeys_seen < st->skeys.used;
	series_stale = st->series_seen < st->live;
	if (!keys_stale && !series_stale)
		return;
	if (keys_stale) {
		for (size_t e = 0; e < st->skeys.n_ents; e++) {
			struct skey *sk = ktab_payload(&st->skeys, (uint32_t)e);

			if (!ktab_live(&st->skeys, (uint32_t)e) || st->gen - sk->seen < limit)
				continue;
			prov_remove(st, (uint32_t)e);
			if (sk->state == SK_OK) {
				/* its series age out below, on their own clock */
				int n = st->lay.cpu_label >= 0 ? st->lay.ncpus : 1;

				for (int c = 0; c < n; c++) {
					int32_t slot = st->lay.cpu_label >= 0
							       ? cpu_slots(st, (uint32_t)e)[c]
							       : sk->series;

					if (slot >= 0 && st->series[slot].ls)
						st->series[slot].nkeys--;
				}
			}
			ktab_remove(&st->skeys, (uint32_t)e);
		}
	}
	if (!series_stale)
		return;
	for (size_t r = 0; r < st->n_order; r++) {
		int32_t slot = st->order[r];
		struct sseries *s = &st->series[slot];

		if (st->gen - s->seen >= limit && s->nkeys == 0) {
			series_retire(st, slot, false);
			continue;
		}
		st->order[w++] = slot;
	}
	st->n_order = w;
}

static void emit_hist(struct bb_store *st, int32_t slot, struct bb_series *out)
{
	size_t hs = hstride(st), nb = st->nb;
	const uint64_t *cur = st->hacc + (size_t)slot * hs, *prev = st->hlast + (size_t)slot * hs;
	double mult = st->bounds->multiplier;
	struct bb_interval *iv = &out->iv;
	uint64_t c = 0, d = 0;
	bool reset = false;

	for (size_t b = 0; b < nb; b++) {
		c = sat_add(c, cur[b]);
		out->buckets[b] = c;
	}
	out->count = sat_add(c, cur[nb]);
	out->sum_raw = cur[nb + 1];
	out->sum = (double)out->sum_raw * mult;
	if (!st->series[slot].has_prev)
		return;
	for (size_t b = 0; b < hs; b++)
		reset |= cur[b] < prev[b];
	for (size_t b = 0; b < nb; b++) {
		d = sat_add(d, reset ? cur[b] : cur[b] - prev[b]);
		iv->buckets[b] = d;
	}
	iv->valid = true;
	iv->reset = reset;
	iv->count = sat_add(d, reset ? cur[nb] : cur[nb] - prev[nb]);
	iv->sum_raw = reset ? cur[nb + 1] : cur[nb + 1] - prev[nb + 1];
	iv->sum = (double)iv->sum_raw * mult;
	iv->mean = iv->count ? iv->sum / (double)iv->count : NAN;
	for (size_t q = 0; q < st->n_quantiles; q++)
		iv->quantiles[q] = bb_hist_quantile(st->quantiles[q], st->bounds->le, iv->buckets,
						    nb, iv->count);
}

/* Histograms: this read's sums become the series' last values; the sums go. */
static void acc_commit(struct bb_store *st)
{
	size_t hs = hstride(st);

	for (size_t r = 0; st->hacc && r < st->n_order; r++) {
		size_t slot = (size_t)st->order[r];

		if (st->series[slot].seen == st->gen)
			memcpy(st->hlast + slot * hs, st->hacc + slot * hs, hs * sizeof(uint64_t));
	}
	acc_release(st);
}

static long store_emit(struct bb_store *st, struct bb_family *fam);

long bb_store_end(struct bb_store *st, struct bb_family *fam)
{
	long n = store_emit(st, fam);

	if (st->hist)
		acc_commit(st);
	return n;
}

static long store_emit(struct bb_store *st, struct bb_family *fam)
{
	long n = 0;

	if (st->retire_after)
		retire_sweep(st);
	if (st->order_unsorted) {
		qsort_r(st->order, st->n_order, sizeof(*st->order), cmp_slot_id, st->series);
		st->order_unsorted = false;
	}
	if (st->n_heirs && --st->heir_reads == 0)
		heirs_free(st);
	st->stats.series_live = st->live;
	st->stats.keys_live = st->skeys.used;
	if (st->hist && (bb_family_share_bounds(fam, st->bounds) ||
			 bb_family_set_quantiles(fam, st->quantiles, st->n_quantiles)))
		return -ENOMEM;
	if (bb_family_lend(fam, st->blocks, st->n_blocks, st->series_seen))
		return -ENOMEM;
	for (size_t r = 0; r < st->n_order; r++) {
		int32_t slot = st->order[r];
		struct sseries *s = &st->series[slot];
		struct bb_series *out;

		if (r + 8 < st->n_order)
			__builtin_prefetch(&st->series[st->order[r + 8]]);
		if (r + 4 < st->n_order)
			__builtin_prefetch(st->series[st->order[r + 4]].ls);
		if (s->seen != st->gen)
			continue;
		out = bb_family_add_shared(fam, s->ls);
		if (!out)
			return -ENOMEM;
		out->id = s->id;
		n++;
		if (st->hist) {
			emit_hist(st, slot, out);
			continue;
		}
		out->value = s->value;
		if (s->has_prev) {
			out->iv.valid = true;
			out->iv.reset = s->value < s->prev;
			out->iv.value = out->iv.reset ? s->value : s->value - s->prev;
		}
	}
	st->stats.series_last = (uint64_t)n;
	return n;
}

/* ---- life cycle ---------------------------------------------------------------- */

static void store_forget(struct bb_store *st)
{
	for (size_t i = 0; i < st->n_slots; i++)
		bb_labelset_unref(st->series[i].ls);
	free(st->series);
	free(st->free_slots);
	free(st->hlast);
	acc_release(st);
	free(st->intern);
	free(st->order);
	free(st->prov);
	free(st->cpu_series);
	ktab_free(&st->buckets);
	ktab_free(&st->skeys);
	st->series = NULL;
	st->free_slots = NULL;
	st->hlast = NULL;
	st->intern = NULL;
	st->order = NULL;
	st->prov = NULL;
	st->cpu_series = NULL;
	st->n_slots = st->cap_slots = st->n_free_slots = st->cap_free_slots = 0;
	st->cap_intern = st->n_order = st->cap_order = st->n_prov = st->cap_prov = 0;
	st->cap_cpu_series = 0;
	st->live = 0;
}

void bb_store_free(struct bb_store *st)
{
	if (!st)
		return;
	store_forget(st);
	heirs_free(st);
	free(st->offsets);
	free(st->skey_mask);
	free(st->scratch);
	free(st->ring);
	free(st->vals);
	free(st->ptrs);
	free(st->joined);
	free(st->quantiles);
	free(st->config_name);
	bb_bounds_unref(st->bounds);
	bb_block_unref(st->blocks[0]);
	bb_block_unref(st->blocks[1]);
	free(st);
}

struct bb_store *bb_store_new(const struct bb_metric_conf *m, const struct bb_store_params *p,
			      struct bb_decode_ctx *dctx)
{
	struct bb_store *st = calloc(1, sizeof(*st));
	size_t nl;

	if (!st)
		return NULL;
	st->m = m;
	st->dctx = dctx;
	st->hist = m->kind == BB_METRIC_HISTOGRAM;
	nl = st->hist && m->n_labels ? m->n_labels - 1 : m->n_labels;
	st->n_labels = nl;
	st->max_series = p->max_series;
	st->retire_after = p->retire_after;
	st->n_blocks = p->keep_blocks == BB_SNAPSHOT_BLOCKS_NONE ? 0 : p->keep_blocks == 1 ? 1 : 2;
	st->config_name = strdup(p->config_name ? p->config_name : "?");
	st->vals = calloc(nl ? nl : 1, BB_LABEL_MAX);
	st->ptrs = calloc(nl ? nl : 1, sizeof(*st->ptrs));
	st->joined = calloc(nl ? nl : 1, BB_LABEL_MAX);
	if (!st->config_name || !st->vals || !st->ptrs || !st->joined)
		goto fail;
	if (st->hist) {
		if (!p->bounds)
			goto fail;
		st->bounds = bb_bounds_ref(p->bounds);
		st->nb = p->bounds->n;
		if (p->n_quantiles) {
			st->quantiles = malloc(p->n_quantiles * sizeof(double));
			if (!st->quantiles)
				goto fail;
			memcpy(st->quantiles, p->quantiles, p->n_quantiles * sizeof(double));
			st->n_quantiles = p->n_quantiles;
		}
	}
	return st;
fail:
	bb_store_free(st);
	return NULL;
}

int bb_store_bind(struct bb_store *st, const struct bb_store_layout *lay)
{
	size_t ks = lay->key_size ? lay->key_size : 1;
	const struct bb_metric_conf *m = st->m;

	store_forget(st);
	free(st->offsets);
	free(st->skey_mask);
	free(st->scratch);
	free(st->ring);
	st->bound = false;
	st->lay = *lay;
	st->offsets = calloc(m->n_labels ? m->n_labels : 1, sizeof(*st->offsets));
	st->skey_mask = calloc(ks, 1);
	st->scratch = calloc(ks, 1);
	st->ring = calloc(RING_DIST, ks);
	if (!st->offsets || !st->skey_mask || !st->scratch || !st->ring)
		return -ENOMEM;
	st->lay.offsets = st->offsets;
	for (size_t l = 0; l < m->n_labels; l++) {
		uint32_t off = lay->offsets[l];

		st->offsets[l] = off;
		if (off == UINT32_MAX || (size_t)off + m->labels[l].size > lay->key_size)
			continue;
		if (!(st->hist && l == m->n_labels - 1))
			memset(st->skey_mask + off, 0xff, m->labels[l].size);
	}
	ktab_init(&st->buckets, st->hist && m->n_labels ? m->labels[m->n_labels - 1].size : 1,
		  sizeof(struct bucket));
	ktab_init(&st->skeys, lay->key_size, sizeof(struct skey));
	st->bound = true;
	return 0;
}

const struct bb_metric_stats *bb_store_stats(const struct bb_store *st)
{
	return &st->stats;
}

size_t bb_store_memory(const struct bb_store *st)
{
	size_t bytes = sizeof(*st);

	bytes += st->buckets.cap * 4 + st->buckets.cap_ents * st->buckets.stride +
		 st->buckets.cap_free * 4;
	bytes += st->skeys.cap * 4 + st->skeys.cap_ents * st->skeys.stride + st->skeys.cap_free * 4;
	bytes += st->cap_cpu_series * 4 + st->cap_slots * sizeof(*st->series);
	bytes += st->cap_free_slots * 4 + st->cap_intern * 4 + st->cap_order * 4 + st->cap_prov * 4;
	if (st->hist)
		bytes += (st->cap_slots + st->acc_slots) * hstride(st) * sizeof(uint64_t);
	for (size_t i = 0; i < st->n_slots; i++)
		if (st->series[i].ls)
			bytes += sizeof(struct bb_labelset) + st->series[i].ls->n * sizeof(char *) +
				 st->series[i].ls->len;
	return bytes;
}
