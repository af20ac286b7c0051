//! The typed configuration model of `ha-director`.
//!
//! Every struct serializes to and from TOML (see [`super::toml_format`]) and is what the
//! keepalived.conf reader ([`super::keepalived`]) produces. Durations are integers with their
//! unit in the field name (`_ms`, `_s`) so that no float rounding can break a round trip.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}
fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}
fn is_zero_i32(v: &i32) -> bool {
    *v == 0
}
fn is_one(v: &u32) -> bool {
    *v == 1
}

/// The whole director configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Global settings (router id, script security).
    #[serde(default, skip_serializing_if = "Global::is_default")]
    pub global: Global,
    /// Tracking scripts (keepalived `vrrp_script`), referenced by name from instances.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<TrackScript>,
    /// VRRP instances (keepalived `vrrp_instance`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<Instance>,
    /// Sync groups: instances that change state together (keepalived `vrrp_sync_group`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_groups: Vec<SyncGroup>,
    /// Resource groups: ordered steps run when an instance becomes master (reverse order on
    /// release). No keepalived equivalent (heartbeat `haresources` style).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_groups: Vec<ResourceGroup>,
    /// IPVS virtual services with their real servers and health checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_servers: Vec<VirtualServer>,
}

/// Global settings (keepalived `global_defs`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    /// A name for this director (keepalived `router_id`), used in logs and notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    /// Refuse to run scripts that a non-root user could modify, and never run them as root
    /// unless `script_user` is root (keepalived `enable_script_security`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub script_security: bool,
    /// Default user scripts run as (keepalived `script_user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_user: Option<String>,
    /// Default group scripts run as (second argument of keepalived `script_user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_group: Option<String>,
    /// The unix socket `ha-director status` reads the JSON status from (default
    /// [`DEFAULT_STATUS_SOCKET`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_socket: Option<std::path::PathBuf>,
    /// Where the HTTP endpoint (`GET /metrics` in Prometheus text, `GET /status` in JSON)
    /// listens, e.g. `"127.0.0.1:9650"`; off when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The IPVS connection sync daemon (keepalived `lvs_sync_daemon`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_daemon: Option<SyncDaemon>,
    /// Run the VRRP loop on its own thread under `SCHED_FIFO` at this priority (1..=99), with
    /// memory locked (keepalived `vrrp_rt_priority` and `vrrp_no_swap`); needs CAP_SYS_NICE
    /// and CAP_IPC_LOCK or root. Off by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime_priority: Option<u8>,
    /// The gratuitous ARP / unsolicited NA schedule of every instance (keepalived's
    /// `vrrp_garp_master_*` and `vrrp_garp_lower_prio_*`); an instance's own `garp` overrides
    /// it field by field.
    #[serde(default, skip_serializing_if = "Garp::is_default")]
    pub garp: Garp,
    /// Minimum gap between two gratuitous ARPs on one interface, milliseconds (keepalived
    /// `vrrp_garp_interval`; default 0: not paced).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub garp_interval_ms: u64,
    /// Minimum gap between two unsolicited Neighbor Advertisements on one interface,
    /// milliseconds (keepalived `vrrp_gna_interval`; default 0: not paced).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub gna_interval_ms: u64,
    /// The IPv4 multicast group adverts go to and are received on (keepalived
    /// `vrrp_mcast_group4`; default 224.0.0.18).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcast_group4: Option<std::net::Ipv4Addr>,
    /// The IPv6 multicast group adverts go to and are received on (keepalived
    /// `vrrp_mcast_group6`; default ff02::12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcast_group6: Option<std::net::Ipv6Addr>,
    /// Wait this long after start before any instance takes part in VRRP, milliseconds
    /// (keepalived `vrrp_startup_delay`): adverts heard meanwhile are dropped, none are sent.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub startup_delay_ms: u64,
    /// Addresses set at start whatever the VRRP state and removed at stop (keepalived
    /// `static_ipaddress`); each names its device (`dev`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_addresses: Vec<Vip>,
    /// Routes set at start and removed at stop (keepalived `static_routes`), in the syntax of
    /// `virtual_routes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_routes: Vec<String>,
    /// Policy routing rules set at start and removed at stop (keepalived `static_rules`), in
    /// the syntax of `virtual_rules`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_rules: Vec<String>,
}

