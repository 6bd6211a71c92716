/* SPDX-License-Identifier: MIT */
/*
 * bbbench: the C half of bench/run. bench/run builds it against a build
 * tree's libbpfbridge and drives it; every subcommand prints plain lines that
 * bench/run parses.
 *
 *   bbbench loop CALLS CPU
 *       CALLS getppid() syscalls pinned to CPU; prints "ns TOTAL".
 *   bbbench hold YAML...
 *       bb_engine_open() each config (the real alternatives apply), print one
 *       "program ..." line per program and "ready", then hold everything
 *       attached until stdin reaches EOF.
 *   bbbench read YAML SERIES REPS ITERS [BPFTOOL]
 *       Fill the config's map (bench/bpf/bench_counter.bpf.c) with SERIES
 *       series, then time, interleaved REPS times: bb_engine_read() end to end
 *       with batch lookups, the same with batch lookups refused (seccomp), so
 *       the engine takes its get_next_key + lookup fallback, both raw map
 *       passes without decoding, and `BPFTOOL map dump`. Prints
 *       "result METHOD REP NS_PER_READ" lines.
 *   bbbench fill MAP SERIES [hist]
 *       Fill the newest map named MAP (a bench counter, or with "hist" a
 *       bench histogram) with SERIES series, for the collectd and SNMP runs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/audit.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "bench.h"
#include "bpfbridge.h"

/* What the engine's reader asks per batch lookup (core/reader.c BATCH_CHUNK). */
#define RAW_BATCH_CHUNK 1024
#define FILL_CHUNK 4096

#if defined(__x86_64__)
#define BENCH_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define BENCH_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

static int ncpus;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Time this thread spent on a CPU, user and kernel: unlike wall time, it does
 * not grow while other processes run on the pinned CPU. */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bbbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static unsigned long parse_ulong(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		die("%s: expected a non-negative integer, got \"%s\"", what, s);
	return v;
}

/* ---- loop ------------------------------------------------------------------ */

static int cmd_loop(int argc, char **argv)
{
	unsigned long calls, cpu;
	cpu_set_t set;
	uint64_t t0, t1, c0, c1;

	if (argc != 2)
		die("usage: bbbench loop CALLS CPU");
	calls = parse_ulong(argv[0], "CALLS");
	cpu = parse_ulong(argv[1], "CPU");
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("cannot pin to CPU %lu: %s", cpu, strerror(errno));
	/* Warm the path (and let the scheduler move us) before timing. */
	for (unsigned long i = 0; i < 10000; i++)
		syscall(SYS_getppid);
	c0 = thread_cpu_ns();
	t0 = now_ns();
	for (unsigned long i = 0; i < calls; i++)
		syscall(SYS_getppid);
	t1 = now_ns();
	c1 = thread_cpu_ns();
	printf("ns %" PRIu64 " cpu_ns %" PRIu64 "\n", t1 - t0, c1 - c0);
	return 0;
}

/* ---- hold ------------------------------------------------------------------ */

static int cmd_hold(int argc, char **argv)
{
	struct bb_engine **engines = calloc(argc ? argc : 1, sizeof(*engines));
	struct bb_options opts;
	char err[BB_ERRMSG_MAX];
	char buf[256];
	int ret = 0;

	if (!engines)
		die("out of memory");
	bb_options_init(&opts);
	for (int i = 0; i < argc; i++) {
		if (bb_engine_open(argv[i], &opts, &engines[i], err, sizeof(err))) {
			fprintf(stderr, "bbbench: %s\n", err);
			ret = 1;
			goto out;
		}
		for (size_t p = 0; p < bb_engine_n_programs(engines[i]); p++) {
			const struct bb_program_status *st = bb_engine_program(engines[i], p);

			printf("program %s %s %s %s\n", bb_engine_name(engines[i]), st->name,
			       st->section, bb_program_state_name(st->state));
		}
	}
	printf("ready\n");
	fflush(stdout);
	while (fread(buf, 1, sizeof(buf), stdin) > 0)
		;
out:
	for (int i = 0; i < argc; i++)
		bb_engine_close(engines[i]);
	free(engines);
	return ret;
}

/* ---- maps ------------------------------------------------------------------ */

/* The newest map whose (kernel-truncated) name is a prefix of NAME and whose id
 * is above MIN_ID. Returns an fd, or -1. */
