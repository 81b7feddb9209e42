//! A live `tidewatch sensor` on a veth lab, shipping to a collector: started, asked for
//! its status, its log watched, stopped (the live-capture tests share it).

use super::{stored, tidewatch, Proc};
use capture::netns::VethLab;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running sensor whose stderr lines are collected as they come.
pub struct LiveSensor {
    pub proc: Proc,
    pub log: Arc<Mutex<Vec<String>>>,
    pub sock: std::path::PathBuf,
}

impl LiveSensor {
    /// Starts `tidewatch sensor` on the lab's host end as sensor `name` with `rules`,
    /// shipping to `collector` with the certificates in `dir/pki`.
    pub fn start(
        lab: &VethLab,
        dir: &Path,
        collector: &str,
        name: &str,
        rules: &str,
        extra: &[&str],
    ) -> LiveSensor {
        std::fs::write(dir.join("a.rules"), rules).unwrap();
        let sock = dir.join("sensor.sock");
        let mut child = tidewatch()
            .args(["sensor", "--iface", &lab.host_if, "--rules"])
            .arg(dir.join("a.rules"))
            .arg("--eve")
            .arg(dir.join("eve.json"))
            .arg("--control-socket")
            .arg(&sock)
            .args(["--collector", collector, "--spool"])
            .arg(dir.join("sensor.spool"))
            .args(["--sensor-id", name, "--certs"])
            .arg(dir.join("pki"))
            .args(extra)
            .env("TIDEWATCH_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting tidewatch sensor");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let l = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        let s = LiveSensor {
            proc: Proc(child),
            log,
            sock,
        };
        let end = Instant::now() + Duration::from_secs(20);
        while !s.sock.exists() {
            assert!(
                Instant::now() < end,
                "sensor did not open its control socket: {}",
                s.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits (bounded) for a log line containing `what` after the first `skip` lines;
    /// returns when it was seen and the index after it.
    pub fn wait_log(&self, what: &str, skip: usize, within: Duration) -> (Instant, usize) {
        let end = Instant::now() + within;
        loop {
            if let Some(i) = self.log.lock().unwrap()[skip..]
                .iter()
                .position(|l| l.contains(what))
            {
                return (Instant::now(), skip + i + 1);
            }
            assert!(
                Instant::now() < end,
                "no `{what}` in the sensor log within {within:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn status(&self) -> String {
        let mut c = UnixStream::connect(&self.sock).unwrap();
        c.write_all(b"status\n").unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        s
    }

    /// Waits until the sensor saw `n` frames at XDP (bounded); returns its status.
    pub fn wait_seen(&self, n: u64) -> String {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.status();
            if field(&s, "seen") >= n || Instant::now() > end {
                return s;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGINT, then the whole stderr.
    pub fn stop(mut self) -> String {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.proc.0.id() as i32, libc::SIGINT) };
        let end = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = self.proc.0.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < end, "sensor did not stop on SIGINT");
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log_text();
        assert!(status.success(), "sensor failed: {log}");
        log
    }
}

/// A number after `key` in a status answer or summary.
pub fn field(status: &str, key: &str) -> u64 {
    let mut it = status.split_whitespace();
    while let Some(w) = it.next() {
        if w == key {
            return it.next().unwrap().trim_end_matches(',').parse().unwrap();
        }
    }
    panic!("no {key} in {status}");
}

/// Waits (bounded) until the store holds `n` alerts from the sensor; returns them.
pub fn wait_stored(dir: &Path, sensor: &str, n: usize, within: Duration) -> Vec<(u64, u64)> {
    let end = Instant::now() + within;
    loop {
        let rows = stored(dir, sensor);
        if rows.len() >= n || Instant::now() > end {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
