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
    /// Tracked files (keepalived `track_file`, old `vrrp_track_file`), referenced by name from
    /// instances and sync groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_files: Vec<TrackFile>,
    /// Tracked processes (keepalived `vrrp_track_process`), referenced by name from instances
    /// and sync groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_processes: Vec<TrackProcess>,
    /// Ping trackers (heartbeat `ping` / `ping_group`, ipfail's rule), referenced by name from
    /// instances' `track_pings`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_pings: Vec<TrackPing>,
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
    /// Virtual server groups (keepalived `virtual_server_group`), used by a virtual server's
    /// `group`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_server_groups: Vec<VirtualServerGroup>,
    /// The BGP speaker of active-active directors: the virtual servers with `announce` have
    /// their address announced to these neighbours while their quorum is up. No keepalived
    /// equivalent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp: Option<Bgp>,
}

/// The `[bgp]` section: this director's BGP speaker (announce-only: it learns no routes).
///
/// Every director of an active-active set announces the same virtual addresses; the upstream
/// router spreads the flows over them by ECMP, and BFD lets it drop a dead director within a
/// second instead of a hold time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bgp {
    /// This director's AS number (4-octet ASes are announced with RFC 6793).
    pub local_as: u32,
    /// The BGP identifier: an IPv4 address unique among the router's neighbours.
    pub router_id: std::net::Ipv4Addr,
    /// The hold time offered, seconds: 0 (no keepalives) or at least 3 (default 90). The
    /// session uses the smaller of both sides' offers.
    #[serde(
        default = "default_hold_time",
        skip_serializing_if = "is_default_hold_time"
    )]
    pub hold_time_s: u16,
    /// Seconds between attempts to connect to a neighbour (default 5).
    #[serde(
        default = "default_connect_retry",
        skip_serializing_if = "is_default_connect_retry"
    )]
    pub connect_retry_s: u32,
    /// On a stop, how long the director keeps serving after it withdrew its addresses,
    /// milliseconds, so that the flows the router moved away can finish (default 0).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub drain_ms: u64,
    /// The neighbours (usually the upstream routers).
    pub neighbors: Vec<BgpNeighbor>,
}

fn default_hold_time() -> u16 {
    90
}

fn is_default_hold_time(v: &u16) -> bool {
    *v == default_hold_time()
}

fn default_connect_retry() -> u32 {
    5
}

fn is_default_connect_retry(v: &u32) -> bool {
    *v == default_connect_retry()
}

/// One BGP neighbour of [`Bgp`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BgpNeighbor {
    /// The neighbour's address (directly connected: one hop).
    pub address: IpAddr,
    /// The neighbour's AS number (eBGP when it differs from `local_as`).
    pub peer_as: u32,
    /// The local address of the session and the next hop announced (default: the address the
    /// kernel picks to reach the neighbour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_address: Option<IpAddr>,
    /// Run BFD (RFC 5880/5881) with the neighbour: the neighbour drops a dead director after
    /// `bfd_multiplier` missed packets instead of the hold time, and a BFD failure resets the
    /// BGP session (RFC 5882).
    #[serde(default, skip_serializing_if = "is_false")]
    pub bfd: bool,
    /// The BFD transmit and receive interval asked for, milliseconds (default 100).
    #[serde(
        default = "default_bfd_interval",
        skip_serializing_if = "is_default_bfd_interval"
    )]
    pub bfd_interval_ms: u32,
    /// The BFD detection multiplier (default 3).
    #[serde(
        default = "default_bfd_multiplier",
        skip_serializing_if = "is_default_bfd_multiplier"
    )]
    pub bfd_multiplier: u8,
}

fn default_bfd_interval() -> u32 {
    100
}

fn is_default_bfd_interval(v: &u32) -> bool {
    *v == default_bfd_interval()
}

fn default_bfd_multiplier() -> u8 {
    3
}

fn is_default_bfd_multiplier(v: &u8) -> bool {
    *v == default_bfd_multiplier()
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
    /// The unix socket (mode 0600) `ha-director standby|takeover|auto` send their line to
    /// (heartbeat `hb_standby` / `hb_takeover`; default [`DEFAULT_CONTROL_SOCKET`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_socket: Option<std::path::PathBuf>,
    /// A group (name or number) whose members may use the status and control sockets besides
    /// root and the director's own user: both sockets are then mode 0660 with this group
    /// (otherwise 0600). Every connection's peer is checked too (`SO_PEERCRED`); others are
    /// refused and counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_group: Option<String>,
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
    /// The client side of SSL checks (keepalived's top-level `SSL { }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl: Option<SslClient>,
    /// Mail alerts (keepalived `smtp_server`, `notification_email`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<Smtp>,
    /// The command resource-group `service` steps run as `COMMAND start|stop NAME` (default
    /// `systemctl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_command: Option<String>,
    /// The kernel's IPVS connection timeouts, set at start (keepalived `lvs_timeouts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lvs_timeouts: Option<LvsTimeouts>,
    /// Set the kernel's `net.ipv4.vs.sloppy_tcp` at start: IPVS takes a TCP flow it has not
    /// seen start (a flow that another director of an active-active set began, moved here by
    /// ECMP). No keepalived equivalent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lvs_sloppy_tcp: Option<bool>,
    /// Set the kernel's `net.ipv4.vs.sloppy_sctp` at start (as `lvs_sloppy_tcp`, for SCTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lvs_sloppy_sctp: Option<bool>,
    /// Set the kernel's `net.ipv4.vs.conn_reuse_mode` at start (0, 1 or 2; the kernel's default
    /// is 1: a new connection reusing a port of an old one is rescheduled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lvs_conn_reuse_mode: Option<u8>,
    /// Empty the whole IPVS table at start (keepalived `lvs_flush`), so services left by
    /// anyone go.
    #[serde(default, skip_serializing_if = "is_false")]
    pub lvs_flush: bool,
    /// What a stop removes from IPVS (keepalived `lvs_flush_on_stop`); by default this
    /// director's own virtual servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lvs_flush_on_stop: Option<FlushOnStop>,
    /// Leave the kernel's IPVS alone: the virtual servers' health checks run and the status,
    /// metrics and status page show them, but no service is programmed (the operations are
    /// only logged) and no sync daemon runs. For a staging run, or a kernel without IPVS.
    /// `ipvs_dry_run = true` in `[global]` of a TOML file, or `ha-director run --ipvs-dry-run`
    /// for any format; off by default.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ipvs_dry_run: bool,
    /// Run the real servers' `notify_up` at start for those that start alive (keepalived
    /// `rs_init_notifies`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub rs_init_notifies: bool,
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
    /// Reload when the configuration file's modification time changes, as `run
    /// --watch-config` does (ldirectord `autoreload = yes`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub watch_config: bool,
    /// A hardware watchdog fed from the director's loop (heartbeat `watchdog`): a hung
    /// director stops feeding it and the node reboots; a clean stop disarms it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchdog: Option<Watchdog>,
}

