//! From the three heartbeat files to the [`Config`] model (see the [module docs](super)).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::authkeys::{self, AuthKeys, Method};
use super::hacf::{self, AutoFailback, HaCf, Medium, StonithParams};
use super::haresources::{self, Group, ResourceKind};
use super::{HeartbeatError, HeartbeatErrorKind};
use crate::director::model::{
    AdvertAuth, AdvertPath, AuthAlgorithm, Config, Fence, Instance, ResourceGroup, Step, TrackPing,
    TrackScriptRef, Vip, Watchdog,
};
use crate::director::validate::Item;
use crate::director::{ConfigError, Loaded, Location, Warning};

/// How to read a heartbeat directory.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// This node's name (default: `uname -n`, as heartbeat).
    pub node: Option<String>,
    /// For another machine: addresses without an interface are not looked up on this host
    /// (they go on the instance's interface, with a note).
    pub offline: bool,
}

/// Each ping node or group adds this to the priority while reachable: more than the home
/// node's 1, so reachability decides first (ipfail's rule).
pub const PING_WEIGHT: i32 = 2;
/// The base priority of every node.
pub const BASE_PRIORITY: u16 = 100;
/// How long each heartbeat resource may start or stop before it counts as failed.
pub const RESOURCE_TIMEOUT_MS: u64 = 120_000;

/// The files of a heartbeat directory, read and mapped, before validation.
struct Read {
    config: Config,
    warnings: Vec<Warning>,
    locations: HashMap<Item, Location>,
}

fn to_config(errs: Vec<HeartbeatError>) -> Vec<ConfigError> {
    errs.into_iter()
        .map(|e| ConfigError::Heartbeat {
            location: e.location,
            kind: e.kind,
        })
        .collect()
}

/// This node's name as `uname -n` gives it (the UTS namespace's host name).
fn uname_n() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Reads `DIR/ha.cf`, `DIR/haresources`, `DIR/authkeys` (refused unless mode 600) and the
/// ldirectord.cf files `haresources` names, and maps them onto the model.
fn read_heartbeat_dir(dir: &Path, opts: &Options) -> Result<Read, Vec<ConfigError>> {
    let ha_cf = dir.join("ha.cf");
    let haresources = dir.join("haresources");
    let authkeys_path = dir.join("authkeys");
    let mut errors = Vec::new();
    let cf = crate::director::read(&ha_cf).and_then(|t| hacf::parse(&t, &ha_cf).map_err(to_config));
    let groups = crate::director::read(&haresources)
        .and_then(|t| haresources::parse(&t, &haresources).map_err(to_config));
    let keys = authkeys::check_mode(&authkeys_path)
        .map_err(|e| to_config(vec![e]))
        .and_then(|()| crate::director::read(&authkeys_path))
        .and_then(|t| authkeys::parse(&t, &authkeys_path).map_err(to_config));
    let (cf, groups, keys) = match (cf, groups, keys) {
        (Ok(c), Ok(g), Ok(k)) => (c, g, k),
        (c, g, k) => {
            for r in [c.err(), g.err(), k.err()].into_iter().flatten() {
                errors.extend(r);
            }
            return Err(errors);
        }
    };
    map(dir, &cf, &groups, &keys, opts)
}

/// [`read_heartbeat_dir`], then validation (as for the other formats).
pub fn load_heartbeat_dir(dir: &Path, opts: &Options) -> Result<Loaded, Vec<ConfigError>> {
    let read = read_heartbeat_dir(dir, opts)?;
    crate::director::finish(
        &dir.join("ha.cf"),
        read.config,
        read.warnings,
        read.locations,
    )
}

/// The interface and prefix of the host network that holds `addr` (heartbeat's `findif`).
fn find_interface(addr: IpAddr) -> Option<(String, u8)> {
    let nets = crate::sys::interface_networks().ok()?;
    nets.into_iter()
        .filter(|(_, a, p)| same_network(*a, addr, *p))
        .max_by_key(|(_, _, p)| *p)
        .map(|(n, _, p)| (n, p))
}

fn same_network(a: IpAddr, b: IpAddr, prefix: u8) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & m == u32::from(b) & m
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & m == u128::from(b) & m
        }
        _ => false,
    }
}

