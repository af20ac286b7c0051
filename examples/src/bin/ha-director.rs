//! `ha-director`: the reference LVS-DR director.
//!
//! In this build only the configuration subcommands work: `check-config` and `convert`.
//! `run`, `status` and `realserver` exist but exit with code 3 ("not implemented yet").
//!
//! Exit codes: 0 success; 1 invalid configuration (messages `file:line:column: message` on
//! stderr); 2 usage error; 3 subcommand not implemented yet in this build.
#![warn(missing_docs)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use ha_examples::director::{self, ConfigError, Loaded};

/// Exit code for an invalid configuration.
const EXIT_INVALID: u8 = 1;
/// Exit code for a subcommand that is not implemented in this build.
const EXIT_NOT_IMPLEMENTED: u8 = 3;

#[derive(Parser)]
#[command(
    name = "ha-director",
    version,
    about = "Highly available LVS-DR director (VRRP + IPVS + health checks)",
    after_help = "Exit codes: 0 ok, 1 invalid configuration, 2 usage error, 3 not implemented yet in this build.\nIn this build only `check-config` and `convert` work; `run`, `status` and `realserver` exit with code 3."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct Source {
    /// A TOML configuration file.
    #[arg(long, value_name = "FILE.toml")]
    config: Option<PathBuf>,
    /// A keepalived.conf to read instead (includes are followed).
    #[arg(long, value_name = "FILE")]
    keepalived_conf: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Check a configuration: exit 0 and print a summary and the warnings when valid,
    /// exit 1 with `file:line:column: message` lines otherwise.
    CheckConfig {
        #[command(flatten)]
        source: Source,
        /// Print the validated configuration as TOML too.
        #[arg(long)]
        dump: bool,
    },
    /// Print the TOML equivalent of a keepalived.conf (warnings go to stderr).
    Convert {
        /// The keepalived.conf to convert.
        #[arg(long, value_name = "FILE")]
        keepalived_conf: PathBuf,
    },
    /// NOT IMPLEMENTED YET in this build (exits with code 3): run the director.
    Run {
        #[command(flatten)]
        source: Source,
    },
    /// NOT IMPLEMENTED YET in this build (exits with code 3): show a running director's state.
    Status,
    /// NOT IMPLEMENTED YET in this build (exits with code 3): configure a real server for
    /// LVS-DR (VIP on lo, arp_ignore/arp_announce).
    Realserver,
}

fn load(source: &Source) -> Result<Loaded, Vec<ConfigError>> {
    match (&source.config, &source.keepalived_conf) {
        (Some(toml), _) => director::load_toml_file(toml),
        (None, Some(k)) => director::load_keepalived_file(k),
        (None, None) => unreachable!("clap requires one source"),
    }
}

fn report(errors: &[ConfigError]) -> ExitCode {
    for e in errors {
        eprintln!("{e}");
    }
    eprintln!("configuration is invalid: {} error(s)", errors.len());
    ExitCode::from(EXIT_INVALID)
}

fn not_implemented(what: &str) -> ExitCode {
    eprintln!(
        "ha-director {what}: not implemented yet in this build (only check-config and convert work)"
    );
    ExitCode::from(EXIT_NOT_IMPLEMENTED)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { source, dump } => match load(&source) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    eprintln!("{w}");
                }
                println!("configuration is valid: {}", loaded.summary());
                if dump {
                    match director::toml_format::to_toml(&loaded.config) {
                        Ok(t) => print!("{t}"),
                        Err(e) => return report(&[e]),
                    }
                }
                ExitCode::SUCCESS
            }
            Err(errors) => report(&errors),
        },
        Command::Convert { keepalived_conf } => {
            match director::load_keepalived_file(&keepalived_conf) {
                Ok(loaded) => {
                    for w in &loaded.warnings {
                        eprintln!("{w}");
                    }
                    match director::toml_format::to_toml(&loaded.config) {
                        Ok(t) => {
                            println!(
                                "# Converted from {} by ha-director convert.",
                                keepalived_conf.display()
                            );
                            for w in &loaded.warnings {
                                println!("# {w}");
                            }
                            print!("{t}");
                            ExitCode::SUCCESS
                        }
                        Err(e) => report(&[e]),
                    }
                }
                Err(errors) => report(&errors),
            }
        }
        Command::Run { .. } => not_implemented("run"),
        Command::Status => not_implemented("status"),
        Command::Realserver => not_implemented("realserver"),
    }
}
