//! Switching a running [`Director`] to a new configuration (SIGHUP) without touching what did
//! not change.
//!
//! In two steps, so the runtime can send the last adverts of a changed instance with that
//! instance's old addresses before it switches its own per-instance IO:
//! 1. [`Director::reconfigure_begin`] checks the new configuration can be adopted in place and
//!    stops each changed instance as on shutdown (a master sends priority 0 and releases its
//!    addresses, its resource steps stop);
//! 2. [`Director::reconfigure_finish`] puts a fresh instance in place of each changed one
//!    (it starts in Initialize, as at startup, in the administrative mode the old one had),
//!    keeps every unchanged instance as it is (state, timers, addresses, mode: no flap), gives
//!    an instance whose priority alone changed its new priority in place (as keepalived keeps
//!    an instance's state across a reload: a master stays master and steps down only when it
//!    hears a better advert, a backup preempts when it is now better, RFC 9568 section 6.4),
//!    and adopts the new virtual servers: a real server
//!    that is still configured keeps its health, and the IPVS operations are the difference
//!    between what was applied and the new desired state.
//!
//! In place means: the same instances, by name and in the same order, on the same interfaces
//! and address families, with the same sync groups and trackers. Adding, removing or reordering
//! instances, or changing groups or trackers, needs a restart (an error says which).

use std::time::Instant;

use ha_ipvs::model::ServiceKey;
use ha_vrrp_proto::router::Router;

use super::pool::Pool;
use super::{AdminMode, Director, Inst, InstanceId};

/// Why a configuration cannot be adopted in place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReconfigureError {
    /// The instances differ in number, names or order.
    #[error(
        "the instances changed ({old} -> {new}): adding, removing or reordering instances needs a restart"
    )]
    Instances {
        /// The running instances' names.
        old: String,
        /// The new ones'.
        new: String,
    },
    /// An instance moved to another interface or address family.
    #[error("instance {instance:?} moved to another interface or address family: needs a restart")]
    Moved {
        /// The instance.
        instance: String,
    },
    /// The director was shut down: nothing is started again.
    #[error("the director is shut down: nothing to reconfigure")]
    Stopped,
    /// Sync groups or trackers changed.
    #[error("the {what} changed: needs a restart")]
    Structure {
        /// `sync groups` or `trackers`.
        what: &'static str,
    },
}

/// What [`Director::reconfigure_finish`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconfigured {
    /// Instances kept as they were.
    pub kept: Vec<String>,
    /// Instances re-created.
    pub recreated: Vec<String>,
    /// Instances whose priority alone changed: kept, with the new priority (also in `kept`).
    pub reprioritized: Vec<String>,
    /// Virtual servers whose configuration changed or that are new.
    pub virtual_servers_changed: usize,
    /// Virtual servers no longer configured: the runtime deletes these IPVS services.
    pub removed_services: Vec<ServiceKey>,
}

