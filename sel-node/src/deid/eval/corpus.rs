//! A labelled synthetic corpus of clinical notes.
//!
//! Templates of several kinds (discharge summaries, lab tables, portal
//! messages, referral letters, billing forms, device and telehealth notes,
//! a Canadian clinic note) receive injected values of every label, with
//! valid check digits where the identifier has one. Noise: letter-swap typos
//! in the surrounding words (also in cue words such as "Patient:"), spaces
//! turned into line breaks, non-ASCII names.
//!
//! Names: half of the people come from name lists the engine does NOT ship
//! (`heldout_*.txt`: census names outside the engine's top-N lists) plus a
//! hand-written list of non-ASCII names, so PERSON recall measures context
//! rules and coreference, not only dictionary lookups.
//!
//! Deterministic for a given `(n, seed)` on every platform (own SplitMix64,
//! no dependence on a crate's RNG algorithm).
use crate::deid::checksum;
use serde::Serialize;

/// A labelled span, character offsets, end exclusive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GoldSpan {
    pub start: usize,
    pub end: usize,
    pub label: String,
}

/// One generated note.
#[derive(Clone, Debug, Serialize)]
pub struct Document {
    pub id: String,
    pub text: String,
    pub gold: Vec<GoldSpan>,
}

/// SplitMix64: small, fast, and stable across releases.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn range(&mut self, lo: u32, hi_inclusive: u32) -> u32 {
        lo + self.below((hi_inclusive - lo + 1) as usize) as u32
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn digit_values(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.below(10) as u8).collect()
    }
}

fn to_string(d: &[u8]) -> String {
    d.iter().map(|x| char::from(b'0' + x)).collect()
}

/// Names the engine ships, for the other half of the people.
struct NameSource {
    first_known: Vec<&'static str>,
    last_known: Vec<&'static str>,
    first_heldout: Vec<&'static str>,
    last_heldout: Vec<&'static str>,
}

fn lines(s: &'static str) -> Vec<&'static str> {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect()
}

impl NameSource {
    fn load() -> Self {
        NameSource {
            first_known: lines(include_str!("../../../data/deid/first_names.txt")),
            last_known: lines(include_str!("../../../data/deid/surnames.txt")),
            first_heldout: lines(include_str!("../../../data/deid/heldout_first_names.txt")),
            last_heldout: lines(include_str!("../../../data/deid/heldout_surnames.txt")),
        }
    }
}

/// Non-ASCII given names and surnames (written for this corpus).
const ACCENTED_FIRST: [&str; 16] = [
    "José",
    "Zoë",
    "Søren",
    "Björn",
    "Chloé",
    "Renée",
    "Ángel",
    "François",
    "Łukasz",
    "Małgorzata",
    "Jürgen",
    "Siobhán",
    "Inés",
    "Dagný",
    "Anaïs",
    "Ştefan",
];
const ACCENTED_LAST: [&str; 16] = [
    "Müller",
    "Núñez",
    "Ødegaard",
    "Nguyễn",
    "Gómez",
    "Żukowski",
    "Öztürk",
    "Fernández",
    "Dubé",
    "Çelik",
    "Håkansson",
    "Šimková",
    "Lefèvre",
    "Wróbel",
    "Ó Briain",
    "Sæther",
];

/// "o'brien-smith" → "O'Brien-Smith".
fn capitalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut up = true;
    for c in s.chars() {
        if up {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        up = matches!(c, '\'' | '-' | ' ');
    }
    out
}

#[derive(Clone)]
struct Person {
    first: String,
    last: String,
    initial: Option<char>,
}

/// The text being built and its gold spans.
struct Builder<'r> {
    text: String,
    chars: usize,
    gold: Vec<GoldSpan>,
    rng: &'r mut Rng,
    typo_rate: f64,
    break_rate: f64,
}

