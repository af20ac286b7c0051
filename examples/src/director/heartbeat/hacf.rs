//! `ha.cf`: heartbeat's node, timing and communication settings, read into [`HaCf`].
//!
//! Every directive of heartbeat 3.0.6 is known: the ones that mean something for a pair of
//! directors are read, the logging and daemon plumbing ones are accepted with a note (they
//! have nothing to do here), and the ones that would need a part we do not have (serial
//! links, Pacemaker, autojoin) are errors.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::lex::{self, Word};
use super::{HeartbeatError, HeartbeatErrorKind};
use crate::director::{Location, Warning};

/// `auto_failback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoFailback {
    /// The resources go back to their home node when it returns.
    On,
    /// They stay where they are.
    Off,
    /// heartbeat's default: `on` in a cluster that all understands `auto_failback`.
    Legacy,
}

/// One communication path (`ucast`, `bcast`, `mcast`, `ucast6`, `mcast6`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Medium {
    /// `ucast IF PEER`: unicast to a peer over an interface.
    Ucast {
        /// The interface.
        interface: String,
        /// The peer's address (this node's own address is skipped, as heartbeat does).
        peer: IpAddr,
    },
    /// `bcast IF...`: to every node on the link.
    Bcast {
        /// The interface.
        interface: String,
    },
    /// `mcast IF GROUP PORT TTL LOOP`.
    Mcast {
        /// The interface.
        interface: String,
        /// The group.
        group: IpAddr,
    },
}

/// A ping node (`ping ADDR`) or ping group (`ping_group NAME ADDR...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingNode {
    /// The address for `ping`, the group's name for `ping_group`.
    pub name: String,
    /// Reachable when any of these answers.
    pub addresses: Vec<IpAddr>,
    /// Where.
    pub location: Location,
}

/// A STONITH device (`stonith TYPE FILE` or `stonith_host FROM TYPE PARAMS...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stonith {
    /// The node the device is reachable from (`*`: any).
    pub from: String,
    /// The device type (`stonith -t TYPE`).
    pub kind: String,
    /// `stonith_host`'s parameters, or `stonith`'s configuration file.
    pub params: StonithParams,
    /// Where.
    pub location: Location,
}

/// How a STONITH device is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StonithParams {
    /// Positional parameters (`stonith -p "..."`).
    Inline(Vec<String>),
    /// A configuration file (`stonith -F FILE`).
    File(PathBuf),
}

/// A value and where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At<T> {
    /// The value.
    pub value: T,
    /// Where.
    pub location: Location,
}

/// The settings of an `ha.cf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaCf {
    /// The file.
    pub file: PathBuf,
    /// `keepalive`, ms (default 1000).
    pub keepalive_ms: At<u64>,
    /// `deadtime`, ms (default 30000).
    pub deadtime_ms: At<u64>,
    /// `warntime`, ms.
    pub warntime_ms: Option<At<u64>>,
    /// `initdead`, ms.
    pub initdead_ms: Option<At<u64>>,
    /// `deadping`, ms.
    pub deadping_ms: Option<At<u64>>,
    /// The communication paths, in file order.
    pub media: Vec<At<Medium>>,
    /// `auto_failback` (default legacy).
    pub auto_failback: At<AutoFailback>,
    /// `node` names, in file order.
    pub nodes: Vec<At<String>>,
    /// Ping nodes and groups.
    pub pings: Vec<PingNode>,
    /// `watchdog DEVICE`.
    pub watchdog: Option<At<PathBuf>>,
    /// STONITH devices.
    pub stonith: Vec<Stonith>,
    /// `realtime` (default on).
    pub realtime: bool,
    /// `rtprio`.
    pub rtprio: Option<u8>,
    /// Accepted directives that change nothing here.
    pub notes: Vec<Warning>,
}

