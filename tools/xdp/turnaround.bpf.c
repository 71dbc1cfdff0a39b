// SPDX-License-Identifier: MIT OR Apache-2.0
//
// A measurement aid, not part of eightfold: the floor below AF_XDP. Each UDP datagram for
// `port` (IPv4 without options or fragments, IPv6 with UDP as the first next header, at
// least a DNS header of payload) is turned around in the kernel and sent back out of the
// interface it came in on (XDP_TX): Ethernet addresses, IP addresses and UDP ports swapped,
// the DNS header's QR bit set, nothing else of the query changed. tools/xdp/bench.sh's
// `xdp-tx` row attaches it with `ip link set dev IF xdpdrv obj turnaround.bpf.o sec xdp`.
// Everything else goes on to the kernel's stack (XDP_PASS).
//
// The UDP checksum: over IPv4 it is zeroed (no checksum, which RFC 768 allows). Over IPv6 it
// must be valid, and the query's cannot be updated in place: a sender on the other end of a
// veth pair leaves CHECKSUM_PARTIAL datagrams, whose checksum field holds the pseudo-header's
// sum alone, while XDP_TX delivers the reply as a frame whose checksum the peer verifies in
// full. So it is computed anew over the pseudo-header and the datagram (at most
// MAX_UDP_LENGTH bytes; longer ones go to the stack).
//
// Self-contained like udp-redirect.bpf.c (xdp-defs.h, no libbpf or kernel headers), plain
// packet access, no bpf_xdp_adjust_meta; built and checked by tools/xdp/build-bpf.sh.

#include "xdp-defs.h"

#define DNS_HEADER 12
#define DNS_QR 0x80
// The longest UDP datagram (header included) an IPv6 packet carries in a 1,500-byte MTU.
#define MAX_UDP_LENGTH 1460

// The UDP port served, in network byte order. `ip` (iproute2) sets no globals, so the
// loader that bench.sh uses leaves it at 53; a libbpf or aya loader may write another.
volatile const __u16 port = BE16(53);

// Swaps `words` 16-bit words at `a` and `b` (header fields are 2-byte aligned in a frame).
static __attribute__((always_inline)) void swap(__u16 *a, __u16 *b, int words) {
#pragma clang loop unroll(full)
    for (int i = 0; i < words; i++) {
        __u16 t = a[i];
        a[i] = b[i];
        b[i] = t;
    }
}

// The Ethernet addresses, then (IPv4: `address_words` 2, IPv6: 8) the IP source and
// destination, which follow each other in both headers, then the UDP ports; sets QR.
static __attribute__((always_inline)) void turn(__u8 *frame, __u8 *addresses, int address_words, __u8 *udp) {
    swap((__u16 *)frame, (__u16 *)(frame + 6), 3);
    swap((__u16 *)addresses, (__u16 *)(addresses + 2 * address_words), address_words);
    swap((__u16 *)udp, (__u16 *)(udp + 2), 1);
    udp[UDP_HEADER + 2] |= DNS_QR;
}

SEC("xdp")
int turnaround(struct xdp_md *ctx) {
    __u8 *data = (__u8 *)(long)ctx->data;
    const __u8 *end = (const __u8 *)(long)ctx->data_end;

    if (data + ETH_HEADER > end)
        return XDP_PASS;
    __u16 ether_type = *(const __u16 *)(data + 12);
    __u8 *ip = data + ETH_HEADER;
    if (ether_type == BE16(ETH_P_IP)) {
        if (ip + IPV4_HEADER + UDP_HEADER + DNS_HEADER > end)
            return XDP_PASS;
        // Version 4, 5 words of header (no options), UDP, neither More Fragments nor an offset.
        if (ip[0] != 0x45 || ip[9] != IPPROTO_UDP || (*(const __u16 *)(ip + 6) & BE16(0x3fff)) != 0)
            return XDP_PASS;
        __u8 *udp = ip + IPV4_HEADER;
        if (*(const __u16 *)(udp + 2) != port)
            return XDP_PASS;
        // The IPv4 header's checksum does not change when its addresses swap places.
        turn(data, ip + 12, 2, udp);
        *(__u16 *)(udp + 6) = 0;
        return XDP_TX;
    }
    if (ether_type != BE16(ETH_P_IPV6))
        return XDP_PASS;
    if (ip + IPV6_HEADER + UDP_HEADER + DNS_HEADER > end)
        return XDP_PASS;
    // Version 6 and UDP as the next header: extension headers go to the stack.
    if ((ip[0] >> 4) != 6 || ip[6] != IPPROTO_UDP)
        return XDP_PASS;
    __u8 *udp = ip + IPV6_HEADER;
    if (*(const __u16 *)(udp + 2) != port)
        return XDP_PASS;
    __u16 length = BE16(*(const __u16 *)(udp + 4));
    if (length < UDP_HEADER + DNS_HEADER || length > MAX_UDP_LENGTH || udp + length > end)
        return XDP_PASS;
    turn(data, ip + 8, 8, udp);
    *(__u16 *)(udp + 6) = 0;

    // The one's-complement sum of 16-bit words, each as loaded (the sum is the same in either
    // byte order as long as every word and the result are in one): the pseudo-header (the
    // addresses, the UDP length, the next header), then the datagram with its checksum zero.
    __u32 sum = *(const __u16 *)(udp + 4) + BE16(IPPROTO_UDP);
    const __u16 *address = (const __u16 *)(ip + 8);
#pragma clang loop unroll(full)
    for (int i = 0; i < 16; i++)
        sum += address[i];
    const __u8 *word = udp;
    __u32 words = length / 2;
    // The frame's end once more, where clang cannot see that it is `end`: otherwise it proves
    // the checks below redundant (the length was checked against `end` above) and drops them,
    // and the verifier, which does not follow that proof, refuses the loads. They never fail.
    const __u8 *limit = end;
    asm volatile("" : "+r"(limit));
#pragma clang loop unroll(disable)
    for (__u32 i = 0; i < MAX_UDP_LENGTH / 2; i++) {
        if (i >= words)
            break;
        if (word + 2 > limit)
            return XDP_DROP;
        sum += *(const __u16 *)word;
        word += 2;
    }
    if (length & 1) {
        // The last byte, padded with a zero byte: as loaded on this little-endian target, itself.
        if (word + 1 > limit)
            return XDP_DROP;
        sum += *word;
    }
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    __u16 checksum = ~sum;
    // Zero means "no checksum", which IPv6 forbids: all ones is the same value.
    *(__u16 *)(udp + 6) = checksum ? checksum : 0xffff;
    return XDP_TX;
}

// The project's licence; the kernel then offers no GPL-only helper, and none is used.
char LICENSE[] SEC("license") = "MIT OR Apache-2.0";
