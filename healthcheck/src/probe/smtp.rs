//! SMTP check: banner 220, HELO/EHLO 250, QUIT (RFC 5321 §3.1, §4.1.1.1, §4.2).

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};

use super::sock::{io_fail, tcp_connect};
use crate::check::SmtpCheck;
use crate::outcome::{Failure, Outcome};

/// Longest reply line accepted (RFC 5321 §4.5.3.1.5 says 512 octets).
const MAX_LINE: usize = 1024;
/// Most lines in one multiline reply.
const MAX_LINES: usize = 64;

/// Read one (possibly multiline, RFC 5321 §4.2.1) reply; return its code.
async fn read_reply<R: AsyncBufRead + AsyncRead + Unpin>(r: &mut R) -> Result<u16, Failure> {
    let mut line = Vec::with_capacity(128);
    for _ in 0..MAX_LINES {
        line.clear();
        let n = AsyncReadExt::take(&mut *r, MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .await
            .map_err(io_fail)?;
        if n == 0 {
            return Err(Failure::Reset);
        }
        match crate::wire::smtp_reply_line(&line) {
            Ok(l) if !l.more => return Ok(l.code),
            Ok(_) => {}
            Err(e) => {
                return Err(Failure::Protocol(format!(
                    "{e}: {:?}",
                    String::from_utf8_lossy(&line[..line.len().min(80)])
                )));
            }
        }
    }
    Err(Failure::Protocol("SMTP reply longer than 64 lines".into()))
}

pub(crate) async fn run(c: &SmtpCheck) -> Result<Outcome, Failure> {
    let stream = tcp_connect(c.addr, &c.socket).await?;
    let mut stream = BufReader::new(stream);
    let code = read_reply(&mut stream).await?;
    if code != 220 {
        return Err(Failure::SmtpCode(code));
    }
    let verb = if c.ehlo { "EHLO" } else { "HELO" };
    let cmd = format!("{verb} {}\r\n", c.helo_name);
    stream
        .get_mut()
        .write_all(cmd.as_bytes())
        .await
        .map_err(io_fail)?;
    let code = read_reply(&mut stream).await?;
    if code != 250 {
        return Err(Failure::SmtpCode(code));
    }
    // Polite close; its reply does not matter.
    let _ = stream.get_mut().write_all(b"QUIT\r\n").await;
    let _ = read_reply(&mut stream).await;
    Ok(Outcome::UP)
}
