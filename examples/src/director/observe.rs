//! Observability of a running director: the JSON status ([`status_json`]) served on a unix
//! socket ([`serve_unix`]: a client connects, reads the JSON, the server closes) and on
//! HTTP `GET /status`, and Prometheus metrics ([`metrics_text`]) on HTTP `GET /metrics`
//! ([`serve_http`], hyper 1), and a status page on HTTP `GET /` ([`super::status_page`]).
//! All ask the director's loop for a [`Status`] (built for the request, or reused for up to
//! [`STATUS_REUSE`](ha_failover::runtime::status::STATUS_REUSE)); formatting it happens off
//! the loop.
//!
//! ## Metric names
//! Two sets, served together on one endpoint:
//! - ours, `ha_director_*`: everything the status has (states as a number and as one gauge
//!   per state, priorities, adverts, drops by `reason`, real servers, checks, IPVS
//!   operations, lateness), plus `ha_director_build_info{version,arch,os} 1`;
//! - the compatible ones ([`super::metrics_compat`]): the keepalived exporters'
//!   `keepalived_*` series and node_exporter's `node_ipvs_*`, under their own names and
//!   labels, so that dashboards and alerts made for keepalived and IPVS read a director
//!   unchanged. Where the two overlap, ours stays the reference and the compatible series
//!   carry the same value.
//!
//! Labels: an instance is `iname` (its name), `intf` (its interface) and `vrid`, as in the
//! keepalived exporters. No label is called `instance`: Prometheus sets that one itself
//! (the scrape target) and renames a series' own to `exported_instance`.
//!
//! And the control socket ([`serve_control`], heartbeat `hb_standby` / `hb_takeover`): a
//! client sends one line, `standby [INSTANCE]`, `takeover [INSTANCE]` or `auto [INSTANCE]`
//! (no instance: every instance), and gets one JSON line back: `{"ok":true,"mode":...,
//! "instances":[...]}` or `{"ok":false,"error":...}`. A line longer than
//! [`MAX_CONTROL_LINE`] bytes, not UTF-8, or not of that form gets an error reply.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ha_failover::core::AdminMode;
use ha_failover::runtime::director::{AdminError, AdminRequest};
use ha_failover::runtime::status::{
    IpvsDestinationStatus, IpvsServiceStatus, IpvsStatus, MemberStatus, PoolStatus, Status,
    StatusReader,
};
use ha_failover::vrrp::DropReason;
use ha_failover::vrrp::router::State;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// A VRRP state as the status and metrics write it.
pub fn state_name(s: State) -> &'static str {
    match s {
        State::Initialize => "INIT",
        State::Backup => "BACKUP",
        State::Master => "MASTER",
        State::Fault => "FAULT",
    }
}

/// A VRRP state as a number (metric `ha_director_instance_state_code`): 0 init, 1 backup,
/// 2 master, 3 fault.
pub fn state_code(s: State) -> i64 {
    match s {
        State::Initialize => 0,
        State::Backup => 1,
        State::Master => 2,
        State::Fault => 3,
    }
}

/// The status as JSON: every instance's state, priority, master and counters, every pool's
/// members and their checks, the runtime's counters, drops by reason, IPVS and lateness.
///
/// Written as it is serialized: the parts that grow with the real servers (the pools'
/// members, the IPVS services' destinations) are built one element at a time and dropped once
/// written, so that a status request does not hold a tree of every real server. (Held whole,
/// that tree was 23 MiB at 10,000 real servers, for a document of about 3 MiB.) The keys come
/// out sorted, as before. `serde_json::to_value` gives the tree when one is wanted.
pub fn status_json(s: &Status) -> StatusJson<'_> {
    StatusJson(s)
}

/// The status document of [`status_json`], as text (one line).
pub fn status_text(s: &Status) -> String {
    serde_json::to_string(&status_json(s)).unwrap_or_else(|e| control_error(e).to_string())
}

/// See [`status_json`].
pub struct StatusJson<'a>(&'a Status);

impl serde::Serialize for StatusJson<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let s = self.0;
        let fields = object(status_fields(s));
        let mut m = ser.serialize_map(Some(fields.len()))?;
        for (k, v) in &fields {
            match k.as_str() {
                "pools" => m.serialize_entry(k, &Each(&s.pools, pool_json))?,
                "ipvs" => m.serialize_entry(
                    k,
                    &WithLazy::new(
                        ipvs_fields(&s.ipvs),
                        "services",
                        Each(&s.ipvs.services, service_json),
                    ),
                )?,
                _ => m.serialize_entry(k, v)?,
            }
        }
        m.end()
    }
}

/// A JSON array of `f` of each element, each built when it is written.
struct Each<'a, T, R>(&'a [T], fn(&'a T) -> R);

impl<'a, T, R: serde::Serialize> serde::Serialize for Each<'a, T, R> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_seq(self.0.iter().map(self.1))
    }
}

/// A JSON object: `fields` (sorted, as serde_json keeps them), with `lazy` as the value of
/// `key` (which `fields` holds as a placeholder).
struct WithLazy<L> {
    fields: serde_json::Map<String, Value>,
    key: &'static str,
    lazy: L,
}

impl<L> WithLazy<L> {
    /// The object `value` (built with `json!`, `key` in it as a placeholder) with `lazy` for
    /// `key`.
    fn new(value: Value, key: &'static str, lazy: L) -> Self {
        WithLazy {
            fields: object(value),
            key,
            lazy,
        }
    }
}

/// The fields of `value`, an object built with `json!` (anything else has none).
fn object(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(fields) => fields,
        _ => serde_json::Map::new(),
    }
}

impl<L: serde::Serialize> serde::Serialize for WithLazy<L> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = ser.serialize_map(Some(self.fields.len()))?;
        for (k, v) in &self.fields {
            if k == self.key {
                m.serialize_entry(k, &self.lazy)?;
            } else {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

/// One pool: its members written one by one.
fn pool_json(p: &PoolStatus) -> WithLazy<Each<'_, MemberStatus, Value>> {
    let fields = json!({
        "name": p.name,
        "service": p.service,
        "quorum_up": p.quorum_up,
        "sorry_active": p.sorry_active,
        "members": null,
    });
    WithLazy::new(fields, "members", Each(&p.members, member_json))
}

/// One real server of a pool, with its checks.
fn member_json(m: &MemberStatus) -> Value {
    json!({
        "address": m.address.to_string(),
        "weight": m.weight,
        "alive": m.alive,
        "down_reason": down_reason(m),
        "checks": m.checks.iter().map(|c| json!({
            "kind": c.kind,
            "up": c.up,
            "last_failure": c.last_failure,
            "runs": c.runs,
        })).collect::<Vec<_>>(),
    })
}

/// The IPVS part but its services (a placeholder).
fn ipvs_fields(i: &IpvsStatus) -> Value {
    json!({
        "enabled": i.enabled,
        "ops_applied": i.ops_applied,
        "ops_failed": i.ops_failed,
        "last_error": i.last_error,
        "sync_daemon": i.sync_daemon,
        "stats_error": i.stats_error,
        "services": null,
    })
}

/// One IPVS service: its destinations written one by one.
fn service_json(v: &IpvsServiceStatus) -> WithLazy<Each<'_, IpvsDestinationStatus, Value>> {
    let fields = json!({
        "service": v.key.to_string(),
        "stats": stats_json(&v.stats),
        "destinations": null,
    });
    WithLazy::new(
        fields,
        "destinations",
        Each(&v.destinations, destination_json),
    )
}

