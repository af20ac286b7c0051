//! Virtual servers (keepalived `virtual_server`): from real-server health to the IPVS desired
//! state, in ha-ipvs's model ([`VirtualService`]), and the pool's quorum.
//!
//! keepalived's rules, sans-io:
//! - a live real server is a destination with its configured weight; a dead one is removed,
//!   or kept with weight 0 with `inhibit_on_failure` (existing connections drain);
//! - the `sorry_server` is a destination only while no real server is alive;
//! - quorum: the pool is up while the total weight of the live servers is at least
//!   `quorum`; with `hysteresis` it goes up at `quorum + hysteresis` and down below
//!   `quorum - hysteresis`. The quorum state may feed a [`TrackerKind::Pool`] tracker, so a
//!   VRRP instance can track its pool's health.
//!
//! Each change of the desired state comes out as [`DirectorAction::Ipvs`] with the operations
//! from [`ha_ipvs::diff()`] (the first one creates the service).
//!
//! [`TrackerKind::Pool`]: super::TrackerKind::Pool
//! [`DirectorAction::Ipvs`]: super::DirectorAction::Ipvs

use ha_ipvs::model::{Destination, Service, VirtualService};

use super::track::TrackerId;

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
    /// keepalived `sorry_server`: used while no real server is alive.
    pub sorry_server: Option<Destination>,
    /// keepalived `quorum` (default 1): the live weight needed for the pool to be up.
    pub quorum: u32,
    /// keepalived `hysteresis` (default 0).
    pub hysteresis: u32,
    /// A [`TrackerKind::Pool`](super::TrackerKind::Pool) tracker fed with the quorum state.
    pub tracker: Option<TrackerId>,
    /// Real servers start alive (keepalived's default); `false` is keepalived's `alpha`.
    pub alive_on_start: bool,
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
        }
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
    /// The desired state last emitted.
    pub(crate) applied: Option<VirtualService>,
}

impl Pool {
    pub(crate) fn new(cfg: VirtualServerConfig) -> Pool {
        let alive = vec![cfg.alive_on_start; cfg.real_servers.len()];
        let weights = vec![None; cfg.real_servers.len()];
        let mut p = Pool {
            cfg,
            alive,
            weights,
            quorum_up: false,
            applied: None,
        };
        p.quorum_up = p.live_weight() >= u64::from(p.cfg.quorum);
        p
    }

    fn live_weight(&self) -> u64 {
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
            w.saturating_add(h) >= q
        } else {
            w >= q.saturating_add(h)
        };
        (up != self.quorum_up).then(|| {
            self.quorum_up = up;
            up
        })
    }

    /// The desired IPVS state of this virtual server.
    pub(crate) fn desired(&self) -> VirtualService {
        let mut destinations = Vec::with_capacity(self.cfg.real_servers.len() + 1);
        for ((rs, alive), weight) in self
            .cfg
            .real_servers
            .iter()
            .zip(&self.alive)
            .zip(&self.weights)
        {
            if *alive {
                let mut d = rs.destination.clone();
                if let Some(w) = weight {
                    d.weight = *w;
                }
                destinations.push(d);
            } else if rs.inhibit_on_failure {
                let mut d = rs.destination.clone();
                d.weight = 0;
                destinations.push(d);
            }
        }
        if let Some(sorry) = &self.cfg.sorry_server
            && !self.alive.iter().any(|a| *a)
        {
            destinations.push(sorry.clone());
        }
        VirtualService {
            service: self.cfg.service.clone(),
            destinations,
        }
    }
}
