//! The director's rules under a virtual clock, with exact expectations.
#![allow(
    clippy::disallowed_methods,
    reason = "a test may read the real clock and keep its bookkeeping in std hash maps (clippy.toml)"
)]

mod core_support;

use std::net::IpAddr;
use std::time::Duration;
use std::time::Instant;

use core_support::*;
use ha_failover::core::{
    AdminMode, AdminReason, Cause, Director, DirectorAction, DirectorBuilder, DirectorConfigError,
    DirectorError, DirectorEvent, FenceAttempt, GroupId, InstanceConfig, InstanceId, NotifyScripts,
    NotifyState, SYNC_GROUP_TRACK, Step, StepKind, StepOp, StepToken, SyncGroupConfig, TrackRef,
    TrackResult, TrackStatus, TrackerConfig, TrackerId, TrackerKind, VipSpec,
};
use ha_failover::vrrp::Priority;
use ha_failover::vrrp::router::{State, TrackId, TransitionReason};

fn vip(s: &str) -> VipSpec {
    VipSpec::parse(s).unwrap()
}

fn transition(
    instance: InstanceId,
    from: State,
    to: State,
    cause: Cause,
    priority: u8,
) -> DirectorEvent {
    DirectorEvent::Transition {
        instance,
        from,
        to,
        cause,
        priority: Priority(priority),
    }
}

#[test]
fn vip_ownership_and_notify_scripts() {
    let t0 = Instant::now();
    let mut cfg = InstanceConfig::new("VI_1", "eth0", router(51, 150, v4(2)));
    cfg.vips.push(vip("10.0.0.100/24"));
    cfg.vips.push(vip("10.0.0.101/24 dev eth0 label eth0:1"));
    cfg.excluded_vips.push(vip("fd00::100/64 dev eth2"));
    cfg.routes.push("10.8.0.0/16 via 10.0.0.254".into());
    cfg.notify = NotifyScripts {
        master: Some(argv(&["/etc/ka/master.sh", "up"])),
        backup: Some(argv(&["/etc/ka/backup.sh"])),
        fault: None,
        stop: Some(argv(&["/etc/ka/stop.sh"])),
        generic: Some(argv(&["/etc/ka/notify.sh", "--log"])),
    };
    let mut b = DirectorBuilder::new();
    let id = b.add_instance(cfg).unwrap();
    let mut d = b.build(t0).unwrap();

    let o = drain(&mut d);
    assert_eq!(
        o.events,
        vec![transition(
            id,
            State::Initialize,
            State::Backup,
            Cause::Router(TransitionReason::Startup),
            150
        )]
    );
    assert_eq!(
        o.notifies(),
        vec![
            argv(&["/etc/ka/backup.sh"]),
            argv(&[
                "/etc/ka/notify.sh",
                "--log",
                "INSTANCE",
                "VI_1",
                "BACKUP",
                "150"
            ]),
        ]
    );
    assert!(o.transmits.is_empty());
    assert!(o.resource_actions().is_empty());
    assert_eq!(d.advert_addresses(id), vec![v4(100), v4(101)]);
    assert_eq!(d.find_instance("eth0", vrid(51), true), Some(id));
    assert_eq!(d.find_instance("eth0", vrid(51), false), None);
    let down = t0 + master_down(150);
    assert_eq!(d.poll_timeout(), Some(down));

    // An early timeout is a no-op.
    d.handle_timeout(down - Duration::from_millis(1));
    let o = drain(&mut d);
    assert!(o.events.is_empty() && o.actions.is_empty() && o.transmits.is_empty());

    d.handle_timeout(down);
    let o = drain(&mut d);
    assert_eq!(o.transmits.len(), 1);
    assert_eq!(o.transmits[0].0, id);
    assert_eq!(o.transmits[0].1.priority, Priority(150));
    let all = vec![
        vip("10.0.0.100/24 dev eth0"),
        vip("10.0.0.101/24 dev eth0 label eth0:1"),
        vip("fd00::100/64 dev eth2"),
    ];
    let fd: IpAddr = "fd00::100".parse().unwrap();
    assert_eq!(
        o.resource_actions(),
        vec![
            DirectorAction::AddVips {
                instance: id,
                vips: all.clone()
            },
            DirectorAction::AddRoutes {
                instance: id,
                routes: vec!["10.8.0.0/16 via 10.0.0.254".into()]
            },
            DirectorAction::Announce {
                instance: id,
                addresses: vec![v4(100), v4(101), fd]
            },
        ]
    );
    assert_eq!(
        o.notifies(),
        vec![
            argv(&["/etc/ka/master.sh", "up"]),
            argv(&[
                "/etc/ka/notify.sh",
                "--log",
                "INSTANCE",
                "VI_1",
                "MASTER",
                "150"
            ]),
        ]
    );
    assert_eq!(
        o.events,
        vec![
            transition(
                id,
                State::Backup,
                State::Master,
                Cause::Router(TransitionReason::MasterDown { last_master: None }),
                150
            ),
            DirectorEvent::VipsAcquired { instance: id },
        ]
    );
    assert!(d.holds_vips(id));

    // A higher-priority master: step down, release at once.
    let t1 = down + Duration::from_millis(300);
    d.handle_advert(t1, id, advert(v4(3), 51, 200)).unwrap();
    let o = drain(&mut d);
    assert_eq!(
        o.resource_actions(),
        vec![
            DirectorAction::RemoveRoutes {
                instance: id,
                routes: vec!["10.8.0.0/16 via 10.0.0.254".into()]
            },
            DirectorAction::RemoveVips {
                instance: id,
                vips: all
            },
        ]
    );
    assert_eq!(
        o.events,
        vec![
            transition(
                id,
                State::Master,
                State::Backup,
                Cause::Router(TransitionReason::HigherPriority {
                    from: v4(3),
                    priority: Priority(200)
                }),
                150
            ),
            DirectorEvent::VipsReleased { instance: id },
        ]
    );
    assert!(!d.holds_vips(id));

    d.shutdown(t1);
    let o = drain(&mut d);
    assert_eq!(
        o.notifies(),
        vec![
            argv(&["/etc/ka/stop.sh"]),
            argv(&[
                "/etc/ka/notify.sh",
                "--log",
                "INSTANCE",
                "VI_1",
                "STOP",
                "150"
            ]),
        ]
    );
    assert_eq!(d.state(id), Some(State::Initialize));
    assert_eq!(
        d.handle_advert(t1, InstanceId(9), advert(v4(3), 51, 200)),
        Err(DirectorError::UnknownInstance(InstanceId(9)))
    );
}

