//! A cache-line prefetch hint, shared by the reader (the capture file ahead of the
//! record being read) and the workers (flow slots and payloads of packets soon handled).

/// A hint to load the line holding `ptr` into cache; never faults, so any address is fine.
#[inline(always)]
pub fn prefetch<T>(ptr: *const T) {
    // SAFETY: prefetch is a hint that reads nothing architecturally and cannot fault, for
    // any address; SSE, which it needs, is part of the x86_64 baseline.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(ptr as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}
