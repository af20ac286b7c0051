//! The LVS-DR real-server side (`ha-director realserver --vip ADDR [--undo]`).
//!
//! In direct routing the director forwards a client's packet to a real server unchanged (only the
//! Ethernet destination is rewritten), so each real server must accept packets addressed to the
//! virtual address (VIP) without ever answering ARP for it: otherwise clients would learn the real
//! server's MAC for the VIP and bypass the director. The LVS-DR HOWTO's recipe, applied here:
//!
//! - every VIP on `lo`, as a host address (IPv4 `/32`, IPv6 `/128`), so the kernel accepts it;
//! - `arp_ignore = 1` (answer ARP only for addresses on the receiving interface) and
//!   `arp_announce = 2` (never use an address of another interface, such as the VIP on `lo`, as
//!   the ARP source) on `all`, on `lo` and on the interface given, because the kernel uses the
//!   maximum of `all` and the interface's value.
//!
//! IPv6 needs no sysctl: neighbour discovery only answers for addresses of the interface the
//! solicitation arrived on, so a VIP on `lo` is never advertised on the LAN.
//!
//! [`apply`] saves what it changes in a state file (JSON, default
//! [`DEFAULT_STATE_FILE`]) before changing it, and [`undo`] restores exactly that: the sysctls'
//! previous values, and only the VIPs that `apply` added (a VIP that was already on `lo` stays).
//! Both are idempotent: applying twice is applying once, and the second apply keeps the values
//! saved by the first.
//!
//! VIPs are added without the address-protocol mark that `ha_failover` uses for the director's
//! own VIPs, so a director started on the same host never removes a real server's VIP as stale.
//!
//! ```no_run
//! use ha_examples::director::realserver::{RealserverOptions, apply, undo};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let opts = RealserverOptions::new(vec!["10.100.0.100".parse()?]);
//! let report = apply(&opts).await?;
//! println!("{report}");
//! undo(&opts).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ha_failover::runtime::netlink::{Addresses, Change, NetlinkError, Vip};
use rtnetlink::packet_route::address::AddressHeaderFlags;
use serde::{Deserialize, Serialize};

/// Where [`apply`] saves the previous state unless told otherwise.
pub const DEFAULT_STATE_FILE: &str = "/run/ha-director/realserver.json";

/// The interface the VIPs go on.
pub const LOOPBACK: &str = "lo";

/// The version written in the state file.
const STATE_VERSION: u32 = 1;

/// What to do: which VIPs, which interface, where to keep the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealserverOptions {
    /// The virtual addresses (IPv4 or IPv6).
    pub vips: Vec<IpAddr>,
    /// The interface that faces the director (its `arp_ignore`/`arp_announce` are set too);
    /// `all` and `lo` are always set.
    pub interface: Option<String>,
    /// The state file written by [`apply`] and read by [`undo`].
    pub state_file: PathBuf,
    /// The root of the sysctl tree (`/proc/sys`; another folder in tests).
    pub proc_sys: PathBuf,
}

impl RealserverOptions {
    /// Options for `vips` with the defaults: no extra interface, [`DEFAULT_STATE_FILE`],
    /// `/proc/sys`.
    pub fn new(vips: Vec<IpAddr>) -> RealserverOptions {
        RealserverOptions {
            vips,
            interface: None,
            state_file: PathBuf::from(DEFAULT_STATE_FILE),
            proc_sys: PathBuf::from("/proc/sys"),
        }
    }

    /// The sysctls this tool sets, with the value it sets, in the order it sets them.
    pub fn sysctls(&self) -> Vec<(PathBuf, &'static str)> {
        let mut ifaces = vec!["all", LOOPBACK];
        if let Some(i) = self.interface.as_deref()
            && !ifaces.contains(&i)
        {
            ifaces.push(i);
        }
        let mut out = Vec::new();
        for i in ifaces {
            let dir = self.proc_sys.join("net/ipv4/conf").join(i);
            out.push((dir.join("arp_ignore"), "1"));
            out.push((dir.join("arp_announce"), "2"));
        }
        out
    }
}