/// A hardware watchdog device (heartbeat `watchdog /dev/watchdog`): opened at start (the
/// start fails if it cannot be), written to every `interval_ms` from the director's own event
/// loop, and closed with the magic `V` at a graceful stop (so a clean stop does not reboot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watchdog {
    /// The device, e.g. `/dev/watchdog`.
    pub device: std::path::PathBuf,
    /// How often it is fed, milliseconds (heartbeat feeds it every `keepalive`; default
    /// 1000). Must be below the device's timeout.
    #[serde(default = "default_watchdog_interval")]
    pub interval_ms: u64,
    /// The timeout set at start with `WDIOC_SETTIMEOUT`, seconds (default: the driver's own,
    /// 60 s for softdog).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u32>,
}

fn default_watchdog_interval() -> u64 {
    1000
}

/// Mail alerts through an SMTP relay, as keepalived sends them: a VRRP instance or sync group
/// changing state, a real server going up or down, a virtual server gaining or losing its
/// quorum. Each item's `smtp_alert` turns its mail on or off; these are the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    /// The relay (keepalived `smtp_server IP [PORT]`, port 25 by default).
    pub server: std::net::SocketAddr,
    /// The recipients (keepalived `notification_email`).
    pub to: Vec<String>,
    /// The sender (keepalived `notification_email_from`; default `keepalived@HOSTNAME`, as
    /// keepalived).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The `HELO` name (keepalived `smtp_helo_name`; default the host name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helo_name: Option<String>,
    /// Time allowed for the whole exchange, milliseconds (keepalived `smtp_connect_timeout`,
    /// default 30 s).
    #[serde(default = "default_smtp_timeout")]
    pub connect_timeout_ms: u64,
    /// Mail for instances and sync groups without their own `smtp_alert` (keepalived
    /// `smtp_alert_vrrp`, else `smtp_alert`; off by default).
    #[serde(default, skip_serializing_if = "is_false")]
    pub alert_vrrp: bool,
    /// Mail for virtual and real servers without their own `smtp_alert` (keepalived
    /// `smtp_alert_checker`, else `smtp_alert`); unset: virtual servers off, real servers on,
    /// as keepalived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_checker: Option<bool>,
    /// No mail about entering FAULT (keepalived `no_email_faults`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_email_faults: bool,
    /// Mail again every this many seconds while a real server stays down (ldirectord
    /// `emailalertfreq`; unset: one mail per change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_down_s: Option<u64>,
}

fn default_smtp_timeout() -> u64 {
    30_000
}

/// The kernel's IPVS connection timeouts in seconds (keepalived `lvs_timeouts tcp N tcpfin N
/// udp N`); one not given is left as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LvsTimeouts {
    /// Established TCP connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_s: Option<u32>,
    /// TCP connections after a FIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_fin_s: Option<u32>,
    /// UDP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp_s: Option<u32>,
}

/// keepalived `lvs_flush_on_stop [VS]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlushOnStop {
    /// Empty the whole IPVS table, whoever installed the services (`lvs_flush_on_stop`).
    All,
    /// Delete this director's virtual services, the kernel dropping their real servers with
    /// them (`lvs_flush_on_stop VS`; what this director does by default).
    Vs,
    /// Leave this director's virtual services and their real servers in IPVS as they are,
    /// so traffic goes on while it is stopped (ldirectord `cleanstop = no`).
    Keep,
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

/// Where the control socket is when `global.control_socket` is not set.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/ha-director/control.sock";

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

    /// The control socket's path: the configured one, or one beside the status socket named
    /// after it: `control.sock` for `status.sock` (so [`DEFAULT_CONTROL_SOCKET`] beside the
    /// default status socket), otherwise the status socket's name with `.control` before its
    /// extension (`lb1.sock` gives `lb1.control.sock`), so directors that share a folder
    /// never share a control socket.
    pub fn control_socket_path(&self) -> std::path::PathBuf {
        if let Some(p) = &self.control_socket {
            return p.clone();
        }
        let status = self.status_socket_path();
        let Some(name) = status.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            return DEFAULT_CONTROL_SOCKET.into();
        };
        let control = match name.rsplit_once('.') {
            Some(("status", ext)) => format!("control.{ext}"),
            Some((stem, ext)) if !stem.is_empty() => format!("{stem}.control.{ext}"),
            _ => format!("{name}.control"),
        };
        status.with_file_name(control)
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
    /// keepalived `weight W reverse`: the weight applies the other way round (subtracted while
    /// the script succeeds, or added while it fails; weight 0: FAULT while it succeeds).
    #[serde(default, skip_serializing_if = "is_false")]
    pub reverse: bool,
    /// The script counts as failed until it first succeeds (keepalived `init_fail`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub init_fail: bool,
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

/// A ping tracker (heartbeat `ping ADDR` and `ping_group NAME ADDR...`, with ipfail's rule):
/// each address gets an ICMP / ICMPv6 echo every `interval_ms`; the tracker is up while any
/// of them answered within the last `dead_ms`. While up, `weight` is added to the priority of
/// the instances tracking it (heartbeat's reader uses 2 per ping node or group, so the node
/// that reaches fewer of them has the lower priority and gives the resources up).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackPing {
    /// Name referenced by an instance's `track_pings`.
    pub name: String,
    /// The addresses pinged (IPv4 or IPv6; a `ping_group` has several).
    pub addresses: Vec<IpAddr>,
    /// Period between echoes to each address, milliseconds (default 1000).
    #[serde(default = "default_script_interval")]
    pub interval_ms: u64,
    /// How long after its last answer an address counts as unreachable, milliseconds
    /// (heartbeat `deadping`); 0 or absent: 3 x `interval_ms` (see [`TrackPing::dead_ms`]).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub dead_ms: u64,
    /// Priority change while up (> 0) or down (< 0); 0: FAULT while down. -253..=253. An
    /// instance's reference may override it and set `reverse`.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub weight: i32,
}

