//! Active response by program (OSSEC's execd): for each alert routed here, the configured
//! program runs directly (no shell) as a configured unprivileged user, in its own process
//! group, with a clean environment and the alert as one EVE JSON line on stdin. A
//! watchdog thread per run feeds stdin without blocking, kills the whole group at the
//! timeout and reaps it. At most `max_running` run at once; an alert arriving when all are
//! busy is missed (counted and logged: it is in the store), so a slow program never holds
//! the router or the collector's writer.

use super::config::ExecConfig;
use super::router::{Delivery, Output, OutputStats};
use crate::privilege::Account;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The whole environment a program gets (besides `TIDEWATCH_*`).
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// How often a watchdog looks at its program.
const POLL: Duration = Duration::from_millis(5);

/// Counters of the exec outputs (in [`OutputStats::response`]).
#[derive(Debug, Default)]
pub struct ExecStats {
    /// Programs that exited with status 0 (their alerts count as `sent`).
    pub ok: AtomicU64,
    /// Programs that exited non-zero, were killed by a signal, timed out (killed by us) or
    /// could not be started; each counts its alert as `failed`.
    pub exit_nonzero: AtomicU64,
    pub signaled: AtomicU64,
    pub timed_out: AtomicU64,
    pub spawn_errors: AtomicU64,
    /// Programs running now.
    pub running: AtomicU64,
}

pub(crate) struct ExecOutput {
    name: String,
    program: String,
    args: Vec<String>,
    /// `None`: run as the collector's own user (it already is the configured user).
    account: Option<Account>,
    timeout: Duration,
    max_running: u64,
    stats: Arc<OutputStats>,
}

/// Why an exec output could not be set up (the message names the key).
pub(crate) fn setup_error(name: &str, key: &str, what: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("output.{name}.{key}: {what}"),
    )
}

impl ExecOutput {
    pub fn new(
        name: &str,
        cfg: &ExecConfig,
        stats: Arc<OutputStats>,
    ) -> std::io::Result<ExecOutput> {
        let user = cfg.user.as_deref().unwrap_or("nobody");
        let account = Account::lookup(user, cfg.group.as_deref()).map_err(|e| {
            setup_error(
                name,
                if cfg.group.is_some() {
                    "user/group"
                } else {
                    "user"
                },
                e,
            )
        })?;
        if (account.uid == 0 || account.gid == 0) && !cfg.allow_root {
            return Err(setup_error(
                name,
                "user",
                format!("`{user}` is root (uid or gid 0); set allow_root = true if you mean it"),
            ));
        }
        let program = cfg.command[0].clone();
        // Checked now so a typo is a start-up error, not a failure per alert.
        let meta = std::fs::metadata(&program)
            .map_err(|e| setup_error(name, "command", format!("{program}: {e}")))?;
        if !meta.is_file() {
            return Err(setup_error(
                name,
                "command",
                format!("{program} is not a file"),
            ));
        }
        // SAFETY: plain credential query.
        let me = unsafe { libc::geteuid() };
        Ok(ExecOutput {
            name: name.into(),
            program,
            args: cfg.command[1..].to_vec(),
            account: (me != account.uid || me == 0).then_some(account),
            timeout: Duration::from_secs_f64(cfg.timeout_secs),
            max_running: cfg.max_running as u64,
            stats,
        })
    }

    fn command(&self, id: u64, sid: u32) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args)
            .env_clear()
            .env("PATH", PATH)
            .env("LANG", "C")
            .env("HOME", "/")
            .env("TIDEWATCH_OUTPUT", &self.name)
            .env("TIDEWATCH_ALERT_ID", id.to_string())
            .env("TIDEWATCH_SID", sid.to_string())
            .current_dir("/")
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(a) = self.account.clone() {
            // SAFETY: between fork and exec the closure makes only async-signal-safe
            // syscalls (setgroups, setgid, setuid, geteuid) on data prepared before fork.
            unsafe {
                c.pre_exec(move || a.become_user());
            }
        }
        c
    }

    fn run(&self, id: u64, r: &crate::ArchivedAlertRecord) {
        let ex = &self.stats.response.exec;
        // Only this thread starts programs, so the check-then-add cannot overshoot.
        if ex.running.load(Relaxed) >= self.max_running {
            let n = self.stats.missed.fetch_add(1, Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(output = %self.name, id, missed = n, max_running = self.max_running,
                    "exec output busy: alert not acted on (it is in the store)");
            }
            return;
        }
        let mut input = super::eve_line(Some(id), r).into_bytes();
        input.push(b'\n');
        let child = match self.command(id, r.sid.to_native()).spawn() {
            Ok(c) => c,
            Err(e) => {
                ex.spawn_errors.fetch_add(1, Relaxed);
                self.stats.failed.fetch_add(1, Relaxed);
                tracing::error!(output = %self.name, id, program = %self.program, error = %e,
                    "exec output could not start its program");
                return;
            }
        };
        ex.running.fetch_add(1, Relaxed);
        let pid = child.id() as i32;
        let w = Watchdog {
            name: self.name.clone(),
            id,
            child,
            input,
            deadline: Instant::now() + self.timeout,
            stats: self.stats.clone(),
        };
        if let Err(e) = std::thread::Builder::new()
            .name(format!("tw-exec-{}", self.name))
            .spawn(move || w.watch())
        {
            // Nothing could watch the program: kill it rather than let it run unbounded.
            // SAFETY: signalling the process group we created for this child.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            ex.running.fetch_sub(1, Relaxed);
            self.stats.failed.fetch_add(1, Relaxed);
            tracing::error!(output = %self.name, id, error = %e, "exec output: no watchdog thread");
        }
    }
}