/// One IPVS destination.
fn destination_json(d: &IpvsDestinationStatus) -> Value {
    json!({
        "address": d.addr.to_string(),
        "weight": d.weight,
        "active_conns": d.active_conns,
        "inactive_conns": d.inactive_conns,
        "stats": stats_json(&d.stats),
    })
}

/// Everything of the status but the pools and the IPVS part (placeholders, see
/// [`StatusJson`]).
fn status_fields(s: &Status) -> Value {
    let instances: Vec<Value> = s
        .instances
        .iter()
        .map(|i| {
            json!({
                "name": i.name,
                "interface": i.interface,
                "vrid": i.vrid,
                "version": i.version,
                "state": state_name(i.state),
                "priority": i.priority,
                "base_priority": i.base_priority,
                "master": i.master.map(|m| m.to_string()),
                "holds_vips": i.holds_vips,
                "vips": i.vips.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "transitions": i.transitions,
                "adverts_sent": i.adverts_sent,
                "adverts_received": i.adverts_received,
                "priority_zero_sent": i.priority_zero_sent,
                "priority_zero_received": i.priority_zero_received,
                "drops": i.drops.iter().map(|(r, n)| (r.as_str().to_owned(), json!(n))).collect::<serde_json::Map<_, _>>(),
                "paths": i.paths.iter().map(|p| json!({
                    "interface": p.interface,
                    "adverts_received": p.adverts_received,
                    "last_heard_ago_ms": p.last_heard_ago.map(|d| d.as_millis() as u64),
                    "silent": p.silent,
                })).collect::<Vec<_>>(),
                "admin": { "mode": i.admin, "reason": i.admin_reason },
                "late_adverts": i.late_adverts,
                "last_transition_unix": i.last_transition.and_then(unix_seconds),
                "became_master": i.became_master,
                "released_master": i.released_master,
            })
        })
        .collect();
    let c = &s.counters;
    let taken = unix_seconds(s.taken).unwrap_or(0.0);
    let (applied, refused, last_error) = RELOADS.snapshot();
    json!({
        "taken_unix": taken,
        "uptime_s": s.uptime.as_secs_f64(),
        "instances": instances,
        "sockets": SOCKETS
            .rows()
            .iter()
            .map(|(socket, result, n)| json!({ "socket": socket, "result": result, "count": n }))
            .collect::<Vec<_>>(),
        "reloads": { "applied": applied, "refused": refused, "last_error": last_error },
        "pools": null,
        "counters": {
            "sent": c.sent,
            "send_errors": c.send_errors,
            "received": c.received,
            "dropped": c.dropped,
            "rescued": c.late.rescued,
            "notified": c.notified,
            "fences": c.fences,
            "steps": c.steps,
            "track_checks": c.track_checks,
            "track_failures": c.track_failures,
            "script_errors": c.script_errors,
        },
        "drops": s.drops.iter().map(|(r, n)| (r.as_str().to_owned(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "ipvs": null,
        "checks": {
            "up": s.checks.up,
            "down": s.checks.down,
            "changes": s.checks.changes,
            "lost": s.checks.lost,
        },
        "pings": s.pings.iter().map(|p| json!({
            "name": p.name,
            "up": p.up,
            "addresses": p.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "answering": p.answering.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "watchdog": s.watchdog.as_ref().map(|w| json!({
            "device": w.device.display().to_string(),
            "interval_ms": u64::try_from(w.interval.as_millis()).unwrap_or(u64::MAX),
            "timeout_s": w.timeout_s,
            "feeds": w.feeds,
            "errors": w.errors,
            "last_error": w.last_error,
        })),
        "bgp": s.bgp.as_ref().map(|b| json!({
            "draining": b.draining,
            "neighbors": b.neighbors.iter().map(|n| json!({
                "address": n.address.to_string(),
                "peer_as": n.peer_as,
                "state": n.state,
                "since": unix_seconds(n.since),
                "established": n.established,
                "last_down": n.last_down,
                "bfd": n.bfd.as_ref().map(|f| json!({
                    "state": f.state,
                    "since": unix_seconds(f.since),
                    "last_diagnostic": f.last_diagnostic,
                    "downs": f.downs,
                })),
            })).collect::<Vec<_>>(),
            "routes": b.routes.iter().map(|r| json!({
                "address": r.address.to_string(),
                "virtual_server": r.virtual_server,
                "announced": r.announced,
                "reason": r.reason,
            })).collect::<Vec<_>>(),
        })),
        "lateness": {
            "rescued": c.late.rescued,
            "skipped_ticks": c.late.skipped_ticks,
            "max_read_delay_ms": c.late.rx_delay.max.as_secs_f64() * 1e3,
            "max_timer_delay_ms": c.late.timer_lateness.max.as_secs_f64() * 1e3,
        },
    })
}

/// Seconds since the Unix epoch (`None` before it).
fn unix_seconds(t: SystemTime) -> Option<f64> {
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs_f64())
}

/// Why a real server is down: the last failure of its first failing check (`None` while it
/// is alive, or when no failing check says why).
pub fn down_reason(m: &MemberStatus) -> Option<String> {
    if m.alive {
        return None;
    }
    m.checks
        .iter()
        .filter(|c| !c.up)
        .find_map(|c| c.last_failure.as_ref().map(|f| format!("{}: {f}", c.kind)))
}

fn stats_json(st: &ha_ipvs::Stats) -> Value {
    json!({
        "conns": st.conns,
        "inpkts": st.inpkts,
        "outpkts": st.outpkts,
        "inbytes": st.inbytes,
        "outbytes": st.outbytes,
    })
}

pub(super) type Labels = Vec<(String, String)>;

pub(super) fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub(super) fn gauge_family(reg: &mut Registry, name: &str, help: &str) -> Family<Labels, Gauge> {
    let f = Family::<Labels, Gauge>::default();
    reg.register(name, help, f.clone());
    f
}

pub(super) fn counter_family(
    reg: &mut Registry,
    name: &str,
    help: &str,
) -> Family<Labels, Counter> {
    let f = Family::<Labels, Counter>::default();
    reg.register(name, help, f.clone());
    f
}

fn gauge_f64(reg: &mut Registry, name: &str, help: &str, v: f64) {
    let g = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    g.set(v);
    reg.register(name, help, g);
}

/// The Prometheus text exposition (OpenMetrics) of a status: our `ha_director_*` series and
/// the compatible ones (see the [module docs](self)).
pub fn metrics_text(s: &Status) -> String {
    let mut root = Registry::default();
    ours(root.sub_registry_with_prefix("ha_director"), s);
    super::metrics_compat::register(&mut root, s);
    let mut out = String::new();
    if let Err(e) = encode(&mut out, &root) {
        tracing::error!(error = %e, "encoding metrics");
    }
    out
}

/// Our own series, registered under the `ha_director` prefix.
fn ours(reg: &mut Registry, s: &Status) {
    build_info(reg);
    let sockets = counter_family(
        reg,
        "socket_requests",
        "Status and control socket connections by result (served, ok, bad_request, refused)",
    );
    for (socket, result, n) in SOCKETS.rows() {
        sockets
            .get_or_create(&labels(&[("socket", socket), ("result", result)]))
            .inc_by(n);
    }
    let reloads = counter_family(
        reg,
        "config_reloads",
        "Configuration reloads by result (applied; refused: the running configuration kept)",
    );
    let (applied, refused, _) = RELOADS.snapshot();
    for (result, n) in [("applied", applied), ("refused", refused)] {
        reloads
            .get_or_create(&labels(&[("result", result)]))
            .inc_by(n);
    }
    let state = gauge_family(
        reg,
        "instance_state",
        "1 for the instance's current VRRP state (label state), 0 for the others",
    );
    let code = gauge_family(
        reg,
        "instance_state_code",
        "VRRP state as a number: 0 init, 1 backup, 2 master, 3 fault",
    );
    let prio = gauge_family(reg, "instance_priority", "Effective priority");
    let base = gauge_family(reg, "instance_base_priority", "Configured priority");
    let holds = gauge_family(reg, "instance_holds_vips", "1 while it holds its VIPs");
    let transitions = counter_family(reg, "instance_transitions", "State changes");
    let sent = counter_family(reg, "instance_adverts_sent", "Adverts sent");
    let recv = counter_family(reg, "instance_adverts_received", "Adverts accepted");
    let p0s = counter_family(
        reg,
        "instance_priority_zero_sent",
        "Priority-0 adverts sent",
    );
    let p0r = counter_family(
        reg,
        "instance_priority_zero_received",
        "Priority-0 adverts received",
    );
    let admin = gauge_family(
        reg,
        "instance_admin",
        "1 for the instance's administrative mode (label mode: auto, standby, takeover), 0 for the others",
    );
    let late_adverts = counter_family(
        reg,
        "instance_late_adverts",
        "Late-advert warnings (heartbeat warntime): the master silent for the warn interval",
    );
    for i in &s.instances {
        let vrid = i.vrid.to_string();
        let l = [
            ("iname", i.name.as_str()),
            ("intf", i.interface.as_str()),
            ("vrid", vrid.as_str()),
        ];
        for mode in ["auto", "standby", "takeover"] {
            let mut ls = labels(&l);
            ls.push(("mode".into(), mode.into()));
            admin.get_or_create(&ls).set(i64::from(mode == i.admin));
        }
        late_adverts
            .get_or_create(&labels(&l))
            .inc_by(i.late_adverts);
        for st in [
            State::Initialize,
            State::Backup,
            State::Master,
            State::Fault,
        ] {
            let mut ls = labels(&l);
            ls.push(("state".into(), state_name(st).into()));
            state.get_or_create(&ls).set(i64::from(st == i.state));
        }
        let l = labels(&l);
        code.get_or_create(&l).set(state_code(i.state));
        prio.get_or_create(&l).set(i64::from(i.priority));
        base.get_or_create(&l).set(i64::from(i.base_priority));
        holds.get_or_create(&l).set(i64::from(i.holds_vips));
        transitions.get_or_create(&l).inc_by(i.transitions);
        sent.get_or_create(&l).inc_by(i.adverts_sent);
        recv.get_or_create(&l).inc_by(i.adverts_received);
        p0s.get_or_create(&l).inc_by(i.priority_zero_sent);
        p0r.get_or_create(&l).inc_by(i.priority_zero_received);
    }
    let inst_dropped = counter_family(
        reg,
        "instance_adverts_dropped",
        "VRRP packets for the instance dropped, by reason (codec and router)",
    );
    for i in &s.instances {
        let vrid = i.vrid.to_string();
        // Every reason, zeros included: a rate over a reason that never happened is 0, not
        // an empty result.
        for r in DropReason::ALL {
            let n = i.drops.iter().find(|(d, _)| *d == r).map_or(0, |(_, n)| *n);
            inst_dropped
                .get_or_create(&labels(&[
                    ("iname", i.name.as_str()),
                    ("intf", i.interface.as_str()),
                    ("vrid", vrid.as_str()),
                    ("reason", r.as_str()),
                ]))
                .inc_by(n);
        }
    }
    let path_recv = counter_family(
        reg,
        "path_adverts_received",
        "Adverts received on one advert path of an instance (redundant links)",
    );
    let path_silent = gauge_family(
        reg,
        "path_silent",
        "1 while an advert path hears nothing but another path of the instance does",
    );
    for i in &s.instances {
        for p in &i.paths {
            let l = labels(&[("iname", i.name.as_str()), ("intf", p.interface.as_str())]);
            path_recv.get_or_create(&l).inc_by(p.adverts_received);
            path_silent.get_or_create(&l).set(i64::from(p.silent));
        }
    }
    let dropped = counter_family(
        reg,
        "adverts_dropped",
        "Received VRRP packets dropped by the node, by reason",
    );
    for (r, n) in &s.drops {
        dropped
            .get_or_create(&labels(&[("reason", r.as_str())]))
            .inc_by(*n);
    }
    let c = &s.counters;
    let runtime = counter_family(reg, "runtime", "Runtime counters by kind");
    for (k, v) in [
        ("sent", c.sent),
        ("send_errors", c.send_errors),
        ("received", c.received),
        ("dropped", c.dropped),
        ("notified", c.notified),
        ("fences", c.fences),
        ("steps", c.steps),
        ("track_checks", c.track_checks),
        ("track_failures", c.track_failures),
        ("script_errors", c.script_errors),
    ] {
        runtime.get_or_create(&labels(&[("kind", k)])).inc_by(v);
    }
    let alive = gauge_family(reg, "real_server_alive", "1 while the real server is alive");
    let weight = gauge_family(reg, "real_server_weight", "Configured weight");
    let quorum = gauge_family(reg, "virtual_server_quorum_up", "1 while the quorum is met");
    let sorry = gauge_family(
        reg,
        "virtual_server_sorry_active",
        "1 while the sorry server is in use",
    );
    for p in &s.pools {
        let lp = labels(&[
            ("virtual_server", p.name.as_str()),
            ("service", p.service.as_str()),
        ]);
        quorum.get_or_create(&lp).set(i64::from(p.quorum_up));
        sorry.get_or_create(&lp).set(i64::from(p.sorry_active));
        for m in &p.members {
            let a = m.address.to_string();
            let l = labels(&[
                ("virtual_server", p.name.as_str()),
                ("real_server", a.as_str()),
            ]);
            alive.get_or_create(&l).set(i64::from(m.alive));
            weight.get_or_create(&l).set(i64::from(m.weight));
        }
    }
    let checks = counter_family(reg, "checks", "Health-check attempts by outcome");
    checks
        .get_or_create(&labels(&[("outcome", "up")]))
        .inc_by(s.checks.up);
    checks
        .get_or_create(&labels(&[("outcome", "down")]))
        .inc_by(s.checks.down);
    checks
        .get_or_create(&labels(&[("outcome", "lost")]))
        .inc_by(s.checks.lost);
    let changes = Counter::<u64>::default();
    changes.inc_by(s.checks.changes);
    reg.register("real_server_changes", "Real-server state changes", changes);
    let ping_up = gauge_family(
        reg,
        "ping_tracker_up",
        "Whether a ping tracker is up (an address answered within its dead time)",
    );
    let ping_answering = gauge_family(
        reg,
        "ping_tracker_answering",
        "Addresses of a ping tracker that answered within its dead time",
    );
    for p in &s.pings {
        let l = labels(&[("tracker", &p.name)]);
        ping_up.get_or_create(&l).set(i64::from(p.up));
        ping_answering
            .get_or_create(&l)
            .set(i64::try_from(p.answering.len()).unwrap_or(i64::MAX));
    }
    if let Some(w) = &s.watchdog {
        let feeds = counter_family(reg, "watchdog_writes", "Watchdog writes by result");
        feeds
            .get_or_create(&labels(&[("result", "fed")]))
            .inc_by(w.feeds);
        feeds
            .get_or_create(&labels(&[("result", "failed")]))
            .inc_by(w.errors);
    }
    if let Some(b) = &s.bgp {
        let session = gauge_family(
            reg,
            "bgp_session_established",
            "Whether the BGP session with a neighbour is established",
        );
        let bfd = gauge_family(
            reg,
            "bfd_session_up",
            "Whether the BFD session with a neighbour is up",
        );
        for n in &b.neighbors {
            let l = labels(&[("neighbor", &n.address.to_string())]);
            session
                .get_or_create(&l)
                .set(i64::from(n.state == "Established"));
            if let Some(f) = &n.bfd {
                bfd.get_or_create(&l).set(i64::from(f.state == "Up"));
            }
        }
        let announced = gauge_family(
            reg,
            "bgp_route_announced",
            "Whether a virtual server's address is announced by BGP",
        );
        for r in &b.routes {
            announced
                .get_or_create(&labels(&[
                    ("address", &r.address.to_string()),
                    ("virtual_server", &r.virtual_server),
                ]))
                .set(i64::from(r.announced));
        }
    }
    let ipvs = counter_family(reg, "ipvs_ops", "IPVS operations by result");
    ipvs.get_or_create(&labels(&[("result", "applied")]))
        .inc_by(s.ipvs.ops_applied);
    ipvs.get_or_create(&labels(&[("result", "failed")]))
        .inc_by(s.ipvs.ops_failed);
    let late = &s.counters.late;
    let rescued = Counter::<u64>::default();
    rescued.inc_by(late.rescued);
    reg.register(
        "late_adverts_rescued",
        "Adverts read after a timer they preceded had come due (each a false takeover avoided)",
        rescued,
    );
    let skipped = Counter::<u64>::default();
    skipped.inc_by(late.skipped_ticks);
    reg.register(
        "late_advert_ticks_skipped",
        "Advert ticks a late master skipped (one advert sent for all of them, no burst)",
        skipped,
    );
    gauge_f64(
        reg,
        "max_read_delay_seconds",
        "Largest delay between an advert's kernel receive time and its processing",
        late.rx_delay.max.as_secs_f64(),
    );
    gauge_f64(
        reg,
        "max_timer_delay_seconds",
        "Largest delay between a timer's deadline and its handling",
        late.timer_lateness.max.as_secs_f64(),
    );
    gauge_f64(
        reg,
        "uptime_seconds",
        "Time since the director started",
        s.uptime.as_secs_f64(),
    );
}

/// `ha_director_build_info{version,arch,os} 1`.
fn build_info(reg: &mut Registry) {
    let info = gauge_family(
        reg,
        "build_info",
        "Always 1; the labels say which build of ha-director runs",
    );
    info.get_or_create(&labels(&[
        ("version", env!("CARGO_PKG_VERSION")),
        ("arch", std::env::consts::ARCH),
        ("os", std::env::consts::OS),
    ]))
    .set(1);
}

/// Who may use the status and control sockets: root, the director's own user, and the
/// members of `group` (`global.socket_group`). The socket file's mode says it to the kernel
/// (0600, or 0660 with the group); every accepted connection's peer (`SO_PEERCRED`) is
/// checked again, so a socket in a folder others can reach, or one whose mode was changed,
/// still refuses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SocketAccess {
    /// The group whose members may connect.
    pub group: Option<u32>,
}

impl SocketAccess {
    /// Whether a peer with these ids may use the socket (`own_uid`: the director's user).
    pub fn allows(&self, own_uid: u32, uid: u32, gid: u32, groups: &[u32]) -> bool {
        uid == 0 || uid == own_uid || self.group.is_some_and(|g| gid == g || groups.contains(&g))
    }

    /// Checks an accepted connection; Err says who was refused.
    fn check(&self, stream: &tokio::net::UnixStream) -> Result<(), String> {
        let cred = stream
            .peer_cred()
            .map_err(|e| format!("cannot read the peer's credentials: {e}"))?;
        let (own, uid, gid) = (crate::sys::euid(), cred.uid(), cred.gid());
        if self.allows(own, uid, gid, &[]) {
            return Ok(());
        }
        // The peer's supplementary groups (from /proc) decide only when a group is set.
        let groups = match self.group {
            Some(_) => cred.pid().map(peer_groups).unwrap_or_default(),
            None => Vec::new(),
        };
        if self.allows(own, uid, gid, &groups) {
            Ok(())
        } else {
            Err(format!(
                "permission denied: uid {uid} is not root, the director's user{}",
                match self.group {
                    Some(g) => format!(" or a member of group {g}"),
                    None => String::new(),
                }
            ))
        }
    }
}

/// A process's supplementary groups (`Groups:` of `/proc/PID/status`).
fn peer_groups(pid: i32) -> Vec<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// What the status and control sockets served and refused since start (one director per
/// process); in the status JSON (`sockets`) and the metrics
/// (`ha_director_socket_requests_total{socket,result}`).
#[derive(Debug, Default)]
pub struct SocketCounters {
    /// Status documents served.
    pub status_served: std::sync::atomic::AtomicU64,
    /// Status connections refused (peer not allowed).
    pub status_refused: std::sync::atomic::AtomicU64,
    /// Control requests carried out (or answered with the director's own refusal).
    pub control_ok: std::sync::atomic::AtomicU64,
    /// Control requests that were garbage: oversize, not UTF-8, unknown command or instance.
    pub control_bad: std::sync::atomic::AtomicU64,
    /// Control connections refused (peer not allowed).
    pub control_refused: std::sync::atomic::AtomicU64,
}

/// This process's socket counters.
pub static SOCKETS: SocketCounters = SocketCounters {
    status_served: std::sync::atomic::AtomicU64::new(0),
    status_refused: std::sync::atomic::AtomicU64::new(0),
    control_ok: std::sync::atomic::AtomicU64::new(0),
    control_bad: std::sync::atomic::AtomicU64::new(0),
    control_refused: std::sync::atomic::AtomicU64::new(0),
};

impl SocketCounters {
    fn bump(c: &std::sync::atomic::AtomicU64) {
        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// `(socket, result, count)` for each counter.
    pub fn rows(&self) -> [(&'static str, &'static str, u64); 5] {
        use std::sync::atomic::Ordering::Relaxed;
        [
            ("status", "served", self.status_served.load(Relaxed)),
            ("status", "refused", self.status_refused.load(Relaxed)),
            ("control", "ok", self.control_ok.load(Relaxed)),
            ("control", "bad_request", self.control_bad.load(Relaxed)),
            ("control", "refused", self.control_refused.load(Relaxed)),
        ]
    }
}

/// What configuration reloads (SIGHUP, a watched file changing) did since start (one
/// director per process); in the status JSON (`reloads`) and the metrics
/// (`ha_director_config_reloads_total{result}`).
#[derive(Debug, Default)]
pub struct ReloadCounters {
    applied: std::sync::atomic::AtomicU64,
    refused: std::sync::atomic::AtomicU64,
    last_error: std::sync::Mutex<Option<String>>,
}

/// This process's reload counters.
pub static RELOADS: ReloadCounters = ReloadCounters {
    applied: std::sync::atomic::AtomicU64::new(0),
    refused: std::sync::atomic::AtomicU64::new(0),
    last_error: std::sync::Mutex::new(None),
};

impl ReloadCounters {
    /// A reload was applied: the new configuration runs.
    pub fn applied(&self) {
        self.applied
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// A reload was refused (the file is invalid, or the runtime refused it): the running
    /// configuration is kept. `error` says why (the first error, with its place).
    pub fn refused(&self, error: String) {
        self.refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
    }

    /// `(applied, refused, why the last refused one was refused)`.
    pub fn snapshot(&self) -> (u64, u64, Option<String>) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.applied.load(Relaxed),
            self.refused.load(Relaxed),
            self.last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// A unix socket listening at `path`: its folder created, a stale socket replaced, the mode
/// and group set as `access` says.
fn bind_unix(path: &Path, access: SocketAccess) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = tokio::net::UnixListener::bind(path)?;
    let mode = match access.group {
        Some(g) => {
            std::os::unix::fs::chown(path, None, Some(g))?;
            0o660
        }
        None => 0o600,
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}

/// A status snapshot, asked of the director's loop (which builds one only when asked, see
/// [`StatusReader`]). The snapshot is shared: megabytes of JSON or metrics text are formatted
/// from it off the loop. The empty status if the director ended without one.
async fn latest(status: &StatusReader) -> Arc<Status> {
    status
        .get()
        .await
        .unwrap_or_else(|| Arc::new(Status::default()))
}

/// Serves the status JSON on a unix socket at `path` (its folder is created, a stale socket
/// replaced): each client gets the latest status as one JSON document, then the connection
/// closes. Returns once listening; the server runs on a task until the runtime ends.
pub fn serve_unix(
    path: &Path,
    status: StatusReader,
    access: SocketAccess,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = bind_unix(path, access)?;
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((mut stream, _)) => {
                    // The status, or the refusal with its reason.
                    let mut body = match access.check(&stream) {
                        Ok(()) => {
                            SocketCounters::bump(&SOCKETS.status_served);
                            status_text(&*latest(&status).await)
                        }
                        Err(e) => {
                            SocketCounters::bump(&SOCKETS.status_refused);
                            tracing::warn!(error = %e, "status socket: connection refused");
                            control_error(e).to_string()
                        }
                    };
                    body.push('\n');
                    tokio::spawn(async move {
                        let _ = stream.write_all(body.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "status socket accept");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }))
}

/// Why `ha-director status` could not read a status.
#[derive(Debug, thiserror::Error)]
pub enum StatusClientError {
    /// Nothing listens there.
    #[error("no director is running at {} ({source})", path.display())]
    Connect {
        /// The socket.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Reading failed or took more than 5 s.
    #[error("reading the status from {}: {detail}", path.display())]
    Read {
        /// The socket.
        path: PathBuf,
        /// What happened.
        detail: String,
    },
    /// What came back is not JSON.
    #[error("the status from {} is not JSON: {source}", path.display())]
    Json {
        /// The socket.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
}

/// Reads the status JSON from a director's unix socket.
pub async fn fetch_unix(path: &Path) -> Result<Value, StatusClientError> {
    let mut s = tokio::net::UnixStream::connect(path)
        .await
        .map_err(|source| StatusClientError::Connect {
            path: path.to_owned(),
            source,
        })?;
    let mut buf = Vec::new();
    match tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut buf)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(StatusClientError::Read {
                path: path.to_owned(),
                detail: e.to_string(),
            });
        }
        Err(_) => {
            return Err(StatusClientError::Read {
                path: path.to_owned(),
                detail: "timed out after 5 s".into(),
            });
        }
    }
    serde_json::from_slice(&buf).map_err(|source| StatusClientError::Json {
        path: path.to_owned(),
        source,
    })
}

async fn respond(
    req: &Request<hyper::body::Incoming>,
    status: &StatusReader,
) -> Response<Full<Bytes>> {
    let reply = |code: StatusCode, ctype: &str, body: Bytes| {
        let mut r = Response::new(Full::new(body));
        *r.status_mut() = code;
        if let Ok(v) = hyper::header::HeaderValue::from_str(ctype) {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        r
    };
    if req.method() != hyper::Method::GET && req.method() != hyper::Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            Bytes::from_static(b"only GET\n"),
        );
    }
    match req.uri().path() {
        "/metrics" => reply(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics_text(&*latest(status).await).into(),
        ),
        "/" => reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            // A constant page: served without a copy.
            Bytes::from_static(super::status_page::STATUS_PAGE.as_bytes()),
        ),
        "/status" => {
            let mut t = status_text(&*latest(status).await);
            t.push('\n');
            reply(StatusCode::OK, "application/json", t.into())
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            Bytes::from_static(b"not found: GET /, /metrics or /status\n"),
        ),
    }
}

/// Serves `GET /` (the [status page](super::status_page)), `GET /metrics` (Prometheus text)
/// and `GET /status` (JSON) on `addr` with hyper
/// (HTTP/1.1). Returns the bound address (port 0 picks one) once listening.
pub async fn serve_http(
    addr: SocketAddr,
    status: StatusReader,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics accept");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let status = status.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let status = status.clone();
                    async move { Ok::<_, Infallible>(respond(&req, &status).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
                if let Ok(Err(e)) =
                    tokio::time::timeout(std::time::Duration::from_secs(30), conn).await
                {
                    tracing::debug!(error = %e, "metrics connection");
                }
            });
        }
    });
    Ok((local, task))
}

/// The longest control request line, in bytes (the newline included).
pub const MAX_CONTROL_LINE: usize = 256;

/// A parsed control request: the mode and the instance (`None`: every instance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlRequest {
    /// The mode to set.
    pub mode: AdminMode,
    /// The instance; `None`: every instance.
    pub instance: Option<String>,
}

