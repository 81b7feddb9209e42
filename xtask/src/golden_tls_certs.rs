//! The TLS certificate golden scenarios: TLS 1.2 sessions whose server flights carry
//! Certificate handshake messages, as Suricata 7's app layer reads them for
//! `tls.certs`, `tls.cert_subject`, `tls.cert_issuer` and `tls.cert_serial`. Rules are in
//! `xtask/golden/tls-certs/certs.rules`; Suricata's alerts on this pcap are the reference
//! (`cargo xtask golden-tls-certs`).
//!
//! What Suricata 7.0.10 does here (`expected.json`; pcap_cnt below, frame `n` at
//! 2024-06-01T00:00:00 plus `n - 1` ms). A flow like (a) is: 1 SYN, 2 SYN/ACK, 3 ACK,
//! 4 ClientHello, 5 the server's flight with the Certificate (S), 6 the client's finish,
//! which acknowledges S (A), 7 the server's finish, 8 and 9 application data, 10 ACK,
//! 11-13 FIN teardown.
//! - The server's certificates are parsed when the client's packet acknowledging them
//!   arrives (A), and every certificate rule (`to_client`) alerts on the server's next
//!   packet after A, at once; the raw `content` rules on the server's bytes (3041, 3042)
//!   alert on that same packet (stream bytes are inspected once acknowledged). No
//!   certificate or raw rule alerts on S or A. The header-only rule 3040 alerts on every
//!   server packet with payload or FIN, S among them.
//! - (a) flow 1, S=5, A=6: 3001 3003 3010 3011 3015 3020 3021 3022 3023 3025 3027, and
//!   3040 3041, all at 7. The flowbit 3026 sets (noalert) is seen by 3027 on the same
//!   packet. (b) flow 2, S=18: the same at 20 (the split record changes nothing). (d)
//!   flow 4, S=47: the same at 49. (j) flow 12, port 8443, S=147: the same at 149.
//! - (c) flow 3: S in two segments, 31 (acknowledged by 32) and 33 (by 34): the same
//!   alerts at 36, none at 33; 3040 at 31 and 33.
//! - (e) flow 5, S=60: at 62: 3001 3003 3010 3011 3015 3021 3022 3025 3040 3041. The
//!   undecodable first certificate raises CERTIFICATE_INVALID_DER and is dropped: it is
//!   not in `tls.certs`, which holds leaf1 alone (3020, 3023, 3027 silent). Yet subject,
//!   issuer and serial are leaf1's: Suricata means to take them from the chain's first
//!   certificate, but never advances its position counter, so they come from the first
//!   certificate it can decode.
//! - (f) flow 6, S=73, the client's Certificate and finish at 74: the server's
//!   certificate alerts at 75 (3002 3005 3006 3007 3010 3011 3016 3020 3023 3024 3025,
//!   3040 3042); the client's (`to_server`: 3009 3017 3029 3030) at 76, the client's next
//!   packet after the server acknowledged its certificate at 75. (After a
//!   CertificateRequest Suricata calls the handshake done only once the client's
//!   certificate is parsed, here at 75 too.)
//! - (g) flow 7 and (i) flow 9 (empty chain, no decoder event): no certificate alerts,
//!   only 3040.
//! - (h) flow 8, S=99, A=100 (a pure ACK), client FIN 101: the alerts of (a) on 102, the
//!   server's FIN, its next packet after A.
//! - (k) flow 10, leaf2 alone, S=121: at 123, 3002 3005 3006 3007 3010 3011 3016 3023
//!   3024 3025, 3040 3042 (no CA: 3020 silent). Flow 11, the CA alone (self-signed), S=134:
//!   the pass 3031 matches at 136, and nothing of the flow alerts from then on (not even
//!   3040 at 136); 3040 at 134 only.
//! - (j) flow 13, IPv6, S=160: at 162, (a)'s alerts except 3001 3011 3021: with IPv4-only
//!   `HOME_NET`, neither `$HOME_NET` nor `$EXTERNAL_NET` (`!$HOME_NET`) matches an IPv6
//!   address (the client is ::ffff:192.168.50.10).
//! - Never: 3004 (case), 3008 and 3028 (nothing to find), 3012 (`$HOME_NET ->
//!   $EXTERNAL_NET`, to client), 3026 (noalert).
//! - Buffers: subjects print as `C=US, O=Evil Corp, CN=evil.example.com` and, multi-valued,
//!   `C=DE, ST=Berlin, OU=Web Team + O=Good GmbH, CN=www.good.example`; serials as
//!   `00:C0:FF:EE:01:23:45:67:89` (DER's leading 00 kept), `12:34`, `7E:01`, `01`.
//!   `isdataat:N,relative` holds when N bytes remain, `isdataat:N` when byte N exists.
//! - Suricata keeps at most 15 alerts of a packet (`packet-alert-max`) and silently drops
//!   the rest; the rules keep every packet at 13 or fewer.

