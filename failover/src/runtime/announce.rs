//! Where an active-active director's routes go: the [`RouteAnnouncer`] trait.
//!
//! The runtime decides what is announced (each virtual server's host routes while its quorum
//! is up, nothing once a stop began) and hands each change to an announcer. The built-in one
//! speaks BGP itself (`ha-bgp`) with BFD in the same process (`ha-bfd`), from
//! [`super::config::BgpConfig`]; another backend (an FRR or BIRD on the host driven through
//! `vtysh` / `birdc`, GoBGP's gRPC API, ExaBGP's API) implements this trait and is given in
//! [`super::config::RunIo::announcer`]. The configuration's neighbours are still the list the
//! status shows, and its routes and drain time still apply.

use std::fmt::Debug;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

/// A backend that announces and withdraws host routes for the director.
///
/// The runtime calls it from one task on its slow runtime: [`RouteAnnouncer::set_route`] for
/// each change (only changes: never twice the same value for one address in a row), polls
/// [`RouteAnnouncer::next_change`] for the sessions' news, and once the director stops, after
/// every route was withdrawn and the drain time served, awaits [`RouteAnnouncer::stop`].
pub trait RouteAnnouncer: Send + Debug {
    /// Announces (`true`) or withdraws the host route (/32 or /128) to `address`. It must not
    /// block: queue the work if it is slow.
    fn set_route(&mut self, address: IpAddr, announced: bool);

    /// The next change of a neighbour's sessions, for the status and the logs; `None` when
    /// there will be none (it is not polled again).
    fn next_change(&mut self) -> Pin<Box<dyn Future<Output = Option<NeighborChange>> + Send + '_>>;

    /// Ends the sessions (the routes are already withdrawn); returns once done. The runtime
    /// bounds the wait by its stop grace.
    fn stop(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// A change of a neighbour's sessions, reported by a [`RouteAnnouncer`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NeighborChange {
    /// The routing session's state changed (BGP: `Idle` ... `Established`).
    Session {
        /// The neighbour.
        neighbor: IpAddr,
        /// The new state, in words.
        state: String,
    },
    /// The routing session came up (counted in the status).
    Established {
        /// The neighbour.
        neighbor: IpAddr,
    },
    /// The routing session went down.
    Down {
        /// The neighbour.
        neighbor: IpAddr,
        /// Why, in words.
        reason: String,
    },
    /// The BFD session's state changed.
    Bfd {
        /// The neighbour.
        neighbor: IpAddr,
        /// The new state (`AdminDown`, `Down`, `Init`, `Up`).
        state: String,
        /// Whether it is now up.
        up: bool,
        /// Whether it was up before.
        was_up: bool,
        /// The diagnostic, when there is one (RFC 5880 section 4.1).
        diagnostic: Option<String>,
    },
}
