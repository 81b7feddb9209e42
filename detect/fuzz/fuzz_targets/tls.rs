//! Any bytes as the two directions of a TLS flow, in chunks: each chunk goes through
//! Suricata's TLS record parser for its direction. Nothing may panic, a server name is at
//! most 255 bytes without a NUL, each completed record took at least 6 bytes, a stopped
//! flow takes nothing more, inspection stops at most once (never with `full`), a JA3
//! string is digits, commas and dashes starting with a digit, its hash 32 lower-case hex
//! digits and only with a string, certificates are read only when asked (an issuer only
//! with a subject, a serial only with an issuer), and the probe never changes its mind
//! once it decided.
#![no_main]

use detect::applayer::tls::{self, EncryptionHandling, Fed, Probe, TlsFlow, MAX_SNI_LEN};
use libfuzzer_sys::fuzz_target;

/// Feeds the chunks, checking each feed; returns what each feed gave.
fn run(
    flow: &mut TlsFlow,
    chunks: &[(bool, &[u8])],
    mode: EncryptionHandling,
    certs_on: bool,
) -> Vec<Fed> {
    let mut out = Vec::with_capacity(chunks.len());
    let (mut bytes, mut records, mut encrypted) = ([0usize; 2], [0usize; 2], 0);
    for &(to_server, data) in chunks {
        let was_stopped = flow.stopped();
        let fed = flow.feed(to_server, data);
        if was_stopped {
            assert_eq!(fed, Fed::default(), "a stopped flow parsed");
        }
        let d = usize::from(!to_server);
        bytes[d] += data.len();
        records[d] += fed.records_completed as usize;
        assert!(records[d] * 6 <= bytes[d], "a record of under 6 bytes");
        encrypted += usize::from(fed.encrypted_now);
        if fed.error {
            assert!(flow.stopped());
        }
        for side in [&flow.client, &flow.server] {
            if let Some(sni) = side.sni() {
                assert!(sni.len() <= MAX_SNI_LEN && !sni.contains(&0));
            }
            if let Some(s) = side.ja3_string() {
                assert!(s.first().is_some_and(u8::is_ascii_digit));
                assert!(s
                    .iter()
                    .all(|&b| b.is_ascii_digit() || b == b',' || b == b'-'));
            }
            if !certs_on {
                assert!(side.certs().next().is_none() && side.cert_subject().is_none());
            }
            if side.cert_issuer().is_some() {
                assert!(side.cert_subject().is_some());
            }
            if side.cert_serial().is_some() {
                assert!(side.cert_issuer().is_some());
            }
            if let Some(h) = side.ja3_hash() {
                assert!(side.ja3_string().is_some());
                assert!(h.len() == 32 && h.iter().all(|b| b"0123456789abcdef".contains(b)));
            }
        }
        out.push(fed);
    }
    assert!(encrypted <= 1, "inspection stopped twice");
    if mode == EncryptionHandling::Full {
        assert_eq!(encrypted, 0);
    }
    assert_eq!(flow.inspection_stopped(), encrypted == 1);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, mut rest)) = data.split_first() else {
        return;
    };
    let mode = match head & 3 {
        0 | 3 => EncryptionHandling::Default,
        1 => EncryptionHandling::Bypass,
        _ => EncryptionHandling::Full,
    };
    // Chunks: a length byte (top bit: to client), then the bytes.
    let mut chunks = Vec::new();
    let mut client_stream = Vec::new();
    while let Some((&h, tail)) = rest.split_first() {
        let len = usize::from(h & 0x7f).min(tail.len());
        let (chunk, tail) = tail.split_at(len);
        rest = tail;
        let to_server = h & 0x80 == 0;
        if to_server {
            client_stream.extend_from_slice(chunk);
        }
        chunks.push((to_server, chunk));
    }

    let certs_on = head & 4 != 0;
    let mut flow = TlsFlow::new(mode);
    flow.set_certs(certs_on);
    let first = run(&mut flow, &chunks, mode, certs_on);
    let sni = flow.client.sni().map(<[u8]>::to_vec);
    let ja3 = |flow: &TlsFlow| {
        [&flow.client, &flow.server].map(|s| {
            (
                s.ja3_string().map(<[u8]>::to_vec),
                s.ja3_hash().map(<[u8]>::to_vec),
                s.certs().map(<[u8]>::to_vec).collect::<Vec<_>>(),
                s.cert_subject().map(<[u8]>::to_vec),
                s.cert_serial().map(<[u8]>::to_vec),
            )
        })
    };
    let first_ja3 = ja3(&flow);
    // The same feeds after a reset give the same answers.
    let done = flow.handshake_done();
    flow.reset();
    assert!(!flow.handshake_done());
    assert_eq!(run(&mut flow, &chunks, mode, certs_on), first);
    assert_eq!(flow.handshake_done(), done);
    assert_eq!(flow.client.sni().map(<[u8]>::to_vec), sni);
    assert_eq!(ja3(&flow), first_ja3);

    // The client's stream at once and a byte at a time: no panic, bounded names.
    for step in [client_stream.len().max(1), 1] {
        let mut side = tls::TlsSide::default();
        for c in client_stream.chunks(step) {
            side.feed(c, true);
        }
        assert!(side.sni().is_none_or(|s| s.len() <= MAX_SNI_LEN));
    }

    // The probe decides once: every longer prefix agrees.
    for to_server in [true, false] {
        for pp in [false, true] {
            let mut decided = None;
            for n in 0..=client_stream.len().min(8) {
                let p = tls::probe_with_pp(&client_stream[..n], to_server, pp);
                match decided {
                    Some(d) => assert_eq!(p, d, "probe changed its mind"),
                    None if p != Probe::NeedMore => decided = Some(p),
                    None => {}
                }
            }
        }
    }
});
