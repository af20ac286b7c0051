//! Semantic validation of a [`Config`]: every error names the item it is about.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;

use super::model::{CheckKind, Config, GroupEntry, Instance, VirtualServer};

/// IPVS schedulers known to the Linux kernel (`net/netfilter/ipvs/ip_vs_*.c`).
pub const KNOWN_SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

/// [`Item::Global`], for errors about global settings.
static GLOBAL_ITEM: Item = Item::Global;

/// [`Item::Bgp`], for errors about the `[bgp]` section.
static BGP_ITEM: Item = Item::Bgp;

/// The configuration item an error is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Item {
    /// Global settings.
    Global,
    /// A tracking script, by name.
    Script(String),
    /// A tracked file (keepalived `track_file`), by name.
    TrackFile(String),
    /// A tracked process (keepalived `vrrp_track_process`), by name.
    TrackProcess(String),
    /// A ping tracker (heartbeat `ping` / `ping_group`), by name.
    TrackPing(String),
    /// A VRRP instance, by name.
    Instance(String),
    /// A sync group, by name.
    SyncGroup(String),
    /// A resource group, by name.
    ResourceGroup(String),
    /// A virtual server, by name.
    VirtualServer(String),
    /// A virtual server group, by name.
    VirtualServerGroup(String),
    /// The `[bgp]` section.
    Bgp,
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Global => write!(f, "global"),
            Self::Script(n) => write!(f, "script {n:?}"),
            Self::TrackFile(n) => write!(f, "track file {n:?}"),
            Self::TrackProcess(n) => write!(f, "track process {n:?}"),
            Self::TrackPing(n) => write!(f, "track ping {n:?}"),
            Self::Instance(n) => write!(f, "instance {n:?}"),
            Self::SyncGroup(n) => write!(f, "sync group {n:?}"),
            Self::ResourceGroup(n) => write!(f, "resource group {n:?}"),
            Self::VirtualServer(n) => write!(f, "virtual server {n:?}"),
            Self::VirtualServerGroup(n) => write!(f, "virtual server group {n:?}"),
            Self::Bgp => write!(f, "bgp"),
        }
    }
}

/// A semantic error in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// An item has an empty name.
    #[error("{kind} with an empty name")]
    EmptyName {
        /// `instance`, `script`, ...
        kind: &'static str,
    },
    /// Two items of one kind share a name.
    #[error("{item}: defined twice")]
    DuplicateName {
        /// The item.
        item: Item,
    },
    /// VRID outside 1..=255.
    #[error("{item}: vrid {vrid} is outside 1..=255")]
    VridOutOfRange {
        /// The instance.
        item: Item,
        /// The value.
        vrid: u16,
    },
    /// Priority outside 1..=255.
    #[error("{item}: priority {priority} is outside 1..=255")]
    PriorityOutOfRange {
        /// The instance.
        item: Item,
        /// The value.
        priority: u16,
    },
    /// Version not 2 or 3.
    #[error("{item}: VRRP version {version} is not 2 or 3")]
    BadVersion {
        /// The instance.
        item: Item,
        /// The value.
        version: u8,
    },
    /// Advert interval outside the range of the version.
    #[error("{item}: advert interval {interval_ms} ms is not valid for VRRPv{version} ({allowed})")]
    IntervalOutOfRange {
        /// The instance.
        item: Item,
        /// Version.
        version: u8,
        /// The value.
        interval_ms: u32,
        /// The allowed values.
        allowed: &'static str,
    },
    /// VRRPv2 with an IPv6 address.
    #[error("{item}: VRRPv2 is IPv4 only (RFC 3768), but {address} is IPv6; use version 3")]
    V2RequiresIpv4 {
        /// The instance.
        item: Item,
        /// The offending address.
        address: IpAddr,
    },
    /// VIPs (or peers) of both families in one instance.
    #[error(
        "{item}: {address} is not of the same address family as {first} (RFC 5798 §5.2.9: one family per instance)"
    )]
    MixedFamilies {
        /// The instance.
        item: Item,
        /// The first address.
        first: IpAddr,
        /// The address of the other family.
        address: IpAddr,
    },
    /// An instance without VIPs.
    #[error("{item}: no virtual addresses")]
    NoVips {
        /// The instance.
        item: Item,
    },
    /// Two instances with one VRID and family on one interface.
    #[error("{item}: vrid {vrid} on {interface} is already used by instance {other:?}")]
    DuplicateVrid {
        /// The later instance.
        item: Item,
        /// Interface.
        interface: String,
        /// VRID.
        vrid: u16,
        /// The earlier instance.
        other: String,
    },
    /// One address is a VIP (or excluded VIP) of two instances on one interface: when one of
    /// them leaves master it removes the address the other still serves.
    #[error(
        "{item}: {address} on {interface} is also an address of instance {other:?}: the instance that leaves master would remove it from the one that stays"
    )]
    VipInTwoInstances {
        /// The later instance.
        item: Item,
        /// The address.
        address: IpAddr,
        /// The interface it is added to.
        interface: String,
        /// The earlier instance.
        other: String,
    },
    /// Authentication not allowed (v3) or too long.
    #[error("{item}: {reason}")]
    BadAuth {
        /// The instance.
        item: Item,
        /// Why.
        reason: &'static str,
    },
    /// nopreempt without state backup.
    #[error("{item}: nopreempt requires state \"backup\"")]
    NopreemptNeedsBackup {
        /// The instance.
        item: Item,
    },
    /// A tracking weight outside -253..=253.
    #[error("{item}: weight {weight} of {what} is outside -253..=253")]
    WeightOutOfRange {
        /// The item.
        item: Item,
        /// What carries the weight.
        what: String,
        /// The value.
        weight: i32,
    },
    /// A reference to something that does not exist.
    #[error("{item}: unknown {kind} {name:?}")]
    UnknownReference {
        /// The referring item.
        item: Item,
        /// What kind of thing is referenced.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// An instance in two sync groups.
    #[error("{item}: instance {instance:?} is already in sync group {other:?}")]
    InTwoSyncGroups {
        /// The later group.
        item: Item,
        /// Instance.
        instance: String,
        /// The earlier group.
        other: String,
    },
    /// Unknown scheduler.
    #[error("{item}: scheduler {scheduler:?} is not an IPVS scheduler (known: {})", KNOWN_SCHEDULERS.join(" "))]
    UnknownScheduler {
        /// The virtual server.
        item: Item,
        /// The value.
        scheduler: String,
    },
    /// Bad service address / fwmark combination, or another virtual server problem.
    #[error("{item}: {reason}")]
    BadVirtualServer {
        /// The virtual server.
        item: Item,
        /// Why.
        reason: String,
    },
    /// A real server problem.
    #[error("{item}: real server {real_server}: {reason}")]
    BadRealServer {
        /// The virtual server.
        item: Item,
        /// The real server (`addr:port`).
        real_server: String,
        /// Why.
        reason: String,
    },
    /// A health check problem.
    #[error("{item}: real server {real_server}: {kind} check: {reason}")]
    BadCheck {
        /// The virtual server.
        item: Item,
        /// The real server.
        real_server: String,
        /// Check kind (keepalived name).
        kind: &'static str,
        /// Why.
        reason: String,
    },
    /// A global setting problem (sync daemon, listen address).
    #[error("global: {reason}")]
    BadGlobal {
        /// Why.
        reason: String,
    },
    /// A problem in the `[bgp]` section.
    #[error("bgp: {reason}")]
    BadBgp {
        /// Why.
        reason: String,
    },
    /// A script that a user other than root could modify, refused because
    /// `script_security` (keepalived `enable_script_security`) is on.
    #[error("{item}: script {path} is insecure: {reason} (script_security is on)")]
    InsecureScript {
        /// Where the script is used.
        item: Item,
        /// The program's path.
        path: String,
        /// What makes it insecure.
        reason: String,
    },
    /// A script problem.
    #[error("{item}: {reason}")]
    BadScript {
        /// The item.
        item: Item,
        /// Why.
        reason: String,
    },
    /// A heartbeat timing (`dead_interval_ms`, `init_dead_ms`, `warn_interval_ms`) that
    /// cannot work.
    #[error("{item}: {reason}")]
    BadTiming {
        /// The instance.
        item: Item,
        /// Why.
        reason: String,
    },
    /// An advert path problem (its interface, its addresses).
    #[error("{item}: advert path {path}: {reason}")]
    BadAdvertPath {
        /// The instance.
        item: Item,
        /// The path's number (1: the first of `paths`).
        path: usize,
        /// Why.
        reason: String,
    },
    /// A tracker problem (a tracked file or process, or a reference to one).
    #[error("{item}: {reason}")]
    BadTracker {
        /// The tracker, or the instance or sync group referring to one.
        item: Item,
        /// Why.
        reason: String,
    },
}

