//! The metrics that existing dashboards and alerts already read, served beside our own
//! `ha_director_*` series (see [`super::observe`] for the policy):
//!
//! - the keepalived exporters' VRRP series, named and labelled as
//!   [cafebazaar/mehdy keepalived-exporter](https://github.com/mehdy/keepalived-exporter)
//!   writes them: `keepalived_up`, `keepalived_vrrp_state{iname,intf,vrid,ip_address}` (one
//!   series per virtual address, the state as a number: 0 init, 1 backup, 2 master, 3 fault)
//!   and the per-instance counters `keepalived_*_total{iname,intf,vrid}`. Our drop reasons
//!   map onto keepalived's error counters ([`KEEPALIVED_ERRORS`]); a reason keepalived has
//!   no counter for is only in `ha_director_instance_adverts_dropped_total{reason}`.
//! - the IPVS series of [gen2brain's keepalived_exporter](https://github.com/gen2brain/keepalived_exporter):
//!   `keepalived_lvs_vip_{in_packets,out_packets,in_bytes,out_bytes,conn}{addr,proto}` and
//!   `keepalived_lvs_rs_*{vip,addr,proto}` (`addr` and `vip` as `ADDRESS:PORT`, `proto` the
//!   IP protocol number; a firewall-mark service as `FWM MARK`, proto `0`). They are counters
//!   without the `_total` suffix, so they are typed `gauge` to keep the names exactly.
//! - node_exporter's IPVS collector: `node_ipvs_{connections,incoming_packets,
//!   outgoing_packets,incoming_bytes,outgoing_bytes}_total` (the sums over the services in
//!   the kernel's table; node_exporter reads the kernel's own totals, which also count
//!   services since removed) and `node_ipvs_backend_{connections_active,
//!   connections_inactive,weight}{local_address,local_port,remote_address,remote_port,proto,
//!   local_mark}` (`local_mark` the firewall mark as 8 upper-case hex digits and
//!   `local_address` empty for a firewall-mark service, as `/proc/net/ip_vs` writes them).
//!
//! The IPVS series exist only while the director drives IPVS (its status has the kernel's
//! counters: [`ha_failover::runtime::status::IpvsStatus::services`]).

use ha_failover::runtime::status::{IpvsServiceStatus, Status};
use ha_failover::vrrp::DropReason;
use ha_ipvs::Stats;
use ha_ipvs::model::ServiceKey;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::observe::{counter_family, gauge_family, labels, state_code};

/// keepalived's VRRP error counters (as the keepalived exporter names them, without the
/// `keepalived_` prefix and `_total` suffix) and the drop reasons each one counts.
pub const KEEPALIVED_ERRORS: &[(&str, &str, &[DropReason])] = &[
    (
        "packet_length_errors",
        "Packet length errors",
        &[DropReason::TooShort, DropReason::LengthMismatch],
    ),
    (
        "advertisements_interval_errors",
        "Advertisement interval errors",
        &[DropReason::IntervalMismatch, DropReason::ZeroInterval],
    ),
    ("ip_ttl_errors", "TTL errors", &[DropReason::BadTtl]),
    (
        "invalid_type_received",
        "Invalid type errors",
        &[DropReason::BadType],
    ),
    (
        "address_list_errors",
        "Address list errors",
        &[DropReason::NoAddresses],
    ),
    (
        "authentication_invalid",
        "Authentication invalid (an authentication type not supported)",
        &[DropReason::AuthAh],
    ),
    (
        "authentication_mismatch",
        "Authentication type mismatch",
        &[DropReason::AuthTypeMismatch],
    ),
    (
        "authentication_failure",
        "Authentication failure",
        &[
            DropReason::AuthMismatch,
            DropReason::Auth,
            DropReason::Replay,
        ],
    ),
];

/// Registers the compatible series of `s` in `reg` (a registry without prefix).
pub fn register(reg: &mut Registry, s: &Status) {
    keepalived_vrrp(reg, s);
    keepalived_lvs(reg, s);
    node_ipvs(reg, s);
}

fn keepalived_vrrp(reg: &mut Registry, s: &Status) {
    let up = Gauge::<i64>::default();
    up.set(1);
    reg.register("keepalived_up", "Status", up);
    let state = gauge_family(
        reg,
        "keepalived_vrrp_state",
        "State of vrrp: 0 init, 1 backup, 2 master, 3 fault",
    );
    let counters: Vec<_> = [
        ("advertisements_received", "Advertisements received"),
        ("advertisements_sent", "Advertisements sent"),
        ("become_master", "Became master"),
        ("release_master", "Released master"),
        ("priority_zero_received", "Priority zero received"),
        ("priority_zero_sent", "Priority zero sent"),
    ]
    .into_iter()
    .map(|(n, h)| counter_family(reg, &format!("keepalived_{n}"), h))
    .collect();
    let errors: Vec<_> = KEEPALIVED_ERRORS
        .iter()
        .map(|(n, h, reasons)| (counter_family(reg, &format!("keepalived_{n}"), h), *reasons))
        .collect();
    for i in &s.instances {
        let vrid = i.vrid.to_string();
        let common = [
            ("iname", i.name.as_str()),
            ("intf", i.interface.as_str()),
            ("vrid", vrid.as_str()),
        ];
        let vips: Vec<String> = i.vips.iter().map(ToString::to_string).collect();
        // Without virtual addresses: one series with an empty address (as the exporter).
        let addresses: Vec<&str> = if vips.is_empty() {
            vec![""]
        } else {
            vips.iter().map(String::as_str).collect()
        };
        for a in addresses {
            let mut l = labels(&common);
            l.push(("ip_address".into(), a.into()));
            state.get_or_create(&l).set(state_code(i.state));
        }
        let l = labels(&common);
        for (family, v) in counters.iter().zip([
            i.adverts_received,
            i.adverts_sent,
            i.became_master,
            i.released_master,
            i.priority_zero_received,
            i.priority_zero_sent,
        ]) {
            family.get_or_create(&l).inc_by(v);
        }
        for (family, reasons) in &errors {
            let n: u64 = i
                .drops
                .iter()
                .filter(|(r, _)| reasons.contains(r))
                .map(|(_, n)| *n)
                .sum();
            family.get_or_create(&l).inc_by(n);
        }
    }
}

