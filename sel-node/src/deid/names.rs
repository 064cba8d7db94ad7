//! The PERSON rung: dictionaries of first names and surnames (public-domain
//! 1990 US census lists, see `sel-node/data/deid/README.md`), titles, cue
//! words ("Patient:", "signed by"), credentials after a name ("…, MD"),
//! "LAST, FIRST" forms and initials, and coreference within one text (a
//! surname once found after "Dr." is a name everywhere in that text).
//!
//! Names are the least structured identifier, so this rung has the lowest
//! priority: any structured identifier that overlaps a name candidate wins.
use super::Candidate;
// FxHash: the keys are short words from the text and the shipped lists,
// hashed millions of times per second; SipHash's flooding resistance buys
// nothing against a static dictionary and costs several times more.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::sync::OnceLock;

/// Priority of every PERSON candidate (below all pattern recognizers).
pub(crate) const PRIORITY: u8 = 40;

/// Recognizer names reported in findings.
pub(crate) const RECOGNIZERS: [&str; 6] = [
    "person_title",
    "person_context",
    "person_credential",
    "person_dictionary",
    "person_last_first",
    "person_coreference",
];
const TITLE: usize = 0;
const CONTEXT: usize = 1;
const CREDENTIAL: usize = 2;
const DICTIONARY: usize = 3;
const LAST_FIRST: usize = 4;
const COREFERENCE: usize = 5;

struct Dictionaries {
    first: HashSet<&'static str>,
    last: HashSet<&'static str>,
    not_names: HashSet<&'static str>,
}

fn list(data: &'static str) -> HashSet<&'static str> {
    data.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

fn dictionaries() -> &'static Dictionaries {
    static D: OnceLock<Dictionaries> = OnceLock::new();
    D.get_or_init(|| Dictionaries {
        first: list(include_str!("../../data/deid/first_names.txt")),
        last: list(include_str!("../../data/deid/surnames.txt")),
        not_names: list(include_str!("../../data/deid/not_names.txt")),
    })
}

/// Words that precede a name directly ("Dr. Whitfield").
const TITLES: [&str; 10] = [
    "dr", "mr", "mrs", "ms", "miss", "mx", "prof", "doctor", "mister", "sister",
];
/// Cue phrases that announce a name without a colon.
const STRONG_CUES: [&str; 41] = [
    "signed by",
    "dictated by",
    "seen by",
    "referred by",
    "transcribed by",
    "reviewed by",
    "performed by",
    "ordered by",
    "verified by",
    "accompanied by",
    "discussed with",
    "dear",
    "sincerely",
    "regards",
    "patient",
    "patient name",
    "cc",
    "attn",
    "electronically signed",
    // Relatives and companions named right after the relation.
    "daughter",
    "son",
    "wife",
    "husband",
    "mother",
    "father",
    "sister",
    "brother",
    "spouse",
    "partner",
    "niece",
    "nephew",
    "grandson",
    "granddaughter",
    "grandmother",
    "grandfather",
    "aunt",
    "uncle",
    "cousin",
    "friend",
    "neighbor",
    "neighbour",
];
/// Cue words that announce a name only when followed by ':' or ','.
const COLON_CUES: [&str; 42] = [
    "pt",
    "prescriber",
    "prescribed by",
    "name",
    "attending",
    "pcp",
    "provider",
    "physician",
    "surgeon",
    "resident",
    "nurse",
    "author",
    "signed",
    "contact",
    "emergency contact",
    "next of kin",
    "guardian",
    "from",
    "to",
    "caregiver",
    "interpreter",
    "witness",
    "referring",
    "referring physician",
    "consultant",
    "case manager",
    "social worker",
    "pharmacist",
    "operator",
    "assistant",
    "anesthesiologist",
    "technician",
    "therapist",
    "guarantor",
    "subscriber",
    "insured",
    "policyholder",
    "proxy",
    "representative",
    "requested by",
    "ordering provider",
    "scribe",
];
/// How a cue announces a name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CueKind {
    /// Always ("Dear", "signed by", "daughter").
    Strong,
    /// With a colon or comma, or before a name of two words ("Prescriber").
    Role,
    /// Only with a colon ("RN: Jane Roe").
    Credential,
}