impl ValidationError {
    /// The item the error is about, if any.
    pub fn item(&self) -> Option<&Item> {
        match self {
            Self::EmptyName { .. } => None,
            Self::BadGlobal { .. } => Some(&GLOBAL_ITEM),
            Self::BadBgp { .. } => Some(&BGP_ITEM),
            Self::DuplicateName { item }
            | Self::VridOutOfRange { item, .. }
            | Self::PriorityOutOfRange { item, .. }
            | Self::BadVersion { item, .. }
            | Self::IntervalOutOfRange { item, .. }
            | Self::V2RequiresIpv4 { item, .. }
            | Self::MixedFamilies { item, .. }
            | Self::NoVips { item }
            | Self::DuplicateVrid { item, .. }
            | Self::VipInTwoInstances { item, .. }
            | Self::BadAuth { item, .. }
            | Self::NopreemptNeedsBackup { item }
            | Self::WeightOutOfRange { item, .. }
            | Self::UnknownReference { item, .. }
            | Self::InTwoSyncGroups { item, .. }
            | Self::UnknownScheduler { item, .. }
            | Self::BadVirtualServer { item, .. }
            | Self::BadRealServer { item, .. }
            | Self::BadCheck { item, .. }
            | Self::InsecureScript { item, .. }
            | Self::BadScript { item, .. }
            | Self::BadAdvertPath { item, .. }
            | Self::BadTiming { item, .. }
            | Self::BadTracker { item, .. } => Some(item),
        }
    }
}

/// heartbeat's timings: each longer than zero; the dead intervals longer than the advert
/// interval (a backup would take over between two adverts of a live master); the warning
/// before the master is declared dead (otherwise it never fires). A dead interval under twice
/// the advert interval is accepted (heartbeat accepts it too), with a note from the build.
fn check_timing(errs: &mut Vec<ValidationError>, item: &Item, inst: &Instance) {
    let advert = u64::from(inst.advert_int_ms);
    let mut bad = |reason: String| {
        errs.push(ValidationError::BadTiming {
            item: item.clone(),
            reason,
        })
    };
    for (key, v) in [
        ("dead_interval_ms", inst.dead_interval_ms),
        ("init_dead_ms", inst.init_dead_ms),
    ] {
        if let Some(v) = v
            && v <= advert
        {
            bad(format!(
                "{key} {v} must be longer than advert_int_ms {advert} (heartbeat: deadtime longer than keepalive)"
            ));
        }
    }
    if let Some(w) = inst.warn_interval_ms {
        // Without a dead interval: 3 x the interval, the skew aside.
        let dead = inst.dead_interval_ms.unwrap_or(3 * advert);
        if w == 0 || w >= dead {
            bad(format!(
                "warn_interval_ms {w} must be above 0 and shorter than the dead interval ({dead} ms): the warning would never come (heartbeat: warntime shorter than deadtime)"
            ));
        }
    }
}

fn check_weight(errs: &mut Vec<ValidationError>, item: &Item, what: String, weight: i32) {
    if !(-253..=253).contains(&weight) {
        errs.push(ValidationError::WeightOutOfRange {
            item: item.clone(),
            what,
            weight,
        });
    }
}

fn check_names<'a>(
    errs: &mut Vec<ValidationError>,
    kind: &'static str,
    names: impl Iterator<Item = &'a str>,
    mk: impl Fn(String) -> Item,
) -> HashSet<&'a str> {
    let mut seen = HashSet::new();
    for n in names {
        if n.is_empty() {
            errs.push(ValidationError::EmptyName { kind });
        } else if !seen.insert(n) {
            errs.push(ValidationError::DuplicateName {
                item: mk(n.to_string()),
            });
        }
    }
    seen
}

