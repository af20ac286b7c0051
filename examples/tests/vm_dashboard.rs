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

#[path = "common/dashboard.rs"]
mod dashboard;

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");
const METRICS: &str = "127.0.0.1:9681";
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
    let qs = dashboard::dashboard_queries();

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
        dashboard::director_status(&d, METRICS).is_some_and(|st| {
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
    let _prom = dashboard::start_prometheus(&mut lab, &d, METRICS);

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

    let bad = dashboard::check_queries(&d, &qs, |_| true);
    assert!(
        bad.is_empty(),
        "{} of {} dashboard queries returned no series:\n{}\n--- ipvsadm ---\n{}",
        bad.len(),
        qs.len(),
        bad.join("\n"),
        d.sh("ipvsadm -Ln --stats")
    );
    assert_eq!(
        dashboard::no_exported_instance(&d),
        Ok(0),
        "some series carry their own instance label"
    );
    println!("all {} dashboard queries returned series", qs.len());
}
