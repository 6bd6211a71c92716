/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "hist.h"
#include "log.h"
#include "reader.h"

/* How often a metric may log the same kind of trouble. */
#define LOG_INTERVAL_NS (60ULL * 1000000000ULL)
/* Decoded label sets kept per metric, as a multiple of its series limit. */
#define CACHE_FACTOR 4
/* Entries asked for per batch lookup; grows if the kernel says ENOSPC. */
#define BATCH_CHUNK 1024

/* ---- a small open-addressing hash table keyed by bytes ------------------ */

struct ht_slot {
	uint64_t hash;
	uint8_t *key; /* owned copy; NULL = empty slot */
	size_t klen;
	void *val;
};

struct ht {
	struct ht_slot *slots;
	size_t cap; /* power of two, or 0 */
	size_t n;
};

static uint64_t hash_bytes(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static struct ht_slot *ht_find_slot(const struct ht *t, const void *key, size_t klen, uint64_t h)
{
	size_t mask = t->cap - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct ht_slot *s = &t->slots[i];

		if (!s->key)
			return s;
		if (s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0)
			return s;
	}
}

static void *ht_get(const struct ht *t, const void *key, size_t klen, uint64_t h)
{
	struct ht_slot *s;

	if (!t->cap)
		return NULL;
	s = ht_find_slot(t, key, klen, h);
	return s->key ? s->val : NULL;
}

static int ht_grow(struct ht *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 64;
	struct ht_slot *old = t->slots, *slots;
	size_t ocap = t->cap;

	slots = calloc(ncap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	t->slots = slots;
	t->cap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		if (old[i].key)
			*ht_find_slot(t, old[i].key, old[i].klen, old[i].hash) = old[i];
	}
	free(old);
	return 0;
}

/* Insert KEY (copied) -> VAL; the key must not be present. */
static int ht_put(struct ht *t, const void *key, size_t klen, uint64_t h, void *val)
{
	struct ht_slot *s;
	uint8_t *copy;

	if ((t->n + 1) * 4 > t->cap * 3 && ht_grow(t))
		return -ENOMEM;
	copy = malloc(klen ? klen : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, key, klen);
	s = ht_find_slot(t, key, klen, h);
	s->hash = h;
	s->key = copy;
	s->klen = klen;
	s->val = val;
	t->n++;
	return 0;
}

static void ht_clear(struct ht *t, void (*free_val)(void *))
{
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->slots[i].key)
			continue;
		if (free_val)
			free_val(t->slots[i].val);
		free(t->slots[i].key);
	}
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

/* ---- per-metric state ---------------------------------------------------- */

/* A decoded label set, cached by (masked) raw key. */
struct cache_val {
	bool drop;   /* a decoder filtered it out on purpose */
	char **vals; /* n_series_labels, NULL at the virtual cpu label */
};

/* One output series being assembled during a read. */
struct group {
	char *joined; /* label values, each NUL-terminated, back to back */
	size_t joined_len;
	const char **vals;
	bool dropped;		  /* over the cardinality limit */
	uint64_t value;		  /* counters */
	struct bb_hist_row *rows; /* histograms */
	size_t n_rows, cap_rows;
};

struct mreader {
	const struct bb_metric_conf *m;
	bool hist;
	size_t n_series_labels; /* labels but the bucket one */
	int cpu_label;		/* index of the virtual cpu label, or -1 */
	bool key0_only;		/* no key labels: only u32 key 0 counts (ebpf_exporter) */
	uint32_t *offsets;	/* byte offset of each label in the key */
	uint8_t *key_mask;	/* 0xff where a byte identifies the label set */
	uint32_t max_series;

	/* the bound map */
	int fd; /* -1 when unbound */
	struct bb_map_desc map;
	bool percpu;
	int batch; /* 1 works, -1 does not, 0 not tried yet */
	uint32_t batch_chunk;

	/* scratch, reused across reads */
	uint8_t *keys;
	uint64_t *vals; /* per entry: ncpus values (per-CPU) or 1 */
	size_t cap_entries;
	uint8_t *tok_in, *tok_out, *masked;
	char *scratch; /* n_series_labels * BB_LABEL_MAX decoded values */

	struct ht cache;
	size_t cache_cap;

	/* histograms */
	double *le;
	int64_t *le_raw;
	size_t n_le;
	bool bounds_ok;

