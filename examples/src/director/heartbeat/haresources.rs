//! `haresources`: resource groups, one per logical line (`NODE RESOURCE...`), read into
//! [`Group`]s. A resource is an address (`IP[/PREFIX[/IF[/BROADCAST]]]`, also as
//! `IPaddr::`, `IPaddr2::` or `IPv6addr::`), or `NAME[::ARG...]`: the built-in `IPsrcaddr`,
//! `Filesystem`, `drbddisk` and `ldirectord`, or any other resource script.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use super::hacf::At;
use super::lex::{self, Word};
use super::{HeartbeatError, HeartbeatErrorKind};
use crate::director::Location;

/// One resource of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceKind {
    /// A service address, added and announced (gratuitous ARP / unsolicited NA): a bare
    /// address, `IPaddr::`, `IPaddr2::` or `IPv6addr::` (the same for all of them here).
    Address {
        /// The address.
        address: IpAddr,
        /// Its prefix length, when given.
        prefix: Option<u8>,
        /// The interface, when given (heartbeat otherwise uses the one whose subnet holds it).
        interface: Option<String>,
        /// An `IF:LABEL` label, when given.
        label: Option<String>,
        /// The broadcast address, when given.
        broadcast: Option<Ipv4Addr>,
    },
    /// `IPsrcaddr::ADDR[/PREFIX]`: the preferred source address of the default route.
    SourceAddress {
        /// The address.
        address: IpAddr,
    },
    /// `Filesystem::DEVICE::DIRECTORY[::FSTYPE[::OPTIONS]]`.
    Filesystem {
        /// What is mounted.
        device: String,
        /// Where.
        directory: String,
        /// `mount -t`, when given.
        fstype: Option<String>,
        /// `mount -o`, when given.
        options: Option<String>,
    },
    /// `drbddisk[::RESOURCE]`: DRBD primary while held (default resource `all`).
    Drbd {
        /// The DRBD resource.
        resource: String,
    },
    /// `ldirectord[::FILE]`: the virtual servers of an ldirectord.cf.
    Ldirectord {
        /// The file as written (relative to the heartbeat directory), if any.
        file: Option<PathBuf>,
    },
    /// Any other resource: a script run with `start` / `stop`.
    Script {
        /// The resource name.
        name: String,
        /// Its `::` arguments.
        args: Vec<String>,
    },
}

/// One resource and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// What it is.
    pub kind: ResourceKind,
    /// Where.
    pub location: Location,
}

/// One resource group (a logical line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Its home (preferred) node.
    pub node: At<String>,
    /// Its resources, in start order.
    pub resources: Vec<Resource>,
}

fn bad(file: &Path, w: &Word, keyword: &str, expected: &'static str) -> HeartbeatError {
    HeartbeatError {
        location: w.at(file),
        kind: HeartbeatErrorKind::BadValue {
            keyword: keyword.to_owned(),
            value: w.text.clone(),
            expected,
        },
    }
}

/// A prefix length or a dotted IPv4 netmask.
fn prefix(text: &str, ipv6: bool) -> Option<u8> {
    if let Ok(p) = text.parse::<u8>() {
        return (p <= if ipv6 { 128 } else { 32 }).then_some(p);
    }
    if ipv6 {
        return None;
    }
    let m: Ipv4Addr = text.parse().ok()?;
    let bits = u32::from(m);
    // A netmask is ones then zeros.
    (bits.leading_ones() + bits.trailing_zeros() == 32).then(|| bits.leading_ones() as u8)
}

/// Parses `IP[/PREFIX[/IF[/BROADCAST]]]` (the third part may be the broadcast address).
fn address(text: &str) -> Result<ResourceKind, &'static str> {
    const EXPECTED: &str = "IP[/PREFIX[/INTERFACE[/BROADCAST]]]";
    let mut parts = text.split('/');
    let ip: IpAddr = parts.next().and_then(|a| a.parse().ok()).ok_or(EXPECTED)?;
    let mut out_prefix = None;
    let (mut interface, mut label, mut broadcast) = (None, None, None);
    if let Some(p) = parts.next() {
        out_prefix = Some(prefix(p, ip.is_ipv6()).ok_or(EXPECTED)?);
    }
    for part in parts.by_ref().take(2) {
        if let Ok(b) = part.parse::<Ipv4Addr>() {
            if broadcast.is_some() || ip.is_ipv6() {
                return Err(EXPECTED);
            }
            broadcast = Some(b);
        } else if interface.is_none() && broadcast.is_none() && !part.is_empty() {
            match part.split_once(':') {
                Some((dev, _)) if !dev.is_empty() => {
                    interface = Some(dev.to_owned());
                    label = Some(part.to_owned());
                }
                Some(_) => return Err(EXPECTED),
                None => interface = Some(part.to_owned()),
            }
        } else {
            return Err(EXPECTED);
        }
    }
    if parts.next().is_some() {
        return Err(EXPECTED);
    }
    Ok(ResourceKind::Address {
        address: ip,
        prefix: out_prefix,
        interface,
        label,
        broadcast,
    })
}

