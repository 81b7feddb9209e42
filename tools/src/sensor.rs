//! `tidewatch sensor`: live capture on an interface (XDP + AF_XDP), alerts as EVE JSON,
//! rule reload on SIGHUP or `tidewatch reload`, blocklist edits via `tidewatch block`,
//! a summary on SIGINT/SIGTERM after detaching and flushing. With `--collector` alerts
//! also go through the spool to the collector, whose `block` commands this applies.

use crate::config::Config;
use crate::control::{self, ControlServer, Request};
use crate::deliver::Delivery;
use crate::{eve, ruleset};
use anyhow::{anyhow, bail, Context, Result};
use capture::afxdp::RxConfig;
use capture::xdp::{ModeChoice, Prefix};
use detect::live::{LiveConfig, LiveReport, LiveStatus, Sensor};
use detect::worker::WorkerConfig;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use store::wire::Command;

/// `tidewatch sensor` options (each also a `sensor.*` config key).
#[derive(clap::Args)]
pub struct SensorArgs {
    /// Interface to capture on (default: config `sensor.iface`).
    #[arg(long)]
    pub iface: Option<String>,
    /// Rule file (repeatable; also config `rules.files`).
    #[arg(long, short = 'r')]
    pub rules: Vec<PathBuf>,
    /// RX queues to capture, one AF_XDP socket and worker each (default 1).
    #[arg(long)]
    pub queues: Option<u32>,
    /// Detection workers; more than --queues selects dispatch mode.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Where EVE JSON alerts go: a path (appended), or `-` for stdout (the default).
    #[arg(long)]
    pub eve: Option<PathBuf>,
    /// Drop root to this user once capture is set up.
    #[arg(long)]
    pub user: Option<String>,
    /// Control socket (default /run/tidewatch/sensor.sock).
    #[arg(long)]
    pub control_socket: Option<PathBuf>,
    /// Any skipped (unsupported) or invalid rule is an error.
    #[arg(long)]
    pub strict: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics (default: config `metrics.listen`).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    #[command(flatten)]
    delivery: crate::DeliveryFlags,
}

/// Hands the delivery back to the main loop when the output thread drops its alert
/// handler (at stop), so the handler owns it without a lock per alert.
struct Handback(Option<Delivery>, mpsc::Sender<Delivery>);

impl Drop for Handback {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            let _ = self.1.send(d);
        }
    }
}

/// How long a stopping sensor waits for the collector's last acknowledgments; what is
/// still unacknowledged then stays in the spool for the next run.
const FINAL_ACK_WAIT: Duration = Duration::from_secs(5);

/// The control-socket line for a command from the collector: `block` goes through the
/// same path as `tidewatch block`.
fn command_line(c: &Command) -> String {
    match c {
        Command::Block(b) if b.secs == 0 => format!("block {}/{}", b.net, b.prefix),
        Command::Block(b) => format!("block {}/{} {}", b.net, b.prefix, b.secs),
    }
}

type Eve = Arc<Mutex<Box<dyn Write + Send>>>;

fn open_eve(path: Option<&Path>) -> Result<Eve> {
    let w: Box<dyn Write + Send> = match path {
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
        Some(p) if p == Path::new("-") => Box::new(std::io::BufWriter::new(std::io::stdout())),
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening EVE file {}", p.display()))?,
        )),
    };
    Ok(Arc::new(Mutex::new(w)))
}

/// Blocks the signals the main loop waits for, in this thread and every thread it
/// starts afterwards, so they are taken only by `sigtimedwait` below.
fn block_signals() -> libc::sigset_t {
    // SAFETY: plain signal-set manipulation on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_signal(set: &libc::sigset_t, timeout: Duration) -> Option<i32> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `set` and `ts` are valid; we do not ask for siginfo.
    let s = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) };
    (s > 0).then_some(s)
}

fn status_line(s: &LiveStatus) -> String {
    let drops: u64 = s.sockets.iter().map(|k| k.total()).sum();
    format!(
        "seen {} redirected {} blocked {} passed {} inspected {} alerts {} socket_drops {} rules_generation {}",
        s.seen(),
        s.redirected(),
        s.xdp.iter().map(|c| c.blocked).sum::<u64>(),
        s.xdp.iter().map(|c| c.passed).sum::<u64>(),
        s.inspected_total(),
        s.alerts,
        drops,
        s.generation
    )
}

