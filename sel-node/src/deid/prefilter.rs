//! One pass over a text that finds where the keyword-anchored recognizers
//! ("MRN: …", "Member ID …", "Serial number …") can match at all.
//!
//! Each of those patterns starts with its keyword at a word boundary, so a
//! match can only begin where one of the keyword's first words begins. An
//! Aho-Corasick automaton over those first words (for every anchored
//! recognizer at once, ASCII case-insensitive, overlapping) lists the
//! candidate starts; each recognizer then tries its pattern anchored at its
//! own candidates only, instead of gating on and then scanning the whole
//! text once per recognizer. The candidates are a superset of the real
//! starts, and matches are taken leftmost-first and non-overlapping exactly
//! as a full scan takes them, so the findings do not change (a test checks
//! this against the full scans).
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

/// Candidate starts of every anchored recognizer in one text.
pub(crate) struct Prefilter {
    automaton: AhoCorasick,
    /// Recognizer index of each automaton pattern.
    owner: Vec<usize>,
}

impl Prefilter {
    /// `anchored`: (recognizer index, first-word literals) per recognizer.
    /// `None` when there is nothing to search for or the automaton cannot
    /// be built (every recognizer then scans the text itself).
    pub(crate) fn new(anchored: &[(usize, &[String])]) -> Option<Self> {
        let mut literals = Vec::new();
        let mut owner = Vec::new();
        for (index, words) in anchored {
            for w in words.iter() {
                literals.push(w.as_str());
                owner.push(*index);
            }
        }
        if literals.is_empty() {
            return None;
        }
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            // A full DFA: a few hundred short words make a small one, and
            // overlapping search then costs one table look-up per byte.
            .kind(Some(AhoCorasickKind::DFA))
            .build(&literals)
            .ok()?;
        Some(Prefilter { automaton, owner })
    }

    /// Whether the prefilter's ASCII case folding sees every keyword the
    /// recognizers' Unicode case-insensitive patterns see: only the Kelvin
    /// sign and the long s fold onto ASCII letters ('k', 's').
    pub(crate) fn applies_to(text: &str) -> bool {
        !text.contains(['\u{212A}', '\u{17F}'])
    }

    /// For each recognizer index (`slots` long), the sorted byte offsets at
    /// which one of its keywords starts at an (ASCII) word boundary.
    pub(crate) fn candidates(&self, text: &str, slots: usize) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = vec![Vec::new(); slots];
        let bytes = text.as_bytes();
        for m in self.automaton.find_overlapping_iter(text) {
            let start = m.start();
            let boundary = start == 0 || !is_word_byte(bytes[start - 1]);
            if boundary {
                out[self.owner[m.pattern().as_usize()]].push(start);
            }
        }
        for starts in &mut out {
            if starts.len() > 1 {
                starts.sort_unstable();
                starts.dedup();
            }
        }
        out
    }
}

/// A byte of an ASCII word (what `(?-u:\b)` looks at).
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The literals a phrase list (as given to [`super::patterns::kw`]) can
/// start with: the first word of each phrase, with the typo variants `kw`
/// adds, or the literal run before the first regex syntax of that word.
/// `None` if some phrase starts with no literal (no prefilter then).
pub(crate) fn first_words(phrases: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for phrase in phrases.split('|') {
        let word = phrase.split(' ').next().unwrap_or("");
        if word.len() >= 4 && word.bytes().all(|b| b.is_ascii_lowercase()) {
            let b = word.as_bytes();
            out.push(word.to_string());
            for i in 0..b.len() - 1 {
                if b[i] != b[i + 1] {
                    let mut v = b.to_vec();
                    v.swap(i, i + 1);
                    out.push(String::from_utf8_lossy(&v).into_owned());
                }
            }
            continue;
        }
        let run: String = word
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '/' | '#'))
            .collect();
        // A quantifier after the run makes its last character optional.
        let rest = &word[run.len()..];
        let literal = if rest.starts_with(['?', '*', '{']) {
            let mut r = run;
            r.pop();
            r
        } else {
            run
        };
        if literal.is_empty() {
            return None;
        }
        out.push(literal);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_words_of_phrases() {
        let w = first_words("mrn|med rec|soc\\.? sec\\.?|driver'?s? license|a/c|ss#").unwrap();
        assert!(w.contains(&"mrn".to_string()));
        assert!(w.contains(&"med".to_string()));
        assert!(w.contains(&"soc".to_string()));
        assert!(w.contains(&"driver".to_string()));
        assert!(w.contains(&"a/c".to_string()));
        assert!(w.contains(&"ss#".to_string()));
        let typo = first_words("member").unwrap();
        assert!(typo.contains(&"memebr".to_string()));
        assert_eq!(first_words("(?:x)"), None);
        assert_eq!(first_words("ab?"), Some(vec!["a".to_string()]));
    }

    #[test]
    fn candidates_only_at_word_starts() {
        let words = ["mrn".to_string()];
        let p = Prefilter::new(&[(1, &words[..])]).unwrap();
        let c = p.candidates("MRN 1, xmrn 2, (mrn) 3", 2);
        assert_eq!(c[1], vec![0, 16]);
        assert!(c[0].is_empty());
    }
}
