//! Fuzz the framer and the message decoder: never panic; whatever decodes re-encodes to bytes
//! that decode to the same value; every error names a NOTIFICATION of codes 1 to 3.
#![no_main]

use ha_bgp::{Framer, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The data as one message.
    check(Message::decode(data));
    // The data as a stream, cut in two at a point chosen by the first byte.
    let cut = data.first().map_or(0, |b| usize::from(*b) % (data.len() + 1));
    let mut framer = Framer::new();
    for chunk in [&data[..cut], &data[cut..]] {
        framer.push(chunk);
        while let Some(r) = framer.next_message() {
            let stop = r.is_err();
            check(r);
            if stop {
                break;
            }
        }
    }
});

fn check(r: Result<Message, ha_bgp::DecodeError>) {
    match r {
        Ok(m) => {
            let bytes = m.encode().expect("a decoded message re-encodes");
            assert_eq!(Message::decode(&bytes), Ok(m));
        }
        Err(e) => {
            let n = e.notification();
            assert!((1..=3).contains(&n.code));
        }
    }
}
