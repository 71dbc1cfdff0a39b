// SPDX-License-Identifier: MIT OR Apache-2.0
//
// A measurement aid, not part of eightfold: an XDP program that Knot DNS 3.2.6 (Debian
// bookworm's knotd) can use in place of the one built into its libknot, which this machine's
// kernel refuses ("program of this type cannot use helper bpf_xdp_adjust_meta#54").
// tools/xdp/bench.sh's `knot+xdp` row hands it to knotd through tools/xdp/knot-preload.c
// (LD_PRELOAD, replacing the object libknot passes to libbpf's bpf_object__open_mem);
// docs/xdp-notes.md says why nothing simpler works.
//
// It keeps what knotd's user space relies on: the two maps, named `opts_map` and `xsks_map`
// and the only maps the program uses (knotd finds them by name among the program's first two
// map ids), `opts_map` holding Knot's 6-byte `struct knot_xdp_opts` per queue, and a redirect
// to the queue's socket of the datagrams (and TCP segments) for the configured ports, decided
// as Knot's own program decides them (flags KNOT_XDP_FILTER_*). What it leaves out: the
// metadata in front of the frame (bpf_xdp_adjust_meta, the helper refused here), which Knot's
// user space reads only for VLAN-tagged frames, so those go to the kernel's stack; and
// `route-check`, off by default (with it set, everything goes to the stack). IPv4 options,
// IPv6 extension headers and fragments also go to the stack; Knot's program drops matching
// fragments.
//
// Self-contained like udp-redirect.bpf.c (xdp-defs.h, no libbpf or kernel headers); built
// and checked by tools/xdp/build-bpf.sh.

#include "xdp-defs.h"

// Knot 3.2.6's src/libknot/xdp/bpf-consts.h: knot_xdp_filter_flag_t and struct knot_xdp_opts.
#define KNOT_XDP_FILTER_ON (1 << 0)
#define KNOT_XDP_FILTER_UDP (1 << 1)
#define KNOT_XDP_FILTER_TCP (1 << 2)
#define KNOT_XDP_FILTER_QUIC (1 << 3)
#define KNOT_XDP_FILTER_PASS (1 << 4)
#define KNOT_XDP_FILTER_DROP (1 << 5)
#define KNOT_XDP_FILTER_ROUTE (1 << 6)
struct knot_xdp_opts {
    __u16 flags;
    __u16 udp_port; // host byte order
    __u16 quic_port;
} __attribute__((packed));

// Sizes as Knot's program declares them (QUEUE_MAX 256).
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 256);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, sizeof(struct knot_xdp_opts));
} opts_map SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, 256);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, sizeof(int));
} xsks_map SEC(".maps");

// Whether `port` (host order) is one of Knot's: the configured one, or any from it up when
// the PASS or DROP flag asks for that range.
static int matches(__u16 flags, __u16 port, __u16 configured) {
    return port == configured || ((flags & (KNOT_XDP_FILTER_PASS | KNOT_XDP_FILTER_DROP)) && port >= configured);
}

SEC("xdp")
int knot_compat(struct xdp_md *ctx) {
    __u32 queue = ctx->rx_queue_index;
    const struct knot_xdp_opts *found = bpf_map_lookup_elem(&opts_map, &queue);
    if (!found)
        return XDP_ABORTED;
    struct knot_xdp_opts opts = *found;
    if (!(opts.flags & KNOT_XDP_FILTER_ON) || (opts.flags & KNOT_XDP_FILTER_ROUTE))
        return XDP_PASS;

    const __u8 *data = (const __u8 *)(long)ctx->data;
    const __u8 *end = (const __u8 *)(long)ctx->data_end;
    if (data + ETH_HEADER > end)
        return XDP_PASS;
    __u16 ether_type = *(const __u16 *)(data + 12);
    const __u8 *ip = data + ETH_HEADER;
    const __u8 *l4;
    __u8 protocol;
    if (ether_type == BE16(ETH_P_IP)) {
        if (ip + IPV4_HEADER > end)
            return XDP_PASS;
        // No options, neither More Fragments nor an offset.
        if (ip[0] != 0x45 || (*(const __u16 *)(ip + 6) & BE16(0x3fff)) != 0)
            return XDP_PASS;
        protocol = ip[9];
        l4 = ip + IPV4_HEADER;
    } else if (ether_type == BE16(ETH_P_IPV6)) {
        if (ip + IPV6_HEADER > end)
            return XDP_PASS;
        if ((ip[0] >> 4) != 6)
            return XDP_PASS;
        protocol = ip[6];
        l4 = ip + IPV6_HEADER;
    } else {
        return XDP_PASS;
    }

    int match;
    if (protocol == IPPROTO_UDP) {
        if (l4 + UDP_HEADER > end)
            return XDP_PASS;
        __u16 port = BE16(*(const __u16 *)(l4 + 2));
        match = ((opts.flags & KNOT_XDP_FILTER_UDP) && matches(opts.flags, port, opts.udp_port)) ||
                ((opts.flags & KNOT_XDP_FILTER_QUIC) && matches(opts.flags, port, opts.quic_port));
    } else if (protocol == IPPROTO_TCP) {
        if (l4 + TCP_HEADER > end)
            return XDP_PASS;
        __u16 port = BE16(*(const __u16 *)(l4 + 2));
        match = (opts.flags & KNOT_XDP_FILTER_TCP) && matches(opts.flags, port, opts.udp_port);
    } else {
        return XDP_PASS;
    }
    if (!match)
        return XDP_PASS;
    if (opts.flags & KNOT_XDP_FILTER_DROP)
        return XDP_DROP;
    return bpf_redirect_map(&xsks_map, queue, 0);
}

char LICENSE[] SEC("license") = "MIT OR Apache-2.0";
