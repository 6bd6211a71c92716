/* SPDX-License-Identifier: MIT */
/* confdir.h: named engines kept in step with a watched config directory. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "confdir.h"

#define YAML_SUFFIX ".yaml"
#define OBJ_SUFFIX ".bpf.o"

/* What identifies one version of a file; present false when it is missing.
 * Not ctime: `cp` changes the mode after closing the file, which must not
 * count as a second version. */
struct filesig {
	bool present;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct bb_confent {
	char *name;
	char *yaml_path, *obj_path;
	bool in_dir;	    /* its files are in the watched directory (inotify covers them) */
	bool explicit_name; /* named in the front-end's configuration, not found by AutoLoad */
	bool missing_logged;
	unsigned refs;
	pthread_mutex_t lock; /* engine, last_ok, last_error, failures, generation */
	struct bb_engine *engine;
	bool removed;
	bool last_ok;
	char last_error[BB_ERRMSG_MAX + 128];
	uint64_t failures;
	uint64_t generation;
	struct bb_labelset *labels; /* config=NAME, for the reload self-metrics */
	uint64_t self_id0;	    /* bb_series_ids of its two reload self-metric series */
	/* the files as last loaded (or last failed to load), and as last polled */
	struct filesig loaded_yaml, loaded_obj, polled_yaml, polled_obj;
	bool seen; /* scratch: found by this poll */
};

/* inotify's view of one file name in the directory. */
enum file_state { FILE_WRITING, FILE_CLOSED };
struct file_mark {
	char *name;
	enum file_state state;
};

struct bb_confdir {
	char *dir;
	bool autoload;
	char **names;
	size_t n_names;
	struct bb_options opts;
	int ifd;
	struct file_mark *marks;
	size_t n_marks;
	struct bb_confent **ents;
	size_t n_ents;
	bool polled_once;
	uint64_t failures;
};

static void sig_of(const char *path, struct filesig *sig)
{
	struct stat st;

	memset(sig, 0, sizeof(*sig));
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	sig->present = true;
	sig->dev = st.st_dev;
	sig->ino = st.st_ino;
	sig->size = st.st_size;
	sig->mtime = st.st_mtim;
}

static bool sig_eq(const struct filesig *a, const struct filesig *b)
{
	return a->present == b->present && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* ---- inotify marks ------------------------------------------------------------------ */

static struct file_mark *mark_find(struct bb_confdir *cd, const char *name)
{
	for (size_t i = 0; i < cd->n_marks; i++)
		if (strcmp(cd->marks[i].name, name) == 0)
			return &cd->marks[i];
	return NULL;
}

static void mark_drop(struct bb_confdir *cd, const char *name)
{
	struct file_mark *m = mark_find(cd, name);

	if (!m)
		return;
	free(m->name);
	*m = cd->marks[--cd->n_marks];
}

static void marks_clear(struct bb_confdir *cd)
{
	for (size_t i = 0; i < cd->n_marks; i++)
		free(cd->marks[i].name);
	free(cd->marks);
	cd->marks = NULL;
	cd->n_marks = 0;
}

static void mark_set(struct bb_confdir *cd, const char *name, enum file_state state)
{
	struct file_mark *m = mark_find(cd, name), *grown;

	if (m) {
		m->state = state;
		return;
	}
	grown = realloc(cd->marks, (cd->n_marks + 1) * sizeof(*grown));
	if (!grown)
		goto oom;
	cd->marks = grown;
	cd->marks[cd->n_marks].name = strdup(name);
	if (!cd->marks[cd->n_marks].name)
		goto oom;
	cd->marks[cd->n_marks++].state = state;
	return;
oom:
	/* Without marks every file waits for the stat settle check: still safe. */
	bb_warn("%s: out of memory tracking files being written; relying on the stat check",
		cd->dir);
	marks_clear(cd);
}

/* Only config files matter; a temporary name (dotfile, NAME.yaml.tmp) is not one. */
static bool config_file_name(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	return (n > strlen(YAML_SUFFIX) && !strcmp(name + n - strlen(YAML_SUFFIX), YAML_SUFFIX)) ||
	       (n > strlen(OBJ_SUFFIX) && !strcmp(name + n - strlen(OBJ_SUFFIX), OBJ_SUFFIX));
}

static void drain_inotify(struct bb_confdir *cd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t len = read(cd->ifd, buf, sizeof(buf));

		if (len <= 0)
			return; /* EAGAIN: drained */
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				/* events lost: nothing is known complete any more */
				marks_clear(cd);
				continue;
			}
			if (!ev->len || (ev->mask & IN_ISDIR) || !config_file_name(ev->name))
				continue;
			if (ev->mask & (IN_CREATE | IN_MODIFY))
				mark_set(cd, ev->name, FILE_WRITING);
			else if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO))
				mark_set(cd, ev->name, FILE_CLOSED);
			else if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
				mark_drop(cd, ev->name);
		}
	}
}

