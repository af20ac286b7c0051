//! A reader of heartbeat's configuration (`ha.cf`, `haresources`, `authkeys`, and the
//! `ldirectord.cf` that `haresources` names), for heartbeat 1.2 to 3.0 users moving to
//! ha-director. The three files are read into [`hacf::HaCf`], [`haresources::Group`]s and
//! [`authkeys::AuthKeys`], then mapped onto the [`Config`](super::Config) model by
//! [`load_heartbeat_dir`]:
//!
//! - each `haresources` line is a VRRP instance `groupN` (VRID N, counted from 1) whose
//!   resources are its resource group's steps, started in order and stopped in reverse;
//! - `keepalive` is the advert interval, `deadtime` the exact Master_Down_Interval,
//!   `initdead` the first one after start, `warntime` the late-advert warning;
//! - the `ucast`/`bcast`/`mcast` lines are the advert paths: the first interface carries the
//!   instance, the others are redundant paths (the peer is dead only when silent on all);
//! - `auto_failback on` (and `legacy`) gives the home node priority 101 and the others 100,
//!   with preemption; `off` gives every node 100 (equal priorities never preempt), and a node
//!   that is not the home node waits one more `keepalive` at start so the home node wins a
//!   simultaneous start, as heartbeat does;
//! - `ping` / `ping_group` are ping trackers of weight 2 each (ipfail's rule: the node that
//!   reaches fewer ping nodes has the lower priority and gives the resources up, which
//!   outweighs the home node's 1);
//! - `authkeys` md5/sha1 sign adverts with an HMAC trailer (crc: plain VRRP);
//! - `stonith_host` is a fence command run before taking over; `watchdog` is fed every
//!   `keepalive`.

pub mod authkeys;
pub mod hacf;
pub mod haresources;
pub mod lex;
mod map;

use std::fmt;

pub use map::{Options, load_heartbeat_dir};

use super::Location;

/// What is wrong at a place of a heartbeat file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeartbeatErrorKind {
    /// A directive heartbeat does not know.
    #[error("unknown directive `{keyword}`")]
    UnknownKeyword {
        /// The directive.
        keyword: String,
    },
    /// A directive without its argument.
    #[error("`{keyword}` needs an argument")]
    MissingArgument {
        /// The directive.
        keyword: String,
    },
    /// An argument that does not parse.
    #[error("`{keyword}`: bad value {value:?}, expected {expected}")]
    BadValue {
        /// The directive.
        keyword: String,
        /// The value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// Something given twice.
    #[error("duplicate {what}")]
    Duplicate {
        /// What.
        what: String,
    },
    /// `auth N` names a key that no line lists.
    #[error(
        "`auth {id}` names key {id}, but no `{id} METHOD [KEY]` line lists it (listed: {listed})"
    )]
    UnlistedKey {
        /// The number `auth` names.
        id: u8,
        /// The numbers listed, or `none`.
        listed: String,
    },
    /// Something required is missing.
    #[error("missing {what}")]
    Missing {
        /// What.
        what: &'static str,
    },
    /// A directive that needs a part ha-director does not have.
    #[error("`{keyword}` is not supported: {reason}")]
    Unsupported {
        /// The directive.
        keyword: String,
        /// Why, and what to do instead.
        reason: &'static str,
    },
    /// Timings heartbeat would refuse, or VRRP cannot carry.
    #[error("{0}")]
    Timing(String),
    /// `authkeys` readable or writable by others.
    #[error(
        "mode {mode:o}: authkeys holds secrets and must be readable by its owner only (chmod 600), as heartbeat requires"
    )]
    Permissions {
        /// The file's mode bits.
        mode: u32,
    },
    /// The node, a resource or a file does not fit the rest of the configuration.
    #[error("{0}")]
    Inconsistent(String),
    /// A file could not be read.
    #[error("{0}")]
    Io(String),
}

/// An error at a place of a heartbeat file: displays as `file:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatError {
    /// Where.
    pub location: Location,
    /// What.
    pub kind: HeartbeatErrorKind,
}

impl fmt::Display for HeartbeatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.kind)
    }
}

impl std::error::Error for HeartbeatError {}
