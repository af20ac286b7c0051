//! Fuzz the TOML configuration reader (serde + validation): never a panic, and an error list
//! is never empty.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = ha_examples::director::load_toml_str(text, Path::new("fuzz.toml")) {
        assert!(!errors.is_empty(), "an Err without an error");
    }
});
