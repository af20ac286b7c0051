//! Taking over and giving up: fencing (heartbeat STONITH) before the addresses are added,
//! the addresses and routes, and the resource group's steps, one at a time, started in order
//! after the addresses and stopped in reverse.

use std::net::IpAddr;
use std::time::Instant;

use ha_vrrp_proto::router::State;

use super::{
    AdminMode, AdminReason, Cause, Director, DirectorAction, DirectorError, DirectorEvent,
    FenceAttempt, InstanceId, Step, StepOp, StepToken,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Takeover {
    Idle,
    Fencing(FenceAttempt),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Inflight {
    pub(super) index: usize,
    pub(super) op: StepOp,
    pub(super) token: StepToken,
}

/// The resource group sequencer of one instance: one step in flight at a time.
#[derive(Debug, Clone)]
pub(super) struct Steps {
    /// The steps it runs (the instance's configuration when it was created).
    pub(super) defs: Vec<Step>,
    pub(super) started: Vec<bool>,
    pub(super) inflight: Option<Inflight>,
    /// Master with its addresses: steps should run.
    pub(super) want_up: bool,
    /// A start failed in this master period: stop everything.
    pub(super) rollback: bool,
}

impl Steps {
    /// A sequencer of `defs`, nothing started.
    pub(super) fn new(defs: Vec<Step>) -> Steps {
        Steps {
            started: vec![false; defs.len()],
            defs,
            inflight: None,
            want_up: false,
            rollback: false,
        }
    }

    /// Whether nothing is started or running.
    pub(super) fn is_done(&self) -> bool {
        self.inflight.is_none() && !self.started.iter().any(|s| *s)
    }

    /// Takes a step result if `token` is the one in flight; returns what it was.
    fn take_result(&mut self, token: StepToken, ok: bool) -> Option<Inflight> {
        let f = self.inflight.filter(|f| f.token == token)?;
        self.inflight = None;
        match (f.op, ok) {
            (StepOp::Start, true) => self.started[f.index] = true,
            // A failed start stops those already started, in reverse.
            (StepOp::Start, false) => self.rollback = true,
            // A failed stop is reported; the step is considered stopped.
            (StepOp::Stop, _) => self.started[f.index] = false,
        }
        Some(f)
    }

    /// The next step to run, if idle.
    pub(super) fn next(&self) -> Option<(usize, StepOp)> {
        if self.inflight.is_some() {
            return None;
        }
        if self.want_up && !self.rollback {
            if let Some(i) = self.started.iter().position(|s| !s) {
                return Some((i, StepOp::Start));
            }
            return None;
        }
        self.started
            .iter()
            .rposition(|s| *s)
            .map(|i| (i, StepOp::Stop))
    }
}

impl Director {
    /// Reports the result of [`DirectorAction::Fence`]. A result for an older attempt, or for
    /// an instance that left Master meanwhile, is ignored.
    pub fn handle_fence_result(
        &mut self,
        now: Instant,
        instance: InstanceId,
        attempt: FenceAttempt,
        ok: bool,
    ) -> Result<(), DirectorError> {
        let i = self.index(instance)?;
        let inst = &mut self.insts[i];
        if inst.takeover != Takeover::Fencing(attempt) || inst.router.state() != State::Master {
            tracing::debug!(instance = %inst.cfg.name, ?attempt, "stale fence result ignored");
            return Ok(());
        }
        inst.takeover = Takeover::Idle;
        self.events.push_back(DirectorEvent::FenceResult {
            instance,
            attempt,
            ok,
        });
        if ok {
            self.acquire(i);
        } else {
            tracing::warn!(instance = %self.insts[i].cfg.name, "fence failed: not taking over");
            self.agenda.touch(i);
            let inst = &mut self.insts[i];
            inst.pending_cause = Some(Cause::FenceFailed);
            if !inst.router.force_backup(now) {
                inst.pending_cause = None;
            }
        }
        self.pump(now);
        Ok(())
    }

    /// Reports the result of [`DirectorAction::RunStep`]. A result with an unknown token is
    /// ignored.
    pub fn handle_step_result(
        &mut self,
        now: Instant,
        instance: InstanceId,
        token: StepToken,
        ok: bool,
    ) -> Result<(), DirectorError> {
        let i = self.index(instance)?;
        let inst = &mut self.insts[i];
        // The current sequencer's, or one retired by a reload that is still stopping.
        let current = inst.steps.inflight.is_some_and(|f| f.token == token);
        let taken = std::iter::once(&mut inst.steps)
            .chain(inst.retired.iter_mut())
            .find_map(|s| {
                let f = s.take_result(token, ok)?;
                Some((f, s.defs[f.index].name.clone()))
            });
        let Some((f, name)) = taken else {
            tracing::debug!(instance = %inst.cfg.name, ?token, "stale step result ignored");
            return Ok(());
        };
        inst.retired.retain(|s| !s.is_done());
        self.events.push_back(DirectorEvent::StepResult {
            instance,
            index: f.index,
            name,
            op: f.op,
            ok,
        });
        // heartbeat: a resource that fails to start sends the whole group to the peer. The
        // instance goes to Standby (priority 0 advert, Backup at priority 1): the started
        // steps stop in reverse, and it takes over again only if the peer dies or gives up.
        // Not twice: an instance already in Standby is master only because no peer does
        // better (it died, or failed too), so giving up again would only bounce the
        // addresses between two failing nodes; its group is rolled back and it stays master,
        // as is the address owner, which cannot give up its addresses.
        if current && f.op == StepOp::Start && !ok {
            let inst = &self.insts[i];
            if inst.router.config().address_owner || inst.admin.mode == AdminMode::Standby {
                tracing::warn!(instance = %inst.cfg.name, step = %inst.steps.defs[f.index].name, "step failed to start: the group is stopped; the addresses stay (no better node)");
            } else {
                tracing::warn!(instance = %self.insts[i].cfg.name, step = %self.insts[i].steps.defs[f.index].name, "step failed to start: standby, the resources go to the peer");
                self.enter_admin(now, i, AdminMode::Standby, AdminReason::StartFailed);
            }
        }
        self.advance_steps(i);
        self.pump(now);
        Ok(())
    }

    pub(super) fn takeover(&mut self, i: usize) {
        if self.insts[i].cfg.fence {
            self.next_token += 1;
            let attempt = FenceAttempt(self.next_token);
            self.insts[i].takeover = Takeover::Fencing(attempt);
            self.actions.push_back(DirectorAction::Fence {
                instance: InstanceId(i as u32),
                attempt,
            });
        } else {
            self.acquire(i);
        }
    }

    fn acquire(&mut self, i: usize) {
        let instance = InstanceId(i as u32);
        let inst = &mut self.insts[i];
        inst.takeover = Takeover::Idle;
        inst.vips_held = true;
        let vips = inst.all_vips();
        let addresses: Vec<IpAddr> = vips.iter().map(|v| v.addr).collect();
        if !vips.is_empty() {
            self.actions
                .push_back(DirectorAction::AddVips { instance, vips });
        }
        if !inst.cfg.routes.is_empty() || !inst.cfg.rules.is_empty() {
            self.actions.push_back(DirectorAction::AddRoutes {
                instance,
                routes: inst.cfg.routes.clone(),
            });
        }
        if !addresses.is_empty() {
            self.actions.push_back(DirectorAction::Announce {
                instance,
                addresses,
            });
        }
        self.events
            .push_back(DirectorEvent::VipsAcquired { instance });
        inst.steps.want_up = true;
        inst.steps.rollback = false;
        self.advance_steps(i);
    }

    pub(super) fn release(&mut self, i: usize) {
        let instance = InstanceId(i as u32);
        let inst = &mut self.insts[i];
        inst.takeover = Takeover::Idle;
        if inst.vips_held {
            inst.vips_held = false;
            if !inst.cfg.routes.is_empty() || !inst.cfg.rules.is_empty() {
                self.actions.push_back(DirectorAction::RemoveRoutes {
                    instance,
                    routes: inst.cfg.routes.clone(),
                });
            }
            let vips = inst.all_vips();
            if !vips.is_empty() {
                self.actions
                    .push_back(DirectorAction::RemoveVips { instance, vips });
            }
            self.events
                .push_back(DirectorEvent::VipsReleased { instance });
        }
        inst.steps.want_up = false;
        self.advance_steps(i);
    }

    /// Starts the instance's next step, if none is in flight: first the stops of sequencers
    /// a reload retired (oldest first, each in reverse), then the current sequencer's.
    pub(super) fn advance_steps(&mut self, i: usize) {
        let inst = &mut self.insts[i];
        if inst.steps.inflight.is_some() || inst.retired.iter().any(|s| s.inflight.is_some()) {
            return;
        }
        inst.retired.retain(|s| !s.is_done());
        let seq = match inst.retired.first_mut() {
            Some(old) => old,
            None => &mut inst.steps,
        };
        let Some((index, op)) = seq.next() else {
            return;
        };
        self.next_token += 1;
        let token = StepToken(self.next_token);
        seq.inflight = Some(Inflight { index, op, token });
        self.actions.push_back(DirectorAction::RunStep {
            instance: InstanceId(i as u32),
            index,
            op,
            step: seq.defs[index].clone(),
            token,
        });
    }
}
