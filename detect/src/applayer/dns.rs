//! DNS messages as Suricata 7's parser reads them (`rust/src/dns/parser.rs`): the probe
//! that tells a flow is DNS, and a request's query names, which `dns.query` inspects.
//!
//! Each rule of that parser is kept, including the ones that look odd: a name stops
//! without error where the message ends; a compression pointer may point anywhere up to
//! the message's end; a name is cut at 1,025 bytes; more than 255 labels and pointers
//! end it. A request whose queries do not all parse has no transaction.

/// Longest name Suricata assembles (`MAX_NAME_LEN`, after dnsmasq).
pub const MAX_NAME_LEN: usize = 1025;
/// Bytes of a DNS header.
pub const HEADER_LEN: usize = 12;
/// Labels and pointers one name may hold before Suricata gives up on it.
const MAX_LABELS: u32 = 255;

/// Why a parse stopped: Suricata's (nom's) `Incomplete` and `Error` differ in the probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// The message ended inside a field.
    Incomplete,
    /// A field is invalid.
    Invalid,
}

/// The DNS header fields the parser and the probe look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    flags: u16,
    questions: u16,
    /// Answer, authority and additional records, summed.
    records: u32,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn header(msg: &[u8]) -> Option<Header> {
    if msg.len() < HEADER_LEN {
        return None;
    }
    let f = |i| be16(msg, i).unwrap_or(0) as u32;
    Some(Header {
        flags: f(2) as u16,
        questions: f(4) as u16,
        records: f(6) + f(8) + f(10),
    })
}

/// Suricata's `probe_header_validity`: the counts must fit the message at two bytes each.
fn header_fits(h: &Header, len: usize) -> bool {
    2 * (h.records as usize + h.questions as usize) + HEADER_LEN <= len
}

/// The query names of one request, in order, in one reused buffer (no allocation once
/// warm): what `dns.query` inspects.
#[derive(Debug, Default)]
pub struct Queries {
    bytes: Vec<u8>,
    /// End of each name in `bytes`.
    ends: Vec<usize>,
}

impl Queries {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The names Suricata's `dns.query` inspects: in order, up to (not including) the
    /// first empty one (`rs_dns_tx_get_query_name` ends its list there).
    pub fn names(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map_while(move |&end| {
            let name = self.bytes.get(start..end)?;
            start = end;
            (!name.is_empty()).then_some(name)
        })
    }
}

/// Suricata's `dns_parse_name`: appends the name at `at` in `msg` to `out` (labels joined
/// by `.`; `None` parses without keeping it); returns where the query goes on.
fn name(msg: &[u8], at: usize, mut out: Option<&mut Vec<u8>>) -> Result<usize, Stop> {
    let mut pos = at;
    // Where parsing goes on after the first pointer followed.
    let mut pivot: Option<usize> = None;
    let mut count = 0u32;
    // The name's length so far, kept or not.
    let mut len_so_far = 0usize;
    let mut truncated = false;
    // The message's end ends the name, without error.
    while let Some(&len) = msg.get(pos) {
        if len == 0 {
            pos += 1;
            break;
        } else if len & 0xc0 == 0 {
            let label = msg
                .get(pos + 1..pos + 1 + len as usize)
                .ok_or(Stop::Incomplete)?;
            if !truncated {
                let dot = usize::from(len_so_far > 0);
                if let Some(out) = out.as_deref_mut() {
                    if dot == 1 {
                        out.push(b'.');
                    }
                    out.extend_from_slice(label);
                }
                len_so_far += dot + label.len();
            }
            pos += 1 + len as usize;
        } else if len & 0xc0 == 0xc0 {
            let leader = be16(msg, pos).ok_or(Stop::Incomplete)?;
            let offset = (leader & 0x3fff) as usize;
            if offset > msg.len() {
                return Err(Stop::Invalid);
            }
            if offset == pos {
                // A pointer to itself: the end is known once a pointer was followed.
                if pivot.is_some() {
                    break;
                }
                return Err(Stop::Invalid);
            }
            if pivot.is_none() {
                pivot = Some(pos + 2);
            }
            pos = offset;
        } else {
            return Err(Stop::Invalid);
        }
        count += 1;
        if count > MAX_LABELS {
            if pivot.is_some() {
                break;
            }
            return Err(Stop::Invalid);
        }
        if len_so_far > MAX_NAME_LEN {
            if let Some(out) = out.as_deref_mut() {
                out.truncate(out.len() - (len_so_far - MAX_NAME_LEN));
            }
            len_so_far = MAX_NAME_LEN;
            truncated = true;
            if pivot.is_some() {
                break;
            }
        }
    }
    Ok(pivot.unwrap_or(pos))
}

