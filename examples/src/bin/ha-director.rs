//! `ha-director`: the reference LVS-DR director (VRRP + IPVS + health checks).
//!
//! Subcommands:
//! - `run --config F.toml | --keepalived-conf F | --ldirectord-cf F | --heartbeat-dir DIR
//!   [--node NAME] [--watch-config] [--status-socket PATH]
//!   [--metrics-listen ADDR:PORT]`: run the director in the foreground (the two options
//!   override `global.status_socket` / `global.metrics_listen`, which a keepalived.conf
//!   cannot set). Logs go to stderr (`tracing`; no colours unless stderr is a terminal, no
//!   timestamps under journald; filter with `HA_DIRECTOR_LOG` or `RUST_LOG`, default `info`).
//!   SIGTERM/SIGINT stop gracefully (masters send priority 0, VIPs are removed). SIGHUP
//!   re-reads and re-validates the configuration: a bad one is logged with its
//!   `file:line:column` and the running one kept; a good one is handed to the runtime as a
//!   reload and what changed is logged. `--watch-config` does the same when the file's mtime
//!   changes (polled every second, ldirectord's `autoreload`; `global.watch_config`, which an
//!   ldirectord.cf's `autoreload = yes` sets, turns it on too). Under systemd (`Type=notify-reload`)
//!   it sends `READY=1`, `RELOADING=1` with `MONOTONIC_USEC=` then `READY=1` around a reload, `STOPPING=1`, and
//!   `WATCHDOG=1` every `WATCHDOG_USEC/2` while the director task is alive. The JSON status
//!   is served on the unix socket `global.status_socket` (default
//!   `/run/ha-director/status.sock`); with `global.metrics_listen` an HTTP endpoint serves
//!   `GET /metrics` (Prometheus) and `GET /status` (JSON).
//! - `check-config --config F.toml | --keepalived-conf F | --ldirectord-cf F | --heartbeat-dir DIR
//!   [--node NAME] [--dump] [--offline]`: validate, like
//!   `keepalived -t`, and build as `run` does up to opening sockets, printing the same notes;
//!   `--offline` does not look up interface addresses and script users on this host.
//! - `convert --keepalived-conf F | --ldirectord-cf F | --heartbeat-dir DIR [--node NAME]`: print
//!   the TOML equivalent of a heartbeat directory (ha.cf, haresources, authkeys and its
//!   ldirectord.cf, as this node runs them), or of a
//!   keepalived.conf or of an ldirectord.cf (virtual servers and checks, no VRRP).
//! - `status [--socket PATH]`: print a running director's JSON status (pretty).
//! - `standby|takeover|auto [INSTANCE] [--socket PATH]` (heartbeat `hb_standby` /
//!   `hb_takeover`): give the instance's resources (every instance's without INSTANCE) to the
//!   peer, take them, or go back to the configured behaviour, through the control socket
//!   (`global.control_socket`, default `control.sock` beside the status socket:
//!   `/run/ha-director/control.sock`); prints the JSON
//!   reply, exit 1 when refused or when no director answers.
//! - `realserver --vip ADDR... [--interface IF] [--undo] [--state-file PATH]`: the LVS-DR
//!   real-server side (VIPs on `lo`, `arp_ignore=1`, `arp_announce=2`), reversible.
//!
//! - keepalived's own command line, for drop-in use (`ha-director -f FILE -t`, or the binary
//!   installed or linked as `keepalived`): `-f`/`--use-file` (default
//!   `/etc/keepalived/keepalived.conf`), `-t`/`--config-test` (check-config), `-n`, `-l`
//!   (accepted: it never forks and logs to standard error), `-D`/`--log-detail` (debug
//!   logs), `-i`/`--config-id`, `-v`, `-h`; any other keepalived option is an error naming it.
//!
//! Exit codes: 0 success (for `run`: a graceful stop); 1 invalid configuration (messages
//! `file:line:column: message` on stderr), or for `status` no director answering on the
//! socket; 2 usage error; 3 a run-time failure (the director stopped with an error, a socket
//! could not be bound, `realserver` failed).
#![warn(missing_docs)]
#![deny(unsafe_code)]

use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand};
use ha_examples::director::alert::{self, Alerter};
use ha_examples::director::build::{self, Accounts, Built};
use ha_examples::director::sdnotify::{self, Notifier};
use ha_examples::director::{self, ConfigError, Loaded, observe, realserver};
use ha_failover::runtime::director::{
    DirectorRunError, Reload, ReloadReport, RunIo, RuntimeEvent, run_with,
};
use ha_failover::runtime::sched::{Policy, Realtime};
use ha_failover::runtime::status::status_channel;
use tokio::sync::{mpsc, oneshot, watch};

/// Exit code for an invalid configuration (and for `status` with no director).
const EXIT_INVALID: u8 = 1;
/// Exit code for a failure at run time.
const EXIT_RUNTIME: u8 = 3;
/// How long a reload may take before it is reported as unanswered.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// What `convert` says of active-active: none of the converted formats has it.
const NO_ANNOUNCE_EQUIVALENT: &str = "# Active-active (virtual addresses announced by BGP, with BFD): keepalived, ldirectord and\n# heartbeat have no equivalent. To use it, add a [bgp] section and `announce = true` to the\n# virtual servers (README: Active-active).";

