//! Gadgets the EpiLink circuit needs beyond [`crate::circuit::gadgets`]:
//! multiplication by a constant in signed digits,
//! sums of sparse rows, and a segmented lane tournament. All are written
//! against [`Builder`] like the shared gadgets, so the plaintext, cost and
//! netlist backends run the same code.

use crate::circuit::gadgets::AdderKind;
use crate::circuit::gadgets::adder::add_sparse;
use crate::circuit::gadgets::multiply::sum_columns;
use crate::circuit::word::concat_words;
use crate::circuit::{Builder, CResult, CircuitError, Word, same_lanes};

pub(crate) use crate::circuit::gadgets::Sparse;

/// The signed binary digits of `c` in non-adjacent form: `(shift, negative)`
/// for every non-zero digit. NAF has the fewest non-zero digits of any
/// signed-digit form (e.g. 2046 = 2^11 − 2^1: two instead of ten).
fn naf_digits(c: u128) -> Vec<(usize, bool)> {
    let mut out = Vec::new();
    let mut k = c;
    let mut shift = 0usize;
    while k != 0 {
        if k & 1 == 1 {
            // ...11 → digit −1 (k + 1 clears the run), ...01 → digit +1.
            if k & 3 == 3 {
                out.push((shift, true));
                k += 1;
            } else {
                out.push((shift, false));
                k -= 1;
            }
        }
        k >>= 1;
        shift += 1;
    }
    out
}

