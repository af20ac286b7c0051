//! A keepalived.conf reader: tokenizer ([`lexer`]), statement tree with `include`
//! expansion ([`parse`]) and conversion into the [`Config`] model.
//!
//! Keywords that are not supported but harmless to skip become [`Warning`]s with their
//! place and what happens instead. Keywords whose loss would change safety (authentication
//! that cannot be honoured, tracking that cannot be done, script options that cannot be
//! applied, health-check criteria that cannot be evaluated) are errors.

pub mod lexer;
pub mod parse;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::str::FromStr;

use parse::Node;

use super::model::{
    Auth, Check, CheckKind, Config, Family, Garp, InitialState, Instance, Method, Notify, PeerTtl,
    Protocol, RealServer, SorryServer, SyncDaemon, SyncGroup, TrackInterface, TrackScript,
    TrackScriptRef, UrlCheck, Vip, VirtualServer,
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
    convert(&nodes, warnings)
}

/// Converts keepalived.conf text; `file` names it in locations and anchors includes.
pub fn read_str(text: &str, file: &Path) -> Result<KeepalivedConfig, Vec<ConfigError>> {
    let mut warnings = Vec::new();
    let nodes = parse::parse_text_expanding(text, file, 0, &mut warnings)?;
    convert(&nodes, warnings)
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
    warnings: Vec<Warning>,
    errors: Vec<ConfigError>,
    locations: HashMap<Item, Location>,
    default_version: u8,
    /// `vrrp_strict` in global_defs (an instance's `strict_mode` overrides it).
    strict: bool,
    /// `vrrp_lower_prio_no_advert` in global_defs.
    lower_prio_no_advert: bool,
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

fn convert(nodes: &[Node], warnings: Vec<Warning>) -> Result<KeepalivedConfig, Vec<ConfigError>> {
    let mut c = Conv {
        warnings,
        errors: Vec::new(),
        locations: HashMap::new(),
        default_version: 2,
        strict: false,
        lower_prio_no_advert: false,
        old_sync_daemon: None,
    };
    let mut cfg = Config::default();
    // global_defs first: vrrp_version changes the default of every instance.
    for n in nodes.iter().filter(|n| n.keyword == "global_defs") {
        global_defs(&mut c, n, &mut cfg);
    }
    for n in nodes {
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
            "virtual_server_group" => c.warn(
                n,
                "ignored: virtual server groups are not supported (a `virtual_server group` using it is an error)",
            ),
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
            "vrrp_track_process" | "track_process" | "vrrp_track_file" | "track_file"
            | "bfd_instance" => c.warn(
                n,
                "ignored: not supported (an instance tracking it, a FILE_CHECK or a BFD_CHECK is an error)",
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

fn global_defs(c: &mut Conv, n: &Node, cfg: &mut Config) {
    c.locations
        .entry(Item::Global)
        .or_insert_with(|| n.location.clone());
    let mut min_garp = false;
    for k in c.block(n) {
        match k.keyword.as_str() {
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
                s.weight = c.num(k, "an integer -253..=253").unwrap_or(0);
                if let Some(extra) = k.args.get(1) {
                    c.unsafe_(k, &format!("weight option {extra:?} is not supported; it inverts when the priority changes"));
                }
            }
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
        name: name.clone(),
        version: c.default_version,
        state: InitialState::Backup,
        interface: String::new(),
        vrid: 0,
        priority: 100,
        advert_int_ms: 1000,
        vips: Vec::new(),
        excluded_vips: Vec::new(),
        unicast_src_ip: None,
        unicast_peers: Vec::new(),
        nopreempt: false,
        preempt_delay_ms: 0,
        auth: None,
        vmac: None,
        track_interfaces: Vec::new(),
        track_scripts: Vec::new(),
        notify: Notify::default(),
        lower_prio_no_advert: c.lower_prio_no_advert,
        garp: Garp::default(),
        virtual_routes: Vec::new(),
        virtual_rules: Vec::new(),
        unicast_ttl: None,
        unicast_peer_ttl: Vec::new(),
        mcast_group: None,
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
                i.vrid = c.num(k, "a VRID 1..=255").unwrap_or(0);
                have_vrid = true;
            }
            "priority" => {
                priority_at = Some(k.clone());
                i.priority = c.num(k, "a priority 1..=255").unwrap_or(100)
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
            "track_interface" => {
                for t in c.block(k) {
                    let weight = tracked_weight(c, t)?;
                    i.track_interfaces.push(TrackInterface { name: t.keyword.clone(), weight: weight.unwrap_or(0) });
                }
            }
            "track_script" => {
                for t in c.block(k) {
                    let weight = tracked_weight(c, t)?;
                    i.track_scripts.push(TrackScriptRef { name: t.keyword.clone(), weight });
                }
            }
            "track_file" | "track_process" | "track_bfd" => {
                c.unsafe_(k, "this kind of tracking is not supported; the instance could become master while the tracked thing is down")
            }
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

/// `NAME [weight W]` inside track_interface / track_script. `None` on a hard error.
fn tracked_weight(c: &mut Conv, t: &Node) -> Option<Option<i32>> {
    match t.args.as_slice() {
        [] => Some(None),
        [w, v] if w == "weight" => match v.parse() {
            Ok(v) => Some(Some(v)),
            Err(_) => {
                c.bad(t, v, "an integer -253..=253");
                Some(None)
            }
        },
        [w, _, opt] if w == "weight" && opt == "reverse" => {
            c.unsafe_(
                t,
                "`weight ... reverse` is not supported: it inverts when the priority changes",
            );
            None
        }
        other => {
            c.bad(t, &other.join(" "), "NAME [weight W]");
            Some(None)
        }
    }
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
            "global_tracking" => {
                g.tracking_weight = true;
                c.warn(
                    k,
                    "deprecated (keepalived): read as sync_group_tracking_weight",
                );
            }
            "track_script" | "track_interface" | "track_file" | "track_process" | "track_bfd" => c
                .unsafe_(
                    k,
                    "group-level tracking is not supported; track in each instance",
                ),
            _ => c.warn(k, "ignored"),
        }
    }
    c.locations
        .insert(Item::SyncGroup(name), n.location.clone());
    Some(g)
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
        [g, _] if g == "group" => {
            c.unsafe_(
                n,
                "virtual_server group is not supported: the services would not exist",
            );
            return None;
        }
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
    };
    for k in c.block(n) {
        match k.keyword.as_str() {
            "delay_loop" => vs.delay_loop_ms = c.timer(k).unwrap_or(0),
            // lb_algo is the old spelling of lvs_sched.
            "lvs_sched" | "lb_algo" => vs.scheduler = c.arg(k).unwrap_or_default().to_string(),
            // lb_kind is the old spelling of lvs_method.
            "lvs_method" | "lb_kind" => {
                match c.arg(k) {
                    Some("DR") => vs.method = Method::Dr,
                    Some("NAT") => vs.method = Method::Nat,
                    Some("TUN") => vs.method = Method::Tun,
                    Some(v) => c.bad(k, v, "DR, NAT or TUN"),
                    None => {}
                }
                if k.args.len() > 1 {
                    c.warnings.push(Warning {
                        location: k.location.clone(),
                        keyword: k.args[1..].join(" "),
                        action: "ignored: tunnel options are not supported".into(),
                    });
                }
            }
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
            "persistence_granularity" => vs.persistence_granularity = c.ip(k),
            "quorum" => vs.quorum = c.num(k, "a weight sum").unwrap_or(1),
            "hysteresis" => vs.hysteresis = c.num(k, "a weight").unwrap_or(0),
            "quorum_up" => vs.quorum_up = c.command(k),
            "quorum_down" => vs.quorum_down = c.command(k),
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
                    vs.sorry_server = address.map(|address| SorryServer { address, port });
                }
                other => c.bad(k, &other.join(" "), "IP [PORT]"),
            },
            "virtualhost" => vs.virtualhost = c.arg(k).map(str::to_string),
            "ha_suspend" => vs.ha_suspend = c.flag(k),
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
                }
            }
            "nat_mask" => c.warn(k, "ignored (obsolete)"),
            _ => c.warn(k, "ignored"),
        }
    }
    if vs.fwmark.is_none() {
        vs.family = None;
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
        inhibit_on_failure: false,
        notify_up: None,
        notify_down: None,
        checks: Vec::new(),
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
            "inhibit_on_failure" => {
                rs.inhibit_on_failure = c.flag(k);
                continue;
            }
            "notify_up" => {
                rs.notify_up = c.command(k);
                continue;
            }
            "notify_down" => {
                rs.notify_down = c.command(k);
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
            "FILE_CHECK" => {
                c.error(
                    k,
                    KeepalivedErrorKind::UnsupportedCheck {
                        keyword: k.keyword.clone(),
                        reason: "the real server would have no check (track_file values are not read here; a MISC_CHECK script can test the file)",
                    },
                );
                continue;
            }
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
    Some(rs)
}

fn check(c: &mut Conv, n: &Node, kind: CheckKind) -> Vec<Check> {
    let mut ch = Check::new(kind);
    let mut hosts = Vec::new();
    // The `min_reply_length` / `max_reply_length` lines, for the checks after the block.
    let mut udp_lengths: Vec<Node> = Vec::new();
    for k in c.block(n) {
        if kind == CheckKind::Ping && matches!(k.keyword.as_str(), "connect_port" | "bind_port") {
            c.warn(k, "ignored: an ICMP echo has no port");
            continue;
        }
        if common_check_key(c, k, &mut ch) {
            continue;
        }
        match (kind, k.keyword.as_str()) {
            (CheckKind::Http | CheckKind::Ssl, "url") => {
                let mut u = UrlCheck {
                    path: String::new(),
                    status_code: None,
                    digest: None,
                };
                for p in c.block(k) {
                    match p.keyword.as_str() {
                        "path" => u.path = c.arg(p).unwrap_or_default().to_string(),
                        "digest" => u.digest = c.arg(p).map(str::to_ascii_lowercase),
                        "status_code" => {
                            if p.args.len() > 1 || p.args.first().is_some_and(|a| a.contains('-')) {
                                c.unsafe_(p, "only one status code is supported; the check would accept other codes than configured");
                            } else {
                                u.status_code = c.num(p, "an HTTP status code");
                            }
                        }
                        "regex" | "regex_no_match" | "regex_options" | "regex_stack" | "regex_min_offset"
                        | "regex_max_offset" => c.unsafe_(
                            p,
                            "body regex matching is not supported; the check would pass servers that fail it",
                        ),
                        _ => c.warn(p, "ignored"),
                    }
                }
                if u.path.is_empty() {
                    c.error(
                        k,
                        KeepalivedErrorKind::MissingArgument {
                            keyword: "path".into(),
                        },
                    );
                }
                ch.urls.push(u);
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
        "bind_if" | "fwmark" | "log_all_failures" | "alpha" => c.warn(k, "ignored"),
        _ => return false,
    }
    true
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