struct Daemon<'a> {
    sensor: Sensor,
    config: &'a Config,
    rules: Vec<PathBuf>,
    strict: bool,
    /// Blocks with an end time (`block --for`).
    timed_blocks: Vec<(Prefix, Instant)>,
    metrics: Arc<crate::metrics::SensorMetrics>,
}

impl Daemon<'_> {
    /// Builds the new rule set aside; a file that fails to load or has invalid rules
    /// keeps the running set.
    fn reload(&mut self) -> Result<String> {
        let t = Instant::now();
        let set = ruleset::load(self.config, &self.rules, self.strict)
            .context("reload failed, the old rules keep running")?;
        if set.loaded.errors > 0 {
            bail!(
                "reload failed, the old rules keep running: {} invalid rule(s) in {}",
                set.loaded.errors,
                ruleset::display_files(&set.loaded.files)
            );
        }
        self.sensor.reload(set.engine);
        self.metrics
            .set_rules(set.loaded.enforced, set.loaded.skipped);
        let msg = format!(
            "ok reloaded: {} enforced, {} skipped, built in {:.2}s",
            set.loaded.enforced,
            set.loaded.skipped,
            t.elapsed().as_secs_f64()
        );
        tracing::info!("{msg}");
        Ok(msg)
    }

    fn command(&mut self, line: &str) -> Result<String> {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("reload") => self.reload(),
            Some("block") => {
                let p: Prefix = words
                    .next()
                    .ok_or_else(|| anyhow!("block needs a CIDR"))?
                    .parse()?;
                let dur = words.next().map(control::parse_duration).transpose()?;
                self.sensor.block(&p)?;
                self.timed_blocks.retain(|(q, _)| *q != p);
                if let Some(d) = dur {
                    self.timed_blocks.push((p, Instant::now() + d));
                }
                tracing::info!(prefix = %p, secs = dur.map(|d| d.as_secs()), "blocked");
                Ok(match dur {
                    Some(d) => format!("ok blocked {p} for {}s", d.as_secs()),
                    None => format!("ok blocked {p}"),
                })
            }
            Some("unblock") => {
                let p: Prefix = words
                    .next()
                    .ok_or_else(|| anyhow!("unblock needs a CIDR"))?
                    .parse()?;
                self.timed_blocks.retain(|(q, _)| *q != p);
                Ok(if self.sensor.unblock(&p)? {
                    format!("ok unblocked {p}")
                } else {
                    format!("ok {p} was not blocked")
                })
            }
            Some("status") => Ok(format!("ok {}", status_line(&self.sensor.status()))),
            _ => {
                bail!("unknown request `{line}` (reload, block CIDR [SECS], unblock CIDR, status)")
            }
        }
    }

    fn expire_blocks(&mut self) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.timed_blocks.len() {
            if self.timed_blocks[i].1 <= now {
                let (p, _) = self.timed_blocks.swap_remove(i);
                match self.sensor.unblock(&p) {
                    Ok(_) => tracing::info!(prefix = %p, "block expired"),
                    Err(e) => tracing::warn!(prefix = %p, error = %e, "removing an expired block"),
                }
            } else {
                i += 1;
            }
        }
    }
}

fn print_summary(r: &LiveReport, started: Instant) {
    let t = r.totals();
    let s = &r.status;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    eprintln!("{}", status_line(s));
    for (q, c) in s.xdp.iter().enumerate() {
        let k = s.sockets.get(q).copied().unwrap_or_default();
        eprintln!(
            "queue {q}: seen {} redirected {} blocked {} passed {} short {}; socket rx_dropped {} ring_full {} fill_empty {} invalid {}",
            c.seen, c.redirected, c.blocked, c.passed, c.errors,
            k.rx_dropped, k.rx_ring_full, k.fill_ring_empty, k.rx_invalid
        );
    }
    crate::replay::print_counts(&t);
    eprintln!("alerts: {}", t.alerts);
    if s.alert_waits > 0 {
        eprintln!("alert queue full waits: {}", s.alert_waits);
    }
    eprintln!(
        "ran {:.1}s, {:.3} Mpps inspected on average",
        secs,
        t.packets as f64 / secs / 1e6
    );
}

