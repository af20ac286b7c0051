//! Mail alerts, as keepalived sends them (`smtp_server`, `notification_email`, `smtp_alert`):
//! a VRRP instance or sync group changing state, a real server going up or down, a virtual
//! server gaining or losing its quorum.
//!
//! [`Alerter`] is sans-io: it turns the director's events into [`Mail`]s with keepalived's
//! subjects and bodies (`[ROUTER_ID] VRRP Instance VI_1 - Entering MASTER state`, `=> VRRP
//! Instance is now owning VRRP VIPs <=`), once per state as keepalived does. [`send`] delivers
//! one over SMTP (RFC 5321: `HELO`, `MAIL FROM`, `RCPT TO` for each recipient, `DATA`, `QUIT`)
//! within the configured time, reading the replies with `ha_healthcheck::wire`'s SMTP reply
//! parser.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ha_failover::core::{DirectorEvent, NotifyState};
use ha_failover::vrrp::router::State;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Where and how mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// The relay.
    pub server: SocketAddr,
    /// `HELO` name.
    pub helo_name: String,
    /// Sender.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Time allowed for one whole exchange.
    pub timeout: Duration,
}

/// Which items mail, and how they are named, by the ids the director uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertPlan {
    /// The relay and addresses.
    pub mail: MailSettings,
    /// The `[ROUTER_ID]` that starts every subject.
    pub router_id: String,
    /// No mail about entering FAULT (keepalived `no_email_faults`).
    pub no_email_faults: bool,
    /// Mail again at this period while a real server stays down (ldirectord
    /// `emailalertfreq`).
    pub repeat_down: Option<Duration>,
    /// By instance id: its name and whether it mails.
    pub instances: Vec<(String, bool)>,
    /// By sync group id: its name and whether it mails.
    pub groups: Vec<(String, bool)>,
    /// By virtual server id.
    pub virtual_servers: Vec<VirtualServerAlerts>,
}

/// The mail settings of one virtual server and its real servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServerAlerts {
    /// keepalived's name of it (`[10.0.0.1]:tcp:80`, `FWM 7`).
    pub label: String,
    /// Whether quorum changes mail.
    pub enabled: bool,
    /// By real-server index: keepalived's name (`[10.0.0.2]:tcp:80`) and whether it mails.
    pub real_servers: Vec<(String, bool)>,
}

