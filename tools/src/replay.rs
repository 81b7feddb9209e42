//! `tidewatch replay`: offline detection of a pcap through the same workers as live
//! capture, EVE alerts out, a summary on stderr.

use crate::config::Config;
use crate::{eve, ruleset};
use anyhow::{Context, Result};
use capture::pcap::PcapFile;
use detect::dispatch::{self, DispatchConfig};
use detect::worker::WorkerConfig;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct ReplayArgs {
    pub pcap: PathBuf,
    pub rules: Vec<PathBuf>,
    pub eve: Option<PathBuf>,
    pub workers: Option<usize>,
    pub strict: bool,
    /// Deliver alerts to a collector through a spool (`--collector`, `--spool`).
    pub delivery: Option<crate::deliver::DeliveryArgs>,
    /// Serve the delivery's metrics (spool, shipper, deliver latency) while it runs.
    pub metrics: Option<String>,
}

fn open_eve(path: Option<&Path>) -> Result<Box<dyn Write + Send>> {
    Ok(match path {
        None => Box::new(std::io::stdout()),
        Some(p) if p == Path::new("-") => Box::new(std::io::stdout()),
        Some(p) => Box::new(
            std::fs::File::create(p)
                .with_context(|| format!("creating EVE file {}", p.display()))?,
        ),
    })
}

/// Runs a replay; returns whether the capture file was read to its end.
pub fn run(args: ReplayArgs, config: &Config) -> Result<bool> {
    let started = Instant::now();
    let set = ruleset::load(config, &args.rules, args.strict)?;
    let load_time = started.elapsed();
    eprint!("{}", set.loaded.render());
    eprintln!("rules loaded in {:.2}s", load_time.as_secs_f64());

    let file = PcapFile::open(&args.pcap)?;
    let workers = args.workers.unwrap_or(config.detect.workers).max(1);
    let wcfg = WorkerConfig {
        flow: config.flow.to_detect_for(workers),
        checksums: config.checksum_mode(),
        stream: config.stream.to_detect(workers),
        defrag: config.defrag.to_detect(workers),
    };
    let dcfg = DispatchConfig {
        workers,
        queue_depth: config.detect.queue_depth,
        pin: config.detect.pin_workers,
        ..DispatchConfig::default()
    };

    let bar = if std::io::stderr().is_terminal() && file.len() > 64 << 20 {
        let b = ProgressBar::new(file.len());
        b.set_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };

    // With a collector, EVE lines are written only when asked for with --eve.
    let mut delivery = match &args.delivery {
        Some(d) => Some(crate::deliver::Delivery::open(d, "replay", |c| {
            tracing::warn!(?c, "replay carries out no commands from the collector")
        })?),
        None => None,
    };
    let _metrics = match (&delivery, &args.metrics) {
        (Some(d), Some(addr)) => {
            let (spool, shipper) = d.metrics_sources();
            let m = crate::metrics::MetricsServer::start(
                addr,
                crate::metrics::Source::Direct(Box::new(move || {
                    crate::metrics::render_delivery(&spool, &shipper)
                })),
            )?;
            eprintln!("metrics on http://{}/metrics", m.local_addr);
            Some(m)
        }
        _ => None,
    };
    let eve_path = match (&delivery, &args.eve) {
        (Some(_), None) => Some(PathBuf::from("/dev/null")),
        (_, e) => e.clone(),
    };
    let mut deliver_error: Option<anyhow::Error> = None;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, open_eve(eve_path.as_deref())?);
    let mut write_error: Option<std::io::Error> = None;
    let mut line = Vec::with_capacity(4096);
    let t0 = Instant::now();
    let report = dispatch::run(
        file.frames(),
        set.engine.clone(),
        &wcfg,
        &dcfg,
        |a| {
            if let Some(d) = delivery.as_mut() {
                if deliver_error.is_none() {
                    if let Err(e) = d.submit(&a) {
                        deliver_error = Some(e);
                    }
                }
            }
            if write_error.is_some() {
                return;
            }
            line.clear();
            let v = eve::alert_json(&a, None);
            if let Err(e) = serde_json::to_writer(&mut line, &v) {
                write_error = Some(e.into());
                return;
            }
            line.push(b'\n');
            if let Err(e) = out.write_all(&line) {
                write_error = Some(e);
            }
        },
        |bytes| {
            if let Some(b) = &bar {
                b.set_position(bytes);
            }
        },
    );
    let elapsed = t0.elapsed();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    out.flush().context("writing EVE output")?;
    if let Some(e) = write_error {
        return Err(e).context("writing EVE output");
    }

    if let Some(e) = deliver_error {
        return Err(e.context("delivering an alert"));
    }

    let t = report.totals();
    let secs = elapsed.as_secs_f64().max(1e-9);
    print_counts(&t);
    if t.bad_checksum > 0 {
        eprintln!(
            "bad checksums (inspected anyway, as Suricata does): {}",
            t.bad_checksum
        );
    }
    let f = report.fragments;
    if f.held > 0 || f.unrouted > 0 {
        eprintln!(
            "fragments held for their first fragment: {}; sent by addresses (first fragment never came): {}",
            f.held, f.unrouted
        );
    }
    if t.passed > 0 {
        eprintln!("passed (pass rules): {}", t.passed);
    }
    if t.dropped > 0 {
        eprintln!(
            "not inspected after a drop/reject rule matched their flow: {}",
            t.dropped
        );
    }
    if t.outer_packets > 0 {
        eprintln!(
            "tunnel outer packets inspected (header rules only): {}",
            t.outer_packets
        );
    }
    eprintln!("alerts: {}", t.alerts);
    eprintln!(
        "throughput: {:.3} Gbit/s, {:.3} Mpps over {:.3}s with {} worker(s)",
        t.bytes as f64 * 8.0 / secs / 1e9,
        t.packets as f64 / secs / 1e6,
        secs,
        workers
    );
    let cpu: f64 = report.worker_cpu.iter().map(|d| d.as_secs_f64()).sum();
    if cpu > 0.0 {
        eprintln!(
            "worker CPU: {:.3}s ({:.3} Gbit/s per worker-CPU-second); reader CPU: {:.3}s",
            cpu,
            t.bytes as f64 * 8.0 / cpu / 1e9,
            report.reader_cpu.as_secs_f64()
        );
        eprintln!(
            "handoff waits: reader {} (a worker's queue full), workers {} (queue empty)",
            report.queue_full_waits,
            report.worker_idle_waits.iter().sum::<u64>()
        );
    }
    // Detection is done; the summary above is final. Now wait for the collector.
    if let Some(d) = delivery {
        eprintln!("{}", d.finish(None));
    }
    if let Some(e) = report.source_error {
        eprintln!(
            "error: {e} (the {} frames before it were inspected)",
            report.reader_frames
        );
        return Ok(false);
    }
    Ok(true)
}