impl Builder<'_> {
    /// Literal template text, with noise.
    fn lit(&mut self, s: &str) {
        let mut words = s.split(' ').peekable();
        while let Some(w) = words.next() {
            let w = if w.chars().count() >= 5 && self.rng.chance(self.typo_rate) {
                typo(w, self.rng)
            } else {
                w.to_string()
            };
            self.push(&w);
            if words.peek().is_some() {
                let sep = if self.rng.chance(self.break_rate) {
                    "\n"
                } else {
                    " "
                };
                self.push(sep);
            }
        }
    }
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.chars += s.chars().count();
    }
    /// An identifier with its label.
    fn phi(&mut self, label: &str, value: &str) {
        let start = self.chars;
        self.push(value);
        self.gold.push(GoldSpan {
            start,
            end: self.chars,
            label: label.into(),
        });
    }
}

/// Swap two adjacent inner letters.
fn typo(w: &str, rng: &mut Rng) -> String {
    let mut c: Vec<char> = w.chars().collect();
    let letters: Vec<usize> = (1..c.len().saturating_sub(2))
        .filter(|&i| c[i].is_alphabetic() && c[i + 1].is_alphabetic())
        .collect();
    if letters.is_empty() {
        return w.to_string();
    }
    let i = *rng.pick(&letters);
    c.swap(i, i + 1);
    c.into_iter().collect()
}

/// Value generators. Each returns text that the label's validation accepts.
struct Gen<'a> {
    names: &'a NameSource,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const STREETS: [&str; 24] = [
    "Commonwealth",
    "Maple",
    "Juniper",
    "Harborview",
    "Larchmont",
    "Quarry",
    "Sycamore",
    "Old Mill",
    "Beacon",
    "Kestrel",
    "Tamarack",
    "Willow Creek",
    "Granite",
    "Orchard",
    "Hollis",
    "Wexford",
    "Alder",
    "Cobblestone",
    "Brookline",
    "Ridgefield",
    "Peregrine",
    "Lantern",
    "Saint-Laurent",
    "5th",
];
const SUFFIXES: [&str; 12] = [
    "Street",
    "St",
    "Avenue",
    "Ave",
    "Road",
    "Rd",
    "Lane",
    "Drive",
    "Court",
    "Way",
    "Boulevard",
    "Place",
];
const CITIES: [(&str, &str); 8] = [
    ("Boston", "MA"),
    ("Worcester", "MA"),
    ("Providence", "RI"),
    ("Hartford", "CT"),
    ("Albany", "NY"),
    ("Burlington", "VT"),
    ("Portland", "ME"),
    ("Newark", "NJ"),
];
const DOMAINS: [&str; 6] = [
    "mailbox.net",
    "northclinic.org",
    "healthmail.com",
    "post.example",
    "uni-hospital.edu",
    "fastmail.ca",
];
const POSTAL_FIRST: &[u8] = b"ABCEGHJKLMNPRSTVXY";
const POSTAL_OTHER: &[u8] = b"ABCEGHJKLMNPRSTVWXYZ";
const MBI_LETTERS: &[u8] = b"ACDEFGHJKMNPQRTUVWXY";

