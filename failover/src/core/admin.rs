//! The administrative mode of an instance (heartbeat's `hb_standby` / `hb_takeover`): an
//! operator gives the resources to the peer, or takes them, without stopping the node.
//!
//! - [`AdminMode::Standby`]: a master gives its addresses and steps up at once (it sends a
//!   priority-0 advert as on Shutdown, RFC 9568 section 6.4.3, and becomes Backup); the
//!   instance then runs with effective priority 1, so it never preempts, but still takes over
//!   when the peer goes silent (RFC 9568 section 6.4.2): availability is kept.
//! - [`AdminMode::Takeover`]: effective priority 254 (the address owner keeps 255), and a
//!   backup becomes Master at once without waiting (as keepalived's sync groups force a
//!   member); the peer hears the higher priority and yields (RFC 9568 section 6.4.3).
//! - [`AdminMode::Auto`]: the configured priority with tracking, and the configured
//!   preemption, again.
//!
//! A resource step that fails to start puts its instance in Standby with
//! [`AdminReason::StartFailed`], so the resources go to the peer as heartbeat does. The mode
//! is kept by instance across [`Director::reconfigure_finish`].

use std::time::Instant;

use ha_vrrp_proto::Priority;
use ha_vrrp_proto::router::State;

use super::track;
use super::tracking::priority_sum;
use super::{Cause, Director, DirectorError, DirectorEvent, InstanceId};

/// An instance's administrative mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum AdminMode {
    /// The configured priority with tracking (the default).
    #[default]
    Auto,
    /// Resources given to the peer: priority 1, takes over only if the peer dies.
    Standby,
    /// Resources taken: priority 254, Master now.
    Takeover,
}

impl AdminMode {
    /// The word the control socket and the status use: `auto`, `standby`, `takeover`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AdminMode::Auto => "auto",
            AdminMode::Standby => "standby",
            AdminMode::Takeover => "takeover",
        }
    }

    /// The mode named by [`AdminMode::as_str`]'s word.
    pub fn parse(word: &str) -> Option<AdminMode> {
        match word {
            "auto" => Some(AdminMode::Auto),
            "standby" => Some(AdminMode::Standby),
            "takeover" => Some(AdminMode::Takeover),
            _ => None,
        }
    }
}

/// Why an instance is in its administrative mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AdminReason {
    /// An operator asked ([`Director::set_admin`]).
    Operator,
    /// A resource step failed to start: the resources went to the peer.
    StartFailed,
}

impl AdminReason {
    /// The words the status uses: `operator`, `start failed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AdminReason::Operator => "operator",
            AdminReason::StartFailed => "start failed",
        }
    }
}

/// An instance's mode and why (`None`: as configured at start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Admin {
    pub(super) mode: AdminMode,
    pub(super) reason: Option<AdminReason>,
}

/// The effective priority in Standby.
const STANDBY_PRIORITY: Priority = Priority(1);
/// The effective priority in Takeover (the highest a non-owner may have).
const TAKEOVER_PRIORITY: Priority = Priority(254);

impl Director {
    /// Sets an instance's administrative mode (see [`AdminMode`]); takes effect at
    /// once. Setting the mode it has again is not an error (a backup in Takeover is forced to
    /// Master again). The address owner (priority 255) cannot be put in Standby
    /// ([`DirectorError::AdminOwner`]): it always preempts (RFC 9568 section 6.1).
    pub fn set_admin(
        &mut self,
        now: Instant,
        instance: InstanceId,
        mode: AdminMode,
    ) -> Result<(), DirectorError> {
        let i = self.index(instance)?;
        if self.stopped {
            return Err(DirectorError::Stopped);
        }
        if mode == AdminMode::Standby && self.insts[i].router.config().address_owner {
            return Err(DirectorError::AdminOwner {
                instance: self.insts[i].cfg.name.clone(),
            });
        }
        self.enter_admin(now, i, mode, AdminReason::Operator);
        self.pump(now);
        Ok(())
    }

