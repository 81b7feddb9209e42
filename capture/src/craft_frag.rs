//! Cutting a crafted IPv4 or IPv6 datagram into fragments, for the defrag golden pcaps,
//! tests and fuzz seeds: any offsets, any order, pieces that repeat or overlap, and pieces
//! whose bytes differ from the datagram's (to tell overlap policies apart).
//!
//! Build the whole datagram with [`crate::craft::FrameSpec`] (so its transport checksum is
//! right), then [`fragment`] it. IPv4 fragments copy the IP header (options included) with
//! their own length, flags, offset and header checksum. IPv6 fragments keep the
//! hop-by-hop and routing headers in front of a new fragment header (the unfragmentable
//! part) and carry everything after them, destination options included, as data.

use crate::decode::{self, LinkType};

/// The bytes a piece carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceData<'a> {
    /// This many bytes of the datagram from the piece's offset (clipped to its end).
    Span(usize),
    /// These bytes, whatever the datagram holds there.
    Bytes(&'a [u8]),
}

/// One fragment to write: where its data goes in the fragmentable part, what it carries
/// and whether it says more fragments follow (`None`: when it ends before the datagram).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece<'a> {
    /// Byte offset; written in 8-byte units, so it is rounded down to a multiple of 8.
    pub offset: usize,
    pub data: PieceData<'a>,
    pub more: Option<bool>,
}

impl<'a> Piece<'a> {
    /// `len` bytes of the datagram at `offset`.
    pub fn span(offset: usize, len: usize) -> Piece<'a> {
        Piece {
            offset,
            data: PieceData::Span(len),
            more: None,
        }
    }
    /// `bytes` at `offset` in place of the datagram's.
    pub fn bytes(offset: usize, bytes: &'a [u8]) -> Piece<'a> {
        Piece {
            offset,
            data: PieceData::Bytes(bytes),
            more: None,
        }
    }
    /// Sets the more-fragments flag explicitly.
    pub fn more(mut self, more: bool) -> Piece<'a> {
        self.more = Some(more);
        self
    }
}

/// In-order pieces of `size` bytes (a multiple of 8) covering `len` bytes.
pub fn even(len: usize, size: usize) -> Vec<Piece<'static>> {
    let size = size.max(8) & !7;
    (0..len.div_ceil(size))
        .map(|i| Piece::span(i * size, size.min(len - i * size)))
        .collect()
}

