//! `tidewatch collector`: the central daemon. Library code in `store::collector` does the
//! work; this wires flags to it and waits for a signal.

use crate::config::Config;
use anyhow::{anyhow, bail, Context, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use store::collector::{Collector, CollectorConfig};
use store::db::{Indexes, Retention, Store};

/// `tidewatch collector`: receive alerts from sensors over TLS and store them in redb.
/// Each option is also a `collector.*` config key; the flag wins.
#[derive(clap::Args)]
pub struct CollectorArgs {
    /// Address to listen on for sensors, e.g. 0.0.0.0:4700 (config `collector.listen`).
    #[arg(long)]
    pub listen: Option<String>,
    /// The redb alert store, created if missing (config `collector.db`).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Plain TCP without TLS (loopback tests only).
    #[arg(long)]
    pub insecure: bool,
    /// Directory with ca.pem, collector.pem and collector-key.pem (`tidewatch certs`).
    #[arg(long)]
    pub certs: Option<PathBuf>,
    /// Control socket for `tidewatch alerts` and `tidewatch block --collector-socket`
    /// (default: config `collector.control_socket`, /run/tidewatch/collector.sock).
    #[arg(long)]
    pub control: Option<PathBuf>,
    /// Report a sensor not heard from for this many seconds (default 60).
    #[arg(long)]
    pub silence_secs: Option<u64>,
    /// MiB of received batches that may wait for the writer before sockets stop being
    /// read (default: config `collector.buffer`, 64 MiB).
    #[arg(long)]
    pub buffer_mb: Option<u64>,
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
    /// Serve Prometheus metrics at http://ADDR/metrics (default: config `metrics.listen`).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    /// Drop root to this user once the listen, control and alert sockets are bound and
    /// the store is open (config `collector.user`).
    #[arg(long)]
    pub user: Option<String>,
}

pub fn run(a: CollectorArgs, config: &Config) -> Result<()> {
    let c = &config.collector;
    let listen = a
        .listen
        .or_else(|| c.listen.clone())
        .ok_or_else(|| anyhow!("no listen address: give --listen ADDR or set collector.listen"))?;
    let db =
        a.db.or_else(|| c.db.clone())
            .ok_or_else(|| anyhow!("no store: give --db PATH or set collector.db"))?;
    let certs = a.certs.or_else(|| c.certs.clone());
    let tls = match (a.insecure || c.insecure, &certs) {
        (true, _) => None,
        (false, Some(dir)) => Some(store::link::server_config(
            &dir.join("ca.pem"),
            &dir.join("collector.pem"),
            &dir.join("collector-key.pem"),
        )?),
        (false, None) => bail!("--certs DIR (or collector.certs) is required (make one with `tidewatch certs`), or --insecure for plain TCP"),
    };
    let indexes = if a.per_field_indexes || c.per_field_indexes {
        Indexes::PerField
    } else {
        Indexes::Covering
    };
    let store = Arc::new(
        Store::open(&db, indexes).with_context(|| format!("opening the store {}", db.display()))?,
    );
    let mut cfg = CollectorConfig::new(listen, tls);
    // One bus for the collector's links and the router's block outputs.
    let commands = store::collector::CommandBus::new();
    cfg.router = crate::notify::start_router(config, &store, commands.clone())?;
    cfg.commands = Some(commands);
    let user = a.user.or_else(|| c.user.clone());
    cfg.control = Some(a.control.unwrap_or_else(|| c.control_socket.clone()));
    cfg.silence = Duration::from_secs(a.silence_secs.unwrap_or(c.silence_secs).max(1));
    cfg.buffer_bytes = a.buffer_mb.map(|m| m.max(1) << 20).unwrap_or(c.buffer.0);
    cfg.max_commit_records = c.max_commit_records;
    cfg.inputs = config.input.clone();
    cfg.retention = Retention {
        max_age: a
            .retention_days
            .or(c.retention_days)
            .map(|d| Duration::from_secs(d * 86_400)),
        max_bytes: a
            .retention_mb
            .map(|m| m << 20)
            .or(c.retention_size.map(|s| s.0)),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let cfg_router = cfg.router.clone();
    rt.block_on(async move {
        let col = Collector::start(cfg, store).await?;
        let _metrics = match crate::metrics::listen_addr(a.metrics.as_deref(), config) {
            Some(addr) => {
                let stats = col.stats.clone();
                let router = cfg_router.clone();
                let m = crate::metrics::MetricsServer::start(
                    &addr,
                    crate::metrics::Source::Direct(Box::new(move || {
                        crate::metrics::render_collector(&stats, router.as_deref())
                    })),
                )?;
                eprintln!("metrics on http://{}/metrics", m.local_addr);
                Some(m)
            }
            None => None,
        };
        // The address line lets scripts (and tests) using port 0 find the port; it comes
        // once the metrics endpoint is up too, so "listening" means every listener is.
        eprintln!("collector listening on {}", col.local_addr);
        // Everything that needs root is bound or open by now.
        if let Some(u) = &user {
            store::privilege::drop_privileges(u).with_context(|| format!("--user {u}"))?;
            eprintln!("running as {u}");
        }
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
