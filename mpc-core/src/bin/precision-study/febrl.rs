//! A FEBRL-like data set: original records and corrupted duplicates, made
//! for this study. It is *not* the FEBRL generator (Christen's `dsgen`),
//! only written after its description: originals with several duplicates
//! each, and per duplicate a few modifications of the kinds FEBRL applies —
//! keyboard typos (insert, delete, substitute a neighbour key, transpose),
//! OCR confusions (`m`↔`rn`, `d`↔`cl`, `w`↔`vv`, digits `1`↔`7`, `3`↔`8`,
//! `5`↔`6`, `0`↔`8`), phonetic variants (`ph`↔`f`, `ck`↔`k`, …), missing
//! values, swapped values (first and last name, day and month) and replaced
//! values (a new surname, a move). Names and places are Australian-style,
//! as in FEBRL's look-up tables, but the lists here are our own and short.

use std::collections::HashMap;

use protocol_spec::bloom::BloomEncoder;
use protocol_spec::config::{FieldBits, FieldType, LinkageConfig, Record};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

const GIVEN: &[&str] = &[
    "jack",
    "oliver",
    "william",
    "noah",
    "thomas",
    "james",
    "lachlan",
    "ethan",
    "samuel",
    "joshua",
    "liam",
    "benjamin",
    "daniel",
    "matthew",
    "riley",
    "lucas",
    "cooper",
    "alexander",
    "ryan",
    "isaac",
    "harrison",
    "jayden",
    "max",
    "dylan",
    "mitchell",
    "charlotte",
    "olivia",
    "ruby",
    "emily",
    "chloe",
    "sophie",
    "mia",
    "isabella",
    "grace",
    "ella",
    "amelia",
    "jessica",
    "lily",
    "hannah",
    "zoe",
    "sarah",
    "emma",
    "madison",
    "georgia",
    "lauren",
    "kayla",
    "brooke",
    "talia",
    "phoebe",
    "stephanie",
    "michelle",
    "christopher",
    "nicholas",
    "kathleen",
    "margaret",
    "dorothy",
    "frederick",
    "mackenzie",
    "rebecca",
    "philippa",
];

const SURNAMES: &[&str] = &[
    "smith",
    "jones",
    "williams",
    "brown",
    "wilson",
    "taylor",
    "johnson",
    "white",
    "martin",
    "anderson",
    "thompson",
    "nguyen",
    "thomas",
    "walker",
    "harris",
    "lee",
    "ryan",
    "robinson",
    "kelly",
    "king",
    "davis",
    "wright",
    "evans",
    "roberts",
    "green",
    "hall",
    "wood",
    "jackson",
    "clarke",
    "patel",
    "khan",
    "lewis",
    "james",
    "phillips",
    "mitchell",
    "campbell",
    "mcdonald",
    "oconnor",
    "murphy",
    "schneider",
    "papadopoulos",
    "nicholson",
    "macpherson",
    "richardson",
    "hutchinson",
    "fitzgerald",
    "sutherland",
    "donaldson",
    "christensen",
    "dimitriou",
    "stewart",
    "watson",
    "bennett",
    "morrison",
    "ferguson",
    "chapman",
    "gallagher",
    "mckenzie",
    "buckley",
    "wicks",
];

const PLACES: &[(&str, u32)] = &[
    ("sydney", 2000),
    ("parramatta", 2150),
    ("newcastle", 2300),
    ("wollongong", 2500),
    ("canberra", 2600),
    ("queanbeyan", 2620),
    ("albury", 2640),
    ("wagga wagga", 2650),
    ("melbourne", 3000),
    ("geelong", 3220),
    ("ballarat", 3350),
    ("bendigo", 3550),
    ("brisbane", 4000),
    ("toowoomba", 4350),
    ("cairns", 4870),
    ("townsville", 4810),
    ("adelaide", 5000),
    ("mount gambier", 5290),
    ("perth", 6000),
    ("fremantle", 6160),
    ("bunbury", 6230),
    ("hobart", 7000),
    ("launceston", 7250),
    ("darwin", 800),
    ("alice springs", 870),
    ("coffs harbour", 2450),
    ("port macquarie", 2444),
    ("dubbo", 2830),
    ("mildura", 3500),
    ("rockhampton", 4700),
];

