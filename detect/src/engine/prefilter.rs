//! The per-group multi-pattern prefilter: aho-corasick searchers over the distinct fast
//! patterns of the group's rules. `nocase` patterns are searched in a lowercased copy of
//! the payload, together with the exact ones when all fit one Teddy searcher, else apart
//! (see [`Side`]). Each distinct pattern lists the rules it proposes and fires once per
//! packet.

use std::collections::HashMap;

use aho_corasick::{packed, AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use crate::rules::{ContentMatch, PayloadMatch, Rule};

/// Groups with at most this many distinct patterns get a DFA (fastest scan, memory grows
/// with the pattern count); larger ones let aho-corasick pick (a contiguous NFA).
const DFA_MAX_PATTERNS: usize = 2000;

/// Sides with at most this many patterns search with aho-corasick's packed (Teddy) SIMD
/// searcher directly. The automaton would pick Teddy as its own prefilter only up to 16
/// patterns and fall back to a rare-byte prefilter above that, which on text-like traffic
/// stops every few bytes and walks the DFA from there; on the 100-rule benchmark's stream
/// groups that was most of the prefilter's time.
const TEDDY_MAX_PATTERNS: usize = 64;

/// The bytes a rule contributes to its group's prefilter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FastPattern {
    pub(crate) bytes: Vec<u8>,
    pub(crate) nocase: bool,
}

/// Suricata's `PatternStrength`: rarer bytes (non-letters, non-printables) score higher,
/// repeats score 1; breaks ties between equally long contents.
fn strength(p: &[u8]) -> u32 {
    let mut seen = [false; 256];
    let mut s = 0;
    for &b in p {
        if seen[b as usize] {
            s += 1;
        } else {
            seen[b as usize] = true;
            s += if b.is_ascii_alphabetic() {
                3
            } else if b.is_ascii_graphic() || b == b' ' || b == 0x00 || b == 0x01 || b == 0xff {
                4
            } else {
                6
            };
        }
    }
    s
}

/// A rule's prefilter pattern, as Suricata's fast-pattern selection makes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Selected {
    /// The rule is a candidate when this pattern occurs in the payload.
    Positive(FastPattern),
    /// A negated content is the fast pattern: the rule is skipped when it occurs anywhere
    /// in the payload (Suricata's negated MPM), and verified otherwise.
    Negated(FastPattern),
    /// No content can serve: always verified.
    None,
}

/// Whether a negated content can be a fast pattern: Suricata refuses negated contents
/// with a positional modifier (`endswith` is allowed).
fn negated_eligible(c: &ContentMatch) -> bool {
    c.negated && !(c.is_relative() || c.offset.is_some() || c.depth.is_some() || c.startswith)
}

/// Picks the rule's fast pattern like Suricata's `RetrieveFPForSig`: the content marked
/// `fast_pattern` (chopped when asked), else the longest positive content (ties: the
/// strongest, then the first), else the longest negated content when it is eligible.
/// `Err` names a bad chop.
pub(crate) fn select(rule: &Rule) -> Result<Selected, String> {
    select_from(&rule.payload)
}

/// [`select`] over one buffer's keywords (the packet payload's, or an app-layer buffer's).
pub(crate) fn select_from(payload: &[PayloadMatch]) -> Result<Selected, String> {
    let contents = || {
        payload.iter().filter_map(|p| match p {
            PayloadMatch::Content(c) if !c.pattern.is_empty() => Some(c),
            _ => None,
        })
    };
    if let Some(c) =
        contents().find(|c| c.fast_pattern.is_some() && (!c.negated || negated_eligible(c)))
    {
        let fp = chop(c)?;
        return Ok(if c.negated {
            Selected::Negated(fp)
        } else {
            Selected::Positive(fp)
        });
    }
    let best = |pick: &dyn Fn(&ContentMatch) -> bool| {
        let mut best: Option<&ContentMatch> = None;
        for c in contents().filter(|c| pick(c)) {
            best = match best {
                Some(b)
                    if (b.pattern.len(), strength(&b.pattern))
                        >= (c.pattern.len(), strength(&c.pattern)) =>
                {
                    Some(b)
                }
                _ => Some(c),
            };
        }
        best.map(|c| FastPattern {
            bytes: c.pattern.clone(),
            nocase: c.nocase,
        })
    };
    if let Some(fp) = best(&|c| !c.negated) {
        return Ok(Selected::Positive(fp));
    }
    // Suricata picks the best negated content first and uses it only when it is eligible
    // (checked against 7.0.10: a stronger `startswith` one leaves the rule without MPM).
    let Some(fp) = best(&|c| c.negated) else {
        return Ok(Selected::None);
    };
    let chosen = contents().find(|c| c.negated && c.pattern == fp.bytes && c.nocase == fp.nocase);
    Ok(if chosen.is_some_and(negated_eligible) {
        Selected::Negated(fp)
    } else {
        Selected::None
    })
}