/// Every cue phrase with its typo variants (two adjacent letters swapped in
/// a word of four letters or more), lower case, with its kind.
/// Indexed by the phrase's last word, so a lookup costs one hash.
fn cue_variants() -> &'static HashMap<String, Vec<(String, CueKind)>> {
    static V: OnceLock<HashMap<String, Vec<(String, CueKind)>>> = OnceLock::new();
    V.get_or_init(|| {
        let mut out: HashMap<String, Vec<(String, CueKind)>> = HashMap::default();
        let mut add = |phrase: String, kind: CueKind| {
            let last = phrase.rsplit(' ').next().unwrap_or("").to_string();
            out.entry(last).or_default().push((phrase, kind));
        };
        let strong = STRONG_CUES.iter().map(|c| (*c, CueKind::Strong));
        let roles = COLON_CUES.iter().map(|c| (*c, CueKind::Role));
        let credentials = CREDENTIALS.iter().map(|c| (*c, CueKind::Credential));
        for (cue, is_strong) in strong.chain(roles).chain(credentials) {
            add(cue.to_string(), is_strong);
            let b = cue.as_bytes();
            for i in 0..b.len().saturating_sub(1) {
                let word_len = b[..=i]
                    .iter()
                    .rev()
                    .take_while(|x| x.is_ascii_alphabetic())
                    .count()
                    + b[i + 1..]
                        .iter()
                        .take_while(|x| x.is_ascii_alphabetic())
                        .count();
                if word_len >= 4
                    && b[i].is_ascii_alphabetic()
                    && b[i + 1].is_ascii_alphabetic()
                    && b[i] != b[i + 1]
                {
                    let mut v = b.to_vec();
                    v.swap(i, i + 1);
                    add(String::from_utf8_lossy(&v).into_owned(), is_strong);
                }
            }
        }
        out
    })
}

/// Whether token `i` is itself a one-word cue ("Prescriber", "Paitent").
fn is_cue_word(c: &Classified, i: usize) -> bool {
    let n = c.tokens[i].norm.as_str();
    n.len() >= 4
        && cue_variants().get(n).is_some_and(|v| {
            v.iter()
                .any(|(p, kind)| *kind != CueKind::Credential && p == n)
        })
}

/// Credentials that follow a name in signatures ("Jane Roe, MD").
const CREDENTIALS: [&str; 14] = [
    "md", "m.d.", "do", "rn", "np", "pa-c", "pa", "phd", "lpn", "cnm", "crna", "dds", "pharmd",
    "mbbs",
];
/// Lower-case particles inside names ("Ludwig van Beethoven").
const PARTICLES: [&str; 13] = [
    "van", "von", "de", "der", "den", "da", "del", "della", "di", "du", "la", "le", "bin",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Capitalised: "Whitfield", "McDonald", "Zoë".
    Title,
    /// All capitals, two letters or more: "WHITFIELD".
    Upper,
    /// One capital letter: an initial.
    Initial,
    Lower,
}

struct Token<'t> {
    start: usize,
    end: usize,
    shape: Shape,
    /// Lower-case, diacritics folded.
    norm: Norm<'t>,
}

/// A token's folded form: for an ASCII word a slice of the text lower-cased
/// once, so tokenizing allocates nothing per word; folded on the heap
/// otherwise.
enum Norm<'t> {
    Borrowed(&'t str),
    Heap(String),
}

impl Norm<'_> {
    fn as_str(&self) -> &str {
        match self {
            Norm::Borrowed(s) => s,
            Norm::Heap(s) => s,
        }
    }
}

impl std::ops::Deref for Norm<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

