//! Every `unsafe` block of the crate: interface lookups and `sockaddr_ll`.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::io;
use std::mem::size_of;
use std::os::fd::AsRawFd;

use socket2::{SockAddr, SockAddrStorage, Socket};

/// `if_nametoindex(3)`. A name that cannot be an interface name gives `ENODEV`.
pub(crate) fn name_to_index(name: &str) -> io::Result<u32> {
    let Some(c) = ifname(name) else {
        return Err(io::Error::from_raw_os_error(libc::ENODEV));
    };
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(idx)
    }
}

/// `if_indextoname(3)`.
pub(crate) fn index_to_name(index: u32) -> io::Result<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the IF_NAMESIZE bytes the function may write.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success `buf` holds a NUL-terminated name within its bounds.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Ok(name.to_string_lossy().into_owned())
}

/// A `sockaddr_ll` for sending on `ifindex` with `protocol` (host order) to `dst`.
pub(crate) fn packet_addr(ifindex: u32, protocol: u16, dst: [u8; 6]) -> io::Result<SockAddr> {
    let ifindex = i32::try_from(ifindex).map_err(|_| io::Error::from_raw_os_error(libc::ENODEV))?;
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: `sockaddr_ll` is a sockaddr type of this platform, smaller than the storage.
    let ll: &mut libc::sockaddr_ll = unsafe { storage.view_as() };
    ll.sll_family = libc::AF_PACKET as libc::sa_family_t;
    ll.sll_protocol = protocol.to_be();
    ll.sll_ifindex = ifindex;
    ll.sll_halen = 6;
    ll.sll_addr[..6].copy_from_slice(&dst);
    // SAFETY: the family is AF_PACKET and the storage holds an initialised `sockaddr_ll` of
    // exactly the given length.
    Ok(unsafe { SockAddr::new(storage, size_of::<libc::sockaddr_ll>() as libc::socklen_t) })
}

/// The hardware address of `name` (`SIOCGIFHWADDR`), via any socket of the interface's netns.
pub(crate) fn hw_addr(socket: &Socket, name: &str) -> io::Result<[u8; 6]> {
    let mut req = ifreq(name)?;
    // SAFETY: `req` is a valid `ifreq` with a NUL-terminated name; SIOCGIFHWADDR writes only
    // inside it.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFHWADDR filled the `ifru_hwaddr` member of the union.
    let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (m, c) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *m = *c as u8;
    }
    Ok(mac)
}

/// Whether `name` is administratively up (`SIOCGIFFLAGS` & `IFF_UP`).
pub(crate) fn is_up(socket: &Socket, name: &str) -> io::Result<bool> {
    let mut req = ifreq(name)?;
    // SAFETY: as in `hw_addr`; SIOCGIFFLAGS writes `ifru_flags` inside `req`.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    Ok(i32::from(flags) & libc::IFF_UP != 0)
}

fn ifname(name: &str) -> Option<CString> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return None;
    }
    CString::new(name).ok()
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    let c = ifname(name).ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV))?;
    // SAFETY: `ifreq` is plain old data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(c.as_bytes_with_nul()) {
        *dst = *src as libc::c_char;
    }
    Ok(req)
}