use crate::golden_stream::{write_file, write_frames, Gen, Op};
use crate::golden_tls::{
    client_finish, handshake, hello_record, record, server_flight, server_hello, session_with,
};
use anyhow::Result;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

pub const TLS_CERTS_RULES_PATH: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/golden/tls-certs/certs.rules");
pub const TLS_CERTS_EXPECTED_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/golden/tls-certs/expected.json"
);

/// 2024-06-01T00:00:00Z.
const START_NS: u64 = 1_717_200_000_000_000_000;
const STEP_NS: u64 = 1_000_000;

// The certificates, made once with OpenSSL 3.0 (EC P-256 keys, thrown away) and committed:
//
//   printf 'subjectAltName=DNS:evil.example.com\n' > leaf1.ext
//   printf 'subjectAltName=DNS:www.good.example\n' > leaf2.ext
//   printf 'extendedKeyUsage=clientAuth\n' > leaf3.ext
//   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
//     -subj "/C=US/O=Tidewatch Test/CN=Tidewatch Test Root CA" -set_serial 1 \
//     -days 7300 -sha256 -outform DER -out ca.der
//   openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout leaf1.key \
//     -subj "/C=US/O=Evil Corp/CN=evil.example.com" -out leaf1.csr
//   openssl x509 -req -in leaf1.csr -CA ca.der -CAform DER -CAkey ca.key \
//     -set_serial 0xC0FFEE0123456789 -extfile leaf1.ext -days 3650 -sha256 -outform DER -out leaf1.der
//   openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout leaf2.key \
//     -multivalue-rdn -subj "/C=DE/ST=Berlin/O=Good GmbH+OU=Web Team/CN=www.good.example" -out leaf2.csr
//   openssl x509 -req -in leaf2.csr -CA ca.der -CAform DER -CAkey ca.key \
//     -set_serial 0x1234 -extfile leaf2.ext -days 3650 -sha256 -outform DER -out leaf2.der
//   openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout leaf3.key \
//     -subj "/C=US/O=Client Org/CN=client.example.net" -out leaf3.csr
//   openssl x509 -req -in leaf3.csr -CA ca.der -CAform DER -CAkey ca.key \
//     -set_serial 0x7E01 -extfile leaf3.ext -days 3650 -sha256 -outform DER -out leaf3.der

/// The self-signed CA (v3: key identifiers, critical basicConstraints CA:TRUE), serial 01:
/// subject and issuer `C=US, O=Tidewatch Test, CN=Tidewatch Test Root CA`.
pub const CA_DER: &[u8] = include_bytes!("../golden/tls-certs/ca.der");
/// `C=US, O=Evil Corp, CN=evil.example.com` (and that DNS name), issued by the CA; serial
/// C0FFEE0123456789, whose top bit makes DER put a 00 byte in front.
pub const LEAF1_DER: &[u8] = include_bytes!("../golden/tls-certs/leaf1.der");
/// A multi-valued RDN: `/C=DE/ST=Berlin/O=Good GmbH+OU=Web Team/CN=www.good.example` (DER
/// sorts the set: OU before O), issued by the CA; serial 1234.
pub const LEAF2_DER: &[u8] = include_bytes!("../golden/tls-certs/leaf2.der");
/// The client's certificate: `C=US, O=Client Org, CN=client.example.net`, issued by the
/// CA; serial 7E01.
pub const LEAF3_DER: &[u8] = include_bytes!("../golden/tls-certs/leaf3.der");

