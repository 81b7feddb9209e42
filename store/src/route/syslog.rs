//! Syslog forwarding (OSSEC's csyslogd): each alert as one RFC 5424 message, over UDP,
//! TCP with RFC 6587 octet counting, the same over TLS (RFC 5425), or a local unix
//! datagram socket (/dev/log). The alert goes as structured data (`tidewatch@32473`, the
//! documentation enterprise number) with the signature as message, or as the EVE object.
//! A batch is written with one `write_all` on stream transports.

use super::config::SyslogConfig;
use super::router::{Delivery, Output, OutputStats};
use crate::ArchivedAlertRecord;
use rustls::pki_types::ServerName;
use std::io::{self, Write};
use std::net::{TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The facility number for a name or number (RFC 5424 table 1).
pub fn facility_code(f: &str) -> Option<u8> {
    const NAMES: [&str; 24] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2",
        "local3", "local4", "local5", "local6", "local7",
    ];
    match f.parse::<u8>() {
        Ok(n) if n < 24 => Some(n),
        Ok(_) => None,
        Err(_) => NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(f))
            .map(|p| p as u8),
    }
}

/// Syslog severity for an alert priority: 0 (a rule's explicit `priority:0`, ranked above
/// 1 as in Suricata) and 1 critical, 2 error, 3 warning, else notice.
pub fn severity_of(priority: u8) -> u8 {
    match priority {
        0 | 1 => 2,
        2 => 3,
        3 => 4,
        _ => 5,
    }
}

/// RFC 3339 UTC with microseconds, as RFC 5424 TIMESTAMP wants.
pub fn rfc3339(ts_ns: u64) -> String {
    let secs = ts_ns / 1_000_000_000;
    let (y, m, d) = crate::eve::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        (ts_ns % 1_000_000_000) / 1000
    )
}

