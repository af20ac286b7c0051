//! HTTP(S) GET over one connection (hyper 1 client, no pool).

use std::net::IpAddr;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use md5::{Digest, Md5};
use tokio::io::{AsyncRead, AsyncWrite};

use super::sock::tcp_connect;
use crate::check::{HttpCheck, HttpProtocol};
use crate::outcome::{Failure, Outcome};

pub(crate) async fn run(c: &HttpCheck) -> Result<Outcome, Failure> {
    // Compile first: a bad pattern is a configuration error, not the server's fault.
    let regex = match &c.body_regex {
        Some(r) => Some(super::compiled(r, "body regex")?),
        None => None,
    };
    let tcp = tcp_connect(c.addr, &c.socket).await?;
    let host = c.host.clone().unwrap_or_else(|| match c.addr.ip() {
        IpAddr::V4(ip) if c.addr.port() == default_port(c) => ip.to_string(),
        IpAddr::V6(ip) if c.addr.port() == default_port(c) => format!("[{ip}]"),
        _ => c.addr.to_string(),
    });
    match &c.tls {
        None => exchange(TokioIo::new(tcp), c, &host, regex.as_ref()).await,
        #[cfg(not(feature = "tls"))]
        Some(_) => Err(Failure::FeatureDisabled {
            check: "HTTPS",
            feature: "tls",
        }),
        #[cfg(feature = "tls")]
        Some(tls) => {
            use rustls::pki_types::ServerName;
            let config = super::tls::client_config(tls)?;
            let name = match &tls.sni {
                Some(n) => n.clone(),
                None => host_only(&host).to_owned(),
            };
            let server_name = ServerName::try_from(name.clone())
                .map_err(|e| Failure::Setup(format!("TLS server name {name:?}: {e}")))?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(server_name, tcp)
                .await
                .map_err(
                    |e| match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                        Some(tls_err) => Failure::Tls(tls_err.to_string()),
                        None => Failure::Tls(e.to_string()),
                    },
                )?;
            exchange(TokioIo::new(stream), c, &host, regex.as_ref()).await
        }
    }
}

fn default_port(c: &HttpCheck) -> u16 {
    if c.tls.is_some() { 443 } else { 80 }
}

/// The host part of a Host header value, without port and IPv6 brackets (the TLS server
/// name when no SNI is given).
#[cfg(feature = "tls")]
fn host_only(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

async fn exchange<T>(
    io: TokioIo<T>,
    c: &HttpCheck,
    host: &str,
    regex: Option<&regex::bytes::Regex>,
) -> Result<Outcome, Failure>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(io)
        .await
        .map_err(|e| Failure::Protocol(e.to_string()))?;
    let method = match c.method {
        crate::check::HttpMethod::Get => http::Method::GET,
        crate::check::HttpMethod::Head => http::Method::HEAD,
    };
    let mut req = http::Request::builder()
        .method(method)
        .uri(c.path.as_str())
        .version(match c.protocol {
            HttpProtocol::Http10 | HttpProtocol::Http10Close => http::Version::HTTP_10,
            HttpProtocol::Http11 => http::Version::HTTP_11,
        })
        .header(http::header::HOST, host)
        .header(http::header::USER_AGENT, "ha-healthcheck");
    if c.protocol != HttpProtocol::Http10 {
        req = req.header(http::header::CONNECTION, "close");
    }
    let req = req
        .body(Empty::new())
        .map_err(|e| Failure::Setup(format!("request for path {:?}: {e}", c.path)))?;
    let work = async move {
        let resp = sender.send_request(req).await.map_err(hyper_fail)?;
        let code = resp.status().as_u16();
        if !c.status_ok(code) {
            return Err(Failure::Status(code));
        }
        if regex.is_none() && c.digest.is_none() {
            return Ok(Outcome::UP);
        }
        let mut body = resp.into_body();
        let mut buf: Vec<u8> = Vec::new();
        while buf.len() < c.max_body {
            match body.frame().await {
                None => break,
                Some(Err(e)) => return Err(hyper_fail(e)),
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        let room = c.max_body - buf.len();
                        buf.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
            }
        }
        if let Some(re) = regex
            && !body_passes(c, re, &buf)
        {
            return Err(Failure::BodyMismatch);
        }
        if let Some(want) = &c.digest {
            let got: [u8; 16] = Md5::digest(&buf).into();
            if &got != want {
                return Err(Failure::DigestMismatch);
            }
        }
        Ok(Outcome::UP)
    };
    let mut conn = std::pin::pin!(conn);
    let mut work = std::pin::pin!(work);
    tokio::select! {
        r = &mut work => r,
        r = &mut conn => match r {
            // The connection finished cleanly (server closed after the response): the
            // request future has what it needs.
            Ok(()) => work.await,
            Err(e) => Err(hyper_fail(e)),
        },
    }
}