/// Directives accepted with a note, and what the note says.
const NOTED: &[(&str, &str)] = &[
    (
        "logfile",
        "accepted: ha-director logs to standard error (journald under systemd)",
    ),
    (
        "debugfile",
        "accepted: ha-director logs to standard error; debug logs with `-D` or HA_DIRECTOR_LOG=debug",
    ),
    (
        "logfacility",
        "accepted: ha-director logs to standard error (journald under systemd)",
    ),
    (
        "use_logd",
        "accepted: ha-director logs to standard error (journald under systemd)",
    ),
    (
        "conn_logd_time",
        "accepted: there is no logging daemon to reconnect to",
    ),
    (
        "debug",
        "accepted: debug logs with `-D` or HA_DIRECTOR_LOG=debug",
    ),
    (
        "respawn",
        "accepted, not run: ipfail's rule is built in (ping nodes move the resources); run other programs under systemd",
    ),
    (
        "apiauth",
        "accepted: there is no heartbeat API; the control socket is root-only",
    ),
    (
        "udpport",
        "accepted: heartbeats are VRRP adverts (IP protocol 112), which have no port",
    ),
    ("baud", "accepted: serial links are not used"),
    (
        "hopfudge",
        "accepted: it applies to serial links, which are not used",
    ),
    (
        "coredumps",
        "accepted: core dumps are the system's (systemd-coredump)",
    ),
    (
        "msgfmt",
        "accepted: heartbeats are VRRP adverts, not heartbeat messages",
    ),
    (
        "compression",
        "accepted: heartbeats are VRRP adverts, not heartbeat messages",
    ),
    (
        "compression_threshold",
        "accepted: heartbeats are VRRP adverts, not heartbeat messages",
    ),
    (
        "traditional_compression",
        "accepted: heartbeats are VRRP adverts, not heartbeat messages",
    ),
    (
        "max_rexmit_delay",
        "accepted: VRRP adverts are not retransmitted",
    ),
    (
        "memreserve",
        "accepted: ha-director does not preallocate memory",
    ),
    ("log_badpack", "accepted: bad adverts are always counted"),
    (
        "syslogmsgfmt",
        "accepted: ha-director logs to standard error",
    ),
    (
        "uuidfrom",
        "accepted: nodes are known by their `node` names",
    ),
    (
        "hbgenmethod",
        "accepted: the advert generation is the start time (see the migration guide)",
    ),
    (
        "cluster",
        "accepted: adverts are told apart by VRID and interface",
    ),
    (
        "record_config_changes",
        "accepted: it applies to Pacemaker only",
    ),
    (
        "record_pengine_inputs",
        "accepted: it applies to Pacemaker only",
    ),
    (
        "enable_config_writes",
        "accepted: it applies to Pacemaker only",
    ),
    ("crm_daemon_dir", "accepted: it applies to Pacemaker only"),
    (
        "crmd_spawns_pengine",
        "accepted: it applies to Pacemaker only",
    ),
];

fn err(file: &Path, w: &Word, kind: HeartbeatErrorKind) -> HeartbeatError {
    HeartbeatError {
        location: w.at(file),
        kind,
    }
}

fn bad(file: &Path, w: &Word, keyword: &str, expected: &'static str) -> HeartbeatError {
    err(
        file,
        w,
        HeartbeatErrorKind::BadValue {
            keyword: keyword.to_owned(),
            value: w.text.clone(),
            expected,
        },
    )
}

fn time(file: &Path, line: &[Word], errs: &mut Vec<HeartbeatError>) -> Option<At<u64>> {
    let key = &line[0];
    let v = arg(file, line, 1, errs)?;
    match lex::millis(&v.text) {
        Some(ms) if ms > 0 => Some(At {
            value: ms,
            location: key.at(file),
        }),
        _ => {
            errs.push(bad(
                file,
                v,
                &key.text,
                "a time (seconds, or with ms: `10`, `1500ms`)",
            ));
            None
        }
    }
}

fn arg<'a>(
    file: &Path,
    line: &'a [Word],
    i: usize,
    errs: &mut Vec<HeartbeatError>,
) -> Option<&'a Word> {
    let w = line.get(i);
    if w.is_none() {
        errs.push(err(
            file,
            &line[0],
            HeartbeatErrorKind::MissingArgument {
                keyword: line[0].text.clone(),
            },
        ));
    }
    w
}

