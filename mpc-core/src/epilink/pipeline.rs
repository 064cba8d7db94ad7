//! The per-chunk EpiLink computation, written once against [`Engine`]: the
//! two-party engine runs it on shares, the plaintext engine on clear values
//! (which is what the tests compare with the reference first).
//!
//! Per chunk:
//! 1. [`Engine::similarities`] — the Boolean similarity circuit: per pair
//!    the similarity, per pairing the denominator bits `D'`;
//! 2. [`Engine::b2a`] — similarities to additive shares mod
//!    `2^arith_width`; every pairing's numerator `N_P = Σ w·sim` is then a
//!    local sum;
//! 3. a tournament over the pairings of each lane, then a segmented
//!    tournament over the records of each query (lowest index on ties):
//!    binary ([`segmented`], one [`compare_select`] layer per level) or
//!    `k`-ary ([`segmented_wide`], groups of `k` decided in one layer from
//!    all their pairwise comparisons), then the running best of earlier
//!    chunks;
//! 4. the last chunk of a query block: [`Engine::decide`].
//!
//! A candidate ([`Cand`]) is a numerator (additive shares), a denominator
//! (XOR-shared bits) and an index (XOR-shared bits). Comparing `N_L/D_L`
//! with `N_R/D_R`: `N_L·D_R = Σ_k 2^k·(d_{R,k}·N_L)`, 2·d_width bit ×
//! integer products per lane ([`Engine::bit_mul`]); the sign `s` of
//! `N_L·D_R − N_R·D_L` comes from one small circuit ([`Engine::select`]);
//! the winner is multiplexed by one product per lane with `s`
//! ([`Engine::bit_mul_mixed`]): `N = N_L + s·(N_R − N_L)` on the additive
//! shares and `w = w_L ⊕ s·(w_R ⊕ w_L)` on the Boolean words (denominator
//! and index bits), instead of one AND gate per word bit.

use std::future::Future;

use super::bitmul::reduce;
use super::error::ProtocolError;
use super::inputs::PartyChunk;
use super::plan::Plan;
use super::schedule::{Chunk, Schedule};
use crate::circuit::word::{lanes_to_values, values_to_lanes};
use crate::{Lanes, Party};
use protocol_spec::config::Record;

pub use super::circuit::ChunkShape;

/// What the similarity circuit gives one party: shares of the similarity
/// bits and of the denominators.
#[derive(Clone, Debug, Default)]
pub struct SimilarityShares {
    /// Per pair: the Dice similarity's 17 bit lanes (Dice pairs).
    pub dice: Vec<Option<Vec<Lanes>>>,
    /// Per pair: `δ ∧ [a = b]` (binary pairs).
    pub equal: Vec<Option<Lanes>>,
    /// Per pairing: `D'`'s `d_width` bit lanes.
    pub denominators: Vec<Vec<Lanes>>,
}

/// The operations the pipeline needs. Every method is called by both
/// parties at the same point with equally shaped arguments. "Shares" are
/// XOR shares for bits and additive shares mod `2^width` for integers;
/// the plaintext engine holds the values themselves (as if it were the
/// client and the server's shares were zero).
pub trait Engine: Send {
    /// The role whose shares carry public constants (the client's).
    fn party(&self) -> Party;

    /// Runs the similarity circuit of a chunk (the data of the parties this
    /// engine knows).
    fn similarities(
        &mut self,
        plan: &Plan,
        shape: &ChunkShape,
        client: Option<PartyChunk<'_>>,
        server: Option<PartyChunk<'_>>,
    ) -> impl Future<Output = Result<SimilarityShares, ProtocolError>> + Send;

    /// XOR-shared words (bit `k` of every lane in `bits[k]`) to additive
    /// shares mod `2^width` of their values.
    fn b2a(
        &mut self,
        bits: &[Lanes],
        width: u32,
    ) -> impl Future<Output = Result<Vec<u64>, ProtocolError>> + Send;

    /// Additive shares of `bits_j · x_j` mod `2^width`.
    fn bit_mul(
        &mut self,
        bits: &Lanes,
        x: &[u64],
        width: u32,
    ) -> impl Future<Output = Result<Vec<u64>, ProtocolError>> + Send;