fn resource(file: &Path, w: &Word) -> Result<ResourceKind, HeartbeatError> {
    let text = w.text.as_str();
    // heartbeat implies IPaddr for a word that is an address.
    if text.starts_with(|c: char| c.is_ascii_digit())
        && !text.contains("::")
        && let Ok(k) = address(text)
    {
        return Ok(k);
    }
    // IPv6 addresses contain `::` themselves: everything after `IPv6addr::` is the address.
    if let Some(rest) = text.strip_prefix("IPv6addr::") {
        return address(rest)
            .and_then(|k| match &k {
                ResourceKind::Address { address, .. } if address.is_ipv6() => Ok(k),
                _ => Err("an IPv6 address: ADDR[/PREFIX[/INTERFACE]]"),
            })
            .map_err(|e| bad(file, w, "IPv6addr", e));
    }
    let mut parts = text.split("::");
    let name = parts.next().unwrap_or_default();
    let args: Vec<&str> = parts.collect();
    if name.is_empty() || args.iter().any(|a| a.is_empty()) {
        return Err(bad(file, w, text, "NAME or NAME::ARG[::ARG...]"));
    }
    let want = |n: std::ops::RangeInclusive<usize>, expected: &'static str| {
        if n.contains(&args.len()) {
            Ok(())
        } else {
            Err(bad(file, w, name, expected))
        }
    };
    Ok(match name {
        "IPaddr" | "IPaddr2" => {
            want(1..=1, "one argument: IP[/PREFIX[/INTERFACE[/BROADCAST]]]")?;
            address(args[0]).map_err(|e| bad(file, w, name, e))?
        }
        "IPsrcaddr" => {
            want(1..=1, "one argument: the source address")?;
            let a = args[0].split('/').next().unwrap_or_default();
            ResourceKind::SourceAddress {
                address: a
                    .parse()
                    .map_err(|_| bad(file, w, name, "an IP address[/PREFIX]"))?,
            }
        }
        "Filesystem" => {
            want(2..=4, "DEVICE::DIRECTORY[::FSTYPE[::OPTIONS]]")?;
            if !args[1].starts_with('/') {
                return Err(bad(file, w, name, "an absolute mount directory"));
            }
            ResourceKind::Filesystem {
                device: args[0].to_owned(),
                directory: args[1].to_owned(),
                fstype: args.get(2).map(|s| (*s).to_owned()),
                options: args.get(3).map(|s| (*s).to_owned()),
            }
        }
        "drbddisk" => {
            want(0..=1, "at most one argument: the DRBD resource")?;
            ResourceKind::Drbd {
                resource: args.first().map_or("all", |s| s).to_owned(),
            }
        }
        "ldirectord" => {
            want(0..=1, "at most one argument: the ldirectord.cf")?;
            ResourceKind::Ldirectord {
                file: args.first().map(PathBuf::from),
            }
        }
        _ => {
            if name.contains(['/', ':']) || name.starts_with('.') {
                return Err(bad(
                    file,
                    w,
                    name,
                    "a resource name (a script in resource.d or /etc/init.d, or a systemd unit)",
                ));
            }
            ResourceKind::Script {
                name: name.to_owned(),
                args: args.iter().map(|s| (*s).to_owned()).collect(),
            }
        }
    })
}

