//! Building a [`Director`]: every check of the configuration, then the routers created in the
//! states their trackers and sync groups give.

use std::collections::VecDeque;
use std::time::Instant;

use ha_vrrp_proto::router::{Config as RouterConfig, Router, TrackId};

use super::packet::InstWire;
use super::pool::Pool;
use super::track::{self, Tracker};
use super::tracking::{priority_sum, tracker_fault};
use super::{
    Director, DirectorConfigError, Group, GroupId, Inst, InstanceConfig, InstanceId, NotifyScripts,
    SYNC_GROUP_TRACK, StepKind, SyncGroupConfig, TrackStatus, TrackerConfig, TrackerId,
    TrackerKind, VirtualServerConfig, VirtualServerId,
};

/// Collects the configuration and builds a [`Director`].
#[derive(Debug, Clone, Default)]
pub struct DirectorBuilder {
    trackers: Vec<TrackerConfig>,
    instances: Vec<InstanceConfig>,
    groups: Vec<SyncGroupConfig>,
    pools: Vec<VirtualServerConfig>,
}

impl DirectorBuilder {
    /// An empty configuration.
    pub fn new() -> DirectorBuilder {
        DirectorBuilder::default()
    }

    /// The trackers added, in order ([`TrackerId`] `n` is the `n`th).
    pub fn trackers(&self) -> &[TrackerConfig] {
        &self.trackers
    }

    /// Builds the director (see [`build`](Self::build)) and keeps this configuration without
    /// its virtual servers: what a runtime keeps beside the built director to compare a
    /// reload's instances with. The virtual servers, one entry per real server, live on in the
    /// director only (a copy was about 1 MiB at 10,000 real servers).
    pub fn build_keeping_instances(
        &mut self,
        now: Instant,
    ) -> Result<Director, DirectorConfigError> {
        let kept = DirectorBuilder {
            trackers: self.trackers.clone(),
            instances: self.instances.clone(),
            groups: self.groups.clone(),
            pools: Vec::new(),
        };
        std::mem::replace(self, kept).build(now)
    }

    /// The instances added, in order ([`InstanceId`] `n` is the `n`th), with their VIP
    /// devices filled in.
    pub fn instances(&self) -> &[InstanceConfig] {
        &self.instances
    }

    /// The sync groups added, in order.
    pub fn sync_groups(&self) -> &[SyncGroupConfig] {
        &self.groups
    }

    /// The virtual servers added, in order.
    pub fn virtual_servers(&self) -> &[VirtualServerConfig] {
        &self.pools
    }

    /// Adds a tracker.
    pub fn add_tracker(&mut self, cfg: TrackerConfig) -> TrackerId {
        self.trackers.push(cfg);
        TrackerId((self.trackers.len() - 1) as u32)
    }

    /// Adds an instance after checking it (router config, address families, tracker
    /// references and weights, commands, unique name and VRID per interface and family).
    /// A VIP without a device gets the instance's interface.
    pub fn add_instance(
        &mut self,
        mut cfg: InstanceConfig,
    ) -> Result<InstanceId, DirectorConfigError> {
        let name = cfg.name.clone();
        cfg.router
            .validate()
            .map_err(|source| DirectorConfigError::Router {
                instance: name.clone(),
                source,
            })?;
        super::packet::check_paths(&cfg)?;
        for other in &self.instances {
            if other.name == name {
                return Err(DirectorConfigError::DuplicateInstance { name });
            }
            // Every interface the instance hears adverts on: its own and its paths'.
            let shared = super::packet::interfaces(other)
                .find(|i| super::packet::interfaces(&cfg).any(|j| j == *i));
            if let Some(interface) = shared
                && other.router.vrid == cfg.router.vrid
                && other.router.primary_address.is_ipv4() == cfg.router.primary_address.is_ipv4()
            {
                return Err(DirectorConfigError::DuplicateVrid {
                    first: other.name.clone(),
                    second: name,
                    vrid: cfg.router.vrid,
                    interface: interface.to_owned(),
                });
            }
        }
        let primary = cfg.router.primary_address;
        if let Some(v) = cfg
            .vips
            .iter()
            .find(|v| v.addr.is_ipv4() != primary.is_ipv4())
        {
            return Err(DirectorConfigError::VipFamily {
                instance: name,
                addr: v.addr,
                primary,
            });
        }
        for t in &cfg.track {
            let Some(tracker) = self.trackers.get(t.tracker.0 as usize) else {
                return Err(DirectorConfigError::UnknownTracker {
                    instance: name,
                    tracker: t.tracker,
                });
            };
            // keepalived: -253..=253, track_file and track_process -254..=254.
            let max = if matches!(
                tracker.kind,
                TrackerKind::File { .. } | TrackerKind::Process(_)
            ) {
                254
            } else {
                253
            };
            if !(-max..=max).contains(&t.weight) {
                return Err(DirectorConfigError::WeightOutOfRange {
                    instance: name,
                    tracker: t.tracker,
                    weight: t.weight,
                    min: -max,
                    max,
                });
            }
        }
        check_scripts(&name, &cfg.notify)?;
        for (i, s) in cfg.steps.iter().enumerate() {
            let empty = match &s.kind {
                StepKind::Command { start, stop } => start.is_empty() || stop.is_empty(),
                StepKind::Service(svc) => svc.is_empty(),
                StepKind::Address(_) => false,
            };
            if empty {
                return Err(DirectorConfigError::EmptyCommand {
                    owner: name,
                    what: format!("step {i} ({:?})", s.name),
                });
            }
        }
        InstWire::new(&cfg).map_err(|source| DirectorConfigError::Addresses {
            instance: name.clone(),
            source,
        })?;
        let ifname = cfg.interface.clone();
        for v in cfg.vips.iter_mut().chain(cfg.excluded_vips.iter_mut()) {
            if v.dev.is_none() {
                v.dev = Some(ifname.clone());
            }
        }
        self.instances.push(cfg);
        Ok(InstanceId((self.instances.len() - 1) as u32))
    }

