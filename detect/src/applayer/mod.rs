//! The application layer: which protocol a flow speaks, told as Suricata 7 tells it, and
//! the transactions of that protocol that transaction rules (`dns.query`, `tls.sni`)
//! inspect.
//!
//! Three protocols are parsed: DNS over UDP ([`dns`]: the first payload of each
//! direction probed on the server's port 53), TLS over TCP ([`tls`]: the client's first
//! acknowledged bytes, on any port, its hellos and the server's certificate) and HTTP/1.x
//! over TCP ([`http`]: requests and their buffers; [`http_response`]: where responses
//! end), the last two fed from the stream by [`tcp`]. A flow's state is one byte ([`AppState`]), kept by the
//! worker beside the flow's other per-slot state; a TCP flow being followed also has a
//! connection in the worker's [`tcp::TcpApp`].

pub mod dns;
pub mod http;
pub mod http_inflate;
pub mod http_response;
pub mod tcp;
pub mod tls;

/// The app-layer protocol of a flow, as rules see it (`alert dns ...`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AppProto {
    /// Not (yet) told, or not a protocol tidewatch parses.
    #[default]
    Unknown,
    Dns,
    Tls,
    Http,
}

/// App-layer counters of a worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppStats {
    /// DNS requests parsed into a transaction for `dns.query` rules.
    pub dns_requests: u64,
    /// Flows turned round because their first payload told the other direction (a DNS
    /// reply first, say).
    pub reversed_flows: u64,
    /// TCP flows told TLS, and their ClientHellos whose server name was parsed.
    pub tls_flows: u64,
    pub tls_sni: u64,
    /// Server certificates whose subject and issuer were read (while some rule
    /// inspects certificates).
    pub tls_certs: u64,
    /// TCP directions the app layer gave up following (a hole, or too much data).
    pub tcp_given_up: u64,
    /// Most bytes the TCP app layer held at once (summed over workers when merged).
    pub tcp_held_peak: u64,
    /// TCP flows told HTTP, and their requests and responses parsed to the end.
    pub http_flows: u64,
    pub http_requests: u64,
    pub http_responses: u64,
    /// Responses whose compressed body `file.data` rules did not see (decompression is
    /// not modelled).
    pub http_bodies_compressed: u64,
}

impl AppStats {
    pub fn merge(&mut self, o: &AppStats) {
        self.dns_requests += o.dns_requests;
        self.reversed_flows += o.reversed_flows;
        self.tls_flows += o.tls_flows;
        self.tls_sni += o.tls_sni;
        self.tls_certs += o.tls_certs;
        self.tcp_given_up += o.tcp_given_up;
        self.tcp_held_peak += o.tcp_held_peak;
        self.http_flows += o.http_flows;
        self.http_requests += o.http_requests;
        self.http_responses += o.http_responses;
        self.http_bodies_compressed += o.http_bodies_compressed;
    }
}

/// What Suricata knows of one direction's protocol (`alproto_ts`, `alproto_tc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Unknown = 0,
    Failed = 1,
    Dns = 2,
}

impl Side {
    fn from_bits(b: u8) -> Side {
        match b & 3 {
            1 => Side::Failed,
            2 => Side::Dns,
            _ => Side::Unknown,
        }
    }
}

/// Bytes of app-layer state each flow slot carries.
pub const SLOT_BYTES: usize = std::mem::size_of::<AppState>();

/// A flow's app-layer state in one byte: bits 0-1 the to-server side, 2-3 the to-client
/// side, 4 the flow's protocol is DNS, 5 the flow was turned round (Suricata's
/// `FlowSwap`: the first payload told the other direction). Zero is a new flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppState(pub u8);

const FLOW_DNS: u8 = 1 << 4;
const REVERSED: u8 = 1 << 5;

