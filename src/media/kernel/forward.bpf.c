// SPDX-License-Identifier: MIT OR GPL-2.0-only
//
// Hibiki's kernel RTP forwarder: a tc (TCX) ingress program that relays the
// latched RTP of bridged calls inside the kernel, so a relayed packet costs
// no system call of the server's. Built by build.rs with clang
// (`clang -O2 -g -target bpf`); loaded and fed by src/media/kernel.rs,
// which documents the design. This file is the only C in Hibiki: the
// kernel runs BPF bytecode, and the stable Rust toolchain cannot emit it.
//
// For each packet: an IPv4/UDP datagram to a leg in `flows` (keyed by its
// local address and port), from that leg's latched peer, carrying a plain
// RTP packet (V=2, no padding, extension or CSRC) of the expected payload
// type and source (SSRC), 1 to 2,999 sequence numbers ahead of the last one
// forwarded, is
//   1. copied, as received, into the `events` ring buffer, where the
//      server's media worker records it, detects its DTMF and keeps its
//      per-leg state as if it had read it from the socket;
//   2. rewritten for the other leg (addresses, ports, payload type, and
//      sequence, timestamp and SSRC continuing that leg's outgoing stream),
//      with the IP and UDP checksums updated;
//   3. delivered: locally (the peer is on this host) or redirected out of
//      the interface the route to the peer takes.
// Anything else (strangers, RTCP, telephone-events, duplicates, jumps,
// other interfaces' traffic, a full ring) goes on up the stack untouched
// (TCX_NEXT), to the next program or to the leg's socket, where the server
// handles it as it would without this program: nothing is forwarded that
// is not also recorded.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>

// What libbpf's bpf_helpers.h would give: written out so that building
// needs only clang and the kernel's UAPI headers.
#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int(*name)[val]
#define __type(name, val) typeof(val) *name

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)BPF_FUNC_ktime_get_ns;
static long (*bpf_skb_load_bytes)(const void *skb, __u32 offset, void *to, __u32 len) = (void *)BPF_FUNC_skb_load_bytes;
static long (*bpf_skb_store_bytes)(void *skb, __u32 offset, const void *from, __u32 len, __u64 flags) = (void *)BPF_FUNC_skb_store_bytes;
static long (*bpf_l3_csum_replace)(void *skb, __u32 offset, __u64 from, __u64 to, __u64 size) = (void *)BPF_FUNC_l3_csum_replace;
static long (*bpf_l4_csum_replace)(void *skb, __u32 offset, __u64 from, __u64 to, __u64 flags) = (void *)BPF_FUNC_l4_csum_replace;
static __s64 (*bpf_csum_diff)(__be32 *from, __u32 from_size, __be32 *to, __u32 to_size, __wsum seed) = (void *)BPF_FUNC_csum_diff;
static long (*bpf_redirect)(__u32 ifindex, __u64 flags) = (void *)BPF_FUNC_redirect;
static long (*bpf_fib_lookup)(void *ctx, struct bpf_fib_lookup *params, int plen, __u32 flags) = (void *)BPF_FUNC_fib_lookup;
static void *(*bpf_ringbuf_reserve)(void *ringbuf, __u64 size, __u64 flags) = (void *)BPF_FUNC_ringbuf_reserve;
static void (*bpf_ringbuf_submit)(void *data, __u64 flags) = (void *)BPF_FUNC_ringbuf_submit;
static void (*bpf_ringbuf_discard)(void *data, __u64 flags) = (void *)BPF_FUNC_ringbuf_discard;

#define bswap16(x) __builtin_bswap16(x)
#define bswap32(x) __builtin_bswap32(x)

// TCX verdicts (the same numbers as tc's TC_ACT_*).
#define NEXT (-1)
#define PASS 0
#define REDIRECT 7