static int find_map(const char *name, uint32_t min_id, struct bpf_map_info *out)
{
	uint32_t id = min_id, best = 0;
	int best_fd = -1;

	while (bpf_map_get_next_id(id, &id) == 0) {
		struct bpf_map_info info = { 0 };
		uint32_t len = sizeof(info);
		int fd = bpf_map_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &info, &len) || !info.name[0] ||
		    strncmp(name, info.name, strlen(info.name)) != 0 ||
		    strlen(info.name) < (strlen(name) < 15 ? strlen(name) : 15)) {
			close(fd);
			continue;
		}
		if (best_fd >= 0)
			close(best_fd);
		best_fd = fd;
		best = id;
		*out = info;
	}
	(void)best;
	return best_fd;
}

static uint32_t max_map_id(void)
{
	uint32_t id = 0, last = 0;

	while (bpf_map_get_next_id(id, &id) == 0)
		last = id;
	return last;
}

static bool is_percpu(uint32_t type)
{
	return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

/*
 * Counter: series i is {id = i, shard = i % 16}. Histogram: series i gets one
 * observation in bucket i % (BUCKET_MAX + 1) and its sum at BUCKET_MAX + 1.
 */
/* HIST: 0 a counter map, 1 a histogram with one bucket and the sum per series,
 * 27 a histogram with all 27 buckets and the sum (bench_hist27). */
static void fill_map(int fd, const struct bpf_map_info *info, size_t series, int hist)
{
	size_t slots = is_percpu(info->type) ? (size_t)ncpus : 1;
	size_t per_series = hist == 27 ? BENCH_HIST27_BUCKET_MAX + 2 : hist ? 2 : 1;
	size_t total = series * per_series;
	uint8_t *keys = calloc(FILL_CHUNK, info->key_size);
	uint64_t *vals = calloc((size_t)FILL_CHUNK * slots, sizeof(uint64_t));
	LIBBPF_OPTS(bpf_map_batch_opts, opts);

	if (!keys || !vals)
		die("out of memory");
	if (total > info->max_entries)
		die("map %s holds %u entries, %zu needed", info->name, info->max_entries, total);
	if (info->key_size !=
	    (hist ? sizeof(struct bench_hist_key) : sizeof(struct bench_series_key)))
		die("map %s has %u-byte keys, not a bench %s map", info->name, info->key_size,
		    hist ? "histogram" : "counter");
	for (size_t done = 0; done < total;) {
		uint32_t count = 0;

		while (count < FILL_CHUNK && done + count < total) {
			size_t e = done + count, s = e / per_series;
			uint64_t *v = vals + (size_t)count * slots;

			if (hist == 27) {
				struct bench_hist_key *k = (struct bench_hist_key *)keys + count;
				size_t b = e % per_series;

				k->id = (uint32_t)s;
				k->pad = 0;
				k->bucket = b; /* the last one is the sum key */
				v[0] = b == per_series - 1 ? 1000 + s : 1 + (s + b) % 5;
			} else if (hist) {
				struct bench_hist_key *k = (struct bench_hist_key *)keys + count;

				k->id = (uint32_t)s;
				k->pad = 0;
				k->bucket = e % 2 ? BENCH_HIST_BUCKET_MAX + 1
						  : s % (BENCH_HIST_BUCKET_MAX + 1);
				v[0] = e % 2 ? (1ULL << (s % (BENCH_HIST_BUCKET_MAX + 1))) : 1;
			} else {
				struct bench_series_key *k =
					(struct bench_series_key *)keys + count;

				k->id = (uint32_t)s;
				k->shard = (uint32_t)(s % 16);
				for (size_t c = 0; c < slots; c++)
					v[c] = s * 7 + c + 1;
			}
			count++;
		}
		if (bpf_map_update_batch(fd, keys, vals, &count, &opts))
			die("filling map %s: %s", info->name, strerror(errno));
		done += count;
	}
	free(keys);
	free(vals);
}

static int cmd_fill(int argc, char **argv)
{
	struct bpf_map_info info;
	bool hist = argc == 3 && strcmp(argv[2], "hist") == 0;
	size_t series;
	int fd;

	if (argc != 2 && !hist)
		die("usage: bbbench fill MAP SERIES [hist]");
	series = parse_ulong(argv[1], "SERIES");
	fd = find_map(argv[0], 0, &info);
	if (fd < 0)
		die("no map named %s is loaded", argv[0]);
	fill_map(fd, &info, series, hist ? 1 : 0);
	printf("filled %s id %u with %zu series\n", info.name, info.id, series);
	close(fd);
	return 0;
}

/* ---- read ------------------------------------------------------------------ */

/* Make BPF_MAP_LOOKUP_BATCH fail with EINVAL in this process, as on a kernel
 * without batch ops: the engine's reader then walks with get_next_key. */
static int refuse_batch_lookups(void)
{
#ifdef BENCH_AUDIT_ARCH
	/* the low 32 bits of args[0], the bpf() command */
	const unsigned cmd_off = offsetof(struct seccomp_data, args[0]) +
				 (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? 4 : 0);
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, BENCH_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_bpf, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, cmd_off),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, BPF_MAP_LOOKUP_BATCH, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return -errno;
	return 0;
#else
	return -ENOTSUP;
#endif
}