#[derive(Parser)]
#[command(
    name = "ha-director",
    version = ha_examples::VERSION,
    about = "Highly available LVS-DR director (VRRP + IPVS + health checks)",
    after_help = "Exit codes: 0 ok, 1 invalid configuration (or `status`: no director on the socket), 2 usage error, 3 run-time failure."
)]
struct Cli {
    /// The id that keepalived.conf's `@ID` / `@^ID` lines are compared with (keepalived's
    /// `--config-id`; default: the host name up to its first dot).
    #[arg(long, global = true, value_name = "ID")]
    config_id: Option<String>,
    /// Log at debug level unless HA_DIRECTOR_LOG / RUST_LOG say otherwise (keepalived's
    /// `--log-detail`).
    #[arg(long, global = true)]
    log_detail: bool,
    /// This node's name among ha.cf's `node` lines, for `--heartbeat-dir` (default: `uname
    /// -n`, as heartbeat).
    #[arg(long, global = true, value_name = "NAME")]
    node: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
#[group(required = true, multiple = false)]
struct Source {
    /// A TOML configuration file.
    #[arg(long, value_name = "FILE.toml")]
    config: Option<PathBuf>,
    /// A keepalived.conf to read instead (includes are followed).
    #[arg(long, value_name = "FILE")]
    keepalived_conf: Option<PathBuf>,
    /// An ldirectord.cf to read instead (virtual servers and checks, no VRRP).
    #[arg(long, value_name = "FILE")]
    ldirectord_cf: Option<PathBuf>,
    /// A heartbeat directory to read instead: its ha.cf, haresources, authkeys (mode 600) and
    /// the ldirectord.cf that haresources names (this node: `--node`, default `uname -n`).
    #[arg(long, value_name = "DIR")]
    heartbeat_dir: Option<PathBuf>,
}

impl Source {
    fn path(&self) -> &Path {
        self.config
            .as_deref()
            .or(self.keepalived_conf.as_deref())
            .or(self.ldirectord_cf.as_deref())
            .or(self.heartbeat_dir.as_deref())
            .unwrap_or(Path::new(""))
    }

    /// The latest modification time of what the configuration is read from: the file, or
    /// for a heartbeat directory every file in it (ha.cf, haresources, authkeys,
    /// ldirectord.cf...).
    fn mtime(&self) -> Option<SystemTime> {
        let Some(dir) = &self.heartbeat_dir else {
            return mtime(self.path());
        };
        let files = std::fs::read_dir(dir).ok()?;
        files
            .filter_map(Result::ok)
            .filter_map(|e| mtime(&e.path()))
            .chain(mtime(dir))
            .max()
    }
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
        /// Check the file for another machine: interface addresses and script users are not
        /// looked up on this host (each is named in a note), everything else is checked as
        /// `run` would.
        #[arg(long)]
        offline: bool,
    },
    /// Print the TOML equivalent of a keepalived.conf or an ldirectord.cf (warnings go to
    /// stderr).
    Convert {
        /// The keepalived.conf to convert.
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present_any = ["ldirectord_cf", "heartbeat_dir"],
            conflicts_with = "ldirectord_cf"
        )]
        keepalived_conf: Option<PathBuf>,
        /// The ldirectord.cf to convert.
        #[arg(long, value_name = "FILE", conflicts_with = "heartbeat_dir")]
        ldirectord_cf: Option<PathBuf>,
        /// The heartbeat directory to convert (ha.cf, haresources, authkeys, ldirectord.cf).
        #[arg(long, value_name = "DIR", conflicts_with = "keepalived_conf")]
        heartbeat_dir: Option<PathBuf>,
    },
    /// Run the director in the foreground (SIGHUP reloads, SIGTERM stops gracefully).
    Run {
        #[command(flatten)]
        source: Source,
        /// Reload when the configuration file's modification time changes (checked every
        /// second; ldirectord's autoreload).
        #[arg(long)]
        watch_config: bool,
        /// Serve the status here instead of `global.status_socket` (for a keepalived.conf,
        /// which cannot say it).
        #[arg(long, value_name = "PATH")]
        status_socket: Option<PathBuf>,
        /// Take `standby|takeover|auto` requests here instead of `global.control_socket`.
        #[arg(long, value_name = "PATH")]
        control_socket: Option<PathBuf>,
        /// Serve metrics and status over HTTP here, overriding `global.metrics_listen`.
        #[arg(long, value_name = "ADDR:PORT")]
        metrics_listen: Option<std::net::SocketAddr>,
        /// Leave the kernel's IPVS alone whatever the configuration says (`ipvs_dry_run`):
        /// the checks run and the status shows them, IPVS operations are only logged. For a
        /// staging run of any configuration format, or a host without IPVS.
        #[arg(long)]
        ipvs_dry_run: bool,
        /// Write this process's id here while it runs (keepalived `-p`, `-r`, `-c`: one
        /// process does what keepalived's three do); may be repeated. A file that names a
        /// running process already is refused.
        #[arg(long, value_name = "PATH")]
        pid_file: Vec<PathBuf>,
    },
    /// Print a running director's status as JSON (exit 1 if none answers on the socket).
    Status {
        /// The director's status socket.
        #[arg(long, value_name = "PATH", default_value = director::model::DEFAULT_STATUS_SOCKET)]
        socket: PathBuf,
    },
    /// Give the resources to the peer (heartbeat hb_standby): priority 0 now, then backup at
    /// priority 1 (still takes over if the peer dies). Exit 1 if refused.
    Standby(AdminArgs),
    /// Take the resources (heartbeat hb_takeover): master now at priority 254. Exit 1 if
    /// refused.
    Takeover(AdminArgs),
    /// Back to the configured priority, tracking and preemption. Exit 1 if refused.
    Auto(AdminArgs),
    /// Configure this host as an LVS-DR real server: the VIPs on lo, arp_ignore=1 and
    /// arp_announce=2 (saved first, so --undo restores exactly what was there).
    Realserver {
        /// A virtual address (repeat for several).
        #[arg(long = "vip", value_name = "ADDR", required_unless_present = "undo")]
        vips: Vec<IpAddr>,
        /// The interface facing the director (its ARP sysctls are set too).
        #[arg(long, value_name = "IF")]
        interface: Option<String>,
        /// Undo what an earlier apply did (from the state file).
        #[arg(long)]
        undo: bool,
        /// Where the previous state is kept.
        #[arg(long, value_name = "PATH", default_value = realserver::DEFAULT_STATE_FILE)]
        state_file: PathBuf,
    },
}

