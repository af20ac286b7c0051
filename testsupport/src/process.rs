//! Background processes of a lab: started in their own process group so that a kill reaches
//! their children too (tshark's dumpcap, keepalived's VRRP and checker children).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A process started by [`crate::Lab::spawn`]. Clones share the same process.
#[derive(Debug, Clone)]
pub struct Proc {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    program: std::ffi::OsString,
    args: Vec<std::ffi::OsString>,
    base: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl Proc {
    pub(crate) fn start(cmd: Command, base: PathBuf) -> Proc {
        let program = cmd.get_program().to_owned();
        let args = cmd.get_args().map(|a| a.to_owned()).collect();
        let mut inner = Inner {
            program,
            args,
            base,
            child: None,
            starts: 0,
        };
        inner.launch();
        Proc {
            inner: Arc::new(Mutex::new(inner)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.lock().child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Sends `sig` to the process group without waiting.
    pub fn signal(&self, sig: i32) {
        let pid = self.pid();
        if pid != 0 {
            crate::sys::kill_group(pid, sig);
        }
    }

    /// Sends `sig` to the process group and waits (at most 10 s) until the process has exited
    /// and been reaped; a process that ignores `sig` is then sent SIGKILL.
    pub fn kill(&self, sig: i32) {
        self.signal(sig);
        if !self.wait_exit(Duration::from_secs(10)) {
            self.signal(libc::SIGKILL);
            self.wait_exit(Duration::from_secs(10));
        }
    }

    /// Waits at most `timeout` for the process to exit; true when it has.
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        crate::wait_until(timeout, || !self.is_running())
    }

    /// Whether the process is still running (reaps it when it has exited).
    pub fn is_running(&self) -> bool {
        let mut g = self.lock();
        match g.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The exit status, once the process has exited.
    pub fn exit_status(&self) -> Option<std::process::ExitStatus> {
        let mut g = self.lock();
        g.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Kills the process (SIGKILL) if it runs and starts the same command again.
    pub fn restart(&self) {
        self.kill(libc::SIGKILL);
        self.lock().launch();
    }

    /// Everything the process (all its starts) wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.lock().base.with_extension("out")).unwrap_or_default()
    }

    /// Everything the process (all its starts) wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.lock().base.with_extension("err")).unwrap_or_default()
    }
}

impl Inner {
    fn launch(&mut self) {
        let open = |ext: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.base.with_extension(ext))
                .unwrap_or_else(|e| panic!("open {}: {e}", self.base.display()))
        };
        let (out, err) = (open("out"), open("err"));
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?} {:?}: {e}", self.program, self.args));
        self.child = Some(child);
        self.starts += 1;
    }
}

/// Waits for `child` (with piped stdout/stderr) at most `cap`, killing it when it takes longer.
pub(crate) fn wait_with_cap(mut child: Child, cap: Duration, desc: &str) -> Output {
    let mut out_pipe = child.stdout.take();
    let mut err_pipe = child.stderr.take();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(p) = out_pipe.as_mut() {
            let _ = p.read_to_end(&mut v);
        }
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(p) = err_pipe.as_mut() {
            let _ = p.read_to_end(&mut v);
        }
        v
    });
    let deadline = Instant::now() + cap;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{desc} did not finish within {cap:?}");
            }
        }
    };
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}
