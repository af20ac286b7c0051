//! `ipvsctl`: the kernel's IPVS table, two ways.
//!
//! **ipvsadm's command line**, so that an ipvsadm user's commands and scripts work unchanged
//! (the output formats are ipvsadm 1.31's, byte for byte):
//!
//! ```text
//! ipvsctl -Ln [--stats|--rate|--thresholds|--persistent-conn] [--exact] [-t|-u|-f SERVICE]
//! ipvsctl -L --timeout | -L --daemon
//! ipvsctl -Sn > rules          # ipvsadm -S's format
//! ipvsctl -R < rules           # checked whole first: a bad line changes nothing
//! ipvsctl -A -t 10.0.0.1:80 -s rr [-p [T]] [-M MASK]   |  -E ...  |  -D -t 10.0.0.1:80
//! ipvsctl -a -t 10.0.0.1:80 -r 10.0.1.1 [-g|-i|-m] [-w W] [-x U] [-y L]  |  -e ...  |  -d ...
//! ipvsctl -Z [-t|-u|-f SERVICE]  |  -C  |  --set TCP TCPFIN UDP
//! ipvsctl --start-daemon master|backup [--mcast-interface IF] [--syncid N]  |  --stop-daemon ROLE
//! ```
//!
//! **Desired state** from a TOML file (`ha_ipvs::spec`: `[[service]]` tables with
//! `[[service.destination]]` entries), reconciled with the fewest operations:
//!
//! ```text
//! ipvsctl apply lb.toml [--dry-run]
//! ipvsctl list [--stats] [--json]
//! ipvsctl clear
//! ```
//!
//! `-R` differs from ipvsadm's in one way, on purpose: the whole input is parsed and checked
//! before anything is sent (ipvsadm stops at a bad line with the lines before it applied), and
//! it is applied as one reconcile: each service of the input gets exactly the input's settings
//! and destinations (ipvsadm fails on a service that exists already); services not in the
//! input are left alone, as with ipvsadm.
//!
//! Without `-n`, addresses and ports are shown by name from `/etc/hosts` and `/etc/services`
//! (the `files` sources of ipvsadm's lookups; DNS is not asked).
#![deny(unsafe_code)]

use clap::{Parser, Subcommand, ValueEnum};
use ha_ipvs::spec::StateSpec;
use ha_ipvs::{
    Client, DaemonRole, Destination, DestinationEntry, Family, Forward, Persistence, Protocol,
    Scheduler, Service, ServiceEntry, ServiceKey, SyncDaemon, Timeouts, Tunnel, TunnelType,
    VirtualService,
};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ipvsctl",
    version = ha_examples::VERSION,
    about = "The kernel's IPVS table: ipvsadm's commands and formats, or desired state from a TOML file",
    args_conflicts_with_subcommands = true,
    after_help = "With no command, the table is listed (as `ipvsadm` with no arguments does)."
)]
struct Args {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    command: AdmCommand,
    #[command(flatten)]
    opts: AdmOptions,
}

