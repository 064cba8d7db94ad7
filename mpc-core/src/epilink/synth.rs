//! A deterministic synthetic patient population for tests and the
//! benchmark: German and English names, dates of birth, postcodes and
//! cities, encoded with the repository's Bloom-filter encoder
//! (`protocol_spec::bloom`, Mainzelliste parameters).
//!
//! Query records are, by default, half noisy copies of database persons —
//! with the errors record linkage exists for: typos in names, first and
//! last name swapped, a missing or different birth name, a moved postcode
//! and city, a wrong day of birth, missing fields — and half persons not in
//! the database. Everything follows from the seed, so both parties of a
//! benchmark (or a test and its reference) see the same data.
//!
//! Fields are filled by name for the default configuration (`firstname`,
//! `lastname`, `birthname`, `birthday`, `birthmonth`, `birthyear`,
//! `zipcode`, `city`, and the German names of MainSEL's sample
//! configuration); any other field gets a value of its type: a name-like
//! string encoded as a Bloom filter, or a random integer of its bit length.

use std::collections::HashMap;

use protocol_spec::bloom::BloomEncoder;
use protocol_spec::config::{Comparator, FieldBits, FieldType, LinkageConfig, Record};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

const FIRST_NAMES: &[&str] = &[
    "Anna",
    "Maria",
    "Ursula",
    "Monika",
    "Petra",
    "Elisabeth",
    "Sabine",
    "Renate",
    "Helga",
    "Karin",
    "Brigitte",
    "Ingrid",
    "Sophie",
    "Lena",
    "Hannah",
    "Leonie",
    "Johanna",
    "Katharina",
    "Emily",
    "Olivia",
    "Charlotte",
    "Margaret",
    "Elizabeth",
    "Sarah",
    "Jessica",
    "Peter",
    "Michael",
    "Thomas",
    "Andreas",
    "Wolfgang",
    "Klaus",
    "Jürgen",
    "Günter",
    "Hans",
    "Stefan",
    "Christian",
    "Uwe",
    "Lukas",
    "Maximilian",
    "Jonas",
    "Felix",
    "Paul",
    "Leon",
    "James",
    "John",
    "Robert",
    "William",
    "David",
    "Richard",
    "Joseph",
    "Charles",
    "George",
    "Oliver",
    "Harry",
    "Jack",
    "Matthias",
    "Björn",
    "Jörg",
    "Sören",
    "Käthe",
];

const LAST_NAMES: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Bauer",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Schmitt",
    "Werner",
    "Schmitz",
    "Krause",
    "Meier",
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Robinson",
    "Thompson",
    "Wright",
    "Walker",
    "White",
    "Edwards",
    "Hughes",
    "Green",
    "Hall",
    "Großmann",
    "Weiß",
    "Böhm",
    "Köhler",
    "Jäger",
    "Fuchs",
    "Vogel",
    "Friedrich",
    "Keller",
    "Günther",
];

const CITIES: &[(&str, u32)] = &[
    ("Berlin", 10115),
    ("Hamburg", 20095),
    ("München", 80331),
    ("Köln", 50667),
    ("Frankfurt am Main", 60311),
    ("Stuttgart", 70173),
    ("Düsseldorf", 40213),
    ("Leipzig", 4109),
    ("Dortmund", 44135),
    ("Essen", 45127),
    ("Bremen", 28195),
    ("Dresden", 1067),
    ("Hannover", 30159),
    ("Nürnberg", 90402),
    ("Mainz", 55116),
    ("Heidelberg", 69117),
    ("Freiburg im Breisgau", 79098),
    ("Greifswald", 17489),
    ("Lübeck", 23552),
    ("Würzburg", 97070),
    ("London", 99001),
    ("Manchester", 99002),
    ("Birmingham", 99003),
    ("Leeds", 99004),
];

/// How many records to make, and how noisy the queries are.
#[derive(Clone, Copy, Debug)]
pub struct SynthOptions {
    /// N, the database size.
    pub database: usize,
    /// M, the number of query records.
    pub queries: usize,
    /// The seed; the same seed gives the same population.
    pub seed: u64,
    /// Fraction of queries that are (noisy) copies of database persons.
    pub linked_fraction: f64,
    /// Probability of each kind of error in a copied query.
    pub error_rate: f64,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            database: 100,
            queries: 10,
            seed: 1,
            linked_fraction: 0.5,
            error_rate: 0.15,
        }
    }
}

