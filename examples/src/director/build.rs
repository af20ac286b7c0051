//! From the typed model ([`Config`]) to what the runtime runs: a
//! [`DirectorConfig`] of `ha_failover::runtime::director`.
//!
//! [`build`] translates every part of the model: instances (with their trackers, shared by
//! name, and notify scripts), sync groups, resource groups (as the instance's ordered
//! steps), virtual servers (IPVS services with their real servers and sorry server) and one
//! [`HealthTarget`] per real-server check (one per URL for `HTTP_GET`/`SSL_GET`: a real server
//! is alive while all its checks are up, as keepalived's URLs all have to pass), the IPVS
//! options and the connection sync daemon, and the script user.
//!
//! An instance's primary address (the source of its adverts) is `unicast_src_ip` when given,
//! otherwise the first address of its interface in the family of its VIPs (for IPv6 the
//! link-local address, RFC 9568 §5.1.2.1): the caller passes a resolver, so the translation is
//! testable; [`interface_address`] is the real one (`getifaddrs`).
//!
//! What the runtime cannot do is not silently dropped: it comes back in [`Built::notes`]
//! (logged at start) when harmless, or as a [`BuildError`] naming the instance or virtual
//! server when it would change what the configuration means.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ha_failover::core::{
    DirectorBuilder, DirectorConfigError, InstanceConfig, InstanceId, NotifyScripts, ParamMatch,
    ProcessSpec, RealServer, Step, StepKind, SyncGroupConfig, TrackRef, TrackerConfig, TrackerId,
    TrackerKind, VipSpec, VirtualServerConfig, VirtualServerId,
};
use ha_failover::core::{GateEffect, MastershipGate};
use ha_failover::runtime::director::{
    DirectorConfig, HealthTarget, InstanceOptions, IpvsKernelSettings, IpvsOptions, Statics,
    SyncDaemonOptions,
};
use ha_failover::runtime::exec::User;
use ha_failover::vrrp::router::Config as RouterConfig;
use ha_failover::vrrp::wire::{Auth, Password};
use ha_failover::vrrp::{AdvertInterval, Centiseconds, Priority, Seconds, Version, VrId};
use ha_healthcheck::{
    Check as HcCheck, ClientCert, DnsCheck, DnsType, FileCheck, HttpCheck, HttpMethod,
    HttpProtocol, MaintenanceCheck, PingCheck, ScriptCheck, SmtpCheck, SocketOptions, StartState,
    StatusRange, TargetConfig, TcpCheck, TlsOptions, TlsVerify, UdpCheck, UdpReplyMatch,
    parse_keepalived_hex,
};
use ha_ipvs::model::{
    DaemonRole, Destination, Family as IpvsFamily, Forward, Persistence, Protocol as IpvsProtocol,
    SchedFlags, Scheduler, Service, ServiceKey, SyncDaemon, Timeouts, Tunnel, TunnelType,
};

use super::alert::{AlertPlan, MailSettings, VirtualServerAlerts, service_label};
use super::model::{
    Check, CheckKind, Config, Family, Garp, HttpProtocol as HttpProtocolModel, Instance, Method,
    Notify, ParamMatch as ParamMatchModel, Protocol, RealServer as RsModel, Smtp, SslClient,
    Step as StepModel, TrackFile, TrackProcess, UDP_DEFAULT_PAYLOAD, Vip, VirtualServer,
};
use super::model::{
    FlushOnStop, GroupEntry, TunnelChecksum, TunnelKind, TunnelOptions, VirtualServerGroup,
};

/// Why a configuration cannot be turned into a runtime configuration. Each names the
/// instance, virtual server, check or user concerned.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The primary address of an instance could not be found.
    #[error(
        "instance {instance:?}: no {family} address on interface {interface:?} to send adverts from ({detail}); set unicast_src_ip"
    )]
    PrimaryAddress {
        /// The instance.
        instance: String,
        /// Its interface.
        interface: String,
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// What the resolver said.
        detail: String,
    },
    /// An instance setting the runtime cannot take.
    #[error("instance {instance:?}: {detail}")]
    Instance {
        /// The instance.
        instance: String,
        /// What is wrong.
        detail: String,
    },
    /// The sans-io director refused the configuration (it names the item).
    #[error(transparent)]
    Director(#[from] DirectorConfigError),
    /// A virtual server setting the runtime cannot take.
    #[error("virtual server {name:?}: {detail}")]
    VirtualServer {
        /// The virtual server.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// A health check the runtime cannot run.
    #[error("virtual server {name:?}: real server {real_server}: {kind}: {detail}")]
    Check {
        /// The virtual server.
        name: String,
        /// The real server.
        real_server: String,
        /// The check kind (keepalived name).
        kind: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A tracking script setting the runtime cannot take.
    #[error("script {name:?}: {detail}")]
    Script {
        /// The script.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// `global.socket_group` does not exist.
    #[error("socket_group {group:?}: {detail}")]
    SocketGroup {
        /// The group as configured.
        group: String,
        /// What is wrong.
        detail: String,
    },
    /// The script user or group does not exist.
    #[error("script user {user:?}: {detail}")]
    User {
        /// The user (and group) as configured.
        user: String,
        /// What is wrong.
        detail: String,
    },
    /// A static address, route or rule (`global.static_*`) the runtime cannot take.
    #[error("static {detail}")]
    Static {
        /// What is wrong.
        detail: String,
    },
    /// The sync daemon's settings.
    #[error("sync daemon: {detail}")]
    SyncDaemon {
        /// What is wrong.
        detail: String,
    },
}

/// The result of [`build`].
#[derive(Debug, Clone)]
pub struct Built {
    /// What the runtime runs.
    pub config: DirectorConfig,
    /// Settings the runtime does not apply, and what happens instead (log them).
    pub notes: Vec<String>,
    /// Mail alerts (`global.smtp`), for the embedder to send from the director's events.
    pub alerts: Option<AlertPlan>,
    /// The group id of `global.socket_group`: its members may use the status and control
    /// sockets besides root and the director's own user.
    pub socket_group: Option<u32>,
}

/// Finds an instance's primary address: `(interface, want_ipv6)` to an address.
pub type Resolver<'a> = dyn FnMut(&str, bool) -> Result<IpAddr, String> + 'a;

/// Where the accounts are, for [`resolve_user`].
#[derive(Debug, Clone)]
pub struct Accounts {
    /// `/etc/passwd`'s text.
    pub passwd: String,
    /// `/etc/group`'s text.
    pub group: String,
}

impl Accounts {
    /// Reads `/etc/passwd` and `/etc/group` (a missing file reads as empty).
    pub fn system() -> Accounts {
        Accounts {
            passwd: std::fs::read_to_string("/etc/passwd").unwrap_or_default(),
            group: std::fs::read_to_string("/etc/group").unwrap_or_default(),
        }
    }
}

/// Resolves `user` (a name or a number) and optionally `group` to ids: the group defaults
/// to the user's primary group.
pub fn resolve_user(
    accounts: &Accounts,
    user: &str,
    group: Option<&str>,
) -> Result<User, BuildError> {
    let err = |detail: String| BuildError::User {
        user: match group {
            Some(g) => format!("{user}:{g}"),
            None => user.to_owned(),
        },
        detail,
    };
    let entry = accounts.passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && (f[0] == user || f[2] == user))
            .then(|| (f[2].parse::<u32>().ok(), f[3].parse::<u32>().ok()))
    });
    let (uid, primary_gid) = match entry {
        Some((Some(u), Some(g))) => (u, Some(g)),
        Some(_) => return Err(err("its /etc/passwd entry is malformed".into())),
        None => match user.parse::<u32>() {
            Ok(u) => (u, None),
            Err(_) => return Err(err("no such user in /etc/passwd".into())),
        },
    };
    let gid = match group {
        None => primary_gid.ok_or_else(|| err("a numeric user needs a group".into()))?,
        Some(g) => resolve_group(accounts, g).map_err(err)?,
    };
    Ok(User { uid, gid })
}

/// Resolves a group name (or number) to its id through `/etc/group`.
pub fn resolve_group(accounts: &Accounts, group: &str) -> Result<u32, String> {
    let found = accounts.group.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3 && f[0] == group).then(|| f[2].parse::<u32>().ok())
    });
    match found {
        Some(Some(gid)) => Ok(gid),
        Some(None) => Err(format!("group {group:?} has a malformed entry")),
        None => group
            .parse::<u32>()
            .map_err(|_| format!("no such group {group:?} in /etc/group")),
    }
}

/// The primary address of `interface` in a family, from `getifaddrs`, picked as
/// [`ha_failover::core::pick_primary_address`] does: for IPv6 a link-local address first (the
/// source RFC 9568 §5.1.2.1 wants), then any other.
pub fn interface_address(interface: &str, ipv6: bool) -> Result<IpAddr, String> {
    let all = crate::sys::interface_addresses(interface).map_err(|e| format!("getifaddrs: {e}"))?;
    ha_failover::core::pick_primary_address(&all, ipv6, &[])
        .ok_or_else(|| "the interface has no such address (or does not exist)".to_owned())
}

fn argv(command: &str) -> Vec<String> {
    command.split_whitespace().map(str::to_owned).collect()
}

