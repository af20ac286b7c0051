//! What to check: plain data describing one probe, independent of any IO runtime.
//!
//! These types carry no behaviour; the probes behind the probe features
//! (the `probe` module) execute them. They map onto keepalived's `TCP_CHECK`, `HTTP_GET`,
//! `SSL_GET`, `DNS_CHECK`, `SMTP_CHECK`, `UDP_CHECK`, `PING_CHECK`, `MISC_CHECK` and
//! ldirectord's `checktype`/`service`/`request`/`receive`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// One check: what to probe and what counts as success.
///
/// The two large checks are boxed, so that a check costs what a TCP check needs (168 bytes)
/// rather than what an HTTP one does (344): a director holds one per real server. Build them
/// with `Check::from(HttpCheck { .. })` (or `UdpCheck`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Check {
    /// TCP connect (keepalived `TCP_CHECK`, ldirectord `checktype=connect`), optionally
    /// sending a string and expecting one back (ldirectord `service=simpletcp`).
    Tcp(TcpCheck),
    /// HTTP or HTTPS `GET` (keepalived `HTTP_GET`/`SSL_GET`, ldirectord `service=http(s)`).
    Http(Box<HttpCheck>),
    /// A DNS query over UDP (keepalived `DNS_CHECK`, ldirectord `service=dns`).
    Dns(DnsCheck),
    /// SMTP banner and `HELO`/`EHLO` (keepalived `SMTP_CHECK`).
    Smtp(SmtpCheck),
    /// A UDP datagram and an optional expected reply (keepalived `UDP_CHECK`).
    Udp(Box<UdpCheck>),
    /// ICMP or ICMPv6 echo (keepalived `PING_CHECK`, ldirectord `checktype=ping`).
    Ping(PingCheck),
    /// An external program (keepalived `MISC_CHECK`, ldirectord `checktype=external`).
    Script(ScriptCheck),
    /// The integer in a file (keepalived `FILE_CHECK` on a `track_file`): a maintenance switch
    /// or a weight an operator writes.
    File(FileCheck),
    /// Down while a file of one of the given names exists in a directory (ldirectord
    /// `maintenancedir`).
    Maintenance(MaintenanceCheck),
}

impl From<HttpCheck> for Check {
    fn from(c: HttpCheck) -> Self {
        Check::Http(Box::new(c))
    }
}

impl From<UdpCheck> for Check {
    fn from(c: UdpCheck) -> Self {
        Check::Udp(Box::new(c))
    }
}

/// ldirectord's `maintenancedir`: the server is down while any of `names` exists in `dir`
/// (whatever the file holds), up otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceCheck {
    /// The directory.
    pub dir: PathBuf,
    /// The file names that put the server in maintenance (ldirectord: `IP:PORT`, `IP`, and
    /// the host names of the address with and without the port).
    pub names: Vec<String>,
}

impl MaintenanceCheck {
    /// The server is in maintenance while any of `names` exists in `dir`.
    pub fn new(dir: impl Into<PathBuf>, names: Vec<String>) -> Self {
        Self {
            dir: dir.into(),
            names,
        }
    }
}

/// keepalived's `FILE_CHECK`: the file holds an integer, read as C's `strtol` reads it
/// ([`track_value`]); a missing file reads as 0.
///
/// With `weight` 0, a non-zero value is down (with `reverse`, a zero value is). Otherwise the
/// real server's weight becomes `base_weight + value * weight` (negated with `reverse`),
/// at least 0 and at most 65535, and it is down only when that product reaches IPVS's fault
/// value (-65536 or below), as keepalived does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    /// The file.
    pub path: PathBuf,
    /// The multiplier of the file's value.
    pub weight: i32,
    /// keepalived `reverse`.
    pub reverse: bool,
    /// The real server's configured weight, which the product moves.
    pub base_weight: u32,
}

impl FileCheck {
    /// A file whose non-zero value means down (weight 0, not reversed), for a real server of
    /// `base_weight`; [`FileCheck::with_weight`] makes the value move the weight instead.
    pub fn new(path: impl Into<PathBuf>, base_weight: u32) -> Self {
        Self {
            path: path.into(),
            weight: 0,
            reverse: false,
            base_weight,
        }
    }