/// The advert paths of the `ucast`/`bcast`/`mcast` lines: unicast lines of one interface
/// form one path (both nodes' lines: each node skips its own address at run time);
/// broadcast and multicast lines are multicast paths.
fn paths(cf: &HaCf) -> Vec<AdvertPath> {
    let mut out: Vec<AdvertPath> = Vec::new();
    for m in &cf.media {
        match &m.value {
            Medium::Ucast { interface, peer } => {
                match out
                    .iter_mut()
                    .find(|p| p.interface == *interface && !p.unicast_peers.is_empty())
                {
                    Some(p) => {
                        if !p.unicast_peers.contains(peer) {
                            p.unicast_peers.push(*peer);
                        }
                    }
                    None => out.push(AdvertPath {
                        interface: interface.clone(),
                        unicast_peers: vec![*peer],
                        mcast_group: None,
                    }),
                }
            }
            Medium::Bcast { interface } => {
                if !out
                    .iter()
                    .any(|p| p.interface == *interface && p.unicast_peers.is_empty())
                {
                    out.push(AdvertPath {
                        interface: interface.clone(),
                        unicast_peers: Vec::new(),
                        mcast_group: None,
                    });
                }
            }
            Medium::Mcast { interface, group } => out.push(AdvertPath {
                interface: interface.clone(),
                unicast_peers: Vec::new(),
                mcast_group: Some(*group),
            }),
        }
    }
    out
}

fn inconsistent(location: &Location, what: String) -> ConfigError {
    ConfigError::Heartbeat {
        location: location.clone(),
        kind: HeartbeatErrorKind::Inconsistent(what),
    }
}

/// The fence command of the STONITH devices this node can use (`stonith -T reset PEER`).
fn fence(cf: &HaCf, me: &str, peers: &[String]) -> Result<Option<Fence>, Vec<ConfigError>> {
    let usable: Vec<&hacf::Stonith> = cf
        .stonith
        .iter()
        .filter(|s| s.from == "*" || s.from == me)
        .collect();
    let Some(s) = usable.first() else {
        return Ok(None);
    };
    let [peer] = peers else {
        return Err(vec![inconsistent(
            &s.location,
            format!(
                "STONITH needs exactly one other node to reset before taking over, ha.cf names {}",
                peers.len()
            ),
        )]);
    };
    let mut argv = vec!["stonith".to_owned(), "-t".to_owned(), s.kind.clone()];
    match &s.params {
        StonithParams::Inline(p) => {
            argv.push("-p".into());
            argv.push(p.join(" "));
        }
        StonithParams::File(f) => {
            argv.push("-F".into());
            argv.push(f.display().to_string());
        }
    }
    argv.extend(["-T".to_owned(), "reset".to_owned(), peer.clone()]);
    Ok(Some(Fence {
        command: String::new(),
        argv,
        timeout_ms: Some(RESOURCE_TIMEOUT_MS),
    }))
}