fn chop(c: &ContentMatch) -> Result<FastPattern, String> {
    let bytes = match c.fast_pattern.and_then(|f| f.chop) {
        Some((off, len)) => {
            let (off, len) = (off as usize, len as usize);
            match c.pattern.get(off..off.saturating_add(len)) {
                Some(s) if !s.is_empty() => s.to_vec(),
                _ => {
                    return Err(format!(
                        "fast_pattern:{off},{len} is outside the {}-byte content",
                        c.pattern.len()
                    ))
                }
            }
        }
        None => c.pattern.clone(),
    };
    Ok(FastPattern {
        bytes,
        nocase: c.nocase,
    })
}

/// One searcher and what its patterns propose. A group has one or two: when its exact and
/// `nocase` patterns together fit Teddy, one searcher over the lowercased payload holds
/// them all (an exact pattern's hit is confirmed against the payload as it is); otherwise
/// exact patterns are searched in the payload and `nocase` ones in a lowercased copy.
/// Either way every search can use aho-corasick's SIMD (Teddy) searcher, which ASCII
/// case-insensitive automatons cannot; on the 100-rule benchmark two sides were 2.4x
/// faster than one case-insensitive DFA, and one merged side saves a second pass over
/// every stream byte.
#[derive(Clone, Debug)]
struct Side {
    searcher: Searcher,
    /// Searches the lowercased payload.
    folded: bool,
    /// Per searched pattern: range into `prefix_ids` of the other searched patterns that
    /// are its proper prefixes, reported with it because a leftmost-longest search only
    /// returns the longest pattern at a position.
    prefix_ranges: Box<[(u32, u32)]>,
    prefix_ids: Box<[u32]>,
    /// Per searched pattern: range into `variants` of the rules' patterns it stands for.
    variant_ranges: Box<[(u32, u32)]>,
    variants: Box<[Variant]>,
}

/// A distinct rule pattern (bytes and case) behind a searched pattern.
#[derive(Clone, Debug)]
struct Variant {
    /// Index in the per-packet `VariantSeen` bits and into `Prefilter::rules`.
    id: u32,
    /// An exact pattern with letters searched in a folded side: its bytes, which the
    /// payload must hold as they are where the searched pattern was found.
    exact: Option<Box<[u8]>>,
}

/// How a side finds its leftmost-longest match at or after a position.
#[derive(Clone, Debug)]
enum Searcher {
    /// Boxed: the searcher is large and most groups of a big ruleset use the automaton.
    Teddy(Box<packed::Searcher>),
    Automaton(AhoCorasick),
}

impl Searcher {
    fn build(patterns: &[Vec<u8>]) -> Result<Searcher, aho_corasick::BuildError> {
        if patterns.len() <= TEDDY_MAX_PATTERNS {
            let teddy = packed::Config::new()
                .match_kind(packed::MatchKind::LeftmostLongest)
                .builder()
                .extend(patterns)
                .build();
            if let Some(t) = teddy {
                return Ok(Searcher::Teddy(Box::new(t)));
            }
        }
        let kind = (patterns.len() <= DFA_MAX_PATTERNS).then_some(AhoCorasickKind::DFA);
        Ok(Searcher::Automaton(
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .kind(kind)
                .build(patterns)?,
        ))
    }