    /// The multiplier of the file's value, and keepalived's `reverse`.
    #[must_use]
    pub fn with_weight(mut self, weight: i32, reverse: bool) -> Self {
        self.weight = weight;
        self.reverse = reverse;
        self
    }
}

/// The outcome of a [`FileCheck`] whose file holds `value` (sans-io: the probe reads the file).
#[must_use]
pub fn file_check_outcome(c: &FileCheck, value: i64) -> crate::Outcome {
    /// IPVS's fault weight (keepalived `IPVS_WEIGHT_FAULT`): at or below it, the server is down.
    const FAULT: i64 = -65_536;
    if c.weight == 0 {
        return if (value != 0) != c.reverse {
            crate::Outcome::Down(crate::Failure::FileValue(value))
        } else {
            crate::Outcome::UP
        };
    }
    let sign = if c.reverse { -1 } else { 1 };
    let status = value
        .saturating_mul(i64::from(c.weight))
        .saturating_mul(sign);
    if status <= FAULT {
        return crate::Outcome::Down(crate::Failure::FileValue(value));
    }
    let w = (i64::from(c.base_weight) + status).clamp(0, 65_535);
    crate::Outcome::Up {
        weight: Some(u32::try_from(w).unwrap_or(0)),
    }
}

/// A track file's value from its text, as keepalived reads it (C's `strtol` with base 0):
/// leading white space, a sign, then `0x` hex, `0` octal or decimal digits for as long as
/// they go; no digits is 0. Clamped to the 32-bit range (keepalived ignores a value outside
/// it). Never panics.
#[must_use]
pub fn track_value(text: &str) -> i64 {
    let s = text.trim_start();
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, h)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let mut v: i64 = 0;
    for c in digits.chars() {
        let Some(d) = c.to_digit(radix) else { break };
        v = v
            .saturating_mul(i64::from(radix))
            .saturating_add(i64::from(d));
    }
    let v = if neg { -v } else { v };
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX))
}

/// Socket options shared by the network probes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// Local address to bind before connecting (keepalived `bind_to`).
    pub bind_addr: Option<IpAddr>,
    /// Local port to bind (keepalived `bind_port`); needs `bind_addr` or binds the wildcard.
    pub bind_port: Option<u16>,
    /// Interface to bind to with `SO_BINDTODEVICE` (keepalived `bind_if`); needs
    /// `CAP_NET_RAW`.
    pub interface: Option<String>,
    /// Firewall mark set with `SO_MARK` (keepalived `fwmark`); needs `CAP_NET_ADMIN`.
    pub fwmark: Option<u32>,
    /// How the TCP based probes (TCP, HTTP(S), SMTP) close their connection; ignored by the
    /// others. Default: [`TcpClose::Reset`].
    pub close: TcpClose,
}

/// How a TCP based probe closes its connection once the check is decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TcpClose {
    /// `SO_LINGER` with a zero timeout: `close(2)` sends an RST and frees the connection at
    /// once (an ABORT, RFC 9293 §3.10.5). One segment instead of the
    /// FIN/ACK exchange, and no `TIME_WAIT` entry on either side, so thousands of checks a
    /// second do not fill the port space. HAProxy closes its health checks the same way. A
    /// server may log the reset.
    #[default]
    Reset,
    /// A normal close: FIN handshake, `TIME_WAIT` on whichever side closed first.
    Graceful,
    /// Never open the connection: a plain TCP check (no `send`/`expect`) sends a SYN from
    /// a raw socket shared by all checks, and a SYN-ACK means up, an RST refused (F5's
    /// `tcp_half_open`, `nmap -sS`); this host's kernel resets the SYN-ACK itself. No
    /// `socket(2)`, `connect(2)` or `close(2)` per check, and the server's application
    /// never sees a connection. Needs `CAP_NET_RAW`; IPv4 only; `bind_addr`, `bind_port`,
    /// `interface` and `fwmark` are not supported. Other probes reject it
    /// ([`crate::Failure::Setup`]). See the `probe::halfopen` module.
    HalfOpen,
}