/// Checks a configuration; returns every problem found (empty: valid).
pub fn validate(cfg: &Config) -> Vec<ValidationError> {
    let mut errs = Vec::new();
    let scripts = check_names(
        &mut errs,
        "script",
        cfg.scripts.iter().map(|s| s.name.as_str()),
        Item::Script,
    );
    let instances = check_names(
        &mut errs,
        "instance",
        cfg.instances.iter().map(|s| s.name.as_str()),
        Item::Instance,
    );
    check_names(
        &mut errs,
        "sync group",
        cfg.sync_groups.iter().map(|s| s.name.as_str()),
        Item::SyncGroup,
    );
    check_names(
        &mut errs,
        "resource group",
        cfg.resource_groups.iter().map(|s| s.name.as_str()),
        Item::ResourceGroup,
    );
    let services = check_names(
        &mut errs,
        "virtual server",
        cfg.virtual_servers.iter().map(|s| s.name.as_str()),
        Item::VirtualServer,
    );

    for s in &cfg.scripts {
        let item = Item::Script(s.name.clone());
        check_weight(&mut errs, &item, "the script".into(), s.weight);
        if s.command.trim().is_empty() {
            errs.push(ValidationError::BadScript {
                item: item.clone(),
                reason: "empty command".into(),
            });
        }
        if s.interval_ms == 0 {
            errs.push(ValidationError::BadScript {
                item: item.clone(),
                reason: "interval must be > 0".into(),
            });
        }
        if s.rise == 0 || s.fall == 0 {
            errs.push(ValidationError::BadScript {
                item,
                reason: "rise and fall must be >= 1".into(),
            });
        }
    }

    // (interface, vrid, is_ipv6) -> instance name
    let mut vrids: HashMap<(&str, u16, bool), &str> = HashMap::new();
    let mut vip_owner: HashMap<(IpAddr, &str), &str> = HashMap::new();
    for inst in &cfg.instances {
        validate_instance(&mut errs, inst, &scripts);
        // An instance whose addresses are all resource steps (heartbeat's haresources)
        // advertises those.
        let step_addresses = cfg.resource_groups.iter().any(|r| {
            r.instance == inst.name
                && r.steps
                    .iter()
                    .any(|s| matches!(s, super::model::Step::Address { .. }))
        });
        if step_addresses {
            errs.retain(|e| {
                !matches!(e, ValidationError::NoVips { item: Item::Instance(n) } if *n == inst.name)
            });
        }
        if let Some(f) = &inst.fence
            && f.command.trim().is_empty() == f.argv.is_empty()
        {
            errs.push(ValidationError::BadScript {
                item: Item::Instance(inst.name.clone()),
                reason: "fence: give exactly one of `command` and `argv`".into(),
            });
        }
        // Each address once per interface across instances (within one instance, a repeated
        // address is the instance's own business and the readers report it).
        let mut own = HashSet::new();
        for v in inst.vips.iter().chain(&inst.excluded_vips) {
            let dev = v.dev.as_deref().unwrap_or(&inst.interface);
            if !own.insert((v.address, dev)) {
                continue;
            }
            if let Some(other) = vip_owner.insert((v.address, dev), &inst.name)
                && other != inst.name
            {
                errs.push(ValidationError::VipInTwoInstances {
                    item: Item::Instance(inst.name.clone()),
                    address: v.address,
                    interface: dev.to_string(),
                    other: other.to_string(),
                });
            }
        }
        let v6 = inst.vips.first().is_some_and(|v| v.address.is_ipv6());
        if let Some(other) = vrids.insert((inst.interface.as_str(), inst.vrid, v6), &inst.name) {
            errs.push(ValidationError::DuplicateVrid {
                item: Item::Instance(inst.name.clone()),
                interface: inst.interface.clone(),
                vrid: inst.vrid,
                other: other.to_string(),
            });
        }
    }

    let mut member_of: HashMap<&str, &str> = HashMap::new();
    for g in &cfg.sync_groups {
        let item = Item::SyncGroup(g.name.clone());
        for i in &g.instances {
            if !instances.contains(i.as_str()) {
                errs.push(ValidationError::UnknownReference {
                    item: item.clone(),
                    kind: "instance",
                    name: i.clone(),
                });
            } else if let Some(other) = member_of.insert(i, &g.name) {
                errs.push(ValidationError::InTwoSyncGroups {
                    item: item.clone(),
                    instance: i.clone(),
                    other: other.to_string(),
                });
            }
        }
    }

    for r in &cfg.resource_groups {
        let item = Item::ResourceGroup(r.name.clone());
        if !instances.contains(r.instance.as_str()) {
            errs.push(ValidationError::UnknownReference {
                item: item.clone(),
                kind: "instance",
                name: r.instance.clone(),
            });
        }
        for s in &r.steps {
            if let super::model::Step::VirtualServer { name } = s
                && !services.contains(name.as_str())
            {
                errs.push(ValidationError::UnknownReference {
                    item: item.clone(),
                    kind: "virtual server",
                    name: name.clone(),
                });
            }
        }
    }

    for vs in &cfg.virtual_servers {
        validate_vs(&mut errs, vs);
        for rs in &vs.real_servers {
            for c in &rs.checks {
                if let Some(name) = &c.track_file
                    && !cfg.track_files.iter().any(|t| &t.name == name)
                {
                    errs.push(ValidationError::BadCheck {
                        item: Item::VirtualServer(vs.name.clone()),
                        real_server: match rs.port {
                            Some(p) => std::net::SocketAddr::new(rs.address, p).to_string(),
                            None => rs.address.to_string(),
                        },
                        kind: c.kind.keepalived_name(),
                        reason: format!("track_file {name:?} is not defined"),
                    });
                }
            }
        }
    }
    validate_groups(&mut errs, cfg);
    if let Some(p) = cfg.global.realtime_priority
        && !(1..=99).contains(&p)
    {
        errs.push(ValidationError::BadGlobal {
            reason: format!("realtime priority {p} is outside 1..=99"),
        });
    }
    if let Some(m) = cfg.global.lvs_conn_reuse_mode
        && m > 2
    {
        errs.push(ValidationError::BadGlobal {
            reason: format!("lvs_conn_reuse_mode {m} is outside 0..=2"),
        });
    }
    if let Some(ssl) = &cfg.global.ssl
        && ssl.certificate.is_some() != ssl.key.is_some()
    {
        errs.push(ValidationError::BadGlobal {
            reason: "ssl: a client certificate needs both certificate and key".into(),
        });
    }
    if let Some(d) = &cfg.global.sync_daemon {
        let bad = |reason: String| ValidationError::BadGlobal { reason };
        if !instances.contains(d.instance.as_str()) {
            errs.push(bad(format!(
                "sync daemon: unknown instance {:?}",
                d.instance
            )));
        }
        if d.interface.is_empty() {
            errs.push(bad("sync daemon: empty interface".into()));
        }
        if d.id.is_some_and(|id| id > 255) {
            errs.push(bad(format!(
                "sync daemon: id {} is outside 0..=255",
                d.id.unwrap_or_default()
            )));
        }
        if d.ttl == Some(0) {
            errs.push(bad("sync daemon: ttl must be 1..=255".into()));
        }
    }
    validate_tracking(&mut errs, cfg);
    validate_pings(&mut errs, cfg);
    validate_bgp(&mut errs, cfg);
    errs
}