#[derive(Subcommand)]
enum Cmd {
    /// Reconcile the kernel's table with a desired-state TOML file.
    Apply {
        /// The desired state.
        file: std::path::PathBuf,
        /// Print the operations without sending them.
        #[arg(long)]
        dry_run: bool,
    },
    /// List services and destinations (as `ipvsctl -Ln`).
    List {
        /// Show counters (as `-Ln --stats`).
        #[arg(long)]
        stats: bool,
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Delete every service (as `ipvsctl -C`).
    Clear,
}

/// A sync daemon's role.
#[derive(Clone, Copy, ValueEnum)]
enum Role {
    /// Sends connection state.
    Master,
    /// Receives connection state.
    Backup,
}

impl From<Role> for DaemonRole {
    fn from(r: Role) -> DaemonRole {
        match r {
            Role::Master => DaemonRole::Master,
            Role::Backup => DaemonRole::Backup,
        }
    }
}

/// ipvsadm's commands: at most one.
#[derive(clap::Args)]
#[group(id = "adm_command", multiple = false)]
#[command(next_help_heading = "ipvsadm commands")]
struct AdmCommand {
    /// Add a virtual service.
    #[arg(short = 'A', long)]
    add_service: bool,
    /// Edit a virtual service.
    #[arg(short = 'E', long)]
    edit_service: bool,
    /// Delete a virtual service.
    #[arg(short = 'D', long)]
    delete_service: bool,
    /// Clear the whole table.
    #[arg(short = 'C', long)]
    clear: bool,
    /// Restore rules (ipvsadm -S's format) from standard input, checked whole first.
    #[arg(short = 'R', long)]
    restore: bool,
    /// Save the rules to standard output (ipvsadm -S's format).
    #[arg(short = 'S', long)]
    save: bool,
    /// Add a real server to a virtual service.
    #[arg(short = 'a', long)]
    add_server: bool,
    /// Edit a real server.
    #[arg(short = 'e', long)]
    edit_server: bool,
    /// Delete a real server.
    #[arg(short = 'd', long)]
    delete_server: bool,
    /// List the table (or one service with -t/-u/-f).
    #[arg(short = 'L', short_alias = 'l', long)]
    list: bool,
    /// Zero the counters of one service, or of all.
    #[arg(short = 'Z', long)]
    zero: bool,
    /// Set the connection timeouts in seconds (0 leaves one unchanged).
    #[arg(long, num_args = 3, value_names = ["TCP", "TCPFIN", "UDP"])]
    set: Option<Vec<u32>>,
    /// Start the connection sync daemon.
    #[arg(long, value_name = "ROLE")]
    start_daemon: Option<Role>,
    /// Stop the connection sync daemon.
    #[arg(long, value_name = "ROLE")]
    stop_daemon: Option<Role>,
}

/// ipvsadm's options.
#[derive(clap::Args)]
#[command(next_help_heading = "ipvsadm options")]
struct AdmOptions {
    /// TCP service ADDR[:PORT] (IPv6 as [ADDR]:PORT).
    #[arg(short = 't', long, value_name = "SERVICE", group = "service")]
    tcp_service: Option<String>,
    /// UDP service ADDR[:PORT].
    #[arg(short = 'u', long, value_name = "SERVICE", group = "service")]
    udp_service: Option<String>,
    /// SCTP service ADDR[:PORT].
    #[arg(long, value_name = "SERVICE", group = "service")]
    sctp_service: Option<String>,
    /// Firewall-mark service.
    #[arg(short = 'f', long, value_name = "MARK", group = "service")]
    fwmark_service: Option<u32>,
    /// The firewall-mark service is IPv6.
    #[arg(short = '6', long)]
    ipv6: bool,
    /// Scheduler (rr, wlc, sh, mh, ...; default wlc).
    #[arg(short = 's', long)]
    scheduler: Option<String>,
    /// Persistent service, with a timeout in seconds (default 300).
    #[arg(short = 'p', long, value_name = "TIMEOUT", num_args = 0..=1, default_missing_value = "300")]
    persistent: Option<u32>,
    /// Persistence granularity: an IPv4 netmask, or an IPv6 prefix length.
    #[arg(short = 'M', long)]
    netmask: Option<String>,
    /// One-packet scheduling (UDP).
    #[arg(short = 'o', long)]
    ops: bool,
    /// Persistence engine (e.g. sip).
    #[arg(long, value_name = "ENGINE")]
    pe: Option<String>,
    /// Scheduler flags: sh-fallback, sh-port, mh-fallback, mh-port, flag-1..3 (comma-separated).
    #[arg(short = 'b', long, value_name = "FLAGS")]
    sched_flags: Option<String>,
    /// Real server ADDR[:PORT].
    #[arg(short = 'r', long, value_name = "SERVER")]
    real_server: Option<String>,
    /// Direct routing (the default).
    #[arg(short = 'g', long, group = "forward")]
    gatewaying: bool,
    /// Tunnelling.
    #[arg(short = 'i', long, group = "forward")]
    ipip: bool,
    /// Masquerading (NAT).
    #[arg(short = 'm', long, group = "forward")]
    masquerading: bool,
    /// Tunnel type: ipip, gue or gre.
    #[arg(long, value_name = "TYPE")]
    tun_type: Option<String>,
    /// GUE tunnel port.
    #[arg(long, value_name = "PORT")]
    tun_port: Option<u16>,
    /// Tunnel without checksums.
    #[arg(long)]
    tun_nocsum: bool,
    /// Tunnel with checksums.
    #[arg(long)]
    tun_csum: bool,
    /// Tunnel with remote checksum offload.
    #[arg(long)]
    tun_remcsum: bool,
    /// Real server weight (default 1).
    #[arg(short = 'w', long)]
    weight: Option<u32>,
    /// Upper connection threshold (0: none).
    #[arg(short = 'x', long, value_name = "UTHRESHOLD")]
    u_threshold: Option<u32>,
    /// Lower connection threshold (0: none).
    #[arg(short = 'y', long, value_name = "LTHRESHOLD")]
    l_threshold: Option<u32>,
    /// The sync daemon's multicast interface (default eth0).
    #[arg(long, value_name = "IF")]
    mcast_interface: Option<String>,
    /// The sync daemon's id (0-255).
    #[arg(long)]
    syncid: Option<u32>,
    /// The sync daemon's maximum message length.
    #[arg(long, value_name = "LENGTH")]
    sync_maxlen: Option<u16>,
    /// The sync daemon's multicast group.
    #[arg(long, value_name = "ADDR")]
    mcast_group: Option<IpAddr>,
    /// The sync daemon's multicast port.
    #[arg(long, value_name = "PORT")]
    mcast_port: Option<u16>,
    /// The sync daemon's multicast TTL.
    #[arg(long, value_name = "TTL")]
    mcast_ttl: Option<u8>,
    /// Numeric output: no names for addresses and ports.
    #[arg(short = 'n', long, help_heading = "ipvsadm list options")]
    numeric: bool,
    /// List the connection timeouts.
    #[arg(long, help_heading = "ipvsadm list options")]
    timeout: bool,
    /// List the sync daemons.
    #[arg(long, help_heading = "ipvsadm list options")]
    daemon: bool,
    /// Counters.
    #[arg(long, help_heading = "ipvsadm list options")]
    stats: bool,
    /// Rates.
    #[arg(long, help_heading = "ipvsadm list options")]
    rate: bool,
    /// Connection thresholds.
    #[arg(long, help_heading = "ipvsadm list options")]
    thresholds: bool,
    /// Persistent connection templates.
    #[arg(long, help_heading = "ipvsadm list options")]
    persistent_conn: bool,
    /// Exact numbers (no K/M/G suffixes).
    #[arg(short = 'X', long, help_heading = "ipvsadm list options")]
    exact: bool,
    /// In the kernel's order.
    #[arg(long, help_heading = "ipvsadm list options")]
    nosort: bool,
    /// Sorted (the default).
    #[arg(long, help_heading = "ipvsadm list options")]
    sort: bool,
}

/// A usage error (exit 2), as opposed to a failure of the kernel or of the input (exit 1).
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn usage<T>(msg: impl Into<String>) -> Res<T> {
    Err(Box::new(Usage(msg.into())))
}

fn main() -> ExitCode {
    if let Some(code) = ha_examples::generate::run_if_asked::<Args>() {
        return code;
    }
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ipvsctl: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let r = match args.cmd {
        Some(cmd) => rt.block_on(run(cmd)),
        None => rt.block_on(run_adm(&args.command, &args.opts)),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ipvsctl: {e}");
            if e.is::<Usage>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

async fn run(cmd: Cmd) -> Res<ExitCode> {
    match cmd {
        Cmd::Apply { file, dry_run } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("reading {}: {e}", file.display()))?;
            let spec: StateSpec =
                toml::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
            let desired = spec
                .to_model()
                .map_err(|e| format!("{}: {e}", file.display()))?;
            let mut client = Client::connect().await?;
            if dry_run {
                let current = client.state().await?;
                let ops = ha_ipvs::plan(&current, &desired)?;
                for op in &ops {
                    println!("{op}");
                }
                println!("{} operation(s) would be sent", ops.len());
                return Ok(ExitCode::SUCCESS);
            }
            reconcile(&mut client, &desired, true).await
        }
        Cmd::List { stats, json } => {
            let mut client = Client::connect().await?;
            if json {
                let mut dump = client.dump().await?;
                sort_dump(&mut dump);
                println!("{}", serde_json::to_string_pretty(&dump)?);
                return Ok(ExitCode::SUCCESS);
            }
            let format = Format {
                numeric: true,
                stats,
                ..Format::default()
            };
            print!("{}", list_all(&mut client, &format).await?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Clear => {
            let mut client = Client::connect().await?;
            client.flush().await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Reconciles and prints what was done (every operation when `verbose`, failures always).
async fn reconcile(
    client: &mut Client,
    desired: &[VirtualService],
    verbose: bool,
) -> Res<ExitCode> {
    let done = client.reconcile(desired).await?;
    for (op, r) in done.ops.iter().zip(&done.report.results) {
        match r {
            Ok(()) if verbose => println!("ok      {op}"),
            Ok(()) => {}
            Err(e) => eprintln!("FAILED  {e}"),
        }
    }
    let failed = done.ops.len() - done.report.succeeded();
    if verbose {
        println!(
            "{} operation(s), {} succeeded, {failed} failed",
            done.ops.len(),
            done.report.succeeded()
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

// ---------------------------------------------------------------------------------------
// ipvsadm's command line

/// The service that -t/-u/--sctp-service/-f name, if any.
fn service_key(o: &AdmOptions) -> Res<Option<ServiceKey>> {
    let inet = |protocol, s: &str| -> Res<Option<ServiceKey>> {
        let addr = parse_addr_port(s, protocol, None)?;
        Ok(Some(ServiceKey::Inet { protocol, addr }))
    };
    if let Some(s) = &o.tcp_service {
        return inet(Protocol::Tcp, s);
    }
    if let Some(s) = &o.udp_service {
        return inet(Protocol::Udp, s);
    }
    if let Some(s) = &o.sctp_service {
        return inet(Protocol::Sctp, s);
    }
    if let Some(m) = o.fwmark_service {
        if m == 0 {
            return usage("illegal virtual server firewall-mark 0");
        }
        let family = if o.ipv6 { Family::Inet6 } else { Family::Inet };
        return Ok(Some(ServiceKey::Fwmark { mark: m, family }));
    }
    Ok(None)
}

fn need_service(o: &AdmOptions) -> Res<ServiceKey> {
    match service_key(o)? {
        Some(k) => Ok(k),
        None => usage("a service is needed: -t|-u|--sctp-service ADDR:PORT or -f MARK"),
    }
}

/// `ADDR[:PORT]`, `[V6ADDR][:PORT]`; a port may be a name from /etc/services. Without a port:
/// `default_port`, else 0.
fn parse_addr_port(s: &str, protocol: Protocol, default_port: Option<u16>) -> Res<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, p)) => match p.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return usage(format!("illegal address {s:?}")),
            },
            None => return usage(format!("illegal address {s:?}")),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            _ => (s, None),
        }
    };
    let ip: IpAddr = match host.parse() {
        Ok(ip) => ip,
        Err(_) => match names().host_addr(host) {
            Some(ip) => ip,
            None => {
                return usage(format!(
                    "illegal address {s:?} (host names: /etc/hosts only)"
                ));
            }
        },
    };
    let port = match port {
        None => default_port.unwrap_or(0),
        Some(p) => match p.parse::<u16>() {
            Ok(n) => n,
            Err(_) => match names().port_of(p, protocol) {
                Some(n) => n,
                None => return usage(format!("illegal port {p:?} in {s:?}")),
            },
        },
    };
    Ok(SocketAddr::new(ip, port))
}

/// The service that -A/-E describe.
fn service_from(o: &AdmOptions, key: ServiceKey) -> Res<Service> {
    let scheduler = Scheduler::from_name(o.scheduler.as_deref().unwrap_or("wlc"));
    let mut s = Service::new(key, scheduler);
    if let Some(flags) = &o.sched_flags {
        for f in flags.split(',') {
            match f {
                "sh-fallback" | "mh-fallback" | "flag-1" => s.sched_flags.fallback = true,
                "sh-port" | "mh-port" | "flag-2" => s.sched_flags.port = true,
                "flag-3" => s.sched_flags.flag3 = true,
                other => return usage(format!("unknown scheduler flag {other:?}")),
            }
        }
    }
    s.one_packet = o.ops;
    s.pe_name = o.pe.clone();
    match (o.persistent, &o.netmask) {
        (None, Some(_)) => return usage("-M needs a persistent service (-p)"),
        (None, None) => {}
        (Some(timeout), mask) => {
            let netmask = match (mask, key.family()) {
                (None, Family::Inet) => 32,
                (None, Family::Inet6) => 128,
                (Some(m), Family::Inet) => {
                    let ip: Ipv4Addr = m
                        .parse()
                        .map_err(|_| Usage(format!("illegal netmask {m:?}")))?;
                    let bits = u32::from(ip);
                    if bits.leading_ones() + bits.trailing_zeros() != 32 {
                        return usage(format!("illegal netmask {m:?}: not contiguous"));
                    }
                    bits.leading_ones() as u8
                }
                (Some(m), Family::Inet6) => match m.parse::<u8>() {
                    Ok(p) if p <= 128 => p,
                    _ => return usage(format!("illegal IPv6 prefix length {m:?}")),
                },
            };
            s.persistence = Some(Persistence { timeout, netmask });
        }
    }
    if let Err(e) = ipvsadm_checks(&s) {
        return usage(e);
    }
    Ok(s)
}

/// What ipvsadm refuses in a service before the kernel sees it.
fn ipvsadm_checks(s: &Service) -> Result<(), String> {
    if let ServiceKey::Inet { addr, protocol } = s.key {
        if addr.port() == 0 && s.persistence.is_none() {
            return Err("Zero port specified for non-persistent service".into());
        }
        if s.one_packet && protocol != Protocol::Udp {
            return Err("One-Packet Scheduling is only for UDP virtual services".into());
        }
    }
    Ok(())
}

/// The real server that -a/-e describe.
fn destination_from(o: &AdmOptions, key: &ServiceKey) -> Res<Destination> {
    let (protocol, service_port) = match key {
        ServiceKey::Inet { protocol, addr } => (*protocol, addr.port()),
        ServiceKey::Fwmark { .. } => (Protocol::Tcp, 0),
    };
    let Some(r) = &o.real_server else {
        return usage("a real server is needed: -r ADDR[:PORT]");
    };
    let mut addr = parse_addr_port(r, protocol, Some(service_port))?;
    let tunnel_opts =
        o.tun_type.is_some() || o.tun_port.is_some() || o.tun_nocsum || o.tun_csum || o.tun_remcsum;
    let forward = if o.masquerading {
        Forward::Masq
    } else if o.ipip {
        let mut t = Tunnel::default();
        if let Some(kind) = &o.tun_type {
            t.kind = match kind.as_str() {
                "ipip" => TunnelType::Ipip,
                "gue" => TunnelType::Gue,
                "gre" => TunnelType::Gre,
                other => return usage(format!("unknown tunnel type {other:?}")),
            };
        }
        if let Some(p) = o.tun_port {
            t.port = p;
        }
        t.csum = o.tun_csum;
        t.remcsum = o.tun_remcsum;
        Forward::Tunnel(t)
    } else {
        Forward::Route
    };
    if tunnel_opts && !o.ipip {
        return usage("Tunnel options conflict with forward method");
    }
    // As ipvsadm: direct routing and tunnels reach the real server on the service's port.
    if matches!(key, ServiceKey::Inet { .. })
        && matches!(forward, Forward::Route | Forward::Tunnel(_))
    {
        addr.set_port(service_port);
    }
    if Family::of(addr.ip()) != key.family() && !matches!(forward, Forward::Tunnel(_)) {
        return usage("Different address family is allowed only for tunneling servers");
    }
    let mut d = Destination::new(addr, forward, o.weight.unwrap_or(1));
    d.upper_threshold = o.u_threshold.unwrap_or(0);
    d.lower_threshold = o.l_threshold.unwrap_or(0);
    Ok(d)
}

fn format_of(o: &AdmOptions) -> Format {
    Format {
        numeric: o.numeric,
        exact: o.exact,
        stats: o.stats,
        rate: o.rate,
        thresholds: o.thresholds,
        persistent_conn: o.persistent_conn,
        nosort: o.nosort && !o.sort,
        rule: false,
    }
}

async fn run_adm(c: &AdmCommand, o: &AdmOptions) -> Res<ExitCode> {
    let mut client = Client::connect().await?;
    if c.save {
        let format = Format {
            rule: true,
            ..format_of(o)
        };
        print!("{}", list_all(&mut client, &format).await?);
    } else if c.restore {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        let rules = parse_restore(&text)?;
        let current = client.state().await?;
        let desired = merge(current, rules);
        return reconcile(&mut client, &desired, false).await;
    } else if c.clear {
        client.flush().await?;
    } else if c.add_service || c.edit_service {
        let s = service_from(o, need_service(o)?)?;
        if c.add_service {
            client.add_service(&s).await?;
        } else {
            client.edit_service(&s).await?;
        }
    } else if c.delete_service {
        client.del_service(&need_service(o)?).await?;
    } else if c.add_server || c.edit_server {
        let key = need_service(o)?;
        let d = destination_from(o, &key)?;
        if c.add_server {
            client.add_dest(&key, &d).await?;
        } else {
            client.edit_dest(&key, &d).await?;
        }
    } else if c.delete_server {
        let key = need_service(o)?;
        let d = destination_from(o, &key)?;
        client.del_dest(&key, d.addr).await?;
    } else if c.zero {
        client.zero(service_key(o)?.as_ref()).await?;
    } else if let Some(t) = &c.set {
        let mut timeouts = Timeouts::default();
        (timeouts.tcp, timeouts.tcp_fin, timeouts.udp) = (t[0], t[1], t[2]);
        client.set_timeouts(&timeouts).await?;
    } else if let Some(role) = c.start_daemon {
        let mut d = SyncDaemon::new(
            role.into(),
            o.mcast_interface.as_deref().unwrap_or("eth0"),
            o.syncid.unwrap_or(0),
        );
        d.max_len = o.sync_maxlen;
        d.mcast_group = o.mcast_group;
        d.mcast_port = o.mcast_port;
        d.mcast_ttl = o.mcast_ttl;
        client.start_daemon(&d).await?;
    } else if let Some(role) = c.stop_daemon {
        client.stop_daemon(role.into()).await?;
    } else {
        // -L, or nothing: list.
        let listing = [o.stats, o.rate, o.thresholds, o.persistent_conn];
        if (o.timeout || o.daemon) && listing.iter().any(|b| *b) {
            return usage("options conflicts in the list command");
        }
        if !c.list && (o.timeout || o.daemon || listing.iter().any(|b| *b)) {
            return usage("list options need -L");
        }
        let format = format_of(o);
        let out = if let Some(key) = service_key(o)? {
            list_service(&mut client, &key, &format).await?
        } else if o.timeout {
            let t = client.timeouts().await?;
            format!(
                "Timeout (tcp tcpfin udp): {} {} {}\n",
                t.tcp, t.tcp_fin, t.udp
            )
        } else if o.daemon {
            daemons(&client.daemons().await?)
        } else {
            list_all(&mut client, &format).await?
        };
        print!("{out}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The rules of a `-R` input, every line checked (syntax, then each service and real server
/// as the kernel would judge it): an error names the line.
fn parse_restore(text: &str) -> Result<Vec<VirtualService>, String> {
    let rules = ha_ipvs::ipvsadm::parse_rules(text).map_err(|e| e.to_string())?;
    // Where each service and real server was given, to name the line of a bad one.
    let mut service_line: HashMap<ServiceKey, usize> = HashMap::new();
    let mut server_line: HashMap<(ServiceKey, SocketAddr), usize> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("-A ") {
            if let Ok(v) = ha_ipvs::ipvsadm::parse_rules(&format!("-A {rest}"))
                && let Some(vs) = v.first()
            {
                service_line.entry(vs.service.key).or_insert(i + 1);
            }
        } else if let Some(rest) = t.strip_prefix("-a ") {
            // The line alone, behind a service line of its own key.
            if let Ok(v) = ha_ipvs::ipvsadm::parse_rules(&format!("-A {rest}\n-a {rest}"))
                && let Some(d) = v.first().and_then(|vs| vs.destinations.first())
            {
                server_line.insert((v[0].service.key, d.addr), i + 1);
            }
        }
    }
    let line_err = |line: Option<&usize>, what: String| match line {
        Some(n) => format!(
            "ipvsadm rules line {n}: {what}: {:?}",
            text.lines().nth(n - 1).unwrap_or("")
        ),
        None => format!("ipvsadm rules: {what}"),
    };
    let mut seen = HashMap::new();
    for vs in &rules {
        let key = vs.service.key;
        if seen.insert(key, ()).is_some() {
            return Err(line_err(
                service_line.get(&key),
                format!("service {key} is given twice"),
            ));
        }
        if let Err(e) = vs.service.validate() {
            return Err(line_err(service_line.get(&key), e.to_string()));
        }
        if let Err(e) = ipvsadm_checks(&vs.service) {
            return Err(line_err(service_line.get(&key), e));
        }
        let mut addrs = HashMap::new();
        for d in &vs.destinations {
            let line = server_line.get(&(key, d.addr));
            if let Err(e) = d.validate(&key) {
                return Err(line_err(line, e.to_string()));
            }
            if addrs.insert(d.addr, ()).is_some() {
                return Err(line_err(
                    line,
                    format!("real server {} of {key} is given twice", d.addr),
                ));
            }
        }
    }
    Ok(rules)
}

/// The table after a restore: the input's services as the input says, the others unchanged.
fn merge(current: Vec<VirtualService>, rules: Vec<VirtualService>) -> Vec<VirtualService> {
    let mut out: Vec<VirtualService> = current
        .into_iter()
        .filter(|c| !rules.iter().any(|r| r.service.key == c.service.key))
        .collect();
    out.extend(rules);
    out
}

// ---------------------------------------------------------------------------------------
// ipvsadm's output formats (ipvsadm 1.31: print_title, print_service_entry, list_daemon)

/// What `-L`/`-S` print.
#[derive(Debug, Clone, Copy, Default)]
struct Format {
    numeric: bool,
    exact: bool,
    stats: bool,
    rate: bool,
    thresholds: bool,
    persistent_conn: bool,
    nosort: bool,
    /// `-S`: rules instead of a table.
    rule: bool,
}

/// ipvsadm's order: firewall mark, family, protocol, address, port.
fn service_order(k: &ServiceKey) -> (u32, u16, u16, [u8; 16], u16) {
    match k {
        ServiceKey::Inet { protocol, addr } => (
            0,
            Family::of(addr.ip()).number(),
            protocol.number(),
            ha_ipvs::model::ip16(addr.ip()),
            addr.port(),
        ),
        ServiceKey::Fwmark { mark, family } => (*mark, family.number(), 0, [0; 16], 0),
    }
}

fn sort_dump(dump: &mut [(ServiceEntry, Vec<DestinationEntry>)]) {
    dump.sort_by_key(|(s, _)| service_order(&s.service.key));
    for (_, d) in dump {
        d.sort_by_key(|e| {
            (
                ha_ipvs::model::ip16(e.destination.addr.ip()),
                e.destination.addr.port(),
            )
        });
    }
}

async fn list_all(client: &mut Client, f: &Format) -> Res<String> {
    let mut out = String::new();
    if !f.rule {
        let info = client.info().await?;
        let _ = writeln!(
            out,
            "IP Virtual Server version {} (size={})",
            info.version_string(),
            info.conn_tab_size
        );
    }
    let mut dump = client.dump().await?;
    if !f.nosort {
        sort_dump(&mut dump);
    }
    out += &title(f);
    for (s, d) in &dump {
        out += &service_entry(s, d, f, names());
    }
    Ok(out)
}

async fn list_service(client: &mut Client, key: &ServiceKey, f: &Format) -> Res<String> {
    let Some(s) = client.service(key).await? else {
        return Err(format!("No such service: {key}").into());
    };
    let mut d = client.destinations(key).await?;
    if !f.nosort {
        d.sort_by_key(|e| {
            (
                ha_ipvs::model::ip16(e.destination.addr.ip()),
                e.destination.addr.port(),
            )
        });
    }
    Ok(title(f) + &service_entry(&s, &d, f, names()))
}

fn title(f: &Format) -> String {
    let head = |cols: String| format!("{cols}\n  -> RemoteAddress:Port\n");
    if f.rule {
        String::new()
    } else if f.stats {
        head(format!(
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
        ))
    } else if f.rate {
        head(format!(
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
        ))
    } else if f.thresholds {
        head(format!(
            "{:<33} {:<10} {:<10} {:<10} {:<10}",
            "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        ))
    } else if f.persistent_conn {
        head(format!(
            "{:<33} {:<9} {:<11} {:<10} {:<10}",
            "Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn"
        ))
    } else {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n".into()
    }
}

/// ipvsadm's `print_largenum`: 9 columns, K/M/G/T above 100 million unless exact.
fn largenum(i: u64, exact: bool) -> String {
    if exact {
        let s = i.to_string();
        let w = if s.len() <= 8 { 9 } else { s.len() + 1 };
        return format!("{i:>w$}");
    }
    if i < 100_000_000 {
        format!("{i:>9}")
    } else if i < 1_000_000_000 {
        format!("{:>8}K", i / 1_000)
    } else if i < 100_000_000_000 {
        format!("{:>8}M", i / 1_000_000)
    } else if i < 100_000_000_000_000 {
        format!("{:>8}G", i / 1_000_000_000)
    } else {
        format!("{:>8}T", i / 1_000_000_000_000)
    }
}

/// `ADDR:PORT` (`[ADDR]:PORT` for IPv6), by name unless numeric.
fn addr_port(addr: SocketAddr, protocol: Protocol, f: &Format, n: &Names) -> String {
    let (ip, port) = if f.numeric {
        (addr.ip().to_string(), addr.port().to_string())
    } else {
        (
            n.host_name(addr.ip())
                .map(str::to_owned)
                .unwrap_or_else(|| addr.ip().to_string()),
            n.port_name(addr.port(), protocol)
                .map(str::to_owned)
                .unwrap_or_else(|| addr.port().to_string()),
        )
    };
    match addr {
        SocketAddr::V4(_) => format!("{ip}:{port}"),
        SocketAddr::V6(_) => format!("[{ip}]:{port}"),
    }
}

/// `print_sched_flags`: the flag names for the scheduler, comma-separated.
fn sched_flags(s: &Service) -> String {
    let f = &s.sched_flags;
    let mut v = Vec::new();
    match s.scheduler.name() {
        p @ ("sh" | "mh") => {
            if f.fallback {
                v.push(format!("{p}-fallback"));
            }
            if f.port {
                v.push(format!("{p}-port"));
            }
        }
        _ => {
            for (on, name) in [
                (f.fallback, "flag-1"),
                (f.port, "flag-2"),
                (f.flag3, "flag-3"),
            ] {
                if on {
                    v.push(name.to_owned());
                }
            }
        }
    }
    v.join(",")
}

fn truncate(mut s: String, n: usize) -> String {
    if s.len() > n {
        let mut cut = n;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// One service and its real servers, as `print_service_entry` prints them.
fn service_entry(se: &ServiceEntry, dests: &[DestinationEntry], f: &Format, n: &Names) -> String {
    let s = &se.service;
    let v6 = s.key.family() == Family::Inet6;
    let protocol = match s.key {
        ServiceKey::Inet { protocol, .. } => protocol,
        ServiceKey::Fwmark { .. } => Protocol::Tcp,
    };
    let svc_name = match s.key {
        ServiceKey::Fwmark { mark, family } => match (f.rule, family) {
            (true, Family::Inet6) => format!("-f {mark} -6"),
            (true, Family::Inet) => format!("-f {mark}"),
            (false, Family::Inet6) => format!("FWM  {mark} IPv6"),
            (false, Family::Inet) => format!("FWM  {mark}"),
        },
        ServiceKey::Inet { protocol, addr } => {
            let name = addr_port(addr, protocol, f, n);
            if f.rule {
                let opt = match protocol {
                    Protocol::Tcp => "-t",
                    Protocol::Udp => "-u",
                    Protocol::Sctp => "--sctp-service",
                    // A protocol ipvsadm has no option for: a rule `-R` refuses loudly.
                    _ => "-?",
                };
                format!("{opt} {name}")
            } else {
                let full = format!("{:<4} {name}", protocol.to_string());
                if v6 { full } else { truncate(full, 33) }
            }
        }
    };
    let flagged = s.sched_flags.fallback || s.sched_flags.port || s.sched_flags.flag3;
    let mask = |p: &Persistence| -> Option<String> {
        match s.key.family() {
            Family::Inet if p.netmask != 32 => {
                let m = if p.netmask == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(p.netmask.min(32)))
                };
                Some(Ipv4Addr::from(m).to_string())
            }
            Family::Inet6 if p.netmask != 128 => Some(p.netmask.to_string()),
            _ => None,
        }
    };
    let mut out = String::new();
    if f.rule {
        let _ = write!(out, "-A {svc_name} -s {}", s.scheduler);
        if let Some(p) = &s.persistence {
            let _ = write!(out, " -p {}", p.timeout);
            if let Some(m) = mask(p) {
                let _ = write!(out, " -M {m}");
            }
        }
        if let Some(pe) = &s.pe_name {
            let _ = write!(out, " --pe {pe}");
        }
        if s.one_packet {
            out += " -o";
        }
        if flagged {
            let _ = write!(out, " -b {}", sched_flags(s));
        }
    } else if f.stats || f.rate {
        let st = &se.stats;
        let v = if f.stats {
            [st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes]
        } else {
            [st.cps, st.inpps, st.outpps, st.inbps, st.outbps]
        };
        let _ = write!(out, "{svc_name:<33}");
        for x in v {
            out += &largenum(x, f.exact);
        }
    } else {
        let _ = write!(out, "{svc_name} {}", s.scheduler);
        if flagged {
            let _ = write!(out, " ({})", sched_flags(s));
        }
        if let Some(p) = &s.persistence {
            let _ = write!(out, " persistent {}", p.timeout);
            if let Some(m) = mask(p) {
                let _ = write!(out, " mask {m}");
            }
            if let Some(pe) = &s.pe_name {
                let _ = write!(out, " pe {pe}");
            }
        }
        if s.one_packet {
            out += " ops";
        }
    }
    out.push('\n');
    for e in dests {
        let d = &e.destination;
        let mut dname = addr_port(d.addr, protocol, f, n);
        if !f.rule && d.addr.is_ipv4() {
            dname = truncate(dname, 28);
        }
        let fwd_switch = match d.forward {
            Forward::Masq => "-m",
            Forward::Tunnel(_) => "-i",
            Forward::Route | Forward::Local => "-g",
            // A method ipvsadm cannot name: a rule `-R` refuses loudly.
            _ => "-?",
        };
        if f.rule {
            let _ = write!(out, "-a {svc_name} -r {dname} {fwd_switch} -w {}", d.weight);
            if let Forward::Tunnel(t) = d.forward {
                let csum = if t.remcsum {
                    "--tun-remcsum"
                } else if t.csum {
                    "--tun-csum"
                } else {
                    "--tun-nocsum"
                };
                match t.kind {
                    TunnelType::Ipip => out += " --tun-type ipip",
                    TunnelType::Gue => {
                        let _ = write!(out, " --tun-type gue --tun-port {} {csum}", t.port);
                    }
                    TunnelType::Gre => {
                        let _ = write!(out, " --tun-type gre {csum}");
                    }
                    _ => out += " --tun-type ?",
                }
            }
            out.push('\n');
        } else if f.stats {
            let st = &e.stats;
            let _ = write!(out, "  -> {dname:<28}");
            for x in [st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes] {
                out += &largenum(x, f.exact);
            }
            out.push('\n');
        } else if f.rate {
            let st = &e.stats;
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:>8} {:>8} {:>8}{}{}",
                st.cps,
                st.inpps,
                st.outpps,
                largenum(st.inbps, f.exact),
                largenum(st.outbps, f.exact)
            );
        } else if f.thresholds {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<10} {:<10} {:<10} {:<10}",
                d.upper_threshold, d.lower_threshold, e.active_conns, e.inactive_conns
            );
        } else if f.persistent_conn {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<9} {:<11} {:<10} {:<10}",
                d.weight, e.persistent_conns, e.active_conns, e.inactive_conns
            );
        } else {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<7} {:<6} {:<10} {:<10}",
                d.forward.ipvsadm_name(),
                d.weight,
                e.active_conns,
                e.inactive_conns
            );
        }
    }
    out
}