/// Words of `text`: letters with inner apostrophes and hyphens.
/// `lower` is `text` with ASCII letters lower-cased (same byte offsets).
fn tokenize<'t>(text: &str, lower: &'t str) -> Vec<Token<'t>> {
    let mut out = Vec::new();
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if !c.is_alphabetic() {
            continue;
        }
        let start = i;
        let mut end = i + c.len_utf8();
        let mut upper = usize::from(c.is_uppercase());
        let mut letters = 1usize;
        let first_upper = c.is_uppercase();
        while let Some(&(j, d)) = iter.peek() {
            if d.is_alphabetic() {
                upper += usize::from(d.is_uppercase());
                letters += 1;
                end = j + d.len_utf8();
                iter.next();
            } else if matches!(d, '\'' | '’' | '-') {
                // Keep the joiner only when a letter follows.
                let next = text[j + d.len_utf8()..].chars().next();
                if next.is_some_and(char::is_alphabetic) {
                    iter.next();
                    end = j + d.len_utf8();
                } else {
                    break;
                }
            } else {
                break;
            }
        }
        // "Bloom-encoded" is a compound word; "Anna-Lena" a name.
        let compound = text[start..end]
            .split('-')
            .skip(1)
            .any(|part| part.chars().next().is_some_and(char::is_lowercase));
        let shape = if !first_upper || compound {
            Shape::Lower
        } else if letters == 1 {
            Shape::Initial
        } else if upper == letters {
            Shape::Upper
        } else {
            Shape::Title
        };
        // Only capitalised words are ever looked up; skip folding the rest.
        let norm = if shape == Shape::Lower {
            Norm::Borrowed("")
        } else if text.as_bytes()[start..end].is_ascii() {
            Norm::Borrowed(&lower[start..end])
        } else {
            Norm::Heap(fold(&text[start..end]))
        };
        out.push(Token {
            start,
            end,
            shape,
            norm,
        });
    }
    out
}

/// Lower case with common Latin diacritics removed, so "Zoë" meets "zoe".
pub(crate) fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => out.push('a'),
            'ç' | 'ć' | 'č' => out.push('c'),
            'ď' | 'đ' => out.push('d'),
            'ạ' | 'ả' | 'ấ' | 'ầ' | 'ẩ' | 'ẫ' | 'ậ' | 'ắ' | 'ằ' | 'ẳ' | 'ẵ' | 'ặ' => {
                out.push('a')
            }
            'ẹ' | 'ẻ' | 'ẽ' | 'ế' | 'ề' | 'ể' | 'ễ' | 'ệ' => out.push('e'),
            'ỉ' | 'ị' | 'ĩ' => out.push('i'),
            'ọ' | 'ỏ' | 'ố' | 'ồ' | 'ổ' | 'ỗ' | 'ộ' | 'ơ' | 'ớ' | 'ờ' | 'ở' | 'ỡ' | 'ợ' => {
                out.push('o')
            }
            'ụ' | 'ủ' | 'ũ' | 'ư' | 'ứ' | 'ừ' | 'ử' | 'ữ' | 'ự' => out.push('u'),
            'ỳ' | 'ỵ' | 'ỷ' | 'ỹ' => out.push('y'),
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => out.push('e'),
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => out.push('i'),
            'ł' | 'ľ' | 'ĺ' => out.push('l'),
            'ñ' | 'ń' | 'ň' => out.push('n'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => out.push('o'),
            'ř' | 'ŕ' => out.push('r'),
            'ś' | 'š' | 'ş' => out.push('s'),
            'ß' => out.push_str("ss"),
            'ť' | 'ţ' => out.push('t'),
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => out.push('u'),
            'ý' | 'ÿ' => out.push('y'),
            'ź' | 'ż' | 'ž' => out.push('z'),
            '’' => out.push('\''),
            _ => out.push(c),
        }
    }
    out
}

struct Classified<'a> {
    tokens: &'a [Token<'a>],
    d: &'static Dictionaries,
}

