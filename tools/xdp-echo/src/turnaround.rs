//! Turning a UDP datagram around in its own frame: Ethernet addresses, IP addresses and UDP
//! ports swapped, TTL or hop limit reset, the IPv4 header checksum recomputed, and the UDP
//! checksum computed over the answer. Swapping addresses and ports alone would leave a valid
//! UDP checksum valid (the pseudo-header sums the same words in another order), but the
//! checksum a query arrives with cannot be trusted to be complete: a sender on the same host
//! or a veth peer with checksum offload (CHECKSUM_PARTIAL) leaves only the pseudo-header's sum
//! in the field, which the kernel would have completed on the way to a real NIC. So the
//! checksum is computed, as a server must for an answer anyway. Pure functions of bytes.

/// Ethernet header: destination, source, EtherType.
const ETH_HEADER: usize = 14;
/// An IPv4 header without options (the BPF program passes any with options to the stack).
const IPV4_HEADER: usize = 20;
/// The fixed IPv6 header (the BPF program passes extension headers to the stack).
const IPV6_HEADER: usize = 40;
/// The UDP header.
const UDP_HEADER: usize = 8;
/// The TTL or hop limit an answer leaves with, whatever the query came with.
const HOP_LIMIT: u8 = 64;

/// Where the UDP datagram lies in a frame, once its headers have been checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Offset of the UDP header.
    pub udp: usize,
    /// Length of the UDP payload, from the UDP header (checked against the IP length and frame).
    pub payload_len: usize,
    /// IPv4 or IPv6.
    pub ipv6: bool,
}

/// Checks that `frame` holds an IPv4 (no options, not a fragment) or IPv6 (UDP as the first
/// next header) UDP datagram whose lengths agree with each other and with the frame.
pub fn parse(frame: &[u8]) -> Option<Datagram> {
    let ether_type = read16(frame, 12)?;
    let (udp, ip_payload_len, ipv6) = match ether_type {
        0x0800 => {
            let ip = frame.get(ETH_HEADER..ETH_HEADER + IPV4_HEADER)?;
            let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff;
            if ip[0] != 0x45 || ip[9] != 17 || fragment != 0 {
                return None;
            }
            let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
            (ETH_HEADER + IPV4_HEADER, total.checked_sub(IPV4_HEADER)?, false)
        }
        0x86dd => {
            let ip = frame.get(ETH_HEADER..ETH_HEADER + IPV6_HEADER)?;
            if ip[0] >> 4 != 6 || ip[6] != 17 {
                return None;
            }
            (ETH_HEADER + IPV6_HEADER, u16::from_be_bytes([ip[4], ip[5]]) as usize, true)
        }
        _ => return None,
    };
    let udp_len = read16(frame, udp + 4)? as usize;
    // The UDP length must fill the IP payload exactly and lie within the frame (which may be
    // longer: Ethernet pads short frames).
    if udp_len < UDP_HEADER || udp_len != ip_payload_len || udp + udp_len > frame.len() {
        return None;
    }
    Some(Datagram { udp, payload_len: udp_len - UDP_HEADER, ipv6 })
}

/// Swaps the frame's Ethernet and IP addresses and UDP ports, so that it goes back where it
/// came from, and resets the TTL (IPv4, with the header checksum recomputed) or hop limit.
/// The UDP checksum stays valid: the swap adds the same words in another order.
pub fn swap_addresses(frame: &mut [u8], datagram: Datagram) {
    swap_ranges(frame, 0, 6, 6);
    if datagram.ipv6 {
        frame[ETH_HEADER + 7] = HOP_LIMIT;
        swap_ranges(frame, ETH_HEADER + 8, ETH_HEADER + 24, 16);
    } else {
        frame[ETH_HEADER + 8] = HOP_LIMIT;
        swap_ranges(frame, ETH_HEADER + 12, ETH_HEADER + 16, 4);
        frame[ETH_HEADER + 10..ETH_HEADER + 12].copy_from_slice(&[0, 0]);
        let sum = !fold(sum16(&frame[ETH_HEADER..ETH_HEADER + IPV4_HEADER]));
        frame[ETH_HEADER + 10..ETH_HEADER + 12].copy_from_slice(&sum.to_be_bytes());
    }
    swap_ranges(frame, datagram.udp, datagram.udp + 2, 2);
}

