//! Active-active: the director's routes ([`BgpWork`] from the event loop) through a
//! [`RouteAnnouncer`], on the slow runtime: the built-in [`Speaker`] (BGP sessions of
//! [`ha_bgp`] and BFD of [`ha_bfd`]) unless the embedder gave another backend
//! ([`super::config::RunIo::announcer`]).
//!
//! The event loop tells the task each announced virtual server's quorum ([`BgpWork::Quorum`]);
//! the task announces the server's host routes while the quorum is up and withdraws them while
//! it is down. A stop withdraws every route first ([`BgpWork::WithdrawAll`]) and keeps them
//! withdrawn; when the loop closes the channel, the announcer is stopped (the speaker ends each
//! session with a Cease NOTIFICATION, Administrative Shutdown, RFC 8203) and the task returns.
//! BFD runs in this process on purpose: a director that dies falls silent on BFD too, and the
//! router drops it from its ECMP set after the detection time.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, watch};

use super::announce::{NeighborChange, RouteAnnouncer};
use super::config::BgpConfig;
use super::error::BgpSetupError;
use super::status::{BfdStatus, BgpNeighborStatus, BgpRouteStatus, BgpStatus};
use crate::core::VirtualServerId;

/// How long a stop waits for each session's Cease NOTIFICATION to be written.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// The shutdown communication of a stop (RFC 8203).
const STOP_MESSAGE: &str = "ha-director stopping";

/// What the event loop asks of the BGP task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BgpWork {
    /// A virtual server's quorum: its routes announced while `up`, withdrawn otherwise.
    Quorum {
        /// The virtual server.
        server: VirtualServerId,
        /// Whether its quorum is up.
        up: bool,
    },
    /// A stop began: every route is withdrawn and stays so.
    WithdrawAll,
}

/// The built-in announcer: one BGP session per neighbour and, when a neighbour asks for BFD,
/// the BFD driver with a session per such neighbour.
#[derive(Debug)]
pub(crate) struct Speaker {
    /// Each session with its neighbour's address.
    handles: Vec<(ha_bgp::Handle, IpAddr)>,
    /// Every session's events, with the session's index.
    events: mpsc::UnboundedReceiver<(usize, ha_bgp::Event)>,
    bfd: Option<ha_bfd::io::Handle>,
    bfd_events: Option<mpsc::UnboundedReceiver<ha_bfd::io::Event>>,
    /// The BFD sessions to add ([`Speaker::add_bfd_sessions`]).
    bfd_peers: Vec<ha_bfd::io::PeerConfig>,
}

/// Where the task's routes go.
#[derive(Debug)]
pub(crate) enum Backend {
    /// [`Speaker`], started by [`start`].
    Speaker(Speaker),
    /// The embedder's.
    Custom(Box<dyn RouteAnnouncer>),
}

/// The session configuration of each neighbour, checked (the next hop is the configured local
/// address, else the address the kernel picks to reach the neighbour).
pub(crate) fn session_configs(
    cfg: &BgpConfig,
) -> Result<Vec<(ha_bgp::Config, ha_bgp::IoConfig)>, BgpSetupError> {
    cfg.neighbors
        .iter()
        .map(|n| {
            let err = |detail: String| BgpSetupError {
                neighbor: n.address,
                detail,
            };
            let mut c = ha_bgp::Config::new(cfg.local_as, n.peer_as, cfg.router_id);
            c.hold_time = Duration::from_secs(u64::from(cfg.hold_time));
            c.connect_retry = cfg.connect_retry;
            c.idle_hold = cfg.connect_retry.min(Duration::from_secs(5));
            let local = match n.local_address {
                Some(a) => a,
                None => source_address(n.address).map_err(|e| {
                    err(format!(
                        "no local address to reach it (set local_address): {e}"
                    ))
                })?,
            };
            match local {
                IpAddr::V4(a) => c.next_hop_v4 = Some(a),
                IpAddr::V6(a) => c.next_hop_v6 = Some(a),
            }
            c.validate().map_err(|e| err(e.to_string()))?;
            let mut io = ha_bgp::IoConfig::new(n.address);
            io.bind = n.local_address;
            Ok((c, io))
        })
        .collect()
}

