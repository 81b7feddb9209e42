//! Payload keyword verification: a compiled copy of a rule's payload list and the
//! recursive walk of Suricata's `DetectEngineContentInspection`, including its
//! backtracking (a content or pcre followed by a keyword relative to it is retried at its
//! next occurrence when the rest fails), its "discontinue" short cuts and its recursion
//! limit.

use std::sync::Arc;

use super::bytes;
use super::content::Searcher;
use crate::rules::{ByteJump, ByteTest, ContentMatch, IsDataAt, PayloadMatch};

/// Suricata's default `detect.inspection-recursion-limit`.
pub const INSPECTION_RECURSION_LIMIT: u32 = 3000;

/// A `content` ready to search.
#[derive(Clone, Debug)]
pub(crate) struct Content {
    searcher: Searcher,
    len: u32,
    negated: bool,
    /// `distance` or `within` given.
    relative: bool,
    has_distance: bool,
    distance: i32,
    within: Option<u32>,
    /// Suricata's `cd->offset`.
    offset: u32,
    /// Suricata's `cd->depth`: for absolute contents the end of the search window
    /// (offset + depth, as Suricata stores it), 0 for none.
    depth: u32,
    endswith: bool,
    /// A later relative keyword anchors on this content: retry it on failure.
    relative_next: bool,
    /// Suricata's `DETECT_CONTENT_IS_SINGLE`: no relative or positional modifier at all.
    single: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Pcre {
    regex: Arc<pcre2::bytes::Regex>,
    negated: bool,
    relative: bool,
    relative_next: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum Step {
    Content(Content),
    Pcre(Pcre),
    ByteTest(ByteTest),
    ByteJump(ByteJump),
    IsDataAt(IsDataAt),
}

impl Step {
    fn is_relative(p: &PayloadMatch) -> bool {
        match p {
            PayloadMatch::Content(c) => c.is_relative(),
            PayloadMatch::Pcre(p) => p.relative,
            PayloadMatch::ByteTest(b) => b.relative,
            PayloadMatch::ByteJump(b) => b.relative,
            PayloadMatch::IsDataAt(i) => i.relative,
        }
    }
}

fn compile_content(c: &ContentMatch) -> Content {
    let len = c.pattern.len() as u32;
    let (mut offset, mut depth) = (c.offset.unwrap_or(0), c.depth.unwrap_or(0));
    if c.startswith {
        offset = 0;
        depth = len;
    } else if depth != 0 && !c.is_relative() {
        // Suricata stores an absolute depth as the end of the window.
        depth = depth.saturating_add(offset);
    }
    Content {
        searcher: Searcher::new(&c.pattern, c.nocase),
        len,
        negated: c.negated,
        relative: c.is_relative(),
        has_distance: c.distance.is_some(),
        distance: c.distance.unwrap_or(0),
        within: c.within,
        offset,
        depth,
        endswith: c.endswith,
        relative_next: false,
        single: !(c.is_relative() || c.offset.is_some() || c.depth.is_some() || c.startswith),
    }
}

/// Suricata's isdataat setup turns `isdataat:!1,relative` right after a content into
/// `endswith` on that content (the isdataat is dropped).
fn fold_endswith(payload: &[PayloadMatch]) -> Vec<PayloadMatch> {
    let mut out: Vec<PayloadMatch> = Vec::with_capacity(payload.len());
    for p in payload {
        if let PayloadMatch::IsDataAt(IsDataAt {
            offset: 1,
            relative: true,
            negated: true,
            ..
        }) = p
        {
            if let Some(PayloadMatch::Content(c)) = out.last_mut() {
                c.endswith = true;
                continue;
            }
        }
        out.push(p.clone());
    }
    out
}

/// Compiles a payload list; sets each content's and pcre's "relative next" flag the way
/// Suricata's keyword setup does, and applies Suricata's static offset propagation.
pub(crate) fn compile(payload: &[PayloadMatch]) -> Box<[Step]> {
    let folded = fold_endswith(payload);
    let payload = &folded[..];
    let mut steps: Vec<Step> = payload
        .iter()
        .map(|p| match p {
            PayloadMatch::Content(c) => Step::Content(compile_content(c)),
            PayloadMatch::Pcre(p) => Step::Pcre(Pcre {
                regex: p.regex.clone(),
                negated: p.negated,
                relative: p.relative,
                relative_next: false,
            }),
            PayloadMatch::ByteTest(b) => Step::ByteTest(*b),
            PayloadMatch::ByteJump(b) => Step::ByteJump(*b),
            PayloadMatch::IsDataAt(i) => Step::IsDataAt(*i),
        })
        .collect();
    propagate_offsets(payload, &mut steps);
    for (k, p) in payload.iter().enumerate() {
        if !Step::is_relative(p) {
            continue;
        }
        // content distance/within and pcre /R anchor on the nearest content or pcre;
        // byte_test, byte_jump and isdataat on the nearest payload keyword of any kind
        // (Suricata's setup functions), which marks nothing unless it is a content or pcre.
        let anchors_on_any = matches!(
            p,
            PayloadMatch::ByteTest(_) | PayloadMatch::ByteJump(_) | PayloadMatch::IsDataAt(_)
        );
        let prev = if anchors_on_any {
            k.checked_sub(1).and_then(|j| steps.get_mut(j))
        } else {
            steps[..k]
                .iter_mut()
                .rev()
                .find(|s| matches!(s, Step::Content(_) | Step::Pcre(_)))
        };
        match prev {
            Some(Step::Content(c)) => {
                c.relative_next = true;
                c.single = false;
            }
            Some(Step::Pcre(p)) => p.relative_next = true,
            _ => {}
        }
    }
    steps.into_boxed_slice()
}

/// The offset half of Suricata's `DetectContentPropagateLimits`: a content with a
/// `distance` gets a static minimum offset from the minimum end of the
/// content before it. For positive contents that bound is implied anyway; it matters
/// because Suricata counts a modifier-less *negated* content as ending at its own length
/// (so `content:!"zz"; content:"b"; distance:0;` cannot match `b` before offset 2), and
/// Suricata 7.0.10 behaves so. The depth half only yields bounds that are implied, so it is
/// left out.
fn propagate_offsets(payload: &[PayloadMatch], steps: &mut [Step]) {
    let (mut offset, mut offset_plus_pat) = (0u32, 0u32);
    for (p, step) in payload.iter().zip(steps.iter_mut()) {
        match (p, step) {
            (PayloadMatch::Content(c), Step::Content(cc)) => {
                let len = c.pattern.len() as u32;
                let has_offset = c.offset.is_some() || c.startswith;
                let has_depth = c.depth.is_some() || c.startswith;
                let has_distance = c.distance.is_some();
                if !(has_offset || has_depth || has_distance || c.within.is_some()) {
                    offset = 0;
                    offset_plus_pat = len;
                    continue;
                }
                if c.negated {
                    offset = 0;
                    offset_plus_pat = 0;
                    continue;
                }
                if !has_distance {
                    offset = 0;
                    offset_plus_pat = 0;
                }
                let distance = c.distance.unwrap_or(0);
                if has_distance {
                    // Suricata 7.0.10 applies negative distances too (checked: `content:!"zz";
                    // content:"c"; distance:-1;` needs `c` at offset 1 or later); a bound out
                    // of 0..=65535 stops the propagation, as its VALIDATE does.
                    let Ok(o) =
                        u16::try_from(offset_plus_pat as i64 + distance as i64).map(u32::from)
                    else {
                        return;
                    };
                    offset = o;
                    cc.offset = o;
                    if !has_offset && !has_depth {
                        offset_plus_pat = o + len;
                    }
                }
                if has_offset {
                    offset = cc.offset;
                    offset_plus_pat = offset + len;
                }
                if cc.depth != 0 {
                    offset_plus_pat = offset + len;
                }
            }
            (PayloadMatch::Pcre(pc), _) => {
                if !pc.relative {
                    offset = 0;
                    offset_plus_pat = 0;
                }
            }
            _ => {
                offset = 0;
                offset_plus_pat = 0;
            }
        }
    }
}

/// State of one walk over one buffer.
struct Walk<'a> {
    buf: &'a [u8],
    /// Suricata's `det_ctx->buffer_offset`: end of the previous match.
    cursor: u32,
    /// Suricata's `det_ctx->pcre_match_start_offset`.
    pcre_start: u32,
    recursion: u32,
}

/// What one step concluded; `Discontinue` is Suricata's `-1`: nothing earlier can help.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Match,
    NoMatch,
    Discontinue,
}

