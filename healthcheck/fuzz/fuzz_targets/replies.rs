//! Fuzz the reply parsers of the probes: SMTP reply lines, ICMP echo replies and DNS replies
//! (header, question, every answer record and its text).
#![no_main]

use ha_healthcheck::wire::dns::Reply;
use ha_healthcheck::wire::{icmp_echo_reply, smtp_reply_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = smtp_reply_line(data);
    let (flags, rest) = data.split_first().map_or((0, data), |(f, r)| (*f, r));
    let ident = if flags & 4 != 0 { Some(u16::from(flags) << 8 | 0x41) } else { None };
    let _ = icmp_echo_reply(rest, flags & 1 != 0, flags & 2 != 0, ident, u16::from(flags));
    if let Ok(reply) = Reply::parse(data) {
        if let Some((name, _)) = reply.question {
            let _ = name.eq_dotted("www.example.org");
        }
        for record in reply.answers().flatten() {
            let _ = record.data.to_string();
            let _ = record.name.to_string();
        }
    }
});
