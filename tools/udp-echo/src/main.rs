//! The floor a DNS server cannot beat: receive a batch with `recvmmsg`, set the QR bit on
//! each datagram, send the batch back with `sendmmsg`, exactly as eightfold's workers batch,
//! but with no DNS work at all. TCP: read a length-prefixed message, set QR, write it back.
//!
//! Usage: udp-echo ADDR:PORT   (prints "listening on ADDR:PORT")

use std::io::{Read, Write};
use std::mem;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;

const BATCH: usize = 64;
const SIZE: usize = 4096;

fn main() {
    let addr: SocketAddr = std::env::args().nth(1).and_then(|a| a.parse().ok()).expect("usage: udp-echo ADDR:PORT");
    let udp = UdpSocket::bind(addr).expect("bind UDP");
    receive_buffer(&udp);
    let tcp = TcpListener::bind(udp.local_addr().unwrap()).expect("bind TCP");
    println!("listening on {}", udp.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in tcp.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = vec![0u8; 65_537];
                loop {
                    if stream.read_exact(&mut buf[..2]).is_err() {
                        return;
                    }
                    let len = u16::from_be_bytes([buf[0], buf[1]]) as usize;
                    if stream.read_exact(&mut buf[2..2 + len]).is_err() {
                        return;
                    }
                    if len > 2 {
                        buf[4] |= 0x80;
                    }
                    if stream.write_all(&buf[..2 + len]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    udp_loop(&udp);
}

/// The receive buffer eightfold's workers ask for (4 MiB, as far as `net.core.rmem_max`
/// allows), so that a burst that eightfold queues is not dropped here: the two then answer
/// the same queries, and the lost counts compare. Its size costs nothing per packet.
fn receive_buffer(socket: &UdpSocket) {
    let size: libc::c_int = 4 << 20;
    // SAFETY: the descriptor is open, and the option value is a c_int of the size passed.
    // Best effort, as in eightfold: the kernel caps it at net.core.rmem_max.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

fn udp_loop(socket: &UdpSocket) {
    let fd = socket.as_raw_fd();
    let mut bufs = vec![[0u8; SIZE]; BATCH];
    // SAFETY: plain C structs for which all-zero is valid; pointers are set before use.
    let mut addrs: Vec<libc::sockaddr_storage> = (0..BATCH).map(|_| unsafe { mem::zeroed() }).collect();
    let mut iovs: Vec<libc::iovec> = (0..BATCH).map(|_| unsafe { mem::zeroed() }).collect();
    let mut msgs: Vec<libc::mmsghdr> = (0..BATCH).map(|_| unsafe { mem::zeroed() }).collect();
    // Like eightfold's workers, reset only the headers the kernel filled last time.
    let mut filled = BATCH;
    loop {
        for i in 0..filled {
            iovs[i] = libc::iovec { iov_base: bufs[i].as_mut_ptr().cast(), iov_len: SIZE };
            let hdr = &mut msgs[i].msg_hdr;
            hdr.msg_iov = &mut iovs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as u32;
        }
        // SAFETY: msgs point at live buffers, iovecs and addresses owned by this function.
        let n =
            unsafe { libc::recvmmsg(fd, msgs.as_mut_ptr(), BATCH as u32, libc::MSG_WAITFORONE, std::ptr::null_mut()) };
        if n <= 0 {
            filled = BATCH;
            continue;
        }
        filled = n as usize;
        for i in 0..n as usize {
            let len = msgs[i].msg_len as usize;
            if len > 2 {
                bufs[i][2] |= 0x80;
            }
            iovs[i].iov_len = len;
        }
        let mut sent = 0;
        while sent < n as usize {
            // SAFETY: as above; each iovec now holds the received length.
            let r = unsafe { libc::sendmmsg(fd, msgs[sent..].as_mut_ptr(), (n as usize - sent) as u32, 0) };
            sent += if r <= 0 { 1 } else { r as usize };
        }
    }
}