	struct bb_metric_stats stats;
	uint64_t last_log_ns;
	uint64_t suppressed;
};

struct bb_reader {
	const struct bb_config *cfg;
	struct bb_decode_ctx *dctx;
	int ncpus;
	bool no_batch;
	struct mreader *metrics;
	size_t n_metrics;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static bool map_is_percpu(uint32_t type)
{
	return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

static bool map_type_supported(uint32_t type)
{
	switch (type) {
	case BPF_MAP_TYPE_HASH:
	case BPF_MAP_TYPE_PERCPU_HASH:
	case BPF_MAP_TYPE_LRU_HASH:
	case BPF_MAP_TYPE_LRU_PERCPU_HASH:
	case BPF_MAP_TYPE_ARRAY:
	case BPF_MAP_TYPE_PERCPU_ARRAY:
		return true;
	default:
		return false;
	}
}

static const char *map_type_name(uint32_t type)
{
	const char *s = libbpf_bpf_map_type_str(type);

	return s ? s : "unknown";
}

static size_t series_labels(const struct bb_metric_conf *m)
{
	if (m->kind == BB_METRIC_HISTOGRAM && m->n_labels > 0)
		return m->n_labels - 1;
	return m->n_labels;
}

/* Index of the label that becomes the virtual cpu label in a per-CPU map, or -1. */
static int virtual_cpu_label(const struct bb_metric_conf *m, bool percpu)
{
	size_t n = series_labels(m);

	if (!percpu || n == 0 || !m->labels[n - 1].name || strcmp(m->labels[n - 1].name, "cpu"))
		return -1;
	return (int)(n - 1);
}

static uint64_t key_bytes_expected(const struct bb_metric_conf *m, int cpu_label)
{
	uint64_t total = 0;

	for (size_t i = 0; i < m->n_labels; i++) {
		if ((int)i == cpu_label)
			continue;
		total += (uint64_t)m->labels[i].size + m->labels[i].padding;
	}
	return total;
}

int bb_reader_check_map(const struct bb_config *cfg, const struct bb_metric_conf *m,
			const struct bb_map_desc *map, char *err, size_t errlen)
{
	const char *path = cfg && cfg->yaml_path ? cfg->yaml_path : "?";
	bool percpu = map_is_percpu(map->type);
	int cpu_label;
	uint64_t want;

	if (!map_type_supported(map->type)) {
		snprintf(err, errlen,
			 "%s:%d:%d: metric %s: map %s is a %s map; metrics read hash, lru_hash, "
			 "array maps and their per-CPU kinds",
			 path, m->pos.line, m->pos.column, m->name, map->name,
			 map_type_name(map->type));
		return -EINVAL;
	}
	if (m->kind == BB_METRIC_HISTOGRAM && m->n_labels == 0) {
		snprintf(err, errlen,
			 "%s:%d:%d: metric %s: a histogram needs at least the bucket label", path,
			 m->pos.line, m->pos.column, m->name);
		return -EINVAL;
	}
	cpu_label = virtual_cpu_label(m, percpu);
	want = key_bytes_expected(m, cpu_label);
	if (want == 0 && map->key_size != sizeof(uint32_t)) {
		snprintf(err, errlen,
			 "%s:%d:%d: metric %s: %s, so it reads u32 key 0 as ebpf_exporter does, "
			 "but map %s has %u-byte keys",
			 path, m->pos.line, m->pos.column, m->name,
			 cpu_label >= 0 ? "its only label is the cpu label of a per-CPU map"
					: "it has no labels",
			 map->name, map->key_size);
		return -EINVAL;
	}
	if (want && want != map->key_size) {
		snprintf(err, errlen,
			 "%s:%d:%d: metric %s: labels add up to %" PRIu64
			 " bytes%s but map %s has %u-byte keys",
			 path, m->pos.line, m->pos.column, m->name, want,
			 cpu_label >= 0 ? " (the cpu label of a per-CPU map takes none)" : "",
			 map->name, map->key_size);
		return -EINVAL;
	}
	if (map->value_size != sizeof(uint64_t)) {
		snprintf(err, errlen,
			 "%s:%d:%d: metric %s: map %s has %u-byte values, expected 8 (a u64%s)",
			 path, m->pos.line, m->pos.column, m->name, map->name, map->value_size,
			 percpu ? " per CPU" : ", or a per-CPU u64");
		return -EINVAL;
	}
	return 0;
}

static void cache_val_free(void *p)
{
	free(p); /* one block, see decode_key() */
}

static void mreader_release(struct mreader *mr)
{
	ht_clear(&mr->cache, cache_val_free);
	free(mr->offsets);
	free(mr->key_mask);
	free(mr->keys);
	free(mr->vals);
	free(mr->tok_in);
	free(mr->tok_out);
	free(mr->masked);
	free(mr->scratch);
	free(mr->le);
	free(mr->le_raw);
}

void bb_reader_free(struct bb_reader *rd)
{
	if (!rd)
		return;
	for (size_t i = 0; i < rd->n_metrics; i++)
		mreader_release(&rd->metrics[i]);
	free(rd->metrics);
	free(rd);
}

struct bb_reader *bb_reader_new(const struct bb_config *cfg, const struct bb_options *opts,
				struct bb_decode_ctx *dctx)
{
	struct bb_reader *rd = calloc(1, sizeof(*rd));
	uint32_t default_max = opts && opts->max_series_per_metric ? opts->max_series_per_metric
								   : BB_DEFAULT_MAX_SERIES;

	if (!rd)
		return NULL;
	rd->cfg = cfg;
	rd->dctx = dctx;
	rd->ncpus = libbpf_num_possible_cpus();
	if (rd->ncpus <= 0) {
		bb_err("cannot count possible CPUs: %s", strerror(-rd->ncpus));
		free(rd);
		return NULL;
	}
	rd->n_metrics = cfg->n_metrics;
	rd->metrics = calloc(cfg->n_metrics ? cfg->n_metrics : 1, sizeof(*rd->metrics));
	if (!rd->metrics) {
		free(rd);
		return NULL;
	}
	for (size_t i = 0; i < cfg->n_metrics; i++) {
		struct mreader *mr = &rd->metrics[i];

		mr->m = &cfg->metrics[i];
		mr->fd = -1;
		mr->cpu_label = -1;
		mr->hist = mr->m->kind == BB_METRIC_HISTOGRAM;
		mr->n_series_labels = series_labels(mr->m);
		mr->max_series = mr->m->max_series ? mr->m->max_series : default_max;
		mr->cache_cap = (size_t)mr->max_series * CACHE_FACTOR;
		mr->batch_chunk = BATCH_CHUNK;
		if (mr->hist) {
			if (bb_hist_bounds(mr->m, &mr->le, &mr->le_raw, &mr->n_le) == 0)
				mr->bounds_ok = true;
			else
				bb_err("%s: metric %s: cannot compute histogram bounds; it reads "
				       "as empty",
				       cfg->name, mr->m->name);
		}
	}
	return rd;
}

int bb_reader_bind(struct bb_reader *rd, size_t i, int map_fd, char *err, size_t errlen)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);
	struct mreader *mr;
	struct bb_map_desc desc;
	uint32_t off = 0;
	int ret;

