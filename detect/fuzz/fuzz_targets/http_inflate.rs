//! Any bytes as a compressed response body: the first byte picks the coding and where
//! the rest is cut; the same body is also fed whole and then wrapped in a real gzip
//! stream. Nothing may panic; no piece handed over exceeds the 8 KiB buffer, except the
//! chunks passed through undecompressed; what a stream of the input compressed decodes
//! to is the input, whole, however it is cut past its header.
#![no_main]

use detect::applayer::http_inflate::{Coding, Inflater, OUT_BUF};
use libfuzzer_sys::fuzz_target;
use std::io::Write;

fn run(coding: Coding, pieces: &[&[u8]]) -> Vec<u8> {
    let mut i = Inflater::new(coding);
    let mut got = Vec::new();
    for p in pieces {
        i.feed(p, &mut |b| {
            assert!(b.len() <= OUT_BUF.max(p.len()));
            got.extend_from_slice(b)
        });
    }
    i.finish(&mut |b| got.extend_from_slice(b));
    assert!(i.held() <= OUT_BUF + 1024);
    got
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let coding = if head & 1 == 0 {
        Coding::Gzip
    } else {
        Coding::Deflate
    };
    let cut = usize::from(head >> 1).min(rest.len());
    run(coding, &[&rest[..cut], &rest[cut..]]);
    run(coding, &rest.chunks(1).collect::<Vec<_>>());

    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(rest).unwrap();
    let gz = e.finish().unwrap();
    // Cut past the 10-byte header: restarts never come into play.
    let cut = (10 + usize::from(head)).min(gz.len());
    assert_eq!(run(Coding::Gzip, &[&gz[..cut], &gz[cut..]]), rest);
});