/// Suricata's `dns_parse_request_body`: every query's name, type and class (the names
/// kept in `out` when given).
fn queries(msg: &[u8], h: &Header, mut out: Option<&mut Queries>) -> Result<(), Stop> {
    let mut pos = HEADER_LEN;
    for _ in 0..h.questions {
        pos = name(msg, pos, out.as_deref_mut().map(|q| &mut q.bytes))?;
        if let Some(q) = out.as_deref_mut() {
            q.ends.push(q.bytes.len());
        }
        // Type and class.
        if msg.len() < pos + 4 {
            return Err(Stop::Incomplete);
        }
        pos += 4;
    }
    Ok(())
}

/// Suricata's UDP probe (`rs_dns_probe`): `Some(is_request)` when `payload` looks like
/// DNS.
pub fn probe(payload: &[u8]) -> Option<bool> {
    let h = header(payload)?;
    match queries(payload, &h, None) {
        Ok(()) | Err(Stop::Incomplete) => {}
        Err(Stop::Invalid) => return None,
    }
    header_fits(&h, payload.len()).then_some(h.flags & 0x8000 == 0)
}

/// Suricata's `parse_request` on a UDP payload going to the server: fills `out` with the
/// queries and returns true when the message makes a request transaction. A header that
/// does not fit, a reply (QR set) or a query that does not parse makes none.
pub fn parse_request(payload: &[u8], out: &mut Queries) -> bool {
    out.clear();
    let Some(h) = header(payload) else {
        return false;
    };
    if !header_fits(&h, payload.len()) {
        return false;
    }
    if queries(payload, &h, Some(out)).is_err() || h.flags & 0x8000 != 0 {
        out.clear();
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(flags: u16, qd: u16, body: &[u8]) -> Vec<u8> {
        let mut m = vec![0xab, 0xcd];
        m.extend_from_slice(&flags.to_be_bytes());
        m.extend_from_slice(&qd.to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(body);
        m
    }

    fn names(q: &Queries) -> Vec<String> {
        q.names()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect()
    }

    #[test]
    fn labels_join_with_dots_and_pointers_are_followed() {
        // www.example.com, then a.<pointer to example.com>.
        let body = b"\x03www\x07example\x03com\x00\x00\x01\x00\x01\x01a\xc0\x10\x00\x01\x00\x01";
        let m = msg(0x0100, 2, body);
        let mut q = Queries::default();
        assert!(parse_request(&m, &mut q));
        assert_eq!(names(&q), ["www.example.com", "a.example.com"]);
        assert_eq!(probe(&m), Some(true));
    }

    #[test]
    fn what_makes_no_request() {
        let mut q = Queries::default();
        // A reply.
        let reply = msg(0x8180, 1, b"\x01a\x00\x00\x01\x00\x01");
        assert!(!parse_request(&reply, &mut q));
        assert_eq!(probe(&reply), Some(false));
        // A query cut inside its type: no transaction, but the probe still says DNS.
        let cut = msg(0x0100, 1, b"\x01a\x00\x00");
        assert!(!parse_request(&cut, &mut q));
        assert_eq!(probe(&cut), Some(true));
        // Counts the message cannot hold.
        let big = msg(0x0100, 9, b"\x01a\x00\x00\x01\x00\x01");
        assert!(!parse_request(&big, &mut q));
        assert_eq!(probe(&big), None);
        // A label type 0x40: invalid, not DNS.
        let bad = msg(0x0100, 1, b"\x41a\x00\x00\x01\x00\x01");
        assert_eq!(probe(&bad), None);
        assert!(!parse_request(&bad, &mut q));
        // Too short for a header.
        assert_eq!(probe(b"\x00\x01\x00"), None);
    }

    #[test]
    fn names_end_at_the_message_end_and_pointers_to_themselves_stop() {
        let mut q = Queries::default();
        // A pointer to itself before any other: an error.
        let selfp = msg(0x0100, 1, b"\xc0\x0c\x00\x01\x00\x01");
        assert!(!parse_request(&selfp, &mut q));
        // A pointer to a label that points to itself: the name ends there.
        let m = msg(0x0100, 1, b"\xc0\x0e\x01b\xc0\x10\x00\x01\x00\x01");
        let mut q = Queries::default();
        assert!(parse_request(&m, &mut q), "{q:?}");
        assert_eq!(names(&q), ["b"]);
    }

    #[test]
    fn long_names_are_cut_at_1025_bytes() {
        let mut body = Vec::new();
        for _ in 0..20 {
            body.push(63);
            body.extend_from_slice(&[b'x'; 63]);
        }
        body.extend_from_slice(b"\x00\x00\x01\x00\x01");
        let m = msg(0x0100, 1, &body);
        let mut q = Queries::default();
        assert!(parse_request(&m, &mut q));
        assert_eq!(q.names().next().map(<[u8]>::len), Some(MAX_NAME_LEN));
    }

    #[test]
    fn an_empty_name_ends_the_inspected_list() {
        let m = msg(0x0100, 2, b"\x00\x00\x01\x00\x01\x01a\x00\x00\x01\x00\x01");
        let mut q = Queries::default();
        assert!(parse_request(&m, &mut q));
        assert_eq!(q.len(), 2);
        assert!(names(&q).is_empty());
    }
}
