//! Active-active: the director's BGP speaker ([`ha_bgp`]) and its BFD sessions ([`ha_bfd`]),
//! on the slow runtime.
//!
//! The event loop tells the task each announced virtual server's quorum ([`BgpWork::Quorum`]);
//! the task announces the server's host routes to every neighbour while the quorum is up and
//! withdraws them while it is down. A stop withdraws every route first
//! ([`BgpWork::WithdrawAll`]) and keeps them withdrawn; when the loop closes the channel, each
//! session ends with a Cease NOTIFICATION (Administrative Shutdown, RFC 8203) and the task
//! returns. BFD runs in this process on purpose: a director that dies falls silent on BFD too,
//! and the router drops it from its ECMP set after the detection time.

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, watch};

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

/// A neighbour's BGP session as started: what [`task`] drives.
pub(crate) struct Neighbor {
    handle: ha_bgp::Handle,
    events: mpsc::UnboundedReceiver<ha_bgp::Event>,
}

/// The sessions as started: one BGP session per neighbour and, when a neighbour asks for BFD,
/// the BFD driver (its sessions are added by [`task`]).
pub(crate) struct Started {
    neighbors: Vec<Neighbor>,
    bfd: Option<(
        ha_bfd::io::Handle,
        mpsc::UnboundedReceiver<ha_bfd::io::Event>,
    )>,
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
/// current runtime).
pub(crate) fn start(
    cfg: &BgpConfig,
    configs: Vec<(ha_bgp::Config, ha_bgp::IoConfig)>,
) -> Result<Started, BgpSetupError> {
    let bfd = match cfg.neighbors.iter().find(|n| n.bfd.is_some()) {
        Some(n) => Some(
            ha_bfd::io::spawn(ha_bfd::io::DriverConfig::default()).map_err(|e| BgpSetupError {
                neighbor: n.address,
                detail: format!("BFD: cannot open its sockets (UDP port 3784): {e}"),
            })?,
        ),
        None => None,
    };
    let neighbors = configs
        .into_iter()
        .map(|(c, io)| {
            let neighbor = io.peer.ip();
            ha_bgp::spawn(c, io)
                .map(|(handle, events)| Neighbor { handle, events })
                .map_err(|e| BgpSetupError {
                    neighbor,
                    detail: e.to_string(),
                })
        })
        .collect::<Result<_, _>>()?;
    Ok(Started { neighbors, bfd })
}

/// One route of the task.
struct Route {
    server: VirtualServerId,
    prefix: ha_bgp::Prefix,
    up: bool,
}

/// Runs the sessions until `work` closes, then stops them (Cease) and returns.
pub(crate) async fn task(
    cfg: BgpConfig,
    server_names: Vec<String>,
    started: Started,
    mut work: mpsc::UnboundedReceiver<BgpWork>,
    status: watch::Sender<Option<BgpStatus>>,
) {
    let Started { neighbors, bfd } = started;
    let (bfd, mut bfd_events) = match bfd {
        Some((h, ev)) => (Some(h), Some(ev)),
        None => (None, None),
    };
    if let Some(b) = &bfd {
        for n in &cfg.neighbors {
            let Some(t) = n.bfd else { continue };
            let peer = ha_bfd::io::PeerConfig {
                peer: n.address,
                local: n.local_address,
                timers: ha_bfd::Timers {
                    desired_min_tx: t.interval,
                    required_min_rx: t.interval,
                    detect_mult: t.multiplier,
                },
                role: ha_bfd::Role::Active,
            };
            if let Err(e) = b.add_session(peer).await {
                // The task ends: the director stops with this reason rather than run
                // without the detection the configuration asked for.
                tracing::error!(neighbor = %n.address, error = %e, "BFD session not started: stopping");
                return;
            }
        }
    }
    let mut routes: Vec<Route> = cfg
        .routes
        .iter()
        .map(|&(server, addr)| Route {
            server,
            prefix: ha_bgp::Prefix::host(addr),
            up: false,
        })
        .collect();
    // Each session with the family of its neighbour: a route goes to the sessions of its
    // family (the next hop announced is the session's own address).
    let mut handles = Vec::with_capacity(neighbors.len());
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<(usize, ha_bgp::Event)>();
    for (i, n) in neighbors.into_iter().enumerate() {
        handles.push((
            n.handle,
            cfg.neighbors.get(i).is_some_and(|c| c.address.is_ipv4()),
        ));
        let tx = ev_tx.clone();
        let mut events = n.events;
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                if tx.send((i, e)).is_err() {
                    break;
                }
            }
        });
    }
    drop(ev_tx);
    let now = SystemTime::now();
    let mut st = BgpStatus {
        neighbors: cfg
            .neighbors
            .iter()
            .map(|n| BgpNeighborStatus {
                address: n.address,
                peer_as: n.peer_as,
                state: format!("{:?}", ha_bgp::State::Idle),
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
                address: r.prefix.addr(),
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
    loop {
        tokio::select! {
            w = work.recv() => {
                let Some(w) = w else { break };
                match w {
                    BgpWork::Quorum { server, up } if !draining => {
                        for (k, r) in routes.iter_mut().enumerate().filter(|(_, r)| r.server == server) {
                            set(&handles, r, up);
                            st.routes[k].announced = up;
                            st.routes[k].reason = if up { "quorum up" } else { "quorum down" }.to_owned();
                        }
                    }
                    BgpWork::Quorum { .. } => {}
                    BgpWork::WithdrawAll => {
                        draining = true;
                        st.draining = true;
                        for (k, r) in routes.iter_mut().enumerate() {
                            set(&handles, r, false);
                            st.routes[k].announced = false;
                            st.routes[k].reason = "stopping".to_owned();
                        }
                        tracing::info!("BGP: every route withdrawn (stopping)");
                    }
                }
            }
            Some(e) = recv_bfd(&mut bfd_events) => {
                let ha_bfd::Event::StateChange { from, to, diagnostic } = e.event else { continue };
                let Some(f) = st
                    .neighbors
                    .iter_mut()
                    .find(|n| n.address == e.peer)
                    .and_then(|n| n.bfd.as_mut())
                else {
                    continue;
                };
                f.state = format!("{to:?}");
                f.since = SystemTime::now();
                if diagnostic != ha_bfd::Diagnostic::NoDiagnostic {
                    f.last_diagnostic = Some(diagnostic.to_string());
                }
                if from == ha_bfd::State::Up {
                    f.downs += 1;
                    tracing::warn!(neighbor = %e.peer, %diagnostic, "BFD session down");
                } else if to == ha_bfd::State::Up {
                    tracing::info!(neighbor = %e.peer, "BFD session up");
                }
            }
            Some((i, e)) = ev_rx.recv() => {
                let Some(n) = st.neighbors.get_mut(i) else { continue };
                match e {
                    ha_bgp::Event::StateChanged { to, .. } => {
                        n.state = format!("{to:?}");
                        n.since = SystemTime::now();
                    }
                    ha_bgp::Event::Established => {
                        n.established += 1;
                        tracing::info!(neighbor = %n.address, "BGP session established");
                    }
                    ha_bgp::Event::Down { reason } => {
                        tracing::warn!(neighbor = %n.address, %reason, "BGP session down");
                        n.last_down = Some(reason.to_string());
                    }
                    ha_bgp::Event::UpdateError(e) => {
                        tracing::warn!(neighbor = %n.address, error = %e, "BGP: malformed UPDATE from the neighbour (ignored, RFC 7606)");
                    }
                    ha_bgp::Event::PeerOpen { .. } => {}
                }
            }
        }
        status.send_replace(Some(st.clone()));
    }
    let deadline = Instant::now() + STOP_WAIT;
    let stops = handles.into_iter().map(|(h, _)| async move {
        let _ = tokio::time::timeout_at(deadline.into(), h.stop(Some(STOP_MESSAGE))).await;
    });
    futures::future::join_all(stops).await;
    if let Some(b) = bfd {
        // AdminDown (RFC 5880 section 6.8.16): the router sees a stop, not a failure.
        for n in cfg.neighbors.iter().filter(|n| n.bfd.is_some()) {
            let _ = b.admin_down(n.address).await;
        }
        let _ = tokio::time::timeout(STOP_WAIT, b.shutdown()).await;
    }
    for n in &mut st.neighbors {
        n.state = format!("{:?}", ha_bgp::State::Idle);
        n.since = SystemTime::now();
    }
    status.send_replace(Some(st));
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

/// Announces or withdraws one route on every session (a session that is not up sends it once
/// established).
fn set(handles: &[(ha_bgp::Handle, bool)], r: &mut Route, up: bool) {
    if r.up == up {
        return;
    }
    r.up = up;
    let v4 = r.prefix.addr().is_ipv4();
    for (h, _) in handles.iter().filter(|(_, f)| *f == v4) {
        let res = if up {
            h.announce(r.prefix, ha_bgp::RouteAttributes::default())
        } else {
            h.withdraw(r.prefix)
        };
        if let Err(e) = res {
            tracing::error!(route = %r.prefix.addr(), error = %e, "BGP: route not handed to a session");
        }
    }
    tracing::info!(route = %r.prefix.addr(), announced = up, "BGP route");
}
