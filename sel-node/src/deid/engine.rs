//! The detection engine: runs the ladder and resolves overlaps.
use super::category::{Category, CategoryError, USER_REGEX_SIZE_LIMIT};
use super::patterns::{self, CONTEXT_WINDOW, PatternRecognizer};
use super::prefilter::Prefilter;
use super::{Candidate, names};
use regex::{RegexSet, RegexSetBuilder};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Priority of user categories: above contact data, dates and names (the
/// user asked for them explicitly), below the checksummed and
/// context-anchored built-ins, so a loose user regex cannot take an SSN.
pub const USER_PRIORITY: u8 = 80;
const USER_CONFIDENCE: f32 = 0.8;

/// One identifier found in a text.
///
/// `start`/`end` are character offsets (Unicode scalar values), `end`
/// exclusive. The value itself is not stored, so a `Finding` is safe to log
/// and its `Debug` output holds no patient data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub start: usize,
    pub end: usize,
    pub label: String,
    pub confidence: f32,
    pub recognizer: String,
}

/// Name and label of a recognizer, indexed by [`Candidate::recognizer`].
struct Entry {
    name: String,
    label: String,
}

/// The detector: built-in recognizers plus user categories. Build once and
/// share (it is `Send + Sync`; detection takes `&self`).
pub struct Engine {
    patterns: Vec<PatternRecognizer>,
    table: Vec<Entry>,
    names_base: usize,
    /// The single-line patterns as one set, run once per line: only the
    /// patterns that match somewhere in a line then search that line. A
    /// note holds dozens of kinds of identifier but a line only a few, so
    /// this replaces dozens of scans of the whole text by one. `None` if
    /// the union is too large to build (every pattern then scans the text).
    line_set: Option<(RegexSet, Vec<usize>)>,
    /// Where the keyword-anchored patterns can start, found for all of
    /// them in one pass; `None`: each scans the whole text.
    keywords: Option<Prefilter>,
    /// Every line-set pattern is a built-in one, and so needs a digit, '@',
    /// ':' or "www" in a line to match there (see [`may_match_line`]).
    builtin_lines: bool,
}

/// Size limit of the line-set automaton (the union of many patterns).
const LINE_SET_SIZE_LIMIT: usize = 32 << 20;

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    /// The built-in recognizers only.
    pub fn new() -> Self {
        let builtins = patterns::builtins();
        let n = builtins.len();
        Self::assemble(builtins, n)
    }

    /// The built-ins plus `categories` (each validated; a name whose label
    /// equals a built-in label or another category's is refused).
    pub fn with_categories(categories: &[Category]) -> Result<Self, CategoryError> {
        let mut all = patterns::builtins();
        let builtin_count = all.len();
        let mut labels: BTreeSet<String> = all.iter().map(|p| p.label.clone()).collect();
        labels.insert("PERSON".into());
        for cat in categories {
            cat.validate()?;
            if !labels.insert(cat.label()) {
                return Err(CategoryError::Duplicate {
                    name: cat.name.clone(),
                });
            }
            all.push(user_recognizer(cat)?);
        }
        Ok(Self::assemble(all, builtin_count))
    }

    /// `patterns`: the built-ins (the first `builtin_count`), then user
    /// categories.
    fn assemble(patterns: Vec<PatternRecognizer>, builtin_count: usize) -> Self {
        let mut table: Vec<Entry> = patterns
            .iter()
            .map(|p| Entry {
                name: p.name.clone(),
                label: p.label.clone(),
            })
            .collect();
        let names_base = table.len();
        table.extend(names::RECOGNIZERS.iter().map(|n| Entry {
            name: (*n).into(),
            label: "PERSON".into(),
        }));
        let members: Vec<usize> = (0..patterns.len())
            .filter(|&i| patterns[i].single_line())
            .collect();
        let builtin_lines = members.iter().all(|&i| i < builtin_count);
        let line_set = RegexSetBuilder::new(members.iter().map(|&i| patterns[i].regex.as_str()))
            .size_limit(LINE_SET_SIZE_LIMIT)
            .dfa_size_limit(LINE_SET_SIZE_LIMIT)
            .build()
            .ok()
            .map(|set| (set, members));
        let anchored: Vec<(usize, &[String])> = patterns
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.single_line())
            .filter_map(|(i, p)| p.keyword_start.as_ref().map(|(w, _)| (i, &w[..])))
            .collect();
        let keywords = Prefilter::new(&anchored);
        Engine {
            builtin_lines,
            keywords,
            line_set,
            patterns,
            table,
            names_base,
        }
    }

    /// Every label this engine can report, sorted.
    pub fn labels(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self.table.iter().map(|e| e.label.as_str()).collect();
        set.into_iter().map(String::from).collect()
    }

    /// Find identifiers in `text`: non-overlapping findings sorted by start.
    pub fn detect(&self, text: &str) -> Vec<Finding> {
        let mut candidates = Vec::new();
        let mut by_line = vec![false; self.patterns.len()];
        if let Some((set, members)) = &self.line_set {
            for &i in members {
                by_line[i] = true;
            }
            let mut start = 0;
            for line in text.split_inclusive('\n') {
                let end = start + line.len();
                let body_end = end - usize::from(line.ends_with('\n'));
                let body = &text[start..body_end];
                if self.builtin_lines && !may_match_line(body) {
                    start = end;
                    continue;
                }
                for k in set.matches(body).iter() {
                    let i = members[k];
                    self.patterns[i].find_in_line(text, start..body_end, i, &mut candidates);
                }
                start = end;
            }
        }
        let starts = self
            .keywords
            .as_ref()
            .filter(|_| Prefilter::applies_to(text))
            .map(|k| k.candidates(text, self.patterns.len()));
        for (i, p) in self.patterns.iter().enumerate() {
            if by_line[i] {
                continue;
            }
            match &starts {
                Some(s) if p.keyword_start.is_some() => {
                    p.find_from(text, &s[i], i, &mut candidates)
                }
                _ => p.find(text, i, &mut candidates),
            }
        }
        names::find(text, self.names_base, &mut candidates);
        let accepted = resolve(candidates);
        let chars = CharOffsets::new(text, &accepted);
        accepted
            .iter()
            .map(|c| {
                let e = &self.table[c.recognizer];
                Finding {
                    start: chars.of(c.start),
                    end: chars.of(c.end),
                    label: e.label.clone(),
                    confidence: (c.confidence * 100.0).round() / 100.0,
                    recognizer: e.name.clone(),
                }
            })
            .collect()
    }
}

