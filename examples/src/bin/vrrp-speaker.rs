//! `vrrp-speaker`: one VRRP instance from the command line (VRRPv2 or v3, IPv4 or IPv6,
//! multicast or unicast), holding its virtual addresses while master.
//!
//! ```text
//! vrrp-speaker --interface eth0 --vrid 51 --priority 150 --vip 10.0.0.100/24
//! vrrp-speaker -i eth0 --vrid 7 --vrrp-version 2 --auth-pass secret --vip 10.0.0.7/32 --peer 10.0.0.2
//! ```
//!
//! `--vmac` runs with a VRRP virtual MAC interface (keepalived's `use_vmac`).
//!
//! Under load, `--realtime-priority 10 --mlock` runs it with SCHED_FIFO and locked memory.
//! At exit it prints its counters, with the lateness it saw (receive-to-processing delay of
//! adverts, timer lateness histogram).
//!
//! Each transition is printed on stdout as one line: `transition FROM -> TO (REASON)`.
//! SIGTERM or SIGINT stops it gracefully: a master sends priority 0 and removes its addresses.
#![deny(unsafe_code)]

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ha_failover::runtime::instance::{self, InstanceConfig, InstanceEvent};
use ha_failover::runtime::sched::{Policy, Realtime};
use ha_vrrp_proto::router::Config as RouterConfig;
use ha_vrrp_proto::wire::{Auth, ChecksumMode, Password};
use ha_vrrp_proto::{AdvertInterval, Centiseconds, Priority, Seconds, Version, VrId};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Parser, Debug)]
#[command(
    name = "vrrp-speaker",
    version = ha_examples::VERSION,
    about = "Run one VRRP instance"
)]
struct Args {
    /// The interface.
    #[arg(short, long)]
    interface: String,
    /// The virtual router id (1-255).
    #[arg(long)]
    vrid: u8,
    /// Priority (1-254; 255 for the address owner).
    #[arg(long, default_value_t = 100)]
    priority: u8,
    /// VRRP version: 2 (IPv4 only) or 3. (`-V`/`--version` print the program version.)
    #[arg(long = "vrrp-version", default_value_t = 3)]
    vrrp_version: u8,
    /// Advertisement interval in milliseconds (whole seconds for v2, 10 ms steps for v3).
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// A virtual address with its prefix length (repeat for more).
    #[arg(long = "vip", required = true)]
    vips: Vec<String>,
    /// A unicast peer (repeat for more); none means multicast.
    #[arg(long = "peer")]
    peers: Vec<IpAddr>,
    /// The source address of adverts (default: the interface's primary / link-local address).
    #[arg(long)]
    source: Option<IpAddr>,
    /// Do not preempt a live master of lower priority.
    #[arg(long)]
    nopreempt: bool,
    /// Defer preemption by this long after startup (milliseconds).
    #[arg(long, default_value_t = 0)]
    preempt_delay_ms: u64,
    /// VRRPv2 simple password (up to 8 bytes).
    #[arg(long)]
    auth_pass: Option<String>,
    /// VRRPv3 over IPv4: checksum without the pseudo-header (keepalived's v3_checksum_as_v2).
    #[arg(long)]
    v3_checksum_as_v2: bool,
    /// This router owns the addresses (priority 255).
    #[arg(long)]
    owner: bool,
    /// Run the VRRP thread with this realtime priority (1-99, SCHED_FIFO; needs
    /// CAP_SYS_NICE). Off by default.
    #[arg(long)]
    realtime_priority: Option<u8>,
    /// With --realtime-priority: SCHED_RR instead of SCHED_FIFO.
    #[arg(long)]
    round_robin: bool,
    /// Lock all memory (mlockall; needs CAP_IPC_LOCK).
    #[arg(long)]
    mlock: bool,
    /// Use a VRRP virtual MAC (keepalived's use_vmac): a macvlan `vrrp.<vrid>` on the
    /// interface with MAC 00:00:5e:00:01:<vrid> (IPv6: 00:00:5e:00:02:<vrid>) holds the VIPs
    /// and sends the adverts and announcements.
    #[arg(long)]
    vmac: bool,
    /// With --vmac: the vmac interface's name instead of `vrrp.<vrid>`.
    #[arg(long, requires = "vmac")]
    vmac_name: Option<String>,
}