/// The source address the kernel picks to reach `peer` (a connected UDP socket sends nothing).
fn source_address(peer: IpAddr) -> std::io::Result<IpAddr> {
    let any: IpAddr = match peer {
        IpAddr::V4(_) => std::net::Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
    };
    let s = std::net::UdpSocket::bind((any, 0))?;
    s.connect((peer, ha_bgp::io::BGP_PORT))?;
    Ok(s.local_addr()?.ip())
}

/// Starts one session per neighbour and the BFD driver if a neighbour asks for BFD (on the
/// current runtime); the BFD sessions are added by the task.
pub(crate) fn start(
    cfg: &BgpConfig,
    configs: Vec<(ha_bgp::Config, ha_bgp::IoConfig)>,
) -> Result<Speaker, BgpSetupError> {
    let (bfd, bfd_events) = match cfg.neighbors.iter().find(|n| n.bfd.is_some()) {
        Some(n) => {
            let (h, ev) = ha_bfd::io::spawn(ha_bfd::io::DriverConfig::default()).map_err(|e| {
                BgpSetupError {
                    neighbor: n.address,
                    detail: format!("BFD: cannot open its sockets (UDP port 3784): {e}"),
                }
            })?;
            (Some(h), Some(ev))
        }
        None => (None, None),
    };
    let bfd_peers = cfg
        .neighbors
        .iter()
        .filter_map(|n| {
            let t = n.bfd?;
            Some(ha_bfd::io::PeerConfig {
                peer: n.address,
                local: n.local_address,
                timers: ha_bfd::Timers {
                    desired_min_tx: t.interval,
                    required_min_rx: t.interval,
                    detect_mult: t.multiplier,
                },
                role: ha_bfd::Role::Active,
            })
        })
        .collect();
    let (ev_tx, events) = mpsc::unbounded_channel();
    let mut handles = Vec::with_capacity(configs.len());
    for (i, (c, io)) in configs.into_iter().enumerate() {
        let neighbor = io.peer.ip();
        let (handle, mut ev) = ha_bgp::spawn(c, io).map_err(|e| BgpSetupError {
            neighbor,
            detail: e.to_string(),
        })?;
        let tx = ev_tx.clone();
        tokio::spawn(async move {
            while let Some(e) = ev.recv().await {
                if tx.send((i, e)).is_err() {
                    break;
                }
            }
        });
        handles.push((handle, neighbor));
    }
    Ok(Speaker {
        handles,
        events,
        bfd,
        bfd_events,
        bfd_peers,
    })
}

impl Speaker {
    /// Adds the BFD sessions; the first that cannot be added is the error.
    async fn add_bfd_sessions(&mut self) -> Result<(), String> {
        let Some(b) = &self.bfd else { return Ok(()) };
        for p in &self.bfd_peers {
            b.add_session(*p)
                .await
                .map_err(|e| format!("BFD session with {}: {e}", p.peer))?;
        }
        Ok(())
    }

    /// A session event as a [`NeighborChange`] (None for what the status does not show).
    fn bgp_change(&self, i: usize, e: ha_bgp::Event) -> Option<NeighborChange> {
        let neighbor = self.handles.get(i)?.1;
        match e {
            ha_bgp::Event::StateChanged { to, .. } => Some(NeighborChange::Session {
                neighbor,
                state: format!("{to:?}"),
            }),
            ha_bgp::Event::Established => Some(NeighborChange::Established { neighbor }),
            ha_bgp::Event::Down { reason } => Some(NeighborChange::Down {
                neighbor,
                reason: reason.to_string(),
            }),
            ha_bgp::Event::UpdateError(e) => {
                tracing::warn!(%neighbor, error = %e, "BGP: malformed UPDATE from the neighbour (ignored, RFC 7606)");
                None
            }
            ha_bgp::Event::PeerOpen { .. } => None,
        }
    }
}

