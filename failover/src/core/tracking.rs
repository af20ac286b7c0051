//! Tracking (keepalived `track_interface`, `track_script`, `track_file`, `track_process`,
//! pool quorum, ping nodes): tracker results become priorities ([`Router::set_priority`]) and faults
//! ([`Router::set_fault`] / [`Router::clear_fault`]), with keepalived's weights; a member's own
//! fault puts the rest of its sync group in Fault.
//!
//! [`Router::set_priority`]: ha_vrrp_proto::router::Router::set_priority
//! [`Router::set_fault`]: ha_vrrp_proto::router::Router::set_fault
//! [`Router::clear_fault`]: ha_vrrp_proto::router::Router::clear_fault

use std::time::Instant;

use ha_vrrp_proto::router::TrackId;

use super::track::{self, Contribution, TrackRef, Tracker};
use super::{
    Cause, Director, DirectorError, DirectorEvent, SYNC_GROUP_TRACK, TrackResult, TrackerId,
    TrackerKind,
};

pub(super) fn priority_sum(trackers: &[Tracker], refs: &[TrackRef]) -> i64 {
    refs.iter()
        .filter_map(|r| {
            let t = trackers.get(r.tracker.0 as usize)?;
            match track::contribution(r.weight, r.reverse, t.status) {
                Contribution::Add(v) => Some(v),
                Contribution::Fault => None,
            }
        })
        .fold(0i64, i64::saturating_add)
}

pub(super) fn tracker_fault(trackers: &[Tracker], refs: &[TrackRef]) -> Option<TrackId> {
    refs.iter().find_map(|r| {
        let t = trackers.get(r.tracker.0 as usize)?;
        (track::contribution(r.weight, r.reverse, t.status) == Contribution::Fault)
            .then_some(TrackId(r.tracker.0))
    })
}

impl Director {
    /// Reports a tracker's result (script exit status, file value, pool health, ping).
    pub fn handle_track_result(
        &mut self,
        now: Instant,
        tracker: TrackerId,
        result: TrackResult,
    ) -> Result<(), DirectorError> {
        let t = tracker.0 as usize;
        let tr = self
            .trackers
            .get(t)
            .ok_or(DirectorError::UnknownTracker(tracker))?;
        if !tr.accepts(result) {
            return Err(DirectorError::WrongResultKind {
                name: tr.cfg.name.clone(),
                result: format!("{result:?}"),
                kind: match tr.cfg.kind {
                    TrackerKind::Interface { .. } => "interface",
                    TrackerKind::Script { .. } => "script",
                    TrackerKind::File { .. } => "file",
                    TrackerKind::Pool { .. } => "pool",
                    TrackerKind::Ping { .. } => "ping",
                    TrackerKind::Process(_) => "process",
                },
            });
        }
        if self.feed_tracker(now, t, result) {
            self.apply_faults(now);
            self.update_priorities(now);
            self.pump(now);
        }
        Ok(())
    }

    pub(super) fn feed_tracker(&mut self, now: Instant, t: usize, result: TrackResult) -> bool {
        match self.trackers[t].feed(now, result) {
            Some(status) => {
                // Faults follow trackers: the next pump applies them.
                self.faults_dirty = true;
                self.events.push_back(DirectorEvent::TrackerChanged {
                    tracker: TrackerId(t as u32),
                    status,
                });
                true
            }
            None => false,
        }
    }

    /// Sets every router's priority from its trackers (router queues are empty here).
    pub(super) fn update_priorities(&mut self, now: Instant) {
        // The administrative mode, if not Auto, overrides tracking (`admin`); a transition
        // caused by a new priority is drained at once, so it is attributed to it.
        for i in 0..self.insts.len() {
            self.apply_priority(now, i);
        }
    }

    /// Applies tracking and sync-group faults to the routers (their queues are empty here).
    /// Returns whether any router was told something.
    pub(super) fn apply_faults(&mut self, now: Instant) -> bool {
        let own: Vec<bool> = self.insts.iter().map(|i| self.own_fault(i)).collect();
        let mut touched = false;
        for i in 0..self.insts.len() {
            let inst = &self.insts[i];
            let mut cause = None;
            let desired = tracker_fault(&self.trackers, &inst.cfg.track).or_else(|| {
                let g = inst.group?;
                let member = self.groups[g.0 as usize]
                    .cfg
                    .members
                    .iter()
                    .find(|m| m.0 as usize != i && own[m.0 as usize])?;
                cause = Some(Cause::SyncGroup {
                    group: g,
                    member: *member,
                });
                Some(SYNC_GROUP_TRACK)
            });
            if desired == inst.applied_fault {
                continue;
            }
            touched = true;
            self.agenda.touch(i);
            let inst = &mut self.insts[i];
            let before = inst.router.state();
            match desired {
                Some(t) => inst.router.set_fault(now, t),
                None => inst.router.clear_fault(now),
            }
            inst.applied_fault = desired;
            if inst.router.state() != before {
                inst.pending_cause = cause;
            }
        }
        touched
    }
}