/// The packet, decode and flow lines of a summary (replay and sensor).
pub fn print_counts(t: &detect::worker::WorkerStats) {
    eprintln!("packets: {}", t.packets);
    eprintln!("bytes: {}", t.bytes);
    eprintln!(
        "decode errors: {}{}",
        t.decode.total(),
        t.decode
            .iter()
            .map(|(k, n)| format!(" {k}={n}"))
            .collect::<String>()
    );
    eprintln!("fragments: {}", t.decode.fragments);
    let df = &t.defrag;
    eprintln!(
        "defrag: {} fragments, {} datagrams reassembled ({} fragments), {} overlaps, \
         {} discarded by the overlap policy, {} timeouts ({} fragments); dropped: memcap {}, \
         trackers {}, invalid {}; still held {}; memory peak {} bytes",
        df.fragments,
        df.reassembled,
        df.reassembled_fragments,
        df.overlaps,
        df.discarded,
        df.timeouts,
        df.expired_fragments,
        df.memcap_drops,
        df.tracker_drops,
        df.invalid,
        df.held_fragments,
        df.peak_memory
    );
    eprintln!(
        "app layer: {} DNS requests inspected, {} flows turned round by their first payload, \
         {} TLS flows, {} TLS server names, {} TLS server certificates, {} HTTP flows, {} HTTP \
         requests, {} HTTP responses, {} compressed HTTP bodies not inspected, {} TCP directions given up, {} bytes held at most",
        t.app.dns_requests,
        t.app.reversed_flows,
        t.app.tls_flows,
        t.app.tls_sni,
        t.app.tls_certs,
        t.app.http_flows,
        t.app.http_requests,
        t.app.http_responses,
        t.app.http_bodies_compressed,
        t.app.tcp_given_up,
        t.app.tcp_held_peak
    );
    eprintln!(
        "flows: {} created, {} timed out, {} evicted, {} emergencies",
        t.flows.created, t.flows.timed_out, t.flows.evicted, t.flows.emergency
    );
    eprintln!(
        "alert filters: {} suppressed, {} thresholded, {} rate-filtered, {} threshold entries evicted",
        t.filters.suppressed, t.filters.thresholded, t.filters.rate_filtered, t.filters.evicted
    );
    let st = &t.stream;
    eprintln!(
        "stream: {} sessions ({} midstream), {} segments, {} bytes, {} inspections, {} gaps, \
         {} retransmitted and {} overlapping bytes, {} stale bytes, {} untracked segments, \
         {} bytes of directions no stream rule reads; \
         given up: depth {} bytes, memcap {} segments/{} bytes, window {}/{}, pieces {}/{}; \
         memory peak {} bytes",
        st.sessions,
        st.midstream_pickups,
        st.segments,
        st.bytes,
        st.inspections,
        st.gaps,
        st.retransmitted_bytes,
        st.overlap_different_bytes,
        st.stale_bytes,
        st.untracked_segments,
        st.unkept_bytes,
        st.depth_bytes,
        st.memcap_segments,
        st.memcap_bytes,
        st.window_segments,
        st.window_bytes,
        st.pieces_segments,
        st.pieces_bytes,
        st.memory_peak
    );
}
