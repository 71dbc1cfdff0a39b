// SPDX-License-Identifier: MIT OR Apache-2.0
//
// The XDP program of the AF_XDP data path: a UDP datagram for `port` at one of the listen
// addresses (IPv4 without options or fragments, IPv6 with UDP as the first next header) is
// redirected to the AF_XDP socket that the XSKMAP `xsks` holds for the queue it came in on;
// everything else (ARP, ICMP, TCP, other ports, other addresses, fragments, IP options, IPv6
// extension headers, VLAN tags, short frames) and anything for a queue with no socket goes on
// to the kernel's stack (XDP_PASS), counted per receive queue in `passed`.
//
// Plain packet access, bpf_map_lookup_elem and bpf_redirect_map only: no bpf_xdp_adjust_meta
// (6.18 refuses it in XDP programs). The few kernel definitions it needs are written out in
// xdp-defs.h, so the object depends on nothing but the compiler: tools/xdp/build-bpf.sh
// rebuilds it and checks it matches the committed udp-redirect.bpf.o.

#include "xdp-defs.h"

// The UDP port served, in network byte order: the loader writes it before loading.
volatile const __u16 port = 0;
// 1 when the server listens on 0.0.0.0 (every IPv4 address) or :: (every IPv6 address) at
// `port`; else only the addresses in `ipv4` and `ipv6` are served. Set by the loader.
volatile const __u8 any_ipv4 = 0;
volatile const __u8 any_ipv6 = 0;

// The listen addresses at `port`, in network byte order, as keys (the value is unused).
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(key_size, 4);
    __uint(value_size, 1);
    __uint(max_entries, 64);
} ipv4 SEC(".maps");
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(key_size, 16);
    __uint(value_size, 1);
    __uint(max_entries, 64);
} ipv6 SEC(".maps");

// One socket per receive queue, at the queue's index; the loader sets the size.
struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, sizeof(__u32));
    __uint(max_entries, 64);
} xsks SEC(".maps");

// Frames passed to the stack, per receive queue (and per CPU: no two CPUs write one counter).
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, sizeof(__u64));
    __uint(max_entries, 64);
} passed SEC(".maps");

// Whether the frame is a UDP datagram to `port` at a listen address.
static __attribute__((always_inline)) int for_us(const struct xdp_md *ctx) {
    const __u8 *data = (const __u8 *)(long)ctx->data;
    const __u8 *end = (const __u8 *)(long)ctx->data_end;
    const __u8 *udp;

    if (data + ETH_HEADER > end)
        return 0;
    __u16 ether_type = *(const __u16 *)(data + 12);
    const __u8 *ip = data + ETH_HEADER;
    if (ether_type == BE16(ETH_P_IP)) {
        if (ip + IPV4_HEADER + UDP_HEADER > end)
            return 0;
        // Version 4, 5 words of header (no options), UDP, neither More Fragments nor an offset.
        if (ip[0] != 0x45 || ip[9] != IPPROTO_UDP || (*(const __u16 *)(ip + 6) & BE16(0x3fff)) != 0)
            return 0;
        udp = ip + IPV4_HEADER;
        if (*(const __u16 *)(udp + 2) != port)
            return 0;
        if (!any_ipv4) {
            __u32 address = *(const __u32 *)(ip + 16);
            if (!bpf_map_lookup_elem(&ipv4, &address))
                return 0;
        }
    } else if (ether_type == BE16(ETH_P_IPV6)) {
        if (ip + IPV6_HEADER + UDP_HEADER > end)
            return 0;
        // Version 6 and UDP as the next header: extension headers go to the stack.
        if ((ip[0] >> 4) != 6 || ip[6] != IPPROTO_UDP)
            return 0;
        udp = ip + IPV6_HEADER;
        if (*(const __u16 *)(udp + 2) != port)
            return 0;
        if (!any_ipv6) {
            __u32 address[4];
            __builtin_memcpy(address, ip + 24, 16);
            if (!bpf_map_lookup_elem(&ipv6, address))
                return 0;
        }
    } else {
        return 0;
    }
    return 1;
}

SEC("xdp")
int udp_redirect(struct xdp_md *ctx) {
    if (for_us(ctx)) {
        // XDP_PASS when the queue has no socket.
        long action = bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
        if (action != XDP_PASS)
            return action;
    }
    __u32 queue = ctx->rx_queue_index;
    __u64 *count = bpf_map_lookup_elem(&passed, &queue);
    if (count)
        *count += 1;
    return XDP_PASS;
}

// The project's licence; the kernel then offers no GPL-only helper, and none is used.
char LICENSE[] SEC("license") = "MIT OR Apache-2.0";