fn config(a: &Args) -> Result<InstanceConfig, String> {
    let version = match a.vrrp_version {
        2 => Version::V2,
        3 => Version::V3,
        v => return Err(format!("--vrrp-version {v}: VRRP versions are 2 and 3")),
    };
    let vrid = VrId::new(a.vrid).ok_or("--vrid 0: the VRID is 1..=255")?;
    let mut vips = Vec::new();
    for v in &a.vips {
        let (addr, prefix) = match v.split_once('/') {
            Some((addr, p)) => (
                addr,
                p.parse::<u8>()
                    .map_err(|e| format!("--vip {v}: prefix: {e}"))?,
            ),
            None => (v.as_str(), if v.contains(':') { 128 } else { 32 }),
        };
        let addr: IpAddr = addr.parse().map_err(|e| format!("--vip {v}: {e}"))?;
        vips.push((addr, prefix));
    }
    let v6 = vips.first().is_some_and(|(a, _)| a.is_ipv6());
    let unspecified = if v6 {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
    };
    let mut router = RouterConfig::new(version, vrid, a.source.unwrap_or(unspecified));
    router.priority = Priority(a.priority);
    router.address_owner = a.owner;
    router.advert_interval = match version {
        Version::V2 => {
            if !a.interval_ms.is_multiple_of(1000) || a.interval_ms == 0 || a.interval_ms > 255_000
            {
                return Err(format!(
                    "--interval-ms {}: VRRPv2 needs whole seconds 1..=255",
                    a.interval_ms
                ));
            }
            AdvertInterval::V2(Seconds((a.interval_ms / 1000) as u8))
        }
        Version::V3 => {
            let cs = u16::try_from(a.interval_ms / 10)
                .ok()
                .and_then(Centiseconds::new);
            match cs {
                Some(cs) if a.interval_ms.is_multiple_of(10) && cs.get() > 0 => {
                    AdvertInterval::V3(cs)
                }
                _ => {
                    return Err(format!(
                        "--interval-ms {}: VRRPv3 needs 10..=40950 in steps of 10",
                        a.interval_ms
                    ));
                }
            }
        }
    };
    router.preempt = !a.nopreempt;
    router.preempt_delay = Duration::from_millis(a.preempt_delay_ms);
    router.peers = a.peers.clone();
    let auth = match &a.auth_pass {
        Some(p) => {
            Auth::SimpleText(Password::new(p.as_bytes()).ok_or("--auth-pass: at most 8 bytes")?)
        }
        None => Auth::None,
    };
    Ok(InstanceConfig {
        name: format!("VI_{}", a.vrid),
        interface: a.interface.clone(),
        router,
        vips,
        auth,
        checksum_mode: if a.v3_checksum_as_v2 {
            ChecksumMode::V3AsV2
        } else {
            ChecksumMode::Standard
        },
        announce: ha_arp::Config::default(),
        vmac: a.vmac.then(|| {
            a.vmac_name
                .clone()
                .unwrap_or_else(|| ha_failover::runtime::vmac::default_name(a.vrid))
        }),
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Some(code) = ha_examples::generate::run_if_asked::<Args>() {
        return code;
    }
    let args = Args::parse();
    // The runtime is single-threaded: this thread runs the instance.
    let realtime = Realtime {
        priority: args.realtime_priority,
        policy: if args.round_robin {
            Policy::RoundRobin
        } else {
            Policy::Fifo
        },
        mlock: args.mlock,
    };
    if let Err(e) = realtime.apply() {
        eprintln!("vrrp-speaker: {e}");
        return ExitCode::from(2);
    }
    let cfg = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vrrp-speaker: {e}");
            return ExitCode::from(2);
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (ev_tx, mut ev_rx) = tokio::sync::mpsc::unbounded_channel();
    let printer = tokio::spawn(async move {
        while let Some(ev) = ev_rx.recv().await {
            if let InstanceEvent::Transition {
                event: ha_vrrp_proto::router::Event::Transition { from, to, reason },
                ..
            } = ev
            {
                println!("transition {from:?} -> {to:?} ({reason:?})");
            }
        }
    });
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        let _ = stop_tx.send(true);
        // Keep the sender alive until the instance has finished.
        std::future::pending::<()>().await;
    });
    let result = instance::run(cfg, Some(ev_tx), stop_rx).await;
    let _ = printer.await;
    match result {
        Ok(c) => {
            eprintln!(
                "vrrp-speaker: stopped; sent {} adverts, received {}, dropped {}, announced {}",
                c.sent, c.received, c.dropped, c.announced
            );
            let l = &c.late;
            eprintln!(
                "vrrp-speaker: late: rescued {} adverts (arrived in time, read after the timer's deadline), skipped {} advert ticks, {} reordered, {} overflowed",
                l.rescued, l.skipped_ticks, l.reordered, l.overflow
            );
            eprintln!("vrrp-speaker: receive-to-processing delay: {}", l.rx_delay);
            eprintln!("vrrp-speaker: timer lateness: {}", l.timer_lateness);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vrrp-speaker: {e}");
            ExitCode::FAILURE
        }
    }
}