    /// The Boolean part of a comparison layer ([`super::circuit::select`]):
    /// `s` = sign of `y` (shares mod `2^arith_width`), and per word of
    /// `left`/`right` the multiplexed word (`s = 1` takes `right`).
    fn select(
        &mut self,
        plan: &Plan,
        y: &[u64],
        left: &[Vec<Lanes>],
        right: &[Vec<Lanes>],
    ) -> impl Future<Output = Result<(Lanes, Vec<Vec<Lanes>>), ProtocolError>> + Send;

    /// The Boolean part of a wide tournament layer
    /// ([`super::circuit::select_groups`]): `y` holds the cross-product
    /// differences of every pair of every group, class after class, for
    /// `classes` of `(size, groups)`; per class the winner bits of slots
    /// `1..size`.
    fn select_groups(
        &mut self,
        plan: &Plan,
        y: &[u64],
        classes: &[(usize, usize)],
    ) -> impl Future<Output = Result<Vec<Vec<Lanes>>, ProtocolError>> + Send;

    /// Shares of `bits_j · x_j` (additive, mod `2^width`) and of
    /// `bits_j · words_j` (XOR, `word_width ≤ 64` bits per element): a
    /// multiplexer of a candidate's numerator and Boolean words with one
    /// select bit ([`super::muxprod`]).
    fn bit_mul_mixed(
        &mut self,
        bits: &Lanes,
        x: &[u64],
        width: u32,
        words: &[u64],
        word_width: usize,
    ) -> impl Future<Output = Result<(Vec<u64>, Vec<u64>), ProtocolError>> + Send;

    /// The threshold decisions ([`super::circuit::decide`]) on numerator
    /// shares and denominator bits: `(match, tentative)`.
    fn decide(
        &mut self,
        plan: &Plan,
        numerator: &[u64],
        denominator: &[Lanes],
    ) -> impl Future<Output = Result<(Lanes, Lanes), ProtocolError>> + Send;
}

/// A candidate for "best": per lane a numerator, denominator and index.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Cand {
    /// Additive shares of `N`.
    pub n: Vec<u64>,
    /// XOR shares of `D'`, one lane vector per bit.
    pub d: Vec<Lanes>,
    /// XOR shares of the global record index (empty while comparing
    /// pairings).
    pub idx: Vec<Lanes>,
}

crate::redacted_debug!(Cand);

impl Cand {
    /// Lanes of the candidate.
    pub fn lanes(&self) -> usize {
        self.n.len()
    }

    fn gather(&self, indices: &[u32]) -> Result<Cand, ProtocolError> {
        let g = |l: &Lanes| {
            l.gather(indices)
                .ok_or_else(|| ProtocolError::Internal("gather out of range".into()))
        };
        Ok(Cand {
            n: indices
                .iter()
                .map(|&i| self.n.get(i as usize).copied())
                .collect::<Option<_>>()
                .ok_or_else(|| ProtocolError::Internal("gather out of range".into()))?,
            d: self.d.iter().map(g).collect::<Result<_, _>>()?,
            idx: self.idx.iter().map(g).collect::<Result<_, _>>()?,
        })
    }

    fn concat(parts: &[Cand]) -> Cand {
        let first = parts.first().cloned().unwrap_or_default();
        let mut out = Cand {
            n: Vec::new(),
            d: vec![Lanes::zeros(0); first.d.len()],
            idx: vec![Lanes::zeros(0); first.idx.len()],
        };
        for p in parts {
            out.n.extend_from_slice(&p.n);
            for (o, l) in out.d.iter_mut().zip(&p.d) {
                o.extend(l);
            }
            for (o, l) in out.idx.iter_mut().zip(&p.idx) {
                o.extend(l);
            }
        }
        out
    }

