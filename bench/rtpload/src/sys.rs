//! The system calls std does not offer, behind safe functions: batched
//! UDP send and receive (`sendmmsg`/`recvmmsg`, one system call for up to
//! [`MAX_BATCH`] datagrams), `ppoll` with a sub-millisecond timeout, socket
//! buffer sizes beyond `rmem_max` (`SO_RCVBUFFORCE`, when root), the
//! clock tick of `/proc/*/stat`, and for `floor`: a level-triggered
//! [`Epoll`] and the calling thread's own CPU time ([`thread_usage`]).
//!
//! This is the one module of the crate that may use `unsafe` (the crate
//! denies it elsewhere; the workspace forbids it, which is why the crate
//! has its own lint table): each block hands the kernel pointers into
//! buffers that live on the stack or in `self` for the duration of the
//! call, with lengths taken from the same buffers.
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// Datagrams per system call.
pub const MAX_BATCH: usize = 64;

fn sockaddr_of(addr: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in = unsafe { zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = addr.port().to_be();
    sa.sin_addr = libc::in_addr {
        s_addr: u32::from(*addr.ip()).to_be(),
    };
    sa
}

fn addr_of(sa: &libc::sockaddr_in) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)),
        u16::from_be(sa.sin_port),
    )
}

/// Up to [`MAX_BATCH`] datagrams of the same length, each with its
/// destination, to go out in one `sendmmsg`.
#[derive(Debug)]
pub struct SendBatch {
    len: usize,
    buf: Vec<u8>,
    dests: Vec<SocketAddrV4>,
}

impl SendBatch {
    /// A batch of datagrams of exactly `len` bytes.
    pub fn new(len: usize) -> SendBatch {
        SendBatch {
            len,
            buf: vec![0; len * MAX_BATCH],
            dests: Vec::with_capacity(MAX_BATCH),
        }
    }

    pub fn is_full(&self) -> bool {
        self.dests.len() == MAX_BATCH
    }

    /// Adds a datagram to `dest` and returns its bytes to fill in.
    /// Panics when full (callers flush first).
    pub fn push(&mut self, dest: SocketAddrV4) -> &mut [u8] {
        assert!(!self.is_full(), "send batch overflow");
        let i = self.dests.len();
        self.dests.push(dest);
        &mut self.buf[i * self.len..(i + 1) * self.len]
    }

    /// Sends every datagram of the batch on `sock` and empties it.
    /// Returns how many went out and how many failed (a refused
    /// datagram is skipped; a full socket buffer is waited for, up to
    /// about a second).
    pub fn flush(&mut self, sock: &UdpSocket) -> SendOutcome {
        let n = self.dests.len();
        let mut outcome = SendOutcome::default();
        if n == 0 {
            return outcome;
        }
        let mut names = [sockaddr_of(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)); MAX_BATCH];
        // SAFETY: iovec and mmsghdr are plain data; zero is valid for both.
        let mut iovs: [libc::iovec; MAX_BATCH] = unsafe { zeroed() };
        let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { zeroed() };
        let slots = hdrs.iter_mut().zip(iovs.iter_mut().zip(names.iter_mut()));
        for (i, (hdr, (iov, name))) in slots.enumerate().take(n) {
            *name = sockaddr_of(self.dests[i]);
            iov.iov_base = self.buf[i * self.len..].as_ptr() as *mut libc::c_void;
            iov.iov_len = self.len;
            hdr.msg_hdr.msg_name = name as *mut libc::sockaddr_in as *mut libc::c_void;
            hdr.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            hdr.msg_hdr.msg_iov = iov;
            hdr.msg_hdr.msg_iovlen = 1;
        }
        let fd = sock.as_raw_fd();
        let mut from = 0;
        let mut waits = 0;
        while from < n {
            // SAFETY: hdrs[from..n] point at names/iovs/buf, all alive
            // and unmoved until this function returns.
            let rc = unsafe {
                libc::sendmmsg(
                    fd,
                    hdrs[from..].as_mut_ptr(),
                    (n - from) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if rc > 0 {
                from += rc as usize;
                outcome.sent += rc as u64;
                continue;
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EAGAIN | libc::ENOBUFS) if waits < 100 => {
                    waits += 1;
                    outcome.waits += 1;
                    let _ = wait_writable(sock, Duration::from_millis(10));
                }
                Some(libc::EINTR) => {}
                _ => {
                    // This datagram cannot go: count it and go on.
                    outcome.failed += 1;
                    from += 1;
                }
            }
        }
        self.dests.clear();
        outcome
    }
}

/// What a flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendOutcome {
    pub sent: u64,
    pub failed: u64,
    /// Times the socket buffer was full and we waited.
    pub waits: u64,
}