    /// Adds a sync group.
    pub fn add_sync_group(&mut self, cfg: SyncGroupConfig) -> Result<GroupId, DirectorConfigError> {
        if cfg.members.is_empty() {
            return Err(DirectorConfigError::EmptyGroup { group: cfg.name });
        }
        if self.groups.iter().any(|g| g.name == cfg.name) {
            return Err(DirectorConfigError::DuplicateGroup { name: cfg.name });
        }
        for (k, m) in cfg.members.iter().enumerate() {
            let Some(inst) = self.instances.get(m.0 as usize) else {
                return Err(DirectorConfigError::UnknownMember {
                    group: cfg.name,
                    instance: *m,
                });
            };
            let other = if cfg.members[..k].contains(m) {
                Some(cfg.name.clone())
            } else {
                self.groups
                    .iter()
                    .find(|g| g.members.contains(m))
                    .map(|g| g.name.clone())
            };
            if let Some(other) = other {
                return Err(DirectorConfigError::MemberTwice {
                    group: cfg.name,
                    instance: inst.name.clone(),
                    other,
                });
            }
        }
        check_scripts(&cfg.name, &cfg.notify)?;
        self.groups.push(cfg);
        Ok(GroupId((self.groups.len() - 1) as u32))
    }

    /// Adds a virtual server (see [`pool`](super::pool)); its IPVS service is created by the
    /// first [`DirectorAction::Ipvs`](super::DirectorAction::Ipvs) after
    /// [`DirectorBuilder::build`].
    pub fn add_virtual_server(
        &mut self,
        cfg: VirtualServerConfig,
    ) -> Result<VirtualServerId, DirectorConfigError> {
        for key in cfg.keys() {
            let mut service = cfg.service.clone();
            service.key = key;
            let everything = ha_ipvs::model::VirtualService {
                service,
                destinations: cfg
                    .real_servers
                    .iter()
                    .map(|r| r.destination.clone())
                    .chain(cfg.sorry_server.clone())
                    .collect(),
            };
            everything
                .validate()
                .map_err(|source| DirectorConfigError::VirtualServer {
                    name: cfg.name.clone(),
                    source,
                })?;
        }
        for (what, argv) in [
            ("quorum_up", &cfg.quorum_up),
            ("quorum_down", &cfg.quorum_down),
        ]
        .into_iter()
        .chain(
            cfg.real_servers
                .iter()
                .flat_map(|r| [("notify_up", &r.notify_up), ("notify_down", &r.notify_down)]),
        ) {
            if matches!(argv, Some(a) if a.is_empty()) {
                return Err(DirectorConfigError::EmptyCommand {
                    owner: format!("virtual server {}", cfg.name),
                    what: what.to_owned(),
                });
            }
        }
        if let Some(t) = cfg.tracker
            && !matches!(
                self.trackers.get(t.0 as usize).map(|t| &t.kind),
                Some(TrackerKind::Pool { .. })
            )
        {
            return Err(DirectorConfigError::PoolTracker {
                name: cfg.name,
                tracker: t,
            });
        }
        self.pools.push(cfg);
        Ok(VirtualServerId((self.pools.len() - 1) as u32))
    }