    fn slice(&self, start: usize, len: usize) -> Result<Cand, ProtocolError> {
        let s = |l: &Lanes| {
            l.slice(start, len)
                .ok_or_else(|| ProtocolError::Internal("slice out of range".into()))
        };
        Ok(Cand {
            n: self
                .n
                .get(start..start + len)
                .ok_or_else(|| ProtocolError::Internal("slice out of range".into()))?
                .to_vec(),
            d: self.d.iter().map(s).collect::<Result<_, _>>()?,
            idx: self.idx.iter().map(s).collect::<Result<_, _>>()?,
        })
    }
}

/// Per lane `y = N_L·D'_R − N_R·D'_L mod 2^arith_width`, negative exactly
/// when the right candidate's ratio is strictly greater:
/// `N·D' = Σ_k 2^k·(d'_k·N)`, 2·d_width bit × integer products per lane in
/// one batch.
async fn cross_difference<E: Engine>(
    e: &mut E,
    plan: &Plan,
    left: &Cand,
    right: &Cand,
) -> Result<Vec<u64>, ProtocolError> {
    let lanes = left.lanes();
    let (dw, a) = (plan.d_width, plan.arith_width);
    // d_{R,k}·N_L for every k, then d_{L,k}·N_R: one batch.
    let mut bits = Lanes::zeros(0);
    let mut xs = Vec::with_capacity(2 * dw * lanes);
    for k in 0..dw {
        bits.extend(&right.d[k]);
        xs.extend_from_slice(&left.n);
    }
    for k in 0..dw {
        bits.extend(&left.d[k]);
        xs.extend_from_slice(&right.n);
    }
    let prods = e.bit_mul(&bits, &xs, a).await?;
    // y = N_L·D_R − N_R·D_L: negative exactly when the right one wins.
    let mut y = vec![0u64; lanes];
    for k in 0..dw {
        for (l, yl) in y.iter_mut().enumerate() {
            let p = prods[k * lanes + l].wrapping_sub(prods[(dw + k) * lanes + l]);
            *yl = yl.wrapping_add(p.wrapping_shl(k as u32));
        }
    }
    for yl in &mut y {
        *yl = reduce(*yl, a);
    }
    Ok(y)
}

/// One comparison layer over equally long `left` and `right`: per lane the
/// right candidate replaces the left one only if its ratio is strictly
/// greater (ties keep the left, lower-index one).
pub async fn compare_select<E: Engine>(
    e: &mut E,
    plan: &Plan,
    left: &Cand,
    right: &Cand,
) -> Result<Cand, ProtocolError> {
    let lanes = left.lanes();
    let (dw, a) = (plan.d_width, plan.arith_width);
    if right.lanes() != lanes
        || left.d.len() != dw
        || right.d.len() != dw
        || left.idx.len() != right.idx.len()
    {
        return Err(ProtocolError::Internal(
            "compare_select: mismatched candidates".into(),
        ));
    }
    let y = cross_difference(e, plan, left, right).await?;
    // The circuit gives only the sign; the winner's numerator and words
    // are multiplexed by one product per lane with `s`.
    let (s, _) = e.select(plan, &y, &[], &[]).await?;
    let diff: Vec<u64> = right
        .n
        .iter()
        .zip(&left.n)
        .map(|(r, l)| reduce(r.wrapping_sub(*l), a))
        .collect();
    let (wl, wr) = (packed_words(left)?, packed_words(right)?);
    let flips: Vec<u64> = wr.iter().zip(&wl).map(|(r, l)| r ^ l).collect();
    let word_width = dw + left.idx.len();
    let (delta, flip) = e.bit_mul_mixed(&s, &diff, a, &flips, word_width).await?;
    let n = left
        .n
        .iter()
        .zip(&delta)
        .map(|(l, d)| reduce(l.wrapping_add(*d), a))
        .collect();
    let words: Vec<u128> = wl
        .iter()
        .zip(&flip)
        .map(|(l, f)| u128::from(l ^ f))
        .collect();
    Ok(Cand {
        n,
        ..unpack_words(&words, dw, word_width)?
    })
}