/* CPU and wall time of one thing, in ns. */
struct cost {
	uint64_t cpu, wall;
};

static void cost_start(struct cost *c)
{
	c->cpu = thread_cpu_ns();
	c->wall = now_ns();
}

static void cost_add_since(struct cost *total, const struct cost *start)
{
	total->cpu += thread_cpu_ns() - start->cpu;
	total->wall += now_ns() - start->wall;
}

static void print_result(const char *method, unsigned long rep, const struct cost *c,
			 unsigned long iters)
{
	printf("result %s %lu %" PRIu64 " %" PRIu64 "\n", method, rep, c->cpu / iters,
	       c->wall / iters);
}

static const char *bench_family = "bench_series_total";

static struct cost engine_read_once(struct bb_engine *eng, const char *family, size_t want)
{
	struct bb_snapshot *snap;
	const struct bb_family *fam;
	struct cost start, took = { 0 };
	int ret;

	cost_start(&start);
	snap = bb_snapshot_new();
	if (!snap)
		die("out of memory");
	ret = bb_engine_read(eng, snap);
	bb_snapshot_finish(snap);
	fam = bb_snapshot_find(snap, family);
	if (ret || !fam || fam->n_series != want)
		die("engine read: %s, %zu series of %s (expected %zu)", ret ? strerror(-ret) : "ok",
		    fam ? fam->n_series : 0, family, want);
	bb_snapshot_unref(snap);
	cost_add_since(&took, &start);
	return took;
}

/*
 * In a child, so that the refused batch lookups (and the engine state that
 * remembers them) do not leak into the next method. The first read decodes
 * every key ("cold"); the following ones hit the label cache, as every read
 * after a collectd or SNMP agent's first does.
 */
static void engine_child(struct bb_engine *eng, int map_fd, bool walk, unsigned long iters,
			 size_t series, int out)
{
	struct cost cold, warm = { 0 };
	char line[160];
	int len;

	if (walk) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		uint8_t key[64], val[64 * 8];
		uint32_t count = 1;
		int ret = refuse_batch_lookups();

		if (ret)
			die("cannot refuse batch lookups with seccomp: %s", strerror(-ret));
		ret = bpf_map_lookup_batch(map_fd, NULL, key, key, val, &count, &opts);
		if (ret != -EINVAL)
			die("batch lookups still work after seccomp (%d)", ret);
	}
	cold = engine_read_once(eng, bench_family, series);
	for (unsigned long i = 0; i < iters; i++) {
		struct cost c = engine_read_once(eng, bench_family, series);

		warm.cpu += c.cpu;
		warm.wall += c.wall;
	}
	len = snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
		       cold.cpu, cold.wall, warm.cpu / iters, warm.wall / iters);
	if (write(out, line, len) != len)
		_exit(1);
	/* heap the engine holds for the series, warm */
	len = snprintf(line, sizeof(line), "%zu\n", bb_engine_memory(eng));
	if (write(out, line, len) != len)
		_exit(1);
	_exit(0);
}