// A TCP flow's bits: a slot holds one flow, so they reuse the UDP sides' bits.
/// The flow is TLS.
const TCP_TLS: u8 = 1 << 0;
/// The worker's [`tcp::TcpApp`] follows the flow's bytes.
const TCP_FOLLOWED: u8 = 1 << 1;
/// The flow was told not TLS, or its handshake is over: never followed again.
const TCP_DONE: u8 = 1 << 2;
/// Suricata stopped inspecting the flow's content (its TLS handshake ended).
const TCP_NO_INSPECT: u8 = 1 << 3;
/// The flow is HTTP (bit 6: bit 4 is a UDP flow's DNS mark, which [`AppState::proto`]
/// reads whatever the transport).
const TCP_HTTP: u8 = 1 << 6;

/// What [`AppState::on_packet`] found for one UDP packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppStep {
    /// The packet goes to the server, in the flow's orientation after any turn.
    pub to_server: bool,
    /// The flow's protocol after this packet.
    pub proto: AppProto,
    /// The app layer parses this packet (as a request when `to_server`).
    pub parse: bool,
    /// This packet turned the flow round.
    pub reversed_now: bool,
}

/// Suricata 7's default UDP port for DNS detection (`dns.udp.detection-ports: dp: 53`).
pub const DNS_PORT: u16 = 53;

impl AppState {
    /// Whether the flow was turned round: its to-server direction is the table's
    /// to-client one.
    pub fn reversed(self) -> bool {
        self.0 & REVERSED != 0
    }

    fn side(self, to_server: bool) -> Side {
        Side::from_bits(if to_server { self.0 } else { self.0 >> 2 })
    }

    fn set_side(&mut self, to_server: bool, s: Side) {
        let shift = if to_server { 0 } else { 2 };
        self.0 = (self.0 & !(3 << shift)) | ((s as u8) << shift);
    }

    /// Suricata's `AppLayerHandleUdp` for one UDP packet of the flow: the first payload of
    /// each direction is probed (DNS, when the flow's server port is 53), which may turn
    /// the flow round; once a side told DNS, every packet of the flow is parsed.
    /// `table_to_server` is the flow table's orientation of the packet, `table_ports`
    /// the flow's `[client, server]` ports in that orientation.
    pub fn on_packet(
        &mut self,
        table_to_server: bool,
        table_ports: [u16; 2],
        payload: &[u8],
    ) -> AppStep {
        let mut to_server = table_to_server ^ self.reversed();
        let mut step = AppStep {
            to_server,
            proto: self.proto(),
            parse: false,
            reversed_now: false,
        };
        let (mine, other) = (self.side(to_server), self.side(!to_server));
        if mine == Side::Failed && other == Side::Failed {
            return step;
        }
        if mine != Side::Unknown {
            step.parse = self.0 & FLOW_DNS != 0;
            return step;
        }
        // Suricata looks the probing parser up by the flow's own server port (after a
        // turn, the table's client port), or by the protocol the other side told.
        let server_port = table_ports[usize::from(!self.reversed())];
        let probed = if server_port == DNS_PORT || other == Side::Dns {
            dns::probe(payload)
        } else {
            None
        };
        match probed {
            None => {
                if other != Side::Unknown {
                    // Suricata takes the side that told (or failed) for this one too.
                    self.set_side(to_server, other);
                    if other == Side::Dns {
                        self.0 |= FLOW_DNS;
                    }
                } else {
                    self.set_side(to_server, Side::Failed);
                }
            }
            Some(is_request) => {
                self.set_side(to_server, Side::Dns);
                self.0 |= FLOW_DNS;
                if is_request != to_server {
                    // The probe told the other direction: Suricata swaps the flow (and
                    // its sides) before it parses and inspects this packet.
                    let (ts, tc) = (self.side(true), self.side(false));
                    self.set_side(true, tc);
                    self.set_side(false, ts);
                    self.0 ^= REVERSED;
                    to_server = !to_server;
                    step.reversed_now = true;
                }
            }
        }
        step.to_server = to_server;
        step.proto = self.proto();
        step.parse = self.0 & FLOW_DNS != 0;
        step
    }

    /// A TCP flow's protocol.
    pub fn tcp_proto(self) -> AppProto {
        if self.0 & TCP_TLS != 0 {
            AppProto::Tls
        } else if self.0 & TCP_HTTP != 0 {
            AppProto::Http
        } else {
            AppProto::Unknown
        }
    }

