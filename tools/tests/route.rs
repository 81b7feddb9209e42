//! Routing and notifiers against real servers the tests start: an SMTP server (Debian's
//! python3-aiosmtpd) and a test-local rsyslog with its own config file. The collector
//! runs as the real binary with a TOML config; alerts come over the real link.

mod common;

use common::{
    control, deliver, free_port, output_counts, scratch_dir,
    start_collector_config as start_collector, tidewatch, wait_for, Proc,
};
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use store::AlertRecord;

fn record(seq: u64, sid: u32, priority: u8) -> AlertRecord {
    AlertRecord {
        sid,
        msg: format!("SIG {sid}"),
        priority,
        src: IpAddr::from([10, 0, 0, 1]).into(),
        payload: vec![b'x'; 200],
        packet: vec![0u8; 60],
        packet_len: 60,
        ..common::sample_record(seq)
    }
}

/// A test-local rsyslogd listening on UDP and TCP, writing one parsed line per message.
struct Rsyslog {
    _p: Proc,
    out: PathBuf,
    udp: u16,
    tcp: u16,
}

impl Rsyslog {
    fn start(dir: &Path) -> Rsyslog {
        let (udp, tcp) = (free_port(), free_port());
        let out = dir.join("rsyslog.out");
        let work = dir.join("rsyslog-work");
        std::fs::create_dir_all(&work).unwrap();
        let conf = dir.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{work}" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
template(name="t" type="string" string="%inputname%|%syslogfacility-text%|%syslogseverity%|%app-name%|%msgid%|%structured-data%|%msg%\n")
ruleset(name="r") {{ action(type="omfile" file="{out}" template="t") }}
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="r")
input(type="imtcp" address="127.0.0.1" port="{tcp}" ruleset="r")
"#,
                work = work.display(),
                out = out.display()
            ),
        )
        .unwrap();
        let p = Proc(
            Command::new("rsyslogd")
                .arg("-n")
                .arg("-f")
                .arg(&conf)
                .arg("-i")
                .arg(dir.join("rsyslog.pid"))
                .stdout(Stdio::null())
                .spawn()
                .expect("rsyslogd (apt-get install rsyslog; .ci/install-deps)"),
        );
        wait_for("rsyslog's TCP port", 10, || {
            std::net::TcpStream::connect(("127.0.0.1", tcp)).is_ok()
        });
        Rsyslog {
            _p: p,
            out,
            udp,
            tcp,
        }
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }
}

/// aiosmtpd delivering into a maildir.
struct Smtp {
    _p: Proc,
    maildir: PathBuf,
    port: u16,
}

impl Smtp {
    fn start(dir: &Path) -> Smtp {
        Smtp::start_with(dir, &[])
    }

    /// With STARTTLS required: the certificate and key of `tidewatch certs` (valid for
    /// 127.0.0.1), so the client must verify it against our CA.
    fn start_tls(dir: &Path) -> Smtp {
        let pki = dir.join("pki");
        common::run_ok(tidewatch().args(["certs", "--out"]).arg(&pki));
        Smtp::start_with(
            dir,
            &[
                "--tlscert".as_ref(),
                pki.join("collector.pem").as_os_str(),
                "--tlskey".as_ref(),
                pki.join("collector-key.pem").as_os_str(),
            ],
        )
    }

