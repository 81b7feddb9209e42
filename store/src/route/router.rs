//! The router: after each commit the writer bumps a counter (one atomic add and a
//! non-blocking wake-up, never a wait); the router's own thread reads the newly committed
//! alerts back by store id, matches them against the routes active under the current
//! profile, and hands each output its share over that output's bounded queue. An output
//! whose queue is full misses that share, counted; the alerts are in the store regardless.

use super::config::{ConfigError, OutputConfig, Range, RouteConfig, RouterConfig};
use super::{alert_socket, block, eve_file, exec, mail, syslog};
use crate::db::{Store, StoredAlert};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Alerts read from the store per read transaction.
const READ_BATCH: usize = 1024;
/// How often an idle output is ticked (mail periods, time rotation, socket accepts).
pub(crate) const TICK: Duration = Duration::from_millis(100);

/// Alerts handed to one output: a batch shared by all outputs, and which of it is theirs.
pub(crate) struct Delivery {
    pub alerts: Arc<Vec<StoredAlert>>,
    pub idx: Vec<u32>,
}

impl Delivery {
    /// The output's alerts with their validated records (damaged ones are logged and
    /// counted as failed by the caller through the returned count).
    pub fn records(&self) -> (Vec<(u64, &crate::ArchivedAlertRecord)>, u64) {
        let mut out = Vec::with_capacity(self.idx.len());
        let mut bad = 0;
        for &i in &self.idx {
            let a = &self.alerts[i as usize];
            match a.record() {
                Ok(r) => out.push((a.id, r)),
                Err(e) => {
                    bad += 1;
                    tracing::error!(error = %e, "routing a damaged record");
                }
            }
        }
        (out, bad)
    }
}

#[cfg(test)]
impl Delivery {
    /// All of `recs` (store id, record) as one delivery, for the outputs' tests.
    pub fn sample(recs: impl IntoIterator<Item = (u64, crate::AlertRecord)>) -> Delivery {
        let alerts: Vec<StoredAlert> = recs
            .into_iter()
            .map(|(id, r)| {
                let mut bytes = rkyv::util::AlignedVec::<16>::new();
                bytes.extend_from_slice(&r.encode().expect("a sample record encodes"));
                StoredAlert { id, bytes }
            })
            .collect();
        let idx = (0..alerts.len() as u32).collect();
        Delivery {
            alerts: Arc::new(alerts),
            idx,
        }
    }
}

/// One output's counters.
#[derive(Debug, Default)]
pub struct OutputStats {
    /// Alerts handed on (written, sent, mailed).
    pub sent: AtomicU64,
    /// Alerts the queue or the reader could not take (already stored; not retried).
    pub missed: AtomicU64,
    /// Alerts whose send failed (logged; already stored).
    pub failed: AtomicU64,
    /// Active-response detail (exec and block outputs; zero for the others).
    pub response: ResponseStats,
}

/// What the active-response outputs did, beyond sent/missed/failed.
#[derive(Debug, Default)]
pub struct ResponseStats {
    pub exec: exec::ExecStats,
    pub block: block::BlockStats,
}

/// What an output does with its alerts, on its own thread.
pub(crate) trait Output: Send {
    fn deliver(&mut self, d: &Delivery, stats: &OutputStats);
    /// Called about every [`TICK`] and when the queue closes (`last`).
    fn tick(&mut self, _stats: &OutputStats, _last: bool) {}
    /// SIGHUP: reopen files.
    fn reopen(&mut self) {}
}

struct OutputHandle {
    name: String,
    /// `None` once shut down.
    queue: Mutex<Option<SyncSender<Delivery>>>,
    stats: Arc<OutputStats>,
    /// The `type` of its config (`syslog`, `exec`, ...).
    kind: &'static str,
    is_alert_socket: bool,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    reopen: Arc<std::sync::atomic::AtomicBool>,
}

struct Route {
    name: String,
    level: Option<String>,
    priority: Option<Range>,
    classtype: Vec<String>,
    sids: Vec<Range>,
    sensors: Vec<String>,
    outputs: Vec<usize>,
}

impl Route {
    fn matches(&self, r: &crate::ArchivedAlertRecord) -> bool {
        self.priority.is_none_or(|p| p.contains(r.priority as u64))
            && (self.sids.is_empty()
                || self
                    .sids
                    .iter()
                    .any(|s| s.contains(r.sid.to_native() as u64)))
            && (self.sensors.is_empty() || self.sensors.iter().any(|s| s == r.sensor.as_str()))
            && (self.classtype.is_empty()
                || self
                    .classtype
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(r.class.as_str())))
    }
}

