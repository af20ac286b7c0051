//! Plain value types shared by the codec ([`crate::wire`]) and the router state machine
//! ([`crate::router`]).
//!
//! Time is typed: VRRPv2 advertises its interval in whole seconds, VRRPv3 in centiseconds
//! (12 bits). Mixing the two is a type error, not a bug found in the field.

use core::fmt;
use core::time::Duration;

/// The VRRP protocol version of a virtual router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// VRRP version 2 (RFC 3768), IPv4 only.
    V2,
    /// VRRP version 3 (RFC 9568), IPv4 and IPv6.
    V3,
}

impl Version {
    /// The value of the 4-bit version field.
    pub const fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// A virtual router identifier, 1..=255 (RFC 9568 section 5.2.3; 0 is not a valid VRID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VrId(u8);

impl VrId {
    /// A VRID from its value; `None` for 0.
    pub const fn new(value: u8) -> Option<VrId> {
        if value == 0 { None } else { Some(VrId(value)) }
    }

    /// The VRID's value, 1..=255.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for VrId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A router's priority for a virtual router (RFC 9568 section 5.2.4).
///
/// 255 is reserved for the address owner, 0 signals that the current master stops
/// participating; backups use 1..=254 (100 by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Priority(pub u8);

impl Priority {
    /// Priority 0: the master is giving up (RFC 9568 section 6.4.3).
    pub const STOP: Priority = Priority(0);
    /// The default priority of a backup router (RFC 9568 section 6.1).
    pub const DEFAULT: Priority = Priority(100);
    /// Priority 255: this router owns the virtual addresses.
    pub const OWNER: Priority = Priority(255);

    /// The raw value.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl Default for Priority {
    fn default() -> Priority {
        Priority::DEFAULT
    }
}

/// A VRRPv3 advertisement interval in centiseconds (12 bits: 1..=4095; RFC 9568 section 5.2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Centiseconds(u16);

impl Centiseconds {
    /// The largest value the 12-bit field holds.
    pub const MAX: u16 = 0x0fff;

    /// An interval from centiseconds; `None` when it does not fit in 12 bits.
    pub const fn new(value: u16) -> Option<Centiseconds> {
        if value > Self::MAX {
            None
        } else {
            Some(Centiseconds(value))
        }
    }

    /// The value in centiseconds.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// As a `Duration`.
    pub const fn to_duration(self) -> Duration {
        Duration::from_millis(self.0 as u64 * 10)
    }
}

/// A VRRPv2 advertisement interval in whole seconds (8 bits; RFC 3768 section 5.3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Seconds(pub u8);

impl Seconds {
    /// The value in seconds.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// As a `Duration`.
    pub const fn to_duration(self) -> Duration {
        Duration::from_secs(self.0 as u64)
    }
}

/// An advertisement interval as carried on the wire: its unit depends on the version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdvertInterval {
    /// VRRPv2: whole seconds.
    V2(Seconds),
    /// VRRPv3: centiseconds.
    V3(Centiseconds),
}

impl AdvertInterval {
    /// As a `Duration`.
    pub const fn to_duration(self) -> Duration {
        match self {
            AdvertInterval::V2(s) => s.to_duration(),
            AdvertInterval::V3(cs) => cs.to_duration(),
        }
    }

    /// The protocol version whose unit this interval is in.
    pub const fn version(self) -> Version {
        match self {
            AdvertInterval::V2(_) => Version::V2,
            AdvertInterval::V3(_) => Version::V3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vrid_zero_is_invalid() {
        assert_eq!(VrId::new(0), None);
        assert_eq!(VrId::new(51).map(VrId::get), Some(51));
    }

    #[test]
    fn centiseconds_are_twelve_bits() {
        assert!(Centiseconds::new(4095).is_some());
        assert!(Centiseconds::new(4096).is_none());
        assert_eq!(
            Centiseconds::new(100).unwrap().to_duration(),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn interval_units_differ_by_version() {
        let v2 = AdvertInterval::V2(Seconds(1));
        let v3 = AdvertInterval::V3(Centiseconds::new(1).unwrap());
        assert_eq!(v2.to_duration(), Duration::from_secs(1));
        assert_eq!(v3.to_duration(), Duration::from_millis(10));
        assert_eq!(v2.version(), Version::V2);
    }
}