/// True if the body passes the body pattern: a match starting inside the configured offsets,
/// or none with `body_regex_no_match`. A body too short to reach the minimum offset has no
/// match.
fn body_passes(c: &HttpCheck, re: &regex::bytes::Regex, body: &[u8]) -> bool {
    let found = c.body_regex_min_offset <= body.len()
        && re
            .find_at(body, c.body_regex_min_offset)
            .is_some_and(|m| c.body_regex_max_offset.is_none_or(|max| m.start() <= max));
    found != c.body_regex_no_match
}

fn hyper_fail(e: hyper::Error) -> Failure {
    use std::error::Error as _;
    let mut src = e.source();
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            // A TLS alert after the handshake (TLS 1.3: a server refusing the client's
            // certificate says so on the first read) comes wrapped in an io error.
            #[cfg(feature = "tls")]
            if let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Failure::Tls(tls.to_string());
            }
            return Failure::from_io(io);
        }
        src = s.source();
    }
    if e.is_incomplete_message() {
        Failure::Reset
    } else {
        Failure::Protocol(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_pattern_offsets_and_inversion() {
        let re = regex::bytes::Regex::new("ok").unwrap();
        let mut c = HttpCheck::new("127.0.0.1:80".parse().unwrap(), "/");
        assert!(body_passes(&c, &re, b"..ok"));
        assert!(!body_passes(&c, &re, b"..no"));
        c.body_regex_min_offset = 3;
        assert!(
            !body_passes(&c, &re, b"..ok"),
            "the match starts at 2, before 3"
        );
        assert!(
            body_passes(&c, &re, b"..ok.ok"),
            "the second match starts at 5"
        );
        assert!(
            !body_passes(&c, &re, b"o"),
            "shorter than the minimum offset"
        );
        c.body_regex_max_offset = Some(4);
        assert!(!body_passes(&c, &re, b"..ok.ok"), "5 is after 4");
        assert!(body_passes(&c, &re, b"...ok"), "3 is inside 3..=4");
        c.body_regex_no_match = true;
        assert!(!body_passes(&c, &re, b"...ok"));
        assert!(body_passes(&c, &re, b"..ok.ok"));
        // Lookaround context is the whole body: `\b` before the minimum offset counts.
        let wb = regex::bytes::Regex::new(r"\bok").unwrap();
        c = HttpCheck::new("127.0.0.1:80".parse().unwrap(), "/");
        c.body_regex_min_offset = 1;
        assert!(!body_passes(&c, &wb, b"xok"));
    }

    #[test]
    #[cfg(feature = "tls")]
    fn host_only_strips_port_and_brackets() {
        assert_eq!(host_only("example.org:8080"), "example.org");
        assert_eq!(host_only("example.org"), "example.org");
        assert_eq!(host_only("[::1]:443"), "::1");
        assert_eq!(host_only("127.0.0.1"), "127.0.0.1");
    }
}