impl Classified<'_> {
    fn stop(&self, i: usize) -> bool {
        self.d.not_names.contains(self.tokens[i].norm.as_str())
    }
    fn in_dict(&self, set: &HashSet<&'static str>, i: usize) -> bool {
        let n = self.tokens[i].norm.as_str();
        set.contains(n)
            || (n.contains(['-', '\''])
                && n.split(['-', '\'']).any(|p| p.len() > 1 && set.contains(p)))
    }
    fn first(&self, i: usize) -> bool {
        self.in_dict(&self.d.first, i)
    }
    fn last(&self, i: usize) -> bool {
        self.in_dict(&self.d.last, i)
    }
    /// A word that may be part of a name: capitalised, or all capitals and
    /// either a known name or longer than an acronym ("MRN", "DOB"); and not
    /// a common word.
    fn namey(&self, i: usize) -> bool {
        let t = &self.tokens[i];
        let shape_ok = match t.shape {
            Shape::Title => true,
            Shape::Upper => t.norm.chars().count() > 3 || self.first(i) || self.last(i),
            _ => false,
        };
        shape_ok && !self.stop(i)
    }
}

/// A maximal run of name words: tokens `first..=last`.
struct Run {
    first: usize,
    last: usize,
}

/// Find PERSON candidates in `text`; `recognizer_base` is the index of
/// [`RECOGNIZERS`]`[0]` in the engine's recognizer table.
pub(crate) fn find(text: &str, recognizer_base: usize, out: &mut Vec<Candidate>) {
    let lower = text.to_ascii_lowercase();
    let tokens = tokenize(text, &lower);
    let c = Classified {
        tokens: &tokens,
        d: dictionaries(),
    };
    let mut found: Vec<Candidate> = Vec::new();
    let push =
        |found: &mut Vec<Candidate>, start: usize, end: usize, kind: usize, confidence: f32| {
            found.push(Candidate {
                start,
                end,
                priority: PRIORITY,
                recognizer: recognizer_base + kind,
                confidence,
            });
        };

    // Words this text also uses in lower case ("running" beside "Running")
    // are common words, not names; built only if a lone name needs it.
    let lower_words: OnceLock<HashSet<&str>> = OnceLock::new();
    // Starts of names known only by a surname after an unknown word
    // ("EpiLink Dice"): reported, but too weak to make their words names
    // everywhere else in the text.
    let mut weak: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let starts = c.namey(i)
            || (tokens[i].shape == Shape::Initial && initial_with_dot(text, &tokens[i]))
            || cued_common_word(text, &c, i);
        if !starts {
            i += 1;
            continue;
        }
        let run = extend_run(text, &c, i);
        i = run.last + 1;
        let mut end = tokens[run.last].end;
        // A trailing initial keeps its dot ("John A.").
        if tokens[run.last].shape == Shape::Initial && text[end..].starts_with('.') {
            end += 1;
        }
        // A run made only of initials is not a name on its own.
        if (run.first..=run.last).all(|k| tokens[k].shape == Shape::Initial) {
            continue;
        }
        // "LAST, FIRST [M.]" continues after the comma.
        // A cue word caught at the front of the run ("Prescriber Nina
        // Hodgin", or a misspelt "Paitent Candice Younger") is not part of
        // the name but announces it.
        let mut run = run;
        let mut cue_inside = false;
        if run.last > run.first && is_cue_word(&c, run.first) {
            run.first += 1;
            cue_inside = true;
        }
        let start = tokens[run.first].start;
        let cue = if cue_inside {
            Some(CONTEXT)
        } else {
            cue_before(text, &c, run.first, run.last > run.first)
        };
        let cued = matches!(cue, Some(TITLE) | Some(CONTEXT));
        // A header field "Surname, Given" alone at the start of a line.
        let header = run.first == run.last && line_initial(text, start);
        let tail = last_first_tail(text, &c, &run, cued || header);
        let (lf_end, lf_next) = (tail.map(|t| t.0), tail.map(|t| t.2));
        if cue == Some(TITLE) || cue == Some(CONTEXT) {
            let e =
                lf_end.unwrap_or_else(|| trailing_common_word(text, &c, run.last).unwrap_or(end));
            push(
                &mut found,
                start,
                e,
                cue.unwrap_or(CONTEXT),
                if cue == Some(TITLE) { 0.95 } else { 0.9 },
            );
            if let Some(n) = lf_next {
                i = i.max(n);
            }
            continue;
        }
        if credential_after(text, end) {
            push(&mut found, start, end, CREDENTIAL, 0.9);
            continue;
        }
        if let Some((e, given, n)) = tail {
            // Surname then a known first name after the comma.
            let field = header && field_end(text, e);
            if ((c.first(given) || c.last(run.last)) && run.first == run.last) || field {
                push(&mut found, start, e, LAST_FIRST, 0.85);
                i = i.max(n);
                continue;
            }
        }
        let words: Vec<usize> = (run.first..=run.last)
            .filter(|&k| tokens[k].shape != Shape::Initial)
            .collect();
        let title_case = words.iter().all(|&k| tokens[k].shape == Shape::Title);
        if words.len() >= 2 && title_case {
            let known_first = c.first(words[0]);
            let known_last = c.last(*words.last().unwrap_or(&words[0]));
            if known_first || (known_last && words.iter().any(|&k| c.first(k) || c.last(k))) {
                if !known_first {
                    weak.push(start);
                }
                push(
                    &mut found,
                    start,
                    end,
                    DICTIONARY,
                    if known_first && known_last {
                        0.85
                    } else {
                        0.75
                    },
                );
                continue;
            }
        }
        if words.len() == 1
            && title_case
            && (c.first(words[0]) || c.last(words[0]))
            && tokens[words[0]].norm.len() > 2
            && !sentence_initial(text, start)
            && !before_state(text, end)
            && !lower_words
                .get_or_init(|| lower_case_words(text, &tokens))
                .contains(tokens[words[0]].norm.as_str())
        {
            push(&mut found, start, end, DICTIONARY, 0.5);
        }
    }

    // Coreference: every word of a name found above is a name elsewhere in
    // the same text. Linear: tokens and found spans are both walked in
    // order of start.
    found.sort_by_key(|f| f.start);
    let spans: Vec<(usize, usize)> = found.iter().map(|f| (f.start, f.end)).collect();
    let inside = |t: &Token| {
        let k = spans.partition_point(|&(s, _)| s <= t.start);
        k > 0 && spans[k - 1].1 >= t.end
    };
    let filtered: Vec<(usize, usize)>;
    let strong = if weak.is_empty() {
        &spans
    } else {
        filtered = spans
            .iter()
            .copied()
            .filter(|(s, _)| !weak.contains(s))
            .collect();
        &filtered
    };
    let inside_strong = |t: &Token| {
        let k = strong.partition_point(|&(s, _)| s <= t.start);
        k > 0 && strong[k - 1].1 >= t.end
    };
    let mut known: HashSet<&str> = HashSet::default();
    for t in &tokens {
        if matches!(t.shape, Shape::Title | Shape::Upper)
            && t.norm.chars().count() > 2
            && inside_strong(t)
        {
            known.insert(t.norm.as_str());
        }
    }
    if !known.is_empty() {
        for (k, t) in tokens.iter().enumerate() {
            if matches!(t.shape, Shape::Title | Shape::Upper)
                && known.contains(t.norm.as_str())
                && !c.stop(k)
                && !inside(t)
            {
                push(&mut found, t.start, t.end, COREFERENCE, 0.7);
            }
        }
    }
    out.append(&mut found);
}

