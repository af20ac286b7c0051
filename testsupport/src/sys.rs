//! The few system calls the test support needs that std does not offer. Every `unsafe` block of
//! this crate is here.

use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Whether the effective user is root.
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Moves the calling thread into the network namespace bound at `path` (`/run/netns/NAME`).
pub(crate) fn enter_netns(path: &Path) -> io::Result<()> {
    let file = std::fs::File::open(path)?;
    // SAFETY: the fd is valid for the call (the file lives until the end of this function);
    // setns only changes the calling thread's namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sends `sig` to the process group `pgid`; errors (the group is gone) are ignored.
pub(crate) fn kill_group(pgid: u32, sig: i32) {
    let Ok(pgid) = i32::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill has no memory-safety preconditions; a negative pid names a process group.
    unsafe {
        libc::kill(-pgid, sig);
    }
}
