/* SPDX-License-Identifier: MIT */
/*
 * ebpf_exporter's perf_event_array counters: the BPF program writes one event
 * per occurrence into a BPF_MAP_TYPE_PERF_EVENT_ARRAY named after the counter,
 * and each event counts 1 for the label set held in its first bytes.
 *
 * A sink consumes the perf buffer in its own thread and keeps the counts in a
 * hash map it creates in the kernel (key: the label bytes, value: a u64), so
 * the reader binds that map like any other metric map and needs to know
 * nothing about perf buffers. As ebpf_exporter does, every flush_interval
 * (default one hour) the counts start again from zero, so label sets that
 * stopped appearing go away.
 */
#ifndef BPFBRIDGE_PERFSINK_H
#define BPFBRIDGE_PERFSINK_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct bb_perfsink;

/* The key the sink's map uses for M: its labels' bytes, or a u32 0 without any. */
uint32_t bb_perfsink_key_size(const struct bb_metric_conf *m);

/*
 * Create the counting map for metric M (at most MAX_ENTRIES label sets) and
 * start consuming the perf event array open at PERF_MAP_FD (borrowed; it
 * must outlive the sink). CONFIG names the config in messages.
 */
int bb_perfsink_start(const char *config, const struct bb_metric_conf *m, int perf_map_fd,
		      uint32_t max_entries, struct bb_perfsink **out, char *err, size_t errlen);

/* The counting map's fd, for bb_reader_bind(). */
int bb_perfsink_map_fd(const struct bb_perfsink *s);

/* Events the kernel could not deliver (perf buffer full), since the start. */
uint64_t bb_perfsink_lost(const struct bb_perfsink *s);

/* Stop the thread, close the map, free. Safe with NULL. */
void bb_perfsink_stop(struct bb_perfsink *s);

#endif