/// The arguments of `standby`, `takeover` and `auto`.
#[derive(Args, Clone)]
struct AdminArgs {
    /// The instance; every instance when omitted.
    #[arg(value_name = "INSTANCE")]
    instance: Option<String>,
    /// The director's control socket.
    #[arg(long, value_name = "PATH", default_value = director::model::DEFAULT_CONTROL_SOCKET)]
    socket: PathBuf,
}

/// Sends `standby|takeover|auto [INSTANCE]` and prints the reply.
fn admin_command(word: &str, a: &AdminArgs) -> ExitCode {
    let line = match &a.instance {
        Some(i) => format!("{word} {i}"),
        None => word.to_owned(),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ha-director: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    match rt.block_on(observe::send_control(&a.socket, &line)) {
        Ok(v) => {
            println!("{v}");
            if v["ok"] == serde_json::Value::Bool(true) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_INVALID)
            }
        }
        Err(e) => {
            eprintln!("ha-director: {e}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// The config id for `@ID` lines, from the command line (set once in `main`).
static CONFIG_ID: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// `run --ipvs-dry-run` (set once in `main`; applied to every load, reloads included).
static IPVS_DRY_RUN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// How a heartbeat directory is read (`--node`, `check-config --offline`; set once in `main`).
static HEARTBEAT: std::sync::OnceLock<director::heartbeat::Options> = std::sync::OnceLock::new();

fn config_id() -> Option<String> {
    CONFIG_ID
        .get()
        .cloned()
        .unwrap_or_else(director::keepalived::preproc::default_config_id)
}

fn load(source: &Source) -> Result<Loaded, Vec<ConfigError>> {
    match (
        &source.config,
        &source.keepalived_conf,
        &source.ldirectord_cf,
    ) {
        (Some(toml), _, _) => director::load_toml_file(toml),
        (None, Some(k), _) => director::load_keepalived_file_with_config_id(k, config_id()),
        (None, None, Some(l)) => director::load_ldirectord_file(l),
        (None, None, None) => match &source.heartbeat_dir {
            Some(d) => {
                director::heartbeat::load_heartbeat_dir(d, HEARTBEAT.get_or_init(Default::default))
            }
            None => unreachable!("clap requires one source"),
        },
    }
}

fn report(errors: &[ConfigError]) -> ExitCode {
    for e in errors {
        eprintln!("{e}");
    }
    eprintln!("configuration is invalid: {} error(s)", errors.len());
    ExitCode::from(EXIT_INVALID)
}

fn init_logging(detail: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("HA_DIRECTOR_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(if detail { "debug" } else { "info" }));
    let b = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter);
    // journald stamps every line itself.
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        b.without_time().init();
    } else {
        b.init();
    }
}

/// Loads, validates and builds; logs every problem. `None`: refused.
/// Reads and builds the configuration, logging every error; `Err` carries the first one.
fn load_and_build(source: &Source) -> Result<(Loaded, Built), String> {
    let mut loaded = match load(source) {
        Ok(l) => l,
        Err(errs) => {
            for e in &errs {
                tracing::error!("{e}");
            }
            tracing::error!(
                file = %source.path().display(),
                "configuration is invalid: {} error(s)",
                errs.len()
            );
            return Err(errs
                .first()
                .map_or_else(|| "invalid configuration".into(), ToString::to_string));
        }
    };
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    if IPVS_DRY_RUN.get() == Some(&true) {
        loaded.config.global.ipvs_dry_run = true;
    }
    let built = match build::build(
        &loaded.config,
        &mut build::interface_address,
        &Accounts::system(),
    ) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(file = %source.path().display(), "{e}");
            return Err(format!("{}: {e}", source.path().display()));
        }
    };
    for n in &built.notes {
        tracing::warn!("{n}");
    }
    // The file's text and statements are gone; their pages go back before the runtime's
    // threads allocate in arenas of their own.
    ha_examples::sys::release_free_memory();
    Ok((loaded, built))
}

