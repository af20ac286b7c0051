//! The BFD Control packet (RFC 5880 §4.1) and its optional authentication section (§4.2-§4.4).
//!
//! # Layout (RFC 5880 §4.1)
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       My Discriminator                        |
//! |                      Your Discriminator                       |
//! |                    Desired Min TX Interval                    |
//! |                   Required Min RX Interval                    |
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Auth Type   |   Auth Len    |    Authentication Data...     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Intervals are carried in microseconds; this module exposes them as [`Duration`].
//!
//! # Two levels of checks
//!
//! - [`Repr::parse`] checks the *structure* (RFC 5880 §6.8.6, first paragraph's length and
//!   version rules, and §4.2-§4.4 for the authentication section) and fails with a
//!   [`ParseError`] naming the field, its offset and its value.
//! - [`Repr::check_reception`] applies the remaining reception checks of §6.8.6 that do not
//!   depend on a session (detect mult, multipoint, discriminators, the A bit against the
//!   configured authentication) and fails with a [`ReceptionError`].
//!
//! # Panic rules
//!
//! - [`Packet::new_unchecked`] never panics; [`Packet::new_checked`] returns an error instead of
//!   a too-short view. After `check_len` succeeded, every accessor never panics.
//! - [`Repr::parse`] and [`decode`] never panic, whatever the bytes (proptest and a fuzz target).
//! - [`Repr::emit`] never panics on a buffer of at least [`Repr::buffer_len`] bytes; on a
//!   shorter one it panics (a programming error, as in smoltcp).

use std::fmt;
use std::time::Duration;

/// A byte range inside the packet.
type Field = core::ops::Range<usize>;

/// Field offsets of the mandatory section (RFC 5880 §4.1).
mod field {
    use super::Field;
    /// Vers (3 bits) | Diag (5 bits).
    pub const VERS_DIAG: usize = 0;
    /// Sta (2 bits) | P F C A D M.
    pub const STA_FLAGS: usize = 1;
    pub const DETECT_MULT: usize = 2;
    pub const LENGTH: usize = 3;
    pub const MY_DISCR: Field = 4..8;
    pub const YOUR_DISCR: Field = 8..12;
    pub const DESIRED_MIN_TX: Field = 12..16;
    pub const REQUIRED_MIN_RX: Field = 16..20;
    pub const REQUIRED_MIN_ECHO_RX: Field = 20..24;
    /// Start of the authentication section (§4.2).
    pub const AUTH: usize = 24;
}

/// Length of the mandatory section (RFC 5880 §4.1).
pub const HEADER_LEN: usize = 24;
/// The longest packet this crate emits or accepts as meaningful: the mandatory section plus the
/// longest authentication section (keyed SHA1, 28 bytes, §4.4).
pub const MAX_PACKET_LEN: usize = HEADER_LEN + 28;
/// The protocol version of RFC 5880.
pub const VERSION: u8 = 1;

const FLAG_P: u8 = 0x20;
const FLAG_F: u8 = 0x10;
const FLAG_C: u8 = 0x08;
const FLAG_A: u8 = 0x04;
const FLAG_D: u8 = 0x02;
const FLAG_M: u8 = 0x01;

/// The diagnostic code (RFC 5880 §4.1, "Diagnostic (Diag)"): why the sender's session last
/// changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Diagnostic {
    /// 0: No Diagnostic.
    #[default]
    NoDiagnostic,
    /// 1: Control Detection Time Expired.
    ControlDetectionTimeExpired,
    /// 2: Echo Function Failed.
    EchoFunctionFailed,
    /// 3: Neighbor Signaled Session Down.
    NeighborSignaledSessionDown,
    /// 4: Forwarding Plane Reset.
    ForwardingPlaneReset,
    /// 5: Path Down.
    PathDown,
    /// 6: Concatenated Path Down.
    ConcatenatedPathDown,
    /// 7: Administratively Down.
    AdministrativelyDown,
    /// 8: Reverse Concatenated Path Down.
    ReverseConcatenatedPathDown,
    /// 9-31: reserved for future use; kept as received.
    Unknown(u8),
}

impl Diagnostic {
    /// From the 5-bit field (higher bits are ignored).
    pub const fn from_bits(v: u8) -> Self {
        match v & 0x1f {
            0 => Diagnostic::NoDiagnostic,
            1 => Diagnostic::ControlDetectionTimeExpired,
            2 => Diagnostic::EchoFunctionFailed,
            3 => Diagnostic::NeighborSignaledSessionDown,
            4 => Diagnostic::ForwardingPlaneReset,
            5 => Diagnostic::PathDown,
            6 => Diagnostic::ConcatenatedPathDown,
            7 => Diagnostic::AdministrativelyDown,
            8 => Diagnostic::ReverseConcatenatedPathDown,
            other => Diagnostic::Unknown(other),
        }
    }

