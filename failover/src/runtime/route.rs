//! keepalived's `virtual_routes`, understood at start and programmed through rtnetlink (added
//! with the VIPs on becoming master, removed with them): no `ip route` process.
//!
//! The syntax is keepalived's (a subset of `ip route`):
//! `[blackhole|unreachable|prohibit|throw] [to] PREFIX|default [from PREFIX] [src ADDR]
//! [via|gw ADDR] [dev IF] [onlink] [metric|preference|priority N] [table N] [scope SCOPE]
//! [protocol N] [no_track]`. A word outside it is an error that names it, so a route is never
//! half-applied. `no_track` is accepted: routes are not tracked by this runtime at all.

use std::net::IpAddr;

use netlink_packet_route::route::{RouteMessage, RouteProtocol, RouteScope, RouteType};
use rtnetlink::RouteMessageBuilder;

/// One virtual route, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// The route type: `Unicast`, or `BlackHole`, `Unreachable`, `Prohibit`, `Throw`.
    pub kind: RouteType,
    /// The destination prefix.
    pub dst: (IpAddr, u8),
    /// `from`: the source prefix (policy routing by source, IPv6).
    pub from: Option<(IpAddr, u8)>,
    /// `src`: the preferred source address.
    pub src: Option<IpAddr>,
    /// `via` / `gw`: the gateway.
    pub via: Option<IpAddr>,
    /// `dev`: the output interface.
    pub dev: Option<String>,
    /// `onlink`: the gateway is on the link even if no prefix says so.
    pub onlink: bool,
    /// `metric`: the route's priority.
    pub metric: Option<u32>,
    /// `table`: the routing table (main if absent).
    pub table: Option<u32>,
    /// `scope`.
    pub scope: Option<RouteScope>,
    /// `protocol`: the route's protocol number (static if absent).
    pub protocol: Option<u8>,
}

/// Why a route cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteParseError {
    /// No destination.
    #[error("no destination prefix")]
    NoDestination,
    /// A keyword's value is missing.
    #[error("{0:?} needs a value")]
    MissingValue(String),
    /// A value is not what its keyword takes.
    #[error("{keyword} {value:?}: {detail}")]
    BadValue {
        /// The keyword.
        keyword: String,
        /// The value.
        value: String,
        /// What it should be.
        detail: &'static str,
    },
    /// A word this runtime does not know.
    #[error("unknown word {0:?}")]
    Unknown(String),
    /// Addresses of two families in one route.
    #[error("addresses of both families")]
    MixedFamilies,
}

/// `ADDR[/LEN]` (the whole address without a length) of a route or rule keyword.
pub(super) fn prefix(keyword: &str, s: &str) -> Result<(IpAddr, u8), RouteParseError> {
    let bad = |detail| RouteParseError::BadValue {
        keyword: keyword.to_owned(),
        value: s.to_owned(),
        detail,
    };
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().map_err(|_| bad("not an IP address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => l
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= max)
            .ok_or(bad("not a prefix length of the address's family"))?,
    };
    Ok((addr, len))
}

fn addr(keyword: &str, s: &str) -> Result<IpAddr, RouteParseError> {
    s.parse().map_err(|_| RouteParseError::BadValue {
        keyword: keyword.to_owned(),
        value: s.to_owned(),
        detail: "not an IP address",
    })
}

fn number<T: std::str::FromStr>(keyword: &str, s: &str) -> Result<T, RouteParseError> {
    s.parse().map_err(|_| RouteParseError::BadValue {
        keyword: keyword.to_owned(),
        value: s.to_owned(),
        detail: "not a number in range",
    })
}

