//! The per-group multi-pattern prefilter: one case-insensitive aho-corasick automaton over
//! the distinct fast patterns of the group's rules. Exact (case-sensitive) patterns are
//! re-checked at the hit position, so one scan serves both kinds. Each distinct
//! (pattern, nocase) variant lists the rules it proposes; a variant fires once per packet.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use crate::rules::{ContentMatch, PayloadMatch, Rule};

/// Groups with at most this many distinct patterns get a DFA (fastest scan, memory grows
/// with the pattern count); larger ones let aho-corasick pick (a contiguous NFA).
const DFA_MAX_PATTERNS: usize = 2000;

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
    let contents = || {
        rule.payload.iter().filter_map(|p| match p {
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

#[derive(Clone, Debug)]
struct Variant {
    bytes: Box<[u8]>,
    nocase: bool,
    /// Range into `Prefilter::ranks`.
    rules: (u32, u32),
}

/// One group's automaton and the rule ranks each of its patterns proposes.
#[derive(Clone, Debug)]
pub(crate) struct Prefilter {
    ac: AhoCorasick,
    /// Per automaton pattern: range into `variants`.
    pattern_variants: Box<[(u32, u32)]>,
    variants: Box<[Variant]>,
    ranks: Box<[u32]>,
}

/// Per-scratch state of a scan: which variants already fired for this packet.
#[derive(Debug, Default)]
pub(crate) struct VariantSeen {
    bits: Vec<u64>,
    touched: Vec<u32>,
}

impl VariantSeen {
    pub(crate) fn with_capacity(n: usize) -> VariantSeen {
        VariantSeen {
            bits: vec![0; n.div_ceil(64)],
            touched: Vec::with_capacity(n),
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

impl Prefilter {
    /// Builds the automaton over `(rank, fast pattern)` pairs; `None` for an empty list.
    pub(crate) fn build(
        items: &[(u32, &FastPattern)],
    ) -> Result<Option<Prefilter>, aho_corasick::BuildError> {
        if items.is_empty() {
            return Ok(None);
        }
        // lowercased bytes -> pattern id; (pattern id, exact bytes, nocase) -> variant
        let mut pattern_ids: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut variant_ids: HashMap<(usize, Vec<u8>, bool), usize> = HashMap::new();
        let mut variant_rules: Vec<(usize, &FastPattern, Vec<u32>)> = Vec::new();
        for &(rank, fp) in items {
            let lower = fp.bytes.to_ascii_lowercase();
            let pid = *pattern_ids.entry(lower.clone()).or_insert_with(|| {
                patterns.push(lower);
                patterns.len() - 1
            });
            // Case does not matter for a nocase variant: key it on the lowercased bytes.
            let key_bytes = if fp.nocase {
                fp.bytes.to_ascii_lowercase()
            } else {
                fp.bytes.clone()
            };
            let vid = *variant_ids
                .entry((pid, key_bytes, fp.nocase))
                .or_insert_with(|| {
                    variant_rules.push((pid, fp, Vec::new()));
                    variant_rules.len() - 1
                });
            variant_rules[vid].2.push(rank);
        }
        variant_rules.sort_by_key(|v| v.0);
        let mut pattern_variants = vec![(0u32, 0u32); patterns.len()];
        let mut variants = Vec::with_capacity(variant_rules.len());
        let mut ranks = Vec::with_capacity(items.len());
        for (vi, (pid, fp, rs)) in variant_rules.iter().enumerate() {
            let pv = &mut pattern_variants[*pid];
            if pv.1 == 0 {
                pv.0 = vi as u32;
            }
            pv.1 = vi as u32 + 1;
            let start = ranks.len() as u32;
            ranks.extend(rs.iter().copied());
            variants.push(Variant {
                bytes: fp.bytes.clone().into_boxed_slice(),
                nocase: fp.nocase,
                rules: (start, ranks.len() as u32),
            });
        }
        let kind = (patterns.len() <= DFA_MAX_PATTERNS).then_some(AhoCorasickKind::DFA);
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(true)
            .kind(kind)
            .build(&patterns)?;
        Ok(Some(Prefilter {
            ac,
            pattern_variants: pattern_variants.into_boxed_slice(),
            variants: variants.into_boxed_slice(),
            ranks: ranks.into_boxed_slice(),
        }))
    }

    /// Number of (pattern, case) variants, for sizing [`VariantSeen`].
    pub(crate) fn variant_count(&self) -> usize {
        self.variants.len()
    }

    /// Calls `propose` with the rank of every rule whose fast pattern occurs in `hay`
    /// (a rule may be proposed more than once when several of its variants occur).
    #[inline]
    pub(crate) fn scan(&self, hay: &[u8], seen: &mut VariantSeen, mut propose: impl FnMut(u32)) {
        for m in self.ac.find_overlapping_iter(hay) {
            let Some(&(a, b)) = self.pattern_variants.get(m.pattern().as_usize()) else {
                continue;
            };
            for vi in a..b {
                let Some(v) = self.variants.get(vi as usize) else {
                    continue;
                };
                if !v.nocase && hay.get(m.start()..m.end()) != Some(&v.bytes[..]) {
                    continue;
                }
                if !seen.mark(vi) {
                    continue;
                }
                if let Some(rs) = self.ranks.get(v.rules.0 as usize..v.rules.1 as usize) {
                    rs.iter().for_each(|&r| propose(r));
                }
            }
        }
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

    #[test]
    fn scan_respects_case_and_dedupes() {
        let pats = [
            fp(b"Hello", false),
            fp(b"hello", true),
            fp(b"HELLO", false),
            fp(b"Hello", false),
            fp(b"wor", false),
        ];
        let items: Vec<(u32, &FastPattern)> = pats
            .iter()
            .enumerate()
            .map(|(i, p)| (i as u32, p))
            .collect();
        let pf = Prefilter::build(&items).unwrap().unwrap();
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

    #[test]
    fn strength_prefers_rare_bytes() {
        assert!(strength(b"\x00\x01\xfe\x02") > strength(b"abcd"));
        assert!(strength(b"abcd") > strength(b"aaaa"));
    }
}
