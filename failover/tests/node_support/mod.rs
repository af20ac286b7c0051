//! Shared harness of the runtime tests (host and VM suites): one director node running
//! `runtime::director::run_with` on its own thread, inside a host's network namespace.
#![allow(dead_code)]

use ha_failover::core::{Cause, DirectorEvent};
use ha_failover::runtime::director::{
    DirectorConfig, DirectorCounters, Reload, ReloadReport, RunIo, RuntimeEvent, run_with,
};
use ha_failover::runtime::status::{Status, StatusReader, status_channel};
use ha_failover::vrrp::router::State;
use ha_testsupport::Host;
use tokio::sync::{mpsc, oneshot, watch};

type Outcome = Option<Result<DirectorCounters, String>>;

/// A node: the director runtime on a current-thread tokio runtime inside a namespace.
pub struct Node {
    stop: watch::Sender<bool>,
    crash: Option<oneshot::Sender<()>>,
    events: mpsc::UnboundedReceiver<RuntimeEvent>,
    seen: Vec<RuntimeEvent>,
    status: StatusReader,
    reload: mpsc::UnboundedSender<Reload>,
    thread: Option<std::thread::JoinHandle<Outcome>>,
}

impl Node {
    /// Starts `cfg` in `host`'s namespace.
    pub fn start(host: &Host, cfg: DirectorConfig) -> Node {
        let (stop, stop_rx) = watch::channel(false);
        let (crash, crash_rx) = oneshot::channel::<()>();
        let (ev_tx, events) = mpsc::unbounded_channel();
        let (st_tx, status) = status_channel();
        let (reload, reload_rx) = mpsc::unbounded_channel();
        let h = host.clone();
        let thread = std::thread::spawn(move || {
            h.run_in(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let mut io = RunIo::new(stop_rx);
                io.events = Some(ev_tx);
                io.status = Some(st_tx);
                io.reload = Some(reload_rx);
                // Leaving block_on drops the runtime and every task: a crash, nothing cleaned.
                rt.block_on(async move {
                    tokio::select! {
                        r = run_with(cfg, io) => Some(r.map_err(|e| e.to_string())),
                        _ = crash_rx => None,
                    }
                })
            })
        });
        Node {
            stop,
            crash: Some(crash),
            events,
            seen: Vec::new(),
            status,
            reload,
            thread: Some(thread),
        }
    }

    /// Collects the events so far.
    pub fn poll(&mut self) -> &[RuntimeEvent] {
        while let Ok(e) = self.events.try_recv() {
            self.seen.push(e);
        }
        &self.seen
    }

    /// A status snapshot, asked of the node (the empty status before its loop runs or if it
    /// ended without one).
    pub fn status(&self) -> Status {
        Status::clone(&self.snapshot())
    }

    /// [`Node::status`], shared (no copy).
    fn snapshot(&self) -> std::sync::Arc<Status> {
        self.status.blocking_get().unwrap_or_default()
    }

    /// The node's status reader (it outlives the node: after the stop it gives the last
    /// snapshot).
    pub fn status_reader(&self) -> StatusReader {
        self.status.clone()
    }

    /// Every instance's state, from the status.
    pub fn states(&self) -> Vec<State> {
        self.snapshot().instances.iter().map(|i| i.state).collect()
    }

    /// Every instance's transition count, from the status.
    pub fn transitions(&self) -> Vec<u64> {
        self.snapshot()
            .instances
            .iter()
            .map(|i| i.transitions)
            .collect()
    }

    /// Switches to `cfg` and waits for the answer.
    pub fn reload(&self, cfg: DirectorConfig) -> Result<ReloadReport, String> {
        let (done, rx) = oneshot::channel();
        self.reload.send(Reload { config: cfg, done }).unwrap();
        rx.blocking_recv()
            .expect("the director answers")
            .map_err(|e| e.to_string())
    }

    /// The last state reported for an instance, from the events.
    pub fn state(&mut self, instance: u32) -> Option<State> {
        self.poll().iter().rev().find_map(|e| match e {
            RuntimeEvent::Director(DirectorEvent::Transition {
                instance: i, to, ..
            }) if i.0 == instance => Some(*to),
            _ => None,
        })
    }

    /// The causes of every transition to Master so far.
    pub fn master_causes(&mut self) -> Vec<Cause> {
        self.poll()
            .iter()
            .filter_map(|e| match e {
                RuntimeEvent::Director(DirectorEvent::Transition {
                    to: State::Master,
                    cause,
                    ..
                }) => Some(*cause),
                _ => None,
            })
            .collect()
    }

    /// Drops the running future without any cleanup.
    pub fn crash(mut self) {
        if let Some(c) = self.crash.take() {
            let _ = c.send(());
        }
        let r = self.thread.take().unwrap().join().expect("node thread");
        assert!(r.is_none(), "the node ended before the crash: {r:?}");
    }

    /// Asks for a clean shutdown and returns the counters.
    pub fn stop(mut self) -> DirectorCounters {
        self.stop.send(true).unwrap();
        let r = self.thread.take().unwrap().join().expect("node thread");
        match r {
            Some(Ok(c)) => c,
            other => panic!("the node did not stop cleanly: {other:?}"),
        }
    }

    /// Panics with the error if the node has stopped by itself.
    pub fn check_running(&mut self) {
        if self.thread.as_ref().is_some_and(|t| t.is_finished()) {
            let r = self.thread.take().unwrap().join();
            panic!("the node stopped by itself: {r:?}");
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = self.stop.send(true);
            let _ = t.join();
        }
    }
}
