//! The two system calls of the driver that need `unsafe`: `setsockopt(IP_RECVTTL)` (socket2
//! has no setter for it) and reading a `recvmsg` buffer back as initialised bytes. Linux only.
#![allow(unsafe_code)]

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;

/// Asks the kernel for the TTL of received IPv4 packets as ancillary data (`IP_RECVTTL`, see
/// ip(7)), so that the driver can discard packets whose TTL is not 255 (RFC 5881 §5).
pub(crate) fn set_recv_ttl(socket: &impl AsRawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `socket` is an open socket for the duration of the call; the option value points
    // to a live `c_int` and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_RECVTTL,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A byte buffer for `recvmsg` that is initialised (zeroed) before the call, so reading it back
/// is sound whatever the kernel wrote.
pub(crate) struct ZeroedBuf<const N: usize> {
    buf: [MaybeUninit<u8>; N],
}

impl<const N: usize> ZeroedBuf<N> {
    pub(crate) fn new() -> Self {
        ZeroedBuf {
            buf: [MaybeUninit::new(0); N],
        }
    }

    /// The buffer to hand to socket2.
    pub(crate) fn as_uninit_mut(&mut self) -> &mut [MaybeUninit<u8>] {
        &mut self.buf
    }

    /// The first `len` bytes (clamped to `N`).
    pub(crate) fn bytes(&self, len: usize) -> &[u8] {
        let len = len.min(N);
        // SAFETY: every element was initialised with 0 in `new`, and the kernel only ever
        // writes initialised bytes over them; `MaybeUninit<u8>` has the layout of `u8`.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), len) }
    }
}
