//! The simulator's trace: what happened, when, on which node.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use ha_vrrp_proto::DropReason;
use ha_vrrp_proto::sim::{LinkConfig, LinkId, NodeId};

use crate::core::{
    DirectorAction, DirectorError, DirectorEvent, FenceAttempt, InstanceId, StepToken, TrackResult,
    TrackerId,
};

/// One entry of the recorded trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEntry {
    /// Virtual time since the simulation's base instant.
    pub at: Duration,
    /// The node concerned.
    pub node: NodeId,
    /// What happened.
    pub kind: TraceKind,
}

impl fmt::Display for TraceEntry {
    /// `SECONDS NODE KIND`, e.g. `    3.602344s   n1 Event(Transition { .. })`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>12.6}s {:>4} {:?}",
            self.at.as_secs_f64(),
            self.node,
            self.kind
        )
    }
}

/// Why a packet copy was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LossCause {
    /// The link lost it ([`LinkConfig::loss`]).
    Link,
    /// The sender and the receiver were on different sides of a partition when it arrived.
    Partition,
    /// The sender's or the receiver's interface had no carrier.
    CarrierDown,
    /// The receiver was crashed when it arrived.
    Crashed,
    /// The sending instance's interface is attached to no link.
    NoLink,
}

/// What a [`TraceEntry`] records.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TraceKind {
    /// The director reported an event (transitions with their cause, VIPs acquired and
    /// released, fence and step results, tracker changes, ...).
    Event(DirectorEvent),
    /// The director asked for an action (VIPs, routes, announcements, fences, steps, notify
    /// scripts, IPVS operations).
    Action(DirectorAction),
    /// An advert was sent (only with [`Sim::set_trace_packets`](super::Sim::set_trace_packets)).
    Sent {
        /// The sending instance.
        instance: InstanceId,
        /// The destination address.
        dst: IpAddr,
        /// The advert's priority byte as written.
        priority: u8,
    },
    /// An advert copy was given to the director, with what
    /// [`Director::handle_packet`](crate::core::Director::handle_packet) returned (only with
    /// packet tracing, except drops by the codec, which are always recorded).
    Delivered {
        /// The sender.
        from: NodeId,
        /// The receiving interface.
        interface: String,
        /// The instance it was for, or why it was dropped.
        result: Result<InstanceId, DropReason>,
    },
    /// An advert copy arrived while the node was stalled: the kernel holds it with its
    /// receive time (only with packet tracing).
    Held {
        /// The sender.
        from: NodeId,
        /// The receiving interface.
        interface: String,
    },
    /// An advert copy was lost (only with packet tracing).
    Lost {
        /// The sender.
        from: NodeId,
        /// Why.
        cause: LossCause,
    },
    /// The node crashed: no priority-0 advert, its addresses gone with it.
    Crash,
    /// The node was powered off by another node's successful fence.
    PoweredOff {
        /// The node that fenced it.
        by: NodeId,
    },
    /// The node was restarted: a fresh director from its configuration.
    Restart,
    /// The director was shut down gracefully.
    Shutdown,
    /// The node's configuration was reloaded in place.
    Reload {
        /// The instances re-created (the others were kept).
        recreated: Vec<String>,
    },
    /// An interface's carrier changed on this node.
    Carrier {
        /// The interface.
        interface: String,
        /// Up or down.
        up: bool,
    },
    /// A link was partitioned; this node's interface on it is in this group (0: the nodes
    /// in no listed group).
    Partition {
        /// The link.
        link: LinkId,
        /// The group.
        group: u32,
    },
    /// A partitioned link was healed.
    Heal {
        /// The link.
        link: LinkId,
    },
    /// A link's behaviour changed (recorded on node 0).
    SetLink {
        /// The link.
        link: LinkId,
        /// The new behaviour.
        config: LinkConfig,
    },
    /// The node stopped being scheduled until this time (since base).
    Stall {
        /// When it runs again.
        until: Duration,
    },
    /// The node ran again after a stall: the packets held meanwhile were validated and fed
    /// by receive time through the late driver, then the other inputs given.
    Wake {
        /// Packets held.
        packets: usize,
        /// Other inputs (link, tracker, fence and step results, shutdown) deferred.
        inputs: usize,
    },
    /// A tracker result was given to the director.
    Track {
        /// The tracker.
        tracker: TrackerId,
        /// The result.
        result: TrackResult,
    },
    /// The simulator answered a fence.
    FenceAnswer {
        /// The instance.
        instance: InstanceId,
        /// The request.
        attempt: FenceAttempt,
        /// Whether it succeeded.
        ok: bool,
    },
    /// The simulator answered a resource step.
    StepAnswer {
        /// The instance.
        instance: InstanceId,
        /// The run.
        token: StepToken,
        /// Whether it succeeded.
        ok: bool,
    },
    /// A fence or step answer for a director that crashed or restarted since it asked: not
    /// given.
    StaleAnswer,
    /// The director refused an input the simulator gave it after a stall.
    InputError(DirectorError),
}
