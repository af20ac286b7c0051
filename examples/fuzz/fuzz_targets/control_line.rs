//! Fuzz the control socket's request parser (`standby|takeover|auto [INSTANCE]`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = ha_examples::director::observe::parse_control(&text);
});
