//! A keepalived.conf reader: tokenizer ([`lexer`]), statement tree with `include`
//! expansion ([`parse`]) and conversion into the [`Config`] model.
//!
//! Keywords that are not supported but harmless to skip become [`Warning`]s with their
//! place and what happens instead. Keywords whose loss would change safety (authentication
//! that cannot be honoured, tracking that cannot be done, script options that cannot be
//! applied, health-check criteria that cannot be evaluated) are errors.

pub mod lexer;
pub mod parse;
pub mod preproc;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::str::FromStr;

use parse::Node;

use super::model::{
    Auth, Check, CheckKind, Config, Family, Garp, HttpProtocol, InitialState, Instance, Method,
    Notify, ParamMatch, PeerTtl, Protocol, RealServer, Smtp, SorryServer, SslClient, StatusCodes,
    SyncDaemon, SyncGroup, TrackFile, TrackFileInit, TrackInterface, TrackProcess, TrackScript,
    TrackScriptRef, UrlCheck, Vip, VirtualServer,
};
use super::model::{
    FlushOnStop, GroupEntry, LvsTimeouts, SchedFlag, TunnelOptions, VirtualServerGroup,
};
use super::validate::Item;
use super::{ConfigError, Location, Warning};

/// What is wrong at a place of a keepalived.conf.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeepalivedErrorKind {
    /// Tokenizer or block structure error.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// A keyword without its argument.
    #[error("`{keyword}` needs an argument")]
    MissingArgument {
        /// The keyword.
        keyword: String,
    },
    /// A keyword that needs a `{ }` block has none, or one that takes none has one.
    #[error("`{keyword}` {problem}")]
    Block {
        /// The keyword.
        keyword: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// An argument that does not parse.
    #[error("`{keyword}`: bad value {value:?}, expected {expected}")]
    BadValue {
        /// The keyword.
        keyword: String,
        /// The value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A keyword that cannot be honoured and whose loss would change safety.
    #[error("`{keyword}` cannot be honoured: {reason}")]
    Unsafe {
        /// The keyword.
        keyword: String,
        /// Why it matters.
        reason: String,
    },
    /// A checker that cannot run here: accepting it would leave the real server in the pool
    /// with no check at all.
    #[error("`{keyword}` is not supported: {reason}")]
    UnsupportedCheck {
        /// The checker keyword (`FILE_CHECK`, `BFD_CHECK`).
        keyword: String,
        /// Why, and what to use instead.
        reason: &'static str,
    },
    /// Tunnel options of `lvs_method TUN` that keepalived would refuse.
    #[error("`lvs_method TUN {options}`: {reason}")]
    BadTunnel {
        /// The options as written.
        options: String,
        /// What is wrong.
        reason: String,
    },
    /// A `virtual_server_group` entry that does not parse.
    #[error("virtual_server_group entry {entry:?}: {reason}")]
    BadGroupEntry {
        /// The entry as written.
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// An `include` problem.
    #[error("include {pattern:?}: {reason}")]
    Include {
        /// The pattern.
        pattern: String,
        /// What went wrong.
        reason: String,
    },
}

/// The result of reading a keepalived.conf.
#[derive(Debug, Clone)]
pub struct KeepalivedConfig {
    /// The converted model (not yet validated).
    pub config: Config,
    /// Unsupported keywords, with what happens instead.
    pub warnings: Vec<Warning>,
    /// Where each item is defined.
    pub locations: HashMap<Item, Location>,
}

/// Reads a keepalived.conf file with its includes and converts it.
pub fn read_file(path: &Path) -> Result<KeepalivedConfig, Vec<ConfigError>> {
    let mut warnings = Vec::new();
    let nodes = parse::parse_file(path, 0, &mut warnings)?;
    convert(nodes, warnings)
}

/// Reads a keepalived.conf with `config_id` for its `@ID` lines (keepalived `--config-id`;
/// [`read_file`] uses the host name up to its first dot, keepalived's default).
pub fn read_file_with_config_id(
    path: &Path,
    config_id: Option<String>,
) -> Result<KeepalivedConfig, Vec<ConfigError>> {
    let mut warnings = Vec::new();
    let mut defs = preproc::Defs::new(config_id);
    let src = preproc::load(path, 0, &mut defs, &mut warnings)?;
    let nodes = parse::parse_source(&src)?;
    // The preprocessed lines are not needed by the conversion.
    drop(src);
    convert(nodes, warnings)
}

/// Converts keepalived.conf text; `file` names it in locations and anchors includes.
pub fn read_str(text: &str, file: &Path) -> Result<KeepalivedConfig, Vec<ConfigError>> {
    let mut warnings = Vec::new();
    let nodes = parse::parse_text_expanding(text, file, 0, &mut warnings)?;
    convert(nodes, warnings)
}

/// Parses a keepalived TIMER (seconds, possibly with a fraction) into milliseconds.
pub fn parse_timer_ms(s: &str) -> Option<u64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut ms = 0u64;
    for (i, b) in frac.bytes().take(3).enumerate() {
        ms += u64::from(b - b'0') * 10u64.pow(2 - u32::try_from(i).ok()?);
    }
    secs.checked_mul(1000)?.checked_add(ms)
}

fn vs_name(addr: IpAddr, port: u16) -> String {
    SocketAddr::new(addr, port).to_string()
}

struct Conv {
    /// `checker_log_all_failures` in global_defs: the default of every check's
    /// `log_all_failures`.
    checker_log_all: bool,
    warnings: Vec<Warning>,
    errors: Vec<ConfigError>,
    locations: HashMap<Item, Location>,
    default_version: u8,
    /// `vrrp_strict` in global_defs (an instance's `strict_mode` overrides it).
    strict: bool,
    /// `vrrp_lower_prio_no_advert` in global_defs.
    lower_prio_no_advert: bool,
    /// `vrrp_higher_prio_send_advert` in global_defs.
    higher_prio_send_advert: bool,
    /// The old `lvs_sync_daemon_interface IF` of an instance: (interface, instance).
    old_sync_daemon: Option<(String, String)>,
}

impl Conv {
    fn warn(&mut self, n: &Node, action: &str) {
        self.warnings.push(Warning {
            location: n.location.clone(),
            keyword: n.keyword.clone(),
            action: action.to_string(),
        });
    }
    fn error(&mut self, n: &Node, kind: KeepalivedErrorKind) {
        self.errors.push(ConfigError::Keepalived {
            location: n.location.clone(),
            kind,
        });
    }
    fn bad(&mut self, n: &Node, value: &str, expected: &'static str) {
        self.error(
            n,
            KeepalivedErrorKind::BadValue {
                keyword: n.keyword.clone(),
                value: value.into(),
                expected,
            },
        );
    }
    fn unsafe_(&mut self, n: &Node, reason: &str) {
        self.error(
            n,
            KeepalivedErrorKind::Unsafe {
                keyword: n.keyword.clone(),
                reason: reason.into(),
            },
        );
    }
    /// The first argument; reports a missing one. A block where none belongs is an error.
    fn arg<'a>(&mut self, n: &'a Node) -> Option<&'a str> {
        if n.block.is_some() {
            self.error(
                n,
                KeepalivedErrorKind::Block {
                    keyword: n.keyword.clone(),
                    problem: "takes no block",
                },
            );
        }
        match n.args.first() {
            Some(a) => Some(a),
            None => {
                self.error(
                    n,
                    KeepalivedErrorKind::MissingArgument {
                        keyword: n.keyword.clone(),
                    },
                );
                None
            }
        }
    }
    /// All arguments joined by spaces (commands).
    fn command(&mut self, n: &Node) -> Option<String> {
        self.arg(n).map(|_| n.args.join(" "))
    }
    fn num<T: FromStr>(&mut self, n: &Node, expected: &'static str) -> Option<T> {
        let a = self.arg(n)?;
        match a.parse() {
            Ok(v) => Some(v),
            Err(_) => {
                self.bad(n, a, expected);
                None
            }
        }
    }
    /// A number within `range`, reported at the keyword when it is not one or is outside.
    fn num_in<T: FromStr + PartialOrd>(
        &mut self,
        n: &Node,
        range: std::ops::RangeInclusive<T>,
        expected: &'static str,
    ) -> Option<T> {
        let a = self.arg(n)?;
        match a.parse() {
            Ok(v) if range.contains(&v) => Some(v),
            _ => {
                self.bad(n, a, expected);
                None
            }
        }
    }
    fn timer(&mut self, n: &Node) -> Option<u64> {
        let a = self.arg(n)?;
        let v = parse_timer_ms(a);
        if v.is_none() {
            self.bad(n, a, "seconds (e.g. 3 or 1.5)");
        }
        v
    }
    fn ip(&mut self, n: &Node) -> Option<IpAddr> {
        let a = self.arg(n)?;
        self.parse_ip(n, a)
    }
    fn parse_ip(&mut self, n: &Node, a: &str) -> Option<IpAddr> {
        match a.parse() {
            Ok(v) => Some(v),
            Err(_) => {
                self.bad(n, a, "an IP address");
                None
            }
        }
    }
    fn flag(&mut self, n: &Node) -> bool {
        if n.block.is_some() {
            self.error(
                n,
                KeepalivedErrorKind::Block {
                    keyword: n.keyword.clone(),
                    problem: "takes no block",
                },
            );
        }
        match n.args.first().map(|s| s.to_ascii_lowercase()).as_deref() {
            None | Some("true" | "on" | "yes" | "1") => true,
            Some("false" | "off" | "no" | "0") => false,
            Some(other) => {
                let other = other.to_string();
                self.bad(n, &other, "nothing, or true/false");
                false
            }
        }
    }
    fn block<'a>(&mut self, n: &'a Node) -> &'a [Node] {
        match &n.block {
            Some(b) => b,
            None => {
                self.error(
                    n,
                    KeepalivedErrorKind::Block {
                        keyword: n.keyword.clone(),
                        problem: "needs a { } block",
                    },
                );
                &[]
            }
        }
    }
    fn notify(&mut self, n: &Node, notify: &mut Notify) -> bool {
        let slot = match n.keyword.as_str() {
            "notify_master" => &mut notify.master,
            "notify_backup" => &mut notify.backup,
            "notify_fault" => &mut notify.fault,
            "notify_stop" => &mut notify.stop,
            "notify" => &mut notify.any,
            _ => return false,
        };
        *slot = self.command(n);
        true
    }
}