impl RouteAnnouncer for Speaker {
    fn set_route(&mut self, address: IpAddr, announced: bool) {
        let prefix = ha_bgp::Prefix::host(address);
        // A route goes to the sessions of its family: the next hop announced is the session's
        // own address.
        for (h, n) in self
            .handles
            .iter()
            .filter(|(_, n)| n.is_ipv4() == address.is_ipv4())
        {
            let r = if announced {
                h.announce(prefix, ha_bgp::RouteAttributes::default())
            } else {
                h.withdraw(prefix)
            };
            if let Err(e) = r {
                tracing::error!(route = %address, neighbor = %n, error = %e, "BGP: route not handed to the session");
            }
        }
    }

    fn next_change(&mut self) -> Pin<Box<dyn Future<Output = Option<NeighborChange>> + Send + '_>> {
        Box::pin(async move {
            loop {
                tokio::select! {
                    Some(e) = recv_bfd(&mut self.bfd_events) => {
                        let ha_bfd::Event::StateChange { from, to, diagnostic } = e.event else {
                            continue;
                        };
                        return Some(NeighborChange::Bfd {
                            neighbor: e.peer,
                            state: format!("{to:?}"),
                            up: to == ha_bfd::State::Up,
                            was_up: from == ha_bfd::State::Up,
                            diagnostic: (diagnostic != ha_bfd::Diagnostic::NoDiagnostic)
                                .then(|| diagnostic.to_string()),
                        });
                    }
                    e = self.events.recv() => match e {
                        Some((i, e)) => {
                            if let Some(c) = self.bgp_change(i, e) {
                                return Some(c);
                            }
                        }
                        None => return None,
                    },
                }
            }
        })
    }

    fn stop(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let Speaker {
                handles,
                bfd,
                bfd_peers,
                ..
            } = *self;
            let deadline = Instant::now() + STOP_WAIT;
            let stops = handles.into_iter().map(|(h, _)| async move {
                let _ = tokio::time::timeout_at(deadline.into(), h.stop(Some(STOP_MESSAGE))).await;
            });
            futures::future::join_all(stops).await;
            if let Some(b) = bfd {
                // AdminDown (RFC 5880 section 6.8.16): the router sees a stop, not a failure.
                for p in &bfd_peers {
                    let _ = b.admin_down(p.peer).await;
                }
                let _ = tokio::time::timeout(STOP_WAIT, b.shutdown()).await;
            }
        })
    }
}

/// One route of the task.
struct Route {
    server: VirtualServerId,
    address: IpAddr,
    up: bool,
}

/// Runs the announcer until `work` closes, then stops it and returns.
pub(crate) async fn task(
    cfg: BgpConfig,
    server_names: Vec<String>,
    backend: Backend,
    mut work: mpsc::UnboundedReceiver<BgpWork>,
    status: watch::Sender<Option<BgpStatus>>,
) {
    let mut announcer: Box<dyn RouteAnnouncer> = match backend {
        Backend::Speaker(mut s) => {
            if let Err(e) = s.add_bfd_sessions().await {
                // The task ends: the director stops with this reason rather than run
                // without the detection the configuration asked for.
                tracing::error!(error = %e, "BFD session not started: stopping");
                return;
            }
            Box::new(s)
        }
        Backend::Custom(a) => a,
    };
    let mut routes: Vec<Route> = cfg
        .routes
        .iter()
        .map(|&(server, address)| Route {
            server,
            address,
            up: false,
        })
        .collect();
    let now = SystemTime::now();
    let mut st = BgpStatus {
        neighbors: cfg
            .neighbors
            .iter()
            .map(|n| BgpNeighborStatus {
                address: n.address,
                peer_as: n.peer_as,
                state: "Idle".to_owned(),
                since: now,
                established: 0,
                last_down: None,
                bfd: n.bfd.map(|_| BfdStatus {
                    state: "Down".to_owned(),
                    since: now,
                    last_diagnostic: None,
                    downs: 0,
                }),
            })
            .collect(),
        routes: routes
            .iter()
            .map(|r| BgpRouteStatus {
                address: r.address,
                virtual_server: server_names
                    .get(r.server.0 as usize)
                    .cloned()
                    .unwrap_or_default(),
                announced: false,
                reason: "quorum not known yet".to_owned(),
            })
            .collect(),
        draining: false,
    };
    status.send_replace(Some(st.clone()));
    let mut draining = false;
    let mut changes = true;
    loop {
        tokio::select! {
            w = work.recv() => {
                let Some(w) = w else { break };
                let (only, up, reason) = match w {
                    BgpWork::Quorum { .. } if draining => continue,
                    BgpWork::Quorum { server, up } => {
                        (Some(server), up, if up { "quorum up" } else { "quorum down" })
                    }
                    BgpWork::WithdrawAll => {
                        draining = true;
                        st.draining = true;
                        tracing::info!("routes withdrawn: stopping");
                        (None, false, "stopping")
                    }
                };
                for (r, s) in routes.iter_mut().zip(st.routes.iter_mut()) {
                    if only.is_some_and(|o| o != r.server) {
                        continue;
                    }
                    if r.up != up {
                        r.up = up;
                        announcer.set_route(r.address, up);
                        tracing::info!(route = %r.address, announced = up, reason, "route");
                    }
                    s.announced = up;
                    s.reason = reason.to_owned();
                }
            }
            c = announcer.next_change(), if changes => match c {
                Some(c) => apply(&mut st, c),
                None => changes = false,
            },
        }
        status.send_replace(Some(st.clone()));
    }
    announcer.stop().await;
    for n in &mut st.neighbors {
        n.state = "Idle".to_owned();
        n.since = SystemTime::now();
    }
    status.send_replace(Some(st));
}

