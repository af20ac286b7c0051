//! TCP connect check, with ldirectord `simpletcp`-style send/expect.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::sock::{io_fail, tcp_connect_raw};
use crate::check::TcpCheck;
use crate::outcome::{Failure, Outcome};

/// Most bytes read while looking for the expected string.
const READ_CAP: usize = 64 * 1024;

pub(crate) async fn run(c: &TcpCheck) -> Result<Outcome, Failure> {
    let conn = tcp_connect_raw(c.addr, &c.socket).await?;
    if c.send.is_none() && c.expect.is_none() {
        // A plain connect check is decided: reset the connection and keep the socket for
        // the next check, or close it (see `TcpClose`).
        conn.release(c.addr.ip(), &c.socket);
        return Ok(Outcome::UP);
    }
    // Boxed: the read buffer would make every TCP check's future large.
    Box::pin(exchange(conn.into_stream()?, c)).await
}

async fn exchange(mut stream: tokio::net::TcpStream, c: &TcpCheck) -> Result<Outcome, Failure> {
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
    // Dropping the stream closes it (RST or FIN, see `TcpClose`).
    Ok(Outcome::UP)
}

pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}