/// Why a frame cannot be fragmented.
#[derive(Debug, thiserror::Error)]
pub enum FragError {
    #[error("the frame does not decode: {0}")]
    Decode(#[from] decode::DecodeError),
    #[error("the frame is already a fragment")]
    AlreadyFragment,
    #[error("the IPv6 extension headers are malformed at frame offset {0}")]
    BadExtension(usize),
}

/// What [`fragment`] needs to know about a datagram.
struct Layout {
    l3: usize,
    ipv6: bool,
    /// End of the unfragmentable part (IPv4: the header; IPv6: header and hop-by-hop /
    /// routing headers).
    unfrag_end: usize,
    /// Where the byte naming the first fragmentable header is (IPv6 only).
    named_at: usize,
    end: usize,
}

fn layout(link: LinkType, frame: &[u8]) -> Result<Layout, FragError> {
    let p = decode::decode(link, frame, false)?;
    if p.fragment.is_some() {
        return Err(FragError::AlreadyFragment);
    }
    let l3 = usize::from(p.l3_offset);
    if !p.is_ipv6() {
        let hlen = usize::from(frame[l3] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([frame[l3 + 2], frame[l3 + 3]]));
        return Ok(Layout {
            l3,
            ipv6: false,
            unfrag_end: l3 + hlen,
            named_at: 0,
            end: (l3 + total).min(frame.len()),
        });
    }
    let plen = usize::from(u16::from_be_bytes([frame[l3 + 4], frame[l3 + 5]]));
    let end = (l3 + 40 + plen).min(frame.len());
    let mut named_at = l3 + 6;
    let mut off = l3 + 40;
    while matches!(frame.get(named_at), Some(0) | Some(43)) {
        let len = frame
            .get(off + 1)
            .map(|l| (usize::from(*l) + 1) * 8)
            .ok_or(FragError::BadExtension(off))?;
        if off + len > end {
            return Err(FragError::BadExtension(off));
        }
        named_at = off;
        off += len;
    }
    Ok(Layout {
        l3,
        ipv6: true,
        unfrag_end: off,
        named_at,
        end,
    })
}

/// The length of the fragmentable part of `frame` (what piece offsets index).
pub fn fragmentable_len(link: LinkType, frame: &[u8]) -> Result<usize, FragError> {
    let l = layout(link, frame)?;
    Ok(l.end - l.unfrag_end)
}

/// Cuts the datagram in `frame` into `pieces`, in the order given. `id` is the fragment
/// identification: IPv6's, or for IPv4 its low 16 bits replace the datagram's IP id.
pub fn fragment(
    link: LinkType,
    frame: &[u8],
    id: u32,
    pieces: &[Piece<'_>],
) -> Result<Vec<Vec<u8>>, FragError> {
    let l = layout(link, frame)?;
    let body = &frame[l.unfrag_end..l.end];
    let mut out = Vec::with_capacity(pieces.len());
    for piece in pieces {
        let data: &[u8] = match piece.data {
            PieceData::Span(n) => {
                let a = piece.offset.min(body.len());
                &body[a..(a + n).min(body.len())]
            }
            PieceData::Bytes(b) => b,
        };
        let more = piece.more.unwrap_or(piece.offset + data.len() < body.len());
        let units = ((piece.offset / 8) & 0x1fff) as u16;
        let mut f = Vec::with_capacity(l.unfrag_end + 8 + data.len());
        f.extend_from_slice(&frame[..l.unfrag_end]);
        if l.ipv6 {
            let next = frame[l.named_at];
            f[l.named_at] = 44;
            let plen = (l.unfrag_end - l.l3 - 40 + 8 + data.len()).min(65535) as u16;
            f[l.l3 + 4..l.l3 + 6].copy_from_slice(&plen.to_be_bytes());
            f.extend_from_slice(&[next, 0]);
            f.extend_from_slice(&((units << 3) | u16::from(more)).to_be_bytes());
            f.extend_from_slice(&id.to_be_bytes());
        } else {
            let hlen = l.unfrag_end - l.l3;
            let total = (hlen + data.len()).min(65535) as u16;
            f[l.l3 + 2..l.l3 + 4].copy_from_slice(&total.to_be_bytes());
            f[l.l3 + 4..l.l3 + 6].copy_from_slice(&(id as u16).to_be_bytes());
            let field = units | if more { 0x2000 } else { 0 };
            f[l.l3 + 6..l.l3 + 8].copy_from_slice(&field.to_be_bytes());
            f[l.l3 + 10] = 0;
            f[l.l3 + 11] = 0;
            let sum = crate::decode::internet_checksum(&f[l.l3..l.unfrag_end]);
            f[l.l3 + 10..l.l3 + 12].copy_from_slice(&sum.to_be_bytes());
        }
        f.extend_from_slice(data);
        out.push(f);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::{FrameSpec, Ipv6Ext, L4Spec};
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn udp_v4(payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        FrameSpec::ipv4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            L4Spec::Udp {
                src_port: 1000,
                dst_port: 53,
            },
        )
        .ip_id(77)
        .payload(payload)
        .write(&mut f);
        f
    }

    #[test]
    fn ipv4_pieces_decode_as_fragments_with_their_offsets() {
        let f = udp_v4(&[7u8; 40]);
        assert_eq!(fragmentable_len(LinkType::Ethernet, &f).unwrap(), 48);
        let frags = fragment(LinkType::Ethernet, &f, 77, &even(48, 16)).unwrap();
        assert_eq!(frags.len(), 3);
        for (i, fr) in frags.iter().enumerate() {
            let p = decode::decode(LinkType::Ethernet, fr, true).unwrap();
            let fi = p.fragment.unwrap();
            assert_eq!(usize::from(fi.offset), i * 16);
            assert_eq!(fi.more, i < 2);
            assert_eq!(fi.id, 77);
        }
    }

    #[test]
    fn ipv6_keeps_hop_by_hop_in_front_of_the_fragment_header() {
        let mut f = Vec::new();
        FrameSpec::ipv6(
            Ipv6Addr::LOCALHOST,
            Ipv6Addr::UNSPECIFIED,
            L4Spec::Udp {
                src_port: 1,
                dst_port: 2,
            },
        )
        .ipv6_ext(Ipv6Ext::HopByHop)
        .payload(&[1u8; 24])
        .write(&mut f);
        assert_eq!(fragmentable_len(LinkType::Ethernet, &f).unwrap(), 32);
        let frags = fragment(LinkType::Ethernet, &f, 9, &even(32, 16)).unwrap();
        let p = decode::decode(LinkType::Ethernet, &frags[1], false).unwrap();
        let fi = p.fragment.unwrap();
        assert_eq!((fi.offset, fi.more, fi.id), (16, false, 9));
        assert!(p.ip_options);
        assert_eq!(
            frags[1][14 + 40],
            44,
            "hop-by-hop names the fragment header"
        );
    }
}