fn two_member_group(t0: Instant, notify: bool) -> (Director, InstanceId, InstanceId, GroupId) {
    let mut b = DirectorBuilder::new();
    let mut c1 = InstanceConfig::new("VI_1", "eth0", router(1, 150, v4(2)));
    c1.vips.push(vip("10.0.0.100/24"));
    let mut c2 = InstanceConfig::new("VI_2", "eth1", router(2, 100, "10.0.1.2".parse().unwrap()));
    c2.vips.push(vip("10.0.1.100/24"));
    let i1 = b.add_instance(c1).unwrap();
    let i2 = b.add_instance(c2).unwrap();
    let mut notify_scripts = NotifyScripts::default();
    if notify {
        notify_scripts.master = Some(argv(&["/g/master"]));
        notify_scripts.generic = Some(argv(&["/g/notify"]));
    }
    let g = b
        .add_sync_group(SyncGroupConfig {
            name: "G1".into(),
            members: vec![i1, i2],
            notify: notify_scripts,
        })
        .unwrap();
    (b.build(t0).unwrap(), i1, i2, g)
}

#[test]
fn sync_group_master_backup_fault() {
    let t0 = Instant::now();
    let (mut d, i1, i2, g) = two_member_group(t0, true);
    let o = drain(&mut d);
    assert_eq!(
        o.events.last(),
        Some(&DirectorEvent::GroupTransition {
            group: g,
            state: NotifyState::Backup
        })
    );
    assert_eq!(
        o.notifies(),
        vec![argv(&["/g/notify", "GROUP", "G1", "BACKUP", "0"])]
    );

    // VI_1 (150) times out first: VI_2 is driven to Master with it.
    let t1 = t0 + master_down(150);
    d.handle_timeout(t1);
    let o = drain(&mut d);
    assert_eq!(
        o.events,
        vec![
            transition(
                i1,
                State::Backup,
                State::Master,
                Cause::Router(TransitionReason::MasterDown { last_master: None }),
                150
            ),
            DirectorEvent::VipsAcquired { instance: i1 },
            transition(
                i2,
                State::Backup,
                State::Master,
                Cause::SyncGroup {
                    group: g,
                    member: i1
                },
                100
            ),
            DirectorEvent::VipsAcquired { instance: i2 },
            DirectorEvent::GroupTransition {
                group: g,
                state: NotifyState::Master
            },
        ]
    );
    assert_eq!(
        o.notifies(),
        vec![
            argv(&["/g/master"]),
            argv(&["/g/notify", "GROUP", "G1", "MASTER", "0"])
        ]
    );
    // Both advertise.
    let mut senders: Vec<InstanceId> = o.transmits.iter().map(|t| t.0).collect();
    senders.sort();
    assert_eq!(senders, vec![i1, i2]);
    assert!(d.holds_vips(i1) && d.holds_vips(i2));

    // VI_2 hears a higher priority: both go Backup; VI_1 says priority 0.
    let t2 = t1 + Duration::from_millis(100);
    d.handle_advert(t2, i2, advert("10.0.1.3".parse().unwrap(), 2, 200))
        .unwrap();
    let o = drain(&mut d);
    assert_eq!(
        o.events,
        vec![
            transition(
                i2,
                State::Master,
                State::Backup,
                Cause::Router(TransitionReason::HigherPriority {
                    from: "10.0.1.3".parse().unwrap(),
                    priority: Priority(200)
                }),
                100
            ),
            DirectorEvent::VipsReleased { instance: i2 },
            transition(
                i1,
                State::Master,
                State::Backup,
                Cause::SyncGroup {
                    group: g,
                    member: i2
                },
                150
            ),
            DirectorEvent::VipsReleased { instance: i1 },
            DirectorEvent::GroupTransition {
                group: g,
                state: NotifyState::Backup
            },
        ]
    );
    assert_eq!(o.transmits.len(), 1);
    assert_eq!(o.transmits[0].0, i1);
    assert_eq!(o.transmits[0].1.priority, Priority::STOP);

    // VI_2's link goes down: the whole group goes to Fault.
    let t3 = t2 + Duration::from_millis(100);
    d.handle_link(t3, "eth1", false);
    let o = drain(&mut d);
    assert_eq!(
        o.events,
        vec![
            transition(
                i2,
                State::Backup,
                State::Fault,
                Cause::Router(TransitionReason::LinkDown),
                100
            ),
            transition(
                i1,
                State::Backup,
                State::Fault,
                Cause::SyncGroup {
                    group: g,
                    member: i2
                },
                150
            ),
            DirectorEvent::GroupTransition {
                group: g,
                state: NotifyState::Fault
            },
        ]
    );
    assert!(d.has_own_fault(i2) && !d.has_own_fault(i1));
    assert_eq!(d.router(i1).unwrap().track_fault(), Some(SYNC_GROUP_TRACK));
    assert_eq!(d.poll_timeout(), None);

    // It recovers when the fault clears.
    let t4 = t3 + Duration::from_secs(1);
    d.handle_link(t4, "eth1", true);
    let o = drain(&mut d);
    assert_eq!(
        o.events,
        vec![
            transition(
                i2,
                State::Fault,
                State::Backup,
                Cause::Router(TransitionReason::LinkUp),
                100
            ),
            transition(
                i1,
                State::Fault,
                State::Backup,
                Cause::Router(TransitionReason::TrackingCleared),
                150
            ),
            DirectorEvent::GroupTransition {
                group: g,
                state: NotifyState::Backup
            },
        ]
    );

    // A master member whose group-mate faults goes to Fault too (priority 0 first).
    let t5 = t4 + master_down(150);
    d.handle_timeout(t5);
    let _ = drain(&mut d);
    assert_eq!(d.state(i1), Some(State::Master));
    assert_eq!(d.state(i2), Some(State::Master));
    d.handle_link(t5, "eth0", false);
    let o = drain(&mut d);
    assert_eq!(d.state(i1), Some(State::Fault));
    assert_eq!(d.state(i2), Some(State::Fault));
    // VI_1's link is down (nothing to send); VI_2 sends priority 0.
    assert_eq!(
        o.transmits
            .iter()
            .map(|(i, t)| (*i, t.priority))
            .collect::<Vec<_>>(),
        vec![(i2, Priority::STOP)]
    );
    assert!(!d.holds_vips(i1) && !d.holds_vips(i2));
}