/// A server record: version 3.3, as servers answer.
fn srecord(content_type: u8, body: &[u8]) -> Vec<u8> {
    let mut r = record(content_type, body);
    r[2] = 3;
    r
}

/// A Certificate handshake message (type 11): 3-byte chain length, then each certificate
/// as a 3-byte length and its bytes.
fn certificate(chain: &[&[u8]]) -> Vec<u8> {
    let mut list = Vec::new();
    for c in chain {
        list.extend_from_slice(&(c.len() as u32).to_be_bytes()[1..]);
        list.extend_from_slice(c);
    }
    let mut body = (list.len() as u32).to_be_bytes()[1..].to_vec();
    body.extend_from_slice(&list);
    handshake(11, &body)
}

/// A TLS 1.2 CertificateRequest (type 13): ecdsa_sign, ecdsa_secp256r1_sha256, no
/// authority names.
fn certificate_request() -> Vec<u8> {
    handshake(13, &[1, 64, 0, 2, 4, 3, 0, 0])
}

/// ServerHelloDone (type 14).
fn server_hello_done() -> Vec<u8> {
    handshake(14, &[])
}

/// ServerHello, Certificate with `chain`, ServerHelloDone in one server record.
pub(crate) fn cert_flight(chain: &[&[u8]]) -> Vec<u8> {
    let mut body = server_hello();
    body.extend_from_slice(&certificate(chain));
    body.extend_from_slice(&server_hello_done());
    srecord(22, &body)
}

/// 420 bytes that look like a certificate from outside (a DER SEQUENCE header of the
/// right length) and are not one inside: a fixed xorshift stream, its first inner byte
/// not a SEQUENCE tag.
fn not_a_certificate() -> Vec<u8> {
    let mut x = 0x2545_f491u32;
    let mut v: Vec<u8> = (0..420)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    v[..4].copy_from_slice(&[0x30, 0x82, 0x01, 0xa0]);
    v[4] = 0xa5;
    v
}

