//! The Grafana dashboard checked against a real Prometheus: shared by `vm_dashboard` (a
//! director driving IPVS, every query) and `host_dashboard` (a director in a netns on the
//! host, which has no IPVS). Each test uses part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::time::Duration;

use ha_testsupport::{Host, Lab, Proc, wait_until};
use serde_json::Value;

/// The dashboard, as shipped.
pub const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/director/grafana-dashboard.json"
);

/// Where Prometheus listens, inside the director's namespace.
pub const PROMETHEUS: &str = "127.0.0.1:9091";

/// The dashboard's queries, with their panels' titles.
pub fn dashboard_queries() -> Vec<(String, String)> {
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).unwrap();
    let qs = queries(&dashboard);
    assert!(qs.len() >= 10, "too few queries in the dashboard: {qs:?}");
    qs
}

/// Whether a query reads the kernel's IPVS counters (only a director driving IPVS has them).
pub fn reads_ipvs_traffic(expr: &str) -> bool {
    expr.contains("node_ipvs_") || expr.contains("keepalived_lvs_")
}

/// Starts Prometheus in `h` scraping `target` every second and waits (bounded) until it has
/// scraped it.
pub fn start_prometheus(lab: &mut Lab, h: &Host, target: &str) -> Proc {
    let dir = lab.dir().to_path_buf();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: ha-director\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let prom = lab.spawn(
        h,
        &[
            "prometheus",
            &format!("--config.file={}", cfg.display()),
            &format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
            &format!("--web.listen-address={PROMETHEUS}"),
            "--log.level=warn",
        ],
    );
    let scraping = wait_until(Duration::from_secs(120), || {
        std::thread::sleep(Duration::from_millis(500));
        query(h, r#"up{job="ha-director"} == 1"#).is_ok_and(|n| n == 1)
    });
    assert!(
        scraping,
        "Prometheus never scraped the director: {:?}\n{}",
        query(h, "up"),
        prom.stderr()
    );
    prom
}

/// Evaluates each query (Grafana's interval variables filled in); the queries whose number
/// of series is not what `want_series` says, each with what came back.
pub fn check_queries(
    h: &Host,
    qs: &[(String, String)],
    want_series: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut bad = Vec::new();
    for (title, expr) in qs {
        let q = expand(expr);
        let want = want_series(expr);
        match query(h, &q) {
            Ok(n) if (n > 0) == want => println!("ok ({n} series) [{title}] {q}"),
            Ok(n) => bad.push(format!(
                "[{title}] {q}: {n} series, wanted {}",
                if want { "some" } else { "none" }
            )),
            Err(e) => bad.push(format!("[{title}] {q}: {e}")),
        }
    }
    bad
}

/// The JSON status of a director over HTTP, from inside its namespace.
pub fn director_status(h: &Host, listen: &'static str) -> Option<Value> {
    http_get(h, listen, "/status".into()).and_then(|(_, b)| serde_json::from_str(&b).ok())
}

/// Whether nothing carries its own `instance` label (Prometheus would have renamed it).
pub fn no_exported_instance(h: &Host) -> Result<usize, String> {
    query(h, r#"count({job="ha-director", exported_instance!=""})"#)
}

/// Every `expr` of every panel (rows' nested panels included), with its panel's title.
fn queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("?").to_owned();
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    out.push((title.clone(), e.to_owned()));
                }
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// Grafana's built-in interval variables, as Grafana would fill them for a 1 s scrape.
fn expand(expr: &str) -> String {
    expr.replace("$__rate_interval", "30s")
        .replace("$__interval", "5s")
        .replace("$__range", "5m")
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One HTTP/1.1 GET from inside `h`'s namespace; the status code and the body.
fn http_get(h: &Host, addr: &'static str, path: String) -> Option<(u16, String)> {
    h.run_in(move || {
        let mut s = std::net::TcpStream::connect(addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).ok()?;
        let out = String::from_utf8_lossy(&out).into_owned();
        let (head, body) = out.split_once("\r\n\r\n")?;
        let code = head.split_whitespace().nth(1)?.parse().ok()?;
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Some((code, body))
    })
}

/// The body of a chunked transfer (Prometheus answers large results chunked).
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// An instant query; the number of series, or why there is none.
pub fn query(h: &Host, expr: &str) -> Result<usize, String> {
    let path = format!("/api/v1/query?query={}", percent_encode(expr));
    let (code, body) = http_get(h, PROMETHEUS, path).ok_or("no answer from Prometheus")?;
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("HTTP {code}: {e}: {body}"))?;
    if v["status"] != "success" {
        return Err(format!("HTTP {code}: {}", v["error"]));
    }
    Ok(v["data"]["result"].as_array().map_or(0, Vec::len))
}