/// Accounts for `check-config --offline`: the configured script user and group exist with
/// placeholder ids (noted), so the build can go on without this host's /etc/passwd.
fn offline_accounts(cfg: &director::Config, notes: &mut Vec<String>) -> Accounts {
    let mut a = Accounts {
        passwd: String::new(),
        group: String::new(),
    };
    if let Some(u) = &cfg.global.script_user {
        a.passwd = format!("{u}:x:65534:65534::/:/usr/sbin/nologin\n");
        notes.push(format!("script user {u}: not looked up (--offline)"));
    }
    if let Some(g) = &cfg.global.script_group {
        a.group = format!("{g}:x:65534:\n");
    }
    a
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn log_event(names: &[String], ev: &RuntimeEvent) {
    use ha_failover::core::DirectorEvent;
    let name = |i: ha_failover::core::InstanceId| {
        names
            .get(i.0 as usize)
            .cloned()
            .unwrap_or_else(|| format!("#{}", i.0))
    };
    match ev {
        RuntimeEvent::Director(DirectorEvent::Transition {
            instance,
            from,
            to,
            cause,
            priority,
        }) => tracing::info!(
            instance = %name(*instance),
            from = observe::state_name(*from),
            to = observe::state_name(*to),
            priority = priority.0,
            ?cause,
            "transition"
        ),
        // The runtime logs these itself; kept here at debug with the instance names.
        RuntimeEvent::Director(e) => tracing::debug!(event = ?e, ?names, "director"),
        RuntimeEvent::Dropped {
            interface,
            reason,
            src,
        } => tracing::debug!(%interface, %reason, %src, "advert dropped"),
        RuntimeEvent::StaleRemoved(v) => tracing::warn!(?v, "stale VIPs removed"),
        RuntimeEvent::VipRestored { instance, addr } => {
            tracing::warn!(instance = %name(*instance), %addr, "VIP put back")
        }
        RuntimeEvent::Notified { argv, ok } => tracing::info!(?argv, ok, "notify script"),
        other => tracing::info!(event = ?other, "runtime event"),
    }
}

fn log_reload(r: &ReloadReport) {
    tracing::info!(
        kept = ?r.kept,
        recreated = ?r.recreated,
        reprioritized = ?r.reprioritized,
        checks_added = r.checks.added,
        checks_changed = r.checks.changed,
        checks_unchanged = r.checks.unchanged,
        checks_removed = r.checks.removed,
        virtual_servers_changed = r.virtual_servers_changed,
        "configuration reloaded"
    );
}

type PendingReload =
    Pin<Box<tokio::time::Timeout<oneshot::Receiver<Result<ReloadReport, DirectorRunError>>>>>;

/// Runs the director of `loaded`/`built`; `file_globals` are the file's own global settings
/// (before the command line's overrides), what a reload compares against.
async fn run_async(
    source: Source,
    watch_config: bool,
    loaded: Loaded,
    built: Built,
    file_globals: director::model::Global,
) -> ExitCode {
    use tokio::signal::unix::{SignalKind, signal};

    let notifier = match Notifier::from_env() {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "NOTIFY_SOCKET unusable");
            None
        }
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let (status_tx, status_rx) = status_channel();
    let (reload_tx, reload_rx) = mpsc::unbounded_channel::<Reload>();
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<RuntimeEvent>();

    let sock_path = loaded.config.global.status_socket_path();
    let access = observe::SocketAccess {
        group: built.socket_group,
    };
    if let Err(e) = observe::serve_unix(&sock_path, status_rx.clone(), access) {
        tracing::error!(socket = %sock_path.display(), error = %e, "cannot serve the status socket");
        return ExitCode::from(EXIT_RUNTIME);
    }
    tracing::info!(socket = %sock_path.display(), "status socket");
    let (admin_tx, admin_rx) = mpsc::unbounded_channel();
    let control_path = loaded.config.global.control_socket_path();
    if let Err(e) = observe::serve_control(&control_path, admin_tx, access) {
        tracing::error!(socket = %control_path.display(), error = %e, "cannot serve the control socket");
        let _ = std::fs::remove_file(&sock_path);
        return ExitCode::from(EXIT_RUNTIME);
    }
    tracing::info!(socket = %control_path.display(), "control socket");
    if let Some(addr) = loaded.config.global.metrics_listen {
        match observe::serve_http(addr, status_rx.clone()).await {
            Ok((a, _)) => tracing::info!(listen = %a, "metrics and status over HTTP"),
            Err(e) => {
                tracing::error!(listen = %addr, error = %e, "cannot serve metrics");
                let _ = std::fs::remove_file(&sock_path);
                return ExitCode::from(EXIT_RUNTIME);
            }
        }
    }

    let mut names: Vec<String> = loaded
        .config
        .instances
        .iter()
        .map(|i| i.name.clone())
        .collect();
    let (names_tx, names_rx) = watch::channel(names.clone());
    let (alerts_tx, mut alerts_rx) = watch::channel(built.alerts.clone());
    // Events: logged, and mailed where the configuration asks (global.smtp). Mails go out
    // concurrently; those still in flight when the director stops get a moment to finish.
    let events_task = tokio::spawn(async move {
        let mut alerter = alerts_rx.borrow_and_update().clone().map(Alerter::new);
        let mut mails = tokio::task::JoinSet::new();
        // ldirectord's emailalertfreq: reminders for real servers still down, looked at
        // every second.
        let mut repeat_tick = tokio::time::interval(Duration::from_secs(1));
        repeat_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut out = Vec::new();
            tokio::select! {
                ev = ev_rx.recv() => {
                    let Some(ev) = ev else { break };
                    log_event(&names_rx.borrow(), &ev);
                    if alerts_rx.has_changed().unwrap_or(false) {
                        alerter = alerts_rx.borrow_and_update().clone().map(Alerter::new);
                    }
                    if let (Some(a), RuntimeEvent::Director(d)) = (alerter.as_mut(), &ev)
                        && let Some(mail) = a.on_event(d)
                    {
                        out.push(mail);
                    }
                }
                _ = repeat_tick.tick() => {
                    if let Some(a) = alerter.as_mut() {
                        out = a.due_repeats(std::time::Instant::now());
                    }
                }
            }
            if let Some(a) = alerter.as_ref() {
                for mail in out {
                    let settings = a.settings().clone();
                    mails.spawn(async move {
                        match alert::send(&settings, &mail).await {
                            Ok(()) => tracing::info!(subject = %mail.subject, "alert mailed"),
                            Err(e) => {
                                tracing::warn!(subject = %mail.subject, error = %e, "alert not mailed")
                            }
                        }
                    });
                }
            }
            while mails.try_join_next().is_some() {}
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), mails.join_all()).await;
    });

    let io = RunIo {
        events: Some(ev_tx),
        shutdown: stop_rx,
        status: Some(status_tx),
        reload: Some(reload_rx),
        slow: Some(tokio::runtime::Handle::current()),
        admin: Some(admin_rx),
        announcer: None,
    };
    let realtime = loaded.config.global.realtime_priority;
    // The parsed file is not needed past this point: with 10,000 real servers it held about
    // 30 MiB for the whole run (heaptrack).
    drop(loaded);
    let director_config = built.config;
    // The VRRP loop gets a thread of its own (optionally SCHED_FIFO with memory locked), so
    // that nothing else runs where adverts are sent and timers fire (issue 9); the slow work
    // (addresses, announcements, scripts, checks, IPVS) runs on this runtime.
    let mut director = tokio::task::spawn_blocking(move || {
        if let Some(priority) = realtime {
            Realtime {
                priority: Some(priority),
                policy: Policy::Fifo,
                mlock: true,
            }
            .apply()
            .map_err(DirectorRunError::Realtime)?;
            tracing::info!(priority, "VRRP thread: SCHED_FIFO, memory locked");
        }
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| DirectorRunError::Io {
                what: "building the VRRP thread's runtime",
                source,
            })?
            .block_on(run_with(director_config, io))
    });

    let (mut term, mut int, mut hup) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(t), Ok(i), Ok(h)) => (t, i, h),
        _ => {
            tracing::error!("cannot install signal handlers");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };

    // READY once the director survived its start (sockets opened, stale VIPs removed) or
    // answered a first status request (its loop runs).
    let first_status = status_rx.clone();
    tokio::select! {
        r = &mut director => {
            let _ = std::fs::remove_file(&sock_path);
            return finished(r);
        }
        _ = first_status.get() => {}
        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
    }
    sdnotify::send(notifier.as_ref(), "READY=1\nSTATUS=running");
    tracing::info!(instances = names.len(), "director running");

    let watchdog = sdnotify::watchdog_interval();
    let mut wd_tick = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    wd_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut cfg_tick = tokio::time::interval(Duration::from_secs(1));
    cfg_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_mtime = source.mtime();
    let mut pending: Option<PendingReload> = None;
    let mut stopping = false;
    // What the file said at start (the command line may override it); not read again (a
    // second parse of a large file raised the peak memory).
    let running_globals = file_globals;

    let code = loop {
        let mut reload_now = false;
        tokio::select! {
            r = &mut director => break finished(r),
            _ = term.recv() => stopping = true,
            _ = int.recv() => stopping = true,
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the configuration");
                reload_now = true;
            }
            _ = wd_tick.tick(), if watchdog.is_some() => {
                if !director.is_finished() {
                    sdnotify::send(notifier.as_ref(), "WATCHDOG=1");
                }
            }
            _ = cfg_tick.tick(), if watch_config && !stopping => {
                let now = source.mtime();
                if now != last_mtime {
                    last_mtime = now;
                    tracing::info!(file = %source.path().display(), "configuration file changed: reloading");
                    reload_now = true;
                }
            }
            r = async { pending.as_mut().expect("guarded").await }, if pending.is_some() => {
                pending = None;
                match r {
                    Ok(Ok(Ok(report))) => {
                        observe::RELOADS.applied();
                        log_reload(&report);
                    }
                    Ok(Ok(Err(e))) => {
                        tracing::error!(error = %e, "reload refused by the runtime; the running configuration is kept");
                        observe::RELOADS.refused(e.to_string());
                    }
                    Ok(Err(_)) => {
                        tracing::error!("reload not applied: the runtime dropped the request; the running configuration is kept");
                        observe::RELOADS.refused("the runtime dropped the request".into());
                    }
                    Err(_) => {
                        tracing::error!("reload not answered within {RELOAD_TIMEOUT:?}");
                        observe::RELOADS.refused(format!("not answered within {RELOAD_TIMEOUT:?}"));
                    }
                }
                sdnotify::send(notifier.as_ref(), "READY=1\nSTATUS=running");
            }
        }
        if stopping && !*stop_tx.borrow() {
            tracing::info!("stopping: priority 0 from masters, VIPs removed");
            sdnotify::send(notifier.as_ref(), "STOPPING=1");
            let _ = stop_tx.send(true);
        }
        if reload_now && !stopping {
            if pending.is_some() {
                tracing::warn!("a reload is still in progress: this one is skipped");
                continue;
            }
            sdnotify::send(
                notifier.as_ref(),
                &sdnotify::reloading_state(ha_examples::sys::monotonic_now()),
            );
            match load_and_build(&source) {
                Err(first) => {
                    tracing::error!("reload refused: the running configuration is kept");
                    observe::RELOADS.refused(first);
                    sdnotify::send(
                        notifier.as_ref(),
                        "READY=1\nSTATUS=running (last reload refused)",
                    );
                }
                Ok((l, b)) => {
                    for p in build::init_track_files(&l.config, true) {
                        tracing::warn!("{p}");
                    }
                    if l.config.global.status_socket != running_globals.status_socket
                        || l.config.global.control_socket != running_globals.control_socket
                        || l.config.global.metrics_listen != running_globals.metrics_listen
                    {
                        tracing::warn!(
                            "status_socket, control_socket and metrics_listen changes take effect at the next start"
                        );
                    }
                    names = l.config.instances.iter().map(|i| i.name.clone()).collect();
                    let _ = alerts_tx.send(b.alerts.clone());
                    let (done, rx) = oneshot::channel();
                    if reload_tx
                        .send(Reload {
                            config: b.config,
                            done,
                        })
                        .is_err()
                    {
                        tracing::error!("reload not applied: the director does not take reloads");
                        observe::RELOADS.refused("the director does not take reloads".into());
                        sdnotify::send(notifier.as_ref(), "READY=1");
                    } else {
                        let _ = names_tx.send(names.clone());
                        pending = Some(Box::pin(tokio::time::timeout(RELOAD_TIMEOUT, rx)));
                    }
                }
            }
        }
    };
    let _ = std::fs::remove_file(&sock_path);
    let _ = std::fs::remove_file(&control_path);
    // The director's event sender is gone: the event task ends once mails in flight are sent.
    let _ = tokio::time::timeout(Duration::from_secs(6), events_task).await;
    code
}

