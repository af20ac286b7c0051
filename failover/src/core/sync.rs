//! Sync groups (keepalived `vrrp_sync_group`): members follow each other between Master and
//! Backup, one deferred operation at a time, and the group's own state gives its notify
//! scripts.

use std::time::Instant;

use ha_vrrp_proto::router::State;

use super::notify::notify_argvs;
use super::{
    Cause, Director, DirectorAction, DirectorEvent, GroupId, InstanceId, NotifyState,
    SyncGroupConfig,
};

#[derive(Debug, Clone)]
pub(super) struct Group {
    pub(super) cfg: SyncGroupConfig,
    pub(super) state: Option<NotifyState>,
}

/// A deferred sync-group operation: make `target` follow `member`'s Master/Backup state.
#[derive(Debug, Clone, Copy)]
pub(super) struct SyncOp {
    group: GroupId,
    target: usize,
    member: usize,
}

impl Director {
    /// Sync group propagation after instance `i` moved `from` -> `to` for `cause`; forced
    /// moves do not propagate.
    pub(super) fn propagate(&mut self, i: usize, from: State, to: State, cause: Cause) {
        let Some(g) = self.insts[i].group else {
            return;
        };
        if matches!(cause, Cause::SyncGroup { .. }) {
            return;
        }
        let members: Vec<usize> = self.groups[g.0 as usize]
            .cfg
            .members
            .iter()
            .map(|m| m.0 as usize)
            .filter(|&m| m != i)
            .collect();
        match to {
            // One member became Master: the others follow.
            State::Master => {
                for m in members {
                    self.ops.push_back(SyncOp {
                        group: g,
                        target: m,
                        member: i,
                    });
                }
            }
            // A master stepped down (or its fence failed): the others follow.
            State::Backup if from == State::Master => {
                for m in members {
                    self.ops.push_back(SyncOp {
                        group: g,
                        target: m,
                        member: i,
                    });
                }
            }
            // Started or left Fault while another member is Master: join it.
            State::Backup => {
                if let Some(m) = members
                    .into_iter()
                    .find(|&m| self.insts[m].router.state() == State::Master)
                {
                    self.ops.push_back(SyncOp {
                        group: g,
                        target: i,
                        member: m,
                    });
                }
            }
            State::Fault | State::Initialize => {}
        }
    }

    pub(super) fn run_sync_op(&mut self, now: Instant, op: SyncOp) {
        let member_state = self.insts[op.member].router.state();
        self.agenda.touch(op.target);
        let target = &mut self.insts[op.target];
        target.pending_cause = Some(Cause::SyncGroup {
            group: op.group,
            member: InstanceId(op.member as u32),
        });
        let moved = match (member_state, target.router.state()) {
            (State::Master, State::Backup) => target.router.force_master(now),
            (State::Backup, State::Master) => target.router.force_backup(now),
            _ => false,
        };
        if !moved {
            target.pending_cause = None;
        }
    }

    pub(super) fn update_groups(&mut self) {
        for g in 0..self.groups.len() {
            let states: Vec<State> = self.groups[g]
                .cfg
                .members
                .iter()
                .map(|m| self.insts[m.0 as usize].router.state())
                .collect();
            let new = if states.contains(&State::Fault) {
                Some(NotifyState::Fault)
            } else if states.iter().all(|s| *s == State::Master) {
                Some(NotifyState::Master)
            } else if states.iter().all(|s| *s == State::Backup) {
                Some(NotifyState::Backup)
            } else if self.stopped && states.iter().all(|s| *s == State::Initialize) {
                Some(NotifyState::Stop)
            } else {
                None
            };
            let group = &mut self.groups[g];
            if let Some(state) = new
                && group.state != Some(state)
            {
                group.state = Some(state);
                self.events.push_back(DirectorEvent::GroupTransition {
                    group: GroupId(g as u32),
                    state,
                });
                for argv in notify_argvs(&group.cfg.notify, "GROUP", &group.cfg.name, state, 0) {
                    self.actions.push_back(DirectorAction::Notify { argv });
                }
            }
        }
    }
}
