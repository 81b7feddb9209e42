//! The sensor's end: connect (with backoff), say Hello, send batches, receive acks and
//! commands. An Ack names the highest seq such that every record this connection sent at
//! or below it is committed; acks from an earlier connection stay true. After a reconnect
//! the caller resends from its last ack (the spool's rewind); the collector de-duplicates.

use super::frames::FrameReader;
use super::Stream;
use crate::wire::{BatchEncoder, Command, Limits, Message, WireError, PROTOCOL};
use rustls::pki_types::ServerName;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS handshake with {addr}: {source}")]
    Handshake {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("collector {addr} refused the hello (closed without a welcome)")]
    Refused { addr: String },
    #[error("collector sent {0} where it should not")]
    Unexpected(&'static str),
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("gave up connecting to {addr} after {tries} tries: {last}")]
    GaveUp {
        addr: String,
        tries: u32,
        last: String,
    },
}

/// Where and how a sensor connects.
#[derive(Clone)]
pub struct LinkConfig {
    /// `host:port` of the collector.
    pub addr: String,
    /// The name the collector's certificate must carry (default: the host part of `addr`).
    pub server_name: Option<String>,
    /// TLS client configuration; `None` means plain TCP (`--insecure` only).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// This sensor's id (also its certificate's DNS name).
    pub sensor: String,
    pub limits: Limits,
    pub connect_timeout: Duration,
}

impl LinkConfig {
    pub fn new(
        addr: impl Into<String>,
        sensor: impl Into<String>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Self {
        LinkConfig {
            addr: addr.into(),
            server_name: None,
            tls,
            sensor: sensor.into(),
            limits: Limits::default(),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The collector's reply to Hello.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Welcome {
    /// The highest seq of this sensor the store holds.
    pub stored_through: Option<u64>,
}

/// What the collector sends after the welcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// Everything this connection sent up to and including this seq is committed.
    Ack(u64),
    Command(Command),
    Pong(u64),
}

type Boxed = Box<dyn Stream>;

/// The sending half.
pub struct LinkTx {
    w: WriteHalf<Boxed>,
    enc: BatchEncoder,
    limits: Limits,
    ctl: Vec<u8>,
}

/// The receiving half.
pub struct LinkRx {
    r: FrameReader<ReadHalf<Boxed>>,
}

fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Connects once: TCP (+ TLS), Hello with `last_seq` (the highest seq the sensor holds),
/// and waits for the Welcome.
pub async fn connect(
    cfg: &LinkConfig,
    last_seq: u64,
) -> Result<(LinkTx, LinkRx, Welcome), LinkError> {
    let addr = cfg.addr.clone();
    let tcp = tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(&cfg.addr))
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timed out",
            ))
        })
        .map_err(|source| LinkError::Connect {
            addr: addr.clone(),
            source,
        })?;
    tcp.set_nodelay(true).map_err(|source| LinkError::Connect {
        addr: addr.clone(),
        source,
    })?;
    let stream: Boxed = match &cfg.tls {
        None => Box::new(tcp),
        Some(tls) => {
            let name = cfg
                .server_name
                .clone()
                .unwrap_or_else(|| host_of(&cfg.addr).to_string());
            let name = ServerName::try_from(name).map_err(|e| LinkError::Handshake {
                addr: addr.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()),
            })?;
            let s = tokio::time::timeout(
                cfg.connect_timeout,
                tokio_rustls::TlsConnector::from(tls.clone()).connect(name, tcp),
            )
            .await
            .unwrap_or_else(|_| {
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "handshake timed out",
                ))
            })
            .map_err(|source| LinkError::Handshake {
                addr: addr.clone(),
                source,
            })?;
            Box::new(s)
        }
    };
    let (r, w) = tokio::io::split(stream);
    let mut tx = LinkTx {
        w,
        enc: BatchEncoder::new(),
        limits: cfg.limits,
        ctl: Vec::new(),
    };
    let mut rx = LinkRx {
        r: FrameReader::new(r, cfg.limits),
    };
    tx.control(Message::Hello {
        sensor: &cfg.sensor,
        version: PROTOCOL,
        last_seq,
    })
    .await?;
    // TLS 1.3 reports a refused client certificate only on the first read.
    let welcome = match tokio::time::timeout(cfg.connect_timeout, rx.r.next()).await {
        Ok(Ok(Some(Message::Welcome { stored_through }))) => Welcome { stored_through },
        Ok(Ok(Some(_))) => return Err(LinkError::Unexpected("a frame other than welcome")),
        Ok(Ok(None)) | Ok(Err(WireError::Io(_))) | Err(_) => {
            return Err(LinkError::Refused { addr })
        }
        Ok(Err(e)) => return Err(e.into()),
    };
    Ok((tx, rx, welcome))
}

