//! A reader of ldirectord 4.12's `ldirectord.cf` into the typed model ([`Config`]): the
//! virtual services, their real servers and checks, and the few global settings ldirectord
//! has (mail alerts, `autoreload`, `cleanstop`). No VRRP instance comes out of it: the
//! virtual servers are always installed, as ldirectord installs them.
//!
//! ldirectord's own code (`read_config`, `ld_setup`, the `check_*` functions) is the
//! reference for defaults and meanings, including where its POD says otherwise:
//! `quiescent` defaults to `no` (the code's `set_defaults`), the scheduler to `wrr`, a
//! port-53 virtual to UDP, a fwmark virtual to service `none`.
//!
//! | ldirectord | model |
//! |---|---|
//! | `virtual`, `virtual6` (IP, hostname, service name, fwmark) | one [`VirtualServer`] named `tcp:IP:PORT`, `udp:IP:PORT` or `fwm:N` |
//! | `real`, `real6` (`A->B` ranges, method, weight, request/receive, `l:`/`u:` thresholds) | [`RealServer`]s |
//! | `checktype = negotiate` with `service = http/https` | an `http`/`ssl` check, `request` as the URL, `receive` as its `regex`, `httpmethod` as `http_method` |
//! | `service = simpletcp` | a `tcp` check with `tcp_send` / `tcp_expect` |
//! | `service = dns` | a `dns` check for the A (or PTR) record with `dns_expect` |
//! | `service = smtp`/`submission` | an `smtp` check |
//! | `service = none`, `checktype = on` | no check (always up) |
//! | `checktype = connect` (ping for UDP), `ping`, `external` (`checkcommand VIP VPORT RIP RPORT`) | `tcp`, `ping`, `misc` checks |
//! | `checktype = off` | a `misc` check of `/bin/false`: never up |
//! | `checktype = N` | a connect check every `checkinterval` and the negotiate check every `N + 1` of them |
//! | `checktimeout` / `negotiatetimeout` | the checks' `connect_timeout_ms` (`misc_timeout_ms`) |
//! | `checkinterval` | `delay_loop_ms`; `failurecount` is `retry = N - 1` a `checkinterval` apart |
//! | `fallback`, `fallback6` | `sorry_server` |
//! | `fallbackcommand` | `quorum_down` (`CMD start VIP:PORT PROTO`) / `quorum_up` (`... stop ...`) |
//! | `quiescent` | `inhibit_on_failure` |
//! | `scheduler`, `persistent`, `netmask`, `protocol`, `ops`, `schedflags` | the same fields |
//! | `emailalert`, `emailalertfrom`, `smtp`, `emailalertstatus` | `global.smtp` and `smtp_alert` |
//! | `emailalertfreq` | `global.smtp.repeat_down_s` |
//! | `cleanstop = no` | `global.lvs_flush_on_stop = "keep"` |
//! | `autoreload = yes` | `global.watch_config` |
//! | `maintenancedir` | a `maintenance` check on each real server |
//!
//! Real servers start down and are checked at once (`alpha`, no warm-up), as ldirectord
//! adds them and marks them down before its first round of checks.
//!
//! # Merging into another configuration
//!
//! [`read_ldirectord`] (and [`read_ldirectord_str`]) return an [`LdirectordConfig`] rather
//! than a whole [`Config`], for the heartbeat reader (`haresources`' `ldirectord::FILE`)
//! which has VRRP instances of its own. To merge one into a `Config`:
//! - append [`LdirectordConfig::virtual_servers`] to `config.virtual_servers` (their names
//!   are unique among themselves; check them against the others);
//! - copy the [`Global`] fields this reader sets, and only those: `smtp`,
//!   `lvs_flush_on_stop` and `watch_config` (all three left at their defaults when the file
//!   does not set them);
//! - append `warnings` and extend `locations`.
//!
//! [`LdirectordConfig::into_config`] does this for a configuration of its own.

mod lexer;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use lexer::{Pair, Token, unquote};

use super::model::{
    Check, CheckKind, Config, Family, FlushOnStop, Global, HttpMethod, HttpProtocol, Method,
    Protocol, RealServer, SchedFlag, Smtp, SorryServer, UrlCheck, VirtualServer,
};
use super::{ConfigError, Item, Location, Warning};

/// What is wrong with an ldirectord.cf line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LdirectordErrorKind {
    /// A line that is not `keyword = value`, or an indented line outside a virtual section.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// A keyword ldirectord does not have (or not where it is written).
    #[error("`{keyword}`: {problem}")]
    Keyword {
        /// The keyword.
        keyword: String,
        /// What is wrong (unknown, only global, only in a virtual section).
        problem: &'static str,
    },
    /// A value that does not parse.
    #[error("`{keyword}`: bad value {value:?}, expected {expected}")]
    BadValue {
        /// The keyword.
        keyword: String,
        /// The value.
        value: String,
        /// What was expected.
        expected: String,
    },
    /// A keyword or value ldirectord has that is not run here.
    #[error("`{keyword}`: {value:?} is not supported: {reason}")]
    Unsupported {
        /// The keyword.
        keyword: String,
        /// The value.
        value: String,
        /// Why, and what is supported.
        reason: String,
    },
    /// A host or service name that does not resolve.
    #[error("`{keyword}`: cannot resolve {name:?}: {reason}")]
    Resolve {
        /// The keyword.
        keyword: String,
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The same virtual service twice.
    #[error("`{keyword}`: duplicate virtual server {name}")]
    Duplicate {
        /// The keyword.
        keyword: String,
        /// The service.
        name: String,
    },
}

/// What an ldirectord.cf says, in model terms (see the module documentation for merging it
/// into another configuration).
#[derive(Debug, Clone, Default)]
pub struct LdirectordConfig {
    /// The virtual services, in file order.
    pub virtual_servers: Vec<VirtualServer>,
    /// The global settings the file sets: only `smtp`, `lvs_flush_on_stop` and
    /// `watch_config` are ever set.
    pub global: Global,
    /// Keywords accepted but run differently, and what happens.
    pub warnings: Vec<Warning>,
    /// Where each virtual server is defined.
    pub locations: HashMap<Item, Location>,
}

impl LdirectordConfig {
    /// A whole configuration of these virtual servers and global settings.
    pub fn into_config(self) -> (Config, Vec<Warning>, HashMap<Item, Location>) {
        let config = Config {
            global: self.global,
            virtual_servers: self.virtual_servers,
            ..Config::default()
        };
        (config, self.warnings, self.locations)
    }
}

/// Reads an ldirectord.cf file.
pub fn read_ldirectord(path: &Path) -> Result<LdirectordConfig, Vec<ConfigError>> {
    let text = crate::director::read(path)?;
    read_ldirectord_str(&text, path)
}

/// Reads ldirectord.cf text; `file` names it in locations.
pub fn read_ldirectord_str(text: &str, file: &Path) -> Result<LdirectordConfig, Vec<ConfigError>> {
    let mut r = Reader {
        file: file.to_path_buf(),
        errors: Vec::new(),
        warnings: Vec::new(),
        g: Globals::default(),
        virtuals: Vec::new(),
    };
    r.read(text);
    let out = r.convert();
    if r.errors.is_empty() {
        Ok(out)
    } else {
        Err(r.errors)
    }
}

/// How a virtual service's real servers are checked (ldirectord `checktype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CheckType {
    Connect,
    Negotiate,
    Combined(u32),
    Ping,
    External,
    ExternalPerl,
    On,
    Off,
}

/// ldirectord's services, with the ones run here.
const SERVICES: &[&str] = &[
    "dns",
    "ftp",
    "http",
    "https",
    "http_proxy",
    "imap",
    "imaps",
    "ldap",
    "ldaps",
    "nntp",
    "mysql",
    "none",
    "oracle",
    "pop",
    "pops",
    "radius",
    "pgsql",
    "sip",
    "smtp",
    "submission",
    "simpletcp",
];
const SUPPORTED_SERVICES: &str = "http, https, dns, smtp, submission, simpletcp, none";