#define IP_OFF ETH_HLEN
#define UDP_OFF (IP_OFF + 20)
#define RTP_OFF (UDP_OFF + 8)
#define RTP_HEADER 12
// Largest RTP packet forwarded (G.711 at up to 50 ms).
#define EVENT_DATA 488
#define MAX_DROPOUT 3000

// A leg, by where its packets arrive: address and port in network order.
struct flow_key {
	__u32 addr;
	__u16 port;
	__u16 pad;
};

// What to do with its packets. Addresses and ports in network order,
// RTP numbers in host order. The layout is src/media/kernel.rs's
// `Flow::encode`; keep them together.
struct flow {
	__u32 peer_addr;     // 0: the latched source
	__u16 peer_port;     // 4
	__u8 in_pt;          // 6: the payload type forwarded
	__u8 out_pt;         // 7: the other leg's payload type for it
	__u32 out_src_addr;  // 8: the other leg's local address
	__u16 out_src_port;  // 12
	__u16 out_dst_port;  // 14: the other leg's peer
	__u32 out_dst_addr;  // 16
	__u32 src_ssrc;      // 20: the source relayed now
	__u32 out_ssrc;      // 24: the other leg's SSRC
	__u32 ts_offset;     // 28: out = source + offset (wrapping)
	__u16 seq_offset;    // 32
	__u16 last_src_seq;  // 34: the newest source sequence forwarded
	__u8 local;          // 36: the other leg's peer is on this host
	__u8 pad[3];         // 37
	__u64 cookie;        // 40: names the leg to the server
	__u64 packets;       // 48: forwarded
	__u64 ring_full;     // 56: left to the socket because the ring was full
};

// One forwarded packet, as it arrived. Layout: src/media/kernel.rs's
// `Forwarded::decode`.
struct event {
	__u64 cookie;
	__u64 ns;            // CLOCK_MONOTONIC arrival time
	__u16 len;
	__u16 pad[3];
	__u8 data[EVENT_DATA];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct flow_key);
	__type(value, struct flow);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