/// TCP connect check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpCheck {
    /// Address to connect to.
    pub addr: SocketAddr,
    /// Socket options.
    pub socket: SocketOptions,
    /// Bytes to send once connected (ldirectord `request` with `service=simpletcp`).
    pub send: Option<Vec<u8>>,
    /// Bytes that must appear in what the server sends back; read until found, the peer
    /// closes, or the body cap is reached.
    pub expect: Option<Vec<u8>>,
    /// A regular expression (the `regex` crate's syntax) that one line of the reply must
    /// match (ldirectord `simpletcp`'s `receive`; an empty pattern matches any line): lines
    /// are read until one matches, the peer closes, or the body cap is reached.
    pub expect_line_regex: Option<String>,
    /// Shut the write side down after `send` (ldirectord's `simpletcp` does), so a server
    /// that reads to the end of its input answers.
    pub shutdown_write: bool,
}

impl TcpCheck {
    /// A plain connect check of `addr`.
    #[must_use]
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            socket: SocketOptions::default(),
            send: None,
            expect: None,
            expect_line_regex: None,
            shutdown_write: false,
        }
    }
}

/// An inclusive range of HTTP status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    /// Lowest accepted code.
    pub min: u16,
    /// Highest accepted code.
    pub max: u16,
}

impl StatusRange {
    /// True if `code` is inside the range.
    #[must_use]
    pub fn contains(&self, code: u16) -> bool {
        (self.min..=self.max).contains(&code)
    }
}

/// TLS settings of an HTTPS check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// Server name sent in SNI and checked against the certificate. `None` uses the URL's
    /// host (or the `Host` header), falling back to the IP address (no SNI for an IP).
    pub sni: Option<String>,
    /// Send the server name in the handshake (SNI, RFC 6066 §3). On by default; keepalived's
    /// `SSL_GET` sends none unless `enable_sni` is set. The name is still what a verifying
    /// check matches the certificate against.
    pub send_sni: bool,
    /// How to verify the server certificate.
    pub verify: TlsVerify,
    /// A client certificate presented when the server asks for one (keepalived's top-level
    /// `SSL { certificate; key }`).
    pub client_cert: Option<ClientCert>,
}

impl TlsOptions {
    /// TLS with `verify`, SNI from the host, no client certificate.
    #[must_use]
    pub fn new(verify: TlsVerify) -> Self {
        Self {
            sni: None,
            send_sni: true,
            verify,
            client_cert: None,
        }
    }
}

/// A client certificate and its private key, both PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The certificate chain, leaf first (PEM).
    pub cert_chain: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1; not encrypted).
    pub key: PathBuf,
}

/// The request line and connection header of an HTTP check (keepalived `http_protocol`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpProtocol {
    /// `HTTP/1.0` without a `Connection` header (keepalived's default, `1.0`).
    Http10,
    /// `HTTP/1.0` with `Connection: close` (keepalived `1.0C`).
    Http10Close,
    /// `HTTP/1.1` with `Connection: close` (keepalived `1.1`); this crate's default.
    #[default]
    Http11,
}

/// The method of an HTTP check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpMethod {
    /// `GET`.
    #[default]
    Get,
    /// `HEAD` (RFC 9110 §9.3.2): the status line and headers only.
    Head,
}

/// Server certificate verification policy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsVerify {
    /// Verify against the system trust store (`/etc/ssl/certs/ca-certificates.crt`).
    System,
    /// Verify against the certificates of a PEM file (a private CA).
    CaFile(PathBuf),
    /// Accept ANY certificate, expired, self-signed or for another name, like keepalived's
    /// `SSL_GET` does by default. The TLS handshake still runs (so a server that does not
    /// speak TLS fails) but it gives no authenticity at all: use only where the check is about
    /// liveness and the network path is trusted.
    Off,
}

