//! Virtual servers (keepalived `virtual_server`): from real-server health to the IPVS desired
//! state, in ha-ipvs's model ([`VirtualService`]), and the pool's quorum.
//!
//! keepalived's rules, sans-io:
//! - a live real server is a destination with its configured weight; a dead one is removed,
//!   or kept with weight 0 with `inhibit_on_failure` (existing connections drain);
//! - quorum: the pool is up while the total weight of the live servers is at least
//!   `quorum`; with `hysteresis` it goes up at `quorum + hysteresis` and down below
//!   `quorum - hysteresis` (or when no live weight is left). It starts up when the live
//!   weight reaches `quorum + hysteresis` (keepalived's `set_quorum_states`). The quorum
//!   state may feed a [`TrackerKind::Pool`] tracker, so a VRRP instance can track its pool's
//!   health;
//! - the `sorry_server` replaces the live real servers while the quorum is down (keepalived's
//!   `update_quorum_state`: the live servers are taken out; inhibited ones, dead or alive,
//!   stay at weight 0); with `sorry_inhibit` it stays in IPVS with weight 0 while the quorum is up;
//! - scripts, as keepalived runs them (no arguments added): a real server's `notify_up` /
//!   `notify_down` when its health changes, then the pool's `quorum_up` / `quorum_down`
//!   when the quorum changes; `quorum_down` also at start when the pool starts without
//!   quorum and has a sorry server. With `omega`, a stop runs `notify_down` for each live
//!   server and then `quorum_down` ([`Director::shutdown`](super::Director::shutdown));
//! - a virtual server group (keepalived `virtual_server_group`) is one pool with several
//!   services ([`VirtualServerConfig::group_keys`]): each gets the same real servers;
//! - a [`MastershipGate`] ties the pool to VRRP instances: it is open while one of them holds
//!   its addresses. [`GateEffect::SuspendChecks`] is keepalived's `ha_suspend` (health
//!   results are held while closed and applied when it opens); [`GateEffect::Install`] puts
//!   the IPVS services in the kernel only while open (a resource group's virtual-server step).
//!
//! Each change of the desired state comes out as [`DirectorAction::Ipvs`] with the operations
//! from [`ha_ipvs::diff()`] (the first one creates the service).
//!
//! [`TrackerKind::Pool`]: super::TrackerKind::Pool
//! [`DirectorAction::Ipvs`]: super::DirectorAction::Ipvs

use ha_ipvs::model::{Destination, Service, ServiceKey, VirtualService};

use super::InstanceId;
use super::track::TrackerId;

/// What a closed [`MastershipGate`] does to its pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GateEffect {
    /// keepalived `ha_suspend`: real-server health results do not change the pool while the
    /// gate is closed; the last result of each server is applied when it opens.
    SuspendChecks,
    /// The pool's IPVS services exist only while the gate is open (deleted when it closes,
    /// added back with the current health when it opens).
    Install,
}

/// Ties a pool to the mastership of VRRP instances: open while any of `instances` holds its
/// addresses ([`Director::holds_vips`](super::Director::holds_vips)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MastershipGate {
    /// The instances (keepalived: those carrying the virtual server's address).
    pub instances: Vec<InstanceId>,
    /// What a closed gate does.
    pub effect: GateEffect,
}

/// A virtual server's identifier: its index in the director, in the order added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VirtualServerId(pub u32);

/// One real server of a virtual server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RealServer {
    /// The destination with its configured weight.
    pub destination: Destination,
    /// keepalived `inhibit_on_failure`: when dead, keep it with weight 0 instead of removing it.
    pub inhibit_on_failure: bool,
    /// keepalived `notify_up`: run (no arguments added) when it comes up.
    pub notify_up: Option<Vec<String>>,
    /// keepalived `notify_down`: run (no arguments added) when it goes down.
    pub notify_down: Option<Vec<String>>,
    /// Whether it starts alive, overriding the pool's
    /// [`alive_on_start`](VirtualServerConfig::alive_on_start) (keepalived's real-server
    /// `alpha`).
    pub alive_on_start: Option<bool>,
}

