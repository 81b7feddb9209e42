//! Recovery after a crash: walk the ring from the acknowledged point and keep every whole
//! record whose checksum, position, sequence and archive are valid; stop at the first that
//! is not. Bytes the header said were written but that did not pass are reported as cut,
//! never silently forgotten.

use super::frame::*;
use super::{Shared, SpoolError};
use crate::record;
use std::sync::atomic::Ordering;

/// Why recovery stopped before the end the header recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutReason {
    /// A frame length that cannot be (too large, or past the ring's end).
    Length,
    /// The frame's checksum does not match (torn or corrupted write).
    Checksum,
    /// The frame's seq does not follow the previous one.
    Sequence,
    /// The checksum matched but the bytes are not a valid archived alert.
    InvalidRecord,
    /// A padding frame that is not well formed.
    Padding,
    /// Zeros where records were recorded (never written back before a power cut).
    Zeroed,
}

impl CutReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CutReason::Length => "bad frame length",
            CutReason::Checksum => "checksum mismatch",
            CutReason::Sequence => "sequence out of order",
            CutReason::InvalidRecord => "invalid archived record",
            CutReason::Padding => "bad padding frame",
            CutReason::Zeroed => "zeroed",
        }
    }
}

/// What opening a spool found in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The file did not exist (or was empty) and was created.
    pub created: bool,
    /// Unacknowledged records kept, to be sent again.
    pub records: u64,
    pub bytes: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Records at the head whose seq was already acknowledged (an ack interrupted
    /// between its two header stores), skipped.
    pub skipped_acked: u64,
    /// Bytes between the last whole record and the end the header recorded.
    pub cut_bytes: u64,
    pub cut: Option<CutReason>,
    /// The seq the next alert gets.
    pub next_seq: u64,
}

pub(super) struct Found {
    pub head: u64,
    pub tail: u64,
    pub next_seq: u64,
    pub acked_seq: u64,
    pub recovery: Recovery,
}

/// Logical offsets stay below this, so arithmetic on them never overflows.
const MAX_OFFSET: u64 = 1 << 62;

pub(super) fn scan(sh: &Shared) -> Result<Found, SpoolError> {
    // The structural bound, not today's option: an earlier run may have allowed more.
    let max_record = super::max_record_for(sh.cap);
    let cap = sh.cap;
    let load = |off| sh.counter(off).load(Ordering::Acquire);
    let (mut next_seq, acked_seq, mut head, tail_hint) = (
        load(OFF_NEXT_SEQ),
        load(OFF_ACKED_SEQ),
        load(OFF_HEAD),
        load(OFF_TAIL),
    );
    let corrupt = |reason: String| SpoolError::Corrupt {
        path: sh.path.clone(),
        reason,
    };
    if next_seq == 0 || next_seq >= MAX_OFFSET || acked_seq >= next_seq {
        return Err(corrupt(format!(
            "header counters out of range (next seq {next_seq}, acked seq {acked_seq})"
        )));
    }
    if head >= MAX_OFFSET || head % FRAME_HEADER != 0 {
        return Err(corrupt(format!("header ring head {head} out of range")));
    }
    let tail_hint = if tail_hint < head || tail_hint - head > cap || tail_hint % FRAME_HEADER != 0 {
        tracing::warn!(path = %sh.path.display(), head, tail_hint, "spool tail hint out of range; ignoring it");
        head
    } else {
        tail_hint
    };

    let mut r = Recovery::default();
    let mut pos = head;
    let mut prev = acked_seq;
    let stop = loop {
        if pos - head + FRAME_HEADER > cap {
            break None;
        }
        let phys = pos % cap;
        let room = cap - phys;
        let (len, crc, seq) = sh.frame_at(pos);
        if len == PAD_LEN {
            if seq != 0 || phys == 0 || crc != frame_crc(PAD_LEN, 0, pos, &[]) {
                break Some(CutReason::Padding);
            }
            pos += room;
            continue;
        }
        if len == 0 {
            break (crc != 0 || seq != 0).then_some(CutReason::Length);
        }
        let fl = frame_len(len as usize);
        if len > max_record || fl > room || pos + fl - head > cap {
            break Some(CutReason::Length);
        }
        // SAFETY: bounds checked above; nothing else touches the mapping during open.
        let payload = unsafe { sh.payload(pos, len) };
        if crc != frame_crc(len, seq, pos, payload) {
            break Some(CutReason::Checksum);
        }
        if seq <= prev {
            if r.records == 0 && seq <= acked_seq {
                r.skipped_acked += 1;
                pos += fl;
                head = pos;
                continue;
            }
            break Some(CutReason::Sequence);
        }
        match record::access(payload) {
            Ok(a) if a.seq.to_native() == seq => {}
            _ => break Some(CutReason::InvalidRecord),
        }
        r.records += 1;
        r.bytes += u64::from(len);
        r.first_seq.get_or_insert(seq);
        r.last_seq = Some(seq);
        prev = seq;
        pos += fl;
    };
    let tail = pos;
    if tail < tail_hint {
        r.cut = Some(stop.unwrap_or(CutReason::Zeroed));
        r.cut_bytes = tail_hint - tail;
        // Clear what was cut so a later scan cannot mistake it for records.
        for (off, len) in sh.ranges(tail, tail_hint) {
            // SAFETY: in bounds of the mapping; we are the only user during open.
            unsafe { std::ptr::write_bytes(sh.map.as_mut_ptr().add(off), 0, len) };
        }
    } else if tail - head + FRAME_HEADER <= cap {
        // A clean end: zero the next frame header so a stale one there never parses.
        // SAFETY: as above; phys + 16 <= cap.
        unsafe { std::ptr::write_bytes(sh.data_ptr(sh.phys(tail)), 0, FRAME_HEADER as usize) };
    }
    if let Some(last) = r.last_seq {
        next_seq = next_seq.max(last + 1);
    }
    r.next_seq = next_seq;
    let p = sh.path.display();
    if let Some(reason) = r.cut {
        tracing::warn!(path = %p, cut_bytes = r.cut_bytes, reason = reason.as_str(), kept = r.records,
            "spool recovery cut a damaged tail");
    }
    if r.records > 0 || r.skipped_acked > 0 {
        tracing::info!(path = %p, records = r.records, bytes = r.bytes, first_seq = ?r.first_seq,
            last_seq = ?r.last_seq, skipped_acked = r.skipped_acked, next_seq, "spool recovered");
    }
    Ok(Found {
        head,
        tail,
        next_seq,
        acked_seq,
        recovery: r,
    })
}