/// When gratuitous ARPs / unsolicited NAs go out for an instance's addresses (keepalived's
/// `garp_master_*` and `garp_lower_prio_*`). Unset fields take the global value, then
/// keepalived's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Garp {
    /// Delay of the second burst after becoming master, milliseconds; 0: no second burst
    /// (keepalived `garp_master_delay`, default 5 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_delay_ms: Option<u64>,
    /// Frames per address in each burst (keepalived `garp_master_repeat`, default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_repeat: Option<u32>,
    /// Period of refresh bursts while master, milliseconds; 0: none (keepalived
    /// `garp_master_refresh`, default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_refresh_ms: Option<u64>,
    /// Frames per address in each refresh burst (keepalived `garp_master_refresh_repeat`,
    /// default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_refresh_repeat: Option<u32>,
    /// Delay of the second burst after a lower-priority advert was heard while master,
    /// milliseconds (keepalived `garp_lower_prio_delay`; default: `master_delay_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_prio_delay_ms: Option<u64>,
    /// Frames per address sent when a lower-priority advert is heard while master; 0: none
    /// (keepalived `garp_lower_prio_repeat`; default: `master_repeat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_prio_repeat: Option<u32>,
}

impl Garp {
    /// Nothing set.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// `self`'s fields where set, `fallback`'s otherwise.
    pub fn or(&self, fallback: &Garp) -> Garp {
        Garp {
            master_delay_ms: self.master_delay_ms.or(fallback.master_delay_ms),
            master_repeat: self.master_repeat.or(fallback.master_repeat),
            master_refresh_ms: self.master_refresh_ms.or(fallback.master_refresh_ms),
            master_refresh_repeat: self
                .master_refresh_repeat
                .or(fallback.master_refresh_repeat),
            lower_prio_delay_ms: self.lower_prio_delay_ms.or(fallback.lower_prio_delay_ms),
            lower_prio_repeat: self.lower_prio_repeat.or(fallback.lower_prio_repeat),
        }
    }
}

/// Where the status socket is when `global.status_socket` is not set.
pub const DEFAULT_STATUS_SOCKET: &str = "/run/ha-director/status.sock";

impl Global {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The status socket's path (the configured one or [`DEFAULT_STATUS_SOCKET`]).
    pub fn status_socket_path(&self) -> std::path::PathBuf {
        self.status_socket
            .clone()
            .unwrap_or_else(|| DEFAULT_STATUS_SOCKET.into())
    }
}

/// The IPVS connection sync daemon (keepalived `lvs_sync_daemon INTERFACE INSTANCE [id N]
/// [maxlen N] [port N] [ttl N] [group IP]`): master while `instance` is master, backup
/// otherwise, so connections survive a failover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncDaemon {
    /// The interface the sync messages go out on and come in from.
    pub interface: String,
    /// The VRRP instance whose role the daemon follows.
    pub instance: String,
    /// Sync id, 0..=255 (default: the instance's VRID, as keepalived).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    /// Largest sync message payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxlen: Option<u16>,
    /// Multicast port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Multicast TTL, 1..=255.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    /// Multicast group (default 224.0.0.81).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<IpAddr>,
}

impl SyncDaemon {
    /// A sync daemon on `interface` following `instance`, with the kernel's defaults.
    pub fn new(interface: String, instance: String) -> SyncDaemon {
        SyncDaemon {
            interface,
            instance,
            id: None,
            maxlen: None,
            port: None,
            ttl: None,
            group: None,
        }
    }
}

/// A tracking script: run periodically, its exit status changes an instance's priority or
/// puts it into FAULT (keepalived `vrrp_script`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackScript {
    /// Name referenced by `track_scripts`.
    pub name: String,
    /// The command line (split on whitespace, not run through a shell).
    pub command: String,
    /// Period between runs, milliseconds.
    #[serde(default = "default_script_interval")]
    pub interval_ms: u64,
    /// Run time limit, milliseconds (default: the interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Priority change while the script succeeds (> 0) or fails (< 0); 0 means a failure
    /// puts the instance into FAULT. Range -253..=253.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub weight: i32,
    /// Successes needed before the script counts as OK.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub rise: u32,
    /// Failures needed before the script counts as failed.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub fall: u32,
    /// User to run as (default: `global.script_user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Group to run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

fn default_script_interval() -> u64 {
    1000
}
fn one() -> u32 {
    1
}

