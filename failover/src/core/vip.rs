//! Virtual addresses: the spec of one address and a parser of keepalived's
//! `virtual_ipaddress` line syntax.
//!
//! ```text
//! <IPADDR>[/<MASK>] [brd <IPADDR>] [dev <STRING>] [scope <SCOPE>] [label <LABEL>]
//!                   [peer <IPADDR>] [home] [-nodad] [mngtmpaddr] [noprefixroute]
//!                   [autojoin] [no_track] [preferred_lft nn|forever]
//! ```
//!
//! As in keepalived the prefix length defaults to the full address (`/32` or `/128`) and the
//! device to the instance's interface. The parser never panics; a bad line gives a
//! [`VipParseError`] that names the word and its position.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The scope of an address (`ip address add ... scope SCOPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Scope {
    /// `global` (0), the default.
    #[default]
    Global,
    /// `site` (200, IPv6 only in practice).
    Site,
    /// `link` (253).
    Link,
    /// `host` (254).
    Host,
    /// `nowhere` (255).
    Nowhere,
    /// Any other numeric scope.
    Other(u8),
}

impl Scope {
    /// The kernel's numeric value (`RT_SCOPE_*`).
    pub const fn value(self) -> u8 {
        match self {
            Scope::Global => 0,
            Scope::Site => 200,
            Scope::Link => 253,
            Scope::Host => 254,
            Scope::Nowhere => 255,
            Scope::Other(v) => v,
        }
    }

    fn parse(s: &str) -> Option<Scope> {
        Some(match s {
            "global" | "universe" => Scope::Global,
            "site" => Scope::Site,
            "link" => Scope::Link,
            "host" => Scope::Host,
            "nowhere" => Scope::Nowhere,
            _ => match s.parse::<u8>().ok()? {
                0 => Scope::Global,
                200 => Scope::Site,
                253 => Scope::Link,
                254 => Scope::Host,
                255 => Scope::Nowhere,
                v => Scope::Other(v),
            },
        })
    }
}

/// Flags of an address (`ip address add` flags keepalived passes through).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VipFlags {
    /// `home` (IPv6 mobile home address).
    pub home: bool,
    /// `-nodad`: skip IPv6 duplicate address detection.
    pub nodad: bool,
    /// `mngtmpaddr` (IPv6 temporary address management).
    pub mngtmpaddr: bool,
    /// `noprefixroute`: the kernel adds no prefix route.
    pub noprefixroute: bool,
    /// `autojoin` (multicast addresses).
    pub autojoin: bool,
    /// `no_track`: the address's removal by someone else does not put the instance in fault
    /// (keepalived); carried for the runtime.
    pub no_track: bool,
}

/// One virtual address as held by a master: address, prefix, device, label and options.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VipSpec {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length (default 32 for IPv4, 128 for IPv6).
    pub prefix: u8,
    /// The device; `None` means the instance's interface. In the director's actions it is
    /// always filled in.
    pub dev: Option<String>,
    /// The IPv4 label (`eth1:1`); at most 15 bytes.
    pub label: Option<String>,
    /// The broadcast address (`brd`), IPv4.
    pub broadcast: Option<IpAddr>,
    /// The peer address (`peer`): a point-to-point address.
    pub peer: Option<IpAddr>,
    /// The scope.
    pub scope: Scope,
    /// Flags.
    pub flags: VipFlags,
    /// `preferred_lft` in seconds; `None` is `forever` (the default).
    pub preferred_lft: Option<u32>,
}

impl VipSpec {
    /// An address with the given prefix on the instance's interface, with no options.
    pub fn new(addr: IpAddr, prefix: u8) -> VipSpec {
        VipSpec {
            addr,
            prefix,
            dev: None,
            label: None,
            broadcast: None,
            peer: None,
            scope: Scope::Global,
            flags: VipFlags::default(),
            preferred_lft: None,
        }
    }