/* ---- entries ------------------------------------------------------------------------ */

void bb_confent_ref(struct bb_confent *ent)
{
	__atomic_add_fetch(&ent->refs, 1, __ATOMIC_RELAXED);
}

void bb_confent_unref(struct bb_confent *ent)
{
	if (!ent || __atomic_sub_fetch(&ent->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	bb_engine_close(ent->engine);
	bb_labelset_unref(ent->labels);
	pthread_mutex_destroy(&ent->lock);
	free(ent->name);
	free(ent->yaml_path);
	free(ent->obj_path);
	free(ent);
}

const char *bb_confent_name(const struct bb_confent *ent)
{
	return ent->name;
}

bool bb_confent_removed(const struct bb_confent *ent)
{
	return __atomic_load_n(&ent->removed, __ATOMIC_ACQUIRE);
}

bool bb_confent_tried(const struct bb_confent *ent)
{
	return ent->loaded_yaml.present;
}

uint64_t bb_confent_generation(const struct bb_confent *ent)
{
	return __atomic_load_n(&ent->generation, __ATOMIC_ACQUIRE);
}

struct bb_engine *bb_confent_lock(struct bb_confent *ent, const char **last_error)
{
	pthread_mutex_lock(&ent->lock);
	if (last_error)
		*last_error = ent->last_error;
	return ent->engine;
}

void bb_confent_unlock(struct bb_confent *ent)
{
	pthread_mutex_unlock(&ent->lock);
}

static int add_self(struct bb_snapshot *snap, struct bb_labelset *labels, uint64_t id,
		    const char *name, const char *help, enum bb_metric_kind kind, uint64_t value)
{
	static const char *const label_names[] = { "config" };
	struct bb_family *fam = bb_snapshot_family(snap, name, help, kind, label_names, 1);
	struct bb_series *s = fam ? bb_family_add_shared(fam, labels) : NULL;

	if (!s)
		return -ENOMEM;
	s->id = id; /* the SNMP tables serve a series by its id */
	s->value = value;
	return 0;
}

int bb_confent_read(struct bb_confent *ent, struct bb_snapshot *snap, uint64_t *generation)
{
	int ret = 0, sret;

	pthread_mutex_lock(&ent->lock);
	if (generation)
		*generation = ent->generation;
	if (ent->engine)
		ret = bb_engine_read(ent->engine, snap);
	sret = add_self(snap, ent->labels, ent->self_id0, "bpfbridge_config_reload_failures_total",
			"Loads and reloads of the config that failed (the running engine, if "
			"any, was kept).",
			BB_METRIC_COUNTER, ent->failures);
	sret |= add_self(snap, ent->labels, ent->self_id0 + 1,
			 "bpfbridge_config_last_reload_successful",
			 "Whether the last load or reload of the config succeeded (1) or not (0).",
			 BB_METRIC_GAUGE, ent->last_ok);
	pthread_mutex_unlock(&ent->lock);
	return ret ? ret : sret;
}

static struct bb_confent *ent_new(const char *name, const char *yaml_path, bool in_dir)
{
	struct bb_confent *ent = calloc(1, sizeof(*ent));
	size_t ylen = strlen(yaml_path), dlen;

	if (!ent)
		return NULL;
	dlen = ylen - strlen(name) - strlen(YAML_SUFFIX);
	ent->refs = 1;
	ent->in_dir = in_dir;
	pthread_mutex_init(&ent->lock, NULL);
	ent->name = strdup(name);
	ent->yaml_path = strdup(yaml_path);
	ent->obj_path = malloc(dlen + strlen(name) + sizeof(OBJ_SUFFIX));
	ent->labels = bb_labelset_new(&name, 1);
	ent->self_id0 = bb_series_ids(2); /* its two self-metric series, for its life */
	if (!ent->name || !ent->yaml_path || !ent->obj_path || !ent->labels) {
		bb_confent_unref(ent);
		return NULL;
	}
	sprintf(ent->obj_path, "%.*s%s%s", (int)dlen, yaml_path, name, OBJ_SUFFIX);
	return ent;
}

static struct bb_confent *ent_find(const struct bb_confdir *cd, const char *name)
{
	for (size_t i = 0; i < cd->n_ents; i++)
		if (strcmp(cd->ents[i]->name, name) == 0)
			return cd->ents[i];
	return NULL;
}

static int ent_cmp(const void *a, const void *b)
{
	return strcmp((*(struct bb_confent *const *)a)->name,
		      (*(struct bb_confent *const *)b)->name);
}

/* A candidate found by this poll: known, or a new entry. */
static void candidate(struct bb_confdir *cd, const char *name, const char *yaml_path, bool in_dir,
		      bool explicit_name)
{
	struct bb_confent *ent = ent_find(cd, name), **grown;

	if (ent) {
		ent->seen = true;
		ent->explicit_name |= explicit_name;
		return;
	}
	grown = realloc(cd->ents, (cd->n_ents + 1) * sizeof(*grown));
	if (!grown) {
		bb_err("%s: out of memory adding config %s", cd->dir, name);
		return;
	}
	cd->ents = grown;
	ent = ent_new(name, yaml_path, in_dir);
	if (!ent) {
		bb_err("%s: out of memory adding config %s", cd->dir, name);
		return;
	}
	ent->seen = true;
	ent->explicit_name = explicit_name;
	cd->ents[cd->n_ents++] = ent;
}

static void scan_dir(struct bb_confdir *cd)
{
	DIR *d = opendir(cd->dir);
	struct dirent *de;

	if (!d) {
		/* logged once: the directory may be created later */
		static __thread int last_errno;

		if (errno != last_errno)
			bb_warn("%s: cannot read the config directory: %s", cd->dir,
				bb_strerror(errno));
		last_errno = errno;
		return;
	}
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char name[NAME_MAX + 1], *path;

		if (de->d_name[0] == '.' || n <= strlen(YAML_SUFFIX) ||
		    strcmp(de->d_name + n - strlen(YAML_SUFFIX), YAML_SUFFIX) != 0)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(n - strlen(YAML_SUFFIX)), de->d_name);
		path = bb_config_path(cd->dir, name);
		if (path)
			candidate(cd, name, path, true, false);
		free(path);
	}
	closedir(d);
}