/// Exponential backoff between connection attempts (doubling from `min` to `max`).
#[derive(Clone, Debug)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            next: min,
        }
    }
    /// The wait before the next attempt; doubles each call.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }
    /// After a connection that worked.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

/// Connects, retrying with `backoff` until it works or `deadline` passes.
pub async fn connect_with_backoff(
    cfg: &LinkConfig,
    last_seq: u64,
    backoff: &mut Backoff,
    deadline: Option<Instant>,
) -> Result<(LinkTx, LinkRx, Welcome), LinkError> {
    let mut tries = 0;
    loop {
        tries += 1;
        match connect(cfg, last_seq).await {
            Ok(v) => {
                backoff.reset();
                return Ok(v);
            }
            Err(e) => {
                let wait = backoff.next_delay();
                if deadline.is_some_and(|d| Instant::now() + wait > d) {
                    return Err(LinkError::GaveUp {
                        addr: cfg.addr.clone(),
                        tries,
                        last: e.to_string(),
                    });
                }
                tracing::warn!(collector = %cfg.addr, error = %e, retry_in = ?wait, "link down");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

impl LinkTx {
    async fn control(&mut self, m: Message<'_>) -> Result<(), LinkError> {
        self.ctl.clear();
        m.encode(&mut self.ctl);
        self.w.write_all(&self.ctl).await.map_err(WireError::Io)?;
        self.w.flush().await.map_err(WireError::Io)?;
        Ok(())
    }

    /// Sends records (rising seqs, archived bytes as spooled) in as few frames as the
    /// limits allow. Returns the last seq sent, or `None` for no records.
    pub async fn send_batch<'a>(
        &mut self,
        records: impl IntoIterator<Item = (u64, &'a [u8])>,
    ) -> Result<Option<u64>, LinkError> {
        let mut last = None;
        self.enc.clear();
        for (seq, bytes) in records {
            let need = 16 + bytes.len().div_ceil(16) * 16;
            if !self.enc.is_empty()
                && (self.enc.payload_len() + need > self.limits.max_frame as usize
                    || self.enc.len() >= self.limits.max_records)
            {
                self.flush_batch().await?;
            }
            self.enc.push(seq, bytes);
            last = Some(seq);
        }
        if !self.enc.is_empty() {
            self.flush_batch().await?;
        }
        self.w.flush().await.map_err(WireError::Io)?;
        Ok(last)
    }

    async fn flush_batch(&mut self) -> Result<(), LinkError> {
        let frame = self.enc.frame();
        self.w.write_all(frame).await.map_err(WireError::Io)?;
        self.enc.clear();
        Ok(())
    }

    /// Keepalive when there is nothing to send, so the collector does not report silence.
    pub async fn ping(&mut self, n: u64) -> Result<(), LinkError> {
        self.control(Message::Ping(n)).await
    }

    /// Closes the sending direction (the collector then finishes and closes).
    pub async fn shutdown(&mut self) -> Result<(), LinkError> {
        self.w.shutdown().await.map_err(WireError::Io)?;
        Ok(())
    }
}

impl LinkRx {
    /// The next ack, command or pong; `None` when the collector closed the link.
    pub async fn recv(&mut self) -> Result<Option<Inbound>, LinkError> {
        match self.r.next().await? {
            None => Ok(None),
            Some(Message::Ack { through }) => Ok(Some(Inbound::Ack(through))),
            Some(Message::Command(c)) => Ok(Some(Inbound::Command(c))),
            Some(Message::Pong(n)) => Ok(Some(Inbound::Pong(n))),
            Some(_) => Err(LinkError::Unexpected("a sensor-side frame")),
        }
    }
}