/// The `[bgp]` section, and the virtual servers that `announce`.
fn validate_bgp(errs: &mut Vec<ValidationError>, cfg: &Config) {
    for vs in cfg.virtual_servers.iter().filter(|v| v.announce) {
        let bad = |reason: &str| ValidationError::BadVirtualServer {
            item: Item::VirtualServer(vs.name.clone()),
            reason: reason.into(),
        };
        if cfg.bgp.is_none() {
            errs.push(bad(
                "announce = true needs a [bgp] section with the neighbours to announce to",
            ));
        }
        if vs.address.is_none() && vs.group.is_none() {
            errs.push(bad(
                "announce = true needs an address (a fwmark service has none to announce)",
            ));
        }
    }
    let Some(b) = &cfg.bgp else { return };
    let mut bad = |reason: String| errs.push(ValidationError::BadBgp { reason });
    if b.local_as == 0 {
        bad("local_as 0 is reserved (RFC 7607)".into());
    }
    if b.router_id.is_unspecified() {
        bad("router_id 0.0.0.0 is not a valid BGP identifier (RFC 6286)".into());
    }
    if matches!(b.hold_time_s, 1 | 2) {
        bad(format!(
            "hold_time_s {} is not allowed: 0 or at least 3 (RFC 4271 section 4.2)",
            b.hold_time_s
        ));
    }
    if b.connect_retry_s == 0 {
        bad("connect_retry_s must be at least 1".into());
    }
    if b.neighbors.is_empty() {
        bad("no neighbors: [[bgp.neighbors]] with address and peer_as".into());
    }
    let mut seen = HashSet::new();
    for n in &b.neighbors {
        let at = n.address;
        if !seen.insert(at) {
            bad(format!("neighbor {at} is listed twice"));
        }
        if n.peer_as == 0 {
            bad(format!("neighbor {at}: peer_as 0 is reserved (RFC 7607)"));
        }
        if n.address.is_unspecified() || n.address.is_multicast() {
            bad(format!("neighbor {at}: not a unicast address"));
        }
        if let Some(l) = n.local_address
            && l.is_ipv4() != at.is_ipv4()
        {
            bad(format!(
                "neighbor {at}: local_address {l} is of the other address family"
            ));
        }
        if n.bfd && !(10..=60_000).contains(&n.bfd_interval_ms) {
            bad(format!(
                "neighbor {at}: bfd_interval_ms {} is outside 10..=60000",
                n.bfd_interval_ms
            ));
        }
        if n.bfd && n.bfd_multiplier == 0 {
            bad(format!(
                "neighbor {at}: bfd_multiplier must be at least 1 (RFC 5880 section 4.1)"
            ));
        }
    }
}

/// Ping trackers and the references to them; the watchdog.
fn validate_pings(errs: &mut Vec<ValidationError>, cfg: &Config) {
    let pings = check_names(
        errs,
        "track ping",
        cfg.track_pings.iter().map(|p| p.name.as_str()),
        Item::TrackPing,
    );
    for p in &cfg.track_pings {
        let item = Item::TrackPing(p.name.clone());
        let mut bad = |reason: String| {
            errs.push(ValidationError::BadTracker {
                item: item.clone(),
                reason,
            })
        };
        if p.addresses.is_empty() {
            bad("no addresses to ping".into());
        }
        if let Some(a) = p
            .addresses
            .iter()
            .find(|a| a.is_unspecified() || a.is_multicast())
        {
            bad(format!("{a} cannot be pinged (unspecified or multicast)"));
        }
        if !(10..=3_600_000).contains(&p.interval_ms) {
            bad(format!(
                "interval_ms {} is outside 10..=3600000",
                p.interval_ms
            ));
        }
        if p.dead_ms() < p.interval_ms || p.dead_ms() > 86_400_000 {
            bad(format!(
                "dead_ms {} must be at least interval_ms {} (an answer must outlive the next echo) and at most a day",
                p.dead_ms(),
                p.interval_ms
            ));
        }
        check_weight(errs, &item, format!("ping {}", p.name), p.weight);
    }
    for i in &cfg.instances {
        let item = Item::Instance(i.name.clone());
        for r in &i.track_pings {
            if !pings.contains(r.name.as_str()) {
                errs.push(ValidationError::UnknownReference {
                    item: item.clone(),
                    kind: "track ping",
                    name: r.name.clone(),
                });
            }
            if let Some(w) = r.weight {
                check_weight(errs, &item, format!("tracked ping {}", r.name), w);
            }
        }
    }
    if let Some(w) = &cfg.global.watchdog {
        let bad = |reason: String| ValidationError::BadGlobal {
            reason: format!("watchdog {}: {reason}", w.device.display()),
        };
        if w.device.as_os_str().is_empty() {
            errs.push(bad("empty device path".into()));
        }
        if !(10..=3_600_000).contains(&w.interval_ms) {
            errs.push(bad(format!(
                "interval_ms {} is outside 10..=3600000",
                w.interval_ms
            )));
        }
        if let Some(t) = w.timeout_s
            && (t == 0 || u64::from(t) * 1000 <= w.interval_ms)
        {
            errs.push(bad(format!(
                "timeout_s {t} must be more than the feeding interval ({} ms), or the node reboots while running",
                w.interval_ms
            )));
        }
    }
}