    fn start_with(dir: &Path, extra: &[&std::ffi::OsStr]) -> Smtp {
        let port = free_port();
        let maildir = dir.join("maildir");
        let p = Proc(
            Command::new("/usr/bin/python3")
                .args(["-m", "aiosmtpd", "-n", "-l"])
                .arg(format!("127.0.0.1:{port}"))
                .args(extra)
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                .arg(&maildir)
                .spawn()
                .expect("python3-aiosmtpd (.ci/install-deps)"),
        );
        wait_for("the SMTP server", 15, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Smtp {
            _p: p,
            maildir,
            port,
        }
    }

    /// (subject, decoded body) of every message delivered.
    fn messages(&self) -> Vec<(String, String)> {
        let Ok(rd) = std::fs::read_dir(self.maildir.join("new")) else {
            return vec![];
        };
        let mut v: Vec<(String, String)> = rd
            .map(|e| parse_mail(&std::fs::read_to_string(e.unwrap().path()).unwrap()))
            .collect();
        v.sort();
        v
    }
}

/// Subject (unfolded) and body (quoted-printable decoded when so marked).
fn parse_mail(m: &str) -> (String, String) {
    let m = m.replace("\r\n", "\n");
    let (head, body) = m.split_once("\n\n").unwrap();
    let head = head.replace("\n ", " ").replace("\n\t", " ");
    let subject = head
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap()
        .to_string();
    let qp = head.to_ascii_lowercase().contains("quoted-printable");
    let body = if qp {
        let b = body.replace("=\n", "");
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (b.as_bytes()[i], hex) {
                (b'=', Some(v)) => {
                    out.push(v);
                    i += 3;
                }
                (c, _) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).unwrap()
    } else {
        body.to_string()
    };
    (subject, body)
}

#[test]
fn routes_mail_digests_and_syslog_udp_tcp_switch_with_profiles() {
    let dir = scratch_dir("route-mail-syslog");
    let smtp = Smtp::start(&dir);
    let rs = Rsyslog::start(&dir);
    let config = format!(
        r#"
[routing]
profile = "normal"
[routing.profiles]
normal = ["high", "low"]
quiet = ["high"]

[[route]]
name = "urgent"
level = "high"
priority = 1
outputs = ["ops", "siem_udp"]

[[route]]
name = "web"
level = "low"
sids = ["3000000-3000099"]
outputs = ["siem_tcp"]

[output.ops]
type = "mail"
server = "127.0.0.1:{smtp}"
tls = "none"
from = "tidewatch@example.org"
to = ["soc@example.org"]
max_alerts = 10
period_secs = 2

[output.siem_udp]
type = "syslog"
transport = "udp"
address = "127.0.0.1:{udp}"
facility = "local3"

[output.siem_tcp]
type = "syslog"
transport = "tcp"
address = "127.0.0.1:{tcp}"
format = "json"
"#,
        smtp = smtp.port,
        udp = rs.udp,
        tcp = rs.tcp
    );
    let (_col, addr) = start_collector(&dir, &config);
    // 15 + 10 priority-1 alerts of two signatures, 6 web alerts, 4 that no route takes.
    let recs: Vec<AlertRecord> = (1..=35u64)
        .map(|seq| match seq {
            1..=15 => record(seq, 2_000_001, 1),
            16..=25 => record(seq, 2_000_002, 1),
            26..=31 => record(seq, 3_000_005, 3),
            _ => record(seq, 4_000_000, 3),
        })
        .collect();
    deliver(&addr, &recs);
    // A fresh store gives ids in commit order: seq n is id n.
    wait_for("25 mailed, 25 over UDP, 6 over TCP", 30, || {
        let l = rs.lines();
        let total: usize = smtp
            .messages()
            .iter()
            .map(|(s, _)| {
                s.split_whitespace()
                    .nth(1)
                    .unwrap()
                    .parse::<usize>()
                    .unwrap()
            })
            .sum();
        total == 25
            && l.iter().filter(|x| x.starts_with("imudp|")).count() == 25
            && l.iter().filter(|x| x.starts_with("imtcp|")).count() == 6
    });
    let mails = smtp.messages();
    let mut counts: Vec<usize> = mails
        .iter()
        .map(|(s, _)| s.split_whitespace().nth(1).unwrap().parse().unwrap())
        .collect();
    counts.sort();
    assert_eq!(counts, vec![5, 10, 10], "{mails:#?}");
    let mut ids = Vec::new();
    for (subject, body) in &mails {
        assert!(subject.starts_with("[tidewatch] "), "{subject}");
        assert!(subject.contains("alerts, "), "{subject}");
        for l in body.lines() {
            if let Some(list) = l.trim().strip_prefix("store ids: ") {
                ids.extend(list.split(", ").map(|x| x.parse::<u64>().unwrap()));
            }
        }
        assert!(
            body.contains("[1:2000001:2] SIG 2000001")
                || body.contains("[1:2000002:2] SIG 2000002"),
            "{body}"
        );
    }
    ids.sort();
    assert_eq!(
        ids,
        (1..=25).collect::<Vec<u64>>(),
        "every priority-1 alert mailed once, by store id"
    );
    let l = rs.lines();
    for x in l.iter().filter(|x| x.starts_with("imudp|")) {
        let f: Vec<&str> = x.splitn(7, '|').collect();
        assert_eq!(&f[1..5], ["local3", "2", "tidewatch", "alert"], "{x}");
        assert!(f[5].starts_with("[tidewatch@32473 id=\""), "{x}");
        assert!(f[5].contains("sensor=\"edge-1\""), "{x}");
        let sid = if f[5].contains("sid=\"2000001\"") {
            "2000001"
        } else {
            "2000002"
        };
        assert!(f[5].contains(&format!("sid=\"{sid}\"")), "{x}");
        assert_eq!(f[6], format!("SIG {sid}"), "{x}");
    }
    let mut tcp_ids: Vec<u64> = l
        .iter()
        .filter(|x| x.starts_with("imtcp|"))
        .map(|x| {
            let f: Vec<&str> = x.splitn(7, '|').collect();
            assert_eq!(f[5], "-", "{x}");
            let v: serde_json::Value = serde_json::from_str(f[6]).unwrap();
            assert_eq!(v["alert"]["signature_id"], 3_000_005);
            v["tidewatch"]["id"].as_u64().unwrap()
        })
        .collect();
    tcp_ids.sort();
    assert_eq!(tcp_ids, (26..=31).collect::<Vec<u64>>());

    // Under "quiet" only the high level runs: web alerts go nowhere, priority 1 still does.
    let bad = tidewatch()
        .args(["profile", "loud", "--control"])
        .arg(dir.join("collector.sock"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no profile `loud`"));
    let ok = tidewatch()
        .args(["profile", "quiet", "--control"])
        .arg(dir.join("collector.sock"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("profile quiet: levels high"));
    let more: Vec<AlertRecord> = (36..=42)
        .map(|s| {
            if s < 42 {
                record(s, 3_000_005, 3)
            } else {
                record(s, 2_000_001, 1)
            }
        })
        .collect();
    deliver(&addr, &more);
    wait_for("the 26th UDP message", 10, || {
        rs.lines()
            .iter()
            .filter(|x| x.starts_with("imudp|"))
            .count()
            == 26
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        rs.lines()
            .iter()
            .filter(|x| x.starts_with("imtcp|"))
            .count(),
        6
    );
    assert_eq!(output_counts(&dir, "siem_tcp"), (6, 0, 0));
    assert_eq!(output_counts(&dir, "siem_udp"), (26, 0, 0));
}

#[test]
fn stalled_alert_socket_reader_never_blocks_storing_and_misses_are_counted() {
    let dir = scratch_dir("route-alert-socket");
    // The datagram reader binds first, as Suricata's unix_dgram readers do.
    let dg_path = dir.join("dgram.sock");
    let dg = std::os::unix::net::UnixDatagram::bind(&dg_path).unwrap();
    dg.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let config = format!(
        r#"
[output.hot]
type = "alert_socket"
mode = "stream"
path = "{hot}"
client_buffer = 4096

[output.dg]
type = "alert_socket"
mode = "dgram"
path = "{dg}"

[output.archive]
type = "eve_file"
path = "{eve}"

[[route]]
sids = ["2000000-2999999"]
outputs = ["archive"]
"#,
        hot = dir.join("alert.sock").display(),
        dg = dg_path.display(),
        eve = dir.join("eve.json").display()
    );
    let (col, addr) = start_collector(&dir, &config);
    // A reader that connects and then does not read.
    let stalled = std::os::unix::net::UnixStream::connect(dir.join("alert.sock")).unwrap();
    std::thread::sleep(Duration::from_millis(300)); // accepted on the output's next tick
    const N: u64 = 3000;
    let recs: Vec<AlertRecord> = (1..=N).map(|s| record(s, 2_000_001, 1)).collect();
    deliver(&addr, &recs);
    // Storing went on: every alert acknowledged, hence committed.
    let st = control(&dir, "status");
    assert!(st.contains(&format!("stored {N} ")), "{st}");
    wait_for("the stream output to account for every alert", 20, || {
        let (s, m, _) = output_counts(&dir, "hot");
        s + m == N
    });
    let (sent, missed, failed) = output_counts(&dir, "hot");
    assert!(missed > 0, "a stalled reader must miss some ({sent} sent)");
    assert_eq!(failed, 0);
    // The reader wakes up: it gets exactly what was counted as sent, in id order.
    let mut r = BufReader::new(stalled);
    r.get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut last = 0;
    for i in 0..sent {
        let mut l = String::new();
        r.read_line(&mut l)
            .unwrap_or_else(|e| panic!("line {i} of {sent}: {e}"));
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        let id = v["tidewatch"]["id"].as_u64().unwrap();
        assert!(id > last, "ids in order");
        last = id;
        assert_eq!(v["alert"]["signature_id"], 2_000_001);
    }
    // The datagram reader read nothing during the burst either: what the queue held is
    // there, the rest was counted.
    let mut got = 0u64;
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = dg.recv(&mut buf) {
        let v: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
        assert!(v["tidewatch"]["id"].as_u64().unwrap() <= N);
        got += 1;
    }
    let (dsent, dmissed, _) = output_counts(&dir, "dg");
    assert_eq!(dsent + dmissed, N);
    assert_eq!(got, dsent);
    assert!(dmissed > 0, "the datagram queue is smaller than {N}");
    // The EVE file got all of them; SIGHUP after a move opens a new file.
    wait_for("the EVE file", 10, || output_counts(&dir, "archive").0 == N);
    let eve = dir.join("eve.json");
    assert_eq!(
        std::fs::read_to_string(&eve).unwrap().lines().count() as u64,
        N
    );
    std::fs::rename(&eve, dir.join("eve.json.old")).unwrap();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(col.0.id() as i32, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(500));
    deliver(&addr, &[record(N + 1, 2_000_001, 1)]);
    wait_for("the reopened EVE file", 10, || {
        std::fs::read_to_string(&eve).is_ok_and(|t| t.lines().count() == 1)
    });
}

#[test]
fn other_users_cannot_connect_to_a_0660_alert_socket() {
    let dir = scratch_dir("route-perms");
    let config = format!(
        r#"
[output.hot]
type = "alert_socket"
mode = "stream"
path = "{}"
owner = "root"
group = "daemon"
socket_mode = "0660"
"#,
        dir.join("alert.sock").display()
    );
    let (_col, _addr) = start_collector(&dir, &config);
    let sock = dir.join("alert.sock");
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let md = std::fs::metadata(&sock).unwrap();
    assert_eq!(md.permissions().mode() & 0o777, 0o660);
    assert_eq!(md.uid(), 0);
    let connect_as = |group: &str| {
        Command::new("setpriv")
            .args(["--reuid", "nobody", "--regid", group, "--clear-groups"])
            .args(["/usr/bin/python3", "-c"])
            .arg("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print('connected')")
            .arg(&sock)
            .output()
            .unwrap()
    };
    // Same user, same everything, but in the socket's group: allowed (so the denial
    // below is the socket's mode, not the directories on the way).
    let member = connect_as("daemon");
    assert!(
        member.status.success(),
        "{}",
        String::from_utf8_lossy(&member.stderr)
    );
    let other = connect_as("nogroup");
    assert!(!other.status.success());
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("PermissionError"),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
}

/// Starts `tidewatch notify drop` with `config`; stdout is piped to the returned lines.
fn start_drop_mailer(
    dir: &Path,
    config: &str,
    extra: &[&str],
) -> (Proc, std::sync::mpsc::Receiver<String>) {
    let conf = dir.join("notify.toml");
    std::fs::write(&conf, config).unwrap();
    let mut child = tidewatch()
        .args(["notify", "drop", "--config"])
        .arg(&conf)
        .arg("--socket")
        .arg(dir.join("drop.sock"))
        .arg("--file")
        .arg(dir.join("drop.file"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let l = err.next().expect("drop mailer exited").unwrap();
        eprintln!("notify: {l}");
        if l.starts_with("drop mailer listening") {
            break;
        }
    }
    std::thread::spawn(move || {
        for l in err.map_while(Result::ok) {
            eprintln!("notify: {l}");
        }
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    (Proc(child), rx)
}

/// 12 alerts through the socket, then 3 into the fallback file (no one listening there).
fn drop_some(dir: &Path) {
    use store::drop_channel::{Delivered, DropChannel};
    use store::spool::{DropReason, SpoolStats};
    let stats = std::sync::Arc::new(SpoolStats::default());
    let mut ch =
        DropChannel::new(dir.join("drop.sock"), dir.join("drop.file"), stats.clone()).unwrap();
    // The kernel queues few datagrams (net.unix.max_dgram_qlen, 10 by default); a burst
    // may overflow to the file, which the mailer also reads. Paced, nearly all go by the
    // socket.
    let mut by_socket = 0;
    for seq in 1..=12 {
        let b = record(seq, 2_000_000 + (seq % 2) as u32, 2)
            .encode()
            .unwrap();
        if ch.deliver(&b, seq, DropReason::HighWater).unwrap() == Delivered::Socket {
            by_socket += 1;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(by_socket > 0, "the mailer reads its socket");
    let mut to_file =
        DropChannel::new(dir.join("nobody.sock"), dir.join("drop.file"), stats).unwrap();
    for seq in 13..=15 {
        let b = record(seq, 2_000_009, 2).encode().unwrap();
        assert_eq!(
            to_file.deliver(&b, seq, DropReason::Full).unwrap(),
            Delivered::File
        );
    }
}

#[test]
fn drop_mailer_with_smtp_down_writes_every_alert_to_stdout_and_syslog() {
    let dir = scratch_dir("route-drop-down");
    let rs = Rsyslog::start(&dir);
    let dead = free_port(); // nothing listens there
    let config = format!(
        r#"
[output.mail]
type = "mail"
server = "127.0.0.1:{dead}"
tls = "none"
from = "tidewatch@example.org"
to = ["soc@example.org"]
max_alerts = 5
period_secs = 1
fail_after = 2
timeout_secs = 2

[output.sys]
type = "syslog"
transport = "tcp"
address = "127.0.0.1:{tcp}"
facility = "daemon"
"#,
        tcp = rs.tcp
    );
    let (mut p, out) = start_drop_mailer(&dir, &config, &["--syslog", "sys"]);
    drop_some(&dir);
    let mut stdout_seqs = Vec::new();
    let t = Instant::now();
    while stdout_seqs.len() < 15 && t.elapsed() < Duration::from_secs(30) {
        if let Ok(l) = out.recv_timeout(Duration::from_millis(200)) {
            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
            assert!(v["tidewatch"]["dropped"].is_string(), "{l}");
            assert!(
                v["tidewatch"].get("id").is_none(),
                "a dropped alert has no store id"
            );
            stdout_seqs.push(v["tidewatch"]["seq"].as_u64().unwrap());
        }
    }
    stdout_seqs.sort();
    assert_eq!(stdout_seqs, (1..=15).collect::<Vec<u64>>());
    wait_for("15 syslog messages", 10, || rs.lines().len() == 15);
    let mut sys_seqs: Vec<u64> = rs
        .lines()
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.splitn(7, '|').collect();
            assert_eq!(f[1], "daemon", "{l}");
            assert!(f[6].starts_with("SIG 200000"), "{l}");
            let seq = f[5].split("seq=\"").nth(1).unwrap();
            seq[..seq.find('"').unwrap()].parse().unwrap()
        })
        .collect();
    sys_seqs.sort();
    assert_eq!(sys_seqs, (1..=15).collect::<Vec<u64>>());
    // SAFETY: signalling our own child.
    unsafe { libc::kill(p.0.id() as i32, libc::SIGTERM) };
    assert!(p.0.wait().unwrap().success());
    assert!(
        !dir.join("drop.file").exists(),
        "the fallback file was consumed"
    );
}

#[test]
fn drop_mailer_mails_digests_of_socket_and_file_drops_over_starttls() {
    let dir = scratch_dir("route-drop-mail");
    let smtp = Smtp::start_tls(&dir);
    let config = format!(
        r#"
[output.mail]
type = "mail"
server = "127.0.0.1:{}"
tls = "starttls"
ca = "{}"
from = "tidewatch@example.org"
to = ["soc@example.org"]
max_alerts = 10
period_secs = 1
"#,
        smtp.port,
        dir.join("pki/ca.pem").display()
    );
    let (mut p, out) = start_drop_mailer(&dir, &config, &[]);
    drop_some(&dir);
    wait_for("15 dropped alerts mailed", 20, || {
        smtp.messages()
            .iter()
            .map(|(s, _)| s.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap())
            .sum::<u64>()
            == 15
    });
    let mut listed = Vec::new();
    for (subject, body) in smtp.messages() {
        assert!(subject.contains("dropped alerts"), "{subject}");
        for l in body.lines() {
            if let Some(list) = l.trim().strip_prefix("dropped (sensor/seq): ") {
                listed.extend(
                    list.split(", ")
                        .map(|x| x.strip_prefix("edge-1/").unwrap().parse::<u64>().unwrap()),
                );
            }
        }
    }
    listed.sort();
    assert_eq!(listed, (1..=15).collect::<Vec<u64>>());
    // SAFETY: signalling our own child.
    unsafe { libc::kill(p.0.id() as i32, libc::SIGTERM) };
    assert!(p.0.wait().unwrap().success());
    assert!(out.try_recv().is_err(), "mail worked: nothing on stdout");
}