/// Parses one control line (without its newline): `standby|takeover|auto [INSTANCE]`,
/// words separated by white space. Never panics; the error says what is wrong.
pub fn parse_control(line: &str) -> Result<ControlRequest, String> {
    let mut words = line.split_whitespace();
    let Some(verb) = words.next() else {
        return Err("empty request: expected standby|takeover|auto [INSTANCE]".into());
    };
    let Some(mode) = AdminMode::parse(verb) else {
        return Err(format!(
            "unknown command {:?}: expected standby|takeover|auto [INSTANCE]",
            verb.chars().take(32).collect::<String>()
        ));
    };
    let instance = words.next().map(str::to_owned);
    if words.next().is_some() {
        return Err(format!(
            "too many words: expected {} [INSTANCE]",
            mode.as_str()
        ));
    }
    Ok(ControlRequest { mode, instance })
}

/// The reply line to a control request that was answered.
fn control_reply(mode: AdminMode, r: Result<Vec<String>, AdminError>) -> Value {
    match r {
        Ok(instances) => json!({"ok": true, "mode": mode.as_str(), "instances": instances}),
        Err(e) => json!({"ok": false, "error": e.to_string()}),
    }
}

fn control_error(e: impl std::fmt::Display) -> Value {
    json!({"ok": false, "error": e.to_string()})
}

