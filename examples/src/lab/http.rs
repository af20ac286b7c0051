//! The lab's real servers and client: a tiny HTTP/1.1 server that answers every request with its
//! name (keep-alive, so one connection can carry requests across a director failover), and a
//! client that makes one request with short timeouts.
//!
//! The server also has a check page, [`CHECK_PATH`], for body checks (ldirectord's
//! `request`/`receive`): it answers [`CHECK_OK`] until [`HttpServer::set_check_ok`] turns it to
//! [`CHECK_FAILING`], a page that no longer contains `OK`.
//!
//! Sockets belong to the network namespace they were created in, so the listener and the
//! client's sockets are created on a thread inside the host's namespace ([`Host::run_in`]) and
//! then used from any thread.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ha_testsupport::Host;

/// The longest request head the server reads.
const MAX_HEAD: usize = 8192;

/// The path of the check page.
pub const CHECK_PATH: &str = "/check.html";
/// The check page's body while the server is healthy.
pub const CHECK_OK: &str = "OK";
/// The check page's body once [`HttpServer::set_check_ok`] turned it off (no `OK` in it).
pub const CHECK_FAILING: &str = "maintenance";

/// A running HTTP server in one namespace.
#[derive(Debug)]
pub struct HttpServer {
    stop: Arc<AtomicBool>,
    check_ok: Arc<AtomicBool>,
    conns: Conns,
    accept: Option<JoinHandle<()>>,
}

/// The open connections of a server (a clone of each, to shut them down on stop), by number.
type Conns = Arc<Mutex<HashMap<u64, TcpStream>>>;

impl HttpServer {
    /// Listens on `0.0.0.0:port` inside `host` and answers every request with `name\n`.
    pub fn start(host: &Host, name: &str, port: u16) -> std::io::Result<HttpServer> {
        let listener = host.run_in(move || TcpListener::bind(("0.0.0.0", port)))?;
        HttpServer::from_listener(listener, name)
    }

    /// Serves on an already bound listener (any namespace).
    pub fn from_listener(listener: TcpListener, name: &str) -> std::io::Result<HttpServer> {
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let check_ok = Arc::new(AtomicBool::new(true));
        let conns: Conns = Arc::default();
        let body = format!("{name}\n");
        let (s, c, k) = (stop.clone(), conns.clone(), check_ok.clone());
        let accept = std::thread::Builder::new()
            .name(format!("http-{name}"))
            .spawn(move || accept_loop(listener, s, c, k, body))?;
        Ok(HttpServer {
            stop,
            check_ok,
            conns,
            accept: Some(accept),
        })
    }

    /// Whether the check page ([`CHECK_PATH`]) says [`CHECK_OK`] (true, the start) or
    /// [`CHECK_FAILING`]; every other path keeps answering the server's name.
    pub fn set_check_ok(&self, ok: bool) {
        self.check_ok.store(ok, Ordering::SeqCst);
    }