/// A capitalised common word that still starts a name because a title or a
/// cue announces one: "Mr. La", "Signed: My Sablan", "Wife Winter Nyce".
/// Census names include many English words; with a cue they are names.
fn cued_common_word(text: &str, c: &Classified, i: usize) -> bool {
    let t = &c.tokens[i];
    if !matches!(t.shape, Shape::Title | Shape::Upper) || TITLES.contains(&t.norm.as_str()) {
        return false;
    }
    // A title right before: cheap to test, and enough on its own.
    if i > 0 {
        let prev = &c.tokens[i - 1];
        let gap = &text[prev.end..t.start];
        if matches!(gap, " " | ". " | "." | ".\t" | "\t") && TITLES.contains(&prev.norm.as_str()) {
            return true;
        }
    }
    // Otherwise a name word must follow, and only then is the (costlier)
    // cue test worth running.
    let followed = c.tokens.get(i + 1).is_some_and(|n| {
        let gap = &text[t.end..n.start];
        (gap == " " || gap == ", ") && (c.namey(i + 1) || n.shape == Shape::Initial)
    });
    followed && cue_before(text, c, i, false).is_some()
}

/// After an announced name, a capitalised common word that ends the phrase
/// is still part of it ("daughter Yon Fine (phone …)", "provider: Dick
/// Holmes⏎"); one that a sentence continues after is not ("Dr. Roe Will
/// see…"). Returns the new end.
fn trailing_common_word(text: &str, c: &Classified, last: usize) -> Option<usize> {
    let next = c.tokens.get(last + 1)?;
    if next.shape != Shape::Title
        || &text[c.tokens[last].end..next.start] != " "
        || c.tokens[last].shape == Shape::Initial
    {
        return None;
    }
    let after = text[next.end..].trim_start_matches([' ', '\t']);
    (after.is_empty() || after.starts_with([',', '\n', '\r', '(', ';', '.', ')']))
        .then_some(next.end)
}