	if (i >= rd->n_metrics)
		return -EINVAL;
	mr = &rd->metrics[i];
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(map_fd, &info, &len)) {
		ret = -errno;
		snprintf(err, errlen, "metric %s: cannot inspect its map: %s", mr->m->name,
			 strerror(-ret));
		return ret;
	}
	desc.name = mr->m->name;
	desc.type = info.type;
	desc.key_size = info.key_size;
	desc.value_size = info.value_size;
	desc.max_entries = info.max_entries;
	ret = bb_reader_check_map(rd->cfg, mr->m, &desc, err, errlen);
	if (ret)
		return ret;

	free(mr->offsets);
	free(mr->key_mask);
	free(mr->tok_in);
	free(mr->tok_out);
	free(mr->masked);
	free(mr->scratch);
	mr->map = desc;
	mr->percpu = map_is_percpu(desc.type);
	mr->cpu_label = virtual_cpu_label(mr->m, mr->percpu);
	mr->key0_only = key_bytes_expected(mr->m, mr->cpu_label) == 0;
	mr->offsets = calloc(mr->m->n_labels ? mr->m->n_labels : 1, sizeof(*mr->offsets));
	mr->key_mask = calloc(desc.key_size ? desc.key_size : 1, 1);
	/* batch tokens are a bucket index for hash maps, a key for arrays */
	mr->tok_in = calloc(desc.key_size + 8, 1);
	mr->tok_out = calloc(desc.key_size + 8, 1);
	mr->masked = calloc(desc.key_size ? desc.key_size : 1, 1);
	mr->scratch = calloc(mr->n_series_labels ? mr->n_series_labels : 1, BB_LABEL_MAX);
	if (!mr->offsets || !mr->key_mask || !mr->tok_in || !mr->tok_out || !mr->masked ||
	    !mr->scratch) {
		snprintf(err, errlen, "metric %s: out of memory", mr->m->name);
		return -ENOMEM;
	}
	for (size_t l = 0; l < mr->m->n_labels; l++) {
		const struct bb_label_conf *lab = &mr->m->labels[l];
		bool identifies = !(mr->hist && l == mr->m->n_labels - 1);

		if ((int)l == mr->cpu_label) {
			mr->offsets[l] = UINT32_MAX;
			continue;
		}
		mr->offsets[l] = off;
		if (identifies)
			memset(mr->key_mask + off, 0xff, lab->size);
		off += lab->size + lab->padding;
	}
	mr->fd = map_fd;
	mr->batch = rd->no_batch ? -1 : 0;
	ht_clear(&mr->cache, cache_val_free);
	return 0;
}