static void scan_explicit(struct bb_confdir *cd)
{
	for (size_t i = 0; i < cd->n_names; i++) {
		char *path = bb_config_path(cd->dir, cd->names[i]);
		const char *base;
		char name[NAME_MAX + 1];
		size_t n;

		if (!path)
			continue;
		base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		n = strlen(base);
		if (n > strlen(YAML_SUFFIX) && !strcmp(base + n - strlen(YAML_SUFFIX), YAML_SUFFIX))
			n -= strlen(YAML_SUFFIX);
		snprintf(name, sizeof(name), "%.*s", (int)n, base);
		candidate(cd, name, path, !strchr(cd->names[i], '/'), true);
		free(path);
	}
}

/*
 * Complete enough to load: never while inotify saw it written and not yet
 * closed; then when inotify saw it closed or renamed in, or when it did not
 * change since the previous poll (the first poll trusts what it finds).
 */
static bool file_ready(struct bb_confdir *cd, const struct bb_confent *ent, const char *path,
		       const struct filesig *now, const struct filesig *polled)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	const struct file_mark *m = cd->ifd >= 0 && ent->in_dir ? mark_find(cd, base) : NULL;

	if (m && m->state == FILE_WRITING)
		return false;
	return (m && m->state == FILE_CLOSED) || sig_eq(now, polled) || !cd->polled_once;
}

static void ent_remove(struct bb_confdir *cd, size_t i, const char *gone)
{
	struct bb_confent *ent = cd->ents[i];
	struct bb_engine *old;

	pthread_mutex_lock(&ent->lock);
	old = ent->engine;
	ent->engine = NULL;
	__atomic_store_n(&ent->removed, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&ent->lock);
	if (old && gone)
		bb_info("config %s: removed (%s is gone); its programs are detached", ent->name,
			gone);
	bb_engine_close(old);
	memmove(cd->ents + i, cd->ents + i + 1, (cd->n_ents - i - 1) * sizeof(*cd->ents));
	cd->n_ents--;
	bb_confent_unref(ent);
}