impl TrackPing {
    /// A tracker of `addresses` with `weight`, the default interval and dead time.
    pub fn new(name: impl Into<String>, addresses: Vec<IpAddr>, weight: i32) -> TrackPing {
        TrackPing {
            name: name.into(),
            addresses,
            interval_ms: default_script_interval(),
            dead_ms: 0,
            weight,
        }
    }

    /// The dead time in milliseconds: `dead_ms`, or 3 x `interval_ms` when it is 0.
    pub fn dead_ms(&self) -> u64 {
        if self.dead_ms == 0 {
            self.interval_ms.saturating_mul(3)
        } else {
            self.dead_ms
        }
    }
}

/// A tracked file (keepalived `track_file NAME { file PATH; weight W [reverse]; init_file
/// [VALUE] [overwrite] }`): the integer in the file times the weight is added to the priority
/// of the instances tracking it; with weight 0 a non-zero value puts them in FAULT; a product
/// below -253 puts them in FAULT. A missing file or one without an integer reads as 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackFile {
    /// Name referenced by `track_files`.
    pub name: String,
    /// The file's path.
    pub path: String,
    /// Multiplier of the file's value, -254..=254 (keepalived's default 1).
    #[serde(default = "one_i32", skip_serializing_if = "is_one_i32")]
    pub weight: i32,
    /// keepalived `reverse`: the product is negated (weight 0: a zero value is the FAULT).
    #[serde(default, skip_serializing_if = "is_false")]
    pub reverse: bool,
    /// Write the file at start (keepalived `init_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<TrackFileInit>,
}

/// keepalived `init_file [VALUE] [overwrite]`: the file is created holding `value` if it does
/// not exist (or, with `overwrite`, written at every start).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackFileInit {
    /// The value written (default 0).
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub value: i64,
    /// Write it even if the file exists (not on a reload).
    #[serde(default, skip_serializing_if = "is_false")]
    pub overwrite: bool,
}

fn one_i32() -> i32 {
    1
}
fn is_one_i32(v: &i32) -> bool {
    *v == 1
}
fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

/// How a tracked process's arguments are compared (keepalived `param_match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamMatch {
    /// The arguments are exactly `params` (keepalived's default).
    Exact,
    /// The arguments start with `params`.
    Partial,
    /// The arguments start with `params`, the last one only as a prefix.
    Initial,
}

/// A tracked process (keepalived `vrrp_track_process`): up while the number of matching
/// processes is within `quorum..=quorum_max`. Counted from `/proc` on every tracking round (see
/// the runtime's notes on `ProtectProc` and `hidepid`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackProcess {
    /// Name referenced by `track_processes`.
    pub name: String,
    /// The process name (the kernel's 15-byte `comm`), or `argv[0]` with `full_command`,
    /// `params` or `param_match`.
    pub process: String,
    /// Arguments to match (keepalived `process NAME PARAMS...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Vec<String>>,
    /// How arguments are compared (default `exact` when `params` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param_match: Option<ParamMatch>,
    /// Match `process` against `argv[0]` instead of the process name.
    #[serde(default, skip_serializing_if = "is_false")]
    pub full_command: bool,
    /// Priority change while up (> 0) or down (< 0); 0: FAULT while down. -254..=254.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub weight: i32,
    /// keepalived `reverse`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub reverse: bool,
    /// Fewest matching processes (default 1; 0 only with `quorum_max` 0).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub quorum: u32,
    /// Most matching processes (default: no limit; 0 means up while none runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_max: Option<u32>,
    /// How long quorum must be held before it counts, milliseconds (keepalived `fork_delay`,
    /// `delay`).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub fork_delay_ms: u64,
    /// How long quorum must be lost before it counts, milliseconds (keepalived
    /// `terminate_delay`, `delay`).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub terminate_delay_ms: u64,
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
    /// Tracked files (by name, [`Config::track_files`]) and optional weight overrides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_files: Vec<TrackScriptRef>,
    /// Tracked processes (by name, [`Config::track_processes`]) and optional weight overrides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_processes: Vec<TrackScriptRef>,
    /// Ping trackers (by name, [`Config::track_pings`]) and optional weight overrides; the
    /// weight adds to the priority while the tracker is up, like a script's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_pings: Vec<TrackScriptRef>,
    /// keepalived `dont_track_primary`: the instance's own interface going down does not put
    /// it in FAULT.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dont_track_primary: bool,
    /// Notify hooks.
    #[serde(default, skip_serializing_if = "Notify::is_empty")]
    pub notify: Notify,
    /// A master never answers a lower-priority advert with one of its own (RFC 9568 section
    /// 6.4.3's discard; keepalived `lower_prio_no_advert`, on in strict mode). Off: it answers
    /// at once, keepalived's default.
    #[serde(default, skip_serializing_if = "is_false")]
    pub lower_prio_no_advert: bool,
    /// A master that hears a better advert sends one of its own before it becomes backup
    /// (keepalived `higher_prio_send_advert`; off by default, as there). When two masters
    /// meet after a split, the one staying master then hears the other's lower priority and
    /// announces its addresses again, so clients move back at once.
    #[serde(default, skip_serializing_if = "is_false")]
    pub higher_prio_send_advert: bool,
    /// Mail its changes through `global.smtp` (keepalived `smtp_alert`); unset: `global.smtp.alert_vrrp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
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
    /// Fence the old master before taking over (heartbeat STONITH; no keepalived
    /// equivalent): the VIPs are added only once the command exits 0; if it fails the
    /// instance goes back to backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fence: Option<Fence>,
    /// heartbeat `deadtime`, milliseconds: the master is declared dead after exactly this
    /// long without an advert, instead of VRRP's 3 x advert interval + skew (a deliberate
    /// deviation from RFC 9568 section 6.1). Must be longer than `advert_int_ms`; under twice
    /// it is accepted with a note (one lost advert is then a takeover).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_interval_ms: Option<u64>,
    /// heartbeat `initdead`, milliseconds: the dead interval of the first wait after start
    /// (a node booting alone waits this long for its peer before taking over). Must be longer
    /// than `advert_int_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_dead_ms: Option<u64>,
    /// heartbeat `warntime`, milliseconds: a backup that has heard no advert from its master
    /// for this long logs `late advert: ...` once per silence, emits an event and counts it
    /// (status `late_adverts`, metric `ha_director_instance_late_adverts_total`). Must be
    /// shorter than the dead interval (or 3 x `advert_int_ms` without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_interval_ms: Option<u64>,
    /// HMAC-authenticated adverts between ha-directors (heartbeat `authkeys` `md5` / `sha1`):
    /// each advert carries a trailer with a sequence number and the HMAC, and adverts without
    /// a valid one are dropped and counted (`auth`, `replay`). Not plain VRRP any more: every
    /// peer needs the same key (`ha_vrrp_proto::wire::auth` documents the wire form). Not
    /// with VRRPv2 `auth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advert_auth: Option<AdvertAuth>,
    /// Redundant advert paths besides `interface` + `unicast_peers` / `mcast_group`
    /// (heartbeat's several `ucast` / `bcast` / `mcast` lines): adverts go out on every path
    /// and one heard on any path counts, so the peer is dead only when silent on all of them.
    /// A unicast peer that is one of this host's own addresses is skipped, here and in
    /// `unicast_peers` (one shared ha.cf names both nodes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<AdvertPath>,
}