/// One running program: feeds its stdin, waits for it until the deadline, kills its
/// process group then, and reaps it. Counts the outcome.
struct Watchdog {
    name: String,
    id: u64,
    child: Child,
    input: Vec<u8>,
    deadline: Instant,
    stats: Arc<OutputStats>,
}

impl Watchdog {
    fn watch(mut self) {
        let pid = self.child.id() as i32;
        let mut stdin = self.child.stdin.take();
        if let Some(s) = &stdin {
            // SAFETY: fcntl on a pipe descriptor we own.
            unsafe {
                let fl = libc::fcntl(s.as_raw_fd(), libc::F_GETFL);
                libc::fcntl(s.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
            }
        }
        let mut fed = 0;
        let finished = loop {
            if let Some(s) = stdin.as_mut() {
                match s.write(&self.input[fed..]) {
                    Ok(n) => fed += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    // EPIPE: the program closed stdin without reading it all; its choice.
                    Err(_) => fed = self.input.len(),
                }
                if fed >= self.input.len() {
                    stdin = None; // EOF for the program
                }
            }
            match exited(pid) {
                Ok(true) => break true,
                Ok(false) if Instant::now() >= self.deadline => break false,
                Ok(false) => std::thread::sleep(POLL),
                Err(e) => {
                    tracing::error!(output = %self.name, id = self.id, error = %e, "exec output: waiting for the program");
                    break false;
                }
            }
        };
        drop(stdin);
        // Whatever happened, nothing of this run outlives it: the group goes (background
        // children included) while the program is still unreaped, so its pid, which names
        // the group, cannot have been reused; then the program is reaped.
        // SAFETY: signalling the process group we created for this child.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let status = match self.child.wait() {
            Ok(s) if finished => Some(s),
            Ok(_) => None,
            Err(e) => {
                tracing::error!(output = %self.name, id = self.id, error = %e, "exec output: reaping the program");
                None
            }
        };
        let ex = &self.stats.response.exec;
        match status {
            Some(s) if s.success() => {
                ex.ok.fetch_add(1, Relaxed);
                self.stats.sent.fetch_add(1, Relaxed);
                tracing::debug!(output = %self.name, id = self.id, "exec output: program succeeded");
            }
            Some(s) => {
                self.stats.failed.fetch_add(1, Relaxed);
                if let Some(sig) = s.signal() {
                    ex.signaled.fetch_add(1, Relaxed);
                    tracing::warn!(output = %self.name, id = self.id, signal = sig, "exec output: program killed by a signal");
                } else {
                    ex.exit_nonzero.fetch_add(1, Relaxed);
                    tracing::warn!(output = %self.name, id = self.id, status = s.code(), "exec output: program failed");
                }
            }
            None => {
                self.stats.failed.fetch_add(1, Relaxed);
                ex.timed_out.fetch_add(1, Relaxed);
                tracing::warn!(output = %self.name, id = self.id, pid, "exec output: program timed out; its process group was killed");
            }
        }
        ex.running.fetch_sub(1, Relaxed);
    }
}

/// Whether `pid` has exited, without reaping it (WNOWAIT): its process group stays ours
/// to signal until we reap it.
fn exited(pid: i32) -> std::io::Result<bool> {
    // SAFETY: waitid writes into the zeroed siginfo only.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let rc = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(info.si_pid() != 0)
    }
}

