/* SPDX-License-Identifier: MIT */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>

#include "cgroups.h"
#include "log.h"

/* BPF_MAP_TYPE_CGRP_STORAGE (Linux 6.2); Debian 12's uapi headers are 6.1's. */
#define MAP_TYPE_CGRP_STORAGE 32

#define MAX_DEPTH 64 /* below this, a subtree is not followed (and said so) */
#define WATCH_MASK                                                                          \
	(IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVE_SELF | IN_DELETE_SELF | IN_ONLYDIR | \
	 IN_DONT_FOLLOW | IN_EXCL_UNLINK)

struct node {
	int wd; /* -1 when not watched */
	uint64_t id;
	char *rel; /* "/" or "/a/b" */
	bool matched;
};

struct bb_cgroups {
	const struct bb_cgroup_id_map_conf *conf;
	char map_name[64];
	int map_fd;
	regex_t *re;
	size_t n_re;
	char root[PATH_MAX];
	dev_t root_dev;
	int ino_fd, stop_fd;
	pthread_t thread;
	bool thread_started;
	struct node *nodes;
	size_t n_nodes, cap_nodes;
	bool degraded;	  /* something could not be watched: rescan periodically */
	bool resyncing;	  /* the current walk replaces an earlier one */
	bool warned_full; /* the map refused an entry (full) */
	uint64_t stat_cgroups, stat_matched, stat_events, stat_rescans;
};

