//! Build script: the program version string (`--version`) with the git commit
//! when the sources are a git checkout; the crate version alone otherwise (a
//! packaged crate, a tarball, no git installed).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let version = env!("CARGO_PKG_VERSION");
    let full = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(commit) => {
            // Rebuild when HEAD moves: HEAD itself and the branch it names.
            for p in ["HEAD", "packed-refs"] {
                if let Some(path) = git(&["rev-parse", "--git-path", p]) {
                    println!("cargo:rerun-if-changed={path}");
                }
            }
            let branch = git(&["symbolic-ref", "-q", "HEAD"])
                .and_then(|head| git(&["rev-parse", "--git-path", &head]));
            if let Some(path) = branch {
                println!("cargo:rerun-if-changed={path}");
            }
            format!("{version} (git {commit})")
        }
        None => version.to_string(),
    };
    println!("cargo:rustc-env=HA_VERSION={full}");
}
