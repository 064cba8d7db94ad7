//! Plaintext backend: evaluates every gate immediately on bit-packed lanes.
//!
//! It is the reference the 2PC backend is tested against and the engine of
//! plaintext cross-checks: the gadget code is the same, only the wires hold
//! clear values instead of netlist handles.

use super::word::{Word, lanes_to_values, values_to_lanes};
use super::{Builder, CResult, Lanes, check_gather, check_range, same_lanes};

/// Immediate-evaluation backend; a wire is its value on every lane.
#[derive(Debug, Default, Clone)]
pub struct PlainBuilder {
    and_gates: u64,
}

impl PlainBuilder {
    /// A fresh builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An input wire with the given lane values.
    pub fn input(&mut self, bits: Lanes) -> Lanes {
        bits
    }

    /// An input word: `values[i]` on lane `i`, `width` bits.
    pub fn input_word(&mut self, values: &[u128], width: usize) -> CResult<Word<Lanes>> {
        Ok(Word::from_bits(values_to_lanes(values, width)?))
    }

    /// The per-lane integers of a word (at most 128 bits).
    pub fn word_values(&self, w: &Word<Lanes>) -> CResult<Vec<u128>> {
        lanes_to_values(w.bits())
    }

    /// AND gates evaluated so far (one per gate, not per lane).
    pub fn and_gates(&self) -> u64 {
        self.and_gates
    }
}

impl Builder for PlainBuilder {
    type Wire = Lanes;

    fn lanes(&self, w: &Lanes) -> usize {
        w.len()
    }

    fn constant(&mut self, bits: Lanes) -> CResult<Lanes> {
        Ok(bits)
    }

    fn xor(&mut self, a: &Lanes, b: &Lanes) -> CResult<Lanes> {
        same_lanes(a.len(), b.len())?;
        Ok(a.xor(b))
    }

    fn and(&mut self, a: &Lanes, b: &Lanes) -> CResult<Lanes> {
        same_lanes(a.len(), b.len())?;
        self.and_gates += 1;
        Ok(a.and(b))
    }

    fn not(&mut self, a: &Lanes) -> CResult<Lanes> {
        Ok(a.not())
    }

    fn slice_lanes(&mut self, a: &Lanes, start: usize, len: usize) -> CResult<Lanes> {
        check_range(start, len, a.len())?;
        // In range by the check above.
        Ok(a.slice(start, len).unwrap_or_default())
    }

    fn concat_lanes(&mut self, parts: &[Lanes]) -> CResult<Lanes> {
        Ok(Lanes::concat(parts))
    }

    fn gather_lanes(&mut self, a: &Lanes, indices: &[u32]) -> CResult<Lanes> {
        check_gather(indices, a.len())?;
        Ok(a.gather(indices).unwrap_or_default())
    }
}
