//! Notifiers at the binary's edge: starting the collector's router from the config (and
//! reopening its files on SIGHUP), `tidewatch profile NAME` (switch a running collector's
//! alert levels), and `tidewatch notify drop`, FLoP's `drop`: it binds the host's drop
//! channel, mails digests of what the spool refused, and when mail keeps failing writes
//! every such alert to stdout and to syslog, since a dropped alert is stored nowhere.

use crate::config::Config;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::db::Store;
use store::drop_channel::{self, DropListener, DropRecord};
use store::route::config::{MailConfig, OutputConfig, SyslogConfig};
use store::route::mail::{Digests, Item, Mailer, Outcome};
use store::route::syslog::{Format, Sender};
use store::route::Router;

/// Starts the router when the config has routes or outputs.
pub fn start_router(
    config: &Config,
    store: &Arc<Store>,
    commands: store::collector::CommandBus,
) -> Result<Option<Arc<Router>>> {
    let rc = config.router_config();
    if rc.is_empty() {
        return Ok(None);
    }
    let r = Router::start_with(rc, store.clone(), Some(commands)).context("starting the router")?;
    tracing::info!(profile = %r.profile(), "routing alerts");
    Ok(Some(r))
}

/// Reopens the router's files on every SIGHUP (inside the collector's runtime).
pub fn watch_hup(router: Option<Arc<Router>>) -> Option<Arc<Router>> {
    if let Some(r) = router.clone() {
        tokio::spawn(async move {
            let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                tracing::warn!("cannot watch SIGHUP; EVE files will not be reopened");
                return;
            };
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reopening output files");
                r.reopen();
            }
        });
    }
    router
}

/// Routes what is committed and lets outputs finish (mail sends its last digest).
pub async fn stop_router(router: Option<Arc<Router>>) {
    if let Some(r) = router {
        let _ = tokio::task::spawn_blocking(move || {
            r.shutdown();
            tracing::info!("{}", r.summary());
        })
        .await;
    }
}

/// `tidewatch profile NAME`.
#[derive(clap::Args)]
pub struct ProfileArgs {
    /// The profile to switch to (a key of `[routing.profiles]`).
    pub name: String,
    /// The collector's control socket.
    #[arg(long, default_value = "/run/tidewatch/collector.sock")]
    pub control: PathBuf,
}

/// Sends one line to the collector's control socket; its `+`/`-` reply as text or error.
pub fn collector_request(path: &Path, line: &str) -> Result<String> {
    let mut s = std::os::unix::net::UnixStream::connect(path)
        .with_context(|| format!("collector control socket {}", path.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(format!("{line}\n").as_bytes())?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    match reply.split_at_checked(1) {
        Some(("+", t)) => Ok(t.to_string()),
        Some(("-", e)) => Err(anyhow!("collector: {e}")),
        _ => Err(anyhow!(
            "collector closed the control socket without a reply"
        )),
    }
}

pub fn profile(a: ProfileArgs) -> Result<String> {
    if a.name.is_empty() || a.name.contains(char::is_whitespace) {
        bail!("profile name `{}`: must be one word", a.name);
    }
    collector_request(&a.control, &format!("profile {}", a.name))
}

#[derive(clap::Subcommand)]
pub enum NotifyCommand {
    /// Read this host's drop channel and mail digests of dropped alerts.
    Drop(DropArgs),
}

#[derive(clap::Args)]
pub struct DropArgs {
    /// The drop channel socket to bind (the path the sensor's spool sends to).
    #[arg(long)]
    pub socket: PathBuf,
    /// The drop channel's fallback file: read (and removed) at start and every second.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// `[output.NAME]` (type mail) with the SMTP settings.
    #[arg(long, default_value = "mail")]
    pub mail: String,
    /// `[output.NAME]` (type syslog) for alerts mail could not carry; default: /dev/log.
    #[arg(long)]
    pub syslog: Option<String>,
}

pub fn run(cmd: NotifyCommand, config: &Config) -> Result<ExitCode> {
    match cmd {
        NotifyCommand::Drop(a) => drop_mailer(a, config),
    }
}

static STOP: AtomicBool = AtomicBool::new(false);
/// Datagrams that were not drop frames (counted by the reader thread).
static BAD_DATAGRAMS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Relaxed);
}