/// Computes the UDP checksum of the datagram as it now lies in `frame` and writes it in.
pub fn fill_udp_checksum(frame: &mut [u8], datagram: Datagram) {
    let end = datagram.udp + UDP_HEADER + datagram.payload_len;
    let at = datagram.udp + 6;
    frame[at..at + 2].copy_from_slice(&[0, 0]);
    let addresses = if datagram.ipv6 { &frame[22..54] } else { &frame[26..34] };
    let pseudo = sum16(addresses) + 17 + (end - datagram.udp) as u32;
    let mut checksum = !fold(pseudo + sum16(&frame[datagram.udp..end]));
    // A computed checksum of 0 goes as 0xffff: 0 means "none" (RFC 768).
    if checksum == 0 {
        checksum = 0xffff;
    }
    frame[at..at + 2].copy_from_slice(&checksum.to_be_bytes());
}

/// The echo's whole answer: turn the datagram around and set the DNS header's QR bit (the
/// high bit of the payload's third byte), as tools/udp-echo does. False for a frame that is
/// not a well-formed UDP datagram, which the caller drops.
pub fn echo(frame: &mut [u8]) -> bool {
    let Some(datagram) = parse(frame) else {
        return false;
    };
    swap_addresses(frame, datagram);
    if datagram.payload_len > 2 {
        frame[datagram.udp + UDP_HEADER + 2] |= 0x80;
    }
    fill_udp_checksum(frame, datagram);
    true
}

fn read16(frame: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(frame.get(at..at + 2)?.try_into().ok()?))
}

/// Swaps `frame[a..a + len]` with `frame[b..b + len]` (`a + len <= b`).
fn swap_ranges(frame: &mut [u8], a: usize, b: usize, len: usize) {
    let (low, high) = frame.split_at_mut(b);
    low[a..a + len].swap_with_slice(&mut high[..len]);
}

