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