/// The MAC of authenticated adverts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthAlgorithm {
    /// HMAC-MD5 (heartbeat `md5`).
    Md5,
    /// HMAC-SHA1 (heartbeat `sha1`).
    Sha1,
    /// HMAC-SHA256.
    Sha256,
}

/// The shared key of authenticated adverts (`[instances.advert_auth]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvertAuth {
    /// The MAC.
    pub algorithm: AuthAlgorithm,
    /// The key's number (heartbeat `auth N`), carried in each advert.
    pub key_id: u8,
    /// The secret (not empty).
    pub key: String,
}

/// One more advert path of an instance (`[[instances.paths]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvertPath {
    /// The interface (not the instance's own, nor another path's).
    pub interface: String,
    /// Unicast peers on it; empty: multicast.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unicast_peers: Vec<IpAddr>,
    /// The multicast group when there are no unicast peers (default: the RFC's group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcast_group: Option<IpAddr>,
}

impl Instance {
    /// An instance with keepalived's defaults: VRRPv3, state backup, priority 100, adverts
    /// every second, preemption, and no addresses, peers, tracking, scripts or heartbeat
    /// settings.
    pub fn new(name: impl Into<String>, interface: impl Into<String>, vrid: u16) -> Instance {
        Instance {
            name: name.into(),
            version: 3,
            state: InitialState::Backup,
            interface: interface.into(),
            vrid,
            priority: 100,
            advert_int_ms: 1000,
            vips: Vec::new(),
            excluded_vips: Vec::new(),
            unicast_src_ip: None,
            unicast_peers: Vec::new(),
            nopreempt: false,
            preempt_delay_ms: 0,
            auth: None,
            vmac: None,
            track_interfaces: Vec::new(),
            track_scripts: Vec::new(),
            track_files: Vec::new(),
            track_processes: Vec::new(),
            track_pings: Vec::new(),
            dont_track_primary: false,
            notify: Notify::default(),
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            smtp_alert: None,
            garp: Garp::default(),
            virtual_routes: Vec::new(),
            virtual_rules: Vec::new(),
            unicast_ttl: None,
            unicast_peer_ttl: Vec::new(),
            mcast_group: None,
            fence: None,
            advert_auth: None,
            paths: Vec::new(),
            dead_interval_ms: None,
            init_dead_ms: None,
            warn_interval_ms: None,
        }
    }
}

/// A fence command (heartbeat `stonith_host`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fence {
    /// The command line (split on white space, not run through a shell); or empty, with
    /// `argv` given.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub command: String,
    /// The program and its arguments exactly (for arguments with blanks, e.g. heartbeat's
    /// `stonith -p "PARAMS"`); exclusive with `command`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
    /// How long it may run, milliseconds (default: the director's command timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
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
    /// keepalived `weight W reverse`: subtracted while up / added while down (weight 0: FAULT
    /// while the link is up).
    #[serde(default, skip_serializing_if = "is_false")]
    pub reverse: bool,
}

/// A reference from an instance or a sync group to a named tracker: a [`TrackScript`], a
/// [`TrackFile`] or a [`TrackProcess`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackScriptRef {
    /// The tracker's name.
    pub name: String,
    /// Overrides the tracker's weight (scripts -253..=253, files and processes -254..=254).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// Overrides the tracker's `reverse` (keepalived `weight W reverse` / `noreverse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse: Option<bool>,
}

impl TrackScriptRef {
    /// A reference to `name` with the tracker's own weight.
    pub fn new(name: impl Into<String>) -> TrackScriptRef {
        TrackScriptRef {
            name: name.into(),
            weight: None,
            reverse: None,
        }
    }
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
    /// IPv4 broadcast address (`brd`; default: none, as `ip address add`).
    pub broadcast: Option<IpAddr>,
}

