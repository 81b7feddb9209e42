//! Helpers shared by the binary's integration tests: run `tidewatch`, read EVE output.

#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub fn tidewatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tidewatch"))
}

/// A fresh directory under the target dir, removed first if a previous run left it.
pub fn scratch_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn et_open_dir() -> Option<PathBuf> {
    let d = std::env::var_os("TIDEWATCH_ET_OPEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/rules/et-open")
        });
    d.join("et-open.rules").exists().then_some(d)
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("running tidewatch");
    assert!(
        out.status.success(),
        "tidewatch failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn eve_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad EVE line {l}: {e}")))
        .collect()
}

pub fn counts_by_sid(alerts: &[Value]) -> BTreeMap<u64, u64> {
    let mut m = BTreeMap::new();
    for a in alerts {
        assert_eq!(a["event_type"], "alert");
        *m.entry(a["alert"]["signature_id"].as_u64().unwrap())
            .or_insert(0) += 1;
    }
    m
}

/// Kills a child process if a test fails before it does.
pub struct Proc(pub Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tidewatch collector` with the certificates in `dir/pki`, its store and control
/// socket in `dir`; returns it once it listens, with the address it printed.
pub fn start_collector(dir: &Path, listen: &str) -> (Proc, String) {
    let pki = dir.join("pki");
    start_collector_with(
        dir,
        &[
            "--listen".as_ref(),
            listen.as_ref(),
            "--certs".as_ref(),
            pki.as_os_str(),
        ],
    )
}

/// Starts `tidewatch collector ARGS` with its store and control socket in `dir`; returns
/// it once it listens, with the address it printed.
pub fn start_collector_with(dir: &Path, args: &[&std::ffi::OsStr]) -> (Proc, String) {
    let mut child = tidewatch()
        .arg("collector")
        .args(args)
        .arg("--db")
        .arg(dir.join("alerts.redb"))
        .arg("--control")
        .arg(dir.join("collector.sock"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let l = lines
            .next()
            .expect("collector exited before listening")
            .unwrap();
        if let Some(a) = l.strip_prefix("collector listening on ") {
            break a.to_string();
        }
    };
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    (Proc(child), addr)
}