/// Reads a `haresources` from its text.
pub fn parse(text: &str, file: &Path) -> Result<Vec<Group>, Vec<HeartbeatError>> {
    let mut errs = Vec::new();
    let mut groups = Vec::new();
    for line in lex::lines(text, true) {
        let node = &line[0];
        if line.len() < 2 {
            errs.push(HeartbeatError {
                location: node.at(file),
                kind: HeartbeatErrorKind::MissingArgument {
                    keyword: format!("resource group of {}", node.text),
                },
            });
            continue;
        }
        let mut resources = Vec::new();
        for w in &line[1..] {
            match resource(file, w) {
                Ok(kind) => resources.push(Resource {
                    kind,
                    location: w.at(file),
                }),
                Err(e) => errs.push(e),
            }
        }
        groups.push(Group {
            node: At {
                value: node.text.clone(),
                location: node.at(file),
            },
            resources,
        });
    }
    if groups.is_empty() && errs.is_empty() {
        errs.push(HeartbeatError {
            location: Location {
                file: file.to_path_buf(),
                line: 1,
                column: 1,
            },
            kind: HeartbeatErrorKind::Missing {
                what: "a resource group (`NODE RESOURCE...`)",
            },
        });
    }
    if errs.is_empty() {
        Ok(groups)
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> ResourceKind {
        let g = parse(&format!("node1 {text}\n"), Path::new("haresources")).unwrap();
        g[0].resources[0].kind.clone()
    }

    fn fails(text: &str) -> String {
        let e = parse(&format!("node1 {text}\n"), Path::new("haresources")).unwrap_err();
        e[0].to_string()
    }

    #[test]
    fn addresses() {
        assert_eq!(
            one("135.9.216.3/28/eth0/135.9.216.12"),
            ResourceKind::Address {
                address: "135.9.216.3".parse().unwrap(),
                prefix: Some(28),
                interface: Some("eth0".into()),
                label: None,
                broadcast: Some("135.9.216.12".parse().unwrap()),
            }
        );
        assert_eq!(
            one("IPaddr::135.9.8.7/24/135.9.8.210"),
            ResourceKind::Address {
                address: "135.9.8.7".parse().unwrap(),
                prefix: Some(24),
                interface: None,
                label: None,
                broadcast: Some("135.9.8.210".parse().unwrap()),
            }
        );
        assert_eq!(
            one("IPaddr2::10.0.0.100/255.255.255.0/eth0:vip"),
            ResourceKind::Address {
                address: "10.0.0.100".parse().unwrap(),
                prefix: Some(24),
                interface: Some("eth0".into()),
                label: Some("eth0:vip".into()),
                broadcast: None,
            }
        );
        assert!(matches!(
            one("IPv6addr::2001:db8::10/64/eth0"),
            ResourceKind::Address {
                address: IpAddr::V6(_),
                prefix: Some(64),
                ..
            }
        ));
        assert_eq!(
            one("10.0.0.1"),
            ResourceKind::Address {
                address: "10.0.0.1".parse().unwrap(),
                prefix: None,
                interface: None,
                label: None,
                broadcast: None,
            }
        );
        assert!(fails("IPaddr::10.0.0.1/33").contains("haresources:1:7"));
        assert!(fails("IPaddr::10.0.0.1/255.0.255.0").contains("IPaddr"));
        assert!(fails("IPaddr::10.0.0.1/24/eth0/eth1").contains("IPaddr"));
    }

    #[test]
    fn built_in_and_scripts() {
        assert_eq!(
            one("Filesystem::/dev/drbd0::/data::ext4::noatime"),
            ResourceKind::Filesystem {
                device: "/dev/drbd0".into(),
                directory: "/data".into(),
                fstype: Some("ext4".into()),
                options: Some("noatime".into()),
            }
        );
        assert_eq!(
            one("drbddisk"),
            ResourceKind::Drbd {
                resource: "all".into()
            }
        );
        assert_eq!(
            one("drbddisk::r0"),
            ResourceKind::Drbd {
                resource: "r0".into()
            }
        );
        assert_eq!(
            one("ldirectord::ldirectord.cf"),
            ResourceKind::Ldirectord {
                file: Some("ldirectord.cf".into())
            }
        );
        assert_eq!(
            one("IPsrcaddr::10.0.0.5/24"),
            ResourceKind::SourceAddress {
                address: "10.0.0.5".parse().unwrap()
            }
        );
        assert_eq!(
            one("MailTo::root@example.com::Failover"),
            ResourceKind::Script {
                name: "MailTo".into(),
                args: vec!["root@example.com".into(), "Failover".into()]
            }
        );
        assert!(fails("Filesystem::/dev/sda1").contains("DEVICE::DIRECTORY"));
        assert!(fails("Filesystem::/dev/sda1::data").contains("absolute"));
        assert!(fails("httpd::").contains("NAME::ARG"));
        assert!(fails("../x").contains("resource name"));
    }

    #[test]
    fn groups_lines_and_continuations() {
        let g = parse(
            "# comment\nnode1 10.0.0.1 \\\n  httpd\nnode2 10.0.0.2 squid\n",
            Path::new("h"),
        )
        .unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].node.value, "node1");
        assert_eq!(g[0].resources.len(), 2);
        assert_eq!(g[0].resources[1].location.line, 3);
        assert_eq!(g[1].node.value, "node2");
        let e = parse("node1\n", Path::new("h")).unwrap_err();
        assert!(e[0].to_string().starts_with("h:1:1:"), "{}", e[0]);
        assert!(parse("# nothing\n", Path::new("h")).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = parse(&s, Path::new("h"));
        }
    }
}
