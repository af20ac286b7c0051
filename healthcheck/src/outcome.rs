//! The result of one probe attempt, and why it failed.

use std::fmt;

/// The result of one probe attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The target answered as expected.
    Up {
        /// A weight reported by the check (keepalived `misc_dynamic`: exit code - 2), or
        /// `None` to keep the configured weight.
        weight: Option<u32>,
    },
    /// The target failed the check.
    Down(Failure),
}

impl Outcome {
    /// Up without a weight.
    pub const UP: Outcome = Outcome::Up { weight: None };

    /// True for [`Outcome::Up`].
    #[must_use]
    pub fn is_up(&self) -> bool {
        matches!(self, Outcome::Up { .. })
    }
}

/// Why a probe failed. Small and cheap to move; formatted for logs and events.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The connection was refused (TCP RST, or ICMP port unreachable on UDP).
    Refused,
    /// The attempt did not complete within its timeout (connect, TLS, request and body
    /// together, or a script that had to be killed).
    Timeout,
    /// The scheduler never got an outcome for a dispatched probe (a lost task).
    Lost,
    /// No route or host unreachable.
    Unreachable,
    /// The connection was reset or closed before the exchange finished.
    Reset,
    /// Another socket error.
    Io(std::io::ErrorKind),
    /// HTTP status not in the accepted set.
    Status(u16),
    /// The body did not match the regular expression (or the expected receive string).
    BodyMismatch,
    /// The body's MD5 digest differs from the expected one.
    DigestMismatch,
    /// The TLS handshake failed (bad certificate, wrong name, not TLS, ...).
    Tls(String),
    /// A malformed or unexpected protocol reply (HTTP parse error, short DNS answer, ...).
    Protocol(String),
    /// DNS response code other than the expected one (RFC 1035 §4.1.1; 3 = NXDOMAIN).
    DnsRcode(u16),
    /// The DNS answer section lacks the expected record.
    DnsAnswerMissing,
    /// SMTP reply code other than the expected one (RFC 5321 §4.2).
    SmtpCode(u16),
    /// A UDP reply did not match the expected bytes.
    ReplyMismatch,
    /// No reply within the timeout where one was required.
    NoReply,
    /// The script exited with this code (1, or any non-zero code without `dynamic`).
    Exit(i32),
    /// The script was killed by this signal.
    Signal(i32),
    /// The probe could not start (bad configuration, spawn failure, missing privilege).
    Setup(String),
    /// A `FILE_CHECK`'s file holds a value that puts the server down.
    FileValue(i64),
    /// A maintenance file names the server (ldirectord `maintenancedir`).
    Maintenance(String),
    /// This build of ha-healthcheck cannot run the check: its cargo feature is off (see
    /// [`crate::Check::missing_feature`]).
    FeatureDisabled {
        /// The kind of check (`HTTP`, `HTTPS`, `DNS`, ...).
        check: &'static str,
        /// The feature that provides its probe (`tcp`, `http`, `tls`, `dns`).
        feature: &'static str,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused => f.write_str("refused"),
            Failure::Timeout => f.write_str("timeout"),
            Failure::Lost => f.write_str("probe lost (no outcome reported)"),
            Failure::Unreachable => f.write_str("unreachable"),
            Failure::Reset => f.write_str("connection reset"),
            Failure::Io(k) => write!(f, "io error: {k}"),
            Failure::Status(c) => write!(f, "status {c}"),
            Failure::BodyMismatch => f.write_str("body mismatch"),
            Failure::DigestMismatch => f.write_str("digest mismatch"),
            Failure::Tls(e) => write!(f, "tls: {e}"),
            Failure::Protocol(e) => write!(f, "protocol: {e}"),
            Failure::DnsRcode(c) => write!(
                f,
                "dns rcode {c}{}",
                if *c == 3 { " (NXDOMAIN)" } else { "" }
            ),
            Failure::DnsAnswerMissing => f.write_str("dns answer missing"),
            Failure::SmtpCode(c) => write!(f, "smtp code {c}"),
            Failure::ReplyMismatch => f.write_str("reply mismatch"),
            Failure::NoReply => f.write_str("no reply"),
            Failure::Exit(c) => write!(f, "exit code {c}"),
            Failure::Signal(s) => write!(f, "killed by signal {s}"),
            Failure::Setup(e) => write!(f, "setup: {e}"),
            Failure::FileValue(v) => write!(f, "file value {v}"),
            Failure::Maintenance(p) => write!(f, "in maintenance ({p} exists)"),
            Failure::FeatureDisabled { check, feature } => write!(
                f,
                "{check} check not built: ha-healthcheck feature `{feature}` is off"
            ),
        }
    }
}

impl Failure {
    /// Classify a socket error.
    #[must_use]
    pub fn from_io(e: &std::io::Error) -> Failure {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused => Failure::Refused,
            K::TimedOut => Failure::Timeout,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                Failure::Reset
            }
            K::HostUnreachable | K::NetworkUnreachable => Failure::Unreachable,
            k => match e.raw_os_error() {
                // Linux errno values: ECONNREFUSED, EHOSTUNREACH, ENETUNREACH.
                Some(111) => Failure::Refused,
                Some(113 | 101) => Failure::Unreachable,
                _ => Failure::Io(k),
            },
        }
    }
}

/// Map a keepalived `misc_dynamic` exit code to an outcome: 0 up (weight unchanged),
/// 1 down, 2..=255 up with weight `code - 2`. Without `dynamic`, any non-zero is down.
#[must_use]
pub fn outcome_from_exit(code: i32, dynamic: bool) -> Outcome {
    match code {
        0 => Outcome::UP,
        2..=255 if dynamic => Outcome::Up {
            weight: Some((code - 2) as u32),
        },
        c => Outcome::Down(Failure::Exit(c)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(outcome_from_exit(0, true), Outcome::UP);
        assert_eq!(outcome_from_exit(1, true), Outcome::Down(Failure::Exit(1)));
        assert_eq!(outcome_from_exit(2, true), Outcome::Up { weight: Some(0) });
        assert_eq!(
            outcome_from_exit(255, true),
            Outcome::Up { weight: Some(253) }
        );
        assert_eq!(outcome_from_exit(7, false), Outcome::Down(Failure::Exit(7)));
        assert_eq!(
            outcome_from_exit(-1, true),
            Outcome::Down(Failure::Exit(-1))
        );
    }

    #[test]
    fn display() {
        assert_eq!(Failure::Status(503).to_string(), "status 503");
        assert_eq!(Failure::DnsRcode(3).to_string(), "dns rcode 3 (NXDOMAIN)");
    }
}
