//! Memory accounting for reassembly buffers and a pool that recycles them, so a worker
//! in steady state takes buffers from the pool instead of the allocator, and the bytes it
//! holds (in use and pooled) never exceed its share of `stream.memcap`.

use super::segments::SegmentBuf;

/// Buffers kept for reuse at most, per worker.
const POOL_MAX: usize = 1024;

/// Bytes of reassembly memory a worker may hold, and how many it holds.
#[derive(Debug)]
pub(crate) struct Memcap {
    limit: u64,
    used: u64,
    peak: u64,
}

impl Memcap {
    pub(crate) fn new(limit: u64) -> Memcap {
        Memcap {
            limit,
            used: 0,
            peak: 0,
        }
    }

    /// Reserves `n` more bytes; false (and nothing reserved) when that would pass the cap.
    pub(crate) fn try_reserve(&mut self, n: u64) -> bool {
        if self.used + n > self.limit {
            return false;
        }
        self.used += n;
        self.peak = self.peak.max(self.used);
        true
    }

    pub(crate) fn release(&mut self, n: u64) {
        self.used = self.used.saturating_sub(n);
    }

    pub(crate) fn used(&self) -> u64 {
        self.used
    }

    pub(crate) fn peak(&self) -> u64 {
        self.peak
    }

    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }
}

/// Free reassembly buffers of finished flows, cleared but with their capacity.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    /// Boxed as sessions hold them: a session keeps one pointer per direction so it
    /// stays one cache line, and buffers move between pool and sessions by pointer.
    #[allow(clippy::vec_box)]
    free: Vec<Box<SegmentBuf>>,
}

impl Pool {
    pub(crate) fn with_capacity(n: usize) -> Pool {
        Pool {
            free: Vec::with_capacity(n.min(POOL_MAX)),
        }
    }

    /// A cleared buffer: a pooled one, or a new one when the memcap allows its size.
    pub(crate) fn take(&mut self, mem: &mut Memcap) -> Option<Box<SegmentBuf>> {
        if let Some(b) = self.free.pop() {
            return Some(b);
        }
        let b = Box::new(SegmentBuf::new());
        if mem.try_reserve(b.footprint()) {
            Some(b)
        } else {
            // Pooled buffers are gone already; nothing left to give back.
            None
        }
    }

    /// Returns a buffer: pooled when there is room, else freed and unaccounted.
    pub(crate) fn give(&mut self, mut b: Box<SegmentBuf>, mem: &mut Memcap) {
        b.clear(0);
        if self.free.len() < POOL_MAX && self.free.len() < self.free.capacity() {
            self.free.push(b);
        } else {
            mem.release(b.footprint());
        }
    }

    /// Frees pooled buffers until `need` more bytes fit under the cap (or the pool is
    /// empty); true when they fit.
    pub(crate) fn make_room(&mut self, need: u64, mem: &mut Memcap) -> bool {
        while mem.used() + need > mem.limit() {
            match self.free.pop() {
                Some(b) => mem.release(b.footprint()),
                None => return false,
            }
        }
        true
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_stop_at_the_cap_and_track_the_peak() {
        let mut m = Memcap::new(100);
        assert!(m.try_reserve(60));
        assert!(!m.try_reserve(41));
        assert!(m.try_reserve(40));
        m.release(70);
        assert_eq!((m.used(), m.peak()), (30, 100));
    }

    #[test]
    fn pooled_buffers_are_reused_and_freed_under_pressure() {
        let mut m = Memcap::new(1 << 20);
        let mut p = Pool::with_capacity(4);
        let a = p.take(&mut m).unwrap();
        let used = m.used();
        assert!(used > 0);
        p.give(a, &mut m);
        assert_eq!(p.len(), 1);
        let b = p.take(&mut m).unwrap();
        assert_eq!(m.used(), used, "a pooled buffer costs nothing new");
        p.give(b, &mut m);
        assert!(p.make_room(m.limit() - used + 1, &mut m));
        assert_eq!((p.len(), m.used()), (0, 0));
    }
}
