//! TCP connect check, with ldirectord `simpletcp`-style send/expect.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::sock::{io_fail, tcp_connect};
use crate::check::TcpCheck;
use crate::outcome::{Failure, Outcome};

/// Most bytes read while looking for the expected string.
const READ_CAP: usize = 64 * 1024;

pub(crate) async fn run(c: &TcpCheck) -> Result<Outcome, Failure> {
    let mut stream = tcp_connect(c.addr, &c.socket).await?;
    if let Some(send) = &c.send {
        stream.write_all(send).await.map_err(io_fail)?;
    }
    if let Some(expect) = &c.expect {
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 4096];
        loop {
            if contains(&buf, expect) {
                break;
            }
            if buf.len() >= READ_CAP {
                return Err(Failure::BodyMismatch);
            }
            let n = stream.read(&mut chunk).await.map_err(io_fail)?;
            if n == 0 {
                return Err(Failure::BodyMismatch);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
    // Dropping the stream closes it (FIN); no shutdown(2) of our own needed.
    Ok(Outcome::UP)
}

pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}