/// Whether a US state code follows the word ending at `end` (", MA"): the
/// word is then a city, not a person.
fn before_state(text: &str, end: usize) -> bool {
    const STATES: [&str; 52] = [
        "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN",
        "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH",
        "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT",
        "VT", "VA", "WA", "WV", "WI", "WY", "PR",
    ];
    let rest = text[end..].strip_prefix(", ").unwrap_or("");
    rest.get(..2).is_some_and(|code| STATES.contains(&code))
        && !rest[2..].starts_with(|ch: char| ch.is_alphanumeric())
}

/// The words of `text` written in lower case.
fn lower_case_words<'t>(text: &'t str, tokens: &[Token]) -> HashSet<&'t str> {
    tokens
        .iter()
        .filter(|t| t.shape == Shape::Lower)
        .map(|t| &text[t.start..t.end])
        .collect()
}

/// Whether the word at `start` is the first thing on its line.
fn line_initial(text: &str, start: usize) -> bool {
    let before = text[..start].trim_end_matches([' ', '\t']);
    before.is_empty() || before.ends_with('\n')
}

/// Whether a field ends at `end`: end of line or text, or a gap of two
/// spaces or a tab before the next field.
fn field_end(text: &str, end: usize) -> bool {
    let rest = &text[end..];
    rest.is_empty() || rest.starts_with(['\n', '\r', '\t']) || rest.starts_with("  ")
}

/// Whether the word at `start` begins a sentence, a line or the text,
/// where capitalised common words ("Echo showed…") look like names.
fn sentence_initial(text: &str, start: usize) -> bool {
    let before = text[..start].trim_end_matches([' ', '\t']);
    before.is_empty() || before.ends_with(['.', '!', '?', ':', '\n', '\r', '"', '('])
}

fn initial_with_dot(text: &str, t: &Token) -> bool {
    text[t.end..].starts_with('.')
}

/// Grow a run from token `i`: name words (and initials with a dot, and
/// lower-case particles between name words) separated by one space or tab.
fn extend_run(text: &str, c: &Classified, i: usize) -> Run {
    let tokens = c.tokens;
    let mut last = i;
    let mut k = i + 1;
    while k < tokens.len() && k - i < 5 {
        let gap = &text[tokens[k - 1].end..tokens[k].start];
        let gap_ok = matches!(gap, " " | "\t")
            || (tokens[k - 1].shape == Shape::Initial && matches!(gap, ". " | "."));
        if !gap_ok {
            break;
        }
        let t = &tokens[k];
        if c.namey(k)
            || (t.shape == Shape::Initial && (initial_with_dot(text, t) || k + 1 < tokens.len()))
        {
            last = k;
            k += 1;
        } else if t.shape == Shape::Lower
            && PARTICLES.contains(&&text[t.start..t.end])
            && k + 1 < tokens.len()
            && c.namey(k + 1)
        {
            k += 1;
        } else {
            break;
        }
    }
    // Do not end on a dangling initial that is really the next sentence's
    // first letter ("Smith. A").
    Run { first: i, last }
}

