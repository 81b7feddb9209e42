//! Per-worker tables (flow slots, stream sessions, flowbits) backed by transparent huge
//! pages where the kernel allows it (`enabled` set to `madvise` or `always`). Lookups land
//! on random slots of tables several megabytes large; with 4 KiB pages nearly every one
//! also missed the TLB. Measured on the 100-rule benchmark: about 2% of worker time
//! (the system setting `never` against `madvise`, medians of 5 runs).

/// Bytes of one x86_64 huge page; ranges inside the allocation aligned to it get one.
const HUGE_PAGE: usize = 2 << 20;

/// A boxed slice of `n` values from `fill`, its memory advised for huge pages before
/// the first write (advice given after the pages were touched would wait for the
/// kernel's background collapse).
pub(crate) fn boxed_with<T>(n: usize, fill: impl FnMut() -> T) -> Box<[T]> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    advise(v.spare_capacity_mut());
    v.resize_with(n, fill);
    v.into_boxed_slice()
}

/// [`boxed_with`] of copies of `value`.
pub(crate) fn boxed<T: Clone>(n: usize, value: T) -> Box<[T]> {
    boxed_with(n, || value.clone())
}

/// Advises the whole pages inside `mem` for huge pages; small tables are left alone.
fn advise<T>(mem: &mut [T]) {
    let len = std::mem::size_of_val(mem);
    if len < HUGE_PAGE {
        return;
    }
    let page = 4096;
    let start = (mem.as_mut_ptr() as usize).next_multiple_of(page);
    let end = (mem.as_mut_ptr() as usize + len) / page * page;
    if end <= start {
        return;
    }
    // SAFETY: the range lies within `mem`, an allocation this process owns; MADV_HUGEPAGE
    // changes only how the kernel backs it, never its contents. A refusal (THP disabled)
    // is harmless, so the result is ignored.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_their_length_and_values() {
        let t = boxed(3 * HUGE_PAGE / 8, 7u64);
        assert_eq!(t.len(), 3 * HUGE_PAGE / 8);
        assert!(t.iter().all(|&x| x == 7));
        let mut k = 0;
        let s = boxed_with(5, || {
            k += 1;
            k
        });
        assert_eq!(&s[..], &[1, 2, 3, 4, 5]);
    }
}
