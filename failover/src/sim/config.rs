//! What a simulated node is made of and how the simulator answers its fences and resource
//! steps.

use std::time::Duration;

use ha_vrrp_proto::sim::LinkId;

use crate::core::DirectorBuilder;

/// How a fence or a resource step ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// It succeeds.
    Succeed,
    /// It fails.
    Fail,
    /// It never ends: no result is ever given (the core keeps no timer for it; a runtime
    /// would time it out).
    Hang,
}

/// The simulator's answer to a [`DirectorAction::Fence`](crate::core::DirectorAction::Fence)
/// or a [`DirectorAction::RunStep`](crate::core::DirectorAction::RunStep): how it ends and
/// how long it runs (virtual time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reply {
    /// How it ends.
    pub outcome: Outcome,
    /// How long it runs before its result is given.
    pub delay: Duration,
}

impl Reply {
    /// Succeeds at once (the next step at the same instant).
    pub const OK: Reply = Reply::succeed_after(Duration::ZERO);

    /// Succeeds after `delay`.
    pub const fn succeed_after(delay: Duration) -> Reply {
        Reply {
            outcome: Outcome::Succeed,
            delay,
        }
    }

    /// Fails after `delay`.
    pub const fn fail_after(delay: Duration) -> Reply {
        Reply {
            outcome: Outcome::Fail,
            delay,
        }
    }

    /// Never answers.
    pub const fn hang() -> Reply {
        Reply {
            outcome: Outcome::Hang,
            delay: Duration::ZERO,
        }
    }
}

impl Default for Reply {
    /// [`Reply::OK`].
    fn default() -> Reply {
        Reply::OK
    }
}

/// How the simulator answers a node's fence requests (heartbeat STONITH).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FenceConfig {
    /// The answer.
    pub reply: Reply,
    /// A successful fence powers the peers off first: every other node running an instance
    /// of the same VRID and family on the same link crashes just before the result is given
    /// (what STONITH does). Off by default: the fence only answers.
    pub power_off: bool,
}

/// A node of the simulation: a director's configuration and the interfaces it has on the
/// simulated links.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// A name for the trace.
    pub name: String,
    /// The director's configuration; the node is built from it at start and on every restart.
    pub builder: DirectorBuilder,
    /// The node's interfaces: an interface name (as its instances name it) and the link it is
    /// attached to. An instance on an interface that is not listed sends into the void.
    pub interfaces: Vec<(String, LinkId)>,
    /// How its fences are answered.
    pub fence: FenceConfig,
    /// How its resource steps are answered (see also [`Sim::set_step_reply`](super::Sim::set_step_reply)).
    pub steps: Reply,
}

impl NodeConfig {
    /// A node with no interfaces, whose fences and steps succeed at once.
    pub fn new(name: impl Into<String>, builder: DirectorBuilder) -> NodeConfig {
        NodeConfig {
            name: name.into(),
            builder,
            interfaces: Vec::new(),
            fence: FenceConfig::default(),
            steps: Reply::OK,
        }
    }

    /// Adds an interface `ifname` attached to `link`.
    pub fn interface(mut self, ifname: impl Into<String>, link: LinkId) -> NodeConfig {
        self.interfaces.push((ifname.into(), link));
        self
    }

    /// Sets how fences are answered.
    pub fn fence(mut self, fence: FenceConfig) -> NodeConfig {
        self.fence = fence;
        self
    }

    /// Sets how resource steps are answered.
    pub fn steps(mut self, reply: Reply) -> NodeConfig {
        self.steps = reply;
        self
    }
}