/// A candidate's Boolean words as one value per lane: `D'` in the low
/// `d_width` bits, the index above (at most 64 bits: `d_width ≤ 23` since
/// the arithmetic shares have at most 64 bits, indices at most 32).
fn packed_words(c: &Cand) -> Result<Vec<u64>, ProtocolError> {
    let mut bits = c.d.clone();
    bits.extend(c.idx.iter().cloned());
    if bits.len() > 64 {
        return Err(ProtocolError::Internal(
            "candidate words over 64 bits".into(),
        ));
    }
    Ok(lanes_to_values(&bits)?
        .into_iter()
        .map(|v| v as u64)
        .collect())
}

/// The inverse of [`packed_words`], with the numerator left empty.
fn unpack_words(values: &[u128], dw: usize, width: usize) -> Result<Cand, ProtocolError> {
    let mut d = values_to_lanes(values, width)?;
    let idx = d.split_off(dw);
    Ok(Cand {
        n: Vec::new(),
        d,
        idx,
    })
}

/// Tournament over separate candidates of equal lanes (e.g. the pairings
/// of every lane): all comparisons of a layer in one [`compare_select`].
pub async fn tournament<E: Engine>(
    e: &mut E,
    plan: &Plan,
    mut cands: Vec<Cand>,
) -> Result<Cand, ProtocolError> {
    if cands.is_empty() {
        return Err(ProtocolError::Internal(
            "tournament without candidates".into(),
        ));
    }
    while cands.len() > 1 {
        let lanes = cands[0].lanes();
        let pairs = cands.len() / 2;
        let left = Cand::concat(
            &cands
                .iter()
                .step_by(2)
                .take(pairs)
                .cloned()
                .collect::<Vec<_>>(),
        );
        let right = Cand::concat(
            &cands
                .iter()
                .skip(1)
                .step_by(2)
                .take(pairs)
                .cloned()
                .collect::<Vec<_>>(),
        );
        let winners = compare_select(e, plan, &left, &right).await?;
        let mut next = Vec::with_capacity(pairs + 1);
        for p in 0..pairs {
            next.push(winners.slice(p * lanes, lanes)?);
        }
        if cands.len() % 2 == 1 {
            next.push(
                cands
                    .pop()
                    .ok_or_else(|| ProtocolError::Internal("tournament".into()))?,
            );
        }
        cands = next;
    }
    cands
        .pop()
        .ok_or_else(|| ProtocolError::Internal("tournament".into()))
}

/// Tournament inside each of `segments` segments of `seg_len` lanes:
/// neighbours `(2k, 2k+1)` of every segment in one layer, lowest index on
/// ties, `⌈log2 seg_len⌉` layers. One lane per segment remains.
pub async fn segmented<E: Engine>(
    e: &mut E,
    plan: &Plan,
    mut cur: Cand,
    segments: usize,
    seg_len: usize,
) -> Result<Cand, ProtocolError> {
    let mut n = seg_len;
    while n > 1 {
        let pairs = n / 2;
        let (mut even, mut odd) = (
            Vec::with_capacity(segments * pairs),
            Vec::with_capacity(segments * pairs),
        );
        for s in 0..segments {
            for k in 0..pairs {
                even.push((s * n + 2 * k) as u32);
                odd.push((s * n + 2 * k + 1) as u32);
            }
        }
        let winners = compare_select(e, plan, &cur.gather(&even)?, &cur.gather(&odd)?).await?;
        cur = if n % 2 == 1 {
            // Each segment's last candidate goes after its winners.
            let last: Vec<u32> = (0..segments).map(|s| (s * n + n - 1) as u32).collect();
            let joined = Cand::concat(&[winners, cur.gather(&last)?]);
            let mut order = Vec::with_capacity(segments * (pairs + 1));
            for s in 0..segments {
                order.extend((0..pairs).map(|k| (s * pairs + k) as u32));
                order.push((segments * pairs + s) as u32);
            }
            joined.gather(&order)?
        } else {
            winners
        };
        n = pairs + n % 2;
    }
    Ok(cur)
}