/// Converts the parsed blocks, dropping each once converted: at 10,000 real servers the
/// parsed text (11 MiB) and the configuration (8 MiB) were both held at the end, the
/// director's peak of memory (heaptrack in `hc-vs`).
fn convert(nodes: Vec<Node>, warnings: Vec<Warning>) -> Result<KeepalivedConfig, Vec<ConfigError>> {
    let mut c = Conv {
        checker_log_all: false,
        warnings,
        errors: Vec::new(),
        locations: HashMap::new(),
        default_version: 2,
        strict: false,
        lower_prio_no_advert: false,
        higher_prio_send_advert: false,
        old_sync_daemon: None,
    };
    let mut cfg = Config::default();
    // global_defs first: vrrp_version changes the default of every instance.
    for n in nodes.iter().filter(|n| n.keyword == "global_defs") {
        global_defs(&mut c, n, &mut cfg);
    }
    for n in nodes {
        let n = &n;
        match n.keyword.as_str() {
            "global_defs" => {}
            "vrrp_script" => {
                if let Some(s) = vrrp_script(&mut c, n) {
                    cfg.scripts.push(s);
                }
            }
            "vrrp_instance" => {
                if let Some(i) = vrrp_instance(&mut c, n) {
                    cfg.instances.push(i);
                }
            }
            "vrrp_sync_group" => {
                if let Some(g) = sync_group(&mut c, n) {
                    cfg.sync_groups.push(g);
                }
            }
            "virtual_server" => {
                if let Some(v) = virtual_server(&mut c, n) {
                    cfg.virtual_servers.push(v);
                }
            }
            "SSL" => ssl_block(&mut c, n, &mut cfg),
            "virtual_server_group" => {
                if let Some(g) = virtual_server_group(&mut c, n) {
                    cfg.virtual_server_groups.push(g);
                }
            }
            // `vrrp_track_file` is keepalived's deprecated spelling of `track_file`.
            "track_file" | "vrrp_track_file" => {
                if let Some(f) = track_file(&mut c, n) {
                    cfg.track_files.push(f);
                }
            }
            "vrrp_track_process" => {
                if let Some(p) = track_process(&mut c, n) {
                    cfg.track_processes.push(p);
                }
            }
            "static_ipaddress" => {
                for line in c.block(n) {
                    if let Some(v) = c.vip(line) {
                        if v.dev.is_none() {
                            c.error(
                                line,
                                KeepalivedErrorKind::MissingArgument {
                                    keyword: "dev (a static address names its interface)".into(),
                                },
                            );
                        } else {
                            cfg.global.static_addresses.push(v);
                        }
                    }
                }
            }
            "static_routes" => {
                let r = route_lines(&mut c, n);
                cfg.global.static_routes.extend(r);
            }
            "static_rules" => {
                let r = rule_lines(&mut c, n);
                cfg.global.static_rules.extend(r);
            }
            "bfd_instance" => c.warn(
                n,
                "ignored: not supported (an instance tracking it or a BFD_CHECK is an error)",
            ),
            _ => c.warn(n, "ignored"),
        }
    }
    if let Some((interface, instance)) = c.old_sync_daemon.take()
        && cfg.global.sync_daemon.is_none()
    {
        cfg.global.sync_daemon = Some(SyncDaemon::new(interface, instance));
    }
    if c.errors.is_empty() {
        Ok(KeepalivedConfig {
            config: cfg,
            warnings: c.warnings,
            locations: c.locations,
        })
    } else {
        Err(c.errors)
    }
}

/// keepalived's mail settings of `global_defs`, gathered before they are checked together.
#[derive(Default)]
struct MailDefs<'a> {
    server: Option<(std::net::SocketAddr, &'a Node)>,
    to: Vec<String>,
    to_at: Option<&'a Node>,
    from: Option<String>,
    helo: Option<String>,
    timeout_ms: Option<u64>,
    alert: Option<bool>,
    alert_vrrp: Option<bool>,
    alert_checker: Option<bool>,
    no_email_faults: bool,
    /// Every mail keyword seen, for the warning when no mail can be sent.
    seen: Vec<&'a Node>,
}

impl<'a> MailDefs<'a> {
    /// Takes `k` if it is a mail keyword.
    fn take(&mut self, c: &mut Conv, k: &'a Node) -> bool {
        self.seen.push(k);
        match k.keyword.as_str() {
            "smtp_server" => {
                let Some(ip) = c.ip(k) else { return true };
                let port = match k.args.get(1) {
                    None => Some(25),
                    Some(p) => match p.parse::<u16>() {
                        Ok(p) if p > 0 => Some(p),
                        _ => {
                            c.bad(k, p, "a port 1..=65535");
                            None
                        }
                    },
                };
                if let Some(port) = port {
                    self.server = Some((std::net::SocketAddr::new(ip, port), k));
                }
            }
            "notification_email" => {
                self.to_at = Some(k);
                for a in c.block(k) {
                    self.to.push(a.keyword.clone());
                    self.to.extend(a.args.iter().cloned());
                }
            }
            "notification_email_from" => self.from = c.arg(k).map(str::to_string),
            "smtp_helo_name" => self.helo = c.arg(k).map(str::to_string),
            "smtp_connect_timeout" => self.timeout_ms = c.timer(k),
            "smtp_alert" => self.alert = Some(c.flag(k)),
            "smtp_alert_vrrp" => self.alert_vrrp = Some(c.flag(k)),
            "smtp_alert_checker" => self.alert_checker = Some(c.flag(k)),
            "no_email_faults" => self.no_email_faults = c.flag(k),
            // Mail goes out when a real server changes state, never for a checker alone: what
            // keepalived does with `no_checker_emails`, always.
            "no_checker_emails" => {
                c.flag(k);
            }
            _ => {
                self.seen.pop();
                return false;
            }
        }
        true
    }

    /// The mail settings; keepalived sends nothing without both a server and a recipient,
    /// which is a warning here.
    fn finish(self, c: &mut Conv, n: &Node) -> Option<Smtp> {
        match (self.server, self.to.is_empty()) {
            (Some((server, _)), false) => Some(Smtp {
                server,
                to: self.to,
                from: self.from,
                helo_name: self.helo,
                connect_timeout_ms: self.timeout_ms.unwrap_or(30_000),
                alert_vrrp: self.alert_vrrp.or(self.alert).unwrap_or(false),
                alert_checker: self.alert_checker.or(self.alert),
                no_email_faults: self.no_email_faults,
                repeat_down_s: None,
            }),
            (Some((_, at)), true) => {
                c.warn(
                    at,
                    "no mail is sent: there is no notification_email (as in keepalived)",
                );
                None
            }
            (None, false) => {
                c.warn(
                    self.to_at.unwrap_or(n),
                    "no mail is sent: there is no smtp_server (as in keepalived)",
                );
                None
            }
            (None, true) => {
                for k in self.seen {
                    c.warn(k, "ignored: no mail is sent without smtp_server and notification_email (as in keepalived)");
                }
                None
            }
        }
    }
}

fn global_defs(c: &mut Conv, n: &Node, cfg: &mut Config) {
    c.locations
        .entry(Item::Global)
        .or_insert_with(|| n.location.clone());
    let mut mail = MailDefs::default();
    let mut min_garp = false;
    for k in c.block(n) {
        if mail.take(c, k) {
            continue;
        }
        match k.keyword.as_str() {
            "checker_log_all_failures" => c.checker_log_all = c.flag(k),
            "lvs_sync_daemon" => cfg.global.sync_daemon = lvs_sync_daemon(c, k),
            "vrrp_rt_priority" => {
                cfg.global.realtime_priority = c.num(k, "a realtime priority 1..=99")
            }
            "vrrp_no_swap" => {} // memory is locked whenever realtime_priority is set
            "router_id" | "lvs_id" => cfg.global.router_id = c.arg(k).map(str::to_string),
            "enable_script_security" => cfg.global.script_security = c.flag(k),
            "script_user" => {
                if let Some(u) = c.arg(k) {
                    cfg.global.script_user = Some(u.to_string());
                    cfg.global.script_group = k.args.get(1).cloned();
                    if k.args.len() > 2 {
                        c.unsafe_(k, "only USER [GROUP] is supported");
                    }
                }
            }
            "vrrp_strict" => c.strict = c.flag(k),
            "vrrp_lower_prio_no_advert" => c.lower_prio_no_advert = c.flag(k),
            "vrrp_higher_prio_send_advert" => c.higher_prio_send_advert = c.flag(k),
            "lvs_timeouts" => cfg.global.lvs_timeouts = lvs_timeouts(c, k),
            "lvs_flush" => cfg.global.lvs_flush = c.flag(k),
            "rs_init_notifies" => cfg.global.rs_init_notifies = c.flag(k),
            // lvs_flush_onstop is keepalived's older spelling.
            "lvs_flush_on_stop" | "lvs_flush_onstop" => match k.args.as_slice() {
                [] => cfg.global.lvs_flush_on_stop = Some(FlushOnStop::All),
                [v] if v == "VS" => cfg.global.lvs_flush_on_stop = Some(FlushOnStop::Vs),
                other => c.bad(k, &other.join(" "), "nothing or VS"),
            },
            "vrrp_garp_master_delay"
            | "vrrp_garp_master_repeat"
            | "vrrp_garp_master_refresh"
            | "vrrp_garp_master_refresh_repeat"
            | "vrrp_garp_lower_prio_delay"
            | "vrrp_garp_lower_prio_repeat" => {
                garp_key(c, k, &k.keyword[5..], &mut cfg.global.garp)
            }
            "vrrp_min_garp" => min_garp = c.flag(k),
            "vrrp_garp_interval" => cfg.global.garp_interval_ms = c.timer(k).unwrap_or(0),
            "vrrp_gna_interval" => cfg.global.gna_interval_ms = c.timer(k).unwrap_or(0),
            "vrrp_mcast_group4" => {
                if let Some(a) = c.arg(k) {
                    match a.parse::<std::net::Ipv4Addr>() {
                        Ok(g) if g.is_multicast() => cfg.global.mcast_group4 = Some(g),
                        _ => c.bad(k, a, "an IPv4 multicast address"),
                    }
                }
            }
            "vrrp_mcast_group6" => {
                if let Some(a) = c.arg(k) {
                    match a.parse::<std::net::Ipv6Addr>() {
                        Ok(g) if g.is_multicast() => cfg.global.mcast_group6 = Some(g),
                        _ => c.bad(k, a, "an IPv6 multicast address"),
                    }
                }
            }
            "vrrp_startup_delay" => cfg.global.startup_delay_ms = c.timer(k).unwrap_or(0),
            // Unicast adverts from a source that is not a peer are always dropped here.
            "vrrp_check_unicast_src" => {
                c.flag(k);
            }
            "vrrp_version" => match c.num::<u8>(k, "2 or 3") {
                Some(v @ (2 | 3)) => c.default_version = v,
                Some(v) => c.bad(k, &v.to_string(), "2 or 3"),
                None => {}
            },
            _ => c.warn(k, "ignored"),
        }
    }
    if let Some(smtp) = mail.finish(c, n) {
        cfg.global.smtp = Some(smtp);
    }
    if min_garp {
        // keepalived's `vrrp_min_garp`: one frame per address, no second burst, no refresh,
        // for what is not set explicitly.
        let g = &mut cfg.global.garp;
        g.master_repeat.get_or_insert(1);
        g.master_delay_ms.get_or_insert(0);
        g.master_refresh_ms.get_or_insert(0);
        g.master_refresh_repeat.get_or_insert(0);
    }
}

