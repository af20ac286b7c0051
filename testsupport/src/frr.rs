//! FRR (Debian's `frr` 8.4: zebra, bgpd, bfdd) as a real router inside a lab host's
//! namespace, with every file of its own under the lab's directory (sockets, pid files,
//! configuration, logs), so that several routers run side by side and none touches
//! `/etc/frr` or `/var/run/frr`.
//!
//! The daemons run as the `frr` user (FRR refuses root without the `frrvty` group), in the
//! foreground under the lab: they are killed with it. zebra installs what bgpd chooses into
//! the namespace's kernel table (ECMP routes as multipath routes), and relays bgpd's BFD
//! requests to bfdd.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Host, Lab, Proc, require_tool, wait_until};

/// The FRR daemons of one router.
pub struct Frr {
    dir: PathBuf,
    host: Host,
    procs: Vec<(String, Proc)>,
}

/// Where Debian installs the daemons.
const DAEMONS: &str = "/usr/lib/frr";

impl Frr {
    /// Starts zebra, then bgpd with `bgpd_conf` and, if given, bfdd with `bfdd_conf` (each
    /// file holds that daemon's part of an FRR configuration), in `host`'s namespace; returns
    /// once every daemon answers `vtysh`, or panics with the daemons' logs.
    pub fn start(lab: &mut Lab, host: &Host, bgpd_conf: &str, bfdd_conf: Option<&str>) -> Frr {
        let mut daemons = vec![("zebra", "hostname zebra\n"), ("bgpd", bgpd_conf)];
        if let Some(c) = bfdd_conf {
            daemons.push(("bfdd", c));
        }
        Frr::start_daemons(lab, host, &daemons)
    }

    /// Starts the given daemons (`zebra`, `bgpd`, `bfdd`, ...), each with its configuration,
    /// in this order (zebra first when it is one of them), in `host`'s namespace; returns once
    /// every one answers `vtysh`, or panics with their logs. bfdd alone serves single-hop BFD
    /// peers without zebra.
    pub fn start_daemons(lab: &mut Lab, host: &Host, daemons: &[(&str, &str)]) -> Frr {
        require_tool("vtysh", "frr");
        for (name, _) in daemons {
            require_tool(&format!("{DAEMONS}/{name}"), "frr");
        }
        let dir = lab.dir().join(format!("frr-{}", host.name()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, conf) in daemons {
            std::fs::write(dir.join(format!("{name}.conf")), conf).unwrap();
        }
        // The daemons drop to the frr user at once: their folder must be theirs.
        let chown = std::process::Command::new("chown")
            .args(["-R", "frr:frr"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(chown.success(), "chown -R frr:frr {}", dir.display());
        let mut frr = Frr {
            dir: dir.clone(),
            host: host.clone(),
            procs: Vec::new(),
        };
        let d = |f: &str| dir.join(f).to_string_lossy().into_owned();
        for (name, _) in daemons {
            let exe = format!("{DAEMONS}/{name}");
            let (conf, pid, zserv, log) = (
                d(&format!("{name}.conf")),
                d(&format!("{name}.pid")),
                d("zserv.api"),
                format!("file:{}", d(&format!("{name}.log"))),
            );
            let vty = d("");
            let bfdctl = d("bfdd.sock");
            let mut argv = vec![
                exe.as_str(),
                "-f",
                &conf,
                "-i",
                &pid,
                "-z",
                &zserv,
                "--vty_socket",
                &vty,
                "-P",
                "0",
                "--log",
                &log,
            ];
            if *name == "bfdd" {
                argv.extend_from_slice(&["--bfdctl", &bfdctl]);
            }
            let p = lab.spawn(host, &argv);
            frr.procs.push(((*name).to_owned(), p));
            // zebra's socket must exist before the others connect to it.
            let vty_file = dir.join(format!("{name}.vty"));
            let up = wait_until(Duration::from_secs(20), || vty_file.exists());
            assert!(up, "FRR {name} did not start\n{}", frr.logs());
        }
        for (name, _) in daemons {
            let ok = wait_until(Duration::from_secs(10), || {
                frr.try_vtysh("show daemons")
                    .is_some_and(|o| o.contains(name))
            });
            assert!(ok, "FRR {name} does not answer vtysh\n{}", frr.logs());
        }
        frr
    }

    /// The folder holding the daemons' files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A daemon's process (`zebra`, `bgpd`, `bfdd`).
    pub fn process(&self, daemon: &str) -> Option<&Proc> {
        self.procs.iter().find(|(n, _)| n == daemon).map(|(_, p)| p)
    }

    /// Runs `vtysh -c COMMAND` against these daemons; None when vtysh fails.
    pub fn try_vtysh(&self, command: &str) -> Option<String> {
        let vty = self.dir.to_string_lossy().into_owned();
        let out = self
            .host
            .command(&["vtysh", "--vty_socket", &vty, "-c", command])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// [`Frr::try_vtysh`] of a command that prints JSON (`... json`), parsed; panics with the
    /// logs when vtysh fails.
    pub fn vtysh_json(&self, command: &str) -> serde_json::Value {
        let out = self
            .try_vtysh(command)
            .unwrap_or_else(|| panic!("vtysh -c {command:?} failed\n{}", self.logs()));
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("vtysh -c {command:?}: not JSON ({e}): {out}"))
    }

    /// The last lines of each daemon's log and output, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for (name, p) in &self.procs {
            let log =
                std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            s.push_str(&format!(
                "--- FRR {name} (running: {}) ---\n{}\n{}{}",
                p.is_running(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
                p.stdout(),
                p.stderr()
            ));
        }
        s
    }
}