/// The wide tournament inside each of `segments` segments of `seg_len`
/// lanes: groups of `arity` consecutive candidates (the last group of a
/// segment smaller, a last single candidate passed on) decided in one
/// layer each by [`wide_layer`], `⌈log_arity seg_len⌉` layers. Group
/// winners keep their groups' order, so lower indices stay first and the
/// winner is the lowest index among the maximal ratios, as with
/// [`segmented`].
pub async fn segmented_wide<E: Engine>(
    e: &mut E,
    plan: &Plan,
    mut cur: Cand,
    segments: usize,
    seg_len: usize,
    arity: usize,
) -> Result<Cand, ProtocolError> {
    if arity < 2 {
        return Err(ProtocolError::Internal(format!("tournament arity {arity}")));
    }
    let mut n = seg_len;
    while n > 1 {
        let (full, rest) = (n / arity, n % arity);
        // Lanes of slot p of every group of a class, segment after segment.
        let slot_lanes = |first_group: usize, groups: usize, p: usize| -> Vec<u32> {
            (0..segments)
                .flat_map(|s| {
                    (0..groups).map(move |g| (s * n + (first_group + g) * arity + p) as u32)
                })
                .collect()
        };
        let mut classes: Vec<(usize, Vec<Vec<u32>>)> = Vec::with_capacity(2);
        if full > 0 {
            classes.push((arity, (0..arity).map(|p| slot_lanes(0, full, p)).collect()));
        }
        if rest >= 2 {
            classes.push((rest, (0..rest).map(|p| slot_lanes(full, 1, p)).collect()));
        }
        let winners = wide_layer(e, plan, &cur, &classes).await?;
        // Next layer, per segment: the full groups' winners, then the last
        // group's winner or the single last candidate.
        let mut parts = Vec::with_capacity(2);
        let mut full_winners = None;
        let mut iter = winners.into_iter();
        if full > 0 {
            full_winners = iter.next();
        }
        let tail = match rest {
            0 => None,
            1 => Some(cur.gather(&slot_lanes(full, 1, 0))?),
            _ => iter.next(),
        };
        let tail_start = full_winners.as_ref().map_or(0, Cand::lanes);
        parts.extend(full_winners);
        parts.extend(tail.clone());
        let joined = Cand::concat(&parts);
        let next_n = full + usize::from(rest > 0);
        let mut order = Vec::with_capacity(segments * next_n);
        for s in 0..segments {
            order.extend((0..full).map(|g| (s * full + g) as u32));
            if tail.is_some() {
                order.push((tail_start + s) as u32);
            }
        }
        cur = joined.gather(&order)?;
        n = next_n;
    }
    Ok(cur)
}