fn address(file: &Path, w: &Word, keyword: &str, errs: &mut Vec<HeartbeatError>) -> Option<IpAddr> {
    // `ucast6 eth1 fe80::1%eth1`: the scope must be the interface, which is implied anyway.
    let text = w.text.split('%').next().unwrap_or("");
    match text.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            errs.push(bad(file, w, keyword, "an IP address"));
            None
        }
    }
}

/// Reads an `ha.cf` from its text.
pub fn parse(text: &str, file: &Path) -> Result<HaCf, Vec<HeartbeatError>> {
    let mut errs = Vec::new();
    let start = Location {
        file: file.to_path_buf(),
        line: 1,
        column: 1,
    };
    let mut cf = HaCf {
        file: file.to_path_buf(),
        keepalive_ms: At {
            value: 1_000,
            location: start.clone(),
        },
        deadtime_ms: At {
            value: 30_000,
            location: start.clone(),
        },
        warntime_ms: None,
        initdead_ms: None,
        deadping_ms: None,
        media: Vec::new(),
        auto_failback: At {
            value: AutoFailback::Legacy,
            location: start.clone(),
        },
        nodes: Vec::new(),
        pings: Vec::new(),
        watchdog: None,
        stonith: Vec::new(),
        realtime: true,
        rtprio: None,
        notes: Vec::new(),
    };
    let mut failback_set = false;
    for line in lex::lines(text, false) {
        let key = &line[0];
        let k = key.text.as_str();
        let here = key.at(file);
        match k {
            "keepalive" => {
                if let Some(t) = time(file, &line, &mut errs) {
                    cf.keepalive_ms = t;
                }
            }
            "deadtime" => {
                if let Some(t) = time(file, &line, &mut errs) {
                    cf.deadtime_ms = t;
                }
            }
            "warntime" => cf.warntime_ms = time(file, &line, &mut errs),
            "initdead" => cf.initdead_ms = time(file, &line, &mut errs),
            "deadping" => cf.deadping_ms = time(file, &line, &mut errs),
            "ucast" | "ucast6" => {
                let (Some(dev), Some(peer)) = (
                    arg(file, &line, 1, &mut errs),
                    arg(file, &line, 2, &mut errs),
                ) else {
                    continue;
                };
                if let Some(p) = address(file, peer, k, &mut errs) {
                    if (k == "ucast6") != p.is_ipv6() {
                        errs.push(bad(
                            file,
                            peer,
                            k,
                            if k == "ucast6" {
                                "an IPv6 address"
                            } else {
                                "an IPv4 address (use ucast6 for IPv6)"
                            },
                        ));
                        continue;
                    }
                    cf.media.push(At {
                        value: Medium::Ucast {
                            interface: dev.text.clone(),
                            peer: p,
                        },
                        location: here,
                    });
                }
            }
            "bcast" => {
                if arg(file, &line, 1, &mut errs).is_none() {
                    continue;
                }
                for dev in &line[1..] {
                    cf.media.push(At {
                        value: Medium::Bcast {
                            interface: dev.text.clone(),
                        },
                        location: dev.at(file),
                    });
                }
            }
            "mcast" | "mcast6" => {
                let Some(dev) = arg(file, &line, 1, &mut errs) else {
                    continue;
                };
                let Some(g) = arg(file, &line, 2, &mut errs) else {
                    continue;
                };
                let Some(group) = address(file, g, k, &mut errs) else {
                    continue;
                };
                if !group.is_multicast() || (k == "mcast6") != group.is_ipv6() {
                    errs.push(bad(
                        file,
                        g,
                        k,
                        if k == "mcast6" {
                            "an IPv6 multicast group"
                        } else {
                            "an IPv4 multicast group (224.0.0.0/4)"
                        },
                    ));
                    continue;
                }
                // PORT TTL LOOP: heartbeat requires all three.
                for (i, what) in [(3, "a UDP port"), (4, "a TTL"), (5, "0 or 1")] {
                    if let Some(w) = arg(file, &line, i, &mut errs)
                        && w.text.parse::<u16>().is_err()
                    {
                        errs.push(bad(file, w, k, what));
                    }
                }
                if let Some(ttl) = line.get(4)
                    && ttl.text != "255"
                {
                    cf.notes.push(Warning {
                        location: ttl.at(file),
                        keyword: k.to_owned(),
                        action: format!(
                            "ttl {} replaced by 255: VRRP adverts are sent with TTL 255 and receivers drop others (RFC 9568 §5.1.1.3), so they never leave the link",
                            ttl.text
                        ),
                    });
                }
                cf.media.push(At {
                    value: Medium::Mcast {
                        interface: dev.text.clone(),
                        group,
                    },
                    location: here,
                });
            }
            "auto_failback" | "nice_failback" => {
                let Some(v) = arg(file, &line, 1, &mut errs) else {
                    continue;
                };
                let value = if k == "nice_failback" {
                    // heartbeat: `nice_failback on` is `auto_failback off`, `off` is legacy.
                    match lex::boolean(&v.text) {
                        Some(true) => AutoFailback::Off,
                        Some(false) => AutoFailback::Legacy,
                        None => {
                            errs.push(bad(file, v, k, "on or off"));
                            continue;
                        }
                    }
                } else if v.text.eq_ignore_ascii_case("legacy") {
                    AutoFailback::Legacy
                } else {
                    match lex::boolean(&v.text) {
                        Some(true) => AutoFailback::On,
                        Some(false) => AutoFailback::Off,
                        None => {
                            errs.push(bad(file, v, k, "on, off or legacy"));
                            continue;
                        }
                    }
                };
                failback_set = true;
                cf.auto_failback = At {
                    value,
                    location: here,
                };
            }
            "node" => {
                if arg(file, &line, 1, &mut errs).is_none() {
                    continue;
                }
                for n in &line[1..] {
                    if cf.nodes.iter().any(|m| m.value == n.text) {
                        errs.push(err(
                            file,
                            n,
                            HeartbeatErrorKind::Duplicate {
                                what: format!("node {}", n.text),
                            },
                        ));
                        continue;
                    }
                    cf.nodes.push(At {
                        value: n.text.clone(),
                        location: n.at(file),
                    });
                }
            }
            "ping" => {
                if arg(file, &line, 1, &mut errs).is_none() {
                    continue;
                }
                // Each address of a `ping` line is a ping node of its own.
                for w in &line[1..] {
                    if let Some(a) = address(file, w, k, &mut errs) {
                        cf.pings.push(PingNode {
                            name: w.text.clone(),
                            addresses: vec![a],
                            location: w.at(file),
                        });
                    }
                }
            }
            "ping_group" => {
                let Some(name) = arg(file, &line, 1, &mut errs) else {
                    continue;
                };
                if arg(file, &line, 2, &mut errs).is_none() {
                    continue;
                }
                let addresses: Vec<IpAddr> = line[2..]
                    .iter()
                    .filter_map(|w| address(file, w, k, &mut errs))
                    .collect();
                cf.pings.push(PingNode {
                    name: name.text.clone(),
                    addresses,
                    location: here,
                });
            }
            "watchdog" => {
                if let Some(v) = arg(file, &line, 1, &mut errs) {
                    if cf.watchdog.is_some() {
                        errs.push(err(
                            file,
                            key,
                            HeartbeatErrorKind::Duplicate {
                                what: "watchdog".into(),
                            },
                        ));
                    }
                    cf.watchdog = Some(At {
                        value: PathBuf::from(&v.text),
                        location: here,
                    });
                }
            }
            "stonith" => {
                let (Some(t), Some(f)) = (
                    arg(file, &line, 1, &mut errs),
                    arg(file, &line, 2, &mut errs),
                ) else {
                    continue;
                };
                cf.stonith.push(Stonith {
                    from: "*".into(),
                    kind: t.text.clone(),
                    params: StonithParams::File(PathBuf::from(&f.text)),
                    location: here,
                });
            }
            "stonith_host" => {
                let (Some(from), Some(t)) = (
                    arg(file, &line, 1, &mut errs),
                    arg(file, &line, 2, &mut errs),
                ) else {
                    continue;
                };
                cf.stonith.push(Stonith {
                    from: from.text.clone(),
                    kind: t.text.clone(),
                    params: StonithParams::Inline(
                        line[3..].iter().map(|w| w.text.clone()).collect(),
                    ),
                    location: here,
                });
            }
            "realtime" => {
                if let Some(v) = arg(file, &line, 1, &mut errs) {
                    match lex::boolean(&v.text) {
                        Some(b) => cf.realtime = b,
                        None => errs.push(bad(file, v, k, "on or off")),
                    }
                }
            }
            "rtprio" => {
                if let Some(v) = arg(file, &line, 1, &mut errs) {
                    match v.text.parse::<u8>() {
                        Ok(p) if (1..=99).contains(&p) => cf.rtprio = Some(p),
                        _ => errs.push(bad(file, v, k, "a SCHED_FIFO priority, 1 to 99")),
                    }
                }
            }
            "crm" | "pacemaker" => {
                // `off` / `no` are fine: haresources is then in charge, as here.
                if let Some(v) = arg(file, &line, 1, &mut errs)
                    && lex::boolean(&v.text) != Some(false)
                {
                    errs.push(err(
                        file,
                        key,
                        HeartbeatErrorKind::Unsupported {
                            keyword: k.to_owned(),
                            reason: "a Pacemaker cluster keeps its resources in the CIB, not in haresources: migrate the resources to haresources or stay on Pacemaker",
                        },
                    ));
                }
            }
            "autojoin" => {
                if let Some(v) = arg(file, &line, 1, &mut errs)
                    && v.text != "none"
                {
                    errs.push(err(
                        file,
                        key,
                        HeartbeatErrorKind::Unsupported {
                            keyword: k.to_owned(),
                            reason: "the nodes are the `node` lines; name every node",
                        },
                    ));
                }
            }
            "serial" => errs.push(err(
                file,
                key,
                HeartbeatErrorKind::Unsupported {
                    keyword: k.to_owned(),
                    reason: "serial heartbeat links are not supported: use a second network path (another ucast/bcast/mcast line on another interface) for the redundant link",
                },
            )),
            "hbaping" => errs.push(err(
                file,
                key,
                HeartbeatErrorKind::Unsupported {
                    keyword: k.to_owned(),
                    reason: "Fibre Channel ping nodes are not supported (heartbeat never fully supported them either); use `ping` nodes",
                },
            )),
            "quorum_server" | "weight" | "site" => errs.push(err(
                file,
                key,
                HeartbeatErrorKind::Unsupported {
                    keyword: k.to_owned(),
                    reason: "it applies to Pacemaker clusters only",
                },
            )),
            "udp" => errs.push(err(
                file,
                key,
                HeartbeatErrorKind::Unsupported {
                    keyword: k.to_owned(),
                    reason: "heartbeat replaced it by `bcast`: write `bcast` instead",
                },
            )),
            _ => {
                if let Some((_, action)) = NOTED.iter().find(|(n, _)| *n == k) {
                    cf.notes.push(Warning {
                        location: here,
                        keyword: k.to_owned(),
                        action: (*action).to_owned(),
                    });
                } else {
                    errs.push(err(
                        file,
                        key,
                        HeartbeatErrorKind::UnknownKeyword {
                            keyword: k.to_owned(),
                        },
                    ));
                }
            }
        }
    }
    if !failback_set {
        cf.notes.push(Warning {
            location: start.clone(),
            keyword: "auto_failback".into(),
            action:
                "not set: heartbeat's default `legacy` is run as `on` (set it to `on` or `off`)"
                    .into(),
        });
    } else if cf.auto_failback.value == AutoFailback::Legacy {
        cf.notes.push(Warning {
            location: cf.auto_failback.location.clone(),
            keyword: "auto_failback".into(),
            action: "`legacy` is run as `on`".into(),
        });
    }
    check_timing(&cf, &mut errs);
    if cf.media.is_empty() {
        errs.push(HeartbeatError {
            location: start.clone(),
            kind: HeartbeatErrorKind::Missing {
                what: "a communication path (`ucast`, `bcast` or `mcast`)",
            },
        });
    }
    if cf.nodes.is_empty() {
        errs.push(HeartbeatError {
            location: start,
            kind: HeartbeatErrorKind::Missing {
                what: "`node` lines naming the cluster's nodes",
            },
        });
    }
    if errs.is_empty() { Ok(cf) } else { Err(errs) }
}

