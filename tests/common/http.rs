//! A small HTTP/1.1 server of the tests' own on 127.0.0.1 that records every request and
//! answers it with a handler: it plays token endpoints, credential services and instance
//! metadata, or relays to a real server ([`forward`]) as a recording proxy that shows
//! what cachepot sent. One connection at a time, one request per connection
//! (`Connection: close`). Only std: no HTTP crate in the tests.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const LOCALHOST: &str = "127.0.0.1";
/// How long a read from cachepot or from an upstream server may stall.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// A request as an [`HttpServer`] saw it, with the status it answered.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    pub method: String,
    /// The request-target as sent: path and query.
    pub target: String,
    /// Names as sent; look them up with [`SeenRequest::header`].
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status of the answer (0 while the handler runs).
    pub status: u16,
}

impl SeenRequest {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The whole answer to a request: status line, headers and body
/// ([`response`], [`json_response`], [`forward`]).
pub type Handler = Box<dyn Fn(&SeenRequest) -> Vec<u8> + Send>;

/// The server; stopped and joined when dropped.
pub struct HttpServer {
    pub port: u16,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    pub fn start(handler: Handler) -> HttpServer {
        let l = TcpListener::bind((LOCALHOST, 0)).expect("bind test HTTP server");
        l.set_nonblocking(true).expect("nonblocking");
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sn, st) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                let Ok((mut s, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(IO_TIMEOUT));
                let Some(mut req) = read_request(&mut s) else {
                    continue;
                };
                let answer = handler(&req);
                req.status = status_of(&answer);
                // Recorded before answering: once cachepot has its answer, the test sees it.
                sn.lock().unwrap().push(req);
                let _ = s.write_all(&answer);
                let _ = s.shutdown(Shutdown::Both);
            }
        });
        HttpServer {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// A recording proxy in front of the server on `upstream`.
    pub fn proxy(upstream: u16) -> HttpServer {
        HttpServer::start(Box::new(move |req| forward(upstream, req)))
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{LOCALHOST}:{}{path}", self.port)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request (head and `Content-Length` body) from `s`; `None` if the client
/// hangs up or stalls first.
fn read_request(s: &mut TcpStream) -> Option<SeenRequest> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut req = SeenRequest {
        method,
        target,
        headers,
        body: buf[head_end + 4..].to_vec(),
        status: 0,
    };
    let len: usize = req
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while req.body.len() < len {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        req.body.extend_from_slice(&chunk[..n]);
    }
    Some(req)
}

/// The status code of an answer's status line (0 if there is none).
fn status_of(answer: &[u8]) -> u16 {
    String::from_utf8_lossy(&answer[..answer.len().min(32)])
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// An answer with `status`, `content_type` and `body`.
pub fn response(status: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A 200 answer with `v` as JSON.
pub fn json_response(v: serde_json::Value) -> Vec<u8> {
    response(200, "application/json", v.to_string().as_bytes())
}

/// Sends `req` to 127.0.0.1:`upstream` (its `Host`, `Connection: close`) and returns the
/// answer with `Connection: close`; a 502 if the upstream cannot be reached or answers
/// no HTTP head.
pub fn forward(upstream: u16, req: &SeenRequest) -> Vec<u8> {
    let Ok(mut up) = TcpStream::connect((LOCALHOST, upstream)) else {
        return response(502, "text/plain", b"upstream down");
    };
    let _ = up.set_read_timeout(Some(IO_TIMEOUT));
    let mut out = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
    for (k, v) in &req.headers {
        if !k.eq_ignore_ascii_case("host") && !k.eq_ignore_ascii_case("connection") {
            out += &format!("{k}: {v}\r\n");
        }
    }
    out += &format!("Host: {LOCALHOST}:{upstream}\r\nConnection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&req.body);
    if up.write_all(&bytes).is_err() {
        return response(502, "text/plain", b"upstream write failed");
    }
    let mut answer = Vec::new();
    let _ = up.read_to_end(&mut answer);
    let Some(i) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return response(502, "text/plain", b"upstream answer has no head");
    };
    let head = String::from_utf8_lossy(&answer[..i]).into_owned();
    let mut new_head: Vec<&str> = head
        .split("\r\n")
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            !l.starts_with("connection:") && !l.starts_with("keep-alive:")
        })
        .collect();
    new_head.push("Connection: close");
    let mut out = new_head.join("\r\n").into_bytes();
    out.extend_from_slice(&answer[i..]);
    out
}