const KEYBOARD: &[&str] = &["qwertyuiop", "asdfghjkl", "zxcvbnm"];

const OCR: &[(&str, &str)] = &[
    ("m", "rn"),
    ("rn", "m"),
    ("d", "cl"),
    ("cl", "d"),
    ("w", "vv"),
    ("vv", "w"),
    ("h", "li"),
    ("u", "ii"),
    ("e", "c"),
    ("g", "q"),
    ("o", "a"),
    ("i", "l"),
];

const PHONETIC: &[(&str, &str)] = &[
    ("ph", "f"),
    ("f", "ph"),
    ("ck", "k"),
    ("k", "ck"),
    ("th", "t"),
    ("ie", "y"),
    ("y", "ie"),
    ("ei", "ie"),
    ("mac", "mc"),
    ("mc", "mac"),
    ("ou", "ow"),
    ("ch", "tch"),
    ("ll", "l"),
    ("ss", "s"),
    ("c", "k"),
    ("z", "s"),
    ("s", "z"),
    ("ee", "ea"),
];

/// Digit confusions of OCR.
const OCR_DIGITS: &[(u8, u8)] = &[
    (1, 7),
    (7, 1),
    (3, 8),
    (8, 3),
    (5, 6),
    (6, 5),
    (0, 8),
    (8, 0),
];

/// Sizes and rates of a FEBRL-like set.
#[derive(Clone, Copy, Debug)]
pub struct FebrlOptions {
    pub database: usize,
    pub queries: usize,
    pub seed: u64,
    /// Share of database records that are duplicates of other database
    /// records (FEBRL sets hold several records per person).
    pub duplicates_in_database: f64,
    /// Share of queries that are duplicates of a database person.
    pub linked_fraction: f64,
    /// At most this many modifications per duplicate (at least one).
    pub max_modifications: usize,
}

#[derive(Clone, Debug)]
struct Person {
    first: Option<String>,
    last: Option<String>,
    birth: Option<String>,
    day: Option<u32>,
    month: Option<u32>,
    year: Option<u32>,
    zip: Option<u32>,
    city: Option<String>,
}