SEC("classifier")
int hibiki_forward(struct __sk_buff *skb)
{
	if (skb->protocol != bswap16(ETH_P_IP))
		return NEXT;
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + IP_OFF;
	struct udphdr *udp = data + UDP_OFF;
	__u8 *rtp = data + RTP_OFF;
	if ((void *)(rtp + RTP_HEADER) > end)
		return NEXT;
	if (ip->ihl != 5 || ip->version != 4 || ip->protocol != IPPROTO_UDP ||
	    (ip->frag_off & bswap16(0x3fff)) != 0)
		return NEXT;
	struct flow_key key = { .addr = ip->daddr, .port = udp->dest, .pad = 0 };
	struct flow *f = bpf_map_lookup_elem(&flows, &key);
	if (!f)
		return NEXT;
	if (ip->saddr != f->peer_addr || udp->source != f->peer_port)
		return NEXT;
	if (rtp[0] != 0x80 || (rtp[1] & 0x7f) != f->in_pt)
		return NEXT;
	__u16 seq = bswap16(*(__u16 *)(rtp + 2));
	__u32 ts = bswap32(*(__u32 *)(rtp + 4));
	__u32 ssrc = bswap32(*(__u32 *)(rtp + 8));
	__u16 ahead = seq - f->last_src_seq;
	if (ssrc != f->src_ssrc || ahead == 0 || ahead >= MAX_DROPOUT)
		return NEXT;
	__u32 len = bswap16(udp->len);
	if (len < 8 + RTP_HEADER || len > 8 + EVENT_DATA || UDP_OFF + len > skb->len)
		return NEXT;
	len -= 8;

	__u32 old_ip[2] = { ip->saddr, ip->daddr };
	__u32 new_ip[2] = { f->out_src_addr, f->out_dst_addr };
	__u16 old_ports[2] = { udp->source, udp->dest };
	__u16 new_ports[2] = { f->out_src_port, f->out_dst_port };
	__u32 old_rtp[3] = { *(__u32 *)rtp, *(__u32 *)(rtp + 4), *(__u32 *)(rtp + 8) };
	__u32 new_rtp[3];
	__u8 *head = (__u8 *)new_rtp;
	head[0] = rtp[0];
	head[1] = (rtp[1] & 0x80) | (f->out_pt & 0x7f);
	*(__u16 *)(head + 2) = bswap16((__u16)(seq + f->seq_offset));
	new_rtp[1] = bswap32(ts + f->ts_offset);
	new_rtp[2] = bswap32(f->out_ssrc);
	__u16 tot_len = bswap16(ip->tot_len);

	// Where the rewritten packet goes, decided before anything is
	// committed: up the stack to a peer on this host, else out of the
	// interface the route to the peer takes (the FIB lookup needs IP
	// forwarding enabled on the receiving interface); a peer the kernel
	// cannot reach from here is left to the server.
	struct bpf_fib_lookup fib = {};
	long route = BPF_FIB_LKUP_RET_NOT_FWDED;
	if (!f->local) {
		fib.family = 2; // AF_INET
		fib.l4_protocol = IPPROTO_UDP;
		fib.tot_len = tot_len;
		fib.ifindex = skb->ingress_ifindex;
		fib.ipv4_src = new_ip[0];
		fib.ipv4_dst = new_ip[1];
		fib.sport = new_ports[0];
		fib.dport = new_ports[1];
		route = bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT);
		if (route != BPF_FIB_LKUP_RET_SUCCESS)
			return NEXT;
	}

	struct event *e = bpf_ringbuf_reserve(&events, sizeof(struct event), 0);
	if (!e) {
		__sync_fetch_and_add(&f->ring_full, 1);
		return NEXT;
	}
	e->cookie = f->cookie;
	e->ns = bpf_ktime_get_ns();
	e->len = len;
	if (len > EVENT_DATA || bpf_skb_load_bytes(skb, RTP_OFF, e->data, len) < 0) {
		bpf_ringbuf_discard(e, 0);
		return NEXT;
	}
	f->last_src_seq = seq;
	__sync_fetch_and_add(&f->packets, 1);
	bpf_ringbuf_submit(e, 0);

	// The IP addresses: the IP checksum, and the UDP one's pseudo-header.
	__s64 ip_diff = bpf_csum_diff(old_ip, sizeof(old_ip), new_ip, sizeof(new_ip), 0);
	bpf_l3_csum_replace(skb, IP_OFF + __builtin_offsetof(struct iphdr, check), 0, ip_diff, 0);
	bpf_l4_csum_replace(skb, UDP_OFF + __builtin_offsetof(struct udphdr, check), 0, ip_diff,
			    BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0);
	bpf_skb_store_bytes(skb, IP_OFF + __builtin_offsetof(struct iphdr, saddr), new_ip, sizeof(new_ip), 0);
	// The ports and the RTP header: the UDP checksum.
	__u32 old_p = *(__u32 *)old_ports, new_p = *(__u32 *)new_ports;
	__s64 diff = bpf_csum_diff(&old_p, 4, &new_p, 4, 0);
	diff = bpf_csum_diff(old_rtp, sizeof(old_rtp), new_rtp, sizeof(new_rtp), (__wsum)diff);
	bpf_l4_csum_replace(skb, UDP_OFF + __builtin_offsetof(struct udphdr, check), 0, diff,
			    BPF_F_MARK_MANGLED_0);
	bpf_skb_store_bytes(skb, UDP_OFF, new_ports, sizeof(new_ports), 0);
	bpf_skb_store_bytes(skb, RTP_OFF, new_rtp, sizeof(new_rtp), 0);

	if (route == BPF_FIB_LKUP_RET_NOT_FWDED)
		return PASS; // local: up the stack to the peer's socket
	bpf_skb_store_bytes(skb, 0, fib.dmac, ETH_ALEN, 0);
	bpf_skb_store_bytes(skb, ETH_ALEN, fib.smac, ETH_ALEN, 0);
	return bpf_redirect(fib.ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