/// The state an instance starts in (keepalived `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitialState {
    /// Start as backup and wait for the master-down timer (the safe default).
    #[default]
    Backup,
    /// Start as master when the priority allows it.
    Master,
}

/// One VRRP instance (keepalived `vrrp_instance`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// Unique name.
    pub name: String,
    /// VRRP version: 2 (RFC 3768, IPv4 only) or 3 (RFC 5798).
    #[serde(default = "default_version")]
    pub version: u8,
    /// Start state.
    #[serde(default)]
    pub state: InitialState,
    /// Interface adverts are sent on.
    pub interface: String,
    /// Virtual router id, 1..=255.
    pub vrid: u16,
    /// Priority, 1..=255 (255: address owner).
    #[serde(default = "default_priority")]
    pub priority: u16,
    /// Advertisement interval, milliseconds: v2 whole seconds 1..=255 s, v3 centiseconds
    /// 10 ms..=40950 ms.
    #[serde(default = "default_advert_int")]
    pub advert_int_ms: u32,
    /// Virtual addresses carried in adverts, all of one family.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vips: Vec<Vip>,
    /// Extra addresses added on master but not carried in adverts
    /// (keepalived `virtual_ipaddress_excluded`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_vips: Vec<Vip>,
    /// Source address for adverts (default: the interface's primary address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unicast_src_ip: Option<IpAddr>,
    /// Send adverts by unicast to these peers instead of multicast.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unicast_peers: Vec<IpAddr>,
    /// Do not take over from a lower-priority master (needs `state = "backup"`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub nopreempt: bool,
    /// Wait this long after start before preempting, milliseconds.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub preempt_delay_ms: u64,
    /// VRRPv2 simple-text authentication (RFC 3768 §5.3.6.1); not allowed with v3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    /// Run on a VRRP virtual MAC interface of this name (keepalived `use_vmac`; keepalived's
    /// default name is `vrrp.<vrid>`): VIPs on it, adverts and ARP from
    /// 00:00:5e:00:01:<vrid>, so neighbours keep their caches across a failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmac: Option<String>,
    /// Interfaces whose link state is tracked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_interfaces: Vec<TrackInterface>,
    /// Tracking scripts (by name) and optional weight overrides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_scripts: Vec<TrackScriptRef>,
    /// Notify hooks.
    #[serde(default, skip_serializing_if = "Notify::is_empty")]
    pub notify: Notify,
    /// A master never answers a lower-priority advert with one of its own (RFC 9568 section
    /// 6.4.3's discard; keepalived `lower_prio_no_advert`, on in strict mode). Off: it answers
    /// at once, keepalived's default.
    #[serde(default, skip_serializing_if = "is_false")]
    pub lower_prio_no_advert: bool,
    /// This instance's gratuitous ARP / NA schedule (keepalived's per-instance `garp_*`);
    /// unset fields take `global.garp`'s.
    #[serde(default, skip_serializing_if = "Garp::is_default")]
    pub garp: Garp,
    /// Routes added on becoming master and removed on leaving it (keepalived
    /// `virtual_routes`), in keepalived's syntax (a subset of `ip route`: `[TYPE] PREFIX
    /// [from PREFIX] [src ADDR] [via ADDR] [dev IF] [onlink] [metric N] [table N] [scope S]
    /// [protocol N]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_routes: Vec<String>,
    /// Policy routing rules added on becoming master and removed on leaving it (keepalived
    /// `virtual_rules`), in keepalived's syntax (a subset of `ip rule`: `[inet|inet6] [not]
    /// [from PREFIX|all] [to PREFIX|all] [priority N] [table N | goto N | nop | blackhole |
    /// prohibit | unreachable] [fwmark N[/M]] [iif IF] [oif IF] [tos N] [protocol N]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_rules: Vec<String>,
    /// TTL / hop limit of unicast adverts (keepalived `unicast_ttl`, default 255). Adverts
    /// received from unicast peers are accepted whatever their TTL, as keepalived does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unicast_ttl: Option<u8>,
    /// TTL ranges adverts from unicast peers must arrive with (keepalived's `unicast_peer {
    /// ADDR min_ttl N max_ttl M }`); a peer not listed is accepted at any TTL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unicast_peer_ttl: Vec<PeerTtl>,
    /// The multicast group of this instance's adverts (keepalived `mcast_dst_ip`); default
    /// `global.mcast_group4` / `mcast_group6`, then the RFC's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcast_group: Option<IpAddr>,
}