static bool is_cgroup2(const char *path)
{
	struct statfs sfs;

	return statfs(path, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

int bb_cgroups_v2_root(char *out, size_t len)
{
	static const char *const guesses[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	struct mntent ent;
	char buf[4096];
	FILE *f;

	for (size_t i = 0; i < sizeof(guesses) / sizeof(guesses[0]); i++) {
		if (is_cgroup2(guesses[i])) {
			snprintf(out, len, "%s", guesses[i]);
			return 0;
		}
	}
	f = setmntent("/proc/self/mounts", "re");
	if (!f)
		return -ENOENT;
	while (getmntent_r(f, &ent, buf, sizeof(buf))) {
		if (!strcmp(ent.mnt_type, "cgroup2") && is_cgroup2(ent.mnt_dir)) {
			snprintf(out, len, "%s", ent.mnt_dir);
			endmntent(f);
			return 0;
		}
	}
	endmntent(f);
	return -ENOENT;
}

static bool matches(const struct bb_cgroups *cg, const char *rel)
{
	for (size_t i = 0; i < cg->n_re; i++)
		if (regexec(&cg->re[i], rel, 0, NULL, 0) == 0)
			return true;
	return false;
}

static struct node *find_wd(struct bb_cgroups *cg, int wd)
{
	for (size_t i = 0; i < cg->n_nodes; i++)
		if (cg->nodes[i].wd == wd)
			return &cg->nodes[i];
	return NULL;
}

static struct node *find_rel(struct bb_cgroups *cg, const char *rel)
{
	for (size_t i = 0; i < cg->n_nodes; i++)
		if (!strcmp(cg->nodes[i].rel, rel))
			return &cg->nodes[i];
	return NULL;
}

static void count(uint64_t *stat, int64_t d)
{
	__atomic_add_fetch(stat, (uint64_t)d, __ATOMIC_RELAXED);
}

/* Put the cgroup open as FD (id ID) in the map, or take it out. */
static void map_set(struct bb_cgroups *cg, int fd, uint64_t id, const char *rel, bool in)
{
	const uint64_t one = 1;
	int ret;

	if (cg->conf->type == BB_CGROUP_MAP_CGRP_STORAGE)
		ret = in ? bpf_map_update_elem(cg->map_fd, &fd, &one, BPF_ANY)
			 : bpf_map_delete_elem(cg->map_fd, &fd);
	else
		ret = in ? bpf_map_update_elem(cg->map_fd, &id, &one, BPF_ANY)
			 : bpf_map_delete_elem(cg->map_fd, &id);
	if (ret && !(ret == -ENOENT && !in)) {
		if (!cg->warned_full || ret != -E2BIG)
			bb_warn("cgroup_id_map %s: cannot %s %s (id %llu): %s", cg->map_name,
				in ? "add" : "remove", rel, (unsigned long long)id,
				bb_strerror(-ret));
		if (ret == -E2BIG)
			cg->warned_full = true;
		return;
	}
	if (!ret)
		bb_debug("cgroup_id_map %s: %s %s (id %llu)", cg->map_name,
			 in ? "added" : "removed", rel, (unsigned long long)id);
}

static struct node *add_node(struct bb_cgroups *cg, int wd, uint64_t id, const char *rel)
{
	struct node *n;

	if (cg->n_nodes == cg->cap_nodes) {
		size_t cap = cg->cap_nodes ? 2 * cg->cap_nodes : 64;
		struct node *v = realloc(cg->nodes, cap * sizeof(*v));

		if (!v)
			return NULL;
		cg->nodes = v;
		cg->cap_nodes = cap;
	}
	n = &cg->nodes[cg->n_nodes];
	n->rel = strdup(rel);
	if (!n->rel)
		return NULL;
	n->wd = wd;
	n->id = id;
	n->matched = false;
	cg->n_nodes++;
	count(&cg->stat_cgroups, 1);
	return n;
}

static void drop_node(struct bb_cgroups *cg, struct node *n)
{
	if (n->matched) {
		if (cg->conf->type == BB_CGROUP_MAP_HASH)
			map_set(cg, -1, n->id, n->rel, false);
		count(&cg->stat_matched, -1);
	}
	free(n->rel);
	*n = cg->nodes[--cg->n_nodes];
	count(&cg->stat_cgroups, -1);
}

/* The cgroup at REL and everything below it. */
static void visit(struct bb_cgroups *cg, const char *rel, int depth)
{
	char path[PATH_MAX];
	struct node *n;
	struct stat st;
	struct dirent *de;
	DIR *d;
	int fd, wd;

	if (snprintf(path, sizeof(path), "%s%s", cg->root, strcmp(rel, "/") ? rel : "") >=
	    (int)sizeof(path))
		return;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return; /* gone already, or not a directory */
	if (fstat(fd, &st) || st.st_dev != cg->root_dev) {
		close(fd); /* another file system mounted inside: not a v2 cgroup */
		return;
	}
	wd = inotify_add_watch(cg->ino_fd, path, WATCH_MASK);
	if (wd < 0) {
		if (!cg->degraded)
			bb_warn("cgroup_id_map %s: cannot watch %s (%s): walking the cgroup tree "
				"every %d ms instead",
				cg->map_name, path, bb_strerror(errno), BB_CGROUPS_RESCAN_MS);
		cg->degraded = true;
	} else if (find_wd(cg, wd)) {
		close(fd); /* seen already: its creation event raced with the walk */
		return;
	}
	n = add_node(cg, wd, st.st_ino, rel);
	if (!n) {
		bb_warn("cgroup_id_map %s: out of memory at %s", cg->map_name, rel);
		close(fd);
		return;
	}
	if (matches(cg, rel)) {
		n->matched = true;
		count(&cg->stat_matched, 1);
		map_set(cg, fd, st.st_ino, rel, true);
	} else if (cg->resyncing && cg->conf->type == BB_CGROUP_MAP_CGRP_STORAGE) {
		map_set(cg, fd, st.st_ino, rel, false); /* renamed away from a match */
	}
	if (depth >= MAX_DEPTH) {
		bb_warn("cgroup_id_map %s: not following %s: deeper than %d levels", cg->map_name,
			rel, MAX_DEPTH);
		close(fd);
		return;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		char child[PATH_MAX];

		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(child, sizeof(child), "%s/%s", strcmp(rel, "/") ? rel : "",
			     de->d_name) >= (int)sizeof(child))
			continue;
		visit(cg, child, depth + 1);
	}
	closedir(d);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Walk the whole tree again: after an overflow, a rename, or while degraded. */
static void resync(struct bb_cgroups *cg)
{
	uint64_t *old = NULL;
	size_t n_old = 0;

	count(&cg->stat_rescans, 1);
	old = calloc(cg->n_nodes + 1, sizeof(*old));
	for (size_t i = 0; i < cg->n_nodes; i++) {
		if (old && cg->nodes[i].matched)
			old[n_old++] = cg->nodes[i].id;
		if (cg->nodes[i].wd >= 0)
			inotify_rm_watch(cg->ino_fd, cg->nodes[i].wd);
		free(cg->nodes[i].rel);
	}
	cg->n_nodes = 0;
	__atomic_store_n(&cg->stat_cgroups, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cg->stat_matched, 0, __ATOMIC_RELAXED);
	cg->degraded = false;
	cg->resyncing = true;
	visit(cg, "/", 0);
	cg->resyncing = false;
	if (cg->conf->type != BB_CGROUP_MAP_HASH || !old) {
		free(old);
		return;
	}
	/* Ids that matched before and do not now (removed or renamed): out of the map. */
	{
		uint64_t *now = calloc(cg->n_nodes + 1, sizeof(*now));
		size_t n_now = 0;

		if (now) {
			for (size_t i = 0; i < cg->n_nodes; i++)
				if (cg->nodes[i].matched)
					now[n_now++] = cg->nodes[i].id;
			qsort(now, n_now, sizeof(*now), cmp_u64);
			for (size_t i = 0; i < n_old; i++)
				if (!bsearch(&old[i], now, n_now, sizeof(*now), cmp_u64))
					map_set(cg, -1, old[i], "(gone)", false);
		}
		free(now);
	}
	free(old);
}

static void handle_events(struct bb_cgroups *cg)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool again = false;
	ssize_t len;

	while ((len = read(cg->ino_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			struct node *n;

			p += sizeof(*ev) + ev->len;
			count(&cg->stat_events, 1);
			if (ev->mask & IN_Q_OVERFLOW) {
				again = true;
			} else if (ev->mask & (IN_MOVED_TO | IN_MOVE_SELF)) {
				again = true; /* a renamed cgroup: its subtree's paths all change */
			} else if (ev->mask & IN_IGNORED) {
				n = find_wd(cg, ev->wd);
				if (n)
					drop_node(cg, n);
			} else if ((ev->mask & (IN_CREATE | IN_DELETE)) && (ev->mask & IN_ISDIR) &&
				   ev->len) {
				char child[PATH_MAX];

				n = find_wd(cg, ev->wd);
				if (!n || snprintf(child, sizeof(child), "%s/%s",
						   strcmp(n->rel, "/") ? n->rel : "",
						   ev->name) >= (int)sizeof(child))
					continue;
				if (ev->mask & IN_CREATE) {
					visit(cg, child, 0);
					continue;
				}
				/* cgroupfs keeps the inode: no IN_DELETE_SELF, so the parent says */
				n = find_rel(cg, child);
				if (n) {
					if (n->wd >= 0)
						inotify_rm_watch(cg->ino_fd, n->wd);
					drop_node(cg, n);
				}
			}
		}
	}
	if (again)
		resync(cg);
}

static void *watch_thread(void *arg)
{
	struct bb_cgroups *cg = arg;

	for (;;) {
		struct pollfd pfd[2] = { { cg->ino_fd, POLLIN, 0 }, { cg->stop_fd, POLLIN, 0 } };
		int n = poll(pfd, 2, cg->degraded ? BB_CGROUPS_RESCAN_MS : -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || pfd[1].revents)
			break;
		if (n == 0)
			resync(cg);
		else
			handle_events(cg);
	}
	return NULL;
}

static int check_map(const struct bb_config *cfg, const struct bpf_map *map, char *err,
		     size_t errlen)
{
	const struct bb_cgroup_id_map_conf *c = cfg->cgroup_id_map;
	bool storage = c->type == BB_CGROUP_MAP_CGRP_STORAGE;
	unsigned type, want_key = storage ? 4 : 8;

	if (!map) {
		snprintf(err, errlen, "%s:%d:%d: cgroup_id_map: %s has no map named %s",
			 cfg->yaml_path, c->pos.line, c->pos.column, cfg->object_path, c->name);
		return -ENOENT;
	}
	type = bpf_map__type(map);
	if ((storage ? type != MAP_TYPE_CGRP_STORAGE
		     : type != BPF_MAP_TYPE_HASH && type != BPF_MAP_TYPE_LRU_HASH) ||
	    bpf_map__key_size(map) != want_key || bpf_map__value_size(map) != 8) {
		snprintf(err, errlen,
			 "%s:%d:%d: cgroup_id_map: type %s expects map %s to be %s with %u-byte "
			 "keys and 8-byte values, got %s with %u-byte keys and %u-byte values",
			 cfg->yaml_path, c->pos.line, c->pos.column,
			 bb_cgroup_map_type_name(c->type), c->name,
			 storage ? "a cgrp_storage map" : "a hash map", want_key,
			 type == MAP_TYPE_CGRP_STORAGE	 ? "cgrp_storage"
			 : libbpf_bpf_map_type_str(type) ? libbpf_bpf_map_type_str(type)
							 : "an unknown type",
			 bpf_map__key_size(map), bpf_map__value_size(map));
		return -EINVAL;
	}
	return 0;
}

int bb_cgroups_open(const struct bb_config *cfg, struct bpf_map *map, struct bb_cgroups **out,
		    char *err, size_t errlen)
{
	const struct bb_cgroup_id_map_conf *c = cfg->cgroup_id_map;
	struct bb_cgroups *cg;
	struct stat st;
	int ret;

	*out = NULL;
	ret = check_map(cfg, map, err, errlen);
	if (ret)
		return ret;
	cg = calloc(1, sizeof(*cg));
	if (!cg)
		goto oom;
	cg->conf = c;
	cg->ino_fd = cg->stop_fd = -1;
	snprintf(cg->map_name, sizeof(cg->map_name), "%s", c->name);
	cg->map_fd = bpf_map__fd(map);
	if (bb_cgroups_v2_root(cg->root, sizeof(cg->root)) || stat(cg->root, &st)) {
		snprintf(err, errlen,
			 "%s:%d:%d: cgroup_id_map: no cgroup v2 hierarchy (looked at "
			 "/sys/fs/cgroup, "
			 "/sys/fs/cgroup/unified and /proc/self/mounts)",
			 cfg->yaml_path, c->pos.line, c->pos.column);
		ret = -ENOENT;
		goto fail;
	}
	cg->root_dev = st.st_dev;
	cg->re = calloc(c->n_regexps, sizeof(*cg->re));
	if (!cg->re)
		goto oom;
	for (; cg->n_re < c->n_regexps; cg->n_re++) {
		/* checked by the config parser already */
		if (regcomp(&cg->re[cg->n_re], c->regexps[cg->n_re], REG_EXTENDED | REG_NOSUB)) {
			snprintf(err, errlen,
				 "%s:%d:%d: cgroup_id_map: regexps[%zu]: cannot compile",
				 cfg->yaml_path, c->pos.line, c->pos.column, cg->n_re);
			ret = -EINVAL;
			goto fail;
		}
	}
	cg->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	cg->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (cg->stop_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: cgroup_id_map: eventfd: %s", cfg->yaml_path,
			 bb_strerror(errno));
		goto fail;
	}
	if (cg->ino_fd < 0) {
		bb_warn("cgroup_id_map %s: inotify: %s: walking the cgroup tree every %d ms "
			"instead",
			c->name, bb_strerror(errno), BB_CGROUPS_RESCAN_MS);
		cg->degraded = true;
	}
	visit(cg, "/", 0);
	ret = pthread_create(&cg->thread, NULL, watch_thread, cg);
	if (ret) {
		snprintf(err, errlen, "%s: cgroup_id_map: cannot start its thread: %s",
			 cfg->yaml_path, bb_strerror(ret));
		ret = -ret;
		goto fail;
	}
	cg->thread_started = true;
	bb_info("%s: cgroup_id_map %s (%s): %llu of %llu cgroups under %s match", cfg->name,
		c->name, bb_cgroup_map_type_name(c->type), (unsigned long long)cg->stat_matched,
		(unsigned long long)cg->stat_cgroups, cg->root);
	*out = cg;
	return 0;
oom:
	snprintf(err, errlen, "%s: cgroup_id_map: out of memory", cfg->yaml_path);
	ret = -ENOMEM;
fail:
	bb_cgroups_close(cg);
	return ret;
}

void bb_cgroups_close(struct bb_cgroups *cg)
{
	if (!cg)
		return;
	if (cg->thread_started) {
		uint64_t one = 1;

		if (write(cg->stop_fd, &one, sizeof(one)) != sizeof(one))
			bb_warn("cgroup_id_map %s: cannot stop its thread", cg->map_name);
		pthread_join(cg->thread, NULL);
	}
	for (size_t i = 0; i < cg->n_re; i++)
		regfree(&cg->re[i]);
	free(cg->re);
	for (size_t i = 0; i < cg->n_nodes; i++)
		free(cg->nodes[i].rel);
	free(cg->nodes);
	if (cg->ino_fd >= 0)
		close(cg->ino_fd);
	if (cg->stop_fd >= 0)
		close(cg->stop_fd);
	free(cg);
}

void bb_cgroups_stats(const struct bb_cgroups *cg, struct bb_cgroups_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!cg)
		return;
	out->cgroups = __atomic_load_n(&cg->stat_cgroups, __ATOMIC_RELAXED);
	out->matched = __atomic_load_n(&cg->stat_matched, __ATOMIC_RELAXED);
	out->events = __atomic_load_n(&cg->stat_events, __ATOMIC_RELAXED);
	out->rescans = __atomic_load_n(&cg->stat_rescans, __ATOMIC_RELAXED);
}
