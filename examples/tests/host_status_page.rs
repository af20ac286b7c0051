//! Host suite: the status page (`GET /` on the metrics listener) rendered by a real browser,
//! headless Chromium (Debian `chromium`), against a running `ha-director` in a netns with two
//! real servers (python's http.server in their own netns) checked over HTTP. The director
//! runs with `ipvs_dry_run` (the host kernel has no IPVS): the checks run and the status
//! shows them; nothing is programmed.
//!
//! The rendered DOM (after the page's scripts ran) must show the instance with its state and
//! both real servers up; after one real server is killed, a fresh render shows it down with
//! the reason the status gives. The page against a frozen status (a file server standing in
//! for a director whose loop stopped publishing) says its data is stale. The screenshot
//! stays at `<target>/status-page.png`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ha_examples::director::status_page::STATUS_PAGE;
use ha_testsupport::{Host, Lab, require_root, require_tool, wait_until};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ha-director");
const LISTEN: &str = "127.0.0.1:9680";

fn config(dir: &Path) -> PathBuf {
    let mut text = format!(
        r#"[global]
router_id = "page"
status_socket = "{}"
metrics_listen = "{LISTEN}"
ipvs_dry_run = true

[[instances]]
name = "VI_WEB"
version = 3
interface = "eth0"
vrid = 63
priority = 150
advert_int_ms = 200
vips = ["10.63.0.100/24"]

[[virtual_servers]]
name = "web"
address = "10.63.0.100"
port = 80
protocol = "tcp"
scheduler = "rr"
method = "dr"
delay_loop_ms = 500
"#,
        dir.join("page.sock").display()
    );
    for rs in ["10.63.0.11", "10.63.0.12"] {
        text.push_str(&format!(
            r#"
[[virtual_servers.real_servers]]
address = "{rs}"
port = 80

[[virtual_servers.real_servers.checks]]
kind = "http"
connect_timeout_ms = 1000
urls = [{{ path = "/", status_code = 200 }}]
"#
        ));
    }
    let path = dir.join("page.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The JSON status over HTTP, read from inside the director's namespace.
fn status(h: &Host) -> Option<Value> {
    h.run_in(|| {
        let mut s = std::net::TcpStream::connect(LISTEN).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let body = out.split_once("\r\n\r\n")?.1;
        serde_json::from_str(body).ok()
    })
}

fn member(st: &Value, addr: &str) -> Value {
    st["pools"][0]["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["address"] == addr))
        .cloned()
        .unwrap_or(Value::Null)
}

/// Chromium's flags for a headless run as root in a test: no sandbox, no GPU, nothing
/// fetched in the background, a fresh profile.
fn chromium(h: &Host, profile: &Path, extra: &[&str]) -> std::process::Output {
    // Virtual time runs ahead of the director's real clock (it jumps between fetches): 2 s
    // of it is at least one refresh after the first read, and less than the 3 s after which
    // an unchanged snapshot counts as stale.
    let mut args = vec!["--virtual-time-budget=2000"];
    args.extend_from_slice(extra);
    chromium_at(h, profile, &format!("http://{LISTEN}/"), &args)
}

/// Chromium on `url` (the last of several `--virtual-time-budget` wins).
fn chromium_at(h: &Host, profile: &Path, url: &str, extra: &[&str]) -> std::process::Output {
    let profile_arg = format!("--user-data-dir={}", profile.display());
    let mut argv = vec![
        "timeout",
        "90",
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        &profile_arg,
    ];
    argv.extend_from_slice(extra);
    argv.push(url);
    let mut c = h.command(&argv);
    c.env("HOME", profile);
    c.output().expect("running chromium")
}

/// The DOM after the page's scripts ran, from a fresh profile.
fn render(h: &Host, dir: &Path, n: usize) -> String {
    let profile = dir.join(format!("chromium-{n}"));
    std::fs::create_dir_all(&profile).unwrap();
    let o = chromium(h, &profile, &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success() && dom.contains("</html>"),
        "chromium --dump-dom failed ({:?}):\n{}\n{dom}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    dom
}

/// The text of the table row whose `attr` is `value` (tags stripped), or "" if none.
fn row(dom: &str, attr: &str, value: &str) -> String {
    let key = format!("{attr}=\"{value}\"");
    let Some(start) = dom.find(&key) else {
        return String::new();
    };
    let rest = &dom[start..];
    let end = rest.find("</tr>").unwrap_or(rest.len());
    let mut text = String::new();
    let mut in_tag = false;
    for ch in rest[..end].chars() {
        match ch {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
#[ignore = "host suite: needs root and netns; run by cargo xtask test"]
fn host_status_page_renders_live_state_in_chromium() {
    require_root();
    require_tool("chromium", "chromium");
    require_tool("python3", "python3");
    let mut lab = Lab::new("hpage");
    let d = lab.add_host("d", &["10.63.0.1/24"]);
    let r1 = lab.add_host("r1", &["10.63.0.11/24"]);
    let r2 = lab.add_host("r2", &["10.63.0.12/24"]);
    let dir = lab.dir().to_path_buf();
    let serve = |lab: &mut Lab, h: &Host, addr: &str| {
        lab.spawn(
            h,
            &[
                "python3",
                "-m",
                "http.server",
                "80",
                "--bind",
                addr,
                "--directory",
                "/var/empty",
            ],
        )
    };
    std::fs::create_dir_all("/var/empty").unwrap();
    let _w1 = serve(&mut lab, &r1, "10.63.0.11");
    let w2 = serve(&mut lab, &r2, "10.63.0.12");
    let cfg = config(&dir);
    let pd = lab.spawn(&d, &[BIN, "run", "--config", cfg.to_str().unwrap()]);

    let both_up = wait_until(Duration::from_secs(20), || {
        status(&d).is_some_and(|st| {
            st["instances"][0]["state"] == "MASTER"
                && member(&st, "10.63.0.11:80")["alive"] == true
                && member(&st, "10.63.0.12:80")["alive"] == true
        })
    });
    assert!(
        both_up,
        "director not master with both real servers up: {:?}\n{}",
        status(&d),
        pd.stderr()
    );

    let dom = render(&d, &dir, 1);
    let inst = row(&dom, "data-instance", "VI_WEB");
    assert!(
        inst.contains("VI_WEB")
            && inst.contains("MASTER")
            && inst.contains(" 150 ")
            && inst.contains("10.63.0.1 ")
            && inst.contains("10.63.0.100")
            && inst.contains(" ago"),
        "instance row: {inst:?}\n{dom}"
    );
    for rs in ["10.63.0.11:80", "10.63.0.12:80"] {
        let r = row(&dom, "data-real-server", rs);
        assert!(r.contains(" up "), "real server row {rs}: {r:?}\n{dom}");
    }
    assert!(
        dom.contains(">live<"),
        "the page says its data is stale:\n{dom}"
    );

    // Kill one real server: the status says it is down and why; a fresh render shows both.
    w2.kill(9);
    let mut reason = String::new();
    let down = wait_until(Duration::from_secs(20), || {
        let Some(st) = status(&d) else { return false };
        let m = member(&st, "10.63.0.12:80");
        reason = m["down_reason"].as_str().unwrap_or_default().to_owned();
        m["alive"] == false && !reason.is_empty()
    });
    assert!(
        down,
        "the killed real server never went down: {:?}",
        status(&d)
    );
    let dom = render(&d, &dir, 2);
    let r = row(&dom, "data-real-server", "10.63.0.12:80");
    assert!(
        r.contains(" down ") && r.contains(&reason),
        "killed real server row: {r:?} (reason {reason:?})\n{dom}"
    );
    let r = row(&dom, "data-real-server", "10.63.0.11:80");
    assert!(r.contains(" up "), "other real server row: {r:?}");

    // A director that stopped publishing: the page and a frozen status served by a plain
    // file server; after 3 s of the same snapshot the page says its data is stale.
    let frozen = dir.join("frozen");
    std::fs::create_dir_all(&frozen).unwrap();
    std::fs::write(frozen.join("index.html"), STATUS_PAGE).unwrap();
    std::fs::write(frozen.join("status"), status(&d).unwrap().to_string()).unwrap();
    let files = lab.spawn(
        &d,
        &[
            "python3",
            "-m",
            "http.server",
            "9683",
            "--bind",
            "127.0.0.1",
            "--directory",
            frozen.to_str().unwrap(),
        ],
    );
    assert!(
        wait_until(Duration::from_secs(10), || d
            .run_in(|| std::net::TcpStream::connect("127.0.0.1:9683").is_ok())),
        "the file server did not start: {}",
        files.stderr()
    );
    let profile = dir.join("chromium-frozen");
    std::fs::create_dir_all(&profile).unwrap();
    let o = chromium_at(
        &d,
        &profile,
        "http://127.0.0.1:9683/",
        &["--dump-dom", "--virtual-time-budget=8000"],
    );
    let dom = String::from_utf8_lossy(&o.stdout);
    assert!(
        dom.contains("VI_WEB") && dom.contains(">stale: no new status for"),
        "a frozen status is not shown stale:\n{dom}"
    );

    // The picture, from a third fresh profile.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    let profile = dir.join("chromium-shot");
    std::fs::create_dir_all(&profile).unwrap();
    let shot_arg = format!("--screenshot={}", shot.display());
    let o = chromium(
        &d,
        &profile,
        &[&shot_arg, "--window-size=1100,620", "--hide-scrollbars"],
    );
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        o.status.success() && size > 10_000,
        "no screenshot at {} ({size} bytes, {:?}): {}",
        shot.display(),
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    println!("status page screenshot: {}", shot.display());
}
