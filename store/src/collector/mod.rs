//! The collector daemon's logic: accept many sensors (tokio, one task per connection: the
//! work per connection is I/O waiting and validation, and a task costs kilobytes where a
//! thread costs a stack), validate every frame, queue batches in a bounded buffer for the
//! one redb writer thread, acknowledge after commit, report silent sensors, and answer
//! queries on the control socket.

mod commands;
mod conn;
mod control;
mod stats;
mod writer;

pub use commands::CommandBus;
pub use control::{query_via_socket, request_via_socket};
pub use stats::{Reject, SensorState, Stats};
pub use writer::AckState;
pub(crate) use writer::Job;

use crate::db::{Retention, Store};
use crate::wire::{Command, Limits};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// How the collector runs.
#[derive(Clone)]
pub struct CollectorConfig {
    pub listen: String,
    /// Server TLS with client certificates required; `None` is plain TCP (`--insecure`).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub limits: Limits,
    /// Bytes of received batches that may wait for the writer before reading stops.
    pub buffer_bytes: u64,
    /// Most records per commit.
    pub max_commit_records: usize,
    /// A sensor not heard from for this long is reported silent.
    pub silence: Duration,
    pub control: Option<PathBuf>,
    pub retention: Retention,
    pub retention_every: Duration,
    /// Told of every commit, and answers `profile NAME` on the control socket.
    pub router: Option<Arc<crate::route::Router>>,
    /// The command bus (and counters) to use, when the router's block outputs were
    /// given it before the collector started; `None`: a fresh one.
    pub commands: Option<CommandBus>,
    /// Alerts from other sources (Suricata EVE, a FIFO), stored like a sensor's.
    pub inputs: Vec<crate::input::InputConfig>,
}

impl CollectorConfig {
    pub fn new(listen: impl Into<String>, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        CollectorConfig {
            listen: listen.into(),
            tls,
            limits: Limits::default(),
            buffer_bytes: 64 << 20,
            max_commit_records: 8192,
            silence: Duration::from_secs(60),
            control: None,
            retention: Retention::default(),
            retention_every: Duration::from_secs(60),
            router: None,
            commands: None,
            inputs: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("control socket {path}: {source}")]
    Control {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("buffer of {0} bytes: must be 1 byte to 4 GiB and hold one largest frame")]
    Buffer(u64),
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
}

pub(crate) struct Shared {
    pub store: Arc<Store>,
    pub stats: Arc<Stats>,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub limits: Limits,
    pub buffer: Arc<Semaphore>,
    pub capacity: u64,
    pub jobs: std::sync::mpsc::Sender<writer::Job>,
    pub commands: CommandBus,
    /// Set once at shutdown; a watch keeps the value, so a connection still in its
    /// handshake when shutdown starts sees it at its next wait (a `Notify` it missed).
    pub stop: watch::Sender<bool>,
    pub router: Option<Arc<crate::route::Router>>,
}

/// A running collector (inside the caller's tokio runtime).
pub struct Collector {
    pub local_addr: SocketAddr,
    pub stats: Arc<Stats>,
    shared: Arc<Shared>,
    paused: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Collector {
    /// Binds and starts serving. Must be called inside a tokio runtime.
    pub async fn start(
        cfg: CollectorConfig,
        store: Arc<Store>,
    ) -> Result<Collector, CollectorError> {
        if cfg.buffer_bytes == 0 || cfg.buffer_bytes > u32::MAX as u64 {
            return Err(CollectorError::Buffer(cfg.buffer_bytes));
        }
        let listener =
            TcpListener::bind(&cfg.listen)
                .await
                .map_err(|source| CollectorError::Listen {
                    addr: cfg.listen.clone(),
                    source,
                })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| CollectorError::Listen {
                addr: cfg.listen.clone(),
                source,
            })?;
        let control = match &cfg.control {
            Some(p) => Some(control::bind(p).map_err(|source| CollectorError::Control {
                path: p.clone(),
                source,
            })?),
            None => None,
        };
        let commands = cfg.commands.clone().unwrap_or_default();
        let stats = commands.stats.clone();
        stats.buffer_capacity.store(cfg.buffer_bytes, Relaxed);
        let (jobs, rx) = std::sync::mpsc::channel();
        let paused = Arc::new(AtomicBool::new(false));
        let writer = {
            let (store, stats, paused) = (store.clone(), stats.clone(), paused.clone());
            let wcfg = writer::WriterConfig {
                max_records: cfg.max_commit_records,
                retention: cfg.retention,
                retention_every: cfg.retention_every,
                compact_after_retention: true,
                router: cfg.router.clone(),
            };
            std::thread::Builder::new()
                .name("tw-writer".into())
                .spawn(move || writer::run(store, rx, stats, paused, wcfg))
                .map_err(|source| CollectorError::Listen {
                    addr: "writer thread".into(),
                    source,
                })?
        };
        let shared = Arc::new(Shared {
            store,
            stats: stats.clone(),
            tls: cfg.tls.clone().map(tokio_rustls::TlsAcceptor::from),
            limits: cfg.limits,
            buffer: Arc::new(Semaphore::new(cfg.buffer_bytes as usize)),
            capacity: cfg.buffer_bytes,
            jobs,
            commands,
            stop: watch::channel(false).0,
            router: cfg.router.clone(),
        });
        if !cfg.inputs.is_empty() {
            let sink = Arc::new(crate::input::Sink::new(shared.clone()));
            match crate::input::start(&cfg.inputs, sink).await {
                Ok(i) => {
                    let _ = stats.inputs.set(i.stats);
                }
                Err(e) => {
                    shared.stop.send_replace(true);
                    return Err(e.into());
                }
            }
        }
        let mut tasks = Vec::new();
        let s = shared.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((tcp, peer)) => {
                        tokio::spawn(conn::serve(s.clone(), tcp, peer));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }));
        let s = stats.clone();
        let silence = cfg.silence;
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval((silence / 4).max(Duration::from_millis(10)));
            loop {
                tick.tick().await;
                s.check_silence(silence);
            }
        }));
        if let Some(l) = control {
            tasks.push(tokio::spawn(control::serve(shared.clone(), l)));
        }
        tracing::info!(%local_addr, tls = cfg.tls.is_some(), "collector listening");
        Ok(Collector {
            local_addr,
            stats,
            shared,
            paused,
            tasks,
            writer: Some(writer),
        })
    }

    /// Holds the writer (nothing is committed or acknowledged while paused), e.g. for
    /// maintenance; received batches wait in the bounded buffer, then the sockets wait.
    pub fn pause_writer(&self, paused: bool) {
        self.paused.store(paused, Relaxed);
    }

    /// Sends a command to one sensor (`Some(name)`) or all connected ones.
    pub fn command(&self, sensor: Option<String>, cmd: Command) -> usize {
        self.shared.commands.tx.send((sensor, cmd)).unwrap_or(0)
    }

    /// Stops accepting, closes links, lets the writer commit and ack what it holds.
    pub async fn shutdown(mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.shared.stop.send_replace(true);
        self.paused.store(false, Relaxed);
        let shared = self.shared.clone();
        drop(self.shared);
        // Connections hold `shared` (and so the job sender); wait (bounded) for them.
        for _ in 0..200 {
            if Arc::strong_count(&shared) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(shared);
        if let Some(w) = self.writer.take() {
            let _ = tokio::task::spawn_blocking(move || w.join()).await;
        }
    }
}
