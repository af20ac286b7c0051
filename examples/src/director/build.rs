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
    DirectorBuilder, DirectorConfigError, InstanceConfig, InstanceId, NotifyScripts, RealServer,
    Step, StepKind, SyncGroupConfig, TrackRef, TrackerConfig, TrackerId, TrackerKind, VipSpec,
    VirtualServerConfig, VirtualServerId,
};
use ha_failover::runtime::director::{
    DirectorConfig, HealthTarget, InstanceOptions, IpvsOptions, Statics, SyncDaemonOptions,
};
use ha_failover::runtime::exec::User;
use ha_failover::vrrp::router::Config as RouterConfig;
use ha_failover::vrrp::wire::{Auth, Password};
use ha_failover::vrrp::{AdvertInterval, Centiseconds, Priority, Seconds, Version, VrId};
use ha_healthcheck::{
    Check as HcCheck, DnsCheck, DnsType, HttpCheck, PingCheck, ScriptCheck, SmtpCheck,
    SocketOptions, StartState, StatusRange, TargetConfig, TcpCheck, TlsOptions, TlsVerify,
    UdpCheck, UdpReplyMatch, parse_keepalived_hex,
};
use ha_ipvs::model::{
    DaemonRole, Destination, Family as IpvsFamily, Forward, Persistence, Protocol as IpvsProtocol,
    Scheduler, Service, ServiceKey, SyncDaemon, Tunnel,
};