/// The TTL range adverts from one unicast peer must arrive with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerTtl {
    /// The peer (one of `unicast_peers`).
    pub peer: IpAddr,
    /// Lowest TTL accepted (default 0).
    #[serde(default)]
    pub min_ttl: u8,
    /// Highest TTL accepted (default 255).
    #[serde(default = "ttl_max")]
    pub max_ttl: u8,
}

fn ttl_max() -> u8 {
    255
}

fn default_version() -> u8 {
    3
}
fn default_priority() -> u16 {
    100
}
fn default_advert_int() -> u32 {
    1000
}

/// VRRPv2 simple-text authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// The password, at most 8 bytes (RFC 3768 §5.3.10).
    pub pass: String,
}

/// A tracked interface: down means FAULT (weight 0) or a priority change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackInterface {
    /// Interface name.
    pub name: String,
    /// Priority change, -253..=253; 0 means FAULT while the link is down.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub weight: i32,
}

/// A reference from an instance to a [`TrackScript`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackScriptRef {
    /// Script name.
    pub name: String,
    /// Overrides the script's weight, -253..=253.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
}

/// Notify hooks: commands run on state changes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// Run on becoming master.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
    /// Run on becoming backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// Run on entering fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// Run on stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<String>,
    /// Run on any change with arguments `TYPE NAME STATE PRIORITY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<String>,
}

impl Notify {
    /// No hook set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A virtual address: `ADDR[/PREFIX] [dev IFNAME] [label LABEL]` (keepalived's syntax).
///
/// Serialized as that string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Vip {
    /// The address.
    pub address: IpAddr,
    /// Prefix length (default 32 or 128).
    pub prefix: u8,
    /// Interface to add it to (default: the instance's interface).
    pub dev: Option<String>,
    /// Address label.
    pub label: Option<String>,
}

impl Vip {
    /// A host address (/32 or /128) on the instance's interface.
    pub fn host(address: IpAddr) -> Self {
        Self {
            address,
            prefix: if address.is_ipv4() { 32 } else { 128 },
            dev: None,
            label: None,
        }
    }
}

/// Why a VIP string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad virtual address {text:?}: {reason}")]
pub struct VipParseError {
    /// The text.
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

impl FromStr for Vip {
    type Err = VipParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| VipParseError {
            text: s.to_string(),
            reason: reason.to_string(),
        };
        let mut words = s.split_whitespace();
        let first = words.next().ok_or_else(|| err("empty"))?;
        let (addr, prefix) = match first.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (first, None),
        };
        let address: IpAddr = addr.parse().map_err(|_| err("not an IP address"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err(err("bad prefix length")),
            },
            None => max,
        };
        let mut vip = Self {
            address,
            prefix,
            dev: None,
            label: None,
        };
        while let Some(w) = words.next() {
            let value = words
                .next()
                .ok_or_else(|| err(&format!("{w} needs a value")))?;
            match w {
                "dev" => vip.dev = Some(value.to_string()),
                "label" => vip.label = Some(value.to_string()),
                _ => {
                    return Err(err(&format!(
                        "unsupported option {w:?} (dev and label are)"
                    )));
                }
            }
        }
        Ok(vip)
    }
}

impl TryFrom<String> for Vip {
    type Error = VipParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Vip> for String {
    fn from(v: Vip) -> String {
        v.to_string()
    }
}

impl fmt::Display for Vip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)?;
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        if let Some(l) = &self.label {
            write!(f, " label {l}")?;
        }
        Ok(())
    }
}

/// Instances that change state together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncGroup {
    /// Unique name.
    pub name: String,
    /// Member instance names.
    pub instances: Vec<String>,
    /// Group notify hooks.
    #[serde(default, skip_serializing_if = "Notify::is_empty")]
    pub notify: Notify,
    /// keepalived `sync_group_tracking_weight`: the members' tracking weights apply. Without
    /// it (keepalived's default), a member's weighted tracked interface only puts it in fault
    /// (weight 0) and a weighted tracked script is not tracked at all, as keepalived does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tracking_weight: bool,
}

/// Ordered steps acquired on master (in order) and released on leaving master (reverse).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceGroup {
    /// Unique name.
    pub name: String,
    /// The instance whose mastership owns the resources.
    pub instance: String,
    /// The steps, in acquisition order.
    pub steps: Vec<Step>,
}