    /// The 5-bit code (an `Unknown` value is masked to 5 bits).
    pub const fn bits(self) -> u8 {
        match self {
            Diagnostic::NoDiagnostic => 0,
            Diagnostic::ControlDetectionTimeExpired => 1,
            Diagnostic::EchoFunctionFailed => 2,
            Diagnostic::NeighborSignaledSessionDown => 3,
            Diagnostic::ForwardingPlaneReset => 4,
            Diagnostic::PathDown => 5,
            Diagnostic::ConcatenatedPathDown => 6,
            Diagnostic::AdministrativelyDown => 7,
            Diagnostic::ReverseConcatenatedPathDown => 8,
            Diagnostic::Unknown(v) => v & 0x1f,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Diagnostic::NoDiagnostic => "no diagnostic",
            Diagnostic::ControlDetectionTimeExpired => "control detection time expired",
            Diagnostic::EchoFunctionFailed => "echo function failed",
            Diagnostic::NeighborSignaledSessionDown => "neighbor signaled session down",
            Diagnostic::ForwardingPlaneReset => "forwarding plane reset",
            Diagnostic::PathDown => "path down",
            Diagnostic::ConcatenatedPathDown => "concatenated path down",
            Diagnostic::AdministrativelyDown => "administratively down",
            Diagnostic::ReverseConcatenatedPathDown => "reverse concatenated path down",
            Diagnostic::Unknown(v) => return write!(f, "reserved diagnostic {v}"),
        };
        f.write_str(s)
    }
}

/// The session state carried in a packet (RFC 5880 §4.1, "State (Sta)").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// 0: AdminDown.
    AdminDown,
    /// 1: Down.
    Down,
    /// 2: Init.
    Init,
    /// 3: Up.
    Up,
}

impl State {
    /// From the 2-bit field (higher bits are ignored).
    pub const fn from_bits(v: u8) -> Self {
        match v & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    /// The 2-bit code.
    pub const fn bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        })
    }
}

/// The flag bits of the second byte (RFC 5880 §4.1). `A` is not here: it is set exactly when
/// [`Repr::auth`] is `Some`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags {
    /// P: Poll, the sender asks for a Final (§6.5).
    pub poll: bool,
    /// F: Final, the answer to a Poll.
    pub final_: bool,
    /// C: Control Plane Independent.
    pub control_plane_independent: bool,
    /// D: Demand mode.
    pub demand: bool,
    /// M: Multipoint (reserved, must be zero, §6.8.6).
    pub multipoint: bool,
}

/// A simple password, 1 to 16 bytes (RFC 5880 §4.2.1), stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Password {
    len: u8,
    bytes: [u8; 16],
}

impl Password {
    /// The password, or `None` when `bytes` is empty or longer than 16 bytes.
    pub fn new(bytes: &[u8]) -> Option<Password> {
        if bytes.is_empty() || bytes.len() > 16 {
            return None;
        }
        let mut out = [0u8; 16];
        out[..bytes.len()].copy_from_slice(bytes);
        Some(Password {
            len: bytes.len() as u8,
            bytes: out,
        })
    }

    /// The password bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len).min(16)]
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Password(<{} bytes>)", self.len)
    }
}

/// Authentication types (RFC 5880 §4.1, "Auth Type").
pub mod auth_type {
    /// 1: Simple Password.
    pub const SIMPLE_PASSWORD: u8 = 1;
    /// 2: Keyed MD5.
    pub const KEYED_MD5: u8 = 2;
    /// 3: Meticulous Keyed MD5.
    pub const METICULOUS_KEYED_MD5: u8 = 3;
    /// 4: Keyed SHA1.
    pub const KEYED_SHA1: u8 = 4;
    /// 5: Meticulous Keyed SHA1.
    pub const METICULOUS_KEYED_SHA1: u8 = 5;
}

/// The authentication section (RFC 5880 §4.2-§4.4), kept raw: digests are not verified here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Auth {
    /// Type 1 (§4.2): Auth Len = 3 + password length.
    SimplePassword {
        /// Auth Key ID.
        key_id: u8,
        /// The password.
        password: Password,
    },
    /// Type 2 (§4.3): Auth Len = 24.
    KeyedMd5 {
        /// Auth Key ID.
        key_id: u8,
        /// Sequence Number.
        sequence: u32,
        /// The MD5 digest (or the key while computing it).
        digest: [u8; 16],
    },
    /// Type 3 (§4.3): as type 2, sequence incremented on every packet.
    MeticulousKeyedMd5 {
        /// Auth Key ID.
        key_id: u8,
        /// Sequence Number.
        sequence: u32,
        /// The MD5 digest.
        digest: [u8; 16],
    },
    /// Type 4 (§4.4): Auth Len = 28.
    KeyedSha1 {
        /// Auth Key ID.
        key_id: u8,
        /// Sequence Number.
        sequence: u32,
        /// The SHA1 hash.
        hash: [u8; 20],
    },
    /// Type 5 (§4.4): as type 4, sequence incremented on every packet.
    MeticulousKeyedSha1 {
        /// Auth Key ID.
        key_id: u8,
        /// Sequence Number.
        sequence: u32,
        /// The SHA1 hash.
        hash: [u8; 20],
    },
}

