//! The `ipvsadm` rule format (`ipvsadm -S -n` output, `ipvsadm -R` input),
//! both ways: to cross-check against `ipvsadm` and to feed it the same rules.

use crate::model::{
    Destination, Family, Forward, Persistence, Protocol, SchedFlags, Scheduler, Service,
    ServiceKey, Tunnel, TunnelType, VirtualService, netmask_from_wire,
};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A line of ipvsadm rules that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ipvsadm rules line {line}: {reason}: {text:?}")]
pub struct RulesError {
    /// 1-based line number.
    pub line: usize,
    /// The line.
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

fn sockaddr(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        SocketAddr::V6(v) => format!("[{}]:{}", v.ip(), v.port()),
    }
}

fn key_args(k: &ServiceKey) -> String {
    match k {
        ServiceKey::Inet { protocol, addr } => {
            let opt = match protocol {
                Protocol::Tcp => "-t",
                Protocol::Udp => "-u",
                Protocol::Sctp => "--sctp-service",
            };
            format!("{opt} {}", sockaddr(addr))
        }
        ServiceKey::Fwmark { mark, family } => match family {
            Family::Inet => format!("-f {mark}"),
            Family::Inet6 => format!("-f {mark} -6"),
        },
    }
}

/// Format services and destinations as `ipvsadm -R` input (one `-A` line per
/// service followed by its `-a` lines).
pub fn to_rules(state: &[VirtualService]) -> String {
    let mut out = String::new();
    for vs in state {
        let s = &vs.service;
        let key = key_args(&s.key);
        let _ = write!(out, "-A {key} -s {}", s.scheduler);
        let prefix = match s.scheduler {
            Scheduler::Mh => "mh",
            _ => "sh",
        };
        let mut flags = Vec::new();
        if s.sched_flags.fallback {
            flags.push(format!("{prefix}-fallback"));
        }
        if s.sched_flags.port {
            flags.push(format!("{prefix}-port"));
        }
        if !flags.is_empty() {
            let _ = write!(out, " -b {}", flags.join(","));
        }
        if let Some(p) = s.persistence {
            let _ = write!(out, " -p {}", p.timeout);
            match s.key.family() {
                Family::Inet if p.netmask != 32 => {
                    let m = if p.netmask == 0 {
                        0
                    } else {
                        u32::MAX << (32 - u32::from(p.netmask))
                    };
                    let _ = write!(out, " -M {}", Ipv4Addr::from(m));
                }
                Family::Inet6 if p.netmask != 128 => {
                    let _ = write!(out, " -M {}", p.netmask);
                }
                _ => {}
            }
        }
        if s.one_packet {
            out.push_str(" -o");
        }
        if let Some(pe) = &s.pe_name {
            let _ = write!(out, " --pe {pe}");
        }
        out.push('\n');
        for d in &vs.destinations {
            let _ = write!(out, "-a {key} -r {}", sockaddr(&d.addr));
            match d.forward {
                Forward::Masq => out.push_str(" -m"),
                Forward::Route | Forward::Local => out.push_str(" -g"),
                Forward::Tunnel(t) => {
                    out.push_str(" -i");
                    match t.kind {
                        TunnelType::Ipip => {}
                        TunnelType::Gue => {
                            let _ = write!(out, " --tun-type gue --tun-port {}", t.port);
                        }
                        TunnelType::Gre => out.push_str(" --tun-type gre"),
                    }
                    if t.kind != TunnelType::Ipip {
                        if t.remcsum {
                            out.push_str(" --tun-remcsum");
                        } else if t.csum {
                            out.push_str(" --tun-csum");
                        }
                    }
                }
            }
            let _ = write!(out, " -w {}", d.weight);
            if d.upper_threshold != 0 {
                let _ = write!(out, " -x {}", d.upper_threshold);
            }
            if d.lower_threshold != 0 {
                let _ = write!(out, " -y {}", d.lower_threshold);
            }
            out.push('\n');
        }
    }
    out
}

fn parse_sockaddr(s: &str, default_port: Option<u16>) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let bare = s.trim_start_matches('[').trim_end_matches(']');
    match (bare.parse::<IpAddr>(), default_port) {
        (Ok(ip), Some(p)) => Ok(SocketAddr::new(ip, p)),
        _ => Err(format!("bad address {s:?}")),
    }
}