/// A neighbour's change into the status, logged.
fn apply(st: &mut BgpStatus, c: NeighborChange) {
    fn at(st: &mut BgpStatus, a: IpAddr) -> Option<&mut BgpNeighborStatus> {
        st.neighbors.iter_mut().find(|n| n.address == a)
    }
    match c {
        NeighborChange::Session { neighbor, state } => {
            if let Some(n) = at(st, neighbor) {
                n.state = state;
                n.since = SystemTime::now();
            }
        }
        NeighborChange::Established { neighbor } => {
            tracing::info!(%neighbor, "BGP session established");
            if let Some(n) = at(st, neighbor) {
                n.established += 1;
            }
        }
        NeighborChange::Down { neighbor, reason } => {
            tracing::warn!(%neighbor, %reason, "BGP session down");
            if let Some(n) = at(st, neighbor) {
                n.last_down = Some(reason);
            }
        }
        NeighborChange::Bfd {
            neighbor,
            state,
            up,
            was_up,
            diagnostic,
        } => {
            if was_up && !up {
                tracing::warn!(%neighbor, diagnostic = diagnostic.as_deref().unwrap_or("-"), "BFD session down");
            } else if up && !was_up {
                tracing::info!(%neighbor, "BFD session up");
            }
            let Some(f) = at(st, neighbor).and_then(|n| n.bfd.as_mut()) else {
                return;
            };
            f.state = state;
            f.since = SystemTime::now();
            if diagnostic.is_some() {
                f.last_diagnostic = diagnostic;
            }
            if was_up && !up {
                f.downs += 1;
            }
        }
    }
}