/// The sum of `bytes` as big-endian 16-bit words (an odd last byte padded with zero), unfolded.
fn sum16(bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    let mut sum: u32 = chunks.by_ref().map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum();
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

/// Folds a 32-bit sum into 16 bits of one's complement.
fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The UDP checksum over the pseudo-header and datagram: 0 when the checksum field is right.
    fn udp_check(frame: &[u8], datagram: Datagram) -> u16 {
        let udp = &frame[datagram.udp..datagram.udp + UDP_HEADER + datagram.payload_len];
        let addresses = if datagram.ipv6 { &frame[22..54] } else { &frame[26..34] };
        !fold(sum16(addresses) + 17 + udp.len() as u32 + sum16(udp))
    }

    /// A frame from 02:..:01 / 192.0.2.1:40000 (or 2001:db8::1) to 02:..:02 / 192.0.2.2:53
    /// (or 2001:db8::2), with a correct UDP checksum.
    fn query(ipv6: bool, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        let udp_len = (UDP_HEADER + payload.len()) as u16;
        if ipv6 {
            frame.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            frame.extend_from_slice(&udp_len.to_be_bytes());
            frame.extend_from_slice(&[17, 1]);
            frame.extend_from_slice(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            frame.extend_from_slice(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        } else {
            frame.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
            frame.extend_from_slice(&(udp_len + 20).to_be_bytes());
            frame.extend_from_slice(&[0x12, 0x34, 0x40, 0, 1, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
            let sum = !fold(sum16(&frame[14..34]));
            frame[24..26].copy_from_slice(&sum.to_be_bytes());
        }
        frame.extend_from_slice(&40000u16.to_be_bytes());
        frame.extend_from_slice(&53u16.to_be_bytes());
        frame.extend_from_slice(&udp_len.to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(payload);
        let datagram = parse(&frame).expect("a well-formed query");
        let sum = match udp_check(&frame, datagram) {
            0 => 0xffff,
            sum => sum,
        };
        let at = datagram.udp + 6;
        frame[at..at + 2].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(udp_check(&frame, datagram), 0);
        frame
    }

    #[test]
    fn echo_turns_ipv4_around_with_valid_checksums() {
        let mut frame = query(false, &[0xab, 0xcd, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert!(echo(&mut frame));
        let datagram = parse(&frame).unwrap();
        assert_eq!(&frame[..12], &[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
        assert_eq!(&frame[26..34], &[192, 0, 2, 2, 192, 0, 2, 1]);
        assert_eq!(&frame[34..38], &[0, 53, 0x9c, 0x40]);
        assert_eq!(frame[22], HOP_LIMIT);
        assert_eq!(fold(sum16(&frame[14..34])), 0xffff, "IPv4 header checksum");
        assert_eq!(frame[44], 0x81, "QR set");
        assert_eq!(udp_check(&frame, datagram), 0, "UDP checksum");
    }

    #[test]
    fn echo_turns_ipv6_around_with_valid_checksum() {
        let mut frame = query(true, &[0xab, 0xcd, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 0, 7]);
        assert!(echo(&mut frame));
        let datagram = parse(&frame).unwrap();
        assert_eq!(frame[37], 2);
        assert_eq!(frame[53], 1);
        assert_eq!(frame[21], HOP_LIMIT);
        assert_eq!(udp_check(&frame, datagram), 0, "UDP checksum");
    }

    #[test]
    fn swapping_addresses_and_ports_leaves_the_udp_checksum_as_it_was() {
        for ipv6 in [false, true] {
            let mut frame = query(ipv6, b"any payload at all");
            let datagram = parse(&frame).unwrap();
            let checksum = frame[datagram.udp + 6..datagram.udp + 8].to_vec();
            swap_addresses(&mut frame, datagram);
            assert_eq!(frame[datagram.udp + 6..datagram.udp + 8], checksum[..]);
            assert_eq!(udp_check(&frame, datagram), 0);
        }
    }

    #[test]
    fn a_partial_checksum_is_completed() {
        for ipv6 in [false, true] {
            let mut frame = query(ipv6, &[1, 2, 3, 4, 5]);
            let datagram = parse(&frame).unwrap();
            // What a sender with checksum offload leaves: the pseudo-header's sum, not complemented.
            let addresses = if ipv6 { &frame[22..54] } else { &frame[26..34] };
            let partial = fold(sum16(addresses) + 17 + 13);
            frame[datagram.udp + 6..datagram.udp + 8].copy_from_slice(&partial.to_be_bytes());
            assert!(echo(&mut frame));
            assert_eq!(udp_check(&frame, datagram), 0);
        }
    }

    #[test]
    fn malformed_frames_are_refused() {
        let good = query(false, &[0; 12]);
        assert!(parse(&good).is_some());
        assert!(parse(&good[..41]).is_none(), "short");
        let mut options = good.clone();
        options[14] = 0x46;
        assert!(parse(&options).is_none(), "IP options");
        let mut fragment = good.clone();
        fragment[20] = 0x20;
        assert!(parse(&fragment).is_none(), "more fragments");
        let mut long = good.clone();
        long[38..40].copy_from_slice(&100u16.to_be_bytes());
        assert!(parse(&long).is_none(), "UDP length past the frame");
        let mut tcp = good.clone();
        tcp[23] = 6;
        assert!(parse(&tcp).is_none(), "TCP");
        let mut padded = good.clone();
        padded.extend_from_slice(&[0; 6]);
        assert!(parse(&padded).is_some(), "Ethernet padding after the datagram");
        let mut arp = good;
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(parse(&arp).is_none(), "ARP");
    }
}