/// ldirectord's `ld_port_to_service`.
fn port_to_service(port: u16) -> &'static str {
    match port {
        21 => "ftp",
        25 => "smtp",
        53 => "dns",
        80 => "http",
        110 => "pop",
        119 => "nntp",
        143 => "imap",
        389 => "ldap",
        443 => "https",
        587 => "submission",
        636 => "ldaps",
        993 => "imaps",
        995 => "pops",
        1521 => "oracle",
        1812 => "radius",
        3128 => "http_proxy",
        3306 => "mysql",
        5060 => "sip",
        5432 => "pgsql",
        _ => "none",
    }
}

/// ldirectord's `ld_service_to_port` (for the services run here).
fn service_to_port(service: &str) -> Option<u16> {
    Some(match service {
        "smtp" => 25,
        "dns" => 53,
        "http" => 80,
        "https" => 443,
        "submission" => 587,
        _ => return None,
    })
}

/// A fallback server as written (`HOST[:PORT] [gate|masq|ipip]`).
#[derive(Debug, Clone)]
struct Fallback {
    host: String,
    port: Option<String>,
    method: Method,
    at: Pair,
}

/// The global keywords (ldirectord's `set_defaults`); `None`: not set.
#[derive(Debug, Default)]
struct Globals {
    checktimeout: Option<u64>,
    negotiatetimeout: Option<u64>,
    checkinterval: Option<u64>,
    checkcount: Option<u32>,
    failurecount: Option<u32>,
    autoreload: bool,
    fallback: Option<Fallback>,
    fallback6: Option<Fallback>,
    fallbackcommand: Option<String>,
    quiescent: Option<bool>,
    emailalert: Option<(String, Pair)>,
    emailalertfreq: Option<u64>,
    emailalertstatus: Option<(u8, Pair)>,
    emailalertfrom: Option<String>,
    smtp: Option<(String, Pair)>,
    cleanstop: Option<bool>,
    maintenancedir: Option<PathBuf>,
    fork: bool,
}

/// One `virtual =` section as written.
#[derive(Debug)]
struct Virtual {
    at: Pair,
    v6: bool,
    /// `HOST:PORT` (host and port text), or a fwmark.
    host: Option<(String, String)>,
    fwmark: Option<u32>,
    reals: Vec<Pair>,
    checktype: CheckType,
    service: Option<(String, Pair)>,
    request: String,
    receive: String,
    checkcommand: String,
    checkport: Option<u16>,
    checktimeout: Option<u64>,
    negotiatetimeout: Option<u64>,
    checkcount: Option<u32>,
    failurecount: Option<u32>,
    checkinterval: Option<(u64, Pair)>,
    scheduler: String,
    persistent: Option<u32>,
    netmask: Option<(String, Pair)>,
    protocol: Option<(String, Pair)>,
    ops: bool,
    schedflags: Vec<SchedFlag>,
    http_head: bool,
    virtualhost: Option<String>,
    fallback: Option<Fallback>,
    fallbackcommand: Option<String>,
    quiescent: Option<bool>,
    emailalert: Option<(String, Pair)>,
    emailalertfreq: Option<u64>,
    emailalertstatus: Option<(u8, Pair)>,
    smtp: Option<(String, Pair)>,
    cleanstop: Option<bool>,
}

/// emailalertstatus bits (ldirectord's `DAEMON_STATUS_*`).
const STATUS_ALL: u8 = 0xf;

struct Reader {
    file: PathBuf,
    errors: Vec<ConfigError>,
    warnings: Vec<Warning>,
    g: Globals,
    virtuals: Vec<Virtual>,
}

impl Reader {
    fn loc(&self, line: u32, column: u32) -> Location {
        Location {
            file: self.file.clone(),
            line,
            column,
        }
    }

    fn err_at(&mut self, line: u32, column: u32, kind: LdirectordErrorKind) {
        let location = self.loc(line, column);
        self.errors.push(ConfigError::Ldirectord { location, kind });
    }

    /// A bad value of `p`, at the value.
    fn bad(&mut self, p: &Pair, expected: impl Into<String>) {
        self.err_at(
            p.line,
            p.value_column,
            LdirectordErrorKind::BadValue {
                keyword: p.key.clone(),
                value: p.value.clone(),
                expected: expected.into(),
            },
        );
    }

    fn unsupported(&mut self, p: &Pair, reason: impl Into<String>) {
        self.err_at(
            p.line,
            p.value_column,
            LdirectordErrorKind::Unsupported {
                keyword: p.key.clone(),
                value: p.value.clone(),
                reason: reason.into(),
            },
        );
    }

    /// A keyword not valid here: `elsewhere` (with why) when it belongs to the other level,
    /// else unknown.
    fn unknown(&mut self, p: &Pair, other_level: bool, elsewhere: &'static str) {
        let problem = if other_level {
            elsewhere
        } else {
            "unknown keyword"
        };
        self.err_at(
            p.line,
            p.key_column,
            LdirectordErrorKind::Keyword {
                keyword: p.key.clone(),
                problem,
            },
        );
    }

    fn warn(&mut self, p: &Pair, action: impl Into<String>) {
        let location = self.loc(p.line, p.key_column);
        self.warnings.push(Warning {
            location,
            keyword: p.key.clone(),
            action: action.into(),
        });
    }

    /// ldirectord's `$1 =~ /(\d+)/ && $1`: a positive integer.
    fn positive(&mut self, p: &Pair) -> Option<u64> {
        match unquote(&p.value).parse::<u64>() {
            Ok(n) if n > 0 && n <= 86_400_000 => Some(n),
            _ => {
                self.bad(p, "a positive whole number");
                None
            }
        }
    }