fn finished(
    r: Result<
        Result<ha_failover::runtime::director::DirectorCounters, DirectorRunError>,
        tokio::task::JoinError,
    >,
) -> ExitCode {
    match r {
        Ok(Ok(c)) => {
            tracing::info!(sent = c.sent, received = c.received, "director stopped");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "director failed");
            ExitCode::from(EXIT_RUNTIME)
        }
        Err(e) => {
            tracing::error!(error = %e, "director task panicked");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("ha-director: cannot start the tokio runtime: {e}");
            None
        }
    }
}

/// The pid files of `run --pid-file`: written at start, removed when dropped.
struct PidFiles(Vec<PathBuf>);

impl PidFiles {
    /// Writes this process's id to each file; refuses a file that names a running process
    /// (another director, or keepalived, already runs with it).
    fn create(paths: &[PathBuf]) -> Result<PidFiles, String> {
        let pid = std::process::id();
        let mut done = PidFiles(Vec::new());
        for p in paths {
            if let Ok(old) = std::fs::read_to_string(p)
                && let Ok(old) = old.trim().parse::<u32>()
                && old != pid
                && Path::new(&format!("/proc/{old}")).exists()
            {
                return Err(format!(
                    "pid file {}: process {old} is running (another director or keepalived?)",
                    p.display()
                ));
            }
            if let Some(dir) = p.parent()
                && !dir.as_os_str().is_empty()
            {
                let _ = std::fs::create_dir_all(dir);
            }
            std::fs::write(p, format!("{pid}\n"))
                .map_err(|e| format!("pid file {}: {e}", p.display()))?;
            done.0.push(p.clone());
        }
        Ok(done)
    }
}

