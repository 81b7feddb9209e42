//! The capture side: one AF_XDP socket and UMEM per RX queue.

use super::{bind, new_umem, sockopt, AfXdpError, Bound};
use std::os::fd::{AsRawFd, RawFd};
use xsk_rs::config::BindFlags;
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, TxQueue, Umem};

/// Sizes and modes of a capture socket.
#[derive(Clone, Debug)]
pub struct RxConfig {
    /// UMEM frames, all given to the fill ring at start (a power of two). Bursts larger
    /// than what sits in the fill ring are dropped by the kernel as `fill_ring_empty`.
    pub frames: u32,
    /// RX ring descriptors (a power of two).
    pub rx_ring: u32,
    /// Bytes per frame: 2048 or 4096.
    pub frame_size: u32,
    /// Let the kernel skip wakeups when we keep the rings busy.
    pub need_wakeup: bool,
    /// Busy-poll budget in microseconds (`SO_BUSY_POLL`), when set.
    pub busy_poll_us: Option<u32>,
}

impl Default for RxConfig {
    fn default() -> Self {
        RxConfig {
            frames: 8192,
            rx_ring: 8192,
            frame_size: 2048,
            need_wakeup: true,
            busy_poll_us: None,
        }
    }
}

/// `XDP_STATISTICS` of one socket: where the kernel dropped frames meant for us.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketStats {
    /// Dropped on receive, including every `fill_ring_empty` drop.
    pub rx_dropped: u64,
    pub rx_invalid: u64,
    /// Our RX ring was full: we were too slow to read it.
    pub rx_ring_full: u64,
    /// No frame in the fill ring: we held frames too long or the fill ring is too small.
    pub fill_ring_empty: u64,
}

impl SocketStats {
    pub fn merge(&mut self, o: &SocketStats) {
        self.rx_dropped += o.rx_dropped;
        self.rx_invalid += o.rx_invalid;
        self.rx_ring_full += o.rx_ring_full;
        self.fill_ring_empty += o.fill_ring_empty;
    }

    /// Frames lost at this socket. A frame dropped for want of a fill-ring frame counts
    /// in both `rx_dropped` and `fill_ring_empty` (the kernel's accounting), so only the
    /// former is added.
    pub fn total(&self) -> u64 {
        self.rx_dropped + self.rx_invalid + self.rx_ring_full
    }
}

/// A bound capture socket: the UMEM (shared read-only with whoever inspects frames) and
/// the rings (owned by the one thread that reads the socket).
pub struct RxSocket {
    pub umem: Umem,
    pub rings: RxRings,
    pub queue: u32,
    /// Zero-copy (the NIC writes into our UMEM) rather than copy mode.
    pub zero_copy: bool,
}

/// The fill and RX rings of one socket.
pub struct RxRings {
    fq: FillQueue,
    rx: RxQueue,
    _tx: TxQueue,
    _cq: CompQueue,
}

impl RxSocket {
    /// Binds a socket to `iface` queue `queue`, in zero-copy mode when the driver can and
    /// copy mode otherwise, without loading libxdp's program (ours redirects to it once
    /// its fd is in the XSKMAP), and fills the fill ring.
    pub fn open(iface: &str, queue: u32, cfg: &RxConfig) -> Result<RxSocket, AfXdpError> {
        crate::xdp::if_index(iface).map_err(|_| AfXdpError::NoInterface(iface.into()))?;
        let (umem, descs) = new_umem(cfg.frames, cfg.frame_size, cfg.frames, 64)?;
        let mut flags = BindFlags::empty();
        if cfg.need_wakeup {
            flags |= BindFlags::XDP_USE_NEED_WAKEUP;
        }
        let Bound { tx, rx, mut fq, cq } = bind(iface, queue, &umem, cfg.rx_ring, 64, flags)?;
        // SAFETY: the descriptors are this UMEM's and nobody else holds them.
        let n = unsafe { fq.produce(&descs) };
        if n != descs.len() {
            return Err(AfXdpError::Size(format!(
                "fill ring took {n} of {} frames",
                descs.len()
            )));
        }
        let fd = rx.fd().as_raw_fd();
        if let Some(us) = cfg.busy_poll_us {
            sockopt::set_busy_poll(fd, us, 64).map_err(|e| AfXdpError::Socket {
                iface: iface.into(),
                queue,
                why: format!("busy polling: {e}"),
            })?;
        }
        let zero_copy = sockopt::zero_copy(fd);
        Ok(RxSocket {
            umem,
            rings: RxRings {
                fq,
                rx,
                _tx: tx,
                _cq: cq,
            },
            queue,
            zero_copy,
        })
    }

    /// The descriptor to put in the XSKMAP.
    pub fn fd(&self) -> RawFd {
        self.rings.fd()
    }

    /// The bytes of a received frame, in place in the UMEM.
    ///
    /// # Safety
    /// `d` must come from this socket's [`RxRings::recv`] and not yet be released.
    pub unsafe fn frame<'u>(umem: &'u Umem, d: &FrameDesc) -> &'u [u8] {
        // SAFETY: per the contract, the kernel does not write this frame until it is
        // released to the fill ring.
        unsafe { umem.data(d) }.contents()
    }
}

impl RxRings {
    pub fn fd(&self) -> RawFd {
        self.rx.fd().as_raw_fd()
    }

    /// Takes up to `out.len()` received frames.
    #[inline]
    pub fn recv(&mut self, out: &mut [FrameDesc]) -> usize {
        // SAFETY: the descriptors written are this socket's UMEM frames.
        unsafe { self.rx.consume(out) }
    }

    /// Waits up to `timeout_ms` for frames (and kicks the driver when it asked).
    pub fn wait(&mut self, timeout_ms: i32) -> bool {
        self.rx.poll(timeout_ms).unwrap_or(false)
    }

    /// Returns inspected frames to the fill ring (all of them: the fill ring has room
    /// for every frame of the UMEM).
    #[inline]
    pub fn release(&mut self, descs: &[FrameDesc]) {
        if descs.is_empty() {
            return;
        }
        // SAFETY: the frames are ours (received and inspected), so the kernel may reuse them.
        let n = unsafe { self.fq.produce(descs) };
        debug_assert_eq!(n, descs.len(), "fill ring smaller than the UMEM");
        if self.fq.needs_wakeup() {
            let _ = self.fq.wakeup(self.rx.fd_mut(), 0);
        }
    }

    /// The kernel's drop counters for this socket.
    pub fn stats(&self) -> SocketStats {
        socket_stats(self.fd()).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "reading XDP_STATISTICS");
            SocketStats::default()
        })
    }
}

/// `XDP_STATISTICS` of a socket by descriptor, so a monitor thread can read the counters
/// of sockets other threads own.
pub fn socket_stats(fd: RawFd) -> std::io::Result<SocketStats> {
    let s = sockopt::xdp_statistics(fd)?;
    Ok(SocketStats {
        rx_dropped: s[0],
        rx_invalid: s[1],
        rx_ring_full: s[3],
        fill_ring_empty: s[4],
    })
}