#[test]
fn sync_group_member_starting_late_joins_the_master() {
    let t0 = Instant::now();
    let mut b = DirectorBuilder::new();
    let i1 = b
        .add_instance(InstanceConfig::new("A", "eth0", router(1, 150, v4(2))))
        .unwrap();
    let mut r2 = router(2, 100, "10.0.1.2".parse().unwrap());
    r2.startup_delay = Duration::from_secs(5);
    let i2 = b
        .add_instance(InstanceConfig::new("B", "eth1", r2))
        .unwrap();
    let g = b
        .add_sync_group(SyncGroupConfig {
            name: "G".into(),
            members: vec![i1, i2],
            notify: NotifyScripts::default(),
        })
        .unwrap();
    let mut d = b.build(t0).unwrap();
    d.handle_timeout(t0 + master_down(150));
    let _ = drain(&mut d);
    assert_eq!(d.state(i1), Some(State::Master));
    assert_eq!(d.state(i2), Some(State::Initialize));
    d.handle_timeout(t0 + Duration::from_secs(5));
    let o = drain(&mut d);
    assert_eq!(
        o.events,
        vec![
            transition(
                i2,
                State::Initialize,
                State::Backup,
                Cause::Router(TransitionReason::Startup),
                100
            ),
            transition(
                i2,
                State::Backup,
                State::Master,
                Cause::SyncGroup {
                    group: g,
                    member: i1
                },
                100
            ),
            DirectorEvent::VipsAcquired { instance: i2 },
            DirectorEvent::GroupTransition {
                group: g,
                state: NotifyState::Master
            },
        ]
    );
}