fn notify_scripts(n: &Notify) -> NotifyScripts {
    let f = |c: &Option<String>| c.as_deref().map(argv);
    NotifyScripts {
        master: f(&n.master),
        backup: f(&n.backup),
        fault: f(&n.fault),
        stop: f(&n.stop),
        generic: f(&n.any),
    }
}

fn vip_spec(v: &Vip) -> VipSpec {
    let mut s = VipSpec::new(v.address, v.prefix);
    s.dev = v.dev.clone();
    s.label = v.label.clone();
    s.broadcast = v.broadcast;
    s
}

/// `sh -c SCRIPT NAME ARGS...`: a short script with its values as positional parameters
/// (never pasted into the script text).
fn shell(script: &str, name: &str, args: &[&str]) -> Vec<String> {
    ["/bin/sh", "-c", script, name]
        .iter()
        .chain(args)
        .map(|s| (*s).to_owned())
        .collect()
}

/// heartbeat's `Filesystem`: mounted is started; a busy unmount kills its users once.
fn filesystem_step(
    device: &str,
    directory: &str,
    fstype: &Option<String>,
    options: &Option<String>,
) -> StepKind {
    let mut mount: Vec<&str> = vec![directory, "mount"];
    if let Some(t) = fstype {
        mount.extend(["-t", t.as_str()]);
    }
    if let Some(o) = options {
        mount.extend(["-o", o.as_str()]);
    }
    mount.extend(["--", device, directory]);
    StepKind::Command {
        start: shell(
            r#"mountpoint -q -- "$1" && exit 0; mkdir -p -- "$1" || exit 1; shift; exec "$@""#,
            "ha-filesystem",
            &mount,
        ),
        stop: shell(
            r#"mountpoint -q -- "$1" || exit 0; umount -- "$1" && exit 0; fuser -km -- "$1" 2>/dev/null; sleep 1; umount -- "$1""#,
            "ha-filesystem",
            &[directory],
        ),
    }
}