impl Output for ExecOutput {
    fn deliver(&mut self, d: &Delivery, stats: &OutputStats) {
        let (recs, bad) = d.records();
        stats.failed.fetch_add(bad, Relaxed);
        for (id, r) in recs {
            self.run(id, r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(command: &[&str], user: &str, timeout_secs: f64) -> (ExecOutput, Arc<OutputStats>) {
        let cfg = ExecConfig {
            command: command.iter().map(|s| s.to_string()).collect(),
            user: Some(user.into()),
            group: None,
            allow_root: false,
            timeout_secs,
            max_running: 4,
        };
        let stats = Arc::new(OutputStats::default());
        (ExecOutput::new("t", &cfg, stats.clone()).unwrap(), stats)
    }

    /// Runs one alert through `command` and waits (bounded) for it to finish.
    fn run_one(command: &[&str], timeout_secs: f64) -> Arc<OutputStats> {
        let (mut out, stats) = output(command, "nobody", timeout_secs);
        let d = Delivery::sample([(7, crate::testkit::alert(7, 10))]);
        out.deliver(&d, &stats);
        wait_done(&stats, 1);
        assert_eq!(stats.response.exec.running.load(Relaxed), 0);
        stats
    }

    #[test]
    fn respond_exec_counts_exit_status_signals_and_timeouts() {
        let ex = |s: &OutputStats| {
            let e = &s.response.exec;
            [
                &e.ok,
                &e.exit_nonzero,
                &e.signaled,
                &e.timed_out,
                &e.spawn_errors,
            ]
            .map(|c| c.load(Relaxed))
        };
        let s = run_one(&["/bin/sh", "-c", "read line; exit 0"], 5.0);
        assert_eq!((ex(&s), s.sent.load(Relaxed)), ([1, 0, 0, 0, 0], 1));
        let s = run_one(&["/bin/sh", "-c", "exit 3"], 5.0);
        assert_eq!((ex(&s), s.failed.load(Relaxed)), ([0, 1, 0, 0, 0], 1));
        let s = run_one(&["/bin/sh", "-c", "kill -TERM $$"], 5.0);
        assert_eq!(ex(&s), [0, 0, 1, 0, 0]);
        let t = Instant::now();
        let s = run_one(&["/bin/sleep", "10"], 0.3);
        assert_eq!(ex(&s), [0, 0, 0, 1, 0]);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }

    /// Waits (bounded) until `stats` has `n` alerts sent or failed.
    fn wait_done(stats: &OutputStats, n: u64) {
        let end = Instant::now() + Duration::from_secs(10);
        while stats.sent.load(Relaxed) + stats.failed.load(Relaxed) < n {
            assert!(Instant::now() < end, "programs never finished: {stats:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn respond_exec_feeds_large_alerts_and_never_hangs_on_programs_that_do_not_read() {
        // 200 KiB of JSON does not fit a pipe: a program reading it all gets all of it, one
        // that never reads is still killed at its timeout.
        let big = || Delivery::sample([(1, crate::testkit::alert(1, 200_000))]);
        let d = big();
        let want = super::super::eve_line(Some(1), d.records().0[0].1).len() + 1;
        let check = format!("test $(wc -c) -eq {want}");
        let (mut reader, rs) = output(&["/bin/sh", "-c", &check], "nobody", 5.0);
        reader.deliver(&d, &rs);
        let (mut sleeper, ss) = output(&["/bin/sleep", "10"], "nobody", 0.5);
        let t = Instant::now();
        sleeper.deliver(&big(), &ss);
        wait_done(&ss, 1);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!(ss.response.exec.timed_out.load(Relaxed), 1);
        wait_done(&rs, 1);
        assert_eq!(rs.response.exec.ok.load(Relaxed), 1, "{rs:?}");
    }

    #[test]
    fn respond_exec_refuses_root_and_missing_programs_naming_the_key() {
        let cfg = |user: &str, prog: &str, allow_root| ExecConfig {
            command: vec![prog.into()],
            user: Some(user.into()),
            group: None,
            allow_root,
            timeout_secs: 1.0,
            max_running: 1,
        };
        let new = |c: &ExecConfig| ExecOutput::new("r", c, Default::default()).err();
        let e = new(&cfg("root", "/bin/true", false)).unwrap().to_string();
        assert!(
            e.contains("output.r.user") && e.contains("allow_root"),
            "{e}"
        );
        assert!(new(&cfg("root", "/bin/true", true)).is_none());
        let e = new(&cfg("nobody", "/no/such/prog", false))
            .unwrap()
            .to_string();
        assert!(
            e.contains("output.r.command") && e.contains("/no/such/prog"),
            "{e}"
        );
        let e = new(&cfg("no-such-user-tw", "/bin/true", false))
            .unwrap()
            .to_string();
        assert!(
            e.contains("output.r.user") && e.contains("no-such-user-tw"),
            "{e}"
        );
    }
}
