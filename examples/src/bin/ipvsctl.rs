//! `ipvsctl`: apply a desired IPVS state from a TOML file, list the table like
//! `ipvsadm -Ln`, or clear it.
//!
//! ```text
//! ipvsctl apply lb.toml [--dry-run]   # reconcile: only the needed operations are sent
//! ipvsctl list [--stats] [--json]
//! ipvsctl clear
//! ```
//! The file format is `ha_ipvs::spec` (see its docs): `[[service]]` tables with
//! `[[service.destination]]` entries.
#![deny(unsafe_code)]

use clap::{Parser, Subcommand};
use ha_ipvs::spec::StateSpec;
use ha_ipvs::{Client, DestinationEntry, Family, Forward, ServiceEntry, ServiceKey};
use std::net::Ipv4Addr;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ipvsctl",
    version = ha_examples::VERSION,
    about = "Apply, list and clear the kernel's IPVS table"
)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
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
    /// List services and destinations (like `ipvsadm -Ln`).
    List {
        /// Show counters (like `ipvsadm -Ln --stats`).
        #[arg(long)]
        stats: bool,
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Delete every service (like `ipvsadm -C`).
    Clear,
}

fn main() -> ExitCode {
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
    match rt.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ipvsctl: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match args.cmd {
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
            let done = client.reconcile(&desired).await?;
            for (op, r) in done.ops.iter().zip(&done.report.results) {
                match r {
                    Ok(()) => println!("ok      {op}"),
                    Err(e) => println!("FAILED  {e}"),
                }
            }
            let failed = done.ops.len() - done.report.succeeded();
            println!(
                "{} operation(s), {} succeeded, {failed} failed",
                done.ops.len(),
                done.report.succeeded()
            );
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::List { stats, json } => {
            let mut client = Client::connect().await?;
            let info = client.info().await?;
            let mut dump = client.dump().await?;
            // The order ipvsadm lists in: services by key, destinations by address.
            dump.sort_by_key(|(s, _)| s.service.key);
            for (_, d) in &mut dump {
                d.sort_by_key(|e| e.destination.addr);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&dump)?);
                return Ok(ExitCode::SUCCESS);
            }
            print!("{}", render(&info, &dump, stats));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Clear => {
            let mut client = Client::connect().await?;
            client.flush().await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn service_addr(key: &ServiceKey) -> (String, String) {
    match key {
        ServiceKey::Inet { protocol, addr } => (protocol.to_string(), addr.to_string()),
        ServiceKey::Fwmark { mark, family } => (
            "FWM".into(),
            match family {
                Family::Inet => mark.to_string(),
                Family::Inet6 => format!("{mark} IPv6"),
            },
        ),
    }
}

/// The `ipvsadm -Ln` (or `--stats`) layout.
fn render(
    info: &ha_ipvs::Info,
    dump: &[(ServiceEntry, Vec<DestinationEntry>)],
    stats: bool,
) -> String {
    let mut out = format!(
        "IP Virtual Server version {} (size={})\n",
        info.version_string(),
        info.conn_tab_size
    );
    if stats {
        out += &format!(
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
        );
    } else {
        out += "Prot LocalAddress:Port Scheduler Flags\n";
        out += "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n";
    }
    for (s, dests) in dump {
        let (proto, addr) = service_addr(&s.service.key);
        if stats {
            let st = &s.stats;
            out += &format!(
                "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
                format!("{proto:<4} {addr}"),
                st.conns,
                st.inpkts,
                st.outpkts,
                st.inbytes,
                st.outbytes
            );
        } else {
            let mut line = format!("{proto:<4} {addr} {}", s.service.scheduler);
            let f = &s.service.sched_flags;
            let prefix = if s.service.scheduler == ha_ipvs::Scheduler::Mh {
                "mh"
            } else {
                "sh"
            };
            let mut flags = Vec::new();
            if f.fallback {
                flags.push(format!("{prefix}-fallback"));
            }
            if f.port {
                flags.push(format!("{prefix}-port"));
            }
            if !flags.is_empty() {
                line += &format!(" ({})", flags.join(","));
            }
            if let Some(p) = s.service.persistence {
                line += &format!(" persistent {}", p.timeout);
                match s.service.key.family() {
                    Family::Inet if p.netmask != 32 => {
                        let m = if p.netmask == 0 {
                            0
                        } else {
                            u32::MAX << (32 - u32::from(p.netmask))
                        };
                        line += &format!(" mask {}", Ipv4Addr::from(m));
                    }
                    Family::Inet6 if p.netmask != 128 => line += &format!(" mask {}", p.netmask),
                    _ => {}
                }
            }
            if let Some(pe) = &s.service.pe_name {
                line += &format!(" pe {pe}");
            }
            if s.service.one_packet {
                line += " ops";
            }
            out += &line;
            out.push('\n');
        }
        for d in dests {
            let a = d.destination.addr.to_string();
            if stats {
                let st = &d.stats;
                out += &format!(
                    "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
                    format!("  -> {a}"),
                    st.conns,
                    st.inpkts,
                    st.outpkts,
                    st.inbytes,
                    st.outbytes
                );
            } else {
                let fwd = match d.destination.forward {
                    Forward::Tunnel(_) => "Tunnel",
                    f => f.ipvsadm_name(),
                };
                out += &format!(
                    "  -> {:<28} {:<7} {:<6} {:<10} {:<10}\n",
                    a, fwd, d.destination.weight, d.active_conns, d.inactive_conns
                );
            }
        }
    }
    out
}