/// Virtual server groups: unique names, at least one entry, no IPv4 and IPv6 mix (a fwmark
/// without family takes the group's), each used group defined; the global LVS settings.
fn validate_groups(errs: &mut Vec<ValidationError>, cfg: &Config) {
    let mut names = HashSet::new();
    for g in &cfg.virtual_server_groups {
        let bad = |reason: String| ValidationError::BadVirtualServer {
            item: Item::VirtualServerGroup(g.name.clone()),
            reason,
        };
        if !names.insert(g.name.as_str()) {
            errs.push(bad("defined twice".into()));
        }
        if g.entries.is_empty() {
            errs.push(bad("has no entries".into()));
        }
        let mut v4 = false;
        let mut v6 = false;
        for e in &g.entries {
            match e {
                GroupEntry::Range { first, .. } => {
                    v4 |= first.is_ipv4();
                    v6 |= first.is_ipv6();
                }
                GroupEntry::Fwmark { mark: 0, .. } => errs.push(bad("fwmark must be > 0".into())),
                GroupEntry::Fwmark { family, .. } => {
                    v4 |= *family == Some(super::model::Family::Inet);
                    v6 |= *family == Some(super::model::Family::Inet6);
                }
            }
        }
        if v4 && v6 {
            errs.push(bad(
                "mixes IPv4 and IPv6 (its services share one set of real servers)".into(),
            ));
        }
    }
    for vs in &cfg.virtual_servers {
        if let Some(g) = &vs.group
            && !names.contains(g.as_str())
        {
            errs.push(ValidationError::UnknownReference {
                item: Item::VirtualServer(vs.name.clone()),
                kind: "virtual server group",
                name: g.clone(),
            });
        }
    }
}

fn validate_instance(errs: &mut Vec<ValidationError>, inst: &Instance, scripts: &HashSet<&str>) {
    let item = Item::Instance(inst.name.clone());
    if !(1..=255).contains(&inst.vrid) {
        errs.push(ValidationError::VridOutOfRange {
            item: item.clone(),
            vrid: inst.vrid,
        });
    }
    if !(1..=255).contains(&inst.priority) {
        errs.push(ValidationError::PriorityOutOfRange {
            item: item.clone(),
            priority: inst.priority,
        });
    }
    match inst.version {
        // RFC 3768 §5.3.7: Adver Int in whole seconds, 8 bits, default 1.
        2 => {
            if !inst.advert_int_ms.is_multiple_of(1000)
                || !(1000..=255_000).contains(&inst.advert_int_ms)
            {
                errs.push(ValidationError::IntervalOutOfRange {
                    item: item.clone(),
                    version: 2,
                    interval_ms: inst.advert_int_ms,
                    allowed: "whole seconds 1..=255",
                });
            }
        }
        // RFC 5798 §5.2.7: Max Adver Int in centiseconds, 12 bits.
        3 => {
            if !inst.advert_int_ms.is_multiple_of(10)
                || !(10..=40_950).contains(&inst.advert_int_ms)
            {
                errs.push(ValidationError::IntervalOutOfRange {
                    item: item.clone(),
                    version: 3,
                    interval_ms: inst.advert_int_ms,
                    allowed: "centiseconds 10 ms..=40950 ms",
                });
            }
        }
        v => errs.push(ValidationError::BadVersion {
            item: item.clone(),
            version: v,
        }),
    }
    if inst.vips.is_empty() {
        errs.push(ValidationError::NoVips { item: item.clone() });
    }
    let addrs = inst
        .vips
        .iter()
        .map(|v| v.address)
        .chain(inst.unicast_peers.iter().copied());
    let mut first: Option<IpAddr> = None;
    for a in addrs.chain(inst.unicast_src_ip) {
        if inst.version == 2 && a.is_ipv6() {
            errs.push(ValidationError::V2RequiresIpv4 {
                item: item.clone(),
                address: a,
            });
            continue;
        }
        match first {
            None => first = Some(a),
            Some(f) if f.is_ipv4() != a.is_ipv4() => errs.push(ValidationError::MixedFamilies {
                item: item.clone(),
                first: f,
                address: a,
            }),
            Some(_) => {}
        }
    }
    if let Some(auth) = &inst.auth {
        if inst.version != 2 {
            errs.push(ValidationError::BadAuth {
                item: item.clone(),
                reason: "authentication was removed in VRRPv3 (RFC 5798 §9); remove it or use version 2",
            });
        }
        if auth.pass.is_empty() || auth.pass.len() > 8 {
            errs.push(ValidationError::BadAuth {
                item: item.clone(),
                reason: "auth pass must be 1..=8 bytes (RFC 3768 §5.3.10)",
            });
        }
    }
    if let Some(a) = &inst.advert_auth {
        if a.key.is_empty() {
            errs.push(ValidationError::BadAuth {
                item: item.clone(),
                reason: "advert_auth key must not be empty",
            });
        }
        if inst.auth.is_some() {
            errs.push(ValidationError::BadAuth {
                item: item.clone(),
                reason: "advert_auth (HMAC trailer) and VRRPv2 auth cannot be used together; keep one",
            });
        }
    }
    for (k, p) in inst.paths.iter().enumerate() {
        let bad = |reason: String| ValidationError::BadAdvertPath {
            item: item.clone(),
            path: k + 1,
            reason,
        };
        if p.interface.is_empty() {
            errs.push(bad("interface is empty".into()));
        }
        if p.interface == inst.interface
            || inst.paths[..k].iter().any(|o| o.interface == p.interface)
        {
            errs.push(bad(format!(
                "interface {} is already used by the instance or an earlier path",
                p.interface
            )));
        }
        if !p.unicast_peers.is_empty() && p.mcast_group.is_some() {
            errs.push(bad(
                "mcast_group is for multicast paths (no unicast_peers)".into()
            ));
        }
        if let Some(g) = p.mcast_group
            && !g.is_multicast()
        {
            errs.push(bad(format!("mcast_group {g} is not a multicast address")));
        }
        let family = first.map(|f| f.is_ipv4());
        for a in p.unicast_peers.iter().chain(&p.mcast_group) {
            if family.is_some_and(|v4| v4 != a.is_ipv4()) {
                errs.push(bad(format!(
                    "address {a} is not of the instance's address family"
                )));
            }
        }
    }
    check_timing(errs, &item, inst);
    if inst.nopreempt && inst.state != super::model::InitialState::Backup {
        errs.push(ValidationError::NopreemptNeedsBackup { item: item.clone() });
    }
    for t in &inst.track_interfaces {
        check_weight(
            errs,
            &item,
            format!("tracked interface {}", t.name),
            t.weight,
        );
    }
    for t in &inst.track_scripts {
        if !scripts.contains(t.name.as_str()) {
            errs.push(ValidationError::UnknownReference {
                item: item.clone(),
                kind: "script",
                name: t.name.clone(),
            });
        }
        if let Some(w) = t.weight {
            check_weight(errs, &item, format!("tracked script {}", t.name), w);
        }
    }
}