impl Engine {
    /// Seconds each recognizer spends scanning all of `text` (the name rung
    /// as one entry), slowest first: where detection time would go without
    /// the per-line set that [`Engine::detect`] uses to skip most scans.
    pub fn profile(&self, text: &str) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        let mut sink = Vec::new();
        for (i, p) in self.patterns.iter().enumerate() {
            let t = std::time::Instant::now();
            p.find(text, i, &mut sink);
            out.push((p.name.clone(), t.elapsed().as_secs_f64()));
        }
        let t = std::time::Instant::now();
        names::find(text, self.names_base, &mut sink);
        out.push(("person_*".to_string(), t.elapsed().as_secs_f64()));
        let t = std::time::Instant::now();
        let _ = resolve(sink);
        out.push(("resolve".to_string(), t.elapsed().as_secs_f64()));
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }
}

/// Whether a built-in single-line pattern can report anything in `line`.
/// Every one of them needs an ASCII digit, except e-mail ('@'), IPv6 (':')
/// and URLs ("://" or "www."); a VIN of letters only is refused by its
/// check. Prose lines lack all of these, and skipping them skips the
/// costliest search of the line set.
fn may_match_line(line: &str) -> bool {
    line.bytes()
        .any(|b| b.is_ascii_digit() || b == b'@' || b == b':')
        || line
            .as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(b"www"))
}

/// Turn a user category into a recognizer.
fn user_recognizer(cat: &Category) -> Result<PatternRecognizer, CategoryError> {
    let context: Vec<String> = cat
        .context
        .iter()
        .map(|w| w.trim().to_lowercase())
        .collect();
    let (pattern, group, required) = match &cat.regex {
        Some(r) => (r.clone(), 0, false),
        None => {
            let alts: Vec<String> = context.iter().map(|w| regex::escape(w)).collect();
            (
                format!(
                    r"(?i)(?-u:\b)(?:{})(?:[ \t]*(?:number|no\.?|#|id))?[ \t]*[:#.]?[ \t]*([A-Za-z0-9][A-Za-z0-9-]{{2,}})",
                    alts.join("|")
                ),
                1,
                false,
            )
        }
    };
    let regex = regex::RegexBuilder::new(&pattern)
        .size_limit(USER_REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| CategoryError::InvalidRegex {
            name: cat.name.clone(),
            reason: e.to_string(),
        })?;
    Ok(PatternRecognizer {
        name: format!("category_{}", cat.name),
        label: cat.label(),
        priority: USER_PRIORITY,
        regex,
        group,
        validate: None,
        confidence: USER_CONFIDENCE,
        context,
        context_required: required,
        window: CONTEXT_WINDOW,
        trim_trailing_punct: false,
        gate: None,
        keyword_start: None,
    })
}