/// Parse `ipvsadm -S -n` output (or `-R` input) into services and their
/// destinations, in order of appearance. Blank lines and `#` comments are skipped.
pub fn parse_rules(text: &str) -> Result<Vec<VirtualService>, RulesError> {
    let mut out: Vec<VirtualService> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let err = |reason: String| RulesError {
            line: i + 1,
            text: line.to_string(),
            reason,
        };
        let toks: Vec<&str> = t.split_whitespace().collect();
        let mut add_service = None;
        let mut proto = None;
        let mut addr_s = None;
        let mut mark = None;
        let mut v6 = false;
        let mut sched = None;
        let mut flags = SchedFlags::default();
        let mut timeout = None;
        let mut netmask = None;
        let mut one_packet = false;
        let mut pe = None;
        let mut real = None;
        let mut fwd = Forward::Route;
        let mut tun = Tunnel::default();
        let mut weight = 1;
        let mut upper = 0;
        let mut lower = 0;
        let mut j = 0;
        while j < toks.len() {
            let opt = toks[j];
            let mut val = || {
                j += 1;
                toks.get(j)
                    .copied()
                    .ok_or_else(|| err(format!("{opt} needs a value")))
            };
            let num = |s: &str| -> Result<u32, RulesError> {
                s.parse::<u32>()
                    .map_err(|_| err(format!("bad number {s:?}")))
            };
            match opt {
                "-A" | "--add-service" => add_service = Some(true),
                "-a" | "--add-server" => add_service = Some(false),
                "-t" | "--tcp-service" => {
                    proto = Some(Protocol::Tcp);
                    addr_s = Some(val()?);
                }
                "-u" | "--udp-service" => {
                    proto = Some(Protocol::Udp);
                    addr_s = Some(val()?);
                }
                "--sctp-service" => {
                    proto = Some(Protocol::Sctp);
                    addr_s = Some(val()?);
                }
                "-f" | "--fwmark-service" => mark = Some(num(val()?)?),
                "-6" | "--ipv6" => v6 = true,
                "-s" | "--scheduler" => sched = Some(Scheduler::from_name(val()?)),
                "-b" | "--sched-flags" => {
                    for f in val()?.split(',') {
                        match f {
                            "sh-fallback" | "mh-fallback" | "flag-1" => flags.fallback = true,
                            "sh-port" | "mh-port" | "flag-2" => flags.port = true,
                            "flag-3" => flags.flag3 = true,
                            other => return Err(err(format!("unknown scheduler flag {other:?}"))),
                        }
                    }
                }
                "-p" | "--persistent" => {
                    let next = toks.get(j + 1).copied();
                    match next.and_then(|s| s.parse::<u32>().ok()) {
                        Some(v) => {
                            j += 1;
                            timeout = Some(v);
                        }
                        None => timeout = Some(300),
                    }
                }
                "-M" | "--netmask" => netmask = Some(val()?.to_string()),
                "-o" | "--ops" => one_packet = true,
                "--pe" => pe = Some(val()?.to_string()),
                "-r" | "--real-server" => real = Some(val()?),
                "-g" | "--gatewaying" => fwd = Forward::Route,
                "-m" | "--masquerading" => fwd = Forward::Masq,
                "-i" | "--ipip" => fwd = Forward::Tunnel(Tunnel::default()),
                "--tun-type" => {
                    tun.kind = match val()? {
                        "ipip" => TunnelType::Ipip,
                        "gue" => TunnelType::Gue,
                        "gre" => TunnelType::Gre,
                        o => return Err(err(format!("unknown tunnel type {o:?}"))),
                    }
                }
                "--tun-port" => {
                    let v = num(val()?)?;
                    tun.port = u16::try_from(v).map_err(|_| err("tunnel port too big".into()))?;
                }
                "--tun-nocsum" => {
                    tun.csum = false;
                    tun.remcsum = false;
                }
                "--tun-csum" => tun.csum = true,
                "--tun-remcsum" => tun.remcsum = true,
                "-w" | "--weight" => weight = num(val()?)?,
                "-x" | "--u-threshold" => upper = num(val()?)?,
                "-y" | "--l-threshold" => lower = num(val()?)?,
                other => return Err(err(format!("unknown option {other:?}"))),
            }
            j += 1;
        }
        let key = match (proto, addr_s, mark) {
            (Some(p), Some(a), None) => ServiceKey::Inet {
                protocol: p,
                addr: parse_sockaddr(a, None).map_err(err)?,
            },
            (None, None, Some(m)) => ServiceKey::Fwmark {
                mark: m,
                family: if v6 { Family::Inet6 } else { Family::Inet },
            },
            (Some(_), Some(_), Some(_)) => {
                return Err(err("both a firewall mark and an address".into()));
            }
            _ => return Err(err("no service given".into())),
        };
        match add_service {
            Some(true) => {
                let family = key.family();
                let persistence = match timeout {
                    None => None,
                    Some(t) => {
                        let nm = match (&netmask, family) {
                            (None, Family::Inet) => 32,
                            (None, Family::Inet6) => 128,
                            (Some(m), Family::Inet) => {
                                let ip: Ipv4Addr =
                                    m.parse().map_err(|_| err(format!("bad netmask {m:?}")))?;
                                let wire = u32::from_ne_bytes(ip.octets());
                                netmask_from_wire(Family::Inet, wire)
                            }
                            (Some(m), Family::Inet6) => m
                                .parse::<u8>()
                                .map_err(|_| err(format!("bad netmask {m:?}")))?,
                        };
                        Some(Persistence {
                            timeout: t,
                            netmask: nm,
                        })
                    }
                };
                out.push(VirtualService {
                    service: Service {
                        key,
                        scheduler: sched.unwrap_or(Scheduler::Wlc),
                        sched_flags: flags,
                        one_packet,
                        persistence,
                        pe_name: pe,
                    },
                    destinations: Vec::new(),
                });
            }
            Some(false) => {
                let r = real.ok_or_else(|| err("-a without -r".into()))?;
                let default_port = match key {
                    ServiceKey::Inet { addr, .. } => addr.port(),
                    ServiceKey::Fwmark { .. } => 0,
                };
                let addr = parse_sockaddr(r, Some(default_port)).map_err(err)?;
                if let Forward::Tunnel(_) = fwd {
                    fwd = Forward::Tunnel(tun);
                }
                let vs = out
                    .iter_mut()
                    .find(|v| v.service.key == key)
                    .ok_or_else(|| err(format!("destination of unknown service {key}")))?;
                vs.destinations.push(Destination {
                    addr,
                    forward: fwd,
                    weight,
                    upper_threshold: upper,
                    lower_threshold: lower,
                });
            }
            None => return Err(err("neither -A nor -a".into())),
        }
    }
    Ok(out)
}
