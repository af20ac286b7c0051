//! keepalived's `virtual_rules` and `static_rules` (policy routing rules, `ip rule`),
//! understood at start and programmed through rtnetlink: no `ip rule` process.
//!
//! The syntax is keepalived's (a subset of `ip rule`):
//! `[inet|inet6] [not] [from PREFIX|all] [to PREFIX|all] [priority|preference|order N]
//! [table|lookup N | goto N | nop | blackhole | prohibit | unreachable] [fwmark N[/MASK]]
//! [iif|dev IF] [oif IF] [tos N] [protocol N] [no_track]`; the action may be preceded by
//! `type`. A word outside it (`realms`, `uidrange`, `sport`, ...) is an error that names it, so
//! a rule is never half-applied. Without a priority the kernel picks one (keepalived picks one
//! itself and warns).

use std::net::IpAddr;

use netlink_packet_route::AddressFamily;
use netlink_packet_route::route::RouteProtocol;
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleFlags, RuleMessage};

use super::route::RouteParseError;

/// One policy routing rule, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    /// IPv6 (`inet6`, or an IPv6 prefix); IPv4 otherwise.
    pub ipv6: bool,
    /// `not`: the selector is inverted.
    pub invert: bool,
    /// `from`: the source prefix (`all`: none).
    pub from: Option<(IpAddr, u8)>,
    /// `to`: the destination prefix (`all`: none).
    pub to: Option<(IpAddr, u8)>,
    /// `priority` / `preference` / `order`.
    pub priority: Option<u32>,
    /// What the rule does.
    pub action: RuleAction,
    /// `table` / `lookup`: the table of [`RuleAction::ToTable`].
    pub table: Option<u32>,
    /// `goto`: the target priority of [`RuleAction::Goto`].
    pub goto: Option<u32>,
    /// `fwmark N[/MASK]`.
    pub fwmark: Option<(u32, Option<u32>)>,
    /// `iif` / `dev`: the input interface.
    pub iif: Option<String>,
    /// `oif`: the output interface.
    pub oif: Option<String>,
    /// `tos` / `dsfield`.
    pub tos: Option<u8>,
    /// `protocol`: the rule's protocol number (static if absent).
    pub protocol: Option<u8>,
}

fn prefix_or_all(keyword: &str, s: &str) -> Result<Option<(IpAddr, u8)>, RouteParseError> {
    if s == "all" {
        return Ok(None);
    }
    super::route::prefix(keyword, s).map(Some)
}

fn number<T: std::str::FromStr>(keyword: &str, s: &str) -> Result<T, RouteParseError> {
    // ip rule takes hexadecimal too (fwmark 0x10).
    let parsed = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16)
            .ok()
            .and_then(|v| v.to_string().parse().ok()),
        None => s.parse().ok(),
    };
    parsed.ok_or_else(|| RouteParseError::BadValue {
        keyword: keyword.to_owned(),
        value: s.to_owned(),
        detail: "not a number in range",
    })
}

impl RuleSpec {
    /// Parses one rule in keepalived's syntax (see the [module docs](self)).
    pub fn parse(s: &str) -> Result<RuleSpec, RouteParseError> {
        let mut r = RuleSpec {
            ipv6: false,
            invert: false,
            from: None,
            to: None,
            priority: None,
            action: RuleAction::Unspec,
            table: None,
            goto: None,
            fwmark: None,
            iif: None,
            oif: None,
            tos: None,
            protocol: None,
        };
        let mut family: Option<bool> = None;
        let mut set_family = |v6: bool| -> Result<(), RouteParseError> {
            match family {
                Some(f) if f != v6 => Err(RouteParseError::MixedFamilies),
                _ => {
                    family = Some(v6);
                    Ok(())
                }
            }
        };
        let mut words = s.split_whitespace();
        let action = |r: &mut RuleSpec, a: RuleAction| {
            if r.action != RuleAction::Unspec {
                return Err(RouteParseError::BadValue {
                    keyword: "action".into(),
                    value: s.to_owned(),
                    detail: "more than one of table, goto, nop, blackhole, prohibit, unreachable",
                });
            }
            r.action = a;
            Ok(())
        };
        while let Some(mut w) = words.next() {
            if w == "type" {
                w = words
                    .next()
                    .ok_or_else(|| RouteParseError::MissingValue("type".into()))?;
            }
            let mut value = || {
                words
                    .next()
                    .ok_or_else(|| RouteParseError::MissingValue(w.to_owned()))
            };
            match w {
                "inet" => set_family(false)?,
                "inet6" => set_family(true)?,
                "not" => r.invert = true,
                "from" => {
                    r.from = prefix_or_all(w, value()?)?;
                    if let Some((a, _)) = r.from {
                        set_family(a.is_ipv6())?;
                    }
                }
                "to" => {
                    r.to = prefix_or_all(w, value()?)?;
                    if let Some((a, _)) = r.to {
                        set_family(a.is_ipv6())?;
                    }
                }
                "priority" | "preference" | "order" | "pref" | "prio" => {
                    r.priority = Some(number(w, value()?)?)
                }
                "table" | "lookup" => {
                    let t: u32 = number(w, value()?)?;
                    if t == 0 {
                        return Err(RouteParseError::BadValue {
                            keyword: w.to_owned(),
                            value: "0".into(),
                            detail: "table 0 is not valid",
                        });
                    }
                    r.table = Some(t);
                    action(&mut r, RuleAction::ToTable)?;
                }
                "goto" => {
                    r.goto = Some(number(w, value()?)?);
                    action(&mut r, RuleAction::Goto)?;
                }
                "nop" => action(&mut r, RuleAction::Nop)?,
                "blackhole" => action(&mut r, RuleAction::Blackhole)?,
                "prohibit" => action(&mut r, RuleAction::Prohibit)?,
                "unreachable" => action(&mut r, RuleAction::Unreachable)?,
                "fwmark" => {
                    let v = value()?;
                    r.fwmark = Some(match v.split_once('/') {
                        Some((m, mask)) => (number(w, m)?, Some(number(w, mask)?)),
                        None => (number(w, v)?, None),
                    });
                }
                "iif" | "dev" => r.iif = Some(value()?.to_owned()),
                "oif" => r.oif = Some(value()?.to_owned()),
                "tos" | "dsfield" => r.tos = Some(number(w, value()?)?),
                "protocol" => r.protocol = Some(number(w, value()?)?),
                "no_track" => {}
                other => return Err(RouteParseError::Unknown(other.to_owned())),
            }
        }
        if r.action == RuleAction::Unspec {
            return Err(RouteParseError::MissingValue(
                "an action (table, goto, nop, blackhole, prohibit or unreachable)".into(),
            ));
        }
        if let (Some(g), p) = (r.goto, r.priority)
            && p.is_none_or(|p| p >= g)
        {
            return Err(RouteParseError::BadValue {
                keyword: "goto".into(),
                value: g.to_string(),
                detail: "needs a priority below the goto target",
            });
        }
        r.ipv6 = family.unwrap_or(false);
        Ok(r)
    }