    #[inline]
    fn find(&self, hay: &[u8], from: usize) -> Option<aho_corasick::Match> {
        match self {
            Searcher::Teddy(t) => t.find_in(hay, aho_corasick::Span::from(from..hay.len())),
            Searcher::Automaton(ac) => ac.find(aho_corasick::Input::new(hay).span(from..hay.len())),
        }
    }
}

/// One group's searchers and the rule ranks each distinct pattern proposes.
#[derive(Clone, Debug)]
pub(crate) struct Prefilter {
    sides: Vec<Side>,
    /// Per variant id: range into `ranks` of the rules it proposes.
    rules: Box<[(u32, u32)]>,
    ranks: Box<[u32]>,
}

/// Per-scratch state of a scan: which patterns already fired for this packet, and the
/// buffer the payload is lowercased into for `nocase` patterns (sized once).
#[derive(Debug, Default)]
pub(crate) struct VariantSeen {
    /// Two bits per pattern: seen anywhere (`id`), and seen from the split on
    /// (`half + id`, see [`Prefilter::scan_split`]).
    bits: Vec<u64>,
    half: u32,
    touched: Vec<u32>,
    folded: Vec<u8>,
}

/// Largest payload the folding buffer is sized for up front (an IP packet's maximum).
const FOLD_CAPACITY: usize = 65_536;

impl VariantSeen {
    pub(crate) fn with_capacity(n: usize) -> VariantSeen {
        VariantSeen {
            bits: vec![0; (2 * n).div_ceil(64)],
            half: n as u32,
            touched: Vec::with_capacity(2 * n),
            folded: Vec::with_capacity(FOLD_CAPACITY),
        }
    }

    fn reset(&mut self) {
        for &v in &self.touched {
            if let Some(w) = self.bits.get_mut(v as usize / 64) {
                *w = 0;
            }
        }
        self.touched.clear();
    }

    /// Marks `v`; false when it was already marked.
    fn mark(&mut self, v: u32) -> bool {
        let (w, b) = (v as usize / 64, 1u64 << (v % 64));
        match self.bits.get_mut(w) {
            Some(word) if *word & b == 0 => {
                *word |= b;
                self.touched.push(v);
                true
            }
            _ => false,
        }
    }
}

/// A distinct rule pattern while building: bytes as searched when alone (lowercased for
/// `nocase`), its case, and the ranks it proposes.
struct Distinct {
    bytes: Vec<u8>,
    nocase: bool,
    ranks: Vec<u32>,
}

impl Side {
    /// A side searching for `members` (indexes into `all`, whose position is the variant
    /// id), folded or not.
    fn build(
        all: &[Distinct],
        members: &[usize],
        folded: bool,
    ) -> Result<Option<Side>, aho_corasick::BuildError> {
        if members.is_empty() {
            return Ok(None);
        }
        // Searched patterns and, per pattern, its variants.
        let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut by_pattern: Vec<Vec<Variant>> = Vec::new();
        for &m in members {
            let d = &all[m];
            let searched = if folded {
                d.bytes.to_ascii_lowercase()
            } else {
                d.bytes.clone()
            };
            // Only an exact pattern with letters can differ from what a folded search found.
            let confirm = folded && !d.nocase && d.bytes.iter().any(u8::is_ascii_alphabetic);
            let variant = Variant {
                id: m as u32,
                exact: confirm.then(|| d.bytes.clone().into_boxed_slice()),
            };
            let at = *index.entry(searched.clone()).or_insert_with(|| {
                patterns.push(searched);
                by_pattern.push(Vec::new());
                patterns.len() - 1
            });
            by_pattern[at].push(variant);
        }
        // For each pattern, the patterns that are its proper prefixes. Quadratic in the
        // group's patterns, done once at build time.
        let mut prefix_ranges = Vec::with_capacity(patterns.len());
        let mut prefix_ids = Vec::new();
        for p in &patterns {
            let start = prefix_ids.len() as u32;
            for (qi, q) in patterns.iter().enumerate() {
                if q.len() < p.len() && p.starts_with(q) {
                    prefix_ids.push(qi as u32);
                }
            }
            prefix_ranges.push((start, prefix_ids.len() as u32));
        }
        let mut variant_ranges = Vec::with_capacity(patterns.len());
        let mut variants = Vec::with_capacity(members.len());
        for vs in by_pattern {
            let start = variants.len() as u32;
            variants.extend(vs);
            variant_ranges.push((start, variants.len() as u32));
        }
        Ok(Some(Side {
            searcher: Searcher::build(&patterns)?,
            folded,
            prefix_ranges: prefix_ranges.into_boxed_slice(),
            prefix_ids: prefix_ids.into_boxed_slice(),
            variant_ranges: variant_ranges.into_boxed_slice(),
            variants: variants.into_boxed_slice(),
        }))
    }

