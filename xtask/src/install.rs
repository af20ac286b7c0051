//! `cargo xtask install [--prefix P] [--destdir D] [--bin-dir DIR]`: release binaries, their
//! man pages and shell completions, the systemd unit and an example configuration, in the
//! usual places under `DESTDIR/PREFIX` (and `DESTDIR/etc`):
//!
//! ```text
//! PREFIX/bin/{ha-director,ipvsctl,vrrp-speaker,garp,check}
//! PREFIX/share/man/man1/TOOL.1
//! PREFIX/share/bash-completion/completions/TOOL
//! PREFIX/share/zsh/site-functions/_TOOL
//! PREFIX/share/fish/vendor_completions.d/TOOL.fish
//! PREFIX/lib/systemd/system/ha-director.service   (ExecStart= names PREFIX/bin)
//! PREFIX/share/doc/ha-director/examples/           (the example configurations)
//! /etc/ha-director/ha-director.toml                 (only when there is none yet)
//! ```
//!
//! Man pages and completions come from the installed binaries themselves
//! (`TOOL --generate man|completions DIR`, see `ha_examples::generate`), so they describe
//! exactly what is installed. `--bin-dir` installs binaries built elsewhere (a packaging step,
//! the install test) instead of building release ones.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{self, Result};

/// The tools installed, each with a man page and completions.
pub const TOOLS: &[&str] = &["ha-director", "ipvsctl", "vrrp-speaker", "garp", "check"];

/// Where to install.
#[derive(Debug, Clone)]
pub struct Options {
    /// The installation prefix (`/usr/local`).
    pub prefix: PathBuf,
    /// A staging root prepended to every path (packaging, tests); `/` for none.
    pub destdir: PathBuf,
    /// Prebuilt binaries to install instead of a release build.
    pub bin_dir: Option<PathBuf>,
}

/// `DESTDIR` + an absolute `path`.
fn staged(destdir: &Path, path: &Path) -> PathBuf {
    destdir.join(path.strip_prefix("/").unwrap_or(path))
}

fn copy(from: &Path, to: &Path, mode: u32, installed: &mut Vec<PathBuf>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = to.parent().expect("install paths have a parent");
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    std::fs::copy(from, to)
        .map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", to.display()))?;
    installed.push(to.to_path_buf());
    Ok(())
}

fn write(to: &Path, text: &str, installed: &mut Vec<PathBuf>) -> Result<()> {
    let dir = to.parent().expect("install paths have a parent");
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    std::fs::write(to, text).map_err(|e| format!("writing {}: {e}", to.display()))?;
    installed.push(to.to_path_buf());
    Ok(())
}

/// Builds the release binaries; returns the directory that holds them.
fn build_release() -> Result<PathBuf> {
    let mut cmd = util::cargo();
    cmd.args([
        "build",
        "--release",
        "--package",
        "ha-examples",
        "--message-format=json-render-diagnostics",
    ]);
    for t in TOOLS {
        cmd.args(["--bin", t]);
    }
    cmd.stderr(std::process::Stdio::inherit());
    let out = util::run_capture(&mut cmd)?;
    for line in out.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] == "compiler-artifact"
            && v["target"]["name"] == TOOLS[0]
            && let Some(dir) = v["executable"].as_str().and_then(|e| Path::new(e).parent())
        {
            return Ok(dir.to_path_buf());
        }
    }
    Err("cargo build --release did not report the ha-director executable".into())
}

/// Runs `exe --generate what DIR`.
fn generate(exe: &Path, what: &str, dir: &Path) -> Result<()> {
    util::run_capture(Command::new(exe).args(["--generate", what]).arg(dir)).map(|_| ())
}

/// Installs everything; returns the files written.
pub fn install(o: &Options) -> Result<Vec<PathBuf>> {
    if !o.prefix.is_absolute() {
        return Err(format!("--prefix {}: must be absolute", o.prefix.display()));
    }
    let bin_dir = match &o.bin_dir {
        Some(d) => d.clone(),
        None => build_release()?,
    };
    let root = util::root();
    let at = |rel: &str| staged(&o.destdir, &o.prefix.join(rel));
    let mut installed = Vec::new();

    let scratch = std::env::temp_dir().join(format!("xtask-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    for tool in TOOLS {
        let exe = bin_dir.join(tool);
        if !exe.is_file() {
            return Err(format!("{}: no such binary", exe.display()));
        }
        copy(&exe, &at("bin").join(tool), 0o755, &mut installed)?;
        let gen_dir = scratch.join(tool);
        generate(&exe, "man", &gen_dir)?;
        generate(&exe, "completions", &gen_dir)?;
        let files = [
            (
                format!("{tool}.1"),
                at("share/man/man1").join(format!("{tool}.1")),
            ),
            (
                format!("{tool}.bash"),
                at("share/bash-completion/completions").join(tool),
            ),
            (
                format!("_{tool}"),
                at("share/zsh/site-functions").join(format!("_{tool}")),
            ),
            (
                format!("{tool}.fish"),
                at("share/fish/vendor_completions.d").join(format!("{tool}.fish")),
            ),
        ];
        for (name, to) in files {
            copy(&gen_dir.join(&name), &to, 0o644, &mut installed)?;
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);

    // The unit, pointing at the binaries where they are installed.
    let unit_src = root.join("examples/director/ha-director.service");
    let unit = std::fs::read_to_string(&unit_src)
        .map_err(|e| format!("reading {}: {e}", unit_src.display()))?;
    let bin = o.prefix.join("bin");
    let unit = unit.replace("/usr/local/bin/", &format!("{}/", bin.display()));
    write(
        &at("lib/systemd/system").join("ha-director.service"),
        &unit,
        &mut installed,
    )?;

    // Example configurations, and /etc/ha-director/ha-director.toml if there is none yet.
    let examples = root.join("examples/director");
    let docs = at("share/doc/ha-director/examples");
    for name in [
        "ha-director.toml",
        "keepalived-complete.conf",
        "lvs-dr-master.conf",
        "all-checks.conf",
    ] {
        copy(
            &examples.join(name),
            &docs.join(name),
            0o644,
            &mut installed,
        )?;
    }
    let etc = staged(&o.destdir, Path::new("/etc/ha-director/ha-director.toml"));
    if etc.exists() {
        println!("kept {} (exists)", etc.display());
    } else {
        copy(
            &examples.join("ha-director.toml"),
            &etc,
            0o644,
            &mut installed,
        )?;
    }
    Ok(installed)
}

/// `cargo xtask install`.
pub fn run(o: &Options) -> Result<()> {
    let files = install(o)?;
    for f in &files {
        println!("installed {}", f.display());
    }
    println!("xtask: {} files installed", files.len());
    Ok(())
}
