//! Fuzz the BFD Control packet decoder and a session's reception path: never panic, and
//! whatever parses re-emits to bytes that parse to the same value.
#![no_main]

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use ha_bfd::packet::{self, Packet, Repr};
use ha_bfd::{Config, Session};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(repr) = packet::decode(data) {
        let bytes = repr.to_bytes();
        assert_eq!(bytes.len(), repr.buffer_len());
        assert_eq!(packet::decode(&bytes), Ok(repr));
        let _ = repr.check_reception(false);
        let _ = repr.check_reception(true);
    }
    if let Ok(p) = Packet::new_checked(data) {
        let _ = (p.state(), p.flags(), p.diagnostic(), p.auth_bytes());
        let _ = Repr::parse(&p);
    }
    // A session fed the same bytes twice, a timer in between: no panic whatever they are.
    let now = Instant::now();
    let discr = NonZeroU32::new(0x1234_5678).unwrap();
    if let Ok(mut s) = Session::new(Config::new(discr), now) {
        let _ = s.handle_bytes(now, data);
        s.handle_timeout(now + Duration::from_millis(500));
        let _ = s.handle_bytes(now + Duration::from_millis(600), data);
        while s.poll_transmit().is_some() {}
        while s.poll_event().is_some() {}
        let _ = s.poll_timeout();
    }
});
