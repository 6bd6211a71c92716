/* SPDX-License-Identifier: MIT */
/*
 * Run-time configuration: a set of named engines kept in step with a config
 * directory (docs/collectd.md, "Run-time configuration").
 *
 * Each bb_confdir_poll() looks at the directory (every NAME.yaml with its
 * NAME.bpf.o when autoload is on, plus the explicitly named configs) and
 * applies what changed: a new pair is opened, a changed pair is opened beside
 * the running engine and swapped in (the old one keeps running when that
 * fails), a removed pair is detached and freed.
 *
 * Half-written files: a file is loaded only once it is known complete: inotify
 * reported IN_CLOSE_WRITE or IN_MOVED_TO for it and no write since, or
 * (without inotify, or for files it did not report) its (dev, inode, size,
 * mtime) did not change between two polls. A file inotify saw being written
 * and not yet closed is never loaded.
 *
 * Threads: one thread polls; other threads may read entries at the same time
 * (bb_confent_read locks the entry, the swap happens under that lock).
 */
#ifndef BPFBRIDGE_CONFDIR_H
#define BPFBRIDGE_CONFDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpfbridge.h"

struct bb_confdir;
struct bb_confent;

struct bb_confdir_conf {
	const char *dir;	  /* the config directory */
	bool autoload;		  /* every NAME.yaml with its NAME.bpf.o in dir */
	const char *const *names; /* explicit configs: NAME, NAME.yaml or a path */
	size_t n_names;
	bool no_inotify; /* tests: the stat scan alone */
};

int bb_confdir_new(const struct bb_confdir_conf *conf, const struct bb_options *opts,
		   struct bb_confdir **out, char *err, size_t errlen);

/*
 * Take over ENG, opened from its yaml_path by the caller: it becomes the entry
 * of its name, watched like an explicit config (reloaded when its files
 * change, closed when they go). The first poll then finds nothing to do.
 */
int bb_confdir_adopt(struct bb_confdir *cd, struct bb_engine *eng);

/* Close every engine (their programs detach) and free. Entries still
 * referenced by a front-end live on, empty, until their last unref. */
void bb_confdir_free(struct bb_confdir *cd);

/* The inotify descriptor (readable when something changed), or -1. */
int bb_confdir_fd(const struct bb_confdir *cd);

/*
 * Apply the changes since the last poll. Returns how many configs were added,
 * replaced, removed or failed to (re)load. Errors are logged once per change
 * of the files, with the engine's file:line:column message.
 */
int bb_confdir_poll(struct bb_confdir *cd);

/* The entries, in name order; valid until the next poll unless referenced. */
size_t bb_confdir_n_entries(const struct bb_confdir *cd);
struct bb_confent *bb_confdir_entry(const struct bb_confdir *cd, size_t i);

/* Configs that could not be loaded, over the directory's life. */
uint64_t bb_confdir_failures(const struct bb_confdir *cd);

void bb_confent_ref(struct bb_confent *ent);
void bb_confent_unref(struct bb_confent *ent);
const char *bb_confent_name(const struct bb_confent *ent);
/* The config's files are gone: its engine is closed, the entry will not come back. */
bool bb_confent_removed(const struct bb_confent *ent);
/* A load was tried (poll thread only): false while a pair waits for its other half. */
bool bb_confent_tried(const struct bb_confent *ent);
/* Bumped each time the engine is replaced (front-ends rebuild what they keep of it). */
uint64_t bb_confent_generation(const struct bb_confent *ent);

/*
 * Read the entry's engine into SNAP (if it has one), plus the reload
 * self-metrics bpfbridge_config_reload_failures_total and
 * bpfbridge_config_last_reload_successful. Returns what bb_engine_read does.
 * GENERATION (may be NULL) gets the generation of the engine read: series ids
 * are those of its store, and start again with each new engine.
 */
int bb_confent_read(struct bb_confent *ent, struct bb_snapshot *snap, uint64_t *generation);

/*
 * Lock the entry and return its engine (NULL when it has none: its first load
 * failed, or it was removed); LAST_ERROR gets the last reload error or "".
 * Nothing may keep the engine after bb_confent_unlock().
 */
struct bb_engine *bb_confent_lock(struct bb_confent *ent, const char **last_error);
void bb_confent_unlock(struct bb_confent *ent);

#endif