/// keepalived's name of a virtual service: `[ADDR]:PROTO:PORT`, or `FWM N`.
pub fn service_label(
    addr: Option<IpAddr>,
    port: Option<u16>,
    proto: &str,
    fwmark: Option<u32>,
) -> String {
    match (fwmark, addr) {
        (Some(m), _) => format!("FWM {m}"),
        (None, Some(a)) => format!("[{a}]:{proto}:{}", port.unwrap_or(0)),
        (None, None) => "?".to_owned(),
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The subject line.
    pub subject: String,
    /// The body (one line, as keepalived's).
    pub body: String,
}

/// Turns events into mails, once per state change of each item.
#[derive(Debug, Clone)]
pub struct Alerter {
    plan: AlertPlan,
    last_instance: Vec<Option<&'static str>>,
    last_group: Vec<Option<&'static str>>,
    /// Real servers down and mailing (with `repeat_down`): when the next reminder is due
    /// (`None`: the first [`Alerter::due_repeats`] call sets it).
    down: std::collections::BTreeMap<(u32, usize), Option<std::time::Instant>>,
}

impl Alerter {
    /// An alerter for `plan`.
    pub fn new(plan: AlertPlan) -> Alerter {
        Alerter {
            last_instance: vec![None; plan.instances.len()],
            last_group: vec![None; plan.groups.len()],
            down: std::collections::BTreeMap::new(),
            plan,
        }
    }

    /// ldirectord's `emailalertfreq`: a reminder for each real server still down whose
    /// period has passed at `now` (sans-io: the caller passes the time, about every
    /// second). Empty without `repeat_down`.
    pub fn due_repeats(&mut self, now: std::time::Instant) -> Vec<Mail> {
        let Some(period) = self.plan.repeat_down else {
            return Vec::new();
        };
        let rid = &self.plan.router_id;
        let mut out = Vec::new();
        for (&(server, index), due) in &mut self.down {
            match due {
                None => *due = Some(now + period),
                Some(t) if *t <= now => {
                    *due = Some(now + period);
                    let Some(vs) = self.plan.virtual_servers.get(server as usize) else {
                        continue;
                    };
                    let Some((rs, _)) = vs.real_servers.get(index) else {
                        continue;
                    };
                    out.push(Mail {
                        subject: format!(
                            "[{rid}] Realserver {rs} of virtual server {} - still DOWN",
                            vs.label
                        ),
                        body: "=> Inaccessible real server <=".to_owned(),
                    });
                }
                Some(_) => {}
            }
        }
        out
    }

    /// The relay settings.
    pub fn settings(&self) -> &MailSettings {
        &self.plan.mail
    }

    /// The mail `ev` calls for, if any.
    pub fn on_event(&mut self, ev: &DirectorEvent) -> Option<Mail> {
        let rid = &self.plan.router_id;
        match ev {
            DirectorEvent::Transition { instance, to, .. } => {
                let i = instance.0 as usize;
                let (name, on) = self.plan.instances.get(i)?;
                let (subject, body) = match to {
                    State::Master => (
                        "Entering MASTER state",
                        "=> VRRP Instance is now owning VRRP VIPs <=",
                    ),
                    State::Backup => (
                        "Entering BACKUP state",
                        "=> VRRP Instance is no longer owning VRRP VIPs <=",
                    ),
                    State::Fault => (
                        "Entering FAULT state",
                        "=> VRRP Instance is no longer owning VRRP VIPs <=",
                    ),
                    State::Initialize => ("Stopping", "=> VRRP Instance stopping <="),
                };
                if !on || (self.plan.no_email_faults && *to == State::Fault) {
                    return None;
                }
                if self.last_instance[i] == Some(subject) {
                    return None;
                }
                self.last_instance[i] = Some(subject);
                Some(Mail {
                    subject: format!("[{rid}] VRRP Instance {name} - {subject}"),
                    body: body.to_owned(),
                })
            }
            DirectorEvent::GroupTransition { group, state } => {
                let g = group.0 as usize;
                let (name, on) = self.plan.groups.get(g)?;
                let (subject, body) = match state {
                    NotifyState::Master => (
                        "Entering MASTER state",
                        "=> All VRRP group instances are now in MASTER state <=",
                    ),
                    NotifyState::Backup => (
                        "Entering BACKUP state",
                        "=> All VRRP group instances are now in BACKUP state <=",
                    ),
                    NotifyState::Fault => (
                        "Entering FAULT state",
                        "=> All VRRP group instances are now in FAULT state <=",
                    ),
                    NotifyState::Stop => (
                        "Stopping",
                        "=> All VRRP group instances are now stopping <=",
                    ),
                    // A state keepalived's mails do not know: no mail.
                    _ => return None,
                };
                if !on || (self.plan.no_email_faults && *state == NotifyState::Fault) {
                    return None;
                }
                if self.last_group[g] == Some(subject) {
                    return None;
                }
                self.last_group[g] = Some(subject);
                Some(Mail {
                    subject: format!("[{rid}] VRRP Group {name} - {subject}"),
                    body: body.to_owned(),
                })
            }
            DirectorEvent::RealServerChanged {
                server,
                index,
                alive,
            } => {
                let vs = self.plan.virtual_servers.get(server.0 as usize)?;
                let (rs, on) = vs.real_servers.get(*index)?;
                if !on {
                    return None;
                }
                if self.plan.repeat_down.is_some() {
                    if *alive {
                        self.down.remove(&(server.0, *index));
                    } else {
                        self.down.insert((server.0, *index), None);
                    }
                }
                let (word, body) = if *alive {
                    ("UP", "=> CHECK succeed on service <=")
                } else {
                    ("DOWN", "=> CHECK failed on service <=")
                };
                Some(Mail {
                    subject: format!(
                        "[{rid}] Realserver {rs} of virtual server {} - {word}",
                        vs.label
                    ),
                    body: body.to_owned(),
                })
            }
            DirectorEvent::PoolQuorum { server, up } => {
                let vs = self.plan.virtual_servers.get(server.0 as usize)?;
                if !vs.enabled {
                    return None;
                }
                let (word, body) = if *up {
                    ("UP", "=> Gained quorum <=")
                } else {
                    ("DOWN", "=> Lost quorum <=")
                };
                Some(Mail {
                    subject: format!("[{rid}] Virtualserver {} - {word}", vs.label),
                    body: body.to_owned(),
                })
            }
            _ => None,
        }
    }
}

/// Why a mail was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// The exchange took longer than allowed.
    #[error("SMTP server {server}: no answer within {timeout:?}")]
    Timeout {
        /// The relay.
        server: SocketAddr,
        /// The limit.
        timeout: Duration,
    },
    /// Connecting, reading or writing failed.
    #[error("SMTP server {server}: {source}")]
    Io {
        /// The relay.
        server: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The server answered a command with another code than the one expected.
    #[error("SMTP server {server}: {command} answered {code} (expected {expected})")]
    Refused {
        /// The relay.
        server: SocketAddr,
        /// The command (or `greeting`).
        command: &'static str,
        /// The reply code.
        code: u16,
        /// The code wanted.
        expected: u16,
    },
    /// A reply that is not SMTP.
    #[error("SMTP server {server}: bad reply to {command}: {detail}")]
    Protocol {
        /// The relay.
        server: SocketAddr,
        /// The command.
        command: &'static str,
        /// What was wrong.
        detail: String,
    },
}

/// The RFC 5322 date of `t` in UTC (`Sun, 06 Dec 2026 09:44:08 +0000`).
pub fn rfc5322_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The message text sent after `DATA`: keepalived's headers, the body, dot-stuffed (RFC 5321
/// §4.5.2), ending with the lone dot.
pub fn message(s: &MailSettings, m: &Mail, date: SystemTime) -> String {
    let mut out = format!(
        "Date: {}\r\nFrom: {}\r\nSubject: {}\r\nX-Mailer: ha-director\r\nTo: {}\r\n\r\n",
        rfc5322_date(date),
        s.from,
        m.subject,
        s.to.join(", ")
    );
    for line in m.body.lines() {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(".\r\n");
    out
}

/// Delivers `m` through the relay of `s`, all within `s.timeout`.
pub async fn send(s: &MailSettings, m: &Mail) -> Result<(), AlertError> {
    let server = s.server;
    match tokio::time::timeout(s.timeout, exchange(s, m)).await {
        Ok(r) => r,
        Err(_) => Err(AlertError::Timeout {
            server,
            timeout: s.timeout,
        }),
    }
}

async fn exchange(s: &MailSettings, m: &Mail) -> Result<(), AlertError> {
    let server = s.server;
    let io = |source| AlertError::Io { server, source };
    let stream = TcpStream::connect(server).await.map_err(io)?;
    let mut conn = BufReader::new(stream);
    expect(&mut conn, server, "greeting", 220).await?;
    let mut step = async |line: String, command: &'static str, want: u16| {
        conn.get_mut()
            .write_all(line.as_bytes())
            .await
            .map_err(io)?;
        expect(&mut conn, server, command, want).await
    };
    step(format!("HELO {}\r\n", s.helo_name), "HELO", 250).await?;
    step(format!("MAIL FROM:<{}>\r\n", s.from), "MAIL FROM", 250).await?;
    for to in &s.to {
        step(format!("RCPT TO:<{to}>\r\n"), "RCPT TO", 250).await?;
    }
    step("DATA\r\n".to_owned(), "DATA", 354).await?;
    step(message(s, m, SystemTime::now()), "message", 250).await?;
    step("QUIT\r\n".to_owned(), "QUIT", 221).await
}

/// Reads one reply (all its lines) and checks its code.
async fn expect(
    conn: &mut BufReader<TcpStream>,
    server: SocketAddr,
    command: &'static str,
    want: u16,
) -> Result<(), AlertError> {
    const MAX_LINE: u64 = 1024;
    let mut line = Vec::new();
    for _ in 0..64 {
        line.clear();
        let n = (&mut *conn)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|source| AlertError::Io { server, source })?;
        if n == 0 {
            return Err(AlertError::Protocol {
                server,
                command,
                detail: "the connection closed".into(),
            });
        }
        match ha_healthcheck::wire::smtp_reply_line(&line) {
            Ok(l) if l.more => continue,
            // 251: "user not local; will forward", a success for RCPT TO.
            Ok(l) if l.code == want || (want == 250 && l.code == 251) => return Ok(()),
            Ok(l) => {
                return Err(AlertError::Refused {
                    server,
                    command,
                    code: l.code,
                    expected: want,
                });
            }
            Err(e) => {
                return Err(AlertError::Protocol {
                    server,
                    command,
                    detail: e.to_string(),
                });
            }
        }
    }
    Err(AlertError::Protocol {
        server,
        command,
        detail: "a reply of more than 64 lines".into(),
    })
}