/// Keep the best non-overlapping candidates: higher priority first, then
/// longer, then earlier, then the recognizer listed first. Deterministic for
/// a given engine and text. Returns the winners sorted by start.
fn resolve(mut candidates: Vec<Candidate>) -> Vec<Candidate> {
    candidates.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
            .then(a.recognizer.cmp(&b.recognizer))
    });
    // Accepted spans are disjoint, so only the one starting last before a
    // candidate's end can overlap it.
    let mut accepted: BTreeMap<usize, Candidate> = BTreeMap::new();
    for c in candidates {
        let overlaps = accepted
            .range(..c.end)
            .next_back()
            .is_some_and(|(_, a)| a.end > c.start);
        if !overlaps {
            accepted.insert(c.start, c);
        }
    }
    accepted.into_values().collect()
}

/// Char offsets of the accepted spans' byte offsets, counted in one walk
/// over the text (none for ASCII text, where they are equal).
struct CharOffsets {
    /// (byte offset, char offset), sorted by byte offset; empty for ASCII.
    map: Vec<(usize, usize)>,
}

impl CharOffsets {
    fn new(text: &str, spans: &[Candidate]) -> Self {
        if text.is_ascii() {
            return CharOffsets { map: Vec::new() };
        }
        let mut offsets: Vec<usize> = spans.iter().flat_map(|c| [c.start, c.end]).collect();
        offsets.sort_unstable();
        offsets.dedup();
        let mut map = Vec::with_capacity(offsets.len());
        let mut next = offsets.iter().peekable();
        for (chars, (b, _)) in text
            .char_indices()
            .chain(std::iter::once((text.len(), ' ')))
            .enumerate()
        {
            if next.peek().is_none() {
                break;
            }
            while next.peek().is_some_and(|&&o| o == b) {
                map.push((b, chars));
                next.next();
            }
        }
        CharOffsets { map }
    }

    /// The char offset of byte offset `byte` (one of the spans' offsets).
    fn of(&self, byte: usize) -> usize {
        if self.map.is_empty() {
            return byte;
        }
        self.map
            .binary_search_by_key(&byte, |&(b, _)| b)
            .map_or(byte, |k| self.map[k].1)
    }
}