/// A service's `ADDRESS:PORT` (gen2brain's `vip`/`addr`), `FWM MARK` for a firewall mark.
fn lvs_addr(key: &ServiceKey) -> (String, String) {
    match key {
        ServiceKey::Inet { protocol, addr } => (
            format!("{}:{}", addr.ip(), addr.port()),
            protocol.number().to_string(),
        ),
        ServiceKey::Fwmark { mark, .. } => (format!("FWM {mark}"), "0".into()),
    }
}

fn saturating(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn stat_values(st: &Stats) -> [u64; 5] {
    [st.inpkts, st.outpkts, st.inbytes, st.outbytes, st.conns]
}

fn keepalived_lvs(reg: &mut Registry, s: &Status) {
    const KINDS: [(&str, &str); 5] = [
        ("in_packets", "in packets"),
        ("out_packets", "out packets"),
        ("in_bytes", "in bytes"),
        ("out_bytes", "out bytes"),
        ("conn", "connections"),
    ];
    let services = &s.ipvs.services;
    if services.is_empty() {
        return;
    }
    let vip: Vec<_> = KINDS
        .iter()
        .map(|(n, h)| {
            gauge_family(
                reg,
                &format!("keepalived_lvs_vip_{n}"),
                &format!("VIP {h} (a counter)"),
            )
        })
        .collect();
    let rs: Vec<_> = KINDS
        .iter()
        .map(|(n, h)| {
            gauge_family(
                reg,
                &format!("keepalived_lvs_rs_{n}"),
                &format!("RS {h} (a counter)"),
            )
        })
        .collect();
    for svc in services {
        let (addr, proto) = lvs_addr(&svc.key);
        let l = labels(&[("addr", addr.as_str()), ("proto", proto.as_str())]);
        for (g, v) in vip.iter().zip(stat_values(&svc.stats)) {
            g.get_or_create(&l).set(saturating(v));
        }
        for d in &svc.destinations {
            let a = format!("{}:{}", d.addr.ip(), d.addr.port());
            let l = labels(&[
                ("vip", addr.as_str()),
                ("addr", a.as_str()),
                ("proto", proto.as_str()),
            ]);
            for (g, v) in rs.iter().zip(stat_values(&d.stats)) {
                g.get_or_create(&l).set(saturating(v));
            }
        }
    }
}

/// node_exporter's backend labels of one destination of `svc`.
fn backend_labels(svc: &IpvsServiceStatus, remote: std::net::SocketAddr) -> super::observe::Labels {
    let (local_address, local_port, proto, mark) = match &svc.key {
        ServiceKey::Inet { protocol, addr } => (
            addr.ip().to_string(),
            addr.port().to_string(),
            protocol.to_string(),
            String::new(),
        ),
        ServiceKey::Fwmark { mark, .. } => (
            String::new(),
            "0".into(),
            "FWM".into(),
            format!("{mark:08X}"),
        ),
    };
    let remote_address = remote.ip().to_string();
    let remote_port = remote.port().to_string();
    labels(&[
        ("local_address", local_address.as_str()),
        ("local_port", local_port.as_str()),
        ("remote_address", remote_address.as_str()),
        ("remote_port", remote_port.as_str()),
        ("proto", proto.as_str()),
        ("local_mark", mark.as_str()),
    ])
}

fn node_ipvs(reg: &mut Registry, s: &Status) {
    let services = &s.ipvs.services;
    if services.is_empty() {
        return;
    }
    let total = |f: fn(&Stats) -> u64| services.iter().map(|v| f(&v.stats)).sum::<u64>();
    for (name, help, v) in [
        (
            "node_ipvs_connections",
            "The total number of connections made.",
            total(|t| t.conns),
        ),
        (
            "node_ipvs_incoming_packets",
            "The total number of incoming packets.",
            total(|t| t.inpkts),
        ),
        (
            "node_ipvs_outgoing_packets",
            "The total number of outgoing packets.",
            total(|t| t.outpkts),
        ),
        (
            "node_ipvs_incoming_bytes",
            "The total amount of incoming data.",
            total(|t| t.inbytes),
        ),
        (
            "node_ipvs_outgoing_bytes",
            "The total amount of outgoing data.",
            total(|t| t.outbytes),
        ),
    ] {
        let c = Counter::<u64>::default();
        c.inc_by(v);
        reg.register(name, help, c);
    }
    let active = gauge_family(
        reg,
        "node_ipvs_backend_connections_active",
        "The current active connections by local and remote address.",
    );
    let inactive = gauge_family(
        reg,
        "node_ipvs_backend_connections_inactive",
        "The current inactive connections by local and remote address.",
    );
    let weight = gauge_family(
        reg,
        "node_ipvs_backend_weight",
        "The current backend weight by local and remote address.",
    );
    for svc in services {
        for d in &svc.destinations {
            let l = backend_labels(svc, d.addr);
            active.get_or_create(&l).set(i64::from(d.active_conns));
            inactive.get_or_create(&l).set(i64::from(d.inactive_conns));
            weight.get_or_create(&l).set(i64::from(d.weight));
        }
    }
}
