//! Host suite: `cargo xtask install` into a temporary DESTDIR (with the binaries this test
//! build made, `--bin-dir`, instead of a release build): every file lands where it should,
//! each man page renders with groff and `man -l` without a warning, and each bash completion
//! registers with `complete`.
//!
//! The installer runs as `cargo run -p xtask` with its own target directory (under
//! `CARGO_TARGET_TMPDIR`), so it never waits on the build lock of the cargo running this test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TOOLS: &[&str] = &["ha-director", "ipvsctl", "vrrp-speaker", "garp", "check"];

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn must(what: &str, o: Output) -> Output {
    assert!(
        o.status.success(),
        "{what}: {}\n{}\n{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    );
    o
}

#[test]
#[ignore = "host suite: runs cargo xtask install (cargo xtask test runs it)"]
fn host_install_puts_binaries_man_pages_completions_and_unit_in_place() {
    ha_testsupport::require_tool("groff", "groff-base");
    ha_testsupport::require_tool("man", "man-db");
    ha_testsupport::require_tool("bash", "bash");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_ha-director"))
        .parent()
        .unwrap()
        .to_path_buf();
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dest = tmp.join(format!("install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dest);
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let o = must(
        "cargo xtask install",
        Command::new(cargo)
            .current_dir(workspace)
            .env("CARGO_TARGET_DIR", tmp.join("xtask-target"))
            .args([
                "run", "--quiet", "-p", "xtask", "--", "install", "--prefix", "/usr",
            ])
            .arg("--destdir")
            .arg(&dest)
            .arg("--bin-dir")
            .arg(&bin_dir)
            .output()
            .unwrap(),
    );
    let report = text(&o.stdout);
    let at = |rel: &str| -> PathBuf { dest.join(rel) };

    for tool in TOOLS {
        // The binary, executable, answering --version.
        let exe = at(&format!("usr/bin/{tool}"));
        let v = must(
            &format!("{tool} --version"),
            Command::new(&exe).arg("--version").output().unwrap(),
        );
        assert!(text(&v.stdout).starts_with(&format!("{tool} ")), "{v:?}");
        assert!(report.contains(&exe.display().to_string()), "{report}");

        // The man page renders without a warning, with groff and with man -l.
        let page = at(&format!("usr/share/man/man1/{tool}.1"));
        let g = must(
            &format!("groff {}", page.display()),
            Command::new("groff")
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(&page)
                .output()
                .unwrap(),
        );
        assert_eq!(text(&g.stderr), "", "groff warns on {}", page.display());
        let m = must(
            &format!("man -l {}", page.display()),
            Command::new("man")
                .env("MANWIDTH", "100")
                .env("MAN_DISABLE_SECCOMP", "1")
                .args(["--warnings", "-l"])
                .arg(&page)
                .output()
                .unwrap(),
        );
        assert_eq!(text(&m.stderr), "", "man -l warns on {}", page.display());
        let rendered = text(&m.stdout);
        assert!(
            rendered.contains("NAME") && rendered.contains(tool),
            "{rendered}"
        );
        assert!(rendered.contains("--version"), "{rendered}");

        // Completions: bash registers, zsh and fish files name the tool.
        let bash = at(&format!("usr/share/bash-completion/completions/{tool}"));
        let b = must(
            &format!("bash completion of {tool}"),
            Command::new("bash")
                .arg("-c")
                .arg(format!("source '{}' && complete -p {tool}", bash.display()))
                .output()
                .unwrap(),
        );
        assert!(text(&b.stdout).trim_end().ends_with(tool), "{b:?}");
        let zsh =
            std::fs::read_to_string(at(&format!("usr/share/zsh/site-functions/_{tool}"))).unwrap();
        assert!(zsh.starts_with(&format!("#compdef {tool}")), "{zsh}");
        let fish = std::fs::read_to_string(at(&format!(
            "usr/share/fish/vendor_completions.d/{tool}.fish"
        )))
        .unwrap();
        assert!(fish.contains(&format!("complete -c {tool}")), "{fish}");
    }

    // Pages say what the tools take: ipvsctl's ipvsadm options, ha-director's subcommands.
    let man = |tool: &str| {
        text(
            &Command::new("man")
                .env("MANWIDTH", "100")
                .env("MAN_DISABLE_SECCOMP", "1")
                .arg("-l")
                .arg(at(&format!("usr/share/man/man1/{tool}.1")))
                .output()
                .unwrap()
                .stdout,
        )
    };
    let ipvsctl = man("ipvsctl");
    for opt in [
        "--add-service",
        "--save",
        "--restore",
        "--start-daemon",
        "--set",
    ] {
        assert!(ipvsctl.contains(opt), "ipvsctl(1) lacks {opt}:\n{ipvsctl}");
    }
    let director = man("ha-director");
    assert!(director.contains("check-config"), "{director}");
    assert!(man("vrrp-speaker").contains("--vrrp-version"));

    // The unit runs the installed binary; the example configuration is in /etc and the docs.
    let unit = std::fs::read_to_string(at("usr/lib/systemd/system/ha-director.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/bin/ha-director run"),
        "{unit}"
    );
    assert!(!unit.contains("/usr/local/bin"), "{unit}");
    assert!(unit.contains("Type=notify-reload"), "{unit}");
    let conf = std::fs::read_to_string(at("etc/ha-director/ha-director.toml")).unwrap();
    assert!(conf.contains("[global]"));
    assert!(at("usr/share/doc/ha-director/examples/keepalived-complete.conf").is_file());

    // An existing /etc file is kept on a second install.
    std::fs::write(at("etc/ha-director/ha-director.toml"), "# mine\n").unwrap();
    let o = must(
        "second cargo xtask install",
        Command::new(cargo)
            .current_dir(workspace)
            .env("CARGO_TARGET_DIR", tmp.join("xtask-target"))
            .args([
                "run", "--quiet", "-p", "xtask", "--", "install", "--prefix", "/usr",
            ])
            .arg("--destdir")
            .arg(&dest)
            .arg("--bin-dir")
            .arg(&bin_dir)
            .output()
            .unwrap(),
    );
    assert!(text(&o.stdout).contains("kept"), "{o:?}");
    assert_eq!(
        std::fs::read_to_string(at("etc/ha-director/ha-director.toml")).unwrap(),
        "# mine\n"
    );

    // --generate is for packaging: a wrong use is a usage error.
    let o = Command::new(env!("CARGO_BIN_EXE_ipvsctl"))
        .args(["--generate", "pdf", "/tmp"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    std::fs::remove_dir_all(&dest).unwrap();
}