/* Open ENT's files beside its running engine and swap the new one in. */
static int ent_load(struct bb_confdir *cd, struct bb_confent *ent)
{
	char err[BB_ERRMSG_MAX + 64] = "";
	struct bb_engine *eng = NULL, *old;
	struct filesig y, o;
	int ret;

	ret = bb_engine_reopen(ent->yaml_path, &cd->opts, ent->engine, &eng, err, sizeof(err));
	if (ret == 0) {
		size_t kept = bb_engine_maps_kept(eng);

		pthread_mutex_lock(&ent->lock);
		old = ent->engine;
		if (bb_engine_inherit(eng, old))
			bb_warn("config %s: out of memory: its series get new ids", ent->name);
		ent->engine = eng;
		ent->last_ok = true;
		ent->last_error[0] = '\0';
		__atomic_add_fetch(&ent->generation, 1, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&ent->lock);
		if (!old)
			bb_info("config %s: loaded from %s", ent->name, ent->yaml_path);
		else if (kept)
			bb_info("config %s: reloaded; same object, %zu map(s) and their counts "
				"kept",
				ent->name, kept);
		else
			bb_info("config %s: reloaded with a new object; its counts start again",
				ent->name);
		bb_engine_close(old);
		return 1;
	}
	/* Removed while loading: that is a removal, not a failure. */
	sig_of(ent->yaml_path, &y);
	sig_of(ent->obj_path, &o);
	if (!y.present || !o.present) {
		bb_info("config %s: its files went away while loading", ent->name);
		return 0;
	}
	pthread_mutex_lock(&ent->lock);
	ent->failures++;
	ent->last_ok = false;
	snprintf(ent->last_error, sizeof(ent->last_error), "%s", err);
	pthread_mutex_unlock(&ent->lock);
	cd->failures++;
	if (ent->engine)
		bb_err("config %s: reload failed, the running version keeps running: %s", ent->name,
		       err);
	else
		bb_err("config %s: %s", ent->name, err);
	return 1;
}

int bb_confdir_poll(struct bb_confdir *cd)
{
	int changes = 0;

	if (cd->ifd >= 0)
		drain_inotify(cd);
	for (size_t i = 0; i < cd->n_ents; i++)
		cd->ents[i]->seen = false;
	if (cd->autoload)
		scan_dir(cd);
	scan_explicit(cd);

	for (size_t i = 0; i < cd->n_ents;) {
		struct bb_confent *ent = cd->ents[i];
		struct filesig y, o;
		bool ready;

		sig_of(ent->yaml_path, &y);
		sig_of(ent->obj_path, &o);
		if (!ent->seen || !y.present || !o.present) {
			/* a pair only counts when both halves are there */
			if (ent->engine || ent->loaded_yaml.present || !ent->seen) {
				if (ent->engine)
					changes++;
				ent_remove(cd, i, !y.present ? ent->yaml_path : ent->obj_path);
				continue;
			}
			ent->polled_yaml = y;
			ent->polled_obj = o;
			if (ent->explicit_name && !ent->missing_logged) {
				if (y.present)
					bb_err("config %s: cannot load: %s: no such file: config "
					       "%s "
					       "needs its BPF object next to it (loaded when it is "
					       "there)",
					       ent->name, ent->obj_path, ent->yaml_path);
				else
					bb_err("config %s: cannot load: %s: no such file (loaded "
					       "when it is there)",
					       ent->name, ent->yaml_path);
				ent->missing_logged = true;
				pthread_mutex_lock(&ent->lock);
				snprintf(ent->last_error, sizeof(ent->last_error),
					 "%s: no such file",
					 y.present ? ent->obj_path : ent->yaml_path);
				pthread_mutex_unlock(&ent->lock);
			}
			i++;
			continue;
		}
		ent->missing_logged = false;
		ready = !(sig_eq(&y, &ent->loaded_yaml) && sig_eq(&o, &ent->loaded_obj)) &&
			file_ready(cd, ent, ent->yaml_path, &y, &ent->polled_yaml) &&
			file_ready(cd, ent, ent->obj_path, &o, &ent->polled_obj);
		ent->polled_yaml = y;
		ent->polled_obj = o;
		if (ready) {
			ent->loaded_yaml = y;
			ent->loaded_obj = o;
			/* the closes are used up: a later change needs its own */
			if (cd->ifd >= 0 && ent->in_dir) {
				mark_drop(cd, strrchr(ent->yaml_path, '/') + 1);
				mark_drop(cd, strrchr(ent->obj_path, '/') + 1);
			}
			changes += ent_load(cd, ent);
		}
		i++;
	}
	cd->polled_once = true;
	if (cd->n_ents > 1)
		qsort(cd->ents, cd->n_ents, sizeof(*cd->ents), ent_cmp);
	return changes;
}