    /// How many connections are open (each holds descriptors until it closes).
    pub fn open_connections(&self) -> usize {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Stops the server: the listener closes (new connections are refused) and every open
    /// connection is shut down, as when the process dies.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for (_, c) in self.conns.lock().unwrap_or_else(|e| e.into_inner()).drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    conns: Conns,
    check_ok: Arc<AtomicBool>,
    body: String,
) {
    let mut next = 0u64;
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                let id = next;
                next += 1;
                if let Ok(clone) = stream.try_clone() {
                    let mut g = conns.lock().unwrap_or_else(|e| e.into_inner());
                    g.insert(id, clone);
                }
                let (s, b, c, k) = (stop.clone(), body.clone(), conns.clone(), check_ok.clone());
                let _ = std::thread::Builder::new()
                    .name("http-conn".into())
                    .spawn(move || {
                        serve(stream, s, &k, b);
                        // Closed: forget the clone so its descriptor is released.
                        c.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                    });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Answers requests on one connection until the peer closes, asks to close, or the server stops.
fn serve(mut stream: TcpStream, stop: Arc<AtomicBool>, check_ok: &AtomicBool, body: String) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !stop.load(Ordering::SeqCst) {
        if let Some(end) = find_head_end(&buf) {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            buf.drain(..end + 4);
            let close = head.starts_with("get")
                && head.lines().next().is_some_and(|l| l.ends_with("http/1.0"))
                || head.contains("\r\nconnection: close");
            let path = head.split_whitespace().nth(1).unwrap_or("/");
            let path = path
                .strip_prefix("http://")
                .map_or(path, |rest| rest.find('/').map_or("/", |i| &rest[i..]));
            let body = if path == CHECK_PATH {
                if check_ok.load(Ordering::SeqCst) {
                    format!("{CHECK_OK}\n")
                } else {
                    format!("{CHECK_FAILING}\n")
                }
            } else {
                body.clone()
            };
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{body}",
                body.len(),
                if close { "Connection: close\r\n" } else { "" }
            );
            if stream.write_all(resp.as_bytes()).is_err() || close {
                break;
            }
            continue;
        }
        if buf.len() > MAX_HEAD {
            break;
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Reads one response (head and `Content-Length` body) from `stream`; returns the body trimmed.
fn read_response(stream: &mut TcpStream, deadline: Instant) -> Result<String, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        if let Some(end) = find_head_end(&buf) {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            if !head.starts_with("HTTP/1.") || !head.contains(" 200 ") {
                return Err(format!(
                    "bad status line {:?}",
                    head.lines().next().unwrap_or("")
                ));
            }
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .ok_or("no Content-Length")?;
            if buf.len() >= end + 4 + len {
                return Ok(String::from_utf8_lossy(&buf[end + 4..end + 4 + len])
                    .trim()
                    .to_owned());
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err("timed out".into());
        }
        stream
            .set_read_timeout(Some(deadline - now))
            .map_err(|e| e.to_string())?;
        match stream.read(&mut chunk) {
            Ok(0) => return Err("connection closed".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err("timed out".into());
            }
            Err(e) => return Err(short_io(&e)),
        }
    }
}

fn short_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "connection reset".into(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "timed out".into(),
        _ => e.to_string(),
    }
}

/// One `GET /` on a new connection, from the calling thread's namespace; the answering server's
/// name, or why it failed.
pub fn get_once(addr: SocketAddr, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| short_io(&e))?;
    let _ = s.set_nodelay(true);
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.write_all(format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .map_err(|e| short_io(&e))?;
    read_response(&mut s, deadline)
}

/// A long-lived HTTP/1.1 connection (keep-alive) that sends one request at a time.
#[derive(Debug)]
pub struct KeepAlive {
    stream: TcpStream,
    addr: SocketAddr,
}

impl KeepAlive {
    /// Connects from inside `host` to `addr`.
    pub fn connect(host: &Host, addr: SocketAddr, timeout: Duration) -> Result<KeepAlive, String> {
        let stream = host
            .run_in(move || TcpStream::connect_timeout(&addr, timeout).map_err(|e| short_io(&e)))?;
        let _ = stream.set_nodelay(true);
        Ok(KeepAlive { stream, addr })
    }

    /// The client's side of the connection (address and port).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.stream.local_addr().ok()
    }

    /// Sends `GET /` on this connection and returns the server's name.
    pub fn get(&mut self, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        self.stream
            .set_write_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        self.stream
            .write_all(format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr).as_bytes())
            .map_err(|e| short_io(&e))?;
        read_response(&mut self.stream, deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(mut cond: impl FnMut() -> bool) -> bool {
        for _ in 0..500 {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn serves_names_over_keep_alive_and_stops() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut srv = HttpServer::from_listener(l, "rsX").unwrap();
        let t = Duration::from_secs(2);
        assert_eq!(get_once(addr, t).unwrap(), "rsX");
        let stream = TcpStream::connect_timeout(&addr, t).unwrap();
        let mut ka = KeepAlive { stream, addr };
        assert_eq!(ka.get(t).unwrap(), "rsX");
        assert_eq!(
            ka.get(t).unwrap(),
            "rsX",
            "second request on the same connection"
        );
        for _ in 0..50 {
            assert_eq!(get_once(addr, t).unwrap(), "rsX");
        }
        // Closed connections release their descriptors: only the keep-alive one stays.
        assert!(
            wait(|| srv.open_connections() == 1),
            "{} connections still held",
            srv.open_connections()
        );
        srv.stop();
        assert!(
            ka.get(t).is_err(),
            "a stopped server closes its connections"
        );
        let e = get_once(addr, t).unwrap_err();
        assert_eq!(e, "connection refused");
    }

    /// The check page says OK until it is turned off, then a body without OK; other paths keep
    /// answering the name.
    #[test]
    fn the_check_page_follows_set_check_ok() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let srv = HttpServer::from_listener(l, "rsY").unwrap();
        let t = Duration::from_secs(2);
        let check = |a: SocketAddr| -> String {
            let mut s = TcpStream::connect_timeout(&a, t).unwrap();
            s.write_all(format!("GET {CHECK_PATH} HTTP/1.0\r\nHost: {a}\r\n\r\n").as_bytes())
                .unwrap();
            read_response(&mut s, Instant::now() + t).unwrap()
        };
        assert_eq!(check(addr), CHECK_OK);
        srv.set_check_ok(false);
        assert_eq!(check(addr), CHECK_FAILING);
        assert!(!CHECK_FAILING.contains(CHECK_OK));
        assert_eq!(get_once(addr, t).unwrap(), "rsY");
        srv.set_check_ok(true);
        assert_eq!(check(addr), CHECK_OK);
    }

    #[test]
    fn head_end_is_found() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(14));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n"), None);
    }
}