impl Auth {
    /// The Auth Type code.
    pub const fn auth_type(&self) -> u8 {
        match self {
            Auth::SimplePassword { .. } => auth_type::SIMPLE_PASSWORD,
            Auth::KeyedMd5 { .. } => auth_type::KEYED_MD5,
            Auth::MeticulousKeyedMd5 { .. } => auth_type::METICULOUS_KEYED_MD5,
            Auth::KeyedSha1 { .. } => auth_type::KEYED_SHA1,
            Auth::MeticulousKeyedSha1 { .. } => auth_type::METICULOUS_KEYED_SHA1,
        }
    }

    /// The Auth Len: the length of the whole section, type and length bytes included.
    pub fn auth_len(&self) -> usize {
        match self {
            Auth::SimplePassword { password, .. } => 3 + password.as_bytes().len(),
            Auth::KeyedMd5 { .. } | Auth::MeticulousKeyedMd5 { .. } => 24,
            Auth::KeyedSha1 { .. } | Auth::MeticulousKeyedSha1 { .. } => 28,
        }
    }

    /// The Auth Key ID.
    pub const fn key_id(&self) -> u8 {
        match *self {
            Auth::SimplePassword { key_id, .. }
            | Auth::KeyedMd5 { key_id, .. }
            | Auth::MeticulousKeyedMd5 { key_id, .. }
            | Auth::KeyedSha1 { key_id, .. }
            | Auth::MeticulousKeyedSha1 { key_id, .. } => key_id,
        }
    }

    /// Parses a section that starts at `b[0]` (the Auth Type) and is exactly `b.len()` bytes
    /// (the header's Length minus 24). Offsets in errors are from the start of the packet.
    fn parse(b: &[u8]) -> Result<Auth, ParseError> {
        let at = field::AUTH;
        if b.len() < 2 {
            return Err(ParseError::AuthTruncated {
                len: b.len(),
                need: 2,
            });
        }
        let (ty, auth_len) = (b[0], usize::from(b[1]));
        // §4.2-§4.4: the Auth Len must cover the section as the packet's Length declares it.
        if auth_len != b.len() {
            return Err(ParseError::AuthLen {
                offset: at + 1,
                auth_type: ty,
                auth_len: b[1],
                expected: b.len(),
            });
        }
        let bad_len = |expected: usize| ParseError::AuthLen {
            offset: at + 1,
            auth_type: ty,
            auth_len: b[1],
            expected,
        };
        match ty {
            // §4.2: Auth Len 4..=19, password 1..=16 bytes.
            auth_type::SIMPLE_PASSWORD => {
                if !(4..=19).contains(&auth_len) {
                    return Err(bad_len(auth_len.clamp(4, 19)));
                }
                let password = Password::new(&b[3..]).ok_or(bad_len(4))?;
                Ok(Auth::SimplePassword {
                    key_id: b[2],
                    password,
                })
            }
            // §4.3: Auth Len 24: type, len, key id, reserved, sequence (4), digest (16).
            auth_type::KEYED_MD5 | auth_type::METICULOUS_KEYED_MD5 => {
                if auth_len != 24 {
                    return Err(bad_len(24));
                }
                let key_id = b[2];
                let sequence = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                let mut digest = [0u8; 16];
                digest.copy_from_slice(&b[8..24]);
                Ok(if ty == auth_type::KEYED_MD5 {
                    Auth::KeyedMd5 {
                        key_id,
                        sequence,
                        digest,
                    }
                } else {
                    Auth::MeticulousKeyedMd5 {
                        key_id,
                        sequence,
                        digest,
                    }
                })
            }
            // §4.4: Auth Len 28: type, len, key id, reserved, sequence (4), hash (20).
            auth_type::KEYED_SHA1 | auth_type::METICULOUS_KEYED_SHA1 => {
                if auth_len != 28 {
                    return Err(bad_len(28));
                }
                let key_id = b[2];
                let sequence = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                let mut hash = [0u8; 20];
                hash.copy_from_slice(&b[8..28]);
                Ok(if ty == auth_type::KEYED_SHA1 {
                    Auth::KeyedSha1 {
                        key_id,
                        sequence,
                        hash,
                    }
                } else {
                    Auth::MeticulousKeyedSha1 {
                        key_id,
                        sequence,
                        hash,
                    }
                })
            }
            other => Err(ParseError::AuthType {
                offset: at,
                value: other,
            }),
        }
    }