/// Whether the payload keywords match `buf`. An empty list matches.
pub(crate) fn inspect(steps: &[Step], buf: &[u8]) -> bool {
    if steps.is_empty() {
        return true;
    }
    let mut w = Walk {
        buf,
        cursor: 0,
        pcre_start: 0,
        recursion: 0,
    };
    walk(steps, 0, &mut w) == Outcome::Match
}

fn matched_go_on(steps: &[Step], i: usize, w: &mut Walk<'_>) -> Outcome {
    if i + 1 >= steps.len() {
        Outcome::Match
    } else {
        walk(steps, i + 1, w)
    }
}

fn walk(steps: &[Step], i: usize, w: &mut Walk<'_>) -> Outcome {
    w.recursion += 1;
    if w.recursion >= INSPECTION_RECURSION_LIMIT {
        return Outcome::Discontinue;
    }
    let Some(step) = steps.get(i) else {
        return Outcome::NoMatch;
    };
    let buf_len = w.buf.len() as u32;
    match step {
        Step::Content(c) => content(steps, i, c, w),
        Step::Pcre(p) => pcre(steps, i, p, w),
        Step::ByteTest(b) => {
            if bytes::byte_test(b, w.buf, w.cursor) {
                matched_go_on(steps, i, w)
            } else {
                Outcome::NoMatch
            }
        }
        Step::ByteJump(b) => match bytes::byte_jump(b, w.buf, w.cursor) {
            Some(c) => {
                w.cursor = c;
                matched_go_on(steps, i, w)
            }
            None => Outcome::NoMatch,
        },
        Step::IsDataAt(d) => {
            if bytes::isdataat(d, buf_len, w.cursor) {
                matched_go_on(steps, i, w)
            } else if d.negated && d.relative {
                Outcome::NoMatch
            } else {
                Outcome::Discontinue
            }
        }
    }
}

