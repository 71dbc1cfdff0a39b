//! Ethernet frames carrying DNS over UDP, for a data path below the socket layer (AF_XDP): a
//! frame is read in place ([`parse`]) and, once the DNS response has replaced the query in
//! its payload, turned around into the reply ([`turn_around`]): addresses and ports swapped,
//! lengths and checksums written. Only the plain shape is taken: Ethernet II (no VLAN tag),
//! IPv4 without options or fragmentation, or IPv6 without extension headers, then UDP to the
//! port served. Anything else is the kernel's to handle (the caller passes it on), as is a
//! frame whose lengths disagree or whose checksums do not hold.
//!
//! ```text
//!  Ethernet (14) | IPv4 (20) or IPv6 (40) | UDP (8) | DNS message ...
//!  dst src type    ... src dst ...            sport dport len sum
//!      swapped        swapped, TTL/hop limit    swapped, len and sum
//!                     fresh, IPv4 sum anew      computed over the reply
//! ```

use std::ops::Range;

/// Ethernet II header.
const ETHERNET: usize = 14;
/// EtherType of IPv4.
const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
const ETHERTYPE_IPV6: u16 = 0x86DD;
/// IPv4 header without options.
const IPV4: usize = 20;
/// IPv6 fixed header.
const IPV6: usize = 40;
/// UDP header.
const UDP: usize = 8;
/// IP protocol number of UDP.
const PROTO_UDP: u8 = 17;
/// TTL (IPv4) or hop limit (IPv6) of replies.
pub const REPLY_TTL: u8 = 64;

/// Where a frame's DNS query lies, and what its reply needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Whether it came over IPv6.
    pub ipv6: bool,
    /// Where the UDP header starts.
    udp: usize,
    /// The UDP payload's length.
    pub len: usize,
}

impl Datagram {
    /// Where the DNS message lies in the frame.
    #[inline]
    pub fn payload(&self) -> Range<usize> {
        self.udp + UDP..self.udp + UDP + self.len
    }

    /// Bytes of headers before the DNS message.
    #[inline]
    pub fn headers(&self) -> usize {
        self.udp + UDP
    }
}

/// Reads `frame` as a UDP datagram to `port` (IPv4 or IPv6, plain as the module says):
/// `None` for anything else, for inconsistent lengths (the IP or UDP length past the frame,
/// or the UDP length past the IP payload) and for a checksum that does not hold. Trailing
/// bytes past the IP length (Ethernet padding) are ignored.
pub fn parse(frame: &[u8], port: u16) -> Option<Datagram> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let (ipv6, udp, ip_end) = match ethertype {
        ETHERTYPE_IPV4 => {
            let ip = frame.get(ETHERNET..ETHERNET + IPV4)?;
            // Version 4, header length 5 words: no options.
            if ip[0] != 0x45 || ip[9] != PROTO_UDP {
                return None;
            }
            // Not a fragment: no More Fragments flag, no offset (Don't Fragment may be set).
            if u16::from_be_bytes([ip[6], ip[7]]) & 0x3FFF != 0 {
                return None;
            }
            let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
            if total < IPV4 + UDP || ETHERNET + total > frame.len() || checksum(0, ip) != 0xFFFF {
                return None;
            }
            (false, ETHERNET + IPV4, ETHERNET + total)
        }
        ETHERTYPE_IPV6 => {
            let ip = frame.get(ETHERNET..ETHERNET + IPV6)?;
            // Version 6, next header UDP: no extension headers.
            if ip[0] >> 4 != 6 || ip[6] != PROTO_UDP {
                return None;
            }
            let payload = u16::from_be_bytes([ip[4], ip[5]]) as usize;
            if payload < UDP || ETHERNET + IPV6 + payload > frame.len() {
                return None;
            }
            (true, ETHERNET + IPV6, ETHERNET + IPV6 + payload)
        }
        _ => return None,
    };
    let header = frame.get(udp..udp + UDP)?;
    if u16::from_be_bytes([header[2], header[3]]) != port {
        return None;
    }
    let udp_len = u16::from_be_bytes([header[4], header[5]]) as usize;
    if udp_len < UDP || udp + udp_len > ip_end {
        return None;
    }
    let sum = u16::from_be_bytes([header[6], header[7]]);
    // IPv4 may send no checksum (0); IPv6 must (RFC 8200 section 8.1). A sender on the same
    // host (a veth peer) leaves the checksum to be completed in "hardware" (CHECKSUM_PARTIAL):
    // the field then holds the pseudo-header's sum alone, which is taken as the kernel takes it.
    if (ipv6 || sum != 0)
        && udp_checksum(frame, ipv6, udp, udp_len) != 0xFFFF
        && sum != pseudo_sum(frame, ipv6, udp_len)
    {
        return None;
    }
    Some(Datagram { ipv6, udp, len: udp_len - UDP })
}