/// HTTP(S) GET check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    /// Address to connect to.
    pub addr: SocketAddr,
    /// TLS on top of TCP (`https`), or plain HTTP when `None`.
    pub tls: Option<TlsOptions>,
    /// Request path and query (keepalived `url { path }`, ldirectord `request`).
    pub path: String,
    /// The request method (ldirectord `httpmethod`); a `HEAD` reply has no body to match.
    pub method: HttpMethod,
    /// `Host` header (keepalived `virtualhost`); defaults to the address.
    pub host: Option<String>,
    /// Accepted status codes; empty means any 2xx (keepalived's default `status_code`).
    pub status: Vec<StatusRange>,
    /// A regular expression the body must match (keepalived `regex`, ldirectord `receive`),
    /// in the `regex` crate's syntax; searched anywhere in the body unless anchored.
    pub body_regex: Option<String>,
    /// Invert [`body_regex`](Self::body_regex): the check fails when the body matches
    /// (keepalived `regex_no_match`).
    pub body_regex_no_match: bool,
    /// The earliest body offset a match may start at (keepalived `regex_min_offset`).
    pub body_regex_min_offset: usize,
    /// The latest body offset a match may start at (keepalived `regex_max_offset`); `None`:
    /// anywhere.
    pub body_regex_max_offset: Option<usize>,
    /// Request line version and `Connection` header.
    pub protocol: HttpProtocol,
    /// The MD5 digest the body must have (keepalived `digest`, as printed by `genhash`).
    pub digest: Option<[u8; 16]>,
    /// Read at most this many body bytes; the regex and digest see only them.
    pub max_body: usize,
    /// Socket options.
    pub socket: SocketOptions,
}

impl HttpCheck {
    /// A plain-HTTP check of `path` on `addr` accepting any 2xx, with a 64 KiB body cap.
    #[must_use]
    pub fn new(addr: SocketAddr, path: impl Into<String>) -> Self {
        Self {
            addr,
            tls: None,
            path: path.into(),
            method: HttpMethod::Get,
            host: None,
            status: Vec::new(),
            body_regex: None,
            body_regex_no_match: false,
            body_regex_min_offset: 0,
            body_regex_max_offset: None,
            protocol: HttpProtocol::default(),
            digest: None,
            max_body: 64 * 1024,
            socket: SocketOptions::default(),
        }
    }

    /// True if the configured status set accepts `code`.
    #[must_use]
    pub fn status_ok(&self, code: u16) -> bool {
        if self.status.is_empty() {
            (200..300).contains(&code)
        } else {
            self.status.iter().any(|r| r.contains(code))
        }
    }
}

/// DNS query types a check can ask for (RFC 1035 §3.2.2, RFC 3596).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DnsType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Name server.
    Ns,
    /// Canonical name.
    Cname,
    /// Start of authority.
    Soa,
    /// Mail exchange.
    Mx,
    /// Text.
    Txt,
    /// Pointer.
    Ptr,
    /// Service locator.
    Srv,
}

impl std::str::FromStr for DnsType {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "A" => Self::A,
            "AAAA" => Self::Aaaa,
            "NS" => Self::Ns,
            "CNAME" => Self::Cname,
            "SOA" => Self::Soa,
            "MX" => Self::Mx,
            "TXT" => Self::Txt,
            "PTR" => Self::Ptr,
            "SRV" => Self::Srv,
            _ => return Err(crate::Error::UnknownDnsType(s.to_owned())),
        })
    }
}

/// DNS check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsCheck {
    /// The server to ask.
    pub server: SocketAddr,
    /// The name to ask for.
    pub name: String,
    /// The query type.
    pub qtype: DnsType,
    /// The response code that means success (RFC 1035 §4.1.1; 0 = NOERROR, 3 = NXDOMAIN).
    pub expect_rcode: u8,
    /// An answer that must be present, compared with the record data as text (an address
    /// for A/AAAA, a name for CNAME/NS/PTR, ...).
    pub expect_answer: Option<String>,
    /// A regular expression that an A record's address or a PTR record's name (as text,
    /// without the final dot) of the answer must match (ldirectord `service = dns`'s
    /// `receive`).
    pub expect_answer_regex: Option<String>,
    /// Socket options.
    pub socket: SocketOptions,
}

impl DnsCheck {
    /// Asks `server` for `name`'s records of type `qtype`; success is NOERROR (rcode 0),
    /// whatever the answers.
    pub fn new(server: SocketAddr, name: impl Into<String>, qtype: DnsType) -> Self {
        Self {
            server,
            name: name.into(),
            qtype,
            expect_rcode: 0,
            expect_answer: None,
            expect_answer_regex: None,
            socket: SocketOptions::default(),
        }
    }

    /// Success needs this answer among the records (compared as text).
    #[must_use]
    pub fn with_expect_answer(mut self, answer: impl Into<String>) -> Self {
        self.expect_answer = Some(answer.into());
        self
    }

    /// Success needs an A address or PTR name matching this regular expression.
    #[must_use]
    pub fn with_expect_answer_regex(mut self, regex: impl Into<String>) -> Self {
        self.expect_answer_regex = Some(regex.into());
        self
    }