fn content(steps: &[Step], i: usize, c: &Content, w: &mut Walk<'_>) -> Outcome {
    let buf_len = w.buf.len() as u32;
    let prev_buffer_offset = w.cursor;
    let mut prev_offset: u32 = 0;
    loop {
        let mut depth = buf_len;
        let mut offset: u32;
        if c.relative {
            offset = prev_buffer_offset;
            let distance = c.distance;
            if c.has_distance {
                if distance < 0 && distance.unsigned_abs() > offset {
                    offset = 0;
                } else {
                    offset = offset.wrapping_add(distance as u32);
                }
            }
            if let Some(within) = c.within {
                // Suricata compares and assigns in 32-bit arithmetic, as written here.
                let lim = prev_buffer_offset
                    .wrapping_add(within)
                    .wrapping_add(distance as u32);
                if (depth as i32) > (lim as i32) {
                    depth = lim;
                }
            }
            if c.depth != 0 && c.depth.wrapping_add(prev_buffer_offset) < depth {
                depth = prev_buffer_offset.wrapping_add(c.depth);
            }
            if c.offset > offset {
                offset = c.offset;
            }
        } else {
            if c.depth != 0 {
                depth = c.depth;
            }
            offset = c.offset;
        }
        if prev_offset != 0 {
            offset = prev_offset;
        }
        if depth > buf_len {
            depth = buf_len;
        }
        if offset > depth || depth == 0 {
            return if c.negated {
                matched_go_on(steps, i, w)
            } else {
                Outcome::NoMatch
            };
        }
        let sbuf = w.buf.get(offset as usize..depth as usize).unwrap_or(&[]);
        let found = if (c.endswith && depth < buf_len) || c.len as usize > sbuf.len() {
            None
        } else {
            c.searcher.find(sbuf)
        };
        let Some(pos) = found else {
            if c.negated {
                return matched_go_on(steps, i, w);
            }
            return if c.relative {
                Outcome::NoMatch
            } else {
                Outcome::Discontinue
            };
        };
        let match_offset = offset + pos as u32 + c.len;
        if c.negated {
            // Suricata compares the window length with the match end here (sic).
            if c.endswith && depth - offset != match_offset {
                return matched_go_on(steps, i, w);
            }
            return if c.single {
                Outcome::Discontinue
            } else {
                Outcome::NoMatch
            };
        }
        w.cursor = match_offset;
        if !c.endswith || match_offset == buf_len {
            if i + 1 >= steps.len() {
                return Outcome::Match;
            }
            match walk(steps, i + 1, w) {
                Outcome::Match => return Outcome::Match,
                Outcome::Discontinue => return Outcome::Discontinue,
                Outcome::NoMatch => {}
            }
            if !c.relative_next {
                return Outcome::Discontinue;
            }
        }
        prev_offset = match_offset - (c.len.saturating_sub(1));
    }
}

fn pcre(steps: &[Step], i: usize, p: &Pcre, w: &mut Walk<'_>) -> Outcome {
    let prev_buffer_offset = w.cursor;
    w.pcre_start = 0;
    loop {
        if !pcre_once(p, w) {
            return Outcome::NoMatch;
        }
        if !p.relative_next {
            return matched_go_on(steps, i, w);
        }
        let prev_offset = w.pcre_start;
        match walk(steps, i + 1, w) {
            Outcome::Match => return Outcome::Match,
            Outcome::Discontinue => return Outcome::Discontinue,
            Outcome::NoMatch => {}
        }
        if prev_offset == 0 {
            // A negated pcre has no occurrence to move past.
            return Outcome::NoMatch;
        }
        w.cursor = prev_buffer_offset;
        w.pcre_start = prev_offset;
    }
}

/// Suricata's `DetectPcrePayloadMatch`: one search from the cursor (relative) or the
/// buffer start, resuming after the previous occurrence's start when retrying.
fn pcre_once(p: &Pcre, w: &mut Walk<'_>) -> bool {
    let base = if p.relative { w.cursor as usize } else { 0 };
    let Some(subject) = w.buf.get(base..) else {
        return false;
    };
    let start = if w.pcre_start != 0 {
        (w.pcre_start as usize).saturating_sub(base)
    } else {
        0
    };
    if start > subject.len() {
        return false;
    }
    match p.regex.find_at(subject, start) {
        Ok(Some(m)) => {
            if p.negated {
                return false;
            }
            w.cursor = (base + m.end()) as u32;
            w.pcre_start = (base + m.start() + 1) as u32;
            true
        }
        Ok(None) => p.negated,
        Err(_) => false,
    }
}