/// One resource step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Add an address (and announce it).
    Address {
        /// The address.
        address: Vip,
    },
    /// Run `start` on acquire and `stop` on release.
    Script {
        /// Acquire command.
        start: String,
        /// Release command.
        stop: String,
    },
    /// Install a virtual server (by name) into IPVS.
    VirtualServer {
        /// The virtual server's name.
        name: String,
    },
}

/// Transport protocol of a virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

/// IPVS forwarding method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Direct routing (LVS-DR): rewrite the MAC only.
    #[default]
    Dr,
    /// Masquerading (LVS-NAT).
    Nat,
    /// IP-in-IP tunnelling (LVS-TUN).
    Tun,
}

/// Address family of a fwmark service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4.
    #[default]
    Inet,
    /// IPv6.
    Inet6,
}

/// An IPVS virtual service: `address` + `port`, or `fwmark`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualServer {
    /// Unique name (the keepalived reader uses `ADDR:PORT` or `fwmark:N`).
    pub name: String,
    /// Virtual address (with `port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    /// Virtual port (0 with persistence means every port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Firewall mark (instead of address and port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    /// Family of a fwmark service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    /// Transport protocol.
    #[serde(default)]
    pub protocol: Protocol,
    /// IPVS scheduler name as the kernel knows it (`rr`, `wlc`, `mh`, ...).
    #[serde(default = "default_scheduler")]
    pub scheduler: String,
    /// Forwarding method.
    #[serde(default)]
    pub method: Method,
    /// Persistence timeout in seconds (client affinity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_timeout_s: Option<u32>,
    /// Persistence netmask (clients in one mask share a real server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_granularity: Option<IpAddr>,
    /// Minimum total weight of live real servers for the service to count as up.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub quorum: u32,
    /// Hysteresis around the quorum.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub hysteresis: u32,
    /// Run when quorum is gained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_up: Option<String>,
    /// Run when quorum is lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_down: Option<String>,
    /// Server used when no real server is alive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sorry_server: Option<SorryServer>,
    /// Default check period, milliseconds.
    #[serde(default = "default_delay_loop")]
    pub delay_loop_ms: u64,
    /// Only install the service while a VRRP instance holding its address is master.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ha_suspend: bool,
    /// Real servers start as down until their first check succeeds.
    #[serde(default, skip_serializing_if = "is_false")]
    pub alpha: bool,
    /// Remove all real servers on shutdown.
    #[serde(default, skip_serializing_if = "is_false")]
    pub omega: bool,
    /// Default `Host:` header for HTTP checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
    /// The real servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub real_servers: Vec<RealServer>,
}

fn default_scheduler() -> String {
    "wlc".to_string()
}
fn default_delay_loop() -> u64 {
    60_000
}

/// The fallback server of a virtual service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SorryServer {
    /// Address.
    pub address: IpAddr,
    /// Port (default: the service port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// A real server behind a virtual service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealServer {
    /// Address.
    pub address: IpAddr,
    /// Port (default: the service port; none for fwmark services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// IPVS weight, 0..=65535.
    #[serde(default = "one_u32")]
    pub weight: u32,
    /// On failure set weight 0 instead of removing the server (keeps persistent sessions).
    #[serde(default, skip_serializing_if = "is_false")]
    pub inhibit_on_failure: bool,
    /// Run when the server comes up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_up: Option<String>,
    /// Run when the server goes down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_down: Option<String>,
    /// Health checks; all must pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
}

fn one_u32() -> u32 {
    1
}

/// Kind of health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// TCP connect (keepalived `TCP_CHECK`).
    Tcp,
    /// HTTP GET (keepalived `HTTP_GET`).
    Http,
    /// HTTPS GET (keepalived `SSL_GET`).
    Ssl,
    /// DNS query (keepalived `DNS_CHECK`).
    Dns,
    /// SMTP greeting + HELO (keepalived `SMTP_CHECK`).
    Smtp,
    /// External command (keepalived `MISC_CHECK`).
    Misc,
    /// A UDP datagram, optionally a reply (keepalived `UDP_CHECK`).
    Udp,
    /// ICMP / ICMPv6 echo (keepalived `PING_CHECK`).
    Ping,
}

