//! Virtual servers on the director: real-server health and weights become the IPVS desired
//! state ([`DirectorAction::Ipvs`]), the quorum, and the pool tracker.

use std::time::Instant;

use super::{Director, DirectorAction, DirectorError, DirectorEvent, TrackResult, VirtualServerId};

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
        let slot = self
            .pools
            .get_mut(p)
            .and_then(|pool| pool.alive.get_mut(index))
            .ok_or(DirectorError::UnknownRealServer { server, index })?;
        if *slot == alive {
            return Ok(());
        }
        *slot = alive;
        self.events.push_back(DirectorEvent::RealServerChanged {
            server,
            index,
            alive,
        });
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

    /// A pool's health or weights changed: new IPVS state, quorum, pool tracker.
    fn pool_changed(&mut self, now: Instant, server: VirtualServerId) {
        let p = server.0 as usize;
        self.emit_pool(p);
        if let Some(up) = self.pools[p].update_quorum() {
            self.events
                .push_back(DirectorEvent::PoolQuorum { server, up });
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

    /// Emits the IPVS operations that move virtual server `p` to its desired state.
    pub(super) fn emit_pool(&mut self, p: usize) {
        let pool = &mut self.pools[p];
        let desired = pool.desired();
        let ops = match &pool.applied {
            Some(old) => ha_ipvs::diff(std::slice::from_ref(old), std::slice::from_ref(&desired)),
            None => ha_ipvs::diff(&[], std::slice::from_ref(&desired)),
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