fn validate_vs(errs: &mut Vec<ValidationError>, vs: &VirtualServer) {
    let item = Item::VirtualServer(vs.name.clone());
    let bad = |reason: &str| ValidationError::BadVirtualServer {
        item: item.clone(),
        reason: reason.into(),
    };
    match (vs.address, vs.port, vs.fwmark) {
        (Some(_), Some(_), None) => {
            if vs.family.is_some() {
                errs.push(bad("family is only for fwmark services"));
            }
        }
        (None, None, Some(0)) => errs.push(bad("fwmark must be > 0")),
        (None, None, Some(_)) => {}
        (None, None, None) if vs.group.is_some() => {}
        _ => errs.push(bad("give either address and port, fwmark, or group")),
    }
    if vs.group.is_some() && (vs.address.is_some() || vs.fwmark.is_some()) {
        errs.push(bad("group replaces address, port and fwmark"));
    }
    let tunnels = std::iter::once((vs.tunnel, Some(vs.method), "virtual server".to_owned()))
        .chain(
            vs.sorry_server
                .iter()
                .map(|x| (x.tunnel, x.method, "sorry server".to_owned())),
        )
        .chain(
            vs.real_servers
                .iter()
                .map(|r| (r.tunnel, r.method, format!("real server {}", r.address))),
        );
    for (t, method, who) in tunnels {
        let Some(t) = t else { continue };
        if method.is_some_and(|m| m != super::model::Method::Tun) {
            errs.push(bad(&format!("{who}: tunnel options need method tun")));
        } else if let Err(why) = t.check() {
            errs.push(bad(&format!("{who}: {why}")));
        }
    }
    for f in &vs.sched_flags {
        if let Some(sch) = f.scheduler()
            && sch != vs.scheduler
        {
            errs.push(bad(&format!(
                "scheduler flag {} is only for the {sch} scheduler",
                f.keyword()
            )));
        }
    }
    if !KNOWN_SCHEDULERS.contains(&vs.scheduler.as_str()) {
        errs.push(ValidationError::UnknownScheduler {
            item: item.clone(),
            scheduler: vs.scheduler.clone(),
        });
    }
    if vs.hysteresis >= vs.quorum && vs.hysteresis > 0 {
        errs.push(bad("hysteresis must be smaller than quorum"));
    }
    if vs.delay_loop_ms == 0 {
        errs.push(bad("delay_loop must be > 0"));
    }
    if vs.port == Some(0) && vs.persistence_timeout_s.is_none() {
        errs.push(bad("port 0 (all ports) needs persistence"));
    }
    let family_v4 = vs
        .address
        .map(|a| a.is_ipv4())
        .or(vs.family.map(|f| f == super::model::Family::Inet));
    if let (Some(s), Some(v4)) = (&vs.sorry_server, family_v4)
        && s.address.is_ipv4() != v4
        && s.method.unwrap_or(vs.method) != super::model::Method::Tun
    {
        errs.push(bad("sorry server address family differs from the service"));
    }
    for rs in &vs.real_servers {
        let name = match rs.port {
            Some(p) => format!("{}", std::net::SocketAddr::new(rs.address, p)),
            None => rs.address.to_string(),
        };
        let bad_rs = |reason: String| ValidationError::BadRealServer {
            item: item.clone(),
            real_server: name.clone(),
            reason,
        };
        if let (Some(l), Some(u)) = (rs.lower_threshold, rs.upper_threshold)
            && u != 0
            && l > u
        {
            errs.push(bad_rs(format!("lthreshold {l} is above uthreshold {u}")));
        }
        if rs.weight > 65_535 {
            errs.push(bad_rs(format!("weight {} is outside 0..=65535", rs.weight)));
        }
        let method = rs.method.unwrap_or(vs.method);
        if let Some(v4) = family_v4
            && rs.address.is_ipv4() != v4
            && method != super::model::Method::Tun
        {
            errs.push(bad_rs(
                "address family differs from the service (only TUN may mix)".into(),
            ));
        }
        if vs.fwmark.is_some() && rs.port.is_some() && method == super::model::Method::Dr {
            // DR cannot change the port; harmless but misleading.
            errs.push(bad_rs(
                "a port on a real server of a DR fwmark service is never used".into(),
            ));
        }
        if method == super::model::Method::Dr
            && let (Some(vp), Some(rp)) = (vs.port, rs.port)
            && vp != rp
        {
            errs.push(bad_rs(format!("DR cannot translate port {vp} to {rp}")));
        }
        for c in &rs.checks {
            let kind = c.kind.keepalived_name();
            let mut bad_c = |reason: String| {
                errs.push(ValidationError::BadCheck {
                    item: item.clone(),
                    real_server: name.clone(),
                    kind,
                    reason,
                })
            };
            let http = matches!(c.kind, CheckKind::Http | CheckKind::Ssl);
            if http && c.urls.is_empty() {
                bad_c("needs at least one url".into());
            }
            if !http && (!c.urls.is_empty() || c.virtualhost.is_some()) {
                bad_c("url and virtualhost are only for HTTP_GET and SSL_GET".into());
            }
            for u in &c.urls {
                if !u.path.starts_with('/') {
                    bad_c(format!("url path {:?} must start with /", u.path));
                }
                if let Some(d) = &u.digest
                    && (d.len() != 32 || !d.bytes().all(|b| b.is_ascii_hexdigit()))
                {
                    bad_c(format!("digest {d:?} is not 32 hex digits (an MD5)"));
                }
                if let Some(r) = &u.regex {
                    if let Err(e) = regex::bytes::Regex::new(r) {
                        let why = e.to_string();
                        let why = why.lines().last().unwrap_or_default().trim();
                        bad_c(format!("url {:?}: regex {r:?}: {why}", u.path));
                    }
                } else if u.regex_no_match
                    || u.regex_min_offset.is_some()
                    || u.regex_max_offset.is_some()
                {
                    bad_c(format!(
                        "url {:?}: regex_no_match and regex offsets need a regex",
                        u.path
                    ));
                }
                if let (Some(min), Some(max)) = (u.regex_min_offset, u.regex_max_offset)
                    && min > max
                {
                    bad_c(format!(
                        "url {:?}: regex_min_offset {min} is above regex_max_offset {max}",
                        u.path
                    ));
                }
            }
            if c.kind == CheckKind::File && c.track_file.is_none() {
                bad_c("needs track_file".into());
            }
            if c.kind != CheckKind::File
                && (c.track_file.is_some() || c.track_file_weight.is_some() || c.track_file_reverse)
            {
                bad_c("track_file settings are only for FILE_CHECK".into());
            }
            if !http && c.http_protocol.is_some() {
                bad_c("http_protocol is only for HTTP_GET and SSL_GET".into());
            }
            if c.kind != CheckKind::Ssl && (c.enable_sni || c.sni_name.is_some()) {
                bad_c("enable_sni and sni_name are only for SSL_GET".into());
            }
            if c.kind != CheckKind::Dns && (c.dns_name.is_some() || c.dns_type.is_some()) {
                bad_c("type and name are only for DNS_CHECK".into());
            }
            if let Some(t) = &c.dns_type
                && !["A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA", "PTR"].contains(&t.as_str())
            {
                bad_c(format!(
                    "DNS type {t:?} is not one of A NS CNAME SOA MX TXT AAAA PTR"
                ));
            }
            // ldirectord's settings (httpmethod, simpletcp, dns receive, maintenancedir).
            if !http && c.http_method.is_some() {
                bad_c("http_method is only for HTTP_GET and SSL_GET".into());
            }
            if c.http_method == Some(super::model::HttpMethod::Head)
                && c.urls
                    .iter()
                    .any(|u| u.regex.is_some() || u.digest.is_some())
            {
                bad_c("http_method HEAD gets no body: regex and digest cannot match".into());
            }
            if c.kind != CheckKind::Tcp && (c.tcp_send.is_some() || c.tcp_expect.is_some()) {
                bad_c("tcp_send and tcp_expect are only for TCP_CHECK".into());
            }
            if c.kind != CheckKind::Dns && c.dns_expect.is_some() {
                bad_c("dns_expect is only for DNS_CHECK".into());
            }
            for (what, r) in [("tcp_expect", &c.tcp_expect), ("dns_expect", &c.dns_expect)] {
                if let Some(r) = r
                    && let Err(e) = regex::Regex::new(r)
                {
                    let why = e.to_string();
                    let why = why.lines().last().unwrap_or_default().trim().to_owned();
                    bad_c(format!("{what} {r:?}: {why}"));
                }
            }
            if (c.kind == CheckKind::Maintenance) != c.maintenance_dir.is_some() {
                bad_c("maintenance_dir is for, and needed by, a maintenance check".into());
            }
            if c.kind != CheckKind::Smtp && c.helo_name.is_some() {
                bad_c("helo_name is only for SMTP_CHECK".into());
            }
            if c.kind == CheckKind::Misc {
                if c.misc_path.as_deref().is_none_or(|p| p.trim().is_empty()) {
                    bad_c("needs misc_path".into());
                }
            } else if c.misc_path.is_some() || c.misc_timeout_ms.is_some() || c.misc_dynamic {
                bad_c("misc_path, misc_timeout and misc_dynamic are only for MISC_CHECK".into());
            }
            let udp = c.kind == CheckKind::Udp;
            if !udp
                && (c.udp_payload.is_some()
                    || c.udp_require_reply
                    || c.udp_reply.is_some()
                    || c.udp_min_reply_length.is_some()
                    || c.udp_max_reply_length.is_some())
            {
                bad_c("udp_* settings are only for UDP_CHECK".into());
            }
            if let Some(p) = &c.udp_payload
                && ha_healthcheck::parse_keepalived_hex(p, false).is_none()
            {
                bad_c(format!("udp_payload {p:?} is not hex digits"));
            }
            if let Some(r) = &c.udp_reply
                && ha_healthcheck::parse_keepalived_hex(r, true).is_none()
            {
                bad_c(format!(
                    "udp_reply {r:?} is not hex digits (x for any nibble)"
                ));
            }
            if c.udp_reply.is_none()
                && (c.udp_min_reply_length.is_some() || c.udp_max_reply_length.is_some())
            {
                bad_c(
                    "udp_min_reply_length and udp_max_reply_length need udp_reply (keepalived checks lengths only against reply data)"
                        .into(),
                );
            }
            if c.udp_min_reply_length.unwrap_or(0) > c.udp_max_reply_length.unwrap_or(255) {
                bad_c(
                    "udp_min_reply_length exceeds udp_max_reply_length (default 255): every reply would fail"
                        .into(),
                );
            }
            if c.kind == CheckKind::Ping && c.connect_port.is_some() {
                bad_c("an ICMP echo has no port: connect_port is not for PING_CHECK".into());
            }
            if matches!(c.kind, CheckKind::Ping | CheckKind::Misc) && c.bind_port.is_some() {
                bad_c("bind_port is not for PING_CHECK or MISC_CHECK".into());
            }
            if c.connect_timeout_ms == Some(0) || c.delay_loop_ms == Some(0) {
                bad_c("timeouts and delay_loop must be > 0".into());
            }
            if let Some(b) = c.bind_ip
                && b.is_ipv4() != c.connect_ip.unwrap_or(rs.address).is_ipv4()
            {
                bad_c("bind address family differs from the connect address".into());
            }
        }
    }
}

