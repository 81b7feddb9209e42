// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0)
// tidewatch's XDP program: counts every frame per RX queue, drops frames whose IPv4/IPv6
// source or destination falls in the blocklist, and redirects the rest to the AF_XDP
// socket of the frame's RX queue (or passes them to the kernel when no socket is there).
// Map names and counter indices are mirrored in src/lib.rs; keep them in step.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_QUEUES 64
#define C_SEEN 0
#define C_REDIRECTED 1
#define C_PASSED 2
#define C_BLOCKED 3
#define C_ERRORS 4
#define N_COUNTERS 5
#define BLOCK_ENTRIES 65536

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} tw_xsks SEC(".maps");

// Index: queue * N_COUNTERS + counter.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_QUEUES * N_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} tw_counters SEC(".maps");

struct v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, BLOCK_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct v4_key);
	__type(value, __u8);
} tw_block_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, BLOCK_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct v6_key);
	__type(value, __u8);
} tw_block_v6 SEC(".maps");

static __always_inline void count(__u32 base, __u32 which)
{
	__u32 idx = base + which;
	__u64 *c = bpf_map_lookup_elem(&tw_counters, &idx);
	if (c)
		*c += 1;
}

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

// 1 when the frame is blocklisted, 0 when not, -1 when its headers are cut short.
static __always_inline int blocked(void *data, void *end)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return -1;
	__u16 proto = eth->h_proto;
	void *l3 = eth + 1;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_hdr *v = l3;
		if ((void *)(v + 1) > end)
			return -1;
		proto = v->proto;
		l3 = v + 1;
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > end)
			return -1;
		struct v4_key k = { .prefixlen = 32 };
		__builtin_memcpy(k.addr, &ip->saddr, 4);
		if (bpf_map_lookup_elem(&tw_block_v4, &k))
			return 1;
		__builtin_memcpy(k.addr, &ip->daddr, 4);
		if (bpf_map_lookup_elem(&tw_block_v4, &k))
			return 1;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > end)
			return -1;
		struct v6_key k = { .prefixlen = 128 };
		__builtin_memcpy(k.addr, &ip6->saddr, 16);
		if (bpf_map_lookup_elem(&tw_block_v6, &k))
			return 1;
		__builtin_memcpy(k.addr, &ip6->daddr, 16);
		if (bpf_map_lookup_elem(&tw_block_v6, &k))
			return 1;
	}
	return 0;
}

SEC("xdp")
int tidewatch(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 q = ctx->rx_queue_index;
	__u32 base = (q < MAX_QUEUES ? q : MAX_QUEUES - 1) * N_COUNTERS;

	count(base, C_SEEN);
	int b = blocked(data, end);
	if (b > 0) {
		count(base, C_BLOCKED);
		return XDP_DROP;
	}
	// Frames too short to check still go to the sensor, whose decoder counts them.
	if (b < 0)
		count(base, C_ERRORS);
	if (bpf_map_lookup_elem(&tw_xsks, &q)) {
		long r = bpf_redirect_map(&tw_xsks, q, XDP_PASS);
		if (r == XDP_REDIRECT) {
			count(base, C_REDIRECTED);
			return XDP_REDIRECT;
		}
	}
	count(base, C_PASSED);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
