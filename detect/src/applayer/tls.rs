//! TLS as Suricata 7.0.10 tells and parses it (`app-layer-ssl.c`): the protocol probe,
//! the record layer of each direction, the ClientHello's server name that `tls.sni`
//! inspects, the ClientHello's JA3 that `ja3.string` and `ja3.hash` inspect, and the
//! moment Suricata stops inspecting the flow's content because the rest is encrypted.
//!
//! Pure parsing: no I/O, no `unsafe`, no panic on any input, and once the reused
//! buffers are warm no allocation per call.
//!
//! # Protocol detection (`SSLRegisterPatternsForProtocolDetection`, `RegisterSSLParsers`)
//!
//! Patterns, all case-sensitive, TCP:
//! - to server, offset 0, depth 3: `01 03 0v` and `16 03 0v` for `v` in 0..=3;
//! - to server, offset 2, depth 5: `01 00 02`, confirmed by `SSLProbingParser` (first
//!   byte has its top bit set: an SSLv2 ClientHello offering SSLv2);
//! - to client, offset 0, depth 3: `15 03 0v`, `16 03 0v`, `17 03 0v` for `v` in 0..=3.
//!
//! A pattern is only tried once the data reaches its depth
//! (`AppLayerProtoDetectPMMatchSignature`), so fewer than 3 (or 5) bytes wait. Besides
//! the patterns, `SSLProbingParser` is registered as a probing parser for to-server data
//! on the flow's destination port 443 (`detection-ports: dp: 443`, also the built-in
//! default), min depth 0, max depth 3: under 3 bytes it waits, from 3 it says TLS when
//! `data[0] & 0x80 != 0 && data[2] == 1` and fails otherwise. It has no to-client
//! function. `PPGetProto` also runs it for to-server data on any port once the to-client
//! side was told TLS. See [`probe`] and [`probe_with_pp`].
//!
//! # Feeding (`ReassembleUpdateAppLayer`, `AppLayerParserParse`, `SSLDecode`)
//!
//! The stream engine hands a direction's acknowledged, not yet consumed bytes to the
//! parser. The parser consumes a record header as it streams in, then returns
//! `APP_LAYER_INCOMPLETE(consumed, record_length)` until the whole record body is there;
//! the stream engine makes no call until `data_required` (the `needed` returned) bytes
//! follow what was consumed. Application-data records (type 23) are the exception: they
//! are parsed as their bytes come. [`TlsSide`] keeps the unconsumed bytes and the
//! required count, so its caller feeds only new bytes, in any chunks.
//!
//! A TLS record that completes calls `AppLayerParserTriggerRawStreamReassembly`
//! (end of `SSLv3Decode`), which sets `STREAMTCP_STREAM_FLAG_TRIGGER_RAW` on that
//! direction's stream: its raw stream is inspected at its next detection run. SSLv2
//! records and ignored unknown records trigger nothing. [`Fed::records_completed`]
//! counts the triggers.
//!
//! Any parser error (`APP_LAYER_ERROR`) makes `AppLayerParserParse` call
//! `StreamTcpDisableAppLayer`: the app layer stops for *both* directions for good.
//!
//! # When inspection stops (`encryption-handling`)
//!
//! With the default `encryption-handling: default` (`SSL_CNF_ENC_HANDLE_DEFAULT`):
//! - TLS: the first application-data record (type 23, in either direction) of which at
//!   least one body byte is parsed sets `APP_LAYER_PARSER_NO_INSPECTION_PAYLOAD`
//!   (`SSLv3Decode`), unless the ClientHello had the early-data extension and no
//!   ServerHello was parsed yet (0-RTT data). `AppLayerParserParse` then sets
//!   `FLOW_NOPAYLOAD_INSPECTION` on the flow and `STREAMTCP_STREAM_FLAG_NEW_RAW_DISABLED`
//!   on both streams. The packet being processed is still inspected as usual (its flags
//!   were computed before the stream stage). Every later packet of the flow, either
//!   direction, gets `PKT_NOPAYLOAD_INSPECTION` (`FlowHandlePacketUpdate`): its payload
//!   is no longer inspected and the payload/stream prefilter engines are skipped. Each
//!   stream's raw data not inspected yet is offered once more at that direction's next
//!   detection run (`NEW_RAW_DISABLED` forces a raw flush), after which
//!   `StreamReassembleRawUpdateProgress` sets `DISABLE_RAW` and no raw stream content
//!   is inspected again. The parser keeps running, so `tls.*` keywords still work.
//! - SSLv2: a client-finished/certificate/verify message, once both sides are encrypted
//!   (`SSLv2Decode`), sets `APP_LAYER_PARSER_NO_INSPECTION`: the app layer stops for
//!   both directions (`StreamTcpDisableAppLayer`), and `FlowWorkerStreamTCPUpdate`
//!   flushes detection of both streams and sets `FLOW_NOPAYLOAD_INSPECTION`.
//!
//! `bypass` also sets `NO_INSPECTION`, `NO_REASSEMBLY` and `BYPASS_READY` (the app layer
//! stops, no more reassembly either way, the flow may be bypassed); `full` sets nothing.
//! [`TlsFlow`] reports the moment as [`Fed::encrypted_now`].
//!
//! # `tls.sni` (`detect-tls-sni.c` `GetData`)
//!
//! The buffer is `client_connp.sni`, a C string: its `strlen`, so an embedded NUL cuts
//! it (a leading NUL leaves an empty buffer that is still inspected); no buffer before
//! the ClientHello's SNI is parsed. It is registered to-server only. See [`TlsSide::sni`].
//!
//! # JA3 (`TLSDecodeHandshakeHello`, `util-ja3.c`, `detect-tls-ja3-{string,hash}.c`)
//!
//! On when `app-layer.protocols.tls.ja3-fingerprints` is true, or (`auto`/unset, the
//! default) as soon as a loaded rule uses `ja3.hash`, `ja3.string`, `ja3s.hash` or
//! `ja3s.string`: their setup calls `SSLEnableJA3`, which turns the global
//! `ssl_config.enable_ja3` on unless the setting is explicitly false (or hashing is
//! disabled); a rule then fails to load when `SSLJA3IsEnabled` is still false. Modelled
//! on by default; [`TlsFlow::set_ja3`] turns it off.
//!
//! Each direction keeps a string (`connp->ja3_str`) and its hash (`connp->ja3_hash`),
//! built from the hellos it parses:
//! - the hello's version starts the string, as received (`0x0304` stays `772`), but
//!   only if the direction has no string yet;
//! - while the direction has no hash: `,` and the cipher suites (a ServerHello's one),
//!   once their length checks pass; then, once the extensions end, `,` and the
//!   extension types in order, and for a ClientHello `,` and the elliptic curves
//!   (supported groups) and `,` and the EC point formats. Values are decimal, joined by
//!   `-`; an empty list leaves only its comma (`771,4865,,,`). GREASE values
//!   (`TLSDecodeValueIsGREASE`: `0x0a0a`, `0x1a1a`, ..., `0xfafa`) are left out of each
//!   list (a one-byte point format never is one).
//! - The extension lists are appended when the extensions block is missing (a hello
//!   ending after its compression methods: `771,4865,,,`), fully parsed, or ended by
//!   an extension's contents (a bad SNI, curves, point formats, signature algorithms,
//!   ALPN or supported_versions: `goto end`, that extension's type left out, the
//!   curves read so far kept). They are not when the block or an extension header
//!   does not fit (`invalid_length`), nor when the hello ended earlier (random,
//!   session id, cipher suites, compression): the string then stays partial
//!   (`771` or `771,4865-4866`), and there is no hash.
//! - The hash, MD5 as lower-case hex, is computed when the extensions were appended;
//!   from then on no hello changes the string. A later hello after a partial one
//!   appends to it, without a version: `771,4865-49199` then
//!   `771,4865-49199,4865-49199,0,,`.
//!
//! `ja3.string` (to-server) is the client string as soon as there is one (partial or
//! not); `ja3.hash` is the client hash, absent until computed. The string always holds
//! the version, so it is never empty (nor is the hash then of an empty string).
//! `ja3s.*` read the to-client direction's (its ServerHello: version, cipher,
//! extensions). SSLv2 hellos make none.
//!
//! JA3 changes one thing in parsing: reading the first ClientHello's elliptic curves
//! two bytes at a time (`ec_processed_len < elliptic_curves_len`), an odd list length
//! reads one byte past the list, and ends the hello when that byte is past the
//! extension; with JA3 off (or once hashed) the list is skipped by its length.
//!
//! # Not modelled
//!
//! - The certificate fingerprint, validity dates and decoder events; certificates are
//!   read only while some rule inspects them ([`TlsFlow::set_certs`]): they never
//!   change how records are parsed.
//! - JA4 (off by default; JA3 and JA4 are enabled separately). Turned on, JA4 also
//!   reads ALPN protocol lengths and can end a hello's parsing earlier.
//! - The random, the session id and `SESSION_RESUMED`, ALPN, decoder events, frames,
//!   `STATE_FINISHED` / EOF handling, logging.
//! - Gaps and stream depth: TLS does not accept gaps, so a gap is a parser error in
//!   Suricata; the caller must stop (or report an error) itself.
//! - Allocation failures in Suricata (each would be a parser error there).
//! - Detection beyond TLS's own patterns: other protocols' patterns can end pattern
//!   matching early (`PMGetProtoInspect` returns `-2`/`-1`) or win first, midstream
//!   pickup tries the other direction's patterns (and reverses the flow), and
//!   expectations. [`probe`] only answers whether TLS's own patterns and probing parser
//!   tell TLS, cannot any more, or need more bytes.
//! - Which flow direction is the client when detection reverses a flow: the caller's.

/// Record header bytes (`SSLV3_RECORD_HDR_LEN`).
const HDR_LEN: u32 = 5;
/// Longest record body Suricata accepts, 2^14 + 1024 (`SSLV3_RECORD_MAX_LEN`).
pub const RECORD_MAX_LEN: u32 = (1 << 14) + 1024;
/// `SSL_RECORD_MINIMUM_LENGTH`: one call may loop over at most `len / 6` records.
const RECORD_MIN_LEN: usize = 6;
/// Longest server name Suricata keeps.
pub const MAX_SNI_LEN: usize = 255;
/// The port of Suricata's default TLS probing-parser registration.
pub const TLS_PORT: u16 = 443;

// Record content types.
const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION: u8 = 23;
const HEARTBEAT: u8 = 24;

// Handshake message types.
const HS_HELLO_REQUEST: u8 = 0;
const HS_CLIENT_HELLO: u8 = 1;
const HS_SERVER_HELLO: u8 = 2;
const HS_NEW_SESSION_TICKET: u8 = 4;
const HS_CERTIFICATE: u8 = 11;
const HS_SERVER_KEY_EXCHANGE: u8 = 12;
const HS_CERTIFICATE_REQUEST: u8 = 13;
const HS_SERVER_HELLO_DONE: u8 = 14;
const HS_CERTIFICATE_VERIFY: u8 = 15;
const HS_CLIENT_KEY_EXCHANGE: u8 = 16;
const HS_FINISHED: u8 = 20;
const HS_CERTIFICATE_URL: u8 = 21;
const HS_CERTIFICATE_STATUS: u8 = 22;

// SSLv2 message types.
const V2_ERROR: u8 = 0;
const V2_CLIENT_HELLO: u8 = 1;
const V2_CLIENT_MASTER_KEY: u8 = 2;
const V2_CLIENT_FINISHED: u8 = 3;
const V2_SERVER_HELLO: u8 = 4;
const V2_SERVER_VERIFY: u8 = 5;
const V2_SERVER_FINISHED: u8 = 6;
const V2_REQUEST_CERTIFICATE: u8 = 7;
const V2_CLIENT_CERTIFICATE: u8 = 8;

// Hello extensions.
const EXT_SNI: u16 = 0x0000;
const EXT_ELLIPTIC_CURVES: u16 = 0x000a;
const EXT_EC_POINT_FORMATS: u16 = 0x000b;
const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
const EXT_ALPN: u16 = 0x0010;
const EXT_SESSION_TICKET: u16 = 0x0023;
const EXT_EARLY_DATA: u16 = 0x002a;
const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;

// Versions.
const VERSION_UNKNOWN: u16 = 0x0000;
const SSL_VERSION_2: u16 = 0x0200;
const TLS_VERSION_10: u16 = 0x0301;
const TLS_VERSION_11: u16 = 0x0302;
const TLS_VERSION_12: u16 = 0x0303;
const TLS_VERSION_13: u16 = 0x0304;
const TLS_VERSION_13_PRE_DRAFT16: u16 = 0x7f01;

// `SSLState.flags` bits (app-layer-ssl.h), shared by both directions.
const F_SERVER_CHANGE_CIPHER_SPEC: u32 = 1 << 0;
const F_CLIENT_CHANGE_CIPHER_SPEC: u32 = 1 << 1;
const F_CHANGE_CIPHER_SPEC: u32 = 1 << 2;
const F_SSL_CLIENT_HS: u32 = 1 << 3;
const F_SSL_SERVER_HS: u32 = 1 << 4;
const F_SSL_CLIENT_MASTER_KEY: u32 = 1 << 5;
const F_SSL_CLIENT_SSN_ENCRYPTED: u32 = 1 << 6;
const F_SSL_SERVER_SSN_ENCRYPTED: u32 = 1 << 7;
const F_SSL_NO_SESSION_ID: u32 = 1 << 8;
const F_STATE_CLIENT_HELLO: u32 = 1 << 9;
const F_STATE_SERVER_HELLO: u32 = 1 << 10;
const F_STATE_CLIENT_KEYX: u32 = 1 << 11;
const F_STATE_SERVER_KEYX: u32 = 1 << 12;
const F_HB_INFLIGHT: u32 = 1 << 15;
const F_HB_CLIENT_INIT: u32 = 1 << 16;
const F_HB_SERVER_INIT: u32 = 1 << 17;
const F_HANDSHAKE_DONE: u32 = 1 << 18;
const F_SESSION_RESUMED: u32 = 1 << 20;
const F_CH_VERSION_EXTENSION: u32 = 1 << 21;
const F_LOG_WITHOUT_CERT: u32 = 1 << 22;
const F_EARLY_DATA: u32 = 1 << 23;
const F_NEED_CLIENT_CERT: u32 = 1 << 26;

