//! `tidewatch collector`: the central daemon. Library code in `store::collector` does the
//! work; this wires flags to it and waits for a signal.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use store::collector::{Collector, CollectorConfig};
use store::db::{Indexes, Retention, Store};

/// `tidewatch collector`: receive alerts from sensors over TLS and store them in redb.
#[derive(clap::Args)]
pub struct CollectorArgs {
    /// Address to listen on for sensors, e.g. 0.0.0.0:4700.
    #[arg(long)]
    pub listen: String,
    /// The redb alert store (created if missing).
    #[arg(long)]
    pub db: PathBuf,
    /// Plain TCP without TLS (loopback tests only).
    #[arg(long)]
    pub insecure: bool,
    /// Directory with ca.pem, collector.pem and collector-key.pem (`tidewatch certs`).
    #[arg(long)]
    pub certs: Option<PathBuf>,
    /// Control socket that `tidewatch alerts` queries while this collector holds the store.
    #[arg(long, default_value = "/run/tidewatch/collector.sock")]
    pub control: PathBuf,
    /// Report a sensor not heard from for this many seconds.
    #[arg(long, default_value_t = 60)]
    pub silence_secs: u64,
    /// MiB of received batches that may wait for the writer before sockets stop being read.
    #[arg(long, default_value_t = 64)]
    pub buffer_mb: u64,
    /// Remove alerts older than this many days (by arrival).
    #[arg(long)]
    pub retention_days: Option<u64>,
    /// Keep at most this many MiB of alert records (oldest go first).
    #[arg(long)]
    pub retention_mb: Option<u64>,
    /// Also index sid, source and destination in their own B-trees (new stores only;
    /// faster filtered queries, slower writes).
    #[arg(long)]
    pub per_field_indexes: bool,
}

pub fn run(a: CollectorArgs, config: &crate::config::Config) -> Result<()> {
    let tls = match (a.insecure, &a.certs) {
        (true, _) => None,
        (false, Some(dir)) => Some(store::link::server_config(
            &dir.join("ca.pem"),
            &dir.join("collector.pem"),
            &dir.join("collector-key.pem"),
        )?),
        (false, None) => bail!("--certs DIR is required (make one with `tidewatch certs`), or --insecure for plain TCP"),
    };
    let indexes = if a.per_field_indexes {
        Indexes::PerField
    } else {
        Indexes::Covering
    };
    let store = Arc::new(Store::open(&a.db, indexes)?);
    let mut cfg = CollectorConfig::new(a.listen, tls);
    cfg.router = crate::notify::start_router(config, &store)?;
    cfg.control = Some(a.control);
    cfg.silence = Duration::from_secs(a.silence_secs.max(1));
    cfg.buffer_bytes = a.buffer_mb.max(1) << 20;
    cfg.retention = Retention {
        max_age: a.retention_days.map(|d| Duration::from_secs(d * 86_400)),
        max_bytes: a.retention_mb.map(|m| m << 20),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let cfg_router = cfg.router.clone();
    rt.block_on(async move {
        let col = Collector::start(cfg, store).await?;
        // The address line lets scripts (and tests) using port 0 find the port.
        eprintln!("collector listening on {}", col.local_addr);
        let router = crate::notify::watch_hup(cfg_router);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("{}", col.stats.summary());
        col.shutdown().await;
        crate::notify::stop_router(router).await;
        Ok(())
    })
}