    fn yes_no(&mut self, p: &Pair) -> Option<bool> {
        match p.value.as_str() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => {
                self.bad(p, "yes or no");
                None
            }
        }
    }

    fn read(&mut self, text: &str) {
        let mut current: Option<Virtual> = None;
        for tok in lexer::lex(text) {
            match tok {
                Token::Blank => {
                    if let Some(v) = current.take() {
                        self.virtuals.push(v);
                    }
                }
                Token::Bad {
                    line,
                    column,
                    text,
                    indented,
                } => {
                    let what = if indented && current.is_none() {
                        "an indented line outside a virtual section (a blank line ends a section)"
                    } else {
                        "expected `keyword = value`"
                    };
                    self.err_at(
                        line,
                        column,
                        LdirectordErrorKind::Syntax(format!("{what}: {text:?}")),
                    );
                }
                Token::Pair(p) if p.indented => match current.take() {
                    Some(mut v) => {
                        self.virtual_key(&mut v, p);
                        current = Some(v);
                    }
                    None => self.err_at(
                        p.line,
                        p.key_column,
                        LdirectordErrorKind::Syntax(format!(
                            "`{}`: an indented line outside a virtual section (a blank line ends a section)",
                            p.key
                        )),
                    ),
                },
                Token::Pair(p) => {
                    if let Some(v) = current.take() {
                        self.virtuals.push(v);
                    }
                    if p.key == "virtual" || p.key == "virtual6" {
                        current = self.open_virtual(p);
                    } else {
                        self.global_key(p);
                    }
                }
            }
        }
        if let Some(v) = current.take() {
            self.virtuals.push(v);
        }
    }

    fn open_virtual(&mut self, p: Pair) -> Option<Virtual> {
        let v6 = p.key == "virtual6";
        let value = p.value.clone();
        let mut v = Virtual::placeholder();
        v.v6 = v6;
        if let Some(rest) = value.strip_prefix('[') {
            if !v6 {
                self.unsupported(&p, "an IPv6 address needs `virtual6`");
                return None;
            }
            let Some((addr, port)) = rest.split_once("]:") else {
                self.bad(&p, "[IPv6]:PORT");
                return None;
            };
            v.host = Some((addr.to_owned(), port.to_owned()));
        } else if let Some((h, port)) = value.rsplit_once(':') {
            if v6 && h.parse::<Ipv6Addr>().is_ok() {
                self.bad(&p, "[IPv6]:PORT (the address in brackets)");
                return None;
            }
            v.host = Some((h.to_owned(), port.to_owned()));
        } else if let Ok(m) = value.parse::<u32>() {
            if m == 0 {
                self.bad(&p, "a firewall mark above 0");
                return None;
            }
            v.fwmark = Some(m);
        } else {
            self.bad(
                &p,
                "IP:PORT, HOST:SERVICE, [IPv6]:PORT (virtual6) or a firewall mark",
            );
            return None;
        }
        if let Some((h, port)) = &v.host
            && (h.is_empty() || port.is_empty() || port.contains(char::is_whitespace))
        {
            self.bad(
                &p,
                "IP:PORT, HOST:SERVICE, [IPv6]:PORT (virtual6) or a firewall mark",
            );
            return None;
        }
        v.at = p;
        Some(v)
    }

    fn global_key(&mut self, p: Pair) {
        let value = unquote(&p.value).to_owned();
        match p.key.as_str() {
            "checktimeout" => self.g.checktimeout = self.positive(&p),
            "negotiatetimeout" => self.g.negotiatetimeout = self.positive(&p),
            "checkinterval" => self.g.checkinterval = self.positive(&p),
            "checkcount" => {
                self.g.checkcount = self.positive(&p).map(clamp_u32);
                self.warn(&p, "deprecated (ldirectord says so too): counts ping attempts; use failurecount");
            }
            "failurecount" => self.g.failurecount = self.positive(&p).map(clamp_u32),
            "connecttimeout" => self.connecttimeout(&p),
            "timeout" => self.unsupported(
                &p,
                "deprecated in favour of checktimeout and negotiatetimeout (ldirectord refuses it too)",
            ),
            "fallback" | "fallback6" => {
                let f = self.fallback(&p);
                if p.key == "fallback" {
                    self.g.fallback = f;
                } else {
                    self.g.fallback6 = f;
                }
            }
            "fallbackcommand" => {
                if value.is_empty() {
                    self.bad(&p, "a command");
                } else {
                    self.g.fallbackcommand = Some(value);
                }
            }
            "autoreload" => self.g.autoreload = self.yes_no(&p).unwrap_or(false),
            "quiescent" => self.g.quiescent = self.yes_no(&p),
            "readdquiescent" => {
                if self.yes_no(&p) == Some(false) {
                    self.warn(
                        &p,
                        "the IPVS table is kept as configured: a real server deleted by hand is put back (weight 0 while down), as with readdquiescent = yes",
                    );
                }
            }
            "cleanstop" => self.g.cleanstop = self.yes_no(&p),
            "emailalert" => {
                if value.is_empty() {
                    self.bad(&p, "one or more mail addresses, comma separated");
                } else {
                    self.g.emailalert = Some((value, p));
                }
            }
            "emailalertfreq" => self.g.emailalertfreq = self.whole(&p),
            "emailalertstatus" => {
                self.g.emailalertstatus = self.alert_status(&p).map(|s| (s, p));
            }
            "emailalertfrom" => {
                if value.is_empty() {
                    self.bad(&p, "a mail address");
                } else {
                    self.g.emailalertfrom = Some(value);
                }
            }
            "smtp" => {
                if self.smtp_ok(&p) {
                    self.g.smtp = Some((value, p));
                }
            }
            "maintenancedir" => {
                if value.is_empty() {
                    self.bad(&p, "a directory");
                } else {
                    if !Path::new(&value).is_dir() {
                        self.warn(&p, "the maintenance directory does not exist (yet): no real server is in maintenance until it does");
                    }
                    self.g.maintenancedir = Some(PathBuf::from(value));
                }
            }
            "logfile" => self.warn(
                &p,
                "ha-director logs to standard error (journald under systemd), not to this file",
            ),
            "supervised" => {
                if p.value.is_empty() || self.yes_no(&p).is_some() {
                    self.warn(&p, "ha-director always runs in the foreground (supervised)");
                }
            }
            "fork" => {
                self.g.fork = self.yes_no(&p).unwrap_or(false);
                self.warn(
                    &p,
                    "checks always run concurrently, each on its own schedule (as with fork = yes)",
                );
            }
            "callback" => self.unsupported(&p, "no command is run on a configuration change; use autoreload"),
            "execute" => self.unsupported(&p, "start one ha-director per configuration file instead"),
            _ => self.unknown(
                &p,
                is_virtual_key(&p.key),
                "only valid inside a virtual section (indented under `virtual =`)",
            ),
        }
    }

    fn connecttimeout(&mut self, p: &Pair) {
        self.unsupported(
            p,
            "deprecated in favour of negotiatetimeout (ldirectord 4.12 refuses it too)",
        );
    }

    /// A whole number, 0 included.
    fn whole(&mut self, p: &Pair) -> Option<u64> {
        match p.value.parse::<u64>() {
            Ok(n) if n <= 86_400_000 => Some(n),
            _ => {
                self.bad(p, "a whole number of seconds");
                None
            }
        }
    }

    fn smtp_ok(&mut self, p: &Pair) -> bool {
        let v = unquote(&p.value);
        let ok = !v.is_empty()
            && v.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-' | ':' | '[' | ']')
            });
        if !ok {
            self.bad(p, "an SMTP server address or host name");
        }
        ok
    }

    /// ldirectord's `parse_emailalertstatus`.
    fn alert_status(&mut self, p: &Pair) -> Option<u8> {
        let words: Vec<&str> = p.value.split(',').map(str::trim).collect();
        let none = words.contains(&"none");
        let mut s = 0u8;
        for w in &words {
            s |= match *w {
                "none" => continue,
                "all" => STATUS_ALL,
                "starting" => 1,
                "running" => 2,
                "stopping" => 4,
                "reloading" => 8,
                _ => {
                    self.bad(
                        p,
                        "all, none, or some of starting, running, stopping, reloading",
                    );
                    return None;
                }
            };
            if none {
                self.bad(p, "none alone");
                return None;
            }
        }
        Some(s)
    }

    /// ldirectord's `parse_fallback`: `HOST[:PORT] [gate|masq|ipip]`.
    fn fallback(&mut self, p: &Pair) -> Option<Fallback> {
        let words: Vec<&str> = p.value.split_whitespace().collect();
        let (addr, method) = match words.as_slice() {
            [a] => (*a, Method::Dr),
            [a, m] => match method_of(m) {
                Some(m) => (*a, m),
                None => {
                    self.bad(p, "HOST[:PORT] [gate|masq|ipip]");
                    return None;
                }
            },
            _ => {
                self.bad(p, "HOST[:PORT] [gate|masq|ipip]");
                return None;
            }
        };
        let (host, port) = split_host_port(addr);
        if host.is_empty() {
            self.bad(p, "HOST[:PORT] [gate|masq|ipip]");
            return None;
        }
        Some(Fallback {
            host: host.to_owned(),
            port: port.map(str::to_owned),
            method,
            at: p.clone(),
        })
    }

    fn virtual_key(&mut self, v: &mut Virtual, p: Pair) {
        let value = unquote(&p.value).to_owned();
        let quoted = p.value.len() >= 2 && p.value.starts_with('"') && p.value.ends_with('"');
        match p.key.as_str() {
            "real" | "real6" => {
                if (p.key == "real6") != v.v6 {
                    let want = if v.v6 { "real6" } else { "real" };
                    self.unsupported(&p, format!("use `{want}` in this virtual section"));
                } else {
                    v.reals.push(p);
                }
            }
            "request" => {
                if !quoted || value.is_empty() {
                    self.bad(&p, "a quoted, non-empty string");
                } else {
                    v.request = if value.starts_with('/') {
                        value
                    } else {
                        format!("/{value}")
                    };
                }
            }
            "receive" => {
                if !quoted || value.is_empty() {
                    self.bad(&p, "a quoted, non-empty regular expression");
                } else if let Err(e) = regex::Regex::new(&value) {
                    self.bad(&p, format!("a regular expression ({e})"));
                } else {
                    v.receive = value;
                }
            }
            "checktype" => {
                v.checktype = match value.as_str() {
                    "connect" => CheckType::Connect,
                    "negotiate" => CheckType::Negotiate,
                    "ping" => CheckType::Ping,
                    "external" => CheckType::External,
                    "external-perl" => CheckType::ExternalPerl,
                    "on" => CheckType::On,
                    "off" => CheckType::Off,
                    n => match n.parse::<u32>() {
                        Ok(n) => CheckType::Combined(n),
                        Err(_) => {
                            self.bad(&p, "connect, negotiate, on, off, ping, external, external-perl or a number");
                            return;
                        }
                    },
                };
                if v.checktype == CheckType::ExternalPerl {
                    self.warn(&p, "the command is run as checktype = external runs it (ldirectord's rules for both are the same)");
                }
            }
            "checkcommand" => {
                if value.is_empty() {
                    self.bad(&p, "a command");
                } else {
                    v.checkcommand = value;
                }
            }
            "checkport" => match value.parse::<u16>() {
                Ok(n) if n > 0 => v.checkport = Some(n),
                _ => self.bad(&p, "a port 1..=65535"),
            },
            "checktimeout" => v.checktimeout = self.positive(&p),
            "negotiatetimeout" => v.negotiatetimeout = self.positive(&p),
            "connecttimeout" => self.connecttimeout(&p),
            "checkcount" => {
                v.checkcount = self.positive(&p).map(clamp_u32);
                self.warn(&p, "deprecated (ldirectord says so too): counts ping attempts; use failurecount");
            }
            "failurecount" => v.failurecount = self.positive(&p).map(clamp_u32),
            "checkinterval" => v.checkinterval = self.positive(&p).map(|n| (n, p)),
            "scheduler" => {
                if !value.is_empty() && value.chars().all(|c| c.is_ascii_lowercase()) {
                    v.scheduler = value;
                } else {
                    self.bad(&p, "a scheduler name of lowercase letters (wrr, rr, wlc, ...)");
                }
            }
            "persistent" => match value.parse::<u32>() {
                Ok(n) => v.persistent = Some(n),
                Err(_) => self.bad(&p, "a number of seconds"),
            },
            "netmask" => v.netmask = Some((value, p)),
            "protocol" => v.protocol = Some((value, p)),
            "ops" => v.ops = self.yes_no(&p).unwrap_or(false),
            "schedflags" => {
                let mut flags = Vec::new();
                for w in value.split(',').map(str::trim) {
                    match SchedFlag::from_keyword(w) {
                        Some(f) => flags.push(f),
                        None => {
                            self.bad(&p, "sh-fallback, sh-port, mh-fallback, mh-port, flag-1, flag-2 or flag-3, comma separated");
                            return;
                        }
                    }
                }
                v.schedflags = flags;
            }
            "service" => {
                if SERVICES.contains(&value.as_str()) {
                    v.service = Some((value, p));
                } else {
                    self.bad(&p, format!("one of ldirectord's services (supported here: {SUPPORTED_SERVICES})"));
                }
            }
            "httpmethod" => match value.to_ascii_uppercase().as_str() {
                "GET" => v.http_head = false,
                "HEAD" => v.http_head = true,
                _ => self.bad(&p, "GET or HEAD"),
            },
            "virtualhost" => {
                if value.is_empty() {
                    self.bad(&p, "a host name");
                } else {
                    v.virtualhost = Some(value);
                }
            }
            "fallback" | "fallback6" => {
                if (p.key == "fallback6") != v.v6 {
                    let want = if v.v6 { "fallback6" } else { "fallback" };
                    self.unsupported(&p, format!("use `{want}` in this virtual section"));
                } else {
                    v.fallback = self.fallback(&p);
                }
            }
            "fallbackcommand" => {
                if value.is_empty() {
                    self.bad(&p, "a command");
                } else {
                    v.fallbackcommand = Some(value);
                }
            }
            "quiescent" => v.quiescent = self.yes_no(&p),
            "cleanstop" => v.cleanstop = self.yes_no(&p),
            "emailalert" => {
                if value.is_empty() {
                    self.bad(&p, "one or more mail addresses, comma separated");
                } else {
                    v.emailalert = Some((value, p));
                }
            }
            "emailalertfreq" => v.emailalertfreq = self.whole(&p),
            "emailalertstatus" => v.emailalertstatus = self.alert_status(&p).map(|s| (s, p)),
            "smtp" => {
                if self.smtp_ok(&p) {
                    v.smtp = Some((value, p));
                }
            }
            "login" | "passwd" | "database" | "secret" | "load" => self.warn(
                &p,
                format!("not used: the services supported here ({SUPPORTED_SERVICES}) take no credentials"),
            ),
            "servicename" | "comment" => {
                self.warn(&p, "not included in the alert mails")
            }
            "monitorfile" => self.unsupported(
                &p,
                "check results go to the log and to `ha-director status`",
            ),
            _ => self.unknown(
                &p,
                is_global_key(&p.key),
                "only valid as a global setting (not indented)",
            ),
        }
    }

    fn convert(&mut self) -> LdirectordConfig {
        let mut out = LdirectordConfig::default();
        let virtuals = std::mem::take(&mut self.virtuals);
        let mut seen: HashMap<String, ()> = HashMap::new();
        // Per-virtual settings that the model keeps globally must agree.
        let mut cleanstops: Vec<bool> = Vec::new();
        for v in &virtuals {
            let Some(vs) = self.virtual_server(v) else {
                continue;
            };
            if seen.insert(vs.name.clone(), ()).is_some() {
                self.err_at(
                    v.at.line,
                    v.at.key_column,
                    LdirectordErrorKind::Duplicate {
                        keyword: v.at.key.clone(),
                        name: vs.name.clone(),
                    },
                );
                continue;
            }
            cleanstops.push(v.cleanstop.or(self.g.cleanstop).unwrap_or(true));
            out.locations.insert(
                Item::VirtualServer(vs.name.clone()),
                self.loc(v.at.line, v.at.key_column),
            );
            out.virtual_servers.push(vs);
        }
        // cleanstop: the model removes (or keeps) all virtual servers at stop.
        match (
            cleanstops.iter().all(|c| *c),
            cleanstops.iter().all(|c| !*c),
        ) {
            (true, _) => {}
            (false, true) => out.global.lvs_flush_on_stop = Some(FlushOnStop::Keep),
            (false, false) => {
                if let Some(v) = virtuals.iter().find(|v| v.cleanstop.is_some()) {
                    let p = v.at.clone();
                    self.err_at(
                        p.line,
                        p.key_column,
                        LdirectordErrorKind::Unsupported {
                            keyword: "cleanstop".into(),
                            value: "per virtual".into(),
                            reason: "every virtual server must have the same cleanstop here (one stop policy)".into(),
                        },
                    );
                }
            }
        }
        out.global.watch_config = self.g.autoreload;
        self.mail(&virtuals, &mut out);
        out.warnings = std::mem::take(&mut self.warnings);
        out
    }

    /// Mail alerts: one relay and one recipient list (`global.smtp`); each virtual server's
    /// real servers mail when the file gives it recipients.
    fn mail(&mut self, virtuals: &[Virtual], out: &mut LdirectordConfig) {
        // (recipients, relay, freq, status) for each virtual server, in model order.
        let mut per: Vec<Option<(String, Option<String>, u64)>> = Vec::new();
        for v in virtuals {
            let to = v.emailalert.as_ref().map(|(s, _)| s.clone()).or(self
                .g
                .emailalert
                .as_ref()
                .map(|(s, _)| s.clone()));
            let status = v
                .emailalertstatus
                .as_ref()
                .map(|(s, _)| *s)
                .or(self.g.emailalertstatus.as_ref().map(|(s, _)| *s))
                .unwrap_or(STATUS_ALL);
            if status != 0 && status != STATUS_ALL {
                let p = v
                    .emailalertstatus
                    .as_ref()
                    .or(self.g.emailalertstatus.as_ref())
                    .map(|(_, p)| p.clone());
                if let Some(p) = p {
                    self.warn(&p, "real-server mails go out whenever the change happens (while running), whatever the daemon state");
                }
            }
            let relay = v.smtp.as_ref().map(|(s, _)| s.clone()).or(self
                .g
                .smtp
                .as_ref()
                .map(|(s, _)| s.clone()));
            let freq = v.emailalertfreq.or(self.g.emailalertfreq).unwrap_or(0);
            per.push(to.filter(|_| status != 0).map(|t| (t, relay, freq)));
        }
        let mut chosen: Option<(String, Option<String>, u64)> = None;
        for (v, m) in virtuals.iter().zip(&per) {
            let Some(m) = m else { continue };
            match &chosen {
                None => chosen = Some(m.clone()),
                Some(c) if c == m => {}
                Some(_) => {
                    let p = v
                        .emailalert
                        .as_ref()
                        .or(v.smtp.as_ref())
                        .map(|(_, p)| p.clone())
                        .unwrap_or_else(|| v.at.clone());
                    self.unsupported(
                        &p,
                        "one set of recipients, relay and emailalertfreq for all virtual servers here",
                    );
                    return;
                }
            }
        }
        let Some((to, relay, freq)) = chosen else {
            return;
        };
        let server = match relay {
            None => {
                let p = self
                    .g
                    .emailalert
                    .as_ref()
                    .map(|(_, p)| p.clone())
                    .or_else(|| {
                        virtuals
                            .iter()
                            .find_map(|v| v.emailalert.as_ref().map(|(_, p)| p.clone()))
                    });
                if let Some(p) = p {
                    self.warn(&p, "no `smtp`: mail goes to the relay on 127.0.0.1:25 (ldirectord would run sendmail)");
                }
                SocketAddr::from((Ipv4Addr::LOCALHOST, 25))
            }
            Some(r) => {
                let p = self
                    .g
                    .smtp
                    .as_ref()
                    .map(|(_, p)| p.clone())
                    .or_else(|| {
                        virtuals
                            .iter()
                            .find_map(|v| v.smtp.as_ref().map(|(_, p)| p.clone()))
                    })
                    .unwrap_or_else(|| virtuals[0].at.clone());
                let (host, port) = split_host_port(&r);
                let port = port.and_then(|p| p.parse::<u16>().ok()).unwrap_or(25);
                match resolve_host(host.trim_matches(|c| c == '[' || c == ']'), None) {
                    Ok(ip) => SocketAddr::new(ip, port),
                    Err(e) => {
                        self.err_at(
                            p.line,
                            p.value_column,
                            LdirectordErrorKind::Resolve {
                                keyword: p.key.clone(),
                                name: host.to_owned(),
                                reason: e,
                            },
                        );
                        return;
                    }
                }
            }
        };
        let everyone = per.iter().all(Option::is_some);
        out.global.smtp = Some(Smtp {
            server,
            to: to
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            from: self.g.emailalertfrom.clone(),
            helo_name: None,
            connect_timeout_ms: 30_000,
            alert_vrrp: false,
            alert_checker: Some(everyone),
            no_email_faults: false,
            repeat_down_s: (freq > 0).then_some(freq),
        });
        if !everyone {
            for (vs, m) in out.virtual_servers.iter_mut().zip(&per) {
                if m.is_some() {
                    for rs in &mut vs.real_servers {
                        rs.smtp_alert = Some(true);
                    }
                }
            }
        }
    }

    fn resolve_err(&mut self, p: &Pair, name: &str, reason: String) {
        self.err_at(
            p.line,
            p.value_column,
            LdirectordErrorKind::Resolve {
                keyword: p.key.clone(),
                name: name.to_owned(),
                reason,
            },
        );
    }

    fn virtual_server(&mut self, v: &Virtual) -> Option<VirtualServer> {
        let family_v6 = v.v6;
        // Protocol: tcp, udp for port 53 / domain, fwm for a mark (ldirectord's defaults).
        let mut protocol = match &v.host {
            Some((_, port)) if port == "53" || port == "domain" => Protocol::Udp,
            _ => Protocol::Tcp,
        };
        if let Some((proto, p)) = &v.protocol {
            match (v.fwmark.is_some(), proto.as_str()) {
                (true, "fwm") => {}
                (true, _) => {
                    self.bad(p, "fwm (the virtual service is a firewall mark)");
                    return None;
                }
                (false, "tcp") => protocol = Protocol::Tcp,
                (false, "udp") => protocol = Protocol::Udp,
                (false, _) => {
                    self.bad(p, "tcp or udp (the virtual service is an address and port)");
                    return None;
                }
            }
        }
        let proto_name = match protocol {
            Protocol::Udp => "udp",
            _ => "tcp",
        };
        let (address, port, name) = match (&v.host, v.fwmark) {
            (Some((h, port_text)), _) => {
                let ip = match resolve_host(h, Some(family_v6)) {
                    Ok(ip) => ip,
                    Err(e) => {
                        self.resolve_err(&v.at, h, e);
                        return None;
                    }
                };
                let port = match resolve_port(port_text, proto_name) {
                    Ok(p) => p,
                    Err(e) => {
                        self.resolve_err(&v.at, port_text, e);
                        return None;
                    }
                };
                let name = match ip {
                    IpAddr::V4(a) => format!("{proto_name}:{a}:{port}"),
                    IpAddr::V6(a) => format!("{proto_name}:[{a}]:{port}"),
                };
                (Some(ip), Some(port), name)
            }
            (None, Some(m)) => (None, None, format!("fwm:{m}")),
            (None, None) => return None,
        };
        let vport = port.unwrap_or(0);
        let mut vs = VirtualServer {
            name,
            address,
            port,
            fwmark: v.fwmark,
            family: v.fwmark.map(|_| {
                if family_v6 {
                    Family::Inet6
                } else {
                    Family::Inet
                }
            }),
            protocol,
            scheduler: v.scheduler.clone(),
            method: Method::Dr,
            persistence_timeout_s: v.persistent,
            persistence_granularity: None,
            quorum: 1,
            hysteresis: 0,
            quorum_up: None,
            quorum_down: None,
            sorry_server: None,
            delay_loop_ms: 10_000,
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
            inhibit_on_failure: v.quiescent.or(self.g.quiescent).unwrap_or(false),
            sched_flags: v.schedflags.clone(),
            announce: false,
            ops: v.ops,
            group: None,
            persistence_engine: None,
            tunnel: None,
        };
        if v.ops && protocol != Protocol::Udp {
            self.unsupported(&v.at, "ops = yes is for UDP services only");
        }
        if let Some((mask, p)) = &v.netmask {
            if family_v6 {
                match mask.parse::<u8>() {
                    Ok(n) if (1..=128).contains(&n) => {
                        vs.persistence_granularity = Some(IpAddr::V6(Ipv6Addr::from(
                            u128::MAX << (128 - u32::from(n)),
                        )));
                    }
                    _ => self.bad(p, "a prefix length between 1 and 128"),
                }
            } else {
                match mask.parse::<Ipv4Addr>() {
                    Ok(m) => vs.persistence_granularity = Some(IpAddr::V4(m)),
                    Err(_) => self.bad(p, "a netmask in dotted quad notation"),
                }
            }
        }
        // checkinterval: the global one; a virtual's own only with fork = yes (ldirectord).
        let mut interval = self.g.checkinterval.unwrap_or(10);
        if let Some((n, p)) = &v.checkinterval {
            if self.g.fork {
                interval = *n;
            } else {
                self.warn(p, "ignored when fork = no (as ldirectord ignores it): the global checkinterval applies");
            }
        }
        vs.delay_loop_ms = interval * 1000;
        // ldirectord's ld_setup: checktimeout and negotiatetimeout default to each other.
        let checktimeout = v
            .checktimeout
            .or(v.negotiatetimeout)
            .or(self.g.checktimeout)
            .or(self.g.negotiatetimeout)
            .unwrap_or(5);
        let negotiatetimeout = v
            .negotiatetimeout
            .or(v.checktimeout)
            .or(self.g.negotiatetimeout)
            .or(self.g.checktimeout)
            .unwrap_or(30);
        let failurecount = v.failurecount.or(self.g.failurecount).unwrap_or(1);
        let checkcount = v.checkcount.or(self.g.checkcount).unwrap_or(1);
        // The service a negotiate check speaks.
        let service = match &v.service {
            Some((s, _)) => s.clone(),
            None if v.fwmark.is_some() => "none".into(),
            None => port_to_service(vport).to_owned(),
        };
        let negotiates = matches!(v.checktype, CheckType::Negotiate | CheckType::Combined(_));
        if negotiates && !SUPPORTED_SERVICES.split(", ").any(|s| s == service) {
            let at = v.service.as_ref().map(|(_, p)| p.clone());
            let reason = match &at {
                Some(_) => format!("supported services: {SUPPORTED_SERVICES}"),
                None => format!(
                    "port {vport} means service {service} to ldirectord, which is not supported (supported: {SUPPORTED_SERVICES}); set `service` or `checktype = connect`"
                ),
            };
            match at {
                Some(p) => self.unsupported(&p, reason),
                None => self.err_at(
                    v.at.line,
                    v.at.value_column,
                    LdirectordErrorKind::Unsupported {
                        keyword: "service".into(),
                        value: service.clone(),
                        reason,
                    },
                ),
            }
            return None;
        }
        // Real servers.
        for rp in &v.reals {
            let Some(reals) = self.reals(rp, family_v6) else {
                continue;
            };
            for r in reals {
                let mut rs = RealServer {
                    address: r.addr,
                    port: (r.port != 0 && v.fwmark.is_none()).then_some(r.port),
                    weight: r.weight,
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
                    method: Some(r.method),
                    upper_threshold: r.upper,
                    lower_threshold: r.lower,
                    alpha: None,
                    tunnel: None,
                };
                let checkport = v
                    .checkport
                    .or((r.port != 0).then_some(r.port))
                    .or(service_to_port(&service));
                let request = r.request.clone().unwrap_or_else(|| v.request.clone());
                let receive = r.receive.clone().unwrap_or_else(|| v.receive.clone());
                let negotiate = self.negotiate_check(
                    v,
                    rp,
                    &service,
                    &request,
                    &receive,
                    checkport,
                    negotiatetimeout,
                    r.addr,
                );
                let connect = || {
                    if protocol == Protocol::Udp {
                        let mut c = Check::new(CheckKind::Ping);
                        c.connect_timeout_ms = Some(checktimeout * 1000);
                        c
                    } else {
                        let mut c = Check::new(CheckKind::Tcp);
                        c.connect_port = checkport;
                        c.connect_timeout_ms = Some(checktimeout * 1000);
                        c
                    }
                };
                match v.checktype {
                    CheckType::On => {}
                    CheckType::Negotiate => rs.checks.extend(negotiate),
                    CheckType::Connect => rs.checks.push(connect()),
                    CheckType::Combined(n) => {
                        rs.checks.push(connect());
                        if let Some(mut c) = negotiate {
                            c.delay_loop_ms = Some((u64::from(n) + 1) * interval * 1000);
                            rs.checks.push(c);
                        }
                    }
                    CheckType::Ping => {
                        let mut c = Check::new(CheckKind::Ping);
                        c.connect_timeout_ms = Some(checktimeout * 1000);
                        // checkcount attempts, each a failure of its own.
                        c.retry = Some(checkcount.saturating_sub(1));
                        c.delay_before_retry_ms = Some(0);
                        rs.checks.push(c);
                    }
                    CheckType::External | CheckType::ExternalPerl => {
                        let mut c = Check::new(CheckKind::Misc);
                        let vserver = match (v.fwmark, address) {
                            (Some(m), _) => m.to_string(),
                            (None, Some(IpAddr::V6(a))) => format!("[{a}]"),
                            (None, Some(a)) => a.to_string(),
                            (None, None) => String::new(),
                        };
                        let rserver = match r.addr {
                            IpAddr::V6(a) => format!("[{a}]"),
                            a => a.to_string(),
                        };
                        c.misc_path = Some(format!(
                            "{} {vserver} {vport} {rserver} {}",
                            v.checkcommand, r.port
                        ));
                        c.misc_timeout_ms = Some(checktimeout * 1000);
                        rs.checks.push(c);
                    }
                    CheckType::Off => {
                        let mut c = Check::new(CheckKind::Misc);
                        c.misc_path = Some("/bin/false".into());
                        rs.checks.push(c);
                    }
                }
                if let Some(dir) = &self.g.maintenancedir {
                    let mut c = Check::new(CheckKind::Maintenance);
                    c.maintenance_dir = Some(dir.clone());
                    rs.checks.push(c);
                }
                if !rs.checks.is_empty() {
                    // failurecount: that many failed checks in a row, a checkinterval apart.
                    let extra = failurecount.saturating_sub(1);
                    for c in &mut rs.checks {
                        if c.kind == CheckKind::Maintenance {
                            continue;
                        }
                        c.retry = Some(c.retry.unwrap_or(0) + extra);
                        if extra > 0 {
                            c.delay_before_retry_ms = Some(interval * 1000);
                        }
                    }
                    rs.alpha = Some(true);
                    rs.warmup_ms = Some(0);
                }
                vs.real_servers.push(rs);
            }
        }
        // Fallback: the virtual's, else the global one of its family.
        let fb = v.fallback.clone().or_else(|| {
            if family_v6 {
                self.g.fallback6.clone()
            } else {
                self.g.fallback.clone()
            }
        });
        if let Some(f) = fb {
            match resolve_host(&f.host, Some(family_v6)) {
                Ok(ip) => {
                    let port = match &f.port {
                        None => None,
                        Some(t) => match resolve_port(t, proto_name) {
                            Ok(p) => Some(p),
                            Err(e) => {
                                self.resolve_err(&f.at, t, e);
                                None
                            }
                        },
                    };
                    vs.sorry_server = Some(SorryServer {
                        address: ip,
                        port: port.filter(|p| *p != 0 && v.fwmark.is_none()),
                        inhibit: false,
                        method: Some(f.method),
                        tunnel: None,
                    });
                }
                Err(e) => self.resolve_err(&f.at, &f.host, e),
            }
        }
        if let Some(cmd) = v.fallbackcommand.clone().or(self.g.fallbackcommand.clone()) {
            let server = match address {
                Some(IpAddr::V6(a)) => format!("[{a}]"),
                Some(a) => a.to_string(),
                None => String::new(),
            };
            let proto = if v.fwmark.is_some() {
                "fwm"
            } else {
                proto_name
            };
            vs.quorum_down = Some(format!("{cmd} start {server}:{vport} {proto}"));
            vs.quorum_up = Some(format!("{cmd} stop {server}:{vport} {proto}"));
        }
        Some(vs)
    }

    #[allow(clippy::too_many_arguments)]
    fn negotiate_check(
        &mut self,
        v: &Virtual,
        rp: &Pair,
        service: &str,
        request: &str,
        receive: &str,
        checkport: Option<u16>,
        timeout_s: u64,
        raddr: IpAddr,
    ) -> Option<Check> {
        let timeout = Some(timeout_s * 1000);
        match service {
            "http" | "https" => {
                let mut c = Check::new(if service == "https" {
                    CheckKind::Ssl
                } else {
                    CheckKind::Http
                });
                c.connect_port = checkport;
                c.connect_timeout_ms = timeout;
                // A request of `http://HOST[:PORT]/PATH` is fetched from there.
                let mut path = request.to_owned();
                let trimmed = request.trim_start_matches('/');
                let scheme = format!("{service}://");
                if let Some(rest) = trimmed.strip_prefix(&scheme) {
                    let (hostport, p) = match rest.find('/') {
                        Some(i) => (&rest[..i], rest[i..].to_owned()),
                        None => (rest, "/".to_owned()),
                    };
                    let (h, port) = split_host_port(hostport);
                    match resolve_host(h.trim_matches(|c| c == '[' || c == ']'), None) {
                        Ok(ip) => {
                            if ip != raddr {
                                c.connect_ip = Some(ip);
                            }
                            c.connect_port = match port.map(|p| resolve_port(p, "tcp")) {
                                Some(Ok(p)) => Some(p),
                                Some(Err(e)) => {
                                    self.resolve_err(rp, h, e);
                                    None
                                }
                                None => service_to_port(service),
                            };
                            if c.virtualhost.is_none() && ip.to_string() != h {
                                c.virtualhost = Some(h.to_owned());
                            }
                        }
                        Err(e) => self.resolve_err(rp, h, e),
                    }
                    path = p;
                }
                let mut u = UrlCheck::new(path);
                if !receive.is_empty() {
                    u.regex = Some(receive.to_owned());
                }
                c.urls.push(u);
                if let Some(h) = &v.virtualhost {
                    c.virtualhost = Some(h.clone());
                }
                c.http_protocol = Some(HttpProtocol::Http11);
                if v.http_head {
                    c.http_method = Some(HttpMethod::Head);
                }
                Some(c)
            }
            "smtp" | "submission" => {
                let mut c = Check::new(CheckKind::Smtp);
                c.connect_port = checkport;
                c.connect_timeout_ms = timeout;
                Some(c)
            }
            "dns" => {
                let mut c = Check::new(CheckKind::Dns);
                c.connect_port = checkport;
                c.connect_timeout_ms = timeout;
                let name = request.trim_start_matches('/');
                match name.parse::<IpAddr>() {
                    Ok(ip) => {
                        c.dns_type = Some("PTR".into());
                        c.dns_name = Some(reverse_name(ip));
                    }
                    Err(_) => {
                        c.dns_type = Some("A".into());
                        c.dns_name = Some(name.to_owned());
                    }
                }
                if receive.is_empty() {
                    self.unsupported(rp, "service = dns needs `receive` (the answer to expect, here or in the virtual section): without it ldirectord never sees a DNS real server up");
                    return None;
                }
                c.dns_expect = Some(receive.to_owned());
                Some(c)
            }
            "simpletcp" => {
                let mut c = Check::new(CheckKind::Tcp);
                c.connect_port = checkport;
                c.connect_timeout_ms = timeout;
                // ldirectord sends the request without its first character (the `/` it
                // put in front) and with `\n` written as two characters made a new line.
                let send: String = request.chars().skip(1).collect();
                c.tcp_send = Some(send.replace("\\n", "\n"));
                c.tcp_expect = Some(receive.to_owned());
                Some(c)
            }
            _ => None,
        }
    }

    /// One `real =` line: its servers (a range gives several).
    fn reals(&mut self, p: &Pair, v6: bool) -> Option<Vec<Real>> {
        match parse_real(&p.value) {
            Err(e) => {
                self.bad(p, e);
                None
            }
            Ok(spec) => {
                let first = match resolve_host(&spec.host, Some(v6)) {
                    Ok(ip) => ip,
                    Err(e) => {
                        self.resolve_err(p, &spec.host, e);
                        return None;
                    }
                };
                let port = match &spec.port {
                    None => 0,
                    Some(t) => match resolve_port(t, "tcp") {
                        Ok(n) => n,
                        Err(e) => {
                            self.resolve_err(p, t, e);
                            return None;
                        }
                    },
                };
                let addrs = match &spec.last {
                    None => vec![first],
                    Some(l) => {
                        let last = match resolve_host(l, Some(v6)) {
                            Ok(ip) => ip,
                            Err(e) => {
                                self.resolve_err(p, l, e);
                                return None;
                            }
                        };
                        match (first, last) {
                            (IpAddr::V4(a), IpAddr::V4(b)) if u32::from(a) <= u32::from(b) => {
                                if u32::from(b) - u32::from(a) >= 65_536 {
                                    self.bad(p, "a range of at most 65536 addresses");
                                    return None;
                                }
                                (u32::from(a)..=u32::from(b))
                                    .map(|x| IpAddr::V4(x.into()))
                                    .collect()
                            }
                            (IpAddr::V4(_), IpAddr::V4(_)) => {
                                self.bad(p, "a range whose first address is not above its last");
                                return None;
                            }
                            _ => {
                                self.unsupported(
                                    p,
                                    "address ranges are IPv4 only (as in ldirectord)",
                                );
                                return None;
                            }
                        }
                    }
                };
                Some(
                    addrs
                        .into_iter()
                        .map(|addr| Real {
                            addr,
                            port,
                            method: spec.method,
                            weight: spec.weight,
                            request: spec.request.clone(),
                            receive: spec.receive.clone(),
                            lower: spec.lower,
                            upper: spec.upper,
                        })
                        .collect(),
                )
            }
        }
    }
}

