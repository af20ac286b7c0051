//! Fuzz the ldirectord.cf reader end to end (directives, virtual/real lines, checks, the
//! model and validation).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) =
        ha_examples::director::load_ldirectord_str(text, Path::new("ldirectord.cf"))
    {
        assert!(!errors.is_empty(), "an Err without an error");
    }
});