/// A failure of [`apply`] or [`undo`], naming the sysctl file or the address and the errno.
#[derive(Debug, thiserror::Error)]
pub enum RealserverError {
    /// No VIP was given to apply.
    #[error("no VIP given: pass at least one --vip ADDR")]
    NoVips,
    /// An interface name cannot be a sysctl folder.
    #[error("bad interface name {0:?}")]
    BadInterface(String),
    /// A sysctl could not be read.
    #[error("read sysctl {}: {source}", path.display())]
    SysctlRead {
        /// The file under /proc/sys.
        path: PathBuf,
        /// The OS error (with its errno).
        source: io::Error,
    },
    /// A sysctl could not be written.
    #[error("write {value} to sysctl {}: {source}", path.display())]
    SysctlWrite {
        /// The file under /proc/sys.
        path: PathBuf,
        /// The value.
        value: String,
        /// The OS error (with its errno).
        source: io::Error,
    },
    /// The netlink connection could not be opened, or `lo` is missing.
    #[error("netlink: {0}")]
    Netlink(#[source] NetlinkError),
    /// The kernel refused to add or remove a VIP.
    #[error("{op} VIP {addr} on {LOOPBACK}: {source}")]
    Address {
        /// `add` or `remove`.
        op: &'static str,
        /// The VIP.
        addr: IpAddr,
        /// The netlink error, with the errno and its meaning.
        source: NetlinkError,
    },
    /// The state file could not be read, written or removed.
    #[error("state file {}: {source}", path.display())]
    StateIo {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The state file is not what [`apply`] writes.
    #[error("state file {}: not a realserver state file: {detail}", path.display())]
    StateParse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        detail: String,
    },
}

/// A sysctl change: the file, the value before and the value after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlChange {
    /// The file under /proc/sys.
    pub path: PathBuf,
    /// The value before this call.
    pub before: String,
    /// The value after this call.
    pub after: String,
}

/// What happened to one VIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VipOutcome {
    /// `apply` added it.
    Added,
    /// `apply` found it already on `lo`.
    AlreadyPresent,
    /// `undo` removed it.
    Removed,
    /// `undo` kept it: it was on `lo` before `apply` ran.
    KeptPreexisting,
    /// `undo` found it already gone.
    AlreadyAbsent,
}

/// What [`apply`] or [`undo`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealserverReport {
    /// Every VIP and what happened to it.
    pub vips: Vec<(IpAddr, VipOutcome)>,
    /// Every sysctl touched (also the ones that already had the value).
    pub sysctls: Vec<SysctlChange>,
    /// The state file written (apply) or consumed (undo).
    pub state_file: PathBuf,
    /// `undo` only: no state file was found, so the sysctls were left as they are.
    pub state_missing: bool,
}

impl fmt::Display for RealserverReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (addr, outcome) in &self.vips {
            let what = match outcome {
                VipOutcome::Added => "added",
                VipOutcome::AlreadyPresent => "already present",
                VipOutcome::Removed => "removed",
                VipOutcome::KeptPreexisting => "kept (it was there before apply)",
                VipOutcome::AlreadyAbsent => "already absent",
            };
            writeln!(f, "VIP {addr}/{} on {LOOPBACK}: {what}", host_prefix(*addr))?;
        }
        for s in &self.sysctls {
            if s.before == s.after {
                writeln!(f, "{} = {} (unchanged)", s.path.display(), s.after)?;
            } else {
                writeln!(f, "{} = {} (was {})", s.path.display(), s.after, s.before)?;
            }
        }
        if self.state_missing {
            writeln!(
                f,
                "no state file {}: sysctls left as they are",
                self.state_file.display()
            )?;
        }
        Ok(())
    }
}

/// The state file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    version: u32,
    /// Sysctl file -> value before the first apply.
    sysctls: Vec<SavedSysctl>,
    vips: Vec<SavedVip>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SavedSysctl {
    path: PathBuf,
    previous: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SavedVip {
    addr: IpAddr,
    prefix: u8,
    /// Whether apply added it (else it was there before and undo keeps it).
    added: bool,
}

/// The host prefix length of an address: 32 or 128.
pub fn host_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn read_sysctl(path: &Path) -> Result<String, RealserverError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|source| RealserverError::SysctlRead {
            path: path.to_path_buf(),
            source,
        })
}

fn write_sysctl(path: &Path, value: &str) -> Result<(), RealserverError> {
    std::fs::write(path, format!("{value}\n")).map_err(|source| RealserverError::SysctlWrite {
        path: path.to_path_buf(),
        value: value.to_owned(),
        source,
    })
}