impl Gen<'_> {
    fn person(&self, rng: &mut Rng) -> Person {
        let n = self.names;
        let first = if rng.chance(0.12) {
            (*rng.pick(&ACCENTED_FIRST)).to_string()
        } else if rng.chance(0.5) {
            capitalise(rng.pick::<&str>(&n.first_heldout))
        } else {
            capitalise(rng.pick::<&str>(&n.first_known))
        };
        let last = if rng.chance(0.12) {
            (*rng.pick(&ACCENTED_LAST)).to_string()
        } else if rng.chance(0.5) {
            capitalise(rng.pick::<&str>(&n.last_heldout))
        } else {
            capitalise(rng.pick::<&str>(&n.last_known))
        };
        let initial = rng
            .chance(0.3)
            .then(|| char::from(b'A' + rng.below(26) as u8));
        Person {
            first,
            last,
            initial,
        }
    }

    fn date(&self, rng: &mut Rng) -> String {
        let (y, m, d) = (rng.range(1935, 2026), rng.range(1, 12), rng.range(1, 28));
        let mon = MONTHS[(m - 1) as usize];
        match rng.below(10) {
            0 => format!("{m:02}/{d:02}/{y}"),
            1 => format!("{m}/{d}/{:02}", y % 100),
            2 => format!("{y}-{m:02}-{d:02}"),
            3 => format!("{mon} {d}, {y}"),
            4 => format!("{d} {mon} {y}"),
            5 => format!("{} {d}", &mon[..3]),
            6 => format!("{mon} {y}"),
            7 => format!(
                "{y}-{m:02}-{d:02}T{:02}:{:02}:00",
                rng.range(0, 23),
                rng.range(0, 59)
            ),
            8 => format!(
                "{m:02}/{d:02}/{y} {:02}:{:02}",
                rng.range(0, 23),
                rng.range(0, 59)
            ),
            _ => format!("{d:02}.{m:02}.{y}"),
        }
    }

    fn phone(&self, rng: &mut Rng) -> String {
        let (a, b, c) = (rng.range(201, 989), rng.range(200, 999), rng.range(0, 9999));
        match rng.below(6) {
            0 => format!("({a}) {b}-{c:04}"),
            1 => format!("{a}-{b}-{c:04}"),
            2 => format!("{a}.{b}.{c:04}"),
            3 => format!("+1 {a} {b} {c:04}"),
            4 => format!("+44 20 {} {:04}", rng.range(7000, 8999), rng.range(0, 9999)),
            _ => format!("+49 30 {}", rng.range(1_000_000, 99_999_999)),
        }
    }

    fn ssn(&self, rng: &mut Rng) -> String {
        let mut area = rng.range(1, 899);
        if area == 666 {
            area = 667;
        }
        format!(
            "{area:03}-{:02}-{:04}",
            rng.range(1, 99),
            rng.range(1, 9999)
        )
    }

    fn sin(&self, rng: &mut Rng) -> String {
        let mut d = vec![rng.range(1, 7) as u8];
        d.extend(rng.digit_values(7));
        d.push(checksum::luhn_check_digit(&d));
        let s = to_string(&d);
        format!("{} {} {}", &s[..3], &s[3..6], &s[6..])
    }

    fn npi(&self, rng: &mut Rng) -> String {
        let mut d = vec![1 + rng.below(2) as u8];
        d.extend(rng.digit_values(8));
        d.push(checksum::npi_check_digit(&d));
        to_string(&d)
    }

    fn dea(&self, rng: &mut Rng) -> String {
        let d = rng.digit_values(6);
        let first = *rng.pick(&['A', 'B', 'F', 'M']);
        let second = char::from(b'A' + rng.below(26) as u8);
        format!(
            "{first}{second}{}{}",
            to_string(&d),
            checksum::dea_check_digit(&d)
        )
    }

    fn card(&self, rng: &mut Rng) -> String {
        let mut d = vec![*rng.pick(&[4u8, 5])];
        d.extend(rng.digit_values(14));
        d.push(checksum::luhn_check_digit(&d));
        let s = to_string(&d);
        let sep = *rng.pick(&[" ", "-", ""]);
        format!(
            "{}{sep}{}{sep}{}{sep}{}",
            &s[..4],
            &s[4..8],
            &s[8..12],
            &s[12..]
        )
    }

    fn iban(&self, rng: &mut Rng) -> String {
        let (country, bban) = if rng.chance(0.5) {
            ("DE", to_string(&rng.digit_values(18)))
        } else {
            let bank: String = (0..4)
                .map(|_| char::from(b'A' + rng.below(26) as u8))
                .collect();
            ("GB", format!("{bank}{}", to_string(&rng.digit_values(14))))
        };
        let check = checksum::iban_check_digits(country, &bban);
        let compact = format!("{country}{check:02}{bban}");
        if rng.chance(0.5) {
            compact
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            compact
        }
    }

    fn aba(&self, rng: &mut Rng) -> String {
        let d = rng.digit_values(8);
        format!("{}{}", to_string(&d), checksum::aba_check_digit(&d))
    }

    fn mbi(&self, rng: &mut Rng) -> String {
        let l = |rng: &mut Rng| char::from(*rng.pick(MBI_LETTERS));
        let n = |rng: &mut Rng| char::from(b'0' + rng.below(10) as u8);
        let s: String = [
            char::from(b'1' + rng.below(9) as u8),
            l(rng),
            n(rng),
            n(rng),
            l(rng),
            l(rng),
            n(rng),
            l(rng),
            l(rng),
            n(rng),
            n(rng),
        ]
        .iter()
        .collect();
        if rng.chance(0.5) {
            format!("{}-{}-{}", &s[..4], &s[4..7], &s[7..])
        } else {
            s
        }
    }

    fn vin(&self, rng: &mut Rng) -> String {
        const CH: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789";
        let mut v: Vec<u8> = (0..17).map(|_| *rng.pick(CH)).collect();
        v[0] = b'1' + rng.below(5) as u8;
        v[8] = b'0';
        v[8] = checksum::vin_check_char(&v).unwrap_or(b'0');
        String::from_utf8_lossy(&v).into_owned()
    }

    fn street(&self, rng: &mut Rng) -> String {
        let mut s = format!(
            "{} {} {}",
            rng.range(1, 9999),
            rng.pick(&STREETS),
            rng.pick(&SUFFIXES)
        );
        if rng.chance(0.3) {
            s.push_str(&format!(
                ", Apt {}{}",
                rng.range(1, 40),
                char::from(b'A' + rng.below(6) as u8)
            ));
        }
        s
    }

    fn postal_ca(&self, rng: &mut Rng) -> String {
        let a = char::from(*rng.pick(POSTAL_FIRST));
        let b = char::from(*rng.pick(POSTAL_OTHER));
        let c = char::from(*rng.pick(POSTAL_OTHER));
        format!(
            "{a}{}{b} {}{c}{}",
            rng.below(10),
            rng.below(10),
            rng.below(10)
        )
    }

    fn ipv4(&self, rng: &mut Rng) -> String {
        format!(
            "{}.{}.{}.{}",
            rng.range(1, 223),
            rng.range(0, 255),
            rng.range(0, 255),
            rng.range(1, 254)
        )
    }

    fn ipv6(&self, rng: &mut Rng) -> String {
        format!(
            "2001:db8:{:x}:{:x}::{:x}",
            rng.range(0, 0xffff),
            rng.range(0, 0xffff),
            rng.range(1, 0xffff)
        )
    }

    fn alnum_id(&self, rng: &mut Rng, letters: usize, digits: usize) -> String {
        let l: String = (0..letters)
            .map(|_| char::from(b'A' + rng.below(26) as u8))
            .collect();
        format!("{l}{}", to_string(&rng.digit_values(digits)))
    }
}

