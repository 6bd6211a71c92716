/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "hist.h"
#include "log.h"
#include "reader.h"
#include "store.h"

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

struct mreader {
	const struct bb_metric_conf *m;
	bool hist;
	size_t n_series_labels; /* labels but the bucket one */
	int cpu_label;		/* index of the virtual cpu label, or -1 */
	bool key0_only;		/* no key labels: only u32 key 0 counts (ebpf_exporter) */
	uint32_t *offsets;	/* byte offset of each label in the key */

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
	uint8_t *tok_in, *tok_out, *prev_key;
	/* flat_index: the keys the store sees, rebuilt from the slot numbers */
	uint32_t flat_slots; /* bucket_max + 2; 0 when the metric is not flat */
	size_t flat_key_size;
	uint8_t *flat_keys;
	size_t cap_flat;
	size_t flat_in_order; /* flat_keys[i] is slot i's key for i below this */

	struct bb_store *store; /* NULL when the histogram's bounds are unusable */

	uint64_t read_failures;
	uint64_t last_log_ns;
	uint64_t suppressed;
};

struct bb_reader {
	const struct bb_config *cfg;
	struct bb_decode_ctx *dctx;
	int ncpus;
	bool no_batch;
	bool release_buffers; /* bb_options.release_read_buffers */
	struct mreader *metrics;
	size_t n_metrics;
	double quantiles[BB_MAX_QUANTILES];
	size_t n_quantiles;
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

/* The slots of one series under flat_index: buckets 0..bucket_max, then the sum. */
static uint32_t flat_slots(const struct bb_metric_conf *m)
{
	return (uint32_t)m->bucket_max + 2;
}

/* Does an integer label of SIZE bytes hold V? */
static bool fits_label(uint64_t v, uint32_t size)
{
	return size >= 8 || v < (1ULL << (size * 8));
}

/* flat_index (config.c checked the labels): an array with u32 keys and u64
 * values whose slot numbers split into labels that hold them. */
static int check_flat_map(const char *path, const struct bb_metric_conf *m,
			  const struct bb_map_desc *map, char *err, size_t errlen)
{
	uint32_t slots = flat_slots(m);

	if (map->type != BPF_MAP_TYPE_ARRAY && map->type != BPF_MAP_TYPE_PERCPU_ARRAY) {
		snprintf(err, errlen,
			 "%s:%d:%d: metric %s: flat_index: true expects an array or percpu_array "
			 "map, but map %s is a %s map",
			 path, m->pos.line, m->pos.column, m->name, map->name,
			 map_type_name(map->type));
		return -EINVAL;
	}
	if (map->key_size != sizeof(uint32_t) || map->value_size != sizeof(uint64_t)) {
		snprintf(err, errlen,
			 "%s:%d:%d: metric %s: flat_index: true expects u32 keys and u64 values, "
			 "but map %s has %u-byte keys and %u-byte values",
			 path, m->pos.line, m->pos.column, m->name, map->name, map->key_size,
			 map->value_size);
		return -EINVAL;
	}
	if (map->max_entries % slots) {
		snprintf(err, errlen,
			 "%s:%d:%d: metric %s: flat_index: true expects map %s to hold whole "
			 "series of bucket_max + 2 = %u slots, but it has %u entries",
			 path, m->pos.line, m->pos.column, m->name, map->name, slots,
			 map->max_entries);
		return -EINVAL;
	}
	if (!fits_label(map->max_entries / slots - 1, m->labels[0].size)) {
		snprintf(err, errlen,
			 "%s:%d:%d: metric %s: flat_index: map %s holds %u series, more than "
			 "label %s (%u bytes) can number",
			 path, m->pos.line, m->pos.column, m->name, map->name,
			 map->max_entries / slots, m->labels[0].name, m->labels[0].size);
		return -EINVAL;
	}
	if (!fits_label(slots - 1, m->labels[1].size)) {
		snprintf(err, errlen,
			 "%s:%d:%d: metric %s: flat_index: bucket label %s (%u bytes) cannot hold "
			 "bucket key %u",
			 path, m->pos.line, m->pos.column, m->name, m->labels[1].name,
			 m->labels[1].size, slots - 1);
		return -EINVAL;
	}
	return 0;
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
	if (m->flat_index)
		return check_flat_map(path, m, map, err, errlen);
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

static void mreader_release(struct mreader *mr)
{
	bb_store_free(mr->store);
	free(mr->offsets);
	free(mr->keys);
	free(mr->vals);
	free(mr->tok_in);
	free(mr->tok_out);
	free(mr->prev_key);
	free(mr->flat_keys);
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
	rd->release_buffers = opts && opts->release_read_buffers;
	rd->ncpus = libbpf_num_possible_cpus();
	if (rd->ncpus <= 0) {
		bb_err("cannot count possible CPUs: %s", bb_strerror(-rd->ncpus));
		free(rd);
		return NULL;
	}
	rd->n_metrics = cfg->n_metrics;
	rd->metrics = calloc(cfg->n_metrics ? cfg->n_metrics : 1, sizeof(*rd->metrics));
	if (!rd->metrics) {
		free(rd);
		return NULL;
	}
	if (opts && opts->n_quantiles && opts->n_quantiles <= BB_MAX_QUANTILES) {
		memcpy(rd->quantiles, opts->quantiles, opts->n_quantiles * sizeof(double));
		rd->n_quantiles = opts->n_quantiles;
	} else {
		static const double defaults[] = { 0.5, 0.9, 0.99 };

		memcpy(rd->quantiles, defaults, sizeof(defaults));
		rd->n_quantiles = 3;
	}
	for (size_t i = 0; i < cfg->n_metrics; i++) {
		struct mreader *mr = &rd->metrics[i];
		struct bb_store_params sp = {
			.config_name = cfg->name,
			.retire_after = opts && opts->retire_after_reads ? opts->retire_after_reads
									 : BB_DEFAULT_RETIRE_AFTER,
			.quantiles = rd->quantiles,
			.n_quantiles = rd->n_quantiles,
			.keep_blocks = opts ? opts->snapshot_blocks : 0,
		};
		double *le = NULL;
		int64_t *le_raw = NULL;
		size_t n_le = 0;

		mr->m = &cfg->metrics[i];
		mr->fd = -1;
		mr->cpu_label = -1;
		mr->hist = mr->m->kind == BB_METRIC_HISTOGRAM;
		mr->n_series_labels = series_labels(mr->m);
		mr->batch_chunk = BATCH_CHUNK;
		sp.max_series = mr->m->max_series ? mr->m->max_series : default_max;
		if (mr->hist) {
			if (bb_hist_bounds(mr->m, &le, &le_raw, &n_le) == 0) {
				sp.bounds =
					bb_bounds_new(le, le_raw, n_le, mr->m->bucket_multiplier);
			} else {
				bb_err("%s: metric %s: cannot compute histogram bounds; it reads "
				       "as empty",
				       cfg->name, mr->m->name);
			}
			free(le);
			free(le_raw);
			if (!sp.bounds)
				continue;
		}
		mr->store = bb_store_new(mr->m, &sp, dctx);
		bb_bounds_unref(sp.bounds);
		if (!mr->store) {
			bb_reader_free(rd);
			return NULL;
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
			 bb_strerror(-ret));
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
	free(mr->tok_in);
	free(mr->tok_out);
	free(mr->prev_key);
	/* Sized for the old map's keys and values: start over. */
	free(mr->keys);
	free(mr->vals);
	mr->keys = NULL;
	mr->vals = NULL;
	mr->cap_entries = 0;
	mr->fd = -1;
	mr->map = desc;
	mr->percpu = map_is_percpu(desc.type);
	mr->cpu_label = mr->m->flat_index ? -1 : virtual_cpu_label(mr->m, mr->percpu);
	mr->key0_only = key_bytes_expected(mr->m, mr->cpu_label) == 0;
	free(mr->flat_keys);
	mr->flat_keys = NULL;
	mr->cap_flat = 0;
	mr->flat_in_order = 0;
	mr->flat_slots = mr->m->flat_index ? flat_slots(mr->m) : 0;
	mr->flat_key_size = mr->flat_slots ? key_bytes_expected(mr->m, -1) : 0;
	mr->offsets = calloc(mr->m->n_labels ? mr->m->n_labels : 1, sizeof(*mr->offsets));
	/* batch tokens are a bucket index for hash maps, a key for arrays */
	mr->tok_in = calloc(desc.key_size + 8, 1);
	mr->tok_out = calloc(desc.key_size + 8, 1);
	mr->prev_key = calloc(desc.key_size ? desc.key_size : 1, 1);
	if (!mr->offsets || !mr->tok_in || !mr->tok_out || !mr->prev_key) {
		snprintf(err, errlen, "metric %s: out of memory", mr->m->name);
		return -ENOMEM;
	}
	for (size_t l = 0; l < mr->m->n_labels; l++) {
		const struct bb_label_conf *lab = &mr->m->labels[l];

		if ((int)l == mr->cpu_label) {
			mr->offsets[l] = UINT32_MAX;
			continue;
		}
		mr->offsets[l] = off;
		off += lab->size + lab->padding;
	}
	if (mr->store) {
		struct bb_store_layout lay = {
			.key_size = mr->flat_slots ? mr->flat_key_size : desc.key_size,
			.offsets = mr->offsets,
			.cpu_label = mr->cpu_label,
			.ncpus = rd->ncpus,
			.array = desc.type == BPF_MAP_TYPE_ARRAY ||
				 desc.type == BPF_MAP_TYPE_PERCPU_ARRAY,
		};

		ret = bb_store_bind(mr->store, &lay);
		if (ret) {
			snprintf(err, errlen, "metric %s: out of memory", mr->m->name);
			return ret;
		}
	}
	mr->fd = map_fd;
	mr->batch = rd->no_batch ? -1 : 0;
	return 0;
}

void bb_reader_disable_batch(struct bb_reader *rd)
{
	rd->no_batch = true;
	for (size_t i = 0; i < rd->n_metrics; i++)
		rd->metrics[i].batch = -1;
}

static bool same_series_shape(const struct bb_metric_conf *a, const struct bb_metric_conf *b)
{
	if (a->kind != b->kind || strcmp(a->name, b->name) != 0 || a->n_labels != b->n_labels)
		return false;
	for (size_t l = 0; l < a->n_labels; l++)
		if (strcmp(a->labels[l].name, b->labels[l].name) != 0)
			return false;
	return true;
}

int bb_reader_inherit(struct bb_reader *rd, const struct bb_reader *old)
{
	int ret = 0;

	for (size_t i = 0; old && i < rd->n_metrics; i++) {
		struct mreader *mr = &rd->metrics[i];

		for (size_t j = 0; mr->store && j < old->n_metrics; j++) {
			const struct mreader *om = &old->metrics[j];

			if (!om->store || !same_series_shape(mr->m, om->m))
				continue;
			if (bb_store_inherit(mr->store, om->store))
				ret = -ENOMEM;
			break;
		}
	}
	return ret;
}

size_t bb_reader_n_metrics(const struct bb_reader *rd)
{
	return rd ? rd->n_metrics : 0;
}

const struct bb_metric_stats *bb_reader_stats(const struct bb_reader *rd, size_t i)
{
	static const struct bb_metric_stats none;

	if (!rd || i >= rd->n_metrics)
		return NULL;
	return rd->metrics[i].store ? bb_store_stats(rd->metrics[i].store) : &none;
}

size_t bb_reader_memory(const struct bb_reader *rd)
{
	size_t bytes = 0;

	for (size_t i = 0; rd && i < rd->n_metrics; i++) {
		const struct mreader *mr = &rd->metrics[i];

		bytes += mr->cap_entries *
				 (mr->map.key_size + (mr->percpu ? (size_t)rd->ncpus : 1) * 8) +
			 mr->cap_flat * mr->flat_key_size;
		if (mr->store)
			bytes += bb_store_memory(mr->store);
	}
	return bytes;
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

/* The kernel's internal ENOTSUPP, which bpf() lets out when a map type has no
 * batch ops (BPF_DO_BATCH; seen for per-CPU arrays on Debian 11's 5.10). */
#define BB_KERNEL_ENOTSUPP 524

static bool batch_unsupported(int err)
{
	return err == -EINVAL || err == -ENOTSUP || err == -EOPNOTSUPP || err == -ENOSYS ||
	       err == -BB_KERNEL_ENOTSUPP;
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
		memcpy(mr->prev_key, key, ks);
		prev = mr->prev_key;
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

/* ---- one metric ------------------------------------------------------------ */

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
	return fam;
}

/* With no key labels only u32 key 0 is a series (ebpf_exporter): keep, in
 * place, only that row. (An array slot that was never non-zero is not a
 * series either: the store's rule, bb_store_layout.array.) */
static size_t keep_key0_row(struct mreader *mr, size_t n, size_t slots)
{
	size_t ks = mr->map.key_size;

	for (size_t i = 0; i < n; i++) {
		if (memcmp(mr->keys + i * ks, &(uint32_t){ 0 }, sizeof(uint32_t)))
			continue;
		if (i) {
			memcpy(mr->keys, mr->keys + i * ks, ks);
			memcpy(mr->vals, mr->vals + i * slots, slots * sizeof(uint64_t));
		}
		return 1;
	}
	return 0;
}

/* Write V into the SIZE-byte integer at P, in the host's byte order (as a
 * BPF program would have written the key). */
static void put_uint(uint8_t *p, uint32_t size, uint64_t v)
{
	switch (size) {
	case 1:
		*p = (uint8_t)v;
		break;
	case 2:
		memcpy(p, &(uint16_t){ (uint16_t)v }, 2);
		break;
	case 4:
		memcpy(p, &(uint32_t){ (uint32_t)v }, 4);
		break;
	default:
		memcpy(p, &v, 8);
		break;
	}
}

/* Write slot SLOT's key (label = slot / slots, bucket = slot % slots, the
 * paddings zero) at flat_keys entry I. */
static void put_flat_key(struct mreader *mr, size_t i, uint32_t slot)
{
	const struct bb_metric_conf *m = mr->m;
	uint8_t *key = mr->flat_keys + i * mr->flat_key_size;

	memset(key, 0, mr->flat_key_size);
	put_uint(key + mr->offsets[0], m->labels[0].size, slot / mr->flat_slots);
	put_uint(key + mr->offsets[1], m->labels[1].size, slot % mr->flat_slots);
}

/*
 * flat_index: the key each of the read's N slots stands for, in
 * mr->flat_keys. An array's pass returns its slots 0..n-1 in order, so the
 * keys are written once and reused by every later read; a read in another
 * order (none is known) has them all rewritten.
 */
static int rebuild_flat_keys(struct mreader *mr, size_t n)
{
	bool in_order = true;

	for (size_t i = 0; i < n && in_order; i++) {
		uint32_t slot;

		memcpy(&slot, mr->keys + i * sizeof(slot), sizeof(slot));
		in_order = slot == i;
	}
	if (in_order && n <= mr->flat_in_order)
		return 0;
	if (n > mr->cap_flat) {
		uint8_t *k = realloc(mr->flat_keys, n * mr->flat_key_size);

		if (!k)
			return -ENOMEM;
		mr->flat_keys = k;
		mr->cap_flat = n;
	}
	if (!in_order)
		mr->flat_in_order = 0;
	for (size_t i = in_order ? mr->flat_in_order : 0; i < n; i++) {
		uint32_t slot;

		memcpy(&slot, mr->keys + i * sizeof(slot), sizeof(slot));
		put_flat_key(mr, i, slot);
	}
	if (in_order)
		mr->flat_in_order = n;
	return 0;
}

/* Read one metric into SNAP. Returns 0 or -errno (map read failure, ENOMEM). */
static int read_metric(struct bb_reader *rd, struct mreader *mr, struct bb_snapshot *snap,
		       size_t *series_out)
{
	struct bb_family *fam;
	size_t n = 0, slots;
	long written;
	int ret = 0;

	*series_out = 0;
	fam = make_family(mr, snap);
	if (!fam) {
		metric_log(rd, mr, BB_LOG_ERR, "cannot add its family to the snapshot: %s",
			   bb_strerror(errno ? errno : ENOMEM));
		return -(errno ? errno : ENOMEM);
	}
	if (mr->fd < 0 || !mr->store)
		return 0;

	ret = collect(rd, mr, &n);
	if (ret) {
		metric_log(rd, mr, BB_LOG_ERR, "reading map %s failed: %s", mr->map.name,
			   bb_strerror(-ret));
		return ret;
	}
	bb_debug("%s: map %s: %zu entries", rd->cfg->name, mr->map.name, n);
	slots = value_slots(rd, mr);
	bb_store_begin(mr->store);
	if (mr->key0_only)
		n = keep_key0_row(mr, n, slots);
	if (mr->flat_slots)
		ret = rebuild_flat_keys(mr, n);
	if (!ret)
		ret = bb_store_add_many(mr->store, mr->flat_slots ? mr->flat_keys : mr->keys,
					mr->vals, n, slots);
	written = bb_store_end(mr->store, fam);
	if (written < 0)
		ret = (int)written;
	else
		*series_out = (size_t)written;
	if (ret) {
		metric_log(rd, mr, BB_LOG_ERR, "out of memory; this read is incomplete");
		return -ENOMEM;
	}
	return 0;
}

/* The whole pages inside [P, P + BYTES): *START, and the return value their
 * length (0 when none). */
static size_t whole_pages(const void *p, size_t bytes, uintptr_t *start)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t end;

	if (!p || page <= 0)
		return 0;
	*start = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
	end = ((uintptr_t)p + bytes) & ~((uintptr_t)page - 1);
	return end > *start ? end - *start : 0;
}

/* Give back the whole pages inside [P, P + BYTES): their contents are not
 * needed (the next read refills them), the allocation stays. */
static void release_pages(void *p, size_t bytes)
{
	uintptr_t start;
	size_t len = whole_pages(p, bytes, &start);

	if (len)
		(void)madvise((void *)start, len, MADV_DONTNEED);
}

static size_t resident_pages(const void *p, size_t bytes)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t start;
	size_t len = whole_pages(p, bytes, &start), n = 0;
	unsigned char *vec;

	if (!len)
		return 0;
	vec = malloc(len / (size_t)page);
	if (!vec)
		return 0;
	if (mincore((void *)start, len, vec) == 0)
		for (size_t i = 0; i < len / (size_t)page; i++)
			n += vec[i] & 1;
	free(vec);
	return n * (size_t)page;
}

/* The read buffers of MR: keys and values. (A flat_index metric's key
 * table is kept: it is written once and serves every read.) */
static void buffers_of(const struct bb_reader *rd, const struct mreader *mr, void *p[2],
		       size_t bytes[2])
{
	size_t ks = mr->map.key_size ? mr->map.key_size : 1;

	p[0] = mr->keys;
	bytes[0] = mr->cap_entries * ks;
	p[1] = mr->vals;
	bytes[1] = mr->cap_entries * value_slots(rd, mr) * sizeof(uint64_t);
}

static void release_buffers(const struct bb_reader *rd, struct mreader *mr)
{
	void *p[2];
	size_t bytes[2];

	buffers_of(rd, mr, p, bytes);
	for (int i = 0; i < 2; i++)
		release_pages(p[i], bytes[i]);
}

size_t bb_reader_buffers_resident(const struct bb_reader *rd)
{
	size_t n = 0;

	for (size_t m = 0; m < rd->n_metrics; m++) {
		void *p[2];
		size_t bytes[2];

		buffers_of(rd, &rd->metrics[m], p, bytes);
		for (int i = 0; i < 2; i++)
			n += resident_pages(p[i], bytes[i]);
	}
	return n;
}

int bb_reader_read(struct bb_reader *rd, struct bb_snapshot *snap, struct bb_read_result *res)
{
	memset(res, 0, sizeof(*res));
	for (size_t i = 0; i < rd->n_metrics; i++) {
		size_t series = 0;
		int ret = read_metric(rd, &rd->metrics[i], snap, &series);

		if (rd->release_buffers)
			release_buffers(rd, &rd->metrics[i]);

		res->series += series;
		if (ret) {
			res->read_errors++;
			if (!res->first_error)
				res->first_error = ret;
		}
	}
	return res->first_error;
}
