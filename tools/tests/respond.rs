//! Active response (issue 6 item 8) with real components: the `tidewatch collector`
//! binary with exec and block outputs in its config, real `/bin/sh` scripts run as
//! `nobody`, a live sensor on XDP + AF_XDP in a veth lab shipping over the TLS link, and
//! a collector that drops to `nobody` after binding. Needs root.

mod common;

use capture::netns::VethLab;
use common::live::{field, wait_stored, LiveSensor};
use common::{
    by_sid, control, deliver, free_port, output_field, run_ok, sample_record, scratch_dir,
    start_collector_config, start_collector_with, stored, stored_eve, tidewatch, udp_frames,
    wait_for,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use store::privilege::Account;

/// Waits (bounded) until an output's counter reaches `want`; fails showing the status.
fn wait_output(dir: &Path, output: &str, key: &str, want: u64, secs: u64) {
    let end = Instant::now() + Duration::from_secs(secs);
    while output_field(dir, output, key) < want {
        assert!(
            Instant::now() < end,
            "output {output}: {key} did not reach {want}:\n{}",
            control(dir, "status")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A script file `name` in `dir` (mode 0755), and a directory `out` anyone may write
/// (the script runs as nobody).
fn script(dir: &Path, name: &str, body: &str) -> (PathBuf, PathBuf) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = dir.join(format!("{name}.out"));
    std::fs::create_dir_all(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    (path, out)
}

fn exec_config(output: &str, command: &[&str], extra: &str) -> String {
    let cmd: Vec<String> = command.iter().map(|a| format!("{a:?}")).collect();
    format!(
        r#"
[[route]]
outputs = ["{output}"]
[output.{output}]
type = "exec"
command = [{}]
user = "nobody"
{extra}
"#,
        cmd.join(", ")
    )
}

/// Gone or a zombie awaiting its reaper (killed either way).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[test]
fn exec_runs_the_program_as_nobody_with_the_alert_on_stdin_and_no_shell() {
    let dir = scratch_dir("respond-exec");
    let (prog, out) = script(
        &dir,
        "respond.sh",
        "out=\"$1\"\n\
         cat > \"$out/alert.json\"\n\
         printf '%s\\n' \"$2\" \"$3\" > \"$out/args\"\n\
         id -u > \"$out/uid\"\n\
         id -g > \"$out/gid\"\n\
         env > \"$out/env\"\n\
         touch \"$out/done\"\n",
    );
    let config = exec_config(
        "respond",
        &[
            prog.to_str().unwrap(),
            out.to_str().unwrap(),
            "a; touch /tmp/tw-pwned",
            "$(id) `id`",
        ],
        "timeout_secs = 10",
    );
    let (_col, addr) = start_collector_config(&dir, &config);
    let rec = store::AlertRecord {
        sid: 2_100_498,
        msg: "GPL ATTACK_RESPONSE id check returned root".into(),
        ..sample_record(3)
    };
    deliver(&addr, &[rec]);
    wait_for("the program to finish", 10, || out.join("done").exists());
    wait_output(&dir, "respond", "ok", 1, 10);

    let stored = stored_eve(&dir, None);
    assert_eq!(stored.len(), 1);
    let id = stored[0]["tidewatch"]["id"].as_u64().unwrap();
    let alert: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("alert.json")).unwrap()).unwrap();
    assert_eq!(alert["event_type"], "alert");
    assert_eq!(alert["alert"]["signature_id"], 2_100_498);
    assert_eq!(alert["src_ip"], "10.0.3.1");
    assert_eq!(alert["dest_ip"], "192.0.2.7");
    assert_eq!(alert["tidewatch"]["id"], id, "the store id is in the alert");
    assert_eq!(alert["tidewatch"]["seq"], 3);

    let nobody = Account::lookup("nobody", None).unwrap();
    let num = |f: &str| -> u32 {
        std::fs::read_to_string(out.join(f))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!((num("uid"), num("gid")), (nobody.uid, nobody.gid));
    assert_ne!(nobody.uid, 0);
    // No shell: the metacharacters reached the program as they were written.
    assert_eq!(
        std::fs::read_to_string(out.join("args")).unwrap(),
        "a; touch /tmp/tw-pwned\n$(id) `id`\n"
    );
    assert!(!Path::new("/tmp/tw-pwned").exists());
    // A clean environment: ours, none of the collector's (cargo sets CARGO_* for us).
    let env = std::fs::read_to_string(out.join("env")).unwrap();
    assert!(env.contains(&format!("TIDEWATCH_ALERT_ID={id}\n")), "{env}");
    assert!(env.contains("TIDEWATCH_SID=2100498\n"), "{env}");
    assert!(env.contains("PATH=/usr/local/sbin:"), "{env}");
    assert!(!env.contains("CARGO"), "{env}");
    assert_eq!(
        (
            output_field(&dir, "respond", "sent"),
            output_field(&dir, "respond", "failed"),
            output_field(&dir, "respond", "missed"),
        ),
        (1, 0, 0)
    );
}

#[test]
fn exec_timeout_kills_the_program_and_its_children_on_time() {
    let dir = scratch_dir("respond-exec-timeout");
    // The script starts a background sleeper, then sleeps itself: both must go.
    let (prog, out) = script(
        &dir,
        "hang.sh",
        "sleep 30 &\n\
         echo $! > \"$1/bg\"\n\
         echo $$ > \"$1/pid\"\n\
         sleep 30\n",
    );
    let config = exec_config(
        "hang",
        &[prog.to_str().unwrap(), out.to_str().unwrap()],
        "timeout_secs = 1.0",
    );
    let (_col, addr) = start_collector_config(&dir, &config);
    deliver(&addr, &[sample_record(1)]);
    wait_for("the program to start", 10, || {
        read_pid(&out.join("pid")).is_some()
    });
    let started = Instant::now();
    let (pid, bg) = (
        read_pid(&out.join("pid")).unwrap(),
        read_pid(&out.join("bg")).unwrap(),
    );
    assert!(!process_gone(pid) && !process_gone(bg));
    wait_for("the program and its child to be killed", 5, || {
        process_gone(pid) && process_gone(bg)
    });
    let took = started.elapsed();
    assert!(took <= Duration::from_millis(1800), "killed after {took:?}");
    wait_output(&dir, "hang", "timed_out", 1, 5);
    // The program itself was reaped, not left a zombie.
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(output_field(&dir, "hang", "failed"), 1);
    assert_eq!(output_field(&dir, "hang", "running"), 0);
    assert_eq!(output_field(&dir, "hang", "sent"), 0);
}

#[test]
fn exec_beyond_max_running_is_missed_and_storing_goes_on() {
    let dir = scratch_dir("respond-exec-busy");
    let (prog, out) = script(
        &dir,
        "slow.sh",
        "touch \"$1/started.$TIDEWATCH_ALERT_ID\"\n\
         sleep 5\n",
    );
    let config = exec_config(
        "slow",
        &[prog.to_str().unwrap(), out.to_str().unwrap()],
        "max_running = 1\ntimeout_secs = 20",
    );
    let (_col, addr) = start_collector_config(&dir, &config);
    deliver(&addr, &[sample_record(1)]);
    wait_for("the first program to start", 10, || {
        out.join("started.1").exists()
    });
    // While it runs, 40 more alerts are stored at once; each is missed by this output.
    let t = Instant::now();
    let more: Vec<store::AlertRecord> = (2..=41).map(sample_record).collect();
    deliver(&addr, &more);
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "storing waited for the program: {took:?}"
    );
    assert_eq!(stored(&dir, "edge-1").len(), 41);
    wait_output(&dir, "slow", "missed", 40, 5);
    assert_eq!(output_field(&dir, "slow", "running"), 1, "still running");
    wait_output(&dir, "slow", "ok", 1, 15);
    assert_eq!(
        (
            output_field(&dir, "slow", "sent"),
            output_field(&dir, "slow", "missed"),
            output_field(&dir, "slow", "failed"),
        ),
        (1, 40, 0)
    );
    let started = std::fs::read_dir(&out).unwrap().count();
    assert_eq!(started, 1, "only one program ran");
}

#[test]
fn a_root_exec_user_is_refused_unless_allowed_and_errors_name_the_key() {
    let dir = scratch_dir("respond-exec-root");
    let conf = dir.join("collector.toml");
    for (config, want) in [
        (
            exec_config("r", &["/bin/true"], "").replace("\"nobody\"", "\"root\""),
            "output.r.user",
        ),
        (exec_config("r", &["true"], ""), "output.r.command"),
        (
            exec_config("r", &["/bin/true"], "").replace("user = \"nobody\"\n", ""),
            "output.r.user",
        ),
        (
            exec_config("r", &["/bin/true"], "max_running = 0"),
            "output.r.max_running",
        ),
        (
            "[[route]]\noutputs = [\"b\"]\n[output.b]\ntype = \"block\"\nduration_secs = 5\ntarget = \"both\"\n".into(),
            "output.b.target",
        ),
    ] {
        std::fs::write(&conf, &config).unwrap();
        let o = tidewatch()
            .args(["--config"])
            .arg(&conf)
            .args(["collector", "--listen", "127.0.0.1:0", "--insecure", "--db"])
            .arg(dir.join("a.redb"))
            .arg("--control")
            .arg(dir.join("c.sock"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{config}: started");
        assert!(err.contains(want), "{want}: {err}");
    }
}

const SENSOR: &str = "edge-respond";
const RULES: &str = "alert udp any any -> any 53 (msg:\"evil\"; content:\"evil\"; sid:1;)\n\
                     alert udp any any -> any 53 (msg:\"worse\"; content:\"worse\"; sid:2;)\n";

fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn an_alert_routed_to_block_makes_the_sensor_drop_its_source_at_xdp_until_it_expires() {
    let lab = VethLab::new("rb", 1).expect("veth lab (root needed)");
    let dir = scratch_dir("respond-block");
    run_ok(
        tidewatch()
            .args(["certs", "--out"])
            .arg(dir.join("pki"))
            .args(["--sensor", SENSOR]),
    );
    // sid 1 blocks its source for 3 s at the sensor that raised it; sid 2 only is stored.
    let conf = dir.join("collector.toml");
    std::fs::write(
        &conf,
        r#"
[[route]]
name = "shun-evil"
sids = [1]
outputs = ["shun"]
[output.shun]
type = "block"
target = "src"
duration_secs = 3
never = ["192.0.2.0/24"]
"#,
    )
    .unwrap();
    let port = free_port();
    let pki = dir.join("pki");
    let metrics = format!("127.0.0.1:{port}");
    let (_col, addr) = start_collector_with(
        &dir,
        &[
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--certs".as_ref(),
            pki.as_os_str(),
            "--config".as_ref(),
            conf.as_os_str(),
            "--metrics".as_ref(),
            metrics.as_ref(),
        ],
        None,
    );
    let sensor = LiveSensor::start(&lab, &dir, &addr, SENSOR, RULES, &[]);
    let a = Ipv4Addr::new(10, 8, 0, 1);
    let b = Ipv4Addr::new(10, 8, 0, 2);

    // One alert from A: stored, routed, the block reaches the sensor's XDP program.
    lab.send(&udp_frames(1, a, b"evil stuff")).unwrap();
    let rows = wait_stored(&dir, SENSOR, 1, Duration::from_secs(15));
    assert_eq!(by_sid(&rows), BTreeMap::from([(1, 1)]));
    let (applied, at) =
        sensor.wait_log("ok blocked 10.8.0.1/32 for 3s", 0, Duration::from_secs(10));

    // Frames from A are dropped at XDP: exactly those sent, none inspected, no alert.
    lab.send(&udp_frames(20, a, b"evil stuff")).unwrap();
    let s = sensor.wait_seen(21);
    assert_eq!(
        (
            field(&s, "blocked"),
            field(&s, "inspected"),
            field(&s, "alerts")
        ),
        (20, 1, 1),
        "{s}"
    );
    // B still passes and is inspected: 10 alerts (sid 2, not a blocking route) and 5 clean.
    lab.send(&udp_frames(10, b, b"worse stuff")).unwrap();
    lab.send(&udp_frames(5, b, b"good stuff")).unwrap();
    let s = sensor.wait_seen(36);
    assert_eq!(
        (
            field(&s, "blocked"),
            field(&s, "inspected"),
            field(&s, "alerts")
        ),
        (20, 16, 11),
        "{s}"
    );
    let rows = wait_stored(&dir, SENSOR, 11, Duration::from_secs(15));
    assert_eq!(
        by_sid(&rows),
        BTreeMap::from([(1, 1), (2, 10)]),
        "no new alert from A"
    );
    assert!(
        applied.elapsed() < Duration::from_millis(2500),
        "the checks above ran past the block's time: {:?}",
        applied.elapsed()
    );

    // The sensor lifts the block on time; A passes and is inspected again.
    let (expired, _) = sensor.wait_log("block expired", at, Duration::from_secs(10));
    let lasted = expired - applied;
    assert!(
        lasted >= Duration::from_millis(2800) && lasted <= Duration::from_millis(3600),
        "block lasted {lasted:?}, want 3 s"
    );
    lab.send(&udp_frames(5, a, b"evil stuff")).unwrap();
    let s = sensor.wait_seen(41);
    assert_eq!(
        (
            field(&s, "blocked"),
            field(&s, "inspected"),
            field(&s, "alerts")
        ),
        (20, 21, 16),
        "{s}"
    );
    let rows = wait_stored(&dir, SENSOR, 16, Duration::from_secs(15));
    assert_eq!(by_sid(&rows), BTreeMap::from([(1, 6), (2, 10)]));

    // The collector sent one block per episode and suppressed repeats while in force.
    wait_output(&dir, "shun", "blocks_sent", 2, 10);
    wait_for("the 4 repeats to be suppressed", 10, || {
        output_field(&dir, "shun", "suppressed") == 4
    });
    assert_eq!(output_field(&dir, "shun", "blocks_sent"), 2);
    assert_eq!(output_field(&dir, "shun", "failed"), 0);
    let m = scrape(port);
    for line in [
        "tidewatch_output_blocks_total{output=\"shun\",type=\"block\",result=\"sent\"} 2",
        "tidewatch_output_blocks_total{output=\"shun\",type=\"block\",result=\"suppressed\"} 4",
        "tidewatch_output_alerts_total{output=\"shun\",type=\"block\",result=\"sent\"} 2",
    ] {
        assert!(m.contains(line), "no `{line}` in\n{m}");
    }
    let log = sensor.stop();
    assert!(log.contains("alerts: 16"), "{log}");
}

/// `(real, effective, saved, fs)` of a `Uid:`/`Gid:` line of /proc/PID/status.
fn ids(status: &str, key: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

#[test]
fn collector_with_user_runs_as_nobody_after_binding_and_still_stores() {
    let dir = scratch_dir("respond-user");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (col, addr) = start_collector_with(
        &dir,
        &[
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--insecure".as_ref(),
            "--user".as_ref(),
            "nobody".as_ref(),
        ],
        None,
    );
    let nobody = Account::lookup("nobody", None).unwrap();
    let pid = col.0.id();
    let status = || std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    wait_for("the collector to drop to nobody", 10, || {
        ids(&status(), "Uid:") == vec![nobody.uid; 4]
    });
    let st = status();
    assert_eq!(ids(&st, "Gid:"), vec![nobody.gid; 4], "{st}");
    assert_eq!(ids(&st, "Groups:"), nobody.groups, "{st}");
    // Its sockets and store were opened before: a sensor link still delivers and stores.
    let recs: Vec<store::AlertRecord> = (1..=25).map(sample_record).collect();
    deliver(&addr, &recs);
    let rows = stored(&dir, "edge-1");
    assert_eq!(rows.len(), 25);
    assert!(control(&dir, "status").contains("stored 25"));
}