    /// Parses one keepalived `virtual_ipaddress` line, e.g.
    /// `"10.0.0.1/24 dev eth1 label eth1:1"`.
    pub fn parse(line: &str) -> Result<VipSpec, VipParseError> {
        let mut words = line.split_whitespace().enumerate();
        let (_, first) = words.next().ok_or(VipParseError::Empty)?;
        let (addr_s, prefix_s) = match first.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (first, None),
        };
        let addr = IpAddr::from_str(addr_s).map_err(|_| VipParseError::BadAddress {
            word: first.to_owned(),
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_s {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(v) if v <= max => v,
                _ => {
                    return Err(VipParseError::BadPrefix {
                        word: first.to_owned(),
                        max,
                    });
                }
            },
        };
        let mut vip = VipSpec::new(addr, prefix);
        while let Some((pos, word)) = words.next() {
            let mut value = |kw: &str| -> Result<&str, VipParseError> {
                words
                    .next()
                    .map(|(_, v)| v)
                    .ok_or_else(|| VipParseError::MissingValue {
                        keyword: kw.to_owned(),
                        position: pos + 1,
                    })
            };
            match word {
                "dev" => {
                    let v = value(word)?;
                    if v.is_empty() || v.len() > 15 || v.contains('/') {
                        return Err(VipParseError::BadValue {
                            keyword: word.to_owned(),
                            value: v.to_owned(),
                            expected: "an interface name of 1 to 15 bytes without '/'",
                        });
                    }
                    vip.dev = Some(v.to_owned());
                }
                "label" => {
                    let v = value(word)?;
                    if v.is_empty() || v.len() > 15 {
                        return Err(VipParseError::BadValue {
                            keyword: word.to_owned(),
                            value: v.to_owned(),
                            expected: "a label of 1 to 15 bytes",
                        });
                    }
                    vip.label = Some(v.to_owned());
                }
                "brd" | "broadcast" => {
                    let v = value(word)?;
                    vip.broadcast = Some(parse_same_family(word, v, addr)?);
                }
                "peer" => {
                    let v = value(word)?;
                    // `peer ADDR[/LEN]`: the length is the peer prefix; kept with the address.
                    let a = v.split_once('/').map_or(v, |(a, _)| a);
                    vip.peer = Some(parse_same_family(word, a, addr)?);
                }
                "scope" => {
                    let v = value(word)?;
                    vip.scope = Scope::parse(v).ok_or_else(|| VipParseError::BadValue {
                        keyword: word.to_owned(),
                        value: v.to_owned(),
                        expected: "global, site, link, host, nowhere or 0..=255",
                    })?;
                }
                "preferred_lft" => {
                    let v = value(word)?;
                    vip.preferred_lft = if v == "forever" {
                        None
                    } else {
                        Some(v.parse::<u32>().map_err(|_| VipParseError::BadValue {
                            keyword: word.to_owned(),
                            value: v.to_owned(),
                            expected: "a number of seconds or forever",
                        })?)
                    };
                }
                "home" => vip.flags.home = true,
                "-nodad" | "nodad" => vip.flags.nodad = true,
                "mngtmpaddr" => vip.flags.mngtmpaddr = true,
                "noprefixroute" => vip.flags.noprefixroute = true,
                "autojoin" => vip.flags.autojoin = true,
                "no_track" => vip.flags.no_track = true,
                other => {
                    return Err(VipParseError::UnknownKeyword {
                        word: other.to_owned(),
                        position: pos,
                    });
                }
            }
        }
        if vip.label.is_some() && !addr.is_ipv4() {
            return Err(VipParseError::LabelOnIpv6 { addr });
        }
        if vip.broadcast.is_some() && !addr.is_ipv4() {
            return Err(VipParseError::BroadcastOnIpv6 { addr });
        }
        Ok(vip)
    }

    /// The device, or `default` (the instance's interface) when none is set.
    pub fn dev_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.dev.as_deref().unwrap_or(default)
    }
}

fn parse_same_family(keyword: &str, v: &str, addr: IpAddr) -> Result<IpAddr, VipParseError> {
    match IpAddr::from_str(v) {
        Ok(a) if a.is_ipv4() == addr.is_ipv4() => Ok(a),
        _ => Err(VipParseError::BadValue {
            keyword: keyword.to_owned(),
            value: v.to_owned(),
            expected: if addr.is_ipv4() {
                "an IPv4 address"
            } else {
                "an IPv6 address"
            },
        }),
    }
}

impl FromStr for VipSpec {
    type Err = VipParseError;
    fn from_str(s: &str) -> Result<VipSpec, VipParseError> {
        VipSpec::parse(s)
    }
}

