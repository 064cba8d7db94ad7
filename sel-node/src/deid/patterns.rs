//! The regex rungs of the ladder: one [`PatternRecognizer`] per kind of
//! structured identifier, each a regex plus an optional validation (check
//! digit, ranges) and optional context words.
//!
//! Patterns are written with `\b` and `\d`; [`compile`] rewrites them to
//! ASCII word boundaries and ASCII digits, because a Unicode `\b` forces the
//! regex crate off its fast DFA on non-ASCII text and a Unicode `\d` would
//! accept Arabic-Indic digits that no US or Canadian identifier uses.
use super::Candidate;
use super::checksum;
use regex::Regex;

/// One regex-based recognizer.
pub(crate) struct PatternRecognizer {
    /// Name reported in findings (`recognizer`).
    pub name: String,
    pub label: String,
    /// Higher wins an overlap.
    pub priority: u8,
    pub regex: Regex,
    /// Capture group that is the finding (0: the whole match). Context
    /// anchored patterns match "MRN: 123" and report only "123".
    pub group: usize,
    pub validate: Option<fn(&str) -> bool>,
    /// Confidence of a validated match without context.
    pub confidence: f32,
    /// Lower-case words that, within [`CONTEXT_WINDOW`] bytes before the
    /// match, raise confidence by [`CONTEXT_BOOST`].
    pub context: Vec<String>,
    /// The match counts only with a context word before it.
    pub context_required: bool,
    /// How far back context words are looked for.
    pub window: usize,
    /// Strip trailing sentence punctuation (URLs).
    pub trim_trailing_punct: bool,
    /// A cheap literal test the text must pass before the (slower) pattern
    /// runs at all: the keywords of a context-anchored recognizer. Most
    /// notes lack most keywords, so most anchored patterns never run.
    pub gate: Option<Regex>,
    /// For a pattern that starts with its keyword: the literals a match
    /// can start with (see [`super::prefilter`]) and the pattern anchored
    /// at the start of its haystack.
    pub keyword_start: Option<(Vec<String>, Regex)>,
}

/// Default distance (bytes) before a match in which context words count.
pub(crate) const CONTEXT_WINDOW: usize = 40;
/// Priority lost by a match whose recognizer has context words when none
/// is present.
pub(crate) const DEMOTION: u8 = 10;
/// Confidence added by a context word.
pub(crate) const CONTEXT_BOOST: f32 = 0.3;