fn mail_config(config: &Config, name: &str) -> Result<MailConfig> {
    match config.output.get(name) {
        Some(OutputConfig::Mail(m)) => Ok(m.clone()),
        Some(_) => bail!("config key output.{name}: is not of type mail"),
        None => bail!("config key output.{name}: missing (the drop mailer's SMTP settings; --mail NAME picks another)"),
    }
}

fn syslog_config(config: &Config, name: Option<&str>) -> Result<SyslogConfig> {
    match name {
        None => Ok(SyslogConfig {
            transport: "unix".into(),
            address: "/dev/log".into(),
            facility: "daemon".into(),
            format: "sd".into(),
            app_name: "tidewatch-drop".into(),
            hostname: None,
            ca: None,
            server_name: None,
        }),
        Some(n) => match config.output.get(n) {
            Some(OutputConfig::Syslog(s)) => Ok(s.clone()),
            Some(_) => bail!("config key output.{n}: is not of type syslog"),
            None => bail!("config key output.{n}: missing (named by --syslog)"),
        },
    }
}

/// The drop mailer's state: digests, and the records behind them (same order) for the
/// stdout/syslog fallback.
struct DropMailer {
    digests: Digests,
    records: VecDeque<DropRecord>,
    format: Format,
    syslog: Sender,
    received: u64,
    mailed: u64,
    written: u64,
    invalid: u64,
}

impl DropMailer {
    fn take(&mut self, r: DropRecord) {
        match r.access() {
            Ok(a) => {
                let mut item = Item::of(None, a);
                item.note = Some(r.reason.as_str());
                self.digests.push(item);
                self.records.push_back(r);
                self.received += 1;
            }
            Err(e) => {
                self.invalid += 1;
                tracing::error!(error = %e, "drop frame holds an invalid record; skipped");
            }
        }
    }

    fn poll(&mut self, flush: bool) {
        let mut given_up = Vec::new();
        // Bounded: each round sends a digest, fails once, or gives up.
        for _ in 0..self.records.len() + 16 {
            match self.digests.poll(flush, &mut given_up) {
                Outcome::Idle => return,
                Outcome::Sent(n) => {
                    self.records.drain(..n);
                    self.mailed += n as u64;
                    tracing::info!(alerts = n, "drop digest mailed");
                }
                Outcome::Failed(e) => {
                    tracing::warn!(error = %e, pending = self.records.len(), "drop digest not sent; will retry");
                    if !flush {
                        return;
                    }
                }
                Outcome::GaveUp(e) => {
                    tracing::error!(error = %e, alerts = given_up.len(),
                        "mail keeps failing; writing the dropped alerts to stdout and syslog");
                    self.write_out(given_up.len());
                    given_up.clear();
                }
            }
            if self.records.is_empty() {
                return;
            }
        }
    }

    /// The first `n` records go to stdout (EVE JSON lines) and syslog.
    fn write_out(&mut self, n: usize) {
        let mut out = std::io::stdout().lock();
        let mut msgs = Vec::with_capacity(n);
        for r in self.records.drain(..n) {
            let Ok(a) = r.access() else { continue };
            let mut v = store::eve::record_eve_tagged(None, a);
            if let Some(t) = v.get_mut("tidewatch").and_then(|t| t.as_object_mut()) {
                t.insert("dropped".into(), serde_json::json!(r.reason.as_str()));
            }
            if let Err(e) = writeln!(out, "{v}") {
                tracing::error!(error = %e, "stdout: {}", Item::of(None, a).line());
            }
            msgs.push(self.format.message(None, a));
        }
        let _ = out.flush();
        self.written += msgs.len() as u64;
        match self.syslog.send(&msgs) {
            Ok(n) if n == msgs.len() => {}
            Ok(n) => tracing::error!(
                unsent = msgs.len() - n,
                "syslog fallback stopped part way (the alerts are on stdout)"
            ),
            Err(e) => tracing::error!(error = %e, alerts = msgs.len(),
                "syslog fallback failed (the alerts are on stdout)"),
        }
    }
}