fn load_state(path: &Path) -> Result<Option<State>, RealserverError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(RealserverError::StateIo {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let state: State = serde_json::from_str(&text).map_err(|e| RealserverError::StateParse {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    if state.version != STATE_VERSION {
        return Err(RealserverError::StateParse {
            path: path.to_path_buf(),
            detail: format!(
                "version {} (this build reads {STATE_VERSION})",
                state.version
            ),
        });
    }
    Ok(Some(state))
}

/// Writes the state atomically (a temporary file renamed over the old one).
fn save_state(path: &Path, state: &State) -> Result<(), RealserverError> {
    let io_err = |source| RealserverError::StateIo {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err)?;
    }
    let text = serde_json::to_string_pretty(state).map_err(|e| RealserverError::StateParse {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text + "\n").map_err(io_err)?;
    std::fs::rename(&tmp, path).map_err(io_err)
}

fn check_interface(opts: &RealserverOptions) -> Result<(), RealserverError> {
    if let Some(i) = &opts.interface
        && (i.is_empty() || i.contains('/') || i == "." || i == ".." || i.len() > 15)
    {
        return Err(RealserverError::BadInterface(i.clone()));
    }
    Ok(())
}

/// Sets the sysctls, saving each one's value before the first apply into `state`.
fn apply_sysctls(
    opts: &RealserverOptions,
    state: &mut State,
) -> Result<Vec<SysctlChange>, RealserverError> {
    let wanted = opts.sysctls();
    // Read everything first so nothing is changed when a file is missing.
    let mut before = Vec::with_capacity(wanted.len());
    for (path, _) in &wanted {
        before.push(read_sysctl(path)?);
    }
    for ((path, _), prev) in wanted.iter().zip(&before) {
        if !state.sysctls.iter().any(|s| &s.path == path) {
            state.sysctls.push(SavedSysctl {
                path: path.clone(),
                previous: prev.clone(),
            });
        }
    }
    Ok(wanted
        .into_iter()
        .zip(before)
        .map(|((path, value), before)| SysctlChange {
            path,
            before,
            after: value.to_owned(),
        })
        .collect())
}

fn write_sysctls(changes: &[SysctlChange]) -> Result<(), RealserverError> {
    for c in changes {
        if c.before != c.after {
            write_sysctl(&c.path, &c.after)?;
        }
    }
    Ok(())
}

/// Restores the sysctls saved in `state`; returns what changed.
fn restore_sysctls(state: &State) -> Result<Vec<SysctlChange>, RealserverError> {
    let mut out = Vec::new();
    for s in &state.sysctls {
        let before = match read_sysctl(&s.path) {
            Ok(v) => v,
            // An interface that is gone took its sysctls with it: nothing to restore.
            Err(RealserverError::SysctlRead { source, .. })
                if source.kind() == io::ErrorKind::NotFound =>
            {
                continue;
            }
            Err(e) => return Err(e),
        };
        if before != s.previous {
            write_sysctl(&s.path, &s.previous)?;
        }
        out.push(SysctlChange {
            path: s.path.clone(),
            before,
            after: s.previous.clone(),
        });
    }
    Ok(out)
}

/// Adds `addr/prefix` to `ifindex` without a protocol mark; EEXIST is success.
async fn add_plain(
    handle: &rtnetlink::Handle,
    ifindex: u32,
    addr: IpAddr,
    prefix: u8,
) -> Result<Change, RealserverError> {
    let mut req = handle.address().add(ifindex, addr, prefix);
    if addr.is_ipv6() {
        req.message_mut().header.flags |= AddressHeaderFlags::Nodad;
    }
    match req.execute().await {
        Ok(()) => Ok(Change::Done),
        Err(rtnetlink::Error::NetlinkError(m))
            if m.code.map(|c| -c.get()) == Some(libc::EEXIST) =>
        {
            Ok(Change::AlreadySo)
        }
        Err(e) => {
            let source = match &e {
                rtnetlink::Error::NetlinkError(m) if m.code.is_some() => {
                    let errno = m.code.map(|c| -c.get()).unwrap_or_default();
                    NetlinkError::Kernel {
                        op: "add address",
                        what: format!("{addr}/{prefix}"),
                        errno,
                        meaning: io::Error::from_raw_os_error(errno).to_string(),
                    }
                }
                _ => NetlinkError::Other {
                    op: "add address",
                    what: format!("{addr}/{prefix}"),
                    detail: e.to_string(),
                },
            };
            Err(RealserverError::Address {
                op: "add",
                addr,
                source,
            })
        }
    }
}

/// Puts every VIP on `lo` and sets `arp_ignore`/`arp_announce`, saving what was there before in
/// the state file first. Applying twice is applying once.
pub async fn apply(opts: &RealserverOptions) -> Result<RealserverReport, RealserverError> {
    if opts.vips.is_empty() {
        return Err(RealserverError::NoVips);
    }
    check_interface(opts)?;
    let mut state = load_state(&opts.state_file)?.unwrap_or(State {
        version: STATE_VERSION,
        ..State::default()
    });
    let sysctls = apply_sysctls(opts, &mut state)?;

    let (conn, handle, _) =
        rtnetlink::new_connection().map_err(|e| RealserverError::Netlink(NetlinkError::Open(e)))?;
    let conn = tokio::spawn(conn);
    let result = async {
        let addrs = Addresses::open().map_err(RealserverError::Netlink)?;
        let lo = addrs
            .ifindex(LOOPBACK)
            .await
            .map_err(RealserverError::Netlink)?;
        // Save the state (sysctls' previous values) before changing anything.
        save_state(&opts.state_file, &state)?;
        write_sysctls(&sysctls)?;
        let mut vips = Vec::new();
        for &addr in &opts.vips {
            let prefix = host_prefix(addr);
            let outcome = match add_plain(&handle, lo, addr, prefix).await? {
                Change::Done => VipOutcome::Added,
                Change::AlreadySo => VipOutcome::AlreadyPresent,
            };
            match state.vips.iter_mut().find(|v| v.addr == addr) {
                // Added by an earlier apply: still ours to remove.
                Some(saved) => saved.added |= outcome == VipOutcome::Added,
                None => state.vips.push(SavedVip {
                    addr,
                    prefix,
                    added: outcome == VipOutcome::Added,
                }),
            }
            // Save after every address so a failure later leaves an exact record.
            save_state(&opts.state_file, &state)?;
            vips.push((addr, outcome));
        }
        Ok(RealserverReport {
            vips,
            sysctls,
            state_file: opts.state_file.clone(),
            state_missing: false,
        })
    }
    .await;
    conn.abort();
    result
}

/// Undoes [`apply`]: removes the VIPs it added, restores the sysctls' saved values and removes
/// the state file. Without a state file it removes the VIPs given in `opts` and leaves the
/// sysctls as they are (there is nothing to restore them to). Undoing twice is undoing once.
pub async fn undo(opts: &RealserverOptions) -> Result<RealserverReport, RealserverError> {
    check_interface(opts)?;
    let state = load_state(&opts.state_file)?;
    let addrs = Addresses::open().map_err(RealserverError::Netlink)?;
    let lo = addrs
        .ifindex(LOOPBACK)
        .await
        .map_err(RealserverError::Netlink)?;

    // What to remove: what apply added, plus VIPs named now that apply did not find there.
    let mut plan: Vec<(IpAddr, u8, bool)> = Vec::new();
    if let Some(s) = &state {
        plan.extend(s.vips.iter().map(|v| (v.addr, v.prefix, v.added)));
    }
    for &addr in &opts.vips {
        if !plan.iter().any(|(a, _, _)| *a == addr) {
            plan.push((addr, host_prefix(addr), true));
        }
    }
    let mut vips = Vec::new();
    for (addr, prefix, remove) in plan {
        if !remove {
            vips.push((addr, VipOutcome::KeptPreexisting));
            continue;
        }
        let vip = Vip {
            ifindex: lo,
            addr,
            prefix,
        };
        let outcome = match addrs.remove(vip).await {
            Ok(Change::Done) => VipOutcome::Removed,
            Ok(Change::AlreadySo) => VipOutcome::AlreadyAbsent,
            Err(source) => {
                return Err(RealserverError::Address {
                    op: "remove",
                    addr,
                    source,
                });
            }
        };
        vips.push((addr, outcome));
    }
    let sysctls = match &state {
        Some(s) => restore_sysctls(s)?,
        None => Vec::new(),
    };
    if state.is_some() {
        std::fs::remove_file(&opts.state_file).map_err(|source| RealserverError::StateIo {
            path: opts.state_file.clone(),
            source,
        })?;
    }
    Ok(RealserverReport {
        vips,
        sysctls,
        state_file: opts.state_file.clone(),
        state_missing: state.is_none(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the temp dir, removed on drop.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new() -> TempDir {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!("ha-rs-unit-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn fake_proc(dir: &Path, ifaces: &[&str], value: &str) {
        for i in ifaces {
            let d = dir.join("net/ipv4/conf").join(i);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("arp_ignore"), format!("{value}\n")).unwrap();
            std::fs::write(d.join("arp_announce"), format!("{value}\n")).unwrap();
        }
    }

    fn opts(dir: &Path, interface: Option<&str>) -> RealserverOptions {
        RealserverOptions {
            vips: vec!["10.0.0.100".parse().unwrap()],
            interface: interface.map(str::to_owned),
            state_file: dir.join("state/realserver.json"),
            proc_sys: dir.join("sys"),
        }
    }

    #[test]
    fn sysctls_cover_all_lo_and_the_interface_once() {
        let o = opts(Path::new("/p"), Some("eth0"));
        let names: Vec<String> = o
            .sysctls()
            .iter()
            .map(|(p, v)| format!("{}={v}", p.display()))
            .collect();
        assert_eq!(
            names,
            [
                "/p/sys/net/ipv4/conf/all/arp_ignore=1",
                "/p/sys/net/ipv4/conf/all/arp_announce=2",
                "/p/sys/net/ipv4/conf/lo/arp_ignore=1",
                "/p/sys/net/ipv4/conf/lo/arp_announce=2",
                "/p/sys/net/ipv4/conf/eth0/arp_ignore=1",
                "/p/sys/net/ipv4/conf/eth0/arp_announce=2",
            ]
        );
        assert_eq!(opts(Path::new("/p"), Some("lo")).sysctls().len(), 4);
    }

    #[test]
    fn sysctl_previous_values_survive_a_second_apply_and_are_restored() {
        let dir = TempDir::new();
        let o = opts(dir.path(), Some("eth0"));
        fake_proc(&o.proc_sys, &["all", "lo", "eth0"], "0");
        // Pretend eth0 had arp_announce 1 before.
        std::fs::write(o.proc_sys.join("net/ipv4/conf/eth0/arp_announce"), "1\n").unwrap();

        let mut state = State {
            version: STATE_VERSION,
            ..State::default()
        };
        let first = apply_sysctls(&o, &mut state).unwrap();
        write_sysctls(&first).unwrap();
        save_state(&o.state_file, &state).unwrap();
        assert!(
            first
                .iter()
                .all(|c| read_sysctl(&c.path).unwrap() == c.after)
        );

        // Second apply: the saved values stay the ones from before the first.
        let mut again = load_state(&o.state_file).unwrap().unwrap();
        let second = apply_sysctls(&o, &mut again).unwrap();
        assert!(second.iter().all(|c| c.before == c.after));
        assert_eq!(again, state);

        let restored = restore_sysctls(&again).unwrap();
        assert_eq!(restored.len(), 6);
        for c in &restored {
            assert_eq!(read_sysctl(&c.path).unwrap(), c.after);
        }
        assert_eq!(
            read_sysctl(&o.proc_sys.join("net/ipv4/conf/eth0/arp_announce")).unwrap(),
            "1"
        );
        assert_eq!(
            read_sysctl(&o.proc_sys.join("net/ipv4/conf/all/arp_ignore")).unwrap(),
            "0"
        );
    }

    #[test]
    fn a_missing_sysctl_is_named_and_nothing_is_written() {
        let dir = TempDir::new();
        let o = opts(dir.path(), Some("eth9"));
        fake_proc(&o.proc_sys, &["all", "lo"], "0");
        let mut state = State::default();
        let err = apply_sysctls(&o, &mut state).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("eth9/arp_ignore"), "{msg}");
        assert!(msg.contains("os error 2"), "{msg}");
        assert!(state.sysctls.is_empty());
        assert_eq!(
            read_sysctl(&o.proc_sys.join("net/ipv4/conf/all/arp_ignore")).unwrap(),
            "0"
        );
    }

    #[test]
    fn bad_interface_names_and_state_files_are_rejected() {
        let dir = TempDir::new();
        let o = opts(dir.path(), Some("../x"));
        assert!(matches!(
            check_interface(&o),
            Err(RealserverError::BadInterface(_))
        ));
        std::fs::create_dir_all(o.state_file.parent().unwrap()).unwrap();
        std::fs::write(&o.state_file, "{\"nope\":1}").unwrap();
        let err = load_state(&o.state_file).unwrap_err();
        assert!(err.to_string().contains("realserver.json"), "{err}");
        std::fs::write(&o.state_file, "{\"version\":9,\"sysctls\":[],\"vips\":[]}").unwrap();
        assert!(
            load_state(&o.state_file)
                .unwrap_err()
                .to_string()
                .contains("version 9")
        );
        assert_eq!(load_state(&dir.path().join("none.json")).unwrap(), None);
    }

    #[test]
    fn host_prefixes() {
        assert_eq!(host_prefix("10.0.0.1".parse().unwrap()), 32);
        assert_eq!(host_prefix("fd00::1".parse().unwrap()), 128);
    }
}