/// Every command line of a configuration with the item it belongs to: track scripts, notify
/// hooks, resource steps, quorum and real-server hooks, MISC_CHECK programs.
pub fn commands(cfg: &Config) -> Vec<(Item, &str)> {
    let mut out: Vec<(Item, &str)> = Vec::new();
    fn push_notify<'a>(out: &mut Vec<(Item, &'a str)>, item: &Item, n: &'a super::model::Notify) {
        for c in [&n.master, &n.backup, &n.fault, &n.stop, &n.any]
            .into_iter()
            .flatten()
        {
            out.push((item.clone(), c));
        }
    }
    for s in &cfg.scripts {
        out.push((Item::Script(s.name.clone()), &s.command));
    }
    for i in &cfg.instances {
        push_notify(&mut out, &Item::Instance(i.name.clone()), &i.notify);
    }
    for g in &cfg.sync_groups {
        push_notify(&mut out, &Item::SyncGroup(g.name.clone()), &g.notify);
    }
    for r in &cfg.resource_groups {
        for s in &r.steps {
            match s {
                super::model::Step::Script { start, stop, .. } => {
                    out.push((Item::ResourceGroup(r.name.clone()), start));
                    out.push((Item::ResourceGroup(r.name.clone()), stop));
                }
                super::model::Step::Program { path, .. } => {
                    out.push((Item::ResourceGroup(r.name.clone()), path));
                }
                _ => {}
            }
        }
    }
    for v in &cfg.virtual_servers {
        let item = Item::VirtualServer(v.name.clone());
        for c in [&v.quorum_up, &v.quorum_down].into_iter().flatten() {
            out.push((item.clone(), c));
        }
        for rs in &v.real_servers {
            for c in [&rs.notify_up, &rs.notify_down].into_iter().flatten() {
                out.push((item.clone(), c));
            }
            for c in rs.checks.iter().filter_map(|c| c.misc_path.as_deref()) {
                out.push((item.clone(), c));
            }
        }
    }
    out
}

