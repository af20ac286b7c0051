//! Fuzz the frame parsers: never panic, and whatever parses re-emits to bytes that parse to the
//! same value.
#![no_main]

use ha_arp::FrameRepr;
use ha_arp::wire::frame::MAX_FRAME_LEN;
use ha_arp::wire::{arp, ethernet, ipv6, ndisc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(repr) = FrameRepr::parse(data) {
        let mut buf = [0u8; MAX_FRAME_LEN];
        let n = repr.emit(&mut buf);
        assert_eq!(FrameRepr::parse(&buf[..n]), Ok(repr));
    }
    // Each layer on its own, from the start of the data.
    if let Ok(f) = ethernet::Frame::new_checked(data) {
        let _ = ethernet::Repr::parse(&f);
    }
    if let Ok(p) = arp::Packet::new_checked(data) {
        let _ = arp::Repr::parse(&p);
    }
    if let Ok(p) = ipv6::Packet::new_checked(data) {
        let _ = ipv6::Repr::parse(&p);
        if let Ok(na) = ndisc::Packet::new_checked(p.payload()) {
            let _ = ndisc::Repr::parse(&na, &p.src_addr(), &p.dst_addr());
        }
    }
});