    /// Success is this response code instead of NOERROR.
    #[must_use]
    pub fn with_expect_rcode(mut self, rcode: u8) -> Self {
        self.expect_rcode = rcode;
        self
    }

    /// Socket options.
    #[must_use]
    pub fn with_socket(mut self, socket: SocketOptions) -> Self {
        self.socket = socket;
        self
    }
}

/// SMTP check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpCheck {
    /// Address of the mail server.
    pub addr: SocketAddr,
    /// Name sent in `HELO`/`EHLO` (keepalived `helo_name`).
    pub helo_name: String,
    /// Send `EHLO` rather than `HELO` (RFC 5321 §4.1.1.1).
    pub ehlo: bool,
    /// Socket options.
    pub socket: SocketOptions,
}

impl SmtpCheck {
    /// Greets `addr` with `HELO helo_name` (keepalived's SMTP_CHECK);
    /// [`SmtpCheck::with_ehlo`] sends `EHLO`.
    pub fn new(addr: SocketAddr, helo_name: impl Into<String>) -> Self {
        Self {
            addr,
            helo_name: helo_name.into(),
            ehlo: false,
            socket: SocketOptions::default(),
        }
    }

    /// Send `EHLO` rather than `HELO`.
    #[must_use]
    pub fn with_ehlo(mut self, ehlo: bool) -> Self {
        self.ehlo = ehlo;
        self
    }

    /// Socket options.
    #[must_use]
    pub fn with_socket(mut self, socket: SocketOptions) -> Self {
        self.socket = socket;
        self
    }
}

/// UDP check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpCheck {
    /// Address to send to.
    pub addr: SocketAddr,
    /// The datagram to send (keepalived `payload`).
    pub payload: Vec<u8>,
    /// Require a reply (keepalived `require_reply`). Without it the check succeeds unless
    /// an ICMP error (port unreachable) comes back before the timeout.
    pub require_reply: bool,
    /// The reply must start with these bytes, when given (implies `require_reply`).
    pub expect: Option<Vec<u8>>,
    /// keepalived's reply rules (`require_reply HEX_STR`, `min_reply_length`,
    /// `max_reply_length`), when given (implies `require_reply`).
    pub reply_match: Option<UdpReplyMatch>,
    /// Socket options.
    pub socket: SocketOptions,
}

impl UdpCheck {
    /// A check that sends `payload` to `addr` and succeeds unless an ICMP error comes back
    /// (no reply required, no reply rules, default socket options).
    #[must_use]
    pub fn new(addr: SocketAddr, payload: Vec<u8>) -> Self {
        Self {
            addr,
            payload,
            require_reply: false,
            expect: None,
            reply_match: None,
            socket: SocketOptions::default(),
        }
    }
}

/// What a UDP reply must look like, by keepalived 2.2.7's rules (`check_udp_reply` in
/// `check_udp.c`): the reply's length must lie in `min_len..=max_len`, and its first
/// `min(reply length, data length)` bytes must equal `data` in every bit that `mask` does not
/// set. A reply shorter than `data` that agrees as far as it goes passes (bound it with
/// `min_len`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpReplyMatch {
    /// The expected bytes (keepalived `require_reply HEX_STR`).
    pub data: Vec<u8>,
    /// Bits to ignore, byte for byte with `data` (a nibble written `X` in the HEX_STR is
    /// `0x0f` here); shorter than `data` means the remaining bytes are compared in full.
    pub mask: Vec<u8>,
    /// Shortest reply accepted, in bytes (keepalived `min_reply_length`, default 0).
    pub min_len: usize,
    /// Longest reply accepted, in bytes (keepalived `max_reply_length`, default 255).
    pub max_len: usize,
}

impl UdpReplyMatch {
    /// Rules for `data` (and its wildcard `mask`) with keepalived's default lengths 0..=255.
    #[must_use]
    pub fn new(data: Vec<u8>, mask: Vec<u8>) -> Self {
        Self {
            data,
            mask,
            min_len: 0,
            max_len: 255,
        }
    }

