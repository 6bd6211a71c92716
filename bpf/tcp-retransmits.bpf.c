// SPDX-License-Identifier: GPL-2.0-only
/* TCP retransmissions sent, per address family and TCP state. */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "tcp-retransmits.h"
#include "core_fixes.bpf.h"
#include "maps.bpf.h"

/* 2 families x 13 states fit many times over. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, struct tcp_retransmits_key);
	__type(value, __u64);
} tcp_retransmits_total SEC(".maps");

static __always_inline int tcp_retransmits_count(const struct sock *sk, int err)
{
	struct tcp_retransmits_key key = {};

	/* Since v6.17 the event also fires for retransmissions that failed
	 * (core_fixes.bpf.h); count only those that were sent, as before. */
	if (err || !sk)
		return 0;
	key.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	key.state = BPF_CORE_READ(sk, __sk_common.skc_state);
	bb_counter_inc(&tcp_retransmits_total, &key);
	return 0;
}

/* hook tcp_retransmit_skb: TP_PROTO(const struct sock *sk, const struct sk_buff *skb
 * [, int err since v6.17]) */

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tp_btf_tcp_retransmit_skb, const struct sock *sk)
{
	int err = 0;

	if (bb_tcp_retransmit_has_err())
		err = (int)ctx[2];
	return tcp_retransmits_count(sk, err);
}

SEC("tracepoint/tcp/tcp_retransmit_skb")
int tracepoint_tcp_retransmit_skb(void *ctx)
{
	const struct sock *sk;
	int err;

	sk = bb_tcp_retransmit_tp_sk(ctx, &err);
	return tcp_retransmits_count(sk, err);
}

char LICENSE[] SEC("license") = "GPL";
