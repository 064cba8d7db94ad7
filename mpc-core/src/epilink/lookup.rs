//! Binary-field equality `δ ∧ [a = b]` by fixed-index table lookups on
//! small blocks of the value, instead of an AND tree over all bits.
//!
//! Split the value into blocks of at most [`BLOCK_BITS`] bits. For a block
//! of `L` bits each party computes, locally, the one-hot vector of its own
//! block value (`2^L` bits, entry `v` set iff the block equals `v`); the
//! presence bit of each party is folded into its one-hot of the first
//! block. The block equality is the inner product of the two one-hots,
//! `⊕_v e_a[v] ∧ e_b[v]`: `2^L` ANDs of a client bit with a server bit,
//! each XOR-shared with no triple. Only the block equalities are ANDed in
//! a tree: `blocks − 1` Beaver triples instead of one per bit (and `δ`,
//! folded into the first block, needs none).
//!
//! The client's one-hot is broadcast over all records of a chunk, so in
//! the GMW engine those ANDs run as fixed-choice ANDs
//! ([`crate::gmw::fixed`]): one random OT per query and table entry, then
//! one bit per lane from the server. Per lane and pair the cost is
//! `Σ 2^L` bits instead of about 66 bits (two random OTs plus four bits)
//! per bit of the value.

use crate::circuit::gadgets::and_all;
use crate::circuit::{Builder, CResult, CircuitError, Word};

/// Largest block of the value looked up at once: 16 table entries. Larger
/// blocks trade one Beaver triple for `2^L` more bits per lane (5 bits
/// would save about 15 % of the bytes of the default configuration's
/// binary fields, 6 bits none); 4 keeps the local one-hot work small.
pub const BLOCK_BITS: usize = 4;

/// Block lengths for a `width`-bit value: as few blocks as `BLOCK_BITS`
/// allows, lengths as even as possible (longer blocks first).
pub fn block_lengths(width: usize) -> Vec<usize> {
    let n = width.div_ceil(BLOCK_BITS).max(1);
    (0..n)
        .map(|k| width / n + usize::from(k < width % n))
        .collect()
}

/// The one-hot vector of `bits` (bit 0 first): entry `v` is
/// `present ∧ [bits = v]` (`present` omitted = 1). Local when all inputs
/// belong to one party.
fn one_hot<B: Builder>(
    b: &mut B,
    bits: &[B::Wire],
    present: Option<&B::Wire>,
) -> CResult<Vec<B::Wire>> {
    let mut table: Vec<B::Wire> = present.into_iter().cloned().collect();
    for bit in bits {
        let nb = b.not(bit)?;
        if table.is_empty() {
            table = vec![nb, bit.clone()];
            continue;
        }
        let mut next = Vec::with_capacity(2 * table.len());
        for t in &table {
            next.push(b.and(t, &nb)?);
        }
        for t in &table {
            next.push(b.and(t, bit)?);
        }
        table = next;
    }
    Ok(table)
}

/// `present_a ∧ present_b ∧ [a = b]` for the client's value `a` and the
/// server's value `b` (equal widths), by one table lookup per block.
pub fn present_equal<B: Builder>(
    b: &mut B,
    present_a: &B::Wire,
    present_b: &B::Wire,
    a: &Word<B::Wire>,
    bv: &Word<B::Wire>,
) -> CResult<B::Wire> {
    if a.width() != bv.width() {
        return Err(CircuitError::WidthMismatch {
            op: "binary equality",
            left: a.width(),
            right: bv.width(),
        });
    }
    let mut equal = Vec::new();
    let mut start = 0;
    for (k, len) in block_lengths(a.width()).into_iter().enumerate() {
        let (pa, pb) = if k == 0 {
            (Some(present_a), Some(present_b))
        } else {
            (None, None)
        };
        let ea = one_hot(b, &a.bits()[start..start + len], pa)?;
        let eb = one_hot(b, &bv.bits()[start..start + len], pb)?;
        let mut acc: Option<B::Wire> = None;
        for (x, y) in ea.iter().zip(&eb) {
            let t = b.and(x, y)?;
            acc = Some(match acc {
                Some(s) => b.xor(&s, &t)?,
                None => t,
            });
        }
        equal.push(acc.ok_or(CircuitError::Empty {
            op: "binary equality",
            what: "table entry",
        })?);
        start += len;
    }
    and_all(b, &equal)?.ok_or(CircuitError::Empty {
        op: "binary equality",
        what: "block",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lanes;
    use crate::circuit::plain::PlainBuilder;

    #[test]
    fn blocks_cover_the_width_evenly() {
        assert_eq!(block_lengths(5), vec![3, 2]);
        assert_eq!(block_lengths(4), vec![4]);
        assert_eq!(block_lengths(17), vec![4, 4, 3, 3, 3]);
        assert_eq!(block_lengths(1), vec![1]);
        for w in 1..70 {
            let l = block_lengths(w);
            assert_eq!(l.iter().sum::<usize>(), w);
            assert!(l.iter().all(|&x| (1..=BLOCK_BITS).contains(&x)));
        }
    }

    /// Exhaustive over 6-bit values and both presence bits, in the clear.
    #[test]
    fn equals_the_definition() {
        let width = 6;
        /// (client value, server value, client present, server present)
        type Row = (u32, u32, bool, bool);
        let mut rows: Vec<Row> = Vec::new();
        for a in 0..64u32 {
            for bv in 0..64u32 {
                for pa in [false, true] {
                    for pb in [false, true] {
                        rows.push((a, bv, pa, pb));
                    }
                }
            }
        }
        let mut b = PlainBuilder::new();
        let lanes =
            |f: &dyn Fn(&Row) -> bool| Lanes::from_bools(&rows.iter().map(f).collect::<Vec<_>>());
        let pa = b.input(lanes(&|r| r.2));
        let pb = b.input(lanes(&|r| r.3));
        let wa = Word::from_bits(
            (0..width)
                .map(|k| b.input(lanes(&|r| r.0 >> k & 1 == 1)))
                .collect(),
        );
        let wb = Word::from_bits(
            (0..width)
                .map(|k| b.input(lanes(&|r| r.1 >> k & 1 == 1)))
                .collect(),
        );
        let e = present_equal(&mut b, &pa, &pb, &wa, &wb).expect("circuit");
        for (l, r) in rows.iter().enumerate() {
            assert_eq!(e.get(l), Some(r.2 && r.3 && r.0 == r.1), "{r:?}");
        }
    }
}
