//! The `/metrics` HTTP endpoint: a tokio task per connection on its own thread, answering
//! `GET /metrics` with what a [`Source`] renders at that moment. Requests are tiny and
//! read with a size and time bound; anything else gets 404/405/400 and the connection
//! closes. Scrapes never touch the packet path: sources read atomics.

use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

/// Largest request head read; a scrape request is a few hundred bytes.
const MAX_HEAD: usize = 8192;
/// How long a client may take to send its request, and a render may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Where a scrape's text comes from.
pub enum Source {
    /// Rendered on the server's thread (everything it reads is shared).
    Direct(Box<dyn Fn() -> String + Send + Sync>),
    /// Rendered by the thread that owns the state: the server sends a reply slot and
    /// waits (bounded) for the text. The owner answers between its other duties.
    Ask(std::sync::mpsc::Sender<oneshot::Sender<String>>),
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Metrics { head_only: bool },
    NotFound,
    BadMethod,
    Malformed,
}

/// Reads the request line of an HTTP/1.x head. Never panics on any input.
pub fn parse_request(head: &[u8]) -> Request {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Request::Malformed;
    };
    if !version.starts_with(b"HTTP/1.") {
        return Request::Malformed;
    }
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    let head_only = match method {
        b"GET" => false,
        b"HEAD" => true,
        _ => return Request::BadMethod,
    };
    if path == b"/metrics" {
        Request::Metrics { head_only }
    } else {
        Request::NotFound
    }
}

/// A running endpoint; dropping it stops the server thread.
pub struct MetricsServer {
    pub local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl MetricsServer {
    /// Binds `addr` now (so a bad address fails at start, naming it) and serves on a
    /// thread of its own.
    pub fn start(addr: &str, source: Source) -> Result<MetricsServer> {
        let std_listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("--metrics {addr}: cannot listen"))?;
        std_listener.set_nonblocking(true)?;
        let local_addr = std_listener.local_addr()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the metrics runtime")?;
        let (stop, stopped) = oneshot::channel::<()>();
        let source = Arc::new(source);
        let thread = std::thread::Builder::new()
            .name("tw-metrics".into())
            .spawn(move || {
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(error = %e, "metrics endpoint");
                            return;
                        }
                    };
                    let serve = async {
                        loop {
                            match listener.accept().await {
                                Ok((conn, _)) => {
                                    tokio::spawn(handle(conn, source.clone()));
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "metrics endpoint: accept");
                                    tokio::time::sleep(Duration::from_millis(100)).await;
                                }
                            }
                        }
                    };
                    tokio::select! {
                        _ = serve => {}
                        _ = stopped => {}
                    }
                })
            })
            .context("starting the metrics thread")?;
        Ok(MetricsServer {
            local_addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

async fn render(source: &Source) -> Option<String> {
    match source {
        Source::Direct(f) => Some(f()),
        Source::Ask(tx) => {
            let (reply, answer) = oneshot::channel();
            tx.send(reply).ok()?;
            tokio::time::timeout(TIMEOUT, answer).await.ok()?.ok()
        }
    }
}

async fn handle(mut conn: tokio::net::TcpStream, source: Arc<Source>) {
    let mut head = Vec::with_capacity(512);
    let read = tokio::time::timeout(TIMEOUT, async {
        let mut buf = [0u8; 1024];
        while head.len() < MAX_HEAD && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    if read.is_err() {
        return;
    }
    let (status, body, head_only) = match parse_request(&head) {
        Request::Metrics { head_only } => match render(&source).await {
            Some(text) => ("200 OK", text, head_only),
            None => (
                "503 Service Unavailable",
                "the daemon did not render its metrics in time\n".into(),
                head_only,
            ),
        },
        Request::NotFound => (
            "404 Not Found",
            "only /metrics is served here\n".into(),
            false,
        ),
        Request::BadMethod => ("405 Method Not Allowed", "GET /metrics\n".into(), false),
        Request::Malformed => ("400 Bad Request", "not an HTTP/1 request\n".into(), false),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(TIMEOUT, async {
        conn.write_all(response.as_bytes()).await?;
        if !head_only {
            conn.write_all(body.as_bytes()).await?;
        }
        conn.shutdown().await
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let m = Request::Metrics { head_only: false };
        assert_eq!(
            parse_request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            m
        );
        assert_eq!(parse_request(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"), m);
        assert_eq!(
            parse_request(b"HEAD /metrics HTTP/1.1\r\n\r\n"),
            Request::Metrics { head_only: true }
        );
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\n\r\n"), Request::NotFound);
        assert_eq!(
            parse_request(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Request::BadMethod
        );
        for junk in [
            &b""[..],
            b"\r\n",
            b"GET",
            b"GET /metrics",
            b"GET /metrics SPDY/3\r\n",
            b"GET /metrics HTTP/1.1 extra\r\n",
        ] {
            assert_eq!(parse_request(junk), Request::Malformed, "{junk:?}");
        }
        assert_eq!(
            parse_request(b"\xff\xfe\x00 /metrics HTTP/1.1"),
            Request::BadMethod
        );
    }

    #[test]
    fn random_heads_never_panic() {
        // Bytes that matter to the parser, mixed with noise (xorshift, fixed seed).
        let alphabet = b"GET HEAD /metrics?HTTP/1.\r\n \x00\xff";
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut head = Vec::with_capacity(64);
        for _ in 0..20_000 {
            head.clear();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for k in 0..(x % 48) {
                let r = x.rotate_left(k as u32 * 5);
                head.push(if r & 7 == 0 {
                    r as u8
                } else {
                    alphabet[(r >> 8) as usize % alphabet.len()]
                });
            }
            let _ = parse_request(&head);
        }
    }

    #[test]
    fn serves_metrics_over_tcp_and_refuses_other_paths() {
        use std::io::{Read, Write};
        let s = MetricsServer::start(
            "127.0.0.1:0",
            Source::Direct(Box::new(|| "tidewatch_up 1\n".into())),
        )
        .unwrap();
        let get = |req: &str| {
            let mut c = std::net::TcpStream::connect(s.local_addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.write_all(req.as_bytes()).unwrap();
            let mut out = String::new();
            c.read_to_string(&mut out).unwrap();
            out
        };
        let ok = get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\ntidewatch_up 1\n"), "{ok}");
        assert!(ok.contains("Content-Length: 15\r\n"), "{ok}");
        let nf = get("GET /other HTTP/1.1\r\n\r\n");
        assert!(nf.starts_with("HTTP/1.1 404 "), "{nf}");
    }
}
