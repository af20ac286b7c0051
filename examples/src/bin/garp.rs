//! `garp`: announce addresses on an interface with gratuitous ARP (IPv4) and unsolicited
//! Neighbor Advertisements (IPv6), using `ha_arp`'s announcer and AF_PACKET sender.
//!
//! ```text
//! garp --interface eth0 --address 10.0.0.5 [--address fd00::5] [--count 5] [--interval-ms 200]
//!      [--reply | --broadcast-target] [--mac 02:00:00:00:00:01 | --vrid 51] [--second-burst-ms 5000]
//!      [--refresh-ms 60000 --duration-ms 180000] [--router] [--link-local-source]
//! ```
//!
//! Needs CAP_NET_RAW. Exits 0 after the schedule (or `--duration-ms`) is over, 1 on an error.
#![deny(unsafe_code)]

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use ha_arp::{
    Announcer, Config, GarpForm, MacAddr, NaSource, Pacing, Sender, SenderError, SourceMac,
};

/// Announce addresses with gratuitous ARP / unsolicited Neighbor Advertisements.
#[derive(Debug, Parser)]
#[command(name = "garp", version = ha_examples::VERSION)]
struct Args {
    /// Interface to send on (name, or index with --ifindex).
    #[arg(long, short = 'i')]
    interface: String,
    /// Address to announce (IPv4 or IPv6); repeat for several.
    #[arg(long = "address", short = 'a', required = true)]
    addresses: Vec<IpAddr>,
    /// Frames per address in the first burst.
    #[arg(long, short = 'c', default_value_t = 5)]
    count: u32,
    /// Spacing of the frames of a burst, in milliseconds.
    #[arg(long, default_value_t = 200)]
    interval_ms: u64,
    /// Start a second burst this many milliseconds after the first (keepalived garp_master_delay).
    #[arg(long)]
    second_burst_ms: Option<u64>,
    /// Refresh every this many milliseconds (keepalived garp_master_refresh); needs --duration-ms.
    #[arg(long, requires = "duration_ms")]
    refresh_ms: Option<u64>,
    /// Stop after this many milliseconds even if refreshing.
    #[arg(long)]
    duration_ms: Option<u64>,
    /// Minimum gap between two frames of one family on the interface (garp_interval).
    #[arg(long, default_value_t = 0)]
    pace_ms: u64,
    /// Send ARP replies (target MAC = sender MAC, like iputils `arping -A`) instead of requests.
    #[arg(long)]
    reply: bool,
    /// Send requests with target MAC ff:ff:ff:ff:ff:ff (what keepalived 2.x sends) instead of zero.
    #[arg(long, conflicts_with = "reply")]
    broadcast_target: bool,
    /// Source MAC to announce instead of the interface's.
    #[arg(long, conflicts_with = "vrid")]
    mac: Option<MacAddr>,
    /// Announce the VRRP virtual MAC of this VRID (00-00-5E-00-01/02-{VRID}, RFC 9568 7.3).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=255))]
    vrid: Option<u8>,
    /// Set the Router flag in Neighbor Advertisements.
    #[arg(long)]
    router: bool,
    /// Use the interface's link-local address as the NA source instead of the announced address.
    #[arg(long)]
    link_local_source: bool,
}

fn main() -> ExitCode {
    if let Some(code) = ha_examples::generate::run_if_asked::<Args>() {
        return code;
    }
    let args = Args::parse();
    match run(&args) {
        Ok(sent) => {
            println!("garp: sent {sent} frames on {}", args.interface);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("garp: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<usize, SenderError> {
    let sender = Sender::bind(args.interface.as_str())?;
    let iface = sender.interface()?;
    let mac = match (args.mac, args.vrid) {
        (Some(m), _) => SourceMac::Custom(m),
        (None, Some(vrid)) => SourceMac::VirtualRouter { vrid },
        (None, None) => SourceMac::Interface,
    };
    let config = Config {
        repeat: args.count,
        interval: Duration::from_millis(args.interval_ms),
        second_burst_delay: args.second_burst_ms.map(Duration::from_millis),
        refresh: args.refresh_ms.map(Duration::from_millis),
        refresh_repeat: 1,
        arp_form: if args.reply {
            GarpForm::Reply
        } else if args.broadcast_target {
            GarpForm::RequestBroadcastTarget
        } else {
            GarpForm::Request
        },
        na_router: args.router,
        na_source: if args.link_local_source {
            NaSource::LinkLocal
        } else {
            NaSource::Target
        },
    };
    let pace = Duration::from_millis(args.pace_ms);
    let mut announcer: Announcer<()> = Announcer::new(
        config,
        Pacing {
            arp_interval: pace,
            na_interval: pace,
        },
    );
    let start = Instant::now();
    let deadline = args.duration_ms.map(|ms| start + Duration::from_millis(ms));
    announcer.announce(start, (), &iface, &args.addresses, mac);
    let mut sent = 0;
    loop {
        while let Some(tx) = announcer.poll_transmit() {
            sender.send(tx.bytes)?;
            sent += 1;
            println!(
                "{:>8.3}s {} {} from {}",
                start.elapsed().as_secs_f64(),
                if tx.address.is_ipv4() {
                    "gratuitous ARP"
                } else {
                    "unsolicited NA"
                },
                tx.address,
                tx.repr.eth_src()
            );
        }
        let Some(next) = announcer.poll_timeout() else {
            break;
        };
        if deadline.is_some_and(|d| next > d) {
            break;
        }
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        announcer.handle_timeout(Instant::now());
    }
    Ok(sent)
}