use super::model::{
    Check, CheckKind, Config, Family, Garp, Instance, Method, Notify, Protocol,
    RealServer as RsModel, Step as StepModel, UDP_DEFAULT_PAYLOAD, Vip, VirtualServer,
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
        Some(g) => {
            let found = accounts.group.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 3 && f[0] == g).then(|| f[2].parse::<u32>().ok())
            });
            match found {
                Some(Some(gid)) => gid,
                Some(None) => return Err(err(format!("group {g:?} has a malformed entry"))),
                None => g
                    .parse::<u32>()
                    .map_err(|_| err(format!("no such group {g:?} in /etc/group")))?,
            }
        }
    };
    Ok(User { uid, gid })
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
    s
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
    let mut intervals: Vec<u64> = Vec::new();
    let mut timeouts: Vec<u64> = Vec::new();

    // Resource-group steps by instance, in configuration order.
    let mut steps: HashMap<&str, Vec<Step>> = HashMap::new();
    for r in &cfg.resource_groups {
        let iface = cfg
            .instances
            .iter()
            .find(|i| i.name == r.instance)
            .map(|i| i.interface.as_str())
            .unwrap_or("");
        for (k, s) in r.steps.iter().enumerate() {
            let name = format!("{}#{}", r.name, k + 1);
            let kind = match s {
                StepModel::Script { start, stop } => StepKind::Command {
                    start: argv(start),
                    stop: argv(stop),
                },
                StepModel::Address { address } => {
                    let cidr = format!("{}/{}", address.address, address.prefix);
                    let dev = address.dev.clone().unwrap_or_else(|| iface.to_owned());
                    let mut start: Vec<String> = ["ip", "addr", "replace", &cidr, "dev", &dev]
                        .map(str::to_owned)
                        .to_vec();
                    if let Some(l) = &address.label {
                        start.extend(["label".to_owned(), l.clone()]);
                    }
                    let stop = ["ip", "addr", "del", &cidr, "dev", &dev]
                        .map(str::to_owned)
                        .to_vec();
                    StepKind::Command { start, stop }
                }
                StepModel::VirtualServer { name } => {
                    notes.push(format!(
                        "resource group {:?}: step virtual_server {name:?}: the virtual server is installed whatever the instance's state (IPVS is not gated by mastership)",
                        r.name
                    ));
                    continue;
                }
            };
            steps
                .entry(r.instance.as_str())
                .or_default()
                .push(Step { name, kind });
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
        )?;
        if let Some(a) = &inst.auth {
            let p = Password::new(a.pass.as_bytes()).ok_or_else(|| BuildError::Instance {
                instance: inst.name.clone(),
                detail: "auth pass must be 1..=8 bytes (RFC 3768 §5.3.10)".into(),
            })?;
            c.auth = Auth::SimpleText(p);
        }
        let id = b.add_instance(c)?;
        ids.insert(inst.name.as_str(), id);
        let o = InstanceOptions {
            vmac: inst.vmac.clone(),
            announce: (!inst.garp.is_default())
                .then(|| announce_config(&inst.garp.or(&cfg.global.garp))),
            unicast_ttl: inst.unicast_ttl,
            announce_lower_priority: announce_lower_priority(&inst.garp.or(&cfg.global.garp)),
            ..InstanceOptions::default()
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
        let (vcfg, targets) = virtual_server(vs, &mut notes)?;
        let id = b.add_virtual_server(vcfg)?;
        for (index, target) in targets {
            health.push(HealthTarget {
                server: id,
                index,
                target,
            });
        }
    }

    let mut dc = DirectorConfig::new(b);
    dc.instances = options;
    dc.announce = announce_config(&cfg.global.garp);
    dc.statics = statics(&cfg.global)?;
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
    if !cfg.virtual_servers.is_empty() || sync_daemon.is_some() {
        dc.ipvs = Some(IpvsOptions {
            remove_on_stop: true,
            sync_daemon,
        });
    }

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
    Ok(Built { config: dc, notes })
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
    r.peers = inst.unicast_peers.clone();
    r.startup_delay = ms(cfg.global.startup_delay_ms);
    r.multicast_group = inst.mcast_group.or(match primary {
        IpAddr::V4(_) => cfg.global.mcast_group4.map(IpAddr::V4),
        IpAddr::V6(_) => cfg.global.mcast_group6.map(IpAddr::V6),
    });
    if inst.lower_prio_no_advert {
        r.lower_priority = ha_failover::vrrp::router::LowerPriorityPolicy::Discard;
    }
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
    // keepalived's rule (`vrrp_complete_instance`): a member of a sync group without
    // `sync_group_tracking_weight` runs no floating priority, so a weighted tracked interface
    // only faults it (weight 0) and a weighted tracked script is not tracked; the address
    // owner ignores weighted tracking altogether. Each is a note, as keepalived warns.
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
        let id = *if_trackers.entry(t.name.clone()).or_insert_with(|| {
            b.add_tracker(TrackerConfig::new(
                format!("interface {}", t.name),
                TrackerKind::Interface {
                    ifname: t.name.clone(),
                },
            ))
        });
        c.track.push(TrackRef::new(id, weight));
    }
    for t in &inst.track_scripts {
        let s = cfg
            .scripts
            .iter()
            .find(|s| s.name == t.name)
            .ok_or_else(|| bad(format!("tracks script {:?}, which is not defined", t.name)))?;
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
                intervals.push(s.interval_ms);
                timeouts.push(s.timeout_ms.unwrap_or(s.interval_ms));
                let id = b.add_tracker(tc);
                script_trackers.insert(s.name.clone(), id);
                id
            }
        };
        c.track.push(TrackRef::new(id, weight));
    }
    Ok(c)
}

fn rs_name(rs: &RsModel) -> String {
    match rs.port {
        Some(p) => SocketAddr::new(rs.address, p).to_string(),
        None => rs.address.to_string(),
    }
}

