//! Two directors on shared links (eth0 and eth1), each with a sync group of two instances,
//! under a virtual clock: failover of the whole group when one link of the master fails, and
//! preemption back when it returns.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

mod core_support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use core_support::*;
use ha_failover::core::{
    Director, DirectorAction, DirectorBuilder, InstanceConfig, InstanceId, NotifyScripts,
    SyncGroupConfig, VipSpec,
};
use ha_failover::vrrp::router::{RxAdvert, State};

struct Net {
    now: Instant,
    nodes: Vec<Director>,
    /// (delivery time, node, instance, advert)
    queue: Vec<(Instant, usize, InstanceId, RxAdvert)>,
    down: HashSet<(usize, String)>,
    /// VIP adds and removes seen per (node, instance), to check they alternate.
    held: HashSet<(usize, InstanceId)>,
}

impl Net {
    fn node(t0: Instant, octet: u8, prio: u8) -> Director {
        let mut b = DirectorBuilder::new();
        let mut c1 = InstanceConfig::new("VI_1", "eth0", router(1, prio, v4(octet)));
        c1.vips.push(VipSpec::parse("10.0.0.100/24").unwrap());
        let mut c2 = InstanceConfig::new(
            "VI_2",
            "eth1",
            router(2, prio, format!("10.0.1.{octet}").parse().unwrap()),
        );
        c2.vips.push(VipSpec::parse("10.0.1.100/24").unwrap());
        let i1 = b.add_instance(c1).unwrap();
        let i2 = b.add_instance(c2).unwrap();
        b.add_sync_group(SyncGroupConfig {
            name: "G".into(),
            members: vec![i1, i2],
            notify: NotifyScripts::default(),
        })
        .unwrap();
        b.build(t0).unwrap()
    }

    fn flush(&mut self) {
        for n in 0..self.nodes.len() {
            let o = drain(&mut self.nodes[n]);
            for (inst, tx) in o.transmits {
                let cfg = self.nodes[n].instance_config(inst).unwrap();
                let (src, ifname) = (cfg.router.primary_address, cfg.interface.clone());
                if self.down.contains(&(n, ifname.clone())) {
                    continue;
                }
                for m in 0..self.nodes.len() {
                    if m == n || self.down.contains(&(m, ifname.clone())) {
                        continue;
                    }
                    if let Some(j) = self.nodes[m].find_instance(&ifname, tx.vrid, src.is_ipv4()) {
                        let adv = RxAdvert::new(src, tx.vrid, tx.priority, tx.interval);
                        self.queue
                            .push((self.now + Duration::from_millis(1), m, j, adv));
                    }
                }
            }
            for a in o.actions {
                match a {
                    DirectorAction::AddVips { instance, .. } => {
                        assert!(self.held.insert((n, instance)), "added twice")
                    }
                    DirectorAction::RemoveVips { instance, .. } => {
                        assert!(self.held.remove(&(n, instance)), "removed unheld")
                    }
                    _ => {}
                }
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..100_000 {
            self.flush();
            let next = self
                .queue
                .iter()
                .map(|q| q.0)
                .chain(self.nodes.iter().filter_map(|n| n.poll_timeout()))
                .min();
            match next {
                Some(t) if t <= end => self.now = self.now.max(t),
                _ => break,
            }
            let now = self.now;
            let (due, rest): (Vec<_>, Vec<_>) = self.queue.drain(..).partition(|q| q.0 <= now);
            self.queue = rest;
            for (_, m, j, adv) in due {
                self.nodes[m].handle_advert(now, j, adv).unwrap();
                self.flush();
            }
            for n in &mut self.nodes {
                n.handle_timeout(now);
            }
        }
        self.now = end;
    }

    fn set_link(&mut self, node: usize, ifname: &str, up: bool) {
        if up {
            self.down.remove(&(node, ifname.to_owned()));
        } else {
            self.down.insert((node, ifname.to_owned()));
        }
        let now = self.now;
        self.nodes[node].handle_link(now, ifname, up);
        self.flush();
    }

    fn states(&self, node: usize) -> [State; 2] {
        let d = &self.nodes[node];
        [
            d.state(InstanceId(0)).unwrap(),
            d.state(InstanceId(1)).unwrap(),
        ]
    }
}

#[test]
fn group_fails_over_on_a_link_loss_and_preempts_back() {
    let t0 = Instant::now();
    let mut net = Net {
        now: t0,
        nodes: vec![Net::node(t0, 1, 200), Net::node(t0, 2, 100)],
        queue: Vec::new(),
        down: HashSet::new(),
        held: HashSet::new(),
    };
    net.run_for(Duration::from_secs(10));
    assert_eq!(net.states(0), [State::Master, State::Master]);
    assert_eq!(net.states(1), [State::Backup, State::Backup]);

    // A loses eth1: its whole group goes to Fault; B takes both within about a second
    // (VI_1's priority 0 on eth0 gives Skew_Time; VI_2 follows through the group).
    net.set_link(0, "eth1", false);
    assert_eq!(net.states(0), [State::Fault, State::Fault]);
    net.run_for(Duration::from_millis(700));
    assert_eq!(net.states(1), [State::Master, State::Master]);

    // eth1 returns: A (200) preempts both back.
    net.run_for(Duration::from_secs(5));
    net.set_link(0, "eth1", true);
    net.run_for(Duration::from_secs(10));
    assert_eq!(net.states(0), [State::Master, State::Master]);
    assert_eq!(net.states(1), [State::Backup, State::Backup]);
    let mut held: Vec<_> = net.held.iter().copied().collect();
    held.sort();
    assert_eq!(held, vec![(0, InstanceId(0)), (0, InstanceId(1))]);
}
