//! Host suite: the Grafana dashboard (`examples/director/grafana-dashboard.json`) against a
//! real Prometheus (Debian `prometheus`) scraping a running `ha-director` in a netns every
//! second, with a virtual server and two real servers checked over TCP. The host kernel has
//! no IPVS, so the director runs with `ipvs_dry_run`: every query of the dashboard must
//! return series, except those that read the kernel's IPVS traffic counters (`node_ipvs_*`,
//! `keepalived_lvs_*`), which must return none (a director that does not drive IPVS writes
//! none). `vm_dashboard` runs the same dashboard against a director driving IPVS, where every
//! query must return series.

use std::path::Path;
use std::time::Duration;

use ha_testsupport::{Host, Lab, require_root, require_tool, wait_until};

#[path = "common/dashboard.rs"]
mod dashboard;

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");
const METRICS: &str = "127.0.0.1:9682";

fn config(dir: &Path) -> String {
    let mut text = format!(
        r#"[global]
router_id = "hdash"
status_socket = "{}"
metrics_listen = "{METRICS}"
ipvs_dry_run = true

[[instances]]
name = "VI_HDASH"
version = 3
interface = "eth0"
vrid = 65
priority = 150
advert_int_ms = 200
vips = ["10.65.0.100/24"]

[[virtual_servers]]
name = "web"
address = "10.65.0.100"
port = 80
protocol = "tcp"
scheduler = "rr"
method = "dr"
delay_loop_ms = 500
"#,
        dir.join("hdash.sock").display()
    );
    for rs in ["10.65.0.11", "10.65.0.12"] {
        text.push_str(&format!(
            "\n[[virtual_servers.real_servers]]\naddress = \"{rs}\"\nport = 80\n\n[[virtual_servers.real_servers.checks]]\nkind = \"tcp\"\nconnect_timeout_ms = 1000\n"
        ));
    }
    text
}

fn listen(h: &Host, addr: &'static str) -> std::net::TcpListener {
    h.run_in(move || std::net::TcpListener::bind(addr).unwrap())
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_dashboard_queries_return_series_from_a_director_in_netns() {
    require_root();
    require_tool("prometheus", "prometheus");
    let qs = dashboard::dashboard_queries();
    let mut lab = Lab::new("hdash");
    let d = lab.add_host("d", &["10.65.0.2/24"]);
    let r1 = lab.add_host("r1", &["10.65.0.11/24"]);
    let r2 = lab.add_host("r2", &["10.65.0.12/24"]);
    // The TCP checks only connect: a listening socket is a live real server.
    let _l1 = listen(&r1, "10.65.0.11:80");
    let _l2 = listen(&r2, "10.65.0.12:80");
    let dir = lab.dir().to_path_buf();
    let cfg = dir.join("hdash.toml");
    std::fs::write(&cfg, config(&dir)).unwrap();
    let pd = lab.spawn(&d, &[BIN, "run", "--config", cfg.to_str().unwrap()]);
    let ready = wait_until(Duration::from_secs(20), || {
        std::thread::sleep(Duration::from_millis(100));
        dashboard::director_status(&d, METRICS).is_some_and(|st| {
            st["instances"][0]["state"] == "MASTER"
                && st["pools"][0]["members"]
                    .as_array()
                    .is_some_and(|m| m.iter().all(|m| m["alive"] == true))
        })
    });
    assert!(
        ready,
        "director not master with both real servers alive: {:?}\n{}",
        dashboard::director_status(&d, METRICS),
        pd.stderr()
    );
    let _prom = dashboard::start_prometheus(&mut lab, &d, METRICS);
    // A few scrapes, so that rates have two samples.
    std::thread::sleep(Duration::from_secs(5));

    let bad = dashboard::check_queries(&d, &qs, |e| !dashboard::reads_ipvs_traffic(e));
    assert!(
        bad.is_empty(),
        "{} of {} dashboard queries did not answer as expected:\n{}",
        bad.len(),
        qs.len(),
        bad.join("\n")
    );
    assert!(
        qs.iter().any(|(_, e)| dashboard::reads_ipvs_traffic(e)),
        "the dashboard shows no IPVS traffic"
    );
    assert_eq!(
        dashboard::no_exported_instance(&d),
        Ok(0),
        "some series carry their own instance label"
    );
}