impl Vip {
    /// A host address (/32 or /128) on the instance's interface.
    pub fn host(address: IpAddr) -> Self {
        Self {
            address,
            prefix: if address.is_ipv4() { 32 } else { 128 },
            dev: None,
            label: None,
            broadcast: None,
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
            broadcast: None,
        };
        while let Some(w) = words.next() {
            let value = words
                .next()
                .ok_or_else(|| err(&format!("{w} needs a value")))?;
            match w {
                "dev" => vip.dev = Some(value.to_string()),
                "label" => vip.label = Some(value.to_string()),
                "brd" | "broadcast" => match value.parse::<IpAddr>() {
                    Ok(b) if b.is_ipv4() && address.is_ipv4() => vip.broadcast = Some(b),
                    _ => return Err(err("brd needs an IPv4 address, on an IPv4 address")),
                },
                _ => {
                    return Err(err(&format!(
                        "unsupported option {w:?} (dev, label and brd are)"
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
        if let Some(b) = &self.broadcast {
            write!(f, " brd {b}")?;
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
    /// Interfaces every member tracks (keepalived `track_interface` in the group). Unlike a
    /// member's own tracking, their weights apply whatever `tracking_weight` says, as in
    /// keepalived; a member with priority 255 makes them weight 0.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_interfaces: Vec<TrackInterface>,
    /// Scripts every member tracks (keepalived `track_script` in the group).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_scripts: Vec<TrackScriptRef>,
    /// Files every member tracks (keepalived `track_file` in the group).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_files: Vec<TrackScriptRef>,
    /// Processes every member tracks (keepalived `track_process` in the group).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_processes: Vec<TrackScriptRef>,
    /// Mail its changes through `global.smtp` (keepalived `smtp_alert`); unset: `global.smtp.alert_vrrp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
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
    /// Add an address and announce it (gratuitous ARP / unsolicited NA, on the instance's
    /// schedule, as its VIPs are); removed on release. `dev` defaults to the instance's
    /// interface.
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
        /// How long each may run, milliseconds (default: the director's command timeout).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// A service started and stopped with `global.service_command` (default `systemctl`):
    /// `systemctl start NAME` on acquire, `systemctl stop NAME` on release.
    Service {
        /// The service's name.
        name: String,
        /// How long each may run, milliseconds (default: the director's command timeout).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// A heartbeat / LSB style resource agent: `PATH ARGS... start` on acquire,
    /// `PATH ARGS... stop` on release (heartbeat's `haresources` `NAME::ARG::ARG`, found in
    /// `resource.d` or `/etc/init.d`).
    Program {
        /// The script.
        path: String,
        /// Its arguments, before `start` / `stop`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        args: Vec<String>,
        /// How long each may run, milliseconds (default: the director's command timeout).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// A file system mounted on acquire and unmounted on release (heartbeat's
    /// `Filesystem::DEVICE::DIRECTORY[::FSTYPE[::OPTIONS]]`); already mounted counts as
    /// started, a busy unmount kills the processes using it and tries once more.
    Filesystem {
        /// What is mounted (a device, `LABEL=`, `UUID=`, or `host:/path`).
        device: String,
        /// Where (absolute).
        directory: String,
        /// `mount -t` (default: detected by mount).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fstype: Option<String>,
        /// `mount -o`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        options: Option<String>,
        /// How long each may run, milliseconds (default: the director's command timeout).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// A DRBD resource made primary on acquire and secondary on release (heartbeat's
    /// `drbddisk::RESOURCE`, with `drbdadm`).
    Drbd {
        /// The DRBD resource (`all` for every one).
        resource: String,
        /// How long each may run, milliseconds (default: the director's command timeout).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// The preferred source address of the default route set on acquire and removed on
    /// release (heartbeat's `IPsrcaddr::ADDRESS`).
    SourceAddress {
        /// The address (held by an earlier step or the instance).
        address: IpAddr,
        /// How long each may run, milliseconds (default: the director's command timeout).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// Install a virtual server (by name) into IPVS: its services exist only while the
    /// instance is master (it holds its addresses); its checks keep running.
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
    /// Persistence netmask (clients in one mask share a real server): an IPv4 netmask, or
    /// for an IPv6 service the netmask of a prefix (`ffff:ffff:ffff:ffff::`; keepalived
    /// writes the prefix length, `64`).
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
    /// keepalived `ha_suspend`: the real servers' check results do not change the pool
    /// while no VRRP instance carrying the virtual address (as a VIP) is master; the last
    /// result of each applies when one becomes master. Not for fwmark services.
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
    /// Default `connect_timeout_ms` of its checks (keepalived sets it at virtual-server level).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_ms: Option<u64>,
    /// Default `retry` of its checks (keepalived sets it at virtual-server level).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<u32>,
    /// Default `delay_before_retry_ms` of its checks (keepalived sets it at virtual-server level).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_before_retry_ms: Option<u64>,
    /// Default `warmup_ms` of its checks (keepalived sets it at virtual-server level).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_ms: Option<u64>,
    /// Mail its quorum changes through `global.smtp` (keepalived `smtp_alert`); unset: `global.smtp.alert_checker`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
    /// The default of the real servers' `inhibit_on_failure` (keepalived's virtual-server
    /// level `inhibit_on_failure`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub inhibit_on_failure: bool,
    /// Scheduler flags (keepalived's `sh-port`, `sh-fallback`, `mh-port`, `mh-fallback`,
    /// `flag-1`, `flag-2`, `flag-3` keywords); `sh-*` only with `sh`, `mh-*` only with `mh`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sched_flags: Vec<SchedFlag>,
    /// One-packet scheduling: each UDP datagram is scheduled on its own (keepalived `ops`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub ops: bool,
    /// A [`VirtualServerGroup`] by name, instead of `address`/`port`/`fwmark`: one IPVS
    /// service per address (and fwmark) of the group, all with these real servers
    /// (keepalived `virtual_server group NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// IPVS persistence engine (keepalived `persistence_engine`; the kernel has `sip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_engine: Option<String>,
    /// Tunnel encapsulation with `method = "tun"` (keepalived `lvs_method TUN type ...`);
    /// also the default of its real servers that set no method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelOptions>,
    /// Announce the virtual address (each address of its `group`) as a host route to the
    /// `[bgp]` neighbours while the quorum is up; withdraw it while the quorum is down and
    /// first thing on a stop (active-active directors behind ECMP). No keepalived equivalent.
    #[serde(default, skip_serializing_if = "is_false")]
    pub announce: bool,
}

/// Tunnel encapsulation of a tunnelled (`tun`) server: keepalived's `lvs_method TUN [type
/// {ipip|gue port N|gre} [nocsum|csum|remcsum]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelOptions {
    /// The encapsulation (default IP in IP).
    #[serde(default, rename = "type")]
    pub kind: TunnelKind,
    /// The UDP port of a GUE tunnel (needed by GUE, refused by the others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The encapsulation checksum (GUE or GRE; `remcsum` GUE only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<TunnelChecksum>,
}

/// A tunnel's encapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelKind {
    /// IP in IP.
    #[default]
    Ipip,
    /// Generic UDP encapsulation.
    Gue,
    /// GRE.
    Gre,
}

/// A tunnel's checksum option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelChecksum {
    /// No checksum (the default).
    Nocsum,
    /// Checksum the encapsulation.
    Csum,
    /// Remote checksum offload (GUE).
    Remcsum,
}

impl TunnelOptions {
    /// Parses keepalived's words after `TUN` (`type gue port 6080 csum`).
    pub fn from_words(words: &[&str]) -> Result<TunnelOptions, String> {
        let mut t = TunnelOptions::default();
        let mut i = 0;
        while i < words.len() {
            match words[i] {
                "type" => {
                    t.kind = match words.get(i + 1) {
                        Some(&"ipip") => TunnelKind::Ipip,
                        Some(&"gue") => TunnelKind::Gue,
                        Some(&"gre") => TunnelKind::Gre,
                        other => return Err(format!("tunnel type {other:?}: ipip, gue or gre")),
                    };
                    i += 2;
                }
                "port" => {
                    t.port = Some(
                        words
                            .get(i + 1)
                            .and_then(|p| p.parse::<u16>().ok())
                            .filter(|p| *p > 0)
                            .ok_or_else(|| "port needs a number 1..=65535".to_owned())?,
                    );
                    i += 2;
                }
                "nocsum" | "csum" | "remcsum" => {
                    t.checksum = Some(match words[i] {
                        "csum" => TunnelChecksum::Csum,
                        "remcsum" => TunnelChecksum::Remcsum,
                        _ => TunnelChecksum::Nocsum,
                    });
                    i += 1;
                }
                other => return Err(format!("unknown tunnel option {other:?}")),
            }
        }
        t.check()?;
        Ok(t)
    }

    /// keepalived's rules: GUE needs a port and only GUE takes one; IPIP takes no checksum,
    /// GRE no remote checksum.
    pub fn check(&self) -> Result<(), String> {
        if (self.kind == TunnelKind::Gue) != self.port.is_some() {
            return Err("a gue tunnel needs a port, and only a gue tunnel takes one".into());
        }
        match (self.kind, self.checksum) {
            (TunnelKind::Ipip, Some(TunnelChecksum::Csum | TunnelChecksum::Remcsum)) => {
                Err("an ipip tunnel takes no checksum option".into())
            }
            (TunnelKind::Gre, Some(TunnelChecksum::Remcsum)) => {
                Err("a gre tunnel takes no remote checksum".into())
            }
            _ => Ok(()),
        }
    }
}

/// An IPVS scheduler flag (`IP_VS_SVC_F_SCHED1..3`) as keepalived names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SchedFlag {
    /// `sh`: hash the source port too (flag 2).
    ShPort,
    /// `sh`: skip an overloaded or weight-0 server (flag 1).
    ShFallback,
    /// `mh`: hash the source port too (flag 2).
    MhPort,
    /// `mh`: skip an overloaded or weight-0 server (flag 1).
    MhFallback,
    /// `IP_VS_SVC_F_SCHED1`.
    #[serde(rename = "flag-1")]
    Flag1,
    /// `IP_VS_SVC_F_SCHED2`.
    #[serde(rename = "flag-2")]
    Flag2,
    /// `IP_VS_SVC_F_SCHED3`.
    #[serde(rename = "flag-3")]
    Flag3,
}

impl SchedFlag {
    /// The keepalived keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::ShPort => "sh-port",
            Self::ShFallback => "sh-fallback",
            Self::MhPort => "mh-port",
            Self::MhFallback => "mh-fallback",
            Self::Flag1 => "flag-1",
            Self::Flag2 => "flag-2",
            Self::Flag3 => "flag-3",
        }
    }

    /// The flag of a keepalived keyword.
    pub fn from_keyword(k: &str) -> Option<SchedFlag> {
        [
            Self::ShPort,
            Self::ShFallback,
            Self::MhPort,
            Self::MhFallback,
            Self::Flag1,
            Self::Flag2,
            Self::Flag3,
        ]
        .into_iter()
        .find(|f| f.keyword() == k)
    }

    /// The scheduler it belongs to (`sh`, `mh`), or `None` for the generic flags.
    pub fn scheduler(self) -> Option<&'static str> {
        match self {
            Self::ShPort | Self::ShFallback => Some("sh"),
            Self::MhPort | Self::MhFallback => Some("mh"),
            _ => None,
        }
    }

    /// Its `IP_VS_SVC_F_SCHED` number, 1..=3.
    pub fn number(self) -> u8 {
        match self {
            Self::ShFallback | Self::MhFallback | Self::Flag1 => 1,
            Self::ShPort | Self::MhPort | Self::Flag2 => 2,
            Self::Flag3 => 3,
        }
    }
}

/// A group of virtual addresses (and fwmarks) that share one set of real servers (keepalived
/// `virtual_server_group NAME { ... }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualServerGroup {
    /// Unique name, used by a virtual server's `group`.
    pub name: String,
    /// The entries, in keepalived's syntax.
    pub entries: Vec<GroupEntry>,
}

/// The most addresses one range of a [`GroupEntry`] may span (a last octet's worth).
pub const GROUP_RANGE_MAX: u32 = 256;

/// One entry of a [`VirtualServerGroup`], written as keepalived does: `IP [PORT]`,
/// `IP-LAST [PORT]` (a range whose last IPv4 octet or IPv6 group runs to `LAST`),
/// `IP/PREFIX [PORT]` (every address of the prefix), or `fwmark N [inet|inet6]`. A missing
/// port is 0 (all ports, for a persistent service).
///
/// Serialized as that string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum GroupEntry {
    /// Addresses `first..=last` with a port.
    Range {
        /// The first address.
        first: IpAddr,
        /// The last address (equal to `first` for one address).
        last: IpAddr,
        /// The port.
        port: u16,
        /// The prefix length when written as `IP/PREFIX` (otherwise `IP` or `IP-LAST`).
        prefix: Option<u8>,
    },
    /// A firewall mark.
    Fwmark {
        /// The mark.
        mark: u32,
        /// Its family, when given.
        family: Option<Family>,
    },
}

impl GroupEntry {
    /// Every address of a range entry, in order (empty for a fwmark).
    pub fn addresses(&self) -> Vec<IpAddr> {
        match *self {
            GroupEntry::Fwmark { .. } => Vec::new(),
            GroupEntry::Range { first, last, .. } => match (first, last) {
                (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a)..=u32::from(b))
                    .map(|x| IpAddr::V4(x.into()))
                    .collect(),
                (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a)..=u128::from(b))
                    .map(|x| IpAddr::V6(x.into()))
                    .collect(),
                _ => Vec::new(),
            },
        }
    }
}

impl FromStr for GroupEntry {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let words: Vec<&str> = s.split_whitespace().collect();
        match words.as_slice() {
            ["fwmark", m, rest @ ..] => {
                let mark = m
                    .parse::<u32>()
                    .map_err(|_| format!("fwmark {m:?} is not a number"))?;
                let family = match rest {
                    [] => None,
                    ["inet"] => Some(Family::Inet),
                    ["inet6"] => Some(Family::Inet6),
                    _ => return Err(format!("after fwmark {m}: expected inet or inet6")),
                };
                Ok(GroupEntry::Fwmark { mark, family })
            }
            [addr, rest @ ..] if rest.len() <= 1 => {
                let port = match rest.first() {
                    None => 0,
                    Some(p) => p
                        .parse::<u16>()
                        .map_err(|_| format!("port {p:?} is not 0..=65535"))?,
                };
                let (first, last, prefix) = group_range(addr)?;
                Ok(GroupEntry::Range {
                    first,
                    last,
                    port,
                    prefix,
                })
            }
            _ => Err("expected IP[-LAST|/PREFIX] [PORT] or fwmark N [inet|inet6]".into()),
        }
    }
}

/// `IP`, `IP-LAST` or `IP/PREFIX` to (first, last, prefix).
fn group_range(text: &str) -> Result<(IpAddr, IpAddr, Option<u8>), String> {
    let bad_ip = |a: &str| format!("{a:?} is not an IP address");
    if let Some((a, p)) = text.split_once('/') {
        let first: IpAddr = a.parse().map_err(|_| bad_ip(a))?;
        let bits: u32 = if first.is_ipv4() { 32 } else { 128 };
        let prefix = p
            .parse::<u8>()
            .ok()
            .filter(|p| *p >= 1 && u32::from(*p) <= bits)
            .ok_or_else(|| format!("prefix {p:?} is not 1..={bits}"))?;
        let host_bits = bits - u32::from(prefix);
        if host_bits > GROUP_RANGE_MAX.ilog2() {
            return Err(format!(
                "/{prefix} spans more than {GROUP_RANGE_MAX} addresses (one IPVS service each)"
            ));
        }
        let span = (1u128 << host_bits) - 1;
        let last = match first {
            IpAddr::V4(v) if u128::from(u32::from(v)) & span == 0 => {
                IpAddr::V4((u32::from(v) | span as u32).into())
            }
            IpAddr::V6(v) if u128::from(v) & span == 0 => IpAddr::V6((u128::from(v) | span).into()),
            _ => return Err(format!("{text}: host bits set below the prefix")),
        };
        return Ok((first, last, Some(prefix)));
    }
    let Some((a, end)) = text.split_once('-') else {
        let ip: IpAddr = text.parse().map_err(|_| bad_ip(text))?;
        return Ok((ip, ip, None));
    };
    let first: IpAddr = a.parse().map_err(|_| bad_ip(a))?;
    let last = match first {
        IpAddr::V4(v) => {
            let n = end
                .parse::<u8>()
                .map_err(|_| format!("range end {end:?} is not a last octet 0..=255"))?;
            let o = v.octets();
            IpAddr::V4([o[0], o[1], o[2], n].into())
        }
        IpAddr::V6(v) => {
            let n = u16::from_str_radix(end, 16)
                .map_err(|_| format!("range end {end:?} is not a last IPv6 group (hex)"))?;
            let mut g = v.segments();
            g[7] = n;
            IpAddr::V6(g.into())
        }
    };
    if last < first {
        return Err(format!("range {text}: the end is below the start"));
    }
    Ok((first, last, None))
}

impl TryFrom<String> for GroupEntry {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<GroupEntry> for String {
    fn from(e: GroupEntry) -> String {
        e.to_string()
    }
}

impl fmt::Display for GroupEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupEntry::Fwmark { mark, family } => {
                write!(f, "fwmark {mark}")?;
                match family {
                    Some(Family::Inet) => f.write_str(" inet"),
                    Some(Family::Inet6) => f.write_str(" inet6"),
                    None => Ok(()),
                }
            }
            GroupEntry::Range {
                first,
                last,
                port,
                prefix,
            } => {
                match (prefix, last) {
                    (Some(p), _) => write!(f, "{first}/{p}")?,
                    (None, l) if l == first => write!(f, "{first}")?,
                    (None, IpAddr::V4(l)) => write!(f, "{first}-{}", l.octets()[3])?,
                    (None, IpAddr::V6(l)) => write!(f, "{first}-{:x}", l.segments()[7])?,
                }
                write!(f, " {port}")
            }
        }
    }
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
    /// Keep it in IPVS with weight 0 while not in use (keepalived `sorry_server_inhibit`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub inhibit: bool,
    /// Its forwarding method (keepalived `sorry_server_lvs_method`; default the service's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    /// Its tunnel encapsulation, with `method = "tun"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelOptions>,
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
    /// On failure set weight 0 instead of removing the server (keeps persistent sessions);
    /// unset: the virtual server's `inhibit_on_failure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inhibit_on_failure: Option<bool>,
    /// Run when the server comes up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_up: Option<String>,
    /// Run when the server goes down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_down: Option<String>,
    /// Health checks; all must pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    /// Default `delay_loop_ms` of its checks (before the virtual server's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_loop_ms: Option<u64>,
    /// Default `connect_timeout_ms` of its checks (before the virtual server's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_ms: Option<u64>,
    /// Default `retry` of its checks (before the virtual server's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<u32>,
    /// Default `delay_before_retry_ms` of its checks (before the virtual server's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_before_retry_ms: Option<u64>,
    /// Default `warmup_ms` of its checks (before the virtual server's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_ms: Option<u64>,
    /// Default `Host:` header of its HTTP/SSL checks (before the virtual server's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
    /// Mail its up/down changes through `global.smtp` (keepalived `smtp_alert`); unset: `global.smtp.alert_checker`, else on (keepalived's default for real servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
    /// Its forwarding method (keepalived real-server `lvs_method`; default the service's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    /// IPVS upper connection threshold: no new connections above it (keepalived
    /// `uthreshold`; 0 or unset: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_threshold: Option<u32>,
    /// IPVS lower connection threshold: new connections again below it (keepalived
    /// `lthreshold`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_threshold: Option<u32>,
    /// Starts down until its first check succeeds (keepalived's real-server `alpha`);
    /// unset: the virtual server's `alpha`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<bool>,
    /// Its tunnel encapsulation, with `method = "tun"` (default: the virtual server's when
    /// it sets no method).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelOptions>,
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
    /// The integer in a tracked file (keepalived `FILE_CHECK`).
    File,
    /// Down while a file naming the real server exists in `maintenance_dir` (ldirectord
    /// `maintenancedir`): `IP:PORT` or `IP` (an IPv6 address in brackets).
    Maintenance,
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
            Self::File => "FILE_CHECK",
            Self::Maintenance => "maintenancedir",
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
    /// Interface the check's socket is bound to (keepalived `bind_if`, `SO_BINDTODEVICE`);
    /// needed with an IPv6 link-local `bind_ip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_if: Option<String>,
    /// Firewall mark on the check's packets (keepalived `fwmark`, `SO_MARK`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    /// HTTP/SSL: request version and `Connection` header (keepalived `http_protocol`;
    /// default `1.0`, keepalived's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_protocol: Option<HttpProtocol>,
    /// SSL: send the server name in the handshake (keepalived `enable_sni`; off by default as
    /// in keepalived). The name is `sni_name`, else the URL's, the check's, the real server's
    /// or the virtual server's `virtualhost`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub enable_sni: bool,
    /// SSL: the name sent with `enable_sni` (keepalived `sni_name`; implies `enable_sni`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni_name: Option<String>,
    /// Log every failed attempt at warn, also those that retries absorb (keepalived
    /// `log_all_failures`); by default only the change to down is.
    #[serde(default, skip_serializing_if = "is_false")]
    pub log_all_failures: bool,
    /// FILE: the tracked file (a [`Config::track_files`] name) whose value checks the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_file: Option<String>,
    /// FILE: the multiplier of the file's value (default the tracked file's weight); 0: a
    /// non-zero value puts the server down, otherwise `value * weight` moves its weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_file_weight: Option<i32>,
    /// FILE: keepalived `weight W reverse` (with `track_file_weight`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub track_file_reverse: bool,
    /// HTTP/SSL: the request method (ldirectord `httpmethod`; default GET).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_method: Option<HttpMethod>,
    /// TCP: text sent once connected, the write side then shut (ldirectord `simpletcp`'s
    /// `request`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_send: Option<String>,
    /// TCP: a regular expression (the `regex` crate's syntax) one line of the reply must
    /// match (ldirectord `simpletcp`'s `receive`; empty: any line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_expect: Option<String>,
    /// DNS: a regular expression one answer must match, an A record's address or a PTR
    /// record's name as text (ldirectord `service = dns`'s `receive`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_expect: Option<String>,
    /// MAINTENANCE: the directory looked in (ldirectord `maintenancedir`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_dir: Option<std::path::PathBuf>,
}