/// If the run is followed by ", First [M.]": the end of that tail, the index
/// of the given name's token and the index of the token after the tail.
/// With `cued` (a title or cue precedes the run) the given name may be any
/// capitalised word ("Patient: COREA, UN").
fn last_first_tail(
    text: &str,
    c: &Classified,
    run: &Run,
    cued: bool,
) -> Option<(usize, usize, usize)> {
    let tokens = c.tokens;
    let n = run.last + 1;
    if n >= tokens.len() || &text[tokens[run.last].end..tokens[n].start] != ", " {
        return None;
    }
    // Same shape as the surname: "COREA, UN" but not "Quillfeather, SSN".
    let same_shape = matches!(tokens[n].shape, Shape::Title | Shape::Upper)
        && tokens[n].shape == tokens[run.last].shape;
    if !(c.namey(n) || (cued && same_shape)) {
        return None;
    }
    // A credential after the comma is not a first name ("Roe, MD").
    if CREDENTIALS.contains(&tokens[n].norm.as_str()) {
        return None;
    }
    let mut end = tokens[n].end;
    let mut next = n + 1;
    if next < tokens.len()
        && tokens[next].shape == Shape::Initial
        && &text[tokens[n].end..tokens[next].start] == " "
    {
        end = tokens[next].end;
        if text[end..].starts_with('.') {
            end += 1;
        }
        next += 1;
    }
    Some((end, n, next))
}

/// TITLE when a title precedes token `i`, CONTEXT when a cue phrase does.
fn cue_before(text: &str, c: &Classified, i: usize, multi_word: bool) -> Option<usize> {
    let tokens = c.tokens;
    let before = &text[..tokens[i].start];
    if i > 0 {
        let prev = &tokens[i - 1];
        let gap = &text[prev.end..tokens[i].start];
        if matches!(gap, " " | ". " | "." | ".\t" | "\t") && TITLES.contains(&prev.norm.as_str()) {
            return Some(TITLE);
        }
    }
    let trimmed = before.trim_end_matches([' ', '\t', '\n', '\r']);
    // Only a short stretch of white space between cue and name.
    if before.len() - trimmed.len() > 3 {
        return None;
    }
    let (with_punct, body) = match trimmed.strip_suffix([':', ',', '-']) {
        Some(b) => (true, b.trim_end()),
        None => (false, trimmed),
    };
    let mut from = body.len().saturating_sub(32);
    while !body.is_char_boundary(from) {
        from += 1;
    }
    // Lower case, every white space a plain space; on the stack when ASCII
    // (the slice is at most 32 bytes), which is nearly always.
    let src = &body[from..];
    let mut buf = [0u8; 32];
    let owned: String;
    let tail: &str = if src.is_ascii() && src.len() <= buf.len() {
        for (d, b) in buf.iter_mut().zip(src.bytes()) {
            *d = match b {
                b'\t' | b'\n' | 0x0b | 0x0c | b'\r' => b' ',
                _ => b.to_ascii_lowercase(),
            };
        }
        std::str::from_utf8(&buf[..src.len()]).unwrap_or("")
    } else {
        owned = src
            .to_lowercase()
            .chars()
            .map(|ch| if ch.is_whitespace() { ' ' } else { ch })
            .collect();
        &owned
    };
    let ends_with_word = |w: &str| {
        tail.ends_with(w) && {
            let p = tail.len() - w.len();
            p == 0
                || !tail[..p]
                    .chars()
                    .next_back()
                    .is_some_and(char::is_alphanumeric)
        }
    };
    // Role words also count without a colon before a name of two words or
    // more ("Prescriber Nina Hodgin").
    let applies = |kind: CueKind| match kind {
        CueKind::Strong => true,
        CueKind::Role => with_punct || multi_word,
        CueKind::Credential => with_punct,
    };
    let last_word = tail.rsplit(' ').next().unwrap_or("");
    let last_word = last_word.trim_start_matches(|ch: char| !ch.is_alphanumeric());
    if cue_variants().get(last_word).is_some_and(|v| {
        v.iter()
            .any(|(w, kind)| applies(*kind) && ends_with_word(w))
    }) {
        return Some(CONTEXT);
    }
    None
}

