/* SPDX-License-Identifier: MIT */
/*
 * cgroup_id_map (ebpf_exporter's): keep a BPF map filled with the cgroups
 * whose path matches one of the config's regexps, so a program can count only
 * those. Paths are relative to the cgroup v2 root, as in /proc/PID/cgroup and
 * as the cgroup decoder prints them ("/system.slice/foo.service"), whether v2
 * is mounted at /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified (hybrid).
 *
 * - type hash: key u64 cgroup id (bpf_get_current_cgroup_id()), value u64 1.
 * - type cgrp_storage: BPF_MAP_TYPE_CGRP_STORAGE, value u64 1 for a match;
 *   the kernel drops an entry with its cgroup.
 *
 * The map is filled before the programs attach, then kept current by a thread
 * that watches every cgroup directory with inotify (mkdir and rmdir of a
 * cgroup are seen within milliseconds). When inotify cannot watch (no
 * watches left, queue overflow, a rename) the whole tree is walked again, at
 * most once per BB_CGROUPS_RESCAN_MS while the problem lasts.
 */
#ifndef BPFBRIDGE_CGROUPS_H
#define BPFBRIDGE_CGROUPS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define BB_CGROUPS_RESCAN_MS 5000

struct bb_cgroups;
struct bpf_map;

/*
 * Check MAP against CFG->cgroup_id_map, fill it from the cgroup tree and start
 * watching. Errors name the config file, line and column.
 */
int bb_cgroups_open(const struct bb_config *cfg, struct bpf_map *map, struct bb_cgroups **out,
		    char *err, size_t errlen);

/* Stop watching. The map keeps its content. Safe with NULL. */
void bb_cgroups_close(struct bb_cgroups *cg);

struct bb_cgroups_stats {
	uint64_t cgroups; /* directories watched (or seen by the last walk) */
	uint64_t matched; /* of which matched a regexp and are in the map */
	uint64_t events;  /* inotify events handled */
	uint64_t rescans; /* full walks after the first */
};

void bb_cgroups_stats(const struct bb_cgroups *cg, struct bb_cgroups_stats *out);

/* The cgroup v2 mount point: /sys/fs/cgroup, /sys/fs/cgroup/unified, or the
 * first cgroup2 mount in /proc/self/mounts. Returns 0, or -ENOENT. */
int bb_cgroups_v2_root(char *out, size_t len);

#endif