impl Virtual {
    /// A section with ldirectord's defaults (`read_config`).
    fn placeholder() -> Virtual {
        Virtual {
            at: Pair {
                line: 0,
                key_column: 0,
                key: String::new(),
                value_column: 0,
                value: String::new(),
                indented: false,
            },
            v6: false,
            host: None,
            fwmark: None,
            reals: Vec::new(),
            checktype: CheckType::Negotiate,
            service: None,
            request: "/".into(),
            receive: String::new(),
            checkcommand: "/bin/true".into(),
            checkport: None,
            checktimeout: None,
            negotiatetimeout: None,
            checkcount: None,
            failurecount: None,
            checkinterval: None,
            scheduler: "wrr".into(),
            persistent: None,
            netmask: None,
            protocol: None,
            ops: false,
            schedflags: Vec::new(),
            http_head: false,
            virtualhost: None,
            fallback: None,
            fallbackcommand: None,
            quiescent: None,
            emailalert: None,
            emailalertfreq: None,
            emailalertstatus: None,
            smtp: None,
            cleanstop: None,
        }
    }
}

/// One real server after resolution.
#[derive(Debug, Clone)]
struct Real {
    addr: IpAddr,
    port: u16,
    method: Method,
    weight: u32,
    request: Option<String>,
    receive: Option<String>,
    lower: Option<u32>,
    upper: Option<u32>,
}

