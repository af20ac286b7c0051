//! Sending prepared frames on an `AF_PACKET` socket (feature `sys`).
//!
//! The socket is `SOCK_RAW` with protocol 0, so it never receives; it is bound to one interface
//! and each frame goes out with `sendto` to a `sockaddr_ll` naming that interface, the frame's
//! EtherType and its Ethernet destination (as keepalived does). Opening one needs `CAP_NET_RAW`.
//! A socket stays in the network namespace it was created in.

use std::io;
use std::net::Ipv6Addr;

use socket2::{Domain, Socket, Type};

use crate::announce::Interface;
use crate::sys;
use crate::wire::MacAddr;

/// An interface, by name or by index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IfaceRef {
    /// By name, like `eth0`.
    Name(String),
    /// By index.
    Index(u32),
}

impl From<&str> for IfaceRef {
    fn from(s: &str) -> Self {
        IfaceRef::Name(s.to_owned())
    }
}

impl From<String> for IfaceRef {
    fn from(s: String) -> Self {
        IfaceRef::Name(s)
    }
}

impl From<u32> for IfaceRef {
    fn from(i: u32) -> Self {
        IfaceRef::Index(i)
    }
}

impl std::fmt::Display for IfaceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IfaceRef::Name(n) => f.write_str(n),
            IfaceRef::Index(i) => write!(f, "index {i}"),
        }
    }
}