/// Mention of a person in one of several forms; pushes the gold span for
/// the name part only (titles and credentials are not PHI).
fn mention(b: &mut Builder, p: &Person, form: usize) {
    match form {
        0 => b.phi("PERSON", &format!("{} {}", p.first, p.last)),
        1 => {
            let mid = p.initial.map(|c| format!(" {c}.")).unwrap_or_default();
            b.phi("PERSON", &format!("{}{mid} {}", p.first, p.last));
        }
        2 => b.phi(
            "PERSON",
            &format!("{}, {}", p.last.to_uppercase(), p.first.to_uppercase()),
        ),
        3 => b.phi("PERSON", &format!("{}, {}", p.last, p.first)),
        _ => b.phi("PERSON", &p.last),
    }
}

fn title(rng: &mut Rng) -> &'static str {
    const TITLES: [&str; 5] = ["Mr. ", "Ms. ", "Mrs. ", "Mr ", "Ms "];
    rng.pick::<&str>(&TITLES)
}

/// The corpus: `n` documents from `seed`.
pub fn generate(n: usize, seed: u64) -> Vec<Document> {
    let names = NameSource::load();
    let g = Gen { names: &names };
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let mut doc_rng = Rng::new(rng.next_u64());
            let mut b = Builder {
                text: String::new(),
                chars: 0,
                gold: Vec::new(),
                rng: &mut doc_rng,
                typo_rate: 0.03,
                break_rate: 0.01,
            };
            let kind = i % TEMPLATES;
            template(kind, &g, &mut b);
            Document {
                id: format!("doc-{seed}-{i}"),
                text: b.text,
                gold: b.gold,
            }
        })
        .collect()
}

const TEMPLATES: usize = 12;

