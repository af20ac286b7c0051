//! VM suite: the Grafana dashboard (`examples/director/grafana-dashboard.json`) against a real
//! Prometheus (Debian `prometheus`) scraping a running `ha-director` every second. The
//! director drives the kernel's IPVS (hence the VM: the host kernel has none) for an LVS-DR
//! service with two real servers, and a client sends requests through the VIP, so the
//! traffic series (`node_ipvs_*`, `keepalived_lvs_*`) have values. Then every query (`expr`)
//! of every panel is evaluated through Prometheus' HTTP API (`/api/v1/query`); the test fails
//! for any query that errs or returns no series, and prints each such query.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use ha_testsupport::{Host, Lab, require_tool, require_vm, wait_until};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");
const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/director/grafana-dashboard.json"
);
const METRICS: &str = "127.0.0.1:9681";
const PROMETHEUS: &str = "127.0.0.1:9091";
const VIP: &str = "10.64.0.100";

fn config(dir: &Path) -> String {
    let mut text = format!(
        r#"[global]
router_id = "dash"
status_socket = "{}"
metrics_listen = "{METRICS}"

[[instances]]
name = "VI_DASH"
version = 3
interface = "eth0"
vrid = 64
priority = 150
advert_int_ms = 200
vips = ["{VIP}/24"]

[[virtual_servers]]
name = "web"
address = "{VIP}"
port = 80
protocol = "tcp"
scheduler = "rr"
method = "dr"
delay_loop_ms = 1000
"#,
        dir.join("dash.sock").display()
    );
    for rs in ["10.64.0.11", "10.64.0.12"] {
        text.push_str(&format!(
            "\n[[virtual_servers.real_servers]]\naddress = \"{rs}\"\nport = 80\n\n[[virtual_servers.real_servers.checks]]\nkind = \"tcp\"\nconnect_timeout_ms = 2000\n"
        ));
    }
    text
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
fn query(h: &Host, expr: &str) -> Result<usize, String> {
    let path = format!("/api/v1/query?query={}", percent_encode(expr));
    let (code, body) = http_get(h, PROMETHEUS, path).ok_or("no answer from Prometheus")?;
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("HTTP {code}: {e}: {body}"))?;
    if v["status"] != "success" {
        return Err(format!("HTTP {code}: {}", v["error"]));
    }
    Ok(v["data"]["result"].as_array().map_or(0, Vec::len))
}

/// One request through the VIP from the client; whether a reply came.
fn request(c: &Host) -> bool {
    c.run_in(|| {
        let Ok(mut s) = std::net::TcpStream::connect_timeout(
            &format!("{VIP}:80").parse().unwrap(),
            Duration::from_secs(5),
        ) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        if write!(s, "GET / HTTP/1.0\r\n\r\n").is_err() {
            return false;
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.starts_with("HTTP/1.0 200")
    })
}

#[test]
#[ignore = "vm suite: needs the VM kernel; run by cargo xtask test"]
fn vm_dashboard_every_query_returns_series_from_a_running_director() {
    require_vm();
    require_tool("prometheus", "prometheus");
    ha_testsupport::modprobe(&["ip_vs", "ip_vs_rr"]);
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).unwrap();
    let qs = queries(&dashboard);
    assert!(qs.len() >= 10, "too few queries in the dashboard: {qs:?}");

    let mut lab = Lab::new("dash");
    let d = lab.add_host("d", &["10.64.0.2/24"]);
    let rs1 = lab.add_host("rs1", &["10.64.0.11/24"]);
    let rs2 = lab.add_host("rs2", &["10.64.0.12/24"]);
    let c = lab.add_host("c", &["10.64.0.50/24"]);
    let dir = lab.dir().to_path_buf();
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello\n").unwrap();
    for rs in [&rs1, &rs2] {
        // LVS-DR real server: the VIP on lo, never answered for in ARP.
        rs.sh(&format!(
            "ip addr add {VIP}/32 dev lo; sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2"
        ));
        lab.spawn(
            rs,
            &[
                "python3",
                "-m",
                "http.server",
                "80",
                "--bind",
                "0.0.0.0",
                "--directory",
                www.to_str().unwrap(),
            ],
        );
    }
    let cfg = dir.join("dash.toml");
    std::fs::write(&cfg, config(&dir)).unwrap();
    let pd = lab.spawn(&d, &[BIN, "run", "--config", cfg.to_str().unwrap()]);
    let ready = wait_until(Duration::from_secs(60), || {
        std::thread::sleep(Duration::from_millis(200));
        http_get(&d, METRICS, "/status".into())
            .and_then(|(_, b)| serde_json::from_str::<Value>(&b).ok())
            .is_some_and(|st| {
                st["instances"][0]["state"] == "MASTER"
                    && st["pools"][0]["members"]
                        .as_array()
                        .is_some_and(|m| m.iter().all(|m| m["alive"] == true))
            })
    });
    assert!(
        ready,
        "director not master with both real servers alive\n{}\n{}",
        d.sh("ipvsadm -Ln"),
        pd.stderr()
    );

    let prom_cfg = dir.join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: ha-director\n    static_configs:\n      - targets: ['{METRICS}']\n"
        ),
    )
    .unwrap();
    let tsdb = dir.join("tsdb");
    let prom = lab.spawn(
        &d,
        &[
            "prometheus",
            &format!("--config.file={}", prom_cfg.display()),
            &format!("--storage.tsdb.path={}", tsdb.display()),
            &format!("--web.listen-address={PROMETHEUS}"),
            "--log.level=warn",
        ],
    );
    let scraping = wait_until(Duration::from_secs(120), || {
        std::thread::sleep(Duration::from_millis(500));
        query(&d, r#"up{job="ha-director"} == 1"#).is_ok_and(|n| n == 1)
    });
    assert!(
        scraping,
        "Prometheus never scraped the director: {:?}\n{}",
        query(&d, "up"),
        prom.stderr()
    );

    // Traffic through the VIP, spread over a few scrapes.
    let mut answered = 0;
    for _ in 0..4 {
        for _ in 0..10 {
            answered += usize::from(request(&c));
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(
        answered >= 30,
        "only {answered}/40 requests through the VIP answered\n{}",
        d.sh("ipvsadm -Ln --stats")
    );
    // IPVS counters are read every 2 s and scraped every second: let a few scrapes land.
    std::thread::sleep(Duration::from_secs(6));

    let mut empty = Vec::new();
    for (title, expr) in &qs {
        let q = expand(expr);
        match query(&d, &q) {
            Ok(0) => empty.push(format!("[{title}] {q}: no series")),
            Ok(n) => println!("ok ({n} series) [{title}] {q}"),
            Err(e) => empty.push(format!("[{title}] {q}: {e}")),
        }
    }
    assert!(
        empty.is_empty(),
        "{} of {} dashboard queries returned no series:\n{}\n--- ipvsadm ---\n{}",
        empty.len(),
        qs.len(),
        empty.join("\n"),
        d.sh("ipvsadm -Ln --stats")
    );
    // Prometheus renames a target's own `instance` label to `exported_instance`: none here.
    assert_eq!(
        query(&d, r#"count({job="ha-director", exported_instance!=""})"#),
        Ok(0),
        "some series carry their own instance label"
    );
    println!("all {} dashboard queries returned series", qs.len());
}