struct Gen {
    rng: ChaCha8Rng,
}

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len())]
    }

    fn person(&mut self) -> Person {
        let last = self.pick(SURNAMES).to_string();
        let birth = match self.below(3) {
            0 => Some(self.pick(SURNAMES).to_string()),
            1 => Some(last.clone()),
            _ => None,
        };
        let (city, zip) = PLACES[self.below(PLACES.len())];
        Person {
            first: Some(self.pick(GIVEN).to_string()),
            last: Some(last),
            birth,
            day: Some(1 + self.below(28) as u32),
            month: Some(1 + self.below(12) as u32),
            year: Some(1920 + self.below(100) as u32),
            zip: Some(zip + self.below(10) as u32),
            city: Some(city.to_string()),
        }
    }

    /// A keyboard typo: insert or substitute a neighbouring key, delete, or
    /// transpose two letters.
    fn typo(&mut self, s: &str) -> String {
        let mut c: Vec<char> = s.chars().collect();
        if c.len() < 2 {
            return s.to_string();
        }
        let i = self.below(c.len() - 1);
        let neighbour = |g: &mut Gen, x: char| -> char {
            for row in KEYBOARD {
                if let Some(k) = row.find(x) {
                    let row: Vec<char> = row.chars().collect();
                    let j = if k == 0 || (k + 1 < row.len() && g.chance(0.5)) {
                        k + 1
                    } else {
                        k - 1
                    };
                    return row[j];
                }
            }
            x
        };
        match self.below(4) {
            0 => c.swap(i, i + 1),
            1 => {
                c.remove(i);
            }
            2 => {
                let x = neighbour(self, c[i]);
                c.insert(i, x);
            }
            _ => c[i] = neighbour(self, c[i]),
        }
        c.into_iter().collect()
    }

    /// Replaces one occurrence of a pattern from `table` that `s` contains.
    fn substitute(&mut self, s: &str, table: &[(&str, &str)]) -> String {
        let found: Vec<&(&str, &str)> = table.iter().filter(|(from, _)| s.contains(from)).collect();
        if found.is_empty() {
            return self.typo(s);
        }
        let (from, to) = found[self.below(found.len())];
        s.replacen(from, to, 1)
    }

    fn ocr_number(&mut self, v: u32) -> u32 {
        let digits: Vec<u8> = v.to_string().bytes().map(|b| b - b'0').collect();
        let candidates: Vec<usize> = (0..digits.len())
            .filter(|&k| OCR_DIGITS.iter().any(|&(f, _)| f == digits[k]))
            .collect();
        if candidates.is_empty() {
            return v;
        }
        let k = candidates[self.below(candidates.len())];
        let mut out = digits.clone();
        out[k] = OCR_DIGITS
            .iter()
            .find(|&&(f, _)| f == digits[k])
            .map(|&(_, t)| t)
            .unwrap_or(digits[k]);
        out.iter().fold(0, |acc, &d| acc * 10 + u32::from(d))
    }

    fn corrupt_text(&mut self, s: &mut Option<String>) {
        let Some(v) = s.as_ref() else { return };
        let new = match self.below(3) {
            0 => self.typo(v),
            1 => self.substitute(v, OCR),
            _ => self.substitute(v, PHONETIC),
        };
        *s = Some(new);
    }

    /// One FEBRL-style modification of a duplicate.
    fn modify(&mut self, p: &mut Person) {
        match self.below(12) {
            0..=2 => {
                let field = self.below(4);
                let target = match field {
                    0 => &mut p.first,
                    1 => &mut p.last,
                    2 => &mut p.birth,
                    _ => &mut p.city,
                };
                self.corrupt_text(target);
            }
            3 => {
                // A missing value.
                match self.below(8) {
                    0 => p.first = None,
                    1 => p.last = None,
                    2 => p.birth = None,
                    3 => p.day = None,
                    4 => p.month = None,
                    5 => p.year = None,
                    6 => p.zip = None,
                    _ => p.city = None,
                }
            }
            4 => std::mem::swap(&mut p.first, &mut p.last),
            5 => {
                // Day and month swapped (only when the result is a date).
                if let (Some(d), Some(m)) = (p.day, p.month)
                    && d <= 12
                {
                    (p.day, p.month) = (Some(m), Some(d));
                }
            }
            6 => {
                let field = self.below(3);
                let target = match field {
                    0 => &mut p.day,
                    1 => &mut p.year,
                    _ => &mut p.zip,
                };
                if let Some(v) = *target {
                    *target = Some(self.ocr_number(v));
                }
            }
            7 => {
                // A new surname (marriage); the birth name keeps the old one.
                if p.birth.is_none() {
                    p.birth = p.last.clone();
                }
                p.last = Some(self.pick(SURNAMES).to_string());
            }
            8 => {
                let (city, zip) = PLACES[self.below(PLACES.len())];
                p.city = Some(city.to_string());
                p.zip = Some(zip + self.below(10) as u32);
            }
            9 => {
                // Year typo: one digit off by one.
                if let Some(y) = p.year {
                    p.year = Some(if self.chance(0.5) { y + 1 } else { y - 1 });
                }
            }
            _ => {
                // A second error in a name.
                let target = if self.chance(0.5) {
                    &mut p.first
                } else {
                    &mut p.last
                };
                self.corrupt_text(target);
            }
        }
    }

    fn duplicate(&mut self, p: &Person, max_modifications: usize) -> Person {
        let mut q = p.clone();
        let count = 1 + self.below(max_modifications.max(1));
        for _ in 0..count {
            self.modify(&mut q);
        }
        q
    }
}

/// Why a FEBRL-like set could not be made for a configuration.
#[derive(Debug, thiserror::Error)]
pub enum FebrlError {
    #[error(
        "field {0:?} is not one of firstname, lastname, birthname, birthday, birthmonth, \
         birthyear, zipcode, city"
    )]
    UnknownField(String),
    #[error("field {field:?}: {source}")]
    Bloom {
        field: String,
        #[source]
        source: protocol_spec::bloom::BloomError,
    },
}

