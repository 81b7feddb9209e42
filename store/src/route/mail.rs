//! E-mail digests (FLoP's `alert`, OSSEC's maild): alerts gather until `max_alerts` have
//! come or `period_secs` passed since the first, then go as one message whose subject and
//! body summarise by signature, with store ids. A failed send is retried with a growing
//! pause; after `fail_after` failures in a row the gathered alerts are given up to the
//! caller (the router logs them, they are stored; the drop mailer prints them and sends
//! them to syslog, since a dropped alert is stored nowhere).

use super::config::{ConfigError, MailConfig};
use super::router::{Delivery, Output, OutputStats};
use crate::ArchivedAlertRecord;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// One alert as a digest lists it (copied: digests are small and outlive the batch).
#[derive(Clone, Debug)]
pub struct Item {
    /// Store id; `None` for a dropped alert, which was never stored.
    pub id: Option<u64>,
    pub sensor: String,
    pub seq: u64,
    pub ts_ns: u64,
    pub gid: u32,
    pub sid: u32,
    pub rev: u32,
    pub msg: String,
    pub class: String,
    pub priority: u8,
    pub flow: String,
    /// Why it was dropped (drop mailer only).
    pub note: Option<&'static str>,
}

impl Item {
    pub fn of(id: Option<u64>, r: &ArchivedAlertRecord) -> Item {
        let ep = |a: &crate::record::ArchivedAddr, p: u16| match a.to_ip() {
            Some(std::net::IpAddr::V6(ip)) => format!("[{ip}]:{p}"),
            Some(ip) => format!("{ip}:{p}"),
            None => "-".into(),
        };
        Item {
            id,
            sensor: r.sensor.as_str().into(),
            seq: r.seq.to_native(),
            ts_ns: r.ts_ns.to_native(),
            gid: r.gid.to_native(),
            sid: r.sid.to_native(),
            rev: r.rev.to_native(),
            msg: r.msg.as_str().into(),
            class: r.class.as_str().into(),
            priority: r.priority,
            flow: format!(
                "{} -> {} {}",
                ep(&r.src, r.src_port.to_native()),
                ep(&r.dst, r.dst_port.to_native()),
                crate::eve::proto_name(r.ip_proto)
            ),
            note: None,
        }
    }

    /// One log/stdout line naming everything needed to find the alert again.
    pub fn line(&self) -> String {
        let id = self.id.map_or("-".into(), |i| i.to_string());
        format!(
            "store_id={id} sensor={} seq={} ts={} [{}:{}:{}] {} (priority {}, {}) {}{}",
            self.sensor,
            self.seq,
            super::syslog::rfc3339(self.ts_ns),
            self.gid,
            self.sid,
            self.rev,
            self.msg,
            self.priority,
            self.class,
            self.flow,
            self.note.map_or(String::new(), |n| format!(" dropped={n}"))
        )
    }
}

/// Subject and body of a digest of `items`.
pub fn render(prefix: &str, items: &[Item]) -> (String, String) {
    let mut by_sig: BTreeMap<(u32, u32), Vec<&Item>> = BTreeMap::new();
    for i in items {
        by_sig.entry((i.gid, i.sid)).or_default().push(i);
    }
    let mut groups: Vec<Vec<&Item>> = by_sig.into_values().collect();
    groups.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].sid.cmp(&b[0].sid)));
    let dropped = items.iter().any(|i| i.id.is_none());
    let kind = if dropped { "dropped alerts" } else { "alerts" };
    let top = &groups[0];
    let subject = format!(
        "{prefix} {} {kind}, {} signatures: {} (x{})",
        items.len(),
        groups.len(),
        top[0].msg,
        top.len()
    );
    let (lo, hi) = items.iter().fold((u64::MAX, 0), |(lo, hi), i| {
        (lo.min(i.ts_ns), hi.max(i.ts_ns))
    });
    let mut body = format!(
        "{} {kind}, {} signatures, {} .. {}\n",
        items.len(),
        groups.len(),
        super::syslog::rfc3339(lo),
        super::syslog::rfc3339(hi)
    );
    for g in &groups {
        let f = g[0];
        let mut sensors: Vec<&str> = g.iter().map(|i| i.sensor.as_str()).collect();
        sensors.sort_unstable();
        sensors.dedup();
        let _ = write!(
            body,
            "\n[{}:{}:{}] {}\n  {} alerts, priority {}, {}\n  sensors: {}\n  first: {}\n",
            f.gid,
            f.sid,
            f.rev,
            f.msg,
            g.len(),
            f.priority,
            if f.class.is_empty() { "-" } else { &f.class },
            sensors.join(", "),
            f.flow
        );
        if dropped {
            let names: Vec<String> = g
                .iter()
                .map(|i| format!("{}/{}", i.sensor, i.seq))
                .collect();
            let _ = writeln!(body, "  dropped (sensor/seq): {}", names.join(", "));
        } else {
            let ids: Vec<String> = g
                .iter()
                .filter_map(|i| i.id.map(|x| x.to_string()))
                .collect();
            let _ = writeln!(body, "  store ids: {}", ids.join(", "));
        }
    }
    (subject, body)
}