/// Buffers for one `recvmmsg` of up to [`MAX_BATCH`] datagrams of up to
/// `size` bytes each.
#[derive(Debug)]
pub struct RecvBatch {
    size: usize,
    buf: Vec<u8>,
    lens: [usize; MAX_BATCH],
    truncated: [bool; MAX_BATCH],
    srcs: [SocketAddrV4; MAX_BATCH],
    count: usize,
}

impl RecvBatch {
    pub fn new(size: usize) -> RecvBatch {
        RecvBatch {
            size,
            buf: vec![0; size * MAX_BATCH],
            lens: [0; MAX_BATCH],
            truncated: [false; MAX_BATCH],
            srcs: [SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0); MAX_BATCH],
            count: 0,
        }
    }

    /// Receives what is queued on `sock` (without blocking): the number
    /// of datagrams now in the batch, 0 when nothing was waiting.
    pub fn recv(&mut self, sock: &UdpSocket) -> io::Result<usize> {
        self.recv_max(sock, MAX_BATCH)
    }

    /// [`RecvBatch::recv`] of at most `max` datagrams (1..=[`MAX_BATCH`]):
    /// only that many headers are prepared for the kernel.
    pub fn recv_max(&mut self, sock: &UdpSocket, max: usize) -> io::Result<usize> {
        let max = max.clamp(1, MAX_BATCH);
        self.count = 0;
        let mut names = [sockaddr_of(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)); MAX_BATCH];
        // SAFETY: plain data, zero is valid.
        let mut iovs: [libc::iovec; MAX_BATCH] = unsafe { zeroed() };
        let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { zeroed() };
        let base = self.buf.as_mut_ptr();
        let slots = hdrs.iter_mut().zip(iovs.iter_mut().zip(names.iter_mut()));
        for (i, (hdr, (iov, name))) in slots.enumerate().take(max) {
            // SAFETY: i * size + size <= buf.len().
            iov.iov_base = unsafe { base.add(i * self.size) } as *mut libc::c_void;
            iov.iov_len = self.size;
            hdr.msg_hdr.msg_name = name as *mut libc::sockaddr_in as *mut libc::c_void;
            hdr.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            hdr.msg_hdr.msg_iov = iov;
            hdr.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at live buffers of the stated size.
        let rc = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                hdrs.as_mut_ptr(),
                max as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(err),
            };
        }
        let n = rc as usize;
        for i in 0..n {
            self.lens[i] = (hdrs[i].msg_len as usize).min(self.size);
            self.truncated[i] = hdrs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            self.srcs[i] = addr_of(&names[i]);
        }
        self.count = n;
        Ok(n)
    }

    /// Datagram `i` of the last receive: bytes, source, truncated.
    pub fn get(&self, i: usize) -> (&[u8], SocketAddrV4, bool) {
        let start = i * self.size;
        (
            &self.buf[start..start + self.lens[i]],
            self.srcs[i],
            self.truncated[i],
        )
    }
}

/// Waits until one of `socks` is readable or `timeout` passes; returns
/// a bit mask of the readable ones (bit `i` for `socks[i]`).
pub fn wait_readable(socks: &[&UdpSocket], timeout: Duration) -> io::Result<u32> {
    let mut fds: Vec<libc::pollfd> = socks
        .iter()
        .map(|s| libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: fds is a live array of fds.len() pollfds; ts lives on the stack.
    let rc = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return match err.kind() {
            io::ErrorKind::Interrupted => Ok(0),
            _ => Err(err),
        };
    }
    let mut mask = 0;
    for (i, f) in fds.iter().enumerate() {
        if f.revents & (libc::POLLIN | libc::POLLERR) != 0 {
            mask |= 1 << i;
        }
    }
    Ok(mask)
}