/// A generated population.
#[derive(Clone, Debug)]
pub struct Population {
    /// The server's records.
    pub database: Vec<Record>,
    /// The client's records.
    pub queries: Vec<Record>,
    /// For each query, the database index it was copied from (if any).
    pub truth: Vec<Option<usize>>,
}

/// Why a population could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// A bitmask field's length is not supported by the Bloom encoder.
    #[error("field {field:?}: {source}")]
    Bloom {
        /// The field.
        field: String,
        /// The encoder's error.
        #[source]
        source: protocol_spec::bloom::BloomError,
    },
}

/// One person in the clear.
#[derive(Clone, Debug)]
struct Person {
    first: String,
    last: String,
    birth: Option<String>,
    day: u32,
    month: u32,
    year: u32,
    zip: u32,
    city: String,
}

struct Gen {
    rng: ChaCha8Rng,
}

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn pick<'a>(&mut self, list: &'a [&'a str]) -> &'a str {
        list[self.below(list.len())]
    }

    fn person(&mut self) -> Person {
        let last = self.pick(LAST_NAMES).to_string();
        let birth = if self.chance(0.3) {
            Some(self.pick(LAST_NAMES).to_string())
        } else if self.chance(0.5) {
            Some(last.clone())
        } else {
            None
        };
        // Some double first names.
        let first = if self.chance(0.1) {
            format!("{}-{}", self.pick(FIRST_NAMES), self.pick(FIRST_NAMES))
        } else {
            self.pick(FIRST_NAMES).to_string()
        };
        let (city, zip) = CITIES[self.below(CITIES.len())];
        Person {
            first,
            last,
            birth,
            day: 1 + self.below(28) as u32,
            month: 1 + self.below(12) as u32,
            year: 1930 + self.below(90) as u32,
            zip: zip + self.below(20) as u32,
            city: city.to_string(),
        }
    }

    /// A typo: swap two neighbours, drop, double or replace a letter.
    fn typo(&mut self, s: &str) -> String {
        let mut c: Vec<char> = s.chars().collect();
        if c.len() < 2 {
            return s.to_string();
        }
        let i = self.below(c.len() - 1);
        match self.below(4) {
            0 => c.swap(i, i + 1),
            1 => {
                c.remove(i);
            }
            2 => c.insert(i, c[i]),
            _ => c[i] = ['e', 'a', 'i', 'n', 'r', 's', 'h'][self.below(7)],
        }
        c.into_iter().collect()
    }

    /// A query copy of `p` with errors.
    fn noisy(&mut self, p: &Person, rate: f64) -> Person {
        let mut q = p.clone();
        if self.chance(rate) {
            q.first = self.typo(&q.first);
        }
        if self.chance(rate) {
            q.last = self.typo(&q.last);
        }
        if self.chance(rate) {
            std::mem::swap(&mut q.first, &mut q.last);
        }
        if self.chance(rate) {
            q.birth = None;
        } else if self.chance(rate / 2.0) {
            q.birth = Some(q.last.clone());
        }
        if self.chance(rate) {
            // Moved: new postcode and city.
            let (city, zip) = CITIES[self.below(CITIES.len())];
            q.city = city.to_string();
            q.zip = zip + self.below(20) as u32;
        }
        if self.chance(rate / 2.0) {
            q.day = 1 + self.below(28) as u32;
        }
        q
    }
}

/// Encodes people into records of a configuration.
struct Encoder<'a> {
    config: &'a LinkageConfig,
    blooms: Vec<Option<BloomEncoder>>,
    cache: HashMap<(usize, String), Option<FieldBits>>,
}

impl<'a> Encoder<'a> {
    fn new(config: &'a LinkageConfig) -> Result<Self, SynthError> {
        let blooms = config
            .fields()
            .iter()
            .map(|f| match f.field_type {
                FieldType::Bitmask => {
                    BloomEncoder::unkeyed(f.bitlength, 15)
                        .map(Some)
                        .map_err(|source| SynthError::Bloom {
                            field: f.name.clone(),
                            source,
                        })
                }
                _ => Ok(None),
            })
            .collect::<Result<_, _>>()?;
        Ok(Encoder {
            config,
            blooms,
            cache: HashMap::new(),
        })
    }