/// The method of an HTTP/SSL check (ldirectord `httpmethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// `GET` (the default).
    #[default]
    Get,
    /// `HEAD`: the status only, no body (so no `regex` or `digest`).
    Head,
}

/// The HTTP request version of an HTTP/SSL check (keepalived `http_protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum HttpProtocol {
    /// `HTTP/1.0`, no `Connection` header (keepalived's default).
    #[default]
    #[serde(rename = "1.0")]
    Http10,
    /// `HTTP/1.0` with `Connection: close`.
    #[serde(rename = "1.0C")]
    Http10Close,
    /// `HTTP/1.1` with `Connection: close`.
    #[serde(rename = "1.1")]
    Http11,
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
            bind_if: None,
            fwmark: None,
            http_protocol: None,
            enable_sni: false,
            sni_name: None,
            log_all_failures: false,
            track_file: None,
            track_file_weight: None,
            track_file_reverse: false,
            http_method: None,
            tcp_send: None,
            tcp_expect: None,
            dns_expect: None,
            maintenance_dir: None,
        }
    }
}

/// One URL of an HTTP/SSL check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlCheck {
    /// Path (and query) to GET.
    pub path: String,
    /// Accepted status codes (default: any 2xx): one code (`200`), or codes and ranges as
    /// keepalived writes them (`"200-299 301"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<StatusCodes>,
    /// Expected MD5 of the body, 32 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// `Host:` header for this URL (keepalived's `virtualhost` inside `url`), before the
    /// check's, the real server's and the virtual server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
    /// A pattern the body must match, anywhere unless anchored, in the `regex` crate's syntax
    /// (keepalived `regex`, PCRE; its `regex_options` become inline flags such as `(?i)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// The check fails when the body matches `regex` (keepalived `regex_no_match`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub regex_no_match: bool,
    /// The earliest body offset a match may start at (keepalived `regex_min_offset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex_min_offset: Option<u32>,
    /// The latest body offset a match may start at (keepalived `regex_max_offset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex_max_offset: Option<u32>,
}

