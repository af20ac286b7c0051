//! Fuzz the half-open check's parser of received IPv4 TCP segments (raw socket input).
#![no_main]

use ha_healthcheck::probe::halfopen::{classify, parse_segment};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(seg) = parse_segment(data) {
        let _ = classify(&seg);
    }
});
