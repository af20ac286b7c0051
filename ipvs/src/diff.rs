//! Desired-state reconciliation: [`diff`] turns (current, desired) into the
//! fewest [`Op`]s.
//!
//! Rules:
//! - an unchanged service or destination produces nothing;
//! - a changed service setting (scheduler, flags, persistence, engine) is one
//!   `EditService`; a changed destination setting (weight, thresholds,
//!   forwarding) is one `EditDest`, never a delete and add;
//! - a service that goes away is one `DelService`: the kernel drops its
//!   destinations with it, so they get no `DelDest` of their own;
//! - order: every `DelDest`, then `DelService`, then `AddService`,
//!   `EditService`, `EditDest`, `AddDest`; so services are added before
//!   their destinations and destinations are deleted before their services.
//!
//! [`diff`], [`plan`] and [`validate`] are pure functions, not a state machine: no state
//! between calls, no clock. The output is deterministic: operations follow the order of
//! `current` and `desired`, and lookups use ordered maps (no randomly seeded hasher).
//!
//! Equality is the model's: the desired state must say what the kernel will
//! report back, or every reconcile re-edits. One kernel rewrite to know: a
//! destination whose address is local to the director is stored with
//! [`crate::Forward::Local`] whatever was asked.

use crate::model::{Destination, ModelError, Service, ServiceKey, VirtualService};
use crate::wire::{IpvsCmd, IpvsMessage};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;

/// One change to the kernel's IPVS table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// `NEW_SERVICE`.
    AddService(Service),
    /// `SET_SERVICE`.
    EditService(Service),
    /// `DEL_SERVICE` (drops its destinations too).
    DelService(ServiceKey),
    /// `NEW_DEST`.
    AddDest(ServiceKey, Destination),
    /// `SET_DEST`.
    EditDest(ServiceKey, Destination),
    /// `DEL_DEST`.
    DelDest(ServiceKey, SocketAddr),
}

impl Op {
    /// The generic-netlink payload that performs this operation.
    pub fn to_message(&self) -> IpvsMessage {
        use crate::model::{dest_del_attrs, dest_msg, svc_msg};
        match self {
            Op::AddService(s) => svc_msg(IpvsCmd::NewService, s.to_attrs()),
            Op::EditService(s) => svc_msg(IpvsCmd::SetService, s.to_attrs()),
            Op::DelService(k) => svc_msg(IpvsCmd::DelService, k.to_attrs()),
            Op::AddDest(k, d) => dest_msg(IpvsCmd::NewDest, k, d.to_attrs()),
            Op::EditDest(k, d) => dest_msg(IpvsCmd::SetDest, k, d.to_attrs()),
            Op::DelDest(k, a) => dest_msg(IpvsCmd::DelDest, k, dest_del_attrs(*a)),
        }
    }

    /// The service this operation concerns.
    pub fn service_key(&self) -> &ServiceKey {
        match self {
            Op::AddService(s) | Op::EditService(s) => &s.key,
            Op::DelService(k) | Op::AddDest(k, _) | Op::EditDest(k, _) | Op::DelDest(k, _) => k,
        }
    }

    /// Whether this adds an object (where EEXIST can occur).
    pub fn is_add(&self) -> bool {
        matches!(self, Op::AddService(_) | Op::AddDest(..))
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::AddService(s) => write!(f, "add service {} (scheduler {})", s.key, s.scheduler),
            Op::EditService(s) => write!(f, "edit service {} (scheduler {})", s.key, s.scheduler),
            Op::DelService(k) => write!(f, "delete service {k}"),
            Op::AddDest(k, d) => write!(
                f,
                "add destination {} ({}, weight {}) to service {k}",
                d.addr,
                d.forward.ipvsadm_name(),
                d.weight
            ),
            Op::EditDest(k, d) => write!(
                f,
                "edit destination {} ({}, weight {}) of service {k}",
                d.addr,
                d.forward.ipvsadm_name(),
                d.weight
            ),
            Op::DelDest(k, a) => write!(f, "delete destination {a} of service {k}"),
        }
    }
}

/// Validate a desired state: every object valid, no service key twice.
/// Run before applying so that nothing is half-applied because of bad input.
pub fn validate(desired: &[VirtualService]) -> Result<(), ModelError> {
    let mut keys = BTreeSet::new();
    for vs in desired {
        vs.validate()?;
        if !keys.insert(vs.service.key) {
            return Err(ModelError::Invalid {
                object: format!("service {}", vs.service.key),
                reason: "listed twice".into(),
            });
        }
    }
    Ok(())
}

/// [`validate`] the desired state, then [`diff`].
pub fn plan(current: &[VirtualService], desired: &[VirtualService]) -> Result<Vec<Op>, ModelError> {
    validate(desired)?;
    Ok(diff(current, desired))
}

/// The fewest operations that turn `current` into `desired` (see the module docs).
/// `desired` is assumed valid (see [`plan`]); if a key repeats, the last one wins.
pub fn diff(current: &[VirtualService], desired: &[VirtualService]) -> Vec<Op> {
    let cur: BTreeMap<&ServiceKey, &VirtualService> =
        current.iter().map(|v| (&v.service.key, v)).collect();
    let want: BTreeMap<&ServiceKey, &VirtualService> =
        desired.iter().map(|v| (&v.service.key, v)).collect();

    let mut del_dest = Vec::new();
    let mut del_svc = Vec::new();
    let mut add_svc = Vec::new();
    let mut edit_svc = Vec::new();
    let mut edit_dest = Vec::new();
    let mut add_dest = Vec::new();

    for c in current {
        if !want.contains_key(&c.service.key) {
            del_svc.push(Op::DelService(c.service.key));
        }
    }
    let mut done = BTreeSet::new();
    for d in desired {
        let key = &d.service.key;
        if !done.insert(key) {
            continue;
        }
        let d = want[key];
        match cur.get(key) {
            None => {
                add_svc.push(Op::AddService(d.service.clone()));
                for dst in &d.destinations {
                    add_dest.push(Op::AddDest(*key, dst.clone()));
                }
            }
            Some(c) => {
                if c.service != d.service {
                    edit_svc.push(Op::EditService(d.service.clone()));
                }
                let have: BTreeMap<SocketAddr, &Destination> =
                    c.destinations.iter().map(|x| (x.addr, x)).collect();
                let need: BTreeSet<SocketAddr> = d.destinations.iter().map(|x| x.addr).collect();
                for x in &c.destinations {
                    if !need.contains(&x.addr) {
                        del_dest.push(Op::DelDest(*key, x.addr));
                    }
                }
                let mut seen = BTreeSet::new();
                for x in &d.destinations {
                    if !seen.insert(x.addr) {
                        continue;
                    }
                    match have.get(&x.addr) {
                        None => add_dest.push(Op::AddDest(*key, x.clone())),
                        Some(h) if *h != x => edit_dest.push(Op::EditDest(*key, x.clone())),
                        Some(_) => {}
                    }
                }
            }
        }
    }
    let mut ops = del_dest;
    ops.extend(del_svc);
    ops.extend(add_svc);
    ops.extend(edit_svc);
    ops.extend(edit_dest);
    ops.extend(add_dest);
    ops
}
