/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "log.h"
#include "perfsink.h"

#define PERF_PAGES 64			  /* per CPU: 256 KiB with 4 KiB pages */
#define POLL_MS 50			  /* how long an event may wait before it counts */
#define FLUSH_DEFAULT_NS 3600000000000ULL /* ebpf_exporter's default: one hour */
#define LOG_INTERVAL_NS 60000000000ULL

struct bb_perfsink {
	char *config;
	const struct bb_metric_conf *m;
	uint32_t key_size;
	uint32_t min_sample; /* bytes up to the end of the last label */
	uint8_t *key;
	uint8_t *pad_mask; /* 0 at padding bytes: zeroed so they never split a series */
	int map_fd;
	struct perf_buffer *pb;
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
	atomic_uint_fast64_t lost;
	uint64_t short_samples, full_drops;
	uint64_t flush_ns, next_flush;
	uint64_t last_log;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint32_t bb_perfsink_key_size(const struct bb_metric_conf *m)
{
	return m->key_size ? m->key_size : (uint32_t)sizeof(uint32_t);
}

static bool may_log(struct bb_perfsink *s)
{
	uint64_t now = mono_ns();

	if (s->last_log && now - s->last_log < LOG_INTERVAL_NS)
		return false;
	s->last_log = now;
	return true;
}

static void count_event(struct bb_perfsink *s)
{
	uint64_t one = 1, v;

	if (bpf_map_lookup_elem(s->map_fd, s->key, &v) == 0) {
		v++;
		if (bpf_map_update_elem(s->map_fd, s->key, &v, BPF_EXIST) == 0)
			return;
	} else if (bpf_map_update_elem(s->map_fd, s->key, &one, BPF_NOEXIST) == 0) {
		return;
	}
	/* E2BIG: max_series label sets already; the reader's limit would drop it too */
	s->full_drops++;
	if (may_log(s))
		bb_warn("%s: metric %s: cannot count a perf event: %s (%" PRIu64
			" events not counted so far)",
			s->config, s->m->name, bb_strerror(errno), s->full_drops);
}

static void on_sample(void *ctx, int cpu, void *data, uint32_t size)
{
	struct bb_perfsink *s = ctx;

	(void)cpu;
	if (s->m->key_size == 0) {
		memset(s->key, 0, s->key_size); /* no labels: u32 key 0 */
	} else {
		if (size < s->min_sample) {
			s->short_samples++;
			if (may_log(s))
				bb_warn("%s: metric %s: a perf event of %u bytes is shorter than "
					"its labels (%u bytes); %" PRIu64 " such events ignored",
					s->config, s->m->name, size, s->min_sample,
					s->short_samples);
			return;
		}
		memset(s->key, 0, s->key_size);
		memcpy(s->key, data, size < s->key_size ? size : s->key_size);
		for (uint32_t i = 0; i < s->key_size; i++)
			s->key[i] &= s->pad_mask[i];
	}
	count_event(s);
}

static void on_lost(void *ctx, int cpu, __u64 n)
{
	struct bb_perfsink *s = ctx;
	uint64_t total = atomic_fetch_add(&s->lost, n) + n;

	(void)cpu;
	if (may_log(s))
		bb_warn("%s: metric %s: the perf buffer overflowed, %" PRIu64 " events lost so far",
			s->config, s->m->name, total);
}

/* ebpf_exporter recreates the counter every flush_interval: start from zero. */
static void flush(struct bb_perfsink *s)
{
	uint8_t *prev = NULL, *next = malloc(s->key_size);

	if (!next)
		return;
	while (bpf_map_get_next_key(s->map_fd, prev, next) == 0) {
		bpf_map_delete_elem(s->map_fd, next);
		prev = NULL; /* deleted: start again from the top */
	}
	free(next);
}

static void *sink_thread(void *arg)
{
	struct bb_perfsink *s = arg;

	while (!atomic_load(&s->stop)) {
		int ret = perf_buffer__poll(s->pb, POLL_MS);

		if (ret < 0 && ret != -EINTR) {
			if (may_log(s))
				bb_err("%s: metric %s: polling the perf buffer failed: %s",
				       s->config, s->m->name, bb_strerror(-ret));
			usleep(POLL_MS * 1000);
		}
		if (mono_ns() >= s->next_flush) {
			flush(s);
			s->next_flush = mono_ns() + s->flush_ns;
		}
	}
	/* what is already in the buffer still counts */
	perf_buffer__consume(s->pb);
	return NULL;
}

int bb_perfsink_start(const char *config, const struct bb_metric_conf *m, int perf_map_fd,
		      uint32_t max_entries, struct bb_perfsink **out, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_map_create_opts, mopts);
	struct bb_perfsink *s = calloc(1, sizeof(*s));
	uint32_t off = 0;
	int ret;

	*out = NULL;
	if (!s)
		goto nomem;
	s->map_fd = -1;
	s->m = m;
	s->config = strdup(config);
	s->key_size = bb_perfsink_key_size(m);
	s->key = calloc(1, s->key_size);
	s->pad_mask = calloc(1, s->key_size);
	if (!s->config || !s->key || !s->pad_mask)
		goto nomem;
	for (size_t l = 0; l < m->n_labels; l++) {
		memset(s->pad_mask + off, 0xff, m->labels[l].size);
		off += m->labels[l].size;
		s->min_sample = off;
		off += m->labels[l].padding;
	}
	if (!m->n_labels)
		memset(s->pad_mask, 0xff, s->key_size);
	s->flush_ns = m->flush_interval_ns ? m->flush_interval_ns : FLUSH_DEFAULT_NS;
	s->next_flush = mono_ns() + s->flush_ns;

	s->map_fd = bpf_map_create(BPF_MAP_TYPE_HASH, m->name, s->key_size, sizeof(uint64_t),
				   max_entries ? max_entries : 1, &mopts);
	if (s->map_fd < 0) {
		ret = -errno;
		snprintf(err, errlen,
			 "%s: metric %s: cannot create the map that counts its perf "
			 "events: %s",
			 config, m->name, bb_strerror(-ret));
		goto fail;
	}
	s->pb = perf_buffer__new(perf_map_fd, PERF_PAGES, on_sample, on_lost, s, NULL);
	if (!s->pb) {
		ret = -errno;
		snprintf(err, errlen, "%s: metric %s: cannot open its perf event array: %s", config,
			 m->name, bb_strerror(-ret));
		goto fail;
	}
	ret = pthread_create(&s->thread, NULL, sink_thread, s);
	if (ret) {
		ret = -ret;
		snprintf(err, errlen, "%s: metric %s: cannot start the perf event thread: %s",
			 config, m->name, bb_strerror(-ret));
		goto fail;
	}
	s->thread_started = true;
	*out = s;
	return 0;
nomem:
	ret = -ENOMEM;
	snprintf(err, errlen, "%s: metric %s: out of memory", config, m->name);
fail:
	bb_perfsink_stop(s);
	return ret;
}

int bb_perfsink_map_fd(const struct bb_perfsink *s)
{
	return s ? s->map_fd : -1;
}

uint64_t bb_perfsink_lost(const struct bb_perfsink *s)
{
	return s ? atomic_load(&((struct bb_perfsink *)s)->lost) : 0;
}

void bb_perfsink_stop(struct bb_perfsink *s)
{
	if (!s)
		return;
	if (s->thread_started) {
		atomic_store(&s->stop, true);
		pthread_join(s->thread, NULL);
	}
	perf_buffer__free(s->pb);
	if (s->map_fd >= 0)
		close(s->map_fd);
	free(s->key);
	free(s->pad_mask);
	free(s->config);
	free(s);
}