void bb_reader_disable_batch(struct bb_reader *rd)
{
	rd->no_batch = true;
	for (size_t i = 0; i < rd->n_metrics; i++)
		rd->metrics[i].batch = -1;
}

size_t bb_reader_n_metrics(const struct bb_reader *rd)
{
	return rd ? rd->n_metrics : 0;
}

const struct bb_metric_stats *bb_reader_stats(const struct bb_reader *rd, size_t i)
{
	return rd && i < rd->n_metrics ? &rd->metrics[i].stats : NULL;
}

/* Log at most once a minute per metric; say how many were held back. */
static void __attribute__((format(printf, 4, 5)))
metric_log(struct bb_reader *rd, struct mreader *mr, enum bb_log_level level, const char *fmt, ...)
{
	uint64_t now = now_ns();
	char msg[768];
	va_list ap;

	if (mr->last_log_ns && now - mr->last_log_ns < LOG_INTERVAL_NS) {
		mr->suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (mr->suppressed)
		bb_log(level, "%s: metric %s: %s (%" PRIu64 " similar messages suppressed)",
		       rd->cfg->name, mr->m->name, msg, mr->suppressed);
	else
		bb_log(level, "%s: metric %s: %s", rd->cfg->name, mr->m->name, msg);
	mr->last_log_ns = now ? now : 1;
	mr->suppressed = 0;
}

/* ---- collecting entries ---------------------------------------------------- */

static size_t value_slots(const struct bb_reader *rd, const struct mreader *mr)
{
	return mr->percpu ? (size_t)rd->ncpus : 1;
}

static int ensure_entries(const struct bb_reader *rd, struct mreader *mr, size_t need)
{
	size_t ncap = mr->cap_entries ? mr->cap_entries : 64;
	size_t slots = value_slots(rd, mr), ks = mr->map.key_size ? mr->map.key_size : 1;
	uint8_t *keys;
	uint64_t *vals;

	if (need <= mr->cap_entries)
		return 0;
	while (ncap < need)
		ncap *= 2;
	keys = realloc(mr->keys, ncap * ks);
	if (!keys)
		return -ENOMEM;
	mr->keys = keys;
	vals = realloc(mr->vals, ncap * slots * sizeof(uint64_t));
	if (!vals)
		return -ENOMEM;
	mr->vals = vals;
	/* The kernel fills these; zeroing them keeps valgrind's view of the bpf()
	 * syscall (which it cannot see into) free of false alarms. */
	memset(keys + mr->cap_entries * ks, 0, (ncap - mr->cap_entries) * ks);
	memset(vals + mr->cap_entries * slots, 0,
	       (ncap - mr->cap_entries) * slots * sizeof(uint64_t));
	mr->cap_entries = ncap;
	return 0;
}

static bool batch_unsupported(int err)
{
	return err == -EINVAL || err == -ENOTSUP || err == -EOPNOTSUPP || err == -ENOSYS;
}

/* All entries via batch lookups: 0 and *n_out, -ENOTSUP when the kernel has no
 * batch ops for this map, or another -errno. */
static int collect_batch(const struct bb_reader *rd, struct mreader *mr, size_t *n_out)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	size_t n = 0, limit = (size_t)mr->map.max_entries * 2 + 64;
	size_t slots = value_slots(rd, mr);
	bool first = true;
	int ret;

	for (;;) {
		uint32_t count = mr->batch_chunk;
		uint8_t *tmp;

		ret = ensure_entries(rd, mr, n + count);
		if (ret)
			return ret;
		ret = bpf_map_lookup_batch(mr->fd, first ? NULL : mr->tok_in, mr->tok_out,
					   mr->keys + n * mr->map.key_size, mr->vals + n * slots,
					   &count, &opts);
		if (ret < 0 && ret != -ENOENT) {
			if (first && n == 0 && batch_unsupported(ret))
				return -ENOTSUP;
			if (ret == -ENOSPC && mr->batch_chunk < (1U << 20)) {
				/* one hash bucket holds more than we asked for */
				mr->batch_chunk *= 2;
				continue;
			}
			return ret;
		}
		if (count > mr->batch_chunk)
			return -EIO;
		n += count;
		if (ret == -ENOENT || n > limit)
			break;
		tmp = mr->tok_in;
		mr->tok_in = mr->tok_out;
		mr->tok_out = tmp;
		first = false;
	}
	*n_out = n;
	return 0;
}