    /// True if `reply` passes.
    #[must_use]
    pub fn matches(&self, reply: &[u8]) -> bool {
        if reply.len() < self.min_len || reply.len() > self.max_len {
            return false;
        }
        reply
            .iter()
            .zip(&self.data)
            .enumerate()
            .all(|(i, (got, want))| {
                let ignore = self.mask.get(i).copied().unwrap_or(0);
                (got ^ want) & !ignore == 0
            })
    }
}

/// Parses keepalived's `HEX_STR` (`UDP_CHECK` `payload` and `require_reply`): hex digits in
/// pairs, each whitespace-separated word read from its start, a lone last digit of a word is
/// a byte of its own (`"Ab12f 3 456"` is `AB 12 0F 03 45 06`). With `wildcards`, an `x` or
/// `X` digit matches any nibble: returns the bytes (wildcard nibbles 0) and the mask (wildcard
/// nibbles `0xf`, all zero without wildcards). `None` when empty or not hex.
#[must_use]
pub fn parse_keepalived_hex(text: &str, wildcards: bool) -> Option<(Vec<u8>, Vec<u8>)> {
    let nibble = |c: char| -> Option<(u8, u8)> {
        match c {
            'x' | 'X' if wildcards => Some((0, 0xf)),
            // A hex digit is < 16.
            _ => c.to_digit(16).map(|d| (d as u8, 0)),
        }
    };
    let mut data = Vec::new();
    let mut mask = Vec::new();
    for word in text.split_whitespace() {
        let digits: Vec<char> = word.chars().collect();
        for pair in digits.chunks(2) {
            let (mut v, mut m) = nibble(pair[0])?;
            if let Some(&low) = pair.get(1) {
                let (lv, lm) = nibble(low)?;
                v = v << 4 | lv;
                m = m << 4 | lm;
            }
            data.push(v);
            mask.push(m);
        }
    }
    (!data.is_empty()).then_some((data, mask))
}

/// ICMP echo check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingCheck {
    /// Address to ping (IPv4 or IPv6).
    pub addr: IpAddr,
    /// Socket options (`interface`, `fwmark`, `bind_addr`).
    pub socket: SocketOptions,
}

impl PingCheck {
    /// Pings `addr` with default socket options.
    pub fn new(addr: IpAddr) -> Self {
        Self {
            addr,
            socket: SocketOptions::default(),
        }
    }

    /// Socket options (`interface`, `fwmark`, `bind_addr`).
    #[must_use]
    pub fn with_socket(mut self, socket: SocketOptions) -> Self {
        self.socket = socket;
        self
    }
}

/// External program check (keepalived `MISC_CHECK`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptCheck {
    /// Program and arguments, run WITHOUT a shell (no word splitting, no expansion).
    /// With `shell`, `argv` is joined by spaces and handed to `/bin/sh -c`.
    pub argv: Vec<String>,
    /// Run through `/bin/sh -c` (keepalived's `misc_path` is a shell string).
    pub shell: bool,
    /// Exit codes 2..=255 mean up with weight `code - 2` (keepalived `misc_dynamic`);
    /// otherwise every non-zero code is down.
    pub dynamic: bool,
    /// Extra environment; the child starts from an EMPTY environment plus a minimal `PATH`,
    /// so the daemon's own variables (and secrets) never leak.
    pub env: Vec<(String, String)>,
}

impl ScriptCheck {
    /// A program check of `argv` (no shell, not dynamic, no extra environment).
    #[must_use]
    pub fn new<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Self {
        Self {
            argv: argv.into_iter().map(Into::into).collect(),
            shell: false,
            dynamic: false,
            env: Vec::new(),
        }
    }
}

