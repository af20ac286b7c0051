//! `check`: run one health check once against a target and print the outcome.
//!
//! ```text
//! check tcp 10.0.0.1:80
//! check http http://10.0.0.1/health --status 200 --regex ok
//! check http https://10.0.0.1/ --insecure --sni www.example.org
//! check dns 10.0.0.53 --name example.org --type A
//! check smtp 10.0.0.25:25 --helo director
//! check udp 10.0.0.1:514 --payload hello --require-reply
//! check ping 10.0.0.1
//! check script --dynamic -- /usr/local/bin/weight.sh 10.0.0.1
//! ```
//!
//! Exit status: 0 when up, 1 when down, 2 on a usage error.
#![deny(unsafe_code)]

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use ha_healthcheck::{
    Check, DnsCheck, DnsType, HttpCheck, Outcome, PingCheck, ScriptCheck, SmtpCheck, SocketOptions,
    StatusRange, TcpCheck, TcpClose, TlsOptions, TlsVerify, UdpCheck,
};

#[derive(Parser, Debug)]
#[command(
    name = "check",
    version = ha_examples::VERSION,
    about = "Run one health check once and print the outcome"
)]
struct Cli {
    /// Overall timeout in seconds (connect, TLS, request and reply together).
    #[arg(long, short, default_value_t = 3.0, global = true)]
    timeout: f64,
    /// Print the outcome as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    kind: Kind,
}

#[derive(Args, Debug, Default)]
struct Sock {
    /// Local address to bind.
    #[arg(long)]
    bind: Option<IpAddr>,
    /// Local port to bind.
    #[arg(long)]
    bind_port: Option<u16>,
    /// Interface to bind to (SO_BINDTODEVICE).
    #[arg(long)]
    interface: Option<String>,
    /// Firewall mark (SO_MARK).
    #[arg(long)]
    fwmark: Option<u32>,
    /// Close TCP connections with a FIN handshake instead of an RST (SO_LINGER 0).
    #[arg(long)]
    graceful_close: bool,
}

impl Sock {
    fn options(self) -> SocketOptions {
        SocketOptions {
            bind_addr: self.bind,
            bind_port: self.bind_port,
            interface: self.interface,
            fwmark: self.fwmark,
            close: if self.graceful_close {
                TcpClose::Graceful
            } else {
                TcpClose::Reset
            },
        }
    }
}