    /// Leftmost-longest searches restarted one byte after each match start visit every
    /// position where some pattern starts; any other pattern starting there is a prefix
    /// of the longest one, so reporting the match's prefix patterns too finds every
    /// occurrence. Unlike an overlapping walk, leftmost searches can use SIMD prefilters.
    /// `hay` is what the side searches, `raw` the payload as it is (the same bytes for an
    /// unfolded side).
    #[inline]
    fn scan(
        &self,
        hay: &[u8],
        raw: &[u8],
        split: usize,
        pf: &Prefilter,
        seen: &mut VariantSeen,
        propose: &mut impl FnMut(u32, bool, bool),
    ) {
        let mut pos = 0;
        while pos < hay.len() {
            let Some(m) = self.searcher.find(hay, pos) else {
                break;
            };
            let pid = m.pattern().as_usize();
            let late = m.start() >= split;
            self.report(pid, raw, m.start(), late, pf, seen, propose);
            if let Some(&(a, b)) = self.prefix_ranges.get(pid) {
                for &q in self.prefix_ids.get(a as usize..b as usize).unwrap_or(&[]) {
                    self.report(q as usize, raw, m.start(), late, pf, seen, propose);
                }
            }
            pos = m.start() + 1;
        }
    }

    /// Proposes the rules of searched pattern `pid`'s variants that occur at `at` (`late`:
    /// at or after the split), each variant once as seen anywhere and once as seen late.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn report(
        &self,
        pid: usize,
        raw: &[u8],
        at: usize,
        late: bool,
        pf: &Prefilter,
        seen: &mut VariantSeen,
        propose: &mut impl FnMut(u32, bool, bool),
    ) {
        let Some(&(a, b)) = self.variant_ranges.get(pid) else {
            return;
        };
        for v in self.variants.get(a as usize..b as usize).unwrap_or(&[]) {
            if let Some(e) = &v.exact {
                if raw.get(at..at + e.len()) != Some(&e[..]) {
                    continue;
                }
            }
            let anywhere = seen.mark(v.id);
            let late = late && seen.mark(seen.half + v.id);
            if !anywhere && !late {
                continue;
            }
            if let Some(&(ra, rb)) = pf.rules.get(v.id as usize) {
                if let Some(rs) = pf.ranks.get(ra as usize..rb as usize) {
                    rs.iter().for_each(|&r| propose(r, anywhere, late));
                }
            }
        }
    }
}