/// Turns `frame`, read by [`parse`] as `datagram`, into its reply once the DNS response (of
/// `len` bytes) has been written over the query at [`Datagram::payload`]'s start: Ethernet and
/// IP addresses and UDP ports swapped, the IP and UDP lengths set, TTL or hop limit
/// [`REPLY_TTL`], the IPv4 header checksum and the UDP checksum computed. An IPv4 reply
/// carries identification `id` and leaves without DF, as the UDP sockets send
/// (`IP_PMTUDISC_OMIT`): a router on a path with a smaller MTU fragments it rather than drop
/// it, so `id` should differ from the last few thousand replies to the same client (a
/// counter does). Returns the reply frame's length. `frame` must hold the headers and `len`
/// bytes after them.
pub fn turn_around(frame: &mut [u8], datagram: &Datagram, len: usize, id: u16) -> usize {
    let udp = datagram.udp;
    let udp_len = UDP + len;
    let (macs, _) = frame.split_at_mut(12);
    let (dst, src) = macs.split_at_mut(6);
    dst.swap_with_slice(src);
    if datagram.ipv6 {
        let ip = &mut frame[ETHERNET..ETHERNET + IPV6];
        ip[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
        ip[7] = REPLY_TTL;
        let (src, dst) = ip[8..40].split_at_mut(16);
        src.swap_with_slice(dst);
    } else {
        let ip = &mut frame[ETHERNET..ETHERNET + IPV4];
        ip[2..4].copy_from_slice(&((IPV4 + udp_len) as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&id.to_be_bytes());
        // Neither DF nor a fragment offset.
        ip[6] = 0;
        ip[7] = 0;
        ip[8] = REPLY_TTL;
        ip[10..12].copy_from_slice(&[0, 0]);
        let (src, dst) = ip[12..20].split_at_mut(4);
        src.swap_with_slice(dst);
        let sum = !checksum(0, ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
    }
    let header = &mut frame[udp..udp + UDP];
    let (sport, rest) = header.split_at_mut(2);
    sport.swap_with_slice(&mut rest[..2]);
    header[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
    header[6..8].copy_from_slice(&[0, 0]);
    let mut sum = !udp_checksum(frame, datagram.ipv6, udp, udp_len);
    if sum == 0 {
        // 0 means "no checksum" (IPv4) or is forbidden (IPv6): send all ones instead.
        sum = 0xFFFF;
    }
    frame[udp + 6..udp + 8].copy_from_slice(&sum.to_be_bytes());
    udp + udp_len
}

/// The one's-complement sum over the UDP pseudo-header and the `udp_len` bytes of UDP header
/// and payload at `udp` (0xFFFF when a received datagram's checksum holds).
fn udp_checksum(frame: &[u8], ipv6: bool, udp: usize, udp_len: usize) -> u16 {
    checksum(u64::from(pseudo_sum(frame, ipv6, udp_len)), &frame[udp..udp + udp_len])
}

/// The folded sum of the UDP pseudo-header alone: what a checksum left to be completed by
/// the device (CHECKSUM_PARTIAL) holds.
fn pseudo_sum(frame: &[u8], ipv6: bool, udp_len: usize) -> u16 {
    let addresses = if ipv6 { &frame[ETHERNET + 8..ETHERNET + 40] } else { &frame[ETHERNET + 12..ETHERNET + 20] };
    fold(sum_words(u64::from(PROTO_UDP) + udp_len as u64, addresses))
}

/// The one's-complement sum of `data` added to `start`, folded to 16 bits.
fn checksum(start: u64, data: &[u8]) -> u16 {
    fold(sum_words(start, data))
}

/// Adds `data` as big-endian 16-bit words (an odd last byte padded with zero) to `sum`,
/// unfolded: 32 bits at a time, which a `u64` holds for any frame.
fn sum_words(mut sum: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(4);
    for word in &mut words {
        sum += u64::from(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
    }
    let rest = words.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    sum + u64::from(u32::from_be_bytes(tail))
}

/// Folds a sum of 16- and 32-bit words to 16 bits, carries added back.
fn fold(mut sum: u64) -> u16 {
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071's checksum, 16 bits at a time: the reference.
    fn reference(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for pair in data.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            sum += u32::from(word);
        }
        while sum > 0xFFFF {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        sum as u16
    }

    /// A frame of a UDP datagram from `src` port 40000 to `dst` port 53 carrying `payload`,
    /// its checksums right.
    fn frame(ipv6: bool, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        let udp_len = (UDP + payload.len()) as u16;
        if ipv6 {
            f.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&udp_len.to_be_bytes());
            f.extend_from_slice(&[PROTO_UDP, 64]);
            f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        } else {
            f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
            let total = (IPV4 as u16 + udp_len).to_be_bytes();
            f.extend_from_slice(&[0x45, 0, total[0], total[1], 0x12, 0x34, 0x40, 0, 64, PROTO_UDP, 0, 0]);
            f.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
            let sum = !reference(&f[ETHERNET..ETHERNET + IPV4]);
            f[ETHERNET + 10..ETHERNET + 12].copy_from_slice(&sum.to_be_bytes());
        }
        let udp = f.len();
        f.extend_from_slice(&40000u16.to_be_bytes());
        f.extend_from_slice(&53u16.to_be_bytes());
        f.extend_from_slice(&udp_len.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(payload);
        let sum = !reference(&pseudo_and_udp(&f, ipv6, udp));
        f[udp + 6..udp + 8].copy_from_slice(&sum.to_be_bytes());
        f
    }

    /// The pseudo-header and the UDP datagram of `f`, as RFC 768 and RFC 8200 sum them.
    fn pseudo_and_udp(f: &[u8], ipv6: bool, udp: usize) -> Vec<u8> {
        let udp_len = u16::from_be_bytes([f[udp + 4], f[udp + 5]]) as usize;
        let mut p = Vec::new();
        if ipv6 {
            p.extend_from_slice(&f[ETHERNET + 8..ETHERNET + 40]);
            p.extend_from_slice(&(udp_len as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, PROTO_UDP]);
        } else {
            p.extend_from_slice(&f[ETHERNET + 12..ETHERNET + 20]);
            p.extend_from_slice(&[0, PROTO_UDP]);
            p.extend_from_slice(&(udp_len as u16).to_be_bytes());
        }
        p.extend_from_slice(&f[udp..udp + udp_len]);
        p
    }

    #[test]
    fn the_fast_sum_is_rfc_1071s() {
        let mut rng = fastrand::Rng::with_seed(3);
        for len in 0..300 {
            let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            assert_eq!(checksum(0, &data), reference(&data), "{len} bytes");
        }
    }

    #[test]
    fn a_query_is_read_and_turned_into_a_reply_both_families() {
        for ipv6 in [false, true] {
            for (query, answer) in [(&b"query"[..], &b"a longer answer!"[..]), (&b"odd"[..], &b"1"[..])] {
                let mut f = frame(ipv6, query);
                let d = parse(&f, 53).expect("a DNS datagram");
                assert_eq!((d.ipv6, d.len, &f[d.payload()]), (ipv6, query.len(), query));
                f.resize(d.headers() + answer.len(), 0);
                f[d.headers()..].copy_from_slice(answer);
                let len = turn_around(&mut f, &d, answer.len(), 0xBEEF);
                assert_eq!(len, f.len());
                // The reply reads as a datagram from port 53 to 40000, checksums right.
                assert_eq!(f[..12], [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
                let back = parse(&f, 40000).expect("the reply parses, checksums and lengths right");
                assert_eq!(&f[back.payload()], answer);
                let udp = d.headers() - UDP;
                assert_eq!(u16::from_be_bytes([f[udp], f[udp + 1]]), 53);
                if ipv6 {
                    assert_eq!(f[ETHERNET + 8 + 15], 2, "source is the old destination");
                    assert_eq!(f[ETHERNET + 7], REPLY_TTL);
                } else {
                    assert_eq!(&f[ETHERNET + 12..ETHERNET + 20], &[192, 0, 2, 2, 192, 0, 2, 1]);
                    assert_eq!(&f[ETHERNET + 4..ETHERNET + 8], &[0xBE, 0xEF, 0, 0], "the id given, no DF");
                    assert_eq!(reference(&f[ETHERNET..ETHERNET + IPV4]), 0xFFFF);
                }
            }
        }
    }

    #[test]
    fn anything_but_a_plain_datagram_to_the_port_is_left_to_the_kernel() {
        let good = frame(false, b"query");
        assert!(parse(&good, 53).is_some());
        let mutated = |at: usize, value: u8| {
            let mut f = good.clone();
            f[at] = value;
            parse(&f, 53)
        };
        assert_eq!(parse(&good, 54), None, "another port");
        assert_eq!(mutated(12, 0x08).and(mutated(13, 0x06)), None, "ARP");
        assert_eq!(mutated(ETHERNET, 0x46), None, "IPv4 options");
        assert_eq!(mutated(ETHERNET + 9, 6), None, "TCP");
        assert_eq!(mutated(ETHERNET + 6, 0x20), None, "more fragments");
        assert_eq!(mutated(ETHERNET + 7, 1), None, "a fragment offset");
        assert_eq!(mutated(ETHERNET + 3, 200), None, "IP length past the frame");
        assert_eq!(mutated(ETHERNET + IPV4 + 5, 200), None, "UDP length past the IP payload");
        assert_eq!(mutated(ETHERNET + IPV4 + 5, 4), None, "UDP length under its header");
        assert_eq!(mutated(ETHERNET + IPV4 + UDP, b'Q'), None, "a wrong UDP checksum");
        assert_eq!(mutated(ETHERNET + 8, 1), None, "a wrong IPv4 header checksum");
        for cut in 0..good.len() {
            assert_eq!(parse(&good[..cut], 53), None, "cut at {cut}");
        }
        // Padding past the IP length (short Ethernet frames) is ignored.
        let mut padded = good.clone();
        padded.extend_from_slice(&[0; 20]);
        assert_eq!(parse(&padded, 53).map(|d| d.len), Some(5));
        // No UDP checksum over IPv4 is allowed; over IPv6 it is not.
        let mut none = good.clone();
        none[ETHERNET + IPV4 + 6..ETHERNET + IPV4 + 8].copy_from_slice(&[0, 0]);
        assert!(parse(&none, 53).is_some());
        let mut v6 = frame(true, b"query");
        v6[ETHERNET + IPV6 + 6..ETHERNET + IPV6 + 8].copy_from_slice(&[0, 0]);
        assert_eq!(parse(&v6, 53), None, "IPv6 without a UDP checksum");
        // A checksum left for the device to complete (a veth peer's): the pseudo-header's
        // sum alone, taken as the kernel takes it.
        for ipv6 in [false, true] {
            let mut partial = frame(ipv6, b"query");
            let udp = if ipv6 { ETHERNET + IPV6 } else { ETHERNET + IPV4 };
            let sum = pseudo_sum(&partial, ipv6, UDP + 5);
            partial[udp + 6..udp + 8].copy_from_slice(&sum.to_be_bytes());
            assert!(parse(&partial, 53).is_some(), "a partial checksum, ipv6 {ipv6}");
        }
        let mut ext = frame(true, b"query");
        ext[ETHERNET + 6] = 0; // hop-by-hop options
        assert_eq!(parse(&ext, 53), None, "an IPv6 extension header");
    }
}