static void run_engine(struct bb_engine *eng, int map_fd, bool walk, unsigned long iters,
		       size_t series, unsigned long rep)
{
	char buf[160] = "";
	struct cost cold, warm;
	size_t memory = 0;
	int pipefd[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(pipefd))
		die("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(pipefd[0]);
		engine_child(eng, map_fd, walk, iters, series, pipefd[1]);
	}
	close(pipefd[1]);
	n = 0;
	for (;;) { /* the child writes two lines: read until it closes */
		ssize_t r = read(pipefd[0], buf + n, sizeof(buf) - 1 - (size_t)n);

		if (r <= 0)
			break;
		n += r;
	}
	buf[n > 0 ? n : 0] = '\0';
	close(pipefd[0]);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    n <= 0 ||
	    sscanf(buf, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %zu", &cold.cpu,
		   &cold.wall, &warm.cpu, &warm.wall, &memory) != 5)
		die("engine %s read child failed", walk ? "walk" : "batch");
	printf("memory %s %lu %zu\n", walk ? "engine_walk" : "engine_batch", rep, memory);
	print_result(walk ? "engine_walk" : "engine_batch", rep, &warm, 1);
	print_result(walk ? "engine_walk_cold" : "engine_batch_cold", rep, &cold, 1);
}

struct raw_buf {
	uint8_t *keys;
	uint64_t *vals;
	uint8_t tok_in[64], tok_out[64];
	size_t cap, slots, ks;
};

/* The map's entries with batch lookups, nothing decoded. Returns the count. */
static size_t raw_batch(int fd, struct raw_buf *b)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	size_t n = 0;
	bool first = true;

	for (;;) {
		uint32_t count = RAW_BATCH_CHUNK;
		int ret;

		if (n + count > b->cap)
			die("raw batch: more entries than the map holds");
		ret = bpf_map_lookup_batch(fd, first ? NULL : b->tok_in, b->tok_out,
					   b->keys + n * b->ks, b->vals + n * b->slots, &count,
					   &opts);
		if (ret && ret != -ENOENT)
			die("raw batch lookup: %s", strerror(-ret));
		n += count;
		if (ret == -ENOENT)
			return n;
		memcpy(b->tok_in, b->tok_out, sizeof(b->tok_in));
		first = false;
	}
}

/* ebpf_exporter's way: get_next_key, then one lookup per key. */
static size_t raw_walk(int fd, struct raw_buf *b)
{
	const void *prev = NULL;
	size_t n = 0;

	for (;;) {
		uint8_t *key = b->keys + n * b->ks;

		if (n >= b->cap)
			die("raw walk: more entries than the map holds");
		if (bpf_map_get_next_key(fd, prev, key)) {
			if (errno != ENOENT)
				die("get_next_key: %s", strerror(errno));
			return n;
		}
		if (bpf_map_lookup_elem(fd, key, b->vals + n * b->slots))
			die("lookup: %s", strerror(errno));
		prev = key;
		n++;
	}
}

/* bpftool's own CPU time (from wait4), and the wall time including its start. */
static struct cost run_bpftool(const char *bpftool, uint32_t map_id)
{
	char id[16];
	uint64_t t0 = now_ns();
	struct rusage ru;
	struct cost c;
	int status;
	pid_t pid;

