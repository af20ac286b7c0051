//! Small helpers: the workspace root, running commands, formatting durations.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// An error of an xtask command: a sentence for a person.
pub type Result<T> = std::result::Result<T, String>;

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// The `cargo` that runs us (so the same toolchain builds the tests).
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

/// Runs a command with inherited stdio; Ok when it exits 0.
pub fn run_inherit(cmd: &mut Command) -> Result<()> {
    let desc = describe(cmd);
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {desc}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{desc} failed ({status})"))
    }
}

/// Runs a command capturing stdout; Ok(stdout) when it exits 0, else an error with stderr.
pub fn run_capture(cmd: &mut Command) -> Result<String> {
    let desc = describe(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {desc}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{desc} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `program args...` as a person would type it.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Whether a program is on `PATH` (or in /usr/sbin, /sbin).
pub fn have(program: &str) -> bool {
    find(program).is_some()
}

/// The full path of a program on `PATH` (or in /usr/sbin, /sbin).
pub fn find(program: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/local/bin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Whether the effective user is root (read from /proc, no unsafe needed).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// `1m 02.3s` / `4.56s`.
pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 60.0 {
        format!("{}m {:04.1}s", (s / 60.0).floor() as u64, s % 60.0)
    } else {
        format!("{s:.2}s")
    }
}

/// Sums the "N passed" of every libtest summary line in `output`; None when there is none.
pub fn count_passed(output: &str) -> Option<usize> {
    let mut total = None;
    for line in output.lines() {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            continue;
        };
        let n = rest
            .split(". ")
            .nth(1)
            .and_then(|p| p.strip_suffix(" passed").or_else(|| p.split(' ').next()))
            .and_then(|n| n.trim().parse::<usize>().ok());
        if let Some(n) = n {
            *total.get_or_insert(0) += n;
        }
    }
    total
}

/// Lines kept of each failing test's output by [`failure_excerpts`].
const EXCERPT_LINES: usize = 30;

/// Each failing test's own output from libtest's `---- NAME stdout ----` blocks in `output`
/// (its panic message and the lines it printed), at most [`EXCERPT_LINES`] lines each, with
/// backtrace frames left out: what the summary repeats so that the reason is in the last
/// screen of a long log.
pub fn failure_excerpts(output: &str) -> String {
    let mut text = String::new();
    let mut kept = None;
    for line in output.lines() {
        let trimmed = line.trim_start();
        if line.starts_with("---- ") && line.ends_with(" ----") {
            kept = Some(0);
            text.push_str(line);
            text.push('\n');
            continue;
        }
        if line == "failures:" || line.starts_with("test result: ") {
            kept = None;
            continue;
        }
        let Some(n) = kept.as_mut() else { continue };
        let frame = trimmed.starts_with("at ")
            || trimmed
                .split_once(": ")
                .is_some_and(|(k, _)| k.parse::<u32>().is_ok());
        if frame || *n >= EXCERPT_LINES {
            continue;
        }
        *n += 1;
        text.push_str(line);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_excerpts_keep_each_failing_test_without_backtrace() {
        let out = "running 2 tests\ntest a ... ok\ntest b ... FAILED\n\nfailures:\n\n\
                   ---- b stdout ----\nthread 'b' panicked at x.rs:1:2:\nthe reason\n\
                   stack backtrace:\n   0: std::panic\n             at /rustc/p.rs:1\n\n\
                   failures:\n    b\n\ntest result: FAILED. 1 passed; 1 failed\n";
        assert_eq!(
            failure_excerpts(out),
            "---- b stdout ----\nthread 'b' panicked at x.rs:1:2:\nthe reason\nstack backtrace:\n\n"
        );
        let long: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let out = format!("failures:\n\n---- c stdout ----\n{long}\nfailures:\n    c\n");
        assert_eq!(failure_excerpts(&out).lines().count(), 1 + EXCERPT_LINES);
        assert_eq!(failure_excerpts("test result: ok. 3 passed"), "");
    }

    #[test]
    fn counts_passed_tests_across_binaries() {
        let out = "running 2 tests\ntest a ... ok\n\ntest result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 5 filtered out; finished in 0.1s\n\
                   test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out; finished in 0.0s\n\
                   test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.0s\n";
        assert_eq!(count_passed(out), Some(5));
        assert_eq!(count_passed("nothing here"), None);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(fmt_duration(Duration::from_millis(4560)), "4.56s");
        assert_eq!(fmt_duration(Duration::from_millis(62_300)), "1m 02.3s");
    }
}
