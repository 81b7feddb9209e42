//! Socket options xsk-rs does not wrap.

use std::os::fd::RawFd;

const SOL_XDP: libc::c_int = 283;
const XDP_OPTIONS: libc::c_int = 8;
const XDP_OPTIONS_ZEROCOPY: u32 = 1;
/// Linux 6.17+: how many frames one TX kick may turn into socket buffers in copy mode
/// (default 32); raising it is what makes the copy-mode generator fast.
const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;

fn set_int(fd: RawFd, level: libc::c_int, opt: libc::c_int, v: u32) -> std::io::Result<()> {
    // SAFETY: `v` lives across the call and its size is passed.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            &v as *const u32 as *const libc::c_void,
            std::mem::size_of::<u32>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether the bound socket runs in zero-copy mode.
pub fn zero_copy(fd: RawFd) -> bool {
    let mut flags: u32 = 0;
    let mut len = std::mem::size_of::<u32>() as libc::socklen_t;
    // SAFETY: `flags` and `len` are valid for the call.
    let r = unsafe {
        libc::getsockopt(
            fd,
            SOL_XDP,
            XDP_OPTIONS,
            &mut flags as *mut u32 as *mut libc::c_void,
            &mut len,
        )
    };
    r == 0 && flags & XDP_OPTIONS_ZEROCOPY != 0
}

pub fn set_tx_skb_budget(fd: RawFd, budget: u32) -> std::io::Result<()> {
    set_int(fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, budget)
}

/// Busy polling: the socket's owner polls the driver itself instead of waiting for
/// interrupts (`SO_PREFER_BUSY_POLL`, `SO_BUSY_POLL`, `SO_BUSY_POLL_BUDGET`).
pub fn set_busy_poll(fd: RawFd, usecs: u32, budget: u32) -> std::io::Result<()> {
    set_int(fd, libc::SOL_SOCKET, libc::SO_PREFER_BUSY_POLL, 1)?;
    set_int(fd, libc::SOL_SOCKET, libc::SO_BUSY_POLL, usecs)?;
    set_int(fd, libc::SOL_SOCKET, libc::SO_BUSY_POLL_BUDGET, budget)
}

/// `struct xdp_statistics`: rx_dropped, rx_invalid_descs, tx_invalid_descs,
/// rx_ring_full, rx_fill_ring_empty_descs, tx_ring_empty_descs.
pub fn xdp_statistics(fd: RawFd) -> std::io::Result<[u64; 6]> {
    const XDP_STATISTICS: libc::c_int = 7;
    let mut s = [0u64; 6];
    let mut len = std::mem::size_of_val(&s) as libc::socklen_t;
    // SAFETY: `s` and `len` are valid for the call and `len` is the buffer size.
    let r = unsafe {
        libc::getsockopt(
            fd,
            SOL_XDP,
            XDP_STATISTICS,
            s.as_mut_ptr() as *mut libc::c_void,
            &mut len,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(s)
}