    /// Writes the section into `b` (at least [`Auth::auth_len`] bytes).
    fn emit(&self, b: &mut [u8]) {
        let len = self.auth_len();
        b[0] = self.auth_type();
        b[1] = len as u8;
        b[2] = self.key_id();
        match self {
            Auth::SimplePassword { password, .. } => {
                b[3..len].copy_from_slice(password.as_bytes());
            }
            Auth::KeyedMd5 {
                sequence, digest, ..
            }
            | Auth::MeticulousKeyedMd5 {
                sequence, digest, ..
            } => {
                b[3] = 0; // Reserved: zero on transmit (§4.3).
                b[4..8].copy_from_slice(&sequence.to_be_bytes());
                b[8..24].copy_from_slice(digest);
            }
            Auth::KeyedSha1 { sequence, hash, .. }
            | Auth::MeticulousKeyedSha1 { sequence, hash, .. } => {
                b[3] = 0; // Reserved: zero on transmit (§4.4).
                b[4..8].copy_from_slice(&sequence.to_be_bytes());
                b[8..28].copy_from_slice(hash);
            }
        }
    }
}

/// Why bytes are not a well-formed BFD Control packet (structure; RFC 5880 §4, §6.8.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Fewer bytes than the mandatory section.
    #[error("BFD packet truncated: {len} bytes, the mandatory section needs {HEADER_LEN}")]
    Truncated {
        /// Bytes available.
        len: usize,
    },
    /// §6.8.6: the version is not 1.
    #[error("BFD version {value} at offset 0 is not 1 (RFC 5880 6.8.6)")]
    Version {
        /// The version field.
        value: u8,
    },
    /// §6.8.6: the Length field is below the minimum (24, or 26 with the A bit).
    #[error(
        "BFD Length field {value} at offset 3 is below the minimum {min} (A bit {auth}; RFC 5880 6.8.6)"
    )]
    LengthTooSmall {
        /// The Length field.
        value: u8,
        /// The minimum for this packet.
        min: u8,
        /// Whether the A bit is set.
        auth: bool,
    },
    /// §6.8.6: the Length field exceeds the payload.
    #[error(
        "BFD Length field {value} at offset 3 exceeds the {payload} bytes of payload (RFC 5880 6.8.6)"
    )]
    LengthExceedsPayload {
        /// The Length field.
        value: u8,
        /// Bytes in the UDP payload.
        payload: usize,
    },
    /// The authentication section is shorter than its type and length bytes.
    #[error("BFD authentication section truncated: {len} bytes, need {need}")]
    AuthTruncated {
        /// Bytes the section has (Length - 24).
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// An Auth Type that is reserved (0, 6-255).
    #[error("BFD Auth Type {value} at offset {offset} is reserved")]
    AuthType {
        /// Offset of the field.
        offset: usize,
        /// The field.
        value: u8,
    },
    /// An Auth Len that does not fit the type (§4.2-§4.4) or the packet's Length.
    #[error(
        "BFD Auth Len {auth_len} at offset {offset} is wrong for Auth Type {auth_type}: expected {expected}"
    )]
    AuthLen {
        /// Offset of the field.
        offset: usize,
        /// The Auth Type.
        auth_type: u8,
        /// The Auth Len field.
        auth_len: u8,
        /// What it should have been (the section's length per the packet's Length field, or
        /// the type's fixed length).
        expected: usize,
    },
}

/// Reception checks of RFC 5880 §6.8.6 beyond the packet's structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceptionError {
    /// The packet is malformed.
    #[error(transparent)]
    Malformed(#[from] ParseError),
    /// §6.8.6: Detect Mult is zero.
    #[error("BFD Detect Mult at offset 2 is 0 (RFC 5880 6.8.6)")]
    DetectMultZero,
    /// §6.8.6: the Multipoint (M) bit is set.
    #[error("BFD Multipoint (M) bit set in flags {flags:#04x} at offset 1 (RFC 5880 6.8.6)")]
    Multipoint {
        /// The second byte of the packet (state and flags).
        flags: u8,
    },
    /// §6.8.6: My Discriminator is zero.
    #[error("BFD My Discriminator at offset 4 is 0 (RFC 5880 6.8.6)")]
    MyDiscriminatorZero,
    /// §6.8.6: Your Discriminator is zero while the State is neither Down nor AdminDown.
    #[error("BFD Your Discriminator at offset 8 is 0 with State {state} (RFC 5880 6.8.6)")]
    YourDiscriminatorZero {
        /// The received state.
        state: State,
    },
    /// §6.8.6: the A bit is set but no authentication is configured.
    #[error(
        "BFD A bit set (Auth Type {auth_type}) but no authentication is configured (RFC 5880 6.8.6)"
    )]
    UnexpectedAuth {
        /// The received Auth Type.
        auth_type: u8,
    },
    /// §6.8.6: the A bit is clear but authentication is configured.
    #[error("BFD A bit clear but authentication is configured (RFC 5880 6.8.6)")]
    MissingAuth,
    /// §6.8.6: Your Discriminator names no session of ours.
    #[error("BFD Your Discriminator {value:#010x} at offset 8 matches no session (RFC 5880 6.8.6)")]
    UnknownDiscriminator {
        /// The received Your Discriminator.
        value: u32,
    },
    /// A simple password (§6.7.2) that does not match the configured one.
    #[error("BFD simple password (key id {key_id}) does not match (RFC 5880 6.7.2)")]
    BadPassword {
        /// The received Auth Key ID.
        key_id: u8,
    },
}

