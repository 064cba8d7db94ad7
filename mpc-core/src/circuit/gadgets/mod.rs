//! Integer gadgets written once against [`Builder`] (the
//! circuit-construction trait).
//!
//! AND counts and depths quoted in the docs are for inputs that are all
//! XOR-shared (the worst case); gates touching public constants or one
//! party's private values are cheaper, and the cost counter reports the
//! real figure for a given ownership. `k` is the word width.
//!
//! Internally the arithmetic works on *sparse* bit vectors
//! (`Option<W>`, `None` = known zero), so zero-extension, shifted partial
//! products and constant multipliers never spend an AND on a bit that is
//! known to be zero.

pub mod adder;
pub mod argmax;
pub mod compare;
pub mod divide;
pub mod multiply;
pub mod popcount;

pub use adder::{AdderKind, add, add_with_carry, sub, sub_with_borrow};
pub use argmax::{argmax, argmax_by, argmax_lanes, argmax_lanes_by, fraction_gt};
pub use compare::{and_all, eq, ge, gt, le, lt, mux_word, ne};
pub use divide::{divide, divide_fixed, divide_nonrestoring};
pub use multiply::{mul, mul_const};
pub use popcount::popcount;

use super::{Builder, CResult, CircuitError, Word};

/// A bit that may be known to be zero.
/// A bit that may be known to be zero (`None`): free in every backend.
pub(crate) type Sparse<W> = Option<W>;

pub(crate) fn xor_opt<B: Builder>(
    b: &mut B,
    x: &Sparse<B::Wire>,
    y: &Sparse<B::Wire>,
) -> CResult<Sparse<B::Wire>> {
    Ok(match (x, y) {
        (None, None) => None,
        (Some(v), None) | (None, Some(v)) => Some(v.clone()),
        (Some(u), Some(v)) => Some(b.xor(u, v)?),
    })
}

pub(crate) fn and_opt<B: Builder>(
    b: &mut B,
    x: &Sparse<B::Wire>,
    y: &Sparse<B::Wire>,
) -> CResult<Sparse<B::Wire>> {
    Ok(match (x, y) {
        (Some(u), Some(v)) => Some(b.and(u, v)?),
        _ => None,
    })
}

/// Turns a sparse bit into a wire (a constant zero where unknown).
pub(crate) fn dense<B: Builder>(b: &mut B, x: Sparse<B::Wire>, lanes: usize) -> CResult<B::Wire> {
    match x {
        Some(w) => Ok(w),
        None => b.splat(false, lanes),
    }
}

/// A word as sparse bits padded with known zeros to `width`.
pub(crate) fn sparse<W: Clone>(w: &Word<W>, width: usize) -> Vec<Sparse<W>> {
    (0..width).map(|i| w.bit(i).cloned()).collect()
}

/// Lane count of a non-empty word.
pub(crate) fn lanes_of<B: Builder>(b: &B, w: &Word<B::Wire>, op: &'static str) -> CResult<usize> {
    w.lanes(b).ok_or(CircuitError::Empty { op, what: "bit" })
}

/// Full adder: `(a ^ b ^ c, maj(a, b, c))` with one AND.
pub(crate) fn full_adder<B: Builder>(
    b: &mut B,
    x: &B::Wire,
    y: &B::Wire,
    c: &B::Wire,
) -> CResult<(B::Wire, B::Wire)> {
    let xy = b.xor(x, y)?;
    let xc = b.xor(x, c)?;
    let sum = b.xor(&xy, c)?;
    let t = b.and(&xy, &xc)?;
    let carry = b.xor(x, &t)?;
    Ok((sum, carry))
}