static int collect_iterate(const struct bb_reader *rd, struct mreader *mr, size_t *n_out)
{
	size_t n = 0, steps = 0, limit = (size_t)mr->map.max_entries * 2 + 64;
	size_t ks = mr->map.key_size, slots = value_slots(rd, mr);
	struct ht seen = { 0 };
	const void *prev = NULL;
	int ret = 0;

	for (;;) {
		uint8_t *key;
		uint64_t h;

		if (++steps > limit)
			break; /* a map churning under us; what we have is one pass */
		ret = ensure_entries(rd, mr, n + 1);
		if (ret)
			break;
		key = mr->keys + n * ks;
		if (bpf_map_get_next_key(mr->fd, prev, key)) {
			ret = errno == ENOENT ? 0 : -errno;
			break;
		}
		/* hash maps restart from the top when PREV was deleted meanwhile */
		h = hash_bytes(key, ks);
		memcpy(mr->masked, key, ks);
		prev = mr->masked;
		if (ht_get(&seen, key, ks, h))
			continue;
		if (bpf_map_lookup_elem(mr->fd, key, mr->vals + n * slots)) {
			if (errno == ENOENT)
				continue;
			ret = -errno;
			break;
		}
		ret = ht_put(&seen, key, ks, h, (void *)1);
		if (ret)
			break;
		n++;
	}
	ht_clear(&seen, NULL);
	*n_out = n;
	return ret;
}

static int collect(struct bb_reader *rd, struct mreader *mr, size_t *n)
{
	int ret;

	*n = 0;
	if (mr->batch >= 0) {
		ret = collect_batch(rd, mr, n);
		if (ret == 0) {
			mr->batch = 1;
			return 0;
		}
		if (ret != -ENOTSUP || mr->batch == 1)
			return ret;
		bb_debug("%s: map %s: no batch lookups on this kernel (%s); iterating keys",
			 rd->cfg->name, mr->map.name, map_type_name(mr->map.type));
		mr->batch = -1;
	}
	return collect_iterate(rd, mr, n);
}

/* ---- decoding and grouping ------------------------------------------------ */

static void group_free(void *p)
{
	struct group *g = p;

	if (!g)
		return;
	free(g->joined);
	free(g->vals);
	free(g->rows);
	free(g);
}

/*
 * The decoded series labels of KEY, from the cache or freshly decoded. Sets
 * *owned when the entry could not be cached (the caller frees it). NULL on a
 * decode error (counted and logged) or, with *nomem, on allocation failure.
 */