/// This host's name (the HOSTNAME field), or `-`.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(0);
    if rc != 0 || end == 0 {
        return "-".into();
    }
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// An SD-PARAM value with `"`, `\` and `]` escaped (RFC 5424 6.3.3).
fn sd_escape(out: &mut String, v: &str) {
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// How one message is laid out; shared by the router's output and the drop mailer.
#[derive(Clone, Debug)]
pub struct Format {
    pub facility: u8,
    pub json: bool,
    pub app_name: String,
    pub hostname: String,
}

impl Format {
    pub fn from_config(c: &SyslogConfig) -> Format {
        Format {
            facility: facility_code(&c.facility).unwrap_or(16),
            json: c.format == "json",
            app_name: c.app_name.clone(),
            hostname: c.hostname.clone().unwrap_or_else(hostname),
        }
    }

    /// One RFC 5424 message for `r` (store id `id`, or none for a dropped alert).
    pub fn message(&self, id: Option<u64>, r: &ArchivedAlertRecord) -> String {
        let pri = self.facility as u32 * 8 + severity_of(r.priority) as u32;
        let mut m = format!(
            "<{pri}>1 {} {} {} {} alert ",
            rfc3339(r.ts_ns.to_native()),
            self.hostname,
            self.app_name,
            std::process::id()
        );
        if self.json {
            m.push_str("- ");
            m.push_str(&super::eve_line(id, r));
            return m;
        }
        m.push_str("[tidewatch@32473");
        let mut p = |k: &str, v: &str| {
            m.push(' ');
            m.push_str(k);
            m.push_str("=\"");
            sd_escape(&mut m, v);
            m.push('"');
        };
        if let Some(id) = id {
            p("id", &id.to_string());
        }
        p("sensor", r.sensor.as_str());
        p("seq", &r.seq.to_native().to_string());
        p("gid", &r.gid.to_native().to_string());
        p("sid", &r.sid.to_native().to_string());
        p("rev", &r.rev.to_native().to_string());
        p("priority", &r.priority.to_string());
        p("class", r.class.as_str());
        p("proto", &crate::eve::proto_name(r.ip_proto));
        if let Some(ip) = r.src.to_ip() {
            p("src", &ip.to_string());
            p("sport", &r.src_port.to_native().to_string());
        }
        if let Some(ip) = r.dst.to_ip() {
            p("dst", &ip.to_string());
            p("dport", &r.dst_port.to_native().to_string());
        }
        m.push_str("] ");
        m.push_str(r.msg.as_str());
        m
    }
}

enum Conn {
    Udp(UdpSocket),
    Unix(UnixDatagram),
    Tcp(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

/// A sender to one syslog destination, reconnecting as needed.
pub struct Sender {
    cfg: SyslogConfig,
    conn: Option<Conn>,
    tls: Option<Arc<rustls::ClientConfig>>,
    retry_at: Option<Instant>,
    buf: Vec<u8>,
}

const TIMEOUT: Duration = Duration::from_secs(5);

impl Sender {
    pub fn new(cfg: SyslogConfig) -> Sender {
        Sender {
            cfg,
            conn: None,
            tls: None,
            retry_at: None,
            buf: Vec::new(),
        }
    }

    fn connect(&mut self) -> io::Result<Conn> {
        let a = &self.cfg.address;
        Ok(match self.cfg.transport.as_str() {
            "udp" => {
                let bind = if a.starts_with('[') {
                    "[::]:0"
                } else {
                    "0.0.0.0:0"
                };
                let s = UdpSocket::bind(bind)?;
                s.connect(a)?;
                Conn::Udp(s)
            }
            "unix" => {
                let s = UnixDatagram::unbound()?;
                s.connect(a)?;
                Conn::Unix(s)
            }
            "tcp" => Conn::Tcp(tcp(a)?),
            _ => {
                if self.tls.is_none() {
                    self.tls = Some(tls_config(&self.cfg)?);
                }
                let host = self.cfg.server_name.clone().unwrap_or_else(|| host_of(a));
                let name = ServerName::try_from(host)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let c = rustls::ClientConnection::new(self.tls.clone().expect("set above"), name)
                    .map_err(io::Error::other)?;
                let mut s = rustls::StreamOwned::new(c, tcp(a)?);
                while s.conn.is_handshaking() {
                    s.conn.complete_io(&mut s.sock)?;
                }
                Conn::Tls(Box::new(s))
            }
        })
    }

    /// Sends messages; returns how many went out, from the first (all or none for stream
    /// transports; datagrams may stop part way).
    pub fn send(&mut self, msgs: &[String]) -> Result<usize, io::Error> {
        if let Some(t) = self.retry_at {
            if Instant::now() < t {
                return Err(io::Error::other("syslog destination down; retrying soon"));
            }
        }
        let mut last = None;
        // One reconnect attempt: a server restart closes the old connection.
        for _ in 0..2 {
            if self.conn.is_none() {
                match self.connect() {
                    Ok(c) => self.conn = Some(c),
                    Err(e) => {
                        last = Some(e);
                        break;
                    }
                }
            }
            match self.write(msgs) {
                Ok(n) => {
                    self.retry_at = None;
                    return Ok(n);
                }
                Err(e) => {
                    self.conn = None;
                    last = Some(e);
                }
            }
        }
        self.retry_at = Some(Instant::now() + Duration::from_secs(1));
        Err(last.unwrap_or_else(|| io::Error::other("syslog send failed")))
    }

    fn write(&mut self, msgs: &[String]) -> io::Result<usize> {
        let conn = self.conn.as_mut().expect("connected");
        match conn {
            // Datagrams go one by one: after a failure part way, report how many went.
            Conn::Udp(s) => {
                for (k, m) in msgs.iter().enumerate() {
                    if let Err(e) = s.send(m.as_bytes()) {
                        return partial(k, e);
                    }
                }
            }
            Conn::Unix(s) => {
                for (k, m) in msgs.iter().enumerate() {
                    if let Err(e) = s.send(m.as_bytes()) {
                        return partial(k, e);
                    }
                }
            }
            Conn::Tcp(_) | Conn::Tls(_) => {
                self.buf.clear();
                for m in msgs {
                    // RFC 6587 octet counting: "LEN SP MSG".
                    let _ = write!(self.buf, "{} ", m.len());
                    self.buf.extend_from_slice(m.as_bytes());
                }
                match conn {
                    Conn::Tcp(s) => s.write_all(&self.buf)?,
                    Conn::Tls(s) => {
                        s.write_all(&self.buf)?;
                        s.flush()?
                    }
                    _ => unreachable!(),
                }
            }
        }
        Ok(msgs.len())
    }
}

fn partial(sent: usize, e: io::Error) -> io::Result<usize> {
    if sent == 0 {
        Err(e)
    } else {
        tracing::warn!(error = %e, sent, "syslog datagrams stopped part way");
        Ok(sent)
    }
}

fn tcp(a: &str) -> io::Result<TcpStream> {
    use std::net::ToSocketAddrs;
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{a}: no address"));
    for sa in a.to_socket_addrs()? {
        match TcpStream::connect_timeout(&sa, TIMEOUT) {
            Ok(s) => {
                s.set_write_timeout(Some(TIMEOUT))?;
                s.set_read_timeout(Some(TIMEOUT))?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn host_of(addr: &str) -> String {
    match addr.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']').into(),
        None => addr.into(),
    }
}

fn tls_config(c: &SyslogConfig) -> io::Result<Arc<rustls::ClientConfig>> {
    let ca = c.ca.as_ref().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "transport tls needs `ca` (the PEM CA of the syslog server)",
        )
    })?;
    let roots = crate::link::tls::roots(ca).map_err(io::Error::other)?;
    let cfg = rustls::ClientConfig::builder_with_provider(crate::link::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// The router's syslog output.
pub(crate) struct SyslogOutput {
    format: Format,
    sender: Sender,
    msgs: Vec<String>,
}

impl SyslogOutput {
    pub fn new(cfg: SyslogConfig) -> SyslogOutput {
        SyslogOutput {
            format: Format::from_config(&cfg),
            sender: Sender::new(cfg),
            msgs: Vec::new(),
        }
    }
}

impl Output for SyslogOutput {
    fn deliver(&mut self, d: &Delivery, stats: &OutputStats) {
        let (recs, bad) = d.records();
        stats.failed.fetch_add(bad, Relaxed);
        self.msgs.clear();
        self.msgs
            .extend(recs.iter().map(|(id, r)| self.format.message(Some(*id), r)));
        match self.sender.send(&self.msgs) {
            Ok(n) => {
                stats.sent.fetch_add(n as u64, Relaxed);
                let rest = self.msgs.len() - n;
                if rest > 0 {
                    stats.failed.fetch_add(rest as u64, Relaxed);
                    tracing::warn!(address = %self.sender.cfg.address, first_id = recs[n].0, unsent = rest,
                        "syslog send stopped part way; these alerts are in the store");
                }
            }
            Err(e) => {
                stats.failed.fetch_add(self.msgs.len() as u64, Relaxed);
                let first = recs.first().map_or(0, |r| r.0);
                let last = recs.last().map_or(0, |r| r.0);
                tracing::warn!(error = %e, address = %self.sender.cfg.address, first_id = first, last_id = last,
                    "syslog send failed; these alerts are in the store");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_follows_priority() {
        // 0 comes only from a rule's explicit `priority:0`, ranked above 1 by Suricata.
        let got: Vec<u8> = (0..=4).chain([255]).map(severity_of).collect();
        assert_eq!(got, [2, 2, 3, 4, 5, 5]);
    }

    #[test]
    fn rfc5424_structured_data_is_escaped_and_prioritised() {
        let mut rec = crate::testkit::alert(9, 8);
        rec.msg = "ET \"quoted\" ]x[ \\ msg".into();
        rec.priority = 1;
        let bytes = rec.encode().unwrap();
        let r = crate::record::access(&bytes).unwrap();
        let f = Format {
            facility: facility_code("local3").unwrap(),
            json: false,
            app_name: "tw".into(),
            hostname: "h1".into(),
        };
        let m = f.message(Some(42), r);
        // local3 (19) * 8 + crit (2) = 154.
        assert!(m.starts_with("<154>1 "), "{m}");
        assert!(m.contains(" h1 tw "), "{m}");
        assert!(m.contains("[tidewatch@32473 id=\"42\" sensor="), "{m}");
        assert!(m.ends_with("] ET \"quoted\" ]x[ \\ msg"), "{m}");
        let j = Format { json: true, ..f }.message(Some(42), r);
        let body = j.split_once(" alert - ").unwrap().1;
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["tidewatch"]["id"], 42);
        assert_eq!(
            rfc3339(1_704_067_200_000_123_456),
            "2024-01-01T00:00:00.000123Z"
        );
    }

    /// Reads octet-counted frames ("LEN SP MSG") until `n` are whole.
    fn frames(mut r: impl std::io::Read, n: usize) -> Vec<String> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        while out.len() < n {
            let k = r.read(&mut chunk).unwrap();
            assert!(k > 0, "peer closed after {} frames", out.len());
            buf.extend_from_slice(&chunk[..k]);
            while let Some(sp) = buf.iter().position(|&b| b == b' ') {
                let len: usize = std::str::from_utf8(&buf[..sp]).unwrap().parse().unwrap();
                if buf.len() < sp + 1 + len {
                    break;
                }
                out.push(String::from_utf8(buf[sp + 1..sp + 1 + len].to_vec()).unwrap());
                buf.drain(..sp + 1 + len);
            }
        }
        out
    }

    #[test]
    fn tls_transport_sends_octet_counted_frames_to_a_verified_server() {
        let dir = tempfile::tempdir().unwrap();
        crate::link::generate_certs(dir.path(), &[], &[]).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(crate::link::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                crate::link::tls::certs(&dir.path().join("collector.pem")).unwrap(),
                crate::link::tls::key(&dir.path().join("collector-key.pem")).unwrap(),
            )
            .unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let srv = std::thread::spawn(move || {
            let (tcp, _) = l.accept().unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let conn = rustls::ServerConnection::new(Arc::new(server)).unwrap();
            frames(rustls::StreamOwned::new(conn, tcp), 2)
        });
        let mut s = Sender::new(SyslogConfig {
            transport: "tls".into(),
            address: format!("127.0.0.1:{port}"),
            facility: "local0".into(),
            format: "sd".into(),
            app_name: "tw".into(),
            hostname: None,
            ca: Some(dir.path().join("ca.pem")),
            server_name: Some("localhost".into()),
        });
        let msgs = vec![
            "<130>1 - h tw - alert - one".to_string(),
            "<130>1 - h tw - alert - two two".into(),
        ];
        assert_eq!(s.send(&msgs).unwrap(), 2);
        assert_eq!(srv.join().unwrap(), msgs);
    }
}