/// A `real =` value before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RealSpec {
    host: String,
    last: Option<String>,
    port: Option<String>,
    method: Method,
    weight: u32,
    request: Option<String>,
    receive: Option<String>,
    lower: Option<u32>,
    upper: Option<u32>,
}

fn method_of(w: &str) -> Option<Method> {
    match w {
        "gate" => Some(Method::Dr),
        "masq" => Some(Method::Nat),
        "ipip" => Some(Method::Tun),
        _ => None,
    }
}

/// `HOST[:PORT]`, `[V6][:PORT]`.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(rest) = s.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => (s, None),
        };
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (s, None),
    }
}

/// ldirectord's real server syntax: `HOST[->HOST][:PORT] gate|masq|ipip [WEIGHT]
/// ["REQUEST", "RECEIVE"] [l:N] [u:N]`.
fn parse_real(value: &str) -> Result<RealSpec, String> {
    const FORM: &str =
        "HOST[->HOST][:PORT] gate|masq|ipip [WEIGHT] [\"REQUEST\", \"RECEIVE\"] [l:N] [u:N]";
    let value = value.trim();
    let (addr, rest) = match value.find(char::is_whitespace) {
        Some(i) => (&value[..i], value[i..].trim_start()),
        None => return Err(format!("{FORM} (no forwarding method)")),
    };
    let (first, last_port) = match addr.split_once("->") {
        Some((a, b)) => (a, Some(b)),
        None => (addr, None),
    };
    let (host, last, port) = match last_port {
        None => {
            let (h, p) = split_host_port(first);
            (h, None, p)
        }
        Some(lp) => {
            let (l, p) = split_host_port(lp);
            let (h, _) = split_host_port(first);
            (h, Some(l), p)
        }
    };
    if host.is_empty() || last.is_some_and(str::is_empty) || port.is_some_and(str::is_empty) {
        return Err(FORM.into());
    }
    let (mword, mut rest) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim_start()),
        None => (rest, ""),
    };
    let method = method_of(mword).ok_or_else(|| format!("{FORM} (forwarding method {mword:?})"))?;
    let mut weight = 1;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if !digits.is_empty() {
        weight = digits
            .parse::<u32>()
            .ok()
            .filter(|w| *w <= 65_535)
            .ok_or_else(|| format!("a weight 0..=65535, not {digits}"))?;
        rest = rest[digits.len()..].trim_start();
    }
    let mut request = None;
    let mut receive = None;
    if rest.starts_with('"') {
        // "REQUEST", "RECEIVE" (a comma or a space between them).
        let q: Vec<(usize, char)> = rest.char_indices().filter(|(_, c)| *c == '"').collect();
        if q.len() < 4 {
            return Err(format!(
                "{FORM} (request and receive are two quoted strings)"
            ));
        }
        let between = &rest[q[1].0 + 1..q[2].0];
        if !between.trim().is_empty() && between.trim() != "," {
            return Err(format!("{FORM} (a comma between request and receive)"));
        }
        let req = &rest[q[0].0 + 1..q[1].0];
        request = Some(if req.starts_with('/') {
            req.to_owned()
        } else {
            format!("/{req}")
        });
        let rec = &rest[q[2].0 + 1..q[3].0];
        regex::Regex::new(rec).map_err(|e| format!("receive as a regular expression ({e})"))?;
        receive = Some(rec.to_owned());
        rest = rest[q[3].0 + 1..].trim_start();
    }
    let mut lower = None;
    let mut upper = None;
    for w in rest.split_whitespace() {
        let bad = || format!("{FORM} (around {w:?})");
        if let Some(n) = w.strip_prefix("l:") {
            lower = Some(n.parse::<u32>().map_err(|_| bad())?);
        } else if let Some(n) = w.strip_prefix("u:") {
            upper = Some(n.parse::<u32>().map_err(|_| bad())?);
        } else {
            return Err(bad());
        }
    }
    Ok(RealSpec {
        host: host.to_owned(),
        last: last.map(str::to_owned),
        port: port.map(str::to_owned),
        method,
        weight,
        request,
        receive,
        lower,
        upper,
    })
}