/// What Suricata's protocol detection tells from the first bytes of a TCP direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    Tls,
    /// TLS's patterns (and probing parser, when it applies) can no longer tell TLS.
    NotTls,
    /// Too few bytes for a TLS pattern or the probing parser to decide: Suricata waits.
    NeedMore,
}

const TS_PATTERNS: [[u8; 3]; 8] = [
    [0x01, 0x03, 0x00],
    [0x16, 0x03, 0x00],
    [0x01, 0x03, 0x01],
    [0x16, 0x03, 0x01],
    [0x01, 0x03, 0x02],
    [0x16, 0x03, 0x02],
    [0x01, 0x03, 0x03],
    [0x16, 0x03, 0x03],
];

const TC_PATTERNS: [[u8; 3]; 12] = [
    [0x15, 0x03, 0x00],
    [0x16, 0x03, 0x00],
    [0x17, 0x03, 0x00],
    [0x15, 0x03, 0x01],
    [0x16, 0x03, 0x01],
    [0x17, 0x03, 0x01],
    [0x15, 0x03, 0x02],
    [0x16, 0x03, 0x02],
    [0x17, 0x03, 0x02],
    [0x15, 0x03, 0x03],
    [0x16, 0x03, 0x03],
    [0x17, 0x03, 0x03],
];

/// The SSLv2 pattern `01 00 02` at offset 2, depth 5.
const SSLV2_PATTERN: [u8; 3] = [0x01, 0x00, 0x02];

/// Suricata's protocol detection for TLS from pattern matching alone
/// (`SSLRegisterPatternsForProtocolDetection`): right for any port but 443.
/// `data` is the direction's bytes from stream offset 0.
pub fn probe(data: &[u8], to_server: bool) -> Probe {
    probe_with_pp(data, to_server, false)
}

/// [`probe`], plus `SSLProbingParser` when `probing_parser`: to-server data of a flow
/// whose server port is [`TLS_PORT`] (or whose to-client side already told TLS).
pub fn probe_with_pp(data: &[u8], to_server: bool, probing_parser: bool) -> Probe {
    if !to_server {
        return offset0_patterns(data, &TC_PATTERNS);
    }
    // AppLayerProtoDetectPMGetProto: offset-0 patterns, then the SSLv2 pattern with its
    // probing-parser confirmation.
    let pm = offset0_patterns(data, &TS_PATTERNS);
    if pm == Probe::Tls || sslv2_pattern(data) == Probe::Tls {
        return Probe::Tls;
    }
    // AppLayerProtoDetectPPGetProto on port 443.
    let pp = if probing_parser {
        ssl_probing_parser(data)
    } else {
        Probe::NotTls
    };
    if pp == Probe::Tls {
        return Probe::Tls;
    }
    if [pm, sslv2_pattern(data), pp].contains(&Probe::NeedMore) {
        Probe::NeedMore
    } else {
        Probe::NotTls
    }
}

/// Depth-3 patterns at offset 0: decided once 3 bytes are there.
fn offset0_patterns(data: &[u8], patterns: &[[u8; 3]]) -> Probe {
    if data.len() >= 3 {
        if patterns.iter().any(|p| data[..3] == p[..]) {
            Probe::Tls
        } else {
            Probe::NotTls
        }
    } else if patterns.iter().any(|p| p.starts_with(data)) {
        Probe::NeedMore
    } else {
        Probe::NotTls
    }
}

/// `01 00 02` in bytes 2..5, confirmed by `SSLProbingParser` (top bit of byte 0).
fn sslv2_pattern(data: &[u8]) -> Probe {
    if data.first().is_some_and(|b| b & 0x80 == 0) {
        return Probe::NotTls;
    }
    let tail = data.get(2..).unwrap_or(&[]);
    let tail = &tail[..tail.len().min(3)];
    if !SSLV2_PATTERN.starts_with(tail) {
        Probe::NotTls
    } else if data.len() >= 5 {
        Probe::Tls
    } else {
        Probe::NeedMore
    }
}

/// `SSLProbingParser`: unknown under 3 bytes, then an SSLv2 ClientHello header or fail.
fn ssl_probing_parser(data: &[u8]) -> Probe {
    match data {
        [b0, _, b2, ..] if b0 & 0x80 != 0 && *b2 == 0x01 => Probe::Tls,
        [_, _, _, ..] => Probe::NotTls,
        _ => Probe::NeedMore,
    }
}

/// Suricata's `app-layer.protocols.tls.encryption-handling`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EncryptionHandling {
    /// Stop content inspection once encrypted, keep parsing.
    #[default]
    Default,
    /// Stop parsing and reassembly too, and let the flow be bypassed.
    Bypass,
    /// Inspect encrypted data like any other.
    Full,
}

/// The `APP_LAYER_PARSER_*` flags the TLS parser sets on the flow's parser state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParserFlags {
    /// `NO_INSPECTION`: the app layer stops for both directions.
    pub no_inspection: bool,
    /// `NO_REASSEMBLY`: no more reassembly of either stream.
    pub no_reassembly: bool,
    /// `NO_INSPECTION_PAYLOAD`: no more payload or raw stream inspection.
    pub no_inspection_payload: bool,
    /// `BYPASS_READY`: the flow may be bypassed.
    pub bypass_ready: bool,
}

impl ParserFlags {
    /// Whether raw content inspection of the flow stops.
    pub fn inspection_stopped(self) -> bool {
        self.no_inspection || self.no_inspection_payload
    }
}

/// What one feed did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fed {
    /// Records completed by this feed (Suricata calls
    /// `AppLayerParserTriggerRawStreamReassembly` once per completed record: the caller
    /// uses this to trigger raw inspection of the fed direction).
    pub records_completed: u32,
    /// The parser hit an error (`APP_LAYER_ERROR`) in this feed.
    pub error: bool,
    /// This feed made Suricata stop content inspection of the flow (see the module doc).
    pub encrypted_now: bool,
}

/// State `SSLState` keeps for both directions.
#[derive(Clone, Copy, Debug, Default)]
struct Shared {
    flags: u32,
    hb_record_len: u32,
    parser: ParserFlags,
    mode: EncryptionHandling,
    /// `ssl_config.enable_ja3` off (a global setting in Suricata; on by default here).
    ja3_off: bool,
    /// Certificates are read (some rule inspects them).
    certs_on: bool,
    /// `[client, server]`: that side's first certificate gave a subject and an issuer
    /// (`cert0_subject && cert0_issuerdn`), what `HANDSHAKE_DONE` waits for.
    cert0: [bool; 2],
}

impl Shared {
    fn new(mode: EncryptionHandling, ja3_off: bool, certs_on: bool) -> Shared {
        Shared {
            mode,
            ja3_off,
            certs_on,
            ..Shared::default()
        }
    }

    /// The end of `SSLDecode`'s record loop: the handshake is done once the side whose
    /// certificate counts (the client's when the server asked for one) gave its first
    /// certificate's subject and issuer.
    fn check_handshake_done(&mut self) {
        let side = if self.flags & F_NEED_CLIENT_CERT != 0 {
            0
        } else {
            1
        };
        if self.cert0[side] {
            self.flags |= F_HANDSHAKE_DONE;
        }
    }

    /// `SSLv3Decode`, application record: set the encryption-handling flags.
    fn on_application_data(&mut self) {
        // 0-RTT data before the ServerHello does not end the handshake.
        if self.flags & F_EARLY_DATA != 0 && self.flags & F_STATE_SERVER_HELLO == 0 {
            return;
        }
        self.flags |= F_HANDSHAKE_DONE;
        if self.mode != EncryptionHandling::Full {
            self.parser.no_inspection_payload = true;
        }
        if self.mode == EncryptionHandling::Bypass {
            self.parser.no_reassembly = true;
            self.parser.no_inspection = true;
            self.parser.bypass_ready = true;
        }
    }

    /// `SSLv2Decode`: both sides encrypted.
    fn on_sslv2_encrypted(&mut self) {
        if self.mode != EncryptionHandling::Full {
            self.parser.no_inspection = true;
        }
        if self.mode == EncryptionHandling::Bypass {
            self.parser.no_reassembly = true;
            self.parser.bypass_ready = true;
        }
    }
}

/// `SSLStateConnp`: what one direction's parser keeps.
#[derive(Clone, Debug)]
struct Conn {
    record_length: u32,
    /// SSLv2 header length bytes: 2 or 3.
    record_lengths_length: u32,
    /// Bytes of the current record parsed (header included).
    bytes_processed: u32,
    version: u16,
    content_type: u8,
    sni: [u8; MAX_SNI_LEN],
    sni_len: Option<u8>,
    /// `hs_buffer`: a handshake message longer than its record, being gathered.
    hs_open: bool,
    hs_type: u8,
    hs_size: u32,
    hs_buf: Vec<u8>,
    ja3: Ja3,
    certs: Certs,
}

impl Default for Conn {
    fn default() -> Conn {
        Conn {
            record_length: 0,
            record_lengths_length: 0,
            bytes_processed: 0,
            version: VERSION_UNKNOWN,
            content_type: 0,
            sni: [0; MAX_SNI_LEN],
            sni_len: None,
            hs_open: false,
            hs_type: 0,
            hs_size: 0,
            hs_buf: Vec::new(),
            ja3: Ja3::default(),
            certs: Certs::default(),
        }
    }
}

impl Conn {
    fn reset(&mut self) {
        let mut buf = std::mem::take(&mut self.hs_buf);
        buf.clear();
        let mut ja3 = std::mem::take(&mut self.ja3);
        ja3.clear();
        let mut certs = std::mem::take(&mut self.certs);
        certs.clear();
        *self = Conn {
            hs_buf: buf,
            ja3,
            certs,
            ..Conn::default()
        };
    }

    /// `SSLParserReset` (the handshake-type fields it also clears are locals here).
    fn parser_reset(&mut self) {
        self.bytes_processed = 0;
    }

    fn close_hs_buffer(&mut self) {
        self.hs_open = false;
        self.hs_type = 0;
        self.hs_size = 0;
        self.hs_buf.clear();
    }
}

/// What `SSLStateConnp` keeps of JA3 (`ja3_str`, `ja3_hash`), and the per-hello lists
/// `TLSDecodeHSHelloExtensions` gathers before appending them (reused, not reallocated).
#[derive(Clone, Debug, Default)]
struct Ja3 {
    /// `ja3_str != NULL`: a hello's version was read while JA3 was on.
    started: bool,
    string: Vec<u8>,
    /// `ja3_hash`: set once, at the end of the first hello whose extensions parsed.
    hash: Option<[u8; 32]>,
    exts: Vec<u8>,
    curves: Vec<u8>,
    point_formats: Vec<u8>,
}

impl Ja3 {
    fn clear(&mut self) {
        self.started = false;
        self.string.clear();
        self.hash = None;
    }

    /// `Ja3BufferAppendBuffer` (`ja3_str` always holds the version by then): a comma,
    /// then the list, which may be empty.
    fn append(string: &mut Vec<u8>, list: &[u8]) {
        string.push(b',');
        string.extend_from_slice(list);
    }

