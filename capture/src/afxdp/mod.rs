//! AF_XDP sockets (xsk-rs): one socket with its own UMEM per RX queue for capture
//! ([`RxSocket`]), and a copy-mode TX socket for our traffic generator ([`TxSocket`]).
//! Frames stay in the UMEM: receivers read them in place and hand their descriptors back
//! to the fill ring in batches once inspected.

mod rx;
mod sockopt;
mod tx;

pub use rx::{socket_stats, RxConfig, RxRings, RxSocket, SocketStats};
pub use tx::{TxConfig, TxSocket};
pub use xsk_rs::{FrameDesc, Umem};

use std::num::NonZeroU32;
use xsk_rs::config::{
    BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig,
};
use xsk_rs::{CompQueue, FillQueue, RxQueue, Socket, TxQueue};

pub(crate) fn qsize(n: u32, what: &str) -> Result<QueueSize, AfXdpError> {
    QueueSize::new(n).map_err(|e| AfXdpError::Size(format!("{what} {n}: {e}")))
}

/// A UMEM of `frames` frames of `frame_size` bytes with the given ring sizes.
pub(crate) fn new_umem(
    frames: u32,
    frame_size: u32,
    fill: u32,
    comp: u32,
) -> Result<(Umem, Vec<FrameDesc>), AfXdpError> {
    let cfg = UmemConfig::builder()
        .frame_size(
            FrameSize::new(frame_size).map_err(|e| AfXdpError::Size(format!("frame size: {e}")))?,
        )
        .fill_queue_size(qsize(fill, "fill ring")?)
        .comp_queue_size(qsize(comp, "completion ring")?)
        .build()
        .map_err(|e| AfXdpError::Size(e.to_string()))?;
    let n = NonZeroU32::new(frames).ok_or_else(|| AfXdpError::Size("zero frames".into()))?;
    Umem::new(cfg, n, false).map_err(|e| {
        let (why, errno) = io_chain(&e);
        if matches!(errno, Some(libc::EPERM)) {
            AfXdpError::NotPermitted
        } else {
            AfXdpError::Umem { frames, why }
        }
    })
}

/// The four rings of a socket bound to `iface` queue `queue` on its own UMEM, without
/// libxdp's program (ours redirects to the socket once it is in the XSKMAP).
pub(crate) struct Bound {
    pub tx: TxQueue,
    pub rx: RxQueue,
    pub fq: FillQueue,
    pub cq: CompQueue,
}

pub(crate) fn bind(
    iface: &str,
    queue: u32,
    umem: &Umem,
    rx_ring: u32,
    tx_ring: u32,
    flags: BindFlags,
) -> Result<Bound, AfXdpError> {
    crate::xdp::if_index(iface).map_err(|_| AfXdpError::NoInterface(iface.into()))?;
    let cfg = SocketConfig::builder()
        .rx_queue_size(qsize(rx_ring, "rx ring")?)
        .tx_queue_size(qsize(tx_ring, "tx ring")?)
        .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
        .bind_flags(flags)
        .build();
    let name: Interface = iface
        .parse()
        .map_err(|_| AfXdpError::NoInterface(iface.into()))?;
    // SAFETY: each UMEM here serves exactly one socket, so the shared-UMEM double-free
    // case of `Socket::new` cannot arise.
    let (tx, rx, fq_cq) = unsafe { Socket::new(cfg, umem, &name, queue) }
        .map_err(|e| socket_error(iface, queue, &e))?;
    let (fq, cq) = fq_cq.ok_or_else(|| AfXdpError::Socket {
        iface: iface.into(),
        queue,
        why: "no fill/completion rings returned for an unshared UMEM".into(),
    })?;
    Ok(Bound { tx, rx, fq, cq })
}

/// Why an AF_XDP socket could not be made; each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum AfXdpError {
    #[error("interface `{0}` does not exist (see `ip link`)")]
    NoInterface(String),
    #[error("not permitted to open an AF_XDP socket: run as root (or with CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF)")]
    NotPermitted,
    #[error("`{iface}` has no RX queue {queue}: ask for fewer queues")]
    NoSuchQueue { iface: String, queue: u32 },
    #[error("ring or frame size: {0}")]
    Size(String),
    #[error("UMEM of {frames} frames: {why} (raise `ulimit -l` or ask for fewer frames)")]
    Umem { frames: u32, why: String },
    #[error("AF_XDP socket on `{iface}` queue {queue}: {why}")]
    Socket {
        iface: String,
        queue: u32,
        why: String,
    },
}

pub(crate) fn io_chain(e: &(dyn std::error::Error + 'static)) -> (String, Option<i32>) {
    let mut s = e.to_string();
    let mut errno = None;
    let mut cur = e.source();
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        errno = io.raw_os_error();
    }
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            errno = errno.or(io.raw_os_error());
        }
        s.push_str(": ");
        s.push_str(&err.to_string());
        cur = err.source();
    }
    (s, errno)
}

/// Maps a socket-creation failure to the most useful error.
pub(crate) fn socket_error(
    iface: &str,
    queue: u32,
    e: &(dyn std::error::Error + 'static),
) -> AfXdpError {
    let (why, errno) = io_chain(e);
    match errno {
        Some(libc::EPERM) | Some(libc::EACCES) => AfXdpError::NotPermitted,
        Some(libc::ENODEV) => AfXdpError::NoInterface(iface.into()),
        Some(libc::EINVAL) if crate::xdp::if_index(iface).is_err() => {
            AfXdpError::NoInterface(iface.into())
        }
        Some(libc::EINVAL) if crate::xdp::rx_queue_count(iface).is_ok_and(|n| queue >= n) => {
            AfXdpError::NoSuchQueue {
                iface: iface.into(),
                queue,
            }
        }
        _ => AfXdpError::Socket {
            iface: iface.into(),
            queue,
            why,
        },
    }
}