/// A regex alternation of keyword phrases (`|`-separated, may contain regex
/// syntax): words in a phrase are joined by any white space (notes wrap
/// lines), and every plain word of four letters or more also matches with
/// two adjacent letters swapped, the commonest typing error ("memebr").
pub(crate) fn kw(phrases: &str) -> String {
    phrases
        .split('|')
        .map(|phrase| {
            phrase
                .split(' ')
                .map(|w| {
                    if w.len() >= 4 && w.bytes().all(|b| b.is_ascii_lowercase()) {
                        let b = w.as_bytes();
                        let mut alts = vec![w.to_string()];
                        for i in 0..b.len() - 1 {
                            if b[i] != b[i + 1] {
                                let mut v = b.to_vec();
                                v.swap(i, i + 1);
                                alts.push(String::from_utf8_lossy(&v).into_owned());
                            }
                        }
                        format!("(?:{})", alts.join("|"))
                    } else {
                        w.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(r"\s+")
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// Rewrite `\b` and `\d` to their ASCII forms and compile.
pub(crate) fn compile(pattern: &str) -> Regex {
    let p = pattern.replace(r"\b", r"(?-u:\b)").replace(r"\d", "[0-9]");
    // The built-in patterns are constants covered by the unit tests; a
    // failure here is a programming error, not bad input.
    Regex::new(&p).unwrap_or_else(|e| panic!("built-in pattern does not compile: {e}"))
}

impl PatternRecognizer {
    fn new(name: &str, label: &str, priority: u8, confidence: f32, pattern: &str) -> Self {
        PatternRecognizer {
            name: name.into(),
            label: label.into(),
            priority,
            regex: compile(pattern),
            group: 0,
            validate: None,
            confidence,
            context: Vec::new(),
            context_required: false,
            window: CONTEXT_WINDOW,
            trim_trailing_punct: false,
            gate: None,
            keyword_start: None,
        }
    }
    fn gate(mut self, keywords: &str) -> Self {
        self.gate = Some(compile(&format!("(?i){keywords}")));
        self
    }
    /// Gate on the keyword `phrases` (see [`kw`]) that this pattern starts
    /// with, and let the prefilter find where it can start.
    fn keywords(mut self, phrases: &str) -> Self {
        let alternation = kw(phrases);
        let prefix = format!(r"(?i)(?-u:\b)(?:{alternation})");
        let pattern = self.regex.as_str().to_string();
        // Only a pattern that really starts with the keyword can be run at
        // the keyword's starts alone.
        if pattern.starts_with(&prefix)
            && let Some(words) = super::prefilter::first_words(phrases)
        {
            self = self.starts_with(words);
        }
        self.gate(&alternation)
    }
    /// Every match starts, at a word boundary, with one of `literals`
    /// (ASCII case-insensitive): the prefilter may find the starts.
    fn starts_with(mut self, literals: Vec<String>) -> Self {
        let pattern = self.regex.as_str();
        let anchored = Regex::new(&format!(r"\A(?:{pattern})"))
            .unwrap_or_else(|e| panic!("built-in pattern does not compile: {e}"));
        self.keyword_start = Some((literals, anchored));
        self
    }
    fn group(mut self, g: usize) -> Self {
        self.group = g;
        self
    }
    fn validate(mut self, f: fn(&str) -> bool) -> Self {
        self.validate = Some(f);
        self
    }
    fn context(mut self, words: &[&str]) -> Self {
        self.context = words.iter().map(|w| w.to_string()).collect();
        self
    }
    fn require_context(mut self, window: usize) -> Self {
        self.context_required = true;
        self.window = window;
        let words: Vec<String> = self.context.iter().map(|w| regex::escape(w)).collect();
        self.gate(&words.join("|"))
    }
    fn trim(mut self) -> Self {
        self.trim_trailing_punct = true;
        self
    }

    /// Every accepted match in `text`, as byte-offset candidates.
    pub(crate) fn find(&self, text: &str, index: usize, out: &mut Vec<Candidate>) {
        if self.gate.as_ref().is_some_and(|g| !g.is_match(text)) {
            return;
        }
        if self.group == 0 {
            for m in self.regex.find_iter(text) {
                self.accept(text, m.start(), m.end(), index, out);
            }
        } else {
            for caps in self.regex.captures_iter(text) {
                if let Some(m) = caps.get(self.group) {
                    self.accept(text, m.start(), m.end(), index, out);
                }
            }
        }
    }

    /// Like [`Self::find`], trying the pattern only at `starts` (sorted
    /// byte offsets, a superset of where a match can start; see
    /// [`super::prefilter`]). Matches are taken leftmost-first and
    /// without overlap, as [`Self::find`] takes them.
    pub(crate) fn find_from(
        &self,
        text: &str,
        starts: &[usize],
        index: usize,
        out: &mut Vec<Candidate>,
    ) {
        let Some((_, anchored)) = &self.keyword_start else {
            return self.find(text, index, out);
        };
        let mut at = 0;
        for &p in starts {
            if p < at {
                continue;
            }
            let hay = &text[p..];
            if self.group == 0 {
                if let Some(m) = anchored.find(hay) {
                    self.accept(text, p + m.start(), p + m.end(), index, out);
                    at = p + m.end();
                }
            } else if let Some(caps) = anchored.captures(hay) {
                if let Some(m) = caps.get(self.group) {
                    self.accept(text, p + m.start(), p + m.end(), index, out);
                }
                at = p + caps.get(0).map_or(0, |m| m.end());
            }
        }
    }

    /// Like [`Self::find`] but only matches inside `line` (a byte range of
    /// `text` that holds no line break); word boundaries and context words
    /// still see the text around it.
    pub(crate) fn find_in_line(
        &self,
        text: &str,
        line: std::ops::Range<usize>,
        index: usize,
        out: &mut Vec<Candidate>,
    ) {
        let hay = &text[..line.end];
        let mut at = line.start;
        while at < line.end {
            let (start, end, whole_end) = if self.group == 0 {
                match self.regex.find_at(hay, at) {
                    Some(m) => (m.start(), m.end(), m.end()),
                    None => break,
                }
            } else {
                match self.regex.captures_at(hay, at) {
                    Some(caps) => {
                        let whole = caps.get(0).map_or(at, |m| m.end());
                        match caps.get(self.group) {
                            Some(m) => (m.start(), m.end(), whole),
                            None => (0, 0, whole),
                        }
                    }
                    None => break,
                }
            };
            if end > start {
                self.accept(text, start, end, index, out);
            }
            // Patterns never match the empty string; step on regardless.
            at = if whole_end > at {
                whole_end
            } else {
                next_char(text, at)
            };
        }
    }

    /// Whether this pattern can only match within one line, so that it may
    /// be run line by line (built-in patterns spell every line-crossing
    /// white space as `\s`). A pattern whose gate is only its required
    /// context words qualifies too: the gate matches wherever
    /// [`context_before`] could, so without it every match is refused
    /// anyway and the gate only saved time.
    pub(crate) fn single_line(&self) -> bool {
        (self.gate.is_none() || self.context_required) && !self.regex.as_str().contains(r"\s")
    }

    fn accept(
        &self,
        text: &str,
        start: usize,
        mut end: usize,
        index: usize,
        out: &mut Vec<Candidate>,
    ) {
        if self.trim_trailing_punct {
            while end > start
                && matches!(
                    text.as_bytes()[end - 1],
                    b'.' | b',' | b';' | b':' | b')' | b'!' | b'?' | b'\'' | b'"' | b'>' | b'*'
                )
            {
                end -= 1;
            }
        }
        if end <= start {
            return;
        }
        let value = &text[start..end];
        if self.validate.is_some_and(|v| !v(value)) {
            return;
        }
        let has_context =
            !self.context.is_empty() && context_before(text, start, self.window, &self.context);
        if self.context_required && !has_context {
            return;
        }
        // A context-anchored value must not start inside a word
        // ("LOT7609511" is not "lot" + "7609511").
        if self.group != 0
            && text[..start]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric)
        {
            return;
        }
        // Without its context words, a checksum-only match yields to an
        // identifier announced by its own context ("MRN MR2279265" is an
        // MRN even if it happens to pass the DEA checksum).
        let priority = if !self.context.is_empty() && !has_context {
            self.priority.saturating_sub(DEMOTION)
        } else {
            self.priority
        };
        let confidence = if has_context {
            (self.confidence + CONTEXT_BOOST).min(1.0)
        } else {
            self.confidence
        };
        out.push(Candidate {
            start,
            end,
            priority,
            recognizer: index,
            confidence,
        });
    }
}

fn next_char(text: &str, at: usize) -> usize {
    text[at..]
        .chars()
        .next()
        .map_or(at + 1, |c| at + c.len_utf8())
}

/// Whether one of `words` (lower case) occurs in the `window` bytes before
/// `start`, compared case-insensitively.
pub(crate) fn context_before(text: &str, start: usize, window: usize, words: &[String]) -> bool {
    let mut from = start.saturating_sub(window);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let before = &text[from..start];
    // Lower-cased on the stack: windows are a few dozen bytes.
    let mut buf = [0u8; 64];
    if let Some(dst) = buf.get_mut(..before.len()) {
        dst.copy_from_slice(before.as_bytes());
        dst.make_ascii_lowercase();
        if let Ok(lower) = std::str::from_utf8(dst) {
            return words.iter().any(|w| lower.contains(w.as_str()));
        }
    }
    let lower = before.to_ascii_lowercase();
    words.iter().any(|w| lower.contains(w.as_str()))
}

fn has_digit(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
}

/// A context-anchored identifier: 5 to 30 characters (the regex already
/// demands a digit, so words after the context are not taken).
fn id_len_ok(s: &str) -> bool {
    (5..=30).contains(&s.len()) && !s.starts_with('-') && !s.ends_with('-')
}

/// A parseable IPv6 address with at least three groups of hex digits, so
/// that code paths ("spec::", "e::f") are not addresses.
fn ipv6_valid(s: &str) -> bool {
    s.split(':').filter(|g| !g.is_empty()).count() >= 3 && s.parse::<std::net::Ipv6Addr>().is_ok()
}

/// Month 1–12 and day 1–31 in either order (US and European numeric dates).
fn numeric_date_valid(s: &str) -> bool {
    let mut parts = s
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .take(3)
        .filter_map(|p| p.parse::<u32>().ok());
    let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
        return false;
    };
    let md = (1..=12).contains(&a) && (1..=31).contains(&b);
    let dm = (1..=31).contains(&a) && (1..=12).contains(&b);
    md || dm
}

fn iso_date_valid(s: &str) -> bool {
    let m: u32 = s.get(5..7).and_then(|x| x.parse().ok()).unwrap_or(0);
    let d: u32 = s.get(8..10).and_then(|x| x.parse().ok()).unwrap_or(0);
    (1..=12).contains(&m) && (1..=31).contains(&d)
}

fn mbi_valid(s: &str) -> bool {
    // The 11 characters without dashes; the regex already enforced the
    // character classes per position, this rejects mixed dash placement.
    s.bytes().filter(|b| *b != b'-').count() == 11
}

fn intl_phone_valid(s: &str) -> bool {
    let n = s.bytes().filter(u8::is_ascii_digit).count();
    (8..=15).contains(&n)
}

fn vin_candidate_valid(s: &str) -> bool {
    has_digit(s) && s.bytes().any(|b| b.is_ascii_alphabetic()) && checksum::vin_valid(s)
}

fn vin_with_context_valid(s: &str) -> bool {
    has_digit(s) && s.bytes().any(|b| b.is_ascii_alphabetic())
}

const MONTH: &str = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)\.?";
const TIME: &str = r"(?:,?[ \t](?:at[ \t])?[0-2]?\d:[0-5]\d(?::[0-5]\d)?(?:[ \t]?[AaPp]\.?[Mm]\.?)?(?:[ \t]?[A-Z]{3}(?-u:\b))?)?";
const STATES: &str = "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR";
const STREET_SUFFIX: &str = r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|Circle|Cir|Highway|Hwy|Parkway|Pkwy|Square|Sq|Trail|Trl|Row|Alley|Pike|Crescent|Cres)\.?";
/// Label keyword, its optional "number / no. / #" tail and separators.
const NUM_TAIL: &str =
    r"(?:\s*(?:number|unmber|nmuber|nubmer|numebr|numbre|num\.?|no\.?|nr\.?|#|id))?\s*[:#.]?\s*";

/// The built-in ladder. Priorities: checksummed identifiers 90–99, context
/// anchored identifiers 80–89, contact data 70–85, dates and places 55–75,
/// names 40 (see [`super::names`]).
pub(crate) fn builtins() -> Vec<PatternRecognizer> {
    let mut v = vec![
        PatternRecognizer::new("credit_card_luhn", "CREDIT_CARD", 97, 0.9, r"\b(?:\d{4}[- ]?){3}\d{1,7}\b|\b\d{4}[- ]?\d{6}[- ]?\d{5}\b")
            .validate(checksum::credit_card_valid)
            .context(&["card", "visa", "mastercard", "amex", "cc#"]),
        PatternRecognizer::new("iban_mod97", "IBAN", 97, 0.95, r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
            .validate(checksum::iban_valid),
        PatternRecognizer::new(
            "aba_routing",
            "ABA_ROUTING",
            96,
            0.7,
            &format!(r"(?i)\b(?:{}){NUM_TAIL}(\d{{9}})\b", kw("routing|aba|rtn|transit")),
        )
        .group(1)
        .keywords("routing|aba|rtn|transit")
        .validate(checksum::aba_valid),
        PatternRecognizer::new("ssn_dashed", "SSN", 95, 0.85, r"\b\d{3}-\d{2}-\d{4}\b|\b\d{3} \d{2} \d{4}\b")
            .validate(checksum::ssn_valid)
            .context(&["ssn", "social security", "ss#", "soc sec"]),
        PatternRecognizer::new(
            "ssn_context",
            "SSN",
            95,
            0.7,
            &format!(r"(?i)\b(?:{}){NUM_TAIL}(\d{{9}})\b", kw("ssn|social security|soc\\.? sec\\.?|ss#")),
        )
        .group(1)
        .keywords("ssn|social security|soc\\.? sec\\.?|ss#")
        .validate(checksum::ssn_valid),
        PatternRecognizer::new("sin_luhn", "SIN", 94, 0.65, r"\b\d{3}[- ]\d{3}[- ]\d{3}\b")
            .validate(checksum::sin_valid)
            .context(&["sin", "social insurance", "nas"]),
        PatternRecognizer::new("sin_context", "SIN", 94, 0.7, &format!(r"(?i)\b(?:{}){NUM_TAIL}(\d{{9}})\b", kw("sin|social insurance")))
            .group(1)
        .keywords("sin|social insurance")
            .validate(checksum::sin_valid),
        PatternRecognizer::new("npi_luhn", "NPI", 93, 0.7, r"\b[12]\d{9}\b")
            .validate(checksum::npi_valid)
            .context(&["npi", "provider id", "national provider"]),
        PatternRecognizer::new("dea_checksum", "DEA", 93, 0.8, r"\b[ABCDEFGHJKLMPRSTUXabcdefghjklmprstux][A-Za-z9]\d{7}\b")
            .validate(checksum::dea_valid)
            .context(&["dea"]),
        PatternRecognizer::new(
            "mbi_format",
            "MBI",
            92,
            0.85,
            r"\b[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d-?[AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d-?[AC-HJKMNP-RT-Y]{2}\d{2}\b",
        )
        .validate(mbi_valid)
        .context(&["mbi", "medicare"]),
        PatternRecognizer::new("hicn_format", "HICN", 91, 0.6, r"\b\d{3}-?\d{2}-?\d{4}[- ]?[A-Z][0-9A-Z]?\b")
            .context(&["hicn", "hic", "medicare", "claim number"]),
        PatternRecognizer::new("vin_check_digit", "VIN", 91, 0.85, r"\b[A-HJ-NPR-Z0-9]{17}\b")
            .validate(vin_candidate_valid)
            .context(&["vin", "vehicle"]),
        PatternRecognizer::new("vin_context", "VIN", 91, 0.7, &format!(r"(?i)\b(?:{}){NUM_TAIL}([A-HJ-NPR-Z0-9]{{17}})\b", kw("vin|vehicle identification")))
            .group(1)
        .keywords("vin|vehicle identification")
            .validate(vin_with_context_valid),
        PatternRecognizer::new(
            "health_card_context",
            "HEALTH_CARD",
            90,
            0.85,
            &format!(r"(?i)\b(?:{}){NUM_TAIL}(\d{{4}}[- ]?\d{{3}}[- ]?\d{{3}}(?:[- ]?[A-Z]{{2}})?|[A-Z]{{4}}[ ]?\d{{4}}[ ]?\d{{4}}|\d{{9,10}})\b", kw("health card|health insurance card|ohip|phn|ramq|carte soleil|hcn|provincial health(?: card)?|personal health")),
        )
        .group(1)
        .keywords("health card|health insurance card|ohip|phn|ramq|carte soleil|hcn|provincial health(?: card)?|personal health"),
        PatternRecognizer::new(
            "mrn_context",
            "MRN",
            89,
            0.9,
            &format!(r"(?i)\b(?:{}){NUM_TAIL}([A-Z]{{0,4}}[- ]?\d{{5,12}}(?:-\d{{1,4}})?)\b", kw("mrn|medical record|med rec|mr|chart|record|patient id|hospital id|unit number|pt id")),
        )
        .group(1)
        .keywords("mrn|medical record|med rec|mr|chart|record|patient id|hospital id|unit number|pt id"),
        PatternRecognizer::new(
            "health_plan_context",
            "HEALTH_PLAN",
            88,
            0.85,
            &format!(r"(?i)\b(?:{}){NUM_TAIL}([A-Z0-9-]*\d[A-Z0-9-]*)\b", kw("member|subscriber|policy|health plan|insurance|insurance policy|beneficiary|group number|group no|group #|grp|medicaid|insured id")),
        )
        .group(1)
        .keywords("member|subscriber|policy|health plan|insurance|insurance policy|beneficiary|group number|group no|group #|grp|medicaid|insured id")
        .validate(id_len_ok),
        PatternRecognizer::new(
            "account_context",
            "ACCOUNT",
            88,
            0.85,
            &format!(r"(?i)\b(?:{}){NUM_TAIL}([A-Z]{{0,3}}[0-9][0-9-]{{4,19}})\b", kw("account|acct|billing account|bank account|a/c|invoice")),
        )
        .group(1)
        .keywords("account|acct|billing account|bank account|a/c|invoice")
        .validate(id_len_ok),
        PatternRecognizer::new(
            "plate_context",
            "LICENSE_PLATE",
            87,
            0.85,
            &format!(r"(?i)\b(?:{}){NUM_TAIL}([A-Z0-9]{{1,4}}[ -]?[A-Z0-9]{{1,4}})\b", kw("license plate|licence plate|plate")),
        )
        .group(1)
        .keywords("license plate|licence plate|plate")
        .validate(id_len_ok),
        PatternRecognizer::new(
            "license_context",
            "LICENSE",
            86,
            0.85,
            &format!(r"(?i)\b(?:{}){NUM_TAIL}([A-Z0-9-]*\d[A-Z0-9-]*)\b", kw("driver'?s? license|driver'?s? licence|license|licence|certificate|cert\\.?|certification|registration|permit|passport")),
        )
        .group(1)
        .keywords("driver'?s? license|driver'?s? licence|license|licence|certificate|cert\\.?|certification|registration|permit|passport")
        .validate(id_len_ok),
        PatternRecognizer::new(
            "device_context",
            "DEVICE_ID",
            86,
            0.85,
            &format!(r"(?i)\b(?:{}){NUM_TAIL}([A-Z0-9-]*\d[A-Z0-9-]*)\b", kw("serial|s/n|sn|device|device identifier|udi|imei|lot|model/serial|pacemaker|implant|pump|defibrillator|icd")),
        )
        .group(1)
        .keywords("serial|s/n|sn|device|device identifier|udi|imei|lot|model/serial|pacemaker|implant|pump|defibrillator|icd")
        .validate(id_len_ok),
        PatternRecognizer::new("email", "EMAIL", 85, 0.95, r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
        PatternRecognizer::new("url", "URL", 84, 0.9, r#"(?i)\b(?:https?://|ftp://|www\.)[\p{L}0-9][^\s<>"'`\]\[]*"#).trim(),
        PatternRecognizer::new("ipv4", "IP", 82, 0.85, r"\b(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\b")
            .context(&["ip", "address", "host"]),
        PatternRecognizer::new("ipv6", "IP", 82, 0.85, r"(?i)(?:[0-9a-f]{1,4}|:)(?::[0-9a-f]{0,4}){2,7}(?:(?:\d{1,3}\.){3}\d{1,3})?")
            .validate(ipv6_valid),
        PatternRecognizer::new("age_label_over_89", "AGE", 76, 0.85, r"(?i)\b(?:age|aged)\s*:?\s*(9\d|1[01]\d)\b").group(1),
    ];
    v.push(
        PatternRecognizer::new(
            "age_over_89",
            "AGE",
            76,
            0.9,
            r"(?i)\b(9\d|1[01]\d)(?:[\s-]*[a-z]{1,5}[\s-]*old\b|[\s-]?(?:y/o|yo|y\.o\.)(?-u:\b))",
        )
        .group(1)
        // "9x", "10x", "11x" at a word start: rare enough that trying the
        // pattern there beats scanning the whole text with it.
        .starts_with(
            (90..=99)
                .chain(100..=119)
                .map(|n: u32| n.to_string())
                .collect(),
        ),
    );

    let phone_us = r"(?:\+?1[ .-]?)?(?:\([2-9]\d{2}\)[ .-]?|\b[2-9]\d{2}[.-]|\b[2-9]\d{2} )[2-9]\d{2}[ .-]\d{4}\b(?:[ \t]?(?:x|ext\.?)[ \t]?\d{1,5}\b)?";
    let phone_intl = r"\+[1-9]\d{0,2}[ .-]?(?:\(?\d{1,4}\)?[ .-]?){1,5}\d{2,4}\b";
    let phone_bare =
        r"(?i)\b(?:phone|tel|telephone|cell|mobile|pager|ph|contact)[ \t]*[:#.]?[ \t]*(\d{10})\b";
    let fax_words = ["fax", "facsimile", "fx:"];
    v.push(
        PatternRecognizer::new("fax_us", "FAX", 72, 0.9, phone_us)
            .context(&fax_words)
            .require_context(14),
    );
    v.push(
        PatternRecognizer::new("fax_intl", "FAX", 72, 0.9, phone_intl)
            .validate(intl_phone_valid)
            .context(&fax_words)
            .require_context(14),
    );
    v.push(
        PatternRecognizer::new("phone_us", "PHONE", 70, 0.85, phone_us)
            .context(&["phone", "tel", "call", "cell", "mobile", "pager"]),
    );
    v.push(
        PatternRecognizer::new("phone_intl", "PHONE", 70, 0.8, phone_intl)
            .validate(intl_phone_valid),
    );
    v.push(PatternRecognizer::new("phone_context", "PHONE", 70, 0.7, phone_bare).group(1));

    // Dates. ISO with optional time, numeric with optional time, written
    // out (full, day-month, month-year), numeric month/year, and bare
    // month/day only after a date word (to leave "1/2 tablet" alone).
    v.push(
        PatternRecognizer::new(
            "date_iso",
            "DATE",
            66,
            0.95,
            r"\b\d{4}-\d{2}-\d{2}(?:[T ][0-2]\d:[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?",
        )
        .validate(iso_date_valid),
    );
    v.push(
        PatternRecognizer::new(
            "date_numeric",
            "DATE",
            65,
            0.9,
            &format!(r"\b(?:\d{{1,2}}/\d{{1,2}}/(?:\d{{4}}|\d{{2}})|\d{{1,2}}-\d{{1,2}}-(?:\d{{4}}|\d{{2}})|\d{{1,2}}\.\d{{1,2}}\.\d{{4}})\b{TIME}"),
        )
        .validate(numeric_date_valid),
    );
    v.push(PatternRecognizer::new(
        "date_written",
        "DATE",
        65,
        0.9,
        &format!(
            r"\b(?:{MONTH}[ \t]+\d{{1,2}}(?:st|nd|rd|th)?,?[ \t]+\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?{MONTH},?[ \t]+\d{{4}}|{MONTH}[ \t]+\d{{1,2}}(?:st|nd|rd|th)?|\d{{1,2}}(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?{MONTH}|{MONTH},?[ \t]+\d{{4}})\b{TIME}"
        ),
    ));
    v.push(
        PatternRecognizer::new(
            "date_month_year",
            "DATE",
            64,
            0.75,
            r"\b(?:0?[1-9]|1[0-2])/(?:19|20)\d{2}\b",
        )
        .context(&[
            "date", "since", "dob", "on", "in", "from", "until", "dated", "admit", "discharg",
            "visit", "seen",
        ]),
    );
    v.push(
        PatternRecognizer::new(
            "date_month_day",
            "DATE",
            63,
            0.6,
            r"\b(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])\b",
        )
        .context(&[
            "on ", "since", "from", "until", "dated", "date", "seen", "visit", "admit", "discharg",
            "follow", "dos", "through", "f/u",
        ])
        .require_context(20),
    );

    // Places.
    v.push(PatternRecognizer::new(
        "us_street_address",
        "ADDRESS",
        68,
        0.85,
        &format!(
            r"\b\d{{1,6}}[A-Za-z]?(?:[ \t](?:[NSEW]\.?|North|South|East|West))?(?:[ \t](?:\p{{Lu}}[\p{{L}}'.-]*|\d+(?:st|nd|rd|th))){{1,4}}?[ \t]{STREET_SUFFIX}(?:,?[ \t](?:Apt|Apartment|Unit|Suite|Ste|Fl|Floor|#)\.?[ \t]?#?[A-Za-z0-9-]+)?"
        ),
    ));
    v.push(PatternRecognizer::new(
        "po_box",
        "ADDRESS",
        68,
        0.85,
        r"(?i)\bP\.?[ \t]?O\.?[ \t]+Box[ \t]+\d+\b",
    ));
    v.push(
        PatternRecognizer::new(
            "zip_after_state",
            "ZIP",
            60,
            0.85,
            &format!(r"\b(?:{STATES})[ \t]+(\d{{5}}(?:-\d{{4}})?)\b"),
        )
        .group(1),
    );
    v.push(
        PatternRecognizer::new(
            "zip_context",
            "ZIP",
            60,
            0.8,
            r"(?i)\b(?:zip|zip code|postal code)[ \t]*[:#]?[ \t]*(\d{5}(?:-\d{4})?)\b",
        )
        .group(1),
    );
    v.push(PatternRecognizer::new(
        "zip_plus4",
        "ZIP",
        59,
        0.7,
        r"\b\d{5}-\d{4}\b",
    ));
    v.push(PatternRecognizer::new(
        "ca_postal_code",
        "POSTAL_CODE_CA",
        62,
        0.85,
        r"\b[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z][ -]?\d[ABCEGHJ-NPRSTV-Z]\d\b",
    ));
    v
}