    /// An instance's administrative mode and why it has it (`None`: as at start).
    pub fn admin(&self, instance: InstanceId) -> Option<(AdminMode, Option<AdminReason>)> {
        self.insts
            .get(instance.0 as usize)
            .map(|i| (i.admin.mode, i.admin.reason))
    }

    /// Records the mode, reports it, and acts on it.
    pub(super) fn enter_admin(
        &mut self,
        now: Instant,
        i: usize,
        mode: AdminMode,
        reason: AdminReason,
    ) {
        let instance = InstanceId(i as u32);
        self.insts[i].admin = Admin {
            mode,
            reason: Some(reason),
        };
        tracing::info!(
            instance = %self.insts[i].cfg.name,
            mode = mode.as_str(),
            reason = reason.as_str(),
            "administrative mode"
        );
        self.events.push_back(DirectorEvent::AdminChanged {
            instance,
            mode,
            reason,
        });
        self.act_admin(now, i);
    }

    /// Brings the router in line with the instance's mode: its effective priority, and the
    /// move to Backup (Standby) or Master (Takeover).
    pub(super) fn act_admin(&mut self, now: Instant, i: usize) {
        let mode = self.insts[i].admin.mode;
        let cause = Some(Cause::Admin(mode));
        self.agenda.touch(i);
        if mode == AdminMode::Standby {
            // Like the Shutdown event of RFC 9568 section 6.4.3: priority 0 first, so the
            // peer takes over after its Skew_Time, then Backup.
            let inst = &mut self.insts[i];
            inst.pending_cause = cause;
            if !inst.router.force_backup(now) {
                inst.pending_cause = None;
            }
            self.drain_router(i);
        }
        self.insts[i].pending_cause = cause;
        self.apply_priority(now, i);
        let inst = &mut self.insts[i];
        match mode {
            // A backup may take over without waiting (the peer yields to the higher
            // priority, RFC 9568 section 6.4.3).
            AdminMode::Takeover => {
                if inst.router.state() == State::Backup {
                    inst.router.force_master(now);
                }
            }
            // The configured Preempt_Mode again (a standby's hold ends).
            AdminMode::Auto => {
                inst.router.release_preempt_hold(now);
            }
            AdminMode::Standby => {}
        }
        self.drain_router(i);
        self.insts[i].pending_cause = None;
    }

    /// The priority instance `i` should run with: the administrative mode's, or the
    /// configured one with tracking. `None` for the address owner (fixed at 255).
    pub(super) fn wanted_priority(&self, i: usize) -> Option<Priority> {
        let inst = &self.insts[i];
        let base = inst.cfg.router.priority;
        if base == Priority::OWNER {
            return None;
        }
        Some(match inst.admin.mode {
            AdminMode::Auto => {
                track::effective_priority(base, priority_sum(&self.trackers, &inst.cfg.track))
            }
            AdminMode::Standby => STANDBY_PRIORITY,
            AdminMode::Takeover => TAKEOVER_PRIORITY,
        })
    }

    /// Gives instance `i`'s router the priority it should have (router queues are empty
    /// here) and drains it, so a transition this causes carries the pending cause.
    pub(super) fn apply_priority(&mut self, now: Instant, i: usize) {
        let Some(want) = self.wanted_priority(i) else {
            return;
        };
        let inst = &mut self.insts[i];
        let from = inst.router.priority();
        if want == from {
            return;
        }
        self.agenda.touch(i);
        let inst = &mut self.insts[i];
        match inst.router.set_priority(now, want) {
            Ok(()) => self.events.push_back(DirectorEvent::PriorityChanged {
                instance: InstanceId(i as u32),
                from,
                to: want,
            }),
            Err(e) => tracing::warn!(instance = %inst.cfg.name, error = %e, "priority not set"),
        }
        self.drain_router(i);
    }
}