impl Drop for PidFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// keepalived's own file, the default of its command line.
const KEEPALIVED_CONF: &str = "/etc/keepalived/keepalived.conf";

/// keepalived's command line (`keepalived [-f FILE] [-t] [-n] [-l] [-D] [-i ID] [-v]`), for
/// drop-in use, as this program's: `None` when `args` are not keepalived's (this program's own
/// subcommands and options). keepalived's line is recognised by the program's name
/// (`keepalived`, e.g. through a symlink) or by a first argument that only keepalived has. An
/// option keepalived has but this program cannot honour is an error naming it.
fn keepalived_args(args: &[String]) -> Result<Option<Vec<String>>, String> {
    let name = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ours = |a: &str| {
        matches!(a, "-h" | "--help" | "-V" | "--version" | "--log-detail")
            || a.starts_with("--config-id")
    };
    let first = args.get(1).map(String::as_str).unwrap_or("");
    let theirs = name == "keepalived" || (first.starts_with('-') && !ours(first));
    if !theirs {
        return Ok(None);
    }
    let (mut file, mut test, mut detail, mut id) = (KEEPALIVED_CONF.to_owned(), false, false, None);
    let mut pid_files = Vec::new();
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let (opt, inline) = match a.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o, Some(v.to_owned())),
            _ => (a.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            match inline.clone().or_else(|| it.next().cloned()) {
                Some(v) => Ok(v),
                None => Err(format!("keepalived option {opt} needs {what}")),
            }
        };
        match opt {
            "-f" | "--use-file" => file = value("a file")?,
            o if o.starts_with("-f") && o.len() > 2 && !o.starts_with("--") => {
                file = o[2..].to_owned()
            }
            "-t" | "--config-test" if inline.is_none() => test = true,
            // The director never forks and always logs to standard error.
            "-n" | "--dont-fork" | "-l" | "--log-console" => {}
            "-D" | "--log-detail" => detail = true,
            "-i" | "--config-id" => id = Some(value("an id")?),
            // keepalived's parent, VRRP child and checker child pid files: one process here.
            "-p" | "--pid" | "-r" | "--vrrp_pid" | "-c" | "--checkers_pid" => {
                pid_files.push(value("a file")?)
            }
            "-v" | "--version" => return Ok(Some(vec![args[0].clone(), "--version".into()])),
            "-h" | "--help" => return Ok(Some(vec![args[0].clone(), "--help".into()])),
            other => {
                return Err(format!(
                    "keepalived option {other} is not supported by ha-director (supported: -f, -t, -n, -l, -D, -i, -p, -r, -c, -v, -h)"
                ));
            }
        }
    }
    let mut out = vec![args[0].clone()];
    if let Some(id) = id {
        out.extend(["--config-id".to_owned(), id]);
    }
    if detail {
        out.push("--log-detail".into());
    }
    out.extend([
        if test { "check-config" } else { "run" }.to_owned(),
        "--keepalived-conf".into(),
        file,
    ]);
    if !test {
        for p in pid_files {
            out.extend(["--pid-file".to_owned(), p]);
        }
    }
    Ok(Some(out))
}