	snprintf(id, sizeof(id), "%u", map_id);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		if (devnull < 0 || dup2(devnull, 1) < 0)
			_exit(127);
		execlp(bpftool, bpftool, "map", "dump", "id", id, (char *)NULL);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("%s map dump id %s failed", bpftool, id);
	c.wall = now_ns() - t0;
	c.cpu = ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ULL +
		((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ULL;
	return c;
}

enum read_method { M_ENGINE_BATCH, M_ENGINE_WALK, M_RAW_BATCH, M_RAW_WALK, M_BPFTOOL, M_COUNT };

static const char *const method_names[M_COUNT] = { "engine_batch", "engine_walk", "raw_batch",
						   "raw_walk", "bpftool" };

/* BBBENCH_METHODS=engine_batch,raw_batch limits a run (for profiling one). */
static bool method_enabled(enum read_method m)
{
	const char *list = getenv("BBBENCH_METHODS");
	size_t len = strlen(method_names[m]);

	if (!list || !*list)
		return true;
	for (const char *p = list; *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == len && strncmp(p, method_names[m], n) == 0)
			return true;
		if (!end)
			break;
		p = end + 1;
	}
	return false;
}

static int cmd_read(int argc, char **argv)
{
	struct bb_engine *eng = NULL;
	struct bb_options opts;
	struct bpf_map_info info;
	char err[BB_ERRMSG_MAX];
	unsigned long series, reps, iters;
	const char *bpftool = argc > 4 ? argv[4] : NULL;
	struct raw_buf b = { 0 };
	uint32_t before;
	int fd;

	if (argc != 4 && argc != 5)
		die("usage: bbbench read YAML SERIES REPS ITERS [BPFTOOL]");
	series = parse_ulong(argv[1], "SERIES");
	reps = parse_ulong(argv[2], "REPS");
	iters = parse_ulong(argv[3], "ITERS");
	if (!series || !reps || !iters)
		die("SERIES, REPS and ITERS must be at least 1");

	bb_options_init(&opts);
	before = max_map_id();
	if (bb_engine_open(argv[0], &opts, &eng, err, sizeof(err)))
		die("%s", err);
	fd = find_map("bench_series_total", before, &info);
	if (fd < 0) {
		fd = find_map("bench_hist27_seconds", before, &info);
		bench_family = "bench_hist27_seconds";
	}
	if (fd < 0)
		die("the engine loaded no map bench_series_total or bench_hist27_seconds");
	fill_map(fd, &info, series, strcmp(bench_family, "bench_series_total") ? 27 : 0);
	printf("map %u %s entries %lu max %u cpus %d\n", info.id,
	       libbpf_bpf_map_type_str(info.type), series, info.max_entries, ncpus);

	b.ks = info.key_size;
	b.slots = is_percpu(info.type) ? (size_t)ncpus : 1;
	b.cap = series * (strcmp(bench_family, "bench_series_total") ? BENCH_HIST27_BUCKET_MAX + 2
								     : 1) +
		RAW_BATCH_CHUNK;
	b.keys = calloc(b.cap, b.ks);
	b.vals = calloc(b.cap * b.slots, sizeof(uint64_t));
	if (!b.keys || !b.vals)
		die("out of memory");

	for (unsigned long rep = 0; rep < reps; rep++) {
		/* rotate the order so no method always runs first or last */
		for (int k = 0; k < M_COUNT; k++) {
			enum read_method m = (enum read_method)((k + rep) % M_COUNT);
			struct cost start, total = { 0 }, bt;
			size_t n;

			if (!method_enabled(m))
				continue;
			switch (m) {
			case M_ENGINE_BATCH:
			case M_ENGINE_WALK:
				run_engine(eng, fd, m == M_ENGINE_WALK, iters, series, rep);
				break;
			case M_RAW_BATCH:
			case M_RAW_WALK:
				for (unsigned long i = 0; i < iters; i++) {
					cost_start(&start);
					n = m == M_RAW_BATCH ? raw_batch(fd, &b) : raw_walk(fd, &b);
					cost_add_since(&total, &start);
					if (n !=
					    series * (strcmp(bench_family, "bench_series_total")
							      ? BENCH_HIST27_BUCKET_MAX + 2
							      : 1))
						die("raw %s read %zu entries, expected %lu",
						    m == M_RAW_BATCH ? "batch" : "walk", n, series);
				}
				print_result(m == M_RAW_BATCH ? "raw_batch" : "raw_walk", rep,
					     &total, iters);
				break;
			case M_BPFTOOL:
				if (!bpftool)
					break;
				bt = run_bpftool(bpftool, info.id);
				print_result("bpftool", rep, &bt, 1);
				break;
			case M_COUNT:
				break;
			}
			fflush(stdout);
		}
	}
	free(b.keys);
	free(b.vals);
	close(fd);
	bb_engine_close(eng);
	return 0;
}

int main(int argc, char **argv)
{
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0)
		die("cannot count possible CPUs");
	bb_log_set_level(BB_LOG_WARN);
	if (argc < 2)
		die("usage: bbbench loop|hold|read|fill ...");
	if (strcmp(argv[1], "loop") == 0)
		return cmd_loop(argc - 2, argv + 2);
	if (strcmp(argv[1], "hold") == 0)
		return cmd_hold(argc - 2, argv + 2);
	if (strcmp(argv[1], "read") == 0)
		return cmd_read(argc - 2, argv + 2);
	if (strcmp(argv[1], "fill") == 0)
		return cmd_fill(argc - 2, argv + 2);
	die("unknown subcommand %s", argv[1]);
}