    /// Builds the director: every router starts now (its Startup event runs at once unless it
    /// has a startup delay), with the priority its trackers' initial states give. An instance
    /// whose trackers start in fault (or whose sync group has such a member) starts in Fault
    /// ([`Router::new_in_fault`]) and sends nothing until it clears. The first outputs may
    /// already be queued.
    pub fn build(self, now: Instant) -> Result<Director, DirectorConfigError> {
        let mut trackers: Vec<Tracker> = self.trackers.into_iter().map(Tracker::new).collect();
        for cfg in &self.pools {
            for i in cfg.gate.iter().flat_map(|g| &g.instances) {
                if i.0 as usize >= self.instances.len() {
                    return Err(DirectorConfigError::GateInstance {
                        name: cfg.name.clone(),
                        instance: *i,
                    });
                }
            }
        }
        let pools: Vec<Pool> = self.pools.into_iter().map(Pool::new).collect();
        // A pool tracker starts with its pool's quorum.
        for p in &pools {
            if let Some(t) = p.cfg.tracker.and_then(|t| trackers.get_mut(t.0 as usize)) {
                t.status = if p.quorum_up {
                    TrackStatus::Up
                } else {
                    TrackStatus::Down
                };
            }
        }
        // Faults known at start (a tracker that starts failing, and the sync groups of such
        // instances): those routers start in Fault and never advertise before it clears.
        let own: Vec<Option<TrackId>> = self
            .instances
            .iter()
            .map(|c| tracker_fault(&trackers, &c.track))
            .collect();
        let mut insts = Vec::with_capacity(self.instances.len());
        for (i, cfg) in self.instances.into_iter().enumerate() {
            let group = self
                .groups
                .iter()
                .position(|g| g.members.contains(&InstanceId(i as u32)))
                .map(|g| GroupId(g as u32));
            let fault = own[i].or_else(|| {
                let g = &self.groups[group?.0 as usize];
                g.members
                    .iter()
                    .any(|m| m.0 as usize != i && own[m.0 as usize].is_some())
                    .then_some(SYNC_GROUP_TRACK)
            });
            let base = cfg.router.priority;
            let mut rcfg: RouterConfig = cfg.router.clone();
            rcfg.priority = track::effective_priority(base, priority_sum(&trackers, &cfg.track));
            let router = match fault {
                Some(t) => Router::new_in_fault(rcfg, now, t),
                None => Router::new(rcfg, now),
            }
            .map_err(|source| DirectorConfigError::Router {
                instance: cfg.name.clone(),
                source,
            })?;
            let wire = InstWire::new(&cfg).map_err(|source| DirectorConfigError::Addresses {
                instance: cfg.name.clone(),
                source,
            })?;
            insts.push(Inst::new(cfg, router, group, fault, wire));
        }
        let groups = self
            .groups
            .into_iter()
            .map(|cfg| Group { cfg, state: None })
            .collect();
        let n_insts = insts.len();
        let mut d = Director {
            insts,
            groups,
            trackers,
            pools,
            transmits: VecDeque::new(),
            unmatched: Default::default(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            ops: VecDeque::new(),
            next_token: 0,
            stopped: false,
            wire: Default::default(),
            agenda: super::agenda::Agenda::new(n_insts),
            faults_dirty: true,
        };
        for p in 0..d.pools.len() {
            d.emit_pool(p);
            // keepalived `rs_init_notifies`: the real servers that start alive run their
            // notify_up (its `init_service_rs`, before the quorum's state).
            if d.pools[p].cfg.init_notifies {
                let pool = &d.pools[p];
                let ups: Vec<Vec<String>> = pool
                    .cfg
                    .real_servers
                    .iter()
                    .zip(&pool.alive)
                    .filter(|(_, a)| **a)
                    .filter_map(|(r, _)| r.notify_up.clone())
                    .collect();
                for argv in ups {
                    d.actions.push_back(super::DirectorAction::Notify { argv });
                }
            }
            // keepalived starts a pool without quorum and with a sorry server with its
            // quorum_down script ("Starting with quorum down").
            if !d.pools[p].quorum_up && d.pools[p].cfg.sorry_server.is_some() {
                d.quorum_script(p, false);
            }
        }
        d.pump(now);
        Ok(d)
    }
}

fn check_scripts(owner: &str, n: &NotifyScripts) -> Result<(), DirectorConfigError> {
    for (what, s) in [
        ("notify_master", &n.master),
        ("notify_backup", &n.backup),
        ("notify_fault", &n.fault),
        ("notify_stop", &n.stop),
        ("notify", &n.generic),
    ] {
        if matches!(s, Some(argv) if argv.is_empty()) {
            return Err(DirectorConfigError::EmptyCommand {
                owner: owner.to_owned(),
                what: what.to_owned(),
            });
        }
    }
    Ok(())
}
