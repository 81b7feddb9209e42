//! Any bytes as the client's side of an HTTP connection: the first byte tells where the
//! rest is cut in two feeds, then the end of stream. Nothing may panic, progress only
//! grows and stays within libhtp's values, ids count up from 0, `completed` counts the
//! requests that reached progress 5, a stopped parser takes nothing more, buffers appear
//! only at their progress, the same feeds after a reset give the same transactions, a
//! byte at a time does not panic either, and the probe never changes its mind.
#![no_main]

use detect::applayer::http::{self, HttpRequests, Probe};
use detect::rules::Sticky;
use libfuzzer_sys::fuzz_target;

/// Every request buffer, then a TLS one that must never appear.
const KINDS: [Sticky; 21] = {
    let mut k = [Sticky::TlsSni; 21];
    let mut i = 0;
    while i < 20 {
        k[i] = Sticky::HTTP_REQUEST[i];
        i += 1;
    }
    k
};

type Snapshot = Vec<(u64, u8, Vec<Option<Vec<u8>>>)>;

/// Checks every transaction's buffers against its progress; returns them all (but the
/// request body, which depends on when inspections ran: checked apart, and offered at
/// most once per bytes added).
fn check(p: &mut HttpRequests) -> Snapshot {
    for tx in p.txs_mut() {
        tx.begin_inspection();
        if let Some(b) = tx.buffer(Sticky::HttpRequestBody) {
            assert!(!b.is_empty() && b.len() <= http::REQUEST_BODY_LIMIT);
            assert!(tx.progress > http::PROGRESS_BODY || b.len() == http::REQUEST_BODY_LIMIT);
        }
        tx.end_inspection();
        tx.begin_inspection();
        assert!(tx.buffer(Sticky::HttpRequestBody).is_none(), "a body offered twice");
        tx.end_inspection();
    }
    let mut out = Vec::new();
    for tx in p.txs() {
        assert!((http::PROGRESS_LINE..=http::PROGRESS_COMPLETE).contains(&tx.progress));
        let bufs: Vec<_> = KINDS.iter().map(|&k| tx.buffer(k).map(<[u8]>::to_vec)).collect();
        for (k, b) in KINDS.iter().zip(&bufs) {
            let Some(b) = b else { continue };
            match k {
                Sticky::TlsSni => panic!("a TLS buffer on HTTP"),
                Sticky::HttpHeader | Sticky::HttpHeaderNames | Sticky::HttpStart => {
                    assert!(tx.progress > http::PROGRESS_HEADERS && !b.is_empty())
                }
                Sticky::HttpHeaderRaw => {
                    assert!(tx.progress >= http::PROGRESS_BODY && !b.is_empty())
                }
                Sticky::HttpHost => assert!(tx.progress > http::PROGRESS_LINE),
                Sticky::HttpProtocol => assert!(!b.is_empty()),
                _ => {}
            }
        }
        if tx.buffer(Sticky::HttpUri).is_some() || tx.progress > http::PROGRESS_LINE {
            assert!(tx.buffer(Sticky::HttpRequestLine).is_some());
        }
        out.push((tx.id, tx.progress, bufs));
    }
    out
}

/// Feeds the pieces and closes, checking each call; retires done transactions when
/// `retire`. Returns the transactions seen (their last state) and the calls' results.
fn run(p: &mut HttpRequests, pieces: &[&[u8]], retire: bool) -> (Snapshot, Vec<http::Fed>) {
    let mut seen: Snapshot = Vec::new();
    let mut feds = Vec::new();
    let mut next_id = 0;
    for (i, piece) in pieces.iter().chain([&&b""[..]]).enumerate() {
        let before: Vec<(u64, u8)> = p.txs().iter().map(|t| (t.id, t.progress)).collect();
        let was_stopped = p.stopped();
        let fed = if i == pieces.len() { p.close() } else { p.feed(piece) };
        if was_stopped {
            assert_eq!(fed, http::Fed::default(), "a stopped parser parsed");
        }
        if fed.error {
            assert!(p.stopped());
        }
        // Progress only grows; completed counts the transactions that reached 5.
        let mut completed = 0;
        for tx in p.txs() {
            let old = before.iter().find(|b| b.0 == tx.id).map_or(0, |b| b.1);
            assert!(tx.progress >= old);
            completed += u32::from(old < 5 && tx.progress == 5);
            if tx.id >= next_id {
                assert_eq!(tx.id, next_id, "ids count up");
                next_id += 1;
            }
        }
        assert_eq!(fed.completed, completed);
        let now = check(p);
        for t in now {
            match seen.iter_mut().find(|s| s.0 == t.0) {
                Some(s) => *s = t,
                None => seen.push(t),
            }
        }
        let _ = p.held();
        for tx in p.txs_mut() {
            tx.updated = false;
        }
        if retire {
            p.retire(|t| t.progress == http::PROGRESS_COMPLETE);
        }
        feds.push(fed);
    }
    (seen, feds)
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let cut = usize::from(head).min(rest.len());
    let pieces = [&rest[..cut], &rest[cut..]];

    let mut p = HttpRequests::default();
    let first = run(&mut p, &pieces, head & 1 == 0);
    // The same after a reset, retiring or not.
    p.reset();
    assert!(p.txs().is_empty() && p.held() == 0 && !p.stopped());
    assert_eq!(run(&mut p, &pieces, head & 1 != 0), first);

    // A byte at a time.
    let bytes: Vec<&[u8]> = rest.chunks(1).collect();
    let mut p = HttpRequests::default();
    run(&mut p, &bytes, true);

    // The probe decides once: every longer prefix agrees.
    let mut decided = None;
    for n in 0..=rest.len().min(20) {
        let v = http::probe(&rest[..n]);
        match decided {
            Some(d) => assert_eq!(v, d, "probe changed its mind"),
            None if v != Probe::NeedMore => decided = Some(v),
            None => {}
        }
    }
});
