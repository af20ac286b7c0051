//! Running the commands a director asks for: notify scripts, fence commands, resource steps and
//! track scripts.
//!
//! Every command is an argv (`argv[0]` is the program, looked up in `PATH`): no shell ever
//! interprets it. The child gets an empty environment but for `PATH`, no standard input, and
//! its standard output is discarded; the start of its standard error is kept for the log
//! ([`run_as_report`]). It runs at most `timeout`; then it is killed (`SIGKILL`) and the run
//! counts as failed. A child whose runtime goes away (a crash of the embedding program, a
//! dropped future) is killed too.

use std::process::Stdio;
use std::time::Duration;

/// `PATH` when the embedding process has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The user and group a command runs as (keepalived `script_user`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// Why a command did not exit normally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The argv is empty.
    #[error("empty command")]
    Empty,
    /// The program could not be started.
    #[error("starting {program:?}: {source}")]
    Spawn {
        /// `argv[0]`.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for the child failed.
    #[error("waiting for {program:?}: {source}")]
    Wait {
        /// `argv[0]`.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// It ran longer than allowed and was killed.
    #[error("{program:?} did not finish within {timeout:?} and was killed")]
    Timeout {
        /// `argv[0]`.
        program: String,
        /// The limit.
        timeout: Duration,
    },
    /// A signal ended it.
    #[error("{program:?} was killed by signal {signal}")]
    Signal {
        /// `argv[0]`.
        program: String,
        /// The signal number.
        signal: i32,
    },
}

/// Runs `argv` (no shell, environment cleared but for `PATH`) for at most `timeout`; returns its
/// exit status.
pub async fn run(argv: &[String], timeout: Duration) -> Result<i32, ExecError> {
    run_as(argv, timeout, None).await
}

/// [`run`] as `user` when given (the child's supplementary groups are dropped too; the
/// daemon needs CAP_SETUID and CAP_SETGID for it).
pub async fn run_as(
    argv: &[String],
    timeout: Duration,
    user: Option<User>,
) -> Result<i32, ExecError> {
    run_as_report(argv, timeout, user).await.map(|e| e.code)
}

/// How a command ended: its exit code and the first line of what it wrote to standard error
/// (at most [`STDERR_KEPT`] bytes read), which says why a check script failed
/// (`killall: nginx: no process found`, `Operation not permitted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// The exit code.
    pub code: i32,
    /// The first line of standard error, trimmed; empty when it wrote nothing.
    pub stderr: String,
}

/// Bytes of a child's standard error kept for [`Exit::stderr`].
pub const STDERR_KEPT: usize = 1024;

/// [`run_as`], keeping the start of the child's standard error.
pub async fn run_as_report(
    argv: &[String],
    timeout: Duration,
    user: Option<User>,
) -> Result<Exit, ExecError> {
    use std::os::unix::process::ExitStatusExt;
    use tokio::io::AsyncReadExt;

    let (program, args) = argv.split_first().ok_or(ExecError::Empty)?;
    let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    let mut cmd = tokio::process::Command::new(program);
    if let Some(u) = user {
        cmd.uid(u.uid).gid(u.gid);
    }
    let mut child = cmd
        .args(args)
        .env_clear()
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ExecError::Spawn {
            program: program.clone(),
            source,
        })?;
    // Standard error is read beside the wait, so a chatty child never blocks on a full pipe;
    // past STDERR_KEPT bytes the pipe is closed (the child gets EPIPE, as with a closed log).
    let stderr = child.stderr.take();
    let reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        if let Some(e) = stderr {
            let _ = e.take(STDERR_KEPT as u64).read_to_end(&mut buf).await;
        }
        buf
    });
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(r) => r.map_err(|source| ExecError::Wait {
            program: program.clone(),
            source,
        })?,
        Err(_) => {
            // SIGKILL and reap; the error that matters is the timeout.
            let _ = child.kill().await;
            return Err(ExecError::Timeout {
                program: program.clone(),
                timeout,
            });
        }
    };
    // A grandchild may hold standard error open after the child exited: wait briefly only.
    let buf = match tokio::time::timeout(Duration::from_millis(100), reader).await {
        Ok(Ok(b)) => b,
        _ => Vec::new(),
    };
    let text = String::from_utf8_lossy(&buf);
    let stderr = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_owned();
    match (status.code(), status.signal()) {
        (Some(code), _) => Ok(Exit { code, stderr }),
        (None, Some(signal)) => Err(ExecError::Signal {
            program: program.clone(),
            signal,
        }),
        (None, None) => Err(ExecError::Signal {
            program: program.clone(),
            signal: 0,
        }),
    }
}

