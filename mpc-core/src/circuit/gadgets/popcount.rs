//! Population count (Hamming weight) of a list of bits.
//!
//! All bits start in column 0 of a carry-save tree of full adders (each
//! turns three bits into two, one AND); the remaining two rows are added
//! with a ripple adder. That is about n − log2 n ANDs for n bits, close to
//! the n − HW(n) lower bound, at depth O(log n).

use super::adder::{AdderKind, add_sparse};
use super::{Sparse, full_adder};
use crate::circuit::word::bits_for;
use crate::circuit::{Builder, CResult, CircuitError, Word, same_lanes};

/// Number of set bits among `bits`, as a word of `bits_for(n)` bits.
pub fn popcount<B: Builder>(b: &mut B, bits: &[B::Wire]) -> CResult<Word<B::Wire>> {
    let first = bits.first().ok_or(CircuitError::Empty {
        op: "popcount",
        what: "bit",
    })?;
    let lanes = b.lanes(first);
    for w in bits {
        same_lanes(lanes, b.lanes(w))?;
    }
    let width = bits_for(bits.len() as u128);
    let mut cols = vec![Vec::new(); width];
    cols[0] = bits.to_vec();
    // Greedy full-adder stages: every FA removes one bit for one AND, which
    // is what keeps the count near n − HW(n). (Dadda's schedule, used for
    // multiplication, spends extra half adders to bound the depth of wide
    // column ranges; with all bits in one column the greedy depth is
    // already logarithmic.)
    while cols.iter().any(|c| c.len() > 2) {
        let mut next: Vec<Vec<B::Wire>> = vec![Vec::new(); width];
        for (c, col) in cols.into_iter().enumerate() {
            let mut chunks = col.chunks_exact(3);
            for t in chunks.by_ref() {
                let (s, carry) = full_adder(b, &t[0], &t[1], &t[2])?;
                next[c].push(s);
                // The count fits in `width` bits, so a carry out of the top
                // column is always zero.
                if c + 1 < width {
                    next[c + 1].push(carry);
                }
            }
            next[c].extend(chunks.remainder().iter().cloned());
        }
        cols = next;
    }
    let row =
        |i: usize| -> Vec<Sparse<B::Wire>> { cols.iter().map(|c| c.get(i).cloned()).collect() };
    let (sum, _) = add_sparse(b, AdderKind::Ripple, &row(0), &row(1), None, false, lanes)?;
    Ok(Word::from_bits(sum))
}