/// One wide layer: for every class `(size, lanes of each slot)` all pairs
/// of every group compared in one batch of products
/// ([`cross_difference`]), the winners chosen by one circuit
/// ([`Engine::select_groups`]), and every winner bit `win_p` (slots
/// `p ≥ 1`) multiplexing numerator, denominator and index at once
/// ([`Engine::bit_mul_mixed`]): `N = N_0 + Σ win_p·(N_p − N_0)`,
/// `w = w_0 ⊕ Σ win_p·(w_p ⊕ w_0)`. Returns the winners of each class (one
/// lane per group, in the order of the lanes given).
async fn wide_layer<E: Engine>(
    e: &mut E,
    plan: &Plan,
    cur: &Cand,
    classes: &[(usize, Vec<Vec<u32>>)],
) -> Result<Vec<Cand>, ProtocolError> {
    let a = plan.arith_width;
    let (dw, iw) = (plan.d_width, cur.idx.len());
    let word_width = dw + iw;
    let mut slots: Vec<Vec<Cand>> = Vec::with_capacity(classes.len());
    let (mut lefts, mut rights) = (Vec::new(), Vec::new());
    for (size, lanes) in classes {
        let cands = lanes
            .iter()
            .map(|l| cur.gather(l))
            .collect::<Result<Vec<_>, _>>()?;
        for i in 0..*size {
            for j in i + 1..*size {
                lefts.push(cands[i].clone());
                rights.push(cands[j].clone());
            }
        }
        slots.push(cands);
    }
    let y = cross_difference(e, plan, &Cand::concat(&lefts), &Cand::concat(&rights)).await?;
    let shapes: Vec<(usize, usize)> = classes
        .iter()
        .map(|(size, lanes)| (*size, lanes.first().map_or(0, Vec::len)))
        .collect();
    let choices = e.select_groups(plan, &y, &shapes).await?;
    if choices.len() != classes.len() {
        return Err(ProtocolError::Internal("select_groups output".into()));
    }
    let packed = packed_words;
    let mut sel = Lanes::zeros(0);
    let (mut diffs, mut words) = (Vec::new(), Vec::new());
    let mut bases = Vec::with_capacity(classes.len());
    for (wins, cands) in choices.iter().zip(&slots) {
        let w0 = packed(&cands[0])?;
        for (win, cand) in wins.iter().zip(&cands[1..]) {
            sel.extend(win);
            diffs.extend(
                cand.n
                    .iter()
                    .zip(&cands[0].n)
                    .map(|(np, n0)| reduce(np.wrapping_sub(*n0), a)),
            );
            words.extend(packed(cand)?.iter().zip(&w0).map(|(wp, w)| wp ^ w));
        }
        bases.push(w0);
    }
    let (dn, dw_words) = e.bit_mul_mixed(&sel, &diffs, a, &words, word_width).await?;
    let mut at = 0usize;
    let mut out = Vec::with_capacity(classes.len());
    for (cands, w0) in slots.iter().zip(bases) {
        let groups = cands[0].lanes();
        let mut n = cands[0].n.clone();
        let mut w = w0;
        for _ in 1..cands.len() {
            let (pn, pw) = match (dn.get(at..at + groups), dw_words.get(at..at + groups)) {
                (Some(pn), Some(pw)) => (pn, pw),
                _ => return Err(ProtocolError::Internal("multiplexer products".into())),
            };
            for (x, d) in n.iter_mut().zip(pn) {
                *x = reduce(x.wrapping_add(*d), a);
            }
            for (x, d) in w.iter_mut().zip(pw) {
                *x ^= d;
            }
            at += groups;
        }
        let values: Vec<u128> = w.into_iter().map(u128::from).collect();
        out.push(Cand {
            n,
            ..unpack_words(&values, dw, word_width)?
        });
    }
    Ok(out)
}

/// The result of one chunk.
#[derive(Clone, Debug)]
pub enum ChunkResult {
    /// The best so far per query, for the next chunk of the block.
    Running(Cand),
    /// The block's last chunk: match, tentative and index shares per query.
    Final {
        /// Match bit shares.
        is_match: Lanes,
        /// Tentative bit shares.
        tentative: Lanes,
        /// Index bit shares.
        index: Vec<Lanes>,
    },
}

/// Where a chunk is in its query block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRole {
    /// A running best from earlier chunks exists.
    pub has_earlier: bool,
    /// The chunk closes its query block (decisions are output).
    pub last: bool,
}

/// Per pair, per lane: one party's intersection-count shares of a chunk
/// (`None` for binary pairs).
pub type CountShares = Vec<Option<Vec<u32>>>;

/// One query's decisions from the last chunk of its block: the values
/// (plaintext engine) or this party's XOR shares of them (two-party).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Decision {
    /// Match bit.
    pub is_match: bool,
    /// Tentative-match bit.
    pub tentative: bool,
    /// Index of the best record.
    pub index: u64,
}

crate::redacted_debug!(Decision);

/// What differs between the plaintext and the two-party run around the
/// shared pipeline: how a chunk's intersection counts come about (clear
/// values split at random, or vector products with the peer), which
/// records this engine knows, and what happens after a chunk.
pub trait Driver: Send {
    /// The engine the pipeline runs on.
    type E: Engine;

    /// Everything before the pipeline of `chunk` (cancellation checks,
    /// per-block setup): the chunk's count shares of the client and the
    /// server, for the parties this engine knows.
    fn prepare(
        &mut self,
        plan: &Plan,
        chunk: &Chunk,
    ) -> impl Future<Output = Result<(Option<CountShares>, Option<CountShares>), ProtocolError>> + Send;