#[test]
fn tracking_weights_clamping_and_reverse() {
    let t0 = Instant::now();
    let mut b = DirectorBuilder::new();
    let mut script = TrackerConfig::new(
        "chk_http",
        TrackerKind::Script {
            argv: argv(&["/bin/chk"]),
        },
    );
    script.rise = 2;
    script.fall = 2;
    let script = b.add_tracker(script);
    let eth9 = b.add_tracker(TrackerConfig::new(
        "eth9",
        TrackerKind::Interface {
            ifname: "eth9".into(),
        },
    ));
    let file = b.add_tracker(TrackerConfig::new(
        "prio_file",
        TrackerKind::File {
            path: "/run/prio".into(),
        },
    ));
    let pool = b.add_tracker(TrackerConfig::new(
        "web",
        TrackerKind::Pool { name: "web".into() },
    ));
    let mut cfg = InstanceConfig::new("VI_1", "eth0", router(1, 100, v4(2)));
    cfg.track = vec![
        TrackRef::new(script, 20),
        TrackRef::new(eth9, -30),
        TrackRef::new(file, 5),
        TrackRef::new(pool, 10).reversed(),
    ];
    let id = b.add_instance(cfg).unwrap();
    // An owner keeps 255 whatever the weights; a low base clamps at 1.
    let mut owner = InstanceConfig::new("OWN", "eth0", router(2, 255, v4(2)));
    owner.track = vec![TrackRef::new(eth9, -30)];
    let own = b.add_instance(owner).unwrap();
    let mut low = InstanceConfig::new("LOW", "eth0", router(3, 10, v4(2)));
    low.track = vec![TrackRef::new(eth9, -30)];
    let low = b.add_instance(low).unwrap();
    let mut d = b.build(t0).unwrap();
    let _ = drain(&mut d);
    // 100 + 20 (script up) - 10 (pool up, reversed) = 110.
    assert_eq!(d.priority(id), Some(Priority(110)));
    assert_eq!(d.priority(own), Some(Priority(255)));
    assert_eq!(d.priority(low), Some(Priority(10)));

    // fall 2: one failure changes nothing.
    d.handle_track_result(t0, script, TrackResult::Exit(1))
        .unwrap();
    assert!(drain(&mut d).events.is_empty());
    d.handle_track_result(t0, script, TrackResult::Exit(3))
        .unwrap();
    assert_eq!(
        drain(&mut d).events,
        vec![
            DirectorEvent::TrackerChanged {
                tracker: script,
                status: TrackStatus::Down
            },
            DirectorEvent::PriorityChanged {
                instance: id,
                from: Priority(110),
                to: Priority(90)
            },
        ]
    );

    // Negative weight applies when down; clamps at 1; the owner does not move.
    d.handle_link(t0, "eth9", false);
    assert_eq!(
        drain(&mut d).events,
        vec![
            DirectorEvent::TrackerChanged {
                tracker: eth9,
                status: TrackStatus::Down
            },
            DirectorEvent::PriorityChanged {
                instance: id,
                from: Priority(90),
                to: Priority(60)
            },
            DirectorEvent::PriorityChanged {
                instance: low,
                from: Priority(10),
                to: Priority(1)
            },
        ]
    );
    assert_eq!(d.priority(own), Some(Priority(255)));

    // File: value * weight, clamped to 254.
    d.handle_track_result(t0, file, TrackResult::Value(40))
        .unwrap();
    let _ = drain(&mut d);
    assert_eq!(d.priority(id), Some(Priority(254)));
    d.handle_track_result(t0, file, TrackResult::Value(-6))
        .unwrap();
    let _ = drain(&mut d);
    assert_eq!(d.priority(id), Some(Priority(30)));
    // Below -253: fault.
    d.handle_track_result(t0, file, TrackResult::Value(-51))
        .unwrap();
    let o = drain(&mut d);
    assert_eq!(d.state(id), Some(State::Fault));
    assert!(o.events.contains(&transition(
        id,
        State::Backup,
        State::Fault,
        Cause::Router(TransitionReason::TrackingFault(TrackId(file.0))),
        60
    )));
    d.handle_track_result(t0, file, TrackResult::Value(0))
        .unwrap();
    let _ = drain(&mut d);
    assert_eq!(d.state(id), Some(State::Backup));
    assert_eq!(d.priority(id), Some(Priority(60)));

    // Reverse: pool down removes the -10.
    d.handle_track_result(t0, pool, TrackResult::Down).unwrap();
    let _ = drain(&mut d);
    assert_eq!(d.priority(id), Some(Priority(70)));

    // Results of the wrong kind are rejected with the tracker's name.
    let e = d
        .handle_track_result(t0, script, TrackResult::Value(1))
        .unwrap_err();
    assert!(
        matches!(&e, DirectorError::WrongResultKind { name, .. } if name == "chk_http"),
        "{e}"
    );
    assert_eq!(
        d.handle_track_result(t0, TrackerId(99), TrackResult::Up),
        Err(DirectorError::UnknownTracker(TrackerId(99)))
    );
}

