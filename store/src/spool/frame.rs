//! The on-disk layout of the spool: a 4 KiB header page, then a ring of 16-byte-aligned
//! frames. Kept apart from the ring logic so recovery, the writer and the fuzz target agree
//! on one definition of "a whole record".

/// Identifies a tidewatch spool, so a wrong path fails instead of being overwritten.
pub const MAGIC: [u8; 8] = *b"TWSPOOL\0";
pub const VERSION: u32 = 1;
/// The header occupies one page so the ring starts page-aligned (payloads land 16-aligned
/// for in-place rkyv access) and the header can be msynced on its own.
pub const HEADER_SIZE: u64 = 4096;
/// Frame header: len u32, crc32c u32, seq u64. Also the alignment of every frame.
pub const FRAME_HEADER: u64 = 16;
/// `len` of a frame that only fills the rest of the ring so the next record starts at 0.
pub const PAD_LEN: u32 = u32::MAX;

// Header field offsets. The geometry (0..24) is written once and covered by its own crc;
// the counters after it are single aligned u64 stores, updated in place.
pub const OFF_VERSION: usize = 8;
pub const OFF_HEADER_SIZE: usize = 12;
pub const OFF_CAPACITY: usize = 16;
pub const OFF_GEOMETRY_CRC: usize = 24;
pub const OFF_NEXT_SEQ: usize = 32;
pub const OFF_ACKED_SEQ: usize = 40;
pub const OFF_HEAD: usize = 48;
pub const OFF_TAIL: usize = 56;

/// Bytes a record of `len` payload bytes takes in the ring, header and padding included.
pub fn frame_len(len: usize) -> u64 {
    FRAME_HEADER + (len as u64).next_multiple_of(FRAME_HEADER)
}

/// The checksum binds the payload to its length, seq and *logical* position, so a stale
/// frame left from the previous lap of the ring never passes for a current one.
pub fn frame_crc(len: u32, seq: u64, logical: u64, payload: &[u8]) -> u32 {
    let mut h = [0u8; 20];
    h[..4].copy_from_slice(&len.to_le_bytes());
    h[4..12].copy_from_slice(&seq.to_le_bytes());
    h[12..].copy_from_slice(&logical.to_le_bytes());
    crc32c::crc32c_append(crc32c::crc32c(&h), payload)
}

/// The fixed part of a fresh header (counters zero, to be set by the caller).
pub fn geometry(capacity: u64) -> [u8; 32] {
    let mut g = [0u8; 32];
    g[..8].copy_from_slice(&MAGIC);
    g[OFF_VERSION..OFF_VERSION + 4].copy_from_slice(&VERSION.to_le_bytes());
    g[OFF_HEADER_SIZE..OFF_HEADER_SIZE + 4].copy_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
    g[OFF_CAPACITY..OFF_CAPACITY + 8].copy_from_slice(&capacity.to_le_bytes());
    let crc = crc32c::crc32c(&g[..OFF_GEOMETRY_CRC]);
    g[OFF_GEOMETRY_CRC..OFF_GEOMETRY_CRC + 4].copy_from_slice(&crc.to_le_bytes());
    g
}

/// Why a stored header was not accepted.
pub fn check_geometry(h: &[u8]) -> Result<u64, &'static str> {
    if h.len() < 64 || h[..8] != MAGIC {
        return Err("no tidewatch spool magic");
    }
    let word = |o: usize| u32::from_le_bytes(h[o..o + 4].try_into().unwrap());
    if word(OFF_VERSION) != VERSION {
        return Err("unsupported spool version");
    }
    if word(OFF_GEOMETRY_CRC) != crc32c::crc32c(&h[..OFF_GEOMETRY_CRC]) {
        return Err("header checksum mismatch");
    }
    if u64::from(word(OFF_HEADER_SIZE)) != HEADER_SIZE {
        return Err("unsupported header size");
    }
    let cap = u64::from_le_bytes(h[OFF_CAPACITY..OFF_CAPACITY + 8].try_into().unwrap());
    if cap < super::MIN_CAPACITY || cap % HEADER_SIZE != 0 || cap > super::MAX_CAPACITY {
        return Err("implausible capacity");
    }
    Ok(cap)
}