/// Finds a program as `execvp` would: a name with a `/` as is, otherwise the first
/// executable file of that name in `PATH` (or the default path).
pub fn find_program(program: &str) -> Option<std::path::PathBuf> {
    if program.contains('/') {
        return Some(program.into());
    }
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Why `path` (a file, and every folder above it) could be modified by a user other than
/// root: writable by others, by a group other than root's, or by a non-root owner. A folder
/// with the sticky bit (like `/tmp`) does not let others replace what is in it, so its own
/// write bits are allowed. `Ok(())` for a secure path; a path that does not exist is not
/// reported (running it fails later).
pub fn script_insecurity(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let Ok(real) = std::fs::canonicalize(path) else {
        return Ok(());
    };
    let mut at: Option<&std::path::Path> = Some(&real);
    let mut first = true;
    while let Some(p) = at {
        let Ok(m) = std::fs::metadata(p) else {
            return Ok(());
        };
        let mode = m.mode();
        let sticky_dir = !first && mode & 0o1000 != 0;
        let what = if first { "the file" } else { "folder" };
        if !sticky_dir {
            if mode & 0o002 != 0 {
                return Err(format!("{what} {} is writable by others", p.display()));
            }
            if mode & 0o020 != 0 && m.gid() != 0 {
                return Err(format!(
                    "{what} {} is writable by group {}",
                    p.display(),
                    m.gid()
                ));
            }
            if mode & 0o200 != 0 && m.uid() != 0 {
                return Err(format!(
                    "{what} {} is owned and writable by user {}",
                    p.display(),
                    m.uid()
                ));
            }
        }
        first = false;
        at = p.parent();
    }
    Ok(())
}

/// keepalived's `enable_script_security`: every command's program must be modifiable by
/// root only ([`script_insecurity`]). Reads the file system; returns every refusal.
pub fn check_script_security(cfg: &Config) -> Vec<ValidationError> {
    let mut errs = Vec::new();
    for (item, command) in commands(cfg) {
        let Some(program) = command.split_whitespace().next() else {
            continue;
        };
        let Some(path) = find_program(program) else {
            continue;
        };
        if let Err(reason) = script_insecurity(&path) {
            errs.push(ValidationError::InsecureScript {
                item,
                path: path.display().to_string(),
                reason,
            });
        }
    }
    errs
}

/// Tracked files and processes, and the references to them (and to scripts and interfaces)
/// from instances and sync groups.
fn validate_tracking(errs: &mut Vec<ValidationError>, cfg: &Config) {
    let files = check_names(
        errs,
        "track file",
        cfg.track_files.iter().map(|f| f.name.as_str()),
        Item::TrackFile,
    );
    let processes = check_names(
        errs,
        "track process",
        cfg.track_processes.iter().map(|p| p.name.as_str()),
        Item::TrackProcess,
    );
    let scripts: HashSet<&str> = cfg.scripts.iter().map(|s| s.name.as_str()).collect();
    let weight_254 = |errs: &mut Vec<ValidationError>, item: &Item, what: &str, w: i32| {
        if !(-254..=254).contains(&w) {
            errs.push(ValidationError::BadTracker {
                item: item.clone(),
                reason: format!("weight {w} of {what} is outside -254..=254"),
            });
        }
    };
    for f in &cfg.track_files {
        let item = Item::TrackFile(f.name.clone());
        if f.path.trim().is_empty() {
            errs.push(ValidationError::BadTracker {
                item: item.clone(),
                reason: "empty path".into(),
            });
        }
        weight_254(errs, &item, "the file", f.weight);
    }
    for p in &cfg.track_processes {
        let item = Item::TrackProcess(p.name.clone());
        let bad = |reason: String| ValidationError::BadTracker {
            item: item.clone(),
            reason,
        };
        if p.process.is_empty() {
            errs.push(bad("empty process name".into()));
        }
        weight_254(errs, &item, "the process", p.weight);
        match p.quorum_max {
            Some(0) if p.quorum != 0 => errs.push(bad(
                "quorum_max 0 (up while none runs) needs quorum 0".into(),
            )),
            Some(m) if m < p.quorum => errs.push(bad(format!(
                "quorum {} is more than quorum_max {m}",
                p.quorum
            ))),
            None if p.quorum == 0 => {
                errs.push(bad("quorum 0 is only allowed with quorum_max 0".into()))
            }
            _ => {}
        }
        for (what, ms) in [
            ("fork_delay_ms", p.fork_delay_ms),
            ("terminate_delay_ms", p.terminate_delay_ms),
        ] {
            if ms > 3_600_000 {
                errs.push(bad(format!("{what} {ms} is more than an hour")));
            }
        }
    }
    let refs = |errs: &mut Vec<ValidationError>,
                item: &Item,
                kind: &'static str,
                known: &HashSet<&str>,
                list: &[super::model::TrackScriptRef]| {
        for r in list {
            if !known.contains(r.name.as_str()) {
                errs.push(ValidationError::UnknownReference {
                    item: item.clone(),
                    kind,
                    name: r.name.clone(),
                });
            }
            if let Some(w) = r.weight {
                if kind == "script" {
                    check_weight(errs, item, format!("tracked script {}", r.name), w);
                } else {
                    weight_254(errs, item, &format!("tracked {kind} {}", r.name), w);
                }
            }
        }
    };
    for i in &cfg.instances {
        let item = Item::Instance(i.name.clone());
        refs(errs, &item, "track file", &files, &i.track_files);
        refs(errs, &item, "track process", &processes, &i.track_processes);
    }
    for g in &cfg.sync_groups {
        let item = Item::SyncGroup(g.name.clone());
        for t in &g.track_interfaces {
            check_weight(
                errs,
                &item,
                format!("tracked interface {}", t.name),
                t.weight,
            );
        }
        refs(errs, &item, "script", &scripts, &g.track_scripts);
        refs(errs, &item, "track file", &files, &g.track_files);
        refs(errs, &item, "track process", &processes, &g.track_processes);
    }
}
