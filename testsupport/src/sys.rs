//! The few system calls the test support needs that std does not offer, and the
//! [`GlobalAlloc`](std::alloc::GlobalAlloc) impl of [`CountingAlloc`](crate::alloc::CountingAlloc).
//! Every `unsafe` block of this crate is here.
#![allow(unsafe_code)]

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

/// Sends `sig` to the process `pid`; errors (it is gone) are ignored. Refuses 0, 1 and
/// negative pids (the caller's group, init, groups).
pub(crate) fn kill_pid(pid: i32, sig: i32) {
    if pid <= 1 {
        return;
    }
    // SAFETY: kill has no memory-safety preconditions; a positive pid names one process.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// A block size as a signed byte count (sizes of live blocks fit in `isize`).
fn bytes(size: usize) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, which
// upholds the `GlobalAlloc` contract; the only addition is updating const-initialised
// thread-local counters, which does not allocate.
unsafe impl std::alloc::GlobalAlloc for crate::alloc::CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        crate::alloc::note_allocation();
        // SAFETY: the caller upholds `alloc`'s contract; forwarded unchanged.
        let p = unsafe { std::alloc::System.alloc(layout) };
        if !p.is_null() {
            crate::alloc::note_bytes(bytes(layout.size()));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        crate::alloc::note_bytes(-bytes(layout.size()));
        // SAFETY: `ptr` was allocated by `System` through this allocator with `layout`.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        crate::alloc::note_allocation();
        // SAFETY: `ptr` came from `System` through this allocator with `layout`; the caller
        // upholds `realloc`'s contract for `new_size`; forwarded unchanged.
        let p = unsafe { std::alloc::System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            crate::alloc::note_bytes(bytes(new_size) - bytes(layout.size()));
        }
        p
    }
}