/// Reads one request line of at most [`MAX_CONTROL_LINE`] bytes within 5 s.
async fn read_control_line(stream: &mut tokio::net::UnixStream) -> Result<String, String> {
    let mut buf = Vec::with_capacity(64);
    let mut chunk = [0u8; 128];
    let read = async {
        loop {
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|e| format!("reading the request: {e}"))?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.contains(&b'\n') {
                break;
            }
            if buf.len() > MAX_CONTROL_LINE {
                return Err(format!("request longer than {MAX_CONTROL_LINE} bytes"));
            }
        }
        Ok(())
    };
    match tokio::time::timeout(std::time::Duration::from_secs(5), read).await {
        Ok(r) => r?,
        Err(_) => return Err("no request line within 5 s".into()),
    }
    let line = buf.split(|b| *b == b'\n').next().unwrap_or(&[]);
    if line.len() > MAX_CONTROL_LINE {
        return Err(format!("request longer than {MAX_CONTROL_LINE} bytes"));
    }
    std::str::from_utf8(line)
        .map(|s| s.trim_end_matches('\r').to_owned())
        .map_err(|_| "request is not UTF-8".to_owned())
}

/// Serves the control socket at `path` (its folder is created, a stale socket replaced, the
/// socket made mode 0600: root's only): each client sends one line (see the
/// [module docs](self)), the request goes to the runtime on `admin`, the answer comes back
/// as one JSON line, then the connection closes. Returns once listening.
pub fn serve_control(
    path: &Path,
    admin: mpsc::UnboundedSender<AdminRequest>,
    access: SocketAccess,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = bind_unix(path, access)?;
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((mut stream, _)) => {
                    let admin = admin.clone();
                    let allowed = access.check(&stream);
                    tokio::spawn(async move {
                        let bad = |e| {
                            SocketCounters::bump(&SOCKETS.control_bad);
                            control_error(e)
                        };
                        let reply = match allowed {
                            Err(e) => {
                                SocketCounters::bump(&SOCKETS.control_refused);
                                tracing::warn!(error = %e, "control socket: connection refused");
                                control_error(e)
                            }
                            Ok(()) => match read_control_line(&mut stream).await {
                                Err(e) => bad(e),
                                Ok(line) => match parse_control(&line) {
                                    Err(e) => bad(e),
                                    Ok(req) => {
                                        SocketCounters::bump(&SOCKETS.control_ok);
                                        let (done, answer) = oneshot::channel();
                                        let sent = admin.send(AdminRequest {
                                            instance: req.instance,
                                            mode: req.mode,
                                            done,
                                        });
                                        if sent.is_err() {
                                            control_error("the director is not running")
                                        } else {
                                            match tokio::time::timeout(
                                                std::time::Duration::from_secs(10),
                                                answer,
                                            )
                                            .await
                                            {
                                                Ok(Ok(r)) => control_reply(req.mode, r),
                                                Ok(Err(_)) => control_error(
                                                    "the director stopped before answering",
                                                ),
                                                Err(_) => control_error(
                                                    "the director did not answer within 10 s",
                                                ),
                                            }
                                        }
                                    }
                                },
                            },
                        };
                        let mut t = reply.to_string();
                        t.push('\n');
                        if let Err(e) = stream.write_all(t.as_bytes()).await {
                            tracing::debug!(error = %e, "control reply not written");
                        }
                        let _ = stream.shutdown().await;
                        // What a client sent beyond the line is read and dropped (a bounded
                        // amount, for a bounded time): closing with it unread would reset
                        // the connection before the client read the reply.
                        let mut sink = [0u8; 4096];
                        let drain = async {
                            for _ in 0..16 {
                                if matches!(stream.read(&mut sink).await, Ok(0) | Err(_)) {
                                    break;
                                }
                            }
                        };
                        let _ =
                            tokio::time::timeout(std::time::Duration::from_secs(1), drain).await;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }))
}