/// heartbeat's own timing checks, as errors where heartbeat refuses to start.
fn check_timing(cf: &HaCf, errs: &mut Vec<HeartbeatError>) {
    let keep = cf.keepalive_ms.value;
    let dead = cf.deadtime_ms.value;
    if dead <= 2 * keep {
        errs.push(HeartbeatError {
            location: cf.deadtime_ms.location.clone(),
            kind: HeartbeatErrorKind::Timing(format!(
                "deadtime ({dead} ms) must be more than twice keepalive ({keep} ms)"
            )),
        });
    }
    if let Some(w) = &cf.warntime_ms
        && (w.value > dead || w.value < keep)
    {
        errs.push(HeartbeatError {
            location: w.location.clone(),
            kind: HeartbeatErrorKind::Timing(format!(
                "warntime ({} ms) must be between keepalive ({keep} ms) and deadtime ({dead} ms)",
                w.value
            )),
        });
    }
    if let Some(i) = &cf.initdead_ms
        && i.value < dead
    {
        errs.push(HeartbeatError {
            location: i.location.clone(),
            kind: HeartbeatErrorKind::Timing(format!(
                "initdead ({} ms) is smaller than deadtime ({dead} ms)",
                i.value
            )),
        });
    }
    if let Some(p) = &cf.deadping_ms
        && p.value <= 2 * keep
    {
        errs.push(HeartbeatError {
            location: p.location.clone(),
            kind: HeartbeatErrorKind::Timing(format!(
                "deadping ({} ms) must be more than twice keepalive ({keep} ms)",
                p.value
            )),
        });
    }
    // VRRPv3 carries the advert interval in centiseconds, 12 bits (RFC 9568 §5.2.7).
    if !keep.is_multiple_of(10) || keep > 40_950 {
        errs.push(HeartbeatError {
            location: cf.keepalive_ms.location.clone(),
            kind: HeartbeatErrorKind::Timing(format!(
                "keepalive ({keep} ms) must be a multiple of 10 ms and at most 40.95 s: heartbeats are VRRPv3 adverts, whose interval is in centiseconds (RFC 9568 §5.2.7)"
            )),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> HaCf {
        parse(text, Path::new("ha.cf")).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn first_error(text: &str) -> String {
        parse(text, Path::new("ha.cf")).unwrap_err()[0].to_string()
    }

    #[test]
    fn unicast_with_ping_nodes() {
        let cf = ok(
            "logfacility local0\nkeepalive 2\ndeadtime 30\nwarntime 10\ninitdead 120\n\
                     udpport 694\nucast eth0 192.168.1.2\nucast eth0 192.168.1.1\n\
                     auto_failback on\nnode ken3\nnode kathy\nping 10.10.10.254\n\
                     ping_group group1 10.10.10.253 10.10.10.252\nrespawn hacluster /usr/lib/heartbeat/ipfail\n\
                     apiauth ipfail gid=haclient uid=hacluster\n",
        );
        assert_eq!(cf.keepalive_ms.value, 2_000);
        assert_eq!(cf.deadtime_ms.value, 30_000);
        assert_eq!(cf.warntime_ms.as_ref().unwrap().value, 10_000);
        assert_eq!(cf.initdead_ms.as_ref().unwrap().value, 120_000);
        assert_eq!(cf.media.len(), 2);
        assert_eq!(cf.auto_failback.value, AutoFailback::On);
        assert_eq!(cf.nodes.len(), 2);
        assert_eq!(cf.pings.len(), 2);
        assert_eq!(cf.pings[1].addresses.len(), 2);
        let noted: Vec<&str> = cf.notes.iter().map(|w| w.keyword.as_str()).collect();
        assert_eq!(noted, ["logfacility", "udpport", "respawn", "apiauth"]);
    }

    #[test]
    fn bcast_mcast_and_defaults() {
        let cf = ok("bcast eth0 eth1\nmcast eth2 239.0.0.1 694 1 0\nnode a b\n");
        assert_eq!(cf.keepalive_ms.value, 1_000);
        assert_eq!(cf.deadtime_ms.value, 30_000);
        assert_eq!(cf.media.len(), 3);
        assert_eq!(cf.media[1].location.column, 12);
        assert_eq!(cf.auto_failback.value, AutoFailback::Legacy);
        assert!(cf.notes.iter().any(|w| w.keyword == "mcast"));
        assert!(cf.notes.iter().any(|w| w.keyword == "auto_failback"));
        assert!(cf.realtime);
    }

    #[test]
    fn errors_name_the_place() {
        assert!(first_error("bcast eth0\nnode a\nkeepalive x\n").starts_with("ha.cf:3:11:"));
        assert!(
            first_error("bcast eth0\nnode a\nfrobnicate 1\n")
                .contains("ha.cf:3:1: unknown directive `frobnicate`")
        );
        assert!(first_error("node a\n").contains("communication path"));
        assert!(first_error("bcast eth0\n").contains("`node`"));
        assert!(
            first_error("bcast eth0\nnode a\nkeepalive 2\ndeadtime 4\n")
                .contains("more than twice")
        );
        assert!(first_error("bcast eth0\nnode a\ndeadtime 10\ninitdead 5\n").contains("initdead"));
        assert!(first_error("bcast eth0\nnode a\nkeepalive 1005ms\n").contains("centiseconds"));
        assert!(first_error("serial /dev/ttyS0\nbcast eth0\nnode a\n").contains("serial"));
        assert!(first_error("crm respawn\nbcast eth0\nnode a\n").contains("Pacemaker"));
        assert!(first_error("ucast eth0 fe80::1\nnode a\n").contains("ucast6"));
        assert!(first_error("mcast eth0 10.0.0.1 694 1 0\nnode a\n").contains("multicast"));
        assert!(first_error("bcast eth0\nnode a a\n").contains("duplicate node a"));
        assert!(
            first_error("bcast eth0\nnode a\nauto_failback maybe\n").contains("on, off or legacy")
        );
        // pacemaker off is fine.
        ok("crm off\nbcast eth0\nnode a\nauto_failback off\n");
        assert_eq!(
            ok("nice_failback on\nbcast eth0\nnode a\n")
                .auto_failback
                .value,
            AutoFailback::Off
        );
    }

    #[test]
    fn stonith_and_watchdog() {
        let cf = ok(
            "bcast eth0\nnode a b\nstonith_host * baytech 10.0.0.3 mylogin secret\n\
                     stonith rps10 /etc/ha.d/conf/stonith.rps10\nwatchdog /dev/watchdog\nrealtime off\n",
        );
        assert_eq!(cf.stonith.len(), 2);
        assert_eq!(
            cf.stonith[0].params,
            StonithParams::Inline(vec!["10.0.0.3".into(), "mylogin".into(), "secret".into()])
        );
        assert_eq!(
            cf.watchdog.as_ref().unwrap().value,
            PathBuf::from("/dev/watchdog")
        );
        assert!(!cf.realtime);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = parse(&s, Path::new("ha.cf"));
        }
    }
}