/// heartbeat's `IPsrcaddr`: the default route's preferred source set, then removed.
fn source_address_step(address: IpAddr) -> StepKind {
    let a = address.to_string();
    let family = if address.is_ipv4() { "-4" } else { "-6" };
    // The default route as `ip route show` prints it, without its `src` and the flags
    // `ip route change` does not take.
    let route = r#"r=$(ip "$2" route show default | head -n 1); r=$(printf '%s' "$r" | sed -e 's/ src [^ ]*//' -e 's/ linkdown//' -e 's/ dead//')"#;
    StepKind::Command {
        start: shell(
            &format!(
                r#"{route}; [ -n "$r" ] || {{ echo "no default route to give source $1" >&2; exit 1; }}; ip "$2" route change $r src "$1""#
            ),
            "ha-srcaddr",
            &[&a, family],
        ),
        stop: shell(
            &format!(
                r#"cur=$(ip "$2" route show default | head -n 1); case "$cur" in *" src $1"*) ;; *) exit 0;; esac; {route}; ip "$2" route change $r"#
            ),
            "ha-srcaddr",
            &[&a, family],
        ),
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// Builds the runtime configuration; `resolve` finds an instance's primary address when
/// `unicast_src_ip` is not set (use [`interface_address`] on a real host), `accounts` resolve
/// `script_user`.
pub fn build(
    cfg: &Config,
    resolve: &mut Resolver<'_>,
    accounts: &Accounts,
) -> Result<Built, BuildError> {
    let mut notes = Vec::new();
    let mut b = DirectorBuilder::new();
    let mut options: HashMap<String, InstanceOptions> = HashMap::new();

    // Trackers, shared by name: interfaces and scripts.
    let mut if_trackers: HashMap<String, TrackerId> = HashMap::new();
    let mut script_trackers: HashMap<String, TrackerId> = HashMap::new();
    let mut more = MoreTrackers::default();
    let mut intervals: Vec<u64> = Vec::new();
    let mut timeouts: Vec<u64> = Vec::new();

    // Resource-group steps by instance, in configuration order.
    let mut steps: HashMap<&str, Vec<Step>> = HashMap::new();
    for r in &cfg.resource_groups {
        for (k, s) in r.steps.iter().enumerate() {
            let name = format!("{}#{}", r.name, k + 1);
            let (kind, timeout) = match s {
                StepModel::Script {
                    start,
                    stop,
                    timeout_ms,
                } => (
                    StepKind::Command {
                        start: argv(start),
                        stop: argv(stop),
                    },
                    *timeout_ms,
                ),
                StepModel::Service { name, timeout_ms } => {
                    (StepKind::Service(name.clone()), *timeout_ms)
                }
                // Added and announced by the runtime, as the VIPs are.
                StepModel::Address { address } => (StepKind::Address(vip_spec(address)), None),
                StepModel::Program {
                    path,
                    args,
                    timeout_ms,
                } => {
                    let with = |op: &str| {
                        std::iter::once(path.clone())
                            .chain(args.iter().cloned())
                            .chain(std::iter::once(op.to_owned()))
                            .collect()
                    };
                    (
                        StepKind::Command {
                            start: with("start"),
                            stop: with("stop"),
                        },
                        *timeout_ms,
                    )
                }
                StepModel::Filesystem {
                    device,
                    directory,
                    fstype,
                    options,
                    timeout_ms,
                } => (
                    filesystem_step(device, directory, fstype, options),
                    *timeout_ms,
                ),
                StepModel::Drbd {
                    resource,
                    timeout_ms,
                } => (
                    StepKind::Command {
                        start: vec!["drbdadm".into(), "primary".into(), resource.clone()],
                        stop: vec!["drbdadm".into(), "secondary".into(), resource.clone()],
                    },
                    *timeout_ms,
                ),
                StepModel::SourceAddress {
                    address,
                    timeout_ms,
                } => (source_address_step(*address), *timeout_ms),
                // The virtual server's own install gate (see `mastership_gate`).
                StepModel::VirtualServer { .. } => continue,
            };
            let mut step = Step::new(name, kind);
            step.timeout = timeout.map(ms);
            steps.entry(r.instance.as_str()).or_default().push(step);
        }
    }

    let mut ids: HashMap<&str, InstanceId> = HashMap::new();
    for inst in &cfg.instances {
        let mut c = instance(
            cfg,
            inst,
            resolve,
            &mut b,
            &mut if_trackers,
            &mut script_trackers,
            &mut intervals,
            &mut timeouts,
            &mut notes,
            steps.remove(inst.name.as_str()).unwrap_or_default(),
            &mut more,
        )?;
        if let Some(a) = &inst.auth {
            let p = Password::new(a.pass.as_bytes()).ok_or_else(|| BuildError::Instance {
                instance: inst.name.clone(),
                detail: "auth pass must be 1..=8 bytes (RFC 3768 §5.3.10)".into(),
            })?;
            c.auth = Auth::SimpleText(p);
        }
        c.fence = inst.fence.is_some();
        advert_paths(inst, &mut c, resolve)?;
        let id = b.add_instance(c)?;
        ids.insert(inst.name.as_str(), id);
        let o = InstanceOptions {
            vmac: inst.vmac.clone(),
            announce: (!inst.garp.is_default())
                .then(|| announce_config(&inst.garp.or(&cfg.global.garp))),
            unicast_ttl: inst.unicast_ttl,
            announce_lower_priority: announce_lower_priority(&inst.garp.or(&cfg.global.garp)),
            fence: inst.fence.as_ref().map(|f| {
                if f.argv.is_empty() {
                    argv(&f.command)
                } else {
                    f.argv.clone()
                }
            }),
            fence_timeout: inst.fence.as_ref().and_then(|f| f.timeout_ms).map(ms),
        };
        if let Some(t) = inst.unicast_ttl
            && let Some(other) = cfg.instances.iter().find(|o| {
                o.interface == inst.interface
                    && o.unicast_ttl.is_some_and(|u| u != t)
                    && o.vips.first().map(|v| v.address.is_ipv4())
                        == inst.vips.first().map(|v| v.address.is_ipv4())
            })
        {
            return Err(BuildError::Instance {
                instance: inst.name.clone(),
                detail: format!(
                    "unicast_ttl {t} differs from instance {:?}'s on the same interface (they share a socket)",
                    other.name
                ),
            });
        }
        options.insert(inst.name.clone(), o);
    }

    for g in &cfg.sync_groups {
        let members = g
            .instances
            .iter()
            .map(|n| {
                ids.get(n.as_str())
                    .copied()
                    .ok_or_else(|| BuildError::Instance {
                        instance: n.clone(),
                        detail: format!(
                            "sync group {:?} names an instance that does not exist",
                            g.name
                        ),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        b.add_sync_group(SyncGroupConfig {
            name: g.name.clone(),
            members,
            notify: notify_scripts(&g.notify),
        })?;
    }

    let mut health = Vec::new();
    for vs in &cfg.virtual_servers {
        let ctx = CheckContext {
            ssl: cfg.global.ssl.as_ref(),
            track_files: &cfg.track_files,
        };
        let (mut vcfg, targets) = virtual_server(vs, &ctx, &cfg.virtual_server_groups)?;
        vcfg.gate = mastership_gate(cfg, vs, &ids, &mut notes);
        vcfg.init_notifies = cfg.global.rs_init_notifies;
        let id = b.add_virtual_server(vcfg)?;
        for (index, target, log_all_failures) in targets {
            health.push(HealthTarget {
                server: id,
                index,
                target,
                log_all_failures,
            });
        }
    }
    // Kept by the health task for the whole run: without the doubling's spare room (1.7 MiB
    // for 1.0 MiB of targets at 10,000 real servers, heaptrack).
    health.shrink_to_fit();

    let mut dc = DirectorConfig::new(b);
    if let Some(cmd) = &cfg.global.service_command {
        dc.service_command = argv(cmd);
    }
    dc.instances = options;
    dc.announce = announce_config(&cfg.global.garp);
    dc.statics = statics(&cfg.global)?;
    dc.watchdog =
        cfg.global
            .watchdog
            .as_ref()
            .map(|w| ha_failover::runtime::config::WatchdogConfig {
                device: w.device.clone(),
                interval: ms(w.interval_ms),
                timeout_s: w.timeout_s,
            });
    dc.bgp = bgp_config(cfg);
    dc.announce_pacing = ha_arp::Pacing {
        arp_interval: ms(cfg.global.garp_interval_ms),
        na_interval: ms(cfg.global.gna_interval_ms),
    };
    dc.health = health;
    if let Some(&min) = intervals.iter().min() {
        if intervals.iter().any(|&i| i != min) {
            notes.push(format!(
                "track scripts: one interval for all: {min} ms (the smallest configured)"
            ));
        }
        dc.track_interval = ms(min);
    }
    if let Some(&max) = timeouts.iter().max() {
        dc.track_timeout = ms(max);
    }

    let sync_daemon = match &cfg.global.sync_daemon {
        None => None,
        Some(d) => {
            let inst = cfg
                .instances
                .iter()
                .find(|i| i.name == d.instance)
                .ok_or_else(|| BuildError::SyncDaemon {
                    detail: format!("unknown instance {:?}", d.instance),
                })?;
            let sync_id = d.id.unwrap_or(u32::from(inst.vrid));
            if sync_id > 255 {
                return Err(BuildError::SyncDaemon {
                    detail: format!("id {sync_id} is outside 0..=255"),
                });
            }
            let mut daemon = SyncDaemon::new(DaemonRole::Backup, &d.interface, sync_id);
            daemon.max_len = d.maxlen;
            daemon.mcast_port = d.port;
            daemon.mcast_ttl = d.ttl;
            daemon.mcast_group = d.group;
            Some(SyncDaemonOptions {
                instance: d.instance.clone(),
                daemon,
            })
        }
    };
    let g = &cfg.global;
    if g.ipvs_dry_run {
        notes.push(
            "ipvs_dry_run: the kernel's IPVS is left alone (IPVS operations are only logged, no sync daemon runs)"
                .into(),
        );
    } else if !cfg.virtual_servers.is_empty() || sync_daemon.is_some() {
        dc.ipvs = Some(IpvsOptions {
            // ldirectord `cleanstop = no`: leave the services in IPVS.
            remove_on_stop: g.lvs_flush_on_stop != Some(FlushOnStop::Keep),
            sync_daemon,
            flush_on_start: g.lvs_flush,
            flush_on_stop: g.lvs_flush_on_stop == Some(FlushOnStop::All),
            timeouts: g.lvs_timeouts.as_ref().map(|t| Timeouts {
                tcp: t.tcp_s.unwrap_or(0),
                tcp_fin: t.tcp_fin_s.unwrap_or(0),
                udp: t.udp_s.unwrap_or(0),
            }),
            kernel: IpvsKernelSettings {
                sloppy_tcp: g.lvs_sloppy_tcp,
                sloppy_sctp: g.lvs_sloppy_sctp,
                conn_reuse_mode: g.lvs_conn_reuse_mode,
            },
        });
    } else if g.lvs_flush
        || g.lvs_timeouts.is_some()
        || g.lvs_flush_on_stop.is_some()
        || g.lvs_sloppy_tcp.is_some()
        || g.lvs_sloppy_sctp.is_some()
        || g.lvs_conn_reuse_mode.is_some()
    {
        notes.push(
            "lvs_flush, lvs_flush_on_stop, the lvs_ sysctls and lvs_timeouts are not applied: no virtual server (keepalived applies them only with one either)"
                .into(),
        );
    }

    let socket_group = match &cfg.global.socket_group {
        None => None,
        Some(g) => Some(
            resolve_group(accounts, g).map_err(|detail| BuildError::SocketGroup {
                group: g.clone(),
                detail,
            })?,
        ),
    };
    if let Some(u) = &cfg.global.script_user {
        dc.script_user = Some(resolve_user(
            accounts,
            u,
            cfg.global.script_group.as_deref(),
        )?);
    } else if cfg.global.script_security {
        notes.push(
            "script_security is on but no script_user is set: scripts run as the daemon's user"
                .into(),
        );
    }
    for s in &cfg.scripts {
        if s.user.is_some()
            && (&s.user, &s.group) != (&cfg.global.script_user, &cfg.global.script_group)
        {
            return Err(BuildError::Script {
                name: s.name.clone(),
                detail:
                    "a per-script user is not supported: every script runs as global.script_user"
                        .into(),
            });
        }
    }
    let alerts = cfg.global.smtp.as_ref().map(|smtp| alert_plan(cfg, smtp));
    Ok(Built {
        config: dc,
        notes,
        alerts,
        socket_group,
    })
}

/// The announce schedule of a (merged) [`Garp`], with keepalived's defaults for what is not
/// set: 5 frames per address, a second burst after 5 s, no refresh (1 frame when set). A
/// repeat of 0 is 1, as keepalived makes it.
pub fn announce_config(g: &Garp) -> ha_arp::Config {
    let d = ha_arp::Config::default();
    ha_arp::Config {
        repeat: g.master_repeat.map_or(d.repeat, |r| r.max(1)),
        second_burst_delay: match g.master_delay_ms {
            None => d.second_burst_delay,
            Some(0) => None,
            Some(v) => Some(ms(v)),
        },
        refresh: g.master_refresh_ms.filter(|v| *v > 0).map(ms),
        refresh_repeat: g
            .master_refresh_repeat
            .map_or(d.refresh_repeat, |r| r.max(1)),
        ..d
    }
}

/// keepalived's `static_ipaddress`, `static_routes` and `static_rules`, checked as the runtime
/// reads them.
fn statics(g: &super::model::Global) -> Result<Statics, BuildError> {
    let err = |detail: String| BuildError::Static { detail };
    for a in &g.static_addresses {
        if a.dev.is_none() {
            return Err(err(format!("address {a}: a static address needs `dev`")));
        }
    }
    for r in &g.static_routes {
        ha_failover::runtime::route::RouteSpec::parse(r)
            .map_err(|e| err(format!("route {r:?}: {e}")))?;
    }
    for r in &g.static_rules {
        ha_failover::runtime::rule::RuleSpec::parse(r)
            .map_err(|e| err(format!("rule {r:?}: {e}")))?;
    }
    Ok(Statics {
        addresses: g.static_addresses.iter().map(vip_spec).collect(),
        routes: g.static_routes.clone(),
        rules: g.static_rules.clone(),
    })
}

/// What a master sends on hearing a lower-priority advert, with keepalived's defaults
/// (`garp_lower_prio_repeat` defaults to `garp_master_repeat`, `garp_lower_prio_delay` to
/// `garp_master_delay`); `None` when the repeat is 0.
pub fn announce_lower_priority(g: &Garp) -> Option<ha_arp::Config> {
    let master = announce_config(g);
    let repeat = g.lower_prio_repeat.unwrap_or(master.repeat);
    (repeat > 0).then(|| ha_arp::Config {
        repeat,
        second_burst_delay: match g.lower_prio_delay_ms {
            None => master.second_burst_delay,
            Some(0) => None,
            Some(v) => Some(ms(v)),
        },
        refresh: None,
        ..master
    })
}

#[allow(clippy::too_many_arguments)]
fn instance(
    cfg: &Config,
    inst: &Instance,
    resolve: &mut Resolver<'_>,
    b: &mut DirectorBuilder,
    if_trackers: &mut HashMap<String, TrackerId>,
    script_trackers: &mut HashMap<String, TrackerId>,
    intervals: &mut Vec<u64>,
    timeouts: &mut Vec<u64>,
    notes: &mut Vec<String>,
    steps: Vec<Step>,
    more: &mut MoreTrackers,
) -> Result<InstanceConfig, BuildError> {
    let bad = |detail: String| BuildError::Instance {
        instance: inst.name.clone(),
        detail,
    };
    let ipv6 = inst
        .vips
        .first()
        .map(|v| v.address.is_ipv6())
        .or(inst.unicast_src_ip.map(|a| a.is_ipv6()))
        .unwrap_or(false);
    let primary = match inst.unicast_src_ip {
        Some(a) => a,
        None => resolve(&inst.interface, ipv6).map_err(|detail| BuildError::PrimaryAddress {
            instance: inst.name.clone(),
            interface: inst.interface.clone(),
            family: if ipv6 { "IPv6" } else { "IPv4" },
            detail,
        })?,
    };
    let (version, interval) = match inst.version {
        2 => {
            let s = u8::try_from(inst.advert_int_ms / 1000)
                .ok()
                .filter(|s| *s > 0 && inst.advert_int_ms.is_multiple_of(1000))
                .ok_or_else(|| {
                    bad(format!(
                        "VRRPv2 advert interval {} ms is not 1..=255 whole seconds",
                        inst.advert_int_ms
                    ))
                })?;
            (Version::V2, AdvertInterval::V2(Seconds(s)))
        }
        3 => {
            let cs = u16::try_from(inst.advert_int_ms / 10)
                .ok()
                .and_then(Centiseconds::new)
                .filter(|c| c.get() > 0 && inst.advert_int_ms.is_multiple_of(10))
                .ok_or_else(|| {
                    bad(format!(
                        "VRRPv3 advert interval {} ms is not 10..=40950 ms in centiseconds",
                        inst.advert_int_ms
                    ))
                })?;
            (Version::V3, AdvertInterval::V3(cs))
        }
        v => return Err(bad(format!("VRRP version {v} is not 2 or 3"))),
    };
    let vrid = u8::try_from(inst.vrid)
        .ok()
        .and_then(VrId::new)
        .ok_or_else(|| bad(format!("vrid {} is outside 1..=255", inst.vrid)))?;
    let priority = u8::try_from(inst.priority)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| bad(format!("priority {} is outside 1..=255", inst.priority)))?;
    let mut r = RouterConfig::new(version, vrid, primary);
    r.priority = Priority(priority);
    r.address_owner = priority == 255;
    r.advert_interval = interval;
    r.preempt = !inst.nopreempt;
    r.preempt_delay = ms(inst.preempt_delay_ms);
    // heartbeat's deadtime, initdead and warntime (validated: longer than the interval).
    r.dead_interval = inst.dead_interval_ms.map(Duration::from_millis);
    r.initial_dead_interval = inst.init_dead_ms.map(Duration::from_millis);
    r.warn_interval = inst.warn_interval_ms.map(Duration::from_millis);
    if let Some(dead) = inst.dead_interval_ms
        && dead < 2 * u64::from(inst.advert_int_ms)
    {
        notes.push(format!(
            "instance {:?}: dead_interval_ms {dead} is less than twice advert_int_ms {}: one lost advert makes the backup take over",
            inst.name, inst.advert_int_ms
        ));
    }
    r.peers = inst.unicast_peers.clone();
    r.startup_delay = ms(cfg.global.startup_delay_ms);
    r.multicast_group = inst.mcast_group.or(match primary {
        IpAddr::V4(_) => cfg.global.mcast_group4.map(IpAddr::V4),
        IpAddr::V6(_) => cfg.global.mcast_group6.map(IpAddr::V6),
    });
    if inst.lower_prio_no_advert {
        r.lower_priority = ha_failover::vrrp::router::LowerPriorityPolicy::Discard;
    }
    r.higher_priority_advert = inst.higher_prio_send_advert;
    if inst.state == super::model::InitialState::Master && priority != 255 {
        notes.push(format!(
            "instance {:?}: state MASTER below priority 255: it starts as backup and becomes master when no better master is heard within the master-down interval, as keepalived 2.2.7 does",
            inst.name
        ));
    }
    let mut c = InstanceConfig::new(inst.name.clone(), inst.interface.clone(), r);
    c.vips = inst.vips.iter().map(vip_spec).collect();
    c.excluded_vips = inst.excluded_vips.iter().map(vip_spec).collect();
    c.notify = notify_scripts(&inst.notify);
    c.steps = steps;
    for text in &inst.virtual_routes {
        ha_failover::runtime::route::RouteSpec::parse(text)
            .map_err(|e| bad(format!("virtual route {text:?}: {e}")))?;
    }
    c.routes = inst.virtual_routes.clone();
    for text in &inst.virtual_rules {
        ha_failover::runtime::rule::RuleSpec::parse(text)
            .map_err(|e| bad(format!("virtual rule {text:?}: {e}")))?;
    }
    c.rules = inst.virtual_rules.clone();
    for t in &inst.unicast_peer_ttl {
        if !inst.unicast_peers.contains(&t.peer) || t.min_ttl > t.max_ttl {
            return Err(bad(format!(
                "unicast_peer_ttl for {}: not one of unicast_peers, or min_ttl above max_ttl",
                t.peer
            )));
        }
        c.peer_ttl.push((t.peer, t.min_ttl, t.max_ttl));
    }
    c.dont_track_primary = inst.dont_track_primary;
    c.track = tracking(
        cfg,
        inst,
        priority,
        b,
        if_trackers,
        script_trackers,
        more,
        intervals,
        timeouts,
        notes,
    )?;
    Ok(c)
}

/// An instance's advert key and extra advert paths: each path sends from its interface's
/// address of the instance's family (the resolver's); a unicast peer that is one of this
/// host's addresses (the instance's source or a path's) is skipped, on the instance's own
/// interface too and with no extra path, since one shared heartbeat `ha.cf` lists both
/// nodes' `ucast` lines.
fn advert_paths(
    inst: &Instance,
    c: &mut InstanceConfig,
    resolve: &mut Resolver<'_>,
) -> Result<(), BuildError> {
    use ha_failover::core::AdvertPath;
    use ha_failover::vrrp::wire::auth::{AdvertKey, MacAlgorithm};
    if let Some(a) = &inst.advert_auth {
        let algorithm = match a.algorithm {
            super::model::AuthAlgorithm::Md5 => MacAlgorithm::HmacMd5,
            super::model::AuthAlgorithm::Sha1 => MacAlgorithm::HmacSha1,
            super::model::AuthAlgorithm::Sha256 => MacAlgorithm::HmacSha256,
        };
        c.advert_key = Some(AdvertKey::new(algorithm, a.key_id, a.key.as_bytes()));
    }
    let primary = c.router.primary_address;
    let mut own = vec![primary];
    for p in &inst.paths {
        let source = resolve(&p.interface, primary.is_ipv6()).map_err(|detail| {
            BuildError::PrimaryAddress {
                instance: inst.name.clone(),
                interface: p.interface.clone(),
                family: if primary.is_ipv6() { "IPv6" } else { "IPv4" },
                detail,
            }
        })?;
        own.push(source);
        c.paths.push(AdvertPath {
            interface: p.interface.clone(),
            source,
            peers: p.unicast_peers.clone(),
            multicast_group: p.mcast_group,
        });
    }
    {
        let skip = |peers: &mut Vec<IpAddr>, interface: &str| {
            let had = !peers.is_empty();
            peers.retain(|a| !own.contains(a));
            if had && peers.is_empty() {
                return Err(BuildError::Instance {
                    instance: inst.name.clone(),
                    detail: format!(
                        "every unicast peer on {interface} is this host's own address: no peer left"
                    ),
                });
            }
            Ok(())
        };
        skip(&mut c.router.peers, &inst.interface)?;
        for p in &mut c.paths {
            skip(&mut p.peers, &p.interface)?;
        }
    }
    Ok(())
}

/// Trackers shared by name between instances, beside interfaces and scripts.
#[derive(Default)]
struct MoreTrackers {
    files: HashMap<String, TrackerId>,
    processes: HashMap<String, TrackerId>,
    pings: HashMap<String, TrackerId>,
}

/// An instance's tracker references: its own `track_*` and its sync group's, with
/// keepalived's weight rules.
#[allow(clippy::too_many_arguments)]
fn tracking(
    cfg: &Config,
    inst: &Instance,
    priority: u8,
    b: &mut DirectorBuilder,
    if_trackers: &mut HashMap<String, TrackerId>,
    script_trackers: &mut HashMap<String, TrackerId>,
    more: &mut MoreTrackers,
    intervals: &mut Vec<u64>,
    timeouts: &mut Vec<u64>,
    notes: &mut Vec<String>,
) -> Result<Vec<TrackRef>, BuildError> {
    let bad = |detail: String| BuildError::Instance {
        instance: inst.name.clone(),
        detail,
    };
    let mut track = Vec::new();
    let tref = |id: TrackerId, weight: i32, reverse: bool| {
        let r = TrackRef::new(id, weight);
        if reverse { r.reversed() } else { r }
    };
    let mut if_tracker = |b: &mut DirectorBuilder, name: &str| {
        *if_trackers.entry(name.to_owned()).or_insert_with(|| {
            b.add_tracker(TrackerConfig::new(
                format!("interface {name}"),
                TrackerKind::Interface {
                    ifname: name.to_owned(),
                },
            ))
        })
    };
    let mut script_tracker = |b: &mut DirectorBuilder, name: &str| {
        let s = cfg
            .scripts
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| bad(format!("tracks script {name:?}, which is not defined")))?;
        let id = match script_trackers.get(&s.name) {
            Some(id) => *id,
            None => {
                let mut tc = TrackerConfig::new(
                    s.name.clone(),
                    TrackerKind::Script {
                        argv: argv(&s.command),
                    },
                );
                tc.rise = s.rise.max(1);
                tc.fall = s.fall.max(1);
                tc.init_fail = s.init_fail;
                intervals.push(s.interval_ms);
                timeouts.push(s.timeout_ms.unwrap_or(s.interval_ms));
                let id = b.add_tracker(tc);
                script_trackers.insert(s.name.clone(), id);
                id
            }
        };
        Ok::<_, BuildError>((id, s))
    };
    let file_tracker =
        |b: &mut DirectorBuilder, files: &mut HashMap<String, TrackerId>, name: &str| {
            let f = cfg
                .track_files
                .iter()
                .find(|f| f.name == name)
                .ok_or_else(|| bad(format!("tracks file {name:?}, which is not defined")))?;
            let id = *files.entry(f.name.clone()).or_insert_with(|| {
                b.add_tracker(TrackerConfig::new(
                    format!("file {}", f.name),
                    TrackerKind::File {
                        path: f.path.clone(),
                    },
                ))
            });
            Ok::<_, BuildError>((id, f))
        };
    let process_tracker =
        |b: &mut DirectorBuilder, procs: &mut HashMap<String, TrackerId>, name: &str| {
            let p = cfg
                .track_processes
                .iter()
                .find(|p| p.name == name)
                .ok_or_else(|| bad(format!("tracks process {name:?}, which is not defined")))?;
            let id = *procs.entry(p.name.clone()).or_insert_with(|| {
                b.add_tracker(TrackerConfig::new(
                    format!("process {}", p.name),
                    TrackerKind::Process(process_spec(p)),
                ))
            });
            Ok::<_, BuildError>((id, p))
        };

    // keepalived's rule (`vrrp_complete_instance`): a member of a sync group without
    // `sync_group_tracking_weight` runs no floating priority, so a weighted tracked interface
    // only faults it (weight 0), a weighted tracked script is not tracked, a tracked file with
    // weight 1 (the default) is read as weight 0 and one with another weight is not tracked;
    // the address owner ignores weighted tracking altogether (interfaces untracked, files as
    // in a group). Tracked processes keep their weights (keepalived 2.2.7 leaves them; the
    // owner's priority never moves anyway). Each is a note, as keepalived warns.
    let group = cfg
        .sync_groups
        .iter()
        .find(|g| g.instances.contains(&inst.name));
    let no_weights = match group {
        Some(g) if !g.tracking_weight => Some(format!(
            "sync group {:?} (set sync_group_tracking_weight to keep them)",
            g.name
        )),
        _ if priority == 255 => Some("the address owner (priority 255)".to_owned()),
        _ => None,
    };
    let in_sync_rule = group.is_some_and(|g| !g.tracking_weight);
    for t in &inst.track_interfaces {
        if t.name == inst.interface {
            // keepalived: the own interface is tracked anyway (or, with dont_track_primary,
            // deliberately not).
            notes.push(format!(
                "instance {:?}: track_interface {} ignored: it is the instance's own interface, as keepalived does",
                inst.name, t.name
            ));
            continue;
        }
        let mut weight = t.weight;
        if let Some(why) = &no_weights
            && weight != 0
        {
            if !in_sync_rule {
                notes.push(format!(
                    "instance {:?}: tracked interface {} with weight {weight} not tracked: {why}, as keepalived does",
                    inst.name, t.name
                ));
                continue;
            }
            notes.push(format!(
                "instance {:?}: tracked interface {}: weight {weight} ignored (a fault when down): {why}, as keepalived does",
                inst.name, t.name
            ));
            weight = 0;
        }
        let id = if_tracker(b, &t.name);
        add_ref(
            &mut track,
            notes,
            b.trackers(),
            &inst.name,
            tref(id, weight, t.reverse),
            false,
        );
    }
    for t in &inst.track_scripts {
        let (id, s) = script_tracker(b, &t.name)?;
        let weight = t.weight.unwrap_or(s.weight);
        if let Some(why) = &no_weights
            && weight != 0
        {
            notes.push(format!(
                "instance {:?}: tracked script {:?} with weight {weight} not tracked: {why}, as keepalived does",
                inst.name, s.name
            ));
            continue;
        }
        let r = tref(id, weight, t.reverse.unwrap_or(s.reverse));
        add_ref(&mut track, notes, b.trackers(), &inst.name, r, false);
    }
    for t in &inst.track_files {
        let (id, f) = file_tracker(b, &mut more.files, &t.name)?;
        let mut weight = t.weight.unwrap_or(f.weight);
        if let Some(why) = &no_weights {
            if weight == 1 {
                notes.push(format!(
                    "instance {:?}: tracked file {:?}: weight 1 read as 0 (a non-zero value is a fault): {why}, as keepalived does",
                    inst.name, f.name
                ));
                weight = 0;
            } else if weight != 0 {
                notes.push(format!(
                    "instance {:?}: tracked file {:?} with weight {weight} not tracked: {why}, as keepalived does",
                    inst.name, f.name
                ));
                continue;
            }
        }
        let r = tref(id, weight, t.reverse.unwrap_or(f.reverse));
        add_ref(&mut track, notes, b.trackers(), &inst.name, r, false);
    }
    for t in &inst.track_processes {
        let (id, p) = process_tracker(b, &mut more.processes, &t.name)?;
        let r = tref(
            id,
            t.weight.unwrap_or(p.weight),
            t.reverse.unwrap_or(p.reverse),
        );
        add_ref(&mut track, notes, b.trackers(), &inst.name, r, false);
    }
    // Ping trackers (heartbeat `ping` / `ping_group`): their weights apply as processes'
    // do (the runtime says up while an address answered within `dead_ms`).
    for t in &inst.track_pings {
        let p = cfg
            .track_pings
            .iter()
            .find(|p| p.name == t.name)
            .ok_or_else(|| bad(format!("tracks ping {:?}, which is not defined", t.name)))?;
        let id = *more.pings.entry(p.name.clone()).or_insert_with(|| {
            b.add_tracker(TrackerConfig::new(
                format!("ping {}", p.name),
                TrackerKind::Ping {
                    addresses: p.addresses.clone(),
                    interval: ms(p.interval_ms),
                    dead: ms(p.dead_ms()),
                },
            ))
        });
        let r = tref(id, t.weight.unwrap_or(p.weight), t.reverse.unwrap_or(false));
        add_ref(&mut track, notes, b.trackers(), &inst.name, r, false);
    }

    // The sync group's own tracking (keepalived `sync_group_tracking_init`): every member
    // tracks it with its weights, whatever `sync_group_tracking_weight` says; a member with
    // priority 255 makes every weight 0.
    if let Some(g) = group {
        let owner_member = g.instances.iter().any(|m| {
            cfg.instances
                .iter()
                .any(|i| &i.name == m && i.priority == 255)
        });
        // Only the first member reports a weight cleared for the owner.
        let first = g.instances.first() == Some(&inst.name);
        let weight = |notes: &mut Vec<String>, what: String, w: i32| {
            if owner_member && w != 0 {
                if first {
                    notes.push(format!(
                        "sync group {:?}: {what}: weight {w} read as 0 (a member has priority 255), as keepalived does",
                        g.name
                    ));
                }
                0
            } else {
                w
            }
        };
        for t in &g.track_interfaces {
            // The member's own interface: it faults on it already, unless dont_track_primary
            // (keepalived then takes the group's weight for it).
            if t.name == inst.interface && !inst.dont_track_primary {
                continue;
            }
            let id = if_tracker(b, &t.name);
            let w = weight(notes, format!("tracked interface {}", t.name), t.weight);
            add_ref(
                &mut track,
                notes,
                b.trackers(),
                &inst.name,
                tref(id, w, t.reverse),
                true,
            );
        }
        for t in &g.track_scripts {
            let (id, s) = script_tracker(b, &t.name)?;
            let w = weight(
                notes,
                format!("tracked script {}", s.name),
                t.weight.unwrap_or(s.weight),
            );
            let r = tref(id, w, t.reverse.unwrap_or(s.reverse));
            add_ref(&mut track, notes, b.trackers(), &inst.name, r, true);
        }
        for t in &g.track_files {
            let (id, f) = file_tracker(b, &mut more.files, &t.name)?;
            let w = weight(
                notes,
                format!("tracked file {}", f.name),
                t.weight.unwrap_or(f.weight),
            );
            let r = tref(id, w, t.reverse.unwrap_or(f.reverse));
            add_ref(&mut track, notes, b.trackers(), &inst.name, r, true);
        }
        for t in &g.track_processes {
            let (id, p) = process_tracker(b, &mut more.processes, &t.name)?;
            let w = weight(
                notes,
                format!("tracked process {}", p.name),
                t.weight.unwrap_or(p.weight),
            );
            let r = tref(id, w, t.reverse.unwrap_or(p.reverse));
            add_ref(&mut track, notes, b.trackers(), &inst.name, r, true);
        }
    }
    Ok(track)
}

/// Adds a tracker reference as keepalived does: a second reference to one tracker from the
/// instance itself is ignored; one from the sync group replaces the instance's weight unless
/// the instance's is 0 (keepalived: "configured on VRRP instance and sync group"). Each is a
/// note.
fn add_ref(
    track: &mut Vec<TrackRef>,
    notes: &mut Vec<String>,
    trackers: &[TrackerConfig],
    instance: &str,
    r: TrackRef,
    from_group: bool,
) {
    let name = trackers
        .get(r.tracker.0 as usize)
        .map_or("?", |t| t.name.as_str());
    let Some(old) = track.iter_mut().find(|t| t.tracker == r.tracker) else {
        track.push(r);
        return;
    };
    if !from_group {
        notes.push(format!(
            "instance {instance:?}: {name} referenced twice: the second is ignored, as keepalived does"
        ));
    } else {
        notes.push(format!(
            "instance {instance:?}: {name} is tracked by the instance and its sync group: {}, as keepalived does",
            if old.weight != 0 {
                "the group's weight applies"
            } else {
                "the instance's weight 0 applies"
            }
        ));
        if old.weight != 0 {
            *old = r;
        }
    }
}

/// The core's process matcher for a tracked process.
fn process_spec(p: &TrackProcess) -> ProcessSpec {
    let mut spec = ProcessSpec::new(p.process.clone());
    spec.params = p.params.clone();
    spec.param_match = p.param_match.map(|m| match m {
        ParamMatchModel::Exact => ParamMatch::Exact,
        ParamMatchModel::Partial => ParamMatch::Partial,
        ParamMatchModel::Initial => ParamMatch::Initial,
    });
    spec.full_command = p.full_command;
    spec.quorum = p.quorum;
    spec.quorum_max = p.quorum_max.unwrap_or(u32::MAX);
    spec.fork_delay = ms(p.fork_delay_ms);
    spec.terminate_delay = ms(p.terminate_delay_ms);
    spec
}

/// keepalived `init_file`: creates each tracked file that has `init` and does not exist, or
/// (with `overwrite`, not on a reload) writes it anyway. Returns what could not be done, to
/// log (keepalived reports these and goes on).
pub fn init_track_files(cfg: &Config, reload: bool) -> Vec<String> {
    let mut problems = Vec::new();
    for f in &cfg.track_files {
        let Some(init) = &f.init else { continue };
        let path = std::path::Path::new(&f.path);
        match std::fs::metadata(path) {
            Ok(_) if !init.overwrite || reload => continue,
            Ok(m) if !m.is_file() => {
                problems.push(format!(
                    "track file {:?}: {} is not a regular file: not initialised",
                    f.name, f.path
                ));
                continue;
            }
            _ => {}
        }
        if let Err(e) = std::fs::write(path, format!("{}\n", init.value)) {
            problems.push(format!(
                "track file {:?}: cannot write {}: {e}",
                f.name, f.path
            ));
        }
    }
    problems
}

fn rs_name(rs: &RsModel) -> String {
    match rs.port {
        Some(p) => SocketAddr::new(rs.address, p).to_string(),
        None => rs.address.to_string(),
    }
}

/// A health target of a virtual server's real server: its index, the target and
/// `log_all_failures`.
type RsTarget = (usize, TargetConfig, bool);

/// What checks need from the rest of the configuration.
struct CheckContext<'a> {
    /// The client side of SSL checks.
    ssl: Option<&'a SslClient>,
    /// The tracked files FILE_CHECKs read.
    track_files: &'a [TrackFile],
}

/// The IPVS service keys of a virtual server group's entries, in order (a range gives one
/// per address); a fwmark without family takes the group's (IPv4 when it has no address).
fn group_keys(group: &VirtualServerGroup, protocol: IpvsProtocol) -> Vec<ServiceKey> {
    let v6 = group.entries.iter().any(|e| match e {
        GroupEntry::Range { first, .. } => first.is_ipv6(),
        GroupEntry::Fwmark { family, .. } => *family == Some(Family::Inet6),
    });
    let mut keys = Vec::new();
    for e in &group.entries {
        match e {
            GroupEntry::Range { port, .. } => {
                keys.extend(e.addresses().into_iter().map(|a| ServiceKey::Inet {
                    protocol,
                    addr: SocketAddr::new(a, *port),
                }))
            }
            GroupEntry::Fwmark { mark, family } => keys.push(ServiceKey::Fwmark {
                mark: *mark,
                family: match family.unwrap_or(if v6 { Family::Inet6 } else { Family::Inet }) {
                    Family::Inet => IpvsFamily::Inet,
                    Family::Inet6 => IpvsFamily::Inet6,
                },
            }),
        }
    }
    keys
}

/// The [`MastershipGate`] of a virtual server: [`GateEffect::Install`] when a resource group
/// has a `virtual_server` step naming it (the service is in IPVS only while that group's
/// instance is master), otherwise [`GateEffect::SuspendChecks`] for keepalived's `ha_suspend`
/// (its checks are suspended while no instance carrying one of its addresses as a VIP is
/// master: keepalived watches the host's addresses, which those instances add and remove).
fn mastership_gate(
    cfg: &Config,
    vs: &VirtualServer,
    ids: &HashMap<&str, InstanceId>,
    notes: &mut Vec<String>,
) -> Option<MastershipGate> {
    let owners: Vec<InstanceId> = cfg
        .resource_groups
        .iter()
        .filter(|r| {
            r.steps
                .iter()
                .any(|s| matches!(s, StepModel::VirtualServer { name } if *name == vs.name))
        })
        .filter_map(|r| ids.get(r.instance.as_str()).copied())
        .collect();
    if !owners.is_empty() {
        if vs.ha_suspend {
            notes.push(format!(
                "virtual server {:?}: ha_suspend has no effect: a resource group installs it only while its instance is master",
                vs.name
            ));
        }
        return Some(MastershipGate {
            instances: owners,
            effect: GateEffect::Install,
        });
    }
    if !vs.ha_suspend {
        return None;
    }
    if vs.fwmark.is_some() {
        notes.push(format!(
            "virtual server {:?}: ha_suspend ignored: a fwmark service has no address (keepalived clears it too)",
            vs.name
        ));
        return None;
    }
    let addresses: Vec<IpAddr> = match &vs.group {
        Some(g) => cfg
            .virtual_server_groups
            .iter()
            .filter(|x| x.name == *g)
            .flat_map(|x| x.entries.iter().flat_map(GroupEntry::addresses))
            .collect(),
        None => vs.address.into_iter().collect(),
    };
    let carriers: Vec<InstanceId> = cfg
        .instances
        .iter()
        .filter(|i| {
            i.vips
                .iter()
                .chain(&i.excluded_vips)
                .any(|v| addresses.contains(&v.address))
        })
        .filter_map(|i| ids.get(i.name.as_str()).copied())
        .collect();
    if carriers.is_empty() {
        notes.push(format!(
            "virtual server {:?}: ha_suspend: no VRRP instance carries its address, so its checks always run (keepalived would follow the address on the host)",
            vs.name
        ));
        return None;
    }
    Some(MastershipGate {
        instances: carriers,
        effect: GateEffect::SuspendChecks,
    })
}

/// The kernel's tunnel settings of the model's.
fn tunnel(t: TunnelOptions) -> Tunnel {
    Tunnel {
        kind: match t.kind {
            TunnelKind::Ipip => TunnelType::Ipip,
            TunnelKind::Gue => TunnelType::Gue,
            TunnelKind::Gre => TunnelType::Gre,
        },
        port: t.port.unwrap_or(0),
        csum: t.checksum == Some(TunnelChecksum::Csum),
        remcsum: t.checksum == Some(TunnelChecksum::Remcsum),
    }
}

/// The scheduler flags of a virtual server as the kernel takes them.
fn sched_flags(vs: &VirtualServer) -> SchedFlags {
    let mut f = SchedFlags::default();
    for flag in &vs.sched_flags {
        match flag.number() {
            1 => f.fallback = true,
            2 => f.port = true,
            _ => f.flag3 = true,
        }
    }
    f
}

fn virtual_server(
    vs: &VirtualServer,
    ctx: &CheckContext<'_>,
    groups: &[VirtualServerGroup],
) -> Result<(VirtualServerConfig, Vec<RsTarget>), BuildError> {
    let bad = |detail: String| BuildError::VirtualServer {
        name: vs.name.clone(),
        detail,
    };
    let protocol = match vs.protocol {
        Protocol::Tcp => IpvsProtocol::Tcp,
        Protocol::Udp => IpvsProtocol::Udp,
        Protocol::Sctp => IpvsProtocol::Sctp,
    };
    let mut more_keys = Vec::new();
    let key = match (vs.address, vs.port, vs.fwmark) {
        (None, None, None) if vs.group.is_some() => {
            let name = vs.group.as_deref().unwrap_or_default();
            let group = groups
                .iter()
                .find(|g| g.name == name)
                .ok_or_else(|| bad(format!("virtual server group {name:?} is not defined")))?;
            let mut keys = group_keys(group, protocol).into_iter();
            let first = keys
                .next()
                .ok_or_else(|| bad(format!("virtual server group {name:?} has no entries")))?;
            more_keys = keys.collect();
            first
        }
        (Some(a), Some(p), None) => ServiceKey::Inet {
            protocol,
            addr: SocketAddr::new(a, p),
        },
        (None, None, Some(mark)) => ServiceKey::Fwmark {
            mark,
            family: match vs.family.unwrap_or_default() {
                Family::Inet => IpvsFamily::Inet,
                Family::Inet6 => IpvsFamily::Inet6,
            },
        },
        _ => return Err(bad("give either address and port, fwmark, or group".into())),
    };
    let v6 = key.family() == IpvsFamily::Inet6;
    let mut service = Service::new(key, Scheduler::from_name(&vs.scheduler));
    service.sched_flags = sched_flags(vs);
    service.one_packet = vs.ops;
    if let Some(timeout) = vs.persistence_timeout_s {
        let netmask = match vs.persistence_granularity {
            None => {
                if v6 {
                    128
                } else {
                    32
                }
            }
            Some(IpAddr::V4(m)) if !v6 => {
                let bits = u32::from(m);
                if bits.leading_ones() + bits.trailing_zeros() != 32 {
                    return Err(bad(format!("persistence_granularity {m} is not a netmask")));
                }
                bits.leading_ones() as u8
            }
            Some(IpAddr::V6(m)) if v6 => {
                let bits = u128::from(m);
                if bits.leading_ones() + bits.trailing_zeros() != 128 || bits == 0 {
                    return Err(bad(format!("persistence_granularity {m} is not a netmask")));
                }
                bits.leading_ones() as u8
            }
            Some(other) => {
                return Err(bad(format!(
                    "persistence_granularity {other} is not a netmask of the service's family"
                )));
            }
        };
        service.persistence = Some(Persistence { timeout, netmask });
    }
    // A server without its own method takes the virtual server's, tunnel options included
    // (keepalived's defaults).
    let forward_of = |m: Option<Method>, t: Option<TunnelOptions>| {
        let (m, t) = match m {
            Some(m) => (m, t),
            None => (vs.method, vs.tunnel),
        };
        match m {
            Method::Dr => Forward::Route,
            Method::Nat => Forward::Masq,
            Method::Tun => Forward::Tunnel(tunnel(t.unwrap_or_default())),
        }
    };
    service.pe_name = vs.persistence_engine.clone();
    let port_of = |p: Option<u16>| p.or(vs.port).unwrap_or(0);
    let real_servers: Vec<RealServer> = vs
        .real_servers
        .iter()
        .map(|rs| RealServer {
            destination: {
                let mut d = Destination::new(
                    SocketAddr::new(rs.address, port_of(rs.port)),
                    forward_of(rs.method, rs.tunnel),
                    rs.weight,
                );
                d.upper_threshold = rs.upper_threshold.unwrap_or(0);
                d.lower_threshold = rs.lower_threshold.unwrap_or(0);
                d
            },
            inhibit_on_failure: rs.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure),
            notify_up: rs.notify_up.as_deref().map(argv),
            notify_down: rs.notify_down.as_deref().map(argv),
            alive_on_start: rs.alpha.map(|a| !a),
        })
        .collect();
    let mut c = VirtualServerConfig::new(vs.name.clone(), service, real_servers);
    c.sorry_server = vs.sorry_server.as_ref().map(|s| {
        Destination::new(
            SocketAddr::new(s.address, port_of(s.port)),
            forward_of(s.method, s.tunnel),
            1,
        )
    });
    c.sorry_inhibit = vs.sorry_server.as_ref().is_some_and(|s| s.inhibit);
    c.quorum = vs.quorum;
    c.hysteresis = vs.hysteresis;
    c.alive_on_start = !vs.alpha;
    c.quorum_up = vs.quorum_up.as_deref().map(argv);
    c.quorum_down = vs.quorum_down.as_deref().map(argv);
    c.omega = vs.omega;
    c.group_keys = more_keys;

    let mut targets = Vec::new();
    for (index, rs) in vs.real_servers.iter().enumerate() {
        for ch in &rs.checks {
            for t in check_targets(vs, rs, ch, ctx)? {
                targets.push((index, t, ch.log_all_failures));
            }
        }
    }
    Ok((c, targets))
}

/// The health targets of one check (one per URL for HTTP/SSL).
fn check_targets(
    vs: &VirtualServer,
    rs: &RsModel,
    ch: &Check,
    ctx: &CheckContext<'_>,
) -> Result<Vec<TargetConfig>, BuildError> {
    let ssl = ctx.ssl;
    let kind = ch.kind.keepalived_name();
    let bad = |detail: String| BuildError::Check {
        name: vs.name.clone(),
        real_server: rs_name(rs),
        kind,
        detail,
    };
    let ip = ch.connect_ip.unwrap_or(rs.address);
    let default_port = match ch.kind {
        CheckKind::Dns => Some(53),
        CheckKind::Smtp => Some(25),
        _ => None,
    };
    let port = ch
        .connect_port
        .or(rs.port)
        .or(vs.port)
        .filter(|p| *p != 0)
        .or(default_port);
    let addr = |port: Option<u16>| {
        port.map(|p| SocketAddr::new(ip, p))
            .ok_or_else(|| bad("no port to connect to: set connect_port".into()))
    };
    let socket = SocketOptions {
        bind_addr: ch.bind_ip,
        bind_port: ch.bind_port,
        interface: ch.bind_if.clone(),
        fwmark: ch.fwmark,
        ..SocketOptions::default()
    };
    let checks: Vec<HcCheck> = match ch.kind {
        CheckKind::Tcp => {
            let mut t = TcpCheck::new(addr(port)?);
            t.socket = socket;
            // ldirectord's simpletcp: send, shut the write side, a line must match.
            if let Some(s) = &ch.tcp_send {
                t.send = Some(s.clone().into_bytes());
                t.shutdown_write = true;
            }
            t.expect_line_regex = ch.tcp_expect.clone();
            vec![HcCheck::Tcp(t)]
        }
        CheckKind::Http | CheckKind::Ssl => {
            if ch.urls.is_empty() {
                return Err(bad("needs at least one url".into()));
            }
            let a = addr(port)?;
            ch.urls
                .iter()
                .map(|u| {
                    let mut h = HttpCheck::new(a, u.path.clone());
                    if ch.http_method == Some(super::model::HttpMethod::Head) {
                        h.method = HttpMethod::Head;
                    }
                    // keepalived's order: the URL's, the check's, the real server's, the
                    // virtual server's virtualhost.
                    h.host = u
                        .virtualhost
                        .clone()
                        .or(ch.virtualhost.clone())
                        .or(rs.virtualhost.clone())
                        .or(vs.virtualhost.clone());
                    if let Some(codes) = &u.status_code {
                        h.status = codes
                            .0
                            .iter()
                            .map(|&(min, max)| StatusRange { min, max })
                            .collect();
                    }
                    if let Some(d) = &u.digest {
                        h.digest =
                            Some(ha_healthcheck::parse_md5_hex(d).ok_or_else(|| {
                                bad(format!("digest {d:?} is not 32 hex digits"))
                            })?);
                    }
                    // Validation checked that the pattern compiles.
                    if let Some(r) = &u.regex {
                        h.body_regex = Some(r.clone());
                        h.body_regex_no_match = u.regex_no_match;
                        h.body_regex_min_offset = u.regex_min_offset.map_or(0, |o| o as usize);
                        h.body_regex_max_offset = u.regex_max_offset.map(|o| o as usize);
                    }
                    h.protocol = match ch.http_protocol.unwrap_or_default() {
                        HttpProtocolModel::Http10 => HttpProtocol::Http10,
                        HttpProtocolModel::Http10Close => HttpProtocol::Http10Close,
                        HttpProtocolModel::Http11 => HttpProtocol::Http11,
                    };
                    if ch.kind == CheckKind::Ssl {
                        // keepalived's SSL_GET checks liveness, not the certificate, unless
                        // a CA to verify against is configured (TOML only).
                        let mut t = TlsOptions::new(match ssl.and_then(|s| s.verify_ca.clone()) {
                            Some(ca) => TlsVerify::CaFile(ca),
                            None => TlsVerify::Off,
                        });
                        t.send_sni = ch.enable_sni;
                        t.sni = ch.sni_name.clone().or(h.host.clone());
                        if let Some(SslClient {
                            certificate: Some(cert_chain),
                            key: Some(key),
                            ..
                        }) = ssl
                        {
                            t.client_cert = Some(ClientCert {
                                cert_chain: cert_chain.clone(),
                                key: key.clone(),
                            });
                        }
                        h.tls = Some(t);
                    }
                    h.socket = socket.clone();
                    Ok(HcCheck::from(h))
                })
                .collect::<Result<_, BuildError>>()?
        }
        CheckKind::Dns => {
            let qtype: DnsType = ch
                .dns_type
                .as_deref()
                .unwrap_or("SOA")
                .parse()
                .map_err(|e: ha_healthcheck::Error| bad(e.to_string()))?;
            vec![HcCheck::Dns(DnsCheck {
                server: addr(port)?,
                name: ch.dns_name.clone().unwrap_or_else(|| ".".into()),
                qtype,
                expect_rcode: 0,
                expect_answer: None,
                expect_answer_regex: ch.dns_expect.clone(),
                socket,
            })]
        }
        CheckKind::Smtp => vec![HcCheck::Smtp(SmtpCheck {
            addr: addr(port)?,
            helo_name: ch.helo_name.clone().unwrap_or_else(|| "localhost".into()),
            ehlo: false,
            socket,
        })],
        CheckKind::Misc => {
            let path = ch.misc_path.as_deref().unwrap_or_default();
            let argv = argv(path);
            if argv.is_empty() {
                return Err(bad("needs misc_path".into()));
            }
            let mut s = ScriptCheck::new(argv);
            s.dynamic = ch.misc_dynamic;
            vec![HcCheck::Script(s)]
        }
        CheckKind::Udp => {
            let payload = match &ch.udp_payload {
                Some(p) => {
                    parse_keepalived_hex(p, false)
                        .ok_or_else(|| bad(format!("udp_payload {p:?} is not hex digits")))?
                        .0
                }
                None => UDP_DEFAULT_PAYLOAD.to_vec(),
            };
            let mut u = UdpCheck::new(addr(port)?, payload);
            u.require_reply = ch.udp_require_reply || ch.udp_reply.is_some();
            if let Some(r) = &ch.udp_reply {
                let (data, mask) = parse_keepalived_hex(r, true)
                    .ok_or_else(|| bad(format!("udp_reply {r:?} is not hex digits")))?;
                let mut m = UdpReplyMatch::new(data, mask);
                m.min_len = ch.udp_min_reply_length.map_or(0, usize::from);
                m.max_len = ch.udp_max_reply_length.map_or(255, usize::from);
                u.reply_match = Some(m);
            }
            u.socket = socket;
            vec![HcCheck::from(u)]
        }
        CheckKind::Ping => vec![HcCheck::Ping(PingCheck { addr: ip, socket })],
        CheckKind::Maintenance => {
            let dir = ch
                .maintenance_dir
                .clone()
                .ok_or_else(|| bad("needs maintenance_dir".into()))?;
            // ldirectord's file names: `IP:PORT`, then `IP` (reverse DNS names are not
            // looked up here).
            let host = match rs.address {
                IpAddr::V6(a) => format!("[{a}]"),
                a => a.to_string(),
            };
            let rport = rs.port.or(vs.port).unwrap_or(0);
            vec![HcCheck::Maintenance(MaintenanceCheck {
                dir,
                names: vec![format!("{host}:{rport}"), host],
            })]
        }
        CheckKind::File => {
            let name = ch
                .track_file
                .as_deref()
                .ok_or_else(|| bad("needs track_file".into()))?;
            let tf = ctx
                .track_files
                .iter()
                .find(|t| t.name == name)
                .ok_or_else(|| bad(format!("track_file {name:?} is not defined")))?;
            // keepalived: the FILE_CHECK's own weight (and reverse), else the file's.
            let (weight, reverse) = match ch.track_file_weight {
                Some(w) => (w, ch.track_file_reverse),
                None => (tf.weight, tf.reverse),
            };
            vec![HcCheck::File(FileCheck {
                path: tf.path.clone().into(),
                weight,
                reverse,
                base_weight: rs.weight,
            })]
        }
    };
    // keepalived's inheritance (`validate_check_config`): the check's value, else the real
    // server's, else the virtual server's, else the checker's default.
    let delay_loop = ch
        .delay_loop_ms
        .or(rs.delay_loop_ms)
        .unwrap_or(vs.delay_loop_ms);
    let interval = ms(delay_loop);
    let timeout = match ch.kind {
        CheckKind::Misc => ch.misc_timeout_ms.map(ms).unwrap_or(interval),
        _ => ms(ch
            .connect_timeout_ms
            .or(rs.connect_timeout_ms)
            .or(vs.connect_timeout_ms)
            .unwrap_or(5000)),
    };
    let retries = ch.retry.or(rs.retry).or(vs.retry).unwrap_or(match ch.kind {
        CheckKind::Dns => 3,
        CheckKind::Misc => 0,
        _ => 1,
    });
    let delay_before_retry = ch
        .delay_before_retry_ms
        .or(rs.delay_before_retry_ms)
        .or(vs.delay_before_retry_ms)
        .unwrap_or(match ch.kind {
            CheckKind::Http | CheckKind::Ssl => 3000,
            CheckKind::Dns => delay_loop,
            _ => 1000,
        });
    // keepalived spreads first checks over one delay_loop unless told otherwise.
    let warmup = ch
        .warmup_ms
        .or(rs.warmup_ms)
        .or(vs.warmup_ms)
        .unwrap_or(delay_loop);
    Ok(checks
        .into_iter()
        .map(|c| {
            let mut t = TargetConfig::new(Arc::new(c));
            if ch.kind == CheckKind::Maintenance {
                // Looked at every second, as ldirectord looks before each check.
                t.interval = Duration::from_secs(1);
                t.timeout = Duration::from_secs(1);
                t.retries = 0;
                t.warmup = Duration::ZERO;
            } else if ch.kind == CheckKind::File {
                // keepalived watches the file (inotify); it is read every second here, at
                // once at start, with no retry.
                t.interval = Duration::from_secs(1);
                t.timeout = Duration::from_secs(1);
                t.retries = 0;
                t.warmup = Duration::ZERO;
            } else {
                t.interval = interval;
                t.timeout = timeout;
                t.retries = retries;
                t.delay_before_retry = ms(delay_before_retry);
                t.warmup = ms(warmup);
            }
            t.start = if rs.alpha.unwrap_or(vs.alpha) {
                StartState::Down
            } else {
                StartState::Up
            };
            t
        })
        .collect())
}

/// The host name, for keepalived's defaults of the router id, `HELO` name and sender.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Who mails what, with keepalived's defaults (`vrrp_complete_instance`,
/// `validate_check_config`): instances and groups follow `alert_vrrp`, virtual servers
/// `alert_checker` (else off), real servers `alert_checker` (else on).
fn alert_plan(cfg: &Config, smtp: &Smtp) -> AlertPlan {
    let host = host_name();
    let proto = |p: Protocol| match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    };
    AlertPlan {
        mail: MailSettings {
            server: smtp.server,
            helo_name: smtp.helo_name.clone().unwrap_or_else(|| host.clone()),
            from: smtp
                .from
                .clone()
                .unwrap_or_else(|| format!("keepalived@{host}")),
            to: smtp.to.clone(),
            timeout: ms(smtp.connect_timeout_ms),
        },
        router_id: cfg.global.router_id.clone().unwrap_or(host),
        no_email_faults: smtp.no_email_faults,
        repeat_down: smtp.repeat_down_s.map(Duration::from_secs),
        instances: cfg
            .instances
            .iter()
            .map(|i| (i.name.clone(), i.smtp_alert.unwrap_or(smtp.alert_vrrp)))
            .collect(),
        groups: cfg
            .sync_groups
            .iter()
            .map(|g| (g.name.clone(), g.smtp_alert.unwrap_or(smtp.alert_vrrp)))
            .collect(),
        virtual_servers: cfg
            .virtual_servers
            .iter()
            .map(|vs| VirtualServerAlerts {
                label: service_label(vs.address, vs.port, proto(vs.protocol), vs.fwmark),
                enabled: vs.smtp_alert.unwrap_or(smtp.alert_checker.unwrap_or(false)),
                real_servers: vs
                    .real_servers
                    .iter()
                    .map(|rs| {
                        let port = rs.port.or(vs.port);
                        (
                            service_label(Some(rs.address), port, proto(vs.protocol), None),
                            rs.smtp_alert.unwrap_or(smtp.alert_checker.unwrap_or(true)),
                        )
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The runtime's BGP configuration: the `[bgp]` section and the addresses of the virtual
/// servers that `announce` (each address of a group), each gated by its virtual server.
pub fn bgp_config(cfg: &Config) -> Option<ha_failover::runtime::config::BgpConfig> {
    use ha_failover::runtime::config::{BfdTimers, BgpConfig, BgpNeighborConfig};
    let b = cfg.bgp.as_ref()?;
    let mut routes = Vec::new();
    for (i, vs) in cfg.virtual_servers.iter().enumerate() {
        if !vs.announce {
            continue;
        }
        let id = VirtualServerId(i as u32);
        let mut addrs: Vec<IpAddr> = vs.address.into_iter().collect();
        if let Some(g) = vs
            .group
            .as_ref()
            .and_then(|g| cfg.virtual_server_groups.iter().find(|x| &x.name == g))
        {
            addrs.extend(g.entries.iter().flat_map(|e| e.addresses()));
        }
        for a in addrs {
            if !routes.contains(&(id, a)) {
                routes.push((id, a));
            }
        }
    }
    Some(BgpConfig {
        local_as: b.local_as,
        router_id: b.router_id,
        hold_time: b.hold_time_s,
        connect_retry: Duration::from_secs(u64::from(b.connect_retry_s)),
        drain: ms(b.drain_ms),
        neighbors: b
            .neighbors
            .iter()
            .map(|n| BgpNeighborConfig {
                address: n.address,
                peer_as: n.peer_as,
                local_address: n.local_address,
                bfd: n.bfd.then(|| BfdTimers {
                    interval: ms(u64::from(n.bfd_interval_ms)),
                    multiplier: n.bfd_multiplier,
                }),
            })
            .collect(),
        routes,
    })
}

/// The [`VirtualServerId`] of each virtual server name, in configuration order.
pub fn virtual_server_ids(cfg: &Config) -> HashMap<String, VirtualServerId> {
    cfg.virtual_servers
        .iter()
        .enumerate()
        .map(|(i, v)| (v.name.clone(), VirtualServerId(i as u32)))
        .collect()
}
