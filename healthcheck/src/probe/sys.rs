//! The crate's only `unsafe`: signalling a process group.
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