#[test]
fn raised_priority_preempts_and_lowered_priority_is_advertised() {
    let t0 = Instant::now();
    let mut b = DirectorBuilder::new();
    let mut chk = TrackerConfig::new(
        "chk",
        TrackerKind::Script {
            argv: argv(&["/c"]),
        },
    );
    chk.init_fail = true;
    let chk = b.add_tracker(chk);
    let mut cfg = InstanceConfig::new("VI_1", "eth0", router(1, 100, v4(2)));
    cfg.track = vec![TrackRef::new(chk, 30)];
    let id = b.add_instance(cfg).unwrap();
    let mut d = b.build(t0).unwrap();
    let _ = drain(&mut d);
    assert_eq!(d.priority(id), Some(Priority(100)));
    d.handle_advert(at(t0, 500), id, advert(v4(3), 1, 120))
        .unwrap();
    let _ = drain(&mut d);
    d.handle_track_result(at(t0, 600), chk, TrackResult::Exit(0))
        .unwrap();
    let o = drain(&mut d);
    assert_eq!(
        o.events,
        vec![
            DirectorEvent::TrackerChanged {
                tracker: chk,
                status: TrackStatus::Up
            },
            DirectorEvent::PriorityChanged {
                instance: id,
                from: Priority(100),
                to: Priority(130)
            },
            transition(
                id,
                State::Backup,
                State::Master,
                Cause::Router(TransitionReason::PriorityRaised {
                    master: v4(3),
                    priority: Priority(120)
                }),
                130
            ),
            DirectorEvent::VipsAcquired { instance: id },
        ]
    );
    // Lowered as master: the new priority is advertised at once.
    d.handle_track_result(at(t0, 700), chk, TrackResult::Exit(1))
        .unwrap();
    let o = drain(&mut d);
    assert_eq!(o.transmits.len(), 1);
    assert_eq!(o.transmits[0].1.priority, Priority(100));
    assert_eq!(d.state(id), Some(State::Master));
}

#[test]
fn weight_zero_ping_node_faults_the_instance() {
    let t0 = Instant::now();
    let mut b = DirectorBuilder::new();
    let gw = b.add_tracker(TrackerConfig::new(
        "gw",
        TrackerKind::Ping {
            addresses: vec![v4(254)],
            interval: Duration::from_secs(1),
            dead: Duration::from_secs(3),
        },
    ));
    let mut cfg = InstanceConfig::new("VI_1", "eth0", router(1, 100, v4(2)));
    cfg.vips.push(vip("10.0.0.100/24"));
    cfg.track = vec![TrackRef::new(gw, 0)];
    let id = b.add_instance(cfg).unwrap();
    let mut d = b.build(t0).unwrap();
    // A ping tracker starts down (nothing answered yet): weight 0 faults until the first
    // answer.
    assert_eq!(d.state(id), Some(State::Fault));
    d.handle_track_result(t0, gw, TrackResult::Up).unwrap();
    let _ = drain(&mut d);
    assert_eq!(d.state(id), Some(State::Backup));
    d.handle_timeout(t0 + master_down(100));
    let _ = drain(&mut d);
    assert!(d.holds_vips(id));
    let t1 = t0 + Duration::from_secs(5);
    d.handle_track_result(t1, gw, TrackResult::Down).unwrap();
    let o = drain(&mut d);
    assert_eq!(d.state(id), Some(State::Fault));
    assert!(!d.holds_vips(id));
    assert_eq!(o.transmits.len(), 1);
    assert_eq!(o.transmits[0].1.priority, Priority::STOP);
    assert_eq!(
        o.resource_actions(),
        vec![DirectorAction::RemoveVips {
            instance: id,
            vips: vec![vip("10.0.0.100/24 dev eth0")]
        }]
    );
    assert!(o.events.contains(&transition(
        id,
        State::Master,
        State::Fault,
        Cause::Router(TransitionReason::TrackingFault(TrackId(gw.0))),
        100
    )));
    d.handle_track_result(t1, gw, TrackResult::Up).unwrap();
    let _ = drain(&mut d);
    assert_eq!(d.state(id), Some(State::Backup));
}

fn fenced(t0: Instant) -> (Director, InstanceId) {
    let mut b = DirectorBuilder::new();
    let mut cfg = InstanceConfig::new("VI_1", "eth0", router(1, 100, v4(2)));
    cfg.vips.push(vip("10.0.0.100/24"));
    cfg.fence = true;
    let id = b.add_instance(cfg).unwrap();
    (b.build(t0).unwrap(), id)
}