/// Where heartbeat finds a resource script: `DIR/resource.d/NAME`, then `/etc/init.d/NAME`.
fn script_path(dir: &Path, name: &str) -> Option<PathBuf> {
    [
        dir.join("resource.d").join(name),
        Path::new("/etc/init.d").join(name),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// Broadcast of an IPv4 network: its highest address (heartbeat's default).
fn broadcast_of(addr: IpAddr, prefix: u8) -> Option<IpAddr> {
    match addr {
        IpAddr::V4(a) if prefix < 31 => {
            let host = u32::MAX >> prefix;
            Some(IpAddr::V4((u32::from(a) | host).into()))
        }
        _ => None,
    }
}

fn steps(
    dir: &Path,
    group: &Group,
    opts: &Options,
    cfg: &mut Config,
    warnings: &mut Vec<Warning>,
    locations: &mut HashMap<Item, Location>,
    errors: &mut Vec<ConfigError>,
) -> Vec<Step> {
    let timeout_ms = Some(RESOURCE_TIMEOUT_MS);
    let mut out = Vec::new();
    for r in &group.resources {
        match &r.kind {
            ResourceKind::Address {
                address,
                prefix,
                interface,
                label,
                broadcast,
                ..
            } => {
                let found = if (interface.is_none() || prefix.is_none()) && !opts.offline {
                    find_interface(*address)
                } else {
                    None
                };
                let (dev, prefix) = match (interface, prefix, found) {
                    (Some(i), Some(p), _) => (Some(i.clone()), *p),
                    (i, p, Some((fi, fp))) => (Some(i.clone().unwrap_or(fi)), p.unwrap_or(fp)),
                    (i, p, None) if opts.offline => {
                        warnings.push(Warning {
                            location: r.location.clone(),
                            keyword: "IPaddr".into(),
                            action: format!(
                                "{address}: interface and prefix not looked up (offline): {} and /{} assumed",
                                i.as_deref().unwrap_or("the instance's interface"),
                                p.unwrap_or(if address.is_ipv4() { 32 } else { 128 })
                            ),
                        });
                        (i.clone(), p.unwrap_or(if address.is_ipv4() { 32 } else { 128 }))
                    }
                    (_, _, None) => {
                        errors.push(inconsistent(
                            &r.location,
                            format!(
                                "no interface of this host is on a network holding {address}: name it (IP/PREFIX/INTERFACE), as heartbeat's IPaddr would fail here too"
                            ),
                        ));
                        continue;
                    }
                };
                let broadcast = broadcast.map(IpAddr::V4).or_else(|| broadcast_of(*address, prefix));
                out.push(Step::Address {
                    address: Vip {
                        address: *address,
                        prefix,
                        dev,
                        label: label.clone(),
                        broadcast,
                    },
                });
            }
            ResourceKind::SourceAddress { address } => out.push(Step::SourceAddress {
                address: *address,
                timeout_ms,
            }),
            ResourceKind::Filesystem {
                device,
                directory,
                fstype,
                options,
            } => out.push(Step::Filesystem {
                device: device.clone(),
                directory: directory.clone(),
                fstype: fstype.clone(),
                options: options.clone(),
                timeout_ms,
            }),
            ResourceKind::Drbd { resource } => out.push(Step::Drbd {
                resource: resource.clone(),
                timeout_ms,
            }),
            ResourceKind::Ldirectord { file } => {
                let path = match file {
                    Some(f) if f.is_absolute() => f.clone(),
                    Some(f) => dir.join(f),
                    None => dir.join("ldirectord.cf"),
                };
                match crate::director::ldirectord::read_ldirectord(&path) {
                    Ok(l) => {
                        for vs in &l.virtual_servers {
                            if cfg.virtual_servers.iter().any(|v| v.name == vs.name) {
                                errors.push(inconsistent(
                                    &r.location,
                                    format!(
                                        "virtual server {} of {} is already defined by another ldirectord resource",
                                        vs.name,
                                        path.display()
                                    ),
                                ));
                                continue;
                            }
                            out.push(Step::VirtualServer {
                                name: vs.name.clone(),
                            });
                        }
                        // The globals an ldirectord.cf sets: mail, cleanstop, autoreload.
                        if l.global.smtp.is_some() {
                            cfg.global.smtp = l.global.smtp.clone();
                        }
                        if l.global.lvs_flush_on_stop.is_some() {
                            cfg.global.lvs_flush_on_stop = l.global.lvs_flush_on_stop;
                        }
                        cfg.global.watch_config |= l.global.watch_config;
                        cfg.virtual_servers.extend(l.virtual_servers);
                        warnings.extend(l.warnings);
                        locations.extend(l.locations);
                    }
                    Err(e) => errors.extend(e),
                }
            }
            ResourceKind::Script { name, args } => match script_path(dir, name) {
                Some(path) => out.push(Step::Program {
                    path: path.display().to_string(),
                    args: args.clone(),
                    timeout_ms,
                }),
                None if args.is_empty() => out.push(Step::Service {
                    name: name.clone(),
                    timeout_ms,
                }),
                None => errors.push(inconsistent(
                    &r.location,
                    format!(
                        "resource script {name} (with arguments) is neither {} nor /etc/init.d/{name}",
                        dir.join("resource.d").join(name).display()
                    ),
                )),
            },
        }
    }
    out
}

fn map(
    dir: &Path,
    cf: &HaCf,
    groups: &[Group],
    keys: &AuthKeys,
    opts: &Options,
) -> Result<Read, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut warnings = cf.notes.clone();
    let mut locations = HashMap::new();
    let first_node = &cf.nodes[0].location;
    let nodes: Vec<String> = cf.nodes.iter().map(|n| n.value.clone()).collect();
    let me = match opts.node.clone().or_else(uname_n) {
        Some(m) => m,
        None => {
            return Err(vec![inconsistent(
                first_node,
                "this node's name is unknown (no host name): pass --node NAME".into(),
            )]);
        }
    };
    if !nodes.contains(&me) {
        return Err(vec![inconsistent(
            first_node,
            format!(
                "this node, {me}, is not one of ha.cf's nodes ({}): heartbeat names nodes by `uname -n`; pass --node NAME",
                nodes.join(", ")
            ),
        )]);
    }
    let peers: Vec<String> = nodes.iter().filter(|n| **n != me).cloned().collect();
    if peers.is_empty() {
        warnings.push(Warning {
            location: first_node.clone(),
            keyword: "node".into(),
            action: "only this node is named: it takes every resource group after initdead".into(),
        });
    }
    let fence = fence(cf, &me, &peers)?;
    let mut paths = paths(cf);
    let main_path = paths.remove(0);
    let failback = cf.auto_failback.value != AutoFailback::Off;
    let advert_auth = match &keys.active.value.method {
        Method::Crc => None,
        Method::Md5(k) => Some((AuthAlgorithm::Md5, k)),
        Method::Sha1(k) => Some((AuthAlgorithm::Sha1, k)),
    }
    .map(|(algorithm, key)| AdvertAuth {
        algorithm,
        key_id: keys.active.value.id,
        key: key.clone(),
    });
    if keys.keys.len() > 1 {
        warnings.push(Warning {
            location: keys.active.location.clone(),
            keyword: "authkeys".into(),
            action: format!(
                "only key {} (`auth {}`) signs and is accepted; the other keys are not used",
                keys.active.value.id, keys.active.value.id
            ),
        });
    }

    let mut cfg = Config::default();
    // ipfail's ping nodes, fed every keepalive, dead after deadping (default deadtime).
    for p in &cf.pings {
        cfg.track_pings.push(TrackPing {
            name: p.name.clone(),
            addresses: p.addresses.clone(),
            interval_ms: cf.keepalive_ms.value,
            dead_ms: cf
                .deadping_ms
                .as_ref()
                .map_or(cf.deadtime_ms.value, |d| d.value),
            weight: PING_WEIGHT,
        });
    }
    if let Some(w) = &cf.watchdog {
        cfg.global.watchdog = Some(Watchdog {
            device: w.value.clone(),
            interval_ms: cf.keepalive_ms.value,
            timeout_s: None,
        });
    }
    if cf.realtime {
        cfg.global.realtime_priority = Some(cf.rtprio.unwrap_or(50));
    }

    for (i, g) in groups.iter().enumerate() {
        let n = i + 1;
        let Ok(vrid) = u16::try_from(n) else {
            continue;
        };
        if vrid > 255 {
            errors.push(inconsistent(
                &g.node.location,
                "more than 255 resource groups: each is a VRRP instance with its own VRID".into(),
            ));
            break;
        }
        if !nodes.contains(&g.node.value) {
            errors.push(inconsistent(
                &g.node.location,
                format!(
                    "{} is not one of ha.cf's nodes ({})",
                    g.node.value,
                    nodes.join(", ")
                ),
            ));
            continue;
        }
        let name = format!("group{n}");
        let home = g.node.value == me;
        let priority = BASE_PRIORITY + u16::from(home && failback);
        // With auto_failback off, the home node wins a simultaneous start by waiting less.
        let initdead = cf.initdead_ms.as_ref().map(|d| d.value);
        let init_dead_ms = match (failback, home) {
            (false, false) => {
                Some(initdead.unwrap_or(cf.deadtime_ms.value) + cf.keepalive_ms.value)
            }
            _ => initdead,
        };
        let steps = steps(
            dir,
            g,
            opts,
            &mut cfg,
            &mut warnings,
            &mut locations,
            &mut errors,
        );
        let instance = Instance {
            priority,
            advert_int_ms: u32::try_from(cf.keepalive_ms.value).unwrap_or(u32::MAX),
            unicast_peers: main_path.unicast_peers.clone(),
            mcast_group: main_path.mcast_group,
            fence: fence.clone(),
            dead_interval_ms: Some(cf.deadtime_ms.value),
            init_dead_ms,
            warn_interval_ms: cf.warntime_ms.as_ref().map(|w| w.value),
            advert_auth: advert_auth.clone(),
            paths: paths.clone(),
            track_pings: cf
                .pings
                .iter()
                .map(|p| TrackScriptRef {
                    name: p.name.clone(),
                    weight: None,
                    reverse: None,
                })
                .collect(),
            ..Instance::new(name.clone(), main_path.interface.clone(), vrid)
        };
        locations.insert(Item::Instance(name.clone()), g.node.location.clone());
        locations.insert(Item::ResourceGroup(name.clone()), g.node.location.clone());
        cfg.instances.push(instance);
        cfg.resource_groups.push(ResourceGroup {
            name: name.clone(),
            instance: name,
            steps,
        });
    }
    if errors.is_empty() {
        Ok(Read {
            config: cfg,
            warnings,
            locations,
        })
    } else {
        Err(errors)
    }
}