fn virtual_server(
    vs: &VirtualServer,
    notes: &mut Vec<String>,
) -> Result<(VirtualServerConfig, Vec<(usize, TargetConfig)>), BuildError> {
    let bad = |detail: String| BuildError::VirtualServer {
        name: vs.name.clone(),
        detail,
    };
    let protocol = match vs.protocol {
        Protocol::Tcp => IpvsProtocol::Tcp,
        Protocol::Udp => IpvsProtocol::Udp,
        Protocol::Sctp => IpvsProtocol::Sctp,
    };
    let key = match (vs.address, vs.port, vs.fwmark) {
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
        _ => return Err(bad("give either address and port, or fwmark".into())),
    };
    let v6 = key.family() == IpvsFamily::Inet6;
    let mut service = Service::new(key, Scheduler::from_name(&vs.scheduler));
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
            Some(other) => {
                return Err(bad(format!(
                    "persistence_granularity {other} is not an IPv4 netmask (IPv6 services take none)"
                )));
            }
        };
        service.persistence = Some(Persistence { timeout, netmask });
    }
    let forward = match vs.method {
        Method::Dr => Forward::Route,
        Method::Nat => Forward::Masq,
        Method::Tun => Forward::Tunnel(Tunnel::default()),
    };
    let port_of = |p: Option<u16>| p.or(vs.port).unwrap_or(0);
    let real_servers: Vec<RealServer> = vs
        .real_servers
        .iter()
        .map(|rs| RealServer {
            destination: Destination::new(
                SocketAddr::new(rs.address, port_of(rs.port)),
                forward,
                rs.weight,
            ),
            inhibit_on_failure: rs.inhibit_on_failure,
        })
        .collect();
    let mut c = VirtualServerConfig::new(vs.name.clone(), service, real_servers);
    c.sorry_server = vs
        .sorry_server
        .as_ref()
        .map(|s| Destination::new(SocketAddr::new(s.address, port_of(s.port)), forward, 1));
    c.quorum = vs.quorum;
    c.hysteresis = vs.hysteresis;
    c.alive_on_start = !vs.alpha;
    for (what, set) in [
        ("quorum_up", vs.quorum_up.is_some()),
        ("quorum_down", vs.quorum_down.is_some()),
        ("ha_suspend", vs.ha_suspend),
    ] {
        if set {
            notes.push(format!(
                "virtual server {:?}: {what} is not applied",
                vs.name
            ));
        }
    }
    if vs
        .real_servers
        .iter()
        .any(|r| r.notify_up.is_some() || r.notify_down.is_some())
    {
        notes.push(format!(
            "virtual server {:?}: real-server notify_up/notify_down are not run",
            vs.name
        ));
    }

    let mut targets = Vec::new();
    for (index, rs) in vs.real_servers.iter().enumerate() {
        for ch in &rs.checks {
            for t in check_targets(vs, rs, ch)? {
                targets.push((index, t));
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
) -> Result<Vec<TargetConfig>, BuildError> {
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
        ..SocketOptions::default()
    };
    let checks: Vec<HcCheck> = match ch.kind {
        CheckKind::Tcp => {
            let mut t = TcpCheck::new(addr(port)?);
            t.socket = socket;
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
                    h.host = ch.virtualhost.clone().or(vs.virtualhost.clone());
                    if let Some(s) = u.status_code {
                        h.status = vec![StatusRange { min: s, max: s }];
                    }
                    if let Some(d) = &u.digest {
                        h.digest =
                            Some(ha_healthcheck::parse_md5_hex(d).ok_or_else(|| {
                                bad(format!("digest {d:?} is not 32 hex digits"))
                            })?);
                    }
                    if ch.kind == CheckKind::Ssl {
                        // keepalived's SSL_GET checks liveness, not the certificate.
                        h.tls = Some(TlsOptions {
                            sni: h.host.clone(),
                            verify: TlsVerify::Off,
                        });
                    }
                    h.socket = socket.clone();
                    Ok(HcCheck::Http(h))
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
            vec![HcCheck::Udp(u)]
        }
        CheckKind::Ping => vec![HcCheck::Ping(PingCheck { addr: ip, socket })],
    };
    let interval = ms(ch.delay_loop_ms.unwrap_or(vs.delay_loop_ms));
    let timeout = match ch.kind {
        CheckKind::Misc => ch.misc_timeout_ms.map(ms).unwrap_or(interval),
        _ => ms(ch.connect_timeout_ms.unwrap_or(5000)),
    };
    Ok(checks
        .into_iter()
        .map(|c| {
            let mut t = TargetConfig::new(Arc::new(c));
            t.interval = interval;
            t.timeout = timeout;
            t.retries = ch.retry.unwrap_or(1);
            t.delay_before_retry = ms(ch.delay_before_retry_ms.unwrap_or(1000));
            t.warmup = ms(ch.warmup_ms.unwrap_or(0));
            t.start = if vs.alpha {
                StartState::Down
            } else {
                StartState::Up
            };
            t
        })
        .collect())
}

/// The [`VirtualServerId`] of each virtual server name, in configuration order.
pub fn virtual_server_ids(cfg: &Config) -> HashMap<String, VirtualServerId> {
    cfg.virtual_servers
        .iter()
        .enumerate()
        .map(|(i, v)| (v.name.clone(), VirtualServerId(i as u32)))
        .collect()
}
