//! Stage zero of the pipeline: the XDP program that runs in the NIC driver, counts every
//! frame, drops blocklisted prefixes and redirects the rest to the AF_XDP socket of its RX
//! queue. It is written in C (src/tidewatch.bpf.c), compiled by build.rs with clang and
//! embedded here so the binary needs no file at run time; `capture::xdp` loads it.

/// The compiled ELF object, 8-byte aligned as the ELF parser of the loader requires.
pub fn object() -> &'static [u8] {
    #[repr(C, align(32))]
    struct Aligned<T: ?Sized>(T);
    static OBJ: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(
        env!("OUT_DIR"),
        "/tidewatch.bpf.o"
    )));
    &OBJ.0
}

/// The program's name (its C function) in the object.
pub const PROGRAM: &str = "tidewatch";
/// XSKMAP: RX queue index → AF_XDP socket.
pub const MAP_XSKS: &str = "tw_xsks";
/// Per-CPU `u64` counters, `queue * N_COUNTERS + counter`.
pub const MAP_COUNTERS: &str = "tw_counters";
/// LPM tries of blocked prefixes: key `{u32 prefix length, address bytes}`, value `u8`.
pub const MAP_BLOCK_V4: &str = "tw_block_v4";
pub const MAP_BLOCK_V6: &str = "tw_block_v6";

/// Queues with their own counters; frames on higher queues count in the last one.
pub const MAX_QUEUES: u32 = 64;
/// Entries per blocklist trie.
pub const BLOCK_ENTRIES: u32 = 65536;

/// Counter indices within a queue's slot.
pub const C_SEEN: u32 = 0;
/// Redirected to the queue's AF_XDP socket.
pub const C_REDIRECTED: u32 = 1;
/// Passed to the kernel stack: no socket registered for the queue.
pub const C_PASSED: u32 = 2;
/// Dropped because the source or destination is blocklisted.
pub const C_BLOCKED: u32 = 3;
/// Frames whose headers were cut short before the addresses (still redirected).
pub const C_ERRORS: u32 = 4;
pub const N_COUNTERS: u32 = 5;

#[cfg(test)]
mod tests {
    #[test]
    fn object_is_an_aligned_bpf_elf() {
        let o = super::object();
        assert_eq!(&o[..4], b"\x7fELF");
        assert_eq!(o.as_ptr() as usize % 8, 0);
        // e_machine at offset 18: EM_BPF = 247.
        assert_eq!(u16::from_le_bytes([o[18], o[19]]), 247);
    }
}