/// A view of a BFD Control packet over a byte buffer (a UDP payload).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Fails unless the buffer holds the mandatory section and the Length field is within the
    /// RFC 5880 §6.8.6 bounds: at least 24 (26 with the A bit) and at most the buffer's length.
    pub fn check_len(&self) -> Result<(), ParseError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(ParseError::Truncated { len: b.len() });
        }
        let value = b[field::LENGTH];
        let auth = b[field::STA_FLAGS] & FLAG_A != 0;
        let min = if auth { 26 } else { HEADER_LEN as u8 };
        if value < min {
            return Err(ParseError::LengthTooSmall { value, min, auth });
        }
        if usize::from(value) > b.len() {
            return Err(ParseError::LengthExceedsPayload {
                value,
                payload: b.len(),
            });
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Vers.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERS_DIAG] >> 5
    }
    /// Diag.
    pub fn diagnostic(&self) -> Diagnostic {
        Diagnostic::from_bits(self.buffer.as_ref()[field::VERS_DIAG])
    }
    /// Sta.
    pub fn state(&self) -> State {
        State::from_bits(self.buffer.as_ref()[field::STA_FLAGS] >> 6)
    }
    /// The raw second byte (state and flags).
    pub fn state_flags_byte(&self) -> u8 {
        self.buffer.as_ref()[field::STA_FLAGS]
    }
    /// P, F, C, D, M.
    pub fn flags(&self) -> Flags {
        let b = self.state_flags_byte();
        Flags {
            poll: b & FLAG_P != 0,
            final_: b & FLAG_F != 0,
            control_plane_independent: b & FLAG_C != 0,
            demand: b & FLAG_D != 0,
            multipoint: b & FLAG_M != 0,
        }
    }
    /// A: the authentication section is present.
    pub fn auth_present(&self) -> bool {
        self.state_flags_byte() & FLAG_A != 0
    }
    /// Detect Mult.
    pub fn detect_mult(&self) -> u8 {
        self.buffer.as_ref()[field::DETECT_MULT]
    }
    /// Length.
    pub fn length(&self) -> u8 {
        self.buffer.as_ref()[field::LENGTH]
    }
    /// My Discriminator.
    pub fn my_discriminator(&self) -> u32 {
        self.u32_at(field::MY_DISCR)
    }
    /// Your Discriminator.
    pub fn your_discriminator(&self) -> u32 {
        self.u32_at(field::YOUR_DISCR)
    }
    /// Desired Min TX Interval, in microseconds.
    pub fn desired_min_tx_us(&self) -> u32 {
        self.u32_at(field::DESIRED_MIN_TX)
    }
    /// Required Min RX Interval, in microseconds.
    pub fn required_min_rx_us(&self) -> u32 {
        self.u32_at(field::REQUIRED_MIN_RX)
    }
    /// Required Min Echo RX Interval, in microseconds.
    pub fn required_min_echo_rx_us(&self) -> u32 {
        self.u32_at(field::REQUIRED_MIN_ECHO_RX)
    }
    /// The authentication section as the Length field delimits it (empty without the A bit).
    pub fn auth_bytes(&self) -> &[u8] {
        if !self.auth_present() {
            return &[];
        }
        let b = self.buffer.as_ref();
        let end = usize::from(self.length()).min(b.len());
        b.get(field::AUTH..end).unwrap_or(&[])
    }

    fn u32_at(&self, f: Field) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[f.start], b[f.start + 1], b[f.start + 2], b[f.start + 3]])
    }
}

/// Microseconds in a `u32` field as a [`Duration`].
pub const fn us(v: u32) -> Duration {
    Duration::from_micros(v as u64)
}

/// A [`Duration`] as a `u32` microsecond field, saturating at `u32::MAX` (about 71 minutes).
pub fn to_us(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// A BFD Control packet as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Diag.
    pub diagnostic: Diagnostic,
    /// Sta.
    pub state: State,
    /// P, F, C, D, M (the A bit follows `auth`).
    pub flags: Flags,
    /// Detect Mult.
    pub detect_mult: u8,
    /// My Discriminator.
    pub my_discriminator: u32,
    /// Your Discriminator.
    pub your_discriminator: u32,
    /// Desired Min TX Interval, in microseconds.
    pub desired_min_tx_us: u32,
    /// Required Min RX Interval, in microseconds.
    pub required_min_rx_us: u32,
    /// Required Min Echo RX Interval, in microseconds.
    pub required_min_echo_rx_us: u32,
    /// The authentication section; `Some` sets the A bit.
    pub auth: Option<Auth>,
}