impl Director {
    /// Step 1: checks that `new` can be adopted in place, then stops the instances whose
    /// configuration differs other than in priority, or that are listed in `force` (a runtime
    /// option of theirs changed), and returns them.
    pub fn reconfigure_begin(
        &mut self,
        now: Instant,
        new: &Director,
        force: &[InstanceId],
    ) -> Result<Vec<InstanceId>, ReconfigureError> {
        if self.stopped {
            return Err(ReconfigureError::Stopped);
        }
        let names = |d: &Director| {
            d.insts
                .iter()
                .map(|i| i.cfg.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if names(self) != names(new) {
            return Err(ReconfigureError::Instances {
                old: names(self),
                new: names(new),
            });
        }
        for (a, b) in self.insts.iter().zip(&new.insts) {
            if a.cfg.interface != b.cfg.interface
                || a.cfg.router.primary_address.is_ipv4() != b.cfg.router.primary_address.is_ipv4()
            {
                return Err(ReconfigureError::Moved {
                    instance: a.cfg.name.clone(),
                });
            }
        }
        let groups = |d: &Director| d.groups.iter().map(|g| g.cfg.clone()).collect::<Vec<_>>();
        if groups(self) != groups(new) {
            return Err(ReconfigureError::Structure {
                what: "sync groups",
            });
        }
        let trackers = |d: &Director| d.trackers.iter().map(|t| t.cfg.clone()).collect::<Vec<_>>();
        if trackers(self) != trackers(new) {
            return Err(ReconfigureError::Structure { what: "trackers" });
        }
        let changed: Vec<InstanceId> = (0..self.insts.len())
            .map(|i| InstanceId(i as u32))
            .filter(|id| {
                let i = id.0 as usize;
                force.contains(id)
                    || (self.insts[i].cfg != new.insts[i].cfg
                        && !priority_only(&self.insts[i].cfg, &new.insts[i].cfg))
            })
            .collect();
        for id in &changed {
            // RFC 9568 6.4.3 / RFC 3768 6.4.3 "Shutdown": a master sends priority 0 and
            // releases its addresses; the director stops its steps.
            self.agenda.touch(id.0 as usize);
            self.insts[id.0 as usize].router.shutdown(now);
        }
        self.pump(now);
        Ok(changed)
    }

    /// Step 2: adopts `new` (checked by [`Director::reconfigure_begin`], which returned
    /// `changed`).
    pub fn reconfigure_finish(
        &mut self,
        now: Instant,
        new: Director,
        changed: &[InstanceId],
    ) -> Reconfigured {
        let mut report = Reconfigured::default();
        let Director {
            insts: new_insts,
            pools: new_pools,
            ..
        } = new;
        for (i, n) in new_insts.into_iter().enumerate() {
            if !changed.contains(&InstanceId(i as u32)) {
                report.kept.push(n.cfg.name.clone());
                if self.insts[i].cfg != n.cfg {
                    // The priority alone changed (reconfigure_begin): the router takes it
                    // with the RFC's consequences (Router::set_priority).
                    report.reprioritized.push(n.cfg.name.clone());
                    self.insts[i].cfg = n.cfg;
                    self.apply_priority(now, i);
                }
                continue;
            }
            // A fresh router, as at startup, with the effective priority and fault the new
            // configuration gives it.
            let rcfg = n.router.config().clone();
            let router = match n.applied_fault {
                Some(t) => Router::new_in_fault(rcfg, now, t),
                None => Router::new(rcfg, now),
            };
            let Ok(router) = router else {
                // The same configuration built once already: cannot fail.
                continue;
            };
            report.recreated.push(n.cfg.name.clone());
            // The old resource group keeps stopping with its own commands (the shutdown of
            // `reconfigure_begin` asked for its first stop); the new one waits for it.
            let old = &mut self.insts[i];
            let mut retired = std::mem::take(&mut old.retired);
            if !old.steps.is_done() {
                let mut steps = old.steps.clone();
                steps.want_up = false;
                retired.push(steps);
            }
            let (admin, late) = (old.admin, old.late_adverts);
            self.insts[i] = Inst::new(n.cfg, router, n.group, n.applied_fault, n.wire);
            self.insts[i].retired = retired;
            self.insts[i].late_adverts = late;
            // The administrative mode is the operator's, not the file's: kept by instance
            // (names and order are the same, checked by reconfigure_begin).
            self.insts[i].admin = admin;
            if admin.mode != AdminMode::Auto {
                self.drain_router(i);
                self.act_admin(now, i);
            }
            self.advance_steps(i);
        }
        // Virtual servers: matched by service; health kept per real-server address.
        let mut old_pools = std::mem::take(&mut self.pools);
        let mut pools = Vec::with_capacity(new_pools.len());
        for mut p in new_pools {
            match old_pools
                .iter()
                .position(|o| o.cfg.service.key == p.cfg.service.key)
            {
                Some(j) => {
                    let old = old_pools.swap_remove(j);
                    for (k, rs) in p.cfg.real_servers.iter().enumerate() {
                        if let Some(m) = old
                            .cfg
                            .real_servers
                            .iter()
                            .position(|o| o.destination.addr == rs.destination.addr)
                        {
                            p.alive[k] = old.alive[m];
                            p.weights[k] = old.weights[m];
                        }
                    }
                    p.quorum_up = old.quorum_up;
                    let _ = p.update_quorum();
                    // The gate keeps its state (no delete and re-add of an installed
                    // service); the pump below re-evaluates it against the new instances.
                    p.open = old.open || p.cfg.gate.is_none();
                    if p.cfg != old.cfg {
                        report.virtual_servers_changed += 1;
                    }
                    p.applied = old.applied;
                }
                None => {
                    report.virtual_servers_changed += 1;
                    p.applied = None;
                }
            }
            pools.push(p);
        }
        report.removed_services = old_pools
            .into_iter()
            .flat_map(|p: Pool| p.applied.unwrap_or_default())
            .map(|v| v.service.key)
            .collect();
        self.pools = pools;
        for p in 0..self.pools.len() {
            self.emit_pool(p);
        }
        // Recreated routers (and their timers), and faults against the new configuration.
        self.agenda.touch_all(self.insts.len());
        self.faults_dirty = true;
        self.pump(now);
        report
    }
}

/// Whether two instance configurations differ in the base priority only (neither being the
/// address owner's 255, which changes what the router is).
fn priority_only(old: &super::InstanceConfig, new: &super::InstanceConfig) -> bool {
    use ha_vrrp_proto::Priority;
    if old.router.priority == Priority::OWNER || new.router.priority == Priority::OWNER {
        return false;
    }
    let mut same = old.clone();
    same.router.priority = new.router.priority;
    &same == new
}