/// A host name or address, as ldirectord's `ld_gethostbyname` resolves it (`v6`: the
/// family wanted, `None`: either).
fn resolve_host(host: &str, v6: Option<bool>) -> Result<IpAddr, String> {
    let want = |ip: &IpAddr| v6.is_none_or(|v6| ip.is_ipv6() == v6);
    if let Ok(ip) = host.parse::<IpAddr>() {
        return if want(&ip) {
            Ok(ip)
        } else {
            Err(format!(
                "not an {} address",
                if v6 == Some(true) { "IPv6" } else { "IPv4" }
            ))
        };
    }
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
    {
        return Err("not a host name or address".into());
    }
    let addrs = (host, 0u16).to_socket_addrs().map_err(|e| e.to_string())?;
    addrs
        .map(|a| a.ip())
        .find(want)
        .ok_or_else(|| "no address of the family wanted".into())
}

/// A port number or a service name (`/etc/services`, as ldirectord's `getservbyname`).
fn resolve_port(text: &str, proto: &str) -> Result<u16, String> {
    if let Ok(n) = text.parse::<u16>() {
        return Ok(n);
    }
    if text.is_empty()
        || !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("not a port number or service name".into());
    }
    let services = std::fs::read_to_string("/etc/services").unwrap_or_default();
    service_port(&services, text, proto).ok_or_else(|| "not in /etc/services".into())
}