/// Runs until SIGINT/SIGTERM.
pub fn run(args: SensorArgs, config: &Config) -> Result<()> {
    let sc = &config.sensor;
    let iface = args
        .iface
        .clone()
        .or_else(|| sc.iface.clone())
        .ok_or_else(|| anyhow!("no interface: give --iface IF or set sensor.iface"))?;
    let sigs = block_signals();
    let started = Instant::now();
    let set = ruleset::load(config, &args.rules, args.strict)?;
    eprint!("{}", set.loaded.render());
    let eve_path = args.eve.clone().or_else(|| sc.eve.clone());
    let (commands_tx, commands) = mpsc::channel::<Command>();
    // Opened before capture starts: a spool that cannot be allocated stops us here.
    let delivery = match args.delivery.into_args()? {
        Some(d) => Some(Delivery::open(&d, &iface, move |c| {
            let _ = commands_tx.send(c);
        })?),
        None => None,
    };
    // With a collector, EVE lines are written only when asked for.
    let eve_out = match (&delivery, eve_path) {
        (Some(_), None) => None,
        (_, p) => Some(open_eve(p.as_deref())?),
    };
    let live = LiveConfig {
        iface: iface.clone(),
        queues: args.queues.unwrap_or(sc.queues),
        workers: args.workers.or(sc.workers),
        rx: RxConfig {
            frames: sc.frames,
            rx_ring: sc.frames,
            busy_poll_us: (sc.busy_poll_us > 0).then_some(sc.busy_poll_us),
            ..RxConfig::default()
        },
        xdp_mode: match sc.xdp_mode.as_str() {
            "driver" => ModeChoice::Driver,
            "skb" => ModeChoice::Skb,
            _ => ModeChoice::Auto,
        },
        pin: config.detect.pin_workers,
        batch: sc.batch,
        ..LiveConfig::default()
    };
    let n_workers = live.workers.unwrap_or(live.queues as usize).max(1);
    let wcfg = WorkerConfig {
        // Both memcaps are totals, shared out among the workers.
        flow: config.flow.to_detect_for(n_workers),
        checksums: config.checksum_mode(),
        stream: config.stream.to_detect(n_workers),
        defrag: config.defrag.to_detect(n_workers),
    };
    let metrics = Arc::new(crate::metrics::SensorMetrics::default());
    metrics.set_rules(set.loaded.enforced, set.loaded.skipped);
    if let Some(d) = &delivery {
        let (spool, shipper) = d.metrics_sources();
        metrics.attach_delivery(spool, shipper);
    }
    let write_errors = metrics.output_errors.clone();
    let deliver_errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (handback_tx, handback) = mpsc::channel();
    let sensor = {
        let eve_out = eve_out.clone();
        let in_iface = iface.clone();
        let (write_errors, deliver_errors) = (write_errors.clone(), deliver_errors.clone());
        let metrics = metrics.clone();
        let mut line = Vec::with_capacity(4096);
        let mut delivery = Handback(delivery, handback_tx);
        Sensor::start(&live, set.engine, &wcfg, move |a| {
            metrics
                .detect_latency
                .record_since(store::latency::now_ns(), [a.ts_ns]);
            if let Some(d) = delivery.0.as_mut() {
                if let Err(e) = d.submit(&a) {
                    if deliver_errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                        tracing::error!(error = %crate::errtext::one_line(&e), "an alert could be placed neither in the spool nor in the drop channel; counting the rest");
                    }
                }
            }
            let Some(eve_out) = &eve_out else { return };
            line.clear();
            let v = eve::alert_json(&a, Some(&in_iface));
            let ok = serde_json::to_writer(&mut line, &v).is_ok() && {
                line.push(b'\n');
                let mut w = eve_out.lock().unwrap_or_else(|p| p.into_inner());
                w.write_all(&line).is_ok()
            };
            if !ok && write_errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                tracing::error!("writing an EVE alert failed; counting the rest");
            }
        })
        .with_context(|| format!("starting capture on {iface}"))?
    };
    let control_path = args
        .control_socket
        .clone()
        .unwrap_or_else(|| sc.control_socket.clone());
    let (control, requests) = ControlServer::start(&control_path)?;
    let (scrape_tx, scrapes) = std::sync::mpsc::channel();
    let metrics_server = crate::metrics::listen_addr(args.metrics.as_deref(), config)
        .map(|addr| {
            crate::metrics::MetricsServer::start(&addr, crate::metrics::Source::Ask(scrape_tx))
        })
        .transpose()?;
    let user = args.user.clone().or_else(|| sc.user.clone());
    if let Some(u) = &user {
        // Capture keeps its already-open sockets, links and maps, which need no privilege
        // to use or to close (closing the XDP link detaches it).
        store::privilege::drop_privileges(u).with_context(|| format!("--user {u}"))?;
    }
    eprintln!(
        "capturing on {iface}: {} queue(s), {} worker(s){}, XDP {} mode, AF_XDP {}, control socket {}{}",
        live.queues,
        live.workers.unwrap_or(live.queues as usize),
        if sensor.dispatch() { " (dispatch)" } else { "" },
        sensor.xdp_mode(),
        if sensor.zero_copy() { "zero-copy" } else { "copy mode" },
        control_path.display(),
        user.map(|u| format!(", running as {u}")).unwrap_or_default(),
    );
    if let Some(m) = &metrics_server {
        eprintln!("metrics on http://{}/metrics", m.local_addr);
    }
    let mut d = Daemon {
        sensor,
        config,
        rules: args.rules.clone(),
        strict: args.strict,
        timed_blocks: Vec::new(),
        metrics,
    };
    let mut last_stats = Instant::now();
    let mut last_drops = 0u64;
    loop {
        match wait_signal(&sigs, Duration::from_millis(100)) {
            Some(libc::SIGHUP) => {
                if let Err(e) = d.reload() {
                    tracing::error!("{}", crate::errtext::one_line(&e));
                    eprintln!("error: {}", crate::errtext::one_line(&e));
                } else {
                    eprintln!("rules reloaded (SIGHUP)");
                }
            }
            Some(_) => break,
            None => {}
        }
        while let Ok(Request { line, reply }) = requests.try_recv() {
            let answer = d
                .command(&line)
                .unwrap_or_else(|e| format!("error: {}", crate::errtext::one_line(&e)));
            let _ = reply.send(answer);
        }
        while let Ok(reply) = scrapes.try_recv() {
            let _ = reply.send(crate::metrics::render_sensor(&d.metrics, &d.sensor));
        }
        while let Ok(c) = commands.try_recv() {
            let line = command_line(&c);
            match d.command(&line) {
                Ok(answer) => {
                    tracing::info!(command = %line, %answer, "command from the collector")
                }
                Err(e) => {
                    tracing::warn!(command = %line, error = %crate::errtext::one_line(&e), "command from the collector failed")
                }
            }
        }
        d.expire_blocks();
        if let Some(Err(e)) = eve_out
            .as_ref()
            .map(|w| w.lock().unwrap_or_else(|p| p.into_inner()).flush())
        {
            tracing::warn!(error = %e, "flushing EVE output");
        }
        if last_stats.elapsed() >= Duration::from_secs(5) {
            last_stats = Instant::now();
            let s = d.sensor.status();
            let drops: u64 = s.sockets.iter().map(|k| k.total()).sum();
            if drops > last_drops {
                tracing::warn!(
                    new = drops - last_drops,
                    "AF_XDP sockets dropped frames (workers too slow or rings too small): {}",
                    status_line(&s)
                );
                last_drops = drops;
            } else {
                tracing::debug!("{}", status_line(&s));
            }
        }
    }
    drop(control);
    drop(metrics_server);
    let report = d.sensor.stop();
    if let Some(w) = &eve_out {
        w.lock()
            .unwrap_or_else(|p| p.into_inner())
            .flush()
            .context("flushing EVE output")?;
    }
    print_summary(&report, started);
    if let Ok(delivery) = handback.try_recv() {
        eprintln!("{}", delivery.finish(Some(FINAL_ACK_WAIT)));
    }
    let errs = write_errors.load(std::sync::atomic::Ordering::Relaxed);
    if errs > 0 {
        bail!("{errs} alert(s) could not be written to the EVE output");
    }
    let errs = deliver_errors.load(std::sync::atomic::Ordering::Relaxed);
    if errs > 0 {
        bail!("{errs} alert(s) could be placed neither in the spool nor in the drop channel");
    }
    Ok(())
}
