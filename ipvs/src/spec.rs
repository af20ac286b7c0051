//! A desired-state file format (feature `serde`; TOML or JSON), converted to
//! the model with checks that name the offending object.
//!
//! ```toml
//! [[service]]
//! protocol = "tcp"            # tcp | udp | sctp
//! address = "10.0.0.1:80"     # or address = "10.0.0.1" with port = 80
//! scheduler = "wrr"           # default wlc
//! persistence = { timeout = 300, netmask = 24 }
//! one_packet = false
//! sched_flags = ["sh-port"]   # sh-fallback sh-port mh-fallback mh-port
//! pe = "sip"
//!
//! [[service.destination]]
//! address = "10.0.0.2:80"
//! forward = "route"           # route | masq | tunnel | local
//! weight = 1
//!
//! [[service]]
//! fwmark = 7
//! family = "inet6"            # default inet
//! ```

use crate::model::{
    Destination, Family, Forward, ModelError, Persistence, Protocol, SchedFlags, Scheduler,
    Service, ServiceKey, Tunnel, TunnelType, VirtualService,
};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSpec {
    /// The services.
    #[serde(default, rename = "service")]
    pub services: Vec<ServiceSpec>,
}

/// Persistence settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersistenceSpec {
    /// Seconds.
    pub timeout: u32,
    /// Prefix length (default: the whole address).
    #[serde(default)]
    pub netmask: Option<u8>,
}

/// One service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// tcp, udp or sctp (address services).
    #[serde(default)]
    pub protocol: Option<Protocol>,
    /// `ip:port`, or `ip` with `port`.
    #[serde(default)]
    pub address: Option<String>,
    /// The port, when `address` has none.
    #[serde(default)]
    pub port: Option<u16>,
    /// A firewall mark (instead of protocol and address).
    #[serde(default)]
    pub fwmark: Option<u32>,
    /// The family of a firewall-mark service (default inet).
    #[serde(default)]
    pub family: Option<Family>,
    /// Scheduler name (default wlc).
    #[serde(default)]
    pub scheduler: Option<String>,
    /// Scheduler flags: `sh-fallback`, `sh-port`, `mh-fallback`, `mh-port`.
    #[serde(default)]
    pub sched_flags: Vec<String>,
    /// One-packet scheduling.
    #[serde(default)]
    pub one_packet: bool,
    /// Persistence.
    #[serde(default)]
    pub persistence: Option<PersistenceSpec>,
    /// Persistence engine.
    #[serde(default)]
    pub pe: Option<String>,
    /// Destinations.
    #[serde(default, rename = "destination")]
    pub destinations: Vec<DestinationSpec>,
}

/// One destination.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationSpec {
    /// `ip:port`, or `ip` (then `port`, or the service's port, or 0 for fwmark services).
    pub address: String,
    /// The port, when `address` has none.
    #[serde(default)]
    pub port: Option<u16>,
    /// route (default), masq, tunnel, local.
    #[serde(default)]
    pub forward: Option<String>,
    /// Weight (default 1).
    #[serde(default)]
    pub weight: Option<u32>,
    /// Upper threshold.
    #[serde(default)]
    pub upper_threshold: u32,
    /// Lower threshold.
    #[serde(default)]
    pub lower_threshold: u32,
    /// Tunnel type: ipip (default), gue, gre.
    #[serde(default)]
    pub tunnel_type: Option<String>,
    /// Tunnel port (GUE).
    #[serde(default)]
    pub tunnel_port: u16,
    /// Tunnel checksum.
    #[serde(default)]
    pub tunnel_csum: bool,
    /// Tunnel remote checksum offload.
    #[serde(default)]
    pub tunnel_remcsum: bool,
}

fn invalid(object: impl Into<String>, reason: impl Into<String>) -> ModelError {
    ModelError::Invalid {
        object: object.into(),
        reason: reason.into(),
    }
}

fn addr_of(s: &str, port: Option<u16>, default_port: Option<u16>) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        if port.is_some() {
            return Err(format!("{s:?} has a port and `port` is set too"));
        }
        return Ok(a);
    }
    let bare = s.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = bare.parse().map_err(|_| format!("bad address {s:?}"))?;
    match port.or(default_port) {
        Some(p) => Ok(SocketAddr::new(ip, p)),
        None => Err(format!("address {s:?} needs a port")),
    }
}

