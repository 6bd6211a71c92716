// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only object: ebpf_exporter's SEC("xdp/IFNAME"), attached to the
 * interface the section names. Counts UDP packets to port 9999 arriving on
 * bbxdp0, a veth that tests/integration/test_compat.py creates in a network
 * namespace of its own.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define ETH_P_IP 0x0800
#define TEST_PORT 9999

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} xdp_udp_packets_total SEC(".maps");

SEC("xdp/bbxdp0")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp;
	u32 zero = 0;
	u64 *v;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->protocol != IPPROTO_UDP || ip->ihl != 5)
		return XDP_PASS;
	udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > end || udp->dest != bpf_htons(TEST_PORT))
		return XDP_PASS;
	v = bpf_map_lookup_elem(&xdp_udp_packets_total, &zero);
	if (v)
		__sync_fetch_and_add(v, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
