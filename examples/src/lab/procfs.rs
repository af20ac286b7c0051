//! Other processes' CPU time and peak memory, read from `/proc`, for the benches that put a
//! daemon beside the tool users run today (`ha-limits`, `hc-vs`): the same reading for each
//! side, summed over a daemon's whole process tree.

/// CPU time of one process in clock ticks (`/proc/PID/stat` fields 14-17).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTicks {
    /// utime.
    pub user: u64,
    /// stime.
    pub system: u64,
    /// cutime + cstime: the children it has waited for.
    pub children: u64,
}

/// The fields of `/proc/PID/stat` after the command name (which may hold spaces); index 0 is
/// field 3 (state).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// The CPU time of `pid` (`None` when it is gone).
#[must_use]
pub fn cpu_ticks(pid: u32) -> Option<CpuTicks> {
    let f = stat_fields(pid)?;
    let n = |field: usize| f.get(field - 3).and_then(|s| s.parse::<u64>().ok());
    Some(CpuTicks {
        user: n(14)?,
        system: n(15)?,
        children: n(16)? + n(17)?,
    })
}

/// `root` and its descendants that are alive now.
#[must_use]
pub fn process_tree(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(pp) = stat_fields(p).and_then(|f| f.get(1).and_then(|s| s.parse().ok())) {
                parents.push((p, pp));
            }
        }
    }
    let mut tree = vec![root];
    let mut k = 0;
    while k < tree.len() {
        let me = tree[k];
        tree.extend(parents.iter().filter(|(_, pp)| *pp == me).map(|(p, _)| *p));
        k += 1;
    }
    tree.retain(|p| parents.iter().any(|(q, _)| q == p));
    tree
}

/// VmHWM (peak resident set) of `pids`, summed, KiB.
#[must_use]
pub fn vm_hwm_kib(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .sum()
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
#[must_use]
pub fn clock_ticks() -> f64 {
    crate::sys::clock_ticks() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_read() {
        let me = std::process::id();
        assert!(process_tree(me).contains(&me));
        assert!(cpu_ticks(me).is_some());
        assert!(vm_hwm_kib(&[me]) > 0);
        assert!(clock_ticks() > 0.0);
        assert!(cpu_ticks(u32::MAX).is_none());
    }
}