impl RealServer {
    /// A real server that is removed when dead, with no scripts.
    pub fn new(destination: Destination) -> RealServer {
        RealServer {
            destination,
            inhibit_on_failure: false,
            notify_up: None,
            notify_down: None,
            alive_on_start: None,
        }
    }
}

/// The configuration of a virtual server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServerConfig {
    /// A name for events.
    pub name: String,
    /// The IPVS service (address/port or fwmark, scheduler, persistence).
    pub service: Service,
    /// The real servers.
    pub real_servers: Vec<RealServer>,
    /// keepalived `sorry_server`: used while the quorum is down.
    pub sorry_server: Option<Destination>,
    /// keepalived `sorry_server_inhibit`: the sorry server stays in IPVS with weight 0 while
    /// it is not in use.
    pub sorry_inhibit: bool,
    /// keepalived `quorum` (default 1): the live weight needed for the pool to be up.
    pub quorum: u32,
    /// keepalived `hysteresis` (default 0).
    pub hysteresis: u32,
    /// A [`TrackerKind::Pool`](super::TrackerKind::Pool) tracker fed with the quorum state.
    pub tracker: Option<TrackerId>,
    /// Real servers start alive (keepalived's default); `false` is keepalived's `alpha`.
    pub alive_on_start: bool,
    /// keepalived `quorum_up`: run (no arguments added) when the quorum is gained.
    pub quorum_up: Option<Vec<String>>,
    /// keepalived `quorum_down`: run (no arguments added) when the quorum is lost.
    pub quorum_down: Option<Vec<String>>,
    /// keepalived `omega`: on shutdown run `notify_down` of each live real server, then
    /// `quorum_down`.
    pub omega: bool,
    /// More services with the same scheduler, flags, persistence and real servers: the other
    /// entries of a keepalived `virtual_server_group` (`service.key` is the first). A real
    /// server's port 0 takes each service's port.
    pub group_keys: Vec<ServiceKey>,
    /// Ties the pool to instances' mastership (keepalived `ha_suspend`, or a resource-group
    /// step); `None`: always open.
    pub gate: Option<MastershipGate>,
    /// Run the `notify_up` script of each real server that starts alive, at start
    /// (keepalived's global `rs_init_notifies`).
    pub init_notifies: bool,
}

impl VirtualServerConfig {
    /// A virtual server with quorum 1, no hysteresis, no sorry server, servers alive at start.
    pub fn new(name: impl Into<String>, service: Service, real_servers: Vec<RealServer>) -> Self {
        VirtualServerConfig {
            name: name.into(),
            service,
            real_servers,
            sorry_server: None,
            quorum: 1,
            hysteresis: 0,
            tracker: None,
            alive_on_start: true,
            quorum_up: None,
            quorum_down: None,
            omega: false,
            sorry_inhibit: false,
            group_keys: Vec::new(),
            gate: None,
            init_notifies: false,
        }
    }

    /// Every service key of this virtual server: `service.key`, then `group_keys`.
    pub fn keys(&self) -> impl Iterator<Item = ServiceKey> + '_ {
        std::iter::once(self.service.key).chain(self.group_keys.iter().copied())
    }
}

/// A virtual server's runtime state.
#[derive(Debug, Clone)]
pub(crate) struct Pool {
    pub(crate) cfg: VirtualServerConfig,
    pub(crate) alive: Vec<bool>,
    /// A weight a check reported (keepalived `misc_dynamic`), in place of the configured one.
    pub(crate) weights: Vec<Option<u32>>,
    pub(crate) quorum_up: bool,
    /// The desired state last emitted (one entry per service key).
    pub(crate) applied: Option<Vec<VirtualService>>,
    /// Whether the [`MastershipGate`] is open (always true without one).
    pub(crate) open: bool,
    /// Health results held while a [`GateEffect::SuspendChecks`] gate is closed.
    pub(crate) held: Vec<Option<bool>>,
}