/// The lines of a `virtual_routes` / `static_routes` block, each checked as the runtime
/// will read it (an error at the line otherwise: a route is never half-applied).
fn route_lines(c: &mut Conv, k: &Node) -> Vec<String> {
    let mut out = Vec::new();
    for r in c.block(k) {
        let text = line_text(r);
        match ha_failover::runtime::route::RouteSpec::parse(&text) {
            Ok(_) => out.push(text),
            Err(e) => c.error(
                r,
                KeepalivedErrorKind::Syntax(format!("route {text:?}: {e}")),
            ),
        }
    }
    out
}

/// The lines of a `virtual_rules` / `static_rules` block, each checked as the runtime will
/// read it.
fn rule_lines(c: &mut Conv, k: &Node) -> Vec<String> {
    let mut out = Vec::new();
    for r in c.block(k) {
        let text = line_text(r);
        match ha_failover::runtime::rule::RuleSpec::parse(&text) {
            Ok(_) => out.push(text),
            Err(e) => c.error(
                r,
                KeepalivedErrorKind::Syntax(format!("rule {text:?}: {e}")),
            ),
        }
    }
    out
}

/// A block line as written: its keyword and arguments.
fn line_text(r: &Node) -> String {
    std::iter::once(r.keyword.as_str())
        .chain(r.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `ADDR min_ttl N max_ttl M` in a `unicast_peer` block (either may be left out).
fn peer_ttl(c: &mut Conv, p: &Node, peer: IpAddr) -> Option<PeerTtl> {
    let mut t = PeerTtl {
        peer,
        min_ttl: 0,
        max_ttl: 255,
    };
    let mut words = p.args.iter();
    while let Some(w) = words.next() {
        let v = words.next().and_then(|v| v.parse::<u8>().ok());
        match (w.as_str(), v) {
            ("min_ttl", Some(v)) => t.min_ttl = v,
            ("max_ttl", Some(v)) => t.max_ttl = v,
            _ => {
                c.bad(p, w, "min_ttl N or max_ttl N (0..=255)");
                return None;
            }
        }
    }
    if t.min_ttl > t.max_ttl {
        c.bad(p, &p.args.join(" "), "min_ttl at most max_ttl");
        return None;
    }
    Some(t)
}

/// One `garp_*` setting (`name` without the `vrrp_` prefix of the global form) into `garp`.
fn garp_key(c: &mut Conv, k: &Node, name: &str, garp: &mut Garp) {
    match name {
        "garp_master_delay" => garp.master_delay_ms = c.timer(k),
        "garp_master_refresh" => garp.master_refresh_ms = c.timer(k),
        "garp_lower_prio_delay" => garp.lower_prio_delay_ms = c.timer(k),
        "garp_master_repeat" | "garp_master_refresh_repeat" | "garp_lower_prio_repeat" => {
            let v = c.num::<u32>(k, "a count");
            match name {
                "garp_master_repeat" => garp.master_repeat = v,
                "garp_master_refresh_repeat" => garp.master_refresh_repeat = v,
                _ => garp.lower_prio_repeat = v,
            }
        }
        _ => c.warn(k, "ignored"),
    }
}

fn vrrp_script(c: &mut Conv, n: &Node) -> Option<TrackScript> {
    let name = c.arg_block_name(n)?;
    let mut s = TrackScript {
        name: name.clone(),
        command: String::new(),
        interval_ms: 1000,
        timeout_ms: None,
        weight: 0,
        reverse: false,
        init_fail: false,
        rise: 1,
        fall: 1,
        user: None,
        group: None,
    };
    for k in c.block(n) {
        match k.keyword.as_str() {
            "script" => s.command = c.command(k).unwrap_or_default(),
            "interval" => s.interval_ms = c.timer(k).unwrap_or(s.interval_ms),
            "timeout" => s.timeout_ms = c.timer(k),
            "weight" => {
                if let Some((w, r)) = weight_line(c, k, 253) {
                    s.weight = w;
                    s.reverse = r;
                }
            }
            "init_fail" => s.init_fail = c.flag(k),
            "rise" => s.rise = c.num(k, "a count >= 1").unwrap_or(1),
            "fall" => s.fall = c.num(k, "a count >= 1").unwrap_or(1),
            "user" => {
                s.user = c.arg(k).map(str::to_string);
                s.group = k.args.get(1).cloned();
            }
            _ => c.unsafe_(
                k,
                "unsupported vrrp_script option: the script would not run as configured",
            ),
        }
    }
    if s.command.is_empty() {
        c.error(
            n,
            KeepalivedErrorKind::MissingArgument {
                keyword: "script".into(),
            },
        );
    }
    c.locations.insert(Item::Script(name), n.location.clone());
    Some(s)
}

impl Conv {
    /// The name of a named block (`vrrp_instance NAME {`).
    fn arg_block_name(&mut self, n: &Node) -> Option<String> {
        if n.block.is_none() {
            self.error(
                n,
                KeepalivedErrorKind::Block {
                    keyword: n.keyword.clone(),
                    problem: "needs a { } block",
                },
            );
            return None;
        }
        match n.args.as_slice() {
            [name] => Some(name.clone()),
            [] => {
                self.error(
                    n,
                    KeepalivedErrorKind::MissingArgument {
                        keyword: n.keyword.clone(),
                    },
                );
                None
            }
            more => {
                self.bad(n, &more.join(" "), "one name");
                None
            }
        }
    }

    fn vip(&mut self, line: &Node) -> Option<Vip> {
        // A line of virtual_ipaddress: ADDR[/PREFIX] [dev IF] [label L] [brd X] [scope S] ...
        let words: Vec<&str> = std::iter::once(line.keyword.as_str())
            .chain(line.args.iter().map(String::as_str))
            .collect();
        let mut vip: Vip = match words[0].parse() {
            Ok(v) => v,
            Err(_) => {
                self.bad(line, words[0], "ADDRESS[/PREFIX]");
                return None;
            }
        };
        let mut i = 1;
        while i < words.len() {
            let value = words.get(i + 1).copied();
            match (words[i], value) {
                ("dev", Some(v)) => vip.dev = Some(v.to_string()),
                ("label", Some(v)) => vip.label = Some(v.to_string()),
                ("brd" | "broadcast" | "scope" | "preferred_lft", Some(_)) => {
                    self.warnings.push(Warning {
                        location: line.location.clone(),
                        keyword: words[i].to_string(),
                        action: "ignored: the kernel's default is used".into(),
                    })
                }
                ("no_track", _) => {
                    self.warnings.push(Warning {
                        location: line.location.clone(),
                        keyword: "no_track".into(),
                        action: "ignored: the address is tracked".into(),
                    });
                    i += 1;
                    continue;
                }
                (w, _) => {
                    self.bad(
                        line,
                        w,
                        "dev IF, label L, brd, scope, preferred_lft or no_track",
                    );
                    return None;
                }
            }
            i += 2;
        }
        Some(vip)
    }
}

fn vrrp_instance(c: &mut Conv, n: &Node) -> Option<Instance> {
    let name = c.arg_block_name(n)?;
    let mut i = Instance {
        version: c.default_version,
        lower_prio_no_advert: c.lower_prio_no_advert,
        higher_prio_send_advert: c.higher_prio_send_advert,
        ..Instance::new(name.clone(), String::new(), 0)
    };
    // Where `priority`, `nopreempt` and `preempt_delay` were written (keepalived's rules
    // between them and `state`, applied after the block).
    let (mut priority_at, mut nopreempt_at, mut state_at) = (None, None, None);
    let mut strict = c.strict;
    // Where the keywords that strict mode changes were written.
    let (mut auth_at, mut peers_at, mut delay_at) = (None, None, None);
    // `use_vmac` without a name: keepalived's `vrrp.<vrid>`, known once the block is read.
    let mut default_vmac = false;
    let mut have_interface = false;
    let mut have_vrid = false;
    for k in c.block(n) {
        if c.notify(k, &mut i.notify) {
            continue;
        }
        match k.keyword.as_str() {
            "garp_master_delay"
            | "garp_master_repeat"
            | "garp_master_refresh"
            | "garp_master_refresh_repeat"
            | "garp_lower_prio_delay"
            | "garp_lower_prio_repeat" => garp_key(c, k, &k.keyword, &mut i.garp),
            "virtual_routes" => i.virtual_routes.extend(route_lines(c, k)),
            "virtual_rules" => i.virtual_rules.extend(rule_lines(c, k)),
            "mcast_dst_ip" => {
                if let Some(a) = c.arg(k) {
                    match a.parse::<IpAddr>() {
                        Ok(g @ IpAddr::V4(v4)) if v4.is_multicast() => i.mcast_group = Some(g),
                        Ok(g @ IpAddr::V6(v6)) if v6.segments()[0] == 0xff02 => {
                            i.mcast_group = Some(g)
                        }
                        _ => c.bad(k, a, "an IPv4 multicast or IPv6 link-local multicast address"),
                    }
                }
            }
            // keepalived's default; `nopreempt` turns it off.
            "preempt" => i.nopreempt = false,
            // Unicast adverts from a source that is not a peer are always dropped here.
            "check_unicast_src" => {
                c.flag(k);
            }
            "old_unicast_checksum" => c.unsafe_(
                k,
                "the pre-1.3.6 keepalived unicast checksum is not supported: adverts of a peer computing it would be dropped and ours dropped by it (two masters)",
            ),
            "unicast_ttl" => i.unicast_ttl = c.num(k, "a TTL 1..=255").filter(|t| *t > 0),
            "auth_hmac" => c.unsafe_(
                k,
                "not in keepalived 2.2.7 and not supported here; adverts would go out unauthenticated (use `authentication { auth_type PASS }` with VRRPv2)",
            ),
            "state" => {
                state_at = Some(k.clone());
                match c.arg(k) {
                Some("MASTER") => i.state = InitialState::Master,
                Some("BACKUP") => i.state = InitialState::Backup,
                Some(v) => c.bad(k, v, "MASTER or BACKUP"),
                None => {}
                }
            }
            "interface" => {
                i.interface = c.arg(k).unwrap_or_default().to_string();
                have_interface = true;
            }
            "virtual_router_id" => {
                i.vrid = c.num_in(k, 1..=255, "a VRID 1..=255").unwrap_or(0);
                have_vrid = true;
            }
            "priority" => {
                priority_at = Some(k.clone());
                i.priority = c.num_in(k, 1..=255, "a priority 1..=255").unwrap_or(100)
            }
            "advert_int" => i.advert_int_ms = c.timer(k).and_then(|v| u32::try_from(v).ok()).unwrap_or(0),
            "version" => i.version = c.num(k, "2 or 3").unwrap_or(i.version),
            "virtual_ipaddress" | "virtual_ipaddress_excluded" => {
                let excluded = k.keyword.ends_with("excluded");
                for line in c.block(k) {
                    if let Some(v) = c.vip(line) {
                        if excluded { i.excluded_vips.push(v) } else { i.vips.push(v) }
                    }
                }
            }
            // mcast_src_ip is the old spelling: both set the advert source address.
            "unicast_src_ip" | "mcast_src_ip" => i.unicast_src_ip = c.ip(k),
            "strict_mode" => strict = c.flag(k),
            "lower_prio_no_advert" => i.lower_prio_no_advert = c.flag(k),
            "higher_prio_send_advert" => i.higher_prio_send_advert = c.flag(k),
            "smtp_alert" => i.smtp_alert = Some(c.flag(k)),
            "unicast_peer" => {
                peers_at = Some(k.clone());
                for p in c.block(k) {
                    if let Some(a) = c.parse_ip(p, &p.keyword) {
                        i.unicast_peers.push(a);
                    }
                    if !p.args.is_empty()
                        && let Ok(peer) = p.keyword.parse::<IpAddr>()
                        && let Some(t) = peer_ttl(c, p, peer)
                    {
                        i.unicast_peer_ttl.push(t);
                    }
                }
            }
            "nopreempt" => {
                nopreempt_at = Some(k.clone());
                i.nopreempt = c.flag(k)
            }
            "preempt_delay" => {
                delay_at = Some(k.clone());
                i.preempt_delay_ms = c.timer(k).unwrap_or(0);
            }
            "authentication" => {
                auth_at = Some(k.clone());
                i.auth = authentication(c, k);
            }
            "track_interface" => i.track_interfaces.extend(track_interfaces(c, k)),
            "track_script" => i.track_scripts.extend(track_refs(c, k, 253)),
            "track_file" => i.track_files.extend(track_refs(c, k, 254)),
            "track_process" => i.track_processes.extend(track_refs(c, k, 254)),
            "dont_track_primary" => i.dont_track_primary = c.flag(k),
            "track_bfd" => {
                c.unsafe_(k, "this kind of tracking is not supported; the instance could become master while the tracked thing is down")
            }
            "track_src_ip" => c.unsafe_(
                k,
                "not supported: the instance would stay master after its source address is removed",
            ),
            "lvs_sync_daemon_interface" => {
                if let Some(a) = c.arg(k) {
                    c.old_sync_daemon = Some((a.to_string(), name.clone()));
                }
            }
            "use_vmac" => match k.args.first() {
                Some(name) => i.vmac = Some(name.clone()),
                None => default_vmac = true,
            },
            "vmac_xmit_base" => c.warn(
                k,
                "ignored: adverts are sent from the virtual MAC interface (keepalived's default)",
            ),
            _ => c.warn(k, "ignored"),
        }
    }
    if default_vmac && i.vmac.is_none() {
        i.vmac = Some(format!("vrrp.{}", i.vrid));
    }
    initial_state(
        c,
        n,
        &mut i,
        strict,
        [state_at, priority_at, nopreempt_at, delay_at.clone()],
    );
    if strict {
        strict_mode(c, n, &mut i, auth_at, peers_at, delay_at);
    }
    if !have_interface {
        c.error(
            n,
            KeepalivedErrorKind::MissingArgument {
                keyword: "interface".into(),
            },
        );
    }
    if !have_vrid {
        c.error(
            n,
            KeepalivedErrorKind::MissingArgument {
                keyword: "virtual_router_id".into(),
            },
        );
    }
    c.locations.insert(Item::Instance(name), n.location.clone());
    Some(i)
}

/// keepalived 2.2.7's rules between `state`, `priority`, `nopreempt` and `preempt_delay`
/// (`vrrp_complete_instance`): without `priority`, `state MASTER` means the address owner
/// (255); `nopreempt` is cleared for the address owner and with `state MASTER`;
/// `preempt_delay` is cleared with `state MASTER` and with `nopreempt`. Each change is a
/// warning at the keyword, as keepalived reports it. An instance without VIPs is an error:
/// keepalived refuses it with VRRPv3; with VRRPv2 it runs it advertising no address, which
/// this codec (RFC 3768 section 5.3.5) drops (strict mode, which refuses it too, is checked in
/// [`strict_mode`]).
fn initial_state(
    c: &mut Conv,
    n: &Node,
    i: &mut Instance,
    strict: bool,
    [state_at, priority_at, nopreempt_at, delay_at]: [Option<Node>; 4],
) {
    let master = i.state == InitialState::Master;
    if master && priority_at.is_none() {
        i.priority = 255;
        if let Some(k) = &state_at {
            c.warn(
                k,
                "without `priority`: priority 255, the address owner (keepalived does the same)",
            );
        }
    }
    if let Some(k) = nopreempt_at.filter(|_| i.nopreempt) {
        if i.priority == 255 {
            i.nopreempt = false;
            c.warn(
                &k,
                "cleared: the address owner (priority 255) always preempts (keepalived does the same)",
            );
        } else if master {
            i.nopreempt = false;
            c.warn(
                &k,
                "cleared: it does not work with `state MASTER` (keepalived does the same)",
            );
        }
    }
    if let Some(k) = delay_at.filter(|_| i.preempt_delay_ms != 0) {
        if master {
            i.preempt_delay_ms = 0;
            c.warn(
                &k,
                "cleared: it does not work with `state MASTER` (keepalived does the same)",
            );
        } else if i.nopreempt {
            i.preempt_delay_ms = 0;
            c.warn(
                &k,
                "cleared: it does not work with `nopreempt` (keepalived does the same)",
            );
        }
    }
    if i.vips.is_empty() && !strict {
        c.unsafe_(
            n,
            if i.version == 3 {
                "no `virtual_ipaddress`: keepalived refuses a VRRPv3 instance without one too"
            } else {
                "no `virtual_ipaddress`: keepalived 2.2.7 runs a VRRPv2 instance without one (with a warning), advertising no address, which RFC 3768 receivers (this one too) drop, so a pair would have two masters; give the instance an address"
            },
        );
    }
}

/// keepalived's strict mode (`vrrp_strict`, or an instance's `strict_mode`), with
/// keepalived 2.2's effects (`vrrp_complete_instance`): authentication is dropped (keepalived
/// sends and expects none, so a peer with the same file does too), unicast peers are refused,
/// `preempt_delay` is reset, a master never answers a lower-priority advert
/// (`lower_prio_no_advert`), an instance needs a VIP. What keepalived only warns about is a
/// warning here, at the keyword.
fn strict_mode(
    c: &mut Conv,
    n: &Node,
    i: &mut Instance,
    auth_at: Option<Node>,
    peers_at: Option<Node>,
    delay_at: Option<Node>,
) {
    if let (Some(k), Some(_)) = (auth_at, &i.auth) {
        i.auth = None;
        c.warn(
            &k,
            "dropped by vrrp_strict: adverts carry no authentication (keepalived does the same)",
        );
    }
    if let Some(k) = peers_at.filter(|_| !i.unicast_peers.is_empty()) {
        c.unsafe_(
            &k,
            "unicast peers are not allowed with vrrp_strict (keepalived refuses the instance too)",
        );
    }
    if let Some(k) = delay_at.filter(|_| i.preempt_delay_ms != 0) {
        i.preempt_delay_ms = 0;
        c.warn(&k, "reset by vrrp_strict (keepalived does the same)");
    }
    i.lower_prio_no_advert = true;
    // keepalived: no gratuitous ARPs on a lower-priority advert in strict mode.
    if i.garp.lower_prio_repeat.is_some_and(|r| r > 0) {
        c.warnings.push(Warning {
            location: n.location.clone(),
            keyword: "garp_lower_prio_repeat".into(),
            action: "reset to 0 by vrrp_strict (keepalived does the same)".into(),
        });
    }
    i.garp.lower_prio_repeat = Some(0);
    if i.vips.is_empty() {
        c.error(
            n,
            KeepalivedErrorKind::MissingArgument {
                keyword: "virtual_ipaddress (vrrp_strict requires at least one)".into(),
            },
        );
    }
}

/// `lvs_sync_daemon INTERFACE INSTANCE [id N] [maxlen N] [port N] [ttl N] [group IP]`.
fn lvs_sync_daemon(c: &mut Conv, k: &Node) -> Option<SyncDaemon> {
    let interface = c.arg(k)?.to_string();
    let Some(instance) = k.args.get(1).cloned() else {
        c.error(
            k,
            KeepalivedErrorKind::MissingArgument {
                keyword: "lvs_sync_daemon INTERFACE INSTANCE".into(),
            },
        );
        return None;
    };
    let mut d = SyncDaemon::new(interface, instance);
    let mut rest = k.args[2..].iter();
    while let Some(opt) = rest.next() {
        let Some(v) = rest.next() else {
            c.bad(k, opt, "OPTION VALUE pairs (id, maxlen, port, ttl, group)");
            return None;
        };
        let ok = match opt.as_str() {
            "id" => v.parse().map(|x| d.id = Some(x)).is_ok(),
            "maxlen" => v.parse().map(|x| d.maxlen = Some(x)).is_ok(),
            "port" => v.parse().map(|x| d.port = Some(x)).is_ok(),
            "ttl" => v.parse().map(|x| d.ttl = Some(x)).is_ok(),
            "group" => v.parse().map(|x| d.group = Some(x)).is_ok(),
            _ => {
                c.bad(k, opt, "id, maxlen, port, ttl or group");
                return None;
            }
        };
        if !ok {
            c.bad(
                k,
                v,
                "a number (id 0..=255, maxlen, port, ttl 1..=255) or an IP (group)",
            );
            return None;
        }
    }
    Some(d)
}

/// A weight `W [reverse]` from `args` (a `weight` line's arguments, or the words after
/// `weight` in a tracking entry, where `noreverse` is allowed too), `-max..=max`. In an entry,
/// keepalived reads interface and script weights up to +-254 and makes +-254 into +-253 with a
/// complaint: a warning here. `None`: an error was reported.
fn parse_weight(
    c: &mut Conv,
    n: &Node,
    args: &[String],
    max: i32,
    entry: bool,
) -> Option<(i32, Option<bool>)> {
    let expected = match (max, entry) {
        (253, true) => "an integer -253..=253, then optionally reverse or noreverse",
        (253, false) => "an integer -253..=253, then optionally reverse",
        (_, true) => "an integer -254..=254, then optionally reverse or noreverse",
        (_, false) => "an integer -254..=254, then optionally reverse",
    };
    let limit = if entry { 254 } else { max };
    let (w, rest) = match args {
        [w, rest @ ..] if rest.len() <= 1 => (w, rest),
        _ => {
            c.bad(n, &args.join(" "), expected);
            return None;
        }
    };
    let mut weight = match w.parse::<i32>() {
        Ok(v) if (-limit..=limit).contains(&v) => v,
        _ => {
            c.bad(n, w, expected);
            return None;
        }
    };
    if weight.abs() > max {
        weight = weight.signum() * max;
        c.warnings.push(Warning {
            location: n.location.clone(),
            keyword: format!("weight {w}"),
            action: format!("out of range for this tracker, read as {weight} (as keepalived does)"),
        });
    }
    let reverse = match rest.first().map(String::as_str) {
        None => None,
        Some("reverse") => Some(true),
        Some("noreverse") if entry => Some(false),
        Some(other) => {
            c.bad(n, other, expected);
            return None;
        }
    };
    Some((weight, reverse))
}

/// A `weight W [reverse]` line of a tracker block.
fn weight_line(c: &mut Conv, k: &Node, max: i32) -> Option<(i32, bool)> {
    c.arg(k)?;
    parse_weight(c, k, &k.args, max, false).map(|(w, r)| (w, r.unwrap_or(false)))
}

/// `NAME [weight W [reverse|noreverse]]` inside a track_* block. `None`: an error was reported.
fn tracked_weight(c: &mut Conv, t: &Node, max: i32) -> Option<(Option<i32>, Option<bool>)> {
    if t.block.is_some() {
        c.error(
            t,
            KeepalivedErrorKind::Block {
                keyword: t.keyword.clone(),
                problem: "takes no block",
            },
        );
        return None;
    }
    match t.args.split_first() {
        None => Some((None, None)),
        Some((w, rest)) if w == "weight" && !rest.is_empty() => {
            parse_weight(c, t, rest, max, true).map(|(w, r)| (Some(w), r))
        }
        _ => {
            c.bad(t, &t.args.join(" "), "NAME [weight W [reverse]]");
            None
        }
    }
}

/// The entries of a `track_script` / `track_file` / `track_process` block.
fn track_refs(c: &mut Conv, k: &Node, max: i32) -> Vec<TrackScriptRef> {
    let mut out = Vec::new();
    for t in c.block(k) {
        if let Some((weight, reverse)) = tracked_weight(c, t, max) {
            out.push(TrackScriptRef {
                name: t.keyword.clone(),
                weight,
                reverse,
            });
        }
    }
    out
}

/// The entries of a `track_interface` block.
fn track_interfaces(c: &mut Conv, k: &Node) -> Vec<TrackInterface> {
    let mut out = Vec::new();
    for t in c.block(k) {
        if let Some((weight, reverse)) = tracked_weight(c, t, 253) {
            out.push(TrackInterface {
                name: t.keyword.clone(),
                weight: weight.unwrap_or(0),
                reverse: reverse.unwrap_or(false),
            });
        }
    }
    out
}

/// `track_file NAME { file PATH; weight W [reverse]; init_file [VALUE] [overwrite] }`.
fn track_file(c: &mut Conv, n: &Node) -> Option<TrackFile> {
    let name = c.arg_block_name(n)?;
    let mut f = TrackFile {
        name: name.clone(),
        path: String::new(),
        weight: 1,
        reverse: false,
        init: None,
    };
    for k in c.block(n) {
        match k.keyword.as_str() {
            "file" => f.path = c.arg(k).unwrap_or_default().to_string(),
            "weight" => {
                if let Some((w, r)) = weight_line(c, k, 254) {
                    f.weight = w;
                    f.reverse = r;
                }
            }
            "init_file" => {
                if k.block.is_some() {
                    c.arg(k);
                }
                let mut init = TrackFileInit::default();
                for a in &k.args {
                    if a == "overwrite" {
                        init.overwrite = true;
                    } else {
                        match a.parse::<i64>() {
                            Ok(v) if (-254..=254).contains(&v) => init.value = v,
                            _ => c.bad(k, a, "an integer -254..=254 and/or overwrite"),
                        }
                    }
                }
                f.init = Some(init);
            }
            _ => c.unsafe_(
                k,
                "unsupported track_file option: the file would not be tracked as configured",
            ),
        }
    }
    if f.path.is_empty() {
        c.error(
            n,
            KeepalivedErrorKind::MissingArgument {
                keyword: "file".into(),
            },
        );
        return None;
    }
    c.locations
        .insert(Item::TrackFile(name), n.location.clone());
    Some(f)
}

/// `vrrp_track_process NAME { process NAME [PARAMS...]; param_match [initial|partial];
/// weight W [reverse]; quorum N; quorum_max N; delay T; fork_delay T; terminate_delay T;
/// full_command }`, with keepalived's defaults and rules between quorum and quorum_max.
fn track_process(c: &mut Conv, n: &Node) -> Option<TrackProcess> {
    let name = c.arg_block_name(n)?;
    let mut p = TrackProcess {
        name: name.clone(),
        process: String::new(),
        params: None,
        param_match: None,
        full_command: false,
        weight: 0,
        reverse: false,
        quorum: 1,
        quorum_max: None,
        fork_delay_ms: 0,
        terminate_delay_ms: 0,
    };
    for k in c.block(n) {
        match k.keyword.as_str() {
            "process" => {
                if let Some(a) = c.arg(k) {
                    p.process = a.to_string();
                    if k.args.len() > 1 {
                        p.params = Some(k.args[1..].to_vec());
                    }
                }
            }
            "param_match" => match k.args.first().map(String::as_str) {
                None => p.param_match = Some(ParamMatch::Exact),
                Some("partial") => p.param_match = Some(ParamMatch::Partial),
                Some("initial") => p.param_match = Some(ParamMatch::Initial),
                Some(v) => c.bad(k, v, "nothing, initial or partial"),
            },
            "full_command" => p.full_command = c.flag(k),
            "weight" => {
                if let Some((w, r)) = weight_line(c, k, 254) {
                    p.weight = w;
                    p.reverse = r;
                }
            }
            "quorum" => match c.num::<u32>(k, "a count 1..=65535") {
                Some(q @ 1..=65535) => p.quorum = q,
                Some(q) => c.bad(k, &q.to_string(), "a count 1..=65535"),
                None => {}
            },
            "quorum_max" => match c.num::<u32>(k, "a count 0..=65535") {
                Some(q @ 0..=65535) => p.quorum_max = Some(q),
                Some(q) => c.bad(k, &q.to_string(), "a count 0..=65535"),
                None => {}
            },
            "delay" | "fork_delay" | "terminate_delay" => {
                let Some(ms) = c.timer(k) else { continue };
                if ms == 0 || ms > 3_600_000 {
                    c.bad(k, &k.args.join(" "), "seconds, more than 0 and at most 3600");
                    continue;
                }
                if k.keyword != "terminate_delay" {
                    p.fork_delay_ms = ms;
                }
                if k.keyword != "fork_delay" {
                    p.terminate_delay_ms = ms;
                }
            }
            _ => c.unsafe_(
                k,
                "unsupported vrrp_track_process option: the process would not be tracked as configured",
            ),
        }
    }
    if p.quorum_max == Some(0) {
        // keepalived: quorum_max 0 means "up while no such process runs".
        p.quorum = 0;
    }
    if p.quorum_max.is_some_and(|m| m < p.quorum) {
        c.bad(
            n,
            &format!(
                "quorum {} > quorum_max {}",
                p.quorum,
                p.quorum_max.unwrap_or(0)
            ),
            "quorum at most quorum_max",
        );
    }
    if p.process.is_empty() {
        c.error(
            n,
            KeepalivedErrorKind::MissingArgument {
                keyword: "process".into(),
            },
        );
        return None;
    }
    let by_comm = !(p.full_command || p.params.is_some() || p.param_match.is_some());
    if by_comm && p.process.len() > 15 {
        c.warnings.push(Warning {
            location: n.location.clone(),
            keyword: format!("process {}", p.process),
            action: "a name longer than the kernel's 15-byte process name never matches (in keepalived too); add full_command to match the command line".into(),
        });
    }
    c.locations
        .insert(Item::TrackProcess(name), n.location.clone());
    Some(p)
}

fn authentication(c: &mut Conv, k: &Node) -> Option<Auth> {
    let mut kind = None;
    let mut pass = None;
    for a in c.block(k) {
        match a.keyword.as_str() {
            "auth_type" => kind = c.arg(a).map(|s| (s.to_string(), a.clone())),
            "auth_pass" => pass = c.arg(a).map(str::to_string),
            _ => c.unsafe_(a, "unknown authentication option"),
        }
    }
    match kind {
        Some((t, _)) if t == "PASS" => match pass {
            Some(p) => Some(Auth { pass: p }),
            None => {
                c.error(
                    k,
                    KeepalivedErrorKind::MissingArgument {
                        keyword: "auth_pass".into(),
                    },
                );
                None
            }
        },
        Some((_, node)) if node.args[0] == "AH" => {
            c.unsafe_(&node, "IPsec AH authentication (RFC 2402) is not supported; peers would reject our adverts or we would accept unauthenticated ones");
            None
        }
        Some((t, node)) => {
            c.bad(&node, &t, "PASS or AH");
            None
        }
        None => {
            c.error(
                k,
                KeepalivedErrorKind::MissingArgument {
                    keyword: "auth_type".into(),
                },
            );
            None
        }
    }
}

fn sync_group(c: &mut Conv, n: &Node) -> Option<SyncGroup> {
    let name = c.arg_block_name(n)?;
    let mut g = SyncGroup {
        name: name.clone(),
        instances: Vec::new(),
        notify: Notify::default(),
        tracking_weight: false,
        track_interfaces: Vec::new(),
        track_scripts: Vec::new(),
        track_files: Vec::new(),
        track_processes: Vec::new(),
        smtp_alert: None,
    };
    for k in c.block(n) {
        if c.notify(k, &mut g.notify) {
            continue;
        }
        match k.keyword.as_str() {
            "group" => {
                for m in c.block(k) {
                    g.instances.push(m.keyword.clone());
                    g.instances.extend(m.args.iter().cloned());
                }
            }
            "sync_group_tracking_weight" => g.tracking_weight = true,
            "smtp_alert" => g.smtp_alert = Some(c.flag(k)),
            "global_tracking" => {
                g.tracking_weight = true;
                c.warn(
                    k,
                    "deprecated (keepalived): read as sync_group_tracking_weight",
                );
            }
            "track_interface" => g.track_interfaces.extend(track_interfaces(c, k)),
            "track_script" => g.track_scripts.extend(track_refs(c, k, 253)),
            "track_file" => g.track_files.extend(track_refs(c, k, 254)),
            "track_process" => g.track_processes.extend(track_refs(c, k, 254)),
            "track_bfd" => c.unsafe_(
                k,
                "BFD tracking is not supported; the group could become master while the session is down",
            ),
            _ => c.warn(k, "ignored"),
        }
    }
    c.locations
        .insert(Item::SyncGroup(name), n.location.clone());
    Some(g)
}

/// `lvs_method DR|NAT|TUN [type {ipip|gue port N|gre} [nocsum|csum|remcsum]]`: the method
/// and, for TUN, the tunnel options.
fn lvs_method(c: &mut Conv, k: &Node) -> Option<(Method, Option<TunnelOptions>)> {
    let m = match c.arg(k)? {
        "DR" => Method::Dr,
        "NAT" => Method::Nat,
        "TUN" => Method::Tun,
        v => {
            c.bad(k, v, "DR, NAT or TUN");
            return None;
        }
    };
    let rest: Vec<&str> = k.args[1..].iter().map(String::as_str).collect();
    if rest.is_empty() {
        return Some((m, None));
    }
    if m != Method::Tun {
        c.bad(k, &rest.join(" "), "no options after DR or NAT");
        return None;
    }
    match TunnelOptions::from_words(&rest) {
        Ok(t) => Some((m, Some(t))),
        Err(why) => {
            c.error(
                k,
                KeepalivedErrorKind::BadTunnel {
                    options: rest.join(" "),
                    reason: why,
                },
            );
            None
        }
    }
}

/// A checker script keyword (`quorum_up`, `quorum_down`, `notify_up`, `notify_down`):
/// `SCRIPT [USER[:GROUP]]` as keepalived reads it, the script one word or one quoted string.
/// A user after it is an error: every script runs as the global `script_user`, and running
/// it as another user would change what it may do (unquoted words after the script are
/// keepalived's user too, not arguments).
fn lvs_script(c: &mut Conv, k: &Node) -> Option<String> {
    let script = c.arg(k)?.to_string();
    if k.args.len() > 1 {
        c.unsafe_(
            k,
            &format!(
                "{:?} after the script is keepalived's USER[:GROUP], and a per-script user is not supported (scripts run as global_defs script_user); quote the command with its arguments",
                k.args[1..].join(" ")
            ),
        );
        return None;
    }
    Some(script)
}

/// `lvs_timeouts [tcp SECS] [tcpfin SECS] [udp SECS]`.
fn lvs_timeouts(c: &mut Conv, k: &Node) -> Option<LvsTimeouts> {
    if k.args.is_empty() || k.block.is_some() {
        c.bad(
            k,
            &k.args.join(" "),
            "tcp SECS, tcpfin SECS and/or udp SECS",
        );
        return None;
    }
    let mut t = LvsTimeouts::default();
    for pair in k.args.chunks(2) {
        let [name, value] = pair else {
            c.bad(k, &pair.join(" "), "tcp SECS, tcpfin SECS and/or udp SECS");
            return None;
        };
        // keepalived's limit (LVS_MAX_TIMEOUT): 86400 * 31 seconds.
        let Some(v) = value.parse::<u32>().ok().filter(|v| *v <= 86_400 * 31) else {
            c.bad(k, value, "seconds 0..=2678400");
            return None;
        };
        match name.as_str() {
            "tcp" => t.tcp_s = Some(v),
            "tcpfin" => t.tcp_fin_s = Some(v),
            "udp" => t.udp_s = Some(v),
            other => {
                c.bad(k, other, "tcp, tcpfin or udp");
                return None;
            }
        }
    }
    Some(t)
}

/// `virtual_server_group NAME { IP[-LAST|/PREFIX] [PORT] ... fwmark N [inet|inet6] ... }`.
fn virtual_server_group(c: &mut Conv, n: &Node) -> Option<VirtualServerGroup> {
    let name = c.arg_block_name(n)?;
    let mut entries = Vec::new();
    for line in c.block(n) {
        let text = std::iter::once(line.keyword.as_str())
            .chain(line.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        if line.block.is_some() {
            c.bad(line, &text, "a group entry takes no block");
            continue;
        }
        match text.parse::<GroupEntry>() {
            Ok(e) => entries.push(e),
            Err(why) => c.error(
                line,
                KeepalivedErrorKind::BadGroupEntry {
                    entry: text,
                    reason: why,
                },
            ),
        }
    }
    c.locations
        .insert(Item::VirtualServerGroup(name.clone()), n.location.clone());
    Some(VirtualServerGroup { name, entries })
}

fn virtual_server(c: &mut Conv, n: &Node) -> Option<VirtualServer> {
    if n.block.is_none() {
        c.error(
            n,
            KeepalivedErrorKind::Block {
                keyword: n.keyword.clone(),
                problem: "needs a { } block",
            },
        );
        return None;
    }
    let (name, address, port, fwmark) = match n.args.as_slice() {
        [f, m] if f == "fwmark" => match m.parse::<u32>() {
            Ok(m) => (format!("fwmark:{m}"), None, None, Some(m)),
            Err(_) => {
                c.bad(n, m, "a firewall mark number");
                return None;
            }
        },
        [g, name] if g == "group" => (format!("group:{name}"), None, None, None),
        [a, p] => {
            let addr = c.parse_ip(n, a)?;
            let Ok(port) = p.parse::<u16>() else {
                c.bad(n, p, "a port 0..=65535");
                return None;
            };
            (vs_name(addr, port), Some(addr), Some(port), None)
        }
        other => {
            c.bad(n, &other.join(" "), "IP PORT, fwmark N or group NAME");
            return None;
        }
    };
    let mut vs_weight: Option<u32> = None;
    let mut weighted: Vec<bool> = Vec::new();
    let mut vs = VirtualServer {
        name: name.clone(),
        address,
        port,
        fwmark,
        family: None,
        protocol: Protocol::Tcp,
        scheduler: "wlc".into(),
        method: Method::Nat,
        persistence_timeout_s: None,
        persistence_granularity: None,
        quorum: 1,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        sorry_server: None,
        delay_loop_ms: 60_000,
        ha_suspend: false,
        alpha: false,
        omega: false,
        virtualhost: None,
        real_servers: Vec::new(),
        connect_timeout_ms: None,
        retry: None,
        delay_before_retry_ms: None,
        warmup_ms: None,
        smtp_alert: None,
        inhibit_on_failure: false,
        sched_flags: Vec::new(),
        announce: false,
        ops: false,
        persistence_engine: None,
        tunnel: None,
        group: n
            .args
            .first()
            .filter(|g| *g == "group")
            .and(n.args.get(1).cloned()),
    };
    for k in c.block(n) {
        match k.keyword.as_str() {
            "delay_loop" => vs.delay_loop_ms = c.timer(k).unwrap_or(0),
            // Defaults for the checks of every real server (keepalived 2.x).
            "connect_timeout" => vs.connect_timeout_ms = c.timer(k),
            "retry" => vs.retry = c.num(k, "a count"),
            "delay_before_retry" => vs.delay_before_retry_ms = c.timer(k),
            "warmup" => vs.warmup_ms = c.timer(k),
            // lb_algo is the old spelling of lvs_sched.
            "lvs_sched" | "lb_algo" => vs.scheduler = c.arg(k).unwrap_or_default().to_string(),
            // lb_kind is the old spelling of lvs_method.
            "lvs_method" | "lb_kind" => {
                if let Some((m, t)) = lvs_method(c, k) {
                    vs.method = m;
                    vs.tunnel = t;
                }
            }
            "sorry_server_lvs_method" => {
                if let Some((m, t)) = lvs_method(c, k) {
                    match &mut vs.sorry_server {
                        Some(s) => {
                            s.method = Some(m);
                            s.tunnel = t;
                        }
                        None => c.warn(
                            k,
                            "ignored: it comes before or without sorry_server (keepalived ignores it too)",
                        ),
                    }
                }
            }
            "persistence_engine" => vs.persistence_engine = c.arg(k).map(str::to_string),
            "protocol" => match c.arg(k) {
                Some("TCP") => vs.protocol = Protocol::Tcp,
                Some("UDP") => vs.protocol = Protocol::Udp,
                Some("SCTP") => vs.protocol = Protocol::Sctp,
                Some(v) => c.bad(k, v, "TCP, UDP or SCTP"),
                None => {}
            },
            "persistence_timeout" => {
                vs.persistence_timeout_s = match k.args.first() {
                    None => Some(360),
                    Some(_) => c.num(k, "seconds"),
                }
            }
            // An IPv4 netmask, or for IPv6 a prefix length (kept as the IPv6 netmask).
            "persistence_granularity" => {
                vs.persistence_granularity = match c.arg(k).map(|a| a.parse::<u8>()) {
                    Some(Ok(bits @ 1..=128)) => Some(IpAddr::V6(std::net::Ipv6Addr::from(
                        u128::MAX << (128 - u32::from(bits)),
                    ))),
                    _ => c.ip(k),
                }
            }
            "quorum" => vs.quorum = c.num(k, "a weight sum").unwrap_or(1),
            "hysteresis" => vs.hysteresis = c.num(k, "a weight").unwrap_or(0),
            "quorum_up" => vs.quorum_up = lvs_script(c, k),
            "quorum_down" => vs.quorum_down = lvs_script(c, k),
            "sorry_server" => match k.args.as_slice() {
                [a] | [a, _] => {
                    let address = c.parse_ip(k, a);
                    let port = match k.args.get(1) {
                        Some(p) => match p.parse() {
                            Ok(p) => Some(p),
                            Err(_) => {
                                c.bad(k, p, "a port");
                                None
                            }
                        },
                        None => None,
                    };
                    vs.sorry_server = address.map(|address| SorryServer {
                        address,
                        port,
                        inhibit: false,
                        method: None,
                        tunnel: None,
                    });
                }
                other => c.bad(k, &other.join(" "), "IP [PORT]"),
            },
            "virtualhost" => vs.virtualhost = c.arg(k).map(str::to_string),
            "ha_suspend" => vs.ha_suspend = c.flag(k),
            "smtp_alert" => vs.smtp_alert = Some(c.flag(k)),
            "alpha" => vs.alpha = c.flag(k),
            "omega" => vs.omega = c.flag(k),
            "ip_family" => match c.arg(k) {
                Some("inet") => vs.family = Some(Family::Inet),
                Some("inet6") => vs.family = Some(Family::Inet6),
                Some(v) => c.bad(k, v, "inet or inet6"),
                None => {}
            },
            "real_server" => {
                if let Some(rs) = real_server(c, k) {
                    vs.real_servers.push(rs);
                    weighted.push(k.block.iter().flatten().any(|x| x.keyword == "weight"));
                }
            }
            // The weight of its real servers that set none (keepalived resolves it after the
            // block, wherever it stands).
            "weight" => match c.num::<u32>(k, "a weight 1..=65535") {
                Some(w @ 1..=65_535) => vs_weight = Some(w),
                Some(w) => c.bad(k, &w.to_string(), "a weight 1..=65535"),
                None => {}
            },
            "nat_mask" => c.warn(k, "ignored (obsolete)"),
            "inhibit_on_failure" => vs.inhibit_on_failure = c.flag(k),
            "ops" => vs.ops = c.flag(k),
            "hashed" => c.warn(k, "ignored (keepalived sets nothing for it either)"),
            "sorry_server_inhibit" => match &mut vs.sorry_server {
                Some(s) => s.inhibit = c.flag(k),
                None => c.warn(
                    k,
                    "ignored: it comes before or without sorry_server (keepalived ignores it too)",
                ),
            },
            other => match SchedFlag::from_keyword(other) {
                Some(f) => {
                    if k.block.is_some() || !k.args.is_empty() {
                        c.bad(k, &k.args.join(" "), "no argument");
                    } else if f.scheduler().is_some_and(|sch| sch != vs.scheduler) {
                        // keepalived reads the flag against lvs_sched as set so far.
                        c.warn(
                            k,
                            &format!(
                                "ignored: only for the {} scheduler, and lvs_sched is {:?} here (keepalived ignores it too)",
                                f.scheduler().unwrap_or_default(),
                                vs.scheduler
                            ),
                        );
                    } else if !vs.sched_flags.contains(&f) {
                        vs.sched_flags.push(f);
                    }
                }
                None => c.warn(k, "ignored"),
            },
        }
    }
    if let Some(w) = vs_weight {
        for (rs, _) in vs
            .real_servers
            .iter_mut()
            .zip(&weighted)
            .filter(|(_, set)| !**set)
        {
            rs.weight = w;
        }
    }
    if vs.fwmark.is_none() {
        vs.family = None;
    }
    if vs.ha_suspend
        && vs.fwmark.is_some()
        && let Some(k) = c.block(n).iter().find(|k| k.keyword == "ha_suspend")
    {
        vs.ha_suspend = false;
        c.warn(
            k,
            "ignored: a fwmark service has no address to follow (keepalived clears it too)",
        );
    }
    c.locations
        .insert(Item::VirtualServer(name), n.location.clone());
    Some(vs)
}

fn real_server(c: &mut Conv, n: &Node) -> Option<RealServer> {
    let (address, port) = match n.args.as_slice() {
        [a] => (c.parse_ip(n, a)?, None),
        [a, p] => {
            let addr = c.parse_ip(n, a)?;
            let Ok(p) = p.parse::<u16>() else {
                c.bad(n, p, "a port");
                return None;
            };
            (addr, Some(p))
        }
        other => {
            c.bad(n, &other.join(" "), "IP [PORT]");
            return None;
        }
    };
    let mut rs = RealServer {
        address,
        port,
        weight: 1,
        inhibit_on_failure: None,
        notify_up: None,
        notify_down: None,
        checks: Vec::new(),
        delay_loop_ms: None,
        connect_timeout_ms: None,
        retry: None,
        delay_before_retry_ms: None,
        warmup_ms: None,
        virtualhost: None,
        smtp_alert: None,
        method: None,
        upper_threshold: None,
        lower_threshold: None,
        alpha: None,
        tunnel: None,
    };
    let Some(block) = &n.block else {
        return Some(rs);
    };
    for k in block {
        let kind = match k.keyword.as_str() {
            "weight" => {
                rs.weight = c.num(k, "a weight 0..=65535").unwrap_or(1);
                continue;
            }
            "smtp_alert" => {
                rs.smtp_alert = Some(c.flag(k));
                continue;
            }
            "inhibit_on_failure" => {
                rs.inhibit_on_failure = Some(c.flag(k));
                continue;
            }
            "notify_up" => {
                rs.notify_up = lvs_script(c, k);
                continue;
            }
            "notify_down" => {
                rs.notify_down = lvs_script(c, k);
                continue;
            }
            "lvs_method" => {
                if let Some((m, t)) = lvs_method(c, k) {
                    rs.method = Some(m);
                    rs.tunnel = t;
                }
                continue;
            }
            "alpha" => {
                rs.alpha = Some(c.flag(k));
                continue;
            }
            "uthreshold" => {
                rs.upper_threshold = c.num(k, "a connection count");
                continue;
            }
            "lthreshold" => {
                rs.lower_threshold = c.num(k, "a connection count");
                continue;
            }
            // Defaults for this real server's checks (keepalived 2.x).
            "delay_loop" => {
                rs.delay_loop_ms = c.timer(k);
                continue;
            }
            "connect_timeout" => {
                rs.connect_timeout_ms = c.timer(k);
                continue;
            }
            "retry" => {
                rs.retry = c.num(k, "a count");
                continue;
            }
            "delay_before_retry" => {
                rs.delay_before_retry_ms = c.timer(k);
                continue;
            }
            "warmup" => {
                rs.warmup_ms = c.timer(k);
                continue;
            }
            "virtualhost" => {
                rs.virtualhost = c.arg(k).map(str::to_string);
                continue;
            }
            "TCP_CHECK" => CheckKind::Tcp,
            "HTTP_GET" => CheckKind::Http,
            "SSL_GET" => CheckKind::Ssl,
            "DNS_CHECK" => CheckKind::Dns,
            "SMTP_CHECK" => CheckKind::Smtp,
            "MISC_CHECK" => CheckKind::Misc,
            "UDP_CHECK" => CheckKind::Udp,
            "PING_CHECK" => CheckKind::Ping,
            "FILE_CHECK" => CheckKind::File,
            "BFD_CHECK" => {
                c.error(
                    k,
                    KeepalivedErrorKind::UnsupportedCheck {
                        keyword: k.keyword.clone(),
                        reason: "the real server would have no check (there is no BFD here; PING_CHECK or UDP_CHECK can watch the server)",
                    },
                );
                continue;
            }
            _ => {
                c.warn(k, "ignored");
                continue;
            }
        };
        rs.checks.extend(check(c, k, kind));
    }
    // A check is about 500 bytes and `extend` reserves four at the first: at 10,000 real
    // servers of one check each, 15 MiB of unused slots while the configuration is loaded.
    rs.checks.shrink_to_fit();
    Some(rs)
}

fn check(c: &mut Conv, n: &Node, kind: CheckKind) -> Vec<Check> {
    let mut ch = Check::new(kind);
    ch.log_all_failures = c.checker_log_all;
    let mut hosts = Vec::new();
    // The `min_reply_length` / `max_reply_length` lines, for the checks after the block.
    let mut udp_lengths: Vec<Node> = Vec::new();
    for k in c.block(n) {
        if kind == CheckKind::File {
            // keepalived's FILE_CHECK takes these two keywords only.
            match k.keyword.as_str() {
                "track_file" => ch.track_file = c.arg(k).map(str::to_string),
                "weight" => {
                    ch.track_file_weight = c.num(k, "an integer -65535..=65535");
                    match k.args.get(1).map(String::as_str) {
                        None | Some("noreverse") => {}
                        Some("reverse") => ch.track_file_reverse = true,
                        Some(o) => c.bad(k, o, "reverse or noreverse"),
                    }
                }
                _ => c.warn(
                    k,
                    "ignored: FILE_CHECK takes track_file and weight only (as in keepalived)",
                ),
            }
            continue;
        }
        if kind == CheckKind::Ping && matches!(k.keyword.as_str(), "connect_port" | "bind_port") {
            c.warn(k, "ignored: an ICMP echo has no port");
            continue;
        }
        if common_check_key(c, k, &mut ch) {
            continue;
        }
        match (kind, k.keyword.as_str()) {
            (CheckKind::Http | CheckKind::Ssl, "url") => ch.urls.push(url(c, k)),
            (CheckKind::Http | CheckKind::Ssl, "http_protocol") => match c.arg(k) {
                Some("1.0") => ch.http_protocol = Some(HttpProtocol::Http10),
                Some("1.0C" | "1.0c") => ch.http_protocol = Some(HttpProtocol::Http10Close),
                Some("1.1") => ch.http_protocol = Some(HttpProtocol::Http11),
                Some(v) => c.bad(k, v, "1.0, 1.0C or 1.1"),
                None => {}
            },
            (CheckKind::Http | CheckKind::Ssl, "fast_recovery") => {
                if c.flag(k) {
                    c.warn(k, "every URL is checked in every period already (what fast_recovery asks for)");
                }
            }
            (CheckKind::Ssl, "enable_sni") => ch.enable_sni = c.flag(k),
            (CheckKind::Ssl, "sni_name") => {
                ch.sni_name = c.arg(k).map(str::to_string);
                ch.enable_sni = true;
            }
            (CheckKind::Http | CheckKind::Ssl, "virtualhost") => {
                ch.virtualhost = c.arg(k).map(str::to_string)
            }
            (CheckKind::Dns, "type") => ch.dns_type = c.arg(k).map(str::to_ascii_uppercase),
            (CheckKind::Dns, "name") => ch.dns_name = c.arg(k).map(str::to_string),
            (CheckKind::Smtp, "helo_name") => ch.helo_name = c.arg(k).map(str::to_string),
            (CheckKind::Smtp, "host") => {
                // Old SMTP_CHECK form: one `host { }` block per address to check.
                let mut h = Check::new(CheckKind::Smtp);
                for hk in c.block(k) {
                    if !common_check_key(c, hk, &mut h) {
                        c.warn(hk, "ignored");
                    }
                }
                hosts.push(h);
            }
            (CheckKind::Misc, "misc_path") => ch.misc_path = c.command(k),
            (CheckKind::Misc, "misc_timeout") => ch.misc_timeout_ms = c.timer(k),
            (CheckKind::Misc, "misc_dynamic") => ch.misc_dynamic = c.flag(k),
            (CheckKind::Udp, "payload") => ch.udp_payload = hex_arg(c, k, false),
            (CheckKind::Udp, "require_reply") => {
                if k.block.is_some() {
                    c.error(
                        k,
                        KeepalivedErrorKind::Block {
                            keyword: k.keyword.clone(),
                            problem: "takes no block",
                        },
                    );
                }
                ch.udp_require_reply = true;
                if !k.args.is_empty() {
                    ch.udp_reply = hex_arg(c, k, true);
                }
            }
            (CheckKind::Udp, "min_reply_length") => {
                ch.udp_min_reply_length = c.num(k, "a length 0..=65535");
                udp_lengths.push(k.clone());
            }
            (CheckKind::Udp, "max_reply_length") => {
                ch.udp_max_reply_length = c.num(k, "a length 0..=65535");
                udp_lengths.push(k.clone());
            }
            (CheckKind::Misc, _) => c.unsafe_(
                k,
                "unsupported MISC_CHECK option: the script would not run as configured",
            ),
            _ => c.warn(k, "ignored"),
        }
    }
    if kind == CheckKind::Udp {
        udp_reply_lengths(c, n, &mut ch, &udp_lengths);
    }
    if hosts.is_empty() {
        return vec![ch];
    }
    // Each old-style host inherits the block's settings it does not set itself.
    hosts
        .into_iter()
        .map(|mut h| {
            h.connect_timeout_ms = h.connect_timeout_ms.or(ch.connect_timeout_ms);
            h.delay_loop_ms = h.delay_loop_ms.or(ch.delay_loop_ms);
            h.retry = h.retry.or(ch.retry);
            h.delay_before_retry_ms = h.delay_before_retry_ms.or(ch.delay_before_retry_ms);
            h.helo_name = ch.helo_name.clone();
            h
        })
        .collect()
}

/// Parameters every checker takes. Returns false if `k` is not one of them.
fn common_check_key(c: &mut Conv, k: &Node, ch: &mut Check) -> bool {
    match k.keyword.as_str() {
        "connect_ip" => ch.connect_ip = c.ip(k),
        "connect_port" => ch.connect_port = c.num(k, "a port"),
        "bindto" => ch.bind_ip = c.ip(k),
        "connect_timeout" => ch.connect_timeout_ms = c.timer(k),
        "delay_loop" => ch.delay_loop_ms = c.timer(k),
        // nb_get_retry is the old spelling of retry.
        "retry" | "nb_get_retry" => ch.retry = c.num(k, "a count"),
        "delay_before_retry" => ch.delay_before_retry_ms = c.timer(k),
        "bind_port" => ch.bind_port = c.num(k, "a port"),
        "warmup" => ch.warmup_ms = c.timer(k),
        "bind_if" => ch.bind_if = c.arg(k).map(str::to_string),
        "fwmark" => ch.fwmark = c.num(k, "a mark 0..=4294967295"),
        "alpha" => c.unsafe_(k, ALPHA_LEVEL),
        "log_all_failures" => ch.log_all_failures = c.flag(k),
        _ => return false,
    }
    true
}

/// Why `alpha` below the virtual server is refused.
const ALPHA_LEVEL: &str = "alpha is supported on the virtual_server and real_server only (it decides whether the real server starts in the pool); set it there";

/// One `url { }` block of an `HTTP_GET` / `SSL_GET`.
fn url(c: &mut Conv, k: &Node) -> UrlCheck {
    let mut u = UrlCheck::new("");
    let mut codes: Vec<(u16, u16)> = Vec::new();
    let mut options: Vec<&Node> = Vec::new();
    let mut regex_only: Vec<&Node> = Vec::new();
    let mut regex_at: Option<&Node> = None;
    let block = c.block(k);
    for p in block {
        match p.keyword.as_str() {
            "path" => u.path = c.arg(p).unwrap_or_default().to_string(),
            "digest" => u.digest = c.arg(p).map(str::to_ascii_lowercase),
            "virtualhost" => u.virtualhost = c.arg(p).map(str::to_string),
            "status_code" => {
                if c.arg(p).is_some() {
                    for a in &p.args {
                        match a.parse::<StatusCodes>() {
                            Ok(s) => codes.extend(s.0),
                            Err(_) => c.bad(p, a, "a status code 100..=999 or a range MIN-MAX"),
                        }
                    }
                }
            }
            "regex" => match p.args.as_slice() {
                [r] => {
                    u.regex = Some(r.clone());
                    regex_at = Some(p);
                }
                [] => {
                    c.arg(p);
                }
                more => c.bad(
                    p,
                    &more.join(" "),
                    "one pattern (quote it if it has spaces)",
                ),
            },
            "regex_no_match" => {
                u.regex_no_match = c.flag(p);
                regex_only.push(p);
            }
            "regex_options" => {
                options.push(p);
                regex_only.push(p);
            }
            "regex_min_offset" => {
                u.regex_min_offset = c.num(p, "a byte offset");
                regex_only.push(p);
            }
            "regex_max_offset" => {
                u.regex_max_offset = c.num(p, "a byte offset");
                regex_only.push(p);
            }
            "regex_stack" => {
                c.warn(
                    p,
                    "ignored: PCRE's JIT stack size; the regex engine here needs none",
                );
                regex_only.push(p);
            }
            _ => c.warn(p, "ignored"),
        }
    }
    if !codes.is_empty() {
        u.status_code = Some(StatusCodes(codes));
    }
    if u.path.is_empty() {
        c.error(
            k,
            KeepalivedErrorKind::MissingArgument {
                keyword: "path".into(),
            },
        );
    }
    match u.regex.take() {
        Some(pattern) => u.regex = pcre_to_regex(c, regex_at.unwrap_or(k), &pattern, &options),
        None => {
            // keepalived drops regex parameters without a regex, with a log line.
            for p in regex_only {
                c.warn(p, "ignored: there is no regex in this url");
            }
            u.regex_no_match = false;
            u.regex_min_offset = None;
            u.regex_max_offset = None;
        }
    }
    if let (Some(min), Some(max)) = (u.regex_min_offset, u.regex_max_offset)
        && min > max
    {
        c.error(
            k,
            KeepalivedErrorKind::BadValue {
                keyword: "regex_min_offset".into(),
                value: min.to_string(),
                expected: "at most regex_max_offset",
            },
        );
    }
    u
}

/// keepalived's `regex` (PCRE2) with its `regex_options`, as a pattern of the `regex` crate:
/// the options become inline flags, and PCRE's `$` (end, or before a final newline) is
/// rewritten so that it keeps that meaning. A pattern or option the `regex` crate cannot
/// express is an error: the check would pass or fail other bodies than keepalived's.
fn pcre_to_regex(c: &mut Conv, at: &Node, pattern: &str, options: &[&Node]) -> Option<String> {
    let mut flags = String::new();
    let mut dollar_endonly = false;
    let mut multiline = false;
    for o in options {
        for opt in &o.args {
            let flag = match opt.as_str() {
                "caseless" => "i",
                "multiline" => {
                    multiline = true;
                    "m"
                }
                "dotall" => "s",
                "extended" => "x",
                "ungreedy" => "U",
                "never_utf" | "never_ucp" => "-u",
                "dollar_endonly" => {
                    dollar_endonly = true;
                    ""
                }
                // Unicode matching is the regex crate's default; the rest only tune PCRE's
                // compiler or forbid syntax the regex crate has not got.
                "utf" | "ucp" | "auto_callout" | "no_auto_capture" | "no_auto_possess"
                | "no_dotstar_anchor" | "no_start_optimize" | "dupnames" | "never_backslash_c"
                | "use_offset_limit" => "",
                "allow_empty_class"
                | "alt_bsux"
                | "match_unset_backref"
                | "alt_circumflex"
                | "alt_verbnames"
                | "firstline" => {
                    c.unsafe_(o, &format!("regex option {opt:?} changes what the pattern matches and has no equivalent here"));
                    continue;
                }
                other => {
                    c.bad(o, other, "a PCRE2 option keepalived knows (caseless, multiline, dotall, extended, ungreedy, ...)");
                    continue;
                }
            };
            if flag == "-u" {
                flags.push_str("(?-u)");
            } else if !flag.is_empty() {
                flags.push_str(&format!("(?{flag})"));
            }
        }
    }
    let body = if dollar_endonly || multiline {
        pattern.to_string()
    } else {
        pcre_dollars(pattern)
    };
    let out = format!("{flags}{body}");
    match regex::bytes::Regex::new(&out) {
        Ok(_) => Some(out),
        Err(e) => {
            let first = e
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string();
            c.unsafe_(
                at,
                &format!("regex {pattern:?} cannot be run here ({first}): PCRE features such as look-around and back-references have no equivalent"),
            );
            None
        }
    }
}

/// Rewrites PCRE's unescaped `$` outside classes (and `\Z`) as `\n?\z`: end of the body or
/// before a final newline, which is what they mean in PCRE without `multiline` or
/// `dollar_endonly`. Only where a match starts matters to the check, so consuming the newline
/// changes nothing.
fn pcre_dollars(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 8);
    let mut chars = p.chars();
    let mut class = false;
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => match chars.next() {
                Some('Z') if !class => out.push_str("\\n?\\z"),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            '[' if !class => {
                class = true;
                out.push('[');
                // A `]` right after `[` or `[^` is a literal member.
                let rest = chars.as_str();
                let skip = if rest.starts_with("^]") {
                    2
                } else if rest.starts_with(']') {
                    1
                } else {
                    0
                };
                out.push_str(&rest[..skip]);
                chars = rest[skip..].chars();
            }
            ']' if class => {
                class = false;
                out.push(']');
            }
            '$' if !class => out.push_str("\\n?\\z"),
            other => out.push(other),
        }
    }
    out
}

/// The top-level `SSL { }` block: the client side of every `SSL_GET`.
fn ssl_block(c: &mut Conv, n: &Node, cfg: &mut Config) {
    let mut ssl = SslClient::default();
    for k in c.block(n) {
        match k.keyword.as_str() {
            "certificate" => ssl.certificate = c.arg(k).map(Into::into),
            "key" => ssl.key = c.arg(k).map(Into::into),
            "password" => c.unsafe_(
                k,
                "encrypted private keys are not supported: the SSL checks could not present their certificate (decrypt the key with `openssl pkey -in KEY -out KEY.plain`)",
            ),
            "ca" => c.warn(
                k,
                "not used for verification: keepalived loads it but never verifies server certificates, and neither does this check (global.ssl.verify_ca in TOML verifies)",
            ),
            _ => c.warn(k, "ignored"),
        }
    }
    if ssl.certificate.is_some() != ssl.key.is_some() {
        c.error(
            n,
            KeepalivedErrorKind::MissingArgument {
                keyword: if ssl.key.is_none() {
                    "key".into()
                } else {
                    "certificate".into()
                },
            },
        );
    }
    cfg.global.ssl = Some(ssl);
}

/// A `UDP_CHECK` HEX_STR argument (`payload`, `require_reply`), joined over all arguments
/// as keepalived does and rewritten as digit pairs without spaces, so that the TOML form
/// reads back to the same bytes.
fn hex_arg(c: &mut Conv, k: &Node, wildcards: bool) -> Option<String> {
    c.arg(k)?;
    let text = k.args.join(" ");
    match ha_healthcheck::parse_keepalived_hex(&text, wildcards) {
        Some((data, mask)) => Some(format_hex(&data, &mask)),
        None => {
            c.bad(
                k,
                &text,
                if wildcards {
                    "hex digits (x for any nibble)"
                } else {
                    "hex digits"
                },
            );
            None
        }
    }
}

/// Hex digit pairs of `data`, `x` for a nibble set in `mask`.
fn format_hex(data: &[u8], mask: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(data.len() * 2);
    for (i, b) in data.iter().enumerate() {
        let m = mask.get(i).copied().unwrap_or(0);
        for shift in [4, 0] {
            out.push(if (m >> shift) & 0xf != 0 {
                'x'
            } else {
                char::from(DIGITS[usize::from((b >> shift) & 0xf)])
            });
        }
    }
    out
}

/// keepalived compares reply lengths only against `require_reply HEX_STR` data: without it
/// the bounds have no effect there, so they are dropped here with a warning (not silently);
/// bounds that no reply can meet are an error (keepalived: "will always fail").
fn udp_reply_lengths(c: &mut Conv, n: &Node, ch: &mut Check, lines: &[Node]) {
    if ch.udp_reply.is_none() {
        for k in lines {
            c.warn(
                k,
                "ignored: keepalived checks reply lengths only with `require_reply HEX_STR`",
            );
        }
        ch.udp_min_reply_length = None;
        ch.udp_max_reply_length = None;
        return;
    }
    let min = ch.udp_min_reply_length.unwrap_or(0);
    let max = ch.udp_max_reply_length.unwrap_or(255);
    if min > max {
        c.error(
            lines.last().unwrap_or(n),
            KeepalivedErrorKind::BadValue {
                keyword: "min_reply_length".into(),
                value: min.to_string(),
                expected: "at most max_reply_length (default 255): every reply would fail",
            },
        );
    }
}
