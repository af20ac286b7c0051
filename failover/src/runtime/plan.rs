//! The node's interfaces, virtual MACs and VRRP sockets, computed from the configuration by a
//! pure function ([`plan`]): what the runtime opens at start, and what a reload must not
//! change.
//!
//! The rules:
//! - one receiving socket per (device, address family): it joins the VRRP group if any
//!   instance on it is multicast, and it is bound to the primary address when every instance
//!   on it is unicast from that one address (IPv6 source selection would otherwise pick a VIP
//!   of the same prefix once master, and the peers would not recognise the sender);
//! - an instance with a virtual MAC (keepalived `use_vmac`) receives its multicast adverts on
//!   the vmac (the macvlan driver hands a frame whose source is our own virtual MAC to the vmac
//!   only), its unicast adverts on the parent, and sends from a send-only socket on the vmac
//!   bound to its primary address; its VIPs that name no other device go on the vmac;
//! - the interfaces to resolve are the instances', their VIPs' devices and the interface
//!   trackers'; announcements go out of each of them and of each vmac.

use std::collections::HashMap;
use std::net::IpAddr;

use ha_vrrp_proto::wire::Family;

use super::config::InstanceOptions;
use super::error::DirectorRunError;
use super::route::RouteSpec;
use crate::core::{DirectorBuilder, TrackerKind, VipSpec};

/// A virtual MAC interface to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmacPlan {
    /// The instance (index) it serves.
    pub instance: usize,
    /// Its name.
    pub name: String,
    /// The parent interface.
    pub parent: String,
    /// The VRID (the MAC's last byte).
    pub vrid: u8,
    /// IPv6 virtual router (the `00-00-5E-00-02-{VRID}` MAC).
    pub ipv6: bool,
    /// An IPv6 link-local primary address to copy onto it (a vmac has none of its own, and
    /// IPv6 adverts from it keep the primary address as their source).
    pub link_local: Option<IpAddr>,
}

/// A VRRP socket to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketPlan {
    /// The device it is bound to.
    pub bind_if: String,
    /// The instances' interface it stands for, for demultiplexing (a vmac stands for its
    /// parent).
    pub interface: String,
    /// Its address family.
    pub family: Family,
    /// Joins the VRRP multicast group.
    pub multicast: bool,
    /// Bound to this source address.
    pub bind_source: Option<IpAddr>,
    /// Only sends (a virtual MAC's): never read.
    pub send_only: bool,
}

/// Where one instance receives, sends and puts its VIPs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstancePlan {
    /// The socket its adverts arrive on (index into [`Plan::sockets`]).
    pub rx: usize,
    /// The socket it sends from.
    pub tx: usize,
    /// The socket of each of its extra advert paths (it receives and sends there), in the
    /// order of [`InstanceConfig::paths`](crate::core::InstanceConfig::paths).
    pub paths: Vec<usize>,
    /// The device of its VIPs that name its interface: the interface, or its vmac.
    pub vip_dev: String,
    /// Its virtual routes (keepalived `virtual_routes`), parsed.
    pub routes: Vec<RouteSpec>,
    /// Its virtual rules (keepalived `virtual_rules`), parsed.
    pub rules: Vec<super::rule::RuleSpec>,
}

/// Everything the runtime opens for a configuration. See the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Existing interfaces whose index is needed, in first-seen order.
    pub interfaces: Vec<String>,
    /// Virtual MAC interfaces to create, before the sockets.
    pub vmacs: Vec<VmacPlan>,
    /// VRRP sockets, receiving ones first.
    pub sockets: Vec<SocketPlan>,
    /// Per instance, in configuration order.
    pub instances: Vec<InstancePlan>,
}

impl Plan {
    /// Every device announcements leave from: the interfaces and the vmacs.
    pub fn announce_devices(&self) -> impl Iterator<Item = &str> {
        self.interfaces
            .iter()
            .map(String::as_str)
            .chain(self.vmacs.iter().map(|v| v.name.as_str()))
    }

    /// The device a VIP of instance `i` goes on: its own device, where the instance's
    /// interface stands for the instance's vmac if it has one.
    pub fn vip_dev<'a>(&'a self, i: usize, interface: &'a str, v: &'a VipSpec) -> &'a str {
        match v.dev_or(interface) {
            d if d == interface => self.instances.get(i).map_or(d, |p| p.vip_dev.as_str()),
            d => d,
        }
    }
}