int bb_confdir_adopt(struct bb_confdir *cd, struct bb_engine *eng)
{
	const struct bb_config *cfg = bb_engine_config(eng);
	const char *slash = strrchr(cfg->yaml_path, '/');
	size_t dlen = slash ? (size_t)(slash - cfg->yaml_path) : 1;
	char **names = realloc(cd->names, (cd->n_names + 1) * sizeof(*names));
	struct bb_confent *ent;

	if (!names)
		return -ENOMEM;
	cd->names = names;
	cd->names[cd->n_names] = strdup(cfg->yaml_path);
	if (!cd->names[cd->n_names])
		return -ENOMEM;
	cd->n_names++;
	candidate(cd, cfg->name, cfg->yaml_path,
		  slash && strlen(cd->dir) == dlen && !strncmp(cd->dir, cfg->yaml_path, dlen),
		  true);
	ent = ent_find(cd, cfg->name);
	if (!ent || ent->engine)
		return ent ? -EEXIST : -ENOMEM;
	sig_of(ent->yaml_path, &ent->loaded_yaml);
	sig_of(ent->obj_path, &ent->loaded_obj);
	ent->polled_yaml = ent->loaded_yaml;
	ent->polled_obj = ent->loaded_obj;
	ent->engine = eng;
	ent->last_ok = true;
	ent->generation = 1;
	return 0;
}

/* ---- the directory ------------------------------------------------------------------ */

int bb_confdir_new(const struct bb_confdir_conf *conf, const struct bb_options *opts,
		   struct bb_confdir **out, char *err, size_t errlen)
{
	struct bb_confdir *cd = calloc(1, sizeof(*cd));

	*out = NULL;
	if (!cd || !(cd->dir = strdup(conf->dir ? conf->dir : "."))) {
		free(cd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	cd->autoload = conf->autoload;
	cd->ifd = -1;
	if (opts)
		cd->opts = *opts;
	else
		bb_options_init(&cd->opts);
	cd->names = calloc(conf->n_names ? conf->n_names : 1, sizeof(*cd->names));
	if (!cd->names)
		goto oom;
	for (size_t i = 0; i < conf->n_names; i++) {
		cd->names[i] = strdup(conf->names[i]);
		if (!cd->names[i])
			goto oom;
		cd->n_names++;
	}
	if (!conf->no_inotify) {
		cd->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (cd->ifd >= 0 &&
		    inotify_add_watch(cd->ifd, cd->dir,
				      IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO |
					      IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR) < 0) {
			/* explicit configs elsewhere are stat-checked anyway */
			bb_log(cd->autoload ? BB_LOG_WARN : BB_LOG_DEBUG,
			       "%s: cannot watch the config directory with inotify (%s); "
			       "checking it once per interval instead",
			       cd->dir, bb_strerror(errno));
			close(cd->ifd);
			cd->ifd = -1;
		} else if (cd->ifd < 0) {
			bb_warn("%s: no inotify (%s); checking the config directory once per "
				"interval instead",
				cd->dir, bb_strerror(errno));
		}
	}
	*out = cd;
	return 0;
oom:
	bb_confdir_free(cd);
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

void bb_confdir_free(struct bb_confdir *cd)
{
	if (!cd)
		return;
	while (cd->n_ents)
		ent_remove(cd, cd->n_ents - 1, NULL);
	free(cd->ents);
	marks_clear(cd);
	if (cd->ifd >= 0)
		close(cd->ifd);
	for (size_t i = 0; i < cd->n_names; i++)
		free(cd->names[i]);
	free(cd->names);
	free(cd->dir);
	free(cd);
}

int bb_confdir_fd(const struct bb_confdir *cd)
{
	return cd ? cd->ifd : -1;
}

size_t bb_confdir_n_entries(const struct bb_confdir *cd)
{
	return cd ? cd->n_ents : 0;
}

struct bb_confent *bb_confdir_entry(const struct bb_confdir *cd, size_t i)
{
	return cd && i < cd->n_ents ? cd->ents[i] : NULL;
}

uint64_t bb_confdir_failures(const struct bb_confdir *cd)
{
	return cd ? cd->failures : 0;
}
