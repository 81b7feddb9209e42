//! Single-pattern search for `content` verification: `memmem` for exact patterns, a
//! first-byte scan plus ASCII case-folded compare for `nocase` ones.

use memchr::memmem::Finder;

/// A compiled `content` pattern that finds its first occurrence in a slice.
#[derive(Clone, Debug)]
pub(crate) enum Searcher {
    Exact(Box<Finder<'static>>),
    /// `nocase`: the pattern lowercased; its first byte's two cases drive a `memchr2` scan.
    NoCase {
        lower: Box<[u8]>,
        first: (u8, u8),
    },
}

impl Searcher {
    pub(crate) fn new(pattern: &[u8], nocase: bool) -> Searcher {
        if nocase {
            let lower: Box<[u8]> = pattern.to_ascii_lowercase().into_boxed_slice();
            let f = lower.first().copied().unwrap_or(0);
            Searcher::NoCase {
                first: (f, f.to_ascii_uppercase()),
                lower,
            }
        } else {
            Searcher::Exact(Box::new(Finder::new(pattern).into_owned()))
        }
    }

    /// Start of the first occurrence of the pattern in `hay`.
    #[inline]
    pub(crate) fn find(&self, hay: &[u8]) -> Option<usize> {
        match self {
            Searcher::Exact(f) => f.find(hay),
            Searcher::NoCase { lower, first } => find_nocase(hay, lower, *first),
        }
    }
}

fn find_nocase(hay: &[u8], lower: &[u8], first: (u8, u8)) -> Option<usize> {
    let n = lower.len();
    if n == 0 {
        return Some(0);
    }
    if hay.len() < n {
        return None;
    }
    let last_start = hay.len() - n;
    let mut pos = 0;
    while pos <= last_start {
        let window = hay.get(pos..=last_start)?;
        let i = memchr::memchr2(first.0, first.1, window)?;
        let start = pos + i;
        let cand = hay.get(start..start + n)?;
        if cand.eq_ignore_ascii_case(lower) {
            return Some(start);
        }
        pos = start + 1;
    }
    None
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // test tables are tuples
mod tests {
    use super::*;

    #[test]
    fn searcher_finds_first_occurrence() {
        let rows: &[(&[u8], bool, &[u8], Option<usize>)] = &[
            (b"abc", false, b"xxabcabc", Some(2)),
            (b"abc", false, b"xxABCabc", Some(5)),
            (b"abc", true, b"xxABCabc", Some(2)),
            (b"AbC", true, b"xxaBc", Some(2)),
            (b"abc", true, b"xxab", None),
            (b"1a", true, b"11A", Some(1)),
            (b"abc", false, b"", None),
            (b"|", true, b"a|", Some(1)),
        ];
        for (pat, nocase, hay, want) in rows {
            assert_eq!(
                Searcher::new(pat, *nocase).find(hay),
                *want,
                "{pat:?} in {hay:?}"
            );
        }
    }
}