#[cfg(test)]
mod tests {
    use ha_failover::core::{GroupId, InstanceId, VirtualServerId};

    use super::*;

    fn plan(no_email_faults: bool) -> AlertPlan {
        AlertPlan {
            mail: MailSettings {
                server: "127.0.0.1:25".parse().unwrap(),
                helo_name: "lb1".into(),
                from: "lb1@example.org".into(),
                to: vec!["ops@example.org".into(), "oncall@example.org".into()],
                timeout: Duration::from_secs(5),
            },
            router_id: "LB1".into(),
            no_email_faults,
            repeat_down: None,
            instances: vec![("VI_1".into(), true), ("VI_2".into(), false)],
            groups: vec![("VG".into(), true)],
            virtual_servers: vec![VirtualServerAlerts {
                label: "[10.0.0.1]:tcp:80".into(),
                enabled: false,
                real_servers: vec![("[10.0.0.2]:tcp:80".into(), true)],
            }],
        }
    }

    fn transition(i: u32, to: State) -> DirectorEvent {
        DirectorEvent::Transition {
            instance: InstanceId(i),
            from: State::Backup,
            to,
            cause: ha_failover::core::Cause::Router(
                ha_failover::vrrp::router::TransitionReason::Startup,
            ),
            priority: ha_failover::vrrp::Priority(100),
        }
    }