#[test]
fn fencing_success_holds_vips_until_fenced() {
    let t0 = Instant::now();
    let (mut d, id) = fenced(t0);
    let t1 = t0 + master_down(100);
    d.handle_timeout(t1);
    let o = drain(&mut d);
    assert_eq!(
        o.resource_actions(),
        vec![DirectorAction::Fence {
            instance: id,
            attempt: FenceAttempt(1)
        }]
    );
    assert_eq!(d.state(id), Some(State::Master));
    assert!(!d.holds_vips(id) && d.is_fencing(id));
    // A stale answer is ignored.
    d.handle_fence_result(t1, id, FenceAttempt(7), true)
        .unwrap();
    let o = drain(&mut d);
    assert!(o.actions.is_empty() && o.events.is_empty());
    d.handle_fence_result(t1, id, FenceAttempt(1), true)
        .unwrap();
    let o = drain(&mut d);
    assert_eq!(
        o.events,
        vec![
            DirectorEvent::FenceResult {
                instance: id,
                attempt: FenceAttempt(1),
                ok: true
            },
            DirectorEvent::VipsAcquired { instance: id },
        ]
    );
    assert_eq!(
        o.resource_actions(),
        vec![
            DirectorAction::AddVips {
                instance: id,
                vips: vec![vip("10.0.0.100/24 dev eth0")]
            },
            DirectorAction::Announce {
                instance: id,
                addresses: vec![v4(100)]
            },
        ]
    );
    assert!(d.holds_vips(id) && !d.is_fencing(id));
}

#[test]
fn fencing_failure_blocks_takeover_and_retries() {
    let t0 = Instant::now();
    let (mut d, id) = fenced(t0);
    let t1 = t0 + master_down(100);
    d.handle_timeout(t1);
    let _ = drain(&mut d);
    d.handle_fence_result(t1, id, FenceAttempt(1), false)
        .unwrap();
    let o = drain(&mut d);
    assert_eq!(
        o.events,
        vec![
            DirectorEvent::FenceResult {
                instance: id,
                attempt: FenceAttempt(1),
                ok: false
            },
            transition(id, State::Master, State::Backup, Cause::FenceFailed, 100),
        ]
    );
    assert!(o.resource_actions().is_empty(), "{:?}", o.actions);
    assert_eq!(o.transmits.len(), 1);
    assert_eq!(o.transmits[0].1.priority, Priority::STOP);
    assert!(!d.holds_vips(id));
    // The old master stays silent: it takes over again and fences again.
    d.handle_timeout(t1 + master_down(100));
    let o = drain(&mut d);
    assert_eq!(
        o.resource_actions(),
        vec![DirectorAction::Fence {
            instance: id,
            attempt: FenceAttempt(2)
        }]
    );
    // The late answer to attempt 1 is ignored.
    d.handle_fence_result(t1, id, FenceAttempt(1), true)
        .unwrap();
    assert!(drain(&mut d).actions.is_empty());
    assert!(!d.holds_vips(id));
}

#[test]
fn fence_failure_takes_the_sync_group_back() {
    let t0 = Instant::now();
    let mut b = DirectorBuilder::new();
    let mut c1 = InstanceConfig::new("A", "eth0", router(1, 150, v4(2)));
    c1.fence = true;
    let i1 = b.add_instance(c1).unwrap();
    let i2 = b
        .add_instance(InstanceConfig::new("B", "eth1", router(2, 100, v4(3))))
        .unwrap();
    let g = b
        .add_sync_group(SyncGroupConfig {
            name: "G".into(),
            members: vec![i1, i2],
            notify: NotifyScripts::default(),
        })
        .unwrap();
    let mut d = b.build(t0).unwrap();
    let t1 = t0 + master_down(150);
    d.handle_timeout(t1);
    let _ = drain(&mut d);
    assert!(d.holds_vips(i2) && !d.holds_vips(i1));
    d.handle_fence_result(t1, i1, FenceAttempt(1), false)
        .unwrap();
    let o = drain(&mut d);
    assert!(o.events.contains(&transition(
        i2,
        State::Master,
        State::Backup,
        Cause::SyncGroup {
            group: g,
            member: i1
        },
        100
    )));
    assert_eq!(d.state(i1), Some(State::Backup));
    assert_eq!(d.state(i2), Some(State::Backup));
}

fn with_steps(t0: Instant) -> (Director, InstanceId, Vec<Step>) {
    let steps = vec![
        Step {
            name: "fs".into(),
            kind: StepKind::Command {
                start: argv(&["mount", "/data"]),
                stop: argv(&["umount", "/data"]),
            },
            timeout: None,
        },
        Step {
            name: "db".into(),
            kind: StepKind::Service("postgresql".into()),
            timeout: None,
        },
        Step {
            name: "web".into(),
            kind: StepKind::Service("httpd".into()),
            timeout: None,
        },
    ];
    let mut b = DirectorBuilder::new();
    let mut cfg = InstanceConfig::new("VI_1", "eth0", router(1, 100, v4(2)));
    cfg.vips.push(vip("10.0.0.100/24"));
    cfg.steps = steps.clone();
    let id = b.add_instance(cfg).unwrap();
    (b.build(t0).unwrap(), id, steps)
}