impl Prefilter {
    /// Builds the searchers over `(rank, fast pattern)` pairs; `None` for an empty list.
    pub(crate) fn build(
        items: &[(u32, &FastPattern)],
    ) -> Result<Option<Prefilter>, aho_corasick::BuildError> {
        if items.is_empty() {
            return Ok(None);
        }
        // (bytes as searched alone, nocase) -> variant id
        let mut ids: HashMap<(Vec<u8>, bool), usize> = HashMap::new();
        let mut all: Vec<Distinct> = Vec::new();
        for &(rank, fp) in items {
            let bytes = if fp.nocase {
                fp.bytes.to_ascii_lowercase()
            } else {
                fp.bytes.clone()
            };
            let id = *ids.entry((bytes.clone(), fp.nocase)).or_insert_with(|| {
                all.push(Distinct {
                    bytes,
                    nocase: fp.nocase,
                    ranks: Vec::new(),
                });
                all.len() - 1
            });
            all[id].ranks.push(rank);
        }
        let (nocase, exact): (Vec<usize>, Vec<usize>) =
            (0..all.len()).partition(|&i| all[i].nocase);
        let merged: std::collections::HashSet<Vec<u8>> =
            all.iter().map(|d| d.bytes.to_ascii_lowercase()).collect();
        let sides = if nocase.is_empty() || exact.is_empty() || merged.len() <= TEDDY_MAX_PATTERNS {
            let every: Vec<usize> = (0..all.len()).collect();
            vec![Side::build(&all, &every, !nocase.is_empty())?]
        } else {
            vec![
                Side::build(&all, &exact, false)?,
                Side::build(&all, &nocase, true)?,
            ]
        };
        let mut rules = Vec::with_capacity(all.len());
        let mut ranks = Vec::with_capacity(items.len());
        for d in &all {
            let start = ranks.len() as u32;
            ranks.extend_from_slice(&d.ranks);
            rules.push((start, ranks.len() as u32));
        }
        Ok(Some(Prefilter {
            sides: sides.into_iter().flatten().collect(),
            rules: rules.into_boxed_slice(),
            ranks: ranks.into_boxed_slice(),
        }))
    }

    /// Number of distinct patterns, for sizing [`VariantSeen`].
    pub(crate) fn variant_count(&self) -> usize {
        self.rules.len()
    }

    /// Calls `propose` with the rank of every rule whose fast pattern occurs in `hay`
    /// (a rule may be proposed more than once when several of its patterns occur).
    #[inline]
    pub(crate) fn scan(&self, hay: &[u8], seen: &mut VariantSeen, mut propose: impl FnMut(u32)) {
        self.scan_split(hay, usize::MAX, seen, |rank, anywhere, _| {
            if anywhere {
                propose(rank)
            }
        })
    }