impl CheckKind {
    /// The keepalived block name.
    pub fn keepalived_name(self) -> &'static str {
        match self {
            Self::Tcp => "TCP_CHECK",
            Self::Http => "HTTP_GET",
            Self::Ssl => "SSL_GET",
            Self::Dns => "DNS_CHECK",
            Self::Smtp => "SMTP_CHECK",
            Self::Misc => "MISC_CHECK",
            Self::Udp => "UDP_CHECK",
            Self::Ping => "PING_CHECK",
        }
    }
}

/// A health check; kind-specific fields are rejected by validation on other kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// What to check.
    pub kind: CheckKind,
    /// Address to connect to (default: the real server's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ip: Option<IpAddr>,
    /// Port to connect to (default: the real server's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_port: Option<u16>,
    /// Source address (keepalived `bindto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_ip: Option<IpAddr>,
    /// Source port (keepalived `bind_port`); not for PING and MISC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_port: Option<u16>,
    /// Connect/answer time limit, milliseconds (default 5000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_ms: Option<u64>,
    /// Check period, milliseconds (default: the virtual server's `delay_loop_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_loop_ms: Option<u64>,
    /// Extra attempts before a failure counts (keepalived `retry`, old `nb_get_retry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<u32>,
    /// Wait between attempts, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_before_retry_ms: Option<u64>,
    /// Upper bound of the random delay before the first check, milliseconds (keepalived
    /// `warmup`; default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_ms: Option<u64>,
    /// HTTP/SSL: URLs to fetch; all must match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<UrlCheck>,
    /// HTTP/SSL: `Host:` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
    /// DNS: query type (default `SOA`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_type: Option<String>,
    /// DNS: query name (default `.`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    /// SMTP: HELO name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helo_name: Option<String>,
    /// MISC: command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misc_path: Option<String>,
    /// MISC: run time limit, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misc_timeout_ms: Option<u64>,
    /// MISC: exit code 2..=255 sets weight to code - 2.
    #[serde(default, skip_serializing_if = "is_false")]
    pub misc_dynamic: bool,
    /// UDP: the datagram to send, in keepalived's HEX_STR form (hex digit pairs; the reader
    /// writes them without spaces). Default: keepalived's 32 bytes of `"keepalived check - "`
    /// repeated ([`UDP_DEFAULT_PAYLOAD`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp_payload: Option<String>,
    /// UDP: a reply must come back within the timeout (keepalived `require_reply`); without
    /// it silence is success and only an ICMP error (port unreachable) fails the check.
    #[serde(default, skip_serializing_if = "is_false")]
    pub udp_require_reply: bool,
    /// UDP: what the reply must hold (keepalived `require_reply HEX_STR`; an `x` digit
    /// matches any nibble). Its first `min(reply length, length of this)` bytes are
    /// compared, as keepalived does. Implies `udp_require_reply`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp_reply: Option<String>,
    /// UDP: shortest reply accepted, bytes (keepalived `min_reply_length`, default 0); only
    /// with `udp_reply` (keepalived checks lengths only against reply data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp_min_reply_length: Option<u16>,
    /// UDP: longest reply accepted, bytes (keepalived `max_reply_length`, default 255); only
    /// with `udp_reply`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp_max_reply_length: Option<u16>,
}

/// What a UDP check sends when `udp_payload` is not set: keepalived 2.2.7's 32 bytes
/// (`set_buf` in `layer4.c`).
pub const UDP_DEFAULT_PAYLOAD: &[u8; 32] = b"keepalived check - keepalived ch";

impl Check {
    /// A check of `kind` with every parameter at its default.
    pub fn new(kind: CheckKind) -> Self {
        Self {
            kind,
            connect_ip: None,
            connect_port: None,
            bind_ip: None,
            connect_timeout_ms: None,
            delay_loop_ms: None,
            retry: None,
            delay_before_retry_ms: None,
            urls: Vec::new(),
            virtualhost: None,
            dns_type: None,
            dns_name: None,
            helo_name: None,
            misc_path: None,
            misc_timeout_ms: None,
            misc_dynamic: false,
            bind_port: None,
            warmup_ms: None,
            udp_payload: None,
            udp_require_reply: false,
            udp_reply: None,
            udp_min_reply_length: None,
            udp_max_reply_length: None,
        }
    }
}

/// One URL of an HTTP/SSL check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlCheck {
    /// Path (and query) to GET.
    pub path: String,
    /// Expected status (default: any 2xx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Expected MD5 of the body, 32 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}