/// The single RunStep among the actions: (index, op, token).
fn run_step(o: &Out) -> Option<(usize, StepOp, StepToken)> {
    let runs: Vec<_> = o
        .actions
        .iter()
        .filter_map(|a| match a {
            DirectorAction::RunStep {
                index, op, token, ..
            } => Some((*index, *op, *token)),
            _ => None,
        })
        .collect();
    assert!(runs.len() <= 1, "one step at a time: {runs:?}");
    runs.first().copied()
}

#[test]
fn resource_group_starts_in_order_and_stops_in_reverse() {
    let t0 = Instant::now();
    let (mut d, id, steps) = with_steps(t0);
    let t1 = t0 + master_down(100);
    d.handle_timeout(t1);
    let o = drain(&mut d);
    let ra = o.resource_actions();
    assert!(matches!(ra[0], DirectorAction::AddVips { .. }));
    assert!(matches!(ra[1], DirectorAction::Announce { .. }));
    assert_eq!(
        ra[2],
        DirectorAction::RunStep {
            instance: id,
            index: 0,
            op: StepOp::Start,
            step: steps[0].clone(),
            token: StepToken(1)
        }
    );
    let mut seq = vec![];
    let mut next = run_step(&o);
    while let Some((index, op, token)) = next {
        seq.push((index, op));
        d.handle_step_result(t1, id, token, true).unwrap();
        next = run_step(&drain(&mut d));
    }
    assert_eq!(
        seq,
        vec![(0, StepOp::Start), (1, StepOp::Start), (2, StepOp::Start)]
    );
    assert_eq!(d.steps_started(id), &[true, true, true]);
    assert!(d.is_idle());

    // Step down: VIPs go at once, then the steps stop in reverse; a failed stop is reported.
    d.handle_advert(t1, id, advert(v4(3), 1, 200)).unwrap();
    let o = drain(&mut d);
    assert!(matches!(
        o.resource_actions()[0],
        DirectorAction::RemoveVips { .. }
    ));
    let mut seq = vec![];
    let mut next = run_step(&o);
    let mut events = vec![];
    while let Some((index, op, token)) = next {
        seq.push((index, op));
        d.handle_step_result(t1, id, token, index != 1).unwrap();
        let o = drain(&mut d);
        events.extend(o.events.clone());
        next = run_step(&o);
    }
    assert_eq!(
        seq,
        vec![(2, StepOp::Stop), (1, StepOp::Stop), (0, StepOp::Stop)]
    );
    assert!(events.contains(&DirectorEvent::StepResult {
        instance: id,
        index: 1,
        name: "db".into(),
        op: StepOp::Stop,
        ok: false
    }));
    assert_eq!(d.steps_started(id), &[false, false, false]);
}

#[test]
fn failed_start_rolls_back_in_reverse() {
    let t0 = Instant::now();
    let (mut d, id, _) = with_steps(t0);
    let t1 = t0 + master_down(100);
    d.handle_timeout(t1);
    let mut next = run_step(&drain(&mut d));
    let mut seq = vec![];
    let mut events = vec![];
    while let Some((index, op, token)) = next {
        seq.push((index, op));
        let ok = !(index == 2 && op == StepOp::Start);
        d.handle_step_result(t1, id, token, ok).unwrap();
        let o = drain(&mut d);
        events.extend(o.events.clone());
        next = run_step(&o);
    }
    assert_eq!(
        seq,
        vec![
            (0, StepOp::Start),
            (1, StepOp::Start),
            (2, StepOp::Start),
            (1, StepOp::Stop),
            (0, StepOp::Stop)
        ]
    );
    assert!(events.contains(&DirectorEvent::StepResult {
        instance: id,
        index: 2,
        name: "web".into(),
        op: StepOp::Start,
        ok: false
    }));
    // heartbeat: the resources go to the peer (administrative standby at priority 1).
    assert_eq!(d.state(id), Some(State::Backup));
    assert!(!d.holds_vips(id));
    assert_eq!(
        d.admin(id),
        Some((AdminMode::Standby, Some(AdminReason::StartFailed)))
    );
    assert_eq!(d.priority(id), Some(ha_failover::vrrp::Priority(1)));
    // A stale token is ignored.
    d.handle_step_result(t1, id, StepToken(1), true).unwrap();
    assert!(drain(&mut d).actions.is_empty());
}

#[test]
fn leaving_master_while_a_start_is_in_flight_stops_it_after() {
    let t0 = Instant::now();
    let (mut d, id, _) = with_steps(t0);
    let t1 = t0 + master_down(100);
    d.handle_timeout(t1);
    let (_, _, tok) = run_step(&drain(&mut d)).unwrap();
    d.handle_advert(t1, id, advert(v4(3), 1, 200)).unwrap();
    let o = drain(&mut d);
    assert_eq!(run_step(&o), None, "waits for the start in flight");
    d.handle_step_result(t1, id, tok, true).unwrap();
    let o = drain(&mut d);
    let (index, op, _) = run_step(&o).unwrap();
    assert_eq!((index, op), (0, StepOp::Stop));
}

