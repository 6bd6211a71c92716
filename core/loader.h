/* SPDX-License-Identifier: MIT */
/*
 * The loader: NAME.bpf.o -> programs loaded and attached.
 *
 * Stages (libbpf-tools style, one cleanup path): read the object (refusing
 * files others can write), open it, write kaddr_* rodata, probe every hook's
 * alternatives and pick the first that can work, check the metric maps
 * against the config, load, attach each program on its own. A program whose
 * load breaks the object is disabled and the load retried, so one bad program
 * (or one bad alternative) does not take its siblings down.
 */
#ifndef BPFBRIDGE_LOADER_H
#define BPFBRIDGE_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpfbridge.h"
#include "config.h"

struct bb_loader;
struct bpf_map;

int bb_loader_open(const struct bb_config *cfg, const struct bb_options *opts,
		   struct bb_loader **out, char *err, size_t errlen);

/*
 * Same, as a reload of RUNNING (may be NULL): when the object is byte for byte
 * the one RUNNING loaded, every map with the same definition is shared
 * (bpf_map__reuse_fd), so counts carry on; RUNNING's programs are then
 * detached just before the new ones attach (re-attached if the reload fails),
 * so no event is counted twice. RUNNING must be closed after a success.
 */
int bb_loader_reopen(const struct bb_config *cfg, const struct bb_options *opts,
		     struct bb_loader *running, struct bb_loader **out, char *err, size_t errlen);

/* Maps the last bb_loader_reopen() shared with the running loader. */
size_t bb_loader_n_reused_maps(const struct bb_loader *ld);

/* Detach every link, close the object. Safe with NULL. */
void bb_loader_close(struct bb_loader *ld);

size_t bb_loader_n_programs(const struct bb_loader *ld);
const struct bb_program_status *bb_loader_program(const struct bb_loader *ld, size_t i);

/* The loaded map NAME, or NULL. */
struct bpf_map *bb_loader_map(const struct bb_loader *ld, const char *name);

/*
 * The fd the reader binds for metric I of the config: the metric's map, or
 * for a perf_event_array counter the map its perf events are counted in.
 * -ENOENT when there is none.
 */
int bb_loader_metric_fd(const struct bb_loader *ld, size_t i);

/*
 * Called once after a config's programs are attached. ebpf_exporter programs
 * put a uprobe on it, SEC("uprobe//proc/self/exe:post_attach_mark"), to run
 * initialization code; the loader attaches such a program to this function
 * in this process, calls it, and detaches it.
 */
void post_attach_mark(void);

/* The online CPUs: *MASK gets libbpf_num_possible_cpus() entries (*N), true where
 * /sys/devices/system/cpu/online lists the CPU. Negative errno on failure. */
int bb_loader_online_cpus(bool **mask, int *n);

/* perf_event/ programs sample every online CPU, also after CPU hotplug: each
 * call closes the events of CPUs gone offline (or switched off by the kernel
 * while their CPU was offline) and opens one on each CPU that came online.
 * Cheap when the config has no perf_event/ program (nothing is read). Called
 * by bb_engine_read() before each read. Returns how many online CPUs are left
 * without their event (a failed attach, warned about once), or a negative
 * errno if the online CPUs cannot be read. */
int bb_loader_follow_cpus(struct bb_loader *ld);

/*
 * What bb_loader_open() does with an object before the load syscall, on OBJ
 * (LEN bytes) in memory: libbpf's open (ELF, BTF, map definitions), the
 * program and hook index, the check of the maps against CFG, the kaddrs
 * written into .rodata (from KADDRS, one per cfg->kaddrs, or /proc/kallsyms
 * when NULL), the probes and the choice of alternatives. Nothing is loaded;
 * everything is freed before it returns. 0, or a negative errno with ERR set.
 * bb_loader_open() runs the same steps; this is the object-side fuzz target's
 * way in (tests/fuzz/fuzz_object.c).
 */
int bb_loader_prepare_mem(const struct bb_config *cfg, const void *obj, size_t len,
			  const uint64_t *kaddrs, char *err, size_t errlen);

/*
 * Keep what opens share (the kernel's BTF, failed probes) until the matching
 * bb_loader_release(), as if an open were running; otherwise it is dropped
 * when the last running open ends.
 */
void bb_loader_hold(void);
void bb_loader_release(void);

/* Route libbpf's messages to bb_log (idempotent, thread-safe). */
void bb_loader_init_libbpf(void);

#endif
