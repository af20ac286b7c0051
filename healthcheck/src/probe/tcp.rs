//! TCP connect check, with ldirectord `simpletcp`-style send/expect.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::sock::{io_fail, tcp_connect_raw};
use crate::check::TcpCheck;
use crate::outcome::{Failure, Outcome};

/// Most bytes read while looking for the expected string.
const READ_CAP: usize = 64 * 1024;

pub(crate) async fn run(c: &TcpCheck) -> Result<Outcome, Failure> {
    let conn = tcp_connect_raw(c.addr, &c.socket).await?;
    if c.send.is_none() && c.expect.is_none() && c.expect_line_regex.is_none() {
        // A plain connect check is decided: reset the connection and keep the socket for
        // the next check, or close it (see `TcpClose`).
        conn.release(c.addr.ip(), &c.socket);
        return Ok(Outcome::UP);
    }
    // Boxed: the read buffer would make every TCP check's future large.
    Box::pin(exchange(conn.into_stream()?, c)).await
}

async fn exchange(mut stream: tokio::net::TcpStream, c: &TcpCheck) -> Result<Outcome, Failure> {
    // Compile first: a bad pattern is a configuration error, not the server's fault.
    let line_re = match &c.expect_line_regex {
        Some(p) => Some(super::compiled(p, "line regex")?),
        None => None,
    };
    if let Some(send) = &c.send {
        stream.write_all(send).await.map_err(io_fail)?;
    }
    if c.shutdown_write {
        stream.shutdown().await.map_err(io_fail)?;
    }
    if let Some(re) = &line_re {
        return read_lines(&mut stream, re).await;
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

/// Reads until a line matches `re` (ldirectord's `simpletcp`: `while (<$sock>)`); the
/// last line counts without its newline when the peer closes.
async fn read_lines(
    stream: &mut tokio::net::TcpStream,
    re: &regex::bytes::Regex,
) -> Result<Outcome, Failure> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let mut checked = 0;
    loop {
        while let Some(nl) = buf[checked..].iter().position(|b| *b == b'\n') {
            // Perl's `$` matches before a final newline: the line is matched without it.
            if re.is_match(&buf[checked..checked + nl]) {
                return Ok(Outcome::UP);
            }
            checked += nl + 1;
        }
        if buf.len() >= READ_CAP {
            return Err(Failure::BodyMismatch);
        }
        let n = stream.read(&mut chunk).await.map_err(io_fail)?;
        if n == 0 {
            return if checked < buf.len() && re.is_match(&buf[checked..]) {
                Ok(Outcome::UP)
            } else {
                Err(Failure::BodyMismatch)
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}
