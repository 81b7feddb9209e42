//! Any bytes as the server's side of an HTTP connection: the first byte picks what the
//! requests asked (HEAD, CONNECT, HTTP/0.9) and where the rest is cut in two feeds, then
//! the end of stream. Nothing may panic; a stopped parser takes nothing more and says
//! so; what it holds stays within libhtp's field limit (plus the feed); the same feeds after a reset
//! complete the same responses; feeding a byte at a time completes no more responses
//! than there are bytes; an HTTP/0.9 answer completes only at the end of stream; keeping
//! response transactions (for `file.data`) frames the same responses, each body offered
//! within the body limit, once.
#![no_main]

use detect::applayer::http::{Fed, FIELD_LIMIT_HARD};
use detect::applayer::http_response::{Answer, HttpResponses, RESPONSE_BODY_LIMIT};
use detect::rules::Sticky;
use libfuzzer_sys::fuzz_target;

/// The request kinds the responses answer, cycling by response index.
fn answer(kinds: u8, i: u64) -> Answer {
    match (kinds >> ((i % 4) * 2)) & 3 {
        0 => Answer::Normal,
        1 => Answer::Head,
        2 => Answer::Connect,
        _ => Answer::Http09,
    }
}

/// Feeds the pieces and closes, checking each call; returns the calls' results.
fn run(r: &mut HttpResponses, kinds: u8, pieces: &[&[u8]]) -> Vec<Fed> {
    let mut feds = Vec::new();
    for (i, piece) in pieces.iter().chain([&&b""[..]]).enumerate() {
        let was_stopped = r.stopped();
        let fed = if i == pieces.len() {
            r.close()
        } else {
            r.feed(piece, |n| answer(kinds, n))
        };
        if was_stopped {
            assert_eq!(fed, Fed::default(), "a stopped parser parsed");
        }
        if fed.error {
            assert!(r.stopped());
        }
        // A line whole in one feed is not checked against the limit (as in libhtp).
        assert!(r.held() <= 2 * FIELD_LIMIT_HARD + piece.len());
        feds.push(fed);
    }
    feds
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let Some((&kinds, rest)) = rest.split_first() else {
        return;
    };
    let cut = usize::from(head).min(rest.len());
    let pieces = [&rest[..cut], &rest[cut..]];

    let mut r = HttpResponses::default();
    let first = run(&mut r, kinds, &pieces);
    r.reset();
    assert!(r.held() == 0 && !r.stopped());
    assert_eq!(run(&mut r, kinds, &pieces), first, "a reset parser differs");

    // Bodies kept: the same framing; each transaction's file within the limit, offered
    // at most once.
    let mut k = HttpResponses::default();
    k.set_keep_body(true);
    let mut feds = Vec::new();
    for piece in pieces {
        feds.push(k.feed(piece, |n| answer(kinds, n)));
    }
    feds.push(k.close());
    assert_eq!(feds, first, "keeping bodies changed the framing");
    let mut last_id = None;
    for tx in k.txs_mut() {
        assert!(last_id.is_none_or(|l| tx.id > l));
        last_id = Some(tx.id);
        tx.begin_inspection(true);
        let n = tx.buffer(Sticky::HttpFileData).map_or(0, <[u8]>::len);
        assert!(n <= RESPONSE_BODY_LIMIT);
        tx.end_inspection();
        tx.begin_inspection(true);
        assert!(tx.buffer(Sticky::HttpFileData).is_none(), "a body offered twice");
        tx.end_inspection();
    }

    let bytes: Vec<&[u8]> = rest.chunks(1).collect();
    let mut r = HttpResponses::default();
    let feds = run(&mut r, kinds, &bytes);
    let total: u32 = feds.iter().map(|f| f.completed).sum();
    assert!(total as usize <= rest.len() + 1);

    // Every response answering an HTTP/0.9 request runs until close.
    let mut r = HttpResponses::default();
    let fed = r.feed(rest, |_| Answer::Http09);
    assert_eq!(fed.completed, 0);
    assert_eq!(r.close().completed, u32::from(!rest.is_empty()));
});