/// Looks `name` up in `/etc/services` text (names and aliases).
fn service_port(services: &str, name: &str, proto: &str) -> Option<u16> {
    for line in services.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let (Some(n), Some(pp)) = (words.next(), words.next()) else {
            continue;
        };
        let Some((port, pr)) = pp.split_once('/') else {
            continue;
        };
        if pr == proto && (n == name || words.any(|a| a == name)) {
            return port.parse().ok();
        }
    }
    None
}

/// The PTR name of an address (`in-addr.arpa`, `ip6.arpa`).
fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(a) => {
            let mut s = String::new();
            for b in a.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

fn clamp_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn is_virtual_key(k: &str) -> bool {
    matches!(
        k,
        "real"
            | "real6"
            | "request"
            | "receive"
            | "checktype"
            | "checkcommand"
            | "checkport"
            | "scheduler"
            | "persistent"
            | "netmask"
            | "protocol"
            | "ops"
            | "schedflags"
            | "service"
            | "httpmethod"
            | "virtualhost"
            | "login"
            | "passwd"
            | "database"
            | "secret"
            | "load"
            | "monitorfile"
            | "servicename"
            | "comment"
    )
}

fn is_global_key(k: &str) -> bool {
    matches!(
        k,
        "autoreload"
            | "callback"
            | "logfile"
            | "execute"
            | "fork"
            | "supervised"
            | "readdquiescent"
            | "emailalertfrom"
            | "maintenancedir"
            | "timeout"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_syntax() {
        let r = parse_real("10.0.0.1->10.0.0.3:80 gate 5 \"/a\", \"ok\" l:1 u:9").unwrap();
        assert_eq!(r.host, "10.0.0.1");
        assert_eq!(r.last.as_deref(), Some("10.0.0.3"));
        assert_eq!(r.port.as_deref(), Some("80"));
        assert_eq!((r.method, r.weight), (Method::Dr, 5));
        assert_eq!(r.request.as_deref(), Some("/a"));
        assert_eq!(r.receive.as_deref(), Some("ok"));
        assert_eq!((r.lower, r.upper), (Some(1), Some(9)));
        let r = parse_real("[2001:db8::1]:80 masq").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port.as_deref()),
            ("2001:db8::1", Some("80"))
        );
        assert!(parse_real("10.0.0.1:80").is_err());
        assert!(parse_real("10.0.0.1:80 route").is_err());
        assert!(parse_real("10.0.0.1:80 gate 70000").is_err());
        assert!(parse_real("10.0.0.1:80 gate 1 junk").is_err());
    }

    #[test]
    fn services_file_and_reverse_names() {
        let s = "http 80/tcp www # web\ndomain 53/udp\n";
        assert_eq!(service_port(s, "www", "tcp"), Some(80));
        assert_eq!(service_port(s, "domain", "udp"), Some(53));
        assert_eq!(service_port(s, "domain", "tcp"), None);
        assert_eq!(
            reverse_name("192.0.2.1".parse().unwrap()),
            "1.2.0.192.in-addr.arpa"
        );
    }
}