/// The generated set: database and query records (the truth is not needed
/// by the study, which compares precisions, not linkage quality).
pub struct FebrlSet {
    pub database: Vec<Record>,
    pub queries: Vec<Record>,
}

struct Encoder<'a> {
    config: &'a LinkageConfig,
    blooms: Vec<Option<BloomEncoder>>,
    cache: HashMap<(usize, String), Option<FieldBits>>,
}

impl Encoder<'_> {
    fn record(&mut self, p: &Person) -> Result<Record, FebrlError> {
        let mut record = Vec::with_capacity(self.config.fields().len());
        for (f, spec) in self.config.fields().iter().enumerate() {
            let name = spec.name.to_lowercase();
            let text = match name.as_str() {
                "firstname" => Some(p.first.clone()),
                "lastname" => Some(p.last.clone()),
                "birthname" => Some(p.birth.clone()),
                "city" => Some(p.city.clone()),
                _ => None,
            };
            let number = match name.as_str() {
                "birthday" => Some(p.day),
                "birthmonth" => Some(p.month),
                "birthyear" => Some(p.year),
                "zipcode" => Some(p.zip),
                _ => None,
            };
            let value = match (text, number, &self.blooms[f]) {
                (Some(text), _, Some(bloom)) => text.and_then(|t| {
                    self.cache
                        .entry((f, t.clone()))
                        .or_insert_with(|| bloom.encode(&t))
                        .clone()
                }),
                (None, Some(number), Some(bloom)) => {
                    number.and_then(|n| bloom.encode(&n.to_string()))
                }
                (None, Some(number), None) => number.and_then(|n| {
                    let bits = spec.bitlength.min(64);
                    let mask = if bits >= 64 {
                        u64::MAX
                    } else {
                        (1u64 << bits) - 1
                    };
                    FieldBits::from_le_bytes(spec.bitlength, &(u64::from(n) & mask).to_le_bytes())
                }),
                _ => return Err(FebrlError::UnknownField(spec.name.clone())),
            };
            record.push(value);
        }
        Ok(record)
    }
}

impl FebrlSet {
    pub fn generate(config: &LinkageConfig, opts: &FebrlOptions) -> Result<FebrlSet, FebrlError> {
        let blooms = config
            .fields()
            .iter()
            .map(|f| match f.field_type {
                FieldType::Bitmask => {
                    BloomEncoder::unkeyed(f.bitlength, 15)
                        .map(Some)
                        .map_err(|source| FebrlError::Bloom {
                            field: f.name.clone(),
                            source,
                        })
                }
                _ => Ok(None),
            })
            .collect::<Result<_, _>>()?;
        let mut enc = Encoder {
            config,
            blooms,
            cache: HashMap::new(),
        };
        let mut g = Gen {
            rng: ChaCha8Rng::seed_from_u64(opts.seed),
        };
        let originals =
            ((opts.database as f64) * (1.0 - opts.duplicates_in_database)).ceil() as usize;
        let originals = originals.clamp(usize::from(opts.database > 0), opts.database.max(1));
        let people: Vec<Person> = (0..originals).map(|_| g.person()).collect();
        let mut database = Vec::with_capacity(opts.database);
        for p in &people {
            if database.len() < opts.database {
                database.push(enc.record(p)?);
            }
        }
        while database.len() < opts.database {
            let k = g.below(people.len());
            let d = g.duplicate(&people[k], opts.max_modifications);
            database.push(enc.record(&d)?);
        }
        let mut queries = Vec::with_capacity(opts.queries);
        for _ in 0..opts.queries {
            let p = if g.chance(opts.linked_fraction) {
                let k = g.below(people.len());
                g.duplicate(&people[k], opts.max_modifications)
            } else {
                g.person()
            };
            queries.push(enc.record(&p)?);
        }
        Ok(FebrlSet { database, queries })
    }
}