/// The SMTP side: a transport and the envelope.
pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
    to: Vec<Mailbox>,
    prefix: String,
}

impl Mailer {
    /// Builds the transport; `key` names the config table in errors.
    pub fn new(key: &str, c: &MailConfig) -> Result<Mailer, ConfigError> {
        let bad = |k: &str, r: String| super::config::key_err(format!("{key}.{k}"), r);
        let (host, port) = c
            .server
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
            .ok_or_else(|| bad("server", format!("`{}` is not HOST:PORT", c.server)))?;
        let mut b = SmtpTransport::builder_dangerous(host)
            .port(port)
            .timeout(Some(Duration::from_secs(c.timeout_secs.max(1))));
        if c.tls != "none" {
            let mut p = TlsParameters::builder(host.to_string());
            if let Some(ca) = &c.ca {
                let pem =
                    std::fs::read(ca).map_err(|e| bad("ca", format!("{}: {e}", ca.display())))?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| bad("ca", format!("{}: {e}", ca.display())))?;
                p = p.add_root_certificate(cert);
            }
            let p = p.build_rustls().map_err(|e| bad("tls", e.to_string()))?;
            b = b.tls(if c.tls == "tls" {
                Tls::Wrapper(p)
            } else {
                Tls::Required(p)
            });
        }
        let password = match (&c.password, &c.password_file) {
            (_, Some(f)) => Some(
                std::fs::read_to_string(f)
                    .map_err(|e| bad("password_file", format!("{}: {e}", f.display())))?
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string(),
            ),
            (Some(p), None) => Some(p.clone()),
            (None, None) => None,
        };
        if let Some(user) = &c.username {
            let pw = password
                .ok_or_else(|| bad("password", "username given without a password".into()))?;
            b = b.credentials(Credentials::new(user.clone(), pw));
        }
        let from: Mailbox = c
            .from
            .parse()
            .map_err(|e| bad("from", format!("`{}`: {e}", c.from)))?;
        let to =
            c.to.iter()
                .map(|t| t.parse().map_err(|e| bad("to", format!("`{t}`: {e}"))))
                .collect::<Result<Vec<Mailbox>, _>>()?;
        Ok(Mailer {
            transport: b.build(),
            from,
            to,
            prefix: c.subject_prefix.clone(),
        })
    }

    /// Sends one digest of `items`.
    pub fn send(&self, items: &[Item]) -> Result<(), String> {
        let (subject, body) = render(&self.prefix, items);
        let mut m = Message::builder().from(self.from.clone()).subject(subject);
        for t in &self.to {
            m = m.to(t.clone());
        }
        let m = m.body(body).map_err(|e| e.to_string())?;
        self.transport
            .send(&m)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// What [`Digests::poll`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Idle,
    Sent(usize),
    /// A send failed; the alerts wait for the retry.
    Failed(String),
    /// Failed `fail_after` times in a row: these alerts are the caller's to log.
    GaveUp(String),
}