/// A TLS 1.2 session: handshake, the ClientHello naming `sni`, the server's first flight
/// as the `server` steps, the client's flight `client` (its finish), the server's finish,
/// one application exchange, teardown.
pub(crate) fn session(g: &mut Gen, sni: &[u8], server: &[Op<'_>], client: &[u8]) {
    let h = hello_record(Some(sni));
    session_with(
        g,
        &[Op::Data(true, &h)],
        server,
        client,
        b"GET /cert-path HTTP/1.1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncert-marker\r\n\r\n",
    );
}

/// All TLS certificate golden frames in order.
pub fn tls_certs_frames() -> Vec<Vec<u8>> {
    use Op::*;
    let mut g = Gen::new();
    g.server = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 90));
    g.port = 443;
    let cf = client_finish();
    let evil: [&[u8]; 2] = [LEAF1_DER, CA_DER];
    // a. ServerHello, Certificate (leaf1, CA), ServerHelloDone in one record.
    let sf = cert_flight(&evil);
    session(&mut g, b"a.certs.example", &[Data(false, &sf)], &cf);
    // b. The Certificate message split across two records (the first ends inside the
    //    leaf's DER).
    let cert = certificate(&evil);
    let (c1, c2) = cert.split_at(200);
    let mut r1 = server_hello();
    r1.extend_from_slice(c1);
    let mut r2 = c2.to_vec();
    r2.extend_from_slice(&server_hello_done());
    let mut sf = srecord(22, &r1);
    sf.extend_from_slice(&srecord(22, &r2));
    session(&mut g, b"b.certs.example", &[Data(false, &sf)], &cf);
    // c. The flight of (a) in two TCP segments (split inside the CA's DER), the client
    //    acknowledging each.
    let sf = cert_flight(&evil);
    let (s1, s2) = sf.split_at(700);
    session(
        &mut g,
        b"c.certs.example",
        &[Data(false, s1), Ack(true), Data(false, s2), Ack(true)],
        &cf,
    );
    // d. ServerHello, Certificate and ServerHelloDone each in a record of its own.
    let mut sf = srecord(22, &server_hello());
    sf.extend_from_slice(&srecord(22, &certificate(&evil)));
    sf.extend_from_slice(&srecord(22, &server_hello_done()));
    session(&mut g, b"d.certs.example", &[Data(false, &sf)], &cf);
    // e. The chain's first certificate is not DER, its second is leaf1.
    let bad = not_a_certificate();
    let sf = cert_flight(&[&bad, LEAF1_DER]);
    session(&mut g, b"e.certs.example", &[Data(false, &sf)], &cf);
    // f. The server (leaf2, CA) asks for a certificate (CertificateRequest after its
    //    Certificate); the client sends its own (leaf3) before ClientKeyExchange.
    let mut body = server_hello();
    body.extend_from_slice(&certificate(&[LEAF2_DER, CA_DER]));
    body.extend_from_slice(&certificate_request());
    body.extend_from_slice(&server_hello_done());
    let sf = srecord(22, &body);
    let mut ccf = record(22, &certificate(&[LEAF3_DER]));
    ccf.extend_from_slice(&cf);
    session(&mut g, b"f.certs.example", &[Data(false, &sf)], &ccf);
    // g. No Certificate message (as in TLS 1.3, where it is encrypted).
    let sf = server_flight();
    session(&mut g, b"g.certs.example", &[Data(false, &sf)], &cf);
    // h. The server's flight with leaf1, the client's ACK, teardown: no finish, no
    //    application data.
    let h = hello_record(Some(b"h.certs.example"));
    let sf = cert_flight(&evil);
    g.flow(&[
        Handshake,
        Data(true, &h),
        Data(false, &sf),
        Ack(true),
        Teardown,
    ]);
    // i. An empty chain (chain length 0).
    let sf = cert_flight(&[]);
    session(&mut g, b"i.certs.example", &[Data(false, &sf)], &cf);
    // k. Two sessions with other leaves: leaf2 alone (the multi-valued RDN), and the CA
    //    alone (self-signed: issuer = subject), the one the pass rule names.
    let sf = cert_flight(&[LEAF2_DER]);
    session(&mut g, b"k1.certs.example", &[Data(false, &sf)], &cf);
    let sf = cert_flight(&[CA_DER]);
    session(&mut g, b"k2.certs.example", &[Data(false, &sf)], &cf);
    // j. (a) on port 8443, then (a) with an IPv6 server.
    g.port = 8443;
    let sf = cert_flight(&evil);
    session(&mut g, b"j1.certs.example", &[Data(false, &sf)], &cf);
    g.server = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x990));
    g.port = 443;
    session(&mut g, b"j2.certs.example", &[Data(false, &sf)], &cf);
    g.frames
}

/// Writes the TLS certificate golden pcap into any sink; returns the number of frames.
pub fn write_tls_certs<W: Write>(sink: W) -> Result<usize> {
    write_frames(sink, &tls_certs_frames(), START_NS, STEP_NS)
}

/// Writes the TLS certificate golden pcap to `path`.
pub fn write_tls_certs_pcap(path: impl AsRef<Path>) -> Result<()> {
    write_file(path.as_ref(), write_tls_certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_deterministic_and_fit_a_frame() {
        let (a, b) = (tls_certs_frames(), tls_certs_frames());
        assert_eq!(a, b);
        assert!(
            a.iter().all(|f| f.len() <= 1514),
            "every frame fits 1500 bytes of IP"
        );
    }

    #[test]
    fn certificate_message_layout() {
        let m = certificate(&[b"abc", b"de"]);
        assert_eq!(
            m,
            [11, 0, 0, 14, 0, 0, 11, 0, 0, 3, b'a', b'b', b'c', 0, 0, 2, b'd', b'e']
        );
        assert_eq!(certificate(&[]), [11, 0, 0, 3, 0, 0, 0]);
    }
}