/// Write template `kind` into `b`.
fn template(kind: usize, g: &Gen, b: &mut Builder) {
    let pt = g.person(b.rng);
    let doc = g.person(b.rng);
    let other = g.person(b.rng);
    macro_rules! v {
        ($f:ident) => {{
            let x = g.$f(b.rng);
            x
        }};
    }
    match kind {
        0 => {
            // Discharge summary.
            b.lit("DISCHARGE SUMMARY\nPatient: ");
            let f = b.rng.below(4);
            mention(b, &pt, f);
            b.lit("\nMRN: ");
            let mrn = format!(
                "{}{}",
                b.rng.pick(&["", "BWH-", "MGH", "00"]),
                to_string(&b.rng.digit_values(7))
            );
            b.phi("MRN", &mrn);
            b.lit("   DOB: ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit("\nAdmission date: ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit("  Discharge date: ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit("\nAttending: Dr. ");
            b.phi("PERSON", &doc.last);
            b.lit("\n\nHISTORY OF PRESENT ILLNESS: The patient is a ");
            let age = b.rng.range(90, 104).to_string();
            b.phi("AGE", &age);
            b.lit("-year-old with a history of atrial fibrillation on apixaban and type 2 diabetes who presented with dyspnea and bilateral lower extremity edema. ");
            let t = title(b.rng);
            b.lit(t);
            b.phi("PERSON", &pt.last);
            b.lit(" was treated with IV furosemide 40 mg twice daily with good diuresis. Echo showed EF 35%. Creatinine peaked at 1.8 and returned to 1.2.\n");
            b.lit("He lives at ");
            let s = v!(street);
            b.phi("ADDRESS", &s);
            b.lit(", ");
            let (city, st) = *b.rng.pick(&CITIES);
            b.lit(&format!("{city}, {st} "));
            let zip = format!("{:05}", b.rng.range(1001, 99950));
            b.phi("ZIP", &zip);
            b.lit(" with his daughter ");
            mention(b, &other, 0);
            b.lit(" (phone ");
            let p = v!(phone);
            b.phi("PHONE", &p);
            b.lit(").\nFollow up with his PCP in 1-2 weeks. Take 1/2 tablet of metoprolol if BP > 140/90.\n\nElectronically signed by ");
            mention(b, &doc, 1);
            b.lit(", MD on ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit("\nNPI: ");
            let n = v!(npi);
            b.phi("NPI", &n);
            b.lit("\n");
        }
        1 => {
            // Lab report table.
            b.lit("LABORATORY REPORT\nName: ");
            mention(b, &pt, 2);
            b.lit("\nMed Rec #: ");
            let mrn = to_string(&b.rng.digit_values(8));
            b.phi("MRN", &mrn);
            b.lit("\nCollected: ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit("\nOrdering provider: ");
            mention(b, &doc, 0);
            b.lit("\n\nTest            Result   Units     Ref range\n");
            b.lit("Sodium          138      mmol/L    135-145\nPotassium       4.1      mmol/L    3.5-5.1\n");
            b.lit("Hemoglobin A1c  7.9      %         4.0-5.6\nWBC             11.2     K/uL      4.5-11.0\n");
            b.lit("Glucose         212      mg/dL     70-99\nTSH             2.31     mIU/L     0.4-4.0\n");
            b.lit("\nResults called to ");
            mention(b, &other, 0);
            b.lit(", RN at ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit(". Lab fax: ");
            let p = v!(phone);
            b.phi("FAX", &p);
            b.lit("\nSpecimen accession 24-118-3321. Reviewed by Dr. ");
            b.phi("PERSON", &doc.last);
            b.lit(".\n");
        }
        2 => {
            // Portal message.
            b.lit("From: ");
            mention(b, &pt, 0);
            b.lit(" <");
            let e = format!(
                "{}.{}{}@{}",
                fold_ascii(&pt.first),
                fold_ascii(&pt.last),
                b.rng.range(1, 99),
                b.rng.pick(&DOMAINS)
            );
            b.phi("EMAIL", &e);
            b.lit(">\nSent: ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit("\nSubject: refill and appointment\n\nHi Dr. ");
            b.phi("PERSON", &doc.last);
            b.lit(",\nI ran out of my lisinopril and my blood pressure was 150/95 this morning. Could you send a refill to the pharmacy? ");
            b.lit("Also my mother ");
            mention(b, &other, 0);
            b.lit(" is ");
            let age = b.rng.range(90, 101).to_string();
            b.phi("AGE", &age);
            b.lit(" yo and needs a home visit. You can call me at ");
            let p = v!(phone);
            b.phi("PHONE", &p);
            b.lit(" or see my records at ");
            let u = format!(
                "https://portal.{}/chart/{}",
                b.rng.pick(&DOMAINS),
                b.rng.range(10000, 999999)
            );
            b.phi("URL", &u);
            b.lit(".\nThanks,\n");
            b.phi("PERSON", &pt.first);
            b.lit("\n");
        }
        3 => {
            // Referral letter.
            b.lit("Dear Dr. ");
            b.phi("PERSON", &doc.last);
            b.lit(",\n\nThank you for seeing ");
            let t = title(b.rng);
            b.lit(t);
            mention(b, &pt, 0);
            b.lit(", date of birth ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit(", for evaluation of progressive memory loss. MRN ");
            let mrn = format!("MR{}", to_string(&b.rng.digit_values(7)));
            b.phi("MRN", &mrn);
            b.lit(". Insurance: Member ID ");
            let m = g.alnum_id(b.rng, 3, 9);
            b.phi("HEALTH_PLAN", &m);
            b.lit(", Medicare MBI ");
            let mbi = v!(mbi);
            b.phi("MBI", &mbi);
            b.lit(". MoCA was 19/30 on ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit(". MRI brain showed mild generalized atrophy.\n\nHer address is ");
            let s = v!(street);
            b.phi("ADDRESS", &s);
            b.lit(", ");
            let (city, st) = *b.rng.pick(&CITIES);
            b.lit(&format!("{city}, {st} "));
            let zip = format!(
                "{:05}-{:04}",
                b.rng.range(1001, 99950),
                b.rng.range(0, 9999)
            );
            b.phi("ZIP", &zip);
            b.lit(". Contact: ");
            let p = v!(phone);
            b.phi("PHONE", &p);
            b.lit(", fax ");
            let f = v!(phone);
            b.phi("FAX", &f);
            b.lit(".\n\nSincerely,\n");
            mention(b, &other, 1);
            b.lit(", MD\nInternal Medicine\n");
        }
        4 => {
            // Billing and insurance form.
            b.lit("BILLING RECORD\nGuarantor: ");
            mention(b, &pt, 3);
            b.lit("\nSSN: ");
            let s = v!(ssn);
            b.phi("SSN", &s);
            b.lit("\nAccount number: ");
            let a = to_string(&b.rng.digit_values(10));
            b.phi("ACCOUNT", &a);
            b.lit("\nPolicy number: ");
            let m = g.alnum_id(b.rng, 2, 8);
            b.phi("HEALTH_PLAN", &m);
            b.lit("\nMedicare HICN: ");
            let h = format!("{}A", to_string(&b.rng.digit_values(9)));
            let h = match h.strip_prefix('0') {
                Some(rest) => format!("1{rest}"),
                None => h,
            };
            b.phi("HICN", &h);
            b.lit("\nCard on file: ");
            let c = v!(card);
            b.phi("CREDIT_CARD", &c);
            b.lit("\nRefund to IBAN ");
            let i = v!(iban);
            b.phi("IBAN", &i);
            b.lit(" or routing number ");
            let r = v!(aba);
            b.phi("ABA_ROUTING", &r);
            b.lit("\nBalance due $1,240.50 by ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit(". Questions: billing office ");
            let p = v!(phone);
            b.phi("PHONE", &p);
            b.lit("\n");
        }
        5 => {
            // Device and procedure note.
            b.lit("PROCEDURE NOTE\nDate of service: ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit("\nPatient ");
            mention(b, &pt, 0);
            b.lit(", a ");
            let age = b.rng.range(90, 99).to_string();
            b.phi("AGE", &age);
            b.lit(" year old woman, underwent dual-chamber pacemaker implantation for symptomatic bradycardia.\n");
            b.lit("Device serial number: ");
            let sn = g.alnum_id(b.rng, 3, 7);
            b.phi("DEVICE_ID", &sn);
            b.lit("\nLead model 5076, 52 cm. Threshold 0.6 V at 0.4 ms, impedance 540 ohms.\nOperator: ");
            mention(b, &doc, 1);
            b.lit(", MD, DEA ");
            let dea = v!(dea);
            b.phi("DEA", &dea);
            b.lit(", license ");
            let lic = g.alnum_id(b.rng, 2, 6);
            b.phi("LICENSE", &lic);
            b.lit("\nPatient was driven home by ");
            mention(b, &other, 0);
            b.lit("; vehicle VIN ");
            let vin = v!(vin);
            b.phi("VIN", &vin);
            b.lit(", license plate ");
            let plate = format!("{}{}", b.rng.range(1, 9), g.alnum_id(b.rng, 3, 3));
            b.phi("LICENSE_PLATE", &plate);
            b.lit(".\n");
        }
        6 => {
            // Telehealth log.
            b.lit("TELEHEALTH VISIT ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit("\nProvider: ");
            mention(b, &doc, 0);
            b.lit("\nPt: ");
            mention(b, &pt, 1);
            b.lit("\nSession joined from IP ");
            let ip = if b.rng.chance(0.5) {
                v!(ipv4)
            } else {
                v!(ipv6)
            };
            b.phi("IP", &ip);
            b.lit(" via ");
            let u = format!(
                "https://meet.{}/room/{}",
                b.rng.pick(&DOMAINS),
                b.rng.range(1000, 99999)
            );
            b.phi("URL", &u);
            b.lit("\nChief complaint: cough for 2 weeks. Afebrile, SpO2 96% on room air. Plan: azithromycin 500 mg day 1 then 250 mg days 2-5.\n");
            b.lit("Patient email ");
            let e = format!(
                "{}{}@{}",
                fold_ascii(&pt.first).to_lowercase(),
                b.rng.range(1, 999),
                b.rng.pick(&DOMAINS)
            );
            b.phi("EMAIL", &e);
            b.lit(". Next visit ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit(".\n");
        }
        7 => {
            // Canadian clinic note.
            b.lit("CLINIC NOTE - Toronto\nName: ");
            mention(b, &pt, 0);
            b.lit("\nOHIP: ");
            let hc = format!(
                "{}-{}-{}-{}",
                to_string(&b.rng.digit_values(4)),
                to_string(&b.rng.digit_values(3)),
                to_string(&b.rng.digit_values(3)),
                g.alnum_id(b.rng, 2, 0)
            );
            b.phi("HEALTH_CARD", &hc);
            b.lit("\nSIN: ");
            let sin = v!(sin);
            b.phi("SIN", &sin);
            b.lit("\nAddress: ");
            let s = v!(street);
            b.phi("ADDRESS", &s);
            b.lit(", Toronto ON ");
            let pc = v!(postal_ca);
            b.phi("POSTAL_CODE_CA", &pc);
            b.lit("\nSeen on ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit(" for follow-up of COPD. FEV1 1.2 L (48% predicted). Continue tiotropium. Son ");
            b.phi("PERSON", &other.first);
            b.lit(" asked about home oxygen; call him at ");
            let p = v!(phone);
            b.phi("PHONE", &p);
            b.lit(".\nDr. ");
            b.phi("PERSON", &doc.last);
            b.lit("\n");
        }
        9 => {
            // Emergency department triage.
            b.lit("ED TRIAGE ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit("\n");
            mention(b, &pt, 3);
            b.lit("   Age: ");
            let age = b.rng.range(90, 107).to_string();
            b.phi("AGE", &age);
            b.lit("   Sex: F\nArrived by ambulance from ");
            let s = v!(street);
            b.phi("ADDRESS", &s);
            b.lit(", accompanied by granddaughter ");
            mention(b, &other, 0);
            b.lit(" (");
            let p = v!(phone);
            b.phi("PHONE", &p);
            b.lit(").\nCC: fall at home, struck head. On warfarin. Allergies: PCN (rash).\nBP 142/88  HR 96  RR 18  T 37.2  SpO2 95% RA  GCS 15\nInsurance ID: ");
            let m = g.alnum_id(b.rng, 1, 9);
            b.phi("HEALTH_PLAN", &m);
            b.lit("\nTriage RN: ");
            mention(b, &doc, 0);
            b.lit("\n");
        }
        10 => {
            // Radiology report.
            b.lit("CT HEAD WITHOUT CONTRAST\nExam date: ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit("\nPatient: ");
            mention(b, &pt, 0);
            b.lit("   MRN ");
            let mrn = to_string(&b.rng.digit_values(9));
            b.phi("MRN", &mrn);
            b.lit("   DOB ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit("\nReferring: Dr. ");
            mention(b, &other, 0);
            b.lit("\nCOMPARISON: MRI brain ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit(".\nFINDINGS: No acute intracranial hemorrhage, mass effect or midline shift. Chronic small vessel ischemic changes. Ventricles are proportionate to sulci.\nIMPRESSION: No acute intracranial abnormality.\n\nDictated by: ");
            mention(b, &doc, 1);
            b.lit(", MD  ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit("\n");
        }
        11 => {
            // Pharmacy call log.
            b.lit("Pharmacy call log. Spoke with the patient's son ");
            b.phi("PERSON", &other.first);
            b.lit(" regarding prior authorization for apixaban 5 mg BID. Callback ");
            let p = v!(phone);
            b.phi("PHONE", &p);
            b.lit(". Prescriber ");
            mention(b, &doc, 0);
            b.lit(", NPI ");
            let n = v!(npi);
            b.phi("NPI", &n);
            b.lit(", DEA ");
            let dea = v!(dea);
            b.phi("DEA", &dea);
            b.lit(". Address on file: ");
            let s = v!(street);
            b.phi("ADDRESS", &s);
            let (city, st) = *b.rng.pick(&CITIES);
            b.lit(&format!(", {city}, {st} "));
            let zip = format!("{:05}", b.rng.range(1001, 99950));
            b.phi("ZIP", &zip);
            b.lit(". Email ");
            let e = format!(
                "{}.{}@{}",
                fold_ascii(&pt.first).to_lowercase(),
                fold_ascii(&pt.last).to_lowercase(),
                b.rng.pick(&DOMAINS)
            );
            b.phi("EMAIL", &e);
            b.lit(". ");
            let t = title(b.rng);
            b.lit(t);
            b.phi("PERSON", &pt.last);
            b.lit(" prefers afternoon calls. Copay card ");
            let c = v!(card);
            b.phi("CREDIT_CARD", &c);
            b.lit(" declined on ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit(".\n");
        }
        _ => {
            // Nursing progress note, free text.
            b.lit("Nursing progress note ");
            let d = v!(date);
            b.phi("DATE", &d);
            b.lit("\n");
            let t = title(b.rng);
            b.lit(t);
            b.phi("PERSON", &pt.last);
            b.lit(" rested comfortably overnight. Pain 3/10, managed with acetaminophen 650 mg. Ambulated in hallway with walker x2. ");
            b.lit("Wife ");
            mention(b, &other, 0);
            b.lit(" visited and asked for an update from Dr. ");
            b.phi("PERSON", &doc.last);
            b.lit("; she can be reached at ");
            let p = v!(phone);
            b.phi("PHONE", &p);
            b.lit(". Discussed with ");
            mention(b, &doc, 0);
            b.lit(". Will continue current plan.\nSigned: ");
            b.phi("PERSON", &format!("{} {}", other.first, pt.last));
            b.lit(", RN\n");
        }
    }
}

/// ASCII letters only, for e-mail local parts.
fn fold_ascii(s: &str) -> String {
    crate::deid::names::fold(s)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_spans_point_at_values() {
        let a = generate(20, 7);
        let b = generate(20, 7);
        assert_eq!(
            a.iter().map(|d| &d.text).collect::<Vec<_>>(),
            b.iter().map(|d| &d.text).collect::<Vec<_>>()
        );
        for d in &a {
            let chars: Vec<char> = d.text.chars().collect();
            for s in &d.gold {
                assert!(s.start < s.end && s.end <= chars.len());
                let v: String = chars[s.start..s.end].iter().collect();
                assert_eq!(v.trim(), v, "span has no outer white space");
            }
        }
        assert_ne!(generate(5, 8)[0].text, a[0].text);
    }
}