static struct cache_val *decode_key(struct bb_reader *rd, struct mreader *mr, const uint8_t *key,
				    bool *owned, bool *nomem)
{
	size_t ks = mr->map.key_size, n = mr->n_series_labels, total = 0;
	struct cache_val *cv;
	char *p;
	uint64_t h;
	bool drop = false;

	*owned = false;
	for (size_t i = 0; i < ks; i++)
		mr->masked[i] = key[i] & mr->key_mask[i];
	h = hash_bytes(mr->masked, ks);
	cv = ht_get(&mr->cache, mr->masked, ks, h);
	if (cv)
		return cv;

	for (size_t l = 0; l < n && !drop; l++) {
		const struct bb_label_conf *lab = &mr->m->labels[l];
		char *out = mr->scratch + l * BB_LABEL_MAX, err[256] = "";
		enum bb_decode_status st;

		out[0] = '\0';
		if ((int)l == mr->cpu_label)
			continue;
		st = bb_decode_label(rd->dctx, lab, key + mr->offsets[l], out, BB_LABEL_MAX, err,
				     sizeof(err));
		if (st == BB_DECODE_DROP) {
			drop = true;
		} else if (st != BB_DECODE_OK) {
			mr->stats.decode_errors++;
			metric_log(rd, mr, BB_LOG_WARN, "label %s: %s; series skipped", lab->name,
				   err[0] ? err : "decode failed");
			return NULL;
		}
		out[BB_LABEL_MAX - 1] = '\0';
		total += strlen(out) + 1;
	}
	if (drop)
		total = 0;

	/* One block: the entry, its pointers, then the strings. */
	cv = malloc(sizeof(*cv) + (n ? n : 1) * sizeof(char *) + total);
	if (!cv) {
		*nomem = true;
		return NULL;
	}
	cv->drop = drop;
	cv->vals = (char **)(cv + 1);
	p = (char *)(cv->vals + (n ? n : 1));
	for (size_t l = 0; l < n; l++) {
		const char *src = mr->scratch + l * BB_LABEL_MAX;
		size_t len;

		if (drop || (int)l == mr->cpu_label) {
			cv->vals[l] = NULL;
			continue;
		}
		len = strlen(src) + 1;
		memcpy(p, src, len);
		cv->vals[l] = p;
		p += len;
	}
	/* Bounded: once full, entries are not kept until the next read empties it. */
	if (mr->cache.n >= mr->cache_cap || ht_put(&mr->cache, mr->masked, ks, h, cv))
		*owned = true;
	return cv;
}

static int decode_bucket(struct bb_reader *rd, struct mreader *mr, const uint8_t *key,
			 uint64_t *bucket)
{
	size_t b = mr->m->n_labels - 1;
	const struct bb_label_conf *lab = &mr->m->labels[b];
	const uint8_t *raw = key + mr->offsets[b];
	char out[BB_LABEL_MAX], err[256] = "", *end;
	enum bb_decode_status st;

	if (lab->n_decoders == 0) {
		uint64_t v = 0;

		switch (lab->size) {
		case 1:
		case 2:
		case 4:
		case 8:
			for (uint32_t i = 0; i < lab->size; i++)
				v |= (uint64_t)raw[i] << (8 * i);
			*bucket = v;
			return 0;
		default:
			mr->stats.decode_errors++;
			metric_log(rd, mr, BB_LOG_WARN,
				   "bucket label %s: size %u is not 1, 2, 4 or 8 bytes", lab->name,
				   lab->size);
			return -EINVAL;
		}
	}
	st = bb_decode_label(rd->dctx, lab, raw, out, sizeof(out), err, sizeof(err));
	if (st == BB_DECODE_DROP)
		return 1;
	if (st != BB_DECODE_OK) {
		mr->stats.decode_errors++;
		metric_log(rd, mr, BB_LOG_WARN, "bucket label %s: %s", lab->name,
			   err[0] ? err : "decode failed");
		return -EINVAL;
	}
	errno = 0;
	*bucket = strtoull(out, &end, 0);
	if (errno || end == out || *end || out[0] == '-') {
		mr->stats.decode_errors++;
		metric_log(rd, mr, BB_LOG_WARN,
			   "bucket label %s: \"%s\" is not an unsigned integer", lab->name, out);
		return -EINVAL;
	}
	return 0;
}

struct grouping {
	struct ht by_labels;
	struct group **kept; /* in creation order */
	size_t n_kept, cap_kept;
	char *buf; /* scratch for joined label values */
	size_t cap_buf;
};