    /// A TCP flow whose content Suricata no longer inspects.
    pub fn tcp_no_inspect(self) -> bool {
        self.0 & TCP_NO_INSPECT != 0
    }

    /// A TCP flow the app layer follows, or should start following.
    pub fn tcp_wants_follow(self) -> bool {
        self.0 & TCP_DONE == 0
    }

    pub fn tcp_followed(self) -> bool {
        self.0 & TCP_FOLLOWED != 0
    }

    /// Records what the TCP app layer found: followed or not, TLS, content inspection
    /// stopped.
    pub fn set_tcp(&mut self, followed: bool, tls: bool, no_inspect: bool) {
        let mut b = self.0 & (TCP_DONE | TCP_HTTP);
        if followed {
            b |= TCP_FOLLOWED;
        } else if self.0 & TCP_FOLLOWED != 0 {
            b |= TCP_DONE;
        }
        if tls || self.0 & TCP_TLS != 0 {
            b |= TCP_TLS;
        }
        if no_inspect || self.0 & TCP_NO_INSPECT != 0 {
            b |= TCP_NO_INSPECT;
        }
        self.0 = b;
    }

    /// Records that the TCP app layer told the flow HTTP.
    pub fn set_tcp_http(&mut self) {
        self.0 |= TCP_HTTP;
    }

    /// The flow's protocol.
    pub fn proto(self) -> AppProto {
        if self.0 & FLOW_DNS != 0 {
            AppProto::Dns
        } else {
            AppProto::Unknown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &[&str], qr: bool) -> Vec<u8> {
        let mut m = vec![
            0x12,
            0x34,
            if qr { 0x81 } else { 0x01 },
            0,
            0,
            1,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        for l in name {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        m
    }

    #[test]
    fn a_request_to_port_53_makes_a_dns_flow_parsed_both_ways() {
        let mut s = AppState::default();
        let step = s.on_packet(true, [40000, 53], &query(&["example", "com"], false));
        assert_eq!(step.proto, AppProto::Dns);
        assert!(step.parse && step.to_server && !step.reversed_now);
        // The reply side is probed too, and parsed whatever it holds.
        let step = s.on_packet(false, [40000, 53], b"junk");
        assert!(step.parse && !step.to_server);
        assert_eq!(s.proto(), AppProto::Dns);
    }

    #[test]
    fn other_ports_and_junk_fail_both_sides() {
        let mut s = AppState::default();
        assert!(
            !s.on_packet(true, [40000, 5353], &query(&["a"], false))
                .parse
        );
        assert!(
            !s.on_packet(false, [40000, 5353], &query(&["a"], true))
                .parse
        );
        assert_eq!(s.proto(), AppProto::Unknown);
        let mut s = AppState::default();
        assert!(!s.on_packet(true, [40000, 53], b"").parse);
        assert!(!s.on_packet(false, [40000, 53], b"xx").parse);
        assert!(!s.on_packet(true, [40000, 53], &query(&["a"], false)).parse);
    }

    #[test]
    fn junk_first_then_a_reply_still_makes_the_flow_dns() {
        let mut s = AppState::default();
        assert!(!s.on_packet(true, [40000, 53], b"not dns at all").parse);
        let step = s.on_packet(false, [40000, 53], &query(&["a"], true));
        assert!(step.parse && !step.to_server);
        // Later requests are parsed: the to-server side failed, but the flow is DNS.
        let step = s.on_packet(true, [40000, 53], &query(&["b"], false));
        assert!(step.parse && step.to_server);
    }

    #[test]
    fn a_reply_first_turns_the_flow_round() {
        let mut s = AppState::default();
        let step = s.on_packet(true, [40000, 53], &query(&["a"], true));
        assert!(step.reversed_now && !step.to_server && step.parse);
        assert!(s.reversed());
        // The table's to-client packets now go to the server.
        let step = s.on_packet(false, [40000, 53], &query(&["a"], false));
        assert!(step.to_server && step.parse && !step.reversed_now);
    }
}
