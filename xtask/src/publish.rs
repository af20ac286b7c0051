//! The lint suite's publishing checks for the library crates: their docs build without
//! warnings (default features, all features, and as docs.rs builds them), `cargo package`
//! packages and builds them, their declared dependency lower bounds are real
//! (`-Z direct-minimal-versions`), and the declared `rust-version` builds them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::setup;
use crate::util::{self, Result, fmt_duration};

/// The published library crates, each in the folder of the same index in [`DIRS`].
pub const CRATES: &[&str] = &[
    "ha-vrrp-proto",
    "ha-arp",
    "ha-ipvs",
    "ha-healthcheck",
    "ha-failover",
    "ha-bgp",
    "ha-bfd",
];

/// The folders of [`CRATES`].
const DIRS: &[&str] = &[
    "vrrp-proto",
    "arp",
    "ipvs",
    "healthcheck",
    "failover",
    "bgp",
    "bfd",
];

/// Folders the library crates need besides their own: path dev-dependencies (resolved, even
/// though `cargo check` does not build them).
const SUPPORT_DIRS: &[&str] = &["testsupport"];

/// The toolchain of the minimal-versions check and of the docs.rs build.
const NIGHTLY: &str = "nightly";

/// Runs every publishing check (all of them, even after a failure); one message per failure.
pub fn checks(install: bool) -> Vec<String> {
    let mut failures = Vec::new();
    let steps: [(&str, &dyn Fn() -> Result<()>); 5] = [
        (
            "cargo doc -D warnings (default and all features)",
            &docs_stable,
        ),
        ("docs.rs build (nightly, --cfg docsrs)", &|| {
            docs_rs(install)
        }),
        ("cargo package", &package),
        ("minimal versions", &|| minimal_versions(install)),
        ("MSRV", &|| msrv(install)),
    ];
    for (name, step) in steps {
        let start = Instant::now();
        let result = step();
        eprintln!(
            "publish check {name}: {} in {}",
            if result.is_ok() { "ok" } else { "FAILED" },
            fmt_duration(start.elapsed())
        );
        if let Err(e) = result {
            failures.push(e);
        }
    }
    failures
}

/// `-p CRATE` for each published crate.
fn package_args() -> Vec<&'static str> {
    CRATES.iter().flat_map(|c| ["-p", *c]).collect()
}

/// The target folder of this build (`CARGO_TARGET_DIR` or `target/`).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| util::root().join("target"))
}

/// `rustup run TOOLCHAIN cargo`, in the workspace root, with the environment of the outer
/// cargo that would pin the toolchain removed.
fn cargo_on(toolchain: &str) -> Command {
    let mut c = Command::new("rustup");
    c.args(["run", toolchain, "cargo"])
        .current_dir(util::root())
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC");
    c
}

/// `cargo doc --no-deps` of the library crates with `-D warnings`, default features and all
/// features (broken or private intra-doc links, bad code blocks, missing feature gates).
fn docs_stable() -> Result<()> {
    for all in [false, true] {
        let mut cmd = util::cargo();
        cmd.args(["doc", "--no-deps", "--keep-going"])
            .args(package_args())
            .env("RUSTDOCFLAGS", "-D warnings");
        if all {
            cmd.arg("--all-features");
        }
        util::run_inherit(&mut cmd)?;
    }
    Ok(())
}

/// The docs as docs.rs builds them (`[package.metadata.docs.rs]`: all features, `--cfg
/// docsrs`, which turns on the feature badges of `doc_cfg`, a nightly feature), with
/// `-D warnings`.
fn docs_rs(install: bool) -> Result<()> {
    setup::ensure_toolchain(NIGHTLY, install)?;
    let mut cmd = cargo_on(NIGHTLY);
    cmd.args(["doc", "--no-deps", "--keep-going", "--all-features"])
        .args(package_args())
        .env("RUSTDOCFLAGS", "--cfg docsrs -D warnings")
        .env("CARGO_TARGET_DIR", target_dir().join("xtask-nightly"));
    util::run_inherit(&mut cmd)
}

/// `cargo package` of the library crates: packages them together (cargo puts the packaged
/// crates in a local registry overlay so that they depend on each other's packages) and
/// builds each packaged crate, so a file missing from a package fails here. Also checks that
/// each package carries the README and both license files.
fn package() -> Result<()> {
    // Verification builds each package against the others taken from a temporary registry,
    // and cargo takes a registry crate of an unchanged version for an unchanged crate: a
    // build of ours cached by an earlier run would be reused after its source changed (a new
    // `Router` method was "not found" verifying ha-failover). So the packages are verified in
    // a target dir of their own, from which our crates' cached builds are removed first; the
    // dependencies' builds stay.
    let dir = target_dir().join("xtask-package");
    forget_our_builds(&dir)?;
    let mut cmd = util::cargo();
    cmd.args(["package", "--allow-dirty"])
        .args(package_args())
        .env("CARGO_TARGET_DIR", &dir);
    util::run_inherit(&mut cmd)?;
    for krate in CRATES {
        let files = util::run_capture(util::cargo().args([
            "package",
            "--list",
            "--allow-dirty",
            "-p",
            krate,
        ]))?;
        for want in ["README.md", "LICENSE-MIT", "LICENSE-APACHE"] {
            if !files.lines().any(|l| l == want) {
                return Err(format!(
                    "the {krate} package lacks {want} (cargo package --list -p {krate})"
                ));
            }
        }
    }
    Ok(())
}