/// Whether `argv` ran and exited 0 within `timeout`; failures are logged with `what`.
pub async fn succeeds(what: &str, argv: &[String], timeout: Duration) -> bool {
    succeeds_as(what, argv, timeout, None).await
}

/// [`succeeds`] as `user` when given.
pub async fn succeeds_as(
    what: &str,
    argv: &[String],
    timeout: Duration,
    user: Option<User>,
) -> bool {
    match run_as(argv, timeout, user).await {
        Ok(0) => true,
        Ok(code) => {
            tracing::warn!(what, ?argv, code, "command failed");
            false
        }
        Err(e) => {
            tracing::warn!(what, ?argv, error = %e, "command failed");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn the_first_line_of_standard_error_is_kept() {
        rt().block_on(async {
            let t = Duration::from_secs(10);
            let e = run_as_report(
                &argv(&["sh", "-c", "echo out; printf '\\n  killall: nginx: no process found  \\nmore\\n' >&2; exit 1"]),
                t,
                None,
            )
            .await
            .unwrap();
            assert_eq!(e.code, 1);
            assert_eq!(e.stderr, "killall: nginx: no process found");
            // A child that writes far more than is kept still finishes (no blocked pipe).
            let e = run_as_report(&argv(&["sh", "-c", "yes 2>/dev/null | head -c 1000000 >&2; exit 3"]), t, None)
                .await
                .unwrap();
            assert_eq!(e.code, 3);
            assert!(e.stderr.len() <= STDERR_KEPT);
        });
    }

    #[test]
    fn exit_status_timeout_and_environment() {
        rt().block_on(async {
            let t = Duration::from_secs(10);
            assert_eq!(run(&argv(&["true"]), t).await.unwrap(), 0);
            assert_eq!(run(&argv(&["sh", "-c", "exit 7"]), t).await.unwrap(), 7);
            assert!(matches!(run(&[], t).await, Err(ExecError::Empty)));
            assert!(matches!(
                run(&argv(&["/nonexistent/program"]), t).await,
                Err(ExecError::Spawn { .. })
            ));
            let started = std::time::Instant::now();
            assert!(matches!(
                run(&argv(&["sleep", "5"]), Duration::from_millis(100)).await,
                Err(ExecError::Timeout { .. })
            ));
            assert!(started.elapsed() < Duration::from_secs(4));
            // Only PATH survives: HOME (set in any test environment) is gone.
            assert!(std::env::var_os("PATH").is_some());
            let code = run(
                &argv(&[
                    "sh",
                    "-c",
                    "test -z \"$HOME$USER$CARGO\" && test -n \"$PATH\"",
                ]),
                t,
            )
            .await
            .unwrap();
            assert_eq!(code, 0, "environment not cleared");
            // No shell: metacharacters are plain arguments.
            assert_eq!(
                run(&argv(&["test", "a;b", "=", "a;b"]), t).await.unwrap(),
                0
            );
        });
    }

    #[test]
    fn runs_as_the_given_user() {
        // SAFETY-free check of who we are: only root may switch users.
        let me = std::fs::metadata("/proc/self").map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid()
        });
        rt().block_on(async {
            let t = Duration::from_secs(10);
            let nobody = User {
                uid: 65534,
                gid: 65534,
            };
            let r = run_as(
                &argv(&["sh", "-c", "test \"$(id -u):$(id -g)\" = 65534:65534"]),
                t,
                Some(nobody),
            )
            .await;
            if me.ok() == Some(0) {
                assert_eq!(r.unwrap(), 0, "the command did not run as 65534:65534");
            } else {
                // Not root: the switch is refused, and says so.
                assert!(matches!(r, Err(ExecError::Spawn { .. })), "{r:?}");
            }
        });
    }
}