/// Whether a credential follows a name ending at `end` (", MD", " RN").
fn credential_after(text: &str, end: usize) -> bool {
    let rest = &text[end..];
    let rest = match rest.strip_prefix(',') {
        Some(r) => r.trim_start(),
        None => rest.strip_prefix(' ').unwrap_or(""),
    };
    let word_len = rest
        .char_indices()
        .find(|&(_, c)| !(c.is_alphabetic() || c == '.' || c == '-'))
        .map_or(rest.len(), |(i, _)| i);
    let word = &rest[..word_len];
    if !word.chars().next().is_some_and(char::is_uppercase) || rest[word_len..].starts_with(':') {
        return false;
    }
    let is_credential =
        |w: &str| !w.is_empty() && CREDENTIALS.iter().any(|c| c.trim_end_matches('.') == w);
    if word.is_ascii() {
        // No allocation: credentials are short ASCII words.
        let trimmed = word.trim_end_matches('.');
        let mut buf = [0u8; 8];
        if trimmed.len() > buf.len() {
            return false;
        }
        for (d, b) in buf.iter_mut().zip(trimmed.bytes()) {
            *d = b.to_ascii_lowercase();
        }
        is_credential(std::str::from_utf8(&buf[..trimmed.len()]).unwrap_or(""))
    } else {
        let w = word.to_lowercase();
        is_credential(w.trim_end_matches('.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        find(text, 0, &mut out);
        out.sort_by_key(|c| c.start);
        out.iter().map(|c| &text[c.start..c.end]).collect()
    }

    #[test]
    fn title_and_context() {
        assert_eq!(
            names("Seen by Dr. Quillfeather today."),
            vec!["Quillfeather"]
        );
        assert_eq!(
            names("Patient: Zyxwo Blorfton\nDOB"),
            vec!["Zyxwo Blorfton"]
        );
        assert_eq!(
            names("Electronically signed by Anna K. Lindqvist"),
            vec!["Anna K. Lindqvist"]
        );
    }

    #[test]
    fn dictionary_and_last_first() {
        assert_eq!(
            names("Eleanor Whitfield reports pain."),
            vec!["Eleanor Whitfield"]
        );
        assert_eq!(
            names("WHITFIELD, ELEANOR was admitted"),
            vec!["WHITFIELD, ELEANOR"]
        );
        assert_eq!(
            names("Whitfield, Eleanor R. was admitted"),
            vec!["Whitfield, Eleanor R."]
        );
    }

    #[test]
    fn credential_and_coreference() {
        assert_eq!(
            names("Qorvath Blimm, MD\nlater Blimm called"),
            vec!["Qorvath Blimm", "Blimm"]
        );
    }

    #[test]
    fn weak_names_do_not_spread() {
        // Only the surname is known: reported, but its words are not names
        // elsewhere (prose about "EpiLink Dice" is not about a person).
        assert_eq!(
            names("the EpiLink Dice score; later the EpiLink protocol"),
            vec!["EpiLink Dice"]
        );
        // A known first name still spreads.
        assert_eq!(
            names("Eleanor Whitfield reports pain. Whitfield slept."),
            vec!["Eleanor Whitfield", "Whitfield"]
        );
    }

    #[test]
    fn non_ascii_names_fold() {
        assert_eq!(fold("Zoë Müller"), "zoe muller");
        assert_eq!(names("José Núñez was seen."), vec!["José Núñez"]);
    }

    #[test]
    fn common_words_are_not_names() {
        assert!(
            names("History of Present Illness. May take with food. Will follow up.").is_empty()
        );
    }
}
