//! keepalived's notify command lines.

use super::{NotifyScripts, NotifyState};

/// The keepalived notify command lines for a state change.
pub(super) fn notify_argvs(
    scripts: &NotifyScripts,
    kind: &str,
    name: &str,
    state: NotifyState,
    priority: u8,
) -> Vec<Vec<String>> {
    let specific = match state {
        NotifyState::Master => &scripts.master,
        NotifyState::Backup => &scripts.backup,
        NotifyState::Fault => &scripts.fault,
        NotifyState::Stop => &scripts.stop,
    };
    let mut out = Vec::new();
    if let Some(argv) = specific {
        out.push(argv.clone());
    }
    if let Some(argv) = &scripts.generic {
        let mut a = argv.clone();
        a.extend([
            kind.to_owned(),
            name.to_owned(),
            state.as_str().to_owned(),
            priority.to_string(),
        ]);
        out.push(a);
    }
    out
}
