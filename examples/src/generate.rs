//! Man pages and shell completions, generated from a program's own clap definition.
//!
//! Each tool (`ha-director`, `ipvsctl`, `vrrp-speaker`, `garp`, `check`) calls
//! [`run_if_asked`] first thing in `main`; run as `TOOL --generate man DIR` it writes
//! `DIR/TOOL.1`, as `TOOL --generate completions DIR` it writes `DIR/TOOL.bash`,
//! `DIR/_TOOL` (zsh) and `DIR/TOOL.fish`, and exits. `cargo xtask install` runs the release
//! binaries it installs this way, so the pages always describe the very binary installed, and
//! each tool's CLI definition stays in its own file (one copy) with no generator crate that
//! would have to link all of them.
//!
//! `--generate` is not in the tools' `--help`: it is for packaging, not for users.

use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

/// What `--generate` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact {
    /// `NAME.1`, a roff man page for section 1.
    Man,
    /// `NAME.bash`, `_NAME` and `NAME.fish`.
    Completions,
}

/// If the program was run as `PROG --generate man|completions DIR`, writes what was asked for
/// `C`'s command and returns the exit code; `None` otherwise (the program goes on).
pub fn run_if_asked<C: CommandFactory>() -> Option<ExitCode> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.first().map(|a| a == "--generate") != Some(true) {
        return None;
    }
    let cmd = C::command();
    let name = cmd.get_name().to_owned();
    let what = match args.get(1).and_then(|a| a.to_str()) {
        Some("man") => Artifact::Man,
        Some("completions") => Artifact::Completions,
        _ => {
            eprintln!("{name}: usage: {name} --generate man|completions DIR");
            return Some(ExitCode::from(2));
        }
    };
    let (Some(dir), 3) = (args.get(2), args.len()) else {
        eprintln!("{name}: usage: {name} --generate man|completions DIR");
        return Some(ExitCode::from(2));
    };
    Some(match generate(cmd, what, Path::new(dir)) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: --generate: {}: {e}", Path::new(dir).display());
            ExitCode::FAILURE
        }
    })
}

/// Writes `what` for `cmd` into `dir` (created if missing); returns the files written.
///
/// # Errors
/// Creating `dir` or writing a file.
pub fn generate(
    mut cmd: clap::Command,
    what: Artifact,
    dir: &Path,
) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let name = cmd.get_name().to_owned();
    match what {
        Artifact::Man => {
            let path = dir.join(format!("{name}.1"));
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut buf)?;
            std::fs::write(&path, buf)?;
            Ok(vec![path])
        }
        Artifact::Completions => [Shell::Bash, Shell::Zsh, Shell::Fish]
            .into_iter()
            .map(|shell| clap_complete::generate_to(shell, &mut cmd, &name, dir))
            .collect(),
    }
}