    /// The engine and the records it knows: (all queries, all database
    /// records).
    fn parts(&mut self) -> (&mut Self::E, Option<&[Record]>, Option<&[Record]>);

    /// After the last chunk of a query block.
    fn block_done(&mut self) {}

    /// After every chunk: `done` of `total` chunks are finished.
    fn chunk_done(&mut self, _done: u64, _total: u64) {}
}

/// The one chunk loop of both engines: per chunk the driver's preparation
/// and [`process_chunk`], the running best carried between the chunks of a
/// block; the decisions of every query, in query order (grown block by
/// block, never sized up front).
pub async fn drive<D: Driver>(
    d: &mut D,
    plan: &Plan,
    schedule: &Schedule,
) -> Result<Vec<Decision>, ProtocolError> {
    let mut decisions = Vec::new();
    let mut running: Option<Cand> = None;
    let total = schedule.chunk_count();
    let mut done = 0u64;
    for chunk in schedule.chunks() {
        let (client_counts, server_counts) = d.prepare(plan, &chunk).await?;
        let shape = ChunkShape {
            queries: chunk.queries,
            records: chunk.records,
            first_record: chunk.first_record,
            index_width: schedule.index_width(),
        };
        let role = ChunkRole {
            has_earlier: !chunk.first_of_block,
            last: chunk.last_of_block,
        };
        let (engine, queries, database) = d.parts();
        let qs = records_of(queries, chunk.first_query, chunk.queries)?;
        let rs = records_of(database, chunk.first_record, chunk.records)?;
        let client = party(qs, &client_counts)?;
        let server = party(rs, &server_counts)?;
        let result = process_chunk(
            engine,
            plan,
            &shape,
            role,
            client,
            server,
            running.take(),
            schedule.record_arity,
        )
        .await?;
        match result {
            ChunkResult::Running(best) => running = Some(best),
            ChunkResult::Final {
                is_match,
                tentative,
                index,
            } => {
                if decisions.len() != chunk.first_query {
                    return Err(ProtocolError::Internal("query blocks out of order".into()));
                }
                let index = lanes_to_values(&index)?;
                decisions.extend((0..chunk.queries).map(|q| Decision {
                    is_match: is_match.get(q).unwrap_or(false),
                    tentative: tentative.get(q).unwrap_or(false),
                    index: index.get(q).copied().unwrap_or(0) as u64,
                }));
                d.block_done();
            }
        }
        done += 1;
        d.chunk_done(done, total);
    }
    if schedule.records == 0 {
        // No chunks at all: every query's result is (0, 0, 0), as in the
        // reference (the two-party run settles this before driving).
        decisions.resize(schedule.queries, Decision::default());
    }
    Ok(decisions)
}

/// `len` records from `first`, if this engine knows the party's records.
fn records_of(
    all: Option<&[Record]>,
    first: usize,
    len: usize,
) -> Result<Option<&[Record]>, ProtocolError> {
    all.map(|r| {
        r.get(first..first + len)
            .ok_or_else(|| ProtocolError::Internal("chunk outside the records".into()))
    })
    .transpose()
}

/// A party's chunk, if this engine knows both its records and its counts.
fn party<'a>(
    records: Option<&'a [Record]>,
    counts: &'a Option<CountShares>,
) -> Result<Option<PartyChunk<'a>>, ProtocolError> {
    match (records, counts) {
        (Some(records), Some(counts)) => Ok(Some(PartyChunk { records, counts })),
        (None, None) => Ok(None),
        _ => Err(ProtocolError::Internal(
            "records and counts of a party disagree".into(),
        )),
    }
}