/// Why a frame could not be sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SenderError {
    /// The interface does not exist (in this network namespace).
    #[error("no such network interface {iface}")]
    NoSuchInterface {
        /// The name or index asked for.
        iface: String,
    },
    /// The interface is administratively down (`ENETDOWN`).
    #[error("network interface {iface} is down")]
    InterfaceDown {
        /// Its name.
        iface: String,
    },
    /// `EPERM` / `EACCES`: opening or using an `AF_PACKET` socket needs `CAP_NET_RAW`.
    #[error("not permitted to send raw frames on {iface}: AF_PACKET needs CAP_NET_RAW ({source})")]
    PermissionDenied {
        /// Its name.
        iface: String,
        /// The OS error.
        source: io::Error,
    },
    /// The frame is shorter than an Ethernet header.
    #[error("frame of {len} bytes for {iface} is shorter than an Ethernet header (14)")]
    FrameTooShort {
        /// Its name.
        iface: String,
        /// The frame length.
        len: usize,
    },
    /// Any other OS error.
    #[error("{op} on {iface} failed: {source}")]
    Io {
        /// Its name.
        iface: String,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

impl SenderError {
    fn from_io(iface: &str, op: &'static str, e: io::Error) -> Self {
        let iface = iface.to_owned();
        match e.raw_os_error() {
            Some(libc::ENODEV | libc::ENXIO) => SenderError::NoSuchInterface { iface },
            Some(libc::ENETDOWN) => SenderError::InterfaceDown { iface },
            Some(libc::EPERM | libc::EACCES) => SenderError::PermissionDenied { iface, source: e },
            _ => SenderError::Io {
                iface,
                op,
                source: e,
            },
        }
    }
}

/// Resolves a name or index to (index, name).
fn resolve(iface: &IfaceRef) -> Result<(u32, String), SenderError> {
    let no_such = || SenderError::NoSuchInterface {
        iface: iface.to_string(),
    };
    match iface {
        IfaceRef::Name(n) => {
            let idx = sys::name_to_index(n).map_err(|e| match e.raw_os_error() {
                Some(libc::ENODEV | libc::ENXIO) => no_such(),
                _ => SenderError::from_io(n, "if_nametoindex", e),
            })?;
            Ok((idx, n.clone()))
        }
        IfaceRef::Index(i) => {
            let name = sys::index_to_name(*i).map_err(|e| match e.raw_os_error() {
                Some(libc::ENODEV | libc::ENXIO) => no_such(),
                _ => SenderError::from_io(&iface.to_string(), "if_indextoname", e),
            })?;
            Ok((*i, name))
        }
    }
}

/// An `AF_PACKET` socket bound to one interface.
#[derive(Debug)]
pub struct Sender {
    socket: Socket,
    ifindex: u32,
    name: String,
}

impl Sender {
    /// Opens a packet socket and binds it to `iface` (in the calling thread's network namespace).
    pub fn bind(iface: impl Into<IfaceRef>) -> Result<Sender, SenderError> {
        let (ifindex, name) = resolve(&iface.into())?;
        let socket = Socket::new(Domain::PACKET, Type::RAW, None)
            .map_err(|e| SenderError::from_io(&name, "socket(AF_PACKET, SOCK_RAW)", e))?;
        let addr = sys::packet_addr(ifindex, 0, [0; 6])
            .map_err(|e| SenderError::from_io(&name, "sockaddr_ll", e))?;
        socket
            .bind(&addr)
            .map_err(|e| SenderError::from_io(&name, "bind", e))?;
        Ok(Sender {
            socket,
            ifindex,
            name,
        })
    }

    /// The bound interface's index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The bound interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the interface is administratively up now.
    pub fn is_up(&self) -> Result<bool, SenderError> {
        sys::is_up(&self.socket, &self.name)
            .map_err(|e| SenderError::from_io(&self.name, "SIOCGIFFLAGS", e))
    }

    /// The interface's MAC and first link-local IPv6 address, for the announcer.
    pub fn interface(&self) -> Result<Interface, SenderError> {
        let mac = sys::hw_addr(&self.socket, &self.name)
            .map_err(|e| SenderError::from_io(&self.name, "SIOCGIFHWADDR", e))?;
        Ok(Interface {
            ifindex: self.ifindex,
            mac: MacAddr(mac),
            ipv6_link_local: link_local(self.ifindex),
        })
    }

    /// Sends one whole Ethernet frame (header included) on the bound interface.
    pub fn send(&self, frame: &[u8]) -> Result<(), SenderError> {
        if frame.len() < 14 {
            return Err(SenderError::FrameTooShort {
                iface: self.name.clone(),
                len: frame.len(),
            });
        }
        let mut dst = [0u8; 6];
        dst.copy_from_slice(&frame[..6]);
        let proto = u16::from_be_bytes([frame[12], frame[13]]);
        let addr = sys::packet_addr(self.ifindex, proto, dst)
            .map_err(|e| SenderError::from_io(&self.name, "sockaddr_ll", e))?;
        let n = self
            .socket
            .send_to(frame, &addr)
            .map_err(|e| SenderError::from_io(&self.name, "sendto", e))?;
        if n != frame.len() {
            return Err(SenderError::Io {
                iface: self.name.clone(),
                op: "sendto",
                source: io::Error::other(format!("sent {n} of {} bytes", frame.len())),
            });
        }
        Ok(())
    }
}

/// The MAC and first link-local IPv6 address of `iface` in the calling thread's network
/// namespace (opens a throwaway packet socket, so it needs `CAP_NET_RAW` too).
pub fn interface_info(iface: impl Into<IfaceRef>) -> Result<Interface, SenderError> {
    Sender::bind(iface)?.interface()
}

/// The first link-local address of `ifindex`, from `/proc/thread-self/net/if_inet6` (the calling
/// thread's network namespace).
fn link_local(ifindex: u32) -> Option<Ipv6Addr> {
    let text = std::fs::read_to_string("/proc/thread-self/net/if_inet6").ok()?;
    parse_if_inet6(&text, ifindex)
}

/// Parses `/proc/net/if_inet6` lines: `address ifindex prefixlen scope flags name`, all hex.
fn parse_if_inet6(text: &str, ifindex: u32) -> Option<Ipv6Addr> {
    text.lines().find_map(|line| {
        let mut it = line.split_whitespace();
        let addr = it.next()?;
        let idx = u32::from_str_radix(it.next()?, 16).ok()?;
        let _prefix = it.next()?;
        let scope = u32::from_str_radix(it.next()?, 16).ok()?;
        if idx != ifindex || scope != 0x20 || addr.len() != 32 {
            return None;
        }
        u128::from_str_radix(addr, 16).ok().map(Ipv6Addr::from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_inet6_parsing() {
        let text = "fd090000000000000000000000000001 02 40 00 80     eth0\n\
                    fe800000000000000000000000000001 01 40 20 80     lo\n\
                    fe8000000000000000a0b0fffec0d0e0 02 40 20 80     eth0\n";
        assert_eq!(
            parse_if_inet6(text, 2),
            Some("fe80::a0:b0ff:fec0:d0e0".parse().unwrap())
        );
        assert_eq!(parse_if_inet6(text, 3), None);
    }

    #[test]
    fn errno_mapping() {
        let e = |n| SenderError::from_io("eth9", "sendto", io::Error::from_raw_os_error(n));
        assert!(
            matches!(e(libc::ENETDOWN), SenderError::InterfaceDown { iface } if iface == "eth9")
        );
        assert!(matches!(
            e(libc::ENODEV),
            SenderError::NoSuchInterface { .. }
        ));
        assert!(matches!(
            e(libc::ENXIO),
            SenderError::NoSuchInterface { .. }
        ));
        assert!(matches!(
            e(libc::EPERM),
            SenderError::PermissionDenied { .. }
        ));
        assert!(matches!(
            e(libc::EACCES),
            SenderError::PermissionDenied { .. }
        ));
        assert!(matches!(
            e(libc::EMSGSIZE),
            SenderError::Io { op: "sendto", .. }
        ));
        assert!(e(libc::EPERM).to_string().contains("CAP_NET_RAW"));
    }

    #[test]
    fn missing_interface_is_named() {
        // Resolution happens before any privileged call, so this holds without root.
        match Sender::bind("nonexistent-x9") {
            Err(SenderError::NoSuchInterface { iface }) => assert_eq!(iface, "nonexistent-x9"),
            other => panic!("want NoSuchInterface, got {other:?}"),
        }
        match Sender::bind("way-too-long-interface-name") {
            Err(SenderError::NoSuchInterface { .. }) => {}
            other => panic!("want NoSuchInterface, got {other:?}"),
        }
        match Sender::bind(4_000_000_u32) {
            Err(SenderError::NoSuchInterface { iface }) => assert_eq!(iface, "index 4000000"),
            other => panic!("want NoSuchInterface, got {other:?}"),
        }
    }
}