/// Removes the cached builds of the workspace's crates (`ha-*`, `ha_*`) under `dir`.
fn forget_our_builds(dir: &Path) -> Result<()> {
    for sub in ["debug/.fingerprint", "debug/deps", "debug/build"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ours = ["ha-", "ha_", "libha_"].iter().any(|p| name.starts_with(p));
            if !ours {
                continue;
            }
            let path = e.path();
            let r = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            r.map_err(|err| format!("cannot remove {}: {err}", path.display()))?;
        }
    }
    Ok(())
}

/// Resolves the library crates with `-Z direct-minimal-versions` (each direct dependency at
/// the lowest version its requirement allows) and checks them with all features, in a copy
/// of the workspace whose members are the library crates alone: the real `Cargo.lock` is
/// never touched. A failure means a requirement in `Cargo.toml` is lower than what the code
/// (or another dependency) needs: raise it to the version that builds.
fn minimal_versions(install: bool) -> Result<()> {
    setup::ensure_toolchain(NIGHTLY, install)?;
    let work = target_dir().join("xtask-minimal-versions");
    let src = work.join("src");
    if src.exists() {
        std::fs::remove_dir_all(&src)
            .map_err(|e| format!("cannot clear {}: {e}", src.display()))?;
    }
    let root = util::root();
    for dir in DIRS.iter().chain(SUPPORT_DIRS) {
        copy_tree(&root.join(dir), &src.join(dir))?;
    }
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))
        .map_err(|e| format!("cannot read Cargo.toml: {e}"))?;
    let manifest = libraries_only(&manifest)?;
    std::fs::write(src.join("Cargo.toml"), manifest)
        .map_err(|e| format!("cannot write {}: {e}", src.display()))?;

    let mut resolve = cargo_on(NIGHTLY);
    resolve
        .current_dir(&src)
        .args(["-Z", "direct-minimal-versions", "generate-lockfile"]);
    util::run_inherit(&mut resolve).map_err(|e| {
        format!(
            "{e}: a dependency requirement in Cargo.toml is lower than another dependency needs"
        )
    })?;
    let mut check = cargo_on(NIGHTLY);
    check
        .current_dir(&src)
        .args(["check", "--workspace", "--all-features"])
        .env("CARGO_TARGET_DIR", work.join("target"));
    util::run_inherit(&mut check).map_err(|e| {
        format!(
            "{e}: the library crates do not build with their dependencies at the lowest declared versions; raise the requirement in Cargo.toml"
        )
    })
}

/// The workspace manifest with `members` replaced by the library crates and
/// `default-members` removed.
fn libraries_only(manifest: &str) -> Result<String> {
    let mut out = String::new();
    let mut skipping = false;
    let mut replaced = false;
    for line in manifest.lines() {
        if skipping {
            if line.trim_start().starts_with(']') {
                skipping = false;
            }
            continue;
        }
        let key = line.split('=').next().unwrap_or("").trim();
        if key == "members" || key == "default-members" {
            skipping = !line.contains(']');
            if key == "members" {
                let list: Vec<String> = DIRS.iter().map(|d| format!("{d:?}")).collect();
                out.push_str(&format!("members = [{}]\n", list.join(", ")));
                replaced = true;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if replaced {
        Ok(out)
    } else {
        Err("Cargo.toml has no workspace `members` list".into())
    }
}

/// Copies a folder recursively, without `target` folders and fuzz workspaces.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        let name = entry.file_name();
        if name == "target" || name == "fuzz" {
            continue;
        }
        let path = entry.path();
        // Follows symlinks (the license files are links to the workspace root's).
        if path.is_dir() {
            copy_tree(&path, &to.join(&name))?;
        } else {
            std::fs::copy(&path, to.join(&name))
                .map_err(|e| format!("cannot copy {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// The workspace's `rust-version` (from `[workspace.package]`).
fn declared_msrv() -> Result<String> {
    let manifest = std::fs::read_to_string(util::root().join("Cargo.toml"))
        .map_err(|e| format!("cannot read Cargo.toml: {e}"))?;
    manifest
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == "rust-version").then(|| v.trim().trim_matches('"').to_string())
        })
        .ok_or_else(|| "Cargo.toml declares no rust-version".into())
}

/// Checks the library crates (all features, the committed `Cargo.lock`) with the toolchain of
/// the declared `rust-version`, so the MSRV is one that is built, not claimed.
fn msrv(install: bool) -> Result<()> {
    let version = declared_msrv()?;
    setup::ensure_toolchain(&version, install)?;
    let mut cmd = cargo_on(&version);
    cmd.args(["check", "--locked", "--all-features"])
        .args(package_args())
        .env("CARGO_TARGET_DIR", target_dir().join("xtask-msrv"));
    util::run_inherit(&mut cmd).map_err(|e| {
        format!(
            "{e}: the library crates do not build with Rust {version}, their declared rust-version"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_keeps_only_the_libraries() {
        let m = "[workspace]\nresolver = \"3\"\nmembers = [\n    \"vrrp-proto\",\n    \"examples\",\n]\ndefault-members = [\"examples\"]\n\n[workspace.package]\nrust-version = \"1.88\"\n";
        let out = libraries_only(m).unwrap();
        assert!(out.contains(
            "members = [\"vrrp-proto\", \"arp\", \"ipvs\", \"healthcheck\", \"failover\", \"bgp\", \"bfd\"]\n"
        ));
        assert!(!out.contains("examples"));
        assert!(out.contains("rust-version = \"1.88\""));
        assert!(libraries_only("[workspace]\n").is_err());
    }

    #[test]
    fn crates_and_folders_agree() {
        assert_eq!(CRATES.len(), DIRS.len());
        for (krate, dir) in CRATES.iter().zip(DIRS) {
            let manifest =
                std::fs::read_to_string(util::root().join(dir).join("Cargo.toml")).unwrap();
            assert!(manifest.contains(&format!("name = \"{krate}\"")), "{dir}");
        }
    }
}