/// Rows (sparse, `width` bits each) whose sum mod `2^width` is `x · c`:
/// one shifted copy of `x` per non-zero digit of `c`, in plain binary or
/// in non-adjacent form, whichever gives fewer rows. A negative digit
/// `−x·2^s` is `¬x·2^s + (2^s − 2^(s+w))`, so all negative digits share
/// one extra row of public constant bits.
pub fn const_product_rows<B: Builder>(
    b: &mut B,
    x: &Word<B::Wire>,
    c: u128,
    width: usize,
) -> CResult<Vec<Vec<Sparse<B::Wire>>>> {
    let lanes = x.lanes(b).ok_or(CircuitError::Empty {
        op: "const_product_rows",
        what: "bit",
    })?;
    let binary: Vec<(usize, bool)> = (0..128)
        .filter(|s| c >> s & 1 == 1)
        .map(|s| (s, false))
        .collect();
    // NAF needs c + 1 to fit; every constant here is far below 2^126.
    let naf = if c < 1 << 126 {
        naf_digits(c)
    } else {
        binary.clone()
    };
    let naf_rows = naf.len() + usize::from(naf.iter().any(|d| d.1));
    let digits = if naf_rows < binary.len() { naf } else { binary };
    let modulus_mask = if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    let w = x.width();
    let mut constant: u128 = 0;
    let mut rows = Vec::with_capacity(digits.len() + 1);
    let mut negated: Option<Vec<B::Wire>> = None;
    for &(shift, negative) in &digits {
        if shift >= width {
            continue;
        }
        let mut row: Vec<Sparse<B::Wire>> = vec![None; width];
        let src: Vec<B::Wire> = if negative {
            if negated.is_none() {
                negated = Some(x.bits().iter().map(|v| b.not(v)).collect::<CResult<_>>()?);
            }
            negated.clone().unwrap_or_default()
        } else {
            x.bits().to_vec()
        };
        for (k, bit) in src.into_iter().enumerate() {
            if shift + k < width {
                row[shift + k] = Some(bit);
            }
        }
        if negative {
            // 2^s − 2^(s+w) mod 2^width.
            let lo = if shift < 128 { 1u128 << shift } else { 0 };
            let hi = if shift + w < 128 {
                1u128 << (shift + w)
            } else {
                0
            };
            constant = constant.wrapping_add(lo).wrapping_sub(hi);
        }
        rows.push(row);
    }
    let constant = constant & modulus_mask;
    if constant != 0 {
        let mut row: Vec<Sparse<B::Wire>> = vec![None; width];
        for (k, slot) in row.iter_mut().enumerate() {
            if k < 128 && constant >> k & 1 == 1 {
                *slot = Some(b.splat(true, lanes)?);
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// `Σ rows mod 2^width`: a carry-save tree of full adders down to two rows,
/// then one carry-propagate adder of `kind`. Known-zero bits cost nothing.
pub fn sum_rows<B: Builder>(
    b: &mut B,
    kind: AdderKind,
    rows: &[Vec<Sparse<B::Wire>>],
    width: usize,
    lanes: usize,
) -> CResult<Word<B::Wire>> {
    let mut cols: Vec<Vec<B::Wire>> = vec![Vec::new(); width];
    for row in rows {
        for (k, bit) in row.iter().enumerate().take(width) {
            if let Some(w) = bit {
                same_lanes(lanes, b.lanes(w))?;
                cols[k].push(w.clone());
            }
        }
    }
    sum_columns(b, kind, cols, lanes)
}

/// The most significant bit of `(x + y) mod 2^k` (`k` = the common
/// width), i.e. the sign of a two's-complement sum — without the other sum
/// bits.
///
/// Only the carry into bit `k − 1` is needed. `Ripple` chains it through
/// the bits (`k − 1` ANDs, depth `k − 1`); `LogDepth` reduces the
/// (generate, propagate) pairs of bits `0 .. k−1` with a balanced tree
/// (about `3k` ANDs, depth `⌈log2 k⌉ + 1`), which is much cheaper than a
/// full parallel-prefix adder because no other carry is formed. When `x`
/// and `y` belong to different parties (shares of an arithmetic value),
/// the generate bits `x_i ∧ y_i` are single OTs.
pub fn sign_of_sum<B: Builder>(
    b: &mut B,
    kind: AdderKind,
    x: &Word<B::Wire>,
    y: &Word<B::Wire>,
) -> CResult<B::Wire> {
    let k = x.width();
    if k == 0 || y.width() != k {
        return Err(CircuitError::WidthMismatch {
            op: "sign_of_sum",
            left: k,
            right: y.width(),
        });
    }
    let top = {
        let (xt, yt) = (&x.bits()[k - 1], &y.bits()[k - 1]);
        b.xor(xt, yt)?
    };
    if k == 1 {
        return Ok(top);
    }
    let carry = match kind {
        AdderKind::Ripple => {
            let (_, c) = {
                let lanes = x.lanes(b).ok_or(CircuitError::Empty {
                    op: "sign_of_sum",
                    what: "bit",
                })?;
                let xs: Vec<Sparse<B::Wire>> =
                    x.bits()[..k - 1].iter().cloned().map(Some).collect();
                let ys: Vec<Sparse<B::Wire>> =
                    y.bits()[..k - 1].iter().cloned().map(Some).collect();
                add_sparse(b, kind, &xs, &ys, None, true, lanes)?
            };
            c
        }
        AdderKind::LogDepth => {
            // Leaves (g, p) for bits 0 .. k−2; the lowest group's p is
            // never needed.
            let mut nodes: Vec<(B::Wire, Option<B::Wire>)> = Vec::with_capacity(k - 1);
            for i in 0..k - 1 {
                let (xi, yi) = (&x.bits()[i], &y.bits()[i]);
                let g = b.and(xi, yi)?;
                let p = if i == 0 { None } else { Some(b.xor(xi, yi)?) };
                nodes.push((g, p));
            }
            while nodes.len() > 1 {
                let mut next = Vec::with_capacity(nodes.len().div_ceil(2));
                let mut it = nodes.into_iter();
                while let Some(lo) = it.next() {
                    match it.next() {
                        Some(hi) => {
                            // g = g_hi ∨ (p_hi ∧ g_lo) (exclusive, so XOR);
                            // p = p_hi ∧ p_lo unless lo reaches bit 0.
                            let hp = hi.1.clone().ok_or(CircuitError::Empty {
                                op: "sign_of_sum",
                                what: "propagate",
                            })?;
                            let t = b.and(&hp, &lo.0)?;
                            let g = b.xor(&hi.0, &t)?;
                            let p = match &lo.1 {
                                Some(lp) => Some(b.and(&hp, lp)?),
                                None => None,
                            };
                            next.push((g, p));
                        }
                        None => next.push(lo),
                    }
                }
                nodes = next;
            }
            nodes.pop().map(|n| n.0)
        }
    };
    match carry {
        Some(c) => b.xor(&top, &c),
        None => Ok(top),
    }
}

/// Sum over all lanes of a word, as a single-lane word wide enough for the
/// total: a tree of adders over lane halves (`⌈log2 lanes⌉` layers).
pub fn sum_lanes<B: Builder>(
    b: &mut B,
    kind: AdderKind,
    w: &Word<B::Wire>,
    total_width: usize,
) -> CResult<Word<B::Wire>> {
    use crate::circuit::gadgets::add_with_carry;
    use crate::circuit::word::{slice_word, zero_extend};
    let mut cur = w.clone();
    let mut n = cur.lanes(b).ok_or(CircuitError::Empty {
        op: "sum_lanes",
        what: "bit",
    })?;
    if n == 0 {
        return Err(CircuitError::Empty {
            op: "sum_lanes",
            what: "lane",
        });
    }
    while n > 1 {
        let half = n / 2;
        let lo = slice_word(b, &cur, 0, half)?;
        let hi = slice_word(b, &cur, half, half)?;
        let mut s = add_with_carry(b, kind, &lo, &hi)?;
        if s.width() > total_width {
            s = s.low(total_width);
        }
        if n % 2 == 1 {
            let rest = slice_word(b, &cur, 2 * half, 1)?;
            let rest = zero_extend(b, &rest, s.width())?;
            cur = concat_words(b, &[s, rest])?;
            n = half + 1;
        } else {
            cur = s;
            n = half;
        }
    }
    zero_extend(b, &cur, total_width)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lanes;
    use crate::circuit::gadgets::divide_nonrestoring;
    use crate::circuit::plain::PlainBuilder;
    use crate::circuit::word::lanes_to_values;

    fn naf_value(d: &[(usize, bool)]) -> i128 {
        d.iter()
            .map(|&(s, neg)| if neg { -(1i128 << s) } else { 1i128 << s })
            .sum()
    }

    /// A deterministic stream of test values.
    fn values(n: usize, seed: u64, bits: u32) -> Vec<u128> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                u128::from(x) & ((1u128 << bits) - 1)
            })
            .collect()
    }

    #[test]
    fn naf_is_exact_and_sparse() {
        for c in [0u128, 1, 2, 3, 7, 813, 1023, 1626, 2046, 65535, 0xdead_beef] {
            let d = naf_digits(c);
            assert_eq!(naf_value(&d), c as i128, "c = {c}");
            for w in d.windows(2) {
                assert!(w[1].0 > w[0].0 + 1, "c = {c}: {d:?}");
            }
        }
        assert_eq!(naf_digits(2046).len(), 2);
    }

    #[test]
    fn nonrestoring_division_equals_integer_division() {
        let mut b = PlainBuilder::new();
        for kind in [AdderKind::Ripple, AdderKind::LogDepth] {
            // c ≤ s/2 as for Dice; s ≥ 1.
            let s: Vec<u128> = values(300, 5, 10).into_iter().map(|v| v.max(1)).collect();
            let c: Vec<u128> = s
                .iter()
                .zip(values(300, 9, 10))
                .map(|(&s, r)| r % (s / 2 + 1))
                .collect();
            let cw = b.input_word(&c, 9).expect("fits");
            let sw = b.input_word(&s, 10).expect("fits");
            let mut dividend: Vec<Sparse<Lanes>> = vec![None; 17];
            dividend.extend(cw.bits().iter().cloned().map(Some));
            let q = divide_nonrestoring(&mut b, kind, &dividend, &sw, 17).expect("divides");
            let got = lanes_to_values(q.bits()).expect("values");
            let want: Vec<u128> = c.iter().zip(&s).map(|(c, s)| (c << 17) / s).collect();
            assert_eq!(got, want, "{kind:?}");
        }
    }

    #[test]
    fn constant_products_and_row_sums() {
        let mut b = PlainBuilder::new();
        let x = values(200, 3, 17);
        let xw = b.input_word(&x, 17).expect("fits");
        for c in [1u128, 813, 1626, 2046, 58982, 65536] {
            let rows = const_product_rows(&mut b, &xw, c, 40).expect("rows");
            let got = lanes_to_values(
                sum_rows(&mut b, AdderKind::Ripple, &rows, 40, 200)
                    .expect("sum")
                    .bits(),
            )
            .expect("values");
            let want: Vec<u128> = x.iter().map(|v| (v * c) & ((1 << 40) - 1)).collect();
            assert_eq!(got, want, "c = {c}");
        }
    }

    #[test]
    fn sign_of_sum_is_the_top_bit() {
        let mut b = PlainBuilder::new();
        for (kind, k) in [
            (AdderKind::Ripple, 45u32),
            (AdderKind::LogDepth, 45),
            (AdderKind::LogDepth, 7),
            (AdderKind::Ripple, 1),
        ] {
            let x = values(257, 11, k);
            let y = values(257, 23, k);
            let xw = b.input_word(&x, k as usize).expect("fits");
            let yw = b.input_word(&y, k as usize).expect("fits");
            let s = sign_of_sum(&mut b, kind, &xw, &yw).expect("sign");
            for (l, (xv, yv)) in x.iter().zip(&y).enumerate() {
                let want = ((xv + yv) >> (k - 1)) & 1 == 1;
                assert_eq!(s.get(l), Some(want), "{kind:?} k = {k} lane {l}");
            }
        }
    }

    #[test]
    fn lane_sums() {
        let mut b = PlainBuilder::new();
        for n in [1usize, 2, 5, 64, 100] {
            let bits = values(n, 77, 1);
            let w = b.input_word(&bits, 1).expect("fits");
            let total = sum_lanes(&mut b, AdderKind::Ripple, &w, 8).expect("sum");
            let got = lanes_to_values(total.bits()).expect("values");
            assert_eq!(got, vec![bits.iter().sum::<u128>()], "n = {n}");
        }
    }
}