/// Gathering and sending policy, shared by the router's mail output and the drop mailer.
pub struct Digests {
    pub mailer: Mailer,
    pending: Vec<Item>,
    first_at: Option<Instant>,
    max_alerts: usize,
    period: Duration,
    fail_after: u32,
    failures: u32,
    retry_at: Option<Instant>,
}

impl Digests {
    pub fn new(mailer: Mailer, c: &MailConfig) -> Digests {
        Digests {
            mailer,
            pending: Vec::new(),
            first_at: None,
            max_alerts: c.max_alerts,
            period: Duration::from_secs(c.period_secs),
            fail_after: c.fail_after,
            failures: 0,
            retry_at: None,
        }
    }

    pub fn push(&mut self, item: Item) {
        self.first_at.get_or_insert_with(Instant::now);
        self.pending.push(item);
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Sends when due (or `flush`); on giving up, moves the alerts into `given_up`.
    pub fn poll(&mut self, flush: bool, given_up: &mut Vec<Item>) -> Outcome {
        let Some(first) = self.first_at else {
            return Outcome::Idle;
        };
        let now = Instant::now();
        let due = self.pending.len() >= self.max_alerts || now >= first + self.period;
        if !(due || flush) || self.retry_at.is_some_and(|t| now < t && !flush) {
            return Outcome::Idle;
        }
        // Whole digests of at most max_alerts, oldest first.
        let n = self.pending.len().min(self.max_alerts);
        match self.mailer.send(&self.pending[..n]) {
            Ok(()) => {
                self.pending.drain(..n);
                self.failures = 0;
                self.retry_at = None;
                self.first_at = (!self.pending.is_empty()).then_some(now);
                Outcome::Sent(n)
            }
            Err(e) => {
                self.failures += 1;
                if self.failures >= self.fail_after {
                    given_up.append(&mut self.pending);
                    self.failures = 0;
                    self.retry_at = None;
                    self.first_at = None;
                    Outcome::GaveUp(e)
                } else {
                    let pause = Duration::from_millis(500 << self.failures.min(7));
                    self.retry_at = Some(now + pause);
                    Outcome::Failed(e)
                }
            }
        }
    }
}

/// The router's mail output: gives up to the log (the alerts are stored).
pub(crate) struct MailOutput {
    digests: Digests,
    name: String,
    given_up: Vec<Item>,
}

impl MailOutput {
    pub fn new(name: &str, c: &MailConfig) -> Result<MailOutput, ConfigError> {
        Ok(MailOutput {
            digests: Digests::new(Mailer::new(&format!("output.{name}"), c)?, c),
            name: name.into(),
            given_up: Vec::new(),
        })
    }
}

impl Output for MailOutput {
    fn deliver(&mut self, d: &Delivery, stats: &OutputStats) {
        let (recs, bad) = d.records();
        stats.failed.fetch_add(bad, Relaxed);
        for (id, r) in recs {
            self.digests.push(Item::of(Some(id), r));
        }
    }

    fn tick(&mut self, stats: &OutputStats, last: bool) {
        // On shutdown, send what is gathered; bounded by the pending count.
        let rounds = if last { 1 + self.digests.pending() } else { 1 };
        for _ in 0..rounds {
            match self.digests.poll(last, &mut self.given_up) {
                Outcome::Idle => return,
                Outcome::Sent(n) => {
                    stats.sent.fetch_add(n as u64, Relaxed);
                    tracing::info!(output = %self.name, alerts = n, "digest mailed");
                }
                Outcome::Failed(e) => {
                    tracing::warn!(output = %self.name, error = %e, pending = self.digests.pending(), "digest not sent; will retry");
                }
                Outcome::GaveUp(e) => {
                    stats.failed.fetch_add(self.given_up.len() as u64, Relaxed);
                    tracing::error!(output = %self.name, error = %e, alerts = self.given_up.len(),
                        "mail keeps failing; logging the digest's alerts instead (they are in the store)");
                    for i in self.given_up.drain(..) {
                        tracing::warn!(output = %self.name, "undelivered alert: {}", i.line());
                    }
                }
            }
            if self.digests.pending() == 0 {
                return;
            }
        }
    }
}