    fn text(&mut self, f: usize, s: Option<&str>) -> Option<FieldBits> {
        let s = s?;
        let enc = self.blooms[f].as_ref()?;
        self.cache
            .entry((f, s.to_string()))
            .or_insert_with(|| enc.encode(s))
            .clone()
    }

    fn int(&self, f: usize, v: u64) -> Option<FieldBits> {
        let spec = &self.config.fields()[f];
        match spec.field_type {
            FieldType::String => FieldBits::from_le_bytes(spec.bitlength, v.to_string().as_bytes()),
            _ => {
                let bits = spec.bitlength.min(64);
                let mask = if bits >= 64 {
                    u64::MAX
                } else {
                    (1u64 << bits) - 1
                };
                FieldBits::from_le_bytes(spec.bitlength, &(v & mask).to_le_bytes())
            }
        }
    }

    fn record(&mut self, p: &Person, g: &mut Gen, missing_rate: f64) -> Record {
        let fields: Vec<(String, Comparator, FieldType)> = self
            .config
            .fields()
            .iter()
            .map(|f| (f.name.to_lowercase(), f.comparator, f.field_type))
            .collect();
        fields
            .iter()
            .enumerate()
            .map(|(f, (name, comparator, ty))| {
                if g.chance(missing_rate) {
                    return None;
                }
                let text = match name.as_str() {
                    "firstname" | "vorname" | "first_name" => Some(p.first.clone()),
                    "lastname" | "nachname" | "last_name" => Some(p.last.clone()),
                    "birthname" | "geburtsname" | "birth_name" => p.birth.clone(),
                    "city" | "ort" => Some(p.city.clone()),
                    _ => None,
                };
                let number = match name.as_str() {
                    "birthday" | "geburtstag" => Some(u64::from(p.day)),
                    "birthmonth" | "geburtsmonat" => Some(u64::from(p.month)),
                    "birthyear" | "geburtsjahr" => Some(u64::from(p.year)),
                    "zipcode" | "plz" | "zip" => Some(u64::from(p.zip)),
                    _ => None,
                };
                match (comparator, ty) {
                    (Comparator::Dice, _) => match (&text, number) {
                        (Some(t), _) => self.text(f, Some(t)),
                        (None, Some(n)) => self.text(f, Some(&n.to_string())),
                        // Unknown text field, or a birth name that is absent.
                        (None, None) if name.contains("birth") || name.contains("geburts") => None,
                        (None, None) => {
                            let t = format!("{}{}", p.first, p.last);
                            self.text(f, Some(&t))
                        }
                    },
                    (Comparator::Binary, _) => {
                        let v = number.unwrap_or_else(|| {
                            // Unknown binary field: derive from the person.
                            u64::from(p.day) * 31 + u64::from(p.month) * 12 + u64::from(p.year)
                        });
                        self.int(f, v)
                    }
                }
            })
            .collect()
    }
}

impl Population {
    /// Generates `opts.database` database records and `opts.queries` query
    /// records for `config`.
    pub fn generate(config: &LinkageConfig, opts: &SynthOptions) -> Result<Population, SynthError> {
        let mut g = Gen {
            rng: ChaCha8Rng::seed_from_u64(opts.seed),
        };
        let mut enc = Encoder::new(config)?;
        let people: Vec<Person> = (0..opts.database).map(|_| g.person()).collect();
        let database = people.iter().map(|p| enc.record(p, &mut g, 0.02)).collect();
        let mut queries = Vec::with_capacity(opts.queries);
        let mut truth = Vec::with_capacity(opts.queries);
        for _ in 0..opts.queries {
            if !people.is_empty() && g.chance(opts.linked_fraction) {
                let i = g.below(people.len());
                let q = g.noisy(&people[i], opts.error_rate);
                queries.push(enc.record(&q, &mut g, opts.error_rate / 4.0));
                truth.push(Some(i));
            } else {
                let p = g.person();
                queries.push(enc.record(&p, &mut g, 0.02));
                truth.push(None);
            }
        }
        Ok(Population {
            database,
            queries,
            truth,
        })
    }
}