/// Parse an MD5 digest written as 32 hex digits (keepalived `digest`, `genhash` output).
pub fn parse_md5_hex(hex: &str) -> Option<[u8; 16]> {
    let hex = hex.trim();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A director holds one check per real server: no variant may make every check as large as
    /// an HTTP one again (344 bytes before `Http` and `Udp` were boxed).
    #[test]
    fn a_check_is_no_larger_than_a_tcp_check_and_its_tag() {
        let tcp = size_of::<TcpCheck>();
        assert!(size_of::<HttpCheck>() > tcp, "HTTP is the large one");
        assert!(
            size_of::<Check>() <= tcp + 8,
            "Check is {} bytes, TcpCheck {tcp}",
            size_of::<Check>()
        );
    }

    #[test]
    fn digest_hex() {
        assert_eq!(
            parse_md5_hex("00112233445566778899aabbccddeeff").unwrap()[15],
            0xff
        );
        assert_eq!(
            parse_md5_hex("00112233445566778899AABBCCDDEEFF").unwrap()[10],
            0xaa
        );
        assert!(parse_md5_hex("0011").is_none());
        assert!(parse_md5_hex("zz112233445566778899aabbccddeeff").is_none());
        assert!(parse_md5_hex("é0112233445566778899aabbccddeef").is_none());
    }

    #[test]
    fn keepalived_hex() {
        // The example of keepalived.conf(5).
        let (data, mask) = parse_keepalived_hex("Ab12f 3 456 546443123", false).unwrap();
        assert_eq!(
            data,
            [
                0xab, 0x12, 0x0f, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03
            ]
        );
        assert!(mask.iter().all(|m| *m == 0));
        let (data, mask) = parse_keepalived_hex("1x X2 x", true).unwrap();
        assert_eq!(
            (data, mask),
            (vec![0x10, 0x02, 0x00], vec![0x0f, 0xf0, 0x0f])
        );
        assert!(
            parse_keepalived_hex("1x", false).is_none(),
            "x only with wildcards"
        );
        assert!(parse_keepalived_hex("12 g4", true).is_none());
        assert!(parse_keepalived_hex("  ", true).is_none());
    }

    #[test]
    fn udp_reply_rules() {
        let mut m = UdpReplyMatch::new(vec![0xab, 0x10], vec![0, 0x0f]);
        assert!(
            m.matches(&[0xab, 0x1f, 0x99]),
            "wildcard nibble and extra bytes"
        );
        assert!(!m.matches(&[0xab, 0x2f]), "fixed nibble differs");
        assert!(!m.matches(&[0xac]));
        assert!(
            m.matches(&[0xab]),
            "a shorter reply is compared as far as it goes"
        );
        m.min_len = 2;
        assert!(!m.matches(&[0xab]), "min_len");
        m.max_len = 2;
        assert!(!m.matches(&[0xab, 0x10, 0]), "max_len");
        assert!(m.matches(&[0xab, 0x10]));
        assert!(
            !UdpReplyMatch::new(vec![1], vec![]).matches(&[0; 256]),
            "default max 255"
        );
    }

    #[test]
    fn status_set() {
        let mut c = HttpCheck::new("127.0.0.1:80".parse().unwrap(), "/");
        assert!(c.status_ok(204) && !c.status_ok(301));
        c.status = vec!["301-302".parse().unwrap(), "200".parse().unwrap()];
        assert!(c.status_ok(302) && c.status_ok(200) && !c.status_ok(204));
        assert!("302-301".parse::<StatusRange>().is_err());
        assert!("abc".parse::<StatusRange>().is_err());
        assert_eq!("aaaa".parse::<DnsType>(), Ok(DnsType::Aaaa));
    }
}

#[cfg(test)]
mod constructor_tests {
    use super::*;

    #[test]
    fn constructors_fill_the_documented_defaults() {
        let server: SocketAddr = "192.0.2.53:53".parse().unwrap();
        let d = DnsCheck::new(server, "www.example.org", DnsType::A)
            .with_expect_answer("192.0.2.10")
            .with_expect_rcode(3);
        assert_eq!(
            d,
            DnsCheck {
                server,
                name: "www.example.org".into(),
                qtype: DnsType::A,
                expect_rcode: 3,
                expect_answer: Some("192.0.2.10".into()),
                expect_answer_regex: None,
                socket: SocketOptions::default(),
            }
        );
        let s = SmtpCheck::new("192.0.2.25:25".parse().unwrap(), "lb1").with_ehlo(true);
        assert!(s.ehlo && s.helo_name == "lb1");
        let f = FileCheck::new("/run/w", 10).with_weight(-2, true);
        assert_eq!((f.weight, f.reverse, f.base_weight), (-2, true, 10));
        assert_eq!(FileCheck::new("/run/w", 1).weight, 0);
        let p = PingCheck::new("192.0.2.1".parse().unwrap());
        assert_eq!(p.socket, SocketOptions::default());
        let m = MaintenanceCheck::new("/etc/maint", vec!["192.0.2.1".into()]);
        assert_eq!(m.dir, PathBuf::from("/etc/maint"));
    }
}