/// `-L --daemon`: master first, then backup.
fn daemons(list: &[SyncDaemon]) -> String {
    let mut out = String::new();
    for role in [DaemonRole::Master, DaemonRole::Backup] {
        for d in list.iter().filter(|d| d.role == role) {
            let name = match role {
                DaemonRole::Master => "master",
                DaemonRole::Backup => "backup",
            };
            let _ = write!(
                out,
                "{name} sync daemon (mcast={}, syncid={}",
                d.ifname, d.sync_id
            );
            if let Some(n) = d.max_len.filter(|n| *n != 0) {
                let _ = write!(out, ", maxlen={n}");
            }
            if let Some(g) = d.mcast_group {
                let _ = write!(out, ", group={g}");
            }
            if let Some(p) = d.mcast_port.filter(|p| *p != 0) {
                let _ = write!(out, ", port={p}");
            }
            if let Some(t) = d.mcast_ttl.filter(|t| *t != 0) {
                let _ = write!(out, ", ttl={t}");
            }
            out += ")\n";
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Names from /etc/hosts and /etc/services (ipvsadm's lookups, files only)

/// Host and service names, read once.
#[derive(Default)]
struct Names {
    hosts: Vec<(IpAddr, Vec<String>)>,
    /// (port, protocol) -> name, first entry wins (as getservbyport).
    services: HashMap<(u16, String), String>,
    /// (name or alias, protocol) -> port.
    ports: HashMap<(String, String), u16>,
}

fn names() -> &'static Names {
    static NAMES: std::sync::OnceLock<Names> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        Names::parse(
            &std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
            &std::fs::read_to_string("/etc/services").unwrap_or_default(),
        )
    })
}

fn proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
        _ => "?",
    }
}