impl Repr {
    /// Parses a checked view (RFC 5880 §6.8.6 structure checks: version, then the
    /// authentication section's format).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, ParseError> {
        p.check_len()?;
        if p.version() != VERSION {
            return Err(ParseError::Version { value: p.version() });
        }
        let auth = if p.auth_present() {
            Some(Auth::parse(p.auth_bytes())?)
        } else {
            None
        };
        Ok(Repr {
            diagnostic: p.diagnostic(),
            state: p.state(),
            flags: p.flags(),
            detect_mult: p.detect_mult(),
            my_discriminator: p.my_discriminator(),
            your_discriminator: p.your_discriminator(),
            desired_min_tx_us: p.desired_min_tx_us(),
            required_min_rx_us: p.required_min_rx_us(),
            required_min_echo_rx_us: p.required_min_echo_rx_us(),
            auth,
        })
    }

    /// The session-independent reception checks of RFC 5880 §6.8.6, in the RFC's order.
    /// `auth_configured` says whether this side uses authentication (the A bit must match).
    pub fn check_reception(&self, auth_configured: bool) -> Result<(), ReceptionError> {
        // §6.8.6: "If the Detect Mult field is zero, the packet MUST be discarded."
        if self.detect_mult == 0 {
            return Err(ReceptionError::DetectMultZero);
        }
        // §6.8.6: "If the Multipoint (M) bit is nonzero, the packet MUST be discarded."
        if self.flags.multipoint {
            return Err(ReceptionError::Multipoint {
                flags: self.state_flags_byte(),
            });
        }
        // §6.8.6: "If the My Discriminator field is zero, the packet MUST be discarded."
        if self.my_discriminator == 0 {
            return Err(ReceptionError::MyDiscriminatorZero);
        }
        // §6.8.6: "If the Your Discriminator field is zero and the State field is not Down or
        // AdminDown, the packet MUST be discarded."
        if self.your_discriminator == 0 && !matches!(self.state, State::Down | State::AdminDown) {
            return Err(ReceptionError::YourDiscriminatorZero { state: self.state });
        }
        // §6.8.6: the A bit against bfd.AuthType.
        match (&self.auth, auth_configured) {
            (Some(a), false) => Err(ReceptionError::UnexpectedAuth {
                auth_type: a.auth_type(),
            }),
            (None, true) => Err(ReceptionError::MissingAuth),
            _ => Ok(()),
        }
    }

    /// The second byte: state and flags.
    pub fn state_flags_byte(&self) -> u8 {
        let f = &self.flags;
        (self.state.bits() << 6)
            | if f.poll { FLAG_P } else { 0 }
            | if f.final_ { FLAG_F } else { 0 }
            | if f.control_plane_independent {
                FLAG_C
            } else {
                0
            }
            | if self.auth.is_some() { FLAG_A } else { 0 }
            | if f.demand { FLAG_D } else { 0 }
            | if f.multipoint { FLAG_M } else { 0 }
    }

    /// Bytes [`emit`](Self::emit) writes (also the Length field).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.auth.as_ref().map_or(0, Auth::auth_len)
    }

    /// Writes the packet into the start of `buf`; returns the bytes written.
    ///
    /// # Panics
    ///
    /// When `buf` is shorter than [`buffer_len`](Self::buffer_len).
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        let b = &mut buf[..len];
        b[field::VERS_DIAG] = (VERSION << 5) | self.diagnostic.bits();
        b[field::STA_FLAGS] = self.state_flags_byte();
        b[field::DETECT_MULT] = self.detect_mult;
        b[field::LENGTH] = len as u8;
        b[field::MY_DISCR].copy_from_slice(&self.my_discriminator.to_be_bytes());
        b[field::YOUR_DISCR].copy_from_slice(&self.your_discriminator.to_be_bytes());
        b[field::DESIRED_MIN_TX].copy_from_slice(&self.desired_min_tx_us.to_be_bytes());
        b[field::REQUIRED_MIN_RX].copy_from_slice(&self.required_min_rx_us.to_be_bytes());
        b[field::REQUIRED_MIN_ECHO_RX].copy_from_slice(&self.required_min_echo_rx_us.to_be_bytes());
        if let Some(a) = &self.auth {
            a.emit(&mut b[field::AUTH..]);
        }
        len
    }

    /// The packet as bytes in a fixed buffer (no allocation).
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = [0u8; MAX_PACKET_LEN];
        let len = self.emit(&mut buf);
        Bytes { buf, len }
    }
}

/// Parses a UDP payload: [`Packet::new_checked`] then [`Repr::parse`].
pub fn decode(bytes: &[u8]) -> Result<Repr, ParseError> {
    Repr::parse(&Packet::new_checked(bytes)?)
}

/// An encoded packet in a fixed buffer of [`MAX_PACKET_LEN`] bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bytes {
    buf: [u8; MAX_PACKET_LEN],
    len: usize,
}

