//! The spool survives kill -9: a child process (this test binary, re-executed) appends
//! and acknowledges in a loop and is killed mid-stream, three times over. After each kill
//! the spool must hold exactly the unacknowledged records, as one gapless run of seqs
//! covering everything the child reported appended, and the next run's seqs must start
//! above every seq ever issued.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use store::spool::{Admit, Spool, SpoolOptions};
use store::testkit::archived;

const CHILD_ENV: &str = "TIDEWATCH_SPOOL_CRASH_CHILD";

fn opts() -> SpoolOptions {
    SpoolOptions {
        // Small, so the child laps the ring many times before it is killed.
        capacity: 256 * 1024,
        ship_only_synced: false,
        ..SpoolOptions::default()
    }
}

/// The child's body: runs only when re-executed by the test below.
#[test]
fn crash_child_appends_until_killed() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut s = Spool::open(&path, &opts()).unwrap();
    let out = std::io::stdout();
    let mut out = out.lock();
    writeln!(out, "@@start {}", s.writer.next_seq()).unwrap();
    let t0 = Instant::now();
    // Bounded even if the parent never kills us.
    for i in 0..2_000_000u64 {
        let mut r = archived(0, 200 + (i as usize * 31) % 600);
        let Admit::Spooled { seq } = s.writer.append(&mut r).unwrap() else {
            panic!("the child keeps the spool under its watermark");
        };
        writeln!(out, "@@a {seq}").unwrap();
        if i % 50 == 49 {
            // Play the shipper: send, and have all but the last 20 acknowledged.
            let sent: Vec<u64> = s
                .reader
                .next_unsent(usize::MAX, usize::MAX)
                .map(|e| e.seq)
                .collect();
            if let Some(&last) = sent.last() {
                if last > 20 {
                    s.reader.ack(last - 20).unwrap();
                    writeln!(out, "@@k {}", last - 20).unwrap();
                }
            }
        }
        out.flush().unwrap();
        if t0.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
}

struct Seen {
    start: u64,
    last_appended: u64,
    last_acked: u64,
}

/// Runs the child until it has appended `n` records, then SIGKILLs it.
fn run_and_kill(path: &Path, n: u64) -> Seen {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_appends_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Seen {
        start: 0,
        last_appended: 0,
        last_acked: 0,
    };
    let mut count = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    // libtest may print its own words before the child's first line on the same line.
    let parse = |line: &str, seen: &mut Seen| -> bool {
        let Some(at) = line.find("@@") else {
            return false;
        };
        let mut it = line[at + 2..].split(' ');
        let (tag, v) = (it.next(), it.next().and_then(|v| v.parse::<u64>().ok()));
        match (tag, v) {
            (Some("start"), Some(v)) => seen.start = v,
            (Some("a"), Some(v)) => {
                assert!(v > seen.last_appended, "seqs increase");
                seen.last_appended = v;
                return true;
            }
            (Some("k"), Some(v)) => seen.last_acked = v,
            _ => {}
        }
        false
    };
    for line in lines.by_ref() {
        if parse(&line.unwrap(), &mut seen) {
            count += 1;
        }
        if count >= n {
            break;
        }
        assert!(Instant::now() < deadline, "child too slow");
    }
    child.kill().unwrap(); // SIGKILL
                           // Whatever it reported before dying is still in the pipe.
    for line in lines {
        parse(&line.unwrap(), &mut seen);
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed, not finished");
    seen
}

#[test]
fn kill_9_mid_stream_loses_nothing_and_never_reuses_a_seq() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("spool");
    let mut issued_max = 0;
    for round in 0..3 {
        let seen = run_and_kill(&path, 5_000 + round * 1_500);
        assert!(
            seen.start > issued_max,
            "round {round}: seq restarted at {}",
            seen.start
        );
        let mut s = Spool::open(&path, &opts()).unwrap();
        let r = s.recovery.clone();
        assert_eq!(
            r.cut, None,
            "round {round}: kill -9 tears nothing published: {r:?}"
        );
        let acked = s.reader.acked_seq();
        assert!(acked >= seen.last_acked, "round {round}");
        let kept: Vec<u64> = s
            .reader
            .next_unsent(usize::MAX, usize::MAX)
            .map(|e| e.seq)
            .collect();
        let first = kept.first().copied().unwrap();
        let last = kept.last().copied().unwrap();
        assert_eq!(
            first,
            acked + 1,
            "round {round}: starts right after the ack"
        );
        assert_eq!(
            kept,
            (first..=last).collect::<Vec<_>>(),
            "round {round}: gapless"
        );
        assert!(
            last >= seen.last_appended,
            "round {round}: every reported append is kept"
        );
        // At most the one record being written at the kill took a seq and was not kept.
        assert!(
            r.next_seq <= last + 2 && r.next_seq > last,
            "round {round}: {r:?}"
        );
        assert_eq!(
            s.reader.next_unsent(usize::MAX, usize::MAX).len(),
            0,
            "sent twice"
        );
        issued_max = r.next_seq - 1;
        println!(
            "round {round}: child appended up to {}, kept {}..={last} ({} records), next seq {}",
            seen.last_appended,
            first,
            kept.len(),
            r.next_seq
        );
    }
}