impl ServiceSpec {
    fn name(&self) -> String {
        match (&self.fwmark, &self.address) {
            (Some(m), _) => format!("service fwmark {m}"),
            (None, Some(a)) => format!(
                "service {} {a}",
                self.protocol.map(|p| p.to_string()).unwrap_or_default()
            ),
            (None, None) => "service (no address, no fwmark)".into(),
        }
    }

    /// Convert to the model, checking the combination of fields.
    pub fn to_model(&self) -> Result<VirtualService, ModelError> {
        let name = self.name();
        let key = match (self.fwmark, &self.address) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    name,
                    "an address is not allowed on a firewall-mark service",
                ));
            }
            (Some(_), None) if self.port.is_some() => {
                return Err(invalid(
                    name,
                    "a port is not allowed on a firewall-mark service",
                ));
            }
            (Some(_), None) if self.protocol.is_some() => {
                return Err(invalid(
                    name,
                    "a protocol is not allowed on a firewall-mark service",
                ));
            }
            (Some(mark), None) => ServiceKey::Fwmark {
                mark,
                family: self.family.unwrap_or(Family::Inet),
            },
            (None, Some(a)) => {
                let addr = addr_of(a, self.port, None).map_err(|r| invalid(&name, r))?;
                if let Some(f) = self.family
                    && f != Family::of(addr.ip())
                {
                    return Err(invalid(name, "family does not match the address"));
                }
                ServiceKey::Inet {
                    protocol: self
                        .protocol
                        .ok_or_else(|| invalid(&name, "needs a protocol (tcp, udp, sctp)"))?,
                    addr,
                }
            }
            (None, None) => return Err(invalid(name, "needs an address or a fwmark")),
        };
        let mut flags = SchedFlags::default();
        for f in &self.sched_flags {
            match f.as_str() {
                "sh-fallback" | "mh-fallback" => flags.fallback = true,
                "sh-port" | "mh-port" => flags.port = true,
                "flag-3" => flags.flag3 = true,
                o => return Err(invalid(&name, format!("unknown scheduler flag {o:?}"))),
            }
        }
        let full = match key.family() {
            Family::Inet => 32,
            Family::Inet6 => 128,
        };
        let service = Service {
            key,
            scheduler: Scheduler::from_name(self.scheduler.as_deref().unwrap_or("wlc")),
            sched_flags: flags,
            one_packet: self.one_packet,
            persistence: self.persistence.as_ref().map(|p| Persistence {
                timeout: p.timeout,
                netmask: p.netmask.unwrap_or(full),
            }),
            pe_name: self.pe.clone(),
        };
        let default_port = match key {
            ServiceKey::Inet { addr, .. } => addr.port(),
            ServiceKey::Fwmark { .. } => 0,
        };
        let mut destinations = Vec::with_capacity(self.destinations.len());
        for d in &self.destinations {
            let dname = || format!("destination {} of {name}", d.address);
            let addr =
                addr_of(&d.address, d.port, Some(default_port)).map_err(|r| invalid(dname(), r))?;
            let forward = match d.forward.as_deref().unwrap_or("route") {
                "route" | "dr" | "gatewaying" => Forward::Route,
                "masq" | "nat" => Forward::Masq,
                "local" => Forward::Local,
                "tunnel" | "tun" | "ipip" => Forward::Tunnel(Tunnel {
                    kind: match d.tunnel_type.as_deref().unwrap_or("ipip") {
                        "ipip" => TunnelType::Ipip,
                        "gue" => TunnelType::Gue,
                        "gre" => TunnelType::Gre,
                        o => return Err(invalid(dname(), format!("unknown tunnel type {o:?}"))),
                    },
                    port: d.tunnel_port,
                    csum: d.tunnel_csum,
                    remcsum: d.tunnel_remcsum,
                }),
                o => return Err(invalid(dname(), format!("unknown forwarding method {o:?}"))),
            };
            destinations.push(Destination {
                addr,
                forward,
                weight: d.weight.unwrap_or(1),
                upper_threshold: d.upper_threshold,
                lower_threshold: d.lower_threshold,
            });
        }
        let vs = VirtualService {
            service,
            destinations,
        };
        vs.validate()?;
        Ok(vs)
    }
}

impl StateSpec {
    /// Convert and validate the whole desired state (no service twice).
    pub fn to_model(&self) -> Result<Vec<VirtualService>, ModelError> {
        let v = self
            .services
            .iter()
            .map(ServiceSpec::to_model)
            .collect::<Result<Vec<_>, _>>()?;
        crate::diff::validate(&v)?;
        Ok(v)
    }
}
