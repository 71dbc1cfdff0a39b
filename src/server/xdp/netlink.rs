//! The XDP program an interface has attached, read and removed over rtnetlink (RTM_GETLINK and
//! RTM_SETLINK with the IFLA_XDP attribute), for the one case aya has no call for: a program
//! attached by netlink rather than through a BPF link (by `ip link set dev X xdp obj ...`, or
//! by a loader without links), which stays attached after the process that attached it has
//! gone. Cold code: it runs once per interface at start.

use std::io;

/// `IFLA_XDP` and its nested attributes (linux/if_link.h).
const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_FLAGS: u16 = 3;
const IFLA_XDP_PROG_ID: u16 = 4;
const NLA_F_NESTED: u16 = 1 << 15;
/// `IFLA_EXT_MASK` with `RTEXT_FILTER_SKIP_STATS`: the reply leaves the counters out.
const IFLA_EXT_MASK: u16 = 29;
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;
/// `XDP_ATTACHED_*`: how the program is attached.
const XDP_ATTACHED_DRV: u8 = 1;
const XDP_ATTACHED_SKB: u8 = 2;
const XDP_ATTACHED_HW: u8 = 3;
/// `XDP_FLAGS_*`: the mode a detach names.
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
const XDP_FLAGS_HW_MODE: u32 = 1 << 3;
/// Bytes of `nlmsghdr` and of `ifinfomsg`.
const HEADER: usize = 16;
/// `NLMSG_ERROR`, as the header's type field holds it.
const NLMSG_ERROR: u16 = libc::NLMSG_ERROR as u16;
const IFINFO: usize = 16;

/// An XDP program attached to an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attached {
    /// The program's id (`bpftool prog show id N`).
    pub id: u32,
    /// The `XDP_FLAGS_*` mode bit it is attached in; 0 when several are attached at once.
    pub mode: u32,
}

/// The XDP program attached to interface `index`, if any.
pub fn attached(index: u32) -> io::Result<Option<Attached>> {
    let mut attributes = Vec::new();
    attribute(&mut attributes, IFLA_EXT_MASK, &RTEXT_FILTER_SKIP_STATS.to_ne_bytes());
    let request = message(libc::RTM_GETLINK, libc::NLM_F_REQUEST as u16, index, &attributes);
    let socket = Socket::open()?;
    socket.send(&request)?;
    let reply = socket.receive()?;
    for (kind, body) in messages(&reply) {
        match kind {
            NLMSG_ERROR => error(body)?,
            libc::RTM_NEWLINK if body.len() >= IFINFO => {
                let Some(xdp) = attributes_of(&body[IFINFO..]).find(|(kind, _)| kind & !NLA_F_NESTED == IFLA_XDP)
                else {
                    return Ok(None);
                };
                return Ok(xdp_attached(xdp.1));
            }
            _ => {}
        }
    }
    Err(io::Error::new(io::ErrorKind::InvalidData, "the kernel's reply held no link"))
}

/// What the nested `IFLA_XDP` attributes say is attached.
fn xdp_attached(nested: &[u8]) -> Option<Attached> {
    let (mut how, mut id) = (0u8, 0u32);
    for (kind, value) in attributes_of(nested) {
        match kind {
            IFLA_XDP_ATTACHED => how = value.first().copied().unwrap_or(0),
            IFLA_XDP_PROG_ID if value.len() >= 4 => id = u32::from_ne_bytes([value[0], value[1], value[2], value[3]]),
            _ => {}
        }
    }
    let mode = match how {
        0 => return None,
        XDP_ATTACHED_DRV => XDP_FLAGS_DRV_MODE,
        XDP_ATTACHED_SKB => XDP_FLAGS_SKB_MODE,
        XDP_ATTACHED_HW => XDP_FLAGS_HW_MODE,
        _ => 0,
    };
    (id != 0).then_some(Attached { id, mode })
}

/// Removes the program attached to interface `index` in `mode` by netlink. A program attached
/// through a BPF link cannot be removed this way: the kernel says EBUSY.
pub fn detach(index: u32, mode: u32) -> io::Result<()> {
    let mut xdp = Vec::new();
    attribute(&mut xdp, IFLA_XDP_FD, &(-1i32).to_ne_bytes());
    if mode != 0 {
        attribute(&mut xdp, IFLA_XDP_FLAGS, &mode.to_ne_bytes());
    }
    let mut attributes = Vec::new();
    attribute(&mut attributes, IFLA_XDP | NLA_F_NESTED, &xdp);
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;
    let request = message(libc::RTM_SETLINK, flags, index, &attributes);
    let socket = Socket::open()?;
    socket.send(&request)?;
    let reply = socket.receive()?;
    for (kind, body) in messages(&reply) {
        if kind == NLMSG_ERROR {
            return error(body);
        }
    }
    Err(io::Error::new(io::ErrorKind::InvalidData, "the kernel did not acknowledge the detach"))
}

/// A netlink message of `kind` about interface `index`: header, `ifinfomsg`, attributes.
fn message(kind: u16, flags: u16, index: u32, attributes: &[u8]) -> Vec<u8> {
    let len = HEADER + IFINFO + attributes.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
    m.push(libc::AF_UNSPEC as u8);
    m.push(0);
    m.extend_from_slice(&0u16.to_ne_bytes()); // device type
    m.extend_from_slice(&(index as i32).to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes()); // flags
    m.extend_from_slice(&0u32.to_ne_bytes()); // change mask
    m.extend_from_slice(attributes);
    m
}