impl Names {
    fn parse(hosts: &str, services: &str) -> Names {
        let mut n = Names::default();
        let strip = |l: &str| l.split('#').next().unwrap_or("").to_owned();
        for line in hosts.lines().map(strip) {
            let mut it = line.split_whitespace();
            if let (Some(a), Some(first)) = (it.next(), it.next())
                && let Ok(ip) = a.parse::<IpAddr>()
            {
                let mut all = vec![first.to_owned()];
                all.extend(it.map(str::to_owned));
                n.hosts.push((ip, all));
            }
        }
        for line in services.lines().map(strip) {
            let mut it = line.split_whitespace();
            let (Some(name), Some(pp)) = (it.next(), it.next()) else {
                continue;
            };
            let Some((port, proto)) = pp.split_once('/') else {
                continue;
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            n.services
                .entry((port, proto.to_owned()))
                .or_insert_with(|| name.to_owned());
            for alias in std::iter::once(name).chain(it) {
                n.ports
                    .entry((alias.to_owned(), proto.to_owned()))
                    .or_insert(port);
            }
        }
        n
    }

    fn host_name(&self, ip: IpAddr) -> Option<&str> {
        self.hosts
            .iter()
            .find(|(a, _)| *a == ip)
            .map(|(_, names)| names[0].as_str())
    }

    fn host_addr(&self, name: &str) -> Option<IpAddr> {
        self.hosts
            .iter()
            .find(|(_, names)| names.iter().any(|n| n == name))
            .map(|(a, _)| *a)
    }

    fn port_name(&self, port: u16, p: Protocol) -> Option<&str> {
        self.services
            .get(&(port, proto_name(p).to_owned()))
            .map(String::as_str)
    }

    fn port_of(&self, name: &str, p: Protocol) -> Option<u16> {
        self.ports
            .get(&(name.to_owned(), proto_name(p).to_owned()))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ha_ipvs::Stats;

    fn entry(s: Service) -> ServiceEntry {
        ServiceEntry {
            service: s,
            stats: Stats::default(),
        }
    }

    fn dest(addr: &str, fwd: Forward, w: u32) -> DestinationEntry {
        DestinationEntry {
            destination: Destination::new(addr.parse().unwrap(), fwd, w),
            active_conns: 3,
            inactive_conns: 12,
            persistent_conns: 1,
            stats: Stats::default(),
        }
    }

    #[test]
    fn largenum_as_ipvsadm() {
        assert_eq!(largenum(0, false), "        0");
        assert_eq!(largenum(99_999_999, false), " 99999999");
        assert_eq!(largenum(123_456_789, false), "  123456K");
        assert_eq!(largenum(12_345_678_901, false), "   12345M");
        assert_eq!(largenum(123_456_789, true), " 123456789");
        assert_eq!(largenum(5, true), "        5");
    }

    #[test]
    fn table_and_rules_as_ipvsadm_prints_them() {
        let mut s = Service::new(
            ServiceKey::tcp("10.0.0.1:80".parse().unwrap()),
            Scheduler::from_name("sh"),
        );
        s.persistence = Some(Persistence {
            timeout: 600,
            netmask: 24,
        });
        s.sched_flags.port = true;
        let d = [
            dest("10.0.1.1:80", Forward::Route, 1),
            dest("10.0.1.2:8080", Forward::Masq, 5),
        ];
        let n = Names::default();
        let table = service_entry(&entry(s.clone()), &d, &Format::default(), &n);
        assert_eq!(
            table,
            "TCP  10.0.0.1:80 sh (sh-port) persistent 600 mask 255.255.255.0\n  -> 10.0.1.1:80                  Route   1      3          12        \n  -> 10.0.1.2:8080                Masq    5      3          12        \n"
        );
        let rule = Format {
            rule: true,
            numeric: true,
            ..Format::default()
        };
        assert_eq!(
            service_entry(&entry(s), &d, &rule, &n),
            "-A -t 10.0.0.1:80 -s sh -p 600 -M 255.255.255.0 -b sh-port\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -g -w 1\n-a -t 10.0.0.1:80 -r 10.0.1.2:8080 -m -w 5\n"
        );
        let fw = Service::new(
            ServiceKey::fwmark(7, Family::Inet6),
            Scheduler::from_name("rr"),
        );
        assert_eq!(
            service_entry(&entry(fw.clone()), &[], &Format::default(), &n),
            "FWM  7 IPv6 rr\n"
        );
        assert_eq!(
            service_entry(&entry(fw), &[], &rule, &n),
            "-A -f 7 -6 -s rr\n"
        );
    }

    #[test]
    fn names_from_files_as_getservbyport_and_gethostbyaddr() {
        let n = Names::parse(
            "127.0.0.1 localhost\n# c\n10.0.0.1 web web.example # x\n",
            "http 80/tcp www # WorldWideWeb\nhttp 80/udp\nhttp-alt 8080/tcp webcache\n",
        );
        assert_eq!(n.port_name(80, Protocol::Tcp), Some("http"));
        assert_eq!(n.port_name(81, Protocol::Tcp), None);
        assert_eq!(n.port_of("www", Protocol::Tcp), Some(80));
        assert_eq!(n.port_of("webcache", Protocol::Udp), None);
        assert_eq!(n.host_name("10.0.0.1".parse().unwrap()), Some("web"));
        assert_eq!(n.host_addr("web.example"), "10.0.0.1".parse().ok());
        let f = Format::default();
        assert_eq!(
            addr_port("10.0.0.1:80".parse().unwrap(), Protocol::Tcp, &f, &n),
            "web:http"
        );
        assert_eq!(
            addr_port("[::1]:8080".parse().unwrap(), Protocol::Tcp, &f, &n),
            "[::1]:http-alt"
        );
    }

    #[test]
    fn restore_names_the_bad_line_and_merges() {
        let text = "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -g -w 1\n-A -t 10.0.0.2:0 -s rr\n";
        let e = parse_restore(text).unwrap_err();
        assert!(e.starts_with("ipvsadm rules line 3:"), "{e}");
        let e = parse_restore("-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.1.1 -q\n")
            .unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let good =
            parse_restore("-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -g -w 2\n")
                .unwrap();
        let other = VirtualService {
            service: Service::new(
                ServiceKey::tcp("10.0.0.9:80".parse().unwrap()),
                Scheduler::from_name("wlc"),
            ),
            destinations: vec![],
        };
        let mut old = good[0].clone();
        old.destinations.clear();
        let merged = merge(vec![other.clone(), old], good.clone());
        assert_eq!(merged, vec![other, good[0].clone()]);
    }

    #[test]
    fn ipvsadm_command_lines_parse() {
        let a = Args::try_parse_from(["ipvsctl", "-Ln", "--stats", "--exact"]).unwrap();
        assert!(a.command.list && a.opts.numeric && a.opts.stats && a.opts.exact);
        let a =
            Args::try_parse_from(["ipvsctl", "-A", "-t", "10.0.0.1:80", "-s", "rr", "-p"]).unwrap();
        assert!(a.command.add_service);
        assert_eq!(a.opts.persistent, Some(300));
        let a = Args::try_parse_from(["ipvsctl", "-A", "-f", "1", "-6", "-p", "60", "-M", "64"])
            .unwrap();
        assert_eq!(a.opts.persistent, Some(60));
        assert!(a.opts.ipv6);
        let a = Args::try_parse_from(["ipvsctl", "--set", "900", "30", "120"]).unwrap();
        assert_eq!(a.command.set, Some(vec![900, 30, 120]));
        let a = Args::try_parse_from([
            "ipvsctl",
            "--start-daemon",
            "master",
            "--mcast-interface",
            "eth1",
            "--syncid",
            "5",
        ])
        .unwrap();
        assert!(a.command.start_daemon.is_some());
        assert!(Args::try_parse_from(["ipvsctl", "-A", "-D"]).is_err());
        assert!(
            Args::try_parse_from(["ipvsctl", "-Sn"])
                .unwrap()
                .command
                .save
        );
        let a = Args::try_parse_from(["ipvsctl", "list", "--stats"]).unwrap();
        assert!(matches!(a.cmd, Some(Cmd::List { stats: true, .. })));
        // A real server without a port takes the service's; direct routing forces it.
        let a = Args::try_parse_from([
            "ipvsctl",
            "-a",
            "-t",
            "10.0.0.1:80",
            "-r",
            "10.0.1.1:81",
            "-w",
            "3",
        ])
        .unwrap();
        let key = need_service(&a.opts).unwrap();
        let d = destination_from(&a.opts, &key).unwrap();
        assert_eq!(d.addr, "10.0.1.1:80".parse().unwrap());
        assert_eq!(d.weight, 3);
        let a = Args::try_parse_from([
            "ipvsctl",
            "-a",
            "-t",
            "10.0.0.1:80",
            "-r",
            "10.0.1.1:81",
            "-m",
        ])
        .unwrap();
        let d = destination_from(&a.opts, &key).unwrap();
        assert_eq!((d.addr.port(), d.forward), (81, Forward::Masq));
        let a = Args::try_parse_from(["ipvsctl", "-A", "-t", "10.0.0.1", "-s", "rr"]).unwrap();
        assert!(service_from(&a.opts, need_service(&a.opts).unwrap()).is_err());
    }
}
