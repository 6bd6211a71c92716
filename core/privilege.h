/* SPDX-License-Identifier: MIT */
/*
 * Capabilities: which ones each kind of work needs (measured, see
 * docs/containers.md), and a hint naming the missing ones when the kernel says
 * EPERM or EACCES, so that a non-root run with one capability too few says
 * which.
 */
#ifndef BPFBRIDGE_PRIVILEGE_H
#define BPFBRIDGE_PRIVILEGE_H

#include <stddef.h>
#include <stdint.h>

#define BB_CAP(n) (1ull << (n))
#define BB_CAP_DAC_READ_SEARCH BB_CAP(2)
#define BB_CAP_SYS_ADMIN BB_CAP(21)
#define BB_CAP_SYS_RESOURCE BB_CAP(24)
#define BB_CAP_SYSLOG BB_CAP(34)
#define BB_CAP_PERFMON BB_CAP(38)
#define BB_CAP_BPF BB_CAP(39)

/* What loading and attaching most programs takes (tp_btf, raw_tp, perf_event). */
#define BB_CAPS_BASE (BB_CAP_BPF | BB_CAP_PERFMON)

/*
 * What loading takes: BB_CAPS_BASE, plus CAP_SYS_RESOURCE on a kernel that
 * charges BPF memory to RLIMIT_MEMLOCK (before 5.11) while the limit is finite:
 * libbpf then raises the limit, which needs it.
 */
uint64_t bb_caps_for_load(void);

/* The calling thread's effective set. */
uint64_t bb_caps_effective(void);

/*
 * When ERR is EPERM or EACCES and the effective set lacks some of NEEDED,
 * write " (needs CAP_A and CAP_B; this process lacks CAP_B)" to OUT; else "".
 */
void bb_caps_hint(int err, uint64_t needed, char *out, size_t len);

#endif