impl Pool {
    pub(crate) fn new(cfg: VirtualServerConfig) -> Pool {
        let alive = cfg
            .real_servers
            .iter()
            .map(|r| r.alive_on_start.unwrap_or(cfg.alive_on_start))
            .collect();
        let weights = vec![None; cfg.real_servers.len()];
        let mut p = Pool {
            cfg,
            alive,
            weights,
            quorum_up: false,
            applied: None,
            open: false,
            held: Vec::new(),
        };
        p.open = p.cfg.gate.is_none();
        p.held = vec![None; p.cfg.real_servers.len()];
        let w = p.live_weight();
        p.quorum_up =
            w > 0 && w >= u64::from(p.cfg.quorum).saturating_add(u64::from(p.cfg.hysteresis));
        p
    }

    pub(crate) fn live_weight(&self) -> u64 {
        self.cfg
            .real_servers
            .iter()
            .zip(&self.alive)
            .zip(&self.weights)
            .filter(|((_, a), _)| **a)
            .map(|((r, _), w)| u64::from(w.unwrap_or(r.destination.weight)))
            .sum()
    }

    /// Recomputes the quorum with hysteresis; returns the new state if it changed.
    pub(crate) fn update_quorum(&mut self) -> Option<bool> {
        let w = self.live_weight();
        let q = u64::from(self.cfg.quorum);
        let h = u64::from(self.cfg.hysteresis);
        let up = if self.quorum_up {
            w > 0 && w.saturating_add(h) >= q
        } else {
            w >= q.saturating_add(h)
        };
        (up != self.quorum_up).then(|| {
            self.quorum_up = up;
            up
        })
    }

    /// The desired IPVS state of this virtual server's first service.
    pub(crate) fn desired(&self) -> VirtualService {
        self.desired_for(self.cfg.service.key)
    }

    /// The desired IPVS state of every service of this virtual server (one per key); none
    /// while a [`GateEffect::Install`] gate is closed.
    pub(crate) fn desired_all(&self) -> Vec<VirtualService> {
        if !self.open && self.effect() == Some(GateEffect::Install) {
            return Vec::new();
        }
        self.cfg.keys().map(|k| self.desired_for(k)).collect()
    }

    /// The gate's effect, if the pool has a gate.
    pub(crate) fn effect(&self) -> Option<GateEffect> {
        self.cfg.gate.as_ref().map(|g| g.effect)
    }

    /// The desired state of the service `key`: the live real servers while the quorum is up
    /// (or there is no sorry server), otherwise the sorry server; dead inhibited servers
    /// (and an inhibited sorry server not in use) with weight 0.
    fn desired_for(&self, key: ServiceKey) -> VirtualService {
        let sorry_in = self.cfg.sorry_server.is_some() && !self.quorum_up;
        let port = match key {
            ServiceKey::Inet { addr, .. } => Some(addr.port()),
            ServiceKey::Fwmark { .. } => None,
        };
        let fix_port = |mut d: Destination| {
            if d.addr.port() == 0
                && let Some(p) = port
            {
                d.addr.set_port(p);
            }
            d
        };
        let mut destinations = Vec::with_capacity(self.cfg.real_servers.len() + 1);
        for ((rs, alive), weight) in self
            .cfg
            .real_servers
            .iter()
            .zip(&self.alive)
            .zip(&self.weights)
        {
            if *alive && !sorry_in {
                let mut d = rs.destination.clone();
                if let Some(w) = weight {
                    d.weight = *w;
                }
                destinations.push(fix_port(d));
            } else if rs.inhibit_on_failure {
                // Dead, or kept out by the sorry server: keepalived's removal of an
                // inhibited server is weight 0.
                let mut d = rs.destination.clone();
                d.weight = 0;
                destinations.push(fix_port(d));
            }
        }
        if let Some(sorry) = &self.cfg.sorry_server {
            let mut d = fix_port(sorry.clone());
            if sorry_in {
                destinations.retain(|x| x.addr != d.addr);
                destinations.push(d);
            } else if self.cfg.sorry_inhibit && !destinations.iter().any(|x| x.addr == d.addr) {
                d.weight = 0;
                destinations.push(d);
            }
        }
        let mut service = self.cfg.service.clone();
        service.key = key;
        VirtualService {
            service,
            destinations,
        }
    }
}