impl fmt::Display for VipSpec {
    /// Writes the keepalived syntax back (round-trips through [`VipSpec::parse`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)?;
        if let Some(b) = self.broadcast {
            write!(f, " brd {b}")?;
        }
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        match self.scope {
            Scope::Global => {}
            s => write!(f, " scope {}", s.value())?,
        }
        if let Some(l) = &self.label {
            write!(f, " label {l}")?;
        }
        if let Some(p) = self.peer {
            write!(f, " peer {p}")?;
        }
        let fl = self.flags;
        for (on, name) in [
            (fl.home, "home"),
            (fl.nodad, "-nodad"),
            (fl.mngtmpaddr, "mngtmpaddr"),
            (fl.noprefixroute, "noprefixroute"),
            (fl.autojoin, "autojoin"),
            (fl.no_track, "no_track"),
        ] {
            if on {
                write!(f, " {name}")?;
            }
        }
        if let Some(l) = self.preferred_lft {
            write!(f, " preferred_lft {l}")?;
        }
        Ok(())
    }
}

/// A `virtual_ipaddress` line that [`VipSpec::parse`] rejected. Positions count words from 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VipParseError {
    /// The line has no words.
    #[error("empty virtual address")]
    Empty,
    /// The first word is not an IPv4 or IPv6 address.
    #[error("{word:?} is not an IP address (expected ADDR[/PREFIX])")]
    BadAddress {
        /// The first word.
        word: String,
    },
    /// The prefix length is not a number up to the family's maximum.
    #[error("{word:?}: the prefix length must be a number from 0 to {max}")]
    BadPrefix {
        /// The first word.
        word: String,
        /// 32 or 128.
        max: u8,
    },
    /// A keyword that takes a value ends the line.
    #[error("{keyword:?} needs a value (word {position})")]
    MissingValue {
        /// The keyword.
        keyword: String,
        /// Where the value should be.
        position: usize,
    },
    /// A keyword's value is malformed.
    #[error("{keyword} {value:?}: expected {expected}")]
    BadValue {
        /// The keyword.
        keyword: String,
        /// The value given.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A word that is not a known keyword.
    #[error("unknown keyword {word:?} at word {position}")]
    UnknownKeyword {
        /// The word.
        word: String,
        /// Its position.
        position: usize,
    },
    /// Linux labels are IPv4 only.
    #[error("{addr}: a label is only possible on an IPv4 address")]
    LabelOnIpv6 {
        /// The address.
        addr: IpAddr,
    },
    /// A broadcast address is IPv4 only.
    #[error("{addr}: a broadcast address is only possible on an IPv4 address")]
    BroadcastOnIpv6 {
        /// The address.
        addr: IpAddr,
    },
}

