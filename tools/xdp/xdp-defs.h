// SPDX-License-Identifier: MIT OR Apache-2.0
//
// What the XDP programs in tools/xdp/ take from the kernel's headers, written out so that
// they build with nothing but clang (no libbpf or kernel headers) and the objects stay the
// same on every machine: the integer types, libbpf's section and BTF map macros, the stable
// UAPI of linux/bpf.h they use, two helpers, and the packet constants.
#ifndef EIGHTFOLD_XDP_DEFS_H
#define EIGHTFOLD_XDP_DEFS_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
// BTF map definitions, as libbpf's bpf_helpers.h spells them.
#define __uint(name, value) int(*name)[value]

// From linux/bpf.h (stable UAPI).
#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_PERCPU_ARRAY 6
#define BPF_MAP_TYPE_XSKMAP 17
#define XDP_ABORTED 0
#define XDP_DROP 1
#define XDP_PASS 2
#define XDP_TX 3
struct xdp_md {
    __u32 data;
    __u32 data_end;
    __u32 data_meta;
    __u32 ingress_ifindex;
    __u32 rx_queue_index;
    __u32 egress_ifindex;
};
// Helper 1: the value for `key`, or 0.
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
// Helper 51; the low bits of `flags` are the action when `key` has no entry (kernel 5.3+).
static long (*bpf_redirect_map)(void *map, __u64 key, __u64 flags) = (void *)51;

// Network byte order, for the constants compared with header fields (the target is little-endian).
#define BE16(x) ((__u16)((((x) & 0xff) << 8) | (((x) >> 8) & 0xff)))
#define ETH_HEADER 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86dd
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPV4_HEADER 20
#define IPV6_HEADER 40
#define TCP_HEADER 20
#define UDP_HEADER 8

#endif