    /// [`Prefilter::scan`] that also tells which proposals come from an occurrence
    /// starting at or after `split`, so one scan of stream bytes also yields what a scan
    /// of the packet's own payload (the bytes from `split` on) would: `propose(rank,
    /// anywhere, late)` is called for a rank's first occurrence (`anywhere`) and for its
    /// first occurrence from `split` on (`late`), together when they are the same.
    #[inline]
    pub(crate) fn scan_split(
        &self,
        hay: &[u8],
        split: usize,
        seen: &mut VariantSeen,
        mut propose: impl FnMut(u32, bool, bool),
    ) {
        let mut folded = std::mem::take(&mut seen.folded);
        let mut have_folded = false;
        for side in &self.sides {
            if side.folded {
                if !have_folded {
                    folded.clear();
                    folded.extend(hay.iter().map(u8::to_ascii_lowercase));
                    have_folded = true;
                }
                side.scan(&folded, hay, split, self, seen, &mut propose);
            } else {
                side.scan(hay, hay, split, self, seen, &mut propose);
            }
        }
        seen.folded = folded;
        seen.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(b: &[u8], nocase: bool) -> FastPattern {
        FastPattern {
            bytes: b.to_vec(),
            nocase,
        }
    }

    /// A prefilter where pattern `i` proposes rule rank `i`.
    fn ranked(pats: &[FastPattern]) -> Prefilter {
        let items: Vec<(u32, &FastPattern)> = pats
            .iter()
            .enumerate()
            .map(|(i, p)| (i as u32, p))
            .collect();
        Prefilter::build(&items).unwrap().unwrap()
    }

    #[test]
    fn scan_respects_case_and_dedupes() {
        let pats = [
            fp(b"Hello", false),
            fp(b"hello", true),
            fp(b"HELLO", false),
            fp(b"Hello", false),
            fp(b"wor", false),
        ];
        let pf = ranked(&pats);
        assert_eq!(pf.variant_count(), 4);
        let mut seen = VariantSeen::with_capacity(pf.variant_count());
        let rows: &[(&[u8], &[u32])] = &[
            (b"say Hello Hello world", &[0, 1, 3, 4]),
            (b"hELLo", &[1]),
            (b"HELLO", &[1, 2]),
            (b"nothing", &[]),
        ];
        for (hay, want) in rows {
            let mut got = Vec::new();
            pf.scan(hay, &mut seen, |r| got.push(r));
            got.sort();
            assert_eq!(&got, want, "{hay:?}");
        }
    }

    /// Both searchers (Teddy up to [`TEDDY_MAX_PATTERNS`], the automaton above) must find
    /// every rule whose pattern occurs, prefixes and overlaps included: checked against a
    /// naive substring search over pseudo-random haystacks from a small alphabet, so
    /// patterns occur often, overlap and nest.
    #[test]
    fn every_searcher_agrees_with_a_naive_search() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut kinds = (0, 0);
        // Groups with both cases: searched as one folded side, and as two.
        let mut sides = (0, 0);
        for (count, min_len) in [
            (3, 1),
            (20, 3),
            (TEDDY_MAX_PATTERNS, 1),
            (60, 4),
            (90, 3),
            (300, 1),
        ] {
            let pats: Vec<FastPattern> = (0..count)
                .map(|_| {
                    let len = min_len + (next() % 5) as usize;
                    let bytes: Vec<u8> = (0..len)
                        .map(|_| b"abAB\x00"[(next() % 5) as usize])
                        .collect();
                    fp(&bytes, next() % 3 == 0)
                })
                .collect();
            let pf = ranked(&pats);
            let mixed = pats.iter().any(|p| p.nocase) && pats.iter().any(|p| !p.nocase);
            match (mixed, pf.sides.len()) {
                (true, 1) => sides.0 += 1,
                (true, _) => sides.1 += 1,
                _ => {}
            }
            for side in &pf.sides {
                match side.searcher {
                    Searcher::Teddy(_) => kinds.0 += 1,
                    Searcher::Automaton(_) => kinds.1 += 1,
                }
            }
            let mut seen = VariantSeen::with_capacity(pf.variant_count());
            for _ in 0..200 {
                let len = (next() % 80) as usize;
                let hay: Vec<u8> = (0..len)
                    .map(|_| b"abAB\x00c"[(next() % 6) as usize])
                    .collect();
                let naive = |hay: &[u8]| -> Vec<u32> {
                    let folded = hay.to_ascii_lowercase();
                    pats.iter()
                        .enumerate()
                        .filter(|(_, p)| {
                            let (h, n) = if p.nocase {
                                (&folded[..], p.bytes.to_ascii_lowercase())
                            } else {
                                (hay, p.bytes.clone())
                            };
                            h.windows(n.len()).any(|w| w == n.as_slice())
                        })
                        .map(|(i, _)| i as u32)
                        .collect()
                };
                let want = naive(&hay);
                let mut got = Vec::new();
                pf.scan(&hay, &mut seen, |r| got.push(r));
                got.sort();
                assert_eq!(got, want, "{count} patterns, haystack {hay:?}");
                // One split scan: every rule once as found anywhere, and the rules found
                // in the bytes from the split on exactly once more.
                let split = (next() % (len as u64 + 1)) as usize;
                let (mut any, mut late) = (Vec::new(), Vec::new());
                pf.scan_split(&hay, split, &mut seen, |r, anywhere, is_late| {
                    if anywhere {
                        any.push(r);
                    }
                    if is_late {
                        late.push(r);
                    }
                });
                any.sort();
                late.sort();
                assert_eq!(any, want, "{count} patterns, haystack {hay:?}");
                assert_eq!(
                    late,
                    naive(&hay[split..]),
                    "{count} patterns, haystack {hay:?} split at {split}"
                );
            }
        }
        assert!(kinds.0 > 0 && kinds.1 > 0, "both searchers ran: {kinds:?}");
        assert!(
            sides.0 > 0 && sides.1 > 0,
            "merged and split sides ran: {sides:?}"
        );
    }

    #[test]
    fn strength_prefers_rare_bytes() {
        assert!(strength(b"\x00\x01\xfe\x02") > strength(b"abcd"));
        assert!(strength(b"abcd") > strength(b"aaaa"));
    }
}