    /// `Ja3GenerateHash`: MD5 of the string, in lower-case hex (`SCMd5HashBufferToHex`).
    fn finish(&mut self) {
        use md5::{Digest, Md5};
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digest = Md5::digest(&self.string);
        let mut hex = [0; 32];
        for (i, b) in digest.iter().enumerate() {
            hex[2 * i] = HEX[usize::from(b >> 4)];
            hex[2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
        self.hash = Some(hex);
    }
}

/// What `SSLStateConnp` keeps of a side's Certificate message: the chain
/// (`certs_buffer`), the certificates added to it (`certs`, what `tls.certs` inspects one
/// by one) and the first certificate's X.509 fields. Buffers are reused across flows.
#[derive(Clone, Debug, Default)]
struct Certs {
    /// `certs_buffer != NULL`: a Certificate message was read (a second is ignored).
    seen: bool,
    chain: Vec<u8>,
    /// Start and end in `chain` of each certificate added.
    list: Vec<(u32, u32)>,
    subject: Option<Vec<u8>>,
    issuer: Option<Vec<u8>>,
    serial: Option<Vec<u8>>,
    /// Spare buffers for the fields, kept for reuse.
    spare: Vec<Vec<u8>>,
}

impl Certs {
    fn clear(&mut self) {
        self.seen = false;
        self.chain.clear();
        self.list.clear();
        for f in [&mut self.subject, &mut self.issuer, &mut self.serial] {
            if let Some(mut b) = f.take() {
                b.clear();
                self.spare.push(b);
            }
        }
    }

    /// A field buffer holding `text`, reusing a spare one.
    fn field(&mut self, text: &[u8]) -> Vec<u8> {
        let mut b = self.spare.pop().unwrap_or_default();
        b.clear();
        b.extend_from_slice(text);
        b
    }

    /// Whether the first certificate's subject and issuer were read.
    fn cert0_ready(&self) -> bool {
        self.subject.is_some() && self.issuer.is_some()
    }

    /// `TlsDecodeHSCertificates`: a Certificate message body. Its errors only end the
    /// reading of the chain (`SSLv3ParseHandshakeTypeCertificate` consumes the message
    /// whatever happens).
    fn decode(&mut self, msg: &[u8]) {
        let Some(chain_len) = be24(msg, 0) else {
            return;
        };
        let Some(chain) = msg.get(3..3 + chain_len) else {
            return;
        };
        if self.seen {
            return;
        }
        self.seen = true;
        self.chain.clear();
        self.chain.extend_from_slice(chain);
        let mut at = 0;
        while at < chain_len {
            match self.decode_one(at) {
                Some(used) => at += used,
                None => return,
            }
        }
    }

    /// `TlsDecodeHSCertificate`: the certificate at `at` in the chain. Suricata's count
    /// of certificates is never advanced, so every certificate until one decodes is
    /// "the first": the fields come from the first that is X.509, and those before it
    /// are left out of the chain. Returns the bytes it took, `None` on an error (which
    /// ends the chain).
    fn decode_one(&mut self, at: usize) -> Option<usize> {
        let rest = self.chain.get(at..)?;
        let len = be24(rest, 0)?;
        let (start, end) = (at + 3, at + 3 + len);
        if end > self.chain.len() {
            // TLS_DECODER_EVENT_INVALID_CERTIFICATE
            return None;
        }
        if self.subject.is_none() && self.issuer.is_none() && self.serial.is_none() {
            use x509_parser::prelude::{FromDer, X509Certificate};
            let fields = match X509Certificate::from_der(&self.chain[start..end]) {
                // Not X.509: the certificate is skipped, not added (`goto next`).
                Err(_) => return Some(3 + len),
                Ok((_, cert)) => {
                    let tbs = &cert.tbs_certificate;
                    let serial = tbs
                        .raw_serial()
                        .iter()
                        .map(|b| format!("{b:02X}"))
                        .collect::<Vec<_>>()
                        .join(":");
                    (tbs.subject.to_string(), tbs.issuer.to_string(), serial)
                }
            };
            // `rust_string_to_c`: a field with a NUL gives no string, an error.
            for (text, slot) in [(&fields.0, 0), (&fields.1, 1), (&fields.2, 2)] {
                if text.as_bytes().contains(&0) {
                    return None;
                }
                let b = self.field(text.as_bytes());
                match slot {
                    0 => self.subject = Some(b),
                    1 => self.issuer = Some(b),
                    _ => self.serial = Some(b),
                }
            }
        }
        self.list.push((start as u32, end as u32));
        Some(3 + len)
    }
}

fn be24(b: &[u8], at: usize) -> Option<usize> {
    let x = b.get(at..at + 3)?;
    Some(usize::from(x[0]) << 16 | usize::from(x[1]) << 8 | usize::from(x[2]))
}

/// `Ja3BufferAddValue`: the value in decimal, after a `-` unless the list is empty.
fn ja3_add(list: &mut Vec<u8>, v: u16) {
    if !list.is_empty() {
        list.push(b'-');
    }
    ja3_add_digits(list, v);
}

/// `%u`.
fn ja3_add_digits(buf: &mut Vec<u8>, v: u16) {
    let mut digits = [0; 5];
    let mut n = 0;
    let mut v = v;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend(digits[..n].iter().rev());
}

/// `TLSDecodeValueIsGREASE` (RFC 8701): `0x?a?a` with both nibbles equal.
fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// One direction's TLS parser state, fed that direction's stream bytes in order, in
/// chunks of any size: exactly the bytes Suricata's stream engine would hand the app
/// layer (acknowledged bytes, in order). Bytes the parser has not consumed yet are kept
/// here, as Suricata's stream keeps them.
#[derive(Clone, Debug, Default)]
pub struct TlsSide {
    conn: Conn,
    /// Fed bytes the parser did not consume (the stream's unconsumed app data).
    pending: Vec<u8>,
    /// The stream's `data_required`: no parser call until this many bytes are pending.
    required: u32,
    stopped: bool,
    errored: bool,
    /// Flow state for [`TlsSide::feed`] on its own, as if the other side sent nothing.
    solo: Shared,
}

impl TlsSide {
    /// Forgets everything, keeping the buffers' capacity.
    pub fn reset(&mut self) {
        self.conn.reset();
        self.pending.clear();
        self.required = 0;
        self.stopped = false;
        self.errored = false;
        self.solo = Shared::new(
            EncryptionHandling::Default,
            self.solo.ja3_off,
            self.solo.certs_on,
        );
    }

    /// Feeds this direction on its own (flow state as if the other direction sent
    /// nothing, default encryption handling). Use [`TlsFlow::feed`] for both directions.
    pub fn feed(&mut self, data: &[u8], to_server: bool) -> Fed {
        let mut solo = self.solo;
        let fed = self.feed_in(data, to_server, &mut solo, VERSION_UNKNOWN);
        self.solo = solo;
        if solo.parser.no_inspection {
            self.stop();
        }
        fed
    }

    /// The server name as the `tls.sni` buffer gives it: the first SNI host name,
    /// cut at its first NUL (`strlen`). Suricata fills it for a hello of either side,
    /// but `tls.sni` reads only the to-server side.
    pub fn sni(&self) -> Option<&[u8]> {
        let n = usize::from(self.conn.sni_len?);
        let name = &self.conn.sni[..n];
        Some(&name[..memchr::memchr(0, name).unwrap_or(n)])
    }

    /// The hello's JA3 string as the `ja3.string` buffer gives it (`connp->ja3_str`):
    /// `version,ciphers,extensions,curves,point_formats`, each list's values in
    /// decimal joined by `-`, GREASE values left out. It is there from the moment a
    /// hello's version is read, so a hello cut short leaves the part built so far, and
    /// only the first hello parsed to its end counts (see the module doc). Suricata
    /// builds one for a hello of either side; `ja3.string` reads the to-server side,
    /// `ja3s.string` the to-client side's (a ServerHello's: version, cipher,
    /// extensions). `None` while JA3 is off ([`TlsFlow::set_ja3`]) or before a hello.
    pub fn ja3_string(&self) -> Option<&[u8]> {
        self.conn.ja3.started.then_some(&self.conn.ja3.string[..])
    }

    /// The MD5 of [`TlsSide::ja3_string`] as 32 lower-case hex digits, as the `ja3.hash`
    /// (`ja3s.hash` on the to-client side) buffer gives it: set once, when the first
    /// hello is parsed to the end of its extensions (or where an extension's contents
    /// ended it); a hello cut before that leaves no hash.
    pub fn ja3_hash(&self) -> Option<&[u8]> {
        self.conn.ja3.hash.as_ref().map(|h| &h[..])
    }

    /// Turns JA3 on or off for [`TlsSide::feed`] (on by default); kept across resets.
    pub fn set_ja3(&mut self, enabled: bool) {
        self.solo.ja3_off = !enabled;
    }

    /// Turns certificate reading on or off for [`TlsSide::feed`] (off by default); kept
    /// across resets.
    pub fn set_certs(&mut self, enabled: bool) {
        self.solo.certs_on = enabled;
    }

    /// The certificates of this side's Certificate message, in order, as `tls.certs`
    /// inspects them (each its DER bytes). Certificates before the first that is X.509
    /// are left out, as Suricata leaves them out of its chain.
    pub fn certs(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let c = &self.conn.certs;
        c.list
            .iter()
            .filter_map(|&(s, e)| c.chain.get(s as usize..e as usize))
    }

    /// The chain's bytes and each certificate's start and end in them (what
    /// [`TlsSide::certs`] iterates).
    pub fn cert_chain(&self) -> (&[u8], &[(u32, u32)]) {
        (&self.conn.certs.chain, &self.conn.certs.list)
    }

    /// The first X.509 certificate's subject as `tls.cert_subject` gives it
    /// (x509-parser's `X509Name` text, e.g. `C=US, O=Example, CN=www.example.com`).
    pub fn cert_subject(&self) -> Option<&[u8]> {
        self.conn.certs.subject.as_deref()
    }

    /// The first certificate's issuer (`tls.cert_issuer`), formatted as the subject.
    pub fn cert_issuer(&self) -> Option<&[u8]> {
        self.conn.certs.issuer.as_deref()
    }

    /// The first certificate's serial (`tls.cert_serial`): its bytes in upper-case hex,
    /// joined by `:`.
    pub fn cert_serial(&self) -> Option<&[u8]> {
        self.conn.certs.serial.as_deref()
    }

    /// The direction's version as Suricata keeps it (`connp->version`): the record's,
    /// then the hello's (`0x0304` as `0x7f01`), or its supported_versions choice.
    pub fn version(&self) -> u16 {
        self.conn.version
    }

    /// Whether Suricata parses no more of this direction (an error, or the app layer
    /// was stopped).
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Whether this direction's parser hit an error.
    pub fn errored(&self) -> bool {
        self.errored
    }

    /// Bytes this direction holds: unconsumed input, a handshake message being gathered
    /// (its length field allows 16 MiB) and the certificate chain.
    pub fn held(&self) -> usize {
        self.pending.len() + self.conn.hs_buf.len() + self.conn.certs.chain.len()
    }

    fn stop(&mut self) {
        self.stopped = true;
        self.pending.clear();
        self.required = 0;
    }

    /// `ReassembleUpdateAppLayer` + `AppLayerParserParse` for newly acknowledged bytes.
    fn feed_in(&mut self, data: &[u8], to_server: bool, sh: &mut Shared, peer_cv: u16) -> Fed {
        let mut fed = Fed::default();
        if self.stopped || data.is_empty() {
            return fed;
        }
        let was_stopped = sh.parser.inspection_stopped();
        // ReassembleUpdateAppLayer: no call while fewer than data_required bytes wait.
        if ((self.pending.len() + data.len()) as u64) < u64::from(self.required) {
            self.pending.extend_from_slice(data);
            return fed;
        }
        self.required = 0;
        let dec = if self.pending.is_empty() {
            let dec = decode(&mut self.conn, sh, data, to_server, peer_cv, &mut fed);
            if let Dec::Incomplete(c, _) = dec {
                self.pending.extend_from_slice(data.get(c..).unwrap_or(&[]));
            }
            dec
        } else {
            let mut buf = std::mem::take(&mut self.pending);
            buf.extend_from_slice(data);
            let dec = decode(&mut self.conn, sh, &buf, to_server, peer_cv, &mut fed);
            match dec {
                Dec::Incomplete(c, _) => {
                    buf.drain(..c.min(buf.len()));
                }
                _ => buf.clear(),
            }
            self.pending = buf;
            dec
        };
        match dec {
            Dec::Error => {
                fed.error = true;
                self.errored = true;
                self.stop();
            }
            Dec::Incomplete(_, needed) => self.required = needed,
            Dec::Ok(_) => {}
        }
        fed.encrypted_now = !was_stopped && sh.parser.inspection_stopped();
        fed
    }
}

/// A TLS flow: both directions and the state Suricata's `SSLState` shares between them
/// (handshake flags, encryption handling).
#[derive(Clone, Debug, Default)]
pub struct TlsFlow {
    /// The to-server direction: feed it through [`TlsFlow::feed`], read its SNI here.
    pub client: TlsSide,
    /// The to-client direction.
    pub server: TlsSide,
    shared: Shared,
}

impl TlsFlow {
    pub fn new(mode: EncryptionHandling) -> TlsFlow {
        TlsFlow {
            shared: Shared::new(mode, false, false),
            ..TlsFlow::default()
        }
    }

    /// Turns JA3 on (the default) or off: Suricata's `ssl_config.enable_ja3`, on when
    /// `app-layer.protocols.tls.ja3-fingerprints` is true, or when a loaded rule uses a
    /// `ja3.*`/`ja3s.*` keyword and the setting is not explicitly false. Besides the
    /// fingerprints, it changes how an odd-length elliptic-curves list is read (see
    /// the module doc). Kept across resets.
    pub fn set_ja3(&mut self, enabled: bool) {
        self.shared.ja3_off = !enabled;
    }

    /// Turns certificate reading on or off (off by default; kept across resets). Suricata
    /// always reads them, but they change nothing but what certificate rules see and
    /// when ([`TlsFlow::handshake_done`]), so they are read only when a rule looks.
    pub fn set_certs(&mut self, enabled: bool) {
        self.shared.certs_on = enabled;
    }

    /// `HANDSHAKE_DONE`: application data was seen, or the side whose certificate counts
    /// gave its first certificate's subject and issuer. The to-client transaction is then
    /// ready for certificate rules (`TLS_STATE_CERT_READY` and beyond).
    pub fn handshake_done(&self) -> bool {
        self.shared.flags & F_HANDSHAKE_DONE != 0
    }

    /// Forgets the flow, keeping its encryption handling, JA3 setting and buffers'
    /// capacity.
    pub fn reset(&mut self) {
        self.client.reset();
        self.server.reset();
        self.shared = Shared::new(self.shared.mode, self.shared.ja3_off, self.shared.certs_on);
    }

    /// Feeds newly acknowledged bytes of one direction. An error on either side, or
    /// `NO_INSPECTION`, stops both (`StreamTcpDisableAppLayer`).
    pub fn feed(&mut self, to_server: bool, data: &[u8]) -> Fed {
        let fed = if to_server {
            self.client
                .feed_in(data, true, &mut self.shared, VERSION_UNKNOWN)
        } else {
            let cv = self.client.conn.version;
            self.server.feed_in(data, false, &mut self.shared, cv)
        };
        if fed.error || self.shared.parser.no_inspection {
            self.client.stop();
            self.server.stop();
        }
        fed
    }

    /// The parser-state flags set so far.
    pub fn parser_flags(&self) -> ParserFlags {
        self.shared.parser
    }

    /// Whether Suricata stopped content inspection of the flow.
    pub fn inspection_stopped(&self) -> bool {
        self.shared.parser.inspection_stopped()
    }

    /// Whether Suricata parses no more of the flow.
    pub fn stopped(&self) -> bool {
        self.client.stopped && self.server.stopped
    }

    /// Parses no more of one side (the caller gave it up), and lets go of the handshake
    /// message it was gathering; what it parsed stays.
    pub fn stop_side(&mut self, to_server: bool) {
        let side = if to_server {
            &mut self.client
        } else {
            &mut self.server
        };
        side.stop();
        side.conn.close_hs_buffer();
        side.conn.hs_buf = Vec::new();
    }
}

/// A decoder's answer: bytes consumed, or consumed and bytes needed after them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dec {
    Ok(usize),
    Incomplete(usize, u32),
    Error,
}

/// `SSLDecode`: the records of one parser call.
fn decode(
    conn: &mut Conn,
    sh: &mut Shared,
    input: &[u8],
    to_server: bool,
    peer_cv: u16,
    fed: &mut Fed,
) -> Dec {
    let len = input.len();
    let max_records = (len / RECORD_MIN_LEN).max(1);
    let mut pos = 0;
    let mut counter = 0;
    while pos < len {
        if counter > max_records {
            // TLS_DECODER_EVENT_TOO_MANY_RECORDS_IN_PACKET
            conn.parser_reset();
            return Dec::Error;
        }
        let rest = &input[pos..];
        if conn.bytes_processed == 0 {
            if rest[0] & 0xc0 != 0 {
                conn.version = SSL_VERSION_2;
            } else if conn.version == SSL_VERSION_2 {
                conn.version = VERSION_UNKNOWN;
            }
        }
        let v2 = conn.version == SSL_VERSION_2;
        let r = if v2 {
            sslv2_decode(conn, sh, rest, to_server)
        } else {
            let cv = if to_server { conn.version } else { peer_cv };
            sslv3_decode(conn, sh, rest, to_server, cv, fed)
        };
        match r {
            Dec::Incomplete(c, _) | Dec::Ok(c) if c > rest.len() => {
                conn.parser_reset();
                return Dec::Error;
            }
            Dec::Error => {
                conn.parser_reset();
                return Dec::Error;
            }
            // A zero `needed` is indistinguishable from success in SSLDecode.
            Dec::Incomplete(c, n) if n > 0 => {
                let (consumed, needed) = (pos + c, n);
                // AppLayerParserParse: an improper incomplete is an error.
                if u64::from(needed) + (consumed as u64) < len as u64 {
                    return Dec::Error;
                }
                return Dec::Incomplete(consumed, needed);
            }
            Dec::Incomplete(c, _) | Dec::Ok(c) => pos += c,
        }
        if !v2 && conn.bytes_processed == HDR_LEN && conn.record_length == 0 {
            conn.parser_reset();
        }
        counter += 1;
    }
    sh.check_handshake_done();
    Dec::Ok(len)
}

/// `SSLv3ParseRecord`: the 5-byte header, streamed byte by byte across calls.
fn sslv3_parse_header(conn: &mut Conn, flags: u32, input: &[u8], to_server: bool) -> usize {
    let hello = if to_server {
        F_STATE_CLIENT_HELLO
    } else {
        F_STATE_SERVER_HELLO
    };
    // Keep the version a hello set.
    let skip_version = flags & hello != 0 && conn.version != VERSION_UNKNOWN;
    let mut n = 0;
    for &b in input {
        match conn.bytes_processed as usize + n {
            0 => conn.content_type = b,
            1 if !skip_version => conn.version = u16::from(b) << 8,
            2 if !skip_version => conn.version |= u16::from(b),
            1 | 2 => {}
            3 => conn.record_length = u32::from(b) << 8,
            4 => conn.record_length |= u32::from(b),
            _ => break,
        }
        n += 1;
    }
    conn.bytes_processed += n as u32;
    n
}

/// `TLSVersionValid`.
fn version_valid(v: u16) -> bool {
    matches!(
        v,
        0x0300..=0x0304
            | 0x7f01
            | 0x7f10..=0x7f1c
            | 0xfb14
            | 0xfb15
            | 0xfb16
            | 0xfb17
            | 0xfb1a
    )
}

/// `SSLv3Decode`: one TLS record, or the part of it this call has.
fn sslv3_decode(
    conn: &mut Conn,
    sh: &mut Shared,
    input: &[u8],
    to_server: bool,
    client_version: u16,
    fed: &mut Fed,
) -> Dec {
    let len = input.len();
    let mut parsed = 0;
    let record_len;
    if conn.bytes_processed < HDR_LEN {
        let prev_version = conn.version;
        parsed = sslv3_parse_header(conn, sh.flags, input, to_server);
        if conn.bytes_processed < HDR_LEN {
            return Dec::Ok(parsed);
        }
        record_len = (len - parsed).min(conn.record_length as usize);
        let known = matches!(conn.content_type, CHANGE_CIPHER_SPEC..=HEARTBEAT);
        if !known {
            // TLS 1.0 and 1.1 ignore an unknown record, and the rest of this call.
            if prev_version == TLS_VERSION_10 || prev_version == TLS_VERSION_11 {
                conn.bytes_processed = 0;
                conn.content_type = 0;
                conn.record_length = 0;
                conn.version = prev_version;
                return Dec::Ok(len);
            }
            return Dec::Error;
        }
        if conn.record_length == 0
            || !version_valid(conn.version)
            || conn.record_length > RECORD_MAX_LEN
        {
            return Dec::Error;
        }
    } else {
        let left = (conn.record_length + HDR_LEN).saturating_sub(conn.bytes_processed);
        record_len = len.min(left as usize);
    }
    // Wait for whole records, but stream application data.
    if conn.record_length as usize > len - parsed && conn.content_type != APPLICATION {
        return Dec::Incomplete(parsed, conn.record_length);
    }
    if record_len == 0 {
        return Dec::Ok(parsed);
    }
    let body = &input[parsed..parsed + record_len];
    match conn.content_type {
        CHANGE_CIPHER_SPEC => {
            sh.flags |= F_CHANGE_CIPHER_SPEC;
            sh.flags |= if to_server {
                F_CLIENT_CHANGE_CIPHER_SPEC
            } else {
                F_SERVER_CHANGE_CIPHER_SPEC
            };
        }
        ALERT => {}
        APPLICATION => sh.on_application_data(),
        HANDSHAKE => {
            // After a ChangeCipherSpec (either side) handshake records are encrypted,
            // except TLS 1.3's middlebox-compatibility CCS before the ServerHello.
            let tls13_ccs = sh.flags & F_STATE_CLIENT_HELLO != 0
                && client_version > TLS_VERSION_12
                && sh.flags & F_STATE_SERVER_HELLO == 0;
            if sh.flags & F_CHANGE_CIPHER_SPEC == 0 || tls13_ccs {
                if conn.record_length < 4 {
                    conn.parser_reset();
                    return Dec::Error;
                }
                match handshake_protocol(conn, sh, body, to_server) {
                    Some(r) if r <= record_len => {}
                    _ => return Dec::Error,
                }
            }
        }
        HEARTBEAT => {
            if heartbeat(conn.record_length, sh, body, to_server).is_none() {
                return Dec::Error;
            }
        }
        _ => return Dec::Error,
    }
    parsed += record_len;
    conn.bytes_processed += record_len as u32;
    if conn.bytes_processed >= conn.record_length + HDR_LEN {
        // AppLayerParserTriggerRawStreamReassembly
        fed.records_completed += 1;
        conn.parser_reset();
    }
    Dec::Ok(parsed)
}

/// `SupportedHandshakeType`.
fn supported_handshake_type(t: u8) -> bool {
    matches!(
        t,
        HS_CLIENT_HELLO
            | HS_SERVER_HELLO
            | HS_SERVER_KEY_EXCHANGE
            | HS_CLIENT_KEY_EXCHANGE
            | HS_CERTIFICATE
            | HS_HELLO_REQUEST
            | HS_CERTIFICATE_REQUEST
            | HS_CERTIFICATE_VERIFY
            | HS_FINISHED
            | HS_CERTIFICATE_URL
            | HS_CERTIFICATE_STATUS
            | HS_NEW_SESSION_TICKET
            | HS_SERVER_HELLO_DONE
    )
}

/// `SSLv3ParseHandshakeProtocol`: the handshake messages of one whole record; a message
/// longer than what is left of it is gathered in `hs_buffer` across records. `None` is
/// an error.
fn handshake_protocol(
    conn: &mut Conn,
    sh: &mut Shared,
    input: &[u8],
    to_server: bool,
) -> Option<usize> {
    let mut p = 0;
    while p < input.len() {
        let rest = &input[p..];
        if conn.hs_open {
            let need = (conn.hs_size as usize).saturating_sub(conn.hs_buf.len());
            let add = need.min(rest.len());
            conn.hs_buf.extend_from_slice(&rest[..add]);
            if conn.hs_size as usize <= conn.hs_buf.len() {
                let buf = std::mem::take(&mut conn.hs_buf);
                let r = handshake_type(conn, sh, conn.hs_type, &buf, to_server);
                conn.hs_buf = buf;
                r?;
                conn.close_hs_buffer();
            }
            p += add;
            continue;
        }
        if rest.len() < 4 {
            return None;
        }
        let ty = rest[0];
        let msg_len = u32::from_be_bytes([0, rest[1], rest[2], rest[3]]) as usize;
        p += 4;
        let rest = &input[p..];
        if !supported_handshake_type(ty) {
            // Skipped (an event unless encrypted after this side's CCS).
            p += msg_len.min(rest.len());
            continue;
        }
        if msg_len > rest.len() {
            conn.hs_open = true;
            conn.hs_type = ty;
            conn.hs_size = msg_len as u32;
            conn.hs_buf.clear();
            conn.hs_buf.extend_from_slice(rest);
            return Some(input.len());
        }
        p += handshake_type(conn, sh, ty, &rest[..msg_len], to_server)?;
    }
    Some(p)
}

/// `SSLv3ParseHandshakeType`: one whole handshake message body.
fn handshake_type(
    conn: &mut Conn,
    sh: &mut Shared,
    ty: u8,
    msg: &[u8],
    to_server: bool,
) -> Option<usize> {
    if msg.is_empty() {
        return Some(0);
    }
    let set = match ty {
        HS_CLIENT_HELLO => {
            decode_hello(conn, &mut sh.flags, !sh.ja3_off, Hello::Client, msg);
            F_STATE_CLIENT_HELLO
        }
        HS_SERVER_HELLO => {
            decode_hello(conn, &mut sh.flags, !sh.ja3_off, Hello::Server, msg);
            F_STATE_SERVER_HELLO
        }
        HS_SERVER_KEY_EXCHANGE => F_STATE_SERVER_KEYX,
        HS_CLIENT_KEY_EXCHANGE => F_STATE_CLIENT_KEYX,
        HS_CERTIFICATE_REQUEST if !to_server => F_NEED_CLIENT_CERT,
        HS_CERTIFICATE => {
            if sh.certs_on {
                conn.certs.decode(msg);
                sh.cert0[usize::from(!to_server)] = conn.certs.cert0_ready();
            }
            0
        }
        t if supported_handshake_type(t) => 0,
        _ => return None,
    };
    sh.flags |= set;
    Some(msg.len())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hello {
    Client,
    Server,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// `TLSDecodeHandshakeHello`: the fields in order; the first that does not fit ends the
/// hello quietly (Suricata returns 0 either way: a bad hello is never a parser error).
/// `ja3_on` is `ssl_config.enable_ja3`.
fn decode_hello(conn: &mut Conn, flags: &mut u32, ja3_on: bool, kind: Hello, msg: &[u8]) {
    let _ = hello_fields(conn, flags, ja3_on, kind, msg);
}

fn hello_fields(
    conn: &mut Conn,
    flags: &mut u32,
    ja3_on: bool,
    kind: Hello,
    msg: &[u8],
) -> Option<()> {
    let mut p = hello_version(conn, flags, ja3_on, kind, msg)?;
    // Once the hash is there, no later hello adds to the JA3 string.
    let ja3 = ja3_on && conn.ja3.hash.is_none();
    p += hello_random(msg.get(p..)?)?;
    // TLS 1.3 drafts dropped the session id and compression from the ServerHello.
    let full = |flags: u32| kind == Hello::Client || flags & F_LOG_WITHOUT_CERT == 0;
    if full(*flags) {
        p += hello_session_id(msg.get(p..)?)?;
    }
    let ja3_string = ja3.then_some(&mut conn.ja3.string);
    p += hello_cipher_suites(kind, msg.get(p..)?, ja3_string)?;
    if full(*flags) {
        p += hello_compression(kind, msg.get(p..)?)?;
    }
    hello_extensions(conn, flags, ja3, kind, msg.get(p..)?)?;
    if ja3 {
        conn.ja3.finish();
    }
    Some(())
}

/// `TLSDecodeHSHelloVersion`; with JA3 on, the first version read starts the JA3
/// string (as received, before the TLS 1.3 draft mapping).
fn hello_version(
    conn: &mut Conn,
    flags: &mut u32,
    ja3_on: bool,
    kind: Hello,
    b: &[u8],
) -> Option<usize> {
    let v = be16(b, 0)?;
    if ja3_on && !conn.ja3.started {
        conn.ja3.started = true;
        ja3_add(&mut conn.ja3.string, v);
    }
    conn.version = v;
    if kind == Hello::Server && (v == TLS_VERSION_13 || v >> 8 == 0x7f) {
        *flags |= F_LOG_WITHOUT_CERT;
    }
    if (0x7f01..0x7f10).contains(&v) || v == TLS_VERSION_13 {
        conn.version = TLS_VERSION_13_PRE_DRAFT16;
    }
    Some(2)
}

/// `TLSDecodeHSHelloRandom`.
fn hello_random(b: &[u8]) -> Option<usize> {
    (b.len() >= 32).then_some(32)
}

/// `TLSDecodeHSHelloSessionID`.
fn hello_session_id(b: &[u8]) -> Option<usize> {
    let n = usize::from(*b.first()?);
    (b.len() > n).then_some(1 + n)
}

/// `TLSDecodeHSHelloCipherSuites`: a ServerHello has one suite and no length. With
/// `ja3`, the suites that are not GREASE go to the JA3 string.
fn hello_cipher_suites(kind: Hello, b: &[u8], ja3: Option<&mut Vec<u8>>) -> Option<usize> {
    let n = be16(b, 0)?;
    let (at, n) = match kind {
        Hello::Server => (0, 2),
        Hello::Client => (2, usize::from(n)),
    };
    if b.len() - at < n || n % 2 != 0 {
        return None;
    }
    if let Some(string) = ja3 {
        string.push(b',');
        let list_start = string.len();
        for c in b[at..at + n].chunks_exact(2) {
            let v = u16::from_be_bytes([c[0], c[1]]);
            if !is_grease(v) {
                if string.len() > list_start {
                    string.push(b'-');
                }
                ja3_add_digits(string, v);
            }
        }
    }
    Some(at + n)
}

/// `TLSDecodeHSHelloCompressionMethods`: a ServerHello has one method and no length.
fn hello_compression(kind: Hello, b: &[u8]) -> Option<usize> {
    let n = usize::from(*b.first()?);
    match kind {
        Hello::Server => Some(1),
        Hello::Client => (b.len() > n).then_some(1 + n),
    }
}

/// `TLSDecodeHSHelloExtensions`. Each extension decoder returns what it read, which
/// advances the position even when shorter than the extension (the next one is then
/// read from inside it), while the loop counts whole extensions (in 16 bits). `None`
/// is Suricata's `invalid_length` (a missing or overlong length or header); an
/// extension whose contents do not parse ends the hello the other way (`goto end`):
/// the JA3 lists gathered so far are still appended, then hashed.
fn hello_extensions(
    conn: &mut Conn,
    flags: &mut u32,
    ja3: bool,
    kind: Hello,
    b: &[u8],
) -> Option<()> {
    if ja3 {
        conn.ja3.exts.clear();
        conn.ja3.curves.clear();
        conn.ja3.point_formats.clear();
    }
    extension_list(conn, flags, ja3, kind, b)?;
    if ja3 {
        let j = &mut conn.ja3;
        Ja3::append(&mut j.string, &j.exts);
        if kind == Hello::Client {
            Ja3::append(&mut j.string, &j.curves);
            Ja3::append(&mut j.string, &j.point_formats);
        }
    }
    Some(())
}

fn extension_list(
    conn: &mut Conn,
    flags: &mut u32,
    ja3: bool,
    kind: Hello,
    b: &[u8],
) -> Option<()> {
    // Extensions are optional.
    let Some(total) = be16(b, 0) else {
        return Some(());
    };
    let mut p = 2;
    if b.len() - p < usize::from(total) {
        return None;
    }
    // The curve and point-format lists JA3 takes only from a ClientHello.
    let ja3_lists = ja3 && kind == Hello::Client;
    let mut processed: u16 = 0;
    while processed < total {
        let ty = be16(b, p)?;
        p += 2;
        let len = be16(b, p)?;
        p += 2;
        let ext = b.get(p..p + usize::from(len))?;
        let whole = usize::from(len);
        let read = match ty {
            EXT_SNI => ext_sni(conn, ext),
            EXT_ELLIPTIC_CURVES if ja3_lists => ext_curves_ja3(ext, &mut conn.ja3.curves),
            EXT_ELLIPTIC_CURVES => ext_list16(ext),
            EXT_EC_POINT_FORMATS => {
                let read = ext_list8(ext);
                if let (true, Some(end @ 1..)) = (ja3_lists, read) {
                    // A one-byte value is never GREASE.
                    for &v in &ext[1..end] {
                        ja3_add(&mut conn.ja3.point_formats, u16::from(v));
                    }
                }
                read
            }
            EXT_SIGNATURE_ALGORITHMS => ext_signature_algorithms(ext),
            EXT_ALPN => ext_list16(ext).map(|_| whole),
            EXT_EARLY_DATA => {
                if kind == Hello::Client {
                    *flags |= F_EARLY_DATA;
                }
                Some(whole)
            }
            EXT_SUPPORTED_VERSIONS => ext_supported_versions(conn, flags, kind, ext),
            EXT_SESSION_TICKET => {
                if kind == Hello::Client {
                    *flags |= F_SESSION_RESUMED;
                }
                Some(whole)
            }
            _ => Some(whole),
        };
        // `goto end`: this extension's type is not added to JA3.
        let Some(read) = read else {
            return Some(());
        };
        p += read;
        if ja3 && !is_grease(ty) {
            ja3_add(&mut conn.ja3.exts, ty);
        }
        processed = processed.wrapping_add(len.wrapping_add(4));
    }
    Some(())
}

/// `TLSDecodeHSHelloExtensionSni`: a `host_name` of 1..=255 bytes that fits; the first
/// one kept wins. A bad type or length ends the hello; an empty extension is skipped.
fn ext_sni(conn: &mut Conn, b: &[u8]) -> Option<usize> {
    if b.is_empty() {
        return Some(0);
    }
    be16(b, 0)?; // sni_list_length, not checked
    if *b.get(2)? != 0 {
        return None; // TLS_DECODER_EVENT_INVALID_SNI_TYPE
    }
    let n = usize::from(be16(b, 3)?);
    let name = b.get(5..5 + n).filter(|_| (1..=MAX_SNI_LEN).contains(&n))?;
    if conn.sni_len.is_none() {
        conn.sni[..n].copy_from_slice(name);
        conn.sni_len = Some(n as u8);
    } // else TLS_DECODER_EVENT_MULTIPLE_SNI_EXTENSIONS
    Some(5 + n)
}

/// Extensions with a 16-bit list length (elliptic curves, ALPN).
fn ext_list16(b: &[u8]) -> Option<usize> {
    if b.is_empty() {
        return Some(0);
    }
    let n = usize::from(be16(b, 0)?);
    (b.len() - 2 >= n).then_some(2 + n)
}

/// `TLSDecodeHSHelloExtensionEllipticCurves` of the first ClientHello with JA3 on: the
/// list is read two bytes at a time while fewer than its length were read, so an odd
/// length reads one byte past it, and fails if that is past the extension (the
/// curves read until then stay in the JA3 list).
fn ext_curves_ja3(b: &[u8], curves: &mut Vec<u8>) -> Option<usize> {
    if b.is_empty() {
        return Some(0);
    }
    let n = usize::from(be16(b, 0)?);
    if b.len() - 2 < n {
        return None;
    }
    let mut p = 2;
    while p - 2 < n {
        let v = be16(b, p)?;
        p += 2;
        if !is_grease(v) {
            ja3_add(curves, v);
        }
    }
    Some(p)
}

/// `TLSDecodeHSHelloExtensionEllipticCurvePF`.
fn ext_list8(b: &[u8]) -> Option<usize> {
    let Some(&n) = b.first() else {
        return Some(0);
    };
    let n = usize::from(n);
    (b.len() > n).then_some(1 + n)
}

/// `TLSDecodeHSHelloExtensionSigAlgorithms`.
fn ext_signature_algorithms(b: &[u8]) -> Option<usize> {
    if b.is_empty() {
        return Some(0);
    }
    let n = usize::from(be16(b, 0)?);
    (n % 2 == 0 && b.len() - 2 >= n).then_some(2 + n)
}

/// `TLSDecodeHSHelloExtensionSupportedVersions`: a client's first valid version, or
/// the server's choice (any value).
fn ext_supported_versions(
    conn: &mut Conn,
    flags: &mut u32,
    kind: Hello,
    b: &[u8],
) -> Option<usize> {
    if b.is_empty() {
        return Some(0);
    }
    match kind {
        Hello::Client => {
            let n = usize::from(b[0]);
            if n < 2 || b.len() - 1 < n {
                return None;
            }
            let list = &b[1..=n];
            if let Some(v) = list
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .find(|&v| version_valid(v))
            {
                conn.version = v;
            }
            *flags |= F_CH_VERSION_EXTENSION;
            Some(1 + n)
        }
        Hello::Server => {
            let v = be16(b, 0)?;
            if *flags & F_CH_VERSION_EXTENSION != 0 && v > TLS_VERSION_12 {
                *flags |= F_LOG_WITHOUT_CERT;
            }
            conn.version = v;
            Some(2)
        }
    }
}

/// `SSLv3ParseHeartbeatProtocol` on a whole record body: `None` is an error (a bad
/// type before CCS, a payload overflowing the record (CVE-2014-0160), short padding, a
/// second heartbeat in flight from the same side, or an encrypted response longer
/// than its request).
fn heartbeat(record_length: u32, sh: &mut Shared, b: &[u8], to_server: bool) -> Option<()> {
    if b.len() < 3 {
        return Some(());
    }
    let ccs = sh.flags & F_CHANGE_CIPHER_SPEC != 0;
    if !ccs && !matches!(b[0], 1 | 2) {
        return None;
    }
    if sh.flags & F_HB_INFLIGHT == 0 {
        sh.flags |= F_HB_INFLIGHT;
        sh.flags |= if to_server {
            F_HB_CLIENT_INIT
        } else {
            F_HB_SERVER_INIT
        };
        if ccs {
            sh.hb_record_len = record_length;
            return Some(());
        }
        let payload = u32::from(be16(b, 1)?);
        if payload + 3 > record_length || record_length - payload - 3 < 16 {
            return None;
        }
        return Some(());
    }
    let own = if to_server {
        F_HB_CLIENT_INIT
    } else {
        F_HB_SERVER_INIT
    };
    if sh.flags & own != 0 {
        return None;
    }
    sh.flags &= !(F_HB_INFLIGHT | F_HB_SERVER_INIT | F_HB_CLIENT_INIT);
    let leak = ccs && sh.hb_record_len > 0 && sh.hb_record_len < record_length;
    sh.hb_record_len = 0;
    (!leak).then_some(())
}

/// `SSLv2ParseRecord`: the 2- or 3-byte length header and the message type.
fn sslv2_parse_header(conn: &mut Conn, input: &[u8]) -> usize {
    let three = conn.record_lengths_length != 2;
    let mask = if three { 0x3f } else { 0x7f };
    let end = conn.record_lengths_length as usize + 1;
    let mut n = 0;
    for &b in input {
        match conn.bytes_processed as usize + n {
            0 => conn.record_length = u32::from(b & mask) << 8,
            1 => conn.record_length |= u32::from(b),
            2 if three => {} // padding
            i if i + 1 == end => {
                conn.content_type = b;
                conn.version = SSL_VERSION_2;
            }
            _ => break,
        }
        n += 1;
    }
    conn.bytes_processed += n as u32;
    n
}

/// `SSLv2Decode`: one SSLv2 record. Its consumed count is computed as Suricata's (in
/// 32 bits), which ends at the record's end even when a short ClientHello read past it.
fn sslv2_decode(conn: &mut Conn, sh: &mut Shared, input: &[u8], to_server: bool) -> Dec {
    let len = input.len();
    if conn.bytes_processed == 0 {
        conn.record_lengths_length = if input[0] & 0x80 != 0 { 2 } else { 3 };
    }
    let rll = conn.record_lengths_length;
    let mut pos = 0;
    if conn.bytes_processed < rll + 1 {
        pos = sslv2_parse_header(conn, input);
    }
    let mut rem = len - pos;
    let rl = conn.record_length;
    if u64::from(rll + rl) > rem as u64 + u64::from(conn.bytes_processed) {
        return Dec::Incomplete(pos, rl);
    }
    if rem == 0 {
        return Dec::Ok(pos);
    }
    if rl == 0 {
        return Dec::Error; // TLS_DECODER_EVENT_INVALID_SSLV2_HEADER
    }
    let flags = sh.flags;
    let mut cur = 0;
    match conn.content_type {
        V2_ERROR => {}
        V2_CLIENT_HELLO => {
            if rem < 6 {
                return Dec::Error;
            }
            cur = F_STATE_CLIENT_HELLO | F_SSL_CLIENT_HS;
            conn.version = be16(input, pos).unwrap_or(0);
            if be16(input, pos + 4) == Some(0) {
                cur |= F_SSL_NO_SESSION_ID;
            }
            pos += 6;
            rem -= 6;
            conn.bytes_processed += 6;
        }
        V2_CLIENT_MASTER_KEY => cur = F_SSL_CLIENT_MASTER_KEY,
        t @ (V2_CLIENT_CERTIFICATE
        | V2_SERVER_VERIFY
        | V2_SERVER_FINISHED
        | V2_CLIENT_FINISHED
        | V2_REQUEST_CERTIFICATE) => {
            if t == V2_CLIENT_CERTIFICATE && to_server {
                cur = F_STATE_CLIENT_KEYX;
            }
            if flags & F_SSL_CLIENT_HS != 0 && flags & F_SSL_SERVER_HS != 0 {
                if !to_server {
                    cur = F_SSL_SERVER_SSN_ENCRYPTED;
                } else if flags & F_SSL_NO_SESSION_ID != 0 {
                    cur |= F_SSL_CLIENT_SSN_ENCRYPTED;
                } else if flags & F_SSL_CLIENT_MASTER_KEY != 0 {
                    cur = F_SSL_CLIENT_SSN_ENCRYPTED;
                }
                let both = F_SSL_CLIENT_SSN_ENCRYPTED | F_SSL_SERVER_SSN_ENCRYPTED;
                if flags & both == both {
                    sh.on_sslv2_encrypted();
                }
            }
        }
        V2_SERVER_HELLO => cur = F_STATE_SERVER_HELLO | F_SSL_SERVER_HS,
        _ => {}
    }
    sh.flags |= cur;
    if rem as u64 + u64::from(conn.bytes_processed) >= u64::from(rl + rll) {
        let diff = (rl + rll).wrapping_sub(conn.bytes_processed);
        let consumed = (pos as u32).wrapping_add(diff) as i32;
        conn.parser_reset();
        if consumed < 0 {
            return Dec::Error;
        }
        Dec::Ok(consumed as usize)
    } else {
        conn.bytes_processed += rem as u32;
        Dec::Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello handshake message (type, 24-bit length, body).
    struct Ch {
        version: u16,
        session_id: Vec<u8>,
        ciphers: Vec<u16>,
        compression: Vec<u8>,
        /// `None`: no extensions block at all.
        exts: Option<Vec<(u16, Vec<u8>)>>,
    }

    impl Default for Ch {
        fn default() -> Ch {
            Ch {
                version: 0x0303,
                session_id: vec![7; 32],
                ciphers: vec![0x1301, 0xc02f],
                compression: vec![0],
                exts: Some(Vec::new()),
            }
        }
    }

    impl Ch {
        fn sni(name: &[u8]) -> Ch {
            Ch::default().ext(EXT_SNI, sni_ext(&[(0, name)]))
        }

        fn ext(mut self, ty: u16, data: Vec<u8>) -> Ch {
            self.exts.get_or_insert_with(Vec::new).push((ty, data));
            self
        }

        fn body(&self) -> Vec<u8> {
            let mut b = self.version.to_be_bytes().to_vec();
            b.extend_from_slice(&[0xab; 32]);
            b.push(self.session_id.len() as u8);
            b.extend_from_slice(&self.session_id);
            b.extend_from_slice(&((self.ciphers.len() * 2) as u16).to_be_bytes());
            for c in &self.ciphers {
                b.extend_from_slice(&c.to_be_bytes());
            }
            b.push(self.compression.len() as u8);
            b.extend_from_slice(&self.compression);
            if let Some(exts) = &self.exts {
                b.extend(extensions(exts));
            }
            b
        }

        fn message(&self) -> Vec<u8> {
            hs(HS_CLIENT_HELLO, &self.body())
        }

        fn record(&self) -> Vec<u8> {
            record(HANDSHAKE, 0x0301, &self.message())
        }
    }

    /// A hello's extensions block: its length, then each extension's type, length, data.
    fn extensions(exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut e = Vec::new();
        for (ty, d) in exts {
            e.extend_from_slice(&ty.to_be_bytes());
            e.extend_from_slice(&(d.len() as u16).to_be_bytes());
            e.extend_from_slice(d);
        }
        let mut out = (e.len() as u16).to_be_bytes().to_vec();
        out.extend(e);
        out
    }

    fn hs(ty: u8, body: &[u8]) -> Vec<u8> {
        let n = (body.len() as u32).to_be_bytes();
        let mut m = vec![ty, n[1], n[2], n[3]];
        m.extend_from_slice(body);
        m
    }

    fn sni_ext(names: &[(u8, &[u8])]) -> Vec<u8> {
        let mut list = Vec::new();
        for (ty, n) in names {
            list.push(*ty);
            list.extend_from_slice(&(n.len() as u16).to_be_bytes());
            list.extend_from_slice(n);
        }
        let mut e = (list.len() as u16).to_be_bytes().to_vec();
        e.extend_from_slice(&list);
        e
    }

    fn record(ct: u8, version: u16, body: &[u8]) -> Vec<u8> {
        let mut r = vec![ct];
        r.extend_from_slice(&version.to_be_bytes());
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn client(data: &[u8]) -> (TlsSide, Fed) {
        let mut s = TlsSide::default();
        let f = s.feed(data, true);
        (s, f)
    }

    #[test]
    fn sni_present() {
        let (s, f) = client(&Ch::sni(b"example.com").record());
        assert_eq!(s.sni(), Some(&b"example.com"[..]));
        assert_eq!(f.records_completed, 1);
        assert!(!f.error && !s.stopped());
        assert_eq!(s.version(), 0x0303);
    }

    #[test]
    fn sni_absent_or_no_extensions() {
        let (s, f) = client(&Ch::default().record());
        assert_eq!(s.sni(), None);
        assert_eq!(f.records_completed, 1);
        let ch = Ch {
            exts: None,
            ..Ch::default()
        };
        let (s, f) = client(&ch.record());
        assert_eq!((s.sni(), f.error), (None, false));
    }

    #[test]
    fn empty_sni_extension_is_skipped_and_later_ones_parsed() {
        let ch = Ch::default()
            .ext(EXT_SNI, Vec::new())
            .ext(EXT_SNI, sni_ext(&[(0, b"b.example")]));
        assert_eq!(client(&ch.record()).0.sni(), Some(&b"b.example"[..]));
    }

    #[test]
    fn zero_or_over_255_sni_length_ends_the_hello_without_error() {
        let (s, f) = client(&Ch::sni(b"").record());
        assert_eq!((s.sni(), f.error), (None, false));
        let long = vec![b'a'; 256];
        let (s, f) = client(&Ch::sni(&long).record());
        assert_eq!((s.sni(), f.error), (None, false));
        let max = vec![b'a'; 255];
        assert_eq!(client(&Ch::sni(&max).record()).0.sni(), Some(&max[..]));
        // A name longer than its extension: invalid length.
        let mut e = sni_ext(&[(0, b"abc")]);
        e.truncate(e.len() - 1);
        let (s, _) = client(&Ch::default().ext(EXT_SNI, e).record());
        assert_eq!(s.sni(), None);
    }

    #[test]
    fn first_of_two_sni_extensions_wins() {
        let ch = Ch::sni(b"first.example").ext(EXT_SNI, sni_ext(&[(0, b"second")]));
        assert_eq!(client(&ch.record()).0.sni(), Some(&b"first.example"[..]));
    }

    #[test]
    fn non_host_name_type_ends_the_hello() {
        let ch = Ch::default()
            .ext(EXT_SNI, sni_ext(&[(1, b"x.example")]))
            .ext(EXT_SNI, sni_ext(&[(0, b"later")]));
        let (s, f) = client(&ch.record());
        assert_eq!((s.sni(), f.error), (None, false));
    }

    #[test]
    fn sni_is_a_c_string() {
        assert_eq!(
            client(&Ch::sni(b"ab\0cd").record()).0.sni(),
            Some(&b"ab"[..])
        );
        // A leading NUL leaves an empty, existing buffer.
        assert_eq!(client(&Ch::sni(b"\0x").record()).0.sni(), Some(&b""[..]));
    }

    #[test]
    fn the_next_extension_is_read_where_sni_parsing_stopped() {
        // Suricata advances by what the SNI decoder read, not by the extension's length:
        // bytes left inside the SNI extension are read as the next extension header. Here
        // they say early_data, which then keeps application data before the ServerHello
        // from stopping inspection.
        let app = record(APPLICATION, 0x0303, &[7; 30]);
        for (trailing, encrypted) in [(&[][..], true), (&[0x00, 0x2a, 0x00, 0x00][..], false)] {
            let mut sni = sni_ext(&[(0, b"one")]);
            sni.extend_from_slice(trailing);
            let ch = Ch::default().ext(EXT_SNI, sni).ext(0x0015, Vec::new());
            let mut flow = TlsFlow::default();
            assert!(!flow.feed(true, &ch.record()).error);
            assert_eq!(flow.client.sni(), Some(&b"one"[..]));
            assert_eq!(flow.feed(true, &app).encrypted_now, encrypted);
        }
    }

    #[test]
    fn supported_versions_sets_the_client_version() {
        let ch = Ch::sni(b"a").ext(EXT_SUPPORTED_VERSIONS, vec![4, 0x2a, 0x2a, 0x03, 0x04]);
        assert_eq!(client(&ch.record()).0.version(), TLS_VERSION_13);
        // A legacy version of 0x0304 is kept as draft-<16.
        let ch = Ch {
            version: 0x0304,
            ..Ch::default()
        };
        assert_eq!(client(&ch.record()).0.version(), TLS_VERSION_13_PRE_DRAFT16);
    }

    #[test]
    fn client_hello_split_across_two_records() {
        let msg = Ch::sni(b"split.example").message();
        let (a, b) = msg.split_at(40);
        let mut s = TlsSide::default();
        let f = s.feed(&record(HANDSHAKE, 0x0301, a), true);
        assert_eq!((f.records_completed, s.sni()), (1, None));
        let f = s.feed(&record(HANDSHAKE, 0x0301, b), true);
        assert_eq!(f.records_completed, 1);
        assert_eq!(s.sni(), Some(&b"split.example"[..]));
    }

    #[test]
    fn two_messages_in_one_record() {
        let mut body = hs(HS_HELLO_REQUEST, &[]);
        body.extend(Ch::sni(b"two.example").message());
        let (s, f) = client(&record(HANDSHAKE, 0x0301, &body));
        assert_eq!(
            (s.sni(), f.records_completed),
            (Some(&b"two.example"[..]), 1)
        );
    }

    fn conversation() -> Vec<u8> {
        let msg = Ch::sni(b"bytes.example").message();
        let (a, b) = msg.split_at(17);
        let mut data = record(HANDSHAKE, 0x0301, a);
        data.extend(record(HANDSHAKE, 0x0301, b));
        data.extend(record(CHANGE_CIPHER_SPEC, 0x0303, &[1]));
        data.extend(record(APPLICATION, 0x0303, &[9; 40]));
        data
    }

    #[test]
    fn fed_one_byte_at_a_time_equals_fed_at_once() {
        let data = conversation();
        let mut whole = TlsFlow::default();
        let f = whole.feed(true, &data);
        assert_eq!(f.records_completed, 4);
        assert!(f.encrypted_now && !f.error);
        let mut bytes = TlsFlow::default();
        let (mut records, mut encrypted) = (0, 0);
        for b in &data {
            let f = bytes.feed(true, std::slice::from_ref(b));
            assert!(!f.error);
            records += f.records_completed;
            encrypted += u32::from(f.encrypted_now);
        }
        assert_eq!((records, encrypted), (4, 1));
        assert_eq!(bytes.client.sni(), whole.client.sni());
        assert_eq!(bytes.client.version(), whole.client.version());
        assert_eq!(bytes.parser_flags(), whole.parser_flags());
    }

    #[test]
    fn a_record_completes_only_with_its_last_byte() {
        let r = Ch::sni(b"x.example").record();
        let mut s = TlsSide::default();
        assert_eq!(s.feed(&r[..5], true).records_completed, 0);
        assert_eq!(s.feed(&r[5..r.len() - 1], true).records_completed, 0);
        assert_eq!(s.sni(), None);
        let f = s.feed(&r[r.len() - 1..], true);
        assert_eq!(f.records_completed, 1);
        assert_eq!(s.sni(), Some(&b"x.example"[..]));
    }

    #[test]
    fn record_header_errors() {
        let mut big = vec![HANDSHAKE, 3, 3];
        big.extend_from_slice(&(RECORD_MAX_LEN as u16 + 1).to_be_bytes());
        for bad in [
            record(HANDSHAKE, 0x0305, &[1, 0, 0, 0]), // invalid version
            record(HANDSHAKE, 0x0303, &[]),           // empty record
            record(0x30, 0x0303, &[0]),               // unknown type (TLS 1.2)
            record(HANDSHAKE, 0x0303, &[1, 0]),       // handshake under 4 bytes
            big,                                      // over 2^14 + 1024
        ] {
            let (mut s, f) = client(&bad);
            assert!(f.error && s.stopped() && s.errored(), "{bad:02x?}");
            // A stopped side takes nothing more.
            assert_eq!(s.feed(&Ch::sni(b"a").record(), true), Fed::default());
            assert_eq!(s.sni(), None);
        }
        // An unsupported handshake message type is skipped, not an error.
        let (s, f) = client(&record(HANDSHAKE, 0x0303, &[0x42, 0, 0, 0]));
        assert!(!f.error && !s.stopped() && f.records_completed == 1);
    }

    #[test]
    fn handshake_bytes_left_under_4_are_an_error() {
        let mut body = Ch::sni(b"a").message();
        body.extend_from_slice(&[0, 0]);
        let (s, f) = client(&record(HANDSHAKE, 0x0303, &body));
        assert!(f.error);
        // The hello before it was parsed.
        assert_eq!(s.sni(), Some(&b"a"[..]));
    }

    #[test]
    fn unknown_record_after_tls10_skips_the_rest_of_the_call() {
        let mut data = record(HANDSHAKE, 0x0301, &hs(HS_HELLO_REQUEST, &[]));
        data.extend(record(0x30, 0x0301, &[0]));
        data.extend(Ch::sni(b"lost").record());
        let (s, f) = client(&data);
        assert!(!f.error);
        assert_eq!((f.records_completed, s.sni()), (1, None));
        // The next call starts a fresh record.
        let mut s = s;
        s.feed(&Ch::sni(b"next").record(), true);
        assert_eq!(s.sni(), Some(&b"next"[..]));
    }

    #[test]
    fn a_client_error_stops_both_sides() {
        let mut flow = TlsFlow::default();
        let f = flow.feed(true, &record(HANDSHAKE, 0x0999, &[1, 0, 0, 0]));
        assert!(f.error && flow.stopped() && flow.server.stopped());
        assert_eq!(
            flow.feed(false, &record(HANDSHAKE, 0x0303, &[14, 0, 0, 0])),
            Fed::default()
        );
    }

    #[test]
    fn too_many_records_in_one_call() {
        // SSLv2 records of 3 bytes: a call may loop over len / 6 records (at least 1),
        // then one more.
        let (s, f) = client(&[0x80, 1, 0].repeat(3));
        assert!(f.error && s.stopped());
        let (_, f) = client(&[0x80, 1, 0].repeat(2));
        assert!(!f.error && f.records_completed == 0);
        let (_, f) = client(&[0x80, 1, 0].repeat(4));
        assert!(f.error);
    }

    #[test]
    fn sslv2_client_hello() {
        // 2-byte header, CLIENT-HELLO offering TLS 1.0, no session id.
        let mut m = vec![V2_CLIENT_HELLO, 0x03, 0x01, 0, 3, 0, 0, 0, 16];
        m.extend_from_slice(&[0, 0, 0x2f]);
        m.extend_from_slice(&[5; 16]);
        let mut r = vec![0x80 | (m.len() >> 8) as u8, m.len() as u8];
        r.extend_from_slice(&m);
        let (mut s, f) = client(&r);
        assert!(!f.error);
        assert_eq!((f.records_completed, s.version()), (0, TLS_VERSION_10));
        // Then TLS records go on with that version.
        let f = s.feed(&Ch::sni(b"v2.example").record(), true);
        assert!(!f.error);
        assert_eq!(s.sni(), Some(&b"v2.example"[..]));
    }

    #[test]
    fn sslv2_waits_for_one_byte_past_its_record() {
        // Suricata asks for record_length bytes after the header although only
        // record_length - 1 are left: the record is parsed once one more byte came.
        let mut s = TlsSide::default();
        assert_eq!(s.feed(&[0x80, 4, V2_ERROR], true), Fed::default());
        assert_eq!((s.pending.len(), s.required), (0, 4));
        s.feed(&[1, 2, 3], true);
        assert_eq!((s.pending.len(), s.required), (3, 4));
        s.feed(&[0x16], true);
        assert_eq!((s.pending.len(), s.required), (0, 0));
        // The byte past the record started the next one.
        assert_eq!(s.conn.bytes_processed, 1);
    }

    fn server_hello(exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&[1; 32]);
        b.push(0);
        b.extend_from_slice(&[0x13, 0x01, 0]);
        b.extend(extensions(exts));
        record(HANDSHAKE, 0x0303, &hs(HS_SERVER_HELLO, &b))
    }

    fn tls12_handshake(flow: &mut TlsFlow) -> [Fed; 4] {
        [
            flow.feed(true, &Ch::sni(b"h.example").record()),
            flow.feed(false, &server_hello(&[])),
            flow.feed(true, &record(CHANGE_CIPHER_SPEC, 0x0303, &[1])),
            flow.feed(false, &record(CHANGE_CIPHER_SPEC, 0x0303, &[1])),
        ]
    }

    #[test]
    fn default_handling_stops_inspection_at_the_first_application_data_byte() {
        let mut flow = TlsFlow::default();
        for f in tls12_handshake(&mut flow) {
            assert!(!f.encrypted_now && !f.error);
        }
        // Encrypted Finished: a handshake record after CCS is not parsed.
        let f = flow.feed(true, &record(HANDSHAKE, 0x0303, &[0xee; 40]));
        assert!(!f.error && !f.encrypted_now && f.records_completed == 1);
        // An application-data header alone does not do it; its first body byte does.
        let app = record(APPLICATION, 0x0303, &[7; 30]);
        assert!(!flow.feed(false, &app[..5]).encrypted_now);
        let f = flow.feed(false, &app[5..6]);
        assert!(f.encrypted_now && f.records_completed == 0);
        assert_eq!(
            flow.parser_flags(),
            ParserFlags {
                no_inspection_payload: true,
                ..ParserFlags::default()
            }
        );
        // Parsing goes on; the moment is reported once.
        let f = flow.feed(false, &app[6..]);
        assert!(!f.encrypted_now && f.records_completed == 1);
        assert!(!flow.feed(true, &app).encrypted_now);
        assert!(!flow.stopped() && flow.inspection_stopped());
    }

    #[test]
    fn bypass_and_full_handling() {
        let app = record(APPLICATION, 0x0303, &[7; 30]);
        let mut flow = TlsFlow::new(EncryptionHandling::Bypass);
        tls12_handshake(&mut flow);
        assert!(flow.feed(true, &app).encrypted_now);
        assert!(flow.stopped());
        let p = flow.parser_flags();
        assert!(p.no_inspection && p.no_reassembly && p.bypass_ready);

        let mut flow = TlsFlow::new(EncryptionHandling::Full);
        tls12_handshake(&mut flow);
        assert!(!flow.feed(true, &app).encrypted_now);
        assert_eq!(flow.parser_flags(), ParserFlags::default());
        // reset keeps the handling.
        flow.reset();
        tls12_handshake(&mut flow);
        assert!(!flow.feed(false, &app).encrypted_now);
    }

    #[test]
    fn early_data_before_the_server_hello_does_not_stop_inspection() {
        let mut flow = TlsFlow::default();
        let ch = Ch::sni(b"0rtt").ext(EXT_EARLY_DATA, Vec::new());
        flow.feed(true, &ch.record());
        let app = record(APPLICATION, 0x0303, &[7; 30]);
        assert!(!flow.feed(true, &app).encrypted_now);
        flow.feed(false, &server_hello(&[]));
        assert!(flow.feed(true, &app).encrypted_now);
    }

    #[test]
    fn tls13_handshake_after_middlebox_ccs_is_still_parsed() {
        let mut flow = TlsFlow::default();
        let ch = Ch::sni(b"first").ext(EXT_SUPPORTED_VERSIONS, vec![2, 3, 4]);
        flow.feed(true, &ch.record());
        flow.feed(true, &record(CHANGE_CIPHER_SPEC, 0x0303, &[1]));
        // A second ClientHello (after a HelloRetryRequest, say): parsed, its SNI is a
        // second one, the first stays.
        let f = flow.feed(true, &Ch::sni(b"second").record());
        assert!(!f.error);
        assert_eq!(flow.client.sni(), Some(&b"first"[..]));
        // A to-server record with an invalid version is fine after a hello: the
        // hello's version is kept.
        assert!(!flow.feed(true, &record(ALERT, 0x0999, &[1, 0])).error);
    }

    #[test]
    fn server_supported_versions_decides_the_server_record_version() {
        let mut flow = TlsFlow::default();
        flow.feed(
            true,
            &Ch::sni(b"a")
                .ext(EXT_SUPPORTED_VERSIONS, vec![2, 3, 4])
                .record(),
        );
        flow.feed(
            false,
            &server_hello(&[(EXT_SUPPORTED_VERSIONS, vec![0x03, 0x05])]),
        );
        assert_eq!(flow.server.version(), 0x0305);
        // The kept version is invalid: the server's next record is an error.
        let f = flow.feed(false, &record(CHANGE_CIPHER_SPEC, 0x0303, &[1]));
        assert!(f.error && flow.stopped());
    }

    #[test]
    fn heartbeat_overflow_is_an_error() {
        // Payload length 0x4000 in a 20-byte record (Heartbleed).
        let mut body = vec![1, 0x40, 0x00];
        body.extend_from_slice(&[0; 17]);
        let (s, f) = client(&record(HEARTBEAT, 0x0303, &body));
        assert!(f.error && s.stopped());
        let mut body = vec![1, 0, 1, 0xaa];
        body.extend_from_slice(&[0; 16]);
        let (_, f) = client(&record(HEARTBEAT, 0x0303, &body));
        assert!(!f.error && f.records_completed == 1);
    }

    #[test]
    fn probe_patterns() {
        let ch = Ch::sni(b"a").record();
        assert_eq!(probe(&ch, true), Probe::Tls);
        assert_eq!(probe(&ch[..3], true), Probe::Tls);
        assert_eq!(probe(&ch[..2], true), Probe::NeedMore);
        assert_eq!(probe(&[], true), Probe::NeedMore);
        assert_eq!(probe(&[0x16, 0x03, 0x04], true), Probe::NotTls);
        assert_eq!(probe(b"GET / HTTP/1.1\r\n", true), Probe::NotTls);
        assert_eq!(probe(b"G", true), Probe::NotTls);
        // To-server patterns do not apply to client, and 17 03 03 is to-client only.
        assert_eq!(probe(&[0x01, 0x03, 0x03], false), Probe::NotTls);
        assert_eq!(probe(&[0x17, 0x03, 0x03], false), Probe::Tls);
        assert_eq!(probe(&[0x17, 0x03, 0x03], true), Probe::NotTls);
        assert_eq!(probe(&[0x15], false), Probe::NeedMore);
    }

    #[test]
    fn probe_sslv2() {
        // 01 00 02 at offset 2 with the top bit of byte 0: told at 5 bytes.
        let v2 = [0x80, 0x2e, 0x01, 0x00, 0x02, 0x00];
        assert_eq!(probe(&v2[..4], true), Probe::NeedMore);
        assert_eq!(probe(&v2[..5], true), Probe::Tls);
        assert_eq!(probe(&[0x00, 0x2e, 0x01, 0x00, 0x02], true), Probe::NotTls);
        // Offering TLS 1.0 in SSLv2 form: only the port-443 probing parser tells it.
        let v23 = [0x80, 0x2e, 0x01, 0x03, 0x01];
        assert_eq!(probe(&v23, true), Probe::NotTls);
        assert_eq!(probe_with_pp(&v23[..2], true, true), Probe::NeedMore);
        assert_eq!(probe_with_pp(&v23[..3], true, true), Probe::Tls);
        assert_eq!(probe_with_pp(&v23, false, true), Probe::NotTls);
        assert_eq!(probe_with_pp(&[0x80, 0, 2], true, true), Probe::NotTls);
    }

    #[test]
    fn reset_forgets_and_keeps_capacity() {
        let mut flow = TlsFlow::default();
        let msg = Ch::sni(b"r").message();
        flow.feed(true, &record(HANDSHAKE, 0x0301, &msg[..20]));
        flow.feed(true, &record(HANDSHAKE, 0x0301, &msg[20..])[..10]);
        flow.reset();
        assert_eq!(flow.client.sni(), None);
        assert!(flow.client.conn.hs_buf.capacity() > 0 && flow.client.pending.capacity() > 0);
        flow.feed(true, &Ch::sni(b"again").record());
        assert_eq!(flow.client.sni(), Some(&b"again"[..]));
    }

    fn curves(list: &[u16]) -> Vec<u8> {
        let mut e = ((list.len() * 2) as u16).to_be_bytes().to_vec();
        for c in list {
            e.extend_from_slice(&c.to_be_bytes());
        }
        e
    }

    fn point_formats(list: &[u8]) -> Vec<u8> {
        let mut e = vec![list.len() as u8];
        e.extend_from_slice(list);
        e
    }

    fn ja3(s: &TlsSide) -> (Option<&str>, Option<&str>) {
        fn text(b: &[u8]) -> &str {
            std::str::from_utf8(b).unwrap()
        }
        (s.ja3_string().map(text), s.ja3_hash().map(text))
    }

    #[test]
    fn grease_values() {
        let listed = [
            0x0a0a, 0x1a1a, 0x2a2a, 0x3a3a, 0x4a4a, 0x5a5a, 0x6a6a, 0x7a7a, 0x8a8a, 0x9a9a, 0xaaaa,
            0xbaba, 0xcaca, 0xdada, 0xeaea, 0xfafa,
        ];
        for v in 0..=u16::MAX {
            assert_eq!(is_grease(v), listed.contains(&v), "{v:#06x}");
        }
    }

    #[test]
    fn ja3_of_the_reference_hello() {
        // The example of the JA3 README (salesforce/ja3), with its published MD5.
        let ch = Ch {
            version: 0x0301,
            ciphers: vec![47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4],
            ..Ch::sni(b"a.example")
        }
        .ext(EXT_ELLIPTIC_CURVES, curves(&[23, 24, 25]))
        .ext(EXT_EC_POINT_FORMATS, point_formats(&[0]));
        let (s, f) = client(&ch.record());
        assert!(!f.error);
        assert_eq!(
            ja3(&s),
            (
                Some("769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0"),
                Some("ada70206e40642a3e4461f35503241d5")
            )
        );
    }

    #[test]
    fn ja3_leaves_grease_out() {
        let ch = Ch {
            ciphers: vec![0x0a0a, 0x1301, 0x1302, 0xc02f],
            exts: Some(vec![(0x1a1a, Vec::new())]),
            ..Ch::default()
        }
        .ext(EXT_SNI, sni_ext(&[(0, b"g.example")]))
        .ext(EXT_ELLIPTIC_CURVES, curves(&[0x2a2a, 0x001d, 0x0017]))
        .ext(EXT_EC_POINT_FORMATS, point_formats(&[0]))
        .ext(EXT_SESSION_TICKET, Vec::new())
        .ext(EXT_SUPPORTED_VERSIONS, vec![6, 0x3a, 0x3a, 3, 4, 3, 3])
        .ext(0xfafa, vec![0]);
        let (s, _) = client(&ch.record());
        // The hello's version, not the supported_versions choice.
        assert_eq!(s.version(), 0x0304);
        assert_eq!(
            ja3(&s),
            (
                Some("771,4865-4866-49199,0-10-11-35-43,29-23,0"),
                Some("6f4c8724636776ce20066e9d01ad13fe")
            )
        );
    }

    #[test]
    fn ja3_without_curves_or_point_formats() {
        let want = (
            Some("771,4865-49199,,,"),
            Some("6ac28f635e78b6e59638f7a1e035f458"),
        );
        assert_eq!(ja3(&client(&Ch::default().record()).0), want);
        let no_block = Ch {
            exts: None,
            ..Ch::default()
        };
        assert_eq!(ja3(&client(&no_block.record()).0), want);
        assert_eq!(
            ja3(&client(&Ch::sni(b"x").record()).0),
            (
                Some("771,4865-49199,0,,"),
                Some("349640b9e304f8ea23a8e0f71dde2248")
            )
        );
        // Empty curve and point-format extensions: their types, empty lists.
        let empty = Ch::default()
            .ext(EXT_ELLIPTIC_CURVES, Vec::new())
            .ext(EXT_EC_POINT_FORMATS, point_formats(&[]));
        assert_eq!(
            ja3(&client(&empty.record()).0).0,
            Some("771,4865-49199,10-11,,")
        );
    }

    /// A ClientHello message whose body is cut to `n` bytes.
    fn cut_hello(ch: &Ch, n: usize) -> Vec<u8> {
        record(HANDSHAKE, 0x0301, &hs(HS_CLIENT_HELLO, &ch.body()[..n]))
    }

    #[test]
    fn a_cut_hello_leaves_a_partial_string_and_no_hash() {
        let ch = Ch::sni(b"cut.example");
        // 2 version, 32 random, 33 session id, 6 cipher suites, 2 compression.
        for (n, want) in [
            (1, None),
            (2, Some("771")),
            (30, Some("771")),
            (67, Some("771")),
            (72, Some("771")),
            (73, Some("771,4865-49199")),
            (74, Some("771,4865-49199")),
            (77, Some("771,4865-49199")),
            (80, Some("771,4865-49199")),
        ] {
            let (s, f) = client(&cut_hello(&ch, n));
            assert!(!f.error);
            assert_eq!(ja3(&s), (want, None), "cut at {n}");
        }
        // Cut right after the compression methods: no extensions, a whole JA3.
        let (s, _) = client(&cut_hello(&ch, 75));
        assert_eq!(ja3(&s).0, Some("771,4865-49199,,,"));
        assert!(s.ja3_hash().is_some());
        // The extensions block longer than the hello: no lists, no hash.
        let (s, _) = client(&cut_hello(&ch, ch.body().len() - 1));
        assert_eq!(ja3(&s), (Some("771,4865-49199"), None));
    }

    #[test]
    fn an_extension_that_ends_the_hello_still_gives_a_hash() {
        // A bad SNI type ends the extensions: what came before it is kept and hashed.
        let ch = Ch::default()
            .ext(EXT_ELLIPTIC_CURVES, curves(&[29]))
            .ext(EXT_SNI, sni_ext(&[(1, b"bad")]))
            .ext(EXT_EC_POINT_FORMATS, point_formats(&[0]));
        assert_eq!(
            ja3(&client(&ch.record()).0),
            (
                Some("771,4865-49199,10,29,"),
                Some("1ad3abc02d36cd31e1e63c40c53c6199")
            )
        );
    }

    #[test]
    fn ja3_reads_an_odd_curve_list_two_bytes_at_a_time() {
        // List length 3 in a 5-byte extension: the second read does not fit, which
        // ends the hello (the early-data extension after it is not seen); the curve
        // read is kept, the extension's type is not.
        let odd = Ch::default()
            .ext(EXT_ELLIPTIC_CURVES, vec![0, 3, 0, 29, 0])
            .ext(EXT_EARLY_DATA, Vec::new());
        let (s, _) = client(&odd.record());
        assert_eq!(ja3(&s).0, Some("771,4865-49199,,29,"));
        assert_eq!(s.solo.flags & F_EARLY_DATA, 0);
        // With JA3 off the list is skipped by its length.
        let mut off = TlsSide::default();
        off.set_ja3(false);
        off.feed(&odd.record(), true);
        assert_eq!(ja3(&off), (None, None));
        assert_ne!(off.solo.flags & F_EARLY_DATA, 0);
        // One spare byte in the extension: the read past the list takes it.
        let spare = Ch::default().ext(EXT_ELLIPTIC_CURVES, vec![0, 3, 0, 29, 0, 23]);
        assert_eq!(
            ja3(&client(&spare.record()).0),
            (
                Some("771,4865-49199,10,29-23,"),
                Some("831d7d7cc4fc5df09f6d914ffa22804b")
            )
        );
    }

    #[test]
    fn only_the_first_hashed_hello_counts() {
        let first = Ch::sni(b"x").record();
        let mut s = TlsSide::default();
        s.feed(&first, true);
        let want = ja3(&s).0.map(str::to_owned);
        let second = Ch {
            version: 0x0301,
            ciphers: vec![0x002f],
            ..Ch::default()
        };
        s.feed(&second.record(), true);
        assert_eq!(ja3(&s).0.map(str::to_owned), want);
        assert_eq!(ja3(&s).1, Some("349640b9e304f8ea23a8e0f71dde2248"));

        // After a hello cut before its extensions, the next one appends, without its
        // version.
        let mut s = TlsSide::default();
        s.feed(&cut_hello(&Ch::default(), 73), true);
        assert_eq!(ja3(&s), (Some("771,4865-49199"), None));
        s.feed(&Ch::sni(b"x").record(), true);
        assert_eq!(
            ja3(&s),
            (
                Some("771,4865-49199,4865-49199,0,,"),
                Some("9b1340729a0ab1a04205f5a1c63891e2")
            )
        );
    }

    #[test]
    fn ja3_of_the_server_hello_and_when_off() {
        let mut flow = TlsFlow::default();
        tls12_handshake(&mut flow);
        assert_eq!(ja3(&flow.client).0, Some("771,4865-49199,0,,"));
        // JA3S: version, cipher, extensions.
        assert_eq!(
            ja3(&flow.server),
            (Some("771,4865,"), Some("e8c07683aecf9b16e8e33f10a5161e4e"))
        );

        flow.set_ja3(false);
        flow.reset();
        tls12_handshake(&mut flow);
        assert_eq!(flow.client.sni(), Some(&b"h.example"[..]));
        assert_eq!(
            (ja3(&flow.client), ja3(&flow.server)),
            ((None, None), (None, None))
        );
    }

    #[test]
    fn reset_forgets_ja3_and_keeps_its_capacity() {
        let mut flow = TlsFlow::default();
        flow.feed(true, &Ch::sni(b"r").record());
        assert!(flow.client.ja3_hash().is_some());
        let cap = flow.client.conn.ja3.string.capacity();
        flow.reset();
        assert_eq!(ja3(&flow.client), (None, None));
        assert_eq!(flow.client.conn.ja3.string.capacity(), cap);
        flow.feed(true, &Ch::sni(b"r").record());
        assert_eq!(
            ja3(&flow.client).1,
            Some("349640b9e304f8ea23a8e0f71dde2248")
        );
    }

    /// A self-signed P-256 certificate: `C=US, O=Test Org, CN=cert.example.com`, serial
    /// `00 a1 b2 c3` (made with `openssl req -x509 -set_serial 0x00a1b2c3`).
    const LEAF: &[u8] = include_bytes!("testdata/leaf.der");

    /// A Certificate handshake message holding `certs`.
    fn certificate(certs: &[&[u8]]) -> Vec<u8> {
        let mut chain = Vec::new();
        for c in certs {
            chain.extend_from_slice(&(c.len() as u32).to_be_bytes()[1..]);
            chain.extend_from_slice(c);
        }
        let mut body = (chain.len() as u32).to_be_bytes()[1..].to_vec();
        body.extend(chain);
        hs(HS_CERTIFICATE, &body)
    }

    fn server_hello_message() -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&[0x11; 32]);
        b.extend_from_slice(&[0, 0xc0, 0x2f, 0]);
        hs(HS_SERVER_HELLO, &b)
    }

    /// A flow with certificates read, the client's hello fed.
    fn cert_flow() -> TlsFlow {
        let mut f = TlsFlow::new(EncryptionHandling::Default);
        f.set_certs(true);
        assert!(!f.feed(true, &Ch::sni(b"a.example").record()).error);
        f
    }

    #[test]
    fn server_certificate_fields_and_chain() {
        let mut f = cert_flow();
        let mut flight = server_hello_message();
        flight.extend(certificate(&[LEAF, b"not der at all"]));
        flight.extend(hs(HS_SERVER_HELLO_DONE, &[]));
        let fed = f.feed(false, &record(HANDSHAKE, 0x0303, &flight));
        assert!(!fed.error && !fed.encrypted_now);
        let s = &f.server;
        assert_eq!(
            s.cert_subject(),
            Some(&b"C=US, O=Test Org, CN=cert.example.com"[..])
        );
        assert_eq!(s.cert_issuer(), s.cert_subject());
        assert_eq!(s.cert_serial(), Some(&b"00:A1:B2:C3"[..]));
        // Only the first certificate is decoded; every one joins the chain.
        let certs: Vec<&[u8]> = s.certs().collect();
        assert_eq!(certs, vec![LEAF, &b"not der at all"[..]]);
        // Subject and issuer read: the handshake is done (TLS_HANDSHAKE_DONE).
        assert!(f.handshake_done());
        assert!(!f.inspection_stopped(), "content inspection goes on");
    }

    #[test]
    fn certificates_are_read_only_when_asked() {
        let mut f = TlsFlow::new(EncryptionHandling::Default);
        f.feed(true, &Ch::sni(b"a.example").record());
        f.feed(false, &record(HANDSHAKE, 0x0303, &certificate(&[LEAF])));
        assert_eq!(
            (f.server.cert_subject(), f.server.certs().count()),
            (None, 0)
        );
        assert!(!f.handshake_done());
        // Application data ends the handshake either way.
        f.feed(false, &record(APPLICATION, 0x0303, &[1, 2, 3]));
        assert!(f.handshake_done());
    }

    #[test]
    fn certificates_before_the_first_x509_one_are_left_out() {
        let mut f = cert_flow();
        let junk = [0x30, 0x03, 0x02, 0x01, 0x05];
        f.feed(
            false,
            &record(HANDSHAKE, 0x0303, &certificate(&[&junk, LEAF, &junk])),
        );
        let s = &f.server;
        // `goto next` skips the first; the second gives the fields (Suricata's count
        // of certificates stays 0); the third joins undecoded.
        assert!(s
            .cert_subject()
            .is_some_and(|v| v.ends_with(b"cert.example.com")));
        assert_eq!(s.certs().collect::<Vec<_>>(), vec![LEAF, &junk[..]]);
        assert!(f.handshake_done());
        // None X.509: no fields, an empty chain, and the handshake not done.
        let mut f = cert_flow();
        f.feed(
            false,
            &record(HANDSHAKE, 0x0303, &certificate(&[&junk, &junk])),
        );
        assert_eq!(
            (f.server.cert_subject(), f.server.certs().count()),
            (None, 0)
        );
        assert!(!f.handshake_done());
    }

    #[test]
    fn a_chain_cut_short_keeps_the_certificates_before_the_cut() {
        let mut f = cert_flow();
        let mut msg = certificate(&[LEAF, LEAF]);
        // The second certificate's length says more than the chain holds.
        let second = 4 + 3 + 3 + LEAF.len();
        msg[second] = 0x7f;
        f.feed(false, &record(HANDSHAKE, 0x0303, &msg));
        assert_eq!(f.server.certs().count(), 1);
        assert!(f.server.cert_subject().is_some());
        // The message is consumed whatever its chain held: no parser error.
        assert!(!f.server.errored() && !f.stopped());
    }

    #[test]
    fn a_requested_client_certificate_is_what_ends_the_handshake() {
        let mut f = cert_flow();
        let mut flight = certificate(&[LEAF]);
        flight.extend(hs(HS_CERTIFICATE_REQUEST, &[1, 1, 0, 0]));
        flight.extend(hs(HS_SERVER_HELLO_DONE, &[]));
        f.feed(false, &record(HANDSHAKE, 0x0303, &flight));
        assert!(f.server.cert_subject().is_some());
        assert!(
            !f.handshake_done(),
            "NEED_CLIENT_CERT waits for the client's"
        );
        f.feed(true, &record(HANDSHAKE, 0x0303, &certificate(&[LEAF])));
        assert!(f.client.cert_subject().is_some());
        assert!(f.handshake_done());
    }

    #[test]
    fn a_certificate_split_across_records_is_read_whole() {
        let mut f = cert_flow();
        let msg = certificate(&[LEAF]);
        let (a, b) = msg.split_at(100);
        let mut two = record(HANDSHAKE, 0x0303, a);
        two.extend(record(HANDSHAKE, 0x0303, b));
        // Fed a byte at a time, as the stream may hand it over.
        for byte in two.chunks(1) {
            assert!(!f.feed(false, byte).error);
        }
        assert_eq!(f.server.certs().collect::<Vec<_>>(), vec![LEAF]);
        assert!(f.handshake_done());
        // A second Certificate message is ignored (`certs_buffer` is set).
        f.feed(false, &record(HANDSHAKE, 0x0303, &certificate(&[b"other"])));
        assert_eq!(f.server.certs().count(), 1);
        // A reset flow starts afresh, keeping the setting.
        f.reset();
        assert_eq!(f.server.certs().count(), 0);
        f.feed(true, &Ch::sni(b"a.example").record());
        f.feed(false, &record(HANDSHAKE, 0x0303, &certificate(&[LEAF])));
        assert!(f.server.cert_subject().is_some());
    }
}
