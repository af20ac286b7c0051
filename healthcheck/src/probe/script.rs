//! External program check (keepalived MISC_CHECK).
//!
//! The program runs without a shell unless asked, in a process group of its own, with an
//! empty environment plus a minimal `PATH` (the daemon's variables never leak), stdin,
//! stdout and stderr on /dev/null, and every other descriptor closed (tokio/std create all
//! descriptors with CLOEXEC). At the timeout the whole group gets SIGKILL and is reaped.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::sys::kill_process_group;
use crate::check::ScriptCheck;
use crate::outcome::{Failure, Outcome, outcome_from_exit};

/// The only inherited-looking variable a script gets.
const MIN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Kills the process group when dropped while armed (the probe future was cancelled).
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take() {
            kill_process_group(pgid);
        }
    }
}

pub(crate) async fn run(c: &ScriptCheck, timeout: Duration) -> Outcome {
    let mut cmd = if c.shell {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(c.argv.join(" "));
        cmd
    } else {
        let Some((prog, args)) = c.argv.split_first() else {
            return Outcome::Down(Failure::Setup("script: empty argv".into()));
        };
        let mut cmd = Command::new(prog);
        cmd.args(args);
        cmd
    };
    cmd.env_clear()
        .env("PATH", MIN_PATH)
        .envs(c.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Outcome::Down(Failure::Setup(format!("spawn {:?}: {e}", c.argv)));
        }
    };
    let mut guard = GroupGuard(child.id());
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            if let Some(pgid) = guard.0.take() {
                kill_process_group(pgid);
            }
            let _ = child.kill().await; // reaps the leader
            return Outcome::Down(Failure::Timeout);
        }
    };
    // The leader is gone; kill anything it left behind in its group.
    if let Some(pgid) = guard.0.take() {
        kill_process_group(pgid);
    }
    match status {
        Ok(st) => match st.code() {
            Some(code) => outcome_from_exit(code, c.dynamic),
            None => {
                use std::os::unix::process::ExitStatusExt;
                Outcome::Down(Failure::Signal(st.signal().unwrap_or(0)))
            }
        },
        Err(e) => Outcome::Down(Failure::Setup(format!("wait: {e}"))),
    }
}