/// Plans the node's interfaces, vmacs and sockets for the configuration `b` with the runtime
/// options `opts`. Refuses what cannot run: fencing without a fence command, an unspecified
/// primary address, a sync daemon following an unknown instance.
pub fn plan(
    b: &DirectorBuilder,
    opts: &HashMap<String, InstanceOptions>,
    sync_daemon_instance: Option<&str>,
) -> Result<Plan, DirectorRunError> {
    let instances = b.instances();
    if let Some(name) = sync_daemon_instance
        && !instances.iter().any(|c| c.name == name)
    {
        return Err(DirectorRunError::Instance {
            instance: name.to_owned(),
            detail: "the IPVS sync daemon follows an instance that is not configured".into(),
        });
    }
    let mut p = Plan::default();
    let push_if = |p: &mut Plan, name: &str| {
        if !p.interfaces.iter().any(|n| n == name) {
            p.interfaces.push(name.to_owned());
        }
    };
    let mut routes = Vec::with_capacity(instances.len());
    let mut rules = Vec::with_capacity(instances.len());
    for c in instances {
        push_if(&mut p, &c.interface);
        for v in c.vips.iter().chain(&c.excluded_vips) {
            push_if(&mut p, v.dev_or(&c.interface));
        }
        for s in &c.steps {
            if let crate::core::StepKind::Address(v) = &s.kind {
                push_if(&mut p, v.dev_or(&c.interface));
            }
        }
        let mut parsed = Vec::with_capacity(c.routes.len());
        for r in &c.routes {
            let spec = RouteSpec::parse(r).map_err(|e| DirectorRunError::Route {
                instance: c.name.clone(),
                route: r.clone(),
                detail: e.to_string(),
            })?;
            if let Some(dev) = &spec.dev {
                push_if(&mut p, dev);
            }
            parsed.push(spec);
        }
        routes.push(parsed);
        let mut parsed = Vec::with_capacity(c.rules.len());
        for r in &c.rules {
            parsed.push(
                super::rule::RuleSpec::parse(r).map_err(|e| DirectorRunError::Rule {
                    owner: format!("instance {:?}", c.name),
                    rule: r.clone(),
                    detail: e.to_string(),
                })?,
            );
        }
        rules.push(parsed);
    }
    for t in b.trackers() {
        if let TrackerKind::Interface { ifname } = &t.kind {
            push_if(&mut p, ifname);
        }
    }
    // Receiving sockets.
    let mut vmac_of: Vec<Option<usize>> = Vec::with_capacity(instances.len());
    for (i, c) in instances.iter().enumerate() {
        let o = opts.get(&c.name);
        if c.fence
            && o.and_then(|o| o.fence.as_ref())
                .is_none_or(|f| f.is_empty())
        {
            return Err(DirectorRunError::Instance {
                instance: c.name.clone(),
                detail: "fencing is on but no fence command is given".into(),
            });
        }
        let primary = c.router.primary_address;
        if primary.is_unspecified() {
            return Err(DirectorRunError::Instance {
                instance: c.name.clone(),
                detail: "the primary address must be given".into(),
            });
        }
        vmac_of.push(o.and_then(|o| o.vmac.clone()).map(|name| {
            p.vmacs.push(VmacPlan {
                instance: i,
                name,
                parent: c.interface.clone(),
                vrid: c.router.vrid.get(),
                ipv6: !primary.is_ipv4(),
                link_local: match primary {
                    IpAddr::V6(a) if a.is_unicast_link_local() => Some(primary),
                    _ => None,
                },
            });
            p.vmacs.len() - 1
        }));
        let family = Family::of(primary);
        let multicast = c.router.peers.is_empty();
        let bind_if = match vmac_of[i] {
            Some(v) if multicast => p.vmacs[v].name.clone(),
            _ => c.interface.clone(),
        };
        let src = (!multicast).then_some(primary);
        let rx = match p
            .sockets
            .iter()
            .position(|s| s.bind_if == bind_if && s.family == family)
        {
            Some(s) => {
                let s2 = &mut p.sockets[s];
                s2.multicast |= multicast;
                if s2.bind_source != src {
                    s2.bind_source = None;
                }
                s
            }
            None => {
                p.sockets.push(SocketPlan {
                    bind_if,
                    interface: c.interface.clone(),
                    family,
                    multicast,
                    bind_source: src,
                    send_only: false,
                });
                p.sockets.len() - 1
            }
        };
        // Its extra advert paths: a socket per (interface, family) as for the instance's own,
        // multicast when the path has no unicast peers.
        let mut paths = Vec::with_capacity(c.paths.len());
        for path in &c.paths {
            push_if(&mut p, &path.interface);
            let multicast = path.peers.is_empty();
            let src = (!multicast).then_some(path.source);
            let k = match p
                .sockets
                .iter()
                .position(|s| s.bind_if == path.interface && s.family == family)
            {
                Some(k) => {
                    let s2 = &mut p.sockets[k];
                    s2.multicast |= multicast;
                    if s2.bind_source != src {
                        s2.bind_source = None;
                    }
                    k
                }
                None => {
                    p.sockets.push(SocketPlan {
                        bind_if: path.interface.clone(),
                        interface: path.interface.clone(),
                        family,
                        multicast,
                        bind_source: src,
                        send_only: false,
                    });
                    p.sockets.len() - 1
                }
            };
            paths.push(k);
        }
        p.instances.push(InstancePlan {
            rx,
            tx: rx,
            paths,
            vip_dev: c.interface.clone(),
            routes: std::mem::take(&mut routes[i]),
            rules: std::mem::take(&mut rules[i]),
        });
    }
    // Only a socket of unicast instances alone is bound to a source address.
    for s in &mut p.sockets {
        if s.multicast {
            s.bind_source = None;
        }
    }
    // Send-only sockets of the vmacs.
    for (i, c) in instances.iter().enumerate() {
        if let Some(v) = vmac_of[i] {
            let name = p.vmacs[v].name.clone();
            p.sockets.push(SocketPlan {
                bind_if: name.clone(),
                interface: c.interface.clone(),
                family: Family::of(c.router.primary_address),
                multicast: false,
                bind_source: Some(c.router.primary_address),
                send_only: true,
            });
            p.instances[i].tx = p.sockets.len() - 1;
            p.instances[i].vip_dev = name;
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{InstanceConfig, TrackerConfig};
    use ha_vrrp_proto::router::Config;
    use ha_vrrp_proto::{Version, VrId};

    fn inst(name: &str, ifname: &str, vrid: u8, addr: &str, peers: &[&str]) -> InstanceConfig {
        let mut r = Config::new(Version::V3, VrId::new(vrid).unwrap(), addr.parse().unwrap());
        r.peers = peers.iter().map(|p| p.parse().unwrap()).collect();
        InstanceConfig::new(name, ifname, r)
    }

    fn opts(list: &[(&str, InstanceOptions)]) -> HashMap<String, InstanceOptions> {
        list.iter()
            .map(|(n, o)| (n.to_string(), o.clone()))
            .collect()
    }

    #[test]
    fn one_socket_per_device_and_family() {
        let mut b = DirectorBuilder::new();
        let mut a = inst("A", "eth0", 1, "10.0.0.2", &[]);
        a.vips.push(VipSpec::parse("10.0.0.100/24").unwrap());
        a.excluded_vips
            .push(VipSpec::parse("192.0.2.1/32 dev lo").unwrap());
        a.routes.push("10.8.0.0/16 via 10.0.0.1 dev eth5".into());
        b.add_instance(a).unwrap();
        b.add_instance(inst("B", "eth0", 2, "10.0.0.2", &["10.0.0.3"]))
            .unwrap();
        b.add_instance(inst("C", "eth0", 3, "fe80::2", &[]))
            .unwrap();
        b.add_instance(inst("D", "eth1", 4, "10.0.1.2", &["10.0.1.3"]))
            .unwrap();
        // An interface tracker's interface is resolved too.
        b.add_tracker(TrackerConfig::new(
            "up",
            TrackerKind::Interface {
                ifname: "eth2".into(),
            },
        ));
        let p = plan(&b, &HashMap::new(), None).unwrap();
        assert_eq!(p.interfaces, ["eth0", "lo", "eth5", "eth1", "eth2"]);
        assert_eq!(p.instances[0].routes[0].dev.as_deref(), Some("eth5"));
        assert_eq!(p.sockets.len(), 3, "{:#?}", p.sockets);
        // A and B share eth0/IPv4: joined (A is multicast), no bound source.
        assert_eq!(p.instances[0].rx, p.instances[1].rx);
        let s = &p.sockets[p.instances[0].rx];
        assert!(s.multicast && s.bind_source.is_none() && s.family == Family::Ipv4);
        // C is IPv6 on eth0: its own socket.
        assert_eq!(p.sockets[p.instances[2].rx].family, Family::Ipv6);
        // D is unicast alone on eth1: bound to its primary address.
        let d = &p.sockets[p.instances[3].rx];
        assert_eq!(d.bind_source, Some("10.0.1.2".parse().unwrap()));
        assert!(!d.multicast);
        for (i, ip) in p.instances.iter().enumerate() {
            assert_eq!(ip.rx, ip.tx, "instance {i} sends where it receives");
        }
        assert!(p.vmacs.is_empty());
    }

    #[test]
    fn a_vmac_receives_multicast_and_sends_from_its_own_socket() {
        let mut b = DirectorBuilder::new();
        let mut a = inst("A", "eth0", 7, "10.0.0.2", &[]);
        a.vips.push(VipSpec::parse("10.0.0.100/24").unwrap());
        a.vips.push(VipSpec::parse("10.9.0.1/24 dev eth3").unwrap());
        b.add_instance(a).unwrap();
        b.add_instance(inst("U", "eth0", 8, "fe80::2", &["fe80::3"]))
            .unwrap();
        let o = opts(&[
            (
                "A",
                InstanceOptions {
                    vmac: Some("vrrp.7".into()),
                    ..Default::default()
                },
            ),
            (
                "U",
                InstanceOptions {
                    vmac: Some("vrrp6.8".into()),
                    ..Default::default()
                },
            ),
        ]);
        let p = plan(&b, &o, None).unwrap();
        assert_eq!(p.vmacs.len(), 2);
        assert_eq!(p.vmacs[0].parent, "eth0");
        assert_eq!(p.vmacs[1].link_local, Some("fe80::2".parse().unwrap()));
        // A (multicast) receives on its vmac; U (unicast) on the parent.
        assert_eq!(p.sockets[p.instances[0].rx].bind_if, "vrrp.7");
        assert_eq!(p.sockets[p.instances[0].rx].interface, "eth0");
        assert_eq!(p.sockets[p.instances[1].rx].bind_if, "eth0");
        for (i, v) in [(0, "vrrp.7"), (1, "vrrp6.8")] {
            let tx = &p.sockets[p.instances[i].tx];
            assert!(tx.send_only && tx.bind_if == v && tx.bind_source.is_some());
            assert_eq!(p.instances[i].vip_dev, v);
        }
        let c = &b.instances()[0];
        assert_eq!(p.vip_dev(0, &c.interface, &c.vips[0]), "vrrp.7");
        assert_eq!(p.vip_dev(0, &c.interface, &c.vips[1]), "eth3");
        let devs: Vec<&str> = p.announce_devices().collect();
        assert_eq!(devs, ["eth0", "eth3", "vrrp.7", "vrrp6.8"]);
    }

    #[test]
    fn advert_paths_get_sockets_of_their_own() {
        let mut b = DirectorBuilder::new();
        let mut a = inst("A", "eth0", 1, "10.0.0.1", &["10.0.0.2"]);
        a.paths.push(crate::core::AdvertPath {
            interface: "eth1".into(),
            source: "10.1.0.1".parse().unwrap(),
            peers: vec!["10.1.0.2".parse().unwrap()],
            multicast_group: None,
        });
        a.paths.push(crate::core::AdvertPath {
            interface: "eth2".into(),
            source: "10.2.0.1".parse().unwrap(),
            peers: vec![],
            multicast_group: None,
        });
        b.add_instance(a).unwrap();
        let p = plan(&b, &HashMap::new(), None).unwrap();
        assert_eq!(p.interfaces, ["eth0", "eth1", "eth2"]);
        let ip = &p.instances[0];
        assert_eq!(ip.paths.len(), 2);
        let s1 = &p.sockets[ip.paths[0]];
        assert_eq!(s1.bind_if, "eth1");
        assert_eq!(s1.interface, "eth1");
        assert_eq!(s1.bind_source, Some("10.1.0.1".parse().unwrap()));
        assert!(!s1.multicast);
        let s2 = &p.sockets[ip.paths[1]];
        assert!(s2.multicast && s2.bind_source.is_none() && s2.bind_if == "eth2");
        assert_ne!(ip.rx, ip.paths[0]);
    }

    #[test]
    fn refuses_what_cannot_run() {
        let mut b = DirectorBuilder::new();
        let mut a = inst("A", "eth0", 1, "10.0.0.2", &[]);
        a.fence = true;
        b.add_instance(a).unwrap();
        let e = plan(&b, &HashMap::new(), None).unwrap_err();
        assert!(e.to_string().contains("no fence command"), "{e}");
        let o = opts(&[(
            "A",
            InstanceOptions {
                fence: Some(vec!["/bin/true".into()]),
                ..Default::default()
            },
        )]);
        assert!(plan(&b, &o, None).is_ok());
        let e = plan(&b, &o, Some("B")).unwrap_err();
        assert!(e.to_string().contains("sync daemon"), "{e}");
        // An unspecified primary address is refused by the builder already.
        let mut b = DirectorBuilder::new();
        assert!(
            b.add_instance(inst("Z", "eth0", 1, "0.0.0.0", &[]))
                .is_err()
        );
        let mut b = DirectorBuilder::new();
        let mut a = inst("R", "eth0", 1, "10.0.0.2", &[]);
        a.routes.push("10.8.0.0/16 via 10.0.0.1 weight 2".into());
        b.add_instance(a).unwrap();
        let e = plan(&b, &HashMap::new(), None).unwrap_err();
        assert!(e.to_string().contains("unknown word \"weight\""), "{e}");
    }
}