/// Appends one attribute, padded to 4 bytes.
fn attribute(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    out.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// The messages in a datagram from the kernel: (type, body after the header).
fn messages(mut bytes: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if bytes.len() < HEADER {
            return None;
        }
        let len = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        if len < HEADER || len > bytes.len() {
            return None;
        }
        let kind = u16::from_ne_bytes([bytes[4], bytes[5]]);
        let body = &bytes[HEADER..len];
        bytes = &bytes[len.next_multiple_of(4).min(bytes.len())..];
        Some((kind, body))
    })
}

/// The attributes in `bytes`: (type, value).
fn attributes_of(mut bytes: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if bytes.len() < 4 {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([bytes[0], bytes[1]]));
        if len < 4 || len > bytes.len() {
            return None;
        }
        let kind = u16::from_ne_bytes([bytes[2], bytes[3]]);
        let value = &bytes[4..len];
        bytes = &bytes[len.next_multiple_of(4).min(bytes.len())..];
        Some((kind, value))
    })
}

/// An `NLMSG_ERROR` body: Ok for an acknowledgement (error 0), else the error.
fn error(body: &[u8]) -> io::Result<()> {
    let code = match body.get(..4) {
        Some(b) => i32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        None => return Err(io::Error::new(io::ErrorKind::InvalidData, "a short netlink error message")),
    };
    match code {
        0 => Ok(()),
        code => Err(io::Error::from_raw_os_error(-code)),
    }
}

/// A NETLINK_ROUTE socket, closed on drop.
struct Socket(libc::c_int);

impl Socket {
    fn open() -> io::Result<Socket> {
        // SAFETY: socket with constant arguments; the descriptor is owned by the result.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Socket(fd))
    }

    fn send(&self, message: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_nl is integers only, all-zero is valid: the kernel (port id 0).
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: the message and the address are valid for the lengths given.
        let sent = unsafe {
            libc::sendto(
                self.0,
                message.as_ptr().cast(),
                message.len(),
                0,
                (&kernel as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// One datagram from the kernel (a reply to one request fits in one).
    fn receive(&self) -> io::Result<Vec<u8>> {
        let mut buffer = vec![0u8; 64 * 1024];
        // SAFETY: the buffer is valid for its length.
        let n = unsafe { libc::recv(self.0, buffer.as_mut_ptr().cast(), buffer.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        buffer.truncate(n as usize);
        Ok(buffer)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: closes the descriptor this value owns.
        unsafe { libc::close(self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_with_padding() {
        let mut bytes = Vec::new();
        attribute(&mut bytes, IFLA_XDP_ATTACHED, &[XDP_ATTACHED_SKB]);
        attribute(&mut bytes, IFLA_XDP_PROG_ID, &77u32.to_ne_bytes());
        assert_eq!(bytes.len(), 8 + 8, "a one-byte value is padded to four");
        let read: Vec<(u16, Vec<u8>)> = attributes_of(&bytes).map(|(k, v)| (k, v.to_vec())).collect();
        assert_eq!(
            read,
            [(IFLA_XDP_ATTACHED, vec![XDP_ATTACHED_SKB]), (IFLA_XDP_PROG_ID, 77u32.to_ne_bytes().to_vec())]
        );
        assert_eq!(xdp_attached(&bytes), Some(Attached { id: 77, mode: XDP_FLAGS_SKB_MODE }));
    }

    #[test]
    fn nothing_attached_reads_as_none() {
        let mut bytes = Vec::new();
        attribute(&mut bytes, IFLA_XDP_ATTACHED, &[0]);
        assert_eq!(xdp_attached(&bytes), None);
        // Truncated attributes end the walk instead of reading past the buffer.
        assert_eq!(attributes_of(&[8, 0, 2, 0, 1]).count(), 0);
        assert_eq!(messages(&[255, 0, 0, 0, 2, 0]).count(), 0);
    }

    #[test]
    fn a_request_carries_its_length_and_interface() {
        let m = message(libc::RTM_GETLINK, libc::NLM_F_REQUEST as u16, 7, &[1, 2, 3, 4]);
        assert_eq!(m.len(), HEADER + IFINFO + 4);
        assert_eq!(u32::from_ne_bytes([m[0], m[1], m[2], m[3]]) as usize, m.len());
        assert_eq!(i32::from_ne_bytes([m[20], m[21], m[22], m[23]]), 7);
        let parsed: Vec<(u16, usize)> = messages(&m).map(|(k, b)| (k, b.len())).collect();
        assert_eq!(parsed, [(libc::RTM_GETLINK, IFINFO + 4)]);
    }

    #[test]
    fn netlink_errors_become_os_errors() {
        assert!(error(&0i32.to_ne_bytes()).is_ok());
        let busy = error(&(-libc::EBUSY).to_ne_bytes()).unwrap_err();
        assert_eq!(busy.raw_os_error(), Some(libc::EBUSY));
        assert!(error(&[0, 0]).is_err());
    }

    #[test]
    fn the_kernel_answers_about_loopback_and_refuses_a_missing_interface() {
        // Every network namespace has `lo` at index 1, with no XDP program on it; asking
        // needs no privileges.
        assert_eq!(attached(1).expect("RTM_GETLINK on lo"), None);
        let missing = attached(u32::MAX >> 1).expect_err("no interface has that index");
        assert_eq!(missing.raw_os_error(), Some(libc::ENODEV), "{missing}");
    }
}