/// The byte offset of character offset `char_offset` in `text` (the text's
/// length in bytes when it is at or past the end).
pub fn char_to_byte(text: &str, char_offset: usize) -> usize {
    text.char_indices()
        .nth(char_offset)
        .map_or(text.len(), |(b, _)| b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(engine: &Engine, text: &str) -> Vec<(String, String)> {
        engine
            .detect(text)
            .into_iter()
            .map(|f| {
                let s: String = text.chars().skip(f.start).take(f.end - f.start).collect();
                (f.label, s)
            })
            .collect()
    }

    fn has(engine: &Engine, text: &str, label: &str, value: &str) -> bool {
        spans(engine, text)
            .iter()
            .any(|(l, v)| l == label && v == value)
    }

    #[test]
    fn line_set_changes_speed_not_findings() {
        let fast = Engine::new();
        assert!(fast.line_set.is_some(), "the line set builds");
        let mut plain = Engine::new();
        plain.line_set = None;
        for d in crate::deid::eval::generate(48, 9) {
            assert_eq!(
                fast.detect(&d.text),
                plain.detect(&d.text),
                "document {}",
                d.id
            );
        }
        let t = "Tel 617-555-0134\nSSN 412-55-7891\r\nZoë 93 yo\n\nIBAN GB82WEST12345698765432";
        assert_eq!(fast.detect(t), plain.detect(t));
    }

    /// The keyword prefilter (and the line set) against every pattern
    /// scanning the whole text: the same findings, on generated notes and
    /// on the cases where candidate starts are subtle.
    #[test]
    fn prefilter_changes_speed_not_findings() {
        let fast = Engine::new();
        assert!(fast.keywords.is_some(), "the keyword prefilter builds");
        let mut plain = Engine::new();
        plain.line_set = None;
        plain.keywords = None;
        let mut texts: Vec<String> = crate::deid::eval::generate(60, 7)
            .into_iter()
            .map(|d| d.text)
            .collect();
        texts.extend(
            [
                "Model/serial: PM4829374; s/n SN-88231 and lot7609511, LOT 7609511",
                "medical record of the patient\nrecord number\n\n 00482913 MR 5512345",
                "Health insurance card 1234-567-890-AB, insurance policy: XJH123456789",
                "Memebr ID: XJH12345, Acct# 88213345, a/c 12-34567, SSN# 412557891",
                "\u{212A}elvin serial 12345 and \u{17F}sn 412557891 (folded keywords)",
                "aged 93, a 101 yo man, 95-year-old, x95 yo, 1999 yo, 9 yo",
                "Driver's license: S1234567, drivers licence D7654321, cert. 55123",
                "Zoë Müller MRN: BWH-47882910, routing 011000015, Fax: (617) 555-0199 on 3/14",
            ]
            .iter()
            .map(|t| t.to_string()),
        );
        for (k, t) in texts.iter().enumerate() {
            assert_eq!(fast.detect(t), plain.detect(t), "text {k}");
        }
    }

    #[test]
    fn engine_is_shareable_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Engine>();
    }

    #[test]
    fn char_offsets_not_bytes() {
        let e = Engine::new();
        let text = "Zoë Müller: call 617-555-0134";
        let f = e.detect(text);
        let phone = f.iter().find(|f| f.label == "PHONE").expect("phone found");
        assert_eq!((phone.start, phone.end), (17, 29));
        assert_eq!(char_to_byte(text, 17), 19);
    }

    #[test]
    fn resolution_is_priority_then_length_then_start() {
        let c = |start, end, priority, recognizer| Candidate {
            start,
            end,
            priority,
            recognizer,
            confidence: 0.5,
        };
        let won = resolve(vec![
            c(0, 10, 40, 0),
            c(2, 6, 90, 1),
            c(5, 12, 60, 2),
            c(20, 25, 40, 3),
            c(20, 24, 40, 4),
        ]);
        let got: Vec<(usize, usize)> = won.iter().map(|c| (c.start, c.end)).collect();
        assert_eq!(got, vec![(2, 6), (20, 25)]);
    }

    #[test]
    fn structured_ids() {
        let e = Engine::new();
        assert!(has(&e, "SSN 412-55-7891.", "SSN", "412-55-7891"));
        assert!(!has(&e, "ref 666-55-7891.", "SSN", "666-55-7891"));
        assert!(has(&e, "NPI# 1234567893", "NPI", "1234567893"));
        assert!(!has(&e, "NPI# 1234567890", "NPI", "1234567890"));
        assert!(has(&e, "DEA AB1234563", "DEA", "AB1234563"));
        assert!(!has(&e, "DEA AB1234564", "DEA", "AB1234564"));
        assert!(has(
            &e,
            "card 4111 1111 1111 1111 exp",
            "CREDIT_CARD",
            "4111 1111 1111 1111"
        ));
        assert!(!has(
            &e,
            "card 4111 1111 1111 1112 exp",
            "CREDIT_CARD",
            "4111 1111 1111 1112"
        ));
        assert!(has(
            &e,
            "IBAN GB82 WEST 1234 5698 7654 32.",
            "IBAN",
            "GB82 WEST 1234 5698 7654 32"
        ));
        assert!(!has(
            &e,
            "IBAN GB83 WEST 1234 5698 7654 32.",
            "IBAN",
            "GB83 WEST 1234 5698 7654 32"
        ));
        assert!(has(
            &e,
            "Routing number: 011000015",
            "ABA_ROUTING",
            "011000015"
        ));
        assert!(!has(
            &e,
            "Routing number: 011000016",
            "ABA_ROUTING",
            "011000016"
        ));
        assert!(has(&e, "SIN 130 692 544", "SIN", "130 692 544"));
        assert!(!has(&e, "SIN 130 692 545", "SIN", "130 692 545"));
        assert!(has(
            &e,
            "VIN: 1M8GDM9AXKP042788",
            "VIN",
            "1M8GDM9AXKP042788"
        ));
        assert!(has(&e, "car 1M8GDM9AXKP042788", "VIN", "1M8GDM9AXKP042788"));
        assert!(!has(
            &e,
            "car 1M8GDM9A1KP042788",
            "VIN",
            "1M8GDM9A1KP042788"
        ));
        assert!(has(&e, "MBI 1EG4-TE5-MK73", "MBI", "1EG4-TE5-MK73"));
        assert!(has(&e, "MRN: BWH-47882910", "MRN", "BWH-47882910"));
        assert!(!has(&e, "value 47882910", "MRN", "47882910"));
        assert!(has(
            &e,
            "OHIP: 1234-567-890-AB",
            "HEALTH_CARD",
            "1234-567-890-AB"
        ));
        assert!(has(
            &e,
            "Member ID: XJH123456789",
            "HEALTH_PLAN",
            "XJH123456789"
        ));
        assert!(has(&e, "Account #: 88213345", "ACCOUNT", "88213345"));
        assert!(has(&e, "Driver's license: S1234567", "LICENSE", "S1234567"));
        assert!(has(
            &e,
            "Pacemaker serial number: PM4829374",
            "DEVICE_ID",
            "PM4829374"
        ));
    }

    #[test]
    fn contact_and_places() {
        let e = Engine::new();
        assert!(has(&e, "Phone: (617) 555-0134", "PHONE", "(617) 555-0134"));
        assert!(has(&e, "Fax: (617) 555-0199", "FAX", "(617) 555-0199"));
        assert!(has(
            &e,
            "reach +44 20 7946 0958 today",
            "PHONE",
            "+44 20 7946 0958"
        ));
        assert!(has(
            &e,
            "mail jane.roe@clinic.org.",
            "EMAIL",
            "jane.roe@clinic.org"
        ));
        assert!(has(
            &e,
            "see https://portal.example.org/p/1.",
            "URL",
            "https://portal.example.org/p/1"
        ));
        assert!(has(&e, "from 72.14.212.85 ", "IP", "72.14.212.85"));
        assert!(!has(&e, "from 72.14.312.85 ", "IP", "72.14.312.85"));
        assert!(has(
            &e,
            "host 2001:db8::ff00:42:8329 up",
            "IP",
            "2001:db8::ff00:42:8329"
        ));
        assert!(has(
            &e,
            "lives at 482 Commonwealth Avenue, Apt 4B",
            "ADDRESS",
            "482 Commonwealth Avenue, Apt 4B"
        ));
        assert!(has(&e, "Boston, MA 02115", "ZIP", "02115"));
        assert!(has(&e, "Toronto ON M5V 2T6", "POSTAL_CODE_CA", "M5V 2T6"));
    }

    #[test]
    fn dates_and_ages() {
        let e = Engine::new();
        assert!(has(&e, "on 04/02/2026 at", "DATE", "04/02/2026"));
        assert!(has(
            &e,
            "at 2026-04-02T10:30:00Z.",
            "DATE",
            "2026-04-02T10:30:00Z"
        ));
        assert!(has(&e, "born March 3, 1931 in", "DATE", "March 3, 1931"));
        assert!(has(
            &e,
            "since 3rd of March 2020.",
            "DATE",
            "3rd of March 2020"
        ));
        assert!(has(&e, "since June 2020.", "DATE", "June 2020"));
        assert!(!has(&e, "take 1/2 tablet", "DATE", "1/2"));
        assert!(has(&e, "a 93-year-old man", "AGE", "93"));
        assert!(!has(&e, "a 53-year-old man", "AGE", "53"));
    }

    #[test]
    fn identifiers_beat_names() {
        let e = Engine::new();
        // "Mark" is a first name, but the MRN context claims the id.
        let found = spans(&e, "Patient: John Smith MRN: 00482913");
        assert!(found.contains(&("PERSON".into(), "John Smith".into())));
        assert!(found.contains(&("MRN".into(), "00482913".into())));
    }

    #[test]
    fn user_categories() {
        let cats = vec![
            Category {
                name: "study_id".into(),
                regex: Some(r"STU-\d{6}".into()),
                context: vec![],
            },
            Category {
                name: "bed".into(),
                regex: None,
                context: vec!["bed".into()],
            },
            // No digit, '@' or ':': a line the built-ins alone would skip.
            Category {
                name: "ward".into(),
                regex: Some(r"Ward [A-Z]\b".into()),
                context: vec![],
            },
        ];
        let e = Engine::with_categories(&cats).unwrap();
        assert!(has(
            &e,
            "enrolled as STU-123456 today",
            "STUDY_ID",
            "STU-123456"
        ));
        assert!(has(&e, "Bed: W12-3", "BED", "W12-3"));
        assert!(has(&e, "moved to Ward C today", "WARD", "Ward C"));
        assert!(Engine::new().builtin_lines && !e.builtin_lines);
        let dup = vec![Category {
            name: "ssn".into(),
            regex: Some("x".into()),
            context: vec![],
        }];
        assert!(matches!(
            Engine::with_categories(&dup),
            Err(CategoryError::Duplicate { .. })
        ));
    }
}
