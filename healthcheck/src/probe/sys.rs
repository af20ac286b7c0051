//! The crate's only `unsafe`: signalling a process group and dissolving a TCP connection.
#![allow(unsafe_code)]

/// Send SIGKILL to the process group `pgid` (a script and everything it started).
pub(crate) fn kill_process_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return; // never signal "every process" (-1) or our own group (0)
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; a negative pid
    // addresses the process group. ESRCH (already gone) is fine and ignored.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Dissolve the association of a connected or connecting socket with `connect(2)` to an
/// `AF_UNSPEC` address. On an established TCP connection Linux sends an RST and returns the
/// socket to the closed state (an ABORT, RFC 9293 §3.10.5), ready for another `connect(2)`;
/// an automatically chosen local port is released. This is how a plain connect check ends
/// and keeps its socket; public for programs that measure or copy it (`check-scale`).
///
/// # Errors
/// The `connect(2)` error, e.g. `EBADF` or `ENOTSOCK` for a descriptor that is no socket.
pub fn disconnect(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero sockaddr is a valid value of this plain C struct; its family is
    // then set to AF_UNSPEC, all the kernel looks at.
    let mut unspec: libc::sockaddr = unsafe { std::mem::zeroed() };
    unspec.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
    let len = std::mem::size_of::<libc::sockaddr>() as libc::socklen_t;
    // SAFETY: the descriptor is borrowed, so open for the call; the kernel reads `len` bytes
    // from a live local struct of exactly that size and keeps no pointer to it.
    if unsafe { libc::connect(fd.as_raw_fd(), &unspec, len) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