impl UrlCheck {
    /// A URL check of `path` with every option at its default.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            status_code: None,
            digest: None,
            virtualhost: None,
            regex: None,
            regex_no_match: false,
            regex_min_offset: None,
            regex_max_offset: None,
        }
    }
}

/// HTTP status codes and ranges, each `100..=999` (keepalived's `status_code` bounds).
///
/// Serialized as one integer when it is a single code, otherwise as keepalived writes it:
/// a string of codes and `MIN-MAX` ranges separated by spaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StatusCodesRepr", into = "StatusCodesRepr")]
pub struct StatusCodes(pub Vec<(u16, u16)>);

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StatusCodesRepr {
    One(u16),
    Text(String),
}

impl FromStr for StatusCodes {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut v = Vec::new();
        for item in s
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
        {
            let (a, b) = item.split_once('-').unwrap_or((item, item));
            let code = |t: &str| {
                t.parse::<u16>()
                    .ok()
                    .filter(|c| (100..=999).contains(c))
                    .ok_or_else(|| {
                        format!("{item:?} is not a status code 100..=999 or a range MIN-MAX")
                    })
            };
            let (min, max) = (code(a)?, code(b)?);
            if min > max {
                return Err(format!("range {item:?} is empty (min above max)"));
            }
            v.push((min, max));
        }
        if v.is_empty() {
            return Err("no status code".into());
        }
        Ok(StatusCodes(v))
    }
}

impl fmt::Display for StatusCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (a, b)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}

impl TryFrom<StatusCodesRepr> for StatusCodes {
    type Error = String;
    fn try_from(r: StatusCodesRepr) -> Result<Self, Self::Error> {
        match r {
            StatusCodesRepr::One(c) => c.to_string().parse(),
            StatusCodesRepr::Text(t) => t.parse(),
        }
    }
}

impl From<StatusCodes> for StatusCodesRepr {
    fn from(s: StatusCodes) -> Self {
        match s.0.as_slice() {
            [(a, b)] if a == b => StatusCodesRepr::One(*a),
            _ => StatusCodesRepr::Text(s.to_string()),
        }
    }
}

/// The client side of HTTPS checks (keepalived's top-level `SSL { }`): a client certificate
/// presented to servers that ask for one, and a CA to verify servers against.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SslClient {
    /// The client certificate chain, PEM (keepalived `certificate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<std::path::PathBuf>,
    /// Its private key, PEM, not encrypted (keepalived `key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<std::path::PathBuf>,
    /// Verify every SSL check's server certificate against this PEM CA file. keepalived's
    /// `ca` loads a file but never verifies, so the keepalived reader does not set this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_ca: Option<std::path::PathBuf>,
}