    #[test]
    fn keepalived_subjects_and_bodies_once_per_state() {
        let mut a = Alerter::new(plan(false));
        let m = a.on_event(&transition(0, State::Master)).unwrap();
        assert_eq!(
            m.subject,
            "[LB1] VRRP Instance VI_1 - Entering MASTER state"
        );
        assert_eq!(m.body, "=> VRRP Instance is now owning VRRP VIPs <=");
        assert_eq!(
            a.on_event(&transition(0, State::Master)),
            None,
            "once per state"
        );
        assert_eq!(
            a.on_event(&transition(0, State::Fault)).unwrap().subject,
            "[LB1] VRRP Instance VI_1 - Entering FAULT state"
        );
        assert_eq!(
            a.on_event(&transition(1, State::Master)),
            None,
            "VI_2 does not mail"
        );
        let g = a
            .on_event(&DirectorEvent::GroupTransition {
                group: GroupId(0),
                state: NotifyState::Backup,
            })
            .unwrap();
        assert_eq!(g.subject, "[LB1] VRRP Group VG - Entering BACKUP state");
        let rs = a
            .on_event(&DirectorEvent::RealServerChanged {
                server: VirtualServerId(0),
                index: 0,
                alive: false,
            })
            .unwrap();
        assert_eq!(
            rs.subject,
            "[LB1] Realserver [10.0.0.2]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - DOWN"
        );
        assert_eq!(
            a.on_event(&DirectorEvent::PoolQuorum {
                server: VirtualServerId(0),
                up: false
            }),
            None,
            "virtual servers do not mail by default"
        );
        let mut quiet = Alerter::new(plan(true));
        assert_eq!(
            quiet.on_event(&transition(0, State::Fault)),
            None,
            "no_email_faults"
        );
    }

    #[test]
    fn emailalertfreq_repeats_while_a_real_server_stays_down() {
        let down = |alive| DirectorEvent::RealServerChanged {
            server: VirtualServerId(0),
            index: 0,
            alive,
        };
        let t0 = std::time::Instant::now();
        let mut once = Alerter::new(plan(false));
        assert!(once.on_event(&down(false)).is_some());
        assert!(
            once.due_repeats(t0).is_empty(),
            "no repeat_down: no reminder"
        );
        assert!(once.due_repeats(t0 + Duration::from_secs(3600)).is_empty());

        let mut p = plan(false);
        p.repeat_down = Some(Duration::from_secs(60));
        let mut a = Alerter::new(p);
        assert!(a.on_event(&down(false)).is_some(), "the change itself");
        assert!(a.due_repeats(t0).is_empty(), "the period starts");
        assert!(a.due_repeats(t0 + Duration::from_secs(59)).is_empty());
        let r = a.due_repeats(t0 + Duration::from_secs(60));
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].subject,
            "[LB1] Realserver [10.0.0.2]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - still DOWN"
        );
        assert!(a.due_repeats(t0 + Duration::from_secs(61)).is_empty());
        assert_eq!(a.due_repeats(t0 + Duration::from_secs(120)).len(), 1);
        assert!(a.on_event(&down(true)).is_some(), "back up");
        assert!(
            a.due_repeats(t0 + Duration::from_secs(1000)).is_empty(),
            "no reminder once up"
        );
    }

    #[test]
    fn message_headers_dot_stuffing_and_dates() {
        let p = plan(false);
        let m = Mail {
            subject: "[LB1] x".into(),
            body: "first\n.second".into(),
        };
        let text = message(&p.mail, &m, UNIX_EPOCH + Duration::from_secs(1_796_550_248));
        assert!(text.starts_with("Date: Sun, 06 Dec 2026 09:44:08 +0000\r\nFrom: lb1@example.org\r\nSubject: [LB1] x\r\n"), "{text}");
        assert!(
            text.contains(
                "To: ops@example.org, oncall@example.org\r\n\r\nfirst\r\n..second\r\n.\r\n"
            ),
            "{text}"
        );
        assert_eq!(rfc5322_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "Tue, 29 Feb 2000 00:00:00 +0000"
        );
    }
}