/// The whole computation of one chunk (see the module docs).
#[allow(clippy::too_many_arguments)]
pub async fn process_chunk<E: Engine>(
    e: &mut E,
    plan: &Plan,
    shape: &ChunkShape,
    role: ChunkRole,
    client: Option<PartyChunk<'_>>,
    server: Option<PartyChunk<'_>>,
    earlier: Option<Cand>,
    record_arity: usize,
) -> Result<ChunkResult, ProtocolError> {
    let lanes = shape.lanes();
    let a = plan.arith_width;
    let sims = e.similarities(plan, shape, client, server).await?;
    // Similarities to arithmetic shares: all Dice words in one conversion,
    // all binary bits in another.
    let dice: Vec<usize> = plan.dice_pairs().collect();
    let binary: Vec<usize> = (0..plan.pairs.len())
        .filter(|t| !dice.contains(t))
        .collect();
    let mut weighted: Vec<Vec<u64>> = vec![Vec::new(); plan.pairs.len()];
    if !dice.is_empty() {
        let width = sims.dice.iter().flatten().next().map_or(0, Vec::len);
        let mut word = vec![Lanes::zeros(0); width];
        for &t in &dice {
            let w = sims.dice[t]
                .as_ref()
                .ok_or_else(|| ProtocolError::Internal("dice similarity".into()))?;
            for (o, l) in word.iter_mut().zip(w) {
                o.extend(l);
            }
        }
        let values = e.b2a(&word, a).await?;
        for (k, &t) in dice.iter().enumerate() {
            let w = plan.pairs[t].weight;
            weighted[t] = values[k * lanes..(k + 1) * lanes]
                .iter()
                .map(|v| reduce(v.wrapping_mul(w), a))
                .collect();
        }
    }
    if !binary.is_empty() {
        let mut bits = Lanes::zeros(0);
        for &t in &binary {
            bits.extend(
                sims.equal[t]
                    .as_ref()
                    .ok_or_else(|| ProtocolError::Internal("binary similarity".into()))?,
            );
        }
        let values = e.b2a(&[bits], a).await?;
        for (k, &t) in binary.iter().enumerate() {
            let w = plan.pairs[t].weight << plan.fraction_bits;
            weighted[t] = values[k * lanes..(k + 1) * lanes]
                .iter()
                .map(|v| reduce(v.wrapping_mul(w), a))
                .collect();
        }
    }
    let mut common = vec![0u64; lanes];
    for &t in &plan.common {
        for (c, v) in common.iter_mut().zip(&weighted[t]) {
            *c = c.wrapping_add(*v);
        }
    }
    let mut cands = Vec::with_capacity(plan.pairings.len());
    for (p, pairing) in plan.pairings.iter().enumerate() {
        let mut n = common.clone();
        for &t in pairing {
            for (c, v) in n.iter_mut().zip(&weighted[t]) {
                *c = c.wrapping_add(*v);
            }
        }
        let n = n.into_iter().map(|v| reduce(v, a)).collect();
        let d = sims
            .denominators
            .get(p)
            .cloned()
            .ok_or_else(|| ProtocolError::Internal("denominator".into()))?;
        cands.push(Cand {
            n,
            d,
            idx: Vec::new(),
        });
    }
    let mut best = tournament(e, plan, cands).await?;
    // Global record indices: public constants, carried by the client's
    // shares.
    let indices: Vec<u128> = (0..lanes)
        .map(|l| (shape.first_record + l % shape.records) as u128)
        .collect();
    best.idx = match e.party() {
        Party::Client => values_to_lanes(&indices, shape.index_width)?,
        Party::Server => vec![Lanes::zeros(lanes); shape.index_width],
    };
    let mut best = if record_arity <= 2 {
        segmented(e, plan, best, shape.queries, shape.records).await?
    } else {
        segmented_wide(e, plan, best, shape.queries, shape.records, record_arity).await?
    };
    if let Some(earlier) = earlier.filter(|_| role.has_earlier) {
        best = compare_select(e, plan, &earlier, &best).await?;
    }
    if !role.last {
        return Ok(ChunkResult::Running(best));
    }
    let (is_match, tentative) = e.decide(plan, &best.n, &best.d).await?;
    Ok(ChunkResult::Final {
        is_match,
        tentative,
        index: best.idx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_redacted() {
        let secret = 0x5eed_cafe_f00d_1234u64;
        let cand = Cand {
            n: vec![secret],
            d: vec![Lanes::from_words(vec![secret], 64)],
            idx: Vec::new(),
        };
        let text = format!("{cand:?}");
        assert_eq!(text, "Cand(redacted)");
    }
}
