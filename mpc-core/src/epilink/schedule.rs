//! How a job of M queries × N records is cut into chunks.
//!
//! A chunk is a block of queries × a slice of consecutive database records,
//! with at most `lanes_per_chunk` (query, record) pairs, so memory is
//! bounded whatever M and N are: only one chunk's vector-product shares,
//! OT material and wire values exist at a time, and the best record so far
//! is carried between chunks as XOR shares. Both parties derive the same
//! schedule from M, N and the agreed options.

use crate::circuit::word::bits_for;

/// Default pairs per chunk: 2^14 keeps one chunk's GMW material around
/// 100 MB for the default configuration, and lets 1 × 10,000 run as one
/// chunk (rounds independent of N up to that size).
pub const DEFAULT_LANES_PER_CHUNK: usize = 1 << 14;

/// Largest chunk a run accepts (2^22 pairs: a few GB of working memory).
pub const MAX_LANES_PER_CHUNK: usize = 1 << 22;

/// Most records either party may input: record indices travel as at most
/// 32-bit words.
pub const MAX_RECORDS: usize = 1 << 32;

/// Record-tournament arities a run accepts (SPEC §8): candidates decided
/// per group and layer, `⌈log_k N⌉` layers.
pub const RECORD_ARITIES: [usize; 3] = [2, 4, 8];

/// Default record-tournament arity: the binary tree, fewest comparisons
/// (see BENCHMARKS.md, "Issue 12: wide record tournament").
pub const DEFAULT_RECORD_ARITY: usize = 2;

/// Whether `k` is a record-tournament arity a run accepts.
pub fn valid_record_arity(k: usize) -> bool {
    RECORD_ARITIES.contains(&k)
}

/// One chunk of the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// First query of the block.
    pub first_query: usize,
    /// Queries in the block.
    pub queries: usize,
    /// First database record of the chunk.
    pub first_record: usize,
    /// Records in the chunk.
    pub records: usize,
    /// First chunk of its query block (no running best yet).
    pub first_of_block: bool,
    /// Last chunk of its query block (decisions are output).
    pub last_of_block: bool,
}

/// The chunk sequence of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// M.
    pub queries: usize,
    /// N.
    pub records: usize,
    /// Queries per block.
    pub query_block: usize,
    /// Records per chunk.
    pub record_chunk: usize,
    /// Candidates per group of the record tournament (2: binary tree).
    pub record_arity: usize,
}

impl Schedule {
    /// Blocks of queries × slices of records with at most
    /// `lanes_per_chunk` pairs each (at least one record and one query).
    pub fn new(queries: usize, records: usize, lanes_per_chunk: usize) -> Schedule {
        let lanes = lanes_per_chunk.max(1);
        let record_chunk = records.clamp(1, lanes);
        let query_block = (lanes / record_chunk).clamp(1, queries.max(1));
        Schedule {
            queries,
            records,
            query_block,
            record_chunk,
            record_arity: DEFAULT_RECORD_ARITY,
        }
    }

    /// The same schedule with groups of `arity` records per tournament
    /// layer (checked by the caller against [`RECORD_ARITIES`]).
    pub fn with_record_arity(self, arity: usize) -> Schedule {
        Schedule {
            record_arity: arity,
            ..self
        }
    }

    /// Bits of a global record index.
    pub fn index_width(&self) -> usize {
        bits_for(self.records.saturating_sub(1) as u128)
    }

    /// Every chunk, query blocks outermost, lazily (a job of many chunks
    /// needs no list of them). Empty when M or N is zero.
    pub fn chunks(&self) -> impl Iterator<Item = Chunk> + use<> {
        let this = *self;
        let blocks = if self.records == 0 {
            0
        } else {
            self.queries.div_ceil(self.query_block)
        };
        let per_block = self.records.div_ceil(self.record_chunk);
        (0..blocks).flat_map(move |bq| {
            let q = bq * this.query_block;
            let qn = this.query_block.min(this.queries - q);
            (0..per_block).map(move |br| {
                let r = br * this.record_chunk;
                let rn = this.record_chunk.min(this.records - r);
                Chunk {
                    first_query: q,
                    queries: qn,
                    first_record: r,
                    records: rn,
                    first_of_block: r == 0,
                    last_of_block: r + rn == this.records,
                }
            })
        })
    }

    /// Number of chunks (for progress reports).
    pub fn chunk_count(&self) -> u64 {
        if self.records == 0 {
            return 0;
        }
        self.queries.div_ceil(self.query_block) as u64
            * self.records.div_ceil(self.record_chunk) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_pair_once() {
        for (m, n, l) in [
            (1, 10, 4),
            (5, 3, 4),
            (7, 1, 3),
            (3, 100, 1000),
            (1, 1, 1),
            (4, 9, 9),
        ] {
            let s = Schedule::new(m, n, l);
            let mut seen = vec![vec![0u8; n]; m];
            for c in s.chunks() {
                assert!(c.queries * c.records <= l.max(c.records));
                for row in seen.iter_mut().skip(c.first_query).take(c.queries) {
                    for cell in row.iter_mut().skip(c.first_record).take(c.records) {
                        *cell += 1;
                    }
                }
            }
            assert!(seen.iter().flatten().all(|&x| x == 1), "{m}x{n} by {l}");
        }
        assert_eq!(Schedule::new(0, 5, 8).chunks().count(), 0);
        assert_eq!(Schedule::new(5, 0, 8).chunks().count(), 0);
        for (m, n, l) in [(1, 10, 4), (5, 3, 4), (7, 1, 3), (3, 100, 1000)] {
            let s = Schedule::new(m, n, l);
            assert_eq!(s.chunks().count() as u64, s.chunk_count());
        }
    }

    #[test]
    fn record_arity_is_binary_unless_chosen() {
        let s = Schedule::new(3, 100, 1000);
        assert_eq!(s.record_arity, DEFAULT_RECORD_ARITY);
        let wide = s.with_record_arity(8);
        assert_eq!(wide.record_arity, 8);
        assert_eq!(
            wide.chunks().collect::<Vec<_>>(),
            s.chunks().collect::<Vec<_>>()
        );
        assert!(RECORD_ARITIES.iter().all(|&k| valid_record_arity(k)));
        assert!(![0, 1, 3, 16].iter().any(|&k| valid_record_arity(k)));
    }
}