impl RouteSpec {
    /// Parses one route in keepalived's syntax (see the [module docs](self)).
    pub fn parse(s: &str) -> Result<RouteSpec, RouteParseError> {
        let mut r = RouteSpec {
            kind: RouteType::Unicast,
            dst: (IpAddr::from([0, 0, 0, 0]), 0),
            from: None,
            src: None,
            via: None,
            dev: None,
            onlink: false,
            metric: None,
            table: None,
            scope: None,
            protocol: None,
        };
        let mut dst: Option<(IpAddr, u8)> = None;
        let mut default = false;
        let mut words = s.split_whitespace().peekable();
        if let Some(kind) = words.peek().and_then(|w| match *w {
            "blackhole" => Some(RouteType::BlackHole),
            "unreachable" => Some(RouteType::Unreachable),
            "prohibit" => Some(RouteType::Prohibit),
            "throw" => Some(RouteType::Throw),
            _ => None,
        }) {
            r.kind = kind;
            words.next();
        }
        while let Some(w) = words.next() {
            let mut value = || {
                words
                    .next()
                    .ok_or_else(|| RouteParseError::MissingValue(w.to_owned()))
            };
            match w {
                "to" => {
                    let v = value()?;
                    if v == "default" {
                        default = true;
                    } else {
                        dst = Some(prefix(w, v)?);
                    }
                }
                "from" => r.from = Some(prefix(w, value()?)?),
                "src" => r.src = Some(addr(w, value()?)?),
                "via" | "gw" => r.via = Some(addr(w, value()?)?),
                "dev" | "oif" => r.dev = Some(value()?.to_owned()),
                "onlink" => r.onlink = true,
                "metric" | "preference" | "priority" => r.metric = Some(number(w, value()?)?),
                "table" => r.table = Some(number(w, value()?)?),
                "protocol" | "proto" => r.protocol = Some(number(w, value()?)?),
                "scope" => {
                    let v = value()?;
                    r.scope = Some(match v {
                        "global" | "universe" => RouteScope::Universe,
                        "site" => RouteScope::Site,
                        "link" => RouteScope::Link,
                        "host" => RouteScope::Host,
                        "nowhere" => RouteScope::NoWhere,
                        n => RouteScope::Other(number(w, n)?),
                    });
                }
                "no_track" => {}
                "default" if dst.is_none() => default = true,
                other
                    if dst.is_none() && !default && other.parse::<IpAddr>().is_ok()
                        || other.contains('/') =>
                {
                    dst = Some(prefix("destination", other)?);
                }
                other => return Err(RouteParseError::Unknown(other.to_owned())),
            }
        }
        r.dst = match (dst, default) {
            (Some(d), _) => d,
            // `default`: the family of the other addresses, IPv4 if none says.
            (None, true) => {
                let v6 = [r.via, r.src, r.from.map(|f| f.0)]
                    .into_iter()
                    .flatten()
                    .any(|a| a.is_ipv6());
                let any: IpAddr = if v6 {
                    IpAddr::from([0u16; 8])
                } else {
                    IpAddr::from([0u8; 4])
                };
                (any, 0)
            }
            (None, false) => return Err(RouteParseError::NoDestination),
        };
        let v4 = r.dst.0.is_ipv4();
        if [r.via, r.src, r.from.map(|f| f.0)]
            .into_iter()
            .flatten()
            .any(|a| a.is_ipv4() != v4)
        {
            return Err(RouteParseError::MixedFamilies);
        }
        Ok(r)
    }

    /// The netlink message of this route, with `dev` resolved to `ifindex`.
    pub fn message(&self, ifindex: Option<u32>) -> Result<RouteMessage, String> {
        fn e(e: impl std::fmt::Display) -> String {
            e.to_string()
        }
        let mut b = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(self.dst.0, self.dst.1)
            .map_err(e)?
            .kind(self.kind)
            .protocol(match self.protocol {
                Some(p) => RouteProtocol::from(p),
                None => RouteProtocol::Static,
            });
        if let Some((a, l)) = self.from {
            b = b.source_prefix(a, l).map_err(e)?;
        }
        if let Some(a) = self.src {
            b = b.pref_source(a).map_err(e)?;
        }
        if let Some(a) = self.via {
            b = b.gateway(a).map_err(e)?;
        }
        if let Some(i) = ifindex {
            b = b.output_interface(i);
        }
        if self.onlink {
            b = b.onlink();
        }
        if let Some(m) = self.metric {
            b = b.priority(m);
        }
        if let Some(t) = self.table {
            b = b.table_id(t);
        }
        let scope = self.scope.unwrap_or(match (self.kind, self.via) {
            // `ip route`'s defaults: a direct unicast route is link scope.
            (RouteType::Unicast, None) if ifindex.is_some() => RouteScope::Link,
            _ => RouteScope::Universe,
        });
        b = b.scope(scope);
        Ok(b.build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_examples_parse() {
        let r =
            RouteSpec::parse("src 192.168.100.1 to 192.168.109.0/24 via 192.168.200.254 dev eth1")
                .unwrap();
        assert_eq!(r.dst, ("192.168.109.0".parse().unwrap(), 24));
        assert_eq!(r.src, Some("192.168.100.1".parse().unwrap()));
        assert_eq!(r.via, Some("192.168.200.254".parse().unwrap()));
        assert_eq!(r.dev.as_deref(), Some("eth1"));
        let r = RouteSpec::parse("192.168.112.0/24 via 192.168.100.254 metric 10 table 7").unwrap();
        assert_eq!((r.metric, r.table), (Some(10), Some(7)));
        let r = RouteSpec::parse("blackhole 192.168.114.0/24").unwrap();
        assert_eq!(r.kind, RouteType::BlackHole);
        let r = RouteSpec::parse("default via fd00::1 dev eth0 no_track").unwrap();
        assert_eq!(r.dst, ("::".parse().unwrap(), 0));
        let r = RouteSpec::parse("10.1.0.0/16 dev eth0 scope link").unwrap();
        assert_eq!(r.scope, Some(RouteScope::Link));
        assert!(r.message(Some(3)).is_ok());
    }

    #[test]
    fn errors_name_the_word() {
        for (s, want) in [
            ("10.0.0.0/24 via", "\"via\" needs a value"),
            ("10.0.0.0/33", "not a prefix length"),
            ("10.0.0.0/24 weight 3", "unknown word \"weight\""),
            ("via 10.0.0.1", "no destination prefix"),
            ("10.0.0.0/24 via fd00::1", "both families"),
            ("10.0.0.0/24 metric x", "metric \"x\""),
        ] {
            let e = RouteSpec::parse(s).unwrap_err().to_string();
            assert!(e.contains(want), "{s}: {e}");
        }
    }
}
