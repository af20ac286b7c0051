//! Virtual servers on the director: real-server health and weights become the IPVS desired
//! state ([`DirectorAction::Ipvs`]), the quorum, and the pool tracker.

use std::time::Instant;

use super::{
    Director, DirectorAction, DirectorError, DirectorEvent, GateEffect, TrackResult,
    VirtualServerId,
};

impl Director {
    /// Reports a real server's health (from its checker): updates the virtual server's IPVS
    /// desired state ([`DirectorAction::Ipvs`]), its quorum, and the pool tracker if any.
    pub fn handle_real_server(
        &mut self,
        now: Instant,
        server: VirtualServerId,
        index: usize,
        alive: bool,
    ) -> Result<(), DirectorError> {
        let p = server.0 as usize;
        let pool = self
            .pools
            .get_mut(p)
            .filter(|pool| index < pool.alive.len())
            .ok_or(DirectorError::UnknownRealServer { server, index })?;
        if !pool.open && pool.effect() == Some(GateEffect::SuspendChecks) {
            // keepalived `ha_suspend`: the checker is suspended; applied when it opens.
            pool.held[index] = Some(alive);
            return Ok(());
        }
        let slot = &mut pool.alive[index];
        if *slot == alive {
            return Ok(());
        }
        *slot = alive;
        self.events.push_back(DirectorEvent::RealServerChanged {
            server,
            index,
            alive,
        });
        let rs = &self.pools[p].cfg.real_servers[index];
        let script = if alive {
            &rs.notify_up
        } else {
            &rs.notify_down
        };
        if let Some(argv) = script.clone() {
            self.actions.push_back(DirectorAction::Notify { argv });
        }
        self.pool_changed(now, server);
        Ok(())
    }

    /// Reports the weight a real server's check gave (keepalived `misc_dynamic`: exit code
    /// minus 2), or `None` to go back to the configured weight. The IPVS destination and the
    /// quorum use it while the server is alive.
    pub fn handle_real_server_weight(
        &mut self,
        now: Instant,
        server: VirtualServerId,
        index: usize,
        weight: Option<u32>,
    ) -> Result<(), DirectorError> {
        let p = server.0 as usize;
        let slot = self
            .pools
            .get_mut(p)
            .and_then(|pool| pool.weights.get_mut(index))
            .ok_or(DirectorError::UnknownRealServer { server, index })?;
        if *slot == weight {
            return Ok(());
        }
        *slot = weight;
        self.pool_changed(now, server);
        Ok(())
    }

    /// A pool's health or weights changed: quorum (and its script), new IPVS state, pool
    /// tracker.
    fn pool_changed(&mut self, now: Instant, server: VirtualServerId) {
        let p = server.0 as usize;
        let quorum = self.pools[p].update_quorum();
        self.emit_pool(p);
        if let Some(up) = quorum {
            self.events
                .push_back(DirectorEvent::PoolQuorum { server, up });
            self.quorum_script(p, up);
            if let Some(t) = self.pools[p].cfg.tracker {
                let result = if up {
                    TrackResult::Up
                } else {
                    TrackResult::Down
                };
                if self.feed_tracker(now, t.0 as usize, result) {
                    self.apply_faults(now);
                    self.update_priorities(now);
                }
            }
        }
        self.pump(now);
    }

    /// Opens or closes the pools' [`MastershipGate`](super::MastershipGate)s after the
    /// instances' mastership changed: an install gate adds or deletes the services, a
    /// suspend gate applies the health results it held.
    pub(super) fn update_gates(&mut self, now: Instant) {
        for p in 0..self.pools.len() {
            let Some(gate) = &self.pools[p].cfg.gate else {
                continue;
            };
            let effect = gate.effect;
            let open = gate.instances.iter().any(|i| self.holds_vips(*i));
            if open == self.pools[p].open {
                continue;
            }
            self.pools[p].open = open;
            match effect {
                GateEffect::Install => {
                    self.emit_pool(p);
                }
                GateEffect::SuspendChecks if open => {
                    let n = self.pools[p].alive.len();
                    let held = std::mem::replace(&mut self.pools[p].held, vec![None; n]);
                    let server = VirtualServerId(p as u32);
                    for (index, alive) in held.into_iter().enumerate() {
                        if let Some(alive) = alive {
                            // The index is in range: the pool's own.
                            let _ = self.handle_real_server(now, server, index, alive);
                        }
                    }
                }
                GateEffect::SuspendChecks => {}
            }
        }
    }

    /// Queues pool `p`'s `quorum_up` or `quorum_down` script, if it has one.
    pub(super) fn quorum_script(&mut self, p: usize, up: bool) {
        let cfg = &self.pools[p].cfg;
        let script = if up { &cfg.quorum_up } else { &cfg.quorum_down };
        if let Some(argv) = script.clone() {
            self.actions.push_back(DirectorAction::Notify { argv });
        }
    }

    /// keepalived `omega` on shutdown: each live real server's `notify_down`, then the
    /// pool's `quorum_down`, for every pool with `omega` (keepalived's `clear_services`).
    pub(super) fn omega_scripts(&mut self) {
        for p in 0..self.pools.len() {
            let pool = &self.pools[p];
            if !pool.cfg.omega {
                continue;
            }
            let downs: Vec<Vec<String>> = pool
                .cfg
                .real_servers
                .iter()
                .zip(&pool.alive)
                .filter(|(_, a)| **a)
                .filter_map(|(rs, _)| rs.notify_down.clone())
                .collect();
            for argv in downs {
                self.actions.push_back(DirectorAction::Notify { argv });
            }
            self.quorum_script(p, false);
        }
    }

    /// Emits the IPVS operations that move virtual server `p` to its desired state.
    pub(super) fn emit_pool(&mut self, p: usize) {
        let pool = &mut self.pools[p];
        let desired = pool.desired_all();
        let ops = match &pool.applied {
            Some(old) => ha_ipvs::diff(old, &desired),
            None => ha_ipvs::diff(&[], &desired),
        };
        pool.applied = Some(desired);
        if !ops.is_empty() {
            self.actions.push_back(DirectorAction::Ipvs {
                server: VirtualServerId(p as u32),
                ops,
            });
        }
    }
}
