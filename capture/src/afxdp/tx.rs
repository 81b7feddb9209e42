//! The generator side: a copy-mode AF_XDP TX socket that sends prepared frames from its
//! UMEM without copying them again. Each UMEM frame holds one template for good; a
//! resend only sets its length again (xsk-rs's completion ring resets lengths to 0, and a
//! zero-length frame is completed but never delivered).

use super::{bind, new_umem, sockopt, AfXdpError, Bound};
use std::collections::VecDeque;
use std::io::Write;
use std::os::fd::AsRawFd;
use xsk_rs::config::BindFlags;
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, TxQueue, Umem};

#[derive(Clone, Debug)]
pub struct TxConfig {
    /// UMEM frames and TX/completion ring size (a power of two).
    pub frames: u32,
    /// Frames per kick.
    pub batch: usize,
    /// `XDP_MAX_TX_SKB_BUDGET` (Linux 6.17+); left at the kernel's default when refused.
    pub skb_budget: u32,
}

impl Default for TxConfig {
    fn default() -> Self {
        TxConfig {
            frames: 4096,
            batch: 64,
            skb_budget: 256,
        }
    }
}

pub struct TxSocket {
    umem: Umem,
    tx: TxQueue,
    cq: CompQueue,
    _rx: RxQueue,
    _fq: FillQueue,
    /// Frames ready to send, oldest first: a FIFO, so every frame (and so every template)
    /// takes its turn. A stack would resend the few frames just completed, and a paced
    /// generator would offer a mix unlike the templates'.
    free: VecDeque<FrameDesc>,
    /// Completions land here before they join `free` (the ring wants a slice).
    done: Vec<FrameDesc>,
    batch: Vec<FrameDesc>,
    /// Frame length by frame index.
    lens: Vec<u16>,
    frame_size: usize,
    batch_size: usize,
    in_flight: usize,
    templates: usize,
    /// Frames the kernel completed (sent), in total and per template.
    pub completed: u64,
    pub completed_by_template: Vec<u64>,
}

impl TxSocket {
    /// Opens a copy-mode TX socket on `iface` queue `queue` and writes `templates` into
    /// its frames round robin.
    pub fn open(
        iface: &str,
        queue: u32,
        cfg: &TxConfig,
        templates: &[Vec<u8>],
    ) -> Result<TxSocket, AfXdpError> {
        let frame_size = 2048u32;
        if templates.is_empty() || templates.iter().any(|t| t.is_empty() || t.len() > 2048) {
            return Err(AfXdpError::Size(
                "templates must be 1..=2048 bytes each, at least one".into(),
            ));
        }
        let (umem, mut descs) = new_umem(cfg.frames, frame_size, 64, cfg.frames)?;
        let Bound { tx, rx, fq, cq } = bind(
            iface,
            queue,
            &umem,
            64,
            cfg.frames,
            BindFlags::XDP_COPY | BindFlags::XDP_USE_NEED_WAKEUP,
        )?;
        if let Err(e) = sockopt::set_tx_skb_budget(tx.fd().as_raw_fd(), cfg.skb_budget) {
            tracing::warn!(error = %e, "XDP_MAX_TX_SKB_BUDGET refused (kernel before 6.17?); the generator will be slower");
        }
        let mut lens = vec![0u16; descs.len()];
        for (i, d) in descs.iter_mut().enumerate() {
            let t = &templates[i % templates.len()];
            // SAFETY: the frame is ours; nothing was submitted yet.
            let mut data = unsafe { umem.data_mut(d) };
            let mut c = data.cursor();
            c.write_all(t)
                .map_err(|e| AfXdpError::Size(e.to_string()))?;
            lens[i] = t.len() as u16;
        }
        Ok(TxSocket {
            umem,
            tx,
            cq,
            _rx: rx,
            _fq: fq,
            free: descs.into(),
            done: Vec::new(),
            batch: Vec::with_capacity(cfg.batch.max(1)),
            lens,
            frame_size: frame_size as usize,
            batch_size: cfg.batch.max(1),
            in_flight: 0,
            templates: templates.len(),
            completed: 0,
            completed_by_template: vec![0; templates.len()],
        })
    }

    /// Takes back frames the kernel has sent.
    fn reclaim(&mut self) {
        let want = self.in_flight;
        if want == 0 {
            return;
        }
        self.done.resize(want, FrameDesc::default());
        // SAFETY: completed frames are this UMEM's.
        let n = unsafe { self.cq.consume(&mut self.done[..]) };
        for d in &self.done[..n] {
            self.completed_by_template[(d.addr() / self.frame_size) % self.templates] += 1;
        }
        self.free.extend(self.done.drain(..n));
        self.in_flight -= n;
        self.completed += n as u64;
    }

    /// Sends up to `max` frames (at most one batch); returns how many were queued.
    pub fn send(&mut self, max: usize) -> std::io::Result<usize> {
        self.reclaim();
        let n = max.min(self.batch_size).min(self.free.len());
        if n == 0 {
            if self.tx.needs_wakeup() {
                self.tx.wakeup()?;
            }
            return Ok(0);
        }
        self.batch.clear();
        for _ in 0..n {
            let Some(mut d) = self.free.pop_front() else {
                break;
            };
            let idx = d.addr() / self.frame_size;
            // SAFETY: the frame is ours until submitted.
            unsafe { self.umem.data_mut(&mut d) }
                .cursor()
                .set_pos(self.lens[idx] as usize);
            self.batch.push(d);
        }
        // SAFETY: the frames are ours and hold complete frames.
        let sent = unsafe { self.tx.produce_and_wakeup(&self.batch) }?;
        // Unsent frames go back to the front, in order, to keep the rotation.
        for d in self.batch[sent..].iter().rev() {
            self.free.push_front(*d);
        }
        self.in_flight += sent;
        Ok(sent)
    }

    /// Waits (bounded) until every queued frame is completed; returns those still out.
    pub fn flush(&mut self, timeout: std::time::Duration) -> usize {
        let end = std::time::Instant::now() + timeout;
        while self.in_flight > 0 && std::time::Instant::now() < end {
            let _ = self.tx.wakeup();
            self.reclaim();
            if self.in_flight > 0 {
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
        }
        self.in_flight
    }
}
