//! Bounds-checked big-endian reads: every header field goes through these, so a short
//! frame turns into `None` (and from there a [`super::DecodeReason`]) instead of a panic.

/// The `N` bytes at `off`, or `None` when the slice is too short.
#[inline(always)]
pub(crate) fn array<const N: usize>(buf: &[u8], off: usize) -> Option<[u8; N]> {
    let end = off.checked_add(N)?;
    let s = buf.get(off..end)?;
    // `s` has exactly N bytes, so the conversion cannot fail.
    s.try_into().ok()
}

#[inline(always)]
pub(crate) fn u8_at(buf: &[u8], off: usize) -> Option<u8> {
    buf.get(off).copied()
}

#[inline(always)]
pub(crate) fn be16(buf: &[u8], off: usize) -> Option<u16> {
    array::<2>(buf, off).map(u16::from_be_bytes)
}

#[inline(always)]
pub(crate) fn be32(buf: &[u8], off: usize) -> Option<u32> {
    array::<4>(buf, off).map(u32::from_be_bytes)
}