/// Router-wide counters.
#[derive(Debug, Default)]
pub struct RouterStats {
    /// Alerts read back and matched.
    pub routed: AtomicU64,
    /// Alerts skipped because the router fell more than `max_lag` behind the store.
    pub lagged: AtomicU64,
    /// Store reads that failed (those alerts are skipped, counted in `lagged`).
    pub read_errors: AtomicU64,
}

/// The running router.
pub struct Router {
    store: Arc<Store>,
    routes: Vec<Route>,
    outputs: Vec<OutputHandle>,
    profiles: std::collections::BTreeMap<String, Vec<String>>,
    /// The levels active now (routes without a level are always active).
    active: Mutex<(String, Vec<String>)>,
    /// Highest store id committed (written by the writer's hook).
    through: AtomicU64,
    wake: SyncSender<()>,
    max_lag: u64,
    pub stats: RouterStats,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    stop: std::sync::atomic::AtomicBool,
}

/// Why the router did not start.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("output {name}: {source}")]
    Output {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the store's last id: {0}")]
    Store(#[from] crate::db::StoreError),
    #[error("output.{0}: a block output needs the collector's sensor links (start the router with the collector's command bus)")]
    NoLinks(String),
}

impl Router {
    /// Validates `cfg`, opens every output (binding sockets, opening files) and starts
    /// the threads. Call before the collector's writer starts committing.
    pub fn start(cfg: RouterConfig, store: Arc<Store>) -> Result<Arc<Router>, RouterError> {
        Router::start_with(cfg, store, None)
    }

    /// As [`Router::start`]; `commands` carries block outputs' orders to the sensors (the
    /// collector must be started with the same bus).
    pub fn start_with(
        cfg: RouterConfig,
        store: Arc<Store>,
        commands: Option<crate::collector::CommandBus>,
    ) -> Result<Arc<Router>, RouterError> {
        cfg.validate()?;
        let names: Vec<&String> = cfg.outputs.keys().collect();
        let mut outputs = Vec::new();
        for (name, oc) in &cfg.outputs {
            let io_err = |source| RouterError::Output {
                name: name.clone(),
                source,
            };
            let stats = Arc::new(OutputStats::default());
            let out: Box<dyn Output> = match oc {
                OutputConfig::Syslog(c) => Box::new(syslog::SyslogOutput::new(c.clone())),
                OutputConfig::Mail(c) => Box::new(mail::MailOutput::new(name, c)?),
                OutputConfig::AlertSocket(c) => {
                    Box::new(alert_socket::AlertSocket::open(c).map_err(io_err)?)
                }
                OutputConfig::EveFile(c) => Box::new(eve_file::EveFile::open(c).map_err(io_err)?),
                OutputConfig::Exec(c) => {
                    Box::new(exec::ExecOutput::new(name, c, stats.clone()).map_err(io_err)?)
                }
                OutputConfig::Block(c) => {
                    let bus = commands
                        .clone()
                        .ok_or_else(|| RouterError::NoLinks(name.clone()))?;
                    Box::new(block::BlockOutput::new(name, c, bus, stats.clone()))
                }
            };
            outputs.push(spawn_output(
                name,
                out,
                cfg.routing.queue,
                oc.kind(),
                stats,
            )?);
        }
        let mut routes: Vec<Route> = cfg
            .routes
            .iter()
            .enumerate()
            .map(|(i, r): (usize, &RouteConfig)| Route {
                name: r.name.clone().unwrap_or_else(|| format!("route[{i}]")),
                level: r.level.clone(),
                priority: r.priority,
                classtype: r.classtype.clone(),
                sids: r.sids.clone(),
                sensors: r.sensors.clone(),
                outputs: r
                    .outputs
                    .iter()
                    .map(|o| names.iter().position(|n| *n == o).expect("validated"))
                    .collect(),
            })
            .collect();
        // An alert socket no route names takes the priority-1 alerts (and priority 0,
        // which only a rule's explicit `priority:0` gives and Suricata ranks above 1).
        for (i, o) in outputs.iter().enumerate() {
            if o.is_alert_socket && !routes.iter().any(|r| r.outputs.contains(&i)) {
                routes.push(Route {
                    name: format!("default-high-priority:{}", o.name),
                    level: None,
                    priority: Some(Range { lo: 0, hi: 1 }),
                    classtype: vec![],
                    sids: vec![],
                    sensors: vec![],
                    outputs: vec![i],
                });
            }
        }
        let profile = cfg
            .routing
            .profile
            .clone()
            .or_else(|| cfg.routing.profiles.keys().next().cloned())
            .unwrap_or_default();
        let levels = cfg
            .routing
            .profiles
            .get(&profile)
            .cloned()
            .unwrap_or_default();
        let (wake, woken) = mpsc::sync_channel(1);
        let router = Arc::new(Router {
            through: AtomicU64::new(store.last_id()?),
            store,
            routes,
            outputs,
            profiles: cfg.routing.profiles.clone(),
            active: Mutex::new((profile, levels)),
            wake,
            max_lag: cfg.routing.max_lag.max(READ_BATCH as u64),
            stats: RouterStats::default(),
            thread: Mutex::new(None),
            stop: Default::default(),
        });
        let r = router.clone();
        let t = std::thread::Builder::new()
            .name("tw-router".into())
            .spawn(move || r.run(woken))
            .map_err(|source| RouterError::Output {
                name: "router thread".into(),
                source,
            })?;
        *router.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(t);
        Ok(router)
    }

    /// The writer's hook: `stored` more alerts were committed (ids follow the last ones).
    /// One atomic add and a wake-up that never waits.
    pub fn committed(&self, stored: u64) {
        if stored == 0 {
            return;
        }
        self.through.fetch_add(stored, Relaxed);
        let _ = self.wake.try_send(());
    }

    /// Switches the profile (`tidewatch profile NAME`); names the levels now active.
    pub fn set_profile(&self, name: &str) -> Result<String, String> {
        let Some(levels) = self.profiles.get(name) else {
            let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
            return Err(if known.is_empty() {
                "no profiles configured ([routing.profiles] is empty)".into()
            } else {
                format!("no profile `{name}` (known: {})", known.join(", "))
            });
        };
        *self.active.lock().unwrap_or_else(|p| p.into_inner()) = (name.to_string(), levels.clone());
        tracing::info!(profile = name, ?levels, "routing profile switched");
        Ok(format!(
            "profile {name}: levels {} active",
            if levels.is_empty() {
                "(none)".into()
            } else {
                levels.join(", ")
            }
        ))
    }

    /// The current profile's name.
    pub fn profile(&self) -> String {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    /// Asks every output to reopen its files (SIGHUP).
    pub fn reopen(&self) {
        for o in &self.outputs {
            o.reopen.store(true, Relaxed);
        }
    }

    /// Counters of one output by name: (sent, missed, failed).
    pub fn output_counts(&self, name: &str) -> Option<(u64, u64, u64)> {
        self.outputs.iter().find(|o| o.name == name).map(|o| {
            (
                o.stats.sent.load(Relaxed),
                o.stats.missed.load(Relaxed),
                o.stats.failed.load(Relaxed),
            )
        })
    }

    /// Each output's name, `type` and counters (for the metrics endpoint).
    pub fn outputs(&self) -> impl Iterator<Item = (&str, &'static str, &OutputStats)> {
        self.outputs
            .iter()
            .map(|o| (o.name.as_str(), o.kind, &*o.stats))
    }

    /// Lines for the collector's `status`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "routing: profile={} routed={} lagged={}\n",
            self.profile(),
            self.stats.routed.load(Relaxed),
            self.stats.lagged.load(Relaxed)
        );
        for o in &self.outputs {
            let _ = write!(
                s,
                "output {}: sent={} missed={} failed={}",
                o.name,
                o.stats.sent.load(Relaxed),
                o.stats.missed.load(Relaxed),
                o.stats.failed.load(Relaxed)
            );
            let (ex, bl) = (&o.stats.response.exec, &o.stats.response.block);
            match o.kind {
                "exec" => {
                    let _ = write!(
                        s,
                        " ok={} exit_nonzero={} signaled={} timed_out={} spawn_errors={} running={}",
                        ex.ok.load(Relaxed),
                        ex.exit_nonzero.load(Relaxed),
                        ex.signaled.load(Relaxed),
                        ex.timed_out.load(Relaxed),
                        ex.spawn_errors.load(Relaxed),
                        ex.running.load(Relaxed)
                    );
                }
                "block" => {
                    let _ = write!(
                        s,
                        " blocks_sent={} suppressed={} exempt={} active={}",
                        bl.sent.load(Relaxed),
                        bl.suppressed.load(Relaxed),
                        bl.exempt.load(Relaxed),
                        bl.active.load(Relaxed)
                    );
                }
                _ => {}
            }
            s.push('\n');
        }
        s
    }

    /// Routes what is committed, then closes the outputs (mail sends its last digest).
    pub fn shutdown(&self) {
        self.stop.store(true, Relaxed);
        let _ = self.wake.try_send(());
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
        for o in &self.outputs {
            drop(o.queue.lock().unwrap_or_else(|p| p.into_inner()).take());
            if let Some(t) = o.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = t.join();
            }
        }
    }

    fn run(&self, woken: Receiver<()>) {
        let mut routed = self.through.load(Relaxed);
        loop {
            let stopping = self.stop.load(Relaxed);
            let through = self.through.load(Relaxed);
            while routed < through {
                if through - routed > self.max_lag {
                    let skip = through - routed - self.max_lag;
                    self.stats.lagged.fetch_add(skip, Relaxed);
                    tracing::warn!(
                        skipped = skip,
                        "router fell behind the store; skipped alerts stay stored"
                    );
                    routed += skip;
                }
                let upto = through.min(routed + READ_BATCH as u64);
                match self.store.alerts_in(routed + 1, upto, READ_BATCH) {
                    Ok(batch) => self.dispatch(batch),
                    Err(e) => {
                        self.stats.read_errors.fetch_add(1, Relaxed);
                        self.stats.lagged.fetch_add(upto - routed, Relaxed);
                        tracing::error!(error = %e, "router could not read committed alerts");
                    }
                }
                routed = upto;
            }
            if stopping {
                return;
            }
            let _ = woken.recv_timeout(Duration::from_millis(200));
        }
    }

    fn dispatch(&self, batch: Vec<StoredAlert>) {
        if batch.is_empty() {
            return;
        }
        self.stats.routed.fetch_add(batch.len() as u64, Relaxed);
        let levels = self
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone();
        let active: Vec<&Route> = self
            .routes
            .iter()
            .filter(|r| r.level.as_ref().is_none_or(|l| levels.contains(l)))
            .collect();
        let mut per_output: Vec<Vec<u32>> = vec![Vec::new(); self.outputs.len()];
        let mut hit = vec![false; self.outputs.len()];
        for (i, a) in batch.iter().enumerate() {
            let Ok(r) = a.record() else {
                tracing::error!(id = a.id, "stored record is damaged; not routed");
                continue;
            };
            hit.iter_mut().for_each(|h| *h = false);
            for route in &active {
                if route.matches(r) {
                    for &o in &route.outputs {
                        if !hit[o] {
                            hit[o] = true;
                            per_output[o].push(i as u32);
                        }
                    }
                    tracing::trace!(route = %route.name, id = a.id, "matched");
                }
            }
        }
        let alerts = Arc::new(batch);
        for (o, idx) in self.outputs.iter().zip(per_output) {
            if idx.is_empty() {
                continue;
            }
            let n = idx.len() as u64;
            let guard = o.queue.lock().unwrap_or_else(|p| p.into_inner());
            let Some(q) = guard.as_ref() else {
                o.stats.missed.fetch_add(n, Relaxed);
                continue;
            };
            match q.try_send(Delivery {
                alerts: alerts.clone(),
                idx,
            }) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    o.stats.missed.fetch_add(n, Relaxed);
                    tracing::debug!(output = %o.name, missed = n, "output queue full");
                }
            }
        }
    }
}

fn spawn_output(
    name: &str,
    mut out: Box<dyn Output>,
    queue: usize,
    kind: &'static str,
    stats: Arc<OutputStats>,
) -> Result<OutputHandle, RouterError> {
    let (tx, rx) = mpsc::sync_channel::<Delivery>(queue);
    let reopen = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (s, r) = (stats.clone(), reopen.clone());
    let t = std::thread::Builder::new()
        .name(format!("tw-out-{name}"))
        .spawn(move || loop {
            if r.swap(false, Relaxed) {
                out.reopen();
            }
            match rx.recv_timeout(TICK) {
                Ok(d) => {
                    out.deliver(&d, &s);
                    out.tick(&s, false);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => out.tick(&s, false),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    out.tick(&s, true);
                    return;
                }
            }
        })
        .map_err(|source| RouterError::Output {
            name: name.into(),
            source,
        })?;
    Ok(OutputHandle {
        name: name.into(),
        queue: Mutex::new(Some(tx)),
        stats,
        kind,
        is_alert_socket: kind == "alert_socket",
        thread: Mutex::new(Some(t)),
        reopen,
    })
}
