//! Fuzz heartbeat's three file parsers (`ha.cf`, `haresources`, `authkeys`) and the lexer
//! they share, each on the same input.
#![no_main]

use std::path::Path;

use ha_examples::director::heartbeat::{authkeys, hacf, haresources, lex};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = hacf::parse(text, Path::new("ha.cf"));
    let _ = haresources::parse(text, Path::new("haresources"));
    let _ = authkeys::parse(text, Path::new("authkeys"));
    let _ = lex::lines(text, true);
    for w in text.split_whitespace() {
        let _ = lex::millis(w);
        let _ = lex::boolean(w);
    }
});