/// Sends one control line to a director and returns its JSON reply (`ok` says whether it
/// was done).
pub async fn send_control(path: &Path, line: &str) -> Result<Value, StatusClientError> {
    let mut s = tokio::net::UnixStream::connect(path)
        .await
        .map_err(|source| StatusClientError::Connect {
            path: path.to_owned(),
            source,
        })?;
    let read_err = |detail: String| StatusClientError::Read {
        path: path.to_owned(),
        detail,
    };
    let mut buf = Vec::new();
    let exchange = async {
        s.write_all(format!("{line}\n").as_bytes()).await?;
        s.read_to_end(&mut buf).await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(15), exchange).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(read_err(e.to_string())),
        Err(_) => return Err(read_err("timed out after 15 s".into())),
    }
    serde_json::from_slice(&buf).map_err(|source| StatusClientError::Json {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ha_failover::runtime::status::{
        AdvertPathStatus, CheckStatus, InstanceStatus, IpvsDestinationStatus, IpvsServiceStatus,
        PoolStatus,
    };
    use std::time::Duration;

    fn sample() -> Status {
        let mut s = Status {
            uptime: Duration::from_secs(12),
            ..Status::default()
        };
        s.instances.push(InstanceStatus {
            name: "VI_1".into(),
            interface: "eth0".into(),
            vrid: 51,
            version: 3,
            state: State::Master,
            priority: 150,
            base_priority: 150,
            master: Some("10.0.0.1".parse().unwrap()),
            holds_vips: true,
            vips: vec!["10.0.0.100".parse().unwrap()],
            transitions: 2,
            adverts_sent: 40,
            adverts_received: 3,
            priority_zero_sent: 0,
            priority_zero_received: 1,
            drops: vec![(DropReason::AuthMismatch, 4), (DropReason::Auth, 2)],
            paths: vec![
                AdvertPathStatus {
                    interface: "eth0".into(),
                    adverts_received: 7,
                    last_heard_ago: Some(Duration::from_millis(300)),
                    silent: false,
                },
                AdvertPathStatus {
                    interface: "eth1".into(),
                    adverts_received: 3,
                    last_heard_ago: Some(Duration::from_secs(9)),
                    silent: true,
                },
            ],
            admin: "standby",
            admin_reason: Some("start failed"),
            late_adverts: 3,
            last_transition: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            became_master: 2,
            released_master: 1,
        });
        s.pools.push(PoolStatus {
            name: "web".into(),
            service: "TCP 10.0.0.100:80".into(),
            quorum_up: true,
            members: vec![MemberStatus {
                address: "10.0.0.11:80".parse().unwrap(),
                weight: 3,
                alive: false,
                checks: vec![CheckStatus {
                    kind: "http",
                    up: false,
                    last_failure: Some("refused".into()),
                    runs: 7,
                }],
            }],
            sorry_active: false,
        });
        s.drops[3].1 = 5;
        s.ipvs.ops_applied = 9;
        let stats = ha_ipvs::Stats {
            conns: 10,
            inpkts: 200,
            outpkts: 0,
            inbytes: 30_000,
            outbytes: 0,
            ..Default::default()
        };
        s.ipvs.services = vec![
            IpvsServiceStatus {
                key: ha_ipvs::model::ServiceKey::tcp("10.0.0.100:80".parse().unwrap()),
                stats,
                destinations: vec![IpvsDestinationStatus {
                    addr: "10.0.0.11:80".parse().unwrap(),
                    weight: 3,
                    active_conns: 4,
                    inactive_conns: 6,
                    stats,
                }],
            },
            IpvsServiceStatus {
                key: ha_ipvs::model::ServiceKey::Fwmark {
                    mark: 7,
                    family: ha_ipvs::model::Family::Inet,
                },
                stats,
                destinations: vec![IpvsDestinationStatus {
                    addr: "10.0.0.12:0".parse().unwrap(),
                    weight: 1,
                    active_conns: 0,
                    inactive_conns: 1,
                    stats,
                }],
            },
        ];
        s.checks.down = 4;
        s.pings.push(ha_failover::runtime::status::PingStatus {
            name: "ping gw".into(),
            up: true,
            addresses: vec!["10.0.0.254".parse().unwrap(), "10.0.0.253".parse().unwrap()],
            answering: vec!["10.0.0.253".parse().unwrap()],
        });
        s.watchdog = Some(ha_failover::runtime::status::WatchdogStatus {
            device: "/dev/watchdog".into(),
            interval: Duration::from_secs(1),
            timeout_s: Some(10),
            feeds: 12,
            errors: 1,
            last_error: None,
        });
        s.counters
            .late
            .timer_lateness
            .record(Duration::from_millis(3));
        s
    }

    /// The document written element by element is the tree `to_value` builds, written out
    /// (keys sorted, as a tree of `serde_json::Map`s writes them).
    #[test]
    fn the_streamed_status_is_its_tree_written_out() {
        let s = sample();
        let tree = serde_json::to_value(status_json(&s)).unwrap();
        assert_eq!(tree["ipvs"]["services"][1]["destinations"][0]["weight"], 1);
        assert_eq!(status_text(&s), tree.to_string());
    }

    #[test]
    fn json_carries_states_counters_and_pools() {
        let j = serde_json::to_value(status_json(&sample())).unwrap();
        assert_eq!(j["instances"][0]["state"], "MASTER");
        assert_eq!(j["instances"][0]["transitions"], 2);
        assert_eq!(j["instances"][0]["master"], "10.0.0.1");
        assert_eq!(j["pools"][0]["members"][0]["alive"], false);
        assert_eq!(
            j["pools"][0]["members"][0]["checks"][0]["last_failure"],
            "refused"
        );
        assert_eq!(j["drops"]["bad_version"], 5);
        assert_eq!(j["ipvs"]["ops_applied"], 9);
        assert_eq!(j["lateness"]["max_timer_delay_ms"], 3.0);
        assert_eq!(j["instances"][0]["drops"]["auth_mismatch"], 4);
        assert_eq!(j["pings"][0]["up"], true);
        assert_eq!(j["pings"][0]["answering"][0], "10.0.0.253");
        assert_eq!(j["watchdog"]["device"], "/dev/watchdog");
        assert_eq!(j["watchdog"]["feeds"], 12);
        assert_eq!(j["instances"][0]["drops"]["auth"], 2);
        assert_eq!(j["instances"][0]["paths"][1]["interface"], "eth1");
        assert_eq!(j["instances"][0]["paths"][1]["silent"], true);
        assert_eq!(j["instances"][0]["paths"][0]["last_heard_ago_ms"], 300);
        assert_eq!(j["instances"][0]["admin"]["mode"], "standby");
        assert_eq!(j["instances"][0]["admin"]["reason"], "start failed");
        assert_eq!(j["instances"][0]["late_adverts"], 3);
        assert_eq!(j["instances"][0]["last_transition_unix"], 1_700_000_000.0);
        assert_eq!(j["instances"][0]["became_master"], 2);
        assert_eq!(j["pools"][0]["members"][0]["down_reason"], "http: refused");
        assert_eq!(j["ipvs"]["services"][0]["service"], "TCP 10.0.0.100:80");
        assert_eq!(
            j["ipvs"]["services"][0]["destinations"][0]["active_conns"],
            4
        );
    }

    /// The series existing dashboards read: keepalived exporters' and node_exporter's
    /// names and labels, and no label called `instance` anywhere.
    #[test]
    fn metrics_carry_the_compatible_names() {
        let m = metrics_text(&sample());
        for want in [
            "keepalived_up 1",
            r#"keepalived_vrrp_state{iname="VI_1",intf="eth0",vrid="51",ip_address="10.0.0.100"} 2"#,
            r#"keepalived_advertisements_sent_total{iname="VI_1",intf="eth0",vrid="51"} 40"#,
            r#"keepalived_become_master_total{iname="VI_1",intf="eth0",vrid="51"} 2"#,
            r#"keepalived_release_master_total{iname="VI_1",intf="eth0",vrid="51"} 1"#,
            r#"keepalived_authentication_failure_total{iname="VI_1",intf="eth0",vrid="51"} 6"#,
            r#"keepalived_ip_ttl_errors_total{iname="VI_1",intf="eth0",vrid="51"} 0"#,
            r#"keepalived_lvs_vip_in_packets{addr="10.0.0.100:80",proto="6"} 200"#,
            r#"keepalived_lvs_rs_conn{vip="10.0.0.100:80",addr="10.0.0.11:80",proto="6"} 10"#,
            r#"keepalived_lvs_vip_conn{addr="FWM 7",proto="0"} 10"#,
            "node_ipvs_connections_total 20",
            "node_ipvs_incoming_bytes_total 60000",
            r#"node_ipvs_backend_connections_active{local_address="10.0.0.100",local_port="80",remote_address="10.0.0.11",remote_port="80",proto="TCP",local_mark=""} 4"#,
            r#"node_ipvs_backend_weight{local_address="",local_port="0",remote_address="10.0.0.12",remote_port="0",proto="FWM",local_mark="00000007"} 1"#,
            r#"ha_director_instance_adverts_dropped_total{iname="VI_1",intf="eth0",vrid="51",reason="bad_ttl"} 0"#,
        ] {
            assert!(m.contains(want), "missing {want}\n{m}");
        }
        let version = format!(
            r#"ha_director_build_info{{version="{}","#,
            env!("CARGO_PKG_VERSION")
        );
        assert!(m.contains(&version), "{m}");
        assert!(!m.contains("instance=\""), "{m}");
        assert!(!m.contains("interface=\""), "{m}");
    }

    #[test]
    fn metrics_carry_state_gauges_and_counters() {
        let m = metrics_text(&sample());
        assert!(
            m.contains(
                r#"ha_director_instance_state{iname="VI_1",intf="eth0",vrid="51",state="MASTER"} 1"#
            ),
            "{m}"
        );
        assert!(
            m.contains(
                r#"ha_director_instance_state{iname="VI_1",intf="eth0",vrid="51",state="BACKUP"} 0"#
            ),
            "{m}"
        );
        assert!(
            m.contains(r#"ha_director_instance_state_code{iname="VI_1",intf="eth0",vrid="51"} 2"#),
            "{m}"
        );
        assert!(
            m.contains(
                r#"ha_director_instance_transitions_total{iname="VI_1",intf="eth0",vrid="51"} 2"#
            ),
            "{m}"
        );
        assert!(
            m.contains(r#"ha_director_adverts_dropped_total{reason="bad_version"} 5"#),
            "{m}"
        );
        assert!(
            m.contains(r#"ha_director_path_silent{iname="VI_1",intf="eth1"} 1"#),
            "{m}"
        );
        assert!(
            m.contains(r#"ha_director_path_adverts_received_total{iname="VI_1",intf="eth0"} 7"#),
            "{m}"
        );
        assert!(
            m.contains(r#"ha_director_instance_adverts_dropped_total{iname="VI_1",intf="eth0",vrid="51",reason="auth_mismatch"} 4"#),
            "{m}"
        );
        assert!(m.contains(r#"ha_director_real_server_alive{virtual_server="web",real_server="10.0.0.11:80"} 0"#), "{m}");
        assert!(
            m.contains(r#"ha_director_checks_total{outcome="down"} 4"#),
            "{m}"
        );
        assert!(
            m.contains(r#"ha_director_ipvs_ops_total{result="applied"} 9"#),
            "{m}"
        );
        assert!(
            m.contains("ha_director_max_timer_delay_seconds 0.003"),
            "{m}"
        );
        assert!(
            m.contains(r#"ha_director_ping_tracker_up{tracker="ping gw"} 1"#),
            "{m}"
        );
        assert!(
            m.contains(r#"ha_director_ping_tracker_answering{tracker="ping gw"} 1"#),
            "{m}"
        );
        assert!(
            m.contains(r#"ha_director_watchdog_writes_total{result="fed"} 12"#),
            "{m}"
        );
        assert!(
            m.contains(
                r#"ha_director_instance_admin{iname="VI_1",intf="eth0",vrid="51",mode="standby"} 1"#
            ),
            "{m}"
        );
        assert!(
            m.contains(
                r#"ha_director_instance_late_adverts_total{iname="VI_1",intf="eth0",vrid="51"} 3"#
            ),
            "{m}"
        );
        assert!(m.ends_with("# EOF\n"), "{m}");
    }

    /// Every series the Grafana dashboard reads is one the director writes (the VM suite's
    /// `vm_dashboard` evaluates the queries against a real Prometheus).
    #[test]
    fn the_dashboard_reads_only_series_we_write() {
        let dashboard: Value =
            serde_json::from_str(include_str!("../../director/grafana-dashboard.json")).unwrap();
        let m = metrics_text(&sample());
        let mut exprs = Vec::new();
        for p in dashboard["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().into_iter().flatten() {
                exprs.push(t["expr"].as_str().unwrap().to_owned());
            }
        }
        assert!(exprs.len() >= 10, "{exprs:?}");
        let mut names = 0;
        for e in &exprs {
            let words = e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
            for w in words.filter(|w| {
                ["ha_director_", "keepalived_", "node_ipvs_"]
                    .iter()
                    .any(|p| w.starts_with(p))
            }) {
                names += 1;
                assert!(
                    m.lines().any(
                        |l| l.starts_with(&format!("{w}{{")) || l.starts_with(&format!("{w} "))
                    ),
                    "the dashboard reads {w} (in {e}), which the director does not write"
                );
            }
        }
        assert!(names >= exprs.len(), "{names} names in {exprs:?}");
    }

    #[test]
    fn unix_socket_and_http_serve_the_latest_status() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = std::env::temp_dir().join(format!("observe-{}", std::process::id()));
            let path = dir.join("sub/status.sock");
            // A stand-in director: answers each request with the status of the moment.
            let (mut requests, rx) = ha_failover::runtime::status::status_channel();
            let (tx, now) = tokio::sync::watch::channel(Arc::new(Status::default()));
            tokio::spawn(async move {
                while let Some(ask) = requests.recv().await {
                    let _ = ask.send(Arc::clone(&now.borrow()));
                }
            });
            let _srv = serve_unix(&path, rx.clone(), SocketAccess::default()).unwrap();
            let j = fetch_unix(&path).await.unwrap();
            assert_eq!(j["instances"].as_array().unwrap().len(), 0);
            tx.send(Arc::new(sample())).unwrap();
            let j = fetch_unix(&path).await.unwrap();
            assert_eq!(j["instances"][0]["name"], "VI_1");

            let (addr, _h) = serve_http("127.0.0.1:0".parse().unwrap(), rx)
                .await
                .unwrap();
            let get = |p: &'static str| async move {
                let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                s.write_all(
                    format!("GET {p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
                )
                .await
                .unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).await.unwrap();
                out
            };
            let m = get("/metrics").await;
            assert!(m.starts_with("HTTP/1.1 200"), "{m}");
            assert!(m.contains("ha_director_instance_priority{"), "{m}");
            let page = get("/").await;
            assert!(page.starts_with("HTTP/1.1 200"), "{page}");
            assert!(page.contains("text/html"), "{page}");
            assert!(page.contains("<title>ha-director status</title>"), "{page}");
            let st = get("/status").await;
            assert!(st.contains("\"VI_1\""), "{st}");
            assert!(get("/nope").await.starts_with("HTTP/1.1 404"));
            let _ = std::fs::remove_dir_all(&dir);
            let gone = fetch_unix(&dir.join("none.sock")).await.unwrap_err();
            assert!(
                gone.to_string().contains("no director is running"),
                "{gone}"
            );
        });
    }
}

#[cfg(test)]
mod control_tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn socket_access_allows_root_the_owner_and_the_group_only() {
        let none = SocketAccess::default();
        let adm = SocketAccess { group: Some(4) };
        // root, the director's own user
        assert!(none.allows(1000, 0, 0, &[]));
        assert!(none.allows(1000, 1000, 1000, &[]));
        // another user: refused without a group, and when not in it
        assert!(!none.allows(1000, 1001, 4, &[4]));
        assert!(!adm.allows(1000, 1001, 1001, &[27, 100]));
        // in the group: as primary or as a supplementary group
        assert!(adm.allows(1000, 1001, 4, &[]));
        assert!(adm.allows(1000, 1001, 1001, &[27, 4]));
    }

    #[test]
    fn control_lines_parse() {
        assert_eq!(
            parse_control("standby VI_1"),
            Ok(ControlRequest {
                mode: AdminMode::Standby,
                instance: Some("VI_1".into())
            })
        );
        assert_eq!(
            parse_control("  takeover "),
            Ok(ControlRequest {
                mode: AdminMode::Takeover,
                instance: None
            })
        );
        assert!(parse_control("").unwrap_err().contains("empty"));
        assert!(
            parse_control("reboot")
                .unwrap_err()
                .contains("unknown command")
        );
        assert!(parse_control("auto a b").unwrap_err().contains("too many"));
    }

    proptest! {
        #[test]
        fn control_parser_never_panics(s in ".{0,300}") {
            let _ = parse_control(&s);
        }
    }

    /// The real socket, with the runtime's side played by a task that answers every request.
    #[test]
    fn control_socket_answers_one_json_line() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            use std::os::unix::fs::PermissionsExt;
            let dir = std::env::temp_dir().join(format!("control-{}", std::process::id()));
            let path = dir.join("control.sock");
            let (tx, mut rx) = mpsc::unbounded_channel::<AdminRequest>();
            let _srv = serve_control(&path, tx, SocketAccess::default()).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            tokio::spawn(async move {
                while let Some(r) = rx.recv().await {
                    let answer = match r.instance.as_deref() {
                        Some("VI_9") => Err(AdminError::UnknownInstance("VI_9".into())),
                        Some(n) => Ok(vec![n.to_owned()]),
                        None => Ok(vec!["VI_1".into(), "VI_2".into()]),
                    };
                    let _ = r.done.send(answer);
                }
            });
            let v = send_control(&path, "standby VI_1").await.unwrap();
            assert_eq!(v["ok"], true);
            assert_eq!(v["mode"], "standby");
            assert_eq!(v["instances"][0], "VI_1");
            let v = send_control(&path, "auto").await.unwrap();
            assert_eq!(v["instances"].as_array().unwrap().len(), 2);
            let v = send_control(&path, "takeover VI_9").await.unwrap();
            assert_eq!(v["ok"], false);
            assert!(v["error"].as_str().unwrap().contains("no instance"), "{v}");
            let v = send_control(&path, "format c:").await.unwrap();
            assert_eq!(v["ok"], false);
            let long = format!("standby {}", "x".repeat(1000));
            let v = send_control(&path, &long).await.unwrap();
            assert!(v["error"].as_str().unwrap().contains("longer than"), "{v}");
            let v = send_control(&path, "standby \u{fffd}").await.unwrap();
            assert_eq!(v["ok"], true);
            let _ = std::fs::remove_dir_all(&dir);
        });
    }
}
