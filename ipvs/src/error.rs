//! Kernel errors: errno names, meanings, and a per-operation error that says
//! what was sent.

use std::fmt;

/// An errno value as the kernel returned it (positive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    /// `EPERM`
    pub const EPERM: Errno = Errno(1);
    /// `ENOENT`
    pub const ENOENT: Errno = Errno(2);
    /// `ESRCH`
    pub const ESRCH: Errno = Errno(3);
    /// `ENOMEM`
    pub const ENOMEM: Errno = Errno(12);
    /// `EBUSY`
    pub const EBUSY: Errno = Errno(16);
    /// `EEXIST`
    pub const EEXIST: Errno = Errno(17);
    /// `EINVAL`
    pub const EINVAL: Errno = Errno(22);
    /// `ERANGE`
    pub const ERANGE: Errno = Errno(34);

    /// The symbolic name (`EEXIST`), or `E?` when unknown.
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "EPERM",
            2 => "ENOENT",
            3 => "ESRCH",
            4 => "EINTR",
            5 => "EIO",
            12 => "ENOMEM",
            13 => "EACCES",
            16 => "EBUSY",
            17 => "EEXIST",
            19 => "ENODEV",
            22 => "EINVAL",
            28 => "ENOSPC",
            34 => "ERANGE",
            90 => "EMSGSIZE",
            92 => "ENOPROTOOPT",
            93 => "EPROTONOSUPPORT",
            95 => "EOPNOTSUPP",
            97 => "EAFNOSUPPORT",
            99 => "EADDRNOTAVAIL",
            105 => "ENOBUFS",
            _ => "E?",
        }
    }

    /// The C library's description.
    pub fn description(self) -> &'static str {
        match self.0 {
            1 => "Operation not permitted",
            2 => "No such file or directory",
            3 => "No such process",
            4 => "Interrupted system call",
            5 => "Input/output error",
            12 => "Cannot allocate memory",
            13 => "Permission denied",
            16 => "Device or resource busy",
            17 => "File exists",
            19 => "No such device",
            22 => "Invalid argument",
            28 => "No space left on device",
            34 => "Numerical result out of range",
            90 => "Message too long",
            92 => "Protocol not available",
            93 => "Protocol not supported",
            95 => "Operation not supported",
            97 => "Address family not supported by protocol",
            99 => "Cannot assign requested address",
            105 => "No buffer space available",
            _ => "unknown error",
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.name(), self.0, self.description())
    }
}

/// What the IPVS code means by an errno for a given command.
pub(crate) fn ipvs_meaning(cmd: crate::wire::IpvsCmd, errno: Errno) -> &'static str {
    use crate::wire::IpvsCmd::*;
    match (cmd, errno.0) {
        (NewService, 17) => "the service already exists",
        (NewDest, 17) => "the destination already exists in this service",
        (NewService | SetService, 2) => {
            "no such scheduler or persistence engine (is its ip_vs_* module available?)"
        }
        (SetService | DelService | GetService, 3) => "no such service",
        (NewDest | SetDest | DelDest | GetDest, 3) => "the service does not exist",
        (SetDest | DelDest, 2) => "no such destination in this service",
        (NewDaemon, 17) => "a sync daemon of this role is already running",
        (DelDaemon, 3) => "no sync daemon of this role is running",
        (NewDaemon, 19) => "no such interface",
        (_, 22) => "the kernel rejected a value (invalid argument)",
        (_, 34) => "a value is out of range (e.g. lower threshold above upper)",
        (_, 1) => "needs CAP_NET_ADMIN",
        _ => "",
    }
}

/// One operation the kernel refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct OpError {
    /// What was sent, in words (e.g. `add destination 10.0.0.2:80 (Route, weight 1) to service TCP 10.0.0.1:80`).
    pub op: String,
    /// The errno.
    pub errno: Errno,
    /// What it means for this command (may be empty).
    pub meaning: &'static str,
}

impl OpError {
    /// An error for an operation description, command and errno.
    pub fn new(op: impl Into<String>, cmd: crate::wire::IpvsCmd, errno: i32) -> Self {
        let errno = Errno(errno);
        OpError {
            op: op.into(),
            errno,
            meaning: ipvs_meaning(cmd, errno),
        }
    }

    /// Whether the kernel said `EEXIST`.
    pub fn is_exists(&self) -> bool {
        self.errno == Errno::EEXIST
    }

    /// Whether the kernel said `ENOENT`.
    pub fn is_not_found(&self) -> bool {
        self.errno == Errno::ENOENT
    }

    /// Whether the kernel said `ESRCH`.
    pub fn is_no_service(&self) -> bool {
        self.errno == Errno::ESRCH
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.op, self.errno)?;
        if !self.meaning.is_empty() {
            write!(f, ": {}", self.meaning)?;
        }
        Ok(())
    }
}

/// Everything the client can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel has no IPVS family.
    #[error("IPVS generic netlink family not found: is the ip_vs module loaded?")]
    FamilyNotFound,
    /// The kernel has no IPVS family and loading the `ip_vs` module (as ipvsadm does) did
    /// not give it one.
    #[error(
        "IPVS generic netlink family not found, and `modprobe ip_vs` did not help: {detail} (the kernel needs CONFIG_IP_VS; loading a module needs CAP_SYS_MODULE)"
    )]
    ModuleNotLoaded {
        /// What modprobe said, or why it could not run.
        detail: String,
    },
    /// A socket call failed.
    #[error("netlink socket {context}: {source}")]
    Io {
        /// Which call.
        context: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The kernel refused an operation.
    #[error(transparent)]
    Kernel(#[from] OpError),
    /// A reply did not decode.
    #[error("malformed IPVS reply: {0}")]
    Decode(String),
    /// A reply decoded but did not describe a valid object, or the input was invalid.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
}
