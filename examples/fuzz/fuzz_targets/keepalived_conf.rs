//! Fuzz the keepalived.conf reader end to end: preprocessing (`$VAR`, `@name`, `~SEQ`), the
//! lexer, the parser, the keyword readers, the model and validation. Any input gives a
//! configuration or errors with places, never a panic.
//!
//! The file is read as `/nonexistent-fuzz/keepalived.conf`, so a relative `include` finds
//! nothing; an absolute one may read a file of this machine, which is fine (only regular
//! files are read).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("/nonexistent-fuzz/keepalived.conf");
    match ha_examples::director::load_keepalived_str(text, file) {
        Ok(loaded) => {
            // What loads must print as TOML (what `convert` does) and read back.
            use ha_examples::director::toml_format::{parse_toml, to_toml};
            let toml = to_toml(&loaded.config).expect("a loaded configuration prints as TOML");
            if let Err(e) = parse_toml(&toml, Path::new("converted.toml")) {
                panic!("convert's TOML does not read back: {e}\n{toml}");
            }
        }
        Err(errors) => assert!(!errors.is_empty(), "an Err without an error"),
    }
});
