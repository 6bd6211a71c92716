/* SPDX-License-Identifier: MIT */
/* Map layout of tcp-retransmits.bpf.c, as tcp-retransmits.yaml describes it. */
#ifndef BPFBRIDGE_TCP_RETRANSMITS_H
#define BPFBRIDGE_TCP_RETRANSMITS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

struct tcp_retransmits_key {
	__u32 family; /* AF_INET (2) or AF_INET6 (10) */
	__u32 state;  /* TCP_ESTABLISHED (1) ... as in include/net/tcp_states.h */
};

#endif
