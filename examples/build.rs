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
            // Rebuild when HEAD moves: HEAD itself and the branch it names, loose or packed.
            // Only files that exist: cargo reruns the script on every build while a watched
            // file is missing (a checkout without `packed-refs` rebuilt this crate, and
            // re-linked every release binary, each time). A loose branch file that is packed
            // away is a change that triggers a rerun.
            let branch = git(&["symbolic-ref", "-q", "HEAD"]);
            let refs = ["HEAD", "packed-refs"]
                .into_iter()
                .chain(branch.as_deref())
                .filter_map(|p| git(&["rev-parse", "--git-path", p]))
                .filter(|path| std::path::Path::new(path).exists());
            for path in refs {
                println!("cargo:rerun-if-changed={path}");
            }
            format!("{version} (git {commit})")
        }
        None => version.to_string(),
    };
    println!("cargo:rustc-env=HA_VERSION={full}");
}