    /// The netlink message of this rule.
    pub fn message(&self) -> RuleMessage {
        let mut m = RuleMessage::default();
        m.header.family = if self.ipv6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        m.header.action = self.action;
        m.header.table = 0;
        if self.invert {
            m.header.flags = RuleFlags::Invert;
        }
        if let Some(t) = self.tos {
            m.header.tos = t;
        }
        if let Some((a, l)) = self.from {
            m.header.src_len = l;
            m.attributes.push(RuleAttribute::Source(a));
        }
        if let Some((a, l)) = self.to {
            m.header.dst_len = l;
            m.attributes.push(RuleAttribute::Destination(a));
        }
        if let Some(t) = self.table {
            if let Ok(small) = u8::try_from(t) {
                m.header.table = small;
            }
            m.attributes.push(RuleAttribute::Table(t));
        }
        if let Some(g) = self.goto {
            m.attributes.push(RuleAttribute::Goto(g));
        }
        if let Some(p) = self.priority {
            m.attributes.push(RuleAttribute::Priority(p));
        }
        if let Some((mark, mask)) = self.fwmark {
            m.attributes.push(RuleAttribute::FwMark(mark));
            if let Some(mask) = mask {
                m.attributes.push(RuleAttribute::FwMask(mask));
            }
        }
        if let Some(i) = &self.iif {
            m.attributes.push(RuleAttribute::Iifname(i.clone()));
        }
        if let Some(o) = &self.oif {
            m.attributes.push(RuleAttribute::Oifname(o.clone()));
        }
        m.attributes
            .push(RuleAttribute::Protocol(match self.protocol {
                Some(p) => RouteProtocol::from(p),
                None => RouteProtocol::Static,
            }));
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_examples_parse() {
        let r = RuleSpec::parse("from 192.168.28.0/24 to 192.168.29.0/26 table small iif p33")
            .unwrap_err();
        assert!(r.to_string().contains("small"), "{r}");
        let r = RuleSpec::parse(
            "from 192.168.28.0/24 to 192.168.29.0/26 table 100 priority 5 iif eth1 oif eth2 tos 22",
        )
        .unwrap();
        assert_eq!(r.from, Some(("192.168.28.0".parse().unwrap(), 24)));
        assert_eq!((r.table, r.priority, r.tos), (Some(100), Some(5), Some(22)));
        assert_eq!(r.iif.as_deref(), Some("eth1"));
        assert_eq!(r.action, RuleAction::ToTable);
        let r = RuleSpec::parse("from all fwmark 0x10/0xff lookup 7 preference 100").unwrap();
        assert_eq!(r.fwmark, Some((16, Some(255))));
        assert_eq!(r.from, None);
        let r = RuleSpec::parse("inet6 to fd00::/8 type prohibit priority 9").unwrap();
        assert!(r.ipv6);
        assert_eq!(r.action, RuleAction::Prohibit);
        let r = RuleSpec::parse("not from 10.0.0.0/8 priority 10 goto 20").unwrap();
        assert!(r.invert);
        let m = r.message();
        assert_eq!(m.header.flags, RuleFlags::Invert);
        assert_eq!(m.header.src_len, 8);
    }

    #[test]
    fn errors_name_the_word() {
        for (s, want) in [
            ("from 10.0.0.0/8", "an action"),
            ("from 10.0.0.0/8 table 1 nop", "more than one"),
            ("from 10.0.0.0/8 to fd00::/8 table 1", "both families"),
            ("inet6 from 10.0.0.0/8 table 1", "both families"),
            (
                "from 10.0.0.0/8 table 1 realms 3",
                "unknown word \"realms\"",
            ),
            ("from 10.0.0.0/8 goto 5", "below the goto target"),
            ("from 10.0.0.0/8 table 0", "table 0"),
            ("from 10.0.0.0/8 table", "\"table\" needs a value"),
        ] {
            let e = RuleSpec::parse(s).unwrap_err().to_string();
            assert!(e.contains(want), "{s}: {e}");
        }
    }
}