fn wait_writable(sock: &UdpSocket, timeout: Duration) -> io::Result<()> {
    let mut fd = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    let rc = unsafe { libc::poll(&mut fd, 1, timeout.as_millis() as libc::c_int) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_int_opt(sock: &UdpSocket, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: value is a live c_int of the stated size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            &value as *const libc::c_int as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn get_int_opt(sock: &UdpSocket, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len are live and sized for the option.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            &mut value as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

/// Asks for `bytes` of receive and send buffer (beyond `rmem_max` when
/// root, via the FORCE options); returns what the kernel granted for
/// receiving (it doubles the request for its bookkeeping).
pub fn set_buffers(sock: &UdpSocket, bytes: usize) -> io::Result<usize> {
    let want = bytes.min(i32::MAX as usize) as libc::c_int;
    if set_int_opt(sock, libc::SO_RCVBUFFORCE, want).is_err() {
        set_int_opt(sock, libc::SO_RCVBUF, want)?;
    }
    if set_int_opt(sock, libc::SO_SNDBUFFORCE, want).is_err() {
        set_int_opt(sock, libc::SO_SNDBUF, want)?;
    }
    Ok(get_int_opt(sock, libc::SO_RCVBUF)?.max(0) as usize)
}

/// Puts the calling thread back to normal scheduling (`SCHED_OTHER`),
/// whatever policy it inherited: helper threads of a tool started at
/// real-time priority must not compete with its loop. Best effort.
pub fn normal_priority() {
    // SAFETY: a zeroed sched_param is valid (priority 0, required for
    // SCHED_OTHER); pid 0 means the calling thread.
    unsafe {
        let param: libc::sched_param = zeroed();
        libc::sched_setscheduler(0, libc::SCHED_OTHER, &param);
    }
}

/// A level-triggered epoll instance watching sockets for input, each
/// under a `u64` token (what the server's media plane does through nix).
#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    /// An epoll reporting up to `capacity` ready sockets per wait.
    pub fn new(capacity: usize) -> io::Result<Epoll> {
        // SAFETY: no pointers; the result is checked before use.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Epoll {
            // SAFETY: fd is a fresh descriptor nothing else owns.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            events: vec![libc::epoll_event { events: 0, u64: 0 }; capacity.max(1)],
        })
    }

    /// Watches `sock` for input (`EPOLLIN`, level-triggered) as `token`.
    /// The socket must outlive its registration (closing it removes it).
    pub fn add_readable(&self, sock: &UdpSocket, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: event is a live epoll_event; both fds are open.
        let rc = unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                sock.as_raw_fd(),
                &mut event,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// `epoll_wait` with timeout 0: replaces `ready` with the tokens of
    /// the sockets that have input now (an interrupted wait reports none).
    pub fn poll_now(&mut self, ready: &mut Vec<u64>) -> io::Result<()> {
        ready.clear();
        // SAFETY: events is a live array of the stated length.
        let rc = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len().min(i32::MAX as usize) as libc::c_int,
                0,
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::Interrupted => Ok(()),
                _ => Err(err),
            };
        }
        // Copied out by value: the struct is packed on x86-64.
        ready.extend(self.events[..rc as usize].iter().map(|e| e.u64));
        Ok(())
    }
}

/// The calling thread's resource use so far (`getrusage(RUSAGE_THREAD)`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadUsage {
    pub user: Duration,
    pub system: Duration,
    /// Context switches the thread asked for (it slept).
    pub voluntary_switches: u64,
    /// Times it was taken off the CPU while it could run.
    pub involuntary_switches: u64,
}

fn duration_of(tv: libc::timeval) -> Duration {
    Duration::from_secs(tv.tv_sec.max(0) as u64) + Duration::from_micros(tv.tv_usec.max(0) as u64)
}

/// The calling thread's CPU time (user and system) and context switches.
pub fn thread_usage() -> io::Result<ThreadUsage> {
    // SAFETY: rusage is plain data, zero is valid.
    let mut ru: libc::rusage = unsafe { zeroed() };
    // SAFETY: ru is a live rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ThreadUsage {
        user: duration_of(ru.ru_utime),
        system: duration_of(ru.ru_stime),
        voluntary_switches: ru.ru_nvcsw.max(0) as u64,
        involuntary_switches: ru.ru_nivcsw.max(0) as u64,
    })
}

/// Clock ticks per second of `/proc/*/stat` times.
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_convert_both_ways() {
        let a = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 5090);
        assert_eq!(addr_of(&sockaddr_of(a)), a);
    }

    #[test]
    fn epoll_reports_a_readable_socket_until_it_is_read() {
        let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let b = UdpSocket::bind("127.0.0.1:0").expect("bind");
        a.set_nonblocking(true).expect("nonblocking");
        let mut ep = Epoll::new(4).expect("epoll");
        ep.add_readable(&a, 42).expect("add");
        let mut ready = Vec::new();
        ep.poll_now(&mut ready).expect("wait");
        assert!(ready.is_empty());
        b.send_to(b"x", a.local_addr().expect("addr"))
            .expect("send");
        // Loopback delivers within the send call.
        ep.poll_now(&mut ready).expect("wait");
        assert_eq!(ready, vec![42]);
        // Level-triggered: still ready until read.
        ep.poll_now(&mut ready).expect("wait");
        assert_eq!(ready, vec![42]);
        let mut buf = [0u8; 8];
        a.recv_from(&mut buf).expect("recv");
        ep.poll_now(&mut ready).expect("wait");
        assert!(ready.is_empty());
    }

    #[test]
    fn thread_usage_grows_with_work() {
        let before = thread_usage().expect("getrusage");
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let after = thread_usage().expect("getrusage");
        assert!(after.user + after.system > before.user + before.system);
    }
}