/// The next BFD event, or never without BFD (or once its driver ended).
async fn recv_bfd(
    rx: &mut Option<mpsc::UnboundedReceiver<ha_bfd::io::Event>>,
) -> Option<ha_bfd::io::Event> {
    match rx {
        Some(r) => match r.recv().await {
            Some(e) => Some(e),
            None => {
                *rx = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::runtime::config::BgpNeighborConfig;

    /// A backend that records what it is asked and reports the changes it is fed.
    #[derive(Debug)]
    struct Recorder {
        calls: Arc<Mutex<Vec<(IpAddr, bool)>>>,
        stopped: Arc<Mutex<bool>>,
        changes: mpsc::UnboundedReceiver<NeighborChange>,
    }

    impl RouteAnnouncer for Recorder {
        fn set_route(&mut self, address: IpAddr, announced: bool) {
            self.calls.lock().unwrap().push((address, announced));
        }

        fn next_change(
            &mut self,
        ) -> Pin<Box<dyn Future<Output = Option<NeighborChange>> + Send + '_>> {
            Box::pin(self.changes.recv())
        }

        fn stop(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
            let stopped = self.stopped.clone();
            Box::pin(async move { *stopped.lock().unwrap() = true })
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn routes_follow_the_quorum_until_the_stop_and_changes_reach_the_status() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let neighbor = ip("192.0.2.1");
        let cfg = BgpConfig {
            local_as: 65001,
            router_id: "192.0.2.11".parse().unwrap(),
            hold_time: 9,
            connect_retry: Duration::from_secs(1),
            drain: Duration::ZERO,
            neighbors: vec![BgpNeighborConfig {
                address: neighbor,
                peer_as: 65000,
                local_address: None,
                bfd: Some(crate::runtime::config::BfdTimers {
                    interval: Duration::from_millis(100),
                    multiplier: 3,
                }),
            }],
            routes: vec![
                (VirtualServerId(0), ip("10.0.0.1")),
                (VirtualServerId(0), ip("10.0.0.2")),
                (VirtualServerId(1), ip("10.0.0.3")),
            ],
        };
        let calls = Arc::new(Mutex::new(Vec::new()));
        let stopped = Arc::new(Mutex::new(false));
        let (change_tx, changes) = mpsc::unbounded_channel();
        let rec = Recorder {
            calls: calls.clone(),
            stopped: stopped.clone(),
            changes,
        };
        let (work_tx, work) = mpsc::unbounded_channel();
        let (status_tx, mut status) = watch::channel(None);
        rt.block_on(async {
            let task = tokio::spawn(task(
                cfg,
                vec!["web".into(), "mail".into()],
                Backend::Custom(Box::new(rec)),
                work,
                status_tx,
            ));
            let q = |server: u32, up: bool| BgpWork::Quorum {
                server: VirtualServerId(server),
                up,
            };
            // Server 0 up (twice: announced once), server 1 down (never announced: no call).
            for w in [q(0, true), q(1, false), q(0, true)] {
                work_tx.send(w).unwrap();
            }
            for c in [
                NeighborChange::Session {
                    neighbor,
                    state: "Established".into(),
                },
                NeighborChange::Established { neighbor },
                NeighborChange::Bfd {
                    neighbor,
                    state: "Up".into(),
                    up: true,
                    was_up: false,
                    diagnostic: None,
                },
                NeighborChange::Bfd {
                    neighbor,
                    state: "Down".into(),
                    up: false,
                    was_up: true,
                    diagnostic: Some("control detection time expired".into()),
                },
            ] {
                change_tx.send(c).unwrap();
            }
            let seen = status
                .wait_for(|s| {
                    s.as_ref().is_some_and(|s| {
                        s.neighbors[0].established == 1
                            && s.neighbors[0].bfd.as_ref().is_some_and(|b| b.downs == 1)
                            && s.routes[1].announced
                            && s.routes[2].reason == "quorum down"
                    })
                })
                .await
                .map(|s| s.clone());
            let s = seen.unwrap().unwrap();
            assert_eq!(s.neighbors[0].state, "Established");
            let bfd = s.neighbors[0].bfd.clone().unwrap();
            assert_eq!(bfd.state, "Down");
            assert_eq!(
                bfd.last_diagnostic.as_deref(),
                Some("control detection time expired")
            );
            assert_eq!(s.routes[0].reason, "quorum up");
            assert_eq!(s.routes[0].virtual_server, "web");
            assert_eq!(s.routes[2].virtual_server, "mail");
            // A stop withdraws what is announced; a quorum after it is not taken.
            work_tx.send(BgpWork::WithdrawAll).unwrap();
            work_tx.send(q(1, true)).unwrap();
            drop(work_tx);
            task.await.unwrap();
        });
        assert_eq!(
            *calls.lock().unwrap(),
            vec![
                (ip("10.0.0.1"), true),
                (ip("10.0.0.2"), true),
                (ip("10.0.0.1"), false),
                (ip("10.0.0.2"), false),
            ]
        );
        assert!(*stopped.lock().unwrap(), "the announcer was not stopped");
        let s = status.borrow().clone().unwrap();
        assert!(s.draining);
        assert!(
            s.routes
                .iter()
                .all(|r| !r.announced && r.reason == "stopping")
        );
    }
}