/// Takes the fallback file: renames it away, gives writers a moment, reads every frame.
fn drain_file(path: &Path, m: &mut DropMailer) {
    if !path.exists() {
        return;
    }
    let taken = path.with_extension(format!("reading.{}", std::process::id()));
    if let Err(e) = std::fs::rename(path, &taken) {
        tracing::warn!(file = %path.display(), error = %e, "cannot take the drop file");
        return;
    }
    std::thread::sleep(Duration::from_millis(100));
    match drop_channel::read_drop_file(&taken) {
        Ok(f) => {
            if f.skipped_bytes > 0 {
                tracing::error!(file = %path.display(), skipped = f.skipped_bytes, reason = ?f.first_error,
                    "damaged bytes in the drop file");
            }
            for r in f.records {
                m.take(r);
            }
            let _ = std::fs::remove_file(&taken);
        }
        Err(e) => tracing::error!(file = %taken.display(), error = %e, "reading the drop file"),
    }
}

fn drop_mailer(a: DropArgs, config: &Config) -> Result<ExitCode> {
    let mc = mail_config(config, &a.mail)?;
    let sc = syslog_config(config, a.syslog.as_deref())?;
    let mailer = Mailer::new(&format!("output.{}", a.mail), &mc)?;
    let mut listener = DropListener::bind(&a.socket)
        .with_context(|| format!("binding drop channel socket {}", a.socket.display()))?;
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    let mut m = DropMailer {
        digests: Digests::new(mailer, &mc),
        records: VecDeque::new(),
        format: Format::from_config(&sc),
        syslog: Sender::new(sc),
        received: 0,
        mailed: 0,
        written: 0,
        invalid: 0,
    };
    eprintln!("drop mailer listening on {}", a.socket.display());
    // The socket is read on its own thread, so a slow SMTP server never leaves the
    // kernel's small datagram queue full (senders would fall back to the file).
    let (tx, rx) = std::sync::mpsc::channel::<DropRecord>();
    let reader = std::thread::Builder::new()
        .name("tw-drop-recv".into())
        .spawn(move || {
            while !STOP.load(Relaxed) {
                match listener.recv(Duration::from_millis(100)) {
                    Ok(r) => {
                        if tx.send(r).is_err() {
                            return;
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock
                                | std::io::ErrorKind::TimedOut
                                | std::io::ErrorKind::Interrupted
                        ) => {}
                    Err(e) => {
                        BAD_DATAGRAMS.fetch_add(1, Relaxed);
                        tracing::error!(error = %e, "bad drop datagram");
                    }
                }
            }
            while let Ok(Some(r)) = listener.try_recv() {
                let _ = tx.send(r);
            }
        })?;
    let mut last_file = Instant::now() - Duration::from_secs(10);
    while !STOP.load(Relaxed) {
        if let Some(f) = &a.file {
            if last_file.elapsed() >= Duration::from_secs(1) {
                last_file = Instant::now();
                drain_file(f, &mut m);
            }
        }
        if let Ok(r) = rx.recv_timeout(Duration::from_millis(100)) {
            m.take(r);
            while let Ok(r) = rx.try_recv() {
                m.take(r);
            }
        }
        m.poll(false);
    }
    let _ = reader.join();
    while let Ok(r) = rx.try_recv() {
        m.take(r);
    }
    if let Some(f) = &a.file {
        drain_file(f, &mut m);
    }
    m.poll(true);
    if !m.records.is_empty() {
        // Leaving: whatever mail did not take goes out the fallback way, none is lost.
        m.write_out(m.records.len());
    }
    eprintln!(
        "drop mailer: received={} mailed={} written_out={} invalid={} pending={}",
        m.received,
        m.mailed,
        m.written,
        m.invalid + BAD_DATAGRAMS.load(Relaxed),
        m.records.len()
    );
    Ok(ExitCode::SUCCESS)
}