static struct group *group_for(struct mreader *mr, struct grouping *gr, char *const *vals,
			       const char *cpu, bool *nomem)
{
	size_t n = mr->n_series_labels, len = 0;
	struct group *g;
	uint64_t h;
	char *p;

	for (size_t l = 0; l < n; l++)
		len += strlen((int)l == mr->cpu_label ? cpu : vals[l]) + 1;
	if (len > gr->cap_buf) {
		char *b = realloc(gr->buf, len * 2);

		if (!b) {
			*nomem = true;
			return NULL;
		}
		gr->buf = b;
		gr->cap_buf = len * 2;
	}
	p = gr->buf;
	for (size_t l = 0; l < n; l++) {
		const char *v = (int)l == mr->cpu_label ? cpu : vals[l];
		size_t vl = strlen(v) + 1;

		memcpy(p, v, vl);
		p += vl;
	}
	h = hash_bytes(gr->buf, len);
	g = ht_get(&gr->by_labels, gr->buf, len, h);
	if (g)
		return g;

	g = calloc(1, sizeof(*g));
	if (!g) {
		*nomem = true;
		return NULL;
	}
	if (gr->n_kept >= mr->max_series) {
		g->dropped = true;
		mr->stats.series_dropped++;
	} else {
		g->joined = malloc(len ? len : 1);
		g->vals = calloc(n ? n : 1, sizeof(char *));
		if (!g->joined || !g->vals) {
			group_free(g);
			*nomem = true;
			return NULL;
		}
		memcpy(g->joined, gr->buf, len);
		g->joined_len = len;
		p = g->joined;
		for (size_t l = 0; l < n; l++) {
			g->vals[l] = p;
			p += strlen(p) + 1;
		}
		if (gr->n_kept == gr->cap_kept) {
			size_t nc = gr->cap_kept ? gr->cap_kept * 2 : 32;
			struct group **k = realloc(gr->kept, nc * sizeof(*k));

			if (!k) {
				group_free(g);
				*nomem = true;
				return NULL;
			}
			gr->kept = k;
			gr->cap_kept = nc;
		}
		gr->kept[gr->n_kept++] = g;
	}
	if (ht_put(&gr->by_labels, gr->buf, len, h, g)) {
		if (!g->dropped)
			gr->n_kept--;
		group_free(g);
		*nomem = true;
		return NULL;
	}
	return g;
}

static int group_add_row(struct group *g, uint64_t key, uint64_t value)
{
	if (g->n_rows == g->cap_rows) {
		size_t nc = g->cap_rows ? g->cap_rows * 2 : 16;
		struct bb_hist_row *r = realloc(g->rows, nc * sizeof(*r));

		if (!r)
			return -ENOMEM;
		g->rows = r;
		g->cap_rows = nc;
	}
	g->rows[g->n_rows].key = key;
	g->rows[g->n_rows].value = value;
	g->n_rows++;
	return 0;
}

static int cmp_group(const void *a, const void *b)
{
	const struct group *ga = *(const struct group *const *)a;
	const struct group *gb = *(const struct group *const *)b;
	size_t n = ga->joined_len < gb->joined_len ? ga->joined_len : gb->joined_len;
	int c = memcmp(ga->joined, gb->joined, n);

	if (c)
		return c;
	return ga->joined_len < gb->joined_len ? -1 : ga->joined_len > gb->joined_len;
}

static struct bb_family *make_family(struct mreader *mr, struct bb_snapshot *snap)
{
	const struct bb_metric_conf *m = mr->m;
	const char **names = calloc(mr->n_series_labels + 1, sizeof(*names));
	struct bb_family *fam;

	if (!names)
		return NULL;
	for (size_t l = 0; l < mr->n_series_labels; l++)
		names[l] = m->labels[l].name;
	fam = bb_snapshot_family(snap, m->name, m->help ? m->help : "", m->kind, names,
				 mr->n_series_labels);
	free(names);
	if (!fam)
		return NULL;
	if (mr->hist && mr->bounds_ok && fam->n_buckets == 0 && !fam->le &&
	    bb_family_set_buckets(fam, mr->le, mr->le_raw, mr->n_le, m->bucket_multiplier))
		return NULL;
	return fam;
}

static bool all_zero(const uint64_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i])
			return false;
	return true;
}