#[derive(Subcommand, Debug)]
enum Kind {
    /// TCP connect (optionally send a string and expect one back).
    Tcp {
        /// ADDRESS:PORT (a host name is resolved once).
        target: String,
        /// Send this string once connected.
        #[arg(long)]
        send: Option<String>,
        /// Expect this string in the reply.
        #[arg(long)]
        expect: Option<String>,
        #[command(flatten)]
        sock: Sock,
    },
    /// HTTP or HTTPS GET.
    Http {
        /// http://HOST[:PORT]/PATH or https://...
        url: String,
        /// Accepted status code or range (repeatable), e.g. 200 or 200-299; default 2xx.
        #[arg(long)]
        status: Vec<StatusRange>,
        /// Regular expression the body must match.
        #[arg(long)]
        regex: Option<String>,
        /// MD5 digest (32 hex digits) the body must have.
        #[arg(long)]
        digest: Option<String>,
        /// Host header (virtual host); default: the URL's host.
        #[arg(long)]
        host: Option<String>,
        /// TLS server name (SNI); default: the URL's host.
        #[arg(long)]
        sni: Option<String>,
        /// Do not verify the server certificate at all (HTTPS).
        #[arg(long, conflicts_with = "ca")]
        insecure: bool,
        /// Verify the server certificate against this PEM CA file (HTTPS).
        #[arg(long)]
        ca: Option<PathBuf>,
        /// Most body bytes read.
        #[arg(long, default_value_t = 65536)]
        max_body: usize,
        #[command(flatten)]
        sock: Sock,
    },
    /// DNS query over UDP.
    Dns {
        /// Server ADDRESS[:PORT] (port 53 by default).
        server: String,
        /// Name to ask for.
        #[arg(long)]
        name: String,
        /// Query type (A, AAAA, NS, CNAME, SOA, MX, TXT, PTR, SRV).
        #[arg(long = "type", default_value = "A")]
        qtype: DnsType,
        /// Expected response code (0 NOERROR, 3 NXDOMAIN).
        #[arg(long, default_value_t = 0)]
        rcode: u8,
        /// An answer that must be present (record data as text).
        #[arg(long)]
        answer: Option<String>,
        #[command(flatten)]
        sock: Sock,
    },
    /// SMTP banner and HELO/EHLO.
    Smtp {
        /// ADDRESS[:PORT] (port 25 by default).
        target: String,
        /// Name sent in HELO/EHLO.
        #[arg(long, default_value = "localhost")]
        helo: String,
        /// Send EHLO instead of HELO.
        #[arg(long)]
        ehlo: bool,
        #[command(flatten)]
        sock: Sock,
    },
    /// UDP datagram and optional reply.
    Udp {
        /// ADDRESS:PORT.
        target: String,
        /// Payload to send.
        #[arg(long, default_value = "")]
        payload: String,
        /// The reply must start with this string.
        #[arg(long)]
        expect: Option<String>,
        /// Require a reply (otherwise only an ICMP error fails).
        #[arg(long)]
        require_reply: bool,
        #[command(flatten)]
        sock: Sock,
    },
    /// ICMP / ICMPv6 echo.
    Ping {
        /// Address.
        target: IpAddr,
        #[command(flatten)]
        sock: Sock,
    },
    /// Run a program (no shell unless --shell): exit 0 up, 1 down, 2..255 weight with --dynamic.
    Script {
        /// Run the arguments joined by spaces through /bin/sh -c.
        #[arg(long)]
        shell: bool,
        /// Exit codes 2..255 mean up with weight code - 2.
        #[arg(long)]
        dynamic: bool,
        /// Program and arguments.
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
}

fn resolve(target: &str, default_port: u16) -> Result<SocketAddr, String> {
    if let Ok(ip) = target.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    if let Ok(sa) = target.parse::<SocketAddr>() {
        return Ok(sa);
    }
    let with_port = if target.contains(':') {
        target.to_owned()
    } else {
        format!("{target}:{default_port}")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {target:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{target:?} resolves to no address"))
}

/// Split `http(s)://host[:port]/path` into (tls, authority, path).
fn split_url(url: &str) -> Result<(bool, String, String), String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("URL {url:?} must start with http:// or https://"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("URL {url:?} has no host"));
    }
    Ok((tls, authority.to_owned(), path.to_owned()))
}

fn build(kind: Kind) -> Result<Check, String> {
    Ok(match kind {
        Kind::Tcp {
            target,
            send,
            expect,
            sock,
        } => Check::Tcp(TcpCheck {
            addr: resolve(&target, 0).and_then(|a| {
                if a.port() == 0 {
                    Err(format!("{target:?} needs a port"))
                } else {
                    Ok(a)
                }
            })?,
            socket: sock.options(),
            send: send.map(String::into_bytes),
            expect: expect.map(String::into_bytes),
            expect_line_regex: None,
            shutdown_write: false,
        }),
        Kind::Http {
            url,
            status,
            regex,
            digest,
            host,
            sni,
            insecure,
            ca,
            max_body,
            sock,
        } => {
            let (tls, authority, path) = split_url(&url)?;
            let addr = resolve(&authority, if tls { 443 } else { 80 })?;
            let url_host = authority
                .rsplit_once(':')
                .filter(|(_, p)| p.parse::<u16>().is_ok())
                .map_or(authority.as_str(), |(h, _)| h);
            let digest = match digest {
                Some(d) => Some(
                    ha_healthcheck::parse_md5_hex(&d)
                        .ok_or_else(|| format!("digest {d:?} is not 32 hex digits"))?,
                ),
                None => None,
            };
            let mut c = HttpCheck::new(addr, path);
            c.status = status;
            c.body_regex = regex;
            c.digest = digest;
            c.max_body = max_body;
            c.socket = sock.options();
            c.host = Some(host.unwrap_or_else(|| authority.clone()));
            if tls {
                let verify = match (insecure, ca) {
                    (true, _) => TlsVerify::Off,
                    (false, Some(p)) => TlsVerify::CaFile(p),
                    (false, None) => TlsVerify::System,
                };
                let sni = sni.or_else(|| Some(url_host.trim_matches(['[', ']']).to_owned()));
                let mut t = TlsOptions::new(verify);
                t.sni = sni;
                c.tls = Some(t);
            }
            Check::from(c)
        }
        Kind::Dns {
            server,
            name,
            qtype,
            rcode,
            answer,
            sock,
        } => Check::Dns(DnsCheck {
            server: resolve(&server, 53)?,
            name,
            qtype,
            expect_rcode: rcode,
            expect_answer: answer,
            expect_answer_regex: None,
            socket: sock.options(),
        }),
        Kind::Smtp {
            target,
            helo,
            ehlo,
            sock,
        } => Check::Smtp(SmtpCheck {
            addr: resolve(&target, 25)?,
            helo_name: helo,
            ehlo,
            socket: sock.options(),
        }),
        Kind::Udp {
            target,
            payload,
            expect,
            require_reply,
            sock,
        } => Check::from(UdpCheck {
            addr: resolve(&target, 0)?,
            payload: payload.into_bytes(),
            require_reply,
            expect: expect.map(String::into_bytes),
            reply_match: None,
            socket: sock.options(),
        }),
        Kind::Ping { target, sock } => Check::Ping(PingCheck {
            addr: target,
            socket: sock.options(),
        }),
        Kind::Script {
            shell,
            dynamic,
            argv,
        } => Check::Script(ScriptCheck {
            argv,
            shell,
            dynamic,
            env: Vec::new(),
        }),
    })
}

fn main() -> ExitCode {
    if let Some(code) = ha_examples::generate::run_if_asked::<Cli>() {
        return code;
    }
    let cli = Cli::parse();
    if !(cli.timeout.is_finite() && cli.timeout > 0.0) {
        eprintln!("check: --timeout must be a positive number of seconds");
        return ExitCode::from(2);
    }
    let timeout = Duration::from_secs_f64(cli.timeout);
    let check = match build(cli.kind) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("check: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("check: tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let t0 = Instant::now();
    let outcome = rt.block_on(ha_healthcheck::probe::run(&check, timeout));
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let (up, weight, reason) = match &outcome {
        Outcome::Up { weight } => (true, *weight, None),
        Outcome::Down(f) => (false, None, Some(f.to_string())),
    };
    if cli.json {
        let v =
            serde_json::json!({ "up": up, "weight": weight, "reason": reason, "elapsed_ms": ms });
        println!("{v}");
    } else {
        match (up, weight, reason) {
            (true, Some(w), _) => println!("up weight={w} ({ms:.1} ms)"),
            (true, None, _) => println!("up ({ms:.1} ms)"),
            (false, _, r) => println!("down: {} ({ms:.1} ms)", r.unwrap_or_default()),
        }
    }
    if up {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