/// The primary address of an interface for a virtual router, from the interface's addresses
/// (in the kernel's order): for IPv4 the first that is not one of `vips`; for IPv6 the first
/// link-local one (the source RFC 9568 section 5.1.2.1 requires for multicast adverts), else
/// the first other that is not one of `vips`. Sans-io: the caller lists the addresses.
pub fn pick_primary_address(addresses: &[IpAddr], ipv6: bool, vips: &[IpAddr]) -> Option<IpAddr> {
    let mut ours = addresses
        .iter()
        .copied()
        .filter(|a| a.is_ipv6() == ipv6 && !vips.contains(a));
    if ipv6 {
        let all: Vec<IpAddr> = ours.collect();
        all.iter()
            .copied()
            .find(|a| matches!(a, IpAddr::V6(v) if v.is_unicast_link_local()))
            .or(all.first().copied())
    } else {
        ours.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_address_picks_by_family_skipping_vips() {
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        let list = [
            a("10.0.0.100"),
            a("fd00::2"),
            a("10.0.0.2"),
            a("fe80::2"),
            a("10.0.0.3"),
        ];
        let vips = [a("10.0.0.100"), a("fd00::2")];
        assert_eq!(
            pick_primary_address(&list, false, &vips),
            Some(a("10.0.0.2"))
        );
        assert_eq!(
            pick_primary_address(&list, false, &[]),
            Some(a("10.0.0.100"))
        );
        assert_eq!(pick_primary_address(&list, true, &vips), Some(a("fe80::2")));
        assert_eq!(
            pick_primary_address(&list[..2], true, &[]),
            Some(a("fd00::2"))
        );
        assert_eq!(pick_primary_address(&list[..2], true, &vips), None);
        assert_eq!(pick_primary_address(&[], false, &[]), None);
    }
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn parses_keepalived_example() {
        let v = VipSpec::parse("192.168.200.18/24 dev eth2 label eth2:1").unwrap();
        assert_eq!(v.addr, IpAddr::V4(Ipv4Addr::new(192, 168, 200, 18)));
        assert_eq!(v.prefix, 24);
        assert_eq!(v.dev.as_deref(), Some("eth2"));
        assert_eq!(v.label.as_deref(), Some("eth2:1"));
        assert_eq!(v.dev_or("eth0"), "eth2");
    }

    #[test]
    fn defaults_to_host_prefix_and_instance_interface() {
        let v = VipSpec::parse("10.0.0.1").unwrap();
        assert_eq!(v.prefix, 32);
        assert_eq!(v.dev_or("eth0"), "eth0");
        let v6 = VipSpec::parse("fd00::1 dev eth1 -nodad scope link").unwrap();
        assert_eq!(
            v6.addr,
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1))
        );
        assert_eq!(v6.prefix, 128);
        assert!(v6.flags.nodad);
        assert_eq!(v6.scope, Scope::Link);
    }

    #[test]
    fn all_options_round_trip() {
        let line = "10.1.2.3/16 brd 10.1.255.255 dev eth0 scope 254 label eth0:vip peer 10.9.9.9 \
                    home -nodad mngtmpaddr noprefixroute autojoin no_track preferred_lft 30";
        let v = VipSpec::parse(line).unwrap();
        assert_eq!(v.scope, Scope::Host);
        assert_eq!(v.preferred_lft, Some(30));
        assert_eq!(VipSpec::parse(&v.to_string()).unwrap(), v);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(line in "\\PC{0,80}") {
            let _ = VipSpec::parse(&line);
        }

        #[test]
        fn display_round_trips(
            a in proptest::prelude::any::<[u8; 4]>(),
            prefix in 0u8..=32,
            label in proptest::option::of("[a-z0-9:]{1,15}"),
            dev in proptest::option::of("[a-z0-9.]{1,15}"),
            scope in proptest::prelude::any::<u8>(),
            nodad in proptest::prelude::any::<bool>(),
        ) {
            let mut v = VipSpec::new(IpAddr::V4(Ipv4Addr::from(a)), prefix);
            v.label = label;
            v.dev = dev;
            v.scope = Scope::parse(&scope.to_string()).unwrap();
            v.flags.nodad = nodad;
            proptest::prop_assert_eq!(VipSpec::parse(&v.to_string()), Ok(v));
        }
    }

    #[test]
    fn errors_name_what_was_wrong() {
        assert_eq!(VipSpec::parse("  "), Err(VipParseError::Empty));
        assert_eq!(
            VipSpec::parse("10.0.0.300/24"),
            Err(VipParseError::BadAddress {
                word: "10.0.0.300/24".into()
            })
        );
        assert_eq!(
            VipSpec::parse("10.0.0.1/33"),
            Err(VipParseError::BadPrefix {
                word: "10.0.0.1/33".into(),
                max: 32
            })
        );
        assert_eq!(
            VipSpec::parse("10.0.0.1/24 dev"),
            Err(VipParseError::MissingValue {
                keyword: "dev".into(),
                position: 2
            })
        );
        assert_eq!(
            VipSpec::parse("10.0.0.1/24 dev eth0 lable x"),
            Err(VipParseError::UnknownKeyword {
                word: "lable".into(),
                position: 3
            })
        );
        assert!(matches!(
            VipSpec::parse("fd00::1 label eth0:1"),
            Err(VipParseError::LabelOnIpv6 { .. })
        ));
        assert!(matches!(
            VipSpec::parse("10.0.0.1 brd fd00::1"),
            Err(VipParseError::BadValue { .. })
        ));
        assert!(matches!(
            VipSpec::parse("10.0.0.1 scope galaxy"),
            Err(VipParseError::BadValue { .. })
        ));
        let e = VipSpec::parse("10.0.0.1 dev averyveryverylongname").unwrap_err();
        assert!(e.to_string().contains("dev"), "{e}");
    }
}