/* Read one metric into SNAP. Returns 0 or -errno (map read failure, ENOMEM). */
static int read_metric(struct bb_reader *rd, struct mreader *mr, struct bb_snapshot *snap,
		       size_t *series_out)
{
	struct grouping gr = { 0 };
	struct bb_family *fam;
	size_t n = 0, slots, ks;
	bool nomem = false;
	char cpu_buf[16];
	int ret = 0;

	*series_out = 0;
	fam = make_family(mr, snap);
	if (!fam) {
		metric_log(rd, mr, BB_LOG_ERR, "cannot add its family to the snapshot: %s",
			   strerror(errno ? errno : ENOMEM));
		return -(errno ? errno : ENOMEM);
	}
	mr->stats.series_last = 0;
	if (mr->fd < 0 || (mr->hist && !mr->bounds_ok))
		return 0;

	/* Evict between reads, never during one: rows point into the cache. */
	if (mr->cache.n >= mr->cache_cap) {
		mr->stats.cache_evictions += mr->cache.n;
		bb_debug("%s: metric %s: label cache full (%zu entries), emptied", rd->cfg->name,
			 mr->m->name, mr->cache.n);
		ht_clear(&mr->cache, cache_val_free);
	}

	ret = collect(rd, mr, &n);
	if (ret) {
		metric_log(rd, mr, BB_LOG_ERR, "reading map %s failed: %s", mr->map.name,
			   strerror(-ret));
		return ret;
	}

	bb_debug("%s: map %s: %zu entries", rd->cfg->name, mr->map.name, n);
	slots = value_slots(rd, mr);
	ks = mr->map.key_size;
	for (size_t i = 0; i < n && !nomem; i++) {
		const uint8_t *key = mr->keys + i * ks;
		const uint64_t *v = mr->vals + i * slots;
		uint64_t bucket = 0, sum = 0;
		struct cache_val *cv;
		bool owned;

		if (mr->key0_only && memcmp(key, &(uint32_t){ 0 }, sizeof(uint32_t)))
			continue;
		if (mr->m->skip_zero && all_zero(v, slots))
			continue;
		cv = decode_key(rd, mr, key, &owned, &nomem);
		if (!cv)
			continue;
		if (cv->drop) {
			mr->stats.filtered++;
			goto next;
		}
		if (mr->hist) {
			int b = decode_bucket(rd, mr, key, &bucket);

			if (b > 0)
				mr->stats.filtered++;
			if (b)
				goto next;
		}
		if (mr->cpu_label >= 0) {
			for (int c = 0; c < rd->ncpus && !nomem; c++) {
				struct group *g;

				snprintf(cpu_buf, sizeof(cpu_buf), "%d", c);
				g = group_for(mr, &gr, cv->vals, cpu_buf, &nomem);
				if (!g || g->dropped)
					continue;
				if (mr->hist)
					nomem = group_add_row(g, bucket, v[c]) != 0;
				else
					g->value += v[c];
			}
		} else {
			struct group *g;

			for (size_t c = 0; c < slots; c++)
				sum += v[c];
			g = group_for(mr, &gr, cv->vals, NULL, &nomem);
			if (g && !g->dropped) {
				if (mr->hist)
					nomem = group_add_row(g, bucket, sum) != 0;
				else
					g->value += sum;
			}
		}
	next:
		if (owned)
			cache_val_free(cv);
	}

	if (!nomem && gr.n_kept > 1)
		qsort(gr.kept, gr.n_kept, sizeof(*gr.kept), cmp_group);
	for (size_t i = 0; i < gr.n_kept && !nomem; i++) {
		struct group *g = gr.kept[i];
		struct bb_series *s = bb_family_add_series(fam, g->vals);

		if (!s) {
			nomem = true;
			break;
		}
		(*series_out)++;
		if (!mr->hist) {
			s->value = g->value;
			continue;
		}
		size_t odd = bb_hist_fill(mr->m, fam, g->rows, g->n_rows, s);

		if (odd) {
			mr->stats.decode_errors += odd;
			metric_log(rd, mr, BB_LOG_WARN,
				   "%zu bucket keys match no bucket of the config; counted in +Inf",
				   odd);
		}
	}
	mr->stats.series_last = *series_out;
	ht_clear(&gr.by_labels, group_free);
	free(gr.kept);
	free(gr.buf);
	if (nomem) {
		metric_log(rd, mr, BB_LOG_ERR, "out of memory; this read is incomplete");
		return -ENOMEM;
	}
	return 0;
}

int bb_reader_read(struct bb_reader *rd, struct bb_snapshot *snap, struct bb_read_result *res)
{
	memset(res, 0, sizeof(*res));
	for (size_t i = 0; i < rd->n_metrics; i++) {
		size_t series = 0;
		int ret = read_metric(rd, &rd->metrics[i], snap, &series);

		res->series += series;
		if (ret) {
			res->read_errors++;
			if (!res->first_error)
				res->first_error = ret;
		}
	}
	return res->first_error;
}