#[test]
fn configuration_errors_name_what_is_wrong() {
    let mut b = DirectorBuilder::new();
    let t = b.add_tracker(TrackerConfig::new(
        "s",
        TrackerKind::Script { argv: argv(&["x"]) },
    ));
    let mut c = InstanceConfig::new("VI_1", "eth0", router(1, 100, v4(2)));
    c.vips.push(vip("fd00::1/64"));
    assert_eq!(
        b.add_instance(c.clone()),
        Err(DirectorConfigError::VipFamily {
            instance: "VI_1".into(),
            addr: "fd00::1".parse().unwrap(),
            primary: v4(2)
        })
    );
    c.vips.clear();
    c.track = vec![TrackRef::new(t, 254)];
    assert!(matches!(
        b.add_instance(c.clone()),
        Err(DirectorConfigError::WeightOutOfRange {
            weight: 254,
            max: 253,
            ..
        })
    ));
    c.track = vec![TrackRef::new(TrackerId(5), 1)];
    assert!(matches!(
        b.add_instance(c.clone()),
        Err(DirectorConfigError::UnknownTracker { .. })
    ));
    c.track.clear();
    c.notify.generic = Some(vec![]);
    assert!(matches!(
        b.add_instance(c.clone()),
        Err(DirectorConfigError::EmptyCommand { .. })
    ));
    c.notify.generic = None;
    let i = b.add_instance(c.clone()).unwrap();
    assert_eq!(
        b.add_instance(c.clone()),
        Err(DirectorConfigError::DuplicateInstance {
            name: "VI_1".into()
        })
    );
    c.name = "VI_2".into();
    assert!(matches!(
        b.add_instance(c.clone()),
        Err(DirectorConfigError::DuplicateVrid { .. })
    ));
    let mut bad = c.clone();
    bad.router.priority = Priority(0);
    assert!(matches!(
        b.add_instance(bad),
        Err(DirectorConfigError::Router { .. })
    ));
    let g = SyncGroupConfig {
        name: "G".into(),
        members: vec![i, i],
        notify: NotifyScripts::default(),
    };
    assert!(matches!(
        b.add_sync_group(g.clone()),
        Err(DirectorConfigError::MemberTwice { .. })
    ));
    assert!(matches!(
        b.add_sync_group(SyncGroupConfig {
            members: vec![InstanceId(3)],
            ..g.clone()
        }),
        Err(DirectorConfigError::UnknownMember { .. })
    ));
    assert!(matches!(
        b.add_sync_group(SyncGroupConfig {
            members: vec![],
            ..g
        }),
        Err(DirectorConfigError::EmptyGroup { .. })
    ));
}

#[test]
fn a_member_failing_at_start_holds_its_group_in_fault() {
    let t0 = Instant::now();
    let mut b = DirectorBuilder::new();
    let mut chk = TrackerConfig::new(
        "chk",
        TrackerKind::Script {
            argv: argv(&["/c"]),
        },
    );
    chk.init_fail = true;
    let chk = b.add_tracker(chk);
    let mut c1 = InstanceConfig::new("A", "eth0", router(1, 255, v4(2)));
    c1.track = vec![TrackRef::new(chk, 0)];
    let i1 = b.add_instance(c1).unwrap();
    let i2 = b
        .add_instance(InstanceConfig::new("B", "eth1", router(2, 100, v4(3))))
        .unwrap();
    let g = b
        .add_sync_group(SyncGroupConfig {
            name: "G".into(),
            members: vec![i1, i2],
            notify: NotifyScripts::default(),
        })
        .unwrap();
    let mut d = b.build(t0).unwrap();
    let o = drain(&mut d);
    // The owner never advertised: it started in Fault.
    assert!(o.transmits.is_empty());
    assert_eq!(
        o.events,
        vec![
            transition(
                i1,
                State::Initialize,
                State::Fault,
                Cause::Router(TransitionReason::TrackingFault(TrackId(chk.0))),
                255
            ),
            transition(
                i2,
                State::Initialize,
                State::Fault,
                Cause::SyncGroup {
                    group: g,
                    member: i1
                },
                100
            ),
            DirectorEvent::GroupTransition {
                group: g,
                state: NotifyState::Fault
            },
        ]
    );
    assert_eq!(d.poll_timeout(), None);
    // The check passes: the owner starts as Master and takes B with it.
    d.handle_track_result(at(t0, 100), chk, TrackResult::Exit(0))
        .unwrap();
    let _ = drain(&mut d);
    assert_eq!(d.state(i1), Some(State::Master));
    assert_eq!(d.state(i2), Some(State::Master));
    assert!(d.holds_vips(i1) && d.holds_vips(i2));
}