fn main() -> ExitCode {
    // Before any thread: one allocator arena for them all (see its documentation).
    ha_examples::sys::one_malloc_arena();
    if let Some(code) = ha_examples::generate::run_if_asked::<Cli>() {
        return code;
    }
    let args: Vec<String> = std::env::args().collect();
    let cli = match keepalived_args(&args) {
        Ok(Some(translated)) => Cli::parse_from(translated),
        Ok(None) => Cli::parse(),
        Err(e) => {
            eprintln!("ha-director: {e}");
            return ExitCode::from(2);
        }
    };
    let log_detail = cli.log_detail;
    let _ = HEARTBEAT.set(director::heartbeat::Options {
        node: cli.node.clone(),
        offline: matches!(cli.command, Command::CheckConfig { offline: true, .. }),
    });
    let _ = CONFIG_ID.set(
        cli.config_id
            .clone()
            .or_else(director::keepalived::preproc::default_config_id),
    );
    match cli.command {
        Command::CheckConfig {
            source,
            dump,
            offline,
        } => match load(&source) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    eprintln!("{w}");
                }
                // What `run` does next, up to opening sockets: the build, with its notes.
                let mut offline_notes = Vec::new();
                let built = if offline {
                    let accounts = offline_accounts(&loaded.config, &mut offline_notes);
                    let mut resolve = |interface: &str, ipv6: bool| {
                        offline_notes.push(format!(
                            "interface {interface}: its {} address is not looked up (--offline)",
                            if ipv6 { "IPv6" } else { "IPv4" }
                        ));
                        Ok(if ipv6 {
                            std::net::IpAddr::V6(std::net::Ipv6Addr::new(
                                0xfe80, 0, 0, 0, 0, 0, 0, 1,
                            ))
                        } else {
                            std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1))
                        })
                    };
                    build::build(&loaded.config, &mut resolve, &accounts)
                } else {
                    build::build(
                        &loaded.config,
                        &mut build::interface_address,
                        &Accounts::system(),
                    )
                };
                match built {
                    Ok(b) => {
                        for n in offline_notes.iter().chain(&b.notes) {
                            eprintln!("{}: note: {n}", source.path().display());
                        }
                    }
                    Err(e) => {
                        eprintln!("{}: {e}", source.path().display());
                        eprintln!(
                            "configuration is invalid: it cannot run on this host (--offline checks it for another)"
                        );
                        return ExitCode::from(EXIT_INVALID);
                    }
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
        Command::Convert {
            keepalived_conf,
            ldirectord_cf,
            heartbeat_dir,
        } => {
            let (file, loaded) = match (keepalived_conf, ldirectord_cf, heartbeat_dir) {
                (Some(k), _, _) => {
                    let l = director::load_keepalived_file_with_config_id(&k, config_id());
                    (k, l)
                }
                (None, Some(l), _) => {
                    let loaded = director::load_ldirectord_file(&l);
                    (l, loaded)
                }
                (None, None, Some(d)) => {
                    let loaded = director::heartbeat::load_heartbeat_dir(
                        &d,
                        HEARTBEAT.get_or_init(Default::default),
                    );
                    (d, loaded)
                }
                (None, None, None) => unreachable!("clap requires one file"),
            };
            match loaded {
                Ok(loaded) => {
                    for w in &loaded.warnings {
                        eprintln!("{w}");
                    }
                    match director::toml_format::to_toml(&loaded.config) {
                        Ok(t) => {
                            println!(
                                "# Converted from {} by ha-director convert.",
                                file.display()
                            );
                            for w in &loaded.warnings {
                                println!("# {w}");
                            }
                            println!("{NO_ANNOUNCE_EQUIVALENT}");
                            print!("{t}");
                            ExitCode::SUCCESS
                        }
                        Err(e) => report(&[e]),
                    }
                }
                Err(errors) => report(&errors),
            }
        }
        Command::Run {
            source,
            watch_config,
            status_socket,
            control_socket,
            metrics_listen,
            ipvs_dry_run,
            pid_file,
        } => {
            init_logging(log_detail);
            let _ = IPVS_DRY_RUN.set(ipvs_dry_run);
            let pid_files = match PidFiles::create(&pid_file) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!("{e}");
                    return ExitCode::from(EXIT_RUNTIME);
                }
            };
            let Ok((mut loaded, built)) = load_and_build(&source) else {
                return ExitCode::from(EXIT_INVALID);
            };
            // ldirectord's `autoreload = yes` (global.watch_config) watches the file too.
            let watch_config = watch_config || loaded.config.global.watch_config;
            let file_globals = loaded.config.global.clone();
            if status_socket.is_some() {
                loaded.config.global.status_socket = status_socket;
            }
            if control_socket.is_some() {
                loaded.config.global.control_socket = control_socket;
            }
            if metrics_listen.is_some() {
                loaded.config.global.metrics_listen = metrics_listen;
            }
            for p in build::init_track_files(&loaded.config, false) {
                tracing::warn!("{p}");
            }
            let Some(rt) = runtime() else {
                return ExitCode::from(EXIT_RUNTIME);
            };
            let code = rt.block_on(run_async(source, watch_config, loaded, built, file_globals));
            drop(pid_files);
            code
        }
        Command::Standby(a) => admin_command("standby", &a),
        Command::Takeover(a) => admin_command("takeover", &a),
        Command::Auto(a) => admin_command("auto", &a),
        Command::Status { socket } => {
            let Some(rt) = runtime() else {
                return ExitCode::from(EXIT_RUNTIME);
            };
            match rt.block_on(observe::fetch_unix(&socket)) {
                Ok(v) => {
                    use std::io::Write;
                    let text = serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string());
                    // A closed pipe (`| head`) is not an error worth a panic.
                    let _ = writeln!(std::io::stdout(), "{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ha-director status: {e}");
                    ExitCode::from(EXIT_INVALID)
                }
            }
        }
        Command::Realserver {
            vips,
            interface,
            undo,
            state_file,
        } => {
            let Some(rt) = runtime() else {
                return ExitCode::from(EXIT_RUNTIME);
            };
            let mut opts = realserver::RealserverOptions::new(vips);
            opts.interface = interface;
            opts.state_file = state_file;
            let r = rt.block_on(async {
                if undo {
                    realserver::undo(&opts).await
                } else {
                    realserver::apply(&opts).await
                }
            });
            match r {
                Ok(report) => {
                    print!("{report}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ha-director realserver: {e}");
                    ExitCode::from(EXIT_RUNTIME)
                }
            }
        }
    }
}