impl Bytes {
    /// The packet's bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len.min(MAX_PACKET_LEN)]
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes(")?;
        for b in self.as_slice() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Control packet of FRR 8.4.4's bfdd in state Down, captured on this project's machine
    /// (`tests/fixtures/frr-8.4-down.pcap`). `tshark -V` of it
    /// (`tests/fixtures/frr-8.4-down.tshark.txt`) says: version 1, diag No Diagnostic (0),
    /// state Down (1), flags 0x40 (none), detect mult 3, length 24, my discriminator
    /// 0x60f60de1, your discriminator 0, desired min TX 1000000 us, required min RX 1000000 us,
    /// required min echo 50000 us.
    const FRR_DOWN: [u8; 24] = [
        0x20, 0x40, 0x03, 0x18, 0x60, 0xf6, 0x0d, 0xe1, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x42,
        0x40, 0x00, 0x0f, 0x42, 0x40, 0x00, 0x00, 0xc3, 0x50,
    ];

    fn frr_down_repr() -> Repr {
        Repr {
            diagnostic: Diagnostic::NoDiagnostic,
            state: State::Down,
            flags: Flags::default(),
            detect_mult: 3,
            my_discriminator: 0x60f6_0de1,
            your_discriminator: 0,
            desired_min_tx_us: 1_000_000,
            required_min_rx_us: 1_000_000,
            required_min_echo_rx_us: 50_000,
            auth: None,
        }
    }

    #[test]
    fn deconstruct_frr() {
        let p = Packet::new_checked(&FRR_DOWN[..]).unwrap();
        assert_eq!(p.version(), 1);
        assert_eq!(p.diagnostic(), Diagnostic::NoDiagnostic);
        assert_eq!(p.state(), State::Down);
        assert_eq!(p.flags(), Flags::default());
        assert!(!p.auth_present());
        assert_eq!(p.detect_mult(), 3);
        assert_eq!(p.length(), 24);
        assert_eq!(p.my_discriminator(), 0x60f6_0de1);
        assert_eq!(p.your_discriminator(), 0);
        assert_eq!(p.desired_min_tx_us(), 1_000_000);
        assert_eq!(p.required_min_rx_us(), 1_000_000);
        assert_eq!(p.required_min_echo_rx_us(), 50_000);
    }

    #[test]
    fn parse_and_emit_frr() {
        assert_eq!(decode(&FRR_DOWN), Ok(frr_down_repr()));
        assert_eq!(frr_down_repr().to_bytes().as_slice(), &FRR_DOWN[..]);
        // Emit into a 0xa5-filled buffer: every byte is written, nothing past the end.
        let mut buf = [0xa5u8; 40];
        let n = frr_down_repr().emit(&mut buf);
        assert_eq!(n, 24);
        assert_eq!(&buf[..24], &FRR_DOWN[..]);
        assert!(buf[24..].iter().all(|b| *b == 0xa5));
        assert_eq!(frr_down_repr().check_reception(false), Ok(()));
    }

    #[test]
    fn trailing_bytes_after_length_are_ignored() {
        let mut v = FRR_DOWN.to_vec();
        v.extend_from_slice(&[0; 8]);
        assert_eq!(decode(&v), Ok(frr_down_repr()));
    }

    #[test]
    fn structure_errors() {
        assert_eq!(
            decode(&FRR_DOWN[..23]),
            Err(ParseError::Truncated { len: 23 })
        );
        let mut v = FRR_DOWN;
        v[0] = (2 << 5) | 1;
        assert_eq!(decode(&v), Err(ParseError::Version { value: 2 }));
        let mut v = FRR_DOWN;
        v[3] = 23;
        assert_eq!(
            decode(&v),
            Err(ParseError::LengthTooSmall {
                value: 23,
                min: 24,
                auth: false
            })
        );
        let mut v = FRR_DOWN;
        v[3] = 25;
        assert_eq!(
            decode(&v),
            Err(ParseError::LengthExceedsPayload {
                value: 25,
                payload: 24
            })
        );
        // A bit set with Length 24.
        let mut v = FRR_DOWN;
        v[1] |= FLAG_A;
        assert_eq!(
            decode(&v),
            Err(ParseError::LengthTooSmall {
                value: 24,
                min: 26,
                auth: true
            })
        );
    }

    fn with_auth(section: &[u8]) -> Vec<u8> {
        let mut v = FRR_DOWN.to_vec();
        v[1] |= FLAG_A;
        v[3] = (24 + section.len()) as u8;
        v.extend_from_slice(section);
        v
    }

    #[test]
    fn auth_sections() {
        // Simple password "secret", key id 5.
        let v = with_auth(&[1, 9, 5, b's', b'e', b'c', b'r', b'e', b't']);
        let r = decode(&v).unwrap();
        let Some(Auth::SimplePassword { key_id, password }) = r.auth else {
            panic!("{r:?}")
        };
        assert_eq!((key_id, password.as_bytes()), (5, &b"secret"[..]));
        assert_eq!(r.to_bytes().as_slice(), &v[..]);
        assert_eq!(
            r.check_reception(false),
            Err(ReceptionError::UnexpectedAuth { auth_type: 1 })
        );
        assert_eq!(r.check_reception(true), Ok(()));

        // Keyed MD5 and meticulous keyed MD5.
        for ty in [2u8, 3] {
            let mut s = vec![ty, 24, 7, 0, 0, 0, 1, 2];
            s.extend_from_slice(&[0xab; 16]);
            let v = with_auth(&s);
            let r = decode(&v).unwrap();
            let a = r.auth.unwrap();
            assert_eq!((a.auth_type(), a.key_id(), a.auth_len()), (ty, 7, 24));
            assert_eq!(r.to_bytes().as_slice(), &v[..]);
        }
        // Keyed SHA1 and meticulous keyed SHA1.
        for ty in [4u8, 5] {
            let mut s = vec![ty, 28, 9, 0, 0, 0, 0, 42];
            s.extend_from_slice(&[0xcd; 20]);
            let v = with_auth(&s);
            let r = decode(&v).unwrap();
            match r.auth.unwrap() {
                Auth::KeyedSha1 { sequence, hash, .. }
                | Auth::MeticulousKeyedSha1 { sequence, hash, .. } => {
                    assert_eq!((sequence, hash), (42, [0xcd; 20]));
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(r.to_bytes().as_slice(), &v[..]);
        }
    }

    #[test]
    fn malformed_auth_sections() {
        // Reserved type.
        assert_eq!(
            decode(&with_auth(&[0, 4, 1, b'x'])),
            Err(ParseError::AuthType {
                offset: 24,
                value: 0
            })
        );
        assert_eq!(
            decode(&with_auth(&[6, 4, 1, b'x'])),
            Err(ParseError::AuthType {
                offset: 24,
                value: 6
            })
        );
        // Auth Len disagrees with the packet's Length.
        assert_eq!(
            decode(&with_auth(&[1, 5, 1, b'x'])),
            Err(ParseError::AuthLen {
                offset: 25,
                auth_type: 1,
                auth_len: 5,
                expected: 4
            })
        );
        // Simple password of 0 bytes.
        assert!(matches!(
            decode(&with_auth(&[1, 3, 1])),
            Err(ParseError::AuthLen { auth_type: 1, .. })
        ));
        // Simple password of 17 bytes.
        let mut s = vec![1, 20, 1];
        s.extend_from_slice(&[b'p'; 17]);
        assert!(matches!(
            decode(&with_auth(&s)),
            Err(ParseError::AuthLen { auth_type: 1, .. })
        ));
        // MD5 with a SHA1 length.
        let mut s = vec![2, 28, 1, 0];
        s.extend_from_slice(&[0; 24]);
        assert_eq!(
            decode(&with_auth(&s)),
            Err(ParseError::AuthLen {
                offset: 25,
                auth_type: 2,
                auth_len: 28,
                expected: 24
            })
        );
        // SHA1 with an MD5 length.
        let mut s = vec![4, 24, 1, 0];
        s.extend_from_slice(&[0; 20]);
        assert!(matches!(
            decode(&with_auth(&s)),
            Err(ParseError::AuthLen {
                auth_type: 4,
                expected: 28,
                ..
            })
        ));
        // Length 25 with the A bit: below the minimum of 26.
        let mut v = FRR_DOWN.to_vec();
        v[1] |= FLAG_A;
        v[3] = 25;
        v.push(1);
        assert!(matches!(
            decode(&v),
            Err(ParseError::LengthTooSmall { value: 25, .. })
        ));
    }

    #[test]
    fn reception_checks() {
        let ok = Repr {
            state: State::Up,
            your_discriminator: 1,
            ..frr_down_repr()
        };
        assert_eq!(ok.check_reception(false), Ok(()));
        assert_eq!(
            Repr {
                detect_mult: 0,
                ..ok
            }
            .check_reception(false),
            Err(ReceptionError::DetectMultZero)
        );
        let mp = Repr {
            flags: Flags {
                multipoint: true,
                ..Flags::default()
            },
            ..ok
        };
        assert_eq!(
            mp.check_reception(false),
            Err(ReceptionError::Multipoint { flags: 0xc1 })
        );
        assert_eq!(
            Repr {
                my_discriminator: 0,
                ..ok
            }
            .check_reception(false),
            Err(ReceptionError::MyDiscriminatorZero)
        );
        for state in [State::Init, State::Up] {
            assert_eq!(
                Repr {
                    state,
                    your_discriminator: 0,
                    ..ok
                }
                .check_reception(false),
                Err(ReceptionError::YourDiscriminatorZero { state })
            );
        }
        for state in [State::Down, State::AdminDown] {
            assert_eq!(
                Repr {
                    state,
                    your_discriminator: 0,
                    ..ok
                }
                .check_reception(false),
                Ok(())
            );
        }
        assert_eq!(ok.check_reception(true), Err(ReceptionError::MissingAuth));
        // Errors name the field and value.
        assert_eq!(
            ReceptionError::YourDiscriminatorZero { state: State::Up }.to_string(),
            "BFD Your Discriminator at offset 8 is 0 with State Up (RFC 5880 6.8.6)"
        );
    }

    #[test]
    fn codes_round_trip() {
        for v in 0..32u8 {
            assert_eq!(Diagnostic::from_bits(v).bits(), v);
        }
        for v in 0..4u8 {
            assert_eq!(State::from_bits(v).bits(), v);
        }
        assert_eq!(
            Diagnostic::AdministrativelyDown.to_string(),
            "administratively down"
        );
    }
}
